/* The hub's ACL file (INI, parsed by libinih) and the authorization checks
 * made at each request (acl.h). */
#include "acl.h"

#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <ini.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "message.h"
#include "node.h"

#define MOD "acl"
/* Limits of one file: a typo should not make a hub allocate without bound. */
#define MAX_SUBJECTS 4096
#define MAX_RULES 4096
#define MAX_MEMBERS 4096
#define MAX_PATTERN 512

typedef enum subject_kind {
  SUB_IDENTITY,
  SUB_GROUP,
  SUB_AUTHENTICATED,
  SUB_ANONYMOUS
} subject_kind;

typedef struct rule {
  char *pattern;
  unsigned rights;
} rule;

typedef struct subject {
  subject_kind kind;
  char name[128];                   /* the section's name */
  char ident[OCKAM_IDENTIFIER_BUF]; /* SUB_IDENTITY: its identifier */
  char (*members)[OCKAM_IDENTIFIER_BUF];
  size_t nmembers;
  rule *rules;
  size_t nrules;
  unsigned global; /* REGISTER, STATUS, ADMIN_DELETE */
  ockami_quota quota;
  bool has_streams, has_bytes, has_rate;
} subject;

struct ockami_acl {
  subject *subs;
  size_t n;
  ockami_anon anon;
  size_t nrules_total, nmembers_total;
};

/* ---- parsing --------------------------------------------------------------- */

typedef struct parse_ctx {
  ockami_acl *acl;
  subject *cur; /* NULL in [hub] or before any section */
  bool in_hub;
  int line; /* count of handler calls, for messages without a line number */
  char section[256];
  char *err;
  size_t cap;
  int rc;
} parse_ctx;

static int fail(parse_ctx *p, int rc, const char *fmt, ...) {
  if (p->rc) return 0;
  p->rc = rc;
  if (p->err && p->cap) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(p->err, p->cap, fmt, ap);
    va_end(ap);
  }
  return 0;
}

static subject *subject_find(ockami_acl *acl, subject_kind kind, const char *name) {
  for (size_t i = 0; i < acl->n; i++)
    if (acl->subs[i].kind == kind && !strcmp(acl->subs[i].name, name)) return &acl->subs[i];
  return NULL;
}

static int subject_get(ockami_acl *acl, subject_kind kind, const char *name, subject **out) {
  subject *s = subject_find(acl, kind, name);
  if (!s) {
    if (acl->n >= MAX_SUBJECTS) return OCKAM_EOVERFLOW;
    subject *ns = realloc(acl->subs, (acl->n + 1) * sizeof *ns);
    if (!ns) return OCKAM_ENOMEM;
    acl->subs = ns;
    s = &acl->subs[acl->n++];
    memset(s, 0, sizeof *s);
    s->kind = kind;
    snprintf(s->name, sizeof s->name, "%s", name);
  }
  *out = s;
  return OCKAM_OK;
}

static bool valid_group_name(const char *s) {
  size_t n = strlen(s);
  if (n == 0 || n > 40) return false;
  for (size_t i = 0; i < n; i++) {
    char c = s[i];
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
          c == '_' || c == '.'))
      return false;
  }
  return true;
}

/* "[identity ID]", "[group NAME]", "[authenticated]", "[anonymous]", "[hub]". */
static int open_section(parse_ctx *p, const char *section) {
  p->cur = NULL;
  p->in_hub = false;
  if (!strcmp(section, "hub")) {
    p->in_hub = true;
    return 1;
  }
  subject_kind kind;
  char name[128] = "";
  if (!strcmp(section, "authenticated")) {
    kind = SUB_AUTHENTICATED;
  } else if (!strcmp(section, "anonymous")) {
    kind = SUB_ANONYMOUS;
  } else if (!strncmp(section, "identity ", 9) || !strncmp(section, "group ", 6)) {
    kind = section[0] == 'i' ? SUB_IDENTITY : SUB_GROUP;
    const char *g = section + (kind == SUB_IDENTITY ? 9 : 6);
    while (*g == ' ') g++;
    if (!valid_group_name(g))
      return fail(p, OCKAM_EMALFORMED,
                  "[%s]: a name (at most 40 characters) is letters, digits, '-', '_', '.'",
                  section);
    snprintf(name, sizeof name, "%s", g);
  } else {
    return fail(p, OCKAM_EMALFORMED,
                "unknown section [%s] (hub, identity ID, group NAME, authenticated, anonymous)",
                section);
  }
  int rc = subject_get(p->acl, kind, name, &p->cur);
  if (rc) return fail(p, rc, "[%s]: too many sections", section);
  return 1;
}

