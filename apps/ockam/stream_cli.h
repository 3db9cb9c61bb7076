/* What the `ockam stream` subcommands share: their options, a session with
 * a hub (node, TCP connection, reply mailbox), requests to the hub's stream
 * service, and the printing of messages. Each subcommand is listed in
 * stream_commands.h. */
#ifndef OCKAM_CLI_STREAM_CLI_H
#define OCKAM_CLI_STREAM_CLI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hub_access.h"
#include "ockam/message.h"
#include "ockam/node.h"
#include "ockam/route.h"
#include "ockam/tcp.h"
#include "options.h"

#define OCKAM_STREAM_COMMAND(name, help) int ockam_stream_cmd_##name(int argc, char **argv);
#include "stream_commands.h"
#undef OCKAM_STREAM_COMMAND

/* Exit statuses of every stream subcommand. */
enum { STREAM_EXIT_OK = 0, STREAM_EXIT_FAIL = 1, STREAM_EXIT_USAGE = 2 };
#define OCKAM_STREAM_EXIT_HELP                                                      \
  "exit status: 0 done, 1 failed (hub unreachable or refused, no answer in time), " \
  "2 bad usage\n"

/* The options of all stream subcommands (each table uses some). */
typedef struct ockam_stream_cli {
  const char *hub;
  const char *hub_identity;
  const char *identity;
  uint32_t timeout_ms;
  bool json;
  bool follow;
  uint64_t from;
  const char *client_id;
} ockam_stream_cli;

/* The rows every stream subcommand's table starts with. */
#define OCKAM_STREAM_CLI_HUB_OPTIONS                                                              \
  OCKAM_CLI_STR(ockam_stream_cli, hub, "hub", "hub", "HOST:PORT", "127.0.0.1:4000", NULL, NULL,   \
                "the hub's TCP address"),                                                         \
      OCKAM_CLI_STR(ockam_stream_cli, hub_identity, "hub-identity", "hub_identity", "ID", NULL,   \
                    NULL, NULL, "reach the hub through an identity channel to it, pinning ID"),   \
      OCKAM_CLI_STR(ockam_stream_cli, identity, "identity", "identity", "FILE", NULL, NULL, NULL, \
                    "identity to use with --hub-identity (default: a new one)"),                  \
      OCKAM_CLI_DURATION_OPT(ockam_stream_cli, timeout_ms, "timeout", "timeout", 1, 10000, 1, 0,  \
                             "how long to wait for the hub (connection, each answer)")
#define OCKAM_STREAM_CLI_JSON_OPTION \
  OCKAM_CLI_BOOL_OPT(ockam_stream_cli, json, "json", "json", "print JSON (one object per line)")

/* Parse argv (argv[0] = the subcommand) with spec into *o; exactly
 * min_ops..max_ops operands, which end up in argv[1..]. Returns -1 to go on,
 * or the exit status (0 after --help, 2 after a usage error). */
int ockam_stream_cli_parse(const ockam_cli_spec *spec, ockam_stream_cli *o, int argc, char **argv,
                           int min_ops, int max_ops, int *nops);

/* A stream name as the hub takes it: 1 to OCKAM_NAME_MAX bytes. Prints the
 * problem and returns false otherwise. */
bool ockam_stream_cli_name_ok(const char *cmd, const char *name);

typedef struct ockam_stream_session {
  const char *cmd; /* "stream push": prefixes error messages */
  ockam_node *node;
  ockam_tcp *tcp;
  ockam_mailbox *app;  /* replies of the hub's services */
  ockam_route *to_hub; /* [1#HOST:PORT], or [channel] with --hub-identity
                          (not for a stream client: ..._open_client) */
  ockam_cli_hub_access access;
} ockam_stream_session;

/* Create the node, connect to o->hub within o->timeout_ms (and open the
 * identity channel to it with --hub-identity). Prints the error and returns
 * an exit status (STREAM_EXIT_*) on failure. */
int ockam_stream_session_open(ockam_stream_session *s, const char *cmd, const ockam_stream_cli *o);
/* The same for a stream client: with --hub-identity, the identity is loaded
 * into s->access but no channel is opened and to_hub stays [1#HOST:PORT];
 * the client opens the channel itself, and opens a new one when the hub
 * stops answering through it or the connection drops. */
int ockam_stream_session_open_client(ockam_stream_session *s, const char *cmd,
                                     const ockam_stream_cli *o);
void ockam_stream_session_close(ockam_stream_session *s);

/* Send a ProtocolPayload{protocol, body} to `service` on the hub (or to the
 * route `to`, when not NULL) from the session's mailbox. */
int ockam_stream_session_request(ockam_stream_session *s, const char *service,
                                 const ockam_route *to, const char *protocol, const uint8_t *body,
                                 size_t body_len);

/* Wait for the next reply and split its ProtocolPayload: *proto and *body
 * point into *reply (the caller frees it). OCKAM_EMALFORMED when the payload
 * is not a ProtocolPayload. */
int ockam_stream_session_reply(ockam_stream_session *s, uint32_t timeout_ms, ockam_message **reply,
                               const uint8_t **proto, size_t *proto_len, const uint8_t **body,
                               size_t *body_len);

/* Print the `error` reply's reason ("the hub refused: ...") or name an
 * unexpected protocol. */
void ockam_stream_cli_print_refusal(const char *cmd, const uint8_t *proto, size_t proto_len,
                                    const uint8_t *body, size_t body_len);

/* Print one stream message: its text (a BARE string payload) or, for other
 * payloads, their size; with --json one object {"index": N (when index is
 * not NULL), "message": TEXT} or {"index": N, "bytes": LEN}. */
void ockam_stream_cli_print_message(const ockam_stream_cli *o, const uint64_t *index,
                                    const ockam_message *m);

/* BARE pieces the requests and replies are made of. */
size_t ockam_stream_cli_put_uint(uint8_t *p, uint64_t v); /* p has room for 10 bytes */
bool ockam_stream_cli_get_uint(const uint8_t *p, size_t len, size_t *pos, uint64_t *out);
bool ockam_stream_cli_get_field(const uint8_t *p, size_t len, size_t *pos, const uint8_t **f,
                                size_t *flen);
bool ockam_stream_cli_field_is(const uint8_t *f, size_t flen, const char *s);

#endif
