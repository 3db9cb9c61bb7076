/* TCP transport: framing, connection management, backpressure (spec §2).
 * Here: address parsing, the router worker, the output barrier and the
 * transport's lifecycle. Connections: tcp_conn.c; listening: tcp_listen.c;
 * outgoing connections: tcp_out.c. */
#include "tcp_internal.h"

/* ---- address parsing ---------------------------------------------------- */

/* Split "host:port" / "[v6]:port" (strictly: see ockami_tcp_address_parse).
 * host receives a NUL-terminated copy. */
int ockami_tcp_split_host_port(const char *hp, char *host, size_t cap, int *port) {
  size_t off, hlen;
  uint32_t p;
  if (!ockami_tcp_address_parse((const uint8_t *)hp, strlen(hp), &off, &hlen, &p) || hlen >= cap)
    return OCKAM_EADDR;
  memcpy(host, hp + off, hlen);
  host[hlen] = '\0';
  *port = (int)p;
  return OCKAM_OK;
}

void ockami_tcp_format_peer(const struct sockaddr_storage *ss, char *out, size_t cap) {
  char ip[64] = "?";
  int port = 0;
  if (ss->ss_family == AF_INET) {
    const struct sockaddr_in *a = (const struct sockaddr_in *)ss;
    uv_ip4_name(a, ip, sizeof ip);
    port = ntohs(a->sin_port);
    snprintf(out, cap, "%s:%d", ip, port);
  } else if (ss->ss_family == AF_INET6) {
    const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)ss;
    uv_ip6_name(a, ip, sizeof ip);
    port = ntohs(a->sin6_port);
    snprintf(out, cap, "[%s]:%d", ip, port);
  } else {
    snprintf(out, cap, "unknown");
  }
}

/* ---- workers ---------------------------------------------------------------- */

/* The type-1 router: next hop 1#host:port. */
static int router_handle(ockam_worker *w, ockam_message *m) {
  ockam_tcp *tcp = ockam_worker_user(w);
  ockam_address a;
  if (!ockami_route_first(&m->onward, &a) || a.type != OCKAM_ADDRESS_TCP) return OCKAM_EINVAL;
  conn *c = ockami_map_get(&tcp->outgoing, a.value, a.len);
  if (!c) {
    /* Never dial because a message says so: only destinations this node asked for. */
    if (!ockami_tcp_dial_allowed(tcp, a.value, a.len)) {
      tcp->stats.dials_refused++;
      tcp->stats.dropped++;
      char hop[OCKAM_ADDRESS_MAX_LEN + 8];
      ockam_route_format(&m->onward, hop, sizeof hop);
      LOG_WARN(MOD, "no connection to %s (not connected, not allowed); dropping message", hop);
      return OCKAM_ENOTFOUND;
    }
    int rc = ockami_tcp_outgoing_open(tcp, (const char *)a.value, a.len, &c);
    if (rc) {
      tcp->stats.dropped++;
      if (rc == OCKAM_EADDR) LOG_WARN(MOD, "invalid TCP address; dropping message");
      return rc;
    }
  }
  ockam_route_pop(&m->onward);
  return ockami_tcp_conn_queue_message(c, m);
}

/* An accepted connection's local address: 0#<h> (spec §2.3). */
static int accepted_handle(ockam_worker *w, ockam_message *m) {
  conn *c = ockam_worker_user(w);
  if (!c) return OCKAM_ECLOSED;
  if (c->state != CONN_OPEN) {
    c->tcp->stats.dropped++;
    return OCKAM_ECLOSED;
  }
  const char *self = ockam_worker_address(w);
  ockam_address a;
  while (ockami_route_first(&m->onward, &a) && ockami_address_is(&a, 0, self))
    ockam_route_pop(&m->onward);
  return ockami_tcp_conn_queue_message(c, m);
}

static void accepted_stopped(ockam_worker *w) {
  conn *c = ockam_worker_user(w);
  if (c) c->worker = NULL;
}

const ockam_worker_ops ockami_tcp_accepted_ops = {accepted_handle, accepted_stopped};

void ockami_tcp_listener_close_cb(uv_handle_t *h) {
  free(h->data);
}

