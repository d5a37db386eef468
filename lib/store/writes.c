/*
 * writes.c -- the store's writes (store.h): each public write copies its arguments into a
 * queued write, on the caller's thread, and the writer runs its function in the write's
 * savepoint, on the writer connection, through the driver.  What a write decides (a version
 * that exists, a collaboration resolved or full, an id taken) is decided here, the same for
 * every engine.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/json.h"
#include "base/json_write.h"
#include "store/front.h"
#include "store/shape.h"

/* Compact JSON text of v, to free(). */
static char *json_text(const soulgw_json *v) { return v ? soulgw_json_print(v) : NULL; }

/* ------------------------------------------------------------------------------------------ */
/* Registry */

static sg_st reg_insert(sg_store *st, sg_conn *c, wop *w, const char *version, const char *text,
                        int64_t now) {
  int rc = c->drv->reg_insert(c, w->tenant, version, text, now);
  if (rc == SG_DRV_CONFLICT) FAIL(w, SG_ST_CONFLICT, "tool registry version already exists");
  if (rc) return sg_store_write_failed(st, w, "registry insert", rc, c);
  return SG_ST_OK;
}

static sg_st reg_set_active(sg_store *st, sg_conn *c, wop *w, const char *version) {
  int rc = c->drv->reg_set_active(c, w->tenant, version);
  return rc == 0 ? SG_ST_OK : sg_store_write_failed(st, w, "registry activate", rc, c);
}

/* Notes in the int ud that a row came. */
static int row_found(void *ud, const sg_row *row) {
  (void)row;
  *(int *)ud = 1;
  return SG_DRV_STOP;
}

static sg_st op_bootstrap(sg_store *st, sg_conn *c, wop *w) {
  int exists = 0;
  int rc = c->drv->reg_exists(c, w->tenant, "bootstrap", &exists);
  if (rc) return sg_store_write_failed(st, w, "registry", rc, c);
  if (exists) return SG_ST_OK;
  char *text = json_text(w->j1);
  if (!text) FAIL(w, SG_ST_UNAVAILABLE, "out of memory");
  sg_st r = reg_insert(st, c, w, "bootstrap", text, w->now);
  free(text);
  if (r != SG_ST_OK) return r;
  /* the first registry of a tenant becomes active; a later bootstrap never displaces one */
  int has_active = 0;
  if ((rc = c->drv->reg_active(c, w->tenant, row_found, &has_active)))
    return sg_store_write_failed(st, w, "registry", rc, c);
  return has_active ? SG_ST_OK : reg_set_active(st, c, w, "bootstrap");
}

sg_st sg_store_registry_bootstrap(sg_store *st, const char *tenant, const soulgw_json *manifests,
                                  int64_t now_ms) {
  int oom = 0;
  wop *w = sg_wop_new(NULL, NULL, op_bootstrap, tenant);
  if (w) {
    w->j1 = sg_wop_json(manifests, &oom);
    w->now = now_ms;
  }
  return sg_store_submit_wait(st, w, oom);
}

/* Runs w's check on version: 1 when it refused (w->msg says why). */
static int refused(wop *w, const soulgw_json *version) {
  if (!w->check || w->check(w->ud, version, w->msg, sizeof w->msg) == 0) return 0;
  if (!w->msg[0]) snprintf(w->msg, sizeof w->msg, "the tool registry version is invalid");
  return 1;
}

