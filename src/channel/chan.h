/* Internal: one secure channel end, shared by the handshake and workers
 * (channel.c) and the data path (channel_data.c). */
#ifndef OCKAMI_CHAN_H
#define OCKAMI_CHAN_H

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "buf.h"
#include "cipher.h"
#include "message.h"
#include "ockam/channel.h"
#include "ockam/node.h"
#include "route.h"
#include "xx.h"

typedef struct ockam_channel_listener listener;

typedef enum chan_state { CHAN_HANDSHAKE, CHAN_READY, CHAN_FAILED } chan_state;

typedef struct chan {
  ockam_worker *worker;
  ockam_vault *vault;
  listener *owner; /* responder: the listener that spawned it (NULL once detached) */
  chan_state state;
  bool initiator;
  uint8_t local_flags;
  char remote[33];       /* rA / rB */
  char local[33];        /* lA / lB */
  uint8_t key_e[32];     /* responder: initiator's ephemeral key, the listener's dedup key */
  uint8_t remote_flags;  /* responder: extensions the initiator announced in m1 */
  uint32_t remote_rekey; /* responder: rekey interval the initiator offered */
  uint32_t local_rekey;  /* rekey interval we offer */
  uint32_t rekey_ms;     /* time-based rekey period of our sending direction */
  ockam_timer *rekey_timer;
  uint64_t order;              /* responder: position in its listener's start order */
  uint64_t handshake_rejected; /* handshake messages dropped: did not authenticate */
  ockam_route remote_route;
  ockam_route callback; /* responder: KeyExchangeCompleted target (may be empty) */
  ockami_xx xx;
  ockami_cipher cipher;
  uint8_t h[32]; /* final handshake hash, kept for the identity layer (public value) */
  ockam_timer *timer;
  int result;         /* initiator: outcome for the blocking create */
  int *waiter_result; /* initiator: where a failure is reported while create waits */
  ockami_buf scratch;
  /* Batched records (both ends announced them): messages to `local` wait in
   * bq until the node's delivery queue is empty or, at the latest, the loop's
   * prepare phase (end of the iteration, before it polls), and go out as one
   * record. */
  bool batching;
  uv_prepare_t *bq_flush; /* active while bq holds messages */
  ockam_message *bq_head, *bq_tail;
  size_t bq_count, bq_bytes; /* messages waiting; their batch plaintext size */
  uint64_t batches_sent, batched_sent, batches_received, batched_received;
  /* Fast path (chan_seal_direct): the transport output remote_route starts
   * with, found under node direct epoch direct_epoch (NULL: none), and the
   * frame bytes every message to the peer starts with. */
  void *direct_out;
  uint64_t direct_epoch;
  bool direct_found;
  ockami_buf direct_head;
  uint64_t slow_mark; /* node enqueue count after our last message to the peer */
} chan;

/* A new message to the peer: onward remote_route, return [remote], empty payload. */
OCKAM_MUST_CHECK int ockami_chan_remote_message_new(chan *c, ockam_message **out);
/* Plaintext from a local worker (onward [local, rest...]): sealed, or queued
 * for a batched record. */
int ockami_chan_encrypt(chan *c, ockam_message *m);
/* Ciphertext from the peer: opened and delivered, or dropped (an error). */
int ockami_chan_decrypt(chan *c, ockam_message *m);
/* Batched records were negotiated: set up the end-of-iteration flush. */
OCKAM_MUST_CHECK int ockami_chan_batch_setup(chan *c);
/* The channel stops: seal what waits, release the flush handle. */
void ockami_chan_batch_release(chan *c);

#endif
