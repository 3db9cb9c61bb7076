/* Hub memory under clients that never read. N raw connections send requests
 * as fast as the hub takes them and never read a reply:
 *
 *   --mode echo   60,000-byte echo requests (each answered with as much);
 *   --mode pull   the amplification attack: ~30-byte stream_pull requests for
 *                 one stored message of 64,000 bytes, so each request of ~30
 *                 bytes asks for a reply of ~64 KB. The stream is created and
 *                 written first, by an ordinary client of this program.
 *
 * Each client sets a small receive window, so the kernel holds few of its
 * replies and the hub has to. Prints the hub's idle VmRSS (after the setup),
 * its peak (sampled VmRSS and the kernel's VmHWM high-water mark, which also
 * catches peaks between samples) next to the bound stated in
 * docs/OPERATIONS.md and the target of idle + 64 MiB; exits 1 over the
 * target. Run it for less than the hub's --write-stall-timeout (30 s) to
 * measure with every connection still open.
 *
 *   bench_unread --hub HOST:PORT --hub-pid PID [--n N] [--seconds S]
 *                [--mode echo|pull]
 */
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "bench_util.h"
#include "ockam/ockam.h"

static int dial(const char *hub) {
  char host[64];
  const char *colon = strrchr(hub, ':');
  if (!colon || (size_t)(colon - hub) >= sizeof host) return -1;
  memcpy(host, hub, (size_t)(colon - hub));
  host[colon - hub] = '\0';
  struct sockaddr_in a = {0};
  a.sin_family = AF_INET;
  a.sin_port = htons((uint16_t)atoi(colon + 1));
  if (inet_pton(AF_INET, host, &a.sin_addr) != 1) return -1;
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return -1;
  /* A small receive window, as an attacker would set: the kernel holds
   * little of the replies, the hub has to. */
  setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &(int){4096}, sizeof(int));
  if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
    close(fd);
    return -1;
  }
  fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
  return fd;
}

/* VmHWM (peak resident set) of a process in KiB, -1 on error. */
static long hwm_kib(int pid) {
  char path[64], line[256];
  snprintf(path, sizeof path, "/proc/%d/status", pid);
  FILE *f = fopen(path, "r");
  if (!f) return -1;
  long kib = -1;
  while (fgets(line, sizeof line, f))
    if (!strncmp(line, "VmHWM:", 6)) {
      kib = strtol(line + 6, NULL, 10);
      break;
    }
  fclose(f);
  return kib;
}

/* ---- BARE by hand (the stream protocol, spec §7.4) ---------------------------- */

static size_t put_uint(uint8_t *p, uint64_t v) {
  size_t n = 0;
  while (v >= 0x80) {
    p[n++] = (uint8_t)(v | 0x80);
    v >>= 7;
  }
  p[n++] = (uint8_t)v;
  return n;
}

/* ProtocolPayload{proto, body} into out; returns its length. */
static size_t proto_payload(uint8_t *out, const char *proto, const uint8_t *body, size_t blen) {
  size_t n = put_uint(out, strlen(proto));
  memcpy(out + n, proto, strlen(proto));
  n += strlen(proto);
  n += put_uint(out + n, blen);
  memcpy(out + n, body, blen);
  return n + blen;
}

/* A framed TransportMessage (u16 length first) to `onward`, return [app]. */
static size_t frame(uint8_t *out, size_t cap, const ockam_route *onward, const uint8_t *payload,
                    size_t plen) {
  ockam_message *m;
  BENCH_CHECK(ockam_message_new(&m));
  BENCH_CHECK(ockam_route_append_route(ockam_message_onward_mut(m), onward));
  BENCH_CHECK(ockam_route_append_str(ockam_message_return_mut(m), "app"));
  BENCH_CHECK(ockam_message_set_payload(m, payload, plen));
  size_t fl;
  BENCH_CHECK(ockam_message_encode(m, out + 2, cap - 2, &fl));
  out[0] = (uint8_t)(fl >> 8);
  out[1] = (uint8_t)fl;
  ockam_message_free(m);
  return fl + 2;
}

/* Creates stream `name` on the hub and writes one message of `size` bytes
 * into it (an ordinary client that reads its replies); returns the stream
 * worker's address on the hub, as a route of one local hop. */
static ockam_route *stream_setup(const char *hub, const char *name, size_t size) {
  ockam_node *node;
  ockam_tcp *tcp;
  ockam_mailbox *app;
  BENCH_CHECK(ockam_node_create(&node));
  BENCH_CHECK(ockam_tcp_create(node, NULL, &tcp));
  BENCH_CHECK(ockam_tcp_connect(tcp, hub, 10000));
  BENCH_CHECK(ockam_mailbox_create(node, "app", &app));
  char text[96];
  snprintf(text, sizeof text, "1#%s;stream", hub);
  ockam_route *service;
  BENCH_CHECK(ockam_route_parse(text, &service));
  static uint8_t body[70000], req[70100];
  size_t n = 0;
  body[n++] = 1; /* Some(name) */
  n += put_uint(body + n, strlen(name));
  memcpy(body + n, name, strlen(name));
  n += strlen(name);
  size_t len = proto_payload(req, "stream_create", body, n);
  BENCH_CHECK(ockam_send(node, "app", service, req, len));
  ockam_message *init = NULL;
  BENCH_CHECK(ockam_mailbox_receive(app, 10000, &init));
  n = put_uint(body, 1); /* request id */
  n += put_uint(body + n, size);
  memset(body + n, 'p', size);
  n += size;
  len = proto_payload(req, "stream_push", body, n);
  BENCH_CHECK(ockam_send(node, "app", ockam_message_return(init), req, len));
  ockam_message *confirm = NULL;
  BENCH_CHECK(ockam_mailbox_receive(app, 10000, &confirm));
  ockam_message_free(confirm);
  /* The stream worker as seen from a connection of the hub: its local hop. */
  ockam_route *worker;
  BENCH_CHECK(ockam_route_new(&worker));
  BENCH_CHECK(ockam_route_append_route(worker, ockam_message_return(init)));
  ockam_route_pop(worker); /* 1#hub */
  ockam_message_free(init);
  ockam_route_free(service);
  ockam_mailbox_destroy(app);
  ockam_tcp_close(tcp);
  ockam_node_destroy(node);
  return worker;
}

