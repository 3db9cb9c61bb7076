/* JSON output of the CLI's --json modes: one object per line. */
#ifndef OCKAM_CLI_JSON_OUT_H
#define OCKAM_CLI_JSON_OUT_H

#include <stddef.h>
#include <stdio.h>

/* Write s (len bytes, UTF-8, may hold NUL) as a JSON string with its quotes:
 * '"', '\\' and control characters are escaped. */
void ockam_cli_json_string(FILE *f, const char *s, size_t len);

#endif
