/* ockam stream SUBCOMMAND: the dispatch (stream_commands.h lists the
 * subcommands), what they share (stream_cli.h), and the subcommands that
 * speak the stream protocol directly: create, tail and delete. push and sub
 * use the stream client (cmd_stream_client.c).
 *
 * The requests and replies are a few BARE fields (spec §7.1, §7.2, and
 * docs/protocol-extensions.md for stream_delete and the long-poll pull),
 * encoded here by hand so that the CLI needs only the public API. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "json_out.h"
#include "ockam/error.h"
#include "ockam/limits.h"
#include "ockam/log.h"
#include "stream_cli.h"

#define CREATE_PROTOCOL "stream_create"
#define PULL_PROTOCOL "stream_pull"
#define DELETE_PROTOCOL "stream_delete"
#define ERROR_PROTOCOL "error"

/* ---- dispatch ---------------------------------------------------------------- */

static const struct {
  const char *name;
  int (*fn)(int argc, char **argv);
  const char *help;
} stream_subcommands[] = {
#define OCKAM_STREAM_COMMAND(name, help) {#name, ockam_stream_cmd_##name, help},
#include "stream_commands.h"
#undef OCKAM_STREAM_COMMAND
};

static void stream_usage(FILE *f) {
  fprintf(f,
          "usage: ockam stream SUBCOMMAND [options] NAME ...   (ockam stream SUBCOMMAND --help)\n"
          "subcommands:\n");
  for (size_t i = 0; i < sizeof stream_subcommands / sizeof stream_subcommands[0]; i++)
    fprintf(f, "  %-8s %s\n", stream_subcommands[i].name, stream_subcommands[i].help);
  fputs(OCKAM_STREAM_EXIT_HELP, f);
}

int ockam_cmd_stream(int argc, char **argv) {
  if (argc < 2) {
    stream_usage(stderr);
    return STREAM_EXIT_USAGE;
  }
  const char *sub = argv[1];
  if (!strcmp(sub, "-h") || !strcmp(sub, "--help")) {
    stream_usage(stdout);
    return STREAM_EXIT_OK;
  }
  for (size_t i = 0; i < sizeof stream_subcommands / sizeof stream_subcommands[0]; i++)
    if (!strcmp(sub, stream_subcommands[i].name))
      return stream_subcommands[i].fn(argc - 1, argv + 1);
  fprintf(stderr, "ockam stream: unknown subcommand '%s'\n", sub);
  stream_usage(stderr);
  return STREAM_EXIT_USAGE;
}

/* ---- shared ------------------------------------------------------------------ */

int ockam_stream_cli_parse(const ockam_cli_spec *spec, ockam_stream_cli *o, int argc, char **argv,
                           int min_ops, int max_ops, int *nops) {
  memset(o, 0, sizeof *o);
  int prc = ockam_cli_parse(spec, o, argc, argv, nops);
  if (prc) return prc > 0 ? STREAM_EXIT_OK : STREAM_EXIT_USAGE;
  if (*nops < min_ops || *nops > max_ops) {
    ockam_cli_help(spec, stderr);
    return STREAM_EXIT_USAGE;
  }
  return -1;
}

bool ockam_stream_cli_name_ok(const char *cmd, const char *name) {
  size_t n = strlen(name);
  if (n >= 1 && n <= OCKAM_NAME_MAX) return true;
  fprintf(stderr, "ockam %s: a stream name has 1 to %u bytes\n", cmd, OCKAM_NAME_MAX);
  return false;
}

size_t ockam_stream_cli_put_uint(uint8_t *p, uint64_t v) {
  size_t n = 0;
  while (v >= 0x80) {
    p[n++] = (uint8_t)(v | 0x80);
    v >>= 7;
  }
  p[n++] = (uint8_t)v;
  return n;
}

bool ockam_stream_cli_get_uint(const uint8_t *p, size_t len, size_t *pos, uint64_t *out) {
  uint64_t v = 0;
  for (unsigned shift = 0; shift < 64; shift += 7) {
    if (*pos >= len) return false;
    uint8_t b = p[(*pos)++];
    v |= (uint64_t)(b & 0x7f) << shift;
    if (!(b & 0x80)) {
      *out = v;
      return true;
    }
  }
  return false;
}

