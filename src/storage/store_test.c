/* The asynchronous store (store.c) on a real libuv loop, over every backend:
 * group commit, completion order per stream, callbacks never inside a submit,
 * close draining the queue (also from inside a callback), refusals, and the
 * queued delete and list requests. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <uv.h>

#include <cmocka.h>

#include "storage_test_util.h"

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void test_async_many(void **state) {
  fixture *fx = *state;
  enum { N = 10000, LEN = 100 };
  fx->opt.no_sync = false; /* measure durable commits */
  uv_loop_t loop;
  actx c = {.order_ok = true};
  async_open(fx, &loop, &c);
  name n[ASYNC_STREAMS];
  async_names(fx, n);
  acall *calls = calloc(N + 8, sizeof *calls);
  assert_non_null(calls);
  uint8_t data[LEN];
  size_t seq[ASYNC_STREAMS] = {0};
  double t0 = now_s();
  c.in_submit = true;
  for (size_t i = 0; i < N; i++) {
    unsigned s = (unsigned)(i % ASYNC_STREAMS);
    calls[i] = (acall){&c, s, seq[s]++, 0};
    fill(data, LEN, i);
    assert_int_equal(
        ockami_store_append(c.store, n[s].s, n[s].len, data, LEN, on_append, &calls[i]), OCKAM_OK);
  }
  c.in_submit = false;
  assert_int_equal(uv_run(&loop, UV_RUN_DEFAULT), 0);
  double dt = now_s() - t0;
  assert_int_equal(c.appended, N);
  assert_int_equal(c.failed, 0);
  assert_true(c.order_ok);
  for (unsigned s = 0; s < ASYNC_STREAMS; s++) assert_int_equal(c.next[s], N / ASYNC_STREAMS);
  ockami_store_stats st;
  ockami_store_get_stats(c.store, &st);
  assert_int_equal(st.appends, N);
  assert_true(st.commits <= N);
  /* Appends queue up while a durable commit runs, so a persistent backend
   * needs far fewer commits than appends; a memory commit is too quick for
   * much to queue behind it. */
  if (fx->bc->persistent) assert_true(st.commits * 20 <= N);
  print_message(
      "    %s: %d x %d B %sappends in %.1f ms = %.0f records/s, %llu commits, "
      "largest group %u\n",
      fx->bc->name, N, LEN, fx->bc->persistent ? "durable " : "", dt * 1e3, N / dt,
      (unsigned long long)st.commits, st.max_group);

  /* reads and index ops, in FIFO order with the rest */
  calls[N] = (acall){&c, 0, seq[0]++, 1024};
  calls[N + 1] = (acall){&c, 0, seq[0]++, 0};
  calls[N + 2] = (acall){&c, 0, seq[0]++, 0};
  calls[N + 3] = (acall){&c, 0, seq[0]++, 0};
  c.in_submit = true;
  assert_int_equal(ockami_store_read(c.store, n[0].s, n[0].len, 0, 1024, 0, on_read, &calls[N]),
                   OCKAM_OK);
  assert_int_equal(
      ockami_store_index_get(c.store, "cl", 2, n[0].s, n[0].len, on_index, &calls[N + 1]),
      OCKAM_OK);
  c.in_submit = false;
  assert_int_equal(uv_run(&loop, UV_RUN_DEFAULT), 0);
  assert_int_equal(c.reads, 1);
  assert_int_equal(c.read_count, 1024);
  assert_int_equal(c.indexes, 1);
  assert_false(c.found);
  c.in_submit = true;
  assert_int_equal(
      ockami_store_index_save(c.store, "cl", 2, n[0].s, n[0].len, 42, on_done, &calls[N + 2]),
      OCKAM_OK);
  assert_int_equal(
      ockami_store_index_get(c.store, "cl", 2, n[0].s, n[0].len, on_index, &calls[N + 3]),
      OCKAM_OK);
  c.in_submit = false;
  assert_int_equal(uv_run(&loop, UV_RUN_DEFAULT), 0);
  assert_int_equal(c.done, 1);
  assert_int_equal(c.last_status, OCKAM_OK);
  assert_true(c.found);
  assert_int_equal(c.index, 42);
  assert_true(c.order_ok);
  ockami_store_get_stats(c.store, &st);
  assert_int_equal(st.reads, 1);
  assert_int_equal(st.index_ops, 3);
  assert_int_equal(st.queued, 0);

  async_close(&loop, &c);
  free(calls);
}

/* Reads, index ops and appends of several streams interleaved: each stream
 * completes in submission order, a read sees every append submitted before
 * it, and appends still share commits. */
