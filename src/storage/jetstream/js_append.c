/* "jetstream" backend: appends. One call publishes every record with a
 * reply subject on the private inbox and collects the acknowledgements
 * (PubAck); records whose acknowledgement did not come are published again
 * with the same message id, which JetStream deduplicates. */
#include <inttypes.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "js_internal.h"
#include "log.h"

enum { JS_REC_SKIP, JS_REC_TODO, JS_REC_SENT, JS_REC_DONE, JS_REC_FAILED };

/* Per-call bookkeeping: the distinct streams of the batch and each record's
 * progress. */
typedef struct js_batch {
  js_names *names; /* distinct streams */
  size_t nnames;
  uint32_t *which;   /* item -> names[] */
  uint8_t *state;    /* JS_REC_* */
  int *err;          /* for JS_REC_FAILED */
  uint64_t *seq;     /* for JS_REC_DONE */
  bool *relookup;    /* names[] answered "no responders": stream gone? */
  uint64_t *last;    /* order check, per names[] */
  const char *msgid; /* one record's own message id (idempotent producers), or NULL */
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

/* Groups items by stream: SHA-256 once per run of equal names, a map from
 * digest to names[] slot to merge repeated streams. */
static int js_batch_names(js_batch *b, const ockami_append *items, size_t n) {
  ockami_map seen;
  ockami_map_init(&seen);
  int rc = OCKAM_OK;
  size_t prev = SIZE_MAX;
  for (size_t i = 0; i < n && !rc; i++) {
    if (b->state[i] == JS_REC_SKIP) continue;
    const ockami_append *it = &items[i];
    if (prev != SIZE_MAX && items[prev].stream_len == it->stream_len &&
        memcmp(items[prev].stream, it->stream, it->stream_len) == 0) {
      b->which[i] = b->which[prev];
      prev = i;
      continue;
    }
    js_names nm;
    ockami_js_names_make(it->stream, it->stream_len, &nm);
    /* Slot + 1 as the value, so that slot 0 is not NULL. */
    uintptr_t slot = (uintptr_t)ockami_map_get(&seen, nm.digest, JS_DIGEST_LEN);
    if (!slot) {
      slot = b->nnames + 1;
      b->names[b->nnames++] = nm;
      rc = ockami_map_put(&seen, nm.digest, JS_DIGEST_LEN, (void *)slot);
    }
    b->which[i] = (uint32_t)(slot - 1);
    prev = i;
  }
  ockami_map_free(&seen);
  return rc;
}

/* Applies one PubAck (or no-responders status) to record i. */
static void js_apply_ack(js_batch *b, size_t i, natsMsg *m) {
  js_puback ack;
  if (natsMsg_IsNoResponders(m)) {
    /* Nobody listens on the subject: the stream was deleted under us. */
    b->relookup[b->which[i]] = true;
    b->state[i] = JS_REC_TODO;
  } else if (!ockami_js_parse_puback(natsMsg_GetData(m), (size_t)natsMsg_GetDataLength(m), &ack)) {
    LOG_ERROR(JS_LOG, "unexpected publish reply: %.*s", natsMsg_GetDataLength(m),
              natsMsg_GetData(m));
    b->state[i] = JS_REC_FAILED;
    b->err[i] = OCKAM_ESTORAGE;
  } else if (!ack.error) {
    b->state[i] = JS_REC_DONE;
    b->seq[i] = ack.seq;
  } else if (ockami_js_errcode_transient((int)ack.err_code)) {
    b->state[i] = JS_REC_TODO;
  } else {
    b->state[i] = JS_REC_FAILED;
    b->err[i] = ockami_js_errcode_to_ockam((int)ack.err_code);
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
    ockami_js_reply_subject(be, gen, i, reply, sizeof reply);
    snprintf(msgid, sizeof msgid, "%s-%zu", batch_id, i);
    natsStatus s = natsMsg_Create(&m, b->names[b->which[i]].subject, reply, (const char *)it->data,
                                  (int)it->len);
    if (s == NATS_OK) s = natsMsgHeader_Set(m, "Nats-Msg-Id", b->msgid ? b->msgid : msgid);
    if (s == NATS_OK) s = natsConnection_PublishMsg(be->nc, m);
    natsMsg_Destroy(m);
    if (s != NATS_OK) break; /* connection trouble: the rest waits for a retry */
    b->state[i] = JS_REC_SENT;
    sent++;
  }
  ockami_js_flush(be, sent, deadline);
  size_t nobody = 0; /* "no responders" replies: nothing listens on a subject */
  while (sent > nobody) {
    natsMsg *m = NULL;
    uint64_t k;
    int rc = ockami_js_next_reply(be, gen, n, deadline, &m, &k);
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

static int js_batch_init(js_batch *b, const ockami_append *items, size_t n, uint64_t *bytes) {
  b->names = malloc(n * sizeof *b->names);
  b->which = calloc(n, sizeof *b->which);
  b->state = calloc(n, sizeof *b->state);
  b->err = calloc(n, sizeof *b->err);
  b->seq = calloc(n, sizeof *b->seq);
  b->relookup = calloc(n, sizeof *b->relookup);
  b->last = calloc(n, sizeof *b->last);
  if (!b->names || !b->which || !b->state || !b->err || !b->seq || !b->relookup || !b->last) {
    return OCKAM_ENOMEM;
  }
  *bytes = 0;
  for (size_t i = 0; i < n; i++) {
    /* The front end has set the status of records it refused. */
    b->state[i] = items[i].status ? JS_REC_SKIP : JS_REC_TODO;
    if (!items[i].status) *bytes += items[i].len;
  }
  return OCKAM_OK;
}

/* The first item of names[j]. */
static size_t js_batch_first(const js_batch *b, size_t j) {
  size_t first = 0;
  while (b->state[first] == JS_REC_SKIP || b->which[first] != j) first++;
  return first;
}

/* Streams are created on demand. A stream that cannot be had (max_streams
 * reached, a foreign stream in the way) fails its own records only; nothing
 * of it has been published. An outage fails the call. */
static int js_batch_streams(js_be *be, js_batch *b, ockami_append *items, size_t n,
                            uint64_t deadline) {
  for (size_t j = 0; j < b->nnames; j++) {
    size_t first = js_batch_first(b, j);
    js_stream *e;
    int rc = ockami_js_lookup(be, &b->names[j], items[first].stream, items[first].stream_len, true,
                              deadline, &e);
    if (rc == OCKAM_EUNAVAILABLE || rc == OCKAM_ENOMEM) return rc;
    if (!rc) continue;
    for (size_t i = first; i < n; i++) {
      if (b->state[i] == JS_REC_TODO && b->which[i] == j) {
        b->state[i] = JS_REC_SKIP;
        items[i].status = rc;
      }
    }
  }
  return OCKAM_OK;
}

/* Looks up again the streams a round found without a listener (deleted, or
 * electing a leader), creating them if they are gone. */
static int js_batch_relookup(js_be *be, js_batch *b, const ockami_append *items,
                             uint64_t deadline) {
  for (size_t j = 0; j < b->nnames; j++) {
    if (!b->relookup[j]) continue;
    b->relookup[j] = false;
    ockami_js_forget(be, b->names[j].digest);
    size_t first = js_batch_first(b, j);
    js_stream *e;
    int rc = ockami_js_lookup(be, &b->names[j], items[first].stream, items[first].stream_len, true,
                              deadline, &e);
    if (rc) return rc;
  }
  return OCKAM_OK;
}

/* Publishes rounds until every record is acknowledged or refused, a record
 * failed for good, or the deadline passed. */
static int js_append_rounds(js_be *be, js_batch *b, const ockami_append *items, size_t n,
                            uint64_t deadline) {
  uint8_t id_raw[JS_MSGID_RANDOM];
  char batch_id[2 * JS_MSGID_RANDOM + 1];
  randombytes_buf(id_raw, sizeof id_raw);
  sodium_bin2hex(batch_id, sizeof batch_id, id_raw, sizeof id_raw);
  int64_t backoff = 20;
  size_t done_before = 0;
  for (;;) {
    int rc = ockami_js_wait_connected(be, deadline);
    if (rc) return rc;
    js_append_round(be, b, items, n, batch_id, deadline);
    bool todo = false, failed = false;
    size_t done = 0;
    for (size_t i = 0; i < n; i++) {
      todo |= b->state[i] == JS_REC_TODO;
      failed |= b->state[i] == JS_REC_FAILED && b->err[i] != OCKAM_EOVERFLOW;
      done += b->state[i] == JS_REC_DONE;
    }
    if (!todo || failed || ockami_js_remaining_ms(deadline) <= 0) return OCKAM_OK;
    if ((rc = js_batch_relookup(be, b, items, deadline))) return rc;
    /* Back off while nothing moves (a leader election takes seconds). */
    backoff = done > done_before ? 20 : backoff * 2 > 250 ? 250 : backoff * 2;
    done_before = done;
    int64_t left = ockami_js_remaining_ms(deadline);
    nats_Sleep(backoff < left ? backoff : left);
  }
}

/* Whole-call outcome: every record acknowledged (or refused as too large by
 * the server), and those of one stream in array order; else an error. */
static int js_batch_outcome(js_batch *b, size_t n) {
  for (size_t i = 0; i < n; i++) {
    if (b->state[i] == JS_REC_TODO) return OCKAM_EUNAVAILABLE;
    if (b->state[i] == JS_REC_FAILED && b->err[i] != OCKAM_EOVERFLOW) return b->err[i];
  }
  for (size_t i = 0; i < n; i++) {
    if (b->state[i] != JS_REC_DONE) continue;
    uint32_t j = b->which[i];
    if (b->seq[i] <= b->last[j]) {
      /* A retried record landed after a later one (leader change between
       * the two publishes): the records are stored, but not in array order. */
      LOG_ERROR(JS_LOG,
                "stream %s: records of one append stored out of order (%" PRIu64 " after %" PRIu64
                ")",
                b->names[j].stream, b->seq[i], b->last[j]);
      return OCKAM_ESTORAGE;
    }
    b->last[j] = b->seq[i];
  }
  return OCKAM_OK;
}

static int js_append_batch(js_be *be, ockami_append *items, size_t n, const char *msgid) {
  js_batch b = {.msgid = msgid};
  uint64_t bytes = 0;
  int rc = js_batch_init(&b, items, n, &bytes);
  if (!rc) rc = js_batch_names(&b, items, n);
  uint64_t deadline =
      ockami_monotonic_ms() + JS_OP_TIMEOUT_MS + bytes * 1000u / JS_APPEND_BYTES_PER_S;
  if (!rc) rc = js_batch_streams(be, &b, items, n, deadline);
  if (!rc) rc = js_append_rounds(be, &b, items, n, deadline);
  if (!rc) rc = js_batch_outcome(&b, n);
  if (rc) {
    /* JetStream has no multi-message transaction: records of this call may
     * be stored even though the call failed (storage.h, docs/jetstream.md).
     * The front end sets rc as the status of the others. */
    if (rc != OCKAM_EUNAVAILABLE)
      LOG_WARN(JS_LOG, "append of %zu records failed: %s", n, ockam_errname(rc));
  } else {
    for (size_t i = 0; i < n; i++) {
      if (b.state[i] == JS_REC_FAILED) items[i].status = OCKAM_EOVERFLOW; /* refused as too large */
      if (b.state[i] != JS_REC_DONE) continue;
      items[i].index = b.seq[i] - 1;
      js_stream *e = ockami_js_stream_find(be, b.names[b.which[i]].digest);
      if (e && b.seq[i] > e->last_seq) e->last_seq = b.seq[i];
    }
  }
  js_batch_free(&b);
  return ockami_js_note(be, rc, "append");
}

/* ---- idempotent producers (storage.h) ---------------------------------------
 * JetStream has no transaction spanning a message and a KV entry, so a
 * producer's record is published with a message id made of (producer,
 * stream, session, sequence) and its state is written to the KV bucket right
 * after the acknowledgement. A hub that dies between the two leaves the state
 * one record behind; the producer's resend then publishes the same message
 * id, which JetStream answers with the original sequence as long as it comes
 * within the stream's duplicate window (JS_DUP_WINDOW_NS): inside it the
 * record is stored once, after it a second time. Hubs sharing the store meet
 * the same way: the same message id, and revision-checked state updates. */

/* Message id of a producer's record. */
static void js_idem_msgid(const ockami_append *it, char *out, size_t cap) {
  uint8_t key[OCKAMI_INDEX_KEY_MAX], digest[crypto_hash_sha256_BYTES];
  size_t key_len =
      ockami_index_key(it->producer, it->producer_len, it->stream, it->stream_len, key);
  crypto_hash_sha256(digest, key, key_len);
  char hex[2 * JS_DIGEST_LEN + 1];
  sodium_bin2hex(hex, sizeof hex, digest, JS_DIGEST_LEN);
  snprintf(out, cap, "p-%s-%" PRIu64 "-%" PRIu64, hex, it->session, it->seq);
}

/* One record of an idempotent producer, alone: decide, publish, record. */
static int js_append_idem(js_be *be, ockami_append *it) {
  char key[JS_PRODUCER_KEY_MAX];
  ockami_js_producer_key(it->producer, it->producer_len, it->stream, it->stream_len, key);
  uint64_t deadline = ockami_monotonic_ms() + JS_OP_TIMEOUT_MS;
  ockami_producer_state ps;
  uint64_t rev;
  int rc = ockami_js_producer_load(be, key, &ps, &rev, deadline);
  if (rc) return rc;
  if (!ockami_idem_admit(&ps, it)) return OCKAM_OK;
  char msgid[2 * JS_DIGEST_LEN + 48];
  js_idem_msgid(it, msgid, sizeof msgid);
  rc = js_append_batch(be, it, 1, msgid);
  if (rc || it->status) return rc;
  for (int attempt = 0;; attempt++) {
    ockami_producer_state next = ps;
    ockami_idem_commit(&next, it);
    bool conflict = false;
    rc = ockami_js_producer_store(be, key, &next, rev, &conflict);
    if (rc || !conflict) return rc;
    /* Another hub recorded something meanwhile: keep the newer state. */
    if ((rc = ockami_js_producer_load(be, key, &ps, &rev, deadline))) return rc;
    if (ps.seq != 0 && ps.session == it->session && ps.seq >= it->seq) return OCKAM_OK;
    if (attempt >= JS_INDEX_RETRIES || ockami_js_remaining_ms(deadline) <= 0) {
      LOG_ERROR(JS_LOG, "producer state %s: gave up after %d conflicting updates", key, attempt);
      return OCKAM_ESTORAGE;
    }
  }
}

int ockami_js_append(void *p, ockami_append *items, size_t n) {
  js_be *be = p;
  bool idem = false;
  for (size_t i = 0; i < n && !idem; i++) idem = !items[i].status && items[i].producer_len;
  if (!idem) return js_append_batch(be, items, n, NULL);
  /* Records of idempotent producers go one at a time, in order (each
   * decision needs the state the previous one left); so do the others of
   * the same call, to keep the order of each stream. */
  for (size_t i = 0; i < n; i++) {
    if (items[i].status) continue;
    int rc = items[i].producer_len ? js_append_idem(be, &items[i])
                                   : js_append_batch(be, &items[i], 1, NULL);
    if (rc) return rc;
  }
  return OCKAM_OK;
}
