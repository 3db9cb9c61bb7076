/* Send "Hello World!" to the hub's echo_service and print the reply.
 *
 *   07-hub-echo [HUB_ADDRESS]      (default 127.0.0.1:4000)
 */
#include <stdio.h>
#include <string.h>

#include "ockam/ockam.h"

int main(int argc, char **argv) {
  const char *hub = argc > 1 ? argv[1] : "127.0.0.1:4000";
  ockam_node *node;
  ockam_tcp *tcp = NULL;
  ockam_mailbox *app = NULL;
  ockam_route *route;
  char hop[300];
  snprintf(hop, sizeof hop, "1#%s", hub);
  int rc;
  if ((rc = ockam_node_create(&node))) goto fail;
  if ((rc = ockam_tcp_create(node, NULL, &tcp)) || (rc = ockam_tcp_connect(tcp, hub, 10000)) ||
      (rc = ockam_mailbox_create(node, "app", &app)))
    goto fail_node;
  if ((rc = ockam_route_new(&route))) goto fail_node;
  if ((rc = ockam_route_append_str(route, hop)) ||
      (rc = ockam_route_append_str(route, "echo_service"))) {
    ockam_route_free(route);
    goto fail_node;
  }
  /* Payloads are BARE values: a String is `len ‖ bytes` (spec §1.4). */
  uint8_t payload[13] = {12};
  memcpy(payload + 1, "Hello World!", 12);
  rc = ockam_send(node, "app", route, payload, sizeof payload);
  ockam_route_free(route);
  if (rc) goto fail_node;
  ockam_message *reply;
  if ((rc = ockam_mailbox_receive(app, 10000, &reply))) goto fail_node;
  const char *s;
  size_t len;
  if ((rc = ockam_message_get_string(reply, &s, &len)) == OCKAM_OK)
    printf("App Received: %.*s\n", (int)len, s);
  ockam_message_free(reply);
  ockam_mailbox_destroy(app);
  ockam_tcp_close(tcp);
  ockam_node_destroy(node);
  return rc ? 1 : 0;
fail_node:
  ockam_mailbox_destroy(app);
  ockam_tcp_close(tcp);
  ockam_node_destroy(node);
fail:
  fprintf(stderr, "07-hub-echo: %s\n", ockam_strerror(rc));
  return 1;
}
