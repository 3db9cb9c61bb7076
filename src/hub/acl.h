/* Access control of the hub (acl.c): who may do what, and per-identity quotas.
 *
 * A requester is either an identity, known by the identifier its identity
 * channel to the hub proved (ockam_message_peer_identifier()), or anonymous:
 * a plain 2021 client whose request came over TCP without a channel. The
 * ACL file (INI, docs/OPERATIONS.md "Access control") gives subjects rights:
 *
 *   [hub]                  anonymous = allow | deny
 *   [identity ID]          one identifier (64 hex, "P_ID.<hex>" or "P<hex>")
 *   [group NAME]           member = ID (one per line), plus rights
 *   [authenticated]        every identity that proved itself
 *   [anonymous]            plain clients
 *
 * with, in the subject sections,
 *
 *   stream = PATTERN RIGHT[,RIGHT...]   create push pull index delete (or all)
 *   forward = register
 *   admin = status, delete               (delete: any stream)
 *   quota_streams = N | quota_bytes = N[KiB|MiB|GiB] | quota_push_rate = N
 *
 * PATTERN is a glob (fnmatch(3): * ? [..]) over the stream name. Rights add
 * up over every section that matches the requester; quotas come from the
 * identity's own section, else the first matching group (in file order),
 * else [authenticated].
 *
 * Everything runs on the hub's loop thread.
 */
#ifndef OCKAMI_HUB_ACL_H
#define OCKAMI_HUB_ACL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "map.h"
#include "ockam/error.h"
#include "ockam/identity.h"
#include "ockam/node.h"

/* Rights. The stream rights apply to stream-name patterns. */
enum {
  OCKAMI_ACL_CREATE = 1u << 0,
  OCKAMI_ACL_PUSH = 1u << 1,
  OCKAMI_ACL_PULL = 1u << 2,
  OCKAMI_ACL_INDEX = 1u << 3,
  OCKAMI_ACL_DELETE = 1u << 4,
  OCKAMI_ACL_STREAM_ALL = (1u << 5) - 1,
  OCKAMI_ACL_REGISTER = 1u << 5,     /* forwarding_service */
  OCKAMI_ACL_STATUS = 1u << 6,       /* hub status */
  OCKAMI_ACL_ADMIN_DELETE = 1u << 7, /* delete any stream */
  OCKAMI_ACL_ALL = (1u << 8) - 1,
};

/* Anonymous decision: none given, allow, deny. */
typedef enum ockami_anon { OCKAMI_ANON_UNSET = 0, OCKAMI_ANON_ALLOW, OCKAMI_ANON_DENY } ockami_anon;

typedef struct ockami_quota {
  uint64_t streams;   /* streams it may create; 0 = unlimited */
  uint64_t bytes;     /* bytes it may push; 0 = unlimited */
  uint64_t push_rate; /* pushes per second (burst of as many); 0 = unlimited */
} ockami_quota;

typedef struct ockami_acl ockami_acl;

/* Largest ACL file read. */
#define OCKAMI_ACL_FILE_MAX (1u << 20)

/* Parse ACL text (len bytes). On error *out is NULL and err (cap bytes)
 * says where and why ("line 3: unknown right 'pusj'").
 * Errors: OCKAM_EMALFORMED, OCKAM_EOVERFLOW (too large), OCKAM_ENOMEM. */
OCKAM_MUST_CHECK int ockami_acl_parse(const char *text, size_t len, ockami_acl **out, char *err,
                                      size_t cap);
/* Read and parse a file. Errors: those of ockami_acl_parse, OCKAM_ENOTFOUND,
 * OCKAM_EIO. */
OCKAM_MUST_CHECK int ockami_acl_load(const char *path, ockami_acl **out, char *err, size_t cap);
void ockami_acl_free(ockami_acl *acl);

/* The [hub] anonymous decision of the file. */
ockami_anon ockami_acl_anonymous(const ockami_acl *acl);
/* Does the ACL give `identifier` (wire form; NULL = anonymous) `right` on
 * name (len bytes; NULL for the non-stream rights)? */
bool ockami_acl_allows(const ockami_acl *acl, const char *identifier, unsigned right,
                       const char *name, size_t len);
/* The quotas of an identifier (all 0 when none is set). */
void ockami_acl_quota(const ockami_acl *acl, const char *identifier, ockami_quota *out);
/* Counts for the log: subjects (identities, groups and the two others) and rules. */
void ockami_acl_counts(const ockami_acl *acl, size_t *subjects, size_t *rules);

