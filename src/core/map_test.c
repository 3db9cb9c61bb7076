/* The keyed hash map: insert, find, remove, iterate, growth, keys with NUL
 * bytes and many keys sharing a long prefix. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "map.h"

/* A distinct non-NULL pointer per i (never dereferenced). */
static void *val(size_t i) {
  return (void *)(uintptr_t)(i + 1);
}

static void test_basic(void **state) {
  (void)state;
  ockami_map m;
  ockami_map_init(&m);
  assert_null(ockami_map_get(&m, "a", 1));
  assert_null(ockami_map_remove(&m, "a", 1));
  assert_int_equal(ockami_map_put(&m, "a", 1, val(1)), OCKAM_OK);
  assert_int_equal(ockami_map_put(&m, "ab", 2, val(2)), OCKAM_OK);
  assert_int_equal(ockami_map_put(&m, "a", 1, val(3)), OCKAM_EEXIST);
  assert_ptr_equal(ockami_map_get(&m, "a", 1), val(1)); /* unchanged */
  assert_ptr_equal(ockami_map_get(&m, "ab", 2), val(2));
  assert_null(ockami_map_get(&m, "abc", 3));
  assert_null(ockami_map_get(&m, "b", 1));
  assert_int_equal(m.count, 2);
  ockami_map_entry *e = ockami_map_find(&m, "ab", 2);
  assert_non_null(e);
  e->value = val(9);
  assert_ptr_equal(ockami_map_get(&m, "ab", 2), val(9));
  assert_ptr_equal(ockami_map_remove(&m, "a", 1), val(1));
  assert_null(ockami_map_get(&m, "a", 1));
  assert_null(ockami_map_remove(&m, "a", 1));
  assert_int_equal(m.count, 1);
  /* the empty key is a key like any other */
  assert_int_equal(ockami_map_put(&m, "", 0, val(5)), OCKAM_OK);
  assert_ptr_equal(ockami_map_get(&m, "", 0), val(5));
  ockami_map_free(&m);
  assert_int_equal(m.count, 0);
  assert_null(ockami_map_get(&m, "ab", 2));
  /* usable again after free */
  assert_int_equal(ockami_map_put(&m, "x", 1, val(1)), OCKAM_OK);
  ockami_map_free(&m);
}

/* Keys are exact byte strings: NUL bytes count, and nothing stops at one. */
static void test_nul_keys(void **state) {
  (void)state;
  ockami_map m;
  ockami_map_init(&m);
  const char k1[] = "a\0b", k2[] = "a\0c", k3[] = "a";
  assert_int_equal(ockami_map_put(&m, k1, 3, val(1)), OCKAM_OK);
  assert_int_equal(ockami_map_put(&m, k2, 3, val(2)), OCKAM_OK);
  assert_int_equal(ockami_map_put(&m, k3, 1, val(3)), OCKAM_OK);
  assert_int_equal(ockami_map_put(&m, k3, 2, val(4)), OCKAM_OK); /* "a\0" */
  assert_int_equal(ockami_map_put(&m, "\0\0\0", 3, val(5)), OCKAM_OK);
  assert_int_equal(ockami_map_put(&m, "\0\0", 2, val(6)), OCKAM_OK);
  assert_int_equal(m.count, 6);
  assert_ptr_equal(ockami_map_get(&m, k1, 3), val(1));
  assert_ptr_equal(ockami_map_get(&m, k2, 3), val(2));
  assert_ptr_equal(ockami_map_get(&m, k3, 1), val(3));
  assert_ptr_equal(ockami_map_get(&m, k3, 2), val(4));
  assert_ptr_equal(ockami_map_get(&m, "\0\0\0", 3), val(5));
  assert_ptr_equal(ockami_map_get(&m, "\0\0", 2), val(6));
  assert_null(ockami_map_get(&m, "\0", 1));
  assert_ptr_equal(ockami_map_remove(&m, k1, 3), val(1));
  assert_ptr_equal(ockami_map_get(&m, k2, 3), val(2));
  ockami_map_entry *e = ockami_map_find(&m, k2, 3);
  assert_int_equal(e->key_len, 3);
  assert_memory_equal(e->key, k2, 3);
  ockami_map_free(&m);
}

/* Many keys that differ only at the end of a long common prefix, through
 * several growths; then every other one removed. */