static const struct {
  const char *name;
  unsigned bits;
} stream_rights[] = {{"create", OCKAMI_ACL_CREATE}, {"push", OCKAMI_ACL_PUSH},
                     {"pull", OCKAMI_ACL_PULL},     {"index", OCKAMI_ACL_INDEX},
                     {"delete", OCKAMI_ACL_DELETE}, {"all", OCKAMI_ACL_STREAM_ALL}},
  admin_rights[] = {{"status", OCKAMI_ACL_STATUS}, {"delete", OCKAMI_ACL_ADMIN_DELETE}},
  forward_rights[] = {{"register", OCKAMI_ACL_REGISTER}};

/* A list of rights separated by commas and/or spaces, each from the table. */
static int parse_rights(parse_ctx *p, const char *key, const char *list,
                        const __typeof__(stream_rights[0]) *table, size_t n, unsigned *out) {
  *out = 0;
  const char *s = list;
  while (*s) {
    while (*s == ',' || *s == ' ' || *s == '\t') s++;
    if (!*s) break;
    size_t len = strcspn(s, ", \t");
    size_t i = 0;
    for (; i < n; i++)
      if (strlen(table[i].name) == len && !strncmp(table[i].name, s, len)) break;
    if (i == n) return fail(p, OCKAM_EMALFORMED, "%s: unknown right '%.*s'", key, (int)len, s);
    *out |= table[i].bits;
    s += len;
  }
  if (!*out) return fail(p, OCKAM_EMALFORMED, "%s: no right given", key);
  return 1;
}

static int parse_number(const char *v, bool size, uint64_t *out) {
  char *end;
  if (!(*v >= '0' && *v <= '9')) return OCKAM_EMALFORMED;
  errno = 0;
  unsigned long long n = strtoull(v, &end, 10);
  if (errno) return OCKAM_EMALFORMED;
  uint64_t mult = 1;
  if (size && !strcmp(end, "KiB"))
    mult = 1024;
  else if (size && !strcmp(end, "MiB"))
    mult = 1024 * 1024;
  else if (size && !strcmp(end, "GiB"))
    mult = 1024ull * 1024 * 1024;
  else if (*end)
    return OCKAM_EMALFORMED;
  if (n > UINT64_MAX / mult) return OCKAM_EMALFORMED;
  *out = (uint64_t)n * mult;
  return OCKAM_OK;
}

static int add_rule(parse_ctx *p, const char *value) {
  subject *s = p->cur;
  size_t plen = strcspn(value, " \t");
  if (plen == 0 || plen > MAX_PATTERN)
    return fail(p, OCKAM_EMALFORMED, "stream = PATTERN RIGHTS: missing or too long pattern");
  unsigned rights;
  if (!parse_rights(p, "stream", value + plen, stream_rights,
                    sizeof stream_rights / sizeof stream_rights[0], &rights))
    return 0;
  if (p->acl->nrules_total >= MAX_RULES) return fail(p, OCKAM_EOVERFLOW, "too many rules");
  rule *nr = realloc(s->rules, (s->nrules + 1) * sizeof *nr);
  if (!nr) return fail(p, OCKAM_ENOMEM, "out of memory");
  s->rules = nr;
  char *pat = strndup(value, plen);
  if (!pat) return fail(p, OCKAM_ENOMEM, "out of memory");
  s->rules[s->nrules].pattern = pat;
  s->rules[s->nrules].rights = rights;
  s->nrules++;
  p->acl->nrules_total++;
  return 1;
}

