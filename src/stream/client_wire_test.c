/* Stream client wire tests: the exact bytes of create, index, pull, push,
 * delivery and save against the fake hub answered by hand, checked with the
 * known-answer vectors of tests/vectors/ockam-2021-vectors.md (§3.3;
 * directory from $OCKAM_TEST_VECTORS). Fixture: client_test_hub.h.
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
#include "test_support.h"
#include "wire.h"

/* ---- vectors -------------------------------------------------------------- */

enum { E2, E2_FRAME, E4A, E4B, E4D, E5, E6A, E6C, E6D, E6E, E7, E12, NVEC };
static const char *const vec_heading[NVEC] = {
    [E2] = "E2 payload:",   [E2_FRAME] = "E2 TCP frame", [E4A] = "E4a payload:",
    [E4B] = "E4b payload:", [E4D] = "E4d payload:",      [E5] = "E5 payload:",
    [E6A] = "E6a ",         [E6C] = "E6c payload:",      [E6D] = "E6d TCP frame",
    [E6E] = "E6e payload:", [E7] = "E7 payload:",        [E12] = "E12 payload:",
};
static ockami_buf vec[NVEC];

static int load_vectors(void **state) {
  (void)state;
  char *text = ts_vector_file("ockam-2021-vectors.md");
  if (!text) return -1;
  int rc = 0;
  for (int i = 0; i < NVEC && !rc; i++) {
    size_t len;
    uint8_t *p = ts_vector_block(text, vec_heading[i], &len);
    if (!p || ockami_buf_append(&vec[i], p, len)) rc = -1;
    free(p);
  }
  free(text);
  return rc;
}

static int free_vectors(void **state) {
  (void)state;
  for (int i = 0; i < NVEC; i++) ockami_buf_free(&vec[i]);
  return 0;
}

static void assert_bytes(const uint8_t *p, size_t len, const ockami_buf *want) {
  assert_int_equal(len, want->len);
  assert_memory_equal(p, want->data, len);
}

/* ---- test context: node, event log, recorders ----------------------------- */

/* ---- byte-level: create, index, pull, push, delivery, save ---------------- */

/* m's TCP frame, its return route replaced by the one hop ret, is want. */
static void assert_frame(const ockam_message *m, const char *ret, const ockami_buf *want) {
  ockam_message *copy;
  assert_int_equal(ockam_message_copy(m, &copy), OCKAM_OK);
  ockam_route_clear(ockam_message_return_mut(copy));
  assert_int_equal(ockam_route_append_str(ockam_message_return_mut(copy), ret), OCKAM_OK);
  ockami_buf frame = OCKAMI_BUF_INIT;
  assert_int_equal(ockami_tm_encode_frame(copy, &frame), OCKAM_OK);
  assert_bytes(frame.data, frame.len, want);
  ockam_message_free(copy);
  ockami_buf_free(&frame);
}

/* Find the consumer's and producer's stream_create among the first requests. */
static void creates(fake_hub *h, hub_req **cons, hub_req **prod) {
  *cons = *prod = NULL;
  for (size_t k = 0; k < 2; k++) {
    hub_req *r = nth_req(h, OCKAMI_SP_CREATE, k);
    assert_non_null(r);
    assert_string_equal(r->at, "stream");
    if (r->d.u.create.name.len == strlen(NAME_IN) &&
        !memcmp(r->d.u.create.name.p, NAME_IN, strlen(NAME_IN)))
      *cons = r;
    else
      *prod = r;
  }
  assert_non_null(*cons);
  assert_non_null(*prod);
}

