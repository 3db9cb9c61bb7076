/* The ockam command line against a running hub, as separate processes:
 * `ockam send` (reply, --json, --timeout, a dead hub refused at once), the
 * stream commands (create, push, tail, tail --follow, also across a hub
 * killed and restarted, sub resuming where it stopped, delete), their --json output parsed by
 * jansson, --help of every command, and the examples' argument checks (--help prints the usage, a
 * bad argument exits 2 at once). */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include <cmocka.h>
#include <jansson.h>

#include "testutil.h"

/* Generous bound for a command that must end; only reached on failure. */
#define CMD_MS 60000

/* Run a shell command line; collect its stdout (stderr too when the command
 * line says 2>&1). Returns the exit status, -1 on a crash or hang. */
static int run(char *out, size_t cap, const char *fmt, ...) {
  char cmd[4096];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(cmd, sizeof cmd, fmt, ap);
  va_end(ap);
  char *argv[] = {"/bin/sh", "-c", cmd, NULL};
  tu_proc p;
  assert_int_equal(tu_spawn(&p, argv, true), 0);
  size_t n = 0;
  char line[8192];
  if (out) out[0] = 0;
  while (tu_read_line(&p, line, sizeof line, CMD_MS) == 0) {
    size_t l = strlen(line);
    if (out && n + l + 2 < cap) {
      memcpy(out + n, line, l);
      n += l;
      out[n++] = '\n';
      out[n] = 0;
    }
  }
  return tu_wait(&p, CMD_MS);
}

/* Parse one JSON value (a whole output or one line of it). */
static json_t *parse(const char *text) {
  json_error_t e;
  json_t *j = json_loads(text, JSON_DECODE_ANY, &e);
  if (!j) fail_msg("not JSON (%s at %d): %s", e.text, e.position, text);
  return j;
}

static const char *jstr(json_t *o, const char *key) {
  json_t *v = json_object_get(o, key);
  if (!json_is_string(v)) fail_msg("no string %s", key);
  return json_string_value(v);
}

static long long jint(json_t *o, const char *key) {
  json_t *v = json_object_get(o, key);
  if (!json_is_integer(v)) fail_msg("no integer %s", key);
  return json_integer_value(v);
}

typedef struct hub {
  tu_proc proc;
  char bound[64];
  char *dir;
} hub;

/* A hub with an LMDB store in a fresh directory. */
static int setup_hub(void **state) {
  hub *h = calloc(1, sizeof *h);
  assert_non_null(h);
  h->dir = tu_tempdir("cli-hub");
  assert_non_null(h->dir);
  assert_int_equal(tu_start_hub(&h->proc, 0, "lmdb", h->dir, NULL, h->bound, sizeof h->bound), 0);
  *state = h;
  return 0;
}

static int teardown_hub(void **state) {
  hub *h = *state;
  int rc = tu_term(&h->proc);
  tu_rmrf(h->dir);
  free(h->dir);
  free(h);
  return rc == 0 ? 0 : -1;
}

/* ---- ockam send ------------------------------------------------------------ */

static void test_send(void **state) {
  hub *h = *state;
  char out[4096];
  assert_int_equal(
      run(out, sizeof out, "'%s' send '1#%s;echo_service' 'Hello World!'", OCKAM_BIN, h->bound), 0);
  assert_string_equal(out, "Hello World!\n");
  assert_int_equal(run(out, sizeof out, "'%s' send --json '1#%s;echo_service' 'say \"hi\"\\n'",
                       OCKAM_BIN, h->bound),
                   0);
  json_t *j = parse(out);
  assert_string_equal(jstr(j, "reply"), "say \"hi\"\\n");
  json_decref(j);
  /* Nobody answers at `nowhere`: the timeout ends the wait, exit 1. */
  uint64_t t0 = tu_now_ms();
  assert_int_equal(
      run(out, sizeof out, "'%s' send --timeout 300ms '1#%s;nowhere' x 2>&1", OCKAM_BIN, h->bound),
      1);
  assert_non_null(strstr(out, "timed out"));
  assert_true(tu_now_ms() - t0 < 30000);
  /* Bad usage: exit 2 with the usage. */
  assert_int_equal(run(out, sizeof out, "'%s' send --timeout x a b 2>&1", OCKAM_BIN), 2);
  assert_int_equal(run(out, sizeof out, "'%s' send onlyone 2>&1", OCKAM_BIN), 2);
  assert_non_null(strstr(out, "usage: ockam send"));
}

