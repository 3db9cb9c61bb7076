/* One conformance suite for every storage backend ("memory", "lmdb", and
 * "jetstream" when OCKAM_TEST_NATS_URL names a server), the asynchronous
 * store on a real libuv loop, and lmdb-only checks: fault injection, map
 * growth and corrupt or truncated data files. */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "ockam/limits.h"
#include "ockam/log.h"
#include "storage.h"

/* ---- fixtures -------------------------------------------------------------- */

typedef struct backend_case {
  const char *name;
  bool persistent; /* data survives close/open */
  bool shared;     /* state outlives a test (a server), so counts are global */
} backend_case;

static const backend_case case_memory = {"memory", false, false};
static const backend_case case_lmdb = {"lmdb", true, false};
static const backend_case case_jetstream = {"jetstream", true, true};

typedef struct fixture {
  const backend_case *bc;
  const ockami_store_ops *ops;
  char tmp[PATH_MAX / 2]; /* removed in teardown */
  char dir[PATH_MAX];     /* data directory below tmp (not created: open must) */
  ockami_store_options opt;
  void *be;
  char prefix[32]; /* makes stream names unique on a shared server */
} fixture;

typedef struct name {
  char s[OCKAM_NAME_MAX + 1];
  size_t len;
} name;

/* Log lines are kept quiet; error lines are collected for corrupt-file tests. */
static char errors_logged[8192];
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

