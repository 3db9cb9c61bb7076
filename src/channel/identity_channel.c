/* Identity channel (identity spec §6-§7, Rust v0.18.0 flow), layered on the
 * plain channel of channel.c.
 *
 * One worker per channel end, registered under three addresses:
 *   initiator: cI (handshake), eL (local: plaintext from local workers),
 *              eR (remote: what the peer sends through the plain channel)
 *   responder: cR, fL, fR
 * plus, on the responder node, the listener L and a hidden plain listener pl.
 *
 *   I cI -> CreateResponderChannelMessage{m1, Some(cI)} -> R L -> (cb := cR) -> pl
 *   ... XX ...                         both plain channels notify cI / cR
 *   R cR -> [lB, cI]  ChannelAuthRequest{contact_R, proof_R}
 *   I cI -> [lA, cR]  ChannelAuthResponse{contact_I, proof_I, eR}
 *   R cR -> [lB, eR]  ChannelAuthConfirm{fR}
 *
 * Trust decisions never rest on message bytes alone: the handshake hash comes
 * from the plain channel object itself (ockami_channel_completed), and a
 * message counts as the peer's only when the plain channel decrypted it
 * (via-channel flag and its local address first on the return route).
 */
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "bare.h"
#include "channel_internal.h"
#include "identity_msgs.h"
#include "log.h"
#include "map.h"
#include "message.h"
#include "node.h"
#include "ockam/identity_channel.h"
#include "ockam/limits.h"
#include "route.h"

#define MOD "identity-channel"

ockam_trust_policy *ockami_trust_policy_ref(ockam_trust_policy *p);

/* Refusal notice (ockam-c extension, sent only over extended framing):
 * "OCKX" ff reason. It decodes as none of the three messages. */
static const uint8_t refusal_magic[5] = {'O', 'C', 'K', 'X', 0xff};
#define REFUSAL_LEN 6
enum { REFUSAL_PEERAUTH = 1, REFUSAL_UNTRUSTED = 2 };
/* How long a failed end lingers so that its refusal notice can leave. */
#define LINGER_MS 200

typedef enum id_state {
  ID_WAIT_XX,      /* plain handshake running */
  ID_WAIT_AUTH,    /* I: Request at cI; R: Response at cR */
  ID_WAIT_CONFIRM, /* I: Confirm at eR */
  ID_READY,
  ID_FAILED /* lingering before it stops */
} id_state;

typedef struct ockam_identity_channel_listener id_listener;

typedef struct idch {
  ockam_worker *worker;
  ockam_node *node;
  bool initiator;
  id_state state;
  ockam_identity *identity;
  ockam_trust_policy *policy;
  id_listener *owner;   /* responder: listener, for its duplicate table and cap */
  uint64_t order;       /* responder: position in its listener's start order */
  uint8_t key_e[32];    /* responder: the initiator's ephemeral key (dedup) */
  char ctl[33];         /* cI / cR */
  char local[33];       /* eL / fL */
  char remote[33];      /* eR / fR */
  char plain[33];       /* lA / lB: local address of the plain channel under it */
  ockam_route peer_ctl; /* responder: cI, where the Request goes */
  ockam_route peer;     /* the peer's entity remote address: eR (R side) / fR (I side) */
  uint8_t h[32];
  char peer_id[OCKAM_IDENTIFIER_BUF];
  ockam_timer *timer;
  int result;
  int *waiter_result; /* initiator: where the outcome goes while create waits */
  /* Non-blocking initiator (ockami_identity_channel_start): told when the
   * channel is ready, then once more when it fails or stops. */
  ockami_idch_notify_fn notify;
  void *notify_arg;
} idch;

struct ockam_identity_channel_listener {
  ockam_worker *worker; /* NULL once stopped */
  ockam_channel_listener *plain;
  ockam_channel_options opt;
  ockam_identity *identity;
  ockam_trust_policy *policy;
  char plain_listener[33];
  ockami_map pending; /* initiator ephemeral key -> idch */
  uint32_t waiting;   /* ends of `pending` still in the exchange (not ready, not failed) */
  uint64_t started;   /* responder ends started so far: their age order */
  uint64_t evicted;   /* exchanges abandoned to make room for newer ones */
};

static bool id_waiting(const idch *c) {
  return c->state == ID_WAIT_XX || c->state == ID_WAIT_AUTH || c->state == ID_WAIT_CONFIRM;
}

/* Call before c leaves a waiting state: frees its slot under the listener's cap. */
static void leave_waiting(idch *c) {
  if (c->owner && id_waiting(c) && c->owner->waiting) c->owner->waiting--;
}