/* A hub that is not there: "connection refused" at once, not after the
 * timeout (30 s here). */
static void test_send_dead_hub(void **state) {
  (void)state;
  int port = tu_free_port();
  char out[4096];
  uint64_t t0 = tu_now_ms();
  int rc = run(out, sizeof out, "'%s' send --timeout 30s '1#127.0.0.1:%d;echo_service' x 2>&1",
               OCKAM_BIN, port);
  uint64_t took = tu_now_ms() - t0;
  print_message("ockam send to a dead hub: exit %d after %llu ms: %s", rc, (unsigned long long)took,
                out);
  assert_int_equal(rc, 1);
  assert_non_null(strstr(out, "connection refused"));
  /* Far below the 30 s timeout even on a loaded machine. */
  assert_true(took < 10000);
}

/* ---- ockam stream ------------------------------------------------------------ */

/* Each line of out as one JSON object; check it holds "message": texts[i]
 * (and "index": first + i when first >= 0). */
static void expect_messages(const char *out, long long first, const char *const *texts, size_t n) {
  size_t i = 0;
  for (const char *line = out; *line; i++) {
    const char *nl = strchr(line, '\n');
    assert_non_null(nl);
    char buf[1024];
    assert_true((size_t)(nl - line) < sizeof buf);
    memcpy(buf, line, (size_t)(nl - line));
    buf[nl - line] = 0;
    if (i >= n) fail_msg("more lines than the %zu expected: %s", n, out);
    json_t *j = parse(buf);
    assert_string_equal(jstr(j, "message"), texts[i]);
    if (first >= 0) assert_int_equal(jint(j, "index"), first + (long long)i);
    json_decref(j);
    line = nl + 1;
  }
  if (i != n) fail_msg("%zu lines, %zu expected: %s", i, n, out);
}

