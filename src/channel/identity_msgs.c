/* Identity channel handshake messages (identity spec §3.1, §6.2; layouts in
 * the identity vectors file §4). */
#include "identity_msgs.h"

#include <string.h>

#include "ockam/identity.h"
#include "ockam/route.h"

/* The walk must take every Contact the identity layer's decoder takes. */
_Static_assert(OCKAM_IDENTIFIER_LEN <= OCKAMI_AUTH_STRING_MAX &&
                   OCKAM_CONTACT_MAX_LABEL_LEN <= OCKAMI_AUTH_STRING_MAX,
               "identifier and label fit the walk's string cap");

/* --- Contact walk (spec §3.1 field order) ----------------------------------------- */

static int skip_string(ockami_reader *r, size_t max) {
  const char *s;
  size_t n;
  return ockami_read_string(r, max, &s, &n);
}

static int skip_fixed(ockami_reader *r, size_t n) {
  const uint8_t *p;
  return ockami_read_fixed(r, n, &p);
}

/* An enum tag: a BARE uint (spec §0; one byte when written minimally, but a
 * longer encoding is the same value, as change.c reads it) that must be <= max. */
static int read_tag(ockami_reader *r, uint64_t max, uint64_t *out) {
  int rc = ockami_read_uint(r, out);
  if (!rc && *out > max) rc = OCKAM_EMALFORMED;
  return rc;
}

/* KeyAttributes { label: String, meta: MetaKeyAttributes } */
static int skip_key_attributes(ockami_reader *r) {
  uint64_t meta = 0, stype = 0, persistence = 0, length;
  int rc = skip_string(r, OCKAMI_AUTH_STRING_MAX);
  if (!rc) rc = read_tag(r, 1, &meta);
  if (!rc && meta == 1) {
    /* SecretAttributes { stype: 0..4, persistence: 0..1, length: u64 LE } */
    if (!(rc = read_tag(r, 4, &stype)) && !(rc = read_tag(r, 1, &persistence)))
      rc = ockami_read_u64le(r, &length);
  }
  return rc;
}

/* ProfileChange { version: u8, attributes: map, change_type: CreateKey | RotateKey } */
static int skip_change(ockami_reader *r) {
  uint8_t version;
  uint64_t nattr, type = 0;
  int rc = ockami_read_u8(r, &version);
  if (!rc) rc = ockami_read_uint_max(r, OCKAMI_AUTH_ATTRIBUTES_MAX, &nattr);
  for (uint64_t i = 0; !rc && i < nattr; i++) {
    rc = skip_string(r, OCKAMI_AUTH_STRING_MAX);
    if (!rc) rc = skip_string(r, OCKAMI_AUTH_STRING_MAX);
  }
  if (!rc) rc = read_tag(r, 1, &type);
  /* {Create,Rotate}KeyChangeData { key_attributes, public_key: Vec<u8> } */
  if (!rc) rc = skip_key_attributes(r);
  const uint8_t *key;
  size_t key_len;
  if (!rc) rc = ockami_read_data(r, OCKAMI_AUTH_KEY_MAX, &key, &key_len);
  if (!rc) rc = skip_fixed(r, 64);              /* self_signature */
  if (!rc && type == 1) rc = skip_fixed(r, 64); /* prev_signature */
  return rc;
}

int ockami_contact_span(ockami_reader *r, const uint8_t **start, size_t *len) {
  size_t from = r->pos;
  uint64_t nevents, nchanges, tag;
  int rc = skip_string(r, OCKAMI_AUTH_STRING_MAX); /* identifier */
  if (!rc) rc = ockami_read_uint_max(r, OCKAMI_AUTH_EVENTS_MAX, &nevents);
  for (uint64_t e = 0; !rc && e < nevents; e++) {
    /* ProfileChangeEvent { identifier[32], ChangeSet { prev[32], Vec<ProfileChange> }, proof } */
    rc = skip_fixed(r, 32);
    if (!rc) rc = skip_fixed(r, 32);
    if (!rc) rc = ockami_read_uint_max(r, OCKAMI_AUTH_CHANGES_MAX, &nchanges);
    for (uint64_t c = 0; !rc && c < nchanges; c++) rc = skip_change(r);
    /* ProfileChangeProof::Signature(Signature { RootSign, [u8; 64] }) */
    if (!rc) rc = read_tag(r, 0, &tag);
    if (!rc) rc = read_tag(r, 0, &tag);
    if (!rc) rc = skip_fixed(r, 64);
  }
  if (!rc && r->pos - from > OCKAMI_AUTH_CONTACT_MAX) rc = OCKAM_EOVERFLOW;
  if (rc) return rc;
  *start = r->p + from;
  *len = r->pos - from;
  return OCKAM_OK;
}

