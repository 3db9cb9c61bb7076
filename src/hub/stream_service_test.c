/* The hub's stream services end to end in one process: a hub node runs on
 * its own thread, a client node on the test thread, and they talk over real
 * loopback TCP with raw stream-protocol payloads (spec §7).
 *
 * Every test runs against the memory and the lmdb store; the restart tests
 * need a durable store (lmdb); the shared-store test runs two hubs on one
 * JetStream server when OCKAM_TEST_NATS_URL names one (tests/nats/with-nats).
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

/* Generous bound for anything that must arrive; only reached on failure. */
#define ARRIVE_MS 15000
/* Used where a reply must NOT arrive (a wrong answer would come at once). */
#define QUIET_MS 300

/* Stream names get a per-test prefix on a shared (JetStream) server, so runs
 * against the same server do not see each other's streams. */
static char g_prefix[24];

static const char *sn(const char *base) {
  static char bufs[16][OCKAM_NAME_MAX + 1];
  static unsigned next;
  char *b = bufs[next++ % 16];
  snprintf(b, sizeof bufs[0], "%s%s", g_prefix, base);
  return b;
}

/* ---- hub on its own thread ----------------------------------------------------- */

typedef struct hub_proc {
  ockam_node *node;
  ockam_hub *hub;
  pthread_t thread;
  char bound[64];
} hub_proc;

static void *hub_main(void *arg) {
  hub_proc *hp = arg;
  if (ockam_node_run(hp->node) != 0) abort();
  return NULL;
}

static int hub_start(hub_proc *hp, const ockam_hub_options *o) {
  memset(hp, 0, sizeof *hp);
  int rc = ockam_node_create(&hp->node);
  if (rc) return rc;
  rc = ockam_hub_start(hp->node, o, hp->bound, sizeof hp->bound, &hp->hub);
  if (rc) {
    ockam_node_destroy(hp->node);
    hp->node = NULL;
    return rc;
  }
  if (pthread_create(&hp->thread, NULL, hub_main, hp) != 0) abort();
  return 0;
}

static void hub_stop_on_loop(void *arg) {
  hub_proc *hp = arg;
  ockam_hub_stop(hp->hub);
  ockam_node_stop(hp->node);
}

static void hub_stop(hub_proc *hp) {
  if (!hp->node) return;
  assert_int_equal(ockam_node_post(hp->node, hub_stop_on_loop, hp), 0);
  pthread_join(hp->thread, NULL);
  ockam_node_destroy(hp->node);
  hp->node = NULL;
}

/* ---- client on the test thread ----------------------------------------------------- */

typedef struct client {
  ockam_node *node;
  ockam_tcp *tcp;
  ockam_mailbox *mb;
  char hub[64];
  ockami_buf b;
} client;

static void client_open(client *c, const char *hub) {
  memset(c, 0, sizeof *c);
  assert_int_equal(ockam_node_create(&c->node), 0);
  assert_int_equal(ockam_tcp_create(c->node, NULL, &c->tcp), 0);
  assert_int_equal(ockam_tcp_connect(c->tcp, hub, 0), 0);
  assert_int_equal(ockam_mailbox_create(c->node, "app", &c->mb), 0);
  snprintf(c->hub, sizeof c->hub, "%s", hub);
}

static void client_close(client *c) {
  ockam_mailbox_destroy(c->mb);
  ockam_tcp_close(c->tcp);
  ockam_node_destroy(c->node);
  ockami_buf_free(&c->b);
}

/* Sends c->b (then emptied) to [1#hub, 0#addr] from 0#app. */
static void client_send(client *c, const char *addr) {
  ockam_route *r;
  assert_int_equal(ockam_route_new(&r), 0);
  assert_int_equal(ockam_route_append(r, OCKAM_ADDRESS_TCP, c->hub, strlen(c->hub)), 0);
  assert_int_equal(ockam_route_append(r, OCKAM_ADDRESS_LOCAL, addr, strlen(addr)), 0);
  assert_int_equal(ockam_send(c->node, "app", r, c->b.data, c->b.len), 0);
  ockam_route_free(r);
  c->b.len = 0;
}

