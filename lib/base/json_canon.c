/*
 * json_canon.c -- the canonical-form check of json_canon.h: one pass over the text, with the
 * open arrays and objects on a small stack instead of recursion.  Every rule mirrors a choice
 * of json_write.c: anything it would print differently (a space, 1.0, 1e2, -0, "\/", "\u00e9")
 * makes the text not canonical, and the caller takes the tree's way.
 */
#include "base/json_canon.h"

#define CANON_DIGITS_MAX 15 /* %1.15g prints every integer of this many digits as itself */

typedef const unsigned char *pos;

/* The string at p (its opening quote): the position past its closing quote, or NULL when it
 * ends early or holds what the writer would print otherwise. */
static pos canon_string(pos p, pos end) {
  for (p++; p < end; p++) {
    unsigned char c = *p;
    if (c == '"') return p + 1;
    if (c < 0x20) return NULL;
    if (c == '\\') {
      if (++p >= end) return NULL;
      switch (*p) {
        case '"': case '\\': case 'b': case 'f': case 'n': case 'r': case 't': break;
        default: return NULL; /* \/ and \u are printed as other bytes */
      }
    }
  }
  return NULL;
}

/* -?(0|[1-9][0-9]{0,14}), not -0, ending where no fraction or exponent follows. */
static pos canon_number(pos p, pos end) {
  int neg = *p == '-';
  if (neg) p++;
  if (p >= end || *p < '0' || *p > '9') return NULL;
  pos at = p;
  if (*p == '0') {
    if (neg) return NULL;
    p++;
  } else {
    while (p < end && *p >= '0' && *p <= '9') p++;
    if (p - at > CANON_DIGITS_MAX) return NULL;
  }
  if (p < end && (*p == '.' || *p == 'e' || *p == 'E' || (*p >= '0' && *p <= '9'))) return NULL;
  return p;
}

static pos canon_literal(pos p, pos end, const char *word, size_t k) {
  if ((size_t)(end - p) < k) return NULL;
  for (size_t i = 0; i < k; i++)
    if (p[i] != (unsigned char)word[i]) return NULL;
  return p + k;
}

int sg_json_canonical(const char *text, size_t len) {
  unsigned char open[SG_JSON_CANON_DEPTH]; /* '{' or '[' for each open value */
  size_t depth = 0;
  pos p = (pos)text, end = p + len;
  if (!text) return 0;
  for (;;) {
    /* a value at p */
    if (p >= end) return 0;
    switch (*p) {
      case '{':
      case '[':
        if (depth == SG_JSON_CANON_DEPTH) return 0;
        open[depth++] = *p++;
        if (p < end && *p == (open[depth - 1] == '{' ? '}' : ']')) {
          p++;
          depth--;
          break;
        }
        if (open[depth - 1] == '[') continue;
        goto name;
      case '"': p = canon_string(p, end); break;
      case 't': p = canon_literal(p, end, "true", 4); break;
      case 'f': p = canon_literal(p, end, "false", 5); break;
      case 'n': p = canon_literal(p, end, "null", 4); break;
      default: p = (*p == '-' || (*p >= '0' && *p <= '9')) ? canon_number(p, end) : NULL; break;
    }
    if (!p) return 0;
    /* after a value: the next member or element, or the end of what holds it */
    for (;;) {
      if (depth == 0) return p == end;
      if (p >= end) return 0;
      unsigned char close = open[depth - 1] == '{' ? '}' : ']';
      if (*p == close) {
        p++;
        depth--;
        continue;
      }
      if (*p != ',') return 0;
      p++;
      break;
    }
    if (open[depth - 1] == '[') continue;
  name:
    if (p >= end || *p != '"' || !(p = canon_string(p, end)) || p >= end || *p != ':') return 0;
    p++;
  }
}
