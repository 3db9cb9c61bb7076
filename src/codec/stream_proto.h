/* Stream protocol codec (spec §7): the ProtocolPayload wrapper and every
 * non-partitioned schema of §7.2, in both directions, plus the long-poll
 * extension of stream_pull described below.
 *
 * Used by the hub (decodes requests, encodes responses) and by the stream
 * client (encodes requests, decodes responses). Pure functions: no I/O, no
 * allocation while decoding.
 *
 * Decoding
 *   ockami_sp_decode_request()  server side, EXACT like the 2021 Elixir hub
 *                               (spec §0, §10.7): the wrapper and the body
 *                               must each be consumed entirely, otherwise
 *                               OCKAM_ETRAILING.
 *   ockami_sp_decode_response() client side, LENIENT like the 2021 Rust
 *                               client (serde_bare ignores trailing bytes):
 *                               bytes after the last field of the wrapper or
 *                               of the body are ignored.
 *   Decoded strings and byte fields point into the input buffer (no copies,
 *   not NUL-terminated); the input must outlive the ockami_sp_msg.
 *
 * Limits (include/ockam/limits.h), checked before anything is used:
 *   protocol name, stream_name, client_id   <= OCKAM_NAME_MAX bytes, UTF-8
 *   wrapper data                             <= OCKAM_PAYLOAD_MAX bytes
 *   stream message data (push, pull reply)  <= OCKAM_STREAM_MESSAGE_MAX bytes
 *   messages in one PullResponse            <= OCKAM_PULL_LIMIT_MAX
 *   Error.reason                             <= OCKAM_PAYLOAD_MAX bytes, UTF-8
 *   PullRequest.limit is CLAMPED to OCKAM_PULL_LIMIT_MAX, not rejected: a
 *   2021 hub accepts any limit and answers with "up to limit" messages, so
 *   clamping keeps such clients working.
 *
 * Errors of the decoders (msg is zeroed, kind OCKAMI_SP_NONE, unless noted):
 *   OCKAM_ETRUNC      input ends inside a field
 *   OCKAM_EOVERFLOW   a length, count or uint exceeds its limit
 *   OCKAM_EUTF8       a string is not valid UTF-8
 *   OCKAM_EMALFORMED  bad stream_index union tag or Status value
 *   OCKAM_ETRAILING   (requests only) bytes left after the value
 *   OCKAM_ENOTSUP     the wrapper decoded but its protocol name has no schema
 *                     in this direction (unknown, partitioned, or e.g. `error`
 *                     sent as a request). msg->kind is OCKAMI_SP_UNKNOWN and
 *                     msg->protocol / msg->u.unknown are set, so the caller
 *                     can log it. The 2021 hub answers every request it
 *                     cannot decode, this case included, with
 *                     ProtocolPayload("error", Error{"Invalid request"}).
 *
 * Encoding: each encoder appends one complete ProtocolPayload to `b`. On
 * error nothing is appended (b->len is restored). Encoders refuse what the
 * decoders would refuse: names over OCKAM_NAME_MAX (OCKAM_EOVERFLOW) or not
 * UTF-8 (OCKAM_EUTF8), data over OCKAM_STREAM_MESSAGE_MAX, more than
 * OCKAM_PULL_LIMIT_MAX messages or a body over OCKAM_PAYLOAD_MAX
 * (OCKAM_EOVERFLOW), an invalid status (OCKAM_EINVAL); OCKAM_ENOMEM if the
 * buffer cannot grow. Output is byte-exact with the 2021 implementations.
 *
 * Long-poll extension (ockam-c only; not part of the 2021 protocol)
 *   Protocol name `stream_pull`, data = uint request_id ‖ uint index ‖
 *   uint limit ‖ uint wait_ms, i.e. a PullRequest followed by ONE extra uint.
 *   wait_ms asks the hub to hold a pull that finds no message for up to
 *   wait_ms milliseconds, answering as soon as a message at or after `index`
 *   is stored, or with an empty PullResponse at the deadline. The response is
 *   an ordinary PullResponse. wait_ms == 0 means "answer at once", exactly
 *   like the plain form. The hub bounds the wait by its own configured
 *   maximum (default OCKAM_LONG_POLL_MAX_MS); the codec reports the raw
 *   value.
 *   Compatibility: a 2021 hub decodes exactly, so it rejects the 4-field form
 *   and replies ProtocolPayload("error", Error{"Invalid request"}) from the
 *   stream worker. A client that receives `error` in answer to a long-poll
 *   pull falls back to plain 3-field PullRequests with its own polling
 *   interval. Our hub accepts both: 3 fields = plain (long_poll false,
 *   wait_ms 0), 4 fields = long-poll; fewer fields give OCKAM_ETRUNC, more
 *   give OCKAM_ETRAILING.
 *
 * Idempotent producer extension (ockam-c only; docs/protocol-extensions.md
 * "Streams: idempotent producers")
 *   Protocol name `stream_push`, data = uint request_id ‖ data ‖ string
 *   producer_id ‖ uint session ‖ uint seq, i.e. a PushRequest followed by
 *   three more fields. producer_id is 1..OCKAM_NAME_MAX bytes of UTF-8
 *   without NUL, seq >= 1; anything else is OCKAM_EMALFORMED. The answer is a
 *   PushConfirm: OK with the record's index (for a repeat: the original
 *   record's), ERROR as in 2021, or the extension's status RESEND (2) whose
 *   index field is the sequence number the hub expects next. A 2021 hub
 *   decodes exactly and answers the extended form with `error` "Invalid
 *   request"; the response decoder accepts status 2 (a 2021 client never
 *   receives it, as it never sends the extended form).
 *
 * Stream deletion extension (ockam-c only; docs/protocol-extensions.md)
 *   Request to the `stream` service: protocol `stream_delete`, data =
 *   string stream_name. Response, from the same service: protocol
 *   `stream_delete`, data = string stream_name (the stream and its records
 *   and consumer indexes are gone), or the usual `error`.
 */
