#include "stream_proto.h"

#include <sodium.h>
#include <string.h>

#include "bare.h"
#include "ockam/limits.h"

#define TRY(expr)        \
  do {                   \
    int rc_ = (expr);    \
    if (rc_) return rc_; \
  } while (0)

/* Smallest StreamMessage: a one-byte uint index and an empty data (00 00). */
#define SP_STREAM_MSG_MIN 2u

static bool name_is(ockami_sp_str s, const char *name) {
  size_t n = strlen(name);
  return s.len == n && memcmp(s.p, name, n) == 0;
}

/* ---- decoding ---------------------------------------------------------- */

static int read_name(ockami_reader *r, ockami_sp_str *out) {
  return ockami_read_string(r, OCKAM_NAME_MAX, &out->p, &out->len);
}

int ockami_sp_payload_decode(const uint8_t *p, size_t len, bool exact, ockami_sp_str *protocol,
                             ockami_sp_bytes *data) {
  ockami_reader r;
  ockami_reader_init(&r, p, len);
  ockami_sp_str name;
  ockami_sp_bytes body;
  TRY(read_name(&r, &name));
  TRY(ockami_read_data(&r, OCKAM_PAYLOAD_MAX, &body.p, &body.len));
  if (exact) TRY(ockami_reader_finish(&r));
  *protocol = name;
  *data = body;
  return OCKAM_OK;
}

static int dec_create(ockami_reader *r, ockami_sp_msg *m) {
  bool some;
  TRY(ockami_read_option(r, &some));
  /* Any non-zero option tag is Some (spec §0). */
  if (some) TRY(read_name(r, &m->u.create.name));
  m->u.create.has_name = some;
  m->kind = OCKAMI_SP_CREATE;
  return OCKAM_OK;
}

static bool producer_ok(const char *p, size_t len) {
  return len > 0 && memchr(p, 0, len) == NULL;
}

static int dec_push(ockami_reader *r, ockami_sp_msg *m) {
  TRY(ockami_read_uint(r, &m->u.push.request_id));
  TRY(ockami_read_data(r, OCKAM_STREAM_MESSAGE_MAX, &m->u.push.data.p, &m->u.push.data.len));
  /* More fields: the idempotent form (see proto.h); more still is trailing. */
  if (ockami_reader_left(r) > 0) {
    TRY(read_name(r, &m->u.push.producer));
    TRY(ockami_read_uint(r, &m->u.push.session));
    TRY(ockami_read_uint(r, &m->u.push.seq));
    if (!producer_ok(m->u.push.producer.p, m->u.push.producer.len) || m->u.push.seq == 0)
      return OCKAM_EMALFORMED;
    m->u.push.idem = true;
  }
  m->kind = OCKAMI_SP_PUSH;
  return OCKAM_OK;
}

static int dec_pull(ockami_reader *r, ockami_sp_msg *m) {
  TRY(ockami_read_uint(r, &m->u.pull.request_id));
  TRY(ockami_read_uint(r, &m->u.pull.index));
  TRY(ockami_read_uint(r, &m->u.pull.limit));
  /* Clamped rather than rejected: 2021 hubs accept any limit. */
  if (m->u.pull.limit > OCKAM_PULL_LIMIT_MAX) m->u.pull.limit = OCKAM_PULL_LIMIT_MAX;
  /* A fourth uint is the long-poll wait (see proto.h); more is trailing. */
  if (ockami_reader_left(r) > 0) {
    TRY(ockami_read_uint(r, &m->u.pull.wait_ms));
    m->u.pull.long_poll = true;
  }
  m->kind = OCKAMI_SP_PULL;
  return OCKAM_OK;
}

static int dec_index_req(ockami_reader *r, ockami_sp_msg *m) {
  uint64_t tag;
  TRY(ockami_read_uint(r, &tag));
  if (tag > 1) return OCKAM_EMALFORMED; /* union { Get = 0, Save = 1 } (spec §7.1) */
  TRY(read_name(r, &m->u.index_req.client_id));
  TRY(read_name(r, &m->u.index_req.stream_name));
  if (tag == 1) TRY(ockami_read_uint(r, &m->u.index_req.index));
  m->kind = tag == 0 ? OCKAMI_SP_INDEX_GET : OCKAMI_SP_INDEX_SAVE;
  return OCKAM_OK;
}