static int fx_setup(void **state) {
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

static int fx_teardown(void **state) {
  fixture *fx = *state;
  if (fx->be) fx->ops->close(fx->be);
  nftw(fx->tmp, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
  free(fx);
  return 0;
}

static void fx_open(fixture *fx) {
  assert_null(fx->be);
  assert_int_equal(fx->ops->open(&fx->opt, &fx->be), OCKAM_OK);
  assert_non_null(fx->be);
}

static void fx_close(fixture *fx) {
  fx->ops->close(fx->be);
  fx->be = NULL;
}

static name nm(const fixture *fx, const char *suffix) {
  name n;
  int len = snprintf(n.s, sizeof n.s, "%s%s", fx->prefix, suffix);
  assert_true(len > 0 && (size_t)len < sizeof n.s);
  n.len = (size_t)len;
  return n;
}

/* prefix ‖ bytes, cut at OCKAM_NAME_MAX */
static name nm_bytes(const fixture *fx, const uint8_t *bytes, size_t len) {
  name n;
  n.len = strlen(fx->prefix);
  memcpy(n.s, fx->prefix, n.len);
  if (len > OCKAM_NAME_MAX - n.len) len = OCKAM_NAME_MAX - n.len;
  memcpy(n.s + n.len, bytes, len);
  n.len += len;
  return n;
}

static void fill(uint8_t *buf, size_t len, uint64_t seed) {
  for (size_t i = 0; i < len; i++) buf[i] = (uint8_t)(seed * 131 + i * 7 + (seed >> 8));
}

/* Appends one record; returns the call's error or the record's status. */
static int put1(fixture *fx, name n, const void *data, size_t len, uint64_t *index) {
  ockami_append a = {n.s, n.len, data, len, UINT64_MAX, 1};
  int rc = fx->ops->append(fx->be, &a, 1);
  if (index) *index = a.index;
  return rc ? rc : a.status;
}

static void put_pattern(fixture *fx, name n, size_t len, uint64_t seed, uint64_t expect_index) {
  uint8_t buf[4096];
  assert_true(len <= sizeof buf);
  fill(buf, len, seed);
  uint64_t idx;
  assert_int_equal(put1(fx, n, buf, len, &idx), OCKAM_OK);
  assert_int_equal(idx, expect_index);
}

static void check_record(const ockami_record *r, uint64_t index, size_t len, uint64_t seed) {
  static uint8_t buf[OCKAM_STREAM_MESSAGE_MAX];
  assert_true(len <= sizeof buf);
  assert_int_equal(r->index, index);
  assert_int_equal(r->len, len);
  fill(buf, len, seed);
  if (len) assert_memory_equal(r->data, buf, len);
}

static void check_bounds(fixture *fx, name n, uint64_t first, uint64_t next) {
  uint64_t f = 99, x = 99;
  assert_int_equal(fx->ops->bounds(fx->be, n.s, n.len, &f, &x), OCKAM_OK);
  assert_int_equal(f, first);
  assert_int_equal(x, next);
}

static void read_n(fixture *fx, name n, uint64_t from, uint32_t limit, size_t max_bytes,
                   ockami_records *out) {
  memset(out, 0, sizeof *out);
  assert_int_equal(fx->ops->read(fx->be, n.s, n.len, from, limit, max_bytes, out), OCKAM_OK);
}

/* ---- backend conformance ---------------------------------------------------- */

static void test_empty(void **state) {
  fixture *fx = *state;
  fx_open(fx);
  name a = nm(fx, "empty");
  ockami_records r;
  read_n(fx, a, 0, 10, 0, &r);
  assert_int_equal(r.count, 0);
  ockami_records_free(&r);
  check_bounds(fx, a, 0, 0);
  assert_int_equal(fx->ops->stream_create(fx->be, a.s, a.len), OCKAM_OK);
  assert_int_equal(fx->ops->stream_create(fx->be, a.s, a.len), OCKAM_OK);
  check_bounds(fx, a, 0, 0);
  read_n(fx, a, 0, 10, 0, &r);
  assert_int_equal(r.count, 0);
  ockami_records_free(&r);
  assert_int_equal(fx->ops->append(fx->be, NULL, 0), OCKAM_OK);
}

static void test_dense_indexes(void **state) {
  fixture *fx = *state;
  fx_open(fx);
  name a = nm(fx, "a"), b = nm(fx, "b");
  for (uint64_t i = 0; i < 100; i++) {
    put_pattern(fx, a, 10 + i, i, i);
    if (i < 50) put_pattern(fx, b, 20, 1000 + i, i);
  }
  check_bounds(fx, a, 0, 100);
  check_bounds(fx, b, 0, 50);
  ockami_records r;
  read_n(fx, a, 0, 1000, 0, &r);
  assert_int_equal(r.count, 100);
  for (uint64_t i = 0; i < 100; i++) check_record(&r.items[i], i, 10 + i, i);
  ockami_records_free(&r);
  read_n(fx, b, 0, 1000, 0, &r);
  assert_int_equal(r.count, 50);
  for (uint64_t i = 0; i < 50; i++) check_record(&r.items[i], i, 20, 1000 + i);
  ockami_records_free(&r);
}

static void test_group_multi_stream(void **state) {
  fixture *fx = *state;
  fx_open(fx);
  enum { N = 300, S = 3 };
  name names[S] = {nm(fx, "g0"), nm(fx, "g1"), nm(fx, "g2")};
  static uint8_t data[N][64];
  ockami_append items[N];
  for (size_t i = 0; i < N; i++) {
    name *n = &names[(i * 7 + i / 5) % S]; /* uneven interleaving */
    fill(data[i], sizeof data[i], i);
    items[i] = (ockami_append){n->s, n->len, data[i], sizeof data[i], UINT64_MAX, 1};
  }
  assert_int_equal(fx->ops->append(fx->be, items, N), OCKAM_OK);
  uint64_t next[S] = {0};
  for (size_t i = 0; i < N; i++) {
    size_t s = (i * 7 + i / 5) % S;
    assert_int_equal(items[i].status, OCKAM_OK);
    assert_int_equal(items[i].index, next[s]);
    next[s]++;
  }
  for (size_t s = 0; s < S; s++) {
    check_bounds(fx, names[s], 0, next[s]);
    ockami_records r;
    read_n(fx, names[s], 0, N, 0, &r);
    assert_int_equal(r.count, next[s]);
    size_t k = 0;
    for (size_t i = 0; i < N; i++) {
      if ((i * 7 + i / 5) % S != s) continue;
      check_record(&r.items[k], k, sizeof data[i], i);
      k++;
    }
    ockami_records_free(&r);
  }
}

static void test_read_window(void **state) {
  fixture *fx = *state;
  fx_open(fx);
  name a = nm(fx, "w");
  for (uint64_t i = 0; i < 10; i++) put_pattern(fx, a, 100, i, i);
  check_bounds(fx, a, 0, 10);
  struct {
    uint64_t from;
    uint32_t limit;
    size_t max_bytes;
    size_t count;
    uint64_t first;
  } cases[] = {
      {0, 100, 0, 10, 0}, {3, 4, 0, 4, 3},  {8, 10, 0, 2, 8},   {10, 5, 0, 0, 0},
      {1000, 5, 0, 0, 0}, {0, 0, 0, 0, 0},  {5, 10, 50, 1, 5},  {0, 10, 250, 2, 0},
      {0, 10, 300, 3, 0}, {9, 10, 1, 1, 9}, {2, 1, 1000, 1, 2}, {0, 10, 1000, 10, 0},
  };
  for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
    ockami_records r;
    read_n(fx, a, cases[c].from, cases[c].limit, cases[c].max_bytes, &r);
    assert_int_equal(r.count, cases[c].count);
    for (size_t i = 0; i < r.count; i++) {
      check_record(&r.items[i], cases[c].first + i, 100, cases[c].first + i);
    }
    ockami_records_free(&r);
  }
}

static void test_index(void **state) {
  fixture *fx = *state;
  fx_open(fx);
  name s1 = nm(fx, "idx-stream"), s2 = nm(fx, "idx-other");
  const char *c1 = "client-I", *c2 = "client-R";
  uint64_t v = 77;
  bool found = true;
  assert_int_equal(fx->ops->index_get(fx->be, c1, strlen(c1), s1.s, s1.len, &v, &found), 0);
  assert_false(found);
  assert_int_equal(fx->ops->index_save(fx->be, c1, strlen(c1), s1.s, s1.len, 5), 0);
  assert_int_equal(fx->ops->index_get(fx->be, c1, strlen(c1), s1.s, s1.len, &v, &found), 0);
  assert_true(found);
  assert_int_equal(v, 5);
  /* monotonic: a lower value is ignored, a higher one kept */
  assert_int_equal(fx->ops->index_save(fx->be, c1, strlen(c1), s1.s, s1.len, 3), 0);
  assert_int_equal(fx->ops->index_get(fx->be, c1, strlen(c1), s1.s, s1.len, &v, &found), 0);
  assert_int_equal(v, 5);
  assert_int_equal(fx->ops->index_save(fx->be, c1, strlen(c1), s1.s, s1.len, 9), 0);
  assert_int_equal(fx->ops->index_get(fx->be, c1, strlen(c1), s1.s, s1.len, &v, &found), 0);
  assert_int_equal(v, 9);
  /* keys are (client, stream) */
  assert_int_equal(fx->ops->index_get(fx->be, c2, strlen(c2), s1.s, s1.len, &v, &found), 0);
  assert_false(found);
  assert_int_equal(fx->ops->index_get(fx->be, c1, strlen(c1), s2.s, s2.len, &v, &found), 0);
  assert_false(found);
  assert_int_equal(fx->ops->index_save(fx->be, c2, strlen(c2), s1.s, s1.len, 0), 0);
  assert_int_equal(fx->ops->index_get(fx->be, c2, strlen(c2), s1.s, s1.len, &v, &found), 0);
  assert_true(found);
  assert_int_equal(v, 0);
  assert_int_equal(fx->ops->index_save(fx->be, c1, strlen(c1), s2.s, s2.len, UINT64_MAX - 1), 0);
  assert_int_equal(fx->ops->index_get(fx->be, c1, strlen(c1), s2.s, s2.len, &v, &found), 0);
  assert_int_equal(v, UINT64_MAX - 1);
}

static void test_record_too_large(void **state) {
  fixture *fx = *state;
  fx->opt.max_record = 1000;
  fx_open(fx);
  name a = nm(fx, "big");
  static uint8_t buf[1001];
  fill(buf, sizeof buf, 7);
  ockami_append items[4] = {
      {a.s, a.len, buf, 500, 9, 9},
      {a.s, a.len, buf, 1001, 9, 9},
      {a.s, a.len, buf, 1000, 9, 9},
      {a.s, a.len, NULL, 0, 9, 9},
  };
  assert_int_equal(fx->ops->append(fx->be, items, 4), OCKAM_OK);
  assert_int_equal(items[0].status, OCKAM_OK);
  assert_int_equal(items[0].index, 0);
  assert_int_equal(items[1].status, OCKAM_EOVERFLOW);
  assert_int_equal(items[2].status, OCKAM_OK);
  assert_int_equal(items[2].index, 1);
  assert_int_equal(items[3].status, OCKAM_OK);
  assert_int_equal(items[3].index, 2);
  check_bounds(fx, a, 0, 3);
  ockami_records r;
  read_n(fx, a, 0, 10, 0, &r);
  assert_int_equal(r.count, 3);
  check_record(&r.items[0], 0, 500, 7);
  check_record(&r.items[1], 1, 1000, 7);
  assert_int_equal(r.items[2].len, 0);
  assert_int_equal(r.items[2].index, 2);
  ockami_records_free(&r);
}

/* 25 records of 100 B under a limit of 10 records or 1000 B. A byte limit
 * may count per-record overhead too, so with `exact` false fewer may stay. */
static void retention_check(fixture *fx, name a, name b, bool exact) {
  for (uint64_t i = 0; i < 25; i++) put_pattern(fx, a, 100, i, i);
  put_pattern(fx, b, 100, 500, 0);
  assert_int_equal(fx->ops->trim(fx->be), OCKAM_OK);
  uint64_t first = 0, next = 0;
  assert_int_equal(fx->ops->bounds(fx->be, a.s, a.len, &first, &next), OCKAM_OK);
  assert_int_equal(next, 25);
  if (exact) {
    assert_int_equal(first, 15);
  } else {
    assert_in_range(first, 15, 24);
  }
  check_bounds(fx, b, 0, 1);
  ockami_records r;
  read_n(fx, a, 0, 100, 0, &r); /* below first: starts at first */
  assert_int_equal(r.count, 25 - first);
  for (size_t i = 0; i < r.count; i++) check_record(&r.items[i], first + i, 100, first + i);
  ockami_records_free(&r);
  read_n(fx, a, 23, 2, 0, &r);
  assert_int_equal(r.count, 2);
  check_record(&r.items[0], 23, 100, 23);
  ockami_records_free(&r);
  put_pattern(fx, a, 100, 25, 25); /* indexes continue */
  assert_int_equal(fx->ops->trim(fx->be), OCKAM_OK);
  check_bounds(fx, a, first + 1, 26);
}

static void test_retention_count(void **state) {
  fixture *fx = *state;
  fx->opt.max_messages = 10;
  fx_open(fx);
  retention_check(fx, nm(fx, "rc"), nm(fx, "rc-other"), true);
}

static void test_retention_bytes(void **state) {
  fixture *fx = *state;
  fx->opt.max_bytes = 1000;
  fx_open(fx);
  retention_check(fx, nm(fx, "rb"), nm(fx, "rb-other"),
                  strcmp(fx->bc->name, "memory") == 0 || strcmp(fx->bc->name, "lmdb") == 0);
}

static void test_retention_age(void **state) {
  fixture *fx = *state;
  fx->opt.max_age_s = 1;
  fx_open(fx);
  name a = nm(fx, "age");
  for (uint64_t i = 0; i < 3; i++) put_pattern(fx, a, 50, i, i);
  assert_int_equal(fx->ops->trim(fx->be), OCKAM_OK);
  check_bounds(fx, a, 0, 3);
  struct timespec ts = {1, 150 * 1000 * 1000};
  nanosleep(&ts, NULL);
  assert_int_equal(fx->ops->trim(fx->be), OCKAM_OK);
  check_bounds(fx, a, 3, 3);
  ockami_records r;
  read_n(fx, a, 0, 10, 0, &r);
  assert_int_equal(r.count, 0);
  ockami_records_free(&r);
  put_pattern(fx, a, 50, 3, 3);
  read_n(fx, a, 0, 10, 0, &r);
  assert_int_equal(r.count, 1);
  check_record(&r.items[0], 3, 50, 3);
  ockami_records_free(&r);
}

static void test_reopen(void **state) {
  fixture *fx = *state;
  fx_open(fx);
  name a = nm(fx, "keep"), b = nm(fx, "keep-b"), c = nm(fx, "keep-empty");
  if (!fx->bc->persistent) {
    /* A volatile backend starts empty again: no records, no indexes. */
    put_pattern(fx, a, 30, 0, 0);
    assert_int_equal(fx->ops->index_save(fx->be, "cl", 2, a.s, a.len, 1), OCKAM_OK);
    fx_close(fx);
    fx_open(fx);
    check_bounds(fx, a, 0, 0);
    uint64_t v = 0;
    bool found = true;
    assert_int_equal(fx->ops->index_get(fx->be, "cl", 2, a.s, a.len, &v, &found), OCKAM_OK);
    assert_false(found);
    return;
  }
  for (uint64_t i = 0; i < 20; i++) put_pattern(fx, a, 30 + i, i, i);
  put_pattern(fx, b, 10, 99, 0);
  assert_int_equal(fx->ops->stream_create(fx->be, c.s, c.len), OCKAM_OK);
  assert_int_equal(fx->ops->index_save(fx->be, "cl", 2, a.s, a.len, 12), OCKAM_OK);
  fx_close(fx);
  fx_open(fx);
  check_bounds(fx, a, 0, 20);
  check_bounds(fx, b, 0, 1);
  check_bounds(fx, c, 0, 0);
  ockami_records r;
  read_n(fx, a, 0, 100, 0, &r);
  assert_int_equal(r.count, 20);
  for (uint64_t i = 0; i < 20; i++) check_record(&r.items[i], i, 30 + i, i);
  ockami_records_free(&r);
  uint64_t v;
  bool found;
  assert_int_equal(fx->ops->index_get(fx->be, "cl", 2, a.s, a.len, &v, &found), OCKAM_OK);
  assert_true(found);
  assert_int_equal(v, 12);
  put_pattern(fx, a, 5, 20, 20); /* indexes continue after reopen */
  put_pattern(fx, c, 5, 0, 0);
}

static void test_names(void **state) {
  fixture *fx = *state;
  fx_open(fx);
  uint8_t all[OCKAM_NAME_MAX];
  for (size_t i = 0; i < sizeof all; i++) all[i] = (uint8_t)(i * 37 + 11); /* every byte value */
  name names[] = {
      nm(fx, "with space"),
      nm(fx, "a.b.c"),
      nm(fx, "*"),
      nm(fx, ">"),
      nm(fx, "a.*.>"),
      nm(fx,
         "\xc3\xbc"
         "n"
         "\xc3\xaf"
         " c"
         "\xc3\xb6"
         "d"
         "\xc3\xa9"
         " \xe2\x9c\x93 \xe6\xb5\x81"),
      nm_bytes(fx, (const uint8_t *)"nul\0inside", 10),
      nm_bytes(fx, all, sizeof all),
      nm_bytes(fx, all, sizeof all),
      nm(fx, "\xff\xfe not utf-8"),
      nm(fx, "/slash/../x"),
  };
  size_t count = sizeof names / sizeof names[0];
  assert_int_equal(names[7].len, OCKAM_NAME_MAX);
  names[8].s[OCKAM_NAME_MAX - 1] ^= 1; /* differs from names[7] only in the last byte */
  const char *client = "client \xe2\x9c\x93 with.dots*>";
  for (size_t i = 0; i < count; i++) {
    assert_int_equal(fx->ops->stream_create(fx->be, names[i].s, names[i].len), OCKAM_OK);
    for (uint64_t k = 0; k <= i; k++) put_pattern(fx, names[i], 16, i * 100 + k, k);
    assert_int_equal(
        fx->ops->index_save(fx->be, client, strlen(client), names[i].s, names[i].len, i + 1), 0);
  }
  for (size_t i = 0; i < count; i++) {
    check_bounds(fx, names[i], 0, i + 1);
    ockami_records r;
    read_n(fx, names[i], 0, 100, 0, &r);
    assert_int_equal(r.count, i + 1);
    for (uint64_t k = 0; k <= i; k++) check_record(&r.items[k], k, 16, i * 100 + k);
    ockami_records_free(&r);
    uint64_t v;
    bool found;
    assert_int_equal(
        fx->ops->index_get(fx->be, client, strlen(client), names[i].s, names[i].len, &v, &found),
        0);
    assert_true(found);
    assert_int_equal(v, i + 1);
  }
  /* the full 255-byte client id */
  char cl[OCKAM_NAME_MAX];
  memset(cl, 'c', sizeof cl);
  assert_int_equal(fx->ops->index_save(fx->be, cl, sizeof cl, names[7].s, names[7].len, 3), 0);
  uint64_t v;
  bool found;
  assert_int_equal(fx->ops->index_get(fx->be, cl, sizeof cl, names[7].s, names[7].len, &v, &found),
                   0);
  assert_true(found);
  assert_int_equal(v, 3);
}

static void test_bad_names(void **state) {
  fixture *fx = *state;
  fx_open(fx);
  char longname[OCKAM_NAME_MAX + 1];
  memset(longname, 'x', sizeof longname);
  assert_int_equal(fx->ops->stream_create(fx->be, "", 0), OCKAM_EINVAL);
  assert_int_equal(fx->ops->stream_create(fx->be, longname, sizeof longname), OCKAM_EOVERFLOW);
  uint64_t f, n;
  assert_int_equal(fx->ops->bounds(fx->be, longname, sizeof longname, &f, &n), OCKAM_EOVERFLOW);
  ockami_records r = {0};
  assert_int_equal(fx->ops->read(fx->be, "", 0, 0, 1, 0, &r), OCKAM_EINVAL);
  name a = nm(fx, "ok");
  assert_int_equal(fx->ops->index_save(fx->be, "a\0b", 3, a.s, a.len, 1), OCKAM_EINVAL);
  assert_int_equal(fx->ops->index_save(fx->be, "", 0, a.s, a.len, 1), OCKAM_EINVAL);
  assert_int_equal(fx->ops->index_save(fx->be, longname, sizeof longname, a.s, a.len, 1),
                   OCKAM_EOVERFLOW);
  bool found;
  assert_int_equal(fx->ops->index_get(fx->be, "c", 1, "", 0, &f, &found), OCKAM_EINVAL);
  ockami_append items[3] = {
      {"", 0, (const uint8_t *)"x", 1, 9, 9},
      {a.s, a.len, (const uint8_t *)"y", 1, 9, 9},
      {longname, sizeof longname, (const uint8_t *)"z", 1, 9, 9},
  };
  assert_int_equal(fx->ops->append(fx->be, items, 3), OCKAM_OK);
  assert_int_equal(items[0].status, OCKAM_EINVAL);
  assert_int_equal(items[1].status, OCKAM_OK);
  assert_int_equal(items[1].index, 0);
  assert_int_equal(items[2].status, OCKAM_EOVERFLOW);
}

static void test_max_streams(void **state) {
  fixture *fx = *state;
  if (fx->bc->shared) skip(); /* counts streams of other tests on the same server */
  fx->opt.max_streams = 3;
  fx_open(fx);
  name s[5] = {nm(fx, "m1"), nm(fx, "m2"), nm(fx, "m3"), nm(fx, "m4"), nm(fx, "m5")};
  for (int i = 0; i < 3; i++) {
    assert_int_equal(fx->ops->stream_create(fx->be, s[i].s, s[i].len), OCKAM_OK);
  }
  assert_int_equal(fx->ops->stream_create(fx->be, s[3].s, s[3].len), OCKAM_EOVERFLOW);
  assert_int_equal(fx->ops->stream_create(fx->be, s[0].s, s[0].len), OCKAM_OK);
  ockami_append items[2] = {
      {s[1].s, s[1].len, (const uint8_t *)"x", 1, 9, 9},
      {s[4].s, s[4].len, (const uint8_t *)"y", 1, 9, 9},
  };
  assert_int_equal(fx->ops->append(fx->be, items, 2), OCKAM_OK);
  assert_int_equal(items[0].status, OCKAM_OK);
  assert_int_equal(items[1].status, OCKAM_EOVERFLOW);
  check_bounds(fx, s[4], 0, 0);
}

static void test_delete(void **state) {
  fixture *fx = *state;
  fx_open(fx);
  name a = nm(fx, "del"), b = nm(fx, "del-other"), gone = nm(fx, "del-never");
  for (uint64_t i = 0; i < 5; i++) put_pattern(fx, a, 20, i, i);
  put_pattern(fx, b, 20, 50, 0);
  assert_int_equal(fx->ops->index_save(fx->be, "c1", 2, a.s, a.len, 3), OCKAM_OK);
  assert_int_equal(fx->ops->index_save(fx->be, "c2", 2, a.s, a.len, 4), OCKAM_OK);
  assert_int_equal(fx->ops->index_save(fx->be, "c1", 2, b.s, b.len, 1), OCKAM_OK);
  assert_int_equal(fx->ops->stream_delete(fx->be, a.s, a.len), OCKAM_OK);
  check_bounds(fx, a, 0, 0);
  ockami_records r;
  read_n(fx, a, 0, 10, 0, &r);
  assert_int_equal(r.count, 0);
  ockami_records_free(&r);
  uint64_t v = 9;
  bool found = true;
  assert_int_equal(fx->ops->index_get(fx->be, "c1", 2, a.s, a.len, &v, &found), OCKAM_OK);
  assert_false(found);
  assert_int_equal(fx->ops->index_get(fx->be, "c2", 2, a.s, a.len, &v, &found), OCKAM_OK);
  assert_false(found);
  /* the other stream and its index are untouched */
  check_bounds(fx, b, 0, 1);
  assert_int_equal(fx->ops->index_get(fx->be, "c1", 2, b.s, b.len, &v, &found), OCKAM_OK);
  assert_true(found);
  assert_int_equal(v, 1);
  /* deleting again, or a stream that never existed: an explicit error */
  assert_int_equal(fx->ops->stream_delete(fx->be, a.s, a.len), OCKAM_ENOTFOUND);
  assert_int_equal(fx->ops->stream_delete(fx->be, gone.s, gone.len), OCKAM_ENOTFOUND);
  /* indexes saved under a name without a stream go all the same */
  assert_int_equal(fx->ops->index_save(fx->be, "c3", 2, gone.s, gone.len, 7), OCKAM_OK);
  assert_int_equal(fx->ops->stream_delete(fx->be, gone.s, gone.len), OCKAM_ENOTFOUND);
  assert_int_equal(fx->ops->index_get(fx->be, "c3", 2, gone.s, gone.len, &v, &found), OCKAM_OK);
  assert_false(found);
  /* a stream made again under the name starts at 0 */
  put_pattern(fx, a, 10, 77, 0);
  check_bounds(fx, a, 0, 1);
  read_n(fx, a, 0, 10, 0, &r);
  assert_int_equal(r.count, 1);
  check_record(&r.items[0], 0, 10, 77);
  ockami_records_free(&r);
  /* durable: a persistent backend still has it deleted after reopening */
  assert_int_equal(fx->ops->stream_delete(fx->be, b.s, b.len), OCKAM_OK);
  if (fx->bc->persistent) {
    fx_close(fx);
    fx_open(fx);
    check_bounds(fx, b, 0, 0);
    assert_int_equal(fx->ops->index_get(fx->be, "c1", 2, b.s, b.len, &v, &found), OCKAM_OK);
    assert_false(found);
    check_bounds(fx, a, 0, 1);
  }
  assert_int_equal(fx->ops->stream_delete(fx->be, "", 0), OCKAM_EINVAL);
}

/* Lists every stream of the backend page by page, keeping those of this test
 * (a shared server holds other tests' streams too). */
static size_t list_mine(fixture *fx, size_t page, ockami_stream_info *mine, size_t cap) {
  ockami_stream_info *buf = calloc(page, sizeof *buf);
  assert_non_null(buf);
  size_t plen = strlen(fx->prefix), got = 0, pages = 0;
  name after = {.len = 0};
  for (;;) {
    size_t count = 99;
    assert_int_equal(fx->ops->stream_list(fx->be, after.s, after.len, buf, page, &count), OCKAM_OK);
    assert_true(count <= page);
    for (size_t i = 0; i < count; i++) {
      if (buf[i].name_len >= plen && memcmp(buf[i].name, fx->prefix, plen) == 0) {
        assert_true(got < cap);
        mine[got++] = buf[i];
      }
    }
    assert_true(++pages < 100000);
    if (count < page) break;
    memcpy(after.s, buf[count - 1].name, buf[count - 1].name_len);
    after.len = buf[count - 1].name_len;
  }
  free(buf);
  return got;
}

static const ockami_stream_info *find_info(const ockami_stream_info *infos, size_t n, name a) {
  for (size_t i = 0; i < n; i++) {
    if (infos[i].name_len == a.len && memcmp(infos[i].name, a.s, a.len) == 0) return &infos[i];
  }
  return NULL;
}

static void test_list(void **state) {
  fixture *fx = *state;
  fx_open(fx);
  enum { S = 7 };
  name names[S] = {nm(fx, "l-a"),
                   nm(fx, "l-b"),
                   nm(fx, "l-c"),
                   nm(fx, "l-with space"),
                   nm_bytes(fx, (const uint8_t *)"l\0nul", 5),
                   nm(fx, "l-empty"),
                   nm(fx, "l")};
  uint64_t t0 = (uint64_t)time(NULL) * 1000;
  for (size_t s = 0; s + 2 < S; s++) {
    for (uint64_t k = 0; k <= s; k++) put_pattern(fx, names[s], 10 + s, k, k);
  }
  assert_int_equal(fx->ops->stream_create(fx->be, names[5].s, names[5].len), OCKAM_OK);
  assert_int_equal(fx->ops->stream_create(fx->be, names[6].s, names[6].len), OCKAM_OK);
  ockami_stream_info mine[S + 1];
  for (size_t page = 1; page <= S + 1; page += 3) {
    size_t n = list_mine(fx, page, mine, S + 1);
    assert_int_equal(n, S);
    for (size_t s = 0; s < S; s++) {
      const ockami_stream_info *in = find_info(mine, n, names[s]);
      assert_non_null(in);
      uint64_t count = s + 2 < S ? s + 1 : 0;
      assert_int_equal(in->first, 0);
      assert_int_equal(in->next, count);
      if (count) {
        assert_true(in->bytes >= count * (10 + s));
        assert_true(in->last_append_ms + 1000 >= t0);
        assert_true(in->last_append_ms <= (uint64_t)time(NULL) * 1000 + 1000);
      } else {
        assert_int_equal(in->last_append_ms, 0);
      }
    }
    /* each name once */
    for (size_t i = 0; i < n; i++) {
      for (size_t j = i + 1; j < n; j++) {
        assert_false(mine[i].name_len == mine[j].name_len &&
                     memcmp(mine[i].name, mine[j].name, mine[i].name_len) == 0);
      }
    }
  }
  /* memory and lmdb list in bytewise name order */
  if (!fx->bc->shared) {
    size_t n = list_mine(fx, 2, mine, S + 1);
    for (size_t i = 1; i < n; i++) {
      size_t l = mine[i - 1].name_len < mine[i].name_len ? mine[i - 1].name_len : mine[i].name_len;
      int c = memcmp(mine[i - 1].name, mine[i].name, l);
      assert_true(c < 0 || (c == 0 && mine[i - 1].name_len < mine[i].name_len));
    }
  }
  /* a deleted stream is no longer listed */
  assert_int_equal(fx->ops->stream_delete(fx->be, names[1].s, names[1].len), OCKAM_OK);
  size_t n = list_mine(fx, 4, mine, S + 1);
  assert_int_equal(n, S - 1);
  assert_null(find_info(mine, n, names[1]));
  /* front-end checks */
  size_t count = 5;
  assert_int_equal(fx->ops->stream_list(fx->be, NULL, 0, mine, 0, &count), OCKAM_EINVAL);
  assert_int_equal(count, 0);
  assert_int_equal(fx->ops->stream_list(fx->be, NULL, 0, NULL, 1, &count), OCKAM_EINVAL);
  assert_int_equal(fx->ops->stream_list(fx->be, NULL, 0, mine, 1, NULL), OCKAM_EINVAL);
  char longname[OCKAM_NAME_MAX + 1];
  memset(longname, 'x', sizeof longname);
  assert_int_equal(fx->ops->stream_list(fx->be, longname, sizeof longname, mine, 1, &count),
                   OCKAM_EOVERFLOW);
}

/* What the front end checks before a backend sees a call. */
static void test_front_end_checks(void **state) {
  fixture *fx = *state;
  void *be = NULL;
  assert_int_equal(fx->ops->open(NULL, &be), OCKAM_EINVAL);
  assert_int_equal(fx->ops->open(&fx->opt, NULL), OCKAM_EINVAL);
  fx->ops->close(NULL);
  fx->opt.max_record = 10;
  fx_open(fx);
  name a = nm(fx, "fe");
  put_pattern(fx, a, 5, 1, 0);
  /* NULL outputs are allowed where storage.h says so */
  assert_int_equal(fx->ops->bounds(fx->be, a.s, a.len, NULL, NULL), OCKAM_OK);
  assert_int_equal(fx->ops->index_get(fx->be, "c", 1, a.s, a.len, NULL, NULL), OCKAM_OK);
  assert_int_equal(fx->ops->read(fx->be, a.s, a.len, 0, 1, 0, NULL), OCKAM_EINVAL);
  assert_int_equal(fx->ops->append(fx->be, NULL, 1), OCKAM_EINVAL);
  /* a call with only bad records reaches no backend and fails none */
  ockami_append items[3] = {
      {a.s, a.len, NULL, 3, 9, 9},
      {a.s, a.len, (const uint8_t *)"12345678901", 11, 9, 9},
      {NULL, 4, (const uint8_t *)"x", 1, 9, 9},
  };
  assert_int_equal(fx->ops->append(fx->be, items, 3), OCKAM_OK);
  assert_int_equal(items[0].status, OCKAM_EINVAL);
  assert_int_equal(items[1].status, OCKAM_EOVERFLOW);
  assert_int_equal(items[2].status, OCKAM_EINVAL);
  for (int i = 0; i < 3; i++) assert_int_equal(items[i].index, 0);
  check_bounds(fx, a, 0, 1);
  /* limit 0 reads nothing, and a failed or empty read leaves out as it was */
  ockami_records r = {0};
  assert_int_equal(ockami_records_push(&r, 42, (const uint8_t *)"keep", 4), OCKAM_OK);
  assert_int_equal(fx->ops->read(fx->be, a.s, a.len, 0, 0, 0, &r), OCKAM_OK);
  assert_int_equal(r.count, 1);
  assert_int_equal(fx->ops->read(fx->be, a.s, a.len, 0, 5, 0, &r), OCKAM_OK);
  assert_int_equal(r.count, 2);
  assert_int_equal(r.items[0].index, 42);
  assert_memory_equal(r.items[0].data, "keep", 4);
  check_record(&r.items[1], 0, 5, 1);
  ockami_records_free(&r);
}

/* ---- the asynchronous store on a real loop -------------------------------- */

#define ASYNC_STREAMS 4

typedef struct actx {
  ockami_store *store;
  bool in_submit;  /* callbacks must never run inside a submit */
  size_t appended; /* append callbacks */
  size_t failed;
  int last_status;
  uint64_t next[ASYNC_STREAMS]; /* expected next index per stream */
  bool order_ok;
  size_t reads;
  size_t read_count;
  size_t indexes;
  bool found;
  uint64_t index;
  size_t done;
  size_t seq_next[ASYNC_STREAMS]; /* per-stream completion order */
  bool close_in_cb;
  int after_close_rc;
} actx;

typedef struct acall {
  actx *c;
  unsigned stream;
  size_t seq;    /* submission sequence within its stream */
  size_t expect; /* read: records expected */
} acall;

static pthread_t loop_thread; /* every test loop runs on the main thread */

static void check_seq(acall *k) {
  actx *c = k->c;
  assert_true(pthread_equal(pthread_self(), loop_thread));
  if (c->seq_next[k->stream] != k->seq) c->order_ok = false;
  c->seq_next[k->stream] = k->seq + 1;
}

static void on_append(void *arg, int status, uint64_t index) {
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

static void on_read(void *arg, int status, ockami_records *records) {
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

static void on_index(void *arg, int status, bool found, uint64_t index) {
  acall *k = arg;
  assert_false(k->c->in_submit);
  check_seq(k);
  assert_int_equal(status, OCKAM_OK);
  k->c->indexes++;
  k->c->found = found;
  k->c->index = index;
}

static void on_done(void *arg, int status) {
  acall *k = arg;
  assert_false(k->c->in_submit);
  check_seq(k);
  k->c->last_status = status;
  k->c->done++;
}

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void async_names(fixture *fx, name n[ASYNC_STREAMS]) {
  for (unsigned i = 0; i < ASYNC_STREAMS; i++) {
    char sfx[16];
    snprintf(sfx, sizeof sfx, "async-%u", i);
    n[i] = nm(fx, sfx);
  }
}

static void test_async_many(void **state) {
  fixture *fx = *state;
  enum { N = 10000, LEN = 100 };
  fx->opt.no_sync = false; /* measure durable commits */
  uv_loop_t loop;
  assert_int_equal(uv_loop_init(&loop), 0);
  actx c = {.order_ok = true};
  assert_int_equal(ockami_store_open(&loop, fx->ops, &fx->opt, &c.store), OCKAM_OK);
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

  ockami_store_close(c.store);
  assert_int_equal(uv_run(&loop, UV_RUN_DEFAULT), 0);
  assert_int_equal(uv_loop_close(&loop), 0);
  free(calls);
}

/* Reads, index ops and appends of several streams interleaved: each stream
 * completes in submission order, a read sees every append submitted before
 * it, and appends still share commits. */
static void test_async_mixed_order(void **state) {
  fixture *fx = *state;
  enum { N = 2000 };
  uv_loop_t loop;
  assert_int_equal(uv_loop_init(&loop), 0);
  actx c = {.order_ok = true};
  assert_int_equal(ockami_store_open(&loop, fx->ops, &fx->opt, &c.store), OCKAM_OK);
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
  ockami_store_close(c.store);
  assert_int_equal(uv_run(&loop, UV_RUN_DEFAULT), 0);
  assert_int_equal(uv_loop_close(&loop), 0);
  free(calls);
}

static void test_async_close_drains(void **state) {
  fixture *fx = *state;
  enum { N = 1000 };
  uv_loop_t loop;
  assert_int_equal(uv_loop_init(&loop), 0);
  actx c = {.order_ok = true};
  assert_int_equal(ockami_store_open(&loop, fx->ops, &fx->opt, &c.store), OCKAM_OK);
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
  assert_int_equal(uv_loop_init(&loop), 0);
  fx->opt.dir = fx->dir;
  assert_int_equal(ockami_store_open(&loop, fx->ops, &fx->opt, &c2.store), OCKAM_OK);
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
  assert_int_equal(uv_loop_init(&loop), 0);
  actx c = {.order_ok = true};
  assert_int_equal(ockami_store_open(&loop, fx->ops, &fx->opt, &c.store), OCKAM_OK);
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
  ockami_store_close(c.store);
  assert_int_equal(uv_run(&loop, UV_RUN_DEFAULT), 0);
  assert_int_equal(uv_loop_close(&loop), 0);
}

/* ---- lmdb only --------------------------------------------------------------- */

static void test_lmdb_fail_file(void **state) {
  fixture *fx = *state;
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
  ockami_append items[3] = {{a.s, a.len, (const uint8_t *)"1", 1, 9, 0},
                            {a.s, a.len, (const uint8_t *)"2", 1, 9, 0},
                            {a.s, a.len, (const uint8_t *)"3", 1, 9, 0}};
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
  assert_int_equal(uv_loop_init(&loop), 0);
  actx c = {.order_ok = true};
  assert_int_equal(ockami_store_open(&loop, fx->ops, &fx->opt, &c.store), OCKAM_OK);
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
  ockami_store_close(c.store);
  assert_int_equal(uv_run(&loop, UV_RUN_DEFAULT), 0);
  assert_int_equal(uv_loop_close(&loop), 0);
  fx_open(fx);
  check_bounds(fx, a, 0, 2);
}

static void test_lmdb_fail_after(void **state) {
  fixture *fx = *state;
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
  for (size_t i = 0; i < N; i++) items[i] = (ockami_append){a.s, a.len, data, LEN, 0, 0};
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
    for (size_t j = 0; j < 50; j++) items[j] = (ockami_append){a.s, a.len, data, sizeof data, 0, 0};
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

/* ---- runner ------------------------------------------------------------------ */

#define CONFORMANCE_TESTS(X) \
  X(test_empty)              \
  X(test_dense_indexes)      \
  X(test_group_multi_stream) \
  X(test_read_window)        \
  X(test_index)              \
  X(test_record_too_large)   \
  X(test_retention_count)    \
  X(test_retention_bytes)    \
  X(test_retention_age)      \
  X(test_reopen)             \
  X(test_names)              \
  X(test_bad_names)          \
  X(test_max_streams)        \
  X(test_delete)             \
  X(test_list)               \
  X(test_front_end_checks)   \
  X(test_async_many)         \
  X(test_async_mixed_order)  \
  X(test_async_close_drains) \
  X(test_async_errors)

#define LMDB_TESTS(X)       \
  X(test_lmdb_fail_file)    \
  X(test_lmdb_fail_after)   \
  X(test_lmdb_map_grow)     \
  X(test_lmdb_double_open)  \
  X(test_lmdb_garbage_file) \
  X(test_lmdb_bad_meta)     \
  X(test_lmdb_truncated)

#define TEST_ENTRY(f) {#f, f, fx_setup, fx_teardown, NULL},

static int run_conformance(const backend_case *bc) {
  struct CMUnitTest tests[] = {CONFORMANCE_TESTS(TEST_ENTRY)};
  for (size_t i = 0; i < sizeof tests / sizeof tests[0]; i++) tests[i].initial_state = (void *)bc;
  char group[64];
  snprintf(group, sizeof group, "storage conformance: %s", bc->name);
  return _cmocka_run_group_tests(group, tests, sizeof tests / sizeof tests[0], NULL, NULL);
}

static int run_lmdb_only(void) {
  struct CMUnitTest tests[] = {LMDB_TESTS(TEST_ENTRY)};
  for (size_t i = 0; i < sizeof tests / sizeof tests[0]; i++) {
    tests[i].initial_state = (void *)&case_lmdb;
  }
  return _cmocka_run_group_tests("storage: lmdb files and faults", tests,
                                 sizeof tests / sizeof tests[0], NULL, NULL);
}

int main(void) {
  loop_thread = pthread_self();
  ockam_log_set_sink(test_log_sink, NULL);
  unsetenv("OCKAM_STORE_FAIL_FILE");
  unsetenv("OCKAM_STORE_FAIL_APPEND_AFTER");
  int failed = 0;
  failed += run_conformance(&case_memory);
  failed += run_conformance(&case_lmdb);
  failed += run_lmdb_only();
  if (getenv("OCKAM_TEST_NATS_URL") && *getenv("OCKAM_TEST_NATS_URL")) {
    if (ockami_store_ops_find("jetstream")) {
      failed += run_conformance(&case_jetstream);
    } else {
      print_message("[  SKIPPED ] jetstream: backend not built\n");
    }
  } else {
    print_message("[  SKIPPED ] jetstream: set OCKAM_TEST_NATS_URL to run it\n");
  }
  return failed ? 1 : 0;
}