bool ockam_stream_cli_get_field(const uint8_t *p, size_t len, size_t *pos, const uint8_t **f,
                                size_t *flen) {
  uint64_t n;
  if (!ockam_stream_cli_get_uint(p, len, pos, &n) || n > len - *pos) return false;
  *f = p + *pos;
  *flen = (size_t)n;
  *pos += (size_t)n;
  return true;
}

bool ockam_stream_cli_field_is(const uint8_t *f, size_t flen, const char *s) {
  return flen == strlen(s) && memcmp(f, s, flen) == 0;
}

static int session_open(ockam_stream_session *s, const char *cmd, const ockam_stream_cli *o,
                        bool client_channel) {
  memset(s, 0, sizeof *s);
  s->cmd = cmd;
  /* The output is data: the library's progress lines only with OCKAM_LOG. */
  if (!getenv("OCKAM_LOG")) ockam_log_set_level(OCKAM_LOG_WARN);
  char hop[300];
  if (snprintf(hop, sizeof hop, "1#%s", o->hub) >= (int)sizeof hop) {
    fprintf(stderr, "ockam %s: --hub too long\n", cmd);
    return STREAM_EXIT_USAGE;
  }
  int rc = ockam_route_parse(hop, &s->to_hub);
  if (rc) {
    fprintf(stderr, "ockam %s: bad --hub '%s': %s\n", cmd, o->hub, ockam_strerror(rc));
    return STREAM_EXIT_USAGE;
  }
  if (!(rc = ockam_node_create(&s->node)) && !(rc = ockam_node_stop_on_signals(s->node)) &&
      !(rc = ockam_tcp_create(s->node, NULL, &s->tcp)) &&
      !(rc = ockam_mailbox_create(s->node, NULL, &s->app)))
    rc = ockam_tcp_connect(s->tcp, o->hub, o->timeout_ms);
  if (!rc && (client_channel ? ockam_cli_hub_identity(cmd, o->hub_identity, o->identity, &s->access)
                             : ockam_cli_hub_channel(cmd, s->node, &s->to_hub, o->hub_identity,
                                                     o->identity, o->timeout_ms, &s->access))) {
    ockam_stream_session_close(s); /* the error is printed */
    return STREAM_EXIT_FAIL;
  }
  if (rc) {
    fprintf(stderr, "ockam %s: %s: %s\n", cmd, o->hub, ockam_strerror(rc));
    ockam_stream_session_close(s);
    return rc == OCKAM_EADDR ? STREAM_EXIT_USAGE : STREAM_EXIT_FAIL;
  }
  return STREAM_EXIT_OK;
}

int ockam_stream_session_open(ockam_stream_session *s, const char *cmd, const ockam_stream_cli *o) {
  return session_open(s, cmd, o, false);
}

int ockam_stream_session_open_client(ockam_stream_session *s, const char *cmd,
                                     const ockam_stream_cli *o) {
  return session_open(s, cmd, o, true);
}

void ockam_stream_session_close(ockam_stream_session *s) {
  ockam_mailbox_destroy(s->app);
  ockam_tcp_close(s->tcp);
  ockam_node_destroy(s->node);
  ockam_cli_hub_channel_free(&s->access);
  ockam_route_free(s->to_hub);
  memset(s, 0, sizeof *s);
}

int ockam_stream_session_request(ockam_stream_session *s, const char *service,
                                 const ockam_route *to, const char *protocol, const uint8_t *body,
                                 size_t body_len) {
  size_t plen = strlen(protocol);
  if (body_len > OCKAM_PAYLOAD_MAX - 2 * OCKAM_VARINT_MAX_BYTES - plen) return OCKAM_EOVERFLOW;
  uint8_t *req = malloc(2 * OCKAM_VARINT_MAX_BYTES + plen + body_len);
  if (!req) return OCKAM_ENOMEM;
  size_t n = ockam_stream_cli_put_uint(req, plen);
  memcpy(req + n, protocol, plen);
  n += plen;
  n += ockam_stream_cli_put_uint(req + n, body_len);
  memcpy(req + n, body, body_len);
  n += body_len;
  ockam_route *r = NULL;
  int rc = OCKAM_OK;
  if (!to) {
    if (!(rc = ockam_route_copy(s->to_hub, &r))) rc = ockam_route_append_str(r, service);
    to = r;
  }
  if (!rc) rc = ockam_send(s->node, ockam_mailbox_address(s->app), to, req, n);
  ockam_route_free(r);
  free(req);
  return rc;
}

