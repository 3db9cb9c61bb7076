/* BARE encoding (spec §0): a bounds-checked read cursor and a growable writer.
 *
 * Reader: every call checks what is left before reading and, on failure,
 * returns a negative OCKAM_E* code and leaves the cursor "failed" (later
 * reads fail too, so a decoder may check once at the end). Nothing is ever
 * read past p + len. Lengths read from the input are checked against what
 * remains and against the caller's cap before anything is allocated.
 */
#ifndef OCKAMI_BARE_H
#define OCKAMI_BARE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "ockam/error.h"

typedef struct ockami_reader {
  const uint8_t *p;
  size_t len;
  size_t pos;
  int err; /* first error, 0 while healthy */
} ockami_reader;

static inline void ockami_reader_init(ockami_reader *r, const uint8_t *p, size_t len) {
  r->p = p;
  r->len = len;
  r->pos = 0;
  r->err = 0;
}
static inline size_t ockami_reader_left(const ockami_reader *r) {
  return r->len - r->pos;
}

OCKAM_MUST_CHECK int ockami_read_u8(ockami_reader *r, uint8_t *out);
OCKAM_MUST_CHECK int ockami_read_u16le(ockami_reader *r, uint16_t *out);
OCKAM_MUST_CHECK int ockami_read_u32le(ockami_reader *r, uint32_t *out);
OCKAM_MUST_CHECK int ockami_read_u64le(ockami_reader *r, uint64_t *out);
/* BARE uint (LEB128): at most 10 bytes, must fit u64; non-minimal overlong
 * encodings beyond 10 bytes fail with OCKAM_EOVERFLOW. */
OCKAM_MUST_CHECK int ockami_read_uint(ockami_reader *r, uint64_t *out);
/* uint that must be <= max (OCKAM_EOVERFLOW otherwise). */
OCKAM_MUST_CHECK int ockami_read_uint_max(ockami_reader *r, uint64_t max, uint64_t *out);
/* Optional tag: *present = (byte != 0) (any non-zero means Some, spec §0). */
OCKAM_MUST_CHECK int ockami_read_option(ockami_reader *r, bool *present);
/* BARE data / []u8: uint length <= max, then that many bytes. *out points into
 * the input (no copy). */
OCKAM_MUST_CHECK int ockami_read_data(ockami_reader *r, size_t max, const uint8_t **out,
                                      size_t *out_len);
/* BARE string: like data, plus UTF-8 validation (OCKAM_EUTF8). */
OCKAM_MUST_CHECK int ockami_read_string(ockami_reader *r, size_t max, const char **out,
                                        size_t *out_len);
/* n raw bytes (fixed-size array), pointing into the input. */
OCKAM_MUST_CHECK int ockami_read_fixed(ockami_reader *r, size_t n, const uint8_t **out);
/* 0 if every byte was consumed, OCKAM_ETRAILING otherwise (or the earlier error). */
OCKAM_MUST_CHECK int ockami_reader_finish(const ockami_reader *r);

bool ockami_utf8_valid(const uint8_t *p, size_t len);

/* Writer: appends to a growable buffer. Each returns 0 or OCKAM_ENOMEM. */
OCKAM_MUST_CHECK int ockami_write_u8(ockami_buf *b, uint8_t v);
OCKAM_MUST_CHECK int ockami_write_u16le(ockami_buf *b, uint16_t v);
OCKAM_MUST_CHECK int ockami_write_u32le(ockami_buf *b, uint32_t v);
OCKAM_MUST_CHECK int ockami_write_u64le(ockami_buf *b, uint64_t v);
OCKAM_MUST_CHECK int ockami_write_uint(ockami_buf *b, uint64_t v);
OCKAM_MUST_CHECK int ockami_write_option(ockami_buf *b, bool present);
OCKAM_MUST_CHECK int ockami_write_data(ockami_buf *b, const uint8_t *p, size_t len);
OCKAM_MUST_CHECK int ockami_write_string(ockami_buf *b, const char *s, size_t len);
OCKAM_MUST_CHECK int ockami_write_fixed(ockami_buf *b, const uint8_t *p, size_t len);

/* Encode v as uint into out (>= 10 bytes); returns the byte count. */
size_t ockami_uint_encode(uint64_t v, uint8_t out[static 10]);
/* Bytes the uint encoding of v takes. */
size_t ockami_uint_size(uint64_t v);

#endif
