/* One-way bulk transfer between two nodes on two threads over one TCP
 * connection on 127.0.0.1, either as plain framed messages over the TCP
 * transport or through a secure channel.
 *
 *   bench_channel --mode plain|channel --size BYTES [--millis MS] [--window 1] [--batch 0]
 *
 * The sender keeps a window of unacknowledged messages; the receiving `sink`
 * worker acknowledges every quarter window through the same route back (so
 * the transport's send queue never overflows and nothing is dropped). The
 * clock runs from the first send to the last acknowledgement. With --window 1
 * every message waits for its acknowledgement: the mean round trip. */
#include <pthread.h>
#include <stdatomic.h>

#include "bench_util.h"
#include "ockam/ockam.h"

typedef struct receiver {
  pthread_mutex_t mu;
  pthread_cond_t cv;
  bool channel;
  ockam_node *node; /* set once listening */
  char bound[64];
  atomic_bool stop;
  uint64_t received, bytes, ack_every, total;
} receiver;

typedef struct sender {
  ockam_node *node;
  ockam_route *route;
  uint8_t *payload;
  size_t size;
  uint64_t total, sent, acked, window;
  int error;
} sender;

static int sink_handle(ockam_worker *w, ockam_message *msg) {
  receiver *r = ockam_worker_user(w);
  size_t len;
  ockam_message_payload(msg, &len);
  r->received++;
  r->bytes += len;
  if (r->received % r->ack_every == 0 ||
      r->received == __atomic_load_n(&r->total, __ATOMIC_SEQ_CST)) {
    uint8_t ack[8];
    for (int i = 0; i < 8; i++) ack[i] = (uint8_t)(r->received >> (8 * i));
    return ockam_send(ockam_worker_node(w), "sink", ockam_message_return(msg), ack, sizeof ack);
  }
  return 0;
}
static const ockam_worker_ops sink_ops = {sink_handle, NULL};

static bool receiver_stopped(void *arg) {
  return atomic_load(&((receiver *)arg)->stop);
}

static void *receiver_main(void *arg) {
  receiver *r = arg;
  ockam_node *node;
  ockam_tcp *tcp;
  ockam_vault *vault = NULL;
  ockam_channel_listener *listener = NULL;
  char bound[64];
  BENCH_CHECK(ockam_node_create(&node));
  BENCH_CHECK(ockam_tcp_create(node, NULL, &tcp));
  BENCH_CHECK(ockam_tcp_listen(tcp, "127.0.0.1:0", bound, sizeof bound));
  const char *addr[1] = {"sink"};
  BENCH_CHECK(ockam_worker_start(node, addr, 1, &sink_ops, r, NULL));
  if (r->channel) {
    BENCH_CHECK(ockam_vault_create("software", &vault));
    BENCH_CHECK(
        ockam_channel_listener_create(node, "secure_channel_listener", vault, NULL, &listener));
  }
  pthread_mutex_lock(&r->mu);
  snprintf(r->bound, sizeof r->bound, "%s", bound);
  r->node = node;
  pthread_cond_signal(&r->cv);
  pthread_mutex_unlock(&r->mu);
  bench_ignore(ockam_node_run_until(node, -1, receiver_stopped, r));
  ockam_channel_listener_close(listener);
  ockam_tcp_close(tcp);
  ockam_node_destroy(node);
  ockam_vault_destroy(vault);
  return NULL;
}

static void noop(void *arg) {
  (void)arg;
}

static void fill(void *arg) {
  sender *s = arg;
  while (!s->error && s->sent < s->total && s->sent - s->acked < s->window) {
    s->error = ockam_send(s->node, "ack", s->route, s->payload, s->size);
    s->sent++;
  }
}

static int ack_handle(ockam_worker *w, ockam_message *msg) {
  sender *s = ockam_worker_user(w);
  size_t len;
  const uint8_t *p = ockam_message_payload(msg, &len);
  uint64_t n = 0;
  for (size_t i = 0; i < 8 && i < len; i++) n |= (uint64_t)p[i] << (8 * i);
  if (n > s->acked) s->acked = n;
  fill(s);
  return 0;
}
static const ockam_worker_ops ack_ops = {ack_handle, NULL};

static bool sender_done(void *arg) {
  sender *s = arg;
  return s->error || s->acked >= s->total;
}

