/* "jetstream" backend: consumer indexes in the KV bucket OCKAM_INDEX, key
 * <client>.<stream> (escaped), value the decimal index, raised only through
 * revision-checked updates so that a lower value never wins. */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "js_internal.h"
#include "log.h"

static bool js_parse_index(kvEntry *e, uint64_t *v) {
  int len = kvEntry_ValueLen(e);
  return len > 0 && ockami_js_parse_u64(kvEntry_Value(e), (size_t)len, v);
}

int ockami_js_index_get(void *p, const char *client, size_t client_len, const char *stream,
                        size_t stream_len, uint64_t *index, bool *found) {
  js_be *be = p;
  char key[JS_KEY_MAX];
  ockami_js_index_key(client, client_len, stream, stream_len, key);
  int rc;
  uint64_t deadline = ockami_monotonic_ms() + JS_OP_TIMEOUT_MS;
  uint64_t v = 0;
  bool have = false;
  do {
    kvEntry *e = NULL;
    natsStatus s = kvStore_Get(&e, be->kv, key);
    if (s == NATS_NOT_FOUND) {
      rc = OCKAM_OK;
    } else {
      rc = ockami_js_api_result(s, 0, "index get");
      if (!rc && !(have = js_parse_index(e, &v))) {
        LOG_ERROR(JS_LOG, "index %s holds a value that is not a u64", key);
        rc = OCKAM_ESTORAGE;
      }
    }
    kvEntry_Destroy(e);
  } while (ockami_js_retry(be, rc, deadline));
  if (!rc) {
    *found = have;
    *index = have ? v : 0;
  }
  return ockami_js_note(be, rc, "index get");
}

/* One step of the monotonic save: done (*done), or lost a race (retry). */
static int js_index_save_once(js_be *be, const char *key, uint64_t index, bool *done) {
  char val[24];
  snprintf(val, sizeof val, "%" PRIu64, index);
  kvEntry *e = NULL;
  natsStatus s = kvStore_Get(&e, be->kv, key);
  if (s == NATS_NOT_FOUND) {
    s = kvStore_CreateString(NULL, be->kv, key, val);
    *done = s == NATS_OK;
    /* NATS_ERR: the key appeared meanwhile; look again. */
    return s == NATS_OK || s == NATS_ERR ? OCKAM_OK : ockami_js_api_result(s, 0, "index save");
  }
  int rc = ockami_js_api_result(s, 0, "index get");
  if (rc) return rc;
  uint64_t cur;
  if (js_parse_index(e, &cur) && cur >= index) {
    kvEntry_Destroy(e);
    *done = true;
    return OCKAM_OK;
  }
  uint64_t rev = kvEntry_Revision(e);
  kvEntry_Destroy(e);
  s = kvStore_UpdateString(NULL, be->kv, key, val, rev);
  *done = s == NATS_OK;
  /* NATS_ERR: someone saved in between (wrong last sequence); look again. */
  return s == NATS_OK || s == NATS_ERR ? OCKAM_OK : ockami_js_api_result(s, 0, "index save");
}

int ockami_js_index_save(void *p, const char *client, size_t client_len, const char *stream,
                         size_t stream_len, uint64_t index) {
  js_be *be = p;
  char key[JS_KEY_MAX];
  ockami_js_index_key(client, client_len, stream, stream_len, key);
  int rc;
  uint64_t deadline = ockami_monotonic_ms() + JS_OP_TIMEOUT_MS;
  bool done = false;
  int attempts = 0;
  for (;;) {
    rc = js_index_save_once(be, key, index, &done);
    if (!rc && done) break;
    if (!rc) {
      if (++attempts >= JS_INDEX_RETRIES || ockami_js_remaining_ms(deadline) <= 0) {
        LOG_ERROR(JS_LOG, "index %s: gave up after %d conflicting updates", key, attempts);
        rc = OCKAM_ESTORAGE;
        break;
      }
      continue;
    }
    if (!ockami_js_retry(be, rc, deadline)) break;
  }
  return ockami_js_note(be, rc, "index save");
}

/* KV entries are messages of the bucket's stream on subject
 * $KV.<bucket>.<key>; one purge with the filter $KV.<bucket>.*.<stream>
 * removes the stream's index for every client (a client part never holds a
 * '.', which the key escaping replaces). */
