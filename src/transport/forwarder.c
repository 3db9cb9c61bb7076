/* Client side of the hub's forwarding service (spec §9). */
#include "ockam/forwarder.h"

#include <stdlib.h>
#include <string.h>

#include "bare.h"
#include "log.h"
#include "message.h"
#include "node.h"

#define MOD "forwarder"

typedef enum fw_state { FW_REGISTERING, FW_READY, FW_FAILED } fw_state;

/* The user's handle; worker is NULL once the node destroyed it (see
 * "Handles" in ockam/node.h). */
struct ockam_forwarder {
  ockam_worker *worker;
  fw_state state;
  char destination[OCKAM_ADDRESS_MAX_LEN + 1];
  char remote[OCKAM_ADDRESS_MAX_LEN + 1];
};

static int fw_handle(ockam_worker *w, ockam_message *m) {
  ockam_forwarder *f = ockam_worker_user(w);
  if (!f) return OCKAM_ECLOSED;
  if (f->state == FW_REGISTERING) {
    /* The hub echoes our "register" with return route [.., 0#F]. */
    ockam_address last = {0};
    uint32_t pos = 0;
    ockam_address a;
    while (ockami_route_next(&m->ret, &pos, &a)) last = a;
    const char *s;
    size_t len;
    if (ockam_message_get_string(m, &s, &len) != OCKAM_OK || len != 8 ||
        memcmp(s, "register", 8) != 0 || last.type != OCKAM_ADDRESS_LOCAL || last.len == 0) {
      LOG_WARN(MOD, "unexpected answer to registration");
      f->state = FW_FAILED;
      return OCKAM_EPROTO;
    }
    memcpy(f->remote, last.value, last.len);
    f->remote[last.len] = '\0';
    f->state = FW_READY;
    return OCKAM_OK;
  }
  /* Re-target to the destination; keep the return route (it leads back). */
  ockam_route_clear(&m->onward);
  int rc =
      ockam_route_append(&m->onward, OCKAM_ADDRESS_LOCAL, f->destination, strlen(f->destination));
  if (!rc) rc = ockam_forward(ockam_worker_node(w), m);
  return rc;
}

/* Only the node's destruction stops an attached worker: ockam_forwarder_close
 * detaches first. */
static void fw_stopped(ockam_worker *w) {
  ockam_forwarder *f = ockam_worker_user(w);
  if (f) f->worker = NULL;
}

static const ockam_worker_ops fw_ops = {fw_handle, fw_stopped};

static bool fw_done(void *arg) {
  return ((ockam_forwarder *)arg)->state != FW_REGISTERING;
}

int ockam_forwarder_register(ockam_node *node, const ockam_route *route_to_hub,
                             const char *destination, int64_t timeout_ms, char *remote_address,
                             size_t cap, ockam_forwarder **out) {
  if (!node || !route_to_hub || !destination || !remote_address || !out) return OCKAM_EINVAL;
  /* Any address the hub may choose must fit: never a truncated one. */
  if (cap < OCKAM_FORWARDER_ADDRESS_CAP) return OCKAM_ETOOSMALL;
  if (strlen(destination) > OCKAM_ADDRESS_MAX_LEN) return OCKAM_EOVERFLOW;
  ockam_forwarder *f = calloc(1, sizeof *f);
  if (!f) return OCKAM_ENOMEM;
  strcpy(f->destination, destination);
  int rc = ockam_worker_start(node, NULL, 0, &fw_ops, f, &f->worker);
  if (rc) {
    free(f);
    return rc;
  }
  ockam_route *r = NULL;
  if (!(rc = ockam_route_copy(route_to_hub, &r)) &&
      !(rc = ockam_route_append_str(r, "forwarding_service"))) {
    uint8_t payload[9] = {8, 'r', 'e', 'g', 'i', 's', 't', 'e', 'r'};
    rc = ockam_send(node, ockam_worker_address(f->worker), r, payload, sizeof payload);
  }
  ockam_route_free(r);
  if (!rc) rc = ockam_node_run_until(node, timeout_ms, fw_done, f);
  if (!rc && f->state != FW_READY) rc = OCKAM_EPROTO;
  if (rc) {
    ockam_forwarder_close(f);
    return rc;
  }
  memcpy(remote_address, f->remote, strlen(f->remote) + 1);
  *out = f;
  return OCKAM_OK;
}

void ockam_forwarder_close(ockam_forwarder *f) {
  if (!f) return;
  if (f->worker) {
    ockami_worker_set_user(f->worker, NULL);
    ockam_worker_stop(f->worker);
  }
  free(f);
}
