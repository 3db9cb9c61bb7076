/* The authenticated, authorized hub, as separate processes over real TCP:
 * the guide through identity channels to a hub with an identity and an ACL
 * (its stored records are ciphertext); requests an identity has no right to
 * are refused with "Permission denied"; indexes belong to identities;
 * per-identity quotas; ACL reload on SIGHUP (a malformed file is refused and
 * the old ACL stays); a hub on a non-loopback address without an anonymous
 * decision refuses to start.
 *
 * The clients here are nodes inside this process speaking the stream
 * protocol through an identity channel to the hub (stream_proto.h encodes
 * the requests), so that each refusal can be seen exactly. */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "buf.h"
#include "ockam/ockam.h"
#include "proxy.h"
#include "stream_proto.h"
#include "testutil.h"

#define RESPONDER OCKAM_EXAMPLES "/15-identity-secure-channel-over-stream-over-cloud-node-responder"
#define INITIATOR OCKAM_EXAMPLES "/15-identity-secure-channel-over-stream-over-cloud-node-initiator"
#define REPLY "Reply via identity secure channel via stream: Hello World!"
#define DENIED "Permission denied"
#define QUOTA "Quota exceeded"
#define WAIT_MS 15000

/* ---- helpers ----------------------------------------------------------------- */

static void spawn_sh(tu_proc *p, const char *cmd) {
  char *argv[] = {(char *)"/bin/sh", (char *)"-c", (char *)cmd, NULL};
  assert_int_equal(tu_spawn(p, argv, true), 0);
}

/* One line of a command's output (stdout and stderr), and its exit code. */
static int run_line(const char *cmd, char *out, size_t cap) {
  tu_proc p;
  spawn_sh(&p, cmd);
  out[0] = '\0';
  if (tu_read_line(&p, out, cap, 20000) != 0) out[0] = '\0';
  return tu_wait(&p, 20000);
}

static void write_file(const char *path, const char *text) {
  FILE *f = fopen(path, "w");
  assert_non_null(f);
  fputs(text, f);
  assert_int_equal(fclose(f), 0);
}

typedef struct hub {
  tu_proc proc;
  char *dir;
  char bound[64];
  char id[80];
  char identity[600], acl[600];
} hub;

/* A memory hub with an identity file and an ACL (text). */
static void hub_start(hub *h, const char *acl_text) {
  memset(h, 0, sizeof *h);
  h->dir = tu_tempdir("authz");
  snprintf(h->identity, sizeof h->identity, "%s/hub/identity", h->dir);
  snprintf(h->acl, sizeof h->acl, "%s/hub.acl", h->dir);
  char cmd[2048];
  snprintf(cmd, sizeof cmd, "exec '%s' hub --store memory --identity '%s' --print-identifier 2>&1",
           OCKAM_BIN, h->identity);
  assert_int_equal(run_line(cmd, h->id, sizeof h->id), 0);
  assert_int_equal(strlen(h->id), 64);
  write_file(h->acl, acl_text);
  const char *extra[] = {"--identity", h->identity, "--acl", h->acl, NULL};
  assert_int_equal(tu_start_hub(&h->proc, 0, "memory", NULL, extra, h->bound, sizeof h->bound), 0);
}

static void hub_stop(hub *h) {
  assert_int_equal(tu_term(&h->proc), 0);
  tu_rmrf(h->dir);
  free(h->dir);
}

typedef struct client {
  ockam_node *node;
  ockam_tcp *tcp;
  ockam_vault *vault;
  ockam_identity *identity;
  ockam_mailbox *mb;
  char id[OCKAM_IDENTIFIER_BUF];
  char channel[64]; /* "" for an anonymous client */
  char hub_hop[80]; /* 1#HOST:PORT */
} client;

/* An identity in memory, not yet connected. */
static void client_new(client *c) {
  memset(c, 0, sizeof *c);
  assert_int_equal(ockam_vault_create("software", &c->vault), 0);
  assert_int_equal(ockam_identity_create(c->vault, &c->identity), 0);
  assert_int_equal(ockam_identity_identifier(c->identity, c->id, sizeof c->id), 0);
}

/* Connect to the hub: through an identity channel pinning the hub, or
 * anonymously (hub_id NULL). */
static void client_connect(client *c, const hub *h, const char *hub_id) {
  assert_int_equal(ockam_node_create(&c->node), 0);
  assert_int_equal(ockam_tcp_create(c->node, NULL, &c->tcp), 0);
  assert_int_equal(ockam_mailbox_create(c->node, "app", &c->mb), 0);
  assert_int_equal(ockam_tcp_connect(c->tcp, h->bound, 0), 0);
  snprintf(c->hub_hop, sizeof c->hub_hop, "1#%s", h->bound);
  if (!hub_id) return;
  ockam_route *r;
  assert_int_equal(ockam_route_parse(c->hub_hop, &r), 0);
  int rc = ockam_hub_channel_create(c->node, r, c->identity, hub_id, WAIT_MS, c->channel,
                                    sizeof c->channel);
  ockam_route_free(r);
  assert_int_equal(rc, 0);
}

static void client_free(client *c) {
  ockam_mailbox_destroy(c->mb);
  ockam_tcp_close(c->tcp);
  ockam_node_destroy(c->node);
  ockam_identity_free(c->identity);
  ockam_vault_destroy(c->vault);
}