static int add_member(parse_ctx *p, const char *value) {
  subject *s = p->cur;
  char wire[OCKAM_IDENTIFIER_BUF];
  if (ockam_identifier_parse(value, wire) != OCKAM_OK)
    return fail(p, OCKAM_EMALFORMED, "member: '%s' is not an identifier", value);
  if (p->acl->nmembers_total >= MAX_MEMBERS) return fail(p, OCKAM_EOVERFLOW, "too many members");
  char(*nm)[OCKAM_IDENTIFIER_BUF] = realloc(s->members, (s->nmembers + 1) * sizeof *nm);
  if (!nm) return fail(p, OCKAM_ENOMEM, "out of memory");
  s->members = nm;
  memcpy(s->members[s->nmembers++], wire, OCKAM_IDENTIFIER_BUF);
  p->acl->nmembers_total++;
  return 1;
}

static int handler(void *user, const char *section, const char *key, const char *value) {
  parse_ctx *p = user;
  p->line++;
  if (p->rc) return 0;
  static const char none[] = "";
  /* A new section (libinih repeats the section name with every key, and may
   * call once with key NULL when a section opens). */
  if (!section) section = none;
  if (strcmp(section, p->section)) {
    snprintf(p->section, sizeof p->section, "%s", section);
    if (!open_section(p, section)) return 0;
  }
  if (!key) return 1;
  if (!value) value = none;
  if (p->in_hub) {
    if (strcmp(key, "anonymous"))
      return fail(p, OCKAM_EMALFORMED, "[hub]: unknown key '%s' (anonymous)", key);
    if (!strcmp(value, "allow"))
      p->acl->anon = OCKAMI_ANON_ALLOW;
    else if (!strcmp(value, "deny"))
      p->acl->anon = OCKAMI_ANON_DENY;
    else
      return fail(p, OCKAM_EMALFORMED, "[hub] anonymous: allow or deny, not '%s'", value);
    return 1;
  }
  subject *s = p->cur;
  if (!s) return fail(p, OCKAM_EMALFORMED, "'%s' outside a section", key);
  if (!strcmp(key, "identifier")) {
    if (s->kind != SUB_IDENTITY)
      return fail(p, OCKAM_EMALFORMED, "identifier: only in [identity NAME]");
    if (ockam_identifier_parse(value, s->ident) != OCKAM_OK)
      return fail(p, OCKAM_EMALFORMED, "identifier: '%s' is not an identifier", value);
    return 1;
  }
  if (!strcmp(key, "stream")) return add_rule(p, value);
  if (!strcmp(key, "member")) {
    if (s->kind != SUB_GROUP) return fail(p, OCKAM_EMALFORMED, "member: only in [group NAME]");
    return add_member(p, value);
  }
  unsigned bits;
  if (!strcmp(key, "forward")) {
    if (!parse_rights(p, key, value, forward_rights, 1, &bits)) return 0;
    s->global |= bits;
    return 1;
  }
  if (!strcmp(key, "admin")) {
    if (!parse_rights(p, key, value, admin_rights, 2, &bits)) return 0;
    s->global |= bits;
    return 1;
  }
  uint64_t n;
  if (!strcmp(key, "quota_streams") || !strcmp(key, "quota_bytes") ||
      !strcmp(key, "quota_push_rate")) {
    if (s->kind == SUB_ANONYMOUS)
      return fail(p, OCKAM_EMALFORMED,
                  "%s: quotas are per identity (anonymous clients have the per-connection "
                  "limits)",
                  key);
    bool size = !strcmp(key, "quota_bytes");
    if (parse_number(value, size, &n))
      return fail(p, OCKAM_EMALFORMED, "%s: '%s' is not a number%s", key, value,
                  size ? " (optionally with KiB, MiB or GiB)" : "");
    if (!strcmp(key, "quota_streams")) {
      s->quota.streams = n;
      s->has_streams = true;
    } else if (size) {
      s->quota.bytes = n;
      s->has_bytes = true;
    } else {
      s->quota.push_rate = n;
      s->has_rate = true;
    }
    return 1;
  }
  return fail(p, OCKAM_EMALFORMED,
              "unknown key '%s' (identifier, member, stream, forward, admin, quota_streams, "
              "quota_bytes, quota_push_rate)",
              key);
}

