/* Identity channels inside one node (initiator and listener share the loop):
 * establishment, who-sent-this metadata, trust policies and refusals on both
 * sides, worker allow-lists, rotation, rekeying through a channel, and junk
 * that must be dropped without breaking anything. The multi-process guide,
 * MITM and restart tests are in tests/identity_guide_test.c. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include <sodium.h>

#include "channel_internal.h"
#include "ockam/ockam.h"

typedef struct fixture {
  ockam_node *node;
  ockam_vault *vault;
  ockam_identity *alice, *bob; /* alice initiates, bob listens */
  ockam_identity *carol;       /* freed after the node, like the others */
  char alice_id[OCKAM_IDENTIFIER_BUF], bob_id[OCKAM_IDENTIFIER_BUF];
  ockam_mailbox *app, *inbox;
  ockam_identity_channel_listener *listeners[4];
  size_t nlisteners;
  ockam_channel_listener *plain;
} fixture;

/* Listeners are closed after the node (the handle rule allows both orders). */
static int start_listener(fixture *f, const char *address, ockam_identity *who,
                          ockam_trust_policy *pol, const ockam_channel_options *opts) {
  if (f->nlisteners == 4) return OCKAM_EFULL;
  return ockam_identity_channel_listener_create(f->node, address, who, pol, opts,
                                                &f->listeners[f->nlisteners++]);
}

static int setup(void **state) {
  fixture *f = calloc(1, sizeof *f);
  if (!f || ockam_node_create(&f->node) || ockam_vault_create("software", &f->vault) ||
      ockam_identity_create(f->vault, &f->alice) || ockam_identity_create(f->vault, &f->bob) ||
      ockam_identity_identifier(f->alice, f->alice_id, sizeof f->alice_id) ||
      ockam_identity_identifier(f->bob, f->bob_id, sizeof f->bob_id) ||
      ockam_mailbox_create(f->node, "app", &f->app) ||
      ockam_mailbox_create(f->node, "inbox", &f->inbox))
    return -1;
  *state = f;
  return 0;
}

static int teardown(void **state) {
  fixture *f = *state;
  ockam_node_destroy(f->node);
  for (size_t i = 0; i < f->nlisteners; i++) ockam_identity_channel_listener_close(f->listeners[i]);
  ockam_channel_listener_close(f->plain);
  ockam_mailbox_destroy(f->app);
  ockam_mailbox_destroy(f->inbox);
  ockam_identity_free(f->alice);
  ockam_identity_free(f->bob);
  ockam_identity_free(f->carol);
  ockam_vault_destroy(f->vault);
  free(f);
  return 0;
}

static ockam_route *route2(const char *a, const char *b) {
  ockam_route *r;
  assert_int_equal(ockam_route_new(&r), 0);
  assert_int_equal(ockam_route_append_str(r, a), 0);
  if (b) assert_int_equal(ockam_route_append_str(r, b), 0);
  return r;
}

static ockam_trust_policy *pin(const char *id) {
  ockam_trust_policy *p;
  const char *ids[1] = {id};
  assert_int_equal(ockam_trust_identifiers(ids, 1, &p), 0);
  return p;
}

static ockam_trust_policy *everyone(void) {
  ockam_trust_policy *p;
  assert_int_equal(ockam_trust_everyone(&p), 0);
  return p;
}

static int open_channel(fixture *f, const char *listener, ockam_trust_policy *policy,
                        const ockam_channel_options *opts, char *chan) {
  ockam_route *r = route2(listener, NULL);
  int rc = ockam_identity_channel_create(f->node, r, f->alice, policy, opts, 20000, chan, 64);
  ockam_route_free(r);
  return rc;
}

/* Send "text" from app through chan to inbox; return what inbox got (caller frees). */
static ockam_message *send_through(fixture *f, const char *chan, const char *text) {
  ockam_route *r = route2(chan, "inbox");
  uint8_t p[64];
  size_t n = strlen(text);
  p[0] = (uint8_t)n;
  memcpy(p + 1, text, n);
  assert_int_equal(ockam_send(f->node, "app", r, p, n + 1), 0);
  ockam_route_free(r);
  ockam_message *m = NULL;
  assert_int_equal(ockam_mailbox_receive(f->inbox, 10000, &m), 0);
  return m;
}

