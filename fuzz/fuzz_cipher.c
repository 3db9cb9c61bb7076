/* Secure-channel data decryption (src/channel/cipher.c, spec §6.3 and
 * docs/protocol-extensions.md) and the handshake extension payload parser.
 *
 * A sender and a receiver cipher share the transport keys of the spec's
 * vector handshake (k1/k2), in the framing chosen by the first input byte.
 * The rest is a program of operations:
 *   raw      decrypt bytes from the input as a blob;
 *   send     encrypt a plaintext from the input and keep the blob;
 *   deliver  decrypt a kept blob, possibly with one byte changed;
 *   jump     move the sender's counter (reordering, huge counters, the
 *            2021 limit of 0xffff);
 *   ext      parse bytes as a handshake extension payload.
 * A reference model of the replay window (a list of accepted counters and
 * the highest one) predicts every verdict: an unchanged blob is delivered
 * exactly when its counter is new and less than OCKAM_REPLAY_WINDOW behind
 * the highest accepted, and then yields the original plaintext; a changed
 * or raw blob is never delivered unless it is byte-for-byte a valid blob.
 * The stats counters must add up, and refusals release no plaintext.
 */
#include <ockam/vault.h>

#include "cipher.h"
#include "fuzz.h"

static ockam_vault *vault;

static const uint8_t k1[32] = {0xb1, 0xc6, 0x74, 0xb6, 0x53, 0x5f, 0xb1, 0xd2, 0x08, 0x77, 0x2a,
                               0x97, 0x2c, 0xac, 0x2c, 0xbf, 0x04, 0xd6, 0xaa, 0x08, 0x7c, 0xbb,
                               0xd3, 0xeb, 0x85, 0x58, 0xa1, 0xa3, 0xab, 0xca, 0xa7, 0xfb};
static const uint8_t k2[32] = {0x10, 0x9c, 0x4b, 0x99, 0xea, 0x3a, 0x47, 0x84, 0xff, 0x55, 0xaf,
                               0x5e, 0xed, 0x86, 0xc9, 0x9e, 0x85, 0x3f, 0x5a, 0x76, 0xd8, 0x3c,
                               0xe4, 0x37, 0xa9, 0xe3, 0xe2, 0x7e, 0xde, 0x24, 0x2a, 0x6a};

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  fuzz_quiet();
  if (ockam_vault_create("software", &vault)) abort();
  return 0;
}

#define MAX_BLOBS 16
#define MAX_OPS 64
#define PT_MAX 512
#define BLOB_MAX (PT_MAX + OCKAMI_CIPHER_HEADER_EXTENDED + OCKAM_AEAD_TAG_LEN)

typedef struct kept {
  uint64_t n;
  size_t len, pt_len;
  uint8_t blob[BLOB_MAX];
  uint8_t pt[PT_MAX];
} kept;

/* Reference replay window. */
typedef struct model {
  bool any;
  uint64_t top;
  uint64_t seen[MAX_OPS];
  size_t nseen;
} model;

static bool model_accepts(const model *m, uint64_t n) {
  if (!m->any || n > m->top) return true;
  if (m->top - n >= OCKAM_REPLAY_WINDOW) return false;
  for (size_t i = 0; i < m->nseen; i++)
    if (m->seen[i] == n) return false;
  return true;
}

static void model_mark(model *m, uint64_t n) {
  if (!m->any || n > m->top) m->top = n;
  m->any = true;
  m->seen[m->nseen++] = n;
}

static ockam_secret import(const uint8_t *k) {
  ockam_secret s;
  if (ockam_vault_secret_import(vault, OCKAM_SECRET_AES256, k, 32, &s)) abort();
  return s;
}

static uint64_t total(const ockami_cipher_stats *s) {
  return s->delivered + s->replayed + s->too_old + s->auth_failed + s->malformed;
}

