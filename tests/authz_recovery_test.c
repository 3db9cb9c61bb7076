/* The stream client's own identity channel to an authenticated hub, under hub
 * restarts, as separate processes over real TCP: the real `ockam hub` (LMDB
 * store, an identity file and an ACL that denies anonymous clients) and two
 * `pump` nodes (tests/tools/pump.c) whose stream clients open their hub
 * channels from ockam_stream_options (--identity-dir, --hub-identity).
 *
 * The hub is SIGKILLed and restarted on the same port, identity and data
 * directory while messages flow. Each time, both clients lose the connection
 * under their channel, open a new channel (pinning the same identifier), and
 * resume: the producer resends what the hub had not confirmed, the consumer
 * reads on from its saved index (kept per identity). Every message must then
 * arrive, in order; with the idempotent producer and a consumer that never
 * reads an index twice, no message arrives twice either (stream.h,
 * "Duplicates").
 *
 * OCKAM_TEST_SEED=N repeats a run (the seed is printed).
 */
#include <inttypes.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "ockam/ockam.h"
#include "testutil.h"

#ifndef PUMP_BIN
#define PUMP_BIN "pump"
#endif

/* ---- what the processes report ----------------------------------------------- */

typedef struct tally {
  uint64_t n;
  uint8_t *count;    /* deliveries per sequence number (saturating) */
  uint64_t next_new; /* first occurrences seen so far: 0..next_new-1 */
  uint64_t out_of_order, duplicates, bad;
} tally;

typedef struct prod_state {
  uint64_t confirmed; /* last "confirmed UPTO" */
  bool done;
  uint64_t channels; /* "hub channels N" */
  char failure[256]; /* a "not ready" line */
} prod_state;

typedef struct watched {
  tu_proc *p;
  tally *t;
  prod_state *ps;
} watched;

static void on_line(watched *w, const char *line) {
  uint64_t seq;
  if (w->t && sscanf(line, "got %" SCNu64, &seq) == 1) {
    tally *t = w->t;
    if (seq >= t->n) {
      t->bad++;
      return;
    }
    if (t->count[seq] == 0) {
      if (seq != t->next_new) t->out_of_order++;
      if (seq >= t->next_new) t->next_new = seq + 1;
    } else {
      t->duplicates++;
    }
    if (t->count[seq] < 255) t->count[seq]++;
  }
  if (w->ps) {
    if (sscanf(line, "confirmed %" SCNu64, &seq) == 1) w->ps->confirmed = seq;
    if (!strcmp(line, "done")) w->ps->done = true;
    if (sscanf(line, "hub channels %" SCNu64, &seq) == 1) w->ps->channels = seq;
    if (!strncmp(line, "not ready", 9)) snprintf(w->ps->failure, sizeof w->ps->failure, "%s", line);
  }
}

/* Handle the buffered lines of every process, then wait up to timeout_ms for more. */
static void read_lines(watched *ws, int n, int timeout_ms) {
  char line[4096];
  struct pollfd pfd[4];
  int idx[4], m = 0;
  for (int i = 0; i < n; i++) {
    while (ws[i].p->pid > 0 && tu_read_line(ws[i].p, line, sizeof line, 0) == 0)
      on_line(&ws[i], line);
    if (ws[i].p->out_fd >= 0) {
      pfd[m] = (struct pollfd){ws[i].p->out_fd, POLLIN, 0};
      idx[m++] = i;
    }
  }
  if (m == 0 || poll(pfd, (nfds_t)m, timeout_ms) <= 0) return;
  for (int j = 0; j < m; j++) {
    if (!(pfd[j].revents & (POLLIN | POLLHUP))) continue;
    tu_proc *p = ws[idx[j]].p;
    ssize_t r = read(p->out_fd, p->line + p->line_len, sizeof p->line - p->line_len);
    if (r > 0) p->line_len += (size_t)r;
    if (r == 0) {
      close(p->out_fd);
      p->out_fd = -1;
    }
    while (tu_read_line(p, line, sizeof line, 0) == 0) on_line(&ws[idx[j]], line);
  }
}

/* ---- processes ----------------------------------------------------------------- */

static int run_line(const char *cmd, char *out, size_t cap) {
  tu_proc p;
  char *argv[] = {(char *)"/bin/sh", (char *)"-c", (char *)cmd, NULL};
  assert_int_equal(tu_spawn(&p, argv, true), 0);
  int rc = tu_read_line(&p, out, cap, 30000);
  int status = tu_wait(&p, 30000);
  assert_int_equal(rc, 0);
  return status;
}

static void write_file(const char *path, const char *text) {
  FILE *f = fopen(path, "w");
  assert_non_null(f);
  fputs(text, f);
  assert_int_equal(fclose(f), 0);
}

static void spawn_pump(tu_proc *p, const char *const *args) {
  char *argv[40];
  int n = 0;
  argv[n++] = (char *)PUMP_BIN;
  for (int i = 0; args[i] && n < 39; i++) argv[n++] = (char *)args[i];
  argv[n] = NULL;
  assert_int_equal(tu_spawn(p, argv, true), 0);
}

