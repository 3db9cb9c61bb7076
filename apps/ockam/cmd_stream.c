/* ockam stream delete --hub HOST:PORT NAME: delete a stream of a hub with the
 * stream_delete request of the `stream` service (docs/protocol-extensions.md).
 * The request and its reply are a few BARE fields, encoded here by hand so
 * that the command needs only the public API. */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "hub_access.h"
#include "ockam/error.h"
#include "ockam/limits.h"
#include "ockam/message.h"
#include "ockam/node.h"
#include "ockam/route.h"
#include "ockam/tcp.h"

#define DELETE_PROTOCOL "stream_delete"
#define ERROR_PROTOCOL "error"

typedef struct stream_cli {
  const char *hub;
  const char *hub_identity;
  const char *identity;
  uint32_t timeout_ms;
} stream_cli;

static const ockam_cli_option stream_options[] = {
    OCKAM_CLI_STR(stream_cli, hub, "hub", "hub", "HOST:PORT", "127.0.0.1:4000", NULL, NULL,
                  "the hub's TCP address"),
    OCKAM_CLI_STR(stream_cli, hub_identity, "hub-identity", "hub_identity", "ID", NULL, NULL, NULL,
                  "reach the hub through an identity channel to it, pinning ID"),
    OCKAM_CLI_STR(stream_cli, identity, "identity", "identity", "FILE", NULL, NULL, NULL,
                  "identity to use with --hub-identity (default: a new one)"),
    OCKAM_CLI_DURATION_OPT(stream_cli, timeout_ms, "timeout", "timeout", 1, 10000, 1, 0,
                           "how long to wait for the hub's answer"),
};

static const ockam_cli_spec delete_spec = {
    .command = "stream delete",
    .usage = "ockam stream delete [options] NAME",
    .operands =
        "  NAME   the stream to delete: its messages and consumer indexes go too\n"
        "exit status: 0 deleted, 1 the hub refused (e.g. no such stream) or could\n"
        "not be reached in time, 2 bad usage\n",
    .options = stream_options,
    .count = sizeof stream_options / sizeof stream_options[0],
};

static void stream_usage(FILE *f) {
  fprintf(f,
          "usage: ockam stream delete [options] NAME   (ockam stream delete --help)\n"
          "exit status: 0 done, 1 failed, 2 bad usage\n");
}

/* BARE uint (LEB128), at most 10 bytes. */
static size_t put_uint(uint8_t *p, uint64_t v) {
  size_t n = 0;
  while (v >= 0x80) {
    p[n++] = (uint8_t)(v | 0x80);
    v >>= 7;
  }
  p[n++] = (uint8_t)v;
  return n;
}

