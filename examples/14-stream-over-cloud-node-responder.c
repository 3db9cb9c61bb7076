/* An echoer reachable through a pair of hub streams (no secure channel).
 *
 *   14-stream-over-cloud-node-responder [HUB] [--client-id ID]
 */
#include "echoer.h"
#include "stream_common.h"

int main(int argc, char **argv) {
  example_args args;
  example_parse(argc, argv, &args);
  ockam_node *node;
  ockam_tcp *tcp = NULL;
  ockam_stream *stream = NULL;
  int rc;
  if ((rc = ockam_node_create(&node))) goto fail;
  if ((rc = ockam_node_stop_on_signals(node)) || (rc = ockam_tcp_create(node, NULL, &tcp)) ||
      (rc = echoer_start(node)) ||
      (rc = example_connect(node, tcp, &args, "test-b-a", "test-a-b", &stream)) ||
      /* A plain stream: the echoer must be exposed to it explicitly. */
      (rc = ockam_stream_allow(stream, "echoer")))
    goto fail_node;
  printf("Responder listening on streams test-a-b (in) / test-b-a (out) via %s\n", args.hub);
  fflush(stdout);
  rc = ockam_node_run(node);
  ockam_stream_close(stream);
  ockam_tcp_close(tcp);
  ockam_node_destroy(node);
  return 0;
fail_node:
  if (stream) ockam_stream_close(stream);
  ockam_tcp_close(tcp);
  ockam_node_destroy(node);
fail:
  fprintf(stderr, "responder: %s\n", ockam_strerror(rc));
  return 1;
}
