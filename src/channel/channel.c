/* Secure channel workers (spec §6): the listener, and one worker per channel
 * end registered under two addresses: "remote" (talks to the peer through the
 * route) and "local" (plaintext from local workers). */
#include "ockam/channel.h"

#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "bare.h"
#include "batch.h"
#include "channel_internal.h"
#include "cipher.h"
#include "log.h"
#include "map.h"
#include "message.h"
#include "node.h"
#include "ockam/limits.h"
#include "wire.h"
#include "xx.h"

#define MOD "channel"
/* chan_seal_direct: the fast path does not apply (error codes are negative). */
#define CHAN_NOT_DIRECT 1

/* BARE LocalInfo{identifier: "SECURE_CHANNEL_ID", key_exchange: "NOISE_XX"}
 * (vector E13a): marks messages that came through a channel. */
static const uint8_t local_info_e13a[] = {0x11, 'S', 'E', 'C', 'U', 'R', 'E', '_', 'C',
                                          'H',  'A', 'N', 'N', 'E', 'L', '_', 'I', 'D',
                                          0x08, 'N', 'O', 'I', 'S', 'E', '_', 'X', 'X'};

typedef enum chan_state { CHAN_HANDSHAKE, CHAN_READY, CHAN_FAILED } chan_state;

typedef struct ockam_channel_listener listener;

typedef struct chan {
  ockam_worker *worker;
  ockam_vault *vault;
  listener *owner; /* responder: the listener that spawned it (NULL once detached) */
  chan_state state;
  bool initiator;
  uint8_t local_flags;
  char remote[33];       /* rA / rB */
  char local[33];        /* lA / lB */
  uint8_t key_e[32];     /* responder: initiator's ephemeral key, the listener's dedup key */
  uint8_t remote_flags;  /* responder: extensions the initiator announced in m1 */
  uint32_t remote_rekey; /* responder: rekey interval the initiator offered */
  uint32_t local_rekey;  /* rekey interval we offer */
  uint32_t rekey_ms;     /* time-based rekey period of our sending direction */
  ockam_timer *rekey_timer;
  uint64_t order;              /* responder: position in its listener's start order */
  uint64_t handshake_rejected; /* handshake messages dropped: did not authenticate */
  ockam_route remote_route;
  ockam_route callback; /* responder: KeyExchangeCompleted target (may be empty) */
  ockami_xx xx;
  ockami_cipher cipher;
  uint8_t h[32]; /* final handshake hash, kept for the identity layer (public value) */
  ockam_timer *timer;
  int result;         /* initiator: outcome for the blocking create */
  int *waiter_result; /* initiator: where a failure is reported while create waits */
  ockami_buf scratch;
  /* Batched records (both ends announced them): messages to `local` wait in
   * bq until the node's delivery queue is empty or, at the latest, the loop's
   * prepare phase (end of the iteration, before it polls), and go out as one
   * record. */
  bool batching;
  uv_prepare_t *bq_flush; /* active while bq holds messages */
  ockam_message *bq_head, *bq_tail;
  size_t bq_count, bq_bytes; /* messages waiting; their batch plaintext size */
  uint64_t batches_sent, batched_sent, batches_received, batched_received;
  /* Fast path (chan_seal_direct): the transport output remote_route starts
   * with, found under node direct epoch direct_epoch (NULL: none), and the
   * frame bytes every message to the peer starts with. */
  void *direct_out;
  uint64_t direct_epoch;
  bool direct_found;
  ockami_buf direct_head;
  uint64_t slow_mark; /* node enqueue count after our last message to the peer */
} chan;

/* The listener is the user's handle: worker is NULL once the listener stopped
 * (closed, or its node destroyed: see "Handles" in ockam/node.h). */
struct ockam_channel_listener {
  ockam_worker *worker;
  ockam_vault *vault;
  ockam_channel_options opt;
  ockami_map pending; /* initiator ephemeral key -> chan, while the chan lives */
  uint32_t handshaking;
  uint64_t started; /* responders started so far: their age order */
  uint64_t evicted; /* handshakes dropped to make room for newer ones */
};

static void chan_fail(chan *c, int err, const char *why);
static int batch_setup(chan *c);
static int batch_split(chan *c, uint8_t *plain, size_t plen);
static void batch_release(chan *c);

/* ---- helpers ------------------------------------------------------------------ */

static uint32_t timeout_of(const ockam_channel_options *o) {
  return o && o->handshake_timeout_ms ? o->handshake_timeout_ms : OCKAM_HANDSHAKE_TIMEOUT_MS;
}

/* A new message to the peer: onward remote_route, return [remote], empty payload. */
static int remote_message_new(chan *c, ockam_message **out) {
  ockam_message *m;
  int rc = ockam_message_new(&m);
  if (rc) return rc;
  if ((rc = ockami_route_assign(&m->onward, &c->remote_route)) ||
      (rc = ockam_route_append(&m->ret, OCKAM_ADDRESS_LOCAL, c->remote, strlen(c->remote)))) {
    ockam_message_free(m);
    return rc;
  }
  *out = m;
  return OCKAM_OK;
}

/* Send payload bytes (already BARE-encoded) from `from` to remote_route. */
static int send_remote(chan *c, const uint8_t *payload, size_t len) {
  if (ockami_log_threshold <= OCKAM_LOG_DEBUG) {
    char r[256];
    ockam_route_format(&c->remote_route, r, sizeof r);
    LOG_DEBUG(MOD, "channel %s: %zu bytes to %s", c->local, len, r);
  }
  ockam_message *m;
  int rc = remote_message_new(c, &m);
  if (rc) return rc;
  if ((rc = ockami_buf_set(&m->payload, payload, len)) ||
      (rc = ockam_send_message(ockam_worker_node(c->worker), m))) {
    ockam_message_free(m);
    return rc;
  }
  c->slow_mark = ockami_node_enqueued(ockam_worker_node(c->worker));
  return OCKAM_OK;
}

/* Send bytes wrapped as a BARE Vec<u8> (spec §6.2 steps 3-4, §6.3 step 5). */
static int send_remote_vec(chan *c, const uint8_t *p, size_t len) {
  c->scratch.len = 0;
  int rc = ockami_write_data(&c->scratch, p, len);
  if (rc) return rc;
  return send_remote(c, c->scratch.data, c->scratch.len);
}

