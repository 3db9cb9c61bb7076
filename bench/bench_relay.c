/* The floor of the guide's echo on this host: the same four one-way trips
 * between three processes, and nothing else.
 *
 *   bench_relay [--count N] [--size BYTES]
 *
 * The guide's echo goes initiator -> hub -> responder -> hub -> initiator:
 * each leg a loopback TCP write that wakes a sleeping process. Here a client
 * writes SIZE bytes to a relay process, which passes them to an echo process
 * and the answer back, with blocking sockets and poll(2): no framing beyond
 * a fixed size, no encryption, no storage, no event library. Reports the
 * round trip's p50 and p99 in microseconds (after 50 warm-up round trips). */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench_util.h"

#define MAX_SIZE 65536

static void die(const char *what) {
  perror(what);
  exit(1);
}

static int listener(uint16_t *port) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) die("socket");
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  socklen_t len = sizeof a;
  if (bind(fd, (struct sockaddr *)&a, sizeof a) || listen(fd, 4) ||
      getsockname(fd, (struct sockaddr *)&a, &len))
    die("listen");
  *port = ntohs(a.sin_port);
  return fd;
}

static void nodelay(int fd) {
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

static int dial(uint16_t port) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) die("socket");
  struct sockaddr_in a = {
      .sin_family = AF_INET, .sin_port = htons(port), .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  if (connect(fd, (struct sockaddr *)&a, sizeof a)) die("connect");
  nodelay(fd);
  return fd;
}

static int accept_one(int lfd) {
  int fd = accept(lfd, NULL, NULL);
  if (fd < 0) die("accept");
  nodelay(fd);
  close(lfd);
  return fd;
}

/* Reads exactly n bytes; false at EOF. */
static bool read_full(int fd, uint8_t *p, size_t n) {
  while (n) {
    ssize_t k = read(fd, p, n);
    if (k < 0 && errno == EINTR) continue;
    if (k <= 0) return false;
    p += k;
    n -= (size_t)k;
  }
  return true;
}

static void write_full(int fd, const uint8_t *p, size_t n) {
  while (n) {
    ssize_t k = write(fd, p, n);
    if (k < 0 && errno == EINTR) continue;
    if (k <= 0) die("write");
    p += k;
    n -= (size_t)k;
  }
}

/* The echo process: sends back every SIZE bytes it gets. */
static void run_echo(int lfd, size_t size) {
  int fd = accept_one(lfd);
  static uint8_t buf[MAX_SIZE];
  while (read_full(fd, buf, size)) write_full(fd, buf, size);
  _exit(0);
}

/* The relay: whatever one side sends goes to the other, as it comes. */
static void run_relay(int lfd, uint16_t echo_port) {
  int up = dial(echo_port), down = accept_one(lfd);
  static uint8_t buf[MAX_SIZE];
  struct pollfd p[2] = {{down, POLLIN, 0}, {up, POLLIN, 0}};
  for (;;) {
    if (poll(p, 2, -1) < 0) {
      if (errno == EINTR) continue;
      die("poll");
    }
    for (int i = 0; i < 2; i++) {
      if (!(p[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
      ssize_t k = read(p[i].fd, buf, sizeof buf);
      if (k <= 0) _exit(0);
      write_full(p[1 - i].fd, buf, (size_t)k);
    }
  }
}

int main(int argc, char **argv) {
  long count = bench_arg_long(argc, argv, "--count", 2000);
  size_t size = (size_t)bench_arg_long(argc, argv, "--size", 100);
  if (count < 1 || size < 1 || size > MAX_SIZE) {
    fprintf(stderr, "usage: bench_relay [--count N] [--size 1..%d]\n", MAX_SIZE);
    return 2;
  }
  uint16_t echo_port, relay_port;
  int echo_lfd = listener(&echo_port), relay_lfd = listener(&relay_port);
  pid_t echo = fork();
  if (echo < 0) die("fork");
  if (echo == 0) {
    close(relay_lfd);
    run_echo(echo_lfd, size);
  }
  close(echo_lfd);
  pid_t relay = fork();
  if (relay < 0) die("fork");
  if (relay == 0) run_relay(relay_lfd, echo_port);
  close(relay_lfd);
  int fd = dial(relay_port);
  static uint8_t out[MAX_SIZE], in[MAX_SIZE];
  memset(out, 'r', size);
  double *lat = calloc((size_t)count, sizeof *lat);
  if (!lat) die("calloc");
  for (long i = -50; i < count; i++) {
    double t0 = bench_now();
    write_full(fd, out, size);
    if (!read_full(fd, in, size)) die("relay closed");
    if (i >= 0) lat[i] = (bench_now() - t0) * 1e6;
  }
  bench_result("relay_rtt_p50", bench_percentile(lat, (size_t)count, 0.50), "us");
  bench_result("relay_rtt_p99", bench_percentile(lat, (size_t)count, 0.99), "us");
  close(fd);
  waitpid(relay, NULL, 0);
  waitpid(echo, NULL, 0);
  free(lat);
  return 0;
}
