/*
 * registry.c -- the active tool registry of every tenant, in memory (see registry.h), and its
 * loading at start from the store and the [tools] manifests_file.
 *
 * A toolset is built once from a version's manifests and never changed: an array of manifests
 * in registry order plus an open-addressing index by tool id.  The registry maps tenants to
 * their current toolset under one mutex held only to find a tenant's slot and take a reference
 * (or to swap the pointer); everything else runs on the immutable toolset without a lock.
 * Tenants are never removed, so the tenant table only grows.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/json.h"
#include "tools/registry.h"

#define MANIFESTS_FILE_MAX (16u << 20)

struct sg_toolset {
  atomic_int refs;
  soulgw_json *manifests; /* normalized; owns every string the manifests point to */
  char *version;
  size_t n;
  sg_manifest *m;
  atomic_long *running; /* one per manifest */
  uint32_t *index; /* slots holding 1 + the manifest's position, 0 when empty */
  size_t mask;     /* slots - 1 (a power of two at least twice n) */
};

typedef struct tenant_slot {
  char *tenant; /* NULL: empty */
  uint64_t hash;
  sg_toolset *set;
} tenant_slot;

struct sg_registry {
  pthread_mutex_t lock;
  tenant_slot *slots;
  size_t nslots, ntenants; /* nslots is 0 or a power of two */
};

static uint64_t hash_str(const char *s) {
  uint64_t h = 1469598103934665603ull; /* FNV-1a */
  for (; *s; s++) {
    h ^= (unsigned char)*s;
    h *= 1099511628211ull;
  }
  return h;
}

/* ------------------------------------------------------------------------------------------ */
/* Toolsets */

static void free_texts(sg_manifest *m) {
  free(m->id_json);
  free(m->version_json);
  free(m->tenant_json);
  free(m->tenant_pct);
  m->id_json = m->version_json = m->tenant_json = m->tenant_pct = NULL;
}

/* s as a JSON string, quoted (NULL when out of memory). */
static char *json_text(const char *s, size_t *len) {
  sg_buf b;
  sg_buf_init(&b, 0);
  sg_buf_putc(&b, '"');
  sg_buf_json_escape(&b, s, (size_t)-1);
  sg_buf_putc(&b, '"');
  return sg_buf_detach(&b, len);
}

/* Writes the texts answers use; on failure leaves them all NULL. */
static void write_texts(sg_manifest *m) {
  sg_buf b;
  sg_buf_init(&b, 0);
  sg_buf_pct_encode(&b, m->tenant);
  m->tenant_pct = sg_buf_detach(&b, &m->tenant_pct_len);
  m->id_json = json_text(m->id, &m->id_json_len);
  m->version_json = json_text(m->version, &m->version_json_len);
  m->tenant_json = json_text(m->tenant, &m->tenant_json_len);
  if (!m->tenant_pct || !m->id_json || !m->version_json || !m->tenant_json) free_texts(m);
}

void sg_toolset_release(sg_toolset *s) {
  if (!s || atomic_fetch_sub_explicit(&s->refs, 1, memory_order_acq_rel) != 1) return;
  for (size_t i = 0; s->m && i < s->n; i++) free_texts(&s->m[i]);
  soulgw_json_free(s->manifests);
  free(s->version);
  free(s->m);
  free(s->running);
  free(s->index);
  free(s);
}

size_t sg_toolset_size(const sg_toolset *s) { return s ? s->n : 0; }
const sg_manifest *sg_toolset_at(const sg_toolset *s, size_t i) {
  return s && i < s->n ? &s->m[i] : NULL;
}
const char *sg_toolset_version(const sg_toolset *s) { return s ? s->version : NULL; }

static long long limit(const soulgw_json *limits, const char *key) {
  return (long long)soulgw_json_number(soulgw_json_get(limits, key), 0);
}