/* ---- timers -------------------------------------------------------------------- */

static void handshake_timeout(void *arg) {
  chan *c = arg;
  c->timer = NULL;
  if (c->state == CHAN_HANDSHAKE) chan_fail(c, OCKAM_ETIMEDOUT, "handshake timed out");
}

static void chan_fail(chan *c, int err, const char *why) {
  if (c->state == CHAN_FAILED) return;
  /* Evictions are logged by the listener, rate-limited (floods). */
  if (err == OCKAM_EFULL)
    LOG_DEBUG(MOD, "channel %s: %s", c->local, why);
  else
    LOG_WARN(MOD, "channel %s: %s (%s)", c->local, why, ockam_strerror(err));
  /* A failed handshake frees its listener slot (chan_stopped only counts
   * channels still in handshake). */
  if (c->state == CHAN_HANDSHAKE && c->owner && c->owner->handshaking) c->owner->handshaking--;
  /* An identity channel end waiting for this handshake goes with it. */
  if (c->state == CHAN_HANDSHAKE && !c->initiator)
    ockami_identity_plain_failed(ockam_worker_node(c->worker), &c->callback);
  c->state = CHAN_FAILED;
  c->result = err;
  if (c->waiter_result) *c->waiter_result = err;
  ockam_worker_stop(c->worker);
}

static void rekey_tick(void *arg) {
  chan *c = arg;
  if (c->state != CHAN_READY) return;
  int rc = ockami_cipher_rekey_now(&c->cipher);
  if (rc) LOG_WARN(MOD, "channel %s: cannot rekey (%s)", c->local, ockam_strerror(rc));
}

/* Our handshake payload: the extension announcement (empty in 2021 mode). */
static size_t chan_offer(const chan *c, uint8_t out[static OCKAMI_EXT_PAYLOAD_REKEY_LEN]) {
  size_t len = 0;
  if (c->local_flags && ockami_ext_offer_write(c->local_flags, c->local_rekey, out,
                                               OCKAMI_EXT_PAYLOAD_REKEY_LEN, &len))
    len = 0;
  return len;
}

static void chan_ready(chan *c, uint8_t remote_flags, uint32_t remote_rekey) {
  ockam_secret enc = 0, dec = 0;
  uint8_t h[32];
  int rc = ockami_xx_split(&c->xx, true, &enc, &dec, h);
  ockami_framing framing = ockami_ext_select(c->local_flags, remote_flags);
  uint64_t rekey =
      ockami_ext_rekey_select(c->local_flags, c->local_rekey, remote_flags, remote_rekey);
  if (!rc) rc = ockami_cipher_init(&c->cipher, c->vault, framing, enc, dec);
  if (rc) {
    ockam_vault_secret_destroy(c->vault, enc);
    ockam_vault_secret_destroy(c->vault, dec);
    chan_fail(c, rc, "cannot derive transport keys");
    return;
  }
  if (rekey && (rc = ockami_cipher_enable_rekey(&c->cipher, rekey)) == OCKAM_OK &&
      ockam_timer_start(ockam_worker_node(c->worker), c->rekey_ms, c->rekey_ms, rekey_tick, c,
                        &c->rekey_timer) != OCKAM_OK)
    c->rekey_timer = NULL;
  if (rc) {
    chan_fail(c, rc, "cannot set up rekeying");
    return;
  }
  if (ockami_ext_batch_select(c->local_flags, remote_flags) && (rc = batch_setup(c))) {
    chan_fail(c, rc, "cannot set up batched records");
    return;
  }
  ockami_xx_clear(&c->xx);
  memcpy(c->h, h, sizeof h);
  if (c->timer) {
    ockam_timer_stop(c->timer);
    c->timer = NULL;
  }
  c->state = CHAN_READY;
  c->result = OCKAM_OK;
  if (c->owner && c->owner->handshaking) c->owner->handshaking--;
  LOG_DEBUG(MOD, "channel %s established as %s (%s framing, rekey every %llu%s)", c->local,
            c->initiator ? "initiator" : "responder",
            framing == OCKAMI_FRAMING_EXTENDED ? "extended" : "2021", (unsigned long long)rekey,
            c->batching ? ", batched records" : "");
  /* KeyExchangeCompleted{address: local, auth_hash: h} to the callback, if any. */
  if (c->callback.count) {
    ockami_buf b = OCKAMI_BUF_INIT;
    if (ockami_write_u8(&b, OCKAM_ADDRESS_LOCAL) == OCKAM_OK &&
        ockami_write_string(&b, c->local, strlen(c->local)) == OCKAM_OK &&
        ockami_write_fixed(&b, h, 32) == OCKAM_OK) {
      if (ockam_send(ockam_worker_node(c->worker), c->local, &c->callback, b.data, b.len))
        LOG_DEBUG(MOD, "cannot notify completion callback");
    }
    ockami_buf_free(&b);
  }
  sodium_memzero(h, sizeof h);
}

/* ---- data path -------------------------------------------------------------------- */

/* The transport output the route to the peer starts with (cached while the
 * node's direct epoch stays), and the bytes every frame to the peer starts
 * with: version, the onward route after the hops the transport consumes, and
 * the return route [remote], as the transport would encode the message that
 * remote_message_new builds. */
static void *chan_direct_out(chan *c, ockam_node *node, const ockami_direct_output *d) {
  uint64_t epoch = ockami_node_direct_epoch(node);
  if (c->direct_found && c->direct_epoch == epoch) return c->direct_out;
  c->direct_found = true;
  c->direct_epoch = epoch;
  uint32_t skip = 0;
  c->direct_out = d->find(d->ctx, &c->remote_route, &skip);
  if (!c->direct_out) return NULL;
  ockam_route rest = OCKAMI_ROUTE_INIT;
  ockami_buf *h = &c->direct_head;
  h->len = 0;
  int rc = ockami_route_assign(&rest, &c->remote_route);
  for (uint32_t i = 0; !rc && i < skip; i++) ockam_route_pop(&rest);
  if (!rc) rc = ockami_write_u8(h, 1);
  if (!rc) rc = ockami_route_encode(&rest, h);
  if (!rc) rc = ockami_write_uint(h, 1);
  if (!rc) rc = ockami_write_u8(h, OCKAM_ADDRESS_LOCAL);
  if (!rc) rc = ockami_write_string(h, c->remote, strlen(c->remote));
  ockami_route_release(&rest);
  if (rc) c->direct_out = NULL;
  return c->direct_out;
}

