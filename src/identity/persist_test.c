/* Identity files and persistent vaults: a restart gives the same identifier
 * and key, modes are 0600/0700, a rotation survives a restart and removes the
 * old key file, and damaged, truncated, symlinked or mismatched files are
 * refused with a clear error. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "identity_internal.h"
#include "ockam/identity.h"

typedef struct paths {
  char base[256], vault[300], file[300];
} paths;

static void make_paths(paths *p, const char *name) {
  const char *tmp = getenv("TMPDIR");
  snprintf(p->base, sizeof p->base, "%s/ockam_identity_%ld_%s", tmp ? tmp : "/tmp", (long)getpid(),
           name);
  snprintf(p->vault, sizeof p->vault, "%s/vault", p->base);
  snprintf(p->file, sizeof p->file, "%s/identity", p->base);
  char cmd[400];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", p->base);
  assert_int_equal(system(cmd), 0);
  assert_int_equal(mkdir(p->base, 0700), 0);
}

static void remove_paths(const paths *p) {
  char cmd[400];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", p->base);
  assert_int_equal(system(cmd), 0);
}

static size_t read_all(const char *path, uint8_t *buf, size_t cap) {
  FILE *f = fopen(path, "rb");
  assert_non_null(f);
  size_t n = fread(buf, 1, cap, f);
  fclose(f);
  return n;
}

static void write_all(const char *path, const uint8_t *buf, size_t n) {
  unlink(path);
  FILE *f = fopen(path, "wb");
  assert_non_null(f);
  assert_int_equal(fwrite(buf, 1, n, f), n);
  fclose(f);
}

static int load(const paths *p, char ident[OCKAM_IDENTIFIER_BUF]) {
  ockam_vault *v;
  assert_int_equal(ockam_vault_create_persistent(p->vault, &v), OCKAM_OK);
  ockam_identity *id = (ockam_identity *)1;
  int rc = ockam_identity_load(v, p->file, &id);
  if (rc == OCKAM_OK) {
    if (ident) assert_int_equal(ockam_identity_identifier(id, ident, OCKAM_IDENTIFIER_BUF), 0);
    ockam_identity_free(id);
  } else {
    assert_null(id);
  }
  assert_int_equal(ockam_vault_secret_count(v), 0);
  ockam_vault_destroy(v);
  return rc;
}

static void test_restart_same_identity(void **state) {
  (void)state;
  paths p;
  make_paths(&p, "restart");
  ockam_vault *v;
  mode_t old = umask(0); /* modes must not depend on the umask */
  assert_int_equal(ockam_vault_create_persistent(p.vault, &v), OCKAM_OK);
  ockam_identity *id;
  assert_int_equal(ockam_identity_create(v, &id), OCKAM_OK);
  assert_int_equal(ockam_identity_save(id, p.file), OCKAM_OK);
  umask(old);
  char ident[OCKAM_IDENTIFIER_BUF], again[OCKAM_IDENTIFIER_BUF];
  assert_int_equal(ockam_identity_identifier(id, ident, sizeof ident), OCKAM_OK);
  uint8_t h[32] = {7}, sig[64];
  assert_int_equal(ockam_identity_create_proof(id, h, sig), OCKAM_OK);
  ockam_contact *before;
  assert_int_equal(ockam_identity_contact(id, &before), OCKAM_OK);
  ockam_identity_free(id);
  ockam_vault_destroy(v);

  struct stat st;
  assert_int_equal(stat(p.vault, &st), 0);
  assert_int_equal(st.st_mode & 07777, 0700);
  assert_int_equal(stat(p.file, &st), 0);
  assert_int_equal(st.st_mode & 07777, 0600);
  char key[400];
  snprintf(key, sizeof key, "%s/%s", p.vault, ident); /* root key id = identifier */
  assert_int_equal(stat(key, &st), 0);
  assert_int_equal(st.st_mode & 07777, 0600);

  /* Restart: same identifier, and its proofs verify against the old contact. */
  assert_int_equal(ockam_vault_create_persistent(p.vault, &v), OCKAM_OK);
  assert_int_equal(ockam_identity_load(v, p.file, &id), OCKAM_OK);
  assert_int_equal(ockam_identity_identifier(id, again, sizeof again), OCKAM_OK);
  assert_string_equal(ident, again);
  assert_int_equal(ockam_identity_create_proof(id, h, sig), OCKAM_OK);
  assert_int_equal(ockam_contact_verify_proof(before, h, sig), OCKAM_OK);

  /* Rotate + save: after a restart the rotated key signs, the old key file is
   * gone, and the pinned original contact is extended by the new one. */
  assert_int_equal(ockam_identity_rotate(id), OCKAM_OK);
  assert_int_equal(ockam_identity_save(id, p.file), OCKAM_OK);
  assert_int_equal(stat(key, &st), -1);
  ockam_identity_free(id);
  ockam_vault_destroy(v);

  assert_int_equal(ockam_vault_create_persistent(p.vault, &v), OCKAM_OK);
  assert_int_equal(ockam_identity_load(v, p.file, &id), OCKAM_OK);
  assert_int_equal(ockam_identity_event_count(id), 2);
  assert_int_equal(ockam_identity_identifier(id, again, sizeof again), OCKAM_OK);
  assert_string_equal(ident, again);
  ockam_contact *after;
  assert_int_equal(ockam_identity_contact(id, &after), OCKAM_OK);
  assert_int_equal(ockam_contact_check_extends(before, after), OCKAM_OK);
  assert_int_equal(ockam_identity_create_proof(id, h, sig), OCKAM_OK);
  assert_int_equal(ockam_contact_verify_proof(after, h, sig), OCKAM_OK);
  assert_int_equal(ockam_contact_verify_proof(before, h, sig), OCKAM_EAUTH);
  ockam_contact_free(before);
  ockam_contact_free(after);
  ockam_identity_free(id);
  ockam_vault_destroy(v);

  /* A missing directory is an I/O error; in-memory vaults can neither save
   * nor load. */
  assert_int_equal(ockam_vault_create_persistent(p.vault, &v), OCKAM_OK);
  assert_int_equal(ockam_identity_load(v, p.file, &id), OCKAM_OK);
  char nodir[400];
  snprintf(nodir, sizeof nodir, "%s/missing/identity", p.base);
  assert_int_equal(ockam_identity_save(id, nodir), OCKAM_EIO);
  ockam_identity_free(id);
  ockam_vault_destroy(v);
  assert_int_equal(ockam_vault_create("software", &v), OCKAM_OK);
  assert_int_equal(ockam_identity_load(v, p.file, &id), OCKAM_ENOTSUP);
  assert_int_equal(ockam_identity_create(v, &id), OCKAM_OK);
  assert_int_equal(ockam_identity_save(id, p.file), OCKAM_ENOTSUP);
  ockam_identity_free(id);
  ockam_vault_destroy(v);
  remove_paths(&p);
}

