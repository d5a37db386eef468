/*
 * schema.c -- the JSON Schema subset of tool manifests (see schema.h for the keywords).
 *
 * Validation walks the schema and the value together.  The path to the current place is kept
 * as a chain of frames on the stack (a member name or an array index each), which costs
 * nothing while the value conforms; only a failure renders it, as input.items[2].name.  Member
 * names that are not plain identifiers are rendered quoted: input["a.b"].
 */
#include <stdio.h>
#include <string.h>

#include "base/json.h"
#include "tools/schema.h"

typedef struct frame {
  const struct frame *up;
  const char *key; /* member name; NULL for an array index */
  size_t index;
} frame;

const char *sg_schema_type_name(const soulgw_json *v) {
  switch (soulgw_json_typeof(v)) {
    case SOULGW_JSON_NULL: return "null";
    case SOULGW_JSON_BOOL: return "boolean";
    case SOULGW_JSON_NUMBER: return "number";
    case SOULGW_JSON_STRING: return "string";
    case SOULGW_JSON_ARRAY: return "array";
    case SOULGW_JSON_OBJECT: return "object";
    default: return "nothing";
  }
}

/* ------------------------------------------------------------------------------------------ */
/* Error paths */

typedef struct out {
  char *p;
  size_t len, cap;
  int cut; /* something did not fit */
} out;

static void put(out *o, const char *s, size_t n) {
  if (!o->cap) return;
  size_t room = o->cap - 1 - o->len;
  if (n > room) {
    n = room;
    o->cut = 1;
  }
  memcpy(o->p + o->len, s, n);
  o->len += n;
  o->p[o->len] = '\0';
}

static int plain_key(const char *k) {
  if (!*k || !((*k >= 'a' && *k <= 'z') || (*k >= 'A' && *k <= 'Z') || *k == '_')) return 0;
  for (; *k; k++)
    if (!((*k >= 'a' && *k <= 'z') || (*k >= 'A' && *k <= 'Z') || (*k >= '0' && *k <= '9') ||
          *k == '_' || *k == '-'))
      return 0;
  return 1;
}

/* Renders the chain from the root down.  The root frame's key is the prefix, written as is. */
static void render(out *o, const frame *f) {
  char num[32];
  if (!f) return;
  render(o, f->up);
  if (!f->up) {
    put(o, f->key, strlen(f->key));
  } else if (!f->key) {
    int n = snprintf(num, sizeof num, "[%zu]", f->index);
    put(o, num, (size_t)n);
  } else if (plain_key(f->key)) {
    put(o, ".", 1);
    put(o, f->key, strnlen(f->key, 128));
  } else {
    /* quoted, with quotes and backslashes escaped and control characters dropped */
    put(o, "[\"", 2);
    size_t n = 0;
    for (const char *k = f->key; *k && n < 128; k++, n++) {
      if ((unsigned char)*k < 0x20) continue;
      if (*k == '"' || *k == '\\') put(o, "\\", 1);
      put(o, k, 1);
    }
    put(o, "\"]", 2);
  }
}

static int fail(const frame *f, char *err, size_t errlen, const char *fmt, ...) SG_PRINTF(4, 5);
static int fail(const frame *f, char *err, size_t errlen, const char *fmt, ...) {
  if (err && errlen) {
    /* The path gets at most what leaves room for the message; a cut path ends in "..." */
    out o = {err, 0, errlen > 192 ? errlen - 128 : errlen, 0};
    err[0] = '\0';
    render(&o, f);
    if (o.cut && o.len >= 3) memcpy(err + o.len - 3, "...", 3);
    o.cap = errlen;
    put(&o, ": ", 2);
    va_list ap;
    va_start(ap, fmt);
    if (o.len < errlen - 1) vsnprintf(err + o.len, errlen - o.len, fmt, ap);
    va_end(ap);
  }
  return SOULGW_EINVAL;
}

/* ------------------------------------------------------------------------------------------ */
/* Validation */

