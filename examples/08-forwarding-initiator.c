/* Send "Hello World!" through a hub forwarder and print the reply.
 *
 *   08-forwarding-initiator HUB_ADDRESS FORWARDING_ADDRESS
 */
#include <stdio.h>

#include "example_args.h"
#include "ockam/ockam.h"

#define USAGE "HUB_ADDRESS FORWARDING_ADDRESS   (as 08-forwarding-responder printed it)"

int main(int argc, char **argv) {
  example_check_args(argc, argv, USAGE, 2, 2);
  example_check_hub(argv[0], USAGE, argv[1]);
  example_check_address(argv[0], USAGE, argv[2]);
  char text[600];
  snprintf(text, sizeof text, "1#%s;0#%s", argv[1], argv[2]);
  ockam_node *node = NULL;
  ockam_tcp *tcp = NULL;
  ockam_mailbox *app = NULL;
  ockam_route *route = NULL;
  char reply[256];
  int rc;
  if (!(rc = ockam_route_parse(text, &route)) && !(rc = ockam_node_create(&node)) &&
      !(rc = ockam_tcp_create(node, NULL, &tcp)) && !(rc = ockam_tcp_connect(tcp, argv[1], 0)) &&
      !(rc = ockam_mailbox_create(node, "app", &app)) &&
      !(rc = ockam_send_string(node, "app", route, "Hello World!")) &&
      !(rc = ockam_mailbox_receive_string(app, 10000, reply, sizeof reply, NULL)))
    printf("App Received: %s\n", reply);
  ockam_mailbox_destroy(app);
  ockam_tcp_close(tcp);
  ockam_node_destroy(node);
  ockam_route_free(route);
  if (rc) fprintf(stderr, "08-forwarding-initiator: %s\n", ockam_strerror(rc));
  return rc ? 1 : 0;
}