static sg_st op_publish(sg_store *st, sg_conn *c, wop *w) {
  int exists = 0;
  int rc = c->drv->reg_exists(c, w->tenant, w->s1, &exists);
  if (rc) return sg_store_write_failed(st, w, "registry", rc, c);
  if (exists) FAIL(w, SG_ST_CONFLICT, "tool registry version already exists");
  soulgw_json *base = NULL;
  if ((rc = sg_shape_active_manifests(c, w->tenant, &base)))
    return sg_store_write_failed(st, w, "registry", rc, c);
  soulgw_json *merged = sg_manifests_merge(base, w->j1);
  soulgw_json_free(base);
  /* checked (and built by the caller) before anything is written: a merge the gateway could
   * not load never becomes active */
  soulgw_json *o = sg_shape_version_new(w->s1, merged, w->now);
  if (!o) FAIL(w, SG_ST_UNAVAILABLE, "out of memory");
  if (refused(w, o)) {
    soulgw_json_free(o);
    return SG_ST_INVALID;
  }
  char *text = json_text(soulgw_json_get(o, "manifests"));
  if (!text) {
    soulgw_json_free(o);
    FAIL(w, SG_ST_UNAVAILABLE, "out of memory");
  }
  sg_st r = reg_insert(st, c, w, w->s1, text, w->now);
  free(text);
  if (r == SG_ST_OK) r = reg_set_active(st, c, w, w->s1);
  if (r != SG_ST_OK) {
    soulgw_json_free(o);
    return r;
  }
  w->result = o;
  return SG_ST_OK;
}

void sg_store_registry_publish(sg_store *st, const char *tenant, const char *version,
                               const soulgw_json *manifests, int64_t now_ms, sg_store_check check,
                               sg_store_done done, void *ud) {
  int oom = 0;
  wop *w = sg_wop_new(done, ud, op_publish, tenant);
  if (w) {
    w->s1 = sg_wop_strdup(w, version, &oom);
    w->j1 = sg_wop_json(manifests, &oom);
    w->now = now_ms;
    w->check = check;
  }
  sg_store_submit(st, w, oom, done, ud);
}

static sg_st op_activate(sg_store *st, sg_conn *c, wop *w) {
  soulgw_json *o = NULL;
  int rc = sg_shape_version(c, w->tenant, w->s1, &o);
  if (rc == SG_DRV_NOMEM) FAIL(w, SG_ST_UNAVAILABLE, "out of memory");
  if (rc) return sg_store_write_failed(st, w, "registry", rc, c);
  if (!o) FAIL(w, SG_ST_NOTFOUND, "tool registry version %.100s does not exist", w->s1);
  if (refused(w, o)) {
    soulgw_json_free(o);
    return SG_ST_INVALID;
  }
  w->result = o;
  return reg_set_active(st, c, w, w->s1);
}

void sg_store_registry_activate(sg_store *st, const char *tenant, const char *version,
                                sg_store_check check, sg_store_done done, void *ud) {
  int oom = 0;
  wop *w = sg_wop_new(done, ud, op_activate, tenant);
  if (w) {
    w->s1 = sg_wop_strdup(w, version, &oom);
    w->check = check;
  }
  sg_store_submit(st, w, oom, done, ud);
}

/* ------------------------------------------------------------------------------------------ */
/* Idempotency */

static sg_st op_idem_put(sg_store *st, sg_conn *c, wop *w) {
  char *input = json_text(w->j1);
  if (!input) return sg_store_write_failed(st, w, "idempotency", SG_DRV_NOMEM, c);
  int inserted = 0;
  int rc = c->drv->idem_insert(c, w->tenant, w->s1, w->s2, input, (int)w->n, w->s3, w->now,
                               &inserted);
  free(input);
  if (rc) return sg_store_write_failed(st, w, "idempotency insert", rc, c);
  rc = sg_shape_idem(c, w->tenant, w->s1, &w->result);
  if (rc && rc != SG_DRV_NOMEM) return sg_store_write_failed(st, w, "idempotency", rc, c);
  if (!w->result) FAIL(w, SG_ST_UNAVAILABLE, "out of memory");
  soulgw_json_set(w->result, "existing", soulgw_json_new_bool(!inserted));
  return SG_ST_OK;
}

void sg_store_idem_put(sg_store *st, const char *tenant, const char *key, const char *tool_id,
                       const soulgw_json *input, int status, const char *response,
                       int64_t now_ms, sg_store_done done, void *ud) {
  int oom = 0;
  wop *w = sg_wop_new(done, ud, op_idem_put, tenant);
  if (w) {
    w->s1 = sg_wop_strdup(w, key, &oom);
    w->s2 = sg_wop_strdup(w, tool_id, &oom);
    w->s3 = sg_wop_strdup(w, response, &oom);
    w->j1 = input ? sg_wop_json(input, &oom) : soulgw_json_null();
    w->n = status;
    w->now = now_ms;
  }
  sg_store_submit(st, w, oom, done, ud);
}

