/* The log sink of `ockam hub`: text (the library's format) or JSON lines, and
 * holding back errors while the hub starts so that a failed start ends with
 * one line that names the cause. */
#ifndef OCKAM_CLI_LOGSINK_H
#define OCKAM_CLI_LOGSINK_H

#include <stdbool.h>

#include "ockam/log.h"

typedef struct ockam_cli_log {
  bool json;
  bool holding;          /* starting: keep ERROR lines back */
  char first_error[512]; /* the first ERROR line held back */
} ockam_cli_log;

/* Install the sink (format "text" or "json"), holding errors back. */
void ockam_cli_log_install(ockam_cli_log *l, const char *format);
/* Started: stop holding back (held errors are printed). */
void ockam_cli_log_started(ockam_cli_log *l);
/* Write one line of the CLI's own (not through the level threshold):
 * "ockam hub: TEXT" in text, a JSON record in json. */
void ockam_cli_log_line(ockam_cli_log *l, ockam_log_level level, const char *text);
/* Restore the library's default sink. */
void ockam_cli_log_uninstall(ockam_cli_log *l);

#endif
