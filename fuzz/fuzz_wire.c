/* TCP framing and TransportMessage decoding (src/codec/wire.c, spec §1.3,
 * §2.1), as the TCP transport reads a connection.
 *
 * The input is a received byte stream. It is cut into frames exactly like
 * the transport's read callback does (u16 BE length, a zero length or an
 * undecodable frame ends the connection, a partial frame waits for more),
 * and each frame body is decoded strictly. Every message that decodes must:
 *   - also decode leniently and through the public ockam_message_decode(),
 *     to the same message;
 *   - re-encode to exactly ockami_tm_size() bytes, and that encoding must
 *     decode to the same message and re-encode to the same bytes
 *     (decode -> encode -> decode is the identity);
 *   - frame with ockami_tm_encode_frame() behind the right length header.
 */
#include "fuzz.h"
#include "message.h"
#include "ockam/limits.h"
#include "route.h"
#include "wire.h"

static bool same_message(const ockam_message *a, const ockam_message *b) {
  return ockam_route_equal(&a->onward, &b->onward) && ockam_route_equal(&a->ret, &b->ret) &&
         a->payload.len == b->payload.len &&
         (a->payload.len == 0 || memcmp(a->payload.data, b->payload.data, a->payload.len) == 0);
}

static void check_route(const ockam_route *r) {
  FUZZ_CHECK(ockam_route_len(r) <= OCKAM_ROUTE_MAX_HOPS);
  for (size_t i = 0; i < ockam_route_len(r); i++) {
    ockam_address a;
    FUZZ_CHECK(ockam_route_get(r, i, &a) == 0);
    FUZZ_CHECK(a.type <= 127);
  }
  char text[64];
  size_t n = ockam_route_format(r, text, sizeof text);
  FUZZ_CHECK(n < sizeof text && text[n] == 0);
}

static void check_frame(const uint8_t *p, size_t n) {
  ockam_message m, lenient, again;
  ockami_message_init(&m);
  ockami_message_init(&lenient);
  ockami_message_init(&again);
  int rc = ockami_tm_decode(p, n, true, &m);
  int lrc = ockami_tm_decode(p, n, false, &lenient);
  ockam_message *pub = NULL;
  int prc = ockam_message_decode(p, n, &pub);
  FUZZ_CHECK((rc == 0) == (prc == 0));
  /* Lenient decoding differs from strict only in ignoring trailing bytes. */
  if (rc == 0) FUZZ_CHECK(lrc == 0 && same_message(&m, &lenient));
  if (rc != 0 && lrc == 0) FUZZ_CHECK(rc == OCKAM_ETRAILING);
  if (rc == 0) {
    FUZZ_CHECK(same_message(&m, pub));
    check_route(&m.onward);
    check_route(&m.ret);
    FUZZ_CHECK(m.payload.len <= OCKAM_PAYLOAD_MAX);

    ockami_buf enc = OCKAMI_BUF_INIT, enc2 = OCKAMI_BUF_INIT, frame = OCKAMI_BUF_INIT;
    FUZZ_CHECK(ockami_tm_encode(&m, &enc) == 0);
    FUZZ_CHECK(enc.len == ockami_tm_size(&m));
    /* Re-encoding never grows a message: lengths become minimal. */
    FUZZ_CHECK(enc.len <= n);
    FUZZ_CHECK(ockami_tm_decode(enc.data, enc.len, true, &again) == 0);
    FUZZ_CHECK(same_message(&m, &again));
    FUZZ_CHECK(ockami_tm_encode(&again, &enc2) == 0);
    FUZZ_CHECK(enc2.len == enc.len && memcmp(enc.data, enc2.data, enc.len) == 0);

    FUZZ_CHECK(ockami_tm_encode_frame(&m, &frame) == 0);
    FUZZ_CHECK(frame.len == enc.len + 2 && ((size_t)frame.data[0] << 8 | frame.data[1]) == enc.len);
    FUZZ_CHECK(memcmp(frame.data + 2, enc.data, enc.len) == 0);

    /* The public encoder agrees and reports the size when the buffer is short. */
    uint8_t small[8];
    size_t need = 0;
    int erc = ockam_message_encode(&m, small, sizeof small, &need);
    FUZZ_CHECK(need == enc.len && (erc == 0) == (enc.len <= sizeof small));
    if (erc == 0) FUZZ_CHECK(memcmp(small, enc.data, enc.len) == 0);
    ockami_buf_free(&enc);
    ockami_buf_free(&enc2);
    ockami_buf_free(&frame);
  }
  ockam_message_free(pub);
  ockami_message_release(&m);
  ockami_message_release(&lenient);
  ockami_message_release(&again);
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  fuzz_quiet();
  return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  size_t off = 0;
  while (size - off >= 2) {
    size_t n = (size_t)data[off] << 8 | data[off + 1];
    if (size - off - 2 < n) break; /* wait for the rest of the frame */
    if (n == 0) break;             /* the transport closes the connection */
    check_frame(data + off + 2, n);
    off += 2 + n;
  }
  /* A lone message (no framing) as well, so short inputs reach the decoder. */
  check_frame(data, size);
  return 0;
}
