/* mitm: an active man in the middle for the guide's scenario. It controls
 * what the two sides read from the hub: the initiator is pointed at the
 * stream pair mitm-a-b (its out) / mitm-b-a (its in), which this process
 * serves, and this process talks to the real responder over the guide's pair
 * sc-test-a-b / sc-test-b-a as if it were the initiator. It runs its own XX
 * handshake with each side (one line per event on stdout, flushed).
 *
 *   mitm HUB anon       plain channels: read the initiator's message
 *                       ("MITM read: ..."), relay it to the responder's echoer
 *                       through a second channel and relay the reply back.
 *   mitm HUB relay      identity channels: relay the responder's identity
 *                       request (Contact + proof over the other handshake
 *                       hash) to the initiator, and whatever comes back.
 *   mitm HUB own        identity channels: answer with an identity of its own.
 * Prints "MITM ready" once both sides are in place; runs until SIGTERM.
 */
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "channel_internal.h"
#include "ockam/ockam.h"

typedef struct mitm {
  ockam_node *node;
  ockam_vault *vault;
  char chan_b[64];       /* anon: channel to the responder */
  ockam_route *reply_to; /* anon: return route of the initiator's message */
  /* relay mode */
  char plain_a[33], plain_b[33]; /* our plain channels with the initiator and the responder */
  ockam_route *cb_a;             /* the initiator's cI */
  ockam_route *cr_b;             /* the responder's cR */
  uint8_t pending[8192];         /* the responder's request, until the initiator is there */
  size_t pending_len;
} mitm;

static mitm M;
static ockam_channel_listener *plain_listener;
static ockam_identity_channel_listener *id_listener;

static ockam_route *route_of(const char *a, const char *b) {
  ockam_route *r = NULL;
  if (ockam_route_new(&r) || ockam_route_append_str(r, a) || (b && ockam_route_append_str(r, b)))
    exit(2);
  return r;
}

/* ---- anon: read and relay application data -------------------------------------- */

static int echo_handle(ockam_worker *w, ockam_message *m) {
  (void)w;
  const char *s;
  size_t len;
  if (ockam_message_get_string(m, &s, &len) == OCKAM_OK) printf("MITM read: %.*s\n", (int)len, s);
  fflush(stdout);
  ockam_route_free(M.reply_to);
  if (ockam_route_copy(ockam_message_return(m), &M.reply_to)) return OCKAM_ENOMEM;
  size_t plen;
  const uint8_t *p = ockam_message_payload(m, &plen);
  ockam_route *to = route_of(M.chan_b, "echoer");
  int rc = ockam_send(M.node, "mitm_relay", to, p, plen);
  ockam_route_free(to);
  return rc;
}

static int relay_back(ockam_worker *w, ockam_message *m) {
  (void)w;
  if (!M.reply_to) return OCKAM_ESTATE;
  size_t plen;
  const uint8_t *p = ockam_message_payload(m, &plen);
  return ockam_send(M.node, "echoer", M.reply_to, p, plen);
}

static const ockam_worker_ops echo_ops = {echo_handle, NULL};
static const ockam_worker_ops relay_back_ops = {relay_back, NULL};

/* ---- relay: forward the identity handshake across -------------------------------- */

static void flush_pending(void) {
  if (!M.pending_len || !M.plain_a[0] || !M.cb_a) return;
  ockam_route *to = route_of(M.plain_a, NULL);
  if (ockam_route_append_route(to, M.cb_a) == OCKAM_OK &&
      ockam_send(M.node, "relay_a", to, M.pending, M.pending_len) == OCKAM_OK) {
    printf("MITM relayed the responder's identity request (%zu bytes)\n", M.pending_len);
    fflush(stdout);
  }
  ockam_route_free(to);
  M.pending_len = 0;
}

static bool first_hop(const ockam_message *m, char out[static 33]) {
  ockam_address a;
  if (ockam_route_get(ockam_message_return(m), 0, &a) || a.len > 32) return false;
  memcpy(out, a.value, a.len);
  out[a.len] = '\0';
  return true;
}

