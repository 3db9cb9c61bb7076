/* echo_service (spec §9): replies with the same payload to the return route,
 * with return route [echo_service]. */
#include "hub_internal.h"
#include "log.h"
#include "message.h"

#define ECHO_ADDRESS "echo_service"

static int echo_handle(ockam_worker *w, ockam_message *m) {
  /* Reuse the message: the reply's onward route is the request's return route. */
  ockam_route tmp = m->onward;
  m->onward = m->ret;
  m->ret = tmp;
  ockam_route_clear(&m->ret);
  int rc = ockam_route_append(&m->ret, OCKAM_ADDRESS_LOCAL, ECHO_ADDRESS, sizeof ECHO_ADDRESS - 1);
  if (!rc) rc = ockam_forward(ockam_worker_node(w), m);
  if (rc) LOG_DEBUG("echo", "cannot reply: %s", ockam_strerror(rc));
  return rc;
}

static const ockam_worker_ops echo_ops = {echo_handle, NULL};

int ockami_echo_start(ockam_node *node, ockam_worker **out) {
  const char *addrs[1] = {ECHO_ADDRESS};
  return ockam_worker_start(node, addrs, 1, &echo_ops, NULL, out);
}
