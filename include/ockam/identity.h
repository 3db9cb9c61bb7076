/* Identities (Ockam 2021 "profiles"): a root key, a signed change history, the
 * identifier derived from it, and the Contact that carries the public part.
 *
 * An ockam_identity is the private side: it is bound to one vault, which holds
 * its keys (X25519, label OCKAM_PUK). It signs its own change events and the
 * authentication proofs of identity channels. An ockam_contact is the public
 * side of some identity, decoded from Contact bytes and fully verified.
 *
 * Identifier: lowercase hex(SHA-256(first root public key)), 64 characters.
 * That is the wire form (no prefix). The external (human-readable) form of
 * Ockam 2021 is "P_ID." followed by the 64 hex characters.
 *
 * Encodings follow the 2021 Contact / ProfileChangeHistory BARE layout byte
 * for byte, so contacts and proofs interoperate with Ockam v0.18 nodes.
 *
 * Threading: like the vault, an identity is used from one thread. Contacts are
 * immutable after decode except through ockam_contact_update(); they may be
 * read from several threads if nobody updates them.
 *
 * Ownership: every *out object belongs to the caller, who frees it with the
 * matching _free. The vault passed to ockam_identity_create/load is borrowed
 * and must outlive the identity.
 */
#ifndef OCKAM_IDENTITY_H
#define OCKAM_IDENTITY_H

#include <stddef.h>
#include <stdint.h>

#include "ockam/error.h"
#include "ockam/vault.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct ockam_identity ockam_identity;
typedef struct ockam_contact ockam_contact;

/* Identifier: 64 lowercase hex characters; buffers need one more for the NUL. */
#define OCKAM_IDENTIFIER_LEN 64u
#define OCKAM_IDENTIFIER_BUF (OCKAM_IDENTIFIER_LEN + 1u)
/* External form "P_ID.<hex>" plus NUL. */
#define OCKAM_IDENTIFIER_EXTERNAL_PREFIX "P_ID."
#define OCKAM_IDENTIFIER_EXTERNAL_BUF (5u + OCKAM_IDENTIFIER_LEN + 1u)
/* Handshake hash signed by an authentication proof, and the proof itself. */
#define OCKAM_PROOF_HASH_LEN 32u
#define OCKAM_PROOF_LEN 64u

/* --- identifiers ------------------------------------------------------------ */

/* Parse an identifier given as 64 hex characters, "P_ID.<hex>" (v0.18 external
 * form) or "P<hex>" (v0.22 display form). Upper-case hex is accepted and
 * lowered. out receives the wire form (64 lowercase hex + NUL).
 * Errors: OCKAM_EINVAL (NULL), OCKAM_EMALFORMED (anything else). */
OCKAM_MUST_CHECK int ockam_identifier_parse(const char *s, char out[static OCKAM_IDENTIFIER_BUF]);
/* Write "P_ID.<hex>" for a wire-form identifier into buf (cap bytes, NUL
 * included). Errors: OCKAM_EMALFORMED (not a wire-form identifier),
 * OCKAM_EOVERFLOW (cap < OCKAM_IDENTIFIER_EXTERNAL_BUF). */
OCKAM_MUST_CHECK int ockam_identifier_to_external(const char *identifier, char *buf, size_t cap);

/* --- identities (private side) --------------------------------------------- */

/* Create a new identity: generate a root X25519 key in vault, write its
 * CreateKey(OCKAM_PUK) event. Errors: OCKAM_EINVAL, OCKAM_ENOMEM, vault errors. */
OCKAM_MUST_CHECK int ockam_identity_create(ockam_vault *vault, ockam_identity **out);
/* Free the identity and destroy (wipe) its secrets in the vault's memory. Key
 * files a persistent vault wrote stay on disk. NULL is ignored. */
void ockam_identity_free(ockam_identity *id);

/* The identifier, wire form (64 lowercase hex + NUL). cap >= OCKAM_IDENTIFIER_BUF
 * (OCKAM_EOVERFLOW otherwise). */
OCKAM_MUST_CHECK int ockam_identity_identifier(const ockam_identity *id, char *buf, size_t cap);
/* Same, external form "P_ID.<hex>" (cap >= OCKAM_IDENTIFIER_EXTERNAL_BUF). */
OCKAM_MUST_CHECK int ockam_identity_identifier_external(const ockam_identity *id, char *buf,
                                                        size_t cap);
/* Number of events in the change history (1 after create, +1 per rotation). */
size_t ockam_identity_event_count(const ockam_identity *id);
/* Current OCKAM_PUK public key (X25519 u-coordinate). */
OCKAM_MUST_CHECK int ockam_identity_public_key(const ockam_identity *id, uint8_t pub[static 32]);
/* The vault the identity is bound to (borrowed). */
ockam_vault *ockam_identity_vault(const ockam_identity *id);

/* Rotate the profile key: generate a new X25519 key and append a RotateKey
 * event signed by the new key (self signature) and by the previous key (prev
 * and root signatures). The identifier does not change. The previous secret is
 * destroyed in the vault's memory. With a persistent vault, call
 * ockam_identity_save() afterwards to make the rotation durable; it also
 * removes the previous key's file. Errors: vault errors, OCKAM_ENOMEM,
 * OCKAM_EOVERFLOW (history would exceed OCKAM_CONTACT_MAX_EVENTS). */
OCKAM_MUST_CHECK int ockam_identity_rotate(ockam_identity *id);

/* Contact bytes (identifier + full change history, BARE) into out (cap bytes);
 * *len = bytes written, or bytes needed when the result is OCKAM_EOVERFLOW.
 * 318 bytes for a fresh identity, 316 more per rotation. */
