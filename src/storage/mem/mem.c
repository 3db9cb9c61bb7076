/* "memory" backend: streams and consumer indexes in hash tables, records of a
 * stream in one array. Nothing survives close. */
#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"
#include "ockam/limits.h"
#include "storage.h"

#define MEM_LOG "storage.memory"

/* Chained hash table node; embedded first in streams and index entries. Keys
 * come from the network, so the hash is keyed SipHash (no collision floods). */
typedef struct mem_node {
  struct mem_node *next;
  uint64_t hash;
  const uint8_t *key;
  size_t key_len;
} mem_node;

typedef struct mem_table {
  mem_node **buckets;
  size_t nbuckets; /* power of two */
  size_t count;
} mem_table;

typedef struct mem_rec {
  uint64_t ts_ms; /* append time, for age retention */
  size_t len;
  uint8_t *data;
} mem_rec;

typedef struct mem_stream {
  mem_node node;
  mem_rec *recs; /* recs[start .. start+count) hold indexes first .. next-1 */
  size_t start;
  size_t count;
  size_t cap;
  size_t pending; /* slots reserved by the append in progress */
  uint64_t first;
  uint64_t next;
  uint64_t bytes;
  uint8_t name[];
} mem_stream;

typedef struct mem_index {
  mem_node node;
  uint64_t value;
  uint8_t key[]; /* client ‖ 0x00 ‖ stream */
} mem_index;

typedef struct mem_be {
  mem_table streams;
  mem_table indexes;
  uint8_t hash_key[crypto_shorthash_KEYBYTES];
  uint64_t max_messages;
  uint64_t max_bytes;
  uint64_t max_age_ms;
  uint32_t max_streams;
  uint32_t max_record;
} mem_be;

static uint64_t now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static uint64_t mem_hash(const mem_be *be, const void *key, size_t len) {
  uint8_t out[crypto_shorthash_BYTES];
  crypto_shorthash(out, key, len, be->hash_key);
  uint64_t h;
  memcpy(&h, out, sizeof h);
  return h;
}

static mem_node *table_find(const mem_table *t, const void *key, size_t len, uint64_t hash) {
  if (!t->nbuckets) return NULL;
  for (mem_node *n = t->buckets[hash & (t->nbuckets - 1)]; n; n = n->next) {
    if (n->hash == hash && n->key_len == len && memcmp(n->key, key, len) == 0) return n;
  }
  return NULL;
}

static int table_insert(mem_table *t, mem_node *node) {
  if (t->count + 1 > t->nbuckets / 2 * 3) { /* load factor 1.5 */
    size_t nb = t->nbuckets ? t->nbuckets * 2 : 64;
    mem_node **b = calloc(nb, sizeof *b);
    if (!b) return OCKAM_ENOMEM;
    for (size_t i = 0; i < t->nbuckets; i++) {
      mem_node *n = t->buckets[i];
      while (n) {
        mem_node *next = n->next;
        n->next = b[n->hash & (nb - 1)];
        b[n->hash & (nb - 1)] = n;
        n = next;
      }
    }
    free(t->buckets);
    t->buckets = b;
    t->nbuckets = nb;
  }
  mem_node **head = &t->buckets[node->hash & (t->nbuckets - 1)];
  node->next = *head;
  *head = node;
  t->count++;
  return OCKAM_OK;
}

static void stream_free(mem_stream *st) {
  for (size_t i = 0; i < st->count; i++) free(st->recs[st->start + i].data);
  free(st->recs);
  free(st);
}

static mem_stream *stream_find(mem_be *be, const char *name, size_t len) {
  return (mem_stream *)table_find(&be->streams, name, len, mem_hash(be, name, len));
}

