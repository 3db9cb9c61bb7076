/* Placeholder until the stream services land: the hub offers echo and forwarding. */
#include "hub_internal.h"
#include "log.h"

int ockami_stream_service_start(ockam_node *node, const ockam_hub_options *opts,
                                ockami_stream_service **out) {
  (void)node;
  (void)opts;
  *out = NULL;
  LOG_WARN("hub", "stream services are not available in this build");
  return OCKAM_OK;
}

void ockami_stream_service_stop(ockami_stream_service *svc) { (void)svc; }
