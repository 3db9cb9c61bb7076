/* The node: one libuv loop, a router and its workers (timers: timer.c,
 * connection events: conn_events.c, mailboxes: mailbox.c). */
#include <pthread.h>
#include <signal.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "map.h"
#include "node_private.h"
#include "ockam/limits.h"

#define MOD "node"
/* Deliveries per loop iteration before I/O gets a turn. */
#define DISPATCH_BATCH 1024

static void dispatch_idle_cb(uv_idle_t *h);
static void dispatch_check_cb(uv_check_t *h);
static void reap_stopped(ockam_node *node);
static bool recently_gone(const ockam_node *node, const ockam_message *m);

void ockam_random_address(char out[static 33]) {
  uint8_t raw[16];
  randombytes_buf(raw, sizeof raw);
  static const char hex[] = "0123456789abcdef";
  for (int i = 0; i < 16; i++) {
    out[2 * i] = hex[raw[i] >> 4];
    out[2 * i + 1] = hex[raw[i] & 15];
  }
  out[32] = '\0';
}

static void async_cb(uv_async_t *h) {
  ockam_node *node = h->data;
  pthread_mutex_lock(&node->post_lock);
  post_item *list = node->posts;
  node->posts = NULL;
  pthread_mutex_unlock(&node->post_lock);
  /* The list was pushed LIFO; run in FIFO order. */
  post_item *rev = NULL;
  while (list) {
    post_item *n = list->next;
    list->next = rev;
    rev = list;
    list = n;
  }
  while (rev) {
    post_item *n = rev->next;
    rev->fn(rev->arg);
    free(rev);
    rev = n;
  }
}

int ockam_node_create(ockam_node **out) {
  if (!out) return OCKAM_EINVAL;
  if (sodium_init() < 0) return OCKAM_EIO;
  ockam_node *node = calloc(1, sizeof *node);
  if (!node) return OCKAM_ENOMEM;
  if (uv_loop_init(&node->loop) != 0) {
    free(node);
    return OCKAM_EIO;
  }
  uv_idle_init(&node->loop, &node->idle);
  node->idle.data = node;
  uv_check_init(&node->loop, &node->check);
  node->check.data = node;
  uv_async_init(&node->loop, &node->async, async_cb);
  node->async.data = node;
  uv_unref((uv_handle_t *)&node->async); /* posting alone does not keep the loop alive */
  pthread_mutex_init(&node->post_lock, NULL);
  ockami_map_init(&node->addresses);
  *out = node;
  return OCKAM_OK;
}

uv_loop_t *ockami_node_uv(ockam_node *node) {
  return &node->loop;
}
void *ockam_node_loop(ockam_node *node) {
  return &node->loop;
}
size_t ockami_node_queue_len(const ockam_node *node) {
  return node->qlen;
}

size_t ockami_node_queue_bytes(const ockam_node *node) {
  return node->qbytes;
}
uint64_t ockam_node_now_ms(ockam_node *node) {
  return uv_now(&node->loop);
}

void ockami_node_set_drain_cb(ockam_node *node, ockami_drain_cb cb, void *arg) {
  node->drain_cb = cb;
  node->drain_arg = arg;
}

void ockami_node_get_stats(const ockam_node *node, ockami_node_stats *out) {
  *out = node->stats;
}

void ockami_node_set_flush_probe(ockam_node *node, const ockami_flush_probe *probe) {
  node->has_flush_probe = probe != NULL;
  if (probe) node->flush_probe = *probe;
}

void ockami_node_set_direct(ockam_node *node, const ockami_direct_output *d) {
  node->has_direct = d != NULL;
  if (d) node->direct = *d;
  node->direct_epoch++;
}

const ockami_direct_output *ockami_node_direct(const ockam_node *node) {
  return node->has_direct ? &node->direct : NULL;
}

uint64_t ockami_node_direct_epoch(const ockam_node *node) {
  return node->direct_epoch;
}

void ockami_node_direct_bump(ockam_node *node) {
  node->direct_epoch++;
}

static void dispatch_start(ockam_node *node) {
  if (!node->dispatch_active && node->state == NODE_ACTIVE) {
    uv_idle_start(&node->idle, dispatch_idle_cb);
    uv_check_start(&node->check, dispatch_check_cb);
    node->dispatch_active = true;
  }
}

static void dispatch_stop(ockam_node *node) {
  uv_idle_stop(&node->idle);
  uv_check_stop(&node->check);
  node->dispatch_active = false;
}

