/* The hub's stream services end to end in one process: a hub node runs on
 * its own thread, a client node on the test thread, and they talk over real
 * loopback TCP with raw stream-protocol payloads (spec §7). This file: stream
 * creation, push and pull, malformed requests, local loops, the stream and
 * message caps, bad options. Long polls, the index, backpressure, store
 * faults and restarts: stream_service_store_test.c.
 *
 * Every test runs against the memory and the lmdb store, and against
 * JetStream when OCKAM_TEST_NATS_URL names one (tests/nats/with-nats).
 * Assertions are about content and order, never about elapsed time.
 */
#include <ftw.h>
#include <pthread.h>
#include <sodium.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "buf.h"
#include "ockam/hub.h"
#include "ockam/limits.h"
#include "ockam/log.h"
#include "ockam/node.h"
#include "ockam/tcp.h"
#include "stream_internal.h"
#include "stream_proto.h"
#include "stream_service_test_util.h"

/* ---- tests --------------------------------------------------------------------------- */
static void test_create(void **state) {
  fixture *fx = *state;
  start(fx);
  client *c = &fx->cl;
  char a1[33], a2[33], gen[64], ag[33];
  create_stream(c, "stream", sn("orders"), a1, NULL, 0);
  /* Same name again: the same worker answers. */
  create_stream(c, "stream", sn("orders"), a2, NULL, 0);
  assert_string_equal(a1, a2);
  /* Unnamed: "generated_" + 8 hex, and its own deterministic worker. */
  create_stream(c, "stream", NULL, ag, gen, sizeof gen);
  assert_int_equal(strlen(gen), 18);
  assert_memory_equal(gen, "generated_", 10);
  for (int i = 10; i < 18; i++) assert_non_null(strchr("0123456789abcdef", gen[i]));
  assert_string_not_equal(ag, a1);
  /* The worker address is the one the header documents. */
  char own[33];
  ockami_stream_worker_address(sn("orders"), strlen(sn("orders")), own);
  assert_string_equal(own, a1);
  /* A name with spaces and non-ASCII UTF-8. */
  create_stream(c, "stream", sn("caf\xc3\xa9 stream.*>"), NULL, NULL, 0);
  if (durable(fx)) {
    /* Backend aliases reach the same service and workers. */
    char a3[33], a4[33];
    char alias[48];
    snprintf(alias, sizeof alias, "stream_%s", fx->store);
    create_stream(c, alias, sn("orders"), a3, NULL, 0);
    create_stream(c, "stream_kafka", sn("orders"), a4, NULL, 0);
    assert_string_equal(a3, a1);
    assert_string_equal(a4, a1);
    snprintf(alias, sizeof alias, "stream_%s_index", fx->store);
    index_get(c, alias, "client", sn("orders"), false, 0);
  }
}

static void test_push_pull(void **state) {
  fixture *fx = *state;
  start(fx);
  client *c = &fx->cl;
  char w[33];
  create_stream(c, "stream", sn("pp"), w, NULL, 0);
  push_numbered(c, w, 0, 50);
  send_pull(c, w, 1, 0, 20, 0);
  expect_pulled(c, w, 1, 0, 20);
  send_pull(c, w, 2, 20, 100, 0);
  expect_pulled(c, w, 2, 20, 30);
  send_pull(c, w, 3, 50, 8, 0);
  expect_pulled(c, w, 3, 50, 0);
  send_pull(c, w, 4, 7, 0, 0);
  expect_pulled(c, w, 4, 7, 0);
  /* A second stream has its own indexes starting at 0. */
  char w2[33];
  create_stream(c, "stream", sn("pp2"), w2, NULL, 0);
  push_numbered(c, w2, 0, 3);
  push_numbered(c, w, 50, 2);
  send_pull(c, w2, 5, 0, 8, 0);
  expect_pulled(c, w2, 5, 0, 3);
  /* A huge limit is clamped, not refused. */
  send_pull(c, w, 6, 48, UINT64_MAX, 0);
  expect_pulled(c, w, 6, 48, 4);
  /* Pushing to a stream before creating it is impossible: the worker does
   * not exist; creating later starts at 0. */
  char w3[33];
  create_stream(c, "stream", sn("empty"), w3, NULL, 0);
  send_pull(c, w3, 7, 0, 8, 0);
  expect_pulled(c, w3, 7, 0, 0);
}

