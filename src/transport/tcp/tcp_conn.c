/* TCP transport: one connection's lifetime, writing (framing, output
 * queue, flush), reading (frames, pauses, read bursts), connection events
 * and liveness pings. */
#include "tcp_internal.h"

#include "bytes.h"

static void resume_reading(conn *c, uint8_t why);
static void pause_reading(conn *c, uint8_t why);
static void conn_mark_dirty(conn *c);
static void tcp_read_start(conn *c);
static bool is_pong(const conn *c, const ockam_message *m);
static void pause_for(conn *c, uint8_t why);

/* ---- connection lifetime ------------------------------------------------- */

void ockami_tcp_sock_close_cb(uv_handle_t *h) {
  free(h->data);
}

void ockami_tcp_sock_detach_close(conn *c) {
  sock *s = c->s;
  if (!s) return;
  c->s = NULL;
  s->c = NULL;
  if (!uv_is_closing((uv_handle_t *)&s->h))
    uv_close((uv_handle_t *)&s->h, ockami_tcp_sock_close_cb);
}

void ockami_tcp_conn_unlink_free(conn *c) {
  ockam_tcp *tcp = c->tcp;
  ockami_node_direct_bump(tcp->node); /* senders may hold c as a direct output */
  if (tcp->last_read == c) tcp->last_read = NULL;
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
  ockami_tcp_sock_detach_close(c);
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
  ockami_tcp_rbuf_counted(c);
  ockami_buf_free(&c->pending);
  ockami_buf_free(&c->inflight);
  ockami_tcp_output_counted(c);
  free(c->peer);
  free(c);
}