void ockami_node_wake(ockam_node *node) {
  dispatch_start(node);
}

void ockami_node_defer(ockam_node *node, ockami_deferred *d) {
  if (d->queued) return;
  d->queued = true;
  d->next = NULL;
  if (node->dtail)
    node->dtail->next = d;
  else
    node->dhead = d;
  node->dtail = d;
  dispatch_start(node);
}

void ockami_node_undefer(ockam_node *node, ockami_deferred *d) {
  if (!d->queued) return;
  ockami_deferred **pp = &node->dhead, *prev = NULL;
  while (*pp && *pp != d) {
    prev = *pp;
    pp = &(*pp)->next;
  }
  if (*pp) {
    *pp = d->next;
    if (node->dtail == d) node->dtail = prev;
  }
  d->queued = false;
  d->next = NULL;
}

/* Runs the calls deferred so far (not those they defer in turn). */
static void run_deferred(ockam_node *node) {
  ockami_deferred *list = node->dhead;
  node->dhead = node->dtail = NULL;
  while (list) {
    ockami_deferred *d = list;
    list = d->next;
    d->next = NULL;
    d->queued = false;
    d->fn(d->arg);
  }
}

uint64_t ockami_node_enqueued(const ockam_node *node) {
  return node->enqueued;
}

uint64_t ockami_node_dequeued(const ockam_node *node) {
  return node->dequeued;
}

void ockami_node_flush_mark(ockam_node *node, ockami_flush_mark *out) {
  memset(out, 0, sizeof *out);
  if (node->has_flush_probe) node->flush_probe.mark(node->flush_probe.ctx, out);
}

void ockami_node_flush_narrow(ockam_node *node, ockami_flush_mark *m) {
  if (node->has_flush_probe) node->flush_probe.narrow(node->flush_probe.ctx, m);
}

bool ockami_node_flush_reached(ockam_node *node, const ockami_flush_mark *m) {
  if (!node->has_flush_probe || (m->n == 0 && !m->all)) return true;
  return node->flush_probe.reached(node->flush_probe.ctx, m);
}

void ockami_node_hook_add(ockam_node *node, ockami_node_hook *h) {
  h->prev = NULL;
  h->next = node->hooks;
  if (node->hooks) node->hooks->prev = h;
  node->hooks = h;
}

void ockami_node_hook_add_late(ockam_node *node, ockami_node_hook *h) {
  h->prev = NULL;
  h->next = node->late;
  node->late = h;
}

void ockami_node_hook_remove(ockam_node *node, ockami_node_hook *h) {
  if (h->prev)
    h->prev->next = h->next;
  else if (node->hooks == h)
    node->hooks = h->next;
  else
    return; /* not registered (already run) */
  if (h->next) h->next->prev = h->prev;
  h->prev = h->next = NULL;
}

int ockam_node_post(ockam_node *node, void (*fn)(void *), void *arg) {
  if (!node || !fn) return OCKAM_EINVAL;
  post_item *p = malloc(sizeof *p);
  if (!p) return OCKAM_ENOMEM;
  p->fn = fn;
  p->arg = arg;
  pthread_mutex_lock(&node->post_lock);
  p->next = node->posts;
  node->posts = p;
  pthread_mutex_unlock(&node->post_lock);
  uv_async_send(&node->async);
  return OCKAM_OK;
}

/* ---- delivery queue ---------------------------------------------------- */

static void enqueue(ockam_node *node, ockam_message *m) {
  m->next = NULL;
  if (node->qtail)
    node->qtail->next = m;
  else
    node->qhead = m;
  node->qtail = m;
  node->qlen++;
  node->enqueued++;
  node->qbytes += m->payload.len;
  if (node->qlen > node->stats.queued_max) node->stats.queued_max = node->qlen;
  if (node->qlen > OCKAM_NODE_QUEUE_HIGH_WATER) node->above_high_water = true;
  dispatch_start(node);
}

static ockam_message *dequeue(ockam_node *node) {
  ockam_message *m = node->qhead;
  if (!m) return NULL;
  node->qhead = m->next;
  if (!node->qhead) node->qtail = NULL;
  m->next = NULL;
  node->qlen--;
  node->dequeued++;
  node->qbytes -= m->payload.len < node->qbytes ? m->payload.len : node->qbytes;
  return m;
}

