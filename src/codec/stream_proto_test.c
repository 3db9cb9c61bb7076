/* Stream protocol codec tests: known-answer vectors from
 * tests/vectors/ockam-2021-vectors.md §3.3 (directory from $OCKAM_TEST_VECTORS,
 * default tests/vectors), exact decoding, limits and truncation. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "bare.h"
#include "ockam/limits.h"
#include "stream_proto.h"
#include "test_support.h"

/* ---- vectors ------------------------------------------------------------ */

typedef struct vec {
  const char *heading; /* start of the heading after "### " */
  uint8_t *p;
  size_t len;
} vec;

enum {
  V_E2,
  V_E2B,
  V_E3,
  V_E4A,
  V_E4B,
  V_E4C,
  V_E4D,
  V_E5,
  V_E5B,
  V_E6B,
  V_E6C,
  V_E6E,
  V_E7,
  V_E7B,
  V_E12,
  V_E13B,
  V_COUNT
};

static vec vecs[V_COUNT] = {
    [V_E2] = {"E2 payload:", NULL, 0},   [V_E2B] = {"E2b payload:", NULL, 0},
    [V_E3] = {"E3 TCP frame", NULL, 0},  [V_E4A] = {"E4a payload:", NULL, 0},
    [V_E4B] = {"E4b payload:", NULL, 0}, [V_E4C] = {"E4c payload:", NULL, 0},
    [V_E4D] = {"E4d payload:", NULL, 0}, [V_E5] = {"E5 payload:", NULL, 0},
    [V_E5B] = {"E5b payload:", NULL, 0}, [V_E6B] = {"E6b TransportMessage", NULL, 0},
    [V_E6C] = {"E6c payload:", NULL, 0}, [V_E6E] = {"E6e payload:", NULL, 0},
    [V_E7] = {"E7 payload:", NULL, 0},   [V_E7B] = {"E7b payload:", NULL, 0},
    [V_E12] = {"E12 payload:", NULL, 0}, [V_E13B] = {"E13b internal", NULL, 0},
};

/* Backing store of decode_body(). */
static ockami_buf scratch = OCKAMI_BUF_INIT;

static int load_all(void **state) {
  (void)state;
  char *text = ts_vector_file("ockam-2021-vectors.md");
  if (!text) return -1;
  int rc = 0;
  for (int i = 0; i < V_COUNT && !rc; i++)
    if (!(vecs[i].p = ts_vector_block(text, vecs[i].heading, &vecs[i].len))) rc = -1;
  free(text);
  return rc;
}

static int free_all(void **state) {
  (void)state;
  for (int i = 0; i < V_COUNT; i++) free(vecs[i].p);
  ockami_buf_free(&scratch);
  return 0;
}

#define STR(s) s, (sizeof(s) - 1)
static const char SC_NAME[] = "sc-responder-to-initiator";

static void assert_str(ockami_sp_str s, const char *want) {
  assert_int_equal(s.len, strlen(want));
  assert_memory_equal(s.p, want, s.len);
}

static void assert_buf(const ockami_buf *b, const vec *v) {
  assert_int_equal(b->len, v->len);
  assert_memory_equal(b->data, v->p, v->len);
}

/* Decodes v in one direction, checks the kind, and re-encodes it byte-exact. */
static ockami_sp_msg decode_vec(const vec *v, bool request, ockami_sp_kind kind) {
  ockami_sp_msg m;
  int rc = request ? ockami_sp_decode_request(v->p, v->len, &m)
                   : ockami_sp_decode_response(v->p, v->len, &m);
  assert_int_equal(rc, OCKAM_OK);
  assert_int_equal(m.kind, kind);
  ockami_buf b = OCKAMI_BUF_INIT;
  assert_int_equal(ockami_sp_encode(&b, &m), OCKAM_OK);
  assert_buf(&b, v);
  ockami_buf_free(&b);
  return m;
}

/* ---- known answers ------------------------------------------------------ */

static void test_e2_create(void **state) {
  (void)state;
  ockami_sp_msg m = decode_vec(&vecs[V_E2], true, OCKAMI_SP_CREATE);
  assert_str(m.protocol, "stream_create");
  assert_true(m.u.create.has_name);
  assert_str(m.u.create.name, SC_NAME);
  ockami_buf b = OCKAMI_BUF_INIT;
  assert_int_equal(ockami_sp_encode_create(&b, STR(SC_NAME)), OCKAM_OK);
  assert_buf(&b, &vecs[V_E2]);

  m = decode_vec(&vecs[V_E2B], true, OCKAMI_SP_CREATE);
  assert_false(m.u.create.has_name);
  b.len = 0;
  assert_int_equal(ockami_sp_encode_create(&b, NULL, 0), OCKAM_OK);
  assert_buf(&b, &vecs[V_E2B]);
  ockami_buf_free(&b);
}

/* ockam-c extension: stream_delete, the request and the ok reply share one
 * schema (a string), as in docs/protocol-extensions.md. */
