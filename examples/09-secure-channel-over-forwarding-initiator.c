/* Initiator: create a secure channel through the hub's forwarder to the
 * responder's listener, send "Hello World!" to its echoer, print the reply.
 *
 *   09-secure-channel-over-forwarding-initiator HUB_ADDRESS FORWARDING_ADDRESS
 */
#include <stdio.h>

#include "example_args.h"
#include "ockam/ockam.h"

#define USAGE "HUB_ADDRESS FORWARDING_ADDRESS   (as the responder printed it)"

int main(int argc, char **argv) {
  example_check_args(argc, argv, USAGE, 2, 2);
  example_check_hub(argv[0], USAGE, argv[1]);
  example_check_address(argv[0], USAGE, argv[2]);
  ockam_node *node;
  ockam_tcp *tcp = NULL;
  ockam_vault *vault = NULL;
  ockam_mailbox *app = NULL;
  ockam_route *route = NULL;
  char text[600], channel[64];
  snprintf(text, sizeof text, "1#%s;0#%s", argv[1], argv[2]);
  int rc;
  if ((rc = ockam_node_create(&node))) goto fail;
  if ((rc = ockam_tcp_create(node, NULL, &tcp)) || (rc = ockam_tcp_connect(tcp, argv[1], 0)) ||
      (rc = ockam_vault_create("software", &vault)) ||
      (rc = ockam_mailbox_create(node, "app", &app)) || (rc = ockam_route_parse(text, &route)))
    goto fail_node;
  rc = ockam_channel_create(node, route, vault, NULL, 20000, channel, sizeof channel);
  ockam_route_free(route);
  route = NULL;
  if (rc) goto fail_node;
  /* Send to [channel, echoer]: encrypted here, decrypted at the responder. */
  if ((rc = ockam_route_new(&route)) || (rc = ockam_route_append_str(route, channel)) ||
      (rc = ockam_route_append_str(route, "echoer")))
    goto fail_node;
  if ((rc = ockam_send_string(node, "app", route, "Hello World!"))) goto fail_node;
  ockam_message *reply;
  if ((rc = ockam_mailbox_receive(app, 20000, &reply))) goto fail_node;
  const char *s;
  size_t len;
  if (ockam_message_get_string(reply, &s, &len) == OCKAM_OK && ockam_message_via_channel(reply))
    printf("Reply via secure channel: %.*s\n", (int)len, s);
  ockam_message_free(reply);
  ockam_route_free(route);
  ockam_mailbox_destroy(app);
  ockam_tcp_close(tcp);
  ockam_node_destroy(node);
  ockam_vault_destroy(vault);
  return 0;
fail_node:
  ockam_route_free(route);
  ockam_mailbox_destroy(app);
  ockam_tcp_close(tcp);
  ockam_node_destroy(node);
  ockam_vault_destroy(vault);
fail:
  fprintf(stderr, "09-secure-channel-over-forwarding-initiator: %s\n", ockam_strerror(rc));
  return 1;
}
