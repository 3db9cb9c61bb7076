/* Hostile clients against the real hub and the guide's nodes, over real TCP
 * on loopback. Each test first mounts an attack that used to succeed, then
 * checks that it now fails while honest clients keep being served:
 *
 *   index poisoning   Save(victim, stream, 2^64-1) does not make the victim
 *                     skip what is stored later;
 *   data directory    one hub per data directory; unsafe directories and
 *                     planted symlinks are refused;
 *   forwarders        a connection gets a bounded number of them, and they
 *                     go away with it;
 *   stream quotas     a connection creates a bounded number of streams;
 *                     streams can be deleted; empty streams expire;
 *   handshakes        garbage pushed to a channel's handshake address does
 *                     not stop the handshake;
 *   injected routes   a message pushed into a stream reaches only addresses
 *                     its consumer allowed.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "ockam/ockam.h"
#include "testutil.h"

#ifndef PUMP_BIN
#define PUMP_BIN "pump"
#endif

/* ---- BARE and frames ------------------------------------------------------------ */

typedef struct wbuf {
  uint8_t b[70000];
  size_t n;
} wbuf;

static void w_u8(wbuf *w, uint8_t v) {
  assert_true(w->n < sizeof w->b);
  w->b[w->n++] = v;
}

static void w_uint(wbuf *w, uint64_t v) {
  do {
    w_u8(w, (uint8_t)((v & 0x7f) | (v > 0x7f ? 0x80 : 0)));
    v >>= 7;
  } while (v);
}

static void w_bytes(wbuf *w, const void *p, size_t len) {
  w_uint(w, len);
  assert_true(w->n + len <= sizeof w->b);
  memcpy(w->b + w->n, p, len);
  w->n += len;
}

static void w_str(wbuf *w, const char *s) {
  w_bytes(w, s, strlen(s));
}

/* ProtocolPayload{protocol, data = body}. */
static void w_proto(wbuf *out, const char *protocol, const wbuf *body) {
  out->n = 0;
  w_str(out, protocol);
  w_bytes(out, body->b, body->n);
}

typedef struct rd {
  const uint8_t *p;
  size_t n;
  bool bad;
} rd;

static uint64_t r_uint(rd *r) {
  uint64_t v = 0;
  for (int shift = 0; shift < 70; shift += 7) {
    if (r->n == 0) {
      r->bad = true;
      return 0;
    }
    uint8_t b = *r->p++;
    r->n--;
    v |= (uint64_t)(b & 0x7f) << shift;
    if (!(b & 0x80)) return v;
  }
  r->bad = true;
  return 0;
}

static const uint8_t *r_bytes(rd *r, size_t *len) {
  uint64_t l = r_uint(r);
  if (r->bad || l > r->n) {
    r->bad = true;
    *len = 0;
    return NULL;
  }
  const uint8_t *p = r->p;
  r->p += l;
  r->n -= l;
  *len = (size_t)l;
  return p;
}

/* Splits a reply payload into its protocol name and body; false if it has none. */
static bool reply_split(const ockam_message *m, char *proto, size_t cap, rd *body) {
  size_t len;
  rd r = {ockam_message_payload(m, &len), 0, false};
  r.n = len;
  size_t pl, bl;
  const uint8_t *pp = r_bytes(&r, &pl);
  const uint8_t *bp = r_bytes(&r, &bl);
  if (r.bad || pl >= cap) return false;
  memcpy(proto, pp, pl);
  proto[pl] = 0;
  *body = (rd){bp, bl, false};
  return true;
}

/* ---- stream protocol requests --------------------------------------------------- */

static void sp_create(int fd, const char *service, const char *name) {
  wbuf body = {0}, p;
  if (name) {
    w_u8(&body, 1);
    w_str(&body, name);
  } else {
    w_u8(&body, 0);
  }
  w_proto(&p, "stream_create", &body);
  tu_send_msg(fd, service, p.b, p.n);
}

/* Waits for the answer to a create: 1 = Init (worker address copied to
 * addr), 0 = `error` (reason copied to addr), -1 = nothing. */
