/* Channel cipher tests: Ockam data vectors (vectors §3.3 E9b, E9d), the replay
 * window (table-driven and against a reference model), malformed and forged
 * blobs, counter limits and misuse. Negotiation and rekeying: cipher_rekey_test.c. */
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

/* --- Ockam vectors ------------------------------------------------------------------ */

/* TM onward [0#echoer] return [0#app] payload "Hello World!" */
#define E9A "010100066563686f65720100036170700d0c48656c6c6f20576f726c6421"
#define E9B                                                          \
  "00005308337afec6aedf33b64cc7c0fdd90cdbaa005171fa9f217434af1b6502" \
  "b96ff99ed4be6e7ced7d4fc4988f5179"
/* TM onward [0#app] return [0#echoer] payload "Hello World!" */
#define E9D_PLAIN "010100036170700100066563686f65720d0c48656c6c6f20576f726c6421"
#define E9D                                                          \
  "0000e6c5b671cdb8ef8b98d917f436ec17363b5fdc3fe1b89967e9d16c01eafa" \
  "d1a7de08f0f09fcf74fbe8de9f814733"

/* Both ends of the vectors' channel (2021 framing, counters at 0). Ockam key
 * order (spec §5.3): the initiator encrypts with k2, the responder with k1. */
static void vector_ends(ockam_vault *v, ockami_cipher *init, ockami_cipher *resp) {
  uint8_t k1[32], k2[32];
  hex_decode(K1, k1, 32);
  hex_decode(K2, k2, 32);
  assert_int_equal(
      ockami_cipher_init(init, v, OCKAMI_FRAMING_2021, import_aes(v, k2), import_aes(v, k1)),
      OCKAM_OK);
  assert_int_equal(
      ockami_cipher_init(resp, v, OCKAMI_FRAMING_2021, import_aes(v, k1), import_aes(v, k2)),
      OCKAM_OK);
}

static void test_ockam_vectors(void **state) {
  ockam_vault *v = *state;
  uint8_t pt[64], blob[128], out[128];
  size_t pt_len, blob_len, out_len;
  ockami_cipher init, resp;
  vector_ends(v, &init, &resp);

  /* E9b: initiator -> responder, nonce 0 */
  pt_len = hex_decode(E9A, pt, sizeof pt);
  assert_int_equal(ockami_cipher_encrypt(&init, pt, pt_len, blob, sizeof blob, &blob_len),
                   OCKAM_OK);
  assert_hex(blob, blob_len, E9B);
  assert_int_equal(ockami_cipher_decrypt(&resp, blob, blob_len, out, sizeof out, &out_len),
                   OCKAM_OK);
  assert_hex(out, out_len, E9A);

  /* E9d: the reply, responder -> initiator, nonce 0 */
  pt_len = hex_decode(E9D_PLAIN, pt, sizeof pt);
  assert_int_equal(ockami_cipher_encrypt(&resp, pt, pt_len, blob, sizeof blob, &blob_len),
                   OCKAM_OK);
  assert_hex(blob, blob_len, E9D);
  assert_int_equal(ockami_cipher_decrypt(&init, blob, blob_len, out, sizeof out, &out_len),
                   OCKAM_OK);
  assert_hex(out, out_len, E9D_PLAIN);

  /* Second messages carry nonce 1. */
  assert_int_equal(ockami_cipher_encrypt(&init, pt, pt_len, blob, sizeof blob, &blob_len),
                   OCKAM_OK);
  assert_int_equal(blob[0], 0);
  assert_int_equal(blob[1], 1);
  assert_int_equal(ockami_cipher_get_stats(&init)->sent, 2);
  assert_int_equal(ockami_cipher_get_stats(&init)->delivered, 1);
  ockami_cipher_clear(&init);
  ockami_cipher_clear(&resp);
}

/* --- replay window, table driven ------------------------------------------------------ */

#define OK OCKAMI_REPLAY_OK
#define SEEN OCKAMI_REPLAY_SEEN
#define OLD OCKAMI_REPLAY_TOO_OLD