static void test_delete(void **state) {
  (void)state;
  static const uint8_t want[] = {0x0d, 's', 't', 'r', 'e', 'a',  'm',  '_', 'd',
                                 'e',  'l', 'e', 't', 'e', 0x03, 0x02, 'a', 'b'};
  ockami_buf b = OCKAMI_BUF_INIT;
  assert_int_equal(ockami_sp_encode_delete(&b, "ab", 2), OCKAM_OK);
  assert_int_equal(b.len, sizeof want);
  assert_memory_equal(b.data, want, sizeof want);
  ockami_sp_msg m;
  assert_int_equal(ockami_sp_decode_request(b.data, b.len, &m), OCKAM_OK);
  assert_int_equal(m.kind, OCKAMI_SP_DELETE);
  assert_str(m.u.del.name, "ab");
  assert_int_equal(ockami_sp_decode_response(b.data, b.len, &m), OCKAM_OK);
  assert_int_equal(m.kind, OCKAMI_SP_DELETED);
  assert_str(m.u.del.name, "ab");
  ockami_buf r = OCKAMI_BUF_INIT;
  assert_int_equal(ockami_sp_encode(&r, &m), OCKAM_OK);
  assert_int_equal(r.len, b.len);
  assert_memory_equal(r.data, b.data, b.len);
  r.len = 0;
  assert_int_equal(ockami_sp_encode_deleted(&r, "ab", 2), OCKAM_OK);
  assert_memory_equal(r.data, want, sizeof want);
  /* Exact requests: a trailing byte inside the data is refused. */
  uint8_t extra[sizeof want + 1];
  memcpy(extra, want, sizeof want);
  extra[14] = 0x04;
  extra[sizeof want] = 0;
  assert_int_equal(ockami_sp_decode_request(extra, sizeof extra, &m), OCKAM_ETRAILING);
  /* An oversized name is refused (the hub answers an empty one "Stream not
   * found"). */
  char big[OCKAM_NAME_MAX + 1];
  memset(big, 'x', sizeof big);
  r.len = 0;
  assert_int_equal(ockami_sp_encode_delete(&r, big, sizeof big), OCKAM_EOVERFLOW);
  assert_int_equal(r.len, 0);
  ockami_buf_free(&r);
  ockami_buf_free(&b);
}

static void test_e3_init(void **state) {
  (void)state;
  ockami_buf b = OCKAMI_BUF_INIT;
  assert_int_equal(ockami_sp_encode_init(&b, STR(SC_NAME)), OCKAM_OK);
  /* E3 is a TCP frame whose TransportMessage ends with uint(len) ‖ payload. */
  const vec *f = &vecs[V_E3];
  assert_true(f->len > b.len);
  assert_int_equal(f->p[f->len - b.len - 1], b.len);
  assert_memory_equal(f->p + f->len - b.len, b.data, b.len);

  ockami_sp_msg m;
  assert_int_equal(ockami_sp_decode_response(b.data, b.len, &m), OCKAM_OK);
  assert_int_equal(m.kind, OCKAMI_SP_INIT);
  assert_str(m.u.init.name, SC_NAME);
  /* The same bytes as a request are not a CreateStreamRequest (0x19 is Some,
   * then the string runs out). */
  assert_int_not_equal(ockami_sp_decode_request(b.data, b.len, &m), OCKAM_OK);
  ockami_buf_free(&b);
}

static void test_e4_index(void **state) {
  (void)state;
  ockami_buf b = OCKAMI_BUF_INIT;
  ockami_sp_msg m = decode_vec(&vecs[V_E4A], true, OCKAMI_SP_INDEX_GET);
  assert_str(m.u.index_req.client_id, "client-I");
  assert_str(m.u.index_req.stream_name, SC_NAME);
  assert_int_equal(ockami_sp_encode_index_get(&b, STR("client-I"), STR(SC_NAME)), OCKAM_OK);
  assert_buf(&b, &vecs[V_E4A]);

  m = decode_vec(&vecs[V_E4B], false, OCKAMI_SP_INDEX);
  assert_str(m.u.index.client_id, "client-I");
  assert_str(m.u.index.stream_name, SC_NAME);
  assert_false(m.u.index.has_index);
  b.len = 0;
  assert_int_equal(ockami_sp_encode_index(&b, STR("client-I"), STR(SC_NAME), false, 0), OCKAM_OK);
  assert_buf(&b, &vecs[V_E4B]);

  m = decode_vec(&vecs[V_E4C], false, OCKAMI_SP_INDEX);
  assert_true(m.u.index.has_index);
  assert_int_equal(m.u.index.index, 5);
  b.len = 0;
  assert_int_equal(ockami_sp_encode_index(&b, STR("client-I"), STR(SC_NAME), true, 5), OCKAM_OK);
  assert_buf(&b, &vecs[V_E4C]);

  m = decode_vec(&vecs[V_E4D], true, OCKAMI_SP_INDEX_SAVE);
  assert_str(m.u.index_req.client_id, "client-I");
  assert_str(m.u.index_req.stream_name, SC_NAME);
  assert_int_equal(m.u.index_req.index, 2);
  b.len = 0;
  assert_int_equal(ockami_sp_encode_index_save(&b, STR("client-I"), STR(SC_NAME), 2), OCKAM_OK);
  assert_buf(&b, &vecs[V_E4D]);
  ockami_buf_free(&b);
}

static void test_e5_pull(void **state) {
  (void)state;
  ockami_buf b = OCKAMI_BUF_INIT;
  ockami_sp_msg m = decode_vec(&vecs[V_E5], true, OCKAMI_SP_PULL);
  assert_int_equal(m.u.pull.request_id, 0);
  assert_int_equal(m.u.pull.index, 0);
  assert_int_equal(m.u.pull.limit, 8);
  assert_false(m.u.pull.long_poll);
  assert_int_equal(m.u.pull.wait_ms, 0);
  assert_int_equal(ockami_sp_encode_pull(&b, 0, 0, 8), OCKAM_OK);
  assert_buf(&b, &vecs[V_E5]);

  m = decode_vec(&vecs[V_E5B], true, OCKAMI_SP_PULL);
  assert_int_equal(m.u.pull.request_id, 300);
  assert_int_equal(m.u.pull.index, 130);
  assert_int_equal(m.u.pull.limit, 8);
  b.len = 0;
  assert_int_equal(ockami_sp_encode_pull(&b, 300, 130, 8), OCKAM_OK);
  assert_buf(&b, &vecs[V_E5B]);
  ockami_buf_free(&b);
}

