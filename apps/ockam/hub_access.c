/* --hub-identity / --identity of the commands that talk to a hub. */
#include "hub_access.h"

#include <stdio.h>
#include <string.h>

#include "ockam/error.h"
#include "ockam/identity_channel.h"

static int load_identity(const char *path, ockam_cli_hub_access *a) {
  if (!path) {
    int rc = ockam_vault_create("software", &a->vault);
    return rc ? rc : ockam_identity_create(a->vault, &a->identity);
  }
  char vdir[4200];
  const char *slash = strrchr(path, '/');
  if (!slash)
    snprintf(vdir, sizeof vdir, "vault");
  else
    snprintf(vdir, sizeof vdir, "%.*s/vault", (int)(slash - path), path);
  int rc = ockam_vault_create_persistent(vdir, &a->vault);
  return rc ? rc : ockam_identity_load(a->vault, path, &a->identity);
}

int ockam_cli_hub_identity(const char *cmd, const char *hub_identity, const char *identity_file,
                           ockam_cli_hub_access *a) {
  memset(a, 0, sizeof *a);
  if (!hub_identity) {
    if (identity_file) fprintf(stderr, "ockam %s: --identity needs --hub-identity\n", cmd);
    return identity_file ? OCKAM_EINVAL : OCKAM_OK;
  }
  int rc = ockam_identifier_parse(hub_identity, a->hub_id);
  if (rc) {
    fprintf(stderr, "ockam %s: --hub-identity: not an identifier\n", cmd);
    return rc;
  }
  if ((rc = load_identity(identity_file, a))) {
    fprintf(stderr, "ockam %s: identity %s: %s\n", cmd, identity_file ? identity_file : "(new)",
            ockam_strerror(rc));
    return rc;
  }
  return OCKAM_OK;
}

int ockam_cli_hub_channel(const char *cmd, ockam_node *node, ockam_route **route,
                          const char *hub_identity, const char *identity_file, int64_t timeout_ms,
                          ockam_cli_hub_access *a) {
  int rc = ockam_cli_hub_identity(cmd, hub_identity, identity_file, a);
  if (rc || !hub_identity) return rc;
  const char *id = a->hub_id;
  ockam_address first;
  ockam_route *hub = NULL, *rest = NULL;
  if ((rc = ockam_route_get(*route, 0, &first)) || first.type != OCKAM_ADDRESS_TCP) {
    fprintf(stderr, "ockam %s: the route must start at the hub (1#HOST:PORT)\n", cmd);
    return OCKAM_EINVAL;
  }
  char channel[64];
  rc = ockam_route_new(&hub);
  if (!rc) rc = ockam_route_append(hub, first.type, first.value, first.len);
  if (!rc)
    rc = ockam_hub_channel_create(node, hub, a->identity, id, timeout_ms, channel, sizeof channel);
  if (rc) {
    fprintf(stderr, "ockam %s: identity channel to the hub: %s\n", cmd, ockam_strerror(rc));
    ockam_route_free(hub);
    return rc;
  }
  /* [channel, the rest of the route] */
  rc = ockam_route_new(&rest);
  if (!rc) rc = ockam_route_append_str(rest, channel);
  for (size_t i = 1; !rc && i < ockam_route_len(*route); i++) {
    ockam_address hop;
    rc = ockam_route_get(*route, i, &hop);
    if (!rc) rc = ockam_route_append(rest, hop.type, hop.value, hop.len);
  }
  ockam_route_free(hub);
  if (rc) {
    ockam_route_free(rest);
    return rc;
  }
  ockam_route_free(*route);
  *route = rest;
  return OCKAM_OK;
}

void ockam_cli_hub_channel_free(ockam_cli_hub_access *a) {
  ockam_identity_free(a->identity);
  ockam_vault_destroy(a->vault);
  a->identity = NULL;
  a->vault = NULL;
}
