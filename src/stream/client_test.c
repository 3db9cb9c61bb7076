/* Stream client behaviour tests against the fake hub's "auto" mode: lost
 * confirms and replies, long-poll, re-creation, saves, the push window, the
 * outbox limit, fallback routes and the lifecycle. Fixture: client_test_hub.h;
 * byte-level tests: client_wire_test.c; end to end against the real hub:
 * tests/stream_e2e_test.c.
 */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "bare.h"
#include "client_test_hub.h"
#include "ockam/log.h"
#include "wire.h"

/* ---- behaviour against the auto hub ---------------------------------------- */

static ockam_stream_options auto_opts(void) {
  ockam_stream_options o = {0};
  o.retry_ms = 100;
  o.interval_ms = 20;
  o.long_poll_ms = 150;
  return o;
}

/* A test against the auto hub: a "sink" recorder and one client whose
 * outgoing and incoming stream are the same ("loop"). Set hub flags and
 * options between loop_setup and loop_start. */
typedef struct {
  tctx *t;
  fake_hub *h;
  recorder *sink;
  ockam_stream_options o;
  ockam_stream *s;
} loop_fixture;

static loop_fixture loop_setup(void) {
  loop_fixture f = {0};
  f.t = setup(false);
  f.h = &f.t->hub;
  f.sink = recorder_start(f.t, "sink");
  f.o = auto_opts();
  return f;
}

static void loop_start(loop_fixture *f, bool wait_ready) {
  ockam_route *hub = empty_route();
  assert_int_equal(ockam_stream_connect(f->t->node, hub, "loop", "loop", &f->o, &f->s), OCKAM_OK);
  assert_int_equal(ockam_stream_allow(f->s, "sink"), OCKAM_OK);
  ockam_route_free(hub);
  if (wait_ready) assert_int_equal(ockam_stream_wait_ready(f->s, 2000), OCKAM_OK);
}

static void loop_teardown(loop_fixture *f) {
  ockam_stream_close(f->s);
  teardown(f->t);
  recorder_free(f->sink);
}

static ockam_stream_stats stats_of(ockam_stream *s) {
  ockam_stream_stats st;
  ockam_stream_get_stats(s, &st);
  return st;
}

static void assert_sink_in_order(const recorder *sink, size_t n) {
  assert_int_equal(sink->n, n);
  for (size_t i = 0; i < n; i++) {
    char text[32];
    snprintf(text, sizeof text, "n%zu", i);
    assert_payload_str(sink->msgs[i], text);
  }
}

static void send_n(tctx *t, ockam_stream *s, size_t from, size_t to) {
  for (size_t i = from; i < to; i++) {
    char text[32];
    snprintf(text, sizeof text, "n%zu", i);
    send_to_tx(t, s, "app", "sink", text);
  }
}

static void test_push_resend_after_lost_confirm(void **state) {
  (void)state;
  loop_fixture f = loop_setup();
  loop_start(&f, true);
  f.h->drop_confirms = 1;
  send_n(f.t, f.s, 0, 5);
  assert_int_equal(ockam_stream_flush(f.s, 3000), OCKAM_OK);
  ockam_stream_stats st = stats_of(f.s);
  assert_int_equal(st.pushed, 5);
  assert_int_equal(st.confirmed, 5);
  assert_int_equal(st.resent, 1);
  assert_int_equal(st.reinits, 0);
  /* Push 0 was stored twice (its confirm was lost), under one request id. */
  assert_int_equal(count_reqs(f.h, "sw-", OCKAMI_SP_PUSH), 6);
  assert_int_equal(nth_req(f.h, OCKAMI_SP_PUSH, 5)->d.u.push.request_id, 0);
  /* The consumer delivers both copies: at-least-once. */
  RUN_UNTIL(f.t, 3000, f.sink->n >= 6);
  assert_int_equal(f.sink->n, 6);
  assert_payload_str(f.sink->msgs[5], "n0");
  loop_teardown(&f);
}

