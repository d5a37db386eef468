/*
 * shape.c -- the engine-independent parts of the store (shape.h): the JSON answers built from
 * a driver's rows, the merges, and the graph walk's breadth-first logic and budget.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/json.h"
#include "base/sg.h"
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

/* ------------------------------------------------------------------------------------------ */
/* Columns */

/* Column i of a row as text, "" for SQL NULL. */
static const char *col_text(const sg_row *r, int i) {
  const char *t = sg_row_text(r, i);
  return t ? t : "";
}

/* Column i of a row, JSON text the store wrote, parsed; SQL NULL or unparseable -> JSON
 * null. */
static soulgw_json *col_json(const sg_row *r, int i) {
  size_t len = 0;
  const char *t = sg_row_textn(r, i, &len);
  soulgw_json *v = NULL;
  if (!t || soulgw_json_parse(t, len, &v, NULL, 0) != 0) return soulgw_json_null();
  return v;
}

/* One row read into a JSON value by a row function; found 1 once a row came. */
typedef struct one {
  soulgw_json *v;
  int found;
} one;

/* The value of a one-row read: 0 and *out (NULL when no row came), or the error. */
static int one_result(int rc, one *o, soulgw_json **out) {
  if (!rc && o->found && !o->v) rc = SG_DRV_NOMEM;
  if (rc) {
    soulgw_json_free(o->v);
    o->v = NULL;
  }
  *out = o->v;
  return rc;
}

/* ------------------------------------------------------------------------------------------ */
/* Registry versions */

/* A version object from a row (version, manifests, created_at_ms). */
static soulgw_json *version_object(const sg_row *row, int active) {
  soulgw_json *o = soulgw_json_object();
  soulgw_json_set(o, "version", soulgw_json_new_string(col_text(row, 0)));
  soulgw_json_set(o, "manifests", col_json(row, 1));
  soulgw_json_set(o, "created_at_ms", sg_json_new_int(sg_row_int(row, 2)));
  soulgw_json_set(o, "active", soulgw_json_new_bool(active));
  return o;
}

soulgw_json *sg_shape_version_new(const char *version, soulgw_json *manifests, int64_t now) {
  soulgw_json *o = soulgw_json_object();
  int failed = 0; /* every set takes its value, even after a failure */
  failed |= soulgw_json_set(o, "version", soulgw_json_new_string(version));
  failed |= soulgw_json_set(o, "manifests", manifests);
  failed |= soulgw_json_set(o, "created_at_ms", sg_json_new_int(now));
  failed |= soulgw_json_set(o, "active", soulgw_json_new_bool(1));
  if (failed) soulgw_json_free(o);
  return failed ? NULL : o;
}

static int row_version(void *ud, const sg_row *row) {
  one *o = ud;
  o->found = 1;
  o->v = version_object(row, 1);
  return SG_DRV_STOP;
}

int sg_shape_version(sg_conn *c, const char *tenant, const char *version, soulgw_json **out) {
  one o = {NULL, 0};
  int rc = version ? c->drv->reg_get(c, tenant, version, row_version, &o)
                   : c->drv->reg_active(c, tenant, row_version, &o);
  return one_result(rc, &o, out);
}

static int row_manifests(void *ud, const sg_row *row) {
  *(soulgw_json **)ud = col_json(row, 1);
  return SG_DRV_STOP;
}

int sg_shape_active_manifests(sg_conn *c, const char *tenant, soulgw_json **out) {
  *out = NULL;
  int rc = c->drv->reg_active(c, tenant, row_manifests, out);
  if (rc) {
    soulgw_json_free(*out);
    *out = NULL;
  }
  return rc;
}

/* Appends a row (version, manifests, created_at_ms, active) to the array ud. */
static int row_push_version(void *ud, const sg_row *row) {
  soulgw_json_push(ud, version_object(row, (int)sg_row_int(row, 3)));
  return 0;
}

int sg_shape_versions(sg_conn *c, const char *tenant, soulgw_json **out) {
  *out = NULL;
  soulgw_json *list = soulgw_json_array();
  int rc = c->drv->reg_versions(c, tenant, row_push_version, list);
  if (rc) {
    soulgw_json_free(list);
    return rc;
  }
  soulgw_json *o = soulgw_json_object();
  soulgw_json_set(o, "versions", list);
  *out = o;
  return 0;
}

