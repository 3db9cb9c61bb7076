/* The asynchronous store: one backend driven by one thread, completions
 * delivered on the owning libuv loop.
 *
 * Requests wait in `todo` (mutex + condition variable). The thread serves the
 * request at the head; when that is an append it also takes every other
 * queued append it may move ahead (see take_group) and passes them to ONE
 * backend append(): while a commit runs, the next group builds up, so the
 * number of durable commits follows the disk, not the number of pushes.
 * Finished requests move to `done`, and the loop is woken with uv_async_send;
 * sends coalesce, so the loop side drains `done` until it is empty. Index
 * saves are held back and written together (store_main, "Index saves"); with
 * the memory backend an append or read submitted while the thread is idle
 * runs inline on the loop thread (run_inline).
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <uv.h>

#include "backend.h"
#include "log.h"
#include "map.h"
#include "ockam/limits.h"
#include "storage.h"

#define STORE_LOG "storage"
/* Queued requests one group scan looks at. */
#define STORE_SCAN_MAX (2u * OCKAM_STORE_GROUP_MAX)

typedef enum sreq_kind {
  SREQ_APPEND,
  SREQ_READ,
  SREQ_CREATE,
  SREQ_INDEX_GET,
  SREQ_INDEX_SAVE,
  SREQ_DELETE,
  SREQ_LIST,
} sreq_kind;

typedef struct sreq {
  struct sreq *next;
  sreq_kind kind;
  union {
    ockami_append_cb append;
    ockami_append_idem_cb append_idem; /* when `idem` */
    ockami_read_cb read;
    ockami_index_cb index;
    ockami_done_cb done;
    ockami_list_cb list;
  } cb;
  void *arg;
  const char *stream; /* list: the name to list after (may be empty) */
  size_t stream_len;
  const char *client;
  size_t client_len;
  const uint8_t *data;
  size_t len;
  uint64_t from; /* read */
  uint32_t limit;
  size_t max_bytes;
  uint64_t index; /* save: in; append, index get: out */
  bool idem;      /* append of an idempotent producer (client = producer) */
  uint64_t session, seq;
  ockami_idem_outcome outcome;
  uint64_t expected;
  bool found;
  int status;
  ockami_records records;
  ockami_stream_info *infos; /* list: max entries */
  size_t max;
  size_t count;
  uint8_t bytes[]; /* stream ‖ client ‖ data */
} sreq;

typedef struct sreq_queue {
  sreq *head;
  sreq *tail;
} sreq_queue;

typedef enum store_state { STORE_RUNNING, STORE_CLOSING, STORE_CLOSED } store_state;

struct ockami_store {
  uv_loop_t *loop;
  uv_async_t *wake; /* freed in its close callback */
  /* Delivers the completion of an operation run inline on the loop thread
   * in the loop's next turn, without the eventfd write and read of `wake`. */
  uv_idle_t *kick;            /* freed in its close callback */
  void (*kick_fn)(void *arg); /* ockami_store_set_kick: replaces `kick` */
  void *kick_arg;
  const ockami_store_ops *ops;
  void *be;
  uint32_t max_record;
  uint32_t max_pending;
  uint64_t trim_interval_ms; /* 0: no periodic trim */

  pthread_t thread;
  pthread_mutex_t lock;
  pthread_cond_t cond;

  /* guarded by lock */
  sreq_queue todo;
  sreq_queue done;
  size_t queued;
  bool stopping;
  size_t others;     /* requests in todo other than held-back saves */
  size_t saves_owed; /* held-back saves submitted and not yet written */
  /* Someone runs backend operations without the lock: the store thread, or
   * the loop thread running a memory append or read inline (run_inline). */
  bool busy;
  bool thread_waits_busy; /* the store thread waits for an inline run to end */
  ockami_store_stats stats;

  /* store thread only */
  sreq **group;
  ockami_append *items;
  /* Deferred index saves, oldest first (see store_main). */
  sreq_queue saves;
  size_t nsaves;
  uint64_t saves_due; /* when they must be written at the latest */

