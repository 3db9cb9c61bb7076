/* Hub stream benchmarks against a running hub (bench/run starts
 * `ockam hub --store lmdb|memory`).
 *
 *   bench_hub push    --hub ADDR --producers P --count N [--label L]
 *                     [--max-in-flight W]
 *       N durable pushes of 100 B spread over P stream clients (one stream
 *       each) in one node; the clock stops when every push is confirmed
 *       (the hub confirms after the durable commit). Like the JetStream
 *       reference's js_PublishAsync (MaxPending 4096), each producer has at
 *       most 4096 messages sent and not yet confirmed.
 *   bench_hub consume --hub ADDR --count N [--pull-limit L]
 *       stores N messages of 100 B, then times a fresh consumer reading them
 *       all (index saves included); without --pull-limit the client's
 *       defaults (adaptive limit), reported as hub_consume_default.
 *   push and consume take --hub-identity ID: the stream clients then reach
 *       the hub through an identity channel to it (a fresh identity in
 *       memory, pinning the hub's identifier), and the result names get
 *       "_auth" (hub_push_auth_pP, hub_consume_auth_lL).
 *   bench_hub echo    --hub ADDR --count K [--no-long-poll 1]
 *       the guide's echo: a responder process (secure channel listener and
 *       echoer behind a stream pair) and an initiator that creates a secure
 *       channel through the streams and times K sequential round trips of a
 *       100 B message; prints p50 and p99.
 */
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench_util.h"
#include "ockam/ockam.h"

#define MSG_SIZE 100

static ockam_route *hub_route(const char *hub) {
  char hop[128];
  ockam_route *r;
  snprintf(hop, sizeof hop, "1#%s", hub);
  BENCH_CHECK(ockam_route_parse(hop, &r));
  return r;
}

/* The route to the hub's services: [1#hub], or with a hub identifier
 * [channel] through an identity channel to the hub (identity and vault are
 * the caller's, freed after the node). */
static ockam_route *services_route(ockam_node *node, const char *hub, const char *hub_identity,
                                   ockam_vault **vault, ockam_identity **me) {
  ockam_route *r = hub_route(hub);
  *vault = NULL;
  *me = NULL;
  if (!hub_identity || !*hub_identity) return r;
  char channel[64];
  BENCH_CHECK(ockam_vault_create("software", vault));
  BENCH_CHECK(ockam_identity_create(*vault, me));
  BENCH_CHECK(ockam_hub_channel_create(node, r, *me, hub_identity, 30000, channel, sizeof channel));
  ockam_route_free(r);
  BENCH_CHECK(ockam_route_new(&r));
  BENCH_CHECK(ockam_route_append_str(r, channel));
  return r;
}

static ockam_route *route2(const char *a, const char *b) {
  ockam_route *r;
  BENCH_CHECK(ockam_route_new(&r));
  BENCH_CHECK(ockam_route_append_str(r, a));
  if (b) BENCH_CHECK(ockam_route_append_str(r, b));
  return r;
}

/* ---- push ------------------------------------------------------------------- */

#define PUSH_PENDING 4096

typedef struct pending_wait {
  ockam_stream **s;
  int n;
  uint64_t target;
} pending_wait;

static uint64_t pending_confirmed(const pending_wait *pw) {
  uint64_t c = 0;
  for (int i = 0; i < pw->n; i++) {
    ockam_stream_stats st;
    ockam_stream_get_stats(pw->s[i], &st);
    c += st.confirmed;
  }
  return c;
}

static bool pending_done(void *arg) {
  const pending_wait *pw = arg;
  return pending_confirmed(pw) >= pw->target;
}

