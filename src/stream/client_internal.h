/* Stream client internals shared by client.c (lifecycle and public API),
 * producer.c (spec §8.2) and consumer.c (spec §8.3).
 *
 * Each worker owns a private control address used as the return address of
 * its requests, so hub replies never mix with user traffic: the producer owns
 * {tx, ctl, mark}, the consumer owns {ctl, mark}. Each `mark` receives markers
 * the client sends itself; the node delivers in FIFO order, so a marker
 * arrives after everything queued before it. The consumer's marker ends a
 * batch: every message of it has been handled by its first local hop, and
 * only then is the read position saved. The producer's marker tells
 * ockam_stream_flush() that every message sent to tx before the call has
 * reached the outbox.
 */
#ifndef OCKAM_STREAM_CLIENT_INTERNAL_H
#define OCKAM_STREAM_CLIENT_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "buf.h"
#include "direct_send.h"
#include "message.h"
#include "node.h"
#include "ockam/identity_channel.h"
#include "ockam/stream.h"
#include "route.h"
#include "stream_proto.h"

#define MOD "stream"
#define NEVER UINT64_MAX
/* Consecutive failures (timeouts, errors) after which a side creates its
 * stream again; also create attempts per hub route before the next route. */
#define FAIL_LIMIT 3u
/* Retry and backoff delays grow as retry_ms << n, n at most this. */
#define BACKOFF_SHIFT_MAX 3u
/* Marker payload: the batch sequence number, u64 little-endian. */
#define MARKER_LEN 8u
/* Random local addresses: 32 hex characters. */
#define ADDR_LEN 32u
/* Longest pause of a side whose hub connection is down: after it the side
 * behaves as if it were up (retries, re-creates), in case the transport
 * never reports the connection back. */
#define DOWN_PAUSE_MAX_MS 10000u

/* ---- state --------------------------------------------------------------- */

/* What producer and consumer share: the way to their stream worker. */
typedef struct side {
  struct ockam_stream *s;
  ockam_worker *w;        /* NULL once its `stopped` callback ran */
  char ctl[ADDR_LEN + 1]; /* private return address of every request */
  const char *name;       /* stream name, owned by the stream */
  ockam_route worker;     /* the stream worker: return route of Init (spec §8.2) */
  uint32_t hub;           /* route in use: 0 = route_to_hub, then the fallbacks */
  uint32_t failures;      /* consecutive timeouts and errors */
  uint32_t attempts;      /* create requests sent since the last Init */
  uint64_t deadline;      /* next timeout on the loop clock, NEVER if none */
  /* The connection to the hub in use was reported down (a node connection
   * event) and not back up yet: requests would only queue behind the dead
   * connection, so none are sent or counted as timed out until it is back
   * (for at most DOWN_PAUSE_MAX_MS), and with fallback hubs the side moves
   * on at failover_at. */
  bool down;
  uint64_t down_since;
  uint64_t failover_at; /* NEVER unless down with a fallback hub */
  /* Requests go straight into the TCP output when the hub is a TCP hop away
   * (direct_send.h). */
  ockami_direct_cache dc;
} side;

typedef enum prod_state { PROD_CREATING, PROD_READY, PROD_BACKOFF, PROD_STOPPED } prod_state;

/* One message kept until the hub confirmed storing it. */
typedef struct push_entry {
  uint64_t id;      /* request_id, one per message, kept across resends */
  uint64_t seq;     /* sequence number in the producer's session (idempotent form) */
  uint64_t sent_at; /* last send on the loop clock */
  uint64_t round;   /* producer->round of its last send */
  bool sent;        /* sent at least once: the next send is a resend */
  bool confirmed;   /* PushConfirm OK seen (entry waits for older ones) */
  size_t len;
  uint8_t payload[]; /* BARE TransportMessage: the push's data */
} push_entry;

/* The idempotent producer extension, negotiated like long-poll. */
typedef enum idem_state {
  IDEM_TRYING, /* one push in flight until the hub answers the extended form */
  IDEM_ON,
  IDEM_OFF, /* plain 2021 pushes for the rest of the producer's life */
} idem_state;

