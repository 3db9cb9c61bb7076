/* Idempotent, ordered producers (docs/protocol-extensions.md "Streams:
 * idempotent producers") against the real hub:
 *   - a producer with 256 pushes in flight through a proxy that cuts every
 *     connection every 0.5-2 s stores every message exactly once and in
 *     order (the LMDB store is read back after the hub stopped);
 *   - a 2021 client (plain frames written here byte by byte) gets the 2021
 *     replies from our hub, byte for byte, and no deduplication;
 *   - our client against a hub with the extension off (which refuses the
 *     extended form like a 2021 hub) falls back to plain pushes after one
 *     refused push, and everything is stored once, in order. */
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

#include "buf.h"
#include "ockam/ockam.h"
#include "proxy.h"
#include "storage.h"
#include "stream_proto.h"
#include "testutil.h"

#define IN_FLIGHT 256
#define MESSAGES 4000
#define MESSAGES_CUTS 12000
#define BATCH 200

typedef struct cutter {
  tu_proxy *proxy;
  ockam_node *node;
  ockam_timer *timer;
  unsigned cuts;
} cutter;

static void cut_cb(void *arg) {
  cutter *c = arg;
  c->timer = NULL;
  tu_proxy_cut_all(c->proxy);
  c->cuts++;
  if (ockam_timer_start(c->node, 500 + (uint64_t)(rand() % 1500), 0, cut_cb, c, &c->timer))
    c->timer = NULL;
}

static int payload_of(int i, uint8_t out[16]) {
  char text[16];
  int n = snprintf(text, sizeof text, "msg-%06d", i);
  out[0] = (uint8_t)n; /* a BARE string, like ockam_message_set_string */
  memcpy(out + 1, text, (size_t)n);
  return n + 1;
}

/* Reads a stream of a stopped hub's LMDB store and checks it holds exactly
 * the payloads 0..n-1 in order, each once (a record is a BARE
 * TransportMessage whose last field is the payload). */
static void check_stored(const char *data_dir, const char *stream, int n) {
  ockami_store_options so = {.dir = data_dir};
  void *be = NULL;
  assert_int_equal(ockami_store_lmdb.open(&so, &be), 0);
  uint64_t first = 0, next = 0;
  assert_int_equal(ockami_store_lmdb.bounds(be, stream, strlen(stream), &first, &next), 0);
  printf("# %s: %llu records stored for %d messages\n", stream, (unsigned long long)next, n);
  assert_int_equal(first, 0);
  assert_int_equal(next, (uint64_t)n);
  for (uint64_t from = 0; from < next;) {
    ockami_records r = {0};
    assert_int_equal(ockami_store_lmdb.read(be, stream, strlen(stream), from, 1000, 0, &r), 0);
    assert_true(r.count > 0);
    for (size_t k = 0; k < r.count; k++) {
      uint8_t want[16];
      int len = payload_of((int)(from + k), want);
      const ockami_record *rec = &r.items[k];
      assert_int_equal(rec->index, from + k);
      if (rec->len < (size_t)len || memcmp(rec->data + rec->len - len, want, (size_t)len) != 0)
        fail_msg("record %llu does not end with payload %llu", (unsigned long long)rec->index,
                 (unsigned long long)(from + k));
    }
    from += r.count;
    ockami_records_free(&r);
  }
  ockami_store_lmdb.close(be);
}

/* Sends `messages` messages to [tx, "sink"] in batches while the loop runs,
 * then waits until every one is confirmed. */
static void produce(ockam_node *node, ockam_stream *s, int messages) {
  ockam_route *r;
  assert_int_equal(ockam_route_new(&r), 0);
  assert_int_equal(ockam_route_append_str(r, ockam_stream_tx_address(s)), 0);
  assert_int_equal(ockam_route_append_str(r, "sink"), 0);
  for (int i = 0; i < messages; i++) {
    uint8_t p[16];
    int len = payload_of(i, p);
    assert_int_equal(ockam_send(node, "app", r, p, (size_t)len), 0);
    if (i % BATCH == BATCH - 1) assert_int_equal(ockam_node_run_until(node, 5, NULL, NULL), 0);
  }
  ockam_route_free(r);
  int rc = ockam_stream_flush(s, 180000);
  if (rc) fprintf(stderr, "flush: %s\n", ockam_errname(rc));
  assert_int_equal(rc, 0);
}

