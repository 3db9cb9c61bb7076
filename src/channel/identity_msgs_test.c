/* Identity channel messages against the identity vectors (§4 of
 * tests/vectors/ockam-2021-identity-vectors.md, directory from
 * $OCKAM_TEST_VECTORS): the three message encodings byte for byte, their
 * inner TransportMessages, and the encrypted channel payloads under the XX
 * keys of the quoted handshake; plus malformed inputs. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "test_hex.h"

#include "bare.h"
#include "change.h"
#include "cipher.h"
#include "identity_msgs.h"
#include "message.h"
#include "ockam/vault.h"
#include "wire.h"

typedef struct vec {
  const char *heading;
  uint8_t *p;
  size_t len;
} vec;

enum {
  V_BOB_CONTACT,
  V_ALICE_CONTACT,
  V_PROOF_BOB,
  V_REQUEST,
  V_RESPONSE,
  V_CONFIRM,
  V_REQUEST_TM,
  V_REQUEST_BLOB,
  V_RESPONSE_TM,
  V_CONFIRM_TM,
  V_CONFIRM_BLOB,
  V_DATA_TM,
  V_DATA_BLOB,
  V_REPLY_TM,
  V_LOCAL_INFO,
  V_COUNT
};

static vec vecs[V_COUNT] = {
    [V_BOB_CONTACT] = {"Bob Contact\n"},
    [V_ALICE_CONTACT] = {"Alice Contact\n"},
    [V_PROOF_BOB] = {"proof Bob"},
    [V_REQUEST] = {"ChannelAuthRequest{"},
    [V_RESPONSE] = {"ChannelAuthResponse{"},
    [V_CONFIRM] = {"ChannelAuthConfirm{"},
    [V_REQUEST_TM] = {"inner TM of ChannelAuthRequest"},
    [V_REQUEST_BLOB] = {"responder channel payload: Vec(00 00"},
    [V_RESPONSE_TM] = {"inner TM of ChannelAuthResponse"},
    [V_CONFIRM_TM] = {"inner TM of ChannelAuthConfirm"},
    [V_CONFIRM_BLOB] = {"responder channel payload: Vec(00 01"},
    [V_DATA_TM] = {"inner TM of first data message"},
    [V_DATA_BLOB] = {"initiator channel payload: Vec(00 01"},
    [V_REPLY_TM] = {"inner TM of the echo reply"},
    [V_LOCAL_INFO] = {"LocalInfo (node-local)"},
};

#define K1 "b1c674b6535fb1d208772a972cac2cbf04d6aa087cbbd3eb8558a1a3abcaa7fb"
#define K2 "109c4b99ea3a4784ff55af5eed86c99e853f5a76d83ce437a9e3e27ede242a6a"
#define A5 "55555555555555555555555555555555" /* cI */
#define A6 "66666666666666666666666666666666" /* cR */
#define A8 "88888888888888888888888888888888" /* eR */
#define AA "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa" /* fR */

static int hexval(int c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}

/* Finds "### <heading>", reads "len=N" and the indented hex lines after it. */
static int load_vector(const char *text, vec *v) {
  char key[96];
  snprintf(key, sizeof key, "\n### %s", v->heading);
  const char *s = strstr(text, key);
  if (!s) return -1;
  s = strstr(s + 1, "\nlen=");
  size_t want;
  if (!s || sscanf(s + 1, "len=%zu", &want) != 1) return -1;
  s = strchr(s + 1, '\n');
  v->p = malloc(want ? want : 1);
  v->len = 0;
  while (s && s[1] == ' ' && s[2] == ' ') {
    s += 3;
    while (hexval(s[0]) >= 0 && hexval(s[1]) >= 0 && v->len < want) {
      v->p[v->len++] = (uint8_t)(hexval(s[0]) << 4 | hexval(s[1]));
      s += 2;
    }
    s = strchr(s, '\n');
  }
  return v->len == want ? 0 : -1;
}

