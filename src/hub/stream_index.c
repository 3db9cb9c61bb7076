/* The `stream_index` service (spec §7.5): the consumer index, kept per
 * client and stream in the store. */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "acl.h"
#include "log.h"
#include "stream_internal.h"

#define MOD "stream"

/* ---- stream_index ------------------------------------------------------------ */

typedef struct index_get_ctx {
  ockami_stream_service *svc;
  ockam_route reply;
  size_t client_len, stream_len;
  char *from;   /* points into bytes */
  char bytes[]; /* from ‖ NUL ‖ client ‖ stream */
} index_get_ctx;

static void index_got(void *arg, int status, bool found, uint64_t index) {
  index_get_ctx *c = arg;
  ockami_stream_service *svc = c->svc;
  svc->pending_index--;
  const char *client = c->from + strlen(c->from) + 1;
  const char *stream = client + c->client_len;
  if (status) {
    /* No answer rather than None: None would make the consumer start over
     * from index 0. */
    LOG_WARN(MOD, "index get (%.*s, %.*s) failed: %s", (int)c->client_len, client,
             (int)c->stream_len, stream, ockam_strerror(status));
  } else {
    if (found && svc->state == OCKAMI_SVC_RUNNING)
      ockami_stats_consumer(svc, ockami_map_get(&svc->streams, stream, c->stream_len), client,
                            c->client_len, index);
    svc->scratch.len = 0;
    int rc = ockami_sp_encode_index(&svc->scratch, client, c->client_len, stream, c->stream_len,
                                    found, index);
    if (rc)
      LOG_WARN(MOD, "cannot encode Index: %s", ockam_strerror(rc));
    else
      ockami_stream_send(svc, c->from, &c->reply);
  }
  ockami_route_release(&c->reply);
  free(c);
}

static void index_saved(void *arg, int status) {
  ockami_stream_service *svc = arg;
  svc->pending_index--;
  if (status) LOG_WARN(MOD, "index save failed: %s", ockam_strerror(status));
}

static void index_get(ockami_stream_service *svc, const char *from, const ockam_route *ret,
                      const ockami_sp_msg *req, const ockami_sp_str *key) {
  const ockami_sp_str *cl = &req->u.index_req.client_id, *sn = &req->u.index_req.stream_name;
  if (!ockami_stream_reply_ok(svc, ret)) {
    LOG_DEBUG(MOD, "%s: index get without a usable return route dropped", from);
    return;
  }
  size_t from_len = strlen(from);
  index_get_ctx *c = calloc(1, sizeof *c + from_len + 1 + cl->len + sn->len);
  if (!c) return;
  c->svc = svc;
  c->from = c->bytes;
  memcpy(c->bytes, from, from_len + 1);
  if (cl->len) memcpy(c->bytes + from_len + 1, cl->p, cl->len);
  if (sn->len) memcpy(c->bytes + from_len + 1 + cl->len, sn->p, sn->len);
  c->client_len = cl->len;
  c->stream_len = sn->len;
  int rc = ockami_route_assign(&c->reply, ret);
  if (!rc) rc = ockami_store_index_get(svc->store, key->p, key->len, sn->p, sn->len, index_got, c);
  if (rc) {
    LOG_DEBUG(MOD, "%s: index get refused: %s", from, ockam_strerror(rc));
    ockami_route_release(&c->reply);
    free(c);
    return;
  }
  svc->pending_index++;
}

/* Index saves are clamped to the stream's end: any client may save any
 * (client, stream) pair, and since saves only go up, one save of 2^64-1
 * would make that consumer skip everything stored later. A save up to what
 * this hub saw stored goes straight to the store; a higher one first reads
 * the record just below it: if that record exists the save is genuine (a
 * consumer saves i after reading record i - 1), otherwise it is lowered to
 * what the hub knows exists, or dropped. Only authenticated clients can
 * stop a client from moving another consumer within the stored range. */
typedef struct index_check_ctx {
  ockami_stream_service *svc;
  uint64_t index;
  size_t client_len, stream_len;
  char bytes[]; /* client ‖ stream */
} index_check_ctx;

static void index_store_save(ockami_stream_service *svc, const char *client, size_t client_len,
                             const char *stream, size_t stream_len, uint64_t index) {
  int rc = ockami_store_index_save(svc->store, client, client_len, stream, stream_len, index,
                                   index_saved, svc);
  if (rc) {
    LOG_DEBUG(MOD, "index save refused: %s", ockam_strerror(rc));
    return;
  }
  svc->pending_index++;
  svc->stats.index_saves++;
  ockami_stats_consumer(svc, ockami_map_get(&svc->streams, stream, stream_len), client, client_len,
                        index);
}

