/* ockam hub: run a hub on this process's node. */
#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <uv.h>

#include "cli.h"
#include "config.h"
#include "logsink.h"
#include "ockam/error.h"
#include "ockam/limits.h"
#include "ockam/log.h"
#include "ockam/node.h"

static int check_log_level(const char *s) {
  ockam_log_level lvl;
  return ockam_log_level_parse(s, &lvl);
}

#define T ockam_hub_cli
static const ockam_cli_option hub_options[] = {
    OCKAM_CLI_STR(T, hub.listen, "listen", "listen", "HOST:PORT", "127.0.0.1:4000", NULL, NULL,
                  "address to listen on"),
    OCKAM_CLI_STR(T, hub.store, "store", "store", "memory|lmdb|jetstream", "lmdb",
                  "memory|lmdb|jetstream", NULL, "stream storage"),
    OCKAM_CLI_STR(T, hub.data_dir, "data", "data_dir", "DIR", "./ockam-hub-data", NULL, NULL,
                  "lmdb data directory"),
    OCKAM_CLI_STR(T, hub.nats_url, "nats", "nats_url", "URL[,URL...]", NULL, NULL, NULL,
                  "NATS servers for --store jetstream"),
    OCKAM_CLI_UINT_OPT(T, hub.replicas, "replicas", "replicas", "N", 1, 1, 5, "JetStream replicas"),
    OCKAM_CLI_UINT_OPT(T, hub.retention_messages, "retention-messages", "retention_messages", "N",
                       OCKAM_RETENTION_MAX_MESSAGES, 0, 0,
                       "keep at most N messages per stream (0 = no limit)"),
    OCKAM_CLI_SIZE_OPT(T, hub.retention_bytes, "retention-bytes", "retention_bytes",
                       OCKAM_RETENTION_MAX_BYTES, 0, 0,
                       "keep at most this many bytes per stream (0 = no limit)"),
    OCKAM_CLI_DURATION_OPT(T, hub.retention_age_s, "retention-age", "retention_age", 1000,
                           OCKAM_RETENTION_MAX_AGE_S, 0, 0,
                           "drop messages older than this (0 = no limit)"),
    OCKAM_CLI_UINT_OPT(T, hub.max_streams, "max-streams", "max_streams", "N", OCKAM_HUB_MAX_STREAMS,
                       1, 0, "streams the hub serves"),
    OCKAM_CLI_SIZE_OPT(T, hub.max_message, "max-message", "max_message", OCKAM_STREAM_STORED_MAX, 1,
                       OCKAM_STREAM_STORED_MAX,
                       "largest stored message (the default is also the maximum)"),
    OCKAM_CLI_UINT_OPT(T, hub.max_connections, "max-connections", "max_connections", "N",
                       OCKAM_TCP_MAX_CONNECTIONS, 1, 0, "concurrent TCP connections"),
    OCKAM_CLI_UINT_OPT(T, hub.listen_backlog, "listen-backlog", "listen_backlog", "N",
                       OCKAM_TCP_LISTEN_BACKLOG, 1, INT32_MAX,
                       "connections queued by the kernel before accept"),
    OCKAM_CLI_UINT_OPT(T, hub.max_connections_per_ip, "max-connections-per-ip",
                       "max_connections_per_ip", "N", OCKAM_TCP_MAX_PER_IP, 1, 0,
                       "connections one IP address may hold at once"),
    OCKAM_CLI_DURATION_OPT(T, hub.first_frame_timeout_ms, "first-frame-timeout",
                           "first_frame_timeout", 1, OCKAM_TCP_FIRST_FRAME_MS, 1, UINT32_MAX,
                           "a new connection must send a complete frame within this"),
    OCKAM_CLI_DURATION_OPT(T, hub.idle_timeout_ms, "idle-timeout", "idle_timeout", 1,
                           OCKAM_TCP_IDLE_MS, 1, UINT32_MAX,
                           "a connection that sends no frame this long is closed"),
    OCKAM_CLI_DURATION_OPT(T, hub.write_stall_timeout_ms, "write-stall-timeout",
                           "write_stall_timeout", 1, OCKAM_TCP_WRITE_STALL_MS, 1, UINT32_MAX,
                           "a connection that reads none of its replies this long is closed"),
    OCKAM_CLI_SIZE_OPT(T, hub.output_budget, "output-budget", "output_budget",
                       OCKAM_TCP_OUTPUT_BUDGET, 65536, 0,
                       "bytes queued for writing on all connections together"),
    OCKAM_CLI_SIZE_OPT(T, hub.send_queue_bytes, "send-queue", "send_queue",
                       OCKAM_TCP_SEND_QUEUE_BYTES, 65536, 0,
                       "bytes queued for writing on one connection"),
    OCKAM_CLI_DURATION_OPT(T, hub.long_poll_max_ms, "long-poll-max", "long_poll_max", 1,
                           OCKAM_LONG_POLL_MAX_MS, 1, 0, "longest held pull"),
    OCKAM_CLI_UINT_OPT(T, hub.max_forwarders, "max-forwarders", "max_forwarders", "N",
                       OCKAM_HUB_MAX_FORWARDERS, 1, 0, "forwarders the hub keeps"),
    OCKAM_CLI_UINT_OPT(T, hub.max_forwarders_per_connection, "max-forwarders-per-connection",
                       "max_forwarders_per_connection", "N",
                       OCKAM_HUB_MAX_FORWARDERS_PER_CONNECTION, 1, 0,
                       "forwarders one client connection keeps"),
    OCKAM_CLI_DURATION_OPT(T, hub.forwarder_idle_timeout_s, "forwarder-idle-timeout",
                           "forwarder_idle_timeout", 1000, OCKAM_HUB_FORWARDER_IDLE_S, 1,
                           UINT64_MAX / 1000, "a forwarder that carries nothing this long goes"),
    OCKAM_CLI_DURATION_OPT(T, hub.stream_idle_expiry_ms, "stream-idle-expiry", "stream_idle_expiry",
                           1, 0, 0, 0, "delete an empty stream unused this long (0 = never)"),
    OCKAM_CLI_UINT_OPT(T, hub.max_streams_per_connection, "max-streams-per-connection",
                       "max_streams_per_connection", "N", OCKAM_HUB_MAX_STREAMS_PER_CONNECTION, 1,
                       0, "streams one client connection may create"),
    OCKAM_CLI_UINT_OPT(T, hub.max_pulls_per_connection, "max-pulls-per-connection",
                       "max_pulls_per_connection", "N", OCKAM_HUB_MAX_PULLS_PER_CONNECTION, 1, 0,
                       "pulls one connection may have in flight or held"),
    OCKAM_CLI_UINT_OPT(T, hub.max_pushes_per_connection, "max-pushes-per-connection",
                       "max_pushes_per_connection", "N", OCKAM_HUB_MAX_PUSHES_PER_CONNECTION, 1, 0,
                       "pushes of one connection awaiting durability"),
    OCKAM_CLI_UINT_OPT(T, hub.max_pending_pushes, "max-pending-pushes", "max_pending_pushes", "N",
                       OCKAM_STREAM_PENDING_PUSHES, 1, 0,
                       "pushes awaiting durability before new ones get ERROR"),
    OCKAM_CLI_SIZE_OPT(T, hub.max_pending_bytes, "max-pending-bytes", "max_pending_bytes",
                       OCKAM_STREAM_PENDING_BYTES, 1, 0, "bytes of those pushes"),
    OCKAM_CLI_BOOL_OPT(T, hub.no_streams, "no-streams", "no_streams",
                       "offer only echo_service and forwarding_service"),
    OCKAM_CLI_BOOL_OPT(T, hub.no_sync, "no-sync", "no_sync",
                       "lmdb without fsync (benchmarks only: loses data on crash)"),
    OCKAM_CLI_STR(T, hub.http_listen, "http", "http", "HOST:PORT", NULL, NULL, NULL,
                  "serve /metrics, /healthz, /api/status and a dashboard (off by default)"),
    OCKAM_CLI_BOOL_OPT(T, hub.no_idempotent_producers, "no-idempotent-producers",
                       "no_idempotent_producers",
                       "refuse idempotent pushes like a 2021 hub (producers fall back)"),
    OCKAM_CLI_STR(T, ready_file, "ready-file", "ready_file", "PATH", NULL, NULL, NULL,
                  "write the bound HOST:PORT to PATH once listening"),
    OCKAM_CLI_STR(T, log, "log", "log", "LEVEL", NULL, NULL, check_log_level,
                  "debug|info|warn|error|off, any case (default: $OCKAM_LOG or info)"),
    OCKAM_CLI_STR(T, config, "config", NULL, "FILE", NULL, NULL, NULL,
                  "read options from this INI file first (flags override it)"),
    OCKAM_CLI_BOOL_OPT(T, check, "check", NULL,
                       "check the options and the configuration file, then exit (0 = valid)"),
    OCKAM_CLI_STR(T, log_format, "log-format", "log_format", "text|json", "text", "text|json", NULL,
                  "log lines as text or as JSON objects"),
    OCKAM_CLI_DURATION_OPT(T, hub.stats_interval_s, "stats-interval", "stats_interval", 1000, 0, 0,
                           0, "log a statistics line this often (0 = never)"),
    OCKAM_CLI_STR(T, hub.identity, "identity", "identity", "FILE", NULL, NULL, NULL,
                  "hub identity (keys in DIR/vault beside it; default DATA/identity with "
                  "lmdb, created 0600 if absent; else a new one per run)"),
    OCKAM_CLI_STR(T, hub.acl, "acl", "acl", "FILE", NULL, NULL, NULL,
                  "access control list (INI); reloaded on SIGHUP"),
    OCKAM_CLI_STR(T, hub.anonymous, "anonymous", "anonymous", "allow|deny", NULL, "allow|deny",
                  NULL, "plain clients without identity (default: allowed on loopback only)"),
    OCKAM_CLI_BOOL_OPT(T, print_identifier, "print-identifier", NULL,
                       "print the hub's identifier and exit"),
};
#undef T

