/* The hub: a node that accepts TCP connections and offers the 2021 hub
 * services (spec §9): `echo_service`, `forwarding_service`, and the stream
 * services `stream` / `stream_index` (spec §7) over a durable store.
 */
#ifndef OCKAM_HUB_H
#define OCKAM_HUB_H

#include <stdbool.h>
#include <stdint.h>

#include "ockam/error.h"
#include "ockam/limits.h"
#include "ockam/node.h"
#include "ockam/tcp.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct ockam_hub ockam_hub;

typedef struct ockam_hub_options {
  const char *listen;          /* "host:port"; NULL = "127.0.0.1:4000" */
  const char *store;           /* "memory", "lmdb" (default), "jetstream" */
  const char *data_dir;        /* lmdb directory; NULL = "./ockam-hub-data" */
  const char *nats_url;        /* jetstream servers, comma-separated */
  int replicas;                /* jetstream replicas; 0 = 1 */
  uint64_t retention_messages; /* per stream; 0 = unlimited */
  uint64_t retention_bytes;    /* per stream; 0 = unlimited */
  uint64_t retention_age_s;    /* per stream; 0 = unlimited */
  uint32_t max_streams;        /* 0 = OCKAM_HUB_MAX_STREAMS */
  uint32_t max_message;        /* bytes per stored message; 0 = OCKAM_STREAM_STORED_MAX,
                                  which is also the ceiling */
  uint32_t max_connections;    /* 0 = OCKAM_TCP_MAX_CONNECTIONS */
  uint32_t max_forwarders;     /* 0 = OCKAM_HUB_MAX_FORWARDERS */
  uint32_t long_poll_max_ms;   /* 0 = OCKAM_LONG_POLL_MAX_MS */
  uint32_t max_pending_pushes; /* pushes not yet durable before new ones are refused
                                  with PushConfirm{ERROR}; 0 = OCKAM_STREAM_PENDING_PUSHES */
  uint64_t max_pending_bytes;  /* data bytes of those pushes; 0 = OCKAM_STREAM_PENDING_BYTES */
  bool no_streams;             /* offer only echo and forwarding */
  bool no_sync;                /* lmdb without fsync: benchmarks only */
  uint32_t listen_backlog;     /* listen(2) backlog; 0 = OCKAM_TCP_LISTEN_BACKLOG */
  /* Quotas per client connection (the first hop of a request's return route)
   * and lifetimes; 0 = the default in limits.h. */
  uint32_t max_forwarders_per_connection; /* OCKAM_HUB_MAX_FORWARDERS_PER_CONNECTION */
  uint64_t forwarder_idle_timeout_s;      /* OCKAM_HUB_FORWARDER_IDLE_S */
  uint32_t max_streams_per_connection;    /* OCKAM_HUB_MAX_STREAMS_PER_CONNECTION */
  uint32_t max_pulls_per_connection;      /* OCKAM_HUB_MAX_PULLS_PER_CONNECTION */
  uint32_t max_pushes_per_connection;     /* OCKAM_HUB_MAX_PUSHES_PER_CONNECTION */
  /* Connection hygiene and memory of the TCP listener (see ockam_tcp_options);
   * 0 = the default in limits.h. */
  uint32_t max_connections_per_ip; /* OCKAM_TCP_MAX_PER_IP */
  uint32_t first_frame_timeout_ms; /* OCKAM_TCP_FIRST_FRAME_MS */
  uint32_t idle_timeout_ms;        /* OCKAM_TCP_IDLE_MS */
  uint32_t write_stall_timeout_ms; /* OCKAM_TCP_WRITE_STALL_MS */
  uint64_t output_budget;          /* OCKAM_TCP_OUTPUT_BUDGET */
  uint64_t send_queue_bytes;       /* per connection; OCKAM_TCP_SEND_QUEUE_BYTES */
  uint64_t stream_idle_expiry_ms;  /* an empty stream unused this long is
                                      deleted; 0 = never */
  uint64_t stats_interval_s;       /* log a statistics line (INFO) this often; 0 = never */
} ockam_hub_options;

/* Start the hub services and the listener on node (its own TCP transport:
 * the node must not have one). bound (optional, bound_cap bytes, at least
 * OCKAM_TCP_ADDRESS_CAP) receives the listening "ip:port". *out is released by
 * ockam_hub_stop(), before or after the node's destruction ("Handles" in
 * ockam/node.h). Errors: OCKAM_EEXIST (port, service address or TCP
 * transport in use), OCKAM_ENOTFOUND (unknown store), OCKAM_ESTORAGE (store
 * cannot open; with lmdb also: the data directory is locked by another hub,
 * not owned by this user, writable by group or others, or holds a symlink
 * where a store file goes — the log says which), OCKAM_ETOOSMALL (bound_cap). */
OCKAM_MUST_CHECK int ockam_hub_start(ockam_node *node, const ockam_hub_options *opts, char *bound,
                                     size_t bound_cap, ockam_hub **out);
/* Stop everything the hub started: the stream services (pending writes finish
 * and the store closes), every forwarder and the forwarding service, echo,
 * the listener and every connection; then free hub. */
void ockam_hub_stop(ockam_hub *hub);

#ifdef __cplusplus
}
#endif
#endif
