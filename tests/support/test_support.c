/* Shared support for the unit tests: see tests/include/test_support.h. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include "ockam/log.h"

#include "ockam/vault.h"
#include "test_support.h"

int ts_vault_setup(void **state) {
  ockam_vault *v = NULL;
  if (ockam_vault_create("software", &v) != OCKAM_OK) return -1;
  *state = v;
  return 0;
}

int ts_vault_teardown(void **state) {
  ockam_vault *v = *state;
  assert_int_equal(ockam_vault_secret_count(v), 0); /* nothing leaked */
  ockam_vault_destroy(v);
  return 0;
}

char *ts_vector_file(const char *name) {
  const char *dir = getenv("OCKAM_TEST_VECTORS");
#ifdef OCKAM_VECTORS_DIR
  if (!dir) dir = OCKAM_VECTORS_DIR;
#endif
  if (!dir) dir = "tests/vectors";
  char path[1024];
  if (snprintf(path, sizeof path, "%s/%s", dir, name) >= (int)sizeof path) return NULL;
  FILE *f = fopen(path, "rb");
  if (!f) {
    fprintf(stderr, "cannot open vector file %s\n", path);
    return NULL;
  }
  size_t cap = 1 << 20;
  char *buf = calloc(1, cap);
  size_t n = buf ? fread(buf, 1, cap - 1, f) : 0;
  fclose(f);
  if (buf && n == cap - 1) { /* larger than any vector file should be */
    free(buf);
    return NULL;
  }
  return buf;
}

static int nibble(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

uint8_t *ts_vector_block(const char *md, const char *prefix, size_t *len) {
  char key[128];
  snprintf(key, sizeof key, "### %s", prefix);
  const char *p = md;
  while ((p = strstr(p, key)) && p != md && p[-1] != '\n') p++;
  if (!p || !(p = strstr(p, "\nlen="))) goto missing;
  char *end;
  unsigned long want = strtoul(p + 5, &end, 10);
  if (end == p + 5 || want > (1u << 20)) goto missing;
  uint8_t *out = malloc(want ? want : 1);
  if (!out) return NULL;
  size_t n = 0;
  p = strchr(p + 1, '\n');
  while (p && p[1] == ' ' && p[2] == ' ') {
    for (p += 3; nibble(p[0]) >= 0 && nibble(p[1]) >= 0 && n < want; p += 2)
      out[n++] = (uint8_t)(nibble(p[0]) << 4 | nibble(p[1]));
    p = strchr(p, '\n');
  }
  if (n != want) {
    free(out);
    goto missing;
  }
  *len = n;
  return out;
missing:
  fprintf(stderr, "vector block '%s' missing or malformed\n", prefix);
  return NULL;
}

long ts_vector_field(const char *from, const char *key, uint8_t *out, size_t cap) {
  size_t klen = strlen(key);
  for (const char *line = from; line && *line;
       line = strchr(line, '\n'), line = line ? line + 1 : NULL) {
    const char *p = line;
    while (*p == ' ') p++;
    if (strncmp(p, key, klen)) continue;
    p += klen;
    while (*p == ' ') p++;
    if (*p != '=') continue;
    p++;
    size_t n = 0;
    for (;;) {
      while (*p == ' ') p++;
      if (*p == '\n' && p[1] == ' ') {
        p++;
        continue;
      }
      if (nibble(p[0]) < 0 || nibble(p[1]) < 0) break;
      if (n >= cap) return -1;
      out[n++] = (uint8_t)(nibble(p[0]) << 4 | nibble(p[1]));
      p += 2;
    }
    return (long)n;
  }
  return -1;
}

long ts_json_hex(const char **cursor, const char *key, uint8_t *out, size_t cap) {
  char pat[128];
  snprintf(pat, sizeof pat, "\"%s\"", key);
  const char *p = strstr(*cursor, pat);
  if (!p) return -1;
  p += strlen(pat);
  while (*p == ' ') p++;
  if (*p++ != ':') return -1;
  while (*p == ' ') p++;
  if (*p++ != '"') return -1;
  size_t n = 0;
  for (; *p != '"'; p += 2) {
    if (nibble(p[0]) < 0 || nibble(p[1]) < 0 || n >= cap) return -1;
    out[n++] = (uint8_t)(nibble(p[0]) << 4 | nibble(p[1]));
  }
  *cursor = p + 1;
  return (long)n;
}

int ts_dial(const char *ip_port) {
  const char *colon = strrchr(ip_port, ':');
  assert_non_null(colon);
  struct sockaddr_in a = {0};
  a.sin_family = AF_INET;
  a.sin_port = htons((uint16_t)atoi(colon + 1));
  assert_int_equal(inet_pton(AF_INET, "127.0.0.1", &a.sin_addr), 1);
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  assert_true(fd >= 0);
  if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

int ts_run_tests(const char *name, const struct CMUnitTest *tests, size_t n) {
  if (!getenv("OCKAM_LOG")) ockam_log_set_level(OCKAM_LOG_ERROR);
  return _cmocka_run_group_tests(name, tests, n, NULL, NULL);
}
