/* Hash map from byte-string keys (copied) to pointers. Not thread-safe. */
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
  size_t nbuckets;
  size_t count;
} ockami_map;

void ockami_map_init(ockami_map *m);
/* Free entries (values are not touched). */
void ockami_map_free(ockami_map *m);
void *ockami_map_get(const ockami_map *m, const void *key, size_t len);
/* OCKAM_EEXIST when present (value unchanged). */
OCKAM_MUST_CHECK int ockami_map_put(ockami_map *m, const void *key, size_t len, void *value);
/* Returns the removed value or NULL. */
void *ockami_map_remove(ockami_map *m, const void *key, size_t len);
/* Iterate: *it starts NULL with *bucket 0; returns NULL at the end. Removing
 * the returned entry while iterating is not allowed. */
ockami_map_entry *ockami_map_next(const ockami_map *m, size_t *bucket, ockami_map_entry *it);
uint64_t ockami_hash(const void *p, size_t len);

#endif
