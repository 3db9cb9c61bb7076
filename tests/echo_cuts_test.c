/* The guide's scenario under connection cuts: the responder example (secure
 * channel listener + echoer, in its own process) and an initiator in this
 * process each reach the LMDB hub through a proxy; after the channel is up,
 * the initiator sends ECHOES messages through the channel one after the
 * other, each waiting for its echo. The same run is made without cuts and with
 * every connection of a proxy cut every 0.5-2 s. Every echo must come back
 * exactly once and in order; the test prints the longest gap between
 * consecutive echoes and the total time of both runs (figures, not asserts:
 * the bounds below only catch a hang). Client defaults are used, so a pull
 * lost with a connection would cost its 20 s long-poll deadline. After each
 * run the hub's LMDB store is read back: every stream must hold each channel
 * message exactly once (no two identical records: every channel message is
 * encrypted under its own counter), which the idempotent producers ensure
 * through cuts and kill -9 alike. */
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

#include "ockam/ockam.h"
#include "proxy.h"
#include "storage.h"
#include "testutil.h"

#define RESPONDER OCKAM_EXAMPLES "/14-secure-channel-over-stream-over-cloud-node-responder"
#define ECHOES 300
#define ECHOES_KILLS 1000
#define KILLS 3
#define DOWN_MS 2000

typedef enum mode { MODE_PLAIN, MODE_CUTS, MODE_KILLS } mode;

typedef struct cutter {
  tu_proxy *proxy[2];
  ockam_node *node;
  ockam_timer *timer;
  unsigned cuts;
} cutter;

static void cut_cb(void *arg) {
  cutter *c = arg;
  c->timer = NULL;
  tu_proxy_cut_all(c->proxy[rand() % 2]);
  c->cuts++;
  if (ockam_timer_start(c->node, 500 + (uint64_t)(rand() % 1500), 0, cut_cb, c, &c->timer))
    c->timer = NULL;
}

typedef struct figures {
  uint64_t total_ms, longest_gap_ms;
  unsigned cuts;
} figures;

static int record_cmp(const void *a, const void *b) {
  const ockami_record *x = *(const ockami_record *const *)a, *y = *(const ockami_record *const *)b;
  if (x->len != y->len) return x->len < y->len ? -1 : 1;
  return memcmp(x->data, y->data, x->len);
}

/* Reads every stream of a stopped hub's LMDB store; fails if any holds two
 * identical records. Returns the number of records. */
static uint64_t check_stores_once(const char *data_dir) {
  ockami_store_options so = {.dir = data_dir};
  void *be = NULL;
  assert_int_equal(ockami_store_lmdb.open(&so, &be), 0);
  ockami_stream_info infos[16];
  size_t n = 0;
  assert_int_equal(ockami_store_lmdb.stream_list(be, NULL, 0, infos, 16, &n), 0);
  uint64_t total = 0;
  for (size_t i = 0; i < n; i++) {
    const char *name = (const char *)infos[i].name;
    size_t name_len = infos[i].name_len;
    ockami_records r = {0};
    for (uint64_t from = infos[i].first; from < infos[i].next;) {
      size_t before = r.count;
      assert_int_equal(ockami_store_lmdb.read(be, name, name_len, from, 1000, 0, &r), 0);
      assert_true(r.count > before);
      from = r.items[r.count - 1].index + 1;
    }
    const ockami_record **sorted = malloc((r.count ? r.count : 1) * sizeof *sorted);
    assert_non_null(sorted);
    for (size_t k = 0; k < r.count; k++) sorted[k] = &r.items[k];
    qsort(sorted, r.count, sizeof *sorted, record_cmp);
    size_t repeated = 0;
    for (size_t k = 1; k < r.count; k++) repeated += record_cmp(&sorted[k - 1], &sorted[k]) == 0;
    printf("# stream %.*s: %zu records, %zu repeated\n", (int)name_len, name, r.count, repeated);
    assert_int_equal(repeated, 0);
    total += r.count;
    free(sorted);
    ockami_records_free(&r);
  }
  ockami_store_lmdb.close(be);
  return total;
}

