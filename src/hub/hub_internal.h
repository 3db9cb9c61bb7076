/* Hub services, each a worker (or a family of workers) on the hub node. */
#ifndef OCKAMI_HUB_INTERNAL_H
#define OCKAMI_HUB_INTERNAL_H

#include "ockam/hub.h"

#include <stdbool.h>

#include "map.h"
#include "ockam/route.h"

/* Per-connection accounting (peers.c). A peer is the first hop of a
 * request's return route: `0#<16 hex>` for a client on a TCP connection. */
enum {
  OCKAMI_PEER_FORWARDERS, /* forwarders it registered that live */
  OCKAMI_PEER_STREAMS,    /* streams it created */
  OCKAMI_PEER_PULLS,      /* its pulls in flight or held */
  OCKAMI_PEER_PUSHES,     /* its pushes not yet durable */
  OCKAMI_PEER_NCOUNTERS
};
typedef struct ockami_peer {
  uint32_t n[OCKAMI_PEER_NCOUNTERS];
  size_t key_len;
  uint8_t key[]; /* address type ‖ value */
} ockami_peer;
struct ockami_authz;
typedef struct ockami_peers {
  ockam_node *node;
  ockami_map map; /* key -> ockami_peer */
  /* Access control of the hub (acl.h), shared by every service that
   * receives the peers; NULL = everything allowed. */
  struct ockami_authz *authz;
} ockami_peers;
void ockami_peers_init(ockami_peers *ps, ockam_node *node);
/* The peer of a request (created on first use); NULL for an empty route or
 * when out of memory. Valid until a sweep finds it gone and idle. */
ockami_peer *ockami_peers_get(ockami_peers *ps, const ockam_route *ret);
/* False once the peer's connection (its local address) is gone. */
bool ockami_peer_alive(const ockami_peers *ps, const ockami_peer *p);
/* Frees peers that are gone and have no forwarder, pull or push left. */
void ockami_peers_sweep(ockami_peers *ps);
void ockami_peers_free(ockami_peers *ps);

OCKAM_MUST_CHECK int ockami_echo_start(ockam_node *node, ockam_worker **out);

/* forwarding_service (forwarding.c). */
typedef struct ockami_forwarding ockami_forwarding;
OCKAM_MUST_CHECK int ockami_forwarding_start(ockam_node *node, const ockam_hub_options *opts,
                                             ockami_peers *peers, ockami_forwarding **out);
/* Stops forwarders whose registrant's connection is gone or that were idle
 * too long. */
void ockami_forwarding_sweep(ockami_forwarding *svc);
/* Stops the service and every forwarder. */
void ockami_forwarding_stop(ockami_forwarding *svc);
/* Live forwarders, registrations refused, forwarders released (svc may be NULL). */
void ockami_forwarding_counts(const ockami_forwarding *svc, uint32_t *live, uint64_t *refused,
                              uint64_t *released);

/* Stream services `stream` and `stream_index` over the configured store
 * (stream_service.c). */
typedef struct ockami_stream_service ockami_stream_service;
OCKAM_MUST_CHECK int ockami_stream_service_start(ockam_node *node, const ockam_hub_options *opts,
                                                 ockami_peers *peers, ockami_stream_service **out);
void ockami_stream_service_stop(ockami_stream_service *svc);

/* The default data directory and the registry's place inside it. */
#define OCKAMI_HUB_DATA_DIR "./ockam-hub-data"
#define OCKAMI_HUB_REGISTRY_SUBDIR "registry"

/* Data directory checks and the one-hub-per-directory lock (datadir.c):
 * creates dir (mode 0700) if missing; refuses (OCKAM_ESTORAGE, logged with
 * the reason) a directory not owned by this user or writable by group or
 * others, store files that are symlinks or not ours, and a directory locked
 * by another hub (the log line names its pid). registry_subdir (optional)
 * is checked the same way. *lock_fd holds the lock until
 * ockami_datadir_close(). */
OCKAM_MUST_CHECK int ockami_datadir_open(const char *dir, const char *registry_subdir,
                                         int *lock_fd);
void ockami_datadir_close(int lock_fd);
#endif
