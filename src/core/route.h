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

#endif