const ockam_cli_spec ockam_hub_cli_spec = {
    .command = "hub",
    .usage = "ockam hub [options]",
    .options = hub_options,
    .count = sizeof hub_options / sizeof hub_options[0],
};

/* Defaults, then the configuration file, then the flags: the flags are parsed
 * twice, first to find --config (and to report a bad flag before the file is
 * read). */
int ockam_cli_parse_hub(int argc, char **argv, ockam_hub_cli *out) {
  memset(out, 0, sizeof *out);
  int rc = ockam_cli_parse(&ockam_hub_cli_spec, out, argc, argv, NULL);
  if (rc) return rc;
  if (out->config) {
    const char *path = out->config;
    ockam_cli_defaults(&ockam_hub_cli_spec, out);
    char err[512];
    if (ockam_cli_config_load(&ockam_hub_cli_spec, out, path, "hub", &out->strings, err,
                              sizeof err)) {
      fprintf(stderr, "ockam hub: %s\n", err);
      ockam_cli_hub_free(out);
      return -1;
    }
    rc = ockam_cli_parse_args(&ockam_hub_cli_spec, out, argc, argv, NULL);
    if (rc) { /* the first pass accepted the same flags */
      ockam_cli_hub_free(out);
      return rc;
    }
  }
  if (!strcmp(out->hub.store, "jetstream") && !out->hub.nats_url) {
    fprintf(stderr, "ockam hub: --store jetstream needs --nats URL (key nats_url)\n");
    ockam_cli_hub_free(out);
    return -1;
  }
  return 0;
}

