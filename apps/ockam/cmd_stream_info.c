/* ockam hub status, ockam stream ls, ockam stream info NAME: ask a hub's
 * `status` service (docs/protocol-extensions.md, "The status service") and
 * print its JSON answer as a table, or as JSON with --json. */
#include <inttypes.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "ockam/error.h"
#include "ockam/limits.h"
#include "ockam/message.h"
#include "ockam/node.h"
#include "ockam/route.h"
#include "ockam/tcp.h"
#include "stream_cli.h"

static const ockam_cli_option status_options[] = {
    OCKAM_STREAM_CLI_HUB_OPTIONS,
    OCKAM_CLI_BOOL_OPT(ockam_stream_cli, json, "json", "json", "print the answer as JSON"),
};

#define EXIT_TEXT                                                                  \
  "exit status: 0 done, 1 the hub could not be reached in time or refused (e.g.\n" \
  "no such stream), 2 bad usage\n"

static const ockam_cli_spec hub_status_spec = {
    .command = "hub status",
    .usage = "ockam hub status [options]",
    .operands =
        "  (none) uptime, connections, traffic, forwarders, streams, storage,\n"
        "  totals, rates and commit latency of the hub\n" EXIT_TEXT,
    .options = status_options,
    .count = sizeof status_options / sizeof status_options[0],
};

static const ockam_cli_spec ls_spec = {
    .command = "stream ls",
    .usage = "ockam stream ls [options]",
    .operands =
        "  (none) every stream of the hub: messages, bytes, first and last index,\n"
        "  consumers, largest consumer lag, push rate\n" EXIT_TEXT,
    .options = status_options,
    .count = sizeof status_options / sizeof status_options[0],
};

static const ockam_cli_spec info_spec = {
    .command = "stream info",
    .usage = "ockam stream info [options] NAME",
    .operands =
        "  NAME   the stream: messages, bytes, first and last index, counters,\n"
        "         rates, and each consumer (client id) with its index and lag\n" EXIT_TEXT,
    .options = status_options,
    .count = sizeof status_options / sizeof status_options[0],
};

/* ---- one connection to the hub (the stream commands' session), several requests ---- */

typedef struct session {
  ockam_stream_session ss;
  const ockam_stream_cli *o;
  ockam_route *route; /* the hub's status service */
} session;

static void session_close(session *s) {
  ockam_stream_session_close(&s->ss);
  ockam_route_free(s->route);
}

/* 0, or the exit status (1 unreachable, 2 bad --hub; printed). */
static int session_open(session *s, const char *cmd, const ockam_stream_cli *o) {
  memset(s, 0, sizeof *s);
  s->o = o;
  int st = ockam_stream_session_open(&s->ss, cmd, o);
  if (st) return st;
  int rc = ockam_route_copy(s->ss.to_hub, &s->route);
  if (!rc) rc = ockam_route_append_str(s->route, "status");
  if (rc) {
    fprintf(stderr, "ockam %s: %s\n", cmd, ockam_strerror(rc));
    session_close(s);
    return 1;
  }
  return 0;
}

/* Sends the request object (consumed) and returns the answer, or NULL
 * (printed). An {"error": ...} answer is printed and returned as NULL. */
static json_t *session_ask(session *s, json_t *req) {
  char *text = json_dumps(req, JSON_COMPACT);
  json_decref(req);
  if (!text) return NULL;
  int rc = ockam_send(s->ss.node, ockam_mailbox_address(s->ss.app), s->route, (const uint8_t *)text,
                      strlen(text));
  free(text);
  ockam_message *reply = NULL;
  if (!rc) rc = ockam_mailbox_receive(s->ss.app, s->o->timeout_ms, &reply);
  if (rc) {
    fprintf(stderr, "ockam %s: no answer from the hub's status service at %s: %s\n", s->ss.cmd,
            s->o->hub, ockam_strerror(rc));
    return NULL;
  }
  size_t len;
  const uint8_t *p = ockam_message_payload(reply, &len);
  json_error_t err;
  json_t *doc = json_loadb((const char *)p, len, 0, &err);
  ockam_message_free(reply);
  if (!doc || !json_is_object(doc)) {
    fprintf(stderr, "ockam %s: the hub's answer is not a JSON object (%zu bytes)\n", s->ss.cmd,
            len);
    json_decref(doc);
    return NULL;
  }
  const char *why = json_string_value(json_object_get(doc, "error"));
  if (why) {
    fprintf(stderr, "ockam %s: the hub refused: %s\n", s->ss.cmd, why);
    json_decref(doc);
    return NULL;
  }
  return doc;
}

/* ---- printing ---------------------------------------------------------------------- */

static uint64_t u(const json_t *o, const char *path) {
  /* path: "a" or "a.b" */
  const char *dot = strchr(path, '.');
  if (dot) {
    char head[64];
    size_t n = (size_t)(dot - path);
    if (n >= sizeof head) return 0;
    memcpy(head, path, n);
    head[n] = '\0';
    o = json_object_get(o, head);
    path = dot + 1;
  }
  json_t *v = json_object_get(o, path);
  return json_is_integer(v) && json_integer_value(v) > 0 ? (uint64_t)json_integer_value(v) : 0;
}

