/* TCP transport: framing, connection management, backpressure (spec §2). */
#include "ockam/tcp.h"

#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "log.h"
#include "map.h"
#include "node.h"
#include "ockam/limits.h"
#include "wire.h"

#define MOD "tcp"

typedef enum conn_state {
  CONN_RESOLVING,
  CONN_CONNECTING,
  CONN_OPEN,
  CONN_BACKOFF,
  CONN_CLOSED /* accepted connection gone, or transport shutting down */
} conn_state;

typedef struct conn conn;

/* One socket. A connection that reconnects gets a fresh sock each time; the
 * old one is freed in its close callback. */
typedef struct sock {
  uv_tcp_t h;
  conn *c; /* NULL once detached */
  uv_connect_t connect_req;
  uv_write_t wreq; /* lives with the socket: libuv completes it after close */
  uv_buf_t wbuf;
} sock;

struct conn {
  ockam_tcp *tcp;
  uint64_t id;           /* unique per transport, for flush marks */
  uint64_t queued_total; /* bytes ever queued; written = queued_total - outstanding */
  conn_state state;
  bool outgoing;
  bool writing;
  bool read_paused;       /* reading stopped: pause_why says why */
  uint8_t pause_why;      /* PAUSE_* bits */
  bool got_frame;         /* accepted: a complete frame arrived */
  uint64_t opened_ms;     /* loop time the connection opened */
  uint64_t last_frame_ms; /* loop time of the last complete frame */
  uint64_t progress_ms;   /* loop time output last moved (or started waiting) */
  char ip[48];            /* accepted: the peer's IP address (per-IP cap key) */
  bool dirty;             /* on tcp->dirty list */
  bool persistent;        /* outgoing, asked for by ockam_tcp_connect: never forgotten */
  bool gave_up;           /* outgoing, failing for give_up_ms: frames dropped until open */
  uint64_t failing_since; /* loop time of the first failure since last open; 0 = none */
  char *peer;             /* "host:port" as given (outgoing) or "ip:port" (accepted) */
  size_t peer_len;
  ockam_worker *worker; /* accepted: routes 0#<addr> back to this socket */
  sock *s;
  ockami_buf rbuf;
  ockami_buf pending;  /* frames waiting */
  ockami_buf inflight; /* frames being written, from a frame boundary */
  size_t inflight_off;
  uint32_t backoff_ms;
  ockam_timer *timer;
  int64_t waiters; /* blocking connect calls waiting */
  int last_error;
  uint64_t last_rx_ms;   /* loop time of the last byte received */
  uint64_t last_ping_ms; /* loop time of the last ping sent */
  bool pong_seen;        /* the peer answers pings: silence means it is gone */
  conn *next, *prev;
  conn *next_dirty;
};

typedef struct listener {
  uv_tcp_t h;
  ockam_tcp *tcp;
  struct listener *next;
} listener;

/* Who frees the handle ("Handles" in ockam/node.h). */
typedef enum tcp_life {
  TCP_OPEN,
  TCP_CLOSED,   /* ockam_tcp_close() ran: freed once the node side is done */
  TCP_DETACHED, /* the node side is done (node destroyed): freed by ockam_tcp_close() */
} tcp_life;

struct ockam_tcp {
  ockam_node *node;
  ockam_worker *router;
  ockam_tcp_options opt;
  ockami_map outgoing; /* peer -> conn */
  conn *conns;
  conn *dirty;
  listener *listeners;
  uv_prepare_t flush;
  bool flush_active;
  uv_timer_t liveness; /* pings silent outgoing connections */
  bool liveness_active;
  bool closing; /* the router stopped: no new connections or listeners */
  tcp_life life;
  uint64_t next_conn_id;
  uint32_t accepted_open;
  uv_timer_t hygiene; /* deadlines of accepted connections, stalled output */
  bool hygiene_active;
  uint8_t *rshared; /* read buffer shared by all connections */
  uv_check_t burst; /* after each poll: the read burst starts again */
  bool burst_active;
  size_t burst_bytes;      /* read in this loop iteration, all connections */
  ockami_map per_ip;       /* ip -> number of accepted connections (as a pointer-sized count) */
  uint32_t outgoing_count; /* outgoing connections (any state) */
  char **allow;            /* destinations opened on first use */
  size_t n_allow;
  ockam_tcp_stats stats;
};

enum { PAUSE_NODE = 1, PAUSE_OUTPUT = 2, PAUSE_BURST = 4 };

