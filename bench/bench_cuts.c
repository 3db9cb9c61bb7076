/* The guide's echo under connection cuts:
 *
 *   bench_cuts --hub ADDR [--count 300]
 *
 * A responder process (secure channel listener and echoer behind a stream
 * pair) and an initiator (this process) reach the hub, each through its own
 * loopback proxy (tests/proxy.c). The initiator creates a secure channel over
 * the streams and sends `count` echoes one after the other, each waiting for
 * its reply. The run is made twice: without cuts, then with every connection
 * of one of the two proxies (chosen at random) cut every 0.5-2 s. Reports,
 * for both runs, the total time and the longest gap between consecutive
 * echoes (targets: longest gap with cuts <= 2 s, total with cuts <= 2x the
 * run without). Every echo must come back exactly once, in order; anything
 * else aborts the benchmark. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench_util.h"
#include "ockam/ockam.h"
#include "proxy.h"

/* The proxy (tests/proxy.c) writes with the tests' helper; the benchmark is
 * built without the test support library. */
int tu_send_all(int fd, const void *p, size_t n);
int tu_send_all(int fd, const void *p, size_t n) {
  const uint8_t *b = p;
  while (n) {
    ssize_t w = send(fd, b, n, MSG_NOSIGNAL);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return -1;
    b += w;
    n -= (size_t)w;
  }
  return 0;
}

static ockam_route *hub_route(const char *hub) {
  char hop[96];
  snprintf(hop, sizeof hop, "1#%s", hub);
  ockam_route *r;
  BENCH_CHECK(ockam_route_parse(hop, &r));
  return r;
}

static ockam_route *route2(const char *a, const char *b) {
  ockam_route *r;
  BENCH_CHECK(ockam_route_new(&r));
  BENCH_CHECK(ockam_route_append_str(r, a));
  BENCH_CHECK(ockam_route_append_str(r, b));
  return r;
}

static int echo_handle(ockam_worker *w, ockam_message *msg) {
  size_t len;
  const uint8_t *p = ockam_message_payload(msg, &len);
  return ockam_send(ockam_worker_node(w), ockam_worker_address(w), ockam_message_return(msg), p,
                    len);
}
static const ockam_worker_ops echo_ops = {echo_handle, NULL};

static void responder(const char *hub, const char *tag) {
  ockam_node *node;
  ockam_tcp *tcp;
  ockam_vault *vault;
  ockam_stream *s;
  char out[96], in[96];
  snprintf(out, sizeof out, "sc-%s-b-a", tag);
  snprintf(in, sizeof in, "sc-%s-a-b", tag);
  BENCH_CHECK(ockam_node_create(&node));
  BENCH_CHECK(ockam_tcp_create(node, NULL, &tcp));
  BENCH_CHECK(ockam_tcp_connect(tcp, hub, 10000));
  BENCH_CHECK(ockam_vault_create("software", &vault));
  const char *addr[1] = {"echoer"};
  BENCH_CHECK(ockam_worker_start(node, addr, 1, &echo_ops, NULL, NULL));
  ockam_channel_listener *listener;
  BENCH_CHECK(
      ockam_channel_listener_create(node, "secure_channel_listener", vault, NULL, &listener));
  ockam_route *to_hub = hub_route(hub);
  BENCH_CHECK(ockam_stream_connect(node, to_hub, out, in, NULL, &s));
  BENCH_CHECK(ockam_node_stop_on_signals(node));
  bench_ignore(ockam_node_run(node));
  ockam_stream_close(s);
  ockam_tcp_close(tcp);
  ockam_channel_listener_close(listener);
  ockam_node_destroy(node);
  ockam_vault_destroy(vault);
  _exit(0);
}

typedef struct cutter {
  tu_proxy *proxy[2];
  ockam_node *node;
  ockam_timer *timer;
  unsigned cuts;
} cutter;

static void cut_cb(void *arg) {
  cutter *c = arg;
  c->timer = NULL;
  tu_proxy_cut_all(c->proxy[rand() % 2]);
  c->cuts++;
  if (ockam_timer_start(c->node, 500 + (uint64_t)(rand() % 1500), 0, cut_cb, c, &c->timer))
    c->timer = NULL;
}

