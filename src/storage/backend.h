/* What a storage backend implements, and what the front end (storage.c) has
 * already checked when it calls it. Only storage.c and the backends include
 * this file; everything else uses the front-end tables of storage.h.
 *
 * Every call below reaches the backend only after the front end checked it:
 *   - be is the instance its open() returned;
 *   - stream is 1..OCKAM_NAME_MAX bytes, client 1..OCKAM_NAME_MAX bytes
 *     without NUL (so client ‖ 0x00 ‖ stream is an unambiguous key);
 *   - open: opt->max_streams and opt->max_record are set (defaults filled in);
 *   - append: items != NULL, 1 <= n <= UINT32_MAX; every item has
 *     index 0, and status 0 when it is to be stored, or already the error of
 *     a bad name, NULL data or a record above max_record (skip those items);
 *     when append() returns an error, the front end sets that error as the
 *     status of every item that had status 0;
 *   - read: out != NULL, limit >= 1; on an error the front end drops whatever
 *     the backend added to out;
 *   - bounds, index_get, stream_list: every output pointer is non-NULL;
 *   - stream_list: max >= 1, after_len <= OCKAM_NAME_MAX (0 = from the start).
 * The semantics of each op are those of ockami_store_ops in storage.h.
 */
#ifndef OCKAMI_STORAGE_BACKEND_H
#define OCKAMI_STORAGE_BACKEND_H

#include "ockam/limits.h"
#include "storage.h"

/* A backend's table has the type of the front-end tables and the semantics
 * of storage.h; name, shared and atomic_append are left unset (the front end
 * sets them in storage.c). */
typedef ockami_store_ops ockami_store_backend;

extern const ockami_store_backend ockami_backend_memory;
extern const ockami_store_backend ockami_backend_lmdb;
extern const ockami_store_backend ockami_backend_jetstream;

/* Longest consumer index key: two maximal names and the separator. */
#define OCKAMI_INDEX_KEY_MAX (2 * OCKAM_NAME_MAX + 1)

/* Writes client ‖ 0x00 ‖ stream to key (OCKAMI_INDEX_KEY_MAX bytes) and
 * returns its length. The client holds no NUL, so the first NUL ends it. */
size_t ockami_index_key(const char *client, size_t client_len, const char *stream,
                        size_t stream_len, uint8_t *key);
/* Whether an index key (as above) belongs to this stream. */
bool ockami_index_key_is_for(const uint8_t *key, size_t key_len, const char *stream,
                             size_t stream_len);

/* Bytewise name order (memcmp, then the shorter first): the order of
 * stream_list for the memory and lmdb backends, and LMDB's key order. */
int ockami_name_cmp(const void *a, size_t a_len, const void *b, size_t b_len);

/* Fills one stream_list entry (name is copied). */
void ockami_stream_info_set(ockami_stream_info *info, const void *name, size_t name_len,
                            uint64_t first, uint64_t next, uint64_t bytes, uint64_t last_append_ms);

/* Wall-clock time in milliseconds since the epoch: record timestamps for age
 * retention, which must survive a restart. */
uint64_t ockami_realtime_ms(void);
/* Monotonic time in milliseconds: deadlines and intervals. */
uint64_t ockami_monotonic_ms(void);

/* Milliseconds of a retention age in seconds, capped at UINT64_MAX / 1000
 * (a wall-clock time in ms plus the age does not overflow). */
uint64_t ockami_age_ms(uint64_t age_s);

#endif
