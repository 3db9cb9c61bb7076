/* Stream storage: the ops table every backend (memory, lmdb, jetstream)
 * implements, and the asynchronous store the hub uses on top of it.
 *
 * Model. A stream is a named, append-only sequence of opaque records. Each
 * record gets an index: the first record of a stream has index 0 and each
 * append adds 1 (indexes are dense and never reused, even after retention
 * removed old records). An index entry maps (client_id, stream_name) to a
 * u64 "next index to read"; saves are monotonic (a lower value never replaces
 * a higher one).
 *
 * Backend ops are synchronous and may block (disk, network): they run on the
 * store's own thread, never on a node loop. One backend instance is used by
 * one thread at a time, so backends need no locking of their own.
 *
 * Names. A stream name is 1..OCKAM_NAME_MAX arbitrary bytes (spaces, dots,
 * '*', '>', NUL, any UTF-8 or none); a backend that cannot store some byte in
 * its own naming scheme must encode the name. A client id is 1..OCKAM_NAME_MAX
 * bytes without NUL. An empty name or client id (or one with NUL) gives
 * OCKAM_EINVAL, a longer one OCKAM_EOVERFLOW.
 *
 * Retention. max_messages and max_bytes drop the oldest records of a stream
 * until it is within both limits (memory and lmdb never drop the newest record
 * this way, even when it alone exceeds max_bytes). memory and lmdb count only
 * record data against max_bytes; a backend may also count its per-record
 * overhead and so keep fewer records. max_age_s drops
 * every record appended more than max_age_s seconds ago (a stream may become
 * empty: first == next). Indexes never change; reading below `first` starts at
 * `first`. The memory and lmdb backends apply the count and byte limits inside
 * each append and all three limits in trim(); the async store calls trim()
 * periodically when any limit is set.
 *
 * Fault injection (lmdb backend, read once at open; for tests of a full disk):
 *   OCKAM_STORE_FAIL_APPEND_AFTER=N  every append() call after the N-th one
 *                                    (counted from open) fails with OCKAM_ENOSPC
 *                                    and stores nothing;
 *   OCKAM_STORE_FAIL_FILE=/path      while /path exists, append() fails with
 *                                    OCKAM_ENOSPC and stores nothing (create and
 *                                    remove the file to switch "disk full" on
 *                                    and off at run time).
 * Reads, index ops and stream_create are not affected.
 */
#ifndef OCKAMI_STORAGE_H
#define OCKAMI_STORAGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ockam/error.h"

/* Options shared by all backends; unused fields are ignored. */
typedef struct ockami_store_options {
  const char *dir;       /* data directory (lmdb); created if missing */
  uint64_t map_size;     /* lmdb map size in bytes; 0 = default (8 GiB) */
  const char *url;       /* jetstream: nats://host:port[,nats://...] */
  int replicas;          /* jetstream: stream replicas (1..5); 0 = 1 */
  uint64_t max_messages; /* retention per stream: 0 = unlimited */
  uint64_t max_bytes;    /* retention per stream: 0 = unlimited */
  uint64_t max_age_s;    /* retention per stream: 0 = unlimited */
  uint32_t max_streams;  /* 0 = OCKAM_HUB_MAX_STREAMS */
  uint32_t max_record;   /* 0 = OCKAM_STREAM_MESSAGE_MAX */
  bool no_sync;          /* lmdb: MDB_NOSYNC (tests/benchmarks only) */
  uint32_t max_pending;  /* async store: queued requests before submits
                            return OCKAM_EFULL; 0 = unlimited */
} ockami_store_options;

/* One record to append: in = stream name and data; out = its index. */
typedef struct ockami_append {
  const char *stream; /* not NUL-terminated; stream_len bytes */
  size_t stream_len;
  const uint8_t *data;
  size_t len;
  uint64_t index; /* set by a successful append */
  int status;     /* set per record: 0 or a negative OCKAM_E* code */
} ockami_append;

/* One record read back. data points into memory owned by the result set. */
typedef struct ockami_record {
  uint64_t index;
  const uint8_t *data;
  size_t len;
} ockami_record;

