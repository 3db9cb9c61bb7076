/* The `stream` service of the hub (spec §7.3): the store behind it, stream
 * creation, deletion and idle expiry, and the service's start and stop. The
 * registry of stream names that lets stream workers come back at the same
 * address is in stream_registry.c, the consumer index service (§7.5) in
 * stream_index.c, per-stream push/pull in stream_worker.c.
 */
#include <inttypes.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "acl.h"
#include "log.h"
#include "node.h"
#include "stream_internal.h"

#define MOD "stream"
#define DEFAULT_STORE "lmdb"
#define DEFAULT_DATA_DIR OCKAMI_HUB_DATA_DIR
/* "generated_" ‖ 8 hex (spec §7.3). */
#define GENERATED_PREFIX "generated_"
#define GENERATED_LEN (sizeof GENERATED_PREFIX - 1 + 8)
#define GENERATE_TRIES 16

static const char address_domain[] = "ockam.stream"; /* hashed with its NUL */

void ockami_stream_worker_address(const char *name, size_t len,
                                  char out[static OCKAMI_STREAM_ADDRESS_LEN + 1]) {
  uint8_t digest[crypto_hash_sha256_BYTES];
  crypto_hash_sha256_state h;
  crypto_hash_sha256_init(&h);
  crypto_hash_sha256_update(&h, (const uint8_t *)address_domain, sizeof address_domain);
  crypto_hash_sha256_update(&h, (const uint8_t *)name, len);
  crypto_hash_sha256_final(&h, digest);
  static const char hex[] = "0123456789abcdef";
  for (size_t i = 0; i < OCKAMI_STREAM_ADDRESS_LEN / 2; i++) {
    out[2 * i] = hex[digest[i] >> 4];
    out[2 * i + 1] = hex[digest[i] & 15];
  }
  out[OCKAMI_STREAM_ADDRESS_LEN] = '\0';
}

/* ---- replies ---------------------------------------------------------------- */

void ockami_stream_over_quota(ockami_stream_service *svc, const char *what, uint32_t max) {
  svc->stats.over_quota++;
  if (!svc->peer_limit_logged)
    LOG_WARN(MOD,
             "a connection reached its quota of %" PRIu32
             " %s; refusing more from it "
             "(logged once; see the final statistics)",
             max, what);
  svc->peer_limit_logged = true;
}

bool ockami_stream_reply_ok(const ockami_stream_service *svc, const ockam_route *to) {
  ockam_address a;
  if (!ockami_route_first(to, &a)) return false;
  if (a.type != OCKAM_ADDRESS_LOCAL) return true;
  if (ockami_map_get(&svc->by_addr, a.value, a.len)) return false;
  for (size_t i = 0; i < svc->naliases; i++) {
    if (ockami_address_is(&a, OCKAM_ADDRESS_LOCAL, svc->service_names[i]) ||
        ockami_address_is(&a, OCKAM_ADDRESS_LOCAL, svc->index_names[i]))
      return false;
  }
  /* The echo service sends every payload straight back. */
  return !ockami_address_is(&a, OCKAM_ADDRESS_LOCAL, "echo_service");
}

void ockami_stream_send(ockami_stream_service *svc, const char *from, const ockam_route *to) {
  int rc =
      ockami_send_direct(svc->node, &svc->direct, from, to, svc->scratch.data, svc->scratch.len);
  if (rc) LOG_DEBUG(MOD, "%s: cannot send reply: %s", from, ockam_strerror(rc));
}

void ockami_stream_error(ockami_stream_service *svc, const char *from, const ockam_route *to,
                         const char *reason) {
  if (!ockami_stream_reply_ok(svc, to)) return;
  svc->scratch.len = 0;
  int rc = ockami_sp_encode_error(&svc->scratch, reason, strlen(reason));
  if (rc) {
    LOG_WARN(MOD, "%s: cannot encode error reply: %s", from, ockam_strerror(rc));
    return;
  }
  ockami_stream_send(svc, from, to);
}

void ockami_stream_invalid(ockami_stream_service *svc, const char *from, const ockam_route *to,
                           const uint8_t *payload, size_t len, int why) {
  svc->stats.invalid++;
  ockami_sp_str proto;
  ockami_sp_bytes data;
  /* Never answer an error with an error: two peers doing so would loop. */
  if (ockami_sp_payload_decode(payload, len, false, &proto, &data) == 0 &&
      proto.len == sizeof OCKAMI_SP_ERROR_NAME - 1 &&
      memcmp(proto.p, OCKAMI_SP_ERROR_NAME, proto.len) == 0) {
    LOG_DEBUG(MOD, "%s: ignoring an error payload (%zu bytes)", from, len);
    return;
  }
  LOG_DEBUG(MOD, "%s: invalid request (%zu bytes): %s", from, len, ockam_strerror(why));
  ockami_stream_error(svc, from, to, OCKAMI_SP_INVALID_REQUEST);
}

