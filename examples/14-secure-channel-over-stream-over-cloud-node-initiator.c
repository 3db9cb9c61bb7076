/* The guide's initiator: connect the mirror stream pair (out: sc-test-a-b,
 * in: sc-test-b-a), create a secure channel through the stream to the
 * responder's listener, send "Hello World!" to its echoer, print the reply.
 *
 *   14-secure-channel-over-stream-over-cloud-node-initiator [HUB] [--client-id ID]
 */
#include "stream_common.h"

int main(int argc, char **argv) {
  example_args args;
  example_parse(argc, argv, &args);
  ockam_node *node;
  ockam_tcp *tcp = NULL;
  ockam_vault *vault = NULL;
  ockam_mailbox *app = NULL;
  ockam_stream *stream = NULL;
  ockam_route *route = NULL;
  char channel[64];
  int rc;
  if ((rc = ockam_node_create(&node))) goto fail;
  if ((rc = ockam_tcp_create(node, NULL, &tcp)) || (rc = ockam_vault_create("software", &vault)) ||
      (rc = ockam_mailbox_create(node, "app", &app)) ||
      (rc = example_connect(node, tcp, &args, "sc-test-a-b", "sc-test-b-a", &stream)))
    goto fail_node;
  /* [tx, secure_channel_listener]: the handshake travels through the streams. */
  if ((rc = ockam_route_new(&route)) ||
      (rc = ockam_route_append_str(route, ockam_stream_tx_address(stream))) ||
      (rc = ockam_route_append_str(route, "secure_channel_listener")))
    goto fail_node;
  rc = ockam_channel_create(node, route, vault, NULL, 120000, channel, sizeof channel);
  ockam_route_free(route);
  route = NULL;
  if (rc) goto fail_node;
  if ((rc = ockam_route_new(&route)) || (rc = ockam_route_append_str(route, channel)) ||
      (rc = ockam_route_append_str(route, "echoer")))
    goto fail_node;
  if ((rc = ockam_send_string(node, "app", route, "Hello World!"))) goto fail_node;
  char reply[256];
  if ((rc = ockam_mailbox_receive_string(app, 60000, reply, sizeof reply, NULL))) goto fail_node;
  printf("Reply via secure channel via stream: %s\n", reply);
  fflush(stdout);
  /* Let the index save and acknowledgements reach the hub before leaving. */
  if (ockam_stream_flush(stream, 2000) != OCKAM_OK) fprintf(stderr, "some pushes unconfirmed\n");
  ockam_route_free(route);
  ockam_stream_close(stream);
  ockam_mailbox_destroy(app);
  ockam_tcp_close(tcp);
  ockam_node_destroy(node);
  ockam_vault_destroy(vault);
  return rc ? 1 : 0;
fail_node:
  ockam_route_free(route);
  if (stream) ockam_stream_close(stream);
  ockam_mailbox_destroy(app);
  ockam_tcp_close(tcp);
  ockam_node_destroy(node);
  ockam_vault_destroy(vault);
fail:
  fprintf(stderr, "initiator: %s\n", ockam_strerror(rc));
  return 1;
}
