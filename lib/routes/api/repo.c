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

static const sg_field_spec edge_fields[] = {
    {SG_F_ID(sg_edge_in, to), .required = 1},
    {SG_F_ID(sg_edge_in, from)},
    {SG_F_ID(sg_edge_in, label)},
    {SG_F_OBJECT(sg_edge_in, props)},
    {0}};

/* Reads edges[i] into e; path is "edges[i]".  Returns 0 or -1 after answering 422. */
static int read_edge(soulgw_req *req, const soulgw_json *v, const char *path, sg_edge_in *e) {
  if (soulgw_json_typeof(v) != SOULGW_JSON_OBJECT)
    return sg_invalid(req, "%s must be an object {to, from, label, props}", path);
  return sg_fields_read(req, v, path, edge_fields, e);
}

/* POST /api/repo/append {repo, data, record_id, edges, tenant}. */
typedef struct append_in {
  const char *repo, *record_id;
  const soulgw_json *data, *edges;
} append_in;

static const sg_field_spec append_fields[] = {
    {SG_F_ID(append_in, repo), .required = 1},
    {SG_F_VALUE(append_in, data), .required = 1},
    {SG_F_ID(append_in, record_id)},
    {SG_F_ARRAY(append_in, edges), .max = SG_LIST_MAX},
    {0}};

int sg_route_repo_append(soulgw_req *req, void *ud) {
  const sg_ctx *ctx = ud;
  append_in in;
  if (sg_fields_body(req, append_fields, &in)) return 0;
  size_t n = soulgw_json_size(in.edges);
  sg_edge_in *edges = NULL;
  if (n) {
    edges = sg_arena_calloc(&req->arena, n * sizeof *edges);
    if (!edges) return soulgw_reply_error(req, SOULGW_API_UNKNOWN_INTERNAL, "out of memory");
  }
  size_t i = 0;
  for (const soulgw_json *e = soulgw_json_first(in.edges); e; e = soulgw_json_next(e), i++) {
    char path[32];
    snprintf(path, sizeof path, "edges[%zu]", i);
    if (read_edge(req, e, path, &edges[i])) return 0;
  }
  if (soulgw_req_defer(req)) return 0;
  sg_store_repo_append(ctx->store, req->tenant, in.repo, in.record_id, in.data, edges, n,
                       sg_wall_ms(), sg_store_reply, req);
  return 0;
}

/* POST /api/repo/get {record_id, tenant}. */
typedef struct get_in {
  const char *record_id;
} get_in;

static const sg_field_spec get_fields[] = {{SG_F_ID(get_in, record_id), .required = 1}, {0}};

int sg_route_repo_get(soulgw_req *req, void *ud) {
  const sg_ctx *ctx = ud;
  get_in in;
  if (sg_fields_body(req, get_fields, &in)) return 0;
  soulgw_json *out = NULL;
  sg_st st = sg_store_repo_get(ctx->store, req->tenant, in.record_id, &out);
  char msg[SG_ID_MAX + 64];
  snprintf(msg, sizeof msg, "record \"%s\" not found", in.record_id);
  return sg_reply_store(req, st, out, st == SG_ST_NOTFOUND ? msg : NULL);
}

/* POST /api/repo/list {repo, after, limit, tenant}. */
typedef struct list_in {
  const char *repo, *after;
  long long limit;
} list_in;

static const sg_field_spec list_fields[] = {
    {SG_F_ID(list_in, repo), .required = 1},
    {SG_F_ID(list_in, after)},
    {SG_F_INT(list_in, limit), .min = 1, .max = PAGE_MAX, .def = PAGE_DEFAULT},
    {0}};

int sg_route_repo_list(soulgw_req *req, void *ud) {
  const sg_ctx *ctx = ud;
  list_in in;
  if (sg_fields_body(req, list_fields, &in)) return 0;
  soulgw_json *out = NULL;
  sg_st st = sg_store_repo_list(ctx->store, req->tenant, in.repo, in.after, (int)in.limit, &out);
  char msg[2 * SG_ID_MAX + 64];
  snprintf(msg, sizeof msg, "after: record \"%s\" is not in repo \"%s\"",
           in.after ? in.after : "", in.repo);
  return sg_reply_store(req, st, out, st == SG_ST_NOTFOUND ? msg : NULL);
}

/* POST /api/graph/recall {node_id, label, direction, depth, limit, tenant}. */
typedef struct recall_in {
  const char *node_id, *label;
  int direction;
  long long depth, limit;
} recall_in;

static const char *const directions[] = {"out", "in", "both", NULL};

static const sg_field_spec recall_fields[] = {
    {SG_F_ID(recall_in, node_id), .required = 1},
    {SG_F_ID(recall_in, label)},
    {SG_F_ENUM(recall_in, direction), .names = directions, .def = 0},
    {SG_F_INT(recall_in, depth), .min = 1, .max = DEPTH_MAX, .def = 1},
    {SG_F_INT(recall_in, limit), .min = 1, .max = PAGE_MAX, .def = PAGE_DEFAULT},
    {0}};

int sg_route_graph_recall(soulgw_req *req, void *ud) {
  static const sg_direction dirs[] = {SG_DIR_OUT, SG_DIR_IN, SG_DIR_BOTH};
  const sg_ctx *ctx = ud;
  recall_in in;
  if (sg_fields_body(req, recall_fields, &in)) return 0;
  soulgw_json *out = NULL;
  sg_st st = sg_store_graph_recall(ctx->store, req->tenant, in.node_id, in.label,
                                   dirs[in.direction], (int)in.depth, (int)in.limit, &out);
  return sg_reply_store(req, st, out, NULL);
}
