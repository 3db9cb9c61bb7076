/* Trust policies of identity channels (identity spec §6.6). Policies are
 * local: nothing about them is on the wire. Unlike Rust v0.18, they always see
 * the *verified* identifier (spec §10 item 1). */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "ockam/identity_channel.h"

#define MOD "trust"
/* Largest contacts file read (hex doubles the size of each Contact). */
#define TRUST_FILE_MAX (1u << 20)

typedef enum trust_kind { TRUST_EVERYONE, TRUST_IDS, TRUST_CONTACTS, TRUST_FN } trust_kind;

struct ockam_trust_policy {
  unsigned refs;
  trust_kind kind;
  char (*ids)[OCKAM_IDENTIFIER_BUF];
  ockam_contact **contacts;
  size_t n;
  ockam_trust_fn fn;
  void *arg;
};

static int policy_new(trust_kind kind, ockam_trust_policy **out) {
  if (!out) return OCKAM_EINVAL;
  *out = calloc(1, sizeof **out);
  if (!*out) return OCKAM_ENOMEM;
  (*out)->refs = 1;
  (*out)->kind = kind;
  return OCKAM_OK;
}

int ockam_trust_everyone(ockam_trust_policy **out) {
  return policy_new(TRUST_EVERYONE, out);
}

int ockam_trust_identifiers(const char *const *ids, size_t n, ockam_trust_policy **out) {
  if (!ids || n == 0 || !out) return OCKAM_EINVAL;
  ockam_trust_policy *p;
  int rc = policy_new(TRUST_IDS, &p);
  if (rc) return rc;
  p->ids = calloc(n, sizeof *p->ids);
  if (!p->ids) rc = OCKAM_ENOMEM;
  for (size_t i = 0; !rc && i < n; i++) {
    if (!ids[i] || ockam_identifier_parse(ids[i], p->ids[i]) != OCKAM_OK) rc = OCKAM_EINVAL;
  }
  p->n = n;
  if (rc) {
    ockam_trust_policy_free(p);
    return rc;
  }
  *out = p;
  return OCKAM_OK;
}

int ockam_trust_callback(ockam_trust_fn fn, void *arg, ockam_trust_policy **out) {
  if (!fn) return OCKAM_EINVAL;
  int rc = policy_new(TRUST_FN, out);
  if (rc) return rc;
  (*out)->fn = fn;
  (*out)->arg = arg;
  return OCKAM_OK;
}

static int hexval(int c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

static int add_contact(ockam_trust_policy *p, const uint8_t *b, size_t len) {
  ockam_contact **grown = realloc(p->contacts, (p->n + 1) * sizeof *grown);
  if (!grown) return OCKAM_ENOMEM;
  p->contacts = grown;
  int rc = ockam_contact_decode(b, len, &p->contacts[p->n]);
  if (rc) return rc;
  p->n++;
  return OCKAM_OK;
}

/* One Contact per line in hex; '#' comments and blank lines ignored. */
static int parse_hex_lines(ockam_trust_policy *p, const char *text, size_t len) {
  uint8_t *bytes = malloc(len / 2 + 1);
  if (!bytes) return OCKAM_ENOMEM;
  int rc = OCKAM_OK;
  size_t i = 0;
  while (!rc && i < len) {
    size_t end = i;
    while (end < len && text[end] != '\n') end++;
    size_t a = i, b = end;
    while (a < b && (text[a] == ' ' || text[a] == '\t' || text[a] == '\r')) a++;
    while (b > a && (text[b - 1] == ' ' || text[b - 1] == '\t' || text[b - 1] == '\r')) b--;
    if (a < b && text[a] != '#') {
      if ((b - a) % 2) rc = OCKAM_EMALFORMED;
      size_t n = 0;
      for (size_t k = a; !rc && k < b; k += 2) {
        int hi = hexval(text[k]), lo = hexval(text[k + 1]);
        if (hi < 0 || lo < 0)
          rc = OCKAM_EMALFORMED;
        else
          bytes[n++] = (uint8_t)(hi << 4 | lo);
      }
      if (!rc) rc = add_contact(p, bytes, n);
    }
    i = end + 1;
  }
  free(bytes);
  return rc;
}

int ockam_trust_contacts_file(const char *path, ockam_trust_policy **out) {
  if (!path || !out) return OCKAM_EINVAL;
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return errno == ENOENT ? OCKAM_ENOTFOUND : OCKAM_EIO;
  struct stat st;
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size > TRUST_FILE_MAX) {
    close(fd);
    return OCKAM_EMALFORMED;
  }
  size_t size = (size_t)st.st_size, got = 0;
  char *text = malloc(size + 1);
  if (!text) {
    close(fd);
    return OCKAM_ENOMEM;
  }
  while (got < size) {
    ssize_t r = read(fd, text + got, size - got);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) break;
    got += (size_t)r;
  }
  close(fd);
  if (got != size) {
    free(text);
    return OCKAM_EIO;
  }
  ockam_trust_policy *p;
  int rc = policy_new(TRUST_CONTACTS, &p);
  if (!rc) {
    /* A raw Contact starts with its identifier's length, 0x40 ('@'); hex and
     * comments never do. */
    if (size > 0 && (uint8_t)text[0] == 0x40)
      rc = add_contact(p, (const uint8_t *)text, size);
    else
      rc = parse_hex_lines(p, text, size);
    if (!rc && p->n == 0) rc = OCKAM_EMALFORMED;
    if (rc) ockam_trust_policy_free(p);
  }
  free(text);
  if (rc) {
    LOG_WARN(MOD, "cannot load trusted contacts from %s (%s)", path, ockam_strerror(rc));
    return rc;
  }
  *out = p;
  return OCKAM_OK;
}

void ockam_trust_policy_free(ockam_trust_policy *p) {
  if (!p || --p->refs > 0) return;
  if (p->contacts)
    for (size_t i = 0; i < p->n; i++) ockam_contact_free(p->contacts[i]);
  free(p->contacts);
  free(p->ids);
  free(p);
}

ockam_trust_policy *ockami_trust_policy_ref(ockam_trust_policy *p) {
  if (p) p->refs++;
  return p;
}

int ockam_trust_policy_check(const ockam_trust_policy *p, const ockam_contact *peer) {
  if (!p || !peer) return OCKAM_EINVAL;
  const char *id = ockam_contact_identifier_str(peer);
  if (!id) return OCKAM_EUNTRUSTED;
  switch (p->kind) {
    case TRUST_EVERYONE:
      return OCKAM_OK;
    case TRUST_IDS:
      for (size_t i = 0; i < p->n; i++)
        if (!strcmp(p->ids[i], id)) return OCKAM_OK;
      return OCKAM_EUNTRUSTED;
    case TRUST_CONTACTS:
      for (size_t i = 0; i < p->n; i++) {
        if (strcmp(ockam_contact_identifier_str(p->contacts[i]), id)) continue;
        /* Same identity: what it presents must be what we hold, or that
         * history with further (verified) events, e.g. a key rotation. */
        return ockam_contact_check_extends(p->contacts[i], peer) == OCKAM_OK ? OCKAM_OK
                                                                             : OCKAM_EUNTRUSTED;
      }
      return OCKAM_EUNTRUSTED;
    case TRUST_FN:
      return p->fn(p->arg, id, peer) == 0 ? OCKAM_OK : OCKAM_EUNTRUSTED;
  }
  return OCKAM_EUNTRUSTED;
}