static void test_pull_retry_after_lost_reply(void **state) {
  (void)state;
  loop_fixture f = loop_setup();
  f.o.no_long_poll = true;
  f.h->drop_pull_replies = 1;
  loop_start(&f, false);
  send_n(f.t, f.s, 0, 3);
  RUN_UNTIL(f.t, 3000, f.sink->n >= 3);
  run_for(f.t, 100);
  assert_sink_in_order(f.sink, 3);
  /* The first pull went unanswered and was sent again for the same index. */
  hub_req *p0 = nth_req(f.h, OCKAMI_SP_PULL, 0), *p1 = nth_req(f.h, OCKAMI_SP_PULL, 1);
  assert_non_null(p1);
  assert_int_equal(p0->d.u.pull.index, p1->d.u.pull.index);
  assert_int_not_equal(p0->d.u.pull.request_id, p1->d.u.pull.request_id);
  assert_true(find_event(f.t, "hub:drop-pull-reply") >= 0);
  ockam_stream_stats st = stats_of(f.s);
  assert_true(st.timeouts >= 1);
  assert_int_equal(st.reinits, 0);
  assert_int_equal(st.delivered, 3);
  loop_teardown(&f);
}

static void test_long_poll_fallback_auto(void **state) {
  (void)state;
  loop_fixture f = loop_setup();
  f.h->no_long_poll = true;
  f.o.interval_ms = 50;
  loop_start(&f, true);
  send_n(f.t, f.s, 0, 4);
  RUN_UNTIL(f.t, 3000, f.sink->n >= 4);
  assert_sink_in_order(f.sink, 4);
  /* One refused long-poll, then only plain pulls, about one per interval. */
  size_t polls0 = count_reqs(f.h, NULL, OCKAMI_SP_PULL);
  run_for(f.t, 500);
  size_t polls = count_reqs(f.h, NULL, OCKAMI_SP_PULL) - polls0;
  assert_true(polls >= 4 && polls <= 12);
  size_t long_polls = 0;
  for (size_t k = 0; nth_req(f.h, OCKAMI_SP_PULL, k); k++)
    if (nth_req(f.h, OCKAMI_SP_PULL, k)->d.u.pull.long_poll) long_polls++;
  assert_int_equal(long_polls, 1);
  ockam_stream_stats st = stats_of(f.s);
  assert_false(st.long_poll);
  assert_int_equal(st.errors, 1);
  assert_int_equal(st.reinits, 0);
  loop_teardown(&f);
}

static void test_long_poll_held(void **state) {
  (void)state;
  loop_fixture f = loop_setup();
  f.h->hold_max_ms = 10000;
  f.o.long_poll_ms = 5000;
  loop_start(&f, true);
  run_for(f.t, 300);
  /* Idle: one pull held by the hub, no polling. */
  assert_int_equal(count_reqs(f.h, NULL, OCKAMI_SP_PULL), 1);
  uint64_t t0 = ockam_node_now_ms(f.t->node);
  send_n(f.t, f.s, 0, 1);
  RUN_UNTIL(f.t, 2000, f.sink->n >= 1);
  assert_int_equal(f.sink->n, 1);
  assert_true(ockam_node_now_ms(f.t->node) - t0 < 200);
  ockam_stream_stats st = stats_of(f.s);
  assert_true(st.long_poll);
  assert_int_equal(st.timeouts, 0);
  loop_teardown(&f);
}

