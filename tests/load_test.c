/* Load on the hub binary: many concurrent TCP clients, each pipelining echo
 * requests (window of 32 in flight) to echo_service over raw 2021 frames, in
 * one process with non-blocking sockets and epoll. Every reply must come back
 * on its own connection, in order, with its own payload; the hub's VmRSS and
 * descriptor count must come back near where they were.
 *
 * Default 200 clients x 200 messages; OCKAM_LONG_TESTS=1: 1,000 x 1,000.
 * OCKAM_LOAD_CLIENTS / OCKAM_LOAD_MESSAGES override both.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "ockam/ockam.h"
#include "testutil.h"

#define WINDOW 32u

/* AddressSanitizer keeps freed memory in quarantine (256 MB by default). */
#if defined(__SANITIZE_ADDRESS__)
#define RSS_SLACK_KB (320L * 1024)
#else
#define RSS_SLACK_KB (64L * 1024)
#endif

static uint32_t env_u32(const char *name, uint32_t dflt) {
  const char *v = getenv(name);
  return v && *v ? (uint32_t)strtoul(v, NULL, 10) : dflt;
}

typedef struct client {
  int fd;
  uint32_t id;
  uint32_t sent, received;
  uint8_t out[WINDOW * 64];
  size_t out_len;
  uint8_t in[4096];
  size_t in_len;
  bool want_out;
} client;

/* Frame: onward [0#echo_service], return [0#app], payload = u32 id ‖ u32 seq
 * (little-endian), as raw bytes (spec §1.3, §2.1). */
static size_t echo_frame(uint8_t *o, uint32_t id, uint32_t seq) {
  static const uint8_t head[] = {0x01, 0x01, 0x00, 0x0c, 'e',  'c',  'h',  'o', '_', 's', 'e', 'r',
                                 'v',  'i',  'c',  'e',  0x01, 0x00, 0x03, 'a', 'p', 'p', 0x08};
  size_t n = 2;
  memcpy(o + n, head, sizeof head);
  n += sizeof head;
  for (int i = 0; i < 4; i++) o[n++] = (uint8_t)(id >> (8 * i));
  for (int i = 0; i < 4; i++) o[n++] = (uint8_t)(seq >> (8 * i));
  o[0] = 0;
  o[1] = (uint8_t)(n - 2);
  return n;
}

static void fill(client *c, uint32_t total) {
  while (c->sent < total && c->sent - c->received < WINDOW && c->out_len + 64 <= sizeof c->out)
    c->out_len += echo_frame(c->out + c->out_len, c->id, c->sent++);
}

/* Write what is queued; 0 or -1 on a broken connection. */
static int flush_out(client *c) {
  while (c->out_len) {
    ssize_t w = send(c->fd, c->out, c->out_len, MSG_NOSIGNAL);
    if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return 0;
    if (w <= 0) return -1;
    memmove(c->out, c->out + w, c->out_len - (size_t)w);
    c->out_len -= (size_t)w;
  }
  return 0;
}

/* Consume complete reply frames; -1 on a wrong reply or a closed connection. */
static int read_in(client *c) {
  for (;;) {
    ssize_t r = recv(c->fd, c->in + c->in_len, sizeof c->in - c->in_len, 0);
    if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return 0;
    if (r <= 0) return -1;
    c->in_len += (size_t)r;
    size_t off = 0;
    while (c->in_len - off >= 2) {
      size_t n = ((size_t)c->in[off] << 8) | c->in[off + 1];
      if (c->in_len - off - 2 < n) break;
      ockam_message *m;
      if (ockam_message_decode(c->in + off + 2, n, &m) != OCKAM_OK) return -1;
      size_t len;
      const uint8_t *p = ockam_message_payload(m, &len);
      uint32_t id = 0, seq = 0;
      for (int i = 3; len == 8 && i >= 0; i--) {
        id = (id << 8) | p[i];
        seq = (seq << 8) | p[4 + i];
      }
      ockam_message_free(m);
      if (len != 8 || id != c->id || seq != c->received) return -1;
      c->received++;
      off += 2 + n;
    }
    memmove(c->in, c->in + off, c->in_len - off);
    c->in_len -= off;
  }
}

