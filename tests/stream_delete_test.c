/* Stream deletion and idle expiry against a real `ockam hub`: a stream is
 * created and written, deleted with `ockam stream delete` while a long-poll
 * pull of it is parked (the pull is answered, the hub survives), stays
 * deleted across a restart of the hub, and starts again at index 0 when
 * made anew; an empty stream left alone expires with --stream-idle-expiry
 * while a written one stays; a stream deleted or expired no longer counts
 * against its creator's --max-streams-per-connection. Requests are encoded
 * by hand (BARE).
 *
 * The hub stores in LMDB (the restart test) and in memory; run under
 * tests/nats/with-nats (OCKAM_TEST_NATS_URL set), every test uses the
 * JetStream store of that server instead. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "ockam/ockam.h"
#include "testutil.h"

/* The JetStream server when run under tests/nats/with-nats, else NULL. */
static const char *nats_url;

/* Starts a hub on `store` (with data dir `dir`, may be NULL), or on the
 * JetStream server when there is one; extra arguments may be NULL. */
static int start_hub(tu_proc *hub, const char *store, const char *dir, const char *const *extra,
                     char *bound, size_t cap) {
  const char *args[16];
  size_t n = 0;
  if (nats_url) {
    args[n++] = "--nats";
    args[n++] = nats_url;
    store = "jetstream";
    dir = NULL;
  }
  for (size_t i = 0; extra && extra[i] && n < 15; i++) args[n++] = extra[i];
  args[n] = NULL;
  return tu_start_hub(hub, 0, store, dir, args, bound, cap);
}

static size_t put_uint(uint8_t *p, uint64_t v) {
  size_t n = 0;
  while (v >= 0x80) {
    p[n++] = (uint8_t)(v | 0x80);
    v >>= 7;
  }
  p[n++] = (uint8_t)v;
  return n;
}

static size_t get_uint(const uint8_t *p, size_t len, size_t *pos) {
  uint64_t v = 0;
  for (unsigned s = 0; s < 64 && *pos < len; s += 7) {
    uint8_t b = p[(*pos)++];
    v |= (uint64_t)(b & 0x7f) << s;
    if (!(b & 0x80)) return (size_t)v;
  }
  fail_msg("bad uint");
  return 0;
}

/* ProtocolPayload{proto, body} into out; returns the length. */
static size_t payload(uint8_t *out, const char *proto, const uint8_t *body, size_t blen) {
  size_t n = put_uint(out, strlen(proto));
  memcpy(out + n, proto, strlen(proto));
  n += strlen(proto);
  n += put_uint(out + n, blen);
  memcpy(out + n, body, blen);
  return n + blen;
}

/* The protocol name of a reply, NUL-terminated into name; *body points at
 * the data field's content. */
static void reply_kind(const ockam_message *m, char *name, size_t cap, const uint8_t **body,
                       size_t *blen) {
  size_t len, pos = 0;
  const uint8_t *p = ockam_message_payload(m, &len);
  size_t nlen = get_uint(p, len, &pos);
  assert_true(nlen < cap && nlen <= len - pos);
  memcpy(name, p + pos, nlen);
  name[nlen] = '\0';
  pos += nlen;
  *blen = get_uint(p, len, &pos);
  assert_true(*blen <= len - pos);
  *body = p + pos;
}

typedef struct client {
  ockam_node *node;
  ockam_tcp *tcp;
  ockam_mailbox *app, *parked;
  ockam_route *service;
  char hub[64];
} client;

static void client_open(client *c, const char *hub) {
  snprintf(c->hub, sizeof c->hub, "%s", hub);
  assert_int_equal(ockam_node_create(&c->node), 0);
  assert_int_equal(ockam_tcp_create(c->node, NULL, &c->tcp), 0);
  assert_int_equal(ockam_tcp_connect(c->tcp, hub, 20000), 0);
  assert_int_equal(ockam_mailbox_create(c->node, "app", &c->app), 0);
  assert_int_equal(ockam_mailbox_create(c->node, "parked", &c->parked), 0);
  char text[96];
  snprintf(text, sizeof text, "1#%s;stream", hub);
  assert_int_equal(ockam_route_parse(text, &c->service), 0);
}

static void client_close(client *c) {
  ockam_route_free(c->service);
  ockam_mailbox_destroy(c->parked);
  ockam_mailbox_destroy(c->app);
  ockam_tcp_close(c->tcp);
  ockam_node_destroy(c->node);
}

