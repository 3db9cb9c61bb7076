/* "memory" backend: streams and consumer indexes in hash maps, records of a
 * stream in one array. Nothing survives close. The front end (storage.c) has
 * checked every argument (backend.h). */
#include <stdlib.h>
#include <string.h>

#include "backend.h"
#include "log.h"
#include "map.h"

#define MEM_LOG "storage.memory"

typedef struct mem_rec {
  uint64_t ts_ms; /* wall-clock append time, for age retention */
  size_t len;
  uint8_t *data;
} mem_rec;

typedef struct mem_stream {
  mem_rec *recs; /* recs[start .. start+count) hold indexes first .. next-1 */
  size_t start;
  size_t count;
  size_t cap;
  size_t pending; /* slots reserved by the append in progress */
  uint64_t first;
  uint64_t next;
  uint64_t bytes;
} mem_stream;

typedef struct mem_be {
  ockami_map streams; /* name -> mem_stream */
  ockami_map indexes; /* client ‖ 0x00 ‖ stream -> uint64_t */
  /* producer ‖ 0x00 ‖ stream -> ockami_producer_state (seq 0: a placeholder
   * made by an append that failed, the same as no state) */
  ockami_map producers;
  uint64_t max_messages;
  uint64_t max_bytes;
  uint64_t max_age_ms;
  uint32_t max_streams;
} mem_be;

static void stream_free(mem_stream *st) {
  for (size_t i = 0; i < st->count; i++) free(st->recs[st->start + i].data);
  free(st->recs);
  free(st);
}

/* Finds or creates a stream. Errors: OCKAM_EOVERFLOW (max_streams), OCKAM_ENOMEM. */
static int stream_get(mem_be *be, const char *name, size_t len, mem_stream **out) {
  mem_stream *st = ockami_map_get(&be->streams, name, len);
  if (!st) {
    if (be->streams.count >= be->max_streams) return OCKAM_EOVERFLOW;
    st = calloc(1, sizeof *st);
    if (!st) return OCKAM_ENOMEM;
    if (ockami_map_put(&be->streams, name, len, st)) {
      free(st);
      return OCKAM_ENOMEM;
    }
  }
  *out = st;
  return OCKAM_OK;
}

/* Makes room for `need` records after recs[start]: compacts the array when the
 * dropped prefix leaves enough space, grows it otherwise. */
static int stream_reserve(mem_stream *st, size_t need) {
  if (st->start + need <= st->cap) return OCKAM_OK;
  if (st->start) {
    memmove(st->recs, st->recs + st->start, st->count * sizeof *st->recs);
    st->start = 0;
    if (need <= st->cap) return OCKAM_OK;
  }
  size_t cap = st->cap ? st->cap : 16;
  while (cap < need) cap *= 2;
  if (cap > SIZE_MAX / sizeof *st->recs) return OCKAM_ENOMEM;
  mem_rec *recs = realloc(st->recs, cap * sizeof *recs);
  if (!recs) return OCKAM_ENOMEM;
  st->recs = recs;
  st->cap = cap;
  return OCKAM_OK;
}

static void stream_drop_oldest(mem_stream *st) {
  mem_rec *r = &st->recs[st->start];
  st->bytes -= r->len;
  free(r->data);
  st->start++;
  st->count--;
  st->first++;
  if (st->count == 0) st->start = 0;
}

/* Returns whether anything was dropped. */
static bool stream_retain(const mem_be *be, mem_stream *st, uint64_t now, bool by_age) {
  bool dropped = false;
  while (st->count > 1 && ((be->max_messages && st->count > be->max_messages) ||
                           (be->max_bytes && st->bytes > be->max_bytes))) {
    stream_drop_oldest(st);
    dropped = true;
  }
  if (by_age && be->max_age_ms) {
    while (st->count > 0 && st->recs[st->start].ts_ms + be->max_age_ms <= now) {
      stream_drop_oldest(st);
      dropped = true;
    }
  }
  return dropped;
}

static int mem_open(const ockami_store_options *opt, void **out) {
  mem_be *be = calloc(1, sizeof *be);
  if (!be) return OCKAM_ENOMEM;
  ockami_map_init(&be->streams);
  ockami_map_init(&be->indexes);
  ockami_map_init(&be->producers);
  be->max_messages = opt->max_messages;
  be->max_bytes = opt->max_bytes;
  be->max_age_ms = ockami_age_ms(opt->max_age_s);
  be->max_streams = opt->max_streams;
  *out = be;
  return OCKAM_OK;
}

static void mem_close(void *p) {
  mem_be *be = p;
  if (!be) return;
  ockami_map_iter it;
  ockami_map_iter_init(&be->streams, &it);
  for (ockami_map_entry *e; (e = ockami_map_iter_next(&it));) stream_free(e->value);
  ockami_map_iter_init(&be->indexes, &it);
  for (ockami_map_entry *e; (e = ockami_map_iter_next(&it));) free(e->value);
  ockami_map_iter_init(&be->producers, &it);
  for (ockami_map_entry *e; (e = ockami_map_iter_next(&it));) free(e->value);
  ockami_map_free(&be->streams);
  ockami_map_free(&be->indexes);
  ockami_map_free(&be->producers);
  free(be);
}

