/* The guide with identities, as separate processes over real TCP: a hub, the
 * responder (identity channel listener + echoer behind two streams, pinning
 * the initiator) and the initiator (pinning the responder), with persistent
 * identities, both start orders, memory and LMDB stores; key rotation; and an
 * active man in the middle (tests/tools/mitm.c) that reads everything on the
 * anonymous channel and is refused by the identity channel. */
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

#include "testutil.h"

#define RESPONDER OCKAM_EXAMPLES "/15-identity-secure-channel-over-stream-over-cloud-node-responder"
#define INITIATOR OCKAM_EXAMPLES "/15-identity-secure-channel-over-stream-over-cloud-node-initiator"
#define ANON_RESPONDER OCKAM_EXAMPLES "/14-secure-channel-over-stream-over-cloud-node-responder"
#define ANON_INITIATOR OCKAM_EXAMPLES "/14-secure-channel-over-stream-over-cloud-node-initiator"
#define REPLY "Reply via identity secure channel via stream: Hello World!"
#define ANON_REPLY "Reply via secure channel via stream: Hello World!"

typedef struct guide {
  tu_proc hub, responder, initiator, mitm;
  char bound[64];
  char *dir;
  char alice_dir[512], bob_dir[512];
  char alice[80], bob[80]; /* identifiers */
} guide;

/* Run prog with args through sh so that stderr joins stdout. */
static void spawn_sh(tu_proc *p, const char *cmd) {
  char *argv[] = {(char *)"/bin/sh", (char *)"-c", (char *)cmd, NULL};
  assert_int_equal(tu_spawn(p, argv, true), 0);
}

static void show_identifier(const char *prog, const char *dir, char *out, size_t cap) {
  char cmd[1024];
  snprintf(cmd, sizeof cmd, "exec '%s' --identity-dir '%s' --show-identifier", prog, dir);
  tu_proc p;
  spawn_sh(&p, cmd);
  assert_int_equal(tu_read_line(&p, out, cap, 20000), 0);
  assert_int_equal(tu_wait(&p, 10000), 0);
  assert_int_equal(strlen(out), 64);
}

static void start(guide *g, const char *store) {
  memset(g, 0, sizeof *g);
  g->dir = tu_tempdir("idguide");
  char data[512];
  snprintf(data, sizeof data, "%s/data", g->dir);
  assert_int_equal(tu_start_hub(&g->hub, 0, store, strcmp(store, "memory") ? data : NULL, NULL,
                                g->bound, sizeof g->bound),
                   0);
  snprintf(g->alice_dir, sizeof g->alice_dir, "%s/alice", g->dir);
  snprintf(g->bob_dir, sizeof g->bob_dir, "%s/bob", g->dir);
  show_identifier(INITIATOR, g->alice_dir, g->alice, sizeof g->alice);
  show_identifier(RESPONDER, g->bob_dir, g->bob, sizeof g->bob);
  assert_string_not_equal(g->alice, g->bob);
  /* Identities persist with private permissions. */
  char path[600];
  struct stat st;
  snprintf(path, sizeof path, "%s/vault", g->alice_dir);
  assert_int_equal(stat(path, &st), 0);
  assert_int_equal(st.st_mode & 0777, 0700);
}

/* One side of the guide with its identity directory, trusting `trust`. */
static void spawn_side(guide *g, tu_proc *p, const char *bin, const char *dir, const char *trust,
                       const char *extra) {
  char cmd[1024];
  snprintf(cmd, sizeof cmd, "exec '%s' '%s' --identity-dir '%s' --trust %s %s 2>&1", bin, g->bound,
           dir, trust, extra ? extra : "");
  spawn_sh(p, cmd);
}

/* Bob, trusting `trust`, up and listening. */
static void start_responder_trusting(guide *g, const char *trust) {
  spawn_side(g, &g->responder, RESPONDER, g->bob_dir, trust, NULL);
  assert_int_equal(tu_expect_line(&g->responder, "listening", NULL, 0, 20000), 0);
}

static void start_responder(guide *g) {
  start_responder_trusting(g, g->alice);
}

static void start_initiator(guide *g, const char *extra) {
  spawn_side(g, &g->initiator, INITIATOR, g->alice_dir, g->bob, extra);
}

/* The initiator printed the reply, from Bob; the echoer saw Alice. */
static void expect_success(guide *g) {
  char line[512], want[256];
  assert_int_equal(tu_expect_line(&g->initiator, REPLY, line, sizeof line, 90000), 0);
  snprintf(want, sizeof want, "(from P_ID.%s)", g->bob);
  assert_non_null(strstr(line, want));
  assert_int_equal(tu_wait(&g->initiator, 15000), 0);
  snprintf(want, sizeof want, "echoer: received 'Hello World!' from P_ID.%s", g->alice);
  assert_int_equal(tu_expect_line(&g->responder, want, line, sizeof line, 10000), 0);
}

static void finish(guide *g) {
  if (g->responder.pid) assert_int_equal(tu_term(&g->responder), 0);
  if (g->mitm.pid) assert_int_equal(tu_term(&g->mitm), 0);
  assert_int_equal(tu_term(&g->hub), 0);
  tu_rmrf(g->dir);
  free(g->dir);
}

/* The guide on `store`; with the initiator first, its handshake waits in
 * the stream for pause_s seconds while nobody listens. */
static void run_guide(const char *store, bool responder_first, unsigned pause_s) {
  guide g;
  start(&g, store);
  if (responder_first) {
    start_responder(&g);
    start_initiator(&g, NULL);
  } else {
    start_initiator(&g, NULL);
    sleep(pause_s);
    start_responder(&g);
  }
  expect_success(&g);
  finish(&g);
}

