/* Shared support for the unit tests (library ockam_test_support, linked into
 * every ockam_unit_test): the vault fixture and the readers of the vector
 * files in tests/vectors. Include after <cmocka.h>. */
#ifndef OCKAM_TEST_SUPPORT_H
#define OCKAM_TEST_SUPPORT_H

#include <stddef.h>
#include <stdint.h>

/* cmocka fixture: *state = a fresh "software" vault. The teardown fails the
 * test if any secret is left in it, then destroys it. */
int ts_vault_setup(void **state);
int ts_vault_teardown(void **state);

/* The whole vector file tests/vectors/<name> (directory: $OCKAM_TEST_VECTORS,
 * else the source tree's), NUL-terminated; free() it. NULL if unreadable. */
char *ts_vector_file(const char *name);

/* A block of the Markdown vector file: the heading line starting with
 * "### <prefix>", then the first "len=N" line after it, then N bytes as hex
 * on lines indented by two spaces. Returns the bytes (free() them) and their
 * count in *len; NULL when the block is missing or its length is not N. */
uint8_t *ts_vector_block(const char *md, const char *prefix, size_t *len);

/* The value of the first line at or after `from` that reads "<key> = <hex>"
 * (key after the line's indentation): hex digits, spaces skipped, continued on
 * following lines that are indented; stops at anything else (a comment).
 * Returns the byte count, or -1 when there is no such line or it is over cap. */
long ts_vector_field(const char *from, const char *key, uint8_t *out, size_t cap);

/* The next `"<key>": "<hex>"` of a JSON vector file at or after *cursor:
 * decodes the hex into out and moves *cursor past it. Returns the byte
 * count, or -1 when there is none, the hex is malformed or over cap. */
long ts_json_hex(const char **cursor, const char *key, uint8_t *out, size_t cap);

/* A blocking TCP connection to "127.0.0.1:port" given as "ip:port" (the
 * port is what counts): the socket, or -1 when the connection is refused. */
int ts_dial(const char *ip_port);

/* Runs the cmocka group `tests`, logging errors only unless OCKAM_LOG says
 * otherwise. */
#define TS_RUN_TESTS(tests) ts_run_tests(#tests, tests, sizeof tests / sizeof tests[0])
struct CMUnitTest;
int ts_run_tests(const char *name, const struct CMUnitTest *tests, size_t n);

#endif
