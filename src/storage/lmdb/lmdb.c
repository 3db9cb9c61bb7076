/* "lmdb" backend: the default durable store.
 *
 * One LMDB environment in opt->dir (data.mdb + lock.mdb) with four named
 * databases:
 *   info     "format" → u32 BE layout version; "next_id" → u32 BE next stream id
 *   streams  name → meta: id u32 ‖ first u64 ‖ next u64 ‖ bytes u64 (all BE)
 *   records  id u32 ‖ index u64 (BE, so cursor order is index order)
 *            → append time u64 (ms since the epoch, BE) ‖ data
 *   indexes  client ‖ 0x00 ‖ stream → u64 BE
 * One append() call is one write transaction and one commit (group commit).
 */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <lmdb.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "ockam/limits.h"
#include "storage.h"

#define LDB_LOG "storage.lmdb"
#define LDB_FORMAT 1u
#define LDB_DEFAULT_MAP_SIZE (8ull << 30)
#define LDB_META_LEN 28
#define LDB_REC_KEY_LEN 12
#define LDB_REC_HDR 8
/* A data file check failed and was logged (not an LMDB or errno code). */
#define LDB_EBADFILE (-30000)
/* Longest key: an index key of two maximal names and the separator. */
#define LDB_KEY_MAX ((int)(2 * OCKAM_NAME_MAX + 1))

typedef struct ldb_meta {
  uint32_t id;
  uint64_t first;
  uint64_t next;
  uint64_t bytes;
} ldb_meta;

typedef struct ldb_be {
  MDB_env *env; /* NULL after a failed reopen; the next call retries */
  MDB_dbi info, streams, records, indexes;
  char *path; /* resolved data directory */
  size_t map_size;
  unsigned env_flags;
  uint64_t max_messages;
  uint64_t max_bytes;
  uint64_t max_age_ms;
  uint32_t max_streams;
  uint32_t max_record;
  /* fault injection, see storage.h */
  bool fail_after_set;
  uint64_t fail_after;
  uint64_t append_calls;
  char *fail_file;
} ldb_be;

/* LMDB must not open one environment twice in a process (its locks are per
 * process), so open directories are tracked process-wide. */
typedef struct ldb_open_dir {
  struct ldb_open_dir *next;
  char path[];
} ldb_open_dir;
static pthread_mutex_t open_dirs_lock = PTHREAD_MUTEX_INITIALIZER;
static ldb_open_dir *open_dirs;

static void put_u32(uint8_t *p, uint32_t v) {
  for (int i = 3; i >= 0; i--, v >>= 8) p[i] = (uint8_t)v;
}
static void put_u64(uint8_t *p, uint64_t v) {
  for (int i = 7; i >= 0; i--, v >>= 8) p[i] = (uint8_t)v;
}
static uint32_t get_u32(const uint8_t *p) {
  return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}
static uint64_t get_u64(const uint8_t *p) {
  uint64_t v = 0;
  for (int i = 0; i < 8; i++) v = v << 8 | p[i];
  return v;
}

static void meta_encode(const ldb_meta *m, uint8_t out[static LDB_META_LEN]) {
  put_u32(out, m->id);
  put_u64(out + 4, m->first);
  put_u64(out + 12, m->next);
  put_u64(out + 20, m->bytes);
}

static bool meta_decode(const MDB_val *v, ldb_meta *m) {
  if (v->mv_size != LDB_META_LEN) return false;
  const uint8_t *p = v->mv_data;
  m->id = get_u32(p);
  m->first = get_u64(p + 4);
  m->next = get_u64(p + 12);
  m->bytes = get_u64(p + 20);
  return m->first <= m->next;
}

static void rec_key(uint8_t out[static LDB_REC_KEY_LEN], uint32_t id, uint64_t index) {
  put_u32(out, id);
  put_u64(out + 4, index);
}

static uint64_t now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* LMDB codes are MDB_* (below -30700) or positive errno values. */
static int map_err(int rc) {
  switch (rc) {
    case 0:
      return OCKAM_OK;
    case MDB_MAP_FULL:
    case ENOSPC:
    case EDQUOT:
      return OCKAM_ENOSPC;
    case ENOMEM:
      return OCKAM_ENOMEM;
    default:
      return OCKAM_ESTORAGE;
  }
}