static ockam_stream *connect_producer(ockam_node *node, const char *via, const char *out,
                                      uint32_t in_flight, uint32_t retry_ms) {
  char hop[96];
  snprintf(hop, sizeof hop, "1#%s", via);
  ockam_route *r;
  assert_int_equal(ockam_route_parse(hop, &r), 0);
  ockam_stream_options o = {.max_in_flight = in_flight, .retry_ms = retry_ms};
  ockam_stream *s;
  assert_int_equal(ockam_stream_connect(node, r, out, "idem-unused-in", &o, &s), 0);
  ockam_route_free(r);
  assert_int_equal(ockam_stream_wait_ready(s, 30000), 0);
  return s;
}

static void test_in_flight_through_cuts(void **state) {
  (void)state;
  char *dir = tu_tempdir("idem-cuts");
  char data[512], bound[64], via[64];
  snprintf(data, sizeof data, "%s/data", dir);
  tu_proc hub;
  assert_int_equal(tu_start_hub(&hub, 0, "lmdb", data, NULL, bound, sizeof bound), 0);
  /* Slow writes keep the window full, so that cuts hit pushes in flight. */
  tu_proxy_opts po = {.seed = 5, .split_max = 4096, .delay_us_max = 3000};
  tu_proxy *px = tu_proxy_start(bound, &po, via, sizeof via);
  assert_non_null(px);

  ockam_node *node;
  ockam_tcp *tcp;
  assert_int_equal(ockam_node_create(&node), 0);
  assert_int_equal(ockam_tcp_create(node, NULL, &tcp), 0);
  assert_int_equal(ockam_tcp_connect(tcp, via, 10000), 0);
  ockam_stream *s = connect_producer(node, via, "idem-cuts", IN_FLIGHT, 0);

  cutter c = {px, node, NULL, 0};
  srand(3);
  assert_int_equal(ockam_timer_start(node, 300, 0, cut_cb, &c, &c.timer), 0);
  uint64_t t0 = tu_now_ms();
  produce(node, s, MESSAGES_CUTS);
  if (c.timer) ockam_timer_stop(c.timer);
  ockam_stream_stats st;
  ockam_stream_get_stats(s, &st);
  printf(
      "# %d messages, %u in flight, in %llu ms through %u cuts: %llu resent, %llu RESEND "
      "answers, %llu timeouts\n",
      MESSAGES_CUTS, IN_FLIGHT, (unsigned long long)(tu_now_ms() - t0), c.cuts,
      (unsigned long long)st.resent, (unsigned long long)st.resend_asked,
      (unsigned long long)st.timeouts);
  assert_true(st.idempotent);
  assert_int_equal(st.confirmed, MESSAGES_CUTS);
  assert_true(c.cuts >= 2);
  assert_true(st.resent > 0); /* the cuts did hit pushes in flight */
  ockam_stream_close(s);
  ockam_tcp_close(tcp);
  ockam_node_destroy(node);
  tu_proxy_stop(px);
  assert_int_equal(tu_term(&hub), 0);
  check_stored(data, "idem-cuts", MESSAGES_CUTS);
  tu_rmrf(dir);
  free(dir);
}

/* ---- a 2021 client, frame by frame ------------------------------------------ */

static void send_frame(int fd, const char *onward, const ockami_buf *payload) {
  ockam_message *m;
  assert_int_equal(ockam_message_new(&m), 0);
  assert_int_equal(ockam_route_append_str(ockam_message_onward_mut(m), onward), 0);
  assert_int_equal(ockam_route_append_str(ockam_message_return_mut(m), "app"), 0);
  assert_int_equal(ockam_message_set_payload(m, payload->data, payload->len), 0);
  uint8_t frame[4096];
  size_t n;
  assert_int_equal(ockam_message_encode(m, frame + 2, sizeof frame - 2, &n), 0);
  frame[0] = (uint8_t)(n >> 8);
  frame[1] = (uint8_t)n;
  assert_int_equal(tu_send_all(fd, frame, n + 2), 0);
  ockam_message_free(m);
}

/* Receives one reply; copies its payload and the first hop of its return
 * route (the stream worker). */
static size_t recv_reply(int fd, uint8_t *payload, size_t cap, char *from, size_t from_cap) {
  uint8_t frame[4096];
  int n = tu_recv_frame(fd, frame, sizeof frame, 10000);
  assert_true(n > 0);
  ockam_message *m;
  assert_int_equal(ockam_message_decode(frame, (size_t)n, &m), 0);
  size_t len;
  const uint8_t *p = ockam_message_payload(m, &len);
  assert_true(len <= cap);
  memcpy(payload, p, len);
  if (from) assert_true(ockam_route_format(ockam_message_return(m), from, from_cap) > 0);
  ockam_message_free(m);
  return len;
}

