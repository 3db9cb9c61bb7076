/* Secure channels end to end: separate processes through the hub's forwarding
 * service (the hub never sees plaintext), replay/tamper/reorder handling with
 * a tap in the route, 100,000 messages over TCP with extended framing, and a
 * 2021-framing peer interoperating. */
#include <pthread.h>
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
#include "proxy.h"
#include "testutil.h"

/* ---- separate processes through the hub ----------------------------------------- */

static void test_channel_through_hub_processes(void **state) {
  (void)state;
  tu_proc hub, responder, initiator;
  char bound[64], line[512], pr[64], pi[64];
  assert_int_equal(tu_start_hub(&hub, 0, "memory", NULL, NULL, bound, sizeof bound), 0);
  /* Every byte the hub receives or sends passes one of these two proxies. */
  tu_proxy_opts rec = {.record = true};
  tu_proxy *proxy_r = tu_proxy_start(bound, &rec, pr, sizeof pr);
  tu_proxy *proxy_i = tu_proxy_start(bound, &rec, pi, sizeof pi);
  assert_non_null(proxy_r);
  assert_non_null(proxy_i);
  char *rargv[] = {(char *)OCKAM_EXAMPLES "/09-secure-channel-over-forwarding-responder", pr, NULL};
  assert_int_equal(tu_spawn(&responder, rargv, true), 0);
  assert_int_equal(tu_expect_line(&responder, "Forwarding address: ", line, sizeof line, 10000), 0);
  char fwd[64];
  snprintf(fwd, sizeof fwd, "%s", strstr(line, ": ") + 2);
  char *iargv[] = {(char *)OCKAM_EXAMPLES "/09-secure-channel-over-forwarding-initiator", pi, fwd,
                   NULL};
  assert_int_equal(tu_spawn(&initiator, iargv, true), 0);
  assert_int_equal(tu_expect_line(&initiator, "Reply via secure channel: Hello World!", line,
                                  sizeof line, 20000),
                   0);
  assert_int_equal(tu_wait(&initiator, 5000), 0);
  assert_int_equal(
      tu_expect_line(&responder, "echoer: received 'Hello World!'", line, sizeof line, 5000), 0);
  /* The hub carried the handshake and the ciphertexts ... */
  assert_true(tu_proxy_bytes(proxy_i) > 200);
  assert_true(tu_proxy_bytes(proxy_r) > 200);
  assert_true(tu_proxy_saw(proxy_i, fwd, strlen(fwd)));
  /* ... but never the plaintext, nor the inner route to the echoer. */
  assert_false(tu_proxy_saw(proxy_i, "Hello World!", 12));
  assert_false(tu_proxy_saw(proxy_r, "Hello World!", 12));
  assert_false(tu_proxy_saw(proxy_i, "echoer", 6));
  assert_false(tu_proxy_saw(proxy_r, "echoer", 6));
  assert_int_equal(tu_term(&responder), 0);
  assert_int_equal(tu_term(&hub), 0);
  tu_proxy_stop(proxy_i);
  tu_proxy_stop(proxy_r);
}

/* ---- one node, a tap in the route ---------------------------------------------------- */

typedef enum tap_mode { TAP_PASS, TAP_DUPLICATE, TAP_TAMPER, TAP_HOLD } tap_mode;

typedef struct tap {
  tap_mode mode;
  ockam_message *held[64];
  int nheld;
} tap;