static int dec_delete(ockami_reader *r, ockami_sp_msg *m) {
  TRY(read_name(r, &m->u.del.name));
  m->kind = OCKAMI_SP_DELETE;
  return OCKAM_OK;
}

static int dec_deleted(ockami_reader *r, ockami_sp_msg *m) {
  TRY(read_name(r, &m->u.del.name));
  m->kind = OCKAMI_SP_DELETED;
  return OCKAM_OK;
}

static int dec_init(ockami_reader *r, ockami_sp_msg *m) {
  TRY(read_name(r, &m->u.init.name));
  m->kind = OCKAMI_SP_INIT;
  return OCKAM_OK;
}

static int dec_push_confirm(ockami_reader *r, ockami_sp_msg *m) {
  uint64_t status;
  TRY(ockami_read_uint(r, &m->u.push_confirm.request_id));
  TRY(ockami_read_uint(r, &status));
  if (status > OCKAMI_SP_STATUS_RESEND) return OCKAM_EMALFORMED;
  m->u.push_confirm.status = (ockami_sp_status)status;
  TRY(ockami_read_uint(r, &m->u.push_confirm.index));
  m->kind = OCKAMI_SP_PUSH_CONFIRM;
  return OCKAM_OK;
}

static int dec_pull_response(ockami_reader *r, ockami_sp_msg *m) {
  uint64_t count;
  TRY(ockami_read_uint(r, &m->u.pull_response.request_id));
  TRY(ockami_read_uint_max(r, OCKAM_PULL_LIMIT_MAX, &count));
  /* The count cannot promise more messages than the bytes left can hold. */
  if (count > ockami_reader_left(r) / SP_STREAM_MSG_MIN) return OCKAM_ETRUNC;
  size_t start = r->pos;
  for (uint64_t i = 0; i < count; i++) {
    uint64_t index;
    const uint8_t *data;
    size_t len;
    TRY(ockami_read_uint(r, &index));
    TRY(ockami_read_data(r, OCKAM_STREAM_MESSAGE_MAX, &data, &len));
  }
  m->u.pull_response.messages.count = (size_t)count;
  m->u.pull_response.messages.p = r->p + start;
  m->u.pull_response.messages.len = r->pos - start;
  m->kind = OCKAMI_SP_PULL_RESPONSE;
  return OCKAM_OK;
}

static int dec_index(ockami_reader *r, ockami_sp_msg *m) {
  bool some;
  TRY(read_name(r, &m->u.index.client_id));
  TRY(read_name(r, &m->u.index.stream_name));
  TRY(ockami_read_option(r, &some));
  if (some) TRY(ockami_read_uint(r, &m->u.index.index));
  m->u.index.has_index = some;
  m->kind = OCKAMI_SP_INDEX;
  return OCKAM_OK;
}

static int dec_error(ockami_reader *r, ockami_sp_msg *m) {
  TRY(ockami_read_string(r, OCKAM_PAYLOAD_MAX, &m->u.error.reason.p, &m->u.error.reason.len));
  m->kind = OCKAMI_SP_ERROR;
  return OCKAM_OK;
}

typedef int (*body_decoder)(ockami_reader *r, ockami_sp_msg *m);

/* The same protocol name has a request schema and a response schema
 * (spec §7.1, Elixir Ockam.Protocol.Mapping). */