static void conn_start_connect(conn *c);
static void resume_reading(conn *c, uint8_t why);
static void pause_reading(conn *c, uint8_t why);
static void hygiene_start(ockam_tcp *tcp);
static void conn_lost(conn *c, int err);
static void conn_mark_dirty(conn *c);
static void tcp_read_start(conn *c);
static bool is_pong(const conn *c, const ockam_message *m);

/* ---- address parsing ---------------------------------------------------- */

/* Split "host:port" / "[v6]:port" (strictly: see ockami_tcp_address_parse).
 * host receives a NUL-terminated copy. */
static int split_host_port(const char *hp, char *host, size_t cap, int *port) {
  size_t off, hlen;
  uint32_t p;
  if (!ockami_tcp_address_parse((const uint8_t *)hp, strlen(hp), &off, &hlen, &p) || hlen >= cap)
    return OCKAM_EADDR;
  memcpy(host, hp + off, hlen);
  host[hlen] = '\0';
  *port = (int)p;
  return OCKAM_OK;
}

static void format_peer(const struct sockaddr_storage *ss, char *out, size_t cap) {
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

/* ---- connection lifetime ------------------------------------------------- */

static void sock_close_cb(uv_handle_t *h) {
  free(h->data);
}

static void sock_detach_close(conn *c) {
  sock *s = c->s;
  if (!s) return;
  c->s = NULL;
  s->c = NULL;
  if (!uv_is_closing((uv_handle_t *)&s->h)) uv_close((uv_handle_t *)&s->h, sock_close_cb);
}

static void conn_unlink_free(conn *c) {
  ockam_tcp *tcp = c->tcp;
  if (c->prev)
    c->prev->next = c->next;
  else
    tcp->conns = c->next;
  if (c->next) c->next->prev = c->prev;
  if (c->dirty) {
    conn **pp = &tcp->dirty;
    while (*pp && *pp != c) pp = &(*pp)->next_dirty;
    if (*pp) *pp = c->next_dirty;
  }
  if (c->outgoing) {
    ockami_map_remove(&tcp->outgoing, c->peer, c->peer_len);
    tcp->outgoing_count--;
  }
  if (c->timer) ockam_timer_stop(c->timer);
  sock_detach_close(c);
  tcp->stats.output_bytes -= c->pending.len + c->inflight.len;
  if (c->ip[0]) {
    ockami_map_entry *e = ockami_map_find(&tcp->per_ip, c->ip, strlen(c->ip));
    if (e) {
      uintptr_t n = (uintptr_t)e->value - 1;
      if (n)
        e->value = (void *)n;
      else
        ockami_map_remove(&tcp->per_ip, c->ip, strlen(c->ip));
    }
  }
  if (c->worker) {
    ockam_worker *w = c->worker;
    c->worker = NULL;
    ockami_worker_set_user(w, NULL);
    ockam_worker_stop(w);
  }
  ockami_buf_free(&c->rbuf);
  ockami_buf_free(&c->pending);
  ockami_buf_free(&c->inflight);
  free(c->peer);
  free(c);
}

static conn *conn_new(ockam_tcp *tcp, const char *peer, size_t peer_len, bool outgoing) {
  conn *c = calloc(1, sizeof *c);
  if (!c) return NULL;
  c->peer = malloc(peer_len + 1);
  if (!c->peer) {
    free(c);
    return NULL;
  }
  memcpy(c->peer, peer, peer_len);
  c->peer[peer_len] = '\0';
  c->peer_len = peer_len;
  c->tcp = tcp;
  c->id = ++tcp->next_conn_id;
  c->outgoing = outgoing;
  c->backoff_ms = tcp->opt.backoff_min_ms;
  c->next = tcp->conns;
  if (tcp->conns) tcp->conns->prev = c;
  tcp->conns = c;
  return c;
}

/* ---- writing -------------------------------------------------------------- */

static void write_next_chunk(conn *c);

static void write_cb(uv_write_t *req, int status) {
  sock *s = req->data;
  conn *c = s->c;
  if (!c) return; /* socket was detached; conn may be gone */
  c->writing = false;
  if (status < 0) {
    conn_lost(c, status);
    return;
  }
  c->tcp->stats.bytes_out += s->wbuf.len;
  c->inflight_off += s->wbuf.len;
  c->progress_ms = uv_now(req->handle->loop);
  if (c->inflight_off < c->inflight.len) {
    write_next_chunk(c);
    return;
  }
  c->tcp->stats.output_bytes -= c->inflight.len;
  c->inflight.len = 0;
  c->inflight_off = 0;
  if (c->pending.len) conn_mark_dirty(c);
  /* The peer reads again: read from it again. */
  if ((c->pause_why & PAUSE_OUTPUT) && c->pending.len < OCKAM_TCP_OUTPUT_PAUSE_BYTES / 2)
    resume_reading(c, PAUSE_OUTPUT);
}

static void write_next_chunk(conn *c) {
  size_t left = c->inflight.len - c->inflight_off;
  size_t n = left < OCKAM_TCP_WRITE_CHUNK ? left : OCKAM_TCP_WRITE_CHUNK;
  sock *s = c->s;
  s->wbuf = uv_buf_init((char *)c->inflight.data + c->inflight_off, (unsigned)n);
  s->wreq.data = s;
  int rc = uv_write(&s->wreq, (uv_stream_t *)&s->h, &s->wbuf, 1, write_cb);
  if (rc < 0) {
    conn_lost(c, rc);
    return;
  }
  c->writing = true;
}

static void conn_flush(conn *c) {
  if (c->state != CONN_OPEN || c->writing || !c->s) return;
  if (c->inflight.len == 0) {
    if (c->pending.len == 0) return;
    ockami_buf t = c->inflight;
    c->inflight = c->pending;
    c->pending = t;
    c->pending.len = 0;
    c->inflight_off = 0;
  }
  write_next_chunk(c);
}

static void flush_cb(uv_prepare_t *h) {
  ockam_tcp *tcp = h->data;
  conn *list = tcp->dirty;
  tcp->dirty = NULL;
  while (list) {
    conn *c = list;
    list = c->next_dirty;
    c->dirty = false;
    c->next_dirty = NULL;
    conn_flush(c);
  }
  if (!tcp->dirty) {
    uv_prepare_stop(&tcp->flush);
    tcp->flush_active = false;
  }
}

/* Writes are started from a prepare handle: all frames produced during one
 * loop iteration go out in one write. */
static void conn_mark_dirty(conn *c) {
  ockam_tcp *tcp = c->tcp;
  if (!c->dirty) {
    c->dirty = true;
    c->next_dirty = tcp->dirty;
    tcp->dirty = c;
  }
  if (!tcp->flush_active && !tcp->closing) {
    uv_prepare_start(&tcp->flush, flush_cb);
    tcp->flush_active = true;
  }
}

static int conn_queue_message(conn *c, const ockam_message *m) {
  ockam_tcp *tcp = c->tcp;
  if (c->gave_up && c->state != CONN_OPEN) {
    tcp->stats.dropped++;
    LOG_DEBUG(MOD, "%s unreachable for %u ms, dropping frame", c->peer, tcp->opt.give_up_ms);
    return OCKAM_ECONNREFUSED;
  }
  if (c->pending.len + c->inflight.len >= tcp->opt.send_queue_bytes) {
    tcp->stats.dropped++;
    LOG_WARN(MOD, "send queue to %s full (%zu bytes), dropping frame", c->peer,
             c->pending.len + c->inflight.len);
    return OCKAM_EFULL;
  }
  if (tcp->stats.output_bytes >= tcp->opt.output_budget) {
    tcp->stats.dropped++;
    tcp->stats.dropped_budget++;
    LOG_WARN(MOD, "output budget (%zu bytes on all connections) used up, dropping a frame for %s",
             tcp->opt.output_budget, c->peer);
    return OCKAM_EFULL;
  }
  size_t before = c->pending.len;
  if (c->pending.len + c->inflight.len == 0) c->progress_ms = uv_now(ockami_node_uv(tcp->node));
  int rc = ockami_tm_encode_frame(m, &c->pending);
  c->queued_total += c->pending.len - before;
  tcp->stats.output_bytes += c->pending.len - before;
  if (tcp->stats.output_bytes > tcp->stats.output_bytes_max)
    tcp->stats.output_bytes_max = tcp->stats.output_bytes;
  /* A peer that does not read its replies is not read either: it cannot
   * make this node queue more for it. */
  if (c->pending.len + c->inflight.len >= OCKAM_TCP_OUTPUT_PAUSE_BYTES &&
      !(c->pause_why & PAUSE_OUTPUT) && c->state == CONN_OPEN) {
    tcp->stats.output_paused++;
    pause_reading(c, PAUSE_OUTPUT);
  }
  if (rc) {
    tcp->stats.dropped++;
    LOG_WARN(MOD, "cannot frame message for %s: %s", c->peer, ockam_strerror(rc));
    return rc;
  }
  tcp->stats.frames_out++;
  conn_mark_dirty(c);
  return OCKAM_OK;
}

/* ---- reading -------------------------------------------------------------- */

/* Reads land in the transport's shared buffer; a connection holds bytes of
 * its own only while a frame is incomplete (then reads append to them). */
static void alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *buf) {
  sock *s = h->data;
  conn *c = s->c;
  (void)suggested;
  if (c && c->rbuf.len == 0) {
    *buf = uv_buf_init((char *)c->tcp->rshared, OCKAM_TCP_READ_BUFFER);
    return;
  }
  size_t need = 2 + OCKAM_FRAME_MAX;
  if (c && c->rbuf.len >= 2) need = 2 + (((size_t)c->rbuf.data[0] << 8) | c->rbuf.data[1]);
  if (!c || need <= c->rbuf.len || ockami_buf_reserve(&c->rbuf, need - c->rbuf.len) != OCKAM_OK) {
    *buf = uv_buf_init(NULL, 0);
    return;
  }
  *buf = uv_buf_init((char *)c->rbuf.data + c->rbuf.len, (unsigned)(need - c->rbuf.len));
}

