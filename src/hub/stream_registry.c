/* The registry of stream names (stream_internal.h): every created stream's
 * name, and tombstones for deleted ones, in a stream of the store, read back
 * at start and polled so stream workers come back at the same address. Also
 * who created a stream, for the per-connection quota of streams created. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "stream_internal.h"

#define MOD "stream"
#define REGISTRY_SUBDIR OCKAMI_HUB_REGISTRY_SUBDIR

/* ---- registry ------------------------------------------------------------- */

/* A record found in the registry at `index`: a name (start its worker
 * unless it is known) or a tombstone, 0xff ‖ name (a deletion: forget the
 * stream if its name was recorded before the tombstone). */
static void registry_add(ockami_stream_service *svc, const uint8_t *name, size_t len,
                         uint64_t index) {
  if (len > 1 && name[0] == 0xff) {
    ockami_stream *st = ockami_map_get(&svc->streams, name + 1, len - 1);
    if (st && st->state == OCKAMI_STREAM_READY && st->reg_index < index) {
      LOG_DEBUG(MOD, "stream '%.*s' was deleted", (int)len - 1, (const char *)name + 1);
      ockami_stream_retire(st);
    }
    return;
  }
  if (ockami_store_check_stream((const char *)name, len)) {
    LOG_WARN(MOD, "registry: skipping an invalid stream name (%zu bytes)", len);
    return;
  }
  if (ockami_map_get(&svc->streams, name, len)) return;
  /* --max-streams bounds the workers whatever the store holds: streams
   * recorded beyond it stay stored but are not served (raise the limit). */
  if (svc->streams.count >= svc->max_streams) {
    if (!svc->limit_logged)
      LOG_WARN(MOD,
               "registry: stream limit (%" PRIu32
               ") reached; stored streams beyond it are "
               "not served (raise --max-streams)",
               svc->max_streams);
    svc->limit_logged = true;
    return;
  }
  ockami_stream *st = ockami_stream_new(svc, (const char *)name, len);
  if (!st) {
    LOG_ERROR(MOD, "registry: out of memory");
    return;
  }
  int rc = ockami_map_put(&svc->streams, name, len, st);
  if (!rc) {
    rc = ockami_stream_activate(st);
    if (rc) ockami_map_remove(&svc->streams, name, len);
  }
  if (rc) {
    ockami_stream_free(st);
    return;
  }
  st->reg_index = index;
  LOG_DEBUG(MOD, "stream '%.*s' restored, worker %s", (int)len, (const char *)name, st->addr);
}

/* Reads the whole registry synchronously, before the backend instance is
 * handed to the asynchronous store: the workers must exist before the hub
 * accepts its first connection. */
static int registry_load(ockami_stream_service *svc, void *be) {
  int rc = OCKAM_OK;
  uint64_t from = 0;
  for (;;) {
    ockami_records recs = {0};
    rc = svc->ops->read(be, OCKAMI_STREAM_REGISTRY_STREAM, OCKAMI_STREAM_REGISTRY_STREAM_LEN, from,
                        OCKAMI_STREAM_REGISTRY_BATCH, 0, &recs);
    if (rc || recs.count == 0) {
      ockami_records_free(&recs);
      break;
    }
    for (size_t i = 0; i < recs.count; i++)
      registry_add(svc, recs.items[i].data, recs.items[i].len, recs.items[i].index);
    from = recs.items[recs.count - 1].index + 1;
    ockami_records_free(&recs);
  }
  svc->registry_next = from;
  return rc;
}

static void registry_read_cb(void *arg, int status, ockami_records *recs) {
  ockami_stream_service *svc = arg;
  svc->registry_reading = false;
  if (svc->state != OCKAMI_SVC_RUNNING) return;
  if (status) {
    LOG_WARN(MOD, "registry: read failed: %s", ockam_strerror(status));
    return;
  }
  for (size_t i = 0; i < recs->count; i++)
    registry_add(svc, recs->items[i].data, recs->items[i].len, recs->items[i].index);
  if (recs->count) svc->registry_next = recs->items[recs->count - 1].index + 1;
  if (recs->count == OCKAMI_STREAM_REGISTRY_BATCH) ockami_stream_registry_poll(svc);
}

void ockami_stream_registry_poll(void *arg) {
  ockami_stream_service *svc = arg;
  if (svc->registry_reading || svc->state != OCKAMI_SVC_RUNNING) return;
  int rc = ockami_store_read(svc->registry, OCKAMI_STREAM_REGISTRY_STREAM,
                             OCKAMI_STREAM_REGISTRY_STREAM_LEN, svc->registry_next,
                             OCKAMI_STREAM_REGISTRY_BATCH, 0, registry_read_cb, svc);
  if (!rc) svc->registry_reading = true;
}

int ockami_stream_registry_open(ockami_stream_service *svc, const ockami_store_options *so) {
  ockami_store_options ro = {0};
  char *dir = NULL;
  if (so->dir) {
    size_t n = strlen(so->dir) + sizeof REGISTRY_SUBDIR + 1;
    dir = malloc(n);
    if (!dir) return OCKAM_ENOMEM;
    snprintf(dir, n, "%s/%s", so->dir, REGISTRY_SUBDIR);
  }
  /* Same servers and durability, no retention, no stream cap. */
  ro.dir = dir;
  ro.url = so->url;
  ro.replicas = so->replicas;
  ro.no_sync = so->no_sync;
  /* One backend instance (one NATS connection for jetstream) serves the
   * load and then the asynchronous registry store. */
  void *be = NULL;
  int rc = svc->ops->open(&ro, &be);
  if (!rc) {
    rc = registry_load(svc, be);
    if (rc) {
      svc->ops->close(be);
    } else {
      rc = ockami_store_open_backend(ockam_node_loop(svc->node), svc->ops, &ro, be, &svc->registry);
    }
  }
  if (rc) LOG_ERROR(MOD, "cannot read the stream registry: %s", ockam_strerror(rc));
  free(dir);
  return rc;
}

/* ---- creators ---------------------------------------------------------------- */

/* The stream keeps its creator's key rather than a pointer: the peer entry
 * is freed once its connection is gone, while its streams live on. */
void ockami_stream_creator_count(ockami_stream *st, ockami_peer *peer) {
  if (!peer) return;
  peer->n[OCKAMI_PEER_STREAMS]++;
  free(st->creator);
  st->creator = malloc(peer->key_len);
  st->creator_len = st->creator ? peer->key_len : 0;
  if (st->creator) memcpy(st->creator, peer->key, peer->key_len);
}

void ockami_stream_creator_release(ockami_stream *st) {
  if (!st->creator) return;
  ockami_peer *p = ockami_map_get(&st->svc->peers->map, st->creator, st->creator_len);
  if (p && p->n[OCKAMI_PEER_STREAMS]) p->n[OCKAMI_PEER_STREAMS]--;
  free(st->creator);
  st->creator = NULL;
  st->creator_len = 0;
}
