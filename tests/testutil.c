#include "testutil.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* cmocka wants these before it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "ockam/ockam.h"

uint64_t tu_now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* Children still running when the test process exits (a failed assertion
 * skips the test's own cleanup) are killed, and die with it if it crashes. */
#define MAX_CHILDREN 256
static pid_t children[MAX_CHILDREN];

static void kill_children(void) {
  for (int i = 0; i < MAX_CHILDREN; i++)
    if (children[i] > 0) {
      kill(children[i], SIGKILL);
      waitpid(children[i], NULL, 0);
      children[i] = 0;
    }
}

static void track_child(pid_t pid, bool add) {
  static bool registered;
  if (!registered) {
    atexit(kill_children);
    registered = true;
  }
  for (int i = 0; i < MAX_CHILDREN; i++) {
    if (add && children[i] == 0) {
      children[i] = pid;
      return;
    }
    if (!add && children[i] == pid) {
      children[i] = 0;
      return;
    }
  }
}

int tu_spawn(tu_proc *p, char *const argv[], bool capture) {
  memset(p, 0, sizeof *p);
  p->out_fd = -1;
  int pipefd[2] = {-1, -1};
  if (capture && pipe(pipefd) != 0) return -1;
  pid_t pid = fork();
  if (pid < 0) return -1;
  if (pid == 0) {
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (capture) {
      dup2(pipefd[1], STDOUT_FILENO);
      close(pipefd[0]);
      close(pipefd[1]);
    }
    execv(argv[0], argv);
    fprintf(stderr, "exec %s: %s\n", argv[0], strerror(errno));
    _exit(127);
  }
  if (capture) {
    close(pipefd[1]);
    p->out_fd = pipefd[0];
  }
  p->pid = pid;
  track_child(pid, true);
  return 0;
}

int tu_read_line(tu_proc *p, char *out, size_t cap, int timeout_ms) {
  uint64_t deadline = tu_now_ms() + (uint64_t)timeout_ms;
  for (;;) {
    char *nl = memchr(p->line, '\n', p->line_len);
    if (nl) {
      size_t n = (size_t)(nl - p->line);
      size_t c = n < cap - 1 ? n : cap - 1;
      memcpy(out, p->line, c);
      out[c] = '\0';
      memmove(p->line, nl + 1, p->line_len - n - 1);
      p->line_len -= n + 1;
      return 0;
    }
    if (p->out_fd < 0 || p->line_len == sizeof p->line) return -1;
    int64_t left = (int64_t)(deadline - tu_now_ms());
    if (left <= 0) return -1;
    struct pollfd pfd = {p->out_fd, POLLIN, 0};
    if (poll(&pfd, 1, (int)left) <= 0) return -1;
    ssize_t n = read(p->out_fd, p->line + p->line_len, sizeof p->line - p->line_len);
    if (n <= 0) return -1;
    p->line_len += (size_t)n;
  }
}

int tu_expect_line(tu_proc *p, const char *needle, char *out, size_t cap, int timeout_ms) {
  uint64_t deadline = tu_now_ms() + (uint64_t)timeout_ms;
  char line[4096];
  for (;;) {
    int64_t left = (int64_t)(deadline - tu_now_ms());
    if (left <= 0) return -1;
    if (tu_read_line(p, line, sizeof line, (int)left) != 0) return -1;
    if (strstr(line, needle)) {
      if (out) snprintf(out, cap, "%s", line);
      return 0;
    }
  }
}

int tu_kill(tu_proc *p, int sig) {
  int status = 0;
  if (p->pid > 0) {
    kill(p->pid, sig);
    waitpid(p->pid, &status, 0);
    track_child(p->pid, false);
    p->pid = 0;
  }
  if (p->out_fd >= 0) close(p->out_fd);
  p->out_fd = -1;
  return status;
}

int tu_term(tu_proc *p) {
  if (p->pid <= 0) return -1;
  kill(p->pid, SIGTERM);
  return tu_wait(p, 10000);
}

int tu_wait(tu_proc *p, int timeout_ms) {
  uint64_t deadline = tu_now_ms() + (uint64_t)timeout_ms;
  int status;
  for (;;) {
    pid_t r = waitpid(p->pid, &status, WNOHANG);
    if (r == p->pid) {
      track_child(p->pid, false);
      p->pid = 0;
      if (p->out_fd >= 0) close(p->out_fd);
      p->out_fd = -1;
      return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    }
    if (tu_now_ms() > deadline) {
      tu_kill(p, SIGKILL);
      return -1;
    }
    usleep(10000);
  }
}

int tu_free_port(void) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a = {0};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  if (bind(fd, (struct sockaddr *)&a, sizeof a) != 0 ||
      getsockname(fd, (struct sockaddr *)&a, &len) != 0) {
    close(fd);
    return -1;
  }
  close(fd);
  return ntohs(a.sin_port);
}

