/* The stream-service test harness shared by stream_service_test.c and
 * stream_service_store_test.c (see stream_service_test_util.c). Include
 * after <cmocka.h>. */
#ifndef OCKAM_STREAM_SERVICE_TEST_UTIL_H
#define OCKAM_STREAM_SERVICE_TEST_UTIL_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "ockam/hub.h"
#include "ockam/limits.h"
#include "ockam/node.h"
#include "ockam/tcp.h"
#include "stream_proto.h"

/* Generous bound for anything that must arrive; only reached on failure. */
#define ARRIVE_MS 15000
/* Used where a reply must NOT arrive (a wrong answer would come at once). */
#define QUIET_MS 300

typedef struct hub_proc {
  ockam_node *node;
  ockam_hub *hub;
  pthread_t thread;
  char bound[64];
} hub_proc;

typedef struct client {
  ockam_node *node;
  ockam_tcp *tcp;
  ockam_mailbox *mb;
  char hub[64];
  ockami_buf b;
} client;

typedef struct reply {
  ockam_message *m;
  ockami_sp_msg r;
  char from[OCKAM_ADDRESS_MAX_LEN + 1]; /* the hub-side sender */
  const uint8_t *payload;
  size_t len;
} reply;

typedef struct fixture {
  const char *store;
  char dir[256]; /* removed in teardown */
  ockam_hub_options opts;
  hub_proc hub;
  client cl;
} fixture;

const char *sn(const char *base);
int hub_start(hub_proc *hp, const ockam_hub_options *o);
void hub_stop(hub_proc *hp);
void client_open(client *c, const char *hub);
void client_close(client *c);
void client_send(client *c, const char *addr);
void client_send_long_return(client *c, const char *addr, size_t extra, size_t hop_len);
void client_send_raw(client *c, const char *addr, const void *p, size_t len);
int client_recv(client *c, int64_t timeout_ms, reply *out);
void reply_free(reply *r);
void expect_reply(client *c, reply *out, ockami_sp_kind kind);
void expect_quiet(client *c);
void create_stream(client *c, const char *service, const char *name, char addr[33], char *name_out,
                   size_t name_cap);
void send_push(client *c, const char *worker, uint64_t rid, const void *data, size_t len);
void expect_confirm(client *c, const char *worker, uint64_t rid, ockami_sp_status status,
                    uint64_t index);
void send_pull(client *c, const char *worker, uint64_t rid, uint64_t index, uint64_t limit,
               uint64_t wait_ms);
void expect_pulled(client *c, const char *worker, uint64_t rid, uint64_t first, size_t n);
void push_numbered(client *c, const char *worker, uint64_t first, size_t n);
void index_get(client *c, const char *svc, const char *cid, const char *stream, bool has,
               uint64_t index);
void index_get_eventually(client *c, const char *cid, const char *stream, uint64_t index);
void index_save(client *c, const char *cid, const char *stream, uint64_t index);
void expect_error(client *c, const char *from, const char *reason);
int setup_store(void **state, const char *store);
int setup_memory(void **state);
int setup_lmdb(void **state);
int teardown(void **state);
void start(fixture *fx);
bool durable(const fixture *fx);
int setup_jetstream(void **state);

struct CMUnitTest;

/* libsodium, and the log level (errors only unless OCKAM_LOG is set): 0 or -1. */
int test_init(void);
/* Runs the per-store groups of a suite as "<suite>: memory", "…: lmdb" and,
 * when OCKAM_TEST_NATS_URL names a server, "…: jetstream" (reported as
 * skipped otherwise). Returns the number of failed tests. */
int run_store_groups(const char *suite, const struct CMUnitTest *memory, size_t nmemory,
                     const struct CMUnitTest *lmdb, size_t nlmdb,
                     const struct CMUnitTest *jetstream, size_t njetstream);
#define RUN_STORE_GROUPS(suite, memory, lmdb, jetstream)                \
  run_store_groups(suite, memory, sizeof memory / sizeof *memory, lmdb, \
                   sizeof lmdb / sizeof *lmdb, jetstream, sizeof jetstream / sizeof *jetstream)

#endif
