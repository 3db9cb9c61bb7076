/* Stream protocol codec (src/codec/stream_proto.c, spec §7): requests as the
 * hub decodes them (exact) and responses as the stream client decodes them
 * (lenient), from the same input.
 *
 * For each direction: an error leaves kind NONE (or UNKNOWN with
 * OCKAM_ENOTSUP); a success re-encodes with ockami_sp_encode(), and the
 * encoding must decode to an equal message and re-encode to identical
 * bytes. Requests must also satisfy the hub's exactness: a request that
 * decodes stops decoding when one byte is appended. PullResponse message
 * lists are walked with both the iterator and ockami_sp_msg_list_get().
 */
#include "fuzz.h"
#include "ockam/limits.h"
#include "stream_proto.h"

typedef int (*decode_fn)(const uint8_t *, size_t, ockami_sp_msg *);

static bool same_str(ockami_sp_str a, ockami_sp_str b) {
  return a.len == b.len && (a.len == 0 || memcmp(a.p, b.p, a.len) == 0);
}

static bool same_bytes(ockami_sp_bytes a, ockami_sp_bytes b) {
  return a.len == b.len && (a.len == 0 || memcmp(a.p, b.p, a.len) == 0);
}

static bool same_list(const ockami_sp_msg_list *a, const ockami_sp_msg_list *b) {
  if (a->count != b->count) return false;
  ockami_sp_msg_iter ia, ib;
  ockami_sp_msg_iter_init(&ia, a);
  ockami_sp_msg_iter_init(&ib, b);
  ockami_sp_stream_msg ma, mb;
  for (size_t i = 0; i < a->count; i++) {
    FUZZ_CHECK(ockami_sp_msg_iter_next(&ia, &ma) && ockami_sp_msg_iter_next(&ib, &mb));
    if (ma.index != mb.index || ma.len != mb.len || (ma.len && memcmp(ma.data, mb.data, ma.len)))
      return false;
  }
  FUZZ_CHECK(!ockami_sp_msg_iter_next(&ia, &ma) && !ockami_sp_msg_iter_next(&ib, &mb));
  return true;
}

static bool same_msg(const ockami_sp_msg *a, const ockami_sp_msg *b) {
  if (a->kind != b->kind || !same_str(a->protocol, b->protocol)) return false;
  switch (a->kind) {
    case OCKAMI_SP_CREATE:
      return a->u.create.has_name == b->u.create.has_name &&
             (!a->u.create.has_name || same_str(a->u.create.name, b->u.create.name));
    case OCKAMI_SP_PUSH:
      return a->u.push.request_id == b->u.push.request_id &&
             same_bytes(a->u.push.data, b->u.push.data) && a->u.push.idem == b->u.push.idem &&
             (!a->u.push.idem ||
              (same_str(a->u.push.producer, b->u.push.producer) &&
               a->u.push.session == b->u.push.session && a->u.push.seq == b->u.push.seq));
    case OCKAMI_SP_PULL:
      return a->u.pull.request_id == b->u.pull.request_id && a->u.pull.index == b->u.pull.index &&
             a->u.pull.limit == b->u.pull.limit && a->u.pull.long_poll == b->u.pull.long_poll &&
             a->u.pull.wait_ms == b->u.pull.wait_ms;
    case OCKAMI_SP_INDEX_GET:
    case OCKAMI_SP_INDEX_SAVE:
      return same_str(a->u.index_req.client_id, b->u.index_req.client_id) &&
             same_str(a->u.index_req.stream_name, b->u.index_req.stream_name) &&
             a->u.index_req.index == b->u.index_req.index;
    case OCKAMI_SP_INIT:
      return same_str(a->u.init.name, b->u.init.name);
    case OCKAMI_SP_PUSH_CONFIRM:
      return a->u.push_confirm.request_id == b->u.push_confirm.request_id &&
             a->u.push_confirm.status == b->u.push_confirm.status &&
             a->u.push_confirm.index == b->u.push_confirm.index;
    case OCKAMI_SP_PULL_RESPONSE:
      return a->u.pull_response.request_id == b->u.pull_response.request_id &&
             same_list(&a->u.pull_response.messages, &b->u.pull_response.messages);
    case OCKAMI_SP_INDEX:
      return same_str(a->u.index.client_id, b->u.index.client_id) &&
             same_str(a->u.index.stream_name, b->u.index.stream_name) &&
             a->u.index.has_index == b->u.index.has_index &&
             (!a->u.index.has_index || a->u.index.index == b->u.index.index);
    case OCKAMI_SP_ERROR:
      return same_str(a->u.error.reason, b->u.error.reason);
    case OCKAMI_SP_DELETE:
    case OCKAMI_SP_DELETED:
      return same_str(a->u.del.name, b->u.del.name);
    default:
      return false;
  }
}

