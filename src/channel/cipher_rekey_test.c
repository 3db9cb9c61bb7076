/* Channel cipher tests: the extension negotiation (over a real handshake) and
 * rekeying (known answer, table-driven schedules, limits, the offer). */
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

#include "cipher.h"
#include "ockam/vault.h"
#include "test_cipher.h"
#include "xx.h"

/* --- negotiation ------------------------------------------------------------------------ */

static void test_ext_payload(void **state) {
  (void)state;
  uint8_t p[16];
  size_t len;
  assert_int_equal(ockami_ext_payload_write(OCKAMI_EXT_FLAG_EXTENDED_FRAMING, p, 5, &len),
                   OCKAM_EOVERFLOW);
  assert_int_equal(ockami_ext_payload_write(OCKAMI_EXT_FLAG_EXTENDED_FRAMING, p, sizeof p, &len),
                   OCKAM_OK);
  assert_hex(p, len, "4f434b580101");
  assert_int_equal(ockami_ext_payload_parse(p, len), OCKAMI_EXT_FLAG_EXTENDED_FRAMING);

  /* Not announcements: empty, short, other magic, other version. */
  assert_int_equal(ockami_ext_payload_parse(NULL, 0), 0);
  assert_int_equal(ockami_ext_payload_parse(p, 5), 0);
  uint8_t q[16];
  memcpy(q, p, 6);
  q[0] = 'o';
  assert_int_equal(ockami_ext_payload_parse(q, 6), 0);
  memcpy(q, p, 6);
  q[4] = 2;
  assert_int_equal(ockami_ext_payload_parse(q, 6), 0);
  assert_int_equal(ockami_ext_payload_parse((const uint8_t *)"test_msg_0", 10), 0);
  /* Future flags and trailing bytes are tolerated. */
  memcpy(q, "OCKX\x01\xff\x00\x01\x02", 9);
  assert_int_equal(ockami_ext_payload_parse(q, 9), 0xff);
  assert_int_equal(ockami_ext_select(OCKAMI_EXT_FLAG_EXTENDED_FRAMING, 0xff),
                   OCKAMI_FRAMING_EXTENDED);
  memcpy(q, "OCKX\x01\xfe", 6);
  assert_int_equal(
      ockami_ext_select(OCKAMI_EXT_FLAG_EXTENDED_FRAMING, ockami_ext_payload_parse(q, 6)),
      OCKAMI_FRAMING_2021);

  assert_int_equal(ockami_ext_select(1, 1), OCKAMI_FRAMING_EXTENDED);
  assert_int_equal(ockami_ext_select(1, 0), OCKAMI_FRAMING_2021);
  assert_int_equal(ockami_ext_select(0, 1), OCKAMI_FRAMING_2021);
  assert_int_equal(ockami_ext_select(0, 0), OCKAMI_FRAMING_2021);
}

/* One handshake where each side announces (or not) and, optionally, an
 * attacker strips the initiator's m1 payload. Returns the framing each side
 * picked, or fails the handshake. */
typedef struct nego_case {
  bool init_announces;
  bool resp_announces;
  bool strip_m1_payload;
  int want_rc; /* of the initiator reading m2 */
  ockami_framing want;
} nego_case;

