/* Hub statistics (stats.h): the histogram, consumer tracking, the rates
 * tick, the store listing, and the start and stop of the status service and
 * the HTTP listener. */
#include "stats.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "hub_internal.h"
#include "log.h"
#include "node.h"
#include "stream_internal.h"

#define MOD "stats"

/* 0.5 ms .. 2.5 s: a group commit takes from tens of microseconds (no
 * fsync) to tens of milliseconds (fsync on a busy disk, a JetStream quorum). */
const uint64_t ockami_latency_bounds_us[OCKAMI_LATENCY_BUCKETS] = {
    100, 250, 500, 1000, 2500, 5000, 10000, 25000, 50000, 100000, 250000, 1000000, 2500000};

void ockami_histogram_observe(ockami_histogram *h, uint64_t us) {
  size_t i = 0;
  while (i < OCKAMI_LATENCY_BUCKETS && us > ockami_latency_bounds_us[i]) i++;
  h->counts[i]++;
  h->count++;
  h->sum_us += us;
}

uint64_t ockami_histogram_quantile_us(const ockami_histogram *h, double q) {
  if (h->count == 0) return 0;
  uint64_t want = (uint64_t)((double)h->count * q);
  if (want == 0) want = 1;
  uint64_t seen = 0;
  for (size_t i = 0; i < OCKAMI_LATENCY_BUCKETS; i++) {
    if (seen + h->counts[i] >= want) {
      /* Linear within the bucket, as Prometheus' histogram_quantile does. */
      uint64_t lo = i ? ockami_latency_bounds_us[i - 1] : 0, hi = ockami_latency_bounds_us[i];
      return lo + (uint64_t)((double)(hi - lo) * (double)(want - seen) / (double)h->counts[i]);
    }
    seen += h->counts[i];
  }
  /* In +Inf: report the largest finite bound. */
  return ockami_latency_bounds_us[OCKAMI_LATENCY_BUCKETS - 1];
}

/* ---- consumers ---------------------------------------------------------------- */

void ockami_stats_consumer(ockami_stream_service *svc, ockami_stream *st, const char *client,
                           size_t client_len, uint64_t index) {
  if (!svc || !st || client_len == 0 || client_len > OCKAM_NAME_MAX) return;
  ockami_stream_figures *f = &st->fig;
  uint64_t now = ockam_node_now_ms(svc->node);
  ockami_consumer *oldest = NULL;
  for (ockami_consumer *c = f->consumers; c; c = c->next) {
    if (c->client_len == client_len && memcmp(c->client, client, client_len) == 0) {
      if (index > c->index) c->index = index;
      c->updated_ms = now;
      return;
    }
    if (!oldest || c->updated_ms < oldest->updated_ms) oldest = c;
  }
  if (f->nconsumers >= OCKAMI_STATS_CONSUMERS_PER_STREAM && oldest) {
    /* Replace the least recently active consumer (same size class). */
    ockami_consumer **pp = &f->consumers;
    while (*pp != oldest) pp = &(*pp)->next;
    *pp = oldest->next;
    free(oldest);
    f->nconsumers--;
    svc->stats.consumers--;
  }
  if (svc->stats.consumers >= OCKAMI_STATS_CONSUMERS_MAX) {
    svc->stats.consumers_untracked++;
    return;
  }
  ockami_consumer *c = malloc(sizeof *c + client_len + 1);
  if (!c) return;
  memcpy(c->client, client, client_len);
  c->client[client_len] = '\0';
  c->client_len = client_len;
  c->index = index;
  c->updated_ms = now;
  c->next = f->consumers;
  f->consumers = c;
  f->nconsumers++;
  svc->stats.consumers++;
}

void ockami_stats_stream_free(ockami_stream_service *svc, ockami_stream *st) {
  ockami_stream_figures *f = &st->fig;
  while (f->consumers) {
    ockami_consumer *c = f->consumers;
    f->consumers = c->next;
    free(c);
    if (svc && svc->stats.consumers) svc->stats.consumers--;
  }
  f->nconsumers = 0;
}

/* ---- store listing -------------------------------------------------------------- */

static void listed_cb(void *arg, int status, const ockami_stream_info *streams, size_t count);

static bool list_next_page(ockami_stats *s) {
  ockami_stream_service *svc = s->parts.streams;
  int rc = ockami_store_stream_list(svc->store, (const char *)s->list_after, s->list_after_len,
                                    OCKAMI_STORE_LIST_MAX, listed_cb, s);
  if (rc) {
    LOG_DEBUG(MOD, "cannot list streams: %s", ockam_strerror(rc));
    return false;
  }
  s->listing = true;
  return true;
}

static void listing_done(ockami_stats *s) {
  s->listing = false;
  s->list_done = s->list_started;
  s->listed_ms = ockam_node_now_ms(s->node);
  s->storage_bytes = s->acc_bytes;
  s->stored_messages = s->acc_messages;
  ockami_status_listed(s);
}

