/* A loopback TCP proxy for tests: records what passes, and on request cuts
 * connections and splits/delays writes. Runs on its own thread. */
#ifndef OCKAM_TEST_PROXY_H
#define OCKAM_TEST_PROXY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct tu_proxy_opts {
  bool record;            /* keep every byte in both directions */
  uint32_t cut_per_mille; /* chance per read that the connection pair is cut */
  uint32_t split_max;     /* >0: forward in random chunks of 1..split_max bytes */
  uint32_t delay_us_max;  /* random delay before each chunk */
  unsigned seed;
} tu_proxy_opts;

typedef struct tu_proxy tu_proxy;

/* Listen on 127.0.0.1:<free port> (written to listen_out) and relay to target. */
tu_proxy *tu_proxy_start(const char *target, const tu_proxy_opts *opts, char *listen_out,
                         size_t cap);
void tu_proxy_stop(tu_proxy *p);
/* True when needle occurs in the recorded bytes of either direction. */
bool tu_proxy_saw(tu_proxy *p, const void *needle, size_t len);
size_t tu_proxy_bytes(tu_proxy *p);
/* Close every relayed connection now. */
void tu_proxy_cut_all(tu_proxy *p);
/* Close only the target side of every relayed connection and open a new one
 * in its place: the clients' connections stay up, the target sees them go
 * and come back (as a hub behind a load balancer that lost them would). */
void tu_proxy_cut_upstream(tu_proxy *p);
unsigned tu_proxy_cuts(tu_proxy *p);

#endif