/* ------------------------------------------------------------------------------------------ */
/* Collaborations (shape.h says how one is stored) */

/* Writes the head h of (w->tenant, w->s1) and, when entry is not NULL, appends it as entry
 * number h->entries - 1 (h already counts it). */
static sg_st head_write(sg_store *st, sg_conn *c, wop *w, const sg_collab_head *h,
                        const char *entry) {
  int rc;
  if (entry && (rc = c->drv->timeline_append(c, w->tenant, w->s1, h->entries - 1, entry)))
    return sg_store_write_failed(st, w, "collab timeline insert", rc, c);
  sg_collab_row row = {h->status,     h->participants, h->context, h->resolution,
                       h->created_at, h->updated_at,   h->entries, h->tl_bytes};
  rc = c->drv->collab_put(c, w->tenant, w->s1, &row);
  return rc == 0 ? SG_ST_OK : sg_store_write_failed(st, w, "collab write", rc, c);
}

/* Writes h (and entry) and answers with its snapshot. */
static sg_st head_commit(sg_store *st, sg_conn *c, wop *w, const sg_collab_head *h,
                         const char *entry) {
  sg_st r = head_write(st, c, w, h, entry);
  if (r != SG_ST_OK) return r;
  int rc;
  w->result = sg_shape_snapshot(c, w->tenant, w->s1, h, w->lim.window, &rc);
  if (w->result) return SG_ST_OK;
  if (rc == SG_DRV_UNREADABLE) return sg_store_unreadable(st, w->tenant, w->s1, w->msg, sizeof w->msg);
  return sg_store_write_failed(st, w, "collab timeline read", rc, c);
}

/* Replaces *field by v (taken); 0, or -1 when v is NULL. */
static int take(char **field, char *v) {
  if (!v) return -1;
  free(*field);
  *field = v;
  return 0;
}

/* The refusals of an execute that come before anything is computed. */
static sg_st execute_refused(sg_store *st, wop *w, const sg_collab_head *h) {
  if (!h->found) return SG_ST_OK;
  if (strcmp(h->status, "unreadable") == 0)
    return sg_store_unreadable(st, w->tenant, w->s1, w->msg, sizeof w->msg);
  if (strcmp(h->status, "resolved") == 0)
    FAIL(w, SG_ST_CONFLICT, "collaboration %.100s is resolved", w->s1);
  if (h->entries >= w->lim.max_entries)
    FAIL(w, SG_ST_CONFLICT,
         "collaboration %.100s has %lld timeline entries; at most %lld ([collab] "
         "max_timeline_entries)",
         w->s1, (long long)h->entries, (long long)w->lim.max_entries);
  return SG_ST_OK;
}

