/* The hub's memory under the pull amplification attack: a stream holds one
 * message of 64,000 bytes, and N raw connections each send stream_pull
 * requests for it (about 40 bytes, each asking for a reply of about 64 KB)
 * as fast as the hub takes them, with a small receive window, never reading
 * a reply. The hub's resident memory (sampled VmRSS and the kernel's VmHWM)
 * must stay under idle + 64 MiB, the bound of docs/OPERATIONS.md ("Running
 * on a public address"); afterwards an ordinary client still reads the
 * message. A memory bound, not a timing assertion: a slower machine only
 * makes the hub answer fewer pulls. */
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "ockam/ockam.h"
#include "testutil.h"

#if defined(__SANITIZE_ADDRESS__)
/* The sanitizer's shadow memory and redzones, and its quarantine of freed
 * memory (limited to 32 MiB for the hub below). */
#define BOUND_KB (192L * 1024)
#else
#define BOUND_KB (64L * 1024)
#endif

enum { STORED = 64000 };

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

/* stream_pull{request_id 1, index 0, limit 1}. */
static size_t pull_payload(uint8_t *out) {
  uint8_t body[8];
  size_t bl = put_uint(body, 1);
  bl += put_uint(body + bl, 0);
  bl += put_uint(body + bl, 1);
  return proto_payload(out, "stream_pull", body, bl);
}

/* VmHWM (peak resident set) of a process in kB, or -1. */
static long hwm_kb(pid_t pid) {
  char path[64], line[256];
  snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
  FILE *f = fopen(path, "r");
  if (!f) return -1;
  long kb = -1;
  while (fgets(line, sizeof line, f))
    if (!strncmp(line, "VmHWM:", 6)) kb = strtol(line + 6, NULL, 10);
  fclose(f);
  return kb;
}

/* A non-blocking connection with a 4 KiB receive window (set before the
 * handshake, so the window stays small). */
static int dial_small_window(const char *hub) {
  char host[64];
  const char *colon = strrchr(hub, ':');
  assert_non_null(colon);
  assert_true((size_t)(colon - hub) < sizeof host);
  memcpy(host, hub, (size_t)(colon - hub));
  host[colon - hub] = '\0';
  struct sockaddr_in a = {0};
  a.sin_family = AF_INET;
  a.sin_port = htons((uint16_t)atoi(colon + 1));
  assert_int_equal(inet_pton(AF_INET, host, &a.sin_addr), 1);
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  assert_true(fd >= 0);
  setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &(int){4096}, sizeof(int));
  assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof a), 0);
  fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
  return fd;
}

typedef struct client {
  ockam_node *node;
  ockam_tcp *tcp;
  ockam_mailbox *app;
} client;

static void client_open(client *c, const char *hub) {
  assert_int_equal(ockam_node_create(&c->node), 0);
  assert_int_equal(ockam_tcp_create(c->node, NULL, &c->tcp), 0);
  assert_int_equal(ockam_tcp_connect(c->tcp, hub, 20000), 0);
  assert_int_equal(ockam_mailbox_create(c->node, "app", &c->app), 0);
}

static void client_close(client *c) {
  ockam_mailbox_destroy(c->app);
  ockam_tcp_close(c->tcp);
  ockam_node_destroy(c->node);
}

/* Creates stream `name` (returns the Init reply: its return route is the
 * stream worker) and, when size > 0, stores one message of size bytes. */
static ockam_message *stream_setup(client *c, const char *hub, const char *name, size_t size) {
  char text[96];
  snprintf(text, sizeof text, "1#%s;stream", hub);
  ockam_route *service;
  assert_int_equal(ockam_route_parse(text, &service), 0);
  static uint8_t body[STORED + 64], req[STORED + 128];
  size_t n = 0;
  body[n++] = 1; /* Some(name) */
  n += put_uint(body + n, strlen(name));
  memcpy(body + n, name, strlen(name));
  n += strlen(name);
  size_t len = proto_payload(req, "stream_create", body, n);
  assert_int_equal(ockam_send(c->node, "app", service, req, len), 0);
  ockam_route_free(service);
  ockam_message *init = NULL;
  assert_int_equal(ockam_mailbox_receive(c->app, 30000, &init), 0);
  if (size) {
    n = put_uint(body, 1); /* request id */
    n += put_uint(body + n, size);
    memset(body + n, 'p', size);
    n += size;
    len = proto_payload(req, "stream_push", body, n);
    assert_int_equal(ockam_send(c->node, "app", ockam_message_return(init), req, len), 0);
    ockam_message *confirm = NULL;
    assert_int_equal(ockam_mailbox_receive(c->app, 30000, &confirm), 0);
    ockam_message_free(confirm);
  }
  return init;
}