static void log_drop(const char *why, const ockam_message *m) {
  char on[256], ret[256];
  ockam_route_format(&m->onward, on, sizeof on);
  ockam_route_format(&m->ret, ret, sizeof ret);
  LOG_WARN(MOD, "dropping message: %s (onward %s, return %s)", why, on, ret);
}

static void log_drop_debug(const char *why, const ockam_message *m) {
  if ((int)OCKAM_LOG_DEBUG < ockami_log_threshold) return;
  char on[256], ret[256];
  ockam_route_format(&m->onward, on, sizeof on);
  ockam_route_format(&m->ret, ret, sizeof ret);
  LOG_DEBUG(MOD, "dropping message: %s (onward %s, return %s)", why, on, ret);
}

static ockam_worker *resolve(ockam_node *node, const ockam_message *m) {
  ockam_address a;
  if (!ockami_route_first(&m->onward, &a)) return NULL;
  if (a.type == OCKAM_ADDRESS_LOCAL) return ockami_map_get(&node->addresses, a.value, a.len);
  return a.type < 128 ? node->type_router[a.type] : NULL;
}

static bool sender_allowed(const ockam_worker *w, const ockam_message *m) {
  char id[OCKAMI_IDENTIFIER_LEN + 1];
  if (ockam_message_peer_identifier(m, id, sizeof id) != OCKAM_OK) return false;
  for (size_t i = 0; i < w->nallowed; i++)
    if (!memcmp(w->allowed[i], id, sizeof id)) return true;
  return false;
}

static void deliver(ockam_node *node, ockam_message *m) {
  m->flags &= ~(uint32_t)OCKAMI_MSG_HANDED_OFF;
  ockam_worker *w = resolve(node, m);
  if (!w || w->state != WORKER_RUNNING) {
    node->stats.undeliverable++;
    if (w || recently_gone(node, m))
      log_drop_debug("the worker has stopped", m);
    else
      log_drop(m->onward.count ? "no such worker" : "empty onward route", m);
    ockam_message_free(m);
    return;
  }
  if ((w->flags & OCKAM_WORKER_CHANNEL_ONLY) && !(m->flags & OCKAMI_MSG_VIA_CHANNEL)) {
    node->stats.undeliverable++;
    log_drop("the worker accepts only messages from a secure channel", m);
    ockam_message_free(m);
    return;
  }
  if (w->nallowed && !sender_allowed(w, m)) {
    node->stats.undeliverable++;
    log_drop("sender not among the identifiers the worker accepts", m);
    ockam_message_free(m);
    return;
  }
  int rc = w->ops->handle(w, m);
  if (rc) LOG_DEBUG(MOD, "worker %s: handle returned %s", w->addresses[0], ockam_strerror(rc));
  node->stats.delivered++;
  if (!(m->flags & OCKAMI_MSG_HANDED_OFF)) ockam_message_free(m);
}

static void dispatch(ockam_node *node) {
  for (int i = 0; i < DISPATCH_BATCH; i++) {
    if (node->dhead) run_deferred(node);
    ockam_message *m = dequeue(node);
    if (!m) break;
    deliver(node, m);
  }
  if (node->dhead) run_deferred(node);
  reap_stopped(node);
  if (node->above_high_water && node->qlen < OCKAM_NODE_QUEUE_HIGH_WATER / 2) {
    node->above_high_water = false;
    if (node->drain_cb) node->drain_cb(node->drain_arg);
  }
  if (!node->qhead && !node->dhead && !node->stopped) dispatch_stop(node);
}

static void dispatch_idle_cb(uv_idle_t *h) {
  dispatch(h->data);
}

static void dispatch_check_cb(uv_check_t *h) {
  dispatch(h->data);
}

int ockam_send_message(ockam_node *node, ockam_message *msg) {
  if (!node || !msg) return OCKAM_EINVAL;
  if (node->state != NODE_ACTIVE) return OCKAM_ECLOSED;
  if (msg->onward.count == 0) return OCKAM_EINVAL;
  msg->flags |= OCKAMI_MSG_HANDED_OFF;
  enqueue(node, msg);
  return OCKAM_OK;
}

int ockam_forward(ockam_node *node, ockam_message *msg) {
  return ockam_send_message(node, msg);
}

void ockam_message_keep(ockam_message *msg) {
  if (msg) msg->flags |= OCKAMI_MSG_HANDED_OFF;
}

