/* Message internals. */
#ifndef OCKAMI_MESSAGE_H
#define OCKAMI_MESSAGE_H

#include <stdbool.h>

#include "buf.h"
#include "ockam/message.h"
#include "route.h"

enum {
  OCKAMI_MSG_HANDED_OFF = 1u << 0,  /* forwarded or kept inside handle(): do not free */
  OCKAMI_MSG_VIA_CHANNEL = 1u << 1, /* local_info set by a secure channel */
  OCKAMI_MSG_VIA_IDENTITY = 1u << 2 /* local_info names the peer an identity channel verified */
};

/* LocalInfo{identifier: "ENTITY_SECURE_CHANNEL_ID", their_profile_id} (identity
 * spec §7): set by an identity channel, with OCKAMI_MSG_VIA_IDENTITY. */
#define OCKAMI_IDENTIFIER_LEN 64u
OCKAM_MUST_CHECK int ockami_message_set_peer(ockam_message *m, const char *identifier);

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
