/* Stream client, producer side (spec §8.2): keeps every message sent to tx
 * until the hub confirmed storing it; with an ockam-c hub, pushes carry the
 * idempotent producer extension (stream.h, docs/protocol-extensions.md). */
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "client_internal.h"
#include "log.h"
#include "wire.h"

/* ---- producer (spec §8.2) -------------------------------------------------- */

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

/* Start a new pass over the unconfirmed pushes, from the oldest. */
static void prod_rewind(producer *p) {
  p->next_send = 0;
  p->round++;
}

/* Encodes e (plain or idempotent form) into s->scratch and sends it. */
static int prod_send(producer *p, push_entry *e) {
  ockam_stream *s = p->sd.s;
  s->scratch.len = 0;
  int rc = p->idem == IDEM_OFF
               ? ockami_sp_encode_push(&s->scratch, e->id, e->payload, e->len)
               : ockami_sp_encode_push_idem(&s->scratch, e->id, e->payload, e->len, s->client_id,
                                            strlen(s->client_id), p->session, e->seq);
  if (rc) return rc;
  return ockami_send_direct(s->node, &p->sd.dc, p->sd.ctl, &p->sd.worker, s->scratch.data,
                            s->scratch.len);
}

/* A fresh session: the hub does not know ours (the stream was deleted, or
 * this hub keeps another store). Unconfirmed pushes are numbered from 1. */
static void prod_new_session(producer *p) {
  uint8_t r[8];
  randombytes_buf(r, sizeof r);
  uint64_t session = 0;
  for (size_t i = 0; i < sizeof r; i++) session = session << 8 | r[i];
  p->session = session;
  p->next_seq = 1;
  for (size_t i = 0; i < p->count; i++) prod_at(p, i)->seq = p->next_seq++;
}

/* Send queued pushes in order while the window allows. */
static void prod_pump(producer *p, uint64_t now) {
  ockam_stream *s = p->sd.s;
  if (p->state != PROD_READY) return;
  if (side_paused(&p->sd, now)) { /* sent again from the oldest once it is back */
    prod_rewind(p);
    p->sd.deadline = now + s->retry_ms;
    return;
  }
  /* Until the hub answered the extended form, one push at a time: the
   * answer decides the form of the others. */
  size_t window = p->idem == IDEM_TRYING ? 1 : s->max_in_flight;
  while (p->next_send < p->count && p->next_send < window) {
    push_entry *e = prod_at(p, p->next_send);
    if (!e->confirmed) {
      int rc = prod_send(p, e);
      if (rc) {
        LOG_WARN(MOD, "stream %s: cannot send push %llu: %s", p->sd.name, (unsigned long long)e->id,
                 ockam_strerror(rc));
        break;
      }
      if (e->sent) s->stats.resent++;
      e->sent = true;
      e->sent_at = now;
      e->round = p->round;
    }
    p->next_send++;
  }
  prod_update_deadline(p, now);
}

/* Go back to the oldest unconfirmed push: everything unconfirmed is sent
 * again, in order, under its request id. */
static void prod_go_back(producer *p, uint64_t now) {
  prod_rewind(p);
  prod_pump(p, now);
}

static void prod_recreate(producer *p, uint64_t now, const char *why) {
  p->state = PROD_CREATING;
  prod_rewind(p);
  ockami_side_recreate(&p->sd, now, why);
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
  /* The frame must hold the push in its larger form, whichever is used. */
  if (!rc)
    rc = p->idem == IDEM_OFF
             ? ockami_sp_encode_push(&s->scratch, UINT64_MAX, tm.data, tm.len)
             : ockami_sp_encode_push_idem(&s->scratch, UINT64_MAX, tm.data, tm.len, s->client_id,
                                          strlen(s->client_id), UINT64_MAX, UINT64_MAX);
  if (!rc && s->scratch.len + s->push_overhead > OCKAM_FRAME_MAX) rc = OCKAM_EOVERFLOW;
  push_entry *e = rc ? NULL : malloc(sizeof *e + tm.len);
  if (!rc && !e) rc = OCKAM_ENOMEM;
  if (rc) {
    ockami_buf_free(&tm);
    prod_drop(p, rc == OCKAM_EOVERFLOW ? "too large for a frame" : ockam_strerror(rc));
    return rc;
  }
  e->id = p->next_id++;
  e->seq = p->next_seq++;
  e->sent_at = 0;
  e->round = 0;
  e->sent = false;
  e->confirmed = false;
  e->len = tm.len;
  if (tm.len) memcpy(e->payload, tm.data, tm.len);
  ockami_buf_free(&tm);
  p->ring[(p->head + p->count) & (p->cap - 1)] = e;
  p->count++;
  s->stats.pushed++;
  prod_pump(p, ockam_node_now_ms(s->node));
  return OCKAM_OK;
}

/* The hub refused an idempotent push out of sequence and expects `expected`
 * next: go back to the oldest unconfirmed push (those before `expected` are
 * stored and come back confirmed with their original index) unless this
 * pass already resent it. A sequence the producer does not hold means the
 * hub does not know its session: start a new one. */
