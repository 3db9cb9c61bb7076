/* XEdDSA as Ockam 2021 profiles use it (identity spec §2.2–§2.4).
 *
 * Pure functions on raw key bytes: the vault calls them with the bytes of a
 * secret it holds, tests call them with fixed nonces to reproduce vectors.
 * Built on libsodium's Ed25519 group and scalar operations; the one
 * Montgomery→Edwards conversion libsodium lacks is done with OpenSSL BIGNUM
 * (public data only, so constant time is not needed there).
 */
#ifndef OCKAMI_XEDDSA_H
#define OCKAMI_XEDDSA_H

#include <stddef.h>
#include <stdint.h>

#include "ockam/error.h"

typedef enum ockami_xeddsa_variant {
  /* What Ockam v0.18 computes: r-hash prefix fe 20, unreduced scalar hashed
   * when the sign bit is 0. Signatures verify identically in both variants. */
  OCKAMI_XEDDSA_OCKAM = 0,
  /* The Signal XEdDSA specification: prefix fe ff..ff (32 bytes), scalar
   * hashed reduced mod l. */
  OCKAMI_XEDDSA_SPEC = 1
} ockami_xeddsa_variant;

/* Sign msg with the X25519 secret sk (clamped here; clamping is idempotent) and
 * the 64-byte nonce input Z. Errors: OCKAM_ECRYPTO (degenerate key). */
OCKAM_MUST_CHECK int ockami_xeddsa_sign(const uint8_t sk[static 32], const uint8_t *msg, size_t len,
                                        const uint8_t Z[static 64], ockami_xeddsa_variant variant,
                                        uint8_t sig[static 64]);
/* Verify sig over msg against the X25519 public key u. 0 if valid, OCKAM_EAUTH
 * otherwise (u = -1, u on the twist, low-order keys, s >= l, mismatch). */
OCKAM_MUST_CHECK int ockami_xeddsa_verify(const uint8_t u[static 32], const uint8_t *msg,
                                          size_t len, const uint8_t sig[static 64]);
/* Edwards y-coordinate (sign bit 0) of the X25519 public key u:
 * y = (u - 1) / (u + 1) mod p, bit 255 of u ignored. OCKAM_EAUTH when u = -1
 * mod p, OCKAM_ENOMEM / OCKAM_EIO on library failures. */
OCKAM_MUST_CHECK int ockami_x25519_to_ed25519(const uint8_t u[static 32], uint8_t A[static 32]);

#endif
