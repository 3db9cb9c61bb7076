/* Noise XX tests: Ockam handshake vectors (vectors §2.5, §3.1, §3.2), the
 * cacophony Noise_XX_25519_AESGCM_SHA256 vector, malformed input, state misuse
 * and secret accounting. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "test_hex.h"
#include "test_support.h"

#include "bytes.h"
#include "ockam/vault.h"
#include "xx.h"

static void assert_secret_hex(ockam_vault *v, ockam_secret s, const char *hex) {
  uint8_t b[64];
  size_t n = 0;
  assert_int_equal(ockam_vault_secret_export(v, s, b, sizeof b, &n), OCKAM_OK);
  assert_hex(b, n, hex);
}

static ockam_secret import_x25519(ockam_vault *v, const char *hex) {
  uint8_t b[32];
  assert_int_equal(hex_decode(hex, b, sizeof b), 32);
  ockam_secret s = 0;
  assert_int_equal(ockam_vault_secret_import(v, OCKAM_SECRET_X25519, b, 32, &s), OCKAM_OK);
  return s;
}

/* --- Ockam vectors (vectors §2.5, §3.1, §3.2) -------------------------------- */

/* Read from tests/vectors/ockam-2021-vectors.md (§2.5, §3.1) by the group
 * setup, as hex strings, so the tests below compare against the file. */
enum {
  V_INIT_STATIC,
  V_INIT_EPH,
  V_RESP_STATIC,
  V_RESP_EPH,
  V_INIT_STATIC_PUB,
  V_RESP_STATIC_PUB,
  V_RESP_EPH_PUB,
  V_K1,
  V_K2,
  V_H1_M1,
  V_H1_M2,
  V_H1_M3,
  V_H1_FINAL,
  V_H2_M1,
  V_H2_M2,
  V_H2_M3,
  V_H2_FINAL,
  V_COUNT
};
static const struct {
  const char *section; /* the field is the first after this text */
  const char *key;
} md_fields[V_COUNT] = {
    [V_INIT_STATIC] = {"### 2.5 Noise XX", "INIT_STATIC"},
    [V_INIT_EPH] = {"### 2.5 Noise XX", "INIT_EPH"},
    [V_RESP_STATIC] = {"### 2.5 Noise XX", "RESP_STATIC"},
    [V_RESP_EPH] = {"### 2.5 Noise XX", "RESP_EPH"},
    [V_INIT_STATIC_PUB] = {"### 3.1 ", "INIT_STATIC public"},
    [V_RESP_STATIC_PUB] = {"### 3.1 ", "RESP_STATIC public"},
    [V_RESP_EPH_PUB] = {"### 3.1 ", "RESP_EPH    public"},
    [V_K1] = {"### 3.1 ", "split k1 (responder encrypt / initiator decrypt)"},
    [V_K2] = {"### 3.1 ", "split k2 (initiator encrypt / responder decrypt)"},
    [V_H1_M1] = {"handshake_1 / handshake_main", "m1"},
    [V_H1_M2] = {"handshake_1 / handshake_main", "m2"},
    [V_H1_M3] = {"handshake_1 / handshake_main", "m3"},
    [V_H1_FINAL] = {"### 3.1 ", "final h, handshake_1 (empty payloads)"},
    [V_H2_M1] = {"handshake_2 (payloads", "m1"},
    [V_H2_M2] = {"handshake_2 (payloads", "m2"},
    [V_H2_M3] = {"handshake_2 (payloads", "m3"},
    [V_H2_FINAL] = {"### 3.1 ", "final h, handshake_2"},
};
static char md_hex[V_COUNT][2 * 256 + 1];

static int load_md_vectors(void **state) {
  (void)state;
  char *md = ts_vector_file("ockam-2021-vectors.md");
  if (!md) return -1;
  int rc = 0;
  for (int f = 0; f < V_COUNT && !rc; f++) {
    const char *from = strstr(md, md_fields[f].section);
    uint8_t b[256];
    long n = from ? ts_vector_field(from, md_fields[f].key, b, sizeof b) : -1;
    if (n <= 0) {
      fprintf(stderr, "vector '%s' not found\n", md_fields[f].key);
      rc = -1;
      break;
    }
    for (long k = 0; k < n; k++) snprintf(md_hex[f] + 2 * k, 3, "%02x", b[k]);
  }
  free(md);
  return rc;
}

