/* Noise XX handshake reads (src/channel/xx.c, spec §5): the responder
 * reading m1 and m3, the initiator reading m2.
 *
 * Both sides use the fixed keys of the spec's handshake vectors, so an
 * honest run is deterministic and the fuzzer can learn the real messages.
 * Input: [mode][...]. mode selects the message under test (m1, m2, m3) and
 * how it is made:
 *   raw    the rest of the input is the message;
 *   forged the honest peer writes the message around a payload taken from
 *          the input, then edits from the input flip bytes or truncate it.
 * Earlier messages are exchanged honestly. Oracles:
 *   - the delivered message equals the honest one => every step succeeds, the
 *     payload arrives intact, both sides agree on h, keys and static keys;
 *   - an m2 or m3 that differs from the honest one is refused (AEAD), and an
 *     accepted m1 that differs makes the initiator refuse m2 (transcript);
 *   - a refused read leaves the FAILED state and reports no payload;
 *   - after clear() no secret is left in the vault but the four fixed keys.
 */
#include <ockam/vault.h>

#include "fuzz.h"
#include "xx.h"

static ockam_vault *vault;
static ockam_secret keys[4]; /* initiator s, e; responder s, e */
static size_t baseline;

static const uint8_t key_bytes[4][32] = {
    {0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0a,
     0x0b, 0x0c, 0x0d, 0x0e, 0x0f, 0x10, 0x11, 0x12, 0x13, 0x14, 0x15,
     0x16, 0x17, 0x18, 0x19, 0x1a, 0x1b, 0x1c, 0x1d, 0x1e, 0x1f},
    {0x20, 0x21, 0x22, 0x23, 0x24, 0x25, 0x26, 0x27, 0x28, 0x29, 0x2a,
     0x2b, 0x2c, 0x2d, 0x2e, 0x2f, 0x30, 0x31, 0x32, 0x33, 0x34, 0x35,
     0x36, 0x37, 0x38, 0x39, 0x3a, 0x3b, 0x3c, 0x3d, 0x3e, 0x3f},
    {0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0a, 0x0b,
     0x0c, 0x0d, 0x0e, 0x0f, 0x10, 0x11, 0x12, 0x13, 0x14, 0x15, 0x16,
     0x17, 0x18, 0x19, 0x1a, 0x1b, 0x1c, 0x1d, 0x1e, 0x1f, 0x20},
    {0x41, 0x42, 0x43, 0x44, 0x45, 0x46, 0x47, 0x48, 0x49, 0x4a, 0x4b,
     0x4c, 0x4d, 0x4e, 0x4f, 0x50, 0x51, 0x52, 0x53, 0x54, 0x55, 0x56,
     0x57, 0x58, 0x59, 0x5a, 0x5b, 0x5c, 0x5d, 0x5e, 0x5f, 0x60}};

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  fuzz_quiet();
  if (ockam_vault_create("software", &vault)) abort();
  for (int i = 0; i < 4; i++)
    if (ockam_vault_secret_import(vault, OCKAM_SECRET_X25519, key_bytes[i], 32, &keys[i])) abort();
  baseline = ockam_vault_secret_count(vault);
  return 0;
}

#define PAYLOAD_MAX 2048
#define MSG_CAP (OCKAMI_XX_M2_MIN + PAYLOAD_MAX)

typedef struct side {
  ockami_xx hs;
  uint8_t payload[MSG_CAP];
} side;

/* Read msg on `reader`; check what a refusal must look like. */
static int read_msg(side *reader, const uint8_t *msg, size_t len, size_t cap, size_t *plen) {
  memset(reader->payload, 0xa5, sizeof reader->payload);
  int rc = ockami_xx_read(&reader->hs, msg, len, reader->payload, cap, plen);
  if (rc) FUZZ_CHECK(rc < 0 && *plen == 0 && ockami_xx_get_state(&reader->hs) == OCKAMI_XX_FAILED);
  return rc;
}

static int write_msg(side *writer, const uint8_t *payload, size_t plen, uint8_t *out,
                     size_t *out_len) {
  return ockami_xx_write(&writer->hs, payload, plen, out, MSG_CAP, out_len);
}

