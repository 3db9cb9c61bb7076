/* Change history encoding, decoding and verification (identity spec §3–§4). */
#include "change.h"

#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "bare.h"
#include "xeddsa.h"

const uint8_t ockami_no_event_id[32] = {
    0xb9, 0x15, 0x45, 0x49, 0xa3, 0x81, 0x30, 0x3a, 0x93, 0xdd, 0x12, 0xa2, 0x7e, 0x17, 0x3d, 0x7f,
    0x36, 0x6f, 0x15, 0x97, 0xca, 0x28, 0x2d, 0xac, 0xe8, 0x47, 0x37, 0xfc, 0xfb, 0x3f, 0xa2, 0x82};

/* Enum indexes of the 2021 vault types (spec §3.1). */
enum { SECRET_TYPE_CURVE25519 = 2, SECRET_TYPE_MAX = 4 };
enum { PERSISTENCE_PERSISTENT = 1, PERSISTENCE_MAX = 1 };
#define CHANGE_VERSION 1u

void ockami_hex32(const uint8_t in[static 32], char out[static 65]) {
  static const char digits[] = "0123456789abcdef";
  for (size_t i = 0; i < 32; i++) {
    out[2 * i] = digits[in[i] >> 4];
    out[2 * i + 1] = digits[in[i] & 15];
  }
  out[64] = 0;
}

bool ockami_key_attributes_is_puk(const ockami_key_attributes *a) {
  return a->label_len == sizeof OCKAMI_PUK_LABEL - 1 &&
         memcmp(a->label, OCKAMI_PUK_LABEL, a->label_len) == 0 && a->has_secret_attributes &&
         a->stype == SECRET_TYPE_CURVE25519 && a->persistence == PERSISTENCE_PERSISTENT &&
         a->length == 32;
}

static bool key_attributes_equal(const ockami_key_attributes *a, const ockami_key_attributes *b) {
  if (a->label_len != b->label_len || memcmp(a->label, b->label, a->label_len) != 0) return false;
  if (a->has_secret_attributes != b->has_secret_attributes) return false;
  if (!a->has_secret_attributes) return true;
  return a->stype == b->stype && a->persistence == b->persistence && a->length == b->length;
}

/* --- encoders ------------------------------------------------------------- */

int ockami_key_data_encode(ockami_buf *b, const char *label, const uint8_t pub[static 32]) {
  int rc = ockami_write_string(b, label, strlen(label));
  if (!rc) rc = ockami_write_uint(b, 1); /* MetaKeyAttributes::SecretAttributes */
  if (!rc) rc = ockami_write_uint(b, SECRET_TYPE_CURVE25519);
  if (!rc) rc = ockami_write_uint(b, PERSISTENCE_PERSISTENT);
  if (!rc) rc = ockami_write_u64le(b, 32); /* usize length */
  if (!rc) rc = ockami_write_data(b, pub, 32);
  return rc;
}

int ockami_changeset_encode(ockami_buf *b, const uint8_t prev[static 32], uint8_t kind,
                            const uint8_t *data, size_t data_len, const uint8_t self_sig[static 64],
                            const uint8_t *prev_sig) {
  int rc = ockami_write_fixed(b, prev, 32);
  if (!rc) rc = ockami_write_uint(b, 1);               /* one ProfileChange */
  if (!rc) rc = ockami_write_u8(b, CHANGE_VERSION);    /* version */
  if (!rc) rc = ockami_write_uint(b, 0);               /* attributes: empty map */
  if (!rc) rc = ockami_write_uint(b, kind);            /* ProfileChangeType */
  if (!rc) rc = ockami_write_fixed(b, data, data_len); /* Create/RotateKeyChangeData */
  if (!rc) rc = ockami_write_fixed(b, self_sig, 64);
  if (!rc && kind == OCKAMI_CHANGE_ROTATE_KEY) {
    rc = prev_sig ? ockami_write_fixed(b, prev_sig, 64) : OCKAM_EINVAL;
  }
  return rc;
}

