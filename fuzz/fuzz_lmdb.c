/* What the lmdb stream store decodes from disk (src/storage/lmdb/):
 * the info records (format, next_id), stream metadata, record values
 * (append time ‖ data) and consumer indexes, all checked at open and on
 * every operation.
 *
 * LMDB's own page format is not fuzzed (liblmdb trusts its file). Instead
 * each input fills the four named databases of a store through the plain
 * LMDB API — raw key/value pairs anywhere, or well-formed metadata, records
 * and indexes with fuzzed fields — and then opens it with the backend and
 * runs every operation on the streams it names: bounds, read, index_get,
 * append, index_save and trim (with fuzzed retention limits). Nothing may
 * crash; what the backend accepts must be consistent:
 *   first <= next; reads return increasing indexes from max(from, first),
 *   at most `limit` of them; an append lands at the old `next`; saved
 *   indexes never go down.
 * The store lives in a directory under /dev/shm (or $TMPDIR) that is made
 * once, reused for every input and removed at exit.
 */
#include <errno.h>
#include <lmdb.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "fuzz.h"
#include "ockam/limits.h"
#include "storage.h"

static char dir[256];

/* The store files go when the run ends (-max_total_time, -runs). */
static void remove_dir(void) {
  char path[300];
  snprintf(path, sizeof path, "%s/data.mdb", dir);
  unlink(path);
  snprintf(path, sizeof path, "%s/lock.mdb", dir);
  unlink(path);
  rmdir(dir);
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  fuzz_quiet();
  const char *base = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : getenv("TMPDIR");
  snprintf(dir, sizeof dir, "%s/ockam-fuzz-lmdb-XXXXXX", base ? base : "/tmp");
  if (!mkdtemp(dir)) abort();
  atexit(remove_dir);
  return 0;
}

#define MAP_SIZE (8u << 20)
#define MAX_NAMES 8

typedef struct names {
  size_t n;
  uint8_t len[MAX_NAMES];
  char name[MAX_NAMES][OCKAM_NAME_MAX];
} names;

static void put_be(uint8_t *p, size_t len, uint64_t v) {
  for (size_t i = 0; i < len; i++) p[i] = (uint8_t)(v >> (8 * (len - 1 - i)));
}

static void remember(names *ns, const uint8_t *p, size_t len) {
  if (ns->n == MAX_NAMES || len == 0 || len > OCKAM_NAME_MAX) return;
  memcpy(ns->name[ns->n], p, len);
  ns->len[ns->n++] = (uint8_t)len;
}

