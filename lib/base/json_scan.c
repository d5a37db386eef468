/*
 * json_scan.c -- the top-level members of a JSON object found in its text (see json_scan.h):
 * a recursive-descent checker that skips every value and notes where the wanted members'
 * values lie.  Recursion is bounded by the nesting limit.
 *
 * Each step takes the position as a pointer and returns the position after what it passed, or
 * NULL when the text breaks there: the position stays in a register through a scan instead of
 * going through memory at every byte.
 */
#include <stdint.h>
#include <string.h>

#include "base/json_scan.h"
#include "base/sg.h"

#define DEPTH_MAX 512
#define KEYS_MAX 16         /* keys one scan looks for */
#define PLAIN_NAMES_MAX 64  /* names of the open objects a plain scan compares pairwise */
#define PLAIN_NUMBER_MAX 63 /* cJSON reads at most this many bytes of a number */

typedef const unsigned char *pos;

typedef struct scan {
  pos s, end; /* the text */
  int plain;   /* also refuse what soulgw_json_parse() would read differently (json_scan.h) */
  int trusted; /* the text was scanned before: values are skipped, not checked */
  int esc;     /* set by skip_string() when the string has an escape */
  size_t nseen, (*seen)[2]; /* a plain scan's names of the open objects: offset, length */
} scan;

/* RFC 8259's white space: the bytes skip_ws() passes. */
static const unsigned char ws[256] = {[' '] = 1, ['\t'] = 1, ['\n'] = 1, ['\r'] = 1};

static inline pos skip_ws(pos p, pos end) {
  while (p < end && ws[*p]) p++;
  return p;
}

/* Four hex digits at s[i]: their value, or -1. */
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

/* Eight bytes at a time where the first of them is the lowest of a word. */
#if defined(__GNUC__) && defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define SWAR 1
#define FIRST_MARKED(m) ((size_t)__builtin_ctzll(m) >> 3)
#else
#define SWAR 0
#define FIRST_MARKED(m) ((size_t)0)
#endif

/* The bytes of x (eight of the text, the first in the lowest byte) that a string's scan must
 * look at, as their high bits: a quote, a backslash, a byte below 0x20.  Each test is the
 * "has a zero byte" trick, whose borrow may also mark a byte above a marked one, never below:
 * so the lowest mark is exact, and only the lowest is used. */
static inline uint64_t str_stops(uint64_t x) {
  const uint64_t ones = 0x0101010101010101u, high = 0x8080808080808080u;
  uint64_t q = x ^ (ones * '"'), b = x ^ (ones * '\\');
  return (((q - ones) & ~q) | ((b - ones) & ~b) | ((x - ones * 0x20) & ~x)) & high;
}

/* The run of a string's bytes from p that need no look: the position of the first that does
 * (a quote, a backslash, a control character), or end. */
static inline pos plain_run(pos p, pos end) {
  /* eight bytes at a time (most strings are short: one step finds their end) */
  while (SWAR && end - p >= 8) {
    uint64_t x;
    memcpy(&x, p, 8);
    uint64_t m = str_stops(x);
    if (m) return p + FIRST_MARKED(m);
    p += 8;
  }
  while (p < end && !str_stop[*p]) p++;
  return p;
}

/* The rest of a string from p, where plain_run() stopped short of its closing quote: escapes,
 * and what breaks it.  Apart from skip_string() so that the common string costs no call. */
static pos string_rest(scan *c, pos p) {
  pos end = c->end;
  for (;;) {
    if (p >= end) return NULL;
    unsigned char ch = *p++;
    if (ch == '"') return p;
    if (ch < 0x20) return NULL;
    /* a backslash */
    c->esc = 1;
    if (p >= end) return NULL;
    char e = (char)*p++;
    if (e == 'u') {
      if (c->plain || hex4((const char *)p, 0, (size_t)(end - p)) < 0) return NULL;
      p += 4;
    } else if (!memchr("\"\\/bfnrt", e, 8)) {
      return NULL;
    }
    p = plain_run(p, end);
  }
}

/* A string at p (its opening quote): the position past its closing quote, or NULL. */
static inline pos skip_string(scan *c, pos p) {
  p = plain_run(p + 1, c->end);
  if (p < c->end && *p == '"') return p + 1;
  return string_rest(c, p);
}

static pos digits(pos p, pos end) {
  pos at = p;
  while (p < end && *p >= '0' && *p <= '9') p++;
  return p > at ? p : NULL;
}