static int tap_handle(ockam_worker *w, ockam_message *m) {
  tap *t = ockam_worker_user(w);
  ockam_node *node = ockam_worker_node(w);
  /* Like a hub connection: pop ourselves, and prepend ourselves to the return
   * route so that answers come back through the tap too. */
  ockam_route_pop(ockam_message_onward_mut(m));
  assert_int_equal(ockam_route_prepend(ockam_message_return_mut(m), 0, "tap", 3), 0);
  switch (t->mode) {
    case TAP_DUPLICATE: {
      ockam_message *copy;
      assert_int_equal(ockam_message_copy(m, &copy), 0);
      assert_int_equal(ockam_send_message(node, copy), 0);
      break;
    }
    case TAP_TAMPER: {
      size_t len;
      const uint8_t *p = ockam_message_payload(m, &len);
      uint8_t *q = malloc(len);
      memcpy(q, p, len);
      q[len - 1] ^= 0x01;
      assert_int_equal(ockam_message_set_payload(m, q, len), 0);
      free(q);
      break;
    }
    case TAP_HOLD:
      ockam_message_keep(m);
      t->held[t->nheld++] = m;
      return 0;
    case TAP_PASS:
      break;
  }
  return ockam_forward(node, m);
}

static const ockam_worker_ops tap_ops = {tap_handle, NULL};

typedef struct sink {
  int count;
  char last[64];
  char channel_responder[64];
} sink;

static int sink_handle(ockam_worker *w, ockam_message *m) {
  sink *s = ockam_worker_user(w);
  const char *str;
  size_t len;
  assert_true(ockam_message_via_channel(m));
  if (ockam_message_get_string(m, &str, &len) == 0 && len < sizeof s->last) {
    memcpy(s->last, str, len);
    s->last[len] = 0;
  }
  ockam_address a;
  assert_int_equal(ockam_route_get(ockam_message_return(m), 0, &a), 0);
  snprintf(s->channel_responder, sizeof s->channel_responder, "%.*s", a.len, a.value);
  s->count++;
  return 0;
}

static const ockam_worker_ops sink_ops = {sink_handle, NULL};

static void send_str(ockam_node *node, const char *channel, const char *text) {
  ockam_route *r;
  assert_int_equal(ockam_route_new(&r), 0);
  assert_int_equal(ockam_route_append_str(r, channel), 0);
  assert_int_equal(ockam_route_append_str(r, "sink"), 0);
  uint8_t p[64];
  p[0] = (uint8_t)strlen(text);
  memcpy(p + 1, text, p[0]);
  assert_int_equal(ockam_send(node, "app", r, p, 1u + p[0]), 0);
  ockam_route_free(r);
}

