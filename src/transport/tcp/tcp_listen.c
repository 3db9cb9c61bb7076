/* TCP transport: accepting connections (limits per transport and per IP)
 * and the hygiene timer for accepted connections and stalled output. */
#include <netdb.h>

#include "tcp_internal.h"

static void hygiene_start(ockam_tcp *tcp);

/* ---- listening ------------------------------------------------------------- */

static void on_connection(uv_stream_t *server, int status) {
  listener *l = server->data;
  ockam_tcp *tcp = l->tcp;
  if (status < 0) {
    LOG_WARN(MOD, "accept failed: %s", uv_strerror(status));
    return;
  }
  sock *s = calloc(1, sizeof *s);
  if (!s) return;
  uv_tcp_init(ockami_node_uv(tcp->node), &s->h);
  s->h.data = s;
  if (uv_accept(server, (uv_stream_t *)&s->h) != 0) {
    uv_close((uv_handle_t *)&s->h, ockami_tcp_sock_close_cb);
    return;
  }
  if (tcp->accepted_open >= tcp->opt.max_connections) {
    tcp->stats.rejected++;
    LOG_WARN(MOD, "connection limit (%u) reached; refusing a connection", tcp->opt.max_connections);
    uv_close((uv_handle_t *)&s->h, ockami_tcp_sock_close_cb);
    return;
  }
  struct sockaddr_storage ss;
  int len = sizeof ss;
  char peer[80] = "unknown", ip[48] = "";
  if (uv_tcp_getpeername(&s->h, (struct sockaddr *)&ss, &len) == 0) {
    ockami_tcp_format_peer(&ss, peer, sizeof peer);
    if (ss.ss_family == AF_INET)
      uv_ip4_name((const struct sockaddr_in *)&ss, ip, sizeof ip);
    else if (ss.ss_family == AF_INET6)
      uv_ip6_name((const struct sockaddr_in6 *)&ss, ip, sizeof ip);
  }
  /* Per-IP cap: one address cannot take every slot. */
  ockami_map_entry *e = ip[0] ? ockami_map_find(&tcp->per_ip, ip, strlen(ip)) : NULL;
  if (e && (uintptr_t)e->value >= tcp->opt.max_per_ip) {
    tcp->stats.rejected++;
    tcp->stats.rejected_per_ip++;
    LOG_WARN(MOD, "%s already has %u connections; refusing another", ip, tcp->opt.max_per_ip);
    uv_close((uv_handle_t *)&s->h, ockami_tcp_sock_close_cb);
    return;
  }
  conn *c = ockami_tcp_conn_new(tcp, peer, strlen(peer), false);
  if (!c) {
    uv_close((uv_handle_t *)&s->h, ockami_tcp_sock_close_cb);
    return;
  }
  if (ip[0]) {
    if (e)
      e->value = (void *)((uintptr_t)e->value + 1);
    else if (ockami_map_put(&tcp->per_ip, ip, strlen(ip), (void *)(uintptr_t)1) != OCKAM_OK)
      ip[0] = '\0';
    memcpy(c->ip, ip, sizeof c->ip);
  }
  s->c = c;
  c->s = s;
  /* 16 hex characters, like the 2021 hub's connection handlers. */
  char addr[33];
  ockam_random_address(addr);
  addr[16] = '\0';
  const char *addrs[1] = {addr};
  if (ockam_worker_start(tcp->node, addrs, 1, &ockami_tcp_accepted_ops, c, &c->worker) !=
      OCKAM_OK) {
    ockami_tcp_conn_unlink_free(c);
    return;
  }
  tcp->accepted_open++;
  tcp->stats.accepted++;
  tcp->stats.open_connections++;
  LOG_INFO(MOD, "connection from %s opened (0#%s)", peer, addr);
  ockami_tcp_conn_opened(c);
  hygiene_start(tcp);
}

/* ---- connection hygiene ------------------------------------------------------ */

/* Once a second: accepted connections that sent no complete frame in time
 * (unless this node, being busy, is not reading them now) or went idle, and
 * any connection whose queued output stopped moving, are closed (counted);
 * connections with nothing to write give their output buffers back. */
