/* Batched records: the byte vector of docs/protocol-extensions.md, sealed and
 * opened with the vector key, refusals of malformed batches, the encoder's
 * caps and the negotiation rule. */
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

#include "batch.h"
#include "cipher.h"
#include "message.h"
#include "ockam/vault.h"
#include "test_cipher.h"
#include "wire.h"

/* Two TransportMessages: onward [0#"a"], no return route, payload "hi"; and
 * onward [0#"b"], payload "!". */
#define ITEM1 "01 01 00 01 61 00 02 68 69"
#define ITEM2 "01 01 00 01 62 00 01 21"
#define BATCH "ba 0002 0009 " ITEM1 " 0008 " ITEM2
/* BATCH sealed with the vector key k1 in extended framing, counter 5. */
#define SEALED                                                \
  "0000000000000005"                                          \
  "faaeeed33efd1d5865f9e976861e467bc2323e39c9951542 00600a72" \
  "a7d8cee26e3b4aa4bdb90432"

static ockam_message *msg(const char *onward, const char *payload) {
  ockam_message *m;
  assert_int_equal(ockam_message_new(&m), OCKAM_OK);
  assert_int_equal(ockam_route_append(&m->onward, OCKAM_ADDRESS_LOCAL, onward, strlen(onward)),
                   OCKAM_OK);
  assert_int_equal(ockam_message_set_payload(m, (const uint8_t *)payload, strlen(payload)),
                   OCKAM_OK);
  return m;
}

static void test_vector(void **state) {
  (void)state;
  ockami_buf b = OCKAMI_BUF_INIT;
  ockami_batch_writer w;
  ockam_message *m1 = msg("a", "hi"), *m2 = msg("b", "!");
  assert_int_equal(ockami_batch_begin(&w, &b), OCKAM_OK);
  assert_int_equal(ockami_batch_finish(&w), OCKAM_EINVAL); /* a batch has two or more */
  assert_int_equal(ockami_batch_add_msg(&w, m1), OCKAM_OK);
  assert_int_equal(ockami_batch_add_msg(&w, m2), OCKAM_OK);
  assert_int_equal(ockami_batch_finish(&w), OCKAM_OK);
  assert_hex(b.data, b.len, BATCH);
  assert_true(ockami_batch_is(b.data, b.len));

  /* The same bytes from raw items. */
  uint8_t i1[16], i2[16];
  size_t l1 = hex_decode(ITEM1, i1, sizeof i1), l2 = hex_decode(ITEM2, i2, sizeof i2);
  ockami_buf c = OCKAMI_BUF_INIT;
  assert_int_equal(ockami_batch_begin(&w, &c), OCKAM_OK);
  assert_int_equal(ockami_batch_add(&w, i1, l1), OCKAM_OK);
  assert_int_equal(ockami_batch_add(&w, i2, l2), OCKAM_OK);
  assert_int_equal(ockami_batch_finish(&w), OCKAM_OK);
  assert_hex(c.data, c.len, BATCH);

  /* The same bytes from a linked list of messages, written in place (the
   * channel's path); a wrong size or a single message is refused. */
  uint8_t direct[64];
  m1->next = m2;
  assert_int_equal(ockami_batch_encode_list(m1, direct, b.len), OCKAM_OK);
  assert_hex(direct, b.len, BATCH);
  assert_int_equal(ockami_batch_encode_list(m1, direct, b.len - 1), OCKAM_EINVAL);
  assert_int_equal(ockami_batch_encode_list(m1, direct, b.len + 1), OCKAM_EINVAL);
  assert_int_equal(ockami_batch_encode_list(m2, direct, OCKAMI_BATCH_HEADER + 2 + l2),
                   OCKAM_EINVAL);
  m1->next = NULL;

  /* Split: the items in order, each one a TransportMessage. */
  ockami_batch_reader r;
  size_t n = 0;
  assert_int_equal(ockami_batch_open(&r, b.data, b.len, &n), OCKAM_OK);
  assert_int_equal(n, 2);
  const uint8_t *item;
  size_t len;
  assert_true(ockami_batch_next(&r, &item, &len));
  assert_hex(item, len, ITEM1);
  ockam_message *d;
  assert_int_equal(ockam_message_new(&d), OCKAM_OK);
  assert_int_equal(ockami_tm_decode(item, len, true, d), OCKAM_OK);
  assert_int_equal(d->payload.len, 2);
  assert_memory_equal(d->payload.data, "hi", 2);
  ockam_message_free(d);
  assert_true(ockami_batch_next(&r, &item, &len));
  assert_hex(item, len, ITEM2);
  assert_false(ockami_batch_next(&r, &item, &len));

  /* A single message's plaintext (version 1) is never taken for a batch. */
  assert_false(ockami_batch_is(i1, l1));
  assert_false(ockami_batch_is(NULL, 0));

  ockami_buf_free(&b);
  ockami_buf_free(&c);
  ockam_message_free(m1);
  ockam_message_free(m2);
}

