/* The node (node.c): workers and timers that stop themselves inside their own
 * callbacks, ockam_node_run_until() ending with OCKAM_ECLOSED when nothing is
 * left that could complete the wait, mailboxes across the node's destruction,
 * and FIFO delivery. Run under the sanitizers (scripts/test --asan), a
 * use-after-free or leak in any of these fails the test. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "node.h"
#include "ockam/log.h"
#include "ockam/node.h"

/* Generous bound for anything that must happen; only reached on failure. */
#define ARRIVE_MS 5000

static ockam_route *route_of(const char *text) {
  ockam_route *r;
  assert_int_equal(ockam_route_parse(text, &r), OCKAM_OK);
  return r;
}

static void send_byte(ockam_node *node, const char *from, const char *to, uint8_t b) {
  ockam_route *r = route_of(to);
  assert_int_equal(ockam_send(node, from, r, &b, 1), OCKAM_OK);
  ockam_route_free(r);
}

/* ---- a worker stopping itself ---------------------------------------------- */

typedef struct quitter {
  int handled;
  int stopped;
  bool in_handle;
  bool stopped_inside_handle; /* `stopped` ran while handle() was running */
} quitter;

static int quitter_handle(ockam_worker *w, ockam_message *m) {
  (void)m;
  quitter *q = ockam_worker_user(w);
  q->in_handle = true;
  q->handled++;
  ockam_worker_stop(w);
  ockam_worker_stop(w); /* twice: the second is a no-op */
  q->in_handle = false;
  return OCKAM_OK;
}

static void quitter_stopped(ockam_worker *w) {
  quitter *q = ockam_worker_user(w);
  if (q->in_handle) q->stopped_inside_handle = true;
  q->stopped++;
}

static bool quitter_gone(void *arg) {
  return ((quitter *)arg)->stopped > 0;
}

static void test_worker_stops_itself(void **state) {
  (void)state;
  static const ockam_worker_ops ops = {quitter_handle, quitter_stopped};
  ockam_node *node;
  assert_int_equal(ockam_node_create(&node), OCKAM_OK);
  quitter q = {0};
  const char *addr[1] = {"quitter"};
  assert_int_equal(ockam_worker_start(node, addr, 1, &ops, &q, NULL), OCKAM_OK);
  for (uint8_t i = 0; i < 3; i++) send_byte(node, "app", "quitter", i);
  assert_int_equal(ockam_node_run_until(node, ARRIVE_MS, quitter_gone, &q), OCKAM_OK);
  assert_int_equal(ockam_node_run_until(node, 20, NULL, NULL), OCKAM_OK);
  /* Only the first message reached it; `stopped` ran once, after handle(). */
  assert_int_equal(q.handled, 1);
  assert_int_equal(q.stopped, 1);
  assert_false(q.stopped_inside_handle);
  /* Its address is free again at once. */
  assert_int_equal(ockam_worker_start(node, addr, 1, &ops, &q, NULL), OCKAM_OK);
  ockam_node_destroy(node);
  assert_int_equal(q.stopped, 2); /* the second one, stopped by the node */
}

/* ---- a timer stopping itself -------------------------------------------------- */

typedef struct ticker {
  ockam_timer *t;
  int fired;
  int stop_at;
} ticker;

static void ticker_cb(void *arg) {
  ticker *k = arg;
  k->fired++;
  if (k->fired == k->stop_at) {
    ockam_timer_stop(k->t);
    k->t = NULL;
  }
}

static bool ticker_done(void *arg) {
  ticker *k = arg;
  return k->fired >= k->stop_at;
}

