/* Internal logging macros over the pluggable sink of ockam/log.h. */
#ifndef OCKAMI_LOG_H
#define OCKAMI_LOG_H

#include "ockam/log.h"

extern volatile int ockami_log_threshold;

void ockami_log(ockam_log_level level, const char *module, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#define OCKAMI_LOG(level, module, ...)                                                \
  do {                                                                                \
    if ((int)(level) >= ockami_log_threshold) ockami_log(level, module, __VA_ARGS__); \
  } while (0)
#define LOG_DEBUG(module, ...) OCKAMI_LOG(OCKAM_LOG_DEBUG, module, __VA_ARGS__)
#define LOG_INFO(module, ...) OCKAMI_LOG(OCKAM_LOG_INFO, module, __VA_ARGS__)
#define LOG_WARN(module, ...) OCKAMI_LOG(OCKAM_LOG_WARN, module, __VA_ARGS__)
#define LOG_ERROR(module, ...) OCKAMI_LOG(OCKAM_LOG_ERROR, module, __VA_ARGS__)

#endif
