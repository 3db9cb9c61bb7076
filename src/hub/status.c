/* The `status` service and the documents of the statistics (stats.h): JSON
 * (jansson) for the service and /api/status, the Prometheus text exposition
 * for /metrics. The request and reply formats are in
 * docs/protocol-extensions.md ("The status service").
 */
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "acl.h"
#include "hub_internal.h"
#include "log.h"
#include "message.h"
#include "node.h"
#include "route.h"
#include "stats.h"
#include "stream_internal.h"

#define MOD "status"
#define STATUS_ADDRESS "status"
/* Requests are a few short fields. */
#define REQUEST_MAX 1024u
/* Room kept in a reply page for "next_after" (a name as hex) and the
 * closing brackets. */
#define PAGE_MARGIN (2 * OCKAM_NAME_MAX + 64)

#ifndef OCKAMI_HUB_VERSION
#define OCKAMI_HUB_VERSION "unknown"
#endif

/* ---- names ----------------------------------------------------------------- */

/* Stream names are arbitrary bytes; a name shows as itself when it is UTF-8
 * without control characters, otherwise as "0x" ‖ hex (and the entry also
 * carries "name_hex"). */
static bool displayable(const uint8_t *p, size_t len) {
  size_t i = 0;
  while (i < len) {
    uint8_t c = p[i];
    if (c < 0x20 || c == 0x7f) return false;
    if (c < 0x80) {
      i++;
      continue;
    }
    size_t n;
    uint32_t cp;
    if ((c & 0xe0) == 0xc0) {
      n = 2;
      cp = c & 0x1f;
    } else if ((c & 0xf0) == 0xe0) {
      n = 3;
      cp = c & 0x0f;
    } else if ((c & 0xf8) == 0xf0) {
      n = 4;
      cp = c & 0x07;
    } else {
      return false;
    }
    if (len - i < n) return false;
    for (size_t k = 1; k < n; k++) {
      if ((p[i + k] & 0xc0) != 0x80) return false;
      cp = (cp << 6) | (p[i + k] & 0x3f);
    }
    if ((n == 2 && cp < 0x80) || (n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000) ||
        cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff) || (cp >= 0x80 && cp < 0xa0))
      return false;
    i += n;
  }
  return true;
}

static void hex_of(const uint8_t *p, size_t len, char *out) {
  static const char hex[] = "0123456789abcdef";
  for (size_t i = 0; i < len; i++) {
    out[2 * i] = hex[p[i] >> 4];
    out[2 * i + 1] = hex[p[i] & 15];
  }
  out[2 * len] = '\0';
}

/* The display form of a name into out (at least 2 * OCKAM_NAME_MAX + 3). */
static const char *display_name(const uint8_t *p, size_t len, char *out, bool *is_hex) {
  *is_hex = !displayable(p, len);
  if (*is_hex) {
    out[0] = '0';
    out[1] = 'x';
    hex_of(p, len, out + 2);
  } else {
    memcpy(out, p, len);
    out[len] = '\0';
  }
  return out;
}

