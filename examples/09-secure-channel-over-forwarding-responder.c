/* Responder: a secure channel listener and an echoer, reachable through a
 * forwarder on the hub.
 *
 *   09-secure-channel-over-forwarding-responder [HUB_ADDRESS]
 * Prints "Forwarding address: <F>".
 */
#include <stdio.h>

#include "echoer.h"
#include "example_args.h"

#define USAGE "[HUB_ADDRESS]   (default 127.0.0.1:4000)"

int main(int argc, char **argv) {
  example_check_args(argc, argv, USAGE, 0, 1);
  const char *hub = argc > 1 ? argv[1] : "127.0.0.1:4000";
  example_check_hub(argv[0], USAGE, hub);
  ockam_node *node;
  ockam_tcp *tcp = NULL;
  ockam_vault *vault = NULL;
  ockam_channel_listener *listener = NULL;
  ockam_forwarder *forwarder = NULL;
  ockam_route *route;
  char hop[300], remote[OCKAM_FORWARDER_ADDRESS_CAP];
  snprintf(hop, sizeof hop, "1#%s", hub);
  int rc;
  if ((rc = ockam_node_create(&node))) goto fail;
  if ((rc = ockam_node_stop_on_signals(node)) || (rc = ockam_tcp_create(node, NULL, &tcp)) ||
      (rc = ockam_tcp_connect(tcp, hub, 0)) || (rc = ockam_vault_create("software", &vault)) ||
      (rc = ockam_channel_listener_create(node, "secure_channel_listener", vault, NULL,
                                          &listener)) ||
      (rc = echoer_start_secure(node)) || (rc = ockam_route_parse(hop, &route)))
    goto fail_node;
  rc = ockam_forwarder_register(node, route, "secure_channel_listener", 10000, remote,
                                sizeof remote, &forwarder);
  ockam_route_free(route);
  if (rc) goto fail_node;
  printf("Forwarding address: %s\n", remote);
  fflush(stdout);
  rc = ockam_node_run(node);
  ockam_forwarder_close(forwarder);
  ockam_channel_listener_close(listener);
  ockam_tcp_close(tcp);
  ockam_node_destroy(node);
  ockam_vault_destroy(vault);
  return 0;
fail_node:
  ockam_forwarder_close(forwarder);
  ockam_channel_listener_close(listener);
  ockam_tcp_close(tcp);
  ockam_node_destroy(node);
  ockam_vault_destroy(vault);
fail:
  fprintf(stderr, "09-secure-channel-over-forwarding-responder: %s\n", ockam_strerror(rc));
  return 1;
}
