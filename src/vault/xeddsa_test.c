/* XEdDSA: the identity vectors (§3) byte for byte with fixed nonces, both
 * variants and both sign-bit cases, Ockam's own convert_test input, the
 * Montgomery→Edwards map, rejection of every flipped signature bit, and the
 * vault entry points. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>
#include <sodium.h>

#include "test_hex.h"
#include "test_vectors.h"

#include "ockam/vault.h"
#include "vault_internal.h"
#include "xeddsa.h"

#define VECTORS "ockam-2021-identity-vectors.md"

typedef struct xcase {
  const char *header;
  ockami_xeddsa_variant variant;
} xcase;

static const xcase xcases[] = {
    {"K0 (404142..5f, sign bit 1) variant=ockam", OCKAMI_XEDDSA_OCKAM},
    {"K0 (404142..5f, sign bit 1) variant=spec", OCKAMI_XEDDSA_SPEC},
    {"K1 (a0a1a2..bf, sign bit 0) variant=ockam", OCKAMI_XEDDSA_OCKAM},
    {"K1 (a0a1a2..bf, sign bit 0) variant=spec", OCKAMI_XEDDSA_SPEC},
};

static void test_vectors(void **state) {
  (void)state;
  char *md = vec_load(VECTORS);
  for (size_t c = 0; c < sizeof xcases / sizeof xcases[0]; c++) {
    const char *p = vec_find(md, xcases[c].header);
    uint8_t sk[32], u[32], A[32], z[64], m[64], want[64], got[64], conv[32], pub[32];
    assert_int_equal(vec_field(p, "sk (raw)", sk, sizeof sk, NULL), 32);
    assert_int_equal(vec_field(p, "X25519 public u", u, sizeof u, NULL), 32);
    assert_int_equal(vec_field(p, "Edwards A", A, sizeof A, NULL), 32);
    assert_int_equal(vec_field(p, "Z", z, sizeof z, NULL), 64);
    size_t mlen = vec_field(p, "M", m, sizeof m, NULL);
    assert_int_equal(vec_field(p, "signature R||s", want, sizeof want, NULL), 64);

    crypto_scalarmult_curve25519_base(pub, sk);
    assert_memory_equal(pub, u, 32);
    assert_int_equal(ockami_x25519_to_ed25519(u, conv), OCKAM_OK);
    assert_memory_equal(conv, A, 32);
    assert_int_equal(ockami_xeddsa_sign(sk, m, mlen, z, xcases[c].variant, got), OCKAM_OK);
    assert_memory_equal(got, want, 64);
    assert_int_equal(ockami_xeddsa_verify(u, m, mlen, got), OCKAM_OK);
    /* The Edwards key maps back to the X25519 key (spec §2.4 self-check). */
    uint8_t back[32];
    assert_int_equal(crypto_sign_ed25519_pk_to_curve25519(back, A), 0);
    assert_memory_equal(back, u, 32);
  }
  free(md);
}

/* Ockam's xeddsa.rs convert_test input: secret byte 8 = 189, Z = 0, M = 200 zeros. */
static void test_convert_test_input(void **state) {
  (void)state;
  char *md = vec_load(VECTORS);
  const char *p = vec_find(md, "convert_test input");
  uint8_t sk[32] = {0}, z[64] = {0}, m[200] = {0}, u[32], A[32], want[64], got[64], conv[32];
  sk[8] = 189;
  assert_int_equal(vec_field(p, "X25519 public u", u, sizeof u, NULL), 32);
  assert_int_equal(vec_field(p, "Edwards A", A, sizeof A, NULL), 32);
  assert_int_equal(vec_field(p, "signature", want, sizeof want, NULL), 64);
  uint8_t pub[32];
  crypto_scalarmult_curve25519_base(pub, sk);
  assert_memory_equal(pub, u, 32);
  assert_int_equal(ockami_x25519_to_ed25519(u, conv), OCKAM_OK);
  assert_memory_equal(conv, A, 32);
  assert_int_equal(ockami_xeddsa_sign(sk, m, sizeof m, z, OCKAMI_XEDDSA_OCKAM, got), OCKAM_OK);
  assert_memory_equal(got, want, 64);
  assert_int_equal(ockami_xeddsa_verify(u, m, sizeof m, got), OCKAM_OK);
  free(md);
}

