/* The "software" vault backend: libsodium for X25519, Ed25519, randomness and
 * wiping; OpenSSL libcrypto for AES-256-GCM, SHA-256 and HMAC-SHA256 (HKDF).
 *
 * Secrets live in fixed-size slots. Slots are allocated in chunks with
 * sodium_malloc (guard pages, mlock where permitted) and never move, so a
 * secret's bytes are never copied by a reallocation. A handle is
 * (generation << 20) | (slot index + 1): a destroyed secret's handle stops
 * resolving as soon as its slot is wiped, even if the slot is reused.
 *
 * Each AES-256 secret keeps up to two initialised EVP_CIPHER_CTX (one per
 * direction), created on first use: the key schedule is computed once and each
 * call only sets the nonce.
 */
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <sodium.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "vault_internal.h"
#include "xeddsa.h"

#define SW_CHUNK_SLOTS 128u
#define SW_INDEX_BITS 20u
#define SW_INDEX_MASK ((1u << SW_INDEX_BITS) - 1u)
#define SW_GEN_MASK 0xfffu
/* index + 1 must fit in the low SW_INDEX_BITS of a handle. */
#define SW_MAX_SLOTS (SW_INDEX_MASK / SW_CHUNK_SLOTS * SW_CHUNK_SLOTS)

typedef struct sw_slot {
  uint8_t bytes[OCKAMI_VAULT_SECRET_MAX];
  EVP_CIPHER_CTX *enc; /* AES256 only, created on first encryption */
  EVP_CIPHER_CTX *dec; /* AES256 only, created on first decryption */
  uint32_t index;      /* position in the vault, fixed when the chunk is made */
  uint32_t next_free;  /* free list: index + 1 of the next free slot, 0 = end */
  uint16_t gen;
  uint8_t len;
  uint8_t type;
  bool live;
  /* X25519 only: the public key, computed once (Noise handshakes ask for the
   * static key's public half every time; recomputing it was a fifth of the
   * handshake's cost). */
  bool has_pub;
  uint8_t pub[32];
} sw_slot;

/* sodium_malloc places a block flush against its trailing guard page, so the
 * block is only as aligned as its size is. */
_Static_assert(sizeof(sw_slot) * SW_CHUNK_SLOTS % 16 == 0, "chunk size keeps slots aligned");

typedef struct sw_vault {
  sw_slot **chunks;
  size_t nchunks;
  uint32_t free_head; /* index + 1 of the first free slot, 0 = none */
  size_t live;
  EVP_CIPHER *aes;
  EVP_MD *sha256;
  EVP_MD_CTX *md_ctx;
  EVP_MAC *hmac;
  EVP_MAC_CTX *hmac_proto; /* digest set, no key: duplicated per HKDF call */
  ockami_vault_release_hook release_hook;
  void *release_user;
} sw_vault;

/* --- slots ---------------------------------------------------------------- */

static sw_slot *sw_slot_at(sw_vault *v, uint32_t index) {
  return &v->chunks[index / SW_CHUNK_SLOTS][index % SW_CHUNK_SLOTS];
}

static sw_slot *sw_lookup(sw_vault *v, ockam_secret h) {
  uint32_t id = h & SW_INDEX_MASK;
  if (id == 0 || id > v->nchunks * SW_CHUNK_SLOTS) return NULL;
  sw_slot *s = sw_slot_at(v, id - 1);
  if (!s->live || s->gen != (h >> SW_INDEX_BITS)) return NULL;
  return s;
}

static ockam_secret sw_handle(const sw_slot *s) {
  return ((uint32_t)s->gen << SW_INDEX_BITS) | (s->index + 1);
}

