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
#include <nats/nats.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"
#include "ockam/limits.h"
#include "storage.h"

#define JS_LOG "storage.jetstream"

/* Bound of every op, waiting for a reconnect included (milliseconds). */
#define JS_OP_TIMEOUT_MS 5000u
/* Appends get one more second per this many bytes of record data. */
#define JS_APPEND_BYTES_PER_S (16u << 20)
/* Timeout of one JetStream API request (stream info, KV get, ...). */
#define JS_API_WAIT_MS 2000
#define JS_CONNECT_TIMEOUT_MS 2000
#define JS_RECONNECT_WAIT_MS 250
/* Heartbeats: a dead server is noticed after about PING * (MAX_PINGS + 1). */
#define JS_PING_INTERVAL_MS 2000
#define JS_MAX_PINGS_OUT 2
/* Direct-get requests in flight in one read window. */
#define JS_READ_WINDOW_MAX 256u
/* Records fetched from the stream leader when a follower answered short. */
#define JS_LEADER_FETCH_MAX 64u
/* Revision conflicts tolerated by one index save. */
#define JS_INDEX_RETRIES 16
/* Room for the headers JetStream counts in a message's size. */
#define JS_HEADER_ALLOWANCE 1024u
/* Publish deduplication window: longer than any append call (whose retries
 * reuse message ids), short because the server keeps every id of the window
 * in memory; never above max age. */
#define JS_DUP_WINDOW_NS (30LL * 1000000000LL)
/* While unreachable, repeat the warning at most this often. */
#define JS_UNAVAILABLE_LOG_MS 10000u

#define JS_DIGEST_LEN 16
#define JS_TOKEN_LEN (2 * JS_DIGEST_LEN)
#define JS_STREAM_PREFIX "OCKAM_"
#define JS_SUBJECT_PREFIX "ockam.s."
#define JS_DESC_PREFIX "ockam stream "
#define JS_INDEX_BUCKET "OCKAM_INDEX"
#define JS_MSGID_RANDOM 12

/* Names of one Ockam stream in JetStream. */
typedef struct js_names {
  uint8_t digest[JS_DIGEST_LEN];
  char stream[sizeof JS_STREAM_PREFIX + JS_TOKEN_LEN];
  char subject[sizeof JS_SUBJECT_PREFIX + JS_TOKEN_LEN];
} js_names;

/* What this instance knows about a JetStream stream (open addressing). */
typedef struct js_stream {
  uint8_t digest[JS_DIGEST_LEN];
  bool used;
  bool exists; /* confirmed by the server; cleared when it looks gone */
  bool direct; /* AllowDirect is on: reads may use direct gets */
  uint8_t replicas;
  uint64_t last_seq; /* highest sequence seen; sizes the first read window */
} js_stream;

typedef struct js_table {
  js_stream *slots;
  size_t cap; /* power of two */
  size_t count;
} js_table;

typedef struct js_be {
  natsOptions *opts;
  natsConnection *nc;
  jsCtx *js;
  kvStore *kv;
  natsSubscription *sub; /* <inbox>.*.*: publish acks and direct-get replies */
  natsInbox *inbox;
  size_t inbox_len;
  uint64_t gen; /* reply generation: replies of an abandoned round are dropped */
  js_table streams;
  int64_t stream_count; /* Ockam streams in the account; -1 = not counted yet */
  char *url;
  int replicas;
  uint64_t max_messages;
  uint64_t max_bytes;
  uint64_t max_age_s;
  uint32_t max_streams;
  uint32_t max_record;
  bool unavailable; /* the last op could not reach the server */
  uint64_t unavailable_logged_ms;
} js_be;

static uint64_t now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static int64_t remaining_ms(uint64_t deadline) {
  uint64_t now = now_ms();
  return deadline > now ? (int64_t)(deadline - now) : 0;
}

static const char hex_digits[] = "0123456789abcdef";

/* ---- names ------------------------------------------------------------ */

static void js_names_make(const char *name, size_t len, js_names *nm) {
  uint8_t full[crypto_hash_sha256_BYTES];
  crypto_hash_sha256(full, (const uint8_t *)name, len);
  memcpy(nm->digest, full, JS_DIGEST_LEN);
  char token[JS_TOKEN_LEN + 1];
  for (size_t i = 0; i < JS_DIGEST_LEN; i++) {
    token[2 * i] = hex_digits[full[i] >> 4];
    token[2 * i + 1] = hex_digits[full[i] & 15];
  }
  token[JS_TOKEN_LEN] = 0;
  snprintf(nm->stream, sizeof nm->stream, JS_STREAM_PREFIX "%s", token);
  snprintf(nm->subject, sizeof nm->subject, JS_SUBJECT_PREFIX "%s", token);
}

/* True for names this backend creates: OCKAM_ + 32 lowercase hex digits. */
static bool js_is_ockam_stream(const char *name) {
  size_t plen = sizeof JS_STREAM_PREFIX - 1;
  if (strncmp(name, JS_STREAM_PREFIX, plen) != 0 || strlen(name) != plen + JS_TOKEN_LEN) {
    return false;
  }
  for (size_t i = plen; name[i]; i++) {
    if (!strchr(hex_digits, name[i])) return false;
  }
  return true;
}

/* Description "ockam stream " + NAME with every byte outside printable ASCII,
 * and '%', '"', '\', written as %XX. out holds JS_DESC_MAX bytes. */
#define JS_DESC_MAX (sizeof JS_DESC_PREFIX + 3 * OCKAM_NAME_MAX)
static void js_description(const char *name, size_t len, char *out) {
  size_t o = sizeof JS_DESC_PREFIX - 1;
  memcpy(out, JS_DESC_PREFIX, o);
  for (size_t i = 0; i < len; i++) {
    uint8_t c = (uint8_t)name[i];
    if (c > 0x20 && c < 0x7f && c != '%' && c != '"' && c != '\\') {
      out[o++] = (char)c;
    } else {
      out[o++] = '%';
      out[o++] = "0123456789ABCDEF"[c >> 4];
      out[o++] = "0123456789ABCDEF"[c & 15];
    }
  }
  out[o] = 0;
}

/* KV key token: [A-Za-z0-9_-] kept, every other byte as =XX (KV keys allow
 * [-/_=.A-Za-z0-9]; '.' separates tokens). Returns the length written. */
static size_t js_key_escape(const char *s, size_t len, char *out) {
  size_t o = 0;
  for (size_t i = 0; i < len; i++) {
    uint8_t c = (uint8_t)s[i];
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
        c == '-') {
      out[o++] = (char)c;
    } else {
      out[o++] = '=';
      out[o++] = "0123456789ABCDEF"[c >> 4];
      out[o++] = "0123456789ABCDEF"[c & 15];
    }
  }
  return o;
}

#define JS_KEY_MAX (2 * 3 * OCKAM_NAME_MAX + 2)
static int js_index_key(const char *client, size_t client_len, const char *stream,
                        size_t stream_len, char *key) {
  int rc = ockami_store_check_client(client, client_len);
  if (!rc) rc = ockami_store_check_stream(stream, stream_len);
  if (rc) return rc;
  size_t o = js_key_escape(client, client_len, key);
  key[o++] = '.';
  o += js_key_escape(stream, stream_len, key + o);
  key[o] = 0;
  return OCKAM_OK;
}

