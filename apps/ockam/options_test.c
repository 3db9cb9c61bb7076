/* The CLI's option tables: strict numbers, units, ranges, defaults, help. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "cli.h"
#include "ockam/limits.h"
#include "options.h"

typedef struct opts {
  const char *name;
  uint32_t count;
  uint64_t big;
  int small;
  uint32_t wait_ms;
  uint64_t age_s;
  uint64_t bytes;
  bool flag;
} opts;

static const ockam_cli_option table[] = {
    OCKAM_CLI_STR(opts, name, "name", "name", "NAME", "dflt", "dflt|a|bc", NULL, "a name"),
    OCKAM_CLI_UINT_OPT(opts, count, "count", "count", "N", 7, 1, 0, "a count"),
    OCKAM_CLI_UINT_OPT(opts, big, "big", "big", "N", 0, 0, 0, "a big number"),
    OCKAM_CLI_UINT_OPT(opts, small, "small", "small", "N", 2, 1, 5, "a small int"),
    OCKAM_CLI_DURATION_OPT(opts, wait_ms, "wait", "wait", 1, 30000, 1, 0, "a wait"),
    OCKAM_CLI_DURATION_OPT(opts, age_s, "age", "age", 1000, 0, 0, 0, "an age"),
    OCKAM_CLI_SIZE_OPT(opts, bytes, "bytes", "bytes", 256ull << 20, 1, 0, "a size"),
    OCKAM_CLI_BOOL_OPT(opts, flag, "flag", "flag", "a flag"),
};
static const ockam_cli_spec spec = {"test", "test [options]", NULL, table,
                                    sizeof table / sizeof table[0]};

static int set(const char *flag, const char *value, opts *o) {
  return ockam_cli_set(ockam_cli_find_flag(&spec, flag), o, value);
}

static void test_defaults(void **state) {
  opts o;
  memset(&o, 0xff, sizeof o);
  ockam_cli_defaults(&spec, &o);
  assert_string_equal(o.name, "dflt");
  assert_int_equal(o.count, 7);
  assert_int_equal(o.big, 0);
  assert_int_equal(o.small, 2);
  assert_int_equal(o.wait_ms, 30000);
  assert_int_equal(o.bytes, 256ull << 20);
  assert_false(o.flag);
}

static void test_strict_numbers(void **state) {
  opts o;
  ockam_cli_defaults(&spec, &o);
  static const char *const bad[] = {"",
                                    "-1",
                                    "+1",
                                    " 1",
                                    "1 ",
                                    "0x10",
                                    "1.5",
                                    "1e3",
                                    "1O",
                                    "99999999999999999999",
                                    "18446744073709551616"};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    assert_int_equal(set("big", bad[i], &o), -1);
    assert_int_equal(o.big, 0); /* nothing stored */
  }
  assert_int_equal(set("big", "18446744073709551615", &o), 0);
  assert_true(o.big == UINT64_MAX);
  assert_int_equal(set("big", "007", &o), 0);
  assert_int_equal(o.big, 7);
  /* Ranges: the entry's and the field's. */
  assert_int_equal(set("count", "0", &o), -1);
  assert_int_equal(set("count", "4294967295", &o), 0);
  assert_int_equal(set("count", "4294967296", &o), -1);
  assert_int_equal(set("small", "6", &o), -1);
  assert_int_equal(set("small", "5", &o), 0);
  assert_int_equal(o.small, 5);
}

static void test_durations_and_sizes(void **state) {
  opts o;
  ockam_cli_defaults(&spec, &o);
  assert_int_equal(set("wait", "250", &o), 0); /* bare number: the field's unit */
  assert_int_equal(o.wait_ms, 250);
  assert_int_equal(set("wait", "2s", &o), 0);
  assert_int_equal(o.wait_ms, 2000);
  assert_int_equal(set("wait", "1h", &o), 0);
  assert_int_equal(o.wait_ms, 3600000);
  assert_int_equal(set("wait", "50d", &o), -1); /* over the u32 field */
  assert_int_equal(set("wait", "2 s", &o), -1);
  assert_int_equal(set("wait", "2sec", &o), -1);
  assert_int_equal(set("wait", "s", &o), -1);
  assert_int_equal(set("age", "90", &o), 0);
  assert_int_equal(o.age_s, 90);
  assert_int_equal(set("age", "2m", &o), 0);
  assert_int_equal(o.age_s, 120);
  assert_int_equal(set("age", "1500ms", &o), -1); /* not whole seconds */
  assert_int_equal(set("age", "2000ms", &o), 0);
  assert_int_equal(o.age_s, 2);
  assert_int_equal(set("bytes", "4KiB", &o), 0);
  assert_int_equal(o.bytes, 4096);
  assert_int_equal(set("bytes", "3GiB", &o), 0);
  assert_int_equal(o.bytes, 3ull << 30);
  assert_int_equal(set("bytes", "4kb", &o), -1);
  assert_int_equal(set("bytes", "0", &o), -1);
  assert_int_equal(set("bytes", "17179869184GiB", &o), -1); /* overflows u64 */
}

static void test_strings_and_bools(void **state) {
  opts o;
  ockam_cli_defaults(&spec, &o);
  assert_int_equal(set("name", "bc", &o), 0);
  assert_string_equal(o.name, "bc");
  assert_int_equal(set("name", "b", &o), -1);
  assert_int_equal(set("name", "bcd", &o), -1);
  assert_int_equal(set("flag", NULL, &o), 0);
  assert_true(o.flag);
  assert_int_equal(set("flag", "false", &o), 0);
  assert_false(o.flag);
  assert_int_equal(set("flag", "yes", &o), -1);
  assert_non_null(ockam_cli_find_key(&spec, "wait"));
  assert_null(ockam_cli_find_key(&spec, "nope"));
}

