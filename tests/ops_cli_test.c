/* Operating the hub: the configuration file and --check, log lines (levels in
 * any case, ISO 8601 time, JSON, connections, statistics) and startup errors
 * that keep their cause. Runs the real `ockam hub` and reads its exit code,
 * stdout and stderr. */
#include <arpa/inet.h>
#include <errno.h>
#include <jansson.h>
#include <netinet/in.h>
#include <regex.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "testutil.h"

typedef struct fixture {
  char *dir;
  char path[512]; /* scratch */
} fixture;

static int setup(void **state) {
  fixture *f = calloc(1, sizeof *f);
  f->dir = tu_tempdir("opscli");
  *state = f;
  return f->dir ? 0 : -1;
}

static int teardown(void **state) {
  fixture *f = *state;
  tu_rmrf(f->dir);
  free(f->dir);
  free(f);
  return 0;
}

static const char *in_dir(fixture *f, const char *name) {
  snprintf(f->path, sizeof f->path, "%s/%s", f->dir, name);
  return f->path;
}

static void write_file(const char *path, const char *text) {
  FILE *fp = fopen(path, "w");
  assert_non_null(fp);
  fputs(text, fp);
  assert_int_equal(fclose(fp), 0);
}

/* Whole file into a malloc'd string ("" if missing). */
static char *slurp(const char *path) {
  FILE *fp = fopen(path, "r");
  if (!fp) return strdup("");
  size_t cap = 1 << 16, n = 0;
  char *s = malloc(cap);
  size_t r;
  while ((r = fread(s + n, 1, cap - n - 1, fp)) > 0) {
    n += r;
    if (n + 1 == cap) s = realloc(s, cap *= 2);
  }
  s[n] = 0;
  fclose(fp);
  return s;
}

/* The last non-empty line of text (a pointer into a static copy). */
static const char *last_line(const char *text) {
  static char line[2048];
  size_t n = strlen(text);
  while (n && text[n - 1] == '\n') n--;
  size_t start = n;
  while (start && text[start - 1] != '\n') start--;
  size_t len = n - start < sizeof line - 1 ? n - start : sizeof line - 1;
  memcpy(line, text + start, len);
  line[len] = 0;
  return line;
}

/* Run `ockam hub ARGS` to its end (60 s at most); stdout and stderr go to
 * files in the fixture's directory. Returns the exit code. */
