/* The one lifecycle rule of the public handles ("Handles" in ockam/node.h):
 * each handle is released by exactly one close, made before or after its
 * node's destruction; in between, calls that need the node fail with
 * OCKAM_ECLOSED. Every handle type is closed in both orders here; run under
 * AddressSanitizer (scripts/test --asan) a use-after-free or a leak fails the
 * test. Also: ockam_hub_stop() stops every part of the hub, and the forwarder
 * refuses an address buffer it could only truncate.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "ockam/ockam.h"
#include "test_support.h"

/* Generous bound for anything that must arrive; only reached on failure. */
#define ARRIVE_MS 10000
/* Where nothing must arrive. */
#define QUIET_MS 200

typedef struct handles {
  ockam_node *node;
  ockam_vault *vault;
  ockam_hub *hub;
  ockam_mailbox *app;
  ockam_channel_listener *listener;
  ockam_forwarder *forwarder;
  ockam_stream *stream;
  char bound[OCKAM_TCP_ADDRESS_CAP];
  char remote[OCKAM_FORWARDER_ADDRESS_CAP];
} handles;

static ockam_route *route_of(const char *text) {
  ockam_route *r;
  assert_int_equal(ockam_route_parse(text, &r), OCKAM_OK);
  return r;
}

/* A node running a hub (memory store) and, talking to that hub inside the
 * same node, one handle of every other kind. */
static void open_all(handles *h) {
  memset(h, 0, sizeof *h);
  assert_int_equal(ockam_node_create(&h->node), OCKAM_OK);
  assert_int_equal(ockam_vault_create("software", &h->vault), OCKAM_OK);
  ockam_hub_options o = {.listen = "127.0.0.1:0", .store = "memory"};
  assert_int_equal(ockam_hub_start(h->node, &o, h->bound, sizeof h->bound, &h->hub), OCKAM_OK);
  assert_int_equal(ockam_mailbox_create(h->node, "app", &h->app), OCKAM_OK);
  assert_int_equal(ockam_channel_listener_create(h->node, "scl", h->vault, NULL, &h->listener),
                   OCKAM_OK);
  ockam_route *local;
  assert_int_equal(ockam_route_new(&local), OCKAM_OK);
  assert_int_equal(ockam_forwarder_register(h->node, local, "app", ARRIVE_MS, h->remote,
                                            sizeof h->remote, &h->forwarder),
                   OCKAM_OK);
  assert_int_equal(ockam_stream_connect(h->node, local, "handles-a", "handles-a", NULL, &h->stream),
                   OCKAM_OK);
  ockam_route_free(local);
  assert_int_equal(ockam_stream_wait_ready(h->stream, ARRIVE_MS), OCKAM_OK);
}

static void send_str(handles *h, const char *route, const char *text) {
  ockam_route *r = route_of(route);
  ockam_message *m;
  assert_int_equal(ockam_message_new(&m), OCKAM_OK);
  assert_int_equal(ockam_route_append_route(ockam_message_onward_mut(m), r), OCKAM_OK);
  assert_int_equal(ockam_route_append_str(ockam_message_return_mut(m), "app"), OCKAM_OK);
  assert_int_equal(ockam_message_set_string(m, text, strlen(text)), OCKAM_OK);
  assert_int_equal(ockam_send_message(h->node, m), OCKAM_OK);
  ockam_route_free(r);
}

/* Whether `route` answers (echo, or a forwarder back to app) within ms. */
static bool answers(handles *h, const char *route, int64_t ms) {
  send_str(h, route, "ping");
  ockam_message *m;
  int rc = ockam_mailbox_receive(h->app, ms, &m);
  if (rc) return false;
  ockam_message_free(m);
  return true;
}

/* A blocking TCP connect to "ip:port": true when accepted. */
static bool tcp_accepts(const char *bound) {
  int fd = ts_dial(bound);
  if (fd >= 0) close(fd);
  return fd >= 0;
}

static void close_all(handles *h) {
  ockam_stream_close(h->stream);
  ockam_forwarder_close(h->forwarder);
  ockam_channel_listener_close(h->listener);
  ockam_mailbox_destroy(h->app);
  ockam_hub_stop(h->hub);
}

/* Every handle closed while the node lives, then the node destroyed. */
static void test_close_then_destroy(void **state) {
  (void)state;
  handles h;
  open_all(&h);
  assert_true(answers(&h, "echo_service", ARRIVE_MS));
  assert_true(answers(&h, h.remote, ARRIVE_MS));
  close_all(&h);
  ockam_node_destroy(h.node);
  ockam_vault_destroy(h.vault);
}

/* The node destroyed first: every handle is stopped with it, calls that need
 * the node say ECLOSED, and each close afterwards only frees. */
