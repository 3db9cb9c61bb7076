/* The ACL file: parsing, errors with their line, rights, groups, patterns,
 * anonymous decisions, quotas and the identity-keyed index. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "acl.h"
#include "ockam/node.h"

#define ALICE "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
#define BOB "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
#define CAROL "cccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc"

static const char good[] =
    "# the guide's two nodes and an operator\n"
    "[hub]\n"
    "anonymous = deny\n"
    "[group guide]\n"
    "member = P_ID." ALICE
    "\n"
    "member = " BOB
    "\n"
    "stream = sc-test-* create,push,pull,index\n"
    "forward = register\n"
    "quota_streams = 4\n"
    "[identity carol]\n"
    "identifier = " CAROL
    "\n"
    "admin = status, delete\n"
    "stream = logs-? pull\n"
    "[identity alice]\n"
    "identifier = P" ALICE
    "\n"
    "quota_streams = 10 ; her own\n"
    "quota_bytes = 1KiB\n"
    "[authenticated]\n"
    "stream = public pull\n"
    "quota_push_rate = 5\n";

static ockami_acl *parse_ok(const char *text) {
  ockami_acl *acl = NULL;
  char err[256];
  int rc = ockami_acl_parse(text, strlen(text), &acl, err, sizeof err);
  if (rc) fprintf(stderr, "unexpected: %s\n", err);
  assert_int_equal(rc, OCKAM_OK);
  assert_non_null(acl);
  return acl;
}

static bool allows(const ockami_acl *acl, const char *id, unsigned right, const char *name) {
  return ockami_acl_allows(acl, id, right, name, name ? strlen(name) : 0);
}

static void test_rights(void **state) {
  (void)state;
  ockami_acl *acl = parse_ok(good);
  assert_int_equal(ockami_acl_anonymous(acl), OCKAMI_ANON_DENY);
  /* Group members, either identifier form. */
  assert_true(allows(acl, ALICE, OCKAMI_ACL_PUSH, "sc-test-a-b"));
  assert_true(allows(acl, BOB, OCKAMI_ACL_INDEX, "sc-test-b-a"));
  assert_false(allows(acl, BOB, OCKAMI_ACL_DELETE, "sc-test-b-a"));
  assert_false(allows(acl, BOB, OCKAMI_ACL_PUSH, "other"));
  assert_true(allows(acl, BOB, OCKAMI_ACL_REGISTER, NULL));
  /* Not a member. */
  assert_false(allows(acl, CAROL, OCKAMI_ACL_PUSH, "sc-test-a-b"));
  assert_false(allows(acl, CAROL, OCKAMI_ACL_REGISTER, NULL));
  assert_true(allows(acl, CAROL, OCKAMI_ACL_STATUS, NULL));
  assert_true(allows(acl, CAROL, OCKAMI_ACL_ADMIN_DELETE, NULL));
  assert_true(allows(acl, CAROL, OCKAMI_ACL_PULL, "logs-1"));
  assert_false(allows(acl, CAROL, OCKAMI_ACL_PULL, "logs-12"));
  /* [authenticated]: every identity, never anonymous. */
  assert_true(allows(acl, CAROL, OCKAMI_ACL_PULL, "public"));
  assert_false(allows(acl, NULL, OCKAMI_ACL_PULL, "public"));
  assert_false(allows(acl, NULL, OCKAMI_ACL_CREATE, "sc-test-a-b"));
  /* A name with a NUL byte matches only "*". */
  assert_false(ockami_acl_allows(acl, ALICE, OCKAMI_ACL_PUSH, "sc-test-\0x", 10));
  ockami_acl_free(acl);
}

static void test_quotas(void **state) {
  (void)state;
  ockami_acl *acl = parse_ok(good);
  ockami_quota q;
  ockami_acl_quota(acl, ALICE, &q); /* her own section first, then the group, then everyone */
  assert_int_equal(q.streams, 10);
  assert_int_equal(q.bytes, 1024);
  assert_int_equal(q.push_rate, 5);
  ockami_acl_quota(acl, BOB, &q);
  assert_int_equal(q.streams, 4);
  assert_int_equal(q.bytes, 0);
  ockami_acl_quota(acl, NULL, &q);
  assert_int_equal(q.streams + q.bytes + q.push_rate, 0);
  ockami_acl_free(acl);
}

