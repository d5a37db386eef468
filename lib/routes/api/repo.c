/*
 * repo.c -- repo records and the graph of their edges (SPEC 4.2 repo_append, repo_get,
 * repo_list, graph_recall).  Appending is a write (checked in full, deferred, answered by the
 * store's completion after commit); the others are synchronous reads.  A storage failure is
 * always 503, never an empty answer.
 */
#include <stdio.h>
#include <string.h>

#include "routes/ctx.h"
#include "routes/fields.h"
#include "routes/routes.h"

#define PAGE_DEFAULT 100
#define PAGE_MAX 1000
#define DEPTH_MAX 8

/* Reads edges[i] into e; path is "edges[i]".  Returns 0 or -1 after answering 422. */
static int read_edge(soulgw_req *req, const soulgw_json *v, const char *path, sg_edge_in *e) {
  if (soulgw_json_typeof(v) != SOULGW_JSON_OBJECT) {
    soulgw_reply_error(req, SOULGW_API_SCHEMA_VALIDATION_FAILED,
                       "%s must be an object {to, from, label, props}", path);
    return -1;
  }
  if (sg_field_id(req, v, path, "to", 1, &e->to) || sg_field_id(req, v, path, "from", 0, &e->from) ||
      sg_field_id(req, v, path, "label", 0, &e->label) ||
      sg_field_object(req, v, path, "props", &e->props))
    return -1;
  return 0;
}

/* POST /api/repo/append {repo, data, record_id, edges, tenant}. */
int sg_route_repo_append(soulgw_req *req, void *ud) {
  const sg_ctx *ctx = ud;
  const soulgw_json *body, *data, *edges;
  const char *repo, *record_id;
  if (sg_fields_begin(req, &body) || sg_field_id(req, body, NULL, "repo", 1, &repo) ||
      sg_field_value(req, body, NULL, "data", 1, &data) ||
      sg_field_id(req, body, NULL, "record_id", 0, &record_id) ||
      sg_field_array(req, body, NULL, "edges", SG_LIST_MAX, &edges))
    return 0;
  size_t n = soulgw_json_size(edges);
  sg_edge_in *in = NULL;
  if (n) {
    in = sg_arena_calloc(&req->arena, n * sizeof *in);
    if (!in) return soulgw_reply_error(req, SOULGW_API_UNKNOWN_INTERNAL, "out of memory");
  }
  size_t i = 0;
  for (const soulgw_json *e = soulgw_json_first(edges); e; e = soulgw_json_next(e), i++) {
    char path[32];
    snprintf(path, sizeof path, "edges[%zu]", i);
    if (read_edge(req, e, path, &in[i])) return 0;
  }
  if (soulgw_req_defer(req)) return 0;
  sg_store_repo_append(ctx->store, req->tenant, repo, record_id, data, in, n, sg_wall_ms(),
                       sg_store_reply, req);
  return 0;
}

/* POST /api/repo/get {record_id, tenant}. */
int sg_route_repo_get(soulgw_req *req, void *ud) {
  const sg_ctx *ctx = ud;
  const soulgw_json *body;
  const char *record_id;
  if (sg_fields_begin(req, &body) || sg_field_id(req, body, NULL, "record_id", 1, &record_id))
    return 0;
  soulgw_json *out = NULL;
  sg_st st = sg_store_repo_get(ctx->store, req->tenant, record_id, &out);
  char msg[SG_ID_MAX + 64];
  snprintf(msg, sizeof msg, "record \"%s\" not found", record_id);
  return sg_reply_store(req, st, out, st == SG_ST_NOTFOUND ? msg : NULL);
}

/* POST /api/repo/list {repo, after, limit, tenant}. */
int sg_route_repo_list(soulgw_req *req, void *ud) {
  const sg_ctx *ctx = ud;
  const soulgw_json *body;
  const char *repo, *after;
  long long limit;
  if (sg_fields_begin(req, &body) || sg_field_id(req, body, NULL, "repo", 1, &repo) ||
      sg_field_id(req, body, NULL, "after", 0, &after) ||
      sg_field_int(req, body, NULL, "limit", 1, PAGE_MAX, PAGE_DEFAULT, &limit))
    return 0;
  soulgw_json *out = NULL;
  sg_st st = sg_store_repo_list(ctx->store, req->tenant, repo, after, (int)limit, &out);
  char msg[2 * SG_ID_MAX + 64];
  snprintf(msg, sizeof msg, "after: record \"%s\" is not in repo \"%s\"", after ? after : "",
           repo);
  return sg_reply_store(req, st, out, st == SG_ST_NOTFOUND ? msg : NULL);
}

/* POST /api/graph/recall {node_id, label, direction, depth, limit, tenant}. */
int sg_route_graph_recall(soulgw_req *req, void *ud) {
  static const char *const directions[] = {"out", "in", "both", NULL};
  static const sg_direction dirs[] = {SG_DIR_OUT, SG_DIR_IN, SG_DIR_BOTH};
  const sg_ctx *ctx = ud;
  const soulgw_json *body;
  const char *node_id, *label;
  int dir;
  long long depth, limit;
  if (sg_fields_begin(req, &body) || sg_field_id(req, body, NULL, "node_id", 1, &node_id) ||
      sg_field_id(req, body, NULL, "label", 0, &label) ||
      sg_field_enum(req, body, NULL, "direction", directions, 0, &dir) ||
      sg_field_int(req, body, NULL, "depth", 1, DEPTH_MAX, 1, &depth) ||
      sg_field_int(req, body, NULL, "limit", 1, PAGE_MAX, PAGE_DEFAULT, &limit))
    return 0;
  soulgw_json *out = NULL;
  sg_st st = sg_store_graph_recall(ctx->store, req->tenant, node_id, label, dirs[dir], (int)depth,
                                   (int)limit, &out);
  return sg_reply_store(req, st, out, NULL);
}
