/* Hub statistics: the latency histogram, and the `status` service of a hub
 * (memory store) inside this process: documents after pushes and an index
 * save, error replies, a request whose reply would loop back into the hub. */
#include <jansson.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "buf.h"
#include "ockam/ockam.h"
#include "stats.h"
#include "stream_proto.h"

#define ARRIVE_MS 10000
#define QUIET_MS 300

static void test_histogram(void **state) {
  (void)state;
  ockami_histogram h = {0};
  assert_int_equal(ockami_histogram_quantile_us(&h, 0.5), 0);
  for (int i = 0; i < 90; i++) ockami_histogram_observe(&h, 80);  /* <= 100 µs */
  for (int i = 0; i < 10; i++) ockami_histogram_observe(&h, 900); /* <= 1 ms */
  ockami_histogram_observe(&h, 10000000);                         /* +Inf */
  assert_int_equal(h.count, 101);
  assert_int_equal(h.counts[0], 90);
  assert_int_equal(h.counts[3], 10);
  assert_int_equal(h.counts[OCKAMI_LATENCY_BUCKETS], 1);
  assert_int_equal(h.sum_us, 90 * 80 + 10 * 900 + 10000000);
  assert_true(ockami_histogram_quantile_us(&h, 0.5) <= 100);
  uint64_t p95 = ockami_histogram_quantile_us(&h, 0.95);
  assert_true(p95 > 500 && p95 <= 1000);
  assert_int_equal(ockami_histogram_quantile_us(&h, 1.0),
                   ockami_latency_bounds_us[OCKAMI_LATENCY_BUCKETS - 1]);
}

typedef struct fixture {
  ockam_node *node;
  ockam_hub *hub;
  ockam_mailbox *app;
  ockam_route *status;
} fixture;

static ockam_route *route_of(const char *text) {
  ockam_route *r;
  assert_int_equal(ockam_route_parse(text, &r), OCKAM_OK);
  return r;
}

static ockam_message *receive(fixture *f) {
  ockam_message *m = NULL;
  assert_int_equal(ockam_mailbox_receive(f->app, ARRIVE_MS, &m), OCKAM_OK);
  return m;
}

static void send_buf(fixture *f, const ockam_route *to, ockami_buf *b) {
  assert_int_equal(ockam_send(f->node, "app", to, b->data, b->len), OCKAM_OK);
  b->len = 0;
}

/* Sends a request to `status` and returns the parsed reply. */
static json_t *ask(fixture *f, const char *req, size_t len) {
  assert_int_equal(ockam_send(f->node, "app", f->status, (const uint8_t *)req, len), OCKAM_OK);
  ockam_message *m = receive(f);
  size_t plen;
  const uint8_t *p = ockam_message_payload(m, &plen);
  json_error_t err;
  json_t *doc = json_loadb((const char *)p, plen, 0, &err);
  ockam_message_free(m);
  assert_non_null(doc);
  return doc;
}

static const char *error_of(const json_t *doc) {
  return json_string_value(json_object_get(doc, "error"));
}

static json_int_t at(const json_t *o, const char *a, const char *b) {
  const json_t *v = json_object_get(o, a);
  if (b) v = json_object_get(v, b);
  assert_true(json_is_integer(v));
  return json_integer_value(v);
}

