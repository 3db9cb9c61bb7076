/* Identities and contacts: every profile vector of the identity vectors file
 * (§2, the proofs of §4) byte for byte with fixed keys and nonces, full
 * verification (every single-bit change of a contact is refused, broken prev
 * chains, wrong identifiers), rotation accepted only through a valid chain,
 * identifier forms, and secrets released. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>
#include <sodium.h>

#include "test_hex.h"
#include "test_vectors.h"

#include "bare.h"
#include "change.h"
#include "identity_internal.h"
#include "ockam/identity.h"
#include "vault_internal.h"
#include "xeddsa.h"

#define VECTORS "ockam-2021-identity-vectors.md"

/* The vault's XEdDSA nonces, one fill byte per signature, in order. */
typedef struct nonces {
  uint8_t fill[8];
  size_t n, next;
} nonces;

static void nonce_hook(void *user, uint8_t z[64]) {
  nonces *q = user;
  assert_true(q->next < q->n);
  memset(z, q->fill[q->next++], 64);
}

typedef struct fixture {
  ockam_vault *v;
  char *md;
  nonces q;
} fixture;

static int setup(void **state) {
  fixture *f = calloc(1, sizeof *f);
  if (!f || ockam_vault_create("software", &f->v) != OCKAM_OK) return -1;
  f->md = vec_load(VECTORS);
  *state = f;
  return 0;
}

static int teardown(void **state) {
  fixture *f = *state;
  assert_int_equal(ockam_vault_secret_count(f->v), 0);
  ockam_vault_destroy(f->v);
  free(f->md);
  free(f);
  return 0;
}

static void use_nonces(fixture *f, const uint8_t *fill, size_t n) {
  memcpy(f->q.fill, fill, n);
  f->q.n = n;
  f->q.next = 0;
  ockami_vault_test_set_nonce_hook(f->v, nonce_hook, &f->q);
}

static void random_nonces(fixture *f) {
  assert_int_equal(f->q.next, f->q.n); /* every fixed nonce was used */
  ockami_vault_test_set_nonce_hook(f->v, NULL, NULL);
}

static ockam_secret import_key(fixture *f, const char *field) {
  uint8_t sk[32];
  assert_int_equal(vec_field(f->md, field, sk, sizeof sk, NULL), 32);
  ockam_secret s;
  assert_int_equal(ockam_vault_secret_import(f->v, OCKAM_SECRET_X25519, sk, 32, &s), OCKAM_OK);
  return s;
}

static ockam_identity *make_bob(fixture *f) {
  ockam_identity *id;
  use_nonces(f, (const uint8_t[]){0x11, 0x22}, 2);
  assert_int_equal(ockami_identity_create_with_key(f->v, import_key(f, "Bob root sk"), &id),
                   OCKAM_OK);
  random_nonces(f);
  return id;
}

static void rotate_bob(fixture *f, ockam_identity *id) {
  uint8_t sk[32];
  for (int i = 0; i < 32; i++) sk[i] = (uint8_t)(0x60 + i); /* "new sk 6061..7f" */
  ockam_secret s;
  assert_int_equal(ockam_vault_secret_import(f->v, OCKAM_SECRET_X25519, sk, 32, &s), OCKAM_OK);
  use_nonces(f, (const uint8_t[]){0x55, 0x66, 0x77}, 3);
  assert_int_equal(ockami_identity_rotate_with_key(id, s), OCKAM_OK);
  random_nonces(f);
}

static size_t export(const ockam_identity *id, uint8_t *out, size_t cap) {
  size_t len = 0;
  assert_int_equal(ockam_identity_export_contact(id, out, cap, &len), OCKAM_OK);
  return len;
}

/* --- vectors §2 ------------------------------------------------------------- */

static void test_constants(void **state) {
  fixture *f = *state;
  uint8_t want[32], got[32];
  assert_int_equal(vec_field(f->md, "sha256('OCKAM_NO_EVENT')", want, sizeof want, NULL), 32);
  crypto_hash_sha256(got, (const uint8_t *)"OCKAM_NO_EVENT", 14);
  assert_memory_equal(got, want, 32);
  assert_memory_equal(ockami_no_event_id, want, 32);

  uint8_t attrs[32];
  size_t n = vec_field(f->md, "KeyAttributes(OCKAM_PUK) BARE", attrs, sizeof attrs, NULL);
  assert_int_equal(n, 21);
  uint8_t pub[32] = {0};
  ockami_buf b = OCKAMI_BUF_INIT;
  assert_int_equal(ockami_key_data_encode(&b, "OCKAM_PUK", pub), OCKAM_OK);
  assert_int_equal(b.len, 21 + 33);
  assert_memory_equal(b.data, attrs, 21);
  ockami_buf_free(&b);
}

