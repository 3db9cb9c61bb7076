/* Noise_XX_25519_AESGCM_SHA256 handshake as a pure state machine (spec §5).
 *
 *   -> e
 *   <- e, ee, s, es
 *   -> s, se
 *
 * Bytes in, bytes out: no I/O, no allocation, no clock. All key material stays
 * in the vault; the state holds only handles, public keys and the handshake
 * hash. Static and ephemeral keys may be injected (vectors, long-term static
 * keys) or generated.
 *
 * Call sequence:
 *   initiator: init -> write(m1) -> read(m2) -> write(m3) -> split -> clear
 *   responder: init -> read(m1) -> write(m2) -> read(m3) -> split -> clear
 * ockami_xx_state() tells which of write/read comes next.
 *
 * Every function checks the state first (OCKAM_ESTATE when called out of
 * order). Any failure moves the handshake to OCKAMI_XX_FAILED, destroys the
 * secrets it owns and wipes the caller's output buffer; only clear() is
 * useful afterwards. Messages longer than OCKAMI_XX_MSG_MAX are refused
 * (Noise's 65535-byte limit).
 *
 * Threading: one handshake is used from one thread (it uses the vault).
 */
#ifndef OCKAMI_XX_H
#define OCKAMI_XX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ockam/error.h"
#include "ockam/vault.h"

#define OCKAMI_XX_MSG_MAX 65535u
#define OCKAMI_XX_DH_LEN 32u
#define OCKAMI_XX_HASH_LEN 32u
/* Message sizes with an empty payload (spec §5.2); a payload adds its length. */
#define OCKAMI_XX_M1_MIN 32u
#define OCKAMI_XX_M2_MIN (32u + 32u + 16u + 16u)
#define OCKAMI_XX_M3_MIN (32u + 16u + 16u)

typedef enum ockami_xx_state {
  OCKAMI_XX_NONE = 0, /* not initialised, or cleared */
  OCKAMI_XX_WRITE_M1, /* initiator: write m1 next */
  OCKAMI_XX_READ_M1,  /* responder: read m1 next */
  OCKAMI_XX_WRITE_M2, /* responder */
  OCKAMI_XX_READ_M2,  /* initiator */
  OCKAMI_XX_WRITE_M3, /* initiator */
  OCKAMI_XX_READ_M3,  /* responder */
  OCKAMI_XX_COMPLETE, /* all three messages done: split next */
  OCKAMI_XX_SPLIT,    /* transport keys handed out; h and rs still readable */
  OCKAMI_XX_FAILED
} ockami_xx_state;

/* Caller-allocated; fields are private to xx.c (exposed only so the state can be
 * embedded without allocation, and so tests can read h). */
typedef struct ockami_xx {
  ockami_xx_state state;
  bool initiator;
  bool own_s; /* s / e were generated here and are destroyed here */
  bool own_e;
  ockam_vault *vault;
  ockam_secret s;  /* local static private key */
  ockam_secret e;  /* local ephemeral private key, 0 once no longer needed */
  ockam_secret ck; /* chaining key (BUFFER) */
  ockam_secret k;  /* handshake cipher key (AES256), 0 before the first MixKey */
  uint64_t n;      /* nonce of k */
  uint8_t h[OCKAMI_XX_HASH_LEN];
  uint8_t s_pub[32];
  uint8_t e_pub[32];
  uint8_t re[32]; /* remote ephemeral public key */
  uint8_t rs[32]; /* remote static public key, valid once it was decrypted */
} ockami_xx;

/* Start a handshake. hs may be uninitialised memory; it must not hold a live
 * handshake (clear it first). The vault must outlive the handshake.
 * s / e: X25519 secrets to use as the static / ephemeral key, or 0 to generate
 * one. Injected keys stay owned by the caller (never destroyed here; destroy
 * them after clear()); generated ones are owned and destroyed by the handshake.
 * prologue may be NULL when prologue_len is 0 (Ockam uses an empty prologue).
 * Errors: OCKAM_EINVAL (NULL arguments, injected handle not an X25519 secret),
 * vault errors (OCKAM_ENOMEM, OCKAM_EIO, OCKAM_ENOTFOUND). On error nothing is
 * left allocated and hs->state is OCKAMI_XX_FAILED. */
