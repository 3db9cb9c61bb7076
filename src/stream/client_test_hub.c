/* The stream client tests' fixture: see client_test_hub.h. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "bare.h"
#include "client_test_hub.h"
#include "wire.h"

static void event(tctx *t, const char *fmt, ...) {
  if (t->nevents >= MAX_EVENTS) return;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(t->events[t->nevents++], sizeof t->events[0], fmt, ap);
  va_end(ap);
}

long find_event(const tctx *t, const char *prefix) {
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

recorder *recorder_start(tctx *t, const char *address) {
  recorder *r = calloc(1, sizeof *r);
  assert_non_null(r);
  r->t = t;
  r->label = address;
  const char *a[1] = {address};
  assert_int_equal(ockam_worker_start(t->node, a, 1, &recorder_ops, r, NULL), OCKAM_OK);
  return r;
}

void recorder_free(recorder *r) {
  for (size_t i = 0; i < r->n; i++) ockam_message_free(r->msgs[i]);
  free(r);
}

void run_for(tctx *t, int64_t ms) {
  assert_int_equal(ockam_node_run_until(t->node, ms, NULL, NULL), OCKAM_OK);
}

ockam_route *route_of(const char *text) {
  ockam_route *r;
  assert_int_equal(ockam_route_parse(text, &r), OCKAM_OK);
  return r;
}

ockam_route *empty_route(void) {
  ockam_route *r;
  assert_int_equal(ockam_route_new(&r), OCKAM_OK);
  return r;
}

void assert_route1(const ockam_route *r, const char *hop) {
  ockam_address a;
  assert_int_equal(ockam_route_len(r), 1);
  assert_int_equal(ockam_route_get(r, 0, &a), OCKAM_OK);
  assert_int_equal(a.type, 0);
  assert_int_equal(a.len, strlen(hop));
  assert_memory_equal(a.value, hop, a.len);
}

/* The single local hop of a return route, as a C string. */
void hop0(const ockam_route *r, char out[static OCKAM_ADDRESS_MAX_LEN + 1]) {
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

void send_to_tx(tctx *t, ockam_stream *s, const char *from, const char *dest, const char *text) {
  char route[128];
  snprintf(route, sizeof route, "%s;%s", ockam_stream_tx_address(s), dest);
  send_str(t, from, route, text);
}

void assert_payload_str(const ockam_message *m, const char *text) {
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
const ockam_worker_ops fstream_ops = {fstream_handle, NULL};

fstream *hub_stream(fake_hub *h, const char *name, size_t len) {
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
void hub_kill_workers(fake_hub *h) {
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

size_t count_reqs(const fake_hub *h, const char *at_prefix, ockami_sp_kind kind) {
  size_t n = 0;
  for (size_t i = 0; i < h->nreqs; i++)
    if (h->reqs[i].rc == OCKAM_OK && h->reqs[i].d.kind == kind &&
        (!at_prefix || !strncmp(h->reqs[i].at, at_prefix, strlen(at_prefix))))
      n++;
  return n;
}

/* The k-th (0-based) request of a kind, or NULL. */
hub_req *nth_req(fake_hub *h, ockami_sp_kind kind, size_t k) {
  for (size_t i = 0; i < h->nreqs; i++)
    if (h->reqs[i].rc == OCKAM_OK && h->reqs[i].d.kind == kind && k-- == 0) return &h->reqs[i];
  return NULL;
}

const uint8_t *req_payload(const hub_req *r, size_t *len) {
  return ockam_message_payload(r->m, len);
}

/* A reply from `from` to the request's return route. */
void hub_answer(tctx *t, const hub_req *r, const char *from, const uint8_t *p, size_t len) {
  assert_int_equal(ockam_send(t->node, from, ockam_message_return(r->m), p, len), OCKAM_OK);
}

void hub_answer_buf(tctx *t, const hub_req *r, const char *from, ockami_buf *b) {
  hub_answer(t, r, from, b->data, b->len);
  b->len = 0;
}

tctx *setup(bool manual) {
  tctx *t = calloc(1, sizeof *t);
  assert_non_null(t);
  assert_int_equal(ockam_node_create(&t->node), OCKAM_OK);
  hub_start(t, manual);
  return t;
}

void teardown(tctx *t) {
  hub_free(&t->hub);
  ockam_node_destroy(t->node);
  free(t);
}

/* Options for a client the test answers by hand. */
ockam_stream_options manual_opts(void) {
  ockam_stream_options o = {0};
  o.client_id = "client-I";
  o.pull_limit = 8;
  o.retry_ms = 60000; /* no retries while the test answers by hand */
  o.rx_address = "app-rx";
  return o;
}

ockam_stream *connect_client(tctx *t, const ockam_stream_options *o, bool scl) {
  ockam_route *hub = empty_route();
  ockam_stream *s;
  assert_int_equal(ockam_stream_connect(t->node, hub, NAME_OUT, NAME_IN, o, &s), OCKAM_OK);
  ockam_route_free(hub);
  assert_int_equal(ockam_stream_allow(s, "sink"), OCKAM_OK);
  if (scl) assert_int_equal(ockam_stream_allow(s, "secure_channel_listener"), OCKAM_OK);
  return s;
}
