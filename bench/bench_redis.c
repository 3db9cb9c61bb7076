/* Redis Streams reference: XADD of 100 B fields over P connections (one
 * thread each), pipelined in batches of 256, against a server started with
 * `appendonly yes`, `appendfsync always` (every write is fsynced before its
 * reply).
 *
 *   bench_redis --port PORT --producers P --count N
 */
#include <hiredis/hiredis.h>
#include <pthread.h>

#include "bench_util.h"

#define BATCH 256

typedef struct producer {
  int port;
  int id;
  uint64_t count;
  int failed;
} producer;

static void *produce(void *arg) {
  producer *p = arg;
  redisContext *c = redisConnect("127.0.0.1", p->port);
  if (!c || c->err) {
    p->failed = 1;
    return NULL;
  }
  char key[32], payload[101];
  snprintf(key, sizeof key, "bench-%d", p->id);
  memset(payload, 'x', 100);
  payload[100] = 0;
  for (uint64_t done = 0; done < p->count;) {
    uint64_t n = p->count - done < BATCH ? p->count - done : BATCH;
    for (uint64_t i = 0; i < n; i++)
      redisAppendCommand(c, "XADD %s * f %b", key, payload, (size_t)100);
    for (uint64_t i = 0; i < n; i++) {
      redisReply *r;
      if (redisGetReply(c, (void **)&r) != REDIS_OK || r->type == REDIS_REPLY_ERROR) p->failed = 1;
      if (r) freeReplyObject(r);
    }
    done += n;
  }
  redisFree(c);
  return NULL;
}

int main(int argc, char **argv) {
  int port = (int)bench_arg_long(argc, argv, "--port", 6379);
  int producers = (int)bench_arg_long(argc, argv, "--producers", 1);
  uint64_t count = (uint64_t)bench_arg_long(argc, argv, "--count", 50000);
  producer *p = calloc((size_t)producers, sizeof *p);
  pthread_t *th = calloc((size_t)producers, sizeof *th);
  double t0 = bench_now();
  for (int i = 0; i < producers; i++) {
    p[i] = (producer){.port = port, .id = i, .count = count / (uint64_t)producers};
    pthread_create(&th[i], NULL, produce, &p[i]);
  }
  int failed = 0;
  for (int i = 0; i < producers; i++) {
    pthread_join(th[i], NULL);
    failed |= p[i].failed;
  }
  double dt = bench_now() - t0;
  if (failed) {
    fprintf(stderr, "bench_redis: XADD failed\n");
    return 1;
  }
  char name[64];
  snprintf(name, sizeof name, "redis_push_p%d", producers);
  bench_result(name, (double)(count / (uint64_t)producers * (uint64_t)producers) / dt, "msg/s");
  free(p);
  free(th);
  return 0;
}