static int sp_create_reply(int fd, char *addr, size_t cap, int timeout_ms) {
  ockam_message *m = tu_recv_msg(fd, timeout_ms);
  if (!m) return -1;
  char proto[64];
  rd body;
  int rc = -1;
  if (reply_split(m, proto, sizeof proto, &body)) {
    if (strcmp(proto, "stream_create") == 0) {
      ockam_address a;
      if (ockam_route_get(ockam_message_return(m), 0, &a) == 0 && a.len < cap) {
        memcpy(addr, a.value, a.len);
        addr[a.len] = 0;
        rc = 1;
      }
    } else if (strcmp(proto, "error") == 0) {
      size_t l;
      const uint8_t *s = r_bytes(&body, &l);
      snprintf(addr, cap, "%.*s", (int)l, s ? (const char *)s : "");
      rc = 0;
    }
  }
  ockam_message_free(m);
  return rc;
}

/* Creates `name` and returns its worker address (asserts success). */
static void sp_create_ok(int fd, const char *name, char *addr, size_t cap) {
  sp_create(fd, "stream", name);
  assert_int_equal(sp_create_reply(fd, addr, cap, 10000), 1);
}

static void sp_push(int fd, const char *worker, uint64_t rid, const void *data, size_t len) {
  wbuf body = {0}, p;
  w_uint(&body, rid);
  w_bytes(&body, data, len);
  w_proto(&p, "stream_push", &body);
  tu_send_msg(fd, worker, p.b, p.n);
}

static void sp_pull(int fd, const char *worker, uint64_t rid, uint64_t index, uint64_t limit) {
  wbuf body = {0}, p;
  w_uint(&body, rid);
  w_uint(&body, index);
  w_uint(&body, limit);
  w_proto(&p, "stream_pull", &body);
  tu_send_msg(fd, worker, p.b, p.n);
}

static void sp_index(int fd, bool save, const char *client, const char *stream, uint64_t index) {
  wbuf body = {0}, p;
  w_u8(&body, save ? 1 : 0);
  w_str(&body, client);
  w_str(&body, stream);
  if (save) w_uint(&body, index);
  w_proto(&p, "stream_index", &body);
  tu_send_msg(fd, "stream_index", p.b, p.n);
}

/* Waits for a reply with protocol `want` (others are skipped); NULL if none. */
static ockam_message *recv_proto(int fd, const char *want, rd *body, int timeout_ms) {
  uint64_t until = tu_now_ms() + (uint64_t)timeout_ms;
  while (tu_now_ms() < until) {
    ockam_message *m = tu_recv_msg(fd, (int)(until - tu_now_ms()) + 1);
    if (!m) return NULL;
    char proto[64];
    if (reply_split(m, proto, sizeof proto, body) && strcmp(proto, want) == 0) return m;
    ockam_message_free(m);
  }
  return NULL;
}

/* Push one message and wait for its PushConfirm; returns the status (0 = OK). */
static int sp_push_confirmed(int fd, const char *worker, uint64_t rid, const void *data,
                             size_t len) {
  sp_push(fd, worker, rid, data, len);
  rd body;
  ockam_message *m = recv_proto(fd, "stream_push", &body, 10000);
  assert_non_null(m);
  assert_int_equal(r_uint(&body), rid);
  int status = (int)r_uint(&body);
  ockam_message_free(m);
  return status;
}

/* Index get: 1 and *index when some, 0 when none. */
static int sp_index_get(int fd, const char *client, const char *stream, uint64_t *index) {
  sp_index(fd, false, client, stream, 0);
  rd body;
  ockam_message *m = recv_proto(fd, "stream_index", &body, 10000);
  assert_non_null(m);
  size_t l;
  r_bytes(&body, &l);
  r_bytes(&body, &l);
  assert_true(body.n >= 1);
  int some = body.p[0];
  body.p++;
  body.n--;
  if (some) *index = r_uint(&body);
  assert_false(body.bad);
  ockam_message_free(m);
  return some;
}

/* ---- processes ------------------------------------------------------------------ */

/* Spawn argv with stderr folded into the captured stdout. */
static void spawn_merged(tu_proc *p, const char *const *argv) {
  char *av[48];
  int n = 0;
  av[n++] = (char *)"/bin/sh";
  av[n++] = (char *)"-c";
  av[n++] = (char *)"exec \"$0\" \"$@\" 2>&1";
  for (int i = 0; argv[i] && n < 47; i++) av[n++] = (char *)argv[i];
  av[n] = NULL;
  assert_int_equal(tu_spawn(p, av, true), 0);
}

static void spawn_pump(tu_proc *p, const char *const *args) {
  const char *argv[40];
  int n = 0;
  argv[n++] = PUMP_BIN;
  for (int i = 0; args[i] && n < 39; i++) argv[n++] = args[i];
  argv[n] = NULL;
  assert_int_equal(tu_spawn(p, (char *const *)argv, true), 0);
}

