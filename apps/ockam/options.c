/* Option tables of the ockam CLI: parsing, defaults and help (see options.h). */
#include "options.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

int ockam_cli_parse_u64(const char *s, uint64_t *out) {
  if (!s || !*s) return -1;
  uint64_t v = 0;
  for (const char *p = s; *p; p++) {
    if (*p < '0' || *p > '9') return -1;
    unsigned d = (unsigned)(*p - '0');
    if (v > (UINT64_MAX - d) / 10) return -1;
    v = v * 10 + d;
  }
  *out = v;
  return 0;
}

/* Split "123unit" into the number and its suffix; the number must be there. */
static int split_number(const char *s, uint64_t *num, const char **unit) {
  size_t n = 0;
  while (s[n] >= '0' && s[n] <= '9') n++;
  if (n == 0 || n > 20) return -1;
  char digits[21];
  memcpy(digits, s, n);
  digits[n] = 0;
  *unit = s + n;
  return ockam_cli_parse_u64(digits, num);
}

static int scale(uint64_t v, uint64_t mul, uint64_t *out) {
  if (mul && v > UINT64_MAX / mul) return -1;
  *out = v * mul;
  return 0;
}

/* A duration in the field's unit (unit_ms milliseconds). */
static int parse_duration(const char *s, uint32_t unit_ms, uint64_t *out) {
  static const struct {
    const char *suffix;
    uint64_t ms;
  } units[] = {{"ms", 1}, {"s", 1000}, {"m", 60000}, {"h", 3600000}, {"d", 86400000}};
  uint64_t v;
  const char *unit;
  if (split_number(s, &v, &unit)) return -1;
  if (!*unit) {
    *out = v;
    return 0;
  }
  for (size_t i = 0; i < sizeof units / sizeof units[0]; i++) {
    if (strcmp(unit, units[i].suffix)) continue;
    uint64_t ms;
    if (scale(v, units[i].ms, &ms) || ms % unit_ms) return -1;
    *out = ms / unit_ms;
    return 0;
  }
  return -1;
}

static int parse_size(const char *s, uint64_t *out) {
  static const struct {
    const char *suffix;
    uint64_t mul;
  } units[] = {{"", 1}, {"KiB", 1ull << 10}, {"MiB", 1ull << 20}, {"GiB", 1ull << 30}};
  uint64_t v;
  const char *unit;
  if (split_number(s, &v, &unit)) return -1;
  for (size_t i = 0; i < sizeof units / sizeof units[0]; i++)
    if (!strcmp(unit, units[i].suffix)) return scale(v, units[i].mul, out);
  return -1;
}

static uint64_t field_max(const ockam_cli_option *o) {
  uint64_t m = o->size >= 8 ? UINT64_MAX : (1ull << (8 * o->size)) - 1;
  /* A signed int field (replicas) must give a max within INT_MAX. */
  if (o->max && o->max < m) m = o->max;
  return m;
}

static void store_uint(const ockam_cli_option *o, void *dst, uint64_t v) {
  char *p = (char *)dst + o->offset;
  switch (o->size) {
    case 1: {
      uint8_t x = (uint8_t)v;
      memcpy(p, &x, 1);
      break;
    }
    case 2: {
      uint16_t x = (uint16_t)v;
      memcpy(p, &x, 2);
      break;
    }
    case 4: {
      uint32_t x = (uint32_t)v;
      memcpy(p, &x, 4);
      break;
    }
    default:
      memcpy(p, &v, 8);
      break;
  }
}

static bool in_choices(const char *choices, const char *v) {
  size_t n = strlen(v);
  for (const char *c = choices; *c;) {
    const char *bar = strchr(c, '|');
    size_t len = bar ? (size_t)(bar - c) : strlen(c);
    if (len == n && !memcmp(c, v, n)) return true;
    if (!bar) break;
    c = bar + 1;
  }
  return false;
}

int ockam_cli_set(const ockam_cli_option *o, void *dst, const char *value) {
  char *field = (char *)dst + o->offset;
  uint64_t v;
  switch (o->type) {
    case OCKAM_CLI_STRING:
      if (!value) return -1;
      if (o->choices && !in_choices(o->choices, value)) return -1;
      if (o->check && o->check(value)) return -1;
      memcpy(field, &value, sizeof value);
      return 0;
    case OCKAM_CLI_BOOL: {
      bool b;
      if (!value || !strcmp(value, "true"))
        b = true;
      else if (!strcmp(value, "false"))
        b = false;
      else
        return -1;
      memcpy(field, &b, sizeof b);
      return 0;
    }
    case OCKAM_CLI_UINT:
      if (!value || ockam_cli_parse_u64(value, &v)) return -1;
      break;
    case OCKAM_CLI_DURATION:
      if (!value || parse_duration(value, o->unit_ms ? o->unit_ms : 1, &v)) return -1;
      break;
    case OCKAM_CLI_SIZE:
      if (!value || parse_size(value, &v)) return -1;
      break;
    default:
      return -1;
  }
  if (v < o->min || v > field_max(o)) return -1;
  store_uint(o, dst, v);
  return 0;
}