/* The keywords of one schema object, gathered in a single pass over its members. */
typedef struct kw {
  const soulgw_json *type, *properties, *required, *enumv, *constv, *items, *min_items,
      *max_items, *minimum, *maximum, *excl_min, *excl_max, *min_length, *max_length,
      *additional;
} kw;

static void gather(const soulgw_json *s, kw *k) {
  memset(k, 0, sizeof *k);
  for (const soulgw_json *m = soulgw_json_first(s); m; m = soulgw_json_next(m)) {
    const char *n = soulgw_json_key(m);
    switch (n[0]) {
      case 't': if (!strcmp(n, "type")) k->type = m; break;
      case 'p': if (!strcmp(n, "properties")) k->properties = m; break;
      case 'r': if (!strcmp(n, "required")) k->required = m; break;
      case 'e':
        if (!strcmp(n, "enum")) k->enumv = m;
        else if (!strcmp(n, "exclusiveMinimum")) k->excl_min = m;
        else if (!strcmp(n, "exclusiveMaximum")) k->excl_max = m;
        break;
      case 'c': if (!strcmp(n, "const")) k->constv = m; break;
      case 'i': if (!strcmp(n, "items")) k->items = m; break;
      case 'a': if (!strcmp(n, "additionalProperties")) k->additional = m; break;
      case 'm':
        if (!strcmp(n, "minimum")) k->minimum = m;
        else if (!strcmp(n, "maximum")) k->maximum = m;
        else if (!strcmp(n, "minLength")) k->min_length = m;
        else if (!strcmp(n, "maxLength")) k->max_length = m;
        else if (!strcmp(n, "minItems")) k->min_items = m;
        else if (!strcmp(n, "maxItems")) k->max_items = m;
        break;
      default: break;
    }
  }
}

/* 1 when v has the JSON Schema type named t. */
static int has_type(const soulgw_json *v, const char *t) {
  switch (soulgw_json_typeof(v)) {
    case SOULGW_JSON_NULL: return !strcmp(t, "null");
    case SOULGW_JSON_BOOL: return !strcmp(t, "boolean");
    case SOULGW_JSON_NUMBER:
      return !strcmp(t, "number") || (!strcmp(t, "integer") && sg_json_is_integer(v));
    case SOULGW_JSON_STRING: return !strcmp(t, "string");
    case SOULGW_JSON_ARRAY: return !strcmp(t, "array");
    case SOULGW_JSON_OBJECT: return !strcmp(t, "object");
    default: return 0;
  }
}

static int check_type(const soulgw_json *type, const soulgw_json *v, const frame *f, char *err,
                      size_t errlen) {
  const char *one = soulgw_json_string(type);
  if (one) {
    if (has_type(v, one)) return 0;
    return fail(f, err, errlen, "expected %s, got %s", one, sg_schema_type_name(v));
  }
  if (soulgw_json_typeof(type) != SOULGW_JSON_ARRAY) return 0;
  char names[160];
  out o = {names, 0, sizeof names, 0};
  names[0] = '\0';
  size_t n = 0, count = soulgw_json_size(type);
  for (const soulgw_json *t = soulgw_json_first(type); t; t = soulgw_json_next(t)) {
    const char *name = soulgw_json_string(t);
    if (!name) continue;
    if (has_type(v, name)) return 0;
    if (n++) put(&o, n == count ? " or " : ", ", n == count ? 4 : 2);
    put(&o, name, strlen(name));
  }
  if (!n) return 0;
  return fail(f, err, errlen, "expected %s, got %s", names, sg_schema_type_name(v));
}