static int mkdir_p(const char *dir) {
  char path[PATH_MAX];
  size_t len = strlen(dir);
  if (len == 0 || len >= sizeof path) return ENAMETOOLONG;
  memcpy(path, dir, len + 1);
  for (char *p = path + 1; *p; p++) {
    if (*p != '/') continue;
    *p = 0;
    if (mkdir(path, 0700) != 0 && errno != EEXIST) return errno;
    *p = '/';
  }
  if (mkdir(path, 0700) != 0 && errno != EEXIST) return errno;
  struct stat st;
  if (stat(path, &st) != 0) return errno;
  return S_ISDIR(st.st_mode) ? 0 : ENOTDIR;
}

/* ---- opening and checking the environment ---------------------------- */

static int check_not_truncated(ldb_be *be, MDB_env *env) {
  MDB_envinfo info;
  MDB_stat st;
  int fd;
  struct stat fst;
  int rc = mdb_env_info(env, &info);
  if (!rc) rc = mdb_env_stat(env, &st);
  if (!rc) rc = mdb_env_get_fd(env, &fd);
  if (rc) return rc;
  if (fstat(fd, &fst) != 0) return errno;
  /* Every page up to the last one the newest meta page refers to has been
   * written; a shorter file was truncated, and touching its pages through the
   * map would fault (SIGBUS). */
  uint64_t need = ((uint64_t)info.me_last_pgno + 1) * st.ms_psize;
  if ((uint64_t)fst.st_size < need) {
    LOG_ERROR(LDB_LOG, "%s/data.mdb is truncated: %lld bytes, its pages need %" PRIu64, be->path,
              (long long)fst.st_size, need);
    return LDB_EBADFILE;
  }
  return 0;
}

static int open_dbis(ldb_be *be, MDB_env *env) {
  MDB_txn *txn;
  int rc = mdb_txn_begin(env, NULL, 0, &txn);
  if (rc) return rc;
  if ((rc = mdb_dbi_open(txn, "info", MDB_CREATE, &be->info)) ||
      (rc = mdb_dbi_open(txn, "streams", MDB_CREATE, &be->streams)) ||
      (rc = mdb_dbi_open(txn, "records", MDB_CREATE, &be->records)) ||
      (rc = mdb_dbi_open(txn, "indexes", MDB_CREATE, &be->indexes))) {
    mdb_txn_abort(txn);
    return rc;
  }
  MDB_val k = {6, "format"}, v;
  rc = mdb_get(txn, be->info, &k, &v);
  if (rc == MDB_NOTFOUND) {
    MDB_stat st;
    if ((rc = mdb_stat(txn, be->streams, &st)) == 0 && st.ms_entries != 0) {
      LOG_ERROR(LDB_LOG, "%s: streams present but no format record", be->path);
      rc = LDB_EBADFILE;
    }
    uint8_t fmt[4], next_id[4];
    put_u32(fmt, LDB_FORMAT);
    put_u32(next_id, 1);
    MDB_val fv = {4, fmt}, nk = {7, "next_id"}, nv = {4, next_id};
    if (!rc) rc = mdb_put(txn, be->info, &k, &fv, 0);
    if (!rc) rc = mdb_put(txn, be->info, &nk, &nv, 0);
  } else if (rc == 0 && (v.mv_size != 4 || get_u32(v.mv_data) != LDB_FORMAT)) {
    LOG_ERROR(LDB_LOG, "%s: unsupported data format", be->path);
    rc = LDB_EBADFILE;
  }
  if (rc) {
    mdb_txn_abort(txn);
    return rc;
  }
  return mdb_txn_commit(txn);
}

/* Walks the stream table once: each entry must decode, and the oldest and
 * newest record it claims must exist. Catches files whose pages do not match
 * their metadata before the hub serves from them. */
