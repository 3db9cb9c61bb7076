/* Per-connection accounting for the hub's quotas.
 *
 * A request's peer is the first hop of its return route: for a client on a
 * TCP connection that is the connection's local address `0#<16 hex>`, which
 * the transport registers as a worker while the connection is open and
 * releases when it closes. The hub keeps one counter set per peer; a peer
 * whose address no longer leads anywhere is gone, and once nothing it
 * started is still in flight its entry is freed by the periodic sweep.
 */
#include <stdlib.h>
#include <string.h>

#include "hub_internal.h"
#include "node.h"
#include "route.h"

void ockami_peers_init(ockami_peers *ps, ockam_node *node) {
  ps->node = node;
  ps->authz = NULL; /* everything allowed until the hub sets its access control */
  ockami_map_init(&ps->map);
}

ockami_peer *ockami_peers_get(ockami_peers *ps, const ockam_route *ret) {
  ockam_address a;
  if (!ockami_route_first(ret, &a)) return NULL;
  uint8_t key[1 + 256]; /* an address value is at most 255 bytes */
  key[0] = a.type;
  memcpy(key + 1, a.value, a.len);
  ockami_peer *p = ockami_map_get(&ps->map, key, 1 + a.len);
  if (p) return p;
  p = calloc(1, sizeof *p + 1 + a.len);
  if (!p) return NULL;
  p->key_len = 1 + a.len;
  memcpy(p->key, key, p->key_len);
  if (ockami_map_put(&ps->map, key, p->key_len, p)) {
    free(p);
    return NULL;
  }
  return p;
}

bool ockami_peer_alive(const ockami_peers *ps, const ockami_peer *p) {
  /* Only local addresses can be checked; other types are assumed alive. */
  if (p->key[0] != OCKAM_ADDRESS_LOCAL) return true;
  return ockami_node_find(ps->node, p->key + 1, p->key_len - 1) != NULL;
}

static bool peer_busy(const ockami_peer *p) {
  return p->n[OCKAMI_PEER_FORWARDERS] || p->n[OCKAMI_PEER_PULLS] || p->n[OCKAMI_PEER_PUSHES];
}

void ockami_peers_sweep(ockami_peers *ps) {
  for (;;) {
    /* The map forbids removal while iterating: collect, then remove. */
    ockami_peer *gone[64];
    size_t n = 0, bucket = 0;
    for (ockami_map_entry *e = ockami_map_next(&ps->map, &bucket, NULL); e && n < 64;
         e = ockami_map_next(&ps->map, &bucket, e)) {
      ockami_peer *p = e->value;
      if (!peer_busy(p) && !ockami_peer_alive(ps, p)) gone[n++] = p;
    }
    for (size_t i = 0; i < n; i++) {
      ockami_map_remove(&ps->map, gone[i]->key, gone[i]->key_len);
      free(gone[i]);
    }
    if (n < 64) return;
  }
}

void ockami_peers_free(ockami_peers *ps) {
  size_t bucket = 0;
  for (ockami_map_entry *e = ockami_map_next(&ps->map, &bucket, NULL); e;
       e = ockami_map_next(&ps->map, &bucket, e))
    free(e->value);
  ockami_map_free(&ps->map);
}