/* Bob's event piece by piece, then his and Alice's contacts. */
static void test_bob_pieces(void **state) {
  fixture *f = *state;
  uint8_t sk[32], pub[32], want[400], digest[32], self_sig[64], root_sig[64], id[32];
  ockami_buf data = OCKAMI_BUF_INIT, cs = OCKAMI_BUF_INIT, ev = OCKAMI_BUF_INIT;
  assert_int_equal(vec_field(f->md, "Bob root sk", sk, sizeof sk, NULL), 32);
  assert_int_equal(vec_field(f->md, "Bob root pub", want, sizeof want, NULL), 32);
  crypto_scalarmult_curve25519_base(pub, sk);
  assert_memory_equal(pub, want, 32);

  assert_int_equal(ockami_key_data_encode(&data, "OCKAM_PUK", pub), OCKAM_OK);
  assert_int_equal(vec_block(f->md, "Bob CreateKeyChangeData", want, sizeof want), data.len);
  assert_memory_equal(data.data, want, data.len);
  crypto_hash_sha256(digest, data.data, data.len);
  assert_int_equal(vec_field(f->md, "sha256(CreateKeyChangeData)", want, sizeof want, NULL), 32);
  assert_memory_equal(digest, want, 32);

  uint8_t z[64];
  memset(z, 0x11, 64);
  assert_int_equal(ockami_xeddsa_sign(sk, digest, 32, z, OCKAMI_XEDDSA_OCKAM, self_sig), 0);
  assert_int_equal(vec_block(f->md, "Bob self_signature (Z=11*64)", want, sizeof want), 64);
  assert_memory_equal(self_sig, want, 64);

  /* ProfileChange = the ChangeSet after prev and the change count. */
  assert_int_equal(ockami_changeset_encode(&cs, ockami_no_event_id, OCKAMI_CHANGE_CREATE_KEY,
                                           data.data, data.len, self_sig, NULL),
                   OCKAM_OK);
  assert_int_equal(vec_block(f->md, "Bob ProfileChange", want, sizeof want), cs.len - 33);
  assert_memory_equal(cs.data + 33, want, cs.len - 33);
  assert_int_equal(vec_block(f->md, "Bob ChangeSet", want, sizeof want), cs.len);
  assert_memory_equal(cs.data, want, cs.len);
  crypto_hash_sha256(id, cs.data, cs.len);
  /* "Bob event id = sha256(ChangeSet) = <hex>": the field reader stops at the
   * first '=', so look past the formula. */
  const char *line = vec_find(f->md, "Bob event id = sha256(ChangeSet) = ");
  assert_int_equal(
      vec_field(line + strlen("Bob event id = "), "sha256(ChangeSet)", want, sizeof want, NULL),
      32);
  assert_memory_equal(id, want, 32);

  memset(z, 0x22, 64);
  assert_int_equal(ockami_xeddsa_sign(sk, id, 32, z, OCKAMI_XEDDSA_OCKAM, root_sig), 0);
  assert_int_equal(
      vec_block(f->md, "Bob root signature over event id (Z=22*64)", want, sizeof want), 64);
  assert_memory_equal(root_sig, want, 64);

  assert_int_equal(ockami_event_encode(&ev, id, cs.data, cs.len, root_sig), OCKAM_OK);
  assert_int_equal(vec_block(f->md, "Bob ProfileChangeEvent", want, sizeof want), ev.len);
  assert_memory_equal(ev.data, want, ev.len);

  ockami_buf_free(&data);
  ockami_buf_free(&cs);
  ockami_buf_free(&ev);
}

