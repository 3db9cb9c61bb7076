/* Hubs on one JetStream store, as separate processes against a real
 * nats-server (started by tests/nats/with-nats; the binary re-runs itself
 * under it when started alone):
 *
 *   - the guide's secure channel over streams with the responder on hub A and
 *     the initiator on hub B;
 *   - failover: 10,000 messages through a secure channel over streams, hub A
 *     killed midway, both stream clients move to hub B (fallback route); the
 *     application sees every message exactly once, in order; once more with
 *     the client's default timings, where the move must come from the
 *     connection drop (no push timed out after the kill) and the streams
 *     hold each message once (idempotent producers share their state through
 *     the JetStream store, so no repeat reaches the channel);
 *   - nats-server stopped during pushes and started again: no confirmed
 *     message is lost and the same hub process carries on.
 *
 * OCKAM_LONG_TESTS=1 runs longer variants (100,000 messages; three KILL
 * outages of the server).
 */
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "ockam/ockam.h"
#include "testutil.h"

#ifndef OCKAM_EXAMPLES
#define OCKAM_EXAMPLES "."
#endif

/* The server of this run (tests/nats/with-nats). */
typedef struct nats_env {
  const char *url;   /* nats://127.0.0.1:PORT */
  const char *dir;   /* its state folder */
  const char *tools; /* folder of start / stop */
  char port[16];
} nats_env;

static nats_env nats;

static bool long_tests(void) {
  const char *v = getenv("OCKAM_LONG_TESTS");
  return v && strcmp(v, "1") == 0;
}

/* Runs tools/<script> DIR [arg]; returns its exit status. */
static int nats_tool(const char *script, const char *arg) {
  char path[512];
  snprintf(path, sizeof path, "%s/%s", nats.tools, script);
  char *argv[] = {path, (char *)nats.dir, (char *)arg, NULL};
  tu_proc p;
  if (tu_spawn(&p, argv, true) != 0) return -1;
  char line[256];
  while (tu_read_line(&p, line, sizeof line, 15000) == 0) {
    /* start prints the URL; nothing else is expected on stdout */
  }
  return tu_wait(&p, 15000);
}

/* `ockam hub --store jetstream` on a free loopback port. */
static void start_js_hub(tu_proc *hub, char *bound, size_t cap) {
  const char *extra[] = {"--nats", nats.url, NULL};
  assert_int_equal(tu_start_hub(hub, 0, "jetstream", NULL, extra, bound, cap), 0);
}

static bool hub_alive(const tu_proc *hub) {
  return hub->pid > 0 && waitpid(hub->pid, NULL, WNOHANG) == 0;
}

static ockam_route *hub_route(const char *bound) {
  char text[128];
  snprintf(text, sizeof text, "1#%s", bound);
  ockam_route *r;
  assert_int_equal(ockam_route_parse(text, &r), 0);
  return r;
}

/* Payload: a BARE string "<tag>-<n>" (what ockam_message_get_string reads). */
static size_t make_payload(uint8_t *out, size_t cap, const char *tag, uint32_t n) {
  int len = snprintf((char *)out + 1, cap - 1, "%s-%u", tag, n);
  assert_true(len > 0 && len < 128 && (size_t)len < cap - 1);
  out[0] = (uint8_t)len;
  return (size_t)len + 1;
}

/* The number in a "<tag>-<n>" payload, or -1. */
static int64_t payload_number(const ockam_message *m, const char *tag) {
  const char *s;
  size_t len;
  char text[64];
  if (ockam_message_get_string(m, &s, &len) != 0 || len >= sizeof text) return -1;
  memcpy(text, s, len);
  text[len] = '\0';
  size_t tl = strlen(tag);
  if (strncmp(text, tag, tl) != 0 || text[tl] != '-') return -1;
  char *end;
  unsigned long v = strtoul(text + tl + 1, &end, 10);
  return *end ? -1 : (int64_t)v;
}

static void stop_node(void *arg) {
  ockam_node_stop(arg);
}

/* ---- the guide across two hubs -------------------------------------------------- */

/* The guide's programs (examples/14-secure-channel-over-stream-over-cloud-
 * node-*) with the responder on hub A and the initiator on hub B: every
 * handshake message and the echo cross from one hub to the other through
 * JetStream. A long-poll pull parked on one hub must notice appends made
 * through the other within a fraction of a second. */
