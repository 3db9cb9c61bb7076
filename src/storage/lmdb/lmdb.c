/* "lmdb" backend: the ops (the environment is opened in lmdb_env.c; the
 * layout is described there). One append() call is one write transaction and
 * one commit (group commit). The front end (storage.c) has checked every
 * argument (backend.h). */
#include <string.h>
#include <unistd.h>

#include "lmdb_internal.h"
#include "log.h"

static int meta_get(ldb_be *be, MDB_txn *txn, const char *name, size_t len, ldb_meta *m) {
  MDB_val k = {len, (void *)name}, v;
  int rc = mdb_get(txn, be->streams, &k, &v);
  if (rc == 0 && !ockami_ldb_meta_decode(&v, m)) rc = MDB_CORRUPTED;
  return rc;
}

static int meta_put(ldb_be *be, MDB_txn *txn, const char *name, size_t len, const ldb_meta *m) {
  uint8_t buf[LDB_META_LEN];
  ockami_ldb_meta_encode(m, buf);
  MDB_val k = {len, (void *)name}, v = {sizeof buf, buf};
  return mdb_put(txn, be->streams, &k, &v, 0);
}

/* New-stream bookkeeping shared by stream_create and append. */
typedef struct ldb_ids {
  bool loaded;
  bool dirty;
  uint32_t next_id;
  size_t streams;
} ldb_ids;

static int ids_load(ldb_be *be, MDB_txn *txn, ldb_ids *ids) {
  if (ids->loaded) return 0;
  MDB_val k = {7, "next_id"}, v;
  MDB_stat st;
  int rc = mdb_get(txn, be->info, &k, &v);
  if (rc == 0 && v.mv_size != 4) rc = MDB_CORRUPTED;
  if (rc == 0) rc = mdb_stat(txn, be->streams, &st);
  if (rc) return rc;
  ids->next_id = ockami_load_be32(v.mv_data);
  ids->streams = st.ms_entries;
  ids->loaded = true;
  return 0;
}

static int ids_store(ldb_be *be, MDB_txn *txn, ldb_ids *ids) {
  if (!ids->dirty) return 0;
  uint8_t buf[4];
  ockami_store_be32(buf, ids->next_id);
  MDB_val k = {7, "next_id"}, v = {4, buf};
  return mdb_put(txn, be->info, &k, &v, 0);
}

/* Finds the stream or makes a new meta for it. *full is set when max_streams
 * forbids creating it. */
static int stream_lookup(ldb_be *be, MDB_txn *txn, ldb_ids *ids, const char *name, size_t len,
                         ldb_meta *m, bool *created, bool *full) {
  *created = *full = false;
  int rc = meta_get(be, txn, name, len, m);
  if (rc != MDB_NOTFOUND) return rc;
  if ((rc = ids_load(be, txn, ids))) return rc;
  if (ids->streams >= be->max_streams || ids->next_id == UINT32_MAX) {
    *full = true;
    return 0;
  }
  *m = (ldb_meta){.id = ids->next_id++};
  ids->streams++;
  ids->dirty = true;
  *created = true;
  return 0;
}

/* Drops the oldest records beyond the count and byte limits (keeping the
 * newest) and, with by_age, every record older than max_age. */
static int retain(ldb_be *be, MDB_txn *txn, ldb_meta *m, uint64_t now, bool by_age, bool *changed) {
  uint8_t key[LDB_REC_KEY_LEN];
  MDB_val k = {sizeof key, key}, v;
  while (m->first < m->next) {
    uint64_t count = m->next - m->first;
    bool over = count > 1 && ((be->max_messages && count > be->max_messages) ||
                              (be->max_bytes && m->bytes > be->max_bytes));
    if (!over && !(by_age && be->max_age_ms)) break;
    ockami_ldb_rec_key(key, m->id, m->first);
    int rc = mdb_get(txn, be->records, &k, &v);
    if (rc == 0 && v.mv_size < LDB_REC_HDR) rc = MDB_CORRUPTED;
    if (rc) return rc == MDB_NOTFOUND ? MDB_CORRUPTED : rc;
    if (!over && ockami_load_be64(v.mv_data) + be->max_age_ms > now) break;
    size_t len = v.mv_size - LDB_REC_HDR;
    if ((rc = mdb_del(txn, be->records, &k, NULL))) return rc;
    m->bytes = m->bytes >= len ? m->bytes - len : 0;
    m->first++;
    *changed = true;
  }
  return 0;
}

/* ---- ops --------------------------------------------------------------- */

typedef struct create_ctx {
  const char *name;
  size_t len;
  bool full;
} create_ctx;

