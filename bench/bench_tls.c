/* Reference for the channel benchmarks: the same framed messages (u16 BE
 * length + body) moved one way between two processes over one TCP connection
 * on 127.0.0.1, either in the clear or inside TLS 1.3 with
 * TLS_AES_256_GCM_SHA384 (OpenSSL defaults otherwise). The server's
 * self-signed P-256 certificate is generated at start.
 *
 *   bench_tls --mode tls|raw --size BYTES [--millis MS]
 *
 * The sender packs frames into writes of at most 16 KiB (one TLS record);
 * the receiver parses every frame and answers one byte when all arrived. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench_util.h"

#define WRITE_MAX 16384

typedef struct conn {
  int fd;
  SSL *ssl; /* NULL: raw */
} conn;

static int conn_write(conn *c, const uint8_t *p, size_t len) {
  while (len) {
    int n = c->ssl ? SSL_write(c->ssl, p, (int)len) : (int)write(c->fd, p, len);
    if (n <= 0) return -1;
    p += n;
    len -= (size_t)n;
  }
  return 0;
}

static int conn_read(conn *c, uint8_t *p, size_t cap) {
  return c->ssl ? SSL_read(c->ssl, p, (int)cap) : (int)read(c->fd, p, cap);
}

static void die(const char *what) {
  fprintf(stderr, "bench_tls: %s\n", what);
  ERR_print_errors_fp(stderr);
  exit(2);
}

static void make_cert(EVP_PKEY **key, X509 **cert) {
  *key = EVP_EC_gen("P-256");
  if (!*key) die("key");
  X509 *x = X509_new();
  X509_set_version(x, 2);
  ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
  X509_gmtime_adj(X509_getm_notBefore(x), 0);
  X509_gmtime_adj(X509_getm_notAfter(x), 3600);
  X509_set_pubkey(x, *key);
  X509_NAME *name = X509_get_subject_name(x);
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)"localhost", -1, -1,
                             0);
  X509_set_issuer_name(x, name);
  if (!X509_sign(x, *key, EVP_sha256())) die("sign");
  *cert = x;
}

/* Receiver: read frames until `total` arrived, then answer one byte. */
static void serve(conn *c, uint64_t total) {
  static uint8_t buf[1 << 17];
  size_t have = 0;
  uint64_t frames = 0;
  while (frames < total) {
    int n = conn_read(c, buf + have, sizeof buf - have);
    if (n <= 0) die("read");
    have += (size_t)n;
    size_t off = 0;
    while (have - off >= 2) {
      size_t flen = ((size_t)buf[off] << 8) | buf[off + 1];
      if (have - off < 2 + flen) break;
      off += 2 + flen;
      frames++;
    }
    memmove(buf, buf + off, have - off);
    have -= off;
  }
  uint8_t one = 1;
  if (conn_write(c, &one, 1)) die("answer");
}

static double send_batch(conn *c, const uint8_t *frame, size_t flen, uint64_t n) {
  static uint8_t out[WRITE_MAX + 65540];
  double t0 = bench_now();
  size_t used = 0;
  for (uint64_t i = 0; i < n; i++) {
    if (used && used + flen > WRITE_MAX) {
      if (conn_write(c, out, used)) die("write");
      used = 0;
    }
    if (flen > WRITE_MAX) {
      if (conn_write(c, frame, flen)) die("write");
    } else {
      memcpy(out + used, frame, flen);
      used += flen;
    }
  }
  if (used && conn_write(c, out, used)) die("write");
  uint8_t one;
  if (conn_read(c, &one, 1) != 1) die("no answer");
  return bench_now() - t0;
}

int main(int argc, char **argv) {
  bool tls = !strcmp(bench_arg(argc, argv, "--mode", "tls"), "tls");
  size_t size = (size_t)bench_arg_long(argc, argv, "--size", 1024);
  double seconds = (double)bench_arg_long(argc, argv, "--millis", 2000) / 1000.0;
  if (size > 65535) die("size");
  EVP_PKEY *key = NULL;
  X509 *cert = NULL;
  if (tls) make_cert(&key, &cert);

  int lfd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  socklen_t slen = sizeof sa;
  if (bind(lfd, (struct sockaddr *)&sa, sizeof sa) || listen(lfd, 1) ||
      getsockname(lfd, (struct sockaddr *)&sa, &slen))
    die("listen");
  int ctl[2]; /* parent tells the child how many frames each batch has */
  if (pipe(ctl)) die("pipe");

  pid_t pid = fork();
  if (pid == 0) {
    close(ctl[1]);
    int fd = accept(lfd, NULL, NULL);
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    conn c = {.fd = fd};
    if (tls) {
      SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
      SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION);
      SSL_CTX_set_ciphersuites(ctx, "TLS_AES_256_GCM_SHA384");
      if (SSL_CTX_use_certificate(ctx, cert) != 1 || SSL_CTX_use_PrivateKey(ctx, key) != 1)
        die("cert");
      c.ssl = SSL_new(ctx);
      SSL_set_fd(c.ssl, fd);
      if (SSL_accept(c.ssl) != 1) die("accept");
    }
    uint64_t n;
    while (read(ctl[0], &n, sizeof n) == sizeof n) serve(&c, n);
    _exit(0);
  }
  close(ctl[0]);
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (connect(fd, (struct sockaddr *)&sa, sizeof sa)) die("connect");
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  conn c = {.fd = fd};
  if (tls) {
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION);
    SSL_CTX_set_ciphersuites(ctx, "TLS_AES_256_GCM_SHA384");
    c.ssl = SSL_new(ctx);
    SSL_set_fd(c.ssl, fd);
    if (SSL_connect(c.ssl) != 1) die("connect");
    if (strcmp(SSL_get_cipher_name(c.ssl), "TLS_AES_256_GCM_SHA384") ||
        SSL_version(c.ssl) != TLS1_3_VERSION)
      die("negotiated suite");
  }
  uint8_t *frame = malloc(size + 2);
  frame[0] = (uint8_t)(size >> 8);
  frame[1] = (uint8_t)size;
  for (size_t i = 0; i < size; i++) frame[2 + i] = (uint8_t)i;

  uint64_t n = 2000;
  double rate = 0;
  for (int phase = 0; phase < 2; phase++) {
    if (phase == 1) n = (uint64_t)(rate * seconds) > 1000 ? (uint64_t)(rate * seconds) : 1000;
    if (write(ctl[1], &n, sizeof n) != sizeof n) die("ctl");
    double dt = send_batch(&c, frame, size + 2, n);
    rate = (double)n / dt;
  }
  const char *mode = tls ? "tls" : "raw";
  char name[64];
  snprintf(name, sizeof name, "%s_%zu_MBps", mode, size);
  bench_result(name, rate * (double)size / 1e6, "MB/s");
  snprintf(name, sizeof name, "%s_%zu_msgps", mode, size);
  bench_result(name, rate, "msg/s");
  close(ctl[1]);
  waitpid(pid, NULL, 0);
  free(frame);
  return 0;
}