  /* loop thread only */
  store_state state;
  size_t inflight; /* submitted, callback not yet run */
  int cb_depth;    /* > 0 while store callbacks run */
  sreq *batch;     /* completions taken from `done`, not yet run (in order) */
  /* The append whose callback runs now, when no other completion was queued
   * behind it (see ockami_store_completing); NULL otherwise. */
  const sreq *completing;
};

static void queue_push(sreq_queue *q, sreq *r) {
  r->next = NULL;
  if (q->tail) {
    q->tail->next = r;
  } else {
    q->head = r;
  }
  q->tail = r;
}

static sreq *queue_pop(sreq_queue *q) {
  sreq *r = q->head;
  if (r) {
    q->head = r->next;
    if (!q->head) q->tail = NULL;
    r->next = NULL;
  }
  return r;
}

/* ---- store thread -------------------------------------------------------- */

/* Moves the appends that may run now from todo into s->group, in queue order.
 * An append may run ahead of a queued read/index/create/delete request unless
 * that request is for the same stream, so completions of one stream keep
 * their submission order; index saves, which touch no record, never hold an
 * append back. `blocked` holds the streams of the requests passed
 * over. Called with the lock held and an append at the head. */
static size_t take_group(ockami_store *s) {
  ockami_map blocked;
  ockami_map_init(&blocked);
  size_t n = 0, scanned = 0;
  sreq *prev = NULL, *r = s->todo.head;
  while (r && n < OCKAM_STORE_GROUP_MAX && scanned < STORE_SCAN_MAX) {
    sreq *next = r->next;
    scanned++;
    if (r->kind == SREQ_APPEND && !ockami_map_get(&blocked, r->stream, r->stream_len)) {
      if (prev) {
        prev->next = next;
      } else {
        s->todo.head = next;
      }
      if (s->todo.tail == r) s->todo.tail = prev;
      r->next = NULL;
      s->group[n++] = r;
    } else if (r->kind != SREQ_LIST && r->kind != SREQ_INDEX_SAVE) {
      int rc = ockami_map_put(&blocked, r->stream, r->stream_len, r);
      if (rc && rc != OCKAM_EEXIST) break; /* cannot track it: stop here */
      prev = r;
    } else {
      prev = r;
    }
    r = next;
  }
  ockami_map_free(&blocked);
  s->queued -= n;
  s->others -= n;
  return n;
}

static void run_group(ockami_store *s, size_t n) {
  for (size_t i = 0; i < n; i++) {
    const sreq *r = s->group[i];
    s->items[i] = (ockami_append){
        .stream = r->stream, .stream_len = r->stream_len, .data = r->data, .len = r->len};
    if (r->idem) {
      s->items[i].producer = r->client;
      s->items[i].producer_len = r->client_len;
      s->items[i].session = r->session;
      s->items[i].seq = r->seq;
    }
  }
  int rc = s->ops->append(s->be, s->items, n);
  if (rc)
    LOG_WARN(STORE_LOG, "%s: commit of %zu records failed: %s", s->ops->name, n,
             ockam_strerror(rc));
  for (size_t i = 0; i < n; i++) {
    sreq *r = s->group[i];
    r->status = rc ? rc : s->items[i].status;
    r->index = r->status ? 0 : s->items[i].index;
    r->outcome = r->status ? OCKAMI_IDEM_STORED : s->items[i].idem;
    r->expected = r->status ? 0 : s->items[i].expected;
  }
}

static void run_one(ockami_store *s, sreq *r) {
  switch (r->kind) {
    case SREQ_READ:
      r->status = s->ops->read(s->be, r->stream, r->stream_len, r->from, r->limit, r->max_bytes,
                               &r->records);
      if (r->status) ockami_records_free(&r->records);
      break;
    case SREQ_CREATE:
      r->status = s->ops->stream_create(s->be, r->stream, r->stream_len);
      break;
    case SREQ_INDEX_GET:
      r->status = s->ops->index_get(s->be, r->client, r->client_len, r->stream, r->stream_len,
                                    &r->index, &r->found);
      break;
    case SREQ_INDEX_SAVE:
      r->status =
          s->ops->index_save(s->be, r->client, r->client_len, r->stream, r->stream_len, r->index);
      break;
    case SREQ_DELETE:
      r->status = s->ops->stream_delete(s->be, r->stream, r->stream_len);
      break;
    case SREQ_LIST:
      r->status = s->ops->stream_list(s->be, r->stream, r->stream_len, r->infos, r->max, &r->count);
      break;
    case SREQ_APPEND:
      break; /* appends always run in groups */
  }
}

