#include "buf.h"

#include <sodium.h>
#include <stdlib.h>
#include <string.h>

int ockami_buf_reserve(ockami_buf *b, size_t extra) {
  if (extra > SIZE_MAX - b->len) return OCKAM_EOVERFLOW;
  size_t need = b->len + extra;
  if (need <= b->cap) return OCKAM_OK;
  if (b->off) { /* use the dropped front first */
    uint8_t *base = b->data - b->off;
    memmove(base, b->data, b->len);
    b->data = base;
    b->cap += b->off;
    b->off = 0;
    if (need <= b->cap) return OCKAM_OK;
  }
  size_t cap = b->cap ? b->cap : 64;
  while (cap < need) cap = cap > SIZE_MAX / 2 ? need : cap * 2;
  uint8_t *p = realloc(b->data, cap);
  if (!p) return OCKAM_ENOMEM;
  b->data = p;
  b->cap = cap;
  return OCKAM_OK;
}

int ockami_buf_append(ockami_buf *b, const void *p, size_t n) {
  if (n == 0) return OCKAM_OK;
  int rc = ockami_buf_reserve(b, n);
  if (rc) return rc;
  memcpy(b->data + b->len, p, n);
  b->len += n;
  return OCKAM_OK;
}

int ockami_buf_set(ockami_buf *b, const void *p, size_t n) {
  b->len = 0;
  return ockami_buf_append(b, p, n);
}

void ockami_buf_consume(ockami_buf *b, size_t n) {
  if (n >= b->len) {
    b->len = 0;
    return;
  }
  memmove(b->data, b->data + n, b->len - n);
  b->len -= n;
}

void ockami_buf_drop_front(ockami_buf *b, size_t n) {
  if (n > b->len) n = b->len;
  if (n == 0) return; /* also keeps an empty buffer's NULL data as it is */
  b->data += n;
  b->off += n;
  b->len -= n;
  b->cap -= n;
}

void ockami_buf_clear(ockami_buf *b) {
  b->len = 0;
  if (b->off) {
    b->data -= b->off;
    b->cap += b->off;
    b->off = 0;
  }
}

void ockami_buf_free(ockami_buf *b) {
  if (b->data) free(b->data - b->off);
  b->data = NULL;
  b->len = b->cap = b->off = 0;
}

void ockami_buf_wipe_free(ockami_buf *b) {
  if (b->data) sodium_memzero(b->data - b->off, b->off + b->cap);
  ockami_buf_free(b);
}