static int run_push(const char *hub, int producers, uint64_t count, const char *tag,
                    const char *label, const char *hub_identity, uint32_t max_in_flight) {
  ockam_node *node;
  ockam_tcp *tcp;
  ockam_vault *vault;
  ockam_identity *me;
  BENCH_CHECK(ockam_node_create(&node));
  BENCH_CHECK(ockam_tcp_create(node, NULL, &tcp));
  BENCH_CHECK(ockam_tcp_connect(tcp, hub, 0));
  ockam_route *to_hub = services_route(node, hub, hub_identity, &vault, &me);
  ockam_stream **s = calloc((size_t)producers, sizeof *s);
  ockam_route **r = calloc((size_t)producers, sizeof *r);
  ockam_stream_options o = {0};
  o.outbox_max = (uint32_t)(count + 16);
  o.max_in_flight = max_in_flight;
  for (int i = 0; i < producers; i++) {
    char out[96], in[96];
    snprintf(out, sizeof out, "push-%s-%d", tag, i);
    snprintf(in, sizeof in, "push-%s-%d-in", tag, i);
    BENCH_CHECK(ockam_stream_connect(node, to_hub, out, in, &o, &s[i]));
  }
  for (int i = 0; i < producers; i++) {
    BENCH_CHECK(ockam_stream_wait_ready(s[i], 10000));
    r[i] = route2(ockam_stream_tx_address(s[i]), "sink");
  }
  uint8_t payload[MSG_SIZE];
  memset(payload, 'x', sizeof payload);
  /* Like the JetStream reference's asynchronous publisher (MaxPending 4096
   * per producer): each producer has at most PUSH_PENDING messages sent and
   * not yet confirmed; the application sends more as confirms come in. */
  pending_wait pw = {s, producers, 0};
  double t0 = bench_now();
  uint64_t k = 0;
  while (k < count) {
    uint64_t limit = pending_confirmed(&pw) + (uint64_t)PUSH_PENDING * (uint64_t)producers;
    for (; k < count && k < limit; k++)
      BENCH_CHECK(ockam_send(node, "bench", r[k % (uint64_t)producers], payload, sizeof payload));
    pw.target = k < count ? k - (uint64_t)PUSH_PENDING * (uint64_t)producers / 2 : k;
    BENCH_CHECK(ockam_node_run_until(node, 60000, pending_done, &pw));
  }
  for (int i = 0; i < producers; i++) BENCH_CHECK(ockam_stream_flush(s[i], 60000));
  double dt = bench_now() - t0;
  uint64_t confirmed = 0, dropped = 0;
  for (int i = 0; i < producers; i++) {
    ockam_stream_stats st;
    ockam_stream_get_stats(s[i], &st);
    confirmed += st.confirmed;
    dropped += st.dropped;
  }
  if (confirmed < count || dropped) {
    fprintf(stderr, "bench_hub push: %llu confirmed, %llu dropped\n", (unsigned long long)confirmed,
            (unsigned long long)dropped);
    return 1;
  }
  char name[64];
  snprintf(name, sizeof name, "hub_push%s%s%s_p%d", *label ? "_" : "", label, me ? "_auth" : "",
           producers);
  bench_result(name, (double)count / dt, "msg/s");
  for (int i = 0; i < producers; i++) {
    ockam_route_free(r[i]);
    ockam_stream_close(s[i]);
  }
  ockam_route_free(to_hub);
  ockam_tcp_close(tcp);
  ockam_node_destroy(node);
  ockam_identity_free(me);
  ockam_vault_destroy(vault);
  free(s);
  free(r);
  return 0;
}

/* ---- consume ---------------------------------------------------------------- */

typedef struct counter {
  uint64_t n;
} counter;

static int count_handle(ockam_worker *w, ockam_message *msg) {
  (void)msg;
  ((counter *)ockam_worker_user(w))->n++;
  return 0;
}
static const ockam_worker_ops count_ops = {count_handle, NULL};

typedef struct until_n {
  counter *c;
  uint64_t n;
} until_n;

static bool reached(void *arg) {
  until_n *u = arg;
  return u->c->n >= u->n;
}