/* Appends a row's first column, a string, to the array ud. */
static int row_push_string(void *ud, const sg_row *row) {
  soulgw_json_push(ud, soulgw_json_new_string(col_text(row, 0)));
  return 0;
}

int sg_shape_tenants(sg_conn *c, soulgw_json **out) {
  *out = NULL;
  soulgw_json *arr = soulgw_json_array();
  int rc = c->drv->reg_tenants(c, row_push_string, arr);
  if (rc) soulgw_json_free(arr);
  else *out = arr;
  return rc;
}

/* ------------------------------------------------------------------------------------------ */
/* Idempotency records */

/* An idempotency record from a row (tool_id, input, status, response). */
static int row_idem(void *ud, const sg_row *row) {
  one *o = ud;
  o->found = 1;
  o->v = soulgw_json_object();
  soulgw_json_set(o->v, "tool_id", soulgw_json_new_string(col_text(row, 0)));
  soulgw_json_set(o->v, "input", col_json(row, 1));
  soulgw_json_set(o->v, "status", sg_json_new_int(sg_row_int(row, 2)));
  soulgw_json_set(o->v, "response", soulgw_json_new_string(col_text(row, 3)));
  return SG_DRV_STOP;
}

int sg_shape_idem(sg_conn *c, const char *tenant, const char *key, soulgw_json **out) {
  one o = {NULL, 0};
  return one_result(c->drv->idem_get(c, tenant, key, row_idem, &o), &o, out);
}

/* ------------------------------------------------------------------------------------------ */
/* Repo records */

static soulgw_json *record_object(const char *tenant, const char *repo, const char *record_id,
                                  soulgw_json *data, int64_t stored_at) {
  soulgw_json *o = soulgw_json_object();
  soulgw_json_set(o, "tenant", soulgw_json_new_string(tenant));
  soulgw_json_set(o, "repo", soulgw_json_new_string(repo));
  soulgw_json_set(o, "record_id", record_id ? soulgw_json_new_string(record_id) : soulgw_json_null());
  soulgw_json_set(o, "data", data);
  soulgw_json_set(o, "stored_at", sg_json_new_int(stored_at));
  return o;
}

/* A record being read: its tenant and id, and the answer. */
typedef struct rec_read {
  const char *tenant, *record_id;
  one o;
} rec_read;

/* A record from a row (repo, data, stored_at). */
static int row_record(void *ud, const sg_row *row) {
  rec_read *r = ud;
  r->o.found = 1;
  r->o.v = record_object(r->tenant, col_text(row, 0), r->record_id, col_json(row, 1), sg_row_int(row, 2));
  return SG_DRV_STOP;
}

int sg_shape_record(sg_conn *c, const char *tenant, const char *record_id, soulgw_json **out) {
  rec_read r = {tenant, record_id, {NULL, 0}};
  return one_result(c->drv->record_get(c, tenant, record_id, row_record, &r), &r.o, out);
}

/* A page of records being read. */
typedef struct rec_page {
  const char *tenant, *repo;
  soulgw_json *records;
  char *last, *next; /* the id of the last record answered; of the last of a full page */
  int limit, n;
} rec_page;

/* Appends a row (record_id, data, stored_at) to the page, or notes that more follow. */
static int row_page(void *ud, const sg_row *row) {
  rec_page *p = ud;
  if (p->n++ == p->limit) {
    p->next = p->last;
    p->last = NULL;
    return SG_DRV_STOP;
  }
  free(p->last);
  p->last = sg_strdup(col_text(row, 0));
  soulgw_json_push(p->records, record_object(p->tenant, p->repo, col_text(row, 0),
                                             col_json(row, 1), sg_row_int(row, 2)));
  return 0;
}

