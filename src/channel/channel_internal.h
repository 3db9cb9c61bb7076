/* What other layers may ask of the secure channel workers. */
#ifndef OCKAMI_CHANNEL_INTERNAL_H
#define OCKAMI_CHANNEL_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>

#include "ockam/node.h"

/* Whether `address` (local, len bytes) is where a secure channel of this node
 * takes input from its peer: a listener, or a channel's remote address. A
 * channel's local address (which encrypts whatever it is given and sends it
 * to the peer as authenticated) is not. The stream consumer delivers stored
 * messages to these addresses by default. */
bool ockami_channel_takes_peer_input(ockam_node *node, const void *address, size_t len);

#endif