static int check_streams(ldb_be *be, MDB_env *env) {
  MDB_txn *txn;
  MDB_cursor *cur;
  int rc = mdb_txn_begin(env, NULL, MDB_RDONLY, &txn);
  if (rc) return rc;
  MDB_val k = {7, "next_id"}, v;
  uint32_t next_id = 0;
  rc = mdb_get(txn, be->info, &k, &v);
  if (rc == 0 && v.mv_size == 4) next_id = get_u32(v.mv_data);
  if (rc == 0 && v.mv_size != 4) rc = MDB_CORRUPTED;
  if (!rc) rc = mdb_cursor_open(txn, be->streams, &cur);
  if (rc) {
    mdb_txn_abort(txn);
    return rc;
  }
  size_t n = 0;
  for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
       rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT), n++) {
    ldb_meta m;
    if (!meta_decode(&v, &m) || m.id == 0 || m.id >= next_id || k.mv_size == 0 ||
        k.mv_size > OCKAM_NAME_MAX) {
      LOG_ERROR(LDB_LOG, "%s: bad metadata for stream #%zu", be->path, n);
      rc = LDB_EBADFILE;
      break;
    }
    if (m.first == m.next) continue;
    uint8_t key[LDB_REC_KEY_LEN];
    MDB_val rk = {sizeof key, key}, rv;
    rec_key(key, m.id, m.first);
    if ((rc = mdb_get(txn, be->records, &rk, &rv)) == 0 && rv.mv_size >= LDB_REC_HDR) {
      rec_key(key, m.id, m.next - 1);
      rc = mdb_get(txn, be->records, &rk, &rv);
    }
    if (rc == 0 && rv.mv_size < LDB_REC_HDR) rc = MDB_CORRUPTED;
    if (rc) {
      LOG_ERROR(LDB_LOG, "%s: records of stream #%zu (id %" PRIu32 ") missing: %s", be->path, n,
                m.id, mdb_strerror(rc));
      rc = LDB_EBADFILE;
      break;
    }
  }
  if (rc == MDB_NOTFOUND) rc = 0;
  mdb_cursor_close(cur);
  mdb_txn_abort(txn);
  return rc;
}

static int env_open(ldb_be *be) {
  MDB_env *env;
  int rc = mdb_env_create(&env);
  if (rc) return rc;
  if ((rc = mdb_env_set_maxdbs(env, 4)) || (rc = mdb_env_set_mapsize(env, be->map_size))) {
    mdb_env_close(env);
    return rc;
  }
  rc = mdb_env_open(env, be->path, be->env_flags, 0600);
  if (rc) {
    LOG_ERROR(LDB_LOG, "cannot open %s: %s", be->path, mdb_strerror(rc));
    mdb_env_close(env);
    return rc;
  }
  if (mdb_env_get_maxkeysize(env) < LDB_KEY_MAX) {
    LOG_ERROR(LDB_LOG, "liblmdb keys are limited to %d bytes; %d needed",
              mdb_env_get_maxkeysize(env), LDB_KEY_MAX);
    mdb_env_close(env);
    return LDB_EBADFILE;
  }
  if ((rc = check_not_truncated(be, env)) || (rc = open_dbis(be, env)) ||
      (rc = check_streams(be, env))) {
    if (rc == LDB_EBADFILE) {
      LOG_ERROR(LDB_LOG, "%s is not a usable stream store", be->path);
    } else {
      LOG_ERROR(LDB_LOG, "%s is not a usable stream store: %s", be->path, mdb_strerror(rc));
    }
    mdb_env_close(env);
    return rc;
  }
  MDB_envinfo info;
  if (mdb_env_info(env, &info) == 0) be->map_size = info.me_mapsize;
  be->env = env;
  return 0;
}

static void env_close(ldb_be *be) {
  if (!be->env) return;
  if (be->env_flags & MDB_NOSYNC) mdb_env_sync(be->env, 1);
  mdb_env_close(be->env);
  be->env = NULL;
}

static void dir_unregister(const char *path) {
  pthread_mutex_lock(&open_dirs_lock);
  for (ldb_open_dir **pp = &open_dirs; *pp; pp = &(*pp)->next) {
    if (strcmp((*pp)->path, path) == 0) {
      ldb_open_dir *d = *pp;
      *pp = d->next;
      free(d);
      break;
    }
  }
  pthread_mutex_unlock(&open_dirs_lock);
}