void ockami_acl_free(ockami_acl *acl) {
  if (!acl) return;
  for (size_t i = 0; i < acl->n; i++) {
    subject *s = &acl->subs[i];
    for (size_t r = 0; r < s->nrules; r++) free(s->rules[r].pattern);
    free(s->rules);
    free(s->members);
  }
  free(acl->subs);
  free(acl);
}

int ockami_acl_parse(const char *text, size_t len, ockami_acl **out, char *err, size_t cap) {
  if (err && cap) err[0] = '\0';
  if (!out || (!text && len)) return OCKAM_EINVAL;
  *out = NULL;
  if (len > OCKAMI_ACL_FILE_MAX) {
    if (err && cap) snprintf(err, cap, "larger than %u bytes", OCKAMI_ACL_FILE_MAX);
    return OCKAM_EOVERFLOW;
  }
  if (memchr(text, 0, len)) {
    if (err && cap) snprintf(err, cap, "holds a NUL byte");
    return OCKAM_EMALFORMED;
  }
  char *copy = malloc(len + 1);
  ockami_acl *acl = calloc(1, sizeof *acl);
  if (!copy || !acl) {
    free(copy);
    free(acl);
    return OCKAM_ENOMEM;
  }
  if (len) memcpy(copy, text, len);
  copy[len] = '\0';
  char msg[256] = "";
  parse_ctx p = {.acl = acl, .err = msg, .cap = sizeof msg};
  int line = ini_parse_string(copy, handler, &p);
  free(copy);
  for (size_t i = 0; !line && !p.rc && i < acl->n; i++)
    if (acl->subs[i].kind == SUB_IDENTITY && !acl->subs[i].ident[0])
      fail(&p, OCKAM_EMALFORMED, "[identity %s] has no identifier = ID", acl->subs[i].name);
  if (line != 0 || p.rc) {
    int rc = p.rc ? p.rc : (line == -2 ? OCKAM_ENOMEM : OCKAM_EMALFORMED);
    if (err && cap) {
      if (line > 0)
        snprintf(err, cap, "line %d: %s", line, msg[0] ? msg : "not KEY = VALUE or [SECTION]");
      else
        snprintf(err, cap, "%s", msg[0] ? msg : "cannot parse");
    }
    ockami_acl_free(acl);
    return rc;
  }
  *out = acl;
  return OCKAM_OK;
}

int ockami_acl_load(const char *path, ockami_acl **out, char *err, size_t cap) {
  if (err && cap) err[0] = '\0';
  if (!path || !out) return OCKAM_EINVAL;
  *out = NULL;
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (err && cap) snprintf(err, cap, "%s: %s", path, strerror(errno));
    return errno == ENOENT ? OCKAM_ENOTFOUND : OCKAM_EIO;
  }
  struct stat sb;
  if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode) || sb.st_size > OCKAMI_ACL_FILE_MAX) {
    if (err && cap) snprintf(err, cap, "%s: not a regular file of at most 1 MiB", path);
    close(fd);
    return OCKAM_EIO;
  }
  size_t size = (size_t)sb.st_size, got = 0;
  char *buf = malloc(size + 1);
  if (!buf) {
    close(fd);
    return OCKAM_ENOMEM;
  }
  while (got < size) {
    ssize_t r = read(fd, buf + got, size - got);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) break;
    got += (size_t)r;
  }
  close(fd);
  char msg[300];
  int rc = ockami_acl_parse(buf, got, out, msg, sizeof msg);
  free(buf);
  if (rc && err && cap) snprintf(err, cap, "%s: %s", path, msg);
  return rc;
}

/* ---- queries ------------------------------------------------------------------ */

static bool subject_matches(const subject *s, const char *id) {
  switch (s->kind) {
    case SUB_ANONYMOUS:
      return id == NULL;
    case SUB_AUTHENTICATED:
      return id != NULL;
    case SUB_IDENTITY:
      return id && !strcmp(s->ident, id);
    case SUB_GROUP:
      if (!id) return false;
      for (size_t i = 0; i < s->nmembers; i++)
        if (!strcmp(s->members[i], id)) return true;
      return false;
  }
  return false;
}