/* --- messages ---------------------------------------------------------------------- */

static int write_address(ockami_buf *b, const char *address) {
  size_t n = address ? strlen(address) : 0;
  if (n == 0 || n > 255) return OCKAM_EINVAL;
  int rc = ockami_write_u8(b, OCKAM_ADDRESS_LOCAL);
  if (!rc) rc = ockami_write_string(b, address, n);
  return rc;
}

static int write_contact_proof(ockami_buf *b, const uint8_t *contact, size_t len,
                               const uint8_t *proof) {
  if (!b || !contact || !len || !proof) return OCKAM_EINVAL;
  int rc = ockami_write_fixed(b, contact, len);
  /* proof: Vec<u8> = BARE(AuthenticationProof{[u8; 64]}) (spec §5) */
  if (!rc) rc = ockami_write_data(b, proof, OCKAMI_AUTH_PROOF_LEN);
  return rc;
}

int ockami_auth_request_encode(ockami_buf *b, const uint8_t *contact, size_t len,
                               const uint8_t proof[static OCKAMI_AUTH_PROOF_LEN]) {
  return write_contact_proof(b, contact, len, proof);
}

int ockami_auth_response_encode(ockami_buf *b, const uint8_t *contact, size_t len,
                                const uint8_t proof[static OCKAMI_AUTH_PROOF_LEN],
                                const char *address) {
  if (!address || !*address) return OCKAM_EINVAL;
  int rc = write_contact_proof(b, contact, len, proof);
  if (!rc) rc = write_address(b, address);
  return rc;
}

int ockami_auth_confirm_encode(ockami_buf *b, const char *address) {
  if (!b) return OCKAM_EINVAL;
  return write_address(b, address);
}

static int read_contact_proof(ockami_reader *r, ockami_auth_msg *out) {
  int rc = ockami_contact_span(r, &out->contact, &out->contact_len);
  size_t plen = 0;
  /* Rust reads 64 bytes and ignores any more; a valid sender sends exactly 64. */
  if (!rc) rc = ockami_read_data(r, OCKAMI_AUTH_PROOF_LEN, &out->proof, &plen);
  if (!rc && plen != OCKAMI_AUTH_PROOF_LEN) rc = OCKAM_EMALFORMED;
  return rc;
}

static int read_address(ockami_reader *r, ockami_auth_msg *out) {
  int rc = ockami_read_u8(r, &out->addr_type);
  if (!rc) rc = ockami_read_data(r, 255, &out->addr, &out->addr_len);
  /* The peer names one of its own workers: a local address, never empty. */
  if (!rc && (out->addr_type != OCKAM_ADDRESS_LOCAL || out->addr_len == 0)) rc = OCKAM_EMALFORMED;
  return rc;
}

static int finish(const ockami_reader *r, int rc, ockami_auth_msg *out) {
  if (!rc) rc = ockami_reader_finish(r);
  if (rc) memset(out, 0, sizeof *out);
  return rc;
}

int ockami_auth_request_decode(const uint8_t *p, size_t len, ockami_auth_msg *out) {
  if (!out || (!p && len)) return OCKAM_EINVAL;
  memset(out, 0, sizeof *out);
  ockami_reader r;
  ockami_reader_init(&r, p, len);
  return finish(&r, read_contact_proof(&r, out), out);
}

int ockami_auth_response_decode(const uint8_t *p, size_t len, ockami_auth_msg *out) {
  if (!out || (!p && len)) return OCKAM_EINVAL;
  memset(out, 0, sizeof *out);
  ockami_reader r;
  ockami_reader_init(&r, p, len);
  int rc = read_contact_proof(&r, out);
  if (!rc) rc = read_address(&r, out);
  return finish(&r, rc, out);
}

int ockami_auth_confirm_decode(const uint8_t *p, size_t len, ockami_auth_msg *out) {
  if (!out || (!p && len)) return OCKAM_EINVAL;
  memset(out, 0, sizeof *out);
  ockami_reader r;
  ockami_reader_init(&r, p, len);
  return finish(&r, read_address(&r, out), out);
}
