/* Mailboxes: the blocking receive of main() (the guide's `ctx.receive()`),
 * a worker whose messages queue up until ockam_mailbox_receive() takes them. */
#include <stdlib.h>

#include "log.h"
#include "node.h"
#include "ockam/limits.h"

#define MOD "node"

/* The handle the user holds. While its node lives, worker is the mailbox's
 * worker; once the node destroyed it, worker and node are NULL and only
 * ockam_mailbox_destroy() is left to do (see "Handles" in ockam/node.h). */
struct ockam_mailbox {
  ockam_worker *worker;
  ockam_node *node;
  ockam_message *head, *tail;
  size_t count;
};

static int mailbox_handle(ockam_worker *w, ockam_message *msg) {
  ockam_mailbox *mb = ockam_worker_user(w);
  if (!mb) return OCKAM_ECLOSED;
  if (mb->count >= OCKAM_MAILBOX_DEPTH) {
    LOG_WARN(MOD, "mailbox %s full, dropping message", ockam_worker_address(w));
    return OCKAM_EFULL;
  }
  ockam_message_keep(msg);
  msg->next = NULL;
  if (mb->tail)
    mb->tail->next = msg;
  else
    mb->head = msg;
  mb->tail = msg;
  mb->count++;
  return OCKAM_OK;
}

static void mailbox_free_queue(ockam_mailbox *mb) {
  ockam_message *m = mb->head;
  while (m) {
    ockam_message *n = m->next;
    ockam_message_free(m);
    m = n;
  }
  mb->head = mb->tail = NULL;
  mb->count = 0;
}

/* The worker is gone while the user still holds the mailbox: only the node's
 * destruction does that (ockam_mailbox_destroy detaches first). Messages
 * already queued stay receivable; the handle is freed by its destroy. */
static void mailbox_stopped(ockam_worker *w) {
  ockam_mailbox *mb = ockam_worker_user(w);
  if (!mb) return;
  mb->worker = NULL;
  mb->node = NULL;
}

static const ockam_worker_ops mailbox_ops = {mailbox_handle, mailbox_stopped};

int ockam_mailbox_create(ockam_node *node, const char *address, ockam_mailbox **out) {
  if (!node || !out) return OCKAM_EINVAL;
  ockam_mailbox *mb = calloc(1, sizeof *mb);
  if (!mb) return OCKAM_ENOMEM;
  mb->node = node;
  const char *addrs[1] = {address};
  int rc = ockam_worker_start(node, addrs, 1, &mailbox_ops, mb, &mb->worker);
  if (rc) {
    free(mb);
    return rc;
  }
  *out = mb;
  return OCKAM_OK;
}

static bool mailbox_ready(void *arg) {
  ockam_mailbox *mb = arg;
  return mb->head != NULL || !mb->worker;
}

int ockami_mailbox_peek(ockam_mailbox *mb, int64_t timeout_ms, const ockam_message **out) {
  if (!mb || !out) return OCKAM_EINVAL;
  int rc = OCKAM_OK;
  if (!mb->head && mb->worker) rc = ockam_node_run_until(mb->node, timeout_ms, mailbox_ready, mb);
  if (mb->head) {
    *out = mb->head;
    return OCKAM_OK;
  }
  if (!mb->worker) return OCKAM_ECLOSED;
  return rc ? rc : OCKAM_ETIMEDOUT;
}

int ockam_mailbox_receive(ockam_mailbox *mb, int64_t timeout_ms, ockam_message **out) {
  if (!mb || !out) return OCKAM_EINVAL;
  const ockam_message *head;
  int rc = ockami_mailbox_peek(mb, timeout_ms, &head);
  if (rc) return rc;
  ockam_message *m = mb->head;
  mb->head = m->next;
  if (!mb->head) mb->tail = NULL;
  mb->count--;
  m->next = NULL;
  m->flags &= ~(uint32_t)OCKAMI_MSG_HANDED_OFF;
  *out = m;
  return OCKAM_OK;
}

int ockam_mailbox_allow_identifiers(ockam_mailbox *mb, const char *const *ids, size_t n) {
  if (!mb || !mb->worker) return OCKAM_EINVAL;
  return ockam_worker_allow_identifiers(mb->worker, ids, n);
}

const char *ockam_mailbox_address(const ockam_mailbox *mb) {
  return mb && mb->worker ? ockam_worker_address(mb->worker) : "";
}

void ockam_mailbox_destroy(ockam_mailbox *mb) {
  if (!mb) return;
  if (mb->worker) {
    /* Detach so the deferred `stopped` callback does not touch mb. */
    ockami_worker_set_user(mb->worker, NULL);
    ockam_worker_stop(mb->worker);
  }
  mailbox_free_queue(mb);
  free(mb);
}