#ifndef OCKAMI_STREAM_PROTO_H
#define OCKAMI_STREAM_PROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "ockam/error.h"

/* Protocol names (spec §7.1). */
#define OCKAMI_SP_CREATE_NAME "stream_create"
#define OCKAMI_SP_PUSH_NAME "stream_push"
#define OCKAMI_SP_PULL_NAME "stream_pull"
#define OCKAMI_SP_INDEX_NAME "stream_index"
#define OCKAMI_SP_ERROR_NAME "error"
/* ockam-c extension (docs/protocol-extensions.md): delete a stream. */
#define OCKAMI_SP_DELETE_NAME "stream_delete"

/* Reason the 2021 hub sends for any request it cannot decode (vector E12). */
#define OCKAMI_SP_INVALID_REQUEST "Invalid request"

/* A byte range inside the decoded input (or the caller's memory when
 * encoding). Strings are not NUL-terminated. */
typedef struct ockami_sp_str {
  const char *p;
  size_t len;
} ockami_sp_str;

typedef struct ockami_sp_bytes {
  const uint8_t *p;
  size_t len;
} ockami_sp_bytes;

/* PushConfirm status: a BARE enum (uint). */
typedef enum ockami_sp_status {
  OCKAMI_SP_STATUS_OK = 0,
  OCKAMI_SP_STATUS_ERROR = 1,
  /* Extension: an idempotent push out of sequence, not stored; the index
   * field is the sequence number to send next. */
  OCKAMI_SP_STATUS_RESEND = 2,
} ockami_sp_status;

/* One StreamMessage { index: uint, data: data }. */
typedef struct ockami_sp_stream_msg {
  uint64_t index;
  const uint8_t *data;
  size_t len;
} ockami_sp_stream_msg;

/* The messages of a decoded PullResponse, validated but not unpacked:
 * `count` messages encoded back to back in [p, p + len), inside the input.
 * Read them with ockami_sp_msg_iter_* or ockami_sp_msg_list_get. */
typedef struct ockami_sp_msg_list {
  size_t count;
  const uint8_t *p;
  size_t len;
} ockami_sp_msg_list;

typedef struct ockami_sp_msg_iter {
  const uint8_t *p;
  size_t len;
  size_t pos;
  size_t left;
} ockami_sp_msg_iter;

typedef enum ockami_sp_kind {
  OCKAMI_SP_NONE = 0, /* nothing decoded (error) */
  OCKAMI_SP_UNKNOWN,  /* protocol name without a schema in this direction */
  /* requests: client -> hub */
  OCKAMI_SP_CREATE,     /* stream_create  CreateStreamRequest */
  OCKAMI_SP_PUSH,       /* stream_push    PushRequest */
  OCKAMI_SP_PULL,       /* stream_pull    PullRequest, plain or long-poll */
  OCKAMI_SP_INDEX_GET,  /* stream_index   Get (union tag 0) */
  OCKAMI_SP_INDEX_SAVE, /* stream_index   Save (union tag 1) */
  OCKAMI_SP_DELETE,     /* stream_delete  DeleteStreamRequest (extension) */
  /* responses: hub -> client */
  OCKAMI_SP_INIT,          /* stream_create  Init */
  OCKAMI_SP_PUSH_CONFIRM,  /* stream_push    PushConfirm */
  OCKAMI_SP_PULL_RESPONSE, /* stream_pull    PullResponse */
  OCKAMI_SP_INDEX,         /* stream_index   Index */
  OCKAMI_SP_ERROR,         /* error          Error */
  OCKAMI_SP_DELETED,       /* stream_delete  Deleted (extension) */
} ockami_sp_kind;

