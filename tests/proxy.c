#include "proxy.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "testutil.h"

#define MAX_PAIRS 256

typedef struct pair {
  int a, b; /* client side, server side; -1 when unused */
} pair;

struct tu_proxy {
  tu_proxy_opts opt;
  int lfd;
  int wake[2];
  struct sockaddr_in target;
  pthread_t thread;
  pthread_mutex_t lock;
  pair pairs[MAX_PAIRS];
  uint8_t *rec;
  size_t rec_len, rec_cap;
  unsigned cuts;
  bool stop, cut_all, cut_up;
  unsigned rng;
};

static void record(tu_proxy *p, const uint8_t *b, size_t n) {
  if (!p->opt.record) return;
  pthread_mutex_lock(&p->lock);
  if (p->rec_len + n > p->rec_cap) {
    size_t cap = p->rec_cap ? p->rec_cap : 65536;
    while (cap < p->rec_len + n) cap *= 2;
    p->rec = realloc(p->rec, cap);
    p->rec_cap = cap;
  }
  memcpy(p->rec + p->rec_len, b, n);
  p->rec_len += n;
  pthread_mutex_unlock(&p->lock);
}

static void close_pair(tu_proxy *p, pair *pr) {
  if (pr->a >= 0) close(pr->a);
  if (pr->b >= 0) close(pr->b);
  pr->a = pr->b = -1;
}

static int relay(tu_proxy *p, int from, int to) {
  uint8_t buf[65536];
  ssize_t n = recv(from, buf, sizeof buf, 0);
  if (n <= 0) return -1;
  record(p, buf, (size_t)n);
  if (p->opt.cut_per_mille && (unsigned)(rand_r(&p->rng) % 1000) < p->opt.cut_per_mille) {
    /* Forward a random prefix, then cut: the peer sees a torn frame. */
    size_t part = (size_t)rand_r(&p->rng) % (size_t)n;
    tu_send_all(to, buf, part);
    p->cuts++;
    return -1;
  }
  size_t off = 0;
  while (off < (size_t)n) {
    size_t chunk = (size_t)n - off;
    if (p->opt.split_max) {
      size_t c = 1 + (size_t)rand_r(&p->rng) % p->opt.split_max;
      if (c < chunk) chunk = c;
    }
    if (p->opt.delay_us_max) usleep((useconds_t)(rand_r(&p->rng) % p->opt.delay_us_max));
    if (tu_send_all(to, buf + off, chunk)) return -1;
    off += chunk;
  }
  return 0;
}

static void *proxy_main(void *arg) {
  tu_proxy *p = arg;
  struct pollfd fds[2 + 2 * MAX_PAIRS];
  int owner[2 + 2 * MAX_PAIRS];
  for (;;) {
    pthread_mutex_lock(&p->lock);
    bool stop = p->stop, cut = p->cut_all, cut_up = p->cut_up;
    p->cut_all = p->cut_up = false;
    pthread_mutex_unlock(&p->lock);
    if (stop) break;
    if (cut_up)
      for (int i = 0; i < MAX_PAIRS; i++)
        if (p->pairs[i].a >= 0) {
          close(p->pairs[i].b);
          p->pairs[i].b = socket(AF_INET, SOCK_STREAM, 0);
          if (p->pairs[i].b < 0 ||
              connect(p->pairs[i].b, (struct sockaddr *)&p->target, sizeof p->target) != 0)
            close_pair(p, &p->pairs[i]);
          p->cuts++;
        }
    if (cut)
      for (int i = 0; i < MAX_PAIRS; i++)
        if (p->pairs[i].a >= 0) {
          close_pair(p, &p->pairs[i]);
          p->cuts++;
        }
    int n = 0;
    fds[n].fd = p->lfd, fds[n].events = POLLIN, owner[n++] = -1;
    fds[n].fd = p->wake[0], fds[n].events = POLLIN, owner[n++] = -1;
    for (int i = 0; i < MAX_PAIRS; i++) {
      if (p->pairs[i].a < 0) continue;
      fds[n].fd = p->pairs[i].a, fds[n].events = POLLIN, owner[n++] = i;
      fds[n].fd = p->pairs[i].b, fds[n].events = POLLIN, owner[n++] = i;
    }
    if (poll(fds, (nfds_t)n, 200) <= 0) continue;
    if (fds[1].revents) {
      char c[64];
      if (read(p->wake[0], c, sizeof c) < 0) continue;
    }
    if (fds[0].revents & POLLIN) {
      int a = accept(p->lfd, NULL, NULL);
      if (a >= 0) {
        int b = socket(AF_INET, SOCK_STREAM, 0);
        int slot = -1;
        for (int i = 0; i < MAX_PAIRS && slot < 0; i++)
          if (p->pairs[i].a < 0) slot = i;
        if (slot < 0 || connect(b, (struct sockaddr *)&p->target, sizeof p->target) != 0) {
          close(a);
          close(b);
        } else {
          p->pairs[slot].a = a;
          p->pairs[slot].b = b;
        }
      }
    }
    for (int k = 2; k < n; k++) {
      int i = owner[k];
      if (!fds[k].revents || p->pairs[i].a < 0) continue;
      int from = fds[k].fd;
      if (from != p->pairs[i].a && from != p->pairs[i].b) continue;
      int to = from == p->pairs[i].a ? p->pairs[i].b : p->pairs[i].a;
      if (relay(p, from, to) != 0) close_pair(p, &p->pairs[i]);
    }
  }
  for (int i = 0; i < MAX_PAIRS; i++) close_pair(p, &p->pairs[i]);
  return NULL;
}