static void test_recreate_after_timeouts(void **state) {
  (void)state;
  loop_fixture f = loop_setup();
  f.o.no_long_poll = true;
  loop_start(&f, false);
  send_n(f.t, f.s, 0, 3);
  RUN_UNTIL(f.t, 3000, f.sink->n >= 3);
  assert_int_equal(ockam_stream_flush(f.s, 2000), OCKAM_OK);
  RUN_UNTIL(f.t, 2000, f.h->nsaved == 1 && f.h->saved[0].index == 4);
  assert_int_equal(f.h->saved[0].index, 4);
  size_t creates0 = count_reqs(f.h, NULL, OCKAMI_SP_CREATE);

  /* The hub's stream workers vanish (restart, new addresses). */
  hub_kill_workers(f.h);
  send_n(f.t, f.s, 3, 6);
  RUN_UNTIL(f.t, 5000, f.sink->n >= 6);
  assert_int_equal(ockam_stream_flush(f.s, 2000), OCKAM_OK);
  run_for(f.t, 100);
  assert_sink_in_order(f.sink, 6);
  ockam_stream_stats st = stats_of(f.s);
  assert_int_equal(st.reinits, 2); /* producer and consumer each once */
  assert_true(st.timeouts >= 6);
  assert_int_equal(count_reqs(f.h, NULL, OCKAMI_SP_CREATE), creates0 + 2);
  /* The consumer re-read the index and went on from its own position. */
  assert_int_equal(count_reqs(f.h, NULL, OCKAMI_SP_INDEX_GET), 2);
  assert_int_equal(st.next_index, 7);
  loop_teardown(&f);
}

/* A Save whose delivery is not proven by a later reply is sent again with
 * the repeated pull. */
static void test_save_resent(void **state) {
  (void)state;
  loop_fixture f = loop_setup();
  f.o.no_long_poll = true;
  loop_start(&f, true);
  f.h->drop_pull_after_save = true;
  send_n(f.t, f.s, 0, 1);
  RUN_UNTIL(f.t, 2000, nth_req(f.h, OCKAMI_SP_INDEX_SAVE, 1));
  hub_req *s0 = nth_req(f.h, OCKAMI_SP_INDEX_SAVE, 0), *s1 = nth_req(f.h, OCKAMI_SP_INDEX_SAVE, 1);
  assert_non_null(s1);
  assert_int_equal(s0->d.u.index_req.index, 2);
  assert_int_equal(s1->d.u.index_req.index, 2);
  assert_true(find_event(f.t, "hub:drop-pull-reply") >= 0);
  /* Once a later pull was answered, no more repeats. */
  run_for(f.t, 200);
  assert_null(nth_req(f.h, OCKAMI_SP_INDEX_SAVE, 2));
  assert_sink_in_order(f.sink, 1);
  loop_teardown(&f);
}

/* The hub lost the saved index: after re-creating, the consumer goes on from
 * its own position (no redelivery) and saves it again. */
static void test_recreate_keeps_local_position(void **state) {
  (void)state;
  loop_fixture f = loop_setup();
  f.h->ignore_saves = true;
  f.o.no_long_poll = true;
  loop_start(&f, false);
  send_n(f.t, f.s, 0, 3);
  RUN_UNTIL(f.t, 3000, f.sink->n >= 3);
  assert_int_equal(ockam_stream_flush(f.s, 2000), OCKAM_OK);
  f.h->ignore_saves = false;
  hub_kill_workers(f.h);
  RUN_UNTIL(f.t, 3000, nth_req(f.h, OCKAMI_SP_INDEX_GET, 1));
  send_n(f.t, f.s, 3, 5);
  RUN_UNTIL(f.t, 3000, f.sink->n >= 5);
  run_for(f.t, 100);
  assert_sink_in_order(f.sink, 5);
  /* The first Save after the second Get carries the local position (4). */
  hub_req *get = nth_req(f.h, OCKAMI_SP_INDEX_GET, 1);
  size_t after = 0;
  for (size_t k = 0; nth_req(f.h, OCKAMI_SP_INDEX_SAVE, k); k++)
    if (nth_req(f.h, OCKAMI_SP_INDEX_SAVE, k) > get) {
      after = k;
      break;
    }
  assert_true(after > 0);
  assert_int_equal(nth_req(f.h, OCKAMI_SP_INDEX_SAVE, after)->d.u.index_req.index, 4);
  ockam_stream_stats st = stats_of(f.s);
  assert_int_equal(st.delivered, 5);
  assert_int_equal(st.next_index, 6);
  loop_teardown(&f);
}

