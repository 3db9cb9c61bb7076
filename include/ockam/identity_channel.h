/* Identity-authenticated secure channels (Ockam 2021 "Entity" channel,
 * identity spec §6-§7, wire-compatible with Rust v0.18.0).
 *
 * A plain Noise XX channel (channel.h) first; then, inside it, each side sends
 * its Contact and a proof (XEdDSA by its current identity key over the final
 * XX handshake hash h), verifies the peer's Contact completely, the proof and
 * a local trust policy. Only then does the channel carry data. Every message
 * the channel delivers carries the peer's verified identifier as node-local
 * metadata (ockam_message_peer_identifier(), message.h); workers can accept
 * messages from given identifiers only (ockam_worker_allow_identifiers(),
 * node.h).
 *
 * A man in the middle who runs one XX handshake with each side gets two
 * different handshake hashes; he cannot produce either side's proof over the
 * other hash, so the check fails and nothing is delivered.
 *
 * Failures: a proof or Contact that does not verify gives OCKAM_EPEERAUTH, a
 * peer refused by the policy OCKAM_EUNTRUSTED; the side that finds it closes
 * its channel at once. The 2021 wire has no error message: when both ends are
 * ockam-c with extended framing, the refusing end also sends a refusal notice
 * (docs/protocol-extensions.md, "Identity channel"), and the other end then
 * fails with the same code; otherwise the other end times out.
 *
 * Threading and lifetimes: loop thread only, like channel.h. The identity
 * (and its vault) must outlive the node's identity channels and listeners.
 */
#ifndef OCKAM_IDENTITY_CHANNEL_H
#define OCKAM_IDENTITY_CHANNEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ockam/channel.h"
#include "ockam/error.h"
#include "ockam/identity.h"
#include "ockam/node.h"
#include "ockam/route.h"