typedef struct step {
  uint64_t n;
  ockami_replay_verdict want;
} step;

typedef struct table {
  const char *name;
  step steps[12];
} table;

#define END \
  { 0, (ockami_replay_verdict)-1 }
#define T12 UINT64_C(1000000000000)

static const table replay_tables[] = {
    {"in order", {{0, OK}, {1, OK}, {2, OK}, {3, OK}, {4, OK}, END}},
    {"duplicates", {{0, OK}, {0, SEEN}, {1, OK}, {1, SEEN}, {0, SEEN}, {2, OK}, {2, SEEN}, END}},
    {"reorder inside the window, each once",
     {{10, OK},
      {5, OK},
      {7, OK},
      {5, SEEN},
      {6, OK},
      {9, OK},
      {8, OK},
      {10, SEEN},
      {11, OK},
      {7, SEEN},
      END}},
    {"window edges",
     {{3000, OK},
      {3000 - W + 1, OK},
      {3000 - W, OLD},
      {3000 - W + 1, SEEN},
      {3000, SEEN},
      {3001, OK},
      {3001 - W, OLD},
      {3001 - W + 1, OK},
      {2999, OK},
      END}},
    {"huge jump",
     {{1, OK},
      {T12, OK},
      {2, OLD},
      {T12 - 1, OK},
      {T12 - W + 1, OK},
      {T12 - W, OLD},
      {T12, SEEN},
      {T12 + 1, OK},
      END}},
    {"first counter far from zero", {{5000, OK}, {0, OLD}, {4999, OK}, {5000 - W + 1, OK}, END}},
    {"same ring bit one lap later",
     {{5, OK},
      {5 + 64 * (W / 64 + 1), OK},
      {5 + 64 * (W / 64 + 1), SEEN},
      {70, OK},
      {5, OLD},
      END}},
    {"block by block",
     {{63, OK},
      {64, OK},
      {0, OK},
      {0, SEEN},
      {127, OK},
      {128, OK},
      {63, SEEN},
      {64, SEEN},
      {65, OK},
      END}},
    {"just over a window ahead clears everything",
     {{0, OK}, {1, OK}, {W + 1, OK}, {1, OLD}, {2, OK}, {W, OK}, {W + 1, SEEN}, END}},
    {"top of the counter space",
     {{UINT64_MAX - 2, OK},
      {UINT64_MAX - 1, OK},
      {UINT64_MAX - 2, SEEN},
      {UINT64_MAX - 1, SEEN},
      {UINT64_MAX - W, OK},
      {UINT64_MAX - 1 - W, OLD},
      END}},
};

/* The two-piece seal (a large payload sealed straight from its message)
 * makes the same blob as sealing the joined plaintext: vector E9b split at
 * every point, the head sealed in place as the channel does. */
static void test_two_piece_seal(void **state) {
  ockam_vault *v = *state;
  uint8_t pt[64], blob[128], out[128];
  size_t pt_len = hex_decode(E9A, pt, sizeof pt);
  for (size_t split = 0; split <= pt_len; split++) {
    ockami_cipher init, resp;
    vector_ends(v, &init, &resp);
    assert_true(ockami_cipher_can_encrypt2(&init));
    size_t hdr = ockami_cipher_overhead(OCKAMI_FRAMING_2021) - OCKAM_AEAD_TAG_LEN;
    memset(blob, 0xee, sizeof blob);
    memcpy(blob + hdr, pt, split);
    size_t blob_len = 0, out_len = 0;
    assert_int_equal(ockami_cipher_encrypt2(&init, blob + hdr, split, pt + split, pt_len - split,
                                            blob, sizeof blob, &blob_len),
                     OCKAM_OK);
    assert_hex(blob, blob_len, E9B);
    assert_int_equal(ockami_cipher_decrypt(&resp, blob, blob_len, out, sizeof out, &out_len),
                     OCKAM_OK);
    assert_hex(out, out_len, E9A);
    assert_int_equal(ockami_cipher_get_stats(&init)->sent, 1);
    /* Too small an output: refused, the counter unchanged. */
    assert_int_equal(ockami_cipher_encrypt2(&init, pt, split, pt + split, pt_len - split, out,
                                            pt_len + hdr + OCKAM_AEAD_TAG_LEN - 1, &out_len),
                     OCKAM_EOVERFLOW);
    assert_int_equal(ockami_cipher_get_stats(&init)->sent, 1);
    ockami_cipher_clear(&init);
    ockami_cipher_clear(&resp);
  }
}

