/* TCP framing (tcp.c, spec §2): `u16 big-endian length ‖ TransportMessage`
 * read from a real loopback socket. A frame split over many reads, many
 * frames in one read, and frames that must close their connection (one that
 * does not decode, a length the body does not fill, an empty frame) while
 * another connection goes on being served. The client is a plain blocking
 * socket in this thread; the node's loop runs between its writes. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "direct_send.h"
#include "ockam/limits.h"
#include "ockam/log.h"
#include "ockam/node.h"
#include "ockam/tcp.h"
#include "test_support.h"

/* Generous bound for anything that must happen; only reached on failure. */
#define ARRIVE_MS 10000
#define MAX_RECORDED 512

typedef struct recorder {
  char texts[MAX_RECORDED][16];
  size_t n;
  ockam_route *last_return; /* of the last message recorded */
} recorder;

static int recorder_handle(ockam_worker *w, ockam_message *m) {
  recorder *r = ockam_worker_user(w);
  const char *s;
  size_t len;
  if (r->n < MAX_RECORDED && ockam_message_get_string(m, &s, &len) == OCKAM_OK && len < 16) {
    memcpy(r->texts[r->n], s, len);
    r->texts[r->n][len] = '\0';
    r->n++;
    ockam_route_free(r->last_return);
    r->last_return = NULL;
    assert_int_equal(ockam_route_copy(ockam_message_return(m), &r->last_return), OCKAM_OK);
  }
  return OCKAM_OK;
}

typedef struct fixture {
  ockam_node *node;
  ockam_tcp *tcp;
  recorder rec;
  char bound[OCKAM_TCP_ADDRESS_CAP];
} fixture;

static fixture *setup(void) {
  static const ockam_worker_ops ops = {recorder_handle, NULL};
  fixture *f = calloc(1, sizeof *f);
  assert_non_null(f);
  assert_int_equal(ockam_node_create(&f->node), OCKAM_OK);
  assert_int_equal(ockam_tcp_create(f->node, NULL, &f->tcp), OCKAM_OK);
  assert_int_equal(ockam_tcp_listen(f->tcp, "127.0.0.1:0", f->bound, sizeof f->bound), OCKAM_OK);
  const char *a[1] = {"rec"};
  assert_int_equal(ockam_worker_start(f->node, a, 1, &ops, &f->rec, NULL), OCKAM_OK);
  return f;
}

static void teardown(fixture *f) {
  ockam_route_free(f->rec.last_return);
  ockam_tcp_close(f->tcp);
  ockam_node_destroy(f->node);
  free(f);
}

static int dial(const fixture *f) {
  int fd = ts_dial(f->bound);
  assert_true(fd >= 0);
  return fd;
}

/* Never blocks: when the socket buffer is full, the node's loop runs so that
 * it reads. */
