/* Identity channel handshake messages (src/channel/identity_msgs.c, identity
 * spec §6.2): ChannelAuthRequest, ChannelAuthResponse, ChannelAuthConfirm
 * and the Contact walk they start with. Input: [mode][message]. mode % 4
 * picks the decoder: 0 Request, 1 Response, 2 Confirm, 3 the Contact walk
 * alone.
 *
 * Oracles:
 *   - a refused message leaves the output zeroed;
 *   - an accepted one returns spans inside the input: the Contact first, a
 *     64-byte proof, a non-empty local channel address of at most 255 bytes;
 *   - encoding what was decoded gives a message that decodes to the same
 *     fields (the encoder writes minimal lengths, the input may not);
 *   - whatever the change-history layout decoder (change.c) accepts as a
 *     whole Contact, the walk accepts too, with the same length: the walk
 *     must never drop a Contact the verifier would have taken.
 */
#include "change.h"
#include "fuzz.h"
#include "identity_msgs.h"
#include "ockam/route.h"

static bool inside(const uint8_t *p, size_t n, const uint8_t *data, size_t size) {
  return p && p >= data && n <= size && (size_t)(p - data) <= size - n;
}

static void check_zeroed(const ockami_auth_msg *m) {
  FUZZ_CHECK(!m->contact && !m->contact_len && !m->proof && !m->addr && !m->addr_len &&
             !m->addr_type);
}

static void check_fields(int mode, const ockami_auth_msg *m, const uint8_t *data, size_t size) {
  if (mode != 2) {
    FUZZ_CHECK(m->contact == data && m->contact_len > 0);
    FUZZ_CHECK(inside(m->contact, m->contact_len, data, size));
    FUZZ_CHECK(m->contact_len <= OCKAMI_AUTH_CONTACT_MAX);
    FUZZ_CHECK(inside(m->proof, OCKAMI_AUTH_PROOF_LEN, data, size));
  }
  if (mode != 0) {
    FUZZ_CHECK(m->addr_type == OCKAM_ADDRESS_LOCAL);
    FUZZ_CHECK(m->addr_len >= 1 && m->addr_len <= 255);
    FUZZ_CHECK(inside(m->addr, m->addr_len, data, size));
  }
}

static int decode(int mode, const uint8_t *p, size_t len, ockami_auth_msg *m) {
  switch (mode) {
    case 0:
      return ockami_auth_request_decode(p, len, m);
    case 1:
      return ockami_auth_response_decode(p, len, m);
    default:
      return ockami_auth_confirm_decode(p, len, m);
  }
}

/* Encode m again, decode that, compare the fields. The encoders take the
 * address as a C string: an address with a NUL byte cannot be written. */
static void round_trip(int mode, const ockami_auth_msg *m) {
  char addr[256];
  if (mode != 0) {
    if (memchr(m->addr, 0, m->addr_len)) return;
    memcpy(addr, m->addr, m->addr_len);
    addr[m->addr_len] = 0;
  }
  ockami_buf b = OCKAMI_BUF_INIT;
  int rc = mode == 0   ? ockami_auth_request_encode(&b, m->contact, m->contact_len, m->proof)
           : mode == 1 ? ockami_auth_response_encode(&b, m->contact, m->contact_len, m->proof, addr)
                       : ockami_auth_confirm_encode(&b, addr);
  FUZZ_CHECK(rc == OCKAM_OK);
  ockami_auth_msg again;
  FUZZ_CHECK(decode(mode, b.data, b.len, &again) == OCKAM_OK);
  if (mode != 2) {
    FUZZ_CHECK(again.contact_len == m->contact_len &&
               memcmp(again.contact, m->contact, m->contact_len) == 0);
    FUZZ_CHECK(memcmp(again.proof, m->proof, OCKAMI_AUTH_PROOF_LEN) == 0);
  }
  if (mode != 0) {
    FUZZ_CHECK(again.addr_type == m->addr_type && again.addr_len == m->addr_len &&
               memcmp(again.addr, m->addr, m->addr_len) == 0);
  }
  ockami_buf_free(&b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  fuzz_quiet();
  if (size == 0) return 0;
  int mode = data[0] % 4;
  data++;
  size--;

  if (mode == 3) {
    ockami_reader r;
    ockami_reader_init(&r, data, size);
    const uint8_t *start = NULL;
    size_t len = 0;
    int rc = ockami_contact_span(&r, &start, &len);
    if (rc == OCKAM_OK) FUZZ_CHECK(start == data && len == r.pos && len <= size);
    ockami_history h;
    if (ockami_history_decode_unverified(data, size, &h) == OCKAM_OK) {
      FUZZ_CHECK(rc == OCKAM_OK && len == size);
      ockami_history_clear(&h);
    }
    return 0;
  }

  ockami_auth_msg m;
  int rc = decode(mode, data, size, &m);
  if (rc != OCKAM_OK) {
    FUZZ_CHECK(rc < 0);
    check_zeroed(&m);
    return 0;
  }
  check_fields(mode, &m, data, size);
  round_trip(mode, &m);
  return 0;
}