#define INIT_STATIC md_hex[V_INIT_STATIC]
#define INIT_EPH md_hex[V_INIT_EPH]
#define RESP_STATIC md_hex[V_RESP_STATIC]
#define RESP_EPH md_hex[V_RESP_EPH]
#define INIT_STATIC_PUB md_hex[V_INIT_STATIC_PUB]
#define RESP_STATIC_PUB md_hex[V_RESP_STATIC_PUB]
#define RESP_EPH_PUB md_hex[V_RESP_EPH_PUB]
#define K1 md_hex[V_K1]
#define K2 md_hex[V_K2]
#define H1_M1 md_hex[V_H1_M1]
#define H1_M2 md_hex[V_H1_M2]
#define H1_M3 md_hex[V_H1_M3]
#define H1_FINAL md_hex[V_H1_FINAL]
#define H2_M1 md_hex[V_H2_M1]
#define H2_M2 md_hex[V_H2_M2]
#define H2_M3 md_hex[V_H2_M3]
#define H2_FINAL md_hex[V_H2_FINAL]

typedef struct pair {
  ockam_vault *v;
  ockam_secret keys[4]; /* injected: init static, init eph, resp static, resp eph */
  ockami_xx i;
  ockami_xx r;
  ockam_secret ie, id, re, rd; /* after pair_split */
} pair;

static void pair_init(pair *p, ockam_vault *v, const char *prologue_hex) {
  memset(p, 0, sizeof *p);
  p->v = v;
  p->keys[0] = import_x25519(v, INIT_STATIC);
  p->keys[1] = import_x25519(v, INIT_EPH);
  p->keys[2] = import_x25519(v, RESP_STATIC);
  p->keys[3] = import_x25519(v, RESP_EPH);
  uint8_t prologue[64];
  size_t plen = prologue_hex ? hex_decode(prologue_hex, prologue, sizeof prologue) : 0;
  assert_int_equal(ockami_xx_init(&p->i, v, true, prologue, plen, p->keys[0], p->keys[1]),
                   OCKAM_OK);
  assert_int_equal(ockami_xx_init(&p->r, v, false, prologue, plen, p->keys[2], p->keys[3]),
                   OCKAM_OK);
}

/* Both sides split in Ockam's key order (§5.3); their handshake hashes. */
static void pair_split(pair *p, uint8_t hi[32], uint8_t hr[32]) {
  assert_int_equal(ockami_xx_split(&p->i, true, &p->ie, &p->id, hi), OCKAM_OK);
  assert_int_equal(ockami_xx_split(&p->r, true, &p->re, &p->rd, hr), OCKAM_OK);
}

static void destroy_transport_keys(ockam_vault *v, ockam_secret ie, ockam_secret id,
                                   ockam_secret re, ockam_secret rd) {
  ockam_vault_secret_destroy(v, ie);
  ockam_vault_secret_destroy(v, id);
  ockam_vault_secret_destroy(v, re);
  ockam_vault_secret_destroy(v, rd);
}

/* Clears both states and destroys the injected keys and the split ones. */
static void pair_clear(pair *p) {
  ockami_xx_clear(&p->i);
  ockami_xx_clear(&p->r);
  for (int k = 0; k < 4; k++) ockam_vault_secret_destroy(p->v, p->keys[k]);
  destroy_transport_keys(p->v, p->ie, p->id, p->re, p->rd);
}

