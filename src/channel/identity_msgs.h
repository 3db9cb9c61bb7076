/* The three messages of the 2021 identity channel handshake (identity spec
 * §6.2, v0.18.0), carried inside the encrypted plain channel:
 *
 *   ChannelAuthRequest  { contact: Contact, proof: Vec<u8> }                   R -> I
 *   ChannelAuthResponse { contact: Contact, proof: Vec<u8>, channel_address }  I -> R
 *   ChannelAuthConfirm  { channel_address: Address }                           R -> I
 *
 * Plain BARE structs (no tag byte). The proof is the 64-byte XEdDSA signature
 * over the XX handshake hash (spec §5), sent as `40 || sig`. Pure codec: the
 * Contact is located and returned as a byte span; verifying it is the identity
 * layer's job (ockam_contact_decode).
 *
 * Decoders take (pointer, length), check every length against what remains
 * and against the caps below, and refuse trailing bytes. Returned pointers
 * point into the input.
 */
#ifndef OCKAMI_IDENTITY_MSGS_H
#define OCKAMI_IDENTITY_MSGS_H

#include <stddef.h>
#include <stdint.h>

#include "bare.h"
#include "buf.h"
#include "ockam/error.h"
#include "ockam/limits.h"

#define OCKAMI_AUTH_PROOF_LEN 64u
/* Caps the decoder applies while walking a Contact: the identity layer's
 * (ockam/limits.h), so that no Contact it accepts is too large here. Strings
 * (identifier, label, attributes) share the largest string cap, and an event
 * may list a few changes; the Contact decoder then takes exactly one. */
#define OCKAMI_AUTH_CONTACT_MAX OCKAM_CONTACT_MAX_BYTES
#define OCKAMI_AUTH_EVENTS_MAX OCKAM_CONTACT_MAX_EVENTS
#define OCKAMI_AUTH_CHANGES_MAX 16u
#define OCKAMI_AUTH_ATTRIBUTES_MAX OCKAM_CONTACT_MAX_ATTRIBUTES
#define OCKAMI_AUTH_STRING_MAX OCKAM_CONTACT_MAX_ATTRIBUTE_LEN
#define OCKAMI_AUTH_KEY_MAX OCKAM_CONTACT_MAX_KEY_LEN

typedef struct ockami_auth_msg {
  const uint8_t *contact; /* Contact bytes (identifier + change history) */
  size_t contact_len;
  const uint8_t *proof; /* OCKAMI_AUTH_PROOF_LEN bytes */
  uint8_t addr_type;    /* channel_address (Response, Confirm) */
  const uint8_t *addr;
  size_t addr_len;
} ockami_auth_msg;

/* Encoders append to b. contact is the exported Contact (not checked here).
 * address: a local (type 0) address value. Errors: OCKAM_EINVAL, OCKAM_ENOMEM. */
OCKAM_MUST_CHECK int ockami_auth_request_encode(ockami_buf *b, const uint8_t *contact, size_t len,
                                                const uint8_t proof[static OCKAMI_AUTH_PROOF_LEN]);
OCKAM_MUST_CHECK int ockami_auth_response_encode(ockami_buf *b, const uint8_t *contact, size_t len,
                                                 const uint8_t proof[static OCKAMI_AUTH_PROOF_LEN],
                                                 const char *address);
OCKAM_MUST_CHECK int ockami_auth_confirm_encode(ockami_buf *b, const char *address);

/* Decoders. Errors: OCKAM_ETRUNC, OCKAM_EOVERFLOW (a count or length above its
 * cap), OCKAM_EMALFORMED (unknown enum tag, proof not 64 bytes, empty or
 * non-local channel address), OCKAM_ETRAILING, OCKAM_EUTF8. On error *out is
 * zeroed. */
OCKAM_MUST_CHECK int ockami_auth_request_decode(const uint8_t *p, size_t len, ockami_auth_msg *out);
OCKAM_MUST_CHECK int ockami_auth_response_decode(const uint8_t *p, size_t len,
                                                 ockami_auth_msg *out);
OCKAM_MUST_CHECK int ockami_auth_confirm_decode(const uint8_t *p, size_t len, ockami_auth_msg *out);

/* Walk one Contact at the reader's position (structure only, no signature
 * checks) and return its span. */
OCKAM_MUST_CHECK int ockami_contact_span(ockami_reader *r, const uint8_t **start, size_t *len);

#endif