static void expect_error(const char *text, const char *where) {
  ockami_acl *acl = (ockami_acl *)1;
  char err[256] = "";
  int rc = ockami_acl_parse(text, strlen(text), &acl, err, sizeof err);
  if (rc == OCKAM_OK) fprintf(stderr, "accepted: %s\n", text);
  assert_int_not_equal(rc, OCKAM_OK);
  assert_null(acl);
  if (!strstr(err, where)) fprintf(stderr, "error '%s' lacks '%s'\n", err, where);
  assert_non_null(strstr(err, where));
}

static void test_errors(void **state) {
  (void)state;
  expect_error("[identity a]\nidentifier=" ALICE "\nstream = sc-* pusj\n", "line 3");
  expect_error("[identity a]\nidentifier=" ALICE "\nstream = sc-* pusj\n", "pusj");
  expect_error("[identity a]\nidentifier = nope\n", "not an identifier");
  expect_error("[identity a]\nstream = * push\n", "no identifier");
  expect_error("[group a b]\nforward = register\n", "a name");
  expect_error("[hub]\nanonymous = maybe\n", "allow or deny");
  expect_error("[people]\nx = y\n", "unknown section");
  expect_error("stream = * push\n", "outside a section");
  expect_error("[authenticated]\nstream = *\n", "no right");
  expect_error("[authenticated]\ncolour = blue\n", "unknown key");
  expect_error("[anonymous]\nquota_streams = 3\n", "per identity");
  expect_error("[authenticated]\nquota_bytes = lots\n", "not a number");
  expect_error("[identity a]\nidentifier=" ALICE "\nmember = " BOB "\n", "only in [group");
  expect_error("[group g]\nmember = someone\n", "not an identifier");
  expect_error("[authenticated]\nno delimiter here\n", "line 2");
  /* An empty file is a valid ACL that gives nothing. */
  ockami_acl *acl = parse_ok("");
  assert_false(allows(acl, ALICE, OCKAMI_ACL_PULL, "x"));
  ockami_acl_free(acl);
}

static void test_anonymous_decision(void **state) {
  (void)state;
  ockami_authz az;
  /* No ACL, no decision: only on loopback. */
  assert_int_equal(ockami_authz_init(&az, NULL, NULL, OCKAMI_ANON_UNSET, false), OCKAM_EINVAL);
  ockami_authz_free(&az);
  assert_int_equal(ockami_authz_init(&az, NULL, NULL, OCKAMI_ANON_UNSET, true), OCKAM_OK);
  assert_true(ockami_authz_check(&az, NULL, OCKAMI_ACL_PUSH, "x", 1, "test"));
  assert_true(ockami_authz_check(&az, ALICE, OCKAMI_ACL_PUSH, "x", 1, "test"));
  ockami_authz_free(&az);
  assert_int_equal(ockami_authz_init(&az, NULL, NULL, OCKAMI_ANON_DENY, true), OCKAM_OK);
  assert_false(ockami_authz_check(&az, NULL, OCKAMI_ACL_PULL, "x", 1, "test"));
  assert_true(ockami_authz_check(&az, ALICE, OCKAMI_ACL_PULL, "x", 1, "test"));
  assert_int_equal(az.stats.denied, 1);
  ockami_authz_free(&az);
  /* An ACL without a word on anonymous: its [anonymous] section, here none. */
  assert_int_equal(ockami_authz_init(&az, NULL, parse_ok("[authenticated]\nstream = * pull\n"),
                                     OCKAMI_ANON_UNSET, false),
                   OCKAM_OK);
  assert_false(ockami_authz_check(&az, NULL, OCKAMI_ACL_PULL, "x", 1, "test"));
  assert_true(ockami_authz_check(&az, ALICE, OCKAMI_ACL_PULL, "x", 1, "test"));
  assert_false(ockami_authz_check(&az, ALICE, OCKAMI_ACL_PUSH, "x", 1, "test"));
  /* Replaced: the [anonymous] section gives plain clients pull on pub-*. */
  ockami_authz_replace(&az, parse_ok("[anonymous]\nstream = pub-* pull\n"));
  assert_true(ockami_authz_check(&az, NULL, OCKAMI_ACL_PULL, "pub-1", 5, "test"));
  assert_false(ockami_authz_check(&az, NULL, OCKAMI_ACL_PUSH, "pub-1", 5, "test"));
  assert_false(ockami_authz_check(&az, ALICE, OCKAMI_ACL_PULL, "x", 1, "test"));
  /* allow + [anonymous]: the section still restricts. */
  ockami_authz_replace(&az, parse_ok("[hub]\nanonymous=allow\n[anonymous]\nstream = p pull\n"));
  assert_false(ockami_authz_check(&az, NULL, OCKAMI_ACL_PUSH, "p", 1, "test"));
  /* allow without a section: everything, as in 2021. */
  ockami_authz_replace(&az, parse_ok("[hub]\nanonymous=allow\n"));
  assert_true(ockami_authz_check(&az, NULL, OCKAMI_ACL_PUSH, "p", 1, "test"));
  ockami_authz_free(&az);
}

