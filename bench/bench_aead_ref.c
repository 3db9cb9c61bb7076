/* Reference for the secure channel's bulk rate: what per-message AEAD costs
 * when nothing else is done. Messages of --size bytes move one way between two
 * processes over one TCP connection on 127.0.0.1; each is sealed on its own
 * with AES-256-GCM through OpenSSL's EVP interface (key schedule computed
 * once per direction, only the IV set per message) and framed as
 *
 *   u16 BE frame length || u64 BE counter || ciphertext || 16-byte tag
 *
 * (the channel's extended framing without routes). The sender seals straight
 * into its output buffer and writes it once the next frame would make it
 * exceed 64,000 bytes (as our TCP transport batches); the receiver reads into
 * a 64 KiB buffer, checks every frame's counter and tag while opening it in
 * place, and answers one byte when all arrived.
 *
 *   bench_aead_ref --size BYTES [--millis MS] [--init ex|ex2] [--count N]
 *
 * --count N: exactly N/10+1 then N messages instead of a timed run (for
 * instruction counts, as bench_channel --count).
 *
 * --init ex (default): EVP_CipherInit_ex(ctx, NULL, NULL, NULL, iv, enc) per
 * message; ex2: EVP_CipherInit_ex2(ctx, NULL, NULL, iv, enc, NULL), OpenSSL
 * 3's parameter-taking entry point, to measure what it adds. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench_util.h"

#define WRITE_MAX 64000u
#define READ_BUFFER 65536u
#define HDR 8u
#define TAG 16u

static bool use_ex2;

static void die(const char *what) {
  fprintf(stderr, "bench_aead_ref: %s\n", what);
  ERR_print_errors_fp(stderr);
  exit(2);
}

static EVP_CIPHER_CTX *aes_ctx(const uint8_t key[32], int enc) {
  EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
  if (!c || EVP_CipherInit_ex(c, EVP_aes_256_gcm(), NULL, key, NULL, enc) != 1) die("key");
  return c;
}

static void nonce_of(uint64_t n, uint8_t iv[12]) {
  memset(iv, 0, 4);
  for (int i = 0; i < 8; i++) iv[4 + i] = (uint8_t)(n >> (56 - 8 * i));
}

static int set_iv(EVP_CIPHER_CTX *c, const uint8_t iv[12], int enc) {
  return use_ex2 ? EVP_CipherInit_ex2(c, NULL, NULL, iv, enc, NULL)
                 : EVP_CipherInit_ex(c, NULL, NULL, NULL, iv, enc);
}

/* Seal message n (len bytes of pt) at out: header, ciphertext, tag. */
static void seal(EVP_CIPHER_CTX *c, uint64_t n, const uint8_t *pt, size_t len, uint8_t *out) {
  uint8_t iv[12];
  int got = 0;
  nonce_of(n, iv);
  for (int i = 0; i < 8; i++) out[i] = (uint8_t)(n >> (56 - 8 * i));
  if (set_iv(c, iv, 1) != 1 || EVP_EncryptUpdate(c, out + HDR, &got, pt, (int)len) != 1 ||
      EVP_EncryptFinal_ex(c, out + HDR + len, &got) != 1 ||
      EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_GET_TAG, TAG, out + HDR + len) != 1)
    die("seal");
}

/* Open one frame body in place; false when it does not authenticate. */
static bool open_frame(EVP_CIPHER_CTX *c, uint64_t expect, uint8_t *p, size_t len) {
  if (len < HDR + TAG) return false;
  uint64_t n = 0;
  for (int i = 0; i < 8; i++) n = n << 8 | p[i];
  if (n != expect) return false;
  uint8_t iv[12];
  int got = 0;
  size_t pt = len - HDR - TAG;
  nonce_of(n, iv);
  return set_iv(c, iv, 0) == 1 && EVP_DecryptUpdate(c, p + HDR, &got, p + HDR, (int)pt) == 1 &&
         EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_TAG, TAG, p + HDR + pt) == 1 &&
         EVP_DecryptFinal_ex(c, p + HDR + pt, &got) == 1;
}

/* Receiver: open frames until `total` arrived, then answer one byte. */
static void serve(int fd, EVP_CIPHER_CTX *c, uint64_t *next, uint64_t total) {
  static uint8_t buf[READ_BUFFER + 65537];
  size_t have = 0;
  uint64_t frames = 0;
  while (frames < total) {
    ssize_t n = read(fd, buf + have, READ_BUFFER);
    if (n <= 0) die("read");
    have += (size_t)n;
    size_t off = 0;
    while (have - off >= 2) {
      size_t flen = ((size_t)buf[off] << 8) | buf[off + 1];
      if (have - off - 2 < flen) break;
      if (!open_frame(c, *next, buf + off + 2, flen)) die("a frame did not authenticate");
      (*next)++;
      off += 2 + flen;
      frames++;
    }
    memmove(buf, buf + off, have - off);
    have -= off;
  }
  uint8_t one = 1;
  if (write(fd, &one, 1) != 1) die("answer");
}

