/* pump: a test node that produces or consumes numbered messages over hub
 * streams, optionally through a secure channel, and reports on stdout (one
 * line per event, flushed at once so that nothing printed is lost when the
 * process is killed).
 *
 *   pump [--hub HOST:PORT] [--out S] [--in S] [--client-id ID] [--retry-ms MS]
 *        [--in-flight K] [--pull-limit L] [--long-poll-ms MS] [--tcp-listen HOST:PORT] [--listener]
 * [--sink]
 *        [--count N] [--batch B] [--size BYTES] [--to ROUTE] [--secure ROUTE]
 *
 * --hub        connect the stream pair (out, in) through the hub at HOST:PORT
 *              (defaults: out "pump-data", in "pump-back")
 * --identity-dir DIR, --hub-identity ID
 *              reach the hub as the identity kept in DIR (DIR/identity, keys in
 *              DIR/vault; created if absent) through an identity channel the
 *              stream client opens itself, pinning the hub's identifier ID;
 *              prints "identity HEX" at start, and with --count "hub channels N"
 *              (channels opened, re-opens included) before "done"
 * --tcp-listen accept TCP connections; prints "listening IP:PORT"
 * --tcp-connect connect to HOST:PORT (the node opens no other connection,
 *              so routes [1#HOST:PORT, ...] need it)
 * --listener   start a secure channel listener at "secure_channel_listener"
 *              (--max-pending N, --handshake-timeout-ms MS: its options)
 * --sink       start a worker at "sink" that prints "got SEQ" for every message
 *              ("got SEQ c" when it came through a secure channel)
 * --count N    produce N messages, sequence numbers 0..N-1 (payload: u64
 *              little-endian sequence number, zero-padded to --size bytes),
 *              B at a time; after each batch, wait until every message of it
 *              is confirmed stored by the hub (ockam_stream_flush) and print
 *              "confirmed UPTO": every message with SEQ < UPTO is durable.
 *              While waiting, "stats confirmed=.. errors=.. resent=.." lines.
 *              Messages go to [tx, ROUTE] (--to, default "sink"); with --secure
 *              ROUTE a channel is first created along [tx, ROUTE] and messages
 *              go to [channel, sink]. Prints "done" and exits 0 at the end.
 * Without --count the node runs until SIGTERM.
 */
#include <inttypes.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "ockam/ockam.h"

typedef struct pump_args {
  const char *hub, *out, *in, *client_id, *tcp_listen, *to, *secure, *tcp_connect;
  const char *identity_dir, *hub_identity;
  uint32_t retry_ms, in_flight, pull_limit, long_poll_ms, max_pending, handshake_timeout_ms;
  bool listener, sink;
  uint64_t count, batch;
  size_t size;
} pump_args;

static int sink_handle(ockam_worker *w, ockam_message *m) {
  (void)w;
  size_t len;
  const uint8_t *p = ockam_message_payload(m, &len);
  if (len < 8) {
    printf("bad %zu\n", len);
    return 0;
  }
  uint64_t seq = 0;
  for (int i = 7; i >= 0; i--) seq = (seq << 8) | p[i];
  printf("got %" PRIu64 "%s\n", seq, ockam_message_via_channel(m) ? " c" : "");
  return 0;
}

static const ockam_worker_ops sink_ops = {sink_handle, NULL};

typedef struct pushed_wait {
  ockam_stream *s;
  uint64_t target;
  /* Through a channel: its local address, the messages it must have taken,
   * and the records it had sent when the batch started (it may seal several
   * messages into one record, so tx sees one push per record). */
  ockam_node *node;
  const char *channel;
  uint64_t messages, records;
} pushed_wait;