static void index_checked(void *arg, int status, ockami_records *recs) {
  index_check_ctx *c = arg;
  ockami_stream_service *svc = c->svc;
  svc->pending_index--;
  const char *client = c->bytes, *stream = c->bytes + c->client_len;
  uint64_t index = c->index;
  if (svc->state != OCKAMI_SVC_RUNNING) {
    free(c);
    return;
  }
  ockami_stream *st = ockami_map_get(&svc->streams, stream, c->stream_len);
  if (status) {
    LOG_DEBUG(MOD, "index save check failed: %s", ockam_strerror(status));
    index = 0;
  } else if (recs->count) {
    if (st) ockami_stream_seen(st, recs->items[recs->count - 1].index);
  } else {
    /* Nothing at index - 1 or later: the save points past the end. */
    uint64_t end = st ? st->next_seen : 0;
    svc->stats.index_clamped++;
    LOG_DEBUG(MOD, "index save (%.*s, %.*s) at %" PRIu64 " is past the stream's end; %s %" PRIu64,
              (int)c->client_len, client, (int)c->stream_len, stream, index,
              end ? "lowered to" : "dropped, end", end);
    index = end;
  }
  if (index) index_store_save(svc, client, c->client_len, stream, c->stream_len, index);
  free(c);
}

static void index_save(ockami_stream_service *svc, const char *from, const ockami_sp_msg *req) {
  const ockami_sp_str *cl = &req->u.index_req.client_id, *sn = &req->u.index_req.stream_name;
  uint64_t index = req->u.index_req.index;
  ockami_stream *st = ockami_map_get(&svc->streams, sn->p, sn->len);
  if (!st) {
    /* A consumer creates its stream before it saves; a save for a stream
     * this hub does not serve would only take room in the store. */
    svc->stats.index_clamped++;
    LOG_DEBUG(MOD, "%s: index save for a stream this hub does not serve dropped", from);
    return;
  }
  if (index == 0 || index <= st->next_seen) {
    index_store_save(svc, cl->p, cl->len, sn->p, sn->len, index);
    return;
  }
  if (ockami_store_check_client(cl->p, cl->len) || ockami_store_check_stream(sn->p, sn->len)) {
    LOG_DEBUG(MOD, "%s: index save with a bad name dropped", from);
    return;
  }
  index_check_ctx *c = calloc(1, sizeof *c + cl->len + sn->len);
  if (!c) return;
  c->svc = svc;
  c->index = index;
  c->client_len = cl->len;
  c->stream_len = sn->len;
  memcpy(c->bytes, cl->p, cl->len);
  memcpy(c->bytes + cl->len, sn->p, sn->len);
  int rc = ockami_store_read(svc->store, sn->p, sn->len, index - 1, 1, 1, index_checked, c);
  if (rc) {
    LOG_DEBUG(MOD, "%s: index save refused: %s", from, ockam_strerror(rc));
    free(c);
    return;
  }
  svc->pending_index++;
}

static int index_handle(ockam_worker *w, ockam_message *m) {
  ockami_stream_service *svc = ockam_worker_user(w);
  if (!svc) return OCKAM_OK;
  ockami_stream_request rq;
  int rc = ockami_stream_request_read(w, m, &rq);
  if (!rc && rq.msg.kind != OCKAMI_SP_INDEX_GET && rq.msg.kind != OCKAMI_SP_INDEX_SAVE)
    rc = OCKAM_ENOTSUP;
  if (rc) {
    /* Spec §7.5: decode errors are only logged. */
    svc->stats.invalid++;
    LOG_DEBUG(MOD, "%s: invalid index request (%zu bytes): %s", rq.from, rq.len,
              ockam_strerror(rc));
    return OCKAM_OK;
  }
  if (svc->pending_index >= OCKAM_STREAM_PENDING_INDEX_OPS) {
    LOG_WARN(MOD, "%s: %" PRIu32 " index operations pending; request dropped", rq.from,
             svc->pending_index);
    return OCKAM_EFULL;
  }
  char idbuf[OCKAM_IDENTIFIER_BUF];
  const char *who = ockami_authz_requester(m, idbuf);
  const ockami_sp_str *sn = &rq.msg.u.index_req.stream_name;
  if (!ockami_authz_check(svc->peers->authz, who, OCKAMI_ACL_INDEX, sn->p, sn->len, rq.from)) {
    ockami_stream_error(svc, rq.from, rq.ret, OCKAMI_AUTHZ_DENIED);
    return OCKAM_OK;
  }
  /* An identity's index is its own: keyed by its identifier as well. */
  char keybuf[OCKAMI_AUTHZ_INDEX_KEY_LEN];
  ockami_sp_str original = rq.msg.u.index_req.client_id, key = original;
  if (who) {
    ockami_authz_index_key(who, original.p, original.len, keybuf);
    key.p = keybuf;
    key.len = sizeof keybuf;
  }
  if (rq.msg.kind == OCKAMI_SP_INDEX_GET) {
    index_get(svc, rq.from, rq.ret, &rq.msg, &key);
    return OCKAM_OK;
  }
  rq.msg.u.index_req.client_id = key;
  index_save(svc, rq.from, &rq.msg);
  return OCKAM_OK;
}

static void index_stopped(ockam_worker *w) {
  ockami_stream_service *svc = ockam_worker_user(w);
  if (svc) svc->index_worker = NULL;
}

const ockam_worker_ops ockami_stream_index_ops = {index_handle, index_stopped};