static void flush_close_cb(uv_handle_t *h) {
  ockam_tcp *tcp = h->data;
  if (tcp->life == TCP_CLOSED)
    free(tcp);
  else
    tcp->life = TCP_DETACHED;
}

static void router_stopped(ockam_worker *w) {
  ockam_tcp *tcp = ockam_worker_user(w);
  if (!tcp) return; /* ockam_tcp_create failed */
  tcp->closing = true;
  if (ockam_node_set_type_router(tcp->node, OCKAM_ADDRESS_TCP, NULL) != OCKAM_OK) {
    LOG_DEBUG(MOD, "type router already replaced");
  }
  ockami_node_set_drain_cb(tcp->node, NULL, NULL);
  ockami_node_set_flush_probe(tcp->node, NULL);
  const ockami_direct_output *d = ockami_node_direct(tcp->node);
  if (d && d->ctx == tcp) ockami_node_set_direct(tcp->node, NULL);
  while (tcp->listeners) {
    listener *l = tcp->listeners;
    tcp->listeners = l->next;
    uv_close((uv_handle_t *)&l->h, ockami_tcp_listener_close_cb);
  }
  while (tcp->conns) {
    conn *c = tcp->conns;
    ockami_tcp_conn_unlink_free(c);
  }
  ockami_map_free(&tcp->outgoing);
  ockami_map_free(&tcp->per_ip);
  free(tcp->rshared);
  tcp->rshared = NULL;
  if (tcp->hygiene.loop) {
    uv_timer_stop(&tcp->hygiene);
    uv_close((uv_handle_t *)&tcp->hygiene, NULL);
  }
  if (tcp->burst.loop) {
    uv_prepare_stop(&tcp->burst);
    uv_close((uv_handle_t *)&tcp->burst, NULL);
  }
  for (size_t i = 0; i < tcp->n_allow; i++) free(tcp->allow[i]);
  free(tcp->allow);
  tcp->allow = NULL;
  tcp->n_allow = 0;
  if (tcp->liveness.loop) { /* initialised (creation may have failed before) */
    uv_timer_stop(&tcp->liveness);
    uv_close((uv_handle_t *)&tcp->liveness, NULL); /* closes before flush (FIFO) */
  }
  uv_prepare_stop(&tcp->flush);
  /* tcp itself is freed with the prepare handle, or by ockam_tcp_close(). */
  uv_close((uv_handle_t *)&tcp->flush, flush_close_cb);
}

static const ockam_worker_ops router_ops = {router_handle, router_stopped};

/* ---- output barrier (see ockami_flush_probe in node.h) --------------------- */

static size_t outstanding(const conn *c) {
  return c->pending.len + c->inflight.len;
}

/* Snapshot of what every connection has queued so far. */
static void probe_mark(void *ctx, ockami_flush_mark *out) {
  ockam_tcp *tcp = ctx;
  for (conn *c = tcp->conns; c; c = c->next) {
    if (out->n == OCKAMI_FLUSH_MARK_MAX) {
      out->all = true;
      return;
    }
    out->id[out->n] = c->id;
    out->target[out->n] = c->queued_total;
    out->n++;
  }
}

/* Keep the connections given bytes since the snapshot (or opened since),
 * each with what it has queued now as the target. */
static void probe_narrow(void *ctx, ockami_flush_mark *m) {
  ockam_tcp *tcp = ctx;
  if (m->all) return; /* too many connections to tell: wait for all of them */
  ockami_flush_mark out = {0};
  for (conn *c = tcp->conns; c; c = c->next) {
    bool known = false, grew = false;
    for (size_t i = 0; i < m->n; i++) {
      if (m->id[i] != c->id) continue;
      known = true;
      grew = c->queued_total > m->target[i];
    }
    if (known && !grew) continue;
    if (!known && c->queued_total == 0) continue;
    if (out.n == OCKAMI_FLUSH_MARK_MAX) {
      out.all = true;
      break;
    }
    out.id[out.n] = c->id;
    out.target[out.n] = c->queued_total;
    out.n++;
  }
  *m = out;
}

