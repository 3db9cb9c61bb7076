/* Vault tests: known answers (spec vectors §2.6, RFC 5869), AEAD tamper
 * rejection, DH low-order rejection, key files, and wiping on every destroy path. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "test_hex.h"
#include "test_support.h"

#include "ockam/vault.h"
#include "vault_internal.h"

static ockam_secret import(ockam_vault *v, ockam_secret_type type, const char *hex) {
  uint8_t b[64];
  size_t n = hex_decode(hex, b, sizeof b);
  ockam_secret s = 0;
  assert_int_equal(ockam_vault_secret_import(v, type, b, n, &s), OCKAM_OK);
  assert_int_not_equal(s, 0);
  return s;
}

static void test_create_unknown_backend(void **state) {
  (void)state;
  ockam_vault *v = (ockam_vault *)1;
  assert_int_equal(ockam_vault_create("hsm-that-does-not-exist", &v), OCKAM_ENOTFOUND);
  assert_null(v);
}

/* §2.6 sha256 */
static void test_sha256(void **state) {
  ockam_vault *v = *state;
  uint8_t h[32];
  assert_int_equal(ockam_vault_sha256(v, (const uint8_t *)"a", 1, h), OCKAM_OK);
  assert_hex(h, 32, "ca978112ca1bbdcafac231b39a23dc4da786eff8147c4e72b9807785afee48bb");
  uint8_t h2[32];
  assert_int_equal(ockam_vault_sha256_concat(v, NULL, 0, (const uint8_t *)"a", 1, h2), OCKAM_OK);
  assert_memory_equal(h, h2, 32);
  /* MixHash-style aliasing: out == a. */
  uint8_t ab[2] = {'a', 'b'};
  uint8_t want[32];
  assert_int_equal(ockam_vault_sha256(v, ab, 2, want), OCKAM_OK);
  memcpy(h2, "a", 1);
  assert_int_equal(ockam_vault_sha256_concat(v, h2, 1, ab + 1, 1, h2), OCKAM_OK);
  assert_memory_equal(h2, want, 32);
}

/* §2.6 hkdf: salt "hkdf_test", ikm "a", empty info, first 24 bytes of one output. */
static void test_hkdf_vector(void **state) {
  ockam_vault *v = *state;
  ockam_secret salt, ikm, out;
  assert_int_equal(
      ockam_vault_secret_import(v, OCKAM_SECRET_BUFFER, (const uint8_t *)"hkdf_test", 9, &salt),
      OCKAM_OK);
  assert_int_equal(ockam_vault_secret_import(v, OCKAM_SECRET_BUFFER, (const uint8_t *)"a", 1, &ikm),
                   OCKAM_OK);
  ockam_secret_type t = OCKAM_SECRET_BUFFER;
  assert_int_equal(ockam_vault_hkdf_sha256(v, salt, ikm, NULL, 0, 1, &t, &out), OCKAM_OK);
  uint8_t b[64];
  size_t n;
  assert_int_equal(ockam_vault_secret_export(v, out, b, sizeof b, &n), OCKAM_OK);
  assert_int_equal(n, 32);
  assert_hex(b, 24, "921ab9f260544b71941dbac2ca2d42c417aa07b53e055a8f");
  ockam_vault_secret_destroy(v, salt);
  ockam_vault_secret_destroy(v, ikm);
  ockam_vault_secret_destroy(v, out);
}

