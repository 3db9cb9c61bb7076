/* Channel transport: framing (spec §6.3/§6.4 and the extension in
 * docs/protocol-extensions.md), nonces, replay window, negotiation payloads. */
#include "cipher.h"

#include <sodium.h>
#include <string.h>

#include "bytes.h"
#include "vault_internal.h"

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
    ockam_vault_secret_destroy(c->vault, c->dec_prev);
  }
  sodium_memzero(c, sizeof *c);
}

/* --- rekeying ---------------------------------------------------------------------- */

int ockami_rekey(ockam_vault *vault, ockam_secret k, ockam_secret *out) {
  if (!vault || !out) return OCKAM_EINVAL;
  *out = 0;
  /* Noise §11.3: ENCRYPT(k, maxnonce = 2^64-1, ad = empty, zeros[32]), first 32
   * bytes. The AESGCM nonce is 00x4 || n as u64 BE; no data message uses it
   * (the sender refuses counter 2^64-1). */
  static const uint8_t zeros[32];
  uint8_t nonce[12], ct[32 + OCKAM_AEAD_TAG_LEN];
  size_t len = 0;
  ockami_aead_nonce(UINT64_MAX, nonce);
  int rc =
      ockam_vault_aead_encrypt(vault, k, nonce, NULL, 0, zeros, sizeof zeros, ct, sizeof ct, &len);
  if (!rc && len != sizeof ct) rc = OCKAM_ECRYPTO;
  if (!rc) rc = ockam_vault_secret_import(vault, OCKAM_SECRET_AES256, ct, 32, out);
  sodium_memzero(ct, sizeof ct);
  return rc;
}

/* Advance enc to epoch `to` (> send_epoch; one step, or a few after a jump). */
static int send_rekey(ockami_cipher *c, uint64_t to) {
  if (to - c->send_epoch > OCKAM_REKEY_MAX_SKIP) return OCKAM_EINVAL;
  ockam_secret k = c->enc;
  for (uint64_t e = c->send_epoch; e < to; e++) {
    ockam_secret next;
    int rc = ockami_rekey(c->vault, k, &next);
    if (k != c->enc) ockam_vault_secret_destroy(c->vault, k);
    if (rc) return rc;
    k = next;
  }
  ockam_vault_secret_destroy(c->vault, c->enc);
  c->enc = k;
  c->stats.rekeys_sent += to - c->send_epoch;
  c->send_epoch = to;
  return OCKAM_OK;
}

int ockami_cipher_enable_rekey(ockami_cipher *c, uint64_t messages) {
  if (!c || messages < OCKAM_REPLAY_WINDOW) return OCKAM_EINVAL;
  if (!c->vault || c->framing != OCKAMI_FRAMING_EXTENDED) return OCKAM_EINVAL;
  if (c->send_n || c->replay.next) return OCKAM_ESTATE;
  c->rekey_n = messages;
  return OCKAM_OK;
}

int ockami_cipher_rekey_now(ockami_cipher *c) {
  if (!c) return OCKAM_EINVAL;
  if (!c->vault) return OCKAM_ESTATE;
  if (!c->rekey_n) return OCKAM_ENOTSUP;
  uint64_t epoch = c->send_n / c->rekey_n;
  /* The counter sits on a boundary the key has not followed yet. */
  if (epoch != c->send_epoch) return send_rekey(c, epoch);
  /* Nothing was sent under the current key: keeping it exposes nothing, and
   * an idle channel must not run ahead of what a receiver can follow. */
  if (c->send_n == epoch * c->rekey_n) return OCKAM_OK;
  if (epoch >= (OCKAMI_CIPHER_LIMIT_EXTENDED - 1) / c->rekey_n - 1) return OCKAM_ENONCE;
  int rc = send_rekey(c, epoch + 1);
  if (rc) return rc;
  c->send_n = (epoch + 1) * c->rekey_n;
  return OCKAM_OK;
}

/* The decryption key for counter n: dec, dec_prev, or (for a newer epoch) a
 * freshly derived key *fresh (with *fresh_prev the key of the epoch before it
 * when that is not dec), which the caller adopts only after the tag verified. */