static int mem_stream_create(void *p, const char *stream, size_t stream_len) {
  mem_stream *st;
  return stream_get(p, stream, stream_len, &st);
}

static void remove_keys_for(ockami_map *m, const char *stream, size_t stream_len) {
  ockami_map_iter it;
  ockami_map_iter_init(m, &it);
  for (ockami_map_entry *e; (e = ockami_map_iter_next(&it));) {
    if (!ockami_index_key_is_for(e->key, e->key_len, stream, stream_len)) continue;
    free(e->value);
    ockami_map_remove(m, e->key, e->key_len);
  }
}

static int mem_stream_delete(void *p, const char *stream, size_t stream_len) {
  mem_be *be = p;
  remove_keys_for(&be->indexes, stream, stream_len);
  remove_keys_for(&be->producers, stream, stream_len);
  mem_stream *st = ockami_map_remove(&be->streams, stream, stream_len);
  if (!st) return OCKAM_ENOTFOUND;
  stream_free(st);
  return OCKAM_OK;
}

static int entry_name_cmp(const void *a, const void *b) {
  const ockami_map_entry *x = *(const ockami_map_entry *const *)a;
  const ockami_map_entry *y = *(const ockami_map_entry *const *)b;
  return ockami_name_cmp(x->key, x->key_len, y->key, y->key_len);
}

static int mem_stream_list(void *p, const char *after, size_t after_len, ockami_stream_info *out,
                           size_t max, size_t *count) {
  mem_be *be = p;
  if (be->streams.count == 0) return OCKAM_OK;
  ockami_map_entry **all = malloc(be->streams.count * sizeof *all);
  if (!all) return OCKAM_ENOMEM;
  size_t n = 0;
  ockami_map_iter it;
  ockami_map_iter_init(&be->streams, &it);
  for (ockami_map_entry *e; (e = ockami_map_iter_next(&it));) {
    if (after_len && ockami_name_cmp(e->key, e->key_len, after, after_len) <= 0) continue;
    all[n++] = e;
  }
  qsort(all, n, sizeof *all, entry_name_cmp);
  size_t k = 0;
  for (; k < n && k < max; k++) {
    const mem_stream *st = all[k]->value;
    uint64_t last = st->count ? st->recs[st->start + st->count - 1].ts_ms : 0;
    ockami_stream_info_set(&out[k], all[k]->key, all[k]->key_len, st->first, st->next, st->bytes,
                           last);
  }
  free(all);
  *count = k;
  return OCKAM_OK;
}

/* Makes sure the producer of `it` has a state entry (a zeroed placeholder
 * when new), so that the second pass of append cannot fail. */
static int producer_slot(mem_be *be, const ockami_append *it) {
  uint8_t key[OCKAMI_INDEX_KEY_MAX];
  size_t key_len =
      ockami_index_key(it->producer, it->producer_len, it->stream, it->stream_len, key);
  if (ockami_map_get(&be->producers, key, key_len)) return OCKAM_OK;
  ockami_producer_state *ps = calloc(1, sizeof *ps);
  if (!ps) return OCKAM_ENOMEM;
  if (ockami_map_put(&be->producers, key, key_len, ps)) {
    free(ps);
    return OCKAM_ENOMEM;
  }
  return OCKAM_OK;
}

/* Two passes so that running out of memory stores nothing: the first creates
 * streams, reserves slots and copies data; the second cannot fail. */
static int mem_append(void *p, ockami_append *items, size_t n) {
  mem_be *be = p;
  uint8_t **copies = calloc(n, sizeof *copies);
  mem_stream **sts = calloc(n, sizeof *sts);
  int rc = OCKAM_OK;
  if (!copies || !sts) {
    rc = OCKAM_ENOMEM;
    goto out;
  }
  for (size_t i = 0; i < n; i++) {
    ockami_append *it = &items[i];
    if (it->status) continue;
    mem_stream *st;
    int src = stream_get(be, it->stream, it->stream_len, &st);
    if (src == OCKAM_EOVERFLOW) {
      it->status = src;
      continue;
    }
    if (src || (src = stream_reserve(st, st->count + st->pending + 1))) {
      rc = src;
      goto out;
    }
    copies[i] = malloc(it->len ? it->len : 1);
    if (!copies[i]) {
      rc = OCKAM_ENOMEM;
      goto out;
    }
    if (it->len) memcpy(copies[i], it->data, it->len);
    st->pending++;
    sts[i] = st;
    if (it->producer_len && (rc = producer_slot(be, it))) goto out;
  }
  uint64_t now = ockami_realtime_ms();
  for (size_t i = 0; i < n; i++) {
    mem_stream *st = sts[i];
    if (!st) continue;
    ockami_producer_state *ps = NULL;
    if (items[i].producer_len) {
      uint8_t key[OCKAMI_INDEX_KEY_MAX];
      size_t key_len = ockami_index_key(items[i].producer, items[i].producer_len, items[i].stream,
                                        items[i].stream_len, key);
      ps = ockami_map_get(&be->producers, key, key_len);
      if (!ockami_idem_admit(ps, &items[i])) {
        st->pending--;
        sts[i] = NULL;
        continue;
      }
    }
    st->recs[st->start + st->count] = (mem_rec){now, items[i].len, copies[i]};
    copies[i] = NULL;
    st->count++;
    st->pending--;
    st->bytes += items[i].len;
    items[i].index = st->next++;
    if (ps) ockami_idem_commit(ps, &items[i]);
    stream_retain(be, st, now, false);
  }
  memset(sts, 0, n * sizeof *sts);
out:
  if (rc) {
    for (size_t i = 0; i < n && sts; i++) {
      if (sts[i]) sts[i]->pending--;
    }
  }
  for (size_t i = 0; i < n && copies; i++) free(copies[i]);
  free(copies);
  free(sts);
  return rc;
}

