/* Stream client (spec §7, §8): a producer worker for the outgoing stream and
 * a consumer worker for the incoming one, both driven by replies from the hub
 * and by one timer. Behaviour and guarantees: include/ockam/stream.h.
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
#include <stdlib.h>
#include <string.h>

#include "bare.h"
#include "log.h"
#include "message.h"
#include "node.h"
#include "ockam/stream.h"
#include "route.h"
#include "stream_proto.h"
#include "wire.h"

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
} side;

typedef enum prod_state { PROD_CREATING, PROD_READY, PROD_BACKOFF, PROD_STOPPED } prod_state;

/* One message kept until the hub confirmed storing it. */
typedef struct push_entry {
  uint64_t id;      /* request_id, one per message, kept across resends */
  uint64_t sent_at; /* last send on the loop clock */
  bool sent;        /* sent at least once: the next send is a resend */
  bool confirmed;   /* PushConfirm OK seen (entry waits for older ones) */
  size_t len;
  uint8_t payload[]; /* the complete stream_push ProtocolPayload */
} push_entry;

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
} producer;

typedef enum cons_state { CONS_CREATING, CONS_INDEXING, CONS_PULLING, CONS_STOPPED } cons_state;
typedef enum long_poll_state { LP_TRYING, LP_ON, LP_OFF } long_poll_state;
/* The consumer's read loop, whatever the state of its stream. */
typedef enum pull_phase {
  PULL_IDLE,    /* no pull in flight: the next one goes at next_pull_at */
  PULL_SENT,    /* a pull of the current round awaits its reply */
  PULL_HANDING, /* a batch was handed on; its marker has not come back */
} pull_phase;
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
} consumer;

struct ockam_stream {
  ockam_node *node;
  char *stream_service, *index_service, *client_id, *outgoing, *incoming;
  char tx[ADDR_LEN + 1];
  char rx[OCKAM_ADDRESS_MAX_LEN + 1];
  uint32_t interval_ms, pull_limit, retry_ms, long_poll_ms, outbox_max, max_in_flight;
  ockam_route *hubs; /* n_hubs routes: route_to_hub, then the fallbacks */
  size_t n_hubs;
  size_t push_overhead; /* bytes a push frame adds around its payload, at most */
  producer prod;
  consumer cons;
  ockam_timer *timer;
  uint64_t timer_at;
  int live_workers; /* workers whose `stopped` callback has not run */
  stream_life life;
  ockami_buf scratch;
  ockam_stream_stats stats;
};

static void stream_schedule(ockam_stream *s);

static uint64_t backoff(const ockam_stream *s, uint32_t n) {
  return (uint64_t)s->retry_ms << (n < BACKOFF_SHIFT_MAX ? n : BACKOFF_SHIFT_MAX);
}

static bool arrived_on(const ockam_message *msg, const char *address) {
  ockam_address a;
  return ockami_route_first(ockam_message_onward(msg), &a) &&
         ockami_address_is(&a, OCKAM_ADDRESS_LOCAL, address);
}

static bool str_is(ockami_sp_str a, const char *b) {
  size_t n = strlen(b);
  return a.len == n && memcmp(a.p, b, n) == 0;
}

/* Bytes of the BARE encoding of a route, at most (hop lengths over 127 take
 * a two-byte uint on the wire). */
static size_t route_wire_max(const ockam_route *r) {
  return ockami_uint_size(r->count) + r->len + r->count;
}

/* ---- requests shared by both sides ---------------------------------------- */

/* Send s->scratch to hubs[sd->hub] ‖ service from the side's control address. */
static int send_to_service(side *sd, const char *service) {
  ockam_stream *s = sd->s;
  ockam_route r = OCKAMI_ROUTE_INIT;
  int rc = ockami_route_assign(&r, &s->hubs[sd->hub]);
  if (!rc) rc = ockam_route_append(&r, OCKAM_ADDRESS_LOCAL, service, strlen(service));
  if (!rc) rc = ockam_send(s->node, sd->ctl, &r, s->scratch.data, s->scratch.len);
  ockami_route_release(&r);
  return rc;
}

/* stream_create{Some(name)} to the stream service (spec §8.2 step 1, §8.3
 * step 1). Later attempts wait longer. */
static void side_send_create(side *sd, uint64_t now) {
  ockam_stream *s = sd->s;
  s->scratch.len = 0;
  int rc = ockami_sp_encode_create(&s->scratch, sd->name, strlen(sd->name));
  if (!rc) rc = send_to_service(sd, s->stream_service);
  if (rc) LOG_WARN(MOD, "stream %s: cannot send stream_create: %s", sd->name, ockam_strerror(rc));
  sd->deadline = now + backoff(s, sd->attempts / FAIL_LIMIT);
  sd->attempts++;
}

static void side_next_hub(side *sd) {
  ockam_stream *s = sd->s;
  if (s->n_hubs < 2) return;
  sd->hub = (uint32_t)((sd->hub + 1) % s->n_hubs);
  LOG_INFO(MOD, "stream %s: switching to hub route %u", sd->name, sd->hub);
}

/* No Init in time: ask again, through the next hub route every FAIL_LIMIT
 * attempts. */
static void side_create_timeout(side *sd, uint64_t now) {
  sd->s->stats.timeouts++;
  if (sd->attempts % FAIL_LIMIT == 0) side_next_hub(sd);
  LOG_DEBUG(MOD, "stream %s: no Init, asking again", sd->name);
  side_send_create(sd, now);
}

/* The stream worker stopped answering (or answered `error`): create the
 * stream again, through the next hub route if there is one. */
