/* Hostile clients against the network side of real processes on loopback
 * (the `ockam hub` binary and the guide's responder): a client must not make
 * a node open connections, exhaust its memory or its connection slots, crash
 * it with odd addresses or flood its log. Each test first mounts the attack,
 * then checks that it failed and that a well-behaved client is still served.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "ockam/ockam.h"
#include "testutil.h"

#define RESPONDER OCKAM_EXAMPLES "/14-secure-channel-over-stream-over-cloud-node-responder"

/* ---- helpers ----------------------------------------------------------------- */

/* A framed TransportMessage: onward route given hop by hop as (type, bytes,
 * len) triples ending with type -1, return [0#app]. */
static size_t frame_hops(uint8_t *out, size_t cap, const uint8_t *payload, size_t plen, ...) {
  ockam_message *m;
  assert_int_equal(ockam_message_new(&m), 0);
  va_list ap;
  va_start(ap, plen);
  for (;;) {
    int type = va_arg(ap, int);
    if (type < 0) break;
    const char *v = va_arg(ap, const char *);
    size_t n = va_arg(ap, size_t);
    assert_int_equal(ockam_route_append(ockam_message_onward_mut(m), (uint8_t)type, v, n), 0);
  }
  va_end(ap);
  assert_int_equal(ockam_route_append_str(ockam_message_return_mut(m), "app"), 0);
  assert_int_equal(ockam_message_set_payload(m, payload, plen), 0);
  size_t n;
  assert_int_equal(ockam_message_encode(m, out + 2, cap - 2, &n), 0);
  out[0] = (uint8_t)(n >> 8);
  out[1] = (uint8_t)n;
  ockam_message_free(m);
  return n + 2;
}

/* A fresh connection to the hub that echoes once. */
static void check_served(const char *bound) {
  int fd = tu_connect(bound, 5000);
  assert_true(fd >= 0);
  tu_check_echo(fd, "still served", 10000);
  close(fd);
}

/* A non-blocking listening socket on 127.0.0.1; *port receives its port. */
static int trap_listen(int *port) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
  assert_true(fd >= 0);
  struct sockaddr_in a = {0};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
  assert_int_equal(listen(fd, 64), 0);
  socklen_t len = sizeof a;
  assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
  *port = ntohs(a.sin_port);
  return fd;
}

/* Connections the trap accepted within ms (all closed at once). */
static int trap_count(int fd, int ms) {
  int n = 0;
  uint64_t until = tu_now_ms() + (uint64_t)ms;
  do {
    int c;
    while ((c = accept(fd, NULL, NULL)) >= 0) {
      n++;
      close(c);
    }
    usleep(20000);
  } while (tu_now_ms() < until);
  return n;
}

/* ---- 1. no dial-out on remote request ------------------------------------------ */

/* Frames routed [1#<trap>, 0#x] in many spellings, sent to the hub: the hub
 * must not connect to the trap (it used to, and relayed the bytes). */
static void test_hub_never_dials(void **state) {
  (void)state;
  int port;
  int trap = trap_listen(&port);
  tu_proc hub;
  char bound[64];
  int fd = tu_memory_hub_connected(&hub, bound, sizeof bound);
  const char *spellings[] = {"127.0.0.1:%d",  "127.000.0.1:%d",        "localhost:%d", "127.1:%d",
                             "0x7f.0.0.1:%d", "[::ffff:127.0.0.1]:%d", "127.0.0.1.:%d"};
  uint8_t f[1024];
  const uint8_t payload[] = {5, 'h', 'e', 'l', 'l', 'o'};
  for (int round = 0; round < 20; round++) {
    for (size_t i = 0; i < sizeof spellings / sizeof spellings[0]; i++) {
      char hop[64];
      snprintf(hop, sizeof hop, spellings[i], port);
      size_t n = frame_hops(f, sizeof f, payload, sizeof payload, 1, hop, strlen(hop), 0, "x",
                            (size_t)1, -1);
      assert_int_equal(tu_send_all(fd, f, n), 0);
      /* The two-way relay: through the hub to another hub's echo_service. */
      n = frame_hops(f, sizeof f, payload, sizeof payload, 1, hop, strlen(hop), 0, "echo_service",
                     (size_t)12, -1);
      assert_int_equal(tu_send_all(fd, f, n), 0);
    }
  }
  tu_check_echo(fd, "after the dial attempts", 10000);
  assert_int_equal(trap_count(trap, 1500), 0);
  check_served(bound);
  close(fd);
  close(trap);
  assert_int_equal(tu_term(&hub), 0);
}

