/* Shared declarations of the ockam CLI's subcommands. */
#ifndef OCKAM_CLI_H
#define OCKAM_CLI_H

#include "config.h"
#include "ockam/hub.h"
#include "options.h"

#define OCKAM_COMMAND(name, help) int ockam_cmd_##name(int argc, char **argv);
#include "commands.h"
#undef OCKAM_COMMAND

/* `ockam hub status` (cmd_stream_info.c, with `ockam stream ls|info`; argv[0]
 * is "status"). */
int ockam_cmd_hub_status(int argc, char **argv);

/* Everything `ockam hub` takes: the hub's own options and the CLI's. */
typedef struct ockam_hub_cli {
  ockam_hub_options hub;
  const char *ready_file;    /* write the bound address here once listening */
  const char *log;           /* log level name; NULL = $OCKAM_LOG or info */
  const char *config;        /* configuration file read before the flags */
  bool check;                /* only check the options */
  const char *log_format;    /* "text" or "json" */
  ockam_cli_strings strings; /* values read from the configuration file */
  bool print_identifier;     /* print the hub's identifier and exit */
} ockam_hub_cli;

/* The option table of `ockam hub` (also read by a configuration file). */
extern const ockam_cli_spec ockam_hub_cli_spec;

/* Parse `ockam hub` arguments (argv[0] = "hub") into *out: defaults, then
 * the --config file, then the flags; then check the options against each
 * other. Returns 0, 1 (help printed) or -1 (error printed; nothing to free).
 * After 0, ockam_cli_hub_free() releases the strings read from the file. */
int ockam_cli_parse_hub(int argc, char **argv, ockam_hub_cli *out);
void ockam_cli_hub_free(ockam_hub_cli *o);

#endif
