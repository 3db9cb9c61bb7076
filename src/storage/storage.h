/* Stream storage: the ops tables of the backends (memory, lmdb, jetstream),
 * each the validating front end of storage.c in front of the backend's own
 * table (backend.h), and the asynchronous store the hub uses on top of them.
 *
 * Model. A stream is a named, append-only sequence of opaque records. Each
 * record gets an index: the first record of a stream has index 0 and each
 * append adds 1 (indexes are dense and never reused, even after retention
 * removed old records; only stream_delete ends a stream, and one made later
 * under the same name starts at 0 again). An index entry maps (client_id, stream_name) to a
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
 * Fault injection (lmdb backend, read once at open; for tests of a full disk;
 * compiled only into test builds, cmake -DOCKAM_TEST_HOOKS=ON as scripts/test
 * does: other builds ignore these variables):
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
#include "ockam/limits.h"

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

/* Idempotent producers (docs/protocol-extensions.md, "Streams: idempotent
 * producers"). A record may name its producer (1..OCKAM_NAME_MAX bytes
 * without NUL, like a client id), the producer's session (any u64, chosen
 * anew by each producer lifetime) and its sequence number in this stream
 * (1, 2, 3, ... within one session). The backend keeps, per (producer,
 * stream), the state below and updates it in the SAME durable commit as the
 * record, so after any crash the state and the stream agree. Rules, for a
 * record with sequence q of session S against the state (s, n, i, r):
 *   - no state, or S != s: q == 1 starts the session and is stored; any
 *     other q is out of order, expected 1;
 *   - S == s, q == n + 1: stored;
 *   - S == s, q <= n: a duplicate, not stored; its index is the original's
 *     (i - (n - q)) when q >= r, i.e. while the producer's records since q
 *     are contiguous in the stream (always when it is the stream's only
 *     producer), otherwise i (the producer's newest record);
 *   - S == s, q > n + 1: out of order, not stored, expected n + 1.
 * The state of a stream goes with stream_delete. */
typedef enum ockami_idem_outcome {
  OCKAMI_IDEM_STORED = 0,   /* stored now (always for a record without producer) */
  OCKAMI_IDEM_DUPLICATE,    /* stored before: index is the original record's */
  OCKAMI_IDEM_OUT_OF_ORDER, /* not stored: `expected` is the sequence to send next */
} ockami_idem_outcome;

typedef struct ockami_producer_state {
  uint64_t session; /* session of the newest stored record */
  uint64_t seq;     /* its sequence number (0: no state) */
  uint64_t index;   /* its index */
  uint64_t run_seq; /* first sequence of the run of the producer's records
                       ending at it that are contiguous in the stream */
} ockami_producer_state;

/* Bytes of an encoded ockami_producer_state: four u64 BE. */
#define OCKAMI_PRODUCER_STATE_LEN 32u

/* One record to append: in = stream name and data; out = its index. */
typedef struct ockami_append {
  const char *stream; /* not NUL-terminated; stream_len bytes */
  size_t stream_len;
  const uint8_t *data;
  size_t len;
  uint64_t index; /* set by a successful append (DUPLICATE: the original's) */
  int status;     /* set per record: 0 or a negative OCKAM_E* code */
  /* Optional producer (producer_len 0: none), see above. */
  const char *producer;
  size_t producer_len;
  uint64_t session;
  uint64_t seq;
  ockami_idem_outcome idem; /* out, meaningful when status is 0 */
  uint64_t expected;        /* out: OUT_OF_ORDER only */
} ockami_append;

/* The rules above, for backends: whether `it` is to be stored given the
 * producer's current state (seq 0: none). When not, it->idem, it->index or
 * it->expected are set. After storing it (it->index set), the backend calls
 * ockami_idem_commit to get the new state to write in the same commit. */
bool ockami_idem_admit(const ockami_producer_state *st, ockami_append *it);
void ockami_idem_commit(ockami_producer_state *st, const ockami_append *it);
void ockami_producer_state_encode(const ockami_producer_state *st,
                                  uint8_t out[static OCKAMI_PRODUCER_STATE_LEN]);
bool ockami_producer_state_decode(const uint8_t *p, size_t len, ockami_producer_state *st);

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

/* Name checks (see "Names" above): 0, OCKAM_EINVAL or OCKAM_EOVERFLOW. The
 * front end applies them to every call; the async store and the hub use them
 * to refuse a bad name before queueing anything. */
OCKAM_MUST_CHECK int ockami_store_check_stream(const char *stream, size_t stream_len);
OCKAM_MUST_CHECK int ockami_store_check_client(const char *client, size_t client_len);