typedef struct ockami_sp_msg {
  ockami_sp_kind kind;
  ockami_sp_str protocol; /* protocol name as received */
  union {
    struct {
      bool has_name; /* false: the hub generates a name */
      ockami_sp_str name;
    } create;
    struct {
      uint64_t request_id;
      ockami_sp_bytes data;
      bool idem;              /* the extended form was used */
      ockami_sp_str producer; /* idem only */
      uint64_t session, seq;  /* idem only */
    } push;
    struct {
      uint64_t request_id;
      uint64_t index;
      uint64_t limit;   /* clamped to OCKAM_PULL_LIMIT_MAX */
      bool long_poll;   /* the 4-field form was used */
      uint64_t wait_ms; /* 0 for the plain form */
    } pull;
    struct {
      ockami_sp_str client_id;
      ockami_sp_str stream_name;
      uint64_t index; /* Save only; 0 for Get */
    } index_req;      /* OCKAMI_SP_INDEX_GET and OCKAMI_SP_INDEX_SAVE */
    struct {
      ockami_sp_str name;
    } init;
    struct {
      uint64_t request_id;
      ockami_sp_status status;
      uint64_t index;
    } push_confirm;
    struct {
      uint64_t request_id;
      ockami_sp_msg_list messages;
    } pull_response;
    struct {
      ockami_sp_str client_id;
      ockami_sp_str stream_name;
      bool has_index;
      uint64_t index;
    } index;
    struct {
      ockami_sp_str reason;
    } error;
    struct {
      ockami_sp_str name;
    } del;                   /* OCKAMI_SP_DELETE and OCKAMI_SP_DELETED */
    ockami_sp_bytes unknown; /* OCKAMI_SP_UNKNOWN: the undecoded data */
  } u;
} ockami_sp_msg;

/* ---- wrapper ---------------------------------------------------------- */

/* ProtocolPayload { protocol: string, data: data }. With `exact`, trailing
 * bytes give OCKAM_ETRAILING; without, they are ignored. Returns 0 or the
 * decoder errors listed above (never OCKAM_ENOTSUP). */
OCKAM_MUST_CHECK int ockami_sp_payload_decode(const uint8_t *p, size_t len, bool exact,
                                              ockami_sp_str *protocol, ockami_sp_bytes *data);
/* Appends ProtocolPayload{protocol, data}. OCKAM_EOVERFLOW if the name is
 * over OCKAM_NAME_MAX or data over OCKAM_PAYLOAD_MAX, OCKAM_EUTF8, ENOMEM. */
OCKAM_MUST_CHECK int ockami_sp_payload_encode(ockami_buf *b, const char *protocol,
                                              size_t protocol_len, const uint8_t *data,
                                              size_t data_len);

/* ---- dispatch --------------------------------------------------------- */

/* Hub side: decode a request payload (exact). Kinds CREATE, PUSH, PULL,
 * INDEX_GET, INDEX_SAVE; OCKAM_ENOTSUP with kind UNKNOWN otherwise. */
OCKAM_MUST_CHECK int ockami_sp_decode_request(const uint8_t *p, size_t len, ockami_sp_msg *msg);
/* Client side: decode a response payload (lenient). Kinds INIT,
 * PUSH_CONFIRM, PULL_RESPONSE, INDEX, ERROR; OCKAM_ENOTSUP with kind UNKNOWN
 * otherwise. */
OCKAM_MUST_CHECK int ockami_sp_decode_response(const uint8_t *p, size_t len, ockami_sp_msg *msg);

/* Re-encode any decoded message (kind NONE or UNKNOWN: OCKAM_EINVAL; a PULL
 * with long_poll set uses the 4-field form). */
OCKAM_MUST_CHECK int ockami_sp_encode(ockami_buf *b, const ockami_sp_msg *msg);

/* The ockam-c hub's stable stream worker address for a stream name: lowercase
 * hex of the first 16 bytes of SHA-256("ockam.stream" ‖ 0x00 ‖ name)
 * (docs/protocol-extensions.md, "Hub: stable stream worker addresses"). */
#define OCKAMI_SP_WORKER_ADDRESS_LEN 32
void ockami_sp_worker_address(const char *name, size_t len,
                              char out[static OCKAMI_SP_WORKER_ADDRESS_LEN + 1]);

