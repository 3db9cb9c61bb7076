#include "storage_test_util.h"

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <uv.h>

#include <setjmp.h>
#include <stdarg.h>

#include <cmocka.h>

#include "ockam/log.h"

const backend_case case_memory = {"memory", false, false};
const backend_case case_lmdb = {"lmdb", true, false};
const backend_case case_jetstream = {"jetstream", true, true};

/* Log lines are kept quiet; error lines are collected for corrupt-file tests. */
char errors_logged[8192];
static void test_log_sink(ockam_log_level level, const char *module, const char *msg, void *u) {
  (void)u;
  size_t used = strlen(errors_logged);
  if (level >= OCKAM_LOG_ERROR && used < sizeof errors_logged) {
    snprintf(errors_logged + used, sizeof errors_logged - used, "%s: %s\n", module, msg);
  }
  if (getenv("OCKAM_TEST_VERBOSE")) fprintf(stderr, "[log %d] %s: %s\n", level, module, msg);
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
  (void)st;
  (void)flag;
  (void)ftw;
  remove(path);
  return 0;
}

int fx_setup(void **state) {
  static unsigned seq;
  fixture *fx = calloc(1, sizeof *fx);
  assert_non_null(fx);
  fx->bc = *state;
  fx->ops = ockami_store_ops_find(fx->bc->name);
  assert_non_null(fx->ops);
  const char *tmpdir = getenv("TMPDIR");
  snprintf(fx->tmp, sizeof fx->tmp, "%s/ockam-storage-XXXXXX", tmpdir ? tmpdir : "/tmp");
  assert_non_null(mkdtemp(fx->tmp));
  snprintf(fx->dir, sizeof fx->dir, "%s/data/store", fx->tmp);
  fx->opt.dir = fx->dir;
  fx->opt.url = getenv("OCKAM_TEST_NATS_URL");
  fx->opt.no_sync = true; /* durability is measured by the async throughput test */
  snprintf(fx->prefix, sizeof fx->prefix, "t%ld-%u-", (long)getpid(), ++seq);
  *state = fx;
  return 0;
}