static body_decoder pick(ockami_sp_str name, bool request) {
  if (name_is(name, OCKAMI_SP_CREATE_NAME)) return request ? dec_create : dec_init;
  if (name_is(name, OCKAMI_SP_PUSH_NAME)) return request ? dec_push : dec_push_confirm;
  if (name_is(name, OCKAMI_SP_PULL_NAME)) return request ? dec_pull : dec_pull_response;
  if (name_is(name, OCKAMI_SP_INDEX_NAME)) return request ? dec_index_req : dec_index;
  if (name_is(name, OCKAMI_SP_ERROR_NAME)) return request ? NULL : dec_error;
  if (name_is(name, OCKAMI_SP_DELETE_NAME)) return request ? dec_delete : dec_deleted;
  return NULL;
}

/* Requests are exact like the Elixir hub (spec §0, §10.7); responses are
 * lenient like serde_bare in the Rust client. */
static int decode(const uint8_t *p, size_t len, bool request, ockami_sp_msg *msg) {
  memset(msg, 0, sizeof *msg);
  ockami_sp_str name;
  ockami_sp_bytes body;
  TRY(ockami_sp_payload_decode(p, len, request, &name, &body));

  body_decoder dec = pick(name, request);
  if (!dec) {
    msg->kind = OCKAMI_SP_UNKNOWN;
    msg->protocol = name;
    msg->u.unknown = body;
    return OCKAM_ENOTSUP;
  }
  ockami_sp_msg m;
  memset(&m, 0, sizeof m);
  m.protocol = name;
  ockami_reader r;
  ockami_reader_init(&r, body.p, body.len);
  TRY(dec(&r, &m));
  if (request) TRY(ockami_reader_finish(&r));
  *msg = m;
  return OCKAM_OK;
}

int ockami_sp_decode_request(const uint8_t *p, size_t len, ockami_sp_msg *msg) {
  return decode(p, len, true, msg);
}

int ockami_sp_decode_response(const uint8_t *p, size_t len, ockami_sp_msg *msg) {
  return decode(p, len, false, msg);
}

/* ---- stable worker addresses --------------------------------------------- */

void ockami_sp_worker_address(const char *name, size_t len,
                              char out[static OCKAMI_SP_WORKER_ADDRESS_LEN + 1]) {
  static const char domain[] = "ockam.stream"; /* hashed with its NUL */
  uint8_t digest[crypto_hash_sha256_BYTES];
  crypto_hash_sha256_state h;
  crypto_hash_sha256_init(&h);
  crypto_hash_sha256_update(&h, (const uint8_t *)domain, sizeof domain);
  crypto_hash_sha256_update(&h, (const uint8_t *)name, len);
  crypto_hash_sha256_final(&h, digest);
  static const char hex[] = "0123456789abcdef";
  for (size_t i = 0; i < OCKAMI_SP_WORKER_ADDRESS_LEN / 2; i++) {
    out[2 * i] = hex[digest[i] >> 4];
    out[2 * i + 1] = hex[digest[i] & 15];
  }
  out[OCKAMI_SP_WORKER_ADDRESS_LEN] = '\0';
}

/* ---- PullResponse messages --------------------------------------------- */

void ockami_sp_msg_iter_init(ockami_sp_msg_iter *it, const ockami_sp_msg_list *list) {
  it->p = list->p;
  it->len = list->len;
  it->pos = 0;
  it->left = list->count;
}

bool ockami_sp_msg_iter_next(ockami_sp_msg_iter *it, ockami_sp_stream_msg *out) {
  if (it->left == 0) return false;
  ockami_reader r;
  ockami_reader_init(&r, it->p, it->len);
  r.pos = it->pos;
  uint64_t index;
  const uint8_t *data;
  size_t len;
  if (ockami_read_uint(&r, &index) || ockami_read_data(&r, OCKAM_STREAM_MESSAGE_MAX, &data, &len)) {
    it->left = 0; /* only reachable with a hand-made list */
    return false;
  }
  it->pos = r.pos;
  it->left--;
  out->index = index;
  out->data = data;
  out->len = len;
  return true;
}