static int sw_chunk_add(sw_vault *v) {
  if ((v->nchunks + 1) * SW_CHUNK_SLOTS > SW_MAX_SLOTS) return OCKAM_ENOMEM;
  sw_slot **chunks = realloc(v->chunks, (v->nchunks + 1) * sizeof *chunks);
  if (!chunks) return OCKAM_ENOMEM;
  v->chunks = chunks;
  sw_slot *chunk = sodium_malloc(sizeof(sw_slot) * SW_CHUNK_SLOTS);
  if (!chunk) return OCKAM_ENOMEM;
  memset(chunk, 0, sizeof(sw_slot) * SW_CHUNK_SLOTS);
  uint32_t first = (uint32_t)(v->nchunks * SW_CHUNK_SLOTS);
  v->chunks[v->nchunks++] = chunk;
  /* Link the new slots in index order in front of the (empty) free list. */
  for (uint32_t i = SW_CHUNK_SLOTS; i-- > 0;) {
    chunk[i].gen = 1;
    chunk[i].index = first + i;
    chunk[i].next_free = v->free_head;
    v->free_head = first + i + 1;
  }
  return OCKAM_OK;
}

static int sw_slot_alloc(sw_vault *v, ockam_secret_type type, size_t len, sw_slot **out) {
  if (v->free_head == 0) {
    int rc = sw_chunk_add(v);
    if (rc) return rc;
  }
  sw_slot *s = sw_slot_at(v, v->free_head - 1);
  v->free_head = s->next_free;
  s->next_free = 0;
  s->live = true;
  s->type = (uint8_t)type;
  s->len = (uint8_t)len;
  v->live++;
  *out = s;
  return OCKAM_OK;
}

/* Wipe a slot and put it on the free list. Every destroy path ends here. */
static void sw_slot_release(sw_vault *v, sw_slot *s) {
  sodium_memzero(s->bytes, sizeof s->bytes);
  sodium_memzero(s->pub, sizeof s->pub);
  s->has_pub = false;
  EVP_CIPHER_CTX_free(s->enc); /* frees and cleanses the expanded key */
  EVP_CIPHER_CTX_free(s->dec);
  s->enc = s->dec = NULL;
  s->len = 0;
  s->type = 0;
  s->live = false;
  s->gen = (uint16_t)((s->gen + 1) & SW_GEN_MASK);
  s->next_free = v->free_head;
  v->free_head = s->index + 1;
  v->live--;
}

/* --- lifecycle ------------------------------------------------------------- */

static void sw_destroy(void *impl) {
  sw_vault *v = impl;
  if (!v) return;
  for (size_t c = 0; c < v->nchunks; c++) {
    for (uint32_t i = 0; i < SW_CHUNK_SLOTS; i++) {
      if (v->chunks[c][i].live) sw_slot_release(v, &v->chunks[c][i]);
    }
  }
  for (size_t c = 0; c < v->nchunks; c++) {
    if (v->release_hook) {
      for (uint32_t i = 0; i < SW_CHUNK_SLOTS; i++) {
        v->release_hook(v->release_user, v->chunks[c][i].bytes, sizeof v->chunks[c][i].bytes);
      }
    }
    sodium_free(v->chunks[c]);
  }
  free(v->chunks);
  EVP_MAC_CTX_free(v->hmac_proto);
  EVP_MAC_free(v->hmac);
  EVP_MD_CTX_free(v->md_ctx);
  EVP_MD_free(v->sha256);
  EVP_CIPHER_free(v->aes);
  free(v);
}

static int sw_create(void **impl) {
  *impl = NULL;
  if (sodium_init() < 0) return OCKAM_EIO;
  sw_vault *v = calloc(1, sizeof *v);
  if (!v) return OCKAM_ENOMEM;
  /* Fetch algorithms once: implicit fetches per call are what make OpenSSL 3 slow. */
  v->aes = EVP_CIPHER_fetch(NULL, "AES-256-GCM", NULL);
  v->sha256 = EVP_MD_fetch(NULL, "SHA256", NULL);
  v->md_ctx = EVP_MD_CTX_new();
  v->hmac = EVP_MAC_fetch(NULL, "HMAC", NULL);
  v->hmac_proto = v->hmac ? EVP_MAC_CTX_new(v->hmac) : NULL;
  if (!v->aes || !v->sha256 || !v->md_ctx || !v->hmac || !v->hmac_proto) goto fail;
  char digest[] = "SHA256";
  OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0),
                         OSSL_PARAM_construct_end()};
  if (EVP_MAC_CTX_set_params(v->hmac_proto, params) != 1) goto fail;
  *impl = v;
  return OCKAM_OK;

fail:
  LOG_ERROR("vault", "OpenSSL could not provide AES-256-GCM, SHA-256 or HMAC");
  ERR_clear_error();
  sw_destroy(v);
  return OCKAM_EIO;
}

