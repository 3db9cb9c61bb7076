/* The hub's HTTP listener (stats.h): libmicrohttpd on a thread of its own.
 *
 * The node is single-threaded, so the HTTP thread never touches hub state:
 * the loop publishes finished documents (the Prometheus text and the JSON
 * status) into a mutex-protected snapshot after each store listing (every
 * second), and the HTTP thread answers from copies of it. /healthz is 200
 * while the loop keeps publishing and 503 once the last snapshot is older
 * than HEALTH_STALE_MS (a stuck loop). The dashboard page is compiled in
 * (dashboard.html, embedded at build time).
 */
#include <arpa/inet.h>
#include <microhttpd.h>
#include <netdb.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "log.h"
#include "ockam/error.h"
#include "stats.h"

#define MOD "http"
#define HEALTH_STALE_MS 5000u
#define HTTP_CONNECTIONS_MAX 64u
#define HTTP_TIMEOUT_S 10u

extern const char ockami_dashboard_html[];
extern const size_t ockami_dashboard_html_len;

struct ockami_http {
  struct MHD_Daemon *daemon;
  pthread_mutex_t lock;
  char *metrics; /* guarded by lock, as are the fields below */
  size_t metrics_len;
  char *status;
  size_t status_len;
  uint64_t published_ms; /* monotonic; 0 = never */
};

static uint64_t mono_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static enum MHD_Result reply(struct MHD_Connection *conn, unsigned code, const char *type,
                             const void *body, size_t len) {
  struct MHD_Response *r =
      MHD_create_response_from_buffer(len, (void *)body, MHD_RESPMEM_MUST_COPY);
  if (!r) return MHD_NO;
  MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type);
  MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
  MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
  enum MHD_Result ret = MHD_queue_response(conn, code, r);
  MHD_destroy_response(r);
  return ret;
}

static enum MHD_Result reply_text(struct MHD_Connection *conn, unsigned code, const char *text) {
  return reply(conn, code, "text/plain; charset=utf-8", text, strlen(text));
}

/* Answers with a copy of one snapshot document. */
static enum MHD_Result reply_snapshot(ockami_http *h, struct MHD_Connection *conn, bool metrics) {
  pthread_mutex_lock(&h->lock);
  const char *body = metrics ? h->metrics : h->status;
  size_t len = metrics ? h->metrics_len : h->status_len;
  enum MHD_Result ret;
  if (!body)
    ret = reply_text(conn, MHD_HTTP_SERVICE_UNAVAILABLE, "no figures yet\n");
  else
    ret =
        reply(conn, MHD_HTTP_OK,
              metrics ? "text/plain; version=0.0.4; charset=utf-8" : "application/json", body, len);
  pthread_mutex_unlock(&h->lock);
  return ret;
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *conn, const char *url,
                              const char *method, const char *version, const char *upload_data,
                              size_t *upload_data_size, void **con_cls) {
  (void)version;
  (void)upload_data;
  (void)con_cls;
  ockami_http *h = cls;
  if (strcmp(method, MHD_HTTP_METHOD_GET) != 0 && strcmp(method, MHD_HTTP_METHOD_HEAD) != 0)
    return reply_text(conn, MHD_HTTP_METHOD_NOT_ALLOWED, "only GET\n");
  if (*upload_data_size) return reply_text(conn, MHD_HTTP_BAD_REQUEST, "no body expected\n");
  if (!strcmp(url, "/metrics")) return reply_snapshot(h, conn, true);
  if (!strcmp(url, "/api/status")) return reply_snapshot(h, conn, false);
  if (!strcmp(url, "/healthz")) {
    pthread_mutex_lock(&h->lock);
    uint64_t at = h->published_ms;
    pthread_mutex_unlock(&h->lock);
    bool ok = at && mono_ms() - at <= HEALTH_STALE_MS;
    return reply_text(conn, ok ? MHD_HTTP_OK : MHD_HTTP_SERVICE_UNAVAILABLE,
                      ok ? "ok\n" : "stalled\n");
  }
  if (!strcmp(url, "/") || !strcmp(url, "/index.html"))
    return reply(conn, MHD_HTTP_OK, "text/html; charset=utf-8", ockami_dashboard_html,
                 ockami_dashboard_html_len);
  return reply_text(conn, MHD_HTTP_NOT_FOUND, "not found\n");
}

