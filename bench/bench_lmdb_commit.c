/* The disk's part of the guide's echo with an LMDB hub: one durable commit
 * of one record, as the hub's store makes it for a lone push.
 *
 *   bench_lmdb_commit --dir DIR [--count N]
 *
 * Opens an LMDB environment in DIR (created; on the file system the hub's
 * data lives on), then commits N transactions of one 100-byte record each
 * with LMDB's default durability: the data pages are written and
 * fdatasync()ed, then the meta page is written through LMDB's O_DSYNC
 * descriptor. Reports the commit's p50 and p99 in microseconds (after 20
 * warm-up commits). The echo makes two such commits in sequence (one per
 * stream hop), so its floor is two of these plus the four one-way trips
 * that bench_relay measures. */
#include <errno.h>
#include <lmdb.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "bench_util.h"

static void check(int rc, const char *what) {
  if (rc) {
    fprintf(stderr, "bench_lmdb_commit: %s: %s\n", what, mdb_strerror(rc));
    exit(1);
  }
}

int main(int argc, char **argv) {
  const char *dir = bench_arg(argc, argv, "--dir", NULL);
  long count = bench_arg_long(argc, argv, "--count", 500);
  if (!dir || count < 1) {
    fprintf(stderr, "usage: bench_lmdb_commit --dir DIR [--count N]\n");
    return 2;
  }
  if (mkdir(dir, 0700) && errno != EEXIST) {
    perror(dir);
    return 1;
  }
  MDB_env *env;
  MDB_dbi dbi;
  check(mdb_env_create(&env), "mdb_env_create");
  check(mdb_env_set_mapsize(env, (size_t)256 << 20), "mdb_env_set_mapsize");
  check(mdb_env_open(env, dir, 0, 0600), "mdb_env_open");
  MDB_txn *txn;
  check(mdb_txn_begin(env, NULL, 0, &txn), "mdb_txn_begin");
  check(mdb_dbi_open(txn, NULL, 0, &dbi), "mdb_dbi_open");
  check(mdb_txn_commit(txn), "mdb_txn_commit");
  uint8_t value[100];
  memset(value, 'v', sizeof value);
  double *lat = calloc((size_t)count, sizeof *lat);
  if (!lat) return 1;
  for (long i = -20; i < count; i++) {
    uint64_t k = (uint64_t)(i + 20);
    uint8_t key[8];
    for (int b = 0; b < 8; b++) key[b] = (uint8_t)(k >> (56 - 8 * b)); /* big-endian: appends */
    MDB_val mk = {sizeof key, key}, mv = {sizeof value, value};
    double t0 = bench_now();
    check(mdb_txn_begin(env, NULL, 0, &txn), "mdb_txn_begin");
    check(mdb_put(txn, dbi, &mk, &mv, MDB_APPEND), "mdb_put");
    check(mdb_txn_commit(txn), "mdb_txn_commit");
    if (i >= 0) lat[i] = (bench_now() - t0) * 1e6;
  }
  bench_result("lmdb_commit_p50", bench_percentile(lat, (size_t)count, 0.50), "us");
  bench_result("lmdb_commit_p99", bench_percentile(lat, (size_t)count, 0.99), "us");
  free(lat);
  mdb_env_close(env);
  return 0;
}
