/* BARE and TransportMessage codec: byte vectors of ockam-2021-vectors.md and
 * hostile inputs. */
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
#include "ockam/limits.h"
#include "wire.h"

/* Decode strictly from an exact-size heap copy so ASan catches any overread. */
static int decode_exact(const uint8_t *p, size_t n, ockam_message **out) {
  uint8_t *copy = malloc(n ? n : 1);
  memcpy(copy, p, n);
  int rc = ockam_message_decode(copy, n, out);
  free(copy);
  return rc;
}

static void test_varints(void **state) {
  (void)state;
  static const struct {
    uint64_t v;
    const char *hex;
  } cases[] = {{0, "00"},
               {1, "01"},
               {127, "7f"},
               {128, "8001"},
               {255, "ff01"},
               {275, "9302"},
               {300, "ac02"},
               {16383, "ff7f"},
               {16384, "808001"},
               {4294967296ull, "8080808010"},
               {UINT64_MAX, "ffffffffffffffffff01"}};
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    uint8_t want[16];
    size_t n = hex_decode(cases[i].hex, want, sizeof want);
    ockami_buf b = OCKAMI_BUF_INIT;
    assert_int_equal(ockami_write_uint(&b, cases[i].v), 0);
    assert_int_equal(b.len, n);
    assert_memory_equal(b.data, want, n);
    assert_int_equal(ockami_uint_size(cases[i].v), n);
    ockami_reader r;
    ockami_reader_init(&r, want, n);
    uint64_t got;
    assert_int_equal(ockami_read_uint(&r, &got), 0);
    assert_true(got == cases[i].v);
    assert_int_equal(ockami_reader_finish(&r), 0);
    /* every strict prefix is truncated */
    for (size_t k = 0; k < n; k++) {
      ockami_reader_init(&r, want, k);
      assert_int_equal(ockami_read_uint(&r, &got), OCKAM_ETRUNC);
    }
    ockami_buf_free(&b);
  }
  /* u64::MAX + 1 and 11-byte encodings are rejected (serde_bare test_uint). */
  const char *bad[] = {"ffffffffffffffffff02", "ffffffffffffffffff7f", "8080808080808080808001"};
  for (size_t i = 0; i < 3; i++) {
    uint8_t buf[16];
    size_t n = hex_decode(bad[i], buf, sizeof buf);
    ockami_reader r;
    ockami_reader_init(&r, buf, n);
    uint64_t got;
    assert_int_equal(ockami_read_uint(&r, &got), OCKAM_EOVERFLOW);
  }
}

static void test_strings_and_caps(void **state) {
  (void)state;
  /* data longer than what remains: truncated, and nothing allocated */
  uint8_t big[] = {0xff, 0xff, 0x03, 'a'};
  ockami_reader r;
  ockami_reader_init(&r, big, sizeof big);
  const uint8_t *p;
  size_t n;
  assert_int_equal(ockami_read_data(&r, SIZE_MAX, &p, &n), OCKAM_ETRUNC);
  ockami_reader_init(&r, big, sizeof big);
  assert_int_equal(ockami_read_data(&r, 100, &p, &n), OCKAM_EOVERFLOW);
  /* invalid UTF-8: lone continuation, overlong, surrogate */
  const char *bad_utf8[] = {"0180", "02c0af", "03eda080"};
  for (size_t i = 0; i < 3; i++) {
    uint8_t buf[8];
    size_t len = hex_decode(bad_utf8[i], buf, sizeof buf);
    ockami_reader_init(&r, buf, len);
    const char *s;
    assert_int_equal(ockami_read_string(&r, 64, &s, &n), OCKAM_EUTF8);
  }
  uint8_t good[] = {0x04, 0xf0, 0x9f, 0x98, 0x80};
  ockami_reader_init(&r, good, sizeof good);
  const char *s;
  assert_int_equal(ockami_read_string(&r, 64, &s, &n), 0);
  assert_int_equal(n, 4);
  /* errors are sticky */
  ockami_reader_init(&r, good, 0);
  uint8_t u8;
  assert_int_equal(ockami_read_u8(&r, &u8), OCKAM_ETRUNC);
  assert_int_equal(ockami_reader_finish(&r), OCKAM_ETRUNC);
}