static void test_replay_tables(void **state) {
  (void)state;
  for (size_t t = 0; t < sizeof replay_tables / sizeof replay_tables[0]; t++) {
    ockami_replay r;
    ockami_replay_init(&r);
    for (size_t i = 0; i < 12 && replay_tables[t].steps[i].want != (ockami_replay_verdict)-1; i++) {
      const step *s = &replay_tables[t].steps[i];
      ockami_replay_verdict got = ockami_replay_check(&r, s->n);
      if (got != s->want) {
        fail_msg("%s, step %zu (n=%llu): got %d want %d", replay_tables[t].name, i,
                 (unsigned long long)s->n, (int)got, (int)s->want);
      }
      if (got == OK) ockami_replay_mark(&r, s->n);
    }
  }
}

/* The window against a plain model: a "seen" flag per counter and the maximum. */
static void test_replay_model(void **state) {
  (void)state;
  enum { SPACE = 1 << 22 };
  uint8_t *seen = calloc(SPACE, 1);
  assert_non_null(seen);
  ockami_replay r;
  ockami_replay_init(&r);
  uint64_t max = 0;
  bool any = false;
  uint32_t x = 12345;
  uint64_t pos = 0;
  int i;
  for (i = 0; i < 300000; i++) {
    x = x * 1103515245u + 12345u;
    uint32_t rnd = x >> 8;
    uint64_t n;
    switch (rnd % 8) {
      case 0: /* far behind */
        n = pos > 5000 ? pos - 5000 + rnd % 3000 : rnd % 100;
        break;
      case 1: /* ahead: mostly a little, sometimes past the whole window */
        n = pos + (rnd % 64 == 0 ? rnd % 5000 : rnd % 100);
        break;
      default: /* near the front, both sides */
        n = pos + 40 > rnd % 80 ? pos + 40 - rnd % 80 : 0;
        break;
    }
    if (n >= SPACE - 4000) break;
    if (n > pos) pos = n;
    ockami_replay_verdict want;
    if (!any || n > max) {
      want = OK;
    } else if (max - n >= W) {
      want = OLD;
    } else {
      want = seen[n] ? SEEN : OK;
    }
    ockami_replay_verdict got = ockami_replay_check(&r, n);
    if (got != want) fail_msg("op %d n=%llu: got %d want %d", i, (unsigned long long)n, got, want);
    if (got == OK) {
      ockami_replay_mark(&r, n);
      seen[n] = 1;
      if (!any || n > max) max = n;
      any = true;
    }
  }
  assert_true(i > 200000); /* the walk stayed inside the model's counter space */
  free(seen);
}

/* --- cipher: replay, reorder, forgeries ------------------------------------------------ */

static void test_cipher_replay_and_reorder(void **state) {
  ockam_vault *v = *state;
  for (int f = 0; f < 2; f++) {
    duo d;
    duo_init(v, &d, (ockami_framing)f);
    enum { N = 12 };
    uint8_t blobs[N][64], out[64];
    size_t lens[N], out_len;
    for (int i = 0; i < N; i++) {
      uint8_t pt[4] = {'m', 's', 'g', (uint8_t)i};
      assert_int_equal(ockami_cipher_encrypt(&d.a, pt, 4, blobs[i], 64, &lens[i]), OCKAM_OK);
      assert_int_equal(lens[i], 4 + ockami_cipher_overhead((ockami_framing)f));
    }
    static const int order[N] = {3, 0, 1, 7, 2, 11, 4, 5, 10, 6, 9, 8};
    for (int i = 0; i < N; i++) {
      int k = order[i];
      assert_int_equal(ockami_cipher_decrypt(&d.b, blobs[k], lens[k], out, sizeof out, &out_len),
                       OCKAM_OK);
      assert_int_equal(out_len, 4);
      assert_int_equal(out[3], k);
      /* Delivered exactly once. */
      assert_int_equal(ockami_cipher_decrypt(&d.b, blobs[k], lens[k], out, sizeof out, &out_len),
                       OCKAM_EREPLAY);
    }
    const ockami_cipher_stats *st = ockami_cipher_get_stats(&d.b);
    assert_int_equal(st->delivered, N);
    assert_int_equal(st->replayed, N);
    assert_int_equal(st->too_old, 0);
    duo_clear(&d);
  }
}

