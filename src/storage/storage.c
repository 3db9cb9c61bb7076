/* Storage front end: the backend registry, argument checks done once for
 * every backend, the result set returned by read() and the helpers the
 * backends share (index keys, clocks). */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "backend.h"
#include "bytes.h"
#include "ockam/limits.h"
#include "storage.h"

/* Grows the arena to hold `need` bytes. The record pointers point into the
 * arena, so a new arena is allocated and every pointer rebased onto it. */
static int records_arena_grow(ockami_records *r, size_t need) {
  size_t cap = r->arena_cap ? r->arena_cap : 4096;
  while (cap < need) {
    if (cap > SIZE_MAX / 2) return OCKAM_ENOMEM;
    cap *= 2;
  }
  uint8_t *arena = malloc(cap);
  if (!arena) return OCKAM_ENOMEM;
  if (r->arena_len) memcpy(arena, r->arena, r->arena_len);
  for (size_t i = 0; i < r->count; i++) {
    if (r->items[i].data) r->items[i].data = arena + (r->items[i].data - r->arena);
  }
  free(r->arena);
  r->arena = arena;
  r->arena_cap = cap;
  return OCKAM_OK;
}

int ockami_records_push(ockami_records *r, uint64_t index, const uint8_t *data, size_t len) {
  if (!r || (len && !data)) return OCKAM_EINVAL;
  if (r->count == r->cap) {
    size_t cap = r->cap ? r->cap * 2 : 16;
    if (cap > SIZE_MAX / sizeof *r->items) return OCKAM_ENOMEM;
    ockami_record *items = realloc(r->items, cap * sizeof *items);
    if (!items) return OCKAM_ENOMEM;
    r->items = items;
    r->cap = cap;
  }
  if (len > SIZE_MAX - r->arena_len) return OCKAM_ENOMEM;
  if (r->arena_len + len > r->arena_cap) {
    int rc = records_arena_grow(r, r->arena_len + len);
    if (rc) return rc;
  }
  ockami_record *rec = &r->items[r->count];
  rec->index = index;
  rec->len = len;
  rec->data = NULL;
  if (len) {
    rec->data = r->arena + r->arena_len;
    memcpy(r->arena + r->arena_len, data, len);
    r->arena_len += len;
  }
  r->count++;
  return OCKAM_OK;
}

void ockami_records_free(ockami_records *r) {
  if (!r) return;
  free(r->items);
  free(r->arena);
  memset(r, 0, sizeof *r);
}

int ockami_store_check_stream(const char *stream, size_t stream_len) {
  if (!stream || stream_len == 0) return OCKAM_EINVAL;
  if (stream_len > OCKAM_NAME_MAX) return OCKAM_EOVERFLOW;
  return OCKAM_OK;
}

int ockami_store_check_client(const char *client, size_t client_len) {
  if (!client || client_len == 0) return OCKAM_EINVAL;
  if (client_len > OCKAM_NAME_MAX) return OCKAM_EOVERFLOW;
  /* The index key is client ‖ 0x00 ‖ stream: a NUL in the client id would
   * make two different (client, stream) pairs share a key. */
  if (memchr(client, 0, client_len)) return OCKAM_EINVAL;
  return OCKAM_OK;
}

/* ---- shared helpers ------------------------------------------------------ */

size_t ockami_index_key(const char *client, size_t client_len, const char *stream,
                        size_t stream_len, uint8_t *key) {
  memcpy(key, client, client_len);
  key[client_len] = 0;
  memcpy(key + client_len + 1, stream, stream_len);
  return client_len + 1 + stream_len;
}

bool ockami_index_key_is_for(const uint8_t *key, size_t key_len, const char *stream,
                             size_t stream_len) {
  const uint8_t *sep = memchr(key, 0, key_len);
  if (!sep) return false;
  size_t off = (size_t)(sep - key) + 1;
  return key_len - off == stream_len && memcmp(key + off, stream, stream_len) == 0;
}