/* The local address a message was sent to (one of the worker's aliases),
 * so replies come from the address the client used. */
static const char *arrival_address(ockam_worker *w, const ockam_message *m, char *buf, size_t cap) {
  ockam_address a;
  if (ockami_route_first(ockam_message_onward(m), &a) && a.type == OCKAM_ADDRESS_LOCAL &&
      a.len < cap && !memchr(a.value, 0, a.len)) {
    memcpy(buf, a.value, a.len);
    buf[a.len] = '\0';
    return buf;
  }
  return ockam_worker_address(w);
}

int ockami_stream_request_read(ockam_worker *w, const ockam_message *m, ockami_stream_request *rq) {
  rq->from = arrival_address(w, m, rq->from_buf, sizeof rq->from_buf);
  rq->ret = ockam_message_return(m);
  rq->p = ockam_message_payload(m, &rq->len);
  return ockami_sp_decode_request(rq->p, rq->len, &rq->msg);
}

/* ---- streams ---------------------------------------------------------------- */

ockami_stream *ockami_stream_new(ockami_stream_service *svc, const char *name, size_t len) {
  ockami_stream *st = calloc(1, sizeof *st + len + 1);
  if (!st) return NULL;
  st->svc = svc;
  st->state = OCKAMI_STREAM_CREATING;
  st->name_len = len;
  memcpy(st->name, name, len);
  st->reg_index = UINT64_MAX;
  st->last_active_ms = ockam_node_now_ms(svc->node);
  ockami_stream_worker_address(name, len, st->addr);
  return st;
}

static void stream_free_waiters(ockami_stream *st) {
  while (st->waiters) {
    ockami_init_waiter *w = st->waiters;
    st->waiters = w->next;
    ockami_route_release(&w->reply);
    free(w);
  }
  st->nwaiters = 0;
}

void ockami_stream_free(ockami_stream *st) {
  ockami_stats_stream_free(st->svc, st);
  stream_free_waiters(st);
  if (st->has_delete_reply) ockami_route_release(&st->delete_reply);
  free(st->creator);
  ockami_charges_free(&st->charges);
  free(st);
}

void ockami_stream_unref(ockami_stream *st) {
  if (st->refs) st->refs--;
  if (st->refs == 0 && st->gone) ockami_stream_free(st);
}

static int stream_add_waiter(ockami_stream *st, const ockam_route *reply) {
  ockami_init_waiter *w = calloc(1, sizeof *w);
  if (!w) return OCKAM_ENOMEM;
  int rc = ockami_route_assign(&w->reply, reply);
  if (rc) {
    free(w);
    return rc;
  }
  /* Appended in arrival order, so Inits go out in request order. */
  ockami_init_waiter **pp = &st->waiters;
  while (*pp) pp = &(*pp)->next;
  *pp = w;
  st->nwaiters++;
  return OCKAM_OK;
}

static void send_init(ockami_stream *st, const ockam_route *to) {
  ockami_stream_service *svc = st->svc;
  svc->scratch.len = 0;
  int rc = ockami_sp_encode_init(&svc->scratch, st->name, st->name_len);
  if (rc) {
    LOG_WARN(MOD, "stream %s: cannot encode Init: %s", st->addr, ockam_strerror(rc));
    return;
  }
  /* From the stream worker: the Init's return route is the client's handle
   * on the stream (spec §7.3). */
  ockami_stream_send(svc, st->addr, to);
}

/* Starts the worker of a stream whose storage exists; 0 or an error (the
 * stream is then still CREATING and the caller disposes of it). */
int ockami_stream_activate(ockami_stream *st) {
  ockami_stream_service *svc = st->svc;
  int rc = ockami_stream_worker_start(st);
  if (rc) {
    LOG_ERROR(MOD, "stream '%.*s': cannot start its worker at %s: %s", (int)st->name_len, st->name,
              st->addr, ockam_strerror(rc));
    return rc;
  }
  rc = ockami_map_put(&svc->by_addr, st->addr, OCKAMI_STREAM_ADDRESS_LEN, st);
  if (rc) {
    ockami_stream_worker_stop(st);
    st->state = OCKAMI_STREAM_CREATING;
    return rc;
  }
  return OCKAM_OK;
}