static void test_destroy_then_close(void **state) {
  (void)state;
  handles h;
  open_all(&h);
  /* One message stays queued in the mailbox across the destruction. */
  send_str(&h, "app", "kept");
  assert_int_equal(ockam_node_run_until(h.node, 50, NULL, NULL), OCKAM_OK);
  ockam_node_destroy(h.node);

  ockam_message *m;
  assert_int_equal(ockam_mailbox_receive(h.app, 0, &m), OCKAM_OK);
  ockam_message_free(m);
  assert_int_equal(ockam_mailbox_receive(h.app, 1000, &m), OCKAM_ECLOSED);
  assert_string_equal(ockam_mailbox_address(h.app), "");
  assert_int_equal(ockam_stream_wait_ready(h.stream, 0), OCKAM_ECLOSED);
  assert_int_equal(ockam_stream_flush(h.stream, 0), OCKAM_ECLOSED);
  ockam_stream_stats st;
  ockam_stream_get_stats(h.stream, &st);
  close_all(&h);
  ockam_vault_destroy(h.vault);
}

/* A TCP transport of its own, closed after its node, and one closed before. */
static void test_tcp_both_orders(void **state) {
  (void)state;
  ockam_node *node;
  ockam_tcp *tcp;
  char bound[OCKAM_TCP_ADDRESS_CAP];
  assert_int_equal(ockam_node_create(&node), OCKAM_OK);
  assert_int_equal(ockam_tcp_create(node, NULL, &tcp), OCKAM_OK);
  char tiny[8];
  assert_int_equal(ockam_tcp_listen(tcp, "127.0.0.1:0", tiny, sizeof tiny), OCKAM_ETOOSMALL);
  assert_int_equal(ockam_tcp_listen(tcp, "127.0.0.1:0", bound, sizeof bound), OCKAM_OK);
  assert_true(tcp_accepts(bound));
  ockam_node_destroy(node);
  assert_false(tcp_accepts(bound));
  assert_int_equal(ockam_tcp_listen(tcp, "127.0.0.1:0", bound, sizeof bound), OCKAM_ECLOSED);
  assert_int_equal(ockam_tcp_connect(tcp, bound, 0), OCKAM_ECLOSED);
  assert_false(ockam_tcp_is_connected(tcp, bound));
  ockam_tcp_stats st;
  ockam_tcp_get_stats(tcp, &st);
  ockam_tcp_close(tcp);

  /* Closed while the node runs: the listener goes at once, and the node can
   * have a new transport. */
  assert_int_equal(ockam_node_create(&node), OCKAM_OK);
  assert_int_equal(ockam_tcp_create(node, NULL, &tcp), OCKAM_OK);
  assert_int_equal(ockam_tcp_listen(tcp, "127.0.0.1:0", bound, sizeof bound), OCKAM_OK);
  ockam_tcp_close(tcp);
  assert_int_equal(ockam_node_run_until(node, 50, NULL, NULL), OCKAM_OK);
  assert_false(tcp_accepts(bound));
  assert_int_equal(ockam_tcp_create(node, NULL, &tcp), OCKAM_OK);
  ockam_node_destroy(node);
  ockam_tcp_close(tcp);
}

/* ockam_hub_stop() stops the listener, echo, the forwarding service and its
 * forwarders, and the stream services; the node and the user's own handles
 * keep working. */
static void test_hub_stop_stops_everything(void **state) {
  (void)state;
  handles h;
  open_all(&h);
  assert_true(tcp_accepts(h.bound));
  assert_true(answers(&h, "echo_service", ARRIVE_MS));
  assert_true(answers(&h, h.remote, ARRIVE_MS));
  ockam_hub_stop(h.hub);
  h.hub = NULL;
  assert_int_equal(ockam_node_run_until(h.node, 50, NULL, NULL), OCKAM_OK);
  assert_false(tcp_accepts(h.bound));
  assert_false(answers(&h, "echo_service", QUIET_MS));
  assert_false(answers(&h, h.remote, QUIET_MS));
  assert_false(answers(&h, "forwarding_service", QUIET_MS));
  assert_false(answers(&h, "stream", QUIET_MS));
  assert_false(answers(&h, "stream_index", QUIET_MS));
  /* The user's mailbox still works. */
  assert_true(answers(&h, "app", ARRIVE_MS));
  close_all(&h);
  ockam_node_destroy(h.node);
  ockam_vault_destroy(h.vault);
}

/* The forwarder never truncates the address the hub gives: a buffer that
 * could not hold every possible one is refused before anything is sent. */
static void test_forwarder_small_buffer(void **state) {
  (void)state;
  ockam_node *node;
  assert_int_equal(ockam_node_create(&node), OCKAM_OK);
  ockam_route *local;
  assert_int_equal(ockam_route_new(&local), OCKAM_OK);
  char small[OCKAM_FORWARDER_ADDRESS_CAP - 1];
  ockam_forwarder *f = NULL;
  assert_int_equal(ockam_forwarder_register(node, local, "app", 0, small, sizeof small, &f),
                   OCKAM_ETOOSMALL);
  assert_null(f);
  ockam_route_free(local);
  ockam_node_destroy(node);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_close_then_destroy),
      cmocka_unit_test(test_destroy_then_close),
      cmocka_unit_test(test_tcp_both_orders),
      cmocka_unit_test(test_hub_stop_stops_everything),
      cmocka_unit_test(test_forwarder_small_buffer),
  };
  return TS_RUN_TESTS(tests);
}