/* w: s1 collab_id, s2 the entry's tail, s3 the context's text, j1 participants, j2 context. */
static sg_st op_collab_execute(sg_store *st, sg_conn *c, wop *w) {
  sg_collab_head h;
  int rc = sg_collab_head_read(c, w->tenant, w->s1, &h), oom = 0;
  if (rc) return sg_store_write_failed(st, w, "collab read", rc, c);
  sg_st r = execute_refused(st, w, &h);
  char *entry = NULL;
  if (r != SG_ST_OK) goto out;
  if (!h.found) {
    h.created_at = w->now;
    if (take(&h.status, sg_strdup("in_progress")) || take(&h.participants, sg_strdup("[]")) ||
        take(&h.context, sg_strdup("{}")) || take(&h.resolution, sg_strdup("null")))
      oom = 1;
  }
  if (!oom && soulgw_json_size(w->j1) &&
      take(&h.participants, sg_merge_participants(h.participants, w->j1, &oom)) && !oom)
    r = sg_store_unreadable(st, w->tenant, w->s1, w->msg, sizeof w->msg);
  if (r == SG_ST_OK && !oom && w->j2 &&
      take(&h.context, sg_merge_context(h.context, w->j2, w->s3, &oom)) && !oom)
    r = sg_store_unreadable(st, w->tenant, w->s1, w->msg, sizeof w->msg);
  if (r == SG_ST_OK && !oom && !(entry = sg_shape_entry(h.found ? "executed" : "created", w->s2)))
    oom = 1;
  if (r != SG_ST_OK || oom) goto out;
  int64_t entry_bytes = (int64_t)strlen(entry);
  int64_t total = (int64_t)(strlen(h.participants) + strlen(h.context) + strlen(h.resolution)) +
                  h.tl_bytes + entry_bytes;
  if (total > w->lim.max_bytes) {
    snprintf(w->msg, sizeof w->msg,
             "collaboration %.100s would hold %lld bytes; at most %lld ([collab] "
             "max_snapshot_bytes)",
             w->s1, (long long)total, (long long)w->lim.max_bytes);
    r = SG_ST_TOO_LARGE;
    goto out;
  }
  h.entries++;
  h.tl_bytes += entry_bytes;
  h.updated_at = w->now;
  r = head_commit(st, c, w, &h, entry);
out:
  if (oom && r == SG_ST_OK) {
    snprintf(w->msg, sizeof w->msg, "out of memory");
    r = SG_ST_UNAVAILABLE;
  }
  free(entry);
  sg_collab_head_clear(&h);
  return r;
}

static void collab_limits(wop *w, const sg_collab_limits *lim) {
  static const sg_collab_limits def = {SG_COLLAB_MAX_ENTRIES, SG_COLLAB_MAX_BYTES,
                                       SG_COLLAB_WINDOW};
  w->lim = lim ? *lim : def;
}

/* The tail of a timeline entry after its stage:
 * "note":<note>,"payload":<payload>,"timestamp_ms":<now>}, built by the caller. */
static const char *entry_tail(wop *w, const char *note, const char *payload, int *oom) {
  sg_buf b;
  sg_buf_init(&b, 0);
  sg_buf_puts(&b, "\"note\":");
  if (note) sg_json_write_string(&b, note);
  else sg_buf_puts(&b, "null");
  sg_buf_printf(&b, ",\"payload\":%s,\"timestamp_ms\":%lld}", payload ? payload : "null",
                (long long)w->now);
  const char *t = sg_buf_failed(&b) ? NULL : sg_arena_strndup(&w->arena, b.ptr, b.len);
  sg_buf_free(&b);
  if (!t) *oom = 1;
  return t;
}

/* Answers at once, on the caller's thread, for a value the store would not read back. */
static int too_deep(const soulgw_json *v, const char *name, sg_store_done done, void *ud) {
  if (!v || !sg_json_deeper_than(v, SG_STORE_JSON_DEPTH_MAX)) return 0;
  char msg[128];
  snprintf(msg, sizeof msg, "%s nests deeper than %d levels of arrays and objects", name,
           SG_STORE_JSON_DEPTH_MAX);
  done(ud, SG_ST_INVALID, NULL, msg);
  return 1;
}

void sg_store_collab_execute(sg_store *st, const char *tenant, const char *collab_id,
                             const soulgw_json *participants, const soulgw_json *context,
                             const char *note, const sg_collab_limits *lim, int64_t now_ms,
                             sg_store_done done, void *ud) {
  if (too_deep(context, "context", done, ud)) return;
  int oom = 0;
  wop *w = sg_wop_new(done, ud, op_collab_execute, tenant);
  if (w) {
    collab_limits(w, lim);
    w->now = now_ms;
    w->s1 = sg_wop_strdup(w, collab_id, &oom);
    w->s3 = sg_wop_text(w, context, &oom);
    w->s2 = entry_tail(w, note, w->s3, &oom);
    w->j1 = sg_wop_json(participants, &oom);
    w->j2 = sg_wop_json(context, &oom);
  }
  sg_store_submit(st, w, oom, done, ud);
}

