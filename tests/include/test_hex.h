/* Hex helpers for cmocka tests that compare against byte vectors.
 * Include after <cmocka.h>. */
#ifndef OCKAM_TEST_HEX_H
#define OCKAM_TEST_HEX_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* Decode hex (spaces and newlines ignored) into out; fails the test on bad
 * input or overflow. Returns the byte count. */
static inline size_t hex_decode(const char *hex, uint8_t *out, size_t cap) {
  size_t n = 0;
  for (const char *p = hex; *p;) {
    if (*p == ' ' || *p == '\n') {
      p++;
      continue;
    }
    unsigned v;
    assert_int_equal(sscanf(p, "%2x", &v), 1);
    assert_true(n < cap);
    out[n++] = (uint8_t)v;
    p += 2;
  }
  return n;
}

/* got[0..len) must equal the bytes spelled by hex. */
static inline void assert_hex(const uint8_t *got, size_t len, const char *hex) {
  uint8_t want[1024];
  size_t n = hex_decode(hex, want, sizeof want);
  assert_int_equal(len, n);
  assert_memory_equal(got, want, n);
}

#endif