static void run_nego(ockam_vault *v, const nego_case *nc) {
  ockami_xx i, r;
  uint8_t msg[256], pl[64], ann[16];
  size_t len, plen, ann_len;
  assert_int_equal(ockami_xx_init(&i, v, true, NULL, 0, 0, 0), OCKAM_OK);
  assert_int_equal(ockami_xx_init(&r, v, false, NULL, 0, 0, 0), OCKAM_OK);
  uint8_t i_flags = nc->init_announces ? OCKAMI_EXT_FLAG_EXTENDED_FRAMING : 0;
  uint8_t r_flags = nc->resp_announces ? OCKAMI_EXT_FLAG_EXTENDED_FRAMING : 0;

  /* m1: initiator offers. */
  ann_len = 0;
  if (i_flags) assert_int_equal(ockami_ext_payload_write(i_flags, ann, sizeof ann, &ann_len), 0);
  assert_int_equal(ockami_xx_write(&i, ann, ann_len, msg, sizeof msg, &len), OCKAM_OK);
  if (nc->strip_m1_payload) len = 32;
  assert_int_equal(ockami_xx_read(&r, msg, len, pl, sizeof pl, &plen), OCKAM_OK);
  uint8_t r_remote = ockami_ext_payload_parse(pl, plen);

  /* m2: responder answers with its own flags. */
  ann_len = 0;
  if (r_flags) assert_int_equal(ockami_ext_payload_write(r_flags, ann, sizeof ann, &ann_len), 0);
  assert_int_equal(ockami_xx_write(&r, ann, ann_len, msg, sizeof msg, &len), OCKAM_OK);
  int rc = ockami_xx_read(&i, msg, len, pl, sizeof pl, &plen);
  assert_int_equal(rc, nc->want_rc);
  if (rc) {
    ockami_xx_clear(&i);
    ockami_xx_clear(&r);
    return;
  }
  uint8_t i_remote = ockami_ext_payload_parse(pl, plen);

  /* m3: empty payload. */
  assert_int_equal(ockami_xx_write(&i, NULL, 0, msg, sizeof msg, &len), OCKAM_OK);
  assert_int_equal(ockami_xx_read(&r, msg, len, pl, sizeof pl, &plen), OCKAM_OK);

  ockami_framing fi = ockami_ext_select(i_flags, i_remote);
  ockami_framing fr = ockami_ext_select(r_flags, r_remote);
  assert_int_equal(fi, nc->want);
  assert_int_equal(fr, nc->want);

  ockam_secret ie, id, re, rd;
  assert_int_equal(ockami_xx_split(&i, true, &ie, &id, NULL), OCKAM_OK);
  assert_int_equal(ockami_xx_split(&r, true, &re, &rd, NULL), OCKAM_OK);
  ockami_cipher ci, cr;
  assert_int_equal(ockami_cipher_init(&ci, v, fi, ie, id), OCKAM_OK);
  assert_int_equal(ockami_cipher_init(&cr, v, fr, re, rd), OCKAM_OK);
  uint8_t blob[64], out[64];
  size_t blen, olen;
  assert_int_equal(ockami_cipher_encrypt(&ci, (const uint8_t *)"hello", 5, blob, 64, &blen), 0);
  assert_int_equal(blen, 5 + ockami_cipher_overhead(nc->want));
  assert_int_equal(ockami_cipher_decrypt(&cr, blob, blen, out, 64, &olen), OCKAM_OK);
  assert_int_equal(ockami_cipher_encrypt(&cr, (const uint8_t *)"world", 5, blob, 64, &blen), 0);
  assert_int_equal(ockami_cipher_decrypt(&ci, blob, blen, out, 64, &olen), OCKAM_OK);
  assert_memory_equal(out, "world", 5);
  ockami_cipher_clear(&ci);
  ockami_cipher_clear(&cr);
  ockami_xx_clear(&i);
  ockami_xx_clear(&r);
}

static void test_negotiation(void **state) {
  ockam_vault *v = *state;
  static const nego_case cases[] = {
      {true, true, false, OCKAM_OK, OCKAMI_FRAMING_EXTENDED},
      {false, true, false, OCKAM_OK, OCKAMI_FRAMING_2021}, /* 2021 initiator */
      {true, false, false, OCKAM_OK, OCKAMI_FRAMING_2021}, /* 2021 responder */
      {false, false, false, OCKAM_OK, OCKAMI_FRAMING_2021},
      /* Downgrade attempt: the offer is hashed into h, so m2 no longer verifies. */
      {true, true, true, OCKAM_ECRYPTO, OCKAMI_FRAMING_2021},
  };
  for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) run_nego(v, &cases[c]);
}

/* --- rekeying -------------------------------------------------------------------------- */

/* REKEY(k1) and REKEY(REKEY(k1)): AES-256-GCM(k, 00x4 || ff x8, ad = empty,
 * 00 x32), first 32 bytes (computed with an independent AES-GCM). */
#define REKEY1 "405c9b77da53724f8c55109de64f4928b811b044e57e3ab9458a457f134b92cc"
#define REKEY2 "4bc5904b4685e1268c948c5699418a6766fd022985fa3a6679e13e91b5ac4136"