void ockam_cli_hub_free(ockam_hub_cli *o) {
  ockam_cli_strings_free(&o->strings);
}

static int write_ready_file(const char *path, const char *bound) {
  char tmp[4096];
  if (snprintf(tmp, sizeof tmp, "%s.tmp", path) >= (int)sizeof tmp) return -1;
  FILE *f = fopen(tmp, "w");
  if (!f) return -1;
  fprintf(f, "%s\n", bound);
  if (fclose(f) != 0) return -1;
  return rename(tmp, path);
}

/* SIGHUP: read the ACL again (the hub keeps the old one if the new one is bad). */
static void on_sighup(uv_signal_t *h, int signum) {
  (void)signum;
  if (ockam_hub_reload_acl(h->data) == OCKAM_ESTATE)
    fprintf(stderr, "ockam hub: SIGHUP: no --acl to reload\n");
}

static int print_identifier(const ockam_hub_cli *o) {
  char id[OCKAM_IDENTIFIER_BUF];
  int rc = ockam_hub_identity_identifier(&o->hub, id, sizeof id);
  if (rc == OCKAM_ENOTFOUND)
    fprintf(stderr,
            "ockam hub: this hub has no persistent identity (give --identity FILE or "
            "use the lmdb store)\n");
  else if (rc)
    fprintf(stderr, "ockam hub: identity: %s\n", ockam_strerror(rc));
  else
    printf("%s\n", id);
  return rc ? 1 : 0;
}