static void test_replay_tamper_reorder(void **state) {
  (void)state;
  ockam_node *node;
  ockam_vault *vault;
  assert_int_equal(ockam_node_create(&node), 0);
  assert_int_equal(ockam_vault_create("software", &vault), 0);
  tap t = {TAP_DUPLICATE, {0}, 0};
  sink s = {0};
  const char *tap_addr[1] = {"tap"}, *sink_addr[1] = {"sink"};
  assert_int_equal(ockam_worker_start(node, tap_addr, 1, &tap_ops, &t, NULL), 0);
  assert_int_equal(ockam_worker_start(node, sink_addr, 1, &sink_ops, &s, NULL), 0);
  ockam_channel_listener *listener;
  assert_int_equal(ockam_channel_listener_create(node, "scl", vault, NULL, &listener), 0);
  ockam_route *route;
  assert_int_equal(ockam_route_parse("tap;scl", &route), 0);
  char ch[64];
  /* Every handshake message arrives twice: one responder, one working channel.
   * One record per message here (no batching); batched records below. */
  ockam_channel_options o = {.no_batch = true};
  assert_int_equal(ockam_channel_create(node, route, vault, &o, 5000, ch, sizeof ch), 0);
  ockam_route_free(route);

  /* Duplicated ciphertexts are delivered once and counted. */
  for (int i = 0; i < 10; i++) send_str(node, ch, "dup");
  assert_int_equal(ockam_node_run_until(node, 300, NULL, NULL), 0);
  assert_int_equal(s.count, 10);
  ockam_channel_stats st;
  assert_int_equal(ockam_channel_get_stats(node, s.channel_responder, &st), 0);
  assert_true(st.established);
  assert_true(st.extended_framing);
  assert_int_equal(st.delivered, 10);
  assert_int_equal(st.replayed, 10);

  /* Tampered ciphertexts are never delivered; the failure is counted. */
  uint64_t failed_before = st.auth_failed + st.malformed;
  t.mode = TAP_TAMPER;
  for (int i = 0; i < 5; i++) send_str(node, ch, "tampered");
  assert_int_equal(ockam_node_run_until(node, 300, NULL, NULL), 0);
  assert_int_equal(s.count, 10);
  assert_int_equal(ockam_channel_get_stats(node, s.channel_responder, &st), 0);
  assert_int_equal(st.auth_failed + st.malformed - failed_before, 5);
  assert_int_equal(st.delivered, 10);

  /* Reordered inside the window: each delivered exactly once. */
  t.mode = TAP_HOLD;
  for (int i = 0; i < 20; i++) send_str(node, ch, "reordered");
  assert_int_equal(ockam_node_run_until(node, 300, NULL, NULL), 0);
  assert_int_equal(t.nheld, 20);
  t.mode = TAP_PASS;
  for (int i = t.nheld - 1; i >= 0; i--) assert_int_equal(ockam_send_message(node, t.held[i]), 0);
  /* ... and replaying one of them afterwards is refused. */
  ockam_message *again;
  assert_int_equal(ockam_message_copy(t.held[3], &again), 0);
  t.nheld = 0;
  assert_int_equal(ockam_node_run_until(node, 300, NULL, NULL), 0);
  assert_int_equal(s.count, 30);
  assert_int_equal(ockam_send_message(node, again), 0);
  assert_int_equal(ockam_node_run_until(node, 300, NULL, NULL), 0);
  assert_int_equal(s.count, 30);
  assert_int_equal(ockam_channel_get_stats(node, s.channel_responder, &st), 0);
  assert_int_equal(st.delivered, 30);
  assert_int_equal(st.replayed, 11);
  assert_string_equal(s.last, "reordered");

  ockam_node_destroy(node);
  ockam_channel_listener_close(listener); /* after the node: only frees it */
  assert_int_equal(ockam_vault_secret_count(vault), 0);
  ockam_vault_destroy(vault);
}

static int closer_handle(ockam_worker *w, ockam_message *m) {
  (void)m;
  return ockam_channel_close(ockam_worker_node(w), ockam_worker_user(w));
}

static const ockam_worker_ops closer_ops = {closer_handle, NULL};

/* Messages sent in one loop iteration travel as one batched record: a
 * duplicated record is delivered once, a tampered one not at all, and the
 * messages of held and reordered records arrive once each, in order within
 * each record. */