/* Route to a hub service: [channel, service] or [1#hub, service]. */
static ockam_route *service_route(const client *c, const char *service) {
  ockam_route *r;
  assert_int_equal(ockam_route_new(&r), 0);
  assert_int_equal(ockam_route_append_str(r, c->channel[0] ? c->channel : c->hub_hop), 0);
  assert_int_equal(ockam_route_append_str(r, service), 0);
  return r;
}

/* Send the request in b along route and wait for the reply (NULL: none). */
static ockam_message *exchange(client *c, ockam_route *route, ockami_buf *b) {
  int rc = ockam_send(c->node, "app", route, b->data, b->len);
  ockam_route_free(route);
  ockami_buf_free(b);
  assert_int_equal(rc, 0);
  ockam_message *m = NULL;
  if (ockam_mailbox_receive(c->mb, WAIT_MS, &m) != OCKAM_OK) return NULL;
  return m;
}

/* Decode a reply; reason receives the error text of an `error`. */
static ockami_sp_kind reply_kind(const ockam_message *m, char *reason, size_t cap) {
  size_t len;
  const uint8_t *p = ockam_message_payload(m, &len);
  ockami_sp_msg msg;
  if (ockami_sp_decode_response(p, len, &msg)) return OCKAMI_SP_NONE;
  if (reason && cap) {
    reason[0] = '\0';
    if (msg.kind == OCKAMI_SP_ERROR)
      snprintf(reason, cap, "%.*s", (int)msg.u.error.reason.len, msg.u.error.reason.p);
  }
  return msg.kind;
}

static void assert_denied(ockam_message *m) {
  assert_non_null(m);
  char reason[128];
  assert_int_equal(reply_kind(m, reason, sizeof reason), OCKAMI_SP_ERROR);
  assert_string_equal(reason, DENIED);
  ockam_message_free(m);
}

/* stream_create: the reply (Init or error). */
static ockam_message *create(client *c, const char *name) {
  ockami_buf b = OCKAMI_BUF_INIT;
  assert_int_equal(ockami_sp_encode_create(&b, name, strlen(name)), 0);
  return exchange(c, service_route(c, "stream"), &b);
}

/* Create and expect Init; returns the route to the stream worker. */
static ockam_route *create_ok(client *c, const char *name) {
  ockam_message *m = create(c, name);
  assert_non_null(m);
  char reason[128];
  ockami_sp_kind k = reply_kind(m, reason, sizeof reason);
  if (k != OCKAMI_SP_INIT) fprintf(stderr, "create %s: %d %s\n", name, (int)k, reason);
  assert_int_equal(k, OCKAMI_SP_INIT);
  ockam_route *r;
  assert_int_equal(ockam_route_new(&r), 0);
  assert_int_equal(ockam_route_append_route(r, ockam_message_return(m)), 0);
  ockam_message_free(m);
  return r;
}

/* The same stream worker, reached through another client's channel. */
static ockam_route *worker_via(const client *c, const ockam_route *worker) {
  ockam_address a;
  assert_int_equal(ockam_route_get(worker, ockam_route_len(worker) - 1, &a), 0);
  ockam_route *r;
  assert_int_equal(ockam_route_new(&r), 0);
  assert_int_equal(ockam_route_append_str(r, c->channel[0] ? c->channel : c->hub_hop), 0);
  assert_int_equal(ockam_route_append(r, a.type, a.value, a.len), 0);
  return r;
}

static ockam_message *push(client *c, const ockam_route *worker, uint64_t rid, size_t size) {
  uint8_t data[512];
  assert_true(size <= sizeof data);
  memset(data, 'x', size);
  ockami_buf b = OCKAMI_BUF_INIT;
  assert_int_equal(ockami_sp_encode_push(&b, rid, data, size), 0);
  return exchange(c, worker_via(c, worker), &b);
}

/* A push's PushConfirm status (or -1 for another reply). */
static int push_status(client *c, const ockam_route *worker, uint64_t rid, size_t size) {
  ockam_message *m = push(c, worker, rid, size);
  assert_non_null(m);
  size_t len;
  const uint8_t *p = ockam_message_payload(m, &len);
  ockami_sp_msg msg;
  int st = -1;
  if (ockami_sp_decode_response(p, len, &msg) == 0 && msg.kind == OCKAMI_SP_PUSH_CONFIRM)
    st = (int)msg.u.push_confirm.status;
  ockam_message_free(m);
  return st;
}

static ockam_message *pull(client *c, const ockam_route *worker) {
  ockami_buf b = OCKAMI_BUF_INIT;
  assert_int_equal(ockami_sp_encode_pull(&b, 7, 0, 10), 0);
  return exchange(c, worker_via(c, worker), &b);
}

static ockam_message *index_get(client *c, const char *client_id, const char *stream) {
  ockami_buf b = OCKAMI_BUF_INIT;
  assert_int_equal(
      ockami_sp_encode_index_get(&b, client_id, strlen(client_id), stream, strlen(stream)), 0);
  return exchange(c, service_route(c, "stream_index"), &b);
}

/* The saved index of (client_id, stream) for this requester: -1 = none. */
static int64_t index_of(client *c, const char *client_id, const char *stream) {
  ockam_message *m = index_get(c, client_id, stream);
  assert_non_null(m);
  size_t len;
  const uint8_t *p = ockam_message_payload(m, &len);
  ockami_sp_msg msg;
  assert_int_equal(ockami_sp_decode_response(p, len, &msg), 0);
  assert_int_equal(msg.kind, OCKAMI_SP_INDEX);
  assert_int_equal(msg.u.index.client_id.len, strlen(client_id));
  assert_memory_equal(msg.u.index.client_id.p, client_id, strlen(client_id));
  int64_t v = msg.u.index.has_index ? (int64_t)msg.u.index.index : -1;
  ockam_message_free(m);
  return v;
}

