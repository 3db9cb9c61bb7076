/* forwarding_service (spec §9): a registration creates a forwarder at a fresh
 * 16-hex address whose every message is re-sent along the registrant's route.
 *
 * Lifetimes. A forwarder can only reach its registrant through the
 * connection the registration came on (the first hop of its route), so it
 * is stopped once that connection is gone; one that carried nothing for
 * the idle timeout is stopped too. A connection keeps at most
 * max_forwarders_per_connection forwarders, the hub max_forwarders; further
 * registrations are ignored, as the 2021 hub ignores what it cannot serve.
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "acl.h"
#include "hub_internal.h"
#include "log.h"
#include "message.h"
#include "node.h"
#include "ockam/limits.h"
#include "stream_proto.h"

#define MOD "forwarding"

typedef struct forwarder forwarder;

struct ockami_forwarding {
  ockam_node *node;
  ockami_peers *peers;
  ockam_worker *worker;
  forwarder *head; /* every live forwarder */
  uint32_t max, max_per_peer;
  uint64_t idle_ms; /* 0 = never */
  uint32_t count;
  uint64_t refused, released;
  bool limit_logged, peer_limit_logged;
};

struct forwarder {
  forwarder *prev, *next;
  ockami_forwarding *svc;
  ockam_worker *worker;
  ockami_peer *peer; /* NULL when the registration had no usable first hop */
  uint64_t last_ms;
  ockam_route route;
};

static void forwarder_unlink(forwarder *f) {
  ockami_forwarding *svc = f->svc;
  if (f->prev)
    f->prev->next = f->next;
  else
    svc->head = f->next;
  if (f->next) f->next->prev = f->prev;
  svc->count--;
  if (f->peer) f->peer->n[OCKAMI_PEER_FORWARDERS]--;
}

static int forwarder_handle(ockam_worker *w, ockam_message *m) {
  forwarder *f = ockam_worker_user(w);
  if (!f) return OCKAM_ECLOSED;
  f->last_ms = ockam_node_now_ms(ockam_worker_node(w));
  /* Onward = the registrant's route; whatever followed our address is dropped;
   * the return route is left as is (spec §9, step 3). */
  int rc = ockami_route_assign(&m->onward, &f->route);
  if (!rc) rc = ockam_forward(ockam_worker_node(w), m);
  return rc;
}

static void forwarder_stopped(ockam_worker *w) {
  forwarder *f = ockam_worker_user(w);
  if (!f) return;
  forwarder_unlink(f);
  ockami_route_release(&f->route);
  free(f);
}

static const ockam_worker_ops forwarder_ops = {forwarder_handle, forwarder_stopped};

static int service_handle(ockam_worker *w, ockam_message *m) {
  ockami_forwarding *svc = ockam_worker_user(w);
  if (!svc) return OCKAM_ECLOSED;
  ockam_node *node = ockam_worker_node(w);
  if (m->ret.count == 0) return OCKAM_EINVAL;
  char idbuf[OCKAM_IDENTIFIER_BUF];
  if (!ockami_authz_check(svc->peers->authz, ockami_authz_requester(m, idbuf), OCKAMI_ACL_REGISTER,
                          NULL, 0, "forwarding_service")) {
    /* The stream protocol's `error`, with an empty return route: no forwarder. */
    ockami_buf b = OCKAMI_BUF_INIT;
    int rc = ockami_sp_encode_error(&b, OCKAMI_AUTHZ_DENIED, sizeof OCKAMI_AUTHZ_DENIED - 1);
    if (!rc) rc = ockami_buf_set(&m->payload, b.data, b.len);
    ockami_buf_free(&b);
    if (rc) return rc;
    ockam_route tmp = m->onward;
    m->onward = m->ret;
    m->ret = tmp;
    ockam_route_clear(&m->ret);
    return ockam_forward(node, m);
  }
  if (svc->count >= svc->max) {
    svc->refused++;
    if (!svc->limit_logged)
      LOG_WARN(MOD, "forwarder limit (%u) reached; ignoring registrations", svc->max);
    svc->limit_logged = true;
    return OCKAM_EFULL;
  }
  svc->limit_logged = false;
  ockami_peer *peer = ockami_peers_get(svc->peers, &m->ret);
  if (peer && peer->n[OCKAMI_PEER_FORWARDERS] >= svc->max_per_peer) {
    svc->refused++;
    if (!svc->peer_limit_logged)
      LOG_WARN(MOD, "a connection reached %u forwarders; ignoring its registrations",
               svc->max_per_peer);
    svc->peer_limit_logged = true;
    return OCKAM_EFULL;
  }
  forwarder *f = calloc(1, sizeof *f);
  if (!f) return OCKAM_ENOMEM;
  f->svc = svc;
  int rc = ockami_route_assign(&f->route, &m->ret);
  char addr[33];
  ockam_random_address(addr);
  addr[16] = '\0';
  const char *addrs[1] = {addr};
  if (!rc) rc = ockam_worker_start(node, addrs, 1, &forwarder_ops, f, &f->worker);
  if (rc) {
    ockami_route_release(&f->route);
    free(f);
    return rc;
  }
  f->peer = peer;
  if (peer) peer->n[OCKAMI_PEER_FORWARDERS]++;
  f->last_ms = ockam_node_now_ms(node);
  f->next = svc->head;
  if (svc->head) svc->head->prev = f;
  svc->head = f;
  svc->count++;
  /* Reply with the same payload, return route [f]. */
  ockam_route tmp = m->onward;
  m->onward = m->ret;
  m->ret = tmp;
  ockam_route_clear(&m->ret);
  rc = ockam_route_append(&m->ret, OCKAM_ADDRESS_LOCAL, addr, strlen(addr));
  if (!rc) rc = ockam_forward(node, m);
  LOG_DEBUG(MOD, "registered forwarder 0#%s", addr);
  return rc;
}