static void test_batched_records(void **state) {
  (void)state;
  ockam_node *node;
  ockam_vault *vault;
  assert_int_equal(ockam_node_create(&node), 0);
  assert_int_equal(ockam_vault_create("software", &vault), 0);
  tap t = {TAP_DUPLICATE, {0}, 0};
  sink s = {0};
  const char *tap_addr[1] = {"tap"}, *sink_addr[1] = {"sink"};
  assert_int_equal(ockam_worker_start(node, tap_addr, 1, &tap_ops, &t, NULL), 0);
  assert_int_equal(ockam_worker_start(node, sink_addr, 1, &sink_ops, &s, NULL), 0);
  ockam_channel_listener *listener;
  assert_int_equal(ockam_channel_listener_create(node, "scl", vault, NULL, &listener), 0);
  ockam_route *route;
  assert_int_equal(ockam_route_parse("tap;scl", &route), 0);
  char ch[64];
  assert_int_equal(ockam_channel_create(node, route, vault, NULL, 5000, ch, sizeof ch), 0);
  ockam_route_free(route);

  /* Ten messages in one iteration: one record, duplicated by the tap. */
  for (int i = 0; i < 10; i++) send_str(node, ch, "dup");
  assert_int_equal(ockam_node_run_until(node, 300, NULL, NULL), 0);
  assert_int_equal(s.count, 10);
  ockam_channel_stats st, si;
  assert_int_equal(ockam_channel_get_stats(node, s.channel_responder, &st), 0);
  assert_int_equal(ockam_channel_get_stats(node, ch, &si), 0);
  assert_true(st.batching && si.batching);
  assert_int_equal(si.sent, 1);
  assert_int_equal(si.batches_sent, 1);
  assert_int_equal(si.batched_sent, 10);
  assert_int_equal(st.delivered, 1);
  assert_int_equal(st.replayed, 1);
  assert_int_equal(st.batches_received, 1);
  assert_int_equal(st.batched_received, 10);
  uint64_t malformed = st.malformed;

  /* A single message keeps the one-message record. */
  send_str(node, ch, "alone");
  assert_int_equal(ockam_node_run_until(node, 300, NULL, NULL), 0);
  assert_int_equal(s.count, 11);
  assert_string_equal(s.last, "alone");
  assert_int_equal(ockam_channel_get_stats(node, ch, &si), 0);
  assert_int_equal(si.sent, 2);
  assert_int_equal(si.batches_sent, 1);

  /* A tampered batched record delivers none of its messages. */
  t.mode = TAP_TAMPER;
  for (int i = 0; i < 5; i++) send_str(node, ch, "tampered");
  assert_int_equal(ockam_node_run_until(node, 300, NULL, NULL), 0);
  assert_int_equal(s.count, 11);
  assert_int_equal(ockam_channel_get_stats(node, s.channel_responder, &st), 0);
  assert_int_equal(st.auth_failed, 1);

  /* Two records held and released in reverse: each message once. */
  t.mode = TAP_HOLD;
  send_str(node, ch, "first-a");
  send_str(node, ch, "first-b");
  assert_int_equal(ockam_node_run_until(node, 300, NULL, NULL), 0);
  send_str(node, ch, "second-a");
  send_str(node, ch, "second-b");
  assert_int_equal(ockam_node_run_until(node, 300, NULL, NULL), 0);
  assert_int_equal(t.nheld, 2);
  t.mode = TAP_PASS;
  assert_int_equal(ockam_send_message(node, t.held[1]), 0);
  assert_int_equal(ockam_node_run_until(node, 300, NULL, NULL), 0);
  assert_string_equal(s.last, "second-b");
  assert_int_equal(ockam_send_message(node, t.held[0]), 0);
  t.nheld = 0;
  assert_int_equal(ockam_node_run_until(node, 300, NULL, NULL), 0);
  assert_string_equal(s.last, "first-b");
  assert_int_equal(s.count, 15);
  assert_int_equal(ockam_channel_get_stats(node, s.channel_responder, &st), 0);
  assert_int_equal(st.batches_received, 3);
  assert_int_equal(st.batched_received, 14);
  assert_int_equal(st.malformed, malformed);

  /* Closed in the iteration the messages reached it, the channel still
   * sends them. */
  const char *closer_addr[1] = {"closer"};
  assert_int_equal(ockam_worker_start(node, closer_addr, 1, &closer_ops, ch, NULL), 0);
  send_str(node, ch, "last-a");
  send_str(node, ch, "last-b");
  ockam_route *cr;
  assert_int_equal(ockam_route_parse("closer", &cr), 0);
  assert_int_equal(ockam_send(node, "app", cr, (const uint8_t *)"", 0), 0);
  ockam_route_free(cr);
  assert_int_equal(ockam_node_run_until(node, 300, NULL, NULL), 0);
  assert_int_equal(ockam_channel_get_stats(node, ch, &si), OCKAM_ENOTFOUND);
  assert_int_equal(s.count, 17);
  assert_string_equal(s.last, "last-b");

  ockam_node_destroy(node);
  ockam_channel_listener_close(listener);
  assert_int_equal(ockam_vault_secret_count(vault), 0);
  ockam_vault_destroy(vault);
}

/* ---- abandoned handshakes are freed -------------------------------------------------- */

static int blackhole_handle(ockam_worker *w, ockam_message *m) {
  int *count = ockam_worker_user(w);
  (*count)++;
  (void)m;
  return 0;
}