static bool name_matches(const char *pattern, const char *name, size_t len) {
  /* Names may hold NUL bytes: such a name is matched only by "*". */
  if (memchr(name, 0, len)) return !strcmp(pattern, "*");
  char buf[OCKAM_NAME_MAX + 1];
  if (len > OCKAM_NAME_MAX) return false;
  memcpy(buf, name, len);
  buf[len] = '\0';
  return fnmatch(pattern, buf, 0) == 0;
}

ockami_anon ockami_acl_anonymous(const ockami_acl *acl) {
  return acl ? acl->anon : OCKAMI_ANON_UNSET;
}

bool ockami_acl_allows(const ockami_acl *acl, const char *identifier, unsigned right,
                       const char *name, size_t len) {
  if (!acl) return false;
  for (size_t i = 0; i < acl->n; i++) {
    const subject *s = &acl->subs[i];
    if (!subject_matches(s, identifier)) continue;
    if (s->global & right) return true;
    if (!(right & OCKAMI_ACL_STREAM_ALL) || !name) continue;
    for (size_t r = 0; r < s->nrules; r++)
      if ((s->rules[r].rights & right) && name_matches(s->rules[r].pattern, name, len)) return true;
  }
  return false;
}

void ockami_acl_quota(const ockami_acl *acl, const char *identifier, ockami_quota *out) {
  memset(out, 0, sizeof *out);
  if (!acl || !identifier) return;
  /* Most specific first: the identity, the groups in file order, everyone. */
  bool st = false, by = false, ra = false;
  for (int pass = 0; pass < 3; pass++) {
    subject_kind kind = pass == 0 ? SUB_IDENTITY : pass == 1 ? SUB_GROUP : SUB_AUTHENTICATED;
    for (size_t i = 0; i < acl->n; i++) {
      const subject *s = &acl->subs[i];
      if (s->kind != kind || !subject_matches(s, identifier)) continue;
      if (!st && s->has_streams) {
        out->streams = s->quota.streams;
        st = true;
      }
      if (!by && s->has_bytes) {
        out->bytes = s->quota.bytes;
        by = true;
      }
      if (!ra && s->has_rate) {
        out->push_rate = s->quota.push_rate;
        ra = true;
      }
    }
  }
}

void ockami_acl_counts(const ockami_acl *acl, size_t *subjects, size_t *rules) {
  *subjects = acl ? acl->n : 0;
  *rules = acl ? acl->nrules_total : 0;
}

/* ---- authorization of a running hub ------------------------------------------- */

int ockami_authz_init(ockami_authz *az, ockam_node *node, ockami_acl *acl, ockami_anon anon_opt,
                      bool loopback_only) {
  memset(az, 0, sizeof *az);
  az->node = node;
  az->anon_opt = anon_opt;
  ockami_map_init(&az->usage);
  if (anon_opt == OCKAMI_ANON_UNSET && !acl && !loopback_only) {
    ockami_acl_free(acl);
    return OCKAM_EINVAL;
  }
  ockami_authz_replace(az, acl);
  return OCKAM_OK;
}

void ockami_authz_replace(ockami_authz *az, ockami_acl *acl) {
  if (az->acl && acl) az->stats.reloads++;
  ockami_acl_free(az->acl);
  az->acl = acl;
  ockami_anon a = az->anon_opt;
  if (a == OCKAMI_ANON_UNSET) a = ockami_acl_anonymous(acl);
  /* With an ACL and no decision: what its [anonymous] section gives. */
  if (a == OCKAMI_ANON_UNSET) a = acl ? OCKAMI_ANON_UNSET : OCKAMI_ANON_ALLOW;
  az->anonymous = a;
}