OCKAM_MUST_CHECK int ockam_identity_export_contact(const ockam_identity *id, uint8_t *out,
                                                   size_t cap, size_t *len);
/* The identity's own contact as an object (decoded from its export). */
OCKAM_MUST_CHECK int ockam_identity_contact(const ockam_identity *id, ockam_contact **out);

/* Authentication proof: XEdDSA signature by the current OCKAM_PUK key over a
 * 32-byte handshake hash (the final Noise XX h). sig receives 64 bytes; on the
 * wire of the 2021 channel it is carried as a BARE data of length 64. */
OCKAM_MUST_CHECK int ockam_identity_create_proof(ockam_identity *id,
                                                 const uint8_t h[static OCKAM_PROOF_HASH_LEN],
                                                 uint8_t sig[static OCKAM_PROOF_LEN]);

/* --- persistence ----------------------------------------------------------- */

/* Write the identity to path (atomically: temporary file in the same directory,
 * fsync, rename; mode 0600, O_NOFOLLOW) and persist its current key in the
 * vault's directory (the vault must come from ockam_vault_create_persistent();
 * otherwise OCKAM_ENOTSUP). Keys of earlier rotations are removed from the
 * vault directory once the new file is in place. The file holds public data
 * only: the change history and the name of the current key in the vault.
 * Errors: OCKAM_ENOTSUP, OCKAM_EIO (file system; the error is logged). */
OCKAM_MUST_CHECK int ockam_identity_save(ockam_identity *id, const char *path);
/* Read an identity file written by ockam_identity_save(), verify its history as
 * a received contact would be verified, and load its current key from the
 * (persistent) vault. Errors: OCKAM_ENOTFOUND (no identity file, and only
 * then, so a caller may create a new identity on it), OCKAM_ECORRUPT (bad
 * magic, truncated, checksum mismatch, undecodable history, or its key is
 * missing from the vault or unreadable), OCKAM_EAUTH (history does not
 * verify, or the vault key does not match it), OCKAM_ENOTSUP (in-memory
 * vault), OCKAM_EIO. Each failure is logged with the path and the reason. */
OCKAM_MUST_CHECK int ockam_identity_load(ockam_vault *vault, const char *path,
                                         ockam_identity **out);

/* --- contacts (public side) ------------------------------------------------- */

/* Decode Contact bytes and verify them completely: every event has exactly
 * one change; the first event's prev id is SHA-256("OCKAM_NO_EVENT") and every
 * later one is the previous event's id; every event id is SHA-256 of the
 * ChangeSet bytes as received; every self, prev and root signature verifies;
 * the first change is a CreateKey; the identifier is hex(SHA-256(root key)).
 * Sizes are capped (OCKAM_CONTACT_MAX_BYTES, OCKAM_CONTACT_MAX_EVENTS) before
 * anything is allocated. Errors: OCKAM_EINVAL, OCKAM_ETRUNC/OCKAM_EMALFORMED/
 * OCKAM_ETRAILING/OCKAM_EOVERFLOW (encoding), OCKAM_EAUTH (a check failed),
 * OCKAM_ENOMEM. On error *out is NULL. */
OCKAM_MUST_CHECK int ockam_contact_decode(const uint8_t *p, size_t len, ockam_contact **out);
/* Re-encode a contact (exactly the bytes it was decoded from). Same (out, cap,
 * len) convention as ockam_identity_export_contact(). */
OCKAM_MUST_CHECK int ockam_contact_encode(const ockam_contact *c, uint8_t *out, size_t cap,
                                          size_t *len);
/* Copy a contact. */
OCKAM_MUST_CHECK int ockam_contact_clone(const ockam_contact *c, ockam_contact **out);
void ockam_contact_free(ockam_contact *c);

/* Wire-form identifier of the contact (64 lowercase hex + NUL), verified
 * against its root key. cap >= OCKAM_IDENTIFIER_BUF. */
OCKAM_MUST_CHECK int ockam_contact_identifier(const ockam_contact *c, char *buf, size_t cap);
/* Borrowed pointer to the same NUL-terminated identifier (valid while c lives
 * and is not updated). */
const char *ockam_contact_identifier_str(const ockam_contact *c);
size_t ockam_contact_event_count(const ockam_contact *c);
/* Current OCKAM_PUK public key of the contact (the last key event). */
OCKAM_MUST_CHECK int ockam_contact_public_key(const ockam_contact *c, uint8_t pub[static 32]);

/* 0 if newer has the same identifier as known and its history is known's
 * history (byte for byte) followed by zero or more further events (each
 * already verified by decode, so a rotation is accepted only through a valid
 * chain). OCKAM_EAUTH otherwise. */
OCKAM_MUST_CHECK int ockam_contact_check_extends(const ockam_contact *known,
                                                 const ockam_contact *newer);
/* If ockam_contact_check_extends(known, newer) holds, replace known's content by
 * newer's (known then describes the rotated identity). Errors: OCKAM_EAUTH,
 * OCKAM_ENOMEM; on error known is unchanged. */
OCKAM_MUST_CHECK int ockam_contact_update(ockam_contact *known, const ockam_contact *newer);

/* Verify an authentication proof made by the contact's current OCKAM_PUK key
 * over the 32-byte handshake hash h. 0 if valid, OCKAM_EAUTH if not. */
OCKAM_MUST_CHECK int ockam_contact_verify_proof(const ockam_contact *c,
                                                const uint8_t h[static OCKAM_PROOF_HASH_LEN],
                                                const uint8_t sig[static OCKAM_PROOF_LEN]);

#ifdef __cplusplus
}
#endif
#endif