/* w: s1 collab_id, s2 the entry's tail, s3 the resolution's text. */
static sg_st op_collab_resolve(sg_store *st, sg_conn *c, wop *w) {
  sg_collab_head h;
  int rc = sg_collab_head_read(c, w->tenant, w->s1, &h);
  if (rc) return sg_store_write_failed(st, w, "collab read", rc, c);
  sg_st r = SG_ST_OK;
  char *entry = NULL;
  if (!h.found) {
    snprintf(w->msg, sizeof w->msg, "collaboration %.100s does not exist", w->s1);
    r = SG_ST_NOTFOUND;
  } else if (strcmp(h.status, "unreadable") == 0) {
    r = sg_store_unreadable(st, w->tenant, w->s1, w->msg, sizeof w->msg);
  } else if (strcmp(h.status, "resolved") == 0) {
    snprintf(w->msg, sizeof w->msg, "collaboration %.100s is already resolved", w->s1);
    r = SG_ST_CONFLICT;
  } else if (!(entry = sg_shape_entry("resolved", w->s2)) || take(&h.status, sg_strdup("resolved")) ||
             take(&h.resolution, sg_strdup(w->s3))) {
    snprintf(w->msg, sizeof w->msg, "out of memory");
    r = SG_ST_UNAVAILABLE;
  } else {
    h.entries++;
    h.tl_bytes += (int64_t)strlen(entry);
    h.updated_at = w->now;
    r = head_commit(st, c, w, &h, entry);
  }
  free(entry);
  sg_collab_head_clear(&h);
  return r;
}

void sg_store_collab_resolve(sg_store *st, const char *tenant, const char *collab_id,
                             const soulgw_json *outcome, const char *note,
                             const sg_collab_limits *lim, int64_t now_ms, sg_store_done done,
                             void *ud) {
  if (too_deep(outcome, "outcome", done, ud)) return;
  int oom = 0;
  wop *w = sg_wop_new(done, ud, op_collab_resolve, tenant);
  if (w) {
    collab_limits(w, lim);
    w->now = now_ms;
    w->s1 = sg_wop_strdup(w, collab_id, &oom);
    const char *out = sg_wop_text(w, outcome, &oom);
    w->s2 = entry_tail(w, note, out, &oom);
    sg_buf b;
    sg_buf_init(&b, 0);
    sg_buf_printf(&b, "{\"outcome\":%s,\"note\":", out ? out : "null");
    if (note) sg_json_write_string(&b, note);
    else sg_buf_puts(&b, "null");
    sg_buf_printf(&b, ",\"resolved_at\":%lld}", (long long)now_ms);
    w->s3 = sg_buf_failed(&b) ? NULL : sg_arena_strndup(&w->arena, b.ptr, b.len);
    if (!w->s3) oom = 1;
    sg_buf_free(&b);
  }
  sg_store_submit(st, w, oom, done, ud);
}

/* ------------------------------------------------------------------------------------------ */
/* Repo and graph */

/* Counts the distinct (from, to, label) of a request's edges. */
static size_t distinct_edges(const sg_edge_in *e, size_t n, const char *record_id) {
  size_t cap = 16;
  while (cap < n * 2) cap <<= 1;
  size_t *slots = calloc(cap, sizeof *slots); /* index + 1, 0 empty */
  if (!slots) return n;
  size_t count = 0;
  for (size_t i = 0; i < n; i++) {
    const char *f = e[i].from ? e[i].from : record_id, *t = e[i].to;
    const char *l = e[i].label ? e[i].label : "related";
    uint64_t h = 1469598103934665603ull;
    for (const char *p = f; *p; p++) h = (h ^ (unsigned char)*p) * 1099511628211ull;
    h = (h ^ 0xff) * 1099511628211ull;
    for (const char *p = t; *p; p++) h = (h ^ (unsigned char)*p) * 1099511628211ull;
    h = (h ^ 0xfe) * 1099511628211ull;
    for (const char *p = l; *p; p++) h = (h ^ (unsigned char)*p) * 1099511628211ull;
    size_t j = (size_t)h & (cap - 1);
    int dup = 0;
    for (; slots[j]; j = (j + 1) & (cap - 1)) {
      const sg_edge_in *o = &e[slots[j] - 1];
      const char *of = o->from ? o->from : record_id, *ol = o->label ? o->label : "related";
      if (!strcmp(of, f) && !strcmp(o->to, t) && !strcmp(ol, l)) {
        dup = 1;
        break;
      }
    }
    if (!dup) {
      slots[j] = i + 1;
      count++;
    }
  }
  free(slots);
  return count;
}

