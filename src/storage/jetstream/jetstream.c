/* "jetstream" backend: Ockam streams kept in NATS JetStream, so several hubs
 * can share one replicated store. docs/jetstream.md explains the mapping and
 * the failure model; in short:
 *
 *   Ockam stream NAME   JetStream stream OCKAM_<t>, subject ockam.s.<t>, where
 *                       <t> = lowercase hex of the first 16 bytes of
 *                       SHA-256(NAME); the description keeps NAME (escaped).
 *   record index i      stream sequence i + 1 (sequences are dense: no
 *                       discard-new, deletes denied, retention drops only the
 *                       oldest records).
 *   consumer index      key <client>.<stream> (escaped) in the KV bucket
 *                       OCKAM_INDEX, value = decimal u64, raised only through
 *                       revision-checked updates (a lower value never wins).
 *
 * Everything runs on the caller's thread: publishes and direct-get requests
 * are pipelined on one connection with replies to a private inbox that this
 * thread drains itself, so no library callback ever touches backend state.
 * Every op is bounded by JS_OP_TIMEOUT_MS (waiting for a reconnect included)
 * and then fails with OCKAM_EUNAVAILABLE; the client library keeps
 * reconnecting in the background and the next op works again.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "js_internal.h"
#include "log.h"

int64_t ockami_js_remaining_ms(uint64_t deadline) {
  uint64_t now = ockami_monotonic_ms();
  return deadline > now ? (int64_t)(deadline - now) : 0;
}

/* ---- errors and availability -------------------------------------------- */

/* Statuses that mean "the server could not be reached or did not answer". */
static bool js_status_unreachable(natsStatus s) {
  switch (s) {
    case NATS_TIMEOUT:
    case NATS_CONNECTION_CLOSED:
    case NATS_CONNECTION_DISCONNECTED:
    case NATS_NO_RESPONDERS:
    case NATS_INSUFFICIENT_BUFFER:
    case NATS_IO_ERROR:
    case NATS_STALE_CONNECTION:
    case NATS_NO_SERVER:
    case NATS_NOT_YET_CONNECTED:
      return true;
    default:
      return false;
  }
}

/* JetStream answered, but cannot serve the request right now (leader
 * election, stream offline): worth retrying within the op's deadline. */
bool ockami_js_errcode_transient(int code) {
  return code == JSClusterNotAvailErr || code == JSClusterNotLeaderErr ||
         code == JSStreamOfflineErr;
}

int ockami_js_errcode_to_ockam(int code) {
  switch (code) {
    case JSAccountResourcesExceededErr:
    case JSInsufficientResourcesErr:
    case JSMemoryResourcesExceededErr:
    case JSStorageResourcesExceededErr:
      return OCKAM_ENOSPC;
    case JSStreamMessageExceedsMaximumErr:
    case JSMaximumStreamsLimitErr:
      return OCKAM_EOVERFLOW;
    case JSNotEnabledErr:
      return OCKAM_ENOTSUP;
    default:
      return ockami_js_errcode_transient(code) ? OCKAM_EUNAVAILABLE : OCKAM_ESTORAGE;
  }
}

/* Maps an API call's result; logs what is not an outage. */
int ockami_js_api_result(natsStatus s, jsErrCode code, const char *what) {
  if (s == NATS_OK) return OCKAM_OK;
  if (js_status_unreachable(s)) return OCKAM_EUNAVAILABLE;
  int rc = code ? ockami_js_errcode_to_ockam((int)code) : OCKAM_ESTORAGE;
  if (rc != OCKAM_EUNAVAILABLE) {
    LOG_ERROR(JS_LOG, "%s: %s (JetStream error %d)", what, nats_GetLastError(NULL), (int)code);
  }
  return rc;
}

/* Called with each op's result: one warning when the server becomes
 * unreachable (repeated every JS_UNAVAILABLE_LOG_MS), one note when it is
 * back. */
int ockami_js_note(js_be *be, int rc, const char *op) {
  uint64_t now = ockami_monotonic_ms();
  if (rc == OCKAM_EUNAVAILABLE) {
    if (!be->unavailable || now - be->unavailable_logged_ms >= JS_UNAVAILABLE_LOG_MS) {
      LOG_WARN(JS_LOG, "%s: NATS server %s unreachable or not answering within %u ms", op, be->url,
               JS_OP_TIMEOUT_MS);
      be->unavailable_logged_ms = now;
    }
    be->unavailable = true;
  } else if (be->unavailable) {
    LOG_INFO(JS_LOG, "NATS server %s reachable again", be->url);
    be->unavailable = false;
  }
  return rc;
}

