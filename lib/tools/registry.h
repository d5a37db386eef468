/*
 * registry.h -- the tool registry: manifests (validated, with defaults), the active registry of
 * each tenant held in memory for the request path, its versions kept by the store.
 *
 * The store keeps every version; this module keeps, per tenant, the active one as an immutable,
 * reference-counted index (a "toolset": tool id -> normalized manifest).  A publish or an
 * activation builds a new toolset once its write has committed and swaps it in; requests that
 * hold the old one finish on it.  Lookups take one short lock to find the tenant and take a
 * reference, and never touch the store.
 */
#ifndef SG_REGISTRY_H
#define SG_REGISTRY_H

#include <stdatomic.h>

#include "base/sg.h"
#include "store/store.h"

typedef struct sg_registry sg_registry;
typedef struct sg_toolset sg_toolset;

/* Most manifests in one publish (or one bootstrap file). */
#define SG_MANIFESTS_MAX 1000

/* What runs a tool (its manifest's handler). */
typedef enum {
  SG_TOOL_ECHO, /* "builtin:echo": the input is the result */
  SG_TOOL_HTTP, /* an http:// or https:// URL: the input is POSTed there */
  SG_TOOL_HOST  /* any other name: a C tool the host registered (soulgw_tool_register) */
} sg_tool_kind;

/* A normalized manifest.  Every default is filled in; the strings and values point into the
 * toolset's JSON and live as long as the reference to the toolset that yielded the manifest. */
typedef struct sg_manifest {
  const char *tenant, *id, *version, *handler, *display_name, *description;
  const soulgw_json *json; /* the whole normalized ToolManifestEntry */
  const soulgw_json *tags, *input_schema, *output_schema, *scopes; /* arrays and objects */
  sg_tool_kind kind;
  int schema_trivial;      /* input_schema is {}: validation can be skipped */
  int output_trivial;      /* output_schema is {} */
  long long timeout_ms, max_bytes_in, max_bytes_out, max_concurrency; /* 0: no limit */
  atomic_long *running;    /* executions in flight, against max_concurrency (the toolset's) */
} sg_manifest;

sg_registry *sg_registry_new(void);
void sg_registry_free(sg_registry *r);

/* At start: reads [tools] manifests_file ("" for none), validates it (a JSON array of
 * ToolManifestEntry), bootstraps each tenant it names, then loads every tenant's active
 * registry from the store.  Returns 0, SOULGW_ECONFIG with err naming the file and the failing
 * field ("conf/manifests.json: manifests[0].handler: required"), SOULGW_ESTORE, SOULGW_ENOMEM. */
int sg_registry_load(sg_registry *r, sg_store *st, const char *manifests_file, char *err,
                     size_t errlen);

/* Validates manifests, an array of ToolManifestEntry, and returns in *out (to free) a copy with
 * every default filled in and the members in a fixed order.  at names the array in messages
 * ("manifests").  Ids must be unique per tenant within the array.  Returns 0, SOULGW_EINVAL
 * with err naming the field ("manifests[1].handler: required",
 * "manifests[0].limits.timeout_ms: expected a non-negative integer"), SOULGW_ENOMEM. */
int sg_manifests_normalize(const soulgw_json *manifests, const char *at, soulgw_json **out,
                           char *err, size_t errlen);

/* Makes version (a version object {"version","manifests":[...],...}, copied) the tenant's
 * active registry in memory.  Called after the store has committed the publish or activation.
 * Returns 0, SOULGW_EINVAL (malformed manifests; err says which), SOULGW_ENOMEM. */
int sg_registry_install(sg_registry *r, const char *tenant, const soulgw_json *version,
                        char *err, size_t errlen);

/* The manifest of tool_id in the tenant's active registry, or NULL.  When found, *ref holds a
 * reference to the toolset that owns it, to release with sg_toolset_release() once the
 * manifest is no longer used.  Thread-safe; never reads the store. */
const sg_manifest *sg_registry_find(sg_registry *r, const char *tenant, const char *tool_id,
                                    sg_toolset **ref);

/* The tenant's active toolset with a reference (release it), or NULL when it has none. */
sg_toolset *sg_registry_tenant(sg_registry *r, const char *tenant);

/* The manifests of a toolset in registry order, and the name of its version. */
size_t sg_toolset_size(const sg_toolset *s);
const sg_manifest *sg_toolset_at(const sg_toolset *s, size_t i);
const char *sg_toolset_version(const sg_toolset *s);
/* Drops a reference.  NULL does nothing. */
void sg_toolset_release(sg_toolset *s);

#endif