/* Fast path of chan_seal: when the route to the peer starts with a
 * connection of a transport that frames messages itself (TCP), the
 * plaintext TransportMessage is encoded where its ciphertext goes in that
 * connection's output buffer and sealed in place: no outgoing message, no
 * dispatch, one copy of the payload fewer. The frame is byte for byte the one
 * the slow path makes. CHAN_NOT_DIRECT: not taken, use the slow path. */
/* Writes a record's plaintext of exactly plen bytes at dst. */
typedef int (*chan_plain_fn)(const ockam_message *m, uint8_t *dst, size_t plen);

static int plain_one(const ockam_message *m, uint8_t *dst, size_t plen) {
  size_t enc = 0;
  int rc = ockami_tm_encode_to(m, dst, plen, &enc);
  return !rc && enc != plen ? OCKAM_EINVAL : rc;
}

static int chan_seal_direct(chan *c, chan_plain_fn plain, const ockam_message *m, size_t plen,
                            size_t blen) {
  ockam_node *node = ockam_worker_node(c->worker);
  const ockami_direct_output *d = ockami_node_direct(node);
  /* Our messages still queued for the peer (the handshake's last, say) go
   * out first: the fast path would overtake them. */
  if (!d || ockami_node_dequeued(node) < c->slow_mark) return CHAN_NOT_DIRECT;
  void *out = chan_direct_out(c, node, d);
  if (!out) return CHAN_NOT_DIRECT;
  /* The message's payload is the blob as a BARE Vec<u8> (len = vec + blen
   * bytes), which the frame holds as a Vec<u8> of its own. */
  if (blen > OCKAM_FRAME_MAX) return CHAN_NOT_DIRECT;
  size_t head = c->direct_head.len, vec = ockami_uint_size(blen);
  size_t outer = ockami_uint_size(vec + blen), body = head + outer + vec + blen;
  if (body > OCKAM_FRAME_MAX) return CHAN_NOT_DIRECT;
  uint8_t *p = d->reserve(d->ctx, out, body);
  if (!p) return CHAN_NOT_DIRECT;
  memcpy(p, c->direct_head.data, head);
  uint8_t v[10];
  ockami_uint_encode(vec + blen, v);
  memcpy(p + head, v, outer);
  ockami_uint_encode(blen, v);
  memcpy(p + head + outer, v, vec);
  uint8_t *blob = p + head + outer + vec;
  size_t hdr = blen - plen - OCKAM_AEAD_TAG_LEN, got = 0;
  int rc = plain(m, blob + hdr, plen);
  if (!rc) rc = ockami_cipher_encrypt(&c->cipher, blob + hdr, plen, blob, blen, &got);
  if (!rc && got != blen) rc = OCKAM_EINVAL;
  if (rc) {
    sodium_memzero(blob, blen); /* never leave plaintext behind in the buffer */
    return rc;
  }
  d->commit(d->ctx, out, body);
  return OCKAM_OK;
}

/* Seal one message (its onward route already popped) as one record. */
static int chan_seal(chan *c, ockam_message *m) {
  /* The outgoing payload is a BARE Vec<u8> holding header || ciphertext ||
   * tag. The plaintext TransportMessage is encoded where its ciphertext goes
   * and sealed in place: no buffer besides the outgoing message. */
  size_t overhead = ockami_cipher_overhead(c->cipher.framing);
  size_t hdr = overhead - OCKAM_AEAD_TAG_LEN;
  size_t plen = ockami_tm_size(m);
  size_t blen = plen + overhead;
  int rc = chan_seal_direct(c, plain_one, m, plen, blen);
  if (rc != CHAN_NOT_DIRECT) {
    if (rc == OCKAM_ENONCE) LOG_WARN(MOD, "channel %s: nonce space exhausted", c->local);
    return rc;
  }
  ockam_message *out = NULL;
  rc = remote_message_new(c, &out);
  if (!rc) rc = ockami_buf_reserve(&out->payload, ockami_uint_size(blen) + blen);
  if (!rc) rc = ockami_write_uint(&out->payload, blen);
  if (!rc) {
    ockami_buf *p = &out->payload;
    size_t off = p->len, got = 0;
    p->len = off + hdr;
    rc = ockami_tm_encode(m, p);
    if (!rc && p->len != off + hdr + plen) rc = OCKAM_EINVAL;
    if (!rc)
      rc = ockami_cipher_encrypt(&c->cipher, p->data + off + hdr, plen, p->data + off, p->cap - off,
                                 &got);
    p->len = off + got;
  }
  if (!rc) rc = ockam_send_message(ockam_worker_node(c->worker), out);
  if (!rc) c->slow_mark = ockami_node_enqueued(ockam_worker_node(c->worker));
  if (rc && out) {
    /* Never leave plaintext behind in freed memory. */
    if (out->payload.data) sodium_memzero(out->payload.data, out->payload.cap);
    ockam_message_free(out);
  }
  if (rc == OCKAM_ENONCE) LOG_WARN(MOD, "channel %s: nonce space exhausted", c->local);
  return rc;
}

/* ---- batched records (docs/protocol-extensions.md, "Batched records") --------------- */

/* Messages larger than this are sealed on their own (after what is queued):
 * batching pays off for small messages; from about 1 KiB up, the copy each
 * batched message costs the receiver outweighs the AEAD call it saves
 * (bench_channel --batch 0 vs default, docs/BENCHMARKS.md). */
#define BATCH_ITEM_SMALL 512u
/* Plaintext of one batched record we send (receivers accept up to
 * OCKAMI_BATCH_MAX): like a TLS record, and far enough below the TCP frame
 * limit (OCKAM_FRAME_MAX) to leave room for long routes. */
#define BATCH_SEND_MAX 16384u

static void batch_free_list(ockam_message *m) {
  while (m) {
    ockam_message *next = m->next;
    m->next = NULL;
    ockam_message_free(m);
    m = next;
  }
}

/* Frees the messages of a sealed queue, except one still being delivered
 * (not kept: the node frees it after its handler returns). */
static void batch_free_queue(ockam_message *m) {
  while (m) {
    ockam_message *next = m->next;
    m->next = NULL;
    if (m->flags & OCKAMI_MSG_HANDED_OFF) ockam_message_free(m);
    m = next;
  }
}