typedef struct tm_vector {
  const char *name;
  const char *hex;
  const char *onward;
  const char *ret;
  const char *payload_hex;
} tm_vector;

/* E1, E10, E10b, E6b, E8b, E9a, E9c of ockam-2021-vectors.md §2.1/§3.3. */
static const tm_vector tm_vectors[] = {
    {"E1",
     "010100066563686f657202010e3132372e302e302e313a343030300003617070"
     "0d0c48656c6c6f20576f726c6421",
     "0#echoer", "1#127.0.0.1:4000;0#app", "0c48656c6c6f20576f726c6421"},
    {"E9a", "010100066563686f65720100036170700d0c48656c6c6f20576f726c6421", "echoer", "app",
     "0c48656c6c6f20576f726c6421"},
    {"E6b",
     "010100177365637572655f6368616e6e656c5f6c697374656e65720100203131"
     "3131313131313131313131313131313131313131313131313131313131312220"
     "358072d6365880d1aeea329adf9121383851ed21a28e3b75e965d0d2cd166254"
     "00",
     "secure_channel_listener", "11111111111111111111111111111111",
     "20358072d6365880d1aeea329adf9121383851ed21a28e3b75e965d0d2cd16625400"},
    {"E8b",
     "0102002062306331643265336634303531363237333834393561366237633864"
     "3965616600203131313131313131313131313131313131313131313131313131"
     "3131313131310100203333333333333333333333333333333333333333333333"
     "333333333333333333616064b101b1d0be5a8704bd078f9895001fc03e8e9f95"
     "22f188dd128d9846d484665393019dbd6f438795da206db0886610b26108e424"
     "142c2e9b5fd1f7ea70cde8767ce62d7e3c0e9bcefe4ab872c0505b9e824df091"
     "b74ffe10a2b32809cab21f",
     "b0c1d2e3f405162738495a6b7c8d9eaf;11111111111111111111111111111111",
     "33333333333333333333333333333333",
     "6064b101b1d0be5a8704bd078f9895001fc03e8e9f9522f188dd128d9846d48466"
     "5393019dbd6f438795da206db0886610b26108e424142c2e9b5fd1f7ea70cde8"
     "767ce62d7e3c0e9bcefe4ab872c0505b9e824df091b74ffe10a2b32809cab21f"},
    {"E9c",
     "0102002061306231633264336534663530363137323833393461356236633764"
     "3865396600203333333333333333333333333333333333333333333333333333"
     "3333333333330100203131313131313131313131313131313131313131313131"
     "313131313131313131313000005308337afec6aedf33b64cc7c0fdd90cdbaa00"
     "5171fa9f217434af1b6502b96ff99ed4be6e7ced7d4fc4988f5179",
     "a0b1c2d3e4f5061728394a5b6c7d8e9f;33333333333333333333333333333333",
     "11111111111111111111111111111111",
     "3000005308337afec6aedf33b64cc7c0fdd90cdbaa005171fa9f217434af1b65"
     "02b96ff99ed4be6e7ced7d4fc4988f5179"},
};

static void add_binary_tcp(ockam_route *r, uint16_t port) {
  uint8_t v[7] = {0x00, 127, 0, 0, 1, (uint8_t)(port & 0xff), (uint8_t)(port >> 8)};
  assert_int_equal(ockam_route_append(r, 1, v, sizeof v), 0);
}