static void test_ockam_handshake_1(void **state) {
  ockam_vault *v = *state;
  pair p;
  pair_init(&p, v, NULL);
  uint8_t msg[256], pl[64];
  size_t len, plen;

  /* MixHash(empty prologue) */
  assert_hex(p.i.h, 32, "5df72b67b965add1168f0a6c756df21c204f7e64fc682be6a3ab4b682c8db64b");
  assert_true(ockami_xx_wants_write(&p.i));
  assert_false(ockami_xx_wants_write(&p.r));

  assert_int_equal(ockami_xx_write_len(&p.i, 0), 32);
  assert_int_equal(ockami_xx_write(&p.i, NULL, 0, msg, sizeof msg, &len), OCKAM_OK);
  assert_hex(msg, len, H1_M1);
  assert_hex(p.i.h, 32, "5406b69e020ba02aaab23371b94629b11d165740796f9f350a51f90023724ddf");

  assert_int_equal(ockami_xx_read(&p.r, msg, len, pl, sizeof pl, &plen), OCKAM_OK);
  assert_int_equal(plen, 0);
  assert_int_equal(ockami_xx_write_len(&p.r, 0), 96);
  assert_int_equal(ockami_xx_write(&p.r, NULL, 0, msg, sizeof msg, &len), OCKAM_OK);
  assert_hex(msg, len, H1_M2);

  uint8_t rs[32];
  assert_int_equal(ockami_xx_remote_static(&p.i, rs), OCKAM_ESTATE);
  assert_int_equal(ockami_xx_read(&p.i, msg, len, pl, sizeof pl, &plen), OCKAM_OK);
  assert_int_equal(plen, 0);
  /* §3.2: after es and the encrypted payload */
  assert_hex(p.i.h, 32, "46270ab42fb50a4fc6b29f78c5d92d115d05cf0d64261e1db6ad5e3f4897baf9");
  assert_secret_hex(v, p.i.ck, "130025cc0334817f13d5e426337f68b73a857a9f71c23d4c90cab62a85b6c453");
  assert_secret_hex(v, p.i.k, "477bf6e316ee873dbb44e682a0556be220920dcadd274adad439c30f0bc7ec77");
  assert_int_equal(p.i.n, 1);
  assert_int_equal(ockami_xx_remote_static(&p.i, rs), OCKAM_OK);
  assert_hex(rs, 32, RESP_STATIC_PUB);

  assert_int_equal(ockami_xx_write(&p.i, NULL, 0, msg, sizeof msg, &len), OCKAM_OK);
  assert_hex(msg, len, H1_M3);
  assert_hex(p.i.h, 32, H1_FINAL);
  assert_secret_hex(v, p.i.ck, "deede25eee0158a0fde982e8be1c799d395fd5baad408c6bec2ba2e90eb3c718");
  assert_secret_hex(v, p.i.k, "8eb87dfe8a9af3388bfc334fd3263c4fdd7d4df339e56c62bd97b9f60e033a9d");

  assert_int_equal(ockami_xx_read(&p.r, msg, len, pl, sizeof pl, &plen), OCKAM_OK);
  assert_int_equal(ockami_xx_remote_static(&p.r, rs), OCKAM_OK);
  assert_hex(rs, 32, INIT_STATIC_PUB);
  assert_int_equal(ockami_xx_get_state(&p.i), OCKAMI_XX_COMPLETE);
  assert_int_equal(ockami_xx_get_state(&p.r), OCKAMI_XX_COMPLETE);

  /* Ockam's key order (§5.3): initiator encrypts with k2, responder with k1. */
  uint8_t hi[32], hr[32];
  pair_split(&p, hi, hr);
  assert_secret_hex(v, p.ie, K2);
  assert_secret_hex(v, p.id, K1);
  assert_secret_hex(v, p.re, K1);
  assert_secret_hex(v, p.rd, K2);
  assert_hex(hi, 32, H1_FINAL);
  assert_hex(hr, 32, H1_FINAL);
  assert_int_equal(ockami_xx_handshake_hash(&p.r, hr), OCKAM_OK);
  assert_hex(hr, 32, H1_FINAL);
  assert_int_equal(ockami_xx_remote_static(&p.r, rs), OCKAM_OK); /* still readable */
  ockam_secret_type t;
  assert_int_equal(ockam_vault_secret_info(v, p.ie, &t, NULL), OCKAM_OK);
  assert_int_equal(t, OCKAM_SECRET_AES256);
  pair_clear(&p);
}

/* §3.2 values between tokens, recomputed with the vault primitives directly. */
static void test_ockam_intermediate_ee(void **state) {
  ockam_vault *v = *state;
  ockam_secret ie = import_x25519(v, INIT_EPH);
  uint8_t re_pub[32];
  hex_decode(RESP_EPH_PUB, re_pub, 32);
  ockam_secret dh, ck0;
  assert_int_equal(ockam_vault_x25519_dh(v, ie, re_pub, &dh), OCKAM_OK);
  assert_secret_hex(v, dh, "37e0e7daacbd6bfbf669a846196fd44d1c8745d33f2be42e31d4674199ad005e");
  uint8_t h0[32] = "Noise_XX_25519_AESGCM_SHA256";
  assert_int_equal(ockam_vault_secret_import(v, OCKAM_SECRET_BUFFER, h0, 32, &ck0), OCKAM_OK);
  ockam_secret_type t[2] = {OCKAM_SECRET_BUFFER, OCKAM_SECRET_AES256};
  ockam_secret out[2];
  assert_int_equal(ockam_vault_hkdf_sha256(v, ck0, dh, NULL, 0, 2, t, out), OCKAM_OK);
  assert_secret_hex(v, out[0], "674afe9e8a30e6dbf073b32cad4d711d11edf32a4b83470583e6893bd40041f4");
  assert_secret_hex(v, out[1], "b85aa7e2e04a792d253b9598ed47601a5546881309478df8d70c5454328a74c7");
  ockam_secret all[] = {ie, dh, ck0, out[0], out[1]};
  for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) ockam_vault_secret_destroy(v, all[i]);
}