static void test_charges(void **state) {
  (void)state;
  ockam_node *node;
  assert_int_equal(ockam_node_create(&node), 0);
  ockami_authz az;
  char text[256];
  snprintf(text, sizeof text,
           "[authenticated]\nstream = * all\n[identity a]\nidentifier = %s\n"
           "quota_streams = 1\nquota_bytes = 10\n",
           ALICE);
  assert_int_equal(ockami_authz_init(&az, node, parse_ok(text), OCKAMI_ANON_UNSET, true), 0);
  assert_true(ockami_authz_charge_stream(&az, ALICE, NULL));
  assert_false(ockami_authz_charge_stream(&az, ALICE, NULL));
  assert_true(ockami_authz_charge_push(&az, ALICE, 6, NULL));
  assert_false(ockami_authz_charge_push(&az, ALICE, 6, NULL));
  assert_true(ockami_authz_charge_push(&az, ALICE, 4, NULL));
  assert_false(ockami_authz_charge_push(&az, ALICE, SIZE_MAX, NULL));
  /* Others, and anonymous requests, have no quota here. */
  for (int i = 0; i < 5; i++) {
    assert_true(ockami_authz_charge_stream(&az, BOB, NULL));
    assert_true(ockami_authz_charge_push(&az, BOB, 100, NULL));
    assert_true(ockami_authz_charge_stream(&az, NULL, NULL));
  }
  assert_int_equal(az.stats.over_quota, 3);
  ockami_authz_free(&az);
  /* What a stream was charged is given back when it is deleted; what other
   * streams were charged stays. */
  assert_int_equal(ockami_authz_init(&az, node, parse_ok(text), OCKAMI_ANON_UNSET, true), 0);
  ockami_map s1, s2;
  ockami_map_init(&s1);
  ockami_map_init(&s2);
  assert_true(ockami_authz_charge_stream(&az, ALICE, &s1));
  assert_true(ockami_authz_charge_push(&az, ALICE, 6, &s1));
  assert_true(ockami_authz_charge_push(&az, BOB, 100, &s1)); /* no quota: not noted */
  assert_int_equal(s1.count, 1);
  ockami_authz_give_back(&az, &s1);
  assert_int_equal(s1.count, 0);
  assert_true(ockami_authz_charge_stream(&az, ALICE, &s2));
  assert_true(ockami_authz_charge_push(&az, ALICE, 10, &s2));
  assert_false(ockami_authz_charge_push(&az, ALICE, 1, &s2));
  assert_false(ockami_authz_charge_stream(&az, ALICE, &s2));
  ockami_charges_free(&s2);
  ockami_authz_free(&az);
  ockam_node_destroy(node);
}

static void test_index_key(void **state) {
  (void)state;
  char a[OCKAMI_AUTHZ_INDEX_KEY_LEN], b[OCKAMI_AUTHZ_INDEX_KEY_LEN], c[OCKAMI_AUTHZ_INDEX_KEY_LEN];
  ockami_authz_index_key(ALICE, "client", 6, a);
  ockami_authz_index_key(BOB, "client", 6, b);
  ockami_authz_index_key(ALICE, "client2", 7, c);
  assert_int_equal((uint8_t)a[0], 0xff);
  assert_memory_not_equal(a, b, sizeof a);
  assert_memory_not_equal(a, c, sizeof a);
  ockami_authz_index_key(ALICE, "client", 6, b);
  assert_memory_equal(a, b, sizeof a);
  assert_null(memchr(a, 0, sizeof a));
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_rights),  cmocka_unit_test(test_quotas),
      cmocka_unit_test(test_errors),  cmocka_unit_test(test_anonymous_decision),
      cmocka_unit_test(test_charges), cmocka_unit_test(test_index_key),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
