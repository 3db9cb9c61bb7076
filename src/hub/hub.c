/* Hub assembly: listener + services + store. */
#include <inttypes.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "hub_internal.h"
#include "log.h"
#include "node.h"
#include "ockam/limits.h"

#define MOD "hub"

/* node is NULL once the parts are stopped: by ockam_hub_stop(), or by the
 * node's destruction through the hook ("Handles" in ockam/node.h). */
struct ockam_hub {
  ockam_node *node;
  ockam_tcp *tcp;
  ockam_worker *echo;
  ockami_stream_service *streams;
  ockami_forwarding *forwarding;
  ockami_peers peers;
  ockam_timer *sweep;
  ockam_timer *stats; /* the periodic statistics line, or NULL */
  int lock_fd;        /* the data directory lock, or -1 */
  ockami_node_hook hook;
};

/* Periodic housekeeping: forwarders of closed connections and idle ones go,
 * then the accounting of connections that are gone and idle. */
static void hub_sweep(void *arg) {
  ockam_hub *hub = arg;
  ockami_forwarding_sweep(hub->forwarding);
  ockami_peers_sweep(&hub->peers);
}

/* The periodic statistics line (--stats-interval). */
static void hub_stats(void *arg) {
  ockam_hub *hub = arg;
  ockam_tcp_stats t;
  ockam_tcp_get_stats(hub->tcp, &t);
  LOG_INFO(MOD,
           "stats: %" PRIu32 " connections open, %" PRIu64 " accepted, %" PRIu64
           " refused; frames in %" PRIu64 " out %" PRIu64 "; bytes in %" PRIu64 " out %" PRIu64
           "; %" PRIu64 " log lines suppressed",
           t.open_connections, t.accepted, t.rejected, t.frames_in, t.frames_out, t.bytes_in,
           t.bytes_out, ockam_log_suppressed());
}

/* Stop every part: the stream services first (pending appends finish), then
 * the forwarders, echo, and last the listener and its connections. */
static void hub_halt(ockam_hub *hub) {
  if (hub->sweep) ockam_timer_stop(hub->sweep);
  hub->sweep = NULL;
  if (hub->stats) ockam_timer_stop(hub->stats);
  hub->stats = NULL;
  ockami_stream_service_stop(hub->streams);
  hub->streams = NULL;
  ockami_forwarding_stop(hub->forwarding);
  hub->forwarding = NULL;
  ockam_worker_stop(hub->echo);
  hub->echo = NULL;
  ockam_tcp_close(hub->tcp);
  hub->tcp = NULL;
  ockami_peers_free(&hub->peers);
  ockami_datadir_close(hub->lock_fd); /* after the store closed */
  hub->lock_fd = -1;
  hub->node = NULL;
}

static void hub_node_destroyed(ockami_node_hook *h) {
  hub_halt((ockam_hub *)((char *)h - offsetof(ockam_hub, hook)));
}

int ockam_hub_start(ockam_node *node, const ockam_hub_options *opts, char *bound, size_t bound_cap,
                    ockam_hub **out) {
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
  topt.max_per_ip = o.max_connections_per_ip;
  topt.first_frame_ms = o.first_frame_timeout_ms;
  topt.idle_ms = o.idle_timeout_ms;
  topt.write_stall_ms = o.write_stall_timeout_ms;
  topt.output_budget = (size_t)o.output_budget;
  topt.send_queue_bytes = (size_t)o.send_queue_bytes;
  /* The listener first: a port in use fails at once, before the store is
   * touched. Nothing is accepted before the loop runs, by then every service
   * is up. */
  int rc = ockam_tcp_create(node, &topt, &hub->tcp);
  if (!rc) rc = ockam_tcp_listen(hub->tcp, o.listen, bound, bound_cap);
  /* Only the lmdb store keeps files in the data directory. */
  if (!rc && !o.no_streams && (!o.store || strcmp(o.store, "lmdb") == 0))
    rc = ockami_datadir_open(o.data_dir ? o.data_dir : OCKAMI_HUB_DATA_DIR,
                             OCKAMI_HUB_REGISTRY_SUBDIR, &hub->lock_fd);
  if (!rc) rc = ockami_echo_start(node, &hub->echo);
  if (!rc) rc = ockami_forwarding_start(node, &o, &hub->peers, &hub->forwarding);
  if (!rc && !o.no_streams) rc = ockami_stream_service_start(node, &o, &hub->peers, &hub->streams);
  if (!rc)
    rc = ockam_timer_start(node, OCKAM_HUB_SWEEP_MS, OCKAM_HUB_SWEEP_MS, hub_sweep, hub,
                           &hub->sweep);
  if (!rc && o.stats_interval_s) {
    uint64_t ms = o.stats_interval_s > UINT64_MAX / 1000 ? UINT64_MAX : o.stats_interval_s * 1000;
    rc = ockam_timer_start(node, ms, ms, hub_stats, hub, &hub->stats);
  }
  if (rc) {
    LOG_ERROR(MOD, "cannot start hub: %s", ockam_strerror(rc));
    hub_halt(hub);
    free(hub);
    return rc;
  }
  hub->hook.fn = hub_node_destroyed;
  ockami_node_hook_add(node, &hub->hook);
  *out = hub;
  return OCKAM_OK;
}

void ockam_hub_stop(ockam_hub *hub) {
  if (!hub) return;
  if (hub->node) {
    ockami_node_hook_remove(hub->node, &hub->hook);
    hub_halt(hub);
  }
  free(hub);
}
