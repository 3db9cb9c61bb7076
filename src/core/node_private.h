/* The node's private structures, shared by node.c, timer.c and
 * conn_events.c only. */
#ifndef OCKAMI_NODE_PRIVATE_H
#define OCKAMI_NODE_PRIVATE_H

#include <pthread.h>
#include <stdbool.h>

#include "map.h"
#include "node.h"
#include "ockam/limits.h"

typedef enum worker_state { WORKER_RUNNING, WORKER_STOPPING, WORKER_STOPPED } worker_state;

struct ockam_worker {
  ockam_node *node;
  const ockam_worker_ops *ops;
  void *user;
  char *addresses[OCKAM_WORKER_MAX_ADDRESSES];
  size_t naddr;
  worker_state state;
  char (*allowed)[OCKAMI_IDENTIFIER_LEN + 1]; /* peers it accepts messages from, if nallowed */
  size_t nallowed;
  uint32_t flags;                    /* OCKAM_WORKER_* delivery rules */
  struct ockam_worker *prev, *next;  /* node->workers list */
  struct ockam_worker *next_stopped; /* node->stopped list */
};

struct ockam_timer {
  uv_timer_t handle;
  ockam_node *node;
  ockam_timer_cb cb;
  void *arg;
  bool repeating;
  bool closing;
  bool in_cb;
  struct ockam_timer *prev, *next;
};

typedef struct post_item {
  void (*fn)(void *);
  void *arg;
  struct post_item *next;
} post_item;

typedef enum node_state { NODE_ACTIVE, NODE_DESTROYING } node_state;

struct ockam_node {
  uv_loop_t loop;
  /* The delivery queue is drained from two handles: `idle` at the start of an
   * iteration (and it keeps the poll from sleeping while messages wait), and
   * `check` right after the poll, so that what a read queued is delivered in
   * the same iteration and its answers are written in the next one's prepare
   * phase, without a poll in between. Both run while dispatch_active. */
  uv_idle_t idle;
  uv_check_t check;
  uv_async_t async;
  node_state state;
  ockami_map addresses; /* local address -> worker */
  ockam_worker *type_router[128];
  ockam_message *qhead, *qtail;
  size_t qlen;
  size_t qbytes; /* payload bytes of the queued messages */
  bool dispatch_active;
  ockami_deferred *dhead, *dtail; /* ockami_node_defer: run before the next message */
  bool above_high_water;
  ockami_drain_cb drain_cb;
  void *drain_arg;
  ockam_worker *workers;
  ockam_worker *stopped, *stopped_tail; /* FIFO: reaped in stop order */
  ockam_timer *timers;
  pthread_mutex_t post_lock;
  post_item *posts;
  ockami_node_stats stats;
  ockami_flush_probe flush_probe;
  bool has_flush_probe;
  ockami_direct_output direct;
  bool has_direct;
  uint64_t direct_epoch;
  uint64_t enqueued, dequeued; /* messages ever queued / taken from the queue */
  /* Set by ockam_node_stop (and the signal handlers); never cleared: a stopped
   * node only waits to be destroyed, so every blocking call returns ECLOSED. */
  bool stop_requested;
  /* uv_run frames active on this node. Every callback runs inside one, so a
   * blocking call made while it is non-zero would nest the loop. */
  int run_depth;
  ockam_conn_sub *subs, *subs_tail;
  int publishing;          /* nested publish calls; cancelled subs are freed at 0 */
  ockami_node_hook *hooks; /* run first by ockam_node_destroy() */
  ockami_node_hook *late;  /* run once every worker has stopped */
  /* Addresses of the workers stopped most recently (a ring, oldest
   * overwritten). A message to one of them is routine, e.g. a reply to a
   * client that disconnected, and is logged at DEBUG instead of WARN. */
  char *gone[OCKAM_NODE_GONE_ADDRESSES];
  size_t gone_next;
};

struct ockam_conn_sub {
  ockam_node *node;
  ockam_conn_event_cb cb;
  void *arg;
  bool cancelled;
  ockam_conn_sub *next;
};

/* Stop and close every timer of the node (ockam_node_destroy). */
void ockami_node_timers_close(ockam_node *node);
/* Free cancelled subscriptions (all of them with `all`); only while no
 * publish walks the list. */
void ockami_node_subs_sweep(ockam_node *node, bool all);

#endif