static void test_error_reply_recreate(void **state) {
  (void)state;
  loop_fixture f = loop_setup();
  f.o.max_in_flight = 1; /* strict order even when a push is refused */
  loop_start(&f, true);
  f.h->error_pushes = 1;
  send_n(f.t, f.s, 0, 2);
  assert_int_equal(ockam_stream_flush(f.s, 3000), OCKAM_OK);
  RUN_UNTIL(f.t, 3000, f.sink->n >= 2);
  run_for(f.t, 50);
  assert_sink_in_order(f.sink, 2);
  ockam_stream_stats st = stats_of(f.s);
  assert_int_equal(st.errors, 1);
  assert_int_equal(st.reinits, 1);
  /* The `error` reply never became stream data. */
  assert_int_equal(f.h->streams[0]->n, 2);
  for (size_t i = 0; i < 2; i++) {
    ockam_message *m;
    assert_int_equal(
        ockam_message_decode(f.h->streams[0]->data[i].data, f.h->streams[0]->data[i].len, &m),
        OCKAM_OK);
    assert_route1(ockam_message_onward(m), "sink");
    ockam_message_free(m);
  }
  loop_teardown(&f);
}

static void test_confirm_error_backoff(void **state) {
  (void)state;
  loop_fixture f = loop_setup();
  loop_start(&f, true);
  f.h->error_confirms = 1;
  send_n(f.t, f.s, 0, 1);
  uint64_t t0 = ockam_node_now_ms(f.t->node);
  assert_int_equal(ockam_stream_flush(f.s, 3000), OCKAM_OK);
  assert_true(ockam_node_now_ms(f.t->node) - t0 >= f.o.retry_ms - 5); /* backed off */
  RUN_UNTIL(f.t, 2000, f.sink->n >= 1);
  ockam_stream_stats st = stats_of(f.s);
  assert_int_equal(st.errors, 1);
  assert_int_equal(st.resent, 1);
  assert_int_equal(st.reinits, 0);
  assert_int_equal(f.h->streams[0]->n, 1);
  assert_sink_in_order(f.sink, 1);
  loop_teardown(&f);
}

/* Pipelining: many pushes in flight, bounded by max_in_flight; after lost
 * confirms the window is sent again in order. */
static void test_pipelined_window(void **state) {
  (void)state;
  loop_fixture f = loop_setup();
  f.h->manual = true; /* hold the Init back while messages queue up */
  f.o.max_in_flight = 4;
  f.o.retry_ms = 100;
  loop_start(&f, false);
  send_n(f.t, f.s, 0, 20);
  run_for(f.t, 20);
  assert_int_equal(count_reqs(f.h, NULL, OCKAMI_SP_PUSH), 0);
  /* Answer both creates by hand with one worker, then behave as a hub. */
  fstream *fs = hub_stream(f.h, "loop", 4);
  snprintf(fs->addr, sizeof fs->addr, "sw-loop-0");
  const char *a[1] = {fs->addr};
  assert_int_equal(ockam_worker_start(f.t->node, a, 1, &fstream_ops, fs, &fs->w), OCKAM_OK);
  f.h->manual = false;
  f.h->drop_confirms = 4; /* the first window is stored but not confirmed */
  ockami_buf b = OCKAMI_BUF_INIT;
  for (size_t k = 0; k < 2; k++) {
    assert_int_equal(ockami_sp_encode_init(&b, "loop", 4), OCKAM_OK);
    hub_answer_buf(f.t, nth_req(f.h, OCKAMI_SP_CREATE, k), fs->addr, &b);
  }
  ockami_buf_free(&b);
  run_for(f.t, 40);
  assert_int_equal(count_reqs(f.h, NULL, OCKAMI_SP_PUSH), 4); /* the window is full */
  assert_int_equal(ockam_stream_flush(f.s, 3000), OCKAM_OK);
  RUN_UNTIL(f.t, 3000, f.sink->n >= 24);
  run_for(f.t, 50);
  /* Request ids 0-3, 0-3 again, then 4-19; the stream (and the sink) holds
   * n0-n3 twice, then n4-n19: in order once repeats are dropped. */
  static const size_t order[24] = {0, 1, 2,  3,  0,  1,  2,  3,  4,  5,  6,  7,
                                   8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19};
  assert_int_equal(count_reqs(f.h, NULL, OCKAMI_SP_PUSH), 24);
  assert_int_equal(f.sink->n, 24);
  for (size_t k = 0; k < 24; k++) {
    assert_int_equal(nth_req(f.h, OCKAMI_SP_PUSH, k)->d.u.push.request_id, order[k]);
    char text[32];
    snprintf(text, sizeof text, "n%zu", order[k]);
    assert_payload_str(f.sink->msgs[k], text);
  }
  ockam_stream_stats st = stats_of(f.s);
  assert_int_equal(st.resent, 4);
  assert_int_equal(st.confirmed, 20);
  loop_teardown(&f);
}

