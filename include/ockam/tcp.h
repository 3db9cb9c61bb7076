/* TCP transport (spec §2).
 *
 * Frames are `u16 big-endian length ‖ BARE TransportMessage`. Once created, the
 * transport is the node's router for address type 1: a message whose next hop
 * is `1#host:port` has that hop popped and is written to the connection for
 * host:port.
 *
 * Outgoing connections are a local decision. The router writes only to
 * destinations this node's own code asked for: those opened with
 * ockam_tcp_connect(), and those listed in ockam_tcp_options.allow (opened on
 * first use). A message for any other `1#host:port` - for example a frame a
 * peer sent routed `[1#somewhere, ...]` - is dropped and counted
 * (dials_refused); it never causes a connection. connect_on_use = true
 * restores "any destination is opened on first use", for trusted
 * single-tenant setups only: any peer that can send this node a frame can
 * then make it connect anywhere.
 *
 * A lost outgoing connection is re-opened with exponential backoff; frames
 * are queued (bounded) meanwhile. A destination that keeps failing for
 * give_up_ms loses its queued frames; one opened with ockam_tcp_connect()
 * keeps being retried (new frames are dropped until it is back), any other is
 * forgotten. Outgoing connections count against max_connections. Received
 * frames get `1#host:port` prepended to their
 * return route on outgoing connections, and the connection's own local
 * address (`0#<random>`, as the 2021 hub does) on accepted connections, then
 * are routed by their onward route.
 *
 * A frame that does not decode (bad varint, truncated route, address type >=
 * 128, trailing bytes, oversize) closes that one connection with a log line.
 * The transport is released by ockam_tcp_close(), before or after the node's
 * destruction ("Handles" in ockam/node.h).
 *
 * Failures are reported when they happen: ockam_tcp_connect() returns
 * OCKAM_ECONNREFUSED as soon as the peer refuses; every connection going up
 * or down is published as a node connection event (node.h,
 * ockam_node_subscribe_conn_events); outgoing connections ping a silent peer
 * and treat one that stops answering as lost. A message with an empty onward
 * route is a control message (spec §3): an accepting end answers ping (00)
 * with pong (01) sent to the ping's return route, with an empty return route.
 */
#ifndef OCKAM_TCP_H
#define OCKAM_TCP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ockam/error.h"
#include "ockam/node.h"
#include "ockam/route.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct ockam_tcp ockam_tcp;

/* Room for any "ip:port" the transport writes ("[v6 address]:port" + NUL). */
#define OCKAM_TCP_ADDRESS_CAP 64

typedef struct ockam_tcp_options {
  size_t send_queue_bytes;  /* per connection; 0 = OCKAM_TCP_SEND_QUEUE_BYTES */
  uint32_t max_connections; /* accepted at once; 0 = OCKAM_TCP_MAX_CONNECTIONS */
  uint32_t backoff_min_ms;  /* 0 = OCKAM_TCP_BACKOFF_MIN_MS */
  uint32_t backoff_max_ms;  /* 0 = OCKAM_TCP_BACKOFF_MAX_MS */
  uint32_t listen_backlog;  /* listen(2) backlog; 0 = OCKAM_TCP_LISTEN_BACKLOG */
  /* Destinations ("host:port", compared byte for byte with the route's hop)
   * the router may open on first use; the strings are copied. */
  const char *const *allow;
  size_t n_allow;
  /* Open any 1#host:port on first use. Trusted single-tenant setups only. */
  bool connect_on_use;
  uint32_t give_up_ms; /* failing destination drops its queue; 0 = OCKAM_TCP_GIVE_UP_MS */
  /* Liveness of outgoing connections: a ping after ping_idle_ms of silence
   * (0 = OCKAM_TCP_PING_IDLE_MS); a peer that answered pings before and is
   * silent for dead_after_ms (0 = OCKAM_TCP_DEAD_AFTER_MS) is taken as dead:
   * the connection is closed (OCKAM_CONN_DOWN, error OCKAM_ETIMEDOUT) and
   * re-opened. no_ping: never ping (for peers that do not answer control
   * messages; the 2021 hub and the ockam-c hub do). */
  uint32_t ping_idle_ms;
  uint32_t dead_after_ms;
  bool no_ping;
  /* Connection hygiene and memory (0 = the default in limits.h). */
  size_t output_budget;    /* bytes queued on all connections: OCKAM_TCP_OUTPUT_BUDGET */
  uint32_t write_stall_ms; /* queued output without progress: close; OCKAM_TCP_WRITE_STALL_MS */
  uint32_t first_frame_ms; /* accepted: first complete frame within; OCKAM_TCP_FIRST_FRAME_MS */
  uint32_t idle_ms;        /* accepted: no frame for this long: close; OCKAM_TCP_IDLE_MS;
                              UINT32_MAX = never */
  uint32_t max_per_ip;     /* accepted from one IP address at once; OCKAM_TCP_MAX_PER_IP */
} ockam_tcp_options;

