/* Text routes (ockam_route_parse / ockam_route_append_str in
 * src/core/route.c): what `ockam send ROUTE ...` and the examples accept,
 * e.g. "1#127.0.0.1:4000;echo_service".
 *
 * A parsed route must respect the limits (hops, value length), format into
 * any buffer size without overrunning it (always NUL-terminated), and
 * survive copy, prepend/pop and equality. Each hop, written back as
 * "T#value", must parse to the same hop when its value has no separator or
 * space in it.
 */
#include "fuzz.h"
#include "ockam/limits.h"
#include "ockam/route.h"

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  fuzz_quiet();
  return 0;
}

static bool plain(const ockam_address *a) {
  if (a->len == 0) return false;
  for (size_t i = 0; i < a->len; i++) {
    uint8_t c = a->value[i];
    if (c == ';' || c == ',' || c == ' ' || c == '#' || c == 0 || c == '\t') return false;
  }
  return true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  char *text = malloc(size + 1);
  memcpy(text, data, size);
  text[size] = 0;
  ockam_route *r = NULL;
  int rc = ockam_route_parse(text, &r);
  if (rc == 0) {
    size_t hops = ockam_route_len(r);
    FUZZ_CHECK(hops <= OCKAM_ROUTE_MAX_HOPS);
    ockam_address a;
    for (size_t i = 0; i < hops; i++) {
      FUZZ_CHECK(ockam_route_get(r, i, &a) == 0 && a.len <= OCKAM_ADDRESS_MAX_LEN);
      if (!plain(&a)) continue;
      char hop[8 + OCKAM_ADDRESS_MAX_LEN];
      snprintf(hop, sizeof hop, "%u#%.*s", a.type, (int)a.len, (const char *)a.value);
      ockam_route *one = NULL;
      FUZZ_CHECK(ockam_route_new(&one) == 0);
      if (ockam_route_append_str(one, hop) == 0) {
        ockam_address b;
        FUZZ_CHECK(ockam_route_len(one) == 1 && ockam_route_get(one, 0, &b) == 0);
        FUZZ_CHECK(b.type == a.type && b.len == a.len && !memcmp(b.value, a.value, a.len));
      }
      ockam_route_free(one);
    }
    FUZZ_CHECK(ockam_route_get(r, hops, &a) == OCKAM_ENOTFOUND);
    /* Formatting into every small size, and one that fits. */
    char out[64 * 300];
    for (size_t cap = 0; cap < 24; cap++) {
      memset(out, 0x7f, cap + 1);
      size_t n = ockam_route_format(r, out, cap);
      if (cap) FUZZ_CHECK(n < cap && out[n] == 0);
      FUZZ_CHECK(out[cap] == 0x7f);
    }
    size_t n = ockam_route_format(r, out, sizeof out);
    FUZZ_CHECK(n < sizeof out && out[n] == 0 && strlen(out) == n);

    ockam_route *c = NULL;
    FUZZ_CHECK(ockam_route_copy(r, &c) == 0 && ockam_route_equal(r, c));
    if (ockam_route_prepend(c, 0, "x", 1) == 0) {
      FUZZ_CHECK(!ockam_route_equal(r, c) && ockam_route_len(c) == hops + 1);
      ockam_route_pop(c);
      FUZZ_CHECK(ockam_route_equal(r, c));
    } else {
      FUZZ_CHECK(hops == OCKAM_ROUTE_MAX_HOPS);
    }
    ockam_route_free(c);
  } else {
    FUZZ_CHECK(rc < 0);
  }
  ockam_route_free(r);
  free(text);
  return 0;
}
