/*
 * manifest.c -- validating tool manifests (ToolManifestEntry, SPEC 4.2) and filling in their
 * defaults.  A manifest that passes comes out as a fresh object with every field present, in a
 * fixed order, so that what the store keeps and the registry indexes never needs a default
 * again.  The first problem found is reported, naming the field by its path:
 *
 *   manifests[1].handler: required
 *   manifests[0].limits.timeout_ms: expected a non-negative integer
 *   manifests[2].input_schema.properties.q.type: unknown type "strng" (...)
 *
 * Unknown fields are refused rather than ignored: a misspelt "input_shema" would otherwise
 * publish a tool whose input is never checked.  So are unknown keywords inside the schemas
 * (schema.h), except in manifests read back from the store (SG_MANIFESTS_STORED), which may
 * predate that check.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/json.h"
#include "tools/registry.h"
#include "tools/schema.h"

#define ID_MAX 256          /* id, version, tag, scope */
#define TENANT_MAX 128      /* as the pipeline accepts tenants */
#define TEXT_MAX 4096       /* display_name, description */
#define HANDLER_MAX 2048
#define LIST_MAX 64         /* tags, scopes */
#define TIMEOUT_MAX 86400000LL /* 24 hours */
#define CONCURRENCY_MAX 1000000LL

static const char *const side_effects[] = {"None",       "Read",    "Write",   "Network",
                                           "Filesystem", "Browser", "Process", NULL};
static const char *const safety_classes[] = {"Low", "Medium", "High", NULL};
static const char *const idempotencies[] = {"None", "Keyed", "Global", NULL};
static const char *const limit_keys[] = {"timeout_ms", "max_bytes_in", "max_bytes_out",
                                         "max_concurrency", NULL};
static const char *const fields[] = {
    "tenant",       "id",     "version",     "display_name", "description",
    "tags",         "input_schema",          "output_schema", "scopes",
    "side_effect",  "safety_class",          "limits",       "idempotency",
    "handler",      NULL};

/* Where the manifest being checked sits: "manifests[3]". */
typedef struct vctx {
  char where[64];
  char *err;
  size_t errlen;
  unsigned flags; /* SG_MANIFESTS_* */
} vctx;

static int bad(vctx *c, const char *field, const char *fmt, ...) SG_PRINTF(3, 4);
static int bad(vctx *c, const char *field, const char *fmt, ...) {
  if (c->err && c->errlen) {
    int n = snprintf(c->err, c->errlen, "%s%s%s: ", c->where, field ? "." : "", field ? field : "");
    if (n >= 0 && (size_t)n < c->errlen) {
      va_list ap;
      va_start(ap, fmt);
      vsnprintf(c->err + n, c->errlen - (size_t)n, fmt, ap);
      va_end(ap);
    }
  }
  return SOULGW_EINVAL;
}

static int has_control(const char *s) {
  for (; *s; s++)
    if ((unsigned char)*s < 0x20 || *s == 0x7f) return 1;
  return 0;
}

static int one_of(const char *s, const char *const *names) {
  for (int i = 0; names[i]; i++)
    if (!strcmp(s, names[i])) return i;
  return -1;
}

/* A member, with JSON null read as absent. */
static const soulgw_json *member(const soulgw_json *m, const char *key) {
  const soulgw_json *v = soulgw_json_get(m, key);
  return soulgw_json_typeof(v) == SOULGW_JSON_NULL ? NULL : v;
}

/* A string field.  required: absent is an error and the text must not be blank; id: no
 * control characters.  *out is the string, or def when absent. */
static int get_string(vctx *c, const soulgw_json *m, const char *key, int required, int id,
                      size_t max, const char *def, const char **out) {
  const soulgw_json *v = member(m, key);
  *out = def;
  if (!v) return required ? bad(c, key, "required") : 0;
  const char *s = soulgw_json_string(v);
  if (!s) return bad(c, key, "expected a string, got %s", sg_schema_type_name(v));
  if (required && sg_is_blank(s)) return bad(c, key, "must not be blank");
  if (strlen(s) > max) return bad(c, key, "longer than %zu bytes", max);
  if (id && has_control(s)) return bad(c, key, "must not contain control characters");
  *out = s;
  return 0;
}

