/* Vault backends: one const ops table per backend, registered by name in vault.c.
 *
 * vault.c validates every argument (NULL pointers, lengths, n = 1..3, secret
 * types) before calling into a backend, so backends may assume sane inputs and
 * only check what depends on their own state (unknown handles, wrong secret
 * type for the operation). Every backend returns the error codes documented in
 * ockam/vault.h.
 */
#ifndef OCKAMI_VAULT_INTERNAL_H
#define OCKAMI_VAULT_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ockam/vault.h"

/* Largest secret any backend stores (BUFFER max, Ed25519 64-byte form). */
#define OCKAMI_VAULT_SECRET_MAX 64u

/* Test hook: called once per secret storage slot, with the slot's full storage,
 * while the vault is being destroyed, after the wipe pass and before the memory
 * is released. Production code never sets it. */
typedef void (*ockami_vault_release_hook)(void *user, const uint8_t *storage, size_t len);

typedef struct ockami_vault_ops {
  const char *name;

  OCKAM_MUST_CHECK int (*create)(void **impl);
  void (*destroy)(void *impl);

  OCKAM_MUST_CHECK int (*random)(void *impl, uint8_t *out, size_t len);
  OCKAM_MUST_CHECK int (*sha256)(void *impl, const uint8_t *a, size_t a_len, const uint8_t *b,
                                 size_t b_len, uint8_t out[static 32]);

  OCKAM_MUST_CHECK int (*secret_import)(void *impl, ockam_secret_type type, const uint8_t *bytes,
                                        size_t len, ockam_secret *out);
  OCKAM_MUST_CHECK int (*secret_export)(void *impl, ockam_secret secret, uint8_t *out, size_t cap,
                                        size_t *out_len);
  OCKAM_MUST_CHECK int (*secret_info)(void *impl, ockam_secret secret, ockam_secret_type *type,
                                      size_t *len);
  void (*secret_destroy)(void *impl, ockam_secret secret);
  size_t (*secret_count)(const void *impl);

  OCKAM_MUST_CHECK int (*x25519_generate)(void *impl, ockam_secret *out, uint8_t pub[static 32]);
  OCKAM_MUST_CHECK int (*x25519_public)(void *impl, ockam_secret secret, uint8_t pub[static 32]);
  OCKAM_MUST_CHECK int (*x25519_dh)(void *impl, ockam_secret secret, const uint8_t peer[static 32],
                                    ockam_secret *out);

  OCKAM_MUST_CHECK int (*hkdf_sha256)(void *impl, ockam_secret salt, ockam_secret ikm,
                                      const uint8_t *info, size_t info_len, size_t n,
                                      const ockam_secret_type *out_types, ockam_secret *out);

  OCKAM_MUST_CHECK int (*aead_encrypt)(void *impl, ockam_secret key, const uint8_t nonce[static 12],
                                       const uint8_t *aad, size_t aad_len, const uint8_t *pt,
                                       size_t pt_len, uint8_t *out);
  OCKAM_MUST_CHECK int (*aead_decrypt)(void *impl, ockam_secret key, const uint8_t nonce[static 12],
                                       const uint8_t *aad, size_t aad_len, const uint8_t *ct,
                                       size_t ct_len, uint8_t *out);
  /* Optional (NULL: not offered): seals pt1 || pt2 as one message without
   * joining them first; out receives the ciphertext of both, then the tag.
   * pt1 may be out itself; pt2 does not overlap out. */
  OCKAM_MUST_CHECK int (*aead_encrypt2)(void *impl, ockam_secret key,
                                        const uint8_t nonce[static 12], const uint8_t *pt1,
                                        size_t len1, const uint8_t *pt2, size_t len2, uint8_t *out);

  OCKAM_MUST_CHECK int (*ed25519_generate)(void *impl, ockam_secret *out, uint8_t pub[static 32]);
  OCKAM_MUST_CHECK int (*ed25519_sign)(void *impl, ockam_secret key, const uint8_t *msg, size_t len,
                                       uint8_t sig[static 64]);
  /* Stateless: used by ockam_vault_ed25519_verify() through the default backend. */
  OCKAM_MUST_CHECK int (*ed25519_verify)(const uint8_t pub[static 32], const uint8_t *msg,
                                         size_t len, const uint8_t sig[static 64]);

  /* XEdDSA signature with an X25519 secret and the 64-byte nonce input z
   * (chosen by the front end: random, or fixed by a test). */
  OCKAM_MUST_CHECK int (*xeddsa_sign)(void *impl, ockam_secret key, const uint8_t *msg, size_t len,
                                      const uint8_t z[static 64], uint8_t sig[static 64]);

  /* Test hooks; a backend may leave them NULL. */
  const uint8_t *(*test_secret_storage)(void *impl, ockam_secret secret, size_t *len);
  void (*test_set_release_hook)(void *impl, ockami_vault_release_hook hook, void *user);
} ockami_vault_ops;

extern const ockami_vault_ops ockami_vault_software_ops;

/* Does the vault seal a message given in two pieces (ockami_vault_aead_encrypt2)? */
bool ockami_vault_has_encrypt2(const ockam_vault *vault);
/* As ockam_vault_aead_encrypt without AAD, the plaintext being pt1 || pt2
 * (pt1 may be out itself, pt2 must not overlap out). OCKAM_ENOTSUP when the
 * vault does not offer it. */
OCKAM_MUST_CHECK int ockami_vault_aead_encrypt2(ockam_vault *vault, ockam_secret key,
                                                const uint8_t nonce[static 12], const uint8_t *pt1,
                                                size_t len1, const uint8_t *pt2, size_t len2,
                                                uint8_t *out, size_t cap, size_t *out_len);

/* Test hook: the storage bytes of a live secret's slot and their full capacity
 * (*len). The pointer stays owned by the vault and stays valid, pointing at the
 * same slot, after the secret is destroyed and until the vault is destroyed,
 * so a test can check that destroying the secret wiped it. NULL if the handle is
 * unknown or the backend has no such hook. */
const uint8_t *ockami_vault_test_secret_storage(ockam_vault *vault, ockam_secret secret,
                                                size_t *len);
/* Test hook: see ockami_vault_release_hook. */
void ockami_vault_test_set_release_hook(ockam_vault *vault, ockami_vault_release_hook hook,
                                        void *user);

/* Test hook: when set, every XEdDSA signature of this vault takes its 64-byte
 * nonce input from hook (to reproduce the fixed-nonce vectors) instead of the
 * random source. Production code never sets it. NULL restores randomness. */
typedef void (*ockami_vault_nonce_hook)(void *user, uint8_t z[64]);
void ockami_vault_test_set_nonce_hook(ockam_vault *vault, ockami_vault_nonce_hook hook, void *user);

#endif
