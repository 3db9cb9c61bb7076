/* The jetstream backend's pure parts (js_names.c): name mapping, escaping,
 * and the parsers of reply subjects, index values and PubAck JSON. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "js_names.h"

static void test_names(void **state) {
  (void)state;
  js_names nm;
  const char *n = "sc-responder-to-initiator"; /* docs/jetstream.md's example */
  ockami_js_names_make(n, strlen(n), &nm);
  assert_string_equal(nm.stream, "OCKAM_415913b7cf2e4ba5f80234dec8c9da24");
  assert_string_equal(nm.subject, "ockam.s.415913b7cf2e4ba5f80234dec8c9da24");
  assert_int_equal(nm.digest[0], 0x41);
  assert_int_equal(nm.digest[15], 0x24);
  assert_true(ockami_js_is_ockam_stream(nm.stream));
  /* a NUL inside the name is hashed, not a terminator */
  js_names a, b;
  ockami_js_names_make("x\0y", 3, &a);
  ockami_js_names_make("x", 1, &b);
  assert_string_not_equal(a.stream, b.stream);
  const char *not_ours[] = {
      "OCKAM_415913b7cf2e4ba5f80234dec8c9da2",   /* short */
      "OCKAM_415913b7cf2e4ba5f80234dec8c9da244", /* long */
      "OCKAM_415913B7CF2E4BA5F80234DEC8C9DA24",  /* upper case */
      "OCKAM_415913b7cf2e4ba5f80234dec8c9da2g",
      "ockam_415913b7cf2e4ba5f80234dec8c9da24",
      "KV_OCKAM_INDEX",
      "",
  };
  for (size_t i = 0; i < sizeof not_ours / sizeof not_ours[0]; i++) {
    assert_false(ockami_js_is_ockam_stream(not_ours[i]));
  }
}

static void test_description_round_trip(void **state) {
  (void)state;
  char desc[JS_DESC_MAX];
  uint8_t name[OCKAM_NAME_MAX], back[OCKAM_NAME_MAX];
  size_t len;
  ockami_js_description("a b%\"\\.*>", 9, desc);
  assert_string_equal(desc, "ockam stream a%20b%25%22%5C.*>");
  assert_true(ockami_js_description_name(desc, back, &len));
  assert_int_equal(len, 9);
  assert_memory_equal(back, "a b%\"\\.*>", 9);
  /* every byte value, at the longest name */
  for (size_t i = 0; i < OCKAM_NAME_MAX; i++) name[i] = (uint8_t)(i * 37 + 11);
  ockami_js_description((const char *)name, sizeof name, desc);
  assert_true(strlen(desc) < JS_DESC_MAX);
  assert_true(ockami_js_description_name(desc, back, &len));
  assert_int_equal(len, OCKAM_NAME_MAX);
  assert_memory_equal(back, name, OCKAM_NAME_MAX);
  for (unsigned c = 0; c < 256; c++) {
    uint8_t one = (uint8_t)c;
    ockami_js_description((const char *)&one, 1, desc);
    assert_true(ockami_js_description_name(desc, back, &len));
    assert_int_equal(len, 1);
    assert_int_equal(back[0], one);
  }
}

static void test_description_refused(void **state) {
  (void)state;
  const char *bad[] = {
      "ockam stream ",    /* empty name */
      "ockam streamx",    /* no prefix */
      "other a",          /* no prefix */
      "ockam stream a b", /* raw space */
      "ockam stream a%2", /* short escape */
      "ockam stream a%",  /* short escape */
      "ockam stream %2g", /* not hex */
      "ockam stream %2f", /* lower-case hex: not ours */
      "ockam stream %41", /* a plain byte escaped: not ours */
      "ockam stream caf\xc3\xa9" /* raw non-ASCII */,
  };
  uint8_t name[OCKAM_NAME_MAX];
  size_t len;
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    if (ockami_js_description_name(bad[i], name, &len)) fail_msg("accepted \"%s\"", bad[i]);
  }
  /* one byte more than the longest name */
  char desc[JS_DESC_MAX + 8] = JS_DESC_PREFIX;
  memset(desc + strlen(desc), 'x', OCKAM_NAME_MAX + 1);
  assert_false(ockami_js_description_name(desc, name, &len));
}

static void test_keys(void **state) {
  (void)state;
  char key[JS_KEY_MAX];
  ockami_js_index_key("client-I", 8, "sc.x y", 6, key);
  assert_string_equal(key, "client-I.sc=2Ex=20y");
  ockami_js_index_key("a_b", 3, "\x00\xff=", 3, key);
  assert_string_equal(key, "a_b.=00=FF=3D");
  /* the longest key fits */
  char all[OCKAM_NAME_MAX];
  memset(all, '.', sizeof all);
  ockami_js_index_key(all, sizeof all, all, sizeof all, key);
  assert_int_equal(strlen(key), JS_KEY_MAX - 1);
  /* a client part never holds the separator */
  assert_ptr_equal(strchr(key, '.'), key + 3 * OCKAM_NAME_MAX);
}