/* Index saves. A consumer saves its position after every batch, and one
 * save alone is one more durable commit: on the store thread it delays the
 * pushes queued behind it by a whole commit (two syncs with LMDB), which is
 * most of the latency of a stream hop. So saves are not written one by one:
 * they wait (taken off `todo`, completion not yet delivered) until
 * OCKAM_STORE_SAVE_DELAY_MS after the oldest of them, until
 * OCKAM_STORE_SAVES_MAX are waiting, until a request that reads or removes
 * indexes (index get, stream delete) is next, or until the store closes;
 * then they are written newest first, so that each (client, stream) costs
 * one commit at most (a save never lowers an index: the older ones change
 * nothing and commit nothing). A crash loses at most the saves of the last
 * OCKAM_STORE_SAVE_DELAY_MS: their consumers get those messages again
 * (at-least-once delivery allows it). Stores shared with other processes
 * write saves at once, since another hub may read them. Lock held. */
static bool saves_defer(const ockami_store *s, const sreq *r) {
  return r->kind == SREQ_INDEX_SAVE && !s->ops->shared;
}

static void saves_take(ockami_store *s) {
  while (s->todo.head && saves_defer(s, s->todo.head)) {
    sreq *r = queue_pop(&s->todo);
    s->queued--;
    if (s->nsaves++ == 0) s->saves_due = ockami_monotonic_ms() + OCKAM_STORE_SAVE_DELAY_MS;
    queue_push(&s->saves, r);
  }
}

static void saves_flush(ockami_store *s) {
  sreq *newest_first = NULL;
  sreq *r;
  saves_take(s); /* those submitted since: their submit did not wake the thread */
  s->saves_owed -= s->nsaves;
  while ((r = queue_pop(&s->saves))) {
    r->next = newest_first;
    newest_first = r;
  }
  s->nsaves = 0;
  s->busy = true;
  pthread_mutex_unlock(&s->lock);
  sreq *oldest_first = NULL;
  while ((r = newest_first)) {
    newest_first = r->next;
    run_one(s, r);
    r->next = oldest_first;
    oldest_first = r;
  }
  pthread_mutex_lock(&s->lock);
  s->busy = false;
  while ((r = oldest_first)) { /* completions in submission order */
    oldest_first = r->next;
    s->stats.index_ops++;
    queue_push(&s->done, r);
  }
}

