/* Hub statistics: what the `status` service, `/metrics`, `/api/status` and
 * the dashboard report (docs/OPERATIONS.md, "Watching a hub").
 *
 * Counters live where they are counted, so the hot paths only add to a
 * field: the stream service's totals and commit-latency histogram in
 * ockami_stream_stats, per-stream counters and consumers in each
 * ockami_stream (stream_internal.h), connections and traffic in the TCP
 * transport (ockam_tcp_get_stats), forwarders in the forwarding service.
 * This module reads them all on the hub's loop thread: once a second it
 * derives rates, and on demand (a status request, or every second while the
 * HTTP listener runs) it asks the store for the kept bounds and bytes of
 * every stream (one stream_list pass), then answers or publishes.
 *
 * Bounds. Per-stream data exists only for streams the hub serves (capped by
 * max_streams). Consumers are the (client id, stream) pairs whose index this
 * hub saw saved or read since it started: at most
 * OCKAMI_STATS_CONSUMERS_PER_STREAM per stream (the least recently active
 * one is replaced) and OCKAMI_STATS_CONSUMERS_MAX in all (further ones are
 * counted as untracked).
 */
#ifndef OCKAMI_HUB_STATS_H
#define OCKAMI_HUB_STATS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ockam/hub.h"
#include "ockam/tcp.h"

#define OCKAMI_STATS_CONSUMERS_PER_STREAM 32u
#define OCKAMI_STATS_CONSUMERS_MAX 10000u
/* Rates are derived over this period. */
#define OCKAMI_STATS_TICK_MS 1000u
/* Status requests waiting for a store listing; more are answered at once. */
#define OCKAMI_STATS_WAITERS_MAX 64u
/* Streams listed per `/metrics` scrape and per `/api/status` document. */
#define OCKAMI_STATS_EXPORT_STREAMS_MAX 1000u

/* ---- commit latency histogram -------------------------------------------- */

/* Upper bounds in microseconds; a last, implicit bucket is +Inf. */
#define OCKAMI_LATENCY_BUCKETS 13
extern const uint64_t ockami_latency_bounds_us[OCKAMI_LATENCY_BUCKETS];

typedef struct ockami_histogram {
  uint64_t counts[OCKAMI_LATENCY_BUCKETS + 1]; /* per bucket, not cumulative */
  uint64_t count;
  uint64_t sum_us;
} ockami_histogram;

void ockami_histogram_observe(ockami_histogram *h, uint64_t us);
/* An estimate (µs) of the q-quantile: linear inside the bucket that holds
 * it; 0 when empty. */
uint64_t ockami_histogram_quantile_us(const ockami_histogram *h, double q);

/* ---- per-stream figures ------------------------------------------------------ */

/* A consumer of a stream: its last index seen saved or read. */
typedef struct ockami_consumer {
  struct ockami_consumer *next;
  uint64_t index;
  uint64_t updated_ms; /* loop clock */
  size_t client_len;
  char client[]; /* client_len bytes + NUL */
} ockami_consumer;

typedef struct ockami_stream_figures {
  /* counted by the stream worker since the hub started */
  uint64_t pushes, push_bytes, confirms, pulls, pulled, pulled_bytes;
  /* from the store's last listing */
  bool listed;
  uint64_t first, next, bytes, last_append_ms;
  /* rates over the last tick */
  uint64_t prev_pushes, prev_pulled;
  double push_rate, pull_rate;
  ockami_consumer *consumers;
  uint32_t nconsumers;
} ockami_stream_figures;

struct ockami_stream;
struct ockami_stream_service;
/* Records that client's index on st is `index` (saves only go up). */
void ockami_stats_consumer(struct ockami_stream_service *svc, struct ockami_stream *st,
                           const char *client, size_t client_len, uint64_t index);
/* Frees a stream's consumers (when the stream is freed). */
void ockami_stats_stream_free(struct ockami_stream_service *svc, struct ockami_stream *st);

/* ---- the hub's statistics ------------------------------------------------------ */

typedef struct ockami_stats ockami_stats;
struct ockami_forwarding;

typedef struct ockami_stats_parts {
  ockam_tcp *tcp;
  struct ockami_forwarding *forwarding;
  struct ockami_stream_service *streams; /* NULL with no_streams */
  struct ockami_authz *authz;            /* access control (the `status` right) */
  const char *listen;                    /* the bound address */
  const char *store;                     /* store name, or "none" */
  uint32_t max_streams;
} ockami_stats_parts;

