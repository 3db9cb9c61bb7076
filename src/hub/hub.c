/* Hub assembly: listener + services + store. */
#include <stdlib.h>
#include <string.h>

#include "hub_internal.h"
#include "log.h"
#include "ockam/limits.h"

#define MOD "hub"

struct ockam_hub {
  ockam_node *node;
  ockam_tcp *tcp;
  ockami_stream_service *streams;
};

int ockam_hub_start(ockam_node *node, const ockam_hub_options *opts, ockam_hub **out, char *bound,
                    size_t bound_cap) {
  if (!node || !out) return OCKAM_EINVAL;
  ockam_hub_options o = {0};
  if (opts) o = *opts;
  if (!o.listen) o.listen = "127.0.0.1:4000";
  ockam_hub *hub = calloc(1, sizeof *hub);
  if (!hub) return OCKAM_ENOMEM;
  hub->node = node;
  ockam_tcp_options topt = {0};
  topt.max_connections = o.max_connections;
  topt.listen_backlog = o.listen_backlog;
  int rc = ockam_tcp_create(node, &topt, &hub->tcp);
  if (!rc) rc = ockami_echo_start(node);
  if (!rc) rc = ockami_forwarding_start(node, o.max_forwarders);
  if (!rc && !o.no_streams) rc = ockami_stream_service_start(node, &o, &hub->streams);
  if (!rc) rc = ockam_tcp_listen(hub->tcp, o.listen, bound, bound_cap);
  if (rc) {
    LOG_ERROR(MOD, "cannot start hub: %s", ockam_strerror(rc));
    if (hub->streams) ockami_stream_service_stop(hub->streams);
    free(hub);
    return rc;
  }
  *out = hub;
  return OCKAM_OK;
}

void ockam_hub_stop(ockam_hub *hub) {
  if (!hub) return;
  if (hub->streams) ockami_stream_service_stop(hub->streams);
  free(hub);
}