/* --- hashing and randomness ------------------------------------------------ */

static int sw_random(void *impl, uint8_t *out, size_t len) {
  (void)impl;
  randombytes_buf(out, len);
  return OCKAM_OK;
}

static int sw_sha256(void *impl, const uint8_t *a, size_t a_len, const uint8_t *b, size_t b_len,
                     uint8_t out[static 32]) {
  sw_vault *v = impl;
  unsigned int n = 0;
  if (EVP_DigestInit_ex2(v->md_ctx, v->sha256, NULL) != 1 ||
      (a_len && EVP_DigestUpdate(v->md_ctx, a, a_len) != 1) ||
      (b_len && EVP_DigestUpdate(v->md_ctx, b, b_len) != 1) ||
      EVP_DigestFinal_ex(v->md_ctx, out, &n) != 1 || n != 32) {
    ERR_clear_error();
    return OCKAM_EIO;
  }
  return OCKAM_OK;
}

/* --- secrets --------------------------------------------------------------- */

static void sw_x25519_clamp(uint8_t k[32]) {
  k[0] &= 248;
  k[31] &= 127;
  k[31] |= 64;
}

static int sw_secret_import(void *impl, ockam_secret_type type, const uint8_t *bytes, size_t len,
                            ockam_secret *out) {
  sw_vault *v = impl;
  sw_slot *s;
  uint8_t pk[crypto_sign_PUBLICKEYBYTES];
  int rc = sw_slot_alloc(v, type, len, &s);
  if (rc) return rc;
  switch (type) {
    case OCKAM_SECRET_X25519:
      memcpy(s->bytes, bytes, len);
      sw_x25519_clamp(s->bytes);
      break;
    case OCKAM_SECRET_ED25519:
      if (len == crypto_sign_SEEDBYTES) {
        crypto_sign_seed_keypair(pk, s->bytes, bytes);
        s->len = crypto_sign_SECRETKEYBYTES;
      } else {
        /* The 64-byte form embeds its public key: reject one that does not match. */
        crypto_sign_seed_keypair(pk, s->bytes, bytes);
        if (sodium_memcmp(s->bytes, bytes, crypto_sign_SECRETKEYBYTES) != 0) rc = OCKAM_EINVAL;
      }
      break;
    default:
      if (len) memcpy(s->bytes, bytes, len);
      break;
  }
  if (rc) {
    sw_slot_release(v, s);
    return rc;
  }
  *out = sw_handle(s);
  return OCKAM_OK;
}

static int sw_secret_export(void *impl, ockam_secret secret, uint8_t *out, size_t cap,
                            size_t *out_len) {
  sw_slot *s = sw_lookup(impl, secret);
  if (!s) return OCKAM_ENOTFOUND;
  if (cap < s->len) return OCKAM_EOVERFLOW;
  if (s->len) memcpy(out, s->bytes, s->len);
  *out_len = s->len;
  return OCKAM_OK;
}

static int sw_secret_info(void *impl, ockam_secret secret, ockam_secret_type *type, size_t *len) {
  sw_slot *s = sw_lookup(impl, secret);
  if (!s) return OCKAM_ENOTFOUND;
  if (type) *type = (ockam_secret_type)s->type;
  if (len) *len = s->len;
  return OCKAM_OK;
}

static void sw_secret_destroy(void *impl, ockam_secret secret) {
  sw_slot *s = sw_lookup(impl, secret);
  if (s) sw_slot_release(impl, s);
}

static size_t sw_secret_count(const void *impl) {
  return ((const sw_vault *)impl)->live;
}

/* --- X25519 ---------------------------------------------------------------- */

static int sw_x25519_generate(void *impl, ockam_secret *out, uint8_t pub[static 32]) {
  sw_vault *v = impl;
  sw_slot *s;
  int rc = sw_slot_alloc(v, OCKAM_SECRET_X25519, OCKAM_X25519_KEY_LEN, &s);
  if (rc) return rc;
  randombytes_buf(s->bytes, OCKAM_X25519_KEY_LEN);
  sw_x25519_clamp(s->bytes);
  if (crypto_scalarmult_base(pub, s->bytes) != 0) {
    sw_slot_release(v, s);
    return OCKAM_ECRYPTO;
  }
  memcpy(s->pub, pub, sizeof s->pub);
  s->has_pub = true;
  *out = sw_handle(s);
  return OCKAM_OK;
}