int ockam_stream_session_reply(ockam_stream_session *s, uint32_t timeout_ms, ockam_message **reply,
                               const uint8_t **proto, size_t *proto_len, const uint8_t **body,
                               size_t *body_len) {
  int rc = ockam_mailbox_receive(s->app, timeout_ms, reply);
  if (rc) return rc;
  size_t plen, pos = 0;
  const uint8_t *p = ockam_message_payload(*reply, &plen);
  if (!ockam_stream_cli_get_field(p, plen, &pos, proto, proto_len) ||
      !ockam_stream_cli_get_field(p, plen, &pos, body, body_len)) {
    ockam_message_free(*reply);
    *reply = NULL;
    return OCKAM_EMALFORMED;
  }
  return OCKAM_OK;
}

void ockam_stream_cli_print_refusal(const char *cmd, const uint8_t *proto, size_t proto_len,
                                    const uint8_t *body, size_t body_len) {
  size_t pos = 0, flen;
  const uint8_t *f;
  if (ockam_stream_cli_field_is(proto, proto_len, ERROR_PROTOCOL) &&
      ockam_stream_cli_get_field(body, body_len, &pos, &f, &flen))
    /* "Invalid request" comes from a hub without the request (a 2021 hub). */
    fprintf(stderr, "ockam %s: the hub refused: %.*s\n", cmd, (int)(flen > 200 ? 200 : flen),
            (const char *)f);
  else
    fprintf(stderr, "ockam %s: unexpected reply '%.*s'\n", cmd,
            (int)(proto_len > 64 ? 64 : proto_len), (const char *)proto);
}

void ockam_stream_cli_print_message(const ockam_stream_cli *o, const uint64_t *index,
                                    const ockam_message *m) {
  const char *s;
  size_t len;
  bool text = ockam_message_get_string(m, &s, &len) == OCKAM_OK;
  if (!text) (void)ockam_message_payload(m, &len);
  if (o->json) {
    fputc('{', stdout);
    if (index) printf("\"index\":%llu,", (unsigned long long)*index);
    if (text) {
      fputs("\"message\":", stdout);
      ockam_cli_json_string(stdout, s, len);
    } else {
      printf("\"bytes\":%zu", len);
    }
    fputs("}\n", stdout);
  } else if (text) {
    printf("%.*s\n", (int)len, s);
  } else {
    printf("(%zu bytes, not a string)\n", len);
  }
  fflush(stdout);
}

/* ---- create ------------------------------------------------------------------- */

/* stream_create{Some(name)} to the stream service; the Init's return route is
 * the stream worker (spec §7.3). Returns the exit status; on success *worker
 * (if not NULL) is that route, owned by the caller. */
static int stream_open(ockam_stream_session *s, const ockam_stream_cli *o, const char *name,
                       ockam_route **worker) {
  size_t name_len = strlen(name);
  uint8_t body[1 + OCKAM_VARINT_MAX_BYTES + OCKAM_NAME_MAX];
  size_t n = 0;
  body[n++] = 1; /* optional<string>: Some */
  n += ockam_stream_cli_put_uint(body + n, name_len);
  memcpy(body + n, name, name_len);
  n += name_len;
  int rc = ockam_stream_session_request(s, "stream", NULL, CREATE_PROTOCOL, body, n);
  ockam_message *reply = NULL;
  const uint8_t *proto, *data, *f;
  size_t proto_len, data_len, flen, pos = 0;
  if (!rc)
    rc = ockam_stream_session_reply(s, o->timeout_ms, &reply, &proto, &proto_len, &data, &data_len);
  if (rc) {
    fprintf(stderr, "ockam %s: %s\n", s->cmd, ockam_strerror(rc));
    return STREAM_EXIT_FAIL;
  }
  int status = STREAM_EXIT_FAIL;
  if (!ockam_stream_cli_field_is(proto, proto_len, CREATE_PROTOCOL)) {
    ockam_stream_cli_print_refusal(s->cmd, proto, proto_len, data, data_len);
  } else if (!ockam_stream_cli_get_field(data, data_len, &pos, &f, &flen) || flen != name_len ||
             memcmp(f, name, flen) != 0 || ockam_route_len(ockam_message_return(reply)) == 0) {
    fprintf(stderr, "ockam %s: unexpected Init from the hub\n", s->cmd);
  } else if (worker && (rc = ockam_route_copy(ockam_message_return(reply), worker))) {
    fprintf(stderr, "ockam %s: %s\n", s->cmd, ockam_strerror(rc));
  } else {
    status = STREAM_EXIT_OK;
  }
  ockam_message_free(reply);
  return status;
}

