/* The stream-service test harness: a hub node on its own thread, a client
 * node on the test thread talking raw stream-protocol payloads to it over
 * loopback TCP, protocol helpers and the per-store fixture. */
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

/* Generous bound for anything that must arrive; only reached on failure. */
#define ARRIVE_MS 15000
/* Used where a reply must NOT arrive (a wrong answer would come at once). */
#define QUIET_MS 300

/* Stream names get a per-test prefix on a shared (JetStream) server, so runs
 * against the same server do not see each other's streams. */
static char g_prefix[24];

const char *sn(const char *base) {
  static char bufs[16][OCKAM_NAME_MAX + 1];
  static unsigned next;
  char *b = bufs[next++ % 16];
  snprintf(b, sizeof bufs[0], "%s%s", g_prefix, base);
  return b;
}

/* ---- hub on its own thread ----------------------------------------------------- */

static void *hub_main(void *arg) {
  hub_proc *hp = arg;
  if (ockam_node_run(hp->node) != 0) abort();
  return NULL;
}

int hub_start(hub_proc *hp, const ockam_hub_options *o) {
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

void hub_stop(hub_proc *hp) {
  if (!hp->node) return;
  assert_int_equal(ockam_node_post(hp->node, hub_stop_on_loop, hp), 0);
  pthread_join(hp->thread, NULL);
  ockam_node_destroy(hp->node);
  hp->node = NULL;
}

/* ---- client on the test thread ----------------------------------------------------- */

void client_open(client *c, const char *hub) {
  memset(c, 0, sizeof *c);
  assert_int_equal(ockam_node_create(&c->node), 0);
  assert_int_equal(ockam_tcp_create(c->node, NULL, &c->tcp), 0);
  assert_int_equal(ockam_tcp_connect(c->tcp, hub, 0), 0);
  assert_int_equal(ockam_mailbox_create(c->node, "app", &c->mb), 0);
  snprintf(c->hub, sizeof c->hub, "%s", hub);
}

void client_close(client *c) {
  ockam_mailbox_destroy(c->mb);
  ockam_tcp_close(c->tcp);
  ockam_node_destroy(c->node);
  ockami_buf_free(&c->b);
}

/* Sends c->b (then emptied) to [1#hub, 0#addr] from 0#app. */
void client_send(client *c, const char *addr) {
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
void client_send_long_return(client *c, const char *addr, size_t extra, size_t hop_len) {
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

void client_send_raw(client *c, const char *addr, const void *p, size_t len) {
  c->b.len = 0;
  assert_int_equal(ockami_buf_append(&c->b, p, len), 0);
  client_send(c, addr);
}

/* Next reply within timeout_ms: 0, or OCKAM_ETIMEDOUT. */
int client_recv(client *c, int64_t timeout_ms, reply *out) {
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

void reply_free(reply *r) {
  ockam_message_free(r->m);
}

void expect_reply(client *c, reply *out, ockami_sp_kind kind) {
  assert_int_equal(client_recv(c, ARRIVE_MS, out), 0);
  assert_int_equal(out->r.kind, kind);
}

void expect_quiet(client *c) {
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
void create_stream(client *c, const char *service, const char *name, char addr[33], char *name_out,
                   size_t name_cap) {
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

void send_push(client *c, const char *worker, uint64_t rid, const void *data, size_t len) {
  assert_int_equal(ockami_sp_encode_push(&c->b, rid, data, len), 0);
  client_send(c, worker);
}

void expect_confirm(client *c, const char *worker, uint64_t rid, ockami_sp_status status,
                    uint64_t index) {
  reply r;
  expect_reply(c, &r, OCKAMI_SP_PUSH_CONFIRM);
  assert_string_equal(r.from, worker);
  assert_int_equal(r.r.u.push_confirm.request_id, rid);
  assert_int_equal(r.r.u.push_confirm.status, status);
  if (status == OCKAMI_SP_STATUS_OK) assert_int_equal(r.r.u.push_confirm.index, index);
  reply_free(&r);
}

void send_pull(client *c, const char *worker, uint64_t rid, uint64_t index, uint64_t limit,
               uint64_t wait_ms) {
  if (wait_ms)
    assert_int_equal(ockami_sp_encode_pull_wait(&c->b, rid, index, limit, wait_ms), 0);
  else
    assert_int_equal(ockami_sp_encode_pull(&c->b, rid, index, limit), 0);
  client_send(c, worker);
}

/* Expects a PullResponse with n messages first..first+n-1 whose data is
 * "m<index>". */
void expect_pulled(client *c, const char *worker, uint64_t rid, uint64_t first, size_t n) {
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

void push_numbered(client *c, const char *worker, uint64_t first, size_t n) {
  for (size_t i = 0; i < n; i++) {
    char d[32];
    int len = snprintf(d, sizeof d, "m%llu", (unsigned long long)(first + i));
    send_push(c, worker, 1000 + first + i, d, (size_t)len);
  }
  /* One stream, one connection: confirms come in push order, indexes dense. */
  for (size_t i = 0; i < n; i++)
    expect_confirm(c, worker, 1000 + first + i, OCKAMI_SP_STATUS_OK, first + i);
}

void index_get(client *c, const char *svc, const char *cid, const char *stream, bool has,
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
void index_get_eventually(client *c, const char *cid, const char *stream, uint64_t index) {
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

void index_save(client *c, const char *cid, const char *stream, uint64_t index) {
  assert_int_equal(
      ockami_sp_encode_index_save(&c->b, cid, strlen(cid), stream, strlen(stream), index), 0);
  client_send(c, "stream_index");
}

void expect_error(client *c, const char *from, const char *reason) {
  reply r;
  expect_reply(c, &r, OCKAMI_SP_ERROR);
  assert_string_equal(r.from, from);
  assert_int_equal(r.r.u.error.reason.len, strlen(reason));
  assert_memory_equal(r.r.u.error.reason.p, reason, strlen(reason));
  reply_free(&r);
}

/* ---- fixture ----------------------------------------------------------------------- */

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw) {
  (void)sb;
  (void)flag;
  (void)ftw;
  return remove(path);
}

int setup_store(void **state, const char *store) {
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

int setup_memory(void **state) {
  return setup_store(state, "memory");
}
int setup_lmdb(void **state) {
  return setup_store(state, "lmdb");
}

int teardown(void **state) {
  fixture *fx = *state;
  hub_stop(&fx->hub);
  if (fx->cl.node) client_close(&fx->cl);
  nftw(fx->dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
  free(fx);
  return 0;
}

/* Starts the hub with fx->opts and a client connected to it. */
void start(fixture *fx) {
  assert_int_equal(hub_start(&fx->hub, &fx->opts), 0);
  client_open(&fx->cl, fx->hub.bound);
}

bool durable(const fixture *fx) {
  return strcmp(fx->store, "memory") != 0;
}

int setup_jetstream(void **state) {
  return setup_store(state, "jetstream");
}

int test_init(void) {
  if (sodium_init() < 0) return -1;
  if (!getenv("OCKAM_LOG")) ockam_log_set_level(OCKAM_LOG_ERROR);
  return 0;
}

int run_store_groups(const char *suite, const struct CMUnitTest *memory, size_t nmemory,
                     const struct CMUnitTest *lmdb, size_t nlmdb,
                     const struct CMUnitTest *jetstream, size_t njetstream) {
  char name[96];
  snprintf(name, sizeof name, "%s: memory", suite);
  int failed = _cmocka_run_group_tests(name, memory, nmemory, NULL, NULL);
  snprintf(name, sizeof name, "%s: lmdb", suite);
  failed += _cmocka_run_group_tests(name, lmdb, nlmdb, NULL, NULL);
  snprintf(name, sizeof name, "%s: jetstream", suite);
  const char *nats = getenv("OCKAM_TEST_NATS_URL");
  if (nats && *nats)
    failed += _cmocka_run_group_tests(name, jetstream, njetstream, NULL, NULL);
  else
    print_message("[  SKIPPED ] %s: set OCKAM_TEST_NATS_URL to run it\n", name);
  return failed;
}
