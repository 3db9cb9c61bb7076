/* Stream client, consumer side (spec §8.3): pulls the incoming stream, hands
 * each message on, and saves the read position once a batch was handled. */
#include <string.h>

#include "channel_internal.h"
#include "client_internal.h"
#include "log.h"
#include "wire.h"

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
  if (!rc) rc = ockami_side_send_to_service(&c->sd, s->index_service);
  if (rc) LOG_WARN(MOD, "stream %s: cannot send index Get: %s", c->sd.name, ockam_strerror(rc));
  c->sd.deadline = now + backoff(s, c->sd.failures);
}

/* stream_index Save{client_id, name, index}: fire-and-forget at the hub. */
static void cons_save(consumer *c, uint64_t index) {
  ockam_stream *s = c->sd.s;
  s->scratch.len = 0;
  int rc = ockami_sp_encode_index_save(&s->scratch, s->client_id, strlen(s->client_id), c->sd.name,
                                       strlen(c->sd.name), index);
  if (!rc) rc = ockami_side_send_to_service(&c->sd, s->index_service);
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
  c->sent_limit = c->limit;
  int rc = long_poll ? ockami_sp_encode_pull_wait(&s->scratch, id, c->next_index, c->limit,
                                                  s->long_poll_ms)
                     : ockami_sp_encode_pull(&s->scratch, id, c->next_index, c->limit);
  if (!rc)
    rc = ockami_send_direct(s->node, &c->sd.dc, c->sd.ctl, &c->sd.worker, s->scratch.data,
                            s->scratch.len);
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
  ockami_side_recreate(&c->sd, now, why);
}

static bool is_private(const ockam_stream *s, const ockam_address *a) {
  return a->type == OCKAM_ADDRESS_LOCAL &&
         (ockami_address_is(a, 0, s->prod.sd.ctl) || ockami_address_is(a, 0, s->prod.mark) ||
          ockami_address_is(a, 0, s->cons.sd.ctl) || ockami_address_is(a, 0, s->cons.mark));
}

