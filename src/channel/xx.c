/* Noise XX over the vault (spec §5, Noise rev 34 §5 and §7.5). */
#include "xx.h"

#include <sodium.h>
#include <string.h>

#include "bytes.h"
#include "log.h"

/* 28 bytes: shorter than HASHLEN, so h0 is the name zero-padded to 32 (§5.1). */
static const char xx_protocol_name[] = "Noise_XX_25519_AESGCM_SHA256";

/* --- symmetric state (Noise §5.2) ------------------------------------------ */

static int xx_mix_hash(ockami_xx *hs, const uint8_t *data, size_t len) {
  return ockam_vault_sha256_concat(hs->vault, hs->h, sizeof hs->h, data, len, hs->h);
}

/* (ck, k) = HKDF(ck, ikm), n = 0. Consumes (destroys) the ikm secret. */
static int xx_mix_key(ockami_xx *hs, ockam_secret ikm) {
  static const ockam_secret_type types[2] = {OCKAM_SECRET_BUFFER, OCKAM_SECRET_AES256};
  ockam_secret out[2] = {0, 0};
  int rc = ockam_vault_hkdf_sha256(hs->vault, hs->ck, ikm, NULL, 0, 2, types, out);
  ockam_vault_secret_destroy(hs->vault, ikm);
  if (rc) return rc;
  ockam_vault_secret_destroy(hs->vault, hs->ck);
  ockam_vault_secret_destroy(hs->vault, hs->k);
  hs->ck = out[0];
  hs->k = out[1];
  hs->n = 0;
  return OCKAM_OK;
}

/* MixKey(DH(priv, pub)); an all-zero DH result fails with OCKAM_ECRYPTO. */
static int xx_mix_dh(ockami_xx *hs, ockam_secret priv, const uint8_t pub[32]) {
  ockam_secret dh = 0;
  int rc = ockam_vault_x25519_dh(hs->vault, priv, pub, &dh);
  if (rc) return rc;
  return xx_mix_key(hs, dh);
}

/* out receives len bytes (no key yet) or len + 16 bytes. */
static int xx_encrypt_and_hash(ockami_xx *hs, const uint8_t *pt, size_t len, uint8_t *out) {
  if (!hs->k) {
    if (len) memcpy(out, pt, len);
    return xx_mix_hash(hs, out, len);
  }
  if (hs->n == UINT64_MAX) return OCKAM_ENONCE; /* 2^64-1 is reserved by Noise */
  uint8_t nonce[12];
  size_t ct_len = 0;
  ockami_aead_nonce(hs->n, nonce);
  int rc = ockam_vault_aead_encrypt(hs->vault, hs->k, nonce, hs->h, sizeof hs->h, pt, len, out,
                                    len + OCKAM_AEAD_TAG_LEN, &ct_len);
  if (rc) return rc;
  hs->n++;
  return xx_mix_hash(hs, out, ct_len);
}

/* out receives len bytes (no key yet) or len - 16 bytes; len >= 16 when keyed. */
static int xx_decrypt_and_hash(ockami_xx *hs, const uint8_t *ct, size_t len, uint8_t *out) {
  if (!hs->k) {
    if (len) memcpy(out, ct, len);
    return xx_mix_hash(hs, ct, len);
  }
  if (hs->n == UINT64_MAX) return OCKAM_ENONCE;
  uint8_t nonce[12];
  size_t pt_len = 0;
  ockami_aead_nonce(hs->n, nonce);
  /* h is the AD, so it must be hashed forward only after decrypting. */
  int rc = ockam_vault_aead_decrypt(hs->vault, hs->k, nonce, hs->h, sizeof hs->h, ct, len, out,
                                    len - OCKAM_AEAD_TAG_LEN, &pt_len);
  if (rc) return rc;
  hs->n++;
  return xx_mix_hash(hs, ct, len);
}

static void xx_destroy_ephemeral(ockami_xx *hs) {
  if (hs->own_e) ockam_vault_secret_destroy(hs->vault, hs->e);
  hs->e = 0;
}

/* Destroy everything owned and enter FAILED. Injected keys stay with the caller. */
static void xx_fail(ockami_xx *hs) {
  ockam_vault_secret_destroy(hs->vault, hs->ck);
  ockam_vault_secret_destroy(hs->vault, hs->k);
  xx_destroy_ephemeral(hs);
  if (hs->own_s) {
    ockam_vault_secret_destroy(hs->vault, hs->s);
    hs->s = 0;
  }
  hs->ck = hs->k = 0;
  hs->n = 0;
  sodium_memzero(hs->h, sizeof hs->h);
  hs->state = OCKAMI_XX_FAILED;
}