static int load_all(void **state) {
  (void)state;
  const char *dir = getenv("OCKAM_TEST_VECTORS");
  char path[512];
  snprintf(path, sizeof path, "%s/ockam-2021-identity-vectors.md", dir ? dir : OCKAM_VECTORS_DIR);
  FILE *f = fopen(path, "rb");
  if (!f) {
    fprintf(stderr, "cannot open %s\n", path);
    return -1;
  }
  static char text[1 << 17];
  size_t n = fread(text, 1, sizeof text - 1, f);
  fclose(f);
  text[n] = 0;
  for (int i = 0; i < V_COUNT; i++) {
    if (load_vector(text, &vecs[i])) {
      fprintf(stderr, "vector '%s' not found\n", vecs[i].heading);
      return -1;
    }
  }
  return 0;
}

static int free_all(void **state) {
  (void)state;
  for (int i = 0; i < V_COUNT; i++) free(vecs[i].p);
  return 0;
}

static void assert_vec(const uint8_t *p, size_t len, int v) {
  assert_int_equal(len, vecs[v].len);
  assert_memory_equal(p, vecs[v].p, len);
}

/* --- the three messages -------------------------------------------------------------- */

static void test_encode_vectors(void **state) {
  (void)state;
  ockami_buf b = OCKAMI_BUF_INIT;
  const vec *bob = &vecs[V_BOB_CONTACT], *alice = &vecs[V_ALICE_CONTACT];
  assert_int_equal(bob->len, 318);
  assert_int_equal(ockami_auth_request_encode(&b, bob->p, bob->len, vecs[V_PROOF_BOB].p), 0);
  assert_vec(b.data, b.len, V_REQUEST);
  assert_int_equal(b.len, 383);

  /* Alice's proof is the 64 bytes after her contact and the length 40. */
  const uint8_t *proof_alice = vecs[V_RESPONSE].p + 318 + 1;
  b.len = 0;
  assert_int_equal(ockami_auth_response_encode(&b, alice->p, alice->len, proof_alice, A8), 0);
  assert_vec(b.data, b.len, V_RESPONSE);
  assert_int_equal(b.len, 417);

  b.len = 0;
  assert_int_equal(ockami_auth_confirm_encode(&b, AA), 0);
  assert_vec(b.data, b.len, V_CONFIRM);
  assert_int_equal(b.len, 34);

  assert_int_equal(ockami_auth_confirm_encode(&b, ""), OCKAM_EINVAL);
  assert_int_equal(ockami_auth_response_encode(&b, alice->p, alice->len, proof_alice, NULL),
                   OCKAM_EINVAL);
  ockami_buf_free(&b);
}

static void test_decode_vectors(void **state) {
  (void)state;
  ockami_auth_msg m;
  assert_int_equal(ockami_auth_request_decode(vecs[V_REQUEST].p, vecs[V_REQUEST].len, &m), 0);
  assert_vec(m.contact, m.contact_len, V_BOB_CONTACT);
  assert_vec(m.proof, OCKAMI_AUTH_PROOF_LEN, V_PROOF_BOB);

  assert_int_equal(ockami_auth_response_decode(vecs[V_RESPONSE].p, vecs[V_RESPONSE].len, &m), 0);
  assert_vec(m.contact, m.contact_len, V_ALICE_CONTACT);
  assert_int_equal(m.addr_type, 0);
  assert_int_equal(m.addr_len, 32);
  assert_memory_equal(m.addr, A8, 32);

  assert_int_equal(ockami_auth_confirm_decode(vecs[V_CONFIRM].p, vecs[V_CONFIRM].len, &m), 0);
  assert_int_equal(m.addr_len, 32);
  assert_memory_equal(m.addr, AA, 32);

  /* The three are told apart by where they arrive, not by a tag: each decoder
   * refuses the others' bytes. */
  assert_int_not_equal(ockami_auth_request_decode(vecs[V_RESPONSE].p, vecs[V_RESPONSE].len, &m), 0);
  assert_int_not_equal(ockami_auth_response_decode(vecs[V_REQUEST].p, vecs[V_REQUEST].len, &m), 0);
  assert_int_not_equal(ockami_auth_confirm_decode(vecs[V_REQUEST].p, vecs[V_REQUEST].len, &m), 0);
  assert_int_not_equal(ockami_auth_request_decode(vecs[V_CONFIRM].p, vecs[V_CONFIRM].len, &m), 0);
}