static void test_reply_parse(void **state) {
  (void)state;
  const char *inbox = "_INBOX.abc";
  size_t il = strlen(inbox);
  uint64_t g, k;
  assert_true(ockami_js_reply_parse(inbox, il, "_INBOX.abc.7.42", &g, &k));
  assert_int_equal(g, 7);
  assert_int_equal(k, 42);
  assert_true(ockami_js_reply_parse(inbox, il, "_INBOX.abc.18446744073709551609.0", &g, &k));
  assert_int_equal(g, UINT64_MAX - 6); /* larger values are refused */
  const char *bad[] = {
      "_INBOX.abc.7",
      "_INBOX.abc.7.",
      "_INBOX.abc..1",
      "_INBOX.abc.7.42.1",
      "_INBOX.abd.7.42",
      "_INBOX.abc7.42",
      "_INBOX.abc.-1.2",
      "_INBOX.abc.7.4x",
      "_INBOX.abc",
      "_INBOX.ab",
      "_INBOX.abc.1.99999999999999999999",
      "",
      "_INBOX.abc.+7.42",
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    if (ockami_js_reply_parse(inbox, il, bad[i], &g, &k)) fail_msg("accepted \"%s\"", bad[i]);
  }
}

static void test_parse_u64(void **state) {
  (void)state;
  uint64_t v;
  assert_true(ockami_js_parse_u64("0", 1, &v));
  assert_int_equal(v, 0);
  assert_true(ockami_js_parse_u64("18446744073709551615", 20, &v));
  assert_int_equal(v, UINT64_MAX);
  assert_true(ockami_js_parse_u64("123junk", 3, &v)); /* exactly len bytes */
  assert_int_equal(v, 123);
  assert_false(ockami_js_parse_u64("18446744073709551616", 20, &v));
  assert_false(ockami_js_parse_u64("", 0, &v));
  assert_false(ockami_js_parse_u64(NULL, 1, &v));
  assert_false(ockami_js_parse_u64("-1", 2, &v));
  assert_false(ockami_js_parse_u64(" 1", 2, &v));
  assert_false(ockami_js_parse_u64("000000000000000000001", 21, &v));
}

static void test_puback(void **state) {
  (void)state;
  struct {
    const char *json;
    bool ok;
    bool error;
    uint64_t seq;
    uint64_t err_code;
  } cases[] = {
      {"{\"stream\":\"OCKAM_x\",\"seq\":5}", true, false, 5, 0},
      {" { \"stream\" : \"S\" , \"seq\" : 18446744073709551609 , \"duplicate\" : true } ", true,
       false, UINT64_MAX - 6, 0},
      {"{\"seq\":1,\"extra\":{\"a\":[1,2,{\"b\":null}],\"s\":\"q\\\"}\"}}", true, false, 1, 0},
      {"{\"error\":{\"code\":503,\"err_code\":10039,\"description\":\"x\"}}", true, true, 0, 10039},
      {"{\"error\":{}}", true, true, 0, 0},
      {"{\"stream\":\"S\",\"seq\":0}", false, false, 0, 0}, /* sequences start at 1 */
      {"{\"stream\":\"S\"}", false, false, 0, 0},
      {"{}", false, false, 0, 0},
      {"", false, false, 0, 0},
      {"{", false, false, 0, 0},
      {"{\"seq\":5", false, false, 0, 0},
      {"{\"seq\":5,}", false, false, 0, 0},
      {"{\"seq\":-5}", false, false, 0, 0},
      {"{\"seq\":\"5\"}", false, false, 0, 0},
      {"{\"seq\":18446744073709551616}", false, false, 0, 0},
      {"{\"seq\":5}}", true, false, 5, 0}, /* trailing bytes after the object are ignored */
      {"{\"error\":5}", false, false, 0, 0},
      {"{\"error\":{\"err_code\":\"x\"}}", false, false, 0, 0},
      {"{\"s\":\"unterminated}", false, false, 0, 0},
      {"[1,2]", false, false, 0, 0},
      {"{\"a\":[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]],\"seq\":1}", false, false, 0,
       0}, /* too deep */
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    js_puback ack;
    bool ok = ockami_js_parse_puback(cases[i].json, strlen(cases[i].json), &ack);
    if (ok != cases[i].ok) fail_msg("case %zu (%s): got %d", i, cases[i].json, ok);
    if (!ok) continue;
    assert_int_equal(ack.error, cases[i].error);
    if (!ack.error) assert_int_equal(ack.seq, cases[i].seq);
    assert_int_equal(ack.err_code, cases[i].err_code);
  }
  /* the length bounds the parse: a valid ack cut anywhere is refused */
  const char *full = "{\"stream\":\"S\",\"seq\":12}";
  js_puback ack;
  for (size_t cut = 0; cut < strlen(full); cut++) {
    assert_false(ockami_js_parse_puback(full, cut, &ack));
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_names),
      cmocka_unit_test(test_description_round_trip),
      cmocka_unit_test(test_description_refused),
      cmocka_unit_test(test_keys),
      cmocka_unit_test(test_reply_parse),
      cmocka_unit_test(test_parse_u64),
      cmocka_unit_test(test_puback),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