static int create_txn(ldb_be *be, MDB_txn *txn, void *p, bool *changed) {
  create_ctx *c = p;
  ldb_ids ids = {0};
  ldb_meta m;
  bool created;
  int rc = stream_lookup(be, txn, &ids, c->name, c->len, &m, &created, &c->full);
  if (rc || !created) return rc;
  if ((rc = meta_put(be, txn, c->name, c->len, &m)) || (rc = ids_store(be, txn, &ids))) return rc;
  *changed = true;
  return 0;
}

static int ldb_stream_create(void *p, const char *stream, size_t stream_len) {
  create_ctx c = {stream, stream_len, false};
  int rc = ockami_ldb_write(p, "stream create", create_txn, &c, 4096);
  return rc ? rc : c.full ? OCKAM_EOVERFLOW : OCKAM_OK;
}

typedef struct append_ctx {
  ockami_append *items;
  size_t n;
  uint64_t now;
} append_ctx;

static int producer_load(ldb_be *be, MDB_txn *txn, const char *producer, size_t producer_len,
                         const char *stream, size_t stream_len, ockami_producer_state *ps) {
  uint8_t key[OCKAMI_INDEX_KEY_MAX];
  MDB_val k = {ockami_index_key(producer, producer_len, stream, stream_len, key), key}, v;
  memset(ps, 0, sizeof *ps);
  int rc = mdb_get(txn, be->producers, &k, &v);
  if (rc == MDB_NOTFOUND) return 0;
  if (rc == 0 && !ockami_producer_state_decode(v.mv_data, v.mv_size, ps)) rc = MDB_CORRUPTED;
  return rc;
}

static int producer_store(ldb_be *be, MDB_txn *txn, const ockami_append *it,
                          const ockami_producer_state *ps) {
  uint8_t key[OCKAMI_INDEX_KEY_MAX], val[OCKAMI_PRODUCER_STATE_LEN];
  ockami_producer_state_encode(ps, val);
  MDB_val k = {ockami_index_key(it->producer, it->producer_len, it->stream, it->stream_len, key),
               key},
          v = {sizeof val, val};
  return mdb_put(txn, be->producers, &k, &v, 0);
}

static int append_txn(ldb_be *be, MDB_txn *txn, void *p, bool *changed) {
  append_ctx *c = p;
  ldb_ids ids = {0};
  int rc = 0;
  for (size_t i = 0; i < c->n; i++) {
    ockami_append *it = &c->items[i];
    if (it->status) continue;
    /* This body may run twice (map growth): start each record afresh. */
    it->idem = OCKAMI_IDEM_STORED;
    it->index = it->expected = 0;
    ockami_producer_state ps;
    if (it->producer_len) {
      rc = producer_load(be, txn, it->producer, it->producer_len, it->stream, it->stream_len, &ps);
      if (rc) return rc;
      if (!ockami_idem_admit(&ps, it)) continue;
    }
    ldb_meta m;
    bool created, full;
    rc = stream_lookup(be, txn, &ids, it->stream, it->stream_len, &m, &created, &full);
    if (rc) return rc;
    if (full) {
      it->status = OCKAM_EOVERFLOW;
      continue;
    }
    uint8_t key[LDB_REC_KEY_LEN];
    ockami_ldb_rec_key(key, m.id, m.next);
    MDB_val k = {sizeof key, key}, v = {LDB_REC_HDR + it->len, NULL};
    rc = mdb_put(txn, be->records, &k, &v, MDB_RESERVE | MDB_NOOVERWRITE);
    if (rc) return rc == MDB_KEYEXIST ? MDB_CORRUPTED : rc;
    ockami_store_be64(v.mv_data, c->now);
    if (it->len) memcpy((uint8_t *)v.mv_data + LDB_REC_HDR, it->data, it->len);
    it->index = m.next++;
    m.bytes += it->len;
    if ((rc = retain(be, txn, &m, c->now, false, changed))) return rc;
    if ((rc = meta_put(be, txn, it->stream, it->stream_len, &m))) return rc;
    if (it->producer_len) {
      ockami_idem_commit(&ps, it);
      if ((rc = producer_store(be, txn, it, &ps))) return rc;
    }
    *changed = true;
  }
  return ids_store(be, txn, &ids);
}

static bool fault_injected(ldb_be *be) {
  be->append_calls++;
  if (be->fail_after_set && be->append_calls > be->fail_after) return true;
  return be->fail_file && access(be->fail_file, F_OK) == 0;
}