/* ---- index poisoning ------------------------------------------------------------ */

static void test_index_poisoning(void **state) {
  (void)state;
  tu_proc hub;
  char bound[64];
  int fd = tu_memory_hub_connected(&hub, bound, sizeof bound);
  char w[64];
  sp_create_ok(fd, "victim-in", w, sizeof w);
  /* Two messages the victim has not read yet, then the poisoned save. */
  assert_int_equal(sp_push_confirmed(fd, w, 1, "\x00\x00\x00\x00\x00\x00\x00\x00", 8), 0);
  assert_int_equal(sp_push_confirmed(fd, w, 2, "\x01\x00\x00\x00\x00\x00\x00\x00", 8), 0);
  sp_index(fd, true, "victim", "victim-in", UINT64_MAX);
  sp_index(fd, true, "victim-2", "no-such-stream", 1000);
  uint64_t idx = 0;
  /* The save never lands beyond what exists (index ops run in order). */
  int some = sp_index_get(fd, "victim", "victim-in", &idx);
  if (some) assert_true(idx <= 2);
  assert_int_equal(sp_index_get(fd, "victim-2", "no-such-stream", &idx), 0);
  /* Saves for streams that do not exist take no room in the store. */
  sp_index(fd, true, "victim-3", "no-such-stream", 0);
  assert_int_equal(sp_index_get(fd, "victim-3", "no-such-stream", &idx), 0);
  /* The victim's consumer still gets everything stored after the attack. */
  tu_proc cons, prod;
  const char *cargs[] = {"--hub",     bound,         "--out",  "victim-out", "--in",
                         "victim-in", "--client-id", "victim", "--sink",     NULL};
  spawn_pump(&cons, cargs);
  const char *pargs[] = {"--hub",       bound,     "--out", "victim-in", "--in",
                         "producer-in", "--count", "20",    NULL};
  spawn_pump(&prod, pargs);
  assert_int_equal(tu_expect_line(&prod, "done", NULL, 0, 60000), 0);
  assert_int_equal(tu_wait(&prod, 10000), 0);
  /* Sequence numbers 0..19 from the producer (the two raw pushes carry 0 and 1 too). */
  bool seen[20] = {0};
  int distinct = 0;
  uint64_t until = tu_now_ms() + 60000;
  char line[256];
  while (distinct < 20 && tu_now_ms() < until) {
    if (tu_read_line(&cons, line, sizeof line, 1000) != 0) continue;
    unsigned long long seq;
    if (sscanf(line, "got %llu", &seq) == 1 && seq < 20 && !seen[seq]) {
      seen[seq] = true;
      distinct++;
    }
  }
  assert_int_equal(distinct, 20);
  assert_int_equal(tu_term(&cons), 0);
  close(fd);
  assert_int_equal(tu_term(&hub), 0);
}

/* Pulls `worker` from index until a message is there (within timeout_ms);
 * returns it decoded as a TransportMessage, or NULL. */
static ockam_message *pull_first(int fd, const char *worker, uint64_t index, int timeout_ms) {
  uint64_t until = tu_now_ms() + (uint64_t)timeout_ms;
  for (uint64_t rid = 1; tu_now_ms() < until; rid++) {
    sp_pull(fd, worker, rid, index, 1);
    rd body;
    ockam_message *m = recv_proto(fd, "stream_pull", &body, 5000);
    assert_non_null(m);
    assert_int_equal(r_uint(&body), rid);
    uint64_t n = r_uint(&body);
    ockam_message *tm = NULL;
    if (n >= 1) {
      r_uint(&body);
      size_t len;
      const uint8_t *data = r_bytes(&body, &len);
      assert_false(body.bad);
      assert_int_equal(ockam_message_decode(data, len, &tm), 0);
    }
    ockam_message_free(m);
    if (tm) return tm;
    usleep(100000);
  }
  return NULL;
}

/* Pushes a TransportMessage{onward to, return [0#attacker], payload} into a stream. */
static void push_tm(int fd, const char *worker, uint64_t rid, const ockam_route *to,
                    const uint8_t *payload, size_t len) {
  ockam_message *m;
  assert_int_equal(ockam_message_new(&m), 0);
  assert_int_equal(ockam_route_append_route(ockam_message_onward_mut(m), to), 0);
  assert_int_equal(ockam_route_append_str(ockam_message_return_mut(m), "attacker"), 0);
  assert_int_equal(ockam_message_set_payload(m, payload, len), 0);
  static uint8_t tm[70000];
  size_t n;
  assert_int_equal(ockam_message_encode(m, tm, sizeof tm, &n), 0);
  ockam_message_free(m);
  assert_int_equal(sp_push_confirmed(fd, worker, rid, tm, n), 0);
}