static void test_cipher_too_old(void **state) {
  ockam_vault *v = *state;
  duo d;
  duo_init(v, &d, OCKAMI_FRAMING_2021);
  uint8_t first[64], second[64], third[64], blob[64], out[64];
  size_t l1, l2, l3, len, out_len;
  assert_int_equal(ockami_cipher_encrypt(&d.a, (const uint8_t *)"a", 1, first, 64, &l1), OCKAM_OK);
  assert_int_equal(ockami_cipher_encrypt(&d.a, (const uint8_t *)"b", 1, second, 64, &l2), OCKAM_OK);
  assert_int_equal(ockami_cipher_encrypt(&d.a, (const uint8_t *)"c", 1, third, 64, &l3), OCKAM_OK);
  for (uint64_t i = 3; i < W + 1; i++) {
    assert_int_equal(ockami_cipher_encrypt(&d.a, (const uint8_t *)"x", 1, blob, 64, &len),
                     OCKAM_OK);
  }
  /* Deliver counter W + 1 first: 0 is W + 1 behind, 1 is exactly W behind, 2 is inside. */
  assert_int_equal(ockami_cipher_encrypt(&d.a, (const uint8_t *)"z", 1, blob, 64, &len), OCKAM_OK);
  assert_int_equal(ockami_cipher_decrypt(&d.b, blob, len, out, 64, &out_len), OCKAM_OK);
  assert_int_equal(ockami_cipher_decrypt(&d.b, first, l1, out, 64, &out_len), OCKAM_EREPLAY);
  assert_int_equal(ockami_cipher_decrypt(&d.b, second, l2, out, 64, &out_len), OCKAM_EREPLAY);
  assert_int_equal(ockami_cipher_decrypt(&d.b, third, l3, out, 64, &out_len), OCKAM_OK);
  assert_int_equal(out[0], 'c');
  assert_int_equal(ockami_cipher_get_stats(&d.b)->too_old, 2);
  assert_int_equal(ockami_cipher_get_stats(&d.b)->delivered, 2);
  duo_clear(&d);
}

/* Blob of counter n sealed directly with the vault (any counter, any framing). */
static size_t seal_at(ockam_vault *v, const uint8_t key[32], ockami_framing f, uint64_t n,
                      const uint8_t *pt, size_t len, uint8_t *out) {
  ockam_secret k = import_aes(v, key);
  size_t hdr = f == OCKAMI_FRAMING_EXTENDED ? 8 : 2;
  uint8_t nonce[12] = {0};
  for (int i = 0; i < 8; i++) nonce[4 + i] = (uint8_t)(n >> (56 - 8 * i));
  for (size_t i = 0; i < hdr; i++) out[i] = (uint8_t)(n >> (8 * (hdr - 1 - i)));
  size_t ct_len;
  assert_int_equal(ockam_vault_aead_encrypt(v, k, nonce, NULL, 0, pt, len, out + hdr, 256, &ct_len),
                   OCKAM_OK);
  ockam_vault_secret_destroy(v, k);
  return hdr + ct_len;
}