static void test_guide_over_two_hubs(void **state) {
  (void)state;
  tu_proc hub_a, hub_b, responder, initiator;
  char bound_a[64], bound_b[64], line[512];
  start_js_hub(&hub_a, bound_a, sizeof bound_a);
  start_js_hub(&hub_b, bound_b, sizeof bound_b);
  char *rargv[] = {(char *)OCKAM_EXAMPLES
                   "/14-secure-channel-over-stream-over-cloud-node-responder",
                   bound_a, NULL};
  assert_int_equal(tu_spawn(&responder, rargv, true), 0);
  assert_int_equal(tu_expect_line(&responder, "Responder listening", line, sizeof line, 15000), 0);
  uint64_t t0 = tu_now_ms();
  char *iargv[] = {(char *)OCKAM_EXAMPLES
                   "/14-secure-channel-over-stream-over-cloud-node-initiator",
                   bound_b, NULL};
  assert_int_equal(tu_spawn(&initiator, iargv, true), 0);
  assert_int_equal(tu_expect_line(&initiator, "Reply via secure channel via stream: Hello World!",
                                  line, sizeof line, 60000),
                   0);
  uint64_t took = tu_now_ms() - t0;
  assert_int_equal(tu_wait(&initiator, 10000), 0);
  assert_int_equal(
      tu_expect_line(&responder, "echoer: received 'Hello World!'", line, sizeof line, 5000), 0);
  print_message("guide across two hubs: reply after %llu ms\n", (unsigned long long)took);
  /* Five stream hops from one hub to the other (m1, m2, m3, data, reply);
   * without the shared-store recheck each waited out a 20 s long poll. */
  assert_true(took < 15000);
  assert_int_equal(tu_term(&responder), 0);
  assert_int_equal(tu_term(&hub_a), 0);
  assert_int_equal(tu_term(&hub_b), 0);
}

/* ---- failover to a second hub under a secure channel --------------------------- */

/* The responder node, on its own thread: a channel listener, the stream
 * pair, and the application worker "sink" that checks what arrives. */
typedef struct responder {
  ockam_node *node;
  ockam_vault *vault;
  ockam_tcp *tcp;
  ockam_channel_listener *listener;
  ockam_stream *s;
  pthread_t thread;
  /* sink, on the responder's thread */
  uint32_t next;                 /* next expected message number */
  uint64_t repeats;              /* numbers seen before (must stay 0) */
  uint64_t gaps;                 /* numbers that skipped ahead (must stay 0) */
  uint64_t foreign;              /* payloads that are not ours (must stay 0) */
  char channel[64];              /* the responder end of the channel */
  atomic_uint_fast32_t received; /* distinct, in-order messages; read by the test thread */
} responder;

static int sink_handle(ockam_worker *w, ockam_message *m) {
  responder *r = ockam_worker_user(w);
  int64_t n = payload_number(m, "fo");
  if (n < 0 || !ockam_message_via_channel(m)) {
    r->foreign++;
    return 0;
  }
  if (r->channel[0] == '\0') {
    ockam_address a;
    if (ockam_route_get(ockam_message_return(m), 0, &a) == 0 && a.len < sizeof r->channel) {
      memcpy(r->channel, a.value, a.len);
      r->channel[a.len] = '\0';
    }
  }
  if ((uint32_t)n == r->next) {
    r->next++;
    atomic_store(&r->received, r->next);
  } else if ((uint32_t)n < r->next) {
    r->repeats++;
  } else {
    r->gaps++;
    r->next = (uint32_t)n + 1;
  }
  return 0;
}

static const ockam_worker_ops sink_ops = {sink_handle, NULL};

static void *responder_main(void *arg) {
  responder *r = arg;
  if (ockam_node_run(r->node) != 0) fprintf(stderr, "responder loop failed\n");
  return NULL;
}

/* Stream options of both ends: fail fast so failover fits a CI run, or the
 * client's defaults (retry 1 s, long-poll 20 s). */
static ockam_stream_options failover_opts(const char *client_id, const ockam_route *const *fb,
                                          bool defaults) {
  ockam_stream_options o = {0};
  o.client_id = client_id;
  if (!defaults) {
    o.retry_ms = 200;
    o.long_poll_ms = 1000;
  }
  o.fallback_routes = fb;
  o.n_fallback = 1;
  return o;
}