static void test_bob_and_alice_contacts(void **state) {
  fixture *f = *state;
  uint8_t got[1024], want[1024], digest[32];
  char ident[OCKAM_IDENTIFIER_BUF], wid[65];

  ockam_identity *bob = make_bob(f);
  size_t n = export(bob, got, sizeof got);
  assert_int_equal(n, 318);
  assert_int_equal(vec_block(f->md, "Bob Contact", want, sizeof want), n);
  assert_memory_equal(got, want, n);
  assert_int_equal(ockam_identity_identifier(bob, ident, sizeof ident), OCKAM_OK);
  assert_int_equal(vec_field(f->md, "Bob profile id", digest, sizeof digest, NULL), 32);
  ockami_hex32(digest, wid);
  assert_string_equal(ident, wid);
  assert_int_equal(ockam_identity_event_count(bob), 1);

  ockam_identity *alice;
  use_nonces(f, (const uint8_t[]){0x33, 0x44}, 2);
  assert_int_equal(ockami_identity_create_with_key(f->v, import_key(f, "Alice root sk"), &alice),
                   OCKAM_OK);
  random_nonces(f);
  n = export(alice, got, sizeof got);
  assert_int_equal(vec_block(f->md, "Alice Contact", want, sizeof want), n);
  assert_memory_equal(got, want, n);
  assert_int_equal(vec_field(f->md, "Alice profile id", digest, sizeof digest, NULL), 32);
  ockami_hex32(digest, wid);
  assert_int_equal(ockam_identity_identifier(alice, ident, sizeof ident), OCKAM_OK);
  assert_string_equal(ident, wid);
  assert_int_equal(vec_field(f->md, "Alice event id", digest, sizeof digest, NULL), 32);
  assert_memory_equal(got + 66, digest, 32);

  /* Decoding the vector bytes gives the same identifier and key. */
  ockam_contact *c;
  assert_int_equal(ockam_contact_decode(want, n, &c), OCKAM_OK);
  assert_string_equal(ockam_contact_identifier_str(c), wid);
  uint8_t pub[32], pub2[32];
  assert_int_equal(ockam_contact_public_key(c, pub), OCKAM_OK);
  assert_int_equal(ockam_identity_public_key(alice, pub2), OCKAM_OK);
  assert_memory_equal(pub, pub2, 32);
  ockam_contact_free(c);

  ockam_identity_free(bob);
  ockam_identity_free(alice);
}

/* The attribute-map variant: encoding and event id of the vectors, and a
 * contact carrying it decodes (the map is hashed as received). */
static void test_attribute_map(void **state) {
  fixture *f = *state;
  uint8_t pc[256], want[32], cs[300], sk[32], z[64], root[64];
  size_t pclen = vec_block(f->md,
                           "Bob ProfileChange with attributes {OCKAM_CD: '1626048000'} "
                           "(illustrative)",
                           pc, sizeof pc);
  memcpy(cs, ockami_no_event_id, 32);
  cs[32] = 1;
  memcpy(cs + 33, pc, pclen);
  uint8_t id[32];
  crypto_hash_sha256(id, cs, 33 + pclen);
  assert_int_equal(
      vec_field(vec_find(f->md, "its event id"), "its event id", want, sizeof want, NULL), 32);
  assert_memory_equal(id, want, 32);

  assert_int_equal(vec_field(f->md, "Bob root sk", sk, sizeof sk, NULL), 32);
  memset(z, 0x22, 64);
  assert_int_equal(ockami_xeddsa_sign(sk, id, 32, z, OCKAMI_XEDDSA_OCKAM, root), OCKAM_OK);
  ockami_buf ev = OCKAMI_BUF_INIT, b = OCKAMI_BUF_INIT;
  assert_int_equal(ockami_event_encode(&ev, id, cs, 33 + pclen, root), OCKAM_OK);
  uint8_t pub[32];
  char ident[65];
  crypto_scalarmult_curve25519_base(pub, sk);
  ockami_key_id(pub, ident);
  assert_int_equal(ockami_contact_encode(&b, ident, 1, ev.data, ev.len), OCKAM_OK);
  ockam_contact *c;
  assert_int_equal(ockam_contact_decode(b.data, b.len, &c), OCKAM_OK);
  ockam_contact_free(c);
  ockami_buf_free(&ev);
  ockami_buf_free(&b);
}

