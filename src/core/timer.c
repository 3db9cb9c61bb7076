/* Node timers: libuv timers owned by the node, closed with it. */
#include <stdlib.h>

#include "node_private.h"

static void timer_close_cb(uv_handle_t *h) {
  ockam_timer *t = h->data;
  free(t);
}

static void timer_unlink_close(ockam_timer *t) {
  if (t->closing) return;
  t->closing = true;
  if (t->prev)
    t->prev->next = t->next;
  else
    t->node->timers = t->next;
  if (t->next) t->next->prev = t->prev;
  uv_timer_stop(&t->handle);
  uv_close((uv_handle_t *)&t->handle, timer_close_cb);
}

static void timer_cb(uv_timer_t *h) {
  ockam_timer *t = h->data;
  t->in_cb = true;
  t->cb(t->arg);
  t->in_cb = false;
  if (!t->repeating) timer_unlink_close(t);
}

int ockam_timer_start(ockam_node *node, uint64_t delay_ms, uint64_t repeat_ms, ockam_timer_cb cb,
                      void *arg, ockam_timer **out) {
  if (!node || !cb) return OCKAM_EINVAL;
  if (node->state != NODE_ACTIVE) return OCKAM_ECLOSED;
  ockam_timer *t = calloc(1, sizeof *t);
  if (!t) return OCKAM_ENOMEM;
  t->node = node;
  t->cb = cb;
  t->arg = arg;
  t->repeating = repeat_ms > 0;
  uv_timer_init(&node->loop, &t->handle);
  t->handle.data = t;
  t->next = node->timers;
  if (node->timers) node->timers->prev = t;
  node->timers = t;
  uv_timer_start(&t->handle, timer_cb, delay_ms, repeat_ms);
  if (out) *out = t;
  return OCKAM_OK;
}

void ockam_timer_stop(ockam_timer *t) {
  if (t) timer_unlink_close(t);
}

void ockami_node_timers_close(ockam_node *node) {
  while (node->timers) timer_unlink_close(node->timers);
}
