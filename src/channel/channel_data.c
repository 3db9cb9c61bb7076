/* The secure channel's data path (spec §6.3): sealing messages from local
 * workers, straight into the TCP connection's output when the route to the
 * peer starts with one, batched records (docs/protocol-extensions.md), and
 * opening what the peer sends. The handshake and the workers are channel.c. */
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "bare.h"
#include "batch.h"
#include "chan.h"
#include "direct_send.h"
#include "log.h"
#include "message.h"
#include "node.h"
#include "ockam/limits.h"
#include "wire.h"

#define MOD "channel"
/* chan_seal_direct: the fast path does not apply (error codes are negative). */
#define CHAN_NOT_DIRECT 1
/* Payloads from this size up are sealed straight from the message into the
 * output buffer (two-piece seal) instead of being copied there first. */
#define CHAN_GATHER_MIN 4096u

/* BARE LocalInfo{identifier: "SECURE_CHANNEL_ID", key_exchange: "NOISE_XX"}
 * (vector E13a): marks messages that came through a channel. */
static const uint8_t local_info_e13a[] = {0x11, 'S', 'E', 'C', 'U', 'R', 'E', '_', 'C',
                                          'H',  'A', 'N', 'N', 'E', 'L', '_', 'I', 'D',
                                          0x08, 'N', 'O', 'I', 'S', 'E', '_', 'X', 'X'};

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
  c->direct_head.len = 0;
  if (ockami_direct_head(&c->direct_head, &c->remote_route, skip, c->remote, strlen(c->remote)))
    c->direct_out = NULL;
  return c->direct_out;
}

/* Writes a record's plaintext of exactly plen bytes at dst: one message's
 * TransportMessage (plain_one), or a batched record of the list at m
 * (ockami_batch_encode_list). */
typedef int (*chan_plain_fn)(const ockam_message *m, uint8_t *dst, size_t plen);

static int plain_one(const ockam_message *m, uint8_t *dst, size_t plen) {
  size_t enc = 0;
  int rc = ockami_tm_encode_to(m, dst, plen, &enc);
  return !rc && enc != plen ? OCKAM_EINVAL : rc;
}

/* Fast path of chan_seal_record: when the route to the peer starts with a
 * connection of a transport that frames messages itself (TCP), the
 * plaintext is written where its ciphertext goes in that connection's output
 * buffer and sealed in place: no outgoing message, no dispatch, one copy of
 * the payload fewer. The frame is byte for byte the one the slow path makes.
 * CHAN_NOT_DIRECT: not taken, use the slow path. */
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
  int rc;
  if (plain == plain_one && m->payload.len >= CHAN_GATHER_MIN &&
      ockami_cipher_can_encrypt2(&c->cipher)) {
    /* A large payload is sealed from the message itself: only the bytes
     * before it are written into the output first. */
    size_t head_len = 0;
    rc = ockami_tm_encode_head_to(m, blob + hdr, plen, &head_len);
    if (!rc && head_len + m->payload.len != plen) rc = OCKAM_EINVAL;
    if (!rc)
      rc = ockami_cipher_encrypt2(&c->cipher, blob + hdr, head_len, m->payload.data, m->payload.len,
                                  blob, blen, &got);
  } else {
    rc = plain(m, blob + hdr, plen);
    if (!rc) rc = ockami_cipher_encrypt(&c->cipher, blob + hdr, plen, blob, blen, &got);
  }
  if (!rc && got != blen) rc = OCKAM_EINVAL;
  if (rc) {
    sodium_memzero(blob, blen); /* never leave plaintext behind in the buffer */
    return rc;
  }
  d->commit(d->ctx, out, body);
  return OCKAM_OK;
}

/* Slow path of chan_seal_record: the record as an outgoing message to the
 * peer (payload: the blob as a BARE Vec<u8>, its plaintext written where its
 * ciphertext goes and sealed in place), delivered by the node. */