static void side_recreate(side *sd, uint64_t now, const char *why) {
  ockam_stream *s = sd->s;
  s->stats.reinits++;
  LOG_WARN(MOD, "stream %s: %s; creating the stream again", sd->name, why);
  side_next_hub(sd);
  sd->failures = 0;
  sd->attempts = 0;
  side_send_create(sd, now);
}

/* Init{name} (spec §7.2): its return route is the handle to the stream worker. */
static bool side_take_init(side *sd, const ockam_message *msg, const ockami_sp_msg *m) {
  if (!str_is(m->u.init.name, sd->name)) {
    LOG_WARN(MOD, "stream %s: ignoring Init for stream '%.*s'", sd->name, (int)m->u.init.name.len,
             m->u.init.name.p);
    return false;
  }
  if (ockam_route_len(ockam_message_return(msg)) == 0) {
    LOG_WARN(MOD, "stream %s: ignoring Init without a return route", sd->name);
    return false;
  }
  if (ockami_route_assign(&sd->worker, ockam_message_return(msg))) return false;
  sd->attempts = 0;
  sd->failures = 0;
  char r[256];
  ockam_route_format(&sd->worker, r, sizeof r);
  LOG_INFO(MOD, "stream %s: ready, stream worker %s", sd->name, r);
  return true;
}

/* ---- producer (spec §8.2) -------------------------------------------------- */

static push_entry *prod_at(const producer *p, size_t i) {
  return p->ring[(p->head + i) & (p->cap - 1)];
}

static void prod_update_deadline(producer *p, uint64_t now) {
  ockam_stream *s = p->sd.s;
  if (p->state != PROD_READY) return; /* CREATING and BACKOFF set their own */
  if (p->next_send > 0)               /* the oldest push sent; waits grow while none is confirmed */
    p->sd.deadline = prod_at(p, 0)->sent_at + backoff(s, p->sd.failures);
  else if (p->count > 0)
    p->sd.deadline = now + s->retry_ms; /* a send failed: try again */
  else
    p->sd.deadline = NEVER;
}

/* Send queued pushes in order while the window allows. */
static void prod_pump(producer *p, uint64_t now) {
  ockam_stream *s = p->sd.s;
  if (p->state != PROD_READY) return;
  while (p->next_send < p->count && p->next_send < s->max_in_flight) {
    push_entry *e = prod_at(p, p->next_send);
    if (!e->confirmed) {
      int rc = ockam_send(s->node, p->sd.ctl, &p->sd.worker, e->payload, e->len);
      if (rc) {
        LOG_WARN(MOD, "stream %s: cannot send push %llu: %s", p->sd.name, (unsigned long long)e->id,
                 ockam_strerror(rc));
        break;
      }
      if (e->sent) s->stats.resent++;
      e->sent = true;
      e->sent_at = now;
    }
    p->next_send++;
  }
  prod_update_deadline(p, now);
}

/* Go back to the oldest unconfirmed push: everything unconfirmed is sent
 * again, in order, under its request id. */
static void prod_go_back(producer *p, uint64_t now) {
  p->next_send = 0;
  prod_pump(p, now);
}

static void prod_recreate(producer *p, uint64_t now, const char *why) {
  p->state = PROD_CREATING;
  p->next_send = 0;
  side_recreate(&p->sd, now, why);
}

static int prod_grow(producer *p) {
  size_t cap = p->cap ? p->cap * 2 : 64;
  push_entry **ring = calloc(cap, sizeof *ring);
  if (!ring) return OCKAM_ENOMEM;
  for (size_t i = 0; i < p->count; i++) ring[i] = prod_at(p, i);
  free(p->ring);
  p->ring = ring;
  p->cap = cap;
  p->head = 0;
  return OCKAM_OK;
}

static void prod_drop(producer *p, const char *why) {
  ockam_stream *s = p->sd.s;
  uint64_t n = ++s->stats.dropped;
  if ((n & (n - 1)) == 0) /* 1, 2, 4, 8, ...: bounded logging under overload */
    LOG_WARN(MOD, "stream %s: dropping message sent to tx: %s (%llu dropped so far)", p->sd.name,
             why, (unsigned long long)n);
}

/* A message for the outgoing stream: pop tx, keep the return route, push
 * BARE(TransportMessage) (spec §8.2 step 3). */
static int prod_on_data(producer *p, ockam_message *msg) {
  ockam_stream *s = p->sd.s;
  if (p->count >= s->outbox_max) {
    prod_drop(p, "outbox full");
    return OCKAM_EFULL;
  }
  if (p->count == p->cap) {
    int rc = prod_grow(p);
    if (rc) {
      prod_drop(p, "out of memory");
      return rc;
    }
  }
  ockam_route_pop(ockam_message_onward_mut(msg));
  ockami_buf tm = OCKAMI_BUF_INIT;
  s->scratch.len = 0;
  int rc = ockami_tm_encode(msg, &tm);
  if (!rc) rc = ockami_sp_encode_push(&s->scratch, p->next_id, tm.data, tm.len);
  ockami_buf_free(&tm);
  if (!rc && s->scratch.len + s->push_overhead > OCKAM_FRAME_MAX) rc = OCKAM_EOVERFLOW;
  if (rc) {
    prod_drop(p, rc == OCKAM_EOVERFLOW ? "too large for a frame" : ockam_strerror(rc));
    return rc;
  }
  push_entry *e = malloc(sizeof *e + s->scratch.len);
  if (!e) {
    prod_drop(p, "out of memory");
    return OCKAM_ENOMEM;
  }
  e->id = p->next_id++;
  e->sent_at = 0;
  e->sent = false;
  e->confirmed = false;
  e->len = s->scratch.len;
  memcpy(e->payload, s->scratch.data, s->scratch.len);
  p->ring[(p->head + p->count) & (p->cap - 1)] = e;
  p->count++;
  s->stats.pushed++;
  prod_pump(p, ockam_node_now_ms(s->node));
  return OCKAM_OK;
}