static int recv_key(ockami_cipher *c, uint64_t n, ockam_secret *key, ockam_secret *fresh,
                    ockam_secret *fresh_prev) {
  *fresh = *fresh_prev = 0;
  if (!c->rekey_n) {
    *key = c->dec;
    return OCKAM_OK;
  }
  uint64_t e = n / c->rekey_n;
  if (e == c->recv_epoch) {
    *key = c->dec;
    return OCKAM_OK;
  }
  if (e < c->recv_epoch) {
    /* The window reaches at most one epoch back (rekey_n >= window). */
    if (e + 1 == c->recv_epoch && c->dec_prev) {
      *key = c->dec_prev;
      return OCKAM_OK;
    }
    return OCKAM_EREPLAY;
  }
  if (e - c->recv_epoch > OCKAM_REKEY_MAX_SKIP) return OCKAM_EMALFORMED;
  ockam_secret k = c->dec, prev = 0;
  for (uint64_t i = c->recv_epoch; i < e; i++) {
    ockam_secret next;
    int rc = ockami_rekey(c->vault, k, &next);
    if (rc) {
      if (k != c->dec) ockam_vault_secret_destroy(c->vault, k);
      ockam_vault_secret_destroy(c->vault, prev);
      return rc;
    }
    if (prev) ockam_vault_secret_destroy(c->vault, prev);
    prev = k != c->dec ? k : 0;
    k = next;
  }
  *key = *fresh = k;
  *fresh_prev = prev;
  return OCKAM_OK;
}

/* After counter n authenticated: adopt a newer epoch's key, and wipe the
 * previous epoch's key once the window no longer reaches it. */
static void recv_rekey_commit(ockami_cipher *c, uint64_t n, ockam_secret fresh,
                              ockam_secret fresh_prev) {
  if (fresh) {
    uint64_t e = n / c->rekey_n;
    ockam_vault_secret_destroy(c->vault, c->dec_prev);
    if (fresh_prev) {
      /* Skipped epochs: only the one just before e can still be in the window. */
      ockam_vault_secret_destroy(c->vault, c->dec);
      c->dec_prev = fresh_prev;
    } else {
      c->dec_prev = c->dec;
    }
    c->dec = fresh;
    c->stats.rekeys_received += e - c->recv_epoch;
    c->recv_epoch = e;
  }
  /* Oldest counter the window still accepts: next - W. */
  uint64_t next = c->replay.next;
  if (c->dec_prev && next >= OCKAM_REPLAY_WINDOW &&
      next - OCKAM_REPLAY_WINDOW >= c->recv_epoch * c->rekey_n) {
    ockam_vault_secret_destroy(c->vault, c->dec_prev);
    c->dec_prev = 0;
  }
}

/* Seals pt || pt2 (pt2 only when len2 > 0, through the vault's two-piece
 * seal). */
static int cipher_seal(ockami_cipher *c, const uint8_t *pt, size_t len, const uint8_t *pt2,
                       size_t len2, uint8_t *out, size_t cap, size_t *out_len) {
  if (!c) return OCKAM_EINVAL;
  if (out_len) *out_len = 0;
  if (!c->vault) return OCKAM_ESTATE;
  if ((!pt && len) || (!pt2 && len2) || !out || !out_len) return OCKAM_EINVAL;
  if (len2 && !ockami_vault_has_encrypt2(c->vault)) return OCKAM_ENOTSUP;
  size_t hdr = cipher_header(c->framing);
  if (len2 > SIZE_MAX - hdr - OCKAM_AEAD_TAG_LEN ||
      len > SIZE_MAX - hdr - OCKAM_AEAD_TAG_LEN - len2 ||
      cap < len + len2 + hdr + OCKAM_AEAD_TAG_LEN) {
    return OCKAM_EOVERFLOW;
  }
  uint64_t limit = c->framing == OCKAMI_FRAMING_EXTENDED ? OCKAMI_CIPHER_LIMIT_EXTENDED
                                                         : OCKAMI_CIPHER_LIMIT_2021;
  if (c->send_n >= limit) return OCKAM_ENONCE;

  uint64_t n = c->send_n;
  if (c->rekey_n && n / c->rekey_n != c->send_epoch) {
    /* The counter entered the next epoch: move the key forward first. */
    int rc = send_rekey(c, n / c->rekey_n);
    if (rc) return rc;
  }
  uint8_t nonce[12];
  size_t ct_len = 0;
  ockami_aead_nonce(n, nonce);
  ockami_store_be(out, hdr, n);
  int rc = len2 ? ockami_vault_aead_encrypt2(c->vault, c->enc, nonce, pt, len, pt2, len2, out + hdr,
                                             cap - hdr, &ct_len)
                : ockam_vault_aead_encrypt(c->vault, c->enc, nonce, NULL, 0, pt, len, out + hdr,
                                           cap - hdr, &ct_len);
  if (rc) {
    size_t all = len + len2 + hdr + OCKAM_AEAD_TAG_LEN;
    sodium_memzero(out, cap < all ? cap : all);
    return rc;
  }
  c->send_n = n + 1;
  c->stats.sent++;
  *out_len = hdr + ct_len;
  return OCKAM_OK;
}

