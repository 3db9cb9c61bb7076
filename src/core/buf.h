/* Growable byte buffer {data, len, cap}; `off` bytes of its allocation lie
 * before `data` once bytes were dropped from the front without moving the
 * rest (ockami_buf_drop_front). */
#ifndef OCKAMI_BUF_H
#define OCKAMI_BUF_H

#include <stddef.h>
#include <stdint.h>

#include "ockam/error.h"

typedef struct ockami_buf {
  uint8_t *data;
  size_t len;
  size_t cap; /* bytes usable from data */
  size_t off; /* bytes of the allocation before data */
} ockami_buf;

#define OCKAMI_BUF_INIT \
  { NULL, 0, 0, 0 }

/* Make room for `extra` more bytes. */
OCKAM_MUST_CHECK int ockami_buf_reserve(ockami_buf *b, size_t extra);
OCKAM_MUST_CHECK int ockami_buf_append(ockami_buf *b, const void *p, size_t n);
OCKAM_MUST_CHECK int ockami_buf_set(ockami_buf *b, const void *p, size_t n);
void ockami_buf_consume(ockami_buf *b, size_t n); /* drop n bytes from the front */
/* Drop n (<= len) bytes from the front by moving `data` past them: no copy;
 * the memory stays allocated (and counted in `off`) until the buffer grows
 * or is freed. */
void ockami_buf_drop_front(ockami_buf *b, size_t n);
/* Empty the buffer, keeping (and reclaiming the dropped front of) its memory. */
void ockami_buf_clear(ockami_buf *b);
void ockami_buf_free(ockami_buf *b);
void ockami_buf_wipe_free(ockami_buf *b); /* zero the bytes, then free */

#endif
