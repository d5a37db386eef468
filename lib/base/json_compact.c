/*
 * json_compact.c -- a JSON checker that compacts the text it checks in place (see
 * json_compact.h).
 *
 * One pass over the text with an explicit stack of open arrays and objects.  A read position
 * r and a write position w move forward together, w never ahead of r: every token is written
 * at most as long as it was read (white space dropped, "\u00e9" becoming two bytes of UTF-8,
 * "\/" becoming "/"), and a token is read whole before it is written.  The keys of the objects
 * still open are remembered as (pointer, length) into the rewritten text, where they are in
 * their canonical form, so that two spellings of one key are found equal; the keys of an
 * object are compared when it closes.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/json_compact.h"

#define DEPTH_MAX 512    /* as soulgw_json_parse() */
#define PAIRWISE_MAX 16  /* objects with more keys are sorted to find duplicates */

typedef struct key {
  const char *p;
  size_t n;
} key;

typedef struct scan {
  char *t;
  size_t len, r, w;
  key *keys;
  size_t nkeys, cap;
  char *err;
  size_t errlen;
} scan;

static int fail(scan *s, const char *fmt, ...) SG_PRINTF(2, 3);
static int fail(scan *s, const char *fmt, ...) {
  if (s->err && s->errlen) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(s->err, s->errlen, fmt, ap);
    va_end(ap);
  }
  return SOULGW_EINVAL;
}

static int malformed(scan *s) { return fail(s, "malformed JSON near byte %zu", s->r); }

static void skip_ws(scan *s) {
  while (s->r < s->len) {
    char c = s->t[s->r];
    if (c != ' ' && c != '\t' && c != '\n' && c != '\r') return;
    s->r++;
  }
}

static int hex4(const char *p, unsigned *out) {
  unsigned v = 0;
  for (int i = 0; i < 4; i++) {
    int d = sg_hex_digit(p[i]);
    if (d < 0) return -1;
    v = v * 16 + (unsigned)d;
  }
  *out = v;
  return 0;
}

/* Writes code point cp as soulgw_json_print() would: escaped as sg_json_escape_byte()
 * escapes it, everything else as UTF-8. */
static void put_cp(scan *s, unsigned cp) {
  char *o = s->t + s->w;
  if (cp < 0x80 && sg_json_needs_escape((unsigned char)cp))
    s->w += sg_json_escape_byte((unsigned char)cp, o);
  else
    s->w += sg_utf8_encode(cp, o);
}

/* A "\u" escape at s->r (after the backslash's check): its code point, a surrogate pair
 * joined.  Reads it whole before anything is written. */
static int unicode_escape(scan *s, unsigned *cp) {
  size_t at = s->r;
  if (s->len - s->r < 6 || hex4(s->t + s->r + 2, cp)) return malformed(s);
  s->r += 6;
  if (*cp == 0) return fail(s, "\\u0000 is not allowed in strings (byte %zu)", at);
  if (*cp >= 0xDC00 && *cp <= 0xDFFF) return fail(s, "a lone surrogate at byte %zu", at);
  if (*cp < 0xD800 || *cp > 0xDBFF) return 0;
  unsigned lo;
  if (s->len - s->r < 6 || s->t[s->r] != '\\' || s->t[s->r + 1] != 'u' ||
      hex4(s->t + s->r + 2, &lo) || lo < 0xDC00 || lo > 0xDFFF)
    return fail(s, "a lone surrogate at byte %zu", at);
  s->r += 6;
  *cp = 0x10000 + ((*cp - 0xD800) << 10) + (lo - 0xDC00);
  return 0;
}

/* A string at s->r (its opening quote), rewritten; its content (between the quotes, as
 * written) in *k.  The text is valid UTF-8 already. */
static int string(scan *s, key *k) {
  char *t = s->t;
  s->r++;
  t[s->w++] = '"';
  k->p = t + s->w;
  for (;;) {
    size_t run = s->r;
    while (run < s->len && t[run] != '"' && t[run] != '\\' && (unsigned char)t[run] >= 0x20) run++;
    if (run > s->r) {
      memmove(t + s->w, t + s->r, run - s->r);
      s->w += run - s->r;
      s->r = run;
    }
    if (s->r >= s->len) return fail(s, "unterminated string");
    char c = t[s->r];
    if (c == '"') break;
    if (c != '\\') return fail(s, "control character in a string at byte %zu", s->r);
    if (s->r + 1 >= s->len) return malformed(s);
    unsigned cp = 0;
    switch (t[s->r + 1]) {
      case '"': cp = '"'; break;
      case '\\': cp = '\\'; break;
      case '/': cp = '/'; break;
      case 'b': cp = '\b'; break;
      case 'f': cp = '\f'; break;
      case 'n': cp = '\n'; break;
      case 'r': cp = '\r'; break;
      case 't': cp = '\t'; break;
      case 'u':
        if (unicode_escape(s, &cp)) return SOULGW_EINVAL;
        put_cp(s, cp);
        continue;
      default: return malformed(s);
    }
    s->r += 2;
    put_cp(s, cp);
  }
  k->n = (size_t)(t + s->w - k->p);
  s->r++;
  t[s->w++] = '"';
  return 0;
}

static size_t digits(const char *t, size_t i, size_t len) {
  while (i < len && t[i] >= '0' && t[i] <= '9') i++;
  return i;
}