static void test_parse_argv(void **state) {
  opts o;
  char *argv[] = {"test", "--count", "3", "--wait=5s", "--flag", NULL};
  assert_int_equal(ockam_cli_parse(&spec, &o, 5, argv, NULL), 0);
  assert_int_equal(o.count, 3);
  assert_int_equal(o.wait_ms, 5000);
  assert_true(o.flag);
  char *bad1[] = {"test", "--count", NULL};
  assert_int_equal(ockam_cli_parse(&spec, &o, 2, bad1, NULL), -1);
  char *bad2[] = {"test", "--coun", "3", NULL}; /* no abbreviations */
  assert_int_equal(ockam_cli_parse(&spec, &o, 3, bad2, NULL), -1);
  char *bad3[] = {"test", "--flag=true", NULL};
  assert_int_equal(ockam_cli_parse(&spec, &o, 2, bad3, NULL), -1);
  char *bad4[] = {"test", "stray", NULL};
  assert_int_equal(ockam_cli_parse(&spec, &o, 2, bad4, NULL), -1);
  char *ops[] = {"test", "one", "--count", "4", "--", "--two", NULL};
  int n = 0;
  assert_int_equal(ockam_cli_parse(&spec, &o, 6, ops, &n), 0);
  assert_int_equal(n, 2);
  assert_string_equal(ops[1], "one");
  assert_string_equal(ops[2], "--two");
  assert_int_equal(o.count, 4);
}

/* Every hub flag appears in --help, and each has a unique flag and a unique
 * configuration key (only --config, --check and --print-identifier are for
 * the command line alone). */
static void test_hub_table(void **state) {
  const ockam_cli_spec *s = &ockam_hub_cli_spec;
  char *text = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&text, &len);
  assert_non_null(f);
  ockam_cli_help(s, f);
  fclose(f);
  for (size_t i = 0; i < s->count; i++) {
    char flag[80];
    snprintf(flag, sizeof flag, "--%s", s->options[i].flag);
    assert_non_null(strstr(text, flag));
    for (size_t j = 0; j < i; j++) {
      assert_string_not_equal(s->options[i].flag, s->options[j].flag);
      if (s->options[i].key && s->options[j].key)
        assert_string_not_equal(s->options[i].key, s->options[j].key);
    }
    bool cli_only = !strcmp(s->options[i].flag, "config") || !strcmp(s->options[i].flag, "check") ||
                    !strcmp(s->options[i].flag, "print-identifier");
    if (cli_only)
      assert_null(s->options[i].key);
    else
      assert_non_null(s->options[i].key);
  }
  assert_non_null(strstr(text, "[default 64511]"));
  assert_non_null(strstr(text, "[default 30s]"));
  free(text);

  ockam_hub_cli o;
  char *argv[] = {"hub",  "--store",         "memory", "--max-message",
                  "1000", "--long-poll-max", "2000",   NULL};
  assert_int_equal(ockam_cli_parse_hub(7, argv, &o), 0);
  assert_string_equal(o.hub.store, "memory");
  assert_int_equal(o.hub.max_message, 1000);
  assert_int_equal(o.hub.long_poll_max_ms, 2000);
  assert_int_equal(o.hub.max_streams, OCKAM_HUB_MAX_STREAMS);
  assert_string_equal(o.hub.listen, "127.0.0.1:4000");
  char *js[] = {"hub", "--store", "jetstream", NULL};
  assert_int_equal(ockam_cli_parse_hub(3, js, &o), -1);
  char *big[] = {"hub", "--max-message", "64512", NULL};
  assert_int_equal(ockam_cli_parse_hub(3, big, &o), -1);
  char *lvl[] = {"hub", "--log", "loud", NULL};
  assert_int_equal(ockam_cli_parse_hub(3, lvl, &o), -1);
}

/* The file's values land in the same fields as the flags'; flags win. */
static void test_hub_config_file(void **state) {
  (void)state;
  char path[] = "/tmp/ockam-options-test-XXXXXX";
  int fd = mkstemp(path);
  assert_true(fd >= 0);
  const char text[] =
      "; comment\n"
      "[hub]\n"
      "store = memory\n"
      "max_streams = 77\n"
      "retention_age = 2h\n"
      "retention_bytes = 3MiB\n"
      "no_sync = true\n"
      "log = WARN\n"
      "listen = 127.0.0.1:4100\n";
  assert_int_equal(write(fd, text, sizeof text - 1), (ssize_t)(sizeof text - 1));
  close(fd);
  ockam_hub_cli o;
  char *argv[] = {"hub", "--config", path, "--listen", "127.0.0.1:4200", NULL};
  assert_int_equal(ockam_cli_parse_hub(5, argv, &o), 0);
  assert_string_equal(o.hub.store, "memory");
  assert_int_equal(o.hub.max_streams, 77);
  assert_int_equal(o.hub.retention_age_s, 7200);
  assert_int_equal(o.hub.retention_bytes, 3u << 20);
  assert_true(o.hub.no_sync);
  assert_string_equal(o.log, "WARN");
  assert_string_equal(o.hub.listen, "127.0.0.1:4200");
  assert_int_equal(o.hub.max_connections, OCKAM_TCP_MAX_CONNECTIONS);
  ockam_cli_hub_free(&o);
  unlink(path);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_defaults),
      cmocka_unit_test(test_strict_numbers),
      cmocka_unit_test(test_durations_and_sizes),
      cmocka_unit_test(test_strings_and_bools),
      cmocka_unit_test(test_parse_argv),
      cmocka_unit_test(test_hub_table),
      cmocka_unit_test(test_hub_config_file),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