static int sw_x25519_public(void *impl, ockam_secret secret, uint8_t pub[static 32]) {
  sw_slot *s = sw_lookup(impl, secret);
  if (!s) return OCKAM_ENOTFOUND;
  if (s->type != OCKAM_SECRET_X25519) return OCKAM_EINVAL;
  if (!s->has_pub) {
    if (crypto_scalarmult_base(s->pub, s->bytes) != 0) return OCKAM_ECRYPTO;
    s->has_pub = true;
  }
  memcpy(pub, s->pub, sizeof s->pub);
  return OCKAM_OK;
}

static int sw_x25519_dh(void *impl, ockam_secret secret, const uint8_t peer[static 32],
                        ockam_secret *out) {
  sw_vault *v = impl;
  sw_slot *sk = sw_lookup(v, secret);
  if (!sk) return OCKAM_ENOTFOUND;
  if (sk->type != OCKAM_SECRET_X25519) return OCKAM_EINVAL;
  sw_slot *s;
  int rc = sw_slot_alloc(v, OCKAM_SECRET_BUFFER, 32, &s);
  if (rc) return rc;
  /* libsodium already refuses an all-zero result; the explicit check keeps the
   * rule visible and independent of the library version. */
  if (crypto_scalarmult(s->bytes, sk->bytes, peer) != 0 || sodium_is_zero(s->bytes, 32)) {
    sw_slot_release(v, s);
    return OCKAM_ECRYPTO;
  }
  *out = sw_handle(s);
  return OCKAM_OK;
}

/* --- HKDF-SHA256 ----------------------------------------------------------- */

/* RFC 5869 with L = 32 * n: PRK = HMAC(salt, ikm); T(i) = HMAC(PRK, T(i-1) || info || i). */
static int sw_hkdf_sha256(void *impl, ockam_secret salt, ockam_secret ikm, const uint8_t *info,
                          size_t info_len, size_t n, const ockam_secret_type *out_types,
                          ockam_secret *out) {
  sw_vault *v = impl;
  sw_slot *salt_s = sw_lookup(v, salt);
  sw_slot *ikm_s = ikm ? sw_lookup(v, ikm) : NULL;
  if (!salt_s || (ikm && !ikm_s)) return OCKAM_ENOTFOUND;
  if (salt_s->type != OCKAM_SECRET_BUFFER || (ikm_s && ikm_s->type != OCKAM_SECRET_BUFFER)) {
    return OCKAM_EINVAL;
  }

  uint8_t prk[32];
  uint8_t t[32];
  size_t len = 0;
  size_t made = 0;
  int rc = OCKAM_EIO;
  EVP_MAC_CTX *ctx = EVP_MAC_CTX_dup(v->hmac_proto);
  if (!ctx) goto out;

  if (EVP_MAC_init(ctx, salt_s->bytes, salt_s->len, NULL) != 1 ||
      (ikm_s && ikm_s->len && EVP_MAC_update(ctx, ikm_s->bytes, ikm_s->len) != 1) ||
      EVP_MAC_final(ctx, prk, &len, sizeof prk) != 1 || len != 32) {
    goto out;
  }
  for (made = 0; made < n; made++) {
    uint8_t counter = (uint8_t)(made + 1);
    if (EVP_MAC_init(ctx, prk, sizeof prk, NULL) != 1 ||
        (made > 0 && EVP_MAC_update(ctx, t, sizeof t) != 1) ||
        (info_len && EVP_MAC_update(ctx, info, info_len) != 1) ||
        EVP_MAC_update(ctx, &counter, 1) != 1 || EVP_MAC_final(ctx, t, &len, sizeof t) != 1 ||
        len != 32) {
      goto out;
    }
    sw_slot *s;
    rc = sw_slot_alloc(v, out_types[made], 32, &s);
    if (rc) goto out;
    rc = OCKAM_EIO;
    memcpy(s->bytes, t, 32);
    out[made] = sw_handle(s);
  }
  rc = OCKAM_OK;

out:
  if (rc) {
    ERR_clear_error();
    for (size_t i = 0; i < made; i++) {
      sw_secret_destroy(v, out[i]);
      out[i] = 0;
    }
  }
  EVP_MAC_CTX_free(ctx); /* cleanses the HMAC key copy */
  sodium_memzero(prk, sizeof prk);
  sodium_memzero(t, sizeof t);
  return rc;
}