/* Tell a non-blocking creator what happened; `last`: nothing more will. */
static void id_notify(idch *c, int result, bool last) {
  ockami_idch_notify_fn fn = c->notify;
  if (!fn) return;
  if (last) c->notify = NULL;
  fn(c->notify_arg, c->local, result);
}

/* ---- failure and teardown ------------------------------------------------------- */

static void linger_done(void *arg) {
  idch *c = arg;
  c->timer = NULL;
  ockam_worker_stop(c->worker);
}

static bool extended_peer(idch *c) {
  ockam_channel_stats st;
  return c->plain[0] && ockam_channel_get_stats(c->node, c->plain, &st) == OCKAM_OK &&
         st.extended_framing;
}

static void send_refusal(idch *c, const ockam_route *to, int err) {
  if (!to || !to->count || !extended_peer(c)) return;
  uint8_t notice[REFUSAL_LEN];
  memcpy(notice, refusal_magic, sizeof refusal_magic);
  notice[5] = err == OCKAM_EUNTRUSTED ? REFUSAL_UNTRUSTED : REFUSAL_PEERAUTH;
  if (ockam_send(c->node, c->ctl, to, notice, sizeof notice))
    LOG_DEBUG(MOD, "cannot send the refusal notice");
}

/* Fail once: report, close the plain channel shortly (after a notice left),
 * stop. Nothing is delivered from here on. */
static void id_fail(idch *c, int err, const char *why) {
  if (c->state == ID_FAILED) return;
  LOG_WARN(MOD, "identity channel %s: %s (%s)", c->local, why, ockam_strerror(err));
  leave_waiting(c);
  c->state = ID_FAILED;
  c->result = err;
  if (c->waiter_result) *c->waiter_result = err;
  id_notify(c, err, true);
  /* The plain channel is closed when this worker stops, after LINGER_MS, so
   * that a refusal notice already queued for it still leaves. */
  if (c->timer) ockam_timer_stop(c->timer);
  c->timer = NULL;
  if (ockam_timer_start(c->node, LINGER_MS, 0, linger_done, c, &c->timer) != OCKAM_OK) {
    c->timer = NULL;
    ockam_worker_stop(c->worker);
  }
}

/* Stop at once and quietly (floods): an abandoned end has nothing to tell. */
static void id_drop(idch *c, int err, const char *why) {
  if (c->state == ID_FAILED) return;
  LOG_DEBUG(MOD, "identity channel %s: %s", c->local, why);
  leave_waiting(c);
  c->state = ID_FAILED;
  c->result = err;
  if (c->waiter_result) *c->waiter_result = err;
  id_notify(c, err, true);
  ockam_worker_stop(c->worker);
}

static void auth_timeout(void *arg) {
  idch *c = arg;
  c->timer = NULL;
  if (c->state != ID_READY && c->state != ID_FAILED)
    id_fail(c, OCKAM_ETIMEDOUT, "identity exchange timed out");
}

static void id_stopped(ockam_worker *w) {
  idch *c = ockam_worker_user(w);
  if (!c) return;
  id_notify(c, c->state == ID_READY ? OCKAM_ECLOSED : c->result, true);
  if (c->owner) {
    leave_waiting(c);
    ockami_map_remove(&c->owner->pending, c->key_e, 32);
  }
  if (c->timer) ockam_timer_stop(c->timer);
  /* The plain channel lives and dies with this one. */
  if (c->plain[0] && ockam_channel_close(c->node, c->plain) != OCKAM_OK)
    LOG_DEBUG(MOD, "plain channel %s already gone", c->plain);
  ockami_route_release(&c->peer_ctl);
  ockami_route_release(&c->peer);
  ockam_trust_policy_free(c->policy);
  sodium_memzero(c->h, sizeof c->h);
  free(c);
}

/* ---- helpers ------------------------------------------------------------------------ */

/* Did the plain channel under this one decrypt m? (The peer's word, then.) */
static bool from_plain(const idch *c, const ockam_message *m) {
  ockam_address a;
  return c->plain[0] && ockam_message_via_channel(m) && ockami_route_first(&m->ret, &a) &&
         ockami_address_is(&a, OCKAM_ADDRESS_LOCAL, c->plain);
}

static bool is_refusal(const ockam_message *m, int *err) {
  if (m->payload.len != REFUSAL_LEN || memcmp(m->payload.data, refusal_magic, 5)) return false;
  *err = m->payload.data[5] == REFUSAL_UNTRUSTED ? OCKAM_EUNTRUSTED : OCKAM_EPEERAUTH;
  return true;
}