static const ockam_worker_ops blackhole_ops = {blackhole_handle, NULL};

static void test_handshake_timeouts_free_everything(void **state) {
  (void)state;
  ockam_node *node;
  ockam_vault *vault;
  assert_int_equal(ockam_node_create(&node), 0);
  assert_int_equal(ockam_vault_create("software", &vault), 0);
  int swallowed = 0;
  const char *hole[1] = {"blackhole"};
  assert_int_equal(ockam_worker_start(node, hole, 1, &blackhole_ops, &swallowed, NULL), 0);
  ockam_channel_options o = {.handshake_timeout_ms = 200};
  ockam_channel_listener *listener;
  assert_int_equal(ockam_channel_listener_create(node, "scl", vault, &o, &listener), 0);
  size_t base = ockam_vault_secret_count(vault);

  /* Initiator side: nobody answers m1. */
  ockam_route *route;
  assert_int_equal(ockam_route_parse("blackhole", &route), 0);
  char ch[64];
  assert_int_equal(ockam_channel_create(node, route, vault, &o, 300, ch, sizeof ch),
                   OCKAM_ETIMEDOUT);
  ockam_route_free(route);
  assert_int_equal(swallowed, 1);

  /* Responder side: m1 arrives, m2 goes into the black hole, m3 never comes.
   * The responder answers, then gives up after its timeout. */
  ockam_route *to_listener;
  assert_int_equal(ockam_route_parse("scl", &to_listener), 0);
  ockam_message *m;
  assert_int_equal(ockam_message_new(&m), 0);
  assert_int_equal(ockam_route_append_str(ockam_message_onward_mut(m), "scl"), 0);
  assert_int_equal(ockam_route_append_str(ockam_message_return_mut(m), "blackhole"), 0);
  uint8_t req[34] = {32};
  for (int i = 0; i < 32; i++) req[1 + i] = (uint8_t)(i * 7 + 9); /* a valid X25519 point */
  req[33] = 0;
  assert_int_equal(ockam_message_set_payload(m, req, sizeof req), 0);
  assert_int_equal(ockam_send_message(node, m), 0);
  ockam_route_free(to_listener);
  assert_int_equal(ockam_node_run_until(node, 100, NULL, NULL), 0);
  assert_int_equal(swallowed, 2); /* m2 was sent */
  assert_true(ockam_vault_secret_count(vault) > base);
  assert_int_equal(ockam_node_run_until(node, 400, NULL, NULL), 0);
  /* Both abandoned handshakes released their workers and secrets. */
  assert_int_equal(ockam_vault_secret_count(vault), base);

  ockam_node_destroy(node);
  ockam_channel_listener_close(listener); /* after the node: only frees it */
  assert_int_equal(ockam_vault_secret_count(vault), 0);
  ockam_vault_destroy(vault);
}

static void test_flood_evicts_oldest_handshake(void **state) {
  (void)state;
  ockam_node *node;
  ockam_vault *vault;
  assert_int_equal(ockam_node_create(&node), 0);
  assert_int_equal(ockam_vault_create("software", &vault), 0);
  int swallowed = 0;
  const char *hole[1] = {"blackhole"};
  assert_int_equal(ockam_worker_start(node, hole, 1, &blackhole_ops, &swallowed, NULL), 0);
  /* At most 4 handshakes in progress; those of the flood never complete. */
  ockam_channel_options o = {.max_pending = 4};
  ockam_channel_listener *listener;
  assert_int_equal(ockam_channel_listener_create(node, "scl", vault, &o, &listener), 0);
  size_t base = ockam_vault_secret_count(vault);
  for (int i = 0; i < 50; i++) {
    ockam_message *m;
    assert_int_equal(ockam_message_new(&m), 0);
    assert_int_equal(ockam_route_append_str(ockam_message_onward_mut(m), "scl"), 0);
    assert_int_equal(ockam_route_append_str(ockam_message_return_mut(m), "blackhole"), 0);
    uint8_t req[34] = {32};
    for (int k = 0; k < 32; k++) req[1 + k] = (uint8_t)(k * 7 + 9 + i);
    assert_int_equal(ockam_message_set_payload(m, req, sizeof req), 0);
    assert_int_equal(ockam_send_message(node, m), 0);
  }
  assert_int_equal(ockam_node_run_until(node, 100, NULL, NULL), 0);
  assert_int_equal(swallowed, 50); /* every request got its m2 */
  /* Only the newest 4 are still held (each holds secrets). */
  size_t held = ockam_vault_secret_count(vault) - base;
  /* An honest peer gets a channel at once, without waiting for timeouts. */
  ockam_route *route;
  assert_int_equal(ockam_route_parse("scl", &route), 0);
  char ch[64];
  assert_int_equal(ockam_channel_create(node, route, vault, NULL, 2000, ch, sizeof ch), 0);
  ockam_route_free(route);
  assert_true(held > 0);
  assert_true(held <= 4 * 4);
  ockam_node_destroy(node);
  ockam_channel_listener_close(listener); /* after the node: only frees it */
  assert_int_equal(ockam_vault_secret_count(vault), 0);
  ockam_vault_destroy(vault);
}

