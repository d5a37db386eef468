/*
 * json.c -- cJSON glue: the only file that calls cJSON.  It implements the public soulgw_json
 * API and the strict parser every request body goes through.
 *
 * cJSON accepts what the gateway must refuse: invalid UTF-8, duplicate keys (the last one
 * silently wins in some readers and the first in others, which lets a signed body say two
 * things), "\u0000" (which truncates a C string) and trailing garbage.  A single pre-scan
 * checks encoding, nesting depth and NUL escapes; duplicate keys are checked on the tree.
 */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/json.h"
#include "base/sg.h"

#define MAX_DEPTH 512

soulgw_json_type soulgw_json_typeof(const soulgw_json *v) {
  if (!v) return SOULGW_JSON_INVALID;
  switch (v->type & 0xFF) {
    case cJSON_NULL: return SOULGW_JSON_NULL;
    case cJSON_True:
    case cJSON_False: return SOULGW_JSON_BOOL;
    case cJSON_Number: return SOULGW_JSON_NUMBER;
    case cJSON_String: return SOULGW_JSON_STRING;
    case cJSON_Array: return SOULGW_JSON_ARRAY;
    case cJSON_Object: return SOULGW_JSON_OBJECT;
    default: return SOULGW_JSON_INVALID;
  }
}

/* cJSON_GetObjectItemCaseSensitive()'s walk (the first member named key; a member without a
 * name ends it), with the first bytes compared before a strcmp: most members a lookup passes
 * differ there, and a route reads a body's members one by one. */
soulgw_json *soulgw_json_get(const soulgw_json *v, const char *key) {
  if (!v || !key || !cJSON_IsObject(v)) return NULL;
  for (cJSON *c = v->child; c && c->string; c = c->next)
    if (c->string[0] == key[0] && strcmp(c->string, key) == 0) return c;
  return NULL;
}

const char *soulgw_json_string(const soulgw_json *v) {
  return v && cJSON_IsString(v) ? v->valuestring : NULL;
}

double soulgw_json_number(const soulgw_json *v, double def) {
  return v && cJSON_IsNumber(v) ? v->valuedouble : def;
}

int soulgw_json_bool(const soulgw_json *v, int def) {
  if (cJSON_IsTrue(v)) return 1;
  if (cJSON_IsFalse(v)) return 0;
  return def;
}

size_t soulgw_json_size(const soulgw_json *v) {
  if (!v || !(cJSON_IsArray(v) || cJSON_IsObject(v))) return 0;
  size_t n = 0;
  for (const cJSON *c = v->child; c; c = c->next) n++;
  return n;
}

soulgw_json *soulgw_json_first(const soulgw_json *v) {
  return v && (cJSON_IsArray(v) || cJSON_IsObject(v)) ? v->child : NULL;
}

soulgw_json *soulgw_json_next(const soulgw_json *v) { return v ? v->next : NULL; }

const char *soulgw_json_key(const soulgw_json *v) { return v ? v->string : NULL; }

soulgw_json *soulgw_json_object(void) { return cJSON_CreateObject(); }
soulgw_json *soulgw_json_array(void) { return cJSON_CreateArray(); }
soulgw_json *soulgw_json_new_string(const char *s) { return s ? cJSON_CreateString(s) : NULL; }
soulgw_json *soulgw_json_new_bool(int b) { return cJSON_CreateBool(b != 0); }
soulgw_json *soulgw_json_null(void) { return cJSON_CreateNull(); }

soulgw_json *soulgw_json_new_number(double n) {
  if (!isfinite(n)) return cJSON_CreateNull();
  return cJSON_CreateNumber(n);
}

soulgw_json *soulgw_json_dup(const soulgw_json *v) { return v ? cJSON_Duplicate(v, 1) : NULL; }

int soulgw_json_set(soulgw_json *obj, const char *key, soulgw_json *val) {
  if (!val) return SOULGW_ENOMEM;
  if (!obj || !cJSON_IsObject(obj) || !key) {
    cJSON_Delete(val);
    return obj ? SOULGW_EINVAL : SOULGW_ENOMEM;
  }
  if (cJSON_GetObjectItemCaseSensitive(obj, key)) {
    if (!cJSON_ReplaceItemInObjectCaseSensitive(obj, key, val)) {
      cJSON_Delete(val);
      return SOULGW_ENOMEM;
    }
    return 0;
  }
  if (!cJSON_AddItemToObject(obj, key, val)) {
    cJSON_Delete(val);
    return SOULGW_ENOMEM;
  }
  return 0;
}

