/* Reading byte vectors out of the markdown vector files in tests/vectors.
 * Include after <cmocka.h>; every helper fails the test when the value is
 * missing or malformed, so a test cannot pass on an absent vector. */
#ifndef OCKAM_TEST_VECTORS_H
#define OCKAM_TEST_VECTORS_H

#include <ctype.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The whole file, NUL-terminated (free() it). Directory: $OCKAM_TEST_VECTORS,
 * else the source tree's tests/vectors. */
static inline char *vec_load(const char *name) {
  const char *dir = getenv("OCKAM_TEST_VECTORS");
#ifdef OCKAM_VECTORS_DIR
  if (!dir) dir = OCKAM_VECTORS_DIR;
#endif
  assert_non_null(dir);
  char path[1024];
  snprintf(path, sizeof path, "%s/%s", dir, name);
  FILE *f = fopen(path, "rb");
  if (!f) fail_msg("cannot open vector file %s", path);
  size_t cap = 1 << 20;
  char *buf = calloc(1, cap);
  assert_non_null(buf);
  size_t n = fread(buf, 1, cap - 1, f);
  buf[n] = 0;
  fclose(f);
  return buf;
}

/* Hex digits (spaces skipped) from p up to the end of the line, or across
 * lines while multiline is set and the next line is indented hex. */
static inline size_t vec_hex_run(const char *p, int multiline, uint8_t *out, size_t cap) {
  size_t n = 0;
  for (;;) {
    while (*p == ' ') p++;
    if (*p == '\n') {
      if (!multiline || p[1] != ' ') break;
      p++;
      continue;
    }
    if (!isxdigit((unsigned char)p[0]) || !isxdigit((unsigned char)p[1])) break;
    unsigned v;
    if (sscanf(p, "%2x", &v) != 1) break;
    if (n >= cap) fail_msg("vector longer than %zu bytes", cap);
    out[n++] = (uint8_t)v;
    p += 2;
  }
  return n;
}

/* Bytes of the block "### <title>\nlen=N\n  <hex lines>"; checks N. */
static inline size_t vec_block(const char *md, const char *title, uint8_t *out, size_t cap) {
  char head[256];
  snprintf(head, sizeof head, "### %s\n", title);
  const char *p = strstr(md, head);
  if (!p) fail_msg("vector block '%s' not found", title);
  p += strlen(head);
  unsigned len = 0;
  if (sscanf(p, "len=%u", &len) != 1) fail_msg("block '%s' has no len= line", title);
  p = strchr(p, '\n');
  assert_non_null(p);
  size_t n = vec_hex_run(p + 1, 1, out, cap);
  if (n != len) fail_msg("block '%s': %zu bytes, len=%u", title, n, len);
  return n;
}

/* Hex value of the first line at or after `from` that reads "<key> = <hex>"
 * (key at the start of the line after indentation; spaces inside the hex are
 * skipped). Returns a pointer just past that line in *next when next != NULL. */
static inline size_t vec_field(const char *from, const char *key, uint8_t *out, size_t cap,
                               const char **next) {
  size_t klen = strlen(key);
  for (const char *line = from; line && *line;) {
    const char *p = line;
    while (*p == ' ') p++;
    if (!strncmp(p, key, klen)) {
      const char *q = p + klen;
      while (*q == ' ') q++;
      if (*q == '=') {
        size_t n = vec_hex_run(q + 1, 0, out, cap);
        if (n == 0) fail_msg("field '%s' has no hex value", key);
        if (next) {
          const char *e = strchr(q, '\n');
          *next = e ? e + 1 : q + strlen(q);
        }
        return n;
      }
    }
    line = strchr(line, '\n');
    if (line) line++;
  }
  fail_msg("vector field '%s' not found", key);
  return 0;
}

/* Start of the line containing `text`. */
static inline const char *vec_find(const char *md, const char *text) {
  const char *p = strstr(md, text);
  if (!p) fail_msg("'%s' not found in the vector file", text);
  return p;
}

#endif
