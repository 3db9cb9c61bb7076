/* ockam identity create|show|rotate|export-contact: manage an identity kept in
 * a directory (DIR/vault holds its keys, DIR/identity its change history). */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli.h"
#include "ockam/error.h"
#include "ockam/identity.h"
#include "ockam/limits.h"
#include "ockam/vault.h"

typedef struct identity_cli {
  const char *dir;
  const char *file;
  const char *out;
  bool json;
} identity_cli;

static const ockam_cli_option identity_options[] = {
    OCKAM_CLI_STR(identity_cli, dir, "dir", "dir", "DIR", NULL, NULL, NULL,
                  "identity directory (default $OCKAM_HOME, else ~/.ockam)"),
    OCKAM_CLI_STR(identity_cli, file, "file", "file", "PATH", NULL, NULL, NULL,
                  "identity file (default DIR/identity)"),
    OCKAM_CLI_BOOL_OPT(identity_cli, json, "json", "json", "print JSON"),
};
static const ockam_cli_option export_options[] = {
    OCKAM_CLI_STR(identity_cli, dir, "dir", "dir", "DIR", NULL, NULL, NULL,
                  "identity directory (default $OCKAM_HOME, else ~/.ockam)"),
    OCKAM_CLI_STR(identity_cli, file, "file", "file", "PATH", NULL, NULL, NULL,
                  "identity file (default DIR/identity)"),
    OCKAM_CLI_BOOL_OPT(identity_cli, json, "json", "json", "print JSON"),
    OCKAM_CLI_STR(identity_cli, out, "out", "out", "PATH", NULL, NULL, NULL,
                  "write the Contact bytes to PATH instead of hex to stdout"),
};

#define SPEC(NAME, USAGE, OPTS)                                   \
  {                                                               \
    .command = "identity " NAME, .usage = USAGE, .options = OPTS, \
    .count = sizeof OPTS / sizeof OPTS[0]                         \
  }
static const ockam_cli_spec create_spec =
    SPEC("create", "ockam identity create [options]  (new identity, prints its identifier)",
         identity_options);
static const ockam_cli_spec show_spec = SPEC(
    "show", "ockam identity show [options]  (identifier, key, history length)", identity_options);
static const ockam_cli_spec rotate_spec =
    SPEC("rotate", "ockam identity rotate [options]  (new profile key; same identifier)",
         identity_options);
static const ockam_cli_spec export_spec =
    SPEC("export-contact", "ockam identity export-contact [options]  (the public Contact)",
         export_options);

static void identity_usage(FILE *f) {
  fprintf(f,
          "usage: ockam identity SUBCOMMAND [options]  (SUBCOMMAND --help for its options)\n\n"
          "subcommands:\n"
          "  create          create an identity in DIR and print its identifier\n"
          "  show            print the identifier, current key and number of changes\n"
          "  rotate          replace the profile key (the identifier stays)\n"
          "  export-contact  print (hex) or write (--out) the Contact other nodes verify\n");
}

typedef struct paths {
  char dir[4096], vault[4200], file[4200];
} paths;

static int resolve(const char *cmd, const identity_cli *o, paths *p) {
  const char *dir = o->dir;
  char home[4096];
  if (!dir) dir = getenv("OCKAM_HOME");
  if (!dir || !dir[0]) {
    const char *h = getenv("HOME");
    if (!h || !h[0]) {
      fprintf(stderr, "ockam identity %s: no --dir given and HOME is not set\n", cmd);
      return -1;
    }
    snprintf(home, sizeof home, "%s/.ockam", h);
    dir = home;
  }
  if (strlen(dir) >= sizeof p->dir - 16 || (o->file && strlen(o->file) >= sizeof p->file)) {
    fprintf(stderr, "ockam identity %s: path too long\n", cmd);
    return -1;
  }
  snprintf(p->dir, sizeof p->dir, "%s", dir);
  snprintf(p->vault, sizeof p->vault, "%s/vault", dir);
  snprintf(p->file, sizeof p->file, "%s", o->file ? o->file : "");
  if (!o->file) snprintf(p->file, sizeof p->file, "%s/identity", dir);
  return 0;
}

static void print_hex(FILE *f, const uint8_t *p, size_t n) {
  for (size_t i = 0; i < n; i++) fprintf(f, "%02x", p[i]);
}

/* identifier (wire form) and a summary, plain or JSON. */
static int print_identity(const ockam_identity *id, const paths *p, bool json) {
  char ident[OCKAM_IDENTIFIER_BUF], ext[OCKAM_IDENTIFIER_EXTERNAL_BUF];
  uint8_t pub[32];
  int rc = ockam_identity_identifier(id, ident, sizeof ident);
  if (!rc) rc = ockam_identity_identifier_external(id, ext, sizeof ext);
  if (!rc) rc = ockam_identity_public_key(id, pub);
  if (rc) return rc;
  if (!json) {
    printf("%s\n", ident);
    return 0;
  }
  /* Paths are printed only if they need no escaping. */
  bool plain = !strpbrk(p->file, "\"\\") && !strpbrk(p->dir, "\"\\");
  printf("{\"identifier\":\"%s\",\"external\":\"%s\",\"public_key\":\"", ident, ext);
  print_hex(stdout, pub, 32);
  printf("\",\"events\":%zu", ockam_identity_event_count(id));
  if (plain) printf(",\"dir\":\"%s\",\"file\":\"%s\"", p->dir, p->file);
  printf("}\n");
  return 0;
}