/* Seal what bq holds: one message as a plain record (today's format), two
 * or more as one batched record. */
static int batch_flush(chan *c) {
  ockam_message *head = c->bq_head;
  size_t count = c->bq_count, bytes = c->bq_bytes;
  c->bq_head = c->bq_tail = NULL;
  c->bq_count = c->bq_bytes = 0;
  if (c->bq_flush) uv_prepare_stop(c->bq_flush);
  if (!head) return OCKAM_OK;
  if (count == 1) {
    int rc = chan_seal(c, head);
    batch_free_queue(head);
    return rc;
  }
  size_t overhead = ockami_cipher_overhead(c->cipher.framing);
  size_t hdr = overhead - OCKAM_AEAD_TAG_LEN;
  size_t blen = bytes + overhead;
  /* Straight into the TCP connection's output when it can, as chan_seal. */
  int rc = chan_seal_direct(c, ockami_batch_encode_list, head, bytes, blen);
  if (rc == CHAN_NOT_DIRECT) {
    ockam_message *out = NULL;
    rc = remote_message_new(c, &out);
    if (!rc) rc = ockami_buf_reserve(&out->payload, ockami_uint_size(blen) + blen);
    if (!rc) rc = ockami_write_uint(&out->payload, blen);
    if (!rc) {
      /* Encoded where its ciphertext goes and sealed in place. */
      ockami_buf *p = &out->payload;
      size_t off = p->len, got = 0;
      if (p->cap - off < blen) rc = OCKAM_EINVAL;
      if (!rc) rc = ockami_batch_encode_list(head, p->data + off + hdr, bytes);
      if (!rc)
        rc = ockami_cipher_encrypt(&c->cipher, p->data + off + hdr, bytes, p->data + off,
                                   p->cap - off, &got);
      p->len = off + got;
    }
    if (!rc) rc = ockam_send_message(ockam_worker_node(c->worker), out);
    if (!rc) c->slow_mark = ockami_node_enqueued(ockam_worker_node(c->worker));
    if (rc && out) {
      if (out->payload.data) sodium_memzero(out->payload.data, out->payload.cap);
      ockam_message_free(out);
    }
  }
  if (!rc) {
    c->batches_sent++;
    c->batched_sent += count;
  } else {
    LOG_WARN(MOD, "channel %s: dropped a batch of %zu messages (%s)", c->local, count,
             ockam_strerror(rc));
  }
  batch_free_queue(head);
  return rc;
}

static void batch_prepare_cb(uv_prepare_t *h) {
  chan *c = h->data;
  uv_prepare_stop(h);
  if (c && c->state == CHAN_READY) (void)batch_flush(c);
}

/* Queue a message (onward route popped) for the end of the loop iteration. */
static int batch_queue(chan *c, ockam_message *m) {
  size_t len = ockami_tm_size(m);
  if (len > BATCH_ITEM_SMALL) {
    /* Keep the order: what waits goes first. */
    int rc = batch_flush(c);
    int rc2 = chan_seal(c, m);
    return rc ? rc : rc2;
  }
  size_t item = OCKAMI_BATCH_ITEM_HEADER + len;
  if (c->bq_count &&
      (c->bq_count >= OCKAMI_BATCH_MAX_COUNT || c->bq_bytes + item > BATCH_SEND_MAX)) {
    /* The record is full: seal it now and start the next one. */
    (void)batch_flush(c);
  }
  if (!c->bq_count) c->bq_bytes = OCKAMI_BATCH_HEADER;
  ockam_message_keep(m);
  m->next = NULL;
  if (c->bq_tail)
    c->bq_tail->next = m;
  else
    c->bq_head = m;
  c->bq_tail = m;
  c->bq_count++;
  c->bq_bytes += item;
  /* Nothing else is waiting for delivery in this node, so nothing more can
   * reach the channel before the iteration ends: seal now, and the record
   * goes out in this same dispatch pass, as an unbatched one would. */
  if (ockami_node_queue_len(ockam_worker_node(c->worker)) == 0) {
    /* m is the message being delivered: the node frees it after this
     * handler, so the sealed queue must not. */
    m->flags &= ~(uint32_t)OCKAMI_MSG_HANDED_OFF;
    return batch_flush(c);
  }
  if (c->bq_count == 1) uv_prepare_start(c->bq_flush, batch_prepare_cb);
  return OCKAM_OK;
}

/* The opened plaintext of a batched record: check all of it, decode every
 * message, then deliver them in order; a malformed batch delivers nothing. */
static int batch_split(chan *c, uint8_t *plain, size_t plen) {
  ockami_batch_reader r;
  size_t count = 0;
  ockam_message *head = NULL, *tail = NULL;
  int rc = ockami_batch_open(&r, plain, plen, &count);
  const uint8_t *item;
  size_t len;
  while (!rc && ockami_batch_next(&r, &item, &len)) {
    ockam_message *inner;
    if ((rc = ockam_message_new(&inner))) break;
    inner->next = NULL;
    if (tail)
      tail->next = inner;
    else
      head = inner;
    tail = inner;
    rc = ockami_tm_decode(item, len, true, inner);
    if (!rc && inner->onward.count == 0) rc = OCKAM_EMALFORMED;
    if (!rc) rc = ockam_route_prepend(&inner->ret, OCKAM_ADDRESS_LOCAL, c->local, strlen(c->local));
    if (!rc) rc = ockami_buf_set(&inner->local_info, local_info_e13a, sizeof local_info_e13a);
    inner->flags |= OCKAMI_MSG_VIA_CHANNEL;
  }
  sodium_memzero(plain, plen);
  if (rc) {
    batch_free_list(head);
    if (rc != OCKAM_ENOMEM) c->cipher.stats.malformed++;
    LOG_WARN(MOD, "channel %s: dropped a malformed batched record of %zu bytes (%s)", c->local,
             plen, ockam_strerror(rc));
    return rc;
  }
  c->batches_received++;
  c->batched_received += count;
  ockam_node *node = ockam_worker_node(c->worker);
  while (head) {
    ockam_message *m = head;
    head = m->next;
    m->next = NULL;
    if ((rc = ockam_send_message(node, m))) {
      ockam_message_free(m);
      batch_free_list(head);
      return rc;
    }
  }
  return OCKAM_OK;
}

