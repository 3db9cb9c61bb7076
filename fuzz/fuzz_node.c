/* A node with no transport, as the hub and a channel responder run it: the
 * secure-channel listener (CreateResponderChannelMessage decoding, spec
 * §6.2), responder channels (handshake messages and ciphertext, then the
 * decrypted inner TransportMessage and its routing), forwarding_service
 * registration and forwarders (spec §9), and echo_service.
 *
 * Input: [flags][op...]. Each op sends one message from the local worker
 * "sink", then runs the loop until nothing is queued:
 *   0  a payload from the input to the listener;
 *   1  a payload to forwarding_service;
 *   2  a payload to the return route of the last message "sink" received
 *      (a responder channel, a forwarder, echo_service, ...);
 *   3  a whole TransportMessage from the input, routed wherever it says;
 *   4  an honest initiator (fixed keys, state machine driven here) opens a
 *      channel with the listener, in 2021 or extended framing;
 *   5  once open: a plaintext from the input (meant to be an inner
 *      TransportMessage) encrypted and sent through the channel.
 * Oracles: a handshake with no interference completes; everything the
 * responder sends after that decrypts with the initiator's keys; after the
 * node is destroyed no secret is left in the vault but the initiator's two
 * fixed keys (and LeakSanitizer sees every allocation freed).
 */
#include <ockam/channel.h>
#include <ockam/node.h>
#include <ockam/vault.h>

#include "bare.h"
#include "cipher.h"
#include "fuzz.h"
#include "hub_internal.h"
#include "message.h"
#include "node.h"
#include "route.h"
#include "xx.h"

static ockam_vault *vault;
static ockam_secret init_s, init_e;

static const uint8_t s_bytes[32] = {
    0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f,
    0x10, 0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17, 0x18, 0x19, 0x1a, 0x1b, 0x1c, 0x1d, 0x1e, 0x1f};
static const uint8_t e_bytes[32] = {
    0x20, 0x21, 0x22, 0x23, 0x24, 0x25, 0x26, 0x27, 0x28, 0x29, 0x2a, 0x2b, 0x2c, 0x2d, 0x2e, 0x2f,
    0x30, 0x31, 0x32, 0x33, 0x34, 0x35, 0x36, 0x37, 0x38, 0x39, 0x3a, 0x3b, 0x3c, 0x3d, 0x3e, 0x3f};

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  fuzz_quiet();
  if (ockam_vault_create("software", &vault) ||
      ockam_vault_secret_import(vault, OCKAM_SECRET_X25519, s_bytes, 32, &init_s) ||
      ockam_vault_secret_import(vault, OCKAM_SECRET_X25519, e_bytes, 32, &init_e))
    abort();
  return 0;
}

typedef enum { SESS_NONE, SESS_WAIT_M2, SESS_OPEN, SESS_FAILED } sess_state;

typedef struct harness {
  ockam_node *node;
  ockam_route *last_ret; /* return route of the last message sink received */
  sess_state sess;
  bool extended;
  ockami_xx xx;
  ockami_cipher cipher;
  ockam_route *responder; /* the responder channel's remote address */
  uint8_t m2_payload[64];
  size_t m2_payload_len;
  bool got_m2;
} harness;

static bool from_responder(const harness *h, const ockam_message *m) {
  return h->responder && ockam_route_equal(&m->ret, h->responder);
}

static int sink_handle(ockam_worker *w, ockam_message *m) {
  harness *h = ockam_worker_user(w);
  ockam_route_free(h->last_ret);
  h->last_ret = NULL;
  if (ockam_route_copy(&m->ret, &h->last_ret)) h->last_ret = NULL;
  ockami_reader r;
  const uint8_t *blob;
  size_t blen;
  ockami_reader_init(&r, m->payload.data, m->payload.len);
  if (h->sess == SESS_WAIT_M2 && !h->got_m2) {
    /* The responder's first message: m2 as a BARE Vec<u8>. */
    h->got_m2 = true;
    ockam_route_free(h->responder);
    h->responder = NULL;
    FUZZ_CHECK(ockam_route_copy(&m->ret, &h->responder) == 0);
    FUZZ_CHECK(ockami_read_data(&r, OCKAMI_XX_MSG_MAX, &blob, &blen) == 0);
    FUZZ_CHECK(ockami_xx_read(&h->xx, blob, blen, h->m2_payload, sizeof h->m2_payload,
                              &h->m2_payload_len) == 0);
    return 0;
  }
  if (h->sess == SESS_OPEN && from_responder(h, m)) {
    /* Whatever an open responder sends is ciphertext under our keys. */
    FUZZ_CHECK(ockami_read_data(&r, OCKAM_PAYLOAD_MAX, &blob, &blen) == 0);
    uint8_t *plain = malloc(blen + 1);
    size_t plen;
    FUZZ_CHECK(ockami_cipher_decrypt(&h->cipher, blob, blen, plain, blen, &plen) == 0);
    free(plain);
  }
  return 0;
}

static const ockam_worker_ops sink_ops = {sink_handle, NULL};

static bool idle(void *arg) {
  return ockami_node_queue_len(arg) == 0;
}

static void settle(harness *h) {
  (void)ockam_node_run_until(h->node, 2000, idle, h->node);
}

static void send_to(harness *h, const ockam_route *route, const uint8_t *p, size_t len) {
  if (route && ockam_route_len(route) > 0) (void)ockam_send(h->node, "sink", route, p, len);
  settle(h);
}

static void send_to_name(harness *h, const char *name, const uint8_t *p, size_t len) {
  ockam_route *r;
  FUZZ_CHECK(ockam_route_new(&r) == 0);
  FUZZ_CHECK(ockam_route_append(r, OCKAM_ADDRESS_LOCAL, name, strlen(name)) == 0);
  send_to(h, r, p, len);
  ockam_route_free(r);
}