static void conn_close_bad_peer(conn *c, int err, const char *what) {
  c->tcp->stats.malformed++;
  LOG_WARN(MOD, "closing connection %s: %s (%s)", c->peer, what, ockam_strerror(err));
  conn_lost(c, UV_EPROTO);
}

static void pause_reading(conn *c, uint8_t why) {
  c->pause_why |= why;
  if (c->read_paused || !c->s) return;
  uv_read_stop((uv_stream_t *)&c->s->h);
  c->read_paused = true;
}

static void resume_reading(conn *c, uint8_t why) {
  c->pause_why &= (uint8_t)~why;
  if (c->pause_why || !c->read_paused || !c->s || c->state != CONN_OPEN) return;
  c->read_paused = false;
  tcp_read_start(c);
}

static void resume_all(void *arg) {
  ockam_tcp *tcp = arg;
  for (conn *c = tcp->conns, *next; c; c = next) {
    next = c->next;
    if (c->pause_why & PAUSE_NODE) resume_reading(c, PAUSE_NODE);
  }
}

/* Handles one complete frame body. Returns false when the connection was closed. */
static bool handle_frame(conn *c, const uint8_t *p, size_t n) {
  ockam_tcp *tcp = c->tcp;
  ockam_message *m;
  int rc = ockam_message_new(&m);
  if (rc) return true; /* out of memory: drop the frame, keep the peer */
  rc = ockami_tm_decode(p, n, true, m);
  if (rc) {
    ockam_message_free(m);
    conn_close_bad_peer(c, rc, "malformed frame");
    return false;
  }
  tcp->stats.frames_in++;
  if (m->onward.count == 0) {
    /* Control message (spec §3, Elixir node): payload 00 = ping, answered 01. */
    if (!c->outgoing && m->payload.len == 1 && m->payload.data[0] == 0) {
      ockam_message *pong;
      if (ockam_message_new(&pong) == OCKAM_OK) {
        uint8_t one = 1;
        /* To the ping's return route, with no return route (spec §3). */
        if (m->ret.count && ockami_route_assign(&pong->onward, &m->ret) == OCKAM_OK &&
            ockami_buf_set(&pong->payload, &one, 1) == OCKAM_OK)
          (void)conn_queue_message(c, pong);
        ockam_message_free(pong);
      }
    } else {
      LOG_DEBUG(MOD, "ignoring control message from %s", c->peer);
    }
    ockam_message_free(m);
    return true;
  }
  if (is_pong(c, m)) {
    c->pong_seen = true;
    ockam_message_free(m);
    return true;
  }
  if (c->outgoing)
    rc = ockam_route_prepend(&m->ret, OCKAM_ADDRESS_TCP, c->peer, strlen(c->peer));
  else
    rc = ockam_route_prepend(&m->ret, OCKAM_ADDRESS_LOCAL, ockam_worker_address(c->worker),
                             strlen(ockam_worker_address(c->worker)));
  if (rc == OCKAM_OK) rc = ockam_send_message(tcp->node, m);
  if (rc) {
    LOG_WARN(MOD, "dropping frame from %s: %s", c->peer, ockam_strerror(rc));
    ockam_message_free(m);
  }
  return true;
}