static int ldb_append(void *p, ockami_append *items, size_t n) {
  ldb_be *be = p;
  if (fault_injected(be)) {
    LOG_DEBUG(LDB_LOG, "%s: injected disk full", be->path);
    return OCKAM_ENOSPC;
  }
  size_t hint = 0;
  for (size_t i = 0; i < n; i++) {
    size_t add = items[i].len + LDB_REC_HDR + LDB_REC_KEY_LEN + 16;
    hint = hint > SIZE_MAX - add ? SIZE_MAX : hint + add;
  }
  append_ctx c = {items, n, ockami_realtime_ms()};
  return ockami_ldb_write(be, "append", append_txn, &c, hint);
}

static int ldb_read(void *p, const char *stream, size_t stream_len, uint64_t from, uint32_t limit,
                    size_t max_bytes, ockami_records *out) {
  ldb_be *be = p;
  int rc;
  MDB_txn *txn;
  MDB_cursor *cur = NULL;
  if ((rc = ockami_ldb_txn_begin(be, MDB_RDONLY, &txn))) return ockami_ldb_map_err(rc);
  ldb_meta m;
  rc = meta_get(be, txn, stream, stream_len, &m);
  if (rc) {
    mdb_txn_abort(txn);
    return rc == MDB_NOTFOUND ? OCKAM_OK : ockami_ldb_map_err(rc);
  }
  if (from < m.first) from = m.first;
  if (from < m.next) rc = mdb_cursor_open(txn, be->records, &cur);
  int orc = OCKAM_OK;
  if (rc == 0 && cur) {
    uint8_t key[LDB_REC_KEY_LEN];
    ockami_ldb_rec_key(key, m.id, from);
    MDB_val k = {sizeof key, key}, v;
    size_t bytes = 0;
    uint32_t got = 0;
    for (rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE); rc == 0 && got < limit;
         rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
      if (k.mv_size != LDB_REC_KEY_LEN || ockami_load_be32(k.mv_data) != m.id) break;
      if (v.mv_size < LDB_REC_HDR) {
        rc = MDB_CORRUPTED;
        break;
      }
      size_t len = v.mv_size - LDB_REC_HDR;
      if (max_bytes && got > 0 && len > max_bytes - bytes) break;
      orc = ockami_records_push(out, ockami_load_be64((uint8_t *)k.mv_data + 4),
                                (const uint8_t *)v.mv_data + LDB_REC_HDR, len);
      if (orc) break;
      got++;
      bytes += len;
      if (max_bytes && bytes >= max_bytes) break;
    }
    if (rc == MDB_NOTFOUND) rc = 0;
  }
  if (cur) mdb_cursor_close(cur);
  mdb_txn_abort(txn);
  if (rc) {
    LOG_ERROR(LDB_LOG, "%s: read failed: %s", be->path, mdb_strerror(rc));
    return ockami_ldb_map_err(rc);
  }
  return orc;
}

static int ldb_bounds(void *p, const char *stream, size_t stream_len, uint64_t *first,
                      uint64_t *next) {
  ldb_be *be = p;
  MDB_txn *txn;
  int rc = ockami_ldb_txn_begin(be, MDB_RDONLY, &txn);
  if (rc) return ockami_ldb_map_err(rc);
  ldb_meta m = {0};
  rc = meta_get(be, txn, stream, stream_len, &m);
  mdb_txn_abort(txn);
  if (rc == MDB_NOTFOUND) {
    m = (ldb_meta){0};
    rc = 0;
  }
  if (rc) return ockami_ldb_map_err(rc);
  *first = m.first;
  *next = m.next;
  return OCKAM_OK;
}

static int ldb_index_get(void *p, const char *client, size_t client_len, const char *stream,
                         size_t stream_len, uint64_t *index, bool *found) {
  ldb_be *be = p;
  uint8_t key[OCKAMI_INDEX_KEY_MAX];
  size_t key_len = ockami_index_key(client, client_len, stream, stream_len, key);
  MDB_txn *txn;
  int rc = ockami_ldb_txn_begin(be, MDB_RDONLY, &txn);
  if (rc) return ockami_ldb_map_err(rc);
  MDB_val k = {key_len, key}, v;
  uint64_t value = 0;
  rc = mdb_get(txn, be->indexes, &k, &v);
  if (rc == 0 && v.mv_size != 8) rc = MDB_CORRUPTED;
  if (rc == 0) value = ockami_load_be64(v.mv_data);
  mdb_txn_abort(txn);
  if (rc && rc != MDB_NOTFOUND) return ockami_ldb_map_err(rc);
  *found = rc == 0;
  *index = value;
  return OCKAM_OK;
}