/* Whether a stored message may go to `a` (see ockam_stream_allow). */
static bool may_deliver(const ockam_stream *s, const ockam_address *a) {
  if (ockami_stream_allowed(s, a)) return true;
  if (a->type != OCKAM_ADDRESS_LOCAL) return false;
  if (ockami_address_is(a, OCKAM_ADDRESS_LOCAL, s->rx)) return true;
  return ockami_channel_takes_peer_input(s->node, a->value, a->len);
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
  if (!rc && !(ockami_route_first(ockam_message_onward(m), &first) && may_deliver(s, &first))) {
    /* Whoever pushed it chose the route: never dial, never reach a worker
     * the application did not expose through this stream. */
    if (s->stats.refused++ % 1000 == 0)
      LOG_WARN(MOD,
               "stream %s: dropping message %llu routed to an address not allowed here "
               "(%llu so far)",
               c->sd.name, (unsigned long long)sm->index, (unsigned long long)s->stats.refused);
    ockam_message_free(m);
    return;
  }
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

/* Adaptive pull limit. A reply that came back full (as many messages as
 * asked, or as many as fit one frame) means the stream holds more: the next
 * pull asks twice as many, up to s->pull_limit_max, so a backlog is read in
 * few large batches. A reply with room to spare halves the limit, an empty
 * one (the consumer is idle) resets it, never below s->pull_limit. What is
 * held at once stays one reply: at most pull_limit_max messages in one
 * frame. `n` messages came in a reply payload of `bytes`, the largest
 * `largest` bytes. */
static void cons_adapt_limit(consumer *c, size_t n, size_t bytes, size_t largest) {
  ockam_stream *s = c->sd.s;
  bool frame_full = n > 0 && bytes + largest + OCKAM_STREAM_REPLY_MARGIN >= OCKAM_FRAME_MAX;
  uint32_t limit = c->limit;
  if (n >= c->sent_limit || frame_full)
    limit = limit > s->pull_limit_max / 2 ? s->pull_limit_max : limit * 2;
  else if (n == 0)
    limit = s->pull_limit;
  else
    limit = limit / 2 < s->pull_limit ? s->pull_limit : limit / 2;
  c->limit = limit;
}

static void cons_on_pull_response(consumer *c, const ockami_sp_msg *m, size_t bytes, uint64_t now) {
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
  size_t n = 0, largest = 0;
  ockami_sp_msg_iter_init(&it, &m->u.pull_response.messages);
  while (ockami_sp_msg_iter_next(&it, &sm)) {
    s->stats.pulled++;
    n++;
    if (sm.len > largest) largest = sm.len;
    if (sm.index < c->next_index) { /* older than asked, or repeated in the reply */
      s->stats.skipped++;
      LOG_DEBUG(MOD, "stream %s: skipping index %llu, reading from %llu", c->sd.name,
                (unsigned long long)sm.index, (unsigned long long)c->next_index);
      continue;
    }
    if (sm.index == UINT64_MAX) {
      /* No index may follow it: next_index would wrap to 0 and everything be
       * delivered again. The hub broke the protocol; drop the message. */
      s->stats.skipped++;
      LOG_WARN(MOD, "stream %s: the hub sent index 2^64-1; message dropped", c->sd.name);
      continue;
    }
    if (sm.index > c->next_index && (c->next_index > 0 || progressed))
      LOG_INFO(MOD, "stream %s: gap, indexes %llu..%llu missing", c->sd.name,
               (unsigned long long)c->next_index, (unsigned long long)sm.index - 1);
    c->next_index = sm.index + 1;
    progressed = true;
    cons_deliver(c, &sm);
  }
  cons_adapt_limit(c, n, bytes, largest);
  if (progressed) {
    /* Save and pull again once the batch has been handled (the marker). */
    int rc = ockami_stream_send_marker(s, c->mark, ++c->marker_seq);
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
  if (!ockami_stream_read_marker(msg, &seq) || c->phase != PULL_HANDING || seq != c->marker_seq)
    return;
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
      if (c->state != CONS_CREATING || !ockami_side_take_init(&c->sd, msg, &m)) return;
      c->state = CONS_INDEXING;
      cons_send_get(c, now);
      return;
    case OCKAMI_SP_INDEX:
      cons_on_index(c, &m, now);
      return;
    case OCKAMI_SP_PULL_RESPONSE:
      cons_on_pull_response(c, &m, len, now);
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

void ockami_cons_tick(consumer *c, uint64_t now) {
  ockam_stream *s = c->sd.s;
  if (c->sd.down && now >= c->sd.failover_at && c->state != CONS_STOPPED) {
    c->sd.down = false;
    c->sd.failover_at = NEVER;
    cons_recreate(c, now, "the connection to the hub is down");
    return;
  }
  if (now < c->sd.deadline) return;
  if (side_paused(&c->sd, now) && c->state == CONS_PULLING && c->phase == PULL_SENT) {
    c->sd.deadline = now + s->retry_ms; /* asked again when the connection is back */
    return;
  }
  switch (c->state) {
    case CONS_CREATING:
      ockami_side_create_timeout(&c->sd, now);
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

void ockami_cons_conn(consumer *c, bool up, uint64_t now) {
  if (!ockami_side_conn(&c->sd, up, now)) return;
  /* The reply to a request in flight went to the old connection (the hub
   * drops a pull parked for it): ask again now. */
  switch (c->state) {
    case CONS_CREATING:
      ockami_side_send_create(&c->sd, now);
      return;
    case CONS_INDEXING:
      cons_send_get(c, now);
      return;
    case CONS_PULLING:
      if (c->phase != PULL_SENT) return;
      LOG_DEBUG(MOD, "stream %s: connection back; pulling again", c->sd.name);
      if (c->save_unsure) cons_save(c, c->saved);
      cons_send_pull(c, now, true);
      return;
    case CONS_STOPPED:
      return;
  }
}

int ockami_cons_handle(ockam_worker *w, ockam_message *msg) {
  consumer *c = ockam_worker_user(w);
  ockam_stream *s = c->sd.s;
  if (c->state == CONS_STOPPED) return OCKAM_ECLOSED;
  uint64_t now = ockam_node_now_ms(s->node);
  if (arrived_on(msg, c->mark))
    cons_on_marker(c, msg, now);
  else
    cons_on_reply(c, msg, now);
  ockami_stream_schedule(s);
  return OCKAM_OK;
}