static int check_enum(const soulgw_json *enumv, const soulgw_json *v, const frame *f, char *err,
                      size_t errlen) {
  if (soulgw_json_typeof(enumv) != SOULGW_JSON_ARRAY) return 0;
  int all_strings = 1;
  for (const soulgw_json *e = soulgw_json_first(enumv); e; e = soulgw_json_next(e)) {
    if (sg_json_equal(e, v)) return 0;
    if (!soulgw_json_string(e)) all_strings = 0;
  }
  size_t n = soulgw_json_size(enumv);
  if (!all_strings || n == 0 || n > 8)
    return fail(f, err, errlen, "not one of the %zu allowed values", n);
  char names[256];
  out o = {names, 0, sizeof names, 0};
  names[0] = '\0';
  size_t i = 0;
  for (const soulgw_json *e = soulgw_json_first(enumv); e; e = soulgw_json_next(e), i++) {
    const char *s = soulgw_json_string(e);
    if (i) put(&o, ", ", 2);
    put(&o, "\"", 1);
    put(&o, s, strnlen(s, 40));
    put(&o, "\"", 1);
  }
  return fail(f, err, errlen, "expected one of %s", names);
}

static int check_const(const soulgw_json *c, const soulgw_json *v, const frame *f, char *err,
                       size_t errlen) {
  if (sg_json_equal(c, v)) return 0;
  if (soulgw_json_string(c))
    return fail(f, err, errlen, "expected \"%.40s\" (const)", soulgw_json_string(c));
  if (soulgw_json_typeof(c) == SOULGW_JSON_NUMBER)
    return fail(f, err, errlen, "expected %.15g (const)", soulgw_json_number(c, 0));
  return fail(f, err, errlen, "not the value const allows");
}

/* The bounds of a number: minimum, maximum, exclusiveMinimum, exclusiveMaximum (each applied
 * when it is a number). */
static int check_number(const kw *k, double x, const frame *f, char *err, size_t errlen) {
  if (soulgw_json_typeof(k->minimum) == SOULGW_JSON_NUMBER && x < soulgw_json_number(k->minimum, 0))
    return fail(f, err, errlen, "%.15g is less than the minimum %.15g", x,
                soulgw_json_number(k->minimum, 0));
  if (soulgw_json_typeof(k->maximum) == SOULGW_JSON_NUMBER && x > soulgw_json_number(k->maximum, 0))
    return fail(f, err, errlen, "%.15g is greater than the maximum %.15g", x,
                soulgw_json_number(k->maximum, 0));
  if (soulgw_json_typeof(k->excl_min) == SOULGW_JSON_NUMBER &&
      x <= soulgw_json_number(k->excl_min, 0))
    return fail(f, err, errlen, "%.15g is not greater than the exclusiveMinimum %.15g", x,
                soulgw_json_number(k->excl_min, 0));
  if (soulgw_json_typeof(k->excl_max) == SOULGW_JSON_NUMBER &&
      x >= soulgw_json_number(k->excl_max, 0))
    return fail(f, err, errlen, "%.15g is not less than the exclusiveMaximum %.15g", x,
                soulgw_json_number(k->excl_max, 0));
  return 0;
}

static size_t utf8_chars(const char *s) {
  size_t n = 0;
  for (; *s; s++) n += ((unsigned char)*s & 0xC0) != 0x80;
  return n;
}

static int validate(const soulgw_json *s, const soulgw_json *v, const frame *f, int depth,
                    char *err, size_t errlen);