/* Creation failed: every waiting requester gets an error, the stream is
 * forgotten (a later create starts over). */
static void creation_failed(ockami_stream *st, int rc) {
  ockami_stream_service *svc = st->svc;
  const char *reason = rc == OCKAM_EOVERFLOW ? "Stream limit reached" : "Storage error";
  LOG_WARN(MOD, "stream '%.*s': cannot create: %s", (int)st->name_len, st->name,
           ockam_strerror(rc));
  for (ockami_init_waiter *w = st->waiters; w; w = w->next)
    ockami_stream_error(svc, svc->service_names[0], &w->reply, reason);
  ockami_map_remove(&svc->streams, st->name, st->name_len);
  ockami_stream_creator_release(st);
  ockami_stream_free(st);
}

static void creation_done(ockami_stream *st) {
  int rc = ockami_stream_activate(st);
  if (rc) {
    creation_failed(st, rc);
    return;
  }
  LOG_INFO(MOD, "stream '%.*s' created, worker %s", (int)st->name_len, st->name, st->addr);
  for (ockami_init_waiter *w = st->waiters; w; w = w->next) send_init(st, &w->reply);
  stream_free_waiters(st);
}

static void registered_cb(void *arg, int status, uint64_t index) {
  ockami_stream *st = arg;
  if (st->svc->state != OCKAMI_SVC_RUNNING) return; /* freed by the stop */
  if (status) {
    creation_failed(st, status);
    return;
  }
  st->reg_index = index;
  creation_done(st);
}

static void created_cb(void *arg, int status) {
  ockami_stream *st = arg;
  ockami_stream_service *svc = st->svc;
  if (svc->state != OCKAMI_SVC_RUNNING) return;
  if (status) {
    creation_failed(st, status);
    return;
  }
  if (!svc->registry) {
    creation_done(st);
    return;
  }
  /* The name must be durable in the registry before any client learns the
   * worker address, or a crash could leave that address unanswered. */
  int rc = ockami_store_append(svc->registry, OCKAMI_STREAM_REGISTRY_STREAM,
                               OCKAMI_STREAM_REGISTRY_STREAM_LEN, (const uint8_t *)st->name,
                               st->name_len, registered_cb, st);
  if (rc) creation_failed(st, rc);
}

static bool generate_name(ockami_stream_service *svc, char out[static GENERATED_LEN + 1]) {
  static const char hex[] = "0123456789abcdef";
  for (int t = 0; t < GENERATE_TRIES; t++) {
    uint8_t raw[4];
    randombytes_buf(raw, sizeof raw);
    memcpy(out, GENERATED_PREFIX, sizeof GENERATED_PREFIX - 1);
    char *p = out + sizeof GENERATED_PREFIX - 1;
    for (size_t i = 0; i < sizeof raw; i++) {
      *p++ = hex[raw[i] >> 4];
      *p++ = hex[raw[i] & 15];
    }
    *p = '\0';
    if (!ockami_map_get(&svc->streams, out, GENERATED_LEN)) return true;
  }
  return false;
}