int soulgw_json_push(soulgw_json *arr, soulgw_json *val) {
  if (!val) return SOULGW_ENOMEM;
  if (!arr || !cJSON_IsArray(arr)) {
    cJSON_Delete(val);
    return arr ? SOULGW_EINVAL : SOULGW_ENOMEM;
  }
  if (!cJSON_AddItemToArray(arr, val)) {
    cJSON_Delete(val);
    return SOULGW_ENOMEM;
  }
  return 0;
}

char *soulgw_json_print(const soulgw_json *v) { return v ? cJSON_PrintUnformatted(v) : NULL; }

void soulgw_json_free(soulgw_json *v) { cJSON_Delete(v); }

/* ------------------------------------------------------------------------------------------ */
/* Strict parsing */

/* Encoding, depth, raw control characters and "\u0000" in one pass.  Strings are only skipped over here; cJSON checks
 * their escapes. */
static int prescan(const char *s, size_t len, char *err, size_t errlen) {
  size_t bad;
  if (!sg_utf8_valid(s, len, &bad)) {
    sg_seterr(err, errlen, "invalid UTF-8 at byte %zu", bad);
    return -1;
  }
  int depth = 0;
  for (size_t i = 0; i < len; i++) {
    char c = s[i];
    if (c == '"') {
      for (i++; i < len; i++) {
        i += sg_json_plain_run(s + i, len - i); /* what needs no look */
        if (i == len || s[i] == '"') break;
        if ((unsigned char)s[i] < 0x20) {
          sg_seterr(err, errlen, "control character in a string at byte %zu", i);
          return -1;
        }
        if (s[i] != '\\') continue;
        if (i + 5 < len && s[i + 1] == 'u' && memcmp(s + i + 2, "0000", 4) == 0) {
          sg_seterr(err, errlen, "\\u0000 is not allowed in strings (byte %zu)", i);
          return -1;
        }
        /* cJSON reads a \u without four hex digits as U+0000, cutting the string short */
        if (i + 1 < len && s[i + 1] == 'u' &&
            (len - i < 6 || sg_hex_digit(s[i + 2]) < 0 || sg_hex_digit(s[i + 3]) < 0 ||
             sg_hex_digit(s[i + 4]) < 0 || sg_hex_digit(s[i + 5]) < 0)) {
          sg_seterr(err, errlen, "\\u without four hex digits at byte %zu", i);
          return -1;
        }
        i++;
      }
    } else if (c == '[' || c == '{') {
      if (++depth > MAX_DEPTH) {
        sg_seterr(err, errlen, "nesting deeper than %d levels at byte %zu", MAX_DEPTH, i);
        return -1;
      }
    } else if (c == ']' || c == '}') {
      depth--;
    } else if (c == '\0') {
      sg_seterr(err, errlen, "NUL byte at byte %zu", i);
      return -1;
    }
  }
  return 0;
}