static const ockam_cli_option create_options[] = {
    OCKAM_STREAM_CLI_HUB_OPTIONS,
    OCKAM_STREAM_CLI_JSON_OPTION,
};

static const ockam_cli_spec create_spec = {
    .command = "stream create",
    .usage = "ockam stream create [options] NAME",
    .operands =
        "  NAME   the stream to create; creating an existing stream keeps it as it is\n"
        "output: created stream 'NAME', or with --json {\"stream\": NAME}\n" OCKAM_STREAM_EXIT_HELP,
    .options = create_options,
    .count = sizeof create_options / sizeof create_options[0],
};

int ockam_stream_cmd_create(int argc, char **argv) {
  ockam_stream_cli o;
  int nops, st = ockam_stream_cli_parse(&create_spec, &o, argc, argv, 1, 1, &nops);
  if (st >= 0) return st;
  const char *name = argv[1];
  if (!ockam_stream_cli_name_ok("stream create", name)) return STREAM_EXIT_USAGE;
  ockam_stream_session s;
  if ((st = ockam_stream_session_open(&s, "stream create", &o))) return st;
  st = stream_open(&s, &o, name, NULL);
  ockam_stream_session_close(&s);
  if (st) return st;
  if (o.json) {
    fputs("{\"stream\":", stdout);
    ockam_cli_json_string(stdout, name, strlen(name));
    fputs("}\n", stdout);
  } else {
    printf("created stream '%s'\n", name);
  }
  return STREAM_EXIT_OK;
}

/* ---- tail --------------------------------------------------------------------- */

/* A pull asks for this many messages; a long-poll pull (--follow) waits this
 * long at the hub for the next one. */
#define TAIL_BATCH 256u
#define TAIL_WAIT_MS 5000u

static const ockam_cli_option tail_options[] = {
    OCKAM_STREAM_CLI_HUB_OPTIONS,
    OCKAM_STREAM_CLI_JSON_OPTION,
    OCKAM_CLI_UINT_OPT(ockam_stream_cli, from, "from", "from", "INDEX", 0, 0, 0,
                       "start at this stream index"),
    OCKAM_CLI_BOOL_OPT(ockam_stream_cli, follow, "follow", "follow",
                       "keep waiting for new messages (until SIGINT/SIGTERM), reconnecting "
                       "after a lost connection or hub"),
};

static const ockam_cli_spec tail_spec = {
    .command = "stream tail",
    .usage = "ockam stream tail [options] NAME",
    .operands =
        "  NAME   the stream to read (a stream that does not exist is created, empty);\n"
        "         reading saves no position (see ockam stream sub)\n"
        "output: one line per message, its text; with --json {\"index\": N, \"message\": TEXT}\n"
        "(or \"bytes\": LEN for a message that is not a string)\n" OCKAM_STREAM_EXIT_HELP,
    .options = tail_options,
    .count = sizeof tail_options / sizeof tail_options[0],
};

/* Print the messages of one PullResponse body; *next moves past the last.
 * Returns how many there were, or -1 when the body is malformed. */
static long print_pull_response(const ockam_stream_cli *o, const uint8_t *p, size_t len,
                                uint64_t want_id, uint64_t *next, bool *stale) {
  size_t pos = 0;
  uint64_t id, count;
  if (!ockam_stream_cli_get_uint(p, len, &pos, &id) ||
      !ockam_stream_cli_get_uint(p, len, &pos, &count) || count > OCKAM_PULL_LIMIT_MAX)
    return -1;
  *stale = id != want_id;
  if (*stale) return 0; /* the answer to an earlier pull: its messages come again */
  for (uint64_t i = 0; i < count; i++) {
    uint64_t index;
    const uint8_t *data;
    size_t dlen;
    if (!ockam_stream_cli_get_uint(p, len, &pos, &index) ||
        !ockam_stream_cli_get_field(p, len, &pos, &data, &dlen))
      return -1;
    if (index < *next) continue; /* already printed */
    ockam_message *m;
    if (ockam_message_decode(data, dlen, &m) == OCKAM_OK) {
      ockam_stream_cli_print_message(o, &index, m);
      ockam_message_free(m);
    } else if (o->json) {
      printf("{\"index\":%llu,\"bytes\":%zu}\n", (unsigned long long)index, dlen);
    } else {
      printf("(%zu bytes, not a message)\n", dlen);
    }
    *next = index + 1;
  }
  fflush(stdout);
  return (long)count;
}