/* A number, as RFC 8259 writes them, copied as written. */
static int number(scan *s) {
  const char *t = s->t;
  size_t i = s->r;
  if (i < s->len && t[i] == '-') i++;
  if (i < s->len && t[i] == '0') i++;
  else if (i < s->len && t[i] >= '1' && t[i] <= '9') i = digits(t, i, s->len);
  else return malformed(s);
  if (i < s->len && t[i] == '.') {
    size_t f = digits(t, i + 1, s->len);
    if (f == i + 1) return malformed(s);
    i = f;
  }
  if (i < s->len && (t[i] == 'e' || t[i] == 'E')) {
    i++;
    if (i < s->len && (t[i] == '+' || t[i] == '-')) i++;
    size_t e = digits(t, i, s->len);
    if (e == i) return malformed(s);
    i = e;
  }
  memmove(s->t + s->w, t + s->r, i - s->r);
  s->w += i - s->r;
  s->r = i;
  return 0;
}

static int literal(scan *s) {
  static const char *const words[] = {"true", "false", "null"};
  for (size_t i = 0; i < SG_ARRAY_LEN(words); i++) {
    size_t n = strlen(words[i]);
    if (s->len - s->r >= n && !memcmp(s->t + s->r, words[i], n)) {
      memmove(s->t + s->w, words[i], n);
      s->w += n;
      s->r += n;
      return 0;
    }
  }
  return malformed(s);
}

static int key_cmp(const void *a, const void *b) {
  const key *x = a, *y = b;
  if (x->n != y->n) return x->n < y->n ? -1 : 1;
  return memcmp(x->p, y->p, x->n);
}

/* The keys of the object that closes, from base on: a duplicate fails. */
static int check_keys(scan *s, size_t base) {
  key *k = s->keys + base;
  size_t n = s->nkeys - base;
  const key *dup = NULL;
  if (n > 1 && n <= PAIRWISE_MAX) {
    for (size_t i = 0; i < n && !dup; i++)
      for (size_t j = i + 1; j < n && !dup; j++)
        if (k[i].n == k[j].n && !memcmp(k[i].p, k[j].p, k[i].n)) dup = &k[i];
  } else if (n > PAIRWISE_MAX) {
    qsort(k, n, sizeof *k, key_cmp);
    for (size_t i = 1; i < n && !dup; i++)
      if (!key_cmp(&k[i - 1], &k[i])) dup = &k[i];
  }
  s->nkeys = base;
  if (dup) return fail(s, "duplicate key \"%.*s\"", (int)(dup->n < 64 ? dup->n : 64), dup->p);
  return 0;
}

static int push_key(scan *s, key k) {
  if (s->nkeys == s->cap) {
    size_t cap = s->cap ? 2 * s->cap : 64;
    key *grown = realloc(s->keys, cap * sizeof *grown);
    if (!grown) return SOULGW_ENOMEM;
    s->keys = grown;
    s->cap = cap;
  }
  s->keys[s->nkeys++] = k;
  return 0;
}

enum { WANT_VALUE, WANT_KEY, AFTER_VALUE };

static int run(scan *s) {
  char open[DEPTH_MAX];    /* '{' or '[' of each open container */
  size_t base[DEPTH_MAX];  /* an object's first key in s->keys */
  int depth = 0, state = WANT_VALUE, rc = 0;
  key k;
  for (;;) {
    skip_ws(s);
    if (state == AFTER_VALUE && depth == 0) break;
    if (s->r >= s->len)
      return s->w == 0 ? fail(s, "empty JSON text") : malformed(s);
    char c = s->t[s->r];
    if (state == WANT_KEY) {
      if (c != '"' || (rc = string(s, &k)) || (rc = push_key(s, k))) return rc ? rc : malformed(s);
      skip_ws(s);
      if (s->r >= s->len || s->t[s->r] != ':') return malformed(s);
      s->t[s->w++] = ':';
      s->r++;
      state = WANT_VALUE;
      continue;
    }
    if (state == AFTER_VALUE) {
      char closer = open[depth - 1] == '{' ? '}' : ']';
      if (c == ',') {
        state = open[depth - 1] == '{' ? WANT_KEY : WANT_VALUE;
      } else if (c == closer) {
        if (closer == '}' && (rc = check_keys(s, base[depth - 1]))) return rc;
        depth--;
      } else {
        return malformed(s);
      }
      s->t[s->w++] = c;
      s->r++;
      continue;
    }
    /* WANT_VALUE */
    if (c == '{' || c == '[') {
      if (depth == DEPTH_MAX)
        return fail(s, "nesting deeper than %d levels at byte %zu", DEPTH_MAX, s->r);
      open[depth] = c;
      base[depth++] = s->nkeys;
      s->t[s->w++] = c;
      s->r++;
      skip_ws(s);
      if (s->r < s->len && s->t[s->r] == (c == '{' ? '}' : ']')) {
        s->t[s->w++] = s->t[s->r++];
        depth--;
        state = AFTER_VALUE;
      } else {
        state = c == '{' ? WANT_KEY : WANT_VALUE;
      }
      continue;
    }
    if (c == '"') rc = string(s, &k);
    else if (c == '-' || (c >= '0' && c <= '9')) rc = number(s);
    else rc = literal(s);
    if (rc) return rc;
    state = AFTER_VALUE;
  }
  if (s->r < s->len) return fail(s, "unexpected text after the JSON value at byte %zu", s->r);
  return 0;
}

int sg_json_compact(char *text, size_t len, size_t *out_len, char *err, size_t errlen) {
  scan s = {text, len, 0, 0, NULL, 0, 0, err, errlen};
  size_t bad;
  *out_len = 0;
  if (!text) return fail(&s, "no JSON text");
  if (!sg_utf8_valid(text, len, &bad)) return fail(&s, "invalid UTF-8 at byte %zu", bad);
  int rc = run(&s);
  free(s.keys);
  if (rc) return rc;
  text[s.w] = '\0';
  *out_len = s.w;
  return 0;
}
