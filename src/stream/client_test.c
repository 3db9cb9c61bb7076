/* Stream client tests.
 *
 * Most tests run the client against a fake hub living in the same node
 * (route_to_hub = []): a worker at "stream" / "stream_index" that logs every
 * request (decoded exactly, as the 2021 hub does) and either lets the test
 * answer by hand ("manual") or behaves like the 2021 hub with in-memory
 * storage ("auto"), with knobs to lose or refuse replies. Byte-level checks
 * use the known-answer vectors of tests/vectors/ockam-2021-vectors.md (§3.3;
 * directory from $OCKAM_TEST_VECTORS).
 *
 * The last test starts the real hub (`ockam hub --store memory`) as a child
 * process and moves 1,000 messages between two nodes over TCP.
 */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "bare.h"
#include "message.h"
#include "ockam/log.h"
#include "ockam/stream.h"
#include "ockam/tcp.h"
#include "route.h"
#include "stream_proto.h"
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

static int nibble(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}

/* "### <heading>...", then "len=N", then lines of hex indented by two spaces. */
static int parse_vector(const char *text, const char *heading, ockami_buf *out) {
  char key[80];
  snprintf(key, sizeof key, "### %s", heading);
  const char *p = strstr(text, key);
  if (!p || !(p = strstr(p, "\nlen="))) return -1;
  size_t want = strtoul(p + 5, NULL, 10);
  p = strchr(p + 1, '\n');
  out->len = 0;
  while (p && p[1] == ' ' && p[2] == ' ') {
    for (p += 3; nibble(p[0]) >= 0 && nibble(p[1]) >= 0; p += 2) {
      uint8_t byte = (uint8_t)(nibble(p[0]) * 16 + nibble(p[1]));
      if (ockami_buf_append(out, &byte, 1)) return -1;
    }
    p = strchr(p, '\n');
  }
  return out->len == want ? 0 : -1;
}

