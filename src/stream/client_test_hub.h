/* The stream client tests' fixture: a node with an event log, recorders, and
 * a fake hub living in the same node (route_to_hub = []): a worker at "stream"
 * / "stream_index" that logs every request (decoded exactly, as the 2021 hub
 * does) and either lets the test answer by hand ("manual") or behaves like the
 * 2021 hub with in-memory storage ("auto"), with knobs to lose or refuse
 * replies. */
#ifndef OCKAM_STREAM_CLIENT_TEST_HUB_H
#define OCKAM_STREAM_CLIENT_TEST_HUB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "message.h"
#include "node.h"
#include "ockam/stream.h"
#include "route.h"
#include "stream_proto.h"

#define MAX_EVENTS 4096
#define MAX_RECORDED 4096

typedef struct tctx tctx;

/* A worker that keeps every message it receives. */
typedef struct recorder {
  tctx *t;
  const char *label;
  ockam_message *msgs[MAX_RECORDED];
  size_t n;
} recorder;

typedef struct hub_req {
  char at[OCKAM_ADDRESS_MAX_LEN + 1]; /* the address it arrived on */
  ockam_message *m;                   /* owned copy */
  ockami_sp_msg d;                    /* exact decode, pointing into m's payload */
  int rc;
} hub_req;

typedef struct fake_hub fake_hub;

/* One stream in the auto hub: storage outlives its worker. */
typedef struct fstream {
  fake_hub *hub;
  char name[OCKAM_NAME_MAX + 1];
  char addr[OCKAM_ADDRESS_MAX_LEN + 1];
  ockam_worker *w;
  ockami_buf data[MAX_RECORDED]; /* index i + 1 (the 2021 internal store starts at 1) */
  size_t n;
  bool held;
  ockam_route *held_ret;
  uint64_t held_id, held_index, held_limit;
  ockam_timer *held_timer;
} fstream;

struct fake_hub {
  tctx *t;
  ockam_node *node;
  bool manual;
  hub_req reqs[MAX_EVENTS];
  size_t nreqs;
  fstream *streams[8];
  size_t nstreams;
  struct {
    char client[OCKAM_NAME_MAX + 1], stream[OCKAM_NAME_MAX + 1];
    uint64_t index;
  } saved[8];
  size_t nsaved;
  int gen;
  /* knobs */
  int drop_confirms, drop_pull_replies, error_pushes, error_confirms;
  bool no_long_poll, drop_all;
  bool ignore_saves;         /* Save requests are lost */
  bool drop_pull_after_save; /* the reply to the next pull after a Save is lost */
  uint32_t hold_max_ms;
};

struct tctx {
  ockam_node *node;
  fake_hub hub;
  char events[MAX_EVENTS][64];
  size_t nevents;
};

#define RUN_UNTIL(t, ms, cond)                                                    \
  do {                                                                            \
    uint64_t until_ = ockam_node_now_ms((t)->node) + (ms);                        \
    while (!(cond) && ockam_node_now_ms((t)->node) < until_)                      \
      assert_int_equal(ockam_node_run_until((t)->node, 2, NULL, NULL), OCKAM_OK); \
  } while (0)

/* Manual mode stream worker addresses: the vectors' example values. */
#define SW_IN "5f2d8c1a9e3b7046"  /* stream sc-responder-to-initiator */
#define SW_OUT "c4e1b7a2093d6f58" /* stream sc-initiator-to-responder */
#define NAME_IN "sc-responder-to-initiator"
#define NAME_OUT "sc-initiator-to-responder"
#define ADDR_1111 "11111111111111111111111111111111"

long find_event(const tctx *t, const char *prefix);
recorder *recorder_start(tctx *t, const char *address);
void recorder_free(recorder *r);
void run_for(tctx *t, int64_t ms);
ockam_route *route_of(const char *text);
ockam_route *empty_route(void);
void assert_route1(const ockam_route *r, const char *hop);
void hop0(const ockam_route *r, char out[static OCKAM_ADDRESS_MAX_LEN + 1]);
void send_to_tx(tctx *t, ockam_stream *s, const char *from, const char *dest, const char *text);
void assert_payload_str(const ockam_message *m, const char *text);
fstream *hub_stream(fake_hub *h, const char *name, size_t len);
void hub_kill_workers(fake_hub *h);
size_t count_reqs(const fake_hub *h, const char *at_prefix, ockami_sp_kind kind);
hub_req *nth_req(fake_hub *h, ockami_sp_kind kind, size_t k);
const uint8_t *req_payload(const hub_req *r, size_t *len);
void hub_answer(tctx *t, const hub_req *r, const char *from, const uint8_t *p, size_t len);
void hub_answer_buf(tctx *t, const hub_req *r, const char *from, ockami_buf *b);
tctx *setup(bool manual);
void teardown(tctx *t);
ockam_stream_options manual_opts(void);
/* A client of NAME_OUT → NAME_IN through the local node (the fake hub),
 * accepting messages for "sink" and, with scl set, for
 * "secure_channel_listener". */
ockam_stream *connect_client(tctx *t, const ockam_stream_options *o, bool scl);
/* The worker ops of one auto-hub stream (user data: its fstream). */
extern const ockam_worker_ops fstream_ops;

#endif
