/* "jetstream" backend: connecting (options, server list, the private inbox,
 * the index bucket) and closing. */
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "js_internal.h"
#include "log.h"

void ockami_js_close(void *p) {
  js_be *be = p;
  if (!be) return;
  if (be->sub) {
    natsSubscription_Unsubscribe(be->sub);
    natsSubscription_Destroy(be->sub);
  }
  kvStore_Destroy(be->kv);
  jsCtx_Destroy(be->js);
  if (be->nc) {
    natsConnection_Close(be->nc);
    natsConnection_Destroy(be->nc);
  }
  natsOptions_Destroy(be->opts);
  natsInbox_Destroy(be->inbox);
  ockami_map_iter it;
  ockami_map_iter_init(&be->streams, &it);
  for (ockami_map_entry *e; (e = ockami_map_iter_next(&it));) free(e->value);
  ockami_map_free(&be->streams);
  free(be->url);
  free(be);
}

/* The server list for logs, without credentials: the user info of each URL
 * (between the scheme and '@') becomes three asterisks. */
static char *js_redact(const char *url) {
  char *out = malloc(4 * strlen(url) + 4); /* each server may grow by 3 */
  if (!out) return NULL;
  size_t o = 0;
  for (const char *p = url; *p;) {
    const char *end = strchr(p, ',');
    size_t len = end ? (size_t)(end - p) : strlen(p);
    const char *at = memrchr(p, '@', len);
    const char *scheme = strstr(p, "://");
    if (at && scheme && scheme < at) {
      size_t head = (size_t)(scheme + 3 - p);
      memcpy(out + o, p, head);
      o += head;
      memcpy(out + o, "***", 3);
      o += 3;
      len -= (size_t)(at - p);
      p = at;
    }
    memcpy(out + o, p, len);
    o += len;
    p += len;
    if (*p == ',') out[o++] = *p++;
  }
  out[o] = 0;
  return out;
}

/* Splits "nats://a:4222,nats://b:4222" (in copy, modified) into the
 * client's server list; shown is the list as logs may show it. */
static int js_set_servers(natsOptions *opts, const char *shown, char *copy) {
  const char *servers[16];
  int n = 0;
  char *save = NULL;
  for (char *tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
    while (*tok == ' ' || *tok == '\t') tok++;
    char *end = tok + strlen(tok);
    while (end > tok && (end[-1] == ' ' || end[-1] == '\t')) *--end = 0;
    if (!*tok) continue;
    if (n == (int)(sizeof servers / sizeof servers[0])) return OCKAM_EOVERFLOW;
    servers[n++] = tok;
  }
  if (n == 0) {
    LOG_ERROR(JS_LOG, "no NATS server in \"%s\"", shown);
    return OCKAM_EINVAL;
  }
  return natsOptions_SetServers(opts, servers, n) == NATS_OK ? OCKAM_OK : OCKAM_EINVAL;
}

static int js_open_index_bucket(js_be *be) {
  natsStatus s = js_KeyValue(&be->kv, be->js, JS_INDEX_BUCKET);
  if (s == NATS_OK) return OCKAM_OK;
  if (s != NATS_NOT_FOUND) return ockami_js_api_result(s, 0, "opening the index bucket");
  kvConfig cfg;
  kvConfig_Init(&cfg);
  cfg.Bucket = JS_INDEX_BUCKET;
  cfg.Description = "ockam consumer indexes";
  cfg.History = 1;
  cfg.Replicas = be->replicas;
  cfg.StorageType = js_FileStorage;
  s = js_CreateKeyValue(&be->kv, be->js, &cfg);
  if (s == NATS_OK) return OCKAM_OK;
  /* Made concurrently by another hub (perhaps with other settings): use it. */
  if (js_KeyValue(&be->kv, be->js, JS_INDEX_BUCKET) == NATS_OK) return OCKAM_OK;
  const char *err = nats_GetLastError(NULL);
  if (err && strstr(err, "replicas > 1 not supported")) {
    LOG_ERROR(JS_LOG, "replicas %d needs a JetStream cluster of at least that many servers",
              be->replicas);
    return OCKAM_EINVAL;
  }
  return ockami_js_api_result(s, 0, "creating the index bucket");
}