static void prod_on_confirm(producer *p, const ockami_sp_msg *m, uint64_t now) {
  ockam_stream *s = p->sd.s;
  uint64_t id = m->u.push_confirm.request_id;
  if (p->count == 0 || id < prod_at(p, 0)->id || id - prod_at(p, 0)->id >= p->count) {
    LOG_DEBUG(MOD, "stream %s: confirm for push %llu not pending", p->sd.name,
              (unsigned long long)id);
    return;
  }
  push_entry *e = prod_at(p, (size_t)(id - prod_at(p, 0)->id));
  if (m->u.push_confirm.status != OCKAMI_SP_STATUS_OK) {
    s->stats.errors++;
    if (e->confirmed || p->state != PROD_READY) return; /* already recovering */
    if (++p->sd.failures >= FAIL_LIMIT) {
      prod_recreate(p, now, "the hub keeps failing to store pushes");
      return;
    }
    LOG_WARN(MOD, "stream %s: hub could not store push %llu; resending from the oldest", p->sd.name,
             (unsigned long long)id);
    p->state = PROD_BACKOFF;
    p->next_send = 0;
    p->sd.deadline = now + backoff(s, p->sd.failures - 1);
    return;
  }
  if (e->confirmed) return; /* a resend was stored too */
  e->confirmed = true;
  s->stats.confirmed++;
  p->sd.failures = 0;
  while (p->count > 0 && prod_at(p, 0)->confirmed) {
    free(prod_at(p, 0));
    p->ring[p->head] = NULL;
    p->head = (p->head + 1) & (p->cap - 1);
    p->count--;
    if (p->next_send > 0) p->next_send--;
  }
  prod_pump(p, now);
}

/* A reply on the producer's control address; never treated as data. */
static void prod_on_reply(producer *p, const ockam_message *msg, uint64_t now) {
  ockam_stream *s = p->sd.s;
  size_t len;
  const uint8_t *payload = ockam_message_payload(msg, &len);
  ockami_sp_msg m;
  int rc = ockami_sp_decode_response(payload, len, &m);
  if (rc) {
    LOG_WARN(MOD, "stream %s: ignoring undecodable reply (%s)", p->sd.name, ockam_strerror(rc));
    return;
  }
  switch (m.kind) {
    case OCKAMI_SP_INIT:
      if (p->state != PROD_CREATING || !side_take_init(&p->sd, msg, &m)) return;
      p->state = PROD_READY;
      prod_go_back(p, now);
      return;
    case OCKAMI_SP_PUSH_CONFIRM:
      prod_on_confirm(p, &m, now);
      return;
    case OCKAMI_SP_ERROR:
      s->stats.errors++;
      LOG_WARN(MOD, "stream %s: hub error: %.*s", p->sd.name, (int)m.u.error.reason.len,
               m.u.error.reason.p);
      if (p->state != PROD_CREATING && ockam_route_equal(ockam_message_return(msg), &p->sd.worker))
        prod_recreate(p, now, "the stream worker answered error");
      return; /* during create the timer asks again */
    default:
      LOG_DEBUG(MOD, "stream %s: ignoring '%.*s' reply", p->sd.name, (int)m.protocol.len,
                m.protocol.p);
      return;
  }
}

static bool read_marker(const ockam_message *msg, uint64_t *seq) {
  size_t len;
  const uint8_t *p = ockam_message_payload(msg, &len);
  if (len != MARKER_LEN) return false;
  *seq = 0;
  for (unsigned i = 0; i < MARKER_LEN; i++) *seq |= (uint64_t)p[i] << (8 * i);
  return true;
}

/* A marker to one of the client's own private addresses. */
static int send_marker(ockam_stream *s, const char *mark, uint64_t seq) {
  uint8_t v[MARKER_LEN];
  for (unsigned i = 0; i < MARKER_LEN; i++) v[i] = (uint8_t)(seq >> (8 * i));
  ockam_route r = OCKAMI_ROUTE_INIT;
  int rc = ockam_route_append(&r, OCKAM_ADDRESS_LOCAL, mark, ADDR_LEN);
  if (!rc) rc = ockam_send(s->node, mark, &r, v, sizeof v);
  ockami_route_release(&r);
  return rc;
}

static void prod_tick(producer *p, uint64_t now) {
  if (now < p->sd.deadline) return;
  ockam_stream *s = p->sd.s;
  switch (p->state) {
    case PROD_CREATING:
      side_create_timeout(&p->sd, now);
      return;
    case PROD_BACKOFF:
      p->state = PROD_READY;
      prod_go_back(p, now);
      return;
    case PROD_READY:
      if (p->next_send == 0) { /* an earlier send failed */
        prod_pump(p, now);
        return;
      }
      s->stats.timeouts++;
      if (++p->sd.failures >= FAIL_LIMIT) {
        prod_recreate(p, now, "pushes are not confirmed");
        return;
      }
      LOG_INFO(MOD, "stream %s: push %llu not confirmed; resending from it", p->sd.name,
               (unsigned long long)prod_at(p, 0)->id);
      prod_go_back(p, now);
      return;
    case PROD_STOPPED:
      return;
  }
}