static void test_rotation_vector(void **state) {
  fixture *f = *state;
  uint8_t before[1024], got[1024], want[1024], digest[32];
  ockam_identity *bob = make_bob(f);
  char id1[OCKAM_IDENTIFIER_BUF], id2[OCKAM_IDENTIFIER_BUF];
  assert_int_equal(ockam_identity_identifier(bob, id1, sizeof id1), OCKAM_OK);
  size_t n1 = export(bob, before, sizeof before);
  rotate_bob(f, bob);
  size_t n = export(bob, got, sizeof got);
  assert_int_equal(n, 634);
  crypto_hash_sha256(digest, got, n);
  const char *line = vec_find(f->md, "Bob Contact after rotation: len 634 sha256 ");
  assert_int_equal(vec_hex_run(line + strlen("Bob Contact after rotation: len 634 sha256 "), 0,
                               want, sizeof want),
                   32);
  assert_memory_equal(digest, want, 32);
  /* The RotateKey ChangeSet sits after the rotate event id. */
  size_t cslen = vec_block(f->md,
                           "Bob RotateKey ChangeSet (new sk 6061..7f; Z self 55, prev 66, "
                           "root 77)",
                           want, sizeof want);
  assert_memory_equal(got + 318 + 32, want, cslen);
  assert_int_equal(vec_field(f->md, "rotate event id", digest, sizeof digest, NULL), 32);
  assert_memory_equal(got + 318, digest, 32);
  /* The old history is a prefix, the identifier is unchanged. */
  assert_memory_equal(got + 66, before + 66, n1 - 66);
  assert_int_equal(ockam_identity_identifier(bob, id2, sizeof id2), OCKAM_OK);
  assert_string_equal(id1, id2);
  assert_int_equal(ockam_identity_event_count(bob), 2);
  uint8_t pub[32], sk[32];
  for (int i = 0; i < 32; i++) sk[i] = (uint8_t)(0x60 + i);
  crypto_scalarmult_curve25519_base(want, sk);
  assert_int_equal(ockam_identity_public_key(bob, pub), OCKAM_OK);
  assert_memory_equal(pub, want, 32);
  ockam_identity_free(bob);
}

/* --- proofs (vectors §4) ------------------------------------------------------ */

static void test_proofs(void **state) {
  fixture *f = *state;
  uint8_t h[32], want[512], sig[64];
  assert_int_equal(vec_field(f->md, "XX (quoted test keys) h", h, sizeof h, NULL), 32);

  ockam_identity *bob = make_bob(f);
  use_nonces(f, (const uint8_t[]){0x88}, 1);
  assert_int_equal(ockam_identity_create_proof(bob, h, sig), OCKAM_OK);
  random_nonces(f);
  assert_int_equal(vec_block(f->md,
                             "proof Bob = BARE(AuthenticationProof) = XEdDSA(Bob PUK, h, "
                             "Z=88*64)",
                             want, sizeof want),
                   64);
  assert_memory_equal(sig, want, 64);
  /* The Request carries Bob's contact, then 40 ‖ proof. */
  size_t rlen = vec_block(f->md, "ChannelAuthRequest{Bob contact, proof}", want, sizeof want);
  assert_int_equal(rlen, 383);
  assert_int_equal(want[318], 0x40);
  assert_memory_equal(want + 319, sig, 64);
  ockam_contact *bc;
  assert_int_equal(ockam_contact_decode(want, 318, &bc), OCKAM_OK);
  assert_int_equal(ockam_contact_verify_proof(bc, h, sig), OCKAM_OK);

  ockam_identity *alice;
  use_nonces(f, (const uint8_t[]){0x33, 0x44, 0x99}, 3);
  assert_int_equal(ockami_identity_create_with_key(f->v, import_key(f, "Alice root sk"), &alice),
                   OCKAM_OK);
  assert_int_equal(ockam_identity_create_proof(alice, h, sig), OCKAM_OK);
  random_nonces(f);
  rlen = vec_block(f->md,
                   "ChannelAuthResponse{Alice contact, proof(Z=99*64), channel_address "
                   "0#8888..}",
                   want, sizeof want);
  assert_int_equal(rlen, 417);
  assert_memory_equal(want + 319, sig, 64);
  ockam_contact *ac;
  assert_int_equal(ockam_contact_decode(want, 318, &ac), OCKAM_OK);
  assert_int_equal(ockam_contact_verify_proof(ac, h, sig), OCKAM_OK);

  /* Wrong signer, wrong hash, every flipped bit. */
  assert_int_equal(ockam_contact_verify_proof(bc, h, sig), OCKAM_EAUTH);
  for (size_t bit = 0; bit < 512; bit++) {
    sig[bit / 8] ^= (uint8_t)(1u << (bit % 8));
    assert_int_equal(ockam_contact_verify_proof(ac, h, sig), OCKAM_EAUTH);
    sig[bit / 8] ^= (uint8_t)(1u << (bit % 8));
  }
  h[0] ^= 1;
  assert_int_equal(ockam_contact_verify_proof(ac, h, sig), OCKAM_EAUTH);

  /* After a rotation, proofs are made (and verified) with the new key only. */
  rotate_bob(f, bob);
  h[0] ^= 1;
  assert_int_equal(ockam_identity_create_proof(bob, h, sig), OCKAM_OK);
  assert_int_equal(ockam_contact_verify_proof(bc, h, sig), OCKAM_EAUTH);
  uint8_t rot[1024];
  size_t n = export(bob, rot, sizeof rot);
  ockam_contact *rc;
  assert_int_equal(ockam_contact_decode(rot, n, &rc), OCKAM_OK);
  assert_int_equal(ockam_contact_verify_proof(rc, h, sig), OCKAM_OK);

  ockam_contact_free(rc);
  ockam_contact_free(ac);
  ockam_contact_free(bc);
  ockam_identity_free(alice);
  ockam_identity_free(bob);
}