typedef struct ockam_tcp_stats {
  uint64_t frames_in, frames_out;
  uint64_t bytes_in, bytes_out;
  uint64_t malformed;          /* connections closed for a bad frame */
  uint64_t dropped;            /* frames dropped: queue full or unknown connection */
  uint64_t accepted, rejected; /* connections accepted / refused over the cap */
  uint64_t connects, reconnects;
  uint32_t open_connections;
  uint64_t dials_refused;      /* frames for destinations this node did not ask for */
  uint64_t given_up;           /* destinations that failed for give_up_ms */
  uint64_t rejected_per_ip;    /* accepted and closed at once: over max_per_ip */
  uint64_t closed_first_frame; /* no complete first frame within first_frame_ms */
  uint64_t closed_idle;        /* no frame for idle_ms */
  uint64_t closed_stalled;     /* queued output not read for write_stall_ms */
  uint64_t output_paused;      /* times a connection stopped being read for unread output */
  uint64_t dropped_budget;     /* frames dropped: output budget of all connections used up */
  uint64_t output_bytes;       /* bytes queued for writing on all connections now */
  uint64_t output_bytes_max;   /* ... and at most so far */
  uint64_t closed_partial;     /* closed: oldest partial frame when the partial budget ran out */
  uint64_t partial_bytes;      /* bytes held for incomplete frames now */
} ockam_tcp_stats;

/* Create the transport on node (opts may be NULL). Only one per node.
 * Errors: OCKAM_EEXIST (the node already has a type-1 router). */
OCKAM_MUST_CHECK int ockam_tcp_create(ockam_node *node, const ockam_tcp_options *opts,
                                      ockam_tcp **out);
/* Listen on "host:port" ("127.0.0.1:0" picks a free port). bound (optional,
 * bound_cap bytes, at least OCKAM_TCP_ADDRESS_CAP) receives the actual
 * "ip:port". Errors: OCKAM_EADDR, OCKAM_EEXIST (in use), OCKAM_ETOOSMALL,
 * OCKAM_ECLOSED (transport closed), OCKAM_EIO. */
OCKAM_MUST_CHECK int ockam_tcp_listen(ockam_tcp *tcp, const char *host_port, char *bound,
                                      size_t bound_cap);
/* Open (or reuse) the connection to "host:port" and run the loop until it is
 * up or timeout_ms passes. From then on the router writes frames for
 * 1#host:port to it and keeps re-opening it when lost, also when this call
 * failed (so either side may start first). timeout_ms = 0 starts connecting
 * and returns 0 at once. Errors: OCKAM_EADDR, OCKAM_ETIMEDOUT,
 * OCKAM_ECONNREFUSED, OCKAM_EFULL (max_connections reached). */
OCKAM_MUST_CHECK int ockam_tcp_connect(ockam_tcp *tcp, const char *host_port, int64_t timeout_ms);
/* ockam_tcp_connect() to the first hop of route when it is 1#host:port;
 * returns 0 without doing anything when it is another type. */
OCKAM_MUST_CHECK int ockam_tcp_connect_route(ockam_tcp *tcp, const ockam_route *route,
                                             int64_t timeout_ms);
/* True when an outgoing connection to host_port is currently open. */
bool ockam_tcp_is_connected(const ockam_tcp *tcp, const char *host_port);
void ockam_tcp_get_stats(const ockam_tcp *tcp, ockam_tcp_stats *out);
/* Close every connection and listener, stop routing type-1 hops, free tcp. */
void ockam_tcp_close(ockam_tcp *tcp);

#ifdef __cplusplus
}
#endif
#endif