static void listed_cb(void *arg, int status, const ockami_stream_info *streams, size_t count) {
  ockami_stats *s = arg;
  s->listing = false;
  if (s->detached) return; /* the stream service is stopping */
  ockami_stream_service *svc = s->parts.streams;
  if (status) {
    LOG_DEBUG(MOD, "cannot list streams: %s", ockam_strerror(status));
    listing_done(s); /* answer with what is known */
    return;
  }
  for (size_t i = 0; i < count; i++) {
    const ockami_stream_info *in = &streams[i];
    s->acc_bytes += in->bytes;
    s->acc_messages += in->next - in->first;
    ockami_stream *st = ockami_map_get(&svc->streams, in->name, in->name_len);
    if (!st) continue;
    st->fig.listed = true;
    st->fig.first = in->first;
    st->fig.next = in->next;
    st->fig.bytes = in->bytes;
    st->fig.last_append_ms = in->last_append_ms;
  }
  if (count == OCKAMI_STORE_LIST_MAX) {
    s->list_after_len = streams[count - 1].name_len;
    memcpy(s->list_after, streams[count - 1].name, s->list_after_len);
    if (list_next_page(s)) return;
  }
  listing_done(s);
}

bool ockami_stats_refresh(ockami_stats *s) {
  ockami_stream_service *svc = s->parts.streams;
  if (s->detached || !svc || !svc->store) return false;
  if (s->listing) return true;
  s->list_after_len = 0;
  s->acc_bytes = s->acc_messages = 0;
  s->list_started++;
  s->listing_ok = list_next_page(s);
  if (!s->listing_ok) s->list_done = s->list_started;
  return s->listing_ok;
}

/* ---- rates ------------------------------------------------------------------------ */

static void tick(void *arg) {
  ockami_stats *s = arg;
  uint64_t now = ockam_node_now_ms(s->node);
  double dt = (double)(now - s->prev_ms) / 1000.0;
  if (dt <= 0) return;
  ockam_tcp_stats t;
  ockam_tcp_get_stats(s->parts.tcp, &t);
  ockami_stream_service *svc = s->parts.streams;
  const ockami_stream_stats *z = svc ? &svc->stats : NULL;
  double cur[9] = {z ? (double)z->pushes : 0,   z ? (double)z->push_bytes : 0,
                   z ? (double)z->confirms : 0, z ? (double)z->pulls : 0,
                   z ? (double)z->pulled : 0,   (double)t.frames_in,
                   (double)t.frames_out,        (double)t.bytes_in,
                   (double)t.bytes_out};
  double r[9];
  for (size_t i = 0; i < 9; i++) {
    r[i] = cur[i] >= s->prev[i] ? (cur[i] - s->prev[i]) / dt : 0;
    s->prev[i] = cur[i];
  }
  s->rates = (ockami_rates){r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7], r[8]};
  s->prev_ms = now;
  if (svc) {
    size_t bucket = 0;
    ockami_map_entry *e = NULL;
    while ((e = ockami_map_next(&svc->streams, &bucket, e))) {
      ockami_stream_figures *f = &((ockami_stream *)e->value)->fig;
      f->push_rate = (double)(f->pushes - f->prev_pushes) / dt;
      f->pull_rate = (double)(f->pulled - f->prev_pulled) / dt;
      f->prev_pushes = f->pushes;
      f->prev_pulled = f->pulled;
    }
  }
  /* The HTTP listener serves a snapshot made after each listing. */
  if (s->http && !ockami_stats_refresh(s)) ockami_status_listed(s);
}

/* ---- start / stop -------------------------------------------------------------------- */

static uint64_t realtime_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

int ockami_stats_start(ockam_node *node, const ockam_hub_options *opts,
                       const ockami_stats_parts *parts, ockami_stats **out) {
  ockami_stats *s = calloc(1, sizeof *s);
  if (!s) return OCKAM_ENOMEM;
  s->node = node;
  s->parts = *parts;
  snprintf(s->listen, sizeof s->listen, "%s", parts->listen ? parts->listen : "");
  snprintf(s->store, sizeof s->store, "%s", parts->store ? parts->store : "none");
  s->parts.listen = s->listen;
  s->parts.store = s->store;
  s->started_real_ms = realtime_ms();
  s->started_ms = s->prev_ms = ockam_node_now_ms(node);
  int rc = ockami_status_service_start(s);
  if (!rc)
    rc = ockam_timer_start(node, OCKAMI_STATS_TICK_MS, OCKAMI_STATS_TICK_MS, tick, s, &s->tick);
  if (!rc && opts->http_listen) {
    rc = ockami_http_start(opts->http_listen, &s->http);
    if (!rc) ockami_status_listed(s); /* a first snapshot at once */
  }
  if (rc) {
    ockami_stats_detach(s);
    ockami_stats_free(s);
    return rc;
  }
  *out = s;
  return OCKAM_OK;
}

void ockami_stats_detach(ockami_stats *s) {
  if (!s || s->detached) return;
  s->detached = true;
  if (s->tick) ockam_timer_stop(s->tick);
  s->tick = NULL;
  ockami_status_service_stop(s);
  if (s->http) ockami_http_stop(s->http);
  s->http = NULL;
}

void ockami_stats_free(ockami_stats *s) {
  if (!s) return;
  ockami_stats_detach(s);
  free(s);
}
