#include "wire.h"

#include <stdlib.h>
#include <string.h>

#include "bytes.h"
#include "node.h"
#include "ockam/limits.h"

/* Address types >= 128 do not round-trip between Rust (u8) and Elixir (uint);
 * spec §1.1. We refuse them on input. */
#define ADDRESS_TYPE_MAX 127u

static size_t route_size(const ockam_route *r) {
  size_t n = ockami_uint_size(r->count);
  uint32_t pos = 0;
  ockam_address a;
  while (ockami_route_next(r, &pos, &a)) n += 1 + ockami_uint_size(a.len) + a.len;
  return n;
}

size_t ockami_tm_size(const ockam_message *m) {
  return 1 + route_size(&m->onward) + route_size(&m->ret) + ockami_uint_size(m->payload.len) +
         m->payload.len;
}

int ockami_route_encode_from(const ockam_route *route, uint32_t skip, ockami_buf *b) {
  if (skip > route->count) return OCKAM_EINVAL;
  int rc = ockami_write_uint(b, route->count - skip);
  uint32_t pos = 0, i = 0;
  ockam_address a;
  while (!rc && ockami_route_next(route, &pos, &a)) {
    if (i++ < skip) continue;
    rc = ockami_write_u8(b, a.type);
    if (!rc) rc = ockami_write_data(b, a.value, a.len);
  }
  return rc;
}

int ockami_route_encode(const ockam_route *route, ockami_buf *b) {
  return ockami_route_encode_from(route, 0, b);
}

int ockami_tm_encode(const ockam_message *m, ockami_buf *b) {
  int rc = ockami_buf_reserve(b, ockami_tm_size(m));
  if (rc) return rc;
  size_t start = b->len;
  if ((rc = ockami_write_u8(b, 1)) || (rc = ockami_route_encode(&m->onward, b)) ||
      (rc = ockami_route_encode(&m->ret, b)) ||
      (rc = ockami_write_data(b, m->payload.data, m->payload.len))) {
    b->len = start;
    return rc;
  }
  return OCKAM_OK;
}

static uint8_t *put_uint(uint8_t *p, uint64_t v) {
  uint8_t tmp[10];
  size_t n = ockami_uint_encode(v, tmp);
  memcpy(p, tmp, n);
  return p + n;
}

static uint8_t *put_route(uint8_t *p, const ockam_route *r) {
  p = put_uint(p, r->count);
  uint32_t pos = 0;
  ockam_address a;
  while (ockami_route_next(r, &pos, &a)) {
    *p++ = a.type;
    p = put_uint(p, a.len);
    memcpy(p, a.value, a.len);
    p += a.len;
  }
  return p;
}

int ockami_tm_encode_to(const ockam_message *m, uint8_t *out, size_t cap, size_t *len) {
  size_t n = ockami_tm_size(m);
  *len = 0;
  if (n > cap) return OCKAM_EOVERFLOW;
  uint8_t *p = out;
  *p++ = 1;
  p = put_route(p, &m->onward);
  p = put_route(p, &m->ret);
  p = put_uint(p, m->payload.len);
  if (m->payload.len) memcpy(p, m->payload.data, m->payload.len);
  *len = n;
  return OCKAM_OK;
}

int ockami_tm_encode_head_to(const ockam_message *m, uint8_t *out, size_t cap, size_t *len) {
  size_t n = ockami_tm_size(m) - m->payload.len;
  *len = 0;
  if (n > cap) return OCKAM_EOVERFLOW;
  uint8_t *p = out;
  *p++ = 1;
  p = put_route(p, &m->onward);
  p = put_route(p, &m->ret);
  put_uint(p, m->payload.len);
  *len = n;
  return OCKAM_OK;
}

int ockami_tm_encode_frame(const ockam_message *m, ockami_buf *b) {
  size_t n = ockami_tm_size(m);
  if (n > OCKAM_FRAME_MAX) return OCKAM_EOVERFLOW;
  int rc = ockami_buf_reserve(b, n + 2);
  if (rc) return rc;
  uint8_t hdr[2];
  ockami_store_be16(hdr, (uint16_t)n);
  size_t start = b->len;
  rc = ockami_buf_append(b, hdr, 2);
  if (!rc) rc = ockami_tm_encode(m, b);
  if (rc) b->len = start;
  return rc;
}

