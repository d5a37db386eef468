/*
 * reads.c -- the store's reads (store.h): synchronous, on the calling thread, on a reader
 * connection from the pool; the answers are built by shape.c from the driver's rows.
 */
#include <stdio.h>
#include <string.h>

#include "base/json.h"
#include "store/front.h"
#include "store/shape.h"

/* The outcome of a read that built *out (NULL when out of memory) or failed with rc, counted
 * as what. */
static sg_st outcome(sg_store *st, const char *what, int rc, sg_conn *c, soulgw_json *out) {
  if (rc) return sg_store_read_failed(st, what, rc, c);
  return out ? SG_ST_OK : SG_ST_UNAVAILABLE;
}

/* As outcome(), for a read of one thing that may not exist (*out NULL, no error). */
static sg_st found(sg_store *st, const char *what, int rc, sg_conn *c, soulgw_json *out) {
  if (!rc && !out) return SG_ST_NOTFOUND;
  return outcome(st, what, rc, c, out);
}

/* ------------------------------------------------------------------------------------------ */
/* Registry */

sg_st sg_store_registry_tenants(sg_store *st, soulgw_json **out) {
  *out = NULL;
  sg_conn *c = sg_store_reader(st);
  if (!c) return sg_store_read_failed(st, "registry tenants", SG_DRV_CANTOPEN, NULL);
  int rc = sg_shape_tenants(c, out);
  sg_st r = outcome(st, "registry tenants", rc, c, *out);
  sg_store_reader_put(st, c);
  return r;
}

sg_st sg_store_registry_versions(sg_store *st, const char *tenant, soulgw_json **out) {
  *out = NULL;
  sg_conn *c = sg_store_reader(st);
  if (!c) return sg_store_read_failed(st, "registry versions", SG_DRV_CANTOPEN, NULL);
  int rc = sg_shape_versions(c, tenant, out);
  sg_st r = outcome(st, "registry versions", rc, c, *out);
  sg_store_reader_put(st, c);
  return r;
}

sg_st sg_store_registry_active(sg_store *st, const char *tenant, soulgw_json **out) {
  *out = NULL;
  sg_conn *c = sg_store_reader(st);
  if (!c) return sg_store_read_failed(st, "registry active", SG_DRV_CANTOPEN, NULL);
  int rc = sg_shape_version(c, tenant, NULL, out);
  sg_st r = found(st, "registry active", rc, c, *out);
  sg_store_reader_put(st, c);
  return r;
}

/* ------------------------------------------------------------------------------------------ */
/* Idempotency */

sg_st sg_store_idem_get(sg_store *st, const char *tenant, const char *key, soulgw_json **out) {
  *out = NULL;
  sg_conn *c = sg_store_reader(st);
  if (!c) return sg_store_read_failed(st, "idempotency", SG_DRV_CANTOPEN, NULL);
  int rc = sg_shape_idem(c, tenant, key, out);
  sg_st r = found(st, "idempotency", rc, c, *out);
  sg_store_reader_put(st, c);
  return r;
}

/* ------------------------------------------------------------------------------------------ */
/* Collaborations */

/* A read of one collaboration on a reader connection: its head, or an outcome. */
static sg_st read_head(sg_store *st, sg_conn *c, const char *tenant, const char *id,
                       sg_collab_head *h) {
  int rc = sg_collab_head_read(c, tenant, id, h);
  if (rc) return sg_store_read_failed(st, "collab read", rc, c);
  if (!h->found) return SG_ST_NOTFOUND;
  if (strcmp(h->status, "unreadable") == 0) {
    char msg[160];
    sg_collab_head_clear(h);
    return sg_store_unreadable(st, tenant, id, msg, sizeof msg);
  }
  return SG_ST_OK;
}

/* The outcome of a timeline read that failed with rc. */
static sg_st timeline_failed(sg_store *st, int rc, sg_conn *c, const char *tenant,
                             const char *id) {
  char msg[160];
  if (rc == SG_DRV_UNREADABLE) return sg_store_unreadable(st, tenant, id, msg, sizeof msg);
  return sg_store_read_failed(st, "collab timeline read", rc, c);
}

