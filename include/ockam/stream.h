/* Stream client: reliable store-and-forward between two nodes through a hub's
 * stream service (spec §7, §8).
 *
 * ockam_stream_connect() is the 2021 builder
 *
 *   Stream::new(&ctx).stream_service("stream").index_service("stream_index")
 *         .client_id(id).with_interval(100ms)
 *         .connect(route_to_hub, outgoing_name, incoming_name)   -> (tx, rx)
 *
 * and speaks the same bytes (spec §8): the producer pushes every message sent
 * to [tx, ...rest] into stream `outgoing` as `stream_push{id, BARE
 * TransportMessage{onward rest, return untouched, payload}}`; the consumer
 * pulls stream `incoming`, prepends `0#tx` to the return route of each stored
 * message, forwards it along its onward route, or hands it to the rx address
 * when that route is empty. So a reply sent to the delivered return route
 * travels back through the outgoing stream, and a secure channel runs over
 * the pair of streams unchanged (spec §6.5).
 *
 * Delivery is at-least-once in order, without the flaws of the 2021 client
 * (spec §8.5):
 *   - Hub replies arrive on private control addresses, never on tx, so user
 *     data cannot be mistaken for a protocol reply and a hub `error` is never
 *     pushed as data.
 *   - Every push is kept until its PushConfirm. Pushes are pipelined (up to
 *     max_in_flight unconfirmed on the wire) and queued before `Init`. A push
 *     without a confirm after retry_ms, or an ERROR confirm (after a backoff),
 *     makes the producer go back to the oldest unconfirmed push and send the
 *     unconfirmed ones again, in order, under their original request ids.
 *   - One pull is in flight at a time; a pull without an answer is sent
 *     again for the same index. The consumer accepts only messages whose
 *     index is at or after the one it asked for and advances past each, so
 *     stale or repeated replies deliver nothing twice.
 *   - The read position is saved (`stream_index Save`) only after the first
 *     local hop of every message of the batch has handled it.
 *   - Repeated timeouts (3 in a row) or an `error` from the stream worker make
 *     that side create its stream again (moving to the next hub route when
 *     fallback routes are given), re-read the saved index, and continue from
 *     the larger of its own position and the hub's.
 *   - Connection events (node.h): when the transport reports the connection
 *     to a side's hub lost, that side stops sending (nothing it sends could
 *     arrive) and stops counting timeouts; when the connection is back it
 *     sends again at once what was in flight: the consumer its pull (whose
 *     reply went to the old connection; the ockam-c hub drops pulls parked
 *     for a closed connection), the producer every unconfirmed push, from the
 *     oldest. With fallback routes, a side whose hub connection is still down
 *     after retry_ms moves to the next hub route. The pause lasts at most
 *     10 s, after which the side retries as if the connection were up.
 *
 * Idempotent, ordered producer. With an ockam-c hub the producer uses the
 * idempotent push form (docs/protocol-extensions.md "Streams: idempotent
 * producers"): each push carries the producer id (the client_id), a session
 * chosen at random for this producer's life and the message's sequence
 * number. The hub stores each sequence number once and only in order, in
 * the same durable commit as the message: a repeat is confirmed with the
 * original index, a push after a gap is answered RESEND and the producer
 * goes back to its oldest unconfirmed push. So the outgoing stream holds
 * every message once, in order, with up to max_in_flight pushes on the wire.
 * The producer tries the form only when Init came from the ockam-c hub's
 * stable stream worker address (so a 2021 hub never sees it), with one push
 * in flight until the first answer; an `error` answer (an ockam-c hub without
 * the extension) makes it fall back to plain pushes for the rest of its life.
 *
 * Duplicates. Without the extension (a 2021 hub, no_idempotent), a push whose
 * confirm was lost is stored twice, and after a lost push followed by stored
 * ones the resent push is stored after its successors: with max_in_flight > 1
 * the order is then guaranteed only while no push is lost (max_in_flight = 1
 * keeps strict order at the cost of one round trip per message). With or
 * without it, a batch delivered just before a crash (or before its Save
 * reached the hub) is delivered again after a restart with the same
 * client_id. A secure channel over the streams drops such repeats with its
 * replay window; plain users of a stream must tolerate them.
 *
 * Long-poll. The consumer first uses the ockam-c long-poll pull (a PullRequest
 * with one extra uint, docs/protocol-extensions.md "Streams: long-poll pull"):
 * the hub holds an empty pull for up to long_poll_ms. If the hub answers it
 * with `error` before any long-poll succeeded (a 2021 hub), the consumer falls
 * back for good to plain pulls every interval_ms.
 *
 * Authenticated hubs. To reach the hub as an identity (the hub's ACL then
 * decides what this client may do, and its consumer index is kept per
 * identity), set options identity and hub_identifier and give the plain
 * route to the hub (e.g. [1#127.0.0.1:4000]) as route_to_hub. The client
 * then opens an identity channel to the hub's listener (route_to_hub ‖
 * hub_listener) itself, on the loop, accepting only the hub whose identifier
 * is hub_identifier, and sends every request inside it. Until a channel is
 * up both sides wait (messages sent to tx are queued); nothing is sent to
 * the hub outside a channel, so a wrong or impostor hub never sees a
 * request. A refused channel (OCKAM_EUNTRUSTED: the hub is not the pinned
 * one, or it refused this identity; OCKAM_EPEERAUTH) is counted in
 * stats.hub_channel_failures with its code in stats.hub_channel_error, and
 * ockam_stream_wait_ready() returns that code; the client keeps trying, with
 * the same backoff as its requests (retry_ms, doubling up to 8x), and each
 * attempt checks the pinned identifier again. When the connection under the
 * channel is lost (the hub restarted or was killed), or the hub stops
 * answering through an established channel, the client opens a new one
 * (the first message waits in the transport's queue until the connection is
 * back) and both sides create their stream again through it: the producer
 * then resends every unconfirmed push from the oldest and the consumer reads
 * on from the larger of its own position and its saved index, so the
 * guarantees above (and "Duplicates") hold across hub restarts as with a
 * plain connection. stats.hub_channels counts the channels established.
 * The manual way also works: open the channel with ockam_hub_channel_create()
 * (ockam/identity_channel.h) and pass a route holding only its address as
 * route_to_hub; that channel is not re-opened by the client. Either way a
 * request the ACL refuses is answered with `error` "Permission denied" and
 * counted in stats.errors.
 *
 * Threading: every function here must be called on the node's loop thread
 * (from main() between blocking calls, or inside a worker or timer callback,
 * except the two blocking helpers, which must not be called from callbacks).
 * The client itself never blocks the loop and never calls user code directly:
 * deliveries go through the node's queue.
 */