int sg_shape_records(sg_conn *c, const char *tenant, const char *repo, int64_t after, int limit,
                     soulgw_json **out) {
  *out = NULL;
  rec_page p = {tenant, repo, soulgw_json_array(), NULL, NULL, limit, 0};
  int rc = c->drv->record_list(c, tenant, repo, after, limit + 1, row_page, &p);
  free(p.last);
  if (rc) {
    free(p.next);
    soulgw_json_free(p.records);
    return rc;
  }
  soulgw_json *o = soulgw_json_object();
  soulgw_json_set(o, "records", p.records);
  soulgw_json_set(o, "next", p.next ? soulgw_json_new_string(p.next) : soulgw_json_null());
  free(p.next);
  *out = o;
  return 0;
}

soulgw_json *sg_shape_appended(const char *tenant, const char *repo, const char *record_id,
                               int64_t stored_at, int64_t edges) {
  soulgw_json *o = soulgw_json_object();
  soulgw_json_set(o, "tenant", soulgw_json_new_string(tenant));
  soulgw_json_set(o, "repo", soulgw_json_new_string(repo));
  soulgw_json_set(o, "record_id", record_id ? soulgw_json_new_string(record_id) : soulgw_json_null());
  soulgw_json_set(o, "stored_at", sg_json_new_int(stored_at));
  soulgw_json_set(o, "edges", sg_json_new_int(edges));
  return o;
}

/* ------------------------------------------------------------------------------------------ */
/* Observe events */

/* Appends an event row (seq, topic, severity, event, trace_id, ingested_at) to the array ud. */
static int row_event(void *ud, const sg_row *row) {
  const char *t;
  char id[32];
  snprintf(id, sizeof id, "obs-%lld", (long long)sg_row_int(row, 0));
  soulgw_json *e = soulgw_json_object();
  soulgw_json_set(e, "event_id", soulgw_json_new_string(id));
  soulgw_json_set(e, "topic", soulgw_json_new_string(col_text(row, 1)));
  soulgw_json_set(e, "severity", soulgw_json_new_string(col_text(row, 2)));
  soulgw_json_set(e, "event", col_json(row, 3));
  soulgw_json_set(e, "trace_id",
                  (t = sg_row_text(row, 4)) ? soulgw_json_new_string(t) : soulgw_json_null());
  soulgw_json_set(e, "ingested_at", sg_json_new_int(sg_row_int(row, 5)));
  soulgw_json_push(ud, e);
  return 0;
}

int sg_shape_events(sg_conn *c, const char *tenant, const char *topic, int64_t since,
                    const char *severity, int limit, soulgw_json **out) {
  *out = NULL;
  soulgw_json *events = soulgw_json_array();
  int rc = c->drv->event_query(c, tenant, topic, since, severity, limit, row_event, events);
  if (rc) {
    soulgw_json_free(events);
    return rc;
  }
  soulgw_json *o = soulgw_json_object();
  soulgw_json_set(o, "events", events);
  *out = o;
  return 0;
}

soulgw_json *sg_shape_emitted(const char *tenant, const char *topic, int64_t seq,
                              int64_t ingested_at) {
  char id[32];
  snprintf(id, sizeof id, "obs-%lld", (long long)seq);
  soulgw_json *o = soulgw_json_object();
  soulgw_json_set(o, "tenant", soulgw_json_new_string(tenant));
  soulgw_json_set(o, "topic", soulgw_json_new_string(topic));
  soulgw_json_set(o, "event_id", soulgw_json_new_string(id));
  soulgw_json_set(o, "ingested_at", sg_json_new_int(ingested_at));
  return o;
}

/* ------------------------------------------------------------------------------------------ */
/* Collaborations */

void sg_collab_head_clear(sg_collab_head *h) {
  free(h->status);
  free(h->participants);
  free(h->context);
  free(h->resolution);
  memset(h, 0, sizeof *h);
}

/* Copies a head row (status, participants, context, resolution, created_at, updated_at,
 * entries, timeline_bytes) into the sg_collab_head ud. */
