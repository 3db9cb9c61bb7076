/* Nodes and workers (spec §3).
 *
 * A node is one single-threaded event loop (libuv) plus a router. Workers are
 * callbacks registered under one or more local (type 0) addresses. Sending
 * never calls a worker from inside the send: messages are queued and
 * delivered by the loop, in order per sender.
 *
 * Routing follows the 2021 rules: the router looks only at the first onward
 * hop and never pops it; a worker that forwards a message pops itself. Hops of
 * another type (1 = TCP) go to the worker registered as the router for that
 * type (the TCP transport). Undeliverable messages are logged and dropped.
 *
 * Threading: every function here must be called on the node's loop thread
 * (inside a worker or timer callback, or from main() between blocking calls),
 * except ockam_node_post(), which any thread may call.
 *
 * Handles. Every object the user creates on a node follows one rule:
 *
 *   mailbox           ockam_mailbox_create()          ockam_mailbox_destroy()
 *   TCP transport     ockam_tcp_create()              ockam_tcp_close()
 *   forwarder         ockam_forwarder_register()      ockam_forwarder_close()
 *   channel listener  ockam_channel_listener_create() ockam_channel_listener_close()
 *   identity channel listener  ockam_identity_channel_listener_create()
 *                     ockam_identity_channel_listener_close()
 *   stream client     ockam_stream_connect()          ockam_stream_close()
 *   hub               ockam_hub_start()               ockam_hub_stop()
 *
 * Each handle is released by exactly one call of its close function, made
 * either while the node lives or after ockam_node_destroy(). Closing while
 * the node lives stops the handle's workers, sockets and timers at once.
 * Destroying the node stops every handle still open and frees everything it
 * holds on the node; the handle itself stays valid until its close, which
 * then only frees it. Between the two, calls that need the node return
 * OCKAM_ECLOSED (a mailbox still hands out the messages it had queued), and
 * getters return what they last knew. Passing a handle after its close, or
 * closing it twice, is a use-after-free. NULL is ignored by every close.
 *
 * Workers and timers are lower-level: the loop owns them, they are freed
 * after their `stopped` callback or their last firing (see below), and they
 * are gone with their node.
 */
#ifndef OCKAM_NODE_H
#define OCKAM_NODE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ockam/error.h"
#include "ockam/message.h"
#include "ockam/route.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct ockam_node ockam_node;
typedef struct ockam_worker ockam_worker;
typedef struct ockam_timer ockam_timer;
typedef struct ockam_mailbox ockam_mailbox;

/* Create a node with its own event loop. Caller frees with ockam_node_destroy(). */
OCKAM_MUST_CHECK int ockam_node_create(ockam_node **out);
/* Stop every handle still open (see "Handles" above) and every worker (their
 * `stopped` callbacks run), close transports, run the loop until every libuv
 * handle is closed, free. NULL is ignored. */
void ockam_node_destroy(ockam_node *node);
/* Run the loop until ockam_node_stop(). Returns at once when the node was
 * already stopped. Errors: OCKAM_ESTATE (called from a callback of this node). */
OCKAM_MUST_CHECK int ockam_node_run(ockam_node *node);
/* Run the loop until done(arg) returns true or timeout_ms passes (< 0: no
 * timeout); done may be NULL (run for the time, then return 0). The deadline
 * is measured from the call and kept within a few milliseconds whatever else
 * the loop waits for. Every blocking call of the library (mailbox receive,
 * TCP connect, channel create, stream wait/flush, forwarder register) is built
 * on it and returns the same errors:
 *   OCKAM_ETIMEDOUT  timeout_ms passed before done(arg);
 *   OCKAM_ECLOSED    the node was stopped (ockam_node_stop, or a signal after
 *                    ockam_node_stop_on_signals), before or during the wait,
 *                    or nothing is left on the loop that could end the wait;
 *   OCKAM_ESTATE     called from inside a worker, timer or posted callback of
 *                    this node: the loop is never entered recursively. */
OCKAM_MUST_CHECK int ockam_node_run_until(ockam_node *node, int64_t timeout_ms,
                                          bool (*done)(void *arg), void *arg);
/* Make SIGINT and SIGTERM stop the node (as ockam_node_stop), so main() can
 * clean up. Handlers are removed with the node. */
OCKAM_MUST_CHECK int ockam_node_stop_on_signals(ockam_node *node);
/* Stop the node: ockam_node_run() returns after the current callback, and the
 * blocking call in progress, if any, and every later one return OCKAM_ECLOSED.
 * A stopped node stays stopped; what is left to do is ockam_node_destroy().
 * Loop thread only (from another thread, ockam_node_post a function that calls
 * it). */
void ockam_node_stop(ockam_node *node);
/* true once ockam_node_stop() ran (directly or for a signal). */
bool ockam_node_is_stopped(const ockam_node *node);
/* The node's libuv loop (a uv_loop_t *), for embedding in other loops' code. */
void *ockam_node_loop(ockam_node *node);
/* Run fn(arg) on the loop thread soon. Thread-safe. */
OCKAM_MUST_CHECK int ockam_node_post(ockam_node *node, void (*fn)(void *arg), void *arg);
/* Milliseconds on the loop's monotonic clock. */
uint64_t ockam_node_now_ms(ockam_node *node);

