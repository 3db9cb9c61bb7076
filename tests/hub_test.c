/* Multi-process tests of the hub binary over real loopback TCP: echo with raw
 * 2021 frames, a malformed frame on one connection while another is served,
 * kill + restart with a reconnecting client, and the forwarding service
 * between two separate node processes. */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "ockam/ockam.h"
#include "testutil.h"

/* A 2021 TransportMessage: onward [0#echo_service], return [0#app], payload
 * BARE String "Hello World!" (as in spec §1.5 example A, other routes). */
static size_t echo_request(uint8_t *out, const char *text) {
  ockam_message *m;
  assert_int_equal(ockam_message_new(&m), 0);
  assert_int_equal(ockam_route_append_str(ockam_message_onward_mut(m), "echo_service"), 0);
  assert_int_equal(ockam_route_append_str(ockam_message_return_mut(m), "app"), 0);
  assert_int_equal(ockam_message_set_string(m, text, strlen(text)), 0);
  size_t n;
  assert_int_equal(ockam_message_encode(m, out + 2, 1000, &n), 0);
  out[0] = (uint8_t)(n >> 8);
  out[1] = (uint8_t)n;
  ockam_message_free(m);
  return n + 2;
}

static void check_echo_reply(const uint8_t *frame, int n, const char *text) {
  ockam_message *m;
  assert_true(n > 0);
  assert_int_equal(ockam_message_decode(frame, (size_t)n, &m), 0);
  char on[128], ret[128];
  ockam_route_format(ockam_message_onward(m), on, sizeof on);
  ockam_route_format(ockam_message_return(m), ret, sizeof ret);
  /* The hub popped its connection address; the reply comes from echo_service. */
  assert_string_equal(on, "[0#app]");
  assert_string_equal(ret, "[0#echo_service]");
  const char *s;
  size_t len;
  assert_int_equal(ockam_message_get_string(m, &s, &len), 0);
  assert_int_equal(len, strlen(text));
  assert_memory_equal(s, text, len);
  ockam_message_free(m);
}

static void test_echo_and_malformed_frames(void **state) {
  (void)state;
  tu_proc hub;
  char bound[64];
  int good = tu_memory_hub_connected(&hub, bound, sizeof bound);
  uint8_t req[1024], rep[70000];
  size_t n = echo_request(req, "Hello World!");
  assert_int_equal(tu_send_all(good, req, n), 0);
  check_echo_reply(rep, tu_recv_frame(good, rep, sizeof rep, 5000), "Hello World!");

  /* Each malformed frame closes only its own connection. */
  static const char *const bad[] = {
      "000401010000",                 /* route claims a hop that is not there */
      "0006010180016100",             /* address type 128 */
      "00050100000000",               /* trailing byte after the payload */
      "000b0100ffffffffffffffffffff", /* varint longer than 10 bytes */
      "0000",                         /* empty frame */
      "000302000000",                 /* version 2 (and a bad length) */
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    int evil = tu_connect(bound, 5000);
    assert_true(evil >= 0);
    uint8_t b[64];
    size_t bl = 0;
    for (const char *p = bad[i]; *p; p += 2) {
      unsigned v;
      sscanf(p, "%2x", &v);
      b[bl++] = (uint8_t)v;
    }
    assert_int_equal(tu_send_all(evil, b, bl), 0);
    /* The bad frame "000302000000" is 3 bytes long plus a spare byte: the hub
     * reads the frame, rejects version 2 and closes. */
    assert_int_equal(tu_wait_closed(evil, 5000), 1);
    close(evil);
    /* The good connection is still served. */
    assert_int_equal(tu_send_all(good, req, n), 0);
    check_echo_reply(rep, tu_recv_frame(good, rep, sizeof rep, 5000), "Hello World!");
  }
  /* A frame cut in the middle followed by a close does not disturb others. */
  int cut = tu_connect(bound, 5000);
  assert_int_equal(tu_send_all(cut, req, n / 2), 0);
  close(cut);
  /* Largest frame: 65535 bytes of TransportMessage. */
  ockam_message *big;
  assert_int_equal(ockam_message_new(&big), 0);
  assert_int_equal(ockam_route_append_str(ockam_message_onward_mut(big), "echo_service"), 0);
  assert_int_equal(ockam_route_append_str(ockam_message_return_mut(big), "app"), 0);
  /* version 1 + onward 15 + return 6 + payload length 3 = 25 bytes of overhead */
  size_t plen = 65535 - 25;
  uint8_t *payload = calloc(1, plen);
  assert_int_equal(ockam_message_set_payload(big, payload, plen), 0);
  size_t bn;
  assert_int_equal(ockam_message_encode(big, req + 2, 0, &bn), OCKAM_EOVERFLOW);
  assert_int_equal(bn, 65535);
  uint8_t *bigframe = malloc(bn + 2);
  assert_int_equal(ockam_message_encode(big, bigframe + 2, bn, &bn), 0);
  bigframe[0] = 0xff;
  bigframe[1] = 0xff;
  assert_int_equal(tu_send_all(good, bigframe, bn + 2), 0);
  int got = tu_recv_frame(good, rep, sizeof rep, 5000);
  assert_int_equal(got, 65535);
  free(bigframe);
  free(payload);
  ockam_message_free(big);
  close(good);
  assert_int_equal(tu_term(&hub), 0);
}