static void send_all(fixture *f, int fd, const uint8_t *p, size_t n) {
  while (n) {
    ssize_t k = send(fd, p, n, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (k < 0 && (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK)) {
      assert_int_equal(ockam_node_run_until(f->node, 1, NULL, NULL), OCKAM_OK);
      continue;
    }
    assert_true(k > 0);
    p += k;
    n -= (size_t)k;
  }
}

/* A frame to [0#rec] carrying the BARE string text; returns its length. */
static size_t frame(uint8_t *out, size_t cap, const char *text) {
  ockam_message *m;
  assert_int_equal(ockam_message_new(&m), OCKAM_OK);
  assert_int_equal(ockam_route_append_str(ockam_message_onward_mut(m), "rec"), OCKAM_OK);
  assert_int_equal(ockam_route_append_str(ockam_message_return_mut(m), "app"), OCKAM_OK);
  assert_int_equal(ockam_message_set_string(m, text, strlen(text)), OCKAM_OK);
  size_t n;
  assert_int_equal(ockam_message_encode(m, out + 2, cap - 2, &n), OCKAM_OK);
  ockam_message_free(m);
  out[0] = (uint8_t)(n >> 8);
  out[1] = (uint8_t)n;
  return n + 2;
}

typedef struct want {
  const recorder *rec;
  size_t n;
} want;

static bool have(void *arg) {
  const want *w = arg;
  return w->rec->n >= w->n;
}

static void run_until_recorded(fixture *f, size_t n) {
  want w = {&f->rec, n};
  assert_int_equal(ockam_node_run_until(f->node, ARRIVE_MS, have, &w), OCKAM_OK);
}

/* True once the node closed fd (orderly or reset), running the loop meanwhile. */
static bool closed_by_node(fixture *f, int fd) {
  for (int i = 0; i < ARRIVE_MS / 5; i++) {
    assert_int_equal(ockam_node_run_until(f->node, 5, NULL, NULL), OCKAM_OK);
    struct pollfd p = {fd, POLLIN, 0};
    if (poll(&p, 1, 0) == 1) {
      uint8_t b[64];
      ssize_t k = recv(fd, b, sizeof b, MSG_DONTWAIT);
      if (k == 0 || (k < 0 && errno != EAGAIN && errno != EWOULDBLOCK)) return true;
    }
  }
  return false;
}

static void test_frame_split_across_reads(void **state) {
  (void)state;
  fixture *f = setup();
  int fd = dial(f);
  uint8_t b[256];
  for (int k = 0; k < 3; k++) {
    char text[16];
    snprintf(text, sizeof text, "split-%d", k);
    size_t n = frame(b, sizeof b, text);
    /* One byte at a time, the loop running between them: the length header
     * and the body both arrive in pieces. */
    for (size_t i = 0; i < n; i++) {
      send_all(f, fd, b + i, 1);
      assert_int_equal(ockam_node_run_until(f->node, 2, NULL, NULL), OCKAM_OK);
      if (i + 1 < n) assert_int_equal(f->rec.n, (size_t)k); /* nothing before the last byte */
    }
    run_until_recorded(f, (size_t)k + 1);
    assert_string_equal(f->rec.texts[k], text);
  }
  close(fd);
  teardown(f);
}

static void test_many_frames_in_one_read(void **state) {
  (void)state;
  fixture *f = setup();
  int fd = dial(f);
  enum { N = 300 };
  static uint8_t buf[N * 64];
  size_t len = 0;
  for (int i = 0; i < N; i++) {
    char text[16];
    snprintf(text, sizeof text, "m%d", i);
    len += frame(buf + len, sizeof buf - len, text);
  }
  /* One write; the last frame's tail is sent later, so it ends mid-frame. */
  send_all(f, fd, buf, len - 3);
  run_until_recorded(f, N - 1);
  assert_int_equal(ockam_node_run_until(f->node, 20, NULL, NULL), OCKAM_OK);
  assert_int_equal(f->rec.n, N - 1);
  send_all(f, fd, buf + len - 3, 3);
  run_until_recorded(f, N);
  for (int i = 0; i < N; i++) {
    char text[16];
    snprintf(text, sizeof text, "m%d", i);
    assert_string_equal(f->rec.texts[i], text);
  }
  close(fd);
  teardown(f);
}

/* Each bad frame closes its own connection; the good one is still served,
 * and so are frames that came before the bad one on the same connection. */
static void test_bad_frame_closes_only_its_connection(void **state) {
  (void)state;
  fixture *f = setup();
  int good = dial(f);
  uint8_t b[256];
  size_t n = frame(b, sizeof b, "before");
  send_all(f, good, b, n);
  run_until_recorded(f, 1);

  static uint8_t big[2 + 65535];
  for (int kind = 0; kind < 3; kind++) {
    int bad = dial(f);
    size_t ok_len = frame(b, sizeof b, "first");
    send_all(f, bad, b, ok_len); /* a good frame first, on the bad connection */
    size_t blen;
    if (kind == 0) {
      /* The largest length the header can say, filled with bytes that are
       * not a TransportMessage. */
      big[0] = 0xff;
      big[1] = 0xff;
      memset(big + 2, 0xee, 65535);
      blen = sizeof big;
    } else if (kind == 1) {
      /* A frame whose body says its payload is longer than the frame. */
      blen = frame(big, sizeof big, "truncated");
      /* The body ends in the payload: its length (10), the string's length
       * (9), "truncated". Say the payload is 127 bytes long. */
      assert_int_equal(big[blen - 11], 10);
      big[blen - 11] = 0x7f;
    } else {
      big[0] = 0;
      big[1] = 0; /* an empty frame */
      blen = 2;
    }
    send_all(f, bad, big, blen);
    if (!closed_by_node(f, bad)) fail_msg("bad frame %d did not close its connection", kind);
    close(bad);
    /* The good frame read with the bad one was queued before the close. */
    run_until_recorded(f, 2 + (size_t)kind);
    assert_string_equal(f->rec.texts[1 + kind], "first");
  }
  assert_int_equal(f->rec.n, 4);
  /* The good connection was never touched. */
  n = frame(b, sizeof b, "after");
  send_all(f, good, b, n);
  run_until_recorded(f, 5);
  assert_string_equal(f->rec.texts[4], "after");
  ockam_tcp_stats st;
  ockam_tcp_get_stats(f->tcp, &st);
  assert_int_equal(st.malformed, 3);
  close(good);
  teardown(f);
}

/* Peers that start the largest frame and never finish it: the memory held for
 * incomplete frames stays within OCKAM_TCP_PARTIAL_BUDGET whatever their
 * number; the oldest such connection is closed first; others keep working. */
static void test_partial_frames_bounded(void **state) {
  (void)state;
  fixture *f = setup();
  enum { N = OCKAM_TCP_PARTIAL_BUDGET / 65537 + 40 };
  static int fds[N];
  const uint8_t start[3] = {0xff, 0xff, 0x00}; /* says 65,535 bytes, sends two */
  for (int i = 0; i < N; i++) {
    fds[i] = dial(f);
    send_all(f, fds[i], start, sizeof start);
    assert_int_equal(ockam_node_run_until(f->node, 2, NULL, NULL), OCKAM_OK);
    /* A second piece: the connection now reserves room for the whole frame. */
    send_all(f, fds[i], start + 2, 1);
    assert_int_equal(ockam_node_run_until(f->node, 2, NULL, NULL), OCKAM_OK);
  }
  ockam_tcp_stats st;
  for (int i = 0; i < ARRIVE_MS / 10; i++) {
    ockam_tcp_get_stats(f->tcp, &st);
    if (st.closed_partial) break;
    assert_int_equal(ockam_node_run_until(f->node, 10, NULL, NULL), OCKAM_OK);
  }
  ockam_tcp_get_stats(f->tcp, &st);
  if (!st.closed_partial)
    fail_msg("accepted %llu rejected %llu open %u partial %llu", (unsigned long long)st.accepted,
             (unsigned long long)st.rejected, st.open_connections,
             (unsigned long long)st.partial_bytes);
  assert_true(st.partial_bytes <= OCKAM_TCP_PARTIAL_BUDGET);
  if (!closed_by_node(f, fds[0])) fail_msg("the oldest partial frame's connection stayed open");
  /* A newcomer with complete frames is served. */
  int good = dial(f);
  uint8_t b[256];
  size_t n = frame(b, sizeof b, "still");
  send_all(f, good, b, n);
  run_until_recorded(f, 1);
  assert_string_equal(f->rec.texts[0], "still");
  close(good);
  for (int i = 0; i < N; i++) close(fds[i]);
  teardown(f);
}

/* Reads one whole frame the node sends on fd (running its loop meanwhile);
 * its length with the u16 header. */
static size_t recv_frame(fixture *f, int fd, uint8_t *out, size_t cap) {
  size_t have = 0;
  for (int i = 0; i < ARRIVE_MS / 2; i++) {
    size_t whole = have >= 2 ? 2 + (((size_t)out[0] << 8) | out[1]) : 2;
    if (have >= 2 && have == whole) return have;
    assert_true(whole <= cap);
    ssize_t k = recv(fd, out + have, whole - have, MSG_DONTWAIT);
    if (k > 0) {
      have += (size_t)k;
      continue;
    }
    assert_true(k < 0 && (errno == EAGAIN || errno == EWOULDBLOCK));
    assert_int_equal(ockam_node_run_until(f->node, 2, NULL, NULL), OCKAM_OK);
  }
  fail_msg("no whole frame from the node");
  return 0;
}

/* ockami_send_direct (codec/direct_send.h): a frame written straight into
 * the connection's output is byte for byte the frame of the same message
 * sent through the node, and it never overtakes the sender's messages still
 * queued in the node. */
static void test_direct_send(void **state) {
  (void)state;
  fixture *f = setup();
  int fd = dial(f);
  uint8_t b[256];
  send_all(f, fd, b, frame(b, sizeof b, "hello"));
  run_until_recorded(f, 1);
  ockam_route *to_client; /* [0#<the connection>, 0#app] */
  assert_int_equal(ockam_route_copy(f->rec.last_return, &to_client), OCKAM_OK);
  assert_int_equal(ockam_route_len(to_client), 2);
  ockam_route *to_rec;
  assert_int_equal(ockam_route_parse("rec", &to_rec), OCKAM_OK);

  ockami_direct_cache dc = {0};
  const uint8_t text[] = {5, 'f', 'i', 'r', 's', 't'}; /* the BARE string "first" */
  /* To a local worker: no direct output, queued. */
  assert_int_equal(ockami_send_direct(f->node, &dc, "src", to_rec, (const uint8_t *)"\x02x0", 3),
                   OCKAM_OK);
  /* To the client while that one still waits in the node: queued too. */
  assert_int_equal(ockami_send_direct(f->node, &dc, "src", to_client, text, sizeof text), OCKAM_OK);
  assert_int_equal(dc.queued, 2);
  assert_int_equal(dc.direct, 0);
  run_until_recorded(f, 2);
  assert_string_equal(f->rec.texts[1], "x0");
  /* Nothing of ours is queued any more: straight into the output. */
  assert_int_equal(ockami_send_direct(f->node, &dc, "src", to_client, text, sizeof text), OCKAM_OK);
  assert_int_equal(dc.direct, 1);

  uint8_t queued[256], direct[256];
  size_t nq = recv_frame(f, fd, queued, sizeof queued);
  size_t nd = recv_frame(f, fd, direct, sizeof direct);
  assert_int_equal(nq, nd);
  assert_memory_equal(queued, direct, nq);
  ockam_message *m;
  assert_int_equal(ockam_message_decode(direct + 2, nd - 2, &m), OCKAM_OK);
  char r[64];
  ockam_route_format(ockam_message_onward(m), r, sizeof r);
  assert_string_equal(r, "[0#app]");
  ockam_route_format(ockam_message_return(m), r, sizeof r);
  assert_string_equal(r, "[0#src]");
  size_t len;
  const uint8_t *p = ockam_message_payload(m, &len);
  assert_int_equal(len, sizeof text);
  assert_memory_equal(p, text, len);
  ockam_message_free(m);

  ockami_direct_cache_free(&dc);
  ockam_route_free(to_rec);
  ockam_route_free(to_client);
  close(fd);
  teardown(f);
}

int main(void) {
  if (!getenv("OCKAM_LOG")) ockam_log_set_level(OCKAM_LOG_ERROR);
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_frame_split_across_reads),
      cmocka_unit_test(test_many_frames_in_one_read),
      cmocka_unit_test(test_bad_frame_closes_only_its_connection),
      cmocka_unit_test(test_partial_frames_bounded),
      cmocka_unit_test(test_direct_send),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
