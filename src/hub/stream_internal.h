/* The hub's stream services (spec §7.3–§7.5), shared by stream_service.c (the
 * `stream` and `stream_index` services, store selection, the stream registry)
 * and stream_worker.c (one worker per stream: push, pull, long-poll).
 *
 * Everything here runs on the hub node's loop thread; store callbacks run
 * there too (storage.h), so no locking is needed.
 *
 * Stream worker addresses. A stream's worker is started under
 *   lowercase hex of the first 16 bytes of SHA-256("ockam.stream" ‖ 0x00 ‖ name)
 * (32 characters), never a random address, so the address a client learned
 * from Init stays valid across hub restarts and on every hub that shares the
 * same store. To restart the workers, the hub keeps a registry: a stream of
 * created names in a second instance of the same backend (lmdb: DIR/registry,
 * jetstream: the same servers), created without retention limits so that no
 * name is ever trimmed away. The registry is read in full when the service
 * starts and then polled, so streams created by another hub on a shared
 * store get their worker here too. The memory store keeps nothing across
 * restarts and has no registry.
 *
 * Frame budget. A TCP frame holds at most OCKAM_FRAME_MAX bytes (spec §2.1)
 * and a PullResponse must carry a stored message together with both routes
 * and the protocol wrappers, so the largest message the hub accepts is
 * OCKAM_STREAM_STORED_MAX by default (routes of up to
 * ~970 encoded bytes still fit), and opts->max_message is clamped to it. A
 * pull whose reply route is so long that the next message cannot fit is
 * answered with `error` rather than with an empty list the client would
 * retry forever.
 */
#ifndef OCKAMI_STREAM_INTERNAL_H
#define OCKAMI_STREAM_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "direct_send.h"
#include "hub_internal.h"
#include "map.h"
#include "node.h"
#include "ockam/limits.h"
#include "route.h"
#include "stats.h"
#include "storage.h"
#include "stream_proto.h"

/* ---- limits: all in ockam/limits.h, except these internal ones -------------- */

/* Names read from the registry per request. */
#define OCKAMI_STREAM_REGISTRY_BATCH 1024u
/* Registry stream name. 0xff never occurs in UTF-8, and clients can only
 * name streams with UTF-8 strings, so no client stream can share its name
 * (which matters when the registry lives on the same JetStream servers). */
#define OCKAMI_STREAM_REGISTRY_STREAM "\xffockam.hub.registry"
#define OCKAMI_STREAM_REGISTRY_STREAM_LEN (sizeof OCKAMI_STREAM_REGISTRY_STREAM - 1)

#define OCKAMI_STREAM_SERVICE "stream"
#define OCKAMI_STREAM_INDEX_SERVICE "stream_index"
/* Characters of a stream worker address. */
#define OCKAMI_STREAM_ADDRESS_LEN 32
/* Service addresses: the plain names plus two backend-specific aliases. */
#define OCKAMI_STREAM_ALIASES_MAX 3

/* ---- types ----------------------------------------------------------------- */

typedef struct ockami_stream ockami_stream;
typedef struct ockami_pull ockami_pull;

typedef enum ockami_stream_state {
  OCKAMI_STREAM_CREATING, /* stream_create / registry append in flight */
  OCKAMI_STREAM_READY,    /* worker running */
  OCKAMI_STREAM_DELETING, /* worker stopped, stream_delete / tombstone in flight */
} ockami_stream_state;

typedef enum ockami_svc_state {
  OCKAMI_SVC_RUNNING,
  OCKAMI_SVC_STOPPING, /* store callbacks still run; nothing new starts */
} ockami_svc_state;

/* A requester waiting for Init while its stream is being created. */
typedef struct ockami_init_waiter {
  struct ockami_init_waiter *next;
  ockam_route reply;
} ockami_init_waiter;

/* One pull: in flight in the store, or parked (long-poll) on its stream. */
struct ockami_pull {
  ockami_pull *prev, *next; /* the stream's parked list */
  ockami_stream *stream;
  ockami_peer *peer; /* counted in its OCKAMI_PEER_PULLS, or NULL */
  ockam_route reply;
  ockam_timer *timer; /* parked only: the deadline */
  uint64_t request_id;
  uint64_t index;
  uint32_t limit;
  bool long_poll;
  uint64_t deadline_ms; /* loop clock; long-poll only */
  uint64_t seen;        /* stream->appended when the read was submitted */
  size_t budget;        /* bytes of StreamMessages that fit the reply frame */
};