static double r(const json_t *o, const char *k) {
  return json_number_value(json_object_get(o, k));
}

static void print_json(const json_t *doc) {
  char *text = json_dumps(doc, JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(12));
  if (text) printf("%s\n", text);
  free(text);
}

static const char *human_bytes(uint64_t v, char *buf, size_t cap) {
  static const char *units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  double d = (double)v;
  size_t i = 0;
  while (d >= 1024 && i < 4) {
    d /= 1024;
    i++;
  }
  if (i == 0)
    snprintf(buf, cap, "%" PRIu64 " B", v);
  else
    snprintf(buf, cap, "%.1f %s", d, units[i]);
  return buf;
}

static void print_hub(const json_t *d) {
  char b1[32], b2[32], b3[32];
  uint64_t up = (uint64_t)r(d, "uptime_s");
  printf("hub          %s  (version %s, store %s, up %" PRIu64 "d %02" PRIu64 ":%02" PRIu64
         ":%02" PRIu64 ")\n",
         json_string_value(json_object_get(d, "listen")),
         json_string_value(json_object_get(d, "version")),
         json_string_value(json_object_get(d, "store")), up / 86400, up % 86400 / 3600,
         up % 3600 / 60, up % 60);
  printf("connections  %" PRIu64 " open, %" PRIu64 " accepted, %" PRIu64 " refused\n",
         u(d, "connections.open"), u(d, "connections.accepted"), u(d, "connections.rejected"));
  printf("traffic      in %" PRIu64 " frames (%s), out %" PRIu64 " frames (%s), %" PRIu64
         " dropped\n",
         u(d, "traffic.frames_in"), human_bytes(u(d, "traffic.bytes_in"), b1, sizeof b1),
         u(d, "traffic.frames_out"), human_bytes(u(d, "traffic.bytes_out"), b2, sizeof b2),
         u(d, "traffic.frames_dropped"));
  printf("forwarders   %" PRIu64 " live, %" PRIu64 " refused\n", u(d, "forwarders.live"),
         u(d, "forwarders.refused"));
  printf("streams      %" PRIu64 " (max %" PRIu64 "), %" PRIu64 " messages, %s stored, %" PRIu64
         " consumers\n",
         u(d, "streams.count"), u(d, "streams.max"), u(d, "streams.messages"),
         human_bytes(u(d, "streams.storage_bytes"), b3, sizeof b3), u(d, "streams.consumers"));
  const json_t *rt = json_object_get(d, "rates");
  printf("rates/s      pushes %.1f, confirms %.1f, pulls %.1f, pulled %.1f, in %s, out %s\n",
         r(rt, "pushes"), r(rt, "confirms"), r(rt, "pulls"), r(rt, "pulled"),
         human_bytes((uint64_t)r(rt, "bytes_in"), b1, sizeof b1),
         human_bytes((uint64_t)r(rt, "bytes_out"), b2, sizeof b2));
  printf("totals       %" PRIu64 " pushes (%" PRIu64 " refused, %" PRIu64 " failed), %" PRIu64
         " confirms, %" PRIu64 " pulls, %" PRIu64 " pulled, %" PRIu64 " index saves, %" PRIu64
         " denied\n",
         u(d, "totals.pushes"), u(d, "totals.pushes_refused"), u(d, "totals.push_errors"),
         u(d, "totals.confirms"), u(d, "totals.pulls"), u(d, "totals.pulled"),
         u(d, "totals.index_saves"), u(d, "totals.denied"));
  const json_t *cl = json_object_get(d, "commit_latency");
  printf("commits      %" PRIu64 ", latency p50 %.2f ms, p99 %.2f ms, mean %.2f ms\n",
         u(cl, "count"), r(cl, "p50_ms"), r(cl, "p99_ms"), r(cl, "mean_ms"));
}

static void print_stream_row(const json_t *st) {
  char b[32], last[24] = "-";
  const json_t *li = json_object_get(st, "last_index");
  if (json_is_integer(li))
    snprintf(last, sizeof last, "%" JSON_INTEGER_FORMAT, json_integer_value(li));
  printf("%-32s %10" PRIu64 " %12s %10" PRIu64 " %10s %9" PRIu64 " %9" PRIu64 " %9.1f\n",
         json_string_value(json_object_get(st, "name")), u(st, "messages"),
         human_bytes(u(st, "bytes"), b, sizeof b), u(st, "first_index"), last, u(st, "consumers"),
         u(st, "max_lag"), r(st, "push_rate"));
}

/* ---- commands ----------------------------------------------------------------------- */

static int hub_status(const ockam_stream_cli *o) {
  session s;
  int rc = session_open(&s, "hub status", o);
  if (rc) return rc;
  json_t *doc = session_ask(&s, json_pack("{s:s}", "get", "hub"));
  session_close(&s);
  if (!doc) return 1;
  if (o->json)
    print_json(doc);
  else
    print_hub(doc);
  json_decref(doc);
  return 0;
}

