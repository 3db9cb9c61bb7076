/* The jetstream backend's shared state and the helpers its files use:
 * jetstream.c (errors, replies, streams, bounds, create, delete, list),
 * js_open.c (connect, close), js_append.c, js_read.c, js_index.c (consumer
 * indexes in the KV bucket), js_names.c (pure names and parsers). */
#ifndef OCKAMI_STORAGE_JS_INTERNAL_H
#define OCKAMI_STORAGE_JS_INTERNAL_H

#include <nats/nats.h>
#include <stdbool.h>
#include <stdint.h>

#include "backend.h"
#include "js_names.h"
#include "map.h"

#define JS_LOG "storage.jetstream"

/* Bound of every op, waiting for a reconnect included (milliseconds). */
#define JS_OP_TIMEOUT_MS 5000u
/* Appends get one more second per this many bytes of record data. */
#define JS_APPEND_BYTES_PER_S (16u << 20)
/* Timeout of one JetStream API request (stream info, KV get, ...). */
#define JS_API_WAIT_MS 2000
#define JS_CONNECT_TIMEOUT_MS 2000
#define JS_RECONNECT_WAIT_MS 250
/* Heartbeats: a dead server is noticed after about PING * (MAX_PINGS + 1). */
#define JS_PING_INTERVAL_MS 2000
#define JS_MAX_PINGS_OUT 2
/* Direct-get requests in flight in one read window. */
#define JS_READ_WINDOW_MAX 256u
/* Records fetched from the stream leader when a follower answered short. */
#define JS_LEADER_FETCH_MAX 64u
/* Revision conflicts tolerated by one index save. */
#define JS_INDEX_RETRIES 16
/* Room for the headers JetStream counts in a message's size. */
#define JS_HEADER_ALLOWANCE 1024u
/* Publish deduplication window: longer than any append call (whose retries
 * reuse message ids), short because the server keeps every id of the window
 * in memory; never above max age. */
#define JS_DUP_WINDOW_NS (30LL * 1000000000LL)
/* While unreachable, repeat the warning at most this often. */
#define JS_UNAVAILABLE_LOG_MS 10000u

#define JS_MSGID_RANDOM 12

/* What this instance knows about a JetStream stream. */
typedef struct js_stream {
  bool exists; /* confirmed by the server; cleared when it looks gone */
  bool direct; /* AllowDirect is on: reads may use direct gets */
  uint8_t replicas;
  uint64_t last_seq; /* highest sequence seen; sizes the first read window */
} js_stream;

typedef struct js_be {
  natsOptions *opts;
  natsConnection *nc;
  jsCtx *js;
  kvStore *kv;
  natsSubscription *sub; /* <inbox>.*.*: publish acks and direct-get replies */
  natsInbox *inbox;
  size_t inbox_len;
  uint64_t gen;         /* reply generation: replies of an abandoned round are dropped */
  ockami_map streams;   /* digest (JS_DIGEST_LEN bytes) -> js_stream */
  int64_t stream_count; /* Ockam streams in the account; -1 = not counted yet */
  char *url;
  int replicas;
  uint64_t max_messages;
  uint64_t max_bytes;
  uint64_t max_age_s;
  uint32_t max_streams;
  uint32_t max_record;
  bool unavailable; /* the last op could not reach the server */
  uint64_t unavailable_logged_ms;
} js_be;

/* ---- jetstream.c ---- */
int64_t ockami_js_remaining_ms(uint64_t deadline);
/* JetStream answered but cannot serve now (leader election, stream offline). */
bool ockami_js_errcode_transient(int code);
int ockami_js_errcode_to_ockam(int code);
/* Maps an API call's result; logs what is not an outage. */
int ockami_js_api_result(natsStatus s, jsErrCode code, const char *what);
/* Logs outages and recoveries once; returns rc. */
int ockami_js_note(js_be *be, int rc, const char *op);
int ockami_js_wait_connected(js_be *be, uint64_t deadline);
/* After a failed attempt: true if another one fits before the deadline. */
bool ockami_js_retry(js_be *be, int rc, uint64_t deadline);
void ockami_js_api_opts(jsOptions *o, uint64_t deadline);
int ockami_js_next_reply(js_be *be, uint64_t gen, uint64_t n, uint64_t deadline, natsMsg **out,
                         uint64_t *k);
void ockami_js_flush(js_be *be, size_t sent, uint64_t deadline);
void ockami_js_reply_subject(const js_be *be, uint64_t gen, uint64_t k, char *out, size_t cap);
/* js_GetStreamInfo within the deadline. */
natsStatus ockami_js_stream_info(js_be *be, const js_names *nm, uint64_t deadline,
                                 jsStreamInfo **si, jsErrCode *code);
/* The cached entry of a stream, or NULL. */
js_stream *ockami_js_stream_find(js_be *be, const uint8_t *digest);
/* Finds the stream (cached, or asked from the server); creates it if create.
 * OCKAM_ENOTFOUND when it does not exist and !create. */
int ockami_js_lookup(js_be *be, const js_names *nm, const char *name, size_t len, bool create,
                     uint64_t deadline, js_stream **out);
void ockami_js_forget(js_be *be, const uint8_t *digest);

/* ---- js_open.c ---- */
int ockami_js_open(const ockami_store_options *opt, void **out);
void ockami_js_close(void *p);

/* ---- js_append.c, js_read.c, js_index.c: the ops ---- */
int ockami_js_append(void *p, ockami_append *items, size_t n);
int ockami_js_read(void *p, const char *stream, size_t stream_len, uint64_t from, uint32_t limit,
                   size_t max_bytes, ockami_records *out);
int ockami_js_index_get(void *p, const char *client, size_t client_len, const char *stream,
                        size_t stream_len, uint64_t *index, bool *found);
int ockami_js_index_save(void *p, const char *client, size_t client_len, const char *stream,
                         size_t stream_len, uint64_t index);
/* Idempotent producer states in the same bucket, key "p.<producer>.<stream>"
 * (both escaped), value the 32-byte encoded ockami_producer_state. */
#define JS_PRODUCER_KEY_MAX (JS_KEY_MAX + 2)
void ockami_js_producer_key(const char *producer, size_t producer_len, const char *stream,
                            size_t stream_len, char *key);
/* The state and its KV revision (both zero when there is none). */
int ockami_js_producer_load(js_be *be, const char *key, ockami_producer_state *ps, uint64_t *rev,
                            uint64_t deadline);
/* Writes the state if the entry still has revision rev (0: does not exist);
 * *conflict when it changed meanwhile (nothing written). */
int ockami_js_producer_store(js_be *be, const char *key, const ockami_producer_state *ps,
                             uint64_t rev, bool *conflict);
int ockami_js_producer_get(void *p, const char *producer, size_t producer_len, const char *stream,
                           size_t stream_len, ockami_producer_state *out, bool *found);
/* Removes every consumer index of the stream (any client). */
int ockami_js_index_delete_stream(js_be *be, const char *stream, size_t stream_len,
                                  uint64_t deadline);
/* Removes every producer state of the stream. */
int ockami_js_producer_delete_stream(js_be *be, const char *stream, size_t stream_len,
                                     uint64_t deadline);

#endif
