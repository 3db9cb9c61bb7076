/* Stream client (spec §7, §8): a producer worker for the outgoing stream and
 * a consumer worker for the incoming one, both driven by replies from the hub
 * and by one timer. Behaviour and guarantees: include/ockam/stream.h.
 *
 * This file: the requests both sides share, markers, the one timer, the
 * lifecycle and the public API; producer.c and consumer.c hold the two
 * workers, client_internal.h the state they share.
 */
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "bare.h"
#include "bytes.h"
#include "channel_internal.h"
#include "client_internal.h"
#include "log.h"

/* Bytes of the BARE encoding of a route, at most (hop lengths over 127 take
 * a two-byte uint on the wire). */
static size_t route_wire_max(const ockam_route *r) {
  return ockami_uint_size(r->count) + r->len + r->count;
}

/* ---- requests shared by both sides ---------------------------------------- */

/* Send s->scratch to hubs[sd->hub] ‖ service from the side's control address. */
int ockami_side_send_to_service(side *sd, const char *service) {
  ockam_stream *s = sd->s;
  ockam_route r = OCKAMI_ROUTE_INIT;
  int rc = ockami_route_assign(&r, &s->hubs[sd->hub]);
  if (!rc) rc = ockam_route_append(&r, OCKAM_ADDRESS_LOCAL, service, strlen(service));
  if (!rc) rc = ockami_send_direct(s->node, &sd->dc, sd->ctl, &r, s->scratch.data, s->scratch.len);
  ockami_route_release(&r);
  return rc;
}

/* stream_create{Some(name)} to the stream service (spec §8.2 step 1, §8.3
 * step 1). Later attempts wait longer. */
