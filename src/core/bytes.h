/* Byte order and nonces: the one place multi-byte integers are written to and
 * read from byte arrays. Callers check the length first; these never do.
 *
 *   ockami_store_be / ockami_load_be   big-endian, 1..8 bytes (frame lengths,
 *                                      nonces, sortable storage keys)
 *   ockami_store_le / ockami_load_le   little-endian, 1..8 bytes (BARE
 *                                      fixed-width ints, stream markers)
 *   ockami_aead_nonce                  the AES-GCM nonce of Noise and of
 *                                      Ockam channels
 */
#ifndef OCKAMI_BYTES_H
#define OCKAMI_BYTES_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

static inline void ockami_store_be(uint8_t *p, size_t len, uint64_t v) {
  for (size_t i = len; i-- > 0; v >>= 8) p[i] = (uint8_t)v;
}

static inline uint64_t ockami_load_be(const uint8_t *p, size_t len) {
  uint64_t v = 0;
  for (size_t i = 0; i < len; i++) v = v << 8 | p[i];
  return v;
}

static inline void ockami_store_le(uint8_t *p, size_t len, uint64_t v) {
  for (size_t i = 0; i < len; i++, v >>= 8) p[i] = (uint8_t)v;
}

static inline uint64_t ockami_load_le(const uint8_t *p, size_t len) {
  uint64_t v = 0;
  for (size_t i = len; i-- > 0;) v = v << 8 | p[i];
  return v;
}

static inline void ockami_store_be16(uint8_t p[static 2], uint16_t v) {
  ockami_store_be(p, 2, v);
}
static inline void ockami_store_be32(uint8_t p[static 4], uint32_t v) {
  ockami_store_be(p, 4, v);
}
static inline void ockami_store_be64(uint8_t p[static 8], uint64_t v) {
  ockami_store_be(p, 8, v);
}
static inline uint16_t ockami_load_be16(const uint8_t p[static 2]) {
  return (uint16_t)ockami_load_be(p, 2);
}
static inline uint32_t ockami_load_be32(const uint8_t p[static 4]) {
  return (uint32_t)ockami_load_be(p, 4);
}
static inline uint64_t ockami_load_be64(const uint8_t p[static 8]) {
  return ockami_load_be(p, 8);
}

/* Noise AESGCM nonce (Noise §12.5): 32 zero bits, then n as u64 big-endian.
 * For n < 2^16 this is Ockam's 00x10 || n as u16 BE (spec §4.1). */
#define OCKAMI_AEAD_NONCE_LEN 12
static inline void ockami_aead_nonce(uint64_t n, uint8_t out[static OCKAMI_AEAD_NONCE_LEN]) {
  memset(out, 0, 4);
  ockami_store_be64(out + 4, n);
}

#endif