static int batch_setup(chan *c) {
  c->bq_flush = malloc(sizeof *c->bq_flush);
  if (!c->bq_flush) return OCKAM_ENOMEM;
  uv_prepare_init(ockami_node_uv(ockam_worker_node(c->worker)), c->bq_flush);
  c->bq_flush->data = c;
  c->batching = true;
  return OCKAM_OK;
}

static void batch_handle_closed(uv_handle_t *h) {
  free(h);
}

/* The channel stops: what was sent to it before still goes out. */
static void batch_release(chan *c) {
  if (c->bq_head && c->state == CHAN_READY) (void)batch_flush(c);
  batch_free_list(c->bq_head);
  c->bq_head = c->bq_tail = NULL;
  if (c->bq_flush) {
    c->bq_flush->data = NULL;
    uv_prepare_stop(c->bq_flush);
    uv_close((uv_handle_t *)c->bq_flush, batch_handle_closed);
    c->bq_flush = NULL;
  }
}

/* Plaintext from a local worker: onward [local, rest...]. */
static int chan_encrypt(chan *c, ockam_message *m) {
  if (c->state != CHAN_READY) {
    LOG_WARN(MOD, "channel %s not established; dropping message", c->local);
    return OCKAM_ESTATE;
  }
  ockam_route_pop(&m->onward);
  if (c->batching) return batch_queue(c, m);
  return chan_seal(c, m);
}

/* Ciphertext from the peer. */
static int chan_decrypt(chan *c, ockam_message *m) {
  ockami_reader r;
  ockami_reader_init(&r, m->payload.data, m->payload.len);
  const uint8_t *blob;
  size_t blen;
  int rc = ockami_read_data(&r, OCKAM_PAYLOAD_MAX, &blob, &blen);
  if (rc) {
    c->cipher.stats.malformed++;
    return rc;
  }
  /* Open in place: the runtime owns m and frees it after this handler, so
   * its payload can hold the plaintext, which is wiped once decoded. */
  size_t hdr = ockami_cipher_overhead(c->cipher.framing) - OCKAM_AEAD_TAG_LEN;
  uint8_t *plain = blen >= hdr ? m->payload.data + (blob - m->payload.data) + hdr : NULL;
  size_t plen = 0;
  rc = ockami_cipher_decrypt(&c->cipher, blob, blen, plain, plain ? blen - hdr : 0, &plen);
  if (rc) {
    LOG_DEBUG(MOD, "channel %s: dropped a message (%s)", c->local, ockam_strerror(rc));
    return rc;
  }
  if (c->batching && ockami_batch_is(plain, plen)) return batch_split(c, plain, plen);
  /* The inner message is m itself: its routes are replaced by the decoded
   * ones and its payload, read in place, moves to the front of the buffer
   * that holds it; the rest of the plaintext is wiped. */
  const uint8_t *payload = NULL;
  size_t len = 0;
  rc = ockami_tm_decode_routes(plain, plen, false, m, &payload, &len);
  if (rc || m->onward.count == 0) {
    sodium_memzero(plain, plen);
    if (rc) c->cipher.stats.malformed++;
    return rc ? rc : OCKAM_EINVAL;
  }
  memmove(m->payload.data, payload, len);
  uint8_t *end = plain + plen;
  if (end > m->payload.data + len)
    sodium_memzero(m->payload.data + len, (size_t)(end - (m->payload.data + len)));
  m->payload.len = len;
  m->flags = OCKAMI_MSG_VIA_CHANNEL;
  rc = ockam_route_prepend(&m->ret, OCKAM_ADDRESS_LOCAL, c->local, strlen(c->local));
  if (!rc) rc = ockami_buf_set(&m->local_info, local_info_e13a, sizeof local_info_e13a);
  if (!rc) rc = ockam_send_message(ockam_worker_node(c->worker), m);
  if (rc) sodium_memzero(m->payload.data, m->payload.len);
  return rc;
}

/* ---- handshake path ------------------------------------------------------------------ */

static int responder_send_m2(chan *c) {
  uint8_t payload[OCKAMI_EXT_PAYLOAD_REKEY_LEN];
  size_t plen = chan_offer(c, payload);
  uint8_t m2[OCKAMI_XX_M2_MIN + OCKAMI_EXT_PAYLOAD_REKEY_LEN];
  size_t m2len;
  int rc = ockami_xx_write(&c->xx, payload, plen, m2, sizeof m2, &m2len);
  if (!rc) rc = send_remote_vec(c, m2, m2len);
  return rc;
}

/* One secret of a handshake copied for xx_fork (shared when not owned). */
static int secret_copy(ockam_vault *v, ockam_secret src, bool own, ockam_secret *out) {
  *out = 0;
  if (!src || !own) {
    *out = src;
    return OCKAM_OK;
  }
  ockam_secret_type type;
  uint8_t buf[64];
  size_t len = 0;
  int rc = ockam_vault_secret_info(v, src, &type, NULL);
  if (!rc) rc = ockam_vault_secret_export(v, src, buf, sizeof buf, &len);
  if (!rc) rc = ockam_vault_secret_import(v, type, buf, len, out);
  sodium_memzero(buf, sizeof buf);
  return rc;
}

/* A copy of the handshake with its own copies of the secrets, so that a
 * message can be tried on the copy and the handshake kept unchanged when the
 * message does not authenticate: anyone who can reach the channel's remote
 * address (e.g. by pushing into the stream it reads) could otherwise abort
 * it with one garbage message. */
static int xx_fork(const ockami_xx *src, ockami_xx *dst) {
  *dst = *src;
  dst->ck = dst->k = dst->e = dst->s = 0;
  int rc = secret_copy(src->vault, src->ck, true, &dst->ck);
  if (!rc) rc = secret_copy(src->vault, src->k, true, &dst->k);
  if (!rc) rc = secret_copy(src->vault, src->e, src->own_e, &dst->e);
  if (!rc) rc = secret_copy(src->vault, src->s, src->own_s, &dst->s);
  if (rc) ockami_xx_clear(dst);
  return rc;
}

