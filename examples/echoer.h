/* The guide's `echoer` worker: replies to every message with the same payload. */
#ifndef OCKAM_EXAMPLE_ECHOER_H
#define OCKAM_EXAMPLE_ECHOER_H

#include <stdio.h>

#include "ockam/ockam.h"

static int echoer_handle(ockam_worker *w, ockam_message *msg) {
  size_t len;
  const uint8_t *p = ockam_message_payload(msg, &len);
  const char *s;
  size_t slen;
  if (ockam_message_get_string(msg, &s, &slen) == OCKAM_OK) {
    char route[256];
    ockam_route_format(ockam_message_return(msg), route, sizeof route);
    printf("echoer: received '%.*s' (return route %s)\n", (int)slen, s, route);
    fflush(stdout);
  }
  return ockam_send(ockam_worker_node(w), ockam_worker_address(w), ockam_message_return(msg), p,
                    len);
}

static const ockam_worker_ops echoer_ops = {echoer_handle, NULL};

static inline int echoer_start(ockam_node *node) {
  const char *addrs[1] = {"echoer"};
  return ockam_worker_start(node, addrs, 1, &echoer_ops, NULL, NULL);
}

/* The guide's echoer answers only what came through a secure channel: the
 * runtime drops anything else sent to it. */
static inline int echoer_start_secure(ockam_node *node) {
  const char *addrs[1] = {"echoer"};
  ockam_worker *w;
  int rc = ockam_worker_start(node, addrs, 1, &echoer_ops, NULL, &w);
  if (!rc) rc = ockam_worker_set_flags(w, OCKAM_WORKER_CHANNEL_ONLY);
  return rc;
}

#endif