static void service_stopped(ockam_worker *w) {
  ockami_forwarding *svc = ockam_worker_user(w);
  if (svc) svc->worker = NULL;
}

static const ockam_worker_ops service_ops = {service_handle, service_stopped};

int ockami_forwarding_start(ockam_node *node, const ockam_hub_options *opts, ockami_peers *peers,
                            ockami_forwarding **out) {
  ockami_forwarding *svc = calloc(1, sizeof *svc);
  if (!svc) return OCKAM_ENOMEM;
  svc->node = node;
  svc->peers = peers;
  svc->max = opts->max_forwarders ? opts->max_forwarders : OCKAM_HUB_MAX_FORWARDERS;
  svc->max_per_peer = opts->max_forwarders_per_connection ? opts->max_forwarders_per_connection
                                                          : OCKAM_HUB_MAX_FORWARDERS_PER_CONNECTION;
  uint64_t idle_s =
      opts->forwarder_idle_timeout_s ? opts->forwarder_idle_timeout_s : OCKAM_HUB_FORWARDER_IDLE_S;
  svc->idle_ms = idle_s > UINT64_MAX / 1000 ? 0 : idle_s * 1000; /* 0: never */
  const char *addrs[1] = {"forwarding_service"};
  int rc = ockam_worker_start(node, addrs, 1, &service_ops, svc, &svc->worker);
  if (rc) {
    free(svc);
    return rc;
  }
  *out = svc;
  return OCKAM_OK;
}

static void forwarder_release(forwarder *f) {
  forwarder_unlink(f);
  ockam_worker_stop(f->worker);
  ockami_worker_set_user(f->worker, NULL);
  ockami_route_release(&f->route);
  free(f);
}

void ockami_forwarding_sweep(ockami_forwarding *svc) {
  uint64_t now = ockam_node_now_ms(svc->node);
  forwarder *f = svc->head;
  while (f) {
    forwarder *next = f->next;
    bool gone = f->peer && !ockami_peer_alive(svc->peers, f->peer);
    bool idle = svc->idle_ms && now - f->last_ms >= svc->idle_ms;
    if (gone || idle) {
      LOG_DEBUG(MOD, "forwarder 0#%s released: %s", ockam_worker_address(f->worker),
                gone ? "its connection closed" : "idle");
      svc->released++;
      forwarder_release(f);
    }
    f = next;
  }
}

void ockami_forwarding_stop(ockami_forwarding *svc) {
  if (!svc) return;
  LOG_INFO(MOD, "stopping: %u forwarders; %" PRIu64 " released, %" PRIu64 " registrations refused",
           svc->count, svc->released, svc->refused);
  while (svc->head) forwarder_release(svc->head);
  if (svc->worker) {
    ockam_worker_stop(svc->worker);
    ockami_worker_set_user(svc->worker, NULL);
  }
  free(svc);
}

void ockami_forwarding_counts(const ockami_forwarding *svc, uint32_t *live, uint64_t *refused,
                              uint64_t *released) {
  *live = svc ? svc->count : 0;
  *refused = svc ? svc->refused : 0;
  *released = svc ? svc->released : 0;
}
