#include "route.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void ockami_route_init(ockam_route *r) {
  memset(r, 0, sizeof *r);
}

void ockami_route_release(ockam_route *r) {
  free(r->buf);
  ockami_route_init(r);
}

static int reserve(ockam_route *r, size_t extra) {
  size_t need = (size_t)r->len + extra;
  if (need <= r->cap) return OCKAM_OK;
  size_t cap = r->cap ? r->cap : 64;
  while (cap < need) cap *= 2;
  uint8_t *p = realloc(r->buf, cap);
  if (!p) return OCKAM_ENOMEM;
  r->buf = p;
  r->cap = (uint32_t)cap;
  return OCKAM_OK;
}

int ockami_route_assign(ockam_route *dst, const ockam_route *src) {
  if (dst == src) return OCKAM_OK;
  dst->len = 0;
  dst->count = 0;
  int rc = reserve(dst, src->len);
  if (rc) return rc;
  if (src->len) memcpy(dst->buf, src->buf, src->len);
  dst->len = src->len;
  dst->count = src->count;
  return OCKAM_OK;
}

int ockam_route_new(ockam_route **out) {
  if (!out) return OCKAM_EINVAL;
  *out = calloc(1, sizeof **out);
  return *out ? OCKAM_OK : OCKAM_ENOMEM;
}

void ockam_route_free(ockam_route *r) {
  if (!r) return;
  free(r->buf);
  free(r);
}

int ockam_route_copy(const ockam_route *r, ockam_route **out) {
  if (!r || !out) return OCKAM_EINVAL;
  ockam_route *c;
  int rc = ockam_route_new(&c);
  if (rc) return rc;
  rc = ockami_route_assign(c, r);
  if (rc) {
    ockam_route_free(c);
    return rc;
  }
  *out = c;
  return OCKAM_OK;
}

int ockami_parse_uint(const char *s, size_t len, uint64_t max, uint64_t *out) {
  if (!s || len == 0) return OCKAM_EINVAL;
  uint64_t v = 0;
  for (size_t i = 0; i < len; i++) {
    if (s[i] < '0' || s[i] > '9') return OCKAM_EINVAL;
    unsigned d = (unsigned)(s[i] - '0');
    if (v > (max - d) / 10) return OCKAM_EOVERFLOW;
    v = v * 10 + d;
  }
  *out = v;
  return OCKAM_OK;
}

bool ockami_tcp_address_parse(const uint8_t *v, size_t len, size_t *host_off, size_t *host_len,
                              uint32_t *port) {
  if (!v || len < 3 || len > OCKAM_ADDRESS_MAX_LEN) return false;
  for (size_t i = 0; i < len; i++)
    if (v[i] <= 0x20 || v[i] >= 0x7f || v[i] == '#' || v[i] == ';' || v[i] == ',') return false;
  size_t hoff = 0, hlen, colon;
  if (v[0] == '[') {
    const uint8_t *end = memchr(v, ']', len);
    if (!end || (size_t)(end - v) + 1 >= len || end[1] != ':') return false;
    hoff = 1;
    hlen = (size_t)(end - v) - 1;
    colon = (size_t)(end - v) + 1;
  } else {
    colon = len;
    while (colon > 0 && v[colon - 1] != ':') colon--;
    if (colon == 0) return false;
    colon--;
    hlen = colon;
    if (memchr(v, '[', hlen) || memchr(v, ']', hlen)) return false;
  }
  if (hlen == 0) return false;
  size_t plen = len - colon - 1;
  uint64_t p;
  if (plen > 5 || ockami_parse_uint((const char *)v + colon + 1, plen, 65535, &p)) return false;
  if (host_off) *host_off = hoff;
  if (host_len) *host_len = hlen;
  if (port) *port = (uint32_t)p;
  return true;
}

bool ockami_tcp_address_valid(const uint8_t *v, size_t len) {
  /* The Elixir hub's binary forms (spec §1.1): 00 ‖ IPv4 ‖ port, 01 ‖ 8×u16 ‖ port. */
  if (len == 7 && v[0] == 0x00) return true;
  if (len == 19 && v[0] == 0x01) return true;
  return ockami_tcp_address_parse(v, len, NULL, NULL, NULL);
}

/* Insert one hop at byte offset `at` (0 = front, r->len = back). */
static int insert_hop(ockam_route *r, size_t at, uint8_t type, const void *value, size_t len) {
  if (!r || (len && !value)) return OCKAM_EINVAL;
  if (len > OCKAM_ADDRESS_MAX_LEN) return OCKAM_EOVERFLOW;
  if (r->count >= OCKAM_ROUTE_MAX_HOPS) return OCKAM_EOVERFLOW;
  if (type == OCKAM_ADDRESS_TCP && !ockami_tcp_address_valid(value, len)) return OCKAM_EADDR;
  int rc = reserve(r, 2 + len);
  if (rc) return rc;
  if (r->len > at) memmove(r->buf + at + 2 + len, r->buf + at, r->len - at);
  r->buf[at] = type;
  r->buf[at + 1] = (uint8_t)len;
  if (len) memcpy(r->buf + at + 2, value, len);
  r->len += (uint32_t)(2 + len);
  r->count++;
  return OCKAM_OK;
}

int ockam_route_append(ockam_route *r, uint8_t type, const void *value, size_t len) {
  return insert_hop(r, r ? r->len : 0, type, value, len);
}

int ockam_route_prepend(ockam_route *r, uint8_t type, const void *value, size_t len) {
  return insert_hop(r, 0, type, value, len);
}

