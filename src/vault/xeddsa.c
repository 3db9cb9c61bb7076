/* XEdDSA (identity spec §2). The signing steps follow §2.4 in order. */
#include "xeddsa.h"

#include <openssl/bn.h>
#include <sodium.h>
#include <string.h>

/* p = 2^255 - 19, big-endian. */
static const uint8_t xeddsa_p_be[32] = {
    0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xed};

int ockami_x25519_to_ed25519(const uint8_t u[static 32], uint8_t A[static 32]) {
  uint8_t le[32];
  memcpy(le, u, 32);
  le[31] &= 0x7f; /* bit 255 is not part of the coordinate (RFC 7748) */
  int rc = OCKAM_ENOMEM;
  BN_CTX *ctx = BN_CTX_new();
  if (!ctx) return OCKAM_ENOMEM;
  BN_CTX_start(ctx);
  BIGNUM *p = BN_CTX_get(ctx), *x = BN_CTX_get(ctx), *one = BN_CTX_get(ctx);
  BIGNUM *num = BN_CTX_get(ctx), *den = BN_CTX_get(ctx), *y = BN_CTX_get(ctx);
  if (!y) goto out;
  rc = OCKAM_EIO;
  if (!BN_bin2bn(xeddsa_p_be, sizeof xeddsa_p_be, p) || !BN_lebin2bn(le, 32, x) || !BN_one(one) ||
      !BN_nnmod(x, x, p, ctx) || !BN_mod_sub(num, x, one, p, ctx) ||
      !BN_mod_add(den, x, one, p, ctx)) {
    goto out;
  }
  if (BN_is_zero(den)) { /* u = -1: the birational map has no image */
    rc = OCKAM_EAUTH;
    goto out;
  }
  if (!BN_mod_inverse(den, den, p, ctx) || !BN_mod_mul(y, num, den, p, ctx) ||
      BN_bn2lebinpad(y, A, 32) != 32) {
    goto out;
  }
  rc = OCKAM_OK; /* y < p < 2^255, so bit 255 (the x sign) is 0 */
out:
  BN_CTX_end(ctx);
  BN_CTX_free(ctx);
  return rc;
}

static void xeddsa_clamp(uint8_t k[32]) {
  k[0] &= 248;
  k[31] &= 127;
  k[31] |= 64;
}

int ockami_xeddsa_sign(const uint8_t sk[static 32], const uint8_t *msg, size_t len,
                       const uint8_t Z[static 64], ockami_xeddsa_variant variant,
                       uint8_t sig[static 64]) {
  uint8_t k[32], a[32], A[32], r[32], h[32], t[32], wide[64], digest[64];
  crypto_hash_sha512_state st;
  int rc = OCKAM_ECRYPTO;
  if (sodium_init() < 0) return OCKAM_EIO;

  memcpy(k, sk, 32);
  xeddsa_clamp(k);
  /* A = k·B with the 255-bit k unreduced; fails only if k·B is the identity. */
  if (crypto_scalarmult_ed25519_base_noclamp(A, k) != 0) goto out;
  uint8_t sign = A[31] >> 7;
  A[31] &= 0x7f;
  if (sign) {
    crypto_core_ed25519_scalar_negate(a, k); /* (-k) mod l */
  } else if (variant == OCKAMI_XEDDSA_OCKAM) {
    memcpy(a, k, 32); /* Ockam hashes (and multiplies by) the unreduced k */
  } else {
    memset(wide, 0, sizeof wide);
    memcpy(wide, k, 32);
    crypto_core_ed25519_scalar_reduce(a, wide);
  }

  /* r = SHA-512(prefix ‖ a ‖ M ‖ Z) mod l */
  static const uint8_t ockam_prefix[2] = {0xfe, 0x20};
  uint8_t spec_prefix[32];
  memset(spec_prefix, 0xff, sizeof spec_prefix);
  spec_prefix[0] = 0xfe;
  crypto_hash_sha512_init(&st);
  if (variant == OCKAMI_XEDDSA_OCKAM) {
    crypto_hash_sha512_update(&st, ockam_prefix, sizeof ockam_prefix);
  } else {
    crypto_hash_sha512_update(&st, spec_prefix, sizeof spec_prefix);
  }
  crypto_hash_sha512_update(&st, a, 32);
  crypto_hash_sha512_update(&st, msg, len);
  crypto_hash_sha512_update(&st, Z, 64);
  crypto_hash_sha512_final(&st, digest);
  crypto_core_ed25519_scalar_reduce(r, digest);

  /* R = r·B; h = SHA-512(R ‖ A ‖ M) mod l; s = r + h·a mod l */
  if (crypto_scalarmult_ed25519_base_noclamp(sig, r) != 0) goto out;
  crypto_hash_sha512_init(&st);
  crypto_hash_sha512_update(&st, sig, 32);
  crypto_hash_sha512_update(&st, A, 32);
  crypto_hash_sha512_update(&st, msg, len);
  crypto_hash_sha512_final(&st, digest);
  crypto_core_ed25519_scalar_reduce(h, digest);
  crypto_core_ed25519_scalar_mul(t, h, a);
  crypto_core_ed25519_scalar_add(sig + 32, r, t);
  rc = OCKAM_OK;

out:
  sodium_memzero(k, sizeof k);
  sodium_memzero(a, sizeof a);
  sodium_memzero(r, sizeof r);
  sodium_memzero(t, sizeof t);
  sodium_memzero(wide, sizeof wide);
  sodium_memzero(digest, sizeof digest);
  sodium_memzero(&st, sizeof st);
  if (rc) sodium_memzero(sig, 64);
  return rc;
}

int ockami_xeddsa_verify(const uint8_t u[static 32], const uint8_t *msg, size_t len,
                         const uint8_t sig[static 64]) {
  uint8_t A[32];
  if (sodium_init() < 0) return OCKAM_EIO;
  int rc = ockami_x25519_to_ed25519(u, A);
  if (rc) return rc == OCKAM_EAUTH ? OCKAM_EAUTH : rc;
  /* libsodium rejects s >= l, non-canonical or small-order A and R, and keys on
   * the twist (A does not decompress): stricter than the 2021 verifier, equal
   * for honest keys and signatures (spec §2.4). */
  return crypto_sign_verify_detached(sig, msg, len, A) == 0 ? OCKAM_OK : OCKAM_EAUTH;
}