static void *store_main(void *arg) {
  ockami_store *s = arg;
  uint64_t next_trim = s->trim_interval_ms ? ockami_monotonic_ms() + s->trim_interval_ms : 0;
  pthread_mutex_lock(&s->lock);
  for (;;) {
    if (s->busy) { /* the loop thread runs an operation inline */
      s->thread_waits_busy = true;
      pthread_cond_wait(&s->cond, &s->lock);
      s->thread_waits_busy = false;
      continue;
    }
    if (s->nsaves) {
      const sreq *h = s->todo.head;
      if ((!h && s->stopping) || s->nsaves >= OCKAM_STORE_SAVES_MAX ||
          (h && (h->kind == SREQ_INDEX_GET || h->kind == SREQ_DELETE)) ||
          ockami_monotonic_ms() >= s->saves_due) {
        saves_flush(s);
        pthread_mutex_unlock(&s->lock);
        atomic_thread_fence(memory_order_seq_cst);
        uv_async_send(s->wake);
        pthread_mutex_lock(&s->lock);
        continue;
      }
    }
    if (next_trim && ockami_monotonic_ms() >= next_trim) {
      s->busy = true;
      pthread_mutex_unlock(&s->lock);
      int rc = s->ops->trim(s->be);
      if (rc)
        LOG_WARN(STORE_LOG, "%s: retention trim failed: %s", s->ops->name, ockam_strerror(rc));
      next_trim = ockami_monotonic_ms() + s->trim_interval_ms;
      pthread_mutex_lock(&s->lock);
      s->stats.trims++;
      s->busy = false;
      continue;
    }
    if (!s->todo.head) {
      if (s->stopping) break;
      uint64_t until = next_trim;
      if (s->nsaves && (!until || s->saves_due < until)) until = s->saves_due;
      if (until) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts); /* the condition variable's clock */
        uint64_t now = (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
        uint64_t wait_ms = until > now ? until - now : 0;
        ts.tv_sec += (time_t)(wait_ms / 1000);
        ts.tv_nsec += (long)(wait_ms % 1000) * 1000000L;
        if (ts.tv_nsec >= 1000000000L) {
          ts.tv_sec++;
          ts.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&s->cond, &s->lock, &ts);
      } else {
        pthread_cond_wait(&s->cond, &s->lock);
      }
      continue;
    }
    if (s->todo.head->kind == SREQ_APPEND) {
      size_t n = take_group(s);
      s->busy = true;
      pthread_mutex_unlock(&s->lock);
      run_group(s, n);
      pthread_mutex_lock(&s->lock);
      s->busy = false;
      s->stats.commits++;
      s->stats.appends += n;
      if (n > s->stats.max_group) s->stats.max_group = (uint32_t)n;
      for (size_t i = 0; i < n; i++) {
        if (s->group[i]->status) s->stats.append_errors++;
        queue_push(&s->done, s->group[i]);
      }
    } else if (saves_defer(s, s->todo.head)) {
      saves_take(s);
      continue;
    } else {
      sreq *r = queue_pop(&s->todo);
      s->queued--;
      s->others--;
      s->busy = true;
      pthread_mutex_unlock(&s->lock);
      run_one(s, r);
      pthread_mutex_lock(&s->lock);
      s->busy = false;
      if (r->kind == SREQ_READ) s->stats.reads++;
      if (r->kind == SREQ_INDEX_GET || r->kind == SREQ_INDEX_SAVE) s->stats.index_ops++;
      queue_push(&s->done, r);
    }
    pthread_mutex_unlock(&s->lock);
    /* libuv before 1.53 asks for a full fence before a send that may be
     * coalesced, so the loop sees the queue as it is now. */
    atomic_thread_fence(memory_order_seq_cst);
    uv_async_send(s->wake);
    pthread_mutex_lock(&s->lock);
  }
  pthread_mutex_unlock(&s->lock);
  return NULL;
}

/* ---- loop thread --------------------------------------------------------- */

static void store_free(ockami_store *s) {
  pthread_mutex_destroy(&s->lock);
  pthread_cond_destroy(&s->cond);
  free(s->group);
  free(s->items);
  free(s);
}

static void complete(sreq *r) {
  switch (r->kind) {
    case SREQ_APPEND:
      if (r->idem) {
        if (r->cb.append_idem)
          r->cb.append_idem(r->arg, r->status, r->outcome,
                            r->outcome == OCKAMI_IDEM_OUT_OF_ORDER ? r->expected : r->index);
      } else if (r->cb.append) {
        r->cb.append(r->arg, r->status, r->index);
      }
      break;
    case SREQ_READ:
      if (r->cb.read) r->cb.read(r->arg, r->status, &r->records);
      ockami_records_free(&r->records);
      break;
    case SREQ_INDEX_GET:
      if (r->cb.index) r->cb.index(r->arg, r->status, r->found, r->index);
      break;
    case SREQ_CREATE:
    case SREQ_INDEX_SAVE:
    case SREQ_DELETE:
      if (r->cb.done) r->cb.done(r->arg, r->status);
      break;
    case SREQ_LIST:
      if (r->cb.list) r->cb.list(r->arg, r->status, r->infos, r->status ? 0 : r->count);
      free(r->infos);
      break;
  }
  free(r);
}