static void run(mode md, figures *out) {
  bool cut = md == MODE_CUTS;
  int echoes = md == MODE_KILLS ? ECHOES_KILLS : ECHOES;
  char *dir = tu_tempdir("echo-cuts");
  char data[512], bound[64], via_r[64], via_i[64], hop[96];
  snprintf(data, sizeof data, "%s/data", dir);
  tu_proc hub, responder;
  int port = tu_free_port();
  assert_int_equal(tu_start_hub(&hub, port, "lmdb", data, NULL, bound, sizeof bound), 0);
  tu_proxy_opts po = {.seed = 7};
  tu_proxy *pr = tu_proxy_start(bound, &po, via_r, sizeof via_r);
  tu_proxy *pi = tu_proxy_start(bound, &po, via_i, sizeof via_i);
  assert_non_null(pr);
  assert_non_null(pi);
  /* Kills: both nodes talk to the hub directly (it comes back on its port). */
  if (md == MODE_KILLS) {
    snprintf(via_r, sizeof via_r, "%s", bound);
    snprintf(via_i, sizeof via_i, "%s", bound);
  }
  char *argv[] = {(char *)RESPONDER, via_r, NULL};
  assert_int_equal(tu_spawn(&responder, argv, true), 0);
  assert_int_equal(tu_expect_line(&responder, "Responder listening", NULL, 0, 20000), 0);

  ockam_node *node;
  ockam_tcp *tcp;
  ockam_vault *vault;
  ockam_mailbox *app;
  ockam_route *r;
  ockam_stream *s;
  assert_int_equal(ockam_node_create(&node), 0);
  assert_int_equal(ockam_tcp_create(node, NULL, &tcp), 0);
  assert_int_equal(ockam_vault_create("software", &vault), 0);
  assert_int_equal(ockam_mailbox_create(node, "app", &app), 0);
  assert_int_equal(ockam_tcp_connect(tcp, via_i, 10000), 0);
  snprintf(hop, sizeof hop, "1#%s", via_i);
  assert_int_equal(ockam_route_parse(hop, &r), 0);
  assert_int_equal(ockam_stream_connect(node, r, "sc-test-a-b", "sc-test-b-a", NULL, &s), 0);
  ockam_route_free(r);
  assert_int_equal(ockam_route_new(&r), 0);
  assert_int_equal(ockam_route_append_str(r, ockam_stream_tx_address(s)), 0);
  assert_int_equal(ockam_route_append_str(r, "secure_channel_listener"), 0);
  char channel[64];
  assert_int_equal(ockam_channel_create(node, r, vault, NULL, 60000, channel, sizeof channel), 0);
  ockam_route_free(r);
  assert_int_equal(ockam_route_new(&r), 0);
  assert_int_equal(ockam_route_append_str(r, channel), 0);
  assert_int_equal(ockam_route_append_str(r, "echoer"), 0);

  cutter c = {{pr, pi}, node, NULL, 0};
  srand(11);
  if (cut) assert_int_equal(ockam_timer_start(node, 500, 0, cut_cb, &c, &c.timer), 0);
  uint64_t t0 = tu_now_ms(), last = t0, longest = 0;
  int kills = 0;
  for (int i = 0; i < echoes; i++) {
    char text[32];
    int n = snprintf(text, sizeof text, "echo %d", i);
    uint8_t payload[33];
    payload[0] = (uint8_t)n;
    memcpy(payload + 1, text, (size_t)n);
    assert_int_equal(ockam_send(node, "app", r, payload, (size_t)n + 1), 0);
    if (md == MODE_KILLS && kills < KILLS && i == (kills + 1) * echoes / (KILLS + 1)) {
      /* The hub dies with this echo in flight and is back DOWN_MS later. */
      assert_int_equal(ockam_node_run_until(node, 5, NULL, NULL), 0);
      tu_kill(&hub, SIGKILL);
      assert_int_equal(ockam_node_run_until(node, DOWN_MS, NULL, NULL), 0);
      assert_int_equal(tu_start_hub(&hub, port, "lmdb", data, NULL, bound, sizeof bound), 0);
      kills++;
    }
    /* Keep the responder's stdout pipe from filling up (it logs each echo). */
    char line[512];
    while (tu_read_line(&responder, line, sizeof line, 1) == 0) {
    }
    ockam_message *m = NULL;
    int rc = ockam_mailbox_receive(app, 90000, &m);
    if (rc) fprintf(stderr, "echo %d: %s\n", i, ockam_errname(rc));
    assert_int_equal(rc, 0);
    const char *got;
    size_t len;
    assert_int_equal(ockam_message_get_string(m, &got, &len), 0);
    /* In order and exactly once: the reply to this very message, no other. */
    if (len != (size_t)n || memcmp(got, text, len))
      fprintf(stderr, "expected '%s', got '%.*s'\n", text, (int)len, got);
    assert_int_equal(len, (size_t)n);
    assert_memory_equal(got, text, len);
    ockam_message_free(m);
    uint64_t now = tu_now_ms();
    if (now - last > longest) longest = now - last;
    last = now;
  }
  out->total_ms = tu_now_ms() - t0;
  out->longest_gap_ms = longest;
  if (c.timer) ockam_timer_stop(c.timer);
  out->cuts = c.cuts;
  /* No late repeat of any echo. */
  ockam_message *m = NULL;
  assert_int_equal(ockam_mailbox_receive(app, 1500, &m), OCKAM_ETIMEDOUT);
  printf("# %s: %d echoes in %llu ms, longest gap %llu ms, %u cuts, %d hub kills (down %d ms)\n",
         md == MODE_CUTS    ? "cutting proxies"
         : md == MODE_KILLS ? "hub kills"
                            : "no cuts",
         echoes, (unsigned long long)out->total_ms, (unsigned long long)longest, c.cuts, kills,
         DOWN_MS);
  if (md == MODE_KILLS) assert_int_equal(kills, KILLS);
  fflush(stdout);
  ockam_route_free(r);
  ockam_stream_close(s);
  ockam_mailbox_destroy(app);
  ockam_tcp_close(tcp);
  ockam_node_destroy(node);
  ockam_vault_destroy(vault);
  assert_int_equal(tu_term(&responder), 0);
  tu_proxy_stop(pr);
  tu_proxy_stop(pi);
  assert_int_equal(tu_term(&hub), 0);
  /* Both directions of every echo, each stored once (plus the handshake). */
  assert_true(check_stores_once(data) >= 2 * (uint64_t)echoes);
  tu_rmrf(dir);
  free(dir);
}

