/* Connection events and liveness of the TCP transport against the real hub:
 * the hub's pong goes to the ping's return route; a client hears of a lost
 * connection at once (hub killed) or after a few seconds of silence (hub
 * frozen), and of the reconnection within about a second of the hub being
 * reachable again. */
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

/* ---- pong ------------------------------------------------------------------ */

static void test_pong_goes_to_return_route(void **state) {
  (void)state;
  tu_proc hub;
  char bound[64];
  int fd = tu_memory_hub_connected(&hub, bound, sizeof bound);
  /* TransportMessage{version 1, onward [], return [0#"app"], payload [00]} */
  static const uint8_t ping[] = {0x00, 0x0a, 0x01, 0x00, 0x01, 0x00,
                                 0x03, 'a',  'p',  'p',  0x01, 0x00};
  assert_int_equal(tu_send_all(fd, ping, sizeof ping), 0);
  uint8_t rep[256];
  int n = tu_recv_frame(fd, rep, sizeof rep, 5000);
  assert_true(n > 0);
  ockam_message *m;
  assert_int_equal(ockam_message_decode(rep, (size_t)n, &m), 0);
  const ockam_route *on = ockam_message_onward(m);
  assert_int_equal(ockam_route_len(on), 1);
  ockam_address a;
  assert_int_equal(ockam_route_get(on, 0, &a), 0);
  assert_int_equal(a.type, OCKAM_ADDRESS_LOCAL);
  assert_int_equal(a.len, 3);
  assert_memory_equal(a.value, "app", 3);
  assert_int_equal(ockam_route_len(ockam_message_return(m)), 0);
  size_t plen;
  const uint8_t *p = ockam_message_payload(m, &plen);
  assert_int_equal(plen, 1);
  assert_int_equal(p[0], 1);
  ockam_message_free(m);
  close(fd);
  assert_int_equal(tu_term(&hub), 0);
}

/* ---- events ------------------------------------------------------------------ */

typedef struct watch {
  char peer[96];
  int ups, downs;
  int last_error;
} watch;

static void on_event(void *arg, const ockam_conn_event *ev) {
  watch *w = arg;
  if (!ev->outgoing || ev->peer.type != OCKAM_ADDRESS_TCP || ev->peer.len != strlen(w->peer) ||
      memcmp(ev->peer.value, w->peer, ev->peer.len))
    return;
  if (ev->kind == OCKAM_CONN_UP) w->ups++;
  if (ev->kind == OCKAM_CONN_DOWN) {
    w->downs++;
    w->last_error = ev->error;
  }
}

typedef struct want {
  watch *w;
  int ups, downs;
} want;

static bool reached(void *arg) {
  want *x = arg;
  return x->w->ups >= x->ups && x->w->downs >= x->downs;
}

static int wait_events(ockam_node *node, watch *w, int ups, int downs, int timeout_ms) {
  want x = {w, ups, downs};
  return ockam_node_run_until(node, timeout_ms, reached, &x);
}

static void test_down_and_back_up(void **state) {
  (void)state;
  int port = tu_free_port();
  tu_proc hub;
  char bound[64];
  assert_int_equal(tu_start_hub(&hub, port, "memory", NULL, NULL, bound, sizeof bound), 0);
  ockam_node *node;
  ockam_tcp *tcp;
  ockam_conn_sub *sub;
  watch w = {0};
  snprintf(w.peer, sizeof w.peer, "%s", bound);
  tu_client_node(&node, &tcp);
  assert_int_equal(ockam_node_subscribe_conn_events(node, on_event, &w, &sub), 0);
  assert_int_equal(ockam_tcp_connect(tcp, bound, 10000), 0);
  assert_int_equal(wait_events(node, &w, 1, 0, 5000), 0);

  /* Killed: the connection is reset, the client hears it at once. */
  uint64_t t0 = tu_now_ms();
  tu_kill(&hub, SIGKILL);
  assert_int_equal(wait_events(node, &w, 1, 1, 10000), 0);
  printf("# hub killed: DOWN (%s) after %llu ms\n", ockam_errname(w.last_error),
         (unsigned long long)(tu_now_ms() - t0));
  /* Down for a while: the backoff reaches its cap. */
  assert_int_equal(ockam_node_run_until(node, 3000, NULL, NULL), 0);
  assert_int_equal(w.ups, 1);

  /* Back: the client reconnects within about the backoff cap. */
  assert_int_equal(tu_start_hub(&hub, port, "memory", NULL, NULL, bound, sizeof bound), 0);
  t0 = tu_now_ms();
  assert_int_equal(wait_events(node, &w, 2, 1, 15000), 0);
  uint64_t back = tu_now_ms() - t0;
  printf("# hub restarted: UP after %llu ms (backoff cap %u ms)\n", (unsigned long long)back,
         OCKAM_TCP_BACKOFF_MAX_MS);
  assert_true(back < 5000);

  /* Cancelled subscriptions hear nothing more. */
  ockam_conn_sub_cancel(sub);
  tu_kill(&hub, SIGKILL);
  assert_int_equal(ockam_node_run_until(node, 500, NULL, NULL), 0);
  assert_int_equal(w.downs, 1);
  ockam_node_destroy(node);
  ockam_tcp_close(tcp);
}

/* A hub that stops answering without closing (frozen process, dead host
 * behind a NAT): pings find it out. */
static void test_silent_hub_detected(void **state) {
  (void)state;
  tu_proc hub;
  char bound[64];
  assert_int_equal(tu_start_hub(&hub, 0, "memory", NULL, NULL, bound, sizeof bound), 0);
  ockam_node *node;
  ockam_tcp *tcp;
  watch w = {0};
  snprintf(w.peer, sizeof w.peer, "%s", bound);
  tu_client_node(&node, &tcp);
  assert_int_equal(ockam_node_subscribe_conn_events(node, on_event, &w, NULL), 0);
  assert_int_equal(ockam_tcp_connect(tcp, bound, 10000), 0);
  /* Idle long enough for a ping and its pong. */
  assert_int_equal(ockam_node_run_until(node, 2500, NULL, NULL), 0);
  assert_int_equal(w.downs, 0);

  uint64_t t0 = tu_now_ms();
  assert_int_equal(kill(hub.pid, SIGSTOP), 0);
  assert_int_equal(wait_events(node, &w, 1, 1, 30000), 0);
  uint64_t dead = tu_now_ms() - t0;
  printf("# hub frozen: DOWN (%s) after %llu ms of silence (dead after %u ms)\n",
         ockam_errname(w.last_error), (unsigned long long)dead, OCKAM_TCP_DEAD_AFTER_MS);
  assert_int_equal(w.last_error, OCKAM_ETIMEDOUT);
  assert_int_equal(kill(hub.pid, SIGCONT), 0);
  assert_int_equal(wait_events(node, &w, 2, 1, 15000), 0);
  ockam_node_destroy(node);
  ockam_tcp_close(tcp);
  assert_int_equal(tu_term(&hub), 0);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_pong_goes_to_return_route),
      cmocka_unit_test(test_down_and_back_up),
      cmocka_unit_test(test_silent_hub_detected),
  };
  return TU_RUN_TESTS(tests);
}