/* The same route stored in the stream the guide's responder consumes: the
 * responder must not dial either. */
static void test_responder_never_dials(void **state) {
  (void)state;
  int port;
  int trap = trap_listen(&port);
  tu_proc hub, responder;
  char bound[64];
  assert_int_equal(tu_start_hub(&hub, 0, "memory", NULL, NULL, bound, sizeof bound), 0);
  char *argv[] = {(char *)RESPONDER, bound, NULL};
  assert_int_equal(tu_spawn(&responder, argv, true), 0);
  assert_int_equal(tu_expect_line(&responder, "Responder listening", NULL, 0, 10000), 0);

  ockam_node *node;
  ockam_tcp *tcp;
  ockam_stream *s;
  tu_client_node(&node, &tcp);
  assert_int_equal(ockam_tcp_connect(tcp, bound, 5000), 0);
  char text[128];
  snprintf(text, sizeof text, "1#%s", bound);
  ockam_route *to_hub;
  assert_int_equal(ockam_route_parse(text, &to_hub), 0);
  ockam_stream_options o = {.client_id = "hostile"};
  assert_int_equal(ockam_stream_connect(node, to_hub, "sc-test-a-b", "hostile-in", &o, &s), 0);
  ockam_route_free(to_hub);
  assert_int_equal(ockam_stream_wait_ready(s, 10000), 0);
  snprintf(text, sizeof text, "%s;1#127.0.0.1:%d;x", ockam_stream_tx_address(s), port);
  ockam_route *r;
  assert_int_equal(ockam_route_parse(text, &r), 0);
  const uint8_t payload[] = {5, 'h', 'e', 'l', 'l', 'o'};
  for (int i = 0; i < 10; i++)
    assert_int_equal(ockam_send(node, "hostile", r, payload, sizeof payload), 0);
  ockam_route_free(r);
  assert_int_equal(ockam_stream_flush(s, 10000), 0);
  /* The responder polls the stream; give it several rounds. */
  assert_int_equal(ockam_node_run_until(node, 3000, NULL, NULL), 0);
  assert_int_equal(trap_count(trap, 500), 0);
  ockam_stream_close(s);
  ockam_node_destroy(node);
  ockam_tcp_close(tcp);
  close(trap);
  assert_int_equal(tu_term(&responder), 0);
  assert_int_equal(tu_term(&hub), 0);
}

/* ---- 7. NUL and control bytes in TCP addresses -------------------------------- */

/* A raw frame: onward [1#<addr bytes>, 0#x], empty return route and payload. */
static size_t raw_tcp_hop_frame(uint8_t *out, const uint8_t *addr, size_t alen) {
  size_t n = 2;
  out[n++] = 1; /* TransportMessage version */
  out[n++] = 2; /* onward hops */
  out[n++] = 1;
  out[n++] = (uint8_t)alen;
  memcpy(out + n, addr, alen);
  n += alen;
  out[n++] = 0;
  out[n++] = 1;
  out[n++] = 'x';
  out[n++] = 0; /* return hops */
  out[n++] = 0; /* payload length */
  out[0] = (uint8_t)((n - 2) >> 8);
  out[1] = (uint8_t)(n - 2);
  return n;
}

/* `1#"127.0.0.1:P\0"+AAAA...` used to over-read the heap (a C string copy of
 * the key, hashed with the raw length) and leave entries nobody could
 * remove. Now such a frame does not decode: its connection is closed, the
 * hub keeps serving, and nothing is dialled. */