/* A contact with one RotateKey event appended (tag 01, prev signature). */
static void test_contact_span_rotation(void **state) {
  (void)state;
  /* Bob's contact with the event count raised to 2 and a synthetic second
   * event (RotateKey layout, signatures not checked by the walk). */
  const vec *bob = &vecs[V_BOB_CONTACT];
  uint8_t buf[1024];
  size_t n = 0;
  memcpy(buf, bob->p, bob->len);
  n = bob->len;
  buf[65] = 2;
  uint8_t ev[32 + 32 + 1 + 1 + 1 + 1 + 21 + 33 + 64 + 64 + 2 + 64];
  memset(ev, 0x11, sizeof ev);
  size_t o = 64;
  ev[o++] = 1;                                                       /* one change */
  ev[o++] = 1;                                                       /* version */
  ev[o++] = 0;                                                       /* no attributes */
  ev[o++] = 1;                                                       /* RotateKey */
  memcpy(ev + o, "\x09OCKAM_PUK\x01\x02\x01\x20\0\0\0\0\0\0\0", 21); /* key attributes */
  o += 21;
  ev[o] = 32; /* public key length */
  o += 33 + 64 + 64;
  ev[o++] = 0;
  ev[o++] = 0;
  o += 64;
  assert_int_equal(o, sizeof ev);
  memcpy(buf + n, ev, sizeof ev);
  n += sizeof ev;
  assert_int_equal(n, 318 + 316);
  memcpy(buf + n, "\x40", 1);
  memcpy(buf + n + 1, vecs[V_PROOF_BOB].p, 64);
  ockami_auth_msg m;
  assert_int_equal(ockami_auth_request_decode(buf, n + 65, &m), 0);
  assert_int_equal(m.contact_len, 634);
}

/* Enum tags are BARE uints: a tag written in two bytes (81 00 for 1) is the
 * same value. The change-history decoder reads it so; the walk that finds
 * where the Contact ends must agree, or a Contact the verifier takes would be
 * dropped as undecodable. */
static void test_contact_span_long_tag(void **state) {
  (void)state;
  const vec *bob = &vecs[V_BOB_CONTACT];
  uint8_t buf[1024];
  /* identifier (65) | count (1) | id (32) | prev (32) | 1 change | version |
   * no attributes | CreateKey | label "OCKAM_PUK" (10) | meta tag at 144 */
  assert_int_equal(bob->p[134], 9);
  assert_int_equal(bob->p[144], 1);
  memcpy(buf, bob->p, 144);
  buf[144] = 0x81;
  buf[145] = 0x00;
  memcpy(buf + 146, bob->p + 145, bob->len - 145);
  size_t n = bob->len + 1;
  ockami_history h;
  assert_int_equal(ockami_history_decode_unverified(buf, n, &h), 0);
  ockami_history_clear(&h);
  buf[n] = 0x40;
  memcpy(buf + n + 1, vecs[V_PROOF_BOB].p, 64);
  ockami_auth_msg m;
  assert_int_equal(ockami_auth_request_decode(buf, n + 65, &m), 0);
  assert_int_equal(m.contact_len, n);
  /* Still a tag: 82 00 (2) is no MetaKeyAttributes variant. */
  buf[144] = 0x82;
  assert_int_equal(ockami_auth_request_decode(buf, n + 65, &m), OCKAM_EMALFORMED);
}

/* --- inner TransportMessages and channel payloads -------------------------------------- */

static ockam_message *tm(const char *on1, const char *on2, const char *re1, const char *re2,
                         const uint8_t *payload, size_t len) {
  ockam_message *m;
  assert_int_equal(ockam_message_new(&m), 0);
  assert_int_equal(ockam_route_append(&m->onward, 0, on1, strlen(on1)), 0);
  if (on2) assert_int_equal(ockam_route_append(&m->onward, 0, on2, strlen(on2)), 0);
  assert_int_equal(ockam_route_append(&m->ret, 0, re1, strlen(re1)), 0);
  if (re2) assert_int_equal(ockam_route_append(&m->ret, 0, re2, strlen(re2)), 0);
  assert_int_equal(ockam_message_set_payload(m, payload, len), 0);
  return m;
}

/* Encode m, compare with the inner TM vector, encrypt it as the channel would
 * and compare the Vec<u8> channel payload. */
