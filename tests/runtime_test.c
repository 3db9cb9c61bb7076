/* Blocking calls of the runtime: short timeouts that end on time whatever
 * else the loop waits for, every blocking call ending with OCKAM_ECLOSED when
 * the node stops (ockam_node_stop or a handled signal), no nested loop from a
 * callback (OCKAM_ESTATE), and a refused TCP connection reported at once. */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cmocka.h>

#include "ockam/ockam.h"
#include "testutil.h"

/* Worst case of a 1 ms receive. A stall of the old loop was the next deadline
 * of anything else on the loop (20 s for a long-poll consumer); the bound only
 * has to stay clear of scheduling noise on a loaded machine. */
#define SHORT_WAIT_BOUND_MS 1000
/* "Promptly" for calls ended by a stop or a refusal. */
#define PROMPT_MS 2000

static uint64_t now_us(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

/* Work between calls so that the loop's cached time is stale when the next
 * call arms its deadline: this is what made the old loop oversleep. */
static void busy_us(uint64_t us) {
  uint64_t end = now_us() + us;
  while (now_us() < end) {
  }
}

static void never_cb(void *arg) {
  (void)arg;
}

/* n receives of 1 ms on mb; returns the longest in microseconds. */
static uint64_t short_receives(ockam_mailbox *mb, int n) {
  uint64_t worst = 0, total = 0;
  for (int i = 0; i < n; i++) {
    busy_us((uint64_t)(i % 3) * 700);
    ockam_message *m = NULL;
    uint64_t t0 = now_us();
    int rc = ockam_mailbox_receive(mb, 1, &m);
    uint64_t dt = now_us() - t0;
    assert_int_equal(rc, OCKAM_ETIMEDOUT);
    total += dt;
    if (dt > worst) worst = dt;
  }
  printf("# %d receives of 1 ms: longest %.2f ms, mean %.3f ms\n", n, (double)worst / 1000.0,
         (double)total / 1000.0 / n);
  return worst;
}

static void test_short_timeouts_next_to_long_timer(void **state) {
  (void)state;
  ockam_node *node;
  ockam_mailbox *mb;
  ockam_timer *t;
  assert_int_equal(ockam_node_create(&node), 0);
  assert_int_equal(ockam_mailbox_create(node, "app", &mb), 0);
  assert_int_equal(ockam_timer_start(node, 60000, 0, never_cb, NULL, &t), 0);
  uint64_t worst = short_receives(mb, 3000);
  assert_true(worst < SHORT_WAIT_BOUND_MS * 1000u);
  ockam_node_destroy(node);
  ockam_mailbox_destroy(mb);
}

/* The case that was seen stalling: a stream consumer whose long-poll pull is
 * parked at the hub, so the loop's next deadline is ~20 s away. */
static void test_short_timeouts_next_to_stream_consumer(void **state) {
  (void)state;
  tu_proc hub;
  char bound[64];
  assert_int_equal(tu_start_hub(&hub, 0, "memory", NULL, NULL, bound, sizeof bound), 0);
  ockam_node *node;
  ockam_tcp *tcp;
  ockam_mailbox *mb;
  ockam_route *r;
  ockam_stream *s;
  char hop[96];
  snprintf(hop, sizeof hop, "1#%s", bound);
  assert_int_equal(ockam_node_create(&node), 0);
  assert_int_equal(ockam_tcp_create(node, NULL, &tcp), 0);
  assert_int_equal(ockam_tcp_connect(tcp, bound, 0), 0);
  assert_int_equal(ockam_mailbox_create(node, "app", &mb), 0);
  assert_int_equal(ockam_route_parse(hop, &r), 0);
  assert_int_equal(ockam_stream_connect(node, r, "rt-out", "rt-in", NULL, &s), 0);
  assert_int_equal(ockam_stream_allow(s, "app"), 0);
  assert_int_equal(ockam_stream_wait_ready(s, 20000), 0);
  /* Let the first long-poll pull park at the hub. */
  assert_int_equal(ockam_node_run_until(node, 300, NULL, NULL), 0);
  uint64_t worst = short_receives(mb, 3000);
  assert_true(worst < SHORT_WAIT_BOUND_MS * 1000u);
  ockam_stream_close(s);
  ockam_route_free(r);
  ockam_node_destroy(node);
  ockam_mailbox_destroy(mb);
  ockam_tcp_close(tcp);
  assert_int_equal(tu_term(&hub), 0);
}

/* ---- ECLOSED when the node stops ------------------------------------------ */

static void stop_cb(void *arg) {
  ockam_node_stop(arg);
}

static void sigint_cb(void *arg) {
  (void)arg;
  raise(SIGINT);
}

typedef enum stopper { STOP_CALL, STOP_SIGNAL, STOP_BEFORE } stopper;

typedef enum blocking_call { CALL_RECEIVE, CALL_CONNECT, CALL_CHANNEL, CALL_STREAM } blocking_call;

static const char *call_name(blocking_call c) {
  static const char *names[] = {"mailbox_receive", "tcp_connect", "channel_create",
                                "stream_wait_ready"};
  return names[c];
}

static char dead_hub[64];    /* nothing listens: connections are refused */
static char silent_peer[64]; /* never completes a connection */

/* A listener with backlog 0 whose queue is filled by connections nobody
 * accepts: further SYNs are dropped, so connects to it stay pending. */
static void make_silent_peer(void) {
  int l = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  socklen_t alen = sizeof a;
  assert_int_equal(bind(l, (struct sockaddr *)&a, sizeof a), 0);
  assert_int_equal(listen(l, 0), 0);
  assert_int_equal(getsockname(l, (struct sockaddr *)&a, &alen), 0);
  snprintf(silent_peer, sizeof silent_peer, "127.0.0.1:%d", ntohs(a.sin_port));
  for (int i = 0; i < 3; i++) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    (void)connect(fd, (struct sockaddr *)&a, sizeof a);
    usleep(20000);
  }
  /* The descriptors stay open for the life of the test process. */
}

