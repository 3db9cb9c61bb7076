/* Identity internals shared with tests and the channel layer's tests. */
#ifndef OCKAMI_IDENTITY_INTERNAL_H
#define OCKAMI_IDENTITY_INTERNAL_H

#include "ockam/identity.h"

/* Like ockam_identity_create(), with the root key given: key is an X25519
 * secret of vault that the identity takes over (destroyed by
 * ockam_identity_free, and on failure). Vectors use it with fixed secrets and
 * the vault's nonce hook (vault_internal.h); signatures are made in the order
 * self signature, root signature. */
OCKAM_MUST_CHECK int ockami_identity_create_with_key(ockam_vault *vault, ockam_secret key,
                                                     ockam_identity **out);
/* Like ockam_identity_rotate(), with the new key given (taken over as above).
 * Signature order: self, prev, root. */
OCKAM_MUST_CHECK int ockami_identity_rotate_with_key(ockam_identity *id, ockam_secret key);

/* KeyId of a public key: lowercase hex(SHA-256(pub)), the name under which a
 * persistent vault stores the key. */
void ockami_key_id(const uint8_t pub[static 32], char out[static 65]);

/* Identity file layout: magic ‖ BARE data(Contact) ‖ BARE string(key id) ‖
 * SHA-256 of everything before. */
#define OCKAMI_IDENTITY_MAGIC "OCKAMID1"
#define OCKAMI_IDENTITY_FILE_MAX (8u + 10u + OCKAM_CONTACT_MAX_BYTES + 1u + 64u + 32u)

#endif