int fx_teardown(void **state) {
  fixture *fx = *state;
  if (fx->be) fx->ops->close(fx->be);
  nftw(fx->tmp, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
  free(fx);
  return 0;
}

void fx_open(fixture *fx) {
  assert_null(fx->be);
  assert_int_equal(fx->ops->open(&fx->opt, &fx->be), OCKAM_OK);
  assert_non_null(fx->be);
}

void fx_close(fixture *fx) {
  fx->ops->close(fx->be);
  fx->be = NULL;
}

name nm(const fixture *fx, const char *suffix) {
  name n;
  int len = snprintf(n.s, sizeof n.s, "%s%s", fx->prefix, suffix);
  assert_true(len > 0 && (size_t)len < sizeof n.s);
  n.len = (size_t)len;
  return n;
}

name nm_bytes(const fixture *fx, const uint8_t *bytes, size_t len) {
  name n;
  n.len = strlen(fx->prefix);
  memcpy(n.s, fx->prefix, n.len);
  if (len > OCKAM_NAME_MAX - n.len) len = OCKAM_NAME_MAX - n.len;
  memcpy(n.s + n.len, bytes, len);
  n.len += len;
  return n;
}

void fill(uint8_t *buf, size_t len, uint64_t seed) {
  for (size_t i = 0; i < len; i++) buf[i] = (uint8_t)(seed * 131 + i * 7 + (seed >> 8));
}

int put1(fixture *fx, name n, const void *data, size_t len, uint64_t *index) {
  ockami_append a = {n.s, n.len, data, len, UINT64_MAX, 1, NULL, 0, 0, 0, 0, 0};
  int rc = fx->ops->append(fx->be, &a, 1);
  if (index) *index = a.index;
  return rc ? rc : a.status;
}

void put_pattern(fixture *fx, name n, size_t len, uint64_t seed, uint64_t expect_index) {
  uint8_t buf[4096];
  assert_true(len <= sizeof buf);
  fill(buf, len, seed);
  uint64_t idx;
  assert_int_equal(put1(fx, n, buf, len, &idx), OCKAM_OK);
  assert_int_equal(idx, expect_index);
}

void check_record(const ockami_record *r, uint64_t index, size_t len, uint64_t seed) {
  static uint8_t buf[OCKAM_STREAM_MESSAGE_MAX];
  assert_true(len <= sizeof buf);
  assert_int_equal(r->index, index);
  assert_int_equal(r->len, len);
  fill(buf, len, seed);
  if (len) assert_memory_equal(r->data, buf, len);
}

void check_bounds(fixture *fx, name n, uint64_t first, uint64_t next) {
  uint64_t f = 99, x = 99;
  assert_int_equal(fx->ops->bounds(fx->be, n.s, n.len, &f, &x), OCKAM_OK);
  assert_int_equal(f, first);
  assert_int_equal(x, next);
}

void read_n(fixture *fx, name n, uint64_t from, uint32_t limit, size_t max_bytes,
            ockami_records *out) {
  memset(out, 0, sizeof *out);
  assert_int_equal(fx->ops->read(fx->be, n.s, n.len, from, limit, max_bytes, out), OCKAM_OK);
}

/* ---- the async store ---- */

static pthread_t loop_thread; /* every test loop runs on the main thread */

static void check_seq(acall *k) {
  actx *c = k->c;
  assert_true(pthread_equal(pthread_self(), loop_thread));
  if (c->seq_next[k->stream] != k->seq) c->order_ok = false;
  c->seq_next[k->stream] = k->seq + 1;
}

void on_append(void *arg, int status, uint64_t index) {
  acall *k = arg;
  actx *c = k->c;
  assert_false(c->in_submit);
  check_seq(k);
  c->appended++;
  c->last_status = status;
  if (status) {
    c->failed++;
  } else {
    if (index != c->next[k->stream]) c->order_ok = false;
    c->next[k->stream] = index + 1;
  }
  if (c->close_in_cb) {
    c->close_in_cb = false;
    ockami_store_close(c->store);
    c->after_close_rc = ockami_store_append(c->store, "x", 1, NULL, 0, on_append, k);
  }
}

void on_read(void *arg, int status, ockami_records *records) {
  acall *k = arg;
  actx *c = k->c;
  assert_false(c->in_submit);
  check_seq(k);
  assert_int_equal(status, OCKAM_OK);
  c->reads++;
  c->read_count = records->count;
  if (k->expect != SIZE_MAX && records->count != k->expect) c->order_ok = false;
  for (size_t i = 0; i < records->count; i++) {
    if (records->items[i].index != i) c->order_ok = false;
  }
}

void on_index(void *arg, int status, bool found, uint64_t index) {
  acall *k = arg;
  assert_false(k->c->in_submit);
  check_seq(k);
  assert_int_equal(status, OCKAM_OK);
  k->c->indexes++;
  k->c->found = found;
  k->c->index = index;
}

void on_done(void *arg, int status) {
  acall *k = arg;
  assert_false(k->c->in_submit);
  check_seq(k);
  k->c->last_status = status;
  k->c->done++;
}

void async_names(fixture *fx, name n[ASYNC_STREAMS]) {
  for (unsigned i = 0; i < ASYNC_STREAMS; i++) {
    char sfx[16];
    snprintf(sfx, sizeof sfx, "async-%u", i);
    n[i] = nm(fx, sfx);
  }
}

void async_open(fixture *fx, uv_loop_t *loop, actx *c) {
  assert_int_equal(uv_loop_init(loop), 0);
  assert_int_equal(ockami_store_open(loop, fx->ops, &fx->opt, &c->store), OCKAM_OK);
}

void async_close(uv_loop_t *loop, actx *c) {
  ockami_store_close(c->store);
  assert_int_equal(uv_run(loop, UV_RUN_DEFAULT), 0);
  assert_int_equal(uv_loop_close(loop), 0);
}

/* ---- running ---- */

void storage_test_init(void) {
  loop_thread = pthread_self();
  ockam_log_set_sink(test_log_sink, NULL);
  unsetenv("OCKAM_STORE_FAIL_FILE");
  unsetenv("OCKAM_STORE_FAIL_APPEND_AFTER");
}

int run_backend_tests(const char *group, const backend_case *bc, const char *const *names,
                      void (*const *fns)(void **), size_t n) {
  struct CMUnitTest *tests = calloc(n, sizeof *tests);
  if (!tests) return 1;
  for (size_t i = 0; i < n; i++) {
    tests[i] = (struct CMUnitTest){names[i], fns[i], fx_setup, fx_teardown, (void *)bc};
  }
  char title[96];
  snprintf(title, sizeof title, "%s: %s", group, bc->name);
  int failed = _cmocka_run_group_tests(title, tests, n, NULL, NULL);
  free(tests);
  return failed;
}

bool jetstream_wanted(void) {
  const char *url = getenv("OCKAM_TEST_NATS_URL");
  if (!url || !*url) {
    print_message("[  SKIPPED ] jetstream: set OCKAM_TEST_NATS_URL to run it\n");
    return false;
  }
  if (!ockami_store_ops_find("jetstream")) {
    print_message("[  SKIPPED ] jetstream: backend not built\n");
    return false;
  }
  return true;
}