/* --- verification ------------------------------------------------------------- */

/* Every single-bit change anywhere in a (rotated) contact is refused: each
 * byte is covered by a signature, a hash, the identifier or the layout. */
static void test_every_bit_flip_rejected(void **state) {
  fixture *f = *state;
  uint8_t c[1024];
  ockam_identity *bob = make_bob(f);
  rotate_bob(f, bob);
  size_t n = export(bob, c, sizeof c);
  ockam_contact *ok;
  assert_int_equal(ockam_contact_decode(c, n, &ok), OCKAM_OK);
  ockam_contact_free(ok);
  for (size_t bit = 0; bit < 8 * n; bit++) {
    c[bit / 8] ^= (uint8_t)(1u << (bit % 8));
    ockam_contact *x = (ockam_contact *)1;
    int rc = ockam_contact_decode(c, n, &x);
    if (rc == OCKAM_OK) fail_msg("flipping bit %zu (byte %zu) was accepted", bit, bit / 8);
    assert_null(x);
    c[bit / 8] ^= (uint8_t)(1u << (bit % 8));
  }
  /* Named cases: self signature, root signature, prev signature, identifier. */
  struct {
    size_t off;
    const char *what;
  } sigs[] = {{66 + 32 + 33 + 3 + 54, "create self signature"},
              {318 - 64, "create root signature"},
              {318 + 32 + 32 + 4 + 54, "rotate self signature"},
              {318 + 32 + 32 + 4 + 54 + 64, "rotate prev signature"},
              {n - 64, "rotate root signature"},
              {2, "identifier"}};
  for (size_t k = 0; k < sizeof sigs / sizeof sigs[0]; k++) {
    c[sigs[k].off] ^= 0x01;
    ockam_contact *x;
    int rc = ockam_contact_decode(c, n, &x);
    if (rc != OCKAM_EAUTH) fail_msg("%s: %s", sigs[k].what, ockam_errname(rc));
    c[sigs[k].off] ^= 0x01;
  }
  /* Truncated at every length; one trailing byte. */
  for (size_t len = 0; len < n; len++) {
    ockam_contact *x;
    assert_int_not_equal(ockam_contact_decode(c, len, &x), OCKAM_OK);
  }
  c[n] = 0;
  ockam_contact *x;
  assert_int_equal(ockam_contact_decode(c, n + 1, &x), OCKAM_ETRAILING);
  ockam_identity_free(bob);
}

/* Events whose signatures are all valid but whose chain is broken: a first
 * prev that is not SHA-256("OCKAM_NO_EVENT"), a rotation whose prev is not
 * the previous event id, and a contact claiming someone else's identifier. */