static void check_inner(ockami_cipher *c, ockam_message *m, int tm_vec, int blob_vec,
                        const char *blob_sha) {
  ockami_buf b = OCKAMI_BUF_INIT;
  assert_int_equal(ockami_tm_encode(m, &b), 0);
  assert_vec(b.data, b.len, tm_vec);
  uint8_t blob[1024];
  size_t blen;
  assert_int_equal(ockami_cipher_encrypt(c, b.data, b.len, blob, sizeof blob, &blen), 0);
  ockami_buf w = OCKAMI_BUF_INIT;
  assert_int_equal(ockami_write_data(&w, blob, blen), 0);
  if (blob_vec >= 0) assert_vec(w.data, w.len, blob_vec);
  if (blob_sha) {
    ockam_vault *v;
    uint8_t h[32], want[32];
    assert_int_equal(ockam_vault_create("software", &v), 0);
    assert_int_equal(ockam_vault_sha256(v, w.data, w.len, h), 0);
    hex_decode(blob_sha, want, 32);
    assert_memory_equal(h, want, 32);
    ockam_vault_destroy(v);
  }
  ockami_buf_free(&b);
  ockami_buf_free(&w);
  ockam_message_free(m);
}

static void test_inner_messages(void **state) {
  (void)state;
  ockam_vault *v;
  assert_int_equal(ockam_vault_create("software", &v), 0);
  uint8_t k1[32], k2[32];
  hex_decode(K1, k1, 32);
  hex_decode(K2, k2, 32);
  ockam_secret s[4];
  assert_int_equal(ockam_vault_secret_import(v, OCKAM_SECRET_AES256, k1, 32, &s[0]), 0);
  assert_int_equal(ockam_vault_secret_import(v, OCKAM_SECRET_AES256, k2, 32, &s[1]), 0);
  assert_int_equal(ockam_vault_secret_import(v, OCKAM_SECRET_AES256, k2, 32, &s[2]), 0);
  assert_int_equal(ockam_vault_secret_import(v, OCKAM_SECRET_AES256, k1, 32, &s[3]), 0);
  /* 2021 framing, Ockam key order: the responder encrypts with k1. */
  ockami_cipher resp, init;
  assert_int_equal(ockami_cipher_init(&resp, v, OCKAMI_FRAMING_2021, s[0], s[1]), 0);
  assert_int_equal(ockami_cipher_init(&init, v, OCKAMI_FRAMING_2021, s[2], s[3]), 0);

  /* Step 5: cR sends the Request to [lB, cI]; lB encrypts TM{[cI], [cR]}. */
  check_inner(&resp, tm(A5, NULL, A6, NULL, vecs[V_REQUEST].p, vecs[V_REQUEST].len), V_REQUEST_TM,
              V_REQUEST_BLOB, NULL);
  /* Step 6: cI answers to the Request's return route [lA, cR]. */
  check_inner(&init, tm(A6, NULL, A5, NULL, vecs[V_RESPONSE].p, vecs[V_RESPONSE].len),
              V_RESPONSE_TM, -1,
              "d9d5dcbfe9fd366fb2751a54ab71df28a97d93e1419dc3525336f9ecf76420e7");
  /* Step 7: cR sends the Confirm to [lB, eR] (responder nonce 1). */
  check_inner(&resp, tm(A8, NULL, A6, NULL, vecs[V_CONFIRM].p, vecs[V_CONFIRM].len), V_CONFIRM_TM,
              V_CONFIRM_BLOB, NULL);
  /* Data (spec §7): app -> [eL, echoer] leaves lA as TM{[fR, echoer], [eR, app]}. */
  const uint8_t hello[] = "\x0cHello World!";
  check_inner(&init, tm(AA, "echoer", A8, "app", hello, 13), V_DATA_TM, V_DATA_BLOB, NULL);
  /* and the echo reply from fL: TM{[eR, app], [fR, echoer]}. */
  ockami_buf b = OCKAMI_BUF_INIT;
  ockam_message *r = tm(A8, "app", AA, "echoer", hello, 13);
  assert_int_equal(ockami_tm_encode(r, &b), 0);
  assert_vec(b.data, b.len, V_REPLY_TM);
  ockam_message_free(r);
  ockami_buf_free(&b);
  ockami_cipher_clear(&resp);
  ockami_cipher_clear(&init);
  ockam_vault_destroy(v);
}

