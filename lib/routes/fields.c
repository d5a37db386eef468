/*
 * fields.c -- the table-driven field getter with its precise 422 messages, and answers from
 * the store (see fields.h).
 */
#include <stdio.h>
#include <string.h>

#include "base/json.h"
#include "pipeline/dialect.h"
#include "routes/fields.h"

const char *sg_json_type_phrase(const soulgw_json *v) {
  switch (soulgw_json_typeof(v)) {
    case SOULGW_JSON_NULL: return "null";
    case SOULGW_JSON_BOOL: return "a boolean";
    case SOULGW_JSON_NUMBER: return "a number";
    case SOULGW_JSON_STRING: return "a string";
    case SOULGW_JSON_ARRAY: return "an array";
    case SOULGW_JSON_OBJECT: return "an object";
    default: return "nothing";
  }
}

int sg_invalid(soulgw_req *req, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  /* OpenAI answers a bad request body 400, which its SDKs raise as BadRequestError */
  soulgw_reply_verror(req,
                      req->dialect == SG_DIALECT_OPENAI ? SOULGW_API_REQUEST_BAD
                                                        : SOULGW_API_SCHEMA_VALIDATION_FAILED,
                      fmt, ap);
  va_end(ap);
  return -1;
}

int sg_fields_begin(soulgw_req *req, const soulgw_json **body) {
  *body = NULL;
  if (!req->tenant)
    return sg_invalid(req, "no tenant: set \"tenant\" in the body or the X-Soul-Tenant header");
  const soulgw_json *b;
  if (sg_req_json(req, &b))
    return soulgw_reply_error(req, SOULGW_API_UNKNOWN_INTERNAL, "out of memory parsing the body"),
           -1;
  if (b && soulgw_json_typeof(b) != SOULGW_JSON_OBJECT)
    return sg_invalid(req, "body must be a JSON object, not %s", sg_json_type_phrase(b));
  *body = b;
  return 0;
}

int sg_fields_body(soulgw_req *req, const sg_field_spec *spec, void *out) {
  const soulgw_json *body;
  if (sg_fields_begin(req, &body)) return -1;
  return sg_fields_read(req, body, NULL, spec, out);
}

/* The field being read, for its messages. */
typedef struct field {
  soulgw_req *req;
  const char *at; /* the path of the object holding it, or NULL */
  const sg_field_spec *f;
  long idx; /* >= 0: the element idx of the field */
} field;

/* Answers 422 with the field's path ("key", "at.key", then "[idx]" for an element) followed by
 * the formatted rest of the message; returns -1.  The path is formatted here only, for an
 * answer that needs it: fields are read on every request. */
static int refuse(const field *w, const char *fmt, ...) SG_PRINTF(2, 3);
static int refuse(const field *w, const char *fmt, ...) {
  char name[160], rest[512];
  if (w->at) snprintf(name, 128, "%s.%s", w->at, w->f->key);
  else snprintf(name, 128, "%s", w->f->key);
  size_t n = strlen(name);
  if (w->idx >= 0) snprintf(name + n, sizeof name - n, "[%ld]", w->idx);
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(rest, sizeof rest, fmt, ap);
  va_end(ap);
  return sg_invalid(w->req, "%s%s", name, rest);
}

static int not_a(const field *w, const char *what, const soulgw_json *v) {
  return refuse(w, " must be %s, not %s", what, sg_json_type_phrase(v));
}

/* An identifier: 1 to SG_ID_MAX bytes, not blank, without control characters. */
static int check_id(const field *w, const soulgw_json *v) {
  const char *s = soulgw_json_string(v);
  if (!s) return not_a(w, "a string", v);
  size_t n = 0;
  int ctrl = 0, blank = 1; /* blank: nothing but spaces and control characters */
  for (; s[n]; n++) {
    unsigned char c = (unsigned char)s[n];
    if (c < 0x20 || c == 0x7f) ctrl = 1;
    else if (c != ' ') blank = 0;
  }
  if (n > SG_ID_MAX) return refuse(w, " is %zu bytes long; at most %d", n, SG_ID_MAX);
  if (blank && sg_is_blank(s)) return refuse(w, " must not be blank");
  if (ctrl) return refuse(w, " must not contain control characters");
  return 0;
}

