/* The hub's status requests (src/hub/status.c, docs/OPERATIONS.md): the
 * input is a request's payload, as any client that may ask for the status
 * sends it.
 *
 * ockami_status_parse_request either refuses it with a reason, or accepts it
 * with a known kind and a stream name that fits the caller's buffer of
 * OCKAM_NAME_MAX bytes (exactly that big here, so AddressSanitizer catches a
 * byte past it); a request for one stream always names it. Parsing the same
 * input twice gives the same answer. */
#include <string.h>

#include "fuzz.h"
#include "ockam/limits.h"
#include "stats.h"

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  (void)argc;
  (void)argv;
  fuzz_quiet();
  return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  char *name = malloc(OCKAM_NAME_MAX);
  FUZZ_CHECK(name != NULL);
  ockami_status_kind kind = OCKAMI_STATUS_FULL;
  size_t name_len = 99999;
  const char *why = ockami_status_parse_request(size ? data : NULL, size, &kind, name, &name_len);
  if (why) {
    FUZZ_CHECK(*why != '\0');
  } else {
    FUZZ_CHECK(kind == OCKAMI_STATUS_HUB || kind == OCKAMI_STATUS_STREAMS ||
               kind == OCKAMI_STATUS_STREAM);
    FUZZ_CHECK(name_len <= OCKAM_NAME_MAX);
    FUZZ_CHECK(kind != OCKAMI_STATUS_STREAM || name_len > 0);
    /* The same input, parsed again, gives the same kind and name. */
    char again[OCKAM_NAME_MAX];
    ockami_status_kind k2;
    size_t n2 = 0;
    FUZZ_CHECK(ockami_status_parse_request(size ? data : NULL, size, &k2, again, &n2) == NULL);
    FUZZ_CHECK(k2 == kind && n2 == name_len && memcmp(again, name, name_len) == 0);
  }
  free(name);
  return 0;
}