static int stream_ls(const ockam_stream_cli *o) {
  session s;
  int rc = session_open(&s, "stream ls", o);
  if (rc) return rc;
  json_t *all = json_array();
  char after[2 * OCKAM_NAME_MAX + 1] = "";
  int status = 0;
  /* Pages until the hub names no next one (a page holds at least one). */
  for (;;) {
    json_t *req = json_pack("{s:s}", "get", "streams");
    if (after[0]) json_object_set_new(req, "after_hex", json_string(after));
    json_t *doc = session_ask(&s, req);
    if (!doc) {
      status = 1;
      break;
    }
    json_array_extend(all, json_object_get(doc, "list"));
    const char *next = json_string_value(json_object_get(doc, "next_after_hex"));
    bool more = next && strlen(next) < sizeof after && strcmp(next, after) != 0;
    if (more) snprintf(after, sizeof after, "%s", next);
    json_decref(doc);
    if (!more) break;
  }
  session_close(&s);
  if (status == 0) {
    if (o->json) {
      json_t *out =
          json_pack("{s:O,s:I}", "streams", all, "total", (json_int_t)json_array_size(all));
      print_json(out);
      json_decref(out);
    } else {
      printf("%-32s %10s %12s %10s %10s %9s %9s %9s\n", "NAME", "MESSAGES", "BYTES", "FIRST",
             "LAST", "CONSUMERS", "MAX_LAG", "PUSH/S");
      size_t i;
      json_t *st;
      json_array_foreach(all, i, st) print_stream_row(st);
    }
  }
  json_decref(all);
  return status;
}

static int stream_info(const ockam_stream_cli *o, const char *name) {
  size_t n = strlen(name);
  if (n == 0 || n > OCKAM_NAME_MAX) {
    fprintf(stderr, "ockam stream info: a stream name has 1 to %u bytes\n", OCKAM_NAME_MAX);
    return 2;
  }
  session s;
  int rc = session_open(&s, "stream info", o);
  if (rc) return rc;
  json_t *doc = session_ask(&s, json_pack("{s:s,s:s}", "get", "stream", "name", name));
  session_close(&s);
  if (!doc) return 1;
  json_t *st = json_object_get(doc, "stream");
  if (!json_is_object(st)) {
    fprintf(stderr, "ockam stream info: the hub's answer has no stream\n");
    json_decref(doc);
    return 1;
  }
  if (o->json) {
    print_json(st);
  } else {
    char b[32];
    const json_t *li = json_object_get(st, "last_index");
    printf("stream       %s (%s)\n", json_string_value(json_object_get(st, "name")),
           json_string_value(json_object_get(st, "state")));
    printf("messages     %" PRIu64 " (%s)\n", u(st, "messages"),
           human_bytes(u(st, "bytes"), b, sizeof b));
    printf("first index  %" PRIu64 "\n", u(st, "first_index"));
    if (json_is_integer(li))
      printf("last index   %" JSON_INTEGER_FORMAT "\n", json_integer_value(li));
    else
      printf("last index   - (empty)\n");
    printf("pushes       %" PRIu64 " (%.1f/s), %" PRIu64 " confirmed\n", u(st, "pushes"),
           r(st, "push_rate"), u(st, "confirms"));
    printf("pulled       %" PRIu64 " messages (%.1f/s) in %" PRIu64 " pulls\n", u(st, "pulled"),
           r(st, "pull_rate"), u(st, "pulls"));
    json_t *cs = json_object_get(st, "consumers");
    printf("consumers    %zu\n", json_array_size(cs));
    if (json_array_size(cs)) {
      printf("  %-32s %12s %12s\n", "CLIENT", "INDEX", "LAG");
      size_t i;
      json_t *c;
      json_array_foreach(cs, i, c)
          printf("  %-32s %12" PRIu64 " %12" PRIu64 "\n",
                 json_string_value(json_object_get(c, "client")), u(c, "index"), u(c, "lag"));
    }
  }
  json_decref(doc);
  return 0;
}

int ockam_cmd_hub_status(int argc, char **argv) {
  ockam_stream_cli o = {0};
  int nops;
  int prc = ockam_cli_parse(&hub_status_spec, &o, argc, argv, &nops);
  if (prc) return prc > 0 ? 0 : 2;
  if (nops != 0) {
    ockam_cli_help(&hub_status_spec, stderr);
    return 2;
  }
  return hub_status(&o);
}

static int stream_info_cmd(int argc, char **argv, bool ls) {
  const ockam_cli_spec *spec = ls ? &ls_spec : &info_spec;
  ockam_stream_cli o = {0};
  int nops;
  int prc = ockam_cli_parse(spec, &o, argc, argv, &nops);
  if (prc) return prc > 0 ? 0 : 2;
  if (nops != (ls ? 0 : 1)) {
    ockam_cli_help(spec, stderr);
    return 2;
  }
  return ls ? stream_ls(&o) : stream_info(&o, argv[1]);
}

int ockam_stream_cmd_ls(int argc, char **argv) {
  return stream_info_cmd(argc, argv, true);
}

int ockam_stream_cmd_info(int argc, char **argv) {
  return stream_info_cmd(argc, argv, false);
}