/* The next completion to run, and whether it is the last one known now.
 * Loop thread only; a callback that closes the store runs the rest of the
 * batch (nested run_completions), in order. */
static sreq *next_completion(ockami_store *s, bool *last) {
  if (!s->batch) {
    /* Everything completed so far, in one turn of the lock. */
    pthread_mutex_lock(&s->lock);
    s->batch = s->done.head;
    s->done.head = s->done.tail = NULL;
    pthread_mutex_unlock(&s->lock);
  }
  sreq *r = s->batch;
  if (r) {
    s->batch = r->next;
    r->next = NULL;
  }
  *last = !s->batch;
  return r;
}

/* Runs callbacks one at a time until `done` is empty. A callback may close
 * the store: close then runs the rest itself, and the store is freed here
 * once the outermost callback has returned. */
static void run_completions(ockami_store *s) {
  s->cb_depth++;
  while (s->state != STORE_CLOSED) {
    bool last;
    sreq *r = next_completion(s, &last);
    if (!r) break;
    s->inflight--;
    const sreq *outer = s->completing;
    s->completing = last && r->kind == SREQ_APPEND && !r->status ? r : NULL;
    complete(r);
    s->completing = outer;
  }
  s->cb_depth--;
  if (s->state == STORE_CLOSED) {
    if (s->cb_depth == 0) store_free(s);
    return;
  }
  if (s->state == STORE_RUNNING && s->inflight == 0) uv_unref((uv_handle_t *)s->wake);
}

static void wake_cb(uv_async_t *h) {
  ockami_store *s = h->data;
  if (s) run_completions(s);
}

static void kick_cb(uv_idle_t *h) {
  ockami_store *s = h->data;
  uv_idle_stop(h);
  if (s) run_completions(s);
}

static void wake_close_cb(uv_handle_t *h) {
  free(h);
}

int ockami_store_open(uv_loop_t *loop, const ockami_store_ops *ops, const ockami_store_options *opt,
                      ockami_store **out) {
  if (!loop || !ops || !opt || !out) return OCKAM_EINVAL;
  void *be = NULL;
  int rc = ops->open(opt, &be);
  if (rc) {
    LOG_ERROR(STORE_LOG, "cannot open the %s store: %s", ops->name, ockam_strerror(rc));
    return rc;
  }
  return ockami_store_open_backend(loop, ops, opt, be, out);
}

int ockami_store_open_backend(uv_loop_t *loop, const ockami_store_ops *ops,
                              const ockami_store_options *opt, void *be, ockami_store **out) {
  if (!loop || !ops || !opt || !out || !be) {
    if (ops && be) ops->close(be);
    return OCKAM_EINVAL;
  }
  ockami_store *s = calloc(1, sizeof *s);
  if (!s) {
    ops->close(be);
    return OCKAM_ENOMEM;
  }
  s->group = calloc(OCKAM_STORE_GROUP_MAX, sizeof *s->group);
  s->items = calloc(OCKAM_STORE_GROUP_MAX, sizeof *s->items);
  if (!s->group || !s->items) {
    free(s->group);
    free(s->items);
    free(s);
    ops->close(be);
    return OCKAM_ENOMEM;
  }
  pthread_condattr_t ca;
  pthread_condattr_init(&ca);
  pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
  pthread_cond_init(&s->cond, &ca);
  pthread_condattr_destroy(&ca);
  pthread_mutex_init(&s->lock, NULL);
  s->loop = loop;
  s->ops = ops;
  s->max_record = opt->max_record ? opt->max_record : OCKAM_STREAM_MESSAGE_MAX;
  s->max_pending = opt->max_pending;
  if (opt->max_age_s) {
    /* Age limits are met within about a tenth of the age. */
    uint64_t ms = opt->max_age_s > 600 ? 60000 : opt->max_age_s * 100;
    s->trim_interval_ms = ms < 1000 ? 1000 : ms;
  } else if (opt->max_messages || opt->max_bytes) {
    s->trim_interval_ms = 60000;
  }

  s->be = be;
  s->wake = malloc(sizeof *s->wake);
  int rc = !s->wake ? OCKAM_ENOMEM : uv_async_init(loop, s->wake, wake_cb) != 0 ? OCKAM_EIO : 0;
  if (rc) {
    free(s->wake);
    ops->close(s->be);
    store_free(s);
    return rc;
  }
  s->wake->data = s;
  uv_unref((uv_handle_t *)s->wake);
  s->kick = malloc(sizeof *s->kick);
  if (!s->kick) {
    s->wake->data = NULL;
    uv_close((uv_handle_t *)s->wake, wake_close_cb);
    ops->close(s->be);
    store_free(s);
    return OCKAM_ENOMEM;
  }
  uv_idle_init(loop, s->kick);
  s->kick->data = s;
  if (pthread_create(&s->thread, NULL, store_main, s) != 0) {
    s->wake->data = NULL;
    uv_close((uv_handle_t *)s->wake, wake_close_cb);
    s->kick->data = NULL;
    uv_close((uv_handle_t *)s->kick, wake_close_cb);
    ops->close(s->be);
    store_free(s);
    return OCKAM_ENOMEM;
  }
  s->state = STORE_RUNNING;
  *out = s;
  return OCKAM_OK;
}