/* ---- PullResponse messages -------------------------------------------- */

void ockami_sp_msg_iter_init(ockami_sp_msg_iter *it, const ockami_sp_msg_list *list);
/* Next message, or false when all `count` were returned. Cannot fail on a
 * list produced by the decoder (it was validated). */
bool ockami_sp_msg_iter_next(ockami_sp_msg_iter *it, ockami_sp_stream_msg *out);
/* Unpack all messages into out[0..cap). OCKAM_EOVERFLOW (nothing written)
 * if list->count > cap; *n = list->count on success. */
OCKAM_MUST_CHECK int ockami_sp_msg_list_get(const ockami_sp_msg_list *list,
                                            ockami_sp_stream_msg *out, size_t cap, size_t *n);
/* Bytes one StreamMessage takes inside a PullResponse, so the hub can stop
 * adding messages before the frame limit. */
size_t ockami_sp_stream_msg_size(uint64_t index, size_t data_len);

/* ---- requests (client encodes, hub decodes) ---------------------------- */

/* stream_create. name == NULL encodes None (the hub generates a name);
 * a non-NULL name with name_len 0 is Some(""). */
OCKAM_MUST_CHECK int ockami_sp_encode_create(ockami_buf *b, const char *name, size_t name_len);
/* stream_push PushRequest. */
OCKAM_MUST_CHECK int ockami_sp_encode_push(ockami_buf *b, uint64_t request_id, const uint8_t *data,
                                           size_t len);
/* stream_push, idempotent form (PushRequest + producer_id, session, seq; see
 * the top of this file). OCKAM_EINVAL for an empty producer id, one with
 * NUL, or seq 0. */
OCKAM_MUST_CHECK int ockami_sp_encode_push_idem(ockami_buf *b, uint64_t request_id,
                                                const uint8_t *data, size_t len,
                                                const char *producer, size_t producer_len,
                                                uint64_t session, uint64_t seq);
/* stream_pull, plain 2021 PullRequest (3 fields). */
OCKAM_MUST_CHECK int ockami_sp_encode_pull(ockami_buf *b, uint64_t request_id, uint64_t index,
                                           uint64_t limit);
/* stream_pull, long-poll form (4 fields, see the top of this file). */
OCKAM_MUST_CHECK int ockami_sp_encode_pull_wait(ockami_buf *b, uint64_t request_id, uint64_t index,
                                                uint64_t limit, uint64_t wait_ms);
/* stream_index Get{client_id, stream_name}. */
OCKAM_MUST_CHECK int ockami_sp_encode_index_get(ockami_buf *b, const char *client_id,
                                                size_t client_id_len, const char *stream_name,
                                                size_t stream_name_len);
/* stream_index Save{client_id, stream_name, index}. */
OCKAM_MUST_CHECK int ockami_sp_encode_index_save(ockami_buf *b, const char *client_id,
                                                 size_t client_id_len, const char *stream_name,
                                                 size_t stream_name_len, uint64_t index);

/* stream_delete DeleteStreamRequest{stream_name} (extension). */
OCKAM_MUST_CHECK int ockami_sp_encode_delete(ockami_buf *b, const char *name, size_t name_len);

/* ---- responses (hub encodes, client decodes) --------------------------- */

/* stream_delete Deleted{stream_name} (extension): the stream is gone. */
OCKAM_MUST_CHECK int ockami_sp_encode_deleted(ockami_buf *b, const char *name, size_t name_len);

/* stream_create Init{stream_name}. */
OCKAM_MUST_CHECK int ockami_sp_encode_init(ockami_buf *b, const char *name, size_t name_len);
/* stream_push PushConfirm{request_id, status, index}. */
OCKAM_MUST_CHECK int ockami_sp_encode_push_confirm(ockami_buf *b, uint64_t request_id,
                                                   ockami_sp_status status, uint64_t index);
/* stream_pull PullResponse{request_id, msgs[0..n)}; msgs may be NULL if n == 0. */
OCKAM_MUST_CHECK int ockami_sp_encode_pull_response(ockami_buf *b, uint64_t request_id,
                                                    const ockami_sp_stream_msg *msgs, size_t n);
/* stream_index Index{client_id, stream_name, index if has_index}. */
OCKAM_MUST_CHECK int ockami_sp_encode_index(ockami_buf *b, const char *client_id,
                                            size_t client_id_len, const char *stream_name,
                                            size_t stream_name_len, bool has_index, uint64_t index);
/* error Error{reason}. */
OCKAM_MUST_CHECK int ockami_sp_encode_error(ockami_buf *b, const char *reason, size_t reason_len);

#endif