static int load_vectors(void **state) {
  (void)state;
  const char *dir = getenv("OCKAM_TEST_VECTORS");
  char path[1024];
  snprintf(path, sizeof path, "%s/ockam-2021-vectors.md", dir ? dir : "tests/vectors");
  FILE *f = fopen(path, "rb");
  if (!f) return -1;
  static char text[1 << 17];
  size_t n = fread(text, 1, sizeof text - 1, f);
  fclose(f);
  text[n] = '\0';
  for (int i = 0; i < NVEC; i++) {
    if (parse_vector(text, vec_heading[i], &vec[i])) {
      fprintf(stderr, "vector '%s' missing in %s\n", vec_heading[i], path);
      return -1;
    }
  }
  return 0;
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

#define MAX_EVENTS 4096
#define MAX_RECORDED 4096

typedef struct tctx tctx;

/* A worker that keeps every message it receives. */
typedef struct recorder {
  tctx *t;
  const char *label;
  ockam_message *msgs[MAX_RECORDED];
  size_t n;
} recorder;

typedef struct hub_req {
  char at[OCKAM_ADDRESS_MAX_LEN + 1]; /* the address it arrived on */
  ockam_message *m;                   /* owned copy */
  ockami_sp_msg d;                    /* exact decode, pointing into m's payload */
  int rc;
} hub_req;

typedef struct fake_hub fake_hub;

/* One stream in the auto hub: storage outlives its worker. */
typedef struct fstream {
  fake_hub *hub;
  char name[OCKAM_NAME_MAX + 1];
  char addr[OCKAM_ADDRESS_MAX_LEN + 1];
  ockam_worker *w;
  ockami_buf data[MAX_RECORDED]; /* index i + 1 (the 2021 internal store starts at 1) */
  size_t n;
  bool held;
  ockam_route *held_ret;
  uint64_t held_id, held_index, held_limit;
  ockam_timer *held_timer;
} fstream;

struct fake_hub {
  tctx *t;
  ockam_node *node;
  bool manual;
  hub_req reqs[MAX_EVENTS];
  size_t nreqs;
  fstream *streams[8];
  size_t nstreams;
  struct {
    char client[OCKAM_NAME_MAX + 1], stream[OCKAM_NAME_MAX + 1];
    uint64_t index;
  } saved[8];
  size_t nsaved;
  int gen;
  /* knobs */
  int drop_confirms, drop_pull_replies, error_pushes, error_confirms;
  bool no_long_poll, drop_all;
  bool ignore_saves;         /* Save requests are lost */
  bool drop_pull_after_save; /* the reply to the next pull after a Save is lost */
  uint32_t hold_max_ms;
};

struct tctx {
  ockam_node *node;
  fake_hub hub;
  char events[MAX_EVENTS][64];
  size_t nevents;
};

static void event(tctx *t, const char *fmt, ...) {
  if (t->nevents >= MAX_EVENTS) return;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(t->events[t->nevents++], sizeof t->events[0], fmt, ap);
  va_end(ap);
}

static long find_event(const tctx *t, const char *prefix) {
  for (size_t i = 0; i < t->nevents; i++)
    if (!strncmp(t->events[i], prefix, strlen(prefix))) return (long)i;
  return -1;
}

static int recorder_handle(ockam_worker *w, ockam_message *msg) {
  recorder *r = ockam_worker_user(w);
  if (r->n >= MAX_RECORDED) return OCKAM_EFULL;
  ockam_message_keep(msg);
  r->msgs[r->n++] = msg;
  event(r->t, "deliver:%s", r->label);
  return OCKAM_OK;
}
static const ockam_worker_ops recorder_ops = {recorder_handle, NULL};

static recorder *recorder_start(tctx *t, const char *address) {
  recorder *r = calloc(1, sizeof *r);
  assert_non_null(r);
  r->t = t;
  r->label = address;
  const char *a[1] = {address};
  assert_int_equal(ockam_worker_start(t->node, a, 1, &recorder_ops, r, NULL), OCKAM_OK);
  return r;
}

static void recorder_free(recorder *r) {
  for (size_t i = 0; i < r->n; i++) ockam_message_free(r->msgs[i]);
  free(r);
}

#define RUN_UNTIL(t, ms, cond)                                                    \
  do {                                                                            \
    uint64_t until_ = ockam_node_now_ms((t)->node) + (ms);                        \
    while (!(cond) && ockam_node_now_ms((t)->node) < until_)                      \
      assert_int_equal(ockam_node_run_until((t)->node, 2, NULL, NULL), OCKAM_OK); \
  } while (0)

static void run_for(tctx *t, int64_t ms) {
  assert_int_equal(ockam_node_run_until(t->node, ms, NULL, NULL), OCKAM_OK);
}

static ockam_route *route_of(const char *text) {
  ockam_route *r;
  assert_int_equal(ockam_route_parse(text, &r), OCKAM_OK);
  return r;
}

static ockam_route *empty_route(void) {
  ockam_route *r;
  assert_int_equal(ockam_route_new(&r), OCKAM_OK);
  return r;
}

static void assert_route1(const ockam_route *r, const char *hop) {
  ockam_address a;
  assert_int_equal(ockam_route_len(r), 1);
  assert_int_equal(ockam_route_get(r, 0, &a), OCKAM_OK);
  assert_int_equal(a.type, 0);
  assert_int_equal(a.len, strlen(hop));
  assert_memory_equal(a.value, hop, a.len);
}

/* The single local hop of a return route, as a C string. */
static void hop0(const ockam_route *r, char out[static OCKAM_ADDRESS_MAX_LEN + 1]) {
  ockam_address a;
  assert_int_equal(ockam_route_get(r, 0, &a), OCKAM_OK);
  memcpy(out, a.value, a.len);
  out[a.len] = '\0';
}

/* Send a BARE string from `from` to the text route. */
static void send_str(tctx *t, const char *from, const char *route, const char *text) {
  ockam_route *r = route_of(route);
  ockami_buf b = OCKAMI_BUF_INIT;
  assert_int_equal(ockami_write_string(&b, text, strlen(text)), OCKAM_OK);
  assert_int_equal(ockam_send(t->node, from, r, b.data, b.len), OCKAM_OK);
  ockami_buf_free(&b);
  ockam_route_free(r);
}

static void send_to_tx(tctx *t, ockam_stream *s, const char *from, const char *dest,
                       const char *text) {
  char route[128];
  snprintf(route, sizeof route, "%s;%s", ockam_stream_tx_address(s), dest);
  send_str(t, from, route, text);
}

static void assert_payload_str(const ockam_message *m, const char *text) {
  const char *s;
  size_t len;
  assert_int_equal(ockam_message_get_string(m, &s, &len), OCKAM_OK);
  assert_int_equal(len, strlen(text));
  assert_memory_equal(s, text, len);
}

/* ---- fake hub ------------------------------------------------------------- */

static void hub_send(fake_hub *h, const char *from, const ockam_route *to, ockami_buf *b) {
  if (h->drop_all) return;
  assert_int_equal(ockam_send(h->node, from, to, b->data, b->len), OCKAM_OK);
  b->len = 0;
}

static hub_req *hub_record(fake_hub *h, const char *at, const ockam_message *msg) {
  assert_true(h->nreqs < MAX_EVENTS);
  hub_req *r = &h->reqs[h->nreqs++];
  snprintf(r->at, sizeof r->at, "%s", at);
  assert_int_equal(ockam_message_copy(msg, &r->m), OCKAM_OK);
  size_t len;
  const uint8_t *p = ockam_message_payload(r->m, &len);
  r->rc = ockami_sp_decode_request(p, len, &r->d);
  return r;
}

static void arrival(const ockam_message *msg, char out[static OCKAM_ADDRESS_MAX_LEN + 1]) {
  hop0(ockam_message_onward(msg), out);
}

static void fstream_reply_pull(fstream *fs, const ockam_route *to, uint64_t id, uint64_t index,
                               uint64_t limit) {
  fake_hub *h = fs->hub;
  ockami_sp_stream_msg out[OCKAM_PULL_LIMIT_MAX];
  size_t n = 0;
  for (uint64_t i = index < 1 ? 1 : index; i <= fs->n && n < limit; i++, n++) {
    out[n].index = i;
    out[n].data = fs->data[i - 1].data;
    out[n].len = fs->data[i - 1].len;
  }
  ockami_buf b = OCKAMI_BUF_INIT;
  assert_int_equal(ockami_sp_encode_pull_response(&b, id, out, n), OCKAM_OK);
  if (h->drop_pull_replies > 0) {
    h->drop_pull_replies--;
    event(h->t, "hub:drop-pull-reply");
  } else {
    hub_send(h, fs->addr, to, &b);
  }
  ockami_buf_free(&b);
}

static void fstream_release_hold(fstream *fs) {
  if (fs->held_timer) ockam_timer_stop(fs->held_timer);
  fs->held_timer = NULL;
  ockam_route_free(fs->held_ret);
  fs->held_ret = NULL;
  fs->held = false;
}

static void fstream_answer_hold(fstream *fs) {
  ockam_route *to = fs->held_ret;
  fs->held_ret = NULL;
  fs->held = false;
  fstream_reply_pull(fs, to, fs->held_id, fs->held_index, fs->held_limit);
  ockam_route_free(to);
}

static void fstream_hold_expired(void *arg) {
  fstream *fs = arg;
  fs->held_timer = NULL;
  if (fs->held) fstream_answer_hold(fs);
}

static int fstream_handle(ockam_worker *w, ockam_message *msg) {
  fstream *fs = ockam_worker_user(w);
  fake_hub *h = fs->hub;
  hub_req *r = hub_record(h, fs->addr, msg);
  const ockam_route *ret = ockam_message_return(msg);
  ockami_buf b = OCKAMI_BUF_INIT;
  if (r->rc == OCKAM_OK && r->d.kind == OCKAMI_SP_PUSH) {
    if (h->error_pushes > 0) {
      h->error_pushes--;
      assert_int_equal(ockami_sp_encode_error(&b, "Invalid request", 15), OCKAM_OK);
    } else if (h->error_confirms > 0) {
      h->error_confirms--;
      assert_int_equal(
          ockami_sp_encode_push_confirm(&b, r->d.u.push.request_id, OCKAMI_SP_STATUS_ERROR, 0),
          OCKAM_OK);
    } else {
      assert_true(fs->n < MAX_RECORDED);
      ockami_buf *slot = &fs->data[fs->n++];
      assert_int_equal(ockami_buf_set(slot, r->d.u.push.data.p, r->d.u.push.data.len), OCKAM_OK);
      event(h->t, "hub:stored:%zu", fs->n);
      assert_int_equal(
          ockami_sp_encode_push_confirm(&b, r->d.u.push.request_id, OCKAMI_SP_STATUS_OK, fs->n),
          OCKAM_OK);
      if (h->drop_confirms > 0) {
        h->drop_confirms--;
        b.len = 0;
      }
    }
    if (b.len) hub_send(h, fs->addr, ret, &b);
    if (fs->held && fs->n >= fs->held_index) {
      if (fs->held_timer) ockam_timer_stop(fs->held_timer);
      fs->held_timer = NULL;
      fstream_answer_hold(fs);
    }
  } else if (r->rc == OCKAM_OK && r->d.kind == OCKAMI_SP_PULL) {
    uint64_t idx = r->d.u.pull.index;
    if (r->d.u.pull.long_poll && h->no_long_poll) {
      assert_int_equal(ockami_sp_encode_error(&b, "Invalid request", 15), OCKAM_OK);
      hub_send(h, fs->addr, ret, &b);
    } else if (r->d.u.pull.long_poll && r->d.u.pull.wait_ms > 0 && (idx < 1 ? 1 : idx) > fs->n) {
      fstream_release_hold(fs);
      fs->held = true;
      assert_int_equal(ockam_route_copy(ret, &fs->held_ret), OCKAM_OK);
      fs->held_id = r->d.u.pull.request_id;
      fs->held_index = idx < 1 ? 1 : idx;
      fs->held_limit = r->d.u.pull.limit;
      uint64_t wait = r->d.u.pull.wait_ms < h->hold_max_ms ? r->d.u.pull.wait_ms : h->hold_max_ms;
      assert_int_equal(
          ockam_timer_start(h->node, wait, 0, fstream_hold_expired, fs, &fs->held_timer), OCKAM_OK);
    } else {
      fstream_reply_pull(fs, ret, r->d.u.pull.request_id, idx, r->d.u.pull.limit);
    }
  } else {
    assert_int_equal(ockami_sp_encode_error(&b, "Invalid request", 15), OCKAM_OK);
    hub_send(h, fs->addr, ret, &b);
  }
  ockami_buf_free(&b);
  return OCKAM_OK;
}
static const ockam_worker_ops fstream_ops = {fstream_handle, NULL};

static fstream *hub_stream(fake_hub *h, const char *name, size_t len) {
  for (size_t i = 0; i < h->nstreams; i++)
    if (strlen(h->streams[i]->name) == len && !memcmp(h->streams[i]->name, name, len))
      return h->streams[i];
  assert_true(h->nstreams < 8);
  fstream *fs = calloc(1, sizeof *fs);
  assert_non_null(fs);
  fs->hub = h;
  memcpy(fs->name, name, len);
  h->streams[h->nstreams++] = fs;
  return fs;
}

static uint64_t *hub_saved(fake_hub *h, ockami_sp_str client, ockami_sp_str stream, bool add) {
  for (size_t i = 0; i < h->nsaved; i++)
    if (strlen(h->saved[i].client) == client.len &&
        !memcmp(h->saved[i].client, client.p, client.len) &&
        strlen(h->saved[i].stream) == stream.len &&
        !memcmp(h->saved[i].stream, stream.p, stream.len))
      return &h->saved[i].index;
  if (!add) return NULL;
  assert_true(h->nsaved < 8);
  memcpy(h->saved[h->nsaved].client, client.p, client.len);
  memcpy(h->saved[h->nsaved].stream, stream.p, stream.len);
  return &h->saved[h->nsaved++].index;
}

static int service_handle(ockam_worker *w, ockam_message *msg) {
  fake_hub *h = ockam_worker_user(w);
  char at[OCKAM_ADDRESS_MAX_LEN + 1];
  arrival(msg, at);
  hub_req *r = hub_record(h, at, msg);
  if (r->rc == OCKAM_OK && r->d.kind == OCKAMI_SP_INDEX_SAVE)
    event(h->t, "hub:save:%llu", (unsigned long long)r->d.u.index_req.index);
  if (h->manual || h->drop_all || r->rc != OCKAM_OK) return OCKAM_OK;
  const ockam_route *ret = ockam_message_return(msg);
  ockami_buf b = OCKAMI_BUF_INIT;
  if (r->d.kind == OCKAMI_SP_CREATE) {
    assert_true(r->d.u.create.has_name);
    fstream *fs = hub_stream(h, r->d.u.create.name.p, r->d.u.create.name.len);
    if (!fs->w) {
      /* A fresh worker address per start, like the 2021 hub. */
      snprintf(fs->addr, sizeof fs->addr, "sw-%.200s-%d", fs->name, ++h->gen);
      const char *a[1] = {fs->addr};
      assert_int_equal(ockam_worker_start(h->node, a, 1, &fstream_ops, fs, &fs->w), OCKAM_OK);
    }
    assert_int_equal(ockami_sp_encode_init(&b, fs->name, strlen(fs->name)), OCKAM_OK);
    hub_send(h, fs->addr, ret, &b);
  } else if (r->d.kind == OCKAMI_SP_INDEX_GET) {
    uint64_t *saved = hub_saved(h, r->d.u.index_req.client_id, r->d.u.index_req.stream_name, false);
    assert_int_equal(
        ockami_sp_encode_index(&b, r->d.u.index_req.client_id.p, r->d.u.index_req.client_id.len,
                               r->d.u.index_req.stream_name.p, r->d.u.index_req.stream_name.len,
                               saved != NULL, saved ? *saved : 0),
        OCKAM_OK);
    hub_send(h, "stream_index", ret, &b);
  } else if (r->d.kind == OCKAMI_SP_INDEX_SAVE && !h->ignore_saves) {
    if (h->drop_pull_after_save) {
      h->drop_pull_after_save = false;
      h->drop_pull_replies = 1;
    }
    uint64_t *saved = hub_saved(h, r->d.u.index_req.client_id, r->d.u.index_req.stream_name, true);
    if (r->d.u.index_req.index > *saved) *saved = r->d.u.index_req.index;
  }
  ockami_buf_free(&b);
  return OCKAM_OK;
}
static const ockam_worker_ops service_ops = {service_handle, NULL};

/* Manual mode stream worker addresses: the vectors' example values. */
#define SW_IN "5f2d8c1a9e3b7046"  /* stream sc-responder-to-initiator */
#define SW_OUT "c4e1b7a2093d6f58" /* stream sc-initiator-to-responder */
#define NAME_IN "sc-responder-to-initiator"
#define NAME_OUT "sc-initiator-to-responder"
#define ADDR_1111 "11111111111111111111111111111111"

static void hub_start(tctx *t, bool manual) {
  fake_hub *h = &t->hub;
  h->t = t;
  h->node = t->node;
  h->manual = manual;
  h->hold_max_ms = 200;
  const char *manual_addrs[4] = {"stream", "stream_index", SW_IN, SW_OUT};
  assert_int_equal(ockam_worker_start(t->node, manual_addrs, manual ? 4 : 2, &service_ops, h, NULL),
                   OCKAM_OK);
}

/* Stop every stream worker: later requests to them are lost, as after a hub
 * restart that gives workers new addresses; storage and indexes stay. */
static void hub_kill_workers(fake_hub *h) {
  for (size_t i = 0; i < h->nstreams; i++) {
    fstream *fs = h->streams[i];
    fstream_release_hold(fs);
    if (fs->w) ockam_worker_stop(fs->w);
    fs->w = NULL;
  }
}

static void hub_free(fake_hub *h) {
  for (size_t i = 0; i < h->nreqs; i++) ockam_message_free(h->reqs[i].m);
  for (size_t i = 0; i < h->nstreams; i++) {
    fstream *fs = h->streams[i];
    fstream_release_hold(fs);
    for (size_t j = 0; j < fs->n; j++) ockami_buf_free(&fs->data[j]);
    free(fs);
  }
}

static size_t count_reqs(const fake_hub *h, const char *at_prefix, ockami_sp_kind kind) {
  size_t n = 0;
  for (size_t i = 0; i < h->nreqs; i++)
    if (h->reqs[i].rc == OCKAM_OK && h->reqs[i].d.kind == kind &&
        (!at_prefix || !strncmp(h->reqs[i].at, at_prefix, strlen(at_prefix))))
      n++;
  return n;
}

/* The k-th (0-based) request of a kind, or NULL. */
static hub_req *nth_req(fake_hub *h, ockami_sp_kind kind, size_t k) {
  for (size_t i = 0; i < h->nreqs; i++)
    if (h->reqs[i].rc == OCKAM_OK && h->reqs[i].d.kind == kind && k-- == 0) return &h->reqs[i];
  return NULL;
}

static const uint8_t *req_payload(const hub_req *r, size_t *len) {
  return ockam_message_payload(r->m, len);
}

/* A reply from `from` to the request's return route. */
static void hub_answer(tctx *t, const hub_req *r, const char *from, const uint8_t *p, size_t len) {
  assert_int_equal(ockam_send(t->node, from, ockam_message_return(r->m), p, len), OCKAM_OK);
}

static void hub_answer_buf(tctx *t, const hub_req *r, const char *from, ockami_buf *b) {
  hub_answer(t, r, from, b->data, b->len);
  b->len = 0;
}

static tctx *setup(bool manual) {
  tctx *t = calloc(1, sizeof *t);
  assert_non_null(t);
  assert_int_equal(ockam_node_create(&t->node), OCKAM_OK);
  hub_start(t, manual);
  return t;
}

static void teardown(tctx *t) {
  hub_free(&t->hub);
  ockam_node_destroy(t->node);
  free(t);
}

/* ---- byte-level: create, index, pull, push, delivery, save ---------------- */

static ockam_stream_options manual_opts(void) {
  ockam_stream_options o = {0};
  o.client_id = "client-I";
  o.pull_limit = 8;
  o.retry_ms = 60000; /* no retries while the test answers by hand */
  o.rx_address = "app-rx";
  return o;
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
  ockam_route *hub = empty_route();
  ockam_stream_options o = manual_opts();
  ockam_stream *s;
  assert_int_equal(ockam_stream_connect(t->node, hub, NAME_OUT, NAME_IN, &o, &s), OCKAM_OK);
  RUN_UNTIL(t, 2000, h->nreqs >= 2);
  hub_req *cc, *pc;
  creates(h, &cc, &pc);

  /* E2: the consumer's create, byte for byte; its frame with the vector's address. */
  size_t len;
  const uint8_t *p = req_payload(cc, &len);
  assert_bytes(p, len, &vec[E2]);
  assert_route1(ockam_message_onward(cc->m), "stream");
  ockam_message *copy;
  assert_int_equal(ockam_message_copy(cc->m, &copy), OCKAM_OK);
  ockam_route_clear(ockam_message_return_mut(copy));
  assert_int_equal(
      ockam_route_append_str(ockam_message_return_mut(copy), "0a1b2c3d4e5f60718293a4b5c6d7e8f9"),
      OCKAM_OK);
  ockami_buf frame = OCKAMI_BUF_INIT;
  assert_int_equal(ockami_tm_encode_frame(copy, &frame), OCKAM_OK);
  assert_bytes(frame.data, frame.len, &vec[E2_FRAME]);
  ockam_message_free(copy);

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
  ockami_buf_free(&frame);
  ockam_stream_close(s);
  ockam_route_free(hub);
  teardown(t);
}

static void test_push_deliver_save_bytes(void **state) {
  (void)state;
  tctx *t = setup(true);
  fake_hub *h = &t->hub;
  recorder *scl = recorder_start(t, "secure_channel_listener");
  recorder *rx = recorder_start(t, "app-rx");
  ockam_route *hub = empty_route();
  ockam_stream_options o = manual_opts();
  o.no_long_poll = true;
  ockam_stream *s;
  assert_int_equal(ockam_stream_connect(t->node, hub, NAME_OUT, NAME_IN, &o, &s), OCKAM_OK);
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
  ockam_message *copy;
  assert_int_equal(ockam_message_copy(push->m, &copy), OCKAM_OK);
  ockam_route_clear(ockam_message_return_mut(copy));
  assert_int_equal(
      ockam_route_append_str(ockam_message_return_mut(copy), "a0b1c2d3e4f5061728394a5b6c7d8e9f"),
      OCKAM_OK);
  ockami_buf frame = OCKAMI_BUF_INIT;
  assert_int_equal(ockami_tm_encode_frame(copy, &frame), OCKAM_OK);
  assert_bytes(frame.data, frame.len, &vec[E6D]);
  ockam_message_free(copy);
  ockami_buf_free(&frame);

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
  ockam_route_free(hub);
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
  ockam_route *hub = empty_route();
  ockam_stream_options o = manual_opts();
  o.no_long_poll = true;
  ockam_stream *s;
  assert_int_equal(ockam_stream_connect(t->node, hub, NAME_OUT, NAME_IN, &o, &s), OCKAM_OK);
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
#undef SM
  ockam_stream_stats st;
  ockam_stream_get_stats(s, &st);
  assert_int_equal(st.pulled, 7);
  assert_int_equal(st.skipped, 4);
  assert_int_equal(st.delivered, 3);
  for (int i = 0; i < 8; i++) ockami_buf_free(&tms[i]);
  ockami_buf_free(&b);
  ockam_stream_close(s);
  ockam_route_free(hub);
  teardown(t);
  recorder_free(sink);
}

/* ---- behaviour against the auto hub ---------------------------------------- */

static ockam_stream_options auto_opts(void) {
  ockam_stream_options o = {0};
  o.retry_ms = 100;
  o.interval_ms = 20;
  o.long_poll_ms = 150;
  return o;
}

/* One client whose outgoing and incoming stream are the same ("loop"). */
static ockam_stream *loop_client(tctx *t, ockam_stream_options *o) {
  ockam_route *hub = empty_route();
  ockam_stream *s;
  assert_int_equal(ockam_stream_connect(t->node, hub, "loop", "loop", o, &s), OCKAM_OK);
  ockam_route_free(hub);
  return s;
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
  tctx *t = setup(false);
  fake_hub *h = &t->hub;
  recorder *sink = recorder_start(t, "sink");
  ockam_stream_options o = auto_opts();
  ockam_stream *s = loop_client(t, &o);
  assert_int_equal(ockam_stream_wait_ready(s, 2000), OCKAM_OK);
  h->drop_confirms = 1;
  send_n(t, s, 0, 5);
  assert_int_equal(ockam_stream_flush(s, 3000), OCKAM_OK);
  ockam_stream_stats st;
  ockam_stream_get_stats(s, &st);
  assert_int_equal(st.pushed, 5);
  assert_int_equal(st.confirmed, 5);
  assert_int_equal(st.resent, 1);
  assert_int_equal(st.reinits, 0);
  /* Push 0 was stored twice (its confirm was lost), under one request id. */
  assert_int_equal(count_reqs(h, "sw-", OCKAMI_SP_PUSH), 6);
  assert_int_equal(nth_req(h, OCKAMI_SP_PUSH, 5)->d.u.push.request_id, 0);
  /* The consumer delivers both copies: at-least-once. */
  RUN_UNTIL(t, 3000, sink->n >= 6);
  assert_int_equal(sink->n, 6);
  assert_payload_str(sink->msgs[5], "n0");
  ockam_stream_close(s);
  teardown(t);
  recorder_free(sink);
}

static void test_pull_retry_after_lost_reply(void **state) {
  (void)state;
  tctx *t = setup(false);
  fake_hub *h = &t->hub;
  recorder *sink = recorder_start(t, "sink");
  ockam_stream_options o = auto_opts();
  o.no_long_poll = true;
  h->drop_pull_replies = 1;
  ockam_stream *s = loop_client(t, &o);
  send_n(t, s, 0, 3);
  RUN_UNTIL(t, 3000, sink->n >= 3);
  run_for(t, 100);
  assert_sink_in_order(sink, 3);
  /* The first pull went unanswered and was sent again for the same index. */
  hub_req *p0 = nth_req(h, OCKAMI_SP_PULL, 0), *p1 = nth_req(h, OCKAMI_SP_PULL, 1);
  assert_non_null(p1);
  assert_int_equal(p0->d.u.pull.index, p1->d.u.pull.index);
  assert_int_not_equal(p0->d.u.pull.request_id, p1->d.u.pull.request_id);
  assert_true(find_event(t, "hub:drop-pull-reply") >= 0);
  ockam_stream_stats st;
  ockam_stream_get_stats(s, &st);
  assert_true(st.timeouts >= 1);
  assert_int_equal(st.reinits, 0);
  assert_int_equal(st.delivered, 3);
  ockam_stream_close(s);
  teardown(t);
  recorder_free(sink);
}

static void test_long_poll_fallback_auto(void **state) {
  (void)state;
  tctx *t = setup(false);
  fake_hub *h = &t->hub;
  h->no_long_poll = true;
  recorder *sink = recorder_start(t, "sink");
  ockam_stream_options o = auto_opts();
  o.interval_ms = 50;
  ockam_stream *s = loop_client(t, &o);
  assert_int_equal(ockam_stream_wait_ready(s, 2000), OCKAM_OK);
  send_n(t, s, 0, 4);
  RUN_UNTIL(t, 3000, sink->n >= 4);
  assert_sink_in_order(sink, 4);
  /* One refused long-poll, then only plain pulls, about one per interval. */
  size_t polls0 = count_reqs(h, NULL, OCKAMI_SP_PULL);
  run_for(t, 500);
  size_t polls = count_reqs(h, NULL, OCKAMI_SP_PULL) - polls0;
  assert_true(polls >= 4 && polls <= 12);
  size_t long_polls = 0;
  for (size_t k = 0; nth_req(h, OCKAMI_SP_PULL, k); k++)
    if (nth_req(h, OCKAMI_SP_PULL, k)->d.u.pull.long_poll) long_polls++;
  assert_int_equal(long_polls, 1);
  ockam_stream_stats st;
  ockam_stream_get_stats(s, &st);
  assert_false(st.long_poll);
  assert_int_equal(st.errors, 1);
  assert_int_equal(st.reinits, 0);
  ockam_stream_close(s);
  teardown(t);
  recorder_free(sink);
}

static void test_long_poll_held(void **state) {
  (void)state;
  tctx *t = setup(false);
  fake_hub *h = &t->hub;
  h->hold_max_ms = 10000;
  recorder *sink = recorder_start(t, "sink");
  ockam_stream_options o = auto_opts();
  o.long_poll_ms = 5000;
  ockam_stream *s = loop_client(t, &o);
  assert_int_equal(ockam_stream_wait_ready(s, 2000), OCKAM_OK);
  run_for(t, 300);
  /* Idle: one pull held by the hub, no polling. */
  assert_int_equal(count_reqs(h, NULL, OCKAMI_SP_PULL), 1);
  uint64_t t0 = ockam_node_now_ms(t->node);
  send_n(t, s, 0, 1);
  RUN_UNTIL(t, 2000, sink->n >= 1);
  assert_int_equal(sink->n, 1);
  assert_true(ockam_node_now_ms(t->node) - t0 < 200);
  ockam_stream_stats st;
  ockam_stream_get_stats(s, &st);
  assert_true(st.long_poll);
  assert_int_equal(st.timeouts, 0);
  ockam_stream_close(s);
  teardown(t);
  recorder_free(sink);
}

static void test_recreate_after_timeouts(void **state) {
  (void)state;
  tctx *t = setup(false);
  fake_hub *h = &t->hub;
  recorder *sink = recorder_start(t, "sink");
  ockam_stream_options o = auto_opts();
  o.no_long_poll = true;
  ockam_stream *s = loop_client(t, &o);
  send_n(t, s, 0, 3);
  RUN_UNTIL(t, 3000, sink->n >= 3);
  assert_int_equal(ockam_stream_flush(s, 2000), OCKAM_OK);
  RUN_UNTIL(t, 2000, h->nsaved == 1 && h->saved[0].index == 4);
  assert_int_equal(h->saved[0].index, 4);
  size_t creates0 = count_reqs(h, NULL, OCKAMI_SP_CREATE);

  /* The hub's stream workers vanish (restart, new addresses). */
  hub_kill_workers(h);
  send_n(t, s, 3, 6);
  RUN_UNTIL(t, 5000, sink->n >= 6);
  assert_int_equal(ockam_stream_flush(s, 2000), OCKAM_OK);
  run_for(t, 100);
  assert_sink_in_order(sink, 6);
  ockam_stream_stats st;
  ockam_stream_get_stats(s, &st);
  assert_int_equal(st.reinits, 2); /* producer and consumer each once */
  assert_true(st.timeouts >= 6);
  assert_int_equal(count_reqs(h, NULL, OCKAMI_SP_CREATE), creates0 + 2);
  /* The consumer re-read the index and went on from its own position. */
  assert_int_equal(count_reqs(h, NULL, OCKAMI_SP_INDEX_GET), 2);
  assert_int_equal(st.next_index, 7);
  ockam_stream_close(s);
  teardown(t);
  recorder_free(sink);
}

/* A Save whose delivery is not proven by a later reply is sent again with
 * the repeated pull. */
static void test_save_resent(void **state) {
  (void)state;
  tctx *t = setup(false);
  fake_hub *h = &t->hub;
  recorder *sink = recorder_start(t, "sink");
  ockam_stream_options o = auto_opts();
  o.no_long_poll = true;
  ockam_stream *s = loop_client(t, &o);
  assert_int_equal(ockam_stream_wait_ready(s, 2000), OCKAM_OK);
  h->drop_pull_after_save = true;
  send_n(t, s, 0, 1);
  RUN_UNTIL(t, 2000, nth_req(h, OCKAMI_SP_INDEX_SAVE, 1));
  hub_req *s0 = nth_req(h, OCKAMI_SP_INDEX_SAVE, 0), *s1 = nth_req(h, OCKAMI_SP_INDEX_SAVE, 1);
  assert_non_null(s1);
  assert_int_equal(s0->d.u.index_req.index, 2);
  assert_int_equal(s1->d.u.index_req.index, 2);
  assert_true(find_event(t, "hub:drop-pull-reply") >= 0);
  /* Once a later pull was answered, no more repeats. */
  run_for(t, 200);
  assert_null(nth_req(h, OCKAMI_SP_INDEX_SAVE, 2));
  assert_sink_in_order(sink, 1);
  ockam_stream_close(s);
  teardown(t);
  recorder_free(sink);
}

/* The hub lost the saved index: after re-creating, the consumer goes on from
 * its own position (no redelivery) and saves it again. */
static void test_recreate_keeps_local_position(void **state) {
  (void)state;
  tctx *t = setup(false);
  fake_hub *h = &t->hub;
  h->ignore_saves = true;
  recorder *sink = recorder_start(t, "sink");
  ockam_stream_options o = auto_opts();
  o.no_long_poll = true;
  ockam_stream *s = loop_client(t, &o);
  send_n(t, s, 0, 3);
  RUN_UNTIL(t, 3000, sink->n >= 3);
  assert_int_equal(ockam_stream_flush(s, 2000), OCKAM_OK);
  h->ignore_saves = false;
  hub_kill_workers(h);
  RUN_UNTIL(t, 3000, nth_req(h, OCKAMI_SP_INDEX_GET, 1));
  send_n(t, s, 3, 5);
  RUN_UNTIL(t, 3000, sink->n >= 5);
  run_for(t, 100);
  assert_sink_in_order(sink, 5);
  /* The first Save after the second Get carries the local position (4). */
  hub_req *get = nth_req(h, OCKAMI_SP_INDEX_GET, 1);
  size_t after = 0;
  for (size_t k = 0; nth_req(h, OCKAMI_SP_INDEX_SAVE, k); k++)
    if (nth_req(h, OCKAMI_SP_INDEX_SAVE, k) > get) {
      after = k;
      break;
    }
  assert_true(after > 0);
  assert_int_equal(nth_req(h, OCKAMI_SP_INDEX_SAVE, after)->d.u.index_req.index, 4);
  ockam_stream_stats st;
  ockam_stream_get_stats(s, &st);
  assert_int_equal(st.delivered, 5);
  assert_int_equal(st.next_index, 6);
  ockam_stream_close(s);
  teardown(t);
  recorder_free(sink);
}

static void test_error_reply_recreate(void **state) {
  (void)state;
  tctx *t = setup(false);
  fake_hub *h = &t->hub;
  recorder *sink = recorder_start(t, "sink");
  ockam_stream_options o = auto_opts();
  o.max_in_flight = 1; /* strict order even when a push is refused */
  ockam_stream *s = loop_client(t, &o);
  assert_int_equal(ockam_stream_wait_ready(s, 2000), OCKAM_OK);
  h->error_pushes = 1;
  send_n(t, s, 0, 2);
  assert_int_equal(ockam_stream_flush(s, 3000), OCKAM_OK);
  RUN_UNTIL(t, 3000, sink->n >= 2);
  run_for(t, 50);
  assert_sink_in_order(sink, 2);
  ockam_stream_stats st;
  ockam_stream_get_stats(s, &st);
  assert_int_equal(st.errors, 1);
  assert_int_equal(st.reinits, 1);
  /* The `error` reply never became stream data. */
  assert_int_equal(h->streams[0]->n, 2);
  for (size_t i = 0; i < 2; i++) {
    ockam_message *m;
    assert_int_equal(
        ockam_message_decode(h->streams[0]->data[i].data, h->streams[0]->data[i].len, &m),
        OCKAM_OK);
    assert_route1(ockam_message_onward(m), "sink");
    ockam_message_free(m);
  }
  ockam_stream_close(s);
  teardown(t);
  recorder_free(sink);
}

static void test_confirm_error_backoff(void **state) {
  (void)state;
  tctx *t = setup(false);
  fake_hub *h = &t->hub;
  recorder *sink = recorder_start(t, "sink");
  ockam_stream_options o = auto_opts();
  ockam_stream *s = loop_client(t, &o);
  assert_int_equal(ockam_stream_wait_ready(s, 2000), OCKAM_OK);
  h->error_confirms = 1;
  send_n(t, s, 0, 1);
  uint64_t t0 = ockam_node_now_ms(t->node);
  assert_int_equal(ockam_stream_flush(s, 3000), OCKAM_OK);
  assert_true(ockam_node_now_ms(t->node) - t0 >= o.retry_ms - 5); /* backed off */
  RUN_UNTIL(t, 2000, sink->n >= 1);
  ockam_stream_stats st;
  ockam_stream_get_stats(s, &st);
  assert_int_equal(st.errors, 1);
  assert_int_equal(st.resent, 1);
  assert_int_equal(st.reinits, 0);
  assert_int_equal(h->streams[0]->n, 1);
  assert_sink_in_order(sink, 1);
  ockam_stream_close(s);
  teardown(t);
  recorder_free(sink);
}

/* Pipelining: many pushes in flight, bounded by max_in_flight; after lost
 * confirms the window is sent again in order. */
static void test_pipelined_window(void **state) {
  (void)state;
  tctx *t = setup(false);
  fake_hub *h = &t->hub;
  h->manual = true; /* hold the Init back while messages queue up */
  recorder *sink = recorder_start(t, "sink");
  ockam_stream_options o = auto_opts();
  o.max_in_flight = 4;
  o.retry_ms = 100;
  ockam_stream *s = loop_client(t, &o);
  send_n(t, s, 0, 20);
  run_for(t, 20);
  assert_int_equal(count_reqs(h, NULL, OCKAMI_SP_PUSH), 0);
  /* Answer both creates by hand with one worker, then behave as a hub. */
  fstream *fs = hub_stream(h, "loop", 4);
  snprintf(fs->addr, sizeof fs->addr, "sw-loop-0");
  const char *a[1] = {fs->addr};
  assert_int_equal(ockam_worker_start(t->node, a, 1, &fstream_ops, fs, &fs->w), OCKAM_OK);
  h->manual = false;
  h->drop_confirms = 4; /* the first window is stored but not confirmed */
  ockami_buf b = OCKAMI_BUF_INIT;
  for (size_t k = 0; k < 2; k++) {
    assert_int_equal(ockami_sp_encode_init(&b, "loop", 4), OCKAM_OK);
    hub_answer_buf(t, nth_req(h, OCKAMI_SP_CREATE, k), fs->addr, &b);
  }
  ockami_buf_free(&b);
  run_for(t, 40);
  assert_int_equal(count_reqs(h, NULL, OCKAMI_SP_PUSH), 4); /* the window is full */
  assert_int_equal(ockam_stream_flush(s, 3000), OCKAM_OK);
  RUN_UNTIL(t, 3000, sink->n >= 24);
  run_for(t, 50);
  /* Request ids 0-3, 0-3 again, then 4-19; the stream (and the sink) holds
   * n0-n3 twice, then n4-n19: in order once repeats are dropped. */
  static const size_t order[24] = {0, 1, 2,  3,  0,  1,  2,  3,  4,  5,  6,  7,
                                   8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19};
  assert_int_equal(count_reqs(h, NULL, OCKAMI_SP_PUSH), 24);
  assert_int_equal(sink->n, 24);
  for (size_t k = 0; k < 24; k++) {
    assert_int_equal(nth_req(h, OCKAMI_SP_PUSH, k)->d.u.push.request_id, order[k]);
    char text[32];
    snprintf(text, sizeof text, "n%zu", order[k]);
    assert_payload_str(sink->msgs[k], text);
  }
  ockam_stream_stats st;
  ockam_stream_get_stats(s, &st);
  assert_int_equal(st.resent, 4);
  assert_int_equal(st.confirmed, 20);
  ockam_stream_close(s);
  teardown(t);
  recorder_free(sink);
}

static void test_outbox_full(void **state) {
  (void)state;
  tctx *t = setup(true); /* never answers: everything stays queued */
  ockam_stream_options o = manual_opts();
  o.outbox_max = 4;
  ockam_route *hub = empty_route();
  ockam_stream *s;
  assert_int_equal(ockam_stream_connect(t->node, hub, NAME_OUT, NAME_IN, &o, &s), OCKAM_OK);
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
  assert_int_equal(ockam_stream_connect(t->node, hub, NAME_OUT, NAME_IN, &o, &s), OCKAM_OK);
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
  ockam_route_free(hub);
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
  ockam_stream_close(s);
  teardown(t);
  /* Destroy the node first, then close. */
  t = setup(false);
  assert_int_equal(ockam_stream_connect(t->node, hub, "a", "b", NULL, &s), OCKAM_OK);
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
  assert_int_equal(ockam_stream_connect(t->node, hub, "a", NULL, NULL, &s), OCKAM_EINVAL);
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

/* ---- end to end against `ockam hub --store memory` -------------------------- */

#ifdef OCKAM_BIN
#include <fcntl.h>

/* Start `ockam hub` on `listen` and wait for its ready file; *hostport gets
 * the bound address. Returns the pid, or -1. */
static pid_t start_hub(const char *dir, const char *store, const char *listen, char *hostport,
                       size_t cap) {
  char ready[512], data[512];
  snprintf(ready, sizeof ready, "%s/ready", dir);
  snprintf(data, sizeof data, "%s/data", dir);
  unlink(ready);
  pid_t pid = fork();
  if (pid == 0) {
    char log[512];
    snprintf(log, sizeof log, "%s/hub.log", dir);
    int fd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (fd >= 0) {
      dup2(fd, STDOUT_FILENO);
      dup2(fd, STDERR_FILENO);
    }
    execl(OCKAM_BIN, "ockam", "hub", "--store", store, "--data", data, "--listen", listen,
          "--ready-file", ready, "--log", "error", (char *)NULL);
    _exit(127);
  }
  if (pid < 0) return -1;
  for (int i = 0; i < 1000; i++) {
    FILE *f = fopen(ready, "r");
    if (f) {
      bool ok = fgets(hostport, (int)cap, f) != NULL;
      fclose(f);
      if (ok) {
        hostport[strcspn(hostport, "\r\n")] = '\0';
        return pid;
      }
    }
    int status;
    if (waitpid(pid, &status, WNOHANG) == pid) return -1;
    usleep(10000);
  }
  kill(pid, SIGKILL);
  waitpid(pid, NULL, 0);
  return -1;
}

/* The hub's output, for a failing test. */
static void show_hub_log(const char *dir) {
  char path[512], line[512];
  snprintf(path, sizeof path, "%s/hub.log", dir);
  FILE *f = fopen(path, "r");
  if (!f) return;
  while (fgets(line, sizeof line, f)) fprintf(stderr, "hub: %s", line);
  fclose(f);
}

static void stop_hub(pid_t pid, int sig) {
  kill(pid, sig);
  waitpid(pid, NULL, 0);
}

static void remove_tree(const char *dir) {
  char cmd[600];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
  if (system(cmd) != 0) fprintf(stderr, "cannot remove %s\n", dir);
}

typedef struct peer {
  ockam_node *node;
  ockam_tcp *tcp;
  ockam_stream *s;
  ockam_mailbox *sink;
} peer;

static void peer_start(peer *p, const ockam_route *hub, const char *out, const char *in,
                       const ockam_stream_options *o) {
  assert_int_equal(ockam_node_create(&p->node), OCKAM_OK);
  assert_int_equal(ockam_tcp_create(p->node, NULL, &p->tcp), OCKAM_OK);
  assert_int_equal(ockam_stream_connect(p->node, hub, out, in, o, &p->s), OCKAM_OK);
  assert_int_equal(ockam_mailbox_create(p->node, "sink", &p->sink), OCKAM_OK);
}

static void peer_stop(peer *p) {
  ockam_stream_close(p->s);
  ockam_mailbox_destroy(p->sink);
  ockam_node_destroy(p->node);
}

/* Both nodes live in this thread: run each loop in short turns. */
static void both_run(peer *a, peer *b) {
  assert_int_equal(ockam_node_run_until(a->node, 2, NULL, NULL), OCKAM_OK);
  assert_int_equal(ockam_node_run_until(b->node, 2, NULL, NULL), OCKAM_OK);
}

static bool peer_ready(peer *p) {
  return ockam_stream_wait_ready(p->s, 0) == OCKAM_OK;
}

/* Send "e2e-<i>" for i in [from, to) from a to b's "sink". */
static void e2e_send(peer *a, size_t from, size_t to) {
  char route[128];
  snprintf(route, sizeof route, "%s;sink", ockam_stream_tx_address(a->s));
  ockam_route *r = route_of(route);
  for (size_t i = from; i < to; i++) {
    char msg[32];
    int n = snprintf(msg, sizeof msg, "e2e-%zu", i);
    ockami_buf pl = OCKAMI_BUF_INIT;
    assert_int_equal(ockami_write_string(&pl, msg, (size_t)n), OCKAM_OK);
    assert_int_equal(ockam_send(a->node, "app", r, pl.data, pl.len), OCKAM_OK);
    ockami_buf_free(&pl);
  }
  ockam_route_free(r);
}

typedef struct e2e_rx {
  size_t got;      /* messages received, repeats included */
  size_t distinct; /* different messages */
  size_t in_order; /* messages that were the next expected one */
  size_t next;     /* next expected message number */
  bool seen[4096];
} e2e_rx;

static void e2e_receive(peer *a, peer *b, e2e_rx *rx, size_t want, int64_t timeout_ms) {
  uint64_t until = ockam_node_now_ms(a->node) + (uint64_t)timeout_ms;
  while (rx->distinct < want && ockam_node_now_ms(a->node) < until) {
    both_run(a, b);
    ockam_message *m;
    while (ockam_mailbox_receive(b->sink, 0, &m) == OCKAM_OK) {
      const char *s;
      size_t len, i = SIZE_MAX;
      char text[32];
      if (ockam_message_get_string(m, &s, &len) == OCKAM_OK && len < sizeof text) {
        memcpy(text, s, len);
        text[len] = '\0';
        if (sscanf(text, "e2e-%zu", &i) != 1) i = SIZE_MAX;
      }
      ockam_message_free(m);
      rx->got++;
      if (i >= 4096) continue;
      if (!rx->seen[i]) rx->distinct++;
      rx->seen[i] = true;
      if (i == rx->next) {
        rx->in_order++;
        rx->next++;
      }
    }
  }
}

/* 1,000 messages one way through `ockam hub --store memory`: all arrive, in
 * order, once. */
static void test_e2e_hub(void **state) {
  (void)state;
  char dir[] = "/tmp/ockam-stream-test-XXXXXX";
  assert_non_null(mkdtemp(dir));
  char hostport[128];
  pid_t pid = start_hub(dir, "memory", "127.0.0.1:0", hostport, sizeof hostport);
  if (pid < 0) {
    show_hub_log(dir);
    remove_tree(dir);
    fail_msg("cannot start %s", OCKAM_BIN);
  }
  char text[160];
  snprintf(text, sizeof text, "1#%s", hostport);
  ockam_route *hub = route_of(text);
  peer a = {0}, b = {0};
  peer_start(&a, hub, "e2e-a2b", "e2e-b2a", NULL);
  peer_start(&b, hub, "e2e-b2a", "e2e-a2b", NULL);

  uint64_t until = ockam_node_now_ms(a.node) + 5000;
  while (!(peer_ready(&a) && peer_ready(&b)) && ockam_node_now_ms(a.node) < until) both_run(&a, &b);
  bool ready = peer_ready(&a) && peer_ready(&b);
  if (!ready) fprintf(stderr, "hub at %s has no working stream service\n", hostport);

  enum { N = 1000 };
  static e2e_rx rx;
  memset(&rx, 0, sizeof rx);
  if (ready) {
    e2e_send(&a, 0, N);
    e2e_receive(&a, &b, &rx, N, 60000);
    /* Nothing more arrives. */
    for (int i = 0; i < 50; i++) both_run(&a, &b);
    e2e_receive(&a, &b, &rx, N + 1, 0);
  }
  ockam_stream_stats sa, sb;
  ockam_stream_get_stats(a.s, &sa);
  ockam_stream_get_stats(b.s, &sb);
  peer_stop(&a);
  peer_stop(&b);
  ockam_route_free(hub);
  stop_hub(pid, SIGTERM);
  if (!ready || rx.got != N || rx.in_order != N) show_hub_log(dir);
  remove_tree(dir);
  assert_true(ready);
  /* In order, each once (a repeat could only follow a resend on a very slow
   * machine; then first copies must still be in order). */
  assert_int_equal(rx.in_order, N);
  assert_int_equal(rx.distinct, N);
  if (sa.resent == 0) assert_int_equal(rx.got, N);
  assert_int_equal(sa.confirmed, N);
  assert_int_equal(sb.delivered, N);
  assert_true(sb.long_poll);
  assert_true(sb.polls < 100); /* long-poll: no busy polling */
}

/* The hub (lmdb) is killed and restarted on the same port while messages
 * flow: every message arrives, none is lost. */
static void test_e2e_hub_restart(void **state) {
  (void)state;
  char dir[] = "/tmp/ockam-stream-test-XXXXXX";
  assert_non_null(mkdtemp(dir));
  char hostport[128];
  pid_t pid = start_hub(dir, "lmdb", "127.0.0.1:0", hostport, sizeof hostport);
  if (pid < 0) {
    remove_tree(dir);
    fail_msg("cannot start %s", OCKAM_BIN);
  }
  char text[160];
  snprintf(text, sizeof text, "1#%s", hostport);
  ockam_route *hub = route_of(text);
  ockam_stream_options o = {0};
  o.retry_ms = 300;
  o.long_poll_ms = 1000;
  o.client_id = "e2e-restart-b";
  peer a = {0}, b = {0};
  peer_start(&a, hub, "e2e-r-a2b", "e2e-r-b2a", &o);
  peer_start(&b, hub, "e2e-r-b2a", "e2e-r-a2b", &o);
  uint64_t until = ockam_node_now_ms(a.node) + 5000;
  while (!(peer_ready(&a) && peer_ready(&b)) && ockam_node_now_ms(a.node) < until) both_run(&a, &b);
  if (!(peer_ready(&a) && peer_ready(&b))) {
    peer_stop(&a);
    peer_stop(&b);
    ockam_route_free(hub);
    stop_hub(pid, SIGTERM);
    remove_tree(dir);
    fail_msg("the streams through the hub did not become ready");
  }
  static e2e_rx rx;
  memset(&rx, 0, sizeof rx);
  e2e_send(&a, 0, 300);
  e2e_receive(&a, &b, &rx, 300, 20000);
  assert_int_equal(rx.distinct, 300);

  /* Crash the hub, keep sending, restart it on the same address. */
  stop_hub(pid, SIGKILL);
  e2e_send(&a, 300, 600);
  for (int i = 0; i < 100; i++) both_run(&a, &b);
  char again[128];
  pid = start_hub(dir, "lmdb", hostport, again, sizeof again);
  assert_true(pid > 0);
  e2e_receive(&a, &b, &rx, 600, 60000);
  ockam_stream_stats sa, sb;
  ockam_stream_get_stats(a.s, &sa);
  ockam_stream_get_stats(b.s, &sb);
  int flushed = ockam_stream_flush(a.s, 0);
  fprintf(stderr,
          "restart: received %zu (distinct %zu, in order %zu); A resent %llu timeouts %llu "
          "reinits %llu; B timeouts %llu reinits %llu\n",
          rx.got, rx.distinct, rx.in_order, (unsigned long long)sa.resent,
          (unsigned long long)sa.timeouts, (unsigned long long)sa.reinits,
          (unsigned long long)sb.timeouts, (unsigned long long)sb.reinits);
  peer_stop(&a);
  peer_stop(&b);
  ockam_route_free(hub);
  stop_hub(pid, SIGTERM);
  if (rx.distinct != 600 || flushed != OCKAM_OK) show_hub_log(dir);
  remove_tree(dir);
  assert_int_equal(rx.distinct, 600);
  assert_int_equal(sa.confirmed, 600);
  assert_int_equal(flushed, OCKAM_OK);
}
#endif

int main(void) {
  signal(SIGPIPE, SIG_IGN);
  if (!getenv("OCKAM_LOG")) ockam_log_set_level(OCKAM_LOG_ERROR);
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_long_poll_bytes_and_fallback),
      cmocka_unit_test(test_push_deliver_save_bytes),
      cmocka_unit_test(test_stale_indexes),
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
      cmocka_unit_test(test_outbox_full),
      cmocka_unit_test(test_fallback_routes),
      cmocka_unit_test(test_lifecycle),
#ifdef OCKAM_BIN
      cmocka_unit_test(test_e2e_hub),
      cmocka_unit_test(test_e2e_hub_restart),
#endif
  };
  return cmocka_run_group_tests(tests, load_vectors, free_vectors);
}