static void run_failover(uint32_t total, bool defaults) {
  tu_proc hub_a, hub_b;
  char bound_a[64], bound_b[64];
  start_js_hub(&hub_a, bound_a, sizeof bound_a);
  start_js_hub(&hub_b, bound_b, sizeof bound_b);
  ockam_route *route_a = hub_route(bound_a), *route_b = hub_route(bound_b);
  const ockam_route *fallback[1] = {route_b};
  char i2r[64], r2i[64], cid_i[80], cid_r[80];
  snprintf(i2r, sizeof i2r, "fo-i2r-%u-%d-%d", total, (int)defaults, (int)getpid());
  snprintf(r2i, sizeof r2i, "fo-r2i-%u-%d-%d", total, (int)defaults, (int)getpid());
  snprintf(cid_i, sizeof cid_i, "%s-i", i2r);
  snprintf(cid_r, sizeof cid_r, "%s-r", i2r);

  /* Responder: listens on stream i2r, answers on r2i, through hub A. */
  static responder r;
  memset(&r, 0, sizeof r);
  atomic_init(&r.received, 0);
  assert_int_equal(ockam_node_create(&r.node), 0);
  assert_int_equal(ockam_vault_create("software", &r.vault), 0);
  assert_int_equal(ockam_tcp_create(r.node, NULL, &r.tcp), 0);
  assert_int_equal(ockam_tcp_connect(r.tcp, bound_a, 0), 0);
  assert_int_equal(ockam_tcp_connect(r.tcp, bound_b, 0), 0);
  assert_int_equal(
      ockam_channel_listener_create(r.node, "secure_channel_listener", r.vault, NULL, &r.listener),
      0);
  const char *sink_addr[1] = {"sink"};
  assert_int_equal(ockam_worker_start(r.node, sink_addr, 1, &sink_ops, &r, NULL), 0);
  ockam_stream_options ro = failover_opts(cid_r, fallback, defaults);
  assert_int_equal(ockam_stream_connect(r.node, route_a, r2i, i2r, &ro, &r.s), 0);
  assert_int_equal(pthread_create(&r.thread, NULL, responder_main, &r), 0);

  /* Initiator, on this thread. */
  ockam_node *node;
  ockam_vault *vault;
  ockam_tcp *tcp;
  ockam_stream *s;
  assert_int_equal(ockam_node_create(&node), 0);
  assert_int_equal(ockam_vault_create("software", &vault), 0);
  assert_int_equal(ockam_tcp_create(node, NULL, &tcp), 0);
  assert_int_equal(ockam_tcp_connect(tcp, bound_a, 0), 0);
  assert_int_equal(ockam_tcp_connect(tcp, bound_b, 0), 0);
  ockam_stream_options io = failover_opts(cid_i, fallback, defaults);
  assert_int_equal(ockam_stream_connect(node, route_a, i2r, r2i, &io, &s), 0);
  assert_int_equal(ockam_stream_wait_ready(s, 15000), 0);
  ockam_route *route;
  char ch[64];
  assert_int_equal(ockam_route_new(&route), 0);
  assert_int_equal(ockam_route_append_str(route, ockam_stream_tx_address(s)), 0);
  assert_int_equal(ockam_route_append_str(route, "secure_channel_listener"), 0);
  /* One record, hence one push, per message: the kill lands midway. */
  ockam_channel_options co = {.no_batch = true};
  assert_int_equal(ockam_channel_create(node, route, vault, &co, 30000, ch, sizeof ch), 0);
  ockam_route_free(route);
  assert_int_equal(ockam_route_new(&route), 0);
  assert_int_equal(ockam_route_append_str(route, ch), 0);
  assert_int_equal(ockam_route_append_str(route, "sink"), 0);

  /* Everything goes into the channel at once; the producer keeps it until
   * confirmed. Hub A dies with pushes in flight. */
  ockam_stream_stats before;
  ockam_stream_get_stats(s, &before);
  uint64_t t0 = tu_now_ms();
  uint8_t payload[64];
  for (uint32_t i = 0; i < total; i++) {
    size_t len = make_payload(payload, sizeof payload, "fo", i);
    assert_int_equal(ockam_send(node, "app", route, payload, len), 0);
  }
  ockam_route_free(route);
  uint64_t kill_at = before.pushed + total * 2u / 5u;
  ockam_stream_stats st;
  uint64_t deadline = tu_now_ms() + 60000;
  do {
    assert_int_equal(ockam_node_run_until(node, 2, NULL, NULL), 0);
    ockam_stream_get_stats(s, &st);
  } while (st.confirmed < kill_at && tu_now_ms() < deadline);
  assert_true(st.confirmed >= kill_at);
  assert_true(st.confirmed < before.pushed + total); /* really midway */
  uint32_t seen_at_kill = (uint32_t)atomic_load(&r.received);
  uint64_t confirmed_at_kill = st.confirmed - before.pushed;
  uint64_t timeouts_at_kill = st.timeouts;
  tu_kill(&hub_a, SIGKILL);
  uint64_t t_kill = tu_now_ms();

  /* The producer moves to hub B: note how many of its pushes had timed out
   * by then (three in a row would have moved it too). */
  uint64_t timeouts_at_move = UINT64_MAX, t_move = 0;
  deadline = tu_now_ms() + 90000;
  do {
    assert_int_equal(ockam_node_run_until(node, 5, NULL, NULL), 0);
    ockam_stream_get_stats(s, &st);
  } while (st.producer_hub != 1 && tu_now_ms() < deadline);
  if (st.producer_hub == 1) {
    timeouts_at_move = st.timeouts;
    t_move = tu_now_ms();
  }
  /* Every message ends up confirmed by hub B ... */
  assert_int_equal(ockam_stream_flush(s, 90000), 0);
  uint64_t t_confirmed = tu_now_ms();
  /* ... and reaches the application once, in order. */
  deadline = tu_now_ms() + 90000;
  while (atomic_load(&r.received) < total && tu_now_ms() < deadline)
    assert_int_equal(ockam_node_run_until(node, 20, NULL, NULL), 0);
  uint64_t t_done = tu_now_ms();
  /* Late repeats would show up now. */
  assert_int_equal(ockam_node_run_until(node, 1500, NULL, NULL), 0);

  assert_int_equal(ockam_node_post(r.node, stop_node, r.node), 0);
  pthread_join(r.thread, NULL);
  ockam_stream_stats rs;
  ockam_stream_get_stats(r.s, &rs);
  ockam_channel_stats cs = {0};
  if (r.channel[0]) assert_int_equal(ockam_channel_get_stats(r.node, r.channel, &cs), 0);
  ockam_stream_get_stats(s, &st);
  print_message(
      "failover, %u messages: hub A killed after %llu confirmed (%u delivered); producer on hub "
      "B %llu ms after the kill (%llu timeouts since); all confirmed %llu ms and all delivered "
      "%llu ms after the kill (%llu ms in all)\n",
      total, (unsigned long long)confirmed_at_kill, seen_at_kill,
      (unsigned long long)(t_move - t_kill),
      (unsigned long long)(timeouts_at_move - timeouts_at_kill),
      (unsigned long long)(t_confirmed - t_kill), (unsigned long long)(t_done - t_kill),
      (unsigned long long)(t_done - t0));
  print_message(
      "  producer: resent %llu, timeouts %llu, reinits %llu, hub %u; consumer: "
      "delivered %llu, timeouts %llu, reinits %llu, hub %u; channel: delivered %llu, "
      "replayed %llu, too old %llu, malformed %llu\n",
      (unsigned long long)st.resent, (unsigned long long)st.timeouts,
      (unsigned long long)st.reinits, st.producer_hub, (unsigned long long)rs.delivered,
      (unsigned long long)rs.timeouts, (unsigned long long)rs.reinits, rs.consumer_hub,
      (unsigned long long)cs.delivered, (unsigned long long)cs.replayed,
      (unsigned long long)cs.too_old, (unsigned long long)cs.malformed);

  if (defaults) {
    /* The producer moved on because its connection dropped, not after
     * three timeouts in a row (FAIL_LIMIT); and nothing was stored twice
     * (the channel saw no repeat). */
    assert_true(timeouts_at_move != UINT64_MAX);
    assert_true(timeouts_at_move - timeouts_at_kill < 3);
    assert_true(st.idempotent);
    assert_int_equal(cs.replayed, 0);
  }
  /* Both ends moved to hub B. */
  assert_int_equal(st.producer_hub, 1);
  assert_int_equal(rs.consumer_hub, 1);
  assert_true(st.reinits >= 1);
  assert_true(rs.reinits >= 1);
  assert_int_equal(st.confirmed, st.pushed);
  assert_int_equal(st.dropped, 0);
  /* Exactly once, in order, for the application ... */
  assert_int_equal(atomic_load(&r.received), total);
  assert_int_equal(r.repeats, 0);
  assert_int_equal(r.gaps, 0);
  assert_int_equal(r.foreign, 0);
  assert_int_equal(cs.delivered, total);
  assert_int_equal(cs.too_old, 0);
  assert_int_equal(cs.auth_failed, 0);
  /* ... while the stream below may deliver repeats (a push stored by hub A
   * whose confirm died with it is stored again through hub B): the channel's
   * replay window removes every one. The responder's consumer also delivered
   * the two handshake messages of the initiator; the last of them may have
   * been pushed again too (no confirm within retry_ms on a loaded machine),
   * and a repeat of it reaches the established channel, which drops it as
   * malformed (it is not a channel ciphertext). */
  assert_true(cs.malformed <= st.resent);
  assert_int_equal(rs.delivered, total + cs.replayed + cs.malformed + 2);

  ockam_stream_close(r.s);
  ockam_channel_listener_close(r.listener);
  ockam_tcp_close(r.tcp);
  ockam_node_destroy(r.node);
  ockam_vault_destroy(r.vault);
  ockam_stream_close(s);
  ockam_tcp_close(tcp);
  ockam_node_destroy(node);
  ockam_vault_destroy(vault);
  ockam_route_free(route_a);
  ockam_route_free(route_b);
  assert_int_equal(tu_term(&hub_b), 0);
}