void ockami_authz_free(ockami_authz *az) {
  if (!az) return;
  ockami_acl_free(az->acl);
  az->acl = NULL;
  size_t b = 0;
  for (ockami_map_entry *e = ockami_map_next(&az->usage, &b, NULL); e;
       e = ockami_map_next(&az->usage, &b, e))
    free(e->value);
  ockami_map_free(&az->usage);
}

const char *ockami_authz_requester(const ockam_message *m, char id[static OCKAM_IDENTIFIER_BUF]) {
  if (m && ockam_message_peer_identifier(m, id, OCKAM_IDENTIFIER_BUF) == OCKAM_OK) return id;
  return NULL;
}

static bool allowed(const ockami_authz *az, const char *who, unsigned right, const char *name,
                    size_t len) {
  if (!who) {
    if (az->anonymous == OCKAMI_ANON_DENY) return false;
    /* Allowed anonymous clients: the [anonymous] section restricts them when there is one. */
    if (az->anonymous == OCKAMI_ANON_ALLOW &&
        !(az->acl && subject_find(az->acl, SUB_ANONYMOUS, "")))
      return true;
    return ockami_acl_allows(az->acl, NULL, right, name, len);
  }
  if (!az->acl) return true; /* no ACL: every identity may do everything */
  if (right == OCKAMI_ACL_DELETE &&
      ockami_acl_allows(az->acl, who, OCKAMI_ACL_ADMIN_DELETE, NULL, 0))
    return true;
  return ockami_acl_allows(az->acl, who, right, name, len);
}

static const char *right_name(unsigned right) {
  switch (right) {
    case OCKAMI_ACL_CREATE:
      return "create";
    case OCKAMI_ACL_PUSH:
      return "push";
    case OCKAMI_ACL_PULL:
      return "pull";
    case OCKAMI_ACL_INDEX:
      return "index";
    case OCKAMI_ACL_DELETE:
      return "delete";
    case OCKAMI_ACL_REGISTER:
      return "register";
    case OCKAMI_ACL_STATUS:
      return "status";
    default:
      return "admin";
  }
}

bool ockami_authz_check(ockami_authz *az, const char *requester, unsigned right, const char *name,
                        size_t len, const char *what) {
  if (!az) return true;
  if (allowed(az, requester, right, name, len)) return true;
  az->stats.denied++;
  if (az->denied_counter) (*az->denied_counter)++;
  /* The logger rate-limits per call site. */
  char shown[64] = "";
  if (name) {
    size_t n = len < 40 ? len : 40;
    for (size_t i = 0; i < n; i++) shown[i] = name[i] >= 0x20 && name[i] < 0x7f ? name[i] : '?';
    shown[n] = '\0';
  }
  LOG_WARN(MOD, "denied: %s%.16s%s may not %s%s%s%s at %s", requester ? "P_ID." : "",
           requester ? requester : "anonymous", requester ? "…" : "", right_name(right),
           name ? " '" : "", shown, name ? (len > 40 ? "…'" : "'") : "", what);
  return false;
}

static ockami_usage *usage_of(ockami_authz *az, const char *id) {
  ockami_usage *u = ockami_map_get(&az->usage, id, strlen(id));
  if (u) return u;
  /* Anyone can make new identities: the table of those with a quota is capped. */
  if (az->usage.count >= OCKAMI_AUTHZ_USAGE_MAX) {
    LOG_WARN(MOD, "%u identities with quotas tracked; refusing new ones until restart",
             OCKAMI_AUTHZ_USAGE_MAX);
    return NULL;
  }
  u = calloc(1, sizeof *u);
  if (!u) return NULL;
  if (ockami_map_put(&az->usage, id, strlen(id), u)) {
    free(u);
    return NULL;
  }
  u->last_ms = ockam_node_now_ms(az->node);
  u->tokens = -1; /* filled on first use */
  return u;
}

static void over_quota(ockami_authz *az, const char *id, const char *what, uint64_t max) {
  az->stats.over_quota++;
  LOG_WARN(MOD, "P_ID.%.16s… reached its quota of %llu %s", id, (unsigned long long)max, what);
}

/* Note what was charged to id through one stream (best effort: without
 * memory it is not given back later). */