static bool get_uint(const uint8_t *p, size_t len, size_t *pos, uint64_t *out) {
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

/* A length-prefixed field (string or data) inside p[*pos, len). */
static bool get_field(const uint8_t *p, size_t len, size_t *pos, const uint8_t **f, size_t *flen) {
  uint64_t n;
  if (!get_uint(p, len, pos, &n) || n > len - *pos) return false;
  *f = p + *pos;
  *flen = (size_t)n;
  *pos += (size_t)n;
  return true;
}

static bool field_is(const uint8_t *f, size_t flen, const char *s) {
  return flen == strlen(s) && memcmp(f, s, flen) == 0;
}

/* Returns the exit status. */
static int do_delete(const stream_cli *o, const char *name) {
  size_t name_len = strlen(name);
  if (name_len == 0 || name_len > OCKAM_NAME_MAX) {
    fprintf(stderr, "ockam stream delete: a stream name has 1 to %u bytes\n", OCKAM_NAME_MAX);
    return 2;
  }
  /* ProtocolPayload { protocol: string, data: data(string name) } */
  uint8_t req[2 * 10 + sizeof DELETE_PROTOCOL + 10 + OCKAM_NAME_MAX];
  size_t n = put_uint(req, sizeof DELETE_PROTOCOL - 1);
  memcpy(req + n, DELETE_PROTOCOL, sizeof DELETE_PROTOCOL - 1);
  n += sizeof DELETE_PROTOCOL - 1;
  uint8_t inner[10];
  size_t ilen = put_uint(inner, name_len);
  n += put_uint(req + n, ilen + name_len);
  memcpy(req + n, inner, ilen);
  n += ilen;
  memcpy(req + n, name, name_len);
  n += name_len;

  char route_text[300];
  if (snprintf(route_text, sizeof route_text, "1#%s;stream", o->hub) >= (int)sizeof route_text) {
    fprintf(stderr, "ockam stream delete: --hub too long\n");
    return 2;
  }
  ockam_route *route;
  int rc = ockam_route_parse(route_text, &route);
  if (rc) {
    fprintf(stderr, "ockam stream delete: bad --hub '%s': %s\n", o->hub, ockam_strerror(rc));
    return 2;
  }
  ockam_node *node = NULL;
  ockam_tcp *tcp = NULL;
  ockam_mailbox *app = NULL;
  ockam_message *reply = NULL;
  ockam_cli_hub_access access = {0};
  int status = 1;
  if ((rc = ockam_node_create(&node))) goto out;
  if ((rc = ockam_tcp_create(node, NULL, &tcp)) || (rc = ockam_mailbox_create(node, "app", &app)))
    goto out;
  if ((rc = ockam_tcp_connect(tcp, o->hub, o->timeout_ms))) goto out;
  if ((rc = ockam_cli_hub_channel("stream delete", node, &route, o->hub_identity, o->identity,
                                  o->timeout_ms, &access)))
    goto out;
  if ((rc = ockam_send(node, "app", route, req, n))) goto out;
  if ((rc = ockam_mailbox_receive(app, o->timeout_ms, &reply))) goto out;
  size_t plen, pos = 0, dlen, flen;
  const uint8_t *p = ockam_message_payload(reply, &plen), *proto, *data, *f;
  size_t proto_len;
  if (!get_field(p, plen, &pos, &proto, &proto_len) || !get_field(p, plen, &pos, &data, &dlen)) {
    fprintf(stderr, "ockam stream delete: undecodable reply (%zu bytes)\n", plen);
    goto out;
  }
  size_t dpos = 0;
  if (field_is(proto, proto_len, DELETE_PROTOCOL)) {
    printf("deleted stream '%s'\n", name);
    status = 0;
  } else if (field_is(proto, proto_len, ERROR_PROTOCOL) &&
             get_field(data, dlen, &dpos, &f, &flen)) {
    /* "Invalid request" comes from a hub without stream deletion. */
    fprintf(stderr, "ockam stream delete: the hub refused: %.*s\n", (int)(flen > 200 ? 200 : flen),
            (const char *)f);
  } else {
    fprintf(stderr, "ockam stream delete: unexpected reply '%.*s'\n",
            (int)(proto_len > 64 ? 64 : proto_len), (const char *)proto);
  }
out:
  if (rc) fprintf(stderr, "ockam stream delete: %s\n", ockam_strerror(rc));
  if (reply) ockam_message_free(reply);
  ockam_mailbox_destroy(app);
  ockam_tcp_close(tcp);
  ockam_node_destroy(node);
  ockam_cli_hub_channel_free(&access);
  ockam_route_free(route);
  return status;
}

int ockam_cmd_stream(int argc, char **argv) {
  if (argc < 2) {
    stream_usage(stderr);
    return 2;
  }
  const char *sub = argv[1];
  if (!strcmp(sub, "-h") || !strcmp(sub, "--help")) {
    stream_usage(stdout);
    return 0;
  }
  if (strcmp(sub, "delete") != 0) {
    fprintf(stderr, "ockam stream: unknown subcommand '%s'\n", sub);
    stream_usage(stderr);
    return 2;
  }
  stream_cli o;
  int nops;
  int prc = ockam_cli_parse(&delete_spec, &o, argc - 1, argv + 1, &nops);
  if (prc) return prc > 0 ? 0 : 2;
  if (nops != 1) {
    ockam_cli_help(&delete_spec, stderr);
    return 2;
  }
  return do_delete(&o, argv[2]);
}