static void test_failover_to_second_hub(void **state) {
  (void)state;
  run_failover(10000, false);
  if (long_tests()) run_failover(100000, false);
}

/* The same with the client's default timings: the connection drop, not a
 * series of timeouts, moves both ends to hub B. */
static void test_failover_on_connection_drop(void **state) {
  (void)state;
  run_failover(10000, true);
}

/* ---- nats-server stopped and started again during pushes ------------------------ */

typedef struct peer {
  ockam_node *node;
  ockam_tcp *tcp;
  ockam_stream *s;
  ockam_mailbox *sink;
} peer;

static void peer_start(peer *p, const ockam_route *hub, const char *out, const char *in,
                       const char *client_id) {
  assert_int_equal(ockam_node_create(&p->node), 0);
  assert_int_equal(ockam_tcp_create(p->node, NULL, &p->tcp), 0);
  assert_int_equal(ockam_tcp_connect_route(p->tcp, hub, 0), 0);
  ockam_stream_options o = {0};
  o.client_id = client_id;
  o.retry_ms = 200;
  o.long_poll_ms = 1000;
  assert_int_equal(ockam_stream_connect(p->node, hub, out, in, &o, &p->s), 0);
  assert_int_equal(ockam_stream_allow(p->s, "sink"), 0);
  assert_int_equal(ockam_mailbox_create(p->node, "sink", &p->sink), 0);
}