static int run_consume(const char *hub, uint64_t count, uint32_t pull_limit, const char *tag,
                       const char *hub_identity) {
  char name[96], dummy[96];
  snprintf(name, sizeof name, "cons-%s", tag);
  snprintf(dummy, sizeof dummy, "cons-%s-unused", tag);
  ockam_vault *vault;
  ockam_identity *me;
  /* Fill the stream (always without a channel: only the reading is timed). */
  {
    ockam_node *node;
    ockam_tcp *tcp;
    ockam_stream *s;
    ockam_route *to_hub = hub_route(hub);
    BENCH_CHECK(ockam_node_create(&node));
    BENCH_CHECK(ockam_tcp_create(node, NULL, &tcp));
    BENCH_CHECK(ockam_tcp_connect(tcp, hub, 0));
    ockam_stream_options o = {0};
    o.outbox_max = (uint32_t)(count + 16);
    BENCH_CHECK(ockam_stream_connect(node, to_hub, name, dummy, &o, &s));
    BENCH_CHECK(ockam_stream_wait_ready(s, 10000));
    ockam_route *r = route2(ockam_stream_tx_address(s), "sink");
    uint8_t payload[MSG_SIZE];
    memset(payload, 'y', sizeof payload);
    for (uint64_t k = 0; k < count; k++)
      BENCH_CHECK(ockam_send(node, "bench", r, payload, sizeof payload));
    BENCH_CHECK(ockam_stream_flush(s, 60000));
    ockam_route_free(r);
    ockam_route_free(to_hub);
    ockam_stream_close(s);
    ockam_tcp_close(tcp);
    ockam_node_destroy(node);
  }
  /* Read it with a fresh consumer. */
  ockam_node *node;
  ockam_tcp *tcp;
  ockam_stream *s;
  counter c = {0};
  BENCH_CHECK(ockam_node_create(&node));
  BENCH_CHECK(ockam_tcp_create(node, NULL, &tcp));
  BENCH_CHECK(ockam_tcp_connect(tcp, hub, 0));
  const char *addr[1] = {"sink"};
  BENCH_CHECK(ockam_worker_start(node, addr, 1, &count_ops, &c, NULL));
  ockam_stream_options o = {0};
  o.pull_limit = pull_limit;
  /* The channel is made before the clock starts: only its per-message cost counts. */
  ockam_route *to_hub = services_route(node, hub, hub_identity, &vault, &me);
  double t0 = bench_now();
  BENCH_CHECK(ockam_stream_connect(node, to_hub, dummy, name, &o, &s));
  BENCH_CHECK(ockam_stream_allow(s, "sink"));
  until_n u = {&c, count};
  BENCH_CHECK(ockam_node_run_until(node, 60000, reached, &u));
  double dt = bench_now() - t0;
  if (pull_limit)
    snprintf(name, sizeof name, "hub_consume%s_l%u", me ? "_auth" : "", pull_limit);
  else
    snprintf(name, sizeof name, "hub_consume%s_default", me ? "_auth" : "");
  bench_result(name, (double)count / dt, "msg/s");
  ockam_stream_close(s);
  ockam_tcp_close(tcp);
  ockam_node_destroy(node);
  ockam_route_free(to_hub);
  ockam_identity_free(me);
  ockam_vault_destroy(vault);
  return 0;
}

/* ---- echo ------------------------------------------------------------------- */

static int echo_handle(ockam_worker *w, ockam_message *msg) {
  size_t len;
  const uint8_t *p = ockam_message_payload(msg, &len);
  return ockam_send(ockam_worker_node(w), ockam_worker_address(w), ockam_message_return(msg), p,
                    len);
}
static const ockam_worker_ops echo_ops = {echo_handle, NULL};

static void echo_responder(const char *hub, const char *tag, bool no_long_poll) {
  ockam_node *node;
  ockam_tcp *tcp;
  ockam_vault *vault;
  ockam_stream *s;
  char out[96], in[96];
  snprintf(out, sizeof out, "sc-%s-b-a", tag);
  snprintf(in, sizeof in, "sc-%s-a-b", tag);
  BENCH_CHECK(ockam_node_create(&node));
  BENCH_CHECK(ockam_tcp_create(node, NULL, &tcp));
  BENCH_CHECK(ockam_tcp_connect(tcp, hub, 0));
  BENCH_CHECK(ockam_vault_create("software", &vault));
  const char *addr[1] = {"echoer"};
  BENCH_CHECK(ockam_worker_start(node, addr, 1, &echo_ops, NULL, NULL));
  ockam_channel_listener *listener;
  BENCH_CHECK(
      ockam_channel_listener_create(node, "secure_channel_listener", vault, NULL, &listener));
  ockam_route *to_hub = hub_route(hub);
  ockam_stream_options o = {0};
  o.no_long_poll = no_long_poll;
  BENCH_CHECK(ockam_stream_connect(node, to_hub, out, in, &o, &s));
  BENCH_CHECK(ockam_node_stop_on_signals(node));
  bench_ignore(ockam_node_run(node));
  ockam_stream_close(s);
  ockam_tcp_close(tcp);
  ockam_channel_listener_close(listener);
  ockam_node_destroy(node);
  ockam_vault_destroy(vault);
  _exit(0);
}