/* Learn h from the plain channel object (never from message bytes). */
static int bind_plain(idch *c, const char *plain) {
  if (c->plain[0] && strcmp(c->plain, plain)) return OCKAM_EPROTO;
  int rc = ockami_channel_completed(c->node, plain, c->ctl, c->h);
  if (rc) return rc;
  if (plain != c->plain) snprintf(c->plain, sizeof c->plain, "%s", plain);
  return OCKAM_OK;
}

/* A route [plain, hop] to reach a peer address through the plain channel. */
static int route_via_plain(const idch *c, const ockam_route *hop, ockam_route **out) {
  int rc = ockam_route_new(out);
  if (!rc) rc = ockam_route_append(*out, OCKAM_ADDRESS_LOCAL, c->plain, strlen(c->plain));
  if (!rc) rc = ockam_route_append_route(*out, hop);
  if (rc) {
    ockam_route_free(*out);
    *out = NULL;
  }
  return rc;
}

/* Own Contact and proof over h. */
static int own_credentials(idch *c, ockami_buf *contact, uint8_t proof[static 64]) {
  size_t need = 0;
  int rc = ockami_buf_reserve(contact, 1024);
  if (!rc) rc = ockam_identity_export_contact(c->identity, contact->data, contact->cap, &need);
  if (rc == OCKAM_EOVERFLOW && need > contact->cap && need <= OCKAMI_AUTH_CONTACT_MAX &&
      !(rc = ockami_buf_reserve(contact, need)))
    rc = ockam_identity_export_contact(c->identity, contact->data, contact->cap, &need);
  if (rc) return rc;
  contact->len = need;
  return ockam_identity_create_proof(c->identity, c->h, proof);
}

/* Spec §6.4 step 3 / §6.5 step 5, in the order Contact -> proof -> policy,
 * each on verified data only. */
static int check_peer(idch *c, const ockami_auth_msg *a) {
  ockam_contact *peer = NULL;
  int rc = ockam_contact_decode(a->contact, a->contact_len, &peer);
  if (rc) {
    LOG_WARN(MOD, "identity channel %s: peer contact refused (%s)", c->local, ockam_strerror(rc));
    return OCKAM_EPEERAUTH;
  }
  char own[OCKAM_IDENTIFIER_BUF];
  const char *id = ockam_contact_identifier_str(peer);
  if (!id || ockam_identity_identifier(c->identity, own, sizeof own) != OCKAM_OK ||
      !strcmp(own, id)) {
    /* Spec §10 item 2: our own Contact and proof reflected back at us. */
    ockam_contact_free(peer);
    return OCKAM_EPEERAUTH;
  }
  if (ockam_contact_verify_proof(peer, c->h, a->proof) != OCKAM_OK) {
    ockam_contact_free(peer);
    return OCKAM_EPEERAUTH;
  }
  rc = ockam_trust_policy_check(c->policy, peer);
  if (!rc) snprintf(c->peer_id, sizeof c->peer_id, "%s", id);
  ockam_contact_free(peer);
  return rc ? OCKAM_EUNTRUSTED : OCKAM_OK;
}

static void id_ready(idch *c) {
  leave_waiting(c);
  c->state = ID_READY;
  c->result = OCKAM_OK;
  if (c->timer) ockam_timer_stop(c->timer);
  c->timer = NULL;
  LOG_INFO(MOD, "identity channel %s established with P_ID.%s", c->local, c->peer_id);
  id_notify(c, OCKAM_OK, false);
}

/* ---- handshake, initiator side ---------------------------------------------------------- */

/* At cI: KeyExchangeCompleted from lA, then the Request through lA. */
static int initiator_ctl(idch *c, ockam_message *m) {
  int err;
  if (c->state == ID_WAIT_XX && !ockam_message_via_channel(m)) {
    /* KeyExchangeCompleted{lA, h}: only a signal; h is read from lA itself. */
    int rc = bind_plain(c, c->plain);
    if (rc) return rc;
    c->state = ID_WAIT_AUTH;
    return OCKAM_OK;
  }
  if (!from_plain(c, m)) return OCKAM_EPROTO; /* not the peer's: ignore */
  if (c->state == ID_WAIT_XX) {
    /* The Request overtook the completion notice. */
    int rc = bind_plain(c, c->plain);
    if (rc) return rc;
    c->state = ID_WAIT_AUTH;
  }
  if (is_refusal(m, &err)) {
    id_fail(c, err, "the responder refused us");
    return err;
  }
  if (c->state != ID_WAIT_AUTH) return OCKAM_ESTATE;
  ockami_auth_msg a;
  int rc = ockami_auth_request_decode(m->payload.data, m->payload.len, &a);
  if (rc) {
    /* Unauthenticated junk is dropped, never fatal. */
    LOG_DEBUG(MOD, "identity channel %s: undecodable request dropped", c->local);
    return rc;
  }
  rc = check_peer(c, &a);
  if (rc) {
    send_refusal(c, &m->ret, rc);
    id_fail(c, rc,
            rc == OCKAM_EUNTRUSTED ? "responder refused by the trust policy"
                                   : "responder failed to prove its identity");
    return rc;
  }
  /* Response{own contact, proof, eR} to the Request's return route [lA, cR]. */
  ockami_buf b = OCKAMI_BUF_INIT, contact = OCKAMI_BUF_INIT;
  uint8_t proof[64];
  rc = own_credentials(c, &contact, proof);
  if (!rc) rc = ockami_auth_response_encode(&b, contact.data, contact.len, proof, c->remote);
  if (!rc) rc = ockam_send(c->node, c->ctl, &m->ret, b.data, b.len);
  ockami_buf_free(&b);
  ockami_buf_free(&contact);
  if (rc) {
    id_fail(c, rc, "cannot answer the responder");
    return rc;
  }
  c->state = ID_WAIT_CONFIRM;
  return OCKAM_OK;
}