/* Starts `call` on a fresh node that something stops after 50 ms (or before
 * the call), and checks it ends with OCKAM_ECLOSED well before its timeout. */
static void run_stopped(blocking_call call, stopper how, const char *hub) {
  ockam_node *node;
  ockam_tcp *tcp;
  ockam_mailbox *mb;
  assert_int_equal(ockam_node_create(&node), 0);
  assert_int_equal(ockam_tcp_create(node, NULL, &tcp), 0);
  assert_int_equal(ockam_mailbox_create(node, "app", &mb), 0);
  if (how == STOP_SIGNAL) assert_int_equal(ockam_node_stop_on_signals(node), 0);
  if (how == STOP_BEFORE)
    ockam_node_stop(node);
  else
    assert_int_equal(
        ockam_timer_start(node, 50, 0, how == STOP_CALL ? stop_cb : sigint_cb, node, NULL), 0);
  ockam_route *r = NULL;
  ockam_stream *s = NULL;
  ockam_vault *vault; /* outlives the node: channels wipe their keys with it */
  assert_int_equal(ockam_vault_create("software", &vault), 0);
  int rc = OCKAM_OK;
  uint64_t t0 = now_us();
  switch (call) {
    case CALL_RECEIVE: {
      ockam_message *m = NULL;
      rc = ockam_mailbox_receive(mb, 30000, &m);
      break;
    }
    case CALL_CONNECT:
      /* The listener's accept queue is full: the kernel drops our SYN and
       * the connect stays pending. */
      rc = ockam_tcp_connect(tcp, silent_peer, 30000);
      break;
    case CALL_CHANNEL: {
      char addr[64];
      /* Nobody answers the handshake at this local address. */
      assert_int_equal(ockam_route_parse("nobody_listens", &r), 0);
      rc = ockam_channel_create(node, r, vault, NULL, 30000, addr, sizeof addr);
      break;
    }
    case CALL_STREAM: {
      char hop[96];
      snprintf(hop, sizeof hop, "1#%s", hub);
      assert_int_equal(ockam_route_parse(hop, &r), 0);
      assert_int_equal(ockam_tcp_connect(tcp, hub, 0), 0);
      if (how == STOP_BEFORE) {
        /* A stopped node starts nothing new. */
        rc = ockam_stream_connect(node, r, "o", "i", NULL, &s);
        if (rc == OCKAM_OK) rc = ockam_stream_wait_ready(s, 30000);
      } else {
        assert_int_equal(ockam_stream_connect(node, r, "o", "i", NULL, &s), 0);
        rc = ockam_stream_wait_ready(s, 30000);
      }
      break;
    }
  }
  uint64_t ms = (now_us() - t0) / 1000;
  printf("# %s, stopped %s: %s after %llu ms\n", call_name(call),
         how == STOP_CALL     ? "by ockam_node_stop"
         : how == STOP_SIGNAL ? "by SIGINT"
                              : "before the call",
         ockam_errname(rc), (unsigned long long)ms);
  assert_int_equal(rc, OCKAM_ECLOSED);
  assert_true(ms < PROMPT_MS);
  assert_true(ockam_node_is_stopped(node));
  /* Later calls end at once too. */
  ockam_message *m = NULL;
  assert_int_equal(ockam_mailbox_receive(mb, 30000, &m), OCKAM_ECLOSED);
  assert_int_equal(ockam_node_run(node), 0);
  if (s) ockam_stream_close(s);
  ockam_route_free(r);
  ockam_node_destroy(node);
  ockam_mailbox_destroy(mb);
  ockam_tcp_close(tcp);
  ockam_vault_destroy(vault);
}

static void test_eclosed_on_stop(void **state) {
  (void)state;
  for (blocking_call c = CALL_RECEIVE; c <= CALL_STREAM; c++) {
    run_stopped(c, STOP_CALL, dead_hub);
    run_stopped(c, STOP_BEFORE, dead_hub);
  }
}

