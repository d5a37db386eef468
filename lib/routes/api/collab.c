/*
 * collab.c -- collaborations (SPEC 4.2 collab_execute, collab_resolve): open or advance a
 * collaboration, and resolve it.  Both are writes: the request is checked in full, then
 * deferred, and answered with the snapshot by the store's completion once it has committed.
 */
#include "routes/ctx.h"
#include "routes/fields.h"
#include "routes/routes.h"

/* POST /api/collab/execute {collab_id, tenant, participants, context, note}.  A null context
 * counts as none given (the stored context stays as it was). */
int sg_route_collab_execute(soulgw_req *req, void *ud) {
  const sg_ctx *ctx = ud;
  const soulgw_json *body, *participants, *context;
  const char *collab_id, *note;
  if (sg_fields_begin(req, &body) || sg_field_id(req, body, NULL, "collab_id", 1, &collab_id) ||
      sg_field_ids(req, body, NULL, "participants", &participants) ||
      sg_field_value(req, body, NULL, "context", 0, &context) ||
      sg_field_text(req, body, NULL, "note", SG_NOTE_MAX, &note))
    return 0;
  if (soulgw_req_defer(req)) return 0;
  sg_store_collab_execute(ctx->store, req->tenant, collab_id, participants, context, note,
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
      sg_field_text(req, body, NULL, "note", SG_NOTE_MAX, &note))
    return 0;
  if (soulgw_req_defer(req)) return 0;
  sg_store_collab_resolve(ctx->store, req->tenant, collab_id, outcome, note, sg_wall_ms(),
                          sg_store_reply, req);
  return 0;
}