int ockami_sp_msg_list_get(const ockami_sp_msg_list *list, ockami_sp_stream_msg *out, size_t cap,
                           size_t *n) {
  if (list->count > cap) return OCKAM_EOVERFLOW;
  ockami_sp_msg_iter it;
  ockami_sp_msg_iter_init(&it, list);
  size_t i = 0;
  while (ockami_sp_msg_iter_next(&it, &out[i])) i++;
  if (i != list->count) return OCKAM_EMALFORMED;
  *n = i;
  return OCKAM_OK;
}

size_t ockami_sp_stream_msg_size(uint64_t index, size_t data_len) {
  return ockami_uint_size(index) + ockami_uint_size(data_len) + data_len;
}

/* ---- encoding ---------------------------------------------------------- */

static int check_name(const char *s, size_t len, size_t max) {
  if (len > max) return OCKAM_EOVERFLOW;
  if (len && !s) return OCKAM_EINVAL;
  if (!ockami_utf8_valid((const uint8_t *)s, len)) return OCKAM_EUTF8;
  return OCKAM_OK;
}

/* Writes the protocol name and remembers where the body starts; the body's
 * length prefix is inserted by payload_end once the body is known. */
static int payload_begin(ockami_buf *b, const char *protocol, size_t *mark) {
  TRY(ockami_write_string(b, protocol, strlen(protocol)));
  *mark = b->len;
  return OCKAM_OK;
}

static int payload_end(ockami_buf *b, size_t mark) {
  size_t body = b->len - mark;
  if (body > OCKAM_PAYLOAD_MAX) return OCKAM_EOVERFLOW;
  uint8_t prefix[OCKAM_VARINT_MAX_BYTES];
  size_t n = ockami_uint_encode(body, prefix);
  TRY(ockami_buf_reserve(b, n));
  memmove(b->data + mark + n, b->data + mark, body);
  memcpy(b->data + mark, prefix, n);
  b->len += n;
  return OCKAM_OK;
}

/* Restores the buffer when an encoder fails part-way. */
static int done(ockami_buf *b, size_t start, int rc) {
  if (rc) b->len = start;
  return rc;
}

int ockami_sp_payload_encode(ockami_buf *b, const char *protocol, size_t protocol_len,
                             const uint8_t *data, size_t data_len) {
  TRY(check_name(protocol, protocol_len, OCKAM_NAME_MAX));
  if (data_len > OCKAM_PAYLOAD_MAX) return OCKAM_EOVERFLOW;
  if (data_len && !data) return OCKAM_EINVAL;
  size_t start = b->len;
  int rc = ockami_write_string(b, protocol, protocol_len);
  if (!rc) rc = ockami_write_data(b, data, data_len);
  return done(b, start, rc);
}

static int enc_create(ockami_buf *b, const char *name, size_t name_len) {
  size_t mark;
  TRY(payload_begin(b, OCKAMI_SP_CREATE_NAME, &mark));
  TRY(ockami_write_option(b, name != NULL));
  if (name) TRY(ockami_write_string(b, name, name_len));
  return payload_end(b, mark);
}

int ockami_sp_encode_create(ockami_buf *b, const char *name, size_t name_len) {
  if (name) TRY(check_name(name, name_len, OCKAM_NAME_MAX));
  size_t start = b->len;
  return done(b, start, enc_create(b, name, name_len));
}

static int enc_push(ockami_buf *b, uint64_t request_id, const uint8_t *data, size_t len,
                    const char *producer, size_t producer_len, uint64_t session, uint64_t seq) {
  size_t mark;
  TRY(payload_begin(b, OCKAMI_SP_PUSH_NAME, &mark));
  TRY(ockami_write_uint(b, request_id));
  TRY(ockami_write_data(b, data, len));
  if (producer) {
    TRY(ockami_write_string(b, producer, producer_len));
    TRY(ockami_write_uint(b, session));
    TRY(ockami_write_uint(b, seq));
  }
  return payload_end(b, mark);
}

int ockami_sp_encode_push(ockami_buf *b, uint64_t request_id, const uint8_t *data, size_t len) {
  if (len > OCKAM_STREAM_MESSAGE_MAX) return OCKAM_EOVERFLOW;
  if (len && !data) return OCKAM_EINVAL;
  size_t start = b->len;
  return done(b, start, enc_push(b, request_id, data, len, NULL, 0, 0, 0));
}