static void test_timer_stops_itself(void **state) {
  (void)state;
  ockam_node *node;
  assert_int_equal(ockam_node_create(&node), OCKAM_OK);
  /* A repeating timer stopped in its third callback fires no more. */
  ticker rep = {.stop_at = 3};
  assert_int_equal(ockam_timer_start(node, 1, 1, ticker_cb, &rep, &rep.t), OCKAM_OK);
  /* A one-shot timer stopped in its own (only) callback is freed once. */
  ticker once = {.stop_at = 1};
  assert_int_equal(ockam_timer_start(node, 1, 0, ticker_cb, &once, &once.t), OCKAM_OK);
  assert_int_equal(ockam_node_run_until(node, ARRIVE_MS, ticker_done, &rep), OCKAM_OK);
  assert_int_equal(ockam_node_run_until(node, ARRIVE_MS, ticker_done, &once), OCKAM_OK);
  assert_int_equal(ockam_node_run_until(node, 30, NULL, NULL), OCKAM_OK);
  assert_int_equal(rep.fired, 3);
  assert_int_equal(once.fired, 1);
  /* A timer still pending when the node goes is freed with it. */
  ticker late = {.stop_at = 100};
  assert_int_equal(ockam_timer_start(node, 60000, 0, ticker_cb, &late, &late.t), OCKAM_OK);
  ockam_node_destroy(node);
  assert_int_equal(late.fired, 0);
}

/* ---- run_until with nothing that could complete ------------------------------- */

static bool never(void *arg) {
  (void)arg;
  return false;
}

static void test_run_until_eclosed(void **state) {
  (void)state;
  ockam_node *node;
  assert_int_equal(ockam_node_create(&node), OCKAM_OK);
  /* No worker, timer or connection: waiting forever would hang. */
  assert_int_equal(ockam_node_run_until(node, -1, never, NULL), OCKAM_ECLOSED);
  /* A worker alone does not keep the loop alive either: nothing will send to it. */
  static const ockam_worker_ops ops = {quitter_handle, NULL};
  quitter q = {0};
  assert_int_equal(ockam_worker_start(node, NULL, 0, &ops, &q, NULL), OCKAM_OK);
  assert_int_equal(ockam_node_run_until(node, -1, never, NULL), OCKAM_ECLOSED);
  /* Queued messages are delivered before the loop is found empty. */
  ockam_mailbox *mb;
  assert_int_equal(ockam_mailbox_create(node, "mb", &mb), OCKAM_OK);
  send_byte(node, "app", "mb", 7);
  ockam_message *m;
  assert_int_equal(ockam_mailbox_receive(mb, -1, &m), OCKAM_OK);
  ockam_message_free(m);
  assert_int_equal(ockam_mailbox_receive(mb, -1, &m), OCKAM_ECLOSED);
  /* A timeout keeps the wait alive until it passes. */
  assert_int_equal(ockam_node_run_until(node, 10, never, NULL), OCKAM_ETIMEDOUT);
  assert_int_equal(ockam_node_run_until(node, 10, NULL, NULL), OCKAM_OK);
  ockam_mailbox_destroy(mb);
  ockam_node_destroy(node);
}

/* ---- mailboxes and the node's destruction ------------------------------------- */

static void test_mailboxes_and_node_destroy(void **state) {
  (void)state;
  ockam_node *node;
  assert_int_equal(ockam_node_create(&node), OCKAM_OK);
  ockam_mailbox *before, *after, *empty;
  assert_int_equal(ockam_mailbox_create(node, "before", &before), OCKAM_OK);
  assert_int_equal(ockam_mailbox_create(node, "after", &after), OCKAM_OK);
  assert_int_equal(ockam_mailbox_create(node, "empty", &empty), OCKAM_OK);
  assert_int_equal(ockam_mailbox_create(node, "after", &empty), OCKAM_EEXIST);
  for (uint8_t i = 0; i < 3; i++) {
    send_byte(node, "app", "before", i);
    send_byte(node, "app", "after", i);
  }
  assert_int_equal(ockam_node_run_until(node, 20, NULL, NULL), OCKAM_OK);
  assert_string_equal(ockam_mailbox_address(after), "after");
  /* Destroyed while the node lives, with messages queued: freed at once, its
   * worker's later `stopped` must not touch it. */
  ockam_mailbox_destroy(before);
  send_byte(node, "app", "before", 9); /* nobody there any more: dropped */
  ockam_node_destroy(node);
  /* The node is gone: what was queued can still be taken, then ECLOSED. */
  ockam_message *m;
  for (uint8_t i = 0; i < 3; i++) {
    assert_int_equal(ockam_mailbox_receive(after, 1000, &m), OCKAM_OK);
    size_t len;
    const uint8_t *p = ockam_message_payload(m, &len);
    assert_int_equal(len, 1);
    assert_int_equal(p[0], i);
    ockam_message_free(m);
  }
  assert_int_equal(ockam_mailbox_receive(after, 1000, &m), OCKAM_ECLOSED);
  assert_int_equal(ockam_mailbox_receive(empty, -1, &m), OCKAM_ECLOSED);
  assert_string_equal(ockam_mailbox_address(after), "");
  ockam_mailbox_destroy(after);
  ockam_mailbox_destroy(empty);
  ockam_mailbox_destroy(NULL);
}