conn *ockami_tcp_conn_new(ockam_tcp *tcp, const char *peer, size_t peer_len, bool outgoing) {
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

/* n more bytes of the in-flight buffer reached the kernel. */
static void wrote(conn *c, size_t n) {
  c->tcp->stats.bytes_out += n;
  c->inflight_off += n;
  c->progress_ms = uv_now(ockami_node_uv(c->tcp->node));
}

/* The whole in-flight buffer is written. May free c (last thing to call). */
static void inflight_done(conn *c) {
  ockam_tcp *tcp = c->tcp;
  tcp->stats.output_bytes -= c->inflight.len;
  c->inflight.len = 0;
  c->inflight_off = 0;
  if (c->pending.len) {
    conn_mark_dirty(c); /* the buffer just written takes the next frames */
  } else if (tcp->output_held >= tcp->opt.output_budget / 2) {
    /* Nothing left to write and memory is short: give the buffers back.
     * Otherwise they are kept for the next frames (and counted), and the
     * hygiene timer gives them back within a second (ockami_tcp_output_trim):
     * idle connections hold at most half the budget together. */
    ockami_tcp_output_trim(c);
  }
  /* The peer reads again: read from it again. */
  if ((c->pause_why & PAUSE_OUTPUT) && c->pending.len < OCKAM_TCP_OUTPUT_PAUSE_BYTES / 2)
    resume_reading(c, PAUSE_OUTPUT);
}

static void write_cb(uv_write_t *req, int status) {
  sock *s = req->data;
  conn *c = s->c;
  if (!c) return; /* socket was detached; conn may be gone */
  c->writing = false;
  if (status < 0) {
    ockami_tcp_conn_lost(c, status);
    return;
  }
  wrote(c, s->wbuf.len);
  if (c->inflight_off < c->inflight.len)
    write_next_chunk(c);
  else
    inflight_done(c);
}

/* Writes what the kernel takes at once without a write request (most writes:
 * then the loop neither changes the socket's poll registration nor runs a
 * callback for it), and hands the rest of the chunk to uv_write. */
static void write_next_chunk(conn *c) {
  sock *s = c->s;
  for (;;) {
    size_t left = c->inflight.len - c->inflight_off;
    size_t n = left < OCKAM_TCP_WRITE_CHUNK ? left : OCKAM_TCP_WRITE_CHUNK;
    uv_buf_t b = uv_buf_init((char *)c->inflight.data + c->inflight_off, (unsigned)n);
    int w = uv_try_write((uv_stream_t *)&s->h, &b, 1);
    if (w == UV_EAGAIN) w = 0;
    if (w < 0) {
      ockami_tcp_conn_lost(c, w);
      return;
    }
    if (w > 0) wrote(c, (size_t)w);
    if ((size_t)w < n) break; /* the socket is full: wait for it */
    if (c->inflight_off == c->inflight.len) {
      inflight_done(c);
      return;
    }
  }
  size_t left = c->inflight.len - c->inflight_off;
  size_t n = left < OCKAM_TCP_WRITE_CHUNK ? left : OCKAM_TCP_WRITE_CHUNK;
  s->wbuf = uv_buf_init((char *)c->inflight.data + c->inflight_off, (unsigned)n);
  s->wreq.data = s;
  int rc = uv_write(&s->wreq, (uv_stream_t *)&s->h, &s->wbuf, 1, write_cb);
  if (rc < 0) {
    ockami_tcp_conn_lost(c, rc);
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

/* Does c take one more frame now? Counts and logs the drop when not. */
static int conn_admit(conn *c) {
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
  /* The budget counts the memory the output buffers hold, not only the
   * bytes queued in them. */
  if (tcp->output_held >= tcp->opt.output_budget) {
    tcp->stats.dropped++;
    tcp->stats.dropped_budget++;
    LOG_WARN(MOD, "output budget (%zu bytes on all connections) used up, dropping a frame for %s",
             tcp->opt.output_budget, c->peer);
    /* Its requests would only cause more replies to drop: read no more of
     * them until the budget is half free. */
    if (c->state == CONN_OPEN) pause_for(c, PAUSE_BUDGET);
    return OCKAM_EFULL;
  }
  return OCKAM_OK;
}

/* Accounting after bytes were appended to c->pending (it held `before`). */
static void conn_queued(conn *c, size_t before) {
  ockam_tcp *tcp = c->tcp;
  ockami_tcp_output_counted(c);
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
}

int ockami_tcp_conn_queue_message(conn *c, const ockam_message *m) {
  ockam_tcp *tcp = c->tcp;
  int rc = conn_admit(c);
  if (rc) return rc;
  size_t before = c->pending.len;
  if (c->pending.len + c->inflight.len == 0) c->progress_ms = uv_now(ockami_node_uv(tcp->node));
  rc = ockami_tm_encode_frame(m, &c->pending);
  conn_queued(c, before);
  if (rc) {
    tcp->stats.dropped++;
    LOG_WARN(MOD, "cannot frame message for %s: %s", c->peer, ockam_strerror(rc));
    return rc;
  }
  tcp->stats.frames_out++;
  conn_mark_dirty(c);
  return OCKAM_OK;
}

/* Direct output (ockami_direct_output in node.h): the same checks and
 * accounting as ockami_tcp_conn_queue_message, for a frame body the caller
 * writes itself. Anything unusual answers NULL: the caller then sends a
 * message, which takes the path above (and is counted there if dropped). */
uint8_t *ockami_tcp_direct_reserve(conn *c, size_t len) {
  ockam_tcp *tcp = c->tcp;
  if (c->state != CONN_OPEN || len == 0 || len > OCKAM_FRAME_MAX || tcp->closing ||
      c->pending.len + c->inflight.len >= tcp->opt.send_queue_bytes ||
      tcp->output_held >= tcp->opt.output_budget ||
      ockami_buf_reserve(&c->pending, 2 + len) != OCKAM_OK)
    return NULL;
  return c->pending.data + c->pending.len + 2;
}

void ockami_tcp_direct_commit(conn *c, size_t len) {
  ockam_tcp *tcp = c->tcp;
  size_t before = c->pending.len;
  if (c->pending.len + c->inflight.len == 0) c->progress_ms = uv_now(ockami_node_uv(tcp->node));
  ockami_store_be16(c->pending.data + before, (uint16_t)len);
  c->pending.len = before + 2 + len;
  conn_queued(c, before);
  tcp->stats.frames_out++;
  conn_mark_dirty(c);
  /* A sender running in the loop's prepare phase (a channel flushing its
   * batch) may come after the flush handle's turn in this iteration: that
   * sender wakes the node (ockami_node_wake) so the poll does not block
   * before the next turn writes the frame. From any other phase the flush
   * handle runs before the next poll. */
}

/* ---- reading -------------------------------------------------------------- */

/* Keeps tcp->output_held equal to the sum of the connections' output buffer
 * capacities. */
void ockami_tcp_output_counted(conn *c) {
  ockam_tcp *tcp = c->tcp;
  tcp->output_held -= c->out_counted;
  c->out_counted = c->pending.cap + c->inflight.cap;
  tcp->output_held += c->out_counted;
}

/* Frees the output buffers of a connection that has nothing to write. */
void ockami_tcp_output_trim(conn *c) {
  if (c->writing || c->pending.len || c->inflight.len || !c->out_counted) return;
  ockami_buf_free(&c->pending);
  ockami_buf_free(&c->inflight);
  ockami_tcp_output_counted(c);
}

/* Keeps tcp->partial_bytes equal to the sum of the connections' rbuf.cap. */
void ockami_tcp_rbuf_counted(conn *c) {
  ockam_tcp *tcp = c->tcp;
  tcp->partial_bytes -= c->rbuf_counted;
  c->rbuf_counted = c->rbuf.cap;
  tcp->partial_bytes += c->rbuf_counted;
  tcp->stats.partial_bytes = tcp->partial_bytes;
}

/* Does the node have more than 1/div of what it may hold from the network
 * waiting for delivery (messages or bytes)? */
static bool node_busy(const ockam_node *node, size_t div) {
  return ockami_node_queue_len(node) > OCKAM_TCP_NODE_QUEUE_PAUSE / div ||
         ockami_node_queue_bytes(node) > OCKAM_TCP_NODE_QUEUE_PAUSE_BYTES / div;
}

/* Reads land in the transport's shared buffer; a connection holds bytes of
 * its own only while a frame is incomplete (then reads append to them).
 * No buffer is given (the connection pauses, see read_cb) once this loop
 * iteration's read burst is used up or the node has enough to deliver:
 * every connection that is ready in one poll would otherwise be read once. */
static void alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *buf) {
  sock *s = h->data;
  conn *c = s->c;
  (void)suggested;
  if (c) {
    ockam_tcp *tcp = c->tcp;
    c->refused = 0;
    if (tcp->burst_bytes >= OCKAM_TCP_READ_BURST)
      c->refused = PAUSE_BURST;
    else if (node_busy(tcp->node, 1))
      c->refused = PAUSE_NODE;
    if (c->refused) {
      *buf = uv_buf_init(NULL, 0);
      return;
    }
  }
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
  ockami_tcp_rbuf_counted(c);
  *buf = uv_buf_init((char *)c->rbuf.data + c->rbuf.len, (unsigned)(need - c->rbuf.len));
}

static void conn_close_bad_peer(conn *c, int err, const char *what) {
  c->tcp->stats.malformed++;
  LOG_WARN(MOD, "closing connection %s: %s (%s)", c->peer, what, ockam_strerror(err));
  ockami_tcp_conn_lost(c, UV_EPROTO);
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

void ockami_tcp_resume_all(void *arg) {
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
          (void)ockami_tcp_conn_queue_message(c, pong);
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

/* While the connections hold more than OCKAM_TCP_PARTIAL_BUDGET bytes in
 * incomplete frames, closes the one whose partial frame is oldest (a peer that
 * starts frames and never finishes them). Returns false when `self` was closed. */
static bool enforce_partial_budget(ockam_tcp *tcp, conn *self) {
  while (tcp->partial_bytes > OCKAM_TCP_PARTIAL_BUDGET) {
    conn *victim = NULL;
    for (conn *c = tcp->conns; c; c = c->next)
      if (c->state == CONN_OPEN && c->rbuf.cap &&
          (!victim || c->partial_since_ms < victim->partial_since_ms))
        victim = c;
    if (!victim) return true;
    tcp->stats.closed_partial++;
    LOG_WARN(MOD, "closing connection %s: incomplete frames of all connections over %u bytes",
             victim->peer, OCKAM_TCP_PARTIAL_BUDGET);
    bool is_self = victim == self;
    ockami_tcp_conn_lost(victim, UV_ENOBUFS);
    if (is_self) return false;
  }
  return true;
}

static void read_cb(uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf) {
  sock *s = stream->data;
  conn *c = s->c;
  if (!c) return;
  if (nread == UV_ENOBUFS && c->refused) {
    uint8_t why = c->refused;
    c->refused = 0;
    pause_for(c, why);
    return;
  }
  if (nread < 0) {
    if (nread != UV_EOF) LOG_INFO(MOD, "connection %s: %s", c->peer, uv_strerror((int)nread));
    ockami_tcp_conn_lost(c, (int)nread);
    return;
  }
  if (nread == 0) return;
  ockam_tcp *tcp = c->tcp;
  tcp->stats.bytes_in += (uint64_t)nread;
  tcp->last_read = c;
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
      ockami_tcp_conn_lost(c, UV_ENOMEM);
      return;
    }
    if (off < len) c->partial_since_ms = c->last_rx_ms;
  } else if (off == c->rbuf.len) {
    ockami_buf_free(&c->rbuf); /* the partial frame is complete: give its memory back */
  } else {
    ockami_buf_consume(&c->rbuf, off);
    c->partial_since_ms = c->last_rx_ms; /* a new partial frame starts */
  }
  ockami_tcp_rbuf_counted(c);
  if (!enforce_partial_budget(tcp, c)) return;
  /* What one loop iteration reads is bounded: the node delivers it before
   * more comes in, so frames waiting in the node stay bounded in bytes too. */
  tcp->burst_bytes += (size_t)nread;
  if (c->state != CONN_OPEN) return;
  if (node_busy(tcp->node, 1))
    pause_for(c, PAUSE_NODE);
  else if (tcp->burst_bytes >= OCKAM_TCP_READ_BURST)
    pause_for(c, PAUSE_BURST);
}

/* Before each poll (the node has delivered what the last one read): a new
 * read burst starts, and connections paused for the burst, for the node's
 * queue (once half of it is delivered) or for the output budget (once half
 * of it is free) are read again. Runs while any connection waits for one of
 * these. */
static void burst_cb(uv_prepare_t *h) {
  ockam_tcp *tcp = h->data;
  tcp->burst_bytes = 0;
  uint8_t why = 0;
  if (tcp->burst_paused) why |= PAUSE_BURST;
  if (tcp->node_paused && !node_busy(tcp->node, 2)) why |= PAUSE_NODE;
  if (tcp->budget_paused && tcp->output_held < tcp->opt.output_budget / 2) why |= PAUSE_BUDGET;
  if (why) {
    tcp->burst_paused = false;
    if (why & PAUSE_NODE) tcp->node_paused = false;
    if (why & PAUSE_BUDGET) tcp->budget_paused = false;
    /* In list order from the one after the connection read last, so that
     * the first to be read again are those that waited longest (the poll
     * reports them in the order they were started). */
    conn *start = tcp->last_read && tcp->last_read->next ? tcp->last_read->next : tcp->conns;
    for (conn *c = start, *next; c; c = next) {
      next = c->next;
      if (c->pause_why & why) resume_reading(c, c->pause_why & why);
    }
    for (conn *c = tcp->conns, *next; c; c = next) {
      next = c->next;
      if (c->pause_why & why) resume_reading(c, c->pause_why & why);
    }
  }
  if (!tcp->burst_paused && !tcp->node_paused && !tcp->budget_paused) {
    uv_prepare_stop(h);
    tcp->burst_active = false;
  }
}

/* Stops reading c for `why` (PAUSE_BURST, PAUSE_NODE or PAUSE_BUDGET) until
 * burst_cb finds the reason gone. */
static void pause_for(conn *c, uint8_t why) {
  ockam_tcp *tcp = c->tcp;
  pause_reading(c, why);
  if (why == PAUSE_BURST) tcp->burst_paused = true;
  if (why == PAUSE_NODE) tcp->node_paused = true;
  if (why == PAUSE_BUDGET) tcp->budget_paused = true;
  if (tcp->burst_active || tcp->closing) return;
  uv_prepare_start(&tcp->burst, burst_cb);
  tcp->burst_active = true;
}

static void tcp_read_start(conn *c) {
  int rc = uv_read_start((uv_stream_t *)&c->s->h, alloc_cb, read_cb);
  if (rc < 0) ockami_tcp_conn_lost(c, rc);
}

static void liveness_start(ockam_tcp *tcp);

void ockami_tcp_conn_opened(conn *c) {
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
  ockami_tcp_conn_publish(c, OCKAM_CONN_UP, 0);
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

void ockami_tcp_conn_publish(conn *c, ockam_conn_event_kind kind, int err) {
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
    (void)ockami_tcp_conn_queue_message(c, ping);
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
      ockami_tcp_conn_lost(c, UV_ETIMEDOUT);
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
