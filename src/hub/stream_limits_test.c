/* Hub stream limits that hold across a restart (harness:
 * stream_service_test_util.c, lmdb store). */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "buf.h"
#include "ockam/hub.h"
#include "ockam/node.h"
#include "ockam/tcp.h"
#include "stream_internal.h"
#include "stream_service_test_util.h"

/* Streams stored by a hub with a higher --max-streams: after a restart with
 * a lower one, only that many are served; the others stay stored. */
static void test_restore_respects_max_streams(void **state) {
  fixture *fx = *state;
  start(fx);
  client *c = &fx->cl;
  char w[3][33];
  const char *names[3] = {"kept-a", "kept-b", "over"};
  for (int i = 0; i < 3; i++) {
    create_stream(c, "stream", sn(names[i]), w[i], NULL, 0);
    push_numbered(c, w[i], 0, 1);
  }
  char bound[64];
  snprintf(bound, sizeof bound, "%s", fx->hub.bound);
  hub_stop(&fx->hub);
  fx->opts.listen = bound;
  fx->opts.max_streams = 2;
  assert_int_equal(hub_start(&fx->hub, &fx->opts), 0);
  /* The first two answer at their worker addresses (the client reconnects). */
  reply r;
  for (int tries = 0;; tries++) {
    send_pull(c, w[0], 1, 0, 8, 0);
    if (client_recv(c, 500, &r) == 0) break;
    if (tries == 50) fail_msg("no answer after the restart");
  }
  reply_free(&r);
  while (client_recv(c, QUIET_MS, &r) == 0) reply_free(&r);
  send_pull(c, w[1], 2, 0, 8, 0);
  expect_pulled(c, w[1], 2, 0, 1);
  /* The third is past the limit: no worker, and no new one by its name. */
  send_pull(c, w[2], 3, 0, 8, 0);
  expect_quiet(c);
  assert_int_equal(ockami_sp_encode_create(&c->b, sn(names[2]), strlen(sn(names[2]))), 0);
  client_send(c, "stream");
  expect_error(c, "stream", "Stream limit reached");
}

int main(void) {
  if (test_init()) return 1;
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_restore_respects_max_streams, setup_lmdb, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