/* RFC 5869 test cases 1 (salt, info, two blocks) and 3 (empty salt and info). */
static void test_hkdf_rfc5869(void **state) {
  ockam_vault *v = *state;
  ockam_secret ikm = import(v, OCKAM_SECRET_BUFFER, "0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b");
  ockam_secret salt = import(v, OCKAM_SECRET_BUFFER, "000102030405060708090a0b0c");
  uint8_t info[10];
  hex_decode("f0f1f2f3f4f5f6f7f8f9", info, sizeof info);
  ockam_secret_type t[3] = {OCKAM_SECRET_BUFFER, OCKAM_SECRET_BUFFER, OCKAM_SECRET_AES256};
  ockam_secret out[3];
  assert_int_equal(ockam_vault_hkdf_sha256(v, salt, ikm, info, sizeof info, 3, t, out), OCKAM_OK);
  uint8_t b[64];
  size_t n;
  assert_int_equal(ockam_vault_secret_export(v, out[0], b, sizeof b, &n), OCKAM_OK);
  assert_hex(b, n, "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf");
  assert_int_equal(ockam_vault_secret_export(v, out[1], b, sizeof b, &n), OCKAM_OK);
  assert_hex(b, 10, "34007208d5b887185865");
  ockam_secret_type ty;
  assert_int_equal(ockam_vault_secret_info(v, out[2], &ty, &n), OCKAM_OK);
  assert_int_equal(ty, OCKAM_SECRET_AES256);
  assert_int_equal(n, 32);
  for (int i = 0; i < 3; i++) ockam_vault_secret_destroy(v, out[i]);

  ockam_secret empty = import(v, OCKAM_SECRET_BUFFER, "");
  assert_int_equal(ockam_vault_hkdf_sha256(v, empty, ikm, NULL, 0, 2, t, out), OCKAM_OK);
  assert_int_equal(ockam_vault_secret_export(v, out[0], b, sizeof b, &n), OCKAM_OK);
  assert_hex(b, n, "8da4e775a563c18f715f802a063c5a31b8a11f5c5ee1879ec3454e5f3c738d2d");
  assert_int_equal(ockam_vault_secret_export(v, out[1], b, sizeof b, &n), OCKAM_OK);
  assert_hex(b, 10, "9d201395faa4b61a96c8");
  for (int i = 0; i < 2; i++) ockam_vault_secret_destroy(v, out[i]);

  /* n outside 1..3, output types other than BUFFER/AES256, non-BUFFER salt. */
  assert_int_equal(ockam_vault_hkdf_sha256(v, salt, ikm, NULL, 0, 0, t, out), OCKAM_EINVAL);
  assert_int_equal(ockam_vault_hkdf_sha256(v, salt, ikm, NULL, 0, 4, t, out), OCKAM_EINVAL);
  ockam_secret_type bad = OCKAM_SECRET_X25519;
  assert_int_equal(ockam_vault_hkdf_sha256(v, salt, ikm, NULL, 0, 1, &bad, out), OCKAM_EINVAL);
  ockam_secret aes = import(v, OCKAM_SECRET_AES256,
                            "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f");
  assert_int_equal(ockam_vault_hkdf_sha256(v, aes, ikm, NULL, 0, 1, t, out), OCKAM_EINVAL);
  assert_int_equal(ockam_vault_hkdf_sha256(v, salt, 0xdead, NULL, 0, 1, t, out), OCKAM_ENOTFOUND);
  ockam_vault_secret_destroy(v, aes);
  ockam_vault_secret_destroy(v, empty);
  ockam_vault_secret_destroy(v, salt);
  ockam_vault_secret_destroy(v, ikm);
}

/* §2.6 key ids: hex(SHA-256(public key)); X25519 import gives the expected public key. */
static void test_key_id_and_x25519_import(void **state) {
  ockam_vault *v = *state;
  uint8_t pub[32], id[32];
  hex_decode("68858ea1ea4e1ade755df7fb6904056b291d9781eb5489932f46e32f12dd192a", pub, 32);
  assert_int_equal(ockam_vault_sha256(v, pub, 32, id), OCKAM_OK);
  assert_hex(id, 32, "732af49a0b47c820c0a4cac428d6cb80c1fa70622f4a51708163dd87931bc942");

  ockam_secret sk = import(v, OCKAM_SECRET_X25519,
                           "489573cf4ae9166886498d3dd0de0061b401c1bf39d08b7e4bf0a490bb1c9167");
  assert_int_equal(ockam_vault_x25519_public(v, sk, pub), OCKAM_OK);
  assert_hex(pub, 32, "390a330f88b273ea999508241cf6c62925f9549943478fa27e40c83eef987941");
  assert_int_equal(ockam_vault_sha256(v, pub, 32, id), OCKAM_OK);
  assert_hex(id, 32, "f0e6821043434a9353e6c213a098f6d75ac916b23b3632c7c4c9c6d2e1fa1cf8");

  /* Stored clamped (RFC 7748). */
  uint8_t b[64];
  size_t n;
  assert_int_equal(ockam_vault_secret_export(v, sk, b, sizeof b, &n), OCKAM_OK);
  assert_int_equal(n, 32);
  assert_int_equal(b[0] & 7, 0);
  assert_int_equal(b[31] & 0xc0, 0x40);
  ockam_vault_secret_destroy(v, sk);

  /* Wrong lengths per type. */
  ockam_secret s;
  assert_int_equal(ockam_vault_secret_import(v, OCKAM_SECRET_X25519, b, 31, &s), OCKAM_EINVAL);
  assert_int_equal(ockam_vault_secret_import(v, OCKAM_SECRET_AES256, b, 16, &s), OCKAM_EINVAL);
  uint8_t big[65] = {0};
  assert_int_equal(ockam_vault_secret_import(v, OCKAM_SECRET_BUFFER, big, 65, &s), OCKAM_EINVAL);
  assert_int_equal(ockam_vault_secret_export(v, 0, b, sizeof b, &n), OCKAM_ENOTFOUND);
}

