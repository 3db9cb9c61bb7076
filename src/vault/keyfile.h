/* Small files that hold keys and identities: written atomically, read with
 * O_NOFOLLOW, bounded in size.
 *
 * A write goes to a temporary file in the same directory (mode 0600, created
 * with O_EXCL | O_NOFOLLOW), is fsync'ed, renamed over the target, and the
 * directory is fsync'ed: a crash leaves either the old file or the new one,
 * never a torn one. Reads refuse symlinks and anything but a regular file.
 * Failures are logged with the path and errno text.
 */
#ifndef OCKAMI_KEYFILE_H
#define OCKAMI_KEYFILE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ockam/error.h"

/* Open (creating it with mode 0700 when create is set) a directory that is not
 * a symlink and is owned by the caller; a group/other-accessible one is
 * tightened to 0700. *fd is an O_DIRECTORY descriptor. Errors: OCKAM_ENOTFOUND
 * (missing, create not set), OCKAM_EIO. */
OCKAM_MUST_CHECK int ockami_dir_open(const char *path, bool create, int *fd);

/* Write all of p[0..len) to fd, retrying on EINTR and short writes: 0 or
 * OCKAM_EIO. */
OCKAM_MUST_CHECK int ockami_fd_write_all(int fd, const uint8_t *p, size_t len);

/* Atomically replace dirfd/name with p[0..len), mode 0600. */
OCKAM_MUST_CHECK int ockami_file_write_at(int dirfd, const char *name, const uint8_t *p,
                                          size_t len);
/* Same for a path (its directory must exist). */
OCKAM_MUST_CHECK int ockami_file_write(const char *path, const uint8_t *p, size_t len);

/* Read dirfd/name into buf (cap bytes). Errors: OCKAM_ENOTFOUND (missing),
 * OCKAM_ECORRUPT (not a regular file, or larger than cap), OCKAM_EIO. */
OCKAM_MUST_CHECK int ockami_file_read_at(int dirfd, const char *name, uint8_t *buf, size_t cap,
                                         size_t *len);
/* Same for a path. */
OCKAM_MUST_CHECK int ockami_file_read(const char *path, uint8_t *buf, size_t cap, size_t *len);

/* Remove dirfd/name; a missing file is not an error. */
OCKAM_MUST_CHECK int ockami_file_remove_at(int dirfd, const char *name);

#endif
