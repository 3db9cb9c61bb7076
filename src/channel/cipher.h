/* Secure-channel transport state: AEAD framing, nonces, replay window (pure:
 * no I/O). See docs/protocol-extensions.md for the byte layouts.
 *
 * Two framings of one data message ("blob", carried as the Vec<u8> payload of
 * a TransportMessage, spec §6.3/§6.4):
 *   2021:     n as u16 BE (2)  || AES-256-GCM(key, 00x10 || u16 BE n, aad = empty, plaintext)
 *   extended: n as u64 BE (8)  || AES-256-GCM(key, 00x4  || u64 BE n, aad = empty, plaintext)
 * The sender counts from 0 and refuses with OCKAM_ENONCE once its counter
 * reaches 0xffff (2021, as Ockam does) or 2^64-1 (extended).
 *
 * The receive side keeps a sliding window of OCKAM_REPLAY_WINDOW counters for
 * both framings: a counter more than the window behind the highest accepted
 * one is "too old", one already accepted is "replayed"; both are refused
 * before decrypting. The window moves only after the tag verified, so forged
 * messages cannot advance it. Reordering inside the window is accepted, each
 * counter exactly once.
 *
 * Extended framing is negotiated in the XX handshake payloads: see
 * ockami_ext_payload_write() below.
 *
 * Threading: one cipher is used from one thread (it uses the vault).
 */
#ifndef OCKAMI_CIPHER_H
#define OCKAMI_CIPHER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ockam/error.h"
#include "ockam/limits.h"
#include "ockam/vault.h"

typedef enum ockami_framing {
  OCKAMI_FRAMING_2021 = 0,    /* 2-byte nonce, Ockam mid-2021 compatible */
  OCKAMI_FRAMING_EXTENDED = 1 /* 8-byte nonce, needs both sides to announce it */
} ockami_framing;

#define OCKAMI_CIPHER_HEADER_2021 2u
#define OCKAMI_CIPHER_HEADER_EXTENDED 8u
/* First counter the sender refuses to use. */
#define OCKAMI_CIPHER_LIMIT_2021 0xffffu
#define OCKAMI_CIPHER_LIMIT_EXTENDED UINT64_MAX

/* --- replay window (RFC 6479 style) -------------------------------------------- */

/* One word more than the window: the word being filled plus the full window. */
#define OCKAMI_REPLAY_WORDS (OCKAM_REPLAY_WINDOW / 64u + 1u)

typedef struct ockami_replay {
  uint64_t next; /* highest accepted counter + 1; 0 = nothing accepted yet */
  uint64_t bits[OCKAMI_REPLAY_WORDS];
} ockami_replay;

typedef enum ockami_replay_verdict {
  OCKAMI_REPLAY_OK = 0, /* new counter: decrypt, then mark */
  OCKAMI_REPLAY_SEEN,   /* inside the window and already accepted */
  OCKAMI_REPLAY_TOO_OLD /* OCKAM_REPLAY_WINDOW or more behind the highest accepted */
} ockami_replay_verdict;

void ockami_replay_init(ockami_replay *r);
/* Would counter n be accepted? Does not change the window. */
ockami_replay_verdict ockami_replay_check(const ockami_replay *r, uint64_t n);
/* Record n as accepted (call only after its tag verified and only when check
 * said OK). n must be < UINT64_MAX. */
void ockami_replay_mark(ockami_replay *r, uint64_t n);

/* --- cipher -------------------------------------------------------------------- */

typedef struct ockami_cipher_stats {
  uint64_t sent;
  uint64_t rekeys_sent;     /* key changes of the sending direction */
  uint64_t rekeys_received; /* key changes of the receiving direction */
  uint64_t delivered;       /* decrypted and returned to the caller */
  uint64_t replayed;        /* refused: counter already accepted */
  uint64_t too_old;         /* refused: counter behind the window */
  uint64_t auth_failed;     /* refused: tag did not verify */
  uint64_t malformed;       /* refused: too short for header and tag, or invalid counter */
} ockami_cipher_stats;