/* Every single-bit change of the signature, the message or the key is refused. */
static void test_flipped_bits_rejected(void **state) {
  (void)state;
  uint8_t sk[32], u[32], z[64], m[32], sig[64];
  for (int i = 0; i < 32; i++) sk[i] = (uint8_t)(0x40 + i);
  memset(z, 0x80, sizeof z);
  memset(m, 0x4b, sizeof m);
  crypto_scalarmult_curve25519_base(u, sk);
  assert_int_equal(ockami_xeddsa_sign(sk, m, sizeof m, z, OCKAMI_XEDDSA_OCKAM, sig), OCKAM_OK);
  assert_int_equal(ockami_xeddsa_verify(u, m, sizeof m, sig), OCKAM_OK);
  for (size_t bit = 0; bit < 512; bit++) {
    sig[bit / 8] ^= (uint8_t)(1u << (bit % 8));
    assert_int_equal(ockami_xeddsa_verify(u, m, sizeof m, sig), OCKAM_EAUTH);
    sig[bit / 8] ^= (uint8_t)(1u << (bit % 8));
  }
  for (size_t bit = 0; bit < 256; bit++) {
    m[bit / 8] ^= (uint8_t)(1u << (bit % 8));
    assert_int_equal(ockami_xeddsa_verify(u, m, sizeof m, sig), OCKAM_EAUTH);
    m[bit / 8] ^= (uint8_t)(1u << (bit % 8));
  }
  /* Bit 255 of u is ignored by the map (RFC 7748); every other key bit matters. */
  for (size_t bit = 0; bit < 255; bit++) {
    u[bit / 8] ^= (uint8_t)(1u << (bit % 8));
    assert_int_equal(ockami_xeddsa_verify(u, m, sizeof m, sig), OCKAM_EAUTH);
    u[bit / 8] ^= (uint8_t)(1u << (bit % 8));
  }
}

static void test_degenerate_keys(void **state) {
  (void)state;
  uint8_t u[32], A[32], m[32] = {0}, sig[64] = {0};
  /* u = -1 = p - 1 has no Edwards image. */
  memset(u, 0xff, 32);
  u[0] = 0xec;
  u[31] = 0x7f;
  assert_int_equal(ockami_x25519_to_ed25519(u, A), OCKAM_EAUTH);
  assert_int_equal(ockami_xeddsa_verify(u, m, sizeof m, sig), OCKAM_EAUTH);
  /* u = 0 maps to y = -1, a low-order point: libsodium refuses the key. */
  memset(u, 0, 32);
  assert_int_equal(ockami_xeddsa_verify(u, m, sizeof m, sig), OCKAM_EAUTH);
}

static void fixed_nonce(void *user, uint8_t z[64]) {
  memset(z, *(const uint8_t *)user, 64);
}

/* Through the vault: random nonces verify, the test hook reproduces a vector,
 * and non-X25519 secrets are refused. */
static void test_vault_ops(void **state) {
  (void)state;
  ockam_vault *v;
  assert_int_equal(ockam_vault_create("software", &v), OCKAM_OK);
  ockam_secret k;
  uint8_t pub[32], m[32] = {1, 2, 3}, s1[64], s2[64];
  assert_int_equal(ockam_vault_x25519_generate(v, &k, pub), OCKAM_OK);
  assert_int_equal(ockam_vault_xeddsa_sign(v, k, m, sizeof m, s1), OCKAM_OK);
  assert_int_equal(ockam_vault_xeddsa_sign(v, k, m, sizeof m, s2), OCKAM_OK);
  assert_memory_not_equal(s1, s2, 64); /* fresh Z each time */
  assert_int_equal(ockam_vault_xeddsa_verify(pub, m, sizeof m, s1), OCKAM_OK);
  assert_int_equal(ockam_vault_xeddsa_verify(pub, m, sizeof m, s2), OCKAM_OK);
  s1[0] ^= 1;
  assert_int_equal(ockam_vault_xeddsa_verify(pub, m, sizeof m, s1), OCKAM_EAUTH);
  ockam_vault_secret_destroy(v, k);

  /* Bob's root self-signature (vectors §2), through the vault with Z = 11*64. */
  char *md = vec_load(VECTORS);
  uint8_t sk[32], data[64], h[32], want[64], got[64];
  assert_int_equal(vec_field(md, "Bob root sk", sk, sizeof sk, NULL), 32);
  size_t dlen = vec_block(md, "Bob CreateKeyChangeData", data, sizeof data);
  assert_int_equal(vec_block(md, "Bob self_signature (Z=11*64)", want, sizeof want), 64);
  assert_int_equal(ockam_vault_secret_import(v, OCKAM_SECRET_X25519, sk, 32, &k), OCKAM_OK);
  assert_int_equal(ockam_vault_sha256(v, data, dlen, h), OCKAM_OK);
  uint8_t zbyte = 0x11;
  ockami_vault_test_set_nonce_hook(v, fixed_nonce, &zbyte);
  assert_int_equal(ockam_vault_xeddsa_sign(v, k, h, sizeof h, got), OCKAM_OK);
  ockami_vault_test_set_nonce_hook(v, NULL, NULL);
  assert_memory_equal(got, want, 64);
  free(md);

  ockam_secret e;
  assert_int_equal(ockam_vault_ed25519_generate(v, &e, pub), OCKAM_OK);
  assert_int_equal(ockam_vault_xeddsa_sign(v, e, m, sizeof m, got), OCKAM_EINVAL);
  assert_int_equal(ockam_vault_xeddsa_sign(v, 12345, m, sizeof m, got), OCKAM_ENOTFOUND);
  ockam_vault_secret_destroy(v, e);
  ockam_vault_secret_destroy(v, k);
  assert_int_equal(ockam_vault_secret_count(v), 0);
  ockam_vault_destroy(v);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_vectors),
      cmocka_unit_test(test_convert_test_input),
      cmocka_unit_test(test_flipped_bits_rejected),
      cmocka_unit_test(test_degenerate_keys),
      cmocka_unit_test(test_vault_ops),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
