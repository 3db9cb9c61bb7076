/* Vault: the only place that touches key material.
 *
 * A vault holds secrets (X25519 private keys, symmetric keys, HKDF chaining
 * values) and hands out opaque handles to them. Secret bytes never leave the
 * vault except through ockam_vault_secret_export(), which exists for tests and
 * key files. Destroying a secret, or the vault, wipes its bytes.
 *
 * Backends are ops tables registered by name; "software" (libsodium for
 * X25519/Ed25519/randomness/wiping, OpenSSL libcrypto for AES-256-GCM,
 * SHA-256 and HKDF-SHA256) is built in.
 *
 * Threading: a vault is not thread-safe; use it from one thread (the node's
 * loop thread) or lock around it.
 */
#ifndef OCKAM_VAULT_H
#define OCKAM_VAULT_H

#include <stddef.h>
#include <stdint.h>

#include "ockam/error.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct ockam_vault ockam_vault;

/* Handle to a secret inside one vault. 0 is never a valid handle. */
typedef uint32_t ockam_secret;

typedef enum ockam_secret_type {
  OCKAM_SECRET_BUFFER = 0, /* opaque bytes (DH output, HKDF output, salts) */
  OCKAM_SECRET_AES256 = 1, /* 32-byte AES-256-GCM key */
  OCKAM_SECRET_X25519 = 2, /* 32-byte X25519 private key (clamped, RFC 7748, on import) */
  OCKAM_SECRET_ED25519 = 3 /* Ed25519 signing key */
} ockam_secret_type;

#define OCKAM_X25519_KEY_LEN 32u
#define OCKAM_SHA256_LEN 32u
#define OCKAM_AES256_KEY_LEN 32u
#define OCKAM_AEAD_NONCE_LEN 12u
#define OCKAM_AEAD_TAG_LEN 16u
#define OCKAM_ED25519_PUBLIC_LEN 32u
#define OCKAM_ED25519_SIGNATURE_LEN 64u

/* Create a vault with the named backend ("software"). Caller owns *out and frees
 * it with ockam_vault_destroy(). Errors: OCKAM_ENOTFOUND (no such backend),
 * OCKAM_ENOMEM, OCKAM_EIO (crypto library failed to initialise). */
OCKAM_MUST_CHECK int ockam_vault_create(const char *backend, ockam_vault **out);
/* Wipe every secret and free the vault. NULL is ignored. */
void ockam_vault_destroy(ockam_vault *vault);

/* Fill out[0..len) with cryptographically secure random bytes. */
OCKAM_MUST_CHECK int ockam_vault_random(ockam_vault *vault, uint8_t *out, size_t len);

/* SHA-256 of (data, len). */
OCKAM_MUST_CHECK int ockam_vault_sha256(ockam_vault *vault, const uint8_t *data, size_t len,
                                        uint8_t out[static 32]);
/* SHA-256 of a || b without copying them together (Noise MixHash: h = H(h || data)).
 * out may alias a or b. */
OCKAM_MUST_CHECK int ockam_vault_sha256_concat(ockam_vault *vault, const uint8_t *a, size_t a_len,
                                               const uint8_t *b, size_t b_len,
                                               uint8_t out[static 32]);

/* Import raw secret bytes as a secret of the given type. The caller's copy is not
 * wiped (the caller owns it). AES256 and X25519 need exactly 32 bytes; BUFFER
 * takes 0..64 bytes; ED25519 takes 32 (seed) or 64. Errors: OCKAM_EINVAL (length
 * not valid for the type), OCKAM_ENOMEM. */
OCKAM_MUST_CHECK int ockam_vault_secret_import(ockam_vault *vault, ockam_secret_type type,
                                               const uint8_t *bytes, size_t len, ockam_secret *out);
/* Copy the secret's bytes to out (cap bytes available), *out_len = its length.
 * Errors: OCKAM_ENOTFOUND, OCKAM_EOVERFLOW (cap too small). */
OCKAM_MUST_CHECK int ockam_vault_secret_export(ockam_vault *vault, ockam_secret secret,
                                               uint8_t *out, size_t cap, size_t *out_len);
/* Length of a secret's bytes and its type. */
OCKAM_MUST_CHECK int ockam_vault_secret_info(ockam_vault *vault, ockam_secret secret,
                                             ockam_secret_type *type, size_t *len);
/* Wipe and forget a secret. Unknown handles and 0 are ignored. */
void ockam_vault_secret_destroy(ockam_vault *vault, ockam_secret secret);
/* Number of live secrets (tests use it to prove that nothing leaks). */
size_t ockam_vault_secret_count(const ockam_vault *vault);

/* X25519: generate a fresh private key; pub receives its public key. */
OCKAM_MUST_CHECK int ockam_vault_x25519_generate(ockam_vault *vault, ockam_secret *out,
                                                 uint8_t pub[static 32]);
/* Public key of an X25519 private-key secret. */
OCKAM_MUST_CHECK int ockam_vault_x25519_public(ockam_vault *vault, ockam_secret secret,
                                               uint8_t pub[static 32]);
/* X25519(secret, peer) stored as a new BUFFER secret. Fails with OCKAM_ECRYPTO
 * when the result is all zero (low-order peer key). */
OCKAM_MUST_CHECK int ockam_vault_x25519_dh(ockam_vault *vault, ockam_secret secret,
                                           const uint8_t peer[static 32], ockam_secret *out);

/* HKDF-SHA256 (RFC 5869) as used by Noise: PRK = HMAC(salt, ikm), then n
 * outputs of 32 bytes each (n = 1..3). ikm = 0 means empty input key material.
 * Each output becomes a secret of out_types[i] (AES256 or BUFFER). */