/* Fills m from a normalized manifest. */
static void describe(sg_manifest *m, const soulgw_json *j, atomic_long *running) {
  const soulgw_json *limits = soulgw_json_get(j, "limits");
  m->json = j;
  m->tenant = soulgw_json_string(soulgw_json_get(j, "tenant"));
  m->id = soulgw_json_string(soulgw_json_get(j, "id"));
  m->version = soulgw_json_string(soulgw_json_get(j, "version"));
  m->handler = soulgw_json_string(soulgw_json_get(j, "handler"));
  m->display_name = soulgw_json_string(soulgw_json_get(j, "display_name"));
  m->description = soulgw_json_string(soulgw_json_get(j, "description"));
  m->tags = soulgw_json_get(j, "tags");
  m->input_schema = soulgw_json_get(j, "input_schema");
  m->output_schema = soulgw_json_get(j, "output_schema");
  m->scopes = soulgw_json_get(j, "scopes");
  m->schema_trivial = soulgw_json_size(m->input_schema) == 0;
  const char *type = soulgw_json_string(soulgw_json_get(m->input_schema, "type"));
  m->schema_object = soulgw_json_size(m->input_schema) == 1 && type && !strcmp(type, "object");
  m->output_trivial = soulgw_json_size(m->output_schema) == 0;
  if (!strcmp(m->handler, "builtin:echo")) m->kind = SG_TOOL_ECHO;
  else if (!strncmp(m->handler, "http://", 7) || !strncmp(m->handler, "https://", 8))
    m->kind = SG_TOOL_HTTP;
  else m->kind = SG_TOOL_HOST;
  m->timeout_ms = limit(limits, "timeout_ms");
  m->max_bytes_in = limit(limits, "max_bytes_in");
  m->max_bytes_out = limit(limits, "max_bytes_out");
  m->max_concurrency = limit(limits, "max_concurrency");
  atomic_init(running, 0);
  m->running = running;
  write_texts(m);
}

/* Manifests of other tenants are refused: a version belongs to one tenant. */
int sg_toolset_build(const char *tenant, const soulgw_json *version, unsigned flags,
                     sg_toolset **out, char *err, size_t errlen) {
  const char *name = soulgw_json_string(soulgw_json_get(version, "version"));
  sg_toolset *s = calloc(1, sizeof *s);
  int rc = SOULGW_ENOMEM;
  *out = NULL;
  if (!s) goto fail;
  atomic_init(&s->refs, 1);
  rc = sg_manifests_normalize_opts(soulgw_json_get(version, "manifests"), "manifests", flags,
                                   &s->manifests, err, errlen);
  if (rc) goto fail;
  rc = SOULGW_ENOMEM;
  s->n = soulgw_json_size(s->manifests);
  size_t slots = 8;
  while (slots < 2 * s->n) slots *= 2;
  s->mask = slots - 1;
  s->version = sg_strdup(name ? name : "");
  s->m = calloc(s->n ? s->n : 1, sizeof *s->m);
  s->running = calloc(s->n ? s->n : 1, sizeof *s->running);
  s->index = calloc(slots, sizeof *s->index);
  if (!s->version || !s->m || !s->running || !s->index) goto fail;
  size_t i = 0;
  for (const soulgw_json *j = soulgw_json_first(s->manifests); j; j = soulgw_json_next(j), i++) {
    describe(&s->m[i], j, &s->running[i]);
    if (strcmp(s->m[i].tenant, tenant) != 0) {
      snprintf(err, errlen, "manifests[%zu].tenant: %.128s is not the version's tenant %.128s", i,
               s->m[i].tenant, tenant);
      rc = SOULGW_EINVAL;
      goto fail;
    }
    size_t k = hash_str(s->m[i].id) & s->mask;
    while (s->index[k]) k = (k + 1) & s->mask;
    s->index[k] = (uint32_t)i + 1; /* ids are unique: sg_manifests_normalize checked */
  }
  *out = s;
  return 0;
fail:
  if (rc == SOULGW_ENOMEM) snprintf(err, errlen, "out of memory");
  sg_toolset_release(s);
  return rc;
}

static const sg_manifest *toolset_find(const sg_toolset *s, const char *id) {
  for (size_t k = hash_str(id) & s->mask; s->index[k]; k = (k + 1) & s->mask) {
    const sg_manifest *m = &s->m[s->index[k] - 1];
    if (!strcmp(m->id, id)) return m;
  }
  return NULL;
}

/* ------------------------------------------------------------------------------------------ */
/* The tenant table */

sg_registry *sg_registry_new(void) {
  sg_registry *r = calloc(1, sizeof *r);
  if (r) pthread_mutex_init(&r->lock, NULL);
  return r;
}

void sg_registry_free(sg_registry *r) {
  if (!r) return;
  for (size_t i = 0; i < r->nslots; i++) {
    free(r->slots[i].tenant);
    sg_toolset_release(r->slots[i].set);
  }
  free(r->slots);
  pthread_mutex_destroy(&r->lock);
  free(r);
}

/* The tenant's slot, or NULL.  Lock held. */
static tenant_slot *slot_find(sg_registry *r, const char *tenant, uint64_t h) {
  if (!r->nslots) return NULL;
  for (size_t k = h & (r->nslots - 1); r->slots[k].tenant; k = (k + 1) & (r->nslots - 1))
    if (r->slots[k].hash == h && !strcmp(r->slots[k].tenant, tenant)) return &r->slots[k];
  return NULL;
}