int ockami_cipher_encrypt(ockami_cipher *c, const uint8_t *pt, size_t len, uint8_t *out, size_t cap,
                          size_t *out_len) {
  return cipher_seal(c, pt, len, NULL, 0, out, cap, out_len);
}

bool ockami_cipher_can_encrypt2(const ockami_cipher *c) {
  return c && ockami_vault_has_encrypt2(c->vault);
}

int ockami_cipher_encrypt2(ockami_cipher *c, const uint8_t *pt1, size_t len1, const uint8_t *pt2,
                           size_t len2, uint8_t *out, size_t cap, size_t *out_len) {
  return cipher_seal(c, pt1, len1, pt2, len2, out, cap, out_len);
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
  uint64_t n = ockami_load_be(blob, hdr);
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

  ockam_secret key, fresh, fresh_prev;
  int rc = recv_key(c, n, &key, &fresh, &fresh_prev);
  if (rc == OCKAM_EREPLAY) {
    c->stats.too_old++;
    return rc;
  }
  if (rc == OCKAM_EMALFORMED) {
    c->stats.malformed++;
    return rc;
  }
  if (rc) return rc;
  uint8_t nonce[12];
  uint8_t none;
  size_t got = 0;
  ockami_aead_nonce(n, nonce);
  rc = ockam_vault_aead_decrypt(c->vault, key, nonce, NULL, 0, blob + hdr, len - hdr,
                                out ? out : &none, cap, &got);
  if (rc) {
    /* The vault already wiped out; the window and the keys stay as they were. */
    ockam_vault_secret_destroy(c->vault, fresh);
    ockam_vault_secret_destroy(c->vault, fresh_prev);
    c->stats.auth_failed++;
    return OCKAM_ECRYPTO;
  }
  ockami_replay_mark(&c->replay, n);
  if (c->rekey_n) recv_rekey_commit(c, n, fresh, fresh_prev);
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

int ockami_ext_offer_write(uint8_t flags, uint32_t rekey_messages, uint8_t *out, size_t cap,
                           size_t *out_len) {
  int rc = ockami_ext_payload_write(flags, out, cap, out_len);
  if (rc || !(flags & OCKAMI_EXT_FLAG_REKEY)) return rc;
  if (cap < OCKAMI_EXT_PAYLOAD_REKEY_LEN) {
    *out_len = 0;
    return OCKAM_EOVERFLOW;
  }
  ockami_store_be(out + OCKAMI_EXT_PAYLOAD_LEN, 4, rekey_messages);
  *out_len = OCKAMI_EXT_PAYLOAD_REKEY_LEN;
  return OCKAM_OK;
}

uint8_t ockami_ext_offer_parse(const uint8_t *payload, size_t len, uint32_t *rekey_messages) {
  uint8_t flags = ockami_ext_payload_parse(payload, len);
  uint32_t m = 0;
  if (flags & OCKAMI_EXT_FLAG_REKEY) {
    if (len >= OCKAMI_EXT_PAYLOAD_REKEY_LEN)
      m = (uint32_t)ockami_load_be(payload + OCKAMI_EXT_PAYLOAD_LEN, 4);
    if (m == 0) flags &= (uint8_t)~OCKAMI_EXT_FLAG_REKEY;
  }
  if (rekey_messages) *rekey_messages = m;
  return flags;
}

uint64_t ockami_ext_rekey_select(uint8_t local_flags, uint32_t local_messages, uint8_t remote_flags,
                                 uint32_t remote_messages) {
  uint8_t both = local_flags & remote_flags;
  if (!(both & OCKAMI_EXT_FLAG_EXTENDED_FRAMING) || !(both & OCKAMI_EXT_FLAG_REKEY)) return 0;
  uint64_t m = local_messages < remote_messages ? local_messages : remote_messages;
  return m < OCKAM_REPLAY_WINDOW ? OCKAM_REPLAY_WINDOW : m;
}

ockami_framing ockami_ext_select(uint8_t local_flags, uint8_t remote_flags) {
  return (local_flags & remote_flags & OCKAMI_EXT_FLAG_EXTENDED_FRAMING) ? OCKAMI_FRAMING_EXTENDED
                                                                         : OCKAMI_FRAMING_2021;
}

bool ockami_ext_batch_select(uint8_t local_flags, uint8_t remote_flags) {
  uint8_t both = local_flags & remote_flags;
  return (both & OCKAMI_EXT_FLAG_EXTENDED_FRAMING) && (both & OCKAMI_EXT_FLAG_BATCH);
}