static void test_x25519_dh_agrees(void **state) {
  ockam_vault *v = *state;
  ockam_secret a, b, ab, ba;
  uint8_t pa[32], pb[32], x[32], y[32];
  size_t n;
  assert_int_equal(ockam_vault_x25519_generate(v, &a, pa), OCKAM_OK);
  assert_int_equal(ockam_vault_x25519_generate(v, &b, pb), OCKAM_OK);
  assert_int_equal(ockam_vault_x25519_dh(v, a, pb, &ab), OCKAM_OK);
  assert_int_equal(ockam_vault_x25519_dh(v, b, pa, &ba), OCKAM_OK);
  assert_int_equal(ockam_vault_secret_export(v, ab, x, sizeof x, &n), OCKAM_OK);
  assert_int_equal(ockam_vault_secret_export(v, ba, y, sizeof y, &n), OCKAM_OK);
  assert_memory_equal(x, y, 32);
  ockam_secret_type t;
  assert_int_equal(ockam_vault_secret_info(v, ab, &t, &n), OCKAM_OK);
  assert_int_equal(t, OCKAM_SECRET_BUFFER);
  /* DH with a non-X25519 secret. */
  ockam_secret out;
  assert_int_equal(ockam_vault_x25519_dh(v, ab, pa, &out), OCKAM_EINVAL);
  ockam_vault_secret_destroy(v, a);
  ockam_vault_secret_destroy(v, b);
  ockam_vault_secret_destroy(v, ab);
  ockam_vault_secret_destroy(v, ba);
}

/* Peer keys of small order give an all-zero shared secret: refused. */
static void test_x25519_low_order_rejected(void **state) {
  ockam_vault *v = *state;
  static const char *const low_order[] = {
      "0000000000000000000000000000000000000000000000000000000000000000",
      "0100000000000000000000000000000000000000000000000000000000000000",
      "e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800",
      "5f9c95bca3508c24b1d0b1559c83ef5b04445cc4581c8e86d8224eddd09f1157",
      "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
  };
  ockam_secret sk;
  uint8_t pub[32];
  assert_int_equal(ockam_vault_x25519_generate(v, &sk, pub), OCKAM_OK);
  size_t before = ockam_vault_secret_count(v);
  for (size_t i = 0; i < sizeof low_order / sizeof low_order[0]; i++) {
    uint8_t peer[32];
    hex_decode(low_order[i], peer, 32);
    ockam_secret out = 1234;
    assert_int_equal(ockam_vault_x25519_dh(v, sk, peer, &out), OCKAM_ECRYPTO);
    assert_int_equal(out, 0);
    assert_int_equal(ockam_vault_secret_count(v), before);
  }
  ockam_vault_secret_destroy(v, sk);
}

