/* TCP transport: outgoing connections: resolve, connect, backoff,
 * the dial policy, and the blocking connect calls. */
#include "tcp_internal.h"

static void conn_start_connect(conn *c);

/* ---- outgoing connections -------------------------------------------------- */

static void backoff_cb(void *arg) {
  conn *c = arg;
  c->timer = NULL;
  c->tcp->stats.reconnects++;
  conn_start_connect(c);
}

void ockami_tcp_conn_lost(conn *c, int err) {
  ockam_tcp *tcp = c->tcp;
  bool was_open = c->state == CONN_OPEN;
  ockami_tcp_sock_detach_close(c);
  c->writing = false;
  c->read_paused = false;
  c->pause_why = 0;
  ockami_buf_free(&c->rbuf);
  ockami_tcp_rbuf_counted(c);
  c->last_error = err;
  if (was_open && tcp->stats.open_connections) tcp->stats.open_connections--;
  if (!c->outgoing || tcp->closing) {
    if (!c->outgoing && was_open)
      LOG_INFO(MOD, "connection from %s closed: %s", c->peer,
               err == UV_EOF ? "closed by the peer"
               : err < 0     ? uv_strerror(err)
                             : "closed");
    if (!c->outgoing && tcp->accepted_open) tcp->accepted_open--;
    if (was_open) ockami_tcp_conn_publish(c, OCKAM_CONN_DOWN, err);
    c->state = CONN_CLOSED;
    ockami_tcp_conn_unlink_free(c);
    return;
  }
  /* Unsent frames start again from a frame boundary on the next connection:
   * a frame may arrive twice but never torn (the stream layer deduplicates). */
  if (c->inflight.len) {
    ockami_buf merged = OCKAMI_BUF_INIT;
    if (ockami_buf_append(&merged, c->inflight.data, c->inflight.len) == OCKAM_OK &&
        ockami_buf_append(&merged, c->pending.data, c->pending.len) == OCKAM_OK) {
      ockami_buf_free(&c->pending);
      c->pending = merged;
    } else {
      ockami_buf_free(&merged);
      tcp->stats.output_bytes -= c->inflight.len;
    }
  }
  ockami_buf_free(&c->inflight);
  c->inflight_off = 0;
  ockami_tcp_output_counted(c);
  /* A destination that keeps failing releases its queue; only one the node
   * asked for with ockam_tcp_connect is retried after that. */
  uint64_t now = uv_now(ockami_node_uv(tcp->node));
  if (!c->failing_since) c->failing_since = now ? now : 1;
  if (!c->gave_up && now - c->failing_since >= tcp->opt.give_up_ms) {
    tcp->stats.given_up++;
    LOG_WARN(MOD, "%s unreachable for %u ms: dropping %zu queued bytes%s", c->peer,
             tcp->opt.give_up_ms, c->pending.len, c->persistent ? "" : " and the destination");
    tcp->stats.output_bytes -= c->pending.len;
    ockami_buf_free(&c->pending);
    ockami_tcp_output_counted(c);
    c->gave_up = true;
    if (!c->persistent) {
      c->state = CONN_CLOSED;
      ockami_tcp_conn_unlink_free(c);
      return;
    }
  }
  c->state = CONN_BACKOFF;
  if (was_open) LOG_INFO(MOD, "lost connection to %s; reconnecting", c->peer);
  /* Jittered (half to all of the backoff) so that clients cut off together do
   * not all come back in the same millisecond. */
  uint32_t delay = c->backoff_ms / 2 + randombytes_uniform(c->backoff_ms / 2 + 1);
  c->backoff_ms =
      c->backoff_ms * 2 > tcp->opt.backoff_max_ms ? tcp->opt.backoff_max_ms : c->backoff_ms * 2;
  if (ockam_timer_start(tcp->node, delay, 0, backoff_cb, c, &c->timer) != OCKAM_OK) c->timer = NULL;
  if (was_open) ockami_tcp_conn_publish(c, OCKAM_CONN_DOWN, err);
}