static void test_malformed(void **state) {
  fixture *fx = *state;
  start(fx);
  client *c = &fx->cl;
  char w[33];
  create_stream(c, "stream", sn("m"), w, NULL, 0);

  /* Garbage to the service: the 2021 error reply, byte for byte (spec §7.2). */
  static const uint8_t junk[] = {0xff, 0xff, 0xff};
  client_send_raw(c, "stream", junk, sizeof junk);
  reply r;
  expect_reply(c, &r, OCKAMI_SP_ERROR);
  assert_string_equal(r.from, "stream");
  static const uint8_t vec[] =
      "\x05"
      "error"
      "\x10\x0f"
      "Invalid request";
  assert_int_equal(r.len, sizeof vec - 1);
  assert_memory_equal(r.payload, vec, sizeof vec - 1);
  reply_free(&r);

  /* An error payload is never answered (no ping-pong). */
  client_send_raw(c, "stream", vec, sizeof vec - 1);
  client_send_raw(c, w, vec, sizeof vec - 1);
  expect_quiet(c);

  /* Requests of the wrong kind, trailing bytes, truncation, empty payload. */
  assert_int_equal(ockami_sp_encode_push(&c->b, 1, (const uint8_t *)"x", 1), 0);
  client_send(c, "stream");
  expect_error(c, "stream", "Invalid request");
  assert_int_equal(ockami_sp_encode_create(&c->b, sn("m"), strlen(sn("m"))), 0);
  client_send(c, w);
  expect_error(c, w, "Invalid request");
  assert_int_equal(ockami_sp_encode_create(&c->b, sn("m"), strlen(sn("m"))), 0);
  assert_int_equal(ockami_buf_append(&c->b, "\0", 1), 0);
  client_send(c, "stream");
  expect_error(c, "stream", "Invalid request");
  assert_int_equal(ockami_sp_encode_pull(&c->b, 1, 0, 8), 0);
  c->b.len--;
  client_send(c, w);
  expect_error(c, w, "Invalid request");
  client_send_raw(c, w, "", 0);
  expect_error(c, w, "Invalid request");
  /* Unknown and hub-only protocols. */
  static const uint8_t part[] =
      "\x19"
      "stream_create_partitioned"
      "\x02\x00\x01";
  client_send_raw(c, "stream", part, sizeof part - 1);
  expect_error(c, "stream", "Invalid request");
  /* An empty stream name is refused. */
  assert_int_equal(ockami_sp_encode_create(&c->b, "", 0), 0);
  client_send(c, "stream");
  expect_error(c, "stream", "Invalid request");
  /* Non-UTF-8 name. */
  static const uint8_t bad_name[] =
      "\x0d"
      "stream_create"
      "\x03\x01\x01\xff";
  client_send_raw(c, "stream", bad_name, sizeof bad_name - 1);
  expect_error(c, "stream", "Invalid request");

  /* The index service only logs what it cannot decode. */
  client_send_raw(c, "stream_index", junk, sizeof junk);
  assert_int_equal(ockami_sp_encode_pull(&c->b, 1, 0, 8), 0);
  client_send(c, "stream_index");
  expect_quiet(c);

  /* Everything still works. */
  push_numbered(c, w, 0, 2);
  send_pull(c, w, 1, 0, 8, 0);
  expect_pulled(c, w, 1, 0, 2);
  index_get(c, "stream_index", "c", sn("m"), false, 0);
  char w2[33];
  create_stream(c, "stream", sn("m"), w2, NULL, 0);
  assert_string_equal(w, w2);
}

/* A message sent on the hub node itself, as a local worker would. */
typedef struct local_send {
  hub_proc *hub;
  const char *from, *to;
  ockami_buf payload;
  atomic_bool done;
} local_send;

