/* Internal to the TCP transport: the connection, listener and transport
 * state shared by tcp.c (router, lifecycle, output barrier), tcp_conn.c
 * (connections: read, write, framing, events, liveness), tcp_listen.c
 * (accept, limits, hygiene timers) and tcp_out.c (dialing, backoff). */
#ifndef OCKAM_TCP_INTERNAL_H
#define OCKAM_TCP_INTERNAL_H

#include "ockam/tcp.h"

#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "log.h"
#include "map.h"
#include "node.h"
#include "ockam/limits.h"
#include "wire.h"

#define MOD "tcp"

typedef enum conn_state {
  CONN_RESOLVING,
  CONN_CONNECTING,
  CONN_OPEN,
  CONN_BACKOFF,
  CONN_CLOSED /* accepted connection gone, or transport shutting down */
} conn_state;

typedef struct conn conn;

/* One socket. A connection that reconnects gets a fresh sock each time; the
 * old one is freed in its close callback. */
typedef struct sock {
  uv_tcp_t h;
  conn *c; /* NULL once detached */
  uv_connect_t connect_req;
  uv_write_t wreq; /* lives with the socket: libuv completes it after close */
  uv_buf_t wbuf;
} sock;

struct conn {
  ockam_tcp *tcp;
  uint64_t id;           /* unique per transport, for flush marks */
  uint64_t queued_total; /* bytes ever queued; written = queued_total - outstanding */
  conn_state state;
  bool outgoing;
  bool writing;
  bool read_paused;       /* reading stopped: pause_why says why */
  uint8_t pause_why;      /* PAUSE_* bits */
  bool got_frame;         /* accepted: a complete frame arrived */
  uint64_t opened_ms;     /* loop time the connection opened */
  uint64_t last_frame_ms; /* loop time of the last complete frame */
  uint64_t progress_ms;   /* loop time output last moved (or started waiting) */
  char ip[48];            /* accepted: the peer's IP address (per-IP cap key) */
  bool dirty;             /* on tcp->dirty list */
  bool persistent;        /* outgoing, asked for by ockam_tcp_connect: never forgotten */
  bool gave_up;           /* outgoing, failing for give_up_ms: frames dropped until open */
  uint64_t failing_since; /* loop time of the first failure since last open; 0 = none */
  char *peer;             /* "host:port" as given (outgoing) or "ip:port" (accepted) */
  size_t peer_len;
  ockam_worker *worker; /* accepted: routes 0#<addr> back to this socket */
  sock *s;
  ockami_buf rbuf;
  size_t rbuf_counted;       /* rbuf.cap as counted in tcp->partial_bytes */
  uint64_t partial_since_ms; /* loop time rbuf last went from empty to in use */
  ockami_buf pending;        /* frames waiting */
  ockami_buf inflight;       /* frames being written, from a frame boundary */
  size_t inflight_off;
  size_t out_counted; /* pending.cap + inflight.cap as counted in tcp->output_held */
  uint8_t refused;    /* PAUSE_* reason alloc_cb gave no buffer for */
  uint32_t backoff_ms;
  ockam_timer *timer;
  int64_t waiters; /* blocking connect calls waiting */
  int last_error;
  uint64_t last_rx_ms;   /* loop time of the last byte received */
  uint64_t last_ping_ms; /* loop time of the last ping sent */
  bool pong_seen;        /* the peer answers pings: silence means it is gone */
  conn *next, *prev;
  conn *next_dirty;
};

typedef struct listener {
  uv_tcp_t h;
  ockam_tcp *tcp;
  struct listener *next;
} listener;

/* Who frees the handle ("Handles" in ockam/node.h). */
typedef enum tcp_life {
  TCP_OPEN,
  TCP_CLOSED,   /* ockam_tcp_close() ran: freed once the node side is done */
  TCP_DETACHED, /* the node side is done (node destroyed): freed by ockam_tcp_close() */
} tcp_life;

struct ockam_tcp {
  ockam_node *node;
  ockam_worker *router;
  ockam_tcp_options opt;
  ockami_map outgoing; /* peer -> conn */
  conn *conns;
  conn *dirty;
  listener *listeners;
  uv_prepare_t flush;
  bool flush_active;
  uv_timer_t liveness; /* pings silent outgoing connections */
  bool liveness_active;
  bool closing; /* the router stopped: no new connections or listeners */
  tcp_life life;
  uint64_t next_conn_id;
  uint32_t accepted_open;
  uv_timer_t hygiene; /* deadlines of accepted connections, stalled output */
  bool hygiene_active;
  uint8_t *rshared;   /* read buffer shared by all connections */
  uv_prepare_t burst; /* before each poll: the read burst starts again */
  bool burst_active;
  bool burst_paused;       /* some connections wait for the next read burst */
  bool node_paused;        /* ... for the node's queue to shrink */
  bool budget_paused;      /* ... for the output budget to be half free */
  conn *last_read;         /* the connection read last (where resuming starts) */
  size_t burst_bytes;      /* read in this loop iteration, all connections */
  size_t output_held;      /* bytes allocated for output on all connections (buffer capacity) */
  size_t partial_bytes;    /* held by all connections for incomplete frames */
  ockami_map per_ip;       /* ip -> number of accepted connections (as a pointer-sized count) */
  uint32_t outgoing_count; /* outgoing connections (any state) */
  char **allow;            /* destinations opened on first use */
  size_t n_allow;
  ockam_tcp_stats stats;
};

/* Why a connection is not being read: the node's queue is long, its own
 * replies are not being read, this loop iteration's read burst is used up,
 * or the output budget of all connections is (a reply to it was dropped). */
enum { PAUSE_NODE = 1, PAUSE_OUTPUT = 2, PAUSE_BURST = 4, PAUSE_BUDGET = 8 };

extern const ockam_worker_ops ockami_tcp_accepted_ops;
void ockami_tcp_conn_lost(conn *c, int err);
void ockami_tcp_rbuf_counted(conn *c);
void ockami_tcp_output_counted(conn *c);
void ockami_tcp_output_trim(conn *c);
conn *ockami_tcp_conn_new(ockam_tcp *tcp, const char *peer, size_t peer_len, bool outgoing);
void ockami_tcp_conn_opened(conn *c);
void ockami_tcp_conn_publish(conn *c, ockam_conn_event_kind kind, int err);
int ockami_tcp_conn_queue_message(conn *c, const ockam_message *m);
uint8_t *ockami_tcp_direct_reserve(conn *c, size_t len);
void ockami_tcp_direct_commit(conn *c, size_t len);
void ockami_tcp_conn_unlink_free(conn *c);
bool ockami_tcp_dial_allowed(const ockam_tcp *tcp, const uint8_t *peer, size_t len);
void ockami_tcp_format_peer(const struct sockaddr_storage *ss, char *out, size_t cap);
void ockami_tcp_listener_close_cb(uv_handle_t *h);
int ockami_tcp_outgoing_open(ockam_tcp *tcp, const char *peer, size_t len, conn **out);
void ockami_tcp_resume_all(void *arg);
void ockami_tcp_sock_close_cb(uv_handle_t *h);
void ockami_tcp_sock_detach_close(conn *c);
int ockami_tcp_split_host_port(const char *hp, char *host, size_t cap, int *port);

#endif