static int row_head(void *ud, const sg_row *row) {
  sg_collab_head *h = ud;
  h->found = 1;
  h->status = sg_strdup(col_text(row, 0));
  h->participants = sg_strdup(col_text(row, 1));
  h->context = sg_strdup(col_text(row, 2));
  h->resolution = sg_strdup(col_text(row, 3));
  h->created_at = sg_row_int(row, 4);
  h->updated_at = sg_row_int(row, 5);
  h->entries = sg_row_int(row, 6);
  h->tl_bytes = sg_row_int(row, 7);
  return h->status && h->participants && h->context && h->resolution ? SG_DRV_STOP
                                                                     : SG_DRV_NOMEM;
}

int sg_collab_head_read(sg_conn *c, const char *tenant, const char *id, sg_collab_head *h) {
  memset(h, 0, sizeof *h);
  int rc = c->drv->collab_get(c, tenant, id, row_head, h);
  if (rc) sg_collab_head_clear(h);
  return rc;
}

/* A page of timeline entries being read. */
typedef struct tl_page {
  soulgw_json *arr;
  int64_t *last;
  int *more;
  int limit, n;
  sg_buf b;
} tl_page;

/* Appends a timeline row (seq, entry) to the page, with its "seq" first. */
static int row_entry(void *ud, const sg_row *row) {
  tl_page *p = ud;
  if (p->n++ == p->limit) { /* the one row more than asked */
    *p->more = 1;
    return SG_DRV_STOP;
  }
  int64_t seq = sg_row_int(row, 0);
  const char *e = col_text(row, 1);
  if (e[0] != '{') return SG_DRV_UNREADABLE;
  /* {"seq":<seq>, then the entry after its "{" (no printf: the entry may be long) */
  char num[32];
  int n = snprintf(num, sizeof num, "{\"seq\":%lld%s", (long long)seq, e[1] == '}' ? "" : ",");
  size_t len = strlen(e + 1);
  sg_buf_reset(&p->b);
  sg_buf_reserve(&p->b, (size_t)n + len);
  sg_buf_append(&p->b, num, (size_t)n);
  sg_buf_append(&p->b, e + 1, len);
  if (sg_buf_failed(&p->b) || soulgw_json_push(p->arr, sg_json_new_raw(p->b.ptr)))
    return SG_DRV_NOMEM;
  *p->last = seq;
  return 0;
}

/* Appends to arr the timeline entries of (tenant, id) with seq > after, at most limit, each
 * with its "seq" first; *last gets the seq of the last one, and *more (when not NULL) 1 when
 * more entries follow.  0, the error, or SG_DRV_UNREADABLE for an entry that is not an
 * object. */
static int timeline_rows(sg_conn *c, const char *tenant, const char *id, int64_t after,
                         int limit, soulgw_json *arr, int64_t *last, int *more) {
  tl_page p = {arr, last, more, limit, 0, {0}};
  sg_buf_init(&p.b, 0);
  int rc = c->drv->timeline_range(c, tenant, id, after, more ? limit + 1 : limit, row_entry, &p);
  sg_buf_free(&p.b);
  return rc;
}

soulgw_json *sg_shape_snapshot(sg_conn *c, const char *tenant, const char *id,
                               const sg_collab_head *h, int window, int *err) {
  soulgw_json *o = soulgw_json_object(), *tl = soulgw_json_array();
  int64_t last = -1;
  *err = window > 0
             ? timeline_rows(c, tenant, id, h->entries - window - 1, window, tl, &last, NULL)
             : 0;
  int bad = !o || !tl || *err;
  bad |= soulgw_json_set(o, "collab_id", soulgw_json_new_string(id)) != 0;
  bad |= soulgw_json_set(o, "tenant", soulgw_json_new_string(tenant)) != 0;
  bad |= soulgw_json_set(o, "status", soulgw_json_new_string(h->status)) != 0;
  bad |= soulgw_json_set(o, "participants", sg_json_new_raw(h->participants)) != 0;
  bad |= soulgw_json_set(o, "context", sg_json_new_raw(h->context)) != 0;
  bad |= soulgw_json_set(o, "timeline", tl) != 0;
  tl = NULL; /* taken */
  bad |= soulgw_json_set(o, "timeline_total", sg_json_new_int(h->entries)) != 0;
  bad |= soulgw_json_set(o, "resolution", sg_json_new_raw(h->resolution)) != 0;
  bad |= soulgw_json_set(o, "created_at", sg_json_new_int(h->created_at)) != 0;
  bad |= soulgw_json_set(o, "updated_at", sg_json_new_int(h->updated_at)) != 0;
  if (!bad) return o;
  if (!*err) *err = SG_DRV_NOMEM;
  soulgw_json_free(o);
  soulgw_json_free(tl);
  return NULL;
}