/* At eR before READY: the Confirm. */
static int initiator_confirm(idch *c, ockam_message *m) {
  int err;
  if (!from_plain(c, m)) return OCKAM_EPROTO;
  if (is_refusal(m, &err)) {
    id_fail(c, err, "the responder refused us");
    return err;
  }
  if (c->state != ID_WAIT_CONFIRM) return OCKAM_ESTATE;
  ockami_auth_msg a;
  int rc = ockami_auth_confirm_decode(m->payload.data, m->payload.len, &a);
  if (rc) return rc;
  if ((rc = ockam_route_append(&c->peer, a.addr_type, a.addr, a.addr_len))) {
    id_fail(c, rc, "cannot store the responder's address");
    return rc;
  }
  id_ready(c);
  return OCKAM_OK;
}

/* ---- handshake, responder side ---------------------------------------------------------- */

static int responder_ctl(idch *c, ockam_message *m) {
  int err;
  if (c->state == ID_WAIT_XX) {
    /* KeyExchangeCompleted from lB: learn lB from the return route, h from lB. */
    ockam_address a;
    if (ockam_message_via_channel(m) || !ockami_route_first(&m->ret, &a) ||
        a.type != OCKAM_ADDRESS_LOCAL || a.len >= sizeof c->plain)
      return OCKAM_EPROTO;
    char plain[33];
    memcpy(plain, a.value, a.len);
    plain[a.len] = '\0';
    int rc = bind_plain(c, plain);
    if (rc) return rc;
    /* Request{own contact, proof} to [lB, cI]. */
    ockami_buf b = OCKAMI_BUF_INIT, contact = OCKAMI_BUF_INIT;
    uint8_t proof[64];
    ockam_route *to = NULL;
    rc = own_credentials(c, &contact, proof);
    if (!rc) rc = ockami_auth_request_encode(&b, contact.data, contact.len, proof);
    if (!rc) rc = route_via_plain(c, &c->peer_ctl, &to);
    if (!rc) rc = ockam_send(c->node, c->ctl, to, b.data, b.len);
    ockam_route_free(to);
    ockami_buf_free(&b);
    ockami_buf_free(&contact);
    if (rc) {
      id_fail(c, rc, "cannot send the identity request");
      return rc;
    }
    c->state = ID_WAIT_AUTH;
    return OCKAM_OK;
  }
  if (!from_plain(c, m)) return OCKAM_EPROTO;
  if (is_refusal(m, &err)) {
    id_fail(c, err, "the initiator refused us");
    return err;
  }
  if (c->state != ID_WAIT_AUTH) return OCKAM_ESTATE;
  ockami_auth_msg a;
  int rc = ockami_auth_response_decode(m->payload.data, m->payload.len, &a);
  if (rc) {
    LOG_DEBUG(MOD, "identity channel %s: undecodable response dropped", c->local);
    return rc;
  }
  if ((rc = ockam_route_append(&c->peer, a.addr_type, a.addr, a.addr_len))) return rc;
  rc = check_peer(c, &a);
  if (rc) {
    ockam_route *to = NULL;
    if (route_via_plain(c, &c->peer, &to) == OCKAM_OK) send_refusal(c, to, rc);
    ockam_route_free(to);
    id_fail(c, rc,
            rc == OCKAM_EUNTRUSTED ? "initiator refused by the trust policy"
                                   : "initiator failed to prove its identity");
    return rc;
  }
  /* Confirm{fR} to [lB, eR]. */
  ockami_buf b = OCKAMI_BUF_INIT;
  ockam_route *to = NULL;
  rc = ockami_auth_confirm_encode(&b, c->remote);
  if (!rc) rc = route_via_plain(c, &c->peer, &to);
  if (!rc) rc = ockam_send(c->node, c->ctl, to, b.data, b.len);
  ockam_route_free(to);
  ockami_buf_free(&b);
  if (rc) {
    id_fail(c, rc, "cannot confirm the channel");
    return rc;
  }
  id_ready(c);
  return OCKAM_OK;
}

