/* Remote forwarders: a public address on a hub that relays to a local worker
 * (spec §9, the 2021 `RemoteForwarder`).
 *
 * Registering sends "register" to `route_to_hub ‖ forwarding_service`; the hub
 * creates a forwarder at a fresh address F and everything that reaches
 * `[<hub>, 0#F]` afterwards is delivered here to `destination`, with a return
 * route that leads back to the sender.
 */
#ifndef OCKAM_FORWARDER_H
#define OCKAM_FORWARDER_H

#include <stddef.h>
#include <stdint.h>

#include "ockam/error.h"
#include "ockam/limits.h"
#include "ockam/node.h"
#include "ockam/route.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct ockam_forwarder ockam_forwarder;

/* Room for any forwarder address the hub may give: OCKAM_ADDRESS_MAX_LEN + NUL. */
#define OCKAM_FORWARDER_ADDRESS_CAP (OCKAM_ADDRESS_MAX_LEN + 1)

/* Register and run the loop until the hub answered or timeout_ms passed.
 * remote_address (cap bytes, at least OCKAM_FORWARDER_ADDRESS_CAP) receives
 * F as a NUL-terminated string. *out is released by ockam_forwarder_close(),
 * before or after the node's destruction ("Handles" in ockam/node.h).
 * Errors: OCKAM_ETOOSMALL (cap, checked before anything is sent),
 * OCKAM_ETIMEDOUT, OCKAM_EPROTO (unexpected answer), OCKAM_EINVAL. */
OCKAM_MUST_CHECK int ockam_forwarder_register(ockam_node *node, const ockam_route *route_to_hub,
                                              const char *destination, int64_t timeout_ms,
                                              char *remote_address, size_t cap,
                                              ockam_forwarder **out);
/* Stop forwarding to this node (the hub's forwarder stays until the hub
 * drops it) and free f. */
void ockam_forwarder_close(ockam_forwarder *f);

#ifdef __cplusplus
}
#endif
#endif
