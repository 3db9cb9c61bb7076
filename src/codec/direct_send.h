/* Sending small messages straight into a transport's output.
 *
 * ockami_send_direct() is ockam_send() for a worker that sends many messages
 * along the same route (a producer's pushes, a stream worker's confirms):
 * when the route starts with a connection of a transport that frames
 * messages itself (ockami_direct_output in node.h), the frame is written
 * into that connection's output buffer at once, byte for byte the frame the
 * transport would have made of the message, without a message, a copy of the
 * payload into it and a dispatch through the transport's worker. Otherwise,
 * or when this sender's earlier messages still wait in the node's queue (the
 * frame would overtake them), it is ockam_send(). */
#ifndef OCKAM_DIRECT_SEND_H
#define OCKAM_DIRECT_SEND_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "node.h"

/* Per sender; zero-initialised, freed with ockami_direct_cache_free. It
 * remembers the last route it sent along and the frame head for it. */
typedef struct ockami_direct_cache {
  bool valid;
  uint64_t epoch;     /* ockami_node_direct_epoch() when out was found */
  void *out;          /* the connection; NULL: the route has none */
  ockami_buf key;     /* the route's bytes ‖ from, for which head holds */
  ockami_buf head;    /* version 1, onward route after the hops the transport takes, [0#from] */
  uint64_t slow_mark; /* ockami_node_enqueued() after the last ockam_send() */
  uint64_t direct, queued; /* messages sent each way */
} ockami_direct_cache;

/* Appends to h the bytes every frame from `from` along route starts with when
 * the transport takes the route's first skip hops: version 1, the rest of
 * the route, and the return route [0#from]. */
OCKAM_MUST_CHECK int ockami_direct_head(ockami_buf *h, const ockam_route *route, uint32_t skip,
                                        const char *from, size_t from_len);

OCKAM_MUST_CHECK int ockami_send_direct(ockam_node *node, ockami_direct_cache *dc, const char *from,
                                        const ockam_route *route, const uint8_t *payload,
                                        size_t len);
void ockami_direct_cache_free(ockami_direct_cache *dc);

#endif