sg_st sg_store_collab_get(sg_store *st, const char *tenant, const char *collab_id,
                          soulgw_json **out) {
  *out = NULL;
  sg_conn *c = sg_store_reader(st);
  if (!c) return sg_store_read_failed(st, "collab", SG_DRV_CANTOPEN, NULL);
  sg_collab_head h;
  sg_st r = read_head(st, c, tenant, collab_id, &h);
  int rc = 0;
  if (r == SG_ST_OK &&
      !(*out = sg_shape_snapshot(c, tenant, collab_id, &h, SG_COLLAB_WINDOW, &rc)))
    r = timeline_failed(st, rc, c, tenant, collab_id);
  sg_collab_head_clear(&h);
  sg_store_reader_put(st, c);
  return r;
}

sg_st sg_store_collab_timeline(sg_store *st, const char *tenant, const char *collab_id,
                               int64_t after, int limit, soulgw_json **out) {
  *out = NULL;
  sg_conn *c = sg_store_reader(st);
  if (!c) return sg_store_read_failed(st, "collab", SG_DRV_CANTOPEN, NULL);
  sg_collab_head h;
  sg_st r = read_head(st, c, tenant, collab_id, &h);
  int rc = 0;
  if (r == SG_ST_OK && (rc = sg_shape_timeline(c, tenant, collab_id, &h, after, limit, out)))
    r = timeline_failed(st, rc, c, tenant, collab_id);
  sg_collab_head_clear(&h);
  sg_store_reader_put(st, c);
  return r;
}

/* ------------------------------------------------------------------------------------------ */
/* Repo and graph */

sg_st sg_store_repo_get(sg_store *st, const char *tenant, const char *record_id,
                        soulgw_json **out) {
  *out = NULL;
  sg_conn *c = sg_store_reader(st);
  if (!c) return sg_store_read_failed(st, "record", SG_DRV_CANTOPEN, NULL);
  int rc = sg_shape_record(c, tenant, record_id, out);
  sg_st r = found(st, "record", rc, c, *out);
  sg_store_reader_put(st, c);
  return r;
}

sg_st sg_store_repo_list(sg_store *st, const char *tenant, const char *repo, const char *after,
                         int limit, soulgw_json **out) {
  *out = NULL;
  sg_conn *c = sg_store_reader(st);
  if (!c) return sg_store_read_failed(st, "record list", SG_DRV_CANTOPEN, NULL);
  int64_t pos = -1;
  int rc = after ? c->drv->record_pos(c, tenant, repo, after, &pos) : 0;
  sg_st r;
  if (!rc && after && pos < 0) r = SG_ST_NOTFOUND;
  else if (!rc && !(rc = sg_shape_records(c, tenant, repo, pos, limit, out)))
    r = *out ? SG_ST_OK : SG_ST_UNAVAILABLE;
  else r = sg_store_read_failed(st, "record list", rc, c);
  sg_store_reader_put(st, c);
  return r;
}

sg_st sg_store_graph_recall(sg_store *st, const char *tenant, const char *node_id,
                            const char *label, sg_direction dir, int depth, int limit,
                            soulgw_json **out) {
  *out = NULL;
  sg_conn *c = sg_store_reader(st);
  if (!c) return sg_store_read_failed(st, "graph", SG_DRV_CANTOPEN, NULL);
  int64_t rows = 0;
  int rc = sg_graph_walk(c, tenant, node_id, label, dir, depth, limit, out, &rows);
  sg_store_reader_put(st, c);
  sg_family_add(st->rows_read, (const char *[]){"graph_recall"}, (uint64_t)rows);
  return outcome(st, "graph recall", rc, NULL, *out);
}

/* ------------------------------------------------------------------------------------------ */
/* Observe */

sg_st sg_store_observe_query(sg_store *st, const char *tenant, const char *topic, int64_t since,
                             const char *severity, int limit, soulgw_json **out) {
  *out = NULL;
  sg_conn *c = sg_store_reader(st);
  if (!c) return sg_store_read_failed(st, "observe query", SG_DRV_CANTOPEN, NULL);
  int rc = sg_shape_events(c, tenant, topic, since, severity, limit, out);
  sg_st r = outcome(st, "observe query", rc, c, *out);
  sg_store_reader_put(st, c);
  return r;
}
