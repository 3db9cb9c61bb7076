#include "map.h"

#include <pthread.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

/* One SipHash key per process, made on first use. It never leaves memory and
 * is not a secret worth wiping: it only spreads keys over buckets. */
static uint8_t hash_key[crypto_shorthash_KEYBYTES];
static pthread_once_t hash_key_once = PTHREAD_ONCE_INIT;

static void hash_key_init(void) {
  /* randombytes needs an initialised libsodium; if that is impossible the
   * process cannot do any cryptography either. */
  if (sodium_init() < 0) abort();
  crypto_shorthash_keygen(hash_key);
}

uint64_t ockami_map_hash(const void *key, size_t len) {
  pthread_once(&hash_key_once, hash_key_init);
  uint8_t out[crypto_shorthash_BYTES];
  crypto_shorthash(out, key, len, hash_key);
  uint64_t h;
  memcpy(&h, out, sizeof h);
  return h;
}

void ockami_map_init(ockami_map *m) {
  memset(m, 0, sizeof *m);
}

void ockami_map_free(ockami_map *m) {
  for (size_t i = 0; i < m->nbuckets; i++) {
    ockami_map_entry *e = m->buckets[i];
    while (e) {
      ockami_map_entry *n = e->next;
      free(e);
      e = n;
    }
  }
  free(m->buckets);
  ockami_map_init(m);
}

static ockami_map_entry *find(const ockami_map *m, const void *key, size_t len, uint64_t h) {
  if (!m->nbuckets) return NULL;
  for (ockami_map_entry *e = m->buckets[h & (m->nbuckets - 1)]; e; e = e->next)
    if (e->hash == h && e->key_len == len && (len == 0 || !memcmp(e->key, key, len))) return e;
  return NULL;
}

ockami_map_entry *ockami_map_find(const ockami_map *m, const void *key, size_t len) {
  if (!m->nbuckets) return NULL;
  return find(m, key, len, ockami_map_hash(key, len));
}

void *ockami_map_get(const ockami_map *m, const void *key, size_t len) {
  ockami_map_entry *e = ockami_map_find(m, key, len);
  return e ? e->value : NULL;
}

static int grow(ockami_map *m) {
  size_t n = m->nbuckets ? m->nbuckets * 2 : 16;
  if (n > SIZE_MAX / sizeof(ockami_map_entry *)) return OCKAM_ENOMEM;
  ockami_map_entry **b = calloc(n, sizeof *b);
  if (!b) return OCKAM_ENOMEM;
  for (size_t i = 0; i < m->nbuckets; i++) {
    ockami_map_entry *e = m->buckets[i];
    while (e) {
      ockami_map_entry *next = e->next;
      size_t k = e->hash & (n - 1);
      e->next = b[k];
      b[k] = e;
      e = next;
    }
  }
  free(m->buckets);
  m->buckets = b;
  m->nbuckets = n;
  return OCKAM_OK;
}

int ockami_map_put(ockami_map *m, const void *key, size_t len, void *value) {
  uint64_t h = ockami_map_hash(key, len);
  if (find(m, key, len, h)) return OCKAM_EEXIST;
  if (m->count >= m->nbuckets) { /* load factor at most 1 */
    int rc = grow(m);
    if (rc) return rc;
  }
  if (len > SIZE_MAX - sizeof(ockami_map_entry)) return OCKAM_ENOMEM;
  ockami_map_entry *e = malloc(sizeof *e + len);
  if (!e) return OCKAM_ENOMEM;
  e->hash = h;
  e->value = value;
  e->key_len = len;
  if (len) memcpy(e->key, key, len);
  size_t k = h & (m->nbuckets - 1);
  e->next = m->buckets[k];
  m->buckets[k] = e;
  m->count++;
  return OCKAM_OK;
}

void *ockami_map_remove(ockami_map *m, const void *key, size_t len) {
  if (!m->nbuckets) return NULL;
  uint64_t h = ockami_map_hash(key, len);
  ockami_map_entry **pp = &m->buckets[h & (m->nbuckets - 1)];
  for (; *pp; pp = &(*pp)->next) {
    ockami_map_entry *e = *pp;
    if (e->hash == h && e->key_len == len && (len == 0 || !memcmp(e->key, key, len))) {
      *pp = e->next;
      void *v = e->value;
      free(e);
      m->count--;
      return v;
    }
  }
  return NULL;
}

ockami_map_entry *ockami_map_next(const ockami_map *m, size_t *bucket, ockami_map_entry *it) {
  if (it && it->next) return it->next;
  size_t b = it ? *bucket + 1 : *bucket;
  for (; b < m->nbuckets; b++) {
    if (m->buckets[b]) {
      *bucket = b;
      return m->buckets[b];
    }
  }
  *bucket = b;
  return NULL;
}

void ockami_map_iter_init(const ockami_map *m, ockami_map_iter *it) {
  it->m = m;
  it->bucket = 0;
  it->next = ockami_map_next(m, &it->bucket, NULL);
}

ockami_map_entry *ockami_map_iter_next(ockami_map_iter *it) {
  ockami_map_entry *e = it->next;
  /* Step past e before the caller may free it. */
  if (e) it->next = ockami_map_next(it->m, &it->bucket, e);
  return e;
}