static void index_save(client *c, const char *client_id, const char *stream, uint64_t index) {
  ockami_buf b = OCKAMI_BUF_INIT;
  assert_int_equal(
      ockami_sp_encode_index_save(&b, client_id, strlen(client_id), stream, strlen(stream), index),
      0);
  ockam_route *r = service_route(c, "stream_index");
  assert_int_equal(ockam_send(c->node, "app", r, b.data, b.len), 0);
  ockam_route_free(r);
  ockami_buf_free(&b);
}

/* The index save carries no reply: a Get afterwards (same connection, same
 * service, in order) shows whether it was applied. */
static ockam_message *index_save_reply(client *c, const char *client_id, const char *stream,
                                       uint64_t index) {
  ockami_buf b = OCKAMI_BUF_INIT;
  assert_int_equal(
      ockami_sp_encode_index_save(&b, client_id, strlen(client_id), stream, strlen(stream), index),
      0);
  return exchange(c, service_route(c, "stream_index"), &b);
}

static ockam_message *delete_stream(client *c, const char *name) {
  ockami_buf b = OCKAMI_BUF_INIT;
  assert_int_equal(ockami_sp_encode_delete(&b, name, strlen(name)), 0);
  return exchange(c, service_route(c, "stream"), &b);
}

static ockam_message *register_forwarder(client *c) {
  ockami_buf b = OCKAMI_BUF_INIT;
  assert_int_equal(ockami_buf_set(&b, "\x08register", 9), 0);
  return exchange(c, service_route(c, "forwarding_service"), &b);
}

/* ---- the authenticated guide ------------------------------------------------------ */

static void show_identifier(const char *prog, const char *dir, char *out, size_t cap) {
  char cmd[1024];
  snprintf(cmd, sizeof cmd, "exec '%s' --identity-dir '%s' --show-identifier", prog, dir);
  assert_int_equal(run_line(cmd, out, cap), 0);
  assert_int_equal(strlen(out), 64);
}

static bool file_has(const char *path, const char *needle) {
  FILE *f = fopen(path, "rb");
  if (!f) return false;
  size_t n = strlen(needle), cap = 1 << 20, len = 0;
  char *buf = malloc(cap);
  bool found = false;
  size_t r;
  while (buf && (r = fread(buf + len, 1, cap - len, f)) > 0) {
    len += r;
    for (size_t i = 0; i + n <= len; i++)
      if (!memcmp(buf + i, needle, n)) found = true;
    /* keep the last n-1 bytes for matches across reads */
    if (len >= n) {
      memmove(buf, buf + len - (n - 1), n - 1);
      len = n - 1;
    }
  }
  free(buf);
  fclose(f);
  return found;
}

