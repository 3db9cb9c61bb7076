/* ockam_send_string() and ockam_mailbox_receive_string(): the payload is a
 * BARE string on the wire, a buffer too small leaves the message queued, a
 * payload that is not a string is taken and reported, and timeouts and bad
 * arguments return their codes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "ockam/node.h"

static ockam_route *route_of(const char *text) {
  ockam_route *r;
  assert_int_equal(ockam_route_parse(text, &r), OCKAM_OK);
  return r;
}

/* Each test gets a node with a mailbox at "app". */
typedef struct fixture {
  ockam_node *node;
  ockam_mailbox *mb;
} fixture;

static int setup(void **state) {
  fixture *f = calloc(1, sizeof *f);
  if (!f || ockam_node_create(&f->node) || ockam_mailbox_create(f->node, "app", &f->mb)) return -1;
  *state = f;
  return 0;
}

static int teardown(void **state) {
  fixture *f = *state;
  ockam_mailbox_destroy(f->mb);
  ockam_node_destroy(f->node);
  free(f);
  return 0;
}

static void test_round_trip(void **state) {
  fixture *f = *state;
  ockam_node *node = f->node;
  ockam_mailbox *mb = f->mb;
  ockam_route *r = route_of("app");
  assert_int_equal(ockam_send_string(node, "app", r, "Hello World!"), OCKAM_OK);
  assert_int_equal(ockam_send_string(node, "app", r, ""), OCKAM_OK);

  /* The payload is the BARE string: uint length, then the bytes. */
  ockam_message *m;
  assert_int_equal(ockam_mailbox_receive(mb, 5000, &m), OCKAM_OK);
  size_t plen;
  const uint8_t *p = ockam_message_payload(m, &plen);
  assert_int_equal(plen, 13);
  assert_int_equal(p[0], 12);
  assert_memory_equal(p + 1, "Hello World!", 12);
  char from[64];
  ockam_route_format(ockam_message_return(m), from, sizeof from);
  assert_string_equal(from, "[0#app]");
  ockam_message_free(m);

  char buf[8];
  size_t len = 99;
  assert_int_equal(ockam_mailbox_receive_string(mb, 5000, buf, sizeof buf, &len), OCKAM_OK);
  assert_int_equal(len, 0);
  assert_string_equal(buf, "");

  ockam_route_free(r);
}

static void test_too_small_keeps_message(void **state) {
  fixture *f = *state;
  ockam_node *node = f->node;
  ockam_mailbox *mb = f->mb;
  ockam_route *r = route_of("0#app");
  assert_int_equal(ockam_send_string(node, "app", r, "12345678"), OCKAM_OK);
  assert_int_equal(ockam_send_string(node, "app", r, "next"), OCKAM_OK);

  char small[8]; /* 8 characters need 9 bytes with the NUL */
  size_t len = 0;
  assert_int_equal(ockam_mailbox_receive_string(mb, 5000, small, sizeof small, &len),
                   OCKAM_ETOOSMALL);
  assert_int_equal(len, 8);
  /* Still first in line: a larger buffer gets it, then the next one. */
  char big[9];
  assert_int_equal(ockam_mailbox_receive_string(mb, 5000, big, sizeof big, &len), OCKAM_OK);
  assert_int_equal(len, 8);
  assert_string_equal(big, "12345678");
  assert_int_equal(ockam_mailbox_receive_string(mb, 5000, big, sizeof big, NULL), OCKAM_OK);
  assert_string_equal(big, "next");

  ockam_route_free(r);
}

static void test_not_a_string_is_taken(void **state) {
  fixture *f = *state;
  ockam_node *node = f->node;
  ockam_mailbox *mb = f->mb;
  ockam_route *r = route_of("app");
  const uint8_t trailing[] = {1, 'a', 'b'};   /* one byte more than the string */
  const uint8_t truncated[] = {5, 'a'};       /* shorter than its length */
  const uint8_t not_utf8[] = {2, 0xc3, 0x28}; /* invalid UTF-8 */
  assert_int_equal(ockam_send(node, "app", r, trailing, sizeof trailing), OCKAM_OK);
  assert_int_equal(ockam_send(node, "app", r, truncated, sizeof truncated), OCKAM_OK);
  assert_int_equal(ockam_send(node, "app", r, not_utf8, sizeof not_utf8), OCKAM_OK);
  assert_int_equal(ockam_send_string(node, "app", r, "ok"), OCKAM_OK);
  char buf[16];
  assert_int_equal(ockam_mailbox_receive_string(mb, 5000, buf, sizeof buf, NULL), OCKAM_ETRAILING);
  assert_int_equal(ockam_mailbox_receive_string(mb, 5000, buf, sizeof buf, NULL), OCKAM_ETRUNC);
  assert_int_equal(ockam_mailbox_receive_string(mb, 5000, buf, sizeof buf, NULL), OCKAM_EUTF8);
  size_t len;
  assert_int_equal(ockam_mailbox_receive_string(mb, 5000, buf, sizeof buf, &len), OCKAM_OK);
  assert_int_equal(len, 2);
  assert_string_equal(buf, "ok");
  ockam_route_free(r);
}

static void test_errors(void **state) {
  fixture *f = *state;
  ockam_node *node = f->node;
  ockam_mailbox *mb = f->mb;
  ockam_route *r = route_of("app"), *empty;
  assert_int_equal(ockam_route_new(&empty), OCKAM_OK);
  char buf[4];
  assert_int_equal(ockam_mailbox_receive_string(mb, 10, buf, sizeof buf, NULL), OCKAM_ETIMEDOUT);
  assert_int_equal(ockam_mailbox_receive_string(NULL, 10, buf, sizeof buf, NULL), OCKAM_EINVAL);
  assert_int_equal(ockam_mailbox_receive_string(mb, 10, NULL, 4, NULL), OCKAM_EINVAL);
  assert_int_equal(ockam_mailbox_receive_string(mb, 10, buf, 0, NULL), OCKAM_EINVAL);
  assert_int_equal(ockam_send_string(node, "app", r, NULL), OCKAM_EINVAL);
  assert_int_equal(ockam_send_string(node, NULL, r, "x"), OCKAM_EINVAL);
  assert_int_equal(ockam_send_string(node, "app", empty, "x"), OCKAM_EINVAL);
  assert_int_equal(ockam_send_string(NULL, "app", r, "x"), OCKAM_EINVAL);
  ockam_route_free(empty);
  ockam_route_free(r);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_round_trip, setup, teardown),
      cmocka_unit_test_setup_teardown(test_too_small_keeps_message, setup, teardown),
      cmocka_unit_test_setup_teardown(test_not_a_string_is_taken, setup, teardown),
      cmocka_unit_test_setup_teardown(test_errors, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
