/* Hub services, each a worker (or a family of workers) on the hub node. */
#ifndef OCKAMI_HUB_INTERNAL_H
#define OCKAMI_HUB_INTERNAL_H

#include "ockam/hub.h"

OCKAM_MUST_CHECK int ockami_echo_start(ockam_node *node);
typedef struct ockami_forwarding ockami_forwarding;
OCKAM_MUST_CHECK int ockami_forwarding_start(ockam_node *node, uint32_t max_forwarders);

/* Stream services `stream` and `stream_index` over the configured store
 * (stream_service.c). */
typedef struct ockami_stream_service ockami_stream_service;
OCKAM_MUST_CHECK int ockami_stream_service_start(ockam_node *node, const ockam_hub_options *opts,
                                                 ockami_stream_service **out);
void ockami_stream_service_stop(ockami_stream_service *svc);
#endif
