/* Routes (route.c): strict parsing of numbers and TCP addresses; text
 * parse/format round trips; inputs the parser must refuse. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
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

/* format() writes "[T#v, T#v]"; without the brackets that text parses back to
 * the same route. */
static void test_parse_format_round_trip(void **state) {
  (void)state;
  static const struct {
    const char *in, *formatted;
  } cases[] = {
      {"", "[]"},
      {"app", "[0#app]"},
      {"0#app", "[0#app]"},
      {"1#127.0.0.1:4000;echo_service", "[1#127.0.0.1:4000, 0#echo_service]"},
      {" 1#[::1]:4000 , 0#a ;b;; c ", "[1#[::1]:4000, 0#a, 0#b, 0#c]"},
      {"7#x;127#y;00#z", "[7#x, 127#y, 0#z]"},
      {"0#with space", "[0#with space]"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    ockam_route *r, *back;
    if (ockam_route_parse(cases[i].in, &r) != OCKAM_OK) fail_msg("\"%s\" refused", cases[i].in);
    char text[512];
    size_t n = ockam_route_format(r, text, sizeof text);
    assert_int_equal(n, strlen(text));
    assert_string_equal(text, cases[i].formatted);
    text[n - 1] = '\0';
    assert_int_equal(ockam_route_parse(text + 1, &back), OCKAM_OK);
    assert_true(ockam_route_equal(r, back));
    ockam_route_free(back);
    ockam_route_free(r);
  }
  /* Hop by hop, built with the API, through text and back. */
  ockam_route *r, *back;
  assert_int_equal(ockam_route_new(&r), OCKAM_OK);
  char hop[OCKAM_ADDRESS_MAX_LEN + 1];
  memset(hop, 'h', OCKAM_ADDRESS_MAX_LEN);
  hop[OCKAM_ADDRESS_MAX_LEN] = '\0';
  assert_int_equal(ockam_route_append_str(r, hop), OCKAM_OK); /* the longest hop */
  assert_int_equal(ockam_route_prepend(r, 1, "10.0.0.1:1", 10), OCKAM_OK);
  assert_int_equal(ockam_route_append(r, 3, "w", 1), OCKAM_OK);
  static char text[4096];
  size_t n = ockam_route_format(r, text, sizeof text);
  text[n - 1] = '\0';
  assert_int_equal(ockam_route_parse(text + 1, &back), OCKAM_OK);
  assert_true(ockam_route_equal(r, back));
  assert_int_equal(ockam_route_len(back), 3);
  ockam_address a;
  assert_int_equal(ockam_route_get(back, 2, &a), OCKAM_OK);
  assert_int_equal(a.type, 3);
  assert_int_equal(ockam_route_get(back, 3, &a), OCKAM_ENOTFOUND);
  ockam_route_free(back);
  ockam_route_free(r);
}

static void test_parse_refuses(void **state) {
  (void)state;
  ockam_route *r = NULL;
  static const char *const bad_hops[] = {
      "#x",     /* no type */
      "0#",     /* no value */
      "1234#x", /* type of four digits */
      "128#x",  /* types >= 128 do not interoperate (spec §1.1) */
      "x1#a",   /* type not a number */
      "-1#a",   /* nor signed */
      "0#a#b",  /* two separators */
      "a;0#;b", /* an empty value between good hops */
  };
  for (size_t i = 0; i < sizeof bad_hops / sizeof bad_hops[0]; i++) {
    int rc = ockam_route_parse(bad_hops[i], &r);
    if (rc != OCKAM_EADDR) fail_msg("\"%s\": %s", bad_hops[i], ockam_errname(rc));
  }
  /* A hop one byte over the limit, and one hop too many. */
  static char text[(OCKAM_ADDRESS_MAX_LEN + 2) * (OCKAM_ROUTE_MAX_HOPS + 2)];
  memset(text, 'v', OCKAM_ADDRESS_MAX_LEN + 1);
  text[OCKAM_ADDRESS_MAX_LEN + 1] = '\0';
  assert_int_equal(ockam_route_parse(text, &r), OCKAM_EOVERFLOW);
  size_t n = 0;
  for (unsigned i = 0; i < OCKAM_ROUTE_MAX_HOPS; i++) n += (size_t)sprintf(text + n, "h;");
  assert_int_equal(ockam_route_parse(text, &r), OCKAM_OK);
  assert_int_equal(ockam_route_len(r), OCKAM_ROUTE_MAX_HOPS);
  assert_int_equal(ockam_route_append_str(r, "one-more"), OCKAM_EOVERFLOW);
  ockam_route_free(r);
  sprintf(text + n, "h");
  assert_int_equal(ockam_route_parse(text, &r), OCKAM_EOVERFLOW);
  assert_int_equal(ockam_route_parse(NULL, &r), OCKAM_EINVAL);
  assert_int_equal(ockam_route_parse("a", NULL), OCKAM_EINVAL);
}

/* format() never overflows its buffer: truncated text ends in "...", bytes
 * that are not printable show as '?'. */
static void test_format_bounds(void **state) {
  (void)state;
  ockam_route *r;
  assert_int_equal(ockam_route_parse("0#abcdefgh;1#127.0.0.1:4000", &r), OCKAM_OK);
  char out[12];
  memset(out, 'X', sizeof out);
  size_t n = ockam_route_format(r, out, 10);
  assert_int_equal(n, 9);
  assert_string_equal(out, "[0#abc...");
  assert_int_equal(out[10], 'X'); /* nothing past cap */
  assert_int_equal(ockam_route_format(r, out, 0), 0);
  assert_int_equal(ockam_route_format(r, out, 1), 0);
  assert_string_equal(out, "");
  assert_int_equal(ockam_route_append(r, 0, "a\x01\xff", 3), OCKAM_OK);
  char full[128];
  ockam_route_format(r, full, sizeof full);
  assert_string_equal(full, "[0#abcdefgh, 1#127.0.0.1:4000, 0#a??]");
  ockam_route_free(r);
  assert_int_equal(ockam_route_format(NULL, full, sizeof full), 2);
  assert_string_equal(full, "[]");
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_parse_uint),
      cmocka_unit_test(test_tcp_address),
      cmocka_unit_test(test_route_rejects_bad_tcp_hops),
      cmocka_unit_test(test_parse_format_round_trip),
      cmocka_unit_test(test_parse_refuses),
      cmocka_unit_test(test_format_bounds),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