static void test_aead_round_trip_and_tamper(void **state) {
  ockam_vault *v = *state;
  ockam_secret k = import(v, OCKAM_SECRET_AES256,
                          "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f");
  const uint8_t nonce[12] = "TestingNonce";
  const uint8_t aad[] = "Extra payload data";
  const uint8_t pt[] = "the quick brown fox jumps over the lazy dog";
  uint8_t ct[sizeof pt + 16], out[sizeof pt];
  size_t ct_len, out_len;

  assert_int_equal(ockam_vault_aead_encrypt(v, k, nonce, aad, sizeof aad, pt, sizeof pt, ct,
                                            sizeof ct - 1, &ct_len),
                   OCKAM_EOVERFLOW);
  assert_int_equal(
      ockam_vault_aead_encrypt(v, k, nonce, aad, sizeof aad, pt, sizeof pt, ct, sizeof ct, &ct_len),
      OCKAM_OK);
  assert_int_equal(ct_len, sizeof pt + 16);
  assert_int_equal(
      ockam_vault_aead_decrypt(v, k, nonce, aad, sizeof aad, ct, ct_len, out, sizeof out, &out_len),
      OCKAM_OK);
  assert_int_equal(out_len, sizeof pt);
  assert_memory_equal(out, pt, sizeof pt);

  /* Flip one bit in the tag, in the ciphertext, in the AAD, in the nonce. */
  static const uint8_t zero[sizeof pt];
  for (int which = 0; which < 4; which++) {
    uint8_t c2[sizeof ct], a2[sizeof aad], n2[12];
    memcpy(c2, ct, sizeof ct);
    memcpy(a2, aad, sizeof aad);
    memcpy(n2, nonce, 12);
    if (which == 0) c2[ct_len - 1] ^= 0x01;
    if (which == 1) c2[3] ^= 0x80;
    if (which == 2) a2[0] ^= 0x01;
    if (which == 3) n2[11] ^= 0x01;
    memset(out, 0x55, sizeof out);
    out_len = 99;
    assert_int_equal(
        ockam_vault_aead_decrypt(v, k, n2, a2, sizeof a2, c2, ct_len, out, sizeof out, &out_len),
        OCKAM_ECRYPTO);
    assert_int_equal(out_len, 0);
    assert_memory_equal(out, zero, sizeof out); /* nothing released */
  }
  /* Missing AAD, truncated below a tag. */
  assert_int_equal(
      ockam_vault_aead_decrypt(v, k, nonce, NULL, 0, ct, ct_len, out, sizeof out, &out_len),
      OCKAM_ECRYPTO);
  assert_int_equal(
      ockam_vault_aead_decrypt(v, k, nonce, aad, sizeof aad, ct, 15, out, sizeof out, &out_len),
      OCKAM_ECRYPTO);

  /* In place, empty plaintext, and a non-AES secret. */
  uint8_t buf[sizeof pt + 16];
  memcpy(buf, pt, sizeof pt);
  assert_int_equal(
      ockam_vault_aead_encrypt(v, k, nonce, NULL, 0, buf, sizeof pt, buf, sizeof buf, &ct_len),
      OCKAM_OK);
  assert_int_equal(
      ockam_vault_aead_decrypt(v, k, nonce, NULL, 0, buf, ct_len, buf, sizeof buf, &out_len),
      OCKAM_OK);
  assert_memory_equal(buf, pt, sizeof pt);
  uint8_t tag[16];
  assert_int_equal(
      ockam_vault_aead_encrypt(v, k, nonce, aad, sizeof aad, NULL, 0, tag, sizeof tag, &ct_len),
      OCKAM_OK);
  assert_int_equal(ct_len, 16);
  assert_int_equal(
      ockam_vault_aead_decrypt(v, k, nonce, aad, sizeof aad, tag, 16, NULL, 0, &out_len), OCKAM_OK);
  assert_int_equal(out_len, 0);
  ockam_secret buffer = import(v, OCKAM_SECRET_BUFFER, "00112233");
  assert_int_equal(
      ockam_vault_aead_encrypt(v, buffer, nonce, NULL, 0, pt, sizeof pt, ct, sizeof ct, &ct_len),
      OCKAM_EINVAL);
  ockam_vault_secret_destroy(v, buffer);
  ockam_vault_secret_destroy(v, k);
  assert_int_equal(
      ockam_vault_aead_encrypt(v, k, nonce, NULL, 0, pt, sizeof pt, ct, sizeof ct, &ct_len),
      OCKAM_ENOTFOUND);
}