/* ---- two nodes on two threads over real TCP ------------------------------------------------ */

typedef struct responder_node {
  ockam_node *node;
  ockam_vault *vault;
  ockam_tcp *tcp;
  ockam_channel_listener *listener;
  char listen[64];
  bool compat;
  pthread_t thread;
  int count; /* messages received by the counter worker */
  int ack_every;
  int out_of_order; /* messages whose sequence number was not the next one */
} responder_node;

static int counter_handle(ockam_worker *w, ockam_message *m) {
  responder_node *r = ockam_worker_user(w);
  size_t len;
  const uint8_t *p = ockam_message_payload(m, &len);
  int seq = -1;
  if (len >= 1 + sizeof seq) memcpy(&seq, p + 1, sizeof seq);
  if (seq != r->count) r->out_of_order++;
  r->count++;
  if (r->count % r->ack_every == 0) {
    uint8_t ack[2] = {1, 'k'};
    return ockam_send(ockam_worker_node(w), "counter", ockam_message_return(m), ack, sizeof ack);
  }
  return 0;
}

static const ockam_worker_ops counter_ops = {counter_handle, NULL};

/* Sends back every message it gets, through the channel it came by. */
static int mirror_handle(ockam_worker *w, ockam_message *m) {
  size_t len;
  const uint8_t *p = ockam_message_payload(m, &len);
  return ockam_send(ockam_worker_node(w), "mirror", ockam_message_return(m), p, len);
}

static const ockam_worker_ops mirror_ops = {mirror_handle, NULL};

static void *responder_main(void *arg) {
  responder_node *r = arg;
  int rc = ockam_node_run(r->node);
  (void)rc;
  return NULL;
}

static void stop_node(void *arg) {
  ockam_node_stop(arg);
}

static void responder_start(responder_node *r, const ockam_channel_options *o) {
  memset(r, 0, sizeof *r);
  r->ack_every = 1000;
  r->compat = o->compat_2021;
  assert_int_equal(ockam_node_create(&r->node), 0);
  assert_int_equal(ockam_vault_create("software", &r->vault), 0);
  assert_int_equal(ockam_tcp_create(r->node, NULL, &r->tcp), 0);
  assert_int_equal(ockam_tcp_listen(r->tcp, "127.0.0.1:0", r->listen, sizeof r->listen), 0);
  assert_int_equal(
      ockam_channel_listener_create(r->node, "secure_channel_listener", r->vault, o, &r->listener),
      0);
  const char *addr[1] = {"counter"}, *maddr[1] = {"mirror"};
  assert_int_equal(ockam_worker_start(r->node, addr, 1, &counter_ops, r, NULL), 0);
  assert_int_equal(ockam_worker_start(r->node, maddr, 1, &mirror_ops, NULL, NULL), 0);
  pthread_create(&r->thread, NULL, responder_main, r);
}