/* Records returned by read(); release with ockami_records_free(). */
typedef struct ockami_records {
  ockami_record *items;
  size_t count;
  size_t cap;
  uint8_t *arena; /* backing bytes of every items[i].data */
  size_t arena_len;
  size_t arena_cap;
} ockami_records;

/* Append one record's bytes to a result set (copies data). */
OCKAM_MUST_CHECK int ockami_records_push(ockami_records *r, uint64_t index, const uint8_t *data,
                                         size_t len);
void ockami_records_free(ockami_records *r);

/* Name checks every backend applies (see "Names" above): 0, OCKAM_EINVAL or
 * OCKAM_EOVERFLOW. */
OCKAM_MUST_CHECK int ockami_store_check_stream(const char *stream, size_t stream_len);
OCKAM_MUST_CHECK int ockami_store_check_client(const char *client, size_t client_len);

typedef struct ockami_store_ops {
  const char *name;
  /* Other processes (other hubs) may append to the same streams, so an
   * append this process did not make can appear at any time. */
  bool shared;
  /* Open (or create) a backend instance. */
  int (*open)(const ockami_store_options *opt, void **be);
  /* Close and free; never fails. */
  void (*close)(void *be);
  /* Create the stream if missing (idempotent). Errors: OCKAM_ELIMIT-like
   * OCKAM_EOVERFLOW when max_streams is reached, OCKAM_ESTORAGE. */
  int (*stream_create)(void *be, const char *stream, size_t stream_len);
  /* Append all n records in ONE durable commit (group commit): when it returns
   * 0, every record with status 0 is on stable storage (or acknowledged by the
   * replicated store). Records of different streams may be mixed; records of
   * one stream get increasing indexes in array order. Streams are created on
   * demand. On a whole-commit failure (disk full, I/O error) it returns the
   * error and no record of this call is stored; per-record failures (record
   * too large) set that record's status and leave the others unaffected. */
  int (*append)(void *be, ockami_append *items, size_t n);
  /* Read up to limit records with index >= from (and at most max_bytes of data,
   * but always at least one record when one exists), in index order, appending
   * them to out. A stream that does not exist reads as empty. limit 0 reads
   * nothing; max_bytes 0 means no byte cap. */
  int (*read)(void *be, const char *stream, size_t stream_len, uint64_t from, uint32_t limit,
              size_t max_bytes, ockami_records *out);
  /* Index of the next record to be appended (0 for an empty/missing stream) and
   * of the oldest record still kept. */
  int (*bounds)(void *be, const char *stream, size_t stream_len, uint64_t *first, uint64_t *next);
  /* Consumer index: *found = false when never saved. */
  int (*index_get)(void *be, const char *client, size_t client_len, const char *stream,
                   size_t stream_len, uint64_t *index, bool *found);
  /* Save max(previous, index) durably. */
  int (*index_save)(void *be, const char *client, size_t client_len, const char *stream,
                    size_t stream_len, uint64_t index);
  /* Apply the retention options now (drop records beyond count/bytes/age).
   * Backends that enforce retention themselves may make this a no-op. */
  int (*trim)(void *be);
} ockami_store_ops;

/* Backends, looked up by name: "memory", "lmdb", "jetstream". NULL if unknown
 * (or not built). */
const ockami_store_ops *ockami_store_ops_find(const char *name);

extern const ockami_store_ops ockami_store_memory;
extern const ockami_store_ops ockami_store_lmdb;
extern const ockami_store_ops ockami_store_jetstream;