/* Fill the store from the input. Returns false if LMDB itself refused. */
static bool fill(fuzz_in *in, uint8_t flags, names *streams, names *clients) {
  MDB_env *env;
  MDB_txn *txn;
  MDB_dbi dbi[5];
  static const char *const db_names[5] = {"info", "streams", "records", "indexes", "producers"};
  if (mdb_env_create(&env)) return false;
  bool ok = !mdb_env_set_maxdbs(env, 5) && !mdb_env_set_mapsize(env, MAP_SIZE) &&
            !mdb_env_open(env, dir, MDB_NOSYNC | MDB_NOTLS, 0600) &&
            !mdb_txn_begin(env, NULL, 0, &txn);
  if (!ok) {
    mdb_env_close(env);
    return false;
  }
  for (int i = 0; i < 5; i++) {
    if (mdb_dbi_open(txn, db_names[i], MDB_CREATE, &dbi[i]) || mdb_drop(txn, dbi[i], 0)) {
      mdb_txn_abort(txn);
      mdb_env_close(env);
      return false;
    }
  }
  if (flags & 1) {
    uint8_t fmt[4], next_id[4];
    put_be(fmt, 4, 1);
    put_be(next_id, 4, 1 + (uint64_t)fuzz_u8(in));
    MDB_val k = {6, "format"}, v = {4, fmt}, nk = {7, "next_id"}, nv = {4, next_id};
    (void)mdb_put(txn, dbi[0], &k, &v, 0);
    (void)mdb_put(txn, dbi[0], &nk, &nv, 0);
  }
  for (int entries = 0; entries < 64 && fuzz_left(in); entries++) {
    uint8_t kind = fuzz_u8(in) % 7;
    uint8_t key[2 * OCKAM_NAME_MAX + 1], val[300];
    size_t klen = 0, vlen = 0, n;
    const uint8_t *p;
    int db;
    switch (kind) {
      case 0:
      case 1:
      case 2:
      case 3: /* raw pair */
        db = kind;
        p = fuzz_bytes(in, fuzz_u8(in), &klen);
        memcpy(key, p, klen);
        p = fuzz_bytes(in, fuzz_u8(in), &vlen);
        memcpy(val, p, vlen);
        if (db == 1) remember(streams, key, klen);
        break;
      case 4: /* stream metadata: id, first, next, bytes */
        db = 1;
        p = fuzz_bytes(in, 1 + fuzz_u8(in) % 16, &klen);
        memcpy(key, p, klen);
        remember(streams, key, klen);
        put_be(val, 4, fuzz_u8(in));
        put_be(val + 4, 8, fuzz_u8(in));
        put_be(val + 12, 8, fuzz_u8(in));
        put_be(val + 20, 8, fuzz_u16(in));
        vlen = 28;
        break;
      case 5: /* record: (id, index) -> time ‖ data */
        db = 2;
        put_be(key, 4, fuzz_u8(in));
        put_be(key + 4, 8, fuzz_u8(in));
        klen = 12;
        put_be(val, 8, fuzz_u8(in) & 1 ? fuzz_u64(in) : (uint64_t)time(NULL) * 1000u);
        p = fuzz_bytes(in, fuzz_u8(in) % 64, &n);
        memcpy(val + 8, p, n);
        vlen = 8 + n;
        break;
      default: { /* index: client ‖ 00 ‖ stream -> u64, or the same key in
                    producers -> session ‖ seq ‖ index ‖ run_seq (u64 each) */
        db = fuzz_u8(in) & 1 ? 4 : 3;
        size_t cl, sl;
        const uint8_t *c = fuzz_bytes(in, 1 + fuzz_u8(in) % 8, &cl);
        const uint8_t *s = fuzz_bytes(in, 1 + fuzz_u8(in) % 8, &sl);
        memcpy(key, c, cl);
        key[cl] = 0;
        memcpy(key + cl + 1, s, sl);
        klen = cl + 1 + sl;
        remember(clients, c, cl);
        remember(streams, s, sl);
        put_be(val, 8, fuzz_u8(in));
        vlen = fuzz_u8(in) & 1 ? 8 : fuzz_u8(in) % 12;
        if (db == 4) {
          for (int f = 1; f < 4; f++) put_be(val + 8 * f, 8, fuzz_u8(in) % 8);
          vlen = fuzz_u8(in) & 1 ? OCKAMI_PRODUCER_STATE_LEN : fuzz_u8(in) % 40;
        }
        break;
      }
    }
    MDB_val k = {klen, key}, v = {vlen, val};
    (void)mdb_put(txn, dbi[db], &k, &v, 0); /* LMDB may refuse, e.g. empty keys */
  }
  int rc = mdb_txn_commit(txn);
  mdb_env_close(env);
  return rc == 0;
}