static void test_2021_client_on_our_hub(void **state) {
  (void)state;
  tu_proc hub;
  char bound[64];
  assert_int_equal(tu_start_hub(&hub, 0, "memory", NULL, NULL, bound, sizeof bound), 0);
  int fd = tu_connect(bound, 5000);
  assert_true(fd >= 0);
  ockami_buf b = OCKAMI_BUF_INIT, want = OCKAMI_BUF_INIT;
  assert_int_equal(ockami_sp_encode_create(&b, "idem-2021", 9), 0);
  send_frame(fd, "0#stream", &b);
  uint8_t reply[4096];
  char from[256];
  size_t n = recv_reply(fd, reply, sizeof reply, from, sizeof from);
  assert_int_equal(ockami_sp_encode_init(&want, "idem-2021", 9), 0);
  assert_int_equal(n, want.len);
  assert_memory_equal(reply, want.data, n);
  /* "[0#<worker>]" -> "0#<worker>" */
  char worker[128];
  snprintf(worker, sizeof worker, "%.*s", (int)strlen(from) - 2, from + 1);
  /* Ten pushes and a repeat of one: every reply is the plain 2021
   * PushConfirm, and the repeat is stored again (no deduplication without
   * the extension). */
  for (uint64_t i = 0; i <= 10; i++) {
    uint64_t rid = i == 10 ? 3 : i;
    uint8_t p[16];
    int len = payload_of((int)rid, p);
    b.len = 0;
    assert_int_equal(ockami_sp_encode_push(&b, rid, p, (size_t)len), 0);
    send_frame(fd, worker, &b);
    n = recv_reply(fd, reply, sizeof reply, NULL, 0);
    want.len = 0;
    assert_int_equal(ockami_sp_encode_push_confirm(&want, rid, OCKAMI_SP_STATUS_OK, i), 0);
    assert_int_equal(n, want.len);
    assert_memory_equal(reply, want.data, n);
  }
  ockami_buf_free(&b);
  ockami_buf_free(&want);
  close(fd);
  assert_int_equal(tu_term(&hub), 0);
}

static void test_our_client_on_hub_without_extension(void **state) {
  (void)state;
  char *dir = tu_tempdir("idem-off");
  char data[512], bound[64], via[64];
  snprintf(data, sizeof data, "%s/data", dir);
  tu_proc hub;
  const char *extra[] = {"--no-idempotent-producers", NULL};
  assert_int_equal(tu_start_hub(&hub, 0, "lmdb", data, extra, bound, sizeof bound), 0);
  tu_proxy_opts po = {.record = true};
  tu_proxy *px = tu_proxy_start(bound, &po, via, sizeof via);
  assert_non_null(px);
  ockam_node *node;
  ockam_tcp *tcp;
  assert_int_equal(ockam_node_create(&node), 0);
  assert_int_equal(ockam_tcp_create(node, NULL, &tcp), 0);
  assert_int_equal(ockam_tcp_connect(tcp, via, 10000), 0);
  /* Without the extension a push confirmed late is stored twice: on a busy
   * host a commit can take longer than the default retry, so wait long. */
  ockam_stream *s = connect_producer(node, via, "idem-off", IN_FLIGHT, 30000);
  produce(node, s, MESSAGES);
  ockam_stream_stats st;
  ockam_stream_get_stats(s, &st);
  assert_false(st.idempotent);
  assert_int_equal(st.confirmed, MESSAGES);
  /* The one refused attempt: the hub's 2021 answer to the extended form. */
  static const uint8_t invalid[] =
      "\x05"
      "error"
      "\x10\x0f"
      "Invalid request";
  assert_true(tu_proxy_saw(px, invalid, sizeof invalid - 1));
  ockam_stream_close(s);
  ockam_tcp_close(tcp);
  ockam_node_destroy(node);
  tu_proxy_stop(px);
  assert_int_equal(tu_term(&hub), 0);
  check_stored(data, "idem-off", MESSAGES);
  tu_rmrf(dir);
  free(dir);
}

int main(void) {
  signal(SIGPIPE, SIG_IGN);
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_in_flight_through_cuts),
      cmocka_unit_test(test_2021_client_on_our_hub),
      cmocka_unit_test(test_our_client_on_hub_without_extension),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