static void test_cipher_malformed_and_forged(void **state) {
  ockam_vault *v = *state;
  for (int f = 0; f < 2; f++) {
    ockami_framing fr = (ockami_framing)f;
    size_t hdr = fr == OCKAMI_FRAMING_EXTENDED ? 8 : 2;
    uint8_t key[32], other[32];
    assert_int_equal(ockam_vault_random(v, key, 32), OCKAM_OK);
    assert_int_equal(ockam_vault_random(v, other, 32), OCKAM_OK);
    ockami_cipher c;
    assert_int_equal(ockami_cipher_init(&c, v, fr, import_aes(v, other), import_aes(v, key)),
                     OCKAM_OK);
    const uint8_t pt[] = "attack at dawn";
    uint8_t blob[256], bad[256], out[256];
    size_t out_len = 0;
    size_t len = seal_at(v, key, fr, 7, pt, sizeof pt, blob);

    /* Too short for header, or for header + tag. */
    size_t short_lens[] = {0, 1, hdr - 1, hdr, hdr + 15};
    for (size_t i = 0; i < sizeof short_lens / sizeof short_lens[0]; i++) {
      assert_int_equal(ockami_cipher_decrypt(&c, blob, short_lens[i], out, sizeof out, &out_len),
                       OCKAM_ETRUNC);
    }
    assert_int_equal(ockami_cipher_get_stats(&c)->malformed, 5);

    /* One flipped bit anywhere: in the counter, the ciphertext, the tag. */
    size_t flips[] = {hdr - 1, hdr, hdr + 5, len - 16, len - 1};
    for (size_t i = 0; i < sizeof flips / sizeof flips[0]; i++) {
      memcpy(bad, blob, len);
      bad[flips[i]] ^= 0x04;
      memset(out, 0x55, sizeof out);
      assert_int_equal(ockami_cipher_decrypt(&c, bad, len, out, sizeof out, &out_len),
                       OCKAM_ECRYPTO);
      assert_int_equal(out_len, 0);
      for (size_t k = 0; k < sizeof pt; k++) assert_int_equal(out[k], 0);
    }
    /* Sealed with the wrong key; tag cut short by one byte. */
    size_t wrong = seal_at(v, other, fr, 8, pt, sizeof pt, bad);
    assert_int_equal(ockami_cipher_decrypt(&c, bad, wrong, out, sizeof out, &out_len),
                     OCKAM_ECRYPTO);
    assert_int_equal(ockami_cipher_decrypt(&c, blob, len - 1, out, sizeof out, &out_len),
                     OCKAM_ECRYPTO);
    /* A forged far-ahead counter does not move the window. */
    uint64_t far = fr == OCKAMI_FRAMING_EXTENDED ? UINT64_C(1) << 40 : 60000;
    memcpy(bad, blob, len);
    for (size_t i = 0; i < hdr; i++) bad[i] = (uint8_t)(far >> (8 * (hdr - 1 - i)));
    assert_int_equal(ockami_cipher_decrypt(&c, bad, len, out, sizeof out, &out_len), OCKAM_ECRYPTO);
    assert_int_equal(ockami_cipher_get_stats(&c)->auth_failed, 8);
    assert_int_equal(ockami_cipher_get_stats(&c)->delivered, 0);

    /* The genuine message is still delivered, once. */
    assert_int_equal(ockami_cipher_decrypt(&c, blob, len, out, sizeof out, &out_len), OCKAM_OK);
    assert_int_equal(out_len, sizeof pt);
    assert_memory_equal(out, pt, sizeof pt);
    assert_int_equal(ockami_cipher_decrypt(&c, blob, len, out, sizeof out, &out_len),
                     OCKAM_EREPLAY);
    /* Output buffer too small: refused, not counted, not consumed. */
    size_t len2 = seal_at(v, key, fr, 9, pt, sizeof pt, blob);
    assert_int_equal(ockami_cipher_decrypt(&c, blob, len2, out, sizeof pt - 1, &out_len),
                     OCKAM_EOVERFLOW);
    assert_int_equal(ockami_cipher_decrypt(&c, blob, len2, out, sizeof out, &out_len), OCKAM_OK);

    if (fr == OCKAMI_FRAMING_EXTENDED) {
      /* 2^64-2 is the last valid counter; 2^64-1 is malformed. */
      len = seal_at(v, key, fr, UINT64_MAX - 1, pt, sizeof pt, blob);
      assert_int_equal(ockami_cipher_decrypt(&c, blob, len, out, sizeof out, &out_len), OCKAM_OK);
      len = seal_at(v, key, fr, UINT64_MAX, pt, sizeof pt, blob);
      assert_int_equal(ockami_cipher_decrypt(&c, blob, len, out, sizeof out, &out_len),
                       OCKAM_EMALFORMED);
    }
    const ockami_cipher_stats *st = ockami_cipher_get_stats(&c);
    assert_int_equal(st->replayed, 1);
    assert_int_equal(st->malformed, fr == OCKAMI_FRAMING_EXTENDED ? 6 : 5);
    ockami_cipher_clear(&c);
  }
}