/* AES-256-GCM known answer (McGrew & Viega test case 16, AES-256, 60-byte plaintext, AAD). */
static void test_aead_known_answer(void **state) {
  ockam_vault *v = *state;
  ockam_secret k = import(v, OCKAM_SECRET_AES256,
                          "feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308");
  uint8_t nonce[12], aad[20], pt[60], ct[76];
  size_t n;
  hex_decode("cafebabefacedbaddecaf888", nonce, sizeof nonce);
  hex_decode("feedfacedeadbeeffeedfacedeadbeefabaddad2", aad, sizeof aad);
  hex_decode(
      "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a721c3c0c95956809532fcf0e2449a6"
      "b525"
      "b16aedf5aa0de657ba637b39",
      pt, sizeof pt);
  assert_int_equal(
      ockam_vault_aead_encrypt(v, k, nonce, aad, sizeof aad, pt, sizeof pt, ct, sizeof ct, &n),
      OCKAM_OK);
  assert_hex(ct, n,
             "522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa8cb08e48590dbb3da7b08"
             "b1056828838"
             "c5f61e6393ba7a0abcc9f662"
             "76fc6ece0f4e1768cddf8853bb2d551b");
  ockam_vault_secret_destroy(v, k);
}

static void test_ed25519(void **state) {
  ockam_vault *v = *state;
  ockam_secret k;
  uint8_t pub[32], sig[64];
  const uint8_t msg[] = "auth hash";
  assert_int_equal(ockam_vault_ed25519_generate(v, &k, pub), OCKAM_OK);
  assert_int_equal(ockam_vault_ed25519_sign(v, k, msg, sizeof msg, sig), OCKAM_OK);
  assert_int_equal(ockam_vault_ed25519_verify(pub, msg, sizeof msg, sig), OCKAM_OK);
  sig[5] ^= 1;
  assert_int_equal(ockam_vault_ed25519_verify(pub, msg, sizeof msg, sig), OCKAM_ECRYPTO);

  /* Re-import from the exported 64-byte form and from the 32-byte seed. */
  uint8_t b[64];
  size_t n;
  assert_int_equal(ockam_vault_secret_export(v, k, b, sizeof b, &n), OCKAM_OK);
  assert_int_equal(n, 64);
  ockam_secret k2, k3;
  assert_int_equal(ockam_vault_secret_import(v, OCKAM_SECRET_ED25519, b, 64, &k2), OCKAM_OK);
  assert_int_equal(ockam_vault_secret_import(v, OCKAM_SECRET_ED25519, b, 32, &k3), OCKAM_OK);
  assert_int_equal(ockam_vault_ed25519_sign(v, k3, msg, sizeof msg, sig), OCKAM_OK);
  assert_int_equal(ockam_vault_ed25519_verify(pub, msg, sizeof msg, sig), OCKAM_OK);
  b[40] ^= 1; /* embedded public key no longer matches the seed */
  ockam_secret k4;
  assert_int_equal(ockam_vault_secret_import(v, OCKAM_SECRET_ED25519, b, 64, &k4), OCKAM_EINVAL);
  ockam_vault_secret_destroy(v, k);
  ockam_vault_secret_destroy(v, k2);
  ockam_vault_secret_destroy(v, k3);
}

static void temp_path(char *path, size_t cap, const char *name) {
  const char *dir = getenv("TMPDIR");
  snprintf(path, cap, "%s/ockam_vault_test_%ld_%s", dir ? dir : "/tmp", (long)getpid(), name);
  unlink(path);
}

static void test_key_file(void **state) {
  ockam_vault *v = *state;
  char path[512];
  temp_path(path, sizeof path, "x25519.key");
  ockam_secret sk;
  uint8_t pub[32], pub2[32];
  assert_int_equal(ockam_vault_x25519_generate(v, &sk, pub), OCKAM_OK);

  mode_t old = umask(0); /* the mode must not depend on the umask */
  int rc = ockam_vault_secret_save(v, sk, path);
  umask(old);
  assert_int_equal(rc, OCKAM_OK);
  struct stat st;
  assert_int_equal(stat(path, &st), 0);
  assert_int_equal(st.st_mode & 07777, 0600);
  assert_int_equal(st.st_size, 32);
  assert_int_equal(ockam_vault_secret_save(v, sk, path), OCKAM_EEXIST);

  ockam_secret sk2;
  assert_int_equal(ockam_vault_secret_load(v, OCKAM_SECRET_X25519, path, &sk2), OCKAM_OK);
  assert_int_equal(ockam_vault_x25519_public(v, sk2, pub2), OCKAM_OK);
  assert_memory_equal(pub, pub2, 32);
  /* The file holds raw bytes: any type of that length loads (32 bytes = Ed25519 seed). */
  ockam_secret wrong;
  assert_int_equal(ockam_vault_secret_load(v, OCKAM_SECRET_ED25519, path, &wrong), OCKAM_OK);
  ockam_vault_secret_destroy(v, wrong);
  unlink(path);

  /* Oversized, wrong length for the type, missing. */
  FILE *f = fopen(path, "wb");
  assert_non_null(f);
  for (int i = 0; i < 65; i++) fputc(i, f);
  fclose(f);
  assert_int_equal(ockam_vault_secret_load(v, OCKAM_SECRET_BUFFER, path, &wrong), OCKAM_EMALFORMED);
  unlink(path);
  f = fopen(path, "wb");
  assert_non_null(f);
  fputs("short", f);
  fclose(f);
  assert_int_equal(ockam_vault_secret_load(v, OCKAM_SECRET_AES256, path, &wrong), OCKAM_EMALFORMED);
  unlink(path);
  assert_int_equal(ockam_vault_secret_load(v, OCKAM_SECRET_AES256, path, &wrong), OCKAM_ENOTFOUND);

  ockam_vault_secret_destroy(v, sk);
  ockam_vault_secret_destroy(v, sk2);
}