/* The answer of append w, stored as id: the one its caller built (w->j1), with the record_id
 * set when it was generated; NULL when out of memory.  Built on the caller's thread, where the
 * answer is serialised and freed, so that the writer allocates one string for it instead of
 * the whole object (about 8% of the writer's instructions per append). */
static soulgw_json *appended(wop *w, const char *id) {
  soulgw_json *o = w->j1;
  w->j1 = NULL;
  if (o && !w->s2 && soulgw_json_set(o, "record_id", soulgw_json_new_string(id))) {
    soulgw_json_free(o);
    o = NULL;
  }
  return o;
}

/* op_repo_append in one statement, for a driver that has record_append. */
static sg_st repo_append_one(sg_store *st, sg_conn *c, wop *w) {
  sg_edge_text *e = sg_arena_alloc(&w->arena, (w->nedges ? w->nedges : 1) * sizeof *e);
  if (!e) return sg_store_write_failed(st, w, "record insert", SG_DRV_NOMEM, c);
  for (size_t i = 0; i < w->nedges; i++)
    e[i] = (sg_edge_text){w->edges[i].from, w->edges[i].to,
                          w->edges[i].label ? w->edges[i].label : "related", w->props[i]};
  char id[512];
  int rc = SG_DRV_FAILED;
  for (int tries = 0; tries < 1000; tries++) {
    rc = c->drv->record_append(c, w->tenant, w->s1, w->s2, w->s3, w->now, w->nedges, e, id,
                               sizeof id);
    if (!(rc == SG_DRV_CONFLICT && !w->s2)) break; /* a generated id already taken: next one */
  }
  if (rc == SG_DRV_CONFLICT)
    FAIL(w, SG_ST_CONFLICT, "record_id %.100s already exists", w->s2 ? w->s2 : "(generated)");
  if (rc) return sg_store_write_failed(st, w, "record insert", rc, c);
  w->result = appended(w, id);
  return w->result ? SG_ST_OK : SG_ST_UNAVAILABLE;
}

static sg_st op_repo_append(sg_store *st, sg_conn *c, wop *w) {
  if (c->drv->record_append) return repo_append_one(st, c, w);
  const char *data = w->s3; /* serialised by the caller */
  const char *record_id = w->s2;
  char genid[512];
  int rc = SG_DRV_FAILED;
  for (int tries = 0; tries < 1000; tries++) {
    if (!w->s2) {
      int64_t n;
      if ((rc = c->drv->seq_next(c, w->tenant, "record", &n))) break;
      snprintf(genid, sizeof genid, "%s::%lld", w->s1, (long long)n);
      record_id = genid;
    }
    rc = c->drv->record_insert(c, w->tenant, record_id, w->s1, data, w->now);
    if (!(rc == SG_DRV_CONFLICT && !w->s2)) break; /* a generated id already taken: next one */
  }
  if (rc == SG_DRV_CONFLICT) FAIL(w, SG_ST_CONFLICT, "record_id %.100s already exists", record_id);
  if (rc) return sg_store_write_failed(st, w, "record insert", rc, c);
  for (size_t i = 0; i < w->nedges; i++) {
    const sg_edge_in *e = &w->edges[i];
    rc = c->drv->edge_insert(c, w->tenant, e->from ? e->from : record_id, e->to,
                             e->label ? e->label : "related", w->props[i], w->now);
    if (rc) return sg_store_write_failed(st, w, "edge insert", rc, c);
  }
  /* distinct edges: counted by the caller, except that "from" defaulting to a generated id is
   * only known here, and such edges are distinct from each other by their other fields */
  w->result = appended(w, record_id);
  return w->result ? SG_ST_OK : SG_ST_UNAVAILABLE;
}