static int check_object(const kw *k, const soulgw_json *v, const frame *f, int depth, char *err,
                        size_t errlen) {
  int rc;
  for (const soulgw_json *r = soulgw_json_first(k->required); r; r = soulgw_json_next(r)) {
    const char *name = soulgw_json_string(r);
    if (name && !soulgw_json_get(v, name)) {
      frame sub = {f, name, 0};
      return fail(&sub, err, errlen, "required");
    }
  }
  const soulgw_json *props =
      soulgw_json_typeof(k->properties) == SOULGW_JSON_OBJECT ? k->properties : NULL;
  const soulgw_json *add = k->additional;
  int add_schema = soulgw_json_typeof(add) == SOULGW_JSON_OBJECT;
  int add_forbidden = soulgw_json_bool(add, 1) == 0;
  if (!add_schema && !add_forbidden) {
    /* only the named properties matter: walk them */
    for (const soulgw_json *p = soulgw_json_first(props); p; p = soulgw_json_next(p)) {
      const soulgw_json *m = soulgw_json_get(v, soulgw_json_key(p));
      if (!m) continue;
      frame sub = {f, soulgw_json_key(p), 0};
      if ((rc = validate(p, m, &sub, depth + 1, err, errlen))) return rc;
    }
    return 0;
  }
  for (const soulgw_json *m = soulgw_json_first(v); m; m = soulgw_json_next(m)) {
    frame sub = {f, soulgw_json_key(m), 0};
    const soulgw_json *p = soulgw_json_get(props, soulgw_json_key(m));
    if (p) rc = validate(p, m, &sub, depth + 1, err, errlen);
    else if (add_schema) rc = validate(add, m, &sub, depth + 1, err, errlen);
    else rc = fail(&sub, err, errlen, "not allowed (additionalProperties is false)");
    if (rc) return rc;
  }
  return 0;
}

static int check_array(const soulgw_json *items, const soulgw_json *v, const frame *f, int depth,
                       char *err, size_t errlen) {
  soulgw_json_type t = soulgw_json_typeof(items);
  const soulgw_json *positional = t == SOULGW_JSON_ARRAY ? soulgw_json_first(items) : NULL;
  if (t != SOULGW_JSON_OBJECT && t != SOULGW_JSON_BOOL && t != SOULGW_JSON_ARRAY) return 0;
  size_t i = 0;
  for (const soulgw_json *e = soulgw_json_first(v); e; e = soulgw_json_next(e), i++) {
    const soulgw_json *s = items;
    if (t == SOULGW_JSON_ARRAY) {
      if (!positional) break; /* elements beyond the positional schemas are not constrained */
      s = positional;
      positional = soulgw_json_next(positional);
    }
    frame sub = {f, NULL, i};
    int rc = validate(s, e, &sub, depth + 1, err, errlen);
    if (rc) return rc;
  }
  return 0;
}

static int validate(const soulgw_json *s, const soulgw_json *v, const frame *f, int depth,
                    char *err, size_t errlen) {
  soulgw_json_type st = soulgw_json_typeof(s);
  if (st == SOULGW_JSON_BOOL)
    return soulgw_json_bool(s, 1) ? 0 : fail(f, err, errlen, "not allowed (the schema is false)");
  if (st != SOULGW_JSON_OBJECT || soulgw_json_size(s) == 0) return 0;
  if (depth > SG_SCHEMA_MAX_DEPTH) return fail(f, err, errlen, "nested too deeply to validate");
  kw k;
  gather(s, &k);
  int rc;
  if (k.type && (rc = check_type(k.type, v, f, err, errlen))) return rc;
  if (k.enumv && (rc = check_enum(k.enumv, v, f, err, errlen))) return rc;
  if (k.constv && (rc = check_const(k.constv, v, f, err, errlen))) return rc;
  switch (soulgw_json_typeof(v)) {
    case SOULGW_JSON_NUMBER:
      return check_number(&k, soulgw_json_number(v, 0), f, err, errlen);
    case SOULGW_JSON_STRING: {
      if (!k.min_length && !k.max_length) return 0;
      size_t n = utf8_chars(soulgw_json_string(v));
      if (sg_json_is_integer(k.min_length) && (double)n < soulgw_json_number(k.min_length, 0))
        return fail(f, err, errlen, "%zu characters, fewer than minLength %.0f", n,
                    soulgw_json_number(k.min_length, 0));
      if (sg_json_is_integer(k.max_length) && (double)n > soulgw_json_number(k.max_length, 0))
        return fail(f, err, errlen, "%zu characters, more than maxLength %.0f", n,
                    soulgw_json_number(k.max_length, 0));
      return 0;
    }
    case SOULGW_JSON_OBJECT:
      if (!k.required && !k.properties && !k.additional) return 0;
      return check_object(&k, v, f, depth, err, errlen);
    case SOULGW_JSON_ARRAY: {
      size_t n = soulgw_json_size(v);
      if (sg_json_is_integer(k.min_items) && (double)n < soulgw_json_number(k.min_items, 0))
        return fail(f, err, errlen, "%zu items, fewer than minItems %.0f", n,
                    soulgw_json_number(k.min_items, 0));
      if (sg_json_is_integer(k.max_items) && (double)n > soulgw_json_number(k.max_items, 0))
        return fail(f, err, errlen, "%zu items, more than maxItems %.0f", n,
                    soulgw_json_number(k.max_items, 0));
      return k.items ? check_array(k.items, v, f, depth, err, errlen) : 0;
    }
    default: return 0;
  }
}