static void test_responder_first_lmdb(void **state) {
  (void)state;
  run_guide("lmdb", true, 0);
}

static void test_responder_first_memory(void **state) {
  (void)state;
  run_guide("memory", true, 0);
}

static void test_initiator_first_lmdb(void **state) {
  (void)state;
  run_guide("lmdb", false, 3);
}

static void test_initiator_first_memory(void **state) {
  (void)state;
  run_guide("memory", false, 2);
}

/* Alice rotates her key between two runs (the identity files keep it): Bob,
 * who pinned her original identifier, still accepts her; her identifier and
 * Bob's stay the same across restarts. */
static void test_rotation_and_restart(void **state) {
  (void)state;
  guide g;
  start(&g, "lmdb");
  start_responder(&g);
  start_initiator(&g, NULL);
  expect_success(&g);
  char line[512];
  start_initiator(&g, "--rotate");
  assert_int_equal(tu_expect_line(&g.initiator, "Rotated the key", line, sizeof line, 20000), 0);
  assert_non_null(strstr(line, "(2 events)"));
  expect_success(&g);
  /* Restart both sides: same identifiers, rotation kept. */
  assert_int_equal(tu_term(&g.responder), 0);
  char again[80];
  show_identifier(INITIATOR, g.alice_dir, again, sizeof again);
  assert_string_equal(again, g.alice);
  show_identifier(RESPONDER, g.bob_dir, again, sizeof again);
  assert_string_equal(again, g.bob);
  start_responder(&g);
  start_initiator(&g, NULL);
  expect_success(&g);
  finish(&g);
}

/* A responder pinning someone else refuses Alice: with both ends ockam-c the
 * initiator learns why at once, and the echoer gets nothing. */
static void test_responder_refuses(void **state) {
  (void)state;
  guide g;
  start(&g, "memory");
  start_responder_trusting(&g, g.bob);
  start_initiator(&g, NULL);
  char line[512];
  assert_int_equal(tu_expect_line(&g.initiator, "initiator: peer refused by trust policy", line,
                                  sizeof line, 90000),
                   0);
  assert_int_equal(tu_wait(&g.initiator, 15000), 1);
  assert_int_not_equal(tu_expect_line(&g.responder, "echoer: received", line, sizeof line, 2000),
                       0);
  finish(&g);
}

/* --- man in the middle ----------------------------------------------------------------- */

static void start_mitm(guide *g, const char *mode) {
  char cmd[1024];
  snprintf(cmd, sizeof cmd, "exec '%s' '%s' %s 2>&1", MITM_BIN, g->bound, mode);
  spawn_sh(&g->mitm, cmd);
  assert_int_equal(tu_expect_line(&g->mitm, "MITM ready", NULL, 0, 60000), 0);
}

/* The anonymous channel cannot tell: the MITM reads the message and the
 * initiator still gets its reply. */
static void test_mitm_reads_anonymous_channel(void **state) {
  (void)state;
  guide g;
  memset(&g, 0, sizeof g);
  g.dir = tu_tempdir("idguide");
  assert_int_equal(tu_start_hub(&g.hub, 0, "memory", NULL, NULL, g.bound, sizeof g.bound), 0);
  char *rargv[] = {(char *)ANON_RESPONDER, g.bound, NULL};
  assert_int_equal(tu_spawn(&g.responder, rargv, true), 0);
  assert_int_equal(tu_expect_line(&g.responder, "Responder listening", NULL, 0, 20000), 0);
  start_mitm(&g, "anon");
  char *iargv[] = {(char *)ANON_INITIATOR, g.bound, "--out", "mitm-a-b", "--in", "mitm-b-a", NULL};
  assert_int_equal(tu_spawn(&g.initiator, iargv, true), 0);
  char line[512];
  assert_int_equal(tu_expect_line(&g.initiator, ANON_REPLY, line, sizeof line, 90000), 0);
  assert_int_equal(tu_wait(&g.initiator, 15000), 0);
  assert_int_equal(tu_expect_line(&g.mitm, "MITM read: Hello World!", line, sizeof line, 5000), 0);
  finish(&g);
}

/* The identity channel refuses it: relaying the responder's proof fails
 * (it signs the other handshake hash), presenting its own identity fails the
 * pinned identifier. The initiator gets a clear error, the echoer nothing. */
static void run_identity_mitm(const char *mode, const char *error) {
  guide g;
  start(&g, "memory");
  start_responder(&g);
  start_mitm(&g, mode);
  start_initiator(&g, "--out mitm-a-b --in mitm-b-a");
  char line[512];
  assert_int_equal(tu_expect_line(&g.initiator, error, line, sizeof line, 90000), 0);
  assert_int_equal(tu_wait(&g.initiator, 15000), 1);
  assert_int_not_equal(tu_expect_line(&g.responder, "echoer: received", line, sizeof line, 3000),
                       0);
  finish(&g);
}

static void test_mitm_relay_refused(void **state) {
  (void)state;
  run_identity_mitm("relay", "initiator: peer failed to prove its identity");
}

static void test_mitm_own_identity_refused(void **state) {
  (void)state;
  run_identity_mitm("own", "initiator: peer refused by trust policy");
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_responder_first_lmdb),
      cmocka_unit_test(test_responder_first_memory),
      cmocka_unit_test(test_initiator_first_lmdb),
      cmocka_unit_test(test_initiator_first_memory),
      cmocka_unit_test(test_rotation_and_restart),
      cmocka_unit_test(test_responder_refuses),
      cmocka_unit_test(test_mitm_reads_anonymous_channel),
      cmocka_unit_test(test_mitm_relay_refused),
      cmocka_unit_test(test_mitm_own_identity_refused),
  };
  return TU_RUN_TESTS(tests);
}