static void test_authenticated_guide(void **state) {
  (void)state;
  char *dir = tu_tempdir("authzguide");
  char data[512], alice_dir[512], bob_dir[512], acl[512], alice[80], bob[80], hub_id[80];
  snprintf(data, sizeof data, "%s/data", dir);
  snprintf(alice_dir, sizeof alice_dir, "%s/alice", dir);
  snprintf(bob_dir, sizeof bob_dir, "%s/bob", dir);
  snprintf(acl, sizeof acl, "%s/hub.acl", dir);
  show_identifier(INITIATOR, alice_dir, alice, sizeof alice);
  show_identifier(RESPONDER, bob_dir, bob, sizeof bob);
  /* The lmdb hub creates its identity in its data directory, 0600. */
  char cmd[2048];
  snprintf(cmd, sizeof cmd, "exec '%s' hub --data '%s' --print-identifier 2>/dev/null", OCKAM_BIN,
           data);
  assert_int_equal(run_line(cmd, hub_id, sizeof hub_id), 0);
  assert_int_equal(strlen(hub_id), 64);
  char path[600];
  struct stat st;
  snprintf(path, sizeof path, "%s/identity", data);
  assert_int_equal(stat(path, &st), 0);
  assert_int_equal(st.st_mode & 0777, 0600);
  char text[1024];
  snprintf(text, sizeof text,
           "[hub]\nanonymous = deny\n[group guide]\nmember = P_ID.%s\nmember = %s\n"
           "stream = sc-test-* create,push,pull,index\n[identity alice]\nidentifier = %s\n"
           "admin = status\n",
           alice, bob, alice);
  write_file(acl, text);
  tu_proc hubp, resp, init;
  char bound[64];
  const char *extra[] = {"--acl", acl, NULL};
  assert_int_equal(tu_start_hub(&hubp, 0, "lmdb", data, extra, bound, sizeof bound), 0);
  snprintf(cmd, sizeof cmd, "exec '%s' '%s' --identity-dir '%s' --trust %s --hub-identity %s 2>&1",
           RESPONDER, bound, bob_dir, alice, hub_id);
  spawn_sh(&resp, cmd);
  char line[512], want[256];
  snprintf(want, sizeof want, "Identity channel with the hub P_ID.%s established", hub_id);
  assert_int_equal(tu_expect_line(&resp, want, line, sizeof line, 30000), 0);
  assert_int_equal(tu_expect_line(&resp, "listening", NULL, 0, 20000), 0);
  snprintf(cmd, sizeof cmd, "exec '%s' '%s' --identity-dir '%s' --trust %s --hub-identity %s 2>&1",
           INITIATOR, bound, alice_dir, bob, hub_id);
  spawn_sh(&init, cmd);
  assert_int_equal(tu_expect_line(&init, want, line, sizeof line, 30000), 0);
  assert_int_equal(tu_expect_line(&init, REPLY, line, sizeof line, 90000), 0);
  snprintf(want, sizeof want, "(from P_ID.%s)", bob);
  assert_non_null(strstr(line, want));
  assert_int_equal(tu_wait(&init, 15000), 0);
  snprintf(want, sizeof want, "echoer: received 'Hello World!' from P_ID.%s", alice);
  assert_int_equal(tu_expect_line(&resp, want, line, sizeof line, 10000), 0);
  /* The status service answers alice (admin = status) through her identity
   * channel to the hub, and refuses an anonymous client. */
  snprintf(cmd, sizeof cmd,
           "out=$('%s' stream ls --hub '%s' --hub-identity %s --identity '%s/identity' --json "
           "2>&1); rc=$?; printf '%%s\\n' \"$out\" | tr -d '\\n'; echo; exit $rc",
           OCKAM_BIN, bound, hub_id, alice_dir);
  char doc[16384];
  assert_int_equal(run_line(cmd, doc, sizeof doc), 0);
  assert_non_null(strstr(doc, "\"sc-test-a-b\""));
  /* ockam stream push and sub as alice: their stream clients open the hub
   * channel from their options. */
  snprintf(cmd, sizeof cmd,
           "exec '%s' stream push --hub '%s' --hub-identity %s --identity '%s/identity' "
           "sc-test-cli 'via the cli' 2>&1",
           OCKAM_BIN, bound, hub_id, alice_dir);
  assert_int_equal(run_line(cmd, line, sizeof line), 0);
  assert_non_null(strstr(line, "pushed 1 message"));
  snprintf(cmd, sizeof cmd,
           "exec '%s' stream sub --hub '%s' --hub-identity %s --identity '%s/identity' "
           "--client-id cli-reader sc-test-cli 2>&1",
           OCKAM_BIN, bound, hub_id, alice_dir);
  assert_int_equal(run_line(cmd, line, sizeof line), 0);
  assert_string_equal(line, "via the cli");
  /* The wrong hub identifier (bob's): the channel is refused and the
   * command says so. */
  snprintf(cmd, sizeof cmd,
           "out=$('%s' stream push --hub '%s' --hub-identity %s --identity '%s/identity' "
           "--timeout 3s sc-test-cli never 2>&1); rc=$?; "
           "printf '%%s\\n' \"$out\" | grep '^ockam stream push: '; exit $rc",
           OCKAM_BIN, bound, bob, alice_dir);
  assert_int_equal(run_line(cmd, line, sizeof line), 1);
  assert_string_equal(line,
                      "ockam stream push: identity channel to the hub: peer refused by trust "
                      "policy");
  snprintf(cmd, sizeof cmd, "exec '%s' hub status --hub '%s' 2>&1", OCKAM_BIN, bound);
  assert_int_equal(run_line(cmd, line, sizeof line), 1);
  assert_non_null(strstr(line, DENIED));
  assert_int_equal(tu_term(&resp), 0);
  assert_int_equal(tu_term(&hubp), 0);
  /* The hub stored the handshake and the messages (their routes name the
   * listener) but only ciphertext of the application's payload. */
  snprintf(path, sizeof path, "%s/data.mdb", data);
  assert_true(file_has(path, "secure_channel_listener"));
  assert_false(file_has(path, "Hello World!"));
  tu_rmrf(dir);
  free(dir);
}

/* ---- refusals ------------------------------------------------------------------------ */

static void test_no_rights_denied(void **state) {
  (void)state;
  client alice, eve, anon;
  client_new(&alice);
  client_new(&eve);
  client_new(&anon);
  char text[1024];
  snprintf(text, sizeof text,
           "[hub]\nanonymous = deny\n[identity alice]\nidentifier = %s\nstream = d-* all\n"
           "forward = register\n",
           alice.id);
  hub h;
  hub_start(&h, text);
  client_connect(&alice, &h, h.id);
  client_connect(&eve, &h, h.id);
  client_connect(&anon, &h, NULL);
  ockam_route *worker = create_ok(&alice, "d-1");
  assert_int_equal(push_status(&alice, worker, 1, 10), OCKAMI_SP_STATUS_OK);
  /* Eve proved her identity, but the ACL gives her nothing. */
  assert_denied(create(&eve, "d-1"));
  assert_denied(push(&eve, worker, 2, 10));
  assert_denied(pull(&eve, worker));
  assert_denied(index_get(&eve, "eve", "d-1"));
  assert_denied(index_save_reply(&eve, "eve", "d-1", 1));
  assert_denied(register_forwarder(&eve));
  assert_denied(delete_stream(&eve, "d-1"));
  /* Anonymous clients: denied by the [hub] decision. */
  assert_denied(create(&anon, "d-1"));
  assert_denied(push(&anon, worker, 3, 10));
  assert_denied(pull(&anon, worker));
  assert_denied(register_forwarder(&anon));
  /* Alice may: her forwarder registration is answered with its address. */
  ockam_message *m = register_forwarder(&alice);
  assert_non_null(m);
  assert_int_equal(ockam_route_len(ockam_message_return(m)), 2);
  ockam_message_free(m);
  m = pull(&alice, worker);
  assert_non_null(m);
  assert_int_equal(reply_kind(m, NULL, 0), OCKAMI_SP_PULL_RESPONSE);
  ockam_message_free(m);
  /* ... and delete her stream. */
  m = delete_stream(&alice, "d-1");
  assert_non_null(m);
  assert_int_equal(reply_kind(m, NULL, 0), OCKAMI_SP_DELETED);
  ockam_message_free(m);
  ockam_route_free(worker);
  client_free(&alice);
  client_free(&eve);
  client_free(&anon);
  hub_stop(&h);
}