/* ---- stream table ------------------------------------------------------ */

static js_stream *js_table_find(js_table *t, const uint8_t *digest) {
  if (!t->cap) return NULL;
  uint64_t h;
  memcpy(&h, digest, sizeof h);
  for (size_t i = (size_t)h & (t->cap - 1);; i = (i + 1) & (t->cap - 1)) {
    js_stream *s = &t->slots[i];
    if (!s->used) return NULL;
    if (memcmp(s->digest, digest, JS_DIGEST_LEN) == 0) return s;
  }
}

static js_stream *js_table_put(js_table *t, const uint8_t *digest) {
  js_stream *s = js_table_find(t, digest);
  if (s) return s;
  if ((t->count + 1) * 4 > t->cap * 3) {
    size_t cap = t->cap ? t->cap * 2 : 64;
    js_stream *slots = calloc(cap, sizeof *slots);
    if (!slots) return NULL;
    js_table grown = {slots, cap, 0};
    for (size_t i = 0; i < t->cap; i++) {
      if (!t->slots[i].used) continue;
      js_stream *d = js_table_put(&grown, t->slots[i].digest);
      *d = t->slots[i];
    }
    free(t->slots);
    *t = grown;
  }
  uint64_t h;
  memcpy(&h, digest, sizeof h);
  size_t i = (size_t)h & (t->cap - 1);
  while (t->slots[i].used) i = (i + 1) & (t->cap - 1);
  s = &t->slots[i];
  memset(s, 0, sizeof *s);
  memcpy(s->digest, digest, JS_DIGEST_LEN);
  s->used = true;
  t->count++;
  return s;
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
static bool js_errcode_transient(int code) {
  return code == JSClusterNotAvailErr || code == JSClusterNotLeaderErr ||
         code == JSStreamOfflineErr;
}

static int js_errcode_to_ockam(int code) {
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
      return js_errcode_transient(code) ? OCKAM_EUNAVAILABLE : OCKAM_ESTORAGE;
  }
}

/* Maps an API call's result; logs what is not an outage. */
static int js_api_result(natsStatus s, jsErrCode code, const char *what) {
  if (s == NATS_OK) return OCKAM_OK;
  if (js_status_unreachable(s)) return OCKAM_EUNAVAILABLE;
  int rc = code ? js_errcode_to_ockam((int)code) : OCKAM_ESTORAGE;
  if (rc != OCKAM_EUNAVAILABLE) {
    LOG_ERROR(JS_LOG, "%s: %s (JetStream error %d)", what, nats_GetLastError(NULL), (int)code);
  }
  return rc;
}

/* Called with each op's result: one warning when the server becomes
 * unreachable (repeated every JS_UNAVAILABLE_LOG_MS), one note when it is
 * back. */
