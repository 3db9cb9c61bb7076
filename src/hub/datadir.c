/* The hub's data directory: one hub at a time, and nothing inside it that
 * another user could have planted.
 *
 * Two hubs on one LMDB directory would each believe they own the stream
 * registry and split the clients between them, so the hub takes an
 * exclusive flock(2) on DIR/hub.lock for as long as it runs, and writes its
 * pid there so that the refusal can name the holder.
 *
 * LMDB opens DIR/data.mdb and DIR/lock.mdb (and the same under
 * DIR/registry) by name and follows symlinks; a hub running as root could
 * be made to overwrite any file. The directories must therefore belong to
 * the hub's user and be writable by nobody else: then no other user can
 * plant or swap a name inside them after the checks below, and the checks
 * (no symlink, a regular file of ours where a store file already exists)
 * hold when LMDB opens the files. The lock file itself is opened with
 * O_NOFOLLOW.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "hub_internal.h"
#include "log.h"

#define MOD "hub"
#define LOCK_FILE "hub.lock"

static const char *const store_files[] = {"data.mdb", "lock.mdb"};

/* mkdir -p with mode 0700. */
static int make_dirs(const char *dir) {
  char path[4096];
  if ((size_t)snprintf(path, sizeof path, "%s", dir) >= sizeof path) {
    errno = ENAMETOOLONG;
    return -1;
  }
  for (char *p = path + 1; *p; p++) {
    if (*p != '/') continue;
    *p = '\0';
    if (mkdir(path, 0700) != 0 && errno != EEXIST) return -1;
    *p = '/';
  }
  return mkdir(path, 0700) != 0 && errno != EEXIST ? -1 : 0;
}

/* Creates dir (0700) if missing, then checks that it is a directory owned by
 * this user and not writable by group or others. */
static int check_dir(const char *dir) {
  if (make_dirs(dir) != 0) {
    LOG_ERROR(MOD, "data directory %s: cannot create: %s", dir, strerror(errno));
    return OCKAM_ESTORAGE;
  }
  struct stat st;
  if (stat(dir, &st) != 0) {
    LOG_ERROR(MOD, "data directory %s: %s", dir, strerror(errno));
    return OCKAM_ESTORAGE;
  }
  if (!S_ISDIR(st.st_mode)) {
    LOG_ERROR(MOD, "data directory %s is not a directory", dir);
    return OCKAM_ESTORAGE;
  }
  if (st.st_uid != geteuid()) {
    LOG_ERROR(MOD, "data directory %s belongs to uid %u, not to this hub's user (uid %u); refusing",
              dir, (unsigned)st.st_uid, (unsigned)geteuid());
    return OCKAM_ESTORAGE;
  }
  if (st.st_mode & (S_IWGRP | S_IWOTH)) {
    LOG_ERROR(MOD, "data directory %s is writable by %s (mode %03o); refusing (chmod go-w %s)", dir,
              (st.st_mode & S_IWOTH) ? "others" : "its group", (unsigned)(st.st_mode & 0777), dir);
    return OCKAM_ESTORAGE;
  }
  return OCKAM_OK;
}

/* A store file, if it exists, must be a regular file of ours, not a symlink. */
static int check_file(const char *dir, const char *name) {
  char path[4096];
  if ((size_t)snprintf(path, sizeof path, "%s/%s", dir, name) >= sizeof path)
    return OCKAM_EOVERFLOW;
  struct stat st;
  if (lstat(path, &st) != 0) {
    if (errno == ENOENT) return OCKAM_OK;
    LOG_ERROR(MOD, "%s: %s", path, strerror(errno));
    return OCKAM_ESTORAGE;
  }
  if (S_ISLNK(st.st_mode) || !S_ISREG(st.st_mode) || st.st_uid != geteuid()) {
    LOG_ERROR(MOD, "%s is %s; refusing to open the store", path,
              S_ISLNK(st.st_mode)    ? "a symbolic link"
              : !S_ISREG(st.st_mode) ? "not a regular file"
                                     : "owned by another user");
    return OCKAM_ESTORAGE;
  }
  return OCKAM_OK;
}

static int check_store_dir(const char *dir) {
  int rc = check_dir(dir);
  for (size_t i = 0; !rc && i < sizeof store_files / sizeof store_files[0]; i++)
    rc = check_file(dir, store_files[i]);
  return rc;
}

/* Takes the lock or names the hub that holds it. */
static int take_lock(const char *dir, int *out_fd) {
  char path[4096];
  if ((size_t)snprintf(path, sizeof path, "%s/%s", dir, LOCK_FILE) >= sizeof path)
    return OCKAM_EOVERFLOW;
  int fd = open(path, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd < 0) {
    LOG_ERROR(MOD, "%s: cannot open: %s", path, strerror(errno));
    return OCKAM_ESTORAGE;
  }
  if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
    int err = errno;
    char buf[32] = "";
    ssize_t n = pread(fd, buf, sizeof buf - 1, 0);
    buf[n > 0 ? n : 0] = '\0';
    buf[strcspn(buf, "\n")] = '\0';
    close(fd);
    if (err == EWOULDBLOCK)
      LOG_ERROR(MOD, "data directory %s is in use by another hub (pid %s); refusing to start", dir,
                *buf ? buf : "unknown");
    else
      LOG_ERROR(MOD, "%s: cannot lock: %s", path, strerror(err));
    return OCKAM_ESTORAGE;
  }
  char pid[32];
  int len = snprintf(pid, sizeof pid, "%ld\n", (long)getpid());
  if (ftruncate(fd, 0) != 0 || pwrite(fd, pid, (size_t)len, 0) != len)
    LOG_WARN(MOD, "%s: cannot record the pid: %s", path, strerror(errno));
  *out_fd = fd;
  return OCKAM_OK;
}

int ockami_datadir_open(const char *dir, const char *registry_subdir, int *lock_fd) {
  *lock_fd = -1;
  int rc = check_store_dir(dir);
  if (!rc) rc = take_lock(dir, lock_fd);
  if (!rc && registry_subdir) {
    char sub[4096];
    if ((size_t)snprintf(sub, sizeof sub, "%s/%s", dir, registry_subdir) >= sizeof sub)
      rc = OCKAM_EOVERFLOW;
    else
      rc = check_store_dir(sub);
  }
  if (rc && *lock_fd >= 0) {
    close(*lock_fd);
    *lock_fd = -1;
  }
  return rc;
}

void ockami_datadir_close(int lock_fd) {
  if (lock_fd >= 0) close(lock_fd); /* releases the flock */
}