int ockami_event_encode(ockami_buf *b, const uint8_t id[static 32], const uint8_t *changeset,
                        size_t changeset_len, const uint8_t root_sig[static 64]) {
  int rc = ockami_write_fixed(b, id, 32);
  if (!rc) rc = ockami_write_fixed(b, changeset, changeset_len);
  if (!rc) rc = ockami_write_uint(b, 0); /* ProfileChangeProof::Signature */
  if (!rc) rc = ockami_write_uint(b, 0); /* SignatureType::RootSign */
  if (!rc) rc = ockami_write_fixed(b, root_sig, 64);
  return rc;
}

int ockami_contact_encode(ockami_buf *b, const char *identifier, size_t n, const uint8_t *events,
                          size_t events_len) {
  int rc = ockami_write_string(b, identifier, strlen(identifier));
  if (!rc) rc = ockami_write_uint(b, n);
  if (!rc) rc = ockami_write_fixed(b, events, events_len);
  return rc;
}

/* --- decoder --------------------------------------------------------------- */

/* Read an enum tag (BARE uint) that must be <= max; anything else is malformed. */
static int read_tag(ockami_reader *r, uint64_t max, uint8_t *out) {
  uint64_t v = 0;
  int rc = ockami_read_uint(r, &v);
  if (rc) return rc;
  if (v > max) {
    r->err = OCKAM_EMALFORMED;
    return OCKAM_EMALFORMED;
  }
  *out = (uint8_t)v;
  return OCKAM_OK;
}

static int read_key_attributes(ockami_reader *r, ockami_key_attributes *a) {
  const char *label;
  size_t label_len;
  uint8_t meta = 0;
  memset(a, 0, sizeof *a);
  int rc = ockami_read_string(r, OCKAM_CONTACT_MAX_LABEL_LEN, &label, &label_len);
  if (!rc) rc = read_tag(r, 1, &meta);
  if (rc) return rc;
  memcpy(a->label, label, label_len);
  a->label_len = (uint8_t)label_len;
  a->has_secret_attributes = meta == 1;
  if (!a->has_secret_attributes) return OCKAM_OK;
  rc = read_tag(r, SECRET_TYPE_MAX, &a->stype);
  if (!rc) rc = read_tag(r, PERSISTENCE_MAX, &a->persistence);
  if (!rc) rc = ockami_read_u64le(r, &a->length);
  return rc;
}

/* The key an event adds (CreateKey) or rotates to (RotateKey). */
typedef struct key_change {
  const uint8_t *data; /* Create/RotateKeyChangeData bytes as received */
  size_t data_len;
  const uint8_t *self_sig, *prev_sig;
  const uint8_t *root_sig;
  const uint8_t *changeset;
  size_t changeset_len;
} key_change;