static void check_roundtrip(const uint8_t *want, size_t n, ockam_message *m) {
  ockami_buf b = OCKAMI_BUF_INIT;
  assert_int_equal(ockami_tm_encode(m, &b), 0);
  assert_int_equal(b.len, n);
  assert_memory_equal(b.data, want, n);
  assert_int_equal(ockami_tm_size(m), n);
  ockami_buf_free(&b);
  /* Into caller memory (the secure channel's fast path): the same bytes,
   * nothing written past them, and nothing at all into a buffer too small. */
  uint8_t *raw = malloc(n + 8);
  size_t got = 1;
  memset(raw, 0xee, n + 8);
  assert_int_equal(ockami_tm_encode_to(m, raw, n - 1, &got), OCKAM_EOVERFLOW);
  assert_int_equal(got, 0);
  assert_int_equal(raw[0], 0xee);
  assert_int_equal(ockami_tm_encode_to(m, raw, n, &got), 0);
  assert_int_equal(got, n);
  assert_memory_equal(raw, want, n);
  for (size_t k = n; k < n + 8; k++) assert_int_equal(raw[k], 0xee);
  free(raw);
  /* Routes decoded, payload only pointed at. */
  ockam_message *view;
  const uint8_t *vp = NULL;
  size_t vn = 0;
  assert_int_equal(ockam_message_new(&view), 0);
  assert_int_equal(ockami_tm_decode_routes(want, n, true, view, &vp, &vn), 0);
  assert_true(ockam_route_equal(ockam_message_onward(view), ockam_message_onward(m)));
  assert_true(ockam_route_equal(ockam_message_return(view), ockam_message_return(m)));
  assert_int_equal(vn, m->payload.len);
  assert_true(vp >= want && vp + vn == want + n);
  ockam_message_free(view);
  ockam_message *back;
  assert_int_equal(decode_exact(want, n, &back), 0);
  assert_true(ockam_route_equal(ockam_message_onward(back), ockam_message_onward(m)));
  assert_true(ockam_route_equal(ockam_message_return(back), ockam_message_return(m)));
  size_t l1, l2;
  const uint8_t *p1 = ockam_message_payload(back, &l1), *p2 = ockam_message_payload(m, &l2);
  assert_int_equal(l1, l2);
  if (l1) assert_memory_equal(p1, p2, l1);
  ockam_message_free(back);
  /* Every strict prefix fails cleanly. */
  for (size_t k = 0; k < n; k++) {
    ockam_message *x = NULL;
    assert_int_not_equal(decode_exact(want, k, &x), 0);
    assert_null(x);
  }
  /* A trailing byte is refused by the strict decoder. */
  uint8_t *longer = malloc(n + 1);
  memcpy(longer, want, n);
  longer[n] = 0;
  ockam_message *x = NULL;
  assert_int_equal(decode_exact(longer, n + 1, &x), OCKAM_ETRAILING);
  free(longer);
}

static void test_tm_vectors(void **state) {
  (void)state;
  for (size_t i = 0; i < sizeof tm_vectors / sizeof tm_vectors[0]; i++) {
    const tm_vector *v = &tm_vectors[i];
    uint8_t want[512], payload[256];
    size_t n = hex_decode(v->hex, want, sizeof want);
    size_t pn = hex_decode(v->payload_hex, payload, sizeof payload);
    ockam_message *m;
    assert_int_equal(ockam_message_new(&m), 0);
    ockam_route *on, *ret;
    assert_int_equal(ockam_route_parse(v->onward, &on), 0);
    assert_int_equal(ockam_route_parse(v->ret, &ret), 0);
    assert_int_equal(ockam_route_append_route(ockam_message_onward_mut(m), on), 0);
    assert_int_equal(ockam_route_append_route(ockam_message_return_mut(m), ret), 0);
    assert_int_equal(ockam_message_set_payload(m, payload, pn), 0);
    check_roundtrip(want, n, m);
    ockam_route_free(on);
    ockam_route_free(ret);
    ockam_message_free(m);
  }
}

