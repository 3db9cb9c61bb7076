/* ockam send ROUTE TEXT: send TEXT (a BARE string) along ROUTE, print the reply. */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "hub_access.h"
#include "ockam/error.h"
#include "ockam/message.h"
#include "ockam/node.h"
#include "ockam/route.h"
#include "ockam/tcp.h"

typedef struct send_cli {
  uint32_t timeout_ms;
  const char *hub_identity;
  const char *identity;
} send_cli;

static const ockam_cli_option send_options[] = {
    OCKAM_CLI_DURATION_OPT(send_cli, timeout_ms, "timeout", "timeout", 1, 10000, 1, 0,
                           "how long to wait for the reply"),
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
        "  TEXT   the string to send\n",
    .options = send_options,
    .count = sizeof send_options / sizeof send_options[0],
};

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
  ockam_node *node;
  ockam_tcp *tcp = NULL;
  ockam_mailbox *app = NULL;
  ockam_route *route;
  ockam_cli_hub_access access = {0};
  int rc = ockam_route_parse(route_text, &route);
  if (rc) {
    fprintf(stderr, "ockam send: bad route: %s\n", ockam_strerror(rc));
    return 2;
  }
  if ((rc = ockam_node_create(&node))) goto fail_route;
  if ((rc = ockam_tcp_create(node, NULL, &tcp)) || (rc = ockam_mailbox_create(node, "app", &app)))
    goto fail_node;
  /* Connect first so that a dead hub is reported at once (refused). */
  ockam_address first;
  if (ockam_route_get(route, 0, &first) == OCKAM_OK && first.type == OCKAM_ADDRESS_TCP) {
    char hp[256];
    memcpy(hp, first.value, first.len);
    hp[first.len] = '\0';
    if ((rc = ockam_tcp_connect(tcp, hp, o.timeout_ms))) goto fail_node;
  }
  if ((rc = ockam_cli_hub_channel("send", node, &route, o.hub_identity, o.identity, o.timeout_ms,
                                  &access)))
    goto fail_node;
  ockam_message *m;
  if ((rc = ockam_message_new(&m))) goto fail_node;
  if ((rc = ockam_message_set_string(m, text, strlen(text)))) {
    ockam_message_free(m);
    goto fail_node;
  }
  size_t plen;
  const uint8_t *p = ockam_message_payload(m, &plen);
  rc = ockam_send(node, "app", route, p, plen);
  ockam_message_free(m);
  if (rc) goto fail_node;
  ockam_message *reply;
  if ((rc = ockam_mailbox_receive(app, o.timeout_ms, &reply))) goto fail_node;
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
  ockam_tcp_close(tcp);
  ockam_node_destroy(node);
  ockam_cli_hub_channel_free(&access);
  ockam_route_free(route);
  return 0;
fail_node:
  ockam_mailbox_destroy(app);
  ockam_tcp_close(tcp);
  ockam_node_destroy(node);
  ockam_cli_hub_channel_free(&access);
fail_route:
  ockam_route_free(route);
  fprintf(stderr, "ockam send: %s\n", ockam_strerror(rc));
  return 1;
}
