/* `ockam identity` as separate processes: create, show --json, rotate,
 * export-contact (hex and --out), the identifier stable across all of them,
 * file modes, and clear failures on a damaged identity file. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "ockam/identity.h"
#include "testutil.h"

/* Run a shell command line (stderr merged into stdout); collect the output. */
static int run(const char *cmdline, char *out, size_t cap) {
  char *argv[] = {"/bin/sh", "-c", (char *)cmdline, NULL};
  tu_proc p;
  assert_int_equal(tu_spawn(&p, argv, true), 0);
  size_t n = 0;
  char line[8192];
  out[0] = 0;
  while (tu_read_line(&p, line, sizeof line, 60000) == 0) {
    size_t l = strlen(line);
    if (n + l + 2 < cap) {
      memcpy(out + n, line, l);
      n += l;
      out[n++] = '\n';
      out[n] = 0;
    }
  }
  return tu_wait(&p, 60000);
}

static int ockam(char *out, size_t cap, const char *fmt, ...) {
  char args[2048], cmd[2300];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(args, sizeof args, fmt, ap);
  va_end(ap);
  snprintf(cmd, sizeof cmd, "'%s' %s 2>&1", OCKAM_BIN, args);
  return run(cmd, out, cap);
}

/* The value of "key":"..." in a JSON line. */
static void json_str(const char *json, const char *key, char *out, size_t cap) {
  char pat[64];
  snprintf(pat, sizeof pat, "\"%s\":\"", key);
  const char *p = strstr(json, pat);
  if (!p) fail_msg("no %s in %s", key, json);
  p += strlen(pat);
  const char *e = strchr(p, '"');
  assert_non_null(e);
  assert_true((size_t)(e - p) < cap);
  memcpy(out, p, (size_t)(e - p));
  out[e - p] = 0;
}

static long json_num(const char *json, const char *key) {
  char pat[64];
  snprintf(pat, sizeof pat, "\"%s\":", key);
  const char *p = strstr(json, pat);
  if (!p) fail_msg("no %s in %s", key, json);
  return strtol(p + strlen(pat), NULL, 10);
}

static size_t unhex(const char *s, uint8_t *out, size_t cap) {
  size_t n = 0;
  while (s[0] && s[1] && s[0] != '\n') {
    unsigned v;
    assert_int_equal(sscanf(s, "%2x", &v), 1);
    assert_true(n < cap);
    out[n++] = (uint8_t)v;
    s += 2;
  }
  return n;
}

