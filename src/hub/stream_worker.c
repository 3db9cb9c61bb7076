/* One hub worker per stream (spec §7.4): stream_push and stream_pull, plus
 * the long-poll form of stream_pull (stream_proto.h).
 *
 * Push: the record is appended through the asynchronous store, which groups
 * concurrent appends into one durable commit; PushConfirm{OK, index} goes out
 * only from the append's completion, i.e. once the record is durable. A push
 * in the idempotent form (stream_proto.h) carries its producer, session and
 * sequence number to the store, which decides in the same commit whether it
 * is new, a repeat (confirmed OK with the original index) or out of order
 * (answered PushConfirm{RESEND, expected sequence}, nothing stored).
 *
 * Pull: one store read of up to `limit` records from `index`, capped to what
 * fits one reply frame. A long-poll pull that finds nothing is parked on its
 * stream until an append to that stream completes or its deadline passes
 * (then it is answered with an empty list). A completed append answers the
 * pulls parked for it in the same loop turn: with the record itself when
 * that append was the only completion waiting, otherwise by reading again
 * (one read then returns the whole burst). On a store shared with other
 * hubs, whose appends wake nothing here, a parked pull also
 * reads again every OCKAM_STREAM_SHARED_RECHECK_MS.
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "acl.h"
#include "bare.h"
#include "log.h"
#include "node.h"
#include "stream_internal.h"

#define MOD "stream"

/* ---- replies -------------------------------------------------------------- */

static void send_confirm(ockami_stream *st, const ockam_route *to, uint64_t request_id,
                         ockami_sp_status status, uint64_t index) {
  ockami_stream_service *svc = st->svc;
  svc->scratch.len = 0;
  int rc = ockami_sp_encode_push_confirm(&svc->scratch, request_id, status, index);
  if (rc) {
    LOG_WARN(MOD, "stream %s: cannot encode PushConfirm: %s", st->addr, ockam_strerror(rc));
    return;
  }
  ockami_stream_send(svc, st->addr, to);
}

/* Encoded size of a route (BARE []Address). */
static size_t route_wire_size(const ockam_route *r) {
  size_t n = ockami_uint_size(ockam_route_len(r));
  uint32_t pos = 0;
  ockam_address a;
  while (ockami_route_next(r, &pos, &a)) n += 1 + ockami_uint_size(a.len) + a.len;
  return n;
}

/* Bytes left for StreamMessages in a PullResponse to `to` from `from`, so
 * the whole TransportMessage fits one TCP frame (spec §2.1). Variable-size
 * lengths are counted at their largest. */
static size_t reply_budget(const ockam_route *to, const char *from, uint64_t request_id) {
  size_t from_len = strlen(from);
  size_t head = 1 /* version */ + route_wire_size(to) + 1 /* return route count */ +
                1 /* address type */ + ockami_uint_size(from_len) + from_len +
                3 /* payload length */;
  size_t wrapper = 1 + sizeof OCKAMI_SP_PULL_NAME - 1 /* protocol */ + 3 /* data length */ +
                   ockami_uint_size(request_id) + 2 /* message count, <= 1024 */;
  return head + wrapper >= OCKAM_FRAME_MAX ? 0 : OCKAM_FRAME_MAX - head - wrapper;
}

/* ---- pulls ------------------------------------------------------------------ */

static void pull_free(ockami_pull *p) {
  if (p->peer) p->peer->n[OCKAMI_PEER_PULLS]--;
  ockami_route_release(&p->reply);
  ockami_stream *st = p->stream;
  free(p);
  ockami_stream_unref(st);
}

/* Answers p with the records that fit (recs may be NULL: empty) and frees p. */
static void pull_answer(ockami_pull *p, const ockami_records *recs) {
  ockami_stream *st = p->stream;
  ockami_stream_service *svc = st->svc;
  size_t n = 0, used = 0;
  if (recs) {
    for (size_t i = 0; i < recs->count && n < p->limit; i++) {
      const ockami_record *r = &recs->items[i];
      size_t sz = ockami_sp_stream_msg_size(r->index, r->len);
      if (sz > p->budget - used) break;
      svc->msgs[n++] = (ockami_sp_stream_msg){r->index, r->data, r->len};
      used += sz;
      st->fig.pulled_bytes += r->len;
    }
    if (recs->count && n == 0) {
      /* Only a longer route than the margin allows for gets here. */
      LOG_WARN(MOD, "stream %s: message %" PRIu64 " (%zu bytes) does not fit a reply frame",
               st->addr, recs->items[0].index, recs->items[0].len);
      ockami_stream_error(svc, st->addr, &p->reply, "Message too large for the reply route");
      pull_free(p);
      return;
    }
  }
  svc->scratch.len = 0;
  int rc = ockami_sp_encode_pull_response(&svc->scratch, p->request_id, svc->msgs, n);
  st->fig.pulled += n;
  svc->stats.pulled += n;
  if (rc)
    LOG_WARN(MOD, "stream %s: cannot encode PullResponse: %s", st->addr, ockam_strerror(rc));
  else
    ockami_stream_send(svc, st->addr, &p->reply);
  pull_free(p);
}