int ockam_cmd_hub(int argc, char **argv) {
  if (argc > 1 && !strcmp(argv[1], "status")) return ockam_cmd_hub_status(argc - 1, argv + 1);
  ockam_hub_cli o;
  int prc = ockam_cli_parse_hub(argc, argv, &o);
  bool check = false;
  for (int i = 1; i < argc && !check; i++) check = !strcmp(argv[i], "--check");
  if (prc) return prc > 0 ? 0 : check ? 1 : 2;
  if (o.print_identifier) {
    int r = print_identifier(&o);
    ockam_cli_hub_free(&o);
    return r;
  }
  /* Access control: the ACL parses, and anonymous clients are decided on. */
  char why[700];
  if (ockam_hub_check_access(&o.hub, why, sizeof why) != OCKAM_OK) {
    fprintf(stderr, "ockam hub: %s\n", why);
    ockam_cli_hub_free(&o);
    return 1;
  }
  if (o.check) {
    printf("ockam hub: configuration OK\n");
    ockam_cli_hub_free(&o);
    return 0;
  }
  ockam_log_level lvl = OCKAM_LOG_INFO; /* the hub's default; the library's is warn */
  const char *env = getenv("OCKAM_LOG");
  if (o.log)
    (void)ockam_log_level_parse(o.log, &lvl); /* checked by the option table */
  else if (env && ockam_log_level_parse(env, &lvl) != OCKAM_OK)
    lvl = OCKAM_LOG_INFO;
  ockam_log_set_level(lvl);
  ockam_cli_log log;
  ockam_cli_log_install(&log, o.log_format);
  ockam_node *node;
  int rc = ockam_node_create(&node);
  if (rc) {
    char line[256];
    snprintf(line, sizeof line, "cannot start: %s", ockam_strerror(rc));
    ockam_cli_log_line(&log, OCKAM_LOG_ERROR, line);
    ockam_cli_log_uninstall(&log);
    ockam_cli_hub_free(&o);
    return 1;
  }
  ockam_hub *hub;
  char bound[128] = "";
  rc = ockam_hub_start(node, &o.hub, bound, sizeof bound, &hub);
  if (rc) {
    /* One line that keeps the cause: the first error logged while starting
     * (it names the path or address and the system's reason). */
    char line[640];
    snprintf(line, sizeof line, "cannot start: %s",
             log.first_error[0] ? log.first_error : ockam_strerror(rc));
    ockam_node_destroy(node);
    ockam_cli_log_line(&log, OCKAM_LOG_ERROR, line);
    ockam_cli_log_uninstall(&log);
    ockam_cli_hub_free(&o);
    return 1;
  }
  ockam_cli_log_started(&log);
  if (ockam_node_stop_on_signals(node) != OCKAM_OK)
    fprintf(stderr, "ockam hub: no signal handling\n");
  signal(SIGPIPE, SIG_IGN);
  printf("ockam hub listening on %s (store: %s)\n", bound, o.hub.no_streams ? "none" : o.hub.store);
  char id[OCKAM_IDENTIFIER_BUF];
  if (ockam_hub_identifier(hub, id, sizeof id) == OCKAM_OK) printf("ockam hub identity: %s\n", id);
  fflush(stdout);
  uv_signal_t hup;
  bool have_hup = uv_signal_init(ockam_node_loop(node), &hup) == 0;
  if (have_hup) {
    hup.data = hub;
    if (uv_signal_start(&hup, on_sighup, SIGHUP) != 0) fprintf(stderr, "ockam hub: no SIGHUP\n");
    uv_unref((uv_handle_t *)&hup);
  }
  if (o.ready_file && write_ready_file(o.ready_file, bound) != 0)
    fprintf(stderr, "ockam hub: cannot write %s: %s\n", o.ready_file, strerror(errno));
  rc = ockam_node_run(node);
  if (have_hup) uv_close((uv_handle_t *)&hup, NULL);
  ockam_cli_log_line(&log, OCKAM_LOG_INFO, "shutting down");
  ockam_log_flush_suppressed();
  ockam_hub_stop(hub);
  ockam_node_destroy(node);
  ockam_cli_log_uninstall(&log);
  ockam_cli_hub_free(&o);
  return rc ? 1 : 0;
}
