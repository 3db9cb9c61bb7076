/* Send "Hello World!" through a hub forwarder and print the reply.
 *
 *   08-forwarding-initiator HUB_ADDRESS FORWARDING_ADDRESS
 */
#include <stdio.h>
#include <string.h>

#include "ockam/ockam.h"

int main(int argc, char **argv) {
  if (argc < 3) {
    fprintf(stderr, "usage: 08-forwarding-initiator HUB_ADDRESS FORWARDING_ADDRESS\n");
    return 2;
  }
  ockam_node *node;
  ockam_tcp *tcp = NULL;
  ockam_mailbox *app = NULL;
  ockam_route *route;
  char text[600];
  snprintf(text, sizeof text, "1#%s;0#%s", argv[1], argv[2]);
  int rc;
  if ((rc = ockam_node_create(&node))) goto fail;
  if ((rc = ockam_tcp_create(node, NULL, &tcp)) || (rc = ockam_tcp_connect(tcp, argv[1], 0)) ||
      (rc = ockam_mailbox_create(node, "app", &app)) || (rc = ockam_route_parse(text, &route)))
    goto fail_node;
  uint8_t payload[13] = {12};
  memcpy(payload + 1, "Hello World!", 12);
  rc = ockam_send(node, "app", route, payload, sizeof payload);
  ockam_route_free(route);
  if (rc) goto fail_node;
  ockam_message *reply;
  if ((rc = ockam_mailbox_receive(app, 10000, &reply))) goto fail_node;
  const char *s;
  size_t len;
  if (ockam_message_get_string(reply, &s, &len) == OCKAM_OK)
    printf("App Received: %.*s\n", (int)len, s);
  ockam_message_free(reply);
  ockam_mailbox_destroy(app);
  ockam_tcp_close(tcp);
  ockam_node_destroy(node);
  return 0;
fail_node:
  ockam_mailbox_destroy(app);
  ockam_tcp_close(tcp);
  ockam_node_destroy(node);
fail:
  fprintf(stderr, "08-forwarding-initiator: %s\n", ockam_strerror(rc));
  return 1;
}
