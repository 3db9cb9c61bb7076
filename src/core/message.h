/* Message internals. */
#ifndef OCKAMI_MESSAGE_H
#define OCKAMI_MESSAGE_H

#include <stdbool.h>

#include "buf.h"
#include "ockam/message.h"
#include "route.h"

enum {
  OCKAMI_MSG_HANDED_OFF = 1u << 0, /* forwarded or kept inside handle(): do not free */
  OCKAMI_MSG_VIA_CHANNEL = 1u << 1 /* local_info set by a secure channel */
};

struct ockam_message {
  ockam_route onward;
  ockam_route ret;
  ockami_buf payload;
  ockami_buf local_info;
  struct ockam_message *next; /* node delivery queue link */
  uint32_t flags;
};

void ockami_message_init(ockam_message *m);
void ockami_message_release(ockam_message *m);

#endif
