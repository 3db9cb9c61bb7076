/* Growable byte buffer {data, len, cap}. */
#ifndef OCKAMI_BUF_H
#define OCKAMI_BUF_H

#include <stddef.h>
#include <stdint.h>

#include "ockam/error.h"

typedef struct ockami_buf {
  uint8_t *data;
  size_t len;
  size_t cap;
} ockami_buf;

#define OCKAMI_BUF_INIT \
  { NULL, 0, 0 }

/* Make room for `extra` more bytes. */
OCKAM_MUST_CHECK int ockami_buf_reserve(ockami_buf *b, size_t extra);
OCKAM_MUST_CHECK int ockami_buf_append(ockami_buf *b, const void *p, size_t n);
OCKAM_MUST_CHECK int ockami_buf_set(ockami_buf *b, const void *p, size_t n);
void ockami_buf_consume(ockami_buf *b, size_t n); /* drop n bytes from the front */
void ockami_buf_free(ockami_buf *b);
void ockami_buf_wipe_free(ockami_buf *b); /* zero the bytes, then free */

#endif