static int mem_read(void *p, const char *stream, size_t stream_len, uint64_t from, uint32_t limit,
                    size_t max_bytes, ockami_records *out) {
  mem_be *be = p;
  mem_stream *st = ockami_map_get(&be->streams, stream, stream_len);
  if (!st) return OCKAM_OK;
  if (from < st->first) from = st->first;
  size_t bytes = 0;
  uint32_t got = 0;
  for (uint64_t idx = from; idx < st->next && got < limit; idx++, got++) {
    const mem_rec *r = &st->recs[st->start + (size_t)(idx - st->first)];
    if (max_bytes && got > 0 && r->len > max_bytes - bytes) break;
    int rc = ockami_records_push(out, idx, r->data, r->len);
    if (rc) return rc;
    bytes += r->len;
    if (max_bytes && bytes >= max_bytes) break;
  }
  return OCKAM_OK;
}

static int mem_bounds(void *p, const char *stream, size_t stream_len, uint64_t *first,
                      uint64_t *next) {
  mem_be *be = p;
  mem_stream *st = ockami_map_get(&be->streams, stream, stream_len);
  *first = st ? st->first : 0;
  *next = st ? st->next : 0;
  return OCKAM_OK;
}

static int mem_index_get(void *p, const char *client, size_t client_len, const char *stream,
                         size_t stream_len, uint64_t *index, bool *found) {
  mem_be *be = p;
  uint8_t key[OCKAMI_INDEX_KEY_MAX];
  size_t key_len = ockami_index_key(client, client_len, stream, stream_len, key);
  const uint64_t *v = ockami_map_get(&be->indexes, key, key_len);
  *found = v != NULL;
  *index = v ? *v : 0;
  return OCKAM_OK;
}

static int mem_index_save(void *p, const char *client, size_t client_len, const char *stream,
                          size_t stream_len, uint64_t index) {
  mem_be *be = p;
  uint8_t key[OCKAMI_INDEX_KEY_MAX];
  size_t key_len = ockami_index_key(client, client_len, stream, stream_len, key);
  uint64_t *v = ockami_map_get(&be->indexes, key, key_len);
  if (v) {
    if (index > *v) *v = index;
    return OCKAM_OK;
  }
  v = malloc(sizeof *v);
  if (!v) return OCKAM_ENOMEM;
  *v = index;
  if (ockami_map_put(&be->indexes, key, key_len, v)) {
    free(v);
    return OCKAM_ENOMEM;
  }
  return OCKAM_OK;
}

static int mem_producer_get(void *p, const char *producer, size_t producer_len, const char *stream,
                            size_t stream_len, ockami_producer_state *out, bool *found) {
  mem_be *be = p;
  uint8_t key[OCKAMI_INDEX_KEY_MAX];
  size_t key_len = ockami_index_key(producer, producer_len, stream, stream_len, key);
  const ockami_producer_state *ps = ockami_map_get(&be->producers, key, key_len);
  *found = ps && ps->seq != 0;
  if (*found) *out = *ps;
  return OCKAM_OK;
}

static int mem_trim(void *p) {
  mem_be *be = p;
  if (!be->max_messages && !be->max_bytes && !be->max_age_ms) return OCKAM_OK;
  uint64_t now = ockami_realtime_ms();
  size_t dropped = 0;
  ockami_map_iter it;
  ockami_map_iter_init(&be->streams, &it);
  for (ockami_map_entry *e; (e = ockami_map_iter_next(&it));) {
    dropped += stream_retain(be, e->value, now, true);
  }
  if (dropped) LOG_DEBUG(MEM_LOG, "retention trimmed %zu streams", dropped);
  return OCKAM_OK;
}

const ockami_store_backend ockami_backend_memory = {
    .open = mem_open,
    .close = mem_close,
    .stream_create = mem_stream_create,
    .stream_delete = mem_stream_delete,
    .stream_list = mem_stream_list,
    .append = mem_append,
    .read = mem_read,
    .bounds = mem_bounds,
    .index_get = mem_index_get,
    .index_save = mem_index_save,
    .trim = mem_trim,
    .producer_get = mem_producer_get,
};