/* -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)? */
static pos skip_number(const scan *c, pos p) {
  pos at = p, end = c->end;
  if (*p == '-') p++;
  if (p < end && *p == '0') p++;
  else if (!(p = digits(p, end))) return NULL;
  if (p < end && *p == '.' && !(p = digits(p + 1, end))) return NULL;
  if (p < end && (*p == 'e' || *p == 'E')) {
    p++;
    if (p < end && (*p == '+' || *p == '-')) p++;
    if (!(p = digits(p, end))) return NULL;
  }
  return c->plain && p - at > PLAIN_NUMBER_MAX ? NULL : p;
}

static pos skip_literal(pos p, pos end, const char *word, size_t k) {
  if ((size_t)(end - p) < k || memcmp(p, word, k) != 0) return NULL;
  return p + k;
}

static pos skip_value(scan *c, pos p, int depth);

/* The members of an object whose '{' is at p; at the top level (keys not NULL) notes the
 * wanted ones. */
static pos members(scan *c, pos p, int depth, const char *const *keys, size_t nkeys,
                   sg_json_span *spans);

static pos skip_array(scan *c, pos p, int depth) {
  pos end = c->end;
  p = skip_ws(p + 1, end);
  if (p < end && *p == ']') return p + 1;
  for (;;) {
    if (!(p = skip_value(c, p, depth))) return NULL;
    p = skip_ws(p, end);
    if (p >= end) return NULL;
    unsigned char ch = *p++;
    if (ch == ']') return p;
    if (ch != ',') return NULL;
    p = skip_ws(p, end);
  }
}

/* A value of a text scanned before, at p: the position past it, found by matching brackets and
 * skipping strings, a fraction of the cost of checking it again.  Never reads past the end. */
static pos skip_trusted(const scan *c, pos p) {
  pos end = c->end;
  int depth = 0;
  for (; p < end; p++) {
    unsigned char ch = *p;
    if (ch == '"') {
      for (p++; p < end && *p != '"'; p++)
        if (*p == '\\' && end - p > 1) p++;
      if (p >= end) break;
    } else if (ch == '{' || ch == '[') {
      depth++;
    } else if (ch == '}' || ch == ']') {
      if (depth == 0) break;
      if (--depth == 0) {
        p++;
        break;
      }
    } else if (depth == 0 && (ch == ',' || ws[ch])) {
      break;
    }
  }
  return p < end ? p : end;
}