static int js_note(js_be *be, int rc, const char *op) {
  uint64_t now = now_ms();
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
static int js_wait_connected(js_be *be, uint64_t deadline) {
  for (;;) {
    natsConnStatus st = natsConnection_Status(be->nc);
    if (st == NATS_CONN_STATUS_CONNECTED) return OCKAM_OK;
    if (st == NATS_CONN_STATUS_CLOSED || now_ms() >= deadline) return OCKAM_EUNAVAILABLE;
    nats_Sleep(10);
  }
}

/* After a failed attempt: true if another one fits before the deadline. */
static bool js_retry(js_be *be, int rc, uint64_t deadline) {
  if (rc != OCKAM_EUNAVAILABLE || remaining_ms(deadline) < 50) return false;
  if (js_wait_connected(be, deadline)) return false;
  nats_Sleep(50); /* leader elections take a moment */
  return remaining_ms(deadline) > 0;
}

static void js_api_opts(jsOptions *o, uint64_t deadline) {
  jsOptions_Init(o);
  int64_t left = remaining_ms(deadline);
  o->Wait = left < 1 ? 1 : left < JS_API_WAIT_MS ? left : JS_API_WAIT_MS;
}

/* ---- replies on the private inbox ---------------------------------------- */

/* Parses "<inbox>.<gen>.<k>". */
static bool js_reply_parse(const js_be *be, const char *subj, uint64_t *gen, uint64_t *k) {
  if (strncmp(subj, be->inbox, be->inbox_len) != 0 || subj[be->inbox_len] != '.') return false;
  const char *p = subj + be->inbox_len + 1;
  uint64_t v[2] = {0, 0};
  for (int part = 0; part < 2; part++) {
    if (*p < '0' || *p > '9') return false;
    while (*p >= '0' && *p <= '9') {
      if (v[part] > (UINT64_MAX - 9) / 10) return false;
      v[part] = v[part] * 10 + (uint64_t)(*p++ - '0');
    }
    if (part == 0 && *p++ != '.') return false;
  }
  if (*p) return false;
  *gen = v[0];
  *k = v[1];
  return true;
}

/* Next reply of generation gen with k < n. OCKAM_ENOTFOUND for a "no
 * responders" status: the client library consumes those without saying which
 * request they answer (perhaps one of an abandoned round), so the caller can
 * only count them. OCKAM_EUNAVAILABLE at the deadline or as soon as the
 * connection is down (replies in flight are then lost). */
static int js_next_reply(js_be *be, uint64_t gen, uint64_t n, uint64_t deadline, natsMsg **out,
                         uint64_t *k) {
  for (;;) {
    int64_t left = remaining_ms(deadline);
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
    if (js_reply_parse(be, natsMsg_GetSubject(m), &g, k) && g == gen && *k < n) {
      *out = m;
      return OCKAM_OK;
    }
    natsMsg_Destroy(m); /* a reply of an abandoned round */
  }
}

/* Sends what the publishes of a burst left in the client's buffer now rather
 * than when its background flusher gets to it (about a millisecond later). */
static void js_flush(js_be *be, size_t sent, uint64_t deadline) {
  int64_t left = remaining_ms(deadline);
  if (sent > 0 && left > 0) (void)natsConnection_FlushTimeout(be->nc, left);
}

static void js_reply_subject(const js_be *be, uint64_t gen, uint64_t k, char *out, size_t cap) {
  snprintf(out, cap, "%s.%" PRIu64 ".%" PRIu64, be->inbox, gen, k);
}

/* ---- PubAck JSON ------------------------------------------------------------
 * {"stream":"S","seq":N[,"duplicate":true]} or
 * {"error":{"code":C,"err_code":E,"description":"..."}[,...]}: a small cursor
 * reading the few members used and skipping everything else. */

typedef struct js_cursor {
  const char *p;
  const char *end;
} js_cursor;

typedef struct js_puback {
  bool error;
  uint64_t seq;
  uint64_t err_code;
} js_puback;

static void jc_ws(js_cursor *c) {
  while (c->p < c->end && (*c->p == ' ' || *c->p == '\t' || *c->p == '\n' || *c->p == '\r')) {
    c->p++;
  }
}

static bool jc_char(js_cursor *c, char ch) {
  jc_ws(c);
  if (c->p < c->end && *c->p == ch) {
    c->p++;
    return true;
  }
  return false;
}

static bool jc_string(js_cursor *c, const char **s, size_t *n) {
  if (!jc_char(c, '"')) return false;
  const char *start = c->p;
  while (c->p < c->end && *c->p != '"') {
    if (*c->p == '\\' && ++c->p == c->end) return false;
    c->p++;
  }
  if (c->p == c->end) return false;
  *s = start;
  *n = (size_t)(c->p - start);
  c->p++;
  return true;
}

static bool jc_u64(js_cursor *c, uint64_t *v) {
  jc_ws(c);
  if (c->p == c->end || *c->p < '0' || *c->p > '9') return false;
  uint64_t x = 0;
  while (c->p < c->end && *c->p >= '0' && *c->p <= '9') {
    if (x > (UINT64_MAX - 9) / 10) return false;
    x = x * 10 + (uint64_t)(*c->p++ - '0');
  }
  *v = x;
  return true;
}

static bool jc_skip(js_cursor *c, int depth) {
  jc_ws(c);
  if (c->p == c->end || depth > 16) return false;
  const char *s;
  size_t n;
  if (*c->p == '"') return jc_string(c, &s, &n);
  if (*c->p == '{' || *c->p == '[') {
    char close = *c->p == '{' ? '}' : ']';
    c->p++;
    if (jc_char(c, close)) return true;
    do {
      if (close == '}' && (!jc_string(c, &s, &n) || !jc_char(c, ':'))) return false;
      if (!jc_skip(c, depth + 1)) return false;
    } while (jc_char(c, ','));
    return jc_char(c, close);
  }
  const char *start = c->p; /* number, true, false, null */
  while (c->p < c->end && !strchr(",}] \t\r\n", *c->p)) c->p++;
  return c->p > start;
}

static bool jc_key_is(const char *k, size_t n, const char *want) {
  return n == strlen(want) && memcmp(k, want, n) == 0;
}

static bool js_parse_puback(const char *p, size_t len, js_puback *out) {
  js_cursor c = {p, p + len};
  memset(out, 0, sizeof *out);
  bool have_seq = false;
  if (!jc_char(&c, '{')) return false;
  if (jc_char(&c, '}')) return false;
  do {
    const char *k;
    size_t n;
    if (!jc_string(&c, &k, &n) || !jc_char(&c, ':')) return false;
    if (jc_key_is(k, n, "seq")) {
      if (!jc_u64(&c, &out->seq)) return false;
      have_seq = true;
    } else if (jc_key_is(k, n, "error")) {
      out->error = true;
      if (!jc_char(&c, '{')) return false;
      if (!jc_char(&c, '}')) {
        do {
          if (!jc_string(&c, &k, &n) || !jc_char(&c, ':')) return false;
          if (jc_key_is(k, n, "err_code")) {
            if (!jc_u64(&c, &out->err_code)) return false;
          } else if (!jc_skip(&c, 1)) {
            return false;
          }
        } while (jc_char(&c, ','));
        if (!jc_char(&c, '}')) return false;
      }
    } else if (!jc_skip(&c, 0)) {
      return false;
    }
  } while (jc_char(&c, ','));
  if (!jc_char(&c, '}')) return false;
  return out->error || (have_seq && out->seq > 0);
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
  js_api_opts(&o, deadline);
  o.Stream.Info.SubjectsFilter = JS_SUBJECT_PREFIX ">";
  jsStreamNamesList *list = NULL;
  jsErrCode code = 0;
  natsStatus s = js_StreamNames(&list, be->js, &o, &code);
  if (s == NATS_NOT_FOUND) {
    *count = 0;
    return OCKAM_OK;
  }
  int rc = js_api_result(s, code, "listing streams");
  if (rc) return rc;
  int64_t c = 0;
  for (int i = 0; i < list->Count; i++) c += js_is_ockam_stream(list->List[i]);
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
  js_description(name, len, desc);
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
    js_api_opts(&o, deadline);
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
  js_stream *e = js_table_put(&be->streams, nm->digest);
  if (!e) return OCKAM_ENOMEM;
  e->exists = true;
  e->direct = direct;
  e->replicas = (uint8_t)(replicas < 1 ? 1 : replicas > 255 ? 255 : replicas);
  if (si->State.LastSeq > e->last_seq) e->last_seq = si->State.LastSeq;
  *out = e;
  return OCKAM_OK;
}

/* One attempt at finding (and, with create, making) the stream. */
static int js_lookup_once(js_be *be, const js_names *nm, const char *name, size_t len, bool create,
                          uint64_t deadline, js_stream **out) {
  jsOptions o;
  jsStreamInfo *si = NULL;
  jsErrCode code = 0;
  js_api_opts(&o, deadline);
  natsStatus s = js_GetStreamInfo(&si, be->js, nm->stream, &o, &code);
  if (s == NATS_OK) {
    int rc = js_adopt(be, nm, name, len, si, deadline, out);
    jsStreamInfo_Destroy(si);
    return rc;
  }
  if (s != NATS_NOT_FOUND || (code && code != JSStreamNotFoundErr)) {
    return js_api_result(s, code, "stream info");
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
  js_description(name, len, desc);
  js_stream_config(be, nm, desc, subjects, &cfg);
  js_api_opts(&o, deadline);
  code = 0;
  s = js_AddStream(&si, be->js, &cfg, &o, &code);
  if (s == NATS_OK) {
    be->stream_count++;
    js_stream *e = js_table_put(&be->streams, nm->digest);
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
  return js_api_result(s, code, "creating stream");
}

/* Finds the stream (cached, or asked from the server); creates it if create.
 * OCKAM_ENOTFOUND when it does not exist and !create. */
static int js_lookup(js_be *be, const js_names *nm, const char *name, size_t len, bool create,
                     uint64_t deadline, js_stream **out) {
  js_stream *e = js_table_find(&be->streams, nm->digest);
  if (e && e->exists) {
    *out = e;
    return OCKAM_OK;
  }
  int rc;
  do {
    rc = js_lookup_once(be, nm, name, len, create, deadline, out);
  } while (js_retry(be, rc, deadline));
  return rc;
}

static void js_forget(js_be *be, const uint8_t *digest) {
  js_stream *e = js_table_find(&be->streams, digest);
  if (e) e->exists = false;
}

/* ---- open / close -------------------------------------------------------- */

static void js_close(void *p) {
  js_be *be = p;
  if (!be) return;
  if (be->sub) {
    natsSubscription_Unsubscribe(be->sub);
    natsSubscription_Destroy(be->sub);
  }
  kvStore_Destroy(be->kv);
  jsCtx_Destroy(be->js);
  if (be->nc) {
    natsConnection_Close(be->nc);
    natsConnection_Destroy(be->nc);
  }
  natsOptions_Destroy(be->opts);
  natsInbox_Destroy(be->inbox);
  free(be->streams.slots);
  free(be->url);
  free(be);
}

/* The server list for logs, without credentials: the user info of each URL
 * (between the scheme and '@') becomes three asterisks. */
static char *js_redact(const char *url) {
  char *out = malloc(4 * strlen(url) + 4); /* each server may grow by 3 */
  if (!out) return NULL;
  size_t o = 0;
  for (const char *p = url; *p;) {
    const char *end = strchr(p, ',');
    size_t len = end ? (size_t)(end - p) : strlen(p);
    const char *at = memrchr(p, '@', len);
    const char *scheme = strstr(p, "://");
    if (at && scheme && scheme < at) {
      size_t head = (size_t)(scheme + 3 - p);
      memcpy(out + o, p, head);
      o += head;
      memcpy(out + o, "***", 3);
      o += 3;
      len -= (size_t)(at - p);
      p = at;
    }
    memcpy(out + o, p, len);
    o += len;
    p += len;
    if (*p == ',') out[o++] = *p++;
  }
  out[o] = 0;
  return out;
}

/* Splits "nats://a:4222,nats://b:4222" (in copy, modified) into the
 * client's server list; shown is the list as logs may show it. */
static int js_set_servers(natsOptions *opts, const char *shown, char *copy) {
  const char *servers[16];
  int n = 0;
  char *save = NULL;
  for (char *tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
    while (*tok == ' ' || *tok == '\t') tok++;
    char *end = tok + strlen(tok);
    while (end > tok && (end[-1] == ' ' || end[-1] == '\t')) *--end = 0;
    if (!*tok) continue;
    if (n == (int)(sizeof servers / sizeof servers[0])) return OCKAM_EOVERFLOW;
    servers[n++] = tok;
  }
  if (n == 0) {
    LOG_ERROR(JS_LOG, "no NATS server in \"%s\"", shown);
    return OCKAM_EINVAL;
  }
  return natsOptions_SetServers(opts, servers, n) == NATS_OK ? OCKAM_OK : OCKAM_EINVAL;
}

static int js_open_index_bucket(js_be *be) {
  natsStatus s = js_KeyValue(&be->kv, be->js, JS_INDEX_BUCKET);
  if (s == NATS_OK) return OCKAM_OK;
  if (s != NATS_NOT_FOUND) return js_api_result(s, 0, "opening the index bucket");
  kvConfig cfg;
  kvConfig_Init(&cfg);
  cfg.Bucket = JS_INDEX_BUCKET;
  cfg.Description = "ockam consumer indexes";
  cfg.History = 1;
  cfg.Replicas = be->replicas;
  cfg.StorageType = js_FileStorage;
  s = js_CreateKeyValue(&be->kv, be->js, &cfg);
  if (s == NATS_OK) return OCKAM_OK;
  /* Made concurrently by another hub (perhaps with other settings): use it. */
  if (js_KeyValue(&be->kv, be->js, JS_INDEX_BUCKET) == NATS_OK) return OCKAM_OK;
  const char *err = nats_GetLastError(NULL);
  if (err && strstr(err, "replicas > 1 not supported")) {
    LOG_ERROR(JS_LOG, "replicas %d needs a JetStream cluster of at least that many servers",
              be->replicas);
    return OCKAM_EINVAL;
  }
  return js_api_result(s, 0, "creating the index bucket");
}

static int js_open(const ockami_store_options *opt, void **out) {
  if (!opt || !out || !opt->url || !*opt->url) return OCKAM_EINVAL;
  int replicas = opt->replicas ? opt->replicas : 1;
  if (replicas < 1 || replicas > 5) return OCKAM_EINVAL;
  if (sodium_init() < 0) return OCKAM_ESTORAGE;
  js_be *be = calloc(1, sizeof *be);
  if (!be) return OCKAM_ENOMEM;
  be->replicas = replicas;
  be->max_messages = opt->max_messages;
  be->max_bytes = opt->max_bytes;
  be->max_age_s = opt->max_age_s;
  be->max_streams = opt->max_streams ? opt->max_streams : OCKAM_HUB_MAX_STREAMS;
  be->max_record = opt->max_record ? opt->max_record : OCKAM_STREAM_MESSAGE_MAX;
  be->stream_count = -1;
  int rc = OCKAM_ENOMEM;
  char *copy = strdup(opt->url);
  be->url = js_redact(opt->url);
  if (!copy || !be->url) goto fail;
  if (be->max_record > INT32_MAX - JS_HEADER_ALLOWANCE) {
    rc = OCKAM_EINVAL;
    goto fail;
  }

  if (natsOptions_Create(&be->opts) != NATS_OK) goto fail;
  rc = js_set_servers(be->opts, be->url, copy);
  if (rc) goto fail;
  natsOptions *o = be->opts;
  bool ok = natsOptions_SetName(o, "ockam-hub") == NATS_OK &&
            natsOptions_SetTimeout(o, JS_CONNECT_TIMEOUT_MS) == NATS_OK &&
            natsOptions_SetAllowReconnect(o, true) == NATS_OK &&
            natsOptions_SetMaxReconnect(o, -1) == NATS_OK &&
            natsOptions_SetReconnectWait(o, JS_RECONNECT_WAIT_MS) == NATS_OK &&
            natsOptions_SetReconnectJitter(o, 100, 1000) == NATS_OK &&
            natsOptions_SetPingInterval(o, JS_PING_INTERVAL_MS) == NATS_OK &&
            natsOptions_SetMaxPingsOut(o, JS_MAX_PINGS_OUT) == NATS_OK &&
            /* Nothing is queued while disconnected: a publish the caller was
             * told failed must not be sent later by the reconnect logic. */
            natsOptions_SetReconnectBufSize(o, 1) == NATS_OK &&
            natsOptions_SetFailRequestsOnDisconnect(o, true) == NATS_OK;
  if (!ok) {
    rc = OCKAM_EINVAL;
    goto fail;
  }
  natsStatus s = natsConnection_Connect(&be->nc, o);
  if (s != NATS_OK) {
    be->nc = NULL;
    LOG_ERROR(JS_LOG, "cannot connect to NATS server %s: %s", be->url, natsStatus_GetText(s));
    rc = OCKAM_EUNAVAILABLE;
    goto fail;
  }
  jsOptions jo;
  jsOptions_Init(&jo);
  jo.Wait = JS_API_WAIT_MS;
  rc = OCKAM_ESTORAGE;
  if (natsConnection_JetStream(&be->js, be->nc, &jo) != NATS_OK) goto fail;
  if (natsInbox_Create(&be->inbox) != NATS_OK) goto fail;
  be->inbox_len = strlen(be->inbox);
  char wildcard[128];
  snprintf(wildcard, sizeof wildcard, "%s.*.*", be->inbox);
  if (natsConnection_SubscribeSync(&be->sub, be->nc, wildcard) != NATS_OK) goto fail;
  /* A read window is bounded (JS_READ_WINDOW_MAX replies of at most
   * max_record bytes) but an append's acks are not: never drop replies. */
  natsSubscription_SetPendingLimits(be->sub, -1, -1);
  uint64_t deadline = now_ms() + JS_OP_TIMEOUT_MS;
  do {
    rc = js_open_index_bucket(be);
  } while (js_retry(be, rc, deadline));
  if (rc) {
    if (rc == OCKAM_EUNAVAILABLE) {
      LOG_ERROR(JS_LOG, "JetStream at %s did not answer; is it enabled (-js)?", be->url);
    }
    goto fail;
  }
  free(copy);
  LOG_INFO(JS_LOG, "connected to %s (replicas %d)", be->url, be->replicas);
  *out = be;
  return OCKAM_OK;
fail:
  free(copy);
  js_close(be);
  return rc;
}

/* ---- append -------------------------------------------------------------- */

enum { JS_REC_SKIP, JS_REC_TODO, JS_REC_SENT, JS_REC_DONE, JS_REC_FAILED };

/* Per-call bookkeeping: the distinct streams of the batch and each record's
 * progress. */
typedef struct js_batch {
  js_names *names; /* distinct streams */
  size_t nnames;
  uint32_t *which; /* item -> names[] */
  uint8_t *state;  /* JS_REC_* */
  int *err;        /* for JS_REC_FAILED */
  uint64_t *seq;   /* for JS_REC_DONE */
  bool *relookup;  /* names[] answered "no responders": stream gone? */
  uint64_t *last;  /* order check, per names[] */
} js_batch;

static void js_batch_free(js_batch *b) {
  free(b->names);
  free(b->which);
  free(b->state);
  free(b->err);
  free(b->seq);
  free(b->relookup);
  free(b->last);
}

/* Groups items by stream (SHA-256 once per run of equal names, a small hash
 * map to merge repeated streams). */
static int js_batch_names(js_batch *b, const ockami_append *items, size_t n) {
  size_t cap = 16;
  while (cap < 2 * n) cap *= 2;
  uint32_t *map = malloc(cap * sizeof *map);
  if (!map) return OCKAM_ENOMEM;
  memset(map, 0xff, cap * sizeof *map);
  size_t prev = SIZE_MAX;
  for (size_t i = 0; i < n; i++) {
    if (b->state[i] == JS_REC_SKIP) continue;
    const ockami_append *it = &items[i];
    if (prev != SIZE_MAX && items[prev].stream_len == it->stream_len &&
        memcmp(items[prev].stream, it->stream, it->stream_len) == 0) {
      b->which[i] = b->which[prev];
      prev = i;
      continue;
    }
    js_names nm;
    js_names_make(it->stream, it->stream_len, &nm);
    uint64_t h;
    memcpy(&h, nm.digest, sizeof h);
    size_t slot = (size_t)h & (cap - 1);
    while (map[slot] != UINT32_MAX &&
           memcmp(b->names[map[slot]].digest, nm.digest, JS_DIGEST_LEN) != 0) {
      slot = (slot + 1) & (cap - 1);
    }
    if (map[slot] == UINT32_MAX) {
      map[slot] = (uint32_t)b->nnames;
      b->names[b->nnames++] = nm;
    }
    b->which[i] = map[slot];
    prev = i;
  }
  free(map);
  return OCKAM_OK;
}

/* Applies one PubAck (or no-responders status) to record i. */
static void js_apply_ack(js_batch *b, size_t i, natsMsg *m) {
  js_puback ack;
  if (natsMsg_IsNoResponders(m)) {
    /* Nobody listens on the subject: the stream was deleted under us. */
    b->relookup[b->which[i]] = true;
    b->state[i] = JS_REC_TODO;
  } else if (!js_parse_puback(natsMsg_GetData(m), (size_t)natsMsg_GetDataLength(m), &ack)) {
    LOG_ERROR(JS_LOG, "unexpected publish reply: %.*s", natsMsg_GetDataLength(m),
              natsMsg_GetData(m));
    b->state[i] = JS_REC_FAILED;
    b->err[i] = OCKAM_ESTORAGE;
  } else if (!ack.error) {
    b->state[i] = JS_REC_DONE;
    b->seq[i] = ack.seq;
  } else if (js_errcode_transient((int)ack.err_code)) {
    b->state[i] = JS_REC_TODO;
  } else {
    b->state[i] = JS_REC_FAILED;
    b->err[i] = js_errcode_to_ockam((int)ack.err_code);
    if (b->err[i] == OCKAM_ESTORAGE) {
      LOG_ERROR(JS_LOG, "publish refused: %.*s", natsMsg_GetDataLength(m), natsMsg_GetData(m));
    }
  }
}

/* One round: publishes every TODO record (array order, so records of one
 * stream reach JetStream in order) and collects the acks. Records whose ack
 * did not come back return to TODO; their retry reuses the message id, so
 * JetStream drops the copy of one that was stored after all. */
static void js_append_round(js_be *be, js_batch *b, const ockami_append *items, size_t n,
                            const char *batch_id, uint64_t deadline) {
  uint64_t gen = ++be->gen;
  size_t sent = 0;
  char reply[160];
  char msgid[2 * JS_MSGID_RANDOM + 24];
  for (size_t i = 0; i < n; i++) {
    if (b->state[i] != JS_REC_TODO) continue;
    const ockami_append *it = &items[i];
    natsMsg *m = NULL;
    js_reply_subject(be, gen, i, reply, sizeof reply);
    snprintf(msgid, sizeof msgid, "%s-%zu", batch_id, i);
    natsStatus s = natsMsg_Create(&m, b->names[b->which[i]].subject, reply, (const char *)it->data,
                                  (int)it->len);
    if (s == NATS_OK) s = natsMsgHeader_Set(m, "Nats-Msg-Id", msgid);
    if (s == NATS_OK) s = natsConnection_PublishMsg(be->nc, m);
    natsMsg_Destroy(m);
    if (s != NATS_OK) break; /* connection trouble: the rest waits for a retry */
    b->state[i] = JS_REC_SENT;
    sent++;
  }
  js_flush(be, sent, deadline);
  size_t nobody = 0; /* "no responders" replies: nothing listens on a subject */
  while (sent > nobody) {
    natsMsg *m = NULL;
    uint64_t k;
    int rc = js_next_reply(be, gen, n, deadline, &m, &k);
    if (rc == OCKAM_ENOTFOUND) {
      nobody++;
      continue;
    }
    if (rc) break;
    if (b->state[k] == JS_REC_SENT) {
      js_apply_ack(b, (size_t)k, m);
      sent--;
    }
    natsMsg_Destroy(m);
  }
  /* Records still waiting were answered "no responders" (stream deleted, or
   * its replicas electing a leader) or not at all: look their streams up
   * again before the retry. */
  for (size_t i = 0; i < n; i++) {
    if (b->state[i] != JS_REC_SENT) continue;
    b->state[i] = JS_REC_TODO;
    if (nobody) b->relookup[b->which[i]] = true;
  }
}

static int js_append(void *p, ockami_append *items, size_t n) {
  js_be *be = p;
  if (n == 0) return OCKAM_OK;
  if (!items || n > UINT32_MAX) return OCKAM_EINVAL;
  js_batch b = {0};
  int rc = OCKAM_ENOMEM;
  b.names = malloc(n * sizeof *b.names);
  b.which = calloc(n, sizeof *b.which);
  b.state = calloc(n, sizeof *b.state);
  b.err = calloc(n, sizeof *b.err);
  b.seq = calloc(n, sizeof *b.seq);
  b.relookup = calloc(n, sizeof *b.relookup);
  b.last = calloc(n, sizeof *b.last);
  if (!b.names || !b.which || !b.state || !b.err || !b.seq || !b.relookup || !b.last) goto out;

  uint64_t bytes = 0;
  size_t valid = 0;
  for (size_t i = 0; i < n; i++) {
    ockami_append *it = &items[i];
    it->index = 0;
    it->status = ockami_store_check_stream(it->stream, it->stream_len);
    if (!it->status && (it->len > be->max_record || (it->len && !it->data))) {
      it->status = it->len > be->max_record ? OCKAM_EOVERFLOW : OCKAM_EINVAL;
    }
    b.state[i] = it->status ? JS_REC_SKIP : JS_REC_TODO;
    if (it->status) continue;
    bytes += it->len;
    valid++;
  }
  if (!valid) {
    rc = OCKAM_OK;
    goto out;
  }
  rc = js_batch_names(&b, items, n);
  if (rc) goto out;
  uint64_t deadline = now_ms() + JS_OP_TIMEOUT_MS + bytes * 1000u / JS_APPEND_BYTES_PER_S;

  /* Streams are created on demand. A stream that cannot be had (max_streams
   * reached, a foreign stream in the way) fails its own records only; nothing
   * of it has been published. An outage fails the call. */
  for (size_t j = 0; j < b.nnames; j++) {
    size_t first = 0;
    while (b.state[first] == JS_REC_SKIP || b.which[first] != j) first++;
    js_stream *e;
    rc = js_lookup(be, &b.names[j], items[first].stream, items[first].stream_len, true, deadline,
                   &e);
    if (rc == OCKAM_EUNAVAILABLE || rc == OCKAM_ENOMEM) goto fail;
    if (rc) {
      for (size_t i = first; i < n; i++) {
        if (b.state[i] == JS_REC_TODO && b.which[i] == j) {
          b.state[i] = JS_REC_SKIP;
          items[i].status = rc;
        }
      }
      rc = OCKAM_OK;
    }
  }

  uint8_t id_raw[JS_MSGID_RANDOM];
  char batch_id[2 * JS_MSGID_RANDOM + 1];
  randombytes_buf(id_raw, sizeof id_raw);
  sodium_bin2hex(batch_id, sizeof batch_id, id_raw, sizeof id_raw);

  int64_t backoff = 20;
  size_t done_before = 0;
  for (;;) {
    rc = js_wait_connected(be, deadline);
    if (rc) goto fail;
    js_append_round(be, &b, items, n, batch_id, deadline);
    bool todo = false, failed = false;
    size_t done = 0;
    for (size_t i = 0; i < n; i++) {
      todo |= b.state[i] == JS_REC_TODO;
      failed |= b.state[i] == JS_REC_FAILED && b.err[i] != OCKAM_EOVERFLOW;
      done += b.state[i] == JS_REC_DONE;
    }
    if (!todo || failed || remaining_ms(deadline) <= 0) break;
    for (size_t j = 0; j < b.nnames; j++) {
      if (!b.relookup[j]) continue;
      b.relookup[j] = false;
      js_forget(be, b.names[j].digest);
      size_t first = 0;
      while (b.state[first] == JS_REC_SKIP || b.which[first] != j) first++;
      js_stream *e;
      rc = js_lookup(be, &b.names[j], items[first].stream, items[first].stream_len, true, deadline,
                     &e);
      if (rc) goto fail;
    }
    /* Back off while nothing moves (a leader election takes seconds). */
    backoff = done > done_before ? 20 : backoff * 2 > 250 ? 250 : backoff * 2;
    done_before = done;
    int64_t left = remaining_ms(deadline);
    nats_Sleep(backoff < left ? backoff : left);
  }

  /* Whole-call outcome: every record acknowledged, else an error for all. */
  rc = OCKAM_OK;
  for (size_t i = 0; i < n && !rc; i++) {
    if (b.state[i] == JS_REC_TODO) rc = OCKAM_EUNAVAILABLE;
    if (b.state[i] == JS_REC_FAILED && b.err[i] != OCKAM_EOVERFLOW) rc = b.err[i];
  }
  if (rc) goto fail;
  for (size_t i = 0; i < n; i++) {
    if (b.state[i] == JS_REC_FAILED) { /* refused as too large by the server */
      items[i].status = OCKAM_EOVERFLOW;
      continue;
    }
    if (b.state[i] != JS_REC_DONE) continue;
    uint32_t j = b.which[i];
    if (b.seq[i] <= b.last[j]) {
      /* A retried record landed after a later one (leader change between
       * the two publishes): the records are stored, but not in array order. */
      LOG_ERROR(JS_LOG,
                "stream %s: records of one append stored out of order (%" PRIu64 " after %" PRIu64
                ")",
                b.names[j].stream, b.seq[i], b.last[j]);
      rc = OCKAM_ESTORAGE;
      goto fail;
    }
    b.last[j] = b.seq[i];
  }
  for (size_t i = 0; i < n; i++) {
    if (b.state[i] != JS_REC_DONE) continue;
    items[i].index = b.seq[i] - 1;
    js_stream *e = js_table_find(&be->streams, b.names[b.which[i]].digest);
    if (e && b.seq[i] > e->last_seq) e->last_seq = b.seq[i];
  }
  goto out;

fail:
  /* JetStream has no multi-message transaction: records of this call may be
   * stored even though the call failed (see docs/jetstream.md). */
  for (size_t i = 0; i < n; i++) {
    if (b.state[i] == JS_REC_SKIP) continue;
    items[i].status = rc;
    items[i].index = 0;
  }
  if (rc != OCKAM_EUNAVAILABLE)
    LOG_WARN(JS_LOG, "append of %zu records failed: %s", n, ockam_errname(rc));
out:
  js_batch_free(&b);
  return js_note(be, rc, "append");
}

/* ---- read ---------------------------------------------------------------- */

typedef struct js_read_state {
  ockami_records *out;
  uint32_t limit;
  size_t max_bytes;
  size_t bytes;
  uint32_t count;
  bool full; /* limit or byte cap reached */
} js_read_state;

/* Adds one record unless the byte cap says stop (the first always fits). */
static int js_read_push(js_read_state *rs, uint64_t seq, const char *data, int len) {
  size_t l = len > 0 ? (size_t)len : 0;
  if (rs->max_bytes && rs->count > 0 && l > rs->max_bytes - rs->bytes) {
    rs->full = true;
    return OCKAM_OK;
  }
  int rc = ockami_records_push(rs->out, seq - 1, (const uint8_t *)data, l);
  if (rc) return rc;
  rs->bytes += l;
  rs->count++;
  if (rs->count == rs->limit || (rs->max_bytes && rs->bytes >= rs->max_bytes)) rs->full = true;
  return OCKAM_OK;
}

/* Reads from the stream leader one record at a time: for streams without
 * direct gets, and to top up a read a lagging follower answered short. */
static int js_read_leader(js_be *be, const js_names *nm, uint64_t *next, uint64_t last,
                          uint32_t max_fetch, js_read_state *rs, uint64_t deadline) {
  for (uint32_t i = 0; i < max_fetch && *next <= last && !rs->full; i++) {
    jsOptions o;
    js_api_opts(&o, deadline);
    natsMsg *m = NULL;
    jsErrCode code = 0;
    natsStatus s = js_GetMsg(&m, be->js, nm->stream, *next, &o, &code);
    if (s == NATS_NOT_FOUND) break;
    int rc = js_api_result(s, code, "get message");
    if (rc) return rc;
    rc = js_read_push(rs, *next, natsMsg_GetData(m), natsMsg_GetDataLength(m));
    natsMsg_Destroy(m);
    if (rc) return rc;
    if (!rs->full) (*next)++;
  }
  return OCKAM_OK;
}

static bool js_header_u64(natsMsg *m, const char *key, uint64_t *v) {
  const char *s = NULL;
  if (natsMsgHeader_Get(m, key, &s) != NATS_OK || !s || !*s) return false;
  char *end = NULL;
  unsigned long long x = strtoull(s, &end, 10);
  if (*end || s[0] == '-') return false;
  *v = x;
  return true;
}

/* One window of pipelined direct gets starting at sequence *next: request 0
 * asks for the first record at or after *next (skipping whatever retention
 * removed), requests 1..w-1 for *next+1 .. *next+w-1. Sets *end when a request
 * found nothing (end of the stream) and *cut when replies did not come (the
 * records before the first missing reply are kept). */
static int js_read_window(js_be *be, const js_names *nm, uint64_t *next, uint32_t w,
                          js_read_state *rs, bool *end, bool *cut, uint64_t deadline) {
  char subject[sizeof "$JS.API.DIRECT.GET." + sizeof nm->stream];
  char reply[160];
  char body[160];
  snprintf(subject, sizeof subject, "$JS.API.DIRECT.GET.%s", nm->stream);
  uint64_t gen = ++be->gen;
  uint64_t base = *next;
  natsMsg **got = calloc(w, sizeof *got);
  if (!got) return OCKAM_ENOMEM;
  uint32_t sent = 0;
  for (uint32_t k = 0; k < w; k++) {
    js_reply_subject(be, gen, k, reply, sizeof reply);
    if (k == 0) {
      snprintf(body, sizeof body, "{\"seq\":%" PRIu64 ",\"next_by_subj\":\"%s\"}", base,
               nm->subject);
    } else {
      snprintf(body, sizeof body, "{\"seq\":%" PRIu64 "}", base + k);
    }
    if (natsConnection_PublishRequestString(be->nc, subject, reply, body) != NATS_OK) break;
    sent++;
  }
  /* A healthy server answers within milliseconds; a stream deleted behind our
   * back answers never, so leave time for the caller to look it up again. */
  uint64_t window_deadline = now_ms() + JS_API_WAIT_MS;
  if (window_deadline > deadline) window_deadline = deadline;
  js_flush(be, sent, window_deadline);
  *cut = sent < w;
  for (uint32_t have = 0, nobody = 0; have + nobody < sent;) {
    natsMsg *m = NULL;
    uint64_t k;
    int nrc = js_next_reply(be, gen, sent, window_deadline, &m, &k);
    if (nrc == OCKAM_ENOTFOUND) { /* no direct-get responder: no leader, or gone */
      nobody++;
      *cut = true;
      continue;
    }
    if (nrc) {
      *cut = true;
      break;
    }
    if (got[k]) {
      natsMsg_Destroy(m);
      continue;
    }
    got[k] = m;
    have++;
  }
  int rc = OCKAM_OK;
  uint64_t expect = base;
  for (uint32_t k = 0; k < sent && !rs->full; k++) {
    uint64_t want = base + k;
    if (k > 0 && want < expect) continue; /* before the record request 0 found */
    if (!got[k]) break;
    const char *status = NULL;
    if (natsMsgHeader_Get(got[k], "Status", &status) == NATS_OK && status) {
      if (strcmp(status, "404") == 0) {
        *end = true;
        break;
      }
      LOG_ERROR(JS_LOG, "direct get on %s answered %s", nm->stream, status);
      rc = OCKAM_ESTORAGE;
      break;
    }
    uint64_t seq;
    if (!js_header_u64(got[k], "Nats-Sequence", &seq) || seq < want || (k > 0 && seq != want)) {
      LOG_ERROR(JS_LOG, "direct get on %s: reply without the expected sequence", nm->stream);
      rc = OCKAM_ESTORAGE;
      break;
    }
    rc = js_read_push(rs, seq, natsMsg_GetData(got[k]), natsMsg_GetDataLength(got[k]));
    if (rc) break;
    expect = seq + 1;
  }
  if (*end) *cut = false; /* the replies still missing were past the end */
  if (!rc && *cut && rs->count == 0) rc = OCKAM_EUNAVAILABLE;
  *next = expect;
  for (uint32_t k = 0; k < w; k++) natsMsg_Destroy(got[k]);
  free(got);
  return rc;
}

static int js_read_once(js_be *be, const js_names *nm, const char *stream, size_t stream_len,
                        uint64_t from, js_read_state *rs, uint64_t deadline) {
  js_stream *e;
  int rc = js_lookup(be, nm, stream, stream_len, false, deadline, &e);
  if (rc == OCKAM_ENOTFOUND) return OCKAM_OK;
  if (rc) return rc;
  uint64_t next = from + 1;
  uint64_t hint = e->last_seq;
  bool direct = e->direct;
  uint8_t replicas = e->replicas;
  bool end = false, cut = false;
  if (direct) {
    /* First window: what we believe is there plus one (to see the end in the
     * same round trip), or a small probe; then growing windows. */
    uint64_t known = hint >= next ? hint - next + 1 : 0;
    uint64_t w = known ? known + 1 : 4;
    while (!rs->full && !end && !cut) {
      uint64_t left = rs->limit - rs->count;
      if (w > left) w = left;
      if (w > JS_READ_WINDOW_MAX) w = JS_READ_WINDOW_MAX;
      rc = js_read_window(be, nm, &next, (uint32_t)w, rs, &end, &cut, deadline);
      if (rc) break;
      w *= 4;
    }
    if (rc == OCKAM_EUNAVAILABLE && rs->count == 0) {
      /* No answer at all: the stream may have been deleted. */
      js_forget(be, nm->digest);
      return rc;
    }
    if (rc) return rc;
  }
  /* Direct gets may be answered by a follower that has not applied the newest
   * records yet; the leader knows where the stream ends. */
  if (!rs->full && !cut && (!direct || (end && replicas > 1))) {
    jsOptions o;
    jsStreamInfo *si = NULL;
    jsErrCode code = 0;
    js_api_opts(&o, deadline);
    natsStatus s = js_GetStreamInfo(&si, be->js, nm->stream, &o, &code);
    if (s == NATS_NOT_FOUND) {
      js_forget(be, nm->digest);
      return OCKAM_OK;
    }
    rc = js_api_result(s, code, "stream info");
    if (rc) return rc;
    uint64_t last = si->State.LastSeq;
    if (next < si->State.FirstSeq) next = si->State.FirstSeq;
    jsStreamInfo_Destroy(si);
    if (last > e->last_seq) e->last_seq = last;
    uint32_t before = rs->count;
    rc = js_read_leader(be, nm, &next, last, direct ? JS_LEADER_FETCH_MAX : UINT32_MAX, rs,
                        deadline);
    if (rc) return rc;
    if (direct && rs->count > before) {
      LOG_DEBUG(JS_LOG, "read %s: %u records from the leader that a follower did not have yet",
                nm->stream, rs->count - before);
    }
  }
  if (rs->count) {
    uint64_t seq = rs->out->items[rs->out->count - 1].index + 1;
    if (seq > e->last_seq) e->last_seq = seq;
  }
  return OCKAM_OK;
}

static int js_read(void *p, const char *stream, size_t stream_len, uint64_t from, uint32_t limit,
                   size_t max_bytes, ockami_records *out) {
  js_be *be = p;
  int rc = ockami_store_check_stream(stream, stream_len);
  if (rc) return rc;
  if (!out) return OCKAM_EINVAL;
  if (limit == 0 || from == UINT64_MAX) return OCKAM_OK;
  js_names nm;
  js_names_make(stream, stream_len, &nm);
  uint64_t deadline = now_ms() + JS_OP_TIMEOUT_MS;
  size_t keep = out->count, keep_arena = out->arena_len;
  do {
    /* A retry starts over: drop what a failed attempt added. */
    out->count = keep;
    out->arena_len = keep_arena;
    js_read_state rs = {out, limit, max_bytes, 0, 0, false};
    rc = js_read_once(be, &nm, stream, stream_len, from, &rs, deadline);
  } while (js_retry(be, rc, deadline));
  if (rc) {
    out->count = keep;
    out->arena_len = keep_arena;
  }
  return js_note(be, rc, "read");
}

/* ---- bounds, create, trim ------------------------------------------------ */

static int js_bounds_once(js_be *be, const js_names *nm, uint64_t deadline, uint64_t *first,
                          uint64_t *next) {
  jsOptions o;
  jsStreamInfo *si = NULL;
  jsErrCode code = 0;
  js_api_opts(&o, deadline);
  natsStatus s = js_GetStreamInfo(&si, be->js, nm->stream, &o, &code);
  if (s == NATS_NOT_FOUND && (!code || code == JSStreamNotFoundErr)) {
    js_forget(be, nm->digest);
    *first = *next = 0;
    return OCKAM_OK;
  }
  int rc = js_api_result(s, code, "stream info");
  if (rc) return rc;
  /* Sequences start at 1; an emptied stream reports first = last + 1. */
  *next = si->State.LastSeq;
  *first = si->State.FirstSeq ? si->State.FirstSeq - 1 : 0;
  if (*first > *next) *first = *next;
  js_stream *e = js_table_find(&be->streams, nm->digest);
  if (e && si->State.LastSeq > e->last_seq) e->last_seq = si->State.LastSeq;
  jsStreamInfo_Destroy(si);
  return OCKAM_OK;
}

static int js_bounds(void *p, const char *stream, size_t stream_len, uint64_t *first,
                     uint64_t *next) {
  js_be *be = p;
  int rc = ockami_store_check_stream(stream, stream_len);
  if (rc) return rc;
  js_names nm;
  js_names_make(stream, stream_len, &nm);
  uint64_t deadline = now_ms() + JS_OP_TIMEOUT_MS;
  uint64_t f = 0, nx = 0;
  do {
    rc = js_bounds_once(be, &nm, deadline, &f, &nx);
  } while (js_retry(be, rc, deadline));
  if (!rc) {
    if (first) *first = f;
    if (next) *next = nx;
  }
  return js_note(be, rc, "bounds");
}

static int js_stream_create(void *p, const char *stream, size_t stream_len) {
  js_be *be = p;
  int rc = ockami_store_check_stream(stream, stream_len);
  if (rc) return rc;
  js_names nm;
  js_names_make(stream, stream_len, &nm);
  js_stream *e;
  rc = js_lookup(be, &nm, stream, stream_len, true, now_ms() + JS_OP_TIMEOUT_MS, &e);
  return js_note(be, rc, "stream create");
}

/* JetStream applies max_msgs, max_bytes and max_age itself. */
static int js_trim(void *p) {
  (void)p;
  return OCKAM_OK;
}

/* ---- consumer indexes ---------------------------------------------------- */

static bool js_parse_index(kvEntry *e, uint64_t *v) {
  const char *s = kvEntry_Value(e);
  int len = kvEntry_ValueLen(e);
  if (!s || len <= 0 || len > 20) return false;
  uint64_t x = 0;
  for (int i = 0; i < len; i++) {
    if (s[i] < '0' || s[i] > '9' || x > (UINT64_MAX - (uint64_t)(s[i] - '0')) / 10) return false;
    x = x * 10 + (uint64_t)(s[i] - '0');
  }
  *v = x;
  return true;
}

static int js_index_get(void *p, const char *client, size_t client_len, const char *stream,
                        size_t stream_len, uint64_t *index, bool *found) {
  js_be *be = p;
  char key[JS_KEY_MAX];
  int rc = js_index_key(client, client_len, stream, stream_len, key);
  if (rc) return rc;
  uint64_t deadline = now_ms() + JS_OP_TIMEOUT_MS;
  uint64_t v = 0;
  bool have = false;
  do {
    kvEntry *e = NULL;
    natsStatus s = kvStore_Get(&e, be->kv, key);
    if (s == NATS_NOT_FOUND) {
      rc = OCKAM_OK;
    } else {
      rc = js_api_result(s, 0, "index get");
      if (!rc && !(have = js_parse_index(e, &v))) {
        LOG_ERROR(JS_LOG, "index %s holds a value that is not a u64", key);
        rc = OCKAM_ESTORAGE;
      }
    }
    kvEntry_Destroy(e);
  } while (js_retry(be, rc, deadline));
  if (!rc) {
    if (found) *found = have;
    if (index) *index = have ? v : 0;
  }
  return js_note(be, rc, "index get");
}

/* One step of the monotonic save: done (*done), or lost a race (retry). */
static int js_index_save_once(js_be *be, const char *key, uint64_t index, bool *done) {
  char val[24];
  snprintf(val, sizeof val, "%" PRIu64, index);
  kvEntry *e = NULL;
  natsStatus s = kvStore_Get(&e, be->kv, key);
  if (s == NATS_NOT_FOUND) {
    s = kvStore_CreateString(NULL, be->kv, key, val);
    *done = s == NATS_OK;
    /* NATS_ERR: the key appeared meanwhile; look again. */
    return s == NATS_OK || s == NATS_ERR ? OCKAM_OK : js_api_result(s, 0, "index save");
  }
  int rc = js_api_result(s, 0, "index get");
  if (rc) return rc;
  uint64_t cur;
  if (js_parse_index(e, &cur) && cur >= index) {
    kvEntry_Destroy(e);
    *done = true;
    return OCKAM_OK;
  }
  uint64_t rev = kvEntry_Revision(e);
  kvEntry_Destroy(e);
  s = kvStore_UpdateString(NULL, be->kv, key, val, rev);
  *done = s == NATS_OK;
  /* NATS_ERR: someone saved in between (wrong last sequence); look again. */
  return s == NATS_OK || s == NATS_ERR ? OCKAM_OK : js_api_result(s, 0, "index save");
}

static int js_index_save(void *p, const char *client, size_t client_len, const char *stream,
                         size_t stream_len, uint64_t index) {
  js_be *be = p;
  char key[JS_KEY_MAX];
  int rc = js_index_key(client, client_len, stream, stream_len, key);
  if (rc) return rc;
  uint64_t deadline = now_ms() + JS_OP_TIMEOUT_MS;
  bool done = false;
  int attempts = 0;
  for (;;) {
    rc = js_index_save_once(be, key, index, &done);
    if (!rc && done) break;
    if (!rc) {
      if (++attempts >= JS_INDEX_RETRIES || remaining_ms(deadline) <= 0) {
        LOG_ERROR(JS_LOG, "index %s: gave up after %d conflicting updates", key, attempts);
        rc = OCKAM_ESTORAGE;
        break;
      }
      continue;
    }
    if (!js_retry(be, rc, deadline)) break;
  }
  return js_note(be, rc, "index save");
}

const ockami_store_ops ockami_store_jetstream = {
    .name = "jetstream",
    .shared = true,
    .open = js_open,
    .close = js_close,
    .stream_create = js_stream_create,
    .append = js_append,
    .read = js_read,
    .bounds = js_bounds,
    .index_get = js_index_get,
    .index_save = js_index_save,
    .trim = js_trim,
};