int ockam_send(ockam_node *node, const char *from, const ockam_route *route, const uint8_t *payload,
               size_t len) {
  if (!node || !from || !route || (len && !payload)) return OCKAM_EINVAL;
  if (route->count == 0) return OCKAM_EINVAL;
  if (len > OCKAM_PAYLOAD_MAX) return OCKAM_EOVERFLOW;
  ockam_message *m;
  int rc = ockam_message_new(&m);
  if (rc) return rc;
  if ((rc = ockami_route_assign(&m->onward, route)) ||
      (rc = ockam_route_append(&m->ret, OCKAM_ADDRESS_LOCAL, from, strlen(from))) ||
      (rc = ockami_buf_set(&m->payload, payload, len)) || (rc = ockam_send_message(node, m))) {
    ockam_message_free(m);
    return rc;
  }
  return OCKAM_OK;
}

/* ---- workers ------------------------------------------------------------ */

static int add_address(ockam_worker *w, const char *address) {
  if (w->naddr >= OCKAM_WORKER_MAX_ADDRESSES) return OCKAM_EOVERFLOW;
  char random[33];
  if (!address || !*address) {
    ockam_random_address(random);
    address = random;
  }
  size_t len = strlen(address);
  if (len > OCKAM_ADDRESS_MAX_LEN) return OCKAM_EOVERFLOW;
  char *copy = strdup(address);
  if (!copy) return OCKAM_ENOMEM;
  int rc = ockami_map_put(&w->node->addresses, copy, len, w);
  if (rc) {
    free(copy);
    return rc;
  }
  w->addresses[w->naddr++] = copy;
  return OCKAM_OK;
}

static void remember_gone(ockam_node *node, const char *address) {
  char *copy = strdup(address);
  if (!copy) return; /* only a log level depends on it */
  size_t i = node->gone_next++ % OCKAM_NODE_GONE_ADDRESSES;
  free(node->gone[i]);
  node->gone[i] = copy;
}

static bool recently_gone(const ockam_node *node, const ockam_message *m) {
  ockam_address a;
  if (!ockami_route_first(&m->onward, &a) || a.type != OCKAM_ADDRESS_LOCAL) return false;
  for (size_t i = 0; i < OCKAM_NODE_GONE_ADDRESSES; i++) {
    const char *g = node->gone[i];
    if (g && strlen(g) == a.len && !memcmp(g, a.value, a.len)) return true;
  }
  return false;
}

static void release_addresses(ockam_worker *w) {
  for (size_t i = 0; i < w->naddr; i++) {
    ockami_map_remove(&w->node->addresses, w->addresses[i], strlen(w->addresses[i]));
    remember_gone(w->node, w->addresses[i]);
  }
  for (int t = 0; t < 128; t++)
    if (w->node->type_router[t] == w) w->node->type_router[t] = NULL;
}

static void free_worker(ockam_worker *w) {
  for (size_t i = 0; i < w->naddr; i++) free(w->addresses[i]);
  free(w->allowed);
  free(w);
}

int ockam_worker_start(ockam_node *node, const char *const *addresses, size_t n,
                       const ockam_worker_ops *ops, void *user, ockam_worker **out) {
  if (!node || !ops || !ops->handle) return OCKAM_EINVAL;
  if (node->state != NODE_ACTIVE) return OCKAM_ECLOSED;
  if (n > OCKAM_WORKER_MAX_ADDRESSES) return OCKAM_EOVERFLOW;
  ockam_worker *w = calloc(1, sizeof *w);
  if (!w) return OCKAM_ENOMEM;
  w->node = node;
  w->ops = ops;
  w->user = user;
  size_t count = n ? n : 1;
  for (size_t i = 0; i < count; i++) {
    int rc = add_address(w, addresses && i < n ? addresses[i] : NULL);
    if (rc) {
      release_addresses(w);
      free_worker(w);
      return rc;
    }
  }
  w->next = node->workers;
  if (node->workers) node->workers->prev = w;
  node->workers = w;
  if (out) *out = w;
  return OCKAM_OK;
}