static void test_nul_in_tcp_address(void **state) {
  (void)state;
  int port;
  int trap = trap_listen(&port);
  tu_proc hub;
  char bound[64];
  assert_int_equal(tu_start_hub(&hub, 0, "memory", NULL, NULL, bound, sizeof bound), 0);
  uint8_t addr[255], f[300];
  const char *ctl = "\x00\x01\x0a\x0d\x1b\x7f\x20";
  for (size_t k = 0; k < 7; k++) {
    int n = snprintf((char *)addr, sizeof addr, "127.0.0.1:%d", port);
    addr[n] = (uint8_t)ctl[k];
    size_t alen = (size_t)n + 1 + 200;
    memset(addr + n + 1, 'A', 200);
    int fd = tu_connect(bound, 5000);
    assert_true(fd >= 0);
    size_t fl = raw_tcp_hop_frame(f, addr, alen);
    assert_int_equal(tu_send_all(fd, f, fl), 0);
    assert_int_equal(tu_wait_closed(fd, 5000), 1);
    close(fd);
    /* The control byte in the middle of the host. */
    n = snprintf((char *)addr, sizeof addr, "127.0.0.1:%d", port);
    addr[3] = (uint8_t)ctl[k];
    fd = tu_connect(bound, 5000);
    assert_true(fd >= 0);
    fl = raw_tcp_hop_frame(f, addr, (size_t)n);
    assert_int_equal(tu_send_all(fd, f, fl), 0);
    assert_int_equal(tu_wait_closed(fd, 5000), 1);
    close(fd);
  }
  check_served(bound);
  assert_int_equal(trap_count(trap, 500), 0);
  close(trap);
  assert_int_equal(tu_term(&hub), 0);
}

/* ---- 4. bounded memory: clients that never read ----------------------------------- */

/* Same amount of memory slack for sanitizer builds, whose allocator keeps
 * freed memory in quarantine. */
#if defined(__SANITIZE_ADDRESS__)
#define BOUND_KB (320L * 1024)
#else
#define BOUND_KB (64L * 1024)
#endif

/* N connections each send requests whose replies they never read (echoes of
 * 60,000 bytes: 12 MB of replies per connection, 240 MB in all). The hub must
 * stop reading them, stay under idle RSS + 64 MiB, close them once their
 * output stalls, and keep serving others. */
static void test_never_reading_clients(void **state) {
  (void)state;
  enum { N = 20, PER = 200, SIZE = 60000 };
  tu_proc hub;
  char bound[64];
  const char *extra[] = {"--write-stall-timeout", "3000", NULL};
  assert_int_equal(tu_start_hub(&hub, 0, "memory", NULL, extra, bound, sizeof bound), 0);
  check_served(bound);
  long rss0 = tu_rss_kb(hub.pid);
  int fd0 = tu_fd_count(hub.pid);
  static uint8_t payload[SIZE], f[SIZE + 256];
  payload[0] = 0xe0; /* a BARE string of 59998 bytes: u16 varint length */
  payload[1] = 0xd4;
  payload[2] = 0x03;
  memset(payload + 3, 'x', SIZE - 3);
  size_t fl = frame_hops(f, sizeof f, payload, SIZE, 0, "echo_service", (size_t)12, -1);
  int fds[N];
  size_t sent_total = 0;
  for (int i = 0; i < N; i++) {
    fds[i] = tu_connect(bound, 5000);
    assert_true(fds[i] >= 0);
    int one = 1;
    setsockopt(fds[i], SOL_SOCKET, SO_RCVBUF, &(int){4096}, sizeof(int));
    (void)one;
    fcntl(fds[i], F_SETFL, fcntl(fds[i], F_GETFL) | O_NONBLOCK);
  }
  /* Send as much as the hub takes, never reading. */
  long rss_max = 0;
  uint64_t until = tu_now_ms() + 4000;
  size_t off[N] = {0}, count[N] = {0};
  while (tu_now_ms() < until) {
    bool progress = false;
    for (int i = 0; i < N; i++) {
      if (count[i] >= PER) continue;
      ssize_t w = send(fds[i], f + off[i], fl - off[i], MSG_NOSIGNAL);
      if (w > 0) {
        progress = true;
        sent_total += (size_t)w;
        off[i] += (size_t)w;
        if (off[i] == fl) {
          off[i] = 0;
          count[i]++;
        }
      }
    }
    long r = tu_rss_kb(hub.pid);
    if (r > rss_max) rss_max = r;
    if (!progress) usleep(10000);
  }
  long r = tu_rss_kb(hub.pid);
  if (r > rss_max) rss_max = r;
  printf("# %d never-reading clients sent %zu bytes; hub RSS %ld kB idle, %ld kB at most\n", N,
         sent_total, rss0, rss_max);
  assert_true(rss_max < rss0 + BOUND_KB);
  /* The stalled connections are closed (their replies were never read). */
  int fd1 = tu_fd_count(hub.pid);
  uint64_t deadline = tu_now_ms() + 20000;
  while ((fd1 = tu_fd_count(hub.pid)) > fd0 + 2 && tu_now_ms() < deadline) usleep(50000);
  printf("# hub fds: %d before, %d after the stall timeout\n", fd0, fd1);
  assert_true(fd1 <= fd0 + 2);
  for (int i = 0; i < N; i++) close(fds[i]);
  check_served(bound);
  assert_int_equal(tu_term(&hub), 0);
}

