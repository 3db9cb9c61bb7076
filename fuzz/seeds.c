/* fuzz_seeds VECTORS.md OUTDIR
 *
 * Writes the seed corpus of every fuzz target into OUTDIR/<target>/: the
 * byte vectors of the spec (each "### E.." block of ockam-2021-vectors.md and
 * the Noise XX messages), wrapped in the input layout each target expects,
 * plus inputs built with the library's own encoders for what the vectors do
 * not cover (every stream-protocol message kind, CLI argument lists, text
 * routes, storage contents, node programs, contacts of a fresh and of a
 * rotated identity, the identity channel's handshake messages).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "bare.h"
#include "identity_msgs.h"
#include "ockam/identity.h"
#include "ockam/limits.h"
#include "stream_proto.h"

static const char *outdir;
static unsigned written;

static void put(const char *target, const char *name, const uint8_t *p, size_t len) {
  char path[1024];
  snprintf(path, sizeof path, "%s/%s", outdir, target);
  if (mkdir(path, 0755) != 0 && errno != EEXIST) {
    perror(path);
    exit(1);
  }
  snprintf(path, sizeof path, "%s/%s/seed-%s", outdir, target, name);
  FILE *f = fopen(path, "wb");
  if (!f || (len && fwrite(p, 1, len, f) != len) || fclose(f) != 0) {
    perror(path);
    exit(1);
  }
  written++;
}

static void put_buf(const char *target, const char *name, const ockami_buf *b) {
  put(target, name, b->data, b->len);
}

static void put_str(const char *target, const char *name, const char *s, size_t len) {
  put(target, name, (const uint8_t *)s, len);
}

/* ---- the vectors file ------------------------------------------------------ */

typedef struct vec {
  char name[32];
  uint8_t *p;
  size_t len;
} vec;

#define MAX_VECS 96
static vec vecs[MAX_VECS];
static size_t nvecs;

static int hexval(int c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}

/* Appends the hex digits of line (spaces allowed) to v; false if the line is
 * not a hex line. */
static bool hex_line(const char *line, vec *v, size_t cap) {
  const char *s = line;
  while (*s == ' ') s++;
  if (!*s || *s == '\n') return false;
  for (const char *t = s; *t && *t != '\n'; t++)
    if (*t != ' ' && hexval(*t) < 0) return false;
  for (; *s && *s != '\n'; s++) {
    if (*s == ' ') continue;
    if (hexval(s[1]) < 0 || v->len >= cap) return false;
    v->p[v->len++] = (uint8_t)(hexval(s[0]) << 4 | hexval(s[1]));
    s++;
  }
  return true;
}

static void load_vectors(const char *path) {
  FILE *f = fopen(path, "r");
  if (!f) {
    perror(path);
    exit(1);
  }
  char line[512];
  vec *cur = NULL;
  while (fgets(line, sizeof line, f)) {
    char id[32];
    if (sscanf(line, "### %31s", id) == 1 && id[0] == 'E' && nvecs < MAX_VECS) {
      cur = &vecs[nvecs++];
      snprintf(cur->name, sizeof cur->name, "%s", id);
      cur->p = malloc(4096);
      cur->len = 0;
      continue;
    }
    if (!cur || strncmp(line, "len=", 4) == 0 || strncmp(line, "key ", 4) == 0) continue;
    if (!hex_line(line, cur, 4096) && cur->len) cur = NULL;
  }
  fclose(f);
}

static const vec *find(const char *name) {
  for (size_t i = 0; i < nvecs; i++)
    if (strcmp(vecs[i].name, name) == 0 && vecs[i].len) return &vecs[i];
  return NULL;
}

static bool in_list(const char *name, const char *const *list) {
  for (; *list; list++)
    if (strcmp(name, *list) == 0) return true;
  return false;
}

static void hexs(const char *hex, ockami_buf *b) {
  for (; hex[0] && hex[1]; hex += 2)
    if (ockami_write_u8(b, (uint8_t)(hexval(hex[0]) << 4 | hexval(hex[1])))) exit(1);
}

static void w8(ockami_buf *b, uint8_t v) {
  if (ockami_write_u8(b, v)) exit(1);
}
static void w16(ockami_buf *b, uint16_t v) {
  w8(b, (uint8_t)(v >> 8));
  w8(b, (uint8_t)v);
}
static void wbytes(ockami_buf *b, const void *p, size_t n) {
  if (ockami_buf_append(b, p, n)) exit(1);
}