static void test_sealed_vector(void **state) {
  (void)state;
  ockam_vault *v;
  assert_int_equal(ockam_vault_create("software", &v), OCKAM_OK);
  uint8_t k1[32], pt[64], blob[128], out[128];
  hex_decode(K1, k1, sizeof k1);
  size_t plen = hex_decode(BATCH, pt, sizeof pt);
  ockami_cipher tx, rx;
  assert_int_equal(
      ockami_cipher_init(&tx, v, OCKAMI_FRAMING_EXTENDED, import_aes(v, k1),
                         import_aes(v, (const uint8_t *)"0123456789abcdef0123456789abcdef")),
      OCKAM_OK);
  assert_int_equal(
      ockami_cipher_init(&rx, v, OCKAMI_FRAMING_EXTENDED,
                         import_aes(v, (const uint8_t *)"0123456789abcdef0123456789abcdef"),
                         import_aes(v, k1)),
      OCKAM_OK);
  tx.send_n = 5;
  size_t blen = 0, olen = 0;
  assert_int_equal(ockami_cipher_encrypt(&tx, pt, plen, blob, sizeof blob, &blen), OCKAM_OK);
  assert_hex(blob, blen, SEALED);
  assert_int_equal(ockami_cipher_decrypt(&rx, blob, blen, out, sizeof out, &olen), OCKAM_OK);
  assert_hex(out, olen, BATCH);
  ockami_cipher_clear(&tx);
  ockami_cipher_clear(&rx);
  ockam_vault_destroy(v);
}

typedef struct bad_case {
  const char *why;
  const char *hex;
  int rc;
} bad_case;

static void test_malformed(void **state) {
  (void)state;
  static const bad_case cases[] = {
      {"empty", "", OCKAM_ETRUNC},
      {"marker only", "ba", OCKAM_ETRUNC},
      {"no count", "ba00", OCKAM_ETRUNC},
      {"a single message", ITEM1, OCKAM_EMALFORMED},
      {"another marker", "bb 0002 0001 01 0001 01", OCKAM_EMALFORMED},
      {"count 0", "ba 0000", OCKAM_EMALFORMED},
      {"count 1", "ba 0001 0009 " ITEM1, OCKAM_EMALFORMED},
      {"count 1025", "ba 0401 0001 01 0001 01", OCKAM_EMALFORMED},
      {"count 65535", "ba ffff 0001 01 0001 01", OCKAM_EMALFORMED},
      {"empty item", "ba 0002 0000 0009 " ITEM1, OCKAM_EMALFORMED},
      {"count above items", "ba 0003 0009 " ITEM1 " 0008 " ITEM2, OCKAM_ETRUNC},
      {"half a length", "ba 0002 0009 " ITEM1 " 00", OCKAM_ETRUNC},
      {"item past the end", "ba 0002 0009 " ITEM1 " 0009 " ITEM2, OCKAM_ETRUNC},
      {"length ffff", "ba 0002 ffff 01", OCKAM_ETRUNC},
      {"trailing byte", BATCH " 00", OCKAM_ETRAILING},
      {"count below items", "ba 0002 0009 " ITEM1 " 0008 " ITEM2 " 0008 " ITEM2, OCKAM_ETRAILING},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    uint8_t p[128];
    size_t len = hex_decode(cases[i].hex, p, sizeof p);
    ockami_batch_reader r;
    size_t n = 99;
    int rc = ockami_batch_open(&r, len ? p : NULL, len, &n);
    if (rc != cases[i].rc) fail_msg("%s: got %d, want %d", cases[i].why, rc, cases[i].rc);
    assert_int_equal(n, 0);
    const uint8_t *item;
    size_t ilen;
    assert_false(ockami_batch_next(&r, &item, &ilen)); /* nothing of it is released */
  }
  /* Oversized: refused on its length before any item is read. */
  size_t big = OCKAMI_BATCH_MAX + 1;
  uint8_t *p = calloc(1, big);
  p[0] = OCKAMI_BATCH_MARKER;
  ockami_batch_reader r;
  assert_int_equal(ockami_batch_open(&r, p, big, NULL), OCKAM_EOVERFLOW);
  /* The largest batch accepted: two items filling OCKAMI_BATCH_MAX. */
  size_t l1 = OCKAMI_BATCH_ITEM_MAX, l2 = OCKAMI_BATCH_MAX - OCKAMI_BATCH_HEADER - 4 - l1;
  assert_true(l1 <= UINT16_MAX && l2 >= 1);
  p[1] = 0;
  p[2] = 2;
  p[3] = (uint8_t)(l1 >> 8);
  p[4] = (uint8_t)l1;
  p[5 + l1] = (uint8_t)(l2 >> 8);
  p[6 + l1] = (uint8_t)l2;
  size_t n = 0;
  assert_int_equal(ockami_batch_open(&r, p, OCKAMI_BATCH_MAX, &n), OCKAM_OK);
  assert_int_equal(n, 2);
  free(p);
  assert_int_equal(ockami_batch_open(NULL, NULL, 0, NULL), OCKAM_EINVAL);
  assert_int_equal(ockami_batch_open(&r, NULL, 3, NULL), OCKAM_EINVAL);
}