static void test_elixir_vectors(void **state) {
  (void)state;
  /* E10: onward [TCP 127.0.0.1:4000 (binary form), printer], return [TCP :3000], raw "hello" */
  uint8_t want[64];
  size_t n = hex_decode("01020107007f000001a00f00077072696e746572010107007f000001b80b0568656c6c6f",
                        want, sizeof want);
  ockam_message *m;
  assert_int_equal(ockam_message_new(&m), 0);
  add_binary_tcp(ockam_message_onward_mut(m), 4000);
  assert_int_equal(ockam_route_append_str(ockam_message_onward_mut(m), "printer"), 0);
  add_binary_tcp(ockam_message_return_mut(m), 3000);
  assert_int_equal(ockam_message_set_payload(m, (const uint8_t *)"hello", 5), 0);
  check_roundtrip(want, n, m);
  ockam_message_free(m);
  /* E10b minimal */
  n = hex_decode("01010107007f000001a00f0000", want, sizeof want);
  assert_int_equal(ockam_message_new(&m), 0);
  add_binary_tcp(ockam_message_onward_mut(m), 4000);
  check_roundtrip(want, n, m);
  ockam_message_free(m);
  /* UDP variant decodes too */
  n = hex_decode("01020207007f000001a00f00077072696e746572010207007f000001b80b0568656c6c6f", want,
                 sizeof want);
  assert_int_equal(decode_exact(want, n, &m), 0);
  ockam_address a;
  assert_int_equal(ockam_route_get(ockam_message_onward(m), 0, &a), 0);
  assert_int_equal(a.type, 2);
  ockam_message_free(m);
}

static void test_frame_e1b(void **state) {
  (void)state;
  uint8_t want[64];
  size_t n = hex_decode(
      "002e010100066563686f657202010e3132372e302e302e313a34303030000361"
      "70700d0c48656c6c6f20576f726c6421",
      want, sizeof want);
  ockam_message *m;
  assert_int_equal(ockam_message_new(&m), 0);
  assert_int_equal(ockam_route_append_str(ockam_message_onward_mut(m), "echoer"), 0);
  assert_int_equal(ockam_route_append_str(ockam_message_return_mut(m), "1#127.0.0.1:4000"), 0);
  assert_int_equal(ockam_route_append_str(ockam_message_return_mut(m), "app"), 0);
  assert_int_equal(ockam_message_set_string(m, "Hello World!", 12), 0);
  ockami_buf b = OCKAMI_BUF_INIT;
  assert_int_equal(ockami_tm_encode_frame(m, &b), 0);
  assert_int_equal(b.len, n);
  assert_memory_equal(b.data, want, n);
  const char *s;
  size_t sl;
  assert_int_equal(ockam_message_get_string(m, &s, &sl), 0);
  assert_int_equal(sl, 12);
  assert_memory_equal(s, "Hello World!", 12);
  ockami_buf_free(&b);
  ockam_message_free(m);
}

static void test_malformed(void **state) {
  (void)state;
  uint8_t buf[64];
  ockam_message *m = NULL;
  /* version 2 */
  size_t n = hex_decode("02000000", buf, sizeof buf);
  assert_int_equal(decode_exact(buf, n, &m), OCKAM_EMALFORMED);
  /* address type 128 */
  n = hex_decode("0101800161 00 00", buf, sizeof buf);
  assert_int_equal(decode_exact(buf, n, &m), OCKAM_EMALFORMED);
  /* address value longer than 255 */
  n = hex_decode("01010080020000", buf, sizeof buf);
  assert_int_equal(decode_exact(buf, n, &m), OCKAM_EOVERFLOW);
  /* too many hops claimed */
  n = hex_decode("01ff0f", buf, sizeof buf);
  assert_int_equal(decode_exact(buf, n, &m), OCKAM_EOVERFLOW);
  /* route count claims more than present */
  n = hex_decode("010300016100", buf, sizeof buf);
  assert_int_equal(decode_exact(buf, n, &m), OCKAM_ETRUNC);
  /* bad varint in payload length */
  n = hex_decode("010000ffffffffffffffffffff", buf, sizeof buf);
  assert_int_equal(decode_exact(buf, n, &m), OCKAM_EOVERFLOW);
  /* empty input */
  assert_int_equal(decode_exact(buf, 0, &m), OCKAM_ETRUNC);
  assert_null(m);
  /* a route with the maximum hop count decodes; one more does not */
  ockami_buf b = OCKAMI_BUF_INIT;
  assert_int_equal(ockami_write_u8(&b, 1), 0);
  assert_int_equal(ockami_write_uint(&b, OCKAM_ROUTE_MAX_HOPS), 0);
  for (unsigned i = 0; i < OCKAM_ROUTE_MAX_HOPS; i++) {
    assert_int_equal(ockami_write_u8(&b, 0), 0);
    assert_int_equal(ockami_write_string(&b, "x", 1), 0);
  }
  assert_int_equal(ockami_write_uint(&b, 0), 0);
  assert_int_equal(ockami_write_uint(&b, 0), 0);
  assert_int_equal(decode_exact(b.data, b.len, &m), 0);
  ockam_message_free(m);
  ockami_buf_free(&b);
}