static void test_ockam_handshake_2(void **state) {
  ockam_vault *v = *state;
  pair p;
  pair_init(&p, v, NULL);
  uint8_t msg[256], pl[64];
  size_t len, plen;
  const char *payloads[3] = {"test_msg_0", "test_msg_1", "test_msg_2"};
  const char *want[3] = {H2_M1, H2_M2, H2_M3};
  for (int k = 0; k < 3; k++) {
    ockami_xx *from = k == 1 ? &p.r : &p.i, *to = k == 1 ? &p.i : &p.r;
    assert_int_equal(ockami_xx_write(from, (const uint8_t *)payloads[k], 10, msg, sizeof msg, &len),
                     OCKAM_OK);
    assert_hex(msg, len, want[k]);
    assert_int_equal(ockami_xx_read(to, msg, len, pl, sizeof pl, &plen), OCKAM_OK);
    assert_int_equal(plen, 10);
    assert_memory_equal(pl, payloads[k], 10);
  }

  uint8_t hi[32], hr[32];
  pair_split(&p, hi, hr);
  assert_hex(hi, 32, H2_FINAL);
  assert_hex(hr, 32, H2_FINAL);
  assert_secret_hex(v, p.ie, K2); /* the keys do not depend on the payloads */
  assert_secret_hex(v, p.re, K1);
  pair_clear(&p);
}

/* --- cacophony -------------------------------------------------------------- */

/* The standard Noise vector (tests/vectors/noise-xx-25519-aesgcm-sha256.json,
 * cacophony's Noise_XX_25519_AESGCM_SHA256), read from the file. */
typedef struct caco_msg {
  uint8_t payload[128], ciphertext[256];
  size_t payload_len, ciphertext_len;
} caco_msg;

static size_t json_hex(const char *from, const char *key, uint8_t *out, size_t cap) {
  long n = ts_json_hex(&from, key, out, cap);
  if (n < 0) fail_msg("'%s' missing or malformed in the Noise vector file", key);
  return (size_t)n;
}

static ockam_secret import_x25519_bytes(ockam_vault *v, const uint8_t *b, size_t len) {
  assert_int_equal(len, 32);
  ockam_secret s = 0;
  assert_int_equal(ockam_vault_secret_import(v, OCKAM_SECRET_X25519, b, 32, &s), OCKAM_OK);
  return s;
}