/* ---- data phase (spec §7) ------------------------------------------------------------- */

/* From a local worker at eL/fL: onward [eL, rest] return [src...] becomes
 * onward [plain, peer, rest] return [eR/fR, src...]. */
static int id_send(idch *c, ockam_message *m) {
  if (c->state != ID_READY) {
    LOG_WARN(MOD, "identity channel %s not established; dropping message", c->local);
    return OCKAM_ESTATE;
  }
  ockam_route_pop(&m->onward);
  ockam_address peer;
  if (!ockami_route_first(&c->peer, &peer)) return OCKAM_ESTATE;
  int rc = ockam_route_prepend(&m->onward, peer.type, peer.value, peer.len);
  if (!rc) rc = ockam_route_prepend(&m->onward, OCKAM_ADDRESS_LOCAL, c->plain, strlen(c->plain));
  if (!rc) rc = ockam_route_prepend(&m->ret, OCKAM_ADDRESS_LOCAL, c->remote, strlen(c->remote));
  /* Whatever metadata it carried stays on this node. */
  if (!rc) rc = ockam_message_set_local_info(m, NULL, 0);
  if (!rc) rc = ockam_forward(c->node, m);
  return rc;
}

/* From the peer at eR/fR: onward [eR, dest...] return [plain, peer, src...]
 * becomes onward [dest...] return [eL/fL, src...], tagged with the peer. */
static int id_receive(idch *c, ockam_message *m) {
  if (!from_plain(c, m)) {
    LOG_DEBUG(MOD, "identity channel %s: message not from its channel dropped", c->local);
    return OCKAM_EPROTO;
  }
  ockam_route_pop(&m->onward);
  if (m->onward.count == 0 || m->ret.count < 2) return OCKAM_EMALFORMED;
  ockam_route_pop(&m->ret);
  ockam_route_pop(&m->ret);
  int rc = ockam_route_prepend(&m->ret, OCKAM_ADDRESS_LOCAL, c->local, strlen(c->local));
  if (!rc) rc = ockami_message_set_peer(m, c->peer_id);
  if (!rc) rc = ockam_forward(c->node, m);
  return rc;
}

/* ---- the worker --------------------------------------------------------------------------- */

static int id_handle(ockam_worker *w, ockam_message *m) {
  idch *c = ockam_worker_user(w);
  if (!c || c->state == ID_FAILED) return OCKAM_ECLOSED;
  ockam_address a;
  if (!ockami_route_first(&m->onward, &a)) return OCKAM_EINVAL;
  if (ockami_address_is(&a, OCKAM_ADDRESS_LOCAL, c->local)) return id_send(c, m);
  if (ockami_address_is(&a, OCKAM_ADDRESS_LOCAL, c->remote)) {
    if (c->state == ID_READY) return id_receive(c, m);
    return c->initiator ? initiator_confirm(c, m) : OCKAM_ESTATE;
  }
  if (c->state == ID_READY) return OCKAM_ESTATE; /* handshake address: done with it */
  return c->initiator ? initiator_ctl(c, m) : responder_ctl(c, m);
}

static const ockam_worker_ops id_ops = {id_handle, id_stopped};

static uint32_t auth_timeout_of(const ockam_channel_options *o) {
  return o && o->handshake_timeout_ms ? o->handshake_timeout_ms : OCKAM_IDENTITY_AUTH_TIMEOUT_MS;
}

static int idch_new(ockam_node *node, ockam_identity *identity, ockam_trust_policy *policy,
                    bool initiator, const ockam_channel_options *opts, idch **out) {
  idch *c = calloc(1, sizeof *c);
  if (!c) return OCKAM_ENOMEM;
  c->node = node;
  c->initiator = initiator;
  c->state = ID_WAIT_XX;
  c->identity = identity;
  c->result = OCKAM_ETIMEDOUT;
  ockam_random_address(c->ctl);
  ockam_random_address(c->local);
  ockam_random_address(c->remote);
  const char *addrs[3] = {c->ctl, c->local, c->remote};
  int rc = ockam_worker_start(node, addrs, 3, &id_ops, c, &c->worker);
  if (rc) {
    free(c);
    return rc;
  }
  c->policy = ockami_trust_policy_ref(policy);
  if (ockam_timer_start(node, auth_timeout_of(opts), 0, auth_timeout, c, &c->timer) != OCKAM_OK)
    c->timer = NULL;
  *out = c;
  return OCKAM_OK;
}

