/* ockam stream push and ockam stream sub: the stream client
 * (include/ockam/stream.h) with one side each. push runs a producer only: it
 * waits until the hub confirmed every message stored. sub runs a consumer
 * only, under a client id whose read position the hub keeps, so the next
 * sub with the same id goes on after the last message it printed. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

#include "cli.h"
#include "json_out.h"
#include "ockam/error.h"
#include "ockam/limits.h"
#include "ockam/stream.h"
#include "stream_cli.h"

/* Ask the hub to confirm after this many messages, so that a long input never
 * fills the producer's outbox. */
#define PUSH_FLUSH_EVERY 1000u

/* Start a one-sided stream client: the producer of `out` or the consumer of
 * `in`. Returns the exit status. */
static int client_start(ockam_stream_session *s, const ockam_stream_cli *o, const char *out,
                        const char *in, const char *rx, ockam_stream **stream) {
  ockam_stream_options opts = {0};
  opts.client_id = o->client_id;
  opts.rx_address = rx;
  opts.max_in_flight = 1; /* stdin lines are stored in their order, even after a loss */
  if (in && !o->follow) opts.no_long_poll = true; /* each empty pull answered at once */
  if (s->access.identity) { /* --hub-identity: the client opens the hub channel */
    opts.identity = s->access.identity;
    opts.hub_identifier = s->access.hub_id;
    opts.hub_channel_timeout_ms = o->timeout_ms;
  }
  int rc = ockam_stream_connect(s->node, s->to_hub, out, in, &opts, stream);
  if (!rc) rc = ockam_stream_wait_ready(*stream, o->timeout_ms);
  if (rc && *stream && s->access.identity) {
    /* Say why when it is the channel that never came up. */
    ockam_stream_stats st;
    ockam_stream_get_stats(*stream, &st);
    if (!st.hub_channel_up && st.hub_channel_error) {
      fprintf(stderr, "ockam %s: identity channel to the hub: %s\n", s->cmd,
              ockam_strerror(st.hub_channel_error));
      return STREAM_EXIT_FAIL;
    }
  }
  if (rc) {
    fprintf(stderr, "ockam %s: %s\n", s->cmd,
            rc == OCKAM_ETIMEDOUT ? "the hub's stream service did not answer in time"
                                  : ockam_strerror(rc));
    return rc == OCKAM_EINVAL || rc == OCKAM_EOVERFLOW || rc == OCKAM_EUTF8 ? STREAM_EXIT_USAGE
                                                                            : STREAM_EXIT_FAIL;
  }
  return STREAM_EXIT_OK;
}

/* ---- push --------------------------------------------------------------------- */

static const ockam_cli_option push_options[] = {
    OCKAM_STREAM_CLI_HUB_OPTIONS,
    OCKAM_STREAM_CLI_JSON_OPTION,
};

static const ockam_cli_spec push_spec = {
    .command = "stream push",
    .usage = "ockam stream push [options] NAME [MESSAGE | -]",
    .operands =
        "  NAME     the stream (created if needed)\n"
        "  MESSAGE  the text to push; without it, or with -, each line of stdin is one message\n"
        "output: pushed N message(s) to 'NAME' once the hub confirmed them all stored;\n"
        "with --json {\"stream\": NAME, \"pushed\": N}\n" OCKAM_STREAM_EXIT_HELP,
    .options = push_options,
    .count = sizeof push_options / sizeof push_options[0],
};

/* Hand one message to the producer; every PUSH_FLUSH_EVERY, wait for the
 * hub's confirmations. */
static int push_one(ockam_stream_session *s, ockam_stream *stream, const ockam_route *tx,
                    const char *text, uint32_t timeout_ms, uint64_t *pushed) {
  int rc = ockam_send_string(s->node, ockam_mailbox_address(s->app), tx, text);
  if (!rc && ++*pushed % PUSH_FLUSH_EVERY == 0) rc = ockam_stream_flush(stream, timeout_ms);
  return rc;
}