static void test_async_mixed_order(void **state) {
  fixture *fx = *state;
  enum { N = 2000 };
  uv_loop_t loop;
  actx c = {.order_ok = true};
  async_open(fx, &loop, &c);
  name n[ASYNC_STREAMS];
  async_names(fx, n);
  acall *calls = calloc(4 * N, sizeof *calls);
  assert_non_null(calls);
  size_t k = 0, seq[ASYNC_STREAMS] = {0}, appended0 = 0;
  c.in_submit = true;
  for (size_t i = 0; i < N; i++) {
    calls[k] = (acall){&c, 0, seq[0]++, 0};
    assert_int_equal(ockami_store_append(c.store, n[0].s, n[0].len, (const uint8_t *)"a", 1,
                                         on_append, &calls[k++]),
                     0);
    appended0++;
    if (i % 10 == 0) {
      calls[k] = (acall){&c, 0, seq[0]++, appended0};
      assert_int_equal(
          ockami_store_read(c.store, n[0].s, n[0].len, 0, 100000, 0, on_read, &calls[k++]), 0);
    }
    calls[k] = (acall){&c, 1, seq[1]++, 0};
    assert_int_equal(ockami_store_append(c.store, n[1].s, n[1].len, (const uint8_t *)"b", 1,
                                         on_append, &calls[k++]),
                     0);
    calls[k] = (acall){&c, 2, seq[2]++, 0};
    assert_int_equal(
        ockami_store_index_save(c.store, "cl", 2, n[2].s, n[2].len, i, on_done, &calls[k++]), 0);
  }
  c.in_submit = false;
  assert_int_equal(uv_run(&loop, UV_RUN_DEFAULT), 0);
  assert_true(c.order_ok);
  assert_int_equal(c.appended, 2 * N);
  assert_int_equal(c.failed, 0);
  assert_int_equal(c.reads, N / 10);
  assert_int_equal(c.done, N);
  ockami_store_stats st;
  ockami_store_get_stats(c.store, &st);
  assert_int_equal(st.appends, 2 * N);
  if (fx->bc->persistent) assert_true(st.commits * 5 <= st.appends);
  async_close(&loop, &c);
  free(calls);
}

static void test_async_close_drains(void **state) {
  fixture *fx = *state;
  enum { N = 1000 };
  uv_loop_t loop;
  actx c = {.order_ok = true};
  async_open(fx, &loop, &c);
  name n[ASYNC_STREAMS];
  async_names(fx, n);
  static acall calls[N + 2];
  for (size_t i = 0; i < N; i++) {
    calls[i] = (acall){&c, 0, i, 0};
    assert_int_equal(ockami_store_append(c.store, n[0].s, n[0].len, (const uint8_t *)"d", 1,
                                         on_append, &calls[i]),
                     0);
  }
  calls[N] = (acall){&c, 0, N, 0};
  assert_int_equal(ockami_store_stream_create(c.store, n[1].s, n[1].len, on_done, &calls[N]), 0);
  /* close without running the loop: every callback runs before it returns */
  ockami_store_close(c.store);
  assert_int_equal(c.appended, N);
  assert_int_equal(c.failed, 0);
  assert_int_equal(c.done, 1);
  assert_true(c.order_ok);
  assert_int_equal(uv_run(&loop, UV_RUN_DEFAULT), 0);
  assert_int_equal(uv_loop_close(&loop), 0);

  /* close from inside a callback: the rest still complete, later submits fail */
  if (fx->bc->persistent && !fx->bc->shared) {
    fx_open(fx); /* the directory is still there; check the data, then reopen async */
    check_bounds(fx, n[0], 0, N);
    fx_close(fx);
  }
  actx c2 = {.order_ok = true, .close_in_cb = true};
  fx->opt.dir = fx->dir;
  async_open(fx, &loop, &c2);
  static acall calls2[100];
  for (size_t i = 0; i < 100; i++) {
    calls2[i] = (acall){&c2, 3, i, 0};
    assert_int_equal(ockami_store_append(c2.store, n[3].s, n[3].len, (const uint8_t *)"e", 1,
                                         on_append, &calls2[i]),
                     0);
  }
  assert_int_equal(uv_run(&loop, UV_RUN_DEFAULT), 0);
  assert_int_equal(c2.appended, 100);
  assert_int_equal(c2.after_close_rc, OCKAM_ECLOSED);
  assert_true(c2.order_ok);
  assert_int_equal(uv_loop_close(&loop), 0);
}