int sg_shape_timeline(sg_conn *c, const char *tenant, const char *id, const sg_collab_head *h,
                      int64_t after, int limit, soulgw_json **out) {
  soulgw_json *tl = soulgw_json_array(), *o = NULL;
  int64_t last = -1;
  int more = 0;
  *out = NULL;
  int rc = timeline_rows(c, tenant, id, after < 0 ? -1 : after, limit, tl, &last, &more);
  if (!rc) {
    o = soulgw_json_object();
    int bad = !o || !tl;
    bad |= soulgw_json_set(o, "collab_id", soulgw_json_new_string(id)) != 0;
    bad |= soulgw_json_set(o, "tenant", soulgw_json_new_string(tenant)) != 0;
    bad |= soulgw_json_set(o, "timeline", tl) != 0;
    tl = NULL; /* taken */
    bad |= soulgw_json_set(o, "timeline_total", sg_json_new_int(h->entries)) != 0;
    bad |= soulgw_json_set(o, "next", more ? sg_json_new_int(last) : soulgw_json_null()) != 0;
    if (bad) {
      soulgw_json_free(o);
      o = NULL;
      rc = SG_DRV_NOMEM;
    }
  }
  soulgw_json_free(tl);
  *out = o;
  return rc;
}

static int cmp_str(const void *a, const void *b) {
  return strcmp(*(const char *const *)a, *(const char *const *)b);
}

char *sg_merge_participants(const char *stored, const soulgw_json *add, int *oom) {
  soulgw_json *parts = NULL;
  const char **names = NULL, **added = NULL;
  char *text = NULL;
  *oom = 0;
  if (soulgw_json_parse(stored, strlen(stored), &parts, NULL, 0) != 0 ||
      soulgw_json_typeof(parts) != SOULGW_JSON_ARRAY)
    goto out;
  size_t n = soulgw_json_size(parts), nadd = 0, i = 0;
  names = malloc((n + 1) * sizeof *names);
  added = malloc((soulgw_json_size(add) + 1) * sizeof *added);
  if (!names || !added) goto oom;
  for (const soulgw_json *p = soulgw_json_first(parts); p; p = soulgw_json_next(p))
    if (soulgw_json_string(p)) names[i++] = soulgw_json_string(p);
  n = i;
  qsort(names, n, sizeof *names, cmp_str);
  for (const soulgw_json *p = soulgw_json_first(add); p; p = soulgw_json_next(p)) {
    const char *name = soulgw_json_string(p);
    int seen = !name || bsearch(&name, names, n, sizeof *names, cmp_str) != NULL;
    for (size_t k = 0; k < nadd && !seen; k++) seen = strcmp(added[k], name) == 0;
    if (seen) continue;
    added[nadd++] = name;
  }
  for (size_t k = 0; k < nadd; k++)
    if (soulgw_json_push(parts, soulgw_json_new_string(added[k]))) goto oom;
  if ((text = soulgw_json_print(parts))) goto out;
oom:
  *oom = 1;
out:
  free(names);
  free(added);
  soulgw_json_free(parts);
  return text;
}

char *sg_merge_context(const char *stored, const soulgw_json *add, const char *add_text,
                       int *oom) {
  *oom = 0;
  if (soulgw_json_typeof(add) != SOULGW_JSON_OBJECT || stored[0] != '{') {
    char *t = sg_strdup(add_text);
    *oom = !t;
    return t;
  }
  soulgw_json *ctx = NULL;
  if (soulgw_json_parse(stored, strlen(stored), &ctx, NULL, 0) != 0) return NULL;
  char *t = sg_json_merge(ctx, add) == 0 ? soulgw_json_print(ctx) : NULL;
  soulgw_json_free(ctx);
  *oom = !t;
  return t;
}