int ockami_sp_encode_push_idem(ockami_buf *b, uint64_t request_id, const uint8_t *data, size_t len,
                               const char *producer, size_t producer_len, uint64_t session,
                               uint64_t seq) {
  if (len > OCKAM_STREAM_MESSAGE_MAX) return OCKAM_EOVERFLOW;
  if (len && !data) return OCKAM_EINVAL;
  TRY(check_name(producer, producer_len, OCKAM_NAME_MAX));
  if (!producer || !producer_ok(producer, producer_len) || seq == 0) return OCKAM_EINVAL;
  size_t start = b->len;
  return done(b, start, enc_push(b, request_id, data, len, producer, producer_len, session, seq));
}

static int enc_pull(ockami_buf *b, uint64_t request_id, uint64_t index, uint64_t limit,
                    bool long_poll, uint64_t wait_ms) {
  size_t mark;
  TRY(payload_begin(b, OCKAMI_SP_PULL_NAME, &mark));
  TRY(ockami_write_uint(b, request_id));
  TRY(ockami_write_uint(b, index));
  TRY(ockami_write_uint(b, limit));
  if (long_poll) TRY(ockami_write_uint(b, wait_ms));
  return payload_end(b, mark);
}

int ockami_sp_encode_pull(ockami_buf *b, uint64_t request_id, uint64_t index, uint64_t limit) {
  size_t start = b->len;
  return done(b, start, enc_pull(b, request_id, index, limit, false, 0));
}

int ockami_sp_encode_pull_wait(ockami_buf *b, uint64_t request_id, uint64_t index, uint64_t limit,
                               uint64_t wait_ms) {
  size_t start = b->len;
  return done(b, start, enc_pull(b, request_id, index, limit, true, wait_ms));
}

static int enc_index_req(ockami_buf *b, bool save, const char *client_id, size_t client_id_len,
                         const char *stream_name, size_t stream_name_len, uint64_t index) {
  size_t mark;
  TRY(payload_begin(b, OCKAMI_SP_INDEX_NAME, &mark));
  TRY(ockami_write_uint(b, save ? 1 : 0));
  TRY(ockami_write_string(b, client_id, client_id_len));
  TRY(ockami_write_string(b, stream_name, stream_name_len));
  if (save) TRY(ockami_write_uint(b, index));
  return payload_end(b, mark);
}

static int index_req(ockami_buf *b, bool save, const char *client_id, size_t client_id_len,
                     const char *stream_name, size_t stream_name_len, uint64_t index) {
  TRY(check_name(client_id, client_id_len, OCKAM_NAME_MAX));
  TRY(check_name(stream_name, stream_name_len, OCKAM_NAME_MAX));
  size_t start = b->len;
  return done(
      b, start,
      enc_index_req(b, save, client_id, client_id_len, stream_name, stream_name_len, index));
}

int ockami_sp_encode_index_get(ockami_buf *b, const char *client_id, size_t client_id_len,
                               const char *stream_name, size_t stream_name_len) {
  return index_req(b, false, client_id, client_id_len, stream_name, stream_name_len, 0);
}

int ockami_sp_encode_index_save(ockami_buf *b, const char *client_id, size_t client_id_len,
                                const char *stream_name, size_t stream_name_len, uint64_t index) {
  return index_req(b, true, client_id, client_id_len, stream_name, stream_name_len, index);
}

static int enc_named(ockami_buf *b, const char *protocol, const char *name, size_t name_len) {
  size_t mark;
  TRY(payload_begin(b, protocol, &mark));
  TRY(ockami_write_string(b, name, name_len));
  return payload_end(b, mark);
}

int ockami_sp_encode_delete(ockami_buf *b, const char *name, size_t name_len) {
  TRY(check_name(name, name_len, OCKAM_NAME_MAX));
  size_t start = b->len;
  return done(b, start, enc_named(b, OCKAMI_SP_DELETE_NAME, name, name_len));
}