static void exercise(void *be, const names *streams, const names *clients, fuzz_in *in) {
  const ockami_store_ops *ops = &ockami_store_lmdb;
  for (size_t i = 0; i < streams->n; i++) {
    const char *s = streams->name[i];
    size_t sl = streams->len[i];
    uint64_t first = 0, next = 0;
    if (ops->bounds(be, s, sl, &first, &next) != 0) continue;
    FUZZ_CHECK(first <= next);
    uint64_t from = fuzz_u8(in);
    uint32_t limit = fuzz_u8(in);
    size_t max_bytes = fuzz_u8(in);
    ockami_records recs = {0};
    if (ops->read(be, s, sl, from, limit, max_bytes, &recs) == 0) {
      FUZZ_CHECK(recs.count <= limit);
      uint64_t lo = from > first ? from : first;
      for (size_t r = 0; r < recs.count; r++) {
        FUZZ_CHECK(recs.items[r].index >= lo);
        if (r) FUZZ_CHECK(recs.items[r].index > recs.items[r - 1].index);
      }
    }
    ockami_records_free(&recs);

    uint8_t payload[32];
    size_t plen;
    memcpy(payload, fuzz_bytes(in, fuzz_u8(in) % sizeof payload, &plen), plen);
    ockami_append a = {.stream = s, .stream_len = sl, .data = payload, .len = plen};
    if (ops->append(be, &a, 1) == 0 && a.status == 0) {
      FUZZ_CHECK(a.index == next);
      uint64_t f2, n2;
      FUZZ_CHECK(ops->bounds(be, s, sl, &f2, &n2) == 0 && n2 == next + 1 && f2 <= n2);
      ockami_records back = {0};
      FUZZ_CHECK(ops->read(be, s, sl, a.index, 1, 0, &back) == 0);
      FUZZ_CHECK(back.count == 1 && back.items[0].index == a.index && back.items[0].len == plen &&
                 (plen == 0 || memcmp(back.items[0].data, payload, plen) == 0));
      ockami_records_free(&back);
    }
    /* An idempotent producer's record (the clients double as producers):
     * stored exactly when admitted, and the state then names it. */
    for (size_t c = 0; c < clients->n; c++) {
      ockami_producer_state ps, ps2;
      bool have = false, have2 = false;
      if (ops->producer_get(be, clients->name[c], clients->len[c], s, sl, &ps, &have) != 0)
        continue;
      uint64_t b_first, b_next;
      if (ops->bounds(be, s, sl, &b_first, &b_next) != 0) continue;
      ockami_append ia = {.stream = s,
                          .stream_len = sl,
                          .data = payload,
                          .len = plen,
                          .producer = clients->name[c],
                          .producer_len = clients->len[c],
                          .session = fuzz_u8(in) % 4,
                          .seq = fuzz_u8(in) % 8};
      if (ops->append(be, &ia, 1) != 0 || ia.status != 0) continue;
      FUZZ_CHECK(ops->producer_get(be, clients->name[c], clients->len[c], s, sl, &ps2, &have2) ==
                 0);
      uint64_t f3, n3;
      FUZZ_CHECK(ops->bounds(be, s, sl, &f3, &n3) == 0);
      if (ia.idem == OCKAMI_IDEM_STORED) {
        FUZZ_CHECK(ia.index == b_next && n3 == b_next + 1);
        FUZZ_CHECK(have2 && ps2.session == ia.session && ps2.seq == ia.seq &&
                   ps2.index == ia.index);
        FUZZ_CHECK(ia.seq == 1 || (have && ps.session == ia.session && ia.seq == ps.seq + 1));
      } else {
        FUZZ_CHECK(n3 == b_next);
        FUZZ_CHECK(have2 == have && (!have || memcmp(&ps, &ps2, sizeof ps) == 0));
        if (ia.idem == OCKAMI_IDEM_DUPLICATE)
          FUZZ_CHECK(have && ps.session == ia.session && ia.seq <= ps.seq && ia.index <= ps.index);
        else
          FUZZ_CHECK(ia.idem == OCKAMI_IDEM_OUT_OF_ORDER && ia.expected >= 1 &&
                     ia.expected != ia.seq);
      }
    }
    for (size_t c = 0; c < clients->n; c++) {
      uint64_t idx = 0, idx2 = 0;
      bool found = false, found2 = false;
      if (ops->index_get(be, clients->name[c], clients->len[c], s, sl, &idx, &found) != 0) continue;
      uint64_t save = fuzz_u8(in);
      if (ops->index_save(be, clients->name[c], clients->len[c], s, sl, save) != 0) continue;
      FUZZ_CHECK(ops->index_get(be, clients->name[c], clients->len[c], s, sl, &idx2, &found2) == 0);
      FUZZ_CHECK(found2 && idx2 >= save && (!found || idx2 >= idx));
    }
  }
  if (ops->trim(be) == 0) {
    for (size_t i = 0; i < streams->n; i++) {
      uint64_t first, next;
      if (ops->bounds(be, streams->name[i], streams->len[i], &first, &next) == 0)
        FUZZ_CHECK(first <= next);
    }
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  fuzz_in in;
  fuzz_in_init(&in, data, size);
  uint8_t flags = fuzz_u8(&in);
  ockami_store_options opt = {
      .dir = dir,
      .map_size = MAP_SIZE,
      .no_sync = true,
      .max_messages = flags & 2 ? fuzz_u8(&in) : 0,
      .max_bytes = flags & 4 ? fuzz_u8(&in) : 0,
      .max_age_s = flags & 8 ? 1 + fuzz_u8(&in) % 4 : 0,
      .max_streams = flags & 16 ? 1 + fuzz_u8(&in) % 4 : 0,
      .max_record = flags & 32 ? fuzz_u8(&in) : 0,
  };
  names streams = {0}, clients = {0};
  if (!fill(&in, flags, &streams, &clients)) return 0;
  /* One stream name straight from the input too (may be new). */
  size_t extra;
  const uint8_t *p = fuzz_bytes(&in, 1 + fuzz_u8(&in) % 16, &extra);
  remember(&streams, p, extra);
  void *be = NULL;
  if (ockami_store_lmdb.open(&opt, &be) != 0) return 0;
  exercise(be, &streams, &clients, &in);
  ockami_store_lmdb.close(be);
  return 0;
}
