/* forwarding_service (spec §9): a registration creates a forwarder at a fresh
 * 16-hex address whose every message is re-sent along the registrant's route. */
#include <stdlib.h>
#include <string.h>

#include "hub_internal.h"
#include "log.h"
#include "message.h"
#include "ockam/limits.h"

#define MOD "forwarding"

struct ockami_forwarding {
  uint32_t max;
  uint32_t count;
};

typedef struct forwarder {
  ockami_forwarding *svc;
  ockam_route route;
} forwarder;

static int forwarder_handle(ockam_worker *w, ockam_message *m) {
  forwarder *f = ockam_worker_user(w);
  /* Onward = the registrant's route; whatever followed our address is dropped;
   * the return route is left as is (spec §9, step 3). */
  int rc = ockami_route_assign(&m->onward, &f->route);
  if (!rc) rc = ockam_forward(ockam_worker_node(w), m);
  return rc;
}

static void forwarder_stopped(ockam_worker *w) {
  forwarder *f = ockam_worker_user(w);
  if (!f) return;
  f->svc->count--;
  ockami_route_release(&f->route);
  free(f);
}

static const ockam_worker_ops forwarder_ops = {forwarder_handle, forwarder_stopped};

static int service_handle(ockam_worker *w, ockam_message *m) {
  ockami_forwarding *svc = ockam_worker_user(w);
  ockam_node *node = ockam_worker_node(w);
  if (m->ret.count == 0) return OCKAM_EINVAL;
  if (svc->count >= svc->max) {
    LOG_WARN(MOD, "forwarder limit (%u) reached; ignoring registration", svc->max);
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
  ockam_worker *fw = NULL;
  if (!rc) rc = ockam_worker_start(node, addrs, 1, &forwarder_ops, f, &fw);
  if (rc) {
    ockami_route_release(&f->route);
    free(f);
    return rc;
  }
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
  free(ockam_worker_user(w));
}

static const ockam_worker_ops service_ops = {service_handle, service_stopped};

int ockami_forwarding_start(ockam_node *node, uint32_t max_forwarders) {
  ockami_forwarding *svc = calloc(1, sizeof *svc);
  if (!svc) return OCKAM_ENOMEM;
  svc->max = max_forwarders ? max_forwarders : OCKAM_HUB_MAX_FORWARDERS;
  const char *addrs[1] = {"forwarding_service"};
  int rc = ockam_worker_start(node, addrs, 1, &service_ops, svc, NULL);
  if (rc) free(svc);
  return rc;
}