/* Read a handshake message on a copy; adopt the copy only if it authenticated. */
static int xx_try_read(chan *c, const uint8_t *msg, size_t len, uint8_t *payload, size_t cap,
                       size_t *plen) {
  ockami_xx trial;
  int rc = xx_fork(&c->xx, &trial);
  if (rc) return rc;
  rc = ockami_xx_read(&trial, msg, len, payload, cap, plen);
  if (rc) {
    ockami_xx_clear(&trial);
    c->handshake_rejected++;
    LOG_WARN(MOD,
             "channel %s: dropped a handshake message that does not authenticate (%llu so far)",
             c->local, (unsigned long long)c->handshake_rejected);
    return rc;
  }
  ockami_xx_clear(&c->xx);
  c->xx = trial;
  return OCKAM_OK;
}

static int chan_handshake(chan *c, ockam_message *m) {
  ockami_reader r;
  ockami_reader_init(&r, m->payload.data, m->payload.len);
  const uint8_t *msg;
  size_t len;
  int rc = ockami_read_data(&r, OCKAMI_XX_MSG_MAX, &msg, &len);
  if (rc) return rc;
  uint8_t payload[256];
  size_t plen = 0;
  ockami_xx_state st = ockami_xx_get_state(&c->xx);
  if ((c->initiator && st == OCKAMI_XX_READ_M2) || (!c->initiator && st == OCKAMI_XX_READ_M3)) {
    /* A message that does not authenticate changes nothing; the honest one
     * may still come. */
    if ((rc = xx_try_read(c, msg, len, payload, sizeof payload, &plen))) return rc;
    /* Answer along the path the authenticated message came (spec §6.2). */
    if ((rc = ockami_route_assign(&c->remote_route, &m->ret))) {
      chan_fail(c, rc, "cannot keep the route to the peer");
      return rc;
    }
  }
  if (c->initiator && st == OCKAMI_XX_READ_M2) {
    uint32_t remote_rekey;
    uint8_t remote_flags = ockami_ext_offer_parse(payload, plen, &remote_rekey);
    /* m3 carries no payload: the responder learnt our flags from m1. */
    uint8_t m3[OCKAMI_XX_M3_MIN];
    size_t m3len;
    rc = ockami_xx_write(&c->xx, NULL, 0, m3, sizeof m3, &m3len);
    if (!rc) rc = send_remote_vec(c, m3, m3len);
    if (rc) {
      chan_fail(c, rc, "cannot send handshake message 3");
      return rc;
    }
    chan_ready(c, remote_flags, remote_rekey);
    return OCKAM_OK;
  }
  if (!c->initiator && st == OCKAMI_XX_READ_M3) {
    chan_ready(c, c->remote_flags, c->remote_rekey);
    return OCKAM_OK;
  }
  return OCKAM_ESTATE;
}

/* ---- the channel worker ------------------------------------------------------------------ */

static int chan_handle(ockam_worker *w, ockam_message *m) {
  chan *c = ockam_worker_user(w);
  if (!c || c->state == CHAN_FAILED) return OCKAM_ECLOSED;
  ockam_address a;
  if (!ockami_route_first(&m->onward, &a)) return OCKAM_EINVAL;
  if (ockami_address_is(&a, OCKAM_ADDRESS_LOCAL, c->local)) return chan_encrypt(c, m);
  /* Remote address: handshake until keys exist, ciphertext afterwards (spec §6.2). */
  if (c->state == CHAN_HANDSHAKE) return chan_handshake(c, m);
  return chan_decrypt(c, m);
}

static void chan_stopped(ockam_worker *w) {
  chan *c = ockam_worker_user(w);
  if (!c) return;
  if (c->owner) {
    if (c->state == CHAN_HANDSHAKE && c->owner->handshaking) c->owner->handshaking--;
    ockami_map_remove(&c->owner->pending, c->key_e, 32);
  }
  if (c->timer) ockam_timer_stop(c->timer);
  if (c->rekey_timer) ockam_timer_stop(c->rekey_timer);
  batch_release(c);
  ockami_xx_clear(&c->xx);
  ockami_cipher_clear(&c->cipher);
  ockami_route_release(&c->remote_route);
  ockami_route_release(&c->callback);
  ockami_buf_free(&c->scratch);
  ockami_buf_free(&c->direct_head);
  sodium_memzero(c->h, sizeof c->h);
  free(c);
}

static const ockam_worker_ops chan_ops = {chan_handle, chan_stopped};

static int chan_new(ockam_node *node, ockam_vault *vault, bool initiator,
                    const ockam_channel_options *opts, chan **out) {
  chan *c = calloc(1, sizeof *c);
  if (!c) return OCKAM_ENOMEM;
  c->vault = vault;
  c->initiator = initiator;
  c->state = CHAN_HANDSHAKE;
  c->result = OCKAM_ETIMEDOUT;
  c->local_flags = opts && opts->compat_2021 ? 0 : OCKAMI_EXT_FLAG_EXTENDED_FRAMING;
  if (c->local_flags && !(opts && opts->no_rekey)) c->local_flags |= OCKAMI_EXT_FLAG_REKEY;
  if (c->local_flags && !(opts && opts->no_batch)) c->local_flags |= OCKAMI_EXT_FLAG_BATCH;
  c->local_rekey = opts && opts->rekey_messages ? opts->rekey_messages : OCKAM_REKEY_MESSAGES;
  c->rekey_ms = opts && opts->rekey_ms ? opts->rekey_ms : OCKAM_REKEY_INTERVAL_MS;
  ockam_random_address(c->remote);
  ockam_random_address(c->local);
  int rc = ockami_xx_init(&c->xx, vault, initiator, NULL, 0, 0, 0);
  if (rc) {
    free(c);
    return rc;
  }
  const char *addrs[2] = {c->remote, c->local};
  rc = ockam_worker_start(node, addrs, 2, &chan_ops, c, &c->worker);
  if (rc) {
    ockami_xx_clear(&c->xx);
    free(c);
    return rc;
  }
  if (ockam_timer_start(node, timeout_of(opts), 0, handshake_timeout, c, &c->timer) != OCKAM_OK)
    c->timer = NULL;
  *out = c;
  return OCKAM_OK;
}

/* ---- listener ----------------------------------------------------------------------------- */