static void test_damaged_files(void **state) {
  (void)state;
  paths p;
  make_paths(&p, "damaged");
  ockam_vault *v;
  ockam_identity *id;
  assert_int_equal(ockam_vault_create_persistent(p.vault, &v), OCKAM_OK);
  assert_int_equal(ockam_identity_create(v, &id), OCKAM_OK);
  assert_int_equal(ockam_identity_save(id, p.file), OCKAM_OK);
  char ident[OCKAM_IDENTIFIER_BUF];
  assert_int_equal(ockam_identity_identifier(id, ident, sizeof ident), OCKAM_OK);
  ockam_identity_free(id);
  ockam_vault_destroy(v);

  uint8_t good[1024], bad[1024];
  size_t n = read_all(p.file, good, sizeof good);
  assert_true(n > 318 + 8);
  assert_int_equal(load(&p, NULL), OCKAM_OK);

  /* Truncated at every length. */
  for (size_t len = 0; len < n; len++) {
    write_all(p.file, good, len);
    assert_int_equal(load(&p, NULL), OCKAM_ECORRUPT);
  }
  /* One flipped bit per byte, anywhere. */
  for (size_t i = 0; i < n; i++) {
    memcpy(bad, good, n);
    bad[i] ^= 0x10;
    write_all(p.file, bad, n);
    assert_int_equal(load(&p, NULL), OCKAM_ECORRUPT);
  }
  /* Trailing garbage; garbage of the right size. */
  memcpy(bad, good, n);
  bad[n] = 0;
  write_all(p.file, bad, n + 1);
  assert_int_equal(load(&p, NULL), OCKAM_ECORRUPT);
  memset(bad, 'x', n);
  write_all(p.file, bad, n);
  assert_int_equal(load(&p, NULL), OCKAM_ECORRUPT);

  /* A symlink in place of the file is not followed; a missing file is
   * OCKAM_ENOTFOUND. */
  char real[400];
  snprintf(real, sizeof real, "%s/real", p.base);
  write_all(real, good, n);
  unlink(p.file);
  assert_int_equal(symlink(real, p.file), 0);
  assert_int_equal(load(&p, NULL), OCKAM_ECORRUPT);
  unlink(p.file);
  assert_int_equal(load(&p, NULL), OCKAM_ENOTFOUND);

  /* Key file missing, truncated, or holding another key. */
  write_all(p.file, good, n);
  char key[400], moved[400];
  snprintf(key, sizeof key, "%s/%s", p.vault, ident);
  snprintf(moved, sizeof moved, "%s/moved", p.base);
  assert_int_equal(rename(key, moved), 0);
  assert_int_equal(load(&p, NULL), OCKAM_ECORRUPT); /* ENOTFOUND means "no file" only */
  uint8_t kb[64];
  size_t kn = read_all(moved, kb, sizeof kb);
  assert_int_equal(kn, 33);
  write_all(key, kb, 20);
  assert_int_equal(load(&p, NULL), OCKAM_ECORRUPT);
  kb[5] ^= 1;
  write_all(key, kb, kn);
  assert_int_equal(load(&p, NULL), OCKAM_EAUTH);
  assert_int_equal(rename(moved, key), 0);
  char ident2[OCKAM_IDENTIFIER_BUF];
  assert_int_equal(load(&p, ident2), OCKAM_OK);
  assert_string_equal(ident, ident2);
  remove_paths(&p);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_restart_same_identity),
      cmocka_unit_test(test_damaged_files),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