static void responder_stop(responder_node *r) {
  assert_int_equal(ockam_node_post(r->node, stop_node, r->node), 0);
  pthread_join(r->thread, NULL);
  ockam_channel_listener_close(r->listener);
  ockam_tcp_close(r->tcp);
  ockam_node_destroy(r->node);
  ockam_vault_destroy(r->vault);
}

/* The initiator's node, on the test's thread: connected to r over TCP, with
 * a channel to r's listener and an "app" mailbox. */
typedef struct initiator_node {
  ockam_node *node;
  ockam_vault *vault;
  ockam_tcp *tcp;
  ockam_mailbox *app;
  char ch[64];
} initiator_node;

static void initiator_open(initiator_node *in, const responder_node *r,
                           const ockam_channel_options *o) {
  assert_int_equal(ockam_node_create(&in->node), 0);
  assert_int_equal(ockam_vault_create("software", &in->vault), 0);
  assert_int_equal(ockam_tcp_create(in->node, NULL, &in->tcp), 0);
  assert_int_equal(ockam_mailbox_create(in->node, "app", &in->app), 0);
  char text[128];
  snprintf(text, sizeof text, "1#%s;secure_channel_listener", r->listen);
  assert_int_equal(ockam_tcp_connect(in->tcp, r->listen, 5000), 0);
  ockam_route *route;
  assert_int_equal(ockam_route_parse(text, &route), 0);
  assert_int_equal(
      ockam_channel_create(in->node, route, in->vault, o, 10000, in->ch, sizeof in->ch), 0);
  ockam_route_free(route);
}

/* A route through the initiator's channel to the responder's worker `to`. */
static ockam_route *initiator_route(const initiator_node *in, const char *to) {
  ockam_route *route;
  assert_int_equal(ockam_route_new(&route), 0);
  assert_int_equal(ockam_route_append_str(route, in->ch), 0);
  assert_int_equal(ockam_route_append_str(route, to), 0);
  return route;
}

static void initiator_close(initiator_node *in) {
  ockam_mailbox_destroy(in->app);
  ockam_tcp_close(in->tcp);
  ockam_node_destroy(in->node);
  ockam_vault_destroy(in->vault);
}

/* `total` messages of 64 bytes from the initiator, 1,000 per loop iteration,
 * each numbered; the responder checks they arrive in order. */
static void run_bulk_opts(const ockam_channel_options *initiator,
                          const ockam_channel_options *responder, int total, bool want_extended,
                          bool want_batching) {
  responder_node r;
  responder_start(&r, responder);
  initiator_node in;
  initiator_open(&in, &r, initiator);
  ockam_channel_stats st;
  assert_int_equal(ockam_channel_get_stats(in.node, in.ch, &st), 0);
  assert_int_equal(st.extended_framing, want_extended);
  assert_int_equal(st.batching, want_batching);
  ockam_route *route = initiator_route(&in, "counter");
  uint8_t payload[64] = {63};
  for (int sent = 0; sent < total;) {
    for (int i = 0; i < r.ack_every && sent < total; i++, sent++) {
      memcpy(payload + 1, &sent, sizeof sent);
      assert_int_equal(ockam_send(in.node, "app", route, payload, sizeof payload), 0);
    }
    ockam_message *ack;
    assert_int_equal(ockam_mailbox_receive(in.app, 20000, &ack), 0);
    assert_true(ockam_message_via_channel(ack));
    ockam_message_free(ack);
  }
  ockam_route_free(route);
  assert_int_equal(ockam_channel_get_stats(in.node, in.ch, &st), 0);
  /* Records: one per message, less the batched ones plus their records. */
  assert_int_equal(st.sent - st.batches_sent + st.batched_sent, total);
  if (want_batching) {
    assert_true(st.batches_sent > 0 && st.sent < (uint64_t)total);
  } else {
    assert_int_equal(st.sent, total);
    assert_int_equal(st.batches_sent, 0);
  }
  assert_int_equal(st.delivered, total / r.ack_every);
  initiator_close(&in);
  responder_stop(&r);
  assert_int_equal(r.count, total);
  assert_int_equal(r.out_of_order, 0);
}