static int run_echo(const char *hub, int count, bool no_long_poll, const char *tag,
                    const char *label) {
  pid_t pid = fork();
  if (pid == 0) echo_responder(hub, tag, no_long_poll);
  ockam_node *node;
  ockam_tcp *tcp;
  ockam_vault *vault;
  ockam_mailbox *app;
  ockam_stream *s;
  char out[96], in[96], chan[64];
  snprintf(out, sizeof out, "sc-%s-a-b", tag);
  snprintf(in, sizeof in, "sc-%s-b-a", tag);
  BENCH_CHECK(ockam_node_create(&node));
  BENCH_CHECK(ockam_tcp_create(node, NULL, &tcp));
  BENCH_CHECK(ockam_tcp_connect(tcp, hub, 0));
  BENCH_CHECK(ockam_vault_create("software", &vault));
  BENCH_CHECK(ockam_mailbox_create(node, "app", &app));
  ockam_route *to_hub = hub_route(hub);
  ockam_stream_options o = {0};
  o.no_long_poll = no_long_poll;
  BENCH_CHECK(ockam_stream_connect(node, to_hub, out, in, &o, &s));
  BENCH_CHECK(ockam_stream_wait_ready(s, 10000));
  ockam_route *r = route2(ockam_stream_tx_address(s), "secure_channel_listener");
  BENCH_CHECK(ockam_channel_create(node, r, vault, NULL, 30000, chan, sizeof chan));
  ockam_route_free(r);
  r = route2(chan, "echoer");
  uint8_t payload[MSG_SIZE];
  memset(payload, 'e', sizeof payload);
  double *lat = calloc((size_t)count, sizeof *lat);
  /* Two warm-up round trips, not timed. */
  for (int i = -2; i < count; i++) {
    double t0 = bench_now();
    BENCH_CHECK(ockam_send(node, "app", r, payload, sizeof payload));
    ockam_message *reply;
    BENCH_CHECK(ockam_mailbox_receive(app, 10000, &reply));
    ockam_message_free(reply);
    if (i >= 0) lat[i] = (bench_now() - t0) * 1e6;
  }
  char name[96];
  snprintf(name, sizeof name, "echo_%s_p50", label);
  bench_result(name, bench_percentile(lat, (size_t)count, 0.50), "us");
  snprintf(name, sizeof name, "echo_%s_p99", label);
  bench_result(name, bench_percentile(lat, (size_t)count, 0.99), "us");
  kill(pid, SIGTERM);
  waitpid(pid, NULL, 0);
  free(lat);
  ockam_route_free(r);
  ockam_route_free(to_hub);
  ockam_stream_close(s);
  ockam_tcp_close(tcp);
  ockam_mailbox_destroy(app);
  ockam_node_destroy(node);
  ockam_vault_destroy(vault);
  return 0;
}

int main(int argc, char **argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: bench_hub push|consume|echo --hub ADDR ...\n");
    return 2;
  }
  ockam_log_set_level(OCKAM_LOG_ERROR);
  const char *hub = bench_arg(argc, argv, "--hub", "127.0.0.1:4000");
  char tag[40];
  ockam_random_address(tag);
  tag[12] = 0;
  if (!strcmp(argv[1], "push"))
    return run_push(hub, (int)bench_arg_long(argc, argv, "--producers", 1),
                    (uint64_t)bench_arg_long(argc, argv, "--count", 50000), tag,
                    bench_arg(argc, argv, "--label", ""),
                    bench_arg(argc, argv, "--hub-identity", NULL),
                    (uint32_t)bench_arg_long(argc, argv, "--max-in-flight", 0));
  if (!strcmp(argv[1], "consume"))
    return run_consume(hub, (uint64_t)bench_arg_long(argc, argv, "--count", 50000),
                       (uint32_t)bench_arg_long(argc, argv, "--pull-limit", 0), tag,
                       bench_arg(argc, argv, "--hub-identity", NULL));
  if (!strcmp(argv[1], "echo"))
    return run_echo(hub, (int)bench_arg_long(argc, argv, "--count", 200),
                    bench_arg_long(argc, argv, "--no-long-poll", 0) != 0, tag,
                    bench_arg(argc, argv, "--label", "hub"));
  fprintf(stderr, "bench_hub: unknown command %s\n", argv[1]);
  return 2;
}