static void test_establish_and_who_sent(void **state) {
  fixture *f = *state;
  ockam_trust_policy *pol = pin(f->alice_id);
  assert_int_equal(start_listener(f, "bob", f->bob, pol, NULL), 0);
  ockam_trust_policy_free(pol); /* the listener keeps its own reference */
  pol = pin(f->bob_id);
  char chan[64];
  assert_int_equal(open_channel(f, "bob", pol, NULL, chan), 0);
  ockam_trust_policy_free(pol);

  char who[OCKAM_IDENTIFIER_BUF];
  assert_int_equal(ockam_identity_channel_peer(f->node, chan, who, sizeof who), 0);
  assert_string_equal(who, f->bob_id);
  ockam_channel_stats st;
  assert_int_equal(ockam_identity_channel_get_stats(f->node, chan, &st), 0);
  assert_true(st.established);
  assert_true(st.extended_framing);
  assert_int_equal(st.rekey_messages, OCKAM_REKEY_MESSAGES);

  /* Bob's side sees Alice as the sender, from local metadata only. */
  ockam_message *m = send_through(f, chan, "Hello World!");
  const char *s;
  size_t len;
  assert_int_equal(ockam_message_get_string(m, &s, &len), 0);
  assert_int_equal(len, 12);
  assert_int_equal(ockam_message_peer_identifier(m, who, sizeof who), 0);
  assert_string_equal(who, f->alice_id);
  assert_true(ockam_message_via_channel(m));
  /* The reply goes back along the return route, and Alice sees Bob. */
  assert_int_equal(
      ockam_send(f->node, "inbox", ockam_message_return(m), (const uint8_t *)"\x02ok", 3), 0);
  ockam_message_free(m);
  assert_int_equal(ockam_mailbox_receive(f->app, 10000, &m), 0);
  assert_int_equal(ockam_message_peer_identifier(m, who, sizeof who), 0);
  assert_string_equal(who, f->bob_id);
  ockam_message_free(m);

  /* Plain local messages carry no identity. */
  ockam_route *r = route2("inbox", NULL);
  assert_int_equal(ockam_send(f->node, "app", r, (const uint8_t *)"\x01x", 2), 0);
  ockam_route_free(r);
  assert_int_equal(ockam_mailbox_receive(f->inbox, 10000, &m), 0);
  assert_int_equal(ockam_message_peer_identifier(m, who, sizeof who), OCKAM_ENOTFOUND);
  ockam_message_free(m);
  assert_int_equal(ockam_identity_channel_close(f->node, chan), 0);
}

/* Run the loop a little so that the other end can finish failing. */
static void settle(fixture *f, int ms) {
  int rc = ockam_node_run_until(f->node, ms, NULL, NULL);
  (void)rc;
}

static void test_initiator_refuses(void **state) {
  fixture *f = *state;
  ockam_trust_policy *pol = everyone();
  assert_int_equal(start_listener(f, "bob", f->bob, pol, NULL), 0);
  ockam_trust_policy_free(pol);
  /* Alice expects somebody else. */
  pol = pin(f->alice_id);
  char chan[64] = "";
  int rc = open_channel(f, "bob", pol, NULL, chan);
  ockam_trust_policy_free(pol);
  assert_int_equal(rc, OCKAM_EUNTRUSTED);
  assert_string_equal(chan, "");
  settle(f, 500);
  /* Nothing reached the inbox. */
  ockam_message *m;
  assert_int_equal(ockam_mailbox_receive(f->inbox, 200, &m), OCKAM_ETIMEDOUT);
}

