/* Noise XX handshakes per second with both ends in one process (the pure
 * state machine of src/channel/xx.h, one software vault per side), and the
 * X25519 bound measured in the same run: crypto_scalarmult ops/s / 8 (each
 * handshake costs 2 ephemeral key generations and 6 DH operations).
 *
 *   bench_handshake [--millis MS]
 */
#include <sodium.h>

#include "bench_util.h"
#include "ockam/ockam.h"
#include "xx.h"

static int one_handshake(ockam_vault *vi, ockam_vault *vr, ockam_secret si, ockam_secret sr) {
  ockami_xx a, b;
  uint8_t m[256], p[64];
  size_t mlen, plen;
  ockam_secret ea = 0, da = 0, eb = 0, db = 0;
  int rc;
  if ((rc = ockami_xx_init(&a, vi, true, NULL, 0, si, 0))) return rc;
  if ((rc = ockami_xx_init(&b, vr, false, NULL, 0, sr, 0))) goto out;
  if ((rc = ockami_xx_write(&a, NULL, 0, m, sizeof m, &mlen)) ||
      (rc = ockami_xx_read(&b, m, mlen, p, sizeof p, &plen)) ||
      (rc = ockami_xx_write(&b, NULL, 0, m, sizeof m, &mlen)) ||
      (rc = ockami_xx_read(&a, m, mlen, p, sizeof p, &plen)) ||
      (rc = ockami_xx_write(&a, NULL, 0, m, sizeof m, &mlen)) ||
      (rc = ockami_xx_read(&b, m, mlen, p, sizeof p, &plen)) ||
      (rc = ockami_xx_split(&a, true, &ea, &da, NULL)) ||
      (rc = ockami_xx_split(&b, true, &eb, &db, NULL)))
    goto out;
out:
  ockami_xx_clear(&a);
  ockami_xx_clear(&b);
  ockam_vault_secret_destroy(vi, ea);
  ockam_vault_secret_destroy(vi, da);
  ockam_vault_secret_destroy(vr, eb);
  ockam_vault_secret_destroy(vr, db);
  return rc;
}

int main(int argc, char **argv) {
  double seconds = (double)bench_arg_long(argc, argv, "--millis", 2000) / 1000.0;
  if (sodium_init() < 0) return 2;
  ockam_vault *vi, *vr;
  BENCH_CHECK(ockam_vault_create("software", &vi));
  BENCH_CHECK(ockam_vault_create("software", &vr));
  ockam_secret si, sr;
  uint8_t pub[32];
  BENCH_CHECK(ockam_vault_x25519_generate(vi, &si, pub));
  BENCH_CHECK(ockam_vault_x25519_generate(vr, &sr, pub));

  /* The bound (X25519 scalar multiplications) and the handshakes are timed
   * in alternating slices, so a change of CPU speed during the run affects
   * both alike. */
  uint8_t sk[32], pk[32], out[32];
  randombytes_buf(sk, sizeof sk);
  crypto_scalarmult_base(pk, sk);
  uint64_t dh = 0, hs = 0;
  double dh_time = 0, hs_time = 0;
  double end = bench_now() + seconds;
  while (bench_now() < end) {
    double t0 = bench_now();
    for (int i = 0; i < 160; i++) {
      if (crypto_scalarmult(out, sk, pk) != 0) return 2;
      sk[0] ^= out[0];
    }
    dh += 160;
    double t1 = bench_now();
    for (int i = 0; i < 20; i++) BENCH_CHECK(one_handshake(vi, vr, si, sr));
    hs += 20;
    dh_time += t1 - t0;
    hs_time += bench_now() - t1;
  }
  double dh_rate = (double)dh / dh_time;
  double hs_rate = (double)hs / hs_time;
  if (ockam_vault_secret_count(vi) != 1 || ockam_vault_secret_count(vr) != 1) {
    fprintf(stderr, "bench_handshake: secrets leaked\n");
    return 1;
  }
  bench_result("x25519_ops", dh_rate, "op/s");
  bench_result("xx_bound", dh_rate / 8, "hs/s");
  bench_result("xx_handshakes", hs_rate, "hs/s");
  bench_result("xx_ratio", hs_rate / (dh_rate / 8), "x");
  ockam_vault_destroy(vi);
  ockam_vault_destroy(vr);
  return 0;
}
