/*
 * registry.c -- libFuzzer target: tool registry versions, all untrusted (POST
 * /api/config/tools, and what the store gives back at start).  The input is split at the first
 * NUL into two JSON documents: the active version's manifests and a publish's.  Each is
 * normalized as published and as stored (which checks every input_schema and output_schema),
 * the publish is merged into the active version as the store merges it, and the result is
 * built into a toolset as a publish's check and the start-up load build it, installed in a
 * registry, looked up by id, and each tool's input_schema is applied to its own manifest.
 * Build with `make fuzz`; run with `make fuzz-run` (seeds in test/fuzz/seeds/registry).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/json.h"
#include "store/shape.h"
#include "tools/registry.h"
#include "tools/schema.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The manifests normalized, as published or else as stored, or NULL. */
static soulgw_json *normalized(const soulgw_json *manifests) {
  soulgw_json *out = NULL;
  char err[512];
  if (sg_manifests_normalize(manifests, "manifests", &out, err, sizeof err) == 0) return out;
  if (sg_manifests_normalize_opts(manifests, "manifests", SG_MANIFESTS_STORED, &out, err,
                                  sizeof err) == 0)
    return out;
  return NULL;
}

/* Builds version for the tenant of its first manifest, installs it and uses it. */
static void build_and_use(const soulgw_json *version) {
  const soulgw_json *first = soulgw_json_first(soulgw_json_get(version, "manifests"));
  const char *tenant = soulgw_json_string(soulgw_json_get(first, "tenant"));
  if (!tenant) tenant = "t";
  char err[512];
  sg_toolset *set = NULL;
  if (sg_toolset_build(tenant, version, 0, &set, err, sizeof err) != 0 &&
      sg_toolset_build(tenant, version, SG_MANIFESTS_STORED, &set, err, sizeof err) != 0)
    return;
  sg_registry *r = sg_registry_new();
  size_t n = sg_toolset_size(set);
  if (!r || sg_registry_put(r, tenant, set) != 0) {
    sg_registry_free(r);
    return;
  }
  sg_toolset *live = sg_registry_tenant(r, tenant);
  for (size_t i = 0; i < n; i++) {
    const sg_manifest *m = sg_toolset_at(live, i);
    sg_toolset *ref = NULL;
    if (sg_registry_find(r, tenant, m->id, &ref) != m) abort(); /* ids are unique */
    sg_toolset_release(ref);
    sg_schema_validate(m->input_schema, m->json, "input", err, sizeof err);
    sg_schema_validate(m->output_schema, m->input_schema, "output", err, sizeof err);
  }
  sg_toolset_release(live);
  sg_registry_free(r);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  const uint8_t *nul = memchr(data, 0, size);
  size_t n1 = nul ? (size_t)(nul - data) : size;
  soulgw_json *base = NULL, *add = NULL, *nbase = NULL, *nadd = NULL, *version = NULL;
  if (soulgw_json_parse((const char *)data, n1, &base, NULL, 0) != 0) return 0;
  nbase = normalized(base);
  if (nul && soulgw_json_parse((const char *)nul + 1, size - n1 - 1, &add, NULL, 0) == 0)
    nadd = normalized(add);
  /* the store merges a publish (normalized) into whatever the active version holds */
  soulgw_json *manifests = nadd ? sg_manifests_merge(nbase ? nbase : base, nadd)
                                : soulgw_json_dup(nbase ? nbase : base);
  version = soulgw_json_object();
  if (soulgw_json_set(version, "version", soulgw_json_new_string("v")) == 0 &&
      soulgw_json_set(version, "manifests", manifests) == 0)
    build_and_use(version);
  soulgw_json_free(version);
  soulgw_json_free(base);
  soulgw_json_free(add);
  soulgw_json_free(nbase);
  soulgw_json_free(nadd);
  return 0;
}