static int dir_register(const char *path) {
  int rc = OCKAM_OK;
  pthread_mutex_lock(&open_dirs_lock);
  for (ldb_open_dir *d = open_dirs; d; d = d->next) {
    if (strcmp(d->path, path) == 0) rc = OCKAM_EEXIST;
  }
  if (!rc) {
    size_t len = strlen(path) + 1;
    ldb_open_dir *d = malloc(sizeof *d + len);
    if (d) {
      memcpy(d->path, path, len);
      d->next = open_dirs;
      open_dirs = d;
    } else {
      rc = OCKAM_ENOMEM;
    }
  }
  pthread_mutex_unlock(&open_dirs_lock);
  return rc;
}

static void read_fault_env(ldb_be *be) {
  const char *after = getenv("OCKAM_STORE_FAIL_APPEND_AFTER");
  if (after && *after) {
    char *end;
    errno = 0;
    unsigned long long n = strtoull(after, &end, 10);
    if (errno == 0 && *end == 0) {
      be->fail_after_set = true;
      be->fail_after = n;
      LOG_WARN(LDB_LOG, "fault injection: appends after the %llu-th fail", n);
    }
  }
  const char *file = getenv("OCKAM_STORE_FAIL_FILE");
  if (file && *file) {
    be->fail_file = strdup(file);
    if (be->fail_file) LOG_WARN(LDB_LOG, "fault injection: appends fail while %s exists", file);
  }
}

static void ldb_close(void *p);

static int ldb_open(const ockami_store_options *opt, void **out) {
  if (!opt || !out) return OCKAM_EINVAL;
  if (!opt->dir || !*opt->dir) {
    LOG_ERROR(LDB_LOG, "no data directory given");
    return OCKAM_EINVAL;
  }
  int rc = mkdir_p(opt->dir);
  if (rc) {
    LOG_ERROR(LDB_LOG, "cannot create %s: %s", opt->dir, strerror(rc));
    return rc == ENOSPC ? OCKAM_ENOSPC : OCKAM_ESTORAGE;
  }
  ldb_be *be = calloc(1, sizeof *be);
  if (!be) return OCKAM_ENOMEM;
  be->path = realpath(opt->dir, NULL);
  if (!be->path) {
    free(be);
    return OCKAM_ENOMEM;
  }
  uint64_t map = opt->map_size ? opt->map_size : LDB_DEFAULT_MAP_SIZE;
  be->map_size = map > SIZE_MAX ? SIZE_MAX : (size_t)map;
  be->env_flags = MDB_NOTLS | (opt->no_sync ? MDB_NOSYNC : 0);
  be->max_messages = opt->max_messages;
  be->max_bytes = opt->max_bytes;
  be->max_age_ms = opt->max_age_s > UINT64_MAX / 1000 ? UINT64_MAX / 1000 : opt->max_age_s * 1000;
  be->max_streams = opt->max_streams ? opt->max_streams : OCKAM_HUB_MAX_STREAMS;
  be->max_record = opt->max_record ? opt->max_record : OCKAM_STREAM_MESSAGE_MAX;
  read_fault_env(be);
  rc = dir_register(be->path);
  if (rc) {
    if (rc == OCKAM_EEXIST) LOG_ERROR(LDB_LOG, "%s is already open in this process", be->path);
    free(be->fail_file);
    free(be->path);
    free(be);
    return rc;
  }
  rc = env_open(be);
  if (rc) {
    ldb_close(be);
    return rc == ENOMEM ? OCKAM_ENOMEM : rc == ENOSPC ? OCKAM_ENOSPC : OCKAM_ESTORAGE;
  }
  LOG_DEBUG(LDB_LOG, "opened %s (map %zu MiB%s)", be->path, be->map_size >> 20,
            opt->no_sync ? ", no sync" : "");
  *out = be;
  return OCKAM_OK;
}

static void ldb_close(void *p) {
  ldb_be *be = p;
  if (!be) return;
  env_close(be);
  dir_unregister(be->path);
  free(be->fail_file);
  free(be->path);
  free(be);
}