static void test_eclosed_on_signal(void **state) {
  (void)state;
  for (blocking_call c = CALL_RECEIVE; c <= CALL_STREAM; c++) run_stopped(c, STOP_SIGNAL, dead_hub);
}

/* ---- no nested loop --------------------------------------------------------- */

typedef struct reentry {
  ockam_node *node;
  ockam_mailbox *other;
  int from_worker, from_timer, run_from_timer;
  int calls;
} reentry;

static bool done_never(void *arg) {
  (void)arg;
  return false;
}

static int nesting_handle(ockam_worker *w, ockam_message *msg) {
  (void)msg;
  reentry *re = ockam_worker_user(w);
  ockam_message *m = NULL;
  re->from_worker = ockam_mailbox_receive(re->other, 1000, &m);
  re->calls++;
  return OCKAM_OK;
}

static void nesting_timer(void *arg) {
  reentry *re = arg;
  re->from_timer = ockam_node_run_until(re->node, 1000, done_never, NULL);
  re->run_from_timer = ockam_node_run(re->node);
  re->calls++;
}

static bool two_calls(void *arg) {
  return ((reentry *)arg)->calls == 2;
}

static void test_no_reentry(void **state) {
  (void)state;
  static const ockam_worker_ops ops = {nesting_handle, NULL};
  reentry re = {0};
  assert_int_equal(ockam_node_create(&re.node), 0);
  assert_int_equal(ockam_mailbox_create(re.node, "other", &re.other), 0);
  const char *addr[1] = {"nester"};
  assert_int_equal(ockam_worker_start(re.node, addr, 1, &ops, &re, NULL), 0);
  ockam_route *r;
  assert_int_equal(ockam_route_parse("nester", &r), 0);
  assert_int_equal(ockam_send(re.node, "app", r, (const uint8_t *)"x", 1), 0);
  assert_int_equal(ockam_timer_start(re.node, 5, 0, nesting_timer, &re, NULL), 0);
  uint64_t t0 = now_us();
  assert_int_equal(ockam_node_run_until(re.node, 10000, two_calls, &re), 0);
  assert_true((now_us() - t0) / 1000 < PROMPT_MS);
  assert_int_equal(re.from_worker, OCKAM_ESTATE);
  assert_int_equal(re.from_timer, OCKAM_ESTATE);
  assert_int_equal(re.run_from_timer, OCKAM_ESTATE);
  /* The outer wait still works afterwards. */
  assert_int_equal(ockam_node_run_until(re.node, 5, done_never, NULL), OCKAM_ETIMEDOUT);
  ockam_route_free(r);
  ockam_node_destroy(re.node);
  ockam_mailbox_destroy(re.other);
}

/* ---- fail fast ---------------------------------------------------------------- */

static void test_connection_refused_at_once(void **state) {
  (void)state;
  ockam_node *node;
  ockam_tcp *tcp;
  assert_int_equal(ockam_node_create(&node), 0);
  assert_int_equal(ockam_tcp_create(node, NULL, &tcp), 0);
  uint64_t t0 = now_us();
  int rc = ockam_tcp_connect(tcp, dead_hub, 30000);
  uint64_t ms = (now_us() - t0) / 1000;
  printf("# connect to closed port %s: %s after %llu ms\n", dead_hub, ockam_errname(rc),
         (unsigned long long)ms);
  assert_int_equal(rc, OCKAM_ECONNREFUSED);
  assert_true(ms < PROMPT_MS);
  ockam_node_destroy(node);
  ockam_tcp_close(tcp);
}

static void test_cli_send_to_dead_hub(void **state) {
  (void)state;
  char route[128];
  snprintf(route, sizeof route, "1#%s;echo_service", dead_hub);
  char *argv[] = {(char *)OCKAM_BIN, (char *)"send", route, (char *)"hi", NULL};
  tu_proc p;
  /* ockam send prints its error on stderr; capture stdout only to keep the
   * test's output tidy. */
  uint64_t t0 = tu_now_ms();
  assert_int_equal(tu_spawn(&p, argv, true), 0);
  int status = tu_wait(&p, 10000);
  uint64_t ms = tu_now_ms() - t0;
  printf("# ockam send to a dead hub: exit %d after %llu ms\n", status, (unsigned long long)ms);
  assert_true(status > 0);
  assert_true(ms < PROMPT_MS);
}

int main(void) {
  signal(SIGPIPE, SIG_IGN);
  snprintf(dead_hub, sizeof dead_hub, "127.0.0.1:%d", tu_free_port());
  make_silent_peer();
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_short_timeouts_next_to_long_timer),
      cmocka_unit_test(test_short_timeouts_next_to_stream_consumer),
      cmocka_unit_test(test_eclosed_on_stop),
      cmocka_unit_test(test_eclosed_on_signal),
      cmocka_unit_test(test_no_reentry),
      cmocka_unit_test(test_connection_refused_at_once),
      cmocka_unit_test(test_cli_send_to_dead_hub),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