static idch *find_idch(ockam_node *node, const char *address) {
  ockam_worker *w = address ? ockami_node_find(node, address, strlen(address)) : NULL;
  if (!w || ockami_worker_ops(w) != &id_ops) return NULL;
  return ockam_worker_user(w);
}

void ockami_identity_plain_failed(ockam_node *node, const ockam_route *callback) {
  ockam_address a;
  if (!node || !callback || callback->count != 1 || !ockami_route_first(callback, &a) ||
      a.type != OCKAM_ADDRESS_LOCAL)
    return;
  ockam_worker *w = ockami_node_find(node, a.value, a.len);
  idch *c = w && ockami_worker_ops(w) == &id_ops ? ockam_worker_user(w) : NULL;
  /* Only a responder still waiting for its XX: later, it has bound its plain
   * channel and fails or closes with it. */
  if (!c || c->initiator || c->state != ID_WAIT_XX) return;
  id_drop(c, OCKAM_ECLOSED, "its handshake failed");
}

/* ---- listener ------------------------------------------------------------------------------ */

static int listener_handle(ockam_worker *w, ockam_message *m) {
  id_listener *l = ockam_worker_user(w);
  if (!l) return OCKAM_ECLOSED;
  /* CreateResponderChannelMessage{payload: Vec<u8>, completed_callback_address: Option<Address>} */
  ockami_reader r;
  ockami_reader_init(&r, m->payload.data, m->payload.len);
  const uint8_t *m1, *cb;
  size_t m1len, cblen = 0;
  bool has_cb = false;
  uint8_t cb_type = 0;
  int rc = ockami_read_data(&r, OCKAM_PAYLOAD_MAX, &m1, &m1len);
  if (!rc) rc = ockami_read_option(&r, &has_cb);
  if (!rc && has_cb && !(rc = ockami_read_u8(&r, &cb_type)))
    rc = ockami_read_data(&r, OCKAM_ADDRESS_MAX_LEN, &cb, &cblen);
  if (!rc) rc = ockami_reader_finish(&r);
  /* Spec §6.5 step 1: a request without a callback cannot be authenticated. */
  if (rc || !has_cb || cb_type != OCKAM_ADDRESS_LOCAL || cblen == 0 || m1len < 32 ||
      m->ret.count == 0) {
    LOG_WARN(MOD, "listener %s: channel request without callback or malformed; dropped",
             ockam_worker_address(w));
    return rc ? rc : OCKAM_EMALFORMED;
  }
  /* Stream redelivery of the same request: the first one is being served. */
  if (ockami_map_get(&l->pending, m1, 32)) return OCKAM_OK;
  uint32_t max = l->opt.max_pending ? l->opt.max_pending : OCKAM_IDENTITY_MAX_PENDING;
  if (l->waiting >= max) {
    /* As the plain listener does: the oldest unfinished exchange makes room,
     * so requests that never complete cannot pile up for the whole timeout. */
    idch *oldest = NULL;
    size_t b = 0;
    for (ockami_map_entry *e = ockami_map_next(&l->pending, &b, NULL); e;
         e = ockami_map_next(&l->pending, &b, e)) {
      idch *p = e->value;
      if (id_waiting(p) && (!oldest || p->order < oldest->order)) oldest = p;
    }
    if (!oldest) {
      LOG_WARN(MOD, "listener: %u identity exchanges in progress; request dropped", l->waiting);
      return OCKAM_EFULL;
    }
    if (l->evicted++ % 1000 == 0)
      LOG_WARN(MOD,
               "listener: %u identity exchanges in progress; abandoning the oldest (%llu so far)",
               l->waiting, (unsigned long long)l->evicted);
    id_drop(oldest, OCKAM_EFULL, "identity exchange abandoned for a newer one");
  }
  idch *c;
  if ((rc = idch_new(ockam_worker_node(w), l->identity, l->policy, false, &l->opt, &c))) return rc;
  memcpy(c->key_e, m1, 32);
  if (ockami_map_put(&l->pending, c->key_e, 32, c) == OCKAM_OK) {
    c->owner = l;
    c->order = ++l->started;
    l->waiting++;
  }
  if ((rc = ockam_route_append(&c->peer_ctl, cb_type, cb, cblen))) goto fail;
  /* Same m1, callback replaced by cR, handed to the hidden plain listener. */
  ockami_buf b = OCKAMI_BUF_INIT;
  rc = ockami_write_data(&b, m1, m1len);
  if (!rc) rc = ockami_write_option(&b, true);
  if (!rc) rc = ockami_write_u8(&b, OCKAM_ADDRESS_LOCAL);
  if (!rc) rc = ockami_write_string(&b, c->ctl, strlen(c->ctl));
  if (!rc) rc = ockami_buf_set(&m->payload, b.data, b.len);
  ockami_buf_free(&b);
  if (rc) goto fail;
  ockam_route_pop(&m->onward);
  if ((rc = ockam_route_prepend(&m->onward, OCKAM_ADDRESS_LOCAL, l->plain_listener,
                                strlen(l->plain_listener))) ||
      (rc = ockam_forward(ockam_worker_node(w), m)))
    goto fail;
  return OCKAM_OK;
fail:
  id_fail(c, rc, "cannot start the responder");
  return rc;
}