static void test_long_poll(void **state) {
  (void)state;
  /* PullRequest{0, 0, 8} plus wait_ms 30000 = uint b0 ea 01. */
  static const uint8_t want[] = {0x0b, 's', 't',  'r',  'e',  'a',  'm',  '_',  'p', 'u',
                                 'l',  'l', 0x06, 0x00, 0x00, 0x08, 0xb0, 0xea, 0x01};
  ockami_buf b = OCKAMI_BUF_INIT;
  assert_int_equal(ockami_sp_encode_pull_wait(&b, 0, 0, 8, 30000), OCKAM_OK);
  assert_int_equal(b.len, sizeof want);
  assert_memory_equal(b.data, want, sizeof want);

  vec v = {"long-poll", (uint8_t *)want, sizeof want};
  ockami_sp_msg m = decode_vec(&v, true, OCKAMI_SP_PULL);
  assert_true(m.u.pull.long_poll);
  assert_int_equal(m.u.pull.wait_ms, 30000);
  assert_int_equal(m.u.pull.limit, 8);

  /* wait_ms 0 in the 4-field form still round-trips as the 4-field form. */
  b.len = 0;
  assert_int_equal(ockami_sp_encode_pull_wait(&b, 1, 2, 3, 0), OCKAM_OK);
  assert_int_equal(b.data[12], 4);
  assert_int_equal(ockami_sp_decode_request(b.data, b.len, &m), OCKAM_OK);
  assert_true(m.u.pull.long_poll);
  assert_int_equal(m.u.pull.wait_ms, 0);

  /* 5 fields: trailing; 2 fields: truncated. */
  static const uint8_t five[] = {0, 0, 8, 10, 1};
  static const uint8_t two[] = {0, 0};
  b.len = 0;
  assert_int_equal(ockami_sp_payload_encode(&b, STR("stream_pull"), five, sizeof five), OCKAM_OK);
  assert_int_equal(ockami_sp_decode_request(b.data, b.len, &m), OCKAM_ETRAILING);
  assert_int_equal(m.kind, OCKAMI_SP_NONE);
  b.len = 0;
  assert_int_equal(ockami_sp_payload_encode(&b, STR("stream_pull"), two, sizeof two), OCKAM_OK);
  assert_int_equal(ockami_sp_decode_request(b.data, b.len, &m), OCKAM_ETRUNC);
  ockami_buf_free(&b);
}

static void test_e6_push(void **state) {
  (void)state;
  ockami_buf b = OCKAMI_BUF_INIT;
  const vec *data = &vecs[V_E6B];
  ockami_sp_msg m = decode_vec(&vecs[V_E6C], true, OCKAMI_SP_PUSH);
  assert_int_equal(m.u.push.request_id, 0);
  assert_int_equal(m.u.push.data.len, data->len);
  assert_memory_equal(m.u.push.data.p, data->p, data->len);
  /* No copy: the data points into the input. */
  assert_ptr_equal(m.u.push.data.p, vecs[V_E6C].p + vecs[V_E6C].len - data->len);
  assert_int_equal(ockami_sp_encode_push(&b, 0, data->p, data->len), OCKAM_OK);
  assert_buf(&b, &vecs[V_E6C]);

  m = decode_vec(&vecs[V_E6E], false, OCKAMI_SP_PUSH_CONFIRM);
  assert_int_equal(m.u.push_confirm.request_id, 0);
  assert_int_equal(m.u.push_confirm.status, OCKAMI_SP_STATUS_OK);
  assert_int_equal(m.u.push_confirm.index, 1);
  b.len = 0;
  assert_int_equal(ockami_sp_encode_push_confirm(&b, 0, OCKAMI_SP_STATUS_OK, 1), OCKAM_OK);
  assert_buf(&b, &vecs[V_E6E]);
  ockami_buf_free(&b);
}

static void test_e7_pull_response(void **state) {
  (void)state;
  ockami_buf b = OCKAMI_BUF_INIT;
  const vec *data = &vecs[V_E6B];
  ockami_sp_msg m = decode_vec(&vecs[V_E7], false, OCKAMI_SP_PULL_RESPONSE);
  assert_int_equal(m.u.pull_response.request_id, 0);
  assert_int_equal(m.u.pull_response.messages.count, 1);

  ockami_sp_stream_msg out[2];
  size_t n = 99;
  assert_int_equal(ockami_sp_msg_list_get(&m.u.pull_response.messages, out, 0, &n),
                   OCKAM_EOVERFLOW);
  assert_int_equal(n, 99);
  assert_int_equal(ockami_sp_msg_list_get(&m.u.pull_response.messages, out, 2, &n), OCKAM_OK);
  assert_int_equal(n, 1);
  assert_int_equal(out[0].index, 1);
  assert_int_equal(out[0].len, data->len);
  assert_memory_equal(out[0].data, data->p, data->len);
  assert_ptr_equal(out[0].data, vecs[V_E7].p + vecs[V_E7].len - data->len);

  ockami_sp_msg_iter it;
  ockami_sp_stream_msg one;
  ockami_sp_msg_iter_init(&it, &m.u.pull_response.messages);
  assert_true(ockami_sp_msg_iter_next(&it, &one));
  assert_int_equal(one.index, 1);
  assert_false(ockami_sp_msg_iter_next(&it, &one));

  assert_int_equal(ockami_sp_stream_msg_size(1, data->len), 1 + 1 + data->len);
  ockami_sp_stream_msg in = {1, data->p, data->len};
  assert_int_equal(ockami_sp_encode_pull_response(&b, 0, &in, 1), OCKAM_OK);
  assert_buf(&b, &vecs[V_E7]);

  m = decode_vec(&vecs[V_E7B], false, OCKAMI_SP_PULL_RESPONSE);
  assert_int_equal(m.u.pull_response.request_id, 7);
  assert_int_equal(m.u.pull_response.messages.count, 0);
  ockami_sp_msg_iter_init(&it, &m.u.pull_response.messages);
  assert_false(ockami_sp_msg_iter_next(&it, &one));
  b.len = 0;
  assert_int_equal(ockami_sp_encode_pull_response(&b, 7, NULL, 0), OCKAM_OK);
  assert_buf(&b, &vecs[V_E7B]);
  ockami_buf_free(&b);
}

