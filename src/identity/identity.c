/* Identities and contacts (identity spec §2–§5): the public API on top of the
 * pure change-history code and the vault. */
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "bare.h"
#include "change.h"
#include "identity_internal.h"
#include "keyfile.h"
#include "log.h"
#include "ockam/identity.h"

struct ockam_contact {
  ockami_history h;
  uint8_t *bytes; /* the Contact encoding the history was decoded from */
  size_t len;
};

struct ockam_identity {
  ockam_vault *vault;
  ockam_secret puk; /* current profile update key */
  ockam_contact *contact;
};

/* --- identifiers ------------------------------------------------------------ */

static bool is_lower_hex(const char *s, size_t n) {
  for (size_t i = 0; i < n; i++) {
    char c = s[i];
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

int ockam_identifier_parse(const char *s, char out[static OCKAM_IDENTIFIER_BUF]) {
  if (!s || !out) return OCKAM_EINVAL;
  out[0] = 0;
  size_t n = strlen(s);
  const char *hex = s;
  if (n == 5 + OCKAM_IDENTIFIER_LEN && !strncmp(s, OCKAM_IDENTIFIER_EXTERNAL_PREFIX, 5)) {
    hex = s + 5;
  } else if (n == 1 + OCKAM_IDENTIFIER_LEN && s[0] == 'P') {
    hex = s + 1;
  } else if (n != OCKAM_IDENTIFIER_LEN) {
    return OCKAM_EMALFORMED;
  }
  char tmp[OCKAM_IDENTIFIER_BUF];
  for (size_t i = 0; i < OCKAM_IDENTIFIER_LEN; i++) {
    char c = hex[i];
    if (c >= 'A' && c <= 'F') c = (char)(c - 'A' + 'a');
    tmp[i] = c;
  }
  if (!is_lower_hex(tmp, OCKAM_IDENTIFIER_LEN)) return OCKAM_EMALFORMED;
  tmp[OCKAM_IDENTIFIER_LEN] = 0;
  memcpy(out, tmp, sizeof tmp);
  return OCKAM_OK;
}

int ockam_identifier_to_external(const char *identifier, char *buf, size_t cap) {
  if (!identifier || !buf) return OCKAM_EINVAL;
  if (strlen(identifier) != OCKAM_IDENTIFIER_LEN ||
      !is_lower_hex(identifier, OCKAM_IDENTIFIER_LEN)) {
    return OCKAM_EMALFORMED;
  }
  if (cap < OCKAM_IDENTIFIER_EXTERNAL_BUF) return OCKAM_EOVERFLOW;
  memcpy(buf, OCKAM_IDENTIFIER_EXTERNAL_PREFIX, 5);
  memcpy(buf + 5, identifier, OCKAM_IDENTIFIER_LEN + 1);
  return OCKAM_OK;
}

void ockami_key_id(const uint8_t pub[static 32], char out[static 65]) {
  uint8_t d[32];
  crypto_hash_sha256(d, pub, 32);
  ockami_hex32(d, out);
}

static int copy_identifier(const char *id, char *buf, size_t cap) {
  if (!buf) return OCKAM_EINVAL;
  if (cap < OCKAM_IDENTIFIER_BUF) return OCKAM_EOVERFLOW;
  memcpy(buf, id, OCKAM_IDENTIFIER_BUF);
  return OCKAM_OK;
}

/* --- contacts ----------------------------------------------------------------- */

int ockam_contact_decode(const uint8_t *p, size_t len, ockam_contact **out) {
  if (!out) return OCKAM_EINVAL;
  *out = NULL;
  if (!p && len) return OCKAM_EINVAL;
  ockam_contact *c = calloc(1, sizeof *c);
  if (!c) return OCKAM_ENOMEM;
  int rc = ockami_history_decode(p, len, &c->h);
  if (rc) {
    free(c);
    return rc;
  }
  c->bytes = malloc(len);
  if (!c->bytes) {
    ockam_contact_free(c);
    return OCKAM_ENOMEM;
  }
  memcpy(c->bytes, p, len);
  c->len = len;
  *out = c;
  return OCKAM_OK;
}

void ockam_contact_free(ockam_contact *c) {
  if (!c) return;
  ockami_history_clear(&c->h);
  free(c->bytes);
  free(c);
}

int ockam_contact_encode(const ockam_contact *c, uint8_t *out, size_t cap, size_t *len) {
  if (!c || !len || (!out && cap)) return OCKAM_EINVAL;
  *len = c->len;
  if (cap < c->len) return OCKAM_EOVERFLOW;
  memcpy(out, c->bytes, c->len);
  return OCKAM_OK;
}

int ockam_contact_clone(const ockam_contact *c, ockam_contact **out) {
  if (!c || !out) return OCKAM_EINVAL;
  return ockam_contact_decode(c->bytes, c->len, out);
}

int ockam_contact_identifier(const ockam_contact *c, char *buf, size_t cap) {
  if (!c) return OCKAM_EINVAL;
  return copy_identifier(c->h.identifier, buf, cap);
}

const char *ockam_contact_identifier_str(const ockam_contact *c) {
  return c ? c->h.identifier : "";
}

size_t ockam_contact_event_count(const ockam_contact *c) {
  return c ? c->h.n : 0;
}

int ockam_contact_public_key(const ockam_contact *c, uint8_t pub[static 32]) {
  if (!c || !pub) return OCKAM_EINVAL;
  memcpy(pub, c->h.puk, 32);
  return OCKAM_OK;
}

int ockam_contact_check_extends(const ockam_contact *known, const ockam_contact *newer) {
  if (!known || !newer) return OCKAM_EINVAL;
  if (strcmp(known->h.identifier, newer->h.identifier) != 0) return OCKAM_EAUTH;
  if (newer->h.n < known->h.n) return OCKAM_EAUTH;
  /* Same events, byte for byte, as far as known goes (each event's span
   * includes its id, so this also pins the chain). */
  for (size_t i = 0; i < known->h.n; i++) {
    const ockami_change_event *a = &known->h.events[i], *b = &newer->h.events[i];
    if (a->len != b->len || memcmp(known->bytes + a->off, newer->bytes + b->off, a->len) != 0) {
      return OCKAM_EAUTH;
    }
  }
  return OCKAM_OK;
}

int ockam_contact_update(ockam_contact *known, const ockam_contact *newer) {
  int rc = ockam_contact_check_extends(known, newer);
  if (rc) return rc;
  ockam_contact *copy;
  rc = ockam_contact_clone(newer, &copy);
  if (rc) return rc;
  ockami_history_clear(&known->h);
  free(known->bytes);
  *known = *copy;
  free(copy);
  return OCKAM_OK;
}

int ockam_contact_verify_proof(const ockam_contact *c, const uint8_t h[static OCKAM_PROOF_HASH_LEN],
                               const uint8_t sig[static OCKAM_PROOF_LEN]) {
  if (!c || !h || !sig) return OCKAM_EINVAL;
  return ockam_vault_xeddsa_verify(c->h.puk, h, OCKAM_PROOF_HASH_LEN, sig) == OCKAM_OK
             ? OCKAM_OK
             : OCKAM_EAUTH;
}

/* --- identities --------------------------------------------------------------- */

/* Sign the 32-byte value msg with key. */
static int sign32(ockam_vault *v, ockam_secret key, const uint8_t msg[32], uint8_t sig[64]) {
  return ockam_vault_xeddsa_sign(v, key, msg, 32, sig);
}

/* Build one key event (spec §3.3/§3.4): new_key signs the data; for a rotation
 * old_key signs it too, and old_key (or new_key for the first event) signs the
 * event id. The encoded event is appended to ev. */
static int build_key_event(ockam_vault *v, const uint8_t prev[32], uint8_t kind,
                           ockam_secret new_key, ockam_secret old_key, ockami_buf *ev) {
  ockami_buf data = OCKAMI_BUF_INIT, cs = OCKAMI_BUF_INIT;
  uint8_t pub[32], digest[32], self_sig[64], prev_sig[64], root_sig[64], id[32];
  int rc = ockam_vault_x25519_public(v, new_key, pub);
  if (!rc) rc = ockami_key_data_encode(&data, OCKAMI_PUK_LABEL, pub);
  if (!rc) rc = ockam_vault_sha256(v, data.data, data.len, digest);
  if (!rc) rc = sign32(v, new_key, digest, self_sig);
  if (!rc && kind == OCKAMI_CHANGE_ROTATE_KEY) rc = sign32(v, old_key, digest, prev_sig);
  if (!rc) {
    rc = ockami_changeset_encode(&cs, prev, kind, data.data, data.len, self_sig,
                                 kind == OCKAMI_CHANGE_ROTATE_KEY ? prev_sig : NULL);
  }
  if (!rc) rc = ockam_vault_sha256(v, cs.data, cs.len, id);
  if (!rc) rc = sign32(v, kind == OCKAMI_CHANGE_ROTATE_KEY ? old_key : new_key, id, root_sig);
  if (!rc) rc = ockami_event_encode(ev, id, cs.data, cs.len, root_sig);
  ockami_buf_free(&data);
  ockami_buf_free(&cs);
  return rc;
}

/* The identity's new contact: identifier, old events, one new event; decoded
 * and verified like any received contact before the identity adopts it. */
static int make_contact(const char *identifier, const ockam_contact *old, const ockami_buf *ev,
                        ockam_contact **out) {
  ockami_buf b = OCKAMI_BUF_INIT, events = OCKAMI_BUF_INIT;
  size_t n = 1;
  int rc = OCKAM_OK;
  if (old) {
    n += old->h.n;
    rc = ockami_buf_append(&events, old->bytes + old->h.events_off, old->len - old->h.events_off);
  }
  if (!rc) rc = ockami_buf_append(&events, ev->data, ev->len);
  if (!rc && n > OCKAM_CONTACT_MAX_EVENTS) rc = OCKAM_EOVERFLOW;
  if (!rc) rc = ockami_contact_encode(&b, identifier, n, events.data, events.len);
  if (!rc && b.len > OCKAM_CONTACT_MAX_BYTES) rc = OCKAM_EOVERFLOW;
  if (!rc) rc = ockam_contact_decode(b.data, b.len, out);
  if (rc == OCKAM_EAUTH) LOG_ERROR("identity", "a change event we made does not verify");
  ockami_buf_free(&b);
  ockami_buf_free(&events);
  return rc;
}

int ockami_identity_create_with_key(ockam_vault *vault, ockam_secret key, ockam_identity **out) {
  if (!vault || !out) {
    if (vault) ockam_vault_secret_destroy(vault, key);
    return OCKAM_EINVAL;
  }
  *out = NULL;
  ockami_buf ev = OCKAMI_BUF_INIT;
  uint8_t pub[32];
  char identifier[65];
  ockam_identity *id = calloc(1, sizeof *id);
  int rc = id ? OCKAM_OK : OCKAM_ENOMEM;
  if (!rc) rc = ockam_vault_x25519_public(vault, key, pub);
  if (!rc) {
    ockami_key_id(pub, identifier); /* identifier = KeyId of the root key */
    rc = build_key_event(vault, ockami_no_event_id, OCKAMI_CHANGE_CREATE_KEY, key, 0, &ev);
  }
  if (!rc) rc = make_contact(identifier, NULL, &ev, &id->contact);
  ockami_buf_free(&ev);
  if (rc) {
    ockam_vault_secret_destroy(vault, key);
    free(id);
    return rc;
  }
  id->vault = vault;
  id->puk = key;
  *out = id;
  return OCKAM_OK;
}

int ockam_identity_create(ockam_vault *vault, ockam_identity **out) {
  if (!vault || !out) return OCKAM_EINVAL;
  *out = NULL;
  ockam_secret key;
  uint8_t pub[32];
  int rc = ockam_vault_x25519_generate(vault, &key, pub);
  if (rc) return rc;
  return ockami_identity_create_with_key(vault, key, out);
}

void ockam_identity_free(ockam_identity *id) {
  if (!id) return;
  ockam_vault_secret_destroy(id->vault, id->puk);
  ockam_contact_free(id->contact);
  free(id);
}

int ockam_identity_identifier(const ockam_identity *id, char *buf, size_t cap) {
  if (!id) return OCKAM_EINVAL;
  return copy_identifier(id->contact->h.identifier, buf, cap);
}

int ockam_identity_identifier_external(const ockam_identity *id, char *buf, size_t cap) {
  if (!id) return OCKAM_EINVAL;
  return ockam_identifier_to_external(id->contact->h.identifier, buf, cap);
}

size_t ockam_identity_event_count(const ockam_identity *id) {
  return id ? id->contact->h.n : 0;
}

int ockam_identity_public_key(const ockam_identity *id, uint8_t pub[static 32]) {
  if (!id) return OCKAM_EINVAL;
  return ockam_contact_public_key(id->contact, pub);
}

ockam_vault *ockam_identity_vault(const ockam_identity *id) {
  return id ? id->vault : NULL;
}

int ockami_identity_rotate_with_key(ockam_identity *id, ockam_secret key) {
  if (!id) return OCKAM_EINVAL;
  ockami_buf ev = OCKAMI_BUF_INIT;
  ockam_contact *next = NULL;
  const ockami_history *h = &id->contact->h;
  int rc = build_key_event(id->vault, h->events[h->n - 1].id, OCKAMI_CHANGE_ROTATE_KEY, key,
                           id->puk, &ev);
  if (!rc) rc = make_contact(h->identifier, id->contact, &ev, &next);
  ockami_buf_free(&ev);
  if (rc) {
    ockam_vault_secret_destroy(id->vault, key);
    return rc;
  }
  /* The old key signed its last event: wipe it. */
  ockam_vault_secret_destroy(id->vault, id->puk);
  ockam_contact_free(id->contact);
  id->puk = key;
  id->contact = next;
  return OCKAM_OK;
}

int ockam_identity_rotate(ockam_identity *id) {
  if (!id) return OCKAM_EINVAL;
  ockam_secret key;
  uint8_t pub[32];
  int rc = ockam_vault_x25519_generate(id->vault, &key, pub);
  if (rc) return rc;
  return ockami_identity_rotate_with_key(id, key);
}

int ockam_identity_export_contact(const ockam_identity *id, uint8_t *out, size_t cap, size_t *len) {
  if (!id) return OCKAM_EINVAL;
  return ockam_contact_encode(id->contact, out, cap, len);
}

int ockam_identity_contact(const ockam_identity *id, ockam_contact **out) {
  if (!out) return OCKAM_EINVAL;
  *out = NULL;
  if (!id) return OCKAM_EINVAL;
  return ockam_contact_clone(id->contact, out);
}

int ockam_identity_create_proof(ockam_identity *id, const uint8_t h[static OCKAM_PROOF_HASH_LEN],
                                uint8_t sig[static OCKAM_PROOF_LEN]) {
  if (!id || !h || !sig) return OCKAM_EINVAL;
  return ockam_vault_xeddsa_sign(id->vault, id->puk, h, OCKAM_PROOF_HASH_LEN, sig);
}

/* --- persistence ------------------------------------------------------------ */

int ockam_identity_save(ockam_identity *id, const char *path) {
  if (!id || !path) return OCKAM_EINVAL;
  if (!ockam_vault_dir(id->vault)) return OCKAM_ENOTSUP;
  const ockami_history *h = &id->contact->h;
  char key_id[65];
  ockami_key_id(h->puk, key_id);
  ockami_buf b = OCKAMI_BUF_INIT;
  uint8_t digest[32];

  /* Key first, then the file that names it, then forget the older keys: a
   * crash at any point leaves a file whose key exists. */
  int rc = ockam_vault_secret_persist(id->vault, id->puk, key_id);
  if (!rc) rc = ockami_buf_append(&b, OCKAMI_IDENTITY_MAGIC, 8);
  if (!rc) rc = ockami_write_data(&b, id->contact->bytes, id->contact->len);
  if (!rc) rc = ockami_write_string(&b, key_id, 64);
  if (!rc) {
    crypto_hash_sha256(digest, b.data, b.len);
    rc = ockami_buf_append(&b, digest, 32);
  }
  if (!rc) rc = ockami_file_write(path, b.data, b.len);
  if (rc == OCKAM_ENOTFOUND || rc == OCKAM_EINVAL) rc = OCKAM_EIO; /* directory missing, bad path */
  ockami_buf_free(&b);
  if (rc) {
    LOG_WARN("identity", "cannot save identity to %s: %s", path, ockam_strerror(rc));
    return rc;
  }
  for (size_t i = 0; i < h->n; i++) {
    if (h->events[i].pub_len != 32 || !memcmp(h->events[i].pub, h->puk, 32)) continue;
    char old[65];
    ockami_key_id(h->events[i].pub, old);
    if (ockam_vault_secret_unpersist(id->vault, old) != OCKAM_OK) {
      LOG_WARN("identity", "an earlier key of %s stays in the vault", h->identifier);
    }
  }
  return OCKAM_OK;
}

int ockam_identity_load(ockam_vault *vault, const char *path, ockam_identity **out) {
  if (!out) return OCKAM_EINVAL;
  *out = NULL;
  if (!vault || !path) return OCKAM_EINVAL;
  size_t len = 0;
  uint8_t *file = malloc(OCKAMI_IDENTITY_FILE_MAX);
  if (!file) return OCKAM_ENOMEM;
  ockam_contact *contact = NULL;
  ockam_secret key = 0;
  uint8_t digest[32], pub[32];
  char key_id[65];
  const uint8_t *cbytes, *sum;
  const char *name;
  size_t clen, name_len;
  const char *why = NULL;

  int rc = ockami_file_read(path, file, OCKAMI_IDENTITY_FILE_MAX, &len);
  if (rc) {
    if (rc == OCKAM_ECORRUPT) why = "not a regular file, or too large";
    goto out;
  }
  rc = OCKAM_ECORRUPT;
  if (len < 8 + 32 || memcmp(file, OCKAMI_IDENTITY_MAGIC, 8) != 0) {
    why = len < 8 ? "truncated" : "not an identity file (bad magic)";
    goto out;
  }
  crypto_hash_sha256(digest, file, len - 32);
  if (sodium_memcmp(digest, file + len - 32, 32) != 0) {
    why = "checksum mismatch (truncated or damaged)";
    goto out;
  }
  ockami_reader r;
  ockami_reader_init(&r, file + 8, len - 8);
  if (ockami_read_data(&r, OCKAM_CONTACT_MAX_BYTES, &cbytes, &clen) ||
      ockami_read_string(&r, 64, &name, &name_len) || ockami_read_fixed(&r, 32, &sum) ||
      ockami_reader_finish(&r)) {
    why = "bad layout";
    goto out;
  }
  rc = ockam_contact_decode(cbytes, clen, &contact);
  if (rc) {
    if (rc == OCKAM_EAUTH) {
      why = "its change history does not verify";
    } else if (rc != OCKAM_ENOMEM) {
      rc = OCKAM_ECORRUPT;
      why = "undecodable change history";
    }
    goto out;
  }
  ockami_key_id(contact->h.puk, key_id);
  if (name_len != 64 || memcmp(name, key_id, 64) != 0) {
    rc = OCKAM_ECORRUPT;
    why = "the key it names is not its current key";
    goto out;
  }
  rc = ockam_vault_secret_open(vault, key_id, OCKAM_SECRET_X25519, &key);
  if (rc) {
    /* ENOTFOUND is kept for "no identity file": a caller that creates an
     * identity on ENOTFOUND must not overwrite this one. */
    why = rc == OCKAM_ENOTFOUND ? "its key is missing from the vault" : "cannot read its key";
    if (rc == OCKAM_ENOTFOUND) rc = OCKAM_ECORRUPT;
    goto out;
  }
  rc = ockam_vault_x25519_public(vault, key, pub);
  if (!rc && memcmp(pub, contact->h.puk, 32) != 0) {
    rc = OCKAM_EAUTH;
    why = "the vault key does not match its history";
  }
  if (rc) goto out;

  ockam_identity *id = calloc(1, sizeof *id);
  if (!id) {
    rc = OCKAM_ENOMEM;
    goto out;
  }
  id->vault = vault;
  id->puk = key;
  id->contact = contact;
  key = 0;
  contact = NULL;
  *out = id;

out:
  if (why) LOG_WARN("identity", "identity file %s: %s", path, why);
  ockam_vault_secret_destroy(vault, key);
  ockam_contact_free(contact);
  free(file);
  return rc;
}