/* The idch ends outlive their listener: detach them. */
static void listener_release(id_listener *l) {
  size_t b = 0;
  for (ockami_map_entry *e = ockami_map_next(&l->pending, &b, NULL); e;
       e = ockami_map_next(&l->pending, &b, e))
    ((idch *)e->value)->owner = NULL;
  ockami_map_free(&l->pending);
  l->worker = NULL;
}

/* Only the node's destruction stops an attached listener worker:
 * ockam_identity_channel_listener_close() detaches first. */
static void listener_stopped(ockam_worker *w) {
  id_listener *l = ockam_worker_user(w);
  if (l) listener_release(l);
}

static const ockam_worker_ops listener_ops = {listener_handle, listener_stopped};

size_t ockami_identity_listener_waiting(const ockam_identity_channel_listener *l) {
  return l && l->worker ? l->waiting : 0;
}

size_t ockami_identity_listener_ends(const ockam_identity_channel_listener *l) {
  return l && l->worker ? l->pending.count : 0;
}

bool ockami_identity_listener_is(const ockam_worker *w) {
  return w && ockami_worker_ops(w) == &listener_ops;
}

int ockam_identity_channel_listener_create(ockam_node *node, const char *address,
                                           ockam_identity *identity, ockam_trust_policy *policy,
                                           const ockam_channel_options *opts,
                                           ockam_identity_channel_listener **out) {
  if (!node || !address || !*address || !identity || !policy || !out) return OCKAM_EINVAL;
  id_listener *l = calloc(1, sizeof *l);
  if (!l) return OCKAM_ENOMEM;
  l->identity = identity;
  if (opts) l->opt = *opts;
  ockami_map_init(&l->pending);
  ockam_random_address(l->plain_listener);
  int rc = ockam_channel_listener_create(node, l->plain_listener, ockam_identity_vault(identity),
                                         opts, &l->plain);
  const char *addrs[1] = {address};
  if (!rc) rc = ockam_worker_start(node, addrs, 1, &listener_ops, l, &l->worker);
  if (rc) {
    ockam_channel_listener_close(l->plain);
    ockami_map_free(&l->pending);
    free(l);
    return rc;
  }
  l->policy = ockami_trust_policy_ref(policy);
  *out = l;
  return OCKAM_OK;
}

void ockam_identity_channel_listener_close(ockam_identity_channel_listener *l) {
  if (!l) return;
  if (l->worker) {
    ockami_worker_set_user(l->worker, NULL);
    ockam_worker_stop(l->worker);
    listener_release(l);
  }
  ockam_channel_listener_close(l->plain);
  ockam_trust_policy_free(l->policy);
  free(l);
}

/* ---- initiator ------------------------------------------------------------------------------ */

typedef struct id_wait {
  ockam_node *node;
  char local[33];
  int plain_failure; /* set by the plain channel if its handshake fails */
} id_wait;

static bool id_done(void *arg) {
  id_wait *iw = arg;
  idch *c = find_idch(iw->node, iw->local);
  return !c || c->state == ID_READY || c->state == ID_FAILED || iw->plain_failure;
}

/* A new initiator end whose plain channel's handshake has started. */
static int initiator_new(ockam_node *node, const ockam_route *route, ockam_identity *identity,
                         ockam_trust_policy *policy, const ockam_channel_options *opts,
                         idch **out) {
  idch *c;
  int rc = idch_new(node, identity, policy, true, opts, &c);
  if (rc) return rc;
  rc = ockami_channel_initiate(node, route, ockam_identity_vault(identity), opts, c->ctl, c->plain);
  if (rc) {
    c->plain[0] = '\0';
    ockam_worker_stop(c->worker);
    return rc;
  }
  *out = c;
  return OCKAM_OK;
}

