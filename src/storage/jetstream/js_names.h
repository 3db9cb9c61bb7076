/* The pure parts of the jetstream backend: how an Ockam stream name maps to
 * JetStream names, the escaping of descriptions and index keys, and the
 * parsers of what the server sends back (reply subjects, PubAck JSON, index
 * values). No I/O; unit-tested in js_names_test.c and fuzzed by
 * fuzz/fuzz_jetstream.c. */
#ifndef OCKAMI_STORAGE_JS_NAMES_H
#define OCKAMI_STORAGE_JS_NAMES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ockam/limits.h"

#define JS_DIGEST_LEN 16
#define JS_TOKEN_LEN (2 * JS_DIGEST_LEN)
#define JS_STREAM_PREFIX "OCKAM_"
#define JS_SUBJECT_PREFIX "ockam.s."
#define JS_DESC_PREFIX "ockam stream "
#define JS_INDEX_BUCKET "OCKAM_INDEX"
/* Room for a description: the prefix, every name byte as %XX, a NUL. */
#define JS_DESC_MAX (sizeof JS_DESC_PREFIX + 3 * OCKAM_NAME_MAX)
/* Room for an index key: two escaped names, the '.', a NUL. */
#define JS_KEY_MAX (2 * 3 * OCKAM_NAME_MAX + 2)
/* Room for one escaped name and a NUL. */
#define JS_KEY_PART_MAX (3 * OCKAM_NAME_MAX + 1)

/* Names of one Ockam stream in JetStream. */
typedef struct js_names {
  uint8_t digest[JS_DIGEST_LEN];                         /* first 16 bytes of SHA-256(name) */
  char stream[sizeof JS_STREAM_PREFIX + JS_TOKEN_LEN];   /* OCKAM_<hex digest> */
  char subject[sizeof JS_SUBJECT_PREFIX + JS_TOKEN_LEN]; /* ockam.s.<hex digest> */
} js_names;

void ockami_js_names_make(const char *name, size_t len, js_names *nm);
/* True for names this backend creates: OCKAM_ + 32 lowercase hex digits. */
bool ockami_js_is_ockam_stream(const char *name);

/* Description "ockam stream " + NAME with every byte outside printable ASCII,
 * and ' ', '%', '"', '\', written as %XX; out holds JS_DESC_MAX bytes. */
void ockami_js_description(const char *name, size_t len, char *out);
/* The inverse: the name of a description made by ockami_js_description, into
 * name (OCKAM_NAME_MAX bytes). False for anything else. */
bool ockami_js_description_name(const char *desc, uint8_t *name, size_t *len);

/* KV key part: [A-Za-z0-9_-] kept, every other byte as =XX (KV keys allow
 * [-/_=.A-Za-z0-9]; '.' separates tokens). out holds 3 * len bytes; returns
 * the length written (no NUL). */
size_t ockami_js_key_escape(const char *s, size_t len, char *out);
/* "<client>.<stream>", both escaped, NUL-terminated, into JS_KEY_MAX bytes. */
void ockami_js_index_key(const char *client, size_t client_len, const char *stream,
                         size_t stream_len, char *key);

/* Parses "<inbox>.<gen>.<k>" (two decimal u64). */
bool ockami_js_reply_parse(const char *inbox, size_t inbox_len, const char *subj, uint64_t *gen,
                           uint64_t *k);

/* A decimal u64 of exactly len bytes (1..20 digits, nothing else). */
bool ockami_js_parse_u64(const char *s, size_t len, uint64_t *v);

/* A publish acknowledgement: {"stream":"S","seq":N[,"duplicate":true]} or
 * {"error":{"code":C,"err_code":E,"description":"..."}}. */
typedef struct js_puback {
  bool error;
  uint64_t seq;      /* > 0 when !error */
  uint64_t err_code; /* JetStream's err_code when error (0 if absent) */
} js_puback;

/* False for anything that is not a well-formed acknowledgement. Reads only
 * p[0..len). */
bool ockami_js_parse_puback(const char *p, size_t len, js_puback *out);

#endif
