/* TCP transport (spec §2).
 *
 * Frames are `u16 big-endian length ‖ BARE TransportMessage`. Once created, the
 * transport is the node's router for address type 1: a message whose next hop
 * is `1#host:port` has that hop popped and is written to the connection for
 * host:port, which is opened on first use (no explicit connect needed) and
 * re-opened with exponential backoff after it is lost; frames are queued
 * (bounded) meanwhile. Received frames get `1#host:port` prepended to their
 * return route on outgoing connections, and the connection's own local
 * address (`0#<random>`, as the 2021 hub does) on accepted connections, then
 * are routed by their onward route.
 *
 * A frame that does not decode (bad varint, truncated route, address type >=
 * 128, trailing bytes, oversize) closes that one connection with a log line.
 * The transport is freed with its node.
 */
#ifndef OCKAM_TCP_H
#define OCKAM_TCP_H

#include <stddef.h>
#include <stdint.h>

#include "ockam/error.h"
#include "ockam/node.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct ockam_tcp ockam_tcp;

typedef struct ockam_tcp_options {
  size_t send_queue_bytes;  /* per connection; 0 = OCKAM_TCP_SEND_QUEUE_BYTES */
  uint32_t max_connections; /* accepted at once; 0 = OCKAM_TCP_MAX_CONNECTIONS */
  uint32_t backoff_min_ms;  /* 0 = OCKAM_TCP_BACKOFF_MIN_MS */
  uint32_t backoff_max_ms;  /* 0 = OCKAM_TCP_BACKOFF_MAX_MS */
  uint32_t listen_backlog;  /* listen(2) backlog; 0 = OCKAM_TCP_LISTEN_BACKLOG */
} ockam_tcp_options;

typedef struct ockam_tcp_stats {
  uint64_t frames_in, frames_out;
  uint64_t bytes_in, bytes_out;
  uint64_t malformed;          /* connections closed for a bad frame */
  uint64_t dropped;            /* frames dropped: queue full or unknown connection */
  uint64_t accepted, rejected; /* connections accepted / refused over the cap */
  uint64_t connects, reconnects;
  uint32_t open_connections;
} ockam_tcp_stats;

/* Create the transport on node (opts may be NULL). Only one per node.
 * Errors: OCKAM_EEXIST (the node already has a type-1 router). */
OCKAM_MUST_CHECK int ockam_tcp_create(ockam_node *node, const ockam_tcp_options *opts,
                                      ockam_tcp **out);
/* Listen on "host:port" ("127.0.0.1:0" picks a free port). bound (optional,
 * bound_cap bytes) receives the actual "ip:port". */
OCKAM_MUST_CHECK int ockam_tcp_listen(ockam_tcp *tcp, const char *host_port, char *bound,
                                      size_t bound_cap);
/* Open (or reuse) the connection to "host:port" and run the loop until it is
 * up or timeout_ms passes. Optional: sending to 1#host:port connects too.
 * Errors: OCKAM_EADDR, OCKAM_ETIMEDOUT, OCKAM_ECONNREFUSED. */
OCKAM_MUST_CHECK int ockam_tcp_connect(ockam_tcp *tcp, const char *host_port, int64_t timeout_ms);
/* 1 when an outgoing connection to host_port is currently open. */
int ockam_tcp_is_connected(ockam_tcp *tcp, const char *host_port);
void ockam_tcp_get_stats(const ockam_tcp *tcp, ockam_tcp_stats *out);

#ifdef __cplusplus
}
#endif
#endif