#define APPEND_RUN_MAX 256

/* The outcome of append w that record_append_many() gave in a (its savepoint open, unless it
 * failed).  0, or an error that fails the batch. */
static int append_outcome(sg_store *st, sg_conn *c, wop *w, const sg_append *a) {
  const sg_store_driver *d = c->drv;
  if (a->rc == SG_DRV_CONFLICT && !w->s2) { /* a generated id already taken: on its own */
    int rc = d->savepoint(c);
    if (rc) return rc;
    w->st = repo_append_one(st, c, w);
    if (w->st == SG_ST_OK) return d->release(c);
    soulgw_json_free(w->result);
    w->result = NULL;
    if (w->st == SG_ST_UNAVAILABLE && d->fatal(c, w->rc)) return w->rc ? w->rc : SG_DRV_FAILED;
    return d->rollback_to(c) ? SG_DRV_FAILED : d->release(c);
  }
  if (a->rc == SG_DRV_CONFLICT) {
    snprintf(w->msg, sizeof w->msg, "record_id %.100s already exists", w->s2);
    w->st = SG_ST_CONFLICT;
  } else if (a->rc) {
    w->st = sg_store_write_failed(st, w, "record insert", a->rc, c);
    if (d->fatal(c, a->rc)) return a->rc;
  } else {
    w->result = appended(w, a->id);
    w->st = w->result ? SG_ST_OK : SG_ST_UNAVAILABLE;
  }
  return 0;
}

/* The run_many of appends (front.h), for a driver with record_append_many. */
static int append_run(sg_store *st, sg_conn *c, wop *first, wop **last) {
  size_t n = 0;
  *last = first;
  for (wop *w = first; w && w->run_many == append_run && n < APPEND_RUN_MAX; w = w->next) {
    *last = w;
    n++;
  }
  if (n > st->nappends) { /* kept for the next run: a batch's array is tens of KiB */
    sg_append *grown = realloc(st->appends, APPEND_RUN_MAX * sizeof *grown);
    if (!grown) return SG_DRV_NOMEM;
    st->appends = grown;
    st->nappends = APPEND_RUN_MAX;
  }
  sg_append *a = st->appends;
  int rc = 0;
  size_t i = 0;
  for (wop *w = first; i < n && !rc; w = w->next, i++) {
    sg_edge_text *e = sg_arena_alloc(&w->arena, (w->nedges ? w->nedges : 1) * sizeof *e);
    if (!e) rc = SG_DRV_NOMEM;
    for (size_t k = 0; e && k < w->nedges; k++)
      e[k] = (sg_edge_text){w->edges[k].from, w->edges[k].to,
                            w->edges[k].label ? w->edges[k].label : "related", w->props[k]};
    /* member by member: a compound literal would clear all 512 bytes of id, each time */
    sg_append *p = &a[i];
    p->tenant = w->tenant;
    p->repo = w->s1;
    p->record_id = w->s2;
    p->data = w->s3;
    p->stored_at = w->now;
    p->nedges = w->nedges;
    p->edges = e;
    p->rc = 0;
    p->id[0] = '\0';
  }
  if (!rc && (rc = c->drv->record_append_many(c, a, n)))
    sg_store_count_error(st, "record insert", rc, c);
  i = 0;
  for (wop *w = first; i < n && !rc; w = w->next, i++) rc = append_outcome(st, c, w, &a[i]);
  return rc;
}

