#include "message.h"

#include <stdlib.h>
#include <string.h>

void ockami_message_init(ockam_message *m) { memset(m, 0, sizeof *m); }

void ockami_message_release(ockam_message *m) {
  ockami_route_release(&m->onward);
  ockami_route_release(&m->ret);
  ockami_buf_free(&m->payload);
  ockami_buf_free(&m->local_info);
}

int ockam_message_new(ockam_message **out) {
  if (!out) return OCKAM_EINVAL;
  *out = calloc(1, sizeof **out);
  return *out ? OCKAM_OK : OCKAM_ENOMEM;
}

void ockam_message_free(ockam_message *m) {
  if (!m) return;
  ockami_message_release(m);
  free(m);
}

int ockam_message_copy(const ockam_message *m, ockam_message **out) {
  if (!m || !out) return OCKAM_EINVAL;
  ockam_message *c;
  int rc = ockam_message_new(&c);
  if (rc) return rc;
  if ((rc = ockami_route_assign(&c->onward, &m->onward)) ||
      (rc = ockami_route_assign(&c->ret, &m->ret)) ||
      (rc = ockami_buf_set(&c->payload, m->payload.data, m->payload.len)) ||
      (rc = ockami_buf_set(&c->local_info, m->local_info.data, m->local_info.len))) {
    ockam_message_free(c);
    return rc;
  }
  c->flags = m->flags & OCKAMI_MSG_VIA_CHANNEL;
  *out = c;
  return OCKAM_OK;
}

const ockam_route *ockam_message_onward(const ockam_message *m) { return &m->onward; }
const ockam_route *ockam_message_return(const ockam_message *m) { return &m->ret; }
ockam_route *ockam_message_onward_mut(ockam_message *m) { return &m->onward; }
ockam_route *ockam_message_return_mut(ockam_message *m) { return &m->ret; }

const uint8_t *ockam_message_payload(const ockam_message *m, size_t *len) {
  if (len) *len = m->payload.len;
  return m->payload.data ? m->payload.data : (const uint8_t *)"";
}

int ockam_message_set_payload(ockam_message *m, const uint8_t *p, size_t len) {
  if (!m || (len && !p)) return OCKAM_EINVAL;
  return ockami_buf_set(&m->payload, p, len);
}

const uint8_t *ockam_message_local_info(const ockam_message *m, size_t *len) {
  if (len) *len = m->local_info.len;
  return m->local_info.data ? m->local_info.data : (const uint8_t *)"";
}

int ockam_message_set_local_info(ockam_message *m, const uint8_t *p, size_t len) {
  if (!m || (len && !p)) return OCKAM_EINVAL;
  return ockami_buf_set(&m->local_info, p, len);
}

int ockam_message_via_channel(const ockam_message *m) {
  return m && (m->flags & OCKAMI_MSG_VIA_CHANNEL) ? 1 : 0;
}