static void peer_stop(peer *p) {
  ockam_stream_close(p->s);
  ockam_mailbox_destroy(p->sink);
  ockam_tcp_close(p->tcp);
  ockam_node_destroy(p->node);
}

typedef struct rx_state {
  uint32_t total;
  uint8_t *seen; /* per message number */
  uint32_t distinct;
  uint32_t next_first; /* first copies must come in order: the next expected one */
  uint64_t repeats;
  uint64_t out_of_order; /* first copies that skipped ahead (must stay 0) */
} rx_state;

/* Both nodes on this thread: run each loop briefly, drain the consumer. */
static void turn(peer *a, peer *b, rx_state *rx) {
  assert_int_equal(ockam_node_run_until(a->node, 2, NULL, NULL), 0);
  assert_int_equal(ockam_node_run_until(b->node, 2, NULL, NULL), 0);
  ockam_message *m;
  while (ockam_mailbox_receive(b->sink, 0, &m) == 0) {
    int64_t n = payload_number(m, "nr");
    ockam_message_free(m);
    assert_true(n >= 0 && n < rx->total);
    if (rx->seen[n]) {
      rx->repeats++;
      continue;
    }
    rx->seen[n] = 1;
    rx->distinct++;
    if ((uint32_t)n != rx->next_first) rx->out_of_order++;
    rx->next_first = (uint32_t)n + 1;
  }
}