/* Destroying a secret wipes its slot, also the AES key whose cipher contexts exist. */
static void test_secret_destroy_wipes(void **state) {
  ockam_vault *v = *state;
  static const uint8_t zero[OCKAMI_VAULT_SECRET_MAX];
  char hexes[2][129];
  memset(hexes[0], 'a', 128); /* 64-byte BUFFER, the largest slot content */
  hexes[0][128] = 0;
  memset(hexes[1], '5', 64); /* AES-256 key */
  hexes[1][64] = 0;
  ockam_secret_type types[] = {OCKAM_SECRET_BUFFER, OCKAM_SECRET_AES256};
  for (int i = 0; i < 2; i++) {
    ockam_secret s = import(v, types[i], hexes[i]);
    if (types[i] == OCKAM_SECRET_AES256) {
      uint8_t nonce[12] = {0}, ct[16], pt[1];
      size_t n;
      assert_int_equal(ockam_vault_aead_encrypt(v, s, nonce, NULL, 0, NULL, 0, ct, 16, &n),
                       OCKAM_OK);
      assert_int_equal(ockam_vault_aead_decrypt(v, s, nonce, NULL, 0, ct, 16, pt, 0, &n), OCKAM_OK);
    }
    size_t cap = 0;
    const uint8_t *storage = ockami_vault_test_secret_storage(v, s, &cap);
    assert_non_null(storage);
    assert_int_equal(cap, OCKAMI_VAULT_SECRET_MAX);
    assert_memory_not_equal(storage, zero, 32);
    ockam_vault_secret_destroy(v, s);
    assert_memory_equal(storage, zero, cap);
    /* The handle is dead, even once its slot is reused. */
    assert_null(ockami_vault_test_secret_storage(v, s, &cap));
    ockam_secret again = import(v, OCKAM_SECRET_BUFFER, "01");
    assert_int_not_equal(again, s);
    size_t n;
    uint8_t b[64];
    assert_int_equal(ockam_vault_secret_export(v, s, b, sizeof b, &n), OCKAM_ENOTFOUND);
    ockam_vault_secret_destroy(v, s); /* stale handle: ignored */
    assert_int_equal(ockam_vault_secret_count(v), 1);
    ockam_vault_secret_destroy(v, again);
  }
}

typedef struct release_seen {
  size_t slots;
  size_t dirty;
} release_seen;

static void release_hook(void *user, const uint8_t *storage, size_t len) {
  release_seen *seen = user;
  seen->slots++;
  for (size_t i = 0; i < len; i++) {
    if (storage[i]) {
      seen->dirty++;
      break;
    }
  }
}

/* Destroying the vault wipes the secrets still alive in it. */
static void test_vault_destroy_wipes(void **state) {
  (void)state;
  ockam_vault *v;
  assert_int_equal(ockam_vault_create("software", &v), OCKAM_OK);
  /* More than one chunk of slots. */
  for (int i = 0; i < 300; i++) {
    ockam_secret s;
    uint8_t pub[32];
    assert_int_equal(ockam_vault_x25519_generate(v, &s, pub), OCKAM_OK);
  }
  assert_int_equal(ockam_vault_secret_count(v), 300);
  release_seen seen = {0, 0};
  ockami_vault_test_set_release_hook(v, release_hook, &seen);
  ockam_vault_destroy(v);
  assert_true(seen.slots >= 300);
  assert_int_equal(seen.dirty, 0);
}