static void test_e12_error(void **state) {
  (void)state;
  ockami_buf b = OCKAMI_BUF_INIT;
  ockami_sp_msg m = decode_vec(&vecs[V_E12], false, OCKAMI_SP_ERROR);
  assert_str(m.u.error.reason, OCKAMI_SP_INVALID_REQUEST);
  assert_int_equal(ockami_sp_encode_error(&b, STR(OCKAMI_SP_INVALID_REQUEST)), OCKAM_OK);
  assert_buf(&b, &vecs[V_E12]);

  /* `error` has no request schema: the hub sees an unknown protocol. */
  assert_int_equal(ockami_sp_decode_request(b.data, b.len, &m), OCKAM_ENOTSUP);
  assert_int_equal(m.kind, OCKAMI_SP_UNKNOWN);
  assert_str(m.protocol, "error");
  ockami_buf_free(&b);
}

/* ---- malformed input ---------------------------------------------------- */

/* Every vector, in both directions, for the truncation test. */
static const int all_vectors[] = {V_E2,  V_E2B, V_E4A, V_E4B, V_E4C, V_E4D, V_E5,
                                  V_E5B, V_E6C, V_E6E, V_E7,  V_E7B, V_E12, V_E13B};

static void check_prefixes(const uint8_t *p, size_t len) {
  for (size_t k = 0; k < len; k++) {
    /* Exactly k bytes on the heap, so ASan sees any read past the end. */
    uint8_t *copy = malloc(k ? k : 1);
    memcpy(copy, p, k);
    for (int dir = 0; dir < 2; dir++) {
      ockami_sp_msg m;
      int rc = dir ? ockami_sp_decode_request(copy, k, &m) : ockami_sp_decode_response(copy, k, &m);
      assert_true(rc < 0);
      assert_int_not_equal(rc, OCKAM_ENOTSUP);
      assert_int_equal(m.kind, OCKAMI_SP_NONE);
    }
    free(copy);
  }
}

static void test_truncated_prefixes(void **state) {
  (void)state;
  for (size_t i = 0; i < sizeof all_vectors / sizeof all_vectors[0]; i++) {
    const vec *v = &vecs[all_vectors[i]];
    check_prefixes(v->p, v->len);
    /* The whole vector in the "wrong" direction must not read out of bounds either. */
    uint8_t *copy = malloc(v->len);
    memcpy(copy, v->p, v->len);
    ockami_sp_msg m;
    assert_true(ockami_sp_decode_request(copy, v->len, &m) <= 0);
    assert_true(ockami_sp_decode_response(copy, v->len, &m) <= 0);
    free(copy);
  }
  ockami_buf b = OCKAMI_BUF_INIT;
  assert_int_equal(ockami_sp_encode_pull_wait(&b, 300, 130, 8, 1000), OCKAM_OK);
  check_prefixes(b.data, b.len);
  ockami_buf_free(&b);
}

static const int request_vectors[] = {V_E2, V_E2B, V_E4A, V_E4D, V_E5, V_E5B, V_E6C};
static const int response_vectors[] = {V_E4B, V_E4C, V_E6E, V_E7, V_E7B, V_E12};

/* Re-wraps the body of v with `extra` appended inside the data. */
static void body_plus(const vec *v, uint8_t extra, ockami_buf *out) {
  ockami_sp_str name;
  ockami_sp_bytes body;
  assert_int_equal(ockami_sp_payload_decode(v->p, v->len, true, &name, &body), OCKAM_OK);
  uint8_t tmp[256];
  assert_true(body.len < sizeof tmp);
  memcpy(tmp, body.p, body.len);
  tmp[body.len] = extra;
  out->len = 0;
  assert_int_equal(ockami_sp_payload_encode(out, name.p, name.len, tmp, body.len + 1), OCKAM_OK);
}