/* Waits until the connection is up (the client library reconnects by itself). */
int ockami_js_wait_connected(js_be *be, uint64_t deadline) {
  for (;;) {
    natsConnStatus st = natsConnection_Status(be->nc);
    if (st == NATS_CONN_STATUS_CONNECTED) return OCKAM_OK;
    if (st == NATS_CONN_STATUS_CLOSED || ockami_monotonic_ms() >= deadline)
      return OCKAM_EUNAVAILABLE;
    nats_Sleep(10);
  }
}

/* After a failed attempt: true if another one fits before the deadline. */
bool ockami_js_retry(js_be *be, int rc, uint64_t deadline) {
  if (rc != OCKAM_EUNAVAILABLE || ockami_js_remaining_ms(deadline) < 50) return false;
  if (ockami_js_wait_connected(be, deadline)) return false;
  nats_Sleep(50); /* leader elections take a moment */
  return ockami_js_remaining_ms(deadline) > 0;
}

void ockami_js_api_opts(jsOptions *o, uint64_t deadline) {
  jsOptions_Init(o);
  int64_t left = ockami_js_remaining_ms(deadline);
  o->Wait = left < 1 ? 1 : left < JS_API_WAIT_MS ? left : JS_API_WAIT_MS;
}

/* ---- replies on the private inbox ---------------------------------------- */

/* Parses "<inbox>.<gen>.<k>". */
/* Next reply of generation gen with k < n. OCKAM_ENOTFOUND for a "no
 * responders" status: the client library consumes those without saying which
 * request they answer (perhaps one of an abandoned round), so the caller can
 * only count them. OCKAM_EUNAVAILABLE at the deadline or as soon as the
 * connection is down (replies in flight are then lost). */
int ockami_js_next_reply(js_be *be, uint64_t gen, uint64_t n, uint64_t deadline, natsMsg **out,
                         uint64_t *k) {
  for (;;) {
    int64_t left = ockami_js_remaining_ms(deadline);
    if (left <= 0) return OCKAM_EUNAVAILABLE;
    natsMsg *m = NULL;
    natsStatus s = natsSubscription_NextMsg(&m, be->sub, left < 50 ? left : 50);
    if (s == NATS_TIMEOUT) {
      if (natsConnection_Status(be->nc) != NATS_CONN_STATUS_CONNECTED) return OCKAM_EUNAVAILABLE;
      continue;
    }
    if (s == NATS_NO_RESPONDERS) return OCKAM_ENOTFOUND;
    if (s != NATS_OK) return OCKAM_EUNAVAILABLE;
    uint64_t g;
    if (ockami_js_reply_parse(be->inbox, be->inbox_len, natsMsg_GetSubject(m), &g, k) && g == gen &&
        *k < n) {
      *out = m;
      return OCKAM_OK;
    }
    natsMsg_Destroy(m); /* a reply of an abandoned round */
  }
}

/* Sends what the publishes of a burst left in the client's buffer now rather
 * than when its background flusher gets to it (about a millisecond later). */
void ockami_js_flush(js_be *be, size_t sent, uint64_t deadline) {
  int64_t left = ockami_js_remaining_ms(deadline);
  if (sent > 0 && left > 0) (void)natsConnection_FlushTimeout(be->nc, left);
}

void ockami_js_reply_subject(const js_be *be, uint64_t gen, uint64_t k, char *out, size_t cap) {
  snprintf(out, cap, "%s.%" PRIu64 ".%" PRIu64, be->inbox, gen, k);
}

/* ---- what this instance knows about streams ------------------------------ */

js_stream *ockami_js_stream_find(js_be *be, const uint8_t *digest) {
  return ockami_map_get(&be->streams, digest, JS_DIGEST_LEN);
}

/* The entry of a stream, made (all fields zero) if missing; NULL when out of
 * memory. */
static js_stream *js_stream_put(js_be *be, const uint8_t *digest) {
  js_stream *e = ockami_js_stream_find(be, digest);
  if (e) return e;
  e = calloc(1, sizeof *e);
  if (e && ockami_map_put(&be->streams, digest, JS_DIGEST_LEN, e)) {
    free(e);
    e = NULL;
  }
  return e;
}