/* --- AES-256-GCM ------------------------------------------------------------ */

static EVP_CIPHER_CTX *sw_aes_ctx(sw_vault *v, sw_slot *s, int enc) {
  EVP_CIPHER_CTX **pp = enc ? &s->enc : &s->dec;
  if (*pp) return *pp;
  EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
  if (!c) return NULL;
  /* Key schedule now; the 12-byte nonce is the GCM default IV length. */
  if (EVP_CipherInit_ex2(c, v->aes, s->bytes, NULL, enc, NULL) != 1) {
    EVP_CIPHER_CTX_free(c);
    return NULL;
  }
  *pp = c;
  return c;
}

/* Seals aad, then pt1 || pt2 (either piece may be empty) as one AES-GCM
 * message: ciphertext of both at out, then the tag. */
static int sw_seal(void *impl, ockam_secret key, const uint8_t nonce[static 12], const uint8_t *aad,
                   size_t aad_len, const uint8_t *pt1, size_t len1, const uint8_t *pt2, size_t len2,
                   uint8_t *out) {
  sw_vault *v = impl;
  sw_slot *s = sw_lookup(v, key);
  if (!s) return OCKAM_ENOTFOUND;
  if (s->type != OCKAM_SECRET_AES256) return OCKAM_EINVAL;
  EVP_CIPHER_CTX *c = sw_aes_ctx(v, s, 1);
  int n = 0;
  size_t len = len1 + len2;
  if (!c || EVP_EncryptInit_ex2(c, NULL, NULL, nonce, NULL) != 1 ||
      (aad_len && EVP_EncryptUpdate(c, NULL, &n, aad, (int)aad_len) != 1) ||
      (len1 && EVP_EncryptUpdate(c, out, &n, pt1, (int)len1) != 1) ||
      (len2 && EVP_EncryptUpdate(c, out + len1, &n, pt2, (int)len2) != 1) ||
      EVP_EncryptFinal_ex(c, out + len, &n) != 1 ||
      EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_GET_TAG, OCKAM_AEAD_TAG_LEN, out + len) != 1) {
    ERR_clear_error();
    sodium_memzero(out, len + OCKAM_AEAD_TAG_LEN);
    return OCKAM_EIO;
  }
  return OCKAM_OK;
}

static int sw_aead_encrypt(void *impl, ockam_secret key, const uint8_t nonce[static 12],
                           const uint8_t *aad, size_t aad_len, const uint8_t *pt, size_t pt_len,
                           uint8_t *out) {
  return sw_seal(impl, key, nonce, aad, aad_len, pt, pt_len, NULL, 0, out);
}

static int sw_aead_encrypt2(void *impl, ockam_secret key, const uint8_t nonce[static 12],
                            const uint8_t *pt1, size_t len1, const uint8_t *pt2, size_t len2,
                            uint8_t *out) {
  return sw_seal(impl, key, nonce, NULL, 0, pt1, len1, pt2, len2, out);
}

static int sw_aead_decrypt(void *impl, ockam_secret key, const uint8_t nonce[static 12],
                           const uint8_t *aad, size_t aad_len, const uint8_t *ct, size_t ct_len,
                           uint8_t *out) {
  sw_vault *v = impl;
  sw_slot *s = sw_lookup(v, key);
  if (!s) return OCKAM_ENOTFOUND;
  if (s->type != OCKAM_SECRET_AES256) return OCKAM_EINVAL;
  size_t pt_len = ct_len - OCKAM_AEAD_TAG_LEN;
  /* Copy the tag first: out may be the same buffer as ct. */
  uint8_t tag[OCKAM_AEAD_TAG_LEN];
  memcpy(tag, ct + pt_len, sizeof tag);
  EVP_CIPHER_CTX *c = sw_aes_ctx(v, s, 0);
  int n = 0;
  if (!c || EVP_DecryptInit_ex2(c, NULL, NULL, nonce, NULL) != 1 ||
      (aad_len && EVP_DecryptUpdate(c, NULL, &n, aad, (int)aad_len) != 1) ||
      (pt_len && EVP_DecryptUpdate(c, out, &n, ct, (int)pt_len) != 1) ||
      EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_TAG, sizeof tag, tag) != 1 ||
      EVP_DecryptFinal_ex(c, out + pt_len, &n) != 1) {
    ERR_clear_error();
    sodium_memzero(out, pt_len);
    return OCKAM_ECRYPTO;
  }
  return OCKAM_OK;
}