#ifndef OCKAM_STREAM_H
#define OCKAM_STREAM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ockam/error.h"
#include "ockam/identity.h"
#include "ockam/limits.h"
#include "ockam/node.h"
#include "ockam/route.h"

#ifdef __cplusplus
extern "C" {
#endif

/* OCKAM_STREAM_LONG_POLL_MS and OCKAM_STREAM_IN_FLIGHT_MAX: see limits.h. */

typedef struct ockam_stream ockam_stream;

/* Every field is optional: zero / NULL selects the default. The strings and
 * routes are copied by ockam_stream_connect(). */
typedef struct ockam_stream_options {
  /* Hub services; defaults "stream" and "stream_index". */
  const char *stream_service;
  const char *index_service;
  /* Key of the saved read position; default 32 random hex characters. Set it
   * to resume reading where a previous run stopped. */
  const char *client_id;
  /* Local address receiving the messages whose inner onward route is empty;
   * default a fresh random address. */
  const char *rx_address;
  /* Interval of plain pulls when a reply brought nothing new; default
   * OCKAM_STREAM_INTERVAL_MS. */
  uint32_t interval_ms;
  /* Most messages asked per pull (at most OCKAM_PULL_LIMIT_MAX, the
   * default). Pulls start at OCKAM_STREAM_PULL_LIMIT (or pull_limit if
   * lower); while replies come back full the limit doubles up to
   * pull_limit, and it halves again when replies have room to spare, back
   * to the start when a pull finds nothing. One reply (at most pull_limit
   * messages in one frame) is what the consumer holds at once: set a lower
   * pull_limit to bound it further. */
  uint32_t pull_limit;
  /* Time to wait for an answer before a request is sent again; default
   * OCKAM_STREAM_RETRY_MS. It doubles with each failure in a row (at most
   * 8x); a long-poll pull waits long_poll_ms more. */
  uint32_t retry_ms;
  /* Wait asked of the hub in long-poll pulls; default OCKAM_STREAM_LONG_POLL_MS. */
  uint32_t long_poll_ms;
  /* Messages kept until confirmed; beyond it new messages on tx are dropped
   * (logged and counted); default OCKAM_STREAM_OUTBOX_MAX. */
  uint32_t outbox_max;
  /* Unconfirmed pushes on the wire at once; default
   * OCKAM_STREAM_IN_FLIGHT_MAX. 1 keeps strict order even under loss. */
  uint32_t max_in_flight;
  /* Use only plain 2021 pulls. */
  bool no_long_poll;
  /* Use only plain 2021 pushes (no idempotent producer extension). */
  bool no_idempotent;
  /* Other routes to hubs sharing the same store. After repeated failures a
   * side creates its stream again through the next route (in turn, wrapping
   * to route_to_hub). The array and the routes are copied. */
  const ockam_route *const *fallback_routes;
  size_t n_fallback;
  /* Authenticated hub ("Authenticated hubs" above): with both set, the
   * client opens an identity channel as `identity` to the hub's identity
   * channel listener along route_to_hub ‖ hub_listener, accepts only the
   * hub whose identifier is hub_identifier (any form ockam_identifier_parse()
   * takes), and sends every request inside it. identity is borrowed: it (and
   * its vault) must outlive the client. Not with fallback_routes. */
  ockam_identity *identity;
  const char *hub_identifier;
  /* The hub's identity channel listener; default OCKAM_HUB_IDENTITY_LISTENER
   * ("identity_listener", ockam/identity_channel.h). */
  const char *hub_listener;
  /* Time one attempt to open the hub channel may take; default
   * OCKAM_STREAM_HUB_CHANNEL_TIMEOUT_MS. */
  uint32_t hub_channel_timeout_ms;
} ockam_stream_options;

typedef struct ockam_stream_stats {
  /* producer (outgoing stream) */
  uint64_t pushed;    /* messages accepted on tx (each counted once) */
  uint64_t confirmed; /* pushes confirmed stored (PushConfirm OK) */
  uint64_t resent;    /* push requests sent again after a timeout, ERROR or re-create */
  uint64_t dropped;   /* messages refused on tx: outbox full or too large for a frame */
  uint64_t queued;    /* now: messages not yet confirmed */
  /* consumer (incoming stream) */
  uint64_t pulled;       /* stream messages received in pull replies, repeats included */
  uint64_t skipped;      /* received but not delivered: older index, undecodable, or routed
                            to the client's private addresses */
  uint64_t delivered;    /* messages handed to their first local hop (or rx) */
  uint64_t refused;      /* received but routed to an address not allowed for this
                            stream (see ockam_stream_allow), dropped */
  uint64_t index_saved;  /* stream_index Save requests sent */
  uint64_t polls;        /* pull requests sent, repeats included */
  uint64_t next_index;   /* now: next stream index the consumer reads */
  bool long_poll;        /* now: pulls use the long-poll form */
  bool idempotent;       /* now: pushes carry the producer id and sequence */
  uint64_t resend_asked; /* RESEND answers: the hub asked to resend in order */
  /* both */
  uint64_t errors;   /* hub `error` replies and ERROR confirms */
  uint64_t timeouts; /* requests that got no answer in time */
  uint64_t reinits;  /* streams created again after failures */
  /* now: index of the hub route each side uses (0 = route_to_hub, then the
   * fallback routes in order) */
  uint32_t producer_hub, consumer_hub;
  /* identity channel to the hub (options identity and hub_identifier) */
  uint64_t hub_channels;         /* channels established (the first, and each re-open) */
  uint64_t hub_channel_failures; /* attempts that failed (refused, timed out, ...) */
  int hub_channel_error;         /* why the last attempt failed (OCKAM_E*), 0 if none did */
  bool hub_channel_up;           /* now: a channel is established */
} ockam_stream_stats;

/* Start the producer of stream `outgoing` and the consumer of stream
 * `incoming` through the hub reached by route_to_hub (may be empty: services
 * on this node). Both create their stream at once; messages sent to tx before
 * the hub answered are queued. route_to_hub, the names and opts are copied
 * (opts may be NULL). *out is owned by the caller and released with
 * ockam_stream_close().
 * One side may be left out: outgoing NULL starts only the consumer, incoming
 * NULL only the producer (a tool that only pushes, or only reads); the getters
 * of the missing side's address return NULL and ockam_stream_flush() without
 * a producer returns 0 at once.
 * Errors: OCKAM_EINVAL (NULL node, route or out, both names NULL, an empty
 * name, pull_limit over
 * OCKAM_PULL_LIMIT_MAX, empty rx_address, n_fallback without routes; only
 * one of identity and hub_identifier, a malformed hub_identifier, or
 * fallback routes with them),
 * OCKAM_EOVERFLOW / OCKAM_EUTF8 (a name or client_id over OCKAM_NAME_MAX bytes
 * or not UTF-8, a service name or rx_address over OCKAM_ADDRESS_MAX_LEN, a
 * route plus service over OCKAM_ROUTE_MAX_HOPS), OCKAM_ECLOSED (the node is
 * being destroyed), OCKAM_ENOMEM. */
OCKAM_MUST_CHECK int ockam_stream_connect(ockam_node *node, const ockam_route *route_to_hub,
                                          const char *outgoing, const char *incoming,
                                          const ockam_stream_options *opts, ockam_stream **out);

/* The producer's public address: send to [tx, "echoer"] to reach "echoer" on
 * the node consuming `outgoing`. Owned by s; valid until ockam_stream_close().
 * NULL for a client without producer. */
const char *ockam_stream_tx_address(const ockam_stream *s);
/* Where delivered messages with an empty inner onward route go (onward
 * [rx], return [0#tx, ...]). The client does not listen there: start a worker
 * or a mailbox at this address (before running the loop) to receive them;
 * otherwise they are dropped by the node with a log line. Owned by s. NULL
 * for a client without consumer. */
const char *ockam_stream_rx_address(const ockam_stream *s);

/* Who the consumer delivers to. Anyone who knows a stream's name can push
 * into it, so a stored message is delivered only when the first hop of its
 * onward route is a local address allowed for this stream: the node's secure
 * channel listeners and the remote ends of its secure channels (always),
 * rx, and the addresses added here. Every other message is dropped and
 * counted (stats.refused), so nothing pushed into the stream can make this
 * node dial out, reach a worker the application did not expose, or enter a
 * secure channel from the plaintext side. Applications that run plain
 * workers behind a stream (no channel) add them with this call: `address`
 * is one hop in route syntax, "echoer" or "0#echoer" for a local worker;
 * a relay may also list a TCP peer it chose ("1#host:port"). It is copied.
 * Errors: OCKAM_EINVAL (NULL, empty or more than one hop), the errors of
 * ockam_route_parse(), OCKAM_ENOMEM. */
OCKAM_MUST_CHECK int ockam_stream_allow(ockam_stream *s, const char *address);

/* Run the node's loop until both streams are initialised (the producer got
 * its Init, the consumer its Init and saved index) or timeout_ms passes
 * (< 0: no timeout). Not from a callback.
 * Errors: OCKAM_ETIMEDOUT, OCKAM_ECLOSED (the node is being destroyed), and
 * with a hub identity OCKAM_EUNTRUSTED / OCKAM_EPEERAUTH as soon as an
 * attempt to open the hub channel was refused (the client goes on trying). */
OCKAM_MUST_CHECK int ockam_stream_wait_ready(ockam_stream *s, int64_t timeout_ms);
/* Run the loop until every message sent to tx before this call (and not
 * dropped, see stats) is confirmed stored by the hub, or timeout_ms passes
 * (< 0: no timeout). Not from a callback.
 * Errors: OCKAM_ETIMEDOUT, OCKAM_ECLOSED, OCKAM_ENOMEM. */
OCKAM_MUST_CHECK int ockam_stream_flush(ockam_stream *s, int64_t timeout_ms);

/* Counters; safe at any time before ockam_stream_close(). */
void ockam_stream_get_stats(const ockam_stream *s, ockam_stream_stats *out);

/* Stop both workers and release s. Unconfirmed messages are discarded (call
 * ockam_stream_flush() first to avoid that); nothing more is sent. Call it
 * exactly once, before or after ockam_node_destroy() (destroying the node
 * stops the client, close then only frees it: "Handles" in ockam/node.h).
 * NULL is ignored. */
void ockam_stream_close(ockam_stream *s);

#ifdef __cplusplus
}
#endif
#endif
