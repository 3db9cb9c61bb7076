/* Batched records: see batch.h and docs/protocol-extensions.md. */
#include "batch.h"

#include <string.h>

#include "bytes.h"
#include "wire.h"

int ockami_batch_begin(ockami_batch_writer *w, ockami_buf *b) {
  if (!w || !b) return OCKAM_EINVAL;
  w->b = b;
  w->start = b->len;
  w->count = 0;
  uint8_t hdr[OCKAMI_BATCH_HEADER] = {OCKAMI_BATCH_MARKER, 0, 0};
  return ockami_buf_append(b, hdr, sizeof hdr);
}

size_t ockami_batch_size_with(const ockami_batch_writer *w, size_t len) {
  size_t now = w->b->len - w->start;
  if (len > SIZE_MAX - now - OCKAMI_BATCH_ITEM_HEADER) return SIZE_MAX;
  return now + OCKAMI_BATCH_ITEM_HEADER + len;
}

static int item_room(const ockami_batch_writer *w, size_t len) {
  if (!w || !w->b || len == 0) return OCKAM_EINVAL;
  if (len > UINT16_MAX || w->count >= OCKAMI_BATCH_MAX_COUNT ||
      ockami_batch_size_with(w, len) > OCKAMI_BATCH_MAX)
    return OCKAM_EOVERFLOW;
  return OCKAM_OK;
}

int ockami_batch_add(ockami_batch_writer *w, const uint8_t *item, size_t len) {
  int rc = item_room(w, len);
  if (rc) return rc;
  if (!item) return OCKAM_EINVAL;
  if ((rc = ockami_buf_reserve(w->b, OCKAMI_BATCH_ITEM_HEADER + len))) return rc;
  ockami_store_be16(w->b->data + w->b->len, (uint16_t)len);
  memcpy(w->b->data + w->b->len + OCKAMI_BATCH_ITEM_HEADER, item, len);
  w->b->len += OCKAMI_BATCH_ITEM_HEADER + len;
  w->count++;
  return OCKAM_OK;
}

/* One item at dst: m's TransportMessage (len bytes, at most UINT16_MAX)
 * after its u16 BE length. */
static int put_msg_item(uint8_t *dst, const ockam_message *m, size_t len) {
  size_t got = 0;
  ockami_store_be16(dst, (uint16_t)len);
  int rc = ockami_tm_encode_to(m, dst + OCKAMI_BATCH_ITEM_HEADER, len, &got);
  return rc ? rc : got != len ? OCKAM_EINVAL : OCKAM_OK;
}

int ockami_batch_add_msg(ockami_batch_writer *w, const ockam_message *m) {
  if (!m) return OCKAM_EINVAL;
  size_t len = ockami_tm_size(m);
  int rc = item_room(w, len);
  if (rc) return rc;
  if ((rc = ockami_buf_reserve(w->b, OCKAMI_BATCH_ITEM_HEADER + len))) return rc;
  if ((rc = put_msg_item(w->b->data + w->b->len, m, len))) return rc;
  w->b->len += OCKAMI_BATCH_ITEM_HEADER + len;
  w->count++;
  return OCKAM_OK;
}

int ockami_batch_finish(ockami_batch_writer *w) {
  if (!w || !w->b || w->count < 2) return OCKAM_EINVAL;
  ockami_store_be16(w->b->data + w->start + 1, (uint16_t)w->count);
  return OCKAM_OK;
}

/* The plaintext of a batched record (marker, count, then each message as
 * u16 BE length and TransportMessage) of the list at m, written at dst. */
int ockami_batch_encode_list(const ockam_message *m, uint8_t *dst, size_t plen) {
  size_t count = 0, at = OCKAMI_BATCH_HEADER;
  if (plen < OCKAMI_BATCH_HEADER) return OCKAM_EINVAL;
  for (; m; m = m->next, count++) {
    size_t len = ockami_tm_size(m);
    if (len > UINT16_MAX || plen - at < OCKAMI_BATCH_ITEM_HEADER + len) return OCKAM_EINVAL;
    int rc = put_msg_item(dst + at, m, len);
    if (rc) return rc;
    at += OCKAMI_BATCH_ITEM_HEADER + len;
  }
  if (at != plen || count < 2 || count > OCKAMI_BATCH_MAX_COUNT) return OCKAM_EINVAL;
  dst[0] = OCKAMI_BATCH_MARKER;
  ockami_store_be16(dst + 1, (uint16_t)count);
  return OCKAM_OK;
}

int ockami_batch_open(ockami_batch_reader *r, const uint8_t *p, size_t len, size_t *count) {
  if (count) *count = 0;
  if (!r || (!p && len)) return OCKAM_EINVAL;
  memset(r, 0, sizeof *r);
  if (len > OCKAMI_BATCH_MAX) return OCKAM_EOVERFLOW;
  if (len < OCKAMI_BATCH_HEADER)
    return len && p[0] != OCKAMI_BATCH_MARKER ? OCKAM_EMALFORMED : OCKAM_ETRUNC;
  if (p[0] != OCKAMI_BATCH_MARKER) return OCKAM_EMALFORMED;
  size_t n = ockami_load_be16(p + 1);
  if (n < 2 || n > OCKAMI_BATCH_MAX_COUNT) return OCKAM_EMALFORMED;
  size_t off = OCKAMI_BATCH_HEADER;
  for (size_t i = 0; i < n; i++) {
    if (len - off < OCKAMI_BATCH_ITEM_HEADER) return OCKAM_ETRUNC;
    size_t l = ockami_load_be16(p + off);
    off += OCKAMI_BATCH_ITEM_HEADER;
    if (l == 0) return OCKAM_EMALFORMED;
    if (len - off < l) return OCKAM_ETRUNC;
    off += l;
  }
  if (off != len) return OCKAM_ETRAILING;
  r->p = p;
  r->len = len;
  r->off = OCKAMI_BATCH_HEADER;
  r->left = n;
  if (count) *count = n;
  return OCKAM_OK;
}

bool ockami_batch_next(ockami_batch_reader *r, const uint8_t **item, size_t *len) {
  if (!r || !r->left) return false;
  /* Bounds were checked by ockami_batch_open. */
  size_t l = ockami_load_be16(r->p + r->off);
  *item = r->p + r->off + OCKAMI_BATCH_ITEM_HEADER;
  *len = l;
  r->off += OCKAMI_BATCH_ITEM_HEADER + l;
  r->left--;
  return true;
}
