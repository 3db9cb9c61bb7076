/* Hub assembly: listener + services + store. */
#include <errno.h>
#include <inttypes.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "acl.h"
#include "hub_internal.h"
#include "log.h"
#include "node.h"
#include "ockam/identity_channel.h"
#include "ockam/limits.h"
#include "stats.h"

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
  ockam_timer *stats;    /* the periodic statistics line, or NULL */
  ockami_stats *figures; /* the `status` service, the HTTP listener */
  int lock_fd;           /* the data directory lock, or -1 */
  ockami_node_hook hook;
  /* Identity and access control. */
  ockam_vault *vault;
  ockam_identity *identity;
  ockam_identity_channel_listener *listener;
  char identifier[OCKAM_IDENTIFIER_BUF];
  char *acl_path; /* NULL: no ACL file */
  ockami_authz authz;
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
           "; %" PRIu64 " log lines suppressed; %" PRIu64 " requests denied, %" PRIu64
           " over identity quotas",
           t.open_connections, t.accepted, t.rejected, t.frames_in, t.frames_out, t.bytes_in,
           t.bytes_out, ockam_log_suppressed(), hub->authz.stats.denied,
           hub->authz.stats.over_quota);
}

/* Stop every part: the stream services first (pending appends finish), then
 * the forwarders, echo, and last the listener and its connections. */
static void hub_halt(ockam_hub *hub) {
  ockami_stats_detach(hub->figures);
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
  if (hub->authz.stats.denied || hub->authz.stats.over_quota || hub->authz.stats.reloads ||
      hub->authz.stats.reload_fails)
    LOG_INFO(MOD,
             "access control: %" PRIu64 " requests denied, %" PRIu64
             " over identity quotas; ACL reloaded %" PRIu64 " times, %" PRIu64 " reloads refused",
             hub->authz.stats.denied, hub->authz.stats.over_quota, hub->authz.stats.reloads,
             hub->authz.stats.reload_fails);
  ockam_identity_channel_listener_close(hub->listener);
  hub->listener = NULL;
  ockam_tcp_close(hub->tcp);
  hub->tcp = NULL;
  ockami_peers_free(&hub->peers);
  ockami_authz_free(&hub->authz);
  ockami_stats_free(hub->figures); /* after the parts it reads */
  hub->figures = NULL;
  ockami_datadir_close(hub->lock_fd); /* after the store closed */
  hub->lock_fd = -1;
  hub->node = NULL;
}

/* The identity and its vault stay until the node's workers are gone: the
 * channels the hub accepted live on after the hub stops, holding keys in
 * that vault, until the node is destroyed. */
typedef struct identity_keeper {
  ockami_node_hook hook;
  ockam_vault *vault;
  ockam_identity *identity;
} identity_keeper;

static void keeper_run(ockami_node_hook *h) {
  identity_keeper *k = (identity_keeper *)h;
  ockam_identity_free(k->identity);
  ockam_vault_destroy(k->vault);
  free(k);
}

/* node: the live node the hub stopped on, or NULL once it is destroyed. */
static void hub_free(ockam_hub *hub, ockam_node *node) {
  identity_keeper *k = node && hub->vault ? calloc(1, sizeof *k) : NULL;
  if (k) {
    k->hook.fn = keeper_run;
    k->vault = hub->vault;
    k->identity = hub->identity;
    ockami_node_hook_add_late(node, &k->hook);
  } else {
    ockam_identity_free(hub->identity);
    ockam_vault_destroy(hub->vault);
  }
  free(hub->acl_path);
  free(hub);
}

static void hub_node_destroyed(ockami_node_hook *h) {
  hub_halt((ockam_hub *)((char *)h - offsetof(ockam_hub, hook)));
}

/* ---- identity and access control ------------------------------------------- */

/* Is the listen address's host a loopback address? */
static bool listen_loopback(const char *listen) {
  char host[256];
  const char *colon = strrchr(listen, ':');
  size_t n = colon ? (size_t)(colon - listen) : strlen(listen);
  if (n >= sizeof host) return false;
  memcpy(host, listen, n);
  host[n] = '\0';
  if (!strcmp(host, "localhost") || !strcmp(host, "[::1]") || !strcmp(host, "::1")) return true;
  unsigned a, b, c, d;
  char tail;
  return sscanf(host, "%u.%u.%u.%u%c", &a, &b, &c, &d, &tail) == 4 && a == 127 && b < 256 &&
         c < 256 && d < 256;
}

static ockami_anon anon_of(const char *s) {
  if (!s) return OCKAMI_ANON_UNSET;
  return !strcmp(s, "allow") ? OCKAMI_ANON_ALLOW : OCKAMI_ANON_DENY;
}

int ockam_hub_acl_check(const char *path, char *msg, size_t cap) {
  ockami_acl *acl = NULL;
  int rc = ockami_acl_load(path, &acl, msg, cap);
  ockami_acl_free(acl);
  return rc;
}