static void test_index_belongs_to_identity(void **state) {
  (void)state;
  client alice, bob;
  client_new(&alice);
  client_new(&bob);
  char text[1024];
  snprintf(text, sizeof text, "[group both]\nmember = %s\nmember = %s\nstream = i-* all\n",
           alice.id, bob.id);
  hub h;
  hub_start(&h, text);
  client_connect(&alice, &h, h.id);
  client_connect(&bob, &h, h.id);
  ockam_route *worker = create_ok(&alice, "i-1");
  for (uint64_t i = 0; i < 4; i++)
    assert_int_equal(push_status(&alice, worker, i + 1, 8), OCKAMI_SP_STATUS_OK);
  index_save(&alice, "consumer", "i-1", 2);
  assert_int_equal(index_of(&alice, "consumer", "i-1"), 2);
  /* Same client id, other identity: its own (empty) index. */
  assert_int_equal(index_of(&bob, "consumer", "i-1"), -1);
  index_save(&bob, "consumer", "i-1", 4);
  assert_int_equal(index_of(&bob, "consumer", "i-1"), 4);
  /* Bob did not move Alice's. */
  assert_int_equal(index_of(&alice, "consumer", "i-1"), 2);
  ockam_route_free(worker);
  client_free(&alice);
  client_free(&bob);
  hub_stop(&h);
}

static void test_quotas(void **state) {
  (void)state;
  client greedy, other, fast;
  client_new(&greedy);
  client_new(&other);
  client_new(&fast);
  char text[2048];
  snprintf(text, sizeof text,
           "[authenticated]\nstream = q-* all\n"
           "[identity greedy]\nidentifier = %s\nquota_streams = 2\nquota_bytes = 100\n"
           "[identity fast]\nidentifier = %s\nquota_push_rate = 2\n",
           greedy.id, fast.id);
  hub h;
  hub_start(&h, text);
  client_connect(&greedy, &h, h.id);
  client_connect(&other, &h, h.id);
  client_connect(&fast, &h, h.id);
  ockam_route *w1 = create_ok(&greedy, "q-1");
  ockam_route *w2 = create_ok(&greedy, "q-2");
  /* A third stream is over the greedy identity's quota ... */
  ockam_message *m = create(&greedy, "q-3");
  assert_non_null(m);
  char reason[128];
  assert_int_equal(reply_kind(m, reason, sizeof reason), OCKAMI_SP_ERROR);
  assert_string_equal(reason, QUOTA);
  ockam_message_free(m);
  /* ... re-creating an existing one is not a new stream ... */
  ockam_route_free(create_ok(&greedy, "q-1"));
  /* ... and the others go on. */
  ockam_route *w3 = create_ok(&other, "q-3");
  /* Stored bytes: 60 fit in 100, 60 more do not. */
  assert_int_equal(push_status(&greedy, w1, 1, 60), OCKAMI_SP_STATUS_OK);
  assert_int_equal(push_status(&greedy, w1, 2, 60), OCKAMI_SP_STATUS_ERROR);
  assert_int_equal(push_status(&greedy, w2, 3, 30), OCKAMI_SP_STATUS_OK);
  for (uint64_t i = 0; i < 5; i++)
    assert_int_equal(push_status(&other, w1, 10 + i, 60), OCKAMI_SP_STATUS_OK);
  /* Push rate 2/s: a burst of 6 is cut, then it refills. */
  int refused = 0;
  for (uint64_t i = 0; i < 6; i++)
    refused += push_status(&fast, w3, 20 + i, 10) == OCKAMI_SP_STATUS_ERROR;
  assert_true(refused >= 1);
  usleep(1500 * 1000);
  assert_int_equal(push_status(&fast, w3, 30, 10), OCKAMI_SP_STATUS_OK);
  /* Deleting a stream gives back what it was charged: its creator's stream
   * count and the bytes each identity pushed into it. */
  m = delete_stream(&greedy, "q-2");
  assert_non_null(m);
  assert_int_equal(reply_kind(m, NULL, 0), OCKAMI_SP_DELETED);
  ockam_message_free(m);
  ockam_route *w4 = create_ok(&greedy, "q-4"); /* 2 streams again */
  m = create(&greedy, "q-5");
  assert_non_null(m);
  assert_int_equal(reply_kind(m, reason, sizeof reason), OCKAMI_SP_ERROR);
  assert_string_equal(reason, QUOTA);
  ockam_message_free(m);
  assert_int_equal(push_status(&greedy, w1, 4, 40), OCKAMI_SP_STATUS_OK); /* 60 + 40 */
  assert_int_equal(push_status(&greedy, w4, 5, 10), OCKAMI_SP_STATUS_ERROR);
  m = delete_stream(&greedy, "q-1");
  assert_non_null(m);
  assert_int_equal(reply_kind(m, NULL, 0), OCKAMI_SP_DELETED);
  ockam_message_free(m);
  assert_int_equal(push_status(&greedy, w4, 6, 100), OCKAMI_SP_STATUS_OK);
  ockam_route_free(w4);
  ockam_route_free(w1);
  ockam_route_free(w2);
  ockam_route_free(w3);
  client_free(&greedy);
  client_free(&other);
  client_free(&fast);
  hub_stop(&h);
}

