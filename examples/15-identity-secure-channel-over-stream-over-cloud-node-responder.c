/* The guide's responder with identities: an identity secure channel listener
 * and an echoer behind the stream pair (out: sc-test-b-a, in: sc-test-a-b).
 * The listener accepts only the initiators the trust options name, and the
 * echoer answers only messages that such an initiator sent through it.
 *
 *   15-identity-secure-channel-over-stream-over-cloud-node-responder [HUB]
 *       [--identity-dir DIR] [--show-identifier]
 *       (--trust ID | --trust-file FILE | --trust-everyone) [--hub-identity ID] [--client-id ID]
 * [--out S --in S] Runs until SIGINT/SIGTERM.
 */
#include <errno.h>

#include "identity_common.h"
#include "stream_common.h"

static int echoer_handle(ockam_worker *w, ockam_message *msg) {
  size_t len;
  const uint8_t *p = ockam_message_payload(msg, &len);
  const char *s;
  size_t slen;
  char who[OCKAM_IDENTIFIER_BUF] = "nobody";
  if (ockam_message_peer_identifier(msg, who, sizeof who) != OCKAM_OK) return OCKAM_EPROTO;
  if (ockam_message_get_string(msg, &s, &slen) == OCKAM_OK) {
    printf("echoer: received '%.*s' from P_ID.%s\n", (int)slen, s, who);
    fflush(stdout);
  }
  return ockam_send(ockam_worker_node(w), ockam_worker_address(w), ockam_message_return(msg), p,
                    len);
}

static const ockam_worker_ops echoer_ops = {echoer_handle, NULL};

int main(int argc, char **argv) {
  identity_args ia;
  example_args args;
  identity_parse(argc, argv, &ia);
  example_parse(ia.argc, ia.argv, &args);
  ockam_node *node = NULL;
  ockam_tcp *tcp = NULL;
  ockam_identity_channel_listener *listener = NULL;
  ockam_vault *vault = NULL;
  ockam_identity *me = NULL;
  ockam_trust_policy *policy = NULL;
  ockam_stream *stream = NULL;
  ockam_worker *echoer;
  char id[OCKAM_IDENTIFIER_BUF];
  int rc;
  if ((rc = identity_open_id(&ia, &vault, &me, id))) goto fail;
  if (ia.show) {
    printf("%s\n", id);
    goto done;
  }
  if ((rc = identity_policy(&ia, &policy))) goto fail;
  if ((rc = ockam_node_create(&node))) goto fail;
  const char *echo_addr[1] = {"echoer"};
  if ((rc = ockam_node_stop_on_signals(node)) || (rc = ockam_tcp_create(node, NULL, &tcp)) ||
      (rc = ockam_identity_channel_listener_create(node, "secure_channel_listener", me, policy,
                                                   NULL, &listener)) ||
      (rc = ockam_worker_start(node, echo_addr, 1, &echoer_ops, NULL, &echoer)))
    goto fail;
  /* The echoer serves only the peers the policy names (when it names them). */
  if (ia.ntrust) {
    const char *ids[EXAMPLE_MAX_TRUST];
    for (size_t i = 0; i < ia.ntrust; i++) ids[i] = ia.ids[i];
    if ((rc = ockam_worker_allow_identifiers(echoer, ids, ia.ntrust))) goto fail;
  }
  if ((rc = identity_hub_connect(node, tcp, &ia, &args, me, "sc-test-b-a", "sc-test-a-b", &stream)))
    goto fail;
  printf("Responder P_ID.%s listening on streams %s (in) / %s (out) via %s\n", id,
         args.in_stream ? args.in_stream : "sc-test-a-b",
         args.out_stream ? args.out_stream : "sc-test-b-a", args.hub);
  fflush(stdout);
  rc = ockam_node_run(node);
done:
  rc = OCKAM_OK; /* however the run ended (a signal stops it) */
fail:
  if (rc) fprintf(stderr, "responder: %s\n", ockam_strerror(rc));
  if (stream) ockam_stream_close(stream);
  ockam_identity_channel_listener_close(listener);
  ockam_tcp_close(tcp);
  ockam_node_destroy(node);
  identity_close(vault, me, policy);
  return rc ? 1 : 0;
}