/* ---- FIFO delivery ----------------------------------------------------------------- */

#define FIFO_N 2000

typedef struct recorder {
  uint8_t got[2 * FIFO_N + 8];
  size_t n;
} recorder;

static int recorder_handle(ockam_worker *w, ockam_message *m) {
  recorder *r = ockam_worker_user(w);
  size_t len;
  const uint8_t *p = ockam_message_payload(m, &len);
  if (len == 1 && r->n < sizeof r->got) r->got[r->n++] = p[0];
  return OCKAM_OK;
}

/* On 'x': send 'y' to the recorder, which must arrive after everything that
 * was queued before this handler ran. */
static int relay_handle(ockam_worker *w, ockam_message *m) {
  (void)m;
  send_byte(ockam_worker_node(w), "relay", "rec", 'y');
  return OCKAM_OK;
}

static bool recorded_all(void *arg) {
  return ((recorder *)arg)->n >= FIFO_N + 3;
}

static void test_fifo_delivery(void **state) {
  (void)state;
  static const ockam_worker_ops rec_ops = {recorder_handle, NULL};
  static const ockam_worker_ops relay_ops = {relay_handle, NULL};
  ockam_node *node;
  assert_int_equal(ockam_node_create(&node), OCKAM_OK);
  static recorder rec;
  memset(&rec, 0, sizeof rec);
  const char *ra[1] = {"rec"}, *la[1] = {"relay"};
  assert_int_equal(ockam_worker_start(node, ra, 1, &rec_ops, &rec, NULL), OCKAM_OK);
  assert_int_equal(ockam_worker_start(node, la, 1, &relay_ops, NULL, NULL), OCKAM_OK);
  /* Two senders interleaved, more than one dispatch batch: one order. */
  for (int i = 0; i < FIFO_N; i++)
    send_byte(node, i % 2 ? "a" : "b", "rec", (uint8_t)(i % 2 ? 'a' : 'b'));
  send_byte(node, "app", "relay", 'x');
  send_byte(node, "app", "rec", 'z');
  send_byte(node, "app", "rec", 'w');
  assert_int_equal(ockam_node_run_until(node, ARRIVE_MS, recorded_all, &rec), OCKAM_OK);
  assert_int_equal(rec.n, FIFO_N + 3);
  for (int i = 0; i < FIFO_N; i++) assert_int_equal(rec.got[i], i % 2 ? 'a' : 'b');
  /* 'y' was sent while 'z' and 'w' were already queued: it comes after them. */
  assert_int_equal(rec.got[FIFO_N], 'z');
  assert_int_equal(rec.got[FIFO_N + 1], 'w');
  assert_int_equal(rec.got[FIFO_N + 2], 'y');
  ockam_node_destroy(node);
}

/* ---- deferred calls: after the running handler, before the next message ---- */

typedef struct deferrer {
  ockam_node *node;
  char got[16];
  int n;
  ockami_deferred d, cancelled, outside;
} deferrer;

static void mark(void *arg, char c) {
  deferrer *x = arg;
  x->got[x->n++] = c;
}
static void mark_d(void *arg) {
  mark(arg, 'D');
}
static void mark_e(void *arg) {
  mark(arg, 'E');
}
static void mark_x(void *arg) {
  mark(arg, 'X');
}