static void send_vec(harness *h, const ockam_route *route, const uint8_t *p, size_t len) {
  ockami_buf b = OCKAMI_BUF_INIT;
  FUZZ_CHECK(ockami_write_data(&b, p, len) == 0);
  send_to(h, route, b.data, b.len);
  ockami_buf_free(&b);
}

static void open_channel(harness *h, bool extended) {
  if (h->sess != SESS_NONE) return;
  FUZZ_CHECK(ockami_xx_init(&h->xx, vault, true, NULL, 0, init_s, init_e) == 0);
  uint8_t ann[OCKAMI_EXT_PAYLOAD_LEN], m1[OCKAMI_XX_M1_MIN + OCKAMI_EXT_PAYLOAD_LEN];
  size_t alen = 0, m1len;
  if (extended)
    FUZZ_CHECK(ockami_ext_payload_write(OCKAMI_EXT_FLAG_EXTENDED_FRAMING, ann, sizeof ann, &alen) ==
               0);
  FUZZ_CHECK(ockami_xx_write(&h->xx, ann, alen, m1, sizeof m1, &m1len) == 0);
  ockami_buf req = OCKAMI_BUF_INIT; /* CreateResponderChannelMessage{m1, None} */
  FUZZ_CHECK(ockami_write_data(&req, m1, m1len) == 0 && ockami_write_option(&req, false) == 0);
  h->sess = SESS_WAIT_M2;
  h->got_m2 = false;
  send_to_name(h, "listener", req.data, req.len);
  ockami_buf_free(&req);
  /* The listener ignores a request whose ephemeral key it has seen (an
   * earlier op may have sent these very bytes): then there is no m2. */
  if (!h->got_m2) {
    h->sess = SESS_FAILED;
    return;
  }
  uint8_t m3[OCKAMI_XX_M3_MIN];
  size_t m3len;
  FUZZ_CHECK(ockami_xx_write(&h->xx, NULL, 0, m3, sizeof m3, &m3len) == 0);
  ockam_secret enc, dec;
  FUZZ_CHECK(ockami_xx_split(&h->xx, true, &enc, &dec, NULL) == 0);
  uint8_t remote = ockami_ext_payload_parse(h->m2_payload, h->m2_payload_len);
  ockami_framing f = ockami_ext_select(extended ? OCKAMI_EXT_FLAG_EXTENDED_FRAMING : 0, remote);
  FUZZ_CHECK(ockami_cipher_init(&h->cipher, vault, f, enc, dec) == 0);
  h->sess = SESS_OPEN;
  send_vec(h, h->responder, m3, m3len);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  fuzz_in in;
  fuzz_in_init(&in, data, size);
  uint8_t flags = fuzz_u8(&in);
  static harness h;
  memset(&h, 0, sizeof h);
  FUZZ_CHECK(ockam_node_create(&h.node) == 0);
  ockam_channel_options opts = {.compat_2021 = flags & 1, .max_pending = 1 + (flags >> 4)};
  ockam_channel_listener *listener;
  FUZZ_CHECK(ockam_channel_listener_create(h.node, "listener", vault, &opts, &listener) == 0);
  ockami_peers peers;
  ockami_peers_init(&peers, h.node);
  ockam_hub_options hopts = {.max_forwarders = 1 + ((flags >> 1) & 3)};
  ockami_forwarding *forwarding;
  FUZZ_CHECK(ockami_forwarding_start(h.node, &hopts, &peers, &forwarding) == 0);
  FUZZ_CHECK(ockami_echo_start(h.node, NULL) == 0);
  const char *sink_addr[1] = {"sink"};
  FUZZ_CHECK(ockam_worker_start(h.node, sink_addr, 1, &sink_ops, &h, NULL) == 0);

  for (int ops = 0; ops < 16 && fuzz_left(&in); ops++) {
    uint8_t op = fuzz_u8(&in) % 6;
    size_t len;
    const uint8_t *p = op == 4 ? NULL : fuzz_bytes(&in, fuzz_u16(&in) % 4096, &len);
    switch (op) {
      case 0:
        send_to_name(&h, "listener", p, len);
        break;
      case 1:
        send_to_name(&h, "forwarding_service", p, len);
        break;
      case 2:
        send_to(&h, h.last_ret, p, len);
        break;
      case 3: {
        ockam_message *m;
        if (ockam_message_decode(p, len, &m) == 0) {
          if (ockam_send_message(h.node, m) != 0) ockam_message_free(m);
          settle(&h);
        }
        break;
      }
      case 4:
        open_channel(&h, flags & 8);
        break;
      case 5:
        if (h.sess == SESS_OPEN) {
          size_t cap = len + ockami_cipher_overhead(h.cipher.framing), blen;
          uint8_t *blob = malloc(cap);
          FUZZ_CHECK(ockami_cipher_encrypt(&h.cipher, p, len, blob, cap, &blen) == 0);
          send_vec(&h, h.responder, blob, blen);
          free(blob);
        }
        break;
    }
  }
  ockam_node_destroy(h.node);
  ockam_channel_listener_close(listener);
  ockami_forwarding_stop(forwarding); /* its workers went with the node: only frees */
  ockami_peers_free(&peers);
  ockami_xx_clear(&h.xx);
  ockami_cipher_clear(&h.cipher);
  ockam_route_free(h.last_ret);
  ockam_route_free(h.responder);
  FUZZ_CHECK(ockam_vault_secret_count(vault) == 2);
  return 0;
}