/* Worker callbacks. Both run on the loop thread. */
typedef struct ockam_worker_ops {
  /* One delivered message. msg is owned by the runtime and freed after the
   * callback returns, unless the worker handed it on with ockam_forward() or
   * kept it with ockam_message_keep(). A non-zero return is logged. */
  int (*handle)(ockam_worker *w, ockam_message *msg);
  /* The worker stopped (ockam_worker_stop or node destroy); release user state.
   * Runs once, after any handle() in progress returned. May be NULL. */
  void (*stopped)(ockam_worker *w);
} ockam_worker_ops;

/* Start a worker under n local addresses (NUL-terminated strings; NULL or ""
 * entries get a fresh random 32-hex-character address). ops must outlive the
 * worker. *out (optional) is valid until the `stopped` callback returns.
 * Errors: OCKAM_EEXIST (an address is taken), OCKAM_EOVERFLOW, OCKAM_ENOMEM. */
OCKAM_MUST_CHECK int ockam_worker_start(ockam_node *node, const char *const *addresses, size_t n,
                                        const ockam_worker_ops *ops, void *user,
                                        ockam_worker **out);
/* Accept messages only from these peers: after this call the runtime delivers
 * to w only messages that an identity channel of this node authenticated as
 * coming from one of the n identifiers (64 hex characters; a display prefix
 * "P" or "P_ID." is accepted and ignored), and drops (and logs) every other
 * message, local ones included. The strings are copied; n = 0 lifts the
 * restriction. Errors: OCKAM_EINVAL (malformed identifier), OCKAM_ENOMEM. */
OCKAM_MUST_CHECK int ockam_worker_allow_identifiers(ockam_worker *w, const char *const *ids,
                                                    size_t n);
/* Delivery rules a worker may ask the runtime to enforce (flags). */
enum {
  /* Accept only messages that a secure channel of this node decrypted; every
   * other message (local, from a transport or a stream) is dropped and
   * logged. For workers that must be reachable only through a channel. */
  OCKAM_WORKER_CHANNEL_ONLY = 1u << 0
};
/* Replace w's delivery flags. Errors: OCKAM_EINVAL (unknown flag). */
OCKAM_MUST_CHECK int ockam_worker_set_flags(ockam_worker *w, uint32_t flags);
/* Register one more local address for a running worker. */
OCKAM_MUST_CHECK int ockam_worker_add_address(ockam_worker *w, const char *address);
/* Stop a worker: its addresses are released at once; `stopped` runs from the
 * loop later (so a worker may stop itself inside handle()). */
void ockam_worker_stop(ockam_worker *w);
/* The primary (first) address, NUL-terminated, owned by the worker. */
const char *ockam_worker_address(const ockam_worker *w);
void *ockam_worker_user(const ockam_worker *w);
ockam_node *ockam_worker_node(const ockam_worker *w);

/* Route a message for a non-local address type (e.g. 1 = TCP) to worker w. */
OCKAM_MUST_CHECK int ockam_node_set_type_router(ockam_node *node, uint8_t type, ockam_worker *w);

/* Send payload to route with return route [0#from] (spec §3 `send`). The payload
 * is copied. Errors: OCKAM_EINVAL (empty route), OCKAM_ENOMEM. */
OCKAM_MUST_CHECK int ockam_send(ockam_node *node, const char *from, const ockam_route *route,
                                const uint8_t *payload, size_t len);
/* Send the NUL-terminated string s as the payload, encoded as a BARE string
 * (spec §1.4), along route with return route [0#from]: ockam_send() without
 * building the payload by hand. s is copied.
 * Errors: OCKAM_EINVAL (a NULL argument, empty route), OCKAM_EOVERFLOW (the
 * encoded string is over OCKAM_PAYLOAD_MAX bytes), OCKAM_ECLOSED,
 * OCKAM_ENOMEM. */
OCKAM_MUST_CHECK int ockam_send_string(ockam_node *node, const char *from, const ockam_route *route,
                                       const char *s);
/* Queue a fully built message for routing by its onward route. Takes
 * ownership of msg on success only. */
OCKAM_MUST_CHECK int ockam_send_message(ockam_node *node, ockam_message *msg);
/* Hand the message being handled on to its (possibly edited) onward route.
 * Takes ownership on success: the runtime will not free it after handle(). */
OCKAM_MUST_CHECK int ockam_forward(ockam_node *node, ockam_message *msg);
/* Keep the message being handled: the caller now owns it (frees it later). */
void ockam_message_keep(ockam_message *msg);

/* One-shot or repeating timer on the loop. cb runs on the loop thread.
 * ockam_timer_stop() cancels and frees it (safe inside its own callback).
 * A one-shot timer frees itself after its callback unless stopped before. */