/* An array of strings (absent: []); a copy in *out. */
static int get_strings(vctx *c, const soulgw_json *m, const char *key, int nonblank,
                       soulgw_json **out) {
  const soulgw_json *v = member(m, key);
  *out = NULL;
  if (v && soulgw_json_typeof(v) != SOULGW_JSON_ARRAY)
    return bad(c, key, "expected an array of strings, got %s", sg_schema_type_name(v));
  if (soulgw_json_size(v) > LIST_MAX) return bad(c, key, "more than %d elements", LIST_MAX);
  size_t i = 0;
  char name[64];
  for (const soulgw_json *e = soulgw_json_first(v); e; e = soulgw_json_next(e), i++) {
    const char *s = soulgw_json_string(e);
    snprintf(name, sizeof name, "%s[%zu]", key, i);
    if (!s) return bad(c, name, "expected a string, got %s", sg_schema_type_name(e));
    if (nonblank && sg_is_blank(s)) return bad(c, name, "must not be blank");
    if (strlen(s) > ID_MAX) return bad(c, name, "longer than %d bytes", ID_MAX);
    if (has_control(s)) return bad(c, name, "must not contain control characters");
  }
  *out = v ? soulgw_json_dup(v) : soulgw_json_array();
  return *out ? 0 : SOULGW_ENOMEM;
}

static int get_enum(vctx *c, const soulgw_json *m, const char *key, const char *const *names,
                    const char **out) {
  const soulgw_json *v = member(m, key);
  *out = names[0];
  if (!v) return 0;
  const char *s = soulgw_json_string(v);
  char list[128] = "";
  size_t used = 0;
  for (int i = 0; names[i]; i++)
    used += (size_t)snprintf(list + used, sizeof list - used, "%s%s", i ? ", " : "", names[i]);
  if (!s) return bad(c, key, "expected one of %s, got %s", list, sg_schema_type_name(v));
  if (one_of(s, names) < 0) return bad(c, key, "expected one of %s, got \"%.40s\"", list, s);
  *out = s;
  return 0;
}

static int get_schema(vctx *c, const soulgw_json *m, const char *key, soulgw_json **out) {
  const soulgw_json *v = member(m, key);
  *out = NULL;
  if (v && soulgw_json_typeof(v) != SOULGW_JSON_OBJECT)
    return bad(c, key, "expected an object (a JSON Schema), got %s", sg_schema_type_name(v));
  if (v) {
    char prefix[96];
    snprintf(prefix, sizeof prefix, "%s.%s", c->where, key);
    unsigned sf = (c->flags & SG_MANIFESTS_STORED) ? SG_SCHEMA_LENIENT : 0;
    if (sg_schema_check_opts(v, prefix, sf, c->err, c->errlen)) return SOULGW_EINVAL;
  }
  *out = v ? soulgw_json_dup(v) : soulgw_json_object();
  return *out ? 0 : SOULGW_ENOMEM;
}

static int get_limits(vctx *c, const soulgw_json *m, soulgw_json **out) {
  const soulgw_json *v = member(m, "limits");
  *out = NULL;
  if (v && soulgw_json_typeof(v) != SOULGW_JSON_OBJECT)
    return bad(c, "limits", "expected an object, got %s", sg_schema_type_name(v));
  for (const soulgw_json *e = soulgw_json_first(v); e; e = soulgw_json_next(e)) {
    if (one_of(soulgw_json_key(e), limit_keys) < 0) {
      char name[96];
      snprintf(name, sizeof name, "limits.%.60s", soulgw_json_key(e));
      return bad(c, name, "unknown field (limits are %s, %s, %s, %s)", limit_keys[0],
                 limit_keys[1], limit_keys[2], limit_keys[3]);
    }
  }
  soulgw_json *o = soulgw_json_object();
  int rc = o ? 0 : SOULGW_ENOMEM;
  for (int i = 0; limit_keys[i] && !rc; i++) {
    const soulgw_json *x = member(v, limit_keys[i]);
    char name[64];
    snprintf(name, sizeof name, "limits.%s", limit_keys[i]);
    double n = soulgw_json_number(x, 0);
    if (x && (!sg_json_is_integer(x) || n < 0)) {
      rc = bad(c, name, "expected a non-negative integer");
      break;
    }
    long long cap = i == 0 ? TIMEOUT_MAX : i == 3 ? CONCURRENCY_MAX : 0;
    if (cap && n > (double)cap) {
      rc = bad(c, name, "at most %lld", cap);
      break;
    }
    rc = soulgw_json_set(o, limit_keys[i], sg_json_new_int((long long)n));
  }
  if (rc) soulgw_json_free(o);
  else *out = o;
  return rc;
}