/* ---- streams ------------------------------------------------------------- */

static int64_t js_i64(uint64_t v) {
  return v > INT64_MAX ? INT64_MAX : (int64_t)v;
}

static void js_stream_config(const js_be *be, const js_names *nm, const char *desc,
                             const char **subjects, jsStreamConfig *cfg) {
  jsStreamConfig_Init(cfg);
  subjects[0] = nm->subject;
  cfg->Name = nm->stream;
  cfg->Description = desc;
  cfg->Subjects = subjects;
  cfg->SubjectsLen = 1;
  cfg->Retention = js_LimitsPolicy;
  /* Discard old: a full stream drops its oldest records, so new records
   * always get the next sequence (discard-new would refuse appends). */
  cfg->Discard = js_DiscardOld;
  cfg->Storage = js_FileStorage;
  /* JetStream takes -1 (or 0 for the age) as "no limit". */
  cfg->MaxMsgs = be->max_messages ? js_i64(be->max_messages) : -1;
  cfg->MaxBytes = be->max_bytes ? js_i64(be->max_bytes) : -1;
  cfg->MaxAge = js_i64(be->max_age_s) > INT64_MAX / 1000000000LL
                    ? INT64_MAX
                    : js_i64(be->max_age_s) * 1000000000LL;
  cfg->MaxMsgSize = (int32_t)(be->max_record + JS_HEADER_ALLOWANCE);
  cfg->Replicas = be->replicas;
  cfg->Duplicates = cfg->MaxAge && cfg->MaxAge < JS_DUP_WINDOW_NS ? cfg->MaxAge : JS_DUP_WINDOW_NS;
  cfg->AllowDirect = true;
  /* Deleting single records would leave holes in the index sequence. */
  cfg->DenyDelete = true;
}

/* Whether an existing stream's settings differ from the ones we would set. */
static bool js_config_differs(const jsStreamConfig *have, const jsStreamConfig *want) {
  return have->MaxMsgs != want->MaxMsgs || have->MaxBytes != want->MaxBytes ||
         have->MaxAge != want->MaxAge || have->MaxMsgSize != want->MaxMsgSize ||
         have->Replicas != want->Replicas || have->Duplicates != want->Duplicates ||
         have->Discard != want->Discard || have->AllowDirect != want->AllowDirect ||
         have->DenyDelete != want->DenyDelete;
}

/* Counts the Ockam streams of the account (for max_streams). */
static int js_count_streams(js_be *be, uint64_t deadline, int64_t *count) {
  jsOptions o;
  ockami_js_api_opts(&o, deadline);
  o.Stream.Info.SubjectsFilter = JS_SUBJECT_PREFIX ">";
  jsStreamNamesList *list = NULL;
  jsErrCode code = 0;
  natsStatus s = js_StreamNames(&list, be->js, &o, &code);
  if (s == NATS_NOT_FOUND) {
    *count = 0;
    return OCKAM_OK;
  }
  int rc = ockami_js_api_result(s, code, "listing streams");
  if (rc) return rc;
  int64_t c = 0;
  for (int i = 0; i < list->Count; i++) c += ockami_js_is_ockam_stream(list->List[i]);
  jsStreamNamesList_Destroy(list);
  *count = c;
  return OCKAM_OK;
}

/* Checks a stream found on the server and brings its limits in line with
 * this instance's options. */