static void test_status_service(void **state) {
  (void)state;
  fixture f = {0};
  assert_int_equal(ockam_node_create(&f.node), OCKAM_OK);
  ockam_hub_options o = {.listen = "127.0.0.1:0", .store = "memory"};
  char bound[OCKAM_TCP_ADDRESS_CAP];
  assert_int_equal(ockam_hub_start(f.node, &o, bound, sizeof bound, &f.hub), OCKAM_OK);
  assert_int_equal(ockam_mailbox_create(f.node, "app", &f.app), OCKAM_OK);
  f.status = route_of("status");

  /* A stream with three messages and one consumer at index 2. */
  ockami_buf b = {0};
  ockam_route *svc = route_of("stream");
  assert_int_equal(ockami_sp_encode_create(&b, "alpha", 5), OCKAM_OK);
  send_buf(&f, svc, &b);
  ockam_message *init = receive(&f);
  ockam_route *worker = NULL;
  assert_int_equal(ockam_route_copy(ockam_message_return(init), &worker), OCKAM_OK);
  ockam_message_free(init);
  for (uint64_t i = 0; i < 3; i++) {
    assert_int_equal(ockami_sp_encode_push(&b, i, (const uint8_t *)"hello", 5), OCKAM_OK);
    send_buf(&f, worker, &b);
  }
  for (int i = 0; i < 3; i++) ockam_message_free(receive(&f));
  ockam_route *index = route_of("stream_index");
  assert_int_equal(ockami_sp_encode_index_save(&b, "c1", 2, "alpha", 5, 2), OCKAM_OK);
  send_buf(&f, index, &b);

  json_t *doc = ask(&f, "{\"get\":\"stream\",\"name\":\"alpha\"}", 31);
  json_t *st = json_object_get(doc, "stream");
  assert_non_null(st);
  assert_string_equal(json_string_value(json_object_get(st, "name")), "alpha");
  assert_int_equal(at(st, "messages", NULL), 3);
  assert_int_equal(at(st, "bytes", NULL), 15);
  assert_int_equal(at(st, "first_index", NULL), 0);
  assert_int_equal(at(st, "last_index", NULL), 2);
  assert_int_equal(at(st, "pushes", NULL), 3);
  assert_int_equal(at(st, "confirms", NULL), 3);
  json_t *cs = json_object_get(st, "consumers");
  assert_int_equal(json_array_size(cs), 1);
  assert_string_equal(json_string_value(json_object_get(json_array_get(cs, 0), "client")), "c1");
  assert_int_equal(at(json_array_get(cs, 0), "index", NULL), 2);
  assert_int_equal(at(json_array_get(cs, 0), "lag", NULL), 1);
  json_decref(doc);

  doc = ask(&f, "{\"get\":\"streams\"}", 17);
  json_t *list = json_object_get(doc, "list");
  assert_int_equal(json_array_size(list), 1);
  assert_int_equal(at(json_array_get(list, 0), "consumers", NULL), 1);
  assert_null(json_object_get(doc, "next_after_hex"));
  json_decref(doc);
  /* The page after "alpha" is empty. */
  doc = ask(&f, "{\"get\":\"streams\",\"after_hex\":\"616c706861\"}", 42);
  assert_int_equal(json_array_size(json_object_get(doc, "list")), 0);
  json_decref(doc);

  doc = ask(&f, "", 0); /* empty = hub */
  assert_int_equal(at(doc, "totals", "pushes"), 3);
  assert_int_equal(at(doc, "totals", "confirms"), 3);
  assert_int_equal(at(doc, "totals", "denied"), 0);
  assert_int_equal(at(doc, "streams", "count"), 1);
  assert_int_equal(at(doc, "streams", "storage_bytes"), 15);
  assert_int_equal(at(doc, "commit_latency", "count"), 3);
  json_decref(doc);

  /* Refusals. */
  static const struct {
    const char *req, *why;
  } bad[] = {
      {"[1]", "Invalid request"},
      {"{\"get\":", "Invalid request"},
      {"{\"get\":\"everything\"}", "Unknown request"},
      {"{\"get\":\"stream\"}", "Missing name"},
      {"{\"get\":\"stream\",\"name\":\"\"}", "Invalid name"},
      {"{\"get\":\"stream\",\"name_hex\":\"6\"}", "Invalid name"},
      {"{\"get\":\"stream\",\"name_hex\":\"zz\"}", "Invalid name"},
      {"{\"get\":\"stream\",\"name\":\"beta\"}", "Stream not found"},
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    doc = ask(&f, bad[i].req, strlen(bad[i].req));
    assert_non_null(error_of(doc));
    assert_string_equal(error_of(doc), bad[i].why);
    json_decref(doc);
  }
  char big[2048];
  memset(big, ' ', sizeof big);
  doc = ask(&f, big, sizeof big);
  assert_string_equal(error_of(doc), "Request too large");
  json_decref(doc);

  /* A request "from" status itself (its reply would come back as a
   * request) and one whose reply would go to echo_service are dropped;
   * the next request gets exactly one answer. */
  assert_int_equal(ockam_send(f.node, "status", f.status, (const uint8_t *)"{}", 2), OCKAM_OK);
  assert_int_equal(ockam_send(f.node, "echo_service", f.status, (const uint8_t *)"x", 1), OCKAM_OK);
  doc = ask(&f, "{\"get\":\"hub\"}", 13);
  assert_null(error_of(doc));
  json_decref(doc);
  ockam_message *extra = NULL;
  assert_int_equal(ockam_mailbox_receive(f.app, QUIET_MS, &extra), OCKAM_ETIMEDOUT);

  ockami_buf_free(&b);
  ockam_route_free(svc);
  ockam_route_free(index);
  ockam_route_free(worker);
  ockam_route_free(f.status);
  ockam_mailbox_destroy(f.app);
  ockam_hub_stop(f.hub);
  ockam_node_destroy(f.node);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_histogram),
      cmocka_unit_test(test_status_service),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
