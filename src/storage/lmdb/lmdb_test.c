/* lmdb only: fault injection (a full disk, also through the async store),
 * map growth, a second open of one directory, and garbage, corrupt or
 * truncated data files that open must refuse with a log line. */
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>

#include <cmocka.h>

#include "storage_test_util.h"

static void test_lmdb_fail_file(void **state) {
  fixture *fx = *state;
#ifndef OCKAM_TEST_HOOKS
  /* fault injection is compiled only into test builds (OCKAM_TEST_HOOKS);
   * CI builds with it, so there a missing hook is a failure, not a skip */
  if (getenv("CI")) fail_msg("built without -DOCKAM_TEST_HOOKS=ON");
  skip();
#endif
  char flag[PATH_MAX];
  snprintf(flag, sizeof flag, "%s/disk-full", fx->tmp);
  setenv("OCKAM_STORE_FAIL_FILE", flag, 1);
  fx_open(fx);
  unsetenv("OCKAM_STORE_FAIL_FILE");
  name a = nm(fx, "full");
  put_pattern(fx, a, 100, 0, 0);
  int fd = open(flag, O_CREAT | O_WRONLY, 0600);
  assert_true(fd >= 0);
  close(fd);
  uint64_t idx = 7;
  assert_int_equal(put1(fx, a, "x", 1, &idx), OCKAM_ENOSPC);
  ockami_append items[3] = {{a.s, a.len, (const uint8_t *)"1", 1, 9, 0, NULL, 0, 0, 0, 0, 0},
                            {a.s, a.len, (const uint8_t *)"2", 1, 9, 0, NULL, 0, 0, 0, 0, 0},
                            {a.s, a.len, (const uint8_t *)"3", 1, 9, 0, NULL, 0, 0, 0, 0, 0}};
  assert_int_equal(fx->ops->append(fx->be, items, 3), OCKAM_ENOSPC);
  for (int i = 0; i < 3; i++) assert_int_equal(items[i].status, OCKAM_ENOSPC);
  check_bounds(fx, a, 0, 1);
  ockami_records r;
  read_n(fx, a, 0, 10, 0, &r);
  assert_int_equal(r.count, 1);
  check_record(&r.items[0], 0, 100, 0);
  ockami_records_free(&r);
  assert_int_equal(fx->ops->index_save(fx->be, "c", 1, a.s, a.len, 1), OCKAM_OK);

  /* through the async store: the callback gets OCKAM_ENOSPC */
  fx_close(fx);
  setenv("OCKAM_STORE_FAIL_FILE", flag, 1);
  uv_loop_t loop;
  actx c = {.order_ok = true};
  async_open(fx, &loop, &c);
  unsetenv("OCKAM_STORE_FAIL_FILE");
  acall k[2] = {{&c, 0, 0, 0}, {&c, 0, 1, 0}};
  assert_int_equal(
      ockami_store_append(c.store, a.s, a.len, (const uint8_t *)"x", 1, on_append, &k[0]), 0);
  assert_int_equal(uv_run(&loop, UV_RUN_DEFAULT), 0);
  assert_int_equal(c.appended, 1);
  assert_int_equal(c.last_status, OCKAM_ENOSPC);
  /* disk space back: appends work again and indexes continue */
  assert_int_equal(unlink(flag), 0);
  c.next[0] = 1;
  assert_int_equal(
      ockami_store_append(c.store, a.s, a.len, (const uint8_t *)"y", 1, on_append, &k[1]), 0);
  assert_int_equal(uv_run(&loop, UV_RUN_DEFAULT), 0);
  assert_int_equal(c.appended, 2);
  assert_int_equal(c.last_status, OCKAM_OK);
  assert_int_equal(c.next[0], 2);
  assert_true(c.order_ok);
  async_close(&loop, &c);
  fx_open(fx);
  check_bounds(fx, a, 0, 2);
}

static void test_lmdb_fail_after(void **state) {
  fixture *fx = *state;
#ifndef OCKAM_TEST_HOOKS
  /* fault injection is compiled only into test builds (OCKAM_TEST_HOOKS);
   * CI builds with it, so there a missing hook is a failure, not a skip */
  if (getenv("CI")) fail_msg("built without -DOCKAM_TEST_HOOKS=ON");
  skip();
#endif
  setenv("OCKAM_STORE_FAIL_APPEND_AFTER", "2", 1);
  fx_open(fx);
  unsetenv("OCKAM_STORE_FAIL_APPEND_AFTER");
  name a = nm(fx, "after");
  put_pattern(fx, a, 10, 0, 0);
  put_pattern(fx, a, 10, 1, 1);
  assert_int_equal(put1(fx, a, "x", 1, NULL), OCKAM_ENOSPC);
  assert_int_equal(put1(fx, a, "x", 1, NULL), OCKAM_ENOSPC);
  check_bounds(fx, a, 0, 2);
  fx_close(fx);
  fx_open(fx); /* variable gone: appends work */
  put_pattern(fx, a, 10, 2, 2);
}

static void test_lmdb_map_grow(void **state) {
  fixture *fx = *state;
  fx->opt.map_size = 1u << 20;
  fx_open(fx);
  enum { N = 300, LEN = 10000 };
  name a = nm(fx, "grow");
  static uint8_t data[LEN];
  static ockami_append items[N];
  fill(data, LEN, 5);
  for (size_t i = 0; i < N; i++)
    items[i] = (ockami_append){a.s, a.len, data, LEN, 0, 0, NULL, 0, 0, 0, 0, 0};
  /* 3 MB in one commit into a 1 MiB map: grown and retried */
  assert_int_equal(fx->ops->append(fx->be, items, N), OCKAM_OK);
  for (size_t i = 0; i < N; i++) {
    assert_int_equal(items[i].status, 0);
    assert_int_equal(items[i].index, i);
  }
  check_bounds(fx, a, 0, N);
  fx_close(fx);
  fx_open(fx); /* the grown file reopens with the small configured map */
  ockami_records r;
  read_n(fx, a, N - 1, 10, 0, &r);
  assert_int_equal(r.count, 1);
  check_record(&r.items[0], N - 1, LEN, 5);
  ockami_records_free(&r);
}