/* ---- authorization state of a running hub -------------------------------- */

typedef struct ockami_authz_stats {
  uint64_t denied;       /* requests refused by the ACL */
  uint64_t over_quota;   /* requests refused by a per-identity quota */
  uint64_t reloads;      /* ACL files loaded after the first */
  uint64_t reload_fails; /* reloads refused (the old ACL stayed) */
} ockami_authz_stats;

typedef struct ockami_authz {
  ockam_node *node;
  ockami_acl *acl;       /* NULL: no ACL file */
  ockami_anon anonymous; /* resolved: ALLOW or DENY */
  ockami_anon anon_opt;  /* --anonymous, overriding the file */
  ockami_map usage;      /* identifier -> per-identity usage */
  ockami_authz_stats stats;
  uint64_t *denied_counter; /* another counter to bump on each denial, or NULL */
} ockami_authz;

/* Identities with a quota whose usage is tracked at once; past it, their
 * quota-limited requests are refused (logged) until the hub restarts. */
#define OCKAMI_AUTHZ_USAGE_MAX 65536u

/* Per-identity usage behind the quotas. */
typedef struct ockami_usage {
  uint64_t streams; /* streams it created since the hub started */
  uint64_t bytes;   /* bytes of its accepted pushes since the hub started */
  double tokens;    /* push-rate bucket */
  uint64_t last_ms; /* when tokens were last refilled */
} ockami_usage;

/* Sets up az. acl (may be NULL) becomes az's. anon_opt: the operator's
 * --anonymous; loopback_only: whether the hub listens on loopback only.
 * Decision: anon_opt, else the file's [hub] anonymous, else with an ACL file
 * only what its [anonymous] section grants, else allowed on loopback.
 * Errors: OCKAM_EINVAL (no decision on a non-loopback listener: the caller
 * refuses to start). */
OCKAM_MUST_CHECK int ockami_authz_init(ockami_authz *az, ockam_node *node, ockami_acl *acl,
                                       ockami_anon anon_opt, bool loopback_only);
void ockami_authz_free(ockami_authz *az);
/* Replace the ACL (az takes acl; the old one is freed). */
void ockami_authz_replace(ockami_authz *az, ockami_acl *acl);

/* The requester of m: writes its identifier into id and returns id, or
 * returns NULL for an anonymous request. */
const char *ockami_authz_requester(const ockam_message *m, char id[static OCKAM_IDENTIFIER_BUF]);
/* Is the requester (NULL = anonymous) allowed `right` on name? A denial is
 * counted and logged (rate-limited) with `what` (the service). */
bool ockami_authz_check(ockami_authz *az, const char *requester, unsigned right, const char *name,
                        size_t len, const char *what);
/* Usage charged through one stream, per identity: identifier ->
 * ockami_charge (owned by the map), given back when the stream is deleted. */
typedef struct ockami_charge {
  uint64_t streams, bytes;
} ockami_charge;

/* Quotas of an identity (anonymous requests have none here: the
 * per-connection limits apply to everyone). Each returns false and counts
 * when the quota is reached; otherwise it charges the usage, and notes what
 * it charged in `charges` (the stream's; may be NULL). */
bool ockami_authz_charge_stream(ockami_authz *az, const char *requester, ockami_map *charges);
bool ockami_authz_charge_push(ockami_authz *az, const char *requester, size_t bytes,
                              ockami_map *charges);
/* The stream of `charges` is deleted: give its charges back to the
 * identities' usage, and empty the map. */
void ockami_authz_give_back(ockami_authz *az, ockami_map *charges);
/* Free a stream's charges without giving them back. */
void ockami_charges_free(ockami_map *charges);

/* Store key of an identity's consumer index: 0xff ‖ 64 hex of
 * SHA-256(identifier ‖ 0x00 ‖ client_id). 0xff never occurs in the UTF-8
 * client ids of anonymous clients, so no other requester can name it. */
#define OCKAMI_AUTHZ_INDEX_KEY_LEN 65u
void ockami_authz_index_key(const char *identifier, const char *client, size_t len,
                            char out[static OCKAMI_AUTHZ_INDEX_KEY_LEN]);

/* The text of the `error` reply to a denied request, and to a request over
 * a per-identity quota. */
#define OCKAMI_AUTHZ_DENIED "Permission denied"
#define OCKAMI_AUTHZ_QUOTA "Quota exceeded"

#endif