/* ---- handshake injection ---------------------------------------------------------- */

#define RESPONDER OCKAM_EXAMPLES "/14-secure-channel-over-stream-over-cloud-node-responder"
#define INITIATOR OCKAM_EXAMPLES "/14-secure-channel-over-stream-over-cloud-node-initiator"
#define REPLY "Reply via secure channel via stream: Hello World!"

static void test_handshake_injection(void **state) {
  (void)state;
  tu_proc hub, ini, resp;
  char bound[64];
  assert_int_equal(tu_start_hub(&hub, 0, "memory", NULL, NULL, bound, sizeof bound), 0);
  const char *iargv[] = {INITIATOR, bound, NULL};
  spawn_merged(&ini, iargv);
  /* A third party reads m1 from the stream: its return route names the
   * initiator's handshake address. */
  int fd = tu_connect(bound, 5000);
  assert_true(fd >= 0);
  char a_b[64], b_a[64];
  sp_create_ok(fd, "sc-test-a-b", a_b, sizeof a_b);
  sp_create_ok(fd, "sc-test-b-a", b_a, sizeof b_a);
  ockam_message *m1 = pull_first(fd, a_b, 0, 30000);
  assert_non_null(m1);
  ockam_address hs;
  assert_int_equal(ockam_route_get(ockam_message_return(m1), 0, &hs), 0);
  char hs_addr[256];
  snprintf(hs_addr, sizeof hs_addr, "%.*s", (int)hs.len, (const char *)hs.value);
  ockam_message_free(m1);
  /* ... and pushes 96 garbage bytes (a Vec<u8>, like m2) to it. */
  uint8_t garbage[97];
  garbage[0] = 96;
  for (int i = 1; i < 97; i++) garbage[i] = (uint8_t)(i * 37);
  ockam_route *to;
  assert_int_equal(ockam_route_parse(hs_addr, &to), 0);
  push_tm(fd, b_a, 1, to, garbage, sizeof garbage);
  ockam_route_free(to);
  /* The initiator drops it and keeps waiting... */
  assert_int_equal(tu_expect_line(&ini, "does not authenticate", NULL, 0, 30000), 0);
  /* ... so the honest m2 still completes the handshake. */
  const char *rargv[] = {RESPONDER, bound, NULL};
  spawn_merged(&resp, rargv);
  assert_int_equal(tu_expect_line(&ini, REPLY, NULL, 0, 60000), 0);
  assert_int_equal(tu_wait(&ini, 10000), 0);
  assert_int_equal(tu_term(&resp), 0);
  close(fd);
  assert_int_equal(tu_term(&hub), 0);
}

/* ---- routes injected into a stream ------------------------------------------------- */

