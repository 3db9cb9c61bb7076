/* BARE reader and writer (src/codec/bare.c, spec §0).
 *
 * Input: [n][n op bytes][data]. Each op byte reads one value from a reader
 * over `data` (low nibble: kind; high nibble: a limit or length taken from
 * `sizes`). Every result is compared with a small reference decoder written
 * here from the spec, so the two must agree on values, errors and position.
 * Values that decode are written back with the writer, and the written bytes
 * must decode to the same values and be consumed exactly. The data section
 * is also checked as UTF-8 against a reference validator, and every uint
 * read is re-encoded with ockami_uint_encode (minimal, size agrees).
 */
#include "bare.h"
#include "fuzz.h"

enum {
  OP_U8,
  OP_U16,
  OP_U32,
  OP_U64,
  OP_UINT,
  OP_UINT_MAX,
  OP_OPTION,
  OP_DATA,
  OP_STRING,
  OP_FIXED,
  OP_FINISH,
  OP_KINDS
};

static const uint64_t sizes[16] = {0,  1,  2,  3,   4,   7,   8,     15,
                                   16, 31, 32, 127, 128, 255, 65535, UINT64_MAX};

typedef struct value {
  int rc;
  uint64_t u;       /* integers, option tag */
  const uint8_t *p; /* data, string, fixed */
  size_t len;
} value;

/* ---- reference decoder ---------------------------------------------------- */

typedef struct ref {
  const uint8_t *p;
  size_t len, pos;
  int err;
} ref;

/* Well-formed UTF-8 per Unicode Table 3-7. */
static bool ref_utf8(const uint8_t *s, size_t n) {
  size_t i = 0;
  while (i < n) {
    uint8_t c = s[i];
    size_t more;
    uint8_t lo = 0x80, hi = 0xbf;
    if (c <= 0x7f) {
      i++;
      continue;
    } else if (c >= 0xc2 && c <= 0xdf) {
      more = 1;
    } else if (c == 0xe0) {
      more = 2, lo = 0xa0;
    } else if ((c >= 0xe1 && c <= 0xec) || c == 0xee || c == 0xef) {
      more = 2;
    } else if (c == 0xed) {
      more = 2, hi = 0x9f;
    } else if (c == 0xf0) {
      more = 3, lo = 0x90;
    } else if (c >= 0xf1 && c <= 0xf3) {
      more = 3;
    } else if (c == 0xf4) {
      more = 3, hi = 0x8f;
    } else {
      return false;
    }
    if (n - i - 1 < more) return false;
    if (s[i + 1] < lo || s[i + 1] > hi) return false;
    for (size_t k = 2; k <= more; k++)
      if (s[i + k] < 0x80 || s[i + k] > 0xbf) return false;
    i += more + 1;
  }
  return true;
}

static int ref_fail(ref *r, int e) {
  if (!r->err) r->err = e;
  return r->err;
}

static int ref_take(ref *r, size_t n, const uint8_t **out) {
  if (r->err) return r->err;
  if (r->len - r->pos < n) return ref_fail(r, OCKAM_ETRUNC);
  *out = r->p + r->pos;
  r->pos += n;
  return 0;
}

static int ref_uint(ref *r, uint64_t *v) {
  if (r->err) return r->err;
  *v = 0;
  for (unsigned shift = 0;; shift += 7) {
    if (r->pos == r->len) return ref_fail(r, OCKAM_ETRUNC);
    uint8_t b = r->p[r->pos++];
    /* The tenth byte holds bit 63 only. */
    if (shift == 63 && b > 1) return ref_fail(r, OCKAM_EOVERFLOW);
    *v += (uint64_t)(b & 0x7f) << shift;
    if (b < 0x80) return 0;
  }
}