int ockam_hub_check_access(const ockam_hub_options *opts, char *msg, size_t cap) {
  if (msg && cap) msg[0] = '\0';
  if (!opts) return OCKAM_EINVAL;
  const char *listen = opts->listen ? opts->listen : "127.0.0.1:4000";
  if (opts->anonymous && strcmp(opts->anonymous, "allow") && strcmp(opts->anonymous, "deny")) {
    if (msg) snprintf(msg, cap, "--anonymous takes allow or deny, not '%s'", opts->anonymous);
    return OCKAM_EINVAL;
  }
  if (opts->acl) {
    char why[512];
    int rc = ockam_hub_acl_check(opts->acl, why, sizeof why);
    if (rc) {
      if (msg) snprintf(msg, cap, "ACL %s", why);
      return OCKAM_EINVAL;
    }
  }
  if (!opts->anonymous && !opts->acl && !listen_loopback(listen)) {
    if (msg)
      snprintf(msg, cap,
               "refusing to listen on %s (not loopback) without a decision about anonymous "
               "clients: give --anonymous allow, --anonymous deny, or an ACL with --acl FILE",
               listen);
    return OCKAM_EINVAL;
  }
  return OCKAM_OK;
}

/* The identity file opts name, or "" when the hub has no persistent one. */
static void identity_path(const ockam_hub_options *o, char *path, size_t cap) {
  path[0] = '\0';
  if (o->identity)
    snprintf(path, cap, "%s", o->identity);
  else if (!o->no_streams && (!o->store || !strcmp(o->store, "lmdb")))
    snprintf(path, cap, "%s/identity", o->data_dir ? o->data_dir : OCKAMI_HUB_DATA_DIR);
}

/* Load the identity at path (keys in its directory's vault/), creating both
 * if absent; with an empty path a new identity in memory. */
static int identity_open(const char *path, ockam_vault **vault, ockam_identity **id) {
  *vault = NULL;
  *id = NULL;
  if (!path[0]) {
    int rc = ockam_vault_create("software", vault);
    if (!rc) rc = ockam_identity_create(*vault, id);
    return rc;
  }
  char dir[4096], vdir[4200];
  snprintf(dir, sizeof dir, "%s", path);
  char *slash = strrchr(dir, '/');
  if (slash == dir)
    dir[1] = '\0';
  else if (slash)
    *slash = '\0';
  else
    snprintf(dir, sizeof dir, ".");
  if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
    LOG_ERROR(MOD, "identity directory %s: %s", dir, strerror(errno));
    return OCKAM_EIO;
  }
  snprintf(vdir, sizeof vdir, "%s/vault", dir);
  int rc = ockam_vault_create_persistent(vdir, vault);
  if (rc) {
    LOG_ERROR(MOD, "identity vault %s: %s", vdir, ockam_strerror(rc));
    return rc;
  }
  rc = ockam_identity_load(*vault, path, id);
  if (rc == OCKAM_ENOTFOUND) {
    rc = ockam_identity_create(*vault, id);
    if (!rc) rc = ockam_identity_save(*id, path);
    if (!rc) LOG_INFO(MOD, "created the hub identity %s", path);
  }
  if (rc) {
    LOG_ERROR(MOD, "hub identity %s: %s", path, ockam_strerror(rc));
    ockam_identity_free(*id);
    *id = NULL;
    ockam_vault_destroy(*vault);
    *vault = NULL;
  }
  return rc;
}

int ockam_hub_identity_identifier(const ockam_hub_options *opts, char *buf, size_t cap) {
  if (!opts || !buf) return OCKAM_EINVAL;
  char path[4200];
  identity_path(opts, path, sizeof path);
  if (!path[0]) return OCKAM_ENOTFOUND;
  ockam_vault *vault;
  ockam_identity *id;
  int rc = identity_open(path, &vault, &id);
  if (!rc) rc = ockam_identity_identifier(id, buf, cap);
  ockam_identity_free(id);
  ockam_vault_destroy(vault);
  return rc;
}

int ockam_hub_identifier(const ockam_hub *hub, char *buf, size_t cap) {
  if (!hub || !buf) return OCKAM_EINVAL;
  if (cap < OCKAM_IDENTIFIER_BUF) return OCKAM_ETOOSMALL;
  if (!hub->identifier[0]) return OCKAM_ESTATE;
  memcpy(buf, hub->identifier, OCKAM_IDENTIFIER_BUF);
  return OCKAM_OK;
}

int ockam_hub_reload_acl(ockam_hub *hub) {
  if (!hub || !hub->node) return OCKAM_EINVAL;
  if (!hub->acl_path) return OCKAM_ESTATE;
  ockami_acl *acl = NULL;
  char why[512];
  int rc = ockami_acl_load(hub->acl_path, &acl, why, sizeof why);
  if (rc) {
    hub->authz.stats.reload_fails++;
    LOG_ERROR(MOD, "ACL reload refused, the previous ACL stays: %s", why);
    return rc;
  }
  size_t subjects, rules;
  ockami_acl_counts(acl, &subjects, &rules);
  ockami_authz_replace(&hub->authz, acl);
  LOG_INFO(MOD, "ACL %s reloaded: %zu subjects, %zu stream rules", hub->acl_path, subjects, rules);
  return OCKAM_OK;
}

