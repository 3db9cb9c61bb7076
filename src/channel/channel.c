/* Secure channel workers (spec §6): the listener, and one worker per channel
 * end registered under two addresses: "remote" (talks to the peer through the
 * route) and "local" (plaintext from local workers). */
#include "ockam/channel.h"

#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "bare.h"
#include "chan.h"
#include "channel_internal.h"
#include "cipher.h"
#include "log.h"
#include "map.h"
#include "message.h"
#include "node.h"
#include "ockam/limits.h"
#include "xx.h"

#define MOD "channel"

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

/* ---- helpers ------------------------------------------------------------------ */

static uint32_t timeout_of(const ockam_channel_options *o) {
  return o && o->handshake_timeout_ms ? o->handshake_timeout_ms : OCKAM_HANDSHAKE_TIMEOUT_MS;
}

/* A new message to the peer: onward remote_route, return [remote], empty payload. */
int ockami_chan_remote_message_new(chan *c, ockam_message **out) {
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
  int rc = ockami_chan_remote_message_new(c, &m);
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
  if (ockami_ext_batch_select(c->local_flags, remote_flags) && (rc = ockami_chan_batch_setup(c))) {
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
  if (ockami_address_is(&a, OCKAM_ADDRESS_LOCAL, c->local)) return ockami_chan_encrypt(c, m);
  /* Remote address: handshake until keys exist, ciphertext afterwards (spec §6.2). */
  if (c->state == CHAN_HANDSHAKE) return chan_handshake(c, m);
  return ockami_chan_decrypt(c, m);
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
  ockami_chan_batch_release(c);
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