static void test_pull_amplification(void **state) {
  (void)state;
  enum { N = 64, SECONDS = 8 };
  tu_proc hub;
  char bound[64];
#if defined(__SANITIZE_ADDRESS__)
  /* The default quarantine (256 MiB) would be most of what is measured. */
  char asan[512];
  const char *prev = getenv("ASAN_OPTIONS");
  snprintf(asan, sizeof asan, "%s%squarantine_size_mb=32", prev ? prev : "", prev ? ":" : "");
  assert_int_equal(setenv("ASAN_OPTIONS", asan, 1), 0);
#endif
  assert_int_equal(tu_start_hub(&hub, 0, "memory", NULL, NULL, bound, sizeof bound), 0);
  client c;
  client_open(&c, bound);
  ockam_message *init = stream_setup(&c, bound, "amplified", STORED);

  /* The pull frame as a raw client sends it: to the stream worker's local
   * address on the hub, return route [app]. */
  ockam_message *m;
  assert_int_equal(ockam_message_new(&m), 0);
  assert_int_equal(
      ockam_route_append_route(ockam_message_onward_mut(m), ockam_message_return(init)), 0);
  ockam_route_pop(ockam_message_onward_mut(m)); /* 1#hub */
  assert_int_equal(ockam_route_append_str(ockam_message_return_mut(m), "app"), 0);
  uint8_t p[64];
  assert_int_equal(ockam_message_set_payload(m, p, pull_payload(p)), 0);
  uint8_t f[256];
  size_t fl;
  assert_int_equal(ockam_message_encode(m, f + 2, sizeof f - 2, &fl), 0);
  f[0] = (uint8_t)(fl >> 8);
  f[1] = (uint8_t)fl;
  fl += 2;
  ockam_message_free(m);
  static uint8_t batch[65536];
  size_t bl = 0;
  while (bl + fl <= sizeof batch) {
    memcpy(batch + bl, f, fl);
    bl += fl;
  }

  long idle = tu_rss_kb(hub.pid);
  assert_true(idle > 0);
  int fds[N];
  size_t off[N] = {0};
  for (int i = 0; i < N; i++) fds[i] = dial_small_window(bound);
  long peak = idle;
  unsigned long long sent = 0;
  uint64_t until = tu_now_ms() + SECONDS * 1000;
  while (tu_now_ms() < until) {
    for (int i = 0; i < N; i++) {
      ssize_t w = send(fds[i], batch + off[i], bl - off[i], MSG_NOSIGNAL);
      if (w > 0) {
        sent += (unsigned long long)w;
        off[i] = (off[i] + (size_t)w) % bl;
      }
    }
    long r = tu_rss_kb(hub.pid);
    if (r > peak) peak = r;
    usleep(2000);
  }
  long hwm = hwm_kb(hub.pid);
  if (hwm > peak) peak = hwm;
  printf(
      "# %d never-reading clients sent %.1f MB of pulls (%llu pulls, each for %d bytes); "
      "hub RSS %ld kB idle, %ld kB at most (+%ld kB, bound +%ld kB)\n",
      N, (double)sent / 1e6, sent / fl, STORED, idle, peak, peak - idle, BOUND_KB);
  assert_true(sent / fl > 10000); /* the attack did reach the hub */
  assert_true(peak - idle < BOUND_KB);
  for (int i = 0; i < N; i++) close(fds[i]);

  /* Still serving: an ordinary client pulls the message. Until the hub has
   * worked off what the flood left queued, a pull may be answered empty
   * (the reads' budget is in use); a consumer pulls again. */
  uint8_t body[8], req[64];
  size_t n = put_uint(body, 2);
  n += put_uint(body + n, 0);
  n += put_uint(body + n, 1);
  size_t len = proto_payload(req, "stream_pull", body, n);
  uint64_t deadline = tu_now_ms() + 60000;
  size_t rlen = 0;
  while (rlen <= STORED) {
    assert_true(tu_now_ms() < deadline);
    assert_int_equal(ockam_send(c.node, "app", ockam_message_return(init), req, len), 0);
    ockam_message *reply = NULL;
    assert_int_equal(ockam_mailbox_receive(c.app, 30000, &reply), 0);
    ockam_message_payload(reply, &rlen); /* the 64,000 bytes, or an empty list */
    ockam_message_free(reply);
    if (rlen <= STORED) usleep(100000);
  }
  ockam_message_free(init);
  client_close(&c);
  assert_int_equal(tu_term(&hub), 0);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_pull_amplification),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
