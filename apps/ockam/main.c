/* ockam: command-line front end. Each subcommand lives in cmd_<name>.c and is
 * registered by one line in commands.h; this file only dispatches.
 *
 *   ockam hub [options]             run a hub
 *   ockam send [options] ROUTE TEXT send TEXT along ROUTE and print the reply
 *   ockam identity SUB [options]    create, show, rotate or export-contact an identity
 *   ockam version | --version       print the version
 */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "ockam/version.h"

static const struct {
  const char *name;
  int (*fn)(int argc, char **argv);
  const char *help;
} subcommands[] = {
#define OCKAM_COMMAND(name, help) {#name, ockam_cmd_##name, help},
#include "commands.h"
#undef OCKAM_COMMAND
};

int ockam_cmd_version(int argc, char **argv) {
  if (argc > 1) {
    fprintf(stderr, "usage: ockam version\n");
    return 2;
  }
  printf("ockam %s\n", OCKAM_VERSION_STRING);
  return 0;
}

static void usage(FILE *f) {
  fprintf(f,
          "usage: ockam COMMAND [options]   (ockam COMMAND --help for its options)\n\n"
          "commands:\n");
  for (size_t i = 0; i < sizeof subcommands / sizeof subcommands[0]; i++)
    fprintf(f, "  %-10s %s\n", subcommands[i].name, subcommands[i].help);
}

int main(int argc, char **argv) {
  if (argc < 2) {
    usage(stderr);
    return 2;
  }
  if (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) {
    usage(stdout);
    return 0;
  }
  if (!strcmp(argv[1], "-V") || !strcmp(argv[1], "--version"))
    return ockam_cmd_version(argc - 1, argv + 1);
  for (size_t i = 0; i < sizeof subcommands / sizeof subcommands[0]; i++)
    if (!strcmp(argv[1], subcommands[i].name)) return subcommands[i].fn(argc - 1, argv + 1);
  fprintf(stderr, "ockam: unknown command '%s'\n", argv[1]);
  usage(stderr);
  return 2;
}