/* Like client_send, with `extra` padding hops of `hop_len` bytes after 0#app
 * in the return route (the reply still reaches 0#app, its first hop). */
static void client_send_long_return(client *c, const char *addr, size_t extra, size_t hop_len) {
  ockam_message *m;
  assert_int_equal(ockam_message_new(&m), 0);
  ockam_route *on = ockam_message_onward_mut(m), *ret = ockam_message_return_mut(m);
  assert_int_equal(ockam_route_append(on, OCKAM_ADDRESS_TCP, c->hub, strlen(c->hub)), 0);
  assert_int_equal(ockam_route_append(on, OCKAM_ADDRESS_LOCAL, addr, strlen(addr)), 0);
  assert_int_equal(ockam_route_append(ret, OCKAM_ADDRESS_LOCAL, "app", 3), 0);
  char hop[OCKAM_ADDRESS_MAX_LEN];
  memset(hop, 'p', sizeof hop);
  for (size_t i = 0; i < extra; i++)
    assert_int_equal(ockam_route_append(ret, OCKAM_ADDRESS_LOCAL, hop, hop_len), 0);
  assert_int_equal(ockam_message_set_payload(m, c->b.data, c->b.len), 0);
  assert_int_equal(ockam_send_message(c->node, m), 0);
  c->b.len = 0;
}

static void client_send_raw(client *c, const char *addr, const void *p, size_t len) {
  c->b.len = 0;
  assert_int_equal(ockami_buf_append(&c->b, p, len), 0);
  client_send(c, addr);
}

typedef struct reply {
  ockam_message *m;
  ockami_sp_msg r;
  char from[OCKAM_ADDRESS_MAX_LEN + 1]; /* the hub-side sender */
  const uint8_t *payload;
  size_t len;
} reply;

/* Next reply within timeout_ms: 0, or OCKAM_ETIMEDOUT. */
static int client_recv(client *c, int64_t timeout_ms, reply *out) {
  memset(out, 0, sizeof *out);
  int rc = ockam_mailbox_receive(c->mb, timeout_ms, &out->m);
  if (rc) return rc;
  out->payload = ockam_message_payload(out->m, &out->len);
  assert_int_equal(ockami_sp_decode_response(out->payload, out->len, &out->r), 0);
  /* Return route at the client: [1#hub, 0#sender]. */
  const ockam_route *ret = ockam_message_return(out->m);
  assert_int_equal(ockam_route_len(ret), 2);
  ockam_address a;
  assert_int_equal(ockam_route_get(ret, 0, &a), 0);
  assert_int_equal(a.type, OCKAM_ADDRESS_TCP);
  assert_int_equal(ockam_route_get(ret, 1, &a), 0);
  assert_int_equal(a.type, OCKAM_ADDRESS_LOCAL);
  memcpy(out->from, a.value, a.len);
  out->from[a.len] = '\0';
  return 0;
}

static void reply_free(reply *r) {
  ockam_message_free(r->m);
}

static void expect_reply(client *c, reply *out, ockami_sp_kind kind) {
  assert_int_equal(client_recv(c, ARRIVE_MS, out), 0);
  assert_int_equal(out->r.kind, kind);
}

static void expect_quiet(client *c) {
  reply r;
  int rc = client_recv(c, QUIET_MS, &r);
  if (rc == 0) {
    print_error("unexpected reply of kind %d from %s\n", r.r.kind, r.from);
    reply_free(&r);
  }
  assert_int_equal(rc, OCKAM_ETIMEDOUT);
}

/* ---- protocol helpers ----------------------------------------------------------------- */

static void expected_address(const char *name, size_t len, char out[33]) {
  /* Independent of the hub's code: SHA-256("ockam.stream" ‖ 0 ‖ name). */
  uint8_t d[crypto_hash_sha256_BYTES];
  uint8_t *in = malloc(13 + len);
  memcpy(in, "ockam.stream", 13);
  memcpy(in + 13, name, len);
  crypto_hash_sha256(d, in, 13 + len);
  free(in);
  for (int i = 0; i < 16; i++) sprintf(out + 2 * i, "%02x", d[i]);
}

