/* Batched records of the secure channel (docs/protocol-extensions.md,
 * "Secure channel: batched records"): the plaintext of one sealed record
 * carrying several TransportMessages, used only when both ends announced
 * OCKAMI_EXT_FLAG_BATCH and extended framing. Pure codec, no I/O.
 *
 *   marker 0xba (1) || count u16 BE (2) || count x (len u16 BE (2) || len bytes)
 *
 * 2 <= count <= OCKAMI_BATCH_MAX_COUNT, every len >= 1, no trailing bytes,
 * the whole plaintext at most OCKAMI_BATCH_MAX bytes. A single-message
 * plaintext is a BARE TransportMessage, whose first byte is its version
 * (always 1), so it never starts with the marker. */
#ifndef OCKAMI_BATCH_H
#define OCKAMI_BATCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "message.h"
#include "ockam/error.h"

#define OCKAMI_BATCH_MARKER 0xbau
#define OCKAMI_BATCH_HEADER 3u /* marker + count */
#define OCKAMI_BATCH_ITEM_HEADER 2u
#define OCKAMI_BATCH_MAX 65536u /* bytes of batch plaintext, header included */
#define OCKAMI_BATCH_MAX_COUNT 1024u
/* Largest item: what fits one batch of two items. */
#define OCKAMI_BATCH_ITEM_MAX \
  (OCKAMI_BATCH_MAX - OCKAMI_BATCH_HEADER - 2u * OCKAMI_BATCH_ITEM_HEADER - 1u)

/* Whether a record's plaintext is a batch (its first byte is the marker). */
static inline bool ockami_batch_is(const uint8_t *pt, size_t len) {
  return pt && len > 0 && pt[0] == OCKAMI_BATCH_MARKER;
}

/* --- encoding: begin, add items, finish ----------------------------------------- */

typedef struct ockami_batch_writer {
  ockami_buf *b;
  size_t start; /* offset of the marker in b */
  size_t count;
} ockami_batch_writer;

/* Start a batch at the end of b. Errors: OCKAM_EINVAL, OCKAM_ENOMEM. */
OCKAM_MUST_CHECK int ockami_batch_begin(ockami_batch_writer *w, ockami_buf *b);
/* Bytes the batch would have after adding an item of `len` bytes. */
size_t ockami_batch_size_with(const ockami_batch_writer *w, size_t len);
/* Append one item (raw bytes). Errors: OCKAM_EINVAL (len 0), OCKAM_EOVERFLOW
 * (the batch would exceed OCKAMI_BATCH_MAX bytes or OCKAMI_BATCH_MAX_COUNT
 * items; nothing appended), OCKAM_ENOMEM. */
OCKAM_MUST_CHECK int ockami_batch_add(ockami_batch_writer *w, const uint8_t *item, size_t len);
/* Append the BARE TransportMessage of m as one item (encoded in place). */
OCKAM_MUST_CHECK int ockami_batch_add_msg(ockami_batch_writer *w, const ockam_message *m);
/* Write the count. Errors: OCKAM_EINVAL when fewer than 2 items. */
OCKAM_MUST_CHECK int ockami_batch_finish(ockami_batch_writer *w);

/* The whole plaintext of a batched record of the messages linked from m by
 * their next pointers (2 to OCKAMI_BATCH_MAX_COUNT of them), written at dst;
 * plen must be exactly its size (the writer's, for the same messages). */
OCKAM_MUST_CHECK int ockami_batch_encode_list(const ockam_message *m, uint8_t *dst, size_t plen);

/* --- decoding --------------------------------------------------------------------- */

typedef struct ockami_batch_reader {
  const uint8_t *p;
  size_t len, off;
  size_t left; /* items not yet returned */
} ockami_batch_reader;

/* Check a whole batch plaintext (structure only, not the items' contents)
 * before anything of it is used; *count (may be NULL) receives the number of
 * items. Errors: OCKAM_EMALFORMED (no marker, count out of range, an empty
 * item), OCKAM_ETRUNC (an item runs past the end), OCKAM_ETRAILING (bytes
 * after the last item), OCKAM_EOVERFLOW (more than OCKAMI_BATCH_MAX bytes),
 * OCKAM_EINVAL. */
OCKAM_MUST_CHECK int ockami_batch_open(ockami_batch_reader *r, const uint8_t *p, size_t len,
                                       size_t *count);
/* The next item of an opened batch, in order; false after the last. */
bool ockami_batch_next(ockami_batch_reader *r, const uint8_t **item, size_t *len);

#endif