void ockami_side_send_create(side *sd, uint64_t now) {
  ockam_stream *s = sd->s;
  s->scratch.len = 0;
  int rc = ockami_sp_encode_create(&s->scratch, sd->name, strlen(sd->name));
  if (!rc) rc = ockami_side_send_to_service(sd, s->stream_service);
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
void ockami_side_create_timeout(side *sd, uint64_t now) {
  sd->s->stats.timeouts++;
  if (sd->attempts % FAIL_LIMIT == 0) side_next_hub(sd);
  LOG_DEBUG(MOD, "stream %s: no Init, asking again", sd->name);
  ockami_side_send_create(sd, now);
}

/* The stream worker stopped answering (or answered `error`): create the
 * stream again, through the next hub route if there is one. */
bool ockami_side_conn(side *sd, bool up, uint64_t now) {
  if (!up) {
    if (!sd->down) sd->down_since = now;
    sd->down = true;
    if (sd->s->n_hubs > 1) sd->failover_at = now + sd->s->retry_ms;
    return false;
  }
  sd->down = false;
  sd->failover_at = NEVER;
  sd->failures = 0;
  return true;
}

void ockami_side_recreate(side *sd, uint64_t now, const char *why) {
  ockam_stream *s = sd->s;
  s->stats.reinits++;
  LOG_WARN(MOD, "stream %s: %s; creating the stream again", sd->name, why);
  side_next_hub(sd);
  sd->failures = 0;
  sd->attempts = 0;
  ockami_side_send_create(sd, now);
}

/* Init{name} (spec §7.2): its return route is the handle to the stream worker. */
bool ockami_side_take_init(side *sd, const ockam_message *msg, const ockami_sp_msg *m) {
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

/* ---- markers ------------------------------------------------------------- */

bool ockami_stream_read_marker(const ockam_message *msg, uint64_t *seq) {
  size_t len;
  const uint8_t *p = ockam_message_payload(msg, &len);
  if (len != MARKER_LEN) return false;
  *seq = ockami_load_le(p, MARKER_LEN);
  return true;
}

/* A marker to one of the client's own private addresses. */
int ockami_stream_send_marker(ockam_stream *s, const char *mark, uint64_t seq) {
  uint8_t v[MARKER_LEN];
  ockami_store_le(v, MARKER_LEN, seq);
  ockam_route r = OCKAMI_ROUTE_INIT;
  int rc = ockam_route_append(&r, OCKAM_ADDRESS_LOCAL, mark, ADDR_LEN);
  if (!rc) rc = ockam_send(s->node, mark, &r, v, sizeof v);
  ockami_route_release(&r);
  return rc;
}

/* ---- identity channel to the hub ------------------------------------------------ */

/* With options identity and hub_identifier the client keeps one identity
 * channel to the hub and hubs[0] is [channel]. While no channel is up both
 * sides are paused as if their connection were down: a request sent then goes
 * to a local address that is not an established channel and is dropped on
 * this node, so nothing leaves it in plaintext. Each new channel makes both
 * sides create their stream again through it (the old stream worker route
 * went through the old channel); the producer then resends every unconfirmed
 * push and the consumer re-reads its index, exactly as after a re-create. */

static void hubch_schedule_retry(ockam_stream *s, uint64_t now) {
  s->ch = HUBCH_WAIT;
  s->ch_at = now + backoff(s, s->ch_failures ? s->ch_failures - 1 : 0);
}

/* Pause both sides (their hub is unreachable until a channel is up). */
static void hubch_pause(ockam_stream *s, uint64_t now) {
  if (s->outgoing) ockami_prod_conn(&s->prod, false, now);
  if (s->incoming) ockami_cons_conn(&s->cons, false, now);
  /* The pause lasts as long as the attempts do, not DOWN_PAUSE_MAX_MS. */
  s->prod.sd.down_since = now;
  s->cons.sd.down_since = now;
}

/* Forget the current channel (or attempt) and close it. */
static void hubch_drop(ockam_stream *s) {
  if (!s->ch_local[0]) return;
  ockami_identity_channel_unwatch(s->node, s->ch_local);
  if (ockam_identity_channel_close(s->node, s->ch_local) != OCKAM_OK)
    LOG_DEBUG(MOD, "identity channel %s already gone", s->ch_local);
  s->ch_local[0] = '\0';
}

static void hubch_failed(ockam_stream *s, int why, uint64_t now) {
  s->stats.hub_channel_failures++;
  s->stats.hub_channel_error = why;
  s->stats.hub_channel_up = false;
  s->ch_failures++;
  LOG_WARN(MOD, "identity channel to the hub: %s; trying again", ockam_strerror(why));
  hubch_drop(s);
  hubch_pause(s, now);
  hubch_schedule_retry(s, now);
}

static void hubch_notify(void *arg, const char *local, int result);

static void hubch_open(ockam_stream *s, uint64_t now) {
  ockam_channel_options co = {.handshake_timeout_ms = s->ch_timeout_ms};
  char local[ADDR_LEN + 1];
  int rc = ockami_identity_channel_start(s->node, &s->hub_listener, s->identity, s->hub_policy, &co,
                                         hubch_notify, s, local);
  ockam_route r = OCKAMI_ROUTE_INIT;
  if (!rc) {
    memcpy(s->ch_local, local, sizeof s->ch_local);
    /* Requests sent before it is up stop at the channel, on this node. */
    rc = ockam_route_append(&r, OCKAM_ADDRESS_LOCAL, local, strlen(local));
    if (!rc) rc = ockami_route_assign(&s->hubs[0], &r);
    ockami_route_release(&r);
  }
  if (rc) {
    hubch_failed(s, rc, now);
    return;
  }
  s->ch = HUBCH_OPENING;
  s->ch_at = NEVER; /* the channel's own timeout ends an attempt */
  s->prod.sd.down_since = now;
  s->cons.sd.down_since = now;
  LOG_DEBUG(MOD, "opening an identity channel to the hub (%s)", s->ch_local);
}

/* A new channel is up: both sides create their stream again through it. */
static void hubch_up(ockam_stream *s, uint64_t now) {
  s->ch = HUBCH_UP;
  s->ch_up_at = now;
  s->ch_failures = 0;
  s->stats.hub_channels++;
  s->stats.hub_channel_up = true;
  s->stats.hub_channel_error = 0;
  LOG_INFO(MOD, "identity channel to the hub %s is up", s->ch_local);
  producer *p = &s->prod;
  if (s->outgoing && p->state != PROD_STOPPED) {
    p->state = PROD_CREATING; /* Init, then every unconfirmed push from the oldest */
    p->sd.attempts = 0;
    ockami_prod_conn(p, true, now);
  }
  consumer *c = &s->cons;
  if (s->incoming && c->state != CONS_STOPPED) {
    c->state = CONS_CREATING; /* Init, then the saved index, then pulls */
    if (c->phase == PULL_SENT) c->phase = PULL_IDLE;
    c->round_id = c->next_id; /* replies through the old channel are stale */
    c->sd.attempts = 0;
    ockami_cons_conn(c, true, now);
  }
}

/* From the channel's callbacks: only record, act now or on the timer. */
static void hubch_notify(void *arg, const char *local, int result) {
  ockam_stream *s = arg;
  if (s->life != LIFE_RUNNING || strcmp(local, s->ch_local)) return;
  uint64_t now = ockam_node_now_ms(s->node);
  if (result == OCKAM_OK && s->ch == HUBCH_OPENING) {
    hubch_up(s, now);
  } else if (result != OCKAM_OK) {
    /* Failed or closed: the channel worker is going away by itself. */
    ockami_identity_channel_unwatch(s->node, s->ch_local);
    s->ch_local[0] = '\0';
    hubch_failed(s, result, now);
  }
  ockami_stream_schedule(s);
}

/* The connection under the channel was lost: the hub's end of the channel is
 * gone with it (or unreachable), so open a new one at once; its first
 * message waits in the transport's queue until the connection is back. */
static void hubch_conn_down(ockam_stream *s, uint64_t now) {
  if (s->ch != HUBCH_UP && s->ch != HUBCH_OPENING) return;
  LOG_INFO(MOD, "connection to the hub lost; opening a new identity channel");
  s->stats.hub_channel_up = false;
  hubch_drop(s);
  hubch_pause(s, now);
  hubch_open(s, now);
}

/* A side asked for its stream FAIL_LIMIT times or more and the hub said
 * nothing at all through the channel for FAIL_LIMIT of its current waits (a
 * refusal is an answer). */
static bool side_stuck(const side *sd, uint64_t now) {
  const ockam_stream *s = sd->s;
  if (sd->attempts < FAIL_LIMIT) return false;
  uint64_t heard = s->ch_heard_at > s->ch_up_at ? s->ch_heard_at : s->ch_up_at;
  return now - heard >= FAIL_LIMIT * backoff(s, (sd->attempts - 1) / FAIL_LIMIT);
}

static void hubch_tick(ockam_stream *s, uint64_t now) {
  if (s->ch == HUBCH_WAIT && now >= s->ch_at) {
    hubch_open(s, now);
    return;
  }
  /* Up, but the hub answers no create through it (it lost the channel
   * without the connection dropping): open another. */
  if (s->ch == HUBCH_UP &&
      ((s->outgoing && s->prod.state == PROD_CREATING && side_stuck(&s->prod.sd, now)) ||
       (s->incoming && s->cons.state == CONS_CREATING && side_stuck(&s->cons.sd, now)))) {
    LOG_WARN(MOD, "the hub does not answer through its identity channel; opening a new one");
    s->stats.hub_channel_up = false;
    hubch_drop(s);
    hubch_pause(s, now);
    hubch_open(s, now);
  }
}

/* ---- timer and lifecycle ---------------------------------------------------- */

static void stream_timer_cb(void *arg) {
  ockam_stream *s = arg;
  s->timer = NULL; /* one-shot: frees itself after this callback */
  if (s->life != LIFE_RUNNING) return;
  uint64_t now = ockam_node_now_ms(s->node);
  if (s->ch != HUBCH_NONE) hubch_tick(s, now);
  ockami_prod_tick(&s->prod, now);
  ockami_cons_tick(&s->cons, now);
  ockami_stream_schedule(s);
}

static uint64_t min_u64(uint64_t a, uint64_t b) {
  return a < b ? a : b;
}

/* Arm the one timer for the earliest deadline of either side. */
void ockami_stream_schedule(ockam_stream *s) {
  if (s->life != LIFE_RUNNING) return;
  uint64_t d = min_u64(min_u64(s->prod.sd.deadline, s->cons.sd.deadline),
                       min_u64(s->prod.sd.failover_at, s->cons.sd.failover_at));
  if (s->ch == HUBCH_WAIT) d = min_u64(d, s->ch_at);
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
    if (rc != OCKAM_ECLOSED) /* ECLOSED: the node is being destroyed */
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
  ockami_direct_cache_free(&s->prod.sd.dc);
  ockami_direct_cache_free(&s->cons.sd.dc);
  free(s->stream_service);
  free(s->index_service);
  free(s->client_id);
  free(s->outgoing);
  free(s->incoming);
  ockami_buf_free(&s->scratch);
  ockami_route_release(&s->allowed);
  ockami_route_release(&s->hub_listener);
  ockami_route_release(&s->hub_peer);
  ockam_trust_policy_free(s->hub_policy);
  free(s);
}

/* Connection events: a side whose hub connection is lost pauses (and fails
 * over when it has fallback hubs); when it is back, requests in flight are
 * sent again at once. */
static bool side_uses(const side *sd, const ockam_conn_event *ev) {
  ockam_address a;
  return ockami_route_first(&sd->s->hubs[sd->hub], &a) && a.type == ev->peer.type &&
         a.len == ev->peer.len && memcmp(a.value, ev->peer.value, a.len) == 0;
}

static void stream_conn_event(void *arg, const ockam_conn_event *ev) {
  ockam_stream *s = arg;
  if (s->life != LIFE_RUNNING || !ev->outgoing) return;
  uint64_t now = ockam_node_now_ms(s->node);
  bool up = ev->kind == OCKAM_CONN_UP;
  if (s->ch != HUBCH_NONE) {
    /* The sides' route is the channel: only the connection under it counts. */
    ockam_address a;
    if (!up && ockami_route_first(&s->hub_peer, &a) && a.type == ev->peer.type &&
        a.len == ev->peer.len && memcmp(a.value, ev->peer.value, a.len) == 0)
      hubch_conn_down(s, now);
    ockami_stream_schedule(s);
    return;
  }
  if (s->outgoing && side_uses(&s->prod.sd, ev)) ockami_prod_conn(&s->prod, up, now);
  if (s->incoming && side_uses(&s->cons.sd, ev)) ockami_cons_conn(&s->cons, up, now);
  ockami_stream_schedule(s);
}

int ockam_stream_allow(ockam_stream *s, const char *address) {
  if (!s || !address || !*address || strchr(address, ';')) return OCKAM_EINVAL;
  ockam_route *hop;
  int rc = ockam_route_parse(address, &hop);
  if (rc) return rc;
  ockam_address a;
  if (ockam_route_len(hop) != 1 || ockam_route_get(hop, 0, &a)) {
    ockam_route_free(hop);
    return OCKAM_EINVAL;
  }
  if (!ockami_stream_allowed(s, &a)) rc = ockam_route_append_route(&s->allowed, hop);
  ockam_route_free(hop);
  return rc;
}

bool ockami_stream_allowed(const ockam_stream *s, const ockam_address *a) {
  uint32_t pos = 0;
  ockam_address b;
  while (ockami_route_next(&s->allowed, &pos, &b))
    if (b.type == a->type && b.len == a->len && !memcmp(b.value, a->value, a->len)) return true;
  return false;
}

/* Nothing more is sent or scheduled; `life` says who frees. */
static void stream_halt(ockam_stream *s, stream_life life) {
  s->life = life;
  /* The channel may outlive the client (the node's destruction stops it):
   * it must not call back into a client that is gone. */
  if (s->ch_local[0]) ockami_identity_channel_unwatch(s->node, s->ch_local);
  ockam_conn_sub_cancel(s->conn_sub);
  s->conn_sub = NULL;
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

/* Note when the hub last said anything through the channel (hubch_tick). */
static void heard_from_hub(ockam_stream *s, const ockam_message *msg) {
  ockam_address a;
  if (s->ch == HUBCH_UP && ockami_route_first(ockam_message_return(msg), &a) &&
      ockami_address_is(&a, OCKAM_ADDRESS_LOCAL, s->ch_local))
    s->ch_heard_at = ockam_node_now_ms(s->node);
}

static int prod_handle(ockam_worker *w, ockam_message *msg) {
  producer *p = ockam_worker_user(w);
  heard_from_hub(p->sd.s, msg);
  return ockami_prod_handle(w, msg);
}
static int cons_handle(ockam_worker *w, ockam_message *msg) {
  consumer *c = ockam_worker_user(w);
  heard_from_hub(c->sd.s, msg);
  return ockami_cons_handle(w, msg);
}

static const ockam_worker_ops prod_ops = {prod_handle, prod_stopped};
static const ockam_worker_ops cons_ops = {cons_handle, cons_stopped};

void ockam_stream_close(ockam_stream *s) {
  if (!s || s->life == LIFE_CLOSED) return;
  if (s->live_workers == 0) {
    stream_free(s);
    return;
  }
  if (s->life == LIFE_RUNNING) hubch_drop(s); /* the node still runs: close the channel */
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

static void side_init(side *sd, ockam_stream *s, const char *name) {
  sd->s = s;
  sd->name = name;
  sd->deadline = NEVER;
  sd->failover_at = NEVER;
  ockam_random_address(sd->ctl);
}

/* Bytes the hub channel adds around a request on the wire, at most: the
 * outer message's routes through the channel's addresses and the AEAD nonce
 * and tag around the inner message. */
#define HUB_CHANNEL_OVERHEAD 256u

static int hubch_configure(ockam_stream *s, const ockam_route *route_to_hub,
                           const ockam_stream_options *o) {
  if (!o->identity || !o->hub_identifier || o->n_fallback) return OCKAM_EINVAL;
  const char *listener = o->hub_listener ? o->hub_listener : OCKAM_HUB_IDENTITY_LISTENER;
  int rc = check_name(listener, OCKAM_ADDRESS_MAX_LEN);
  if (rc) return rc;
  if (ockam_route_len(route_to_hub) + 1 > OCKAM_ROUTE_MAX_HOPS) return OCKAM_EOVERFLOW;
  const char *ids[1] = {o->hub_identifier};
  if ((rc = ockam_trust_identifiers(ids, 1, &s->hub_policy))) return rc;
  if ((rc = ockami_route_assign(&s->hub_listener, route_to_hub)) ||
      (rc = ockam_route_append(&s->hub_listener, OCKAM_ADDRESS_LOCAL, listener, strlen(listener))))
    return rc;
  ockam_address a;
  if (ockami_route_first(route_to_hub, &a) &&
      (rc = ockam_route_append(&s->hub_peer, a.type, a.value, a.len)))
    return rc;
  s->identity = o->identity;
  s->ch_timeout_ms =
      o->hub_channel_timeout_ms ? o->hub_channel_timeout_ms : OCKAM_STREAM_HUB_CHANNEL_TIMEOUT_MS;
  s->ch = HUBCH_WAIT; /* opened by ockam_stream_connect() */
  s->ch_at = NEVER;
  return OCKAM_OK;
}

static int stream_configure(ockam_stream *s, const ockam_route *route_to_hub, const char *outgoing,
                            const char *incoming, const ockam_stream_options *o) {
  int rc;
  const char *service = o->stream_service ? o->stream_service : "stream";
  const char *index = o->index_service ? o->index_service : "stream_index";
  char random_id[ADDR_LEN + 1];
  ockam_random_address(random_id);
  const char *client_id = o->client_id ? o->client_id : random_id;
  /* A NULL name leaves that side out (a one-sided client). */
  if ((outgoing && (rc = check_name(outgoing, OCKAM_NAME_MAX))) ||
      (incoming && (rc = check_name(incoming, OCKAM_NAME_MAX))) ||
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
      (rc = dup_str(client_id, &s->client_id)) ||
      (outgoing && (rc = dup_str(outgoing, &s->outgoing))) ||
      (incoming && (rc = dup_str(incoming, &s->incoming))))
    return rc;

  s->interval_ms = o->interval_ms ? o->interval_ms : OCKAM_STREAM_INTERVAL_MS;
  /* Pulls start at the default limit and grow up to the cap (stream.h). */
  s->pull_limit_max = o->pull_limit ? o->pull_limit : OCKAM_PULL_LIMIT_MAX;
  s->pull_limit =
      s->pull_limit_max < OCKAM_STREAM_PULL_LIMIT ? s->pull_limit_max : OCKAM_STREAM_PULL_LIMIT;
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
  if (o->identity || o->hub_identifier) {
    if ((rc = hubch_configure(s, route_to_hub, o))) return rc;
    if (route_wire_max(&s->hub_listener) > widest) widest = route_wire_max(&s->hub_listener);
    widest += HUB_CHANNEL_OVERHEAD;
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
  side_init(&p->sd, s, s->outgoing);
  ockam_random_address(p->mark);
  p->state = outgoing ? PROD_CREATING : PROD_STOPPED;
  /* The client id is the producer id of the idempotent form. */
  p->idem = o->no_idempotent || !*s->client_id ? IDEM_OFF : IDEM_TRYING;
  randombytes_buf(&p->session, sizeof p->session); /* a new session per producer life */
  p->next_seq = 1;

  consumer *c = &s->cons;
  side_init(&c->sd, s, s->incoming);
  ockam_random_address(c->mark);
  c->state = incoming ? CONS_CREATING : CONS_STOPPED;
  c->lp = o->no_long_poll ? LP_OFF : LP_TRYING;
  c->next_pull_at = NEVER;
  c->limit = s->pull_limit;
  return OCKAM_OK;
}

int ockam_stream_connect(ockam_node *node, const ockam_route *route_to_hub, const char *outgoing,
                         const char *incoming, const ockam_stream_options *opts,
                         ockam_stream **out) {
  if (!node || !route_to_hub || (!outgoing && !incoming) || !out) return OCKAM_EINVAL;
  static const ockam_stream_options defaults = {0};
  ockam_stream *s = calloc(1, sizeof *s);
  if (!s) return OCKAM_ENOMEM;
  s->node = node;
  int rc = stream_configure(s, route_to_hub, outgoing, incoming, opts ? opts : &defaults);
  if (rc) {
    stream_free(s);
    return rc;
  }
  if (outgoing) {
    const char *paddr[3] = {s->tx, s->prod.sd.ctl, s->prod.mark};
    rc = ockam_worker_start(node, paddr, 3, &prod_ops, &s->prod, &s->prod.sd.w);
    if (rc) {
      stream_free(s);
      return rc;
    }
    s->live_workers++;
  }
  if (incoming) {
    const char *caddr[2] = {s->cons.sd.ctl, s->cons.mark};
    rc = ockam_worker_start(node, caddr, 2, &cons_ops, &s->cons, &s->cons.sd.w);
    if (rc) {
      ockam_stream_close(s); /* freed now, or when the producer's `stopped` runs */
      return rc;
    }
    s->live_workers++;
  }
  rc = ockam_node_subscribe_conn_events(node, stream_conn_event, s, &s->conn_sub);
  if (rc) {
    ockam_stream_close(s);
    return rc;
  }
  uint64_t now = ockam_node_now_ms(node);
  if (s->ch != HUBCH_NONE) {
    /* Both sides wait for the channel; its readiness sends their creates. */
    hubch_pause(s, now);
    hubch_open(s, now);
  } else {
    if (outgoing) ockami_side_send_create(&s->prod.sd, now);
    if (incoming) ockami_side_send_create(&s->cons.sd, now);
  }
  ockami_stream_schedule(s);
  LOG_DEBUG(MOD, "stream client: tx %s -> '%s', '%s' -> rx %s", s->tx,
            outgoing ? outgoing : "(none)", incoming ? incoming : "(none)", s->rx);
  *out = s;
  return OCKAM_OK;
}

const char *ockam_stream_tx_address(const ockam_stream *s) {
  return s && s->outgoing ? s->tx : NULL;
}
const char *ockam_stream_rx_address(const ockam_stream *s) {
  return s && s->incoming ? s->rx : NULL;
}

static bool is_ready(const ockam_stream *s) {
  return (!s->outgoing || s->prod.state == PROD_READY || s->prod.state == PROD_BACKOFF) &&
         (!s->incoming || s->cons.state == CONS_PULLING);
}

/* The hub channel's last attempt was refused: a wrong pinned identifier, or
 * a hub that refuses this identity. */
static bool hub_refused(const ockam_stream *s) {
  return s->ch != HUBCH_NONE && s->ch != HUBCH_UP &&
         (s->stats.hub_channel_error == OCKAM_EUNTRUSTED ||
          s->stats.hub_channel_error == OCKAM_EPEERAUTH);
}

static bool ready_done(void *arg) {
  const ockam_stream *s = arg;
  return s->life != LIFE_RUNNING || is_ready(s) || hub_refused(s);
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
  int rc = run_until(s, timeout_ms, ready_done);
  if (!rc && !is_ready(s) && hub_refused(s)) rc = s->stats.hub_channel_error;
  return rc;
}

int ockam_stream_flush(ockam_stream *s, int64_t timeout_ms) {
  if (!s) return OCKAM_EINVAL;
  if (s->life != LIFE_RUNNING) return OCKAM_ECLOSED;
  if (!s->outgoing) return OCKAM_OK; /* no producer: nothing to confirm */
  /* Messages sent to tx before this call are still in the node's queue:
   * wait for a marker queued behind them too. */
  int rc = ockami_stream_send_marker(s, s->prod.mark, s->prod.flush_seq + 1);
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
  out->idempotent = s->prod.idem == IDEM_ON;
  out->producer_hub = s->prod.sd.hub;
  out->consumer_hub = s->cons.sd.hub;
}