static void unpark(ockami_pull *p) {
  ockami_stream *st = p->stream;
  if (p->prev)
    p->prev->next = p->next;
  else
    st->parked_head = p->next;
  if (p->next)
    p->next->prev = p->prev;
  else
    st->parked_tail = p->prev;
  p->prev = p->next = NULL;
  st->nparked--;
  st->svc->nparked--;
}

static void pull_submit(ockami_pull *p);

static void pull_expired(void *arg) {
  ockami_pull *p = arg;
  ockami_stream_service *svc = p->stream->svc;
  p->timer = NULL; /* a one-shot timer frees itself */
  unpark(p);
  if (svc->recheck_ms && ockam_node_now_ms(svc->node) < p->deadline_ms) {
    /* Another hub may have appended: read again (parks again if empty). */
    pull_submit(p);
    return;
  }
  pull_answer(p, NULL);
}

static int pull_park(ockami_pull *p, uint64_t wait_ms) {
  ockami_stream *st = p->stream;
  ockami_stream_service *svc = st->svc;
  if (st->nparked >= OCKAM_LONG_POLL_PARKED_PER_STREAM ||
      svc->nparked >= OCKAM_LONG_POLL_PARKED_MAX)
    return OCKAM_EFULL;
  uint64_t delay = svc->recheck_ms && svc->recheck_ms < wait_ms ? svc->recheck_ms : wait_ms;
  int rc = ockam_timer_start(svc->node, delay, 0, pull_expired, p, &p->timer);
  if (rc) return rc;
  p->next = NULL;
  p->prev = st->parked_tail;
  if (st->parked_tail)
    st->parked_tail->next = p;
  else
    st->parked_head = p;
  st->parked_tail = p;
  st->nparked++;
  svc->nparked++;
  svc->stats.pulls_parked++;
  return OCKAM_OK;
}

static void pull_read_cb(void *arg, int status, ockami_records *recs) {
  ockami_pull *p = arg;
  ockami_stream *st = p->stream;
  ockami_stream_service *svc = st->svc;
  svc->pending_reads--;
  svc->pending_read_bytes -= p->budget ? p->budget : 1;
  if (svc->state != OCKAMI_SVC_RUNNING) {
    pull_free(p);
    return;
  }
  if (status) {
    /* Spec §7.4: a storage error is answered with an empty list. */
    LOG_DEBUG(MOD, "stream %s: read from %" PRIu64 " failed: %s", st->addr, p->index,
              ockam_strerror(status));
    pull_answer(p, NULL);
    return;
  }
  if (st->state != OCKAMI_STREAM_READY) {
    /* Deleted while the read was queued: what it found is gone. */
    pull_answer(p, NULL);
    return;
  }
  if (recs->count) ockami_stream_seen(st, recs->items[recs->count - 1].index);
  if (recs->count == 0 && p->long_poll) {
    uint64_t now = ockam_node_now_ms(svc->node);
    if (now < p->deadline_ms) {
      /* An append that completed while this read was queued may not be in
       * its result: read again rather than wait for the next one. */
      if (st->appended != p->seen) {
        pull_submit(p);
        return;
      }
      if (pull_park(p, p->deadline_ms - now) == OCKAM_OK) return;
      LOG_DEBUG(MOD, "stream %s: long-poll cap reached, answering at once", st->addr);
    }
  }
  pull_answer(p, recs);
}