static void test_stream_commands(void **state) {
  hub *h = *state;
  char out[16384];
  const char *B = OCKAM_BIN, *H = h->bound;

  assert_int_equal(run(out, sizeof out, "'%s' stream create --json --hub %s cli-s", B, H), 0);
  json_t *j = parse(out);
  assert_string_equal(jstr(j, "stream"), "cli-s");
  json_decref(j);
  /* Creating it again keeps it. */
  assert_int_equal(run(out, sizeof out, "'%s' stream create --hub %s cli-s", B, H), 0);
  assert_string_equal(out, "created stream 'cli-s'\n");

  /* push: one argument, then stdin lines. */
  assert_int_equal(run(out, sizeof out, "'%s' stream push --json --hub %s cli-s 'first'", B, H), 0);
  j = parse(out);
  assert_string_equal(jstr(j, "stream"), "cli-s");
  assert_int_equal(jint(j, "pushed"), 1);
  json_decref(j);
  assert_int_equal(run(out, sizeof out,
                       "printf 'a\\nb \"q\"\\n\\303\\251t\\303\\251\\n' | "
                       "'%s' stream push --json --hub %s cli-s -",
                       B, H),
                   0);
  j = parse(out);
  assert_int_equal(jint(j, "pushed"), 3);
  json_decref(j);
  const char *all[] = {"first", "a", "b \"q\"", "\xc3\xa9t\xc3\xa9", "later"};

  /* tail: everything, then from an index; it ends once it has read all. */
  assert_int_equal(run(out, sizeof out, "'%s' stream tail --json --hub %s cli-s", B, H), 0);
  expect_messages(out, 0, all, 4);
  assert_int_equal(run(out, sizeof out, "'%s' stream tail --json --from 2 --hub %s cli-s", B, H),
                   0);
  expect_messages(out, 2, all + 2, 2);
  assert_int_equal(run(out, sizeof out, "'%s' stream tail --hub %s cli-s", B, H), 0);
  assert_string_equal(out, "first\na\nb \"q\"\n\xc3\xa9t\xc3\xa9\n");

  /* sub: reads all, saves its position; the next run reads only what is new. */
  assert_int_equal(
      run(out, sizeof out, "'%s' stream sub --json --client-id cli-c --hub %s cli-s", B, H), 0);
  expect_messages(out, -1, all, 4);
  assert_int_equal(run(out, sizeof out, "'%s' stream push --hub %s cli-s later", B, H), 0);
  assert_int_equal(
      run(out, sizeof out, "'%s' stream sub --json --client-id cli-c --hub %s cli-s", B, H), 0);
  expect_messages(out, -1, all + 4, 1);
  assert_int_equal(
      run(out, sizeof out, "'%s' stream sub --json --client-id cli-c --hub %s cli-s", B, H), 0);
  expect_messages(out, -1, NULL, 0);
  /* Another client id starts at the beginning. */
  assert_int_equal(
      run(out, sizeof out, "'%s' stream sub --json --client-id cli-d --hub %s cli-s", B, H), 0);
  expect_messages(out, -1, all, 5);

  /* tail --follow prints what is pushed after it started, until SIGINT. */
  char *targv[] = {(char *)B, "stream", "tail",    "--follow", "--json", "--from",
                   "5",       "--hub",  (char *)H, "cli-s",    NULL};
  tu_proc tail;
  assert_int_equal(tu_spawn(&tail, targv, true), 0);
  assert_int_equal(run(out, sizeof out, "'%s' stream push --hub %s cli-s followed", B, H), 0);
  char line[1024];
  assert_int_equal(tu_expect_line(&tail, "followed", line, sizeof line, CMD_MS), 0);
  j = parse(line);
  assert_int_equal(jint(j, "index"), 5);
  json_decref(j);
  int ws = tu_kill(&tail, SIGINT);
  assert_true(WIFEXITED(ws));
  assert_int_equal(WEXITSTATUS(ws), 0);

  /* delete, then deleting again is refused (exit 1). */
  assert_int_equal(run(out, sizeof out, "'%s' stream delete --json --hub %s cli-s", B, H), 0);
  j = parse(out);
  assert_string_equal(jstr(j, "deleted"), "cli-s");
  json_decref(j);
  assert_int_equal(run(out, sizeof out, "'%s' stream delete --hub %s cli-s 2>&1", B, H), 1);
  assert_non_null(strstr(out, "refused"));

  /* Bad usage: exit 2. */
  assert_int_equal(run(out, sizeof out, "'%s' stream sub --hub %s cli-s 2>&1", B, H), 2);
  assert_non_null(strstr(out, "--client-id"));
  assert_int_equal(run(out, sizeof out, "'%s' stream push --hub %s 2>&1", B, H), 2);
  assert_int_equal(run(out, sizeof out, "'%s' stream tail --from x --hub %s s 2>&1", B, H), 2);
  assert_int_equal(run(out, sizeof out, "'%s' stream nosuch 2>&1", B), 2);
  assert_non_null(strstr(out, "unknown subcommand"));
}

/* tail --follow outlives its hub: killed and started again on the same port
 * and data, the hub gets a new session from tail, which prints what was
 * pushed after the restart and nothing it printed before. */
static void test_tail_follow_hub_restart(void **state) {
  hub *h = *state;
  char out[4096], H[64];
  const char *B = OCKAM_BIN;
  snprintf(H, sizeof H, "%s", h->bound);
  assert_int_equal(run(out, sizeof out, "'%s' stream push --hub %s cli-r before", B, H), 0);
  char *targv[] = {(char *)B, "stream", "tail",    "--follow", "--json", "--timeout",
                   "1s",      "--hub",  (char *)H, "cli-r",    NULL};
  tu_proc tail;
  assert_int_equal(tu_spawn(&tail, targv, true), 0);
  char line[1024];
  assert_int_equal(tu_expect_line(&tail, "before", line, sizeof line, CMD_MS), 0);
  json_t *j = parse(line);
  assert_int_equal(jint(j, "index"), 0);
  json_decref(j);

  tu_kill(&h->proc, SIGKILL);
  int port = atoi(strrchr(H, ':') + 1);
  assert_int_equal(tu_start_hub(&h->proc, port, "lmdb", h->dir, NULL, h->bound, sizeof h->bound),
                   0);
  assert_int_equal(run(out, sizeof out, "'%s' stream push --hub %s cli-r after", B, H), 0);
  /* The next line tail prints is the new message: "before" is not repeated. */
  assert_int_equal(tu_read_line(&tail, line, sizeof line, CMD_MS), 0);
  j = parse(line);
  assert_int_equal(jint(j, "index"), 1);
  assert_string_equal(jstr(j, "message"), "after");
  json_decref(j);
  int ws = tu_kill(&tail, SIGINT);
  assert_true(WIFEXITED(ws));
  assert_int_equal(WEXITSTATUS(ws), 0);
}