/* Our channel with the initiator: its completion notice, then its messages. */
static int relay_a(ockam_worker *w, ockam_message *m) {
  (void)w;
  if (!ockam_message_via_channel(m)) {
    if (!first_hop(m, M.plain_a)) return OCKAM_EPROTO;
    printf("MITM completed XX with the initiator\n");
    fflush(stdout);
    flush_pending();
    return OCKAM_OK;
  }
  size_t plen;
  const uint8_t *p = ockam_message_payload(m, &plen);
  printf("MITM got %zu bytes from the initiator\n", plen);
  fflush(stdout);
  if (!M.cr_b) return OCKAM_ESTATE;
  ockam_route *to = route_of(M.plain_b, NULL);
  int rc = ockam_route_append_route(to, M.cr_b);
  if (!rc) rc = ockam_send(M.node, "relay_b", to, p, plen);
  ockam_route_free(to);
  return rc;
}

/* Our channel with the responder: its completion notice, then the request. */
static int relay_b(ockam_worker *w, ockam_message *m) {
  (void)w;
  if (!ockam_message_via_channel(m)) {
    printf("MITM completed XX with the responder\n");
    fflush(stdout);
    return OCKAM_OK;
  }
  ockam_route_free(M.cr_b);
  M.cr_b = NULL;
  ockam_route *ret = NULL;
  if (ockam_route_copy(ockam_message_return(m), &ret)) return OCKAM_ENOMEM;
  ockam_route_pop(ret); /* our plain channel */
  M.cr_b = ret;
  size_t plen;
  const uint8_t *p = ockam_message_payload(m, &plen);
  if (plen > sizeof M.pending) return OCKAM_EOVERFLOW;
  memcpy(M.pending, p, plen);
  M.pending_len = plen;
  flush_pending();
  return OCKAM_OK;
}

/* The initiator's CreateResponderChannelMessage: note its callback, put ours. */
static int fake_listener(ockam_worker *w, ockam_message *m) {
  size_t len;
  const uint8_t *p = ockam_message_payload(m, &len);
  /* 2021 layout: uint len (one byte here) || m1 || 01 || 00 || uint len || callback */
  if (len < 2 || p[0] >= 128 || (size_t)p[0] + 4 > len || p[1 + p[0]] != 1) return OCKAM_EPROTO;
  size_t m1len = p[0];
  const uint8_t *cb = p + 1 + m1len + 3;
  size_t cblen = p[1 + m1len + 2];
  if (cb + cblen > p + len || cblen > 32) return OCKAM_EPROTO;
  char cbs[33];
  memcpy(cbs, cb, cblen);
  cbs[cblen] = '\0';
  ockam_route_free(M.cb_a);
  M.cb_a = route_of(cbs, NULL);
  uint8_t out[256];
  memcpy(out, p, 1 + m1len);
  size_t n = 1 + m1len;
  out[n++] = 1;
  out[n++] = 0;
  out[n++] = 7;
  memcpy(out + n, "relay_a", 7);
  n += 7;
  ockam_route_pop(ockam_message_onward_mut(m));
  if (ockam_route_prepend(ockam_message_onward_mut(m), 0, "mitm_pl", 7) ||
      ockam_message_set_payload(m, out, n))
    return OCKAM_ENOMEM;
  return ockam_forward(ockam_worker_node(w), m);
}

static const ockam_worker_ops relay_a_ops = {relay_a, NULL};
static const ockam_worker_ops relay_b_ops = {relay_b, NULL};
static const ockam_worker_ops fake_listener_ops = {fake_listener, NULL};

static int start(const char *name, const ockam_worker_ops *ops) {
  const char *addrs[1] = {name};
  return ockam_worker_start(M.node, addrs, 1, ops, NULL, NULL);
}

