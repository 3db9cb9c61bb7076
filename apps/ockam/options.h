/* Option tables of the ockam CLI.
 *
 * A command describes its options once, in a table of ockam_cli_option: the
 * long flag, the key the option has in a configuration file, its type, its
 * default, one help line, and where its value lives in the command's options
 * struct (offset and size). The same table drives the command-line parser,
 * the --help text and setting options by key (a configuration file), so a new
 * option is one table entry.
 *
 * Numbers are parsed strictly: decimal digits only (no sign, no spaces, no
 * 0x), overflow and the entry's range checked. Durations take a unit suffix
 * (ms, s, m, h, d; none = the field's own unit), sizes an IEC suffix (KiB,
 * MiB, GiB; none = bytes). A value that is not a whole number of the field's
 * unit is refused.
 *
 * Strings are stored as pointers into the argument (argv or the caller's
 * configuration text): the caller keeps them alive as long as the struct.
 */
#ifndef OCKAM_CLI_OPTIONS_H
#define OCKAM_CLI_OPTIONS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

typedef enum ockam_cli_type {
  OCKAM_CLI_STRING,   /* const char * */
  OCKAM_CLI_UINT,     /* unsigned integer field of 1, 2, 4 or 8 bytes (or a non-negative int) */
  OCKAM_CLI_BOOL,     /* bool; a flag without argument sets it to true */
  OCKAM_CLI_DURATION, /* unsigned integer field counting `unit_ms` milliseconds */
  OCKAM_CLI_SIZE,     /* unsigned integer field counting bytes */
} ockam_cli_type;

typedef struct ockam_cli_option {
  const char *flag; /* long flag without the leading "--" */
  const char *key;  /* configuration key; NULL = command line only */
  ockam_cli_type type;
  size_t offset;       /* of the field in the options struct */
  size_t size;         /* of the field */
  const char *arg;     /* placeholder in --help ("HOST:PORT"); NULL for bools */
  const char *help;    /* one line */
  const char *def_str; /* STRING default (may be NULL) */
  uint64_t def_num;    /* UINT/DURATION/SIZE default in the field's unit; BOOL 0/1 */
  uint64_t min, max;   /* UINT/DURATION/SIZE range in the field's unit; max 0 = field max */
  uint32_t unit_ms;    /* DURATION: milliseconds per field unit (1 or 1000) */
  const char *choices; /* STRING: allowed values separated by '|'; NULL = any */
  int (*check)(const char *value); /* STRING: extra validation, 0 = accepted */
} ockam_cli_option;

/* Table entries. FIELD is a member designator of TYPE (e.g. hub.listen). */
#define OCKAM_CLI_FIELD(TYPE, FIELD) offsetof(TYPE, FIELD), sizeof(((TYPE *)0)->FIELD)
#define OCKAM_CLI_STR(TYPE, FIELD, FLAG, KEY, ARG, DEF, CHOICES, CHECK, HELP)              \
  {                                                                                        \
    FLAG, KEY, OCKAM_CLI_STRING, OCKAM_CLI_FIELD(TYPE, FIELD), ARG, HELP, DEF, 0, 0, 0, 0, \
        CHOICES, CHECK                                                                     \
  }
#define OCKAM_CLI_UINT_OPT(TYPE, FIELD, FLAG, KEY, ARG, DEF, MIN, MAX, HELP)                    \
  {                                                                                             \
    FLAG, KEY, OCKAM_CLI_UINT, OCKAM_CLI_FIELD(TYPE, FIELD), ARG, HELP, NULL, DEF, MIN, MAX, 0, \
        NULL, NULL                                                                              \
  }
#define OCKAM_CLI_SIZE_OPT(TYPE, FIELD, FLAG, KEY, DEF, MIN, MAX, HELP)                          \
  {                                                                                              \
    FLAG, KEY, OCKAM_CLI_SIZE, OCKAM_CLI_FIELD(TYPE, FIELD), "BYTES", HELP, NULL, DEF, MIN, MAX, \
        0, NULL, NULL                                                                            \
  }
#define OCKAM_CLI_DURATION_OPT(TYPE, FIELD, FLAG, KEY, UNIT_MS, DEF, MIN, MAX, HELP)               \
  {                                                                                                \
    FLAG, KEY, OCKAM_CLI_DURATION, OCKAM_CLI_FIELD(TYPE, FIELD), "DURATION", HELP, NULL, DEF, MIN, \
        MAX, UNIT_MS, NULL, NULL                                                                   \
  }
#define OCKAM_CLI_BOOL_OPT(TYPE, FIELD, FLAG, KEY, HELP)                                         \
  {                                                                                              \
    FLAG, KEY, OCKAM_CLI_BOOL, OCKAM_CLI_FIELD(TYPE, FIELD), NULL, HELP, NULL, 0, 0, 1, 0, NULL, \
        NULL                                                                                     \
  }

typedef struct ockam_cli_spec {
  const char *command;  /* "hub": prefixes error messages ("ockam hub: ...") */
  const char *usage;    /* first line of --help, after "usage: " */
  const char *operands; /* help lines for positional operands; NULL = none accepted */
  const ockam_cli_option *options;
  size_t count;
} ockam_cli_spec;

/* Set every field of the table to its default. */
void ockam_cli_defaults(const ockam_cli_spec *spec, void *dst);

/* Parse `value` (NULL for a bool flag given without value: true) into the
 * option's field. Returns 0, or -1 when the value is refused (nothing
 * stored). */
int ockam_cli_set(const ockam_cli_option *opt, void *dst, const char *value);

/* Find an option by configuration key or by long flag; NULL if none. */
const ockam_cli_option *ockam_cli_find_key(const ockam_cli_spec *spec, const char *key);
const ockam_cli_option *ockam_cli_find_flag(const ockam_cli_spec *spec, const char *flag);

/* Set defaults, then parse argv[1..argc-1]: "--flag value", "--flag=value",
 * "--bool-flag", "-h"/"--help", "--" (operands follow). Operands are moved, in
 * order, to argv[1..*operands] when `operands` is not NULL; otherwise an
 * operand is an error. Returns 0, 1 (help printed to stdout) or -1 (error
 * printed to stderr). */
int ockam_cli_parse(const ockam_cli_spec *spec, void *dst, int argc, char **argv, int *operands);

/* The same without setting defaults first: flags applied over what dst holds
 * (a configuration file's values). */
int ockam_cli_parse_args(const ockam_cli_spec *spec, void *dst, int argc, char **argv,
                         int *operands);

/* What the option accepts, for error messages ("a whole number from 1 to 5"). */
void ockam_cli_expected(const ockam_cli_option *opt, char *buf, size_t cap);

/* Print the usage line and one line per option with its default. */
void ockam_cli_help(const ockam_cli_spec *spec, FILE *f);

/* Strict decimal parsing: digits only, no sign or spaces, overflow checked. */
int ockam_cli_parse_u64(const char *s, uint64_t *out);

#endif
