/* Addresses and routes (spec §1.1, §1.2).
 *
 * An address is a type byte and up to OCKAM_ADDRESS_MAX_LEN value bytes:
 * type 0 = a worker on the local node (e.g. "echoer"), type 1 = a TCP peer
 * ("127.0.0.1:4000"). A route is an ordered list of addresses; the first is
 * the next hop. Routes are owned by whoever created them.
 */
#ifndef OCKAM_ROUTE_H
#define OCKAM_ROUTE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ockam/error.h"

#ifdef __cplusplus
extern "C" {
#endif

#define OCKAM_ADDRESS_LOCAL 0
#define OCKAM_ADDRESS_TCP 1

typedef struct ockam_route ockam_route;

/* A borrowed view of one hop; value points into the route and stays valid until
 * the route is modified or freed. */
typedef struct ockam_address {
  uint8_t type;
  uint8_t len;
  const uint8_t *value;
} ockam_address;

/* Empty route. Caller frees with ockam_route_free(). */
OCKAM_MUST_CHECK int ockam_route_new(ockam_route **out);
/* Parse a text route: hops separated by ';' or ',' (spaces ignored), each
 * "T#value" or "value" (type 0), e.g. "1#127.0.0.1:4000;echo_service".
 * Errors: OCKAM_EADDR (bad hop), OCKAM_EOVERFLOW (too many hops / too long). */
OCKAM_MUST_CHECK int ockam_route_parse(const char *text, ockam_route **out);
void ockam_route_free(ockam_route *r);
OCKAM_MUST_CHECK int ockam_route_copy(const ockam_route *r, ockam_route **out);

/* Append / prepend one hop. Errors: OCKAM_EOVERFLOW (value > 255 bytes or more
 * than OCKAM_ROUTE_MAX_HOPS hops), OCKAM_ENOMEM. */
OCKAM_MUST_CHECK int ockam_route_append(ockam_route *r, uint8_t type, const void *value,
                                        size_t len);
OCKAM_MUST_CHECK int ockam_route_prepend(ockam_route *r, uint8_t type, const void *value,
                                         size_t len);
/* Append "T#value" or "value" (type 0). */
OCKAM_MUST_CHECK int ockam_route_append_str(ockam_route *r, const char *hop);
/* Append every hop of src to r. */
OCKAM_MUST_CHECK int ockam_route_append_route(ockam_route *r, const ockam_route *src);
/* Remove the first hop (no-op on an empty route). */
void ockam_route_pop(ockam_route *r);
void ockam_route_clear(ockam_route *r);

size_t ockam_route_len(const ockam_route *r);
/* Hop i (0 = next). Errors: OCKAM_ENOTFOUND when i is out of range. */
OCKAM_MUST_CHECK int ockam_route_get(const ockam_route *r, size_t i, ockam_address *out);
/* True when equal hop by hop (type and exact bytes). */
bool ockam_route_equal(const ockam_route *a, const ockam_route *b);
/* Text form "[0#app, 1#127.0.0.1:4000]" into out (always NUL-terminated when
 * cap > 0; truncated output ends in "..."). Returns the length written. */
size_t ockam_route_format(const ockam_route *r, char *out, size_t cap);

#ifdef __cplusplus
}
#endif
#endif