int ockami_js_open(const ockami_store_options *opt, void **out) {
  if (!opt->url || !*opt->url) return OCKAM_EINVAL;
  int replicas = opt->replicas ? opt->replicas : 1;
  if (replicas < 1 || replicas > 5) return OCKAM_EINVAL;
  if (sodium_init() < 0) return OCKAM_ESTORAGE;
  js_be *be = calloc(1, sizeof *be);
  if (!be) return OCKAM_ENOMEM;
  be->replicas = replicas;
  be->max_messages = opt->max_messages;
  be->max_bytes = opt->max_bytes;
  be->max_age_s = opt->max_age_s;
  be->max_streams = opt->max_streams;
  be->max_record = opt->max_record;
  ockami_map_init(&be->streams);
  be->stream_count = -1;
  int rc = OCKAM_ENOMEM;
  char *copy = strdup(opt->url);
  be->url = js_redact(opt->url);
  if (!copy || !be->url) goto fail;
  if (be->max_record > INT32_MAX - JS_HEADER_ALLOWANCE) {
    rc = OCKAM_EINVAL;
    goto fail;
  }

  if (natsOptions_Create(&be->opts) != NATS_OK) goto fail;
  rc = js_set_servers(be->opts, be->url, copy);
  if (rc) goto fail;
  natsOptions *o = be->opts;
  bool ok = natsOptions_SetName(o, "ockam-hub") == NATS_OK &&
            natsOptions_SetTimeout(o, JS_CONNECT_TIMEOUT_MS) == NATS_OK &&
            natsOptions_SetAllowReconnect(o, true) == NATS_OK &&
            natsOptions_SetMaxReconnect(o, -1) == NATS_OK &&
            natsOptions_SetReconnectWait(o, JS_RECONNECT_WAIT_MS) == NATS_OK &&
            natsOptions_SetReconnectJitter(o, 100, 1000) == NATS_OK &&
            natsOptions_SetPingInterval(o, JS_PING_INTERVAL_MS) == NATS_OK &&
            natsOptions_SetMaxPingsOut(o, JS_MAX_PINGS_OUT) == NATS_OK &&
            /* Nothing is queued while disconnected: a publish the caller was
             * told failed must not be sent later by the reconnect logic. */
            natsOptions_SetReconnectBufSize(o, 1) == NATS_OK &&
            natsOptions_SetFailRequestsOnDisconnect(o, true) == NATS_OK;
  if (!ok) {
    rc = OCKAM_EINVAL;
    goto fail;
  }
  natsStatus s = natsConnection_Connect(&be->nc, o);
  if (s != NATS_OK) {
    be->nc = NULL;
    LOG_ERROR(JS_LOG, "cannot connect to NATS server %s: %s", be->url, natsStatus_GetText(s));
    rc = OCKAM_EUNAVAILABLE;
    goto fail;
  }
  jsOptions jo;
  jsOptions_Init(&jo);
  jo.Wait = JS_API_WAIT_MS;
  rc = OCKAM_ESTORAGE;
  if (natsConnection_JetStream(&be->js, be->nc, &jo) != NATS_OK) goto fail;
  if (natsInbox_Create(&be->inbox) != NATS_OK) goto fail;
  be->inbox_len = strlen(be->inbox);
  char wildcard[128];
  snprintf(wildcard, sizeof wildcard, "%s.*.*", be->inbox);
  if (natsConnection_SubscribeSync(&be->sub, be->nc, wildcard) != NATS_OK) goto fail;
  /* A read window is bounded (JS_READ_WINDOW_MAX replies of at most
   * max_record bytes) but an append's acks are not: never drop replies. */
  natsSubscription_SetPendingLimits(be->sub, -1, -1);
  uint64_t deadline = ockami_monotonic_ms() + JS_OP_TIMEOUT_MS;
  do {
    rc = js_open_index_bucket(be);
  } while (ockami_js_retry(be, rc, deadline));
  if (rc) {
    if (rc == OCKAM_EUNAVAILABLE) {
      LOG_ERROR(JS_LOG, "JetStream at %s did not answer; is it enabled (-js)?", be->url);
    }
    goto fail;
  }
  free(copy);
  LOG_INFO(JS_LOG, "connected to %s (replicas %d)", be->url, be->replicas);
  *out = be;
  return OCKAM_OK;
fail:
  free(copy);
  ockami_js_close(be);
  return rc;
}
