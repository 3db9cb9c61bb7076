/* Vault front end: backend registry, argument checks, dispatch, key files. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "keyfile.h"
#include "log.h"
#include "ockam/vault.h"
#include "vault_internal.h"
#include "xeddsa.h"

struct ockam_vault {
  const ockami_vault_ops *ops;
  void *impl;
  char *dir; /* persistent vaults only: the key directory and its descriptor */
  int dirfd;
  ockami_vault_nonce_hook nonce_hook; /* tests: fixed XEdDSA nonces */
  void *nonce_user;
};

static const ockami_vault_ops *const vault_backends[] = {
    &ockami_vault_software_ops,
};

static const ockami_vault_ops *vault_backend_find(const char *name) {
  for (size_t i = 0; i < sizeof vault_backends / sizeof vault_backends[0]; i++) {
    if (strcmp(vault_backends[i]->name, name) == 0) return vault_backends[i];
  }
  return NULL;
}

int ockam_vault_create(const char *backend, ockam_vault **out) {
  if (!backend || !out) return OCKAM_EINVAL;
  *out = NULL;
  const ockami_vault_ops *ops = vault_backend_find(backend);
  if (!ops) return OCKAM_ENOTFOUND;
  ockam_vault *v = calloc(1, sizeof *v);
  if (!v) return OCKAM_ENOMEM;
  v->ops = ops;
  v->dirfd = -1;
  int rc = ops->create(&v->impl);
  if (rc) {
    free(v);
    return rc;
  }
  *out = v;
  return OCKAM_OK;
}

void ockam_vault_destroy(ockam_vault *vault) {
  if (!vault) return;
  vault->ops->destroy(vault->impl);
  if (vault->dirfd >= 0) close(vault->dirfd);
  free(vault->dir);
  free(vault);
}

int ockam_vault_random(ockam_vault *vault, uint8_t *out, size_t len) {
  if (!vault || (!out && len)) return OCKAM_EINVAL;
  if (len == 0) return OCKAM_OK;
  return vault->ops->random(vault->impl, out, len);
}

int ockam_vault_sha256(ockam_vault *vault, const uint8_t *data, size_t len,
                       uint8_t out[static 32]) {
  if (!vault || (!data && len) || !out) return OCKAM_EINVAL;
  return vault->ops->sha256(vault->impl, data, len, NULL, 0, out);
}

int ockam_vault_sha256_concat(ockam_vault *vault, const uint8_t *a, size_t a_len, const uint8_t *b,
                              size_t b_len, uint8_t out[static 32]) {
  if (!vault || (!a && a_len) || (!b && b_len) || !out) return OCKAM_EINVAL;
  return vault->ops->sha256(vault->impl, a, a_len, b, b_len, out);
}

/* Lengths each secret type accepts on import. */
static int vault_import_len_ok(ockam_secret_type type, size_t len) {
  switch (type) {
    case OCKAM_SECRET_BUFFER:
      return len <= OCKAMI_VAULT_SECRET_MAX;
    case OCKAM_SECRET_AES256:
      return len == OCKAM_AES256_KEY_LEN;
    case OCKAM_SECRET_X25519:
      return len == OCKAM_X25519_KEY_LEN;
    case OCKAM_SECRET_ED25519:
      return len == 32 || len == 64;
  }
  return 0;
}

int ockam_vault_secret_import(ockam_vault *vault, ockam_secret_type type, const uint8_t *bytes,
                              size_t len, ockam_secret *out) {
  if (!vault || !out || (!bytes && len)) return OCKAM_EINVAL;
  *out = 0;
  if (!vault_import_len_ok(type, len)) return OCKAM_EINVAL;
  return vault->ops->secret_import(vault->impl, type, bytes, len, out);
}

int ockam_vault_secret_export(ockam_vault *vault, ockam_secret secret, uint8_t *out, size_t cap,
                              size_t *out_len) {
  if (!vault || (!out && cap) || !out_len) return OCKAM_EINVAL;
  *out_len = 0;
  return vault->ops->secret_export(vault->impl, secret, out, cap, out_len);
}

