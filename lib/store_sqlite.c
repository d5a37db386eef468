/*
 * store_sqlite.c -- the SQLite implementation of store.h (being written: every operation
 * answers SG_ST_UNAVAILABLE until it lands).
 */
#include <sqlite3.h>
#include <stdlib.h>

#include "store.h"

struct sg_store {
  int x;
};

#define DONE_UNAVAILABLE(done, ud) done(ud, SG_ST_UNAVAILABLE, NULL, "storage not implemented yet")

const char *sg_store_engine_version(void) { return sqlite3_libversion(); }
int sg_store_open(const sg_store_opts *o, sg_store **out, char *err, size_t errlen) {
  (void)o; (void)err; (void)errlen;
  *out = calloc(1, sizeof **out);
  return *out ? 0 : SOULGW_ENOMEM;
}
void sg_store_close(sg_store *st) { free(st); }
int sg_store_writable(sg_store *st) { (void)st; return 1; }
int sg_store_schema_version(sg_store *st) { (void)st; return 0; }
sg_st sg_store_registry_bootstrap(sg_store *st, const char *t, const soulgw_json *m, int64_t n) { (void)st; (void)t; (void)m; (void)n; return SG_ST_UNAVAILABLE; }
sg_st sg_store_registry_tenants(sg_store *st, soulgw_json **out) { (void)st; *out = NULL; return SG_ST_UNAVAILABLE; }
sg_st sg_store_registry_versions(sg_store *st, const char *t, soulgw_json **out) { (void)st; (void)t; *out = NULL; return SG_ST_UNAVAILABLE; }
sg_st sg_store_registry_active(sg_store *st, const char *t, soulgw_json **out) { (void)st; (void)t; *out = NULL; return SG_ST_UNAVAILABLE; }
void sg_store_registry_publish(sg_store *st, const char *t, const char *v, const soulgw_json *m, int64_t n, sg_store_done done, void *ud) { (void)st; (void)t; (void)v; (void)m; (void)n; DONE_UNAVAILABLE(done, ud); }
void sg_store_registry_activate(sg_store *st, const char *t, const char *v, sg_store_done done, void *ud) { (void)st; (void)t; (void)v; DONE_UNAVAILABLE(done, ud); }
sg_st sg_store_idem_get(sg_store *st, const char *t, const char *k, soulgw_json **out) { (void)st; (void)t; (void)k; *out = NULL; return SG_ST_NOTFOUND; }
void sg_store_idem_put(sg_store *st, const char *t, const char *k, const char *tool, const soulgw_json *in, int status, const char *resp, int64_t n, sg_store_done done, void *ud) { (void)st; (void)t; (void)k; (void)tool; (void)in; (void)status; (void)resp; (void)n; DONE_UNAVAILABLE(done, ud); }
void sg_store_collab_execute(sg_store *st, const char *t, const char *c, const soulgw_json *p, const soulgw_json *ctx, const char *note, int64_t n, sg_store_done done, void *ud) { (void)st; (void)t; (void)c; (void)p; (void)ctx; (void)note; (void)n; DONE_UNAVAILABLE(done, ud); }
void sg_store_collab_resolve(sg_store *st, const char *t, const char *c, const soulgw_json *o, const char *note, int64_t n, sg_store_done done, void *ud) { (void)st; (void)t; (void)c; (void)o; (void)note; (void)n; DONE_UNAVAILABLE(done, ud); }
sg_st sg_store_collab_get(sg_store *st, const char *t, const char *c, soulgw_json **out) { (void)st; (void)t; (void)c; *out = NULL; return SG_ST_UNAVAILABLE; }
void sg_store_repo_append(sg_store *st, const char *t, const char *repo, const char *rid, const soulgw_json *data, const sg_edge_in *e, size_t ne, int64_t n, sg_store_done done, void *ud) { (void)st; (void)t; (void)repo; (void)rid; (void)data; (void)e; (void)ne; (void)n; DONE_UNAVAILABLE(done, ud); }
sg_st sg_store_repo_get(sg_store *st, const char *t, const char *rid, soulgw_json **out) { (void)st; (void)t; (void)rid; *out = NULL; return SG_ST_UNAVAILABLE; }
sg_st sg_store_repo_list(sg_store *st, const char *t, const char *repo, const char *after, int limit, soulgw_json **out) { (void)st; (void)t; (void)repo; (void)after; (void)limit; *out = NULL; return SG_ST_UNAVAILABLE; }
sg_st sg_store_graph_recall(sg_store *st, const char *t, const char *node, const char *label, sg_direction dir, int depth, int limit, soulgw_json **out) { (void)st; (void)t; (void)node; (void)label; (void)dir; (void)depth; (void)limit; *out = NULL; return SG_ST_UNAVAILABLE; }
void sg_store_observe_emit(sg_store *st, const char *t, const char *topic, const char *sev, const soulgw_json *ev, const char *trace, int64_t n, sg_store_done done, void *ud) { (void)st; (void)t; (void)topic; (void)sev; (void)ev; (void)trace; (void)n; DONE_UNAVAILABLE(done, ud); }
sg_st sg_store_observe_query(sg_store *st, const char *t, const char *topic, int64_t since, const char *sev, int limit, soulgw_json **out) { (void)st; (void)t; (void)topic; (void)since; (void)sev; (void)limit; *out = NULL; return SG_ST_UNAVAILABLE; }