static void test_cacophony(void **state) {
  ockam_vault *v = *state;
  char *json = ts_vector_file("noise-xx-25519-aesgcm-sha256.json");
  assert_non_null(json);
  const char *vec = strstr(json, "\"protocol_name\": \"Noise_XX_25519_AESGCM_SHA256\"");
  assert_non_null(vec);
  static const char *const key_names[4] = {"init_static", "init_ephemeral", "resp_static",
                                           "resp_ephemeral"};
  ockam_secret keys[4];
  for (int k = 0; k < 4; k++) {
    uint8_t b[32];
    keys[k] = import_x25519_bytes(v, b, json_hex(vec, key_names[k], b, sizeof b));
  }
  uint8_t prologue[64], resp_prologue[64], hash[32];
  size_t prologue_len = json_hex(vec, "init_prologue", prologue, sizeof prologue);
  assert_int_equal(json_hex(vec, "resp_prologue", resp_prologue, sizeof resp_prologue),
                   prologue_len);
  assert_memory_equal(prologue, resp_prologue, prologue_len);
  assert_int_equal(json_hex(vec, "handshake_hash", hash, sizeof hash), 32);
  static caco_msg msgs[16];
  size_t count = 0;
  const char *c = strstr(vec, "\"messages\"");
  assert_non_null(c);
  const char *end = strchr(c, ']'); /* hex holds no ']' */
  assert_non_null(end);
  for (;; count++) {
    const char *before = c;
    long pl = ts_json_hex(&c, "payload", msgs[count % 16].payload, sizeof msgs[0].payload);
    if (pl < 0 || c > end) {
      c = before;
      break;
    }
    assert_true(count < 16);
    msgs[count].payload_len = (size_t)pl;
    long cl = ts_json_hex(&c, "ciphertext", msgs[count].ciphertext, sizeof msgs[0].ciphertext);
    assert_true(cl >= 0);
    msgs[count].ciphertext_len = (size_t)cl;
  }
  free(json);
  assert_true(count >= 4); /* three handshake messages and transport */

  ockami_xx i, r;
  assert_int_equal(ockami_xx_init(&i, v, true, prologue, prologue_len, keys[0], keys[1]), OCKAM_OK);
  assert_int_equal(ockami_xx_init(&r, v, false, prologue, prologue_len, keys[2], keys[3]),
                   OCKAM_OK);

  /* Handshake: messages 0..2 alternate initiator, responder, initiator. */
  for (size_t m = 0; m < 3; m++) {
    ockami_xx *send = m % 2 == 0 ? &i : &r;
    ockami_xx *recv = m % 2 == 0 ? &r : &i;
    uint8_t msg[256], got[128];
    size_t len, glen;
    assert_int_equal(
        ockami_xx_write(send, msgs[m].payload, msgs[m].payload_len, msg, sizeof msg, &len),
        OCKAM_OK);
    assert_int_equal(len, msgs[m].ciphertext_len);
    assert_memory_equal(msg, msgs[m].ciphertext, len);
    assert_int_equal(ockami_xx_read(recv, msg, len, got, sizeof got, &glen), OCKAM_OK);
    assert_int_equal(glen, msgs[m].payload_len);
    assert_memory_equal(got, msgs[m].payload, glen);
  }

  /* Standard Noise key order: initiator sends with k1. */
  ockam_secret ie, id, re, rd;
  uint8_t hi[32], hr[32];
  assert_int_equal(ockami_xx_split(&i, false, &ie, &id, hi), OCKAM_OK);
  assert_int_equal(ockami_xx_split(&r, false, &re, &rd, hr), OCKAM_OK);
  assert_memory_equal(hi, hash, 32);
  assert_memory_equal(hr, hash, 32);

  /* Transport: the following messages continue the alternation (responder,
   * initiator, ...), each direction counting its nonce from 0, AD empty. */
  uint64_t n_i = 0, n_r = 0;
  for (size_t m = 3; m < count; m++) {
    bool from_initiator = m % 2 == 0;
    ockam_secret enc = from_initiator ? ie : re;
    ockam_secret dec = from_initiator ? rd : id;
    uint64_t *n = from_initiator ? &n_i : &n_r;
    uint8_t ct[256], pt[128], nonce[OCKAMI_AEAD_NONCE_LEN];
    size_t ct_len, pt_len;
    ockami_aead_nonce((*n)++, nonce);
    assert_int_equal(ockam_vault_aead_encrypt(v, enc, nonce, NULL, 0, msgs[m].payload,
                                              msgs[m].payload_len, ct, sizeof ct, &ct_len),
                     OCKAM_OK);
    assert_int_equal(ct_len, msgs[m].ciphertext_len);
    assert_memory_equal(ct, msgs[m].ciphertext, ct_len);
    assert_int_equal(
        ockam_vault_aead_decrypt(v, dec, nonce, NULL, 0, ct, ct_len, pt, sizeof pt, &pt_len),
        OCKAM_OK);
    assert_int_equal(pt_len, msgs[m].payload_len);
    assert_memory_equal(pt, msgs[m].payload, pt_len);
  }

  ockam_secret all[] = {ie, id, re, rd, keys[0], keys[1], keys[2], keys[3]};
  ockami_xx_clear(&i);
  ockami_xx_clear(&r);
  for (size_t k = 0; k < sizeof all / sizeof all[0]; k++) ockam_vault_secret_destroy(v, all[k]);
}

/* --- generated keys, payload round trip, accounting -------------------------- */

typedef struct run {
  ockami_xx i, r;
  ockam_secret ie, id, re, rd;
} run;

/* A full handshake with fresh keys; returns with both sides split. */
static void run_handshake(ockam_vault *v, run *x, bool ockam_order) {
  uint8_t msg[512], pl[256];
  size_t len, plen;
  assert_int_equal(ockami_xx_init(&x->i, v, true, NULL, 0, 0, 0), OCKAM_OK);
  assert_int_equal(ockami_xx_init(&x->r, v, false, NULL, 0, 0, 0), OCKAM_OK);
  const uint8_t big[200] = {1, 2, 3};
  assert_int_equal(ockami_xx_write(&x->i, big, 7, msg, sizeof msg, &len), OCKAM_OK);
  assert_int_equal(ockami_xx_read(&x->r, msg, len, pl, sizeof pl, &plen), OCKAM_OK);
  assert_int_equal(ockami_xx_write(&x->r, big, sizeof big, msg, sizeof msg, &len), OCKAM_OK);
  assert_int_equal(ockami_xx_read(&x->i, msg, len, pl, sizeof pl, &plen), OCKAM_OK);
  assert_int_equal(plen, sizeof big);
  assert_memory_equal(pl, big, sizeof big);
  assert_int_equal(ockami_xx_write(&x->i, NULL, 0, msg, sizeof msg, &len), OCKAM_OK);
  assert_int_equal(ockami_xx_read(&x->r, msg, len, pl, sizeof pl, &plen), OCKAM_OK);
  uint8_t hi[32], hr[32];
  assert_int_equal(ockami_xx_split(&x->i, ockam_order, &x->ie, &x->id, hi), OCKAM_OK);
  assert_int_equal(ockami_xx_split(&x->r, ockam_order, &x->re, &x->rd, hr), OCKAM_OK);
  assert_memory_equal(hi, hr, 32);
  uint8_t a[32], b[32];
  assert_int_equal(ockami_xx_remote_static(&x->i, a), OCKAM_OK);
  assert_memory_equal(a, x->r.s_pub, 32);
  assert_int_equal(ockami_xx_remote_static(&x->r, b), OCKAM_OK);
  assert_memory_equal(b, x->i.s_pub, 32);
}

