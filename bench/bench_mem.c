/* Memory and scale.
 *
 *   bench_mem idle
 *       RSS of a process with one node, a TCP transport and a listener.
 *   bench_mem conns   --hub ADDR --hub-pid PID --n N
 *       opens N TCP connections to the hub, each doing one echo_service round
 *       trip (raw frames); reports the hub's RSS growth per connection, the
 *       time to set all N up, and the time of one more echo on every
 *       connection (all N written, then all N read).
 *   bench_mem streams --hub ADDR --hub-pid PID --n N
 *       N/2 stream clients in one node (each creates two streams, so N
 *       streams); reports the hub's RSS growth per stream and the time until
 *       every client is ready.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include "bench_util.h"
#include "ockam/ockam.h"

static bool never(void *arg) {
  (void)arg;
  return false;
}

static int run_idle(void) {
  ockam_node *node;
  ockam_tcp *tcp;
  char bound[64];
  BENCH_CHECK(ockam_node_create(&node));
  BENCH_CHECK(ockam_tcp_create(node, NULL, &tcp));
  BENCH_CHECK(ockam_tcp_listen(tcp, "127.0.0.1:0", bound, sizeof bound));
  bench_ignore(ockam_node_run_until(node, 200, never, NULL));
  bench_result("idle_node_rss", (double)bench_rss_kib(0), "KiB");
  ockam_tcp_close(tcp);
  ockam_node_destroy(node);
  return 0;
}

static int parse_hub(const char *hub, struct sockaddr_in *sa) {
  char host[64];
  const char *colon = strrchr(hub, ':');
  if (!colon || (size_t)(colon - hub) >= sizeof host) return -1;
  memcpy(host, hub, (size_t)(colon - hub));
  host[colon - hub] = 0;
  memset(sa, 0, sizeof *sa);
  sa->sin_family = AF_INET;
  sa->sin_port = htons((uint16_t)atoi(colon + 1));
  return inet_pton(AF_INET, host, &sa->sin_addr) == 1 ? 0 : -1;
}

/* Read exactly one frame (u16 BE length + body). */
static int read_frame(int fd, uint8_t *buf, size_t cap) {
  size_t have = 0, need = 2;
  while (have < need) {
    ssize_t n = read(fd, buf + have, need - have);
    if (n <= 0) return -1;
    have += (size_t)n;
    if (have == 2 && need == 2) {
      need = 2 + (((size_t)buf[0] << 8) | buf[1]);
      if (need > cap) return -1;
    }
  }
  return 0;
}

