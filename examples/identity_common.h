/* Shared by the identity examples: a persistent identity in a directory and
 * the trust policy given on the command line.
 *
 *   --identity-dir DIR    DIR/vault holds the keys (0700/0600), DIR/identity the
 *                         change history; created on first use (default: a
 *                         fresh identity in memory)
 *   --show-identifier     print the identifier and exit (creating it if needed)
 *   --trust ID            accept only the peer with this identifier (repeatable;
 *                         "@FILE" reads the identifier from FILE)
 *   --trust-file FILE     accept the peers whose contacts are in FILE
 *   --trust-everyone      accept any peer that proves an identity
 *   --hub-identity ID     reach the hub's services through an identity channel
 *                         to the hub, accepting only the hub with this
 *                         identifier ("@FILE" reads it from FILE; `ockam hub
 *                         --print-identifier` tells it)
 * Other arguments are left for example_parse() (hub, stream options).
 */
#ifndef OCKAM_EXAMPLE_IDENTITY_COMMON_H
#define OCKAM_EXAMPLE_IDENTITY_COMMON_H

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "ockam/ockam.h"
#include "stream_common.h"

#define EXAMPLE_MAX_TRUST 8

typedef struct identity_args {
  const char *dir;
  bool show;
  const char *trust[EXAMPLE_MAX_TRUST];
  size_t ntrust;
  const char *trust_file;
  bool trust_everyone;
  const char *hub_identity;
  char ids[EXAMPLE_MAX_TRUST][OCKAM_IDENTIFIER_BUF]; /* identifiers read from "@FILE" */
  int argc;                                          /* what is left for example_parse() */
  char *argv[64];
} identity_args;

static inline int identity_parse(int argc, char **argv, identity_args *a) {
  memset(a, 0, sizeof *a);
  a->argv[a->argc++] = argv[0];
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
      const char *slash = strrchr(argv[0], '/');
      printf(
          "usage: %s [--identity-dir DIR] [--show-identifier]\n"
          "       (--trust ID | --trust-file FILE | --trust-everyone) [stream options]\n"
          "  --identity-dir DIR  keep the identity in DIR (default: a new one in memory)\n"
          "  --show-identifier   print the identifier and exit\n"
          "  --trust ID          accept only this peer (repeatable; @FILE reads it)\n"
          "  --trust-file FILE   accept the peers whose contacts are in FILE\n"
          "  --trust-everyone    accept any peer that proves an identity\n"
          "stream options: the same as the 14-* examples (their --help)\n",
          slash ? slash + 1 : argv[0]);
      exit(0);
    }
    if (!strcmp(argv[i], "--identity-dir") && i + 1 < argc)
      a->dir = argv[++i];
    else if (!strcmp(argv[i], "--show-identifier"))
      a->show = true;
    else if (!strcmp(argv[i], "--trust") && i + 1 < argc && a->ntrust < EXAMPLE_MAX_TRUST)
      a->trust[a->ntrust++] = argv[++i];
    else if (!strcmp(argv[i], "--trust-file") && i + 1 < argc)
      a->trust_file = argv[++i];
    else if (!strcmp(argv[i], "--trust-everyone"))
      a->trust_everyone = true;
    else if (!strcmp(argv[i], "--hub-identity") && i + 1 < argc)
      a->hub_identity = argv[++i];
    else if (a->argc < 63)
      a->argv[a->argc++] = argv[i];
  }
  a->argv[a->argc] = NULL;
  return OCKAM_OK;
}

/* Load DIR's identity, or create and save it; in memory without a directory. */
static inline int identity_open(const identity_args *a, ockam_vault **vault,
                                ockam_identity **identity) {
  *vault = NULL;
  *identity = NULL;
  if (!a->dir) {
    int rc = ockam_vault_create("software", vault);
    if (!rc) rc = ockam_identity_create(*vault, identity);
    return rc;
  }
  char path[512];
  if (mkdir(a->dir, 0700) != 0 && errno != EEXIST) return OCKAM_EIO;
  snprintf(path, sizeof path, "%s/vault", a->dir);
  int rc = ockam_vault_create_persistent(path, vault);
  if (rc) return rc;
  snprintf(path, sizeof path, "%s/identity", a->dir);
  rc = ockam_identity_load(*vault, path, identity);
  if (rc == OCKAM_ENOTFOUND) {
    rc = ockam_identity_create(*vault, identity);
    if (!rc) rc = ockam_identity_save(*identity, path);
  }
  return rc;
}