static void test_long_poll_bytes_and_fallback(void **state) {
  (void)state;
  tctx *t = setup(true);
  fake_hub *h = &t->hub;
  ockam_stream_options o = manual_opts();
  ockam_stream *s = connect_client(t, &o, true);
  RUN_UNTIL(t, 2000, h->nreqs >= 2);
  hub_req *cc, *pc;
  creates(h, &cc, &pc);

  /* E2: the consumer's create, byte for byte; its frame with the vector's address. */
  size_t len;
  const uint8_t *p = req_payload(cc, &len);
  assert_bytes(p, len, &vec[E2]);
  assert_route1(ockam_message_onward(cc->m), "stream");
  assert_frame(cc->m, "0a1b2c3d4e5f60718293a4b5c6d7e8f9", &vec[E2_FRAME]);

  /* Replies go to private addresses: neither tx nor rx, one per worker. */
  char cctl[OCKAM_ADDRESS_MAX_LEN + 1], pctl[OCKAM_ADDRESS_MAX_LEN + 1];
  hop0(ockam_message_return(cc->m), cctl);
  hop0(ockam_message_return(pc->m), pctl);
  assert_int_equal(ockam_route_len(ockam_message_return(cc->m)), 1);
  assert_int_equal(strlen(cctl), 32);
  assert_string_not_equal(cctl, pctl);
  assert_string_not_equal(cctl, ockam_stream_tx_address(s));
  assert_string_not_equal(pctl, ockam_stream_tx_address(s));
  assert_string_equal(ockam_stream_rx_address(s), "app-rx");
  ockami_buf b = OCKAMI_BUF_INIT;
  assert_int_equal(ockami_sp_encode_create(&b, NAME_OUT, strlen(NAME_OUT)), OCKAM_OK);
  p = req_payload(pc, &len);
  assert_int_equal(len, b.len);
  assert_memory_equal(p, b.data, len);
  b.len = 0;

  /* Init → index Get (E4a) to stream_index from the same private address. */
  assert_int_equal(ockami_sp_encode_init(&b, NAME_IN, strlen(NAME_IN)), OCKAM_OK);
  hub_answer_buf(t, cc, SW_IN, &b);
  RUN_UNTIL(t, 2000, nth_req(h, OCKAMI_SP_INDEX_GET, 0));
  hub_req *get = nth_req(h, OCKAMI_SP_INDEX_GET, 0);
  assert_non_null(get);
  assert_string_equal(get->at, "stream_index");
  p = req_payload(get, &len);
  assert_bytes(p, len, &vec[E4A]);
  assert_route1(ockam_message_return(get->m), cctl);

  /* Index None (E4b) → first pull: long-poll form, index 0, limit 8. */
  hub_answer(t, get, "stream_index", vec[E4B].data, vec[E4B].len);
  RUN_UNTIL(t, 2000, nth_req(h, OCKAMI_SP_PULL, 0));
  hub_req *pull = nth_req(h, OCKAMI_SP_PULL, 0);
  assert_non_null(pull);
  assert_string_equal(pull->at, SW_IN);
  assert_route1(ockam_message_return(pull->m), cctl);
  assert_true(pull->d.u.pull.long_poll);
  assert_int_equal(pull->d.u.pull.request_id, 0);
  assert_int_equal(pull->d.u.pull.index, 0);
  assert_int_equal(pull->d.u.pull.limit, 8);
  assert_int_equal(pull->d.u.pull.wait_ms, OCKAM_STREAM_LONG_POLL_MS);
  /* E5 with one more uint: data length 6, wait 20000 = a0 9c 01. */
  static const uint8_t lp0[] = {0x0b, 's', 't',  'r',  'e',  'a',  'm',  '_',  'p', 'u',
                                'l',  'l', 0x06, 0x00, 0x00, 0x08, 0xa0, 0x9c, 0x01};
  p = req_payload(pull, &len);
  assert_int_equal(len, sizeof lp0);
  assert_memory_equal(p, lp0, len);
  ockam_stream_stats st;
  ockam_stream_get_stats(s, &st);
  assert_true(st.long_poll);

  /* A 2021 hub refuses it with `error` (E12): plain pulls from then on. */
  hub_answer(t, pull, SW_IN, vec[E12].data, vec[E12].len);
  RUN_UNTIL(t, 2000, nth_req(h, OCKAMI_SP_PULL, 1));
  pull = nth_req(h, OCKAMI_SP_PULL, 1);
  assert_non_null(pull);
  assert_false(pull->d.u.pull.long_poll);
  assert_int_equal(pull->d.u.pull.index, 0);
  assert_int_equal(ockami_sp_encode_pull(&b, 1, 0, 8), OCKAM_OK);
  p = req_payload(pull, &len);
  assert_int_equal(len, b.len);
  assert_memory_equal(p, b.data, len);
  b.len = 0;
  ockam_stream_get_stats(s, &st);
  assert_false(st.long_poll);
  assert_int_equal(st.errors, 1);
  assert_int_equal(st.reinits, 0);

  /* Empty reply → next plain pull only after the interval. */
  uint64_t t0 = ockam_node_now_ms(t->node);
  assert_int_equal(ockami_sp_encode_pull_response(&b, 1, NULL, 0), OCKAM_OK);
  hub_answer_buf(t, pull, SW_IN, &b);
  RUN_UNTIL(t, 2000, nth_req(h, OCKAMI_SP_PULL, 2));
  assert_non_null(nth_req(h, OCKAMI_SP_PULL, 2));
  assert_false(nth_req(h, OCKAMI_SP_PULL, 2)->d.u.pull.long_poll);
  assert_true(ockam_node_now_ms(t->node) - t0 >= OCKAM_STREAM_INTERVAL_MS - 5);

  ockami_buf_free(&b);
  ockam_stream_close(s);
  teardown(t);
}