/* Noise XX handshake_1 / handshake_2 messages (vectors §2.5). */
static const char *const xx_msgs[][2] = {
    {"m1", "358072d6365880d1aeea329adf9121383851ed21a28e3b75e965d0d2cd166254"},
    {"m2",
     "64b101b1d0be5a8704bd078f9895001fc03e8e9f9522f188dd128d9846d484665393019dbd6f438795da206db0886"
     "6"
     "10b26108e424142c2e9b5fd1f7ea70cde8767ce62d7e3c0e9bcefe4ab872c0505b9e824df091b74ffe10a2b32809c"
     "a"
     "b21f"},
    {"m3",
     "e610eadc4b00c17708bf223f29a66f02342fbedf6c0044736544b9271821ae40e70144cecd9d265dffdc5bb8e051c"
     "3"
     "f83db32a425e04d8f510c58a43325fbc56"},
    {"m1p", "358072d6365880d1aeea329adf9121383851ed21a28e3b75e965d0d2cd166254746573745f6d73675f30"},
};

/* fuzz_identity_msgs: [mode] then a Request (0), Response (1), Confirm (2)
 * or a bare Contact (3), around the contact of an identity rotated r times. */
static void put_identity_msgs(int r, const uint8_t *contact, size_t clen) {
  static const char *const kinds[4] = {"request", "response", "confirm", "contact"};
  uint8_t proof[OCKAMI_AUTH_PROOF_LEN];
  memset(proof, 0x5a, sizeof proof);
  for (uint8_t mode = 0; mode < 4; mode++) {
    ockami_buf b = OCKAMI_BUF_INIT;
    int rc = ockami_buf_append(&b, &mode, 1);
    if (!rc && mode == 0) rc = ockami_auth_request_encode(&b, contact, clen, proof);
    if (!rc && mode == 1) rc = ockami_auth_response_encode(&b, contact, clen, proof, "3fa1c0de");
    if (!rc && mode == 2) rc = ockami_auth_confirm_encode(&b, "3fa1c0de");
    if (!rc && mode == 3) rc = ockami_buf_append(&b, contact, clen);
    if (rc) {
      fprintf(stderr, "fuzz_seeds: cannot encode an identity channel message\n");
      exit(1);
    }
    char name[48];
    snprintf(name, sizeof name, "%s-%d-rotations", kinds[mode], r);
    put_buf("fuzz_identity_msgs", name, &b);
    ockami_buf_free(&b);
  }
  /* The same Contact with its meta tag written in two bytes (81 00 = 1), a
   * valid BARE uint that the walk and the change-history decoder must both
   * read (identifier 65, count 1, id 32, prev 32, 4 bytes, label 10). */
  if (r == 0 && clen > 145 && clen < 4096 && contact[134] == 9 && contact[144] == 1) {
    static uint8_t longer[4097];
    longer[0] = 3;
    memcpy(longer + 1, contact, 144);
    longer[145] = 0x81;
    longer[146] = 0x00;
    memcpy(longer + 147, contact + 145, clen - 145);
    put("fuzz_identity_msgs", "contact-long-tag", longer, clen + 2);
  }
}