void ockami_store_close(ockami_store *s) {
  if (!s || s->state != STORE_RUNNING) return;
  s->state = STORE_CLOSING;
  pthread_mutex_lock(&s->lock);
  s->stopping = true;
  pthread_cond_signal(&s->cond);
  pthread_mutex_unlock(&s->lock);
  pthread_join(s->thread, NULL);
  run_completions(s); /* everything the thread finished */
  s->ops->close(s->be);
  s->be = NULL;
  s->wake->data = NULL;
  uv_close((uv_handle_t *)s->wake, wake_close_cb);
  s->wake = NULL;
  s->kick->data = NULL;
  uv_close((uv_handle_t *)s->kick, wake_close_cb);
  s->kick = NULL;
  s->state = STORE_CLOSED;
  if (s->cb_depth == 0) store_free(s);
}

void ockami_store_set_kick(ockami_store *s, void (*kick)(void *arg), void *arg) {
  if (!s) return;
  s->kick_fn = kick;
  s->kick_arg = arg;
}

void ockami_store_deliver(ockami_store *s) {
  if (s && s->state == STORE_RUNNING && s->cb_depth == 0) run_completions(s);
}

bool ockami_store_completing(const ockami_store *s, const uint8_t **data, size_t *len) {
  if (!s || !s->completing) return false;
  *data = s->completing->data;
  *len = s->completing->len;
  return true;
}

void ockami_store_get_stats(ockami_store *s, ockami_store_stats *out) {
  if (!out) return;
  memset(out, 0, sizeof *out);
  if (!s) return;
  pthread_mutex_lock(&s->lock);
  *out = s->stats;
  out->queued = s->queued > UINT32_MAX ? UINT32_MAX : (uint32_t)s->queued;
  pthread_mutex_unlock(&s->lock);
}

/* ---- submitting ---------------------------------------------------------- */

static sreq *sreq_new(sreq_kind kind, const char *stream, size_t stream_len, const char *client,
                      size_t client_len, const uint8_t *data, size_t len) {
  sreq *r = calloc(1, sizeof *r + stream_len + client_len + len);
  if (!r) return NULL;
  r->kind = kind;
  uint8_t *p = r->bytes;
  if (stream_len) memcpy(p, stream, stream_len);
  r->stream = (const char *)p;
  r->stream_len = stream_len;
  p += stream_len;
  if (client_len) memcpy(p, client, client_len);
  r->client = (const char *)p;
  r->client_len = client_len;
  p += client_len;
  if (len) memcpy(p, data, len);
  r->data = p;
  r->len = len;
  return r;
}

/* The memory backend's appends and reads are short and never block: when
 * nothing is queued and the store thread is not inside the backend, submit
 * runs them right here on the loop thread instead of handing them to the
 * thread and back (two thread switches on every stream hop). The completion
 * is still delivered from the loop (wake handle), never inside the submit,
 * and in order: nothing submitted earlier is left to run. Not with a
 * max_pending cap, which counts requests waiting for the thread. Lock held;
 * unlocks when it ran r. */
