/* Secure channels: Noise XX (25519, AES-256-GCM, SHA-256) over any route,
 * wire-compatible with the mid-2021 Ockam secure channel (spec §5, §6).
 *
 * A listener on the responder node answers channel requests; the initiator
 * creates a channel along a route that ends at the listener (direct TCP,
 * through a hub forwarder, or through a pair of hub streams). The channel is
 * a local address (the guide's `channel.address()`): whatever is sent to
 * `[channel, rest...]` is encrypted, carried to the other end, decrypted and
 * routed there to `[rest...]`, with a return route that leads back through
 * the channel.
 *
 * Beyond 2021, negotiated so that 2021 peers still work (docs/protocol-
 * extensions.md): both ends announce extended framing in their handshake
 * payloads; when both do, data carries an 8-byte nonce (no 65,535-message
 * limit). Both framings drop replayed, too old and tampered ciphertexts
 * (a sliding replay window), which makes at-least-once stream redelivery
 * reach the application exactly once.
 *
 * Everything runs on the node's loop thread. The vault must outlive the
 * node's channels (destroy the node first).
 */
#ifndef OCKAM_CHANNEL_H
#define OCKAM_CHANNEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ockam/error.h"
#include "ockam/node.h"
#include "ockam/route.h"
#include "ockam/vault.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct ockam_channel_options {
  /* Behave exactly like a 2021 node: empty handshake payloads, 2-byte nonces. */
  bool compat_2021;
  /* A handshake that does not complete in this time is abandoned and its
   * worker freed; 0 = OCKAM_HANDSHAKE_TIMEOUT_MS. */
  uint32_t handshake_timeout_ms;
  /* Listener only: handshakes in progress at once, the oldest abandoned for a
   * newer one beyond; 0 = OCKAM_CHANNEL_MAX_PENDING (identity listeners: the
   * same for their identity exchanges, 0 = OCKAM_IDENTITY_MAX_PENDING). */
  uint32_t max_pending;
  /* Rekeying (extended framing only, negotiated: both ends must offer it):
   * each direction moves to a new key (Noise REKEY) every rekey_messages
   * messages (0 = OCKAM_REKEY_MESSAGES; the smaller of the two ends' values,
   * at least OCKAM_REPLAY_WINDOW, is used) and after rekey_ms of use (0 =
   * OCKAM_REKEY_INTERVAL_MS). no_rekey: do not offer it. */
  uint32_t rekey_messages;
  uint32_t rekey_ms;
  bool no_rekey;
  /* Batched records (extended framing only, negotiated: both ends must offer
   * it): messages sent to the channel in one loop iteration are sealed
   * together in one record. no_batch: do not offer it. */
  bool no_batch;
} ockam_channel_options;

typedef struct ockam_channel_stats {
  uint64_t sent, delivered;
  uint64_t replayed, too_old, auth_failed, malformed;
  bool extended_framing; /* true when both ends negotiated 8-byte nonces */
  bool established;
  uint64_t rekey_messages;               /* agreed key epoch length; 0 = no rekeying */
  uint64_t rekeys_sent, rekeys_received; /* key changes per direction */
  uint64_t handshake_rejected;           /* handshake messages that did not authenticate
                                            (dropped; the handshake goes on) */
  /* Batched records: sent and delivered above count records; these count the
   * records that carried several messages, and those messages. */
  bool batching;                           /* both ends negotiated batched records */
  uint64_t batches_sent, batches_received; /* records holding several messages */
  uint64_t batched_sent, batched_received; /* messages carried in such records */
} ockam_channel_stats;

typedef struct ockam_channel_listener ockam_channel_listener;

/* Start a listener at local address `address` (the guide uses
 * "secure_channel_listener"). opts may be NULL. *out is released by
 * ockam_channel_listener_close(), before or after the node's destruction
 * ("Handles" in ockam/node.h). Errors: OCKAM_EEXIST, OCKAM_EINVAL. */
OCKAM_MUST_CHECK int ockam_channel_listener_create(ockam_node *node, const char *address,
                                                   ockam_vault *vault,
                                                   const ockam_channel_options *opts,
                                                   ockam_channel_listener **out);
/* Stop answering channel requests and free l. Channels the listener already
 * started keep running (close them with ockam_channel_close()). */
void ockam_channel_listener_close(ockam_channel_listener *l);

/* Create a channel to the listener at the end of `route` and run the loop
 * until the handshake completes or timeout_ms passes. channel_address (cap >=
 * 33) receives the channel's local address. A handshake message that does
 * not authenticate is dropped and counted (handshake_rejected); the handshake
 * waits for the honest one, so a wrong peer shows as OCKAM_ETIMEDOUT.
 * Errors: OCKAM_ETIMEDOUT (the abandoned handshake is freed), OCKAM_ECRYPTO
 * (a low-order key or a vault failure), OCKAM_ETOOSMALL (cap),
 * OCKAM_EINVAL. */
OCKAM_MUST_CHECK int ockam_channel_create(ockam_node *node, const ockam_route *route,
                                          ockam_vault *vault, const ockam_channel_options *opts,
                                          int64_t timeout_ms, char *channel_address, size_t cap);

/* Counters of the channel whose local address is `channel_address`.
 * Errors: OCKAM_ENOTFOUND. */
OCKAM_MUST_CHECK int ockam_channel_get_stats(ockam_node *node, const char *channel_address,
                                             ockam_channel_stats *out);
/* Stop a channel (both of its addresses). */
OCKAM_MUST_CHECK int ockam_channel_close(ockam_node *node, const char *channel_address);

#ifdef __cplusplus
}
#endif
#endif