static void service_create(ockami_stream_service *svc, const char *from, const ockam_route *ret,
                           const ockami_sp_msg *req, const uint8_t *payload, size_t plen,
                           const char *requester) {
  if (!ockami_stream_reply_ok(svc, ret)) {
    LOG_DEBUG(MOD, "%s: create without a usable return route dropped", from);
    return;
  }
  char generated[GENERATED_LEN + 1];
  const char *name;
  size_t len;
  if (req->u.create.has_name) {
    name = req->u.create.name.p;
    len = req->u.create.name.len;
  } else {
    if (!generate_name(svc, generated)) {
      ockami_stream_error(svc, from, ret, "Storage error");
      return;
    }
    name = generated;
    len = GENERATED_LEN;
  }
  int rc = ockami_store_check_stream(name, len);
  if (rc) {
    ockami_stream_invalid(svc, from, ret, payload, plen, rc);
    return;
  }
  svc->stats.creates++;
  ockami_stream *st = ockami_map_get(&svc->streams, name, len);
  if (st && st->state == OCKAMI_STREAM_READY) {
    send_init(st, ret);
    return;
  }
  if (st && st->state == OCKAMI_STREAM_DELETING) {
    ockami_stream_error(svc, from, ret, "Stream is being deleted");
    return;
  }
  if (st) { /* creation in progress: answer with the others */
    if (st->nwaiters >= OCKAM_STREAM_INIT_WAITERS || stream_add_waiter(st, ret))
      ockami_stream_error(svc, from, ret, "Storage error");
    return;
  }
  ockami_peer *peer = ockami_peers_get(svc->peers, ret);
  if (peer && peer->n[OCKAMI_PEER_STREAMS] >= svc->max_streams_per_peer) {
    ockami_stream_over_quota(svc, "streams created", svc->max_streams_per_peer);
    ockami_stream_error(svc, from, ret, "Stream limit reached");
    return;
  }
  if (svc->streams.count >= svc->max_streams) {
    if (!svc->limit_logged)
      LOG_WARN(MOD, "stream limit (%" PRIu32 ") reached; refusing new streams", svc->max_streams);
    svc->limit_logged = true;
    LOG_DEBUG(MOD, "refusing stream '%.*s'", (int)len, name);
    ockami_stream_error(svc, from, ret, "Stream limit reached");
    return;
  }
  st = ockami_stream_new(svc, name, len);
  if (st && !ockami_authz_charge_stream(svc->peers->authz, requester, &st->charges)) {
    ockami_stream_free(st);
    ockami_stream_error(svc, from, ret, OCKAMI_AUTHZ_QUOTA);
    return;
  }
  if (!st || stream_add_waiter(st, ret) || ockami_map_put(&svc->streams, name, len, st)) {
    if (st) ockami_stream_free(st);
    ockami_stream_error(svc, from, ret, "Storage error");
    return;
  }
  ockami_stream_creator_count(st, peer);
  rc = ockami_store_stream_create(svc->store, name, len, created_cb, st);
  if (rc) creation_failed(st, rc);
}

/* ---- deletion ---------------------------------------------------------------- */

/* The stream is gone: its worker stops, parked pulls get an empty list, a
 * later create starts over; freed once no pull or push refers to it. */
void ockami_stream_retire(ockami_stream *st) {
  ockami_stream_service *svc = st->svc;
  if (ockami_map_get(&svc->by_addr, st->addr, OCKAMI_STREAM_ADDRESS_LEN) == st)
    ockami_map_remove(&svc->by_addr, st->addr, OCKAMI_STREAM_ADDRESS_LEN);
  ockami_stream_worker_stop(st);
  st->state = OCKAMI_STREAM_DELETING;
  ockami_stream_answer_parked(st);
  ockami_map_remove(&svc->streams, st->name, st->name_len);
  ockami_stream_creator_release(st);
  st->gone = true;
  st->refs++;
  ockami_stream_unref(st); /* frees it unless something is in flight */
}

static void delete_answer(ockami_stream *st, int rc) {
  ockami_stream_service *svc = st->svc;
  if (!st->has_delete_reply) return;
  if (rc) {
    ockami_stream_error(svc, st->delete_from, &st->delete_reply, "Storage error");
  } else {
    svc->scratch.len = 0;
    rc = ockami_sp_encode_deleted(&svc->scratch, st->name, st->name_len);
    if (rc)
      LOG_WARN(MOD, "cannot encode a deletion reply: %s", ockam_strerror(rc));
    else
      ockami_stream_send(svc, st->delete_from, &st->delete_reply);
  }
  ockami_route_release(&st->delete_reply);
  st->has_delete_reply = false;
}

static void delete_finish(ockami_stream *st) {
  st->svc->deletes++;
  LOG_INFO(MOD, "stream '%.*s' deleted", (int)st->name_len, st->name);
  ockami_authz_give_back(st->svc->peers->authz, &st->charges);
  delete_answer(st, OCKAM_OK);
  ockami_stream_retire(st);
}

static void tombstoned_cb(void *arg, int status, uint64_t index) {
  (void)index;
  ockami_stream *st = arg;
  if (st->svc->state != OCKAMI_SVC_RUNNING) return; /* freed by the stop */
  if (status)
    LOG_WARN(MOD,
             "stream '%.*s': cannot record its deletion in the registry (%s); it comes back, "
             "empty, after a restart",
             (int)st->name_len, st->name, ockam_strerror(status));
  delete_finish(st);
}