int ockam_vault_secret_info(ockam_vault *vault, ockam_secret secret, ockam_secret_type *type,
                            size_t *len) {
  if (!vault) return OCKAM_EINVAL;
  return vault->ops->secret_info(vault->impl, secret, type, len);
}

void ockam_vault_secret_destroy(ockam_vault *vault, ockam_secret secret) {
  if (!vault || secret == 0) return;
  vault->ops->secret_destroy(vault->impl, secret);
}

size_t ockam_vault_secret_count(const ockam_vault *vault) {
  if (!vault) return 0;
  return vault->ops->secret_count(vault->impl);
}

int ockam_vault_x25519_generate(ockam_vault *vault, ockam_secret *out, uint8_t pub[static 32]) {
  if (!vault || !out || !pub) return OCKAM_EINVAL;
  *out = 0;
  return vault->ops->x25519_generate(vault->impl, out, pub);
}

int ockam_vault_x25519_public(ockam_vault *vault, ockam_secret secret, uint8_t pub[static 32]) {
  if (!vault || !pub) return OCKAM_EINVAL;
  return vault->ops->x25519_public(vault->impl, secret, pub);
}

int ockam_vault_x25519_dh(ockam_vault *vault, ockam_secret secret, const uint8_t peer[static 32],
                          ockam_secret *out) {
  if (!vault || !peer || !out) return OCKAM_EINVAL;
  *out = 0;
  return vault->ops->x25519_dh(vault->impl, secret, peer, out);
}

int ockam_vault_hkdf_sha256(ockam_vault *vault, ockam_secret salt, ockam_secret ikm,
                            const uint8_t *info, size_t info_len, size_t n,
                            const ockam_secret_type *out_types, ockam_secret *out) {
  if (!vault || (!info && info_len) || !out_types || !out) return OCKAM_EINVAL;
  if (n < 1 || n > 3) return OCKAM_EINVAL;
  for (size_t i = 0; i < n; i++) {
    out[i] = 0;
    if (out_types[i] != OCKAM_SECRET_BUFFER && out_types[i] != OCKAM_SECRET_AES256) {
      return OCKAM_EINVAL;
    }
  }
  return vault->ops->hkdf_sha256(vault->impl, salt, ikm, info, info_len, n, out_types, out);
}

/* OpenSSL takes int lengths; keep every AEAD input well inside that. */
#define VAULT_AEAD_MAX ((size_t)INT_MAX - OCKAM_AEAD_TAG_LEN)

int ockam_vault_aead_encrypt(ockam_vault *vault, ockam_secret key, const uint8_t nonce[static 12],
                             const uint8_t *aad, size_t aad_len, const uint8_t *pt, size_t pt_len,
                             uint8_t *out, size_t cap, size_t *out_len) {
  if (!vault || !nonce || (!aad && aad_len) || (!pt && pt_len) || !out || !out_len) {
    return OCKAM_EINVAL;
  }
  *out_len = 0;
  if (pt_len > VAULT_AEAD_MAX || aad_len > VAULT_AEAD_MAX) return OCKAM_EOVERFLOW;
  if (cap < pt_len + OCKAM_AEAD_TAG_LEN) return OCKAM_EOVERFLOW;
  int rc = vault->ops->aead_encrypt(vault->impl, key, nonce, aad, aad_len, pt, pt_len, out);
  if (rc) return rc;
  *out_len = pt_len + OCKAM_AEAD_TAG_LEN;
  return OCKAM_OK;
}

bool ockami_vault_has_encrypt2(const ockam_vault *vault) {
  return vault && vault->ops->aead_encrypt2;
}