static int js_adopt(js_be *be, const js_names *nm, const char *name, size_t len, jsStreamInfo *si,
                    uint64_t deadline, js_stream **out) {
  char desc[JS_DESC_MAX];
  const char *subjects[1];
  jsStreamConfig want;
  ockami_js_description(name, len, desc);
  js_stream_config(be, nm, desc, subjects, &want);
  const jsStreamConfig *have = si->Config;
  if (!have || !have->Description || strcmp(have->Description, desc) != 0 ||
      have->SubjectsLen != 1 || strcmp(have->Subjects[0], nm->subject) != 0 ||
      have->Retention != js_LimitsPolicy) {
    LOG_ERROR(JS_LOG, "stream %s exists but was not made by this backend for %s", nm->stream,
              desc + sizeof JS_DESC_PREFIX - 1);
    return OCKAM_ESTORAGE;
  }
  bool direct = have->AllowDirect;
  int replicas = (int)have->Replicas;
  if (js_config_differs(have, &want)) {
    jsOptions o;
    ockami_js_api_opts(&o, deadline);
    jsStreamInfo *upd = NULL;
    jsErrCode code = 0;
    natsStatus s = js_UpdateStream(&upd, be->js, &want, &o, &code);
    if (s == NATS_OK) {
      LOG_INFO(JS_LOG, "stream %s (%s): limits updated to this hub's options", nm->stream,
               desc + sizeof JS_DESC_PREFIX - 1);
      direct = upd->Config->AllowDirect;
      replicas = (int)upd->Config->Replicas;
      jsStreamInfo_Destroy(upd);
    } else {
      /* Still usable as it is; reads fall back to the leader if needed. */
      LOG_WARN(JS_LOG, "stream %s: cannot update its limits: %s (JetStream error %d)", nm->stream,
               nats_GetLastError(NULL), (int)code);
    }
  }
  js_stream *e = js_stream_put(be, nm->digest);
  if (!e) return OCKAM_ENOMEM;
  e->exists = true;
  e->direct = direct;
  e->replicas = (uint8_t)(replicas < 1 ? 1 : replicas > 255 ? 255 : replicas);
  if (si->State.LastSeq > e->last_seq) e->last_seq = si->State.LastSeq;
  *out = e;
  return OCKAM_OK;
}

natsStatus ockami_js_stream_info(js_be *be, const js_names *nm, uint64_t deadline,
                                 jsStreamInfo **si, jsErrCode *code) {
  jsOptions o;
  ockami_js_api_opts(&o, deadline);
  *si = NULL;
  *code = 0;
  return js_GetStreamInfo(si, be->js, nm->stream, &o, code);
}

/* One attempt at finding (and, with create, making) the stream. */
static int js_lookup_once(js_be *be, const js_names *nm, const char *name, size_t len, bool create,
                          uint64_t deadline, js_stream **out) {
  jsStreamInfo *si;
  jsErrCode code;
  natsStatus s = ockami_js_stream_info(be, nm, deadline, &si, &code);
  if (s == NATS_OK) {
    int rc = js_adopt(be, nm, name, len, si, deadline, out);
    jsStreamInfo_Destroy(si);
    return rc;
  }
  if (s != NATS_NOT_FOUND || (code && code != JSStreamNotFoundErr)) {
    return ockami_js_api_result(s, code, "stream info");
  }
  if (!create) return OCKAM_ENOTFOUND;

  if (be->stream_count < 0 || be->stream_count >= (int64_t)be->max_streams) {
    int rc = js_count_streams(be, deadline, &be->stream_count);
    if (rc) return rc;
    if (be->stream_count >= (int64_t)be->max_streams) return OCKAM_EOVERFLOW;
  }
  char desc[JS_DESC_MAX];
  const char *subjects[1];
  jsStreamConfig cfg;
  ockami_js_description(name, len, desc);
  js_stream_config(be, nm, desc, subjects, &cfg);
  jsOptions o;
  ockami_js_api_opts(&o, deadline);
  code = 0;
  s = js_AddStream(&si, be->js, &cfg, &o, &code);
  if (s == NATS_OK) {
    be->stream_count++;
    js_stream *e = js_stream_put(be, nm->digest);
    int rc = e ? OCKAM_OK : OCKAM_ENOMEM;
    if (e) {
      e->exists = true;
      e->direct = si->Config->AllowDirect;
      e->replicas = (uint8_t)(si->Config->Replicas < 1 ? 1 : si->Config->Replicas);
      if (si->State.LastSeq > e->last_seq) e->last_seq = si->State.LastSeq;
      *out = e;
    }
    jsStreamInfo_Destroy(si);
    return rc;
  }
  /* Another hub made it a moment ago with other limits: adopt it next time. */
  if (code == JSStreamNameExistErr) return OCKAM_EUNAVAILABLE;
  if (code == JSStreamReplicasNotSupportedErr) {
    LOG_ERROR(JS_LOG, "replicas %d needs a JetStream cluster of at least that many servers",
              be->replicas);
    return OCKAM_EINVAL;
  }
  return ockami_js_api_result(s, code, "creating stream");
}

/* Finds the stream (cached, or asked from the server); creates it if create.
 * OCKAM_ENOTFOUND when it does not exist and !create. */
