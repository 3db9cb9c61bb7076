/* ockam: command-line front end.
 *
 *   ockam hub [options]          run a hub
 *   ockam send ROUTE TEXT        send TEXT (a BARE string) along ROUTE and print the reply
 *   ockam version
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "ockam/error.h"
#include "ockam/hub.h"
#include "ockam/limits.h"
#include "ockam/log.h"
#include "ockam/node.h"
#include "ockam/tcp.h"

#define OCKAM_VERSION_STRING "0.1.0"

static int parse_u64(const char *s, uint64_t *out) {
  char *end;
  errno = 0;
  unsigned long long v = strtoull(s, &end, 10);
  if (errno || end == s || *end || s[0] == '-') return -1;
  *out = v;
  return 0;
}

static int parse_u32(const char *s, uint32_t *out) {
  uint64_t v;
  if (parse_u64(s, &v) || v > UINT32_MAX) return -1;
  *out = (uint32_t)v;
  return 0;
}

static void hub_usage(FILE *f) {
  fprintf(f,
          "usage: ockam hub [options]\n"
          "  --listen HOST:PORT       address to listen on (default 127.0.0.1:4000)\n"
          "  --store memory|lmdb|jetstream   stream storage (default lmdb)\n"
          "  --data DIR               lmdb data directory (default ./ockam-hub-data)\n"
          "  --nats URL[,URL...]      NATS servers for --store jetstream\n"
          "  --replicas N             JetStream replicas (default 1)\n"
          "  --retention-messages N   keep at most N messages per stream (0 = no limit)\n"
          "  --retention-bytes N      keep at most N bytes per stream (0 = no limit)\n"
          "  --retention-age SECONDS  drop messages older than this (0 = no limit)\n"
          "  --max-streams N          streams the hub serves (default %u)\n"
          "  --max-message BYTES      largest stored message (default and maximum %u)\n"
          "  --max-connections N      concurrent TCP connections (default %u)\n"
          "  --listen-backlog N       connections queued by the kernel before accept (default %u)\n"
          "  --long-poll-max MS       longest held pull (default %u)\n"
          "  --max-forwarders N       forwarders the hub keeps (default %u)\n"
          "  --max-pending-pushes N   pushes awaiting durability before new ones get ERROR "
          "(default %u)\n"
          "  --max-pending-bytes N    bytes of those pushes (default %llu)\n"
          "  --no-streams             offer only echo_service and forwarding_service\n"
          "  --no-sync                lmdb without fsync (benchmarks only: loses data on crash)\n"
          "  --ready-file PATH        write the bound HOST:PORT to PATH once listening\n"
          "  --log LEVEL              debug|info|warn|error|off (default: $OCKAM_LOG or info)\n",
          OCKAM_HUB_MAX_STREAMS, OCKAM_FRAME_MAX - OCKAM_STREAM_REPLY_MARGIN,
          OCKAM_TCP_MAX_CONNECTIONS, OCKAM_TCP_LISTEN_BACKLOG, OCKAM_LONG_POLL_MAX_MS,
          OCKAM_HUB_MAX_FORWARDERS, OCKAM_STREAM_PENDING_PUSHES,
          (unsigned long long)OCKAM_STREAM_PENDING_BYTES);
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

/* Parses hub options; returns 0, 1 (help printed), or -1 (error printed). */
int ockam_cli_parse_hub(int argc, char **argv, ockam_hub_options *o, const char **ready_file);
int ockam_cli_parse_hub(int argc, char **argv, ockam_hub_options *o, const char **ready_file) {
  enum {
    OPT_LISTEN = 1000,
    OPT_STORE,
    OPT_DATA,
    OPT_NATS,
    OPT_REPLICAS,
    OPT_RET_MSGS,
    OPT_RET_BYTES,
    OPT_RET_AGE,
    OPT_MAX_STREAMS,
    OPT_MAX_MESSAGE,
    OPT_MAX_CONN,
    OPT_LONG_POLL,
    OPT_NO_STREAMS,
    OPT_NO_SYNC,
    OPT_READY,
    OPT_LOG,
    OPT_HELP,
    OPT_MAX_FWD,
    OPT_PENDING_PUSHES,
    OPT_PENDING_BYTES,
    OPT_BACKLOG
  };
  static const struct option longopts[] = {
      {"listen", required_argument, NULL, OPT_LISTEN},
      {"store", required_argument, NULL, OPT_STORE},
      {"data", required_argument, NULL, OPT_DATA},
      {"nats", required_argument, NULL, OPT_NATS},
      {"replicas", required_argument, NULL, OPT_REPLICAS},
      {"retention-messages", required_argument, NULL, OPT_RET_MSGS},
      {"retention-bytes", required_argument, NULL, OPT_RET_BYTES},
      {"retention-age", required_argument, NULL, OPT_RET_AGE},
      {"max-streams", required_argument, NULL, OPT_MAX_STREAMS},
      {"max-message", required_argument, NULL, OPT_MAX_MESSAGE},
      {"max-connections", required_argument, NULL, OPT_MAX_CONN},
      {"listen-backlog", required_argument, NULL, OPT_BACKLOG},
      {"long-poll-max", required_argument, NULL, OPT_LONG_POLL},
      {"max-forwarders", required_argument, NULL, OPT_MAX_FWD},
      {"max-pending-pushes", required_argument, NULL, OPT_PENDING_PUSHES},
      {"max-pending-bytes", required_argument, NULL, OPT_PENDING_BYTES},
      {"no-streams", no_argument, NULL, OPT_NO_STREAMS},
      {"no-sync", no_argument, NULL, OPT_NO_SYNC},
      {"ready-file", required_argument, NULL, OPT_READY},
      {"log", required_argument, NULL, OPT_LOG},
      {"help", no_argument, NULL, OPT_HELP},
      {NULL, 0, NULL, 0}};
  memset(o, 0, sizeof *o);
  o->store = "lmdb";
  o->data_dir = "./ockam-hub-data";
  *ready_file = NULL;
  /* 0, not 1: glibc and musl then also forget the position inside a
   * previous argv (after "-hx" returned at 'h'), so every call starts clean. */
  optind = 0;
  opterr = 0;
  int c;
  uint32_t u32 = 0;
  while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
    const char *bad = NULL;
    switch (c) {
      case OPT_LISTEN:
        o->listen = optarg;
        break;
      case OPT_STORE:
        if (strcmp(optarg, "memory") && strcmp(optarg, "lmdb") && strcmp(optarg, "jetstream"))
          bad = "--store";
        o->store = optarg;
        break;
      case OPT_DATA:
        o->data_dir = optarg;
        break;
      case OPT_NATS:
        o->nats_url = optarg;
        break;
      case OPT_REPLICAS:
        if (parse_u32(optarg, &u32) || u32 < 1 || u32 > 5) bad = "--replicas";
        o->replicas = (int)u32;
        break;
      case OPT_RET_MSGS:
        if (parse_u64(optarg, &o->retention_messages)) bad = "--retention-messages";
        break;
      case OPT_RET_BYTES:
        if (parse_u64(optarg, &o->retention_bytes)) bad = "--retention-bytes";
        break;
      case OPT_RET_AGE:
        if (parse_u64(optarg, &o->retention_age_s)) bad = "--retention-age";
        break;
      case OPT_MAX_STREAMS:
        if (parse_u32(optarg, &o->max_streams) || !o->max_streams) bad = "--max-streams";
        break;
      case OPT_MAX_MESSAGE:
        if (parse_u32(optarg, &o->max_message) || !o->max_message ||
            o->max_message > OCKAM_FRAME_MAX - OCKAM_STREAM_REPLY_MARGIN)
          bad = "--max-message";
        break;
      case OPT_MAX_CONN:
        if (parse_u32(optarg, &o->max_connections) || !o->max_connections)
          bad = "--max-connections";
        break;
      case OPT_BACKLOG:
        if (parse_u32(optarg, &o->listen_backlog) || !o->listen_backlog ||
            o->listen_backlog > INT32_MAX)
          bad = "--listen-backlog";
        break;
      case OPT_LONG_POLL:
        if (parse_u32(optarg, &o->long_poll_max_ms)) bad = "--long-poll-max";
        break;
      case OPT_MAX_FWD:
        if (parse_u32(optarg, &o->max_forwarders) || !o->max_forwarders) bad = "--max-forwarders";
        break;
      case OPT_PENDING_PUSHES:
        if (parse_u32(optarg, &o->max_pending_pushes) || !o->max_pending_pushes)
          bad = "--max-pending-pushes";
        break;
      case OPT_PENDING_BYTES:
        if (parse_u64(optarg, &o->max_pending_bytes) || !o->max_pending_bytes)
          bad = "--max-pending-bytes";
        break;
      case OPT_NO_STREAMS:
        o->no_streams = true;
        break;
      case OPT_NO_SYNC:
        o->no_sync = true;
        break;
      case OPT_READY:
        *ready_file = optarg;
        break;
      case OPT_LOG: {
        ockam_log_level lvl;
        if (ockam_log_level_parse(optarg, &lvl))
          bad = "--log";
        else
          ockam_log_set_level(lvl);
        break;
      }
      case 'h':
      case OPT_HELP:
        hub_usage(stdout);
        return 1;
      default:
        fprintf(stderr, "ockam hub: unknown or incomplete option '%s'\n", argv[optind - 1]);
        hub_usage(stderr);
        return -1;
    }
    if (bad) {
      fprintf(stderr, "ockam hub: invalid value '%s' for %s\n", optarg, bad);
      return -1;
    }
  }
  if (optind < argc) {
    fprintf(stderr, "ockam hub: unexpected argument '%s'\n", argv[optind]);
    return -1;
  }
  if (!strcmp(o->store, "jetstream") && !o->nats_url) {
    fprintf(stderr, "ockam hub: --store jetstream needs --nats URL\n");
    return -1;
  }
  return 0;
}

