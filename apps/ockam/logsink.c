/* The log sink of `ockam hub` (see logsink.h). JSON lines are built with
 * jansson: one object per line with "time", "level", "module", "msg". */
#include "logsink.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void write_json(ockam_log_level level, const char *module, const char *message) {
  char when[40];
  ockam_log_timestamp(when, sizeof when);
  json_t *o = json_pack("{s:s, s:s, s:s, s:s}", "time", when, "level", ockam_log_level_name(level),
                        "module", module ? module : "-", "msg", message);
  /* The message may not be UTF-8 (a peer's bytes): fall back to a lossy copy. */
  if (!o) {
    char clean[1024];
    size_t n = 0;
    for (const char *p = message; *p && n + 1 < sizeof clean; p++)
      clean[n++] = (*p & 0x80) ? '?' : *p;
    clean[n] = 0;
    o = json_pack("{s:s, s:s, s:s, s:s}", "time", when, "level", ockam_log_level_name(level),
                  "module", module ? module : "-", "msg", clean);
  }
  char *s = o ? json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
  if (s) {
    fprintf(stderr, "%s\n", s);
    free(s);
  }
  json_decref(o);
}

static void sink(ockam_log_level level, const char *module, const char *message, void *user) {
  ockam_cli_log *l = user;
  if (l->holding && level >= OCKAM_LOG_ERROR) {
    if (!l->first_error[0]) snprintf(l->first_error, sizeof l->first_error, "%s", message);
    return;
  }
  if (l->json)
    write_json(level, module, message);
  else
    ockam_log_stderr_sink(level, module, message, NULL);
}

void ockam_cli_log_install(ockam_cli_log *l, const char *format) {
  memset(l, 0, sizeof *l);
  l->json = format && !strcmp(format, "json");
  l->holding = true;
  ockam_log_set_sink(sink, l);
}

void ockam_cli_log_started(ockam_cli_log *l) {
  ockam_log_set_sink(NULL, NULL); /* takes the sink's lock: no line is half-way */
  l->holding = false;
  if (l->first_error[0]) sink(OCKAM_LOG_ERROR, "hub", l->first_error, l);
  l->first_error[0] = 0;
  ockam_log_set_sink(sink, l);
}

void ockam_cli_log_line(ockam_cli_log *l, ockam_log_level level, const char *text) {
  if (l->json)
    write_json(level, "hub", text);
  else
    fprintf(stderr, "ockam hub: %s\n", text);
}

void ockam_cli_log_uninstall(ockam_cli_log *l) {
  (void)l;
  ockam_log_set_sink(NULL, NULL);
}
