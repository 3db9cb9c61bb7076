/* One conformance suite for every storage backend: "memory", "lmdb", and
 * "jetstream" when OCKAM_TEST_NATS_URL names a server (ctest runs it once
 * more as storage_conformance_jetstream against a private nats-server). Any
 * new backend behaviour gets its case here, not per backend. The async store
 * is tested in store_test.c, lmdb's files and faults in lmdb/lmdb_test.c. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "storage_test_util.h"

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
    items[i] =
        (ockami_append){n->s, n->len, data[i], sizeof data[i], UINT64_MAX, 1, NULL, 0, 0, 0, 0, 0};
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
      {a.s, a.len, buf, 500, 9, 9, NULL, 0, 0, 0, 0, 0},
      {a.s, a.len, buf, 1001, 9, 9, NULL, 0, 0, 0, 0, 0},
      {a.s, a.len, buf, 1000, 9, 9, NULL, 0, 0, 0, 0, 0},
      {a.s, a.len, NULL, 0, 9, 9, NULL, 0, 0, 0, 0, 0},
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
      {"", 0, (const uint8_t *)"x", 1, 9, 9, NULL, 0, 0, 0, 0, 0},
      {a.s, a.len, (const uint8_t *)"y", 1, 9, 9, NULL, 0, 0, 0, 0, 0},
      {longname, sizeof longname, (const uint8_t *)"z", 1, 9, 9, NULL, 0, 0, 0, 0, 0},
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
      {s[1].s, s[1].len, (const uint8_t *)"x", 1, 9, 9, NULL, 0, 0, 0, 0, 0},
      {s[4].s, s[4].len, (const uint8_t *)"y", 1, 9, 9, NULL, 0, 0, 0, 0, 0},
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
      {a.s, a.len, NULL, 3, 9, 9, NULL, 0, 0, 0, 0, 0},
      {a.s, a.len, (const uint8_t *)"12345678901", 11, 9, 9, NULL, 0, 0, 0, 0, 0},
      {NULL, 4, (const uint8_t *)"x", 1, 9, 9, NULL, 0, 0, 0, 0, 0},
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

/* One record of an idempotent producer. */
static ockami_append idem_rec(name *n, const char *producer, uint64_t session, uint64_t seq,
                              const char *data) {
  return (ockami_append){.stream = n->s,
                         .stream_len = n->len,
                         .data = (const uint8_t *)data,
                         .len = strlen(data),
                         .producer = producer,
                         .producer_len = strlen(producer),
                         .session = session,
                         .seq = seq};
}

static void check_producer(fixture *fx, name n, const char *producer, bool found, uint64_t session,
                           uint64_t seq, uint64_t index) {
  ockami_producer_state ps;
  bool have = !found;
  assert_int_equal(
      fx->ops->producer_get(fx->be, producer, strlen(producer), n.s, n.len, &ps, &have), OCKAM_OK);
  assert_int_equal(have, found);
  if (!found) return;
  assert_int_equal(ps.session, session);
  assert_int_equal(ps.seq, seq);
  assert_int_equal(ps.index, index);
}

/* Idempotent producers (storage.h): duplicates keep the original index,
 * gaps are refused, a new session starts at 1, the state is durable with
 * the records and goes with the stream. */