int ockam_worker_allow_identifiers(ockam_worker *w, const char *const *ids, size_t n) {
  if (!w || (n && !ids)) return OCKAM_EINVAL;
  char(*list)[OCKAMI_IDENTIFIER_LEN + 1] = NULL;
  if (n) {
    list = calloc(n, sizeof *list);
    if (!list) return OCKAM_ENOMEM;
  }
  for (size_t i = 0; i < n; i++) {
    const char *id = ids[i];
    size_t len = id ? strlen(id) : 0;
    if (len == OCKAMI_IDENTIFIER_LEN + 5 && !strncmp(id, "P_ID.", 5)) id += 5, len -= 5;
    if (len == OCKAMI_IDENTIFIER_LEN + 1 && id[0] == 'P') id += 1, len -= 1;
    bool ok = len == OCKAMI_IDENTIFIER_LEN;
    for (size_t j = 0; ok && j < len; j++)
      ok = (id[j] >= '0' && id[j] <= '9') || (id[j] >= 'a' && id[j] <= 'f');
    if (!ok) {
      free(list);
      return OCKAM_EINVAL;
    }
    memcpy(list[i], id, OCKAMI_IDENTIFIER_LEN + 1);
  }
  free(w->allowed);
  w->allowed = list;
  w->nallowed = n;
  return OCKAM_OK;
}

int ockam_worker_set_flags(ockam_worker *w, uint32_t flags) {
  if (!w || (flags & ~(uint32_t)OCKAM_WORKER_CHANNEL_ONLY)) return OCKAM_EINVAL;
  w->flags = flags;
  return OCKAM_OK;
}

int ockam_worker_add_address(ockam_worker *w, const char *address) {
  if (!w || w->state != WORKER_RUNNING) return OCKAM_EINVAL;
  return add_address(w, address);
}

void ockam_worker_stop(ockam_worker *w) {
  if (!w || w->state != WORKER_RUNNING) return;
  ockam_node *node = w->node;
  w->state = WORKER_STOPPING;
  release_addresses(w);
  if (w->prev)
    w->prev->next = w->next;
  else
    node->workers = w->next;
  if (w->next) w->next->prev = w->prev;
  w->prev = w->next = NULL;
  w->next_stopped = NULL;
  if (node->stopped_tail)
    node->stopped_tail->next_stopped = w;
  else
    node->stopped = w;
  node->stopped_tail = w;
  dispatch_start(node);
}

static void reap_stopped(ockam_node *node) {
  while (node->stopped) {
    ockam_worker *w = node->stopped;
    node->stopped = w->next_stopped;
    if (!node->stopped) node->stopped_tail = NULL;
    w->state = WORKER_STOPPED;
    if (w->ops->stopped) w->ops->stopped(w);
    free_worker(w);
  }
}

const char *ockam_worker_address(const ockam_worker *w) {
  return w->addresses[0];
}
void *ockam_worker_user(const ockam_worker *w) {
  return w->user;
}
void ockami_worker_set_user(ockam_worker *w, void *user) {
  w->user = user;
}
const ockam_worker_ops *ockami_worker_ops(const ockam_worker *w) {
  return w->ops;
}

ockam_worker *ockami_node_find(ockam_node *node, const void *address, size_t len) {
  ockam_worker *w = ockami_map_get(&node->addresses, address, len);
  return w && w->state == WORKER_RUNNING ? w : NULL;
}
ockam_node *ockam_worker_node(const ockam_worker *w) {
  return w->node;
}

int ockam_node_set_type_router(ockam_node *node, uint8_t type, ockam_worker *w) {
  if (!node || type == 0 || type >= 128) return OCKAM_EINVAL;
  if (w && node->type_router[type] && node->type_router[type] != w) return OCKAM_EEXIST;
  node->type_router[type] = w;
  return OCKAM_OK;
}

/* ---- running ------------------------------------------------------------- */

int ockam_node_run(ockam_node *node) {
  if (!node) return OCKAM_EINVAL;
  if (node->run_depth > 0) return OCKAM_ESTATE;
  if (node->stop_requested) return OCKAM_OK;
  node->run_depth++;
  uv_run(&node->loop, UV_RUN_DEFAULT);
  node->run_depth--;
  return OCKAM_OK;
}

bool ockam_node_is_stopped(const ockam_node *node) {
  return node && node->stop_requested;
}

static void signal_cb(uv_signal_t *h, int signum) {
  LOG_INFO(MOD, "signal %d: stopping", signum);
  ockam_node_stop(h->data);
}

int ockam_node_stop_on_signals(ockam_node *node) {
  static const int sigs[2] = {SIGINT, SIGTERM};
  for (int i = 0; i < 2; i++) {
    uv_signal_t *h = calloc(1, sizeof *h);
    if (!h) return OCKAM_ENOMEM;
    uv_signal_init(&node->loop, h);
    h->data = node;
    uv_signal_start(h, signal_cb, sigs[i]);
    uv_unref((uv_handle_t *)h); /* a signal handler alone does not keep the loop running */
  }
  return OCKAM_OK;
}

