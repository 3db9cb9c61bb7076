/* The stream client end to end: two nodes in this process exchange messages
 * through a real `ockam hub` child process over loopback TCP (spec §8). */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "ockam/ockam.h"
#include "testutil.h"

static ockam_route *route_of(const char *text) {
  ockam_route *r;
  assert_int_equal(ockam_route_parse(text, &r), OCKAM_OK);
  return r;
}

/* The hub logs errors only: its output goes to this test's stderr. */
static const char *const HUB_ARGS[] = {"--log", "error", NULL};

typedef struct peer {
  ockam_node *node;
  ockam_tcp *tcp;
  ockam_stream *s;
  ockam_mailbox *sink;
} peer;

static void peer_start(peer *p, const ockam_route *hub, const char *out, const char *in,
                       const ockam_stream_options *o) {
  assert_int_equal(ockam_node_create(&p->node), OCKAM_OK);
  assert_int_equal(ockam_tcp_create(p->node, NULL, &p->tcp), OCKAM_OK);
  assert_int_equal(ockam_tcp_connect_route(p->tcp, hub, 0), OCKAM_OK);
  assert_int_equal(ockam_stream_connect(p->node, hub, out, in, o, &p->s), OCKAM_OK);
  assert_int_equal(ockam_stream_allow(p->s, "sink"), OCKAM_OK);
  assert_int_equal(ockam_mailbox_create(p->node, "sink", &p->sink), OCKAM_OK);
}

static void peer_stop(peer *p) {
  ockam_stream_close(p->s);
  ockam_mailbox_destroy(p->sink);
  ockam_tcp_close(p->tcp);
  ockam_node_destroy(p->node);
}

/* Both nodes live in this thread: run each loop in short turns. */
static void both_run(peer *a, peer *b) {
  assert_int_equal(ockam_node_run_until(a->node, 2, NULL, NULL), OCKAM_OK);
  assert_int_equal(ockam_node_run_until(b->node, 2, NULL, NULL), OCKAM_OK);
}

static bool peer_ready(peer *p) {
  return ockam_stream_wait_ready(p->s, 0) == OCKAM_OK;
}

/* Send "e2e-<i>" for i in [from, to) from a to b's "sink". */
static void e2e_send(peer *a, size_t from, size_t to) {
  char route[128];
  snprintf(route, sizeof route, "%s;sink", ockam_stream_tx_address(a->s));
  ockam_route *r = route_of(route);
  for (size_t i = from; i < to; i++) {
    char msg[32];
    int n = snprintf(msg, sizeof msg, "e2e-%zu", i);
    ockam_message *m;
    assert_int_equal(ockam_message_new(&m), OCKAM_OK);
    assert_int_equal(ockam_route_append_route(ockam_message_onward_mut(m), r), OCKAM_OK);
    assert_int_equal(ockam_route_append_str(ockam_message_return_mut(m), "app"), OCKAM_OK);
    assert_int_equal(ockam_message_set_string(m, msg, (size_t)n), OCKAM_OK);
    assert_int_equal(ockam_send_message(a->node, m), OCKAM_OK);
  }
  ockam_route_free(r);
}

typedef struct e2e_rx {
  size_t got;      /* messages received, repeats included */
  size_t distinct; /* different messages */
  size_t in_order; /* messages that were the next expected one */
  size_t next;     /* next expected message number */
  bool seen[4096];
} e2e_rx;

static void e2e_receive(peer *a, peer *b, e2e_rx *rx, size_t want, int64_t timeout_ms) {
  uint64_t until = ockam_node_now_ms(a->node) + (uint64_t)timeout_ms;
  while (rx->distinct < want && ockam_node_now_ms(a->node) < until) {
    both_run(a, b);
    ockam_message *m;
    while (ockam_mailbox_receive(b->sink, 0, &m) == OCKAM_OK) {
      const char *s;
      size_t len, i = SIZE_MAX;
      char text[32];
      if (ockam_message_get_string(m, &s, &len) == OCKAM_OK && len < sizeof text) {
        memcpy(text, s, len);
        text[len] = '\0';
        if (sscanf(text, "e2e-%zu", &i) != 1) i = SIZE_MAX;
      }
      ockam_message_free(m);
      rx->got++;
      if (i >= 4096) continue;
      if (!rx->seen[i]) rx->distinct++;
      rx->seen[i] = true;
      if (i == rx->next) {
        rx->in_order++;
        rx->next++;
      }
    }
  }
}

/* 1,000 messages one way through `ockam hub --store memory`: all arrive, in
 * order, once. */