static void test_echoes_through_cuts(void **state) {
  (void)state;
  figures plain, cut;
  run(MODE_PLAIN, &plain);
  run(MODE_CUTS, &cut);
  printf("# longest gap %llu ms with cuts vs %llu ms without; total %llu ms vs %llu ms (%.2fx)\n",
         (unsigned long long)cut.longest_gap_ms, (unsigned long long)plain.longest_gap_ms,
         (unsigned long long)cut.total_ms, (unsigned long long)plain.total_ms,
         plain.total_ms ? (double)cut.total_ms / (double)plain.total_ms : 0.0);
  assert_true(cut.cuts >= 2 || cut.total_ms < 2000);
}

/* kill -9 of the LMDB hub, back 2 s later, three times: every echo arrives
 * exactly once and in order; the longest gap (about the down time plus the
 * reconnect) is printed. */
static void test_echoes_through_hub_kills(void **state) {
  (void)state;
  figures f;
  run(MODE_KILLS, &f);
  printf("# hub kills: longest gap %llu ms (hub down %d ms each time)\n",
         (unsigned long long)f.longest_gap_ms, DOWN_MS);
}

int main(void) {
  signal(SIGPIPE, SIG_IGN);
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_echoes_through_cuts),
      cmocka_unit_test(test_echoes_through_hub_kills),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
