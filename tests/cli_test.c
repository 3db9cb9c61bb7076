/* The ockam command line against a running hub, as separate processes:
 * `ockam send` (reply, --json parsed by jansson, --timeout, a dead hub
 * refused at once), --help of every command, and the examples' argument
 * checks (--help prints the usage, a bad argument exits 2 at once). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

typedef struct hub {
  tu_proc proc;
  char bound[64];
} hub;

static int setup_hub(void **state) {
  hub *h = calloc(1, sizeof *h);
  assert_non_null(h);
  assert_int_equal(tu_start_hub(&h->proc, 0, NULL, NULL, NULL, h->bound, sizeof h->bound), 0);
  *state = h;
  return 0;
}

static int teardown_hub(void **state) {
  hub *h = *state;
  int rc = tu_term(&h->proc);
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
      cmocka_unit_test(test_help),
      cmocka_unit_test(test_examples_args),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