/* Finds or creates a stream. Errors: OCKAM_EOVERFLOW (max_streams), OCKAM_ENOMEM. */
static int stream_get(mem_be *be, const char *name, size_t len, mem_stream **out) {
  uint64_t hash = mem_hash(be, name, len);
  mem_stream *st = (mem_stream *)table_find(&be->streams, name, len, hash);
  if (!st) {
    if (be->streams.count >= be->max_streams) return OCKAM_EOVERFLOW;
    st = calloc(1, sizeof *st + len);
    if (!st) return OCKAM_ENOMEM;
    memcpy(st->name, name, len);
    st->node.hash = hash;
    st->node.key = st->name;
    st->node.key_len = len;
    if (table_insert(&be->streams, &st->node)) {
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
  if (!opt || !out) return OCKAM_EINVAL;
  if (sodium_init() < 0) return OCKAM_ESTORAGE;
  mem_be *be = calloc(1, sizeof *be);
  if (!be) return OCKAM_ENOMEM;
  crypto_shorthash_keygen(be->hash_key);
  be->max_messages = opt->max_messages;
  be->max_bytes = opt->max_bytes;
  be->max_age_ms = opt->max_age_s > UINT64_MAX / 1000 ? UINT64_MAX / 1000 : opt->max_age_s * 1000;
  be->max_streams = opt->max_streams ? opt->max_streams : OCKAM_HUB_MAX_STREAMS;
  be->max_record = opt->max_record ? opt->max_record : OCKAM_STREAM_MESSAGE_MAX;
  *out = be;
  return OCKAM_OK;
}

static void mem_close(void *p) {
  mem_be *be = p;
  if (!be) return;
  for (size_t i = 0; i < be->streams.nbuckets; i++) {
    mem_node *n = be->streams.buckets[i];
    while (n) {
      mem_node *next = n->next;
      stream_free((mem_stream *)n);
      n = next;
    }
  }
  for (size_t i = 0; i < be->indexes.nbuckets; i++) {
    mem_node *n = be->indexes.buckets[i];
    while (n) {
      mem_node *next = n->next;
      free(n);
      n = next;
    }
  }
  free(be->streams.buckets);
  free(be->indexes.buckets);
  sodium_memzero(be->hash_key, sizeof be->hash_key);
  free(be);
}

static int mem_stream_create(void *p, const char *stream, size_t stream_len) {
  int rc = ockami_store_check_stream(stream, stream_len);
  if (rc) return rc;
  mem_stream *st;
  return stream_get(p, stream, stream_len, &st);
}

/* Two passes so that running out of memory stores nothing: the first creates
 * streams, reserves slots and copies data; the second cannot fail. */
static int mem_append(void *p, ockami_append *items, size_t n) {
  mem_be *be = p;
  if (n == 0) return OCKAM_OK;
  if (!items) return OCKAM_EINVAL;
  uint8_t **copies = calloc(n, sizeof *copies);
  mem_stream **sts = calloc(n, sizeof *sts);
  int rc = OCKAM_OK;
  if (!copies || !sts) {
    rc = OCKAM_ENOMEM;
    goto out;
  }
  for (size_t i = 0; i < n; i++) {
    ockami_append *it = &items[i];
    it->index = 0;
    it->status = ockami_store_check_stream(it->stream, it->stream_len);
    if (it->status) continue;
    if (it->len > be->max_record || (it->len && !it->data)) {
      it->status = it->len > be->max_record ? OCKAM_EOVERFLOW : OCKAM_EINVAL;
      continue;
    }
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
  }
  uint64_t now = now_ms();
  for (size_t i = 0; i < n; i++) {
    mem_stream *st = sts[i];
    if (!st) continue;
    st->recs[st->start + st->count] = (mem_rec){now, items[i].len, copies[i]};
    copies[i] = NULL;
    st->count++;
    st->pending--;
    st->bytes += items[i].len;
    items[i].index = st->next++;
    stream_retain(be, st, now, false);
  }
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
  int rc = ockami_store_check_stream(stream, stream_len);
  if (rc) return rc;
  if (!out) return OCKAM_EINVAL;
  mem_stream *st = stream_find(p, stream, stream_len);
  if (!st || limit == 0) return OCKAM_OK;
  if (from < st->first) from = st->first;
  size_t bytes = 0;
  uint32_t got = 0;
  for (uint64_t idx = from; idx < st->next && got < limit; idx++, got++) {
    const mem_rec *r = &st->recs[st->start + (size_t)(idx - st->first)];
    if (max_bytes && got > 0 && r->len > max_bytes - bytes) break;
    rc = ockami_records_push(out, idx, r->data, r->len);
    if (rc) return rc;
    bytes += r->len;
    if (max_bytes && bytes >= max_bytes) break;
  }
  return OCKAM_OK;
}

static int mem_bounds(void *p, const char *stream, size_t stream_len, uint64_t *first,
                      uint64_t *next) {
  int rc = ockami_store_check_stream(stream, stream_len);
  if (rc) return rc;
  mem_stream *st = stream_find(p, stream, stream_len);
  if (first) *first = st ? st->first : 0;
  if (next) *next = st ? st->next : 0;
  return OCKAM_OK;
}

/* Builds client ‖ 0x00 ‖ stream into key (at least 2 * OCKAM_NAME_MAX + 1 bytes). */
static int index_key(const char *client, size_t client_len, const char *stream, size_t stream_len,
                     uint8_t *key, size_t *key_len) {
  int rc = ockami_store_check_client(client, client_len);
  if (!rc) rc = ockami_store_check_stream(stream, stream_len);
  if (rc) return rc;
  memcpy(key, client, client_len);
  key[client_len] = 0;
  memcpy(key + client_len + 1, stream, stream_len);
  *key_len = client_len + 1 + stream_len;
  return OCKAM_OK;
}

static int mem_index_get(void *p, const char *client, size_t client_len, const char *stream,
                         size_t stream_len, uint64_t *index, bool *found) {
  mem_be *be = p;
  uint8_t key[2 * OCKAM_NAME_MAX + 1];
  size_t key_len;
  int rc = index_key(client, client_len, stream, stream_len, key, &key_len);
  if (rc) return rc;
  mem_index *e = (mem_index *)table_find(&be->indexes, key, key_len, mem_hash(be, key, key_len));
  if (found) *found = e != NULL;
  if (index) *index = e ? e->value : 0;
  return OCKAM_OK;
}

static int mem_index_save(void *p, const char *client, size_t client_len, const char *stream,
                          size_t stream_len, uint64_t index) {
  mem_be *be = p;
  uint8_t key[2 * OCKAM_NAME_MAX + 1];
  size_t key_len;
  int rc = index_key(client, client_len, stream, stream_len, key, &key_len);
  if (rc) return rc;
  uint64_t hash = mem_hash(be, key, key_len);
  mem_index *e = (mem_index *)table_find(&be->indexes, key, key_len, hash);
  if (e) {
    if (index > e->value) e->value = index;
    return OCKAM_OK;
  }
  e = calloc(1, sizeof *e + key_len);
  if (!e) return OCKAM_ENOMEM;
  memcpy(e->key, key, key_len);
  e->node.hash = hash;
  e->node.key = e->key;
  e->node.key_len = key_len;
  e->value = index;
  if (table_insert(&be->indexes, &e->node)) {
    free(e);
    return OCKAM_ENOMEM;
  }
  return OCKAM_OK;
}

static int mem_trim(void *p) {
  mem_be *be = p;
  if (!be->max_messages && !be->max_bytes && !be->max_age_ms) return OCKAM_OK;
  uint64_t now = now_ms();
  size_t dropped = 0;
  for (size_t i = 0; i < be->streams.nbuckets; i++) {
    for (mem_node *n = be->streams.buckets[i]; n; n = n->next) {
      dropped += stream_retain(be, (mem_stream *)n, now, true);
    }
  }
  if (dropped) LOG_DEBUG(MEM_LOG, "retention trimmed %zu streams", dropped);
  return OCKAM_OK;
}

const ockami_store_ops ockami_store_memory = {
    .name = "memory",
    .open = mem_open,
    .close = mem_close,
    .stream_create = mem_stream_create,
    .append = mem_append,
    .read = mem_read,
    .bounds = mem_bounds,
    .index_get = mem_index_get,
    .index_save = mem_index_save,
    .trim = mem_trim,
};
