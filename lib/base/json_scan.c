/*
 * json_scan.c -- the top-level members of a JSON object found in its text (see json_scan.h):
 * a recursive-descent checker that skips every value and notes where the wanted members'
 * values lie.  Recursion is bounded by the nesting limit.
 */
#include <string.h>

#include "base/json_scan.h"
#include "base/sg.h"

#define DEPTH_MAX 512
#define KEYS_MAX 16         /* keys one scan looks for */
#define PLAIN_NAMES_MAX 64  /* names of the open objects a plain scan compares pairwise */
#define PLAIN_NUMBER_MAX 63  /* cJSON reads at most this many bytes of a number */

typedef struct scan {
  const char *s;
  size_t i, n;
  int plain;   /* also refuse what soulgw_json_parse() would read differently (json_scan.h) */
  int trusted; /* the text was scanned before: values are skipped, not checked */
  int esc;   /* set by skip_string() when the string has an escape */
  const size_t *klen; /* the lengths of the wanted keys */
  size_t nseen, (*seen)[2]; /* a plain scan's names of the open objects: offset, length */
} scan;

/* RFC 8259's white space: the bytes skip_ws() passes. */
static const unsigned char ws[256] = {[' '] = 1, ['\t'] = 1, ['\n'] = 1, ['\r'] = 1};

static void skip_ws(scan *c) {
  while (c->i < c->n && ws[(unsigned char)c->s[c->i]]) c->i++;
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
    while (n - i >= 4 && !(str_stop[p[i]] | str_stop[p[i + 1]] | str_stop[p[i + 2]] |
                           str_stop[p[i + 3]]))
      i += 4; /* four at a time: most strings run a while before their end */
    while (i < n && !str_stop[p[i]]) i++;
    c->i = i;
    if (i >= n) break;
    unsigned char ch = (unsigned char)c->s[c->i++];
    if (ch == '"') return 0;
    if (ch < 0x20) return -1;
    if (ch != '\\') continue;
    c->esc = 1;
    if (c->i >= c->n) return -1;
    char e = c->s[c->i++];
    if (e == 'u') {
      if (c->plain || hex4(c->s, c->i, c->n) < 0) return -1;
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
  size_t at = c->i;
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
  return c->plain && c->i - at > PLAIN_NUMBER_MAX ? -1 : 0;
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
    skip_ws(c);
  }
}

/* A value of a text scanned before, at c->i: moves past it by matching brackets and skipping
 * strings, a fraction of the cost of checking it again.  Never reads past c->n. */
static int skip_trusted(scan *c) {
  const unsigned char *p = (const unsigned char *)c->s;
  size_t i = c->i, n = c->n;
  int depth = 0;
  for (; i < n; i++) {
    unsigned char ch = p[i];
    if (ch == '"') {
      for (i++; i < n && p[i] != '"'; i++)
        if (p[i] == '\\') i++;
      if (i >= n) break;
    } else if (ch == '{' || ch == '[') {
      depth++;
    } else if (ch == '}' || ch == ']') {
      if (depth == 0) break;
      if (--depth == 0) {
        i++;
        break;
      }
    } else if (depth == 0 && (ch == ',' || ws[ch])) {
      break;
    }
  }
  c->i = i < n ? i : n;
  return 0;
}

/* The value at c->i, white space before it already skipped. */
static int skip_value(scan *c, int depth) {
  if (c->i >= c->n) return -1;
  if (c->trusted) return skip_trusted(c);
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

/* 1 when the member name raw[0..len) (between its quotes, escapes as written, at least one)
 * decodes to key (klen bytes). */
static int escaped_name_is(const char *raw, size_t len, const char *key, size_t klen) {
  size_t i = 0, k = 0;
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

/* For a plain scan: 0 when the member name at c->s[name, name + len) has no escape and is not
 * one of its object's earlier names (those from base on), which it joins. */
static int plain_name(scan *c, size_t base, size_t name, size_t len) {
  if (c->nseen == PLAIN_NAMES_MAX || c->esc) return -1;
  for (size_t k = base; k < c->nseen; k++)
    if (c->seen[k][1] == len && memcmp(c->s + c->seen[k][0], c->s + name, len) == 0) return -1;
  c->seen[c->nseen][0] = name;
  c->seen[c->nseen][1] = len;
  c->nseen++;
  return 0;
}

static int members(scan *c, int depth, const char *const *keys, size_t nkeys,
                   sg_json_span *spans) {
  size_t base = c->nseen; /* this object's names follow those of the objects around it */
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
    c->esc = 0;
    if (skip_string(c)) return -1;
    int esc = c->esc;
    size_t name_len = c->i - 1 - name;
    if (c->plain && plain_name(c, base, name, name_len)) return -1;
    skip_ws(c);
    if (c->i >= c->n || c->s[c->i++] != ':') return -1;
    skip_ws(c);
    size_t start = c->i;
    if (skip_value(c, depth)) return -1;
    for (size_t k = 0; k < nkeys; k++) {
      if (!spans[k].found &&
          (esc ? escaped_name_is(c->s + name, name_len, keys[k], c->klen[k])
               : name_len == c->klen[k] && memcmp(c->s + name, keys[k], name_len) == 0)) {
        spans[k].start = start;
        spans[k].end = c->i;
        spans[k].found = 1;
      }
    }
    skip_ws(c);
    if (c->i >= c->n) return -1;
    char ch = c->s[c->i++];
    if (ch == '}') {
      c->nseen = base;
      return 0;
    }
    if (ch != ',') return -1;
  }
}

static int scan_object(const char *text, size_t len, const char *const *keys, size_t n,
                       sg_json_span *spans, int plain, int trusted) {
  size_t seen[PLAIN_NAMES_MAX][2], klen[KEYS_MAX];
  if (n > KEYS_MAX) return -1;
  scan c = {text, 0, len, plain, trusted, 0, klen, 0, seen};
  for (size_t k = 0; k < n; k++) {
    spans[k].start = spans[k].end = (size_t)(spans[k].found = 0);
    klen[k] = strlen(keys[k]);
  }
  skip_ws(&c);
  if (c.i >= c.n || text[c.i] != '{' || members(&c, 1, keys, n, spans)) return -1;
  skip_ws(&c);
  return c.i == c.n ? 0 : -1;
}

int sg_json_scan_members(const char *text, size_t len, const char *const *keys, size_t n,
                         sg_json_span *spans) {
  return scan_object(text, len, keys, n, spans, 0, 0);
}

int sg_json_scan_members_of(const char *text, size_t len, const char *const *keys, size_t n,
                            sg_json_span *spans) {
  return scan_object(text, len, keys, n, spans, 0, 1);
}

int sg_json_scan_plain(const char *text, size_t len, const char *const *keys, size_t n,
                       sg_json_span *spans) {
  if (!sg_utf8_valid(text, len, NULL)) return -1;
  return scan_object(text, len, keys, n, spans, 1, 0);
}

int sg_json_scan_first(const char *text, size_t len, sg_json_span *span) {
  scan c = {text, 0, len, 0, 1, 0, NULL, 0, NULL};
  span->start = span->end = (size_t)(span->found = 0);
  skip_ws(&c);
  if (c.i >= c.n || text[c.i] != '[') return -1;
  c.i++;
  skip_ws(&c);
  if (c.i < c.n && text[c.i] == ']') return 0;
  span->start = c.i;
  if (skip_value(&c, 1)) return -1;
  span->end = c.i;
  span->found = 1;
  return 0;
}
