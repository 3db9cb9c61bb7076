/* The guide's responder: a secure channel listener and an echoer, reachable
 * through a pair of streams on the hub (out: sc-test-b-a, in: sc-test-a-b).
 *
 *   14-secure-channel-over-stream-over-cloud-node-responder [HUB] [--client-id ID]
 *                                                            [--service NAME --index-service NAME]
 * Runs until SIGINT/SIGTERM.
 */
#include "echoer.h"
#include "stream_common.h"

int main(int argc, char **argv) {
  example_args args;
  example_parse(argc, argv, &args);
  ockam_node *node;
  ockam_tcp *tcp = NULL;
  ockam_vault *vault = NULL;
  ockam_channel_listener *listener = NULL;
  ockam_stream *stream = NULL;
  int rc;
  if ((rc = ockam_node_create(&node))) goto fail;
  if ((rc = ockam_node_stop_on_signals(node)) || (rc = ockam_tcp_create(node, NULL, &tcp)) ||
      (rc = ockam_vault_create("software", &vault)) ||
      (rc = ockam_channel_listener_create(node, "secure_channel_listener", vault, NULL,
                                          &listener)) ||
      (rc = echoer_start_secure(node)) ||
      (rc = example_connect(node, tcp, &args, "sc-test-b-a", "sc-test-a-b", &stream)))
    goto fail_node;
  printf("Responder listening on streams sc-test-a-b (in) / sc-test-b-a (out) via %s\n", args.hub);
  fflush(stdout);
  rc = ockam_node_run(node);
  ockam_stream_close(stream);
  ockam_channel_listener_close(listener);
  ockam_tcp_close(tcp);
  ockam_node_destroy(node);
  ockam_vault_destroy(vault);
  return 0;
fail_node:
  if (stream) ockam_stream_close(stream);
  ockam_channel_listener_close(listener);
  ockam_tcp_close(tcp);
  ockam_node_destroy(node);
  ockam_vault_destroy(vault);
fail:
  fprintf(stderr, "responder: %s\n", ockam_strerror(rc));
  return 1;
}
