/* The lmdb backend's shared parts: its record layout, the instance, and the
 * environment and transaction helpers (lmdb_env.c) its ops (lmdb.c) use. */
#ifndef OCKAMI_STORAGE_LMDB_INTERNAL_H
#define OCKAMI_STORAGE_LMDB_INTERNAL_H

#include <lmdb.h>
#include <stdbool.h>
#include <stdint.h>

#include "backend.h"
#include "bytes.h"

#define LDB_LOG "storage.lmdb"
#define LDB_FORMAT 1u
#define LDB_DEFAULT_MAP_SIZE (8ull << 30)
#define LDB_META_LEN 28
#define LDB_REC_KEY_LEN 12
#define LDB_REC_HDR 8
/* A data file check failed and was logged (not an LMDB or errno code). */
#define LDB_EBADFILE (-30000)
/* Longest key: an index key of two maximal names and the separator. */
#define LDB_KEY_MAX ((int)OCKAMI_INDEX_KEY_MAX)

typedef struct ldb_meta {
  uint32_t id;
  uint64_t first;
  uint64_t next;
  uint64_t bytes;
} ldb_meta;

typedef struct ldb_be {
  MDB_env *env; /* NULL after a failed reopen; the next call retries */
  MDB_dbi info, streams, records, indexes, producers;
  char *path; /* resolved data directory */
  size_t map_size;
  unsigned env_flags;
  uint64_t max_messages;
  uint64_t max_bytes;
  uint64_t max_age_ms;
  uint32_t max_streams;
  /* fault injection, see storage.h */
  bool fail_after_set;
  uint64_t fail_after;
  uint64_t append_calls;
  char *fail_file;
} ldb_be;

/* Big-endian fields (core bytes.h): keys sort in index order. */

bool ockami_ldb_meta_decode(const MDB_val *v, ldb_meta *m);
void ockami_ldb_meta_encode(const ldb_meta *m, uint8_t out[static LDB_META_LEN]);
void ockami_ldb_rec_key(uint8_t out[static LDB_REC_KEY_LEN], uint32_t id, uint64_t index);

/* LMDB (MDB_* or errno) code to OCKAM_E*. */
int ockami_ldb_map_err(int rc);
int ockami_ldb_open(const ockami_store_options *opt, void **out);
void ockami_ldb_close(void *p);
/* Begins a transaction, adopting a map another process grew and reopening a
 * panicked environment. Returns an LMDB code. */
int ockami_ldb_txn_begin(ldb_be *be, unsigned flags, MDB_txn **txn);

/* The body of a write transaction: returns an LMDB code, sets *changed when
 * there is something to commit. */
typedef int (*ldb_write_fn)(ldb_be *be, MDB_txn *txn, void *ctx, bool *changed);

/* Runs fn in one write transaction and commits it; on MDB_MAP_FULL the map
 * is grown (by room for about hint bytes) and fn run once more. Returns an
 * OCKAM_E* code. */
int ockami_ldb_write(ldb_be *be, const char *what, ldb_write_fn fn, void *ctx, size_t hint);

#endif