/* Purge the bucket's entries $KV.<bucket>.<middle>.<stream> (middle: "*"
 * for indexes, "p.*" for producer states). */
static int purge_stream_entries(js_be *be, const char *middle, const char *stream,
                                size_t stream_len, const char *what, uint64_t deadline) {
  char part[JS_KEY_PART_MAX];
  size_t n = ockami_js_key_escape(stream, stream_len, part);
  part[n] = 0;
  char filter[sizeof "$KV." JS_INDEX_BUCKET ".p.*." + JS_KEY_PART_MAX];
  snprintf(filter, sizeof filter, "$KV.%s.%s.%s", JS_INDEX_BUCKET, middle, part);
  int rc;
  do {
    jsOptions o;
    ockami_js_api_opts(&o, deadline);
    o.Stream.Purge.Subject = filter;
    jsErrCode code = 0;
    natsStatus s = js_PurgeStream(be->js, "KV_" JS_INDEX_BUCKET, &o, &code);
    rc = ockami_js_api_result(s, code, what);
  } while (ockami_js_retry(be, rc, deadline));
  return rc;
}

int ockami_js_index_delete_stream(js_be *be, const char *stream, size_t stream_len,
                                  uint64_t deadline) {
  return purge_stream_entries(be, "*", stream, stream_len, "purging indexes", deadline);
}

/* ---- idempotent producer states (js_append.c) ----------------------------- */

void ockami_js_producer_key(const char *producer, size_t producer_len, const char *stream,
                            size_t stream_len, char *key) {
  key[0] = 'p';
  key[1] = '.';
  ockami_js_index_key(producer, producer_len, stream, stream_len, key + 2);
}

int ockami_js_producer_load(js_be *be, const char *key, ockami_producer_state *ps, uint64_t *rev,
                            uint64_t deadline) {
  int rc;
  do {
    memset(ps, 0, sizeof *ps);
    *rev = 0;
    kvEntry *e = NULL;
    natsStatus s = kvStore_Get(&e, be->kv, key);
    if (s == NATS_NOT_FOUND) {
      rc = OCKAM_OK;
    } else {
      rc = ockami_js_api_result(s, 0, "producer state get");
      if (!rc) {
        int len = kvEntry_ValueLen(e);
        if (len < 0 || !ockami_producer_state_decode(kvEntry_Value(e), (size_t)len, ps)) {
          LOG_ERROR(JS_LOG, "producer state %s does not decode", key);
          rc = OCKAM_ESTORAGE;
        } else {
          *rev = kvEntry_Revision(e);
        }
      }
    }
    kvEntry_Destroy(e);
  } while (ockami_js_retry(be, rc, deadline));
  return ockami_js_note(be, rc, "producer state get");
}

int ockami_js_producer_store(js_be *be, const char *key, const ockami_producer_state *ps,
                             uint64_t rev, bool *conflict) {
  uint8_t val[OCKAMI_PRODUCER_STATE_LEN];
  ockami_producer_state_encode(ps, val);
  natsStatus s = rev ? kvStore_Update(NULL, be->kv, key, val, (int)sizeof val, rev)
                     : kvStore_Create(NULL, be->kv, key, val, (int)sizeof val);
  /* NATS_ERR: the entry changed (or appeared) since it was read. */
  *conflict = s == NATS_ERR;
  if (s == NATS_OK || s == NATS_ERR) return OCKAM_OK;
  return ockami_js_note(be, ockami_js_api_result(s, 0, "producer state save"),
                        "producer state save");
}

int ockami_js_producer_get(void *p, const char *producer, size_t producer_len, const char *stream,
                           size_t stream_len, ockami_producer_state *out, bool *found) {
  js_be *be = p;
  char key[JS_PRODUCER_KEY_MAX];
  ockami_js_producer_key(producer, producer_len, stream, stream_len, key);
  uint64_t rev;
  int rc = ockami_js_producer_load(be, key, out, &rev, ockami_monotonic_ms() + JS_OP_TIMEOUT_MS);
  if (!rc) *found = out->seq != 0;
  return rc;
}

int ockami_js_producer_delete_stream(js_be *be, const char *stream, size_t stream_len,
                                     uint64_t deadline) {
  return purge_stream_entries(be, "p.*", stream, stream_len, "purging producer states", deadline);
}
