#include "bare.h"

#include "bytes.h"

#include <string.h>

static int fail(ockami_reader *r, int err) {
  if (!r->err) r->err = err;
  return r->err;
}

static int need(ockami_reader *r, size_t n) {
  if (r->err) return r->err;
  if (n > r->len - r->pos) return fail(r, OCKAM_ETRUNC);
  return OCKAM_OK;
}

int ockami_read_u8(ockami_reader *r, uint8_t *out) {
  int rc = need(r, 1);
  if (rc) return rc;
  *out = r->p[r->pos++];
  return OCKAM_OK;
}

static int read_le(ockami_reader *r, size_t n, uint64_t *out) {
  int rc = need(r, n);
  if (rc) return rc;
  *out = ockami_load_le(r->p + r->pos, n);
  r->pos += n;
  return OCKAM_OK;
}

int ockami_read_u16le(ockami_reader *r, uint16_t *out) {
  uint64_t v;
  int rc = read_le(r, 2, &v);
  if (!rc) *out = (uint16_t)v;
  return rc;
}

int ockami_read_u32le(ockami_reader *r, uint32_t *out) {
  uint64_t v;
  int rc = read_le(r, 4, &v);
  if (!rc) *out = (uint32_t)v;
  return rc;
}

int ockami_read_u64le(ockami_reader *r, uint64_t *out) {
  return read_le(r, 8, out);
}

int ockami_read_uint(ockami_reader *r, uint64_t *out) {
  if (r->err) return r->err;
  uint64_t v = 0;
  for (unsigned i = 0; i < 10; i++) {
    if (r->pos >= r->len) return fail(r, OCKAM_ETRUNC);
    uint8_t byte = r->p[r->pos++];
    if (i == 9 && byte > 1) return fail(r, OCKAM_EOVERFLOW); /* beyond 64 bits */
    v |= (uint64_t)(byte & 0x7f) << (7 * i);
    if (!(byte & 0x80)) {
      *out = v;
      return OCKAM_OK;
    }
  }
  return fail(r, OCKAM_EOVERFLOW); /* an 11th byte would be needed */
}

int ockami_read_uint_max(ockami_reader *r, uint64_t max, uint64_t *out) {
  uint64_t v;
  int rc = ockami_read_uint(r, &v);
  if (rc) return rc;
  if (v > max) return fail(r, OCKAM_EOVERFLOW);
  *out = v;
  return OCKAM_OK;
}

int ockami_read_option(ockami_reader *r, bool *present) {
  uint8_t tag;
  int rc = ockami_read_u8(r, &tag);
  if (!rc) *present = tag != 0;
  return rc;
}

int ockami_read_data(ockami_reader *r, size_t max, const uint8_t **out, size_t *out_len) {
  uint64_t n;
  int rc = ockami_read_uint(r, &n);
  if (rc) return rc;
  if (n > max) return fail(r, OCKAM_EOVERFLOW);
  rc = need(r, (size_t)n);
  if (rc) return rc;
  *out = r->p + r->pos;
  *out_len = (size_t)n;
  r->pos += (size_t)n;
  return OCKAM_OK;
}

int ockami_read_string(ockami_reader *r, size_t max, const char **out, size_t *out_len) {
  const uint8_t *p;
  size_t n;
  int rc = ockami_read_data(r, max, &p, &n);
  if (rc) return rc;
  if (!ockami_utf8_valid(p, n)) return fail(r, OCKAM_EUTF8);
  *out = (const char *)p;
  *out_len = n;
  return OCKAM_OK;
}

int ockami_read_fixed(ockami_reader *r, size_t n, const uint8_t **out) {
  int rc = need(r, n);
  if (rc) return rc;
  *out = r->p + r->pos;
  r->pos += n;
  return OCKAM_OK;
}

int ockami_reader_finish(const ockami_reader *r) {
  if (r->err) return r->err;
  return r->pos == r->len ? OCKAM_OK : OCKAM_ETRAILING;
}

/* Strict UTF-8 (RFC 3629): no overlongs, no surrogates, max U+10FFFF. */
bool ockami_utf8_valid(const uint8_t *p, size_t len) {
  size_t i = 0;
  while (i < len) {
    uint8_t c = p[i];
    if (c < 0x80) {
      i++;
      continue;
    }
    size_t n;
    uint32_t cp, min;
    if ((c & 0xe0) == 0xc0) {
      n = 1, cp = c & 0x1f, min = 0x80;
    } else if ((c & 0xf0) == 0xe0) {
      n = 2, cp = c & 0x0f, min = 0x800;
    } else if ((c & 0xf8) == 0xf0) {
      n = 3, cp = c & 0x07, min = 0x10000;
    } else {
      return false;
    }
    if (n > len - i - 1) return false;
    for (size_t k = 1; k <= n; k++) {
      if ((p[i + k] & 0xc0) != 0x80) return false;
      cp = (cp << 6) | (p[i + k] & 0x3f);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return false;
    i += n + 1;
  }
  return true;
}

size_t ockami_uint_encode(uint64_t v, uint8_t out[static 10]) {
  size_t n = 0;
  do {
    uint8_t byte = v & 0x7f;
    v >>= 7;
    out[n++] = byte | (v ? 0x80 : 0);
  } while (v);
  return n;
}

size_t ockami_uint_size(uint64_t v) {
  size_t n = 1;
  while (v >= 0x80) {
    v >>= 7;
    n++;
  }
  return n;
}

int ockami_write_u8(ockami_buf *b, uint8_t v) {
  return ockami_buf_append(b, &v, 1);
}

static int write_le(ockami_buf *b, uint64_t v, size_t n) {
  uint8_t tmp[8];
  ockami_store_le(tmp, n, v);
  return ockami_buf_append(b, tmp, n);
}

int ockami_write_u16le(ockami_buf *b, uint16_t v) {
  return write_le(b, v, 2);
}
int ockami_write_u32le(ockami_buf *b, uint32_t v) {
  return write_le(b, v, 4);
}
int ockami_write_u64le(ockami_buf *b, uint64_t v) {
  return write_le(b, v, 8);
}

int ockami_write_uint(ockami_buf *b, uint64_t v) {
  uint8_t tmp[10];
  size_t n = ockami_uint_encode(v, tmp);
  return ockami_buf_append(b, tmp, n);
}

int ockami_write_option(ockami_buf *b, bool present) {
  return ockami_write_u8(b, present ? 1 : 0);
}

int ockami_write_data(ockami_buf *b, const uint8_t *p, size_t len) {
  int rc = ockami_buf_reserve(b, len + 10);
  if (rc) return rc;
  b->len += ockami_uint_encode(len, b->data + b->len);
  if (len) memcpy(b->data + b->len, p, len);
  b->len += len;
  return OCKAM_OK;
}

int ockami_write_string(ockami_buf *b, const char *s, size_t len) {
  return ockami_write_data(b, (const uint8_t *)s, len);
}

int ockami_write_fixed(ockami_buf *b, const uint8_t *p, size_t len) {
  return ockami_buf_append(b, p, len);
}