static void run_load(uint32_t nclients, uint32_t nmsgs) {
  struct rlimit rl;
  assert_int_equal(getrlimit(RLIMIT_NOFILE, &rl), 0);
  rlim_t want = (rlim_t)nclients + 256;
  if (rl.rlim_cur < want) {
    rl.rlim_cur = want < rl.rlim_max ? want : rl.rlim_max;
    assert_int_equal(setrlimit(RLIMIT_NOFILE, &rl), 0);
  }
  assert_true(rl.rlim_cur >= want);
  tu_proc hub;
  char bound[64];
  static const char *const extra[] = {"--no-streams", NULL};
  assert_int_equal(tu_start_hub(&hub, 0, "memory", NULL, extra, bound, sizeof bound), 0);
  /* Warm up the allocator with one client before measuring. */
  int w = tu_connect(bound, 5000);
  uint8_t f[64], rep[256];
  size_t n = echo_frame(f, 0, 0);
  assert_int_equal(tu_send_all(w, f, n), 0);
  assert_true(tu_recv_frame(w, rep, sizeof rep, 5000) > 0);
  close(w);
  usleep(100000);
  int fd0 = tu_fd_count(hub.pid);
  long rss0 = tu_rss_kb(hub.pid);

  client *cs = calloc(nclients, sizeof *cs);
  assert_non_null(cs);
  int ep = epoll_create1(0);
  assert_true(ep >= 0);
  for (uint32_t i = 0; i < nclients; i++) {
    cs[i].id = i;
    cs[i].fd = tu_connect(bound, 10000);
    assert_true(cs[i].fd >= 0);
    fcntl(cs[i].fd, F_SETFL, fcntl(cs[i].fd, F_GETFL) | O_NONBLOCK);
    struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT | EPOLLET, .data.u32 = i};
    assert_int_equal(epoll_ctl(ep, EPOLL_CTL_ADD, cs[i].fd, &ev), 0);
  }
  uint64_t t0 = tu_now_ms();
  uint64_t deadline = t0 + 400000;
  uint64_t done = 0, total = (uint64_t)nclients * nmsgs;
  long rss_peak = 0;
  struct epoll_event evs[256];
  uint64_t last_sample = 0;
  while (done < total && tu_now_ms() < deadline) {
    int k = epoll_wait(ep, evs, 256, 1000);
    for (int j = 0; j < k; j++) {
      client *c = &cs[evs[j].data.u32];
      uint32_t before = c->received;
      if (evs[j].events & (EPOLLIN | EPOLLHUP | EPOLLERR)) assert_int_equal(read_in(c), 0);
      done += c->received - before;
      fill(c, nmsgs);
      assert_int_equal(flush_out(c), 0);
    }
    if (tu_now_ms() - last_sample > 200) {
      long r = tu_rss_kb(hub.pid);
      if (r > rss_peak) rss_peak = r;
      last_sample = tu_now_ms();
    }
  }
  uint64_t ms = tu_now_ms() - t0;
  int fd_peak = tu_fd_count(hub.pid);
  for (uint32_t i = 0; i < nclients; i++) {
    assert_int_equal(cs[i].received, nmsgs);
    close(cs[i].fd);
  }
  close(ep);
  free(cs);
  assert_int_equal(done, total);
  uint64_t until = tu_now_ms() + 10000;
  int fd1;
  while ((fd1 = tu_fd_count(hub.pid)) > fd0 && tu_now_ms() < until) usleep(20000);
  long rss1 = tu_rss_kb(hub.pid);
  printf("# %u clients x %u messages: %" PRIu64 " echoed in %" PRIu64
         " ms; hub fds %d -> %d -> %d,"
         " VmRSS %ld -> peak %ld -> %ld kB\n",
         nclients, nmsgs, done, ms, fd0, fd_peak, fd1, rss0, rss_peak, rss1);
  assert_true(fd_peak >= fd0 + (int)nclients);
  assert_true(fd1 <= fd0);
  /* Generous: ~64 kB per connection at the peak, RSS_SLACK_KB left after. */
  assert_true(rss_peak < rss0 + 64 * (long)nclients + RSS_SLACK_KB);
  assert_true(rss1 < rss0 + RSS_SLACK_KB);
  assert_int_equal(tu_term(&hub), 0);
}

static void test_many_clients_echo(void **state) {
  (void)state;
  const char *l = getenv("OCKAM_LONG_TESTS");
  bool lng = l && !strcmp(l, "1");
  run_load(env_u32("OCKAM_LOAD_CLIENTS", lng ? 1000 : 200),
           env_u32("OCKAM_LOAD_MESSAGES", lng ? 1000 : 200));
}

int main(void) {
  signal(SIGPIPE, SIG_IGN);
  setvbuf(stdout, NULL, _IOLBF, 0);
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_many_clients_echo),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