static void test_writer_caps(void **state) {
  (void)state;
  ockami_buf b = OCKAMI_BUF_INIT;
  ockami_batch_writer w;
  uint8_t one = 1;
  assert_int_equal(ockami_batch_begin(&w, &b), OCKAM_OK);
  assert_int_equal(ockami_batch_add(&w, &one, 0), OCKAM_EINVAL);
  for (size_t i = 0; i < OCKAMI_BATCH_MAX_COUNT; i++)
    assert_int_equal(ockami_batch_add(&w, &one, 1), OCKAM_OK);
  size_t len = b.len;
  assert_int_equal(ockami_batch_add(&w, &one, 1), OCKAM_EOVERFLOW);
  assert_int_equal(b.len, len);
  assert_int_equal(ockami_batch_finish(&w), OCKAM_OK);
  ockami_batch_reader r;
  size_t n = 0;
  assert_int_equal(ockami_batch_open(&r, b.data, b.len, &n), OCKAM_OK);
  assert_int_equal(n, OCKAMI_BATCH_MAX_COUNT);
  ockami_buf_free(&b);

  /* Bytes: the item that would pass OCKAMI_BATCH_MAX is refused. */
  uint8_t *big = calloc(1, UINT16_MAX + 1u);
  assert_int_equal(ockami_batch_begin(&w, &b), OCKAM_OK);
  assert_int_equal(ockami_batch_add(&w, big, UINT16_MAX + 1u), OCKAM_EOVERFLOW);
  assert_int_equal(ockami_batch_add(&w, big, 40000), OCKAM_OK);
  assert_int_equal(ockami_batch_size_with(&w, 30000), OCKAMI_BATCH_HEADER + 2 + 40000 + 2 + 30000);
  assert_int_equal(ockami_batch_add(&w, big, 30000), OCKAM_EOVERFLOW);
  assert_int_equal(ockami_batch_add(&w, big, OCKAMI_BATCH_MAX - OCKAMI_BATCH_HEADER - 40004),
                   OCKAM_OK);
  assert_int_equal(b.len, OCKAMI_BATCH_MAX);
  assert_int_equal(ockami_batch_finish(&w), OCKAM_OK);
  assert_int_equal(ockami_batch_open(&r, b.data, b.len, &n), OCKAM_OK);
  free(big);
  ockami_buf_free(&b);
}

static void test_negotiation(void **state) {
  (void)state;
  const uint8_t x = OCKAMI_EXT_FLAG_EXTENDED_FRAMING, bt = OCKAMI_EXT_FLAG_BATCH,
                rk = OCKAMI_EXT_FLAG_REKEY;
  assert_true(ockami_ext_batch_select(x | bt, x | bt));
  assert_true(ockami_ext_batch_select(x | rk | bt, x | bt | 0x80));
  assert_false(ockami_ext_batch_select(x | bt, x));  /* peer with batching off */
  assert_false(ockami_ext_batch_select(x, x | bt));  /* we have it off */
  assert_false(ockami_ext_batch_select(x | bt, 0));  /* 2021 peer: empty payload */
  assert_false(ockami_ext_batch_select(bt, bt));     /* only with extended framing */
  assert_false(ockami_ext_batch_select(x | bt, bt)); /* peer without extended framing */
  /* The default announcement: extended framing, rekeying, batching. */
  uint8_t p[16];
  size_t len;
  assert_int_equal(ockami_ext_offer_write(x | rk | bt, 65536, p, sizeof p, &len), OCKAM_OK);
  assert_hex(p, len, "4f434b5801 07 00010000");
  uint32_t m = 0;
  assert_int_equal(ockami_ext_offer_parse(p, len, &m), x | rk | bt);
  assert_int_equal(m, 65536);
  /* An older ockam-c peer announces 03 and a 2021 peer nothing. */
  assert_false(ockami_ext_batch_select(
      x | rk | bt, ockami_ext_offer_parse((const uint8_t *)"OCKX\x01\x03\0\1\0\0", 10, NULL)));
  assert_false(ockami_ext_batch_select(x | rk | bt, ockami_ext_offer_parse(NULL, 0, NULL)));
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_vector),      cmocka_unit_test(test_sealed_vector),
      cmocka_unit_test(test_malformed),   cmocka_unit_test(test_writer_caps),
      cmocka_unit_test(test_negotiation),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