void ockam_node_stop(ockam_node *node) {
  if (!node) return;
  node->stop_requested = true;
  uv_stop(&node->loop);
}

typedef struct run_until {
  uv_timer_t timer;
  bool expired;
} run_until;

static void run_until_timer(uv_timer_t *h) {
  run_until *ru = h->data;
  ru->expired = true;
  /* uv_run(UV_RUN_ONCE) runs due timers first and may then poll until the
   * next event of anything else on the loop (a 20 s long-poll deadline, say);
   * a stop request makes that poll return at once. */
  uv_stop(h->loop);
}

static void run_until_close(uv_handle_t *h) {
  free(h->data);
}

int ockam_node_run_until(ockam_node *node, int64_t timeout_ms, bool (*done)(void *), void *arg) {
  if (!node) return OCKAM_EINVAL;
  if (node->run_depth > 0) return OCKAM_ESTATE; /* called from a callback: never nest */
  if (node->stop_requested) return OCKAM_ECLOSED;
  run_until *ru = calloc(1, sizeof *ru);
  if (!ru) return OCKAM_ENOMEM;
  uv_timer_init(&node->loop, &ru->timer);
  ru->timer.data = ru;
  /* The loop's cached time may be as old as the end of the last uv_run (the
   * caller may have worked since): arm the deadline against the real clock. */
  uv_update_time(&node->loop);
  if (timeout_ms >= 0) uv_timer_start(&ru->timer, run_until_timer, (uint64_t)timeout_ms, 0);
  int rc = OCKAM_OK;
  for (;;) {
    if (done && done(arg)) break;
    if (node->stop_requested) {
      rc = OCKAM_ECLOSED;
      break;
    }
    if (ru->expired) {
      rc = done ? OCKAM_ETIMEDOUT : OCKAM_OK;
      break;
    }
    node->run_depth++;
    int alive = uv_run(&node->loop, UV_RUN_ONCE);
    node->run_depth--;
    if (!alive && !(done && done(arg)) && !ru->expired) {
      rc = OCKAM_ECLOSED; /* nothing left that could ever complete the wait */
      break;
    }
  }
  uv_timer_stop(&ru->timer);
  uv_close((uv_handle_t *)&ru->timer, run_until_close);
  return rc;
}

static void free_handle_cb(uv_handle_t *h) {
  free(h);
}

static void walk_close(uv_handle_t *h, void *arg) {
  (void)arg;
  if (uv_is_closing(h)) return;
  /* Signal handles are the only ones the node allocates without an owner. */
  uv_close(h, h->type == UV_SIGNAL ? free_handle_cb : NULL);
}

void ockam_node_destroy(ockam_node *node) {
  if (!node) return;
  /* Composite handles (the hub) stop their parts while everything still works. */
  while (node->hooks) {
    ockami_node_hook *h = node->hooks;
    ockami_node_hook_remove(node, h);
    h->fn(h);
  }
  /* Stop every worker; transports close their sockets in `stopped`. */
  while (node->workers) ockam_worker_stop(node->workers);
  reap_stopped(node);
  node->state = NODE_DESTROYING;
  ockami_node_timers_close(node);
  ockam_message *m;
  while ((m = dequeue(node))) ockam_message_free(m);
  /* Let close callbacks of transports and timers run. */
  node->run_depth++;
  for (int i = 0; i < 100 && uv_run(&node->loop, UV_RUN_NOWAIT); i++) {
  }
  dispatch_stop(node);
  node->dhead = node->dtail = NULL; /* their owners are gone or going */
  uv_walk(&node->loop, walk_close, NULL);
  uv_run(&node->loop, UV_RUN_DEFAULT);
  node->run_depth--;
  /* Callbacks that ran during close may have queued messages. */
  while ((m = dequeue(node))) ockam_message_free(m);
  reap_stopped(node);
  while (node->late) {
    ockami_node_hook *h = node->late;
    node->late = h->next;
    h->fn(h);
  }
  if (uv_loop_close(&node->loop) != 0) LOG_WARN(MOD, "loop closed with live handles");
  post_item *p = node->posts;
  while (p) {
    post_item *n = p->next;
    free(p);
    p = n;
  }
  pthread_mutex_destroy(&node->post_lock);
  ockami_node_subs_sweep(node, true);
  ockami_map_free(&node->addresses);
  for (size_t i = 0; i < OCKAM_NODE_GONE_ADDRESSES; i++) free(node->gone[i]);
  free(node);
}
