/* Configuration files for the CLI's option tables (see config.h). */
#include "config.h"

#include <errno.h>
#include <ini.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void ockam_cli_strings_free(ockam_cli_strings *s) {
  for (size_t i = 0; i < s->n; i++) free(s->v[i]);
  free(s->v);
  *s = (ockam_cli_strings){0};
}

static char *strings_add(ockam_cli_strings *s, const char *value) {
  if (s->n == s->cap) {
    size_t cap = s->cap ? s->cap * 2 : 16;
    char **v = realloc(s->v, cap * sizeof *v);
    if (!v) return NULL;
    s->v = v;
    s->cap = cap;
  }
  char *copy = strdup(value);
  if (copy) s->v[s->n++] = copy;
  return copy;
}

typedef struct loader {
  const ockam_cli_spec *spec;
  void *dst;
  const char *section;
  ockam_cli_strings *strings;
  FILE *f;
  int line;       /* of the text the parser last read */
  int error_line; /* first line the handler refused; 0 = none */
  char why[256];
} loader;

/* Reads one line for the parser and counts it, so that the handler knows
 * which line it is called for (libinih counts the same way). */
static char *read_line(char *str, int num, void *stream) {
  loader *l = stream;
  char *r = fgets(str, num, l->f);
  if (r) l->line++;
  return r;
}

static int refuse(loader *l, const char *fmt, const char *a, const char *b) {
  if (!l->error_line) {
    l->error_line = l->line;
    snprintf(l->why, sizeof l->why, fmt, a, b);
  }
  return 0;
}

static int on_value(void *user, const char *section, const char *name, const char *value) {
  loader *l = user;
  if (section[0] && strcmp(section, l->section) != 0)
    return refuse(l, "unknown section [%s] (expected [%s])", section, l->section);
  const ockam_cli_option *o = ockam_cli_find_key(l->spec, name);
  if (!o) return refuse(l, "unknown key '%s'%s", name, "");
  char *copy = strings_add(l->strings, value);
  if (!copy) return refuse(l, "out of memory%s%s", "", "");
  if (ockam_cli_set(o, l->dst, copy) != 0 && !l->error_line) {
    char expected[160];
    ockam_cli_expected(o, expected, sizeof expected);
    l->error_line = l->line;
    snprintf(l->why, sizeof l->why, "invalid value '%.64s' for %s: expected %s", value, name,
             expected);
    return 0;
  }
  return 1;
}

int ockam_cli_config_load(const ockam_cli_spec *spec, void *dst, const char *path,
                          const char *section, ockam_cli_strings *strings, char *err, size_t cap) {
  loader l = {.spec = spec, .dst = dst, .section = section, .strings = strings};
  l.f = fopen(path, "r");
  if (!l.f) {
    snprintf(err, cap, "%s: cannot read: %s", path, strerror(errno));
    return -1;
  }
  int rc = ini_parse_stream(read_line, &l, on_value, &l);
  bool read_error = ferror(l.f);
  fclose(l.f);
  if (read_error) {
    snprintf(err, cap, "%s: cannot read", path);
    return -1;
  }
  if (rc == 0 && !l.error_line) return 0;
  /* rc is the first line in error: a line the parser could not read (no
   * handler call) or one the handler refused. */
  if (rc > 0 && (!l.error_line || rc < l.error_line))
    snprintf(err, cap, "%s:%d: not a 'key = value' line, [section] or comment", path, rc);
  else if (l.error_line)
    snprintf(err, cap, "%s:%d: %s", path, l.error_line, l.why);
  else
    snprintf(err, cap, "%s: cannot parse (error %d)", path, rc);
  return -1;
}
