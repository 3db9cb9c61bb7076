/* Argument checks shared by the examples: -h/--help prints the usage and
 * exits 0; an unknown option, a missing or extra operand, or a malformed
 * address prints the usage and exits 2 (instead of, say, dialling "--help"
 * as a hub address forever). */
#ifndef OCKAM_EXAMPLE_ARGS_H
#define OCKAM_EXAMPLE_ARGS_H

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ockam/limits.h"

static inline const char *example_prog(const char *argv0) {
  const char *slash = strrchr(argv0, '/');
  return slash ? slash + 1 : argv0;
}

static inline bool example_is_help(const char *a) {
  return !strcmp(a, "-h") || !strcmp(a, "--help");
}

/* Print "usage: PROG USAGE" to stdout and exit 0 (help asked), or the reason
 * and the usage to stderr and exit 2. */
static inline void example_usage_exit(const char *argv0, const char *usage, const char *why) {
  FILE *f = why ? stderr : stdout;
  if (why) fprintf(f, "%s: %s\n", example_prog(argv0), why);
  fprintf(f, "usage: %s %s\n", example_prog(argv0), usage);
  exit(why ? 2 : 0);
}

/* For examples without options: --help, unknown options, and between
 * min_ops and max_ops operands. */
static inline void example_check_args(int argc, char **argv, const char *usage, int min_ops,
                                      int max_ops) {
  int ops = 0;
  for (int i = 1; i < argc; i++) {
    if (example_is_help(argv[i])) example_usage_exit(argv[0], usage, NULL);
    if (argv[i][0] == '-' && argv[i][1]) {
      fprintf(stderr, "%s: unknown option '%s'\n", example_prog(argv[0]), argv[i]);
      example_usage_exit(argv[0], usage, "bad arguments");
    }
    ops++;
  }
  if (ops < min_ops) example_usage_exit(argv[0], usage, "missing argument");
  if (ops > max_ops) example_usage_exit(argv[0], usage, "too many arguments");
}

/* A hub address: HOST:PORT with a non-empty host and a port in 1..65535. */
static inline bool example_host_port_ok(const char *s) {
  const char *colon = strrchr(s, ':');
  if (!colon || colon == s || strlen(s) > 255) return false;
  const char *p = colon + 1;
  if (!*p || strlen(p) > 5) return false;
  long port = 0;
  for (; *p; p++) {
    if (*p < '0' || *p > '9') return false;
    port = port * 10 + (*p - '0');
  }
  return port >= 1 && port <= 65535;
}

static inline void example_check_hub(const char *argv0, const char *usage, const char *hub) {
  if (example_host_port_ok(hub)) return;
  fprintf(stderr, "%s: '%s' is not a hub address (HOST:PORT)\n", example_prog(argv0), hub);
  example_usage_exit(argv0, usage, "bad arguments");
}

/* A local worker address as another program printed it (e.g. a forwarding
 * address): non-empty, at most OCKAM_ADDRESS_MAX_LEN bytes, no route syntax. */
static inline void example_check_address(const char *argv0, const char *usage, const char *a) {
  if (*a && strlen(a) <= OCKAM_ADDRESS_MAX_LEN && !strpbrk(a, ";#")) return;
  fprintf(stderr, "%s: '%s' is not a worker address\n", example_prog(argv0), a);
  example_usage_exit(argv0, usage, "bad arguments");
}

#endif
