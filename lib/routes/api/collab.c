/*
 * collab.c -- collaborations (SPEC 4.2 collab_execute, collab_resolve): open or advance a
 * collaboration, resolve it, and page through its timeline.  Executing and resolving are
 * writes: the request is checked in full, then deferred, and answered with the snapshot by the
 * store's completion once it has committed.  A snapshot carries the most recent timeline
 * entries only ([collab] timeline_window); /api/collab/timeline reads the others.
 */
#include <stdio.h>

#include "base/json.h"
#include "routes/ctx.h"
#include "routes/fields.h"
#include "routes/routes.h"

/* Refuses a value the store keeps that nests deeper than it can read back: 422 naming it. */
static int check_depth(soulgw_req *req, const soulgw_json *v, const char *name) {
  if (!v || !sg_json_deeper_than(v, SG_STORE_JSON_DEPTH_MAX)) return 0;
  return sg_invalid(req, "%s nests deeper than %d levels of arrays and objects", name,
                    SG_STORE_JSON_DEPTH_MAX);
}

/* The [collab] bounds of the configuration the request runs on. */
static sg_collab_limits limits(const soulgw_req *req) {
  const sg_conf *c = req->snap->conf;
  return (sg_collab_limits){c->collab.max_timeline_entries, c->collab.max_snapshot_bytes,
                            (int)c->collab.timeline_window};
}

/* POST /api/collab/execute {collab_id, tenant, participants, context, note}.  A null context
 * counts as none given (the stored context stays as it was). */
int sg_route_collab_execute(soulgw_req *req, void *ud) {
  const sg_ctx *ctx = ud;
  const soulgw_json *body, *participants, *context;
  const char *collab_id, *note;
  if (sg_fields_begin(req, &body) || sg_field_id(req, body, NULL, "collab_id", 1, &collab_id) ||
      sg_field_ids(req, body, NULL, "participants", &participants) ||
      sg_field_value(req, body, NULL, "context", 0, &context) ||
      check_depth(req, context, "context") ||
      sg_field_text(req, body, NULL, "note", SG_NOTE_MAX, &note))
    return 0;
  sg_collab_limits lim = limits(req);
  if (soulgw_req_defer(req)) return 0;
  sg_store_collab_execute(ctx->store, req->tenant, collab_id, participants, context, note, &lim,
                          sg_wall_ms(), sg_store_reply, req);
  return 0;
}

/* POST /api/collab/resolve {collab_id, tenant, outcome, note}. */
int sg_route_collab_resolve(soulgw_req *req, void *ud) {
  const sg_ctx *ctx = ud;
  const soulgw_json *body, *outcome;
  const char *collab_id, *note;
  if (sg_fields_begin(req, &body) || sg_field_id(req, body, NULL, "collab_id", 1, &collab_id) ||
      sg_field_value(req, body, NULL, "outcome", 0, &outcome) ||
      check_depth(req, outcome, "outcome") ||
      sg_field_text(req, body, NULL, "note", SG_NOTE_MAX, &note))
    return 0;
  sg_collab_limits lim = limits(req);
  if (soulgw_req_defer(req)) return 0;
  sg_store_collab_resolve(ctx->store, req->tenant, collab_id, outcome, note, &lim, sg_wall_ms(),
                          sg_store_reply, req);
  return 0;
}

/* POST /api/collab/timeline {collab_id, tenant, after, limit}: the entries after seq `after`
 * (absent: from the first), oldest first, at most limit (default 100, at most 1000), and
 * "next" to pass as `after` for the following page (null on the last). */
int sg_route_collab_timeline(soulgw_req *req, void *ud) {
  const sg_ctx *ctx = ud;
  const soulgw_json *body;
  const char *collab_id;
  long long after, limit;
  if (sg_fields_begin(req, &body) || sg_field_id(req, body, NULL, "collab_id", 1, &collab_id) ||
      sg_field_int(req, body, NULL, "after", -1, 1LL << 53, -1, &after) ||
      sg_field_int(req, body, NULL, "limit", 1, 1000, 100, &limit))
    return 0;
  soulgw_json *out = NULL;
  sg_st st = sg_store_collab_timeline(ctx->store, req->tenant, collab_id, after, (int)limit, &out);
  char msg[320];
  snprintf(msg, sizeof msg, "collaboration %s does not exist", collab_id);
  return sg_reply_store(req, st, out, st == SG_ST_NOTFOUND ? msg : NULL);
}