static void run_bulk(bool initiator_compat, bool responder_compat, int total, bool want_extended) {
  ockam_channel_options i = {.compat_2021 = initiator_compat},
                        o = {.compat_2021 = responder_compat};
  run_bulk_opts(&i, &o, total, want_extended, !initiator_compat && !responder_compat);
}

/* Every payload size class over real TCP, each message alone (so one record
 * each), both ways: small ones batched-capable, large ones sealed straight
 * from the message (two-piece seal) and opened in place (the payload's
 * buffer front dropped); then small ones again, reusing those buffers. */
static void test_sizes_both_ways(void **state) {
  (void)state;
  ockam_channel_options o = {0};
  responder_node r;
  responder_start(&r, &o);
  initiator_node in;
  initiator_open(&in, &r, &o);
  ockam_route *route = initiator_route(&in, "mirror");
  static const size_t sizes[] = {0,     1,     100,   2559, 2561, 4095, 4096,  4097,
                                 20000, 60000, 60000, 5000, 64,   0,    60000, 3};
  static uint8_t payload[60000];
  for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
    size_t n = sizes[k];
    for (size_t i = 0; i < n; i++) payload[i] = (uint8_t)(i * 7 + k);
    assert_int_equal(ockam_send(in.node, "app", route, payload, n), 0);
    ockam_message *back;
    assert_int_equal(ockam_mailbox_receive(in.app, 20000, &back), 0);
    assert_true(ockam_message_via_channel(back));
    size_t len;
    const uint8_t *p = ockam_message_payload(back, &len);
    assert_int_equal(len, n);
    if (n) assert_memory_equal(p, payload, n);
    ockam_message_free(back);
  }
  ockam_channel_stats st;
  assert_int_equal(ockam_channel_get_stats(in.node, in.ch, &st), 0);
  assert_int_equal(st.sent, sizeof sizes / sizeof sizes[0]);
  assert_int_equal(st.delivered, sizeof sizes / sizeof sizes[0]);
  assert_int_equal(st.auth_failed + st.malformed, 0);
  ockam_route_free(route);
  initiator_close(&in);
  responder_stop(&r);
}

static void test_100k_messages_extended(void **state) {
  (void)state;
  run_bulk(false, false, 100000, true);
}

static void test_2021_peer_interoperates(void **state) {
  (void)state;
  /* A 2021 initiator (empty handshake payloads) with our responder, and ours
   * with a 2021 responder: both fall back to 2-byte nonces. */
  run_bulk(true, false, 3000, false);
  run_bulk(false, true, 3000, false);
}

/* Batched records only when both ends announce them: not with a peer that
 * turned them off (as an ockam-c peer from before the extension, which
 * announces extended framing and rekeying only), nor with a 2021 peer (above);
 * order and content are kept either way. */
static void test_batching_needs_both_ends(void **state) {
  (void)state;
  ockam_channel_options on = {0}, off = {.no_batch = true};
  run_bulk_opts(&on, &on, 20000, true, true);
  run_bulk_opts(&off, &on, 3000, true, false);
  run_bulk_opts(&on, &off, 3000, true, false);
  run_bulk_opts(&off, &off, 3000, true, false);
}

int main(void) {
  signal(SIGPIPE, SIG_IGN);
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_channel_through_hub_processes),
      cmocka_unit_test(test_replay_tamper_reorder),
      cmocka_unit_test(test_batched_records),
      cmocka_unit_test(test_handshake_timeouts_free_everything),
      cmocka_unit_test(test_flood_evicts_oldest_handshake),
      cmocka_unit_test(test_sizes_both_ways),
      cmocka_unit_test(test_100k_messages_extended),
      cmocka_unit_test(test_2021_peer_interoperates),
      cmocka_unit_test(test_batching_needs_both_ends),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