char *sg_shape_entry(const char *stage, const char *tail) {
  sg_buf b;
  sg_buf_init(&b, 0);
  sg_buf_printf(&b, "{\"stage\":\"%s\",%s", stage, tail);
  return sg_buf_detach(&b, NULL);
}

/* ------------------------------------------------------------------------------------------ */
/* The graph walk */

/* A set of strings, for the nodes a walk has reached and the edges it has met. */
typedef struct strset {
  char **v;
  size_t cap, n;
} strset;

/* Adds a copy of k: 1 added, 0 present, -1 out of memory.  *stored (when not NULL) gets the
 * copy, which stays where it is until strset_free(). */
static int strset_add(strset *s, const char *k, const char **stored) {
  if (s->n * 2 >= s->cap) {
    size_t cap = s->cap ? s->cap * 2 : 64;
    char **v = calloc(cap, sizeof *v);
    if (!v) return -1;
    for (size_t i = 0; i < s->cap; i++) {
      if (!s->v[i]) continue;
      uint64_t h = 1469598103934665603ull;
      for (const char *p = s->v[i]; *p; p++) h = (h ^ (unsigned char)*p) * 1099511628211ull;
      size_t j = (size_t)h & (cap - 1);
      while (v[j]) j = (j + 1) & (cap - 1);
      v[j] = s->v[i];
    }
    free(s->v);
    s->v = v;
    s->cap = cap;
  }
  uint64_t h = 1469598103934665603ull;
  for (const char *p = k; *p; p++) h = (h ^ (unsigned char)*p) * 1099511628211ull;
  size_t j = (size_t)h & (s->cap - 1);
  for (; s->v[j]; j = (j + 1) & (s->cap - 1))
    if (strcmp(s->v[j], k) == 0) return 0;
  if (!(s->v[j] = sg_strdup(k))) return -1;
  s->n++;
  if (stored) *stored = s->v[j];
  return 1;
}

static void strset_free(strset *s) {
  for (size_t i = 0; i < s->cap; i++) free(s->v[i]);
  free(s->v);
}

/* One edge a step met: its id and time, its answer object, and whether it was met from its
 * destination (then its source is the node it leads to). */
typedef struct hit {
  int64_t id, ts;
  soulgw_json *edge;
  int in;
} hit;

static int hit_cmp(const void *a, const void *b) { /* newest first */
  const hit *x = a, *y = b;
  if (x->ts != y->ts) return x->ts > y->ts ? -1 : 1;
  return x->id > y->id ? -1 : x->id < y->id;
}

static int hit_id_cmp(const void *a, const void *b) { /* last stored first */
  const hit *x = a, *y = b;
  return x->id > y->id ? -1 : x->id < y->id;
}

/* A breadth-first walk in progress.  Its cost is bounded by the answer, not by the graph:
 * each depth reads, per direction, at most the edges the limit still allows plus those it
 * can meet again (each edge is met at most once from each end), so a walk reads at most
 * 4 x limit edge rows, and limit when it goes one way.  The frontier is the new ends of the
 * edges answered at a depth, so it holds at most limit nodes. */
typedef struct walk {
  sg_conn *c;
  const char *tenant, *label;
  strset seen;                  /* nodes reached */
  strset met;                   /* edges answered, and the candidates of the current depth */
  const char **frontier, **next; /* node ids (the copies in seen), limit of each */
  size_t nfrontier, nnext;
  hit *hits; /* the current depth's candidates */
  size_t nhits, caphits;
  int64_t rows; /* rows read, for soulgw_store_rows_read_total */
} walk;

/* Frees the current depth's candidates. */
static void hits_drop(walk *w) {
  for (size_t i = 0; i < w->nhits; i++) soulgw_json_free(w->hits[i].edge);
  w->nhits = 0;
}

/* A step's reading: the walk, the direction and depth, and how many new edges it wants. */
typedef struct step {
  walk *w;
  int in, depth, want, got;
} step;