static int prod_handle(ockam_worker *w, ockam_message *msg) {
  producer *p = ockam_worker_user(w);
  ockam_stream *s = p->sd.s;
  int rc = OCKAM_OK;
  if (p->state == PROD_STOPPED) return OCKAM_ECLOSED;
  uint64_t seq;
  if (arrived_on(msg, s->tx))
    rc = prod_on_data(p, msg);
  else if (arrived_on(msg, p->mark))
    p->flush_seen = read_marker(msg, &seq) && seq > p->flush_seen ? seq : p->flush_seen;
  else
    prod_on_reply(p, msg, ockam_node_now_ms(s->node));
  stream_schedule(s);
  return rc;
}

/* ---- consumer (spec §8.3) -------------------------------------------------- */

static void cons_update_deadline(consumer *c) {
  ockam_stream *s = c->sd.s;
  if (c->state != CONS_PULLING) return; /* CREATING and INDEXING set their own */
  if (c->phase == PULL_SENT)
    c->sd.deadline = c->sent_at + backoff(s, c->sd.failures) + (c->sent_long ? s->long_poll_ms : 0);
  else if (c->phase == PULL_HANDING && c->flushing)
    c->sd.deadline = c->flush_check;
  else
    c->sd.deadline = c->next_pull_at;
}

static void cons_send_get(consumer *c, uint64_t now) {
  ockam_stream *s = c->sd.s;
  s->scratch.len = 0;
  int rc = ockami_sp_encode_index_get(&s->scratch, s->client_id, strlen(s->client_id), c->sd.name,
                                      strlen(c->sd.name));
  if (!rc) rc = send_to_service(&c->sd, s->index_service);
  if (rc) LOG_WARN(MOD, "stream %s: cannot send index Get: %s", c->sd.name, ockam_strerror(rc));
  c->sd.deadline = now + backoff(s, c->sd.failures);
}

/* stream_index Save{client_id, name, index}: fire-and-forget at the hub. */
static void cons_save(consumer *c, uint64_t index) {
  ockam_stream *s = c->sd.s;
  s->scratch.len = 0;
  int rc = ockami_sp_encode_index_save(&s->scratch, s->client_id, strlen(s->client_id), c->sd.name,
                                       strlen(c->sd.name), index);
  if (!rc) rc = send_to_service(&c->sd, s->index_service);
  if (rc) LOG_WARN(MOD, "stream %s: cannot send index Save: %s", c->sd.name, ockam_strerror(rc));
  c->saved = index;
  c->save_unsure = true;
  c->save_id = c->next_id;
  s->stats.index_saved++;
}

/* One pull for next_index; `repeat` keeps the current round (same index,
 * fresh request id, so a late reply to the first send is still accepted). */
static void cons_send_pull(consumer *c, uint64_t now, bool repeat) {
  ockam_stream *s = c->sd.s;
  if (!repeat) c->round_id = c->next_id;
  uint64_t id = c->next_id++;
  bool long_poll = c->lp != LP_OFF;
  s->scratch.len = 0;
  int rc = long_poll ? ockami_sp_encode_pull_wait(&s->scratch, id, c->next_index, s->pull_limit,
                                                  s->long_poll_ms)
                     : ockami_sp_encode_pull(&s->scratch, id, c->next_index, s->pull_limit);
  if (!rc) rc = ockam_send(s->node, c->sd.ctl, &c->sd.worker, s->scratch.data, s->scratch.len);
  if (rc) LOG_WARN(MOD, "stream %s: cannot send pull: %s", c->sd.name, ockam_strerror(rc));
  s->stats.polls++;
  c->phase = PULL_SENT;
  c->sent_long = long_poll;
  c->sent_at = now;
  c->next_pull_at = NEVER;
  cons_update_deadline(c);
}

static void cons_recreate(consumer *c, uint64_t now, const char *why) {
  c->state = CONS_CREATING;
  if (c->phase == PULL_SENT) c->phase = PULL_IDLE;
  c->round_id = c->next_id; /* replies to earlier pulls are now stale */
  side_recreate(&c->sd, now, why);
}

static bool is_private(const ockam_stream *s, const ockam_address *a) {
  return a->type == OCKAM_ADDRESS_LOCAL &&
         (ockami_address_is(a, 0, s->prod.sd.ctl) || ockami_address_is(a, 0, s->prod.mark) ||
          ockami_address_is(a, 0, s->cons.sd.ctl) || ockami_address_is(a, 0, s->cons.mark));
}

/* Hand one stored TransportMessage on (spec §8.3 step 5): prepend 0#tx to its
 * return route; route it by its onward route, or to rx when that is empty. */
static void cons_deliver(consumer *c, const ockami_sp_stream_msg *sm) {
  ockam_stream *s = c->sd.s;
  ockam_message *m;
  if (ockam_message_new(&m)) {
    s->stats.skipped++;
    return;
  }
  int rc = ockami_tm_decode(sm->data, sm->len, false, m); /* lenient like serde_bare */
  ockam_address first;
  if (!rc && ockami_route_first(ockam_message_onward(m), &first) && is_private(s, &first))
    rc = OCKAM_EADDR; /* nobody outside may reach the client's control addresses */
  if (!rc && ockam_route_len(ockam_message_onward(m)) == 0)
    rc = ockam_route_append(ockam_message_onward_mut(m), OCKAM_ADDRESS_LOCAL, s->rx, strlen(s->rx));
  if (!rc)
    rc = ockam_route_prepend(ockam_message_return_mut(m), OCKAM_ADDRESS_LOCAL, s->tx, ADDR_LEN);
  if (!rc) rc = ockam_send_message(s->node, m);
  if (rc) {
    LOG_WARN(MOD, "stream %s: skipping message %llu: %s", c->sd.name, (unsigned long long)sm->index,
             ockam_strerror(rc));
    ockam_message_free(m);
    s->stats.skipped++;
    return;
  }
  s->stats.delivered++;
}

