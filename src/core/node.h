/* Node internals shared with transports. */
#ifndef OCKAMI_NODE_H
#define OCKAMI_NODE_H

#include <uv.h>

#include "message.h"
#include "ockam/node.h"

/* Messages queued for delivery but not yet delivered. Transports pause reading
 * from the network while this is above OCKAM_NODE_QUEUE_HIGH_WATER. */
size_t ockami_node_queue_len(const ockam_node *node);
/* Payload bytes of the messages waiting for delivery. */
size_t ockami_node_queue_bytes(const ockam_node *node);
uv_loop_t *ockami_node_uv(ockam_node *node);
/* Called (on the loop) once the delivery queue has drained below half the
 * high-water mark after having been above it. One callback per node. */
typedef void (*ockami_drain_cb)(void *arg);
void ockami_node_set_drain_cb(ockam_node *node, ockami_drain_cb cb, void *arg);
/* Replace a worker's user pointer (used to detach state freed before the
 * worker's deferred `stopped` callback runs). */
void ockami_worker_set_user(ockam_worker *w, void *user);
/* Run the loop like ockam_mailbox_receive() until mb holds a message, and
 * point *out at the oldest one without taking it (it stays owned by mb and
 * is the next one received). Same errors as ockam_mailbox_receive(). */
OCKAM_MUST_CHECK int ockami_mailbox_peek(ockam_mailbox *mb, int64_t timeout_ms,
                                         const ockam_message **out);
/* The running worker registered under a local address, or NULL. */
ockam_worker *ockami_node_find(ockam_node *node, const void *address, size_t len);
/* The ops table a worker was started with (to recognise one's own workers). */
const ockam_worker_ops *ockami_worker_ops(const ockam_worker *w);
/* Output barrier. A transport that buffers outgoing bytes registers a probe;
 * a worker takes a mark of what is queued now and later asks whether all of
 * it has been handed to the kernel. The stream consumer saves its read
 * position only then, so a crash right after the save cannot lose messages
 * that were still waiting in a send buffer. */
#define OCKAMI_FLUSH_MARK_MAX 8
typedef struct ockami_flush_mark {
  size_t n;
  bool all; /* more busy connections than fit: wait until every one is idle */
  uint64_t id[OCKAMI_FLUSH_MARK_MAX];
  uint64_t target[OCKAMI_FLUSH_MARK_MAX];
} ockami_flush_mark;
typedef struct ockami_flush_probe {
  void (*mark)(void *ctx, ockami_flush_mark *out);
  void (*narrow)(void *ctx, ockami_flush_mark *m);
  bool (*reached)(void *ctx, const ockami_flush_mark *m);
  void *ctx;
} ockami_flush_probe;
/* Register (or with NULL, remove) the node's probe; the probe is copied. */
void ockami_node_set_flush_probe(ockam_node *node, const ockami_flush_probe *probe);
/* Two steps: take a mark before handing messages on (it records how much
 * every connection had queued), then narrow it afterwards to the connections
 * that were given bytes in between, with what they hold now as the target.
 * Connections nobody wrote to (e.g. one stuck reconnecting to a dead peer)
 * are not waited for. */
void ockami_node_flush_mark(ockam_node *node, ockami_flush_mark *out);
void ockami_node_flush_narrow(ockam_node *node, ockami_flush_mark *m);
bool ockami_node_flush_reached(ockam_node *node, const ockami_flush_mark *m);
/* A hook run at the start of ockam_node_destroy(), before any worker stops,
 * for handles made of several parts (the hub) that must stop them in order
 * while the node still works. The hook is unregistered before fn runs; a
 * handle closed earlier removes its hook itself. h is owned by the caller. */
typedef struct ockami_node_hook {
  void (*fn)(struct ockami_node_hook *h);
  struct ockami_node_hook *prev, *next;
} ockami_node_hook;
void ockami_node_hook_add(ockam_node *node, ockami_node_hook *h);
void ockami_node_hook_remove(ockam_node *node, ockami_node_hook *h);
/* A hook run at the end of ockam_node_destroy(), once every worker has
 * stopped: for what workers may still use until then (a vault whose keys
 * the channels hold). It cannot be removed; fn may free h. */
void ockami_node_hook_add_late(ockam_node *node, ockami_node_hook *h);
/* Direct output: the fast path of the secure channel and of
 * ockami_send_direct (codec/direct_send.h). A transport that frames
 * messages itself (TCP) registers one per node; a sender whose route starts
 * with one of its connections then appends a frame straight into that
 * connection's output buffer, without a message and a dispatch. The frame is
 * byte for byte what the transport would have framed for the message. */
typedef struct ockami_direct_output {
  /* The output `onward` leads to, if it is a connection that takes frames
   * now; *skip receives the number of leading hops the transport consumes
   * (the frame's onward route is the rest). NULL: use a message. */
  void *(*find)(void *ctx, const ockam_route *onward, uint32_t *skip);
  /* Room for a frame whose body (after the u16 length) is len bytes: a
   * pointer to where the body goes, or NULL when the output does not take
   * it now (queue full, budget, closed...: send a message instead, which is
   * counted and dropped the usual way). Nothing is queued until commit. */
  uint8_t *(*reserve)(void *ctx, void *out, size_t len);
  /* Queue the frame whose body was written at the reserved place. */
  void (*commit)(void *ctx, void *out, size_t len);
  void *ctx;
} ockami_direct_output;
/* Register (or with NULL, remove) the node's direct output; copied. */
void ockami_node_set_direct(ockam_node *node, const ockami_direct_output *d);
/* The registered direct output, or NULL. */
const ockami_direct_output *ockami_node_direct(const ockam_node *node);
/* Changes whenever an output found before may have gone: a sender may keep
 * what find() returned while this stays the same. */
uint64_t ockami_node_direct_epoch(const ockam_node *node);
void ockami_node_direct_bump(ockam_node *node);
/* Make the loop's next poll return at once (as a queued message does): for
 * work started from a prepare callback, which would otherwise wait for the
 * poll to end before any prepare handle started now runs. */
void ockami_node_wake(ockam_node *node);
/* A call the node makes from its dispatch loop: after the handler running
 * now (if any) returns and before the next message is delivered, or in the
 * loop's next dispatch pass when deferred from outside one. For completions
 * produced on the loop thread that must not run inside the call that
 * produced them (a store's inline append): they run in the same loop turn,
 * and what they send goes out in the same write as the rest of the pass.
 * The owner keeps d alive while it is queued; deferring a queued d does
 * nothing; undefer takes it off the queue. Loop thread only. */
typedef struct ockami_deferred {
  void (*fn)(void *arg);
  void *arg;
  struct ockami_deferred *next;
  bool queued;
} ockami_deferred;
void ockami_node_defer(ockam_node *node, ockami_deferred *d);
void ockami_node_undefer(ockam_node *node, ockami_deferred *d);
/* Messages ever queued for delivery / taken from the queue (FIFO): a message
 * sent when the first count was n has been delivered once the second is >= n. */
uint64_t ockami_node_enqueued(const ockam_node *node);
uint64_t ockami_node_dequeued(const ockam_node *node);
/* Node-wide counters. */
typedef struct ockami_node_stats {
  uint64_t delivered;
  uint64_t undeliverable;
  uint64_t queued_max;
} ockami_node_stats;
void ockami_node_get_stats(const ockam_node *node, ockami_node_stats *out);

#endif