static void test_injected_routes(void **state) {
  (void)state;
  tu_proc hub, resp, ini;
  char bound[64];
  assert_int_equal(tu_start_hub(&hub, 0, "memory", NULL, NULL, bound, sizeof bound), 0);
  /* A listener that must see no connection. */
  int lfd = socket(AF_INET, SOCK_STREAM, 0);
  assert_true(lfd >= 0);
  struct sockaddr_in la = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  assert_int_equal(bind(lfd, (struct sockaddr *)&la, sizeof la), 0);
  assert_int_equal(listen(lfd, 16), 0);
  socklen_t ll = sizeof la;
  assert_int_equal(getsockname(lfd, (struct sockaddr *)&la, &ll), 0);
  char dial[64];
  snprintf(dial, sizeof dial, "1#127.0.0.1:%d;x", ntohs(la.sin_port));

  const char *rargv[] = {RESPONDER, bound, NULL};
  spawn_merged(&resp, rargv);
  assert_int_equal(tu_expect_line(&resp, "Responder listening", NULL, 0, 10000), 0);
  int fd = tu_connect(bound, 5000);
  assert_true(fd >= 0);
  char a_b[64], b_a[64];
  sp_create_ok(fd, "sc-test-a-b", a_b, sizeof a_b);
  sp_create_ok(fd, "sc-test-b-a", b_a, sizeof b_a);
  /* Into the responder's incoming stream: a dial-out, and plaintext for the
   * echoer, which only a secure channel may reach. */
  ockam_route *r;
  assert_int_equal(ockam_route_parse(dial, &r), 0);
  push_tm(fd, a_b, 1, r, (const uint8_t *)"\003abc", 4);
  ockam_route_free(r);
  assert_int_equal(ockam_route_parse("echoer", &r), 0);
  push_tm(fd, a_b, 2, r, (const uint8_t *)"\010injected", 9);
  ockam_route_free(r);
  assert_int_equal(tu_expect_line(&resp, "not allowed", NULL, 0, 30000), 0);
  /* Nothing dialled, nothing answered into the outgoing stream. */
  struct pollfd pfd = {lfd, POLLIN, 0};
  assert_int_equal(poll(&pfd, 1, 2000), 0);
  assert_null(pull_first(fd, b_a, 0, 1000));
  /* The guide still works through the same streams... */
  const char *iargv[] = {INITIATOR, bound, NULL};
  spawn_merged(&ini, iargv);
  assert_int_equal(tu_expect_line(&ini, REPLY, NULL, 0, 60000), 0);
  assert_int_equal(tu_wait(&ini, 10000), 0);
  /* ... and the echoer only ever saw the channel's message. */
  char line[512];
  assert_int_equal(tu_expect_line(&resp, "echoer: received", line, sizeof line, 5000), 0);
  assert_non_null(strstr(line, "Hello World!"));
  assert_int_equal(tu_term(&resp), 0);
  while (tu_read_line(&resp, line, sizeof line, 200) == 0) assert_null(strstr(line, "injected"));
  assert_int_equal(poll(&pfd, 1, 0), 0);
  close(lfd);
  close(fd);
  assert_int_equal(tu_term(&hub), 0);
}

/* ---- forwarders ------------------------------------------------------------------- */

/* Sends n registrations back to back; returns how many were answered within
 * quiet_ms of the last answer. */
static int register_many(int fd, int n, int quiet_ms) {
  static const uint8_t reg[] = "\x08register";
  for (int i = 0; i < n; i++) tu_send_msg(fd, "forwarding_service", reg, sizeof reg - 1);
  int got = 0;
  ockam_message *m;
  while ((m = tu_recv_msg(fd, quiet_ms))) {
    const char *s;
    size_t len;
    if (ockam_message_get_string(m, &s, &len) == 0 && len == 8 && !memcmp(s, "register", 8)) got++;
    ockam_message_free(m);
  }
  return got;
}

static void test_forwarders(void **state) {
  (void)state;
  tu_proc hub;
  char bound[64];
  static const char *const extra[] = {"--max-forwarders", "150", "--max-forwarders-per-connection",
                                      "100", NULL};
  assert_int_equal(tu_start_hub(&hub, 0, "memory", NULL, extra, bound, sizeof bound), 0);
  /* 10,000 pipelined registrations from one connection: it gets 100. */
  int a = tu_connect(bound, 5000);
  assert_true(a >= 0);
  assert_int_equal(register_many(a, 10000, 2000), 100);
  /* Others can still register: 150 in all. */
  int b = tu_connect(bound, 5000), c = tu_connect(bound, 5000), d = tu_connect(bound, 5000);
  assert_true(b >= 0 && c >= 0 && d >= 0);
  assert_int_equal(register_many(b, 1, 1000), 1);
  assert_int_equal(register_many(c, 100, 1000), 49);
  assert_int_equal(register_many(d, 1, 1000), 0);
  /* A's forwarders go with its connection: D can register again. */
  close(a);
  int got = 0;
  for (uint64_t until = tu_now_ms() + 20000; !got && tu_now_ms() < until;)
    got = register_many(d, 1, 500);
  assert_int_equal(got, 1);
  assert_int_equal(register_many(d, 200, 1000), 99);
  close(b);
  close(c);
  close(d);
  assert_int_equal(tu_term(&hub), 0);
}

/* ---- stream quotas ------------------------------------------------------------------ */