int ockami_js_lookup(js_be *be, const js_names *nm, const char *name, size_t len, bool create,
                     uint64_t deadline, js_stream **out) {
  js_stream *e = ockami_js_stream_find(be, nm->digest);
  if (e && e->exists) {
    *out = e;
    return OCKAM_OK;
  }
  int rc;
  do {
    rc = js_lookup_once(be, nm, name, len, create, deadline, out);
  } while (ockami_js_retry(be, rc, deadline));
  return rc;
}

void ockami_js_forget(js_be *be, const uint8_t *digest) {
  js_stream *e = ockami_js_stream_find(be, digest);
  if (e) e->exists = false;
}

/* ---- bounds, create, delete, list, trim ------------------------------------------------ */

static int js_bounds_once(js_be *be, const js_names *nm, uint64_t deadline, uint64_t *first,
                          uint64_t *next) {
  jsStreamInfo *si;
  jsErrCode code;
  natsStatus s = ockami_js_stream_info(be, nm, deadline, &si, &code);
  if (s == NATS_NOT_FOUND && (!code || code == JSStreamNotFoundErr)) {
    ockami_js_forget(be, nm->digest);
    *first = *next = 0;
    return OCKAM_OK;
  }
  int rc = ockami_js_api_result(s, code, "stream info");
  if (rc) return rc;
  /* Sequences start at 1; an emptied stream reports first = last + 1. */
  *next = si->State.LastSeq;
  *first = si->State.FirstSeq ? si->State.FirstSeq - 1 : 0;
  if (*first > *next) *first = *next;
  js_stream *e = ockami_js_stream_find(be, nm->digest);
  if (e && si->State.LastSeq > e->last_seq) e->last_seq = si->State.LastSeq;
  jsStreamInfo_Destroy(si);
  return OCKAM_OK;
}

static int js_bounds(void *p, const char *stream, size_t stream_len, uint64_t *first,
                     uint64_t *next) {
  js_be *be = p;
  js_names nm;
  ockami_js_names_make(stream, stream_len, &nm);
  uint64_t deadline = ockami_monotonic_ms() + JS_OP_TIMEOUT_MS;
  uint64_t f = 0, nx = 0;
  int rc;
  do {
    rc = js_bounds_once(be, &nm, deadline, &f, &nx);
  } while (ockami_js_retry(be, rc, deadline));
  if (!rc) {
    *first = f;
    *next = nx;
  }
  return ockami_js_note(be, rc, "bounds");
}

static int js_stream_create(void *p, const char *stream, size_t stream_len) {
  js_be *be = p;
  js_names nm;
  ockami_js_names_make(stream, stream_len, &nm);
  js_stream *e;
  int rc = ockami_js_lookup(be, &nm, stream, stream_len, true,
                            ockami_monotonic_ms() + JS_OP_TIMEOUT_MS, &e);
  return ockami_js_note(be, rc, "stream create");
}

/* JetStream applies max_msgs, max_bytes and max_age itself. */
static int js_trim(void *p) {
  (void)p;
  return OCKAM_OK;
}

/* Deleting the JetStream stream removes its records at once; a hub that still
 * has it cached sees "no responders" on its next publish and looks it up
 * again (making a new, empty stream). */
static int js_stream_delete(void *p, const char *stream, size_t stream_len) {
  js_be *be = p;
  js_names nm;
  ockami_js_names_make(stream, stream_len, &nm);
  uint64_t deadline = ockami_monotonic_ms() + JS_OP_TIMEOUT_MS;
  int rc = ockami_js_index_delete_stream(be, stream, stream_len, deadline);
  if (!rc) rc = ockami_js_producer_delete_stream(be, stream, stream_len, deadline);
  bool found = false;
  if (!rc) {
    do {
      jsOptions o;
      ockami_js_api_opts(&o, deadline);
      jsErrCode code = 0;
      natsStatus s = js_DeleteStream(be->js, nm.stream, &o, &code);
      if (s == NATS_NOT_FOUND && (!code || code == JSStreamNotFoundErr)) {
        rc = OCKAM_OK;
        found = false;
      } else {
        rc = ockami_js_api_result(s, code, "deleting stream");
        found = rc == OCKAM_OK;
      }
    } while (ockami_js_retry(be, rc, deadline));
  }
  ockami_js_forget(be, nm.digest);
  if (found && be->stream_count > 0) be->stream_count--;
  rc = ockami_js_note(be, rc, "stream delete");
  return rc ? rc : found ? OCKAM_OK : OCKAM_ENOTFOUND;
}