int sg_schema_validate(const soulgw_json *schema, const soulgw_json *value, const char *root,
                       char *err, size_t errlen) {
  frame top = {NULL, root ? root : "", 0};
  if (err && errlen) err[0] = '\0';
  return validate(schema, value, &top, 0, err, errlen);
}

/* ------------------------------------------------------------------------------------------ */
/* Checking schemas */

static const char *const type_names[] = {"null",   "boolean", "number", "integer",
                                         "string", "array",   "object"};

static int known_type(const soulgw_json *t) {
  const char *s = soulgw_json_string(t);
  if (!s) return 0;
  for (size_t i = 0; i < SG_ARRAY_LEN(type_names); i++)
    if (!strcmp(s, type_names[i])) return 1;
  return 0;
}

/* Keywords that only annotate: accepted, never enforced (as are keywords starting "x-"). */
static const char *const annotations[] = {
    "$schema",  "$id",      "$comment",   "title",     "description",     "default",
    "examples", "format",   "deprecated", "readOnly",  "writeOnly",       "contentEncoding",
    "contentMediaType",     NULL};
/* Keywords of JSON Schema (or of OpenAPI) that this module does not enforce: refused by name
 * rather than as typos. */
static const char *const unenforced[] = {
    "pattern",          "patternProperties", "propertyNames",         "minProperties",
    "maxProperties",    "multipleOf",        "uniqueItems",           "contains",
    "minContains",      "maxContains",       "prefixItems",           "additionalItems",
    "unevaluatedItems", "unevaluatedProperties", "dependentRequired", "dependentSchemas",
    "dependencies",     "allOf",             "anyOf",                 "oneOf",
    "not",              "if",                "then",                  "else",
    "$ref",             "$defs",             "definitions",           "$anchor",
    "$dynamicRef",      "$dynamicAnchor",    "$recursiveRef",         "$recursiveAnchor",
    "$vocabulary",      "contentSchema",     "nullable",              NULL};
/* The enforced keywords, for suggestions. */
static const char *const enforced[] = {"type",      "properties",       "required",
                                       "enum",      "const",            "items",
                                       "minItems",  "maxItems",         "minimum",
                                       "maximum",   "exclusiveMinimum", "exclusiveMaximum",
                                       "minLength", "maxLength",        "additionalProperties",
                                       NULL};

static int listed(const char *n, const char *const *names) {
  for (size_t i = 0; names[i]; i++)
    if (!strcmp(n, names[i])) return 1;
  return 0;
}

static char lower(char c) { return c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c; }

/* The edit distance of a and b ignoring case, transpositions counting one (both at most 32
 * bytes; longer: a large number). */
static size_t distance(const char *a, const char *b) {
  size_t la = strlen(a), lb = strlen(b);
  if (la > 32 || lb > 32) return 99;
  size_t d[33][33];
  for (size_t i = 0; i <= la; i++) d[i][0] = i;
  for (size_t j = 0; j <= lb; j++) d[0][j] = j;
  for (size_t i = 1; i <= la; i++) {
    for (size_t j = 1; j <= lb; j++) {
      size_t cost = lower(a[i - 1]) != lower(b[j - 1]);
      size_t best = d[i - 1][j - 1] + cost;
      if (d[i - 1][j] + 1 < best) best = d[i - 1][j] + 1;
      if (d[i][j - 1] + 1 < best) best = d[i][j - 1] + 1;
      if (i > 1 && j > 1 && lower(a[i - 1]) == lower(b[j - 2]) &&
          lower(a[i - 2]) == lower(b[j - 1]) && d[i - 2][j - 2] + 1 < best)
        best = d[i - 2][j - 2] + 1;
      d[i][j] = best;
    }
  }
  return d[la][lb];
}