/* Every stream command reports a dead hub at once. */
static void test_stream_dead_hub(void **state) {
  (void)state;
  int port = tu_free_port();
  static const char *const cmds[] = {"create", "push", "tail", "sub --client-id x", "delete"};
  char out[4096];
  for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++) {
    uint64_t t0 = tu_now_ms();
    int rc = run(out, sizeof out,
                 "'%s' stream %s --timeout 30s --hub 127.0.0.1:%d s m 2>&1 "
                 "</dev/null",
                 OCKAM_BIN, cmds[i], port);
    uint64_t took = tu_now_ms() - t0;
    if (!strcmp(cmds[i], "push")) {
      /* NAME MESSAGE */
    } else if (rc == 2) {
      /* NAME only: run again without the extra operand */
      t0 = tu_now_ms();
      rc = run(out, sizeof out, "'%s' stream %s --timeout 30s --hub 127.0.0.1:%d s 2>&1", OCKAM_BIN,
               cmds[i], port);
      took = tu_now_ms() - t0;
    }
    if (rc != 1 || !strstr(out, "connection refused") || took >= 10000)
      fail_msg("stream %s to a dead hub: exit %d after %llu ms: %s", cmds[i], rc,
               (unsigned long long)took, out);
  }
}

/* ---- --help ------------------------------------------------------------------ */

static void test_help(void **state) {
  (void)state;
  static const char *const cmds[] = {
      "--help",          "hub --help",     "send --help", "stream --help", "stream delete --help",
      "identity --help", "version --help",
  };
  char out[16384];
  for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++) {
    int rc = run(out, sizeof out, "'%s' %s", OCKAM_BIN, cmds[i]);
    if (!strcmp(cmds[i], "version --help")) {
      /* version takes no options: usage on stderr, exit 2 */
      assert_int_equal(rc, 2);
      continue;
    }
    if (rc != 0 || !strstr(out, "usage:")) fail_msg("ockam %s: exit %d: %s", cmds[i], rc, out);
  }
}

/* ---- the examples' arguments --------------------------------------------------- */

static void test_examples_args(void **state) {
  (void)state;
  static const char *const examples[] = {
      "07-hub-echo",
      "08-forwarding-responder",
      "08-forwarding-initiator",
      "09-secure-channel-over-forwarding-responder",
      "09-secure-channel-over-forwarding-initiator",
      "14-stream-over-cloud-node-responder",
      "14-stream-over-cloud-node-initiator",
      "14-secure-channel-over-stream-over-cloud-node-responder",
      "14-secure-channel-over-stream-over-cloud-node-initiator",
      "15-identity-secure-channel-over-stream-over-cloud-node-responder",
      "15-identity-secure-channel-over-stream-over-cloud-node-initiator",
  };
  char out[8192];
  for (size_t i = 0; i < sizeof examples / sizeof examples[0]; i++) {
    const char *e = examples[i];
    int rc = run(out, sizeof out, "'%s/%s' --help", OCKAM_EXAMPLES, e);
    if (rc != 0 || !strstr(out, "usage:")) fail_msg("%s --help: exit %d: %s", e, rc, out);
    rc = run(out, sizeof out, "'%s/%s' --no-such-option 2>&1", OCKAM_EXAMPLES, e);
    if (rc != 2 || !strstr(out, "usage:")) fail_msg("%s --no-such-option: exit %d: %s", e, rc, out);
    rc = run(out, sizeof out, "'%s/%s' not-a-hub-address x 2>&1", OCKAM_EXAMPLES, e);
    if (rc != 2) fail_msg("%s not-a-hub-address: exit %d: %s", e, rc, out);
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_send, setup_hub, teardown_hub),
      cmocka_unit_test(test_send_dead_hub),
      cmocka_unit_test_setup_teardown(test_stream_commands, setup_hub, teardown_hub),
      cmocka_unit_test(test_stream_dead_hub),
      cmocka_unit_test_setup_teardown(test_tail_follow_hub_restart, setup_hub, teardown_hub),
      cmocka_unit_test(test_help),
      cmocka_unit_test(test_examples_args),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