OCKAM_MUST_CHECK int ockami_xx_init(ockami_xx *hs, ockam_vault *vault, bool initiator,
                                    const uint8_t *prologue, size_t prologue_len, ockam_secret s,
                                    ockam_secret e);

/* Which operation comes next (the state). */
static inline ockami_xx_state ockami_xx_get_state(const ockami_xx *hs) {
  return hs->state;
}
/* True when the next step is ockami_xx_write(). */
bool ockami_xx_wants_write(const ockami_xx *hs);

/* Length of the next message this side writes for a payload of payload_len
 * bytes; 0 if the next step is not a write. */
size_t ockami_xx_write_len(const ockami_xx *hs, size_t payload_len);

/* Write the next handshake message (m1 for the initiator, m2 for the responder,
 * then m3 for the initiator) carrying payload (may be NULL when len is 0; m1's
 * payload is NOT encrypted, only hashed). out receives the message (cap bytes
 * available, see ockami_xx_write_len); *out_len its length. payload and out
 * must not overlap.
 * Errors: OCKAM_ESTATE, OCKAM_EINVAL, OCKAM_EOVERFLOW (cap too small, or the
 * message would exceed OCKAMI_XX_MSG_MAX), OCKAM_ECRYPTO (all-zero DH: the peer
 * sent a low-order key), vault errors. */
OCKAM_MUST_CHECK int ockami_xx_write(ockami_xx *hs, const uint8_t *payload, size_t len,
                                     uint8_t *out, size_t cap, size_t *out_len);

/* Read the next handshake message from the peer. payload receives the peer's
 * payload (cap bytes available; a payload of len - OCKAMI_XX_Mx_MIN bytes at
 * most fits); *payload_len its length. msg and payload must not overlap.
 * Errors: OCKAM_ESTATE, OCKAM_EINVAL, OCKAM_ETRUNC (shorter than the minimum
 * of §5.2), OCKAM_EOVERFLOW (longer than OCKAMI_XX_MSG_MAX, or payload cap too
 * small), OCKAM_ECRYPTO (authentication failure or low-order key), vault
 * errors. */
OCKAM_MUST_CHECK int ockami_xx_read(ockami_xx *hs, const uint8_t *msg, size_t len, uint8_t *payload,
                                    size_t cap, size_t *payload_len);

/* After the handshake: derive the transport keys (k1, k2) = HKDF(ck, empty).
 * ockam_key_order = true gives Ockam's assignment (spec §5.3: the initiator
 * encrypts with k2 and decrypts with k1, the responder the reverse); false gives
 * standard Noise (initiator encrypts with k1). *enc and *dec are AES256 secrets
 * owned by the caller from now on. h (may be NULL) receives the final handshake
 * hash. The handshake's own chaining and cipher keys are destroyed; state
 * becomes OCKAMI_XX_SPLIT. Errors: OCKAM_ESTATE, OCKAM_EINVAL, vault errors. */
OCKAM_MUST_CHECK int ockami_xx_split(ockami_xx *hs, bool ockam_key_order, ockam_secret *enc,
                                     ockam_secret *dec, uint8_t h[OCKAMI_XX_HASH_LEN]);

/* The peer's static public key: available to the initiator after reading m2 and
 * to the responder after reading m3 (OCKAM_ESTATE before). */
OCKAM_MUST_CHECK int ockami_xx_remote_static(const ockami_xx *hs, uint8_t out[static 32]);

/* The handshake hash once complete (OCKAMI_XX_COMPLETE or OCKAMI_XX_SPLIT),
 * OCKAM_ESTATE otherwise. */
OCKAM_MUST_CHECK int ockami_xx_handshake_hash(const ockami_xx *hs,
                                              uint8_t out[static OCKAMI_XX_HASH_LEN]);

/* Destroy every secret the handshake owns and wipe the state (-> OCKAMI_XX_NONE).
 * Safe in any state, and on a zeroed or already cleared struct. Transport keys
 * returned by split() are not touched. */
void ockami_xx_clear(ockami_xx *hs);

#endif