static bool probe_reached(void *ctx, const ockami_flush_mark *m) {
  ockam_tcp *tcp = ctx;
  for (conn *c = tcp->conns; c; c = c->next) {
    if (m->all && outstanding(c)) return false;
    for (size_t i = 0; i < m->n; i++)
      if (m->id[i] == c->id && c->queued_total - outstanding(c) < m->target[i]) return false;
  }
  return true; /* a connection that is gone has nothing left to write */
}

/* ---- direct output (see ockami_direct_output in node.h) ------------------- */

/* The connection a route's first hop names, as router_handle (1#host:port,
 * a connection already made: never dial here) or accepted_handle (0#<the
 * accepted connection's address>, repeated) would resolve it. */
static void *direct_find(void *ctx, const ockam_route *onward, uint32_t *skip) {
  ockam_tcp *tcp = ctx;
  ockam_address a;
  if (tcp->closing || !ockami_route_first(onward, &a)) return NULL;
  if (a.type == OCKAM_ADDRESS_TCP) {
    *skip = 1;
    return ockami_map_get(&tcp->outgoing, a.value, a.len);
  }
  if (a.type != OCKAM_ADDRESS_LOCAL) return NULL;
  ockam_worker *w = ockami_node_find(tcp->node, a.value, a.len);
  if (!w || ockami_worker_ops(w) != &ockami_tcp_accepted_ops) return NULL;
  conn *c = ockam_worker_user(w);
  if (!c || c->tcp != tcp) return NULL;
  const char *self = ockam_worker_address(w);
  uint32_t pos = 0, n = 0;
  while (ockami_route_next(onward, &pos, &a) && ockami_address_is(&a, 0, self)) n++;
  *skip = n;
  return c;
}

static uint8_t *direct_reserve(void *ctx, void *out, size_t len) {
  (void)ctx;
  return ockami_tcp_direct_reserve(out, len);
}

static void direct_commit(void *ctx, void *out, size_t len) {
  (void)ctx;
  ockami_tcp_direct_commit(out, len);
}

/* ---- setup --------------------------------------------------------------- */