/* Create until the reply is Init (the reload took effect) or time runs out. */
static bool create_until_allowed(client *c, const char *name) {
  uint64_t end = tu_now_ms() + WAIT_MS;
  while (tu_now_ms() < end) {
    ockam_message *m = create(c, name);
    if (!m) return false;
    ockami_sp_kind k = reply_kind(m, NULL, 0);
    ockam_message_free(m);
    if (k == OCKAMI_SP_INIT) return true;
    usleep(100 * 1000);
  }
  return false;
}

static void test_reload(void **state) {
  (void)state;
  client carol, dave;
  client_new(&carol);
  client_new(&dave);
  char text[2048];
  snprintf(text, sizeof text, "[identity carol]\nidentifier = %s\nstream = old-* all\n", carol.id);
  hub h;
  hub_start(&h, text);
  client_connect(&carol, &h, h.id);
  client_connect(&dave, &h, h.id);
  ockam_route_free(create_ok(&carol, "old-1"));
  assert_denied(create(&carol, "new-1"));
  /* New rights, reloaded on SIGHUP: the same channel (and connection) now may. */
  snprintf(text, sizeof text,
           "[identity carol]\nidentifier = %s\nstream = old-* all\nstream = new-* create\n",
           carol.id);
  write_file(h.acl, text);
  assert_int_equal(kill(h.proc.pid, SIGHUP), 0);
  assert_true(create_until_allowed(&carol, "new-1"));
  /* A malformed file is refused by --check and by the hub: the old ACL stays. */
  write_file(h.acl, "[identity carol]\nidentifier = nope\nstream = * all\n");
  char cmd[1024], line[512];
  snprintf(cmd, sizeof cmd, "exec '%s' hub --check --acl '%s' 2>&1", OCKAM_BIN, h.acl);
  assert_int_equal(run_line(cmd, line, sizeof line), 1);
  assert_non_null(strstr(line, "line 2"));
  assert_int_equal(kill(h.proc.pid, SIGHUP), 0);
  usleep(500 * 1000);
  ockam_route_free(create_ok(&carol, "new-2"));
  assert_denied(create(&carol, "other"));
  assert_denied(create(&dave, "new-3"));
  client_free(&carol);
  client_free(&dave);
  hub_stop(&h);
}

/* ---- the stream client's own hub channel (ockam_stream_options) ------------------------ */

static bool never(void *arg) {
  (void)arg;
  return false;
}

/* Run c's loop for ms milliseconds. */
static void run_for(client *c, int64_t ms) {
  assert_int_equal(ockam_node_run_until(c->node, ms, never, NULL), OCKAM_ETIMEDOUT);
}

/* A stream pair whose client opens the identity channel itself, to the hub
 * at `at` (the hub's address, or a proxy's in front of it). */
static ockam_stream *options_stream_at(client *c, const char *at, const char *hub_id,
                                       const char *out, const char *in) {
  assert_int_equal(ockam_node_create(&c->node), 0);
  assert_int_equal(ockam_tcp_create(c->node, NULL, &c->tcp), 0);
  assert_int_equal(ockam_mailbox_create(c->node, "app", &c->mb), 0);
  assert_int_equal(ockam_tcp_connect(c->tcp, at, 0), 0);
  snprintf(c->hub_hop, sizeof c->hub_hop, "1#%s", at);
  ockam_route *r;
  assert_int_equal(ockam_route_parse(c->hub_hop, &r), 0);
  ockam_stream_options o = {.identity = c->identity,
                            .hub_identifier = hub_id,
                            .retry_ms = 300,
                            .long_poll_ms = 1000,
                            .hub_channel_timeout_ms = 5000};
  ockam_stream *s = NULL;
  assert_int_equal(ockam_stream_connect(c->node, r, out, in, &o, &s), 0);
  ockam_route_free(r);
  assert_int_equal(ockam_stream_allow(s, "app"), 0);
  return s;
}

static ockam_stream *options_stream(client *c, const hub *h, const char *hub_id, const char *out,
                                    const char *in) {
  return options_stream_at(c, h->bound, hub_id, out, in);
}

static void send_via(client *c, ockam_stream *s, const char *text) {
  ockam_route *r;
  assert_int_equal(ockam_route_new(&r), 0);
  assert_int_equal(ockam_route_append_str(r, ockam_stream_tx_address(s)), 0);
  assert_int_equal(ockam_route_append_str(r, "app"), 0);
  assert_int_equal(ockam_send_string(c->node, "app", r, text), 0);
  ockam_route_free(r);
}

/* text sent on `from`'s stream s is confirmed stored within flush_ms and
 * reaches `to`'s mailbox. */
static void relayed(client *from, ockam_stream *s, client *to, const char *text, int64_t flush_ms) {
  send_via(from, s, text);
  assert_int_equal(ockam_stream_flush(s, flush_ms), 0);
  char buf[64];
  size_t len;
  assert_int_equal(ockam_mailbox_receive_string(to->mb, WAIT_MS, buf, sizeof buf, &len), 0);
  assert_string_equal(buf, text);
}

/* The hub loses the connection under Alice's channel while Alice's own
 * connection stays up (a proxy in between opens a new one to the hub): the
 * hub no longer answers through that channel, nothing tells Alice's
 * transport, and her client opens a new channel over the same connection,
 * creates its streams again and delivers what she sends next. */