static int check_array(const field *w, const soulgw_json *v, size_t max) {
  if (soulgw_json_typeof(v) != SOULGW_JSON_ARRAY) return not_a(w, "an array", v);
  size_t n = soulgw_json_size(v);
  if (n > max) return refuse(w, " has %zu elements; at most %zu", n, max);
  return 0;
}

static int check_ids(const field *w, const soulgw_json *v) {
  if (check_array(w, v, SG_LIST_MAX)) return -1;
  field e = *w;
  e.idx = 0;
  for (const soulgw_json *x = soulgw_json_first(v); x; x = soulgw_json_next(x), e.idx++)
    if (check_id(&e, x)) return -1;
  return 0;
}

static int check_int(const field *w, const soulgw_json *v) {
  long long lo = w->f->min, hi = w->f->max;
  if (soulgw_json_typeof(v) != SOULGW_JSON_NUMBER) return not_a(w, "an integer", v);
  /* sg_json_is_integer() bounds the value by 2^53, so the conversion below is exact. */
  if (!sg_json_is_integer(v)) return refuse(w, " must be an integer between %lld and %lld", lo, hi);
  long long n = (long long)soulgw_json_number(v, 0);
  if (n < lo || n > hi) return refuse(w, " must be between %lld and %lld (got %lld)", lo, hi, n);
  return 0;
}

static int check_number(const field *w, const soulgw_json *v) {
  double lo = (double)w->f->min, hi = (double)w->f->max, d = soulgw_json_number(v, 0);
  if (soulgw_json_typeof(v) != SOULGW_JSON_NUMBER) return refuse(w, " must be a number");
  if (!(d >= lo && d <= hi)) return refuse(w, " must be between %g and %g", lo, hi);
  return 0;
}

/* The index of v in the field's names, or -1 after answering 422. */
static int enum_index(const field *w, const soulgw_json *v) {
  const char *const *names = w->f->names;
  const char *s = soulgw_json_string(v);
  for (int i = 0; s && names[i]; i++)
    if (strcmp(s, names[i]) == 0) return i;
  char list[256];
  size_t used = 0;
  list[0] = '\0';
  for (int i = 0; names[i]; i++) {
    int n = snprintf(list + used, sizeof list - used, "%s%s", i ? ", " : "", names[i]);
    if (n < 0 || (size_t)n >= sizeof list - used) break;
    used += (size_t)n;
  }
  if (!s) return refuse(w, " must be one of %s, not %s", list, sg_json_type_phrase(v));
  return refuse(w, " must be one of %s (got \"%.64s\")", list, s);
}

/* Checks v (given, not null) as the field's kind says and stores it at dst.  Returns 0 or -1
 * after answering. */
static int read_given(const field *w, const soulgw_json *v, char *dst) {
  const sg_field_spec *f = w->f;
  const char *s = soulgw_json_string(v);
  switch (f->kind) {
    case SG_FIELD_ID:
      if (check_id(w, v)) return -1;
      *(const char **)dst = s;
      return 0;
    case SG_FIELD_TEXT:
      if (!s) return not_a(w, "a string", v);
      if (strlen(s) > (size_t)f->max)
        return refuse(w, " is %zu bytes long; at most %zu", strlen(s), (size_t)f->max);
      *(const char **)dst = s;
      return 0;
    case SG_FIELD_IDS:
      if (check_ids(w, v)) return -1;
      break;
    case SG_FIELD_ARRAY:
      if (check_array(w, v, (size_t)f->max)) return -1;
      break;
    case SG_FIELD_OBJECT:
      if (soulgw_json_typeof(v) != SOULGW_JSON_OBJECT) return not_a(w, "an object", v);
      break;
    case SG_FIELD_VALUE:
      if (f->max > 0 && sg_json_deeper_than(v, (int)f->max))
        return refuse(w, " nests deeper than %d levels of arrays and objects", (int)f->max);
      break;
    case SG_FIELD_INT:
      if (check_int(w, v)) return -1;
      *(long long *)dst = (long long)soulgw_json_number(v, 0);
      return 0;
    case SG_FIELD_NUMBER:
      if (check_number(w, v)) return -1;
      *(double *)dst = soulgw_json_number(v, 0);
      return 0;
    case SG_FIELD_BOOL:
      if (soulgw_json_typeof(v) != SOULGW_JSON_BOOL) return not_a(w, "true or false", v);
      *(int *)dst = soulgw_json_bool(v, 0);
      return 0;
    case SG_FIELD_ENUM: {
      int i = enum_index(w, v);
      if (i < 0) return -1;
      *(int *)dst = i;
      return 0;
    }
  }
  *(const soulgw_json **)dst = v;
  return 0;
}