static void prod_on_resend(producer *p, uint64_t expected, uint64_t now) {
  ockam_stream *s = p->sd.s;
  if (p->idem == IDEM_OFF || p->state != PROD_READY || p->count == 0) return;
  s->stats.resend_asked++;
  if (p->idem == IDEM_TRYING) p->idem = IDEM_ON;
  uint64_t first = prod_at(p, 0)->seq;
  if (expected >= first && expected - first < p->count) {
    push_entry *t = prod_at(p, (size_t)(expected - first));
    if (t->sent && t->round == p->round) return; /* answered to an older pass */
    LOG_DEBUG(MOD, "stream %s: hub expects push %llu next; resending in order", p->sd.name,
              (unsigned long long)expected);
  } else {
    LOG_INFO(MOD, "stream %s: hub expects sequence %llu, unknown here; new producer session",
             p->sd.name, (unsigned long long)expected);
    prod_new_session(p);
  }
  prod_go_back(p, now);
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
  if (m->u.push_confirm.status == OCKAMI_SP_STATUS_RESEND) {
    prod_on_resend(p, m->u.push_confirm.index, now);
    return;
  }
  if (p->idem == IDEM_TRYING && e->sent) {
    p->idem = IDEM_ON;
    LOG_DEBUG(MOD, "stream %s: hub takes idempotent pushes", p->sd.name);
  }
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
    prod_rewind(p);
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

/* Whether the stream worker that sent Init sits at the ockam-c hub's stable
 * address for this stream (a 2021 hub uses random 16-hex addresses). */
static bool prod_hub_is_ockam(const producer *p) {
  ockam_address last = {0}, a;
  uint32_t pos = 0;
  bool any = false;
  while (ockami_route_next(&p->sd.worker, &pos, &a)) {
    last = a;
    any = true;
  }
  if (!any || last.type != OCKAM_ADDRESS_LOCAL || last.len != OCKAMI_SP_WORKER_ADDRESS_LEN)
    return false;
  char want[OCKAMI_SP_WORKER_ADDRESS_LEN + 1];
  ockami_sp_worker_address(p->sd.name, strlen(p->sd.name), want);
  return memcmp(last.value, want, OCKAMI_SP_WORKER_ADDRESS_LEN) == 0;
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
      if (p->state != PROD_CREATING || !ockami_side_take_init(&p->sd, msg, &m)) return;
      p->state = PROD_READY;
      if (p->idem != IDEM_OFF && !prod_hub_is_ockam(p)) {
        /* Not an ockam-c hub: it would only refuse the extended form. */
        p->idem = IDEM_OFF;
        LOG_DEBUG(MOD, "stream %s: plain pushes (not an ockam-c stream worker)", p->sd.name);
      }
      prod_go_back(p, now);
      return;
    case OCKAMI_SP_PUSH_CONFIRM:
      prod_on_confirm(p, &m, now);
      return;
    case OCKAMI_SP_ERROR:
      s->stats.errors++;
      if (p->idem == IDEM_TRYING && p->state == PROD_READY && p->count > 0 && prod_at(p, 0)->sent &&
          ockam_route_equal(ockam_message_return(msg), &p->sd.worker)) {
        /* The negotiation's answer: this hub refuses the extended form. */
        LOG_INFO(MOD, "stream %s: hub refuses idempotent pushes; plain pushes from now on",
                 p->sd.name);
        p->idem = IDEM_OFF;
        prod_go_back(p, now);
        return;
      }
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

void ockami_prod_tick(producer *p, uint64_t now) {
  ockam_stream *s = p->sd.s;
  if (p->sd.down && now >= p->sd.failover_at && p->state != PROD_STOPPED) {
    p->sd.down = false;
    p->sd.failover_at = NEVER;
    prod_recreate(p, now, "the connection to the hub is down");
    return;
  }
  if (now < p->sd.deadline) return;
  if (side_paused(&p->sd, now) && p->state == PROD_READY) {
    prod_rewind(p); /* nothing is counted as lost while the connection is down */
    p->sd.deadline = now + s->retry_ms;
    return;
  }
  switch (p->state) {
    case PROD_CREATING:
      ockami_side_create_timeout(&p->sd, now);
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

void ockami_prod_conn(producer *p, bool up, uint64_t now) {
  if (!ockami_side_conn(&p->sd, up, now)) return;
  /* Whatever was in flight may be lost with the old connection: ask again
   * now rather than after a timeout. */
  switch (p->state) {
    case PROD_CREATING:
      ockami_side_send_create(&p->sd, now);
      return;
    case PROD_READY:
      if (p->count) {
        LOG_DEBUG(MOD, "stream %s: connection back; resending %zu unconfirmed pushes", p->sd.name,
                  p->count);
        prod_go_back(p, now);
      }
      return;
    case PROD_BACKOFF:
    case PROD_STOPPED:
      return;
  }
}

int ockami_prod_handle(ockam_worker *w, ockam_message *msg) {
  producer *p = ockam_worker_user(w);
  ockam_stream *s = p->sd.s;
  int rc = OCKAM_OK;
  if (p->state == PROD_STOPPED) return OCKAM_ECLOSED;
  uint64_t seq;
  if (arrived_on(msg, s->tx))
    rc = prod_on_data(p, msg);
  else if (arrived_on(msg, p->mark))
    p->flush_seen =
        ockami_stream_read_marker(msg, &seq) && seq > p->flush_seen ? seq : p->flush_seen;
  else
    prod_on_reply(p, msg, ockam_node_now_ms(s->node));
  ockami_stream_schedule(s);
  return rc;
}