static void test_async_errors(void **state) {
  fixture *fx = *state;
  fx->opt.max_record = 100;
  fx->opt.max_pending = 2;
  uv_loop_t loop;
  actx c = {.order_ok = true};
  async_open(fx, &loop, &c);
  uint8_t big[101] = {0};
  name a = nm(fx, "err");
  acall k = {&c, 0, 0, 0};
  /* refused synchronously: no callback */
  assert_int_equal(ockami_store_append(c.store, a.s, a.len, big, 101, on_append, &k),
                   OCKAM_EOVERFLOW);
  assert_int_equal(ockami_store_append(c.store, "", 0, big, 1, on_append, &k), OCKAM_EINVAL);
  assert_int_equal(ockami_store_index_get(c.store, "a\0b", 3, a.s, a.len, on_index, &k),
                   OCKAM_EINVAL);
  /* max_pending: once two requests wait, the next submit is refused; the
   * thread drains concurrently, so keep submitting until that happens */
  int rc = 0;
  size_t queued = 0;
  enum { TRIES = 100000 };
  acall *ks = calloc(TRIES, sizeof *ks);
  assert_non_null(ks);
  for (size_t i = 0; i < TRIES && rc == 0; i++) {
    ks[i] = (acall){&c, 0, i, 0};
    rc = ockami_store_append(c.store, a.s, a.len, big, 1, on_append, &ks[i]);
    if (rc == 0) queued++;
  }
  assert_int_equal(rc, OCKAM_EFULL);
  assert_int_equal(uv_run(&loop, UV_RUN_DEFAULT), 0);
  assert_int_equal(c.appended, queued);
  assert_true(c.order_ok);
  free(ks);
  async_close(&loop, &c);
}

typedef struct list_result {
  actx *c;
  int status;
  size_t calls;
  size_t mine; /* streams of this test listed */
  const char *prefix;
} list_result;

static void on_list(void *arg, int status, const ockami_stream_info *streams, size_t count) {
  list_result *l = arg;
  assert_false(l->c->in_submit);
  l->calls++;
  l->status = status;
  size_t plen = strlen(l->prefix);
  for (size_t i = 0; i < count; i++) {
    if (streams[i].name_len >= plen && memcmp(streams[i].name, l->prefix, plen) == 0) l->mine++;
  }
}

/* Delete and list through the queue: a delete completes after the appends
 * submitted before it and before those submitted after it (the stream then
 * starts again at 0); a list sees what was appended before it. */
static void test_async_delete_list(void **state) {
  fixture *fx = *state;
  uv_loop_t loop;
  actx c = {.order_ok = true};
  async_open(fx, &loop, &c);
  name n[ASYNC_STREAMS];
  async_names(fx, n);
  static acall calls[64];
  size_t k = 0;
  c.in_submit = true;
  for (size_t i = 0; i < 10; i++) {
    calls[k] = (acall){&c, 0, i, 0};
    assert_int_equal(ockami_store_append(c.store, n[0].s, n[0].len, (const uint8_t *)"a", 1,
                                         on_append, &calls[k++]),
                     0);
  }
  assert_int_equal(
      ockami_store_index_save(c.store, "cl", 2, n[0].s, n[0].len, 5, on_done, &calls[k++]), 0);
  calls[k - 1] = (acall){&c, 0, 10, 0};
  calls[k] = (acall){&c, 0, 11, 0};
  assert_int_equal(ockami_store_stream_delete(c.store, n[0].s, n[0].len, on_done, &calls[k++]), 0);
  calls[k] = (acall){&c, 1, 0, 0};
  assert_int_equal(ockami_store_append(c.store, n[1].s, n[1].len, (const uint8_t *)"b", 1,
                                       on_append, &calls[k++]),
                   0);
  c.in_submit = false;
  assert_int_equal(uv_run(&loop, UV_RUN_DEFAULT), 0);
  assert_int_equal(c.appended, 11);
  assert_int_equal(c.failed, 0);
  assert_int_equal(c.done, 2);
  assert_int_equal(c.last_status, OCKAM_OK); /* the delete */
  assert_true(c.order_ok);
  /* after the delete: index 0 again, no saved index, and a second delete
   * reports the missing stream */
  c.next[0] = 0;
  calls[k] = (acall){&c, 0, 12, 0};
  assert_int_equal(ockami_store_append(c.store, n[0].s, n[0].len, (const uint8_t *)"c", 1,
                                       on_append, &calls[k++]),
                   0);
  calls[k] = (acall){&c, 0, 13, 0};
  assert_int_equal(
      ockami_store_index_get(c.store, "cl", 2, n[0].s, n[0].len, on_index, &calls[k++]), 0);
  calls[k] = (acall){&c, 2, 0, 0};
  assert_int_equal(ockami_store_stream_delete(c.store, n[2].s, n[2].len, on_done, &calls[k++]), 0);
  list_result l = {&c, 1, 0, 0, fx->prefix};
  assert_int_equal(ockami_store_stream_list(c.store, NULL, 0, OCKAMI_STORE_LIST_MAX, on_list, &l),
                   0);
  assert_int_equal(uv_run(&loop, UV_RUN_DEFAULT), 0);
  assert_int_equal(c.appended, 12);
  assert_int_equal(c.next[0], 1);
  assert_false(c.found);
  assert_int_equal(c.last_status, OCKAM_ENOTFOUND);
  assert_int_equal(l.calls, 1);
  assert_int_equal(l.status, OCKAM_OK);
  assert_int_equal(l.mine, 2); /* n[0] and n[1] */
  assert_true(c.order_ok);
  /* refused at submit */
  assert_int_equal(ockami_store_stream_delete(c.store, "", 0, on_done, NULL), OCKAM_EINVAL);
  assert_int_equal(ockami_store_stream_list(c.store, NULL, 0, 0, on_list, &l), OCKAM_EINVAL);
  assert_int_equal(
      ockami_store_stream_list(c.store, NULL, 0, OCKAMI_STORE_LIST_MAX + 1, on_list, &l),
      OCKAM_EOVERFLOW);
  async_close(&loop, &c);
}