static int read_event(ockami_reader *r, ockami_change_event *ev, key_change *kc) {
  const uint8_t *id, *prev, *pub;
  size_t pub_len;
  uint64_t count = 0;
  uint8_t version = 0, kind = 0, proof = 0, sigtype = 0;
  memset(kc, 0, sizeof *kc);

  int rc = ockami_read_fixed(r, 32, &id);
  if (rc) return rc;
  size_t cs_start = r->pos;
  if ((rc = ockami_read_fixed(r, 32, &prev))) return rc;
  /* Exactly one change per event (spec §4 step 1). */
  if ((rc = ockami_read_uint(r, &count))) return rc;
  if (count != 1) return OCKAM_EAUTH;
  if ((rc = ockami_read_u8(r, &version))) return rc;
  if (version != CHANGE_VERSION) return OCKAM_EMALFORMED;
  /* Attributes: carried (and hashed) as received, not interpreted. */
  uint64_t nattr = 0;
  if ((rc = ockami_read_uint_max(r, OCKAM_CONTACT_MAX_ATTRIBUTES, &nattr))) return rc;
  for (uint64_t i = 0; i < 2 * nattr; i++) {
    const char *s;
    size_t slen;
    if ((rc = ockami_read_string(r, OCKAM_CONTACT_MAX_ATTRIBUTE_LEN, &s, &slen))) return rc;
  }
  if ((rc = read_tag(r, OCKAMI_CHANGE_ROTATE_KEY, &kind))) return rc;
  size_t data_start = r->pos;
  if ((rc = read_key_attributes(r, &ev->attrs))) return rc;
  if ((rc = ockami_read_data(r, OCKAM_CONTACT_MAX_KEY_LEN, &pub, &pub_len))) return rc;
  kc->data = r->p + data_start;
  kc->data_len = r->pos - data_start;
  if ((rc = ockami_read_fixed(r, 64, &kc->self_sig))) return rc;
  if (kind == OCKAMI_CHANGE_ROTATE_KEY && (rc = ockami_read_fixed(r, 64, &kc->prev_sig))) {
    return rc;
  }
  kc->changeset = r->p + cs_start;
  kc->changeset_len = r->pos - cs_start;
  if ((rc = read_tag(r, 0, &proof))) return rc;   /* ProfileChangeProof::Signature */
  if ((rc = read_tag(r, 0, &sigtype))) return rc; /* SignatureType::RootSign */
  if ((rc = ockami_read_fixed(r, 64, &kc->root_sig))) return rc;

  memcpy(ev->id, id, 32);
  memcpy(ev->prev, prev, 32);
  ev->kind = kind;
  memcpy(ev->pub, pub, pub_len);
  ev->pub_len = (uint8_t)pub_len;
  return OCKAM_OK;
}

/* A key's signature: XEdDSA for 32-byte keys; for the 2021 BLS credential keys
 * (96 bytes) the only valid "signature" is 64 zero bytes (spec §2.3, §3.4). */
static int key_verify(const uint8_t *pub, size_t pub_len, const uint8_t *msg, size_t len,
                      const uint8_t sig[static 64]) {
  if (pub_len == 32) return ockami_xeddsa_verify(pub, msg, len, sig);
  if (pub_len == 96) {
    static const uint8_t zero[64];
    return sodium_memcmp(sig, zero, 64) == 0 ? OCKAM_OK : OCKAM_EAUTH;
  }
  return OCKAM_EAUTH;
}

/* Current PUK of events[0..n): the last event whose attributes are exactly the
 * PUK attributes (one change per event, so "last change" = last event). */
static const ockami_change_event *current_puk(const ockami_change_event *events, size_t n) {
  for (size_t i = n; i-- > 0;) {
    if (ockami_key_attributes_is_puk(&events[i].attrs)) return &events[i];
  }
  return NULL;
}

/* Verify event i against the events before it (spec §4 step 2). */
static int verify_event(const ockami_change_event *events, size_t i, const key_change *kc) {
  const ockami_change_event *ev = &events[i];
  uint8_t digest[32];

  /* prev chain: the first event starts from SHA-256("OCKAM_NO_EVENT") (the
   * 2021 code does not check this; its senders always write it). */
  const uint8_t *want_prev = i == 0 ? ockami_no_event_id : events[i - 1].id;
  if (memcmp(ev->prev, want_prev, 32) != 0) return OCKAM_EAUTH;
  if (i == 0 && ev->kind != OCKAMI_CHANGE_CREATE_KEY) return OCKAM_EAUTH;

  /* a. event id = SHA-256 of the ChangeSet bytes as received (spec §3.5). */
  crypto_hash_sha256(digest, kc->changeset, kc->changeset_len);
  if (memcmp(digest, ev->id, 32) != 0) return OCKAM_EAUTH;

  /* b. root signature by the current PUK before this event (or the event's
   * own key for the first one). */
  const ockami_change_event *signer = i == 0 ? current_puk(events, 1) : current_puk(events, i);
  if (!signer || signer->pub_len != 32) return OCKAM_EAUTH;
  if (ockami_xeddsa_verify(signer->pub, ev->id, 32, kc->root_sig) != OCKAM_OK) return OCKAM_EAUTH;

  /* A PUK-labelled key must be an X25519 key. */
  if (ockami_key_attributes_is_puk(&ev->attrs) && ev->pub_len != 32) return OCKAM_EAUTH;

  /* c. self signature over SHA-256(key change data); for a rotation also the
   * previous key with the same attributes. A second CreateKey for attributes
   * that already have a key would replace it without the previous key's
   * consent: refused (stricter than 2021, which never writes one). */
  crypto_hash_sha256(digest, kc->data, kc->data_len);
  if (key_verify(ev->pub, ev->pub_len, digest, 32, kc->self_sig) != OCKAM_OK) return OCKAM_EAUTH;
  const ockami_change_event *before = NULL;
  for (size_t j = i; j-- > 0;) {
    if (key_attributes_equal(&events[j].attrs, &ev->attrs)) {
      before = &events[j];
      break;
    }
  }
  if (ev->kind == OCKAMI_CHANGE_CREATE_KEY) return before ? OCKAM_EAUTH : OCKAM_OK;
  if (!before) return OCKAM_EAUTH;
  return key_verify(before->pub, before->pub_len, digest, 32, kc->prev_sig) == OCKAM_OK
             ? OCKAM_OK
             : OCKAM_EAUTH;
}