static int check_handler(vctx *c, const char *h) {
  if (!strncmp(h, "builtin:", 8)) {
    if (strcmp(h, "builtin:echo") != 0)
      return bad(c, "handler", "unknown built-in tool \"%.64s\" (builtin:echo is the only one)", h);
    return 0;
  }
  size_t scheme = !strncmp(h, "http://", 7) ? 7 : !strncmp(h, "https://", 8) ? 8 : 0;
  if (!strncmp(h, "http", 4) && !scheme)
    return bad(c, "handler", "expected an http:// or https:// URL, got \"%.64s\"", h);
  if (scheme) {
    if (!h[scheme] || h[scheme] == '/' || h[scheme] == ':')
      return bad(c, "handler", "the URL has no host");
    for (const char *p = h; *p; p++)
      if (*p == ' ' || *p == '\t') return bad(c, "handler", "the URL contains white space");
  }
  return 0;
}

/* Validates one manifest; its normalized copy in *out. */
static int normalize_one(vctx *c, const soulgw_json *m, soulgw_json **out) {
  *out = NULL;
  if (soulgw_json_typeof(m) != SOULGW_JSON_OBJECT)
    return bad(c, NULL, "expected an object (a tool manifest), got %s", sg_schema_type_name(m));
  for (const soulgw_json *e = soulgw_json_first(m); e; e = soulgw_json_next(e))
    if (one_of(soulgw_json_key(e), fields) < 0) {
      char name[80];
      snprintf(name, sizeof name, "%.64s", soulgw_json_key(e));
      return bad(c, name, "unknown field");
    }
  const char *tenant, *id, *version, *handler, *display, *descr, *side, *safety, *idem;
  soulgw_json *tags = NULL, *scopes = NULL, *in = NULL, *outs = NULL, *limits = NULL, *o = NULL;
  int rc;
  if ((rc = get_string(c, m, "tenant", 1, 1, TENANT_MAX, NULL, &tenant)) ||
      (rc = get_string(c, m, "id", 1, 1, ID_MAX, NULL, &id)) ||
      (rc = get_string(c, m, "version", 1, 1, ID_MAX, NULL, &version)) ||
      (rc = get_string(c, m, "display_name", 0, 0, TEXT_MAX, "", &display)) ||
      (rc = get_string(c, m, "description", 0, 0, TEXT_MAX, "", &descr)) ||
      (rc = get_strings(c, m, "tags", 0, &tags)) ||
      (rc = get_schema(c, m, "input_schema", &in)) ||
      (rc = get_schema(c, m, "output_schema", &outs)) ||
      (rc = get_strings(c, m, "scopes", 1, &scopes)) ||
      (rc = get_enum(c, m, "side_effect", side_effects, &side)) ||
      (rc = get_enum(c, m, "safety_class", safety_classes, &safety)) ||
      (rc = get_limits(c, m, &limits)) ||
      (rc = get_enum(c, m, "idempotency", idempotencies, &idem)) ||
      (rc = get_string(c, m, "handler", 1, 1, HANDLER_MAX, NULL, &handler)) ||
      (rc = check_handler(c, handler)))
    goto out;
  /* every set takes its value, even after a failure, so nothing leaks on the way out */
  o = soulgw_json_object();
  int failed = 0;
  failed |= soulgw_json_set(o, "tenant", soulgw_json_new_string(tenant));
  failed |= soulgw_json_set(o, "id", soulgw_json_new_string(id));
  failed |= soulgw_json_set(o, "version", soulgw_json_new_string(version));
  failed |= soulgw_json_set(o, "display_name", soulgw_json_new_string(display));
  failed |= soulgw_json_set(o, "description", soulgw_json_new_string(descr));
  failed |= soulgw_json_set(o, "tags", tags);
  failed |= soulgw_json_set(o, "input_schema", in);
  failed |= soulgw_json_set(o, "output_schema", outs);
  failed |= soulgw_json_set(o, "scopes", scopes);
  failed |= soulgw_json_set(o, "side_effect", soulgw_json_new_string(side));
  failed |= soulgw_json_set(o, "safety_class", soulgw_json_new_string(safety));
  failed |= soulgw_json_set(o, "limits", limits);
  failed |= soulgw_json_set(o, "idempotency", soulgw_json_new_string(idem));
  failed |= soulgw_json_set(o, "handler", soulgw_json_new_string(handler));
  tags = in = outs = scopes = limits = NULL;
  if (failed) {
    rc = SOULGW_ENOMEM;
    goto out;
  }
  *out = o;
  o = NULL;
  rc = 0;
out:
  soulgw_json_free(o);
  soulgw_json_free(tags);
  soulgw_json_free(in);
  soulgw_json_free(outs);
  soulgw_json_free(scopes);
  soulgw_json_free(limits);
  return rc;
}

