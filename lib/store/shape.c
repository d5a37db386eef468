/*
 * shape.c -- engine-independent parts of the store (see shape.h).
 */
#include <string.h>

#include "base/json.h"
#include "store/shape.h"

soulgw_json *sg_manifests_merge(const soulgw_json *base, const soulgw_json *add) {
  if (base && soulgw_json_typeof(base) != SOULGW_JSON_ARRAY) return soulgw_json_dup(base);
  soulgw_json *out = base ? soulgw_json_dup(base) : soulgw_json_array();
  if (!out) return NULL;
  for (const soulgw_json *m = soulgw_json_first(add); m; m = soulgw_json_next(m)) {
    const char *id = soulgw_json_string(soulgw_json_get(m, "id"));
    soulgw_json *same = NULL;
    for (soulgw_json *o = soulgw_json_first(out); o && id; o = soulgw_json_next(o)) {
      const char *oid = soulgw_json_string(soulgw_json_get(o, "id"));
      if (oid && strcmp(oid, id) == 0) same = o;
    }
    soulgw_json *copy = soulgw_json_dup(m);
    if (same ? sg_json_replace(out, same, copy) : soulgw_json_push(out, copy)) {
      soulgw_json_free(out);
      return NULL;
    }
  }
  return out;
}