struct ockami_stream {
  ockami_stream_service *svc;
  ockami_stream_state state;
  ockam_worker *worker;
  char addr[OCKAMI_STREAM_ADDRESS_LEN + 1];
  ockami_init_waiter *waiters; /* CREATING only */
  uint32_t nwaiters;
  ockami_pull *parked_head, *parked_tail;
  uint32_t nparked;
  uint64_t appended;  /* successful appends completed, a change counter */
  uint64_t next_seen; /* one past the highest index this hub saw stored (a
                         lower bound of the stream's end): index saves up to
                         it need no check (stream_service.c) */
  /* Deletion. Pulls and pushes in flight point at the stream, so each holds
   * a reference; a stream that is gone (removed from svc->streams) is freed
   * when its last reference drops (ockami_stream_unref). */
  uint32_t refs;
  bool gone;
  bool has_delete_reply;
  ockam_route delete_reply; /* who asked for the deletion (DELETING only) */
  char delete_from[48];     /* the service address the request arrived at */
  uint64_t reg_index;       /* registry record of its name; UINT64_MAX = none */
  uint64_t last_active_ms;  /* loop clock of the last create, push or pull */
  uint8_t *creator;         /* key of the peer it counts against (stream_registry.c), or NULL */
  size_t creator_len;
  ockami_map charges;        /* per-identity quota usage charged through it (acl.h) */
  ockami_stream_figures fig; /* statistics (stats.h) */
  size_t name_len;
  char name[]; /* name_len bytes + NUL (names may contain NUL; use name_len) */
};

typedef struct ockami_stream_stats {
  uint64_t creates, pushes, push_errors, pushes_refused, pulls, pulls_parked, pulls_woken, invalid;
  uint64_t index_clamped; /* index saves beyond the stream's end (lowered or dropped) or
                            for a stream the hub does not serve (dropped) */
  uint64_t over_quota;    /* requests refused by a per-connection quota */
  uint64_t pulls_dropped; /* parked pulls whose connection closed */
  /* for the statistics (stats.h) */
  uint64_t push_bytes, confirms, pulled, pulled_bytes, index_saves;
  ockami_histogram commit_latency; /* push accepted -> durable */
  uint32_t consumers;              /* tracked (client id, stream) pairs */
  uint64_t consumers_untracked;    /* not tracked: OCKAMI_STATS_CONSUMERS_MAX reached */
  uint64_t push_duplicates;        /* idempotent pushes already stored (original index confirmed) */
  uint64_t push_out_of_order;      /* idempotent pushes refused with RESEND */
} ockami_stream_stats;

struct ockami_stream_service {
  ockam_node *node;
  ockami_peers *peers; /* per-connection quotas (hub_internal.h) */
  uint32_t max_streams_per_peer, max_pulls_per_peer, max_pushes_per_peer;
  bool peer_limit_logged;
  ockami_svc_state state;
  const ockami_store_ops *ops;
  ockami_store *store;
  /* Delivers the store's inline completions from the node's dispatch loop:
   * a pull parked on a stream is answered in the loop turn that read the
   * push, and the answer leaves in that turn's write (ockami_node_defer). */
  ockami_deferred store_kick;
  /* Every reply of the stream services goes through it (direct_send.h):
   * straight into the client's TCP output, in order with the queued ones. */
  ockami_direct_cache direct;
  ockami_store *registry; /* NULL for the memory store */
  uint64_t registry_next; /* next registry index to read */
  bool registry_reading;
  ockam_timer *registry_timer;
  ockam_worker *service_worker;
  ockam_worker *index_worker;
  char service_names[OCKAMI_STREAM_ALIASES_MAX][48];
  char index_names[OCKAMI_STREAM_ALIASES_MAX][48];
  size_t naliases;
  ockami_map streams; /* name -> ockami_stream */
  ockami_map by_addr; /* worker address -> ockami_stream (READY only) */
  uint32_t max_streams;
  uint32_t max_message;
  uint32_t long_poll_max_ms;
  uint32_t recheck_ms; /* shared store: parked pulls read again this often; 0 = never */
  uint32_t max_pending_pushes;
  uint64_t max_pending_bytes;
  bool no_idem; /* idempotent pushes refused like a 2021 hub */
  uint32_t pending_pushes;
  uint64_t pending_bytes;
  uint32_t pending_reads;
  size_t pending_read_bytes; /* reply bytes those reads may return */
  uint32_t pending_index;
  uint32_t nparked;
  bool overloaded;            /* pushes are being refused (logged once per episode) */
  bool limit_logged;          /* the stream limit was reached (logged once) */
  ockami_buf scratch;         /* reply encoding */
  ockami_sp_stream_msg *msgs; /* OCKAM_PULL_LIMIT_MAX entries */
  ockami_stream_stats stats;
  ockam_conn_sub *conn_sub; /* connection events: drop parked pulls of closed connections */
  uint64_t idle_expiry_ms;  /* 0 = empty streams never expire */
  ockam_timer *expiry_timer;
  bool sweeping;
  uint8_t sweep_after[OCKAM_NAME_MAX]; /* where the next sweep's list starts */
  size_t sweep_after_len;
  uint64_t deletes, expired;
};

