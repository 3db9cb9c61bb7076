/* NATS JetStream references (file storage, one server on loopback).
 *
 *   bench_jetstream push    --url URL --producers P --count N
 *       N publishes of 100 B with js_PublishAsync over P connections (one
 *       thread each), until every ack arrived.
 *   bench_jetstream latency --url URL --count K
 *       K sequential round trips: js_Publish (waits for the stored ack), then
 *       fetch the message from a pull consumer and ack it. p50 / p99.
 *   bench_jetstream consume --url URL --count N
 *       stores N messages, then times a new pull consumer fetching batches of 512
 *       (AckAll: the last message of each batch is acked; the default
 *       MaxAckPending of 1000 caps the batch).
 */
#include <nats/nats.h>
#include <pthread.h>
#include <unistd.h>

#include "bench_util.h"

#define MSG_SIZE 100

static void check(natsStatus s, const char *what) {
  if (s != NATS_OK) {
    fprintf(stderr, "bench_jetstream: %s: %s\n", what, natsStatus_GetText(s));
    exit(2);
  }
}

static void add_stream(jsCtx *js, const char *name, const char *subject) {
  jsStreamConfig cfg;
  jsStreamConfig_Init(&cfg);
  cfg.Name = name;
  const char *subjects[1] = {subject};
  cfg.Subjects = subjects;
  cfg.SubjectsLen = 1;
  cfg.Storage = js_FileStorage;
  jsStreamInfo *si = NULL;
  jsErrCode jerr = 0;
  check(js_AddStream(&si, js, &cfg, NULL, &jerr), "add stream");
  jsStreamInfo_Destroy(si);
}

typedef struct producer {
  const char *url;
  char subject[64];
  uint64_t count;
} producer;

static void *produce(void *arg) {
  producer *p = arg;
  natsConnection *nc;
  jsCtx *js;
  jsOptions o;
  check(natsConnection_ConnectTo(&nc, p->url), "connect");
  jsOptions_Init(&o);
  o.PublishAsync.MaxPending = 4096;
  check(natsConnection_JetStream(&js, nc, &o), "jetstream");
  uint8_t payload[MSG_SIZE];
  memset(payload, 'x', sizeof payload);
  for (uint64_t i = 0; i < p->count; i++)
    check(js_PublishAsync(js, p->subject, payload, sizeof payload, NULL), "publish");
  jsPubOptions po;
  jsPubOptions_Init(&po);
  po.MaxWait = 60000;
  check(js_PublishAsyncComplete(js, &po), "complete");
  jsCtx_Destroy(js);
  natsConnection_Destroy(nc);
  return NULL;
}

static int run_push(const char *url, int producers, uint64_t count, const char *tag) {
  natsConnection *nc;
  jsCtx *js;
  check(natsConnection_ConnectTo(&nc, url), "connect");
  check(natsConnection_JetStream(&js, nc, NULL), "jetstream");
  char name[64], subj[64];
  snprintf(name, sizeof name, "PUSH%s", tag);
  snprintf(subj, sizeof subj, "push.%s.>", tag);
  add_stream(js, name, subj);
  producer *p = calloc((size_t)producers, sizeof *p);
  pthread_t *th = calloc((size_t)producers, sizeof *th);
  double t0 = bench_now();
  for (int i = 0; i < producers; i++) {
    p[i].url = url;
    p[i].count = count / (uint64_t)producers;
    snprintf(p[i].subject, sizeof p[i].subject, "push.%s.%d", tag, i);
    pthread_create(&th[i], NULL, produce, &p[i]);
  }
  for (int i = 0; i < producers; i++) pthread_join(th[i], NULL);
  double dt = bench_now() - t0;
  snprintf(name, sizeof name, "js_push_p%d", producers);
  bench_result(name, (double)(count / (uint64_t)producers * (uint64_t)producers) / dt, "msg/s");
  jsCtx_Destroy(js);
  natsConnection_Destroy(nc);
  free(p);
  free(th);
  return 0;
}