/* The tenant's slot, added when missing.  Lock held.  NULL when out of memory. */
static tenant_slot *slot_get(sg_registry *r, const char *tenant, uint64_t h) {
  tenant_slot *s = slot_find(r, tenant, h);
  if (s) return s;
  if (2 * (r->ntenants + 1) > r->nslots) {
    size_t n = r->nslots ? 2 * r->nslots : 16;
    tenant_slot *grown = calloc(n, sizeof *grown);
    if (!grown) return NULL;
    for (size_t i = 0; i < r->nslots; i++) {
      if (!r->slots[i].tenant) continue;
      size_t k = r->slots[i].hash & (n - 1);
      while (grown[k].tenant) k = (k + 1) & (n - 1);
      grown[k] = r->slots[i];
    }
    free(r->slots);
    r->slots = grown;
    r->nslots = n;
  }
  size_t k = h & (r->nslots - 1);
  while (r->slots[k].tenant) k = (k + 1) & (r->nslots - 1);
  if (!(r->slots[k].tenant = sg_strdup(tenant))) return NULL;
  r->slots[k].hash = h;
  r->slots[k].set = NULL;
  r->ntenants++;
  return &r->slots[k];
}

int sg_registry_install(sg_registry *r, const char *tenant, const soulgw_json *version,
                        char *err, size_t errlen) {
  sg_toolset *set;
  int rc = sg_toolset_build(tenant, version, SG_MANIFESTS_STORED, &set, err, errlen);
  if (!rc && (rc = sg_registry_put(r, tenant, set))) snprintf(err, errlen, "out of memory");
  return rc;
}

int sg_registry_put(sg_registry *r, const char *tenant, sg_toolset *set) {
  uint64_t h = hash_str(tenant);
  pthread_mutex_lock(&r->lock);
  tenant_slot *s = slot_get(r, tenant, h);
  sg_toolset *old = NULL;
  if (s) {
    old = s->set;
    s->set = set;
  }
  pthread_mutex_unlock(&r->lock);
  if (!s) {
    sg_toolset_release(set);
    return SOULGW_ENOMEM;
  }
  sg_toolset_release(old);
  return 0;
}

sg_toolset *sg_registry_tenant(sg_registry *r, const char *tenant) {
  uint64_t h = hash_str(tenant);
  pthread_mutex_lock(&r->lock);
  tenant_slot *s = slot_find(r, tenant, h);
  sg_toolset *set = s ? s->set : NULL;
  if (set) atomic_fetch_add_explicit(&set->refs, 1, memory_order_relaxed);
  pthread_mutex_unlock(&r->lock);
  return set;
}

const sg_manifest *sg_registry_find(sg_registry *r, const char *tenant, const char *tool_id,
                                    sg_toolset **ref) {
  sg_toolset *set = sg_registry_tenant(r, tenant);
  const sg_manifest *m = set ? toolset_find(set, tool_id) : NULL;
  if (!m) {
    sg_toolset_release(set);
    set = NULL;
  }
  *ref = set;
  return m;
}

/* ------------------------------------------------------------------------------------------ */
/* Loading at start */

/* Reads and validates the manifests file into *out (normalized). */
static int read_manifests(const char *path, soulgw_json **out, char *err, size_t errlen) {
  char msg[512];
  soulgw_json *doc = NULL;
  sg_buf b;
  int rc = SOULGW_ECONFIG;
  *out = NULL;
  sg_buf_init(&b, MANIFESTS_FILE_MAX);
  FILE *f = fopen(path, "rb");
  if (!f) {
    snprintf(err, errlen, "%s: cannot open the tool manifests ([tools] manifests_file): %s", path,
             strerror(errno));
    goto out;
  }
  char chunk[8192];
  size_t n;
  while ((n = fread(chunk, 1, sizeof chunk, f)) > 0 && !sg_buf_append(&b, chunk, n)) {
  }
  int rerr = ferror(f);
  fclose(f);
  if (rerr || sg_buf_failed(&b)) {
    snprintf(err, errlen, "%s: %s", path,
             rerr ? "read error" : "larger than 16 MiB, or out of memory");
    goto out;
  }
  if (soulgw_json_parse(b.ptr ? b.ptr : "", b.len, &doc, msg, sizeof msg)) {
    snprintf(err, errlen, "%s: not valid JSON: %s", path, msg);
    goto out;
  }
  rc = sg_manifests_normalize(doc, "manifests", out, msg, sizeof msg);
  if (rc == SOULGW_EINVAL) rc = SOULGW_ECONFIG;
  if (rc) snprintf(err, errlen, "%s: %s", path, rc == SOULGW_ENOMEM ? "out of memory" : msg);
out:
  soulgw_json_free(doc);
  sg_buf_free(&b);
  return rc;
}