static void burst_cb(uv_check_t *h);

static void read_cb(uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf) {
  sock *s = stream->data;
  conn *c = s->c;
  if (!c) return;
  if (nread < 0) {
    if (nread != UV_EOF) LOG_INFO(MOD, "connection %s: %s", c->peer, uv_strerror((int)nread));
    conn_lost(c, (int)nread);
    return;
  }
  if (nread == 0) return;
  ockam_tcp *tcp = c->tcp;
  tcp->stats.bytes_in += (uint64_t)nread;
  c->last_rx_ms = uv_now(stream->loop);
  const uint8_t *p;
  size_t len;
  bool shared = buf->base == (char *)tcp->rshared;
  if (shared) {
    p = tcp->rshared;
    len = (size_t)nread;
  } else {
    c->rbuf.len += (size_t)nread;
    p = c->rbuf.data;
    len = c->rbuf.len;
  }
  size_t off = 0;
  while (len - off >= 2) {
    size_t n = ((size_t)p[off] << 8) | p[off + 1];
    if (len - off - 2 < n) break;
    if (n == 0) {
      conn_close_bad_peer(c, OCKAM_ETRUNC, "empty frame");
      return;
    }
    if (!handle_frame(c, p + off + 2, n)) return;
    c->got_frame = true;
    c->last_frame_ms = c->last_rx_ms;
    off += 2 + n;
  }
  if (shared) {
    if (off < len && ockami_buf_append(&c->rbuf, p + off, len - off) != OCKAM_OK) {
      conn_lost(c, UV_ENOMEM);
      return;
    }
  } else if (off == c->rbuf.len) {
    ockami_buf_free(&c->rbuf); /* the partial frame is complete: give its memory back */
  } else {
    ockami_buf_consume(&c->rbuf, off);
  }
  if (ockami_node_queue_len(tcp->node) > OCKAM_NODE_QUEUE_HIGH_WATER) pause_reading(c, PAUSE_NODE);
  /* What one loop iteration reads is bounded: the node delivers it before
   * more comes in, so frames waiting in the node stay bounded in bytes too. */
  tcp->burst_bytes += (size_t)nread;
  if (tcp->burst_bytes >= OCKAM_TCP_READ_BURST && c->state == CONN_OPEN) {
    pause_reading(c, PAUSE_BURST);
    if (!tcp->burst_active && !tcp->closing) {
      uv_check_start(&tcp->burst, burst_cb);
      tcp->burst_active = true;
    }
  }
}