int ockam_identity_channel_create(ockam_node *node, const ockam_route *route,
                                  ockam_identity *identity, ockam_trust_policy *policy,
                                  const ockam_channel_options *opts, int64_t timeout_ms,
                                  char *channel_address, size_t cap) {
  if (cap < 33 && channel_address) return OCKAM_ETOOSMALL;
  if (!node || !route || !identity || !policy || !channel_address || ockam_route_len(route) == 0)
    return OCKAM_EINVAL;
  idch *c;
  int rc = initiator_new(node, route, identity, policy, opts, &c);
  if (rc) return rc;
  id_wait iw = {node, "", OCKAM_OK};
  memcpy(iw.local, c->local, sizeof iw.local);
  char plain[33];
  memcpy(plain, c->plain, sizeof plain);
  int failure = OCKAM_ETIMEDOUT;
  c->waiter_result = &failure;
  ockami_channel_set_waiter(node, plain, &iw.plain_failure);
  rc = ockam_node_run_until(node, timeout_ms, id_done, &iw);
  ockami_channel_set_waiter(node, plain, NULL);
  c = find_idch(node, iw.local);
  if (c) c->waiter_result = NULL;
  if (c && c->state == ID_READY) {
    snprintf(channel_address, cap, "%s", c->local);
    return OCKAM_OK;
  }
  if (iw.plain_failure) failure = iw.plain_failure; /* XX itself failed: say why */
  if (c && c->state != ID_FAILED) {
    id_fail(c, failure, "identity channel creation failed");
    return failure;
  }
  return failure;
}

int ockami_identity_channel_start(ockam_node *node, const ockam_route *route,
                                  ockam_identity *identity, ockam_trust_policy *policy,
                                  const ockam_channel_options *opts, ockami_idch_notify_fn fn,
                                  void *arg, char local[static 33]) {
  if (!node || !route || !identity || !policy || !fn || ockam_route_len(route) == 0)
    return OCKAM_EINVAL;
  idch *c;
  int rc = initiator_new(node, route, identity, policy, opts, &c);
  if (rc) return rc;
  c->notify = fn;
  c->notify_arg = arg;
  memcpy(local, c->local, sizeof c->local);
  return OCKAM_OK;
}

void ockami_identity_channel_unwatch(ockam_node *node, const char *local) {
  idch *c = node && local && *local ? find_idch(node, local) : NULL;
  if (c) c->notify = NULL;
}

int ockam_identity_channel_peer(ockam_node *node, const char *channel_address, char *buf,
                                size_t cap) {
  if (!node || !channel_address || !buf) return OCKAM_EINVAL;
  idch *c = find_idch(node, channel_address);
  if (!c) return OCKAM_ENOTFOUND;
  if (c->state != ID_READY) return OCKAM_ESTATE;
  if (cap < OCKAM_IDENTIFIER_BUF) return OCKAM_ETOOSMALL;
  memcpy(buf, c->peer_id, OCKAM_IDENTIFIER_BUF);
  return OCKAM_OK;
}

int ockam_identity_channel_get_stats(ockam_node *node, const char *channel_address,
                                     ockam_channel_stats *out) {
  idch *c = node ? find_idch(node, channel_address) : NULL;
  if (!c || !c->plain[0]) return OCKAM_ENOTFOUND;
  int rc = ockam_channel_get_stats(node, c->plain, out);
  if (!rc) out->established = out->established && c->state == ID_READY;
  return rc;
}

int ockam_identity_channel_close(ockam_node *node, const char *channel_address) {
  idch *c = node ? find_idch(node, channel_address) : NULL;
  if (!c) return OCKAM_ENOTFOUND;
  ockam_worker_stop(c->worker);
  return OCKAM_OK;
}

int ockam_hub_channel_create(ockam_node *node, const ockam_route *route_to_hub,
                             ockam_identity *identity, const char *hub_identifier,
                             int64_t timeout_ms, char *channel_address, size_t cap) {
  if (!node || !route_to_hub || !identity || !hub_identifier || !channel_address)
    return OCKAM_EINVAL;
  ockam_trust_policy *policy = NULL;
  const char *ids[1] = {hub_identifier};
  int rc = ockam_trust_identifiers(ids, 1, &policy);
  if (rc) return rc;
  ockam_route *route = NULL;
  rc = ockam_route_new(&route);
  if (!rc) rc = ockam_route_append_route(route, route_to_hub);
  if (!rc)
    rc = ockam_route_append(route, OCKAM_ADDRESS_LOCAL, OCKAM_HUB_IDENTITY_LISTENER,
                            strlen(OCKAM_HUB_IDENTITY_LISTENER));
  if (!rc)
    rc = ockam_identity_channel_create(node, route, identity, policy, NULL, timeout_ms,
                                       channel_address, cap);
  ockam_route_free(route);
  ockam_trust_policy_free(policy);
  return rc;
}