/* identity_open, and the identifier into id. */
static inline int identity_open_id(const identity_args *a, ockam_vault **vault,
                                   ockam_identity **identity,
                                   char id[static OCKAM_IDENTIFIER_BUF]) {
  int rc = identity_open(a, vault, identity);
  if (!rc) rc = ockam_identity_identifier(*identity, id, OCKAM_IDENTIFIER_BUF);
  return rc;
}

/* Frees what identity_open and identity_policy made (each may be NULL). */
static inline void identity_close(ockam_vault *vault, ockam_identity *identity,
                                  ockam_trust_policy *policy) {
  ockam_trust_policy_free(policy);
  ockam_identity_free(identity);
  ockam_vault_destroy(vault);
}

/* Identifier given as text or as "@FILE" holding it. */
static inline int identity_read_id(const char *arg, char out[static OCKAM_IDENTIFIER_BUF]) {
  char text[256] = "";
  if (arg[0] == '@') {
    FILE *f = fopen(arg + 1, "r");
    if (!f) return OCKAM_ENOTFOUND;
    if (!fgets(text, sizeof text, f)) text[0] = '\0';
    fclose(f);
    text[strcspn(text, " \r\n")] = '\0';
    arg = text;
  }
  return ockam_identifier_parse(arg, out);
}

static inline int identity_policy(identity_args *a, ockam_trust_policy **out) {
  if (a->trust_file) return ockam_trust_contacts_file(a->trust_file, out);
  if (a->ntrust) {
    const char *ids[EXAMPLE_MAX_TRUST];
    for (size_t i = 0; i < a->ntrust; i++) {
      int rc = identity_read_id(a->trust[i], a->ids[i]);
      if (rc) return rc;
      ids[i] = a->ids[i];
    }
    return ockam_trust_identifiers(ids, a->ntrust, out);
  }
  if (a->trust_everyone) return ockam_trust_everyone(out);
  fprintf(stderr, "say whom to trust: --trust ID, --trust-file FILE or --trust-everyone\n");
  return OCKAM_EINVAL;
}

/* Whether the stream client's hub channel is up, or was refused. */
static inline bool identity_hub_settled(void *arg) {
  ockam_stream_stats st;
  ockam_stream_get_stats(arg, &st);
  return st.hub_channel_up || st.hub_channel_error == OCKAM_EUNTRUSTED ||
         st.hub_channel_error == OCKAM_EPEERAUTH;
}

/* example_connect(), through an identity channel to the hub when
 * --hub-identity was given: the stream client opens it (and opens it again
 * if the hub restarts) from its options, and the hub knows this node as `me`. */
static inline int identity_hub_connect(ockam_node *node, ockam_tcp *tcp, const identity_args *ia,
                                       const example_args *a, ockam_identity *me, const char *out,
                                       const char *in, ockam_stream **stream) {
  if (!ia->hub_identity) return example_connect(node, tcp, a, out, in, stream);
  char hub_id[OCKAM_IDENTIFIER_BUF], hop[300];
  int rc = identity_read_id(ia->hub_identity, hub_id);
  if (!rc) rc = ockam_tcp_connect(tcp, a->hub, 0);
  if (rc) return rc;
  ockam_route *route = NULL;
  snprintf(hop, sizeof hop, "1#%s", a->hub);
  if ((rc = ockam_route_parse(hop, &route))) return rc;
  ockam_stream_options opts = {0};
  opts.client_id = a->client_id;
  opts.stream_service = a->stream_service;
  opts.index_service = a->index_service;
  opts.identity = me;
  opts.hub_identifier = hub_id;
  rc = ockam_stream_connect(node, route, a->out_stream ? a->out_stream : out,
                            a->in_stream ? a->in_stream : in, &opts, stream);
  ockam_route_free(route);
  if (rc) return rc;
  rc = ockam_node_run_until(node, 60000, identity_hub_settled, *stream);
  ockam_stream_stats st;
  ockam_stream_get_stats(*stream, &st);
  if (!rc && !st.hub_channel_up) rc = st.hub_channel_error;
  if (rc) {
    ockam_stream_close(*stream);
    *stream = NULL;
    return rc;
  }
  printf("Identity channel with the hub P_ID.%s established\n", hub_id);
  fflush(stdout);
  return OCKAM_OK;
}

#endif
