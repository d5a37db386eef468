/*
 * fields.c -- field getters with precise 422 messages, and answers from the store (see
 * fields.h).
 */
#include <stdio.h>
#include <string.h>

#include "base/json.h"
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

/* The field's path for messages: "key" or "at.key". */
static void field_name(char *out, size_t len, const char *at, const char *key) {
  if (at) snprintf(out, len, "%s.%s", at, key);
  else snprintf(out, len, "%s", key);
}

int sg_invalid(soulgw_req *req, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  soulgw_reply_verror(req, SOULGW_API_SCHEMA_VALIDATION_FAILED, fmt, ap);
  va_end(ap);
  return -1;
}

/* obj[key], with absent and null told apart: returns the value, NULL when absent; *is_null. */
static const soulgw_json *member(const soulgw_json *obj, const char *key, int *is_null) {
  const soulgw_json *v = soulgw_json_get(obj, key);
  *is_null = v && soulgw_json_typeof(v) == SOULGW_JSON_NULL;
  return *is_null ? NULL : v;
}

static int missing(soulgw_req *req, const char *name, int is_null) {
  return is_null ? sg_invalid(req, "%s must not be null", name) : sg_invalid(req, "%s is required", name);
}

int sg_fields_begin(soulgw_req *req, const soulgw_json **body) {
  *body = NULL;
  if (!req->tenant)
    return sg_invalid(req, "no tenant: set \"tenant\" in the body or the X-Soul-Tenant header");
  const soulgw_json *b = soulgw_req_json(req);
  if (b && soulgw_json_typeof(b) != SOULGW_JSON_OBJECT)
    return sg_invalid(req, "body must be a JSON object, not %s", sg_json_type_phrase(b));
  *body = b;
  return 0;
}

/* Checks that v (a string) is an identifier; name is its path. */
static int check_id(soulgw_req *req, const soulgw_json *v, const char *name) {
  const char *s = soulgw_json_string(v);
  if (!s) return sg_invalid(req, "%s must be a string, not %s", name, sg_json_type_phrase(v));
  size_t n = strlen(s);
  if (n > SG_ID_MAX) return sg_invalid(req, "%s is %zu bytes long; at most %d", name, n, SG_ID_MAX);
  if (sg_is_blank(s)) return sg_invalid(req, "%s must not be blank", name);
  for (const char *p = s; *p; p++)
    if ((unsigned char)*p < 0x20 || *p == 0x7f)
      return sg_invalid(req, "%s must not contain control characters", name);
  return 0;
}

/* The check of check_id() without the message, so that the field's name is only formatted for
 * an answer that needs it: fields are read on every request. */
static int id_ok(const soulgw_json *v) {
  const char *s = soulgw_json_string(v);
  if (!s) return 0;
  size_t n = 0;
  int blank = 1;
  for (; s[n]; n++) {
    unsigned char c = (unsigned char)s[n];
    if (c < 0x20 || c == 0x7f) return 0;
    if (c != ' ') blank = 0;
  }
  return n >= 1 && n <= SG_ID_MAX && !blank;
}

int sg_field_id(soulgw_req *req, const soulgw_json *obj, const char *at, const char *key,
                int required, const char **out) {
  char name[128];
  int is_null;
  const soulgw_json *v = member(obj, key, &is_null);
  *out = NULL;
  if (v && id_ok(v)) {
    *out = soulgw_json_string(v);
    return 0;
  }
  field_name(name, sizeof name, at, key);
  if (!v) return required ? missing(req, name, is_null) : 0;
  if (check_id(req, v, name)) return -1;
  *out = soulgw_json_string(v);
  return 0;
}

int sg_field_text(soulgw_req *req, const soulgw_json *obj, const char *at, const char *key,
                  size_t max, const char **out) {
  char name[128];
  int is_null;
  const soulgw_json *v = member(obj, key, &is_null);
  *out = NULL;
  if (!v) return 0;
  field_name(name, sizeof name, at, key);
  const char *s = soulgw_json_string(v);
  if (!s) return sg_invalid(req, "%s must be a string, not %s", name, sg_json_type_phrase(v));
  size_t n = strlen(s);
  if (n > max) return sg_invalid(req, "%s is %zu bytes long; at most %zu", name, n, max);
  *out = s;
  return 0;
}

