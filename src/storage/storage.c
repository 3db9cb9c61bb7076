/* Backend registry and the result set returned by read(). */
#include "storage.h"

#include <stdlib.h>
#include <string.h>

#include "ockam/limits.h"

static const ockami_store_ops *const backends[] = {
    &ockami_store_memory,
    &ockami_store_lmdb,
#ifdef OCKAM_HAVE_JETSTREAM
    &ockami_store_jetstream,
#endif
};

const ockami_store_ops *ockami_store_ops_find(const char *name) {
  if (!name) return NULL;
  for (size_t i = 0; i < sizeof backends / sizeof backends[0]; i++) {
    if (strcmp(backends[i]->name, name) == 0) return backends[i];
  }
  return NULL;
}

/* Grows the arena to hold `need` bytes. The record pointers point into the
 * arena, so a new arena is allocated and every pointer rebased onto it. */
static int records_arena_grow(ockami_records *r, size_t need) {
  size_t cap = r->arena_cap ? r->arena_cap : 4096;
  while (cap < need) {
    if (cap > SIZE_MAX / 2) return OCKAM_ENOMEM;
    cap *= 2;
  }
  uint8_t *arena = malloc(cap);
  if (!arena) return OCKAM_ENOMEM;
  if (r->arena_len) memcpy(arena, r->arena, r->arena_len);
  for (size_t i = 0; i < r->count; i++) {
    if (r->items[i].data) r->items[i].data = arena + (r->items[i].data - r->arena);
  }
  free(r->arena);
  r->arena = arena;
  r->arena_cap = cap;
  return OCKAM_OK;
}

int ockami_records_push(ockami_records *r, uint64_t index, const uint8_t *data, size_t len) {
  if (!r || (len && !data)) return OCKAM_EINVAL;
  if (r->count == r->cap) {
    size_t cap = r->cap ? r->cap * 2 : 16;
    if (cap > SIZE_MAX / sizeof *r->items) return OCKAM_ENOMEM;
    ockami_record *items = realloc(r->items, cap * sizeof *items);
    if (!items) return OCKAM_ENOMEM;
    r->items = items;
    r->cap = cap;
  }
  if (len > SIZE_MAX - r->arena_len) return OCKAM_ENOMEM;
  if (r->arena_len + len > r->arena_cap) {
    int rc = records_arena_grow(r, r->arena_len + len);
    if (rc) return rc;
  }
  ockami_record *rec = &r->items[r->count];
  rec->index = index;
  rec->len = len;
  rec->data = NULL;
  if (len) {
    rec->data = r->arena + r->arena_len;
    memcpy(r->arena + r->arena_len, data, len);
    r->arena_len += len;
  }
  r->count++;
  return OCKAM_OK;
}

void ockami_records_free(ockami_records *r) {
  if (!r) return;
  free(r->items);
  free(r->arena);
  memset(r, 0, sizeof *r);
}

int ockami_store_check_stream(const char *stream, size_t stream_len) {
  if (!stream || stream_len == 0) return OCKAM_EINVAL;
  if (stream_len > OCKAM_NAME_MAX) return OCKAM_EOVERFLOW;
  return OCKAM_OK;
}

int ockami_store_check_client(const char *client, size_t client_len) {
  if (!client || client_len == 0) return OCKAM_EINVAL;
  if (client_len > OCKAM_NAME_MAX) return OCKAM_EOVERFLOW;
  /* The lmdb index key is client ‖ 0x00 ‖ stream: a NUL in the client id
   * would make two different (client, stream) pairs share a key. */
  if (memchr(client, 0, client_len)) return OCKAM_EINVAL;
  return OCKAM_OK;
}