int main(int argc, char **argv) {
  if (argc != 3) {
    fprintf(stderr, "usage: fuzz_seeds VECTORS.md OUTDIR\n");
    return 2;
  }
  outdir = argv[2];
  if (mkdir(outdir, 0755) != 0 && errno != EEXIST) {
    perror(outdir);
    return 1;
  }
  load_vectors(argv[1]);
  if (nvecs < 20) {
    fprintf(stderr, "fuzz_seeds: only %zu vectors found in %s\n", nvecs, argv[1]);
    return 1;
  }

  static const char *const frames[] = {"E1b", "E2", "E3", "E6d", "E11", NULL};
  static const char *const messages[] = {"E1", "E6b", "E8b", "E9a", "E9c", "E10", NULL};
  static const char *const payloads[] = {"E2",  "E2b", "E4a", "E4b", "E4c", "E4d", "E5",
                                         "E5b", "E6c", "E6e", "E7",  "E7b", "E12", NULL};
  ockami_buf stream = OCKAMI_BUF_INIT;
  for (size_t i = 0; i < nvecs; i++) {
    const vec *v = &vecs[i];
    if (!v->len) continue;
    /* E2 names both a payload and a frame; the frame starts with its length. */
    bool framed = v->len >= 2 && ((size_t)v->p[0] << 8 | v->p[1]) == v->len - 2;
    if ((in_list(v->name, frames) && framed) || in_list(v->name, messages)) {
      put("fuzz_wire", v->name, v->p, v->len);
    }
    if (in_list(v->name, frames) && framed) wbytes(&stream, v->p, v->len);
    if (in_list(v->name, payloads) && !framed) put("fuzz_stream_proto", v->name, v->p, v->len);
    /* BARE programs over every vector: the TransportMessage layout, and
     * one op of each kind. */
    ockami_buf prog = OCKAMI_BUF_INIT;
    static const uint8_t tm_ops[] = {0x00, 0x54, 0x00, 0xd7, 0x00, 0xd7,
                                     0x54, 0x00, 0xd7, 0xe7, 0x0a};
    w8(&prog, sizeof tm_ops);
    wbytes(&prog, tm_ops, sizeof tm_ops);
    wbytes(&prog, v->p, v->len);
    put_buf("fuzz_bare", v->name, &prog);
    prog.len = 0;
    static const uint8_t each_op[] = {0x00, 0x01, 0x02, 0x03, 0x04, 0xf5,
                                      0x06, 0xd7, 0xd8, 0x39, 0x0a};
    w8(&prog, sizeof each_op);
    wbytes(&prog, each_op, sizeof each_op);
    wbytes(&prog, v->p, v->len);
    char name[48];
    snprintf(name, sizeof name, "%s-ops", v->name);
    put_buf("fuzz_bare", name, &prog);
    ockami_buf_free(&prog);
  }
  put_buf("fuzz_wire", "stream", &stream);
  ockami_buf_free(&stream);

  /* Stream protocol: one of each kind from the encoders. */
  ockami_buf b = OCKAMI_BUF_INIT;
  static const ockami_sp_stream_msg msgs[2] = {{1, (const uint8_t *)"one", 3},
                                               {300, (const uint8_t *)"", 0}};
#define SP(name, call)                      \
  do {                                      \
    b.len = 0;                              \
    if (call) exit(1);                      \
    put_buf("fuzz_stream_proto", name, &b); \
  } while (0)
  SP("create-none", ockami_sp_encode_create(&b, NULL, 0));
  SP("create", ockami_sp_encode_create(&b, "s1", 2));
  SP("push", ockami_sp_encode_push(&b, 7, (const uint8_t *)"hello", 5));
  SP("pull", ockami_sp_encode_pull(&b, 1, 2, 3));
  SP("pull-wait", ockami_sp_encode_pull_wait(&b, 1, 2, 3, 30000));
  SP("index-get", ockami_sp_encode_index_get(&b, "c", 1, "s", 1));
  SP("index-save", ockami_sp_encode_index_save(&b, "c", 1, "s", 1, 99));
  SP("init", ockami_sp_encode_init(&b, "generated_0a1b2c3d", 18));
  SP("push-confirm", ockami_sp_encode_push_confirm(&b, 7, OCKAMI_SP_STATUS_ERROR, 0));
  SP("push-idem",
     ockami_sp_encode_push_idem(&b, 7, (const uint8_t *)"hello", 5, "producer", 8, 99, 3));
  SP("push-confirm-resend", ockami_sp_encode_push_confirm(&b, 7, OCKAMI_SP_STATUS_RESEND, 4));
  SP("pull-response", ockami_sp_encode_pull_response(&b, 9, msgs, 2));
  SP("index-some", ockami_sp_encode_index(&b, "c", 1, "s", 1, true, 5));
  SP("error", ockami_sp_encode_error(&b, "Invalid request", 15));
  SP("unknown", ockami_sp_payload_encode(&b, "stream_create_partitioned", 25, NULL, 0));

  /* XX: raw (mode 0..2) and forged (mode | 4) inputs. */
  for (int step = 0; step < 3; step++) {
    b.len = 0;
    w8(&b, (uint8_t)step);
    hexs(xx_msgs[step][1], &b);
    put_buf("fuzz_xx", xx_msgs[step][0], &b);
    b.len = 0;
    w8(&b, (uint8_t)(4 | step));
    w16(&b, 10);
    wbytes(&b, "test_msg_0", 10);
    w8(&b, 0);
    char name[32];
    snprintf(name, sizeof name, "%s-forged", xx_msgs[step][0]);
    put_buf("fuzz_xx", name, &b);
  }
  b.len = 0;
  w8(&b, 0);
  hexs(xx_msgs[3][1], &b);
  put_buf("fuzz_xx", "m1-payload", &b);

  /* Cipher: the spec's data blobs raw (E9b decrypts under k2), then a
   * send/deliver/replay/jump program in both framings. */
  const vec *e9b = find("E9b"), *e9d = find("E9d");
  for (int framing = 0; framing < 2; framing++) {
    b.len = 0;
    w8(&b, (uint8_t)framing);
    const vec *raw[2] = {e9b, e9d};
    for (int i = 0; i < 2; i++) {
      if (!raw[i]) continue;
      w8(&b, 0);
      w16(&b, (uint16_t)raw[i]->len);
      wbytes(&b, raw[i]->p, raw[i]->len);
    }
    w8(&b, 1), w16(&b, 5), wbytes(&b, "hello", 5);               /* send */
    w8(&b, 2), w8(&b, 0), w8(&b, 0), w16(&b, 0);                 /* deliver */
    w8(&b, 2), w8(&b, 0), w8(&b, 0), w16(&b, 0);                 /* replay */
    w8(&b, 3), w8(&b, 0), wbytes(&b, "\0\0\0\0\0\0\x09\x00", 8); /* jump */
    w8(&b, 1), w16(&b, 3), wbytes(&b, "abc", 3);
    w8(&b, 2), w8(&b, 1), w8(&b, 0x01), w16(&b, 20); /* tampered */
    w8(&b, 2), w8(&b, 1), w8(&b, 0), w16(&b, 0);
    w8(&b, 4), w8(&b, 6), wbytes(&b, "OCKX\x01\x01", 6); /* ext payload */
    put_buf("fuzz_cipher", framing ? "extended" : "2021", &b);
  }
  /* fuzz_batch: the documented example, and a batch of three. */
  b.len = 0;
  hexs("ba0002000901010001610002686900080101000162000121", &b);
  put_buf("fuzz_batch", "example", &b);
  b.len = 0;
  hexs("ba0003000901010001610002686900080101000162000121000401000000", &b);
  put_buf("fuzz_batch", "three", &b);

  /* lmdb: standard info, one stream with two records and an index. */
  b.len = 0;
  w8(&b, 1 | 2 | 8), w8(&b, 5), w8(&b, 1), w8(&b, 1); /* flags, max_messages, max_age, next_id-1 */
  w8(&b, 4), w8(&b, 1), wbytes(&b, "s", 1), w8(&b, 1), w8(&b, 0), w8(&b, 2), w16(&b, 6);
  w8(&b, 5), w8(&b, 1), w8(&b, 0), w8(&b, 0), w8(&b, 3), wbytes(&b, "abc", 3);
  w8(&b, 5), w8(&b, 1), w8(&b, 1), w8(&b, 0), w8(&b, 3), wbytes(&b, "def", 3);
  w8(&b, 6), w8(&b, 0), wbytes(&b, "c", 1), w8(&b, 0), wbytes(&b, "s", 1), w8(&b, 1), w8(&b, 1);
  put_buf("fuzz_lmdb", "one-stream", &b);

  /* CLI argument lists (NUL-separated) and log level names. */
#define ARGS(lit) \
  { lit, sizeof lit - 1 }
  static const struct {
    const char *s;
    size_t len;
  } cli[] = {
      ARGS("--listen\0"
           "127.0.0.1:4000\0--store\0memory"),
      ARGS("--store\0lmdb\0--data\0/tmp/x\0--no-sync\0--retention-messages\0"
           "10"),
      ARGS("--store\0jetstream\0--nats\0nats://127.0.0.1:4222\0--replicas\0"
           "3"),
      ARGS("--max-streams\0"
           "5\0--max-message\0"
           "65535\0--max-connections\0"
           "2\0--listen-backlog\0"
           "64"),
      ARGS("--long-poll-max\0"
           "1000\0--ready-file\0/tmp/r\0--log\0debug\0--no-streams"),
      ARGS("--retention-bytes=100\0--retention-age=60"),
      ARGS("-h"),
      ARGS("--help"),
      ARGS("warn"),
  };
  for (size_t i = 0; i < sizeof cli / sizeof cli[0]; i++) {
    char name[16];
    snprintf(name, sizeof name, "args%zu", i);
    put_str("fuzz_cli", name, cli[i].s, cli[i].len);
  }

  static const char *const status[] = {
      "",
      "{}",
      "{\"get\":\"hub\"}",
      "{\"get\":\"streams\"}",
      "{\"get\":\"streams\",\"after_hex\":\"73632d746573742d612d62\"}",
      "{\"get\":\"stream\",\"name\":\"sc-test-a-b\"}",
      "{\"get\":\"stream\",\"name_hex\":\"00ff\"}",
      "{\"get\":\"stream\"}",
      "{\"get\":\"stream\",\"name\":\"a\",\"name\":\"b\"}",
      "[1,2]",
  };
  for (size_t i = 0; i < sizeof status / sizeof status[0]; i++) {
    char name[16];
    snprintf(name, sizeof name, "req%zu", i);
    put_str("fuzz_status", name, status[i], strlen(status[i]));
  }

  static const char *const routes[] = {"1#127.0.0.1:4000;echo_service",
                                       "0#app, 1#localhost:1",
                                       "  stream ; stream_index ,",
                                       "16#x;2#udp",
                                       "#",
                                       "1#"};
  for (size_t i = 0; i < sizeof routes / sizeof routes[0]; i++) {
    char name[16];
    snprintf(name, sizeof name, "route%zu", i);
    put_str("fuzz_route", name, routes[i], strlen(routes[i]));
  }

  static const char *const js[] = {
      "{\"stream\":\"OCKAM_415913b7cf2e4ba5f80234dec8c9da24\",\"seq\":12}",
      "{\"stream\":\"S\",\"seq\":3,\"duplicate\":true}",
      "{\"error\":{\"code\":503,\"err_code\":10039,\"description\":\"x\"}}",
      "ockam stream sc%20x%25y",
      "7.42",
      "18446744073709551609",
  };
  for (size_t i = 0; i < sizeof js / sizeof js[0]; i++) {
    char name[16];
    snprintf(name, sizeof name, "js%zu", i);
    put_str("fuzz_jetstream", name, js[i], strlen(js[i]));
  }

  /* Node programs: open a channel and send an inner message to
   * echo_service; register with forwarding_service and use the forwarder;
   * a raw channel request (E6a). */
  ockami_buf inner = OCKAMI_BUF_INIT;
  hexs("0101000c", &inner);
  wbytes(&inner, "echo_service", 12);
  hexs("01000473696e6b", &inner); /* return [0#sink] */
  hexs("0d0c", &inner);
  wbytes(&inner, "Hello World!", 12);
  for (int ext = 0; ext < 2; ext++) {
    b.len = 0;
    w8(&b, ext ? 8 : 1);
    w8(&b, 4);
    w8(&b, 5), w16(&b, (uint16_t)inner.len), wbytes(&b, inner.data, inner.len);
    w8(&b, 5), w16(&b, (uint16_t)inner.len), wbytes(&b, inner.data, inner.len);
    put_buf("fuzz_node", ext ? "channel-extended" : "channel-2021", &b);
  }
  ockami_buf_free(&inner);
  b.len = 0;
  w8(&b, 0);
  w8(&b, 1), w16(&b, 9), hexs("087265676973746572", &b); /* "register" */
  w8(&b, 2), w16(&b, 3), wbytes(&b, "\x02hi", 3);
  put_buf("fuzz_node", "forwarder", &b);
  const vec *e6a = find("E6a");
  if (e6a) {
    b.len = 0;
    w8(&b, 0);
    w8(&b, 0), w16(&b, (uint16_t)e6a->len), wbytes(&b, e6a->p, e6a->len);
    w8(&b, 2), w16(&b, 4),
        wbytes(&b,
               "\x03"
               "abc",
               4);
    put_buf("fuzz_node", "E6a", &b);
  }
  ockami_buf_free(&b);

  /* fuzz_contact: a fresh identity's contact, then after one and two rotations. */
  ockam_vault *vault;
  ockam_identity *ident;
  if (ockam_vault_create("software", &vault) == OCKAM_OK) {
    if (ockam_identity_create(vault, &ident) == OCKAM_OK) {
      static uint8_t contact[4096];
      size_t clen;
      for (int r = 0; r < 3; r++) {
        if (ockam_identity_export_contact(ident, contact, sizeof contact, &clen) == OCKAM_OK) {
          char name[32];
          snprintf(name, sizeof name, "contact-%d-rotations", r);
          put("fuzz_contact", name, contact, clen);
          put_identity_msgs(r, contact, clen);
        }
        if (ockam_identity_rotate(ident) != OCKAM_OK) break;
      }
      ockam_identity_free(ident);
    }
    ockam_vault_destroy(vault);
  }
  printf("fuzz_seeds: %zu vectors, %u seed files in %s\n", nvecs, written, outdir);
  return 0;
}