int sg_field_array(soulgw_req *req, const soulgw_json *obj, const char *at, const char *key,
                   size_t max, const soulgw_json **out) {
  char name[128];
  int is_null;
  const soulgw_json *v = member(obj, key, &is_null);
  *out = NULL;
  if (!v) return 0;
  field_name(name, sizeof name, at, key);
  if (soulgw_json_typeof(v) != SOULGW_JSON_ARRAY)
    return sg_invalid(req, "%s must be an array, not %s", name, sg_json_type_phrase(v));
  size_t n = soulgw_json_size(v);
  if (n > max) return sg_invalid(req, "%s has %zu elements; at most %zu", name, n, max);
  *out = v;
  return 0;
}

int sg_field_ids(soulgw_req *req, const soulgw_json *obj, const char *at, const char *key,
                 const soulgw_json **out) {
  const soulgw_json *arr;
  if (sg_field_array(req, obj, at, key, SG_LIST_MAX, &arr)) return -1;
  char base[128], name[160];
  size_t i = 0;
  for (const soulgw_json *e = soulgw_json_first(arr); e; e = soulgw_json_next(e), i++) {
    if (id_ok(e)) continue;
    field_name(base, sizeof base, at, key);
    snprintf(name, sizeof name, "%s[%zu]", base, i);
    if (check_id(req, e, name)) return -1;
  }
  *out = arr;
  return 0;
}

int sg_field_int(soulgw_req *req, const soulgw_json *obj, const char *at, const char *key,
                 long long lo, long long hi, long long def, long long *out) {
  char name[128];
  int is_null;
  const soulgw_json *v = member(obj, key, &is_null);
  *out = def;
  if (!v) return 0;
  field_name(name, sizeof name, at, key);
  if (soulgw_json_typeof(v) != SOULGW_JSON_NUMBER)
    return sg_invalid(req, "%s must be an integer, not %s", name, sg_json_type_phrase(v));
  /* sg_json_is_integer() bounds the value by 2^53, so the conversion below is exact. */
  if (!sg_json_is_integer(v))
    return sg_invalid(req, "%s must be an integer between %lld and %lld", name, lo, hi);
  long long n = (long long)soulgw_json_number(v, 0);
  if (n < lo || n > hi)
    return sg_invalid(req, "%s must be between %lld and %lld (got %lld)", name, lo, hi, n);
  *out = n;
  return 0;
}

int sg_field_bool(soulgw_req *req, const soulgw_json *obj, const char *at, const char *key,
                  int def, int *out) {
  char name[128];
  int is_null;
  const soulgw_json *v = member(obj, key, &is_null);
  *out = def;
  if (!v) return 0;
  field_name(name, sizeof name, at, key);
  if (soulgw_json_typeof(v) != SOULGW_JSON_BOOL)
    return sg_invalid(req, "%s must be true or false, not %s", name, sg_json_type_phrase(v));
  *out = soulgw_json_bool(v, def);
  return 0;
}

int sg_field_enum(soulgw_req *req, const soulgw_json *obj, const char *at, const char *key,
                  const char *const *names, int def, int *out) {
  char name[128], list[256];
  int is_null;
  const soulgw_json *v = member(obj, key, &is_null);
  *out = def;
  if (!v) return 0;
  field_name(name, sizeof name, at, key);
  size_t used = 0;
  list[0] = '\0';
  for (int i = 0; names[i]; i++) {
    int n = snprintf(list + used, sizeof list - used, "%s%s", i ? ", " : "", names[i]);
    if (n < 0 || (size_t)n >= sizeof list - used) break;
    used += (size_t)n;
  }
  const char *s = soulgw_json_string(v);
  if (!s) return sg_invalid(req, "%s must be one of %s, not %s", name, list, sg_json_type_phrase(v));
  for (int i = 0; names[i]; i++) {
    if (strcmp(s, names[i]) == 0) {
      *out = i;
      return 0;
    }
  }
  return sg_invalid(req, "%s must be one of %s (got \"%.64s\")", name, list, s);
}

int sg_field_value(soulgw_req *req, const soulgw_json *obj, const char *at, const char *key,
                   int required, const soulgw_json **out) {
  char name[128];
  int is_null;
  const soulgw_json *v = member(obj, key, &is_null);
  *out = v;
  if (v || !required) return 0;
  field_name(name, sizeof name, at, key);
  return missing(req, name, is_null);
}

int sg_field_object(soulgw_req *req, const soulgw_json *obj, const char *at, const char *key,
                    const soulgw_json **out) {
  char name[128];
  int is_null;
  const soulgw_json *v = member(obj, key, &is_null);
  *out = NULL;
  if (!v) return 0;
  field_name(name, sizeof name, at, key);
  if (soulgw_json_typeof(v) != SOULGW_JSON_OBJECT)
    return sg_invalid(req, "%s must be an object, not %s", name, sg_json_type_phrase(v));
  *out = v;
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