/* The node-local metadata the receiving side attaches (spec §7). */
static void test_local_info(void **state) {
  (void)state;
  ockam_message *m;
  assert_int_equal(ockam_message_new(&m), 0);
  char id[65];
  assert_int_equal(ockam_message_peer_identifier(m, id, sizeof id), OCKAM_ENOTFOUND);
  const char *alice = "6636bbd97ffc80ee2071eb1a252b3795cbab7494f7583fb20585dff0e6054e48";
  assert_int_equal(ockami_message_set_peer(m, alice), 0);
  size_t len;
  const uint8_t *info = ockam_message_local_info(m, &len);
  assert_vec(info, len, V_LOCAL_INFO);
  assert_int_equal(ockam_message_peer_identifier(m, id, 64), OCKAM_ETOOSMALL);
  assert_int_equal(ockam_message_peer_identifier(m, id, sizeof id), 0);
  assert_string_equal(id, alice);
  /* Copies keep it; bytes written by hand do not count. */
  ockam_message *c;
  assert_int_equal(ockam_message_copy(m, &c), 0);
  assert_int_equal(ockam_message_peer_identifier(c, id, sizeof id), 0);
  assert_int_equal(ockam_message_set_local_info(c, info, len), 0);
  assert_int_equal(ockam_message_peer_identifier(c, id, sizeof id), OCKAM_ENOTFOUND);
  ockam_message_free(c);
  ockam_message_free(m);
}

/* --- malformed input ----------------------------------------------------------------- */

static void test_malformed(void **state) {
  (void)state;
  ockami_auth_msg m;
  const vec *req = &vecs[V_REQUEST], *resp = &vecs[V_RESPONSE];
  /* Every truncation fails, with nothing returned. */
  for (size_t n = 0; n < req->len; n++) {
    assert_int_not_equal(ockami_auth_request_decode(req->p, n, &m), 0);
    assert_null(m.contact);
  }
  for (size_t n = 0; n < resp->len; n++)
    assert_int_not_equal(ockami_auth_response_decode(resp->p, n, &m), 0);
  uint8_t buf[1024];
  /* Trailing byte. */
  memcpy(buf, req->p, req->len);
  buf[req->len] = 0;
  assert_int_equal(ockami_auth_request_decode(buf, req->len + 1, &m), OCKAM_ETRAILING);
  /* A proof of 63 bytes. */
  memcpy(buf, req->p, 318);
  buf[318] = 63;
  memcpy(buf + 319, req->p + 319, 63);
  assert_int_equal(ockami_auth_request_decode(buf, 318 + 64, &m), OCKAM_EMALFORMED);
  /* A huge event count is refused before anything else. */
  memcpy(buf, req->p, req->len);
  buf[65] = 0xff;
  buf[66] = 0xff;
  assert_int_not_equal(ockami_auth_request_decode(buf, req->len, &m), 0);
  /* Unknown change type / proof tag. */
  memcpy(buf, req->p, req->len);
  buf[65 + 1 + 32 + 32 + 1 + 1 + 1] = 2;
  assert_int_equal(ockami_auth_request_decode(buf, req->len, &m), OCKAM_EMALFORMED);
  memcpy(buf, req->p, req->len);
  buf[65 + 1 + 32 + 154] = 1;
  assert_int_equal(ockami_auth_request_decode(buf, req->len, &m), OCKAM_EMALFORMED);
  /* Confirm naming a TCP address or an empty one. */
  assert_int_equal(ockami_auth_confirm_decode((const uint8_t *)"\x01\x03"
                                                               "a:1",
                                              5, &m),
                   OCKAM_EMALFORMED);
  assert_int_equal(ockami_auth_confirm_decode((const uint8_t *)"\x00\x00", 2, &m),
                   OCKAM_EMALFORMED);
  assert_int_equal(ockami_auth_confirm_decode(NULL, 0, &m), OCKAM_ETRUNC);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_encode_vectors),
      cmocka_unit_test(test_decode_vectors),
      cmocka_unit_test(test_contact_span_rotation),
      cmocka_unit_test(test_contact_span_long_tag),
      cmocka_unit_test(test_inner_messages),
      cmocka_unit_test(test_local_info),
      cmocka_unit_test(test_malformed),
  };
  return cmocka_run_group_tests(tests, load_all, free_all);
}