static int ldb_producer_get(void *p, const char *producer, size_t producer_len, const char *stream,
                            size_t stream_len, ockami_producer_state *out, bool *found) {
  ldb_be *be = p;
  MDB_txn *txn;
  int rc = ockami_ldb_txn_begin(be, MDB_RDONLY, &txn);
  if (rc) return ockami_ldb_map_err(rc);
  rc = producer_load(be, txn, producer, producer_len, stream, stream_len, out);
  mdb_txn_abort(txn);
  if (rc) return ockami_ldb_map_err(rc);
  *found = out->seq != 0;
  return OCKAM_OK;
}

typedef struct save_ctx {
  const uint8_t *key;
  size_t key_len;
  uint64_t index;
} save_ctx;

static int save_txn(ldb_be *be, MDB_txn *txn, void *p, bool *changed) {
  save_ctx *c = p;
  MDB_val k = {c->key_len, (void *)c->key}, v;
  int rc = mdb_get(txn, be->indexes, &k, &v);
  if (rc == 0 && v.mv_size == 8 && ockami_load_be64(v.mv_data) >= c->index) return 0;
  if (rc && rc != MDB_NOTFOUND) return rc;
  uint8_t buf[8];
  ockami_store_be64(buf, c->index);
  v = (MDB_val){8, buf};
  if ((rc = mdb_put(txn, be->indexes, &k, &v, 0))) return rc;
  *changed = true;
  return 0;
}

static int ldb_index_save(void *p, const char *client, size_t client_len, const char *stream,
                          size_t stream_len, uint64_t index) {
  uint8_t key[OCKAMI_INDEX_KEY_MAX];
  size_t key_len = ockami_index_key(client, client_len, stream, stream_len, key);
  save_ctx c = {key, key_len, index};
  return ockami_ldb_write(p, "index save", save_txn, &c, 4096);
}

static int trim_txn(ldb_be *be, MDB_txn *txn, void *p, bool *changed) {
  uint64_t now = *(const uint64_t *)p;
  MDB_cursor *cur;
  int rc = mdb_cursor_open(txn, be->streams, &cur);
  if (rc) return rc;
  MDB_val k, v;
  for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
       rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
    ldb_meta m;
    if (!ockami_ldb_meta_decode(&v, &m)) {
      rc = MDB_CORRUPTED;
      break;
    }
    bool dropped = false;
    if ((rc = retain(be, txn, &m, now, true, &dropped))) break;
    if (!dropped) continue;
    uint8_t buf[LDB_META_LEN];
    ockami_ldb_meta_encode(&m, buf);
    MDB_val nv = {sizeof buf, buf};
    if ((rc = mdb_cursor_put(cur, &k, &nv, MDB_CURRENT))) break;
    *changed = true;
  }
  mdb_cursor_close(cur);
  return rc == MDB_NOTFOUND ? 0 : rc;
}

static int ldb_trim(void *p) {
  ldb_be *be = p;
  if (!be->max_messages && !be->max_bytes && !be->max_age_ms) return OCKAM_OK;
  uint64_t now = ockami_realtime_ms();
  return ockami_ldb_write(be, "trim", trim_txn, &now, 0);
}

typedef struct delete_ctx {
  const char *name;
  size_t len;
  bool found;
} delete_ctx;

/* Deletes every entry of dbi from key k on while keep(k) holds. */
static int del_run(MDB_txn *txn, MDB_dbi dbi, MDB_val *start,
                   bool (*keep)(const MDB_val *k, const void *arg), const void *arg,
                   bool *changed) {
  MDB_cursor *cur;
  int rc = mdb_cursor_open(txn, dbi, &cur);
  if (rc) return rc;
  MDB_val k = start ? *start : (MDB_val){0, NULL}, v;
  for (rc = mdb_cursor_get(cur, &k, &v, start ? MDB_SET_RANGE : MDB_FIRST); rc == 0;
       rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
    if (!keep(&k, arg)) {
      if (start) break; /* past the run */
      continue;
    }
    if ((rc = mdb_cursor_del(cur, 0))) break;
    *changed = true;
  }
  mdb_cursor_close(cur);
  return rc == MDB_NOTFOUND ? 0 : rc;
}

static bool rec_of_stream(const MDB_val *k, const void *arg) {
  return k->mv_size == LDB_REC_KEY_LEN && ockami_load_be32(k->mv_data) == *(const uint32_t *)arg;
}

static bool index_of_stream(const MDB_val *k, const void *arg) {
  const delete_ctx *c = arg;
  return ockami_index_key_is_for(k->mv_data, k->mv_size, c->name, c->len);
}