/* ------------------------------------------------------------------------
 * The asynchronous store (store.c): runs one backend on its own thread and
 * completes requests on the owning libuv loop. Appends that arrive while a
 * commit is in progress are grouped into the next commit (up to
 * OCKAM_STORE_GROUP_MAX records), so N concurrent pushes cost about one
 * durable commit. Requests complete in submission order per stream.
 * Callbacks run on the loop thread, never from inside the submitting call.
 *
 * Threads. ockami_store_open, the submit calls and ockami_store_close must be
 * called on the loop thread. Requests in flight keep the loop alive (like
 * libuv requests); an idle store does not.
 *
 * Submit calls return 0 when the request was queued (its callback then runs
 * exactly once; a NULL callback is allowed), or an error and no callback:
 * OCKAM_EINVAL / OCKAM_EOVERFLOW for a bad name or a record larger than
 * max_record, OCKAM_EFULL when max_pending requests are queued, OCKAM_ECLOSED
 * once close has started, OCKAM_ENOMEM.
 *
 * Close. ockami_store_close is synchronous for the store thread: new submits
 * fail with OCKAM_ECLOSED, the thread finishes every queued request and is
 * joined, every remaining callback runs on the calling (loop) thread with its
 * real status, and the backend is closed, all before it returns; it may be
 * called from inside a store callback. The store's wake handle is then
 * uv_close()d and freed in its close callback, so the loop must run once more
 * (uv_run) before uv_loop_close() can succeed. The store must not be used after
 * ockami_store_close returns.
 * ------------------------------------------------------------------------ */
struct uv_loop_s;
typedef struct ockami_store ockami_store;

typedef void (*ockami_append_cb)(void *arg, int status, uint64_t index);
typedef void (*ockami_read_cb)(void *arg, int status, ockami_records *records);
typedef void (*ockami_index_cb)(void *arg, int status, bool found, uint64_t index);
typedef void (*ockami_done_cb)(void *arg, int status);

OCKAM_MUST_CHECK int ockami_store_open(struct uv_loop_s *loop, const ockami_store_ops *ops,
                                       const ockami_store_options *opt, ockami_store **out);
/* Like ockami_store_open, with a backend instance the caller opened with
 * ops->open(opt, &be) (and may have used synchronously before). The store
 * owns be from this call on, also when it fails (be is then closed). */
OCKAM_MUST_CHECK int ockami_store_open_backend(struct uv_loop_s *loop, const ockami_store_ops *ops,
                                               const ockami_store_options *opt, void *be,
                                               ockami_store **out);
/* Finish what was submitted, stop the thread, close the backend. Pending
 * callbacks still run (with their real status) before this returns. */
void ockami_store_close(ockami_store *s);

/* Counters of one store, for tests, benchmarks and metrics. */
typedef struct ockami_store_stats {
  uint64_t appends;       /* records passed to the backend's append() */
  uint64_t commits;       /* append() calls (one durable commit each) */
  uint64_t append_errors; /* records completed with an error status */
  uint64_t reads;         /* read requests served */
  uint64_t index_ops;     /* index get/save requests served */
  uint64_t trims;         /* trim() calls */
  uint32_t max_group;     /* most records ever passed to one append() */
  uint32_t queued;        /* requests waiting for the store thread now */
} ockami_store_stats;

/* Snapshot of the counters; callable from any thread while the store is open. */
void ockami_store_get_stats(ockami_store *s, ockami_store_stats *out);

/* data is copied; cb gets the record's index once it is durable. */
OCKAM_MUST_CHECK int ockami_store_append(ockami_store *s, const char *stream, size_t stream_len,
                                         const uint8_t *data, size_t len, ockami_append_cb cb,
                                         void *arg);
/* records is owned by the store and valid only during the callback. */
OCKAM_MUST_CHECK int ockami_store_read(ockami_store *s, const char *stream, size_t stream_len,
                                       uint64_t from, uint32_t limit, size_t max_bytes,
                                       ockami_read_cb cb, void *arg);
OCKAM_MUST_CHECK int ockami_store_stream_create(ockami_store *s, const char *stream,
                                                size_t stream_len, ockami_done_cb cb, void *arg);
OCKAM_MUST_CHECK int ockami_store_index_get(ockami_store *s, const char *client, size_t client_len,
                                            const char *stream, size_t stream_len,
                                            ockami_index_cb cb, void *arg);
OCKAM_MUST_CHECK int ockami_store_index_save(ockami_store *s, const char *client, size_t client_len,
                                             const char *stream, size_t stream_len, uint64_t index,
                                             ockami_done_cb cb, void *arg);

#endif