static void test_rekey_known_answer(void **state) {
  ockam_vault *v = *state;
  uint8_t k1[32], out[64];
  size_t len;
  hex_decode(K1, k1, 32);
  ockam_secret k = import_aes(v, k1), r1, r2;
  assert_int_equal(ockami_rekey(v, k, &r1), OCKAM_OK);
  assert_int_equal(ockami_rekey(v, r1, &r2), OCKAM_OK);
  assert_int_equal(ockam_vault_secret_export(v, r1, out, sizeof out, &len), OCKAM_OK);
  assert_hex(out, len, REKEY1);
  assert_int_equal(ockam_vault_secret_export(v, r2, out, sizeof out, &len), OCKAM_OK);
  assert_hex(out, len, REKEY2);
  ockam_secret_type t;
  assert_int_equal(ockam_vault_secret_info(v, r2, &t, NULL), OCKAM_OK);
  assert_int_equal(t, OCKAM_SECRET_AES256);
  ockam_vault_secret_destroy(v, k);
  ockam_vault_secret_destroy(v, r1);
  ockam_vault_secret_destroy(v, r2);
}

/* A sender a and a receiver b, rekeying every W messages. Steps send, deliver
 * (by send index, in any order), tamper, rekey on time, and check what the
 * receiver holds. */
typedef enum rk_op { RK_END, RK_SEND, RK_RECV, RK_FORGE, RK_NOW, RK_EXPECT, RK_COUNTER } rk_op;
typedef struct rk_step {
  rk_op op;
  uint64_t a; /* SEND: how many; RECV/FORGE: send index; EXPECT: rekeys received; COUNTER: index */
  int64_t b;  /* RECV/FORGE: expected rc; EXPECT: previous key held (1/0); COUNTER: counter */
} rk_step;
typedef struct rk_case {
  const char *name;
  rk_step steps[16];
} rk_case;

#define RK_MAX_SENT (5 * W)

static void run_rekey_case(ockam_vault *v, const rk_case *rc_) {
  duo d;
  duo_init(v, &d, OCKAMI_FRAMING_EXTENDED);
  assert_int_equal(ockami_cipher_enable_rekey(&d.a, W), OCKAM_OK);
  assert_int_equal(ockami_cipher_enable_rekey(&d.b, W), OCKAM_OK);
  size_t blen = 4 + ockami_cipher_overhead(OCKAMI_FRAMING_EXTENDED);
  uint8_t *blobs = calloc(RK_MAX_SENT, blen);
  assert_non_null(blobs);
  size_t sent = 0;
  for (const rk_step *s = rc_->steps; s->op != RK_END; s++) {
    uint8_t out[16], blob[64];
    size_t olen, got;
    switch (s->op) {
      case RK_SEND:
        for (uint64_t i = 0; i < s->a; i++, sent++) {
          assert_true(sent < RK_MAX_SENT);
          uint8_t pt[4] = {(uint8_t)(sent >> 24), (uint8_t)(sent >> 16), (uint8_t)(sent >> 8),
                           (uint8_t)sent};
          assert_int_equal(ockami_cipher_encrypt(&d.a, pt, 4, blobs + sent * blen, blen, &got),
                           OCKAM_OK);
        }
        break;
      case RK_RECV:
      case RK_FORGE: {
        memcpy(blob, blobs + s->a * blen, blen);
        if (s->op == RK_FORGE) blob[blen - 1] ^= 1;
        int rc = ockami_cipher_decrypt(&d.b, blob, blen, out, sizeof out, &olen);
        if (rc != s->b) print_error("%s: step %td: rc %d\n", rc_->name, s - rc_->steps, rc);
        assert_int_equal(rc, s->b);
        if (rc == OCKAM_OK) {
          assert_int_equal(olen, 4);
          uint64_t idx = (uint64_t)out[0] << 24 | (uint64_t)out[1] << 16 | out[2] << 8 | out[3];
          assert_int_equal(idx, s->a);
        }
        break;
      }
      case RK_NOW:
        assert_int_equal(ockami_cipher_rekey_now(&d.a), OCKAM_OK);
        break;
      case RK_EXPECT:
        if (ockami_cipher_get_stats(&d.b)->rekeys_received != s->a || (d.b.dec_prev != 0) != s->b)
          print_error("%s: step %td\n", rc_->name, s - rc_->steps);
        assert_int_equal(ockami_cipher_get_stats(&d.b)->rekeys_received, s->a);
        assert_int_equal(d.b.dec_prev != 0, s->b);
        break;
      case RK_COUNTER: {
        const uint8_t *p = blobs + s->a * blen;
        uint64_t n = 0;
        for (int i = 0; i < 8; i++) n = n << 8 | p[i];
        assert_int_equal(n, (uint64_t)s->b);
        break;
      }
      case RK_END:
        break;
    }
  }
  /* Only the current keys (and at most one previous receive key) are alive. */
  assert_int_equal(ockam_vault_secret_count(v), 4 + (d.b.dec_prev != 0));
  free(blobs);
  duo_clear(&d);
}

