/* Contact / change-history decoder (src/identity/change.c, identity spec
 * §3–§4), whole input = Contact bytes.
 *
 * The layout-only decoder must never read out of bounds and must report spans
 * that tile the input; the verifying decoder (the public
 * ockam_contact_decode) must accept nothing the layout decoder refuses, and
 * whatever it accepts must re-encode to the input byte for byte, carry a
 * 64-hex identifier that is the hash of its root key, extend itself, and
 * survive a clone and a proof check.
 */
#include <sodium.h>

#include "change.h"
#include "fuzz.h"
#include "ockam/identity.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  ockam_log_set_level(OCKAM_LOG_OFF);
  ockami_history h;
  int lrc = ockami_history_decode_unverified(data, size, &h);
  if (lrc == OCKAM_OK) {
    FUZZ_CHECK(h.n >= 1 && h.n <= OCKAM_CONTACT_MAX_EVENTS);
    size_t end = h.events_off;
    for (size_t i = 0; i < h.n; i++) {
      FUZZ_CHECK(h.events[i].off == end);
      FUZZ_CHECK(h.events[i].len > 0 && h.events[i].off + h.events[i].len <= size);
      FUZZ_CHECK(h.events[i].pub_len <= OCKAM_CONTACT_MAX_KEY_LEN);
      FUZZ_CHECK(h.events[i].attrs.label_len <= OCKAM_CONTACT_MAX_LABEL_LEN);
      end += h.events[i].len;
    }
    FUZZ_CHECK(end == size);
    ockami_history_clear(&h);
  }

  ockam_contact *c = NULL;
  int rc = ockam_contact_decode(data, size, &c);
  if (rc != OCKAM_OK) {
    FUZZ_CHECK(c == NULL);
    return 0;
  }
  FUZZ_CHECK(lrc == OCKAM_OK);
  const char *id = ockam_contact_identifier_str(c);
  FUZZ_CHECK(strlen(id) == OCKAM_IDENTIFIER_LEN);
  char parsed[OCKAM_IDENTIFIER_BUF];
  FUZZ_CHECK(ockam_identifier_parse(id, parsed) == OCKAM_OK && !strcmp(parsed, id));
  uint8_t *out = malloc(size ? size : 1);
  size_t len = 0;
  FUZZ_CHECK(ockam_contact_encode(c, out, size, &len) == OCKAM_OK);
  FUZZ_CHECK(len == size && memcmp(out, data, size) == 0);
  free(out);
  FUZZ_CHECK(ockam_contact_event_count(c) >= 1);
  FUZZ_CHECK(ockam_contact_check_extends(c, c) == OCKAM_OK);
  ockam_contact *copy = NULL;
  FUZZ_CHECK(ockam_contact_clone(c, &copy) == OCKAM_OK);
  FUZZ_CHECK(!strcmp(ockam_contact_identifier_str(copy), id));
  FUZZ_CHECK(ockam_contact_update(copy, c) == OCKAM_OK);
  uint8_t hash[32] = {0}, sig[64] = {0};
  rc = ockam_contact_verify_proof(c, hash, sig);
  FUZZ_CHECK(rc == OCKAM_EAUTH); /* an all-zero signature never verifies */
  ockam_contact_free(copy);
  ockam_contact_free(c);
  return 0;
}