/* DIR/identity with its keys in DIR/vault (as pump --identity-dir keeps it). */
static void make_identity(const char *dir, char id[static OCKAM_IDENTIFIER_BUF]) {
  char path[1024];
  assert_int_equal(mkdir(dir, 0700), 0);
  snprintf(path, sizeof path, "%s/vault", dir);
  ockam_vault *v;
  ockam_identity *i;
  assert_int_equal(ockam_vault_create_persistent(path, &v), 0);
  assert_int_equal(ockam_identity_create(v, &i), 0);
  snprintf(path, sizeof path, "%s/identity", dir);
  assert_int_equal(ockam_identity_save(i, path), 0);
  assert_int_equal(ockam_identity_identifier(i, id, OCKAM_IDENTIFIER_BUF), 0);
  ockam_identity_free(i);
  ockam_vault_destroy(v);
}

/* An LMDB hub with an identity and an ACL, restartable on the same port. */
typedef struct hub {
  tu_proc proc;
  int port;
  char *dir;
  char data[600], identity[600], acl[600];
  char bound[64];
  char id[80];
} hub;

static void hub_start(hub *h) {
  const char *extra[] = {"--identity",      h->identity, "--acl", h->acl,
                         "--long-poll-max", "2000",      NULL};
  assert_int_equal(
      tu_start_hub(&h->proc, h->port, "lmdb", h->data, extra, h->bound, sizeof h->bound), 0);
}

static void hub_init(hub *h, const char *acl_text) {
  memset(h, 0, sizeof *h);
  h->port = tu_free_port();
  h->dir = tu_tempdir("authz-recovery");
  assert_non_null(h->dir);
  snprintf(h->data, sizeof h->data, "%s/data", h->dir);
  snprintf(h->identity, sizeof h->identity, "%s/hub/identity", h->dir);
  snprintf(h->acl, sizeof h->acl, "%s/hub.acl", h->dir);
  char cmd[2048];
  snprintf(cmd, sizeof cmd, "exec '%s' hub --store memory --identity '%s' --print-identifier 2>&1",
           OCKAM_BIN, h->identity);
  assert_int_equal(run_line(cmd, h->id, sizeof h->id), 0);
  assert_int_equal(strlen(h->id), 64);
  write_file(h->acl, acl_text);
  hub_start(h);
}

static void hub_done(hub *h) {
  if (h->proc.pid > 0) assert_int_equal(tu_term(&h->proc), 0);
  tu_rmrf(h->dir);
  free(h->dir);
}

/* ---- tests ----------------------------------------------------------------------- */

static void test_hub_restarts_through_identity_channel(void **state) {
  (void)state;
  const char *v = getenv("OCKAM_TEST_SEED");
  unsigned seed = v ? (unsigned)strtoul(v, NULL, 10) : (unsigned)(tu_now_ms() ^ (uint64_t)getpid());
  printf("# seed %u (OCKAM_TEST_SEED to repeat)\n", seed);
  srand(seed);
  const uint64_t n = 20000; /* kills fall before 3/4 of it, each 500 after the last */
  const int kills = 2;

  char *ids = tu_tempdir("authz-ids");
  assert_non_null(ids);
  char pdir[600], cdir[600], pid_[OCKAM_IDENTIFIER_BUF], cid[OCKAM_IDENTIFIER_BUF];
  snprintf(pdir, sizeof pdir, "%s/producer", ids);
  snprintf(cdir, sizeof cdir, "%s/consumer", ids);
  make_identity(pdir, pid_);
  make_identity(cdir, cid);
  char acl[1024];
  snprintf(acl, sizeof acl,
           "[hub]\nanonymous = deny\n[group pumps]\nmember = %s\nmember = %s\n"
           "stream = pump-* all\n",
           pid_, cid);
  hub h;
  hub_init(&h, acl);

  tally t = {.n = n, .count = calloc(n, 1)};
  assert_non_null(t.count);
  prod_state ps = {0};
  char count[32];
  snprintf(count, sizeof count, "%" PRIu64, n);
  tu_proc cons, prod;
  const char *cargs[] = {"--hub",          h.bound,       "--out",      "pump-back",      "--in",
                         "pump-data",      "--client-id", "consumer-1", "--retry-ms",     "300",
                         "--long-poll-ms", "1000",        "--sink",     "--identity-dir", cdir,
                         "--hub-identity", h.id,          NULL};
  spawn_pump(&cons, cargs);
  const char *pargs[] = {"--hub",
                         h.bound,
                         "--count",
                         count,
                         "--batch",
                         "100",
                         "--retry-ms",
                         "300",
                         "--long-poll-ms",
                         "1000",
                         "--identity-dir",
                         pdir,
                         "--hub-identity",
                         h.id,
                         NULL};
  spawn_pump(&prod, pargs);
  watched ws[2] = {{&cons, &t, NULL}, {&prod, NULL, &ps}};

  uint64_t threshold[8];
  for (int i = 0; i < kills; i++)
    threshold[i] = n * (uint64_t)(i + 1) / (uint64_t)(kills + 2) + (uint64_t)rand() % (n / 20 + 1);
  int done_kills = 0;
  /* A kill only once the producer confirmed 5 batches after the previous
   * restart (so through a channel opened since): lines are read in bulk, and
   * two kills in a row could otherwise fall within one reconnection. */
  uint64_t resumed_at = 0;
  uint64_t deadline = tu_now_ms() + 240000;
  while (tu_now_ms() < deadline && !ps.failure[0]) {
    read_lines(ws, 2, 20);
    if (done_kills < kills && ps.confirmed >= threshold[done_kills] && ps.confirmed >= resumed_at) {
      usleep((useconds_t)(rand() % 30000)); /* a moment inside the next batch */
      tu_kill(&h.proc, SIGKILL);
      hub_start(&h);
      done_kills++;
      read_lines(ws, 2, 0);
      resumed_at = ps.confirmed + 500;
      continue;
    }
    if (done_kills == kills && ps.done && t.next_new >= n) break;
  }
  uint64_t settle = tu_now_ms() + 500; /* repeats would show up now */
  while (tu_now_ms() < settle) read_lines(ws, 2, 20);
  printf("# kills %d, confirmed %" PRIu64 ", received %" PRIu64 " distinct, %" PRIu64
         " repeated, producer hub channels %" PRIu64 "%s%s\n",
         done_kills, ps.confirmed, t.next_new, t.duplicates, ps.channels, ps.failure[0] ? ", " : "",
         ps.failure);
  assert_int_equal(done_kills, kills);
  assert_true(ps.done);
  assert_true(ps.confirmed == n);
  assert_int_equal(tu_wait(&prod, 10000), 0);
  /* One channel per hub life: the first, then one after each restart. */
  assert_true(ps.channels >= (uint64_t)kills + 1);
  assert_true(t.next_new == n);
  for (uint64_t i = 0; i < n; i++) assert_true(t.count[i] >= 1);
  assert_int_equal(t.out_of_order, 0);
  assert_int_equal(t.bad, 0);
  assert_int_equal(t.duplicates, 0);
  assert_int_equal(tu_term(&cons), 0);
  hub_done(&h);
  tu_rmrf(ids);
  free(ids);
  free(t.count);
}

