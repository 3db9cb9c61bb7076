/* Strict parsing of numbers and TCP addresses (route.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "route.h"

static void test_parse_uint(void **state) {
  (void)state;
  static const struct {
    const char *s;
    uint64_t max;
    int rc;
    uint64_t v;
  } cases[] = {
      {"0", 10, 0, 0},
      {"42001", 65535, 0, 42001},
      {"65535", 65535, 0, 65535},
      {"65536", 65535, OCKAM_EOVERFLOW, 0},
      {"18446744073709551615", UINT64_MAX, 0, UINT64_MAX},
      {"18446744073709551616", UINT64_MAX, OCKAM_EOVERFLOW, 0},
      {"99999999999999999999999", UINT64_MAX, OCKAM_EOVERFLOW, 0},
      {"", 10, OCKAM_EINVAL, 0},
      {" 1", 10, OCKAM_EINVAL, 0},
      {"1 ", 10, OCKAM_EINVAL, 0},
      {"+1", 10, OCKAM_EINVAL, 0},
      {"-1", 10, OCKAM_EINVAL, 0},
      {" +42001", 65535, OCKAM_EINVAL, 0},
      {" -1", 65535, OCKAM_EINVAL, 0},
      {"0x10", 100, OCKAM_EINVAL, 0},
      {"1e3", 10000, OCKAM_EINVAL, 0},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    uint64_t v = 12345;
    int rc = ockami_parse_uint(cases[i].s, strlen(cases[i].s), cases[i].max, &v);
    if (rc != cases[i].rc) fail_msg("\"%s\": %d, want %d", cases[i].s, rc, cases[i].rc);
    if (!rc) assert_true(v == cases[i].v);
  }
}

static void test_tcp_address(void **state) {
  (void)state;
  static const struct {
    const char *s;
    size_t len; /* 0: strlen */
    bool ok;
    uint32_t port;
  } cases[] = {
      {"127.0.0.1:4000", 0, true, 4000},
      {"localhost:1", 0, true, 1},
      {"[::1]:65535", 0, true, 65535},
      {"h:0", 0, true, 0},
      {"127.0.0.1:65536", 0, false, 0},
      {"127.0.0.1: 4000", 0, false, 0},
      {"127.0.0.1:+4000", 0, false, 0},
      {"127.0.0.1:-1", 0, false, 0},
      {"127.0.0.1:", 0, false, 0},
      {"127.0.0.1:004000", 0, false, 0},
      {":4000", 0, false, 0},
      {"4000", 0, false, 0},
      {"[::1]4000", 0, false, 0},
      {"[]:4000", 0, false, 0},
      {"a b:4000", 0, false, 0},
      {"a#b:4000", 0, false, 0},
      {"127.0.0.1:4000\n", 0, false, 0},
      {"127.0.0.1:4000\0AAAA", 19, false, 0},
      {"127.0.0.1\0:4000", 15, false, 0},
      {"\x7f:1", 0, false, 0},
      {"\xc3\xa9:1", 0, false, 0},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    size_t len = cases[i].len ? cases[i].len : strlen(cases[i].s);
    size_t off = 99, hlen = 99;
    uint32_t port = 99;
    bool ok = ockami_tcp_address_parse((const uint8_t *)cases[i].s, len, &off, &hlen, &port);
    if (ok != cases[i].ok) fail_msg("case %zu \"%s\": %d", i, cases[i].s, ok);
    if (ok) assert_int_equal(port, cases[i].port);
  }
  size_t off, hlen;
  assert_true(ockami_tcp_address_parse((const uint8_t *)"[::1]:5", 7, &off, &hlen, NULL));
  assert_int_equal(off, 1);
  assert_int_equal(hlen, 3);
}

static void test_route_rejects_bad_tcp_hops(void **state) {
  (void)state;
  ockam_route *r;
  const char *bad[] = {
      "1#127.0.0.1: 4000", "1#127.0.0.1:+42001", "1#host:-1", "1#host:70000", "1#host",
      "echo;1#h:1x"};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    if (ockam_route_parse(bad[i], &r) != OCKAM_EADDR) fail_msg("\"%s\" parsed", bad[i]);
  }
  assert_int_equal(ockam_route_parse("1#127.0.0.1:4000; echo_service", &r), 0);
  assert_int_equal(ockam_route_len(r), 2);
  /* A NUL inside a TCP address is refused whatever the length says. */
  assert_int_equal(ockam_route_append(r, OCKAM_ADDRESS_TCP, "127.0.0.1:1\0AAAA", 16), OCKAM_EADDR);
  assert_int_equal(ockam_route_prepend(r, OCKAM_ADDRESS_TCP, "1.2.3.4:5\x01", 10), OCKAM_EADDR);
  assert_int_equal(ockam_route_len(r), 2);
  /* The Elixir binary forms stay valid (spec §1.1). */
  assert_int_equal(ockam_route_append(r, OCKAM_ADDRESS_TCP, "\0\x7f\0\0\1\xa0\x0f", 7), 0);
  assert_int_equal(ockam_route_append(r, OCKAM_ADDRESS_TCP, "\0\x7f\0\0\1\xa0\x0f\0", 8),
                   OCKAM_EADDR);
  ockam_route_pop(r);
  /* Type-0 addresses are opaque bytes, as before. */
  assert_int_equal(ockam_route_append(r, OCKAM_ADDRESS_LOCAL, "a\0b", 3), 0);
  ockam_route_free(r);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_parse_uint),
      cmocka_unit_test(test_tcp_address),
      cmocka_unit_test(test_route_rejects_bad_tcp_hops),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
