/* Configuration files for the CLI's option tables.
 *
 * An INI file (parsed by libinih) whose keys are the `key` column of a
 * command's option table, so every option that has a key can be set in the
 * file and a new table row is a new key. Keys go in the command's section
 * ([hub]) or before any section:
 *
 *   [hub]
 *   listen = 0.0.0.0:4000
 *   data_dir = /var/lib/ockam-hub
 *   retention_age = 7d
 *
 * Values are checked exactly as the flag's are. Lines starting with ';' or
 * '#' are comments.
 */
#ifndef OCKAM_CLI_CONFIG_H
#define OCKAM_CLI_CONFIG_H

#include <stddef.h>

#include "options.h"

/* Strings a configuration file set: the options struct points into them. */
typedef struct ockam_cli_strings {
  char **v;
  size_t n, cap;
} ockam_cli_strings;

void ockam_cli_strings_free(ockam_cli_strings *s);

/* Apply the file at path over what dst holds. section is the command's
 * section name ("hub"). Returns 0, or -1 with err (cap bytes) set to
 * "PATH:LINE: why" or "PATH: why" (the file cannot be read: errno text);
 * the first offending line is reported. Strings stored in dst are owned by
 * *strings (free them after dst is no longer used). */
int ockam_cli_config_load(const ockam_cli_spec *spec, void *dst, const char *path,
                          const char *section, ockam_cli_strings *strings, char *err, size_t cap);

#endif