/* Pulls of a stream holding n messages (no long-poll, a long interval so
 * that the backlog is stored before the second pull). Returns the limits of
 * every pull in order in lim (at most max), their count in *npulls. */
static void adaptive_run(uint32_t pull_limit, size_t n, uint32_t *lim, size_t max, size_t *npulls) {
  loop_fixture f = loop_setup();
  f.h->no_long_poll = true;
  f.o.interval_ms = 1500;
  f.o.retry_ms = 10000; /* a slow build must not resend the whole window */
  f.o.pull_limit = pull_limit;
  loop_start(&f, true);
  send_n(f.t, f.s, 0, n);
  assert_int_equal(ockam_stream_flush(f.s, 20000), OCKAM_OK);
  RUN_UNTIL(f.t, 20000, f.sink->n >= n);
  assert_sink_in_order(f.sink, n);
  /* Idle again: one more pull after the interval carries the limit. */
  size_t pulls = count_reqs(f.h, NULL, OCKAMI_SP_PULL);
  RUN_UNTIL(f.t, 20000, count_reqs(f.h, NULL, OCKAMI_SP_PULL) > pulls + 1);
  *npulls = 0;
  for (size_t k = 0; nth_req(f.h, OCKAMI_SP_PULL, k) && *npulls < max; k++)
    lim[(*npulls)++] = (uint32_t)nth_req(f.h, OCKAMI_SP_PULL, k)->d.u.pull.limit;
  loop_teardown(&f);
}

/* Position of the first run of `want` (consecutive limits) in lim, or -1. */
static long find_run(const uint32_t *lim, size_t n, const uint32_t *want, size_t nw) {
  for (size_t i = 0; i + nw <= n; i++)
    if (!memcmp(lim + i, want, nw * sizeof *want)) return (long)i;
  return -1;
}

static void test_adaptive_pull_limit(void **state) {
  (void)state;
  uint32_t lim[64];
  size_t n;
  /* Default: from 64, doubling while replies are full (64 + 128 + 256 +
   * 512, then 1024 twice at the cap), halving after the partial reply (516
   * of 1024), back to 64 once a pull finds nothing. */
  adaptive_run(0, 2500, lim, 64, &n);
  static const uint32_t grow[] = {64, 128, 256, 512, 1024, 1024, 512};
  assert_true(find_run(lim, n, grow, 7) >= 0);
  for (size_t i = 0; i < n; i++) assert_true(lim[i] >= 64 && lim[i] <= OCKAM_PULL_LIMIT_MAX);
  assert_int_equal(lim[n - 1], 64);
  /* An explicit pull_limit is the cap. */
  adaptive_run(100, 500, lim, 64, &n);
  static const uint32_t capped[] = {64, 100, 100, 100};
  assert_true(find_run(lim, n, capped, 4) >= 0);
  for (size_t i = 0; i < n; i++) assert_true(lim[i] == 64 || lim[i] == 100);
  assert_int_equal(lim[n - 1], 64);
  /* Below the default start: fixed. */
  adaptive_run(8, 40, lim, 64, &n);
  for (size_t i = 0; i < n; i++) assert_int_equal(lim[i], 8);
}

