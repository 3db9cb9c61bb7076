/* TransportMessage codec (spec §1.3) and TCP framing (spec §2.1). */
#ifndef OCKAMI_WIRE_H
#define OCKAMI_WIRE_H

#include "bare.h"
#include "message.h"

/* Exact size of the BARE encoding of m. */
size_t ockami_tm_size(const ockam_message *m);
/* Append the encoding of m to b. */
OCKAM_MUST_CHECK int ockami_tm_encode(const ockam_message *m, ockami_buf *b);
/* Append `u16 BE length ‖ TransportMessage` to b. OCKAM_EOVERFLOW when the
 * message does not fit a frame (nothing appended). */
OCKAM_MUST_CHECK int ockami_tm_encode_frame(const ockam_message *m, ockami_buf *b);
/* Write the encoding of m (ockami_tm_size(m) bytes) to out; OCKAM_EOVERFLOW
 * when cap is smaller (nothing written). */
OCKAM_MUST_CHECK int ockami_tm_encode_to(const ockam_message *m, uint8_t *out, size_t cap,
                                         size_t *len);
/* The TransportMessage's bytes before its payload's bytes (version, routes,
 * payload length): ockami_tm_size(m) - payload length bytes into out. */
OCKAM_MUST_CHECK int ockami_tm_encode_head_to(const ockam_message *m, uint8_t *out, size_t cap,
                                              size_t *len);
/* As ockami_tm_decode, but the payload is not copied: *payload points into p
 * (plen bytes) and m->payload is left as it was. */
OCKAM_MUST_CHECK int ockami_tm_decode_routes(const uint8_t *p, size_t len, bool strict,
                                             ockam_message *m, const uint8_t **payload,
                                             size_t *plen);
/* Decode into an initialised message (its routes/payload are replaced).
 * strict: trailing bytes are an error (OCKAM_ETRAILING). */
OCKAM_MUST_CHECK int ockami_tm_decode(const uint8_t *p, size_t len, bool strict, ockam_message *m);
/* Decode a route from a reader (BARE []Address). */
OCKAM_MUST_CHECK int ockami_route_decode(ockami_reader *r, ockam_route *out);
OCKAM_MUST_CHECK int ockami_route_encode(const ockam_route *route, ockami_buf *b);
/* The same for the route without its first skip hops (no copy of it). */
OCKAM_MUST_CHECK int ockami_route_encode_from(const ockam_route *route, uint32_t skip,
                                              ockami_buf *b);

#endif