int main(int argc, char **argv) {
  const char *hub = bench_arg(argc, argv, "--hub", "127.0.0.1:4000");
  int pid = (int)bench_arg_long(argc, argv, "--hub-pid", 0);
  long n = bench_arg_long(argc, argv, "--n", 100);
  long seconds = bench_arg_long(argc, argv, "--seconds", 5);
  const char *mode = bench_arg(argc, argv, "--mode", "echo");
  bool pull = !strcmp(mode, "pull");
  if (pid <= 0 || n <= 0 || (!pull && strcmp(mode, "echo"))) {
    fprintf(stderr,
            "usage: bench_unread --hub HOST:PORT --hub-pid PID [--n N] [--seconds S] "
            "[--mode echo|pull]\n");
    return 2;
  }
  enum { ECHO_SIZE = 60000, STORED = 64000 };
  static uint8_t payload[ECHO_SIZE], f[ECHO_SIZE + 64];
  size_t fl;
  ockam_route *to;
  if (pull) {
    /* stream_pull{request_id 1, index 0, limit 1}: the stored 64,000 bytes. */
    to = stream_setup(hub, "bench-unread", STORED);
    uint8_t body[8];
    size_t bl = put_uint(body, 1);
    bl += put_uint(body + bl, 0);
    bl += put_uint(body + bl, 1);
    size_t pl = proto_payload(payload, "stream_pull", body, bl);
    fl = frame(f, sizeof f, to, payload, pl);
  } else {
    payload[0] = 0xe0; /* BARE string, u16 varint length 59997 */
    payload[1] = 0xd4;
    payload[2] = 0x03;
    memset(payload + 3, 'x', ECHO_SIZE - 3);
    BENCH_CHECK(ockam_route_parse("echo_service", &to));
    fl = frame(f, sizeof f, to, payload, ECHO_SIZE);
  }
  ockam_route_free(to);
  /* Many requests per send() for small ones, as a client would pipeline. */
  static uint8_t batch[65536];
  size_t bl = 0;
  while (bl + fl <= sizeof batch) {
    memcpy(batch + bl, f, fl);
    bl += fl;
  }

  long idle = bench_rss_kib(pid);
  int *fds = calloc((size_t)n, sizeof *fds);
  size_t *off = calloc((size_t)n, sizeof *off);
  if (!fds || !off) return 1;
  long open = 0;
  for (long i = 0; i < n; i++) {
    fds[i] = dial(hub);
    if (fds[i] >= 0) open++;
  }
  double t0 = bench_now();
  long peak = idle;
  unsigned long long sent = 0;
  while (bench_now() - t0 < (double)seconds) {
    for (long i = 0; i < n; i++) {
      if (fds[i] < 0) continue;
      ssize_t w = send(fds[i], batch + off[i], bl - off[i], MSG_NOSIGNAL);
      if (w > 0) {
        sent += (unsigned long long)w;
        off[i] = (off[i] + (size_t)w) % bl;
      }
    }
    long rss = bench_rss_kib(pid);
    if (rss > peak) peak = rss;
    usleep(1000);
  }
  long hwm = hwm_kib(pid);
  if (hwm > peak) peak = hwm;
  /* The formula of docs/OPERATIONS.md for clients that never read: output
   * buffers, incomplete frames, payload waiting in the node (pull reads
   * included), the overhead of the messages waiting there, the message
   * cache, and the state of each connection. */
  long bound = idle + (long)(OCKAM_TCP_OUTPUT_BUDGET / 1024) +
               (long)(OCKAM_TCP_PARTIAL_BUDGET / 1024) +
               (long)(OCKAM_STREAM_PENDING_READ_BYTES / 1024) + 8L * 1024 +
               (long)(OCKAM_MESSAGE_CACHE_BYTES / 1024) + open * 2;
  printf(
      "unread mode=%s clients=%ld sent_mb=%.1f idle_kib=%ld peak_kib=%ld growth_kib=%ld "
      "bound_kib=%ld target_kib=%ld %s\n",
      mode, open, (double)sent / 1e6, idle, peak, peak - idle, bound, idle + 64L * 1024,
      peak <= idle + 64L * 1024 ? "within-target" : "OVER-TARGET");
  for (long i = 0; i < n; i++)
    if (fds[i] >= 0) close(fds[i]);
  free(fds);
  free(off);
  return peak <= idle + 64L * 1024 ? 0 : 1;
}