void ockam_cli_defaults(const ockam_cli_spec *spec, void *dst) {
  for (size_t i = 0; i < spec->count; i++) {
    const ockam_cli_option *o = &spec->options[i];
    char *field = (char *)dst + o->offset;
    switch (o->type) {
      case OCKAM_CLI_STRING:
        memcpy(field, &o->def_str, sizeof o->def_str);
        break;
      case OCKAM_CLI_BOOL: {
        bool b = o->def_num != 0;
        memcpy(field, &b, sizeof b);
        break;
      }
      default:
        store_uint(o, dst, o->def_num);
        break;
    }
  }
}

const ockam_cli_option *ockam_cli_find_key(const ockam_cli_spec *spec, const char *key) {
  for (size_t i = 0; i < spec->count; i++)
    if (spec->options[i].key && !strcmp(spec->options[i].key, key)) return &spec->options[i];
  return NULL;
}

const ockam_cli_option *ockam_cli_find_flag(const ockam_cli_spec *spec, const char *flag) {
  for (size_t i = 0; i < spec->count; i++)
    if (!strcmp(spec->options[i].flag, flag)) return &spec->options[i];
  return NULL;
}

/* The default as the help text shows it: durations and sizes in the largest
 * unit that divides them. */
static void format_default(const ockam_cli_option *o, char *buf, size_t cap) {
  buf[0] = 0;
  switch (o->type) {
    case OCKAM_CLI_STRING:
      if (o->def_str) snprintf(buf, cap, "%s", o->def_str);
      break;
    case OCKAM_CLI_BOOL:
      if (o->def_num) snprintf(buf, cap, "true");
      break;
    case OCKAM_CLI_UINT:
      snprintf(buf, cap, "%" PRIu64, o->def_num);
      break;
    case OCKAM_CLI_SIZE: {
      static const char *units[] = {"", "KiB", "MiB", "GiB"};
      uint64_t v = o->def_num;
      size_t u = 0;
      while (v && v % 1024 == 0 && u < 3) v /= 1024, u++;
      snprintf(buf, cap, "%" PRIu64 "%s", v, units[u]);
      break;
    }
    case OCKAM_CLI_DURATION: {
      static const struct {
        const char *suffix;
        uint64_t ms;
      } units[] = {{"d", 86400000}, {"h", 3600000}, {"m", 60000}, {"s", 1000}, {"ms", 1}};
      uint64_t unit = o->unit_ms ? o->unit_ms : 1;
      uint64_t ms = o->def_num * unit;
      for (size_t i = 0; i < sizeof units / sizeof units[0]; i++)
        if (ms % units[i].ms == 0 && (ms || units[i].ms == unit)) {
          snprintf(buf, cap, "%" PRIu64 "%s", ms / units[i].ms, units[i].suffix);
          break;
        }
      break;
    }
  }
}

void ockam_cli_help(const ockam_cli_spec *spec, FILE *f) {
  fprintf(f, "usage: %s\n", spec->usage);
  if (spec->operands) fputs(spec->operands, f);
  if (spec->count) fprintf(f, "options:\n");
  for (size_t i = 0; i < spec->count; i++) {
    const ockam_cli_option *o = &spec->options[i];
    char left[64], def[48];
    const char *arg = o->arg;
    /* A bare number counts the field's unit; suffixes are listed below. */
    if (o->type == OCKAM_CLI_DURATION) arg = o->unit_ms == 1000 ? "SECONDS" : "MS";
    snprintf(left, sizeof left, "--%s%s%s", o->flag, arg ? " " : "", arg ? arg : "");
    format_default(o, def, sizeof def);
    /* Two spaces at least between flag and help (what help2man looks for). */
    fprintf(f, "  %-28s%s%s", left, strlen(left) >= 28 ? "  " : " ", o->help);
    if (def[0] && o->type != OCKAM_CLI_BOOL) fprintf(f, " [default %s]", def);
    fputc('\n', f);
  }
  fprintf(f, "  %-28s %s\n", "-h, --help", "print this help");
  for (size_t i = 0; i < spec->count; i++)
    if (spec->options[i].type == OCKAM_CLI_DURATION || spec->options[i].type == OCKAM_CLI_SIZE) {
      fprintf(f, "times may end in ms, s, m, h or d; BYTES in KiB, MiB or GiB\n");
      break;
    }
  /* Configuration keys: the flag with '_' for '-', and the exceptions. */
  bool keys = false, odd = false;
  for (size_t i = 0; i < spec->count; i++) {
    const ockam_cli_option *o = &spec->options[i];
    if (!o->key) continue;
    keys = true;
    char k[64];
    snprintf(k, sizeof k, "%s", o->flag);
    for (char *c = k; *c; c++)
      if (*c == '-') *c = '_';
    if (strcmp(k, o->key)) odd = true;
  }
  if (!keys) return;
  fprintf(f, "in a --config file ([%s] section) each option's key is its flag with '_' for '-'",
          spec->command);
  if (odd) {
    fprintf(f, ", except");
    const char *sep = " ";
    for (size_t i = 0; i < spec->count; i++) {
      const ockam_cli_option *o = &spec->options[i];
      char k[64];
      snprintf(k, sizeof k, "%s", o->flag);
      for (char *c = k; *c; c++)
        if (*c == '-') *c = '_';
      if (o->key && strcmp(k, o->key)) {
        fprintf(f, "%s--%s: %s", sep, o->flag, o->key);
        sep = ", ";
      }
    }
  }
  fprintf(f, "\n");
}