static bool pushed_reached(void *arg) {
  pushed_wait *pw = arg;
  ockam_stream_stats st;
  ockam_stream_get_stats(pw->s, &st);
  uint64_t target = pw->target;
  if (pw->channel) {
    ockam_channel_stats cs;
    if (ockam_channel_get_stats(pw->node, pw->channel, &cs)) return true;
    if (cs.sent - cs.batches_sent + cs.batched_sent < pw->messages) return false;
    target += cs.sent - pw->records;
  }
  return st.pushed + st.dropped >= target;
}

static void usage(void) {
  fprintf(stderr, "usage: pump [--hub H] [--out S] [--in S] [--client-id ID] [--count N] ...\n");
  exit(2);
}

static void parse(int argc, char **argv, pump_args *a) {
  memset(a, 0, sizeof *a);
  a->out = "pump-data";
  a->in = "pump-back";
  a->to = "sink";
  a->batch = 100;
  a->size = 8;
  for (int i = 1; i < argc; i++) {
    const char *k = argv[i];
    const char *v = i + 1 < argc ? argv[i + 1] : NULL;
    bool flag = true;
    if (!strcmp(k, "--listener"))
      a->listener = true;
    else if (!strcmp(k, "--sink"))
      a->sink = true;
    else
      flag = false;
    if (flag) continue;
    if (!v) usage();
    i++;
    if (!strcmp(k, "--hub"))
      a->hub = v;
    else if (!strcmp(k, "--out"))
      a->out = v;
    else if (!strcmp(k, "--in"))
      a->in = v;
    else if (!strcmp(k, "--client-id"))
      a->client_id = v;
    else if (!strcmp(k, "--tcp-listen"))
      a->tcp_listen = v;
    else if (!strcmp(k, "--tcp-connect"))
      a->tcp_connect = v;
    else if (!strcmp(k, "--identity-dir"))
      a->identity_dir = v;
    else if (!strcmp(k, "--hub-identity"))
      a->hub_identity = v;
    else if (!strcmp(k, "--to"))
      a->to = v;
    else if (!strcmp(k, "--secure"))
      a->secure = v;
    else if (!strcmp(k, "--retry-ms"))
      a->retry_ms = (uint32_t)strtoul(v, NULL, 10);
    else if (!strcmp(k, "--in-flight"))
      a->in_flight = (uint32_t)strtoul(v, NULL, 10);
    else if (!strcmp(k, "--max-pending"))
      a->max_pending = (uint32_t)strtoul(v, NULL, 10);
    else if (!strcmp(k, "--handshake-timeout-ms"))
      a->handshake_timeout_ms = (uint32_t)strtoul(v, NULL, 10);
    else if (!strcmp(k, "--long-poll-ms"))
      a->long_poll_ms = (uint32_t)strtoul(v, NULL, 10);
    else if (!strcmp(k, "--pull-limit"))
      a->pull_limit = (uint32_t)strtoul(v, NULL, 10);
    else if (!strcmp(k, "--count"))
      a->count = strtoull(v, NULL, 10);
    else if (!strcmp(k, "--batch"))
      a->batch = strtoull(v, NULL, 10);
    else if (!strcmp(k, "--size"))
      a->size = (size_t)strtoul(v, NULL, 10);
    else
      usage();
  }
  if (a->batch == 0 || a->size < 8 || a->size > 60000) usage();
  if (!a->identity_dir != !a->hub_identity) usage();
}

/* DIR/identity with its keys in DIR/vault, created on first use. */
static int open_identity(const char *dir, ockam_vault **vault, ockam_identity **out) {
  char path[4096];
  (void)mkdir(dir, 0700); /* EEXIST is fine; any other failure shows below */
  snprintf(path, sizeof path, "%s/vault", dir);
  int rc = ockam_vault_create_persistent(path, vault);
  if (rc) return rc;
  snprintf(path, sizeof path, "%s/identity", dir);
  rc = ockam_identity_load(*vault, path, out);
  if (rc == OCKAM_ENOTFOUND) {
    rc = ockam_identity_create(*vault, out);
    if (!rc && (rc = ockam_identity_save(*out, path))) {
      ockam_identity_free(*out);
      *out = NULL;
    }
  }
  char id[OCKAM_IDENTIFIER_BUF];
  if (!rc && !(rc = ockam_identity_identifier(*out, id, sizeof id))) printf("identity %s\n", id);
  return rc;
}