int ockami_sp_encode_deleted(ockami_buf *b, const char *name, size_t name_len) {
  TRY(check_name(name, name_len, OCKAM_NAME_MAX));
  size_t start = b->len;
  return done(b, start, enc_named(b, OCKAMI_SP_DELETE_NAME, name, name_len));
}

int ockami_sp_encode_init(ockami_buf *b, const char *name, size_t name_len) {
  TRY(check_name(name, name_len, OCKAM_NAME_MAX));
  size_t start = b->len;
  return done(b, start, enc_named(b, OCKAMI_SP_CREATE_NAME, name, name_len));
}

static int enc_push_confirm(ockami_buf *b, uint64_t request_id, ockami_sp_status status,
                            uint64_t index) {
  size_t mark;
  TRY(payload_begin(b, OCKAMI_SP_PUSH_NAME, &mark));
  TRY(ockami_write_uint(b, request_id));
  TRY(ockami_write_uint(b, (uint64_t)status));
  TRY(ockami_write_uint(b, index));
  return payload_end(b, mark);
}

int ockami_sp_encode_push_confirm(ockami_buf *b, uint64_t request_id, ockami_sp_status status,
                                  uint64_t index) {
  if (status != OCKAMI_SP_STATUS_OK && status != OCKAMI_SP_STATUS_ERROR &&
      status != OCKAMI_SP_STATUS_RESEND)
    return OCKAM_EINVAL;
  size_t start = b->len;
  return done(b, start, enc_push_confirm(b, request_id, status, index));
}

static int enc_pull_response(ockami_buf *b, uint64_t request_id, const ockami_sp_stream_msg *msgs,
                             size_t n) {
  size_t mark;
  TRY(payload_begin(b, OCKAMI_SP_PULL_NAME, &mark));
  TRY(ockami_write_uint(b, request_id));
  TRY(ockami_write_uint(b, n));
  for (size_t i = 0; i < n; i++) {
    TRY(ockami_write_uint(b, msgs[i].index));
    TRY(ockami_write_data(b, msgs[i].data, msgs[i].len));
  }
  return payload_end(b, mark);
}

int ockami_sp_encode_pull_response(ockami_buf *b, uint64_t request_id,
                                   const ockami_sp_stream_msg *msgs, size_t n) {
  if (n > OCKAM_PULL_LIMIT_MAX) return OCKAM_EOVERFLOW;
  if (n && !msgs) return OCKAM_EINVAL;
  for (size_t i = 0; i < n; i++) {
    if (msgs[i].len > OCKAM_STREAM_MESSAGE_MAX) return OCKAM_EOVERFLOW;
    if (msgs[i].len && !msgs[i].data) return OCKAM_EINVAL;
  }
  size_t start = b->len;
  return done(b, start, enc_pull_response(b, request_id, msgs, n));
}

static int enc_index(ockami_buf *b, const char *client_id, size_t client_id_len,
                     const char *stream_name, size_t stream_name_len, bool has_index,
                     uint64_t index) {
  size_t mark;
  TRY(payload_begin(b, OCKAMI_SP_INDEX_NAME, &mark));
  TRY(ockami_write_string(b, client_id, client_id_len));
  TRY(ockami_write_string(b, stream_name, stream_name_len));
  TRY(ockami_write_option(b, has_index));
  if (has_index) TRY(ockami_write_uint(b, index));
  return payload_end(b, mark);
}

int ockami_sp_encode_index(ockami_buf *b, const char *client_id, size_t client_id_len,
                           const char *stream_name, size_t stream_name_len, bool has_index,
                           uint64_t index) {
  TRY(check_name(client_id, client_id_len, OCKAM_NAME_MAX));
  TRY(check_name(stream_name, stream_name_len, OCKAM_NAME_MAX));
  size_t start = b->len;
  return done(
      b, start,
      enc_index(b, client_id, client_id_len, stream_name, stream_name_len, has_index, index));
}