static void test_routes(void **state) {
  (void)state;
  ockam_route *r;
  assert_int_equal(ockam_route_parse(" 1#127.0.0.1:4000 ; echo_service ", &r), 0);
  assert_int_equal(ockam_route_len(r), 2);
  char text[128];
  ockam_route_format(r, text, sizeof text);
  assert_string_equal(text, "[1#127.0.0.1:4000, 0#echo_service]");
  ockam_route_pop(r);
  ockam_route_format(r, text, sizeof text);
  assert_string_equal(text, "[0#echo_service]");
  assert_int_equal(ockam_route_prepend(r, 0, "h", 1), 0);
  ockam_route_format(r, text, sizeof text);
  assert_string_equal(text, "[0#h, 0#echo_service]");
  ockam_route_format(r, text, 8);
  assert_int_equal(strlen(text), 7);
  ockam_route_free(r);
  const char *bad[] = {"1#", "#x", "a#b", "1#2#3", "128#x", "9999#x"};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
    assert_int_equal(ockam_route_parse(bad[i], &r), OCKAM_EADDR);
  char longv[300];
  memset(longv, 'a', sizeof longv - 1);
  longv[sizeof longv - 1] = 0;
  assert_int_equal(ockam_route_new(&r), 0);
  assert_int_equal(ockam_route_append_str(r, longv), OCKAM_EOVERFLOW);
  for (unsigned i = 0; i < OCKAM_ROUTE_MAX_HOPS; i++)
    assert_int_equal(ockam_route_append_str(r, "x"), 0);
  assert_int_equal(ockam_route_append_str(r, "x"), OCKAM_EOVERFLOW);
  ockam_route_free(r);
}

/* ockami_route_encode_from: the encoding of the route without its first
 * hops, the same bytes as popping them and encoding what is left. */
static void test_route_encode_from(void **state) {
  (void)state;
  ockam_route *r;
  assert_int_equal(ockam_route_parse("1#127.0.0.1:4000; 0#a; b", &r), 0);
  for (uint32_t skip = 0; skip <= 3; skip++) {
    ockami_buf got = {0}, want = {0};
    assert_int_equal(ockami_route_encode_from(r, skip, &got), OCKAM_OK);
    ockam_route *rest;
    assert_int_equal(ockam_route_copy(r, &rest), OCKAM_OK);
    for (uint32_t i = 0; i < skip; i++) ockam_route_pop(rest);
    assert_int_equal(ockami_route_encode(rest, &want), OCKAM_OK);
    assert_int_equal(got.len, want.len);
    assert_memory_equal(got.data, want.data, got.len);
    ockam_route_free(rest);
    ockami_buf_free(&got);
    ockami_buf_free(&want);
  }
  ockami_buf b = {0};
  assert_int_equal(ockami_route_encode_from(r, 4, &b), OCKAM_EINVAL);
  assert_int_equal(b.len, 0);
  ockami_buf_free(&b);
  ockam_route_free(r);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_varints),    cmocka_unit_test(test_strings_and_caps),
      cmocka_unit_test(test_tm_vectors), cmocka_unit_test(test_elixir_vectors),
      cmocka_unit_test(test_frame_e1b),  cmocka_unit_test(test_malformed),
      cmocka_unit_test(test_routes),     cmocka_unit_test(test_route_encode_from),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