/* Caller-allocated; fields are private to cipher.c. */
typedef struct ockami_cipher {
  ockam_vault *vault; /* NULL when not initialised */
  ockam_secret enc;
  ockam_secret dec;
  ockami_framing framing;
  uint64_t send_n;
  ockami_replay replay;
  ockami_cipher_stats stats;
  /* Rekeying (extended framing only): counters [e*rekey_n, (e+1)*rekey_n)
   * form key epoch e; the key of epoch e+1 is REKEY(key of epoch e). */
  uint64_t rekey_n;      /* messages per epoch; 0 = never rekey */
  uint64_t send_epoch;   /* epoch of enc */
  uint64_t recv_epoch;   /* epoch of dec */
  ockam_secret dec_prev; /* key of recv_epoch - 1 while the window still reaches it, else 0 */
} ockami_cipher;

/* Set up a channel's transport state. enc / dec are AES256 secrets (from
 * ockami_xx_split); on success the cipher owns both and destroys them in
 * ockami_cipher_clear(); on failure the caller keeps them. The vault must
 * outlive the cipher. Errors: OCKAM_EINVAL (NULL, unknown framing, a key that
 * is not an AES256 secret), OCKAM_ENOTFOUND (unknown handle). */
OCKAM_MUST_CHECK int ockami_cipher_init(ockami_cipher *c, ockam_vault *vault,
                                        ockami_framing framing, ockam_secret enc, ockam_secret dec);
/* Destroy both keys and wipe the state. Safe on a zeroed or cleared cipher. */
void ockami_cipher_clear(ockami_cipher *c);

/* Bytes a blob adds to its plaintext: header + 16-byte tag. */
size_t ockami_cipher_overhead(ockami_framing framing);

/* Seal one message: out receives the blob (len + overhead bytes; cap bytes
 * available), *out_len its length. pt and out must not overlap, except that
 * pt may be exactly out + header bytes (sealing in place).
 * Errors: OCKAM_ESTATE (not initialised), OCKAM_EINVAL, OCKAM_EOVERFLOW (cap too
 * small), OCKAM_ENONCE (counter exhausted: the channel must be replaced), vault
 * errors. On error out is wiped and the counter is unchanged. */
OCKAM_MUST_CHECK int ockami_cipher_encrypt(ockami_cipher *c, const uint8_t *pt, size_t len,
                                           uint8_t *out, size_t cap, size_t *out_len);

/* Seal one message given in two pieces, pt1 || pt2, as ockami_cipher_encrypt
 * seals it joined (same blob), without joining it first: pt1 may be exactly
 * out + header bytes; pt2 must not overlap out. OCKAM_ENOTSUP (counter
 * unchanged) when the vault cannot (ockami_cipher_can_encrypt2). */
bool ockami_cipher_can_encrypt2(const ockami_cipher *c);
OCKAM_MUST_CHECK int ockami_cipher_encrypt2(ockami_cipher *c, const uint8_t *pt1, size_t len1,
                                            const uint8_t *pt2, size_t len2, uint8_t *out,
                                            size_t cap, size_t *out_len);

/* Open one blob: out receives the plaintext (len - overhead bytes; cap bytes
 * available), *out_len its length. blob and out must not overlap, except that
 * out may be exactly blob + header bytes (opening in place).
 * Errors (each counted in the stats, except EINVAL/EOVERFLOW/ESTATE):
 *   OCKAM_ETRUNC   shorter than header + tag (malformed)
 *   OCKAM_EMALFORMED  extended counter 2^64-1, never sent by a valid peer (malformed)
 *   OCKAM_EREPLAY  counter already accepted (replayed) or behind the window (too_old)
 *   OCKAM_ECRYPTO  the tag did not verify, for any reason (auth_failed)
 *   OCKAM_EOVERFLOW cap too small; OCKAM_EINVAL; OCKAM_ESTATE.
 * On error nothing is released (out is wiped) and the window is unchanged. */
OCKAM_MUST_CHECK int ockami_cipher_decrypt(ockami_cipher *c, const uint8_t *blob, size_t len,
                                           uint8_t *out, size_t cap, size_t *out_len);

/* --- rekeying (docs/protocol-extensions.md, "Rekeying") --------------------------------
 *
 * Noise §11.3 REKEY: k' = the first 32 bytes of ENCRYPT(k, nonce 2^64-1,
 * ad = empty, 32 zero bytes). Epochs follow from the counter, so both ends
 * agree on the key of every message without any signalling: the sender
 * advances its key when its counter enters a new epoch, the receiver when a
 * message of a newer epoch authenticates. The receiver keeps the previous
 * epoch's key only while its replay window still reaches counters of that
 * epoch (messages reordered across a key change still open), then wipes it.
 * Rekeying on time is a sender decision: ockami_cipher_rekey_now() moves the
 * counter to the start of the next epoch. */

