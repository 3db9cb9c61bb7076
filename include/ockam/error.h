/* Error codes shared by every ockam-c call.
 *
 * Every fallible call returns int: 0 (OCKAM_OK) on success, a negative
 * OCKAM_E* code on failure. ockam_strerror() gives a static English message.
 */
#ifndef OCKAM_ERROR_H
#define OCKAM_ERROR_H

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__) || defined(__clang__)
#define OCKAM_MUST_CHECK __attribute__((warn_unused_result))
#else
#define OCKAM_MUST_CHECK
#endif

/* X(name, value, message) */
#define OCKAM_ERROR_MAP(X)                            \
  X(OK, 0, "success")                                 \
  X(EINVAL, -1, "invalid argument")                   \
  X(ENOMEM, -2, "out of memory")                      \
  X(ETRUNC, -3, "input truncated")                    \
  X(EOVERFLOW, -4, "value exceeds its limit")         \
  X(EMALFORMED, -5, "malformed input")                \
  X(ETRAILING, -6, "trailing bytes after value")      \
  X(EUTF8, -7, "string is not valid UTF-8")           \
  X(ENOTFOUND, -8, "no such address or object")       \
  X(EEXIST, -9, "address already in use")             \
  X(ETIMEDOUT, -10, "operation timed out")            \
  X(ECLOSED, -11, "object closed")                    \
  X(ECONNREFUSED, -12, "connection refused")          \
  X(ECONNRESET, -13, "connection lost")               \
  X(EIO, -14, "input/output error")                   \
  X(ECRYPTO, -15, "message authentication failed")    \
  X(EREPLAY, -16, "replayed or too old message")      \
  X(EPROTO, -17, "protocol error")                    \
  X(ESTATE, -18, "operation not valid in this state") \
  X(EFULL, -19, "queue full")                         \
  X(ESTORAGE, -20, "storage error")                   \
  X(ENOSPC, -21, "no space left for storage")         \
  X(ENOTSUP, -22, "not supported")                    \
  X(EADDR, -23, "invalid address")                    \
  X(ENONCE, -24, "nonce space exhausted")             \
  X(EPEER, -25, "peer reported an error")             \
  X(EUNAVAILABLE, -26, "service unavailable")         \
  X(EAUTH, -27, "identity verification failed")       \
  X(ECORRUPT, -28, "file corrupted or truncated")     \
  X(EUNTRUSTED, -29, "peer refused by trust policy")  \
  X(ETOOSMALL, -30, "output buffer too small")        \
  X(EPEERAUTH, -31, "peer failed to prove its identity")

typedef enum ockam_error {
#define OCKAM_ERR_ENUM(name, value, msg) OCKAM_##name = value,
  OCKAM_ERROR_MAP(OCKAM_ERR_ENUM)
#undef OCKAM_ERR_ENUM
} ockam_error;

/* Static message for an error code; never NULL (unknown codes give "unknown error"). */
const char *ockam_strerror(int err);
/* Symbolic name ("OCKAM_ETIMEDOUT") of an error code; never NULL. */
const char *ockam_errname(int err);

#ifdef __cplusplus
}
#endif
#endif