static void test_many_secrets(void **state) {
  ockam_vault *v = *state;
  enum { N = 1000 };
  ockam_secret s[N];
  for (int i = 0; i < N; i++) {
    uint8_t b[4] = {(uint8_t)i, (uint8_t)(i >> 8), 1, 2};
    assert_int_equal(ockam_vault_secret_import(v, OCKAM_SECRET_BUFFER, b, 4, &s[i]), OCKAM_OK);
  }
  assert_int_equal(ockam_vault_secret_count(v), N);
  for (int i = 0; i < N; i++) {
    uint8_t b[64];
    size_t n;
    assert_int_equal(ockam_vault_secret_export(v, s[i], b, sizeof b, &n), OCKAM_OK);
    assert_int_equal(b[0], (uint8_t)i);
    assert_int_equal(b[1], (uint8_t)(i >> 8));
  }
  for (int i = 0; i < N; i += 2) ockam_vault_secret_destroy(v, s[i]);
  for (int i = 1; i < N; i += 2) ockam_vault_secret_destroy(v, s[i]);
  assert_int_equal(ockam_vault_secret_count(v), 0);
}

/* Persistent vault: directory 0700, key files 0600 holding type ‖ bytes, a
 * restart finds the same key, and damaged, truncated, symlinked or wrongly
 * typed files are refused with OCKAM_ECORRUPT. */
static void write_bytes(const char *path, const void *p, size_t n) {
  FILE *f = fopen(path, "wb");
  assert_non_null(f);
  assert_int_equal(fwrite(p, 1, n, f), n);
  fclose(f);
}