/* Bootstraps every tenant named in the (normalized) manifests, in order of first mention. */
static int bootstrap(sg_store *st, const char *path, const soulgw_json *all, char *err,
                     size_t errlen) {
  int64_t now = sg_wall_ms();
  size_t i = 0;
  for (const soulgw_json *m = soulgw_json_first(all); m; m = soulgw_json_next(m), i++) {
    const char *tenant = soulgw_json_string(soulgw_json_get(m, "tenant"));
    int seen = 0;
    for (const soulgw_json *p = soulgw_json_first(all); p != m && !seen; p = soulgw_json_next(p))
      seen = !strcmp(soulgw_json_string(soulgw_json_get(p, "tenant")), tenant);
    if (seen) continue;
    soulgw_json *mine = soulgw_json_array();
    int rc = mine ? 0 : SOULGW_ENOMEM;
    for (const soulgw_json *p = m; p && !rc; p = soulgw_json_next(p))
      if (!strcmp(soulgw_json_string(soulgw_json_get(p, "tenant")), tenant))
        rc = soulgw_json_push(mine, soulgw_json_dup(p));
    sg_st r = rc ? SG_ST_UNAVAILABLE : sg_store_registry_bootstrap(st, tenant, mine, now);
    soulgw_json_free(mine);
    if (rc || r != SG_ST_OK) {
      snprintf(err, errlen, "%s: cannot store the bootstrap registry of tenant %.128s: %s", path,
               tenant, rc ? "out of memory" : "storage unavailable");
      return rc ? rc : SOULGW_ESTORE;
    }
  }
  return 0;
}

/* Builds a stored version for loading: as published today if it can, else as stored data, with
 * a warning saying what a publish would now refuse. */
static int build_stored(const char *tenant, const soulgw_json *version, sg_log *log,
                        sg_toolset **out, char *err, size_t errlen) {
  int rc = sg_toolset_build(tenant, version, 0, out, err, errlen);
  if (rc != SOULGW_EINVAL) return rc;
  char strict[512];
  snprintf(strict, sizeof strict, "%s", err);
  if ((rc = sg_toolset_build(tenant, version, SG_MANIFESTS_STORED, out, err, errlen))) return rc;
  sg_log(log, SOULGW_LOG_WARN,
         "a stored tool registry version has schemas a publish would now refuse; loaded as "
         "stored, and those keywords are not enforced",
         SG_S("tenant", tenant),
         SG_S("version", soulgw_json_string(soulgw_json_get(version, "version"))),
         SG_S("error", strict));
  return 0;
}

/* The tenant's newest version older than the one named bad (NULL: any) that builds, or NULL. */
static sg_toolset *last_good(sg_store *st, const char *tenant, const char *bad) {
  soulgw_json *all = NULL;
  if (sg_store_registry_versions(st, tenant, &all) != SG_ST_OK) return NULL;
  const soulgw_json *list = soulgw_json_get(all, "versions");
  size_t n = soulgw_json_size(list), end = n;
  const soulgw_json **v = calloc(n ? n : 1, sizeof *v);
  sg_toolset *set = NULL;
  size_t i = 0;
  for (const soulgw_json *e = soulgw_json_first(list); v && e; e = soulgw_json_next(e), i++) {
    v[i] = e;
    const char *name = soulgw_json_string(soulgw_json_get(e, "version"));
    if (bad && name && !strcmp(name, bad) && end == n) end = i;
  }
  char err[512];
  while (v && end-- > 0 && !set)
    if (sg_toolset_build(tenant, v[end], SG_MANIFESTS_STORED, &set, err, sizeof err)) set = NULL;
  free(v);
  soulgw_json_free(all);
  return set;
}

/* Loads one tenant's active registry, or its last good version.  Fails only when out of
 * memory. */