static void burst_cb(uv_check_t *h) {
  ockam_tcp *tcp = h->data;
  tcp->burst_bytes = 0;
  uv_check_stop(h);
  tcp->burst_active = false;
  for (conn *c = tcp->conns, *next; c; c = next) {
    next = c->next;
    if (c->pause_why & PAUSE_BURST) resume_reading(c, PAUSE_BURST);
  }
}

static void tcp_read_start(conn *c) {
  int rc = uv_read_start((uv_stream_t *)&c->s->h, alloc_cb, read_cb);
  if (rc < 0) conn_lost(c, rc);
}

static void liveness_start(ockam_tcp *tcp);
static void conn_publish(conn *c, ockam_conn_event_kind kind, int err);

static void conn_opened(conn *c) {
  c->state = CONN_OPEN;
  c->backoff_ms = c->tcp->opt.backoff_min_ms;
  c->last_error = 0;
  c->failing_since = 0;
  c->gave_up = false;
  c->last_rx_ms = c->last_ping_ms = uv_now(ockami_node_uv(c->tcp->node));
  c->opened_ms = c->last_frame_ms = c->progress_ms = c->last_rx_ms;
  uv_tcp_nodelay(&c->s->h, 1);
  uv_tcp_keepalive(&c->s->h, 1, OCKAM_TCP_KEEPALIVE_S);
  tcp_read_start(c);
  if (c->state != CONN_OPEN) return;
  if (c->pending.len || c->inflight.len) conn_mark_dirty(c);
  if (c->outgoing) liveness_start(c->tcp);
  conn_publish(c, OCKAM_CONN_UP, 0);
}

/* ---- connection events and liveness ---------------------------------------- */

static int uv_to_ockam(int err) {
  switch (err) {
    case 0:
      return OCKAM_OK;
    case UV_ECONNREFUSED:
      return OCKAM_ECONNREFUSED;
    case UV_ETIMEDOUT:
      return OCKAM_ETIMEDOUT;
    case UV_EPROTO:
      return OCKAM_EPROTO;
    default:
      return OCKAM_ECONNRESET;
  }
}

static void conn_publish(conn *c, ockam_conn_event_kind kind, int err) {
  ockam_tcp *tcp = c->tcp;
  if (tcp->closing) return;
  ockam_conn_event ev = {.kind = kind, .outgoing = c->outgoing, .error = uv_to_ockam(err)};
  if (c->outgoing) {
    ev.peer.type = OCKAM_ADDRESS_TCP;
    ev.peer.value = (const uint8_t *)c->peer;
    ev.peer.len = (uint8_t)strlen(c->peer);
  } else {
    if (!c->worker) return;
    const char *a = ockam_worker_address(c->worker);
    ev.peer.type = OCKAM_ADDRESS_LOCAL;
    ev.peer.value = (const uint8_t *)a;
    ev.peer.len = (uint8_t)strlen(a);
  }
  ockam_node_publish_conn_event(tcp->node, &ev);
}