static int run_hub(fixture *f, char **out, char **err, const char *args_fmt, ...) {
  char args[2048], cmd[4096], out_path[600], err_path[600];
  va_list ap;
  va_start(ap, args_fmt);
  vsnprintf(args, sizeof args, args_fmt, ap);
  va_end(ap);
  snprintf(out_path, sizeof out_path, "%s/run.out", f->dir);
  snprintf(err_path, sizeof err_path, "%s/run.err", f->dir);
  snprintf(cmd, sizeof cmd, "cd %s && exec timeout 60 %s hub %s >%s 2>%s", f->dir, OCKAM_BIN, args,
           out_path, err_path);
  int st = system(cmd);
  if (out) *out = slurp(out_path);
  if (err) *err = slurp(err_path);
  return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* Start `ockam hub ARGS --ready-file ...` in the background with stderr to
 * err_path; bound receives the listening address. */
static void start_hub(fixture *f, tu_proc *p, const char *err_path, char *bound, size_t cap,
                      const char *args) {
  char ready[600], cmd[4096];
  snprintf(ready, sizeof ready, "%s/ready", f->dir);
  unlink(ready);
  snprintf(cmd, sizeof cmd, "exec %s hub %s --ready-file %s 2>%s", OCKAM_BIN, args, ready,
           err_path);
  char *argv[] = {(char *)"/bin/sh", (char *)"-c", cmd, NULL};
  assert_int_equal(tu_spawn(p, argv, true), 0);
  assert_int_equal(tu_wait_file(ready, bound, cap, 20000), 0);
}

/* Wait until the file holds needle (the hub writes its log as it goes). */
static char *wait_for(const char *path, const char *needle, int timeout_ms) {
  uint64_t deadline = tu_now_ms() + (uint64_t)timeout_ms;
  for (;;) {
    char *s = slurp(path);
    if (strstr(s, needle)) return s;
    if (tu_now_ms() > deadline) {
      print_error("no '%s' in %s:\n%s\n", needle, path, s);
      free(s);
      fail();
    }
    free(s);
    usleep(50 * 1000);
  }
}

/* ---- the configuration file ---------------------------------------------- */

static void test_check_accepts_a_good_file(void **state) {
  fixture *f = *state;
  write_file(in_dir(f, "good.ini"),
             "; the hub's configuration\n"
             "# both comment styles\n"
             "[hub]\n"
             "listen = localhost:4000\n"
             "store = lmdb\n"
             "data_dir = /var/lib/ockam-hub\n"
             "retention_age = 7d\n"
             "retention_bytes = 512MiB\n"
             "max_connections = 2000\n"
             "no_sync = false\n"
             "log = INFO\n"
             "log_format = json\n"
             "stats_interval = 1m\n");
  char *out, *err;
  assert_int_equal(run_hub(f, &out, &err, "--check --config good.ini"), 0);
  assert_non_null(strstr(out, "configuration OK"));
  free(out);
  free(err);
}

/* The example shipped for packagers sets real keys. */
static void test_shipped_example_is_valid(void **state) {
  fixture *f = *state;
  char *out, *err;
  assert_int_equal(
      run_hub(f, &out, &err, "--check --config %s/packaging/hub.ini", OCKAM_SOURCE_DIR), 0);
  assert_non_null(strstr(out, "configuration OK"));
  free(out);
  free(err);
}

typedef struct bad_case {
  const char *text;
  const char *expect; /* in the one error line, after "FILE:" */
} bad_case;

static void test_check_names_the_offending_line(void **state) {
  fixture *f = *state;
  static const bad_case cases[] = {
      {"[hub]\nstore = memory\nmax_streams = many\n",
       "bad.ini:3: invalid value 'many' for max_streams: expected a whole number"},
      {"[hub]\nstore = memory\n\nlisten\n", "bad.ini:4: not a 'key = value' line"},
      {"[hub]\nlisten = 127.0.0.1:0\nlisten_on = x\n", "bad.ini:3: unknown key 'listen_on'"},
      {"[hub]\nstore = memory\n[hubs]\nlisten = 127.0.0.1:0\n",
       "bad.ini:4: unknown section [hubs]"},
      {"[hub]\nstore = postgres\n",
       "bad.ini:2: invalid value 'postgres' for store: expected one "
       "of memory|lmdb|jetstream"},
      {"[hub]\nlog = loud\n", "bad.ini:2: invalid value 'loud' for log"},
      {"[hub]\nretention_age = 3 days\n", "bad.ini:2: invalid value '3 days' for retention_age"},
      {"[hub]\nno_sync = yes please\n",
       "bad.ini:2: invalid value 'yes please' for no_sync: "
       "expected true or false"},
      /* The first error wins, a syntax error before a bad value included. */
      {"[hub]\nnot a pair\nmax_streams = 0\n", "bad.ini:2: not a 'key = value' line"},
      {"[hub]\nmax_streams = 0\nnot a pair\n", "bad.ini:2: invalid value '0' for max_streams"},
      /* Only the hub's keys: the command-line-only flags have none. */
      {"[hub]\nconfig = other.ini\n", "bad.ini:2: unknown key 'config'"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    write_file(in_dir(f, "bad.ini"), cases[i].text);
    char *out, *err;
    int rc = run_hub(f, &out, &err, "--check --config bad.ini");
    if (rc != 1 || !strstr(err, cases[i].expect) || strchr(err, '\n') != err + strlen(err) - 1) {
      print_error("case %zu: rc %d, stderr:\n%s(expected one line with '%s')\n", i, rc, err,
                  cases[i].expect);
      fail();
    }
    free(out);
    free(err);
  }
}

static void test_missing_file_says_why(void **state) {
  fixture *f = *state;
  char *err;
  assert_int_equal(run_hub(f, NULL, &err, "--check --config nowhere.ini"), 1);
  assert_non_null(strstr(err, "nowhere.ini: cannot read: No such file or directory"));
  free(err);
  /* Without --check a bad configuration is a usage error, and nothing starts. */
  assert_int_equal(run_hub(f, NULL, &err, "--config nowhere.ini"), 2);
  free(err);
}

static void test_flags_override_the_file(void **state) {
  fixture *f = *state;
  /* The file alone is invalid (jetstream without servers); the flag fixes it. */
  write_file(in_dir(f, "js.ini"), "[hub]\nstore = jetstream\n");
  char *err;
  assert_int_equal(run_hub(f, NULL, &err, "--check --config js.ini"), 1);
  assert_non_null(strstr(err, "--store jetstream needs --nats"));
  free(err);
  assert_int_equal(run_hub(f, NULL, &err, "--check --config js.ini --store memory"), 0);
  free(err);
  /* Flags are checked before the file: a bad flag is reported as such. */
  assert_int_equal(run_hub(f, NULL, &err, "--check --config js.ini --max-streams x"), 1);
  assert_non_null(strstr(err, "invalid value 'x' for --max-streams"));
  free(err);

  /* A running hub: the file's port is taken over by --listen, the file's
   * JSON log format is kept. */
  int busy = tu_free_port();
  char ini[256];
  snprintf(ini, sizeof ini, "[hub]\nlisten = 127.0.0.1:%d\nstore = memory\nlog_format = json\n",
           busy);
  write_file(in_dir(f, "run.ini"), ini);
  char args[1024], bound[128], errp[600];
  snprintf(args, sizeof args, "--config %s/run.ini --listen 127.0.0.1:0 --log info", f->dir);
  snprintf(errp, sizeof errp, "%s/hub.err", f->dir);
  tu_proc p;
  start_hub(f, &p, errp, bound, sizeof bound, args);
  char want[64];
  snprintf(want, sizeof want, ":%d", busy);
  assert_null(strstr(bound, want));
  assert_int_equal(tu_term(&p), 0);
  char *log = slurp(errp);
  json_error_t je;
  json_t *first = json_loadb(log, strcspn(log, "\n"), 0, &je);
  assert_non_null(first);
  json_decref(first);
  free(log);
}

/* ---- log lines -------------------------------------------------------------- */

static void test_text_log_lines(void **state) {
  fixture *f = *state;
  char errp[600], bound[128];
  snprintf(errp, sizeof errp, "%s/text.err", f->dir);
  tu_proc p;
  /* Levels in any case; a statistics line every second. */
  start_hub(f, &p, errp, bound, sizeof bound,
            "--listen 127.0.0.1:0 --store memory --log INFO --stats-interval 1");
  int fd = tu_connect(bound, 5000);
  assert_true(fd >= 0);
  struct sockaddr_storage ss;
  socklen_t sl = sizeof ss;
  assert_int_equal(getsockname(fd, (struct sockaddr *)&ss, &sl), 0);
  char peer[64];
  snprintf(peer, sizeof peer, "connection from 127.0.0.1:%d opened",
           ntohs(((struct sockaddr_in *)&ss)->sin_port));
  free(wait_for(errp, peer, 20000));
  close(fd);
  snprintf(peer, sizeof peer, "connection from 127.0.0.1:%d closed",
           ntohs(((struct sockaddr_in *)&ss)->sin_port));
  free(wait_for(errp, peer, 20000));
  free(wait_for(errp, "stats: ", 20000));
  assert_int_equal(tu_term(&p), 0);
  char *log = slurp(errp);
  /* Every log line: ISO 8601 date and time, milliseconds, zone offset. */
  regex_t re;
  assert_int_equal(regcomp(&re,
                           "^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\\.[0-9]{3}"
                           "[+-][0-9]{2}:[0-9]{2} (DEBUG|INFO |WARN |ERROR) [a-z_]+: ",
                           REG_EXTENDED | REG_NOSUB),
                   0);
  int lines = 0;
  for (char *save = NULL, *l = strtok_r(log, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
    if (!strncmp(l, "ockam hub: ", 11)) continue; /* the command's own lines */
    if (regexec(&re, l, 0, NULL, 0) != 0) {
      print_error("not a log line: %s\n", l);
      fail();
    }
    lines++;
  }
  assert_true(lines >= 4);
  regfree(&re);
  free(log);
}

static void test_json_log_lines(void **state) {
  fixture *f = *state;
  char errp[600], bound[128];
  snprintf(errp, sizeof errp, "%s/json.err", f->dir);
  tu_proc p;
  start_hub(f, &p, errp, bound, sizeof bound,
            "--listen 127.0.0.1:0 --store memory --log Debug --log-format json");
  int fd = tu_connect(bound, 5000);
  assert_true(fd >= 0);
  free(wait_for(errp, "opened", 20000));
  close(fd);
  free(wait_for(errp, "closed", 20000));
  assert_int_equal(tu_term(&p), 0);
  char *log = slurp(errp);
  int lines = 0;
  for (char *save = NULL, *l = strtok_r(log, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
    json_error_t je;
    json_t *o = json_loads(l, 0, &je);
    if (!o) {
      print_error("not JSON: %s (%s)\n", l, je.text);
      fail();
    }
    const char *t = json_string_value(json_object_get(o, "time"));
    const char *lv = json_string_value(json_object_get(o, "level"));
    assert_non_null(t);
    assert_non_null(lv);
    assert_non_null(json_string_value(json_object_get(o, "module")));
    assert_non_null(json_string_value(json_object_get(o, "msg")));
    assert_int_equal(strlen(t), strlen("2021-06-01T12:00:00.000+00:00"));
    json_decref(o);
    lines++;
  }
  assert_true(lines >= 4);
  free(log);
}

/* ---- startup errors ---------------------------------------------------------- */

static void test_bad_data_dir_keeps_the_cause(void **state) {
  fixture *f = *state;
  write_file(in_dir(f, "plainfile"), "x");
  char *err;
  assert_int_equal(run_hub(f, NULL, &err, "--listen 127.0.0.1:0 --data %s/plainfile/data", f->dir),
                   1);
  const char *last = last_line(err);
  if (!strstr(last, "ockam hub: cannot start:") || !strstr(last, "/plainfile/data") ||
      !strstr(last, "Not a directory")) {
    print_error("stderr:\n%s\n", err);
    fail();
  }
  /* The cause is said once, not followed by a vaguer summary. */
  assert_null(strstr(err, "storage error"));
  free(err);
}

static void test_busy_port_fails_before_the_store(void **state) {
  fixture *f = *state;
  char errp[600], bound[128];
  snprintf(errp, sizeof errp, "%s/first.err", f->dir);
  tu_proc p;
  start_hub(f, &p, errp, bound, sizeof bound, "--listen 127.0.0.1:0 --store memory");
  char *err;
  assert_int_equal(run_hub(f, NULL, &err, "--listen %s --data %s/untouched", bound, f->dir), 1);
  const char *last = last_line(err);
  if (!strstr(last, "cannot start:") || !strstr(last, bound) ||
      !strstr(last, "address already in use")) {
    print_error("stderr:\n%s\n", err);
    fail();
  }
  struct stat st;
  assert_int_equal(stat(in_dir(f, "untouched"), &st), -1);
  assert_int_equal(errno, ENOENT);
  free(err);
  assert_int_equal(tu_term(&p), 0);
}

static void test_listen_takes_host_names(void **state) {
  fixture *f = *state;
  char errp[600], bound[128];
  snprintf(errp, sizeof errp, "%s/name.err", f->dir);
  tu_proc p;
  start_hub(f, &p, errp, bound, sizeof bound, "--listen localhost:0 --store memory");
  assert_true(!strncmp(bound, "127.0.0.1:", 10) || !strncmp(bound, "[::1]:", 6));
  assert_int_equal(tu_term(&p), 0);
  char *err;
  /* Not loopback: the anonymous decision comes first (docs/OPERATIONS.md). */
  assert_int_equal(
      run_hub(f, NULL, &err, "--listen no-such-host.invalid:4000 --store memory --anonymous allow"),
      1);
  const char *last = last_line(err);
  if (!strstr(last, "cannot start: cannot listen on no-such-host.invalid:4000")) {
    print_error("stderr:\n%s\n", err);
    fail();
  }
  free(err);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_check_accepts_a_good_file, setup, teardown),
      cmocka_unit_test_setup_teardown(test_shipped_example_is_valid, setup, teardown),
      cmocka_unit_test_setup_teardown(test_check_names_the_offending_line, setup, teardown),
      cmocka_unit_test_setup_teardown(test_missing_file_says_why, setup, teardown),
      cmocka_unit_test_setup_teardown(test_flags_override_the_file, setup, teardown),
      cmocka_unit_test_setup_teardown(test_text_log_lines, setup, teardown),
      cmocka_unit_test_setup_teardown(test_json_log_lines, setup, teardown),
      cmocka_unit_test_setup_teardown(test_bad_data_dir_keeps_the_cause, setup, teardown),
      cmocka_unit_test_setup_teardown(test_busy_port_fails_before_the_store, setup, teardown),
      cmocka_unit_test_setup_teardown(test_listen_takes_host_names, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