/* The value at p, white space before it already skipped: the position past it, or NULL. */
static pos skip_value(scan *c, pos p, int depth) {
  if (p >= c->end) return NULL;
  if (c->trusted) return skip_trusted(c, p);
  switch (*p) {
    case '{': return depth >= DEPTH_MAX ? NULL : members(c, p, depth + 1, NULL, 0, NULL);
    case '[': return depth >= DEPTH_MAX ? NULL : skip_array(c, p, depth + 1);
    case '"': return skip_string(c, p);
    case 't': return skip_literal(p, c->end, "true", 4);
    case 'f': return skip_literal(p, c->end, "false", 5);
    case 'n': return skip_literal(p, c->end, "null", 4);
    default: break;
  }
  if (*p == '-' || (*p >= '0' && *p <= '9')) return skip_number(c, p);
  return NULL;
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

/* 1 when the member name raw[0..len) (between its quotes, without escapes) is key.  Compared
 * byte by byte, without the key's length: a scan looks for many keys and meets few members, so
 * measuring every key (or a call per comparison) costs more than the few bytes compared before
 * most names and keys differ.  The raw name holds no NUL, so the loop stops within key. */
static inline int name_is(const unsigned char *raw, size_t len, const char *key) {
  size_t i = 0;
  while (i < len && (unsigned char)key[i] == raw[i]) i++;
  return i == len && key[len] == '\0';
}

/* For a plain scan: 0 when the member name at s[name, name + len) has no escape (c->esc, as
 * skip_string() left it) and is not one of its object's earlier names (those from base on),
 * which it joins. */
static int plain_name(scan *c, size_t base, size_t name, size_t len) {
  if (c->nseen == PLAIN_NAMES_MAX || c->esc) return -1;
  for (size_t k = base; k < c->nseen; k++)
    if (c->seen[k][1] == len && memcmp(c->s + c->seen[k][0], c->s + name, len) == 0) return -1;
  c->seen[c->nseen][0] = name;
  c->seen[c->nseen][1] = len;
  c->nseen++;
  return 0;
}

static pos members(scan *c, pos p, int depth, const char *const *keys, size_t nkeys,
                   sg_json_span *spans) {
  size_t base = c->nseen; /* this object's names follow those of the objects around it */
  pos end = c->end;
  p = skip_ws(p + 1, end);
  if (p < end && *p == '}') return p + 1;
  for (;;) {
    if (p >= end || *p != '"') return NULL;
    pos name = p + 1;
    c->esc = 0;
    if (!(p = skip_string(c, p))) return NULL;
    size_t name_len = (size_t)(p - 1 - name);
    if (c->plain && plain_name(c, base, (size_t)(name - c->s), name_len)) return NULL;
    p = skip_ws(p, end);
    if (p >= end || *p != ':') return NULL;
    pos start = p = skip_ws(p + 1, end);
    int esc = c->esc;
    if (!(p = skip_value(c, p, depth))) return NULL;
    for (size_t k = 0; k < nkeys; k++) {
      if (esc ? escaped_name_is((const char *)name, name_len, keys[k], strlen(keys[k]))
              : name_is(name, name_len, keys[k])) {
        if (!spans[k].found) { /* the first member of the name counts */
          spans[k].start = (size_t)(start - c->s);
          spans[k].end = (size_t)(p - c->s);
          spans[k].found = 1;
        }
        break; /* the keys are distinct: no other one is this name */
      }
    }
    p = skip_ws(p, end);
    if (p >= end) return NULL;
    unsigned char ch = *p++;
    if (ch == '}') {
      c->nseen = base;
      return p;
    }
    if (ch != ',') return NULL;
    p = skip_ws(p, end);
  }
}

static int scan_object(const char *text, size_t len, const char *const *keys, size_t n,
                       sg_json_span *spans, int plain, int trusted) {
  size_t seen[PLAIN_NAMES_MAX][2];
  if (n > KEYS_MAX) return -1;
  pos s = (pos)text;
  scan c = {s, s + len, plain, trusted, 0, 0, seen};
  for (size_t k = 0; k < n; k++) spans[k].start = spans[k].end = (size_t)(spans[k].found = 0);
  pos p = skip_ws(s, c.end);
  if (p >= c.end || *p != '{' || !(p = members(&c, p, 1, keys, n, spans))) return -1;
  return skip_ws(p, c.end) == c.end ? 0 : -1;
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
  pos s = (pos)text;
  scan c = {s, s + len, 0, 1, 0, 0, NULL};
  span->start = span->end = (size_t)(span->found = 0);
  pos p = skip_ws(s, c.end);
  if (p >= c.end || *p != '[') return -1;
  p = skip_ws(p + 1, c.end);
  if (p < c.end && *p == ']') return 0;
  span->start = (size_t)(p - s);
  if (!(p = skip_value(&c, p, 1))) return -1;
  span->end = (size_t)(p - s);
  span->found = 1;
  return 0;
}

int sg_json_scan_next(const char *text, size_t len, sg_json_span *span) {
  pos s = (pos)text;
  scan c = {s, s + len, 0, 1, 0, 0, NULL};
  pos p;
  if (!span->found) {
    p = skip_ws(s, c.end);
    if (p >= c.end || *p != '[') return -1;
    p = skip_ws(p + 1, c.end);
    if (p < c.end && *p == ']') return 0;
  } else {
    p = skip_ws(s + span->end, c.end);
    span->found = 0;
    if (p >= c.end || *p != ',') return 0; /* the closing ']' */
    p = skip_ws(p + 1, c.end);
  }
  span->start = (size_t)(p - s);
  span->end = (size_t)(skip_trusted(&c, p) - s);
  span->found = span->end > span->start;
  return span->found;
}

size_t sg_json_plain_string(const char *text, const sg_json_span *span, char *out) {
  static const char from[] = "\"\\/bfnrt", to[] = "\"\\/\b\f\n\r\t";
  const char *s = text + span->start + 1, *end = text + span->end - 1;
  size_t n = 0;
  while (s < end) {
    const char *bs = memchr(s, '\\', (size_t)(end - s));
    size_t run = (size_t)((bs ? bs : end) - s);
    memcpy(out + n, s, run);
    n += run;
    s += run;
    if (!bs) break;
    /* a plain text's escapes are the two-byte ones (no \u) */
    out[n++] = to[strchr(from, s[1]) - from];
    s += 2;
  }
  out[n] = '\0';
  return n;
}