static int build_event(ockam_vault *v, ockam_secret new_key, ockam_secret old_key,
                       const uint8_t prev[32], uint8_t kind, ockami_buf *ev) {
  uint8_t pub[32], digest[32], self_sig[64], prev_sig[64], root_sig[64], id[32];
  ockami_buf data = OCKAMI_BUF_INIT, cs = OCKAMI_BUF_INIT;
  assert_int_equal(ockam_vault_x25519_public(v, new_key, pub), OCKAM_OK);
  assert_int_equal(ockami_key_data_encode(&data, "OCKAM_PUK", pub), OCKAM_OK);
  crypto_hash_sha256(digest, data.data, data.len);
  assert_int_equal(ockam_vault_xeddsa_sign(v, new_key, digest, 32, self_sig), OCKAM_OK);
  if (old_key) {
    assert_int_equal(ockam_vault_xeddsa_sign(v, old_key, digest, 32, prev_sig), OCKAM_OK);
  }
  assert_int_equal(
      ockami_changeset_encode(&cs, prev, kind, data.data, data.len, self_sig, prev_sig), OCKAM_OK);
  crypto_hash_sha256(id, cs.data, cs.len);
  assert_int_equal(ockam_vault_xeddsa_sign(v, old_key ? old_key : new_key, id, 32, root_sig),
                   OCKAM_OK);
  assert_int_equal(ockami_event_encode(ev, id, cs.data, cs.len, root_sig), OCKAM_OK);
  ockami_buf_free(&data);
  ockami_buf_free(&cs);
  return OCKAM_OK;
}

static int decode_built(const char *ident, size_t n, const ockami_buf *events) {
  ockami_buf b = OCKAMI_BUF_INIT;
  assert_int_equal(ockami_contact_encode(&b, ident, n, events->data, events->len), OCKAM_OK);
  ockam_contact *c = NULL;
  int rc = ockam_contact_decode(b.data, b.len, &c);
  ockam_contact_free(c);
  ockami_buf_free(&b);
  return rc;
}

static void test_chain_and_identifier(void **state) {
  fixture *f = *state;
  ockam_secret k1, k2;
  uint8_t pub1[32], pub2[32], zero[32] = {0};
  char ident[65], other[65];
  assert_int_equal(ockam_vault_x25519_generate(f->v, &k1, pub1), OCKAM_OK);
  assert_int_equal(ockam_vault_x25519_generate(f->v, &k2, pub2), OCKAM_OK);
  ockami_key_id(pub1, ident);
  ockami_key_id(pub2, other);

  /* Well-formed baseline. */
  ockami_buf evs = OCKAMI_BUF_INIT;
  build_event(f->v, k1, 0, ockami_no_event_id, OCKAMI_CHANGE_CREATE_KEY, &evs);
  assert_int_equal(decode_built(ident, 1, &evs), OCKAM_OK);
  assert_int_equal(decode_built(other, 1, &evs), OCKAM_EAUTH); /* not the root key's hash */
  uint8_t first_id[32];
  memcpy(first_id, evs.data, 32);
  size_t first_len = evs.len;
  build_event(f->v, k2, k1, first_id, OCKAMI_CHANGE_ROTATE_KEY, &evs);
  assert_int_equal(decode_built(ident, 2, &evs), OCKAM_OK);

  /* Rotation with a prev that is not the previous event id. */
  evs.len = first_len;
  build_event(f->v, k2, k1, zero, OCKAMI_CHANGE_ROTATE_KEY, &evs);
  assert_int_equal(decode_built(ident, 2, &evs), OCKAM_EAUTH);

  /* Rotation signed by a key that is not the current one (no prev consent). */
  evs.len = first_len;
  build_event(f->v, k2, k2, first_id, OCKAMI_CHANGE_ROTATE_KEY, &evs);
  assert_int_equal(decode_built(ident, 2, &evs), OCKAM_EAUTH);

  /* A second CreateKey for the PUK (replacing the key without a rotation). */
  evs.len = first_len;
  build_event(f->v, k2, 0, first_id, OCKAMI_CHANGE_CREATE_KEY, &evs);
  assert_int_equal(decode_built(ident, 2, &evs), OCKAM_EAUTH);

  /* First event starting from another prev, or being a rotation. */
  evs.len = 0;
  build_event(f->v, k1, 0, zero, OCKAMI_CHANGE_CREATE_KEY, &evs);
  assert_int_equal(decode_built(ident, 1, &evs), OCKAM_EAUTH);
  evs.len = 0;
  build_event(f->v, k1, k1, ockami_no_event_id, OCKAMI_CHANGE_ROTATE_KEY, &evs);
  assert_int_equal(decode_built(ident, 1, &evs), OCKAM_EAUTH);

  /* Empty history; count larger than the bytes can hold. */
  evs.len = 0;
  assert_int_equal(decode_built(ident, 0, &evs), OCKAM_EAUTH);
  build_event(f->v, k1, 0, ockami_no_event_id, OCKAMI_CHANGE_CREATE_KEY, &evs);
  assert_int_not_equal(decode_built(ident, 3, &evs), OCKAM_OK);
  assert_int_equal(decode_built(ident, OCKAM_CONTACT_MAX_EVENTS + 1, &evs), OCKAM_EOVERFLOW);

  ockami_buf_free(&evs);
  ockam_vault_secret_destroy(f->v, k1);
  ockam_vault_secret_destroy(f->v, k2);
}