static void test_cli(void **state) {
  (void)state;
  char *dir = tu_tempdir("ockam_identity_cli");
  assert_non_null(dir);
  char home[600], out[16384], ident[80], again[80], ext[100], path[700];
  snprintf(home, sizeof home, "%s/home", dir);

  assert_int_equal(ockam(out, sizeof out, "identity create --dir '%s'", home), 0);
  assert_int_equal(strlen(out), 65); /* 64 hex + newline */
  memcpy(ident, out, 64);
  ident[64] = 0;
  char parsed[OCKAM_IDENTIFIER_BUF];
  assert_int_equal(ockam_identifier_parse(ident, parsed), OCKAM_OK);
  assert_string_equal(parsed, ident);

  struct stat st;
  assert_int_equal(stat(home, &st), 0);
  assert_int_equal(st.st_mode & 077, 0);
  snprintf(path, sizeof path, "%s/vault", home);
  assert_int_equal(stat(path, &st), 0);
  assert_int_equal(st.st_mode & 07777, 0700);
  snprintf(path, sizeof path, "%s/identity", home);
  assert_int_equal(stat(path, &st), 0);
  assert_int_equal(st.st_mode & 07777, 0600);

  /* A new process finds the same identity. */
  assert_int_equal(ockam(out, sizeof out, "identity show --dir '%s' --json", home), 0);
  json_str(out, "identifier", again, sizeof again);
  assert_string_equal(again, ident);
  json_str(out, "external", ext, sizeof ext);
  assert_int_equal(strncmp(ext, "P_ID.", 5), 0);
  assert_string_equal(ext + 5, ident);
  assert_int_equal(json_num(out, "events"), 1);
  char key1[80], key2[80];
  json_str(out, "public_key", key1, sizeof key1);

  /* Plain show prints exactly the identifier; OCKAM_HOME is the default dir. */
  char cmd[2400];
  snprintf(cmd, sizeof cmd, "OCKAM_HOME='%s' '%s' identity show 2>&1", home, OCKAM_BIN);
  assert_int_equal(run(cmd, out, sizeof out), 0);
  assert_int_equal(strncmp(out, ident, 64), 0);
  assert_int_equal(out[64], '\n');

  /* Rotate: same identifier, new key, two events; persists. */
  assert_int_equal(ockam(out, sizeof out, "identity rotate --dir '%s' --json", home), 0);
  json_str(out, "identifier", again, sizeof again);
  assert_string_equal(again, ident);
  assert_int_equal(json_num(out, "events"), 2);
  assert_int_equal(ockam(out, sizeof out, "identity show --dir '%s' --json", home), 0);
  json_str(out, "public_key", key2, sizeof key2);
  assert_string_not_equal(key1, key2);
  assert_int_equal(json_num(out, "events"), 2);

  /* export-contact: hex on stdout and bytes in a file; both verify. */
  assert_int_equal(ockam(out, sizeof out, "identity export-contact --dir '%s'", home), 0);
  uint8_t hexbytes[4096], filebytes[4096];
  size_t hn = unhex(out, hexbytes, sizeof hexbytes);
  assert_int_equal(hn, 634);
  snprintf(path, sizeof path, "%s/contact.bin", dir);
  assert_int_equal(
      ockam(out, sizeof out, "identity export-contact --dir '%s' --out '%s' --json", home, path),
      0);
  assert_int_equal(json_num(out, "bytes"), 634);
  FILE *f = fopen(path, "rb");
  assert_non_null(f);
  size_t fn = fread(filebytes, 1, sizeof filebytes, f);
  fclose(f);
  assert_int_equal(fn, hn);
  assert_memory_equal(filebytes, hexbytes, hn);
  ockam_contact *c;
  assert_int_equal(ockam_contact_decode(filebytes, fn, &c), OCKAM_OK);
  assert_string_equal(ockam_contact_identifier_str(c), ident);
  assert_int_equal(ockam_contact_event_count(c), 2);
  ockam_contact_free(c);

  /* Failures: create over an existing identity, no identity, damaged file,
   * bad usage. */
  assert_int_equal(ockam(out, sizeof out, "identity create --dir '%s'", home), 1);
  assert_non_null(strstr(out, "already exists"));
  assert_int_equal(ockam(out, sizeof out, "identity show --dir '%s/none'", dir), 1);
  assert_non_null(strstr(out, "no identity"));
  char damaged[700];
  snprintf(damaged, sizeof damaged, "%s/damaged", dir);
  snprintf(cmd, sizeof cmd, "head -c 300 '%s/identity' > '%s'", home, damaged);
  assert_int_equal(system(cmd), 0);
  assert_int_equal(ockam(out, sizeof out, "identity show --dir '%s' --file '%s'", home, damaged),
                   1);
  if (!strstr(out, "OCKAM_ECORRUPT")) fail_msg("unclear error: %s", out);
  assert_int_equal(ockam(out, sizeof out, "identity frobnicate"), 2);
  assert_int_equal(ockam(out, sizeof out, "identity show --bogus"), 2);
  assert_int_equal(ockam(out, sizeof out, "identity rotate --help"), 0);
  assert_non_null(strstr(out, "--dir"));
  assert_int_equal(ockam(out, sizeof out, "identity --help"), 0);
  assert_non_null(strstr(out, "export-contact"));

  tu_rmrf(dir);
  free(dir);
}

int main(void) {
  const struct CMUnitTest tests[] = {cmocka_unit_test(test_cli)};
  return cmocka_run_group_tests(tests, NULL, NULL);
}