static void local_send_on_loop(void *arg) {
  local_send *ls = arg;
  ockam_route *r;
  if (ockam_route_new(&r) == 0) {
    if (ockam_route_append(r, OCKAM_ADDRESS_LOCAL, ls->to, strlen(ls->to)) == 0 &&
        ockam_send(ls->hub->node, ls->from, r, ls->payload.data, ls->payload.len) != 0)
      abort();
    ockam_route_free(r);
  }
  atomic_store(&ls->done, true);
}

static void hub_local_send(hub_proc *hp, const char *from, const char *to, ockami_buf *payload) {
  local_send ls = {hp, from, to, *payload, false};
  *payload = (ockami_buf)OCKAMI_BUF_INIT;
  assert_int_equal(ockam_node_post(hp->node, local_send_on_loop, &ls), 0);
  while (!atomic_load(&ls.done)) usleep(1000);
  ockami_buf_free(&ls.payload);
}

/* Replies whose return route leads back into the hub's own services are not
 * sent: a PushConfirm{ERROR} decodes as a push, a PullResponse as a pull, so
 * a request "from" a stream worker to itself would loop forever. */
static void test_no_local_loops(void **state) {
  fixture *fx = *state;
  start(fx);
  client *c = &fx->cl;
  char w[33];
  create_stream(c, "stream", sn("loop"), w, NULL, 0);
  ockami_buf b = OCKAMI_BUF_INIT;
  assert_int_equal(ockami_sp_encode_push(&b, 1, (const uint8_t *)"\x05", 1), 0);
  hub_local_send(&fx->hub, w, w, &b);
  assert_int_equal(ockami_sp_encode_pull_wait(&b, 1, 1, 1, 0), 0);
  hub_local_send(&fx->hub, w, w, &b);
  assert_int_equal(ockami_sp_encode_push(&b, 1, (const uint8_t *)"x", 1), 0);
  hub_local_send(&fx->hub, "echo_service", w, &b);
  assert_int_equal(ockami_buf_append(&b, "\xff", 1), 0);
  hub_local_send(&fx->hub, "stream", "stream", &b);
  assert_int_equal(ockami_sp_encode_create(&b, "x", 1), 0);
  hub_local_send(&fx->hub, "stream_index", "stream", &b);
  /* Nothing was stored, and the hub serves normally. */
  send_pull(c, w, 1, 0, 8, 0);
  expect_pulled(c, w, 1, 0, 0);
  push_numbered(c, w, 0, 1);
}

static void test_max_streams(void **state) {
  fixture *fx = *state;
  fx->opts.max_streams = 2;
  start(fx);
  client *c = &fx->cl;
  char a[33];
  create_stream(c, "stream", sn("one"), a, NULL, 0);
  create_stream(c, "stream", sn("two"), NULL, NULL, 0);
  assert_int_equal(ockami_sp_encode_create(&c->b, sn("three"), strlen(sn("three"))), 0);
  client_send(c, "stream");
  expect_error(c, "stream", "Stream limit reached");
  create_stream(c, "stream", sn("one"), NULL, NULL, 0);
}