static void note_charge(ockami_map *charges, const char *id, uint64_t streams, uint64_t bytes) {
  if (!charges) return;
  ockami_charge *c = ockami_map_get(charges, id, strlen(id));
  if (!c) {
    c = calloc(1, sizeof *c);
    if (!c || ockami_map_put(charges, id, strlen(id), c)) {
      free(c);
      LOG_DEBUG(MOD, "cannot note a quota charge; it stays until restart");
      return;
    }
  }
  c->streams += streams;
  c->bytes += bytes;
}

void ockami_charges_free(ockami_map *charges) {
  size_t b = 0;
  for (ockami_map_entry *e = ockami_map_next(charges, &b, NULL); e;
       e = ockami_map_next(charges, &b, e))
    free(e->value);
  ockami_map_free(charges);
}

void ockami_authz_give_back(ockami_authz *az, ockami_map *charges) {
  size_t b = 0;
  for (ockami_map_entry *e = ockami_map_next(charges, &b, NULL); az && e;
       e = ockami_map_next(charges, &b, e)) {
    const ockami_charge *c = e->value;
    ockami_usage *u = ockami_map_get(&az->usage, e->key, e->key_len);
    if (!u) continue;
    u->streams -= c->streams < u->streams ? c->streams : u->streams;
    u->bytes -= c->bytes < u->bytes ? c->bytes : u->bytes;
  }
  ockami_charges_free(charges);
}

bool ockami_authz_charge_stream(ockami_authz *az, const char *requester, ockami_map *charges) {
  if (!az || !requester || !az->acl) return true;
  ockami_quota q;
  ockami_acl_quota(az->acl, requester, &q);
  if (!q.streams) return true;
  ockami_usage *u = usage_of(az, requester);
  if (!u) {
    az->stats.over_quota++;
    return false;
  }
  if (q.streams && u->streams >= q.streams) {
    over_quota(az, requester, "streams", q.streams);
    return false;
  }
  u->streams++;
  note_charge(charges, requester, 1, 0);
  return true;
}

bool ockami_authz_charge_push(ockami_authz *az, const char *requester, size_t bytes,
                              ockami_map *charges) {
  if (!az || !requester || !az->acl) return true;
  ockami_quota q;
  ockami_acl_quota(az->acl, requester, &q);
  if (!q.bytes && !q.push_rate) return true;
  ockami_usage *u = usage_of(az, requester);
  if (!u) {
    az->stats.over_quota++;
    return false;
  }
  if (q.bytes && (bytes > q.bytes || u->bytes > q.bytes - bytes)) {
    over_quota(az, requester, "bytes", q.bytes);
    return false;
  }
  if (q.push_rate) {
    uint64_t now = ockam_node_now_ms(az->node);
    if (u->tokens < 0) u->tokens = (double)q.push_rate;
    u->tokens += (double)(now - u->last_ms) * (double)q.push_rate / 1000.0;
    if (u->tokens > (double)q.push_rate) u->tokens = (double)q.push_rate;
    u->last_ms = now;
    if (u->tokens < 1.0) {
      over_quota(az, requester, "pushes per second", q.push_rate);
      return false;
    }
    u->tokens -= 1.0;
  }
  u->bytes += bytes;
  if (q.bytes) note_charge(charges, requester, 0, bytes);
  return true;
}

void ockami_authz_index_key(const char *identifier, const char *client, size_t len,
                            char out[static OCKAMI_AUTHZ_INDEX_KEY_LEN]) {
  uint8_t d[crypto_hash_sha256_BYTES];
  crypto_hash_sha256_state h;
  crypto_hash_sha256_init(&h);
  crypto_hash_sha256_update(&h, (const uint8_t *)identifier, strlen(identifier) + 1);
  crypto_hash_sha256_update(&h, (const uint8_t *)client, len);
  crypto_hash_sha256_final(&h, d);
  static const char hex[] = "0123456789abcdef";
  out[0] = (char)0xff;
  for (size_t i = 0; i < sizeof d; i++) {
    out[1 + 2 * i] = hex[d[i] >> 4];
    out[2 + 2 * i] = hex[d[i] & 15];
  }
}