static int parse_hop(const char *s, size_t n, uint8_t *type, const char **value, size_t *vlen) {
  const char *hash = memchr(s, '#', n);
  if (!hash) {
    *type = 0;
    *value = s;
    *vlen = n;
    return n ? OCKAM_OK : OCKAM_EADDR;
  }
  if (memchr(hash + 1, '#', n - (size_t)(hash + 1 - s))) return OCKAM_EADDR;
  size_t tlen = (size_t)(hash - s);
  if (tlen == 0 || tlen > 3) return OCKAM_EADDR;
  unsigned t = 0;
  for (size_t i = 0; i < tlen; i++) {
    if (s[i] < '0' || s[i] > '9') return OCKAM_EADDR;
    t = t * 10 + (unsigned)(s[i] - '0');
  }
  if (t > 127) return OCKAM_EADDR; /* types >= 128 break Rust/Elixir interop (spec §1.1) */
  *type = (uint8_t)t;
  *value = hash + 1;
  *vlen = n - tlen - 1;
  return *vlen ? OCKAM_OK : OCKAM_EADDR;
}

int ockam_route_append_str(ockam_route *r, const char *hop) {
  if (!r || !hop) return OCKAM_EINVAL;
  uint8_t type;
  const char *value;
  size_t vlen;
  int rc = parse_hop(hop, strlen(hop), &type, &value, &vlen);
  if (rc) return rc;
  return ockam_route_append(r, type, value, vlen);
}

int ockam_route_parse(const char *text, ockam_route **out) {
  if (!text || !out) return OCKAM_EINVAL;
  ockam_route *r;
  int rc = ockam_route_new(&r);
  if (rc) return rc;
  const char *p = text;
  while (*p) {
    while (*p == ' ' || *p == '\t') p++;
    const char *start = p;
    while (*p && *p != ';' && *p != ',') p++;
    const char *end = p;
    while (end > start && (end[-1] == ' ' || end[-1] == '\t')) end--;
    if (end > start) {
      uint8_t type;
      const char *value;
      size_t vlen;
      rc = parse_hop(start, (size_t)(end - start), &type, &value, &vlen);
      if (!rc) rc = ockam_route_append(r, type, value, vlen);
      if (rc) {
        ockam_route_free(r);
        return rc;
      }
    }
    if (*p) p++;
  }
  *out = r;
  return OCKAM_OK;
}

int ockam_route_append_route(ockam_route *r, const ockam_route *src) {
  if (!r || !src) return OCKAM_EINVAL;
  if ((size_t)r->count + src->count > OCKAM_ROUTE_MAX_HOPS) return OCKAM_EOVERFLOW;
  int rc = reserve(r, src->len);
  if (rc) return rc;
  if (src->len) memcpy(r->buf + r->len, src->buf, src->len);
  r->len += src->len;
  r->count = (uint16_t)(r->count + src->count);
  return OCKAM_OK;
}

void ockam_route_pop(ockam_route *r) {
  if (!r || r->count == 0) return;
  uint32_t hop = 2u + r->buf[1];
  memmove(r->buf, r->buf + hop, r->len - hop);
  r->len -= hop;
  r->count--;
}

void ockam_route_clear(ockam_route *r) {
  if (!r) return;
  r->len = 0;
  r->count = 0;
}

size_t ockam_route_len(const ockam_route *r) {
  return r ? r->count : 0;
}

bool ockami_route_next(const ockam_route *r, uint32_t *pos, ockam_address *out) {
  if (*pos >= r->len) return false;
  out->type = r->buf[*pos];
  out->len = r->buf[*pos + 1];
  out->value = r->buf + *pos + 2;
  *pos += 2u + out->len;
  return true;
}

bool ockami_route_first(const ockam_route *r, ockam_address *out) {
  uint32_t pos = 0;
  return r && ockami_route_next(r, &pos, out);
}

int ockam_route_get(const ockam_route *r, size_t i, ockam_address *out) {
  if (!r || !out) return OCKAM_EINVAL;
  uint32_t pos = 0;
  ockam_address a;
  for (size_t k = 0; ockami_route_next(r, &pos, &a); k++) {
    if (k == i) {
      *out = a;
      return OCKAM_OK;
    }
  }
  return OCKAM_ENOTFOUND;
}

bool ockam_route_equal(const ockam_route *a, const ockam_route *b) {
  if (!a || !b) return a == b;
  return a->count == b->count && a->len == b->len &&
         (a->len == 0 || !memcmp(a->buf, b->buf, a->len));
}

bool ockami_address_is(const ockam_address *a, uint8_t type, const char *value) {
  size_t n = strlen(value);
  return a->type == type && a->len == n && memcmp(a->value, value, n) == 0;
}

size_t ockam_route_format(const ockam_route *r, char *out, size_t cap) {
  if (!out || cap == 0) return 0;
  size_t n = 0;
#define PUT(c)                     \
  do {                             \
    if (n + 1 < cap) out[n] = (c); \
    n++;                           \
  } while (0)
  PUT('[');
  uint32_t pos = 0;
  ockam_address a;
  bool first = true;
  while (r && ockami_route_next(r, &pos, &a)) {
    if (!first) {
      PUT(',');
      PUT(' ');
    }
    first = false;
    char t[8];
    int tl = snprintf(t, sizeof t, "%u#", a.type);
    for (int i = 0; i < tl; i++) PUT(t[i]);
    for (size_t i = 0; i < a.len; i++) {
      uint8_t c = a.value[i];
      PUT((c >= 0x20 && c < 0x7f) ? (char)c : '?');
    }
  }
  PUT(']');
#undef PUT
  if (n + 1 > cap) {
    if (cap >= 4) memcpy(out + cap - 4, "...", 3);
    out[cap - 1] = '\0';
    return cap - 1;
  }
  out[n] = '\0';
  return n;
}