static void test_responder_refuses(void **state) {
  fixture *f = *state;
  ockam_trust_policy *pol = pin(f->bob_id); /* Bob accepts only himself: Alice is refused */
  assert_int_equal(start_listener(f, "bob", f->bob, pol, NULL), 0);
  ockam_trust_policy_free(pol);
  pol = everyone();
  char chan[64];
  /* Both ends are ockam-c: Bob's refusal notice tells Alice why at once. */
  assert_int_equal(open_channel(f, "bob", pol, NULL, chan), OCKAM_EUNTRUSTED);
  /* Without extended framing there is no notice: Alice times out. */
  ockam_channel_options o = {.compat_2021 = true, .handshake_timeout_ms = 2000};
  assert_int_equal(open_channel(f, "bob", pol, &o, chan), OCKAM_ETIMEDOUT);
  ockam_trust_policy_free(pol);
}

/* Bob rejects a contact reflected back at him (spec §10 item 2) and a peer
 * claiming his identifier is not him. */
static void test_reflection_refused(void **state) {
  fixture *f = *state;
  ockam_trust_policy *pol = everyone();
  assert_int_equal(start_listener(f, "bob", f->bob, pol, NULL), 0);
  char chan[64];
  ockam_route *r = route2("bob", NULL);
  /* Bob connecting to himself: each side sees its own identifier. */
  assert_int_equal(ockam_identity_channel_create(f->node, r, f->bob, pol, NULL, 20000, chan, 64),
                   OCKAM_EPEERAUTH);
  ockam_route_free(r);
  ockam_trust_policy_free(pol);
}

static int allow_if_alice(void *arg, const char *id, const ockam_contact *c) {
  (void)c;
  return strcmp(arg, id) ? -1 : 0;
}

static void test_callback_and_contacts_policies(void **state) {
  fixture *f = *state;
  ockam_trust_policy *pol;
  assert_int_equal(ockam_trust_callback(allow_if_alice, f->alice_id, &pol), 0);
  assert_int_equal(start_listener(f, "bob", f->bob, pol, NULL), 0);
  ockam_trust_policy_free(pol);

  /* Alice trusts the contact Bob exported before he rotated his key. */
  uint8_t contact[4096];
  size_t clen;
  assert_int_equal(ockam_identity_export_contact(f->bob, contact, sizeof contact, &clen), 0);
  char path[] = "/tmp/ockam-contacts-XXXXXX";
  int fd = mkstemp(path);
  assert_true(fd >= 0);
  FILE *fp = fdopen(fd, "w");
  fprintf(fp, "# bob\n");
  for (size_t i = 0; i < clen; i++) fprintf(fp, "%02x", contact[i]);
  fprintf(fp, "\n");
  fclose(fp);
  assert_int_equal(ockam_trust_contacts_file(path, &pol), 0);
  assert_int_equal(ockam_identity_rotate(f->bob), 0);
  char bob_after[OCKAM_IDENTIFIER_BUF];
  assert_int_equal(ockam_identity_identifier(f->bob, bob_after, sizeof bob_after), 0);
  assert_string_equal(bob_after, f->bob_id);

  char chan[64];
  assert_int_equal(open_channel(f, "bob", pol, NULL, chan), 0);
  ockam_message *m = send_through(f, chan, "after rotation");
  ockam_message_free(m);
  ockam_trust_policy_free(pol);
  /* An identity absent from the file is refused. */
  assert_int_equal(ockam_identity_create(f->vault, &f->carol), 0);
  pol = everyone();
  assert_int_equal(start_listener(f, "carol", f->carol, pol, NULL), 0);
  ockam_trust_policy_free(pol);
  assert_int_equal(ockam_trust_contacts_file(path, &pol), 0);
  assert_int_equal(open_channel(f, "carol", pol, NULL, chan), OCKAM_EUNTRUSTED);
  ockam_trust_policy_free(pol);
  unlink(path);

  /* Malformed files. */
  assert_int_equal(ockam_trust_contacts_file("/nonexistent/contacts", &pol), OCKAM_ENOTFOUND);
  char bad[] = "/tmp/ockam-contacts-XXXXXX";
  fd = mkstemp(bad);
  assert_true(fd >= 0);
  assert_int_equal(write(fd, "zz\n", 3), 3);
  close(fd);
  assert_int_equal(ockam_trust_contacts_file(bad, &pol), OCKAM_EMALFORMED);
  unlink(bad);
}