static void test_hub_silent_connection_up(void **state) {
  (void)state;
  client alice, bob;
  client_new(&alice);
  client_new(&bob);
  char text[1024];
  snprintf(text, sizeof text,
           "[hub]\nanonymous = deny\n[group pair]\nmember = %s\nmember = %s\nstream = s-* all\n",
           alice.id, bob.id);
  hub h;
  hub_start(&h, text);
  char via[64];
  tu_proxy *proxy = tu_proxy_start(h.bound, NULL, via, sizeof via);
  assert_non_null(proxy);
  ockam_stream *sa = options_stream_at(&alice, via, h.id, "s-ab", "s-ba");
  ockam_stream *sb = options_stream(&bob, &h, h.id, "s-ba", "s-ab");
  assert_int_equal(ockam_stream_wait_ready(sa, WAIT_MS), 0);
  assert_int_equal(ockam_stream_wait_ready(sb, WAIT_MS), 0);
  relayed(&alice, sa, &bob, "before", WAIT_MS);
  run_for(&alice, 300); /* idle: no frame is cut in half below */
  tu_proxy_cut_upstream(proxy);
  relayed(&alice, sa, &bob, "after", 60000);
  ockam_stream_stats st;
  ockam_stream_get_stats(sa, &st);
  assert_true(st.hub_channel_up);
  assert_true(st.hub_channels >= 2);
  /* Alice's connection never dropped: the new channel went over it. */
  ockam_tcp_stats ts;
  ockam_tcp_get_stats(alice.tcp, &ts);
  assert_int_equal(ts.reconnects, 0);
  assert_int_equal(tu_proxy_cuts(proxy), 1);
  ockam_stream_close(sa);
  ockam_stream_close(sb);
  client_free(&alice);
  client_free(&bob);
  tu_proxy_stop(proxy);
  hub_stop(&h);
}

/* Two nodes exchange messages over a stream pair through a hub whose ACL
 * gives the pair's streams to both identities only; the clients open their
 * hub channels from the options. A third identity gets only refusals. */
static void test_stream_options_channel(void **state) {
  (void)state;
  client alice, bob, eve;
  client_new(&alice);
  client_new(&bob);
  client_new(&eve);
  char text[1024];
  snprintf(text, sizeof text,
           "[hub]\nanonymous = deny\n[group pair]\nmember = %s\nmember = %s\nstream = o-* all\n",
           alice.id, bob.id);
  hub h;
  hub_start(&h, text);
  ockam_stream *sa = options_stream(&alice, &h, h.id, "o-ab", "o-ba");
  ockam_stream *sb = options_stream(&bob, &h, h.id, "o-ba", "o-ab");
  assert_int_equal(ockam_stream_wait_ready(sa, WAIT_MS), 0);
  assert_int_equal(ockam_stream_wait_ready(sb, WAIT_MS), 0);
  relayed(&alice, sa, &bob, "Hello World!", WAIT_MS);
  ockam_stream_stats st;
  ockam_stream_get_stats(sa, &st);
  assert_true(st.hub_channel_up);
  assert_int_equal(st.hub_channels, 1);
  assert_int_equal(st.errors, 0);
  /* Eve proves her identity, but the ACL gives her nothing: every create is
   * refused ("Permission denied" is counted as an error) and nothing of
   * hers is stored. */
  ockam_stream *se = options_stream(&eve, &h, h.id, "o-ab", "o-ba");
  assert_int_equal(ockam_stream_wait_ready(se, 3000), OCKAM_ETIMEDOUT);
  ockam_stream_get_stats(se, &st);
  assert_true(st.hub_channel_up);
  assert_true(st.errors > 0);
  send_via(&eve, se, "from eve");
  run_for(&eve, 1000);
  ockam_stream_get_stats(se, &st);
  assert_int_equal(st.confirmed, 0);
  relayed(&alice, sa, &bob, "again", WAIT_MS);
  ockam_stream_close(se);
  ockam_stream_close(sa);
  ockam_stream_close(sb);
  client_free(&eve);
  client_free(&alice);
  client_free(&bob);
  hub_stop(&h);
}

/* A client pinning another identifier than the hub's never gets a channel:
 * wait_ready says why, the failures are counted, and no request reaches the
 * hub in plaintext (this hub would take anything from anyone). */
static void test_stream_options_wrong_hub(void **state) {
  (void)state;
  client c, other, reader;
  client_new(&c);
  client_new(&other);
  client_new(&reader);
  hub h;
  hub_start(&h, "[hub]\nanonymous = allow\n");
  ockam_stream *s = options_stream(&c, &h, other.id, "w-out", "w-in");
  assert_int_equal(ockam_stream_wait_ready(s, WAIT_MS), OCKAM_EUNTRUSTED);
  for (int i = 0; i < 5; i++) send_via(&c, s, "must not leave");
  run_for(&c, 3000);
  ockam_stream_stats st;
  ockam_stream_get_stats(s, &st);
  assert_false(st.hub_channel_up);
  assert_int_equal(st.hub_channels, 0);
  assert_true(st.hub_channel_failures >= 1);
  assert_int_equal(st.hub_channel_error, OCKAM_EUNTRUSTED);
  assert_int_equal(st.confirmed, 0);
  assert_int_equal(st.pushed, 5);
  /* An anonymous reader of the stream finds nothing in it. */
  client_connect(&reader, &h, NULL);
  ockam_route *r;
  assert_int_equal(ockam_route_parse(reader.hub_hop, &r), 0);
  ockam_stream *rs = NULL;
  ockam_stream_options ro = {.retry_ms = 300, .long_poll_ms = 500};
  assert_int_equal(ockam_stream_connect(reader.node, r, NULL, "w-out", &ro, &rs), 0);
  ockam_route_free(r);
  assert_int_equal(ockam_stream_wait_ready(rs, WAIT_MS), 0);
  run_for(&reader, 1500);
  ockam_stream_get_stats(rs, &st);
  assert_int_equal(st.pulled, 0);
  /* ... and the client's other stream was never created (the reader made
   * w-out; a create that left in plaintext would have made w-in). */
  char cmd[1024], doc[16384];
  snprintf(cmd, sizeof cmd,
           "out=$('%s' stream ls --hub '%s' --json 2>&1); rc=$?; printf '%%s\\n' \"$out\" | "
           "tr -d '\\n'; echo; exit $rc",
           OCKAM_BIN, h.bound);
  assert_int_equal(run_line(cmd, doc, sizeof doc), 0);
  assert_non_null(strstr(doc, "\"w-out\""));
  assert_null(strstr(doc, "\"w-in\""));
  ockam_stream_close(rs);
  ockam_stream_close(s);
  client_free(&reader);
  client_free(&c);
  client_free(&other);
  hub_stop(&h);
}

