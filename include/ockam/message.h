/* Messages as workers see them: a TransportMessage (onward route, return
 * route, payload; spec §1.3) plus node-local metadata (local_info) that never
 * crosses a transport.
 */
#ifndef OCKAM_MESSAGE_H
#define OCKAM_MESSAGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ockam/error.h"
#include "ockam/route.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct ockam_message ockam_message;

/* New empty message (version 1, empty routes, empty payload). Caller owns it
 * until it is handed to ockam_send_message()/ockam_forward(). */
OCKAM_MUST_CHECK int ockam_message_new(ockam_message **out);
void ockam_message_free(ockam_message *m);
OCKAM_MUST_CHECK int ockam_message_copy(const ockam_message *m, ockam_message **out);

/* Routes: read-only and mutable views owned by the message. */
const ockam_route *ockam_message_onward(const ockam_message *m);
const ockam_route *ockam_message_return(const ockam_message *m);
ockam_route *ockam_message_onward_mut(ockam_message *m);
ockam_route *ockam_message_return_mut(ockam_message *m);

/* Payload bytes (the BARE encoding of the application value, spec §1.4). */
const uint8_t *ockam_message_payload(const ockam_message *m, size_t *len);
OCKAM_MUST_CHECK int ockam_message_set_payload(ockam_message *m, const uint8_t *p, size_t len);

/* Local metadata: empty unless a local worker (a secure channel) set it. */
const uint8_t *ockam_message_local_info(const ockam_message *m, size_t *len);
OCKAM_MUST_CHECK int ockam_message_set_local_info(ockam_message *m, const uint8_t *p, size_t len);
/* True when the message was decrypted by a secure channel of this node. */
bool ockam_message_via_channel(const ockam_message *m);
/* Who sent this: the identifier (64 lowercase hex characters, the 2021
 * ProfileIdentifier without a display prefix) of the peer that an identity
 * channel of this node authenticated, copied NUL-terminated into buf (cap >=
 * 65). It comes only from node-local metadata that the identity channel set
 * on delivery, never from message bytes; setting local_info by hand
 * (ockam_message_set_local_info) removes it. Errors: OCKAM_ENOTFOUND (the
 * message did not come through an identity channel), OCKAM_ETOOSMALL,
 * OCKAM_EINVAL. */
OCKAM_MUST_CHECK int ockam_message_peer_identifier(const ockam_message *m, char *buf, size_t cap);

/* Helpers for the common payload type, a BARE string (spec §1.4):
 * encode s as `uint len ‖ bytes`; decode it back (exact: no trailing bytes). */
OCKAM_MUST_CHECK int ockam_message_set_string(ockam_message *m, const char *s, size_t len);
OCKAM_MUST_CHECK int ockam_message_get_string(const ockam_message *m, const char **s, size_t *len);

/* TransportMessage wire form (BARE, spec §1.3): encode into (out, cap, &len);
 * decode from (p, len) into a new message (caller owns it). Decode errors:
 * OCKAM_ETRUNC, OCKAM_EOVERFLOW (varint, hop count, address length),
 * OCKAM_EMALFORMED (version != 1, address type >= 128), OCKAM_ETRAILING. */
OCKAM_MUST_CHECK int ockam_message_encode(const ockam_message *m, uint8_t *out, size_t cap,
                                          size_t *len);
OCKAM_MUST_CHECK int ockam_message_decode(const uint8_t *p, size_t len, ockam_message **out);

#ifdef __cplusplus
}
#endif
#endif
