/*
 * json_scan.c -- the top-level members of a JSON object found in its text (see json_scan.h):
 * a recursive-descent checker that skips every value and notes where the wanted members'
 * values lie.  Recursion is bounded by the nesting limit.
 */
#include <string.h>

#include "base/json_scan.h"
#include "base/sg.h"

#define DEPTH_MAX 512

typedef struct scan {
  const char *s;
  size_t i, n;
} scan;

static void skip_ws(scan *c) {
  while (c->i < c->n && (c->s[c->i] == ' ' || c->s[c->i] == '\t' || c->s[c->i] == '\n' ||
                         c->s[c->i] == '\r'))
    c->i++;
}

/* Four hex digits at c->i: their value, or -1. */
static long hex4(const char *s, size_t i, size_t n) {
  if (n - i < 4) return -1;
  long v = 0;
  for (size_t k = 0; k < 4; k++) {
    int d = sg_hex_digit(s[i + k]);
    if (d < 0) return -1;
    v = v * 16 + d;
  }
  return v;
}

/* The bytes a string's scan must look at: its closing quote, an escape, a control character. */
static const unsigned char str_stop[256] = {
    [0] = 1,    [1] = 1,    [2] = 1,    [3] = 1,    [4] = 1,    [5] = 1,    [6] = 1,
    [7] = 1,    [8] = 1,    [9] = 1,    [10] = 1,   [11] = 1,   [12] = 1,   [13] = 1,
    [14] = 1,   [15] = 1,   [16] = 1,   [17] = 1,   [18] = 1,   [19] = 1,   [20] = 1,
    [21] = 1,   [22] = 1,   [23] = 1,   [24] = 1,   [25] = 1,   [26] = 1,   [27] = 1,
    [28] = 1,   [29] = 1,   [30] = 1,   [31] = 1,   ['"'] = 1,  ['\\'] = 1};

/* A string at c->i (its opening quote): moves past its closing quote.  0 or -1. */
static int skip_string(scan *c) {
  c->i++;
  while (c->i < c->n) {
    /* the common bytes, with the position in a register (c->s may alias c) */
    const unsigned char *p = (const unsigned char *)c->s;
    size_t i = c->i, n = c->n;
    while (i < n && !str_stop[p[i]]) i++;
    c->i = i;
    if (i >= n) break;
    unsigned char ch = (unsigned char)c->s[c->i++];
    if (ch == '"') return 0;
    if (ch < 0x20) return -1;
    if (ch != '\\') continue;
    if (c->i >= c->n) return -1;
    char e = c->s[c->i++];
    if (e == 'u') {
      if (hex4(c->s, c->i, c->n) < 0) return -1;
      c->i += 4;
    } else if (!memchr("\"\\/bfnrt", e, 8)) {
      return -1;
    }
  }
  return -1;
}

static int digits(scan *c) {
  size_t at = c->i;
  while (c->i < c->n && c->s[c->i] >= '0' && c->s[c->i] <= '9') c->i++;
  return c->i > at ? 0 : -1;
}

/* -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)? */
static int skip_number(scan *c) {
  if (c->s[c->i] == '-') c->i++;
  if (c->i < c->n && c->s[c->i] == '0') c->i++;
  else if (digits(c)) return -1;
  if (c->i < c->n && c->s[c->i] == '.') {
    c->i++;
    if (digits(c)) return -1;
  }
  if (c->i < c->n && (c->s[c->i] == 'e' || c->s[c->i] == 'E')) {
    c->i++;
    if (c->i < c->n && (c->s[c->i] == '+' || c->s[c->i] == '-')) c->i++;
    if (digits(c)) return -1;
  }
  return 0;
}

static int skip_literal(scan *c, const char *word) {
  size_t k = strlen(word);
  if (c->n - c->i < k || memcmp(c->s + c->i, word, k) != 0) return -1;
  c->i += k;
  return 0;
}

static int skip_value(scan *c, int depth);

/* The members of an object whose '{' is at c->i; at the top level (keys not NULL) notes the
 * wanted ones. */
static int members(scan *c, int depth, const char *const *keys, size_t nkeys,
                   sg_json_span *spans);

