/* Channel establishments per second with both ends in one node (the full
 * stack: workers, routing, the XX state machine, and for identity channels
 * the Contact and proof exchange), plain XX beside identity channels, and
 * for each the bound from its operation counts, with every operation's rate
 * measured in the same run:
 *
 *   plain XX:  10 X25519 ops (each side generates a static and an ephemeral
 *              key: 4 base-point mults; ee, es, se on both sides: 6 DH)
 *   identity:  the same 10 X25519 ops, plus 2 XEdDSA signatures (one proof
 *              per side) and 6 XEdDSA verifications (each side checks the
 *              peer's proof and the two signatures of its fresh Contact:
 *              self-signature and root signature)
 *   bound = 1 / (sum of count / rate); ratio = establishments / bound.
 *
 * The measurements alternate in short slices, so that a change of CPU speed
 * during the run affects all of them alike.
 *
 *   bench_identity [--millis MS]
 */
#include <sodium.h>

#include "bench_util.h"
#include "ockam/ockam.h"

/* A node with a listener of each kind; rebuilt every REBUILD establishments
 * (outside the timed slices) because the responder ends stay open. */
#define REBUILD 100

typedef struct world {
  ockam_node *node;
  ockam_vault *va, *vb;
  ockam_identity *alice, *bob;
  ockam_trust_policy *everyone;
  ockam_route *to_id, *to_plain;
  ockam_identity_channel_listener *id_listener;
  ockam_channel_listener *plain_listener;
  int used;
} world;

static void world_close(world *w) {
  ockam_node_destroy(w->node);
  ockam_identity_channel_listener_close(w->id_listener);
  ockam_channel_listener_close(w->plain_listener);
  w->node = NULL;
  w->id_listener = NULL;
  w->plain_listener = NULL;
}

static void world_node(world *w) {
  world_close(w);
  BENCH_CHECK(ockam_node_create(&w->node));
  BENCH_CHECK(ockam_identity_channel_listener_create(w->node, "id_listener", w->bob, w->everyone,
                                                     NULL, &w->id_listener));
  BENCH_CHECK(
      ockam_channel_listener_create(w->node, "plain_listener", w->vb, NULL, &w->plain_listener));
  w->used = 0;
}

static void establish(world *w, bool identity) {
  if (w->used++ >= REBUILD) world_node(w);
  char chan[64];
  if (identity) {
    BENCH_CHECK(ockam_identity_channel_create(w->node, w->to_id, w->alice, w->everyone, NULL, 10000,
                                              chan, sizeof chan));
    BENCH_CHECK(ockam_identity_channel_close(w->node, chan));
  } else {
    BENCH_CHECK(ockam_channel_create(w->node, w->to_plain, w->va, NULL, 10000, chan, sizeof chan));
    BENCH_CHECK(ockam_channel_close(w->node, chan));
  }
}

int main(int argc, char **argv) {
  double seconds = (double)bench_arg_long(argc, argv, "--millis", 3000) / 1000.0;
  if (sodium_init() < 0) return 2;
  ockam_log_set_level(OCKAM_LOG_ERROR);
  world w = {0};
  BENCH_CHECK(ockam_vault_create("software", &w.va));
  BENCH_CHECK(ockam_vault_create("software", &w.vb));
  BENCH_CHECK(ockam_identity_create(w.va, &w.alice));
  BENCH_CHECK(ockam_identity_create(w.vb, &w.bob));
  BENCH_CHECK(ockam_trust_everyone(&w.everyone));
  BENCH_CHECK(ockam_route_parse("id_listener", &w.to_id));
  BENCH_CHECK(ockam_route_parse("plain_listener", &w.to_plain));
  world_node(&w);

  /* Operation rates: X25519 scalar mult, XEdDSA sign and verify (vault). */
  uint8_t sk[32], pk[32], out[32], msg[32], sig[64], pub[32];
  randombytes_buf(sk, sizeof sk);
  crypto_scalarmult_base(pk, sk);
  randombytes_buf(msg, sizeof msg);
  ockam_secret key;
  BENCH_CHECK(ockam_vault_x25519_generate(w.va, &key, pub));
  BENCH_CHECK(ockam_vault_xeddsa_sign(w.va, key, msg, sizeof msg, sig));

  uint64_t n_dh = 0, n_sign = 0, n_verify = 0, n_plain = 0, n_id = 0;
  double t_dh = 0, t_sign = 0, t_verify = 0, t_plain = 0, t_id = 0;
  double end = bench_now() + seconds;
  while (bench_now() < end) {
    double t0 = bench_now();
    for (int i = 0; i < 100; i++) {
      if (crypto_scalarmult(out, sk, pk) != 0) return 2;
      sk[0] ^= out[0];
    }
    double t1 = bench_now();
    for (int i = 0; i < 20; i++) BENCH_CHECK(ockam_vault_xeddsa_sign(w.va, key, msg, 32, sig));
    double t2 = bench_now();
    for (int i = 0; i < 20; i++) BENCH_CHECK(ockam_vault_xeddsa_verify(pub, msg, 32, sig));
    double t3 = bench_now();
    for (int i = 0; i < 5; i++) establish(&w, false);
    double t4 = bench_now();
    for (int i = 0; i < 5; i++) establish(&w, true);
    double t5 = bench_now();
    n_dh += 100, t_dh += t1 - t0;
    n_sign += 20, t_sign += t2 - t1;
    n_verify += 20, t_verify += t3 - t2;
    n_plain += 5, t_plain += t4 - t3;
    n_id += 5, t_id += t5 - t4;
  }
  double dh = (double)n_dh / t_dh, sign = (double)n_sign / t_sign;
  double verify = (double)n_verify / t_verify;
  double plain = (double)n_plain / t_plain, id = (double)n_id / t_id;
  double plain_bound = 1.0 / (10.0 / dh);
  double id_bound = 1.0 / (10.0 / dh + 2.0 / sign + 6.0 / verify);
  bench_result("x25519_ops", dh, "op/s");
  bench_result("xeddsa_sign_ops", sign, "op/s");
  bench_result("xeddsa_verify_ops", verify, "op/s");
  bench_result("plain_establish", plain, "ch/s");
  bench_result("plain_establish_bound", plain_bound, "ch/s");
  bench_result("plain_establish_ratio", plain / plain_bound, "x");
  bench_result("identity_establish", id, "ch/s");
  bench_result("identity_establish_bound", id_bound, "ch/s");
  bench_result("identity_establish_ratio", id / id_bound, "x");
  ockam_vault_secret_destroy(w.va, key);
  world_close(&w);
  ockam_route_free(w.to_id);
  ockam_route_free(w.to_plain);
  ockam_trust_policy_free(w.everyone);
  ockam_identity_free(w.alice);
  ockam_identity_free(w.bob);
  ockam_vault_destroy(w.va);
  ockam_vault_destroy(w.vb);
  return 0;
}