static void test_trailing(void **state) {
  (void)state;
  ockami_buf b = OCKAMI_BUF_INIT;
  ockami_sp_msg m;
  for (size_t i = 0; i < sizeof request_vectors / sizeof request_vectors[0]; i++) {
    const vec *v = &vecs[request_vectors[i]];
    /* after the wrapper */
    b.len = 0;
    assert_int_equal(ockami_buf_append(&b, v->p, v->len), OCKAM_OK);
    assert_int_equal(ockami_buf_append(&b, "\0", 1), OCKAM_OK);
    assert_int_equal(ockami_sp_decode_request(b.data, b.len, &m), OCKAM_ETRAILING);
    assert_int_equal(m.kind, OCKAMI_SP_NONE);
    /* inside the body; a stream_pull body then has 4 fields, so use 2 bytes there */
    body_plus(v, 0x00, &b);
    int rc = ockami_sp_decode_request(b.data, b.len, &m);
    if (request_vectors[i] == V_E5 || request_vectors[i] == V_E5B) {
      assert_int_equal(rc, OCKAM_OK);
      assert_true(m.u.pull.long_poll);
      assert_int_equal(ockami_buf_append(&b, "\0", 1), OCKAM_OK);
      b.data[11 + 1]++; /* data length byte after "stream_pull" */
      rc = ockami_sp_decode_request(b.data, b.len, &m);
    }
    /* a stream_push body goes on with the idempotent form's fields, which
     * one more byte cannot hold */
    if (request_vectors[i] == V_E6C) {
      assert_int_equal(rc, OCKAM_ETRUNC);
      continue;
    }
    assert_int_equal(rc, OCKAM_ETRAILING);
  }
  /* Responses are lenient (serde_bare in the Rust client ignores trailing bytes). */
  for (size_t i = 0; i < sizeof response_vectors / sizeof response_vectors[0]; i++) {
    const vec *v = &vecs[response_vectors[i]];
    b.len = 0;
    assert_int_equal(ockami_buf_append(&b, v->p, v->len), OCKAM_OK);
    assert_int_equal(ockami_buf_append(&b, "\x07", 1), OCKAM_OK);
    assert_int_equal(ockami_sp_decode_response(b.data, b.len, &m), OCKAM_OK);
    if (v->len < 200) {
      body_plus(v, 0x07, &b);
      assert_int_equal(ockami_sp_decode_response(b.data, b.len, &m), OCKAM_OK);
    }
  }
  ockami_buf_free(&b);
}

/* Wraps body in a ProtocolPayload and decodes it. The bytes stay in
 * `scratch` until the next call, so the decoded views remain valid. */
static int decode_body(bool request, const char *proto, const uint8_t *body, size_t len,
                       ockami_sp_msg *m) {
  scratch.len = 0;
  assert_int_equal(ockami_sp_payload_encode(&scratch, proto, strlen(proto), body, len), OCKAM_OK);
  return request ? ockami_sp_decode_request(scratch.data, scratch.len, m)
                 : ockami_sp_decode_response(scratch.data, scratch.len, m);
}

static void test_limits(void **state) {
  (void)state;
  ockami_sp_msg m;
  ockami_buf b = OCKAMI_BUF_INIT;
  uint8_t body[600];
  char name[OCKAM_NAME_MAX + 1];
  memset(name, 'a', sizeof name);

  /* names: 255 accepted, 256 refused both ways */
  body[0] = 1;
  body[1] = 0xff, body[2] = 0x01; /* uint 255 */
  memset(body + 3, 'a', 256);
  assert_int_equal(decode_body(true, "stream_create", body, 3 + 255, &m), OCKAM_OK);
  assert_int_equal(m.u.create.name.len, 255);
  body[1] = 0x80, body[2] = 0x02; /* uint 256 */
  assert_int_equal(decode_body(true, "stream_create", body, 3 + 256, &m), OCKAM_EOVERFLOW);
  assert_int_equal(decode_body(false, "stream_create", body + 1, 2 + 256, &m), OCKAM_EOVERFLOW);
  assert_int_equal(ockami_sp_encode_create(&b, name, OCKAM_NAME_MAX), OCKAM_OK);
  b.len = 0;
  assert_int_equal(ockami_sp_encode_create(&b, name, OCKAM_NAME_MAX + 1), OCKAM_EOVERFLOW);
  assert_int_equal(ockami_sp_encode_index_get(&b, name, OCKAM_NAME_MAX + 1, STR("s")),
                   OCKAM_EOVERFLOW);
  assert_int_equal(ockami_sp_encode_init(&b, name, OCKAM_NAME_MAX + 1), OCKAM_EOVERFLOW);
  assert_int_equal(ockami_sp_payload_encode(&b, name, OCKAM_NAME_MAX + 1, NULL, 0),
                   OCKAM_EOVERFLOW);
  assert_int_equal(b.len, 0);

  /* pull limit is clamped, not refused */
  static const uint8_t big_limit[] = {0, 0, 0x88, 0x27};                              /* 5000 */
  static const uint8_t max_limit[] = {0,    0,    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, /* 2^64-1 */
                                      0xff, 0xff, 0xff, 0x01};
  assert_int_equal(decode_body(true, "stream_pull", big_limit, sizeof big_limit, &m), OCKAM_OK);
  assert_int_equal(m.u.pull.limit, OCKAM_PULL_LIMIT_MAX);
  assert_int_equal(decode_body(true, "stream_pull", max_limit, sizeof max_limit, &m), OCKAM_OK);
  assert_int_equal(m.u.pull.limit, OCKAM_PULL_LIMIT_MAX);
  /* an 11-byte uint is refused */
  static const uint8_t long_uint[] = {0,    0,    0xff, 0xff, 0xff, 0xff, 0xff,
                                      0xff, 0xff, 0xff, 0xff, 0x81, 0x00};
  assert_int_equal(decode_body(true, "stream_pull", long_uint, sizeof long_uint, &m),
                   OCKAM_EOVERFLOW);

  /* push data over OCKAM_STREAM_MESSAGE_MAX: refused on its length alone */
  static const uint8_t big_push[] = {0, 0x80, 0x80, 0x04}; /* data length 65536 */
  assert_int_equal(decode_body(true, "stream_push", big_push, sizeof big_push, &m),
                   OCKAM_EOVERFLOW);
  assert_int_equal(
      ockami_sp_encode_push(&b, 0, (const uint8_t *)name, (size_t)OCKAM_STREAM_MESSAGE_MAX + 1),
      OCKAM_EOVERFLOW);
  /* pull response data length over the cap */
  static const uint8_t big_msg[] = {0, 1, 1, 0x80, 0x80, 0x04};
  assert_int_equal(decode_body(false, "stream_pull", big_msg, sizeof big_msg, &m), OCKAM_EOVERFLOW);

  /* pull response counts: over the cap, and more than the bytes can hold */
  static const uint8_t many[] = {0, 0x81, 0x08}; /* 1025 */
  assert_int_equal(decode_body(false, "stream_pull", many, sizeof many, &m), OCKAM_EOVERFLOW);
  static const uint8_t short_list[] = {0, 0xe8, 0x07, 1, 0}; /* 1000 claimed, 1 present */
  assert_int_equal(decode_body(false, "stream_pull", short_list, sizeof short_list, &m),
                   OCKAM_ETRUNC);
  static const uint8_t three_of_two[] = {0, 3, 1, 0, 2, 0}; /* count 3, 2 messages */
  assert_int_equal(decode_body(false, "stream_pull", three_of_two, sizeof three_of_two, &m),
                   OCKAM_ETRUNC);

  static ockami_sp_stream_msg msgs[OCKAM_PULL_LIMIT_MAX + 1];
  assert_int_equal(ockami_sp_encode_pull_response(&b, 0, msgs, OCKAM_PULL_LIMIT_MAX + 1),
                   OCKAM_EOVERFLOW);
  /* a full-size response is encodable and decodes back */
  assert_int_equal(ockami_sp_encode_pull_response(&b, 0, msgs, OCKAM_PULL_LIMIT_MAX), OCKAM_OK);
  assert_int_equal(ockami_sp_decode_response(b.data, b.len, &m), OCKAM_OK);
  assert_int_equal(m.u.pull_response.messages.count, OCKAM_PULL_LIMIT_MAX);

  /* a body larger than a payload may be is refused, leaving the buffer as it was */
  static uint8_t blob[40000];
  ockami_sp_stream_msg two[2] = {{1, blob, sizeof blob}, {2, blob, sizeof blob}};
  b.len = 3;
  assert_int_equal(ockami_sp_encode_pull_response(&b, 0, two, 2), OCKAM_EOVERFLOW);
  assert_int_equal(b.len, 3);
  ockami_buf_free(&b);
}