/* Turn on rekeying every `messages` counters (>= OCKAM_REPLAY_WINDOW, so that
 * the window never spans more than two epochs). Only with extended framing and
 * before the first message. Errors: OCKAM_EINVAL, OCKAM_ESTATE. */
OCKAM_MUST_CHECK int ockami_cipher_enable_rekey(ockami_cipher *c, uint64_t messages);
/* Start a new sending epoch now (time-based rekey): the next message uses the
 * first counter of the next epoch under the next key; the old key is wiped.
 * Errors: OCKAM_ENOTSUP (rekeying off), OCKAM_ENONCE (counter space
 * exhausted), vault errors (nothing changed). */
OCKAM_MUST_CHECK int ockami_cipher_rekey_now(ockami_cipher *c);
/* REKEY(k) as a new AES256 secret (exposed for the known-answer test). */
OCKAM_MUST_CHECK int ockami_rekey(ockam_vault *vault, ockam_secret k, ockam_secret *out);

static inline const ockami_cipher_stats *ockami_cipher_get_stats(const ockami_cipher *c) {
  return &c->stats;
}

/* --- extension negotiation (handshake payloads) ------------------------------------ */

/* Payload announcing extensions: "OCKX" (4f 43 4b 58) || version (01) || flags.
 * Receivers ignore bytes after the flags and flag bits they do not know. */
#define OCKAMI_EXT_PAYLOAD_LEN 6u
#define OCKAMI_EXT_VERSION 1u
#define OCKAMI_EXT_FLAG_EXTENDED_FRAMING 0x01u
/* Rekeying supported; the announcement then carries, at offset 6, the
 * sender's preferred epoch length in messages as a u32 BE (10 bytes in all). */
#define OCKAMI_EXT_FLAG_REKEY 0x02u
#define OCKAMI_EXT_PAYLOAD_REKEY_LEN 10u
/* Batched records supported (batch.h); no field of its own. */
#define OCKAMI_EXT_FLAG_BATCH 0x04u

/* Write the announcement of flags into out (cap >= OCKAMI_EXT_PAYLOAD_LEN).
 * The initiator sends it as its m1 payload, the responder as its m2 payload; a
 * node in 2021 mode sends empty payloads instead. Errors: OCKAM_EINVAL,
 * OCKAM_EOVERFLOW. */
OCKAM_MUST_CHECK int ockami_ext_payload_write(uint8_t flags, uint8_t *out, size_t cap,
                                              size_t *out_len);
/* Flags announced by a peer's handshake payload; 0 for anything that is not a
 * version-1 announcement (empty payload = 2021 peer). Never fails. */
uint8_t ockami_ext_payload_parse(const uint8_t *payload, size_t len);
/* Framing for a channel: extended only when both sides announced it. */
ockami_framing ockami_ext_select(uint8_t local_flags, uint8_t remote_flags);

/* Announcement with flags and, when flags has OCKAMI_EXT_FLAG_REKEY, the rekey
 * interval (cap >= OCKAMI_EXT_PAYLOAD_REKEY_LEN then). Errors: OCKAM_EINVAL,
 * OCKAM_EOVERFLOW. */
OCKAM_MUST_CHECK int ockami_ext_offer_write(uint8_t flags, uint32_t rekey_messages, uint8_t *out,
                                            size_t cap, size_t *out_len);
/* Flags of a peer's announcement (as ockami_ext_payload_parse) with
 * OCKAMI_EXT_FLAG_REKEY cleared when the interval field is missing;
 * *rekey_messages (may be NULL) receives the interval, 0 when not offered. */
uint8_t ockami_ext_offer_parse(const uint8_t *payload, size_t len, uint32_t *rekey_messages);
/* Epoch length both ends use: 0 (no rekeying) unless both announced extended
 * framing and rekeying; otherwise the smaller of the two intervals, raised to
 * OCKAM_REPLAY_WINDOW. */
/* Batched records: only when both announced extended framing and batching. */
bool ockami_ext_batch_select(uint8_t local_flags, uint8_t remote_flags);
uint64_t ockami_ext_rekey_select(uint8_t local_flags, uint32_t local_messages, uint8_t remote_flags,
                                 uint32_t remote_messages);

#endif