static int run_latency(const char *url, int count, const char *tag) {
  natsConnection *nc;
  jsCtx *js;
  check(natsConnection_ConnectTo(&nc, url), "connect");
  check(natsConnection_JetStream(&js, nc, NULL), "jetstream");
  char name[64], subj[64];
  snprintf(name, sizeof name, "LAT%s", tag);
  snprintf(subj, sizeof subj, "lat.%s", tag);
  add_stream(js, name, subj);
  natsSubscription *sub;
  jsErrCode jerr = 0;
  check(js_PullSubscribe(&sub, js, subj, "latc", NULL, NULL, &jerr), "pull subscribe");
  uint8_t payload[MSG_SIZE];
  memset(payload, 'l', sizeof payload);
  double *lat = calloc((size_t)count, sizeof *lat);
  for (int i = -2; i < count; i++) {
    double t0 = bench_now();
    jsPubAck *ack = NULL;
    check(js_Publish(&ack, js, subj, payload, sizeof payload, NULL, &jerr), "publish");
    jsPubAck_Destroy(ack);
    natsMsgList list = {0};
    check(natsSubscription_Fetch(&list, sub, 1, 5000, &jerr), "fetch");
    for (int k = 0; k < list.Count; k++) check(natsMsg_Ack(list.Msgs[k], NULL), "ack");
    natsMsgList_Destroy(&list);
    if (i >= 0) lat[i] = (bench_now() - t0) * 1e6;
  }
  bench_result("js_rtt_p50", bench_percentile(lat, (size_t)count, 0.50), "us");
  bench_result("js_rtt_p99", bench_percentile(lat, (size_t)count, 0.99), "us");
  free(lat);
  natsSubscription_Destroy(sub);
  jsCtx_Destroy(js);
  natsConnection_Destroy(nc);
  return 0;
}

static int run_consume(const char *url, uint64_t count, const char *tag) {
  char name[64], subj[64];
  snprintf(name, sizeof name, "CONS%s", tag);
  snprintf(subj, sizeof subj, "cons.%s", tag);
  natsConnection *nc;
  jsCtx *js;
  check(natsConnection_ConnectTo(&nc, url), "connect");
  check(natsConnection_JetStream(&js, nc, NULL), "jetstream");
  add_stream(js, name, subj);
  producer p = {.url = url, .count = count};
  snprintf(p.subject, sizeof p.subject, "%s", subj);
  produce(&p);
  jsSubOptions so;
  jsSubOptions_Init(&so);
  so.Config.AckPolicy = js_AckAll;
  natsSubscription *sub;
  jsErrCode jerr = 0;
  double t0 = bench_now();
  check(js_PullSubscribe(&sub, js, subj, "consc", NULL, &so, &jerr), "pull subscribe");
  uint64_t got = 0;
  while (got < count) {
    natsMsgList list = {0};
    check(natsSubscription_Fetch(&list, sub, 512, 5000, &jerr), "fetch");
    got += (uint64_t)list.Count;
    if (list.Count) check(natsMsg_Ack(list.Msgs[list.Count - 1], NULL), "ack");
    natsMsgList_Destroy(&list);
  }
  double dt = bench_now() - t0;
  bench_result("js_consume", (double)count / dt, "msg/s");
  natsSubscription_Destroy(sub);
  jsCtx_Destroy(js);
  natsConnection_Destroy(nc);
  return 0;
}

int main(int argc, char **argv) {
  if (argc < 2) return 2;
  const char *url = bench_arg(argc, argv, "--url", "nats://127.0.0.1:4222");
  char tag[16];
  snprintf(tag, sizeof tag, "%d", (int)getpid());
  int rc = 2;
  if (!strcmp(argv[1], "push"))
    rc = run_push(url, (int)bench_arg_long(argc, argv, "--producers", 1),
                  (uint64_t)bench_arg_long(argc, argv, "--count", 50000), tag);
  else if (!strcmp(argv[1], "latency"))
    rc = run_latency(url, (int)bench_arg_long(argc, argv, "--count", 200), tag);
  else if (!strcmp(argv[1], "consume"))
    rc = run_consume(url, (uint64_t)bench_arg_long(argc, argv, "--count", 50000), tag);
  nats_Close();
  return rc;
}
