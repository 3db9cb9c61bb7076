/* A stream consumer whose connection to the hub is cut while its long-poll
 * pull is parked asks again as soon as the connection is back (a connection
 * event), instead of waiting for the lost pull's deadline (20 s + retry). The
 * test prints the slowest delivery after a cut; the bound only has to tell a
 * reconnect (about a second at worst) from the old deadline. */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "ockam/ockam.h"
#include "proxy.h"
#include "testutil.h"

#define CUTS 5

static ockam_stream *connect_stream(ockam_node *node, const char *hub, const char *out,
                                    const char *in, const char *rx) {
  char text[96];
  ockam_route *r;
  snprintf(text, sizeof text, "1#%s", hub);
  assert_int_equal(ockam_route_parse(text, &r), 0);
  ockam_stream_options o = {.rx_address = rx};
  ockam_stream *s;
  assert_int_equal(ockam_stream_connect(node, r, out, in, &o, &s), 0);
  ockam_route_free(r);
  assert_int_equal(ockam_stream_wait_ready(s, 20000), 0);
  return s;
}

static void send_one(ockam_node *node, ockam_stream *producer, int i) {
  ockam_route *r;
  assert_int_equal(ockam_route_parse(ockam_stream_tx_address(producer), &r), 0);
  uint8_t payload[2] = {1, (uint8_t)('0' + i)};
  assert_int_equal(ockam_send(node, "sink", r, payload, sizeof payload), 0);
  ockam_route_free(r);
}

static void expect_one(ockam_mailbox *mb, int i, uint64_t *ms) {
  uint64_t t0 = tu_now_ms();
  ockam_message *m = NULL;
  assert_int_equal(ockam_mailbox_receive(mb, 60000, &m), 0);
  *ms = tu_now_ms() - t0;
  size_t len;
  const uint8_t *p = ockam_message_payload(m, &len);
  assert_int_equal(len, 2);
  assert_int_equal(p[1], '0' + i);
  ockam_message_free(m);
}

static void test_parked_pull_survives_cuts(void **state) {
  (void)state;
  tu_proc hub;
  char bound[64], via[64];
  assert_int_equal(tu_start_hub(&hub, 0, "memory", NULL, NULL, bound, sizeof bound), 0);
  tu_proxy_opts po = {0};
  tu_proxy *proxy = tu_proxy_start(bound, &po, via, sizeof via);
  assert_non_null(proxy);

  ockam_node *node;
  ockam_tcp *tcp;
  ockam_mailbox *mb;
  assert_int_equal(ockam_node_create(&node), 0);
  assert_int_equal(ockam_tcp_create(node, NULL, &tcp), 0);
  assert_int_equal(ockam_tcp_connect(tcp, bound, 10000), 0);
  assert_int_equal(ockam_tcp_connect(tcp, via, 10000), 0);
  assert_int_equal(ockam_mailbox_create(node, "sink", &mb), 0);
  /* The consumer reads "recovery" through the proxy; the producer writes it
   * over its own connection, which is never cut. */
  ockam_stream *consumer = connect_stream(node, via, "recovery-unused", "recovery", "sink");
  ockam_stream *producer = connect_stream(node, bound, "recovery", "recovery-unused-2", NULL);

  uint64_t ms, worst = 0;
  send_one(node, producer, 0);
  expect_one(mb, 0, &ms);
  for (int i = 1; i <= CUTS; i++) {
    /* Let the next long-poll pull park at the hub, then cut under it. */
    assert_int_equal(ockam_node_run_until(node, 300, NULL, NULL), 0);
    tu_proxy_cut_all(proxy);
    assert_int_equal(ockam_node_run_until(node, 100, NULL, NULL), 0);
    send_one(node, producer, i);
    expect_one(mb, i, &ms);
    printf("# cut %d: delivered %llu ms after the push\n", i, (unsigned long long)ms);
    if (ms > worst) worst = ms;
  }
  printf(
      "# %d cuts under a parked pull: slowest delivery %llu ms (a lost pull used to cost "
      "%u ms)\n",
      CUTS, (unsigned long long)worst, OCKAM_STREAM_LONG_POLL_MS + OCKAM_STREAM_RETRY_MS);
  assert_true(tu_proxy_cuts(proxy) >= CUTS);
  assert_true(worst < 8000);

  ockam_stream_close(consumer);
  ockam_stream_close(producer);
  ockam_mailbox_destroy(mb);
  ockam_tcp_close(tcp);
  ockam_node_destroy(node);
  tu_proxy_stop(proxy);
  assert_int_equal(tu_term(&hub), 0);
}

int main(void) {
  signal(SIGPIPE, SIG_IGN);
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_parked_pull_survives_cuts),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
