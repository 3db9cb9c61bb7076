#include "js_names.h"

#include <sodium.h>
#include <stdio.h>
#include <string.h>

static const char hex_lower[] = "0123456789abcdef";
static const char hex_upper[] = "0123456789ABCDEF";

/* ---- names ------------------------------------------------------------ */

void ockami_js_names_make(const char *name, size_t len, js_names *nm) {
  uint8_t full[crypto_hash_sha256_BYTES];
  crypto_hash_sha256(full, (const uint8_t *)name, len);
  memcpy(nm->digest, full, JS_DIGEST_LEN);
  char token[JS_TOKEN_LEN + 1];
  for (size_t i = 0; i < JS_DIGEST_LEN; i++) {
    token[2 * i] = hex_lower[full[i] >> 4];
    token[2 * i + 1] = hex_lower[full[i] & 15];
  }
  token[JS_TOKEN_LEN] = 0;
  snprintf(nm->stream, sizeof nm->stream, JS_STREAM_PREFIX "%s", token);
  snprintf(nm->subject, sizeof nm->subject, JS_SUBJECT_PREFIX "%s", token);
}

bool ockami_js_is_ockam_stream(const char *name) {
  size_t plen = sizeof JS_STREAM_PREFIX - 1;
  if (strncmp(name, JS_STREAM_PREFIX, plen) != 0 || strlen(name) != plen + JS_TOKEN_LEN) {
    return false;
  }
  for (size_t i = plen; name[i]; i++) {
    if (!strchr(hex_lower, name[i])) return false;
  }
  return true;
}

static bool desc_plain(uint8_t c) {
  return c > 0x20 && c < 0x7f && c != '%' && c != '"' && c != '\\';
}

void ockami_js_description(const char *name, size_t len, char *out) {
  size_t o = sizeof JS_DESC_PREFIX - 1;
  memcpy(out, JS_DESC_PREFIX, o);
  for (size_t i = 0; i < len; i++) {
    uint8_t c = (uint8_t)name[i];
    if (desc_plain(c)) {
      out[o++] = (char)c;
    } else {
      out[o++] = '%';
      out[o++] = hex_upper[c >> 4];
      out[o++] = hex_upper[c & 15];
    }
  }
  out[o] = 0;
}

static int hex_upper_value(char c) {
  const char *p = c ? strchr(hex_upper, c) : NULL;
  return p ? (int)(p - hex_upper) : -1;
}

bool ockami_js_description_name(const char *desc, uint8_t *name, size_t *len) {
  size_t plen = sizeof JS_DESC_PREFIX - 1;
  if (strncmp(desc, JS_DESC_PREFIX, plen) != 0) return false;
  size_t n = 0;
  for (const char *p = desc + plen; *p; n++) {
    if (n == OCKAM_NAME_MAX) return false;
    uint8_t c = (uint8_t)*p;
    if (c == '%') {
      int hi = hex_upper_value(p[1]);
      int lo = hi < 0 ? -1 : hex_upper_value(p[2]);
      if (lo < 0) return false;
      c = (uint8_t)(hi << 4 | lo);
      if (desc_plain(c)) return false; /* not how the encoder writes it */
      p += 3;
    } else {
      if (!desc_plain(c)) return false;
      p++;
    }
    name[n] = c;
  }
  if (n == 0) return false;
  *len = n;
  return true;
}

size_t ockami_js_key_escape(const char *s, size_t len, char *out) {
  size_t o = 0;
  for (size_t i = 0; i < len; i++) {
    uint8_t c = (uint8_t)s[i];
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
        c == '-') {
      out[o++] = (char)c;
    } else {
      out[o++] = '=';
      out[o++] = hex_upper[c >> 4];
      out[o++] = hex_upper[c & 15];
    }
  }
  return o;
}

void ockami_js_index_key(const char *client, size_t client_len, const char *stream,
                         size_t stream_len, char *key) {
  size_t o = ockami_js_key_escape(client, client_len, key);
  key[o++] = '.';
  o += ockami_js_key_escape(stream, stream_len, key + o);
  key[o] = 0;
}

/* ---- replies and values --------------------------------------------------- */

bool ockami_js_reply_parse(const char *inbox, size_t inbox_len, const char *subj, uint64_t *gen,
                           uint64_t *k) {
  if (strncmp(subj, inbox, inbox_len) != 0 || subj[inbox_len] != '.') return false;
  const char *p = subj + inbox_len + 1;
  uint64_t v[2] = {0, 0};
  for (int part = 0; part < 2; part++) {
    if (*p < '0' || *p > '9') return false;
    while (*p >= '0' && *p <= '9') {
      if (v[part] > (UINT64_MAX - 9) / 10) return false;
      v[part] = v[part] * 10 + (uint64_t)(*p++ - '0');
    }
    if (part == 0 && *p++ != '.') return false;
  }
  if (*p) return false;
  *gen = v[0];
  *k = v[1];
  return true;
}