/* Take an injected key (check its type) or generate one. */
static int xx_key(ockami_xx *hs, ockam_secret given, ockam_secret *key, bool *own,
                  uint8_t pub[32]) {
  if (!given) {
    *own = true;
    return ockam_vault_x25519_generate(hs->vault, key, pub);
  }
  ockam_secret_type type;
  int rc = ockam_vault_secret_info(hs->vault, given, &type, NULL);
  if (rc) return rc;
  if (type != OCKAM_SECRET_X25519) return OCKAM_EINVAL;
  *own = false;
  *key = given;
  return ockam_vault_x25519_public(hs->vault, given, pub);
}

int ockami_xx_init(ockami_xx *hs, ockam_vault *vault, bool initiator, const uint8_t *prologue,
                   size_t prologue_len, ockam_secret s, ockam_secret e) {
  if (!hs) return OCKAM_EINVAL;
  memset(hs, 0, sizeof *hs);
  hs->vault = vault;
  hs->initiator = initiator;
  int rc = OCKAM_EINVAL;
  if (!vault || (!prologue && prologue_len)) goto out;

  /* h = padded protocol name; ck = h; MixHash(prologue) (§5.1). */
  memcpy(hs->h, xx_protocol_name, sizeof xx_protocol_name - 1);
  rc = ockam_vault_secret_import(vault, OCKAM_SECRET_BUFFER, hs->h, sizeof hs->h, &hs->ck);
  if (rc) goto out;
  rc = xx_mix_hash(hs, prologue, prologue_len);
  if (rc) goto out;
  rc = xx_key(hs, s, &hs->s, &hs->own_s, hs->s_pub);
  if (rc) goto out;
  rc = xx_key(hs, e, &hs->e, &hs->own_e, hs->e_pub);
  if (rc) goto out;
  hs->state = initiator ? OCKAMI_XX_WRITE_M1 : OCKAMI_XX_READ_M1;

out:
  if (rc) xx_fail(hs);
  return rc;
}

bool ockami_xx_wants_write(const ockami_xx *hs) {
  return hs && (hs->state == OCKAMI_XX_WRITE_M1 || hs->state == OCKAMI_XX_WRITE_M2 ||
                hs->state == OCKAMI_XX_WRITE_M3);
}

size_t ockami_xx_write_len(const ockami_xx *hs, size_t payload_len) {
  if (!hs || payload_len > OCKAMI_XX_MSG_MAX) return 0;
  switch (hs->state) {
    case OCKAMI_XX_WRITE_M1:
      return OCKAMI_XX_M1_MIN + payload_len;
    case OCKAMI_XX_WRITE_M2:
      return OCKAMI_XX_M2_MIN + payload_len;
    case OCKAMI_XX_WRITE_M3:
      return OCKAMI_XX_M3_MIN + payload_len;
    default:
      return 0;
  }
}

/* --- messages (§5.2) --------------------------------------------------------- */

/* -> e */
static int xx_write_m1(ockami_xx *hs, const uint8_t *payload, size_t len, uint8_t *out) {
  int rc;
  /* e */
  memcpy(out, hs->e_pub, 32);
  if ((rc = xx_mix_hash(hs, hs->e_pub, 32))) return rc;
  /* payload: no key yet, sent in clear and hashed */
  if ((rc = xx_encrypt_and_hash(hs, payload, len, out + 32))) return rc;
  hs->state = OCKAMI_XX_READ_M2;
  return OCKAM_OK;
}

static int xx_read_m1(ockami_xx *hs, const uint8_t *msg, size_t len, uint8_t *payload) {
  int rc;
  /* e */
  memcpy(hs->re, msg, 32);
  if ((rc = xx_mix_hash(hs, hs->re, 32))) return rc;
  /* payload */
  if ((rc = xx_decrypt_and_hash(hs, msg + 32, len - 32, payload))) return rc;
  hs->state = OCKAMI_XX_WRITE_M2;
  return OCKAM_OK;
}

/* <- e, ee, s, es */
static int xx_write_m2(ockami_xx *hs, const uint8_t *payload, size_t len, uint8_t *out) {
  int rc;
  /* e */
  memcpy(out, hs->e_pub, 32);
  if ((rc = xx_mix_hash(hs, hs->e_pub, 32))) return rc;
  /* ee */
  if ((rc = xx_mix_dh(hs, hs->e, hs->re))) return rc;
  /* s */
  if ((rc = xx_encrypt_and_hash(hs, hs->s_pub, 32, out + 32))) return rc;
  /* es */
  if ((rc = xx_mix_dh(hs, hs->s, hs->re))) return rc;
  /* payload */
  if ((rc = xx_encrypt_and_hash(hs, payload, len, out + 80))) return rc;
  hs->state = OCKAMI_XX_READ_M3;
  return OCKAM_OK;
}

