/* Helpers shared by the libFuzzer targets.
 *
 * FUZZ_CHECK() turns a broken invariant into a crash that libFuzzer records
 * (an input is only "interesting" to a sanitizer when it crashes). The
 * fuzz_in cursor hands out structure from the front of an input: every take
 * is bounded by what is left and yields zeros once the input is used up, so
 * any byte string is a valid program for a target.
 */
#ifndef OCKAM_FUZZ_H
#define OCKAM_FUZZ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sanitizer/common_interface_defs.h>

#include "ockam/log.h"

/* The message goes to the sanitizer's report stream as well, which libFuzzer
 * keeps open when -close_fd_mask silences the target's stderr. */
#define FUZZ_CHECK(cond)                               \
  do {                                                 \
    if (!(cond)) fuzz_fail(__FILE__, __LINE__, #cond); \
  } while (0)

static inline void fuzz_fail(const char *file, int line, const char *what) {
  char msg[512];
  snprintf(msg, sizeof msg, "invariant failed at %s:%d: %s", file, line, what);
  fprintf(stderr, "%s\n", msg);
  __sanitizer_report_error_summary(msg);
  abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

typedef struct fuzz_in {
  const uint8_t *p;
  size_t len;
  size_t pos;
} fuzz_in;

static inline void fuzz_in_init(fuzz_in *in, const uint8_t *p, size_t len) {
  in->p = p;
  in->len = len;
  in->pos = 0;
}

static inline size_t fuzz_left(const fuzz_in *in) {
  return in->len - in->pos;
}

static inline uint8_t fuzz_u8(fuzz_in *in) {
  return in->pos < in->len ? in->p[in->pos++] : 0;
}

static inline uint16_t fuzz_u16(fuzz_in *in) {
  uint16_t hi = fuzz_u8(in);
  return (uint16_t)(hi << 8 | fuzz_u8(in));
}

static inline uint64_t fuzz_u64(fuzz_in *in) {
  uint64_t v = 0;
  for (int i = 0; i < 8; i++) v = v << 8 | fuzz_u8(in);
  return v;
}

/* Up to n bytes (fewer when the input ends); *got = how many. */
static inline const uint8_t *fuzz_bytes(fuzz_in *in, size_t n, size_t *got) {
  if (n > fuzz_left(in)) n = fuzz_left(in);
  const uint8_t *p = in->p + in->pos;
  in->pos += n;
  *got = n;
  return p;
}

/* Everything that is left. */
static inline const uint8_t *fuzz_rest(fuzz_in *in, size_t *got) {
  return fuzz_bytes(in, fuzz_left(in), got);
}

/* Silence the library's logger: parsers log what they refuse, and a target
 * runs them millions of times. */
static inline void fuzz_quiet(void) {
  ockam_log_set_level(OCKAM_LOG_OFF);
}

#endif