int tu_wait_file(const char *path, char *out, size_t cap, int timeout_ms) {
  uint64_t deadline = tu_now_ms() + (uint64_t)timeout_ms;
  while (tu_now_ms() < deadline) {
    FILE *f = fopen(path, "r");
    if (f) {
      char *ok = fgets(out, (int)cap, f);
      fclose(f);
      if (ok) {
        out[strcspn(out, "\r\n")] = '\0';
        return 0;
      }
    }
    usleep(10000);
  }
  return -1;
}

int tu_start_hub(tu_proc *p, int port, const char *store, const char *data_dir,
                 const char *const *extra, char *bound, size_t bound_cap) {
  char listen[64], ready[256];
  snprintf(listen, sizeof listen, "127.0.0.1:%d", port);
  char *dir = tu_tempdir("hubready");
  snprintf(ready, sizeof ready, "%s/ready", dir);
  char *argv[40];
  int n = 0;
  argv[n++] = (char *)OCKAM_BIN;
  argv[n++] = (char *)"hub";
  argv[n++] = (char *)"--listen";
  argv[n++] = listen;
  argv[n++] = (char *)"--ready-file";
  argv[n++] = ready;
  if (store) {
    argv[n++] = (char *)"--store";
    argv[n++] = (char *)store;
  }
  if (data_dir) {
    argv[n++] = (char *)"--data";
    argv[n++] = (char *)data_dir;
  }
  for (int i = 0; extra && extra[i] && n < 38; i++) argv[n++] = (char *)extra[i];
  argv[n] = NULL;
  int rc = tu_spawn(p, argv, false);
  if (rc == 0) rc = tu_wait_file(ready, bound, bound_cap, 10000);
  tu_rmrf(dir);
  free(dir);
  return rc;
}

int tu_connect(const char *host_port, int timeout_ms) {
  char host[64];
  const char *colon = strrchr(host_port, ':');
  if (!colon || (size_t)(colon - host_port) >= sizeof host) return -1;
  memcpy(host, host_port, (size_t)(colon - host_port));
  host[colon - host_port] = '\0';
  struct sockaddr_in a = {0};
  a.sin_family = AF_INET;
  a.sin_port = htons((uint16_t)atoi(colon + 1));
  if (inet_pton(AF_INET, host, &a.sin_addr) != 1) return -1;
  uint64_t deadline = tu_now_ms() + (uint64_t)timeout_ms;
  while (tu_now_ms() < deadline) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (connect(fd, (struct sockaddr *)&a, sizeof a) == 0) return fd;
    close(fd);
    usleep(20000);
  }
  return -1;
}

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

static int recv_exact(int fd, uint8_t *p, size_t n, uint64_t deadline) {
  while (n) {
    int64_t left = (int64_t)(deadline - tu_now_ms());
    if (left <= 0) return -1;
    struct pollfd pfd = {fd, POLLIN, 0};
    if (poll(&pfd, 1, (int)left) <= 0) return -1;
    ssize_t r = recv(fd, p, n, 0);
    if (r == 0) return 0;
    if (r < 0) return -1;
    p += r;
    n -= (size_t)r;
  }
  return 1;
}

int tu_recv_frame(int fd, uint8_t *out, size_t cap, int timeout_ms) {
  uint64_t deadline = tu_now_ms() + (uint64_t)timeout_ms;
  uint8_t hdr[2];
  int r = recv_exact(fd, hdr, 2, deadline);
  if (r <= 0) return r;
  size_t n = ((size_t)hdr[0] << 8) | hdr[1];
  if (n > cap) return -1;
  r = recv_exact(fd, out, n, deadline);
  if (r <= 0) return r == 0 ? -1 : r;
  return (int)n;
}

int tu_wait_closed(int fd, int timeout_ms) {
  uint64_t deadline = tu_now_ms() + (uint64_t)timeout_ms;
  uint8_t buf[4096];
  for (;;) {
    int64_t left = (int64_t)(deadline - tu_now_ms());
    if (left <= 0) return 0;
    struct pollfd pfd = {fd, POLLIN, 0};
    if (poll(&pfd, 1, (int)left) <= 0) return 0;
    ssize_t r = recv(fd, buf, sizeof buf, 0);
    if (r == 0 || (r < 0 && errno == ECONNRESET)) return 1;
    if (r < 0) return 0;
  }
}

