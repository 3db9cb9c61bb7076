/* "jetstream" backend: reads. Record index i is stream sequence i + 1.
 * Streams with direct gets are read in pipelined windows of direct-get
 * requests (any replica may answer); the leader tops up what a lagging
 * follower did not have yet, and serves streams without direct gets. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "js_internal.h"
#include "log.h"

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
    ockami_js_api_opts(&o, deadline);
    natsMsg *m = NULL;
    jsErrCode code = 0;
    natsStatus s = js_GetMsg(&m, be->js, nm->stream, *next, &o, &code);
    if (s == NATS_NOT_FOUND) break;
    int rc = ockami_js_api_result(s, code, "get message");
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
  errno = 0;
  unsigned long long x = strtoull(s, &end, 10);
  if (*end || s[0] == '-' || errno == ERANGE) return false;
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
    ockami_js_reply_subject(be, gen, k, reply, sizeof reply);
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
  uint64_t window_deadline = ockami_monotonic_ms() + JS_API_WAIT_MS;
  if (window_deadline > deadline) window_deadline = deadline;
  ockami_js_flush(be, sent, window_deadline);
  *cut = sent < w;
  for (uint32_t have = 0, nobody = 0; have + nobody < sent;) {
    natsMsg *m = NULL;
    uint64_t k;
    int nrc = ockami_js_next_reply(be, gen, sent, window_deadline, &m, &k);
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
  int rc = ockami_js_lookup(be, nm, stream, stream_len, false, deadline, &e);
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
      ockami_js_forget(be, nm->digest);
      return rc;
    }
    if (rc) return rc;
  }
  /* Direct gets may be answered by a follower that has not applied the newest
   * records yet; the leader knows where the stream ends. */
  if (!rs->full && !cut && (!direct || (end && replicas > 1))) {
    jsStreamInfo *si;
    jsErrCode code;
    natsStatus s = ockami_js_stream_info(be, nm, deadline, &si, &code);
    if (s == NATS_NOT_FOUND) {
      ockami_js_forget(be, nm->digest);
      return OCKAM_OK;
    }
    rc = ockami_js_api_result(s, code, "stream info");
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

int ockami_js_read(void *p, const char *stream, size_t stream_len, uint64_t from, uint32_t limit,
                   size_t max_bytes, ockami_records *out) {
  js_be *be = p;
  if (from == UINT64_MAX) return OCKAM_OK; /* sequence from + 1 would wrap */
  js_names nm;
  ockami_js_names_make(stream, stream_len, &nm);
  uint64_t deadline = ockami_monotonic_ms() + JS_OP_TIMEOUT_MS;
  size_t keep = out->count, keep_arena = out->arena_len;
  int rc;
  do {
    /* A retry starts over: drop what a failed attempt added. */
    out->count = keep;
    out->arena_len = keep_arena;
    js_read_state rs = {out, limit, max_bytes, 0, 0, false};
    rc = js_read_once(be, &nm, stream, stream_len, from, &rs, deadline);
  } while (ockami_js_retry(be, rc, deadline));
  return ockami_js_note(be, rc, "read");
}