static bool send_and_receive(ockam_node *node, ockam_mailbox *app, const char *hub,
                             const char *text, int64_t timeout_ms) {
  char hop[128];
  snprintf(hop, sizeof hop, "1#%s;echo_service", hub);
  ockam_route *r;
  assert_int_equal(ockam_route_parse(hop, &r), 0);
  uint8_t payload[256];
  payload[0] = (uint8_t)strlen(text);
  memcpy(payload + 1, text, strlen(text));
  assert_int_equal(ockam_send(node, "app", r, payload, 1 + strlen(text)), 0);
  ockam_route_free(r);
  ockam_message *reply;
  if (ockam_mailbox_receive(app, timeout_ms, &reply) != OCKAM_OK) return false;
  const char *s;
  size_t len;
  bool ok = ockam_message_get_string(reply, &s, &len) == OCKAM_OK && len == strlen(text) &&
            !memcmp(s, text, len);
  ockam_message_free(reply);
  return ok;
}

static void test_kill_restart_reconnect(void **state) {
  (void)state;
  int port = tu_free_port();
  tu_proc hub;
  char bound[64];
  assert_int_equal(tu_start_hub(&hub, port, "memory", NULL, NULL, bound, sizeof bound), 0);
  ockam_node *node;
  ockam_tcp *tcp;
  ockam_mailbox *app;
  tu_client_node(&node, &tcp);
  assert_int_equal(ockam_tcp_connect(tcp, bound, 5000), 0);
  assert_int_equal(ockam_mailbox_create(node, "app", &app), 0);
  assert_true(send_and_receive(node, app, bound, "before", 5000));
  assert_true(ockam_tcp_is_connected(tcp, bound));

  tu_kill(&hub, SIGKILL);
  /* Let the client notice the loss. */
  assert_int_equal(ockam_node_run_until(node, 300, NULL, NULL), 0);
  assert_false(ockam_tcp_is_connected(tcp, bound));
  assert_int_equal(tu_start_hub(&hub, port, "memory", NULL, NULL, bound, sizeof bound), 0);
  /* The next message waits for the reconnect and is echoed. */
  assert_true(send_and_receive(node, app, bound, "after restart", 15000));
  ockam_tcp_stats st;
  ockam_tcp_get_stats(tcp, &st);
  assert_true(st.reconnects >= 1);
  assert_true(st.connects >= 2);
  ockam_mailbox_destroy(app);
  ockam_tcp_close(tcp);
  ockam_node_destroy(node);
  assert_int_equal(tu_term(&hub), 0);
}

static void test_forwarding_between_processes(void **state) {
  (void)state;
  tu_proc hub, responder, initiator;
  char bound[64], line[512];
  assert_int_equal(tu_start_hub(&hub, 0, "memory", NULL, NULL, bound, sizeof bound), 0);
  char *rargv[] = {(char *)OCKAM_EXAMPLES "/08-forwarding-responder", bound, NULL};
  assert_int_equal(tu_spawn(&responder, rargv, true), 0);
  assert_int_equal(tu_expect_line(&responder, "Forwarding address: ", line, sizeof line, 10000), 0);
  char *fwd = strstr(line, ": ") + 2;
  char *iargv[] = {(char *)OCKAM_EXAMPLES "/08-forwarding-initiator", bound, fwd, NULL};
  assert_int_equal(tu_spawn(&initiator, iargv, true), 0);
  /* The responder's echoer got it through the forwarder ... */
  assert_int_equal(
      tu_expect_line(&responder, "echoer: received 'Hello World!'", line, sizeof line, 10000), 0);
  /* ... with a return route that leads back through the hub ... */
  assert_non_null(strstr(line, "1#"));
  /* ... and the reply reached the initiator. */
  assert_int_equal(
      tu_expect_line(&initiator, "App Received: Hello World!", line, sizeof line, 10000), 0);
  assert_int_equal(tu_wait(&initiator, 5000), 0);
  assert_int_equal(tu_term(&responder), 0);
  assert_int_equal(tu_term(&hub), 0);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_echo_and_malformed_frames),
      cmocka_unit_test(test_kill_restart_reconnect),
      cmocka_unit_test(test_forwarding_between_processes),
  };
  return TU_RUN_TESTS(tests);
}