int ockami_vault_aead_encrypt2(ockam_vault *vault, ockam_secret key, const uint8_t nonce[static 12],
                               const uint8_t *pt1, size_t len1, const uint8_t *pt2, size_t len2,
                               uint8_t *out, size_t cap, size_t *out_len) {
  if (!vault || !nonce || (!pt1 && len1) || (!pt2 && len2) || !out || !out_len) {
    return OCKAM_EINVAL;
  }
  *out_len = 0;
  if (!vault->ops->aead_encrypt2) return OCKAM_ENOTSUP;
  if (len1 > VAULT_AEAD_MAX || len2 > VAULT_AEAD_MAX - len1) return OCKAM_EOVERFLOW;
  if (cap < len1 + len2 + OCKAM_AEAD_TAG_LEN) return OCKAM_EOVERFLOW;
  int rc = vault->ops->aead_encrypt2(vault->impl, key, nonce, pt1, len1, pt2, len2, out);
  if (rc) return rc;
  *out_len = len1 + len2 + OCKAM_AEAD_TAG_LEN;
  return OCKAM_OK;
}

int ockam_vault_aead_decrypt(ockam_vault *vault, ockam_secret key, const uint8_t nonce[static 12],
                             const uint8_t *aad, size_t aad_len, const uint8_t *ct, size_t ct_len,
                             uint8_t *out, size_t cap, size_t *out_len) {
  if (!vault || !nonce || (!aad && aad_len) || (!ct && ct_len) || (!out && cap) || !out_len) {
    return OCKAM_EINVAL;
  }
  *out_len = 0;
  /* Too short to hold a tag: indistinguishable from any other forgery. */
  if (ct_len < OCKAM_AEAD_TAG_LEN) return OCKAM_ECRYPTO;
  size_t pt_len = ct_len - OCKAM_AEAD_TAG_LEN;
  if (pt_len > VAULT_AEAD_MAX || aad_len > VAULT_AEAD_MAX) return OCKAM_EOVERFLOW;
  if (cap < pt_len) return OCKAM_EOVERFLOW;
  uint8_t dummy;
  int rc = vault->ops->aead_decrypt(vault->impl, key, nonce, aad, aad_len, ct, ct_len,
                                    out ? out : &dummy);
  if (rc) {
    if (out) sodium_memzero(out, pt_len);
    /* Caller mistakes keep their code; everything else is one opaque failure. */
    return rc == OCKAM_ENOTFOUND || rc == OCKAM_EINVAL ? rc : OCKAM_ECRYPTO;
  }
  *out_len = pt_len;
  return OCKAM_OK;
}

int ockam_vault_ed25519_generate(ockam_vault *vault, ockam_secret *out, uint8_t pub[static 32]) {
  if (!vault || !out || !pub) return OCKAM_EINVAL;
  *out = 0;
  return vault->ops->ed25519_generate(vault->impl, out, pub);
}

int ockam_vault_ed25519_sign(ockam_vault *vault, ockam_secret key, const uint8_t *msg, size_t len,
                             uint8_t sig[static 64]) {
  if (!vault || (!msg && len) || !sig) return OCKAM_EINVAL;
  return vault->ops->ed25519_sign(vault->impl, key, msg, len, sig);
}

int ockam_vault_ed25519_verify(const uint8_t pub[static 32], const uint8_t *msg, size_t len,
                               const uint8_t sig[static 64]) {
  if (!pub || (!msg && len) || !sig) return OCKAM_EINVAL;
  return vault_backends[0]->ed25519_verify(pub, msg, len, sig);
}

/* --- key files ------------------------------------------------------------ */

int ockam_vault_secret_save(ockam_vault *vault, ockam_secret secret, const char *path) {
  if (!vault || !path) return OCKAM_EINVAL;
  uint8_t bytes[OCKAMI_VAULT_SECRET_MAX];
  size_t len = 0;
  int fd = -1;
  int rc = ockam_vault_secret_export(vault, secret, bytes, sizeof bytes, &len);
  if (rc) goto out;

  fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd < 0) {
    rc = errno == EEXIST ? OCKAM_EEXIST : OCKAM_EIO;
    LOG_WARN("vault", "cannot create key file %s: %s", path, strerror(errno));
    goto out;
  }
  /* open() applied the umask; make the mode exact regardless. */
  if (fchmod(fd, 0600) != 0) {
    rc = OCKAM_EIO;
  } else {
    rc = ockami_fd_write_all(fd, bytes, len);
  }
  if (rc == OCKAM_OK && fsync(fd) != 0) rc = OCKAM_EIO;
  if (close(fd) != 0 && rc == OCKAM_OK) rc = OCKAM_EIO;
  fd = -1;
  if (rc) {
    LOG_WARN("vault", "cannot write key file %s", path);
    (void)unlink(path);
  }