static void cons_on_pull_response(consumer *c, const ockami_sp_msg *m, uint64_t now) {
  ockam_stream *s = c->sd.s;
  uint64_t id = m->u.pull_response.request_id;
  if (c->state != CONS_PULLING || c->phase != PULL_SENT || id < c->round_id || id >= c->next_id) {
    LOG_DEBUG(MOD, "stream %s: ignoring stale pull reply %llu", c->sd.name, (unsigned long long)id);
    return;
  }
  c->phase = PULL_IDLE;
  c->sd.failures = 0;
  if (c->sent_long && c->lp == LP_TRYING) c->lp = LP_ON;
  if (c->save_unsure && id >= c->save_id) c->save_unsure = false; /* it went first on the wire */
  bool progressed = false;
  /* What the transports hold before this batch is handed on (see cons_batch_done). */
  ockami_node_flush_mark(s->node, &c->flush);
  ockami_sp_msg_iter it;
  ockami_sp_stream_msg sm;
  ockami_sp_msg_iter_init(&it, &m->u.pull_response.messages);
  while (ockami_sp_msg_iter_next(&it, &sm)) {
    s->stats.pulled++;
    if (sm.index < c->next_index) { /* older than asked, or repeated in the reply */
      s->stats.skipped++;
      LOG_DEBUG(MOD, "stream %s: skipping index %llu, reading from %llu", c->sd.name,
                (unsigned long long)sm.index, (unsigned long long)c->next_index);
      continue;
    }
    if (sm.index > c->next_index && (c->next_index > 0 || progressed))
      LOG_INFO(MOD, "stream %s: gap, indexes %llu..%llu missing", c->sd.name,
               (unsigned long long)c->next_index, (unsigned long long)sm.index - 1);
    c->next_index = sm.index + 1;
    progressed = true;
    cons_deliver(c, &sm);
  }
  if (progressed) {
    /* Save and pull again once the batch has been handled (the marker). */
    int rc = send_marker(s, c->mark, ++c->marker_seq);
    if (!rc) {
      c->phase = PULL_HANDING;
      c->next_pull_at = NEVER;
      cons_update_deadline(c);
      return;
    }
    LOG_WARN(MOD, "stream %s: cannot send batch marker: %s", c->sd.name, ockam_strerror(rc));
  }
  /* Nothing new: poll again after the interval, or at once after a
   * long-poll the hub really held. */
  bool held = c->sent_long && now - c->sent_at >= s->interval_ms;
  c->next_pull_at = now + (held ? 0 : s->interval_ms);
  cons_update_deadline(c);
}

/* The batch's local handlers ran. Messages they handed to a transport may still
 * sit in a send buffer: save the read position only once those bytes are
 * written (or after FLUSH_WAIT_MS, so a peer that never comes back cannot stall
 * the stream), then pull again. */
#define FLUSH_WAIT_MS 10000u
#define FLUSH_CHECK_MS 2u

static void cons_batch_done(consumer *c, uint64_t now) {
  ockam_stream *s = c->sd.s;
  if (!ockami_node_flush_reached(s->node, &c->flush) && now - c->flush_since < FLUSH_WAIT_MS) {
    c->flushing = true;
    c->flush_check = now + FLUSH_CHECK_MS;
    cons_update_deadline(c);
    return;
  }
  if (c->flushing && now - c->flush_since >= FLUSH_WAIT_MS)
    LOG_WARN(MOD, "stream %s: delivered messages still unwritten after %u ms; saving anyway",
             c->sd.name, FLUSH_WAIT_MS);
  c->flushing = false;
  c->phase = PULL_IDLE;
  if (c->next_index > c->saved) cons_save(c, c->next_index);
  if (c->state == CONS_PULLING)
    cons_send_pull(c, now, false);
  else
    cons_update_deadline(c);
}

static void cons_on_marker(consumer *c, const ockam_message *msg, uint64_t now) {
  uint64_t seq;
  if (!read_marker(msg, &seq) || c->phase != PULL_HANDING || seq != c->marker_seq) return;
  ockami_node_flush_narrow(c->sd.s->node, &c->flush);
  c->flush_since = now;
  cons_batch_done(c, now);
}

static void cons_on_index(consumer *c, const ockami_sp_msg *m, uint64_t now) {
  ockam_stream *s = c->sd.s;
  if (c->state != CONS_INDEXING) return;
  if (!str_is(m->u.index.client_id, s->client_id) || !str_is(m->u.index.stream_name, c->sd.name)) {
    LOG_WARN(MOD, "stream %s: ignoring Index for another client or stream", c->sd.name);
    return;
  }
  uint64_t hub_index = m->u.index.has_index ? m->u.index.index : 0;
  if (!m->u.index.has_index && c->saved > 0)
    LOG_WARN(MOD,
             "stream %s: the hub has no saved index any more (store reset?); reading on from "
             "%llu, messages stored below it are skipped",
             c->sd.name, (unsigned long long)c->next_index);
  if (!c->positioned || hub_index > c->next_index) {
    if (c->positioned)
      LOG_INFO(MOD, "stream %s: saved index %llu is ahead, skipping to it", c->sd.name,
               (unsigned long long)hub_index);
    c->next_index = hub_index;
    c->positioned = true;
  }
  if (c->saved < hub_index) c->saved = hub_index;
  /* The hub is behind us (a Save lost, or a store without it): save again. */
  if (c->next_index > hub_index && c->phase != PULL_HANDING) cons_save(c, c->next_index);
  c->state = CONS_PULLING;
  c->sd.failures = 0;
  LOG_DEBUG(MOD, "stream %s: reading from index %llu", c->sd.name,
            (unsigned long long)c->next_index);
  c->next_pull_at = NEVER;
  if (c->phase != PULL_HANDING) cons_send_pull(c, now, false);
  cons_update_deadline(c);
}