static bool run_inline(ockami_store *s, sreq *r) {
  if (s->ops != &ockami_store_memory || (r->kind != SREQ_APPEND && r->kind != SREQ_READ) ||
      s->others || s->stopping || s->busy || s->max_pending)
    return false;
  s->busy = true;
  pthread_mutex_unlock(&s->lock);
  if (r->kind == SREQ_APPEND) {
    s->group[0] = r;
    run_group(s, 1);
  } else {
    run_one(s, r);
  }
  pthread_mutex_lock(&s->lock);
  s->busy = false;
  /* Only a thread that waits for this run is woken: waking it for nothing
   * (it may wait for held-back saves) costs a futex call and a thread
   * switch on every stream hop. */
  if (s->thread_waits_busy) pthread_cond_signal(&s->cond);
  if (r->kind == SREQ_APPEND) {
    s->stats.commits++;
    s->stats.appends++;
    if (s->stats.max_group == 0) s->stats.max_group = 1;
    if (r->status) s->stats.append_errors++;
  } else {
    s->stats.reads++;
  }
  queue_push(&s->done, r);
  pthread_mutex_unlock(&s->lock);
  if (s->kick_fn)
    s->kick_fn(s->kick_arg);
  else if (!uv_is_active((uv_handle_t *)s->kick))
    uv_idle_start(s->kick, kick_cb);
  return true;
}

static int submit(ockami_store *s, sreq *r) {
  pthread_mutex_lock(&s->lock);
  if (s->max_pending && s->queued >= s->max_pending) {
    pthread_mutex_unlock(&s->lock);
    free(r->infos);
    free(r);
    return OCKAM_EFULL;
  }
  if (run_inline(s, r)) {
    if (s->inflight++ == 0) uv_ref((uv_handle_t *)s->wake);
    return OCKAM_OK;
  }
  queue_push(&s->todo, r);
  s->queued++;
  /* A save behind other held-back saves needs no wake-up: the thread
   * already waits for their deadline (see "Index saves"). */
  bool wake = true;
  if (saves_defer(s, r))
    wake = s->saves_owed++ == 0;
  else
    s->others++;
  if (wake) pthread_cond_signal(&s->cond);
  pthread_mutex_unlock(&s->lock);
  if (s->inflight++ == 0) uv_ref((uv_handle_t *)s->wake);
  return OCKAM_OK;
}

/* Checks common to every submit, so that a bad request fails at once rather
 * than in its callback (the front end checks again on the store thread). */
static int check_open(ockami_store *s) {
  if (!s) return OCKAM_EINVAL;
  return s->state == STORE_RUNNING ? OCKAM_OK : OCKAM_ECLOSED;
}

static int check(ockami_store *s, const char *stream, size_t stream_len) {
  int rc = check_open(s);
  return rc ? rc : ockami_store_check_stream(stream, stream_len);
}

/* Checks a request on a stream (and of a client when client_len > 0) and
 * makes it with copies of the names. */
static int new_req(ockami_store *s, sreq_kind kind, const char *stream, size_t stream_len,
                   const char *client, size_t client_len, void *arg, sreq **out) {
  int rc = check(s, stream, stream_len);
  if (!rc && client_len) rc = ockami_store_check_client(client, client_len);
  if (rc) return rc;
  sreq *r = sreq_new(kind, stream, stream_len, client, client_len, NULL, 0);
  if (!r) return OCKAM_ENOMEM;
  r->arg = arg;
  *out = r;
  return OCKAM_OK;
}

int ockami_store_append(ockami_store *s, const char *stream, size_t stream_len, const uint8_t *data,
                        size_t len, ockami_append_cb cb, void *arg) {
  int rc = check(s, stream, stream_len);
  if (rc) return rc;
  if (len && !data) return OCKAM_EINVAL;
  if (len > s->max_record) return OCKAM_EOVERFLOW;
  sreq *r = sreq_new(SREQ_APPEND, stream, stream_len, NULL, 0, data, len);
  if (!r) return OCKAM_ENOMEM;
  r->cb.append = cb;
  r->arg = arg;
  return submit(s, r);
}