static void deleted_cb(void *arg, int status) {
  ockami_stream *st = arg;
  ockami_stream_service *svc = st->svc;
  if (svc->state != OCKAMI_SVC_RUNNING) return;
  if (status && status != OCKAM_ENOTFOUND) {
    /* Nothing was deleted: the stream stays as it was. */
    LOG_WARN(MOD, "stream '%.*s': cannot delete: %s", (int)st->name_len, st->name,
             ockam_strerror(status));
    delete_answer(st, status);
    st->state = OCKAMI_STREAM_READY;
    return;
  }
  if (!svc->registry) {
    delete_finish(st);
    return;
  }
  /* Tombstone: 0xff ‖ name (0xff never occurs in a client's UTF-8 name),
   * so the registry does not bring the stream back at the next start. */
  uint8_t rec[OCKAM_NAME_MAX + 1];
  rec[0] = 0xff;
  memcpy(rec + 1, st->name, st->name_len);
  int rc = ockami_store_append(svc->registry, OCKAMI_STREAM_REGISTRY_STREAM,
                               OCKAMI_STREAM_REGISTRY_STREAM_LEN, rec, st->name_len + 1,
                               tombstoned_cb, st);
  if (rc) tombstoned_cb(st, rc, 0);
}

/* Deletes a READY stream: requests to its worker are ignored meanwhile, the
 * store removes records and consumer indexes (after the stream's earlier
 * requests), the registry records a tombstone, then the stream is retired.
 * `ret` (may be NULL) gets the answer. */
static void stream_delete_start(ockami_stream *st, const char *from, const ockam_route *ret) {
  ockami_stream_service *svc = st->svc;
  if (ret && ockami_route_assign(&st->delete_reply, ret) == OCKAM_OK) {
    st->has_delete_reply = true;
    snprintf(st->delete_from, sizeof st->delete_from, "%s", from);
  }
  st->state = OCKAMI_STREAM_DELETING;
  ockami_stream_answer_parked(st);
  int rc = ockami_store_stream_delete(svc->store, st->name, st->name_len, deleted_cb, st);
  if (rc) deleted_cb(st, rc);
}

static void service_delete(ockami_stream_service *svc, const char *from, const ockam_route *ret,
                           const ockami_sp_msg *req) {
  if (!ockami_stream_reply_ok(svc, ret)) {
    LOG_DEBUG(MOD, "%s: delete without a usable return route dropped", from);
    return;
  }
  ockami_stream *st = ockami_map_get(&svc->streams, req->u.del.name.p, req->u.del.name.len);
  if (!st) {
    ockami_stream_error(svc, from, ret, "Stream not found");
    return;
  }
  if (st->state != OCKAMI_STREAM_READY) {
    ockami_stream_error(svc, from, ret,
                        st->state == OCKAMI_STREAM_CREATING ? "Stream is being created"
                                                            : "Stream is being deleted");
    return;
  }
  stream_delete_start(st, from, ret);
}

/* ---- idle expiry ------------------------------------------------------------- */

static void expiry_sweep(void *arg);

static void expiry_listed(void *arg, int status, const ockami_stream_info *streams, size_t count) {
  ockami_stream_service *svc = arg;
  svc->sweeping = false;
  if (svc->state != OCKAMI_SVC_RUNNING) return;
  if (status) {
    LOG_DEBUG(MOD, "expiry: cannot list streams: %s", ockam_strerror(status));
    return;
  }
  uint64_t now = ockam_node_now_ms(svc->node);
  for (size_t i = 0; i < count; i++) {
    const ockami_stream_info *in = &streams[i];
    if (in->next != in->first) continue; /* records kept: not empty */
    ockami_stream *st = ockami_map_get(&svc->streams, in->name, in->name_len);
    if (!st || st->state != OCKAMI_STREAM_READY || st->refs || st->nparked ||
        now - st->last_active_ms < svc->idle_expiry_ms)
      continue;
    LOG_INFO(MOD, "stream '%.*s' empty and unused for %" PRIu64 " ms: deleting", (int)st->name_len,
             st->name, now - st->last_active_ms);
    svc->expired++;
    stream_delete_start(st, NULL, NULL);
  }
  /* A full page: the rest of the list in the next round, from the last name. */
  if (count == OCKAMI_STORE_LIST_MAX) {
    svc->sweep_after_len = streams[count - 1].name_len;
    memcpy(svc->sweep_after, streams[count - 1].name, svc->sweep_after_len);
  } else {
    svc->sweep_after_len = 0;
  }
}