/* A ping (spec §3): empty onward route, payload 00. The return route names
 * the transport's router so the pong can be recognised (and is never routed
 * to a worker). */
static void conn_ping(conn *c) {
  ockam_message *ping;
  if (ockam_message_new(&ping) != OCKAM_OK) return;
  const char *self = ockam_worker_address(c->tcp->router);
  uint8_t zero = 0;
  if (ockam_route_append(&ping->ret, OCKAM_ADDRESS_LOCAL, self, strlen(self)) == OCKAM_OK &&
      ockami_buf_set(&ping->payload, &zero, 1) == OCKAM_OK)
    (void)conn_queue_message(c, ping);
  ockam_message_free(ping);
}

static bool is_pong(const conn *c, const ockam_message *m) {
  ockam_address a;
  return c->outgoing && m->onward.count == 1 && m->payload.len == 1 && m->payload.data[0] == 1 &&
         ockami_route_first(&m->onward, &a) &&
         ockami_address_is(&a, OCKAM_ADDRESS_LOCAL, ockam_worker_address(c->tcp->router));
}

static void liveness_cb(uv_timer_t *h) {
  ockam_tcp *tcp = h->data;
  uint64_t now = uv_now(h->loop);
  bool any = false;
  for (conn *c = tcp->conns, *next; c; c = next) {
    next = c->next;
    if (!c->outgoing || c->state != CONN_OPEN) continue;
    any = true;
    uint64_t silent = now - c->last_rx_ms;
    if (c->pong_seen && silent >= tcp->opt.dead_after_ms) {
      LOG_INFO(MOD, "connection %s: no answer for %llu ms; reconnecting", c->peer,
               (unsigned long long)silent);
      conn_lost(c, UV_ETIMEDOUT);
      continue;
    }
    if (silent >= tcp->opt.ping_idle_ms && now - c->last_ping_ms >= tcp->opt.ping_idle_ms) {
      c->last_ping_ms = now;
      conn_ping(c);
    }
  }
  if (!any) {
    uv_timer_stop(&tcp->liveness);
    tcp->liveness_active = false;
  }
}

static void liveness_start(ockam_tcp *tcp) {
  if (tcp->liveness_active || tcp->opt.no_ping || tcp->closing) return;
  uint64_t tick = tcp->opt.ping_idle_ms / 4 ? tcp->opt.ping_idle_ms / 4 : 1;
  uv_timer_start(&tcp->liveness, liveness_cb, tick, tick);
  tcp->liveness_active = true;
}

/* ---- outgoing connections -------------------------------------------------- */

static void backoff_cb(void *arg) {
  conn *c = arg;
  c->timer = NULL;
  c->tcp->stats.reconnects++;
  conn_start_connect(c);
}

static void conn_lost(conn *c, int err) {
  ockam_tcp *tcp = c->tcp;
  bool was_open = c->state == CONN_OPEN;
  sock_detach_close(c);
  c->writing = false;
  c->read_paused = false;
  c->pause_why = 0;
  ockami_buf_free(&c->rbuf);
  c->last_error = err;
  if (was_open && tcp->stats.open_connections) tcp->stats.open_connections--;
  if (!c->outgoing || tcp->closing) {
    if (!c->outgoing && tcp->accepted_open) tcp->accepted_open--;
    if (was_open) conn_publish(c, OCKAM_CONN_DOWN, err);
    c->state = CONN_CLOSED;
    conn_unlink_free(c);
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
    c->inflight.len = 0;
    c->inflight_off = 0;
  }
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
    c->gave_up = true;
    if (!c->persistent) {
      c->state = CONN_CLOSED;
      conn_unlink_free(c);
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
  if (was_open) conn_publish(c, OCKAM_CONN_DOWN, err);
}

static void connect_cb(uv_connect_t *req, int status) {
  sock *s = req->data;
  conn *c = s->c;
  if (!c) return;
  if (status < 0) {
    LOG_DEBUG(MOD, "connect to %s failed: %s", c->peer, uv_strerror(status));
    conn_lost(c, status);
    return;
  }
  c->tcp->stats.connects++;
  c->tcp->stats.open_connections++;
  LOG_DEBUG(MOD, "connected to %s", c->peer);
  conn_opened(c);
}

static void connect_addr(conn *c, const struct sockaddr *addr) {
  sock *s = calloc(1, sizeof *s);
  if (!s) {
    conn_lost(c, UV_ENOMEM);
    return;
  }
  s->c = c;
  uv_tcp_init(ockami_node_uv(c->tcp->node), &s->h);
  s->h.data = s;
  s->connect_req.data = s;
  c->s = s;
  c->state = CONN_CONNECTING;
  int rc = uv_tcp_connect(&s->connect_req, &s->h, addr, connect_cb);
  if (rc < 0) conn_lost(c, rc);
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
    conn_lost(c, status < 0 ? status : UV_EAI_NONAME);
    return;
  }
  connect_addr(c, res->ai_addr);
  uv_freeaddrinfo(res);
}