int sg_manifests_normalize(const soulgw_json *manifests, const char *at, soulgw_json **out,
                           char *err, size_t errlen) {
  return sg_manifests_normalize_opts(manifests, at, 0, out, err, errlen);
}

int sg_manifests_normalize_opts(const soulgw_json *manifests, const char *at, unsigned flags,
                                soulgw_json **out, char *err, size_t errlen) {
  vctx c = {"", err, errlen, flags};
  *out = NULL;
  if (err && errlen) err[0] = '\0';
  snprintf(c.where, sizeof c.where, "%s", at);
  if (soulgw_json_typeof(manifests) != SOULGW_JSON_ARRAY)
    return bad(&c, NULL, "expected an array of tool manifests, got %s",
               sg_schema_type_name(manifests));
  size_t n = soulgw_json_size(manifests);
  if (n > SG_MANIFESTS_MAX)
    return bad(&c, NULL, "%zu manifests; at most %d in one registry version", n,
               SG_MANIFESTS_MAX);
  soulgw_json *arr = soulgw_json_array();
  const char **keys = calloc(2 * n + 1, sizeof *keys); /* tenant, id of each manifest so far */
  int rc = SOULGW_ENOMEM;
  if (!arr || !keys) goto fail;
  size_t i = 0;
  for (const soulgw_json *m = soulgw_json_first(manifests); m; m = soulgw_json_next(m), i++) {
    soulgw_json *one;
    snprintf(c.where, sizeof c.where, "%s[%zu]", at, i);
    if ((rc = normalize_one(&c, m, &one)) || (rc = soulgw_json_push(arr, one))) goto fail;
    /* ids are unique per tenant: the merge of a publish would otherwise depend on order */
    const char *t = soulgw_json_string(soulgw_json_get(one, "tenant"));
    const char *id = soulgw_json_string(soulgw_json_get(one, "id"));
    for (size_t j = 0; j < i; j++) {
      if (!strcmp(keys[2 * j + 1], id) && !strcmp(keys[2 * j], t)) {
        rc = bad(&c, "id", "\"%.64s\" is already defined for tenant %.128s by %s[%zu]", id, t,
                 at, j);
        goto fail;
      }
    }
    keys[2 * i] = t;
    keys[2 * i + 1] = id;
  }
  free(keys);
  *out = arr;
  return 0;
fail:
  free(keys);
  soulgw_json_free(arr);
  return rc;
}