typedef struct producer {
  side sd;
  prod_state state;
  char mark[ADDR_LEN + 1]; /* private address for flush markers */
  uint64_t flush_seq;      /* last flush marker sent */
  uint64_t flush_seen;     /* last flush marker received */
  push_entry **ring;       /* cap is a power of two; [head] is the oldest unconfirmed */
  size_t cap, head, count;
  size_t next_send; /* offset from head of the next entry to send in this round */
  uint64_t next_id;
  idem_state idem;
  uint64_t session;  /* random, per producer life (and after a hub forgot it) */
  uint64_t next_seq; /* sequence number of the next message */
  uint64_t round;    /* passes over the unconfirmed pushes: RESEND answers to an
                        older pass are stale */
} producer;

typedef enum cons_state { CONS_CREATING, CONS_INDEXING, CONS_PULLING, CONS_STOPPED } cons_state;
typedef enum long_poll_state { LP_TRYING, LP_ON, LP_OFF } long_poll_state;
/* The consumer's read loop, whatever the state of its stream. */
typedef enum pull_phase {
  PULL_IDLE,    /* no pull in flight: the next one goes at next_pull_at */
  PULL_SENT,    /* a pull of the current round awaits its reply */
  PULL_HANDING, /* a batch was handed on; its marker has not come back */
} pull_phase;
/* The identity channel the client keeps open to an authenticated hub
 * (options identity and hub_identifier). */
typedef enum hubch_state {
  HUBCH_NONE,    /* plain client: route_to_hub is used as given */
  HUBCH_OPENING, /* an attempt runs; both sides wait */
  HUBCH_UP,      /* hubs[0] is [channel]: requests travel inside it */
  HUBCH_WAIT,    /* the last attempt failed or the channel was lost: next at ch_at */
} hubch_state;

/* The client object: the user's handle and the two workers. */
typedef enum stream_life {
  LIFE_RUNNING,
  LIFE_STOPPED, /* the node stopped the workers; the user still holds the handle */
  LIFE_CLOSED,  /* ockam_stream_close() ran; freed once both workers are gone */
} stream_life;

typedef struct consumer {
  side sd;
  cons_state state;
  char mark[ADDR_LEN + 1]; /* private address for end-of-batch markers */
  long_poll_state lp;
  pull_phase phase;
  bool positioned;       /* next_index is known (an Index reply arrived once) */
  uint64_t next_index;   /* next stream index to read */
  uint64_t next_id;      /* request id of the next pull */
  uint64_t round_id;     /* first request id of the current pull; repeats share the round */
  bool sent_long;        /* the pull in flight uses the long-poll form */
  uint64_t sent_at;      /* when it was (re)sent */
  uint64_t next_pull_at; /* PULL_IDLE: when to send the next pull (NEVER: not yet) */
  uint64_t marker_seq;   /* last batch marker sent */
  bool flushing;         /* PULL_HANDING: handlers ran, waiting for transports to write */
  ockami_flush_mark flush;
  uint64_t flush_since; /* when the wait began */
  uint64_t flush_check; /* next check */
  uint64_t saved;       /* last index sent in a Save */
  bool save_unsure;     /* that Save has no later reply proving it reached the hub */
  uint64_t save_id;     /* first pull request id sent after that Save */
  /* Adaptive pull limit: messages asked by the next pull, between
   * s->pull_limit and s->pull_limit_max (see cons_adapt_limit). */
  uint32_t limit;
  uint32_t sent_limit; /* the limit of the pull in flight */
} consumer;