/* --- counter limits and volume -------------------------------------------------------- */

static void test_2021_refuses_65536th_send(void **state) {
  ockam_vault *v = *state;
  duo d;
  duo_init(v, &d, OCKAMI_FRAMING_2021);
  uint8_t blob[64], out[64];
  size_t len = 0, out_len;
  for (uint32_t i = 0; i < 65535; i++) {
    uint8_t pt[4] = {(uint8_t)(i >> 24), (uint8_t)(i >> 16), (uint8_t)(i >> 8), (uint8_t)i};
    assert_int_equal(ockami_cipher_encrypt(&d.a, pt, 4, blob, sizeof blob, &len), OCKAM_OK);
    assert_int_equal(blob[0], (uint8_t)(i >> 8));
    assert_int_equal(blob[1], (uint8_t)i);
    assert_int_equal(ockami_cipher_decrypt(&d.b, blob, len, out, sizeof out, &out_len), OCKAM_OK);
    assert_memory_equal(out, pt, 4);
  }
  /* Counter 0xffff is never used. */
  memset(blob, 0x77, sizeof blob);
  assert_int_equal(ockami_cipher_encrypt(&d.a, (const uint8_t *)"x", 1, blob, sizeof blob, &len),
                   OCKAM_ENONCE);
  assert_int_equal(len, 0);
  assert_int_equal(ockami_cipher_encrypt(&d.a, (const uint8_t *)"x", 1, blob, sizeof blob, &len),
                   OCKAM_ENONCE);
  assert_int_equal(ockami_cipher_get_stats(&d.a)->sent, 65535);
  assert_int_equal(ockami_cipher_get_stats(&d.b)->delivered, 65535);
  /* The other direction is independent. */
  assert_int_equal(ockami_cipher_encrypt(&d.b, (const uint8_t *)"x", 1, blob, sizeof blob, &len),
                   OCKAM_OK);
  duo_clear(&d);
}

static void test_extended_carries_many(void **state) {
  ockam_vault *v = *state;
  duo d;
  duo_init(v, &d, OCKAMI_FRAMING_EXTENDED);
  enum { N = 150000 };
  uint8_t blob[128], out[128], pt[64];
  size_t len, out_len;
  for (uint32_t i = 0; i < N; i++) {
    memset(pt, (int)(i & 0xff), sizeof pt);
    memcpy(pt, &i, sizeof i);
    assert_int_equal(ockami_cipher_encrypt(&d.a, pt, sizeof pt, blob, sizeof blob, &len), OCKAM_OK);
    if (i == 70000) assert_hex(blob, 8, "0000000000011170");
    assert_int_equal(ockami_cipher_decrypt(&d.b, blob, len, out, sizeof out, &out_len), OCKAM_OK);
    assert_int_equal(out_len, sizeof pt);
    assert_memory_equal(out, pt, sizeof pt);
  }
  assert_int_equal(ockami_cipher_get_stats(&d.b)->delivered, N);
  duo_clear(&d);
}

