/* Connection events: transports publish, workers subscribe. */
#include <stdlib.h>

#include "node_private.h"

int ockam_node_subscribe_conn_events(ockam_node *node, ockam_conn_event_cb cb, void *arg,
                                     ockam_conn_sub **out) {
  if (!node || !cb) return OCKAM_EINVAL;
  if (node->state != NODE_ACTIVE) return OCKAM_ECLOSED;
  ockam_conn_sub *sub = calloc(1, sizeof *sub);
  if (!sub) return OCKAM_ENOMEM;
  sub->node = node;
  sub->cb = cb;
  sub->arg = arg;
  if (node->subs_tail)
    node->subs_tail->next = sub;
  else
    node->subs = sub;
  node->subs_tail = sub;
  if (out) *out = sub;
  return OCKAM_OK;
}

void ockami_node_subs_sweep(ockam_node *node, bool all) {
  ockam_conn_sub **pp = &node->subs;
  node->subs_tail = NULL;
  while (*pp) {
    ockam_conn_sub *sub = *pp;
    if (all || sub->cancelled) {
      *pp = sub->next;
      free(sub);
    } else {
      node->subs_tail = sub;
      pp = &sub->next;
    }
  }
}

void ockam_conn_sub_cancel(ockam_conn_sub *sub) {
  if (!sub || sub->cancelled) return;
  sub->cancelled = true;
  if (!sub->node->publishing) ockami_node_subs_sweep(sub->node, false);
}

void ockam_node_publish_conn_event(ockam_node *node, const ockam_conn_event *ev) {
  if (!node || !ev || node->state != NODE_ACTIVE) return;
  node->publishing++;
  /* Subscriptions added by a callback are not called for this event. */
  ockam_conn_sub *last = node->subs_tail;
  for (ockam_conn_sub *sub = node->subs; sub; sub = sub->next) {
    if (!sub->cancelled) sub->cb(sub->arg, ev);
    if (sub == last) break;
  }
  if (--node->publishing == 0) ockami_node_subs_sweep(node, false);
}
