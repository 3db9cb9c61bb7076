/* Test support for the storage tests (storage_conformance_test.c,
 * store_test.c, lmdb/lmdb_test.c): a fixture per backend with a private
 * directory, stream names unique per test, record patterns, and the
 * callbacks that check the async store's completions. */
#ifndef OCKAM_STORAGE_TEST_UTIL_H
#define OCKAM_STORAGE_TEST_UTIL_H

#include <limits.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ockam/limits.h"
#include "storage.h"

typedef struct backend_case {
  const char *name;
  bool persistent; /* data survives close/open */
  bool shared;     /* state outlives a test (a server), so counts are global */
} backend_case;

extern const backend_case case_memory, case_lmdb, case_jetstream;

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

/* Error log lines since the last reset (corrupt-file tests look for words). */
extern char errors_logged[8192];

/* cmocka setup/teardown; the initial state is the backend_case. */
int fx_setup(void **state);
int fx_teardown(void **state);
void fx_open(fixture *fx);
void fx_close(fixture *fx);
/* prefix ‖ suffix */
name nm(const fixture *fx, const char *suffix);
/* prefix ‖ bytes, cut at OCKAM_NAME_MAX */
name nm_bytes(const fixture *fx, const uint8_t *bytes, size_t len);
void fill(uint8_t *buf, size_t len, uint64_t seed);
/* Appends one record; returns the call's error or the record's status. */
int put1(fixture *fx, name n, const void *data, size_t len, uint64_t *index);
/* Appends fill(len, seed) and checks it got expect_index. */
void put_pattern(fixture *fx, name n, size_t len, uint64_t seed, uint64_t expect_index);
void check_record(const ockami_record *r, uint64_t index, size_t len, uint64_t seed);
void check_bounds(fixture *fx, name n, uint64_t first, uint64_t next);
void read_n(fixture *fx, name n, uint64_t from, uint32_t limit, size_t max_bytes,
            ockami_records *out);

/* ---- the async store ---- */

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

struct uv_loop_s;
/* Inits the loop and opens an async store on it with the fixture's backend
 * and options. */
void async_open(fixture *fx, struct uv_loop_s *loop, actx *c);
/* Closes the store, runs the loop to the end and closes it. */
void async_close(struct uv_loop_s *loop, actx *c);
void async_names(fixture *fx, name n[ASYNC_STREAMS]);
void on_append(void *arg, int status, uint64_t index);
void on_read(void *arg, int status, ockami_records *records);
void on_index(void *arg, int status, bool found, uint64_t index);
void on_done(void *arg, int status);

/* Sets up logging and the environment; call first in main(). */
void storage_test_init(void);
/* Runs tests (fx_setup/fx_teardown around each) against one backend. */
int run_backend_tests(const char *group, const backend_case *bc, const char *const *names,
                      void (*const *fns)(void **), size_t n);
/* RUN_TESTS("group", &case_x, LIST) runs the tests of an X-macro list
 * X(test_a) X(test_b) ... against one backend, adding failures to `failed`. */
#define TEST_NAME(f) #f,
#define TEST_FN(f) f,
#define RUN_TESTS(group, bc, LIST)                                                      \
  do {                                                                                  \
    static const char *const names_[] = {LIST(TEST_NAME)};                              \
    static void (*const fns_[])(void **) = {LIST(TEST_FN)};                             \
    failed += run_backend_tests(group, bc, names_, fns_, sizeof fns_ / sizeof fns_[0]); \
  } while (0)

/* Whether the jetstream backend should be tested (built, and a server named
 * by OCKAM_TEST_NATS_URL); prints why not otherwise. */
bool jetstream_wanted(void);

#endif
