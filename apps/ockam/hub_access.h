/* Reaching a hub's services through an identity channel to the hub, for the
 * commands that talk to a hub (--hub-identity ID, --identity FILE). */
#ifndef OCKAM_CLI_HUB_ACCESS_H
#define OCKAM_CLI_HUB_ACCESS_H

#include "ockam/identity.h"
#include "ockam/node.h"
#include "ockam/route.h"
#include "ockam/vault.h"

typedef struct ockam_cli_hub_access {
  ockam_vault *vault;
  ockam_identity *identity;
  char hub_id[OCKAM_IDENTIFIER_BUF]; /* the hub's identifier, with an identity */
} ockam_cli_hub_access;

/* When hub_identity is set: check it is an identifier and load the identity
 * (as below) into a, without opening a channel (for a stream client, which
 * opens and re-opens its own: ockam_stream_options). Errors are printed with
 * `cmd`. */
int ockam_cli_hub_identity(const char *cmd, const char *hub_identity, const char *identity_file,
                           ockam_cli_hub_access *a);

/* When hub_identity is set: open an identity channel to the hub that is the
 * first hop of *route (1#HOST:PORT, already connected), accepting only that
 * identifier, as the identity in identity_file (keys in the vault/ directory
 * beside it, as `ockam identity create --dir` makes them) or a new identity
 * in memory; then replace that first hop of *route by the channel. Without
 * hub_identity nothing changes. Errors are printed with `cmd`. Release a
 * with ockam_cli_hub_channel_free() after the node is destroyed. */
int ockam_cli_hub_channel(const char *cmd, ockam_node *node, ockam_route **route,
                          const char *hub_identity, const char *identity_file, int64_t timeout_ms,
                          ockam_cli_hub_access *a);
void ockam_cli_hub_channel_free(ockam_cli_hub_access *a);

#endif