/* One stream_list entry from a stream's info; false for streams that are
 * not this backend's (or whose description does not decode). */
static bool js_list_entry(const jsStreamInfo *si, ockami_stream_info *info) {
  const jsStreamConfig *c = si->Config;
  if (!c || !c->Name || !ockami_js_is_ockam_stream(c->Name) || !c->Description) return false;
  uint8_t name[OCKAM_NAME_MAX];
  size_t len;
  if (!ockami_js_description_name(c->Description, name, &len)) return false;
  js_names nm;
  ockami_js_names_make((const char *)name, len, &nm);
  if (strcmp(nm.stream, c->Name) != 0) return false;
  /* Sequences start at 1; an emptied stream reports first = last + 1. */
  uint64_t next = si->State.LastSeq;
  uint64_t first = si->State.FirstSeq ? si->State.FirstSeq - 1 : 0;
  if (first > next) first = next;
  uint64_t last_ms =
      si->State.Msgs && si->State.LastTime > 0 ? (uint64_t)si->State.LastTime / 1000000u : 0;
  ockami_stream_info_set(info, name, len, first, next, si->State.Bytes, last_ms);
  return true;
}

static int js_cmp_stream_name(const void *a, const void *b) {
  const jsStreamInfo *x = *(jsStreamInfo *const *)a, *y = *(jsStreamInfo *const *)b;
  return strcmp(x->Config->Name, y->Config->Name);
}

/* List order is the JetStream stream name (OCKAM_<hex digest>), so `after`
 * becomes its JetStream name. */
static int js_stream_list(void *p, const char *after, size_t after_len, ockami_stream_info *out,
                          size_t max, size_t *count) {
  js_be *be = p;
  char after_js[sizeof((js_names *)0)->stream] = "";
  if (after_len) {
    js_names nm;
    ockami_js_names_make(after, after_len, &nm);
    memcpy(after_js, nm.stream, sizeof after_js);
  }
  uint64_t deadline = ockami_monotonic_ms() + JS_OP_TIMEOUT_MS;
  jsStreamInfoList *list = NULL;
  int rc;
  do {
    jsOptions o;
    ockami_js_api_opts(&o, deadline);
    o.Stream.Info.SubjectsFilter = JS_SUBJECT_PREFIX ">";
    jsErrCode code = 0;
    natsStatus s = js_Streams(&list, be->js, &o, &code);
    if (s == NATS_NOT_FOUND) {
      list = NULL;
      rc = OCKAM_OK;
    } else {
      rc = ockami_js_api_result(s, code, "listing streams");
    }
  } while (ockami_js_retry(be, rc, deadline));
  rc = ockami_js_note(be, rc, "stream list");
  if (rc || !list) return rc;
  jsStreamInfo **sorted = malloc((size_t)(list->Count > 0 ? list->Count : 1) * sizeof *sorted);
  if (!sorted) {
    jsStreamInfoList_Destroy(list);
    return OCKAM_ENOMEM;
  }
  size_t k = 0;
  for (int i = 0; i < list->Count; i++) {
    jsStreamInfo *si = list->List[i];
    if (!si->Config || !si->Config->Name || strcmp(si->Config->Name, after_js) <= 0) continue;
    sorted[k++] = si;
  }
  qsort(sorted, k, sizeof *sorted, js_cmp_stream_name);
  size_t n = 0;
  for (size_t i = 0; i < k && n < max; i++) n += js_list_entry(sorted[i], &out[n]);
  free(sorted);
  jsStreamInfoList_Destroy(list);
  *count = n;
  return OCKAM_OK;
}

const ockami_store_backend ockami_backend_jetstream = {
    .producer_get = ockami_js_producer_get,
    .open = ockami_js_open,
    .close = ockami_js_close,
    .stream_create = js_stream_create,
    .stream_delete = js_stream_delete,
    .stream_list = js_stream_list,
    .append = ockami_js_append,
    .read = ockami_js_read,
    .bounds = js_bounds,
    .index_get = ockami_js_index_get,
    .index_save = ockami_js_index_save,
    .trim = js_trim,
};
