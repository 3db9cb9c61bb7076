/* Send "Hello World!" to the responder's echoer through hub streams and print
 * the reply.
 *
 *   14-stream-over-cloud-node-initiator [HUB] [--client-id ID]
 */
#include "stream_common.h"

int main(int argc, char **argv) {
  example_args args;
  example_parse(argc, argv, &args);
  ockam_node *node;
  ockam_tcp *tcp = NULL;
  ockam_mailbox *app = NULL;
  ockam_stream *stream = NULL;
  ockam_route *route = NULL;
  int rc;
  if ((rc = ockam_node_create(&node))) goto fail;
  if ((rc = ockam_tcp_create(node, NULL, &tcp)) || (rc = ockam_mailbox_create(node, "app", &app)) ||
      (rc = example_connect(node, tcp, &args, "test-a-b", "test-b-a", &stream)) ||
      (rc = ockam_stream_allow(stream, "app")))
    goto fail_node;
  if ((rc = ockam_route_new(&route)) ||
      (rc = ockam_route_append_str(route, ockam_stream_tx_address(stream))) ||
      (rc = ockam_route_append_str(route, "echoer")))
    goto fail_node;
  if ((rc = ockam_send_string(node, "app", route, "Hello World!"))) goto fail_node;
  char reply[256];
  if ((rc = ockam_mailbox_receive_string(app, 120000, reply, sizeof reply, NULL))) goto fail_node;
  printf("Reply via stream: %s\n", reply);
  fflush(stdout);
  if (ockam_stream_flush(stream, 2000) != OCKAM_OK) fprintf(stderr, "some pushes unconfirmed\n");
  ockam_route_free(route);
  ockam_stream_close(stream);
  ockam_mailbox_destroy(app);
  ockam_tcp_close(tcp);
  ockam_node_destroy(node);
  return rc ? 1 : 0;
fail_node:
  ockam_route_free(route);
  if (stream) ockam_stream_close(stream);
  ockam_mailbox_destroy(app);
  ockam_tcp_close(tcp);
  ockam_node_destroy(node);
fail:
  fprintf(stderr, "initiator: %s\n", ockam_strerror(rc));
  return 1;
}