static void conn_start_connect(conn *c) {
  char host[256];
  int port;
  if (split_host_port(c->peer, host, sizeof host, &port)) {
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
    conn_lost(c, UV_ENOMEM);
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
    conn_lost(c, rc);
  }
}

/* Creates the outgoing connection to peer (len bytes, not NUL-terminated) and
 * starts connecting. Only for destinations the node asked for. */
static int outgoing_open(ockam_tcp *tcp, const char *peer, size_t len, conn **out) {
  char host[256];
  int port;
  char tmp[OCKAM_ADDRESS_MAX_LEN + 1];
  if (len == 0 || len > OCKAM_ADDRESS_MAX_LEN) return OCKAM_EADDR;
  memcpy(tmp, peer, len);
  tmp[len] = '\0';
  if (strlen(tmp) != len || split_host_port(tmp, host, sizeof host, &port)) return OCKAM_EADDR;
  if (tcp->accepted_open + tcp->outgoing_count >= tcp->opt.max_connections) {
    tcp->stats.rejected++;
    LOG_WARN(MOD, "connection limit (%u) reached; not connecting to %s", tcp->opt.max_connections,
             tmp);
    return OCKAM_EFULL;
  }
  conn *c = conn_new(tcp, tmp, len, true);
  if (!c) return OCKAM_ENOMEM;
  if (ockami_map_put(&tcp->outgoing, c->peer, len, c) != OCKAM_OK) {
    c->outgoing = false;
    conn_unlink_free(c);
    return OCKAM_ENOMEM;
  }
  tcp->outgoing_count++;
  conn_start_connect(c);
  *out = c;
  return OCKAM_OK;
}

/* May the router open peer on first use? */
static bool dial_allowed(const ockam_tcp *tcp, const uint8_t *peer, size_t len) {
  if (tcp->opt.connect_on_use) return true;
  for (size_t i = 0; i < tcp->n_allow; i++)
    if (strlen(tcp->allow[i]) == len && memcmp(tcp->allow[i], peer, len) == 0) return true;
  return false;
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
    if (!dial_allowed(tcp, a.value, a.len)) {
      tcp->stats.dials_refused++;
      tcp->stats.dropped++;
      char hop[OCKAM_ADDRESS_MAX_LEN + 8];
      ockam_route_format(&m->onward, hop, sizeof hop);
      LOG_WARN(MOD, "no connection to %s (not connected, not allowed); dropping message", hop);
      return OCKAM_ENOTFOUND;
    }
    int rc = outgoing_open(tcp, (const char *)a.value, a.len, &c);
    if (rc) {
      tcp->stats.dropped++;
      if (rc == OCKAM_EADDR) LOG_WARN(MOD, "invalid TCP address; dropping message");
      return rc;
    }
  }
  ockam_route_pop(&m->onward);
  return conn_queue_message(c, m);
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
  return conn_queue_message(c, m);
}

static void accepted_stopped(ockam_worker *w) {
  conn *c = ockam_worker_user(w);
  if (c) c->worker = NULL;
}

static const ockam_worker_ops accepted_ops = {accepted_handle, accepted_stopped};