int ockami_route_decode(ockami_reader *r, ockam_route *out) {
  uint64_t count;
  int rc = ockami_read_uint_max(r, OCKAM_ROUTE_MAX_HOPS, &count);
  if (rc) return rc;
  ockam_route_clear(out);
  for (uint64_t i = 0; i < count; i++) {
    uint8_t type;
    const uint8_t *v;
    size_t vlen;
    if ((rc = ockami_read_u8(r, &type))) return rc;
    if (type > ADDRESS_TYPE_MAX) {
      r->err = OCKAM_EMALFORMED;
      return r->err;
    }
    if ((rc = ockami_read_data(r, OCKAM_ADDRESS_MAX_LEN, &v, &vlen))) return rc;
    if ((rc = ockam_route_append(out, type, v, vlen))) return rc;
  }
  return OCKAM_OK;
}

int ockami_tm_decode_routes(const uint8_t *p, size_t len, bool strict, ockam_message *m,
                            const uint8_t **payload, size_t *plen) {
  ockami_reader r;
  ockami_reader_init(&r, p, len);
  uint8_t version;
  int rc = ockami_read_u8(&r, &version);
  if (rc) return rc;
  if (version != 1) return OCKAM_EMALFORMED;
  if ((rc = ockami_route_decode(&r, &m->onward))) return rc;
  if ((rc = ockami_route_decode(&r, &m->ret))) return rc;
  if ((rc = ockami_read_data(&r, OCKAM_PAYLOAD_MAX, payload, plen))) return rc;
  if (strict && (rc = ockami_reader_finish(&r))) return rc;
  return OCKAM_OK;
}

int ockami_tm_decode(const uint8_t *p, size_t len, bool strict, ockam_message *m) {
  const uint8_t *payload;
  size_t plen;
  int rc = ockami_tm_decode_routes(p, len, strict, m, &payload, &plen);
  if (rc) return rc;
  return ockami_buf_set(&m->payload, payload, plen);
}

int ockam_message_encode(const ockam_message *m, uint8_t *out, size_t cap, size_t *len) {
  if (!m || !len || (cap && !out)) return OCKAM_EINVAL;
  size_t n = ockami_tm_size(m);
  *len = n;
  if (n > cap) return OCKAM_EOVERFLOW;
  ockami_buf b = OCKAMI_BUF_INIT;
  int rc = ockami_tm_encode(m, &b);
  if (!rc) memcpy(out, b.data, n);
  ockami_buf_free(&b);
  return rc;
}

int ockam_message_decode(const uint8_t *p, size_t len, ockam_message **out) {
  if ((!p && len) || !out) return OCKAM_EINVAL;
  ockam_message *m;
  int rc = ockam_message_new(&m);
  if (rc) return rc;
  rc = ockami_tm_decode(p, len, true, m);
  if (rc) {
    ockam_message_free(m);
    return rc;
  }
  *out = m;
  return OCKAM_OK;
}

int ockam_message_set_string(ockam_message *m, const char *s, size_t len) {
  if (!m || (len && !s)) return OCKAM_EINVAL;
  m->payload.len = 0;
  return ockami_write_string(&m->payload, s, len);
}

int ockam_message_get_string(const ockam_message *m, const char **s, size_t *len) {
  if (!m || !s || !len) return OCKAM_EINVAL;
  ockami_reader r;
  ockami_reader_init(&r, m->payload.data, m->payload.len);
  int rc = ockami_read_string(&r, OCKAM_PAYLOAD_MAX, s, len);
  if (!rc) rc = ockami_reader_finish(&r);
  return rc;
}

int ockam_send_string(ockam_node *node, const char *from, const ockam_route *route, const char *s) {
  if (!node || !from || !route || !s) return OCKAM_EINVAL;
  size_t len = strlen(s);
  if (len > OCKAM_PAYLOAD_MAX) return OCKAM_EOVERFLOW;
  ockami_buf b = OCKAMI_BUF_INIT;
  int rc = ockami_write_string(&b, s, len);
  if (!rc) rc = ockam_send(node, from, route, b.data, b.len);
  ockami_buf_free(&b);
  return rc;
}

int ockam_mailbox_receive_string(ockam_mailbox *mb, int64_t timeout_ms, char *buf, size_t cap,
                                 size_t *len) {
  if (!mb || !buf || !cap) return OCKAM_EINVAL;
  const ockam_message *head;
  int rc = ockami_mailbox_peek(mb, timeout_ms, &head);
  if (rc) return rc;
  const char *s;
  size_t n;
  rc = ockam_message_get_string(head, &s, &n);
  if (!rc && n >= cap) {
    if (len) *len = n;
    return OCKAM_ETOOSMALL; /* left queued for a larger buffer */
  }
  if (!rc) {
    memcpy(buf, s, n);
    buf[n] = '\0';
    if (len) *len = n;
  }
  ockam_message *m;
  if (ockam_mailbox_receive(mb, 0, &m) == OCKAM_OK) ockam_message_free(m);
  return rc;
}