static void run_clear(ockam_vault *v, run *x) {
  ockami_xx_clear(&x->i);
  ockami_xx_clear(&x->r);
  destroy_transport_keys(v, x->ie, x->id, x->re, x->rd);
}

static void test_generated_keys_no_leak(void **state) {
  ockam_vault *v = *state;
  size_t start = ockam_vault_secret_count(v);
  for (int order = 0; order < 2; order++) {
    run x;
    run_handshake(v, &x, order == 1);
    /* Each side's send key is the other's receive key. */
    uint8_t nonce[12] = {0}, ct[64], pt[64];
    size_t n;
    assert_int_equal(
        ockam_vault_aead_encrypt(v, x.ie, nonce, NULL, 0, (const uint8_t *)"hi", 2, ct, 64, &n),
        OCKAM_OK);
    assert_int_equal(ockam_vault_aead_decrypt(v, x.rd, nonce, NULL, 0, ct, n, pt, 64, &n),
                     OCKAM_OK);
    assert_int_equal(
        ockam_vault_aead_encrypt(v, x.re, nonce, NULL, 0, (const uint8_t *)"yo", 2, ct, 64, &n),
        OCKAM_OK);
    assert_int_equal(ockam_vault_aead_decrypt(v, x.id, nonce, NULL, 0, ct, n, pt, 64, &n),
                     OCKAM_OK);
    /* While split: only the two static keys and the four transport keys remain. */
    assert_int_equal(ockam_vault_secret_count(v), start + 6);
    run_clear(v, &x);
    assert_int_equal(ockam_vault_secret_count(v), start);
  }
}

/* --- malformed input ----------------------------------------------------------- */

/* Drive a fresh pair up to the point where `target` reads message `which`
 * (1..3); msg/len receive that message, untouched. */
static void drive_to(ockam_vault *v, ockami_xx *i, ockami_xx *r, int which, uint8_t *msg,
                     size_t *len) {
  uint8_t pl[64];
  size_t plen;
  assert_int_equal(ockami_xx_init(i, v, true, NULL, 0, 0, 0), OCKAM_OK);
  assert_int_equal(ockami_xx_init(r, v, false, NULL, 0, 0, 0), OCKAM_OK);
  assert_int_equal(ockami_xx_write(i, NULL, 0, msg, 512, len), OCKAM_OK);
  if (which == 1) return;
  assert_int_equal(ockami_xx_read(r, msg, *len, pl, sizeof pl, &plen), OCKAM_OK);
  assert_int_equal(ockami_xx_write(r, NULL, 0, msg, 512, len), OCKAM_OK);
  if (which == 2) return;
  assert_int_equal(ockami_xx_read(i, msg, *len, pl, sizeof pl, &plen), OCKAM_OK);
  assert_int_equal(ockami_xx_write(i, NULL, 0, msg, 512, len), OCKAM_OK);
}

typedef struct bad_case {
  int which; /* message 1, 2 or 3 */
  int mode;  /* 0 truncate to `arg` bytes, 1 flip byte `arg`, 2 zero the first 32 bytes */
  size_t arg;
  int want;
} bad_case;

static void test_malformed_messages(void **state) {
  ockam_vault *v = *state;
  size_t start = ockam_vault_secret_count(v);
  static const bad_case cases[] = {
      {1, 0, 0, OCKAM_ETRUNC},   {1, 0, 31, OCKAM_ETRUNC},
      {2, 0, 0, OCKAM_ETRUNC},   {2, 0, 79, OCKAM_ETRUNC},
      {2, 0, 95, OCKAM_ETRUNC},  {3, 0, 47, OCKAM_ETRUNC},
      {3, 0, 63, OCKAM_ETRUNC},  {2, 1, 0, OCKAM_ECRYPTO}, /* e changed: ee differs */
      {2, 1, 40, OCKAM_ECRYPTO},                           /* encrypted s */
      {2, 1, 95, OCKAM_ECRYPTO},                           /* payload tag */
      {3, 1, 0, OCKAM_ECRYPTO},  {3, 1, 63, OCKAM_ECRYPTO},
      {2, 2, 0, OCKAM_ECRYPTO}, /* low-order (zero) ephemeral key */
  };
  for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
    ockami_xx i, r;
    uint8_t msg[512], pl[64];
    size_t len, plen = 77;
    drive_to(v, &i, &r, cases[c].which, msg, &len);
    ockami_xx *reader = cases[c].which == 2 ? &i : &r;
    if (cases[c].mode == 0) len = cases[c].arg;
    if (cases[c].mode == 1) msg[cases[c].arg] ^= 0x20;
    if (cases[c].mode == 2) memset(msg, 0, 32);
    memset(pl, 0x55, sizeof pl);
    int rc = ockami_xx_read(reader, msg, len, pl, sizeof pl, &plen);
    if (rc != cases[c].want) fail_msg("case %zu: got %s", c, ockam_errname(rc));
    assert_int_equal(plen, 0);
    assert_int_equal(ockami_xx_get_state(reader), OCKAMI_XX_FAILED);
    /* Once failed, nothing else works. */
    assert_int_equal(ockami_xx_read(reader, msg, len, pl, sizeof pl, &plen), OCKAM_ESTATE);
    assert_int_equal(ockami_xx_write(reader, NULL, 0, msg, sizeof msg, &plen), OCKAM_ESTATE);
    ockami_xx_clear(&i);
    ockami_xx_clear(&r);
    assert_int_equal(ockam_vault_secret_count(v), start);
  }
}