/* [first, ROUTE...] where ROUTE is a text route. */
static int make_route(const char *first, const char *rest, ockam_route **out) {
  ockam_route *r = NULL, *tail = NULL;
  int rc = ockam_route_parse(rest, &tail);
  if (!rc) rc = ockam_route_new(&r);
  if (!rc) rc = ockam_route_append_str(r, first);
  if (!rc) rc = ockam_route_append_route(r, tail);
  ockam_route_free(tail);
  if (rc) {
    ockam_route_free(r);
    return rc;
  }
  *out = r;
  return 0;
}

static int produce(ockam_node *node, ockam_vault *vault, ockam_stream *s, const pump_args *a) {
  ockam_route *dest = NULL;
  char channel[64];
  int rc;
  if (a->secure) {
    ockam_route *to_listener;
    if ((rc = make_route(ockam_stream_tx_address(s), a->secure, &to_listener))) return rc;
    rc = ockam_channel_create(node, to_listener, vault, NULL, 120000, channel, sizeof channel);
    ockam_route_free(to_listener);
    if (rc) return rc;
    printf("channel\n");
    if ((rc = make_route(channel, "sink", &dest))) return rc;
  } else if ((rc = make_route(ockam_stream_tx_address(s), a->to, &dest))) {
    return rc;
  }
  uint8_t *payload = calloc(1, a->size);
  if (!payload) {
    ockam_route_free(dest);
    return OCKAM_ENOMEM;
  }
  for (uint64_t seq = 0; seq < a->count && !rc;) {
    ockam_stream_stats st;
    ockam_stream_get_stats(s, &st);
    pushed_wait pw = {s, st.pushed + st.dropped, NULL, NULL, 0, 0};
    if (a->secure) {
      ockam_channel_stats cs;
      if ((rc = ockam_channel_get_stats(node, channel, &cs))) break;
      pw.node = node;
      pw.channel = channel;
      pw.messages = cs.sent - cs.batches_sent + cs.batched_sent;
      pw.records = cs.sent;
    }
    uint64_t end = seq + a->batch < a->count ? seq + a->batch : a->count;
    for (; seq < end && !rc; seq++) {
      for (int i = 0; i < 8; i++) payload[i] = (uint8_t)(seq >> (8 * i));
      rc = ockam_send(node, "pump", dest, payload, a->size);
      if (pw.channel)
        pw.messages++;
      else
        pw.target++;
    }
    /* Through a channel, messages reach tx only after the loop encrypted them. */
    if (!rc) rc = ockam_node_run_until(node, -1, pushed_reached, &pw);
    ockam_stream_get_stats(s, &st);
    if (!rc && st.dropped) rc = OCKAM_EFULL;
    while (!rc && (rc = ockam_stream_flush(s, 500)) == OCKAM_ETIMEDOUT) {
      ockam_stream_get_stats(s, &st);
      printf("stats confirmed=%" PRIu64 " errors=%" PRIu64 " resent=%" PRIu64 " reinits=%" PRIu64
             "\n",
             st.confirmed, st.errors, st.resent, st.reinits);
      rc = 0;
    }
    if (!rc) printf("confirmed %" PRIu64 "\n", seq);
  }
  free(payload);
  ockam_route_free(dest);
  if (!rc && a->identity_dir) {
    ockam_stream_stats st;
    ockam_stream_get_stats(s, &st);
    printf("hub channels %" PRIu64 "\n", st.hub_channels);
  }
  if (!rc) printf("done\n");
  return rc;
}

