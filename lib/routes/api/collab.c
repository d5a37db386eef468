/*
 * collab.c -- collaborations (SPEC 4.2 collab_execute, collab_resolve): open or advance a
 * collaboration, resolve it, and page through its timeline.  Executing and resolving are
 * writes: the request is checked in full, then deferred, and answered with the snapshot by the
 * store's completion once it has committed.  A snapshot carries the most recent timeline
 * entries only ([collab] timeline_window); /api/collab/timeline reads the others.
 */
#include <stdio.h>

#include "routes/ctx.h"
#include "routes/fields.h"
#include "routes/routes.h"

/* The [collab] bounds of the configuration the request runs on. */
static sg_collab_limits limits(const soulgw_req *req) {
  const sg_conf *c = req->snap->conf;
  return (sg_collab_limits){c->collab.max_timeline_entries, c->collab.max_snapshot_bytes,
                            (int)c->collab.timeline_window};
}

/* POST /api/collab/execute {collab_id, tenant, participants, context, note}.  A null context
 * counts as none given (the stored context stays as it was).  A value the store keeps must not
 * nest deeper than it can read back. */
typedef struct execute_in {
  const char *collab_id, *note;
  const soulgw_json *participants, *context;
} execute_in;

static const sg_field_spec execute_fields[] = {
    {SG_F_ID(execute_in, collab_id), .required = 1},
    {SG_F_IDS(execute_in, participants)},
    {SG_F_VALUE(execute_in, context), .max = SG_STORE_JSON_DEPTH_MAX},
    {SG_F_TEXT(execute_in, note), .max = SG_NOTE_MAX},
    {0}};

int sg_route_collab_execute(soulgw_req *req, void *ud) {
  const sg_ctx *ctx = ud;
  execute_in in;
  if (sg_fields_body(req, execute_fields, &in)) return 0;
  sg_collab_limits lim = limits(req);
  if (soulgw_req_defer(req)) return 0;
  sg_store_collab_execute(ctx->store, req->tenant, in.collab_id, in.participants, in.context,
                          in.note, &lim, sg_wall_ms(), sg_store_reply, req);
  return 0;
}

/* POST /api/collab/resolve {collab_id, tenant, outcome, note}. */
typedef struct resolve_in {
  const char *collab_id, *note;
  const soulgw_json *outcome;
} resolve_in;

static const sg_field_spec resolve_fields[] = {
    {SG_F_ID(resolve_in, collab_id), .required = 1},
    {SG_F_VALUE(resolve_in, outcome), .max = SG_STORE_JSON_DEPTH_MAX},
    {SG_F_TEXT(resolve_in, note), .max = SG_NOTE_MAX},
    {0}};

int sg_route_collab_resolve(soulgw_req *req, void *ud) {
  const sg_ctx *ctx = ud;
  resolve_in in;
  if (sg_fields_body(req, resolve_fields, &in)) return 0;
  sg_collab_limits lim = limits(req);
  if (soulgw_req_defer(req)) return 0;
  sg_store_collab_resolve(ctx->store, req->tenant, in.collab_id, in.outcome, in.note, &lim,
                          sg_wall_ms(), sg_store_reply, req);
  return 0;
}

/* POST /api/collab/timeline {collab_id, tenant, after, limit}: the entries after seq `after`
 * (absent: from the first), oldest first, at most limit (default 100, at most 1000), and
 * "next" to pass as `after` for the following page (null on the last). */
typedef struct timeline_in {
  const char *collab_id;
  long long after, limit;
} timeline_in;

static const sg_field_spec timeline_fields[] = {
    {SG_F_ID(timeline_in, collab_id), .required = 1},
    {SG_F_INT(timeline_in, after), .min = -1, .max = 1LL << 53, .def = -1},
    {SG_F_INT(timeline_in, limit), .min = 1, .max = 1000, .def = 100},
    {0}};

int sg_route_collab_timeline(soulgw_req *req, void *ud) {
  const sg_ctx *ctx = ud;
  timeline_in in;
  if (sg_fields_body(req, timeline_fields, &in)) return 0;
  soulgw_json *out = NULL;
  sg_st st = sg_store_collab_timeline(ctx->store, req->tenant, in.collab_id, in.after,
                                      (int)in.limit, &out);
  char msg[320];
  snprintf(msg, sizeof msg, "collaboration %s does not exist", in.collab_id);
  return sg_reply_store(req, st, out, st == SG_ST_NOTFOUND ? msg : NULL);
}