/* A failed decryption releases no plaintext into the payload buffer. */
static void test_failed_read_wipes_payload(void **state) {
  ockam_vault *v = *state;
  ockami_xx i, r;
  uint8_t msg[512], pl[64];
  size_t len, plen;
  assert_int_equal(ockami_xx_init(&i, v, true, NULL, 0, 0, 0), OCKAM_OK);
  assert_int_equal(ockami_xx_init(&r, v, false, NULL, 0, 0, 0), OCKAM_OK);
  assert_int_equal(ockami_xx_write(&i, NULL, 0, msg, sizeof msg, &len), OCKAM_OK);
  assert_int_equal(ockami_xx_read(&r, msg, len, pl, sizeof pl, &plen), OCKAM_OK);
  assert_int_equal(
      ockami_xx_write(&r, (const uint8_t *)"secret payload!!", 16, msg, sizeof msg, &len),
      OCKAM_OK);
  msg[len - 1] ^= 1;
  memset(pl, 0x55, sizeof pl);
  assert_int_equal(ockami_xx_read(&i, msg, len, pl, sizeof pl, &plen), OCKAM_ECRYPTO);
  static const uint8_t zero[16];
  assert_memory_equal(pl, zero, 16);
  ockami_xx_clear(&i);
  ockami_xx_clear(&r);
}

static void test_oversized_and_small_buffers(void **state) {
  ockam_vault *v = *state;
  ockami_xx i, r;
  uint8_t msg[512], pl[64];
  size_t len, plen;
  static uint8_t huge[OCKAMI_XX_MSG_MAX + 1];
  static uint8_t huge_out[OCKAMI_XX_MSG_MAX + 1];

  /* Output buffer one byte short. */
  assert_int_equal(ockami_xx_init(&i, v, true, NULL, 0, 0, 0), OCKAM_OK);
  assert_int_equal(ockami_xx_write(&i, (const uint8_t *)"abc", 3, msg, 34, &len), OCKAM_EOVERFLOW);
  ockami_xx_clear(&i);

  /* Payload that would make m1 exceed 65535 bytes. */
  assert_int_equal(ockami_xx_init(&i, v, true, NULL, 0, 0, 0), OCKAM_OK);
  assert_int_equal(
      ockami_xx_write(&i, huge, OCKAMI_XX_MSG_MAX - 31, huge_out, sizeof huge_out, &len),
      OCKAM_EOVERFLOW);
  ockami_xx_clear(&i);

  /* Incoming message over the limit; payload buffer too small. */
  assert_int_equal(ockami_xx_init(&r, v, false, NULL, 0, 0, 0), OCKAM_OK);
  assert_int_equal(ockami_xx_read(&r, huge, sizeof huge, pl, sizeof pl, &plen), OCKAM_EOVERFLOW);
  ockami_xx_clear(&r);
  assert_int_equal(ockami_xx_init(&r, v, false, NULL, 0, 0, 0), OCKAM_OK);
  assert_int_equal(ockami_xx_read(&r, huge, 32 + 65, pl, sizeof pl, &plen), OCKAM_EOVERFLOW);
  ockami_xx_clear(&r);
}

/* --- state misuse --------------------------------------------------------------- */