static void test_utf8(void **state) {
  (void)state;
  ockami_sp_msg m;
  ockami_buf b = OCKAMI_BUF_INIT;
  static const uint8_t create_ff[] = {1, 1, 0xff};
  assert_int_equal(decode_body(true, "stream_create", create_ff, sizeof create_ff, &m),
                   OCKAM_EUTF8);
  static const uint8_t get_overlong[] = {0, 2, 0xc0, 0x80, 1, 's'};
  assert_int_equal(decode_body(true, "stream_index", get_overlong, sizeof get_overlong, &m),
                   OCKAM_EUTF8);
  static const uint8_t save_surrogate[] = {1, 1, 'c', 3, 0xed, 0xa0, 0x80, 0};
  assert_int_equal(decode_body(true, "stream_index", save_surrogate, sizeof save_surrogate, &m),
                   OCKAM_EUTF8);
  static const uint8_t init_bad[] = {2, 0xe2, 0x82};
  assert_int_equal(decode_body(false, "stream_create", init_bad, sizeof init_bad, &m), OCKAM_EUTF8);
  static const uint8_t index_bad[] = {1, 'c', 1, 0x80, 0};
  assert_int_equal(decode_body(false, "stream_index", index_bad, sizeof index_bad, &m),
                   OCKAM_EUTF8);
  static const uint8_t error_bad[] = {1, 0xfe};
  assert_int_equal(decode_body(false, "error", error_bad, sizeof error_bad, &m), OCKAM_EUTF8);
  /* protocol name itself */
  static const uint8_t bad_proto[] = {2, 0xc3, 0x28, 0};
  assert_int_equal(ockami_sp_decode_request(bad_proto, sizeof bad_proto, &m), OCKAM_EUTF8);
  assert_int_equal(ockami_sp_decode_response(bad_proto, sizeof bad_proto, &m), OCKAM_EUTF8);
  /* multi-byte UTF-8 is fine */
  assert_int_equal(ockami_sp_encode_create(&b, STR("str\xc3\xa9\xe2\x82\xac")), OCKAM_OK);
  assert_int_equal(ockami_sp_decode_request(b.data, b.len, &m), OCKAM_OK);
  /* encoders refuse bad UTF-8 and append nothing */
  b.len = 0;
  assert_int_equal(ockami_sp_encode_create(&b, STR("\xff")), OCKAM_EUTF8);
  assert_int_equal(ockami_sp_encode_index_save(&b, STR("c"), STR("\xc0\x80"), 1), OCKAM_EUTF8);
  assert_int_equal(ockami_sp_encode_error(&b, STR("\xed\xa0\x80")), OCKAM_EUTF8);
  assert_int_equal(ockami_sp_payload_encode(&b, STR("\xff"), NULL, 0), OCKAM_EUTF8);
  assert_int_equal(b.len, 0);
  ockami_buf_free(&b);
}