/* One run; returns the total and the longest gap in milliseconds. */
static void run(const char *hub, int count, bool cuts, const char *tag, double *total_ms,
                double *gap_ms, unsigned *ncuts) {
  tu_proxy_opts po = {.seed = 7};
  char via_r[64], via_i[64];
  tu_proxy *pr = tu_proxy_start(hub, &po, via_r, sizeof via_r);
  tu_proxy *pi = tu_proxy_start(hub, &po, via_i, sizeof via_i);
  if (!pr || !pi) {
    fprintf(stderr, "bench_cuts: cannot start the proxies\n");
    exit(1);
  }
  pid_t pid = fork();
  if (pid == 0) responder(via_r, tag);
  ockam_node *node;
  ockam_tcp *tcp;
  ockam_vault *vault;
  ockam_mailbox *app;
  ockam_stream *s;
  char out[96], in[96], chan[64];
  snprintf(out, sizeof out, "sc-%s-a-b", tag);
  snprintf(in, sizeof in, "sc-%s-b-a", tag);
  BENCH_CHECK(ockam_node_create(&node));
  BENCH_CHECK(ockam_tcp_create(node, NULL, &tcp));
  BENCH_CHECK(ockam_tcp_connect(tcp, via_i, 10000));
  BENCH_CHECK(ockam_vault_create("software", &vault));
  BENCH_CHECK(ockam_mailbox_create(node, "app", &app));
  ockam_route *to_hub = hub_route(via_i);
  BENCH_CHECK(ockam_stream_connect(node, to_hub, out, in, NULL, &s));
  BENCH_CHECK(ockam_stream_wait_ready(s, 20000));
  ockam_route *r = route2(ockam_stream_tx_address(s), "secure_channel_listener");
  BENCH_CHECK(ockam_channel_create(node, r, vault, NULL, 60000, chan, sizeof chan));
  ockam_route_free(r);
  r = route2(chan, "echoer");

  cutter c = {{pr, pi}, node, NULL, 0};
  srand(11);
  if (cuts) BENCH_CHECK(ockam_timer_start(node, 500, 0, cut_cb, &c, &c.timer));
  double t0 = bench_now(), last = t0, longest = 0;
  for (int i = 0; i < count; i++) {
    char text[32];
    int n = snprintf(text, sizeof text, "echo %d", i);
    uint8_t payload[33];
    payload[0] = (uint8_t)n;
    memcpy(payload + 1, text, (size_t)n);
    BENCH_CHECK(ockam_send(node, "app", r, payload, (size_t)n + 1));
    ockam_message *m = NULL;
    BENCH_CHECK(ockam_mailbox_receive(app, 90000, &m));
    const char *got;
    size_t len;
    BENCH_CHECK(ockam_message_get_string(m, &got, &len));
    if (len != (size_t)n || memcmp(got, text, len)) {
      fprintf(stderr, "bench_cuts: expected '%s', got '%.*s'\n", text, (int)len, got);
      exit(1);
    }
    ockam_message_free(m);
    double now = bench_now();
    if (now - last > longest) longest = now - last;
    last = now;
  }
  *total_ms = (bench_now() - t0) * 1e3;
  *gap_ms = longest * 1e3;
  if (c.timer) ockam_timer_stop(c.timer);
  *ncuts = c.cuts;
  kill(pid, SIGTERM);
  waitpid(pid, NULL, 0);
  ockam_route_free(r);
  ockam_route_free(to_hub);
  ockam_stream_close(s);
  ockam_mailbox_destroy(app);
  ockam_tcp_close(tcp);
  ockam_node_destroy(node);
  ockam_vault_destroy(vault);
  tu_proxy_stop(pr);
  tu_proxy_stop(pi);
}

int main(int argc, char **argv) {
  signal(SIGPIPE, SIG_IGN);
  const char *hub = bench_arg(argc, argv, "--hub", NULL);
  int count = (int)bench_arg_long(argc, argv, "--count", 300);
  if (!hub || count <= 0) {
    fprintf(stderr, "usage: bench_cuts --hub ADDR [--count N]\n");
    return 2;
  }
  char tag[32];
  snprintf(tag, sizeof tag, "cuts-%d", (int)getpid());
  char tag_plain[40], tag_cuts[40];
  snprintf(tag_plain, sizeof tag_plain, "%s-plain", tag);
  snprintf(tag_cuts, sizeof tag_cuts, "%s-cut", tag);
  double plain_total, plain_gap, cut_total, cut_gap;
  unsigned cuts0, cuts;
  run(hub, count, false, tag_plain, &plain_total, &plain_gap, &cuts0);
  run(hub, count, true, tag_cuts, &cut_total, &cut_gap, &cuts);
  fprintf(stderr,
          "bench_cuts: %d echoes: no cuts %.0f ms (longest gap %.0f ms); %u cuts %.0f ms "
          "(longest gap %.0f ms)\n",
          count, plain_total, plain_gap, cuts, cut_total, cut_gap);
  bench_result("echo_cuts_none_total", plain_total, "ms");
  bench_result("echo_cuts_none_gap", plain_gap, "ms");
  bench_result("echo_cuts_total", cut_total, "ms");
  bench_result("echo_cuts_gap", cut_gap, "ms");
  bench_result("echo_cuts_count", cuts, "cuts");
  bench_result("echo_cuts_ratio", plain_total > 0 ? cut_total / plain_total : 0, "x");
  return 0;
}