int ockami_sp_encode_error(ockami_buf *b, const char *reason, size_t reason_len) {
  TRY(check_name(reason, reason_len, OCKAM_PAYLOAD_MAX));
  size_t start = b->len;
  return done(b, start, enc_named(b, OCKAMI_SP_ERROR_NAME, reason, reason_len));
}

int ockami_sp_encode(ockami_buf *b, const ockami_sp_msg *m) {
  switch (m->kind) {
    case OCKAMI_SP_CREATE:
      return ockami_sp_encode_create(b, m->u.create.has_name ? m->u.create.name.p : NULL,
                                     m->u.create.name.len);
    case OCKAMI_SP_PUSH:
      if (m->u.push.idem)
        return ockami_sp_encode_push_idem(b, m->u.push.request_id, m->u.push.data.p,
                                          m->u.push.data.len, m->u.push.producer.p,
                                          m->u.push.producer.len, m->u.push.session, m->u.push.seq);
      return ockami_sp_encode_push(b, m->u.push.request_id, m->u.push.data.p, m->u.push.data.len);
    case OCKAMI_SP_PULL:
      if (m->u.pull.long_poll)
        return ockami_sp_encode_pull_wait(b, m->u.pull.request_id, m->u.pull.index, m->u.pull.limit,
                                          m->u.pull.wait_ms);
      return ockami_sp_encode_pull(b, m->u.pull.request_id, m->u.pull.index, m->u.pull.limit);
    case OCKAMI_SP_INDEX_GET:
      return ockami_sp_encode_index_get(b, m->u.index_req.client_id.p, m->u.index_req.client_id.len,
                                        m->u.index_req.stream_name.p,
                                        m->u.index_req.stream_name.len);
    case OCKAMI_SP_INDEX_SAVE:
      return ockami_sp_encode_index_save(b, m->u.index_req.client_id.p,
                                         m->u.index_req.client_id.len, m->u.index_req.stream_name.p,
                                         m->u.index_req.stream_name.len, m->u.index_req.index);
    case OCKAMI_SP_INIT:
      return ockami_sp_encode_init(b, m->u.init.name.p, m->u.init.name.len);
    case OCKAMI_SP_PUSH_CONFIRM:
      return ockami_sp_encode_push_confirm(b, m->u.push_confirm.request_id,
                                           m->u.push_confirm.status, m->u.push_confirm.index);
    case OCKAMI_SP_PULL_RESPONSE: {
      /* The list is already encoded: copy it instead of unpacking it. */
      const ockami_sp_msg_list *l = &m->u.pull_response.messages;
      if (l->count > OCKAM_PULL_LIMIT_MAX) return OCKAM_EOVERFLOW;
      if (l->len && !l->p) return OCKAM_EINVAL;
      size_t start = b->len, mark;
      int rc = payload_begin(b, OCKAMI_SP_PULL_NAME, &mark);
      if (!rc) rc = ockami_write_uint(b, m->u.pull_response.request_id);
      if (!rc) rc = ockami_write_uint(b, l->count);
      if (!rc) rc = ockami_buf_append(b, l->p, l->len);
      if (!rc) rc = payload_end(b, mark);
      return done(b, start, rc);
    }
    case OCKAMI_SP_INDEX:
      return ockami_sp_encode_index(b, m->u.index.client_id.p, m->u.index.client_id.len,
                                    m->u.index.stream_name.p, m->u.index.stream_name.len,
                                    m->u.index.has_index, m->u.index.index);
    case OCKAMI_SP_ERROR:
      return ockami_sp_encode_error(b, m->u.error.reason.p, m->u.error.reason.len);
    case OCKAMI_SP_DELETE:
      return ockami_sp_encode_delete(b, m->u.del.name.p, m->u.del.name.len);
    case OCKAMI_SP_DELETED:
      return ockami_sp_encode_deleted(b, m->u.del.name.p, m->u.del.name.len);
    case OCKAMI_SP_NONE:
    case OCKAMI_SP_UNKNOWN:
      break;
  }
  return OCKAM_EINVAL;
}