static void test_outbox_full(void **state) {
  (void)state;
  tctx *t = setup(true); /* never answers: everything stays queued */
  ockam_stream_options o = manual_opts();
  o.outbox_max = 4;
  ockam_stream *s = connect_client(t, &o, false);
  send_n(t, s, 0, 6);
  run_for(t, 30);
  ockam_stream_stats st;
  ockam_stream_get_stats(s, &st);
  assert_int_equal(st.pushed, 4);
  assert_int_equal(st.dropped, 2);
  assert_int_equal(st.queued, 4);
  assert_int_equal(ockam_stream_flush(s, 30), OCKAM_ETIMEDOUT);
  /* Too large for a frame: refused at once. */
  ockam_stream_close(s);
  o.outbox_max = 0;
  s = connect_client(t, &o, false);
  static uint8_t big[OCKAM_PAYLOAD_MAX - 64];
  char route[64];
  snprintf(route, sizeof route, "%s;x", ockam_stream_tx_address(s));
  ockam_route *r = route_of(route);
  assert_int_equal(ockam_send(t->node, "app", r, big, sizeof big), OCKAM_OK);
  ockam_route_free(r);
  run_for(t, 30);
  ockam_stream_get_stats(s, &st);
  assert_int_equal(st.dropped, 1);
  assert_int_equal(st.pushed, 0);
  ockam_stream_close(s);
  teardown(t);
}

/* A worker that pops itself and forwards: a route to the same hub. */
static int relay_handle(ockam_worker *w, ockam_message *msg) {
  ockam_route_pop(ockam_message_onward_mut(msg));
  return ockam_forward(ockam_worker_node(w), msg);
}
static const ockam_worker_ops relay_ops = {relay_handle, NULL};
static int hole_handle(ockam_worker *w, ockam_message *msg) {
  (void)w;
  (void)msg;
  return OCKAM_OK;
}
static const ockam_worker_ops hole_ops = {hole_handle, NULL};

static void test_fallback_routes(void **state) {
  (void)state;
  tctx *t = setup(false);
  recorder *sink = recorder_start(t, "sink");
  const char *hole[1] = {"deadhub"}, *relay[1] = {"relay"};
  assert_int_equal(ockam_worker_start(t->node, hole, 1, &hole_ops, NULL, NULL), OCKAM_OK);
  assert_int_equal(ockam_worker_start(t->node, relay, 1, &relay_ops, NULL, NULL), OCKAM_OK);
  ockam_route *dead = route_of("deadhub"), *alive = route_of("relay");
  const ockam_route *fallbacks[1] = {alive};
  ockam_stream_options o = auto_opts();
  o.fallback_routes = fallbacks;
  o.n_fallback = 1;
  ockam_stream *s;
  assert_int_equal(ockam_stream_connect(t->node, dead, "loop", "loop", &o, &s), OCKAM_OK);
  assert_int_equal(ockam_stream_allow(s, "sink"), OCKAM_OK);
  assert_int_equal(ockam_stream_wait_ready(s, 3000), OCKAM_OK);
  ockam_stream_stats st;
  ockam_stream_get_stats(s, &st);
  assert_int_equal(st.producer_hub, 1);
  assert_int_equal(st.consumer_hub, 1);
  assert_true(st.timeouts >= 6); /* 3 creates per side through the dead route */
  send_n(t, s, 0, 3);
  RUN_UNTIL(t, 3000, sink->n >= 3);
  assert_sink_in_order(sink, 3);
  ockam_stream_close(s);
  ockam_route_free(dead);
  ockam_route_free(alive);
  teardown(t);
  recorder_free(sink);
}