static void test_extended_counter_limit(void **state) {
  ockam_vault *v = *state;
  duo d;
  duo_init(v, &d, OCKAMI_FRAMING_EXTENDED);
  uint8_t blob[64], out[64];
  size_t len, out_len;
  d.a.send_n = UINT64_MAX - 1; /* as if 2^64-2 messages had been sent */
  assert_int_equal(ockami_cipher_encrypt(&d.a, (const uint8_t *)"last", 4, blob, 64, &len),
                   OCKAM_OK);
  assert_hex(blob, 8, "fffffffffffffffe");
  assert_int_equal(ockami_cipher_decrypt(&d.b, blob, len, out, 64, &out_len), OCKAM_OK);
  assert_int_equal(ockami_cipher_encrypt(&d.a, (const uint8_t *)"more", 4, blob, 64, &len),
                   OCKAM_ENONCE);
  duo_clear(&d);
}

static void test_cipher_misuse(void **state) {
  ockam_vault *v = *state;
  ockami_cipher c;
  uint8_t key[32] = {1}, blob[64];
  size_t len;
  memset(&c, 0, sizeof c);
  assert_int_equal(ockami_cipher_encrypt(&c, (const uint8_t *)"x", 1, blob, 64, &len),
                   OCKAM_ESTATE);
  assert_int_equal(ockami_cipher_decrypt(&c, blob, 20, blob, 64, &len), OCKAM_ESTATE);
  ockami_cipher_clear(&c);

  ockam_secret aes = import_aes(v, key);
  ockam_secret buf;
  assert_int_equal(ockam_vault_secret_import(v, OCKAM_SECRET_BUFFER, key, 32, &buf), OCKAM_OK);
  assert_int_equal(ockami_cipher_init(&c, v, OCKAMI_FRAMING_2021, aes, buf), OCKAM_EINVAL);
  assert_int_equal(ockami_cipher_init(&c, v, OCKAMI_FRAMING_2021, aes, aes), OCKAM_EINVAL);
  assert_int_equal(ockami_cipher_init(&c, v, (ockami_framing)7, aes, aes), OCKAM_EINVAL);
  assert_int_equal(ockami_cipher_init(&c, v, OCKAMI_FRAMING_2021, aes, 0xabcdef), OCKAM_ENOTFOUND);
  /* Failed init leaves the keys with the caller. */
  assert_int_equal(ockam_vault_secret_count(v), 2);
  ockam_secret aes2 = import_aes(v, key);
  assert_int_equal(ockami_cipher_init(&c, v, OCKAMI_FRAMING_2021, aes, aes2), OCKAM_OK);
  assert_int_equal(ockami_cipher_encrypt(&c, (const uint8_t *)"x", 1, blob, 18, &len),
                   OCKAM_EOVERFLOW);
  assert_int_equal(ockami_cipher_encrypt(&c, (const uint8_t *)"x", 1, blob, 19, &len), OCKAM_OK);
  ockami_cipher_clear(&c);
  assert_int_equal(ockam_vault_secret_count(v), 1);
  ockam_vault_secret_destroy(v, buf);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_ockam_vectors, ts_vault_setup, ts_vault_teardown),
      cmocka_unit_test_setup_teardown(test_two_piece_seal, ts_vault_setup, ts_vault_teardown),
      cmocka_unit_test(test_replay_tables),
      cmocka_unit_test(test_replay_model),
      cmocka_unit_test_setup_teardown(test_cipher_replay_and_reorder, ts_vault_setup,
                                      ts_vault_teardown),
      cmocka_unit_test_setup_teardown(test_cipher_too_old, ts_vault_setup, ts_vault_teardown),
      cmocka_unit_test_setup_teardown(test_cipher_malformed_and_forged, ts_vault_setup,
                                      ts_vault_teardown),
      cmocka_unit_test_setup_teardown(test_2021_refuses_65536th_send, ts_vault_setup,
                                      ts_vault_teardown),
      cmocka_unit_test_setup_teardown(test_extended_carries_many, ts_vault_setup,
                                      ts_vault_teardown),
      cmocka_unit_test_setup_teardown(test_extended_counter_limit, ts_vault_setup,
                                      ts_vault_teardown),
      cmocka_unit_test_setup_teardown(test_cipher_misuse, ts_vault_setup, ts_vault_teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