static void run_nats_restart(uint32_t total, int outages, const char *signal_name,
                             uint64_t outage_ms) {
  tu_proc hub;
  char bound[64];
  start_js_hub(&hub, bound, sizeof bound);
  pid_t hub_pid = hub.pid;
  ockam_route *route = hub_route(bound);
  char data[64], back[64], cid[80];
  snprintf(data, sizeof data, "nr-data-%u-%d", total, (int)getpid());
  snprintf(back, sizeof back, "nr-back-%u-%d", total, (int)getpid());
  snprintf(cid, sizeof cid, "%s-consumer", data);
  peer a, b;
  peer_start(&a, route, data, back, NULL);
  peer_start(&b, route, back, data, cid);
  rx_state rx = {.total = total, .seen = calloc(total, 1)};
  assert_non_null(rx.seen);
  uint64_t deadline = tu_now_ms() + 20000;
  while (tu_now_ms() < deadline &&
         !(ockam_stream_wait_ready(a.s, 0) == 0 && ockam_stream_wait_ready(b.s, 0) == 0))
    turn(&a, &b, &rx);
  assert_int_equal(ockam_stream_wait_ready(a.s, 0), 0);
  assert_int_equal(ockam_stream_wait_ready(b.s, 0), 0);

  ockam_route *to_sink;
  assert_int_equal(ockam_route_new(&to_sink), 0);
  assert_int_equal(ockam_route_append_str(to_sink, ockam_stream_tx_address(a.s)), 0);
  assert_int_equal(ockam_route_append_str(to_sink, "sink"), 0);

  /* Messages go out at a steady rate (about 1,000/s) while the server is
   * stopped after a quarter of them, kept down for outage_ms, started
   * again on the same port with the same store; `outages` times. */
  uint32_t sent = 0;
  uint64_t confirmed_before_stop = 0;
  uint64_t recovered_ms = 0;
  ockam_stream_stats st;
  uint8_t payload[64];
  for (int k = 0; k < outages; k++) {
    uint32_t stop_at = total / 4 + (uint32_t)k * (total / (2u * (uint32_t)outages));
    while (sent < stop_at) {
      for (int i = 0; i < 20 && sent < stop_at; i++, sent++) {
        size_t len = make_payload(payload, sizeof payload, "nr", sent);
        assert_int_equal(ockam_send(a.node, "app", to_sink, payload, len), 0);
      }
      uint64_t until = tu_now_ms() + 20;
      while (tu_now_ms() < until) turn(&a, &b, &rx);
    }
    ockam_stream_get_stats(a.s, &st);
    confirmed_before_stop = st.confirmed;
    assert_true(confirmed_before_stop > 0);
    assert_int_equal(nats_tool("stop", signal_name), 0);
    uint64_t down_until = tu_now_ms() + outage_ms;
    while (tu_now_ms() < down_until) {
      for (int i = 0; i < 20 && sent < total; i++, sent++) {
        size_t len = make_payload(payload, sizeof payload, "nr", sent);
        assert_int_equal(ockam_send(a.node, "app", to_sink, payload, len), 0);
      }
      uint64_t until = tu_now_ms() + 20;
      while (tu_now_ms() < until) turn(&a, &b, &rx);
    }
    ockam_stream_get_stats(a.s, &st);
    uint64_t confirmed_while_down = st.confirmed;
    assert_int_equal(nats_tool("start", nats.port), 0);
    uint64_t t_up = tu_now_ms();
    /* The hub notices by itself: new confirms within a few seconds. */
    deadline = tu_now_ms() + 30000;
    do {
      turn(&a, &b, &rx);
      ockam_stream_get_stats(a.s, &st);
    } while (st.confirmed <= confirmed_while_down && st.queued > 0 && tu_now_ms() < deadline);
    assert_true(st.confirmed > confirmed_while_down || st.queued == 0);
    if (tu_now_ms() - t_up > recovered_ms) recovered_ms = tu_now_ms() - t_up;
    assert_true(hub_alive(&hub));
  }
  while (sent < total) {
    for (int i = 0; i < 20 && sent < total; i++, sent++) {
      size_t len = make_payload(payload, sizeof payload, "nr", sent);
      assert_int_equal(ockam_send(a.node, "app", to_sink, payload, len), 0);
    }
    uint64_t until = tu_now_ms() + 20;
    while (tu_now_ms() < until) turn(&a, &b, &rx);
  }
  ockam_route_free(to_sink);
  deadline = tu_now_ms() + 60000;
  do {
    turn(&a, &b, &rx);
    ockam_stream_get_stats(a.s, &st);
  } while ((st.confirmed < st.pushed || rx.distinct < total) && tu_now_ms() < deadline);
  /* Late repeats would show up now. */
  uint64_t until = tu_now_ms() + 1000;
  while (tu_now_ms() < until) turn(&a, &b, &rx);

  ockam_stream_stats sb;
  ockam_stream_get_stats(a.s, &st);
  ockam_stream_get_stats(b.s, &sb);
  print_message(
      "nats %s x%d, %llu ms down, %u messages: %llu confirmed before the last stop; "
      "pushes confirmed again %llu ms after a restart at most; producer: resent %llu, "
      "errors %llu, timeouts %llu, reinits %llu; received %u (repeats %llu)\n",
      signal_name, outages, (unsigned long long)outage_ms, total,
      (unsigned long long)confirmed_before_stop, (unsigned long long)recovered_ms,
      (unsigned long long)st.resent, (unsigned long long)st.errors, (unsigned long long)st.timeouts,
      (unsigned long long)st.reinits, rx.distinct, (unsigned long long)rx.repeats);
  /* The outage was felt ... */
  assert_true(st.resent + st.errors + st.timeouts > 0);
  /* ... yet every message is confirmed and received; first copies in order. */
  assert_int_equal(st.pushed, total);
  assert_int_equal(st.confirmed, total);
  assert_int_equal(st.dropped, 0);
  assert_int_equal(rx.distinct, total);
  assert_int_equal(rx.out_of_order, 0);
  assert_true(sb.delivered >= total);
  /* Same hub process throughout, and it shuts down cleanly. */
  assert_int_equal(hub.pid, hub_pid);
  assert_true(hub_alive(&hub));
  peer_stop(&a);
  peer_stop(&b);
  ockam_route_free(route);
  free(rx.seen);
  assert_int_equal(tu_term(&hub), 0);
}

