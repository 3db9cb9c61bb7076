/* Stream client, producer side (spec §8.2): keeps every message sent to tx
 * until the hub confirmed storing it. */
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

/* Send queued pushes in order while the window allows. */
static void prod_pump(producer *p, uint64_t now) {
  ockam_stream *s = p->sd.s;
  if (p->state != PROD_READY) return;
  if (side_paused(&p->sd, now)) { /* sent again from the oldest once it is back */
    p->next_send = 0;
    p->sd.deadline = now + s->retry_ms;
    return;
  }
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
      if (p->state != PROD_CREATING || !ockami_side_take_init(&p->sd, msg, &m)) return;
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
    p->next_send = 0; /* nothing is counted as lost while the connection is down */
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