/* Indexes are keyed client first, so finding a stream's indexes takes a pass
 * over all of them; deletes are rare (idle expiry, operators). */
static int delete_txn(ldb_be *be, MDB_txn *txn, void *p, bool *changed) {
  delete_ctx *c = p;
  int rc = del_run(txn, be->indexes, NULL, index_of_stream, c, changed);
  if (!rc) rc = del_run(txn, be->producers, NULL, index_of_stream, c, changed);
  if (rc) return rc;
  ldb_meta m;
  rc = meta_get(be, txn, c->name, c->len, &m);
  if (rc == MDB_NOTFOUND) return 0;
  if (rc) return rc;
  c->found = true;
  uint8_t key[LDB_REC_KEY_LEN];
  ockami_ldb_rec_key(key, m.id, 0);
  MDB_val start = {sizeof key, key}, k = {c->len, (void *)c->name};
  if ((rc = del_run(txn, be->records, &start, rec_of_stream, &m.id, changed))) return rc;
  if ((rc = mdb_del(txn, be->streams, &k, NULL))) return rc;
  *changed = true;
  return 0;
}

static int ldb_stream_delete(void *p, const char *stream, size_t stream_len) {
  delete_ctx c = {stream, stream_len, false};
  int rc = ockami_ldb_write(p, "stream delete", delete_txn, &c, 4096);
  return rc ? rc : c.found ? OCKAM_OK : OCKAM_ENOTFOUND;
}

/* One stream_list entry from a streams-table entry. */
static int list_entry(ldb_be *be, MDB_txn *txn, const MDB_val *k, const MDB_val *v,
                      ockami_stream_info *info) {
  ldb_meta m;
  if (!ockami_ldb_meta_decode(v, &m) || k->mv_size == 0 || k->mv_size > OCKAM_NAME_MAX) {
    return MDB_CORRUPTED;
  }
  uint64_t last_ms = 0;
  if (m.first < m.next) {
    uint8_t key[LDB_REC_KEY_LEN];
    ockami_ldb_rec_key(key, m.id, m.next - 1);
    MDB_val rk = {sizeof key, key}, rv;
    int rc = mdb_get(txn, be->records, &rk, &rv);
    if (rc == 0 && rv.mv_size < LDB_REC_HDR) rc = MDB_CORRUPTED;
    if (rc) return rc == MDB_NOTFOUND ? MDB_CORRUPTED : rc;
    last_ms = ockami_load_be64(rv.mv_data);
  }
  ockami_stream_info_set(info, k->mv_data, k->mv_size, m.first, m.next, m.bytes, last_ms);
  return 0;
}

static int ldb_stream_list(void *p, const char *after, size_t after_len, ockami_stream_info *out,
                           size_t max, size_t *count) {
  ldb_be *be = p;
  MDB_txn *txn;
  MDB_cursor *cur;
  int rc = ockami_ldb_txn_begin(be, MDB_RDONLY, &txn);
  if (rc) return ockami_ldb_map_err(rc);
  if ((rc = mdb_cursor_open(txn, be->streams, &cur))) {
    mdb_txn_abort(txn);
    return ockami_ldb_map_err(rc);
  }
  MDB_val k = {after_len, (void *)after}, v;
  rc = mdb_cursor_get(cur, &k, &v, after_len ? MDB_SET_RANGE : MDB_FIRST);
  if (rc == 0 && after_len && ockami_name_cmp(k.mv_data, k.mv_size, after, after_len) == 0) {
    rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
  }
  size_t n = 0;
  for (; rc == 0 && n < max; rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
    if ((rc = list_entry(be, txn, &k, &v, &out[n]))) break;
    n++;
  }
  if (rc == MDB_NOTFOUND) rc = 0;
  mdb_cursor_close(cur);
  mdb_txn_abort(txn);
  if (rc) {
    LOG_ERROR(LDB_LOG, "%s: listing streams failed: %s", be->path, mdb_strerror(rc));
    return ockami_ldb_map_err(rc);
  }
  *count = n;
  return OCKAM_OK;
}

const ockami_store_backend ockami_backend_lmdb = {
    .producer_get = ldb_producer_get,
    .open = ockami_ldb_open,
    .close = ockami_ldb_close,
    .stream_create = ldb_stream_create,
    .stream_delete = ldb_stream_delete,
    .stream_list = ldb_stream_list,
    .append = ldb_append,
    .read = ldb_read,
    .bounds = ldb_bounds,
    .index_get = ldb_index_get,
    .index_save = ldb_index_save,
    .trim = ldb_trim,
};
