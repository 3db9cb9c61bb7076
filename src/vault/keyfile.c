/* Key and identity files (see keyfile.h). */
#include "keyfile.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"

int ockami_dir_open(const char *path, bool create, int *fd) {
  *fd = -1;
  if (create && mkdir(path, 0700) != 0 && errno != EEXIST) {
    LOG_WARN("vault", "cannot create directory %s: %s", path, strerror(errno));
    return OCKAM_EIO;
  }
  int d = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (d < 0) {
    if (errno == ENOENT) return OCKAM_ENOTFOUND;
    LOG_WARN("vault", "cannot open directory %s: %s", path, strerror(errno));
    return OCKAM_EIO;
  }
  struct stat st;
  if (fstat(d, &st) != 0 || !S_ISDIR(st.st_mode)) {
    close(d);
    return OCKAM_EIO;
  }
  if (st.st_uid != geteuid()) {
    LOG_WARN("vault", "directory %s belongs to another user", path);
    close(d);
    return OCKAM_EIO;
  }
  if ((st.st_mode & 077) && fchmod(d, 0700) != 0) {
    LOG_WARN("vault", "cannot restrict directory %s to its owner: %s", path, strerror(errno));
    close(d);
    return OCKAM_EIO;
  }
  *fd = d;
  return OCKAM_OK;
}

int ockami_fd_write_all(int fd, const uint8_t *p, size_t len) {
  while (len > 0) {
    ssize_t w = write(fd, p, len);
    if (w < 0) {
      if (errno == EINTR) continue;
      return OCKAM_EIO;
    }
    p += (size_t)w;
    len -= (size_t)w;
  }
  return OCKAM_OK;
}

int ockami_file_write_at(int dirfd, const char *name, const uint8_t *p, size_t len) {
  char tmp[NAME_MAX + 1];
  uint8_t rnd[8];
  randombytes_buf(rnd, sizeof rnd);
  int n = snprintf(tmp, sizeof tmp, ".%.200s.tmp-%02x%02x%02x%02x%02x%02x%02x%02x", name, rnd[0],
                   rnd[1], rnd[2], rnd[3], rnd[4], rnd[5], rnd[6], rnd[7]);
  if (n < 0 || (size_t)n >= sizeof tmp) return OCKAM_EINVAL;
  int fd = openat(dirfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd < 0) {
    LOG_WARN("vault", "cannot create %s: %s", tmp, strerror(errno));
    return OCKAM_EIO;
  }
  /* open() applied the umask; make the mode exact regardless. */
  int rc = fchmod(fd, 0600) == 0 ? ockami_fd_write_all(fd, p, len) : OCKAM_EIO;
  if (rc == OCKAM_OK && fsync(fd) != 0) rc = OCKAM_EIO;
  if (close(fd) != 0 && rc == OCKAM_OK) rc = OCKAM_EIO;
  if (rc == OCKAM_OK && renameat(dirfd, tmp, dirfd, name) != 0) rc = OCKAM_EIO;
  if (rc) {
    LOG_WARN("vault", "cannot write %s: %s", name, strerror(errno));
    (void)unlinkat(dirfd, tmp, 0);
    return rc;
  }
  /* The rename is durable once the directory is. */
  if (fsync(dirfd) != 0) return OCKAM_EIO;
  return OCKAM_OK;
}

/* Split path into its directory (opened) and its last component. */
static int keyfile_split(const char *path, int *dirfd, char *base, size_t cap) {
  char a[PATH_MAX], b[PATH_MAX];
  if (!path[0] || strlen(path) >= sizeof a) return OCKAM_EINVAL;
  strcpy(a, path);
  strcpy(b, path);
  const char *bn = basename(a);
  if (!bn[0] || !strcmp(bn, "/") || !strcmp(bn, ".") || !strcmp(bn, "..") || strlen(bn) >= cap) {
    return OCKAM_EINVAL;
  }
  strcpy(base, bn);
  int d = open(dirname(b), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (d < 0) {
    LOG_WARN("vault", "cannot open the directory of %s: %s", path, strerror(errno));
    return errno == ENOENT ? OCKAM_ENOTFOUND : OCKAM_EIO;
  }
  *dirfd = d;
  return OCKAM_OK;
}

int ockami_file_write(const char *path, const uint8_t *p, size_t len) {
  char base[NAME_MAX + 1];
  int d;
  int rc = keyfile_split(path, &d, base, sizeof base);
  if (rc) return rc;
  rc = ockami_file_write_at(d, base, p, len);
  close(d);
  return rc;
}

int ockami_file_read_at(int dirfd, const char *name, uint8_t *buf, size_t cap, size_t *len) {
  *len = 0;
  int fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) {
    if (errno == ENOENT) return OCKAM_ENOTFOUND;
    LOG_WARN("vault", "cannot open %s: %s", name, strerror(errno));
    return errno == ELOOP ? OCKAM_ECORRUPT : OCKAM_EIO;
  }
  int rc = OCKAM_OK;
  struct stat st;
  if (fstat(fd, &st) != 0) {
    rc = OCKAM_EIO;
    goto out;
  }
  if (!S_ISREG(st.st_mode) || (uint64_t)st.st_size > cap) {
    LOG_WARN("vault", "%s is not a regular file of at most %zu bytes", name, cap);
    rc = OCKAM_ECORRUPT;
    goto out;
  }
  if (st.st_mode & 077) {
    LOG_WARN("vault", "%s is accessible by other users (mode %03o)", name,
             (unsigned)(st.st_mode & 0777));
  }
  size_t n = 0;
  for (;;) {
    uint8_t spare;
    uint8_t *dst = n < cap ? buf + n : &spare;
    size_t want = n < cap ? cap - n : 1;
    ssize_t r = read(fd, dst, want);
    if (r < 0) {
      if (errno == EINTR) continue;
      rc = OCKAM_EIO;
      goto out;
    }
    if (r == 0) break;
    if (n >= cap) { /* grew while we read it */
      rc = OCKAM_ECORRUPT;
      goto out;
    }
    n += (size_t)r;
  }
  *len = n;
out:
  close(fd);
  if (rc) sodium_memzero(buf, cap);
  return rc;
}

int ockami_file_read(const char *path, uint8_t *buf, size_t cap, size_t *len) {
  char base[NAME_MAX + 1];
  int d;
  *len = 0;
  int rc = keyfile_split(path, &d, base, sizeof base);
  if (rc) return rc;
  rc = ockami_file_read_at(d, base, buf, cap, len);
  close(d);
  return rc;
}

int ockami_file_remove_at(int dirfd, const char *name) {
  if (unlinkat(dirfd, name, 0) != 0 && errno != ENOENT) {
    LOG_WARN("vault", "cannot remove %s: %s", name, strerror(errno));
    return OCKAM_EIO;
  }
  if (fsync(dirfd) != 0) return OCKAM_EIO;
  return OCKAM_OK;
}