/* stream_create Some(name); returns the reply, its protocol name in kind. */
static ockam_message *create_reply(client *c, const char *name, char *kind, size_t cap) {
  uint8_t body[300], req[400];
  size_t n = 0;
  body[n++] = 1;
  n += put_uint(body + n, strlen(name));
  memcpy(body + n, name, strlen(name));
  n += strlen(name);
  size_t len = payload(req, "stream_create", body, n);
  assert_int_equal(ockam_send(c->node, "app", c->service, req, len), 0);
  ockam_message *m = NULL;
  assert_int_equal(ockam_mailbox_receive(c->app, 30000, &m), 0);
  const uint8_t *b;
  size_t blen;
  reply_kind(m, kind, cap, &b, &blen);
  return m;
}

/* stream_create Some(name); returns the Init message (its return route is
 * the stream worker). */
static ockam_message *create(client *c, const char *name) {
  uint8_t body[300], req[400];
  size_t n = 0;
  body[n++] = 1;
  n += put_uint(body + n, strlen(name));
  memcpy(body + n, name, strlen(name));
  n += strlen(name);
  size_t len = payload(req, "stream_create", body, n);
  assert_int_equal(ockam_send(c->node, "app", c->service, req, len), 0);
  ockam_message *m = NULL;
  assert_int_equal(ockam_mailbox_receive(c->app, 30000, &m), 0);
  char kind[32];
  const uint8_t *b;
  size_t blen;
  reply_kind(m, kind, sizeof kind, &b, &blen);
  assert_string_equal(kind, "stream_create");
  return m;
}

/* stream_push; returns the confirmed index. */
static uint64_t push(client *c, const ockam_message *init, const char *data) {
  uint8_t body[300], req[400];
  size_t n = put_uint(body, 7);
  n += put_uint(body + n, strlen(data));
  memcpy(body + n, data, strlen(data));
  n += strlen(data);
  size_t len = payload(req, "stream_push", body, n);
  assert_int_equal(ockam_send(c->node, "app", ockam_message_return(init), req, len), 0);
  ockam_message *m = NULL;
  assert_int_equal(ockam_mailbox_receive(c->app, 30000, &m), 0);
  char kind[32];
  const uint8_t *b;
  size_t blen, pos = 0;
  reply_kind(m, kind, sizeof kind, &b, &blen);
  assert_string_equal(kind, "stream_push");
  assert_int_equal(get_uint(b, blen, &pos), 7); /* request id */
  assert_int_equal(get_uint(b, blen, &pos), 0); /* status OK */
  uint64_t index = get_uint(b, blen, &pos);
  ockam_message_free(m);
  return index;
}

/* A long-poll pull from `index`, answered to the "parked" mailbox. */
static void pull_wait(client *c, const ockam_message *init, uint64_t index) {
  uint8_t body[40], req[80];
  size_t n = put_uint(body, 9);
  n += put_uint(body + n, index);
  n += put_uint(body + n, 10);
  n += put_uint(body + n, 60000);
  size_t len = payload(req, "stream_pull", body, n);
  assert_int_equal(ockam_send(c->node, "parked", ockam_message_return(init), req, len), 0);
}

/* `ockam stream delete --hub HUB NAME`; its exit status. */
static int delete_cmd(const char *hub, const char *name) {
  char *argv[] = {OCKAM_BIN, "stream", "delete", "--hub", (char *)hub, (char *)name, NULL};
  tu_proc p;
  assert_int_equal(tu_spawn(&p, argv, false), 0);
  return tu_wait(&p, 60000);
}

static void test_delete_parked_and_restart(void **state) {
  (void)state;
  char *dir = tu_tempdir("stream-delete");
  assert_non_null(dir);
  tu_proc hub;
  char bound[64];
  assert_int_equal(start_hub(&hub, "lmdb", dir, NULL, bound, sizeof bound), 0);
  client c;
  client_open(&c, bound);

  ockam_message *init = create(&c, "doomed");
  assert_int_equal(push(&c, init, "one"), 0);
  assert_int_equal(push(&c, init, "two"), 1);
  ockam_message *keep = create(&c, "kept");
  assert_int_equal(push(&c, keep, "stays"), 0);
  /* Parked: nothing at index 2 yet. Give it time to reach the hub. */
  pull_wait(&c, init, 2);
  ockam_message *m = NULL;
  assert_int_equal(ockam_mailbox_receive(c.parked, 500, &m), OCKAM_ETIMEDOUT);

  assert_int_equal(delete_cmd(bound, "doomed"), 0);
  /* The parked pull is answered (an empty list) well before its deadline
   * (the hub's --long-poll-max, 30 s by default). */
  assert_int_equal(ockam_mailbox_receive(c.parked, 15000, &m), 0);
  char kind[32];
  const uint8_t *b;
  size_t blen, pos = 0;
  reply_kind(m, kind, sizeof kind, &b, &blen);
  assert_string_equal(kind, "stream_pull");
  assert_int_equal(get_uint(b, blen, &pos), 9);
  assert_int_equal(get_uint(b, blen, &pos), 0); /* no messages */
  ockam_message_free(m);
  /* Gone: a second deletion finds nothing. */
  assert_int_equal(delete_cmd(bound, "doomed"), 1);
  ockam_message_free(init);
  ockam_message_free(keep);
  client_close(&c);

  /* Still deleted after a restart on the same data; the other stream stays. */
  assert_int_equal(tu_term(&hub), 0);
  assert_int_equal(start_hub(&hub, "lmdb", dir, NULL, bound, sizeof bound), 0);
  assert_int_equal(delete_cmd(bound, "doomed"), 1);
  client_open(&c, bound);
  init = create(&c, "doomed");
  assert_int_equal(push(&c, init, "again"), 0); /* starts over at 0 */
  keep = create(&c, "kept");
  assert_int_equal(push(&c, keep, "more"), 1);
  ockam_message_free(init);
  ockam_message_free(keep);
  client_close(&c);

  /* Made anew after the deletion, it survives the next restart. */
  assert_int_equal(tu_term(&hub), 0);
  assert_int_equal(start_hub(&hub, "lmdb", dir, NULL, bound, sizeof bound), 0);
  assert_int_equal(delete_cmd(bound, "doomed"), 0);
  assert_int_equal(delete_cmd(bound, "kept"), 0);
  assert_int_equal(tu_term(&hub), 0);
  tu_rmrf(dir);
  free(dir);
}

