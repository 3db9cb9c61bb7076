/* bytes.h: byte order against hand-written byte strings, and the AEAD nonce
 * against spec §4.1 (00x10 || n as u16 BE for small n). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "bytes.h"

static void test_big_endian(void **state) {
  uint8_t b[8];
  ockami_store_be64(b, 0x0102030405060708ull);
  assert_memory_equal(b, "\x01\x02\x03\x04\x05\x06\x07\x08", 8);
  assert_true(ockami_load_be64(b) == 0x0102030405060708ull);
  ockami_store_be32(b, 0xa1b2c3d4u);
  assert_memory_equal(b, "\xa1\xb2\xc3\xd4", 4);
  assert_int_equal(ockami_load_be32(b), 0xa1b2c3d4u);
  ockami_store_be16(b, 0xfffe);
  assert_memory_equal(b, "\xff\xfe", 2);
  assert_int_equal(ockami_load_be16(b), 0xfffe);
  /* Shorter widths keep the low bytes. */
  ockami_store_be(b, 3, 0x11223344);
  assert_memory_equal(b, "\x22\x33\x44", 3);
  assert_int_equal(ockami_load_be(b, 3), 0x223344);
}

static void test_little_endian(void **state) {
  uint8_t b[8];
  ockami_store_le(b, 8, 0x0102030405060708ull);
  assert_memory_equal(b, "\x08\x07\x06\x05\x04\x03\x02\x01", 8);
  assert_true(ockami_load_le(b, 8) == 0x0102030405060708ull);
  ockami_store_le(b, 2, 0xabcd);
  assert_memory_equal(b, "\xcd\xab", 2);
  assert_int_equal(ockami_load_le(b, 2), 0xabcd);
  assert_int_equal(ockami_load_le(b, 0), 0);
}

static void test_aead_nonce(void **state) {
  uint8_t n[OCKAMI_AEAD_NONCE_LEN];
  ockami_aead_nonce(0x0102, n);
  assert_memory_equal(n, "\0\0\0\0\0\0\0\0\0\0\x01\x02", 12);
  ockami_aead_nonce(UINT64_MAX, n);
  assert_memory_equal(n, "\0\0\0\0\xff\xff\xff\xff\xff\xff\xff\xff", 12);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_big_endian),
      cmocka_unit_test(test_little_endian),
      cmocka_unit_test(test_aead_nonce),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