static int chan_seal_message(chan *c, chan_plain_fn plain, const ockam_message *m, size_t plen,
                             size_t blen) {
  size_t hdr = blen - plen - OCKAM_AEAD_TAG_LEN;
  ockam_message *out = NULL;
  int rc = ockami_chan_remote_message_new(c, &out);
  if (!rc) rc = ockami_buf_reserve(&out->payload, ockami_uint_size(blen) + blen);
  if (!rc) rc = ockami_write_uint(&out->payload, blen);
  if (!rc) {
    ockami_buf *p = &out->payload;
    size_t off = p->len, got = 0;
    rc = plain(m, p->data + off + hdr, plen);
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
  return rc;
}

/* Seal one record whose plaintext `plain` writes (plen bytes): straight into
 * the TCP connection's output when it can, as an outgoing message otherwise. */
static int chan_seal_record(chan *c, chan_plain_fn plain, const ockam_message *m, size_t plen) {
  size_t blen = plen + ockami_cipher_overhead(c->cipher.framing);
  int rc = chan_seal_direct(c, plain, m, plen, blen);
  if (rc == CHAN_NOT_DIRECT) rc = chan_seal_message(c, plain, m, plen, blen);
  if (rc == OCKAM_ENONCE) LOG_WARN(MOD, "channel %s: nonce space exhausted", c->local);
  return rc;
}

/* Seal one message (its onward route already popped) as one record. */
static int chan_seal(chan *c, ockam_message *m) {
  return chan_seal_record(c, plain_one, m, ockami_tm_size(m));
}

/* ---- batched records (docs/protocol-extensions.md, "Batched records") --------------- */

/* Messages (whole TransportMessages) larger than this are sealed on their
 * own (after what is queued). Measured with bench_channel against --batch 0:
 * batched records carry 1 and 2 KiB payloads ~1.3x faster; at 4 KiB the two
 * are even and from 8 KiB up the copy each batched message costs the
 * receiver outweighs the AEAD call it saves. */
#define BATCH_ITEM_SMALL 2560u
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
  int rc = chan_seal_record(c, ockami_batch_encode_list, head, bytes);
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
  if (c && c->state == CHAN_READY) {
    (void)batch_flush(c);
    /* The transport's flush handle may have had its turn in this prepare
     * phase already: the poll must not sleep on the sealed record. */
    ockami_node_wake(ockam_worker_node(c->worker));
  }
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

int ockami_chan_batch_setup(chan *c) {
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
void ockami_chan_batch_release(chan *c) {
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
int ockami_chan_encrypt(chan *c, ockam_message *m) {
  if (c->state != CHAN_READY) {
    LOG_WARN(MOD, "channel %s not established; dropping message", c->local);
    return OCKAM_ESTATE;
  }
  ockam_route_pop(&m->onward);
  if (c->batching) return batch_queue(c, m);
  return chan_seal(c, m);
}

/* Ciphertext from the peer. */
int ockami_chan_decrypt(chan *c, ockam_message *m) {
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
   * ones and its payload stays where it was opened, the buffer's front
   * dropped up to it (no copy); the rest of the plaintext is wiped. */
  const uint8_t *payload = NULL;
  size_t len = 0;
  rc = ockami_tm_decode_routes(plain, plen, false, m, &payload, &len);
  if (rc || m->onward.count == 0) {
    sodium_memzero(plain, plen);
    if (rc) c->cipher.stats.malformed++;
    return rc ? rc : OCKAM_EINVAL;
  }
  size_t front = (size_t)(payload - m->payload.data);
  uint8_t *after = m->payload.data + front + len, *end = plain + plen;
  sodium_memzero(m->payload.data, front);
  if (end > after) sodium_memzero(after, (size_t)(end - after));
  ockami_buf_drop_front(&m->payload, front);
  m->payload.len = len;
  m->flags = OCKAMI_MSG_VIA_CHANNEL;
  rc = ockam_route_prepend(&m->ret, OCKAM_ADDRESS_LOCAL, c->local, strlen(c->local));
  if (!rc) rc = ockami_buf_set(&m->local_info, local_info_e13a, sizeof local_info_e13a);
  if (!rc) rc = ockam_send_message(ockam_worker_node(c->worker), m);
  if (rc) sodium_memzero(m->payload.data, m->payload.len);
  return rc;
}