static int xx_read_m2(ockami_xx *hs, const uint8_t *msg, size_t len, uint8_t *payload) {
  int rc;
  /* e */
  memcpy(hs->re, msg, 32);
  if ((rc = xx_mix_hash(hs, hs->re, 32))) return rc;
  /* ee */
  if ((rc = xx_mix_dh(hs, hs->e, hs->re))) return rc;
  /* s */
  if ((rc = xx_decrypt_and_hash(hs, msg + 32, 48, hs->rs))) return rc;
  /* es */
  if ((rc = xx_mix_dh(hs, hs->e, hs->rs))) return rc;
  xx_destroy_ephemeral(hs); /* the initiator's e has no further use */
  /* payload */
  if ((rc = xx_decrypt_and_hash(hs, msg + 80, len - 80, payload))) return rc;
  hs->state = OCKAMI_XX_WRITE_M3;
  return OCKAM_OK;
}

/* -> s, se */
static int xx_write_m3(ockami_xx *hs, const uint8_t *payload, size_t len, uint8_t *out) {
  int rc;
  /* s (encrypted with the es key at n = 1, spec §5.2) */
  if ((rc = xx_encrypt_and_hash(hs, hs->s_pub, 32, out))) return rc;
  /* se */
  if ((rc = xx_mix_dh(hs, hs->s, hs->re))) return rc;
  /* payload */
  if ((rc = xx_encrypt_and_hash(hs, payload, len, out + 48))) return rc;
  hs->state = OCKAMI_XX_COMPLETE;
  return OCKAM_OK;
}

static int xx_read_m3(ockami_xx *hs, const uint8_t *msg, size_t len, uint8_t *payload) {
  int rc;
  /* s */
  if ((rc = xx_decrypt_and_hash(hs, msg, 48, hs->rs))) return rc;
  /* se */
  if ((rc = xx_mix_dh(hs, hs->e, hs->rs))) return rc;
  xx_destroy_ephemeral(hs);
  /* payload */
  if ((rc = xx_decrypt_and_hash(hs, msg + 48, len - 48, payload))) return rc;
  hs->state = OCKAMI_XX_COMPLETE;
  return OCKAM_OK;
}

int ockami_xx_write(ockami_xx *hs, const uint8_t *payload, size_t len, uint8_t *out, size_t cap,
                    size_t *out_len) {
  if (!hs) return OCKAM_EINVAL;
  size_t need = ockami_xx_write_len(hs, len);
  int rc;
  if (out_len) *out_len = 0;
  if (!ockami_xx_wants_write(hs)) {
    rc = OCKAM_ESTATE;
  } else if ((!payload && len) || !out || !out_len) {
    rc = OCKAM_EINVAL;
  } else if (need == 0 || need > OCKAMI_XX_MSG_MAX || cap < need) {
    rc = OCKAM_EOVERFLOW;
  } else if (hs->state == OCKAMI_XX_WRITE_M1) {
    rc = xx_write_m1(hs, payload, len, out);
  } else if (hs->state == OCKAMI_XX_WRITE_M2) {
    rc = xx_write_m2(hs, payload, len, out);
  } else {
    rc = xx_write_m3(hs, payload, len, out);
  }
  if (rc) {
    LOG_DEBUG("xx", "write failed in state %d: %s", (int)hs->state, ockam_errname(rc));
    if (out) sodium_memzero(out, cap < need ? cap : need);
    xx_fail(hs);
    return rc;
  }
  *out_len = need;
  return OCKAM_OK;
}

