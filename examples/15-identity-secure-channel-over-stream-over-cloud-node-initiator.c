/* The guide's initiator with identities: connect the mirror stream pair (out:
 * sc-test-a-b, in: sc-test-b-a), create an identity secure channel to the
 * responder's listener, accepting only the responder the trust options name,
 * send "Hello World!" to its echoer and print the reply with the identifier of
 * the peer that sent it.
 *
 *   15-identity-secure-channel-over-stream-over-cloud-node-initiator [HUB]
 *       [--identity-dir DIR] [--show-identifier]
 *       (--trust ID | --trust-file FILE | --trust-everyone) [--hub-identity ID] [--client-id ID]
 * [--out S --in S]
 *       [--rotate]   rotate the identity key (and save it) before connecting
 */
#include <errno.h>

#include "identity_common.h"
#include "stream_common.h"

int main(int argc, char **argv) {
  bool rotate = false;
  char *rest[64];
  int nrest = 0;
  for (int i = 0; i < argc && nrest < 63; i++) {
    if (i > 0 && !strcmp(argv[i], "--rotate"))
      rotate = true;
    else
      rest[nrest++] = argv[i];
  }
  rest[nrest] = NULL;
  identity_args ia;
  example_args args;
  identity_parse(nrest, rest, &ia);
  example_parse(ia.argc, ia.argv, &args);
  ockam_node *node = NULL;
  ockam_tcp *tcp = NULL;
  ockam_mailbox *app = NULL;
  ockam_vault *vault = NULL;
  ockam_identity *me = NULL;
  ockam_trust_policy *policy = NULL;
  ockam_stream *stream = NULL;
  ockam_route *route = NULL;
  char id[OCKAM_IDENTIFIER_BUF], channel[64];
  int rc;
  if ((rc = identity_open_id(&ia, &vault, &me, id))) goto fail;
  if (ia.show) {
    printf("%s\n", id);
    goto done;
  }
  if (rotate) {
    char path[512];
    snprintf(path, sizeof path, "%s/identity", ia.dir ? ia.dir : ".");
    if ((rc = ockam_identity_rotate(me)) || (ia.dir && (rc = ockam_identity_save(me, path))))
      goto fail;
    printf("Rotated the key of P_ID.%s (%zu events)\n", id, ockam_identity_event_count(me));
  }
  if ((rc = identity_policy(&ia, &policy))) goto fail;
  if ((rc = ockam_node_create(&node))) goto fail;
  if ((rc = ockam_tcp_create(node, NULL, &tcp)) || (rc = ockam_mailbox_create(node, "app", &app)) ||
      (rc = identity_hub_connect(node, tcp, &ia, &args, me, "sc-test-a-b", "sc-test-b-a", &stream)))
    goto fail;
  /* [tx, secure_channel_listener]: the handshake travels through the streams. */
  if ((rc = ockam_route_new(&route)) ||
      (rc = ockam_route_append_str(route, ockam_stream_tx_address(stream))) ||
      (rc = ockam_route_append_str(route, "secure_channel_listener")))
    goto fail;
  rc =
      ockam_identity_channel_create(node, route, me, policy, NULL, 120000, channel, sizeof channel);
  ockam_route_free(route);
  route = NULL;
  if (rc) goto fail;
  char peer[OCKAM_IDENTIFIER_BUF];
  if ((rc = ockam_identity_channel_peer(node, channel, peer, sizeof peer))) goto fail;
  printf("Identity secure channel with P_ID.%s established\n", peer);
  if ((rc = ockam_route_new(&route)) || (rc = ockam_route_append_str(route, channel)) ||
      (rc = ockam_route_append_str(route, "echoer")))
    goto fail;
  uint8_t payload[13] = {12};
  memcpy(payload + 1, "Hello World!", 12);
  if ((rc = ockam_send(node, "app", route, payload, sizeof payload))) goto fail;
  ockam_message *reply;
  if ((rc = ockam_mailbox_receive(app, 60000, &reply))) goto fail;
  const char *s;
  size_t len;
  char from[OCKAM_IDENTIFIER_BUF] = "?";
  if ((rc = ockam_message_peer_identifier(reply, from, sizeof from)) == OCKAM_OK &&
      (rc = ockam_message_get_string(reply, &s, &len)) == OCKAM_OK)
    printf("Reply via identity secure channel via stream: %.*s (from P_ID.%s)\n", (int)len, s,
           from);
  fflush(stdout);
  ockam_message_free(reply);
  if (rc) goto fail;
  /* Let the index save and acknowledgements reach the hub before leaving. */
  if (ockam_stream_flush(stream, 2000) != OCKAM_OK) fprintf(stderr, "some pushes unconfirmed\n");
done:
  rc = OCKAM_OK;
fail:
  if (rc) fprintf(stderr, "initiator: %s\n", ockam_strerror(rc));
  ockam_route_free(route);
  if (stream) ockam_stream_close(stream);
  ockam_mailbox_destroy(app);
  ockam_tcp_close(tcp);
  ockam_node_destroy(node);
  identity_close(vault, me, policy);
  return rc ? 1 : 0;
}