static void check_limits(const ockami_sp_msg *m) {
  FUZZ_CHECK(m->protocol.len <= OCKAM_NAME_MAX);
  switch (m->kind) {
    case OCKAMI_SP_PULL:
      FUZZ_CHECK(m->u.pull.limit <= OCKAM_PULL_LIMIT_MAX);
      FUZZ_CHECK(m->u.pull.long_poll || m->u.pull.wait_ms == 0);
      break;
    case OCKAMI_SP_PUSH:
      FUZZ_CHECK(m->u.push.data.len <= OCKAM_STREAM_MESSAGE_MAX);
      if (m->u.push.idem) {
        FUZZ_CHECK(m->u.push.seq != 0);
        FUZZ_CHECK(m->u.push.producer.len > 0 && m->u.push.producer.len <= OCKAM_NAME_MAX);
        FUZZ_CHECK(!memchr(m->u.push.producer.p, 0, m->u.push.producer.len));
      } else {
        FUZZ_CHECK(m->u.push.producer.len == 0 && m->u.push.seq == 0);
      }
      break;
    case OCKAMI_SP_PUSH_CONFIRM:
      FUZZ_CHECK(m->u.push_confirm.status <= OCKAMI_SP_STATUS_RESEND);
      break;
    case OCKAMI_SP_PULL_RESPONSE: {
      const ockami_sp_msg_list *l = &m->u.pull_response.messages;
      FUZZ_CHECK(l->count <= OCKAM_PULL_LIMIT_MAX);
      ockami_sp_stream_msg all[OCKAM_PULL_LIMIT_MAX];
      size_t n = 0;
      FUZZ_CHECK(ockami_sp_msg_list_get(l, all, OCKAM_PULL_LIMIT_MAX, &n) == 0 && n == l->count);
      if (n > 0) FUZZ_CHECK(ockami_sp_msg_list_get(l, all, n - 1, &n) == OCKAM_EOVERFLOW);
      ockami_sp_msg_iter it;
      ockami_sp_stream_msg one;
      ockami_sp_msg_iter_init(&it, l);
      for (size_t i = 0; i < l->count; i++) {
        FUZZ_CHECK(ockami_sp_msg_iter_next(&it, &one));
        FUZZ_CHECK(one.index == all[i].index && one.len == all[i].len && one.data == all[i].data);
        FUZZ_CHECK(one.len <= OCKAM_STREAM_MESSAGE_MAX);
        FUZZ_CHECK(one.data >= l->p && one.data + one.len <= l->p + l->len);
      }
      FUZZ_CHECK(!ockami_sp_msg_iter_next(&it, &one));
      break;
    }
    default:
      break;
  }
}

static void check_direction(const uint8_t *p, size_t n, decode_fn decode, bool exact) {
  ockami_sp_msg m;
  memset(&m, 0x5a, sizeof m);
  int rc = decode(p, n, &m);
  if (rc == OCKAM_ENOTSUP) {
    FUZZ_CHECK(m.kind == OCKAMI_SP_UNKNOWN);
    ockami_buf b = OCKAMI_BUF_INIT;
    FUZZ_CHECK(ockami_sp_encode(&b, &m) == OCKAM_EINVAL && b.len == 0);
    ockami_buf_free(&b);
    return;
  }
  if (rc) {
    FUZZ_CHECK(rc < 0 && m.kind == OCKAMI_SP_NONE);
    return;
  }
  check_limits(&m);
  /* The wrapper alone decodes too, to the same protocol name. */
  ockami_sp_str proto;
  ockami_sp_bytes body;
  FUZZ_CHECK(ockami_sp_payload_decode(p, n, exact, &proto, &body) == 0 &&
             same_str(proto, m.protocol));

  ockami_buf enc = OCKAMI_BUF_INIT, enc2 = OCKAMI_BUF_INIT;
  FUZZ_CHECK(ockami_sp_encode(&enc, &m) == 0);
  ockami_sp_msg again;
  FUZZ_CHECK(decode(enc.data, enc.len, &again) == 0 && same_msg(&m, &again));
  FUZZ_CHECK(ockami_sp_encode(&enc2, &again) == 0);
  FUZZ_CHECK(enc.len == enc2.len && memcmp(enc.data, enc2.data, enc.len) == 0);
  if (exact) {
    /* The hub refuses padding after a request. */
    FUZZ_CHECK(ockami_buf_append(&enc, "", 1) == 0);
    FUZZ_CHECK(decode(enc.data, enc.len, &again) == OCKAM_ETRAILING);
  }
  ockami_buf_free(&enc);
  ockami_buf_free(&enc2);
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  fuzz_quiet();
  return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  check_direction(data, size, ockami_sp_decode_request, true);
  check_direction(data, size, ockami_sp_decode_response, false);
  return 0;
}