static void test_lifecycle(void **state) {
  (void)state;
  ockam_route *hub = empty_route();
  ockam_stream *s;
  /* Close before the loop ever ran, then destroy. */
  tctx *t = setup(false);
  assert_int_equal(ockam_stream_connect(t->node, hub, "a", "b", NULL, &s), OCKAM_OK);
  assert_int_equal(ockam_stream_allow(s, "sink"), OCKAM_OK);
  ockam_stream_close(s);
  teardown(t);
  /* Destroy the node first, then close. */
  t = setup(false);
  assert_int_equal(ockam_stream_connect(t->node, hub, "a", "b", NULL, &s), OCKAM_OK);
  assert_int_equal(ockam_stream_allow(s, "sink"), OCKAM_OK);
  assert_int_equal(ockam_stream_wait_ready(s, 2000), OCKAM_OK);
  send_n(t, s, 0, 3);
  teardown(t);
  assert_int_equal(ockam_stream_flush(s, 10), OCKAM_ECLOSED);
  ockam_stream_close(s);
  /* Argument checks. */
  t = setup(false);
  ockam_stream_options o = {0};
  assert_int_equal(ockam_stream_connect(NULL, hub, "a", "b", NULL, &s), OCKAM_EINVAL);
  assert_int_equal(ockam_stream_connect(t->node, hub, "", "b", NULL, &s), OCKAM_EINVAL);
  assert_int_equal(ockam_stream_connect(t->node, hub, NULL, NULL, NULL, &s), OCKAM_EINVAL);
  /* One side only: the other side's address is NULL. */
  assert_int_equal(ockam_stream_connect(t->node, hub, "a", NULL, NULL, &s), OCKAM_OK);
  assert_non_null(ockam_stream_tx_address(s));
  assert_null(ockam_stream_rx_address(s));
  ockam_stream_close(s);
  assert_int_equal(ockam_stream_connect(t->node, hub, NULL, "b", NULL, &s), OCKAM_OK);
  assert_null(ockam_stream_tx_address(s));
  assert_non_null(ockam_stream_rx_address(s));
  assert_int_equal(ockam_stream_flush(s, 10), OCKAM_OK); /* no producer: nothing to wait for */
  ockam_stream_close(s);
  char longname[OCKAM_NAME_MAX + 2];
  memset(longname, 'n', sizeof longname - 1);
  longname[sizeof longname - 1] = '\0';
  assert_int_equal(ockam_stream_connect(t->node, hub, longname, "b", NULL, &s), OCKAM_EOVERFLOW);
  assert_int_equal(ockam_stream_connect(t->node, hub, "a", "\xff", NULL, &s), OCKAM_EUTF8);
  o.pull_limit = OCKAM_PULL_LIMIT_MAX + 1;
  assert_int_equal(ockam_stream_connect(t->node, hub, "a", "b", &o, &s), OCKAM_EINVAL);
  o.pull_limit = 0;
  o.n_fallback = 1;
  assert_int_equal(ockam_stream_connect(t->node, hub, "a", "b", &o, &s), OCKAM_EINVAL);
  teardown(t);
  ockam_route_free(hub);
}

int main(void) {
  signal(SIGPIPE, SIG_IGN);
  if (!getenv("OCKAM_LOG")) ockam_log_set_level(OCKAM_LOG_ERROR);
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_push_resend_after_lost_confirm),
      cmocka_unit_test(test_pull_retry_after_lost_reply),
      cmocka_unit_test(test_long_poll_fallback_auto),
      cmocka_unit_test(test_long_poll_held),
      cmocka_unit_test(test_recreate_after_timeouts),
      cmocka_unit_test(test_save_resent),
      cmocka_unit_test(test_recreate_keeps_local_position),
      cmocka_unit_test(test_error_reply_recreate),
      cmocka_unit_test(test_confirm_error_backoff),
      cmocka_unit_test(test_pipelined_window),
      cmocka_unit_test(test_adaptive_pull_limit),
      cmocka_unit_test(test_outbox_full),
      cmocka_unit_test(test_fallback_routes),
      cmocka_unit_test(test_lifecycle),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
