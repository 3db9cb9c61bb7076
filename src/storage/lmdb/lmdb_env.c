/* "lmdb" backend: opening, checking and growing the environment, and the
 * transaction helpers. The ops are in lmdb.c.
 *
 * One LMDB environment in opt->dir (data.mdb + lock.mdb) with five named
 * databases:
 *   info     "format" → u32 BE layout version; "next_id" → u32 BE next stream id
 *   streams  name → meta: id u32 ‖ first u64 ‖ next u64 ‖ bytes u64 (all BE)
 *   records  id u32 ‖ index u64 (BE, so cursor order is index order)
 *            → append time u64 (ms since the epoch, BE) ‖ data
 *   indexes  client ‖ 0x00 ‖ stream → u64 BE
 *   producers  producer ‖ 0x00 ‖ stream → session u64 ‖ seq u64 ‖ index u64 ‖
 *            run_seq u64 (BE; idempotent producers, storage.h), written in
 *            the append's own transaction
 * One append() call is one write transaction and one commit (group commit).
 * Deleting a stream removes its meta, its records and every index whose key
 * ends in 0x00 ‖ its name, in one transaction.
 */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>

#include "lmdb_internal.h"
#include "log.h"

/* LMDB must not open one environment twice in a process (its locks are per
 * process), so open directories are tracked process-wide. */
typedef struct ldb_open_dir {
  struct ldb_open_dir *next;
  char path[];
} ldb_open_dir;
static pthread_mutex_t open_dirs_lock = PTHREAD_MUTEX_INITIALIZER;
static ldb_open_dir *open_dirs;

void ockami_ldb_meta_encode(const ldb_meta *m, uint8_t out[static LDB_META_LEN]) {
  ockami_store_be32(out, m->id);
  ockami_store_be64(out + 4, m->first);
  ockami_store_be64(out + 12, m->next);
  ockami_store_be64(out + 20, m->bytes);
}

bool ockami_ldb_meta_decode(const MDB_val *v, ldb_meta *m) {
  if (v->mv_size != LDB_META_LEN) return false;
  const uint8_t *p = v->mv_data;
  m->id = ockami_load_be32(p);
  m->first = ockami_load_be64(p + 4);
  m->next = ockami_load_be64(p + 12);
  m->bytes = ockami_load_be64(p + 20);
  return m->first <= m->next;
}

void ockami_ldb_rec_key(uint8_t out[static LDB_REC_KEY_LEN], uint32_t id, uint64_t index) {
  ockami_store_be32(out, id);
  ockami_store_be64(out + 4, index);
}

/* LMDB codes are MDB_* (below -30700) or positive errno values. */
int ockami_ldb_map_err(int rc) {
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
      (rc = mdb_dbi_open(txn, "indexes", MDB_CREATE, &be->indexes)) ||
      (rc = mdb_dbi_open(txn, "producers", MDB_CREATE, &be->producers))) {
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
    ockami_store_be32(fmt, LDB_FORMAT);
    ockami_store_be32(next_id, 1);
    MDB_val fv = {4, fmt}, nk = {7, "next_id"}, nv = {4, next_id};
    if (!rc) rc = mdb_put(txn, be->info, &k, &fv, 0);
    if (!rc) rc = mdb_put(txn, be->info, &nk, &nv, 0);
  } else if (rc == 0 && (v.mv_size != 4 || ockami_load_be32(v.mv_data) != LDB_FORMAT)) {
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
  if (rc == 0 && v.mv_size == 4) next_id = ockami_load_be32(v.mv_data);
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
    if (!ockami_ldb_meta_decode(&v, &m) || m.id == 0 || m.id >= next_id || k.mv_size == 0 ||
        k.mv_size > OCKAM_NAME_MAX) {
      LOG_ERROR(LDB_LOG, "%s: bad metadata for stream #%zu", be->path, n);
      rc = LDB_EBADFILE;
      break;
    }
    if (m.first == m.next) continue;
    uint8_t key[LDB_REC_KEY_LEN];
    MDB_val rk = {sizeof key, key}, rv;
    ockami_ldb_rec_key(key, m.id, m.first);
    if ((rc = mdb_get(txn, be->records, &rk, &rv)) == 0 && rv.mv_size >= LDB_REC_HDR) {
      ockami_ldb_rec_key(key, m.id, m.next - 1);
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
  if ((rc = mdb_env_set_maxdbs(env, 5)) || (rc = mdb_env_set_mapsize(env, be->map_size))) {
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

/* Test builds only (OCKAM_TEST_HOOKS): a release build never reads these. */
static void read_fault_env(ldb_be *be) {
#ifdef OCKAM_TEST_HOOKS
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
#else
  (void)be;
#endif
}

int ockami_ldb_open(const ockami_store_options *opt, void **out) {
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
  be->max_age_ms = ockami_age_ms(opt->max_age_s);
  be->max_streams = opt->max_streams;
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
    ockami_ldb_close(be);
    return rc == ENOMEM ? OCKAM_ENOMEM : rc == ENOSPC ? OCKAM_ENOSPC : OCKAM_ESTORAGE;
  }
  LOG_DEBUG(LDB_LOG, "opened %s (map %zu MiB%s)", be->path, be->map_size >> 20,
            opt->no_sync ? ", no sync" : "");
  *out = be;
  return OCKAM_OK;
}

void ockami_ldb_close(void *p) {
  ldb_be *be = p;
  if (!be) return;
  env_close(be);
  dir_unregister(be->path);
  free(be->fail_file);
  free(be->path);
  free(be);
}

/* ---- transactions ---------------------------------------------------- */

int ockami_ldb_txn_begin(ldb_be *be, unsigned flags, MDB_txn **txn) {
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

/* LMDB reports a short write as EIO ("filesystem full?" in its source): a
 * file system full is the usual reason, so say so when it is. */
static int disk_full_or(const ldb_be *be, int rc) {
  struct statvfs v;
  if (rc == EIO && statvfs(be->path, &v) == 0 && (uint64_t)v.f_bavail * v.f_frsize < (1u << 20))
    return ENOSPC;
  return rc;
}

/* Runs fn in one write transaction and commits it. On MDB_MAP_FULL the
 * transaction is aborted, the map grown and fn run once more from scratch. */
int ockami_ldb_write(ldb_be *be, const char *what, ldb_write_fn fn, void *ctx, size_t hint) {
  for (int attempt = 0;; attempt++) {
    MDB_txn *txn;
    int rc = ockami_ldb_txn_begin(be, 0, &txn);
    if (rc) return ockami_ldb_map_err(rc);
    bool changed = false;
    rc = fn(be, txn, ctx, &changed);
    if (rc || !changed) {
      mdb_txn_abort(txn);
    } else {
      rc = mdb_txn_commit(txn);
    }
    if (rc == MDB_MAP_FULL && attempt == 0 && map_grow(be, hint)) continue;
    if (rc) {
      rc = disk_full_or(be, rc);
      LOG_ERROR(LDB_LOG, "%s: %s failed: %s", be->path, what, mdb_strerror(rc));
      return ockami_ldb_map_err(rc);
    }
    return OCKAM_OK;
  }
}
