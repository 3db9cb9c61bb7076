/* Resource limits of the hub against an anonymous client on real TCP: each
 * test runs the attack against the `ockam hub` binary and checks that what
 * the hub keeps stays bounded while an honest client is still served. */
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

/* Generous: the machine running the tests may be loaded (and ASan is slow). */
#define REPLY_TIMEOUT_MS 60000

/* Growth of VmRSS allowed across a flood. Before the identity listener capped
 * its waiting ends, IDENTITY_FLOOD requests grew the hub by ~35 MB. Under
 * AddressSanitizer (quarantine, shadow memory) RSS says little; the bound
 * there only catches gross growth. */
/* glibc keeps freed heap resident; the hub runs with these tunables so that
 * RSS follows live memory (as in badinput_test.c). */
#define HUB_MALLOC_TUNABLES "glibc.malloc.mmap_threshold=32768:glibc.malloc.trim_threshold=131072"
#define IDENTITY_FLOOD 20000
#if defined(__SANITIZE_ADDRESS__)
#define FLOOD_SLACK_KB (400L * 1024)
#else
#define FLOOD_SLACK_KB (20L * 1024)
#endif

/* CreateResponderChannelMessage{m1: a fresh 32-byte key, Some(0#"cb")}. */
static size_t channel_request(uint8_t *out, size_t cap) {
  uint8_t p[40];
  p[0] = 32;
  for (size_t k = 1; k <= 32; k++) p[k] = (uint8_t)rand();
  p[33] = 1;
  p[34] = 0;
  p[35] = 2;
  p[36] = 'c';
  p[37] = 'b';
  return tu_frame(out, cap, OCKAM_HUB_IDENTITY_LISTENER, p, 38);
}

/* Identity channel requests that never go on, each with a new key: the hub
 * keeps a bounded number of waiting ends (OCKAM_IDENTITY_MAX_PENDING), not
 * one per request for the whole exchange timeout. */
static void test_identity_request_flood(void **state) {
  (void)state;
  tu_proc hub;
  char bound[64];
  assert_int_equal(setenv("GLIBC_TUNABLES", HUB_MALLOC_TUNABLES, 1), 0);
  assert_int_equal(tu_start_hub(&hub, 0, "memory", NULL, NULL, bound, sizeof bound), 0);
  assert_int_equal(unsetenv("GLIBC_TUNABLES"), 0);
  int good = tu_connect(bound, 5000);
  assert_true(good >= 0);
  tu_check_echo(good, "warm up", REPLY_TIMEOUT_MS);
  int raw = tu_connect(bound, 5000);
  assert_true(raw >= 0);
  uint8_t b[256];
  /* A first round fills the caps; the second must not grow the hub. */
  for (int i = 0; i < 2048; i++) {
    size_t n = channel_request(b, sizeof b);
    assert_int_equal(tu_send_all(raw, b, n), 0);
    tu_discard(raw);
  }
  tu_check_echo(good, "after the first round", REPLY_TIMEOUT_MS);
  long rss0 = tu_rss_kb(hub.pid);
  assert_true(rss0 > 0);
  for (int i = 0; i < IDENTITY_FLOOD; i++) {
    size_t n = channel_request(b, sizeof b);
    assert_int_equal(tu_send_all(raw, b, n), 0);
    tu_discard(raw);
  }
  /* The hub has read everything once it answers the honest client. */
  tu_check_echo(good, "still served", REPLY_TIMEOUT_MS);
  long rss1 = tu_rss_kb(hub.pid);
  printf("# hub before the identity flood: %ld kB; after %d requests: %ld kB\n", rss0,
         IDENTITY_FLOOD, rss1);
  assert_true(rss1 < rss0 + FLOOD_SLACK_KB);
  close(raw);
  close(good);
  assert_int_equal(tu_term(&hub), 0);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_identity_request_flood),
  };
  return TU_RUN_TESTS(tests);
}