static void cons_on_error(consumer *c, const ockam_message *msg, const ockami_sp_msg *m,
                          uint64_t now) {
  ockam_stream *s = c->sd.s;
  s->stats.errors++;
  LOG_WARN(MOD, "stream %s: hub error: %.*s", c->sd.name, (int)m->u.error.reason.len,
           m->u.error.reason.p);
  if (c->state != CONS_PULLING || c->phase != PULL_SENT ||
      !ockam_route_equal(ockam_message_return(msg), &c->sd.worker))
    return; /* not about the pull in flight; timers handle the rest */
  if (c->sent_long && c->lp == LP_TRYING) {
    /* A 2021 hub decodes exactly and refuses the 4-field pull. */
    c->lp = LP_OFF;
    LOG_INFO(MOD, "stream %s: hub has no long-poll; polling every %u ms", c->sd.name,
             s->interval_ms);
    cons_send_pull(c, now, true);
    return;
  }
  cons_recreate(c, now, "the stream worker answered error");
}

static void cons_on_reply(consumer *c, const ockam_message *msg, uint64_t now) {
  size_t len;
  const uint8_t *payload = ockam_message_payload(msg, &len);
  ockami_sp_msg m;
  int rc = ockami_sp_decode_response(payload, len, &m);
  if (rc) {
    LOG_WARN(MOD, "stream %s: ignoring undecodable reply (%s)", c->sd.name, ockam_strerror(rc));
    return;
  }
  switch (m.kind) {
    case OCKAMI_SP_INIT:
      if (c->state != CONS_CREATING || !side_take_init(&c->sd, msg, &m)) return;
      c->state = CONS_INDEXING;
      cons_send_get(c, now);
      return;
    case OCKAMI_SP_INDEX:
      cons_on_index(c, &m, now);
      return;
    case OCKAMI_SP_PULL_RESPONSE:
      cons_on_pull_response(c, &m, now);
      return;
    case OCKAMI_SP_ERROR:
      cons_on_error(c, msg, &m, now);
      return;
    default:
      LOG_DEBUG(MOD, "stream %s: ignoring '%.*s' reply", c->sd.name, (int)m.protocol.len,
                m.protocol.p);
      return;
  }
}

static void cons_tick(consumer *c, uint64_t now) {
  if (now < c->sd.deadline) return;
  ockam_stream *s = c->sd.s;
  switch (c->state) {
    case CONS_CREATING:
      side_create_timeout(&c->sd, now);
      return;
    case CONS_INDEXING:
      s->stats.timeouts++;
      if (++c->sd.failures >= FAIL_LIMIT) {
        cons_recreate(c, now, "the index service does not answer");
        return;
      }
      cons_send_get(c, now);
      return;
    case CONS_PULLING:
      if (c->phase == PULL_HANDING && c->flushing) {
        cons_batch_done(c, now);
        return;
      }
      if (c->phase == PULL_IDLE) {
        cons_send_pull(c, now, false);
        return;
      }
      s->stats.timeouts++;
      if (++c->sd.failures >= FAIL_LIMIT) {
        cons_recreate(c, now, "pulls are not answered");
        return;
      }
      LOG_DEBUG(MOD, "stream %s: pull not answered, asking again", c->sd.name);
      if (c->save_unsure) cons_save(c, c->saved);
      cons_send_pull(c, now, true);
      return;
    case CONS_STOPPED:
      return;
  }
}

static int cons_handle(ockam_worker *w, ockam_message *msg) {
  consumer *c = ockam_worker_user(w);
  ockam_stream *s = c->sd.s;
  if (c->state == CONS_STOPPED) return OCKAM_ECLOSED;
  uint64_t now = ockam_node_now_ms(s->node);
  if (arrived_on(msg, c->mark))
    cons_on_marker(c, msg, now);
  else
    cons_on_reply(c, msg, now);
  stream_schedule(s);
  return OCKAM_OK;
}

/* ---- timer and lifecycle ---------------------------------------------------- */

static void stream_timer_cb(void *arg) {
  ockam_stream *s = arg;
  s->timer = NULL; /* one-shot: frees itself after this callback */
  if (s->life != LIFE_RUNNING) return;
  uint64_t now = ockam_node_now_ms(s->node);
  prod_tick(&s->prod, now);
  cons_tick(&s->cons, now);
  stream_schedule(s);
}

/* Arm the one timer for the earliest deadline of either side. */
static void stream_schedule(ockam_stream *s) {
  if (s->life != LIFE_RUNNING) return;
  uint64_t d =
      s->prod.sd.deadline < s->cons.sd.deadline ? s->prod.sd.deadline : s->cons.sd.deadline;
  if (d == NEVER) {
    if (s->timer) ockam_timer_stop(s->timer);
    s->timer = NULL;
    return;
  }
  if (s->timer && s->timer_at <= d) return;
  if (s->timer) ockam_timer_stop(s->timer);
  s->timer = NULL;
  uint64_t now = ockam_node_now_ms(s->node);
  int rc = ockam_timer_start(s->node, d > now ? d - now : 0, 0, stream_timer_cb, s, &s->timer);
  if (rc) {
    s->timer = NULL;
    LOG_ERROR(MOD, "cannot start the stream timer: %s", ockam_strerror(rc));
    return;
  }
  s->timer_at = d;
}

