/* Channel cipher tests: Ockam data vectors (vectors §3.3 E9b, E9d), the replay
 * window (table-driven and against a reference model), malformed and forged
 * blobs, counter limits, and the extension negotiation over a real handshake. */
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
#include "xx.h"

#define W ((uint64_t)OCKAM_REPLAY_WINDOW)

static ockam_secret import_aes(ockam_vault *v, const uint8_t key[32]) {
  ockam_secret s = 0;
  assert_int_equal(ockam_vault_secret_import(v, OCKAM_SECRET_AES256, key, 32, &s), OCKAM_OK);
  return s;
}

/* a sends to b with key ab, b sends to a with key ba. */
typedef struct duo {
  ockami_cipher a;
  ockami_cipher b;
} duo;

static void duo_init(ockam_vault *v, duo *d, ockami_framing f) {
  uint8_t ab[32], ba[32];
  assert_int_equal(ockam_vault_random(v, ab, 32), OCKAM_OK);
  assert_int_equal(ockam_vault_random(v, ba, 32), OCKAM_OK);
  assert_int_equal(ockami_cipher_init(&d->a, v, f, import_aes(v, ab), import_aes(v, ba)), OCKAM_OK);
  assert_int_equal(ockami_cipher_init(&d->b, v, f, import_aes(v, ba), import_aes(v, ab)), OCKAM_OK);
}

static void duo_clear(duo *d) {
  ockami_cipher_clear(&d->a);
  ockami_cipher_clear(&d->b);
}

/* --- Ockam vectors ------------------------------------------------------------------ */

#define K1 "b1c674b6535fb1d208772a972cac2cbf04d6aa087cbbd3eb8558a1a3abcaa7fb"
#define K2 "109c4b99ea3a4784ff55af5eed86c99e853f5a76d83ce437a9e3e27ede242a6a"
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

static void test_ockam_vectors(void **state) {
  ockam_vault *v = *state;
  uint8_t k1[32], k2[32], pt[64], blob[128], out[128];
  size_t pt_len, blob_len, out_len;
  hex_decode(K1, k1, 32);
  hex_decode(K2, k2, 32);
  /* Ockam key order (spec §5.3): initiator encrypts with k2, responder with k1. */
  ockami_cipher init, resp;
  assert_int_equal(
      ockami_cipher_init(&init, v, OCKAMI_FRAMING_2021, import_aes(v, k2), import_aes(v, k1)),
      OCKAM_OK);
  assert_int_equal(
      ockami_cipher_init(&resp, v, OCKAMI_FRAMING_2021, import_aes(v, k1), import_aes(v, k2)),
      OCKAM_OK);

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
      cmocka_unit_test_setup_teardown(test_ockam_vectors, ts_vault_setup, ts_vault_teardown),
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
      cmocka_unit_test(test_ext_payload),
      cmocka_unit_test_setup_teardown(test_negotiation, ts_vault_setup, ts_vault_teardown),
      cmocka_unit_test_setup_teardown(test_rekey_known_answer, ts_vault_setup, ts_vault_teardown),
      cmocka_unit_test_setup_teardown(test_rekey_table, ts_vault_setup, ts_vault_teardown),
      cmocka_unit_test_setup_teardown(test_rekey_limits, ts_vault_setup, ts_vault_teardown),
      cmocka_unit_test(test_rekey_negotiation),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