static void test_idempotent_producer(void **state) {
  fixture *fx = *state;
  fx_open(fx);
  name a = nm(fx, "idem");
  check_producer(fx, a, "p1", false, 0, 0, 0);
  /* one call: two new, a repeat of the second, a gap, another producer */
  ockami_append g1[5] = {idem_rec(&a, "p1", 7, 1, "one"), idem_rec(&a, "p1", 7, 2, "two"),
                         idem_rec(&a, "p1", 7, 2, "two"), idem_rec(&a, "p1", 7, 4, "four"),
                         idem_rec(&a, "p2", 1, 1, "p2-one")};
  assert_int_equal(fx->ops->append(fx->be, g1, 5), OCKAM_OK);
  for (int i = 0; i < 5; i++) assert_int_equal(g1[i].status, OCKAM_OK);
  assert_int_equal(g1[0].idem, OCKAMI_IDEM_STORED);
  assert_int_equal(g1[0].index, 0);
  assert_int_equal(g1[1].idem, OCKAMI_IDEM_STORED);
  assert_int_equal(g1[1].index, 1);
  assert_int_equal(g1[2].idem, OCKAMI_IDEM_DUPLICATE);
  assert_int_equal(g1[2].index, 1);
  assert_int_equal(g1[3].idem, OCKAMI_IDEM_OUT_OF_ORDER);
  assert_int_equal(g1[3].expected, 3);
  assert_int_equal(g1[4].idem, OCKAMI_IDEM_STORED);
  assert_int_equal(g1[4].index, 2);
  check_bounds(fx, a, 0, 3);
  /* the next call sees the state of the previous one */
  ockami_append g2[4] = {idem_rec(&a, "p1", 7, 1, "one"), idem_rec(&a, "p1", 7, 3, "three"),
                         idem_rec(&a, "p1", 7, 3, "three"), idem_rec(&a, "p1", 7, 5, "five")};
  assert_int_equal(fx->ops->append(fx->be, g2, 4), OCKAM_OK);
  assert_int_equal(g2[0].idem, OCKAMI_IDEM_DUPLICATE);
  assert_int_equal(g2[0].index, 0);
  assert_int_equal(g2[1].idem, OCKAMI_IDEM_STORED);
  assert_int_equal(g2[1].index, 3);
  assert_int_equal(g2[2].idem, OCKAMI_IDEM_DUPLICATE);
  assert_int_equal(g2[2].index, 3);
  assert_int_equal(g2[3].idem, OCKAMI_IDEM_OUT_OF_ORDER);
  assert_int_equal(g2[3].expected, 4);
  check_producer(fx, a, "p1", true, 7, 3, 3);
  check_producer(fx, a, "p2", true, 1, 1, 2);
  /* a new session must start at 1 */
  ockami_append g3[2] = {idem_rec(&a, "p1", 8, 2, "s8-two"), idem_rec(&a, "p1", 8, 1, "s8-one")};
  assert_int_equal(fx->ops->append(fx->be, g3, 2), OCKAM_OK);
  assert_int_equal(g3[0].idem, OCKAMI_IDEM_OUT_OF_ORDER);
  assert_int_equal(g3[0].expected, 1);
  assert_int_equal(g3[1].idem, OCKAMI_IDEM_STORED);
  assert_int_equal(g3[1].index, 4);
  check_bounds(fx, a, 0, 5);
  ockami_records r;
  read_n(fx, a, 0, 100, 0, &r);
  const char *want[5] = {"one", "two", "p2-one", "three", "s8-one"};
  assert_int_equal(r.count, 5);
  for (size_t i = 0; i < 5; i++) {
    assert_int_equal(r.items[i].len, strlen(want[i]));
    assert_memory_equal(r.items[i].data, want[i], strlen(want[i]));
  }
  ockami_records_free(&r);
  /* the front end refuses a producer with NUL and sequence 0 */
  ockami_append bad[2] = {idem_rec(&a, "p1", 8, 0, "zero"), idem_rec(&a, "p1", 8, 2, "nul")};
  bad[1].producer = "p\0x";
  bad[1].producer_len = 3;
  assert_int_equal(fx->ops->append(fx->be, bad, 2), OCKAM_OK);
  assert_int_equal(bad[0].status, OCKAM_EINVAL);
  assert_int_equal(bad[1].status, OCKAM_EINVAL);
  check_bounds(fx, a, 0, 5);
  if (fx->bc->persistent) {
    fx_close(fx);
    fx_open(fx);
    check_producer(fx, a, "p1", true, 8, 1, 4);
    ockami_append again = idem_rec(&a, "p1", 8, 1, "s8-one");
    assert_int_equal(fx->ops->append(fx->be, &again, 1), OCKAM_OK);
    assert_int_equal(again.idem, OCKAMI_IDEM_DUPLICATE);
    assert_int_equal(again.index, 4);
    check_bounds(fx, a, 0, 5);
  }
  /* deleting the stream forgets its producers */
  assert_int_equal(fx->ops->stream_delete(fx->be, a.s, a.len), OCKAM_OK);
  check_producer(fx, a, "p1", false, 0, 0, 0);
  check_producer(fx, a, "p2", false, 0, 0, 0);
  ockami_append fresh = idem_rec(&a, "p1", 8, 2, "s8-two");
  assert_int_equal(fx->ops->append(fx->be, &fresh, 1), OCKAM_OK);
  assert_int_equal(fresh.idem, OCKAMI_IDEM_OUT_OF_ORDER);
  assert_int_equal(fresh.expected, 1);
}

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
  X(test_idempotent_producer)

int main(void) {
  storage_test_init();
  int failed = 0;
  RUN_TESTS("storage conformance", &case_memory, CONFORMANCE_TESTS);
  RUN_TESTS("storage conformance", &case_lmdb, CONFORMANCE_TESTS);
  if (jetstream_wanted()) RUN_TESTS("storage conformance", &case_jetstream, CONFORMANCE_TESTS);
  return failed ? 1 : 0;
}
