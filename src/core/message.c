#include "message.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "ockam/limits.h"

/* Freed messages are kept for reuse by the thread that freed them, buffers
 * included: allocation and first-touch page faults dominated the cost of a
 * message hop (every worker hop allocates a message, two routes and a
 * payload). The cache is bounded in messages and in buffer bytes, is private
 * to its thread (no locking, nothing shared between nodes on different
 * threads) and is released when the thread exits. */
#if defined(__SANITIZE_ADDRESS__)
/* Under AddressSanitizer every message is really freed, so a use after free
 * is still caught. */
#define MSG_CACHE_MAX 0u
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define MSG_CACHE_MAX 0u
#endif
#endif
#ifndef MSG_CACHE_MAX
#define MSG_CACHE_MAX OCKAM_MESSAGE_CACHE_MAX
#endif
#define MSG_CACHE_BYTES OCKAM_MESSAGE_CACHE_BYTES
#define MSG_CACHE_BUF_MAX OCKAM_MESSAGE_CACHE_BUF_MAX

typedef struct msg_cache {
  ockam_message *head; /* linked through ->next */
  uint32_t count;
  size_t bytes; /* buffer capacity held by cached messages */
  bool registered;
} msg_cache;

static const uint32_t msg_cache_max = MSG_CACHE_MAX;
static _Thread_local msg_cache cache;
static pthread_key_t cache_key;
static bool cache_key_ok;
static pthread_once_t cache_once = PTHREAD_ONCE_INIT;

static size_t msg_buffer_bytes(const ockam_message *m) {
  return (size_t)m->onward.cap + m->ret.cap + m->payload.off + m->payload.cap + m->local_info.off +
         m->local_info.cap;
}

static void cache_drain(void *arg) {
  msg_cache *c = arg;
  ockam_message *m;
  while ((m = c->head)) {
    c->head = m->next;
    ockami_message_release(m);
    free(m);
  }
  c->count = 0;
  c->bytes = 0;
  c->registered = false; /* a later free on this thread registers again */
}

static void cache_key_create(void) {
  cache_key_ok = pthread_key_create(&cache_key, cache_drain) == 0;
}

/* Arrange for the cache to be freed at thread exit; false when that cannot
 * be arranged (then nothing is cached). */
static bool cache_register(void) {
  if (cache.registered) return true;
  if (pthread_once(&cache_once, cache_key_create) != 0 || !cache_key_ok ||
      pthread_setspecific(cache_key, &cache) != 0)
    return false;
  cache.registered = true;
  return true;
}

void ockami_message_init(ockam_message *m) {
  memset(m, 0, sizeof *m);
}

void ockami_message_release(ockam_message *m) {
  ockami_route_release(&m->onward);
  ockami_route_release(&m->ret);
  ockami_buf_free(&m->payload);
  ockami_buf_free(&m->local_info);
}

int ockam_message_new(ockam_message **out) {
  if (!out) return OCKAM_EINVAL;
  ockam_message *m = cache.head;
  if (m) {
    cache.head = m->next;
    cache.count--;
    cache.bytes -= msg_buffer_bytes(m);
    /* Empty, as a new message is, but keep the storage. */
    m->onward.len = m->ret.len = 0;
    m->onward.count = m->ret.count = 0;
    ockami_buf_clear(&m->payload);
    ockami_buf_clear(&m->local_info);
    m->next = NULL;
    m->flags = 0;
    *out = m;
    return OCKAM_OK;
  }
  *out = calloc(1, sizeof **out);
  return *out ? OCKAM_OK : OCKAM_ENOMEM;
}

void ockam_message_free(ockam_message *m) {
  if (!m) return;
  /* Large buffers are not worth keeping: release them, keep the rest. */
  if (m->payload.off + m->payload.cap > MSG_CACHE_BUF_MAX) ockami_buf_free(&m->payload);
  if (m->local_info.off + m->local_info.cap > MSG_CACHE_BUF_MAX) ockami_buf_free(&m->local_info);
  size_t bytes = msg_buffer_bytes(m);
  if (cache.count < msg_cache_max && cache.bytes + bytes <= MSG_CACHE_BYTES && cache_register()) {
    m->next = cache.head;
    cache.head = m;
    cache.count++;
    cache.bytes += bytes;
    return;
  }
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
  c->flags = m->flags & (OCKAMI_MSG_VIA_CHANNEL | OCKAMI_MSG_VIA_IDENTITY);
  *out = c;
  return OCKAM_OK;
}

const ockam_route *ockam_message_onward(const ockam_message *m) {
  return &m->onward;
}
const ockam_route *ockam_message_return(const ockam_message *m) {
  return &m->ret;
}
ockam_route *ockam_message_onward_mut(ockam_message *m) {
  return &m->onward;
}
ockam_route *ockam_message_return_mut(ockam_message *m) {
  return &m->ret;
}

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
  /* Whatever a worker writes here proves nothing about the sender. */
  m->flags &= ~(uint32_t)OCKAMI_MSG_VIA_IDENTITY;
  return ockami_buf_set(&m->local_info, p, len);
}

static const char entity_info_id[] = "ENTITY_SECURE_CHANNEL_ID";
#define ENTITY_INFO_LEN (2 + sizeof entity_info_id - 1 + OCKAMI_IDENTIFIER_LEN)

int ockami_message_set_peer(ockam_message *m, const char *identifier) {
  if (!m || !identifier || strlen(identifier) != OCKAMI_IDENTIFIER_LEN) return OCKAM_EINVAL;
  /* BARE: two strings, both shorter than 128 bytes (one-byte lengths). */
  uint8_t info[ENTITY_INFO_LEN];
  info[0] = (uint8_t)(sizeof entity_info_id - 1);
  memcpy(info + 1, entity_info_id, sizeof entity_info_id - 1);
  info[sizeof entity_info_id] = OCKAMI_IDENTIFIER_LEN;
  memcpy(info + sizeof entity_info_id + 1, identifier, OCKAMI_IDENTIFIER_LEN);
  int rc = ockami_buf_set(&m->local_info, info, sizeof info);
  if (rc) return rc;
  m->flags |= OCKAMI_MSG_VIA_IDENTITY;
  return OCKAM_OK;
}

int ockam_message_peer_identifier(const ockam_message *m, char *buf, size_t cap) {
  if (!m || !buf) return OCKAM_EINVAL;
  if (!(m->flags & OCKAMI_MSG_VIA_IDENTITY) || m->local_info.len != ENTITY_INFO_LEN)
    return OCKAM_ENOTFOUND;
  if (cap < OCKAMI_IDENTIFIER_LEN + 1) return OCKAM_ETOOSMALL;
  memcpy(buf, m->local_info.data + sizeof entity_info_id + 1, OCKAMI_IDENTIFIER_LEN);
  buf[OCKAMI_IDENTIFIER_LEN] = '\0';
  return OCKAM_OK;
}

bool ockam_message_via_channel(const ockam_message *m) {
  return m && (m->flags & OCKAMI_MSG_VIA_CHANNEL);
}
