/* The log rate limit: similar lines are capped per second and reported. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

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

int main(void) {
  const struct CMUnitTest tests[] = {cmocka_unit_test(test_flood_is_bounded)};
  return cmocka_run_group_tests(tests, NULL, NULL);
}