static int skip_array(scan *c, int depth) {
  c->i++;
  skip_ws(c);
  if (c->i < c->n && c->s[c->i] == ']') {
    c->i++;
    return 0;
  }
  for (;;) {
    if (skip_value(c, depth)) return -1;
    skip_ws(c);
    if (c->i >= c->n) return -1;
    char ch = c->s[c->i++];
    if (ch == ']') return 0;
    if (ch != ',') return -1;
  }
}

static int skip_value(scan *c, int depth) {
  skip_ws(c);
  if (c->i >= c->n) return -1;
  switch (c->s[c->i]) {
    case '{': return depth >= DEPTH_MAX ? -1 : members(c, depth + 1, NULL, 0, NULL);
    case '[': return depth >= DEPTH_MAX ? -1 : skip_array(c, depth + 1);
    case '"': return skip_string(c);
    case 't': return skip_literal(c, "true");
    case 'f': return skip_literal(c, "false");
    case 'n': return skip_literal(c, "null");
    default: break;
  }
  if (c->s[c->i] == '-' || (c->s[c->i] >= '0' && c->s[c->i] <= '9')) return skip_number(c);
  return -1;
}

/* 1 when the member name raw[0..len) (between its quotes, escapes as written) decodes to key. */
static int name_is(const char *raw, size_t len, const char *key) {
  if (!memchr(raw, '\\', len)) return strlen(key) == len && memcmp(raw, key, len) == 0;
  size_t i = 0, k = 0, klen = strlen(key);
  while (i < len) {
    char out[4];
    size_t w = 1;
    if (raw[i] != '\\') {
      out[0] = raw[i++];
    } else {
      char e = raw[i + 1];
      i += 2;
      if (e != 'u') {
        static const char from[] = "\"\\/bfnrt", to[] = "\"\\/\b\f\n\r\t";
        out[0] = to[strchr(from, e) - from];
      } else {
        unsigned long cp = (unsigned long)hex4(raw, i, len);
        i += 4;
        if (cp >= 0xD800 && cp <= 0xDBFF && len - i >= 6 && raw[i] == '\\' && raw[i + 1] == 'u') {
          long lo = hex4(raw, i + 2, len);
          if (lo < 0xDC00 || lo > 0xDFFF) return 0;
          cp = 0x10000 + ((cp - 0xD800) << 10) + ((unsigned long)lo - 0xDC00);
          i += 6;
        } else if (cp >= 0xD800 && cp <= 0xDFFF) {
          return 0;
        }
        if (cp == 0) return 0;
        w = sg_utf8_encode(cp, out);
      }
    }
    if (klen - k < w || memcmp(key + k, out, w) != 0) return 0;
    k += w;
  }
  return k == klen;
}

static int members(scan *c, int depth, const char *const *keys, size_t nkeys,
                   sg_json_span *spans) {
  c->i++;
  skip_ws(c);
  if (c->i < c->n && c->s[c->i] == '}') {
    c->i++;
    return 0;
  }
  for (;;) {
    skip_ws(c);
    if (c->i >= c->n || c->s[c->i] != '"') return -1;
    size_t name = c->i + 1;
    if (skip_string(c)) return -1;
    size_t name_len = c->i - 1 - name;
    skip_ws(c);
    if (c->i >= c->n || c->s[c->i++] != ':') return -1;
    skip_ws(c);
    size_t start = c->i;
    if (skip_value(c, depth)) return -1;
    for (size_t k = 0; k < nkeys; k++) {
      if (!spans[k].found && name_is(c->s + name, name_len, keys[k])) {
        spans[k].start = start;
        spans[k].end = c->i;
        spans[k].found = 1;
      }
    }
    skip_ws(c);
    if (c->i >= c->n) return -1;
    char ch = c->s[c->i++];
    if (ch == '}') return 0;
    if (ch != ',') return -1;
  }
}

int sg_json_scan_members(const char *text, size_t len, const char *const *keys, size_t n,
                         sg_json_span *spans) {
  scan c = {text, 0, len};
  for (size_t k = 0; k < n; k++) spans[k].start = spans[k].end = (size_t)(spans[k].found = 0);
  skip_ws(&c);
  if (c.i >= c.n || text[c.i] != '{' || members(&c, 1, keys, n, spans)) return -1;
  skip_ws(&c);
  return c.i == c.n ? 0 : -1;
}