static int listener_handle(ockam_worker *w, ockam_message *m) {
  listener *l = ockam_worker_user(w);
  ockam_node *node = ockam_worker_node(w);
  /* CreateResponderChannelMessage { payload: Vec<u8>, completed_callback_address: Option<Address> }
   */
  ockami_reader r;
  ockami_reader_init(&r, m->payload.data, m->payload.len);
  const uint8_t *m1;
  size_t m1len;
  bool has_cb = false;
  uint8_t cb_type = 0;
  const uint8_t *cb_value = NULL;
  size_t cb_len = 0;
  int rc = ockami_read_data(&r, OCKAMI_XX_MSG_MAX, &m1, &m1len);
  if (!rc) rc = ockami_read_option(&r, &has_cb);
  if (!rc && has_cb) {
    rc = ockami_read_u8(&r, &cb_type);
    if (!rc) rc = ockami_read_data(&r, OCKAM_ADDRESS_MAX_LEN, &cb_value, &cb_len);
  }
  /* The completion notice is for a worker of this node (identity spec §6.3
   * step 1): a callback elsewhere would have us send to wherever a request
   * names. */
  if (!rc && has_cb && (cb_type != OCKAM_ADDRESS_LOCAL || cb_len == 0)) rc = OCKAM_EMALFORMED;
  if (rc || m1len < OCKAMI_XX_M1_MIN || m->ret.count == 0) {
    LOG_WARN(MOD, "listener %s: malformed channel request dropped", ockam_worker_address(w));
    return rc ? rc : OCKAM_EMALFORMED;
  }
  /* A redelivered request (stream at-least-once) names an ephemeral key we
   * already answered: keep the first responder, ignore the copy. */
  if (ockami_map_get(&l->pending, m1, 32)) {
    LOG_DEBUG(MOD, "listener: duplicate channel request ignored");
    return OCKAM_OK;
  }
  uint32_t max = l->opt.max_pending ? l->opt.max_pending : OCKAM_CHANNEL_MAX_PENDING;
  if (l->handshaking >= max) {
    /* Make room by abandoning the oldest unfinished handshake: a flood of
     * requests that never complete then cannot lock honest peers out until
     * the flood's handshakes time out. */
    chan *oldest = NULL;
    size_t b = 0;
    for (ockami_map_entry *e = ockami_map_next(&l->pending, &b, NULL); e;
         e = ockami_map_next(&l->pending, &b, e)) {
      chan *p = e->value;
      if (p->state == CHAN_HANDSHAKE && (!oldest || p->order < oldest->order)) oldest = p;
    }
    if (!oldest) {
      LOG_WARN(MOD, "listener: %u handshakes in progress; request dropped", l->handshaking);
      return OCKAM_EFULL;
    }
    if (l->evicted++ % 1000 == 0)
      LOG_WARN(MOD, "listener: %u handshakes in progress; abandoning the oldest (%llu so far)",
               l->handshaking, (unsigned long long)l->evicted);
    chan_fail(oldest, OCKAM_EFULL, "handshake abandoned for a newer one");
  }
  chan *c;
  rc = chan_new(node, l->vault, false, &l->opt, &c);
  if (rc) return rc;
  c->owner = l;
  c->order = ++l->started;
  memcpy(c->key_e, m1, 32);
  l->handshaking++;
  if (ockami_map_put(&l->pending, c->key_e, 32, c) != OCKAM_OK) c->owner = NULL;
  if ((rc = ockami_route_assign(&c->remote_route, &m->ret))) goto fail;
  if (has_cb && (rc = ockam_route_append(&c->callback, cb_type, cb_value, cb_len))) goto fail;
  uint8_t payload[256];
  size_t plen = 0;
  if ((rc = ockami_xx_read(&c->xx, m1, m1len, payload, sizeof payload, &plen))) goto fail;
  c->remote_flags = ockami_ext_offer_parse(payload, plen, &c->remote_rekey);
  if ((rc = responder_send_m2(c))) goto fail;
  return OCKAM_OK;
fail:
  chan_fail(c, rc, "cannot answer channel request");
  return rc;
}

/* Responders outlive their listener: detach them. */
static void listener_release(listener *l) {
  size_t b = 0;
  for (ockami_map_entry *e = ockami_map_next(&l->pending, &b, NULL); e;
       e = ockami_map_next(&l->pending, &b, e)) {
    ((chan *)e->value)->owner = NULL;
  }
  ockami_map_free(&l->pending);
  l->worker = NULL;
}

/* Only the node's destruction stops an attached listener worker:
 * ockam_channel_listener_close() detaches first. */
static void listener_stopped(ockam_worker *w) {
  listener *l = ockam_worker_user(w);
  if (l) listener_release(l);
}

static const ockam_worker_ops listener_ops = {listener_handle, listener_stopped};

int ockam_channel_listener_create(ockam_node *node, const char *address, ockam_vault *vault,
                                  const ockam_channel_options *opts, ockam_channel_listener **out) {
  if (!node || !address || !vault || !out) return OCKAM_EINVAL;
  listener *l = calloc(1, sizeof *l);
  if (!l) return OCKAM_ENOMEM;
  l->vault = vault;
  if (opts) l->opt = *opts;
  ockami_map_init(&l->pending);
  const char *addrs[1] = {address};
  int rc = ockam_worker_start(node, addrs, 1, &listener_ops, l, &l->worker);
  if (rc) {
    ockami_map_free(&l->pending);
    free(l);
    return rc;
  }
  *out = l;
  return OCKAM_OK;
}

void ockam_channel_listener_close(ockam_channel_listener *l) {
  if (!l) return;
  if (l->worker) {
    ockami_worker_set_user(l->worker, NULL);
    ockam_worker_stop(l->worker);
    listener_release(l);
  }
  free(l);
}

/* ---- initiator ------------------------------------------------------------------------------ */

typedef struct create_wait {
  ockam_node *node;
  char local[33];
} create_wait;

static chan *find_chan(ockam_node *node, const char *local) {
  ockam_worker *w = ockami_node_find(node, local, strlen(local));
  if (!w || ockami_worker_ops(w) != &chan_ops) return NULL;
  return ockam_worker_user(w);
}

static bool create_done(void *arg) {
  create_wait *cw = arg;
  chan *c = find_chan(cw->node, cw->local);
  return !c || c->state != CHAN_HANDSHAKE;
}