/* Pulls from the stream worker until caught up (without --follow), a signal,
 * or a failure. TAIL_LOST: no answer, or the connection is gone (--follow then
 * starts over with a new session). */
#define TAIL_LOST (-2)
static int tail_pulls(ockam_stream_session *s, const ockam_stream_cli *o, const ockam_route *worker,
                      uint64_t *next) {
  uint64_t id = 0;
  for (;;) {
    /* PullRequest{id, index, limit} (+ wait_ms: the long-poll form). */
    uint8_t body[4 * OCKAM_VARINT_MAX_BYTES];
    size_t n = ockam_stream_cli_put_uint(body, ++id);
    n += ockam_stream_cli_put_uint(body + n, *next);
    n += ockam_stream_cli_put_uint(body + n, TAIL_BATCH);
    if (o->follow) n += ockam_stream_cli_put_uint(body + n, TAIL_WAIT_MS);
    int rc = ockam_stream_session_request(s, NULL, worker, PULL_PROTOCOL, body, n);
    ockam_message *reply = NULL;
    const uint8_t *proto, *data;
    size_t proto_len, data_len;
    bool stale = true;
    int st = STREAM_EXIT_OK;
    bool done = false;
    /* Skip answers to earlier pulls (after a timeout) until ours comes. */
    while (!rc && stale) {
      ockam_message_free(reply);
      reply = NULL;
      rc = ockam_stream_session_reply(s, o->timeout_ms + (o->follow ? TAIL_WAIT_MS : 0), &reply,
                                      &proto, &proto_len, &data, &data_len);
      if (rc) break;
      if (!ockam_stream_cli_field_is(proto, proto_len, PULL_PROTOCOL)) {
        ockam_stream_cli_print_refusal(s->cmd, proto, proto_len, data, data_len);
        st = STREAM_EXIT_FAIL;
        done = true;
        break;
      }
      long got = print_pull_response(o, data, data_len, id, next, &stale);
      if (got < 0) {
        fprintf(stderr, "ockam stream tail: undecodable pull reply\n");
        st = STREAM_EXIT_FAIL;
        done = true;
        break;
      }
      if (!stale && got == 0 && !o->follow) done = true; /* caught up */
    }
    ockam_message_free(reply);
    if (rc == OCKAM_ECLOSED) return STREAM_EXIT_OK; /* SIGINT or SIGTERM: done */
    if (rc) {
      fprintf(stderr, "ockam stream tail: %s\n", ockam_strerror(rc));
      return o->follow ? TAIL_LOST : STREAM_EXIT_FAIL;
    }
    if (done) return st;
  }
}

static volatile sig_atomic_t tail_stop;
static void tail_on_signal(int sig) {
  (void)sig;
  tail_stop = 1;
}

/* Waits ms between two sessions of --follow; false when SIGINT or SIGTERM
 * came (no node is there to catch them meanwhile). */
static bool tail_backoff(unsigned ms) {
  struct sigaction sa, old_int, old_term;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = tail_on_signal;
  sigemptyset(&sa.sa_mask);
  tail_stop = 0;
  sigaction(SIGINT, &sa, &old_int);
  sigaction(SIGTERM, &sa, &old_term);
  for (unsigned waited = 0; waited < ms && !tail_stop; waited += 50) {
    struct timespec ts = {0, 50 * 1000000L};
    nanosleep(&ts, NULL);
  }
  sigaction(SIGINT, &old_int, NULL);
  sigaction(SIGTERM, &old_term, NULL);
  return !tail_stop;
}

/* --follow: after a lost connection or hub, a new session every 0.5 s at first,
 * then at most every 5 s, reading on from the next index. */
#define TAIL_RETRY_MIN_MS 500u
#define TAIL_RETRY_MAX_MS 5000u