/* Takes an edge row (id, from, to, label, props, ts) as a candidate, unless met before. */
static int row_edge(void *ud, const sg_row *row) {
  step *sp = ud;
  walk *w = sp->w;
  w->rows++;
  int64_t id = sg_row_int(row, 0);
  char idkey[24];
  snprintf(idkey, sizeof idkey, "%lld", (long long)id);
  int added = strset_add(&w->met, idkey, NULL);
  if (added == 0) return 0; /* met from its other end */
  if (added < 0 || w->nhits == w->caphits) return SG_DRV_NOMEM;
  soulgw_json *e = soulgw_json_object();
  if (!e) return SG_DRV_NOMEM;
  int64_t ts = sg_row_int(row, 5);
  soulgw_json_set(e, "from", soulgw_json_new_string(col_text(row, 1)));
  soulgw_json_set(e, "to", soulgw_json_new_string(col_text(row, 2)));
  soulgw_json_set(e, "label", soulgw_json_new_string(col_text(row, 3)));
  soulgw_json_set(e, "props", col_json(row, 4));
  soulgw_json_set(e, "timestamp_ms", sg_json_new_int(ts));
  soulgw_json_set(e, "depth", sg_json_new_int(sp->depth));
  w->hits[w->nhits++] = (hit){id, ts, e, sp->in};
  return ++sp->got < sp->want ? 0 : SG_DRV_STOP;
}

/* Adds to w->hits the newest edges touching the frontier in one direction (in: arriving at
 * it) that were not met before: at most want of them, from at most want + again rows, again
 * being how many edges met before the frontier can touch.  0 or the error. */
static int walk_step(walk *w, int in, int depth, int want, int again) {
  step sp = {w, in, depth, want, 0};
  return w->c->drv->edges_touching(w->c, w->tenant, w->frontier, w->nfrontier, w->label, in,
                                   want + again, row_edge, &sp);
}

/* One depth: answers (appends to edges) the newest `need` edges touching the frontier that
 * were not answered before, `prev` being how many the previous depth answered, and makes
 * their new ends the next frontier.  Returns the number answered, or -1 with *err set. */
static int walk_depth(walk *w, sg_direction dir, int depth, int need, int prev,
                      soulgw_json *edges, int *err) {
  w->nhits = 0;
  *err = SG_DRV_NOMEM;
  if ((size_t)need * 2 > w->caphits) { /* at most need per direction */
    hit *v = realloc(w->hits, (size_t)need * 2 * sizeof *v);
    if (!v) return -1;
    w->hits = v;
    w->caphits = (size_t)need * 2;
  }
  /* Going one way, no edge is met twice (a node is in one frontier only).  Both ways, an edge
   * the previous depth answered is met again from its other end, and so is one joining two
   * nodes of this frontier. */
  int again = dir == SG_DIR_BOTH ? prev : 0;
  if (dir != SG_DIR_IN && (*err = walk_step(w, 0, depth, need, again))) goto fail;
  if (dir != SG_DIR_OUT && (*err = walk_step(w, 1, depth, need, again + (int)w->nhits)))
    goto fail;
  *err = SG_DRV_NOMEM;
  if (w->nhits > (size_t)need) { /* both ways: the newest of the two */
    qsort(w->hits, w->nhits, sizeof *w->hits, hit_id_cmp);
    for (size_t i = (size_t)need; i < w->nhits; i++) soulgw_json_free(w->hits[i].edge);
    w->nhits = (size_t)need;
  }
  qsort(w->hits, w->nhits, sizeof *w->hits, hit_cmp);
  size_t n = w->nhits;
  for (size_t i = 0; i < n; i++) soulgw_json_push(edges, w->hits[i].edge);
  w->nhits = 0; /* edges owns them now */
  w->nnext = 0;
  for (size_t i = 0; i < n; i++) {
    const soulgw_json *e = w->hits[i].edge;
    const char *other = soulgw_json_string(soulgw_json_get(e, w->hits[i].in ? "from" : "to"));
    const char *node = NULL;
    int added = other ? strset_add(&w->seen, other, &node) : 0;
    if (added < 0) return -1;
    if (added) w->next[w->nnext++] = node;
  }
  const char **t = w->frontier;
  w->frontier = w->next;
  w->next = t;
  w->nfrontier = w->nnext;
  *err = 0;
  return (int)n;
fail:
  hits_drop(w);
  return -1;
}