static void listener_close_cb(uv_handle_t *h) {
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
  while (tcp->listeners) {
    listener *l = tcp->listeners;
    tcp->listeners = l->next;
    uv_close((uv_handle_t *)&l->h, listener_close_cb);
  }
  while (tcp->conns) {
    conn *c = tcp->conns;
    conn_unlink_free(c);
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
    uv_check_stop(&tcp->burst);
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
    uv_close((uv_handle_t *)&s->h, sock_close_cb);
    return;
  }
  if (tcp->accepted_open >= tcp->opt.max_connections) {
    tcp->stats.rejected++;
    LOG_WARN(MOD, "connection limit (%u) reached; refusing a connection", tcp->opt.max_connections);
    uv_close((uv_handle_t *)&s->h, sock_close_cb);
    return;
  }
  struct sockaddr_storage ss;
  int len = sizeof ss;
  char peer[80] = "unknown", ip[48] = "";
  if (uv_tcp_getpeername(&s->h, (struct sockaddr *)&ss, &len) == 0) {
    format_peer(&ss, peer, sizeof peer);
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
    uv_close((uv_handle_t *)&s->h, sock_close_cb);
    return;
  }
  conn *c = conn_new(tcp, peer, strlen(peer), false);
  if (!c) {
    uv_close((uv_handle_t *)&s->h, sock_close_cb);
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
  if (ockam_worker_start(tcp->node, addrs, 1, &accepted_ops, c, &c->worker) != OCKAM_OK) {
    conn_unlink_free(c);
    return;
  }
  tcp->accepted_open++;
  tcp->stats.accepted++;
  tcp->stats.open_connections++;
  LOG_DEBUG(MOD, "accepted %s as 0#%s", peer, addr);
  conn_opened(c);
  hygiene_start(tcp);
}

/* ---- connection hygiene ------------------------------------------------------ */

/* Once a second: accepted connections that sent no complete frame in time or
 * went idle, and any connection whose queued output stopped moving, are
 * closed (counted). */
static void hygiene_cb(uv_timer_t *h) {
  ockam_tcp *tcp = h->data;
  uint64_t now = uv_now(h->loop);
  bool any = false;
  for (conn *c = tcp->conns, *next; c; c = next) {
    next = c->next;
    if (c->state != CONN_OPEN) continue;
    if (!c->outgoing) any = true;
    const char *why = NULL;
    if (c->pending.len + c->inflight.len && now - c->progress_ms >= tcp->opt.write_stall_ms) {
      tcp->stats.closed_stalled++;
      why = "its replies are not being read";
    } else if (!c->outgoing && !c->got_frame && now - c->opened_ms >= tcp->opt.first_frame_ms) {
      tcp->stats.closed_first_frame++;
      why = "no complete frame in time";
    } else if (!c->outgoing && tcp->opt.idle_ms != UINT32_MAX &&
               now - c->last_frame_ms >= tcp->opt.idle_ms) {
      tcp->stats.closed_idle++;
      why = "idle";
    }
    if (why) {
      LOG_INFO(MOD, "closing connection %s: %s", c->peer, why);
      conn_lost(c, UV_ETIMEDOUT);
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

int ockam_tcp_listen(ockam_tcp *tcp, const char *host_port, char *bound, size_t bound_cap) {
  if (!tcp || !host_port) return OCKAM_EINVAL;
  if (tcp->closing) return OCKAM_ECLOSED;
  if (bound && bound_cap < OCKAM_TCP_ADDRESS_CAP) return OCKAM_ETOOSMALL;
  char host[256];
  int port;
  int rc = split_host_port(host_port, host, sizeof host, &port);
  if (rc) return rc;
  struct sockaddr_storage ss;
  if (uv_ip4_addr(host, port, (struct sockaddr_in *)&ss) != 0 &&
      uv_ip6_addr(host, port, (struct sockaddr_in6 *)&ss) != 0)
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
    uv_close((uv_handle_t *)&l->h, listener_close_cb);
    return urc == UV_EADDRINUSE ? OCKAM_EEXIST : OCKAM_EIO;
  }
  l->next = tcp->listeners;
  tcp->listeners = l;
  if (bound) {
    struct sockaddr_storage b;
    int blen = sizeof b;
    if (uv_tcp_getsockname(&l->h, (struct sockaddr *)&b, &blen) == 0)
      format_peer(&b, bound, bound_cap);
    else
      snprintf(bound, bound_cap, "%s", host_port);
  }
  LOG_INFO(MOD, "listening on %s", host_port);
  return OCKAM_OK;
}

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
  uv_check_init(ockami_node_uv(node), &tcp->burst);
  tcp->burst.data = tcp;
  uv_unref((uv_handle_t *)&tcp->burst);
  uv_timer_init(ockami_node_uv(node), &tcp->hygiene);
  tcp->hygiene.data = tcp;
  uv_unref((uv_handle_t *)&tcp->hygiene);
  ockami_node_set_drain_cb(node, resume_all, tcp);
  ockami_flush_probe probe = {probe_mark, probe_narrow, probe_reached, tcp};
  ockami_node_set_flush_probe(node, &probe);
  *out = tcp;
  return OCKAM_OK;
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
    int orc = outgoing_open(tcp, host_port, len, &c);
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
