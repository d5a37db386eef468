/*
 * registry.h -- the tool registry: manifests (validated, with defaults), the active registry of
 * each tenant held in memory for the request path, its versions kept by the store.
 *
 * The store keeps every version; this module keeps, per tenant, the active one as an immutable,
 * reference-counted index (a "toolset": tool id -> normalized manifest).  A publish or an
 * activation builds the new toolset before its write commits (a version that cannot be built is
 * refused, never stored active) and swaps it in once the write has committed; requests that
 * hold the old one finish on it.  Lookups take one short lock to find the tenant and take a
 * reference, and never touch the store.
 */
#ifndef SG_REGISTRY_H
#define SG_REGISTRY_H

#include <stdatomic.h>

#include "base/log.h"
#include "base/metrics.h"
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
  int schema_object;       /* input_schema is {"type":"object"}: an object needs no validation */
  int output_trivial;      /* output_schema is {} */
  long long timeout_ms, max_bytes_in, max_bytes_out, max_concurrency; /* 0: no limit */
  atomic_long *running;    /* executions in flight, against max_concurrency (the toolset's) */
  /* For answers, written once: id, version and tenant as JSON strings (quoted, escaped as
   * sg_buf_json_escape() escapes), the tenant percent-encoded (sg_buf_pct_encode()).  Owned by
   * the toolset; all NULL when there was no memory for them. */
  char *id_json, *version_json, *tenant_json, *tenant_pct;
  size_t id_json_len, version_json_len, tenant_json_len, tenant_pct_len;
} sg_manifest;

sg_registry *sg_registry_new(void);
void sg_registry_free(sg_registry *r);

/* At start: reads [tools] manifests_file ("" for none), validates it (a JSON array of
 * ToolManifestEntry), bootstraps each tenant it names, then loads every tenant's active
 * registry from the store.  A tenant whose active registry cannot be read or built is one
 * tenant's problem, never the gateway's: it is logged at error level (tenant, version, why),
 * counted in failures (may be NULL), and served its last good version -- the newest earlier
 * version that builds -- or nothing.  A stored version whose schemas carry keywords refused
 * since it was stored loads as before, with a warning.  Returns 0, SOULGW_ECONFIG with err
 * naming the file and the failing field ("conf/manifests.json: manifests[0].handler:
 * required"), SOULGW_ESTORE (the store cannot list its registries), SOULGW_ENOMEM. */
/* Reads and validates a manifests file as sg_registry_load() would, without a store: 0 with the
 * number of manifests in *count (may be NULL), else SOULGW_ECONFIG (or SOULGW_ENOMEM) with err
 * naming the file and the failing field.  For `soulgw --check`. */
int sg_registry_check_file(const char *manifests_file, size_t *count, char *err, size_t errlen);
int sg_registry_load(sg_registry *r, sg_store *st, const char *manifests_file, sg_log *log,
                     sg_family *failures, char *err, size_t errlen);

/* Validates manifests, an array of ToolManifestEntry, and returns in *out (to free) a copy with
 * every default filled in and the members in a fixed order.  at names the array in messages
 * ("manifests").  Ids must be unique per tenant within the array.  Returns 0, SOULGW_EINVAL
 * with err naming the field ("manifests[1].handler: required",
 * "manifests[0].limits.timeout_ms: expected a non-negative integer"), SOULGW_ENOMEM. */
int sg_manifests_normalize(const soulgw_json *manifests, const char *at, soulgw_json **out,
                           char *err, size_t errlen);

/* Flags of sg_manifests_normalize_opts() and sg_toolset_build(). */
#define SG_MANIFESTS_STORED 1u /* manifests read back from the store: unknown keywords in their
                                  schemas pass (SG_SCHEMA_LENIENT), as they did when stored */

/* sg_manifests_normalize() with flags (0: as sg_manifests_normalize()). */
int sg_manifests_normalize_opts(const soulgw_json *manifests, const char *at, unsigned flags,
                                soulgw_json **out, char *err, size_t errlen);

/* Builds the toolset of version (a version object {"version","manifests":[...],...}, copied)
 * for tenant: normalizes the manifests (flags as above), checks that each belongs to tenant and
 * indexes them.  *out gets one reference.  Returns 0, SOULGW_EINVAL (err says which manifest
 * and why), SOULGW_ENOMEM.  Touches no registry: a publish builds the toolset of its merged
 * version before committing it, and installs it with sg_registry_put() after. */
int sg_toolset_build(const char *tenant, const soulgw_json *version, unsigned flags,
                     sg_toolset **out, char *err, size_t errlen);

/* Makes set the tenant's active toolset, taking over the caller's reference; the previous one
 * is released once its last user is done.  Returns 0, or SOULGW_ENOMEM (set released). */
int sg_registry_put(sg_registry *r, const char *tenant, sg_toolset *set);

/* Makes version (a version object {"version","manifests":[...],...}, copied) the tenant's
 * active registry in memory: sg_toolset_build() as stored data, then sg_registry_put().
 * Returns 0, SOULGW_EINVAL (malformed manifests; err says which), SOULGW_ENOMEM. */
int sg_registry_install(sg_registry *r, const char *tenant, const soulgw_json *version,
                        char *err, size_t errlen);

/* Makes the tenant's active version in the store its active registry in memory, when another
 * gateway changed it (sg_store_watch_registry()): built as at start and swapped in with
 * sg_registry_put(), as an activation on this gateway is; nothing when the one in memory is
 * that version already.  When it cannot be read or built, the one in memory stays (logged).
 * Returns 0, SOULGW_ESTORE, SOULGW_EINVAL, SOULGW_ENOMEM. */
int sg_registry_reload(sg_registry *r, sg_store *st, const char *tenant, sg_log *log);
/* sg_registry_reload() for every tenant with an active version in the store: 0, or the first
 * error (the others are reloaded all the same). */
int sg_registry_reload_all(sg_registry *r, sg_store *st, sg_log *log);

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