/* The walk's answer {"tenant","node_id","label","edges"}, taking edges; NULL when out of
 * memory. */
static soulgw_json *walk_answer(const char *tenant, const char *node_id, const char *label,
                                soulgw_json *edges) {
  soulgw_json *o = soulgw_json_object();
  soulgw_json_set(o, "tenant", soulgw_json_new_string(tenant));
  soulgw_json_set(o, "node_id", soulgw_json_new_string(node_id));
  soulgw_json_set(o, "label", label ? soulgw_json_new_string(label) : soulgw_json_null());
  soulgw_json_set(o, "edges", edges);
  return o;
}

/* A row (id, from, to, label, props, ts, depth) of a driver's whole walk, appended to the
 * array ud. */
static int row_walked(void *ud, const sg_row *row) {
  soulgw_json *e = soulgw_json_object();
  if (!e) return SG_DRV_NOMEM;
  soulgw_json_set(e, "from", soulgw_json_new_string(col_text(row, 1)));
  soulgw_json_set(e, "to", soulgw_json_new_string(col_text(row, 2)));
  soulgw_json_set(e, "label", soulgw_json_new_string(col_text(row, 3)));
  soulgw_json_set(e, "props", col_json(row, 4));
  soulgw_json_set(e, "timestamp_ms", sg_json_new_int(sg_row_int(row, 5)));
  soulgw_json_set(e, "depth", sg_json_new_int(sg_row_int(row, 6)));
  return soulgw_json_push(ud, e) == 0 ? 0 : SG_DRV_NOMEM;
}

/* The walk as one statement of the driver's (driver.h graph). */
static int graph_by_driver(sg_conn *c, const char *tenant, const char *node_id,
                           const char *label, sg_direction dir, int depth, int limit,
                           soulgw_json **out, int64_t *rows) {
  soulgw_json *edges = soulgw_json_array();
  *out = NULL;
  *rows = 0;
  if (!edges) return SG_DRV_NOMEM;
  int rc = c->drv->graph(c, tenant, node_id, label, (int)dir, depth, limit, row_walked, edges);
  *rows = (int64_t)soulgw_json_size(edges);
  if (!rc && !(*out = walk_answer(tenant, node_id, label, edges))) return SG_DRV_NOMEM;
  if (rc) soulgw_json_free(edges);
  return rc;
}

int sg_graph_walk(sg_conn *c, const char *tenant, const char *node_id, const char *label,
                  sg_direction dir, int depth, int limit, soulgw_json **out, int64_t *rows) {
  if (c->drv->graph && limit > 0 && depth > 0)
    return graph_by_driver(c, tenant, node_id, label, dir, depth, limit, out, rows);
  walk w = {.c = c, .tenant = tenant, .label = label};
  size_t cap = limit > 0 ? (size_t)limit : 1; /* a frontier holds at most limit nodes */
  const char **nodes = calloc(cap * 2, sizeof *nodes);
  soulgw_json *edges = soulgw_json_array();
  const char *start = NULL;
  int err = !nodes || !edges || strset_add(&w.seen, node_id, &start) < 0 ? SG_DRV_NOMEM : 0;
  *out = NULL;
  if (!err) {
    w.frontier = nodes;
    w.next = nodes + cap;
    w.frontier[w.nfrontier++] = start;
  }
  int total = 0, prev = 0;
  /* Read consistency across the queries of one walk. */
  int in_txn = c->drv->read_begin(c) == 0;
  for (int d = 1; d <= depth && !err && total < limit && w.nfrontier; d++) {
    prev = walk_depth(&w, dir, d, limit - total, prev, edges, &err);
    if (prev >= 0) total += prev;
  }
  if (in_txn) c->drv->read_end(c);
  *rows = w.rows;
  free(w.hits);
  free(nodes);
  strset_free(&w.seen);
  strset_free(&w.met);
  if (err) {
    soulgw_json_free(edges);
    return err;
  }
  *out = walk_answer(tenant, node_id, label, edges);
  return 0;
}