void sg_store_repo_append(sg_store *st, const char *tenant, const char *repo,
                          const char *record_id, const soulgw_json *data, const sg_edge_in *edges,
                          size_t nedges, int64_t now_ms, sg_store_done done, void *ud) {
  int oom = 0;
  wop *w = sg_wop_new(done, ud, op_repo_append, tenant);
  if (w) {
    w->run_many = append_run;
    w->s1 = sg_wop_strdup(w, repo, &oom);
    w->s2 = sg_wop_strdup(w, record_id, &oom);
    w->s3 = sg_wop_text(w, data, &oom);
    w->now = now_ms;
    w->nedges = nedges;
    w->n = (int64_t)distinct_edges(edges, nedges, record_id ? record_id : "\x01generated");
    if (!(w->j1 = sg_shape_appended(tenant, repo, record_id, now_ms, w->n))) oom = 1;
    if (nedges) {
      w->edges = sg_arena_alloc(&w->arena, nedges * sizeof *w->edges);
      w->props = sg_arena_calloc(&w->arena, nedges * sizeof *w->props);
      if (!w->edges || !w->props) oom = 1;
      for (size_t i = 0; !oom && i < nedges; i++) {
        sg_edge_in *e = &w->edges[i];
        e->from = sg_wop_strdup(w, edges[i].from, &oom);
        e->to = sg_wop_strdup(w, edges[i].to, &oom);
        e->label = sg_wop_strdup(w, edges[i].label, &oom);
        e->props = NULL;
        if (edges[i].props && soulgw_json_typeof(edges[i].props) != SOULGW_JSON_NULL)
          w->props[i] = sg_wop_text(w, edges[i].props, &oom);
      }
    }
  }
  sg_store_submit(st, w, oom, done, ud);
}

/* ------------------------------------------------------------------------------------------ */
/* Observe */

static sg_st op_observe_emit(sg_store *st, sg_conn *c, wop *w) {
  int64_t n;
  int rc = c->drv->seq_next(c, w->tenant, "observe", &n);
  if (rc) return sg_store_write_failed(st, w, "observe sequence", rc, c);
  rc = c->drv->event_insert(c, w->tenant, n, w->s1, w->s2, w->s4, w->s3, w->now);
  if (rc) return sg_store_write_failed(st, w, "observe insert", rc, c);
  w->result = sg_shape_emitted(w->tenant, w->s1, n, w->now);
  return w->result ? SG_ST_OK : SG_ST_UNAVAILABLE;
}

void sg_store_observe_emit(sg_store *st, const char *tenant, const char *topic,
                           const char *severity, const soulgw_json *event, const char *trace_id,
                           int64_t now_ms, sg_store_done done, void *ud) {
  int oom = 0;
  wop *w = sg_wop_new(done, ud, op_observe_emit, tenant);
  if (w) {
    w->s1 = sg_wop_strdup(w, topic, &oom);
    w->s2 = sg_wop_strdup(w, severity ? severity : "info", &oom);
    w->s3 = sg_wop_strdup(w, trace_id, &oom);
    w->s4 = sg_wop_text(w, event, &oom);
    w->now = now_ms;
  }
  sg_store_submit(st, w, oom, done, ud);
}


/* ------------------------------------------------------------------------------------------ */
/* HMAC nonces */

int sg_store_has_nonces(const sg_store *st) { return st && st->drv->nonce_claim != NULL; }

static sg_st op_nonce(sg_store *st, sg_conn *c, wop *w) {
  /* the writer runs one write at a time: a plain static is enough for "once a minute" */
  static int64_t purged_at;
  int purge = w->now - purged_at >= 60000;
  if (purge) purged_at = w->now;
  int rc = c->drv->nonce_claim(c, w->s1, w->n, w->now, purge);
  if (rc == SG_DRV_CONFLICT) FAIL(w, SG_ST_CONFLICT, "nonce already used");
  if (rc) return sg_store_write_failed(st, w, "nonce claim", rc, c);
  return SG_ST_OK;
}

sg_st sg_store_nonce_claim(sg_store *st, const char *key, int64_t expires_ms, int64_t now_ms) {
  if (!sg_store_has_nonces(st)) return SG_ST_UNAVAILABLE;
  int oom = 0;
  wop *w = sg_wop_new(NULL, NULL, op_nonce, "");
  if (w) {
    w->s1 = sg_wop_strdup(w, key, &oom);
    w->n = expires_ms;
    w->now = now_ms;
  }
  return sg_store_submit_wait(st, w, oom);
}