static void connect_cb(uv_connect_t *req, int status) {
  sock *s = req->data;
  conn *c = s->c;
  if (!c) return;
  if (status < 0) {
    LOG_DEBUG(MOD, "connect to %s failed: %s", c->peer, uv_strerror(status));
    ockami_tcp_conn_lost(c, status);
    return;
  }
  c->tcp->stats.connects++;
  c->tcp->stats.open_connections++;
  LOG_DEBUG(MOD, "connected to %s", c->peer);
  ockami_tcp_conn_opened(c);
}

static void connect_addr(conn *c, const struct sockaddr *addr) {
  sock *s = calloc(1, sizeof *s);
  if (!s) {
    ockami_tcp_conn_lost(c, UV_ENOMEM);
    return;
  }
  s->c = c;
  uv_tcp_init(ockami_node_uv(c->tcp->node), &s->h);
  s->h.data = s;
  s->connect_req.data = s;
  c->s = s;
  c->state = CONN_CONNECTING;
  int rc = uv_tcp_connect(&s->connect_req, &s->h, addr, connect_cb);
  if (rc < 0) ockami_tcp_conn_lost(c, rc);
}

typedef struct resolve_req {
  uv_getaddrinfo_t req;
  conn *c;
  struct resolve_req *next;
} resolve_req;

static void resolved_cb(uv_getaddrinfo_t *req, int status, struct addrinfo *res) {
  resolve_req *rr = req->data;
  conn *c = rr->c;
  free(rr);
  if (!c) {
    uv_freeaddrinfo(res);
    return;
  }
  c->s = NULL;
  if (status < 0 || !res) {
    LOG_WARN(MOD, "cannot resolve %s: %s", c->peer, uv_strerror(status));
    uv_freeaddrinfo(res);
    ockami_tcp_conn_lost(c, status < 0 ? status : UV_EAI_NONAME);
    return;
  }
  connect_addr(c, res->ai_addr);
  uv_freeaddrinfo(res);
}

static void conn_start_connect(conn *c) {
  char host[256];
  int port;
  if (ockami_tcp_split_host_port(c->peer, host, sizeof host, &port)) {
    c->last_error = UV_EINVAL;
    c->state = CONN_BACKOFF;
    return;
  }
  struct sockaddr_storage ss;
  if (uv_ip4_addr(host, port, (struct sockaddr_in *)&ss) == 0 ||
      uv_ip6_addr(host, port, (struct sockaddr_in6 *)&ss) == 0) {
    connect_addr(c, (struct sockaddr *)&ss);
    return;
  }
  resolve_req *rr = calloc(1, sizeof *rr);
  if (!rr) {
    ockami_tcp_conn_lost(c, UV_ENOMEM);
    return;
  }
  rr->c = c;
  rr->req.data = rr;
  char portstr[8];
  snprintf(portstr, sizeof portstr, "%d", port);
  struct addrinfo hints = {0};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  c->state = CONN_RESOLVING;
  int rc =
      uv_getaddrinfo(ockami_node_uv(c->tcp->node), &rr->req, resolved_cb, host, portstr, &hints);
  if (rc < 0) {
    free(rr);
    ockami_tcp_conn_lost(c, rc);
  }
}

/* Creates the outgoing connection to peer (len bytes, not NUL-terminated) and
 * starts connecting. Only for destinations the node asked for. */
