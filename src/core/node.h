/* Node internals shared with transports. */
#ifndef OCKAMI_NODE_H
#define OCKAMI_NODE_H

#include <uv.h>

#include "message.h"
#include "ockam/node.h"

/* Messages queued for delivery but not yet delivered. Transports pause reading
 * from the network while this is above OCKAM_NODE_QUEUE_HIGH_WATER. */
size_t ockami_node_queue_len(const ockam_node *node);
uv_loop_t *ockami_node_uv(ockam_node *node);
/* Called (on the loop) once the delivery queue has drained below half the
 * high-water mark after having been above it. One callback per node. */
typedef void (*ockami_drain_cb)(void *arg);
void ockami_node_set_drain_cb(ockam_node *node, ockami_drain_cb cb, void *arg);
/* Replace a worker's user pointer (used to detach state freed before the
 * worker's deferred `stopped` callback runs). */
void ockami_worker_set_user(ockam_worker *w, void *user);
/* The running worker registered under a local address, or NULL. */
ockam_worker *ockami_node_find(ockam_node *node, const void *address, size_t len);
/* The ops table a worker was started with (to recognise one's own workers). */
const ockam_worker_ops *ockami_worker_ops(const ockam_worker *w);
/* Node-wide counters. */
typedef struct ockami_node_stats {
  uint64_t delivered;
  uint64_t undeliverable;
  uint64_t queued_max;
} ockami_node_stats;
void ockami_node_get_stats(const ockam_node *node, ockami_node_stats *out);

#endif