/* ---- transactions ---------------------------------------------------- */

static int txn_begin(ldb_be *be, unsigned flags, MDB_txn **txn) {
  int rc = be->env ? mdb_txn_begin(be->env, NULL, flags, txn) : MDB_PANIC;
  if (rc == MDB_MAP_RESIZED) {
    /* Another process grew the map: adopt its size (no txn is active). */
    mdb_env_set_mapsize(be->env, 0);
    rc = mdb_txn_begin(be->env, NULL, flags, txn);
  }
  if (rc == MDB_PANIC) {
    /* A failed meta write leaves the environment unusable until reopened;
     * the previous commit is still intact on disk. */
    LOG_ERROR(LDB_LOG, "%s: environment needs reopening", be->path);
    env_close(be);
    rc = env_open(be);
    if (!rc) rc = mdb_txn_begin(be->env, NULL, flags, txn);
  }
  if (rc) LOG_ERROR(LDB_LOG, "%s: cannot begin transaction: %s", be->path, mdb_strerror(rc));
  return rc;
}

/* Grows the map by at least its size and room for `hint` more bytes. Called
 * with no transaction active in this process (reads run on the same thread). */
static bool map_grow(ldb_be *be, size_t hint) {
  size_t add = be->map_size;
  size_t want = hint > SIZE_MAX / 4 ? SIZE_MAX / 2 : 2 * hint + (64u << 20);
  if (add < want) add = want;
  if (be->map_size > SIZE_MAX - add) return false;
  size_t size = be->map_size + add;
  int rc = mdb_env_set_mapsize(be->env, size);
  if (rc) {
    LOG_ERROR(LDB_LOG, "%s: cannot grow map to %zu MiB: %s", be->path, size >> 20,
              mdb_strerror(rc));
    return false;
  }
  LOG_INFO(LDB_LOG, "%s: map grown to %zu MiB", be->path, size >> 20);
  be->map_size = size;
  return true;
}

/* The body of a write transaction: returns an LMDB code, sets *changed when
 * there is something to commit. */
typedef int (*ldb_write_fn)(ldb_be *be, MDB_txn *txn, void *ctx, bool *changed);

/* Runs fn in one write transaction and commits it. On MDB_MAP_FULL the
 * transaction is aborted, the map grown and fn run once more from scratch. */
static int ldb_write(ldb_be *be, const char *what, ldb_write_fn fn, void *ctx, size_t hint) {
  for (int attempt = 0;; attempt++) {
    MDB_txn *txn;
    int rc = txn_begin(be, 0, &txn);
    if (rc) return map_err(rc);
    bool changed = false;
    rc = fn(be, txn, ctx, &changed);
    if (rc || !changed) {
      mdb_txn_abort(txn);
    } else {
      rc = mdb_txn_commit(txn);
    }
    if (rc == MDB_MAP_FULL && attempt == 0 && map_grow(be, hint)) continue;
    if (rc) {
      LOG_ERROR(LDB_LOG, "%s: %s failed: %s", be->path, what, mdb_strerror(rc));
      return map_err(rc);
    }
    return OCKAM_OK;
  }
}

static int meta_get(ldb_be *be, MDB_txn *txn, const char *name, size_t len, ldb_meta *m) {
  MDB_val k = {len, (void *)name}, v;
  int rc = mdb_get(txn, be->streams, &k, &v);
  if (rc == 0 && !meta_decode(&v, m)) rc = MDB_CORRUPTED;
  return rc;
}

static int meta_put(ldb_be *be, MDB_txn *txn, const char *name, size_t len, const ldb_meta *m) {
  uint8_t buf[LDB_META_LEN];
  meta_encode(m, buf);
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
  ids->next_id = get_u32(v.mv_data);
  ids->streams = st.ms_entries;
  ids->loaded = true;
  return 0;
}

