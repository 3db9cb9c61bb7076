/* The guide's scenario as separate processes over real TCP: a hub, the
 * responder (secure channel listener + echoer behind two streams) and the
 * initiator, in both start orders and with both durable and memory stores. */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "proxy.h"
#include "testutil.h"

#define RESPONDER OCKAM_EXAMPLES "/14-secure-channel-over-stream-over-cloud-node-responder"
#define INITIATOR OCKAM_EXAMPLES "/14-secure-channel-over-stream-over-cloud-node-initiator"
#define REPLY "Reply via secure channel via stream: Hello World!"

typedef struct guide {
  tu_proc hub, responder, initiator;
  char bound[64];
  char *dir;
} guide;

static void start_hub(guide *g, const char *store) {
  g->dir = tu_tempdir("guide");
  char data[512];
  snprintf(data, sizeof data, "%s/data", g->dir);
  assert_int_equal(tu_start_hub(&g->hub, 0, store, strcmp(store, "memory") ? data : NULL, NULL,
                                g->bound, sizeof g->bound),
                   0);
}

static void start_responder(guide *g, const char *hub) {
  char *argv[] = {(char *)RESPONDER, (char *)hub, NULL};
  assert_int_equal(tu_spawn(&g->responder, argv, true), 0);
  assert_int_equal(tu_expect_line(&g->responder, "Responder listening", NULL, 0, 10000), 0);
}

static void start_initiator(guide *g, const char *hub) {
  char *argv[] = {(char *)INITIATOR, (char *)hub, NULL};
  assert_int_equal(tu_spawn(&g->initiator, argv, true), 0);
}

static void finish(guide *g) {
  char line[512];
  assert_int_equal(tu_expect_line(&g->initiator, REPLY, line, sizeof line, 60000), 0);
  assert_int_equal(tu_wait(&g->initiator, 10000), 0);
  /* The echoer saw the plaintext once, through the channel. */
  assert_int_equal(
      tu_expect_line(&g->responder, "echoer: received 'Hello World!'", line, sizeof line, 5000), 0);
  assert_int_equal(tu_term(&g->responder), 0);
  assert_int_equal(tu_term(&g->hub), 0);
  tu_rmrf(g->dir);
  free(g->dir);
}

static void test_responder_first_lmdb(void **state) {
  (void)state;
  guide g;
  start_hub(&g, "lmdb");
  start_responder(&g, g.bound);
  start_initiator(&g, g.bound);
  finish(&g);
}

static void test_initiator_first_lmdb(void **state) {
  (void)state;
  guide g;
  start_hub(&g, "lmdb");
  start_initiator(&g, g.bound);
  /* The initiator's handshake waits in the stream while nobody listens. */
  sleep(3);
  start_responder(&g, g.bound);
  finish(&g);
}

static void test_initiator_first_memory(void **state) {
  (void)state;
  guide g;
  start_hub(&g, "memory");
  start_initiator(&g, g.bound);
  sleep(2);
  start_responder(&g, g.bound);
  finish(&g);
}

static void test_hub_sees_only_ciphertext(void **state) {
  (void)state;
  guide g;
  start_hub(&g, "lmdb");
  tu_proxy_opts rec = {.record = true};
  char pr[64], pi[64];
  tu_proxy *proxy_r = tu_proxy_start(g.bound, &rec, pr, sizeof pr);
  tu_proxy *proxy_i = tu_proxy_start(g.bound, &rec, pi, sizeof pi);
  start_responder(&g, pr);
  start_initiator(&g, pi);
  finish(&g);
  /* Stream names and handshakes cross the hub, the application data does not. */
  assert_true(tu_proxy_saw(proxy_i, "sc-test-a-b", 11));
  assert_true(tu_proxy_saw(proxy_r, "sc-test-b-a", 11));
  assert_false(tu_proxy_saw(proxy_i, "Hello World!", 12));
  assert_false(tu_proxy_saw(proxy_r, "Hello World!", 12));
  assert_false(tu_proxy_saw(proxy_i, "echoer", 6));
  assert_false(tu_proxy_saw(proxy_r, "echoer", 6));
  tu_proxy_stop(proxy_i);
  tu_proxy_stop(proxy_r);
}

int main(void) {
  signal(SIGPIPE, SIG_IGN);
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_responder_first_lmdb),
      cmocka_unit_test(test_initiator_first_lmdb),
      cmocka_unit_test(test_initiator_first_memory),
      cmocka_unit_test(test_hub_sees_only_ciphertext),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