/* ---- forwarder registration through the hub channel -------------------------------- */

/* ockam_forwarder_register() along [channel]: the ACL gives `register` to
 * Alice, not to Bob, whose registration is refused ("Permission denied",
 * which the forwarder API reports as OCKAM_EPROTO). Messages sent to Alice's
 * forwarder reach her through her channel. */
static void test_forwarder_register_acl(void **state) {
  (void)state;
  client alice, bob;
  client_new(&alice);
  client_new(&bob);
  char text[1024];
  snprintf(text, sizeof text,
           "[hub]\nanonymous = deny\n[identity alice]\nidentifier = %s\nforward = register\n"
           "[identity bob]\nidentifier = %s\nstream = * all\n",
           alice.id, bob.id);
  hub h;
  hub_start(&h, text);
  client_connect(&alice, &h, h.id);
  client_connect(&bob, &h, h.id);
  ockam_route *ra, *rb;
  assert_int_equal(ockam_route_parse(alice.channel, &ra), 0);
  assert_int_equal(ockam_route_parse(bob.channel, &rb), 0);
  char remote[OCKAM_FORWARDER_ADDRESS_CAP], none[OCKAM_FORWARDER_ADDRESS_CAP];
  ockam_forwarder *fa = NULL, *fb = NULL;
  assert_int_equal(
      ockam_forwarder_register(alice.node, ra, "app", WAIT_MS, remote, sizeof remote, &fa), 0);
  assert_true(strlen(remote) > 0);
  assert_int_equal(ockam_forwarder_register(bob.node, rb, "app", WAIT_MS, none, sizeof none, &fb),
                   OCKAM_EPROTO);
  assert_null(fb);
  /* Bob reaches Alice's forwarder through his own channel to the hub. */
  ockam_route *to;
  assert_int_equal(ockam_route_new(&to), 0);
  assert_int_equal(ockam_route_append_str(to, bob.channel), 0);
  assert_int_equal(ockam_route_append(to, OCKAM_ADDRESS_LOCAL, remote, strlen(remote)), 0);
  assert_int_equal(ockam_send_string(bob.node, "app", to, "via forwarder"), 0);
  ockam_route_free(to);
  run_for(&bob, 200);
  char buf[64];
  size_t len;
  assert_int_equal(ockam_mailbox_receive_string(alice.mb, WAIT_MS, buf, sizeof buf, &len), 0);
  assert_string_equal(buf, "via forwarder");
  ockam_forwarder_close(fa);
  ockam_route_free(ra);
  ockam_route_free(rb);
  client_free(&alice);
  client_free(&bob);
  hub_stop(&h);
}

static void test_non_loopback_needs_decision(void **state) {
  (void)state;
  char cmd[1024], line[1024];
  int port = tu_free_port();
  snprintf(cmd, sizeof cmd, "exec '%s' hub --store memory --listen 0.0.0.0:%d 2>&1", OCKAM_BIN,
           port);
  assert_int_equal(run_line(cmd, line, sizeof line), 1);
  assert_non_null(strstr(line, "refusing to listen on 0.0.0.0"));
  assert_non_null(strstr(line, "--anonymous allow, --anonymous deny, or an ACL with --acl FILE"));
  /* Loopback needs no decision (the guide's default): --check says so. */
  snprintf(cmd, sizeof cmd, "exec '%s' hub --store memory --listen 127.0.0.1:%d --check 2>&1",
           OCKAM_BIN, port);
  assert_int_equal(run_line(cmd, line, sizeof line), 0);
  snprintf(cmd, sizeof cmd,
           "exec '%s' hub --store memory --listen 0.0.0.0:%d --anonymous deny --check 2>&1",
           OCKAM_BIN, port);
  assert_int_equal(run_line(cmd, line, sizeof line), 0);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_non_loopback_needs_decision),
      cmocka_unit_test(test_no_rights_denied),
      cmocka_unit_test(test_index_belongs_to_identity),
      cmocka_unit_test(test_quotas),
      cmocka_unit_test(test_reload),
      cmocka_unit_test(test_authenticated_guide),
      cmocka_unit_test(test_stream_options_channel),
      cmocka_unit_test(test_hub_silent_connection_up),
      cmocka_unit_test(test_stream_options_wrong_hub),
      cmocka_unit_test(test_forwarder_register_acl),
  };
  signal(SIGPIPE, SIG_IGN);
  return cmocka_run_group_tests(tests, NULL, NULL);
}