out:
  sodium_memzero(bytes, sizeof bytes);
  return rc;
}

int ockam_vault_secret_load(ockam_vault *vault, ockam_secret_type type, const char *path,
                            ockam_secret *out) {
  if (!vault || !path || !out) return OCKAM_EINVAL;
  *out = 0;
  /* One spare byte tells an oversized file from a full-size one. */
  uint8_t bytes[OCKAMI_VAULT_SECRET_MAX + 1];
  size_t len = 0;
  int rc = OCKAM_OK;

  int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) return errno == ENOENT ? OCKAM_ENOTFOUND : OCKAM_EIO;
  struct stat st;
  if (fstat(fd, &st) != 0) {
    rc = OCKAM_EIO;
    goto out;
  }
  if (!S_ISREG(st.st_mode) || st.st_size > (off_t)OCKAMI_VAULT_SECRET_MAX) {
    rc = OCKAM_EMALFORMED;
    goto out;
  }
  if (st.st_mode & 077) {
    LOG_WARN("vault", "key file %s is accessible by other users (mode %03o)", path,
             (unsigned)(st.st_mode & 0777));
  }
  while (len < sizeof bytes) {
    ssize_t r = read(fd, bytes + len, sizeof bytes - len);
    if (r < 0) {
      if (errno == EINTR) continue;
      rc = OCKAM_EIO;
      goto out;
    }
    if (r == 0) break;
    len += (size_t)r;
  }
  if (len > OCKAMI_VAULT_SECRET_MAX) {
    rc = OCKAM_EMALFORMED;
    goto out;
  }
  rc = ockam_vault_secret_import(vault, type, bytes, len, out);
  if (rc == OCKAM_EINVAL) rc = OCKAM_EMALFORMED; /* wrong length for the type */

out:
  close(fd);
  sodium_memzero(bytes, sizeof bytes);
  return rc;
}

/* --- test hooks ------------------------------------------------------------ */

const uint8_t *ockami_vault_test_secret_storage(ockam_vault *vault, ockam_secret secret,
                                                size_t *len) {
  if (!vault || !len || !vault->ops->test_secret_storage) return NULL;
  return vault->ops->test_secret_storage(vault->impl, secret, len);
}

void ockami_vault_test_set_release_hook(ockam_vault *vault, ockami_vault_release_hook hook,
                                        void *user) {
  if (!vault || !vault->ops->test_set_release_hook) return;
  vault->ops->test_set_release_hook(vault->impl, hook, user);
}

/* --- XEdDSA ------------------------------------------------------------------ */

int ockam_vault_xeddsa_sign(ockam_vault *vault, ockam_secret key, const uint8_t *msg, size_t len,
                            uint8_t sig[static 64]) {
  if (!vault || (!msg && len) || !sig) return OCKAM_EINVAL;
  uint8_t z[64];
  int rc;
  if (vault->nonce_hook) {
    vault->nonce_hook(vault->nonce_user, z);
    rc = OCKAM_OK;
  } else {
    rc = vault->ops->random(vault->impl, z, sizeof z);
  }
  if (rc == OCKAM_OK) rc = vault->ops->xeddsa_sign(vault->impl, key, msg, len, z, sig);
  sodium_memzero(z, sizeof z);
  return rc;
}

int ockam_vault_xeddsa_verify(const uint8_t pub[static 32], const uint8_t *msg, size_t len,
                              const uint8_t sig[static 64]) {
  if (!pub || (!msg && len) || !sig) return OCKAM_EINVAL;
  return ockami_xeddsa_verify(pub, msg, len, sig);
}

