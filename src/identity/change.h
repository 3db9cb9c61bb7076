/* Profile change history (identity spec §3–§4): BARE encoders for the events
 * an identity writes, and the decoder + verifier for received Contacts.
 *
 * Pure code: no vault, no I/O. Signing is the caller's job (identity.c signs
 * through the vault); verification uses XEdDSA on public keys only.
 */
#ifndef OCKAMI_CHANGE_H
#define OCKAMI_CHANGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "ockam/error.h"
#include "ockam/identity.h"
#include "ockam/limits.h"

/* ProfileChangeType variant indexes. */
enum { OCKAMI_CHANGE_CREATE_KEY = 0, OCKAMI_CHANGE_ROTATE_KEY = 1 };

/* SHA-256("OCKAM_NO_EVENT"): the prev id of every first event. */
extern const uint8_t ockami_no_event_id[32];
/* Label of the profile update key. */
#define OCKAMI_PUK_LABEL "OCKAM_PUK"

/* KeyAttributes{label, meta}: meta = SecretAttributes{stype, persistence,
 * length} when has_secret_attributes, None otherwise. */
typedef struct ockami_key_attributes {
  char label[OCKAM_CONTACT_MAX_LABEL_LEN + 1];
  uint8_t label_len;
  bool has_secret_attributes;
  uint8_t stype;
  uint8_t persistence;
  uint64_t length;
} ockami_key_attributes;

/* One decoded ProfileChangeEvent (exactly one change, spec §4 step 1). */
typedef struct ockami_change_event {
  uint8_t id[32];
  uint8_t prev[32];
  uint8_t kind; /* OCKAMI_CHANGE_* */
  ockami_key_attributes attrs;
  uint8_t pub[OCKAM_CONTACT_MAX_KEY_LEN];
  uint8_t pub_len;
  size_t off, len; /* the event's bytes inside the Contact encoding */
} ockami_change_event;

/* A decoded and verified Contact. */
typedef struct ockami_history {
  char identifier[OCKAM_IDENTIFIER_LEN + 1];
  ockami_change_event *events; /* n entries, malloc'ed */
  size_t n;
  size_t events_off; /* offset of the first event in the encoding */
  uint8_t puk[32];   /* current profile update key */
} ockami_history;

/* Decode p[0..len) as a Contact and verify it completely (see
 * ockam_contact_decode() in ockam/identity.h for the checks). On success h
 * owns its events array (ockami_history_clear frees it). */
OCKAM_MUST_CHECK int ockami_history_decode(const uint8_t *p, size_t len, ockami_history *h);
/* The decoding half only (layout, caps, one change per event), no hash,
 * signature, chain or identifier check: for the fuzz target, which could not
 * reach a second event otherwise. Never use it on received data. */
OCKAM_MUST_CHECK int ockami_history_decode_unverified(const uint8_t *p, size_t len,
                                                      ockami_history *h);
void ockami_history_clear(ockami_history *h);

/* True if a are the PUK attributes {OCKAM_PUK, Curve25519, Persistent, 32}. */
bool ockami_key_attributes_is_puk(const ockami_key_attributes *a);

/* Encoders (each appends to b). */
/* BARE(CreateKeyChangeData) = BARE(RotateKeyChangeData) with PUK-style
 * attributes {label, Curve25519, Persistent, 32} and a 32-byte key. */
OCKAM_MUST_CHECK int ockami_key_data_encode(ockami_buf *b, const char *label,
                                            const uint8_t pub[static 32]);
/* BARE(ChangeSet{prev, [ProfileChange{1, {}, kind{data, self_sig[, prev_sig]}}]}).
 * prev_sig is used for OCKAMI_CHANGE_ROTATE_KEY only. */
OCKAM_MUST_CHECK int ockami_changeset_encode(ockami_buf *b, const uint8_t prev[static 32],
                                             uint8_t kind, const uint8_t *data, size_t data_len,
                                             const uint8_t self_sig[static 64],
                                             const uint8_t *prev_sig);
/* BARE(ProfileChangeEvent{id, changeset, Signature{RootSign, root_sig}}). */
OCKAM_MUST_CHECK int ockami_event_encode(ockami_buf *b, const uint8_t id[static 32],
                                         const uint8_t *changeset, size_t changeset_len,
                                         const uint8_t root_sig[static 64]);
/* BARE(Contact{identifier, [events]}): events = n encoded events back to back. */
OCKAM_MUST_CHECK int ockami_contact_encode(ockami_buf *b, const char *identifier, size_t n,
                                           const uint8_t *events, size_t events_len);

/* Lowercase hex of 32 bytes (64 characters + NUL). */
void ockami_hex32(const uint8_t in[static 32], char out[static 65]);

#endif
