/* Hash map from byte-string keys (copied; exact lengths, NUL bytes allowed)
 * to pointers. Not thread-safe.
 *
 * Keys are often chosen by peers (stream names, handshake keys), so buckets
 * are picked with keyed SipHash-2-4 (libsodium crypto_shorthash) under one
 * random key per process: a peer cannot predict which keys collide. */
#ifndef OCKAMI_MAP_H
#define OCKAMI_MAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ockam/error.h"

typedef struct ockami_map_entry {
  struct ockami_map_entry *next;
  uint64_t hash;
  void *value;
  size_t key_len;
  uint8_t key[];
} ockami_map_entry;

typedef struct ockami_map {
  ockami_map_entry **buckets;
  size_t nbuckets; /* 0 or a power of two */
  size_t count;
} ockami_map;

void ockami_map_init(ockami_map *m);
/* Free entries (values are not touched); the map is empty and usable after. */
void ockami_map_free(ockami_map *m);
void *ockami_map_get(const ockami_map *m, const void *key, size_t len);
/* The entry of key, or NULL. Its value may be changed in place. */
ockami_map_entry *ockami_map_find(const ockami_map *m, const void *key, size_t len);
/* OCKAM_EEXIST when present (value unchanged), OCKAM_ENOMEM. */
OCKAM_MUST_CHECK int ockami_map_put(ockami_map *m, const void *key, size_t len, void *value);
/* Returns the removed value or NULL. */
void *ockami_map_remove(ockami_map *m, const void *key, size_t len);
/* Iterate: *it starts NULL with *bucket 0; returns NULL at the end. Removing
 * the returned entry while iterating is not allowed (use ockami_map_iter). */
ockami_map_entry *ockami_map_next(const ockami_map *m, size_t *bucket, ockami_map_entry *it);

/* Iteration that allows removing (ockami_map_remove) the entry it just
 * returned, and no other change to the map meanwhile:
 *   ockami_map_iter it;
 *   ockami_map_iter_init(m, &it);
 *   for (ockami_map_entry *e; (e = ockami_map_iter_next(&it));) ...
 */
typedef struct ockami_map_iter {
  const ockami_map *m;
  size_t bucket;
  ockami_map_entry *next;
} ockami_map_iter;
void ockami_map_iter_init(const ockami_map *m, ockami_map_iter *it);
ockami_map_entry *ockami_map_iter_next(ockami_map_iter *it);

/* The keyed hash the map uses (the same per-process key), for callers that
 * keep their own hash next to a key. */
uint64_t ockami_map_hash(const void *key, size_t len);

#endif
