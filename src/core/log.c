#include "log.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ockam/error.h"

volatile int ockami_log_threshold = -1; /* -1: not yet read from OCKAM_LOG */

static pthread_mutex_t sink_lock = PTHREAD_MUTEX_INITIALIZER;
static ockam_log_fn sink_fn;
static void *sink_user;

static const char *const level_names[] = {"DEBUG", "INFO", "WARN", "ERROR", "OFF"};

int ockam_log_level_parse(const char *s, ockam_log_level *out) {
  static const char *const names[] = {"debug", "info", "warn", "error", "off"};
  if (!s || !out) return OCKAM_EINVAL;
  for (int i = 0; i <= OCKAM_LOG_OFF; i++) {
    if (strcmp(s, names[i]) == 0) {
      *out = (ockam_log_level)i;
      return OCKAM_OK;
    }
  }
  return OCKAM_EINVAL;
}

static void threshold_init(void) {
  ockam_log_level lvl = OCKAM_LOG_INFO;
  const char *env = getenv("OCKAM_LOG");
  if (env && ockam_log_level_parse(env, &lvl) != OCKAM_OK) lvl = OCKAM_LOG_INFO;
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

void ockami_log(ockam_log_level level, const char *module, const char *fmt, ...) {
  if (ockami_log_threshold < 0) threshold_init();
  if ((int)level < ockami_log_threshold) return;
  char msg[1024];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  pthread_mutex_lock(&sink_lock);
  if (sink_fn) {
    sink_fn(level, module, msg, sink_user);
  } else {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    gmtime_r(&ts.tv_sec, &tm);
    fprintf(stderr, "%02d:%02d:%02d.%03ld %-5s %s: %s\n", tm.tm_hour, tm.tm_min, tm.tm_sec,
            ts.tv_nsec / 1000000, level_names[level > OCKAM_LOG_OFF ? OCKAM_LOG_OFF : level],
            module ? module : "-", msg);
  }
  pthread_mutex_unlock(&sink_lock);
}
