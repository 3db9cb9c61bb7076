/* The hub: a node that accepts TCP connections and offers the 2021 hub
 * services (spec §9): `echo_service`, `forwarding_service`, and the stream
 * services `stream` / `stream_index` (spec §7) over a durable store.
 */
#ifndef OCKAM_HUB_H
#define OCKAM_HUB_H

#include <stdbool.h>
#include <stdint.h>

#include "ockam/error.h"
#include "ockam/identity_channel.h"
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
  /* Identity and access control (docs/OPERATIONS.md "Identities and access
   * control"). identity: the hub's identity file (its keys in the vault
   * directory beside it, DIR/vault); NULL = DATA_DIR/identity with the lmdb
   * store (created, mode 0600, on first start), else a new identity in
   * memory for this run. acl: ACL file (NULL = none: every identity may do
   * everything). anonymous: "allow", "deny" or NULL; NULL = what the ACL
   * says, else allowed only when the hub listens on loopback (a hub on any
   * other address refuses to start without a decision). */
  const char *identity;
  const char *acl;
  const char *anonymous;
  /* "host:port" of an HTTP listener serving /metrics (Prometheus text),
   * /healthz, /api/status (JSON) and a dashboard at /; NULL = none. It runs
   * on a thread of its own and serves figures the node publishes every
   * second. Anyone who can reach it reads stream names and counts: keep it
   * on loopback unless that is intended. */
  const char *http_listen;
  bool no_idempotent_producers; /* refuse the idempotent push form like a
                                   2021 hub (docs/protocol-extensions.md) */
} ockam_hub_options;

/* The hub runs an identity channel listener at OCKAM_HUB_IDENTITY_LISTENER
 * (ockam/identity_channel.h): clients reach its services through a channel
 * made by ockam_hub_channel_create(). */

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
/* Whether opts make a startable hub as far as access control goes: 0, or
 * OCKAM_EINVAL with the reason in msg (cap bytes): a non-loopback listener
 * without --anonymous or an ACL, an anonymous value other than allow/deny,
 * or an ACL file that does not parse. ockam_hub_start() checks the same. */
OCKAM_MUST_CHECK int ockam_hub_check_access(const ockam_hub_options *opts, char *msg, size_t cap);
/* Validate an ACL file: 0, or an error (OCKAM_EMALFORMED, OCKAM_ENOTFOUND,
 * OCKAM_EIO, OCKAM_EOVERFLOW) with "PATH: line N: why" in msg. */
OCKAM_MUST_CHECK int ockam_hub_acl_check(const char *path, char *msg, size_t cap);
/* Load (creating it if needed, as ockam_hub_start() does) the identity opts
 * name and write its identifier (64 hex + NUL) into buf (cap >=
 * OCKAM_IDENTIFIER_BUF). OCKAM_ENOTFOUND when opts give the hub no
 * persistent identity (it would be a new one at each start). */
OCKAM_MUST_CHECK int ockam_hub_identity_identifier(const ockam_hub_options *opts, char *buf,
                                                   size_t cap);
/* The running hub's identifier (64 hex + NUL). */
OCKAM_MUST_CHECK int ockam_hub_identifier(const ockam_hub *hub, char *buf, size_t cap);
/* Read the ACL file again (SIGHUP). The new file is validated first: if it
 * does not parse, the old ACL stays and the error is returned (and logged,
 * with the line). Connections, channels and streams are untouched.
 * Errors: OCKAM_ESTATE (the hub runs without an ACL file), those of
 * ockam_hub_acl_check(). */
OCKAM_MUST_CHECK int ockam_hub_reload_acl(ockam_hub *hub);
/* Requests refused by the ACL and by per-identity quotas since start. */
void ockam_hub_access_stats(const ockam_hub *hub, uint64_t *denied, uint64_t *over_quota);

/* Stop everything the hub started: the stream services (pending writes finish
 * and the store closes), every forwarder and the forwarding service, echo,
 * the listener and every connection; then free hub. */
void ockam_hub_stop(ockam_hub *hub);

#ifdef __cplusplus
}
#endif
#endif
