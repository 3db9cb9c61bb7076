/* Logging. The library never prints: it logs through one process-wide sink.
 *
 * The default sink writes "TIME LEVEL module: message" lines to stderr, TIME in
 * ISO 8601 with milliseconds and the local zone's offset
 * (2021-06-01T12:00:00.123+00:00), for levels at or above the threshold, which
 * starts from the OCKAM_LOG environment variable (debug|info|warn|error|off, any
 * case; default warn: an embedding program hears about problems only; the
 * `ockam hub` command sets info). The sink may be called from any
 * thread that runs a node loop or a storage thread; it must be thread-safe.
 *
 * Lines at INFO and above are rate-limited per call site: at most 10 similar
 * lines (same format) a second; the rest are counted and reported as one
 * "N similar messages suppressed" line, at the same level and module, when
 * that call site logs again after its second is over.
 */
#ifndef OCKAM_LOG_H
#define OCKAM_LOG_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum ockam_log_level {
  OCKAM_LOG_DEBUG = 0,
  OCKAM_LOG_INFO = 1,
  OCKAM_LOG_WARN = 2,
  OCKAM_LOG_ERROR = 3,
  OCKAM_LOG_OFF = 4
} ockam_log_level;

typedef void (*ockam_log_fn)(ockam_log_level level, const char *module, const char *message,
                             void *user);

/* Replace the sink (NULL restores the default stderr sink). */
void ockam_log_set_sink(ockam_log_fn fn, void *user);
void ockam_log_set_level(ockam_log_level level);
ockam_log_level ockam_log_get_level(void);
/* Lines suppressed by the rate limit since the process started. */
uint64_t ockam_log_suppressed(void);
/* Report every pending "N similar messages suppressed" now (e.g. at exit). */
void ockam_log_flush_suppressed(void);
/* The default sink, for a custom sink that passes lines on. Control bytes of
 * the module and message (newline, carriage return, ESC...) are written as
 * \xNN, so that one message is one line whatever names it quotes. */
void ockam_log_stderr_sink(ockam_log_level level, const char *module, const char *message,
                           void *user);
/* "DEBUG", "INFO", "WARN", "ERROR" or "OFF". */
const char *ockam_log_level_name(ockam_log_level level);
/* Write the current time as the default sink shows it into buf (cap bytes,
 * 40 are enough); returns its length. */
size_t ockam_log_timestamp(char *buf, size_t cap);
/* Parse "debug", "info", "warn", "error", "off" in any case; returns 0 or
 * OCKAM_EINVAL. */
int ockam_log_level_parse(const char *s, ockam_log_level *out);

#ifdef __cplusplus
}
#endif
#endif