static void test_e2e_hub(void **state) {
  (void)state;
  tu_proc hubp;
  char hostport[128];
  if (tu_start_hub(&hubp, 0, "memory", NULL, HUB_ARGS, hostport, sizeof hostport))
    fail_msg("cannot start %s", OCKAM_BIN);
  char text[160];
  snprintf(text, sizeof text, "1#%s", hostport);
  ockam_route *hub = route_of(text);
  peer a = {0}, b = {0};
  peer_start(&a, hub, "e2e-a2b", "e2e-b2a", NULL);
  peer_start(&b, hub, "e2e-b2a", "e2e-a2b", NULL);

  uint64_t until = ockam_node_now_ms(a.node) + 5000;
  while (!(peer_ready(&a) && peer_ready(&b)) && ockam_node_now_ms(a.node) < until) both_run(&a, &b);
  bool ready = peer_ready(&a) && peer_ready(&b);
  if (!ready) fprintf(stderr, "hub at %s has no working stream service\n", hostport);

  enum { N = 1000 };
  static e2e_rx rx;
  memset(&rx, 0, sizeof rx);
  if (ready) {
    e2e_send(&a, 0, N);
    e2e_receive(&a, &b, &rx, N, 60000);
    /* Nothing more arrives. */
    for (int i = 0; i < 50; i++) both_run(&a, &b);
    e2e_receive(&a, &b, &rx, N + 1, 0);
  }
  ockam_stream_stats sa, sb;
  ockam_stream_get_stats(a.s, &sa);
  ockam_stream_get_stats(b.s, &sb);
  peer_stop(&a);
  peer_stop(&b);
  ockam_route_free(hub);
  assert_int_equal(tu_term(&hubp), 0);
  assert_true(ready);
  /* In order, each once (a repeat could only follow a resend on a very slow
   * machine; then first copies must still be in order). */
  assert_int_equal(rx.in_order, N);
  assert_int_equal(rx.distinct, N);
  if (sa.resent == 0) assert_int_equal(rx.got, N);
  assert_int_equal(sa.confirmed, N);
  assert_int_equal(sb.delivered, N);
  assert_true(sb.long_poll);
  assert_true(sb.polls < 100); /* long-poll: no busy polling */
}

/* The hub (lmdb) is killed and restarted on the same port while messages
 * flow: every message arrives, none is lost. */
static void test_e2e_hub_restart(void **state) {
  (void)state;
  char *dir = tu_tempdir("stream-e2e");
  assert_non_null(dir);
  tu_proc hubp;
  char hostport[128];
  if (tu_start_hub(&hubp, 0, "lmdb", dir, HUB_ARGS, hostport, sizeof hostport)) {
    tu_rmrf(dir);
    free(dir);
    fail_msg("cannot start %s", OCKAM_BIN);
  }
  char text[160];
  snprintf(text, sizeof text, "1#%s", hostport);
  ockam_route *hub = route_of(text);
  ockam_stream_options o = {0};
  o.retry_ms = 300;
  o.long_poll_ms = 1000;
  o.client_id = "e2e-restart-b";
  peer a = {0}, b = {0};
  peer_start(&a, hub, "e2e-r-a2b", "e2e-r-b2a", &o);
  peer_start(&b, hub, "e2e-r-b2a", "e2e-r-a2b", &o);
  uint64_t until = ockam_node_now_ms(a.node) + 5000;
  while (!(peer_ready(&a) && peer_ready(&b)) && ockam_node_now_ms(a.node) < until) both_run(&a, &b);
  if (!(peer_ready(&a) && peer_ready(&b))) {
    peer_stop(&a);
    peer_stop(&b);
    ockam_route_free(hub);
    tu_term(&hubp);
    tu_rmrf(dir);
    free(dir);
    fail_msg("the streams through the hub did not become ready");
  }
  static e2e_rx rx;
  memset(&rx, 0, sizeof rx);
  e2e_send(&a, 0, 300);
  e2e_receive(&a, &b, &rx, 300, 20000);
  assert_int_equal(rx.distinct, 300);

  /* Crash the hub, keep sending, restart it on the same address. */
  tu_kill(&hubp, SIGKILL);
  e2e_send(&a, 300, 600);
  for (int i = 0; i < 100; i++) both_run(&a, &b);
  char again[128];
  const char *colon = strrchr(hostport, ':');
  assert_non_null(colon);
  assert_int_equal(tu_start_hub(&hubp, atoi(colon + 1), "lmdb", dir, HUB_ARGS, again, sizeof again),
                   0);
  e2e_receive(&a, &b, &rx, 600, 60000);
  /* A message can reach B before A has read its confirm: wait for those. */
  int flushed = ockam_stream_flush(a.s, 10000);
  ockam_stream_stats sa, sb;
  ockam_stream_get_stats(a.s, &sa);
  ockam_stream_get_stats(b.s, &sb);
  fprintf(stderr,
          "restart: received %zu (distinct %zu, in order %zu); A resent %llu timeouts %llu "
          "reinits %llu; B timeouts %llu reinits %llu\n",
          rx.got, rx.distinct, rx.in_order, (unsigned long long)sa.resent,
          (unsigned long long)sa.timeouts, (unsigned long long)sa.reinits,
          (unsigned long long)sb.timeouts, (unsigned long long)sb.reinits);
  peer_stop(&a);
  peer_stop(&b);
  ockam_route_free(hub);
  assert_int_equal(tu_term(&hubp), 0);
  tu_rmrf(dir);
  free(dir);
  assert_int_equal(rx.distinct, 600);
  assert_int_equal(sa.confirmed, 600);
  assert_int_equal(flushed, OCKAM_OK);
}

int main(void) {
  signal(SIGPIPE, SIG_IGN);
  if (!getenv("OCKAM_LOG")) ockam_log_set_level(OCKAM_LOG_ERROR);
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_e2e_hub),
      cmocka_unit_test(test_e2e_hub_restart),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
