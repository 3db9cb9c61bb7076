/* Shared by the stream examples: parse "HUB [--client-id ID] [--service NAME] [--out S --in S]"
 * and connect a bi-directional stream pair through the hub. */
#ifndef OCKAM_EXAMPLE_STREAM_COMMON_H
#define OCKAM_EXAMPLE_STREAM_COMMON_H

#include <stdio.h>
#include <string.h>

#include "example_args.h"
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

#define EXAMPLE_STREAM_USAGE                                                                  \
  "[HUB_ADDRESS] [--client-id ID] [--service NAME] [--index-service NAME]\n"                  \
  "       [--fallback-hub HOST:PORT] [--out STREAM --in STREAM]\n"                            \
  "  HUB_ADDRESS      the hub, HOST:PORT (default 127.0.0.1:4000)\n"                          \
  "  --client-id ID   key of the saved read position (default random: read from the start)\n" \
  "  --service NAME, --index-service NAME   the hub's stream services\n"                      \
  "  --fallback-hub   a second hub sharing the same store\n"                                  \
  "  --out, --in      the stream names (default the guide's)"

/* Parse the stream examples' arguments; --help prints the usage and exits 0,
 * anything unknown or malformed prints it and exits 2. */
static inline void example_parse(int argc, char **argv, example_args *a) {
  memset(a, 0, sizeof *a);
  a->hub = "127.0.0.1:4000";
  bool hub_given = false;
  for (int i = 1; i < argc; i++) {
    if (example_is_help(argv[i])) example_usage_exit(argv[0], EXAMPLE_STREAM_USAGE, NULL);
    bool has_value = i + 1 < argc && !example_is_help(argv[i + 1]);
    if (!strcmp(argv[i], "--client-id") && has_value)
      a->client_id = argv[++i];
    else if (!strcmp(argv[i], "--service") && has_value)
      a->stream_service = argv[++i];
    else if (!strcmp(argv[i], "--index-service") && has_value)
      a->index_service = argv[++i];
    else if (!strcmp(argv[i], "--fallback-hub") && has_value)
      a->fallback_hub = argv[++i];
    else if (!strcmp(argv[i], "--out") && has_value)
      a->out_stream = argv[++i];
    else if (!strcmp(argv[i], "--in") && has_value)
      a->in_stream = argv[++i];
    else if (argv[i][0] == '-' || hub_given) {
      fprintf(stderr, "%s: unexpected argument '%s'\n", example_prog(argv[0]), argv[i]);
      example_usage_exit(argv[0], EXAMPLE_STREAM_USAGE, "bad arguments");
    } else {
      a->hub = argv[i];
      hub_given = true;
    }
  }
  example_check_hub(argv[0], EXAMPLE_STREAM_USAGE, a->hub);
  if (a->fallback_hub) example_check_hub(argv[0], EXAMPLE_STREAM_USAGE, a->fallback_hub);
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