static int ids_store(ldb_be *be, MDB_txn *txn, ldb_ids *ids) {
  if (!ids->dirty) return 0;
  uint8_t buf[4];
  put_u32(buf, ids->next_id);
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
    rec_key(key, m->id, m->first);
    int rc = mdb_get(txn, be->records, &k, &v);
    if (rc == 0 && v.mv_size < LDB_REC_HDR) rc = MDB_CORRUPTED;
    if (rc) return rc == MDB_NOTFOUND ? MDB_CORRUPTED : rc;
    if (!over && get_u64(v.mv_data) + be->max_age_ms > now) break;
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
  int rc = ockami_store_check_stream(stream, stream_len);
  if (rc) return rc;
  create_ctx c = {stream, stream_len, false};
  rc = ldb_write(p, "stream create", create_txn, &c, 4096);
  return rc ? rc : c.full ? OCKAM_EOVERFLOW : OCKAM_OK;
}

typedef struct append_ctx {
  ockami_append *items;
  size_t n;
  uint64_t now;
} append_ctx;

static int append_txn(ldb_be *be, MDB_txn *txn, void *p, bool *changed) {
  append_ctx *c = p;
  ldb_ids ids = {0};
  int rc = 0;
  for (size_t i = 0; i < c->n; i++) {
    ockami_append *it = &c->items[i];
    it->index = 0;
    it->status = ockami_store_check_stream(it->stream, it->stream_len);
    if (it->status) continue;
    if (it->len > be->max_record || (it->len && !it->data)) {
      it->status = it->len > be->max_record ? OCKAM_EOVERFLOW : OCKAM_EINVAL;
      continue;
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
    rec_key(key, m.id, m.next);
    MDB_val k = {sizeof key, key}, v = {LDB_REC_HDR + it->len, NULL};
    rc = mdb_put(txn, be->records, &k, &v, MDB_RESERVE | MDB_NOOVERWRITE);
    if (rc) return rc == MDB_KEYEXIST ? MDB_CORRUPTED : rc;
    put_u64(v.mv_data, c->now);
    if (it->len) memcpy((uint8_t *)v.mv_data + LDB_REC_HDR, it->data, it->len);
    it->index = m.next++;
    m.bytes += it->len;
    if ((rc = retain(be, txn, &m, c->now, false, changed))) return rc;
    if ((rc = meta_put(be, txn, it->stream, it->stream_len, &m))) return rc;
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
  if (n == 0) return OCKAM_OK;
  if (!items) return OCKAM_EINVAL;
  int rc;
  if (fault_injected(be)) {
    LOG_DEBUG(LDB_LOG, "%s: injected disk full", be->path);
    rc = OCKAM_ENOSPC;
  } else {
    size_t hint = 0;
    for (size_t i = 0; i < n; i++) {
      size_t add = items[i].len + LDB_REC_HDR + LDB_REC_KEY_LEN + 16;
      hint = hint > SIZE_MAX - add ? SIZE_MAX : hint + add;
    }
    append_ctx c = {items, n, now_ms()};
    rc = ldb_write(be, "append", append_txn, &c, hint);
  }
  if (rc) {
    for (size_t i = 0; i < n; i++) {
      items[i].status = rc;
      items[i].index = 0;
    }
  }
  return rc;
}

static int ldb_read(void *p, const char *stream, size_t stream_len, uint64_t from, uint32_t limit,
                    size_t max_bytes, ockami_records *out) {
  ldb_be *be = p;
  int rc = ockami_store_check_stream(stream, stream_len);
  if (rc) return rc;
  if (!out) return OCKAM_EINVAL;
  if (limit == 0) return OCKAM_OK;
  MDB_txn *txn;
  MDB_cursor *cur = NULL;
  if ((rc = txn_begin(be, MDB_RDONLY, &txn))) return map_err(rc);
  ldb_meta m;
  rc = meta_get(be, txn, stream, stream_len, &m);
  if (rc) {
    mdb_txn_abort(txn);
    return rc == MDB_NOTFOUND ? OCKAM_OK : map_err(rc);
  }
  if (from < m.first) from = m.first;
  if (from < m.next) rc = mdb_cursor_open(txn, be->records, &cur);
  int orc = OCKAM_OK;
  if (rc == 0 && cur) {
    uint8_t key[LDB_REC_KEY_LEN];
    rec_key(key, m.id, from);
    MDB_val k = {sizeof key, key}, v;
    size_t bytes = 0;
    uint32_t got = 0;
    for (rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE); rc == 0 && got < limit;
         rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
      if (k.mv_size != LDB_REC_KEY_LEN || get_u32(k.mv_data) != m.id) break;
      if (v.mv_size < LDB_REC_HDR) {
        rc = MDB_CORRUPTED;
        break;
      }
      size_t len = v.mv_size - LDB_REC_HDR;
      if (max_bytes && got > 0 && len > max_bytes - bytes) break;
      orc = ockami_records_push(out, get_u64((uint8_t *)k.mv_data + 4),
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
    return map_err(rc);
  }
  return orc;
}

static int ldb_bounds(void *p, const char *stream, size_t stream_len, uint64_t *first,
                      uint64_t *next) {
  ldb_be *be = p;
  int rc = ockami_store_check_stream(stream, stream_len);
  if (rc) return rc;
  MDB_txn *txn;
  if ((rc = txn_begin(be, MDB_RDONLY, &txn))) return map_err(rc);
  ldb_meta m = {0};
  rc = meta_get(be, txn, stream, stream_len, &m);
  mdb_txn_abort(txn);
  if (rc == MDB_NOTFOUND) {
    m = (ldb_meta){0};
    rc = 0;
  }
  if (rc) return map_err(rc);
  if (first) *first = m.first;
  if (next) *next = m.next;
  return OCKAM_OK;
}

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

static int ldb_index_get(void *p, const char *client, size_t client_len, const char *stream,
                         size_t stream_len, uint64_t *index, bool *found) {
  ldb_be *be = p;
  uint8_t key[LDB_KEY_MAX];
  size_t key_len;
  int rc = index_key(client, client_len, stream, stream_len, key, &key_len);
  if (rc) return rc;
  MDB_txn *txn;
  if ((rc = txn_begin(be, MDB_RDONLY, &txn))) return map_err(rc);
  MDB_val k = {key_len, key}, v;
  uint64_t value = 0;
  rc = mdb_get(txn, be->indexes, &k, &v);
  if (rc == 0 && v.mv_size != 8) rc = MDB_CORRUPTED;
  if (rc == 0) value = get_u64(v.mv_data);
  mdb_txn_abort(txn);
  if (rc && rc != MDB_NOTFOUND) return map_err(rc);
  if (found) *found = rc == 0;
  if (index) *index = value;
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
  if (rc == 0 && v.mv_size == 8 && get_u64(v.mv_data) >= c->index) return 0;
  if (rc && rc != MDB_NOTFOUND) return rc;
  uint8_t buf[8];
  put_u64(buf, c->index);
  v = (MDB_val){8, buf};
  if ((rc = mdb_put(txn, be->indexes, &k, &v, 0))) return rc;
  *changed = true;
  return 0;
}

static int ldb_index_save(void *p, const char *client, size_t client_len, const char *stream,
                          size_t stream_len, uint64_t index) {
  uint8_t key[LDB_KEY_MAX];
  size_t key_len;
  int rc = index_key(client, client_len, stream, stream_len, key, &key_len);
  if (rc) return rc;
  save_ctx c = {key, key_len, index};
  return ldb_write(p, "index save", save_txn, &c, 4096);
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
    if (!meta_decode(&v, &m)) {
      rc = MDB_CORRUPTED;
      break;
    }
    bool dropped = false;
    if ((rc = retain(be, txn, &m, now, true, &dropped))) break;
    if (!dropped) continue;
    uint8_t buf[LDB_META_LEN];
    meta_encode(&m, buf);
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
  uint64_t now = now_ms();
  return ldb_write(be, "trim", trim_txn, &now, 0);
}

const ockami_store_ops ockami_store_lmdb = {
    .name = "lmdb",
    .open = ldb_open,
    .close = ldb_close,
    .stream_create = ldb_stream_create,
    .append = ldb_append,
    .read = ldb_read,
    .bounds = ldb_bounds,
    .index_get = ldb_index_get,
    .index_save = ldb_index_save,
    .trim = ldb_trim,
};
