/* Hub memory under clients that never read: N connections each send echo
 * requests of 60,000 bytes as fast as the hub takes them and never read a
 * reply. Prints the hub's idle and peak VmRSS next to the bound stated in
 * docs/OPERATIONS.md (idle + output budget + read burst + N x (2 KiB + a
 * partial frame of up to 64 KiB)), and against the target idle + 64 MiB.
 *
 *   bench_unread --hub HOST:PORT --hub-pid PID [--n N] [--seconds S]
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
  if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
    close(fd);
    return -1;
  }
  fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
  return fd;
}

int main(int argc, char **argv) {
  const char *hub = bench_arg(argc, argv, "--hub", "127.0.0.1:4000");
  int pid = (int)bench_arg_long(argc, argv, "--hub-pid", 0);
  long n = bench_arg_long(argc, argv, "--n", 100);
  long seconds = bench_arg_long(argc, argv, "--seconds", 5);
  if (pid <= 0 || n <= 0) {
    fprintf(stderr, "usage: bench_unread --hub HOST:PORT --hub-pid PID [--n N] [--seconds S]\n");
    return 2;
  }
  enum { SIZE = 60000 };
  static uint8_t payload[SIZE], frame[SIZE + 64];
  payload[0] = 0xe0; /* BARE string, u16 varint length 59997 */
  payload[1] = 0xd4;
  payload[2] = 0x03;
  memset(payload + 3, 'x', SIZE - 3);
  ockam_message *m;
  ockam_route *r;
  BENCH_CHECK(ockam_message_new(&m));
  BENCH_CHECK(ockam_route_parse("echo_service", &r));
  BENCH_CHECK(ockam_route_append_route(ockam_message_onward_mut(m), r));
  BENCH_CHECK(ockam_route_append_str(ockam_message_return_mut(m), "app"));
  BENCH_CHECK(ockam_message_set_payload(m, payload, SIZE));
  size_t fl;
  BENCH_CHECK(ockam_message_encode(m, frame + 2, sizeof frame - 2, &fl));
  frame[0] = (uint8_t)(fl >> 8);
  frame[1] = (uint8_t)fl;
  fl += 2;
  ockam_message_free(m);
  ockam_route_free(r);

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
      ssize_t w = send(fds[i], frame + off[i], fl - off[i], MSG_NOSIGNAL);
      if (w > 0) {
        sent += (unsigned long long)w;
        off[i] = (off[i] + (size_t)w) % fl;
      }
    }
    long rss = bench_rss_kib(pid);
    if (rss > peak) peak = rss;
    usleep(1000);
  }
  /* The formula of docs/OPERATIONS.md, with every connection holding a
   * partial frame of at most 64 KiB (these clients are paused mid-frame). */
  long bound = idle + (long)(OCKAM_TCP_OUTPUT_BUDGET / 1024) + (long)(OCKAM_TCP_READ_BURST / 1024) +
               open * (2 + 64);
  printf(
      "unread clients=%ld sent_mb=%.1f idle_kib=%ld peak_kib=%ld growth_kib=%ld "
      "bound_kib=%ld target_kib=%ld %s\n",
      open, (double)sent / 1e6, idle, peak, peak - idle, bound, idle + 64L * 1024,
      peak <= idle + 64L * 1024 ? "within-target" : "OVER-TARGET");
  for (long i = 0; i < n; i++)
    if (fds[i] >= 0) close(fds[i]);
  free(fds);
  free(off);
  return 0;
}
