/* ockami_send_direct: see direct_send.h. */
#include "direct_send.h"

#include <string.h>

#include "bare.h"
#include "ockam/limits.h"
#include "route.h"
#include "wire.h"

int ockami_direct_head(ockami_buf *h, const ockam_route *route, uint32_t skip, const char *from,
                       size_t from_len) {
  int rc = ockami_write_u8(h, 1);
  if (!rc) rc = ockami_route_encode_from(route, skip, h);
  if (!rc) rc = ockami_write_uint(h, 1);
  if (!rc) rc = ockami_write_u8(h, OCKAM_ADDRESS_LOCAL);
  if (!rc) rc = ockami_write_string(h, from, from_len);
  return rc;
}

/* The frame head for (route, from), or false when the route has no direct
 * output now. A head found is cached until the route, from or the node's
 * direct epoch changes. */
static bool direct_out(ockam_node *node, ockami_direct_cache *dc, const ockami_direct_output *d,
                       const char *from, size_t from_len, const ockam_route *route) {
  uint64_t epoch = ockami_node_direct_epoch(node);
  if (dc->valid && dc->epoch == epoch && dc->key.len == route->len + from_len &&
      !memcmp(dc->key.data, route->buf, route->len) &&
      !memcmp(dc->key.data + route->len, from, from_len))
    return dc->out != NULL;
  dc->valid = false;
  dc->out = NULL;
  dc->key.len = dc->head.len = 0;
  if (ockami_buf_append(&dc->key, route->buf, route->len) ||
      ockami_buf_append(&dc->key, (const uint8_t *)from, from_len))
    return false;
  uint32_t skip = 0;
  void *out = d->find(d->ctx, route, &skip);
  /* Not cached when there is none: the connection may come up later
   * without the epoch changing. */
  if (!out || skip >= route->count ||
      ockami_direct_head(&dc->head, route, skip, from, from_len) != OCKAM_OK)
    return false;
  dc->valid = true;
  dc->epoch = epoch;
  dc->out = out;
  return true;
}

int ockami_send_direct(ockam_node *node, ockami_direct_cache *dc, const char *from,
                       const ockam_route *route, const uint8_t *payload, size_t len) {
  if (!node || !dc || !from || !route || (len && !payload)) return OCKAM_EINVAL;
  const ockami_direct_output *d = ockami_node_direct(node);
  size_t from_len = strlen(from);
  if (d && route->count && len <= OCKAM_PAYLOAD_MAX && from_len <= OCKAM_ADDRESS_MAX_LEN &&
      ockami_node_dequeued(node) >= dc->slow_mark &&
      direct_out(node, dc, d, from, from_len, route)) {
    size_t head = dc->head.len, vlen = ockami_uint_size(len), body = head + vlen + len;
    uint8_t *p = body <= OCKAM_FRAME_MAX ? d->reserve(d->ctx, dc->out, body) : NULL;
    if (p) {
      uint8_t v[10];
      memcpy(p, dc->head.data, head);
      ockami_uint_encode(len, v);
      memcpy(p + head, v, vlen);
      if (len) memcpy(p + head + vlen, payload, len);
      d->commit(d->ctx, dc->out, body);
      dc->direct++;
      return OCKAM_OK;
    }
  }
  int rc = ockam_send(node, from, route, payload, len);
  if (!rc) {
    dc->slow_mark = ockami_node_enqueued(node);
    dc->queued++;
  }
  return rc;
}

void ockami_direct_cache_free(ockami_direct_cache *dc) {
  if (!dc) return;
  ockami_buf_free(&dc->key);
  ockami_buf_free(&dc->head);
  memset(dc, 0, sizeof *dc);
}
