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

#endif
