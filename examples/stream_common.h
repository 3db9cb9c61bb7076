/* Shared by the stream examples: parse "HUB [--client-id ID] [--service NAME] [--out S --in S]"
 * and connect a bi-directional stream pair through the hub. */
#ifndef OCKAM_EXAMPLE_STREAM_COMMON_H
#define OCKAM_EXAMPLE_STREAM_COMMON_H

#include <stdio.h>
#include <string.h>

#include "ockam/ockam.h"

typedef struct example_args {
  const char *hub;
  const char *client_id;      /* NULL: random (the guide's default) */
  const char *stream_service; /* NULL: "stream" */
  const char *index_service;  /* NULL: "stream_index" */
  const char *fallback_hub;   /* NULL: none */
  const char *out_stream;     /* NULL: the guide's name for this side */
  const char *in_stream;      /* NULL: the guide's name for this side */
} example_args;

static inline void example_parse(int argc, char **argv, example_args *a) {
  memset(a, 0, sizeof *a);
  a->hub = "127.0.0.1:4000";
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--client-id") && i + 1 < argc)
      a->client_id = argv[++i];
    else if (!strcmp(argv[i], "--service") && i + 1 < argc)
      a->stream_service = argv[++i];
    else if (!strcmp(argv[i], "--index-service") && i + 1 < argc)
      a->index_service = argv[++i];
    else if (!strcmp(argv[i], "--fallback-hub") && i + 1 < argc)
      a->fallback_hub = argv[++i];
    else if (!strcmp(argv[i], "--out") && i + 1 < argc)
      a->out_stream = argv[++i];
    else if (!strcmp(argv[i], "--in") && i + 1 < argc)
      a->in_stream = argv[++i];
    else
      a->hub = argv[i];
  }
}

/* route_to_hub = [1#HUB]; out/in are the stream names. The hubs are
 * connected explicitly (the TCP transport opens no connection on its own);
 * either side may start before the hub, the connection is retried. */
static inline int example_connect(ockam_node *node, ockam_tcp *tcp, const example_args *a,
                                  const char *out, const char *in, ockam_stream **stream) {
  char hop[300];
  ockam_route *route = NULL, *fallback = NULL;
  int rc = ockam_tcp_connect(tcp, a->hub, 0);
  if (!rc && a->fallback_hub) rc = ockam_tcp_connect(tcp, a->fallback_hub, 0);
  if (rc) return rc;
  if (a->out_stream) out = a->out_stream;
  if (a->in_stream) in = a->in_stream;
  snprintf(hop, sizeof hop, "1#%s", a->hub);
  rc = ockam_route_parse(hop, &route);
  if (rc) return rc;
  ockam_stream_options opts = {0};
  opts.client_id = a->client_id;
  opts.stream_service = a->stream_service;
  opts.index_service = a->index_service;
  const ockam_route *fallbacks[1];
  if (a->fallback_hub) {
    snprintf(hop, sizeof hop, "1#%s", a->fallback_hub);
    if ((rc = ockam_route_parse(hop, &fallback))) {
      ockam_route_free(route);
      return rc;
    }
    fallbacks[0] = fallback;
    opts.fallback_routes = fallbacks;
    opts.n_fallback = 1;
  }
  rc = ockam_stream_connect(node, route, out, in, &opts, stream);
  ockam_route_free(route);
  ockam_route_free(fallback);
  return rc;
}

#endif