int main(int argc, char **argv) {
  if (argc < 3) {
    fprintf(stderr, "usage: mitm HUB anon|relay|own\n");
    return 2;
  }
  signal(SIGPIPE, SIG_IGN);
  const char *mode = argv[2];
  char hop[300];
  snprintf(hop, sizeof hop, "1#%s", argv[1]);
  ockam_route *hub = NULL;
  ockam_tcp *tcp = NULL;
  ockam_stream *to_init = NULL, *to_resp = NULL;
  ockam_identity *me = NULL;
  int rc;
  if ((rc = ockam_node_create(&M.node)) || (rc = ockam_node_stop_on_signals(M.node)) ||
      (rc = ockam_tcp_create(M.node, NULL, &tcp)) ||
      (rc = ockam_vault_create("software", &M.vault)) || (rc = ockam_route_parse(hop, &hub)) ||
      (rc = ockam_tcp_connect(tcp, argv[1], 0)))
    goto fail;
  /* Facing the initiator: it writes mitm-a-b and reads mitm-b-a. */
  if ((rc = ockam_stream_connect(M.node, hub, "mitm-b-a", "mitm-a-b", NULL, &to_init))) goto fail;
  if (!strcmp(mode, "own")) {
    ockam_trust_policy *everyone;
    if ((rc = ockam_identity_create(M.vault, &me)) || (rc = ockam_trust_everyone(&everyone)))
      goto fail;
    rc = ockam_identity_channel_listener_create(M.node, "secure_channel_listener", me, everyone,
                                                NULL, &id_listener);
    ockam_trust_policy_free(everyone);
    if (rc) goto fail;
  } else {
    /* Facing the responder, as the initiator: write sc-test-a-b, read sc-test-b-a. */
    if ((rc = ockam_stream_connect(M.node, hub, "sc-test-a-b", "sc-test-b-a", NULL, &to_resp)))
      goto fail;
    ockam_route *r = route_of(ockam_stream_tx_address(to_resp), "secure_channel_listener");
    if (!strcmp(mode, "anon")) {
      rc = ockam_channel_create(M.node, r, M.vault, NULL, 60000, M.chan_b, sizeof M.chan_b);
      if (!rc)
        rc = ockam_channel_listener_create(M.node, "secure_channel_listener", M.vault, NULL,
                                           &plain_listener);
      if (!rc) rc = start("echoer", &echo_ops);
      if (!rc) rc = start("mitm_relay", &relay_back_ops);
    } else {
      rc = start("relay_a", &relay_a_ops);
      if (!rc) rc = start("relay_b", &relay_b_ops);
      if (!rc) rc = start("secure_channel_listener", &fake_listener_ops);
      /* Not a channel listener of the library: expose it on the stream. */
      if (!rc) rc = ockam_stream_allow(to_init, "secure_channel_listener");
      if (!rc)
        rc = ockam_channel_listener_create(M.node, "mitm_pl", M.vault, NULL, &plain_listener);
      if (!rc) rc = ockami_channel_initiate(M.node, r, M.vault, NULL, "relay_b", M.plain_b);
    }
    ockam_route_free(r);
    if (rc) goto fail;
  }
  if ((rc = ockam_stream_wait_ready(to_init, 30000))) goto fail;
  printf("MITM ready (%s)\n", mode);
  fflush(stdout);
  rc = ockam_node_run(M.node);
  ockam_stream_close(to_init);
  ockam_stream_close(to_resp);
  ockam_channel_listener_close(plain_listener);
  ockam_identity_channel_listener_close(id_listener);
  ockam_tcp_close(tcp);
  ockam_node_destroy(M.node);
  ockam_route_free(hub);
  ockam_route_free(M.reply_to);
  ockam_route_free(M.cb_a);
  ockam_route_free(M.cr_b);
  ockam_identity_free(me);
  ockam_vault_destroy(M.vault);
  return 0;
fail:
  fprintf(stderr, "mitm: %s\n", ockam_strerror(rc));
  return 1;
}