/* A peer that pinned the original contact accepts the rotated one; a fork, a
 * shortened history or another identity is refused. */
static void test_update_through_chain(void **state) {
  fixture *f = *state;
  uint8_t b[2048];
  ockam_identity *bob = make_bob(f);
  ockam_contact *orig, *rot, *rot2, *fork, *other;
  assert_int_equal(ockam_identity_contact(bob, &orig), OCKAM_OK);
  rotate_bob(f, bob);
  assert_int_equal(ockam_identity_contact(bob, &rot), OCKAM_OK);
  assert_int_equal(ockam_identity_rotate(bob), OCKAM_OK);
  size_t n = export(bob, b, sizeof b);
  assert_int_equal(ockam_contact_decode(b, n, &rot2), OCKAM_OK);
  assert_int_equal(ockam_contact_event_count(rot2), 3);

  ockam_identity *bob2 = make_bob(f); /* same root key, another rotation */
  assert_int_equal(ockam_identity_rotate(bob2), OCKAM_OK);
  assert_int_equal(ockam_identity_contact(bob2, &fork), OCKAM_OK);
  ockam_identity *carol;
  assert_int_equal(ockam_identity_create(f->v, &carol), OCKAM_OK);
  assert_int_equal(ockam_identity_contact(carol, &other), OCKAM_OK);

  assert_int_equal(ockam_contact_check_extends(orig, orig), OCKAM_OK);
  assert_int_equal(ockam_contact_check_extends(orig, rot), OCKAM_OK);
  assert_int_equal(ockam_contact_check_extends(orig, rot2), OCKAM_OK);
  assert_int_equal(ockam_contact_check_extends(rot, rot2), OCKAM_OK);
  assert_int_equal(ockam_contact_check_extends(rot, orig), OCKAM_EAUTH);
  assert_int_equal(ockam_contact_check_extends(orig, fork), OCKAM_OK);
  assert_int_equal(ockam_contact_check_extends(rot, fork), OCKAM_EAUTH);
  assert_int_equal(ockam_contact_check_extends(orig, other), OCKAM_EAUTH);

  assert_int_equal(ockam_contact_update(orig, other), OCKAM_EAUTH);
  assert_int_equal(ockam_contact_event_count(orig), 1);
  assert_int_equal(ockam_contact_update(orig, rot2), OCKAM_OK);
  assert_int_equal(ockam_contact_event_count(orig), 3);
  uint8_t p1[32], p2[32];
  assert_int_equal(ockam_contact_public_key(orig, p1), OCKAM_OK);
  assert_int_equal(ockam_identity_public_key(bob, p2), OCKAM_OK);
  assert_memory_equal(p1, p2, 32);
  assert_string_equal(ockam_contact_identifier_str(orig), ockam_contact_identifier_str(rot));
  uint8_t e1[2048];
  size_t n1 = 0;
  assert_int_equal(ockam_contact_encode(orig, e1, sizeof e1, &n1), OCKAM_OK);
  assert_int_equal(n1, n);
  assert_memory_equal(e1, b, n);
  assert_int_equal(ockam_contact_encode(orig, e1, 10, &n1), OCKAM_EOVERFLOW);
  assert_int_equal(n1, n);

  ockam_contact_free(orig);
  ockam_contact_free(rot);
  ockam_contact_free(rot2);
  ockam_contact_free(fork);
  ockam_contact_free(other);
  ockam_identity_free(bob);
  ockam_identity_free(bob2);
  ockam_identity_free(carol);
}

/* --- identifiers and lifecycle ------------------------------------------------ */

