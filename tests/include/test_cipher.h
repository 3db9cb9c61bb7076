/* Helpers shared by the channel cipher tests: the Ockam data-vector keys
 * (vectors §3.3) and a pair of ciphers keyed to talk to each other.
 * Include after <cmocka.h> and "cipher.h". */
#ifndef OCKAM_TEST_CIPHER_H
#define OCKAM_TEST_CIPHER_H

#include <stdint.h>

#include "ockam/vault.h"

#define W ((uint64_t)OCKAM_REPLAY_WINDOW)

#define K1 "b1c674b6535fb1d208772a972cac2cbf04d6aa087cbbd3eb8558a1a3abcaa7fb"
#define K2 "109c4b99ea3a4784ff55af5eed86c99e853f5a76d83ce437a9e3e27ede242a6a"

static inline ockam_secret import_aes(ockam_vault *v, const uint8_t key[32]) {
  ockam_secret s = 0;
  assert_int_equal(ockam_vault_secret_import(v, OCKAM_SECRET_AES256, key, 32, &s), OCKAM_OK);
  return s;
}

/* a sends to b with key ab, b sends to a with key ba. */
typedef struct duo {
  ockami_cipher a;
  ockami_cipher b;
} duo;

static inline void duo_init(ockam_vault *v, duo *d, ockami_framing f) {
  uint8_t ab[32], ba[32];
  assert_int_equal(ockam_vault_random(v, ab, 32), OCKAM_OK);
  assert_int_equal(ockam_vault_random(v, ba, 32), OCKAM_OK);
  assert_int_equal(ockami_cipher_init(&d->a, v, f, import_aes(v, ab), import_aes(v, ba)), OCKAM_OK);
  assert_int_equal(ockami_cipher_init(&d->b, v, f, import_aes(v, ba), import_aes(v, ab)), OCKAM_OK);
}

static inline void duo_clear(duo *d) {
  ockami_cipher_clear(&d->a);
  ockami_cipher_clear(&d->b);
}

#endif