OCKAM_MUST_CHECK int ockam_vault_hkdf_sha256(ockam_vault *vault, ockam_secret salt,
                                             ockam_secret ikm, const uint8_t *info, size_t info_len,
                                             size_t n, const ockam_secret_type *out_types,
                                             ockam_secret *out);

/* AES-256-GCM with a 12-byte nonce; out receives ciphertext || 16-byte tag
 * (pt_len + 16 bytes; cap must allow it). in and out may be the same buffer. */
OCKAM_MUST_CHECK int ockam_vault_aead_encrypt(ockam_vault *vault, ockam_secret key,
                                              const uint8_t nonce[static 12], const uint8_t *aad,
                                              size_t aad_len, const uint8_t *pt, size_t pt_len,
                                              uint8_t *out, size_t cap, size_t *out_len);
/* Inverse of encrypt. Any authentication failure returns OCKAM_ECRYPTO, with no
 * detail and no plaintext released (out is wiped). */
OCKAM_MUST_CHECK int ockam_vault_aead_decrypt(ockam_vault *vault, ockam_secret key,
                                              const uint8_t nonce[static 12], const uint8_t *aad,
                                              size_t aad_len, const uint8_t *ct, size_t ct_len,
                                              uint8_t *out, size_t cap, size_t *out_len);

/* Ed25519 signing keys (long-term node identities). The secret holds the 64-byte
 * libsodium form (seed || public key); import takes that form or a 32-byte seed. */
OCKAM_MUST_CHECK int ockam_vault_ed25519_generate(ockam_vault *vault, ockam_secret *out,
                                                  uint8_t pub[static 32]);
OCKAM_MUST_CHECK int ockam_vault_ed25519_sign(ockam_vault *vault, ockam_secret key,
                                              const uint8_t *msg, size_t len,
                                              uint8_t sig[static 64]);
OCKAM_MUST_CHECK int ockam_vault_ed25519_verify(const uint8_t pub[static 32], const uint8_t *msg,
                                                size_t len, const uint8_t sig[static 64]);

/* Key files: write a secret's raw bytes to path, created with mode 0600 (fails with
 * OCKAM_EEXIST if path exists; OCKAM_EIO on other file errors); read one back as a
 * secret of the given type (OCKAM_ENOTFOUND when missing, OCKAM_EMALFORMED when it
 * is not a regular file or its length does not fit the type). */
OCKAM_MUST_CHECK int ockam_vault_secret_save(ockam_vault *vault, ockam_secret secret,
                                             const char *path);
OCKAM_MUST_CHECK int ockam_vault_secret_load(ockam_vault *vault, ockam_secret_type type,
                                             const char *path, ockam_secret *out);

/* XEdDSA (Ed25519-compatible signatures made with an X25519 key, as Ockam 2021
 * profiles use them): sign msg with an X25519 secret; the signature verifies
 * as Ed25519 under the Edwards form (sign bit 0) of the X25519 public key.
 * Fresh 64-byte randomness enters every signature. Errors: OCKAM_ENOTFOUND,
 * OCKAM_EINVAL (secret is not X25519), OCKAM_ECRYPTO. */
OCKAM_MUST_CHECK int ockam_vault_xeddsa_sign(ockam_vault *vault, ockam_secret key,
                                             const uint8_t *msg, size_t len,
                                             uint8_t sig[static 64]);
/* Verify an XEdDSA signature against an X25519 public key (u-coordinate).
 * 0 if valid, OCKAM_EAUTH if not (including keys with no Edwards form and
 * low-order keys). */
OCKAM_MUST_CHECK int ockam_vault_xeddsa_verify(const uint8_t pub[static 32], const uint8_t *msg,
                                               size_t len, const uint8_t sig[static 64]);

/* Persistent vault: the "software" backend plus a directory that holds the
 * secrets made persistent with ockam_vault_secret_persist(), one file per
 * secret named after it. The directory is created with mode 0700 if missing
 * (an existing one must be a real directory, not a symlink, owned by the
 * caller; a group/other-accessible one is tightened to 0700). Key files are
 * mode 0600, written atomically (temporary file, fsync, rename) and opened
 * with O_NOFOLLOW. Secrets not persisted live in memory only. Errors:
 * OCKAM_EINVAL, OCKAM_EIO (cannot create or open the directory, logged),
 * OCKAM_ENOMEM. */
OCKAM_MUST_CHECK int ockam_vault_create_persistent(const char *dir, ockam_vault **out);
/* Directory of a persistent vault, NULL for an in-memory one (borrowed). */
const char *ockam_vault_dir(const ockam_vault *vault);
/* Store a secret under name (1..64 characters of [A-Za-z0-9_.-], not starting
 * with '.') in the vault directory, replacing a previous file of that name.
 * Errors: OCKAM_ENOTSUP (in-memory vault), OCKAM_EINVAL (bad name),
 * OCKAM_ENOTFOUND (unknown secret), OCKAM_EIO. */
OCKAM_MUST_CHECK int ockam_vault_secret_persist(ockam_vault *vault, ockam_secret secret,
                                                const char *name);
/* Load the secret stored under name as a new handle of the given type.
 * Errors: OCKAM_ENOTSUP, OCKAM_EINVAL, OCKAM_ENOTFOUND (no such key file),
 * OCKAM_ECORRUPT (wrong length for the type, not a regular file), OCKAM_EIO. */
OCKAM_MUST_CHECK int ockam_vault_secret_open(ockam_vault *vault, const char *name,
                                             ockam_secret_type type, ockam_secret *out);
/* Remove the key file stored under name (the secret's handle, if any, stays
 * valid in memory). Missing files are not an error. */
OCKAM_MUST_CHECK int ockam_vault_secret_unpersist(ockam_vault *vault, const char *name);

#ifdef __cplusplus
}
#endif
#endif