static void write_all(int fd, const uint8_t *p, size_t len) {
  while (len) {
    ssize_t n = write(fd, p, len);
    if (n <= 0) die("write");
    p += n;
    len -= (size_t)n;
  }
}

static double send_batch(int fd, EVP_CIPHER_CTX *c, uint64_t *next, const uint8_t *msg, size_t size,
                         uint64_t count) {
  static uint8_t out[WRITE_MAX];
  size_t flen = 2 + HDR + size + TAG;
  double t0 = bench_now();
  size_t used = 0;
  for (uint64_t i = 0; i < count; i++) {
    if (used + flen > WRITE_MAX) {
      write_all(fd, out, used);
      used = 0;
    }
    out[used] = (uint8_t)((flen - 2) >> 8);
    out[used + 1] = (uint8_t)(flen - 2);
    seal(c, (*next)++, msg, size, out + used + 2);
    used += flen;
  }
  if (used) write_all(fd, out, used);
  uint8_t one;
  if (read(fd, &one, 1) != 1) die("no answer");
  return bench_now() - t0;
}

int main(int argc, char **argv) {
  size_t size = (size_t)bench_arg_long(argc, argv, "--size", 1024);
  double seconds = (double)bench_arg_long(argc, argv, "--millis", 2000) / 1000.0;
  use_ex2 = !strcmp(bench_arg(argc, argv, "--init", "ex"), "ex2");
  if (size == 0 || 2 + HDR + size + TAG > WRITE_MAX) die("size");
  uint8_t key[32];
  if (RAND_bytes(key, sizeof key) != 1) die("random");

  int lfd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  socklen_t slen = sizeof sa;
  if (bind(lfd, (struct sockaddr *)&sa, sizeof sa) || listen(lfd, 1) ||
      getsockname(lfd, (struct sockaddr *)&sa, &slen))
    die("listen");
  int ctl[2]; /* the parent tells the child how many frames each batch has */
  if (pipe(ctl)) die("pipe");

  pid_t pid = fork();
  if (pid < 0) die("fork");
  if (pid == 0) {
    close(ctl[1]);
    int fd = accept(lfd, NULL, NULL);
    if (fd < 0) die("accept");
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    EVP_CIPHER_CTX *dec = aes_ctx(key, 0);
    uint64_t next = 0, n;
    while (read(ctl[0], &n, sizeof n) == sizeof n) serve(fd, dec, &next, n);
    EVP_CIPHER_CTX_free(dec);
    _exit(0);
  }
  close(ctl[0]);
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (connect(fd, (struct sockaddr *)&sa, sizeof sa)) die("connect");
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  EVP_CIPHER_CTX *enc = aes_ctx(key, 1);
  OPENSSL_cleanse(key, sizeof key);
  uint8_t *msg = malloc(size);
  if (!msg) die("memory");
  for (size_t i = 0; i < size; i++) msg[i] = (uint8_t)i;

  /* Calibrate with batches growing until one takes 50 ms (a first batch of
   * 2,000 is over too soon to give a rate), then run the measured one. */
  uint64_t count = (uint64_t)bench_arg_long(argc, argv, "--count", 0);
  uint64_t n = count ? count / 10 + 1 : 2000, next = 0;
  double rate = 0;
  for (int phase = 0; phase < 2; phase++) {
    if (phase == 1) n = (uint64_t)(rate * seconds) > 1000 ? (uint64_t)(rate * seconds) : 1000;
    if (phase == 1 && count) n = count;
    if (write(ctl[1], &n, sizeof n) != sizeof n) die("ctl");
    double dt = send_batch(fd, enc, &next, msg, size, n);
    rate = (double)n / dt;
    if (phase == 0 && !count && dt < 0.05) {
      n *= 4;
      phase--;
    }
  }
  const char *name = use_ex2 ? "aeadref_ex2" : "aeadref";
  char key_name[64];
  snprintf(key_name, sizeof key_name, "%s_%zu_MBps", name, size);
  bench_result(key_name, rate * (double)size / 1e6, "MB/s");
  snprintf(key_name, sizeof key_name, "%s_%zu_msgps", name, size);
  bench_result(key_name, rate, "msg/s");
  close(ctl[1]);
  close(fd);
  waitpid(pid, NULL, 0);
  EVP_CIPHER_CTX_free(enc);
  free(msg);
  return 0;
}
