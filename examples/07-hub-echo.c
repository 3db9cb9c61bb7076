/* Send "Hello World!" to the hub's echo_service and print the reply.
 *
 *   07-hub-echo [HUB_ADDRESS]      (default 127.0.0.1:4000)
 */
#include <stdio.h>

#include "example_args.h"
#include "ockam/ockam.h"

#define USAGE "[HUB_ADDRESS]   (default 127.0.0.1:4000)"

int main(int argc, char **argv) {
  example_check_args(argc, argv, USAGE, 0, 1);
  const char *hub = argc > 1 ? argv[1] : "127.0.0.1:4000";
  example_check_hub(argv[0], USAGE, hub);
  char text[300];
  snprintf(text, sizeof text, "1#%s;echo_service", hub);
  ockam_node *node = NULL;
  ockam_tcp *tcp = NULL;
  ockam_mailbox *app = NULL;
  ockam_route *route = NULL;
  char reply[256];
  int rc;
  if (!(rc = ockam_route_parse(text, &route)) && !(rc = ockam_node_create(&node)) &&
      !(rc = ockam_tcp_create(node, NULL, &tcp)) && !(rc = ockam_tcp_connect(tcp, hub, 10000)) &&
      !(rc = ockam_mailbox_create(node, "app", &app)) &&
      !(rc = ockam_send_string(node, "app", route, "Hello World!")) &&
      !(rc = ockam_mailbox_receive_string(app, 10000, reply, sizeof reply, NULL)))
    printf("App Received: %s\n", reply);
  ockam_mailbox_destroy(app);
  ockam_tcp_close(tcp);
  ockam_node_destroy(node);
  ockam_route_free(route);
  if (rc) fprintf(stderr, "07-hub-echo: %s\n", ockam_strerror(rc));
  return rc ? 1 : 0;
}