int ockam_cli_parse(const ockam_cli_spec *spec, void *dst, int argc, char **argv, int *operands) {
  ockam_cli_defaults(spec, dst);
  return ockam_cli_parse_args(spec, dst, argc, argv, operands);
}

void ockam_cli_expected(const ockam_cli_option *o, char *buf, size_t cap) {
  uint64_t max = field_max(o);
  switch (o->type) {
    case OCKAM_CLI_STRING:
      if (o->choices)
        snprintf(buf, cap, "one of %s", o->choices);
      else
        snprintf(buf, cap, "%s", o->arg ? o->arg : "a string");
      break;
    case OCKAM_CLI_BOOL:
      snprintf(buf, cap, "true or false");
      break;
    case OCKAM_CLI_UINT:
      snprintf(buf, cap, "a whole number from %" PRIu64 " to %" PRIu64, o->min, max);
      break;
    case OCKAM_CLI_SIZE:
      snprintf(buf, cap, "a size in bytes (KiB, MiB, GiB suffixes) from %" PRIu64 " to %" PRIu64,
               o->min, max);
      break;
    case OCKAM_CLI_DURATION:
      snprintf(buf, cap, "a duration (ms, s, m, h, d; a bare number counts %s) from %" PRIu64,
               o->unit_ms == 1000 ? "seconds" : "milliseconds", o->min);
      break;
  }
}

int ockam_cli_parse_args(const ockam_cli_spec *spec, void *dst, int argc, char **argv,
                         int *operands) {
  int nops = 0;
  bool only_operands = false;
  for (int i = 1; i < argc; i++) {
    char *a = argv[i];
    if (only_operands || a[0] != '-' || !a[1]) {
      if (!operands) {
        fprintf(stderr, "ockam %s: unexpected argument '%s'\n", spec->command, a);
        return -1;
      }
      argv[1 + nops++] = a; /* never overtakes i */
      continue;
    }
    if (!strcmp(a, "--")) {
      only_operands = true;
      continue;
    }
    if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
      ockam_cli_help(spec, stdout);
      return 1;
    }
    const ockam_cli_option *o = NULL;
    const char *value = NULL;
    if (a[1] == '-') {
      char name[64];
      const char *eq = strchr(a + 2, '=');
      size_t n = eq ? (size_t)(eq - (a + 2)) : strlen(a + 2);
      if (n < sizeof name) {
        memcpy(name, a + 2, n);
        name[n] = 0;
        o = ockam_cli_find_flag(spec, name);
      }
      if (eq) value = eq + 1;
    }
    if (!o) {
      fprintf(stderr, "ockam %s: unknown option '%s' (see --help)\n", spec->command, a);
      return -1;
    }
    if (o->type == OCKAM_CLI_BOOL) {
      if (value) {
        fprintf(stderr, "ockam %s: --%s takes no value\n", spec->command, o->flag);
        return -1;
      }
    } else if (!value) {
      if (i + 1 >= argc) {
        fprintf(stderr, "ockam %s: --%s needs a value (%s)\n", spec->command, o->flag, o->arg);
        return -1;
      }
      value = argv[++i];
    }
    if (ockam_cli_set(o, dst, value)) {
      fprintf(stderr, "ockam %s: invalid value '%s' for --%s\n", spec->command, value, o->flag);
      return -1;
    }
  }
  if (operands) *operands = nops;
  return 0;
}