static void test_push_deliver_save_bytes(void **state) {
  (void)state;
  tctx *t = setup(true);
  fake_hub *h = &t->hub;
  recorder *scl = recorder_start(t, "secure_channel_listener");
  recorder *rx = recorder_start(t, "app-rx");
  ockam_stream_options o = manual_opts();
  o.no_long_poll = true;
  ockam_stream *s = connect_client(t, &o, true);
  const char *tx = ockam_stream_tx_address(s);

  /* Sent before Init: queued, not pushed. */
  char route[128];
  snprintf(route, sizeof route, "%s;secure_channel_listener", tx);
  ockam_route *r = route_of(route);
  assert_int_equal(ockam_send(t->node, ADDR_1111, r, vec[E6A].data, vec[E6A].len), OCKAM_OK);
  ockam_route_free(r);
  /* A user payload that looks like a PushConfirm is data too. */
  snprintf(route, sizeof route, "%s;x", tx);
  r = route_of(route);
  assert_int_equal(ockam_send(t->node, "app", r, vec[E6E].data, vec[E6E].len), OCKAM_OK);
  ockam_route_free(r);
  RUN_UNTIL(t, 2000, h->nreqs >= 2);
  run_for(t, 20);
  assert_int_equal(count_reqs(h, NULL, OCKAMI_SP_PUSH), 0);
  ockam_stream_stats st;
  ockam_stream_get_stats(s, &st);
  assert_int_equal(st.pushed, 2);
  assert_int_equal(st.queued, 2);

  hub_req *cc, *pc;
  creates(h, &cc, &pc);
  char pctl[OCKAM_ADDRESS_MAX_LEN + 1];
  hop0(ockam_message_return(pc->m), pctl);
  ockami_buf b = OCKAMI_BUF_INIT;
  assert_int_equal(ockami_sp_encode_init(&b, NAME_OUT, strlen(NAME_OUT)), OCKAM_OK);
  hub_answer_buf(t, pc, SW_OUT, &b);
  RUN_UNTIL(t, 2000, count_reqs(h, SW_OUT, OCKAMI_SP_PUSH) >= 2);

  /* E6c: push{0, TM{[secure_channel_listener], [0#1111…], E6a}}: tx popped,
   * return route untouched; E6d: its frame with the vector's addresses. */
  hub_req *push = nth_req(h, OCKAMI_SP_PUSH, 0);
  size_t len;
  const uint8_t *p = req_payload(push, &len);
  assert_bytes(p, len, &vec[E6C]);
  assert_route1(ockam_message_onward(push->m), SW_OUT);
  assert_route1(ockam_message_return(push->m), pctl);
  assert_frame(push->m, "a0b1c2d3e4f5061728394a5b6c7d8e9f", &vec[E6D]);

  /* Second push: request id 1, the confirm-like payload stored as data. */
  push = nth_req(h, OCKAMI_SP_PUSH, 1);
  assert_int_equal(push->d.u.push.request_id, 1);
  ockam_message *inner;
  assert_int_equal(ockam_message_decode(push->d.u.push.data.p, push->d.u.push.data.len, &inner),
                   OCKAM_OK);
  assert_route1(ockam_message_onward(inner), "x");
  assert_route1(ockam_message_return(inner), "app");
  p = ockam_message_payload(inner, &len);
  assert_bytes(p, len, &vec[E6E]);
  ockam_message_free(inner);

  /* Confirms empty the outbox. */
  assert_int_equal(ockami_sp_encode_push_confirm(&b, 0, OCKAMI_SP_STATUS_OK, 1), OCKAM_OK);
  hub_answer_buf(t, nth_req(h, OCKAMI_SP_PUSH, 0), SW_OUT, &b);
  assert_int_equal(ockami_sp_encode_push_confirm(&b, 1, OCKAMI_SP_STATUS_OK, 2), OCKAM_OK);
  hub_answer_buf(t, nth_req(h, OCKAMI_SP_PUSH, 1), SW_OUT, &b);
  assert_int_equal(ockam_stream_flush(s, 2000), OCKAM_OK);
  ockam_stream_get_stats(s, &st);
  assert_int_equal(st.confirmed, 2);
  assert_int_equal(st.queued, 0);
  assert_int_equal(st.resent, 0);

  /* Consumer: Init, Index None, plain pull = E5 exactly. */
  assert_int_equal(ockami_sp_encode_init(&b, NAME_IN, strlen(NAME_IN)), OCKAM_OK);
  hub_answer_buf(t, cc, SW_IN, &b);
  RUN_UNTIL(t, 2000, nth_req(h, OCKAMI_SP_INDEX_GET, 0));
  hub_answer(t, nth_req(h, OCKAMI_SP_INDEX_GET, 0), "stream_index", vec[E4B].data, vec[E4B].len);
  assert_int_equal(ockam_stream_wait_ready(s, 2000), OCKAM_OK);
  RUN_UNTIL(t, 2000, nth_req(h, OCKAMI_SP_PULL, 0));
  hub_req *pull = nth_req(h, OCKAMI_SP_PULL, 0);
  assert_non_null(pull);
  p = req_payload(pull, &len);
  assert_bytes(p, len, &vec[E5]);

  /* E7 → delivered to secure_channel_listener with 0#tx prepended. */
  hub_answer(t, pull, SW_IN, vec[E7].data, vec[E7].len);
  RUN_UNTIL(t, 2000, nth_req(h, OCKAMI_SP_INDEX_SAVE, 0));
  assert_int_equal(scl->n, 1);
  const ockam_route *ret = ockam_message_return(scl->msgs[0]);
  assert_route1(ockam_message_onward(scl->msgs[0]), "secure_channel_listener");
  assert_int_equal(ockam_route_len(ret), 2);
  ockam_address a;
  assert_int_equal(ockam_route_get(ret, 0, &a), OCKAM_OK);
  assert_int_equal(a.type, 0);
  assert_int_equal(a.len, 32);
  assert_memory_equal(a.value, tx, 32);
  assert_int_equal(ockam_route_get(ret, 1, &a), OCKAM_OK);
  assert_memory_equal(a.value, ADDR_1111, 32);
  p = ockam_message_payload(scl->msgs[0], &len);
  assert_bytes(p, len, &vec[E6A]);

  /* Save{client-I, stream, 2} = E4d, after the delivery. */
  hub_req *save = nth_req(h, OCKAMI_SP_INDEX_SAVE, 0);
  assert_string_equal(save->at, "stream_index");
  p = req_payload(save, &len);
  assert_bytes(p, len, &vec[E4D]);
  long deliver = find_event(t, "deliver:secure_channel_listener");
  long saved = find_event(t, "hub:save:2");
  assert_true(deliver >= 0 && saved > deliver);

  /* Next pull from index 2, id 1; an empty inner onward route goes to rx. */
  RUN_UNTIL(t, 2000, nth_req(h, OCKAMI_SP_PULL, 1));
  pull = nth_req(h, OCKAMI_SP_PULL, 1);
  assert_non_null(pull);
  assert_int_equal(pull->d.u.pull.request_id, 1);
  assert_int_equal(pull->d.u.pull.index, 2);
  ockam_message *m;
  assert_int_equal(ockam_message_new(&m), OCKAM_OK);
  assert_int_equal(ockam_route_append_str(ockam_message_return_mut(m), "echoer"), OCKAM_OK);
  assert_int_equal(ockam_message_set_string(m, "Hello World!", 12), OCKAM_OK);
  ockami_buf tm = OCKAMI_BUF_INIT;
  assert_int_equal(ockami_tm_encode(m, &tm), OCKAM_OK);
  ockam_message_free(m);
  ockami_sp_stream_msg one = {2, tm.data, tm.len};
  assert_int_equal(ockami_sp_encode_pull_response(&b, 1, &one, 1), OCKAM_OK);
  hub_answer_buf(t, pull, SW_IN, &b);
  RUN_UNTIL(t, 2000, rx->n == 1 && nth_req(h, OCKAMI_SP_INDEX_SAVE, 1));
  assert_int_equal(rx->n, 1);
  assert_route1(ockam_message_onward(rx->msgs[0]), "app-rx");
  ret = ockam_message_return(rx->msgs[0]);
  assert_int_equal(ockam_route_len(ret), 2);
  assert_int_equal(ockam_route_get(ret, 0, &a), OCKAM_OK);
  assert_memory_equal(a.value, tx, 32);
  assert_payload_str(rx->msgs[0], "Hello World!");
  assert_int_equal(nth_req(h, OCKAMI_SP_INDEX_SAVE, 1)->d.u.index_req.index, 3);

  ockam_stream_get_stats(s, &st);
  assert_int_equal(st.delivered, 2);
  assert_int_equal(st.pulled, 2);
  assert_int_equal(st.index_saved, 2);
  assert_int_equal(st.next_index, 3);
  ockami_buf_free(&tm);
  ockami_buf_free(&b);
  ockam_stream_close(s);
  teardown(t);
  recorder_free(scl);
  recorder_free(rx);
}