int ockami_tcp_outgoing_open(ockam_tcp *tcp, const char *peer, size_t len, conn **out) {
  char host[256];
  int port;
  char tmp[OCKAM_ADDRESS_MAX_LEN + 1];
  if (len == 0 || len > OCKAM_ADDRESS_MAX_LEN) return OCKAM_EADDR;
  memcpy(tmp, peer, len);
  tmp[len] = '\0';
  if (strlen(tmp) != len || ockami_tcp_split_host_port(tmp, host, sizeof host, &port))
    return OCKAM_EADDR;
  if (tcp->accepted_open + tcp->outgoing_count >= tcp->opt.max_connections) {
    tcp->stats.rejected++;
    LOG_WARN(MOD, "connection limit (%u) reached; not connecting to %s", tcp->opt.max_connections,
             tmp);
    return OCKAM_EFULL;
  }
  conn *c = ockami_tcp_conn_new(tcp, tmp, len, true);
  if (!c) return OCKAM_ENOMEM;
  if (ockami_map_put(&tcp->outgoing, c->peer, len, c) != OCKAM_OK) {
    c->outgoing = false;
    ockami_tcp_conn_unlink_free(c);
    return OCKAM_ENOMEM;
  }
  tcp->outgoing_count++;
  conn_start_connect(c);
  *out = c;
  return OCKAM_OK;
}

/* May the router open peer on first use? */
bool ockami_tcp_dial_allowed(const ockam_tcp *tcp, const uint8_t *peer, size_t len) {
  if (tcp->opt.connect_on_use) return true;
  for (size_t i = 0; i < tcp->n_allow; i++)
    if (strlen(tcp->allow[i]) == len && memcmp(tcp->allow[i], peer, len) == 0) return true;
  return false;
}

typedef struct connect_wait {
  ockam_tcp *tcp;
  const char *peer;
} connect_wait;

static bool connect_done(void *arg) {
  connect_wait *cw = arg;
  conn *c = ockami_map_get(&cw->tcp->outgoing, cw->peer, strlen(cw->peer));
  /* A refusal is an answer: report it now rather than after the timeout
   * (the connection keeps retrying in the background). */
  return !c || c->state == CONN_OPEN ||
         (c->state == CONN_BACKOFF && c->last_error == UV_ECONNREFUSED);
}

int ockam_tcp_connect(ockam_tcp *tcp, const char *host_port, int64_t timeout_ms) {
  if (!tcp || !host_port) return OCKAM_EINVAL;
  if (tcp->closing) return OCKAM_ECLOSED;
  size_t len = strlen(host_port);
  if (len == 0 || len > OCKAM_ADDRESS_MAX_LEN) return OCKAM_EADDR;
  conn *c = ockami_map_get(&tcp->outgoing, host_port, len);
  if (!c) {
    int orc = ockami_tcp_outgoing_open(tcp, host_port, len, &c);
    if (orc) return orc;
  }
  c->persistent = true;
  if (timeout_ms == 0) return OCKAM_OK;
  connect_wait cw = {tcp, host_port};
  int rc = ockam_node_run_until(tcp->node, timeout_ms, connect_done, &cw);
  c = ockami_map_get(&tcp->outgoing, host_port, len);
  if (c && c->state == CONN_OPEN) return OCKAM_OK;
  if (rc == OCKAM_ECLOSED || rc == OCKAM_ESTATE) return rc;
  if (c && c->last_error == UV_ECONNREFUSED) return OCKAM_ECONNREFUSED;
  return rc ? rc : OCKAM_ECONNREFUSED;
}

int ockam_tcp_connect_route(ockam_tcp *tcp, const ockam_route *route, int64_t timeout_ms) {
  if (!tcp || !route) return OCKAM_EINVAL;
  ockam_address a;
  if (!ockami_route_first(route, &a) || a.type != OCKAM_ADDRESS_TCP) return OCKAM_OK;
  char hp[OCKAM_ADDRESS_MAX_LEN + 1];
  memcpy(hp, a.value, a.len);
  hp[a.len] = '\0';
  if (strlen(hp) != a.len) return OCKAM_EADDR;
  return ockam_tcp_connect(tcp, hp, timeout_ms);
}

bool ockam_tcp_is_connected(const ockam_tcp *tcp, const char *host_port) {
  if (!tcp || !host_port || tcp->closing) return false;
  conn *c = ockami_map_get(&tcp->outgoing, host_port, strlen(host_port));
  return c && c->state == CONN_OPEN;
}
