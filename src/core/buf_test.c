/* buf.h: growing, consuming, and dropping the front without a copy (the
 * opened payload of a channel message stays where it was decrypted). Run
 * under AddressSanitizer, a free or growth from the wrong base fails here. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "buf.h"

static void test_append_consume(void **state) {
  (void)state;
  ockami_buf b = OCKAMI_BUF_INIT;
  assert_int_equal(ockami_buf_append(&b, "hello world", 11), OCKAM_OK);
  ockami_buf_consume(&b, 6);
  assert_int_equal(b.len, 5);
  assert_memory_equal(b.data, "world", 5);
  ockami_buf_consume(&b, 99);
  assert_int_equal(b.len, 0);
  ockami_buf_free(&b);
  assert_null(b.data);
}

static void test_drop_front(void **state) {
  (void)state;
  ockami_buf b = OCKAMI_BUF_INIT;
  assert_int_equal(ockami_buf_append(&b, "0123456789", 10), OCKAM_OK);
  uint8_t *base = b.data;
  size_t cap = b.cap;
  ockami_buf_drop_front(&b, 4);
  /* No copy: data moved past the dropped bytes. */
  assert_ptr_equal(b.data, base + 4);
  assert_int_equal(b.len, 6);
  assert_int_equal(b.off, 4);
  assert_int_equal(b.cap, cap - 4);
  assert_memory_equal(b.data, "456789", 6);
  /* Appending within the capacity keeps the bytes where they are. */
  assert_int_equal(ockami_buf_append(&b, "ab", 2), OCKAM_OK);
  assert_ptr_equal(b.data, base + 4);
  assert_memory_equal(b.data, "456789ab", 8);
  /* Dropping more than there is empties it. */
  ockami_buf_drop_front(&b, 100);
  assert_int_equal(b.len, 0);
  assert_int_equal(b.off, 12);
  ockami_buf_free(&b); /* frees the allocation's base */
  assert_null(b.data);
  assert_int_equal(b.off, 0);
}

static void test_drop_front_then_grow(void **state) {
  (void)state;
  ockami_buf b = OCKAMI_BUF_INIT;
  uint8_t big[300];
  for (size_t i = 0; i < sizeof big; i++) big[i] = (uint8_t)i;
  assert_int_equal(ockami_buf_append(&b, big, 100), OCKAM_OK);
  size_t total = b.cap;
  ockami_buf_drop_front(&b, 90);
  /* Growth first reclaims the dropped front: the 10 bytes move to the base. */
  assert_int_equal(ockami_buf_reserve(&b, total - 20), OCKAM_OK);
  assert_int_equal(b.off, 0);
  assert_int_equal(b.cap, total);
  assert_memory_equal(b.data, big + 90, 10);
  /* Beyond the allocation it reallocates, keeping the bytes. */
  ockami_buf_drop_front(&b, 5);
  assert_int_equal(ockami_buf_append(&b, big, sizeof big), OCKAM_OK);
  assert_int_equal(b.off, 0);
  assert_int_equal(b.len, 5 + sizeof big);
  assert_memory_equal(b.data, big + 95, 5);
  assert_memory_equal(b.data + 5, big, sizeof big);
  ockami_buf_wipe_free(&b);
  assert_null(b.data);
}

static void test_clear(void **state) {
  (void)state;
  ockami_buf b = OCKAMI_BUF_INIT;
  assert_int_equal(ockami_buf_append(&b, "abcdef", 6), OCKAM_OK);
  uint8_t *base = b.data;
  size_t cap = b.cap;
  ockami_buf_drop_front(&b, 3);
  ockami_buf_clear(&b);
  /* Empty, with the whole allocation usable again. */
  assert_ptr_equal(b.data, base);
  assert_int_equal(b.len, 0);
  assert_int_equal(b.off, 0);
  assert_int_equal(b.cap, cap);
  assert_int_equal(ockami_buf_set(&b, "xyz", 3), OCKAM_OK);
  assert_ptr_equal(b.data, base);
  ockami_buf_free(&b);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_append_consume),
      cmocka_unit_test(test_drop_front),
      cmocka_unit_test(test_drop_front_then_grow),
      cmocka_unit_test(test_clear),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
