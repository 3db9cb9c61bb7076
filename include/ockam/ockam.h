/* ockam-c: nodes, workers, TCP, vault, identities, secure channels, hub streams.
 * Include this one header to get the whole public API. */
#ifndef OCKAM_OCKAM_H
#define OCKAM_OCKAM_H

#include "ockam/channel.h"
#include "ockam/error.h"
#include "ockam/forwarder.h"
#include "ockam/hub.h"
#include "ockam/identity.h"
#include "ockam/identity_channel.h"
#include "ockam/limits.h"
#include "ockam/log.h"
#include "ockam/message.h"
#include "ockam/node.h"
#include "ockam/route.h"
#include "ockam/stream.h"
#include "ockam/tcp.h"
#include "ockam/vault.h"
#include "ockam/version.h"

#endif