/* A producer pinning another identifier than the hub's: its hub channel is
 * refused, ockam_stream_wait_ready() says so, and nothing is stored. */
static void test_wrong_hub_identifier(void **state) {
  (void)state;
  char *ids = tu_tempdir("authz-ids");
  assert_non_null(ids);
  char pdir[600], odir[600], pid_[OCKAM_IDENTIFIER_BUF], other[OCKAM_IDENTIFIER_BUF];
  snprintf(pdir, sizeof pdir, "%s/producer", ids);
  snprintf(odir, sizeof odir, "%s/other", ids);
  make_identity(pdir, pid_);
  make_identity(odir, other);
  char acl[1024];
  snprintf(acl, sizeof acl, "[identity producer]\nidentifier = %s\nstream = * all\n", pid_);
  hub h;
  hub_init(&h, acl);
  tu_proc prod;
  prod_state ps = {0};
  const char *pargs[] = {"--hub",          h.bound, "--count",        "10",  "--retry-ms", "300",
                         "--identity-dir", pdir,    "--hub-identity", other, NULL};
  spawn_pump(&prod, pargs);
  watched w = {&prod, NULL, &ps};
  uint64_t deadline = tu_now_ms() + 60000;
  while (tu_now_ms() < deadline && !ps.failure[0] && !ps.done) read_lines(&w, 1, 50);
  printf("# %s\n", ps.failure);
  assert_false(ps.done);
  assert_int_equal(ps.confirmed, 0);
  assert_non_null(strstr(ps.failure, ockam_strerror(OCKAM_EUNTRUSTED)));
  assert_int_equal(tu_wait(&prod, 10000), 1);
  /* The right identifier, same identity: the stream it would have filled
   * is empty (a reader from index 0 gets nothing). */
  tally t = {.n = 10, .count = calloc(10, 1)};
  assert_non_null(t.count);
  tu_proc reader;
  const char *rargs[] = {"--hub",     h.bound,          "--out",  "pump-back-r", "--in",
                         "pump-data", "--client-id",    "reader", "--sink",      "--identity-dir",
                         pdir,        "--hub-identity", h.id,     NULL};
  spawn_pump(&reader, rargs);
  watched wr = {&reader, &t, NULL};
  uint64_t until = tu_now_ms() + 3000;
  while (tu_now_ms() < until) read_lines(&wr, 1, 50);
  assert_int_equal(t.next_new, 0);
  assert_int_equal(t.bad, 0);
  assert_int_equal(tu_term(&reader), 0);
  free(t.count);
  hub_done(&h);
  tu_rmrf(ids);
  free(ids);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_wrong_hub_identifier),
      cmocka_unit_test(test_hub_restarts_through_identity_channel),
  };
  return TU_RUN_TESTS(tests);
}