static int run_conns(const char *hub, int hub_pid, int n) {
  struct sockaddr_in sa;
  if (parse_hub(hub, &sa)) return 2;
  /* One echo_service request: onward [echo_service], return [bench]. */
  ockam_message *m;
  BENCH_CHECK(ockam_message_new(&m));
  BENCH_CHECK(ockam_route_append_str(ockam_message_onward_mut(m), "echo_service"));
  BENCH_CHECK(ockam_route_append_str(ockam_message_return_mut(m), "bench"));
  BENCH_CHECK(ockam_message_set_string(m, "ping", 4));
  uint8_t frame[256], reply[1024];
  size_t len;
  BENCH_CHECK(ockam_message_encode(m, frame + 2, sizeof frame - 2, &len));
  ockam_message_free(m);
  frame[0] = (uint8_t)(len >> 8);
  frame[1] = (uint8_t)len;
  len += 2;

  long before = bench_rss_kib(hub_pid);
  int *fds = calloc((size_t)n, sizeof *fds);
  double t0 = bench_now();
  for (int i = 0; i < n; i++) {
    fds[i] = socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    setsockopt(fds[i], IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (fds[i] < 0 || connect(fds[i], (struct sockaddr *)&sa, sizeof sa)) {
      fprintf(stderr, "bench_mem: connection %d failed (ulimit -n?)\n", i);
      return 1;
    }
    if (write(fds[i], frame, len) != (ssize_t)len) return 1;
  }
  for (int i = 0; i < n; i++)
    if (read_frame(fds[i], reply, sizeof reply)) {
      fprintf(stderr, "bench_mem: no echo on connection %d\n", i);
      return 1;
    }
  double setup = bench_now() - t0;
  usleep(200000);
  long after = bench_rss_kib(hub_pid);
  t0 = bench_now();
  for (int i = 0; i < n; i++)
    if (write(fds[i], frame, len) != (ssize_t)len) return 1;
  for (int i = 0; i < n; i++)
    if (read_frame(fds[i], reply, sizeof reply)) return 1;
  double round = bench_now() - t0;
  char name[64];
  snprintf(name, sizeof name, "conns_%d_setup_ms", n);
  bench_result(name, setup * 1e3, "ms");
  snprintf(name, sizeof name, "conns_%d_echo_all_ms", n);
  bench_result(name, round * 1e3, "ms");
  snprintf(name, sizeof name, "conns_%d_hub_rss", n);
  bench_result(name, (double)after, "KiB");
  snprintf(name, sizeof name, "conns_%d_per_conn", n);
  bench_result(name, (double)(after - before) / n, "KiB");
  for (int i = 0; i < n; i++) close(fds[i]);
  free(fds);
  return 0;
}

static int run_streams(const char *hub, int hub_pid, int n) {
  int clients = n / 2;
  ockam_node *node;
  ockam_tcp *tcp;
  BENCH_CHECK(ockam_node_create(&node));
  BENCH_CHECK(ockam_tcp_create(node, NULL, &tcp));
  char hop[128], tag[40];
  ockam_random_address(tag);
  tag[8] = 0;
  snprintf(hop, sizeof hop, "1#%s", hub);
  ockam_route *to_hub;
  BENCH_CHECK(ockam_route_parse(hop, &to_hub));
  /* Connect once so the baseline includes the connection. */
  BENCH_CHECK(ockam_tcp_connect(tcp, hub, 5000));
  bench_ignore(ockam_node_run_until(node, 100, never, NULL));
  long before = bench_rss_kib(hub_pid);
  ockam_stream **s = calloc((size_t)clients, sizeof *s);
  double t0 = bench_now();
  for (int i = 0; i < clients; i++) {
    char out[64], in[64];
    snprintf(out, sizeof out, "m-%s-%d-o", tag, i);
    snprintf(in, sizeof in, "m-%s-%d-i", tag, i);
    BENCH_CHECK(ockam_stream_connect(node, to_hub, out, in, NULL, &s[i]));
  }
  for (int i = 0; i < clients; i++) BENCH_CHECK(ockam_stream_wait_ready(s[i], 60000));
  double dt = bench_now() - t0;
  bench_ignore(ockam_node_run_until(node, 300, never, NULL));
  long after = bench_rss_kib(hub_pid);
  char name[64];
  snprintf(name, sizeof name, "streams_%d_ready_ms", n);
  bench_result(name, dt * 1e3, "ms");
  snprintf(name, sizeof name, "streams_%d_hub_rss", n);
  bench_result(name, (double)after, "KiB");
  snprintf(name, sizeof name, "streams_%d_per_stream", n);
  bench_result(name, (double)(after - before) / n, "KiB");
  for (int i = 0; i < clients; i++) ockam_stream_close(s[i]);
  free(s);
  ockam_route_free(to_hub);
  ockam_tcp_close(tcp);
  ockam_node_destroy(node);
  return 0;
}

int main(int argc, char **argv) {
  if (argc < 2) return 2;
  ockam_log_set_level(OCKAM_LOG_ERROR);
  const char *hub = bench_arg(argc, argv, "--hub", "127.0.0.1:4000");
  int pid = (int)bench_arg_long(argc, argv, "--hub-pid", 0);
  int n = (int)bench_arg_long(argc, argv, "--n", 1000);
  if (!strcmp(argv[1], "idle")) return run_idle();
  if (!strcmp(argv[1], "conns")) return run_conns(hub, pid, n);
  if (!strcmp(argv[1], "streams")) return run_streams(hub, pid, n);
  return 2;
}