static void check_agreement(side *ini, side *res) {
  ockam_secret ie, id, re, rd;
  uint8_t ih[32], rh[32], irs[32], rrs[32];
  FUZZ_CHECK(ockami_xx_remote_static(&ini->hs, irs) == 0);
  FUZZ_CHECK(ockami_xx_remote_static(&res->hs, rrs) == 0);
  FUZZ_CHECK(memcmp(irs, res->hs.s_pub, 32) == 0 && memcmp(rrs, ini->hs.s_pub, 32) == 0);
  FUZZ_CHECK(ockami_xx_split(&ini->hs, true, &ie, &id, ih) == 0);
  FUZZ_CHECK(ockami_xx_split(&res->hs, true, &re, &rd, rh) == 0);
  FUZZ_CHECK(memcmp(ih, rh, 32) == 0);
  uint8_t a[32], b[32];
  size_t al, bl;
  FUZZ_CHECK(ockam_vault_secret_export(vault, ie, a, 32, &al) == 0);
  FUZZ_CHECK(ockam_vault_secret_export(vault, rd, b, 32, &bl) == 0);
  FUZZ_CHECK(al == 32 && bl == 32 && memcmp(a, b, 32) == 0);
  FUZZ_CHECK(ockam_vault_secret_export(vault, id, a, 32, &al) == 0);
  FUZZ_CHECK(ockam_vault_secret_export(vault, re, b, 32, &bl) == 0);
  FUZZ_CHECK(memcmp(a, b, 32) == 0);
  ockam_secret all[4] = {ie, id, re, rd};
  for (int i = 0; i < 4; i++) ockam_vault_secret_destroy(vault, all[i]);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  fuzz_in in;
  fuzz_in_init(&in, data, size);
  uint8_t mode = fuzz_u8(&in);
  int step = (mode & 3) % 3; /* 0: m1, 1: m2, 2: m3 */
  bool forged = mode & 4;
  bool small_cap = mode & 8; /* offer a payload buffer of a fuzzed size */
  size_t cap = small_cap ? fuzz_u8(&in) : MSG_CAP;

  static side ini, res; /* large; one input at a time */
  FUZZ_CHECK(ockami_xx_init(&ini.hs, vault, true, NULL, 0, keys[0], keys[1]) == 0);
  FUZZ_CHECK(ockami_xx_init(&res.hs, vault, false, NULL, 0, keys[2], keys[3]) == 0);

  /* The payload the honest writer of the message under test sends. */
  uint8_t honest_payload[PAYLOAD_MAX];
  size_t hp_len = 0;
  if (forged) {
    size_t want = fuzz_u16(&in) % (PAYLOAD_MAX + 1);
    memcpy(honest_payload, fuzz_bytes(&in, want, &hp_len), hp_len);
  }

  uint8_t honest[MSG_CAP], msg[MSG_CAP + 256], buf[MSG_CAP];
  size_t honest_len = 0, msg_len = 0, len, plen;
  side *writer = step == 1 ? &res : &ini;
  side *reader = step == 1 ? &ini : &res;

  /* Honest prefix up to the message under test. */
  if (step >= 1) {
    FUZZ_CHECK(write_msg(&ini, NULL, 0, buf, &len) == 0);
    FUZZ_CHECK(read_msg(&res, buf, len, MSG_CAP, &plen) == 0 && plen == 0);
  }
  if (step == 2) {
    FUZZ_CHECK(write_msg(&res, NULL, 0, buf, &len) == 0);
    FUZZ_CHECK(read_msg(&ini, buf, len, MSG_CAP, &plen) == 0 && plen == 0);
  }
  FUZZ_CHECK(write_msg(writer, honest_payload, hp_len, honest, &honest_len) == 0);

  if (forged) {
    memcpy(msg, honest, honest_len);
    msg_len = honest_len;
    for (unsigned edits = fuzz_u8(&in) % 4; edits > 0 && fuzz_left(&in); edits--) {
      uint8_t kind = fuzz_u8(&in);
      size_t at = fuzz_u16(&in);
      uint8_t val = fuzz_u8(&in);
      if (kind & 1) {
        if (msg_len) msg[at % msg_len] ^= val;
      } else if (at < msg_len) {
        msg_len = at;
      }
    }
  } else {
    const uint8_t *raw = fuzz_rest(&in, &msg_len);
    if (msg_len > sizeof msg) msg_len = sizeof msg;
    memcpy(msg, raw, msg_len);
  }
  bool same = msg_len == honest_len && memcmp(msg, honest, msg_len) == 0;
  size_t min = step == 0 ? OCKAMI_XX_M1_MIN : step == 1 ? OCKAMI_XX_M2_MIN : OCKAMI_XX_M3_MIN;
  bool fits = msg_len < min || cap >= msg_len - min;

  int rc = read_msg(reader, msg, msg_len, cap, &plen);
  if (same && fits) {
    FUZZ_CHECK(rc == 0 && plen == hp_len && memcmp(reader->payload, honest_payload, plen) == 0);
  }
  if (!same && step >= 1) FUZZ_CHECK(rc != 0);
  if (rc == 0 && step == 0 && msg_len >= OCKAMI_XX_M1_MIN) {
    /* An m1 payload travels in clear: what was read is what was sent. */
    FUZZ_CHECK(plen == msg_len - OCKAMI_XX_M1_MIN &&
               memcmp(reader->payload, msg + OCKAMI_XX_M1_MIN, plen) == 0);
  }

  if (rc == 0) {
    /* Finish the handshake honestly. */
    if (step == 0) {
      /* A changed m1 may carry a low-order e: the responder then refuses to
       * write m2 (all-zero DH). */
      int wrc = write_msg(&res, NULL, 0, buf, &len);
      FUZZ_CHECK(wrc == 0 || (!same && wrc == OCKAM_ECRYPTO));
      int rc2 = wrc ? wrc : read_msg(&ini, buf, len, MSG_CAP, &plen);
      FUZZ_CHECK(same ? rc2 == 0 : rc2 != 0);
      if (rc2 == 0) step = 1;
    }
    if (step == 1) {
      FUZZ_CHECK(write_msg(&ini, NULL, 0, buf, &len) == 0);
      FUZZ_CHECK(read_msg(&res, buf, len, MSG_CAP, &plen) == 0);
      step = 2;
    }
    if (step == 2 && ockami_xx_get_state(&res.hs) == OCKAMI_XX_COMPLETE) {
      FUZZ_CHECK(ockami_xx_get_state(&ini.hs) == OCKAMI_XX_COMPLETE);
      check_agreement(&ini, &res);
    }
  }
  /* Out-of-order calls are refused without side effects on the state. */
  ockami_xx_state st = ockami_xx_get_state(&reader->hs);
  if (st == OCKAMI_XX_FAILED || st == OCKAMI_XX_SPLIT) {
    FUZZ_CHECK(ockami_xx_read(&reader->hs, honest, honest_len, buf, sizeof buf, &plen) ==
               OCKAM_ESTATE);
  }
  ockami_xx_clear(&ini.hs);
  ockami_xx_clear(&res.hs);
  FUZZ_CHECK(ockam_vault_secret_count(vault) == baseline);
  return 0;
}