static int history_decode(const uint8_t *p, size_t len, bool verify, ockami_history *h) {
  memset(h, 0, sizeof *h);
  if (!p && len) return OCKAM_EINVAL;
  if (len > OCKAM_CONTACT_MAX_BYTES) return OCKAM_EOVERFLOW;
  ockami_reader r;
  ockami_reader_init(&r, p, len);
  const char *ident;
  size_t ident_len;
  uint64_t n = 0;
  int rc = ockami_read_string(&r, OCKAM_IDENTIFIER_LEN, &ident, &ident_len);
  if (!rc) rc = ockami_read_uint_max(&r, OCKAM_CONTACT_MAX_EVENTS, &n);
  if (rc) return rc;
  if (n == 0) return OCKAM_EAUTH;
  /* Each event takes at least 32 + 32 + ... > 100 bytes: the count is
   * checked against what is left before anything is allocated. */
  if (n > ockami_reader_left(&r) / 100) return OCKAM_ETRUNC;
  h->events = calloc((size_t)n, sizeof *h->events);
  if (!h->events) return OCKAM_ENOMEM;
  h->events_off = r.pos;

  for (size_t i = 0; i < n; i++) {
    key_change kc;
    ockami_change_event *ev = &h->events[i];
    ev->off = r.pos;
    rc = read_event(&r, ev, &kc);
    if (rc == OCKAM_OK && r.err) rc = r.err;
    if (rc) goto fail;
    ev->len = r.pos - ev->off;
    h->n = i + 1;
    rc = verify ? verify_event(h->events, i, &kc) : OCKAM_OK;
    if (rc) goto fail;
  }
  rc = ockami_reader_finish(&r);
  if (rc) goto fail;
  if (!verify) return OCKAM_OK;

  /* Step 3: identifier = hex(SHA-256(root key)); root = first event's key. */
  uint8_t digest[32];
  crypto_hash_sha256(digest, h->events[0].pub, h->events[0].pub_len);
  ockami_hex32(digest, h->identifier);
  if (ident_len != OCKAM_IDENTIFIER_LEN || memcmp(ident, h->identifier, ident_len) != 0) {
    rc = OCKAM_EAUTH;
    goto fail;
  }
  const ockami_change_event *puk = current_puk(h->events, h->n);
  if (!puk || puk->pub_len != 32) {
    rc = OCKAM_EAUTH;
    goto fail;
  }
  memcpy(h->puk, puk->pub, 32);
  return OCKAM_OK;

fail:
  ockami_history_clear(h);
  return rc;
}

int ockami_history_decode(const uint8_t *p, size_t len, ockami_history *h) {
  return history_decode(p, len, true, h);
}

int ockami_history_decode_unverified(const uint8_t *p, size_t len, ockami_history *h) {
  return history_decode(p, len, false, h);
}

void ockami_history_clear(ockami_history *h) {
  free(h->events);
  memset(h, 0, sizeof *h);
}