static void test_nats_restart_during_pushes(void **state) {
  (void)state;
  /* Down for longer than the backend's 5 s bound on each operation, so
   * requests queued in the hub fail as well as wait. */
  run_nats_restart(3000, 1, "TERM", 6000);
  if (long_tests()) run_nats_restart(20000, 3, "KILL", 3000);
}

/* ---- main ------------------------------------------------------------------------- */

int main(int argc, char **argv) {
  signal(SIGPIPE, SIG_IGN);
  nats.url = getenv("OCKAM_TEST_NATS_URL");
  nats.dir = getenv("OCKAM_TEST_NATS_DIR");
  nats.tools = getenv("OCKAM_TEST_NATS_TOOLS");
  if (!nats.url || !nats.dir || !nats.tools) {
#ifdef OCKAM_NATS_TOOLS
    /* Started alone: run again under a private nats-server. */
    if (!getenv("OCKAM_TEST_NATS_REEXEC")) {
      setenv("OCKAM_TEST_NATS_REEXEC", "1", 1);
#ifdef OCKAM_NATS_SERVER
      setenv("NATS_SERVER", OCKAM_NATS_SERVER, 0);
#endif
      char **args = calloc((size_t)argc + 2, sizeof *args);
      if (args) {
        args[0] = (char *)OCKAM_NATS_TOOLS "/with-nats";
        for (int i = 0; i < argc; i++) args[i + 1] = argv[i];
        execv(args[0], args);
        perror("exec with-nats");
        free(args);
      }
    }
#endif
    /* The test is built only where nats-server was found, so a missing
     * server here is a failure, not a reason to pass. */
    fprintf(stderr, "jetstream_test: no nats-server (OCKAM_TEST_NATS_URL unset)\n");
    return 1;
  }
  const char *colon = strrchr(nats.url, ':');
  if (!colon) {
    fprintf(stderr, "jetstream_test: bad OCKAM_TEST_NATS_URL %s\n", nats.url);
    return 1;
  }
  snprintf(nats.port, sizeof nats.port, "%s", colon + 1);
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_guide_over_two_hubs),
      cmocka_unit_test(test_failover_to_second_hub),
      cmocka_unit_test(test_failover_on_connection_drop),
      /* Last: it restarts the server. */
      cmocka_unit_test(test_nats_restart_during_pushes),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