static void test_rekey_table(void **state) {
  ockam_vault *v = *state;
  static const rk_case cases[] = {
      {"in order across a key change; old key wiped once the window passed",
       {{RK_SEND, 2 * W + 1, 0},
        {RK_RECV, W - 1, OCKAM_OK},
        {RK_EXPECT, 0, 0},
        {RK_RECV, W, OCKAM_OK},
        {RK_EXPECT, 1, 1},
        {RK_RECV, 2 * W - 1, OCKAM_OK}, /* the window now starts at W: epoch 0 key wiped */
        {RK_EXPECT, 1, 0},
        {RK_RECV, 2 * W, OCKAM_OK},
        {RK_EXPECT, 2, 1},
        {RK_COUNTER, 2 * W, 2 * W},
        {RK_END, 0, 0}}},
      {"reordered across the change: the previous key still opens, once",
       {{RK_SEND, W + 2, 0},
        {RK_RECV, W + 1, OCKAM_OK},
        {RK_RECV, W, OCKAM_OK},
        {RK_EXPECT, 1, 1},
        {RK_RECV, W - 1, OCKAM_OK},
        {RK_RECV, 5, OCKAM_OK},
        {RK_RECV, W - 1, OCKAM_EREPLAY},
        {RK_RECV, W + 1, OCKAM_EREPLAY},
        {RK_RECV, 2, OCKAM_OK},
        {RK_RECV, 1, OCKAM_EREPLAY}, /* W + 1 behind the newest: too old */
        {RK_END, 0, 0}}},
      {"a forged message of the next epoch changes nothing",
       {{RK_SEND, W + 1, 0},
        {RK_RECV, 3, OCKAM_OK},
        {RK_FORGE, W, OCKAM_ECRYPTO},
        {RK_EXPECT, 0, 0},
        {RK_RECV, W, OCKAM_OK},
        {RK_EXPECT, 1, 1},
        {RK_END, 0, 0}}},
      {"rekey on time: the counter jumps to the next epoch",
       {{RK_SEND, 3, 0},
        {RK_NOW, 0, 0},
        {RK_NOW, 0, 0}, /* nothing sent under the new key: no second jump */
        {RK_SEND, 2, 0},
        {RK_COUNTER, 3, W},
        {RK_COUNTER, 4, W + 1},
        {RK_RECV, 3, OCKAM_OK},
        {RK_RECV, 1, OCKAM_OK},
        {RK_EXPECT, 1, 1},
        {RK_NOW, 0, 0},
        {RK_SEND, 1, 0},
        {RK_COUNTER, 5, 2 * W},
        {RK_RECV, 5, OCKAM_OK}, /* epoch 1 still in the window: kept as previous */
        {RK_RECV, 4, OCKAM_OK},
        {RK_EXPECT, 2, 1},
        {RK_END, 0, 0}}},
      {"lost messages: the receiver skips epochs",
       {{RK_SEND, 3 * W + 1, 0},
        {RK_RECV, 0, OCKAM_OK},
        {RK_RECV, 3 * W, OCKAM_OK},
        {RK_EXPECT, 3, 1},
        {RK_RECV, 3 * W - 1, OCKAM_OK},
        {RK_RECV, 2 * W - 1, OCKAM_EREPLAY},
        {RK_END, 0, 0}}},
  };
  for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) run_rekey_case(v, &cases[c]);
}

