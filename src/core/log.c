#include "log.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "ockam/error.h"

volatile int ockami_log_threshold = -1; /* -1: not yet read from OCKAM_LOG */

static pthread_mutex_t sink_lock = PTHREAD_MUTEX_INITIALIZER;
static ockam_log_fn sink_fn;
static void *sink_user;

static const char *const level_names[] = {"DEBUG", "INFO", "WARN", "ERROR", "OFF"};

/* Rate limit (one mechanism for every line at INFO and above): lines with the
 * same format string (the same call site) are "similar". Each may print
 * OCKAMI_LOG_BURST lines per OCKAMI_LOG_WINDOW_MS; the rest are counted and
 * reported as one "N similar suppressed" line when its next window opens. A
 * small table keyed by the format pointer: a collision only starts a new
 * window early, after reporting what the evicted key suppressed. */
#define OCKAMI_LOG_BURST 10u
#define OCKAMI_LOG_WINDOW_MS 1000u
#define OCKAMI_LOG_SLOTS 64u

typedef struct log_slot {
  const char *fmt;
  const char *module;
  ockam_log_level level;
  uint64_t window_start;
  uint32_t in_window;
  uint64_t suppressed;
} log_slot;

static log_slot slots[OCKAMI_LOG_SLOTS]; /* guarded by sink_lock */
static uint64_t total_suppressed;        /* guarded by sink_lock */

int ockam_log_level_parse(const char *s, ockam_log_level *out) {
  static const char *const names[] = {"debug", "info", "warn", "error", "off"};
  if (!s || !out) return OCKAM_EINVAL;
  for (int i = 0; i <= OCKAM_LOG_OFF; i++) {
    if (strcasecmp(s, names[i]) == 0) {
      *out = (ockam_log_level)i;
      return OCKAM_OK;
    }
  }
  return OCKAM_EINVAL;
}

/* An embedding program hears only about problems unless it asks for more;
 * the hub sets INFO itself. */
static void threshold_init(void) {
  ockam_log_level lvl = OCKAM_LOG_WARN;
  const char *env = getenv("OCKAM_LOG");
  if (env && ockam_log_level_parse(env, &lvl) != OCKAM_OK) lvl = OCKAM_LOG_WARN;
  ockami_log_threshold = (int)lvl;
}

/* Runs before main() so the macro's cheap threshold check is right from the start. */
__attribute__((constructor)) static void log_ctor(void) {
  threshold_init();
}

void ockam_log_set_level(ockam_log_level level) {
  ockami_log_threshold = (int)level;
}

ockam_log_level ockam_log_get_level(void) {
  if (ockami_log_threshold < 0) threshold_init();
  return (ockam_log_level)ockami_log_threshold;
}

void ockam_log_set_sink(ockam_log_fn fn, void *user) {
  pthread_mutex_lock(&sink_lock);
  sink_fn = fn;
  sink_user = user;
  pthread_mutex_unlock(&sink_lock);
}

const char *ockam_log_level_name(ockam_log_level level) {
  return level_names[(unsigned)level > OCKAM_LOG_OFF ? OCKAM_LOG_OFF : level];
}

size_t ockam_log_timestamp(char *buf, size_t cap) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  struct tm tm;
  localtime_r(&ts.tv_sec, &tm);
  long off = tm.tm_gmtoff / 60;
  char sign = off < 0 ? '-' : '+';
  if (off < 0) off = -off;
  int n = snprintf(buf, cap, "%04d-%02d-%02dT%02d:%02d:%02d.%03ld%c%02ld:%02ld", tm.tm_year + 1900,
                   tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                   ts.tv_nsec / 1000000, sign, off / 60, off % 60);
  if (n < 0) n = 0;
  return (size_t)n < cap ? (size_t)n : (cap ? cap - 1 : 0);
}

/* Messages carry names a peer chose: a control byte (newline, ESC) would let
 * it start a forged line or drive the terminal, so each is shown as \xNN.
 * Writes at most cap - 1 bytes and a NUL (a cut never splits an escape). */
static void escape_into(const char *text, char *out, size_t cap) {
  static const char hexd[] = "0123456789abcdef";
  size_t n = 0;
  for (const unsigned char *p = (const unsigned char *)text; *p; p++) {
    bool ctl = *p < 0x20 || *p == 0x7f;
    if (n + (ctl ? 4 : 1) >= cap) break;
    if (ctl) {
      out[n++] = '\\';
      out[n++] = 'x';
      out[n++] = hexd[*p >> 4];
      out[n++] = hexd[*p & 15];
    } else {
      out[n++] = (char)*p;
    }
  }
  out[n] = '\0';
}

void ockam_log_stderr_sink(ockam_log_level level, const char *module, const char *message,
                           void *user) {
  (void)user;
  char when[40], mod[128], msg[4 * 1024 + 1];
  ockam_log_timestamp(when, sizeof when);
  escape_into(module ? module : "-", mod, sizeof mod);
  escape_into(message, msg, sizeof msg);
  fprintf(stderr, "%s %-5s %s: %s\n", when, ockam_log_level_name(level), mod, msg);
}

/* Called with sink_lock held. */
static void emit(ockam_log_level level, const char *module, const char *msg) {
  if (sink_fn)
    sink_fn(level, module, msg, sink_user);
  else
    ockam_log_stderr_sink(level, module, msg, NULL);
}

static uint64_t now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* Called with sink_lock held: report what a slot suppressed. */
static void slot_report(log_slot *s) {
  if (!s->suppressed) return;
  char msg[96];
  snprintf(msg, sizeof msg, "%llu similar messages suppressed", (unsigned long long)s->suppressed);
  emit(s->level, s->module, msg);
  s->suppressed = 0;
}

/* Called with sink_lock held: true when this line may be printed. */
static bool admit(ockam_log_level level, const char *module, const char *fmt) {
  if (level < OCKAM_LOG_INFO) return true;
  uint64_t now = now_ms();
  log_slot *s = &slots[((uintptr_t)fmt >> 3) % OCKAMI_LOG_SLOTS];
  if (s->fmt != fmt) {
    slot_report(s);
    *s = (log_slot){fmt, module, level, now, 0, 0};
  } else if (now - s->window_start >= OCKAMI_LOG_WINDOW_MS) {
    slot_report(s);
    s->window_start = now;
    s->in_window = 0;
  }
  if (s->in_window >= OCKAMI_LOG_BURST) {
    s->suppressed++;
    total_suppressed++;
    return false;
  }
  s->in_window++;
  return true;
}

void ockami_log(ockam_log_level level, const char *module, const char *fmt, ...) {
  if (ockami_log_threshold < 0) threshold_init();
  if ((int)level < ockami_log_threshold) return;
  pthread_mutex_lock(&sink_lock);
  bool ok = admit(level, module, fmt);
  pthread_mutex_unlock(&sink_lock);
  if (!ok) return;
  char msg[1024];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  pthread_mutex_lock(&sink_lock);
  emit(level, module, msg);
  pthread_mutex_unlock(&sink_lock);
}

uint64_t ockam_log_suppressed(void) {
  pthread_mutex_lock(&sink_lock);
  uint64_t n = total_suppressed;
  pthread_mutex_unlock(&sink_lock);
  return n;
}

void ockam_log_flush_suppressed(void) {
  pthread_mutex_lock(&sink_lock);
  for (size_t i = 0; i < OCKAMI_LOG_SLOTS; i++) slot_report(&slots[i]);
  pthread_mutex_unlock(&sink_lock);
}
