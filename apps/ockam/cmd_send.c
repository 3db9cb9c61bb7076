/* ockam send ROUTE TEXT: send TEXT (a BARE string) along ROUTE, print the reply. */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "hub_access.h"
#include "json_out.h"
#include "ockam/error.h"
#include "ockam/node.h"
#include "ockam/route.h"
#include "ockam/tcp.h"

typedef struct send_cli {
  uint32_t timeout_ms;
  bool json;
  const char *hub_identity;
  const char *identity;
} send_cli;

static const ockam_cli_option send_options[] = {
    OCKAM_CLI_DURATION_OPT(send_cli, timeout_ms, "timeout", "timeout", 1, 10000, 1, 0,
                           "how long to wait for the connection, then for the reply"),
    OCKAM_CLI_BOOL_OPT(send_cli, json, "json", "json", "print the reply as {\"reply\": TEXT}"),
    OCKAM_CLI_STR(send_cli, hub_identity, "hub-identity", "hub_identity", "ID", NULL, NULL, NULL,
                  "reach the hub (the route's first hop) through an identity channel to it"),
    OCKAM_CLI_STR(send_cli, identity, "identity", "identity", "FILE", NULL, NULL, NULL,
                  "identity to use with --hub-identity (default: a new one)"),
};

static const ockam_cli_spec send_spec = {
    .command = "send",
    .usage = "ockam send [options] ROUTE TEXT",
    .operands =
        "  ROUTE  where to send, e.g. '1#127.0.0.1:4000;echo_service'\n"
        "  TEXT   the string to send\n"
        "exit status: 0 reply printed, 1 failed (connection refused, no reply in\n"
        "time, a reply that is not a string), 2 bad usage\n",
    .options = send_options,
    .count = sizeof send_options / sizeof send_options[0],
};

/* Receive the reply into a buffer of its size. */
static int receive_reply(ockam_mailbox *app, uint32_t timeout_ms, char **out, size_t *len) {
  char small[1024];
  int rc = ockam_mailbox_receive_string(app, timeout_ms, small, sizeof small, len);
  size_t cap = rc == OCKAM_ETOOSMALL ? *len + 1 : sizeof small;
  char *buf = malloc(cap);
  if (!buf) return OCKAM_ENOMEM;
  if (rc == OCKAM_ETOOSMALL)
    rc = ockam_mailbox_receive_string(app, 0, buf, cap, len);
  else if (!rc)
    memcpy(buf, small, *len + 1);
  if (rc) {
    free(buf);
    return rc;
  }
  *out = buf;
  return OCKAM_OK;
}

int ockam_cmd_send(int argc, char **argv) {
  send_cli o;
  int nops;
  int prc = ockam_cli_parse(&send_spec, &o, argc, argv, &nops);
  if (prc) return prc > 0 ? 0 : 2;
  if (nops != 2) {
    ockam_cli_help(&send_spec, stderr);
    return 2;
  }
  const char *route_text = argv[1], *text = argv[2];
  ockam_route *route;
  int rc = ockam_route_parse(route_text, &route);
  if (rc) {
    fprintf(stderr, "ockam send: bad route: %s\n", ockam_strerror(rc));
    return 2;
  }
  ockam_node *node = NULL;
  ockam_tcp *tcp = NULL;
  ockam_mailbox *app = NULL;
  ockam_cli_hub_access access = {0};
  char *reply = NULL;
  size_t len;
  if (!(rc = ockam_node_create(&node)) && !(rc = ockam_tcp_create(node, NULL, &tcp)) &&
      !(rc = ockam_mailbox_create(node, "app", &app)) &&
      /* Connect first so that a dead hub is reported at once (refused). */
      !(rc = ockam_tcp_connect_route(tcp, route, o.timeout_ms)) &&
      !(rc = ockam_cli_hub_channel("send", node, &route, o.hub_identity, o.identity, o.timeout_ms,
                                   &access)) &&
      !(rc = ockam_send_string(node, "app", route, text)))
    rc = receive_reply(app, o.timeout_ms, &reply, &len);
  ockam_mailbox_destroy(app);
  ockam_tcp_close(tcp);
  ockam_node_destroy(node);
  ockam_cli_hub_channel_free(&access);
  ockam_route_free(route);
  if (rc) {
    if (rc == OCKAM_ETRUNC || rc == OCKAM_ETRAILING || rc == OCKAM_EUTF8 || rc == OCKAM_EOVERFLOW)
      fprintf(stderr, "ockam send: the reply is not a string (%s)\n", ockam_strerror(rc));
    else
      fprintf(stderr, "ockam send: %s\n", ockam_strerror(rc));
    return 1;
  }
  if (o.json) {
    fputs("{\"reply\":", stdout);
    ockam_cli_json_string(stdout, reply, len);
    fputs("}\n", stdout);
  } else {
    printf("%.*s\n", (int)len, reply);
  }
  free(reply);
  return 0;
}