static void test_rekey_limits(void **state) {
  ockam_vault *v = *state;
  duo d;
  /* Not with 2021 framing, not below the window, not after traffic. */
  duo_init(v, &d, OCKAMI_FRAMING_2021);
  assert_int_equal(ockami_cipher_enable_rekey(&d.a, W), OCKAM_EINVAL);
  assert_int_equal(ockami_cipher_rekey_now(&d.a), OCKAM_ENOTSUP);
  duo_clear(&d);
  duo_init(v, &d, OCKAMI_FRAMING_EXTENDED);
  assert_int_equal(ockami_cipher_enable_rekey(&d.a, W - 1), OCKAM_EINVAL);
  uint8_t blob[64], out[64];
  size_t blen, olen;
  assert_int_equal(ockami_cipher_encrypt(&d.a, (const uint8_t *)"x", 1, blob, 64, &blen), 0);
  assert_int_equal(ockami_cipher_enable_rekey(&d.a, W), OCKAM_ESTATE);
  assert_int_equal(ockami_cipher_enable_rekey(&d.b, W), OCKAM_OK);
  /* A counter more than OCKAM_REKEY_MAX_SKIP epochs ahead costs no key work. */
  size_t before = ockam_vault_secret_count(v);
  uint64_t far = (OCKAM_REKEY_MAX_SKIP + 1) * W;
  for (int i = 0; i < 8; i++) blob[i] = (uint8_t)(far >> (56 - 8 * i));
  assert_int_equal(ockami_cipher_decrypt(&d.b, blob, blen, out, 64, &olen), OCKAM_EMALFORMED);
  assert_int_equal(ockami_cipher_get_stats(&d.b)->malformed, 1);
  assert_int_equal(ockam_vault_secret_count(v), before);
  duo_clear(&d);
}

static void test_rekey_negotiation(void **state) {
  (void)state;
  uint8_t p[16];
  size_t len;
  uint8_t both = OCKAMI_EXT_FLAG_EXTENDED_FRAMING | OCKAMI_EXT_FLAG_REKEY;
  assert_int_equal(ockami_ext_offer_write(both, 65536, p, 9, &len), OCKAM_EOVERFLOW);
  assert_int_equal(ockami_ext_offer_write(both, 65536, p, sizeof p, &len), OCKAM_OK);
  assert_hex(p, len, "4f434b58010300010000");
  uint32_t m;
  assert_int_equal(ockami_ext_offer_parse(p, len, &m), both);
  assert_int_equal(m, 65536);
  /* A version-1 receiver without rekeying reads only the framing flag. */
  assert_int_equal(
      ockami_ext_select(OCKAMI_EXT_FLAG_EXTENDED_FRAMING, ockami_ext_payload_parse(p, len)),
      OCKAMI_FRAMING_EXTENDED);
  /* Flag without its field, or a zero interval: no rekeying offered. */
  assert_int_equal(ockami_ext_offer_parse(p, 6, &m), OCKAMI_EXT_FLAG_EXTENDED_FRAMING);
  assert_int_equal(m, 0);
  memcpy(p + 6, "\0\0\0\0", 4);
  assert_int_equal(ockami_ext_offer_parse(p, 10, &m), OCKAMI_EXT_FLAG_EXTENDED_FRAMING);
  assert_int_equal(ockami_ext_rekey_select(both, 100000, both, 70000), 70000);
  assert_int_equal(ockami_ext_rekey_select(both, 10, both, 70000), W);
  assert_int_equal(ockami_ext_rekey_select(both, 100000, OCKAMI_EXT_FLAG_EXTENDED_FRAMING, 0), 0);
  assert_int_equal(ockami_ext_rekey_select(OCKAMI_EXT_FLAG_REKEY, 100000, both, 100000), 0);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_ext_payload),
      cmocka_unit_test_setup_teardown(test_negotiation, ts_vault_setup, ts_vault_teardown),
      cmocka_unit_test_setup_teardown(test_rekey_known_answer, ts_vault_setup, ts_vault_teardown),
      cmocka_unit_test_setup_teardown(test_rekey_table, ts_vault_setup, ts_vault_teardown),
      cmocka_unit_test_setup_teardown(test_rekey_limits, ts_vault_setup, ts_vault_teardown),
      cmocka_unit_test(test_rekey_negotiation),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