/* Creates `name` (NULL: unnamed) via `service`; returns the Init's sender. */
static void create_stream(client *c, const char *service, const char *name, char addr[33],
                          char *name_out, size_t name_cap) {
  assert_int_equal(ockami_sp_encode_create(&c->b, name, name ? strlen(name) : 0), 0);
  client_send(c, service);
  reply r;
  expect_reply(c, &r, OCKAMI_SP_INIT);
  if (name) {
    assert_int_equal(r.r.u.init.name.len, strlen(name));
    assert_memory_equal(r.r.u.init.name.p, name, strlen(name));
  }
  char want[33];
  expected_address(r.r.u.init.name.p, r.r.u.init.name.len, want);
  assert_string_equal(r.from, want);
  if (addr) memcpy(addr, r.from, 33);
  if (name_out) {
    assert_true(r.r.u.init.name.len < name_cap);
    memcpy(name_out, r.r.u.init.name.p, r.r.u.init.name.len);
    name_out[r.r.u.init.name.len] = '\0';
  }
  reply_free(&r);
}

static void send_push(client *c, const char *worker, uint64_t rid, const void *data, size_t len) {
  assert_int_equal(ockami_sp_encode_push(&c->b, rid, data, len), 0);
  client_send(c, worker);
}

static void expect_confirm(client *c, const char *worker, uint64_t rid, ockami_sp_status status,
                           uint64_t index) {
  reply r;
  expect_reply(c, &r, OCKAMI_SP_PUSH_CONFIRM);
  assert_string_equal(r.from, worker);
  assert_int_equal(r.r.u.push_confirm.request_id, rid);
  assert_int_equal(r.r.u.push_confirm.status, status);
  if (status == OCKAMI_SP_STATUS_OK) assert_int_equal(r.r.u.push_confirm.index, index);
  reply_free(&r);
}

static void send_pull(client *c, const char *worker, uint64_t rid, uint64_t index, uint64_t limit,
                      uint64_t wait_ms) {
  if (wait_ms)
    assert_int_equal(ockami_sp_encode_pull_wait(&c->b, rid, index, limit, wait_ms), 0);
  else
    assert_int_equal(ockami_sp_encode_pull(&c->b, rid, index, limit), 0);
  client_send(c, worker);
}

/* Expects a PullResponse with n messages first..first+n-1 whose data is
 * "m<index>". */
static void expect_pulled(client *c, const char *worker, uint64_t rid, uint64_t first, size_t n) {
  reply r;
  expect_reply(c, &r, OCKAMI_SP_PULL_RESPONSE);
  assert_string_equal(r.from, worker);
  assert_int_equal(r.r.u.pull_response.request_id, rid);
  assert_int_equal(r.r.u.pull_response.messages.count, n);
  ockami_sp_msg_iter it;
  ockami_sp_msg_iter_init(&it, &r.r.u.pull_response.messages);
  ockami_sp_stream_msg sm;
  for (size_t i = 0; i < n; i++) {
    assert_true(ockami_sp_msg_iter_next(&it, &sm));
    assert_int_equal(sm.index, first + i);
    char want[32];
    int wl = snprintf(want, sizeof want, "m%llu", (unsigned long long)(first + i));
    assert_int_equal(sm.len, (size_t)wl);
    assert_memory_equal(sm.data, want, (size_t)wl);
  }
  reply_free(&r);
}

static void push_numbered(client *c, const char *worker, uint64_t first, size_t n) {
  for (size_t i = 0; i < n; i++) {
    char d[32];
    int len = snprintf(d, sizeof d, "m%llu", (unsigned long long)(first + i));
    send_push(c, worker, 1000 + first + i, d, (size_t)len);
  }
  /* One stream, one connection: confirms come in push order, indexes dense. */
  for (size_t i = 0; i < n; i++)
    expect_confirm(c, worker, 1000 + first + i, OCKAMI_SP_STATUS_OK, first + i);
}