/* The accepted keyword closest to n, when one is close enough to be what was meant. */
static const char *suggest(const char *n) {
  const char *const *lists[] = {enforced, annotations, unenforced};
  const char *best = NULL;
  size_t best_d = 99;
  for (size_t l = 0; l < SG_ARRAY_LEN(lists); l++) {
    for (size_t i = 0; lists[l][i]; i++) {
      size_t d = distance(n, lists[l][i]), len = strlen(lists[l][i]);
      if (d < best_d && d <= 1 + len / 5) {
        best = lists[l][i];
        best_d = d;
      }
    }
  }
  return best;
}

static int check(const soulgw_json *s, const frame *f, int depth, unsigned flags, char *err,
                 size_t errlen);

/* A keyword that check_keyword() does not know as enforced: an annotation passes, anything
 * else is refused unless lenient. */
static int check_other(const char *n, const frame *kf, unsigned flags, char *err, size_t errlen) {
  if (listed(n, annotations) || !strncmp(n, "x-", 2) || (flags & SG_SCHEMA_LENIENT)) return 0;
  if (listed(n, unenforced))
    return fail(kf, err, errlen, "not supported: this gateway does not enforce %s; remove it "
                "(soulgw(1) lists the keywords it accepts)", n);
  const char *near = suggest(n);
  if (near)
    return fail(kf, err, errlen, "unknown JSON Schema keyword (did you mean \"%s\"?)", near);
  return fail(kf, err, errlen, "unknown JSON Schema keyword (soulgw(1) lists the keywords it "
              "accepts)");
}

/* The keywords enforced since keywords are checked.  Lenient checking leaves them alone, as it
 * always did: validation ignores one of the wrong type. */
static int check_newer(const soulgw_json *m, const char *n, const frame *kf, unsigned flags,
                       char *err, size_t errlen) {
  if (!strcmp(n, "const") || (flags & SG_SCHEMA_LENIENT)) return 0;
  if (!strcmp(n, "minItems") || !strcmp(n, "maxItems"))
    return sg_json_is_integer(m) && soulgw_json_number(m, -1) >= 0
               ? 0
               : fail(kf, err, errlen, "expected a non-negative integer");
  /* exclusiveMinimum, exclusiveMaximum */
  if (soulgw_json_typeof(m) == SOULGW_JSON_NUMBER) return 0;
  return fail(kf, err, errlen, "expected a number%s",
              soulgw_json_typeof(m) == SOULGW_JSON_BOOL
                  ? " (the boolean form of draft 4 is not supported)" : "");
}