static void stream_free(ockam_stream *s) {
  for (size_t i = 0; i < s->prod.count; i++) free(prod_at(&s->prod, i));
  free(s->prod.ring);
  for (size_t i = 0; i < s->n_hubs; i++) ockami_route_release(&s->hubs[i]);
  free(s->hubs);
  ockami_route_release(&s->prod.sd.worker);
  ockami_route_release(&s->cons.sd.worker);
  free(s->stream_service);
  free(s->index_service);
  free(s->client_id);
  free(s->outgoing);
  free(s->incoming);
  ockami_buf_free(&s->scratch);
  free(s);
}

/* Nothing more is sent or scheduled; `life` says who frees. */
static void stream_halt(ockam_stream *s, stream_life life) {
  s->life = life;
  s->prod.state = PROD_STOPPED;
  s->cons.state = CONS_STOPPED;
  if (s->timer) ockam_timer_stop(s->timer);
  s->timer = NULL;
}

/* A worker's `stopped` ran (close, or the node is being destroyed). */
static void stream_worker_gone(side *sd) {
  ockam_stream *s = sd->s;
  sd->w = NULL;
  stream_halt(s, s->life == LIFE_CLOSED ? LIFE_CLOSED : LIFE_STOPPED);
  if (--s->live_workers == 0 && s->life == LIFE_CLOSED) stream_free(s);
}

static void prod_stopped(ockam_worker *w) {
  stream_worker_gone(ockam_worker_user(w));
}
static void cons_stopped(ockam_worker *w) {
  stream_worker_gone(ockam_worker_user(w));
}

static const ockam_worker_ops prod_ops = {prod_handle, prod_stopped};
static const ockam_worker_ops cons_ops = {cons_handle, cons_stopped};

void ockam_stream_close(ockam_stream *s) {
  if (!s || s->life == LIFE_CLOSED) return;
  if (s->live_workers == 0) {
    stream_free(s);
    return;
  }
  stream_halt(s, LIFE_CLOSED);
  /* Freed by the last `stopped` callback. */
  if (s->prod.sd.w) ockam_worker_stop(s->prod.sd.w);
  if (s->cons.sd.w) ockam_worker_stop(s->cons.sd.w);
}

/* ---- public API ---------------------------------------------------------- */

static int check_name(const char *name, size_t max) {
  if (!name || !*name) return OCKAM_EINVAL;
  size_t n = strlen(name);
  if (n > max) return OCKAM_EOVERFLOW;
  return ockami_utf8_valid((const uint8_t *)name, n) ? OCKAM_OK : OCKAM_EUTF8;
}

static int dup_str(const char *src, char **out) {
  *out = strdup(src);
  return *out ? OCKAM_OK : OCKAM_ENOMEM;
}

static int stream_configure(ockam_stream *s, const ockam_route *route_to_hub, const char *outgoing,
                            const char *incoming, const ockam_stream_options *o) {
  int rc;
  const char *service = o->stream_service ? o->stream_service : "stream";
  const char *index = o->index_service ? o->index_service : "stream_index";
  char random_id[ADDR_LEN + 1];
  ockam_random_address(random_id);
  const char *client_id = o->client_id ? o->client_id : random_id;
  if ((rc = check_name(outgoing, OCKAM_NAME_MAX)) || (rc = check_name(incoming, OCKAM_NAME_MAX)) ||
      (rc = check_name(service, OCKAM_ADDRESS_MAX_LEN)) ||
      (rc = check_name(index, OCKAM_ADDRESS_MAX_LEN)))
    return rc;
  if (strlen(client_id) > OCKAM_NAME_MAX) return OCKAM_EOVERFLOW;
  if (!ockami_utf8_valid((const uint8_t *)client_id, strlen(client_id))) return OCKAM_EUTF8;
  if (o->rx_address && (!*o->rx_address || strlen(o->rx_address) > OCKAM_ADDRESS_MAX_LEN))
    return o->rx_address[0] ? OCKAM_EOVERFLOW : OCKAM_EINVAL;
  if (o->pull_limit > OCKAM_PULL_LIMIT_MAX) return OCKAM_EINVAL;
  if (o->n_fallback && !o->fallback_routes) return OCKAM_EINVAL;
  if ((rc = dup_str(service, &s->stream_service)) || (rc = dup_str(index, &s->index_service)) ||
      (rc = dup_str(client_id, &s->client_id)) || (rc = dup_str(outgoing, &s->outgoing)) ||
      (rc = dup_str(incoming, &s->incoming)))
    return rc;

  s->interval_ms = o->interval_ms ? o->interval_ms : OCKAM_STREAM_INTERVAL_MS;
  s->pull_limit = o->pull_limit ? o->pull_limit : OCKAM_STREAM_PULL_LIMIT;
  s->retry_ms = o->retry_ms ? o->retry_ms : OCKAM_STREAM_RETRY_MS;
  s->long_poll_ms = o->long_poll_ms ? o->long_poll_ms : OCKAM_STREAM_LONG_POLL_MS;
  s->outbox_max = o->outbox_max ? o->outbox_max : OCKAM_STREAM_OUTBOX_MAX;
  s->max_in_flight = o->max_in_flight ? o->max_in_flight : OCKAM_STREAM_IN_FLIGHT_MAX;

  s->hubs = calloc(1 + o->n_fallback, sizeof *s->hubs);
  if (!s->hubs) return OCKAM_ENOMEM;
  size_t widest = 0;
  for (size_t i = 0; i < 1 + o->n_fallback; i++) {
    const ockam_route *r = i == 0 ? route_to_hub : o->fallback_routes[i - 1];
    if (!r) return OCKAM_EINVAL;
    /* Room for the service or stream worker hop. */
    if (ockam_route_len(r) + 1 > OCKAM_ROUTE_MAX_HOPS) return OCKAM_EOVERFLOW;
    if ((rc = ockami_route_assign(&s->hubs[i], r))) return rc;
    s->n_hubs = i + 1;
    if (route_wire_max(r) > widest) widest = route_wire_max(r);
  }
  /* frame length, version, onward = hub route + one hop of at most
   * OCKAM_ADDRESS_MAX_LEN bytes, return = [ctl], payload length uint. */
  s->push_overhead = 2 + 1 + widest + 1 + 1 + 2 + OCKAM_ADDRESS_MAX_LEN + 1 + 1 + 1 + ADDR_LEN +
                     OCKAM_VARINT_MAX_BYTES;

  ockam_random_address(s->tx);
  if (o->rx_address)
    memcpy(s->rx, o->rx_address, strlen(o->rx_address) + 1);
  else
    ockam_random_address(s->rx);

  producer *p = &s->prod;
  p->sd.s = s;
  p->sd.name = s->outgoing;
  p->sd.deadline = NEVER;
  ockam_random_address(p->sd.ctl);
  ockam_random_address(p->mark);
  p->state = PROD_CREATING;

  consumer *c = &s->cons;
  c->sd.s = s;
  c->sd.name = s->incoming;
  c->sd.deadline = NEVER;
  ockam_random_address(c->sd.ctl);
  ockam_random_address(c->mark);
  c->state = CONS_CREATING;
  c->lp = o->no_long_poll ? LP_OFF : LP_TRYING;
  c->next_pull_at = NEVER;
  return OCKAM_OK;
}