static void index_get(client *c, const char *svc, const char *cid, const char *stream, bool has,
                      uint64_t index) {
  assert_int_equal(ockami_sp_encode_index_get(&c->b, cid, strlen(cid), stream, strlen(stream)), 0);
  client_send(c, svc);
  reply r;
  expect_reply(c, &r, OCKAMI_SP_INDEX);
  assert_string_equal(r.from, svc);
  assert_int_equal(r.r.u.index.client_id.len, strlen(cid));
  assert_memory_equal(r.r.u.index.client_id.p, cid, strlen(cid));
  assert_int_equal(r.r.u.index.stream_name.len, strlen(stream));
  assert_memory_equal(r.r.u.index.stream_name.p, stream, strlen(stream));
  assert_int_equal(r.r.u.index.has_index, has);
  if (has) assert_int_equal(r.r.u.index.index, index);
  reply_free(&r);
}

/* A save that had to be checked against the stream's end lands after a
 * store read, so a get sent right after it may overtake it: ask until some
 * index is there. */
static void index_get_eventually(client *c, const char *cid, const char *stream, uint64_t index) {
  for (int tries = 0;; tries++) {
    assert_int_equal(ockami_sp_encode_index_get(&c->b, cid, strlen(cid), stream, strlen(stream)),
                     0);
    client_send(c, "stream_index");
    reply r;
    expect_reply(c, &r, OCKAMI_SP_INDEX);
    bool has = r.r.u.index.has_index;
    uint64_t got = r.r.u.index.index;
    reply_free(&r);
    if (has) {
      assert_int_equal(got, index);
      return;
    }
    assert_true(tries < 100);
    usleep(50000);
  }
}

static void index_save(client *c, const char *cid, const char *stream, uint64_t index) {
  assert_int_equal(
      ockami_sp_encode_index_save(&c->b, cid, strlen(cid), stream, strlen(stream), index), 0);
  client_send(c, "stream_index");
}

static void expect_error(client *c, const char *from, const char *reason) {
  reply r;
  expect_reply(c, &r, OCKAMI_SP_ERROR);
  assert_string_equal(r.from, from);
  assert_int_equal(r.r.u.error.reason.len, strlen(reason));
  assert_memory_equal(r.r.u.error.reason.p, reason, strlen(reason));
  reply_free(&r);
}

/* ---- fixture ----------------------------------------------------------------------- */

typedef struct fixture {
  const char *store;
  char dir[256]; /* removed in teardown */
  ockam_hub_options opts;
  hub_proc hub;
  client cl;
} fixture;

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw) {
  (void)sb;
  (void)flag;
  (void)ftw;
  return remove(path);
}

