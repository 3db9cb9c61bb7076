/* The log rate limit: similar lines are capped per second and reported. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "log.h"

typedef struct seen {
  int lines, suppressed_lines;
  unsigned long long reported;
} seen;

static void sink(ockam_log_level level, const char *module, const char *message, void *user) {
  seen *s = user;
  (void)level;
  (void)module;
  s->lines++;
  unsigned long long n;
  if (sscanf(message, "%llu similar messages suppressed", &n) == 1) {
    s->suppressed_lines++;
    s->reported += n;
  }
}

static void sleep_ms(long ms) {
  struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
  nanosleep(&ts, NULL);
}

static void test_flood_is_bounded(void **state) {
  (void)state;
  seen s = {0};
  ockam_log_set_sink(sink, &s);
  ockam_log_set_level(OCKAM_LOG_INFO);
  uint64_t before = ockam_log_suppressed();
  for (int i = 0; i < 100000; i++) LOG_WARN("test", "undeliverable frame %d", i);
  /* A different call site is not affected. */
  LOG_WARN("test", "another line");
  assert_true(s.lines <= 12);
  assert_true(ockam_log_suppressed() - before >= 100000 - 10);
  /* Once the second is over, the next similar line reports the count. */
  sleep_ms(1100);
  for (int i = 0; i < 3; i++) LOG_WARN("test", "undeliverable frame %d", i);
  ockam_log_flush_suppressed();
  assert_int_equal(s.suppressed_lines, 1);
  assert_int_equal(s.reported, 100000 - 10);
  /* DEBUG is not limited (only printed when asked for). */
  ockam_log_set_level(OCKAM_LOG_DEBUG);
  int lines = s.lines;
  for (int i = 0; i < 100; i++) LOG_DEBUG("test", "trace %d", i);
  assert_int_equal(s.lines, lines + 100);
  ockam_log_set_sink(NULL, NULL);
}

/* A message quoting a peer's name with a newline stays on one line: the
 * text sink writes control bytes as \xNN. */
static void test_text_sink_escapes_control_bytes(void **state) {
  (void)state;
  FILE *tmp = tmpfile();
  assert_non_null(tmp);
  fflush(stderr);
  int saved = dup(2);
  assert_true(saved >= 0);
  assert_true(dup2(fileno(tmp), 2) >= 0);
  ockam_log_stderr_sink(OCKAM_LOG_WARN, "stream",
                        "stream 'x\n2026-12-02T00:00:00.000+00:00 ERROR forged\r\x1b[2J' refused",
                        NULL);
  fflush(stderr);
  assert_true(dup2(saved, 2) >= 0);
  close(saved);
  char out[512] = {0};
  rewind(tmp);
  size_t n = fread(out, 1, sizeof out - 1, tmp);
  fclose(tmp);
  assert_true(n > 0);
  /* One line, ending in its own newline. */
  assert_ptr_equal(strchr(out, '\n'), out + n - 1);
  assert_null(strchr(out, '\r'));
  assert_null(strchr(out, '\x1b'));
  assert_non_null(strstr(out,
                         "WARN  stream: stream 'x\\x0a2026-12-02T00:00:00.000+00:00 ERROR "
                         "forged\\x0d\\x1b[2J' refused\n"));
}

int main(void) {
  const struct CMUnitTest tests[] = {cmocka_unit_test(test_flood_is_bounded),
                                     cmocka_unit_test(test_text_sink_escapes_control_bytes)};
  return cmocka_run_group_tests(tests, NULL, NULL);
}
