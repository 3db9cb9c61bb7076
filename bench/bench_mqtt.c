/* Mosquitto reference: QoS 1 publish -> subscribe latency through a broker
 * with persistence on. One client subscribes to a topic at QoS 1 and
 * publishes 100 B messages to it one at a time; each sample is the time from
 * mosquitto_publish() to the message arriving back.
 *
 *   bench_mqtt --port PORT --count K
 */
#include <mosquitto.h>
#include <unistd.h>

#include "bench_util.h"

static int arrived;

static void on_message(struct mosquitto *m, void *user, const struct mosquitto_message *msg) {
  (void)m;
  (void)user;
  (void)msg;
  arrived = 1;
}

static int subscribed;
static void on_subscribe(struct mosquitto *m, void *user, int mid, int n, const int *qos) {
  (void)m, (void)user, (void)mid, (void)n, (void)qos;
  subscribed = 1;
}

int main(int argc, char **argv) {
  int port = (int)bench_arg_long(argc, argv, "--port", 1883);
  int count = (int)bench_arg_long(argc, argv, "--count", 1000);
  mosquitto_lib_init();
  char id[32];
  snprintf(id, sizeof id, "bench-%d", (int)getpid());
  struct mosquitto *m = mosquitto_new(id, true, NULL);
  mosquitto_message_callback_set(m, on_message);
  mosquitto_subscribe_callback_set(m, on_subscribe);
  if (mosquitto_connect(m, "127.0.0.1", port, 60) != MOSQ_ERR_SUCCESS) {
    fprintf(stderr, "bench_mqtt: connect failed\n");
    return 2;
  }
  char topic[64];
  snprintf(topic, sizeof topic, "bench/%s", id);
  mosquitto_subscribe(m, NULL, topic, 1);
  while (!subscribed)
    if (mosquitto_loop(m, 1000, 1) != MOSQ_ERR_SUCCESS) return 2;
  uint8_t payload[100];
  memset(payload, 'q', sizeof payload);
  double *lat = calloc((size_t)count, sizeof *lat);
  double t_all = bench_now();
  for (int i = -10; i < count; i++) {
    arrived = 0;
    double t0 = bench_now();
    if (mosquitto_publish(m, NULL, topic, sizeof payload, payload, 1, false)) return 2;
    while (!arrived)
      if (mosquitto_loop(m, 1000, 1) != MOSQ_ERR_SUCCESS) return 2;
    if (i >= 0) lat[i] = (bench_now() - t0) * 1e6;
    if (i == -1) t_all = bench_now();
  }
  double dt = bench_now() - t_all;
  bench_result("mqtt_rtt_p50", bench_percentile(lat, (size_t)count, 0.50), "us");
  bench_result("mqtt_rtt_p99", bench_percentile(lat, (size_t)count, 0.99), "us");
  bench_result("mqtt_seq_rate", count / dt, "msg/s");
  mosquitto_disconnect(m);
  mosquitto_destroy(m);
  mosquitto_lib_cleanup();
  free(lat);
  return 0;
}
