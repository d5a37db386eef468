/*
 * json_write.c -- compact JSON text straight into an sg_buf (see json_write.h).
 *
 * cJSON's printer builds its text in a buffer of its own, grows it by reallocation and hands
 * it over to be copied and freed; for an answer assembled around a value (a tool's result) that
 * is three trips to the allocator per value.  This writer walks the value through the public
 * soulgw_json accessors and appends to the answer's buffer, reproducing cJSON's output exactly:
 * the same escapes (those of sg_buf_json_escape_bytes(), the library's one escaper) and the
 * same numbers (%1.15g, or %1.17g when that does not read back as the same double; integral
 * values within int, which %1.15g writes as %d does, are written by hand, except -0).
 */
#include <float.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/json.h"
#include "base/json_write.h"

void sg_json_write_string(sg_buf *b, const char *s) {
  sg_buf_putc(b, '"');
  sg_buf_json_escape_bytes(b, s, strlen(s));
  sg_buf_putc(b, '"');
}

size_t sg_json_number_text(double d, char out[SG_JSON_NUMBER_MAX]) {
  if (isnan(d) || isinf(d)) {
    memcpy(out, "null", 5);
    return 4;
  }
  if (d >= INT_MIN && d <= INT_MAX && d == (double)(int)d && !(d == 0 && signbit(d))) {
    /* %d by hand: the common case, and the one worth keeping printf out of */
    char digits[16];
    long long v = (int)d;
    unsigned long long u = v < 0 ? 0ull - (unsigned long long)v : (unsigned long long)v;
    size_t i = sizeof digits, n = 0;
    do {
      digits[--i] = (char)('0' + u % 10);
      u /= 10;
    } while (u);
    if (v < 0) out[n++] = '-';
    memcpy(out + n, digits + i, sizeof digits - i);
    n += sizeof digits - i;
    out[n] = '\0';
    return n;
  }
  int n = snprintf(out, SG_JSON_NUMBER_MAX, "%1.15g", d);
  double back = strtod(out, NULL);
  double max = fabs(back) > fabs(d) ? fabs(back) : fabs(d);
  if (!(fabs(back - d) <= max * DBL_EPSILON)) n = snprintf(out, SG_JSON_NUMBER_MAX, "%1.17g", d);
  return (size_t)n;
}

static int write_value(sg_buf *b, const soulgw_json *v, int depth) {
  switch (soulgw_json_typeof(v)) {
    case SOULGW_JSON_BOOL:
      if (soulgw_json_bool(v, 0)) sg_buf_append(b, "true", 4);
      else sg_buf_append(b, "false", 5);
      return 0;
    case SOULGW_JSON_NUMBER: {
      char num[SG_JSON_NUMBER_MAX];
      sg_buf_append(b, num, sg_json_number_text(soulgw_json_number(v, 0), num));
      return 0;
    }
    case SOULGW_JSON_STRING: sg_json_write_string(b, soulgw_json_string(v)); return 0;
    case SOULGW_JSON_ARRAY:
    case SOULGW_JSON_OBJECT: {
      int obj = soulgw_json_typeof(v) == SOULGW_JSON_OBJECT;
      if (depth >= SG_JSON_WRITE_MAX_DEPTH) return SOULGW_EINVAL;
      sg_buf_putc(b, obj ? '{' : '[');
      for (const soulgw_json *c = soulgw_json_first(v); c; c = soulgw_json_next(c)) {
        if (c != soulgw_json_first(v)) sg_buf_putc(b, ',');
        if (obj) {
          sg_json_write_string(b, soulgw_json_key(c));
          sg_buf_putc(b, ':');
        }
        int rc = write_value(b, c, depth + 1);
        if (rc) return rc;
      }
      sg_buf_putc(b, obj ? '}' : ']');
      return 0;
    }
    default: {
      const char *raw = sg_json_raw_text(v); /* text spliced in as it is, as cJSON prints it */
      if (raw) sg_buf_puts(b, raw);
      else sg_buf_append(b, "null", 4);
      return 0;
    }
  }
}

int sg_json_write(sg_buf *b, const soulgw_json *v) {
  int rc = write_value(b, v, 0);
  if (rc) return rc;
  return sg_buf_failed(b) ? SOULGW_ENOMEM : 0;
}