static int cmd_hub(int argc, char **argv) {
  ockam_hub_options o;
  const char *ready_file;
  int prc = ockam_cli_parse_hub(argc, argv, &o, &ready_file);
  if (prc) return prc > 0 ? 0 : 2;
  ockam_node *node;
  int rc = ockam_node_create(&node);
  if (rc) {
    fprintf(stderr, "ockam hub: %s\n", ockam_strerror(rc));
    return 1;
  }
  ockam_hub *hub;
  char bound[128] = "";
  rc = ockam_hub_start(node, &o, &hub, bound, sizeof bound);
  if (rc) {
    fprintf(stderr, "ockam hub: cannot start: %s\n", ockam_strerror(rc));
    ockam_node_destroy(node);
    return 1;
  }
  if (ockam_node_stop_on_signals(node) != OCKAM_OK)
    fprintf(stderr, "ockam hub: no signal handling\n");
  signal(SIGPIPE, SIG_IGN);
  printf("ockam hub listening on %s (store: %s)\n", bound, o.no_streams ? "none" : o.store);
  fflush(stdout);
  if (ready_file && write_ready_file(ready_file, bound) != 0)
    fprintf(stderr, "ockam hub: cannot write %s: %s\n", ready_file, strerror(errno));
  rc = ockam_node_run(node);
  fprintf(stderr, "ockam hub: shutting down\n");
  ockam_hub_stop(hub);
  ockam_node_destroy(node);
  return rc ? 1 : 0;
}

