/* What other layers may ask of the secure channel workers, and the hooks of
 * the plain channel for the identity channel layered on it. */
#ifndef OCKAMI_CHANNEL_INTERNAL_H
#define OCKAMI_CHANNEL_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ockam/channel.h"
#include "ockam/identity_channel.h"
#include "ockam/node.h"

/* Whether `address` (local, len bytes) is where a secure channel of this node
 * takes input from its peer: a listener (plain or identity), or a channel's
 * remote address. A channel's local address (which encrypts whatever it is
 * given and sends it to the peer as authenticated) is not. The stream
 * consumer delivers stored messages to these addresses by default. */
bool ockami_channel_takes_peer_input(ockam_node *node, const void *address, size_t len);

/* Whether w is an identity channel listener (identity_channel.c). */
bool ockami_identity_listener_is(const ockam_worker *w);

/* Identity exchanges of listener l still in progress (held under its cap,
 * ockam_channel_options.max_pending or OCKAM_IDENTITY_MAX_PENDING), and all
 * channel ends it started that still live. 0 once the listener stopped. */
size_t ockami_identity_listener_waiting(const ockam_identity_channel_listener *l);
size_t ockami_identity_listener_ends(const ockam_identity_channel_listener *l);

/* The plain responder channel whose completion callback is `callback` failed
 * during its handshake: the identity channel end waiting there (if that is
 * what the callback names) stops too. */
void ockami_identity_plain_failed(ockam_node *node, const ockam_route *callback);

/* Start an initiator channel along route without waiting: sends m1 and
 * returns the channel's local address in local. callback (may be NULL) is a
 * local address that is both announced in the CreateResponderChannelMessage
 * (Some(0#callback), identity spec §6.3 step 1) and sent KeyExchangeCompleted
 * once the handshake completes. Errors: as ockam_channel_create(). */
OCKAM_MUST_CHECK int ockami_channel_initiate(ockam_node *node, const ockam_route *route,
                                             ockam_vault *vault, const ockam_channel_options *opts,
                                             const char *callback, char local[static 33]);

/* Is `local` the local address of an established channel of this node whose
 * completion callback is exactly [callback]? If so, h receives its final
 * handshake hash. The identity layer asks this instead of trusting the bytes
 * of a KeyExchangeCompleted message. Errors: OCKAM_ENOTFOUND (no such
 * channel), OCKAM_ESTATE (handshake not complete), OCKAM_EPROTO (another
 * callback). */
OCKAM_MUST_CHECK int ockami_channel_completed(ockam_node *node, const char *local,
                                              const char *callback, uint8_t h[static 32]);

/* Where the channel at `local` reports its error if it fails (NULL to stop);
 * the pointer must stay valid until reset. No-op when the channel is gone. */
void ockami_channel_set_waiter(ockam_node *node, const char *local, int *result);

/* 0 while the channel at `local` lives and has not failed; otherwise why it
 * stopped (OCKAM_ECLOSED when it is gone). */
OCKAM_MUST_CHECK int ockami_channel_failed(ockam_node *node, const char *local);

/* Non-blocking identity channel initiator (what ockam_identity_channel_create()
 * does without running the loop), for clients that keep a channel open on
 * their own. fn(arg, local, result) runs on the loop thread, from inside the
 * channel's own callbacks (so it must not close or start channels itself):
 * once with OCKAM_OK when the channel is ready, then once with why it ended
 * (its failure, or OCKAM_ECLOSED when a ready channel stops), and never
 * again. local receives the channel's local address. Errors: OCKAM_EINVAL,
 * those of ockam_worker_start() and of the plain channel's first message. */
typedef void (*ockami_idch_notify_fn)(void *arg, const char *local, int result);
OCKAM_MUST_CHECK int ockami_identity_channel_start(ockam_node *node, const ockam_route *route,
                                                   ockam_identity *identity,
                                                   ockam_trust_policy *policy,
                                                   const ockam_channel_options *opts,
                                                   ockami_idch_notify_fn fn, void *arg,
                                                   char local[static 33]);
/* Stop telling anyone about the channel at local (it keeps running). */
void ockami_identity_channel_unwatch(ockam_node *node, const char *local);

#endif