static int check_keyword(const soulgw_json *m, const frame *f, int depth, unsigned flags,
                         char *err, size_t errlen) {
  const char *n = soulgw_json_key(m);
  soulgw_json_type t = soulgw_json_typeof(m);
  frame kf = {f, n, 0};
  if (!strcmp(n, "type")) {
    if (t == SOULGW_JSON_STRING) {
      if (!known_type(m))
        return fail(&kf, err, errlen, "unknown type \"%.40s\" (use null, boolean, number, "
                    "integer, string, array or object)", soulgw_json_string(m));
      return 0;
    }
    if (t != SOULGW_JSON_ARRAY || soulgw_json_size(m) == 0)
      return fail(&kf, err, errlen, "expected a type name or a non-empty array of them");
    size_t i = 0;
    for (const soulgw_json *e = soulgw_json_first(m); e; e = soulgw_json_next(e), i++) {
      frame ef = {&kf, NULL, i};
      if (!known_type(e)) return fail(&ef, err, errlen, "expected a known type name");
    }
    return 0;
  }
  if (!strcmp(n, "properties")) {
    if (t != SOULGW_JSON_OBJECT) return fail(&kf, err, errlen, "expected an object of schemas");
    for (const soulgw_json *p = soulgw_json_first(m); p; p = soulgw_json_next(p)) {
      frame pf = {&kf, soulgw_json_key(p), 0};
      int rc = check(p, &pf, depth + 1, flags, err, errlen);
      if (rc) return rc;
    }
    return 0;
  }
  if (!strcmp(n, "required")) {
    if (t != SOULGW_JSON_ARRAY) return fail(&kf, err, errlen, "expected an array of strings");
    size_t i = 0;
    for (const soulgw_json *e = soulgw_json_first(m); e; e = soulgw_json_next(e), i++) {
      frame ef = {&kf, NULL, i};
      if (!soulgw_json_string(e)) return fail(&ef, err, errlen, "expected a string");
    }
    return 0;
  }
  if (!strcmp(n, "enum"))
    return t == SOULGW_JSON_ARRAY ? 0 : fail(&kf, err, errlen, "expected an array");
  if (!strcmp(n, "items")) {
    if (t != SOULGW_JSON_ARRAY) return check(m, &kf, depth + 1, flags, err, errlen);
    size_t i = 0;
    for (const soulgw_json *e = soulgw_json_first(m); e; e = soulgw_json_next(e), i++) {
      frame ef = {&kf, NULL, i};
      int rc = check(e, &ef, depth + 1, flags, err, errlen);
      if (rc) return rc;
    }
    return 0;
  }
  if (!strcmp(n, "additionalProperties"))
    return t == SOULGW_JSON_BOOL ? 0 : check(m, &kf, depth + 1, flags, err, errlen);
  if (!strcmp(n, "minimum") || !strcmp(n, "maximum"))
    return t == SOULGW_JSON_NUMBER ? 0 : fail(&kf, err, errlen, "expected a number");
  if (!strcmp(n, "minLength") || !strcmp(n, "maxLength"))
    return sg_json_is_integer(m) && soulgw_json_number(m, -1) >= 0
               ? 0
               : fail(&kf, err, errlen, "expected a non-negative integer");
  if (!strcmp(n, "const") || !strcmp(n, "minItems") || !strcmp(n, "maxItems") ||
      !strcmp(n, "exclusiveMinimum") || !strcmp(n, "exclusiveMaximum"))
    return check_newer(m, n, &kf, flags, err, errlen);
  return check_other(n, &kf, flags, err, errlen);
}

static int check(const soulgw_json *s, const frame *f, int depth, unsigned flags, char *err,
                 size_t errlen) {
  soulgw_json_type t = soulgw_json_typeof(s);
  if (t == SOULGW_JSON_BOOL) return 0;
  if (t != SOULGW_JSON_OBJECT)
    return fail(f, err, errlen, "expected a schema (an object or a boolean), got %s",
                sg_schema_type_name(s));
  if (depth > SG_SCHEMA_MAX_DEPTH) return fail(f, err, errlen, "schema nested too deeply");
  for (const soulgw_json *m = soulgw_json_first(s); m; m = soulgw_json_next(m)) {
    int rc = check_keyword(m, f, depth, flags, err, errlen);
    if (rc) return rc;
  }
  return 0;
}

int sg_schema_check_opts(const soulgw_json *schema, const char *prefix, unsigned flags, char *err,
                         size_t errlen) {
  frame top = {NULL, prefix ? prefix : "", 0};
  if (err && errlen) err[0] = '\0';
  return check(schema, &top, 0, flags, err, errlen);
}

int sg_schema_check(const soulgw_json *schema, const char *prefix, char *err, size_t errlen) {
  return sg_schema_check_opts(schema, prefix, 0, err, errlen);
}