int main(int argc, char **argv) {
  pump_args a;
  parse(argc, argv, &a);
  signal(SIGPIPE, SIG_IGN);
  setvbuf(stdout, NULL, _IOLBF, 0);
  ockam_node *node;
  ockam_tcp *tcp = NULL;
  ockam_vault *vault = NULL, *id_vault = NULL;
  ockam_identity *identity = NULL;
  ockam_channel_listener *listener = NULL;
  ockam_stream *s = NULL;
  int rc;
  if ((rc = ockam_node_create(&node))) goto fail;
  if ((rc = ockam_node_stop_on_signals(node)) || (rc = ockam_tcp_create(node, NULL, &tcp)) ||
      (rc = ockam_vault_create("software", &vault)))
    goto out;
  if (a.identity_dir && (rc = open_identity(a.identity_dir, &id_vault, &identity))) goto out;
  if (a.tcp_connect && (rc = ockam_tcp_connect(tcp, a.tcp_connect, 0))) goto out;
  if (a.tcp_listen) {
    char bound[64];
    if ((rc = ockam_tcp_listen(tcp, a.tcp_listen, bound, sizeof bound))) goto out;
    printf("listening %s\n", bound);
  }
  ockam_channel_options co = {.max_pending = a.max_pending,
                              .handshake_timeout_ms = a.handshake_timeout_ms};
  if (a.listener &&
      (rc = ockam_channel_listener_create(node, "secure_channel_listener", vault, &co, &listener)))
    goto out;
  if (a.sink) {
    const char *addr[1] = {"sink"};
    if ((rc = ockam_worker_start(node, addr, 1, &sink_ops, NULL, NULL))) goto out;
  }
  if (a.hub) {
    char hop[128];
    snprintf(hop, sizeof hop, "1#%s", a.hub);
    if ((rc = ockam_tcp_connect(tcp, a.hub, 0))) goto out;
    ockam_route *route;
    if ((rc = ockam_route_parse(hop, &route))) goto out;
    ockam_stream_options o = {.client_id = a.client_id,
                              .retry_ms = a.retry_ms,
                              .max_in_flight = a.in_flight,
                              .pull_limit = a.pull_limit,
                              .long_poll_ms = a.long_poll_ms,
                              .identity = identity,
                              .hub_identifier = a.hub_identity};
    rc = ockam_stream_connect(node, route, a.out, a.in, &o, &s);
    ockam_route_free(route);
    if (rc) goto out;
    /* What this node exposes behind the stream (channels are reachable
     * anyway): the sink, and the peer it relays to. */
    if (a.sink && (rc = ockam_stream_allow(s, "sink"))) goto out;
    if (a.tcp_connect) {
      char peer[300];
      snprintf(peer, sizeof peer, "1#%s", a.tcp_connect);
      if ((rc = ockam_stream_allow(s, peer))) goto out;
    }
    /* A consumer just runs: what arrives before both streams are ready is
     * delivered all the same. */
    if (a.count && (rc = ockam_stream_wait_ready(s, 60000))) {
      ockam_stream_stats st;
      ockam_stream_get_stats(s, &st);
      printf("not ready: %s (hub channel failures %" PRIu64 ", last: %s)\n", ockam_strerror(rc),
             st.hub_channel_failures, ockam_strerror(st.hub_channel_error));
      goto out;
    }
  }
  if (a.count) {
    if (!s) {
      rc = OCKAM_EINVAL;
      goto out;
    }
    rc = produce(node, vault, s, &a);
  } else {
    rc = ockam_node_run(node);
  }
out:
  ockam_stream_close(s);
  ockam_channel_listener_close(listener);
  ockam_tcp_close(tcp);
  ockam_node_destroy(node);
  ockam_identity_free(identity);
  ockam_vault_destroy(id_vault);
  ockam_vault_destroy(vault);
fail:
  if (rc) fprintf(stderr, "pump: %s\n", ockam_strerror(rc));
  return rc ? 1 : 0;
}