/* Stale replies and indexes: nothing older than asked, nothing twice, and
 * nothing routed to the client's own private addresses. */
static void test_stale_indexes(void **state) {
  (void)state;
  tctx *t = setup(true);
  fake_hub *h = &t->hub;
  recorder *sink = recorder_start(t, "sink");
  ockam_stream_options o = manual_opts();
  o.no_long_poll = true;
  ockam_stream *s = connect_client(t, &o, true);
  RUN_UNTIL(t, 2000, h->nreqs >= 2);
  hub_req *cc, *pc;
  creates(h, &cc, &pc);
  char cctl[OCKAM_ADDRESS_MAX_LEN + 1];
  hop0(ockam_message_return(cc->m), cctl);
  ockami_buf b = OCKAMI_BUF_INIT;
  assert_int_equal(ockami_sp_encode_init(&b, NAME_IN, strlen(NAME_IN)), OCKAM_OK);
  hub_answer_buf(t, cc, SW_IN, &b);
  RUN_UNTIL(t, 2000, nth_req(h, OCKAMI_SP_INDEX_GET, 0));
  /* Saved index 5: reading starts there. */
  assert_int_equal(ockami_sp_encode_index(&b, "client-I", 8, NAME_IN, strlen(NAME_IN), true, 5),
                   OCKAM_OK);
  hub_answer_buf(t, nth_req(h, OCKAMI_SP_INDEX_GET, 0), "stream_index", &b);
  RUN_UNTIL(t, 2000, nth_req(h, OCKAMI_SP_PULL, 0));
  hub_req *pull = nth_req(h, OCKAMI_SP_PULL, 0);
  assert_int_equal(pull->d.u.pull.index, 5);

  /* TMs: onward [sink] with payload "m<i>", and one aimed at the consumer's
   * control address. */
  ockami_buf tms[8];
  memset(tms, 0, sizeof tms);
  for (int i = 0; i < 8; i++) {
    ockam_message *m;
    assert_int_equal(ockam_message_new(&m), OCKAM_OK);
    assert_int_equal(ockam_route_append_str(ockam_message_onward_mut(m), i == 7 ? cctl : "sink"),
                     OCKAM_OK);
    char text[8];
    snprintf(text, sizeof text, "m%d", i);
    assert_int_equal(ockam_message_set_string(m, text, strlen(text)), OCKAM_OK);
    assert_int_equal(ockami_tm_encode(m, &tms[i]), OCKAM_OK);
    ockam_message_free(m);
  }
#define SM(i) {(i), tms[(i) == 7 ? 7 : (i) % 7].data, tms[(i) == 7 ? 7 : (i) % 7].len}
  /* 3 older, 5, 5 again, 6, 4 older: delivers m5 and m6. */
  ockami_sp_stream_msg batch1[] = {SM(3), SM(5), SM(5), SM(6), SM(4)};
  assert_int_equal(ockami_sp_encode_pull_response(&b, pull->d.u.pull.request_id, batch1, 5),
                   OCKAM_OK);
  hub_answer_buf(t, pull, SW_IN, &b);
  RUN_UNTIL(t, 2000, nth_req(h, OCKAMI_SP_PULL, 1));
  assert_int_equal(sink->n, 2);
  assert_payload_str(sink->msgs[0], "m5");
  assert_payload_str(sink->msgs[1], "m6");
  hub_req *pull2 = nth_req(h, OCKAMI_SP_PULL, 1);
  assert_int_equal(pull2->d.u.pull.index, 7);
  assert_int_equal(nth_req(h, OCKAMI_SP_INDEX_SAVE, 0)->d.u.index_req.index, 7);

  /* A late reply to the first pull (old request id) is ignored. */
  ockami_sp_stream_msg late[] = {SM(8)};
  assert_int_equal(ockami_sp_encode_pull_response(&b, pull->d.u.pull.request_id, late, 1),
                   OCKAM_OK);
  hub_answer_buf(t, pull2, SW_IN, &b);
  run_for(t, 30);
  assert_int_equal(sink->n, 2);

  /* Index 7 aimed at the control address is skipped; a gap to 9 is fine. */
  ockami_sp_stream_msg batch2[] = {SM(7), SM(9)};
  assert_int_equal(ockami_sp_encode_pull_response(&b, pull2->d.u.pull.request_id, batch2, 2),
                   OCKAM_OK);
  hub_answer_buf(t, pull2, SW_IN, &b);
  RUN_UNTIL(t, 2000, nth_req(h, OCKAMI_SP_PULL, 2));
  assert_int_equal(sink->n, 3);
  assert_payload_str(sink->msgs[2], "m2"); /* tms[9 % 7] */
  assert_int_equal(nth_req(h, OCKAMI_SP_PULL, 2)->d.u.pull.index, 10);

  /* Index 2^64-1 (a hostile hub): dropped, reading does not wrap to 0. */
  hub_req *pull3 = nth_req(h, OCKAMI_SP_PULL, 2);
  ockami_sp_stream_msg batch3[] = {{UINT64_MAX, tms[0].data, tms[0].len}};
  assert_int_equal(ockami_sp_encode_pull_response(&b, pull3->d.u.pull.request_id, batch3, 1),
                   OCKAM_OK);
  hub_answer_buf(t, pull3, SW_IN, &b);
  RUN_UNTIL(t, 5000, nth_req(h, OCKAMI_SP_PULL, 3));
  assert_int_equal(sink->n, 3);
  assert_int_equal(nth_req(h, OCKAMI_SP_PULL, 3)->d.u.pull.index, 10);
#undef SM
  ockam_stream_stats st;
  ockam_stream_get_stats(s, &st);
  assert_int_equal(st.pulled, 8);
  assert_int_equal(st.skipped, 5);
  assert_int_equal(st.delivered, 3);
  for (int i = 0; i < 8; i++) ockami_buf_free(&tms[i]);
  ockami_buf_free(&b);
  ockam_stream_close(s);
  teardown(t);
  recorder_free(sink);
}

int main(void) {
  signal(SIGPIPE, SIG_IGN);
  if (!getenv("OCKAM_LOG")) ockam_log_set_level(OCKAM_LOG_ERROR);
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_long_poll_bytes_and_fallback),
      cmocka_unit_test(test_push_deliver_save_bytes),
      cmocka_unit_test(test_stale_indexes),
  };
  return cmocka_run_group_tests(tests, load_vectors, free_vectors);
}