/* Stores the default of f at dst: def, or NULL for the kinds read into a pointer. */
static void read_default(const sg_field_spec *f, char *dst) {
  switch (f->kind) {
    case SG_FIELD_ID:
    case SG_FIELD_TEXT: *(const char **)dst = NULL; return;
    case SG_FIELD_INT: *(long long *)dst = f->def; return;
    case SG_FIELD_NUMBER: *(double *)dst = (double)f->def; return;
    case SG_FIELD_BOOL:
    case SG_FIELD_ENUM: *(int *)dst = (int)f->def; return;
    default: *(const soulgw_json **)dst = NULL; return;
  }
}

int sg_fields_read(soulgw_req *req, const soulgw_json *obj, const char *at,
                   const sg_field_spec *spec, void *out) {
  char *base = out;
  for (const sg_field_spec *f = spec; f->key; f++) {
    const field w = {req, at, f, -1};
    const soulgw_json *v = soulgw_json_get(obj, f->key);
    int is_null = v && soulgw_json_typeof(v) == SOULGW_JSON_NULL;
    if (f->has) *(int *)(base + f->has - 1) = v && !is_null;
    if (v && !is_null) {
      if (read_given(&w, v, base + f->off)) return -1;
    } else if (f->required) {
      return refuse(&w, is_null ? " must not be null" : " is required");
    } else {
      read_default(f, base + f->off);
    }
    if (f->check && f->check(req, out)) return -1;
  }
  return 0;
}

soulgw_api_error sg_st_error(sg_st st, const char **generic) {
  static const struct {
    sg_st st;
    soulgw_api_error e;
    const char *msg;
  } map[] = {
      {SG_ST_NOTFOUND, SOULGW_API_STORAGE_NOT_FOUND, "not found"},
      {SG_ST_CONFLICT, SOULGW_API_STORAGE_CONFLICT, "conflict"},
      {SG_ST_UNAVAILABLE, SOULGW_API_STORAGE_UNAVAILABLE, "storage unavailable"},
      {SG_ST_TOO_LARGE, SOULGW_API_REQUEST_TOO_LARGE, "too large to store"},
      {SG_ST_INVALID, SOULGW_API_SCHEMA_VALIDATION_FAILED, "cannot be stored"},
      {SG_ST_UNREADABLE, SOULGW_API_UNKNOWN_INTERNAL, "a stored record cannot be read"},
  };
  for (size_t i = 0; i < SG_ARRAY_LEN(map); i++) {
    if (map[i].st == st) {
      if (generic) *generic = map[i].msg;
      return map[i].e;
    }
  }
  if (generic) *generic = "unexpected storage outcome";
  return SOULGW_API_UNKNOWN_INTERNAL;
}

int sg_reply_store(soulgw_req *req, sg_st st, soulgw_json *result, const char *msg) {
  if (st == SG_ST_OK) {
    if (!result)
      return soulgw_reply_error(req, SOULGW_API_UNKNOWN_INTERNAL,
                                "out of memory building the answer");
    return soulgw_reply_json(req, 200, result);
  }
  soulgw_json_free(result);
  const char *generic;
  soulgw_api_error e = sg_st_error(st, &generic);
  return soulgw_reply_error(req, e, "%s", msg ? msg : generic);
}

void sg_store_reply(void *ud, sg_st st, soulgw_json *result, const char *msg) {
  sg_reply_store(ud, st, result, msg);
}
