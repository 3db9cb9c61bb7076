/* Batched channel records (src/channel/batch.c, docs/protocol-extensions.md
 * "Batched records"): the input is a record's opened plaintext.
 *
 * ockami_batch_open either refuses it, and then releases nothing, or accepts
 * it, and then the items it hands out lie inside the input, are non-empty,
 * follow each other without gaps and end exactly at the end; writing them
 * again through the encoder gives the input byte for byte. Every accepted
 * item is also decoded as a TransportMessage, as the channel does. */
#include "batch.h"
#include "fuzz.h"
#include "message.h"
#include "wire.h"

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  (void)argc;
  (void)argv;
  fuzz_quiet();
  return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  ockami_batch_reader r;
  size_t count = 99;
  int rc = ockami_batch_open(&r, size ? data : NULL, size, &count);
  const uint8_t *item;
  size_t len;
  if (rc) {
    FUZZ_CHECK(count == 0);
    FUZZ_CHECK(!ockami_batch_next(&r, &item, &len));
    return 0;
  }
  FUZZ_CHECK(size <= OCKAMI_BATCH_MAX && count >= 2 && count <= OCKAMI_BATCH_MAX_COUNT);
  FUZZ_CHECK(ockami_batch_is(data, size));
  ockami_buf b = OCKAMI_BUF_INIT;
  ockami_batch_writer w;
  FUZZ_CHECK(ockami_batch_begin(&w, &b) == 0);
  const uint8_t *expect = data + OCKAMI_BATCH_HEADER;
  size_t n = 0;
  while (ockami_batch_next(&r, &item, &len)) {
    FUZZ_CHECK(item == expect + OCKAMI_BATCH_ITEM_HEADER && len >= 1);
    FUZZ_CHECK(item + len <= data + size);
    expect = item + len;
    n++;
    FUZZ_CHECK(ockami_batch_add(&w, item, len) == 0);
    ockam_message *m;
    FUZZ_CHECK(ockam_message_new(&m) == 0);
    if (ockami_tm_decode(item, len, true, m) == 0) {
      /* What decodes strictly re-encodes within the item's size. */
      FUZZ_CHECK(ockami_tm_size(m) <= len);
    }
    ockam_message_free(m);
  }
  FUZZ_CHECK(n == count && expect == data + size);
  FUZZ_CHECK(ockami_batch_finish(&w) == 0);
  FUZZ_CHECK(b.len == size && memcmp(b.data, data, size) == 0);
  ockami_buf_free(&b);
  return 0;
}
