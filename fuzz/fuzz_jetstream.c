/* The jetstream backend's parsers and encoders (src/storage/jetstream/
 * js_names.c): what a NATS server sends back (PubAck JSON, reply subjects,
 * index values) and the stream descriptions a listing decodes.
 *
 * Every input goes through each of them. The PubAck parser reads a copy of
 * exactly the input's length (ASan catches a read past it); an accepted ack
 * has seq > 0 or is an error. A description that decodes must be the one the
 * encoder writes for that name, and any name (the input, cut to
 * OCKAM_NAME_MAX) must survive encode and decode. A reply subject or index
 * value that parses must parse to the same numbers once written back. The
 * index key of any (client, stream) split of the input holds only the KV key
 * alphabet, one '.', and fits JS_KEY_MAX.
 */
#include <inttypes.h>

#include "fuzz.h"
#include "js_names.h"
#include "ockam/limits.h"

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  fuzz_quiet();
  return 0;
}

static void check_puback(const uint8_t *data, size_t size) {
  char *copy = malloc(size ? size : 1);
  if (size) memcpy(copy, data, size);
  js_puback ack;
  if (ockami_js_parse_puback(copy, size, &ack)) FUZZ_CHECK(ack.error || ack.seq > 0);
  free(copy);
}

static void check_description(const uint8_t *data, size_t size) {
  /* arbitrary text as a description */
  char *text = malloc(size + 1);
  memcpy(text, data, size);
  text[size] = 0;
  uint8_t name[OCKAM_NAME_MAX];
  size_t len = 0;
  if (ockami_js_description_name(text, name, &len)) {
    FUZZ_CHECK(len >= 1 && len <= OCKAM_NAME_MAX);
    char again[JS_DESC_MAX];
    ockami_js_description((const char *)name, len, again);
    FUZZ_CHECK(strcmp(again, text) == 0);
  }
  free(text);
  /* the input as a name */
  size_t n = size < OCKAM_NAME_MAX ? size : OCKAM_NAME_MAX;
  if (n == 0) return;
  char desc[JS_DESC_MAX];
  ockami_js_description((const char *)data, n, desc);
  FUZZ_CHECK(strlen(desc) < JS_DESC_MAX);
  FUZZ_CHECK(ockami_js_description_name(desc, name, &len));
  FUZZ_CHECK(len == n && memcmp(name, data, n) == 0);
}

static void check_reply(const uint8_t *data, size_t size) {
  static const char inbox[] = "_INBOX.fz";
  char *subj = malloc(sizeof inbox + size + 1);
  memcpy(subj, inbox, sizeof inbox - 1);
  subj[sizeof inbox - 1] = '.';
  memcpy(subj + sizeof inbox, data, size);
  subj[sizeof inbox + size] = 0;
  uint64_t g, k, g2, k2;
  if (ockami_js_reply_parse(inbox, sizeof inbox - 1, subj, &g, &k)) {
    char again[80];
    snprintf(again, sizeof again, "%s.%" PRIu64 ".%" PRIu64, inbox, g, k);
    FUZZ_CHECK(ockami_js_reply_parse(inbox, sizeof inbox - 1, again, &g2, &k2));
    FUZZ_CHECK(g2 == g && k2 == k);
  }
  free(subj);
  uint64_t v, v2;
  if (ockami_js_parse_u64((const char *)data, size, &v)) {
    char again[24];
    int l = snprintf(again, sizeof again, "%" PRIu64, v);
    FUZZ_CHECK(ockami_js_parse_u64(again, (size_t)l, &v2) && v2 == v);
  }
}

static void check_key(const uint8_t *data, size_t size) {
  if (size < 2) return;
  size_t split = 1 + data[0] % (size - 1);
  const char *client = (const char *)data + 1, *stream = (const char *)data + split;
  size_t client_len = split - 1, stream_len = size - split;
  if (client_len == 0 || client_len > OCKAM_NAME_MAX || stream_len > OCKAM_NAME_MAX ||
      stream_len == 0) {
    return;
  }
  char key[JS_KEY_MAX];
  ockami_js_index_key(client, client_len, stream, stream_len, key);
  size_t len = strlen(key), dots = 0;
  FUZZ_CHECK(len < JS_KEY_MAX);
  for (size_t i = 0; i < len; i++) {
    char c = key[i];
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '-' || c == '=' || c == '.';
    FUZZ_CHECK(ok);
    dots += c == '.';
  }
  FUZZ_CHECK(dots == 1);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  check_puback(data, size);
  check_description(data, size);
  check_reply(data, size);
  check_key(data, size);
  return 0;
}