bool ockami_js_parse_u64(const char *s, size_t len, uint64_t *v) {
  if (!s || len == 0 || len > 20) return false;
  uint64_t x = 0;
  for (size_t i = 0; i < len; i++) {
    if (s[i] < '0' || s[i] > '9' || x > (UINT64_MAX - (uint64_t)(s[i] - '0')) / 10) return false;
    x = x * 10 + (uint64_t)(s[i] - '0');
  }
  *v = x;
  return true;
}

/* ---- PubAck JSON ------------------------------------------------------------
 * {"stream":"S","seq":N[,"duplicate":true]} or
 * {"error":{"code":C,"err_code":E,"description":"..."}[,...]}: a small cursor
 * reading the few members used and skipping everything else. */

typedef struct js_cursor {
  const char *p;
  const char *end;
} js_cursor;

static void jc_ws(js_cursor *c) {
  while (c->p < c->end && (*c->p == ' ' || *c->p == '\t' || *c->p == '\n' || *c->p == '\r')) {
    c->p++;
  }
}

static bool jc_char(js_cursor *c, char ch) {
  jc_ws(c);
  if (c->p < c->end && *c->p == ch) {
    c->p++;
    return true;
  }
  return false;
}

static bool jc_string(js_cursor *c, const char **s, size_t *n) {
  if (!jc_char(c, '"')) return false;
  const char *start = c->p;
  while (c->p < c->end && *c->p != '"') {
    if (*c->p == '\\' && ++c->p == c->end) return false;
    c->p++;
  }
  if (c->p == c->end) return false;
  *s = start;
  *n = (size_t)(c->p - start);
  c->p++;
  return true;
}

static bool jc_u64(js_cursor *c, uint64_t *v) {
  jc_ws(c);
  if (c->p == c->end || *c->p < '0' || *c->p > '9') return false;
  uint64_t x = 0;
  while (c->p < c->end && *c->p >= '0' && *c->p <= '9') {
    if (x > (UINT64_MAX - 9) / 10) return false;
    x = x * 10 + (uint64_t)(*c->p++ - '0');
  }
  *v = x;
  return true;
}

static bool jc_skip(js_cursor *c, int depth) {
  jc_ws(c);
  if (c->p == c->end || depth > 16) return false;
  const char *s;
  size_t n;
  if (*c->p == '"') return jc_string(c, &s, &n);
  if (*c->p == '{' || *c->p == '[') {
    char close = *c->p == '{' ? '}' : ']';
    c->p++;
    if (jc_char(c, close)) return true;
    do {
      if (close == '}' && (!jc_string(c, &s, &n) || !jc_char(c, ':'))) return false;
      if (!jc_skip(c, depth + 1)) return false;
    } while (jc_char(c, ','));
    return jc_char(c, close);
  }
  const char *start = c->p; /* number, true, false, null */
  while (c->p < c->end && !strchr(",}] \t\r\n", *c->p)) c->p++;
  return c->p > start;
}

static bool jc_key_is(const char *k, size_t n, const char *want) {
  return n == strlen(want) && memcmp(k, want, n) == 0;
}

bool ockami_js_parse_puback(const char *p, size_t len, js_puback *out) {
  js_cursor c = {p, p + len};
  memset(out, 0, sizeof *out);
  bool have_seq = false;
  if (!jc_char(&c, '{')) return false;
  if (jc_char(&c, '}')) return false;
  do {
    const char *k;
    size_t n;
    if (!jc_string(&c, &k, &n) || !jc_char(&c, ':')) return false;
    if (jc_key_is(k, n, "seq")) {
      if (!jc_u64(&c, &out->seq)) return false;
      have_seq = true;
    } else if (jc_key_is(k, n, "error")) {
      out->error = true;
      if (!jc_char(&c, '{')) return false;
      if (!jc_char(&c, '}')) {
        do {
          if (!jc_string(&c, &k, &n) || !jc_char(&c, ':')) return false;
          if (jc_key_is(k, n, "err_code")) {
            if (!jc_u64(&c, &out->err_code)) return false;
          } else if (!jc_skip(&c, 1)) {
            return false;
          }
        } while (jc_char(&c, ','));
        if (!jc_char(&c, '}')) return false;
      }
    } else if (!jc_skip(&c, 0)) {
      return false;
    }
  } while (jc_char(&c, ','));
  if (!jc_char(&c, '}')) return false;
  return out->error || (have_seq && out->seq > 0);
}