static void pull_submit(ockami_pull *p) {
  ockami_stream *st = p->stream;
  ockami_stream_service *svc = st->svc;
  /* max_bytes 0 would mean "no cap"; 1 still returns the first record, which
   * pull_answer then reports as too large. */
  size_t max_bytes = p->budget ? p->budget : 1;
  /* What reads in flight may return is bounded in bytes too, with the
   * replies still waiting in the node: a pull of a few bytes can ask for a
   * reply of 64 KB, and every reply becomes a message before the transport
   * can drop it. */
  if (svc->pending_reads >= OCKAM_STREAM_PENDING_READS ||
      svc->pending_read_bytes + ockami_node_queue_bytes(svc->node) + max_bytes >
          OCKAM_STREAM_PENDING_READ_BYTES) {
    LOG_DEBUG(MOD, "stream %s: %" PRIu32 " reads pending (%zu bytes), answering empty", st->addr,
              svc->pending_reads, svc->pending_read_bytes);
    pull_answer(p, NULL);
    return;
  }
  p->seen = st->appended;
  int rc = ockami_store_read(svc->store, st->name, st->name_len, p->index, p->limit, max_bytes,
                             pull_read_cb, p);
  if (rc) {
    LOG_DEBUG(MOD, "stream %s: read refused: %s", st->addr, ockam_strerror(rc));
    pull_answer(p, NULL);
    return;
  }
  svc->pending_reads++;
  svc->pending_read_bytes += max_bytes;
}

/* An append at `index` completed: parked pulls waiting for it are answered
 * in this same loop turn. A pull waiting for exactly this record gets it
 * from the completion itself when the store offers it (nothing else was
 * committed behind it); the others read again. */
static void wake_parked(ockami_stream *st, uint64_t index) {
  if (st->state != OCKAMI_STREAM_READY) return;
  ockami_record rec = {index, NULL, 0};
  bool have = ockami_store_completing(st->svc->store, &rec.data, &rec.len);
  ockami_records one = {&rec, 1, 1, NULL, 0, 0};
  ockami_pull *p = st->parked_head;
  while (p) {
    ockami_pull *next = p->next;
    if (p->index <= index) {
      unpark(p);
      ockam_timer_stop(p->timer);
      p->timer = NULL;
      st->svc->stats.pulls_woken++;
      if (have && p->index == index)
        pull_answer(p, &one);
      else
        pull_submit(p);
    }
    p = next;
  }
}

void ockami_stream_answer_parked(ockami_stream *st) {
  while (st->parked_head) {
    ockami_pull *p = st->parked_head;
    unpark(p);
    ockam_timer_stop(p->timer);
    p->timer = NULL;
    pull_answer(p, NULL);
  }
}

void ockami_stream_drop_parked(ockami_stream *st) {
  while (st->parked_head) {
    ockami_pull *p = st->parked_head;
    unpark(p);
    ockam_timer_stop(p->timer);
    pull_free(p);
  }
}

size_t ockami_stream_drop_parked_via(ockami_stream *st, const ockam_address *hop) {
  size_t n = 0;
  ockami_pull *p = st->parked_head;
  while (p) {
    ockami_pull *next = p->next;
    ockam_address a;
    if (ockami_route_first(&p->reply, &a) && a.type == hop->type && a.len == hop->len &&
        memcmp(a.value, hop->value, a.len) == 0) {
      unpark(p);
      ockam_timer_stop(p->timer);
      pull_free(p);
      n++;
    }
    p = next;
  }
  return n;
}

static void stream_pull(ockami_stream *st, const ockam_route *ret, const ockami_sp_msg *req) {
  ockami_stream_service *svc = st->svc;
  svc->stats.pulls++;
  st->fig.pulls++;
  ockami_pull *p = calloc(1, sizeof *p);
  if (!p) return;
  p->stream = st;
  if (ockami_route_assign(&p->reply, ret)) {
    free(p);
    return;
  }
  ockami_stream_ref(st);
  p->peer = ockami_peers_get(svc->peers, ret);
  if (p->peer) p->peer->n[OCKAMI_PEER_PULLS]++;
  p->request_id = req->u.pull.request_id;
  p->index = req->u.pull.index;
  /* The codec clamps limit to OCKAM_PULL_LIMIT_MAX. */
  p->limit = (uint32_t)req->u.pull.limit;
  uint64_t wait = req->u.pull.long_poll ? req->u.pull.wait_ms : 0;
  if (wait > svc->long_poll_max_ms) wait = svc->long_poll_max_ms;
  p->long_poll = wait > 0 && p->limit > 0;
  p->deadline_ms = ockam_node_now_ms(svc->node) + wait;
  p->budget = reply_budget(ret, st->addr, p->request_id);
  if (p->peer && p->peer->n[OCKAMI_PEER_PULLS] > svc->max_pulls_per_peer) {
    ockami_stream_over_quota(svc, "pulls in flight", svc->max_pulls_per_peer);
    pull_answer(p, NULL);
    return;
  }
  if (p->limit == 0) {
    pull_answer(p, NULL);
    return;
  }
  pull_submit(p);
}

/* ---- pushes -------------------------------------------------------------------- */