static void expiry_sweep(void *arg) {
  ockami_stream_service *svc = arg;
  if (svc->sweeping || svc->state != OCKAMI_SVC_RUNNING) return;
  int rc =
      ockami_store_stream_list(svc->store, (const char *)svc->sweep_after, svc->sweep_after_len,
                               OCKAMI_STORE_LIST_MAX, expiry_listed, svc);
  if (!rc) svc->sweeping = true;
}

static int service_handle(ockam_worker *w, ockam_message *m) {
  ockami_stream_service *svc = ockam_worker_user(w);
  if (!svc) return OCKAM_OK;
  ockami_stream_request rq;
  int rc = ockami_stream_request_read(w, m, &rq);
  char idbuf[OCKAM_IDENTIFIER_BUF];
  const char *who = ockami_authz_requester(m, idbuf);
  if (!rc && (rq.msg.kind == OCKAMI_SP_DELETE || rq.msg.kind == OCKAMI_SP_CREATE)) {
    bool del = rq.msg.kind == OCKAMI_SP_DELETE;
    bool named = del || rq.msg.u.create.has_name;
    const ockami_sp_str *n = del ? &rq.msg.u.del.name : &rq.msg.u.create.name;
    /* A create without a name (the hub picks one) needs create on "". */
    if (!ockami_authz_check(svc->peers->authz, who, del ? OCKAMI_ACL_DELETE : OCKAMI_ACL_CREATE,
                            named ? n->p : "", named ? n->len : 0, rq.from)) {
      ockami_stream_error(svc, rq.from, rq.ret, OCKAMI_AUTHZ_DENIED);
      return OCKAM_OK;
    }
  }
  if (!rc && rq.msg.kind == OCKAMI_SP_DELETE) {
    service_delete(svc, rq.from, rq.ret, &rq.msg);
    return OCKAM_OK;
  }
  if (rc || rq.msg.kind != OCKAMI_SP_CREATE) {
    ockami_stream_invalid(svc, rq.from, rq.ret, rq.p, rq.len, rc ? rc : OCKAM_ENOTSUP);
    return OCKAM_OK;
  }
  service_create(svc, rq.from, rq.ret, &rq.msg, rq.p, rq.len, who);
  return OCKAM_OK;
}

static void service_stopped(ockam_worker *w) {
  ockami_stream_service *svc = ockam_worker_user(w);
  if (svc) svc->service_worker = NULL;
}

static const ockam_worker_ops service_ops = {service_handle, service_stopped};

static void store_deliver(void *arg) {
  ockami_stream_service *svc = arg;
  ockami_store_deliver(svc->store);
}

static void store_kick(void *arg) {
  ockami_stream_service *svc = arg;
  ockami_node_defer(svc->node, &svc->store_kick);
}

/* ---- start / stop -------------------------------------------------------------- */

static int map_open_error(int rc) {
  return rc == OCKAM_ENOMEM || rc == OCKAM_EUNAVAILABLE ? rc : OCKAM_ESTORAGE;
}

static void set_aliases(ockami_stream_service *svc) {
  size_t n = 0;
  snprintf(svc->service_names[n], sizeof svc->service_names[n], "%s", OCKAMI_STREAM_SERVICE);
  snprintf(svc->index_names[n], sizeof svc->index_names[n], "%s", OCKAMI_STREAM_INDEX_SERVICE);
  n++;
  if (strcmp(svc->ops->name, "memory") != 0) {
    /* stream_<backend>, and stream_kafka: the 2021 hub's name for its
     * durable store, which the 2021 guide's programs address. */
    snprintf(svc->service_names[n], sizeof svc->service_names[n], "stream_%s", svc->ops->name);
    snprintf(svc->index_names[n], sizeof svc->index_names[n], "stream_%s_index", svc->ops->name);
    n++;
    snprintf(svc->service_names[n], sizeof svc->service_names[n], "stream_kafka");
    snprintf(svc->index_names[n], sizeof svc->index_names[n], "stream_kafka_index");
    n++;
  }
  svc->naliases = n;
}

/* A client connection closed: its parked pulls would answer into nothing
 * and hold a parking slot until their deadline. */
static void on_conn_event(void *arg, const ockam_conn_event *ev) {
  ockami_stream_service *svc = arg;
  if (ev->kind != OCKAM_CONN_DOWN || ev->outgoing || svc->state != OCKAMI_SVC_RUNNING ||
      svc->nparked == 0)
    return;
  size_t bucket = 0, n = 0;
  ockami_map_entry *e = NULL;
  while ((e = ockami_map_next(&svc->streams, &bucket, e)))
    n += ockami_stream_drop_parked_via(e->value, &ev->peer);
  svc->stats.pulls_dropped += n;
  if (n)
    LOG_DEBUG(MOD, "connection 0#%.*s closed: %zu parked pulls dropped", (int)ev->peer.len,
              ev->peer.value, n);
}