static void test_stream_quota(void **state) {
  (void)state;
  tu_proc hub;
  char bound[64];
  int fd = tu_memory_hub_connected(&hub, bound, sizeof bound);
  /* 100,000 creates with junk names, read back batch by batch. */
  int inits = 0, errors = 0;
  char reply[256];
  for (int batch = 0; batch < 100; batch++) {
    for (int i = 0; i < 1000; i++) {
      char name[64];
      snprintf(name, sizeof name, "junk-%d-%d", batch, i);
      sp_create(fd, "stream", name);
    }
    for (int i = 0; i < 1000; i++) {
      int rc = sp_create_reply(fd, reply, sizeof reply, 10000);
      assert_true(rc >= 0);
      if (rc == 1) inits++;
      if (rc == 0) {
        assert_string_equal(reply, "Stream limit reached");
        errors++;
      }
    }
  }
  assert_int_equal(inits, OCKAM_HUB_MAX_STREAMS_PER_CONNECTION);
  assert_int_equal(errors, 100000 - OCKAM_HUB_MAX_STREAMS_PER_CONNECTION);
  /* Streams it made still answer it; other connections still create. */
  char w[64];
  sp_create_ok(fd, "junk-0-0", w, sizeof w);
  int other = tu_connect(bound, 5000);
  assert_true(other >= 0);
  sp_create_ok(other, "honest", w, sizeof w);
  assert_int_equal(sp_push_confirmed(other, w, 1, "hello", 5), 0);
  close(other);
  close(fd);
  assert_int_equal(tu_term(&hub), 0);
}

/* ---- data directory --------------------------------------------------------------- */

/* Runs `ockam hub` on dir, expects it to exit non-zero with a line holding
 * needle, and returns that line in out. */
static void hub_refuses(const char *dir, const char *needle, char *out, size_t cap) {
  const char *argv[] = {OCKAM_BIN, "hub", "--listen", "127.0.0.1:0", "--data", dir, NULL};
  tu_proc p;
  spawn_merged(&p, argv);
  assert_int_equal(tu_expect_line(&p, needle, out, cap, 10000), 0);
  int rc = tu_wait(&p, 10000);
  assert_true(rc > 0);
}

static void test_data_dir(void **state) {
  (void)state;
  char *tmp = tu_tempdir("hostile-data");
  char dir[512], line[1024];
  snprintf(dir, sizeof dir, "%s/data", tmp);
  tu_proc hub;
  char bound[64];
  assert_int_equal(tu_start_hub(&hub, 0, "lmdb", dir, NULL, bound, sizeof bound), 0);
  /* A second hub on the same directory names the first one and exits. */
  char pid[32];
  snprintf(pid, sizeof pid, "pid %ld", (long)hub.pid);
  hub_refuses(dir, "in use by another hub", line, sizeof line);
  assert_non_null(strstr(line, pid));
  /* The first hub still serves. */
  int fd = tu_connect(bound, 5000);
  assert_true(fd >= 0);
  char w[64];
  sp_create_ok(fd, "still-here", w, sizeof w);
  close(fd);
  assert_int_equal(tu_term(&hub), 0);

  /* A directory others may write to is refused. */
  assert_int_equal(chmod(dir, 0777), 0);
  hub_refuses(dir, "writable by others", line, sizeof line);
  assert_int_equal(chmod(dir, 0770), 0);
  hub_refuses(dir, "writable by its group", line, sizeof line);
  assert_int_equal(chmod(dir, 0700), 0);

  /* A planted symlink is not followed: the file it points to stays intact. */
  char victim[600], link[600], fresh[512];
  snprintf(fresh, sizeof fresh, "%s/fresh", tmp);
  snprintf(victim, sizeof victim, "%s/victim", tmp);
  FILE *f = fopen(victim, "w");
  assert_non_null(f);
  fputs("precious\n", f);
  fclose(f);
  assert_int_equal(mkdir(fresh, 0700), 0);
  snprintf(link, sizeof link, "%s/lock.mdb", fresh);
  assert_int_equal(symlink(victim, link), 0);
  hub_refuses(fresh, "symbolic link", line, sizeof line);
  f = fopen(victim, "r");
  assert_non_null(f);
  char got[64] = "";
  assert_non_null(fgets(got, sizeof got, f));
  fclose(f);
  assert_string_equal(got, "precious\n");
  /* The same for the lock file itself. */
  char fresh2[512];
  snprintf(fresh2, sizeof fresh2, "%s/fresh2", tmp);
  assert_int_equal(mkdir(fresh2, 0700), 0);
  snprintf(link, sizeof link, "%s/hub.lock", fresh2);
  assert_int_equal(symlink(victim, link), 0);
  hub_refuses(fresh2, "hub.lock", line, sizeof line);
  tu_rmrf(tmp);
  free(tmp);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_index_poisoning),     cmocka_unit_test(test_data_dir),
      cmocka_unit_test(test_forwarders),          cmocka_unit_test(test_stream_quota),
      cmocka_unit_test(test_handshake_injection), cmocka_unit_test(test_injected_routes),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