typedef struct push_ctx {
  bool idem;
  ockami_stream *stream;
  ockami_peer *peer; /* counted in its OCKAMI_PEER_PUSHES, or NULL */
  ockam_route reply;
  uint64_t request_id;
  size_t len;
  uint64_t t0_ns; /* accepted (commit latency) */
} push_ctx;

static void push_finish(push_ctx *c, int status, ockami_idem_outcome idem, uint64_t value) {
  uint64_t index = value;
  ockami_stream *st = c->stream;
  ockami_stream_service *svc = st->svc;
  svc->pending_pushes--;
  svc->pending_bytes -= c->len;
  if (c->peer) c->peer->n[OCKAMI_PEER_PUSHES]--;
  if (status) {
    svc->stats.push_errors++;
    /* The store logs the failed commit once for its whole group. */
    LOG_DEBUG(MOD, "stream %s: append failed: %s", st->addr, ockam_strerror(status));
    send_confirm(st, &c->reply, c->request_id, OCKAMI_SP_STATUS_ERROR, 0);
  } else if (idem == OCKAMI_IDEM_OUT_OF_ORDER) {
    svc->stats.push_out_of_order++;
    send_confirm(st, &c->reply, c->request_id, OCKAMI_SP_STATUS_RESEND, value);
  } else if (idem == OCKAMI_IDEM_DUPLICATE) {
    svc->stats.push_duplicates++;
    ockami_stream_seen(st, index);
    send_confirm(st, &c->reply, c->request_id, OCKAMI_SP_STATUS_OK, index);
  } else {
    st->appended++;
    st->fig.confirms++;
    svc->stats.confirms++;
    ockami_histogram_observe(&svc->stats.commit_latency, (uv_hrtime() - c->t0_ns) / 1000);
    ockami_stream_seen(st, index);
    send_confirm(st, &c->reply, c->request_id, OCKAMI_SP_STATUS_OK, index);
    if (svc->state == OCKAMI_SVC_RUNNING) wake_parked(st, index);
  }
  if (svc->overloaded && svc->pending_pushes <= svc->max_pending_pushes / 2 &&
      svc->pending_bytes <= svc->max_pending_bytes / 2) {
    svc->overloaded = false;
    LOG_INFO(MOD, "store caught up; accepting pushes again");
  }
  ockami_route_release(&c->reply);
  free(c);
  ockami_stream_unref(st);
}

static void push_done(void *arg, int status, uint64_t index) {
  push_finish(arg, status, OCKAMI_IDEM_STORED, index);
}

static void push_done_idem(void *arg, int status, ockami_idem_outcome idem, uint64_t value) {
  push_finish(arg, status, idem, value);
}

static void stream_push(ockami_stream *st, const ockam_route *ret, const ockami_sp_msg *req) {
  ockami_stream_service *svc = st->svc;
  uint64_t rid = req->u.push.request_id;
  size_t len = req->u.push.data.len;
  svc->stats.pushes++;
  st->fig.pushes++;
  if (len > svc->max_message) {
    /* A PushConfirm ERROR, not `error`: a 2021 producer would store an
     * `error` reply in the stream as if it were user data (spec §10.12). */
    LOG_INFO(MOD, "stream %s: refusing a %zu-byte message (max %" PRIu32 ")", st->addr, len,
             svc->max_message);
    svc->stats.pushes_refused++;
    send_confirm(st, ret, rid, OCKAMI_SP_STATUS_ERROR, 0);
    return;
  }
  /* Backpressure: the client retries a refused push; holding it here instead
   * would grow memory without bound while the store is behind. */
  if (svc->pending_pushes >= svc->max_pending_pushes ||
      len > svc->max_pending_bytes - svc->pending_bytes) {
    if (!svc->overloaded) {
      svc->overloaded = true;
      LOG_WARN(MOD, "store behind (%" PRIu32 " pushes, %" PRIu64 " bytes pending)",
               svc->pending_pushes, svc->pending_bytes);
    }
    svc->stats.pushes_refused++;
    send_confirm(st, ret, rid, OCKAMI_SP_STATUS_ERROR, 0);
    return;
  }
  ockami_peer *peer = ockami_peers_get(svc->peers, ret);
  if (peer && peer->n[OCKAMI_PEER_PUSHES] >= svc->max_pushes_per_peer) {
    ockami_stream_over_quota(svc, "pushes pending", svc->max_pushes_per_peer);
    svc->stats.pushes_refused++;
    send_confirm(st, ret, rid, OCKAMI_SP_STATUS_ERROR, 0);
    return;
  }
  push_ctx *c = calloc(1, sizeof *c);
  int rc = c ? ockami_route_assign(&c->reply, ret) : OCKAM_ENOMEM;
  if (!rc) {
    c->stream = st;
    c->request_id = rid;
    c->len = len;
    c->t0_ns = uv_hrtime();
    c->idem = req->u.push.idem;
    if (c->idem)
      rc = ockami_store_append_idem(svc->store, st->name, st->name_len, req->u.push.data.p, len,
                                    req->u.push.producer.p, req->u.push.producer.len,
                                    req->u.push.session, req->u.push.seq, push_done_idem, c);
    else
      rc = ockami_store_append(svc->store, st->name, st->name_len, req->u.push.data.p, len,
                               push_done, c);
  }
  if (rc) {
    LOG_WARN(MOD, "stream %s: append refused: %s", st->addr, ockam_strerror(rc));
    if (c) ockami_route_release(&c->reply);
    free(c);
    svc->stats.push_errors++;
    send_confirm(st, ret, rid, OCKAMI_SP_STATUS_ERROR, 0);
    return;
  }
  ockami_stream_ref(st);
  svc->pending_pushes++;
  svc->pending_bytes += len;
  svc->stats.push_bytes += len;
  st->fig.push_bytes += len;
  c->peer = peer;
  if (peer) peer->n[OCKAMI_PEER_PUSHES]++;
}