char *tu_tempdir(const char *prefix) {
  const char *base = getenv("TMPDIR");
  char *path = malloc(512);
  snprintf(path, 512, "%s/ockam-%s-XXXXXX", base ? base : "/tmp", prefix);
  if (!mkdtemp(path)) {
    free(path);
    return NULL;
  }
  return path;
}

static int rm_cb(const char *path, const struct stat *sb, int flag, struct FTW *ftw) {
  (void)sb;
  (void)flag;
  (void)ftw;
  return remove(path);
}

void tu_rmrf(const char *path) {
  if (path) nftw(path, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
}

long tu_rss_kb(pid_t pid) {
  char path[64], line[256];
  snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
  FILE *f = fopen(path, "r");
  if (!f) return -1;
  long kb = -1;
  while (fgets(line, sizeof line, f))
    if (sscanf(line, "VmRSS: %ld kB", &kb) == 1) break;
  fclose(f);
  return kb;
}

int tu_fd_count(pid_t pid) {
  char path[64];
  snprintf(path, sizeof path, "/proc/%d/fd", (int)pid);
  DIR *d = opendir(path);
  if (!d) return -1;
  int n = 0;
  struct dirent *e;
  while ((e = readdir(d)))
    if (e->d_name[0] != '.') n++;
  closedir(d);
  return n;
}

/* ---- Ockam frames over a raw socket ------------------------------------------ */

size_t tu_frame(uint8_t *out, size_t cap, const char *to, const uint8_t *payload, size_t len) {
  ockam_message *m;
  ockam_route *r;
  assert_int_equal(ockam_message_new(&m), 0);
  assert_int_equal(ockam_route_parse(to, &r), 0);
  assert_int_equal(ockam_route_append_route(ockam_message_onward_mut(m), r), 0);
  ockam_route_free(r);
  assert_int_equal(ockam_route_append_str(ockam_message_return_mut(m), "app"), 0);
  assert_int_equal(ockam_message_set_payload(m, payload, len), 0);
  size_t n;
  assert_true(cap >= 2);
  assert_int_equal(ockam_message_encode(m, out + 2, cap - 2, &n), 0);
  out[0] = (uint8_t)(n >> 8);
  out[1] = (uint8_t)n;
  ockam_message_free(m);
  return n + 2;
}

void tu_send_msg(int fd, const char *to, const uint8_t *payload, size_t len) {
  enum { CAP = 70000 };
  uint8_t *out = malloc(CAP);
  assert_non_null(out);
  size_t n = tu_frame(out, CAP, to, payload, len);
  int rc = tu_send_all(fd, out, n);
  free(out);
  assert_int_equal(rc, 0);
}

ockam_message *tu_recv_msg(int fd, int timeout_ms) {
  enum { CAP = 70000 };
  uint8_t *buf = malloc(CAP);
  assert_non_null(buf);
  int n = tu_recv_frame(fd, buf, CAP, timeout_ms);
  ockam_message *m = NULL;
  if (n > 0 && ockam_message_decode(buf, (size_t)n, &m) != OCKAM_OK) m = NULL;
  free(buf);
  return m;
}

void tu_check_echo(int fd, const char *text, int timeout_ms) {
  uint8_t f[512], p[256];
  size_t tl = strlen(text);
  assert_true(tl < 128); /* a one-byte length prefix */
  p[0] = (uint8_t)tl;
  memcpy(p + 1, text, tl);
  size_t n = tu_frame(f, sizeof f, "echo_service", p, 1u + tl);
  assert_int_equal(tu_send_all(fd, f, n), 0);
  ockam_message *m = tu_recv_msg(fd, timeout_ms);
  assert_non_null(m);
  const char *s;
  size_t len;
  assert_int_equal(ockam_message_get_string(m, &s, &len), 0);
  assert_int_equal(len, tl);
  assert_memory_equal(s, text, len);
  ockam_message_free(m);
}

void tu_discard(int fd) {
  uint8_t buf[65536];
  while (recv(fd, buf, sizeof buf, MSG_DONTWAIT) > 0) {
  }
}

int tu_memory_hub_connected(tu_proc *hub, char *bound, size_t cap) {
  assert_int_equal(tu_start_hub(hub, 0, "memory", NULL, NULL, bound, cap), 0);
  int fd = tu_connect(bound, 5000);
  assert_true(fd >= 0);
  return fd;
}

void tu_client_node(ockam_node **node, ockam_tcp **tcp) {
  assert_int_equal(ockam_node_create(node), 0);
  assert_int_equal(ockam_tcp_create(*node, NULL, tcp), 0);
}

int tu_run_tests(const char *name, const struct CMUnitTest *tests, size_t n) {
  signal(SIGPIPE, SIG_IGN);
  return _cmocka_run_group_tests(name, tests, n, NULL, NULL);
}