int ockami_stream_service_start(ockam_node *node, const ockam_hub_options *opts,
                                ockami_peers *peers, ockami_stream_service **out) {
  if (!node || !opts || !out) return OCKAM_EINVAL;
  *out = NULL;
  const char *store_name = opts->store ? opts->store : DEFAULT_STORE;
  const ockami_store_ops *ops = ockami_store_ops_find(store_name);
  if (!ops) {
    LOG_ERROR(MOD, "unknown store '%s'", store_name);
    return OCKAM_ENOTFOUND;
  }
  ockami_stream_service *svc = calloc(1, sizeof *svc);
  if (!svc) return OCKAM_ENOMEM;
  svc->node = node;
  svc->ops = ops;
  svc->peers = peers;
  svc->max_streams_per_peer = opts->max_streams_per_connection
                                  ? opts->max_streams_per_connection
                                  : OCKAM_HUB_MAX_STREAMS_PER_CONNECTION;
  svc->max_pulls_per_peer = opts->max_pulls_per_connection ? opts->max_pulls_per_connection
                                                           : OCKAM_HUB_MAX_PULLS_PER_CONNECTION;
  svc->max_pushes_per_peer = opts->max_pushes_per_connection ? opts->max_pushes_per_connection
                                                             : OCKAM_HUB_MAX_PUSHES_PER_CONNECTION;
  ockami_map_init(&svc->streams);
  ockami_map_init(&svc->by_addr);
  svc->msgs = calloc(OCKAM_PULL_LIMIT_MAX, sizeof *svc->msgs);
  if (!svc->msgs) {
    free(svc);
    return OCKAM_ENOMEM;
  }
  svc->max_streams = opts->max_streams ? opts->max_streams : OCKAM_HUB_MAX_STREAMS;
  svc->max_message = opts->max_message ? opts->max_message : OCKAM_STREAM_STORED_MAX;
  if (svc->max_message > OCKAM_STREAM_STORED_MAX) {
    LOG_WARN(MOD, "max message %" PRIu32 " bytes leaves no room for routes; using %u",
             svc->max_message, OCKAM_STREAM_STORED_MAX);
    svc->max_message = OCKAM_STREAM_STORED_MAX;
  }
  svc->long_poll_max_ms = opts->long_poll_max_ms ? opts->long_poll_max_ms : OCKAM_LONG_POLL_MAX_MS;
  svc->no_idem = opts->no_idempotent_producers;
  svc->recheck_ms = ops->shared ? OCKAM_STREAM_SHARED_RECHECK_MS : 0;
  svc->max_pending_pushes =
      opts->max_pending_pushes ? opts->max_pending_pushes : OCKAM_STREAM_PENDING_PUSHES;
  svc->max_pending_bytes =
      opts->max_pending_bytes ? opts->max_pending_bytes : OCKAM_STREAM_PENDING_BYTES;
  set_aliases(svc);

  ockami_store_options so = {0};
  so.dir = opts->data_dir ? opts->data_dir : DEFAULT_DATA_DIR;
  so.url = opts->nats_url;
  so.replicas = opts->replicas;
  so.max_messages = opts->retention_messages;
  so.max_bytes = opts->retention_bytes;
  so.max_age_s = opts->retention_age_s;
  so.max_streams = svc->max_streams;
  so.max_record = svc->max_message;
  so.no_sync = opts->no_sync;
  /* Retention is applied by the store itself: inside each append (count and
   * bytes) and by a periodic trim on the store thread whenever a retention
   * option is set (storage.h). */
  int rc = ockami_store_open(ockam_node_loop(node), ops, &so, &svc->store);
  if (!rc) {
    svc->store_kick.fn = store_deliver;
    svc->store_kick.arg = svc;
    ockami_store_set_kick(svc->store, store_kick, svc);
  }
  if (rc) {
    LOG_ERROR(MOD, "cannot open the %s store: %s", ops->name, ockam_strerror(rc));
    rc = map_open_error(rc);
  }
  if (!rc && strcmp(ops->name, "memory") != 0) {
    rc = ockami_stream_registry_open(svc, &so);
    if (rc) rc = map_open_error(rc);
  }
  const char *saddrs[OCKAMI_STREAM_ALIASES_MAX], *iaddrs[OCKAMI_STREAM_ALIASES_MAX];
  for (size_t i = 0; i < svc->naliases; i++) {
    saddrs[i] = svc->service_names[i];
    iaddrs[i] = svc->index_names[i];
  }
  if (!rc)
    rc = ockam_worker_start(node, saddrs, svc->naliases, &service_ops, svc, &svc->service_worker);
  if (!rc)
    rc = ockam_worker_start(node, iaddrs, svc->naliases, &ockami_stream_index_ops, svc,
                            &svc->index_worker);
  if (!rc) rc = ockam_node_subscribe_conn_events(node, on_conn_event, svc, &svc->conn_sub);
  if (!rc && svc->registry)
    rc = ockam_timer_start(node, OCKAM_STREAM_REGISTRY_POLL_MS, OCKAM_STREAM_REGISTRY_POLL_MS,
                           ockami_stream_registry_poll, svc, &svc->registry_timer);
  svc->idle_expiry_ms = opts->stream_idle_expiry_ms;
  if (!rc && svc->idle_expiry_ms) {
    /* Swept at a quarter of the expiry, between 100 ms and a minute. */
    uint64_t period = svc->idle_expiry_ms / 4;
    if (period < 100) period = 100;
    if (period > 60000) period = 60000;
    rc = ockam_timer_start(node, period, period, expiry_sweep, svc, &svc->expiry_timer);
  }
  if (rc) {
    ockami_stream_service_stop(svc);
    return rc;
  }
  LOG_INFO(MOD, "stream services on the %s store: %zu streams, max message %" PRIu32 " bytes",
           ops->name, svc->streams.count, svc->max_message);
  *out = svc;
  return OCKAM_OK;
}