int ockami_store_append_idem(ockami_store *s, const char *stream, size_t stream_len,
                             const uint8_t *data, size_t len, const char *producer,
                             size_t producer_len, uint64_t session, uint64_t seq,
                             ockami_append_idem_cb cb, void *arg) {
  int rc = check(s, stream, stream_len);
  if (!rc) rc = ockami_store_check_client(producer, producer_len);
  if (rc) return rc;
  if ((len && !data) || seq == 0) return OCKAM_EINVAL;
  if (len > s->max_record) return OCKAM_EOVERFLOW;
  sreq *r = sreq_new(SREQ_APPEND, stream, stream_len, producer, producer_len, data, len);
  if (!r) return OCKAM_ENOMEM;
  r->idem = true;
  r->session = session;
  r->seq = seq;
  r->cb.append_idem = cb;
  r->arg = arg;
  return submit(s, r);
}

int ockami_store_read(ockami_store *s, const char *stream, size_t stream_len, uint64_t from,
                      uint32_t limit, size_t max_bytes, ockami_read_cb cb, void *arg) {
  sreq *r;
  int rc = new_req(s, SREQ_READ, stream, stream_len, NULL, 0, arg, &r);
  if (rc) return rc;
  r->from = from;
  r->limit = limit;
  r->max_bytes = max_bytes;
  r->cb.read = cb;
  return submit(s, r);
}

int ockami_store_stream_create(ockami_store *s, const char *stream, size_t stream_len,
                               ockami_done_cb cb, void *arg) {
  sreq *r;
  int rc = new_req(s, SREQ_CREATE, stream, stream_len, NULL, 0, arg, &r);
  if (rc) return rc;
  r->cb.done = cb;
  return submit(s, r);
}

int ockami_store_index_get(ockami_store *s, const char *client, size_t client_len,
                           const char *stream, size_t stream_len, ockami_index_cb cb, void *arg) {
  if (!client || !client_len) return OCKAM_EINVAL;
  sreq *r;
  int rc = new_req(s, SREQ_INDEX_GET, stream, stream_len, client, client_len, arg, &r);
  if (rc) return rc;
  r->cb.index = cb;
  return submit(s, r);
}

int ockami_store_index_save(ockami_store *s, const char *client, size_t client_len,
                            const char *stream, size_t stream_len, uint64_t index,
                            ockami_done_cb cb, void *arg) {
  if (!client || !client_len) return OCKAM_EINVAL;
  sreq *r;
  int rc = new_req(s, SREQ_INDEX_SAVE, stream, stream_len, client, client_len, arg, &r);
  if (rc) return rc;
  r->index = index;
  r->cb.done = cb;
  return submit(s, r);
}

int ockami_store_stream_delete(ockami_store *s, const char *stream, size_t stream_len,
                               ockami_done_cb cb, void *arg) {
  sreq *r;
  int rc = new_req(s, SREQ_DELETE, stream, stream_len, NULL, 0, arg, &r);
  if (rc) return rc;
  r->cb.done = cb;
  return submit(s, r);
}

int ockami_store_stream_list(ockami_store *s, const char *after, size_t after_len, size_t max,
                             ockami_list_cb cb, void *arg) {
  int rc = check_open(s);
  if (rc) return rc;
  if (max == 0 || (after_len && !after)) return OCKAM_EINVAL;
  if (max > OCKAMI_STORE_LIST_MAX || after_len > OCKAM_NAME_MAX) return OCKAM_EOVERFLOW;
  sreq *r = sreq_new(SREQ_LIST, after, after_len, NULL, 0, NULL, 0);
  if (!r) return OCKAM_ENOMEM;
  r->infos = calloc(max, sizeof *r->infos);
  if (!r->infos) {
    free(r);
    return OCKAM_ENOMEM;
  }
  r->max = max;
  r->cb.list = cb;
  r->arg = arg;
  return submit(s, r);
}