/* ---- 6. connection hygiene ---------------------------------------------------------- */

/* With --max-connections 30, 30 sockets that each sent one byte hold every
 * slot; the first-frame deadline closes them and a legitimate client gets in. */
static void test_idle_sockets_closed_by_deadline(void **state) {
  (void)state;
  enum { N = 30 };
  tu_proc hub;
  char bound[64];
  const char *extra[] = {"--max-connections", "30", "--first-frame-timeout", "2000", NULL};
  assert_int_equal(tu_start_hub(&hub, 0, "memory", NULL, extra, bound, sizeof bound), 0);
  int fds[N];
  uint64_t t0 = tu_now_ms();
  for (int i = 0; i < N; i++) {
    fds[i] = tu_connect(bound, 5000);
    assert_true(fds[i] >= 0);
    assert_int_equal(tu_send_all(fds[i], "\0", 1), 0);
  }
  /* Every slot is taken: a newcomer is turned away at once. */
  int late = tu_connect(bound, 5000);
  assert_true(late >= 0);
  assert_int_equal(tu_wait_closed(late, 3000), 1);
  close(late);
  /* The deadline closes the silent ones ... */
  for (int i = 0; i < N; i++) {
    assert_int_equal(tu_wait_closed(fds[i], 15000), 1);
    close(fds[i]);
  }
  printf("# %d half-open sockets closed after %llu ms\n", N,
         (unsigned long long)(tu_now_ms() - t0));
  /* ... and a legitimate client is served. */
  check_served(bound);
  assert_int_equal(tu_term(&hub), 0);
}

/* One IP address cannot take more than --max-connections-per-ip slots. */
static void test_per_ip_cap(void **state) {
  (void)state;
  tu_proc hub;
  char bound[64];
  const char *extra[] = {"--max-connections-per-ip", "5", NULL};
  assert_int_equal(tu_start_hub(&hub, 0, "memory", NULL, extra, bound, sizeof bound), 0);
  int fds[5];
  for (int i = 0; i < 5; i++) {
    fds[i] = tu_connect(bound, 5000);
    assert_true(fds[i] >= 0);
    tu_check_echo(fds[i], "within the cap", 10000);
  }
  int extra_fd = tu_connect(bound, 5000);
  assert_true(extra_fd >= 0);
  assert_int_equal(tu_wait_closed(extra_fd, 3000), 1);
  close(extra_fd);
  close(fds[0]);
  /* A slot freed is a slot available again. */
  uint64_t deadline = tu_now_ms() + 5000;
  bool served = false;
  while (!served && tu_now_ms() < deadline) {
    int fd = tu_connect(bound, 5000);
    assert_true(fd >= 0);
    uint8_t fr[64];
    const uint8_t p[] = {2, 'o', 'k'};
    size_t n = frame_hops(fr, sizeof fr, p, sizeof p, 0, "echo_service", (size_t)12, -1);
    if (tu_send_all(fd, fr, n) == 0) {
      ockam_message *m = tu_recv_msg(fd, 2000);
      served = m != NULL;
      ockam_message_free(m);
    }
    close(fd);
    if (!served) usleep(100000);
  }
  assert_true(served);
  for (int i = 1; i < 5; i++) close(fds[i]);
  assert_int_equal(tu_term(&hub), 0);
}

/* ---- 11. log flooding ---------------------------------------------------------------- */

