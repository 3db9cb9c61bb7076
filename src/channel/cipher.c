/* Channel transport: framing (spec §6.3/§6.4 and the extension in
 * docs/protocol-extensions.md), nonces, replay window, negotiation payloads. */
#include "cipher.h"

#include <sodium.h>
#include <string.h>

_Static_assert(OCKAM_REPLAY_WINDOW % 64 == 0 && OCKAM_REPLAY_WINDOW >= 64,
               "the replay window is a whole number of 64-bit words");

/* --- replay window ----------------------------------------------------------------
 *
 * Bit n of the window lives in word (n / 64) mod OCKAMI_REPLAY_WORDS. The ring
 * holds the block of the highest counter and the OCKAMI_REPLAY_WORDS - 1 blocks
 * before it, which covers every counter less than OCKAM_REPLAY_WINDOW behind the
 * highest. Advancing clears the words of the blocks entered (RFC 6479 §2). */

void ockami_replay_init(ockami_replay *r) {
  memset(r, 0, sizeof *r);
}

static size_t replay_word(uint64_t n) {
  return (size_t)((n >> 6) % OCKAMI_REPLAY_WORDS);
}

ockami_replay_verdict ockami_replay_check(const ockami_replay *r, uint64_t n) {
  if (r->next == 0 || n >= r->next) return OCKAMI_REPLAY_OK;
  if (r->next - 1 - n >= OCKAM_REPLAY_WINDOW) return OCKAMI_REPLAY_TOO_OLD;
  if (r->bits[replay_word(n)] & (UINT64_C(1) << (n & 63))) return OCKAMI_REPLAY_SEEN;
  return OCKAMI_REPLAY_OK;
}

void ockami_replay_mark(ockami_replay *r, uint64_t n) {
  if (r->next == 0 || n >= r->next) {
    uint64_t block = n >> 6;
    uint64_t top = r->next ? (r->next - 1) >> 6 : 0;
    if (r->next == 0 || block - top >= OCKAMI_REPLAY_WORDS) {
      memset(r->bits, 0, sizeof r->bits);
    } else {
      for (uint64_t b = top + 1; b <= block; b++) r->bits[b % OCKAMI_REPLAY_WORDS] = 0;
    }
    r->next = n + 1;
  }
  r->bits[replay_word(n)] |= UINT64_C(1) << (n & 63);
}

/* --- framing ------------------------------------------------------------------------ */

static size_t cipher_header(ockami_framing f) {
  return f == OCKAMI_FRAMING_EXTENDED ? OCKAMI_CIPHER_HEADER_EXTENDED : OCKAMI_CIPHER_HEADER_2021;
}

size_t ockami_cipher_overhead(ockami_framing framing) {
  return cipher_header(framing) + OCKAM_AEAD_TAG_LEN;
}

/* 00x4 || n as u64 BE; for n < 2^16 this is 00x10 || n as u16 BE (spec §4.1). */
static void cipher_nonce(uint64_t n, uint8_t out[12]) {
  memset(out, 0, 4);
  for (int i = 0; i < 8; i++) out[4 + i] = (uint8_t)(n >> (56 - 8 * i));
}

static void put_be(uint8_t *p, size_t len, uint64_t v) {
  for (size_t i = 0; i < len; i++) p[i] = (uint8_t)(v >> (8 * (len - 1 - i)));
}

static uint64_t get_be(const uint8_t *p, size_t len) {
  uint64_t v = 0;
  for (size_t i = 0; i < len; i++) v = (v << 8) | p[i];
  return v;
}

static int cipher_key_ok(ockam_vault *v, ockam_secret k) {
  ockam_secret_type t;
  int rc = ockam_vault_secret_info(v, k, &t, NULL);
  if (rc) return rc;
  return t == OCKAM_SECRET_AES256 ? OCKAM_OK : OCKAM_EINVAL;
}

int ockami_cipher_init(ockami_cipher *c, ockam_vault *vault, ockami_framing framing,
                       ockam_secret enc, ockam_secret dec) {
  if (!c) return OCKAM_EINVAL;
  memset(c, 0, sizeof *c);
  if (!vault || (framing != OCKAMI_FRAMING_2021 && framing != OCKAMI_FRAMING_EXTENDED)) {
    return OCKAM_EINVAL;
  }
  int rc = cipher_key_ok(vault, enc);
  if (rc == OCKAM_OK) rc = cipher_key_ok(vault, dec);
  if (rc == OCKAM_OK && enc == dec) rc = OCKAM_EINVAL;
  if (rc) return rc;
  c->vault = vault;
  c->framing = framing;
  c->enc = enc;
  c->dec = dec;
  ockami_replay_init(&c->replay);
  return OCKAM_OK;
}

void ockami_cipher_clear(ockami_cipher *c) {
  if (!c) return;
  if (c->vault) {
    ockam_vault_secret_destroy(c->vault, c->enc);
    ockam_vault_secret_destroy(c->vault, c->dec);
  }
  sodium_memzero(c, sizeof *c);
}