static value ref_op(ref *r, uint8_t op) {
  value v = {0};
  uint64_t lim = sizes[op >> 4];
  const uint8_t *p;
  switch ((op & 15) % OP_KINDS) {
    case OP_U8:
    case OP_OPTION:
    case OP_U16:
    case OP_U32:
    case OP_U64: {
      static const size_t width[] = {1, 2, 4, 8, 0, 0, 1};
      size_t w = width[(op & 15) % OP_KINDS];
      if (!(v.rc = ref_take(r, w, &p)))
        for (size_t i = 0; i < w; i++) v.u |= (uint64_t)p[i] << (8 * i);
      if (!v.rc && (op & 15) % OP_KINDS == OP_OPTION) v.u = v.u != 0;
      break;
    }
    case OP_UINT:
      v.rc = ref_uint(r, &v.u);
      break;
    case OP_UINT_MAX:
      v.rc = ref_uint(r, &v.u);
      if (!v.rc && v.u > lim) v.rc = ref_fail(r, OCKAM_EOVERFLOW);
      break;
    case OP_DATA:
    case OP_STRING: {
      uint64_t n;
      v.rc = ref_uint(r, &n);
      if (!v.rc && n > lim) v.rc = ref_fail(r, OCKAM_EOVERFLOW);
      if (!v.rc) v.rc = ref_take(r, (size_t)n, &v.p);
      if (!v.rc) v.len = (size_t)n;
      if (!v.rc && (op & 15) % OP_KINDS == OP_STRING && !ref_utf8(v.p, v.len))
        v.rc = ref_fail(r, OCKAM_EUTF8);
      break;
    }
    case OP_FIXED:
      lim = lim > 255 ? 255 : lim;
      v.rc = ref_take(r, (size_t)lim, &v.p);
      if (!v.rc) v.len = (size_t)lim;
      break;
    case OP_FINISH:
      v.rc = r->err ? r->err : r->pos == r->len ? 0 : OCKAM_ETRAILING;
      break;
  }
  if (v.rc) v.u = 0, v.p = NULL, v.len = 0;
  return v;
}

/* ---- the code under test ---------------------------------------------------- */

static value run_op(ockami_reader *r, uint8_t op) {
  value v = {0};
  uint64_t lim = sizes[op >> 4];
  switch ((op & 15) % OP_KINDS) {
    case OP_U8: {
      uint8_t x = 0;
      if (!(v.rc = ockami_read_u8(r, &x))) v.u = x;
      break;
    }
    case OP_U16: {
      uint16_t x = 0;
      if (!(v.rc = ockami_read_u16le(r, &x))) v.u = x;
      break;
    }
    case OP_U32: {
      uint32_t x = 0;
      if (!(v.rc = ockami_read_u32le(r, &x))) v.u = x;
      break;
    }
    case OP_U64:
      v.rc = ockami_read_u64le(r, &v.u);
      break;
    case OP_UINT:
      v.rc = ockami_read_uint(r, &v.u);
      break;
    case OP_UINT_MAX:
      v.rc = ockami_read_uint_max(r, lim, &v.u);
      break;
    case OP_OPTION: {
      bool b = false;
      if (!(v.rc = ockami_read_option(r, &b))) v.u = b;
      break;
    }
    case OP_DATA:
      v.rc = ockami_read_data(r, (size_t)(lim > SIZE_MAX ? SIZE_MAX : lim), &v.p, &v.len);
      break;
    case OP_STRING: {
      const char *s = NULL;
      v.rc = ockami_read_string(r, (size_t)(lim > SIZE_MAX ? SIZE_MAX : lim), &s, &v.len);
      v.p = (const uint8_t *)s;
      break;
    }
    case OP_FIXED:
      lim = lim > 255 ? 255 : lim;
      v.rc = ockami_read_fixed(r, (size_t)lim, &v.p);
      if (!v.rc) v.len = (size_t)lim;
      break;
    case OP_FINISH:
      v.rc = ockami_reader_finish(r);
      break;
  }
  if (v.rc) v.u = 0, v.p = NULL, v.len = 0;
  return v;
}

