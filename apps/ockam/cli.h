/* Shared declarations of the ockam CLI's subcommands. */
#ifndef OCKAM_CLI_H
#define OCKAM_CLI_H

#include "ockam/hub.h"
#include "options.h"

#define OCKAM_COMMAND(name, help) int ockam_cmd_##name(int argc, char **argv);
#include "commands.h"
#undef OCKAM_COMMAND

/* Everything `ockam hub` takes: the hub's own options and the CLI's. */
typedef struct ockam_hub_cli {
  ockam_hub_options hub;
  const char *ready_file; /* write the bound address here once listening */
  const char *log;        /* log level name; NULL = $OCKAM_LOG or info */
} ockam_hub_cli;

/* The option table of `ockam hub` (also read by a configuration file). */
extern const ockam_cli_spec ockam_hub_cli_spec;

/* Parse `ockam hub` arguments (argv[0] = "hub") into *out, then check the
 * options against each other. Returns 0, 1 (help printed) or -1 (error
 * printed). */
int ockam_cli_parse_hub(int argc, char **argv, ockam_hub_cli *out);

#endif