static int setup_store(void **state, const char *store) {
  fixture *fx = calloc(1, sizeof *fx);
  if (!fx) return -1;
  fx->store = store;
  snprintf(fx->dir, sizeof fx->dir, "%s/ockam-stream-test.XXXXXX",
           getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
  if (!mkdtemp(fx->dir)) return -1;
  fx->opts.listen = "127.0.0.1:0";
  fx->opts.store = store;
  fx->opts.data_dir = fx->dir;
  fx->opts.nats_url = getenv("OCKAM_TEST_NATS_URL");
  fx->opts.no_sync = false;
  g_prefix[0] = '\0';
  if (strcmp(store, "jetstream") == 0)
    snprintf(g_prefix, sizeof g_prefix, "t%08x-", randombytes_random());
  *state = fx;
  return 0;
}

static int setup_memory(void **state) {
  return setup_store(state, "memory");
}
static int setup_lmdb(void **state) {
  return setup_store(state, "lmdb");
}

static int teardown(void **state) {
  fixture *fx = *state;
  hub_stop(&fx->hub);
  if (fx->cl.node) client_close(&fx->cl);
  nftw(fx->dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
  free(fx);
  return 0;
}

/* Starts the hub with fx->opts and a client connected to it. */
static void start(fixture *fx) {
  assert_int_equal(hub_start(&fx->hub, &fx->opts), 0);
  client_open(&fx->cl, fx->hub.bound);
}

static bool durable(const fixture *fx) {
  return strcmp(fx->store, "memory") != 0;
}

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

static void test_long_poll(void **state) {
  fixture *fx = *state;
  start(fx);
  client *c = &fx->cl;
  char a[33], b[33];
  create_stream(c, "stream", sn("lp-a"), a, NULL, 0);
  create_stream(c, "stream", sn("lp-b"), b, NULL, 0);
  /* A long-poll pull on an empty stream is held... */
  send_pull(c, a, 7, 0, 8, 20000);
  expect_quiet(c);
  /* ...an append to another stream does not answer it... */
  send_push(c, b, 1, "other", 5);
  expect_confirm(c, b, 1, OCKAMI_SP_STATUS_OK, 0);
  expect_quiet(c);
  /* ...an append to its own stream does, with the new record. */
  send_push(c, a, 2, "m0", 2);
  reply r1, r2;
  expect_reply(c, &r1, OCKAMI_SP_PUSH_CONFIRM);
  assert_int_equal(client_recv(c, ARRIVE_MS, &r2), 0);
  assert_int_equal(r2.r.kind, OCKAMI_SP_PULL_RESPONSE);
  assert_string_equal(r2.from, a);
  assert_int_equal(r2.r.u.pull_response.request_id, 7);
  assert_int_equal(r2.r.u.pull_response.messages.count, 1);
  ockami_sp_stream_msg sm;
  ockami_sp_msg_iter it;
  ockami_sp_msg_iter_init(&it, &r2.r.u.pull_response.messages);
  assert_true(ockami_sp_msg_iter_next(&it, &sm));
  assert_int_equal(sm.index, 0);
  assert_memory_equal(sm.data, "m0", 2);
  reply_free(&r1);
  reply_free(&r2);
  /* Records already there: answered at once, like a plain pull. */
  send_pull(c, a, 8, 0, 8, 20000);
  expect_pulled(c, a, 8, 0, 1);
  /* Nothing arrives: an empty answer at the client's deadline. */
  send_pull(c, a, 9, 1, 8, 200);
  expect_pulled(c, a, 9, 1, 0);
  /* A parked pull for a later index is not woken by an earlier record. */
  send_pull(c, a, 10, 2, 8, 20000);
  expect_quiet(c);
  send_push(c, a, 3, "m1", 2);
  expect_confirm(c, a, 3, OCKAMI_SP_STATUS_OK, 1);
  expect_quiet(c);
  send_push(c, a, 4, "m2", 2);
  /* Confirm and the woken pull, in that order. */
  expect_confirm(c, a, 4, OCKAMI_SP_STATUS_OK, 2);
  expect_pulled(c, a, 10, 2, 1);
  /* Several parked pulls on one stream are all answered by one append. */
  send_pull(c, a, 11, 3, 8, 20000);
  send_pull(c, a, 12, 3, 8, 20000);
  expect_quiet(c);
  send_push(c, a, 5, "m3", 2);
  expect_confirm(c, a, 5, OCKAMI_SP_STATUS_OK, 3);
  expect_pulled(c, a, 11, 3, 1);
  expect_pulled(c, a, 12, 3, 1);
}

static void test_long_poll_cap(void **state) {
  fixture *fx = *state;
  /* The hub bounds the wait; the client asks for ten minutes. */
  fx->opts.long_poll_max_ms = 150;
  start(fx);
  client *c = &fx->cl;
  char a[33];
  create_stream(c, "stream", sn("cap"), a, NULL, 0);
  send_pull(c, a, 1, 0, 8, 600000);
  expect_pulled(c, a, 1, 0, 0);
  /* The hub still works normally afterwards. */
  push_numbered(c, a, 0, 1);
  send_pull(c, a, 2, 0, 8, 600000);
  expect_pulled(c, a, 2, 0, 1);
}

static void test_index(void **state) {
  fixture *fx = *state;
  start(fx);
  client *c = &fx->cl;
  /* Saves are clamped to the stream's end: give the streams records first. */
  char w[33], w2[33];
  create_stream(c, "stream", sn("sc-responder-to-initiator"), w, NULL, 0);
  push_numbered(c, w, 0, 9);
  create_stream(c, "stream", sn("other"), w2, NULL, 0);
  push_numbered(c, w2, 0, 1);
  index_get(c, "stream_index", "client-I", sn("sc-responder-to-initiator"), false, 0);
  index_save(c, "client-I", sn("sc-responder-to-initiator"), 5);
  index_get(c, "stream_index", "client-I", sn("sc-responder-to-initiator"), true, 5);
  /* Monotonic: a lower save does not win. */
  index_save(c, "client-I", sn("sc-responder-to-initiator"), 3);
  index_get(c, "stream_index", "client-I", sn("sc-responder-to-initiator"), true, 5);
  index_save(c, "client-I", sn("sc-responder-to-initiator"), 9);
  index_get(c, "stream_index", "client-I", sn("sc-responder-to-initiator"), true, 9);
  /* Keys are (client, stream). */
  index_get(c, "stream_index", "client-R", sn("sc-responder-to-initiator"), false, 0);
  index_get(c, "stream_index", "client-I", sn("other"), false, 0);
  /* Save sends no reply. */
  index_save(c, "client-R", sn("other"), 1);
  expect_quiet(c);
  index_get(c, "stream_index", "client-R", sn("other"), true, 1);
  /* Past the end: lowered to the end, or dropped when nothing exists. */
  index_save(c, "client-R", sn("other"), UINT64_MAX);
  index_get(c, "stream_index", "client-R", sn("other"), true, 1);
  index_save(c, "client-X", sn("missing"), 7);
  index_get(c, "stream_index", "client-X", sn("missing"), false, 0);
  index_save(c, "client-Y", sn("sc-responder-to-initiator"), 1000);
  index_get_eventually(c, "client-Y", sn("sc-responder-to-initiator"), 9);
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

static void test_backpressure(void **state) {
  fixture *fx = *state;
  fx->opts.max_pending_pushes = 1;
  start(fx);
  client *c = &fx->cl;
  char a[33];
  create_stream(c, "stream", sn("bp"), a, NULL, 0);
  enum { N = 64 };
  for (int i = 0; i < N; i++) send_push(c, a, (uint64_t)i, "x", 1);
  /* Refused pushes are answered at once, stored ones when durable, so
   * confirms may come in any order; collect them by request id. */
  int status[N], ok = 0, refused = 0;
  uint64_t index[N];
  for (int i = 0; i < N; i++) status[i] = -1;
  for (int i = 0; i < N; i++) {
    reply r;
    expect_reply(c, &r, OCKAMI_SP_PUSH_CONFIRM);
    uint64_t rid = r.r.u.push_confirm.request_id;
    assert_true(rid < N);
    assert_int_equal(status[rid], -1);
    status[rid] = (int)r.r.u.push_confirm.status;
    index[rid] = r.r.u.push_confirm.index;
    reply_free(&r);
  }
  /* Stored ones got dense indexes in push order. */
  for (int i = 0; i < N; i++) {
    if (status[i] == OCKAMI_SP_STATUS_OK) {
      assert_int_equal(index[i], (uint64_t)ok);
      ok++;
    } else {
      assert_int_equal(status[i], OCKAMI_SP_STATUS_ERROR);
      refused++;
    }
  }
  assert_true(ok >= 1);
  assert_true(refused >= 1);
  /* Once the store caught up, pushes are accepted again. */
  send_push(c, a, 100, "y", 1);
  expect_confirm(c, a, 100, OCKAMI_SP_STATUS_OK, (uint64_t)ok);
  send_pull(c, a, 1, 0, OCKAM_PULL_LIMIT_MAX, 0);
  reply r;
  expect_reply(c, &r, OCKAMI_SP_PULL_RESPONSE);
  assert_int_equal(r.r.u.pull_response.messages.count, (size_t)ok + 1);
  reply_free(&r);
}

/* Appends that fail in the store (lmdb fault injection, storage.h) are
 * confirmed with ERROR and stored nowhere; a parked pull ignores them. */
static void test_store_errors(void **state) {
  fixture *fx = *state;
  char fail[300];
  snprintf(fail, sizeof fail, "%s/disk-full", fx->dir);
  setenv("OCKAM_STORE_FAIL_FILE", fail, 1);
  start(fx);
  unsetenv("OCKAM_STORE_FAIL_FILE");
  client *c = &fx->cl;
  char a[33];
  create_stream(c, "stream", sn("faulty"), a, NULL, 0);
  push_numbered(c, a, 0, 1);
  FILE *f = fopen(fail, "w");
  assert_non_null(f);
  fclose(f);
  send_pull(c, a, 1, 1, 8, 20000);
  send_push(c, a, 7, "lost", 4);
  expect_confirm(c, a, 7, OCKAMI_SP_STATUS_ERROR, 0);
  expect_quiet(c);
  assert_int_equal(remove(fail), 0);
  send_push(c, a, 8, "m1", 2);
  expect_confirm(c, a, 8, OCKAMI_SP_STATUS_OK, 1);
  expect_pulled(c, a, 1, 1, 1);
  send_pull(c, a, 2, 0, 8, 0);
  expect_pulled(c, a, 2, 0, 2);
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
static void pull_until_answered(client *c, const char *w, uint64_t rid, uint64_t index,
                                reply *out) {
  for (int i = 0; i < 50; i++) {
    send_pull(c, w, rid, index, 8, 0);
    if (client_recv(c, 500, out) == 0) return;
  }
  fail_msg("no answer from %s after the restart", w);
}

static void test_restart(void **state) {
  fixture *fx = *state;
  start(fx);
  client *c = &fx->cl;
  char w[33], wg[33], gen[64];
  create_stream(c, "stream", sn("durable"), w, NULL, 0);
  create_stream(c, "stream", NULL, wg, gen, sizeof gen);
  push_numbered(c, w, 0, 3);
  push_numbered(c, wg, 0, 1);
  index_save(c, "client-I", sn("durable"), 2);
  index_get(c, "stream_index", "client-I", sn("durable"), true, 2);

  /* Same data directory, same port. */
  char bound[64];
  snprintf(bound, sizeof bound, "%s", fx->hub.bound);
  hub_stop(&fx->hub);
  fx->opts.listen = bound;
  assert_int_equal(hub_start(&fx->hub, &fx->opts), 0);

  /* The cached worker address answers without a new stream_create. */
  reply r;
  pull_until_answered(c, w, 1, 0, &r);
  assert_int_equal(r.r.kind, OCKAMI_SP_PULL_RESPONSE);
  assert_string_equal(r.from, w);
  assert_int_equal(r.r.u.pull_response.request_id, 1);
  reply_free(&r);
  /* Earlier tries may have been answered too: drain them. */
  while (client_recv(c, QUIET_MS, &r) == 0) reply_free(&r);
  send_pull(c, w, 2, 0, 8, 0);
  expect_pulled(c, w, 2, 0, 3);
  send_pull(c, wg, 3, 0, 8, 0);
  expect_pulled(c, wg, 3, 0, 1);
  index_get(c, "stream_index", "client-I", sn("durable"), true, 2);
  push_numbered(c, w, 3, 1);
  char again[33];
  create_stream(c, "stream", sn("durable"), again, NULL, 0);
  assert_string_equal(again, w);
  create_stream(c, "stream", gen, again, NULL, 0);
  assert_string_equal(again, wg);

  /* A long-poll pull parked at stop is simply dropped; nothing leaks. */
  send_pull(c, w, 4, 100, 8, 20000);
  expect_quiet(c);
}

/* Two hubs on one JetStream server: a worker address learned from one hub
 * works on the other, including for streams created after both started. */
static void test_shared_store(void **state) {
  fixture *fx = *state;
  if (!fx->opts.nats_url || !*fx->opts.nats_url) {
    print_message("[  SKIPPED ] set OCKAM_TEST_NATS_URL to run it\n");
    skip();
  }
  start(fx);
  hub_proc other;
  assert_int_equal(hub_start(&other, &fx->opts), 0);
  client c2;
  client_open(&c2, other.bound);
  client *c = &fx->cl;
  char name[64], w[33];
  snprintf(name, sizeof name, "shared-%08x", randombytes_random());
  create_stream(c, "stream", name, w, NULL, 0);
  push_numbered(c, w, 0, 2);
  /* The other hub learns the name from the registry within a poll period. */
  reply r;
  pull_until_answered(&c2, w, 1, 0, &r);
  assert_int_equal(r.r.kind, OCKAMI_SP_PULL_RESPONSE);
  reply_free(&r);
  while (client_recv(&c2, QUIET_MS, &r) == 0) reply_free(&r);
  send_pull(&c2, w, 2, 0, 8, 0);
  expect_pulled(&c2, w, 2, 0, 2);
  push_numbered(&c2, w, 2, 1);
  send_pull(c, w, 3, 0, 8, 0);
  expect_pulled(c, w, 3, 0, 3);
  client_close(&c2);
  hub_stop(&other);
}

#define STORE_TESTS(setup)                                                  \
  cmocka_unit_test_setup_teardown(test_create, setup, teardown),            \
      cmocka_unit_test_setup_teardown(test_push_pull, setup, teardown),     \
      cmocka_unit_test_setup_teardown(test_long_poll, setup, teardown),     \
      cmocka_unit_test_setup_teardown(test_long_poll_cap, setup, teardown), \
      cmocka_unit_test_setup_teardown(test_index, setup, teardown),         \
      cmocka_unit_test_setup_teardown(test_malformed, setup, teardown),     \
      cmocka_unit_test_setup_teardown(test_max_message, setup, teardown),   \
      cmocka_unit_test_setup_teardown(test_backpressure, setup, teardown),  \
      cmocka_unit_test_setup_teardown(test_no_local_loops, setup, teardown)

static int setup_jetstream(void **state) {
  return setup_store(state, "jetstream");
}

int main(void) {
  if (sodium_init() < 0) return 1;
  if (!getenv("OCKAM_LOG")) ockam_log_set_level(OCKAM_LOG_ERROR);
  const struct CMUnitTest memory[] = {
      STORE_TESTS(setup_memory),
      cmocka_unit_test_setup_teardown(test_max_streams, setup_memory, teardown),
      cmocka_unit_test_setup_teardown(test_bad_options, setup_memory, teardown),
  };
  const struct CMUnitTest lmdb[] = {
      STORE_TESTS(setup_lmdb),
      cmocka_unit_test_setup_teardown(test_max_streams, setup_lmdb, teardown),
      cmocka_unit_test_setup_teardown(test_restart, setup_lmdb, teardown),
      cmocka_unit_test_setup_teardown(test_store_errors, setup_lmdb, teardown),
  };
  /* The stream cap counts every stream on a shared server, so it is not
   * tested there. */
  const struct CMUnitTest jetstream[] = {
      STORE_TESTS(setup_jetstream),
      cmocka_unit_test_setup_teardown(test_restart, setup_jetstream, teardown),
      cmocka_unit_test_setup_teardown(test_shared_store, setup_jetstream, teardown),
  };
  int failed = cmocka_run_group_tests_name("stream service: memory", memory, NULL, NULL);
  failed += cmocka_run_group_tests_name("stream service: lmdb", lmdb, NULL, NULL);
  const char *nats = getenv("OCKAM_TEST_NATS_URL");
  if (nats && *nats)
    failed += cmocka_run_group_tests_name("stream service: jetstream", jetstream, NULL, NULL);
  else
    print_message("[  SKIPPED ] stream service: jetstream: set OCKAM_TEST_NATS_URL to run it\n");
  return failed;
}