static void test_state_misuse(void **state) {
  ockam_vault *v = *state;
  size_t start = ockam_vault_secret_count(v);
  ockami_xx i, r;
  uint8_t msg[512] = {0}, pl[64], h[32];
  size_t len, plen;
  ockam_secret e, d;

  /* Initiator cannot read first; responder cannot write first; no early split. */
  assert_int_equal(ockami_xx_init(&i, v, true, NULL, 0, 0, 0), OCKAM_OK);
  assert_int_equal(ockami_xx_read(&i, msg, 32, pl, sizeof pl, &plen), OCKAM_ESTATE);
  assert_int_equal(ockami_xx_get_state(&i), OCKAMI_XX_FAILED);
  ockami_xx_clear(&i);
  assert_int_equal(ockami_xx_get_state(&i), OCKAMI_XX_NONE);
  assert_int_equal(ockami_xx_init(&r, v, false, NULL, 0, 0, 0), OCKAM_OK);
  assert_int_equal(ockami_xx_write(&r, NULL, 0, msg, sizeof msg, &len), OCKAM_ESTATE);
  ockami_xx_clear(&r);
  assert_int_equal(ockami_xx_init(&i, v, true, NULL, 0, 0, 0), OCKAM_OK);
  assert_int_equal(ockami_xx_split(&i, true, &e, &d, h), OCKAM_ESTATE);
  assert_int_equal(e, 0);
  assert_int_equal(ockami_xx_handshake_hash(&i, h), OCKAM_ESTATE);
  ockami_xx_clear(&i);

  /* Writing m1 twice. */
  assert_int_equal(ockami_xx_init(&i, v, true, NULL, 0, 0, 0), OCKAM_OK);
  assert_int_equal(ockami_xx_write(&i, NULL, 0, msg, sizeof msg, &len), OCKAM_OK);
  assert_int_equal(ockami_xx_write(&i, NULL, 0, msg, sizeof msg, &len), OCKAM_ESTATE);
  ockami_xx_clear(&i);

  /* Calls on a cleared (zeroed) state. */
  assert_int_equal(ockami_xx_write(&i, NULL, 0, msg, sizeof msg, &len), OCKAM_ESTATE);
  ockami_xx_clear(&i);
  assert_int_equal(ockami_xx_read(&i, msg, 32, pl, sizeof pl, &plen), OCKAM_ESTATE);
  ockami_xx_clear(&i);

  /* After split, the handshake is over. */
  run x;
  run_handshake(v, &x, true);
  assert_int_equal(ockami_xx_split(&x.i, true, &e, &d, h), OCKAM_ESTATE);
  assert_int_equal(ockami_xx_write(&x.r, NULL, 0, msg, sizeof msg, &len), OCKAM_ESTATE);
  run_clear(v, &x);

  /* Bad arguments to init. */
  assert_int_equal(ockami_xx_init(&i, NULL, true, NULL, 0, 0, 0), OCKAM_EINVAL);
  ockami_xx_clear(&i);
  assert_int_equal(ockami_xx_init(&i, v, true, NULL, 3, 0, 0), OCKAM_EINVAL);
  ockami_xx_clear(&i);
  ockam_secret aes;
  uint8_t k[32] = {0};
  assert_int_equal(ockam_vault_secret_import(v, OCKAM_SECRET_AES256, k, 32, &aes), OCKAM_OK);
  assert_int_equal(ockami_xx_init(&i, v, true, NULL, 0, aes, 0), OCKAM_EINVAL);
  ockami_xx_clear(&i);
  assert_int_equal(ockami_xx_init(&i, v, true, NULL, 0, 0, 0xfffff), OCKAM_ENOTFOUND);
  ockami_xx_clear(&i);
  ockam_vault_secret_destroy(v, aes);
  assert_int_equal(ockam_vault_secret_count(v), start);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_ockam_handshake_1, ts_vault_setup, ts_vault_teardown),
      cmocka_unit_test_setup_teardown(test_ockam_intermediate_ee, ts_vault_setup,
                                      ts_vault_teardown),
      cmocka_unit_test_setup_teardown(test_ockam_handshake_2, ts_vault_setup, ts_vault_teardown),
      cmocka_unit_test_setup_teardown(test_cacophony, ts_vault_setup, ts_vault_teardown),
      cmocka_unit_test_setup_teardown(test_generated_keys_no_leak, ts_vault_setup,
                                      ts_vault_teardown),
      cmocka_unit_test_setup_teardown(test_malformed_messages, ts_vault_setup, ts_vault_teardown),
      cmocka_unit_test_setup_teardown(test_failed_read_wipes_payload, ts_vault_setup,
                                      ts_vault_teardown),
      cmocka_unit_test_setup_teardown(test_oversized_and_small_buffers, ts_vault_setup,
                                      ts_vault_teardown),
      cmocka_unit_test_setup_teardown(test_state_misuse, ts_vault_setup, ts_vault_teardown),
  };
  return cmocka_run_group_tests(tests, load_md_vectors, NULL);
}