static void test_grow_prefix(void **state) {
  (void)state;
  enum { N = 20000, PREFIX = 200 };
  static char keys[N][PREFIX + 8];
  ockami_map m;
  ockami_map_init(&m);
  for (size_t i = 0; i < N; i++) {
    memset(keys[i], 'p', PREFIX);
    memcpy(keys[i] + PREFIX, &i, sizeof(uint32_t));
    assert_int_equal(ockami_map_put(&m, keys[i], PREFIX + 4, val(i)), OCKAM_OK);
    assert_true(m.count <= m.nbuckets); /* load factor at most 1 */
  }
  assert_int_equal(m.count, N);
  for (size_t i = 0; i < N; i++) assert_ptr_equal(ockami_map_get(&m, keys[i], PREFIX + 4), val(i));
  /* the hash spreads them: no bucket holds more than a handful */
  size_t longest = 0;
  for (size_t b = 0; b < m.nbuckets; b++) {
    size_t len = 0;
    for (ockami_map_entry *e = m.buckets[b]; e; e = e->next) len++;
    if (len > longest) longest = len;
  }
  assert_true(longest <= 12);
  for (size_t i = 0; i < N; i += 2) {
    assert_ptr_equal(ockami_map_remove(&m, keys[i], PREFIX + 4), val(i));
  }
  assert_int_equal(m.count, N / 2);
  for (size_t i = 0; i < N; i++) {
    void *v = ockami_map_get(&m, keys[i], PREFIX + 4);
    if (i % 2) {
      assert_ptr_equal(v, val(i));
    } else {
      assert_null(v);
    }
  }
  ockami_map_free(&m);
}

static void test_iterate(void **state) {
  (void)state;
  enum { N = 1000 };
  ockami_map m;
  ockami_map_init(&m);
  /* an empty map iterates nothing */
  size_t bucket = 0;
  assert_null(ockami_map_next(&m, &bucket, NULL));
  ockami_map_iter it;
  ockami_map_iter_init(&m, &it);
  assert_null(ockami_map_iter_next(&it));
  static uint8_t seen[N];
  char key[16];
  for (size_t i = 0; i < N; i++) {
    int len = snprintf(key, sizeof key, "k%zu", i);
    assert_int_equal(ockami_map_put(&m, key, (size_t)len, val(i)), OCKAM_OK);
  }
  /* ockami_map_next: every entry once */
  size_t n = 0;
  bucket = 0;
  for (ockami_map_entry *e = ockami_map_next(&m, &bucket, NULL); e;
       e = ockami_map_next(&m, &bucket, e)) {
    size_t i = (size_t)(uintptr_t)e->value - 1;
    assert_true(i < N);
    assert_int_equal(seen[i], 0);
    seen[i] = 1;
    n++;
  }
  assert_int_equal(n, N);
  /* ockami_map_iter: removing the entry just returned is allowed */
  memset(seen, 0, sizeof seen);
  n = 0;
  ockami_map_iter_init(&m, &it);
  for (ockami_map_entry *e; (e = ockami_map_iter_next(&it));) {
    size_t i = (size_t)(uintptr_t)e->value - 1;
    assert_int_equal(seen[i], 0);
    seen[i] = 1;
    n++;
    if (i % 3 == 0) assert_ptr_equal(ockami_map_remove(&m, e->key, e->key_len), val(i));
  }
  assert_int_equal(n, N);
  assert_int_equal(m.count, N - (N + 2) / 3);
  for (size_t i = 0; i < N; i++) {
    int len = snprintf(key, sizeof key, "k%zu", i);
    assert_true((ockami_map_get(&m, key, (size_t)len) == NULL) == (i % 3 == 0));
  }
  /* removing everything while iterating leaves an empty map */
  ockami_map_iter_init(&m, &it);
  for (ockami_map_entry *e; (e = ockami_map_iter_next(&it));) {
    assert_non_null(ockami_map_remove(&m, e->key, e->key_len));
  }
  assert_int_equal(m.count, 0);
  ockami_map_free(&m);
}

/* One process-wide key: the same bytes hash alike in two maps, and the hash
 * depends on every byte and on the length. */
static void test_hash(void **state) {
  (void)state;
  assert_true(ockami_map_hash("abc", 3) == ockami_map_hash("abc", 3));
  assert_true(ockami_map_hash("abc", 3) != ockami_map_hash("abd", 3));
  assert_true(ockami_map_hash("a\0", 2) != ockami_map_hash("a", 1));
  ockami_map a, b;
  ockami_map_init(&a);
  ockami_map_init(&b);
  assert_int_equal(ockami_map_put(&a, "same", 4, val(1)), OCKAM_OK);
  assert_int_equal(ockami_map_put(&b, "same", 4, val(2)), OCKAM_OK);
  assert_true(ockami_map_find(&a, "same", 4)->hash == ockami_map_find(&b, "same", 4)->hash);
  ockami_map_free(&a);
  ockami_map_free(&b);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_basic),       cmocka_unit_test(test_nul_keys),
      cmocka_unit_test(test_grow_prefix), cmocka_unit_test(test_iterate),
      cmocka_unit_test(test_hash),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