static int cmp_keys(const void *a, const void *b) {
  return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Finds a duplicate key anywhere in the tree; returns it or NULL.  Small objects are compared
 * pairwise, larger ones sorted.  Recursion is bounded by MAX_DEPTH. */
static const char *find_duplicate(const cJSON *v, int *oom) {
  int type = v->type & 0xFF;
  if (type != cJSON_Array && type != cJSON_Object) return NULL;
  if (type == cJSON_Object) {
    size_t n = 0;
    for (const cJSON *c = v->child; c; c = c->next) n++;
    if (n > 1 && n <= 16) {
      for (const cJSON *a = v->child; a; a = a->next)
        for (const cJSON *b = a->next; b; b = b->next)
          if (a->string[0] == b->string[0] && strcmp(a->string, b->string) == 0) return a->string;
    } else if (n > 16) {
      const char **keys = malloc(n * sizeof *keys);
      if (!keys) {
        *oom = 1;
        return NULL;
      }
      size_t i = 0;
      for (const cJSON *c = v->child; c; c = c->next) keys[i++] = c->string;
      qsort(keys, n, sizeof *keys, cmp_keys);
      const char *dup = NULL;
      for (i = 1; i < n && !dup; i++)
        if (strcmp(keys[i - 1], keys[i]) == 0) dup = keys[i];
      free(keys);
      if (dup) return dup;
    }
  }
  for (const cJSON *c = v->child; c; c = c->next) {
    if ((c->type & 0xFF) != cJSON_Array && (c->type & 0xFF) != cJSON_Object) continue;
    const char *d = find_duplicate(c, oom);
    if (d || *oom) return d;
  }
  return NULL;
}

int soulgw_json_parse(const char *text, size_t len, soulgw_json **out, char *err, size_t errlen) {
  *out = NULL;
  if (!text) {
    sg_seterr(err, errlen, "no JSON text");
    return SOULGW_EINVAL;
  }
  if (prescan(text, len, err, errlen)) return SOULGW_EINVAL;
  const char *end = NULL;
  cJSON *v = cJSON_ParseWithLengthOpts(text, len, &end, 0);
  if (!v) {
    size_t at = end && end >= text ? (size_t)(end - text) : 0;
    size_t k = 0;
    while (k < len && (text[k] == ' ' || text[k] == '\n' || text[k] == '\r' || text[k] == '\t'))
      k++;
    if (k == len) sg_seterr(err, errlen, "empty JSON text");
    else sg_seterr(err, errlen, "malformed JSON near byte %zu", at);
    return SOULGW_EINVAL;
  }
  size_t pos = (size_t)(end - text);
  while (pos < len && (text[pos] == ' ' || text[pos] == '\n' || text[pos] == '\r' ||
                       text[pos] == '\t'))
    pos++;
  if (pos < len) {
    cJSON_Delete(v);
    sg_seterr(err, errlen, "unexpected text after the JSON value at byte %zu", pos);
    return SOULGW_EINVAL;
  }
  int oom = 0;
  const char *dup = find_duplicate(v, &oom);
  if (dup || oom) {
    if (oom) sg_seterr(err, errlen, "out of memory");
    else sg_seterr(err, errlen, "duplicate key \"%.64s\"", dup);
    cJSON_Delete(v);
    return oom ? SOULGW_ENOMEM : SOULGW_EINVAL;
  }
  *out = v;
  return 0;
}

/* ------------------------------------------------------------------------------------------ */
/* Internal helpers (json.h) */

soulgw_json *sg_json_detach(soulgw_json *obj, const char *key) {
  return obj && cJSON_IsObject(obj) ? cJSON_DetachItemFromObjectCaseSensitive(obj, key) : NULL;
}

int sg_json_equal(const soulgw_json *a, const soulgw_json *b) {
  return cJSON_Compare(a, b, 1) ? 1 : 0;
}

int sg_json_print_buf(const soulgw_json *v, sg_buf *out) {
  char *s = cJSON_PrintUnformatted(v);
  if (!s) return SOULGW_ENOMEM;
  int rc = sg_buf_puts(out, s);
  cJSON_free(s);
  return rc;
}

int sg_json_is_integer(const soulgw_json *v) {
  return v && cJSON_IsNumber(v) && isfinite(v->valuedouble) &&
         floor(v->valuedouble) == v->valuedouble && fabs(v->valuedouble) < 9007199254740992.0;
}

soulgw_json *sg_json_new_int(long long n) { return cJSON_CreateNumber((double)n); }

int sg_json_remove(soulgw_json *obj, const char *key) {
  if (!obj || !cJSON_IsObject(obj)) return SOULGW_EINVAL;
  cJSON_DeleteItemFromObjectCaseSensitive(obj, key);
  return 0;
}

int sg_json_merge(soulgw_json *dst, const soulgw_json *src) {
  if (!cJSON_IsObject(dst) || !cJSON_IsObject(src)) return SOULGW_EINVAL;
  for (const cJSON *m = src->child; m; m = m->next) {
    cJSON *have = cJSON_GetObjectItemCaseSensitive(dst, m->string);
    if (have && cJSON_IsObject(have) && cJSON_IsObject(m)) {
      if (sg_json_merge(have, m)) return SOULGW_ENOMEM;
    } else if (soulgw_json_set(dst, m->string, cJSON_Duplicate(m, 1))) {
      return SOULGW_ENOMEM;
    }
  }
  return 0;
}

int sg_json_replace(soulgw_json *parent, soulgw_json *item, soulgw_json *with) {
  if (!with) return SOULGW_ENOMEM;
  if (!cJSON_ReplaceItemViaPointer(parent, item, with)) {
    cJSON_Delete(with);
    return SOULGW_ENOMEM;
  }
  return 0;
}

int sg_json_deeper_than(const soulgw_json *v, int max) {
  if (!cJSON_IsArray(v) && !cJSON_IsObject(v)) return 0;
  if (max <= 0) return 1;
  for (const cJSON *c = v->child; c; c = c->next)
    if (sg_json_deeper_than(c, max - 1)) return 1;
  return 0;
}

soulgw_json *sg_json_new_raw(const char *text) { return text ? cJSON_CreateRaw(text) : NULL; }

const char *sg_json_raw_text(const soulgw_json *v) {
  return v && cJSON_IsRaw(v) ? v->valuestring : NULL;
}