static void test_worker_allow_list(void **state) {
  fixture *f = *state;
  ockam_trust_policy *pol = everyone();
  assert_int_equal(start_listener(f, "bob", f->bob, pol, NULL), 0);
  assert_int_equal(ockam_channel_listener_create(f->node, "anon", f->vault, NULL, &f->plain), 0);
  char chan[64], anon[64];
  assert_int_equal(open_channel(f, "bob", pol, NULL, chan), 0);
  ockam_route *r = route2("anon", NULL);
  assert_int_equal(ockam_channel_create(f->node, r, f->vault, NULL, 20000, anon, sizeof anon), 0);
  ockam_route_free(r);
  ockam_trust_policy_free(pol);
  assert_int_equal(ockam_mailbox_allow_identifiers(f->inbox, (const char *const[]){"zz"}, 1),
                   OCKAM_EINVAL);
  const char *ids[1] = {f->alice_id};
  assert_int_equal(ockam_mailbox_allow_identifiers(f->inbox, ids, 1), 0); /* Alice only */

  ockam_message *m = send_through(f, chan, "from alice");
  ockam_message_free(m);
  /* Anonymous channel and plain local messages are dropped by the runtime. */
  r = route2(anon, "inbox");
  assert_int_equal(ockam_send(f->node, "app", r, (const uint8_t *)"\x01x", 2), 0);
  ockam_route_free(r);
  r = route2("inbox", NULL);
  assert_int_equal(ockam_send(f->node, "app", r, (const uint8_t *)"\x01y", 2), 0);
  ockam_route_free(r);
  assert_int_equal(ockam_mailbox_receive(f->inbox, 500, &m), OCKAM_ETIMEDOUT);
  /* Another identity is dropped too. */
  const char *bob_only[1] = {f->bob_id};
  assert_int_equal(ockam_mailbox_allow_identifiers(f->inbox, bob_only, 1), 0);
  r = route2(chan, "inbox");
  assert_int_equal(ockam_send(f->node, "app", r, (const uint8_t *)"\x01z", 2), 0);
  ockam_route_free(r);
  assert_int_equal(ockam_mailbox_receive(f->inbox, 500, &m), OCKAM_ETIMEDOUT);
  /* Lifting the restriction. */
  assert_int_equal(ockam_mailbox_allow_identifiers(f->inbox, NULL, 0), 0);
  m = send_through(f, chan, "open again");
  ockam_message_free(m);
}

static void test_rekey_through_channel(void **state) {
  fixture *f = *state;
  ockam_trust_policy *pol = everyone();
  ockam_channel_options o = {.rekey_messages = 2048};
  assert_int_equal(start_listener(f, "bob", f->bob, pol, &o), 0);
  char chan[64];
  /* One record per message (no batching), so that the counters pass the
   * epoch boundaries. */
  ockam_channel_options oi = {.rekey_messages = 4096, .no_batch = true};
  assert_int_equal(open_channel(f, "bob", pol, &oi, chan), 0);
  ockam_trust_policy_free(pol);
  ockam_channel_stats st;
  assert_int_equal(ockam_identity_channel_get_stats(f->node, chan, &st), 0);
  assert_int_equal(st.rekey_messages, 2048); /* the smaller offer */
  ockam_route *r = route2(chan, "inbox");
  const int n = 5000;
  for (int i = 0; i < n; i++) {
    char text[16];
    int len = snprintf(text + 1, sizeof text - 1, "%d", i);
    text[0] = (char)len;
    assert_int_equal(ockam_send(f->node, "app", r, (const uint8_t *)text, (size_t)len + 1), 0);
    if (i % 512 == 511) {
      for (int k = 0; k < 512; k++) {
        ockam_message *m;
        assert_int_equal(ockam_mailbox_receive(f->inbox, 10000, &m), 0);
        ockam_message_free(m);
      }
    }
  }
  for (int k = 0; k < n % 512; k++) {
    ockam_message *m;
    assert_int_equal(ockam_mailbox_receive(f->inbox, 10000, &m), 0);
    ockam_message_free(m);
  }
  ockam_route_free(r);
  assert_int_equal(ockam_identity_channel_get_stats(f->node, chan, &st), 0);
  assert_int_equal(st.sent, n + 1);    /* and the ChannelAuthResponse */
  assert_int_equal(st.rekeys_sent, 2); /* counters 2048 and 4096 started new keys */
}