int ockam_tcp_create(ockam_node *node, const ockam_tcp_options *opts, ockam_tcp **out) {
  if (!node || !out) return OCKAM_EINVAL;
  ockam_tcp *tcp = calloc(1, sizeof *tcp);
  if (!tcp) return OCKAM_ENOMEM;
  tcp->node = node;
  if (opts) tcp->opt = *opts;
  if (!tcp->opt.send_queue_bytes) tcp->opt.send_queue_bytes = OCKAM_TCP_SEND_QUEUE_BYTES;
  if (!tcp->opt.max_connections) tcp->opt.max_connections = OCKAM_TCP_MAX_CONNECTIONS;
  if (!tcp->opt.backoff_min_ms) tcp->opt.backoff_min_ms = OCKAM_TCP_BACKOFF_MIN_MS;
  if (!tcp->opt.backoff_max_ms) tcp->opt.backoff_max_ms = OCKAM_TCP_BACKOFF_MAX_MS;
  if (!tcp->opt.listen_backlog) tcp->opt.listen_backlog = OCKAM_TCP_LISTEN_BACKLOG;
  if (tcp->opt.listen_backlog > INT32_MAX) tcp->opt.listen_backlog = INT32_MAX;
  if (!tcp->opt.give_up_ms) tcp->opt.give_up_ms = OCKAM_TCP_GIVE_UP_MS;
  if (tcp->opt.n_allow && !tcp->opt.allow) {
    free(tcp);
    return OCKAM_EINVAL;
  }
  if (tcp->opt.n_allow) {
    tcp->allow = calloc(tcp->opt.n_allow, sizeof *tcp->allow);
    bool ok = tcp->allow != NULL;
    for (size_t i = 0; ok && i < tcp->opt.n_allow; i++) {
      ok = tcp->opt.allow[i] && (tcp->allow[i] = strdup(tcp->opt.allow[i])) != NULL;
      if (ok) tcp->n_allow = i + 1;
    }
    if (!ok) {
      for (size_t i = 0; i < tcp->n_allow; i++) free(tcp->allow[i]);
      free(tcp->allow);
      free(tcp);
      return OCKAM_ENOMEM; /* or a NULL entry: either way nothing was started */
    }
  }
  tcp->opt.allow = NULL; /* the copies above are what counts */
  tcp->opt.n_allow = 0;
  if (!tcp->opt.ping_idle_ms) tcp->opt.ping_idle_ms = OCKAM_TCP_PING_IDLE_MS;
  if (!tcp->opt.dead_after_ms) tcp->opt.dead_after_ms = OCKAM_TCP_DEAD_AFTER_MS;
  if (tcp->opt.backoff_max_ms < tcp->opt.backoff_min_ms)
    tcp->opt.backoff_max_ms = tcp->opt.backoff_min_ms;
  if (!tcp->opt.output_budget) tcp->opt.output_budget = OCKAM_TCP_OUTPUT_BUDGET;
  if (!tcp->opt.write_stall_ms) tcp->opt.write_stall_ms = OCKAM_TCP_WRITE_STALL_MS;
  if (!tcp->opt.first_frame_ms) tcp->opt.first_frame_ms = OCKAM_TCP_FIRST_FRAME_MS;
  if (!tcp->opt.idle_ms) tcp->opt.idle_ms = OCKAM_TCP_IDLE_MS;
  if (!tcp->opt.max_per_ip) tcp->opt.max_per_ip = OCKAM_TCP_MAX_PER_IP;
  tcp->rshared = malloc(OCKAM_TCP_READ_BUFFER);
  if (!tcp->rshared) {
    for (size_t i = 0; i < tcp->n_allow; i++) free(tcp->allow[i]);
    free(tcp->allow);
    free(tcp);
    return OCKAM_ENOMEM;
  }
  ockami_map_init(&tcp->per_ip);
  ockami_map_init(&tcp->outgoing);
  int rc = ockam_worker_start(node, NULL, 0, &router_ops, tcp, &tcp->router);
  if (rc) {
    for (size_t i = 0; i < tcp->n_allow; i++) free(tcp->allow[i]);
    free(tcp->allow);
    free(tcp->rshared);
    free(tcp);
    return rc;
  }
  rc = ockam_node_set_type_router(node, OCKAM_ADDRESS_TCP, tcp->router);
  if (rc) {
    /* Nothing else owns tcp yet: detach it from the worker and free it. */
    ockami_worker_set_user(tcp->router, NULL);
    ockam_worker_stop(tcp->router);
    ockami_map_free(&tcp->outgoing);
    for (size_t i = 0; i < tcp->n_allow; i++) free(tcp->allow[i]);
    free(tcp->allow);
    free(tcp);
    return rc;
  }
  uv_prepare_init(ockami_node_uv(node), &tcp->flush);
  tcp->flush.data = tcp;
  uv_timer_init(ockami_node_uv(node), &tcp->liveness);
  tcp->liveness.data = tcp;
  uv_unref((uv_handle_t *)&tcp->liveness); /* pinging alone does not keep the loop alive */
  uv_prepare_init(ockami_node_uv(node), &tcp->burst);
  tcp->burst.data = tcp;
  uv_unref((uv_handle_t *)&tcp->burst);
  uv_timer_init(ockami_node_uv(node), &tcp->hygiene);
  tcp->hygiene.data = tcp;
  uv_unref((uv_handle_t *)&tcp->hygiene);
  ockami_node_set_drain_cb(node, ockami_tcp_resume_all, tcp);
  ockami_flush_probe probe = {probe_mark, probe_narrow, probe_reached, tcp};
  ockami_node_set_flush_probe(node, &probe);
  ockami_direct_output direct = {direct_find, direct_reserve, direct_commit, tcp};
  ockami_node_set_direct(node, &direct);
  *out = tcp;
  return OCKAM_OK;
}

void ockam_tcp_get_stats(const ockam_tcp *tcp, ockam_tcp_stats *out) {
  if (tcp && out) *out = tcp->stats;
}

void ockam_tcp_close(ockam_tcp *tcp) {
  if (!tcp) return;
  if (tcp->life == TCP_DETACHED) {
    free(tcp);
    return;
  }
  if (tcp->life != TCP_OPEN) return;
  tcp->life = TCP_CLOSED;
  /* router_stopped closes every socket; the prepare handle's close frees tcp. */
  if (!tcp->closing) ockam_worker_stop(tcp->router);
}