int ockami_name_cmp(const void *a, size_t a_len, const void *b, size_t b_len) {
  int c = memcmp(a, b, a_len < b_len ? a_len : b_len);
  if (c) return c;
  return a_len < b_len ? -1 : a_len > b_len ? 1 : 0;
}

void ockami_stream_info_set(ockami_stream_info *info, const void *name, size_t name_len,
                            uint64_t first, uint64_t next, uint64_t bytes,
                            uint64_t last_append_ms) {
  memcpy(info->name, name, name_len);
  info->name_len = name_len;
  info->first = first;
  info->next = next;
  info->bytes = bytes;
  info->last_append_ms = last_append_ms;
}

static uint64_t clock_ms(clockid_t clock) {
  struct timespec ts;
  clock_gettime(clock, &ts);
  return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

uint64_t ockami_realtime_ms(void) {
  return clock_ms(CLOCK_REALTIME);
}

uint64_t ockami_monotonic_ms(void) {
  return clock_ms(CLOCK_MONOTONIC);
}

uint64_t ockami_age_ms(uint64_t age_s) {
  /* Capped so that a timestamp plus the age cannot overflow. */
  return age_s > UINT64_MAX / 1000000 ? UINT64_MAX / 1000 : age_s * 1000;
}

/* ---- idempotent producers (rules in storage.h) ---------------------------- */

bool ockami_idem_admit(const ockami_producer_state *st, ockami_append *it) {
  it->idem = OCKAMI_IDEM_STORED;
  it->expected = 0;
  if (st->seq == 0 || st->session != it->session) {
    if (it->seq == 1) return true;
    it->idem = OCKAMI_IDEM_OUT_OF_ORDER;
    it->expected = 1;
    return false;
  }
  if (it->seq <= st->seq) {
    uint64_t back = st->seq - it->seq;
    it->idem = OCKAMI_IDEM_DUPLICATE;
    it->index = it->seq >= st->run_seq && back <= st->index ? st->index - back : st->index;
    return false;
  }
  if (it->seq == st->seq + 1) return true;
  it->idem = OCKAMI_IDEM_OUT_OF_ORDER;
  it->expected = st->seq + 1;
  return false;
}

void ockami_idem_commit(ockami_producer_state *st, const ockami_append *it) {
  bool run = st->seq != 0 && st->session == it->session && it->index == st->index + 1;
  if (!run) st->run_seq = it->seq;
  st->session = it->session;
  st->seq = it->seq;
  st->index = it->index;
}

void ockami_producer_state_encode(const ockami_producer_state *st,
                                  uint8_t out[static OCKAMI_PRODUCER_STATE_LEN]) {
  ockami_store_be64(out, st->session);
  ockami_store_be64(out + 8, st->seq);
  ockami_store_be64(out + 16, st->index);
  ockami_store_be64(out + 24, st->run_seq);
}

bool ockami_producer_state_decode(const uint8_t *p, size_t len, ockami_producer_state *st) {
  if (len != OCKAMI_PRODUCER_STATE_LEN) return false;
  st->session = ockami_load_be64(p);
  st->seq = ockami_load_be64(p + 8);
  st->index = ockami_load_be64(p + 16);
  st->run_seq = ockami_load_be64(p + 24);
  return st->seq != 0 && st->run_seq != 0 && st->run_seq <= st->seq;
}

/* ---- the front end ------------------------------------------------------- */

/* What the front end's `be` points to: one backend instance and the limits
 * its checks need. */
typedef struct front {
  const ockami_store_backend *b;
  void *be;
  uint32_t max_record;
} front;

static int front_open(const ockami_store_backend *b, const ockami_store_options *opt, void **out) {
  if (!opt || !out) return OCKAM_EINVAL;
  *out = NULL;
  ockami_store_options o = *opt;
  if (!o.max_streams) o.max_streams = OCKAM_HUB_MAX_STREAMS;
  if (!o.max_record) o.max_record = OCKAM_STREAM_MESSAGE_MAX;
  front *f = calloc(1, sizeof *f);
  if (!f) return OCKAM_ENOMEM;
  f->b = b;
  f->max_record = o.max_record;
  int rc = b->open(&o, &f->be);
  if (rc) {
    free(f);
    return rc;
  }
  *out = f;
  return OCKAM_OK;
}

static void front_close(void *p) {
  front *f = p;
  if (!f) return;
  f->b->close(f->be);
  free(f);
}

static int front_stream_create(void *p, const char *stream, size_t stream_len) {
  front *f = p;
  int rc = ockami_store_check_stream(stream, stream_len);
  return rc ? rc : f->b->stream_create(f->be, stream, stream_len);
}

static int front_stream_delete(void *p, const char *stream, size_t stream_len) {
  front *f = p;
  int rc = ockami_store_check_stream(stream, stream_len);
  return rc ? rc : f->b->stream_delete(f->be, stream, stream_len);
}

static int front_stream_list(void *p, const char *after, size_t after_len, ockami_stream_info *out,
                             size_t max, size_t *count) {
  front *f = p;
  if (count) *count = 0;
  if (!out || !count || max == 0 || (after_len && !after)) return OCKAM_EINVAL;
  if (after_len > OCKAM_NAME_MAX) return OCKAM_EOVERFLOW;
  size_t got = 0;
  int rc = f->b->stream_list(f->be, after, after_len, out, max, &got);
  if (!rc) *count = got;
  return rc;
}

static int front_append(void *p, ockami_append *items, size_t n) {
  front *f = p;
  if (n == 0) return OCKAM_OK;
  if (!items || n > UINT32_MAX) return OCKAM_EINVAL;
  size_t valid = 0;
  for (size_t i = 0; i < n; i++) {
    ockami_append *it = &items[i];
    it->index = 0;
    it->status = ockami_store_check_stream(it->stream, it->stream_len);
    if (!it->status && it->len && !it->data) it->status = OCKAM_EINVAL;
    if (!it->status && it->len > f->max_record) it->status = OCKAM_EOVERFLOW;
    if (!it->status && it->producer_len) {
      it->status = ockami_store_check_client(it->producer, it->producer_len);
      if (!it->status && it->seq == 0) it->status = OCKAM_EINVAL;
    }
    it->idem = OCKAMI_IDEM_STORED;
    it->expected = 0;
    valid += it->status == OCKAM_OK;
  }
  if (!valid) return OCKAM_OK;
  int rc = f->b->append(f->be, items, n);
  if (rc) {
    for (size_t i = 0; i < n; i++) {
      if (items[i].status == OCKAM_OK) items[i].status = rc;
      items[i].index = 0;
      items[i].idem = OCKAMI_IDEM_STORED;
      items[i].expected = 0;
    }
  }
  return rc;
}

static int front_read(void *p, const char *stream, size_t stream_len, uint64_t from, uint32_t limit,
                      size_t max_bytes, ockami_records *out) {
  front *f = p;
  int rc = ockami_store_check_stream(stream, stream_len);
  if (rc) return rc;
  if (!out) return OCKAM_EINVAL;
  if (limit == 0) return OCKAM_OK;
  size_t count = out->count, arena_len = out->arena_len;
  rc = f->b->read(f->be, stream, stream_len, from, limit, max_bytes, out);
  if (rc) {
    out->count = count;
    out->arena_len = arena_len;
  }
  return rc;
}

static int front_bounds(void *p, const char *stream, size_t stream_len, uint64_t *first,
                        uint64_t *next) {
  front *f = p;
  int rc = ockami_store_check_stream(stream, stream_len);
  if (rc) return rc;
  uint64_t fi = 0, nx = 0;
  rc = f->b->bounds(f->be, stream, stream_len, &fi, &nx);
  if (rc) return rc;
  if (first) *first = fi;
  if (next) *next = nx;
  return OCKAM_OK;
}

static int check_index_args(const char *client, size_t client_len, const char *stream,
                            size_t stream_len) {
  int rc = ockami_store_check_client(client, client_len);
  return rc ? rc : ockami_store_check_stream(stream, stream_len);
}

static int front_index_get(void *p, const char *client, size_t client_len, const char *stream,
                           size_t stream_len, uint64_t *index, bool *found) {
  front *f = p;
  int rc = check_index_args(client, client_len, stream, stream_len);
  if (rc) return rc;
  uint64_t v = 0;
  bool have = false;
  rc = f->b->index_get(f->be, client, client_len, stream, stream_len, &v, &have);
  if (rc) return rc;
  if (index) *index = have ? v : 0;
  if (found) *found = have;
  return OCKAM_OK;
}

static int front_index_save(void *p, const char *client, size_t client_len, const char *stream,
                            size_t stream_len, uint64_t index) {
  front *f = p;
  int rc = check_index_args(client, client_len, stream, stream_len);
  return rc ? rc : f->b->index_save(f->be, client, client_len, stream, stream_len, index);
}

static int front_producer_get(void *p, const char *producer, size_t producer_len,
                              const char *stream, size_t stream_len, ockami_producer_state *out,
                              bool *found) {
  front *f = p;
  int rc = check_index_args(producer, producer_len, stream, stream_len);
  if (rc) return rc;
  if (!out || !found) return OCKAM_EINVAL;
  *found = false;
  memset(out, 0, sizeof *out);
  rc = f->b->producer_get(f->be, producer, producer_len, stream, stream_len, out, found);
  if (rc || !*found) memset(out, 0, sizeof *out);
  if (rc) *found = false;
  return rc;
}

static int front_trim(void *p) {
  front *f = p;
  return f->b->trim(f->be);
}

/* One front-end table per backend; only open() differs (it names the
 * backend), every other op finds the backend through the instance. */
#define STORE_FRONT_END(sym, backend, label, is_shared, is_atomic)     \
  static int sym##_open(const ockami_store_options *opt, void **out) { \
    return front_open(&backend, opt, out);                             \
  }                                                                    \
  const ockami_store_ops sym = {                                       \
      .name = label,                                                   \
      .shared = is_shared,                                             \
      .atomic_append = is_atomic,                                      \
      .open = sym##_open,                                              \
      .close = front_close,                                            \
      .stream_create = front_stream_create,                            \
      .stream_delete = front_stream_delete,                            \
      .stream_list = front_stream_list,                                \
      .append = front_append,                                          \
      .read = front_read,                                              \
      .bounds = front_bounds,                                          \
      .index_get = front_index_get,                                    \
      .index_save = front_index_save,                                  \
      .trim = front_trim,                                              \
      .producer_get = front_producer_get,                              \
  };

STORE_FRONT_END(ockami_store_memory, ockami_backend_memory, "memory", false, true)
STORE_FRONT_END(ockami_store_lmdb, ockami_backend_lmdb, "lmdb", false, true)
#ifdef OCKAM_HAVE_JETSTREAM
STORE_FRONT_END(ockami_store_jetstream, ockami_backend_jetstream, "jetstream", true, false)
#endif

static const ockami_store_ops *const backends[] = {
    &ockami_store_memory,
    &ockami_store_lmdb,
#ifdef OCKAM_HAVE_JETSTREAM
    &ockami_store_jetstream,
#endif
};

const ockami_store_ops *ockami_store_ops_find(const char *name) {
  if (!name) return NULL;
  for (size_t i = 0; i < sizeof backends / sizeof backends[0]; i++) {
    if (strcmp(backends[i]->name, name) == 0) return backends[i];
  }
  return NULL;
}