static void stop_worker(ockam_worker *w) {
  if (!w) return;
  ockam_worker_stop(w);
  ockami_worker_set_user(w, NULL); /* its `stopped` runs later, after svc is gone */
}

void ockami_stream_service_stop(ockami_stream_service *svc) {
  if (!svc) return;
  svc->state = OCKAMI_SVC_STOPPING;
  const ockami_stream_stats *t = &svc->stats;
  LOG_INFO(MOD,
           "stopping: %zu streams; %" PRIu64 " creates, %" PRIu64 " pushes (%" PRIu64
           " failed, %" PRIu64 " refused), %" PRIu64 " pulls (%" PRIu64 " parked, %" PRIu64
           " woken), %" PRIu64 " invalid requests, %" PRIu64 " index saves clamped, %" PRIu64
           " over per-connection quotas",
           svc->streams.count, t->creates, t->pushes, t->push_errors, t->pushes_refused, t->pulls,
           t->pulls_parked, t->pulls_woken, t->invalid, t->index_clamped, t->over_quota);
  if (svc->registry_timer) ockam_timer_stop(svc->registry_timer);
  svc->registry_timer = NULL;
  if (svc->expiry_timer) ockam_timer_stop(svc->expiry_timer);
  svc->expiry_timer = NULL;
  if (svc->deletes || svc->expired)
    LOG_INFO(MOD, "%" PRIu64 " streams deleted, %" PRIu64 " of them expired", svc->deletes,
             svc->expired);
  ockam_conn_sub_cancel(svc->conn_sub);
  svc->conn_sub = NULL;
  size_t bucket = 0;
  ockami_map_entry *e = NULL;
  while ((e = ockami_map_next(&svc->streams, &bucket, e))) ockami_stream_drop_parked(e->value);
  /* Pending appends finish and are confirmed; reads and creates in flight
   * complete without effect (their callbacks see STOPPING). */
  ockami_node_undefer(svc->node, &svc->store_kick);
  if (svc->store) ockami_store_close(svc->store);
  if (svc->registry) ockami_store_close(svc->registry);
  svc->store = svc->registry = NULL;
  stop_worker(svc->service_worker);
  stop_worker(svc->index_worker);
  bucket = 0;
  e = NULL;
  while ((e = ockami_map_next(&svc->streams, &bucket, e))) {
    ockami_stream *st = e->value;
    ockami_stream_worker_stop(st);
    ockami_stream_free(st);
  }
  ockami_map_free(&svc->streams);
  ockami_map_free(&svc->by_addr);
  ockami_buf_free(&svc->scratch);
  ockami_direct_cache_free(&svc->direct);
  free(svc->msgs);
  free(svc);
}