static void test_persistent_vault(void **state) {
  (void)state;
  char base[512], dir[600], file[700], link[700];
  temp_path(base, sizeof base, "pdir");
  assert_int_equal(mkdir(base, 0755), 0);
  snprintf(dir, sizeof dir, "%s/vault", base);

  mode_t old = umask(0);
  ockam_vault *v;
  int rc = ockam_vault_create_persistent(dir, &v);
  umask(old);
  assert_int_equal(rc, OCKAM_OK);
  assert_string_equal(ockam_vault_dir(v), dir);
  struct stat st;
  assert_int_equal(stat(dir, &st), 0);
  assert_int_equal(st.st_mode & 07777, 0700);

  ockam_secret k, k2;
  uint8_t pub[32], pub2[32];
  assert_int_equal(ockam_vault_x25519_generate(v, &k, pub), OCKAM_OK);
  old = umask(0);
  rc = ockam_vault_secret_persist(v, k, "root");
  umask(old);
  assert_int_equal(rc, OCKAM_OK);
  assert_int_equal(ockam_vault_secret_persist(v, k, "../escape"), OCKAM_EINVAL);
  assert_int_equal(ockam_vault_secret_persist(v, k, ".hidden"), OCKAM_EINVAL);
  assert_int_equal(ockam_vault_secret_persist(v, 999, "x"), OCKAM_ENOTFOUND);
  snprintf(file, sizeof file, "%s/root", dir);
  assert_int_equal(stat(file, &st), 0);
  assert_int_equal(st.st_mode & 07777, 0600);
  assert_int_equal(st.st_size, 33);
  ockam_vault_destroy(v);

  /* Restart: same key; a group-readable directory is tightened again. */
  assert_int_equal(chmod(dir, 0755), 0);
  assert_int_equal(ockam_vault_create_persistent(dir, &v), OCKAM_OK);
  assert_int_equal(stat(dir, &st), 0);
  assert_int_equal(st.st_mode & 07777, 0700);
  assert_int_equal(ockam_vault_secret_open(v, "root", OCKAM_SECRET_X25519, &k2), OCKAM_OK);
  assert_int_equal(ockam_vault_x25519_public(v, k2, pub2), OCKAM_OK);
  assert_memory_equal(pub, pub2, 32);
  ockam_vault_secret_destroy(v, k2);
  assert_int_equal(ockam_vault_secret_open(v, "root", OCKAM_SECRET_AES256, &k2), OCKAM_ECORRUPT);
  assert_int_equal(ockam_vault_secret_open(v, "nope", OCKAM_SECRET_X25519, &k2), OCKAM_ENOTFOUND);

  /* Truncated, empty, oversized. */
  uint8_t bytes[80] = {OCKAM_SECRET_X25519, 1, 2, 3};
  write_bytes(file, bytes, 17);
  assert_int_equal(ockam_vault_secret_open(v, "root", OCKAM_SECRET_X25519, &k2), OCKAM_ECORRUPT);
  write_bytes(file, bytes, 0);
  assert_int_equal(ockam_vault_secret_open(v, "root", OCKAM_SECRET_X25519, &k2), OCKAM_ECORRUPT);
  write_bytes(file, bytes, sizeof bytes);
  assert_int_equal(ockam_vault_secret_open(v, "root", OCKAM_SECRET_X25519, &k2), OCKAM_ECORRUPT);
  assert_int_equal(k2, 0);

  /* A symlink in place of a key file is not followed. */
  snprintf(link, sizeof link, "%s/linked", dir);
  assert_int_equal(symlink(file, link), 0);
  assert_int_equal(ockam_vault_secret_open(v, "linked", OCKAM_SECRET_X25519, &k2), OCKAM_ECORRUPT);

  assert_int_equal(ockam_vault_secret_unpersist(v, "root"), OCKAM_OK);
  assert_int_equal(ockam_vault_secret_unpersist(v, "root"), OCKAM_OK);
  assert_int_equal(ockam_vault_secret_open(v, "root", OCKAM_SECRET_X25519, &k2), OCKAM_ENOTFOUND);
  ockam_vault_secret_destroy(v, k);
  ockam_vault_destroy(v);
  unlink(link);

  /* A symlinked vault directory is refused; in-memory vaults do not persist. */
  assert_int_equal(rmdir(dir), 0);
  assert_int_equal(symlink(base, dir), 0);
  assert_int_equal(ockam_vault_create_persistent(dir, &v), OCKAM_EIO);
  assert_null(v);
  unlink(dir);
  assert_int_equal(rmdir(base), 0);
  assert_int_equal(ockam_vault_create("software", &v), OCKAM_OK);
  assert_null(ockam_vault_dir(v));
  assert_int_equal(ockam_vault_x25519_generate(v, &k, pub), OCKAM_OK);
  assert_int_equal(ockam_vault_secret_persist(v, k, "root"), OCKAM_ENOTSUP);
  assert_int_equal(ockam_vault_secret_open(v, "root", OCKAM_SECRET_X25519, &k2), OCKAM_ENOTSUP);
  ockam_vault_secret_destroy(v, k);
  ockam_vault_destroy(v);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_create_unknown_backend),
      cmocka_unit_test_setup_teardown(test_sha256, ts_vault_setup, ts_vault_teardown),
      cmocka_unit_test_setup_teardown(test_hkdf_vector, ts_vault_setup, ts_vault_teardown),
      cmocka_unit_test_setup_teardown(test_hkdf_rfc5869, ts_vault_setup, ts_vault_teardown),
      cmocka_unit_test_setup_teardown(test_key_id_and_x25519_import, ts_vault_setup,
                                      ts_vault_teardown),
      cmocka_unit_test_setup_teardown(test_x25519_dh_agrees, ts_vault_setup, ts_vault_teardown),
      cmocka_unit_test_setup_teardown(test_x25519_low_order_rejected, ts_vault_setup,
                                      ts_vault_teardown),
      cmocka_unit_test_setup_teardown(test_aead_round_trip_and_tamper, ts_vault_setup,
                                      ts_vault_teardown),
      cmocka_unit_test_setup_teardown(test_aead_known_answer, ts_vault_setup, ts_vault_teardown),
      cmocka_unit_test_setup_teardown(test_ed25519, ts_vault_setup, ts_vault_teardown),
      cmocka_unit_test_setup_teardown(test_key_file, ts_vault_setup, ts_vault_teardown),
      cmocka_unit_test(test_persistent_vault),
      cmocka_unit_test_setup_teardown(test_secret_destroy_wipes, ts_vault_setup, ts_vault_teardown),
      cmocka_unit_test(test_vault_destroy_wipes),
      cmocka_unit_test_setup_teardown(test_many_secrets, ts_vault_setup, ts_vault_teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