static int deferrer_handle(ockam_worker *w, ockam_message *msg) {
  deferrer *x = ockam_worker_user(w);
  size_t len;
  const uint8_t *p = ockam_message_payload(msg, &len);
  x->got[x->n++] = (char)p[0];
  if (p[0] == 'a') {
    ockami_node_defer(x->node, &x->d);
    ockami_node_defer(x->node, &x->d); /* already queued: still one call */
    send_byte(x->node, "w", "w", 'c');
  }
  if (p[0] == 'b') {
    ockami_node_defer(x->node, &x->cancelled);
    ockami_node_undefer(x->node, &x->cancelled);
  }
  return OCKAM_OK;
}

static bool deferrer_done(void *arg) {
  return ((deferrer *)arg)->n >= 5;
}

static void test_deferred_calls(void **state) {
  (void)state;
  static const ockam_worker_ops ops = {deferrer_handle, NULL};
  static deferrer x;
  memset(&x, 0, sizeof x);
  assert_int_equal(ockam_node_create(&x.node), OCKAM_OK);
  x.d = (ockami_deferred){.fn = mark_d, .arg = &x};
  x.outside = (ockami_deferred){.fn = mark_e, .arg = &x};
  x.cancelled = (ockami_deferred){.fn = mark_x, .arg = &x};
  const char *addr[1] = {"w"};
  assert_int_equal(ockam_worker_start(x.node, addr, 1, &ops, &x, NULL), OCKAM_OK);
  send_byte(x.node, "app", "w", 'a');
  send_byte(x.node, "app", "w", 'b');
  ockami_node_defer(x.node, &x.outside); /* from outside a drain: first in the next one */
  assert_int_equal(ockam_node_run_until(x.node, ARRIVE_MS, deferrer_done, &x), OCKAM_OK);
  assert_int_equal(ockam_node_run_until(x.node, 20, NULL, NULL), OCKAM_OK);
  x.got[x.n] = 0;
  /* D right after the handler that deferred it, before 'b' already queued;
   * the cancelled call never runs. */
  assert_string_equal(x.got, "EaDbc");
  ockam_node_destroy(x.node);
}

/* ---- drops: a stopped worker's address is routine, an unknown one is not ---- */

typedef struct drop_log {
  int warn, debug;
} drop_log;

static void drop_sink(ockam_log_level level, const char *module, const char *message, void *user) {
  (void)module;
  drop_log *d = user;
  if (!strstr(message, "dropping message")) return;
  if (level >= OCKAM_LOG_WARN) d->warn++;
  if (level == OCKAM_LOG_DEBUG) d->debug++;
}

static void test_drop_to_stopped_worker_is_debug(void **state) {
  (void)state;
  static const ockam_worker_ops ops = {quitter_handle, quitter_stopped};
  ockam_node *node;
  assert_int_equal(ockam_node_create(&node), OCKAM_OK);
  drop_log d = {0};
  ockam_log_level old = ockam_log_get_level();
  ockam_log_set_level(OCKAM_LOG_DEBUG);
  ockam_log_set_sink(drop_sink, &d);
  quitter q = {0};
  const char *addr[1] = {"0123456789abcdef"};
  assert_int_equal(ockam_worker_start(node, addr, 1, &ops, &q, NULL), OCKAM_OK);
  send_byte(node, "app", "0123456789abcdef", 1); /* the worker stops itself */
  assert_int_equal(ockam_node_run_until(node, ARRIVE_MS, quitter_gone, &q), OCKAM_OK);
  send_byte(node, "app", "0123456789abcdef", 2); /* a late reply: DEBUG */
  send_byte(node, "app", "never-existed", 3);    /* a bad address: WARN */
  assert_int_equal(ockam_node_run_until(node, 50, NULL, NULL), OCKAM_OK);
  ockam_log_set_sink(NULL, NULL);
  ockam_log_set_level(old);
  assert_int_equal(d.debug, 1);
  assert_int_equal(d.warn, 1);
  ockam_node_destroy(node);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_worker_stops_itself),
      cmocka_unit_test(test_timer_stops_itself),
      cmocka_unit_test(test_run_until_eclosed),
      cmocka_unit_test(test_mailboxes_and_node_destroy),
      cmocka_unit_test(test_fifo_delivery),
      cmocka_unit_test(test_deferred_calls),
      cmocka_unit_test(test_drop_to_stopped_worker_is_debug),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