static int hexval(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

/* ---- streams in name order ------------------------------------------------------ */

static int stream_cmp(const void *a, const void *b) {
  const ockami_stream *x = *(ockami_stream *const *)a, *y = *(ockami_stream *const *)b;
  size_t n = x->name_len < y->name_len ? x->name_len : y->name_len;
  int c = memcmp(x->name, y->name, n);
  if (c) return c;
  return x->name_len < y->name_len ? -1 : x->name_len > y->name_len;
}

/* Every stream of the service, sorted by name; *n set; NULL when none or
 * out of memory. */
static ockami_stream **sorted_streams(ockami_stream_service *svc, size_t *n) {
  *n = 0;
  if (!svc || svc->streams.count == 0) return NULL;
  ockami_stream **v = malloc(svc->streams.count * sizeof *v);
  if (!v) return NULL;
  size_t bucket = 0, k = 0;
  ockami_map_entry *e = NULL;
  while ((e = ockami_map_next(&svc->streams, &bucket, e)) && k < svc->streams.count)
    v[k++] = e->value;
  qsort(v, k, sizeof *v, stream_cmp);
  *n = k;
  return v;
}

/* ---- JSON ------------------------------------------------------------------------- */

static uint64_t stream_end(const ockami_stream *st) {
  uint64_t end = st->fig.listed ? st->fig.next : 0;
  return st->next_seen > end ? st->next_seen : end;
}

static const char *state_name(ockami_stream_state s) {
  switch (s) {
    case OCKAMI_STREAM_CREATING:
      return "creating";
    case OCKAMI_STREAM_READY:
      return "ready";
    case OCKAMI_STREAM_DELETING:
      return "deleting";
  }
  return "unknown";
}

static void set_u64(json_t *o, const char *k, uint64_t v) {
  json_object_set_new(o, k, json_integer(v > (uint64_t)INT64_MAX ? INT64_MAX : (json_int_t)v));
}

static void set_real(json_t *o, const char *k, double v) {
  /* Two decimals are enough for rates, and keep documents short. */
  json_object_set_new(o, k, json_real((double)(int64_t)(v * 100.0 + 0.5) / 100.0));
}

static json_t *consumer_json(const ockami_consumer *c, uint64_t end) {
  json_t *o = json_object();
  char buf[2 * OCKAM_NAME_MAX + 3];
  bool is_hex;
  json_object_set_new(
      o, "client",
      json_string(display_name((const uint8_t *)c->client, c->client_len, buf, &is_hex)));
  set_u64(o, "index", c->index);
  set_u64(o, "lag", end > c->index ? end - c->index : 0);
  return o;
}

/* One stream; with_consumers: the list, otherwise their count and the
 * largest lag. */
static json_t *stream_json(const ockami_stream *st, bool with_consumers) {
  const ockami_stream_figures *f = &st->fig;
  json_t *o = json_object();
  char buf[2 * OCKAM_NAME_MAX + 3];
  bool is_hex;
  json_object_set_new(
      o, "name", json_string(display_name((const uint8_t *)st->name, st->name_len, buf, &is_hex)));
  if (is_hex) json_object_set_new(o, "name_hex", json_string(buf + 2));
  json_object_set_new(o, "state", json_string(state_name(st->state)));
  uint64_t end = stream_end(st);
  uint64_t first = f->listed ? f->first : 0;
  if (first > end) first = end;
  set_u64(o, "messages", end - first);
  set_u64(o, "bytes", f->bytes);
  set_u64(o, "first_index", first);
  if (end > first)
    set_u64(o, "last_index", end - 1);
  else
    json_object_set_new(o, "last_index", json_null());
  set_u64(o, "next_index", end);
  set_u64(o, "last_append_ms", f->last_append_ms);
  set_u64(o, "pushes", f->pushes);
  set_u64(o, "push_bytes", f->push_bytes);
  set_u64(o, "confirms", f->confirms);
  set_u64(o, "pulls", f->pulls);
  set_u64(o, "pulled", f->pulled);
  set_u64(o, "pulled_bytes", f->pulled_bytes);
  set_real(o, "push_rate", f->push_rate);
  set_real(o, "pull_rate", f->pull_rate);
  uint64_t max_lag = 0;
  json_t *list = with_consumers ? json_array() : NULL;
  for (const ockami_consumer *c = f->consumers; c; c = c->next) {
    uint64_t lag = end > c->index ? end - c->index : 0;
    if (lag > max_lag) max_lag = lag;
    if (list) json_array_append_new(list, consumer_json(c, end));
  }
  if (list)
    json_object_set_new(o, "consumers", list);
  else
    set_u64(o, "consumers", f->nconsumers);
  set_u64(o, "max_lag", max_lag);
  return o;
}

/* What both the JSON document and the metrics read besides the stream service. */
typedef struct sources {
  ockam_tcp_stats t;
  uint32_t fwd_live;
  uint64_t fwd_refused, fwd_released;
  uint64_t now;
} sources;

static void read_sources(ockami_stats *s, sources *src) {
  memset(src, 0, sizeof *src);
  ockam_tcp_get_stats(s->parts.tcp, &src->t);
  ockami_forwarding_counts(s->parts.forwarding, &src->fwd_live, &src->fwd_refused,
                           &src->fwd_released);
  src->now = ockam_node_now_ms(s->node);
}

static json_t *hub_json(ockami_stats *s) {
  ockami_stream_service *svc = s->parts.streams;
  const ockami_stream_stats *z = svc ? &svc->stats : NULL;
  sources src;
  read_sources(s, &src);

  json_t *o = json_object();
  json_object_set_new(o, "version", json_string(OCKAMI_HUB_VERSION));
  json_object_set_new(o, "listen", json_string(s->listen));
  json_object_set_new(o, "store", json_string(s->store));
  set_u64(o, "started_ms", s->started_real_ms);
  set_real(o, "uptime_s", (double)(src.now - s->started_ms) / 1000.0);

  json_t *c = json_object();
  set_u64(c, "open", src.t.open_connections);
  set_u64(c, "accepted", src.t.accepted);
  set_u64(c, "rejected", src.t.rejected + src.t.rejected_per_ip);
  set_u64(c, "closed_idle", src.t.closed_idle);
  set_u64(c, "closed_first_frame", src.t.closed_first_frame);
  set_u64(c, "closed_stalled", src.t.closed_stalled);
  set_u64(c, "malformed", src.t.malformed);
  json_object_set_new(o, "connections", c);

  json_t *tr = json_object();
  set_u64(tr, "frames_in", src.t.frames_in);
  set_u64(tr, "frames_out", src.t.frames_out);
  set_u64(tr, "bytes_in", src.t.bytes_in);
  set_u64(tr, "bytes_out", src.t.bytes_out);
  set_u64(tr, "frames_dropped", src.t.dropped + src.t.dropped_budget);
  set_u64(tr, "output_bytes", src.t.output_bytes);
  json_object_set_new(o, "traffic", tr);

  json_t *fw = json_object();
  set_u64(fw, "live", src.fwd_live);
  set_u64(fw, "refused", src.fwd_refused);
  set_u64(fw, "released", src.fwd_released);
  json_object_set_new(o, "forwarders", fw);

  json_t *sm = json_object();
  set_u64(sm, "count", svc ? svc->streams.count : 0);
  set_u64(sm, "max", s->parts.max_streams);
  set_u64(sm, "storage_bytes", s->storage_bytes);
  set_u64(sm, "messages", s->stored_messages);
  set_u64(sm, "listed_ms_ago", s->listed_ms ? src.now - s->listed_ms : 0);
  set_u64(sm, "consumers", z ? z->consumers : 0);
  set_u64(sm, "consumers_untracked", z ? z->consumers_untracked : 0);
  json_object_set_new(o, "streams", sm);

  json_t *to = json_object();
  set_u64(to, "pushes", z ? z->pushes : 0);
  set_u64(to, "push_bytes", z ? z->push_bytes : 0);
  set_u64(to, "pushes_refused", z ? z->pushes_refused : 0);
  set_u64(to, "push_errors", z ? z->push_errors : 0);
  set_u64(to, "confirms", z ? z->confirms : 0);
  set_u64(to, "pulls", z ? z->pulls : 0);
  set_u64(to, "pulled", z ? z->pulled : 0);
  set_u64(to, "pulled_bytes", z ? z->pulled_bytes : 0);
  set_u64(to, "pulls_parked", z ? z->pulls_parked : 0);
  set_u64(to, "creates", z ? z->creates : 0);
  set_u64(to, "deletes", svc ? svc->deletes : 0);
  set_u64(to, "index_saves", z ? z->index_saves : 0);
  set_u64(to, "invalid", z ? z->invalid : 0);
  set_u64(to, "over_quota", z ? z->over_quota : 0);
  set_u64(to, "denied", s->parts.authz ? s->parts.authz->stats.denied : 0);
  set_u64(to, "status_requests", s->status_requests);
  json_object_set_new(o, "totals", to);

  json_t *r = json_object();
  set_real(r, "pushes", s->rates.pushes);
  set_real(r, "push_bytes", s->rates.push_bytes);
  set_real(r, "confirms", s->rates.confirms);
  set_real(r, "pulls", s->rates.pulls);
  set_real(r, "pulled", s->rates.pulled);
  set_real(r, "frames_in", s->rates.frames_in);
  set_real(r, "frames_out", s->rates.frames_out);
  set_real(r, "bytes_in", s->rates.bytes_in);
  set_real(r, "bytes_out", s->rates.bytes_out);
  json_object_set_new(o, "rates", r);

  json_t *cl = json_object();
  ockami_histogram empty = {0};
  const ockami_histogram *h = z ? &z->commit_latency : &empty;
  set_u64(cl, "count", h->count);
  set_real(cl, "sum_ms", (double)h->sum_us / 1000.0);
  set_real(cl, "mean_ms", h->count ? (double)h->sum_us / 1000.0 / (double)h->count : 0);
  set_real(cl, "p50_ms", (double)ockami_histogram_quantile_us(h, 0.5) / 1000.0);
  set_real(cl, "p99_ms", (double)ockami_histogram_quantile_us(h, 0.99) / 1000.0);
  json_t *b = json_array();
  uint64_t cum = 0;
  for (size_t i = 0; i <= OCKAMI_LATENCY_BUCKETS; i++) {
    cum += h->counts[i];
    json_t *e = json_object();
    if (i < OCKAMI_LATENCY_BUCKETS)
      json_object_set_new(e, "le_ms", json_real((double)ockami_latency_bounds_us[i] / 1000.0));
    else
      json_object_set_new(e, "le_ms", json_null());
    set_u64(e, "count", cum);
    json_array_append_new(b, e);
  }
  json_object_set_new(cl, "buckets", b);
  json_object_set_new(o, "commit_latency", cl);
  return o;
}

static size_t json_size(const json_t *j) {
  return json_dumpb(j, NULL, 0, JSON_COMPACT | JSON_REAL_PRECISION(12));
}

/* Appends streams (sorted, from `from`) to doc's "list" while the document
 * stays under cap and at most max of them; sets "next_after" when some are
 * left. */
static void add_stream_page(json_t *doc, ockami_stream **v, size_t n, size_t from, size_t cap,
                            size_t max, bool with_consumers) {
  json_t *list = json_array();
  json_object_set_new(doc, "list", list);
  size_t used = json_size(doc) + PAGE_MARGIN;
  size_t i = from, added = 0;
  for (; i < n && added < max; i++) {
    json_t *e = stream_json(v[i], with_consumers);
    size_t sz = json_size(e) + 1;
    if (used + sz > cap) {
      json_decref(e);
      break;
    }
    json_array_append_new(list, e);
    used += sz;
    added++;
  }
  if (i < n && added > 0) {
    const ockami_stream *last = v[i - 1];
    char buf[2 * OCKAM_NAME_MAX + 1];
    hex_of((const uint8_t *)last->name, last->name_len, buf);
    json_object_set_new(doc, "next_after_hex", json_string(buf));
  }
  set_u64(doc, "total", n);
  set_u64(doc, "omitted", n - from - added);
}

char *ockami_status_document(ockami_stats *s, ockami_status_kind kind, const char *name,
                             size_t name_len, size_t cap, size_t *len) {
  ockami_stream_service *svc = s->parts.streams;
  json_t *doc = NULL;
  if (kind == OCKAMI_STATUS_HUB || kind == OCKAMI_STATUS_FULL) {
    doc = hub_json(s);
    if (kind == OCKAMI_STATUS_FULL) {
      size_t n;
      ockami_stream **v = sorted_streams(svc, &n);
      json_t *page = json_object();
      json_object_set_new(doc, "stream_list", page);
      add_stream_page(page, v, n, 0, SIZE_MAX / 2, OCKAMI_STATS_EXPORT_STREAMS_MAX, true);
      free(v);
    }
  } else if (kind == OCKAMI_STATUS_STREAMS) {
    doc = json_object();
    size_t n;
    ockami_stream **v = sorted_streams(svc, &n);
    size_t from = 0;
    if (name && name_len) {
      /* The first stream after `name`. */
      while (from < n) {
        const ockami_stream *st = v[from];
        size_t m = st->name_len < name_len ? st->name_len : name_len;
        int c = memcmp(st->name, name, m);
        if (c > 0 || (c == 0 && st->name_len > name_len)) break;
        from++;
      }
    }
    add_stream_page(doc, v, n, from, cap, SIZE_MAX, false);
    free(v);
  } else {
    ockami_stream *st = svc && name ? ockami_map_get(&svc->streams, name, name_len) : NULL;
    if (st) {
      doc = json_object();
      json_object_set_new(doc, "stream", stream_json(st, true));
    } else {
      doc = json_pack("{s:s}", "error", "Stream not found");
    }
  }
  if (!doc) return NULL;
  char *out = json_dumps(doc, JSON_COMPACT | JSON_REAL_PRECISION(12));
  json_decref(doc);
  if (!out) return NULL;
  *len = strlen(out);
  return out;
}

/* ---- Prometheus text exposition ------------------------------------------------- */

/* A label value: backslash, double quote and newline escaped; names that are
 * not displayable as "0x" ‖ hex. */
static void put_label(FILE *f, const uint8_t *p, size_t len) {
  char buf[2 * OCKAM_NAME_MAX + 3];
  bool is_hex;
  display_name(p, len, buf, &is_hex);
  for (const char *c = buf; *c; c++) {
    if (*c == '\\' || *c == '"') fputc('\\', f);
    fputc(*c, f);
  }
}

static void metric(FILE *f, const char *name, const char *type, const char *help, double v) {
  fprintf(f, "# HELP %s %s\n# TYPE %s %s\n%s %.17g\n", name, help, name, type, name, v);
}

#define COUNTER(f, n, help, v) metric(f, "ockam_hub_" n "_total", "counter", help, (double)(v))
#define GAUGE(f, n, help, v) metric(f, "ockam_hub_" n, "gauge", help, (double)(v))

char *ockami_status_metrics(ockami_stats *s, size_t *len) {
  char *text = NULL;
  size_t size = 0;
  FILE *f = open_memstream(&text, &size);
  if (!f) return NULL;
  ockami_stream_service *svc = s->parts.streams;
  ockami_stream_stats empty_z = {0};
  const ockami_stream_stats *z = svc ? &svc->stats : &empty_z;
  sources src;
  read_sources(s, &src);

  GAUGE(f, "uptime_seconds", "Seconds since the hub started.",
        (double)(src.now - s->started_ms) / 1000.0);
  GAUGE(f, "connections", "Open TCP connections.", src.t.open_connections);
  COUNTER(f, "connections_accepted", "TCP connections accepted.", src.t.accepted);
  COUNTER(f, "connections_rejected", "TCP connections refused over a connection cap.",
          src.t.rejected + src.t.rejected_per_ip);
  COUNTER(f, "frames_received", "TCP frames received.", src.t.frames_in);
  COUNTER(f, "frames_sent", "TCP frames sent.", src.t.frames_out);
  COUNTER(f, "received_bytes", "Bytes received over TCP.", src.t.bytes_in);
  COUNTER(f, "sent_bytes", "Bytes sent over TCP.", src.t.bytes_out);
  COUNTER(f, "frames_dropped", "Frames dropped: queue or output budget full.",
          src.t.dropped + src.t.dropped_budget);
  COUNTER(f, "malformed_frames", "Connections closed for a frame that did not decode.",
          src.t.malformed);
  GAUGE(f, "forwarders", "Live forwarders.", src.fwd_live);
  COUNTER(f, "forwarders_refused", "Forwarder registrations refused by a limit.", src.fwd_refused);
  GAUGE(f, "streams", "Streams the hub serves.", svc ? svc->streams.count : 0);
  GAUGE(f, "storage_bytes", "Bytes kept in streams (last store listing).", s->storage_bytes);
  GAUGE(f, "stored_messages", "Messages kept in streams (last store listing).", s->stored_messages);
  COUNTER(f, "pushes", "Stream pushes received.", z->pushes);
  COUNTER(f, "push_bytes", "Message bytes of accepted pushes.", z->push_bytes);
  COUNTER(f, "pushes_refused", "Pushes refused (size, backpressure, quota).", z->pushes_refused);
  COUNTER(f, "push_errors", "Pushes whose append failed.", z->push_errors);
  COUNTER(f, "confirms", "Pushes confirmed durable.", z->confirms);
  COUNTER(f, "pulls", "Stream pulls received.", z->pulls);
  COUNTER(f, "pulled_messages", "Messages sent in pull responses.", z->pulled);
  COUNTER(f, "index_saves", "Consumer index saves.", z->index_saves);
  COUNTER(f, "stream_creates", "Stream create requests.", z->creates);
  COUNTER(f, "stream_deletes", "Streams deleted.", svc ? svc->deletes : 0);
  COUNTER(f, "invalid_requests", "Stream requests that did not decode.", z->invalid);
  COUNTER(f, "denied_requests", "Requests refused by access control.",
          s->parts.authz ? s->parts.authz->stats.denied : 0);
  COUNTER(f, "over_quota", "Requests refused by a per-connection quota.", z->over_quota);
  GAUGE(f, "consumers", "Consumers (client id, stream) tracked.", z->consumers);

  const ockami_histogram *h = &z->commit_latency;
  fprintf(f,
          "# HELP ockam_hub_commit_latency_seconds Time from an accepted push to its durable "
          "commit.\n# TYPE ockam_hub_commit_latency_seconds histogram\n");
  uint64_t cum = 0;
  for (size_t i = 0; i < OCKAMI_LATENCY_BUCKETS; i++) {
    cum += h->counts[i];
    fprintf(f, "ockam_hub_commit_latency_seconds_bucket{le=\"%g\"} %" PRIu64 "\n",
            (double)ockami_latency_bounds_us[i] / 1e6, cum);
  }
  fprintf(f, "ockam_hub_commit_latency_seconds_bucket{le=\"+Inf\"} %" PRIu64 "\n", h->count);
  fprintf(f, "ockam_hub_commit_latency_seconds_sum %.6f\n", (double)h->sum_us / 1e6);
  fprintf(f, "ockam_hub_commit_latency_seconds_count %" PRIu64 "\n", h->count);

  /* Per stream: the first streams in name order. */
  size_t n;
  ockami_stream **v = sorted_streams(svc, &n);
  size_t shown = n < OCKAMI_STATS_EXPORT_STREAMS_MAX ? n : OCKAMI_STATS_EXPORT_STREAMS_MAX;
  GAUGE(f, "streams_not_exported", "Streams left out of the per-stream series below.", n - shown);
  static const struct {
    const char *name, *type, *help;
  } series[] = {
      {"ockam_stream_messages", "gauge", "Messages kept in the stream."},
      {"ockam_stream_bytes", "gauge", "Bytes kept in the stream."},
      {"ockam_stream_first_index", "gauge", "Index of the oldest message kept."},
      {"ockam_stream_next_index", "gauge", "Index the next message will get."},
      {"ockam_stream_pushes_total", "counter", "Pushes to the stream."},
      {"ockam_stream_pulled_messages_total", "counter", "Messages pulled from the stream."},
  };
  for (size_t k = 0; k < sizeof series / sizeof series[0]; k++) {
    fprintf(f, "# HELP %s %s\n# TYPE %s %s\n", series[k].name, series[k].help, series[k].name,
            series[k].type);
    for (size_t i = 0; i < shown; i++) {
      const ockami_stream *st = v[i];
      uint64_t end = stream_end(st), first = st->fig.listed ? st->fig.first : 0;
      if (first > end) first = end;
      uint64_t val[] = {end - first, st->fig.bytes, first, end, st->fig.pushes, st->fig.pulled};
      fprintf(f, "%s{stream=\"", series[k].name);
      put_label(f, (const uint8_t *)st->name, st->name_len);
      fprintf(f, "\"} %" PRIu64 "\n", val[k]);
    }
  }
  fprintf(f,
          "# HELP ockam_stream_consumer_lag Messages between a consumer's saved index and the "
          "stream's end.\n# TYPE ockam_stream_consumer_lag gauge\n");
  for (size_t i = 0; i < shown; i++) {
    const ockami_stream *st = v[i];
    uint64_t end = stream_end(st);
    for (const ockami_consumer *c = st->fig.consumers; c; c = c->next) {
      fprintf(f, "ockam_stream_consumer_lag{stream=\"");
      put_label(f, (const uint8_t *)st->name, st->name_len);
      fprintf(f, "\",client=\"");
      put_label(f, (const uint8_t *)c->client, c->client_len);
      fprintf(f, "\"} %" PRIu64 "\n", end > c->index ? end - c->index : 0);
    }
  }
  free(v);
  if (fclose(f) != 0) {
    free(text);
    return NULL;
  }
  *len = size;
  return text;
}

/* ---- the service ------------------------------------------------------------------ */

struct ockami_status_waiter {
  ockami_status_waiter *next;
  uint64_t need; /* answered once this listing completed */
  ockam_route reply;
  ockami_status_kind kind;
  size_t name_len;
  char name[OCKAM_NAME_MAX];
};

static bool reply_ok(ockami_stats *s, const ockam_route *to) {
  ockam_address a;
  if (!ockami_route_first(to, &a)) return false;
  if (a.type != OCKAM_ADDRESS_LOCAL) return true;
  /* A reply that comes back as a request would loop inside the hub. */
  if (ockami_address_is(&a, OCKAM_ADDRESS_LOCAL, STATUS_ADDRESS)) return false;
  if (s->parts.streams) return ockami_stream_reply_ok(s->parts.streams, to);
  return !ockami_address_is(&a, OCKAM_ADDRESS_LOCAL, "echo_service");
}

static void send_text(ockami_stats *s, const ockam_route *to, const char *text, size_t len) {
  int rc = ockam_send(s->node, STATUS_ADDRESS, to, (const uint8_t *)text, len);
  if (rc) LOG_DEBUG(MOD, "cannot send a status reply: %s", ockam_strerror(rc));
}

static void send_error(ockami_stats *s, const ockam_route *to, const char *reason) {
  json_t *doc = json_pack("{s:s}", "error", reason);
  char *text = doc ? json_dumps(doc, JSON_COMPACT | JSON_REAL_PRECISION(12)) : NULL;
  if (text) send_text(s, to, text, strlen(text));
  free(text);
  json_decref(doc);
}

static void answer(ockami_stats *s, const ockam_route *to, ockami_status_kind kind,
                   const char *name, size_t name_len) {
  size_t len = 0;
  char *text = ockami_status_document(s, kind, name, name_len, OCKAM_STREAM_STORED_MAX, &len);
  if (!text) {
    send_error(s, to, "Out of memory");
    return;
  }
  if (len > OCKAM_STREAM_STORED_MAX)
    send_error(s, to, "Reply too large");
  else
    send_text(s, to, text, len);
  free(text);
}

void ockami_status_listed(ockami_stats *s) {
  /* Waiters that arrived while this listing ran wait for the next one: it
   * may have read a stream before the push their client saw confirmed. */
  ockami_status_waiter **pp = &s->waiters;
  while (*pp) {
    ockami_status_waiter *w = *pp;
    if (!s->detached && s->listing_ok && w->need > s->list_done) {
      pp = &w->next;
      continue;
    }
    *pp = w->next;
    s->nwaiters--;
    if (!s->detached) answer(s, &w->reply, w->kind, w->name, w->name_len);
    ockami_route_release(&w->reply);
    free(w);
  }
  if (s->waiters && !ockami_stats_refresh(s)) ockami_status_listed(s);
  if (s->http && !s->detached) {
    size_t mlen = 0, slen = 0;
    char *m = ockami_status_metrics(s, &mlen);
    char *j = ockami_status_document(s, OCKAMI_STATUS_FULL, NULL, 0, SIZE_MAX, &slen);
    if (m && j) ockami_http_publish(s->http, m, mlen, j, slen);
    free(m);
    free(j);
  }
}

/* Reads the request: {"get": "hub"|"streams"|"stream", "name": ..., "name_hex": ...,
 * "after_hex": ...}. Returns an error reason or NULL. */
const char *ockami_status_parse_request(const uint8_t *p, size_t len, ockami_status_kind *kind,
                                        char *name, size_t *name_len) {
  *kind = OCKAMI_STATUS_HUB;
  *name_len = 0;
  if (len == 0) return NULL;
  if (len > REQUEST_MAX) return "Request too large";
  json_error_t err;
  json_t *req = json_loadb((const char *)p, len, JSON_REJECT_DUPLICATES, &err);
  if (!req || !json_is_object(req)) {
    json_decref(req);
    return "Invalid request";
  }
  const char *why = NULL;
  const char *get = json_string_value(json_object_get(req, "get"));
  if (!get || !strcmp(get, "hub")) {
    *kind = OCKAMI_STATUS_HUB;
  } else if (!strcmp(get, "streams")) {
    *kind = OCKAMI_STATUS_STREAMS;
  } else if (!strcmp(get, "stream")) {
    *kind = OCKAMI_STATUS_STREAM;
  } else {
    why = "Unknown request";
  }
  json_t *nm = json_object_get(req, "name");
  const char *hexkey = *kind == OCKAMI_STATUS_STREAMS ? "after_hex" : "name_hex";
  json_t *hx = json_object_get(req, hexkey);
  if (!why && json_is_string(nm)) {
    size_t n = json_string_length(nm);
    if (n == 0 || n > OCKAM_NAME_MAX)
      why = "Invalid name";
    else {
      memcpy(name, json_string_value(nm), n);
      *name_len = n;
    }
  } else if (!why && json_is_string(hx)) {
    const char *h = json_string_value(hx);
    size_t n = json_string_length(hx);
    if (n % 2 || n / 2 > OCKAM_NAME_MAX) {
      why = "Invalid name";
    } else {
      for (size_t i = 0; i < n / 2 && !why; i++) {
        int hi = hexval(h[2 * i]), lo = hexval(h[2 * i + 1]);
        if (hi < 0 || lo < 0)
          why = "Invalid name";
        else
          name[i] = (char)(hi << 4 | lo);
      }
      *name_len = n / 2;
    }
  }
  if (!why && *kind == OCKAMI_STATUS_STREAM && *name_len == 0) why = "Missing name";
  json_decref(req);
  return why;
}

static int status_handle(ockam_worker *w, ockam_message *m) {
  ockami_stats *s = ockam_worker_user(w);
  if (!s || s->detached) return OCKAM_OK;
  const ockam_route *ret = ockam_message_return(m);
  if (!reply_ok(s, ret)) return OCKAM_OK;
  s->status_requests++;
  char id[OCKAM_IDENTIFIER_BUF];
  const char *requester = ockami_authz_requester(m, id);
  if (!ockami_authz_check(s->parts.authz, requester, OCKAMI_ACL_STATUS, NULL, 0, STATUS_ADDRESS)) {
    send_error(s, ret, OCKAMI_AUTHZ_DENIED);
    return OCKAM_OK;
  }
  size_t len;
  const uint8_t *p = ockam_message_payload(m, &len);
  ockami_status_waiter req = {0};
  const char *why = ockami_status_parse_request(p, len, &req.kind, req.name, &req.name_len);
  if (why) {
    send_error(s, ret, why);
    return OCKAM_OK;
  }
  if (s->nwaiters >= OCKAMI_STATS_WAITERS_MAX || !s->parts.streams) {
    answer(s, ret, req.kind, req.name, req.name_len);
    return OCKAM_OK;
  }
  /* Answer with the store's figures once a listing completes. */
  ockami_status_waiter *wt = calloc(1, sizeof *wt);
  if (!wt || ockami_route_assign(&wt->reply, ret)) {
    free(wt);
    answer(s, ret, req.kind, req.name, req.name_len);
    return OCKAM_OK;
  }
  wt->need = s->list_started + 1;
  wt->kind = req.kind;
  wt->name_len = req.name_len;
  memcpy(wt->name, req.name, req.name_len);
  wt->next = s->waiters;
  s->waiters = wt;
  s->nwaiters++;
  if (!ockami_stats_refresh(s)) ockami_status_listed(s);
  return OCKAM_OK;
}

static void status_stopped(ockam_worker *w) {
  ockami_stats *s = ockam_worker_user(w);
  if (s) s->worker = NULL;
}

static const ockam_worker_ops status_ops = {status_handle, status_stopped};

int ockami_status_service_start(ockami_stats *s) {
  const char *addrs[1] = {STATUS_ADDRESS};
  return ockam_worker_start(s->node, addrs, 1, &status_ops, s, &s->worker);
}

void ockami_status_service_stop(ockami_stats *s) {
  if (s->worker) {
    ockam_worker *w = s->worker;
    s->worker = NULL;
    ockam_worker_stop(w);
    ockami_worker_set_user(w, NULL);
  }
  /* Waiters get nothing: the hub is stopping. */
  while (s->waiters) {
    ockami_status_waiter *w = s->waiters;
    s->waiters = w->next;
    ockami_route_release(&w->reply);
    free(w);
  }
  s->nwaiters = 0;
}