typedef void (*ockam_timer_cb)(void *arg);
OCKAM_MUST_CHECK int ockam_timer_start(ockam_node *node, uint64_t delay_ms, uint64_t repeat_ms,
                                       ockam_timer_cb cb, void *arg, ockam_timer **out);
void ockam_timer_stop(ockam_timer *t);

/* Blocking API for main(): a worker whose messages queue up until received.
 * (The guide's `ctx.receive()` on `app`.) */
OCKAM_MUST_CHECK int ockam_mailbox_create(ockam_node *node, const char *address,
                                          ockam_mailbox **out);
/* Run the loop until a message arrives or timeout_ms passes (< 0: forever).
 * Caller owns *out. Errors: OCKAM_ETIMEDOUT, OCKAM_ECLOSED (the node was
 * destroyed and nothing is queued). */
OCKAM_MUST_CHECK int ockam_mailbox_receive(ockam_mailbox *mb, int64_t timeout_ms,
                                           ockam_message **out);
/* ockam_mailbox_receive() for a message whose payload is a BARE string:
 * copy the string into the caller's buffer (cap bytes), NUL-terminated, and
 * its length without the NUL into *len (optional). A string may hold NUL
 * bytes; *len counts them.
 * Errors: those of ockam_mailbox_receive();
 *   OCKAM_ETOOSMALL  the string needs more than cap - 1 bytes: the message
 *                    stays queued (the next receive gets it) and *len is the
 *                    length needed, without the NUL;
 *   OCKAM_ETRUNC, OCKAM_EOVERFLOW, OCKAM_EUTF8, OCKAM_ETRAILING  the payload
 *                    is not exactly one BARE string: the message is taken
 *                    and freed. */
OCKAM_MUST_CHECK int ockam_mailbox_receive_string(ockam_mailbox *mb, int64_t timeout_ms, char *buf,
                                                  size_t cap, size_t *len);
/* The mailbox's local address; "" once its node is destroyed. */
const char *ockam_mailbox_address(const ockam_mailbox *mb);
/* ockam_worker_allow_identifiers() for the mailbox's worker. */
OCKAM_MUST_CHECK int ockam_mailbox_allow_identifiers(ockam_mailbox *mb, const char *const *ids,
                                                     size_t n);
/* Stop the mailbox's worker, free queued messages and the mailbox; before or
 * after the node's destruction (see "Handles"). */
void ockam_mailbox_destroy(ockam_mailbox *mb);

/* Connection events. Transports tell the node when a connection to a peer is
 * lost and when it is (back) up; any part of the program may subscribe, so
 * that failures are acted on when they happen rather than found by timeouts.
 * The TCP transport reports:
 *   outgoing connections: peer 1#host:port (as in routes); UP on every
 *     successful connect (first one and each reconnect), DOWN when an open
 *     connection is lost (reset, closed by the peer, bad frame, or silent
 *     for too long, see tcp.h);
 *   accepted connections: peer 0#<the connection's local address> (the hop
 *     prepended to the return routes of what arrives on it); UP when
 *     accepted, DOWN when gone. */
typedef enum ockam_conn_event_kind { OCKAM_CONN_UP = 1, OCKAM_CONN_DOWN = 2 } ockam_conn_event_kind;
typedef struct ockam_conn_event {
  ockam_conn_event_kind kind;
  ockam_address peer; /* borrowed: valid during the callback only */
  bool outgoing;      /* we dialled (and will redial) this peer */
  int error;          /* DOWN: why (an OCKAM_E* code); UP: 0 */
} ockam_conn_event;
/* Runs on the loop thread, inside the transport's I/O callback: it may send
 * messages, start and stop timers and workers, and cancel subscriptions
 * (its own included), but not destroy the node or make blocking calls. */
typedef void (*ockam_conn_event_cb)(void *arg, const ockam_conn_event *ev);
typedef struct ockam_conn_sub ockam_conn_sub;
/* Subscribe cb(arg, event) to every connection event of the node. *out
 * (optional) identifies the subscription for ockam_conn_sub_cancel();
 * subscriptions still active are freed with the node.
 * Errors: OCKAM_EINVAL, OCKAM_ENOMEM, OCKAM_ECLOSED (node stopping). */
OCKAM_MUST_CHECK int ockam_node_subscribe_conn_events(ockam_node *node, ockam_conn_event_cb cb,
                                                      void *arg, ockam_conn_sub **out);
/* End a subscription: cb is not called again. NULL is ignored. Must be
 * called before the node is destroyed (or not at all). */
void ockam_conn_sub_cancel(ockam_conn_sub *sub);
/* For transports: report ev to every subscriber, in subscription order. */
void ockam_node_publish_conn_event(ockam_node *node, const ockam_conn_event *ev);

/* Fresh random local address: 32 lowercase hex characters + NUL. */
void ockam_random_address(char out[static 33]);

#ifdef __cplusplus
}
#endif
#endif