static uint64_t header_counter(const uint8_t *blob, size_t hdr) {
  uint64_t v = 0;
  for (size_t i = 0; i < hdr; i++) v = v << 8 | blob[i];
  return v;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  fuzz_in in;
  fuzz_in_init(&in, data, size);
  ockami_framing framing = (fuzz_u8(&in) & 1) ? OCKAMI_FRAMING_EXTENDED : OCKAMI_FRAMING_2021;
  size_t hdr = framing == OCKAMI_FRAMING_EXTENDED ? OCKAMI_CIPHER_HEADER_EXTENDED
                                                  : OCKAMI_CIPHER_HEADER_2021;
  uint64_t limit =
      framing == OCKAMI_FRAMING_EXTENDED ? OCKAMI_CIPHER_LIMIT_EXTENDED : OCKAMI_CIPHER_LIMIT_2021;
  ockami_cipher tx, rx;
  FUZZ_CHECK(ockami_cipher_init(&tx, vault, framing, import(k2), import(k1)) == 0);
  FUZZ_CHECK(ockami_cipher_init(&rx, vault, framing, import(k1), import(k2)) == 0);
  FUZZ_CHECK(ockami_cipher_overhead(framing) == hdr + OCKAM_AEAD_TAG_LEN);

  static kept blobs[MAX_BLOBS];
  size_t nblobs = 0;
  model m = {0};
  uint8_t out[BLOB_MAX], work[BLOB_MAX];
  size_t out_len;

  for (int op = 0; op < MAX_OPS && fuzz_left(&in); op++) {
    uint8_t kind = fuzz_u8(&in) % 5;
    uint64_t before = total(&rx.stats), delivered = rx.stats.delivered;
    if (kind == 0) { /* raw */
      size_t want = fuzz_u16(&in) % (BLOB_MAX + 1), len;
      const uint8_t *raw = fuzz_bytes(&in, want, &len);
      memset(out, 0xa5, sizeof out);
      int rc = ockami_cipher_decrypt(&rx, raw, len, out, sizeof out, &out_len);
      /* Forging a tag is out of reach: a raw blob that is delivered repeats a
       * kept one or is a real encryption under the shared key. */
      bool known = false;
      for (size_t i = 0; i < nblobs; i++)
        known |= blobs[i].len == len && memcmp(blobs[i].blob, raw, len) == 0;
      if (rc == 0 && !known) {
        /* Then it is exactly what the sender makes of that plaintext at that
         * counter (e.g. a spec vector). */
        ockami_cipher again;
        FUZZ_CHECK(ockami_cipher_init(&again, vault, framing, import(k2), import(k1)) == 0);
        again.send_n = header_counter(raw, hdr);
        size_t elen;
        FUZZ_CHECK(ockami_cipher_encrypt(&again, out, out_len, work, sizeof work, &elen) == 0);
        FUZZ_CHECK(elen == len && memcmp(work, raw, len) == 0);
        ockami_cipher_clear(&again);
      }
      if (rc == 0) {
        model_mark(&m, header_counter(raw, hdr));
      } else {
        FUZZ_CHECK(out_len == 0);
      }
    } else if (kind == 1) { /* send */
      size_t want = fuzz_u16(&in) % (PT_MAX + 1), len;
      const uint8_t *pt = fuzz_bytes(&in, want, &len);
      uint64_t n = tx.send_n;
      int rc = ockami_cipher_encrypt(&tx, pt, len, out, sizeof out, &out_len);
      if (n >= limit) {
        FUZZ_CHECK(rc == OCKAM_ENONCE && tx.send_n == n);
        continue;
      }
      FUZZ_CHECK(rc == 0 && out_len == len + hdr + OCKAM_AEAD_TAG_LEN && tx.send_n == n + 1);
      FUZZ_CHECK(header_counter(out, hdr) == (hdr == 2 ? (uint16_t)n : n));
      kept *k = &blobs[nblobs < MAX_BLOBS ? nblobs++ : (size_t)(n % MAX_BLOBS)];
      k->n = n;
      k->len = out_len;
      k->pt_len = len;
      memcpy(k->blob, out, out_len);
      memcpy(k->pt, pt, len);
    } else if (kind == 2) { /* deliver, maybe changed */
      if (nblobs == 0) continue;
      kept *k = &blobs[fuzz_u8(&in) % nblobs];
      uint8_t flip = fuzz_u8(&in);
      size_t at = fuzz_u16(&in) % k->len;
      memcpy(work, k->blob, k->len);
      work[at] ^= flip;
      memset(out, 0xa5, sizeof out);
      int rc = ockami_cipher_decrypt(&rx, work, k->len, out, sizeof out, &out_len);
      uint64_t n = header_counter(work, hdr);
      if (flip == 0) {
        bool ok = model_accepts(&m, k->n);
        FUZZ_CHECK(ok ? rc == 0 : rc == OCKAM_EREPLAY);
        if (ok) {
          FUZZ_CHECK(out_len == k->pt_len && memcmp(out, k->pt, out_len) == 0);
          model_mark(&m, k->n);
        }
      } else {
        /* A changed counter is judged by the window first, then fails the tag. */
        FUZZ_CHECK(rc != 0 && out_len == 0);
        if (n != UINT64_MAX && !model_accepts(&m, n))
          FUZZ_CHECK(rc == OCKAM_EREPLAY);
        else if (n != UINT64_MAX)
          FUZZ_CHECK(rc == OCKAM_ECRYPTO);
      }
    } else if (kind == 3) { /* jump the sender's counter */
      uint8_t how = fuzz_u8(&in);
      uint64_t v = fuzz_u64(&in);
      if (how & 1) {
        tx.send_n = v; /* anywhere, including past the limit */
      } else {
        uint64_t step = v % (2 * OCKAM_REPLAY_WINDOW + 2);
        tx.send_n = how & 2 ? (tx.send_n > step ? tx.send_n - step : 0)
                            : (tx.send_n > UINT64_MAX - step ? UINT64_MAX : tx.send_n + step);
      }
      if (hdr == 2 && tx.send_n > limit) tx.send_n = limit;
    } else { /* extension payload */
      size_t want = fuzz_u8(&in) % 16, len;
      const uint8_t *p = fuzz_bytes(&in, want, &len);
      uint8_t flags = ockami_ext_payload_parse(p, len);
      uint8_t expect = len >= 6 && p[0] == 'O' && p[1] == 'C' && p[2] == 'K' && p[3] == 'X' &&
                               p[4] == OCKAMI_EXT_VERSION
                           ? p[5]
                           : 0;
      FUZZ_CHECK(flags == expect);
      uint8_t ann[OCKAMI_EXT_PAYLOAD_LEN];
      size_t alen;
      FUZZ_CHECK(ockami_ext_payload_write(flags, ann, sizeof ann, &alen) == 0 &&
                 ockami_ext_payload_parse(ann, alen) == flags);
      uint8_t remote = len ? p[0] : 0;
      FUZZ_CHECK(ockami_ext_select(flags, remote) ==
                 ((flags & remote & OCKAMI_EXT_FLAG_EXTENDED_FRAMING) ? OCKAMI_FRAMING_EXTENDED
                                                                      : OCKAMI_FRAMING_2021));
      continue;
    }
    /* Each decrypt attempt is counted exactly once; EOVERFLOW never happens here. */
    if (kind == 0 || kind == 2) FUZZ_CHECK(total(&rx.stats) == before + 1);
    FUZZ_CHECK(rx.stats.delivered - delivered <= 1);
  }
  FUZZ_CHECK(rx.stats.delivered == m.nseen);
  ockami_cipher_clear(&tx);
  ockami_cipher_clear(&rx);
  FUZZ_CHECK(ockam_vault_secret_count(vault) == 0);
  return 0;
}