/* One stream as stream_list() reports it. */
typedef struct ockami_stream_info {
  uint8_t name[OCKAM_NAME_MAX]; /* name_len bytes, not NUL-terminated */
  size_t name_len;
  uint64_t first;          /* index of the oldest record kept */
  uint64_t next;           /* index of the next record; next - first records are kept */
  uint64_t bytes;          /* bytes kept: record data (memory, lmdb), or what
                              JetStream counts, per-record overhead included */
  uint64_t last_append_ms; /* wall-clock time (ms since the epoch) the newest
                              record kept was appended; 0 when none is kept */
} ockami_stream_info;

/* A backend as the rest of the hub sees it: every table below is the
 * validating front end (storage.c) in front of one backend. It checks names,
 * record sizes, counts and output pointers once, so a backend never sees a
 * bad argument; see backend.h for what a backend may then assume. */
typedef struct ockami_store_ops {
  const char *name;
  /* Other processes (other hubs) may append to the same streams, so an
   * append this process did not make can appear at any time. */
  bool shared;
  /* Whether a failed append() stores nothing (see append below). */
  bool atomic_append;
  /* Open (or create) a backend instance. OCKAM_EINVAL for a NULL opt or out,
   * or options the backend cannot use; the backend's own errors. */
  int (*open)(const ockami_store_options *opt, void **be);
  /* Close and free; never fails. NULL is ignored. */
  void (*close)(void *be);
  /* Create the stream if missing (idempotent). Errors: OCKAM_EOVERFLOW when
   * max_streams streams exist, OCKAM_ESTORAGE, OCKAM_ENOSPC,
   * OCKAM_EUNAVAILABLE (jetstream: server unreachable). */
  int (*stream_create)(void *be, const char *stream, size_t stream_len);
  /* Remove the stream, every record of it and every consumer index saved for
   * it (any client), in one durable step. OCKAM_ENOTFOUND when the stream does
   * not exist; consumer indexes saved under that name are removed all the
   * same. A stream of the same name made later starts again at index 0, and
   * its consumers with no saved index. Other errors as for stream_create. */
  int (*stream_delete)(void *be, const char *stream, size_t stream_len);
  /* Up to max streams with their bounds, in the backend's list order,
   * starting after the stream named `after` (after_len 0: from the first; the
   * name need not exist). *count is set to how many were written; fewer than
   * max means the list is complete. List order: bytewise by name (memcmp,
   * shorter first) for memory and lmdb, by the hash of the name for jetstream;
   * pass the last name returned as `after` to get the next page. Costs one
   * pass over all streams of the backend (memory: plus a sort; jetstream: one
   * stream listing request); meant for idle expiry and operator tools, not
   * for every request. OCKAM_EINVAL for max 0 or NULL out/count,
   * OCKAM_EOVERFLOW for after_len > OCKAM_NAME_MAX. */
  int (*stream_list)(void *be, const char *after, size_t after_len, ockami_stream_info *out,
                     size_t max, size_t *count);
  /* Append all n records in ONE durable commit (group commit): when it returns
   * 0, every record with status 0 is on stable storage (or acknowledged by the
   * replicated store). Records of different streams may be mixed; records of
   * one stream get increasing indexes in array order. Streams are created on
   * demand. n 0 does nothing; items NULL with n > 0 is OCKAM_EINVAL.
   *
   * Per-record failures set that record's status and leave the others
   * unaffected: OCKAM_EINVAL (bad name, NULL data), OCKAM_EOVERFLOW (record
   * larger than max_record, or max_streams reached for its stream).
   *
   * A whole-call failure (disk full, I/O error, server unreachable) returns
   * the error and sets it as the status (and 0 as the index) of every record
   * that had no per-record failure. With atomic_append (memory, lmdb) no
   * record of the call is then stored. Without it (jetstream: JetStream has
   * no multi-message transaction) any of those records may have been stored
   * all the same, each at most once, and a retry by the caller stores it a
   * second time: a failed append means "perhaps stored", which at-least-once
   * delivery allows (a consumer may see such a record twice). */
  int (*append)(void *be, ockami_append *items, size_t n);
  /* Read up to limit records with index >= from (and at most max_bytes of data,
   * but always at least one record when one exists), in index order, appending
   * them to out. A stream that does not exist reads as empty. limit 0 reads
   * nothing; max_bytes 0 means no byte cap. On an error out is left as it
   * was. */
  int (*read)(void *be, const char *stream, size_t stream_len, uint64_t from, uint32_t limit,
              size_t max_bytes, ockami_records *out);
  /* Index of the next record to be appended (0 for an empty/missing stream) and
   * of the oldest record still kept. Either pointer may be NULL. */
  int (*bounds)(void *be, const char *stream, size_t stream_len, uint64_t *first, uint64_t *next);
  /* Consumer index: *found = false when never saved. Either pointer may be
   * NULL. */
  int (*index_get)(void *be, const char *client, size_t client_len, const char *stream,
                   size_t stream_len, uint64_t *index, bool *found);
  /* Save max(previous, index) durably. */
  int (*index_save)(void *be, const char *client, size_t client_len, const char *stream,
                    size_t stream_len, uint64_t index);
  /* Apply the retention options now (drop records beyond count/bytes/age).
   * Backends that enforce retention themselves may make this a no-op. */
  int (*trim)(void *be);
  /* An idempotent producer's state in a stream (see ockami_append): *found =
   * false when it has none. For tests and operator tools; the hub needs no
   * lookup of its own (append decides). */
  int (*producer_get)(void *be, const char *producer, size_t producer_len, const char *stream,
                      size_t stream_len, ockami_producer_state *out, bool *found);
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
 * A callback's status is the backend op's result (storage.h above). An append
 * that fails as part of a group fails with the group's error; with a backend
 * without atomic_append (jetstream) the record may have been stored all the
 * same, so a producer that retries may store it twice (the hub reports the
 * failure and the client's retry gives at-least-once delivery). Such a record
 * wakes no parked pull directly; the hub re-reads parked pulls of a shared
 * store (ops->shared, as jetstream is) every OCKAM_STREAM_SHARED_RECHECK_MS,
 * which also finds records other hubs appended.
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
/* streams is owned by the store and valid only during the callback; count
 * is 0 on an error. */
typedef void (*ockami_list_cb)(void *arg, int status, const ockami_stream_info *streams,
                               size_t count);

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
/* The completion of an operation run inline on the loop thread (memory
 * appends and reads) is delivered in the loop's next turn by default. With a
 * kick set, the store calls kick(arg) instead, on the loop thread, from
 * inside the submit; the owner must then call ockami_store_deliver(s) soon
 * from the loop thread, outside any store call (a node's deferred call:
 * the completion runs in the same loop turn as the submit). The owner stops
 * any pending call before it closes the store. */
void ockami_store_set_kick(ockami_store *s, void (*kick)(void *arg), void *arg);
void ockami_store_deliver(ockami_store *s);

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

/* Inside an append's callback (status 0): the record just made durable,
 * when no other completion is waiting behind it, so that a reader parked for
 * it can be answered without a read (a burst is left to one read that
 * returns all of it). data is valid during the callback only. false
 * elsewhere. */
bool ockami_store_completing(const ockami_store *s, const uint8_t **data, size_t *len);

/* data is copied; cb gets the record's index once it is durable. */
OCKAM_MUST_CHECK int ockami_store_append(ockami_store *s, const char *stream, size_t stream_len,
                                         const uint8_t *data, size_t len, ockami_append_cb cb,
                                         void *arg);
/* An append from an idempotent producer (see ockami_append): cb gets the
 * outcome, and the record's index (STORED, DUPLICATE: the original's) or
 * the sequence the producer must send next (OUT_OF_ORDER). */
typedef void (*ockami_append_idem_cb)(void *arg, int status, ockami_idem_outcome idem,
                                      uint64_t value);
OCKAM_MUST_CHECK int ockami_store_append_idem(ockami_store *s, const char *stream,
                                              size_t stream_len, const uint8_t *data, size_t len,
                                              const char *producer, size_t producer_len,
                                              uint64_t session, uint64_t seq,
                                              ockami_append_idem_cb cb, void *arg);
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
/* Delete a stream with its records and consumer indexes (stream_delete);
 * cb gets OCKAM_ENOTFOUND for a stream that did not exist. Ordered with the
 * other requests of the stream like every request. */
OCKAM_MUST_CHECK int ockami_store_stream_delete(ockami_store *s, const char *stream,
                                                size_t stream_len, ockami_done_cb cb, void *arg);
/* Up to max (1..OCKAMI_STORE_LIST_MAX) streams after `after` (stream_list). */
#define OCKAMI_STORE_LIST_MAX 4096u
OCKAM_MUST_CHECK int ockami_store_stream_list(ockami_store *s, const char *after, size_t after_len,
                                              size_t max, ockami_list_cb cb, void *arg);

#endif