static int cmd_send(int argc, char **argv) {
  if (argc != 3) {
    fprintf(
        stderr,
        "usage: ockam send ROUTE TEXT   (e.g. ockam send '1#127.0.0.1:4000;echo_service' hi)\n");
    return 2;
  }
  ockam_node *node;
  ockam_tcp *tcp;
  ockam_mailbox *app;
  ockam_route *route;
  int rc = ockam_route_parse(argv[1], &route);
  if (rc) {
    fprintf(stderr, "ockam send: bad route: %s\n", ockam_strerror(rc));
    return 2;
  }
  if ((rc = ockam_node_create(&node))) goto fail_route;
  if ((rc = ockam_tcp_create(node, NULL, &tcp)) || (rc = ockam_mailbox_create(node, "app", &app)))
    goto fail_node;
  ockam_message *m;
  if ((rc = ockam_message_new(&m))) goto fail_node;
  if ((rc = ockam_message_set_string(m, argv[2], strlen(argv[2])))) {
    ockam_message_free(m);
    goto fail_node;
  }
  size_t plen;
  const uint8_t *p = ockam_message_payload(m, &plen);
  rc = ockam_send(node, "app", route, p, plen);
  ockam_message_free(m);
  if (rc) goto fail_node;
  ockam_message *reply;
  if ((rc = ockam_mailbox_receive(app, 10000, &reply))) goto fail_node;
  const char *s;
  size_t slen;
  if (ockam_message_get_string(reply, &s, &slen) == OCKAM_OK)
    printf("%.*s\n", (int)slen, s);
  else {
    size_t rlen;
    (void)ockam_message_payload(reply, &rlen);
    printf("(reply of %zu bytes is not a string)\n", rlen);
  }
  ockam_message_free(reply);
  ockam_mailbox_destroy(app);
  ockam_node_destroy(node);
  ockam_route_free(route);
  return 0;
fail_node:
  ockam_node_destroy(node);
fail_route:
  ockam_route_free(route);
  fprintf(stderr, "ockam send: %s\n", ockam_strerror(rc));
  return 1;
}

static int cmd_version(int argc, char **argv) {
  (void)argc;
  (void)argv;
  printf("ockam %s\n", OCKAM_VERSION_STRING);
  return 0;
}

static const struct {
  const char *name;
  int (*fn)(int argc, char **argv);
  const char *help;
} subcommands[] = {
    {"hub", cmd_hub, "run a hub (echo, forwarding and stream services)"},
    {"send", cmd_send, "send a string along a route and print the reply"},
    {"version", cmd_version, "print the version"},
};

static void usage(FILE *f) {
  fprintf(f, "usage: ockam COMMAND [options]\n\ncommands:\n");
  for (size_t i = 0; i < sizeof subcommands / sizeof subcommands[0]; i++)
    fprintf(f, "  %-10s %s\n", subcommands[i].name, subcommands[i].help);
}

int main(int argc, char **argv) {
  if (argc < 2 || !strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) {
    usage(argc < 2 ? stderr : stdout);
    return argc < 2 ? 2 : 0;
  }
  for (size_t i = 0; i < sizeof subcommands / sizeof subcommands[0]; i++)
    if (!strcmp(argv[1], subcommands[i].name)) return subcommands[i].fn(argc - 1, argv + 1);
  fprintf(stderr, "ockam: unknown command '%s'\n", argv[1]);
  usage(stderr);
  return 2;
}
