/*
 * observe.c -- observe events (SPEC 4.2 observe_emit, observe_query): durable ingestion of
 * agent events, and queries over them.  Emitting is a write (checked in full, deferred,
 * answered by the store's completion after commit); each stored event is counted in
 * soulgw_observe_events_total{topic}, whose first 100 topics get their own series and the rest
 * count as "other" -- when [metrics] tenant_labels lets topics be label values at all; else
 * every event counts under topic="all".
 */
#include <string.h>

#include "routes/ctx.h"
#include "routes/fields.h"
#include "routes/routes.h"

#define PAGE_DEFAULT 100
#define PAGE_MAX 1000
/* since: epoch milliseconds, within the range a JSON number holds exactly */
#define SINCE_MAX 9007199254740991LL

static const char *const severities[] = {"debug", "info", "warn", "error", NULL};
enum { SEVERITY_INFO = 1 };

/* Completion of an emit: counts the event under its topic once it is stored, then answers. */
static void emitted(void *ud, sg_st st, soulgw_json *result, const char *msg) {
  soulgw_req *req = ud;
  if (st == SG_ST_OK && result) {
    const char *topic[1] = {soulgw_json_string(soulgw_json_get(soulgw_req_json(req), "topic"))};
    if (topic[0]) topic[0] = sg_metrics_label(sg_ctx_of(req)->metrics, topic[0], "all");
    if (topic[0]) sg_family_add(sg_ctx_of(req)->observe_events, topic, 1);
  }
  sg_reply_store(req, st, result, msg);
}

/* POST /api/observe/emit {topic, event, severity, trace_id, tenant}.  Without trace_id, the
 * trace id of the request's traceparent header is stored, if it sent a valid one. */
typedef struct emit_in {
  const char *topic, *trace_id;
  const soulgw_json *event;
  int severity;
} emit_in;

static const sg_field_spec emit_fields[] = {
    {SG_F_ID(emit_in, topic), .required = 1},
    {SG_F_VALUE(emit_in, event), .required = 1},
    {SG_F_ENUM(emit_in, severity), .names = severities, .def = SEVERITY_INFO},
    {SG_F_ID(emit_in, trace_id)},
    {0}};

int sg_route_observe_emit(soulgw_req *req, void *ud) {
  const sg_ctx *ctx = ud;
  emit_in in;
  char tid[33];
  if (sg_fields_body(req, emit_fields, &in)) return 0;
  const char *tp = soulgw_req_header(req, "traceparent");
  if (!in.trace_id && tp && sg_traceparent_trace_id(tp, tid)) in.trace_id = tid;
  if (soulgw_req_defer(req)) return 0;
  sg_store_observe_emit(ctx->store, req->tenant, in.topic, severities[in.severity], in.event,
                        in.trace_id, sg_wall_ms(), emitted, req);
  return 0;
}

/* POST /api/observe/query {topic, since, severity, limit, tenant}. */
typedef struct query_in {
  const char *topic;
  long long since, limit;
  int severity;
} query_in;

static const sg_field_spec query_fields[] = {
    {SG_F_ID(query_in, topic)},
    {SG_F_INT(query_in, since), .min = 0, .max = SINCE_MAX, .def = -1},
    {SG_F_ENUM(query_in, severity), .names = severities, .def = -1},
    {SG_F_INT(query_in, limit), .min = 1, .max = PAGE_MAX, .def = PAGE_DEFAULT},
    {0}};

int sg_route_observe_query(soulgw_req *req, void *ud) {
  const sg_ctx *ctx = ud;
  query_in in;
  if (sg_fields_body(req, query_fields, &in)) return 0;
  soulgw_json *out = NULL;
  sg_st st = sg_store_observe_query(ctx->store, req->tenant, in.topic, in.since,
                                    in.severity < 0 ? NULL : severities[in.severity], (int)in.limit,
                                    &out);
  return sg_reply_store(req, st, out, NULL);
}