tu_proxy *tu_proxy_start(const char *target, const tu_proxy_opts *opts, char *listen_out,
                         size_t cap) {
  tu_proxy *p = calloc(1, sizeof *p);
  if (opts) p->opt = *opts;
  p->rng = p->opt.seed ? p->opt.seed : 12345u;
  for (int i = 0; i < MAX_PAIRS; i++) p->pairs[i].a = p->pairs[i].b = -1;
  char host[64];
  const char *colon = strrchr(target, ':');
  memcpy(host, target, (size_t)(colon - target));
  host[colon - target] = '\0';
  p->target.sin_family = AF_INET;
  p->target.sin_port = htons((uint16_t)atoi(colon + 1));
  inet_pton(AF_INET, host, &p->target.sin_addr);
  p->lfd = socket(AF_INET, SOCK_STREAM, 0);
  int one = 1;
  setsockopt(p->lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  struct sockaddr_in a = {0};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  if (bind(p->lfd, (struct sockaddr *)&a, sizeof a) || listen(p->lfd, 128) ||
      getsockname(p->lfd, (struct sockaddr *)&a, &len) || pipe(p->wake)) {
    close(p->lfd);
    free(p);
    return NULL;
  }
  snprintf(listen_out, cap, "127.0.0.1:%d", ntohs(a.sin_port));
  pthread_mutex_init(&p->lock, NULL);
  pthread_create(&p->thread, NULL, proxy_main, p);
  return p;
}

void tu_proxy_stop(tu_proxy *p) {
  if (!p) return;
  pthread_mutex_lock(&p->lock);
  p->stop = true;
  pthread_mutex_unlock(&p->lock);
  if (write(p->wake[1], "x", 1) < 0) { /* the poll timeout wakes it anyway */
  }
  pthread_join(p->thread, NULL);
  close(p->lfd);
  close(p->wake[0]);
  close(p->wake[1]);
  pthread_mutex_destroy(&p->lock);
  free(p->rec);
  free(p);
}

bool tu_proxy_saw(tu_proxy *p, const void *needle, size_t len) {
  pthread_mutex_lock(&p->lock);
  bool found = p->rec_len >= len && memmem(p->rec, p->rec_len, needle, len) != NULL;
  pthread_mutex_unlock(&p->lock);
  return found;
}

size_t tu_proxy_bytes(tu_proxy *p) {
  pthread_mutex_lock(&p->lock);
  size_t n = p->rec_len;
  pthread_mutex_unlock(&p->lock);
  return n;
}

void tu_proxy_cut_all(tu_proxy *p) {
  pthread_mutex_lock(&p->lock);
  p->cut_all = true;
  pthread_mutex_unlock(&p->lock);
  if (write(p->wake[1], "x", 1) < 0) {
  }
}

void tu_proxy_cut_upstream(tu_proxy *p) {
  pthread_mutex_lock(&p->lock);
  p->cut_up = true;
  pthread_mutex_unlock(&p->lock);
  if (write(p->wake[1], "x", 1) < 0) {
  }
}

unsigned tu_proxy_cuts(tu_proxy *p) {
  pthread_mutex_lock(&p->lock);
  unsigned n = p->cuts;
  pthread_mutex_unlock(&p->lock);
  return n;
}
