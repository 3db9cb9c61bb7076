/* Identities: placeholder entry points until the implementation lands. */
#include "ockam/identity.h"

int ockam_identifier_parse(const char *s, char out[static OCKAM_IDENTIFIER_BUF]) {
  (void)s;
  (void)out;
  return OCKAM_ENOTSUP;
}
int ockam_identifier_to_external(const char *identifier, char *buf, size_t cap) {
  return OCKAM_ENOTSUP;
}
int ockam_identity_create(ockam_vault *vault, ockam_identity **out) {
  if (out) *out = NULL;
  return OCKAM_ENOTSUP;
}
void ockam_identity_free(ockam_identity *id) {}
int ockam_identity_identifier(const ockam_identity *id, char *buf, size_t cap) {
  return OCKAM_ENOTSUP;
}
int ockam_identity_identifier_external(const ockam_identity *id, char *buf, size_t cap) {
  return OCKAM_ENOTSUP;
}
size_t ockam_identity_event_count(const ockam_identity *id) {
  return 0;
}
int ockam_identity_public_key(const ockam_identity *id, uint8_t pub[static 32]) {
  return OCKAM_ENOTSUP;
}
ockam_vault *ockam_identity_vault(const ockam_identity *id) {
  return NULL;
}
int ockam_identity_rotate(ockam_identity *id) {
  return OCKAM_ENOTSUP;
}
int ockam_identity_export_contact(const ockam_identity *id, uint8_t *out, size_t cap, size_t *len) {
  return OCKAM_ENOTSUP;
}
int ockam_identity_contact(const ockam_identity *id, ockam_contact **out) {
  if (out) *out = NULL;
  return OCKAM_ENOTSUP;
}
int ockam_identity_create_proof(ockam_identity *id, const uint8_t h[static OCKAM_PROOF_HASH_LEN],
                                uint8_t sig[static OCKAM_PROOF_LEN]) {
  return OCKAM_ENOTSUP;
}
int ockam_identity_save(ockam_identity *id, const char *path) {
  return OCKAM_ENOTSUP;
}
int ockam_identity_load(ockam_vault *vault, const char *path, ockam_identity **out) {
  if (out) *out = NULL;
  return OCKAM_ENOTSUP;
}
int ockam_contact_decode(const uint8_t *p, size_t len, ockam_contact **out) {
  if (out) *out = NULL;
  return OCKAM_ENOTSUP;
}
int ockam_contact_encode(const ockam_contact *c, uint8_t *out, size_t cap, size_t *len) {
  return OCKAM_ENOTSUP;
}
int ockam_contact_clone(const ockam_contact *c, ockam_contact **out) {
  if (out) *out = NULL;
  return OCKAM_ENOTSUP;
}
void ockam_contact_free(ockam_contact *c) {}
int ockam_contact_identifier(const ockam_contact *c, char *buf, size_t cap) {
  return OCKAM_ENOTSUP;
}
const char *ockam_contact_identifier_str(const ockam_contact *c) {
  return "";
}
size_t ockam_contact_event_count(const ockam_contact *c) {
  return 0;
}
int ockam_contact_public_key(const ockam_contact *c, uint8_t pub[static 32]) {
  return OCKAM_ENOTSUP;
}
int ockam_contact_check_extends(const ockam_contact *known, const ockam_contact *newer) {
  return OCKAM_ENOTSUP;
}
int ockam_contact_update(ockam_contact *known, const ockam_contact *newer) {
  return OCKAM_ENOTSUP;
}
int ockam_contact_verify_proof(const ockam_contact *c, const uint8_t h[static OCKAM_PROOF_HASH_LEN],
                               const uint8_t sig[static OCKAM_PROOF_LEN]) {
  return OCKAM_ENOTSUP;
}