static void test_unknown_protocol(void **state) {
  (void)state;
  ockami_sp_msg m;
  static const uint8_t body[] = {1, 1, 's', 2};
  assert_int_equal(decode_body(true, "stream_create_partitioned", body, sizeof body, &m),
                   OCKAM_ENOTSUP);
  assert_int_equal(m.kind, OCKAMI_SP_UNKNOWN);
  assert_str(m.protocol, "stream_create_partitioned");
  assert_int_equal(m.u.unknown.len, sizeof body);
  assert_int_equal(decode_body(false, "binary", body, sizeof body, &m), OCKAM_ENOTSUP);
  assert_int_equal(decode_body(true, "", NULL, 0, &m), OCKAM_ENOTSUP);
  /* case matters */
  assert_int_equal(decode_body(true, "Stream_pull", body, 3, &m), OCKAM_ENOTSUP);

  /* E13b: the Rust consumer's node-local fetch command is a payload, but not a response */
  const vec *v = &vecs[V_E13B];
  assert_int_equal(ockami_sp_decode_response(v->p, v->len, &m), OCKAM_ENOTSUP);
  assert_str(m.protocol, "internal.stream.fetch");
  assert_int_equal(m.u.unknown.len, 1);
  assert_int_equal(m.u.unknown.p[0], 0);
  /* the generic encoder refuses UNKNOWN; the wrapper encoder reproduces it */
  ockami_buf b = OCKAMI_BUF_INIT;
  assert_int_equal(ockami_sp_encode(&b, &m), OCKAM_EINVAL);
  assert_int_equal(
      ockami_sp_payload_encode(&b, m.protocol.p, m.protocol.len, m.u.unknown.p, m.u.unknown.len),
      OCKAM_OK);
  assert_buf(&b, v);
  ockami_buf_free(&b);
}

static void test_tags(void **state) {
  (void)state;
  ockami_sp_msg m;
  /* any non-zero option tag is Some (spec §0) */
  for (unsigned tag = 1; tag <= 0xff; tag++) {
    uint8_t create[] = {(uint8_t)tag, 1, 'x'};
    assert_int_equal(decode_body(true, "stream_create", create, sizeof create, &m), OCKAM_OK);
    assert_true(m.u.create.has_name);
    assert_str(m.u.create.name, "x");
    uint8_t index[] = {1, 'c', 1, 's', (uint8_t)tag, 9};
    assert_int_equal(decode_body(false, "stream_index", index, sizeof index, &m), OCKAM_OK);
    assert_true(m.u.index.has_index);
    assert_int_equal(m.u.index.index, 9);
  }
  /* ... and re-encodes canonically with tag 01 */
  static const uint8_t some2[] = {2, 1, 'x'};
  assert_int_equal(decode_body(true, "stream_create", some2, sizeof some2, &m), OCKAM_OK);
  ockami_buf b = OCKAMI_BUF_INIT;
  assert_int_equal(ockami_sp_encode_create(&b, m.u.create.name.p, m.u.create.name.len), OCKAM_OK);
  assert_int_equal(b.data[b.len - 3], 1);
  ockami_buf_free(&b);

  /* union tag of stream_index requests: 0, 1 only */
  static const uint8_t tag2[] = {2, 1, 'c', 1, 's'};
  assert_int_equal(decode_body(true, "stream_index", tag2, sizeof tag2, &m), OCKAM_EMALFORMED);
  static const uint8_t tag_big[] = {0x80, 0x01, 1, 'c', 1, 's'};
  assert_int_equal(decode_body(true, "stream_index", tag_big, sizeof tag_big, &m),
                   OCKAM_EMALFORMED);
  /* Get with a trailing index is not a Save */
  static const uint8_t get_extra[] = {0, 1, 'c', 1, 's', 4};
  assert_int_equal(decode_body(true, "stream_index", get_extra, sizeof get_extra, &m),
                   OCKAM_ETRAILING);

  /* PushConfirm status: 0, 1, and the extension's 2 only */
  static const uint8_t st_err[] = {5, 1, 0};
  assert_int_equal(decode_body(false, "stream_push", st_err, sizeof st_err, &m), OCKAM_OK);
  assert_int_equal(m.u.push_confirm.status, OCKAMI_SP_STATUS_ERROR);
  static const uint8_t st_resend[] = {5, 2, 7};
  assert_int_equal(decode_body(false, "stream_push", st_resend, sizeof st_resend, &m), OCKAM_OK);
  assert_int_equal(m.u.push_confirm.status, OCKAMI_SP_STATUS_RESEND);
  assert_int_equal(m.u.push_confirm.index, 7);
  static const uint8_t st_bad[] = {5, 3, 0};
  assert_int_equal(decode_body(false, "stream_push", st_bad, sizeof st_bad, &m), OCKAM_EMALFORMED);
  b.len = 0;
  assert_int_equal(ockami_sp_encode_push_confirm(&b, 0, (ockami_sp_status)3, 0), OCKAM_EINVAL);
  assert_int_equal(ockami_sp_encode_push_confirm(&b, 3, OCKAMI_SP_STATUS_ERROR, 0), OCKAM_OK);
  assert_int_equal(ockami_sp_decode_response(b.data, b.len, &m), OCKAM_OK);
  assert_int_equal(m.u.push_confirm.status, OCKAMI_SP_STATUS_ERROR);
  ockami_buf_free(&b);
}