/* 100,000 tiny undeliverable frames: the hub's log stays short. */
static void test_log_flood_bounded(void **state) {
  (void)state;
  char *dir = tu_tempdir("hostile-log");
  char log[512], ready[512], cmd[2048], bound[64];
  snprintf(log, sizeof log, "%s/hub.log", dir);
  snprintf(ready, sizeof ready, "%s/ready", dir);
  snprintf(cmd, sizeof cmd,
           "OCKAM_LOG=info exec %s hub --listen 127.0.0.1:0 --store memory --ready-file %s 2>%s",
           OCKAM_BIN, ready, log);
  char *argv[] = {(char *)"/bin/sh", (char *)"-c", cmd, NULL};
  tu_proc hub;
  assert_int_equal(tu_spawn(&hub, argv, true), 0);
  assert_int_equal(tu_wait_file(ready, bound, sizeof bound, 10000), 0);
  int fd = tu_connect(bound, 5000);
  assert_true(fd >= 0);
  static uint8_t batch[1000 * 32];
  uint8_t f[64];
  const uint8_t p[] = {0};
  size_t fl = frame_hops(f, sizeof f, p, 1, 0, "nobody", (size_t)6, -1);
  assert_true(fl <= 32);
  for (int i = 0; i < 1000; i++) memcpy(batch + (size_t)i * fl, f, fl);
  uint64_t t0 = tu_now_ms();
  for (int k = 0; k < 100; k++) assert_int_equal(tu_send_all(fd, batch, 1000 * fl), 0);
  tu_check_echo(fd, "after the flood", 10000);
  uint64_t ms = tu_now_ms() - t0;
  close(fd);
  assert_int_equal(tu_term(&hub), 0);
  FILE *lf = fopen(log, "r");
  assert_non_null(lf);
  char line[2048];
  long lines = 0, suppressed = 0;
  while (fgets(line, sizeof line, lf)) {
    lines++;
    if (strstr(line, "similar messages suppressed")) suppressed++;
  }
  fclose(lf);
  printf("# 100000 undeliverable frames in %llu ms: %ld log lines (%ld suppression reports)\n",
         (unsigned long long)ms, lines, suppressed);
  /* At most ~10 similar lines a second per call site, plus one report each. */
  assert_true(lines <= 40 + 25 * (long)(ms / 1000));
  tu_rmrf(dir);
  free(dir);
}

/* A node that asked for nothing dials nothing; one that connected explicitly
 * or listed a destination reaches it; connect_on_use restores the old way. */
static void test_library_dial_policy(void **state) {
  (void)state;
  int port;
  int trap = trap_listen(&port);
  char dest[64], text[96];
  snprintf(dest, sizeof dest, "127.0.0.1:%d", port);
  snprintf(text, sizeof text, "1#%s;x", dest);
  ockam_route *r;
  assert_int_equal(ockam_route_parse(text, &r), 0);
  const uint8_t payload[] = {1, 'a'};

  for (int mode = 0; mode < 4; mode++) {
    ockam_node *node;
    ockam_tcp *tcp;
    assert_int_equal(ockam_node_create(&node), 0);
    ockam_tcp_options o = {0};
    const char *allow[1] = {dest};
    if (mode == 2) {
      o.allow = allow;
      o.n_allow = 1;
    }
    if (mode == 3) o.connect_on_use = true;
    assert_int_equal(ockam_tcp_create(node, &o, &tcp), 0);
    if (mode == 1) assert_int_equal(ockam_tcp_connect(tcp, dest, 5000), 0);
    assert_int_equal(ockam_send(node, "app", r, payload, sizeof payload), 0);
    assert_int_equal(ockam_node_run_until(node, 300, NULL, NULL), 0);
    ockam_tcp_stats st;
    ockam_tcp_get_stats(tcp, &st);
    int seen = trap_count(trap, 300);
    if (mode == 0) {
      assert_int_equal(seen, 0);
      assert_int_equal(st.dials_refused, 1);
    } else {
      assert_int_equal(seen, 1);
      assert_int_equal(st.dials_refused, 0);
    }
    ockam_node_destroy(node);
    ockam_tcp_close(tcp);
  }
  ockam_route_free(r);
  close(trap);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_hub_never_dials),
      cmocka_unit_test(test_responder_never_dials),
      cmocka_unit_test(test_library_dial_policy),
      cmocka_unit_test(test_nul_in_tcp_address),
      cmocka_unit_test(test_never_reading_clients),
      cmocka_unit_test(test_idle_sockets_closed_by_deadline),
      cmocka_unit_test(test_per_ip_cap),
      cmocka_unit_test(test_log_flood_bounded),
  };
  return TU_RUN_TESTS(tests);
}