static int fail(const char *cmd, const char *what, const char *path, int rc) {
  fprintf(stderr, "ockam identity %s: %s %s: %s (%s)\n", cmd, what, path, ockam_strerror(rc),
          ockam_errname(rc));
  return 1;
}

static int open_identity(const char *cmd, const paths *p, ockam_vault **v, ockam_identity **id) {
  struct stat st;
  if (stat(p->file, &st) != 0 && errno == ENOENT) {
    fprintf(stderr, "ockam identity %s: no identity at %s (run: ockam identity create)\n", cmd,
            p->file);
    return 1;
  }
  int rc = ockam_vault_create_persistent(p->vault, v);
  if (rc) return fail(cmd, "cannot open the vault", p->vault, rc);
  rc = ockam_identity_load(*v, p->file, id);
  if (rc) {
    ockam_vault_destroy(*v);
    return fail(cmd, "cannot load the identity", p->file, rc);
  }
  return 0;
}

static int do_create(const identity_cli *o, const paths *p) {
  struct stat st;
  if (stat(p->file, &st) == 0) {
    fprintf(stderr, "ockam identity create: %s already exists\n", p->file);
    return 1;
  }
  if (mkdir(p->dir, 0700) != 0 && errno != EEXIST) {
    fprintf(stderr, "ockam identity create: cannot create %s: %s\n", p->dir, strerror(errno));
    return 1;
  }
  ockam_vault *v;
  ockam_identity *id;
  int rc = ockam_vault_create_persistent(p->vault, &v);
  if (rc) return fail("create", "cannot open the vault", p->vault, rc);
  rc = ockam_identity_create(v, &id);
  if (rc) {
    ockam_vault_destroy(v);
    return fail("create", "cannot create an identity in", p->vault, rc);
  }
  rc = ockam_identity_save(id, p->file);
  int status = rc ? fail("create", "cannot save", p->file, rc) : 0;
  if (!status && print_identity(id, p, o->json)) status = 1;
  ockam_identity_free(id);
  ockam_vault_destroy(v);
  return status;
}

static int do_show(const identity_cli *o, const paths *p, bool rotate) {
  ockam_vault *v;
  ockam_identity *id;
  const char *cmd = rotate ? "rotate" : "show";
  int status = open_identity(cmd, p, &v, &id);
  if (status) return status;
  if (rotate) {
    int rc = ockam_identity_rotate(id);
    if (!rc) rc = ockam_identity_save(id, p->file);
    if (rc) status = fail(cmd, "cannot rotate the key of", p->file, rc);
  }
  if (!status && print_identity(id, p, o->json)) status = 1;
  ockam_identity_free(id);
  ockam_vault_destroy(v);
  return status;
}

static int do_export(const identity_cli *o, const paths *p) {
  ockam_vault *v;
  ockam_identity *id;
  int status = open_identity("export-contact", p, &v, &id);
  if (status) return status;
  uint8_t *buf = malloc(OCKAM_CONTACT_MAX_BYTES);
  size_t len = 0;
  char ident[OCKAM_IDENTIFIER_BUF];
  int rc =
      buf ? ockam_identity_export_contact(id, buf, OCKAM_CONTACT_MAX_BYTES, &len) : OCKAM_ENOMEM;
  if (!rc) rc = ockam_identity_identifier(id, ident, sizeof ident);
  if (rc) {
    status = fail("export-contact", "cannot export", p->file, rc);
  } else if (o->out) {
    FILE *f = fopen(o->out, "wb");
    if (!f || fwrite(buf, 1, len, f) != len || fclose(f) != 0) {
      fprintf(stderr, "ockam identity export-contact: cannot write %s: %s\n", o->out,
              strerror(errno));
      status = 1;
    } else if (o->json) {
      printf("{\"identifier\":\"%s\",\"bytes\":%zu}\n", ident, len);
    }
  } else if (o->json) {
    printf("{\"identifier\":\"%s\",\"contact\":\"", ident);
    print_hex(stdout, buf, len);
    printf("\"}\n");
  } else {
    print_hex(stdout, buf, len);
    printf("\n");
  }
  free(buf);
  ockam_identity_free(id);
  ockam_vault_destroy(v);
  return status;
}

int ockam_cmd_identity(int argc, char **argv) {
  if (argc < 2) {
    identity_usage(stderr);
    return 2;
  }
  const char *sub = argv[1];
  if (!strcmp(sub, "-h") || !strcmp(sub, "--help")) {
    identity_usage(stdout);
    return 0;
  }
  const ockam_cli_spec *spec = !strcmp(sub, "create")           ? &create_spec
                               : !strcmp(sub, "show")           ? &show_spec
                               : !strcmp(sub, "rotate")         ? &rotate_spec
                               : !strcmp(sub, "export-contact") ? &export_spec
                                                                : NULL;
  if (!spec) {
    fprintf(stderr, "ockam identity: unknown subcommand '%s'\n", sub);
    identity_usage(stderr);
    return 2;
  }
  identity_cli o;
  int prc = ockam_cli_parse(spec, &o, argc - 1, argv + 1, NULL);
  if (prc) return prc > 0 ? 0 : 2;
  paths p;
  if (resolve(sub, &o, &p)) return 2;
  if (spec == &create_spec) return do_create(&o, &p);
  if (spec == &show_spec) return do_show(&o, &p, false);
  if (spec == &rotate_spec) return do_show(&o, &p, true);
  return do_export(&o, &p);
}