/* The idempotent producer extension (proto.h, docs/protocol-extensions.md). */
static void test_idem_push(void **state) {
  (void)state;
  /* PushRequest{5, "hi"} ‖ producer "pq" ‖ session 300 ‖ seq 1. */
  static const uint8_t want[] = {0x0b, 's',  't',  'r', 'e', 'a',  'm', '_', 'p',  'u',  's', 'h',
                                 0x0a, 0x05, 0x02, 'h', 'i', 0x02, 'p', 'q', 0xac, 0x02, 0x01};
  ockami_buf b = OCKAMI_BUF_INIT;
  assert_int_equal(ockami_sp_encode_push_idem(&b, 5, (const uint8_t *)"hi", 2, "pq", 2, 300, 1),
                   OCKAM_OK);
  assert_int_equal(b.len, sizeof want);
  assert_memory_equal(b.data, want, sizeof want);
  vec v = {"idem push", (uint8_t *)want, sizeof want};
  ockami_sp_msg m = decode_vec(&v, true, OCKAMI_SP_PUSH);
  assert_true(m.u.push.idem);
  assert_int_equal(m.u.push.request_id, 5);
  assert_str(m.u.push.producer, "pq");
  assert_int_equal(m.u.push.session, 300);
  assert_int_equal(m.u.push.seq, 1);
  assert_int_equal(m.u.push.data.len, 2);
  /* the 2021 form decodes as before, without the extension */
  b.len = 0;
  assert_int_equal(ockami_sp_encode_push(&b, 5, (const uint8_t *)"hi", 2), OCKAM_OK);
  assert_int_equal(b.len, 17);
  assert_int_equal(ockami_sp_decode_request(b.data, b.len, &m), OCKAM_OK);
  assert_false(m.u.push.idem);
  /* encoder refusals: empty producer, NUL inside, seq 0, over the name limit */
  b.len = 0;
  assert_int_equal(ockami_sp_encode_push_idem(&b, 5, NULL, 0, "", 0, 1, 1), OCKAM_EINVAL);
  assert_int_equal(ockami_sp_encode_push_idem(&b, 5, NULL, 0, "a\0b", 3, 1, 1), OCKAM_EINVAL);
  assert_int_equal(ockami_sp_encode_push_idem(&b, 5, NULL, 0, "ab", 2, 1, 0), OCKAM_EINVAL);
  char big[OCKAM_NAME_MAX + 1];
  memset(big, 'x', sizeof big);
  assert_int_equal(ockami_sp_encode_push_idem(&b, 5, NULL, 0, big, sizeof big, 1, 1),
                   OCKAM_EOVERFLOW);
  assert_int_equal(b.len, 0);
  /* decoder: partial extension truncated, bad values malformed, more trailing */
  static const uint8_t part[] = {5, 2, 'h', 'i', 2, 'p', 'q', 1};
  assert_int_equal(decode_body(true, "stream_push", part, sizeof part, &m), OCKAM_ETRUNC);
  static const uint8_t seq0[] = {5, 2, 'h', 'i', 2, 'p', 'q', 1, 0};
  assert_int_equal(decode_body(true, "stream_push", seq0, sizeof seq0, &m), OCKAM_EMALFORMED);
  static const uint8_t empty_id[] = {5, 2, 'h', 'i', 0, 1, 1};
  assert_int_equal(decode_body(true, "stream_push", empty_id, sizeof empty_id, &m),
                   OCKAM_EMALFORMED);
  static const uint8_t nul_id[] = {5, 2, 'h', 'i', 2, 'p', 0, 1, 1};
  assert_int_equal(decode_body(true, "stream_push", nul_id, sizeof nul_id, &m), OCKAM_EMALFORMED);
  static const uint8_t extra[] = {5, 2, 'h', 'i', 2, 'p', 'q', 1, 1, 9};
  assert_int_equal(decode_body(true, "stream_push", extra, sizeof extra, &m), OCKAM_ETRAILING);
  /* the RESEND confirm round-trips */
  b.len = 0;
  assert_int_equal(ockami_sp_encode_push_confirm(&b, 9, OCKAMI_SP_STATUS_RESEND, 42), OCKAM_OK);
  assert_int_equal(ockami_sp_decode_response(b.data, b.len, &m), OCKAM_OK);
  assert_int_equal(m.u.push_confirm.status, OCKAMI_SP_STATUS_RESEND);
  assert_int_equal(m.u.push_confirm.index, 42);
  ockami_buf_free(&b);
}

static void test_append(void **state) {
  (void)state;
  /* Encoders append after what the buffer already holds. */
  ockami_buf b = OCKAMI_BUF_INIT;
  assert_int_equal(ockami_buf_append(&b, "\x2a", 1), OCKAM_OK);
  assert_int_equal(ockami_sp_encode_pull(&b, 0, 0, 8), OCKAM_OK);
  assert_int_equal(b.len, 1 + vecs[V_E5].len);
  assert_int_equal(b.data[0], 0x2a);
  assert_memory_equal(b.data + 1, vecs[V_E5].p, vecs[V_E5].len);
  ockami_buf_free(&b);

  /* a body of >= 128 bytes needs a two-byte length prefix (E6c: 0x63 0x00 -> 99) */
  uint8_t data[200];
  memset(data, 0x11, sizeof data);
  assert_int_equal(ockami_sp_encode_push(&b, 1, data, sizeof data), OCKAM_OK);
  ockami_sp_msg m;
  assert_int_equal(ockami_sp_decode_request(b.data, b.len, &m), OCKAM_OK);
  assert_int_equal(m.u.push.request_id, 1);
  assert_int_equal(m.u.push.data.len, sizeof data);
  assert_memory_equal(m.u.push.data.p, data, sizeof data);
  assert_int_equal(b.data[12], 0xcb); /* body 203 = 01 c8 01 ‖ 200 bytes -> cb 01 */
  assert_int_equal(b.data[13], 0x01);
  ockami_buf_free(&b);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_e2_create),
      cmocka_unit_test(test_e3_init),
      cmocka_unit_test(test_e4_index),
      cmocka_unit_test(test_e5_pull),
      cmocka_unit_test(test_long_poll),
      cmocka_unit_test(test_idem_push),
      cmocka_unit_test(test_delete),
      cmocka_unit_test(test_e6_push),
      cmocka_unit_test(test_e7_pull_response),
      cmocka_unit_test(test_e12_error),
      cmocka_unit_test(test_truncated_prefixes),
      cmocka_unit_test(test_trailing),
      cmocka_unit_test(test_limits),
      cmocka_unit_test(test_utf8),
      cmocka_unit_test(test_unknown_protocol),
      cmocka_unit_test(test_tags),
      cmocka_unit_test(test_append),
  };
  return cmocka_run_group_tests(tests, load_all, free_all);
}
