/* Helpers shared by the benchmark programs: clocks, percentiles, RSS, and one
 * result line per measurement ("RESULT name value unit") that bench/run parses. */
#ifndef OCKAM_BENCH_UTIL_H
#define OCKAM_BENCH_UTIL_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static inline double bench_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int bench_cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

/* q in [0, 1]; sorts v in place. */
static inline double bench_percentile(double *v, size_t n, double q) {
  if (n == 0) return 0;
  qsort(v, n, sizeof *v, bench_cmp_double);
  size_t i = (size_t)(q * (double)(n - 1) + 0.5);
  return v[i < n ? i : n - 1];
}

/* Resident set size of a process in KiB (pid 0 = this one), -1 on error. */
static inline long bench_rss_kib(int pid) {
  char path[64], line[256];
  if (pid)
    snprintf(path, sizeof path, "/proc/%d/status", pid);
  else
    snprintf(path, sizeof path, "/proc/self/status");
  FILE *f = fopen(path, "r");
  if (!f) return -1;
  long kib = -1;
  while (fgets(line, sizeof line, f))
    if (!strncmp(line, "VmRSS:", 6)) {
      kib = strtol(line + 6, NULL, 10);
      break;
    }
  fclose(f);
  return kib;
}

static inline void bench_result(const char *name, double value, const char *unit) {
  printf("RESULT %s %.6g %s\n", name, value, unit);
  fflush(stdout);
}

static inline const char *bench_arg(int argc, char **argv, const char *key, const char *dflt) {
  for (int i = 1; i + 1 < argc; i++)
    if (!strcmp(argv[i], key)) return argv[i + 1];
  return dflt;
}

static inline long bench_arg_long(int argc, char **argv, const char *key, long dflt) {
  const char *v = bench_arg(argc, argv, key, NULL);
  return v ? strtol(v, NULL, 10) : dflt;
}

/* For calls whose result does not matter (warn_unused_result). */
static inline void bench_ignore(int rc) {
  (void)rc;
}

#define BENCH_CHECK(expr)                                                              \
  do {                                                                                 \
    int bench_rc_ = (expr);                                                            \
    if (bench_rc_) {                                                                   \
      fprintf(stderr, "%s:%d: %s failed: %d\n", __FILE__, __LINE__, #expr, bench_rc_); \
      exit(2);                                                                         \
    }                                                                                  \
  } while (0)

#endif