/* ---- the worker -------------------------------------------------------------------- */

static int worker_handle(ockam_worker *w, ockam_message *m) {
  ockami_stream *st = ockam_worker_user(w);
  if (!st) return OCKAM_OK;
  ockami_stream_service *svc = st->svc;
  size_t len;
  const uint8_t *p = ockam_message_payload(m, &len);
  const ockam_route *ret = ockam_message_return(m);
  ockami_sp_msg req;
  int rc = ockami_sp_decode_request(p, len, &req);
  if (!rc && req.kind != OCKAMI_SP_PUSH && req.kind != OCKAMI_SP_PULL) rc = OCKAM_ENOTSUP;
  /* With the extension off, the idempotent form is refused as a 2021 hub
   * refuses it (exact decoding: trailing bytes). */
  if (!rc && req.kind == OCKAMI_SP_PUSH && req.u.push.idem && svc->no_idem) rc = OCKAM_ETRAILING;
  if (rc) {
    ockami_stream_invalid(svc, st->addr, ret, p, len, rc);
    return OCKAM_OK;
  }
  if (!ockami_stream_reply_ok(svc, ret)) {
    LOG_DEBUG(MOD, "stream %s: request without a usable return route dropped", st->addr);
    return OCKAM_OK;
  }
  if (st->state != OCKAMI_STREAM_READY) return OCKAM_OK; /* being deleted */
  char idbuf[OCKAM_IDENTIFIER_BUF];
  const char *who = ockami_authz_requester(m, idbuf);
  bool push = req.kind == OCKAMI_SP_PUSH;
  if (!ockami_authz_check(svc->peers->authz, who, push ? OCKAMI_ACL_PUSH : OCKAMI_ACL_PULL,
                          st->name, st->name_len, st->addr)) {
    ockami_stream_error(svc, st->addr, ret, OCKAMI_AUTHZ_DENIED);
    return OCKAM_OK;
  }
  if (push &&
      !ockami_authz_charge_push(svc->peers->authz, who, req.u.push.data.len, &st->charges)) {
    /* Like backpressure: the producer backs off and sends it again. */
    send_confirm(st, ret, req.u.push.request_id, OCKAMI_SP_STATUS_ERROR, 0);
    return OCKAM_OK;
  }
  st->last_active_ms = ockam_node_now_ms(svc->node);
  if (req.kind == OCKAMI_SP_PUSH)
    stream_push(st, ret, &req);
  else
    stream_pull(st, ret, &req);
  return OCKAM_OK;
}

static void worker_stopped(ockam_worker *w) {
  ockami_stream *st = ockam_worker_user(w);
  if (st) st->worker = NULL;
}

static const ockam_worker_ops stream_worker_ops = {worker_handle, worker_stopped};

int ockami_stream_worker_start(ockami_stream *st) {
  const char *addrs[1] = {st->addr};
  int rc = ockam_worker_start(st->svc->node, addrs, 1, &stream_worker_ops, st, &st->worker);
  if (!rc) st->state = OCKAMI_STREAM_READY;
  return rc;
}

void ockami_stream_worker_stop(ockami_stream *st) {
  if (!st->worker) return;
  ockam_worker *w = st->worker;
  st->worker = NULL;
  ockam_worker_stop(w);
  ockami_worker_set_user(w, NULL);
}