int ockami_cipher_encrypt(ockami_cipher *c, const uint8_t *pt, size_t len, uint8_t *out, size_t cap,
                          size_t *out_len) {
  if (!c) return OCKAM_EINVAL;
  if (out_len) *out_len = 0;
  if (!c->vault) return OCKAM_ESTATE;
  if ((!pt && len) || !out || !out_len) return OCKAM_EINVAL;
  size_t hdr = cipher_header(c->framing);
  if (len > SIZE_MAX - hdr - OCKAM_AEAD_TAG_LEN || cap < len + hdr + OCKAM_AEAD_TAG_LEN) {
    return OCKAM_EOVERFLOW;
  }
  uint64_t limit = c->framing == OCKAMI_FRAMING_EXTENDED ? OCKAMI_CIPHER_LIMIT_EXTENDED
                                                         : OCKAMI_CIPHER_LIMIT_2021;
  if (c->send_n >= limit) return OCKAM_ENONCE;

  uint64_t n = c->send_n;
  uint8_t nonce[12];
  size_t ct_len = 0;
  cipher_nonce(n, nonce);
  put_be(out, hdr, n);
  int rc = ockam_vault_aead_encrypt(c->vault, c->enc, nonce, NULL, 0, pt, len, out + hdr, cap - hdr,
                                    &ct_len);
  if (rc) {
    sodium_memzero(out,
                   cap < len + hdr + OCKAM_AEAD_TAG_LEN ? cap : len + hdr + OCKAM_AEAD_TAG_LEN);
    return rc;
  }
  c->send_n = n + 1;
  c->stats.sent++;
  *out_len = hdr + ct_len;
  return OCKAM_OK;
}

int ockami_cipher_decrypt(ockami_cipher *c, const uint8_t *blob, size_t len, uint8_t *out,
                          size_t cap, size_t *out_len) {
  if (!c) return OCKAM_EINVAL;
  if (out_len) *out_len = 0;
  if (!c->vault) return OCKAM_ESTATE;
  if ((!blob && len) || (!out && cap) || !out_len) return OCKAM_EINVAL;
  size_t hdr = cipher_header(c->framing);
  if (len < hdr + OCKAM_AEAD_TAG_LEN) {
    c->stats.malformed++;
    return OCKAM_ETRUNC;
  }
  size_t pt_len = len - hdr - OCKAM_AEAD_TAG_LEN;
  if (cap < pt_len) return OCKAM_EOVERFLOW;
  uint64_t n = get_be(blob, hdr);
  /* The window keeps n + 1; no valid extended sender ever reaches 2^64-1. */
  if (n == UINT64_MAX) {
    c->stats.malformed++;
    return OCKAM_EMALFORMED;
  }

  /* Cheap refusal before spending an AES pass on it. */
  switch (ockami_replay_check(&c->replay, n)) {
    case OCKAMI_REPLAY_OK:
      break;
    case OCKAMI_REPLAY_SEEN:
      c->stats.replayed++;
      return OCKAM_EREPLAY;
    case OCKAMI_REPLAY_TOO_OLD:
      c->stats.too_old++;
      return OCKAM_EREPLAY;
  }

  uint8_t nonce[12];
  uint8_t none;
  size_t got = 0;
  cipher_nonce(n, nonce);
  int rc = ockam_vault_aead_decrypt(c->vault, c->dec, nonce, NULL, 0, blob + hdr, len - hdr,
                                    out ? out : &none, cap, &got);
  if (rc) {
    /* The vault already wiped out; the window stays where it was. */
    c->stats.auth_failed++;
    return OCKAM_ECRYPTO;
  }
  ockami_replay_mark(&c->replay, n);
  c->stats.delivered++;
  *out_len = got;
  return OCKAM_OK;
}

/* --- negotiation ---------------------------------------------------------------------- */

static const uint8_t ext_magic[4] = {'O', 'C', 'K', 'X'};

int ockami_ext_payload_write(uint8_t flags, uint8_t *out, size_t cap, size_t *out_len) {
  if (!out || !out_len) return OCKAM_EINVAL;
  *out_len = 0;
  if (cap < OCKAMI_EXT_PAYLOAD_LEN) return OCKAM_EOVERFLOW;
  memcpy(out, ext_magic, sizeof ext_magic);
  out[4] = OCKAMI_EXT_VERSION;
  out[5] = flags;
  *out_len = OCKAMI_EXT_PAYLOAD_LEN;
  return OCKAM_OK;
}

uint8_t ockami_ext_payload_parse(const uint8_t *payload, size_t len) {
  if (!payload || len < OCKAMI_EXT_PAYLOAD_LEN) return 0;
  if (memcmp(payload, ext_magic, sizeof ext_magic) != 0) return 0;
  if (payload[4] != OCKAMI_EXT_VERSION) return 0;
  return payload[5];
}

ockami_framing ockami_ext_select(uint8_t local_flags, uint8_t remote_flags) {
  return (local_flags & remote_flags & OCKAMI_EXT_FLAG_EXTENDED_FRAMING) ? OCKAMI_FRAMING_EXTENDED
                                                                         : OCKAMI_FRAMING_2021;
}