static void hygiene_cb(uv_timer_t *h) {
  ockam_tcp *tcp = h->data;
  uint64_t now = uv_now(h->loop);
  bool any = false;
  for (conn *c = tcp->conns, *next; c; c = next) {
    next = c->next;
    ockami_tcp_output_trim(c);
    if (c->state != CONN_OPEN) continue;
    if (!c->outgoing) any = true;
    const char *why = NULL;
    if (c->pending.len + c->inflight.len && now - c->progress_ms >= tcp->opt.write_stall_ms) {
      tcp->stats.closed_stalled++;
      why = "its replies are not being read";
    } else if (!c->outgoing && !c->got_frame && !(c->pause_why & (PAUSE_NODE | PAUSE_BURST)) &&
               now - c->opened_ms >= tcp->opt.first_frame_ms) {
      tcp->stats.closed_first_frame++;
      why = "no complete frame in time";
    } else if (!c->outgoing && tcp->opt.idle_ms != UINT32_MAX &&
               now - c->last_frame_ms >= tcp->opt.idle_ms) {
      tcp->stats.closed_idle++;
      why = "idle";
    }
    if (why) {
      LOG_INFO(MOD, "closing connection %s: %s", c->peer, why);
      ockami_tcp_conn_lost(c, UV_ETIMEDOUT);
    }
  }
  if (!any) {
    uv_timer_stop(&tcp->hygiene);
    tcp->hygiene_active = false;
  }
}

static void hygiene_start(ockam_tcp *tcp) {
  if (tcp->hygiene_active || tcp->closing) return;
  uv_timer_start(&tcp->hygiene, hygiene_cb, 1000, 1000);
  tcp->hygiene_active = true;
}

/* A host name (localhost, a name in /etc/hosts or DNS): its first address,
 * IPv4 preferred by the resolver's order. Blocks; used once when listening. */
static int tcp_resolve(const char *host, int port, struct sockaddr_storage *out) {
  struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
  struct addrinfo *res = NULL;
  int rc = getaddrinfo(host, NULL, &hints, &res);
  if (rc != 0 || !res) {
    LOG_ERROR(MOD, "cannot listen on %s:%d: %s", host, port, rc ? gai_strerror(rc) : "no address");
    return -1;
  }
  memset(out, 0, sizeof *out);
  memcpy(out, res->ai_addr, res->ai_addrlen <= sizeof *out ? res->ai_addrlen : sizeof *out);
  if (out->ss_family == AF_INET)
    ((struct sockaddr_in *)out)->sin_port = htons((uint16_t)port);
  else if (out->ss_family == AF_INET6)
    ((struct sockaddr_in6 *)out)->sin6_port = htons((uint16_t)port);
  freeaddrinfo(res);
  return 0;
}

int ockam_tcp_listen(ockam_tcp *tcp, const char *host_port, char *bound, size_t bound_cap) {
  if (!tcp || !host_port) return OCKAM_EINVAL;
  if (tcp->closing) return OCKAM_ECLOSED;
  if (bound && bound_cap < OCKAM_TCP_ADDRESS_CAP) return OCKAM_ETOOSMALL;
  char host[256];
  int port;
  int rc = ockami_tcp_split_host_port(host_port, host, sizeof host, &port);
  if (rc) {
    LOG_ERROR(MOD, "cannot listen on '%s': not a HOST:PORT address", host_port);
    return rc;
  }
  struct sockaddr_storage ss;
  if (uv_ip4_addr(host, port, (struct sockaddr_in *)&ss) != 0 &&
      uv_ip6_addr(host, port, (struct sockaddr_in6 *)&ss) != 0 && tcp_resolve(host, port, &ss) != 0)
    return OCKAM_EADDR;
  listener *l = calloc(1, sizeof *l);
  if (!l) return OCKAM_ENOMEM;
  l->tcp = tcp;
  uv_tcp_init(ockami_node_uv(tcp->node), &l->h);
  l->h.data = l;
  int urc = uv_tcp_bind(&l->h, (struct sockaddr *)&ss, 0);
  if (urc == 0) urc = uv_listen((uv_stream_t *)&l->h, (int)tcp->opt.listen_backlog, on_connection);
  if (urc < 0) {
    LOG_ERROR(MOD, "cannot listen on %s: %s", host_port, uv_strerror(urc));
    uv_close((uv_handle_t *)&l->h, ockami_tcp_listener_close_cb);
    return urc == UV_EADDRINUSE ? OCKAM_EEXIST : OCKAM_EIO;
  }
  l->next = tcp->listeners;
  tcp->listeners = l;
  if (bound) {
    struct sockaddr_storage b;
    int blen = sizeof b;
    if (uv_tcp_getsockname(&l->h, (struct sockaddr *)&b, &blen) == 0)
      ockami_tcp_format_peer(&b, bound, bound_cap);
    else
      snprintf(bound, bound_cap, "%s", host_port);
  }
  LOG_INFO(MOD, "listening on %s", host_port);
  return OCKAM_OK;
}