int ockami_channel_initiate(ockam_node *node, const ockam_route *route, ockam_vault *vault,
                            const ockam_channel_options *opts, const char *callback,
                            char local[static 33]) {
  if (!node || !route || !vault || ockam_route_len(route) == 0) return OCKAM_EINVAL;
  if (callback && (!*callback || strlen(callback) > OCKAM_ADDRESS_MAX_LEN)) return OCKAM_EINVAL;
  chan *c;
  int rc = chan_new(node, vault, true, opts, &c);
  if (rc) return rc;
  if ((rc = ockami_route_assign(&c->remote_route, route))) goto fail;
  /* The completion notice goes to the local callback (identity layer). */
  if (callback &&
      (rc = ockam_route_append(&c->callback, OCKAM_ADDRESS_LOCAL, callback, strlen(callback))))
    goto fail;
  uint8_t payload[OCKAMI_EXT_PAYLOAD_REKEY_LEN];
  size_t plen = chan_offer(c, payload);
  uint8_t m1[OCKAMI_XX_M1_MIN + OCKAMI_EXT_PAYLOAD_REKEY_LEN];
  size_t m1len;
  if ((rc = ockami_xx_write(&c->xx, payload, plen, m1, sizeof m1, &m1len))) goto fail;
  /* CreateResponderChannelMessage{payload: m1, completed_callback_address:
   * None, or Some(0#callback) for the identity layer (identity spec §6.3 step 1)} */
  c->scratch.len = 0;
  if ((rc = ockami_write_data(&c->scratch, m1, m1len)) ||
      (rc = ockami_write_option(&c->scratch, callback != NULL)))
    goto fail;
  if (callback && ((rc = ockami_write_u8(&c->scratch, OCKAM_ADDRESS_LOCAL)) ||
                   (rc = ockami_write_string(&c->scratch, callback, strlen(callback)))))
    goto fail;
  if ((rc = send_remote(c, c->scratch.data, c->scratch.len))) goto fail;
  memcpy(local, c->local, 33);
  return OCKAM_OK;
fail:
  chan_fail(c, rc, "cannot start handshake");
  return rc;
}

int ockami_channel_completed(ockam_node *node, const char *local, const char *callback,
                             uint8_t h[static 32]) {
  chan *c = find_chan(node, local);
  if (!c) return OCKAM_ENOTFOUND;
  if (c->state != CHAN_READY) return OCKAM_ESTATE;
  ockam_address a;
  if (c->callback.count != 1 || !ockami_route_first(&c->callback, &a) ||
      !ockami_address_is(&a, OCKAM_ADDRESS_LOCAL, callback))
    return OCKAM_EPROTO;
  memcpy(h, c->h, 32);
  return OCKAM_OK;
}

void ockami_channel_set_waiter(ockam_node *node, const char *local, int *result) {
  chan *c = find_chan(node, local);
  if (c) c->waiter_result = result;
}

int ockami_channel_failed(ockam_node *node, const char *local) {
  chan *c = find_chan(node, local);
  if (!c) return OCKAM_ECLOSED;
  return c->state == CHAN_FAILED ? (c->result ? c->result : OCKAM_ECLOSED) : OCKAM_OK;
}

int ockam_channel_create(ockam_node *node, const ockam_route *route, ockam_vault *vault,
                         const ockam_channel_options *opts, int64_t timeout_ms,
                         char *channel_address, size_t cap) {
  if (cap < 33 && channel_address) return OCKAM_ETOOSMALL;
  if (!node || !route || !vault || !channel_address || ockam_route_len(route) == 0)
    return OCKAM_EINVAL;
  create_wait cw = {node, ""};
  int rc = ockami_channel_initiate(node, route, vault, opts, NULL, cw.local);
  if (rc) return rc;
  chan *c = find_chan(node, cw.local);
  int failure = OCKAM_ETIMEDOUT;
  if (c) c->waiter_result = &failure;
  rc = ockam_node_run_until(node, timeout_ms, create_done, &cw);
  c = find_chan(node, cw.local);
  if (c) c->waiter_result = NULL;
  if (c && c->state == CHAN_READY) {
    snprintf(channel_address, cap, "%s", c->local);
    return OCKAM_OK;
  }
  if (c) {
    /* Timed out, or the node stopped (ECLOSED) or the call nested the loop
     * (ESTATE): abandon and free the handshake. */
    int why = rc == OCKAM_ECLOSED || rc == OCKAM_ESTATE ? rc : OCKAM_ETIMEDOUT;
    chan_fail(c, why, why == OCKAM_ETIMEDOUT ? "channel creation timed out" : "wait ended");
    return why;
  }
  /* The channel failed while we waited (handshake timeout, bad message). */
  return failure;
}

int ockam_channel_get_stats(ockam_node *node, const char *channel_address,
                            ockam_channel_stats *out) {
  if (!node || !channel_address || !out) return OCKAM_EINVAL;
  chan *c = find_chan(node, channel_address);
  if (!c) return OCKAM_ENOTFOUND;
  memset(out, 0, sizeof *out);
  out->established = c->state == CHAN_READY;
  out->handshake_rejected = c->handshake_rejected;
  if (out->established) {
    const ockami_cipher_stats *s = ockami_cipher_get_stats(&c->cipher);
    out->sent = s->sent;
    out->delivered = s->delivered;
    out->replayed = s->replayed;
    out->too_old = s->too_old;
    out->auth_failed = s->auth_failed;
    out->malformed = s->malformed;
    out->extended_framing = c->cipher.framing == OCKAMI_FRAMING_EXTENDED;
    out->rekey_messages = c->cipher.rekey_n;
    out->rekeys_sent = s->rekeys_sent;
    out->rekeys_received = s->rekeys_received;
    out->batching = c->batching;
    out->batches_sent = c->batches_sent;
    out->batched_sent = c->batched_sent;
    out->batches_received = c->batches_received;
    out->batched_received = c->batched_received;
  }
  return OCKAM_OK;
}

int ockam_channel_close(ockam_node *node, const char *channel_address) {
  chan *c = node && channel_address ? find_chan(node, channel_address) : NULL;
  if (!c) return OCKAM_ENOTFOUND;
  ockam_worker_stop(c->worker);
  return OCKAM_OK;
}

bool ockami_channel_takes_peer_input(ockam_node *node, const void *address, size_t len) {
  ockam_worker *w = node ? ockami_node_find(node, address, len) : NULL;
  if (!w) return false;
  if (ockami_worker_ops(w) == &listener_ops || ockami_identity_listener_is(w)) return true;
  if (ockami_worker_ops(w) != &chan_ops) return false;
  const chan *c = ockam_worker_user(w);
  return c && strlen(c->remote) == len && memcmp(c->remote, address, len) == 0;
}
