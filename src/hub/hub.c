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
  ockami_forwarding *forwarding;
  ockami_peers peers;
  ockam_timer *sweep;
  int lock_fd; /* the data directory lock, or -1 */
};

/* Periodic housekeeping: forwarders of closed connections and idle ones go,
 * then the accounting of connections that are gone and idle. */
static void hub_sweep(void *arg) {
  ockam_hub *hub = arg;
  ockami_forwarding_sweep(hub->forwarding);
  ockami_peers_sweep(&hub->peers);
}

static void hub_free(ockam_hub *hub) {
  if (hub->sweep) ockam_timer_stop(hub->sweep);
  if (hub->streams) ockami_stream_service_stop(hub->streams);
  ockami_forwarding_stop(hub->forwarding);
  ockami_peers_free(&hub->peers);
  ockami_datadir_close(hub->lock_fd); /* after the store closed */
  free(hub);
}

int ockam_hub_start(ockam_node *node, const ockam_hub_options *opts, ockam_hub **out, char *bound,
                    size_t bound_cap) {
  if (!node || !out) return OCKAM_EINVAL;
  ockam_hub_options o = {0};
  if (opts) o = *opts;
  if (!o.listen) o.listen = "127.0.0.1:4000";
  ockam_hub *hub = calloc(1, sizeof *hub);
  if (!hub) return OCKAM_ENOMEM;
  hub->node = node;
  hub->lock_fd = -1;
  ockami_peers_init(&hub->peers, node);
  ockam_tcp_options topt = {0};
  topt.max_connections = o.max_connections;
  topt.listen_backlog = o.listen_backlog;
  int rc = OCKAM_OK;
  /* Only the lmdb store keeps files in the data directory. */
  if (!o.no_streams && (!o.store || strcmp(o.store, "lmdb") == 0))
    rc = ockami_datadir_open(o.data_dir ? o.data_dir : OCKAMI_HUB_DATA_DIR,
                             OCKAMI_HUB_REGISTRY_SUBDIR, &hub->lock_fd);
  if (rc) {
    ockami_peers_free(&hub->peers);
    free(hub);
    return rc;
  }
  rc = ockam_tcp_create(node, &topt, &hub->tcp);
  if (!rc) rc = ockami_echo_start(node);
  if (!rc) rc = ockami_forwarding_start(node, &o, &hub->peers, &hub->forwarding);
  if (!rc && !o.no_streams) rc = ockami_stream_service_start(node, &o, &hub->streams);
  if (!rc)
    rc = ockam_timer_start(node, OCKAM_HUB_SWEEP_MS, OCKAM_HUB_SWEEP_MS, hub_sweep, hub,
                           &hub->sweep);
  if (!rc) rc = ockam_tcp_listen(hub->tcp, o.listen, bound, bound_cap);
  if (rc) {
    LOG_ERROR(MOD, "cannot start hub: %s", ockam_strerror(rc));
    hub_free(hub);
    return rc;
  }
  *out = hub;
  return OCKAM_OK;
}

void ockam_hub_stop(ockam_hub *hub) {
  if (!hub) return;
  hub_free(hub);
}