int ockami_xx_read(ockami_xx *hs, const uint8_t *msg, size_t len, uint8_t *payload, size_t cap,
                   size_t *payload_len) {
  if (!hs) return OCKAM_EINVAL;
  size_t min = hs->state == OCKAMI_XX_READ_M1   ? OCKAMI_XX_M1_MIN
               : hs->state == OCKAMI_XX_READ_M2 ? OCKAMI_XX_M2_MIN
                                                : OCKAMI_XX_M3_MIN;
  size_t plen = len >= min ? len - min : 0;
  int rc;
  if (payload_len) *payload_len = 0;
  if (hs->state != OCKAMI_XX_READ_M1 && hs->state != OCKAMI_XX_READ_M2 &&
      hs->state != OCKAMI_XX_READ_M3) {
    rc = OCKAM_ESTATE;
  } else if (!msg || (!payload && cap) || !payload_len) {
    rc = OCKAM_EINVAL;
  } else if (len < min) {
    rc = OCKAM_ETRUNC;
  } else if (len > OCKAMI_XX_MSG_MAX || cap < plen) {
    rc = OCKAM_EOVERFLOW;
  } else {
    /* Zero-length payloads may come with payload == NULL. */
    uint8_t none;
    uint8_t *p = payload ? payload : &none;
    if (hs->state == OCKAMI_XX_READ_M1) {
      rc = xx_read_m1(hs, msg, len, p);
    } else if (hs->state == OCKAMI_XX_READ_M2) {
      rc = xx_read_m2(hs, msg, len, p);
    } else {
      rc = xx_read_m3(hs, msg, len, p);
    }
  }
  if (rc) {
    LOG_DEBUG("xx", "read failed in state %d: %s", (int)hs->state, ockam_errname(rc));
    if (payload) sodium_memzero(payload, cap < plen ? cap : plen);
    xx_fail(hs);
    return rc;
  }
  *payload_len = plen;
  return OCKAM_OK;
}

/* --- split and accessors ------------------------------------------------------ */

int ockami_xx_split(ockami_xx *hs, bool ockam_key_order, ockam_secret *enc, ockam_secret *dec,
                    uint8_t h[OCKAMI_XX_HASH_LEN]) {
  if (!hs) return OCKAM_EINVAL;
  if (enc) *enc = 0;
  if (dec) *dec = 0;
  static const ockam_secret_type types[2] = {OCKAM_SECRET_AES256, OCKAM_SECRET_AES256};
  ockam_secret k[2] = {0, 0};
  int rc;
  if (hs->state != OCKAMI_XX_COMPLETE) {
    rc = OCKAM_ESTATE;
  } else if (!enc || !dec) {
    rc = OCKAM_EINVAL;
  } else {
    /* (k1, k2) = HKDF(ck, empty ikm) */
    rc = ockam_vault_hkdf_sha256(hs->vault, hs->ck, 0, NULL, 0, 2, types, k);
  }
  if (rc) {
    xx_fail(hs);
    return rc;
  }
  /* Noise: the initiator sends with k1. Ockam swaps the pair (spec §5.3). */
  bool send_k1 = hs->initiator != ockam_key_order;
  *enc = send_k1 ? k[0] : k[1];
  *dec = send_k1 ? k[1] : k[0];
  if (h) memcpy(h, hs->h, sizeof hs->h);
  ockam_vault_secret_destroy(hs->vault, hs->ck);
  ockam_vault_secret_destroy(hs->vault, hs->k);
  hs->ck = hs->k = 0;
  xx_destroy_ephemeral(hs);
  hs->state = OCKAMI_XX_SPLIT;
  return OCKAM_OK;
}

int ockami_xx_remote_static(const ockami_xx *hs, uint8_t out[static 32]) {
  if (!hs || !out) return OCKAM_EINVAL;
  bool known = hs->state == OCKAMI_XX_COMPLETE || hs->state == OCKAMI_XX_SPLIT ||
               (hs->initiator && hs->state == OCKAMI_XX_WRITE_M3);
  if (!known) return OCKAM_ESTATE;
  memcpy(out, hs->rs, 32);
  return OCKAM_OK;
}

int ockami_xx_handshake_hash(const ockami_xx *hs, uint8_t out[static OCKAMI_XX_HASH_LEN]) {
  if (!hs || !out) return OCKAM_EINVAL;
  if (hs->state != OCKAMI_XX_COMPLETE && hs->state != OCKAMI_XX_SPLIT) return OCKAM_ESTATE;
  memcpy(out, hs->h, OCKAMI_XX_HASH_LEN);
  return OCKAM_OK;
}

void ockami_xx_clear(ockami_xx *hs) {
  if (!hs) return;
  if (hs->vault) {
    ockam_vault_secret_destroy(hs->vault, hs->ck);
    ockam_vault_secret_destroy(hs->vault, hs->k);
    if (hs->own_e) ockam_vault_secret_destroy(hs->vault, hs->e);
    if (hs->own_s) ockam_vault_secret_destroy(hs->vault, hs->s);
  }
  sodium_memzero(hs, sizeof *hs); /* state = OCKAMI_XX_NONE */
}