/* "host:port" or "[v6]:port", numeric host or a name resolved once. */
static int resolve(const char *host_port, struct sockaddr_storage *ss, socklen_t *sl) {
  char host[256];
  const char *colon = strrchr(host_port, ':');
  if (!colon || colon == host_port || !colon[1]) return OCKAM_EADDR;
  size_t hl = (size_t)(colon - host_port);
  const char *h = host_port;
  if (h[0] == '[' && hl >= 2 && h[hl - 1] == ']') {
    h++;
    hl -= 2;
  }
  if (hl == 0 || hl >= sizeof host) return OCKAM_EADDR;
  memcpy(host, h, hl);
  host[hl] = '\0';
  struct addrinfo hints = {0}, *res = NULL;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_NUMERICSERV;
  if (getaddrinfo(host, colon + 1, &hints, &res) != 0 || !res) return OCKAM_EADDR;
  memcpy(ss, res->ai_addr, res->ai_addrlen);
  *sl = res->ai_addrlen;
  freeaddrinfo(res);
  return OCKAM_OK;
}

static bool is_loopback(const struct sockaddr_storage *ss) {
  if (ss->ss_family == AF_INET)
    return (ntohl(((const struct sockaddr_in *)ss)->sin_addr.s_addr) >> 24) == 127;
  if (ss->ss_family == AF_INET6)
    return IN6_IS_ADDR_LOOPBACK(&((const struct sockaddr_in6 *)ss)->sin6_addr);
  return false;
}

int ockami_http_start(const char *host_port, ockami_http **out) {
  struct sockaddr_storage ss;
  socklen_t sl = 0;
  int rc = resolve(host_port, &ss, &sl);
  if (rc) {
    LOG_ERROR(MOD, "bad --http address '%s' (HOST:PORT)", host_port);
    return rc;
  }
  ockami_http *h = calloc(1, sizeof *h);
  if (!h) return OCKAM_ENOMEM;
  pthread_mutex_init(&h->lock, NULL);
  unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_POLL;
  if (ss.ss_family == AF_INET6) flags |= MHD_USE_IPv6;
  uint16_t port = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
                                                 : ((struct sockaddr_in *)&ss)->sin_port);
  h->daemon = MHD_start_daemon(flags, port, NULL, NULL, handle, h, MHD_OPTION_SOCK_ADDR,
                               (struct sockaddr *)&ss, MHD_OPTION_CONNECTION_LIMIT,
                               (unsigned)HTTP_CONNECTIONS_MAX, MHD_OPTION_CONNECTION_TIMEOUT,
                               (unsigned)HTTP_TIMEOUT_S, MHD_OPTION_END);
  if (!h->daemon) {
    LOG_ERROR(MOD, "cannot listen for HTTP on %s (address in use?)", host_port);
    pthread_mutex_destroy(&h->lock);
    free(h);
    return OCKAM_EEXIST;
  }
  if (!is_loopback(&ss))
    LOG_WARN(MOD, "HTTP on %s is not loopback: anyone who reaches it reads the hub's figures",
             host_port);
  LOG_INFO(MOD, "HTTP on %s: /metrics /healthz /api/status and the dashboard at /", host_port);
  *out = h;
  return OCKAM_OK;
}

void ockami_http_publish(ockami_http *h, const char *metrics, size_t metrics_len,
                         const char *status, size_t status_len) {
  char *m = malloc(metrics_len + 1), *s = malloc(status_len + 1);
  if (!m || !s) {
    free(m);
    free(s);
    return;
  }
  memcpy(m, metrics, metrics_len);
  m[metrics_len] = '\0';
  memcpy(s, status, status_len);
  s[status_len] = '\0';
  pthread_mutex_lock(&h->lock);
  char *old_m = h->metrics, *old_s = h->status;
  h->metrics = m;
  h->metrics_len = metrics_len;
  h->status = s;
  h->status_len = status_len;
  h->published_ms = mono_ms();
  pthread_mutex_unlock(&h->lock);
  free(old_m);
  free(old_s);
}

void ockami_http_stop(ockami_http *h) {
  if (!h) return;
  MHD_stop_daemon(h->daemon); /* joins the thread */
  pthread_mutex_destroy(&h->lock);
  free(h->metrics);
  free(h->status);
  free(h);
}