static void test_max_message(void **state) {
  fixture *fx = *state;
  start(fx);
  client *c = &fx->cl;
  char a[33];
  create_stream(c, "stream", sn("big"), a, NULL, 0);
  /* The largest message the hub stores by default, and one byte more. */
  size_t max = OCKAM_STREAM_STORED_MAX;
  uint8_t *big = malloc(max + 1);
  for (size_t i = 0; i <= max; i++) big[i] = (uint8_t)(i * 7);
  send_push(c, a, 1, big, max + 1);
  expect_confirm(c, a, 1, OCKAMI_SP_STATUS_ERROR, 0);
  send_push(c, a, 2, big, max);
  expect_confirm(c, a, 2, OCKAMI_SP_STATUS_OK, 0);
  send_push(c, a, 3, big + 1, max);
  expect_confirm(c, a, 3, OCKAMI_SP_STATUS_OK, 1);
  /* Each comes back whole, one per reply frame. */
  for (uint64_t i = 0; i < 2; i++) {
    send_pull(c, a, 10 + i, i, 8, 0);
    reply r;
    expect_reply(c, &r, OCKAMI_SP_PULL_RESPONSE);
    assert_int_equal(r.r.u.pull_response.messages.count, 1);
    ockami_sp_stream_msg sm;
    ockami_sp_msg_iter it;
    ockami_sp_msg_iter_init(&it, &r.r.u.pull_response.messages);
    assert_true(ockami_sp_msg_iter_next(&it, &sm));
    assert_int_equal(sm.index, i);
    assert_int_equal(sm.len, max);
    assert_memory_equal(sm.data, big + i, max);
    reply_free(&r);
  }
  /* Two of them do not fit one frame: a pull returns one at a time. */
  send_pull(c, a, 12, 0, 8, 0);
  reply r;
  expect_reply(c, &r, OCKAMI_SP_PULL_RESPONSE);
  assert_int_equal(r.r.u.pull_response.messages.count, 1);
  reply_free(&r);
  /* Routes of several hundred bytes still carry the largest message. */
  assert_int_equal(ockami_sp_encode_pull(&c->b, 15, 1, 8), 0);
  client_send_long_return(c, a, 4, 200);
  expect_reply(c, &r, OCKAMI_SP_PULL_RESPONSE);
  assert_int_equal(r.r.u.pull_response.messages.count, 1);
  reply_free(&r);
  /* A reply route longer than the margin cannot carry the largest message:
   * `error`, not an empty list the client would retry forever. */
  push_numbered(c, a, 2, 1);
  assert_int_equal(ockami_sp_encode_pull(&c->b, 13, 1, 8), 0);
  client_send_long_return(c, a, 8, 200);
  expect_error(c, a, "Message too large for the reply route");
  /* The same route still gets small messages. */
  assert_int_equal(ockami_sp_encode_pull(&c->b, 14, 2, 8), 0);
  client_send_long_return(c, a, 8, 200);
  expect_pulled(c, a, 14, 2, 1);
  free(big);
}

static void test_bad_options(void **state) {
  fixture *fx = *state;
  fx->opts.store = "no-such-store";
  ockam_log_level level = ockam_log_get_level();
  ockam_log_set_level(OCKAM_LOG_OFF);
  assert_int_equal(hub_start(&fx->hub, &fx->opts), OCKAM_ENOTFOUND);
  ockam_log_set_level(level);
  /* A message size above what a reply frame can carry is clamped. */
  fx->opts.store = fx->store;
  fx->opts.max_message = OCKAM_FRAME_MAX;
  start(fx);
  client *c = &fx->cl;
  char a[33];
  create_stream(c, "stream", sn("clamped"), a, NULL, 0);
  uint8_t *big = calloc(1, OCKAM_STREAM_STORED_MAX + 1);
  send_push(c, a, 1, big, OCKAM_STREAM_STORED_MAX + 1);
  expect_confirm(c, a, 1, OCKAMI_SP_STATUS_ERROR, 0);
  free(big);
}

/* Sends a pull until it is answered: the client's connection to a restarted
 * hub comes back by itself, but frames sent while it is down may be lost. */

#define STORE_TESTS(setup)                                                \
  cmocka_unit_test_setup_teardown(test_create, setup, teardown),          \
      cmocka_unit_test_setup_teardown(test_push_pull, setup, teardown),   \
      cmocka_unit_test_setup_teardown(test_malformed, setup, teardown),   \
      cmocka_unit_test_setup_teardown(test_max_message, setup, teardown), \
      cmocka_unit_test_setup_teardown(test_no_local_loops, setup, teardown)

int main(void) {
  if (test_init()) return 1;
  const struct CMUnitTest memory[] = {
      STORE_TESTS(setup_memory),
      cmocka_unit_test_setup_teardown(test_max_streams, setup_memory, teardown),
      cmocka_unit_test_setup_teardown(test_bad_options, setup_memory, teardown),
  };
  const struct CMUnitTest lmdb[] = {
      STORE_TESTS(setup_lmdb),
      cmocka_unit_test_setup_teardown(test_max_streams, setup_lmdb, teardown),
  };
  /* The stream cap counts every stream on a shared server, so it is not
   * tested there. */
  const struct CMUnitTest jetstream[] = {
      STORE_TESTS(setup_jetstream),
  };
  return RUN_STORE_GROUPS("stream service", memory, lmdb, jetstream);
}