/* Index saves wait (store.c, "Index saves"): an append submitted after a
 * save completes first, unless the store is shared; an index get still sees
 * every save submitted before it, and a burst of saves is written in full. */
typedef struct saves_ctx {
  int order[4];
  int n;
  uint64_t got;
  bool found;
} saves_ctx;

static void saves_on_save(void *arg, int status) {
  saves_ctx *x = arg;
  assert_int_equal(status, OCKAM_OK);
  if (x->n < 4) x->order[x->n++] = 1;
}

static void saves_on_append(void *arg, int status, uint64_t index) {
  saves_ctx *x = arg;
  (void)index;
  assert_int_equal(status, OCKAM_OK);
  if (x->n < 4) x->order[x->n++] = 2;
}

static void saves_on_index(void *arg, int status, bool found, uint64_t index) {
  saves_ctx *x = arg;
  assert_int_equal(status, OCKAM_OK);
  x->found = found;
  x->got = index;
}

static void saves_on_burst(void *arg, int status) {
  assert_int_equal(status, OCKAM_OK);
  (*(size_t *)arg)++;
}

static void test_async_saves_deferred(void **state) {
  fixture *fx = *state;
  uv_loop_t loop;
  actx c = {.order_ok = true};
  async_open(fx, &loop, &c);
  name n[ASYNC_STREAMS];
  async_names(fx, n);
  saves_ctx x = {0};
  assert_int_equal(
      ockami_store_index_save(c.store, "cl", 2, n[0].s, n[0].len, 5, saves_on_save, &x), OCKAM_OK);
  assert_int_equal(
      ockami_store_append(c.store, n[0].s, n[0].len, (const uint8_t *)"a", 1, saves_on_append, &x),
      OCKAM_OK);
  assert_int_equal(uv_run(&loop, UV_RUN_DEFAULT), 0);
  assert_int_equal(x.n, 2);
  assert_int_equal(x.order[0], fx->bc->shared ? 1 : 2);
  assert_int_equal(x.order[1], fx->bc->shared ? 2 : 1);
  /* A burst over OCKAM_STORE_SAVES_MAX, then a get right behind it. */
  size_t saved = 0;
  enum { BURST = OCKAM_STORE_SAVES_MAX + 44 };
  for (uint64_t i = 0; i < BURST; i++)
    assert_int_equal(
        ockami_store_index_save(c.store, "cl", 2, n[1].s, n[1].len, 10 + i, saves_on_burst, &saved),
        OCKAM_OK);
  assert_int_equal(ockami_store_index_get(c.store, "cl", 2, n[1].s, n[1].len, saves_on_index, &x),
                   OCKAM_OK);
  assert_int_equal(uv_run(&loop, UV_RUN_DEFAULT), 0);
  assert_int_equal(saved, BURST);
  assert_true(x.found);
  assert_int_equal(x.got, 10 + BURST - 1);
  async_close(&loop, &c);
}

#define STORE_TESTS(X)       \
  X(test_async_many)         \
  X(test_async_mixed_order)  \
  X(test_async_close_drains) \
  X(test_async_errors)       \
  X(test_async_delete_list)  \
  X(test_async_saves_deferred)

int main(void) {
  storage_test_init();
  int failed = 0;
  RUN_TESTS("async store", &case_memory, STORE_TESTS);
  RUN_TESTS("async store", &case_lmdb, STORE_TESTS);
  if (jetstream_wanted()) RUN_TESTS("async store", &case_jetstream, STORE_TESTS);
  return failed ? 1 : 0;
}