void ockam_hub_access_stats(const ockam_hub *hub, uint64_t *denied, uint64_t *over_quota) {
  if (denied) *denied = hub ? hub->authz.stats.denied : 0;
  if (over_quota) *over_quota = hub ? hub->authz.stats.over_quota : 0;
}

/* The identity, the ACL, and the identity channel listener. */
static int access_start(ockam_hub *hub, const ockam_hub_options *o) {
  char msg[600];
  int rc = ockam_hub_check_access(o, msg, sizeof msg);
  if (rc) {
    LOG_ERROR(MOD, "%s", msg);
    return rc;
  }
  ockami_acl *acl = NULL;
  if (o->acl) {
    if (!(hub->acl_path = strdup(o->acl))) return OCKAM_ENOMEM;
    if ((rc = ockami_acl_load(o->acl, &acl, msg, sizeof msg))) {
      LOG_ERROR(MOD, "ACL %s", msg);
      return rc;
    }
  }
  rc = ockami_authz_init(&hub->authz, hub->node, acl, anon_of(o->anonymous),
                         listen_loopback(o->listen));
  if (rc) return rc;
  hub->peers.authz = &hub->authz;
  char path[4200];
  identity_path(o, path, sizeof path);
  if ((rc = identity_open(path, &hub->vault, &hub->identity))) return rc;
  if ((rc = ockam_identity_identifier(hub->identity, hub->identifier, sizeof hub->identifier)))
    return rc;
  ockam_trust_policy *everyone;
  if ((rc = ockam_trust_everyone(&everyone))) return rc;
  /* Every identity that proves itself gets a channel; the ACL decides what it may do. */
  rc = ockam_identity_channel_listener_create(hub->node, OCKAM_HUB_IDENTITY_LISTENER, hub->identity,
                                              everyone, NULL, &hub->listener);
  ockam_trust_policy_free(everyone);
  if (rc) return rc;
  size_t subjects = 0, rules = 0;
  ockami_acl_counts(acl, &subjects, &rules);
  LOG_INFO(MOD, "identity P_ID.%s%s%s; %s; anonymous clients %s", hub->identifier,
           path[0] ? " from " : " (in memory)", path, o->acl ? "ACL loaded" : "no ACL",
           hub->authz.anonymous == OCKAMI_ANON_ALLOW  ? "allowed"
           : hub->authz.anonymous == OCKAMI_ANON_DENY ? "denied"
                                                      : "as the ACL's [anonymous] says");
  return OCKAM_OK;
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
  char why[600];
  int rc = ockam_hub_check_access(&o, why, sizeof why); /* before anything listens */
  if (rc) LOG_ERROR(MOD, "%s", why);
  if (!rc) rc = ockam_tcp_create(node, &topt, &hub->tcp);
  char here[OCKAM_TCP_ADDRESS_CAP] = "";
  if (!rc && bound && bound_cap < OCKAM_TCP_ADDRESS_CAP) rc = OCKAM_ETOOSMALL;
  if (!rc) rc = ockam_tcp_listen(hub->tcp, o.listen, here, sizeof here);
  if (!rc && bound) snprintf(bound, bound_cap, "%s", here);
  /* Only the lmdb store keeps files in the data directory. */
  if (!rc && !o.no_streams && (!o.store || strcmp(o.store, "lmdb") == 0))
    rc = ockami_datadir_open(o.data_dir ? o.data_dir : OCKAMI_HUB_DATA_DIR,
                             OCKAMI_HUB_REGISTRY_SUBDIR, &hub->lock_fd);
  if (!rc) rc = access_start(hub, &o);
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
  if (!rc) {
    ockami_stats_parts parts = {hub->tcp,
                                hub->forwarding,
                                hub->streams,
                                hub->peers.authz,
                                here,
                                o.no_streams ? "none" : (o.store ? o.store : "lmdb"),
                                o.max_streams ? o.max_streams : OCKAM_HUB_MAX_STREAMS};
    rc = ockami_stats_start(node, &o, &parts, &hub->figures);
  }
  if (rc) {
    LOG_ERROR(MOD, "cannot start hub: %s", ockam_strerror(rc));
    hub_halt(hub);
    hub_free(hub, node);
    return rc;
  }
  hub->hook.fn = hub_node_destroyed;
  ockami_node_hook_add(node, &hub->hook);
  *out = hub;
  return OCKAM_OK;
}

void ockam_hub_stop(ockam_hub *hub) {
  if (!hub) return;
  ockam_node *node = hub->node;
  if (node) {
    ockami_node_hook_remove(node, &hub->hook);
    hub_halt(hub);
  }
  hub_free(hub, node);
}