/* ---- stream_service.c -------------------------------------------------------- */

/* The worker address of a stream name (see the top of this file). */
/* A per-connection quota refused a request (logged once per hub). */
void ockami_stream_over_quota(ockami_stream_service *svc, const char *what, uint32_t max);
void ockami_stream_worker_address(const char *name, size_t len,
                                  char out[static OCKAMI_STREAM_ADDRESS_LEN + 1]);
/* Record that the record at `index` exists (raises st->next_seen). */
static inline void ockami_stream_seen(ockami_stream *st, uint64_t index) {
  if (index != UINT64_MAX && index + 1 > st->next_seen) st->next_seen = index + 1;
}
/* Whether a reply may go to `to`: not empty, and its first hop is not one of
 * the hub's own service or stream addresses (a reply that comes back as a
 * request could loop forever inside the hub). */
bool ockami_stream_reply_ok(const ockami_stream_service *svc, const ockam_route *to);
/* Sends svc->scratch (the encoded reply) to `to` from local address `from`. */
void ockami_stream_send(ockami_stream_service *svc, const char *from, const ockam_route *to);
/* Answers an undecodable request with error{"Invalid request"} unless the
 * request was itself an `error` payload or `to` is not a valid reply route. */
void ockami_stream_invalid(ockami_stream_service *svc, const char *from, const ockam_route *to,
                           const uint8_t *payload, size_t len, int why);
/* Sends error{reason} to `to` from `from` (after the same checks). */
void ockami_stream_error(ockami_stream_service *svc, const char *from, const ockam_route *to,
                         const char *reason);

/* References held by pulls and pushes in flight (see struct ockami_stream). */
static inline void ockami_stream_ref(ockami_stream *st) {
  st->refs++;
}
void ockami_stream_unref(ockami_stream *st);
/* A new stream record (CREATING, in no map yet), or NULL. */
ockami_stream *ockami_stream_new(ockami_stream_service *svc, const char *name, size_t len);
void ockami_stream_free(ockami_stream *st);
/* Starts the worker of a registered stream: 0 or an OCKAM_E* code. */
int ockami_stream_activate(ockami_stream *st);
/* Forgets a deleted stream: stops its worker, answers its parked pulls. */
void ockami_stream_retire(ockami_stream *st);
/* One request as the stream and index services receive it. `from` is the
 * local address it arrived at (the reply's `from`); it may point into
 * from_buf, so the struct is not copied. */
typedef struct ockami_stream_request {
  const char *from;
  const ockam_route *ret;
  const uint8_t *p;
  size_t len;
  ockami_sp_msg msg;
  char from_buf[OCKAM_ADDRESS_MAX_LEN + 1];
} ockami_stream_request;
/* Fills rq from m and decodes its payload: the decoder's 0 or OCKAM_E* code
 * (every field but msg is set either way). */
int ockami_stream_request_read(ockam_worker *w, const ockam_message *m, ockami_stream_request *rq);

/* ---- stream_registry.c -------------------------------------------------------- */

/* Opens the registry's store and starts the workers of the names in it. */
int ockami_stream_registry_open(ockami_stream_service *svc, const ockami_store_options *so);
/* Reads registry records added by other hubs sharing the store (timer callback). */
void ockami_stream_registry_poll(void *arg);
/* A stream created on a peer's request counts in its OCKAMI_PEER_STREAMS
 * until it is deleted, expires or its creation fails (release). */
void ockami_stream_creator_count(ockami_stream *st, ockami_peer *peer);
void ockami_stream_creator_release(ockami_stream *st);

/* ---- stream_index.c ------------------------------------------------------------ */

extern const ockam_worker_ops ockami_stream_index_ops;

/* ---- stream_worker.c ---------------------------------------------------------- */

/* Starts the stream's worker under st->addr; the stream becomes READY. */
OCKAM_MUST_CHECK int ockami_stream_worker_start(ockami_stream *st);
/* Stops the worker (its `stopped` callback no longer touches st). */
void ockami_stream_worker_stop(ockami_stream *st);
/* Answers every parked pull of st with an empty list (stream deleted). */
void ockami_stream_answer_parked(ockami_stream *st);
/* Answers nothing and frees every parked pull of st (service stop). */
void ockami_stream_drop_parked(ockami_stream *st);
/* Frees, unanswered, the parked pulls of st whose reply goes first to `hop`
 * (a connection that closed: the answer could only be lost, and the client
 * asks again on its next connection). Returns how many. */
size_t ockami_stream_drop_parked_via(ockami_stream *st, const ockam_address *hop);

#endif
