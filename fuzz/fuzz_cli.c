/* The hub's command-line parser, ockam_cli_parse_hub() in apps/ockam/cmd_hub.c
 * (the option table of apps/ockam/options.c), and the log level names it
 * accepts.
 *
 * The input is split on NUL bytes into argv[1..] (argv[0] is "hub"); each
 * argument is its own allocation, so a parser that keeps a pointer into an
 * argument past the call, or reads past its end, is caught. The options are
 * checked against what the usage text promises: numbers in range, a known
 * store, and, when parsing succeeded, every pointer inside argv.
 */
#include "cli.h"
#include "fuzz.h"
#include "ockam/limits.h"

#define MAX_ARGS 32

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  fuzz_quiet();
  return 0;
}

static bool points_into(const char *p, char **argv, int argc) {
  for (int i = 0; i < argc; i++)
    if (p >= argv[i] && p <= argv[i] + strlen(argv[i])) return true;
  return false;
}

/* Split the input into a fresh argv (each argument its own allocation). */
static int make_argv(const uint8_t *data, size_t size, char **argv) {
  int argc = 0;
  argv[argc++] = strdup("hub");
  size_t start = 0;
  for (size_t i = 0; i <= size && argc <= MAX_ARGS; i++) {
    if (i == size || data[i] == 0) {
      if (i == size && i == start && argc > 1) break;
      argv[argc] = malloc(i - start + 1);
      memcpy(argv[argc], data + start, i - start);
      argv[argc][i - start] = 0;
      argc++;
      start = i + 1;
    }
  }
  argv[argc] = NULL;
  return argc;
}

typedef struct parsed {
  int rc;
  ockam_hub_cli o;
  /* listen, store, data_dir, nats_url, ready-file, log, config, log-format,
   * identity, acl, anonymous, http */
  char strs[12][64];
} parsed;

/* A string option points into an argument or is the table's default. */
static bool valid_string(const char *p, const char *flag, char **argv, int argc) {
  if (!p) return true;
  const ockam_cli_option *opt = ockam_cli_find_flag(&ockam_hub_cli_spec, flag);
  return points_into(p, argv, argc) || (opt && p == opt->def_str);
}

static void keep(char out[64], const char *s) {
  snprintf(out, 64, "%s", s ? s : "(null)");
}

static void parse(const uint8_t *data, size_t size, parsed *out) {
  char *argv[MAX_ARGS + 2], *copy[MAX_ARGS + 2];
  int argc = make_argv(data, size, argv);
  memcpy(copy, argv, sizeof copy); /* getopt_long may permute argv */
  out->rc = ockam_cli_parse_hub(argc, argv, &out->o);
  FUZZ_CHECK(out->rc == 0 || out->rc == 1 || out->rc == -1);
  ockam_hub_options *o = &out->o.hub;
  if (out->rc == 0) {
    /* Strings read from a --config file (one the input happened to name)
     * point into out->o.strings instead of argv. */
    bool from_file = out->o.strings.n > 0;
    FUZZ_CHECK(o->store && (!strcmp(o->store, "memory") || !strcmp(o->store, "lmdb") ||
                            !strcmp(o->store, "jetstream")));
    FUZZ_CHECK(o->replicas >= 1 && o->replicas <= 5);
    FUZZ_CHECK(o->max_message >= 1 && o->max_message <= OCKAM_STREAM_STORED_MAX);
    FUZZ_CHECK(o->listen_backlog >= 1 && o->listen_backlog <= INT32_MAX);
    FUZZ_CHECK(o->max_streams && o->max_connections && o->max_forwarders && o->max_pending_pushes &&
               o->max_pending_bytes && o->long_poll_max_ms);
    FUZZ_CHECK(from_file || valid_string(o->listen, "listen", argv, argc));
    FUZZ_CHECK(from_file || valid_string(o->store, "store", argv, argc));
    FUZZ_CHECK(from_file || valid_string(o->data_dir, "data", argv, argc));
    FUZZ_CHECK(from_file || valid_string(o->nats_url, "nats", argv, argc));
    FUZZ_CHECK(from_file || valid_string(out->o.ready_file, "ready-file", argv, argc));
    FUZZ_CHECK(from_file || valid_string(out->o.log, "log", argv, argc));
  }
  keep(out->strs[0], o->listen);
  keep(out->strs[1], o->store);
  keep(out->strs[2], o->data_dir);
  keep(out->strs[3], o->nats_url);
  keep(out->strs[4], out->o.ready_file);
  keep(out->strs[5], out->o.log);
  keep(out->strs[6], out->o.config);
  keep(out->strs[7], out->o.log_format);
  keep(out->strs[8], o->identity);
  keep(out->strs[9], o->acl);
  keep(out->strs[10], o->anonymous);
  keep(out->strs[11], o->http_listen);
  /* Pointers die with argv; only the copies above are compared. */
  o->listen = o->store = o->data_dir = o->nats_url = NULL;
  out->o.ready_file = out->o.log = out->o.config = out->o.log_format = NULL;
  o->identity = o->acl = o->anonymous = o->http_listen = NULL;
  if (out->rc == 0) ockam_cli_hub_free(&out->o);
  for (int i = 0; i < argc; i++) free(copy[i]);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  /* Parsing is a pure function of argv: a second parse of the same
   * arguments (after the first left whatever state it leaves) agrees. */
  static parsed a, b;
  memset(&a, 0, sizeof a);
  memset(&b, 0, sizeof b);
  parse(data, size, &a);
  parse(data, size, &b);
  FUZZ_CHECK(a.rc == b.rc);
  FUZZ_CHECK(memcmp(a.strs, b.strs, sizeof a.strs) == 0);
  if (a.rc == 0) FUZZ_CHECK(memcmp(&a.o, &b.o, sizeof a.o) == 0);

  /* Log level names (the --log option and $OCKAM_LOG). */
  char level[16];
  size_t n = size < sizeof level - 1 ? size : sizeof level - 1;
  memcpy(level, data, n);
  level[n] = 0;
  ockam_log_level lvl;
  if (ockam_log_level_parse(level, &lvl) == 0) FUZZ_CHECK(lvl <= OCKAM_LOG_OFF);
  return 0;
}