static void test_lmdb_double_open(void **state) {
  fixture *fx = *state;
  fx_open(fx);
  void *other = NULL;
  assert_int_equal(fx->ops->open(&fx->opt, &other), OCKAM_EEXIST);
  assert_null(other);
}

/* Fills a store with enough data for a multi-page file, then closes it. */
static void make_store(fixture *fx, size_t records) {
  fx_open(fx);
  name a = nm(fx, "c");
  static uint8_t data[1000];
  for (size_t i = 0; i < records; i += 50) {
    ockami_append items[50];
    for (size_t j = 0; j < 50; j++)
      items[j] = (ockami_append){a.s, a.len, data, sizeof data, 0, 0, NULL, 0, 0, 0, 0, 0};
    assert_int_equal(fx->ops->append(fx->be, items, 50), OCKAM_OK);
  }
  assert_int_equal(fx->ops->index_save(fx->be, "c", 1, a.s, a.len, 1), OCKAM_OK);
  fx_close(fx);
}

static void data_file(const fixture *fx, char *path, size_t cap) {
  snprintf(path, cap, "%s/data.mdb", fx->dir);
}

static void expect_open_fails(fixture *fx, const char *word) {
  errors_logged[0] = 0;
  void *be = NULL;
  assert_int_equal(fx->ops->open(&fx->opt, &be), OCKAM_ESTORAGE);
  assert_null(be);
  if (!strstr(errors_logged, word)) {
    fail_msg("expected a log line about \"%s\", got \"%s\"", word, errors_logged);
  }
}

static void test_lmdb_garbage_file(void **state) {
  fixture *fx = *state;
  char path[PATH_MAX + 16];
  snprintf(path, sizeof path, "%s/data", fx->tmp);
  assert_int_equal(mkdir(path, 0700), 0);
  assert_int_equal(mkdir(fx->dir, 0700), 0);
  data_file(fx, path, sizeof path);
  FILE *f = fopen(path, "wb");
  assert_non_null(f);
  for (int i = 0; i < 65536; i++) fputc((i * 7919 + 13) & 0xff, f);
  fclose(f);
  expect_open_fails(fx, "cannot open");
}

static void test_lmdb_bad_meta(void **state) {
  fixture *fx = *state;
  make_store(fx, 100);
  char path[PATH_MAX + 16];
  data_file(fx, path, sizeof path);
  int fd = open(path, O_WRONLY);
  assert_true(fd >= 0);
  uint8_t junk[8192];
  memset(junk, 0xa5, sizeof junk);
  assert_int_equal(pwrite(fd, junk, sizeof junk, 0), (ssize_t)sizeof junk);
  close(fd);
  expect_open_fails(fx, "cannot open");
}

static void test_lmdb_truncated(void **state) {
  fixture *fx = *state;
  make_store(fx, 1000); /* ~1 MB */
  char path[PATH_MAX + 16];
  data_file(fx, path, sizeof path);
  struct stat st;
  assert_int_equal(stat(path, &st), 0);
  assert_true(st.st_size > 512 * 1024);
  assert_int_equal(truncate(path, st.st_size / 2), 0);
  expect_open_fails(fx, "truncated");
  assert_int_equal(truncate(path, 100), 0); /* inside the first meta page */
  expect_open_fails(fx, "cannot open");
}

/* A build without OCKAM_TEST_HOOKS (any build but a test build) ignores the
 * fault-injection variables: appends keep working. */
static void test_lmdb_fault_env_ignored(void **state) {
#ifdef OCKAM_TEST_HOOKS
  skip(); /* this build honours them: test_lmdb_fail_file, test_lmdb_fail_after */
#endif
  fixture *fx = *state;
  char flag[PATH_MAX];
  snprintf(flag, sizeof flag, "%s/disk-full", fx->tmp);
  int fd = open(flag, O_CREAT | O_WRONLY, 0600);
  assert_true(fd >= 0);
  close(fd);
  setenv("OCKAM_STORE_FAIL_FILE", flag, 1);
  setenv("OCKAM_STORE_FAIL_APPEND_AFTER", "0", 1);
  fx_open(fx);
  unsetenv("OCKAM_STORE_FAIL_FILE");
  unsetenv("OCKAM_STORE_FAIL_APPEND_AFTER");
  name a = nm(fx, "ignored");
  put_pattern(fx, a, 10, 0, 0);
  assert_int_equal(put1(fx, a, "x", 1, NULL), OCKAM_OK);
  check_bounds(fx, a, 0, 2);
}

#define LMDB_TESTS(X)            \
  X(test_lmdb_fail_file)         \
  X(test_lmdb_fail_after)        \
  X(test_lmdb_fault_env_ignored) \
  X(test_lmdb_map_grow)          \
  X(test_lmdb_double_open)       \
  X(test_lmdb_garbage_file)      \
  X(test_lmdb_bad_meta)          \
  X(test_lmdb_truncated)

int main(void) {
  storage_test_init();
  int failed = 0;
  RUN_TESTS("storage: lmdb files and faults", &case_lmdb, LMDB_TESTS);
  return failed ? 1 : 0;
}