int ockam_stream_connect(ockam_node *node, const ockam_route *route_to_hub, const char *outgoing,
                         const char *incoming, const ockam_stream_options *opts,
                         ockam_stream **out) {
  if (!node || !route_to_hub || !outgoing || !incoming || !out) return OCKAM_EINVAL;
  static const ockam_stream_options defaults = {0};
  ockam_stream *s = calloc(1, sizeof *s);
  if (!s) return OCKAM_ENOMEM;
  s->node = node;
  int rc = stream_configure(s, route_to_hub, outgoing, incoming, opts ? opts : &defaults);
  if (rc) {
    stream_free(s);
    return rc;
  }
  const char *paddr[3] = {s->tx, s->prod.sd.ctl, s->prod.mark};
  rc = ockam_worker_start(node, paddr, 3, &prod_ops, &s->prod, &s->prod.sd.w);
  if (rc) {
    stream_free(s);
    return rc;
  }
  s->live_workers = 1;
  const char *caddr[2] = {s->cons.sd.ctl, s->cons.mark};
  rc = ockam_worker_start(node, caddr, 2, &cons_ops, &s->cons, &s->cons.sd.w);
  if (rc) {
    ockam_stream_close(s); /* freed when the producer's `stopped` runs */
    return rc;
  }
  s->live_workers = 2;
  uint64_t now = ockam_node_now_ms(node);
  side_send_create(&s->prod.sd, now);
  side_send_create(&s->cons.sd, now);
  stream_schedule(s);
  LOG_DEBUG(MOD, "stream client: tx %s -> '%s', '%s' -> rx %s", s->tx, outgoing, incoming, s->rx);
  *out = s;
  return OCKAM_OK;
}

const char *ockam_stream_tx_address(const ockam_stream *s) {
  return s ? s->tx : NULL;
}
const char *ockam_stream_rx_address(const ockam_stream *s) {
  return s ? s->rx : NULL;
}

static bool ready_done(void *arg) {
  const ockam_stream *s = arg;
  return s->life != LIFE_RUNNING ||
         ((s->prod.state == PROD_READY || s->prod.state == PROD_BACKOFF) &&
          s->cons.state == CONS_PULLING);
}

static bool flush_done(void *arg) {
  const ockam_stream *s = arg;
  return s->life != LIFE_RUNNING || (s->prod.flush_seen >= s->prod.flush_seq && s->prod.count == 0);
}

static int run_until(ockam_stream *s, int64_t timeout_ms, bool (*done)(void *)) {
  if (!s) return OCKAM_EINVAL;
  if (s->life != LIFE_RUNNING) return OCKAM_ECLOSED;
  int rc = ockam_node_run_until(s->node, timeout_ms, done, s);
  if (s->life != LIFE_RUNNING) return OCKAM_ECLOSED;
  return rc;
}

int ockam_stream_wait_ready(ockam_stream *s, int64_t timeout_ms) {
  return run_until(s, timeout_ms, ready_done);
}

int ockam_stream_flush(ockam_stream *s, int64_t timeout_ms) {
  if (!s) return OCKAM_EINVAL;
  if (s->life != LIFE_RUNNING) return OCKAM_ECLOSED;
  /* Messages sent to tx before this call are still in the node's queue:
   * wait for a marker queued behind them too. */
  int rc = send_marker(s, s->prod.mark, s->prod.flush_seq + 1);
  if (rc) return rc;
  s->prod.flush_seq++;
  return run_until(s, timeout_ms, flush_done);
}

void ockam_stream_get_stats(const ockam_stream *s, ockam_stream_stats *out) {
  if (!s || !out) return;
  *out = s->stats;
  out->queued = s->prod.count;
  out->next_index = s->cons.next_index;
  out->long_poll = s->cons.lp != LP_OFF;
  out->producer_hub = s->prod.sd.hub;
  out->consumer_hub = s->cons.sd.hub;
}