/* Keys also move on time: a key that encrypted something is replaced after
 * rekey_ms; an idle one is kept (the receiver never falls behind). */
static void test_rekey_on_time(void **state) {
  fixture *f = *state;
  ockam_trust_policy *pol = everyone();
  ockam_channel_options o = {.rekey_ms = 100};
  assert_int_equal(start_listener(f, "bob", f->bob, pol, &o), 0);
  char chan[64];
  assert_int_equal(open_channel(f, "bob", pol, &o, chan), 0);
  ockam_trust_policy_free(pol);
  ockam_message *m = send_through(f, chan, "before");
  ockam_message_free(m);
  settle(f, 400);
  ockam_channel_stats st;
  assert_int_equal(ockam_identity_channel_get_stats(f->node, chan, &st), 0);
  uint64_t moved = st.rekeys_sent;
  assert_true(moved >= 1);
  /* Idle: nothing was encrypted under the new key, so it stays. */
  settle(f, 300);
  assert_int_equal(ockam_identity_channel_get_stats(f->node, chan, &st), 0);
  assert_int_equal(st.rekeys_sent, moved);
  m = send_through(f, chan, "after");
  const char *s;
  size_t len;
  assert_int_equal(ockam_message_get_string(m, &s, &len), 0);
  assert_int_equal(len, 5);
  /* The responder sent its handshake messages under its first key and moved
   * on time too: its reply comes under the next key, and still opens. */
  assert_int_equal(
      ockam_send(f->node, "inbox", ockam_message_return(m), (const uint8_t *)"\x02ok", 3), 0);
  ockam_message_free(m);
  assert_int_equal(ockam_mailbox_receive(f->app, 10000, &m), 0);
  ockam_message_free(m);
  assert_int_equal(ockam_identity_channel_get_stats(f->node, chan, &st), 0);
  assert_true(st.rekeys_received >= 1);
}

static void test_junk_is_dropped(void **state) {
  fixture *f = *state;
  ockam_trust_policy *pol = everyone();
  assert_int_equal(start_listener(f, "bob", f->bob, pol, NULL), 0);
  /* A plain (anonymous) initiator sends no callback: the request is dropped. */
  char chan[64];
  ockam_route *r = route2("bob", NULL);
  ockam_channel_options o = {.handshake_timeout_ms = 1000};
  assert_int_equal(ockam_channel_create(f->node, r, f->vault, &o, 1000, chan, sizeof chan),
                   OCKAM_ETIMEDOUT);
  /* Garbage at the listener. */
  assert_int_equal(ockam_send(f->node, "app", r, (const uint8_t *)"\xff\xff\xff", 3), 0);
  assert_int_equal(ockam_send(f->node, "app", r, NULL, 0), 0);
  ockam_route_free(r);
  /* The listener still works. */
  assert_int_equal(open_channel(f, "bob", pol, NULL, chan), 0);
  ockam_trust_policy_free(pol);
  ockam_message *m = send_through(f, chan, "still fine");
  ockam_message_free(m);
}

/* CreateResponderChannelMessage{m1 (32 random bytes: a fresh ephemeral key),
 * Some(0#"app")} to `listener`, replies to `ret`. */
static void send_request(fixture *f, const char *listener, const char *ret) {
  uint8_t p[64];
  p[0] = 32;
  randombytes_buf(p + 1, 32);
  p[33] = 1;
  p[34] = 0;
  p[35] = 3;
  memcpy(p + 36, "app", 3);
  ockam_route *r = route2(listener, NULL);
  assert_int_equal(ockam_send(f->node, ret, r, p, 39), 0);
  ockam_route_free(r);
}

/* Requests that never complete: at most max_pending identity ends wait at
 * once (the oldest makes room), an end goes when its plain handshake fails,
 * and an honest peer still gets a channel. */