static void test_identifier_forms(void **state) {
  fixture *f = *state;
  ockam_identity *id;
  assert_int_equal(ockam_identity_create(f->v, &id), OCKAM_OK);
  char hex[OCKAM_IDENTIFIER_BUF], ext[OCKAM_IDENTIFIER_EXTERNAL_BUF], parsed[65], in[80];
  assert_int_equal(ockam_identity_identifier(id, hex, sizeof hex), OCKAM_OK);
  assert_int_equal(strlen(hex), 64);
  assert_int_equal(ockam_identity_identifier(id, hex, 64), OCKAM_EOVERFLOW);
  assert_int_equal(ockam_identity_identifier_external(id, ext, sizeof ext), OCKAM_OK);
  assert_int_equal(strncmp(ext, "P_ID.", 5), 0);
  assert_string_equal(ext + 5, hex);
  assert_int_equal(ockam_identity_identifier_external(id, ext, sizeof ext - 1), OCKAM_EOVERFLOW);

  assert_int_equal(ockam_identifier_parse(hex, parsed), OCKAM_OK);
  assert_string_equal(parsed, hex);
  assert_int_equal(ockam_identifier_parse(ext, parsed), OCKAM_OK);
  assert_string_equal(parsed, hex);
  snprintf(in, sizeof in, "P%s", hex);
  assert_int_equal(ockam_identifier_parse(in, parsed), OCKAM_OK);
  assert_string_equal(parsed, hex);
  for (size_t i = 0; in[i]; i++) {
    if (in[i] >= 'a' && in[i] <= 'f') in[i] = (char)(in[i] - 'a' + 'A');
  }
  assert_int_equal(ockam_identifier_parse(in + 1, parsed), OCKAM_OK);
  assert_string_equal(parsed, hex);
  assert_int_equal(ockam_identifier_parse("P_ID.12", parsed), OCKAM_EMALFORMED);
  snprintf(in, sizeof in, "%.63sg", hex);
  assert_int_equal(ockam_identifier_parse(in, parsed), OCKAM_EMALFORMED);
  snprintf(in, sizeof in, "E_ID.%s", hex);
  assert_int_equal(ockam_identifier_parse(in, parsed), OCKAM_EMALFORMED);
  assert_int_equal(ockam_identifier_to_external("ABC", ext, sizeof ext), OCKAM_EMALFORMED);

  /* Each identity has its own identifier; the identity holds exactly one secret. */
  ockam_identity *id2;
  assert_int_equal(ockam_identity_create(f->v, &id2), OCKAM_OK);
  char hex2[65];
  assert_int_equal(ockam_identity_identifier(id2, hex2, sizeof hex2), OCKAM_OK);
  assert_string_not_equal(hex, hex2);
  assert_int_equal(ockam_vault_secret_count(f->v), 2);
  assert_int_equal(ockam_identity_rotate(id2), OCKAM_OK);
  assert_int_equal(ockam_vault_secret_count(f->v), 2); /* the old key was wiped */
  assert_ptr_equal(ockam_identity_vault(id), f->v);
  ockam_identity_free(id);
  ockam_identity_free(id2);
  ockam_identity_free(NULL);
  ockam_contact_free(NULL);
}

static void test_rotate_until_limit(void **state) {
  fixture *f = *state;
  ockam_identity *id;
  assert_int_equal(ockam_identity_create(f->v, &id), OCKAM_OK);
  for (size_t i = 1; i < OCKAM_CONTACT_MAX_EVENTS; i++) {
    assert_int_equal(ockam_identity_rotate(id), OCKAM_OK);
  }
  assert_int_equal(ockam_identity_event_count(id), OCKAM_CONTACT_MAX_EVENTS);
  assert_int_equal(ockam_identity_rotate(id), OCKAM_EOVERFLOW);
  assert_int_equal(ockam_identity_event_count(id), OCKAM_CONTACT_MAX_EVENTS);
  uint8_t *buf = malloc(OCKAM_CONTACT_MAX_BYTES);
  size_t n = export(id, buf, OCKAM_CONTACT_MAX_BYTES);
  assert_int_equal(n, 318 + 316 * (OCKAM_CONTACT_MAX_EVENTS - 1));
  ockam_contact *c;
  assert_int_equal(ockam_contact_decode(buf, n, &c), OCKAM_OK);
  ockam_contact_free(c);
  free(buf);
  ockam_identity_free(id);
}

int main(void) {
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
  const struct CMUnitTest tests[] = {
      T(test_constants),
      T(test_bob_pieces),
      T(test_bob_and_alice_contacts),
      T(test_attribute_map),
      T(test_rotation_vector),
      T(test_proofs),
      T(test_every_bit_flip_rejected),
      T(test_chain_and_identifier),
      T(test_update_through_chain),
      T(test_identifier_forms),
      T(test_rotate_until_limit),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