/* Starts the statistics, the `status` service and (opts->http_listen) the
 * HTTP listener. The parts must outlive ockami_stats_detach(). */
OCKAM_MUST_CHECK int ockami_stats_start(ockam_node *node, const ockam_hub_options *opts,
                                        const ockami_stats_parts *parts, ockami_stats **out);
/* Stops the service, the timer and the HTTP listener; callbacks still in
 * flight (a store listing) find the object inert. Call before the parts stop. */
void ockami_stats_detach(ockami_stats *s);
/* Frees the object; after the parts stopped. NULL is ignored. */
void ockami_stats_free(ockami_stats *s);

/* ---- shared by stats.c, status.c and http.c ----------------------------------------- */

/* Rates over the last tick, per second. */
typedef struct ockami_rates {
  double pushes, push_bytes, confirms, pulls, pulled, frames_in, frames_out, bytes_in, bytes_out;
} ockami_rates;

typedef struct ockami_status_waiter ockami_status_waiter;
typedef struct ockami_http ockami_http;

struct ockami_stats {
  ockam_node *node;
  ockami_stats_parts parts;
  char listen[OCKAM_TCP_ADDRESS_CAP];
  char store[32];
  bool detached;
  uint64_t started_real_ms; /* wall clock, ms since the epoch */
  uint64_t started_ms;      /* loop clock */
  uint64_t status_requests;
  ockam_worker *worker; /* the `status` service */
  ockam_timer *tick;
  /* rates: the totals at the previous tick */
  uint64_t prev_ms;
  double prev[9];
  ockami_rates rates;
  /* store listing (every stream's kept bounds and bytes) */
  bool listing;
  bool listing_ok;                  /* listings can run (there is a store) */
  uint64_t list_started, list_done; /* listings started / completed */
  uint64_t listed_ms;               /* loop clock of the last complete listing; 0 = never */
  uint8_t list_after[OCKAM_NAME_MAX];
  size_t list_after_len;
  uint64_t acc_bytes, acc_messages;
  uint64_t storage_bytes, stored_messages; /* totals of the last listing */
  ockami_status_waiter *waiters;
  uint32_t nwaiters;
  ockami_http *http;
};

/* Starts a store listing unless one runs; returns false when none can be
 * started (no store, or the store refused). */
bool ockami_stats_refresh(ockami_stats *s);
/* Called by stats.c when a listing completed (status.c answers waiters). */
void ockami_status_listed(ockami_stats *s);
/* The `status` worker (status.c). */
OCKAM_MUST_CHECK int ockami_status_service_start(ockami_stats *s);
void ockami_status_service_stop(ockami_stats *s);

/* The HTTP listener (http.c): its own thread serves the last published
 * snapshot. */
OCKAM_MUST_CHECK int ockami_http_start(const char *host_port, ockami_http **out);
/* Publishes new documents (copied); callable from the loop thread. */
void ockami_http_publish(ockami_http *h, const char *metrics, size_t metrics_len,
                         const char *status, size_t status_len);
void ockami_http_stop(ockami_http *h);

/* ---- documents (status.c) ------------------------------------------------------- */

/* What a document holds; built on the loop thread. */
typedef enum ockami_status_kind {
  OCKAMI_STATUS_HUB,     /* hub figures only */
  OCKAMI_STATUS_STREAMS, /* one page of the stream list, after a name */
  OCKAMI_STATUS_STREAM,  /* one stream with its consumers */
  OCKAMI_STATUS_FULL,    /* hub figures and the first streams (/api/status) */
} ockami_status_kind;

/* Reads a status request (a JSON object, or nothing for the hub's figures;
 * docs/OPERATIONS.md): its kind, and the stream name it gives (`name`, or
 * hex in `name_hex` / `after_hex`) into name, which has room for
 * OCKAM_NAME_MAX bytes. Returns NULL, or why the request is refused. */
const char *ockami_status_parse_request(const uint8_t *p, size_t len, ockami_status_kind *kind,
                                        char *name, size_t *name_len);

/* The JSON text of a document, NUL-terminated, malloc'd (*len without the
 * NUL), at most cap bytes (streams that do not fit are left for the next
 * page: "next_after"). NULL when out of memory. name/after may be NULL. */
char *ockami_status_document(ockami_stats *s, ockami_status_kind kind, const char *name,
                             size_t name_len, size_t cap, size_t *len);
/* The Prometheus text exposition of the figures, malloc'd. */
char *ockami_status_metrics(ockami_stats *s, size_t *len);

#endif