int ockam_stream_cmd_push(int argc, char **argv) {
  ockam_stream_cli o;
  int nops, st = ockam_stream_cli_parse(&push_spec, &o, argc, argv, 1, 2, &nops);
  if (st >= 0) return st;
  const char *name = argv[1];
  const char *text = nops == 2 && strcmp(argv[2], "-") != 0 ? argv[2] : NULL;
  if (!ockam_stream_cli_name_ok("stream push", name)) return STREAM_EXIT_USAGE;
  ockam_stream_session s;
  if ((st = ockam_stream_session_open_client(&s, "stream push", &o))) return st;
  ockam_stream *stream = NULL;
  ockam_route *tx = NULL;
  uint64_t pushed = 0;
  int rc = OCKAM_OK;
  if ((st = client_start(&s, &o, name, NULL, NULL, &stream))) goto out;
  /* [tx]: stored with an empty onward route (a reader hands it to its rx). */
  if ((rc = ockam_route_parse(ockam_stream_tx_address(stream), &tx))) goto out;
  if (text) {
    rc = push_one(&s, stream, tx, text, o.timeout_ms, &pushed);
  } else {
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    while (!rc && (n = getline(&line, &cap, stdin)) >= 0) {
      if (n > 0 && line[n - 1] == '\n') line[--n] = '\0';
      if ((size_t)n != strlen(line)) {
        fprintf(stderr, "ockam stream push: line %llu holds a NUL byte\n",
                (unsigned long long)pushed + 1);
        rc = OCKAM_EINVAL;
        break;
      }
      rc = push_one(&s, stream, tx, line, o.timeout_ms, &pushed);
    }
    free(line);
  }
  if (!rc) rc = ockam_stream_flush(stream, o.timeout_ms);
  ockam_stream_stats stats;
  ockam_stream_get_stats(stream, &stats);
  if (!rc && stats.dropped) rc = OCKAM_EOVERFLOW; /* a message too large for a frame */
  if (rc) {
    fprintf(stderr, "ockam stream push: %llu of %llu message(s) confirmed: %s\n",
            (unsigned long long)stats.confirmed, (unsigned long long)pushed,
            rc == OCKAM_ETIMEDOUT ? "the hub did not confirm in time" : ockam_strerror(rc));
    st = STREAM_EXIT_FAIL;
    goto out;
  }
  if (o.json) {
    fputs("{\"stream\":", stdout);
    ockam_cli_json_string(stdout, name, strlen(name));
    printf(",\"pushed\":%llu}\n", (unsigned long long)pushed);
  } else {
    printf("pushed %llu message(s) to '%s'\n", (unsigned long long)pushed, name);
  }
out:
  ockam_route_free(tx);
  ockam_stream_close(stream);
  ockam_stream_session_close(&s);
  return st;
}

/* ---- sub ---------------------------------------------------------------------- */

static const ockam_cli_option sub_options[] = {
    OCKAM_STREAM_CLI_HUB_OPTIONS,
    OCKAM_STREAM_CLI_JSON_OPTION,
    OCKAM_CLI_STR(ockam_stream_cli, client_id, "client-id", "client_id", "ID", NULL, NULL, NULL,
                  "the name under which the hub keeps the read position (required)"),
    OCKAM_CLI_BOOL_OPT(ockam_stream_cli, follow, "follow", "follow",
                       "keep waiting for new messages (until SIGINT/SIGTERM)"),
};

static const ockam_cli_spec sub_spec = {
    .command = "stream sub",
    .usage = "ockam stream sub --client-id ID [options] NAME",
    .operands =
        "  NAME   the stream to consume, from the position saved for ID (the start the\n"
        "         first time); the position moves past every message printed, so the next\n"
        "         run goes on from there (a message may come twice after a crash)\n"
        "output: one line per message, its text; with --json {\"message\": TEXT}\n"
        "(or \"bytes\": LEN for a message that is not a string); without --follow it\n"
        "ends once it has read everything\n" OCKAM_STREAM_EXIT_HELP,
    .options = sub_options,
    .count = sizeof sub_options / sizeof sub_options[0],
};

int ockam_stream_cmd_sub(int argc, char **argv) {
  ockam_stream_cli o;
  int nops, st = ockam_stream_cli_parse(&sub_spec, &o, argc, argv, 1, 1, &nops);
  if (st >= 0) return st;
  const char *name = argv[1];
  if (!ockam_stream_cli_name_ok("stream sub", name)) return STREAM_EXIT_USAGE;
  if (!o.client_id || !*o.client_id) {
    fprintf(stderr, "ockam stream sub: --client-id is required\n");
    return STREAM_EXIT_USAGE;
  }
  ockam_stream_session s;
  if ((st = ockam_stream_session_open_client(&s, "stream sub", &o))) return st;
  ockam_stream *stream = NULL;
  if ((st = client_start(&s, &o, NULL, name, ockam_mailbox_address(s.app), &stream))) goto out;
  /* Caught up: a pull after the last delivery came back empty and the
   * consumer asked again (its position was saved before that pull). */
  ockam_stream_stats stats;
  ockam_stream_get_stats(stream, &stats);
  uint64_t delivered = stats.delivered, mark = stats.polls;
  for (;;) {
    ockam_message *m;
    int rc = ockam_mailbox_receive(s.app, 20, &m);
    if (rc == OCKAM_OK) {
      ockam_stream_cli_print_message(&o, NULL, m);
      ockam_message_free(m);
      continue;
    }
    if (rc == OCKAM_ECLOSED) break; /* SIGINT or SIGTERM */
    if (rc != OCKAM_ETIMEDOUT) {
      fprintf(stderr, "ockam stream sub: %s\n", ockam_strerror(rc));
      st = STREAM_EXIT_FAIL;
      break;
    }
    ockam_stream_get_stats(stream, &stats);
    if (stats.delivered != delivered) {
      delivered = stats.delivered;
      mark = stats.polls;
    } else if (!o.follow && stats.polls >= mark + 2) {
      break;
    }
  }
out:
  ockam_stream_close(stream);
  ockam_stream_session_close(&s);
  return st;
}