/* --- persistent vaults ----------------------------------------------------- */

int ockam_vault_create_persistent(const char *dir, ockam_vault **out) {
  if (!dir || !dir[0] || !out) return OCKAM_EINVAL;
  *out = NULL;
  ockam_vault *v = NULL;
  int rc = ockam_vault_create("software", &v);
  if (rc) return rc;
  v->dir = strdup(dir);
  if (!v->dir) {
    ockam_vault_destroy(v);
    return OCKAM_ENOMEM;
  }
  rc = ockami_dir_open(dir, true, &v->dirfd);
  if (rc) {
    ockam_vault_destroy(v);
    return rc == OCKAM_ENOTFOUND ? OCKAM_EIO : rc;
  }
  *out = v;
  return OCKAM_OK;
}

const char *ockam_vault_dir(const ockam_vault *vault) {
  return vault ? vault->dir : NULL;
}

/* Key names become file names: a conservative alphabet, no hidden files (the
 * temporary files of atomic writes start with '.'). */
static bool vault_name_ok(const char *name) {
  size_t n = name ? strlen(name) : 0;
  if (n == 0 || n > 64 || name[0] == '.') return false;
  for (size_t i = 0; i < n; i++) {
    char c = name[i];
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '.' || c == '-';
    if (!ok) return false;
  }
  return true;
}

int ockam_vault_secret_persist(ockam_vault *vault, ockam_secret secret, const char *name) {
  if (!vault) return OCKAM_EINVAL;
  if (vault->dirfd < 0) return OCKAM_ENOTSUP;
  if (!vault_name_ok(name)) return OCKAM_EINVAL;
  ockam_secret_type type;
  size_t len;
  int rc = ockam_vault_secret_info(vault, secret, &type, &len);
  if (rc) return rc;
  /* File = type byte ‖ secret bytes, so a key cannot be reopened as another type. */
  uint8_t file[1 + OCKAMI_VAULT_SECRET_MAX];
  file[0] = (uint8_t)type;
  rc = ockam_vault_secret_export(vault, secret, file + 1, sizeof file - 1, &len);
  if (rc == OCKAM_OK) rc = ockami_file_write_at(vault->dirfd, name, file, 1 + len);
  sodium_memzero(file, sizeof file);
  return rc;
}

int ockam_vault_secret_open(ockam_vault *vault, const char *name, ockam_secret_type type,
                            ockam_secret *out) {
  if (!vault || !out) return OCKAM_EINVAL;
  *out = 0;
  if (vault->dirfd < 0) return OCKAM_ENOTSUP;
  if (!vault_name_ok(name)) return OCKAM_EINVAL;
  uint8_t file[1 + OCKAMI_VAULT_SECRET_MAX];
  size_t len = 0;
  int rc = ockami_file_read_at(vault->dirfd, name, file, sizeof file, &len);
  if (rc) goto out;
  if (len < 1 || file[0] != (uint8_t)type) {
    LOG_WARN("vault", "key file %s/%s is truncated or holds another key type", vault->dir, name);
    rc = OCKAM_ECORRUPT;
    goto out;
  }
  rc = ockam_vault_secret_import(vault, type, file + 1, len - 1, out);
  if (rc == OCKAM_EINVAL) {
    LOG_WARN("vault", "key file %s/%s has the wrong length", vault->dir, name);
    rc = OCKAM_ECORRUPT;
  }
out:
  sodium_memzero(file, sizeof file);
  return rc;
}

int ockam_vault_secret_unpersist(ockam_vault *vault, const char *name) {
  if (!vault) return OCKAM_EINVAL;
  if (vault->dirfd < 0) return OCKAM_ENOTSUP;
  if (!vault_name_ok(name)) return OCKAM_EINVAL;
  return ockami_file_remove_at(vault->dirfd, name);
}

void ockami_vault_test_set_nonce_hook(ockam_vault *vault, ockami_vault_nonce_hook hook,
                                      void *user) {
  if (!vault) return;
  vault->nonce_hook = hook;
  vault->nonce_user = user;
}