static int load_tenant(sg_registry *r, sg_store *st, const char *tenant, sg_log *log,
                       sg_family *failures) {
  soulgw_json *version = NULL;
  sg_toolset *set = NULL;
  char why[512];
  int rc = 0;
  sg_st s = sg_store_registry_active(st, tenant, &version);
  if (s == SG_ST_NOTFOUND) return 0;
  const char *name = soulgw_json_string(soulgw_json_get(version, "version"));
  if (s != SG_ST_OK) snprintf(why, sizeof why, "cannot read it from the store");
  else if ((rc = build_stored(tenant, version, log, &set, why, sizeof why)) == SOULGW_ENOMEM)
    goto out;
  if (!set) {
    sg_family_add(failures, NULL, 1);
    set = last_good(st, tenant, name);
    sg_log(log, SOULGW_LOG_ERROR,
           "the active tool registry of a tenant is invalid; serving its last good version",
           SG_S("tenant", tenant), SG_S("version", name ? name : "?"), SG_S("error", why),
           SG_S("serving", set ? sg_toolset_version(set) : "none"));
  }
  rc = set ? sg_registry_put(r, tenant, set) : 0;
out:
  soulgw_json_free(version);
  return rc;
}

/* ------------------------------------------------------------------------------------------ */
/* Reloading, when another gateway changed the store */

int sg_registry_reload(sg_registry *r, sg_store *st, const char *tenant, sg_log *log) {
  soulgw_json *version = NULL;
  sg_st s = sg_store_registry_active(st, tenant, &version);
  if (s == SG_ST_NOTFOUND) return 0;
  if (s != SG_ST_OK) {
    sg_log(log, SOULGW_LOG_WARN,
           "cannot reload the tool registry of a tenant from the store; serving the one in "
           "memory", SG_S("tenant", tenant));
    return SOULGW_ESTORE;
  }
  const char *name = soulgw_json_string(soulgw_json_get(version, "version"));
  sg_toolset *cur = sg_registry_tenant(r, tenant), *set = NULL;
  /* versions never change once stored: the one in memory already is this one */
  int same = cur && name && !strcmp(sg_toolset_version(cur), name);
  sg_toolset_release(cur);
  char why[512];
  int rc = same ? 0 : build_stored(tenant, version, log, &set, why, sizeof why);
  if (!same && !rc) rc = sg_registry_put(r, tenant, set); /* the swap an activation makes */
  else if (rc)
    sg_log(log, SOULGW_LOG_ERROR,
           "the active tool registry of a tenant is invalid; serving the one in memory",
           SG_S("tenant", tenant), SG_S("version", name ? name : "?"),
           SG_S("error", rc == SOULGW_ENOMEM ? "out of memory" : why));
  soulgw_json_free(version);
  return rc;
}

int sg_registry_reload_all(sg_registry *r, sg_store *st, sg_log *log) {
  soulgw_json *tenants = NULL;
  if (sg_store_registry_tenants(st, &tenants) != SG_ST_OK) {
    sg_log(log, SOULGW_LOG_WARN,
           "cannot list the tool registries in the store; serving the ones in memory");
    return SOULGW_ESTORE;
  }
  int rc = 0;
  for (const soulgw_json *t = soulgw_json_first(tenants); t; t = soulgw_json_next(t)) {
    const char *tenant = soulgw_json_string(t);
    int trc = tenant ? sg_registry_reload(r, st, tenant, log) : 0;
    if (!rc) rc = trc;
  }
  soulgw_json_free(tenants);
  return rc;
}

int sg_registry_check_file(const char *manifests_file, size_t *count, char *err, size_t errlen) {
  soulgw_json *all = NULL;
  int rc = read_manifests(manifests_file, &all, err, errlen);
  if (count) *count = rc ? 0 : soulgw_json_size(all);
  soulgw_json_free(all);
  return rc;
}

int sg_registry_load(sg_registry *r, sg_store *st, const char *manifests_file, sg_log *log,
                     sg_family *failures, char *err, size_t errlen) {
  soulgw_json *all = NULL, *tenants = NULL;
  int rc = 0;
  if (manifests_file && *manifests_file) {
    if ((rc = read_manifests(manifests_file, &all, err, errlen)) ||
        (rc = bootstrap(st, manifests_file, all, err, errlen)))
      goto out;
  }
  if (sg_store_registry_tenants(st, &tenants) != SG_ST_OK) {
    snprintf(err, errlen, "cannot read the tool registries from the store");
    rc = SOULGW_ESTORE;
    goto out;
  }
  for (const soulgw_json *t = soulgw_json_first(tenants); t && !rc; t = soulgw_json_next(t)) {
    const char *tenant = soulgw_json_string(t);
    if (tenant && (rc = load_tenant(r, st, tenant, log, failures)))
      snprintf(err, errlen, "out of memory loading the tool registry of tenant %.128s", tenant);
  }
out:
  soulgw_json_free(tenants);
  soulgw_json_free(all);
  return rc;
}