int main(int argc, char **argv) {
  const char *mode = bench_arg(argc, argv, "--mode", "channel");
  size_t size = (size_t)bench_arg_long(argc, argv, "--size", 1024);
  double seconds = (double)bench_arg_long(argc, argv, "--millis", 2000) / 1000.0;
  bool channel = !strcmp(mode, "channel");
  ockam_log_set_level(OCKAM_LOG_ERROR);

  /* Window: ~512 KiB unacknowledged (at least 8 messages). Larger windows
   * measured slower for both modes (more heap in flight, more page faults)
   * and must stay well under the TCP transport's 8 MiB send queue. */
  uint64_t window = (512u << 10) / size;
  if (window > 8192) window = 8192;
  if (window < 8) window = 8;
  /* --window 1: ping-pong, every message acknowledged; reports the round trip. */
  long wopt = bench_arg_long(argc, argv, "--window", 0);
  if (wopt > 0) window = (uint64_t)wopt;

  receiver r = {.channel = channel, .ack_every = window >= 4 ? window / 4 : 1};
  pthread_mutex_init(&r.mu, NULL);
  pthread_cond_init(&r.cv, NULL);
  atomic_init(&r.stop, false);
  pthread_t th;
  /* A first short run sizes the real run to about `seconds`. */
  uint64_t count = (uint64_t)bench_arg_long(argc, argv, "--count", 0);
  r.total = count ? count : UINT64_MAX;
  if (pthread_create(&th, NULL, receiver_main, &r)) return 2;
  pthread_mutex_lock(&r.mu);
  while (!r.node) pthread_cond_wait(&r.cv, &r.mu);
  pthread_mutex_unlock(&r.mu);

  ockam_node *node;
  ockam_tcp *tcp;
  ockam_vault *vault = NULL;
  BENCH_CHECK(ockam_node_create(&node));
  BENCH_CHECK(ockam_tcp_create(node, NULL, &tcp));
  BENCH_CHECK(ockam_tcp_connect(tcp, r.bound, 5000));
  char hop[96];
  snprintf(hop, sizeof hop, "1#%s", r.bound);
  sender s = {.node = node, .size = size, .window = window};
  ockam_route *route;
  BENCH_CHECK(ockam_route_new(&route));
  BENCH_CHECK(ockam_route_append_str(route, hop));
  char chan[64] = "";
  if (channel) {
    BENCH_CHECK(ockam_vault_create("software", &vault));
    BENCH_CHECK(ockam_route_append_str(route, "secure_channel_listener"));
    /* --batch 0: one record per message (batched records not offered). */
    ockam_channel_options co = {.no_batch = bench_arg_long(argc, argv, "--batch", 1) == 0};
    BENCH_CHECK(ockam_channel_create(node, route, vault, &co, 10000, chan, sizeof chan));
    ockam_route_clear(route);
    BENCH_CHECK(ockam_route_append_str(route, chan));
  }
  BENCH_CHECK(ockam_route_append_str(route, "sink"));
  s.route = route;
  s.payload = malloc(size);
  for (size_t i = 0; i < size; i++) s.payload[i] = (uint8_t)i;
  const char *addr[1] = {"ack"};
  BENCH_CHECK(ockam_worker_start(node, addr, 1, &ack_ops, &s, NULL));

  /* Calibrate with batches growing until one takes 50 ms (a first batch of
   * 2,000 is over too soon to give a rate), then run the measured batch. */
  uint64_t done_before = 0;
  double rate = 0;
  uint64_t calib = count ? count / 10 + 1 : 2000;
  for (int phase = 0; phase < 2; phase++) {
    uint64_t n = phase == 0 ? calib : count;
    if (phase == 1 && !count) {
      n = (uint64_t)(rate * seconds);
      if (n < 1000) n = 1000;
    }
    s.total = done_before + n;
    __atomic_store_n(&r.total, s.total, __ATOMIC_SEQ_CST);
    double t0 = bench_now();
    fill(&s);
    int rc = ockam_node_run_until(node, 120000, sender_done, &s);
    double dt = bench_now() - t0;
    if (rc || s.error) {
      fprintf(stderr, "bench_channel: %s\n", ockam_strerror(rc ? rc : s.error));
      return 1;
    }
    rate = (double)n / dt;
    done_before = s.total;
    if (phase == 0 && !count && dt < 0.05) {
      calib *= 4;
      phase--;
      continue;
    }
    if (phase == 1) {
      char name[96];
      if (window == 1) {
        snprintf(name, sizeof name, "%s_%zu_rtt_us", mode, size);
        bench_result(name, 1e6 / rate, "us");
        break;
      }
      snprintf(name, sizeof name, "%s_%zu_MBps", mode, size);
      bench_result(name, rate * (double)size / 1e6, "MB/s");
      snprintf(name, sizeof name, "%s_%zu_msgps", mode, size);
      bench_result(name, rate, "msg/s");
    }
  }
  ockam_tcp_stats ts;
  ockam_tcp_get_stats(tcp, &ts);
  if (ts.dropped)
    fprintf(stderr, "bench_channel: %llu frames dropped\n", (unsigned long long)ts.dropped);
  atomic_store(&r.stop, true);
  BENCH_CHECK(ockam_node_post(r.node, noop, NULL));
  pthread_join(th, NULL);
  ockam_route_free(route);
  ockam_tcp_close(tcp);
  ockam_node_destroy(node);
  ockam_vault_destroy(vault);
  free(s.payload);
  return 0;
}