int ockam_stream_cmd_tail(int argc, char **argv) {
  ockam_stream_cli o;
  int nops, st = ockam_stream_cli_parse(&tail_spec, &o, argc, argv, 1, 1, &nops);
  if (st >= 0) return st;
  const char *name = argv[1];
  if (!ockam_stream_cli_name_ok("stream tail", name)) return STREAM_EXIT_USAGE;
  uint64_t next = o.from;
  unsigned retry_ms = TAIL_RETRY_MIN_MS;
  for (bool first = true;; first = false) {
    ockam_stream_session s;
    ockam_route *worker = NULL;
    st = ockam_stream_session_open(&s, "stream tail", &o);
    if (!st) {
      st = stream_open(&s, &o, name, &worker);
      if (!st) {
        if (!first)
          fprintf(stderr, "ockam stream tail: reading again from index %llu\n",
                  (unsigned long long)next);
        retry_ms = TAIL_RETRY_MIN_MS; /* the hub is back */
        st = tail_pulls(&s, &o, worker, &next);
      } else if (!first) {
        st = TAIL_LOST;
      }
      ockam_route_free(worker);
      ockam_stream_session_close(&s);
    } else if (!first && st == STREAM_EXIT_FAIL) {
      st = TAIL_LOST; /* the hub is not back yet */
    }
    /* Only --follow starts over, and only after it once read the stream:
     * a hub that is unreachable or refuses at the start is an error. */
    if (st != TAIL_LOST) return st;
    if (!tail_backoff(retry_ms)) return STREAM_EXIT_OK;
    retry_ms = retry_ms * 2 > TAIL_RETRY_MAX_MS ? TAIL_RETRY_MAX_MS : retry_ms * 2;
  }
}

/* ---- delete ------------------------------------------------------------------- */

static const ockam_cli_option delete_options[] = {
    OCKAM_STREAM_CLI_HUB_OPTIONS,
    OCKAM_STREAM_CLI_JSON_OPTION,
};

static const ockam_cli_spec delete_spec = {
    .command = "stream delete",
    .usage = "ockam stream delete [options] NAME",
    .operands =
        "  NAME   the stream to delete: its messages and consumer indexes go too\n"
        "output: deleted stream 'NAME', or with --json {\"deleted\": NAME}\n"
        "exit status: 0 deleted, 1 the hub refused (e.g. no such stream) or could\n"
        "not be reached in time, 2 bad usage\n",
    .options = delete_options,
    .count = sizeof delete_options / sizeof delete_options[0],
};

int ockam_stream_cmd_delete(int argc, char **argv) {
  ockam_stream_cli o;
  int nops, st = ockam_stream_cli_parse(&delete_spec, &o, argc, argv, 1, 1, &nops);
  if (st >= 0) return st;
  const char *name = argv[1];
  if (!ockam_stream_cli_name_ok("stream delete", name)) return STREAM_EXIT_USAGE;
  ockam_stream_session s;
  if ((st = ockam_stream_session_open(&s, "stream delete", &o))) return st;
  /* DeleteStreamRequest: string name. */
  size_t name_len = strlen(name);
  uint8_t body[OCKAM_VARINT_MAX_BYTES + OCKAM_NAME_MAX];
  size_t n = ockam_stream_cli_put_uint(body, name_len);
  memcpy(body + n, name, name_len);
  n += name_len;
  int rc = ockam_stream_session_request(&s, "stream", NULL, DELETE_PROTOCOL, body, n);
  ockam_message *reply = NULL;
  const uint8_t *proto, *data;
  size_t proto_len, data_len;
  if (!rc)
    rc = ockam_stream_session_reply(&s, o.timeout_ms, &reply, &proto, &proto_len, &data, &data_len);
  st = STREAM_EXIT_FAIL;
  if (rc) {
    fprintf(stderr, "ockam stream delete: %s\n", ockam_strerror(rc));
  } else if (!ockam_stream_cli_field_is(proto, proto_len, DELETE_PROTOCOL)) {
    ockam_stream_cli_print_refusal(s.cmd, proto, proto_len, data, data_len);
  } else {
    if (o.json) {
      fputs("{\"deleted\":", stdout);
      ockam_cli_json_string(stdout, name, name_len);
      fputs("}\n", stdout);
    } else {
      printf("deleted stream '%s'\n", name);
    }
    st = STREAM_EXIT_OK;
  }
  ockam_message_free(reply);
  ockam_stream_session_close(&s);
  return st;
}