#ifdef __cplusplus
extern "C" {
#endif

/* --- trust policies ------------------------------------------------------------ */

/* Reference-counted: channels and listeners keep their own reference, so the
 * caller may free its policy as soon as it has passed it on. */
typedef struct ockam_trust_policy ockam_trust_policy;

/* Decide about a peer whose Contact and proof verified. identifier is its
 * verified identifier (64 hex), contact its full Contact (borrowed for the
 * call). Return 0 to accept, anything else to refuse. Runs on the loop thread. */
typedef int (*ockam_trust_fn)(void *arg, const char *identifier, const ockam_contact *contact);

/* Accept every peer that proves some identity (Rust TrustEveryonePolicy). */
OCKAM_MUST_CHECK int ockam_trust_everyone(ockam_trust_policy **out);
/* Accept the peers with one of these identifiers (64 hex, or "P_ID."/"P"
 * forms). A rotated identity keeps its identifier, so it stays accepted.
 * Errors: OCKAM_EINVAL (n = 0 or a malformed identifier), OCKAM_ENOMEM. */
OCKAM_MUST_CHECK int ockam_trust_identifiers(const char *const *ids, size_t n,
                                             ockam_trust_policy **out);
/* Accept the peers whose Contacts are in the file at path: one Contact per
 * line as hex (blank lines and lines starting with '#' ignored), or a single
 * Contact as raw bytes. Each is verified on load. A peer is accepted when its
 * identifier is one of them and the Contact it presents is the stored history
 * or a valid extension of it (a rotation). Errors: OCKAM_ENOTFOUND, OCKAM_EIO,
 * OCKAM_EMALFORMED (not hex, or no contact), contact decode errors. */
OCKAM_MUST_CHECK int ockam_trust_contacts_file(const char *path, ockam_trust_policy **out);
/* Ask fn. Errors: OCKAM_EINVAL, OCKAM_ENOMEM. */
OCKAM_MUST_CHECK int ockam_trust_callback(ockam_trust_fn fn, void *arg, ockam_trust_policy **out);
/* Drop the caller's reference. NULL is ignored. */
void ockam_trust_policy_free(ockam_trust_policy *p);
/* Apply a policy (what the channel does after the proofs verified):
 * 0 or OCKAM_EUNTRUSTED. */
OCKAM_MUST_CHECK int ockam_trust_policy_check(const ockam_trust_policy *p,
                                              const ockam_contact *peer);

/* --- channels ------------------------------------------------------------------ */

typedef struct ockam_identity_channel_listener ockam_identity_channel_listener;

/* Start an identity channel listener at `address` (the guide uses
 * "secure_channel_listener"), with a hidden plain listener under it. opts: as
 * for plain channels (may be NULL); handshake_timeout_ms bounds the whole
 * exchange (XX and identities). *out is released by
 * ockam_identity_channel_listener_close(), before or after the node's
 * destruction ("Handles" in ockam/node.h). The listener keeps its own
 * reference to policy. Errors: OCKAM_EINVAL, OCKAM_EEXIST, OCKAM_ENOMEM. */
OCKAM_MUST_CHECK int ockam_identity_channel_listener_create(ockam_node *node, const char *address,
                                                            ockam_identity *identity,
                                                            ockam_trust_policy *policy,
                                                            const ockam_channel_options *opts,
                                                            ockam_identity_channel_listener **out);
/* Stop answering channel requests and free l. Channels it already started
 * keep running. */
void ockam_identity_channel_listener_close(ockam_identity_channel_listener *l);

/* Create an identity channel to the listener at the end of route and run the
 * loop until both identities are verified or timeout_ms passes.
 * channel_address (cap >= 33) receives the channel's local address: send to
 * [channel_address, destination...]. Errors: OCKAM_EPEERAUTH (the responder's
 * Contact or proof did not verify), OCKAM_EUNTRUSTED (refused by a policy:
 * ours, or the responder's when it could tell us), OCKAM_ETIMEDOUT,
 * OCKAM_ECRYPTO (XX failed), OCKAM_ETOOSMALL (cap), OCKAM_EINVAL. */
OCKAM_MUST_CHECK int ockam_identity_channel_create(ockam_node *node, const ockam_route *route,
                                                   ockam_identity *identity,
                                                   ockam_trust_policy *policy,
                                                   const ockam_channel_options *opts,
                                                   int64_t timeout_ms, char *channel_address,
                                                   size_t cap);

/* The verified identifier of the peer of an established identity channel
 * (local address as returned above, or as seen in a delivered message's
 * return route). Errors: OCKAM_ENOTFOUND, OCKAM_ESTATE, OCKAM_EOVERFLOW. */
OCKAM_MUST_CHECK int ockam_identity_channel_peer(ockam_node *node, const char *channel_address,
                                                 char *buf, size_t cap);
/* Counters of the plain channel under it (ockam_channel_get_stats). */
OCKAM_MUST_CHECK int ockam_identity_channel_get_stats(ockam_node *node, const char *channel_address,
                                                      ockam_channel_stats *out);
/* Close the identity channel and the plain channel under it. */
OCKAM_MUST_CHECK int ockam_identity_channel_close(ockam_node *node, const char *channel_address);

/* --- channels to a hub ------------------------------------------------------------ */

/* Where every ockam-c hub listens for identity channels. */
#define OCKAM_HUB_IDENTITY_LISTENER "identity_listener"

/* Create an identity channel to the hub reached by route_to_hub (e.g.
 * [1#127.0.0.1:4000]), at its OCKAM_HUB_IDENTITY_LISTENER, accepting only the
 * hub whose identifier is hub_identifier (any form ockam_identifier_parse()
 * takes). Blocks like ockam_identity_channel_create(). The hub's services are
 * then reached along [channel_address, service]: pass a route holding only
 * channel_address as route_to_hub to ockam_stream_connect() or to forwarder
 * registration, and the hub sees every request as coming from `identity`
 * (its ACL decides what that identity may do). A stream client can instead
 * open (and re-open) its own channel to the hub: ockam_stream_options
 * identity and hub_identifier (ockam/stream.h). Errors: those of
 * ockam_identity_channel_create(), OCKAM_EINVAL (a malformed identifier). */
OCKAM_MUST_CHECK int ockam_hub_channel_create(ockam_node *node, const ockam_route *route_to_hub,
                                              ockam_identity *identity, const char *hub_identifier,
                                              int64_t timeout_ms, char *channel_address,
                                              size_t cap);

#ifdef __cplusplus
}
#endif
#endif