/* With --max-streams-per-connection 2, a connection that created two streams
 * may create another once one of them is deleted, and once one expired. */
static void test_quota_released(void **state) {
  (void)state;
  tu_proc hub;
  char bound[64];
  const char *extra[] = {"--max-streams-per-connection", "2", "--stream-idle-expiry", "500ms",
                         NULL};
  assert_int_equal(start_hub(&hub, "memory", NULL, extra, bound, sizeof bound), 0);
  client c;
  client_open(&c, bound);
  char kind[32];
  ockam_message *a = create(&c, "quota-a");
  ockam_message *b = create(&c, "quota-b");
  assert_int_equal(push(&c, a, "keeps it from expiring"), 0);
  assert_int_equal(push(&c, b, "keeps it from expiring"), 0);
  ockam_message *m = create_reply(&c, "quota-c", kind, sizeof kind);
  assert_string_equal(kind, "error"); /* over the quota */
  ockam_message_free(m);
  /* An existing stream still answers Init. */
  m = create(&c, "quota-a");
  ockam_message_free(m);

  /* Deleted: its creator may create another. */
  assert_int_equal(delete_cmd(bound, "quota-b"), 0);
  m = create(&c, "quota-c"); /* left empty: it expires */
  ockam_message_free(m);
  m = create_reply(&c, "quota-d", kind, sizeof kind);
  assert_string_equal(kind, "error");
  ockam_message_free(m);

  /* Expired: likewise. Swept every 125 ms; allow for a busy machine. */
  uint64_t deadline = tu_now_ms() + 20000;
  for (;;) {
    m = create_reply(&c, "quota-d", kind, sizeof kind);
    bool created = strcmp(kind, "stream_create") == 0;
    ockam_message_free(m);
    if (created) break;
    assert_true(tu_now_ms() < deadline);
    usleep(200000);
  }
  assert_int_equal(delete_cmd(bound, "quota-c"), 1); /* it was the one that expired */
  ockam_message_free(a);
  ockam_message_free(b);
  client_close(&c);
  assert_int_equal(tu_term(&hub), 0);
}

static void test_idle_expiry(void **state) {
  (void)state;
  tu_proc hub;
  char bound[64];
  const char *extra[] = {"--stream-idle-expiry", "500ms", NULL};
  assert_int_equal(start_hub(&hub, "memory", NULL, extra, bound, sizeof bound), 0);
  client c;
  client_open(&c, bound);
  ockam_message *idle = create(&c, "idle");
  ockam_message *busy = create(&c, "busy");
  assert_int_equal(push(&c, busy, "not empty"), 0);
  ockam_message_free(idle);
  ockam_message_free(busy);
  client_close(&c);
  /* Swept every 125 ms: eight expiry periods is plenty even on a busy box. */
  sleep(4);
  assert_int_equal(delete_cmd(bound, "idle"), 1); /* expired */
  assert_int_equal(delete_cmd(bound, "busy"), 0); /* has a record: kept */
  assert_int_equal(tu_term(&hub), 0);
}

int main(void) {
  nats_url = getenv("OCKAM_TEST_NATS_URL");
  if (nats_url) printf("# on the JetStream server at %s\n", nats_url);
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_delete_parked_and_restart),
      cmocka_unit_test(test_idle_expiry),
      cmocka_unit_test(test_quota_released),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
