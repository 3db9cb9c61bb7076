/* Route internals: hops packed as [type][len][value...] in one buffer, so a
 * route is one allocation and copying it is one memcpy. */
#ifndef OCKAMI_ROUTE_H
#define OCKAMI_ROUTE_H

#include <stdbool.h>

#include "ockam/limits.h"
#include "ockam/route.h"

struct ockam_route {
  uint8_t *buf;
  uint32_t len;
  uint32_t cap;
  uint16_t count;
};

#define OCKAMI_ROUTE_INIT \
  { NULL, 0, 0, 0 }

void ockami_route_init(ockam_route *r);
void ockami_route_release(ockam_route *r); /* free storage, leave empty */
OCKAM_MUST_CHECK int ockami_route_assign(ockam_route *dst, const ockam_route *src);
/* First hop without bounds surprises: false when the route is empty. */
bool ockami_route_first(const ockam_route *r, ockam_address *out);
/* Iterate: pos starts at 0; returns false at the end. */
bool ockami_route_next(const ockam_route *r, uint32_t *pos, ockam_address *out);
bool ockami_address_is(const ockam_address *a, uint8_t type, const char *value);
/* A TCP address value (type 1): "host:port" or "[v6]:port" of printable
 * ASCII (no NUL, control bytes, spaces or '#'), a non-empty host and a port of
 * 1 to 5 decimal digits, at most 65535. On success *host_len is the host's
 * length (without brackets) and *port the port, when not NULL. */
bool ockami_tcp_address_parse(const uint8_t *v, size_t len, size_t *host_off, size_t *host_len,
                              uint32_t *port);
/* What a type-1 hop may hold: a text address as above, or the Elixir hub's
 * binary IPv4 (7 bytes, tag 00) or IPv6 (19 bytes, tag 01) form. Anything
 * else - a NUL or control byte inside text, say - is refused by
 * ockam_route_append / ockam_route_prepend and so by the decoder. */
bool ockami_tcp_address_valid(const uint8_t *v, size_t len);
/* Strict unsigned decimal: digits only (no sign, no spaces, no "0x"), at
 * least one, value <= max. Returns 0 or OCKAM_EINVAL / OCKAM_EOVERFLOW. */
int ockami_parse_uint(const char *s, size_t len, uint64_t max, uint64_t *out);

#endif