static void test_request_flood_is_bounded(void **state) {
  fixture *f = *state;
  ockam_trust_policy *pol = everyone();
  ockam_channel_options o = {.max_pending = 8, .handshake_timeout_ms = 60000};
  assert_int_equal(start_listener(f, "bob", f->bob, pol, &o), 0);
  ockam_identity_channel_listener *l = f->listeners[0];
  /* A request whose m1 the plain listener cannot answer (its payload is too
   * long): the plain responder fails at once, and the identity end waiting
   * for it goes too instead of waiting out the timeout. */
  uint8_t p[400];
  p[0] = 0xac; /* Vec<u8> of 300 bytes */
  p[1] = 0x02;
  randombytes_buf(p + 2, 300);
  p[302] = 1;
  p[303] = 0;
  p[304] = 3;
  memcpy(p + 305, "app", 3);
  ockam_route *r = route2("bob", NULL);
  assert_int_equal(ockam_send(f->node, "nowhere", r, p, 308), 0);
  ockam_route_free(r);
  assert_int_equal(ockam_node_run_until(f->node, 300, NULL, NULL), 0);
  assert_int_equal(ockami_identity_listener_ends(l), 0);
  assert_int_equal(ockami_identity_listener_waiting(l), 0);
  for (int i = 0; i < 500; i++) {
    send_request(f, "bob", "nowhere");
    if (i % 50 == 0) assert_int_equal(ockam_node_run_until(f->node, 1, NULL, NULL), 0);
  }
  assert_int_equal(ockam_node_run_until(f->node, 300, NULL, NULL), 0);
  assert_true(ockami_identity_listener_waiting(l) <= 8);
  assert_true(ockami_identity_listener_ends(l) <= 8);
  /* An honest peer is served. */
  char chan[64];
  assert_int_equal(open_channel(f, "bob", pol, NULL, chan), 0);
  ockam_trust_policy_free(pol);
  ockam_message *m = send_through(f, chan, "served");
  ockam_message_free(m);
}

/* The plain listener takes a completion callback only at a local address: a
 * request naming 1#host:port is dropped unanswered. */
static void test_plain_callback_must_be_local(void **state) {
  fixture *f = *state;
  assert_int_equal(ockam_channel_listener_create(f->node, "plain", f->vault, NULL, &f->plain), 0);
  for (int type = 1; type >= 0; type--) {
    uint8_t p[64];
    p[0] = 32;
    randombytes_buf(p + 1, 32);
    p[33] = 1;
    p[34] = (uint8_t)type;
    p[35] = 14;
    memcpy(p + 36, "127.0.0.1:4000", 14);
    ockam_route *r = route2("plain", NULL);
    assert_int_equal(ockam_send(f->node, "inbox", r, p, 50), 0);
    ockam_route_free(r);
    ockam_message *m2 = NULL;
    int rc = ockam_mailbox_receive(f->inbox, type ? 300 : 10000, &m2);
    assert_int_equal(rc, type ? OCKAM_ETIMEDOUT : OCKAM_OK);
    ockam_message_free(m2);
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_establish_and_who_sent, setup, teardown),
      cmocka_unit_test_setup_teardown(test_initiator_refuses, setup, teardown),
      cmocka_unit_test_setup_teardown(test_responder_refuses, setup, teardown),
      cmocka_unit_test_setup_teardown(test_reflection_refused, setup, teardown),
      cmocka_unit_test_setup_teardown(test_callback_and_contacts_policies, setup, teardown),
      cmocka_unit_test_setup_teardown(test_worker_allow_list, setup, teardown),
      cmocka_unit_test_setup_teardown(test_rekey_through_channel, setup, teardown),
      cmocka_unit_test_setup_teardown(test_rekey_on_time, setup, teardown),
      cmocka_unit_test_setup_teardown(test_junk_is_dropped, setup, teardown),
      cmocka_unit_test_setup_teardown(test_request_flood_is_bounded, setup, teardown),
      cmocka_unit_test_setup_teardown(test_plain_callback_must_be_local, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