/* --- Ed25519 ---------------------------------------------------------------- */

static int sw_ed25519_generate(void *impl, ockam_secret *out, uint8_t pub[static 32]) {
  sw_vault *v = impl;
  sw_slot *s;
  int rc = sw_slot_alloc(v, OCKAM_SECRET_ED25519, crypto_sign_SECRETKEYBYTES, &s);
  if (rc) return rc;
  crypto_sign_keypair(pub, s->bytes);
  *out = sw_handle(s);
  return OCKAM_OK;
}

static int sw_ed25519_sign(void *impl, ockam_secret key, const uint8_t *msg, size_t len,
                           uint8_t sig[static 64]) {
  sw_slot *s = sw_lookup(impl, key);
  if (!s) return OCKAM_ENOTFOUND;
  if (s->type != OCKAM_SECRET_ED25519) return OCKAM_EINVAL;
  crypto_sign_detached(sig, NULL, msg, len, s->bytes);
  return OCKAM_OK;
}

static int sw_ed25519_verify(const uint8_t pub[static 32], const uint8_t *msg, size_t len,
                             const uint8_t sig[static 64]) {
  if (sodium_init() < 0) return OCKAM_EIO;
  return crypto_sign_verify_detached(sig, msg, len, pub) == 0 ? OCKAM_OK : OCKAM_ECRYPTO;
}

/* --- XEdDSA ----------------------------------------------------------------- */

static int sw_xeddsa_sign(void *impl, ockam_secret key, const uint8_t *msg, size_t len,
                          const uint8_t z[static 64], uint8_t sig[static 64]) {
  sw_slot *s = sw_lookup(impl, key);
  if (!s) return OCKAM_ENOTFOUND;
  if (s->type != OCKAM_SECRET_X25519) return OCKAM_EINVAL;
  return ockami_xeddsa_sign(s->bytes, msg, len, z, OCKAMI_XEDDSA_OCKAM, sig);
}

/* --- test hooks ------------------------------------------------------------- */

static const uint8_t *sw_test_secret_storage(void *impl, ockam_secret secret, size_t *len) {
  sw_slot *s = sw_lookup(impl, secret);
  if (!s) return NULL;
  *len = sizeof s->bytes;
  return s->bytes;
}

static void sw_test_set_release_hook(void *impl, ockami_vault_release_hook hook, void *user) {
  sw_vault *v = impl;
  v->release_hook = hook;
  v->release_user = user;
}

const ockami_vault_ops ockami_vault_software_ops = {
    .name = "software",
    .create = sw_create,
    .destroy = sw_destroy,
    .random = sw_random,
    .sha256 = sw_sha256,
    .secret_import = sw_secret_import,
    .secret_export = sw_secret_export,
    .secret_info = sw_secret_info,
    .secret_destroy = sw_secret_destroy,
    .secret_count = sw_secret_count,
    .x25519_generate = sw_x25519_generate,
    .x25519_public = sw_x25519_public,
    .x25519_dh = sw_x25519_dh,
    .hkdf_sha256 = sw_hkdf_sha256,
    .aead_encrypt = sw_aead_encrypt,
    .aead_encrypt2 = sw_aead_encrypt2,
    .aead_decrypt = sw_aead_decrypt,
    .ed25519_generate = sw_ed25519_generate,
    .ed25519_sign = sw_ed25519_sign,
    .ed25519_verify = sw_ed25519_verify,
    .xeddsa_sign = sw_xeddsa_sign,
    .test_secret_storage = sw_test_secret_storage,
    .test_set_release_hook = sw_test_set_release_hook,
};