struct ockam_stream {
  ockam_node *node;
  char *stream_service, *index_service, *client_id, *outgoing, *incoming;
  char tx[ADDR_LEN + 1];
  char rx[OCKAM_ADDRESS_MAX_LEN + 1];
  uint32_t interval_ms, pull_limit, pull_limit_max, retry_ms, long_poll_ms, outbox_max,
      max_in_flight;
  ockam_route *hubs; /* n_hubs routes: route_to_hub, then the fallbacks */
  size_t n_hubs;
  size_t push_overhead; /* bytes a push frame adds around its payload, at most */
  producer prod;
  consumer cons;
  ockam_timer *timer;
  uint64_t timer_at;
  ockam_conn_sub *conn_sub; /* connection events of the node */
  int live_workers;         /* workers whose `stopped` callback has not run */
  stream_life life;
  ockami_buf scratch;
  ockam_stream_stats stats;
  ockam_route allowed; /* ockam_stream_allow() addresses, one hop each */
  /* Identity channel to the hub (client.c). */
  hubch_state ch;
  ockam_identity *identity;       /* borrowed */
  ockam_trust_policy *hub_policy; /* accepts the pinned hub identifier only */
  ockam_route hub_listener;       /* route_to_hub ‖ the hub's identity listener */
  ockam_route hub_peer;           /* first hop of route_to_hub: its connection events count */
  char ch_local[ADDR_LEN + 1];    /* the channel (or the attempt), "" if none */
  uint32_t ch_timeout_ms;
  uint32_t ch_failures; /* attempts failed in a row: the wait before the next grows */
  uint64_t ch_at;       /* HUBCH_WAIT: when to try again; NEVER otherwise */
  uint64_t ch_up_at;    /* when the channel came up */
  uint64_t ch_heard_at; /* last message from the hub through it */
};

static inline uint64_t backoff(const ockam_stream *s, uint32_t n) {
  return (uint64_t)s->retry_ms << (n < BACKOFF_SHIFT_MAX ? n : BACKOFF_SHIFT_MAX);
}

static inline bool arrived_on(const ockam_message *msg, const char *address) {
  ockam_address a;
  return ockami_route_first(ockam_message_onward(msg), &a) &&
         ockami_address_is(&a, OCKAM_ADDRESS_LOCAL, address);
}

static inline bool str_is(ockami_sp_str a, const char *b) {
  size_t n = strlen(b);
  return a.len == n && memcmp(a.p, b, n) == 0;
}

static inline bool side_paused(const side *sd, uint64_t now) {
  return sd->down && now - sd->down_since < DOWN_PAUSE_MAX_MS;
}

static inline push_entry *prod_at(const producer *p, size_t i) {
  return p->ring[(p->head + i) & (p->cap - 1)];
}

/* client.c: whether ockam_stream_allow() listed this address. */
bool ockami_stream_allowed(const ockam_stream *s, const ockam_address *a);
/* client.c: requests shared by both sides, markers, the timer. */
void ockami_stream_schedule(ockam_stream *s);
int ockami_side_send_to_service(side *sd, const char *service);
void ockami_side_send_create(side *sd, uint64_t now);
void ockami_side_create_timeout(side *sd, uint64_t now);
void ockami_side_recreate(side *sd, uint64_t now, const char *why);
/* Records that the side's hub connection went down (false: nothing more to
 * do until it is back) or came back (true: failures reset; the caller asks
 * again for what was in flight). */
bool ockami_side_conn(side *sd, bool up, uint64_t now);
bool ockami_side_take_init(side *sd, const ockam_message *msg, const ockami_sp_msg *m);
bool ockami_stream_read_marker(const ockam_message *msg, uint64_t *seq);
int ockami_stream_send_marker(ockam_stream *s, const char *mark, uint64_t seq);

/* producer.c */
int ockami_prod_handle(ockam_worker *w, ockam_message *msg);
void ockami_prod_tick(producer *p, uint64_t now);
/* The producer's hub connection went down (up = false) or came back. */
void ockami_prod_conn(producer *p, bool up, uint64_t now);

/* consumer.c */
int ockami_cons_handle(ockam_worker *w, ockam_message *msg);
void ockami_cons_tick(consumer *c, uint64_t now);
void ockami_cons_conn(consumer *c, bool up, uint64_t now);

#endif