static int write_value(ockami_buf *b, uint8_t op, const value *v) {
  switch ((op & 15) % OP_KINDS) {
    case OP_U8:
      return ockami_write_u8(b, (uint8_t)v->u);
    case OP_U16:
      return ockami_write_u16le(b, (uint16_t)v->u);
    case OP_U32:
      return ockami_write_u32le(b, (uint32_t)v->u);
    case OP_U64:
      return ockami_write_u64le(b, v->u);
    case OP_UINT:
    case OP_UINT_MAX:
      return ockami_write_uint(b, v->u);
    case OP_OPTION:
      return ockami_write_option(b, v->u != 0);
    case OP_DATA:
      return ockami_write_data(b, v->p, v->len);
    case OP_STRING:
      return ockami_write_string(b, (const char *)v->p, v->len);
    case OP_FIXED:
      return ockami_write_fixed(b, v->p, v->len);
    default:
      return 0;
  }
}

static bool same(const value *a, const value *b) {
  return a->rc == b->rc && a->u == b->u && a->len == b->len &&
         (a->len == 0 || memcmp(a->p, b->p, a->len) == 0);
}

static void check_uint_encoding(uint64_t v) {
  uint8_t enc[10];
  size_t n = ockami_uint_encode(v, enc);
  FUZZ_CHECK(n >= 1 && n <= 10 && n == ockami_uint_size(v));
  FUZZ_CHECK(enc[n - 1] < 0x80 && (n == 1 || enc[n - 1] != 0));
  ref r = {enc, n, 0, 0};
  uint64_t back;
  FUZZ_CHECK(ref_uint(&r, &back) == 0 && back == v && r.pos == n);
}

#define MAX_OPS 64

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  fuzz_quiet();
  return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  fuzz_in in;
  fuzz_in_init(&in, data, size);
  size_t nops = fuzz_u8(&in) % (MAX_OPS + 1), len;
  const uint8_t *ops = fuzz_bytes(&in, nops, &nops);
  const uint8_t *body = fuzz_rest(&in, &len);

  FUZZ_CHECK(ockami_utf8_valid(body, len) == ref_utf8(body, len));

  ockami_reader r;
  ref m = {body, len, 0, 0};
  ockami_reader_init(&r, body, len);
  value got[MAX_OPS];
  int first_err = 0;
  size_t ok_ops = 0;
  for (size_t i = 0; i < nops; i++) {
    got[i] = run_op(&r, ops[i]);
    value want = ref_op(&m, ops[i]);
    FUZZ_CHECK(same(&got[i], &want));
    FUZZ_CHECK(r.pos == m.pos && r.pos <= r.len);
    FUZZ_CHECK(r.err == m.err);
    /* A failed reader stays failed with its first error. */
    if (first_err) FUZZ_CHECK(got[i].rc == first_err);
    if (got[i].rc && (ops[i] & 15) % OP_KINDS != OP_FINISH) first_err = got[i].rc;
    if (!first_err) ok_ops = i + 1;
    if (!got[i].rc &&
        ((ops[i] & 15) % OP_KINDS == OP_UINT || (ops[i] & 15) % OP_KINDS == OP_UINT_MAX))
      check_uint_encoding(got[i].u);
  }

  /* Write back what decoded; it must read back to the same values. */
  ockami_buf b = OCKAMI_BUF_INIT;
  for (size_t i = 0; i < ok_ops; i++) FUZZ_CHECK(write_value(&b, ops[i], &got[i]) == 0);
  ockami_reader r2;
  static const uint8_t none[1];
  ockami_reader_init(&r2, b.data ? b.data : none, b.len); /* nothing written: b.data is NULL */
  for (size_t i = 0; i < ok_ops; i++) {
    if ((ops[i] & 15) % OP_KINDS == OP_FINISH) continue;
    value again = run_op(&r2, ops[i]);
    FUZZ_CHECK(same(&again, &got[i]));
  }
  FUZZ_CHECK(ockami_reader_finish(&r2) == 0);
  ockami_buf_free(&b);
  return 0;
}
