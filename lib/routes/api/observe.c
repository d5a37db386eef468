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
int sg_route_observe_emit(soulgw_req *req, void *ud) {
  const sg_ctx *ctx = ud;
  const soulgw_json *body, *event;
  const char *topic, *trace_id;
  int severity;
  char tid[33];
  if (sg_fields_begin(req, &body) || sg_field_id(req, body, NULL, "topic", 1, &topic) ||
      sg_field_value(req, body, NULL, "event", 1, &event) ||
      sg_field_enum(req, body, NULL, "severity", severities, SEVERITY_INFO, &severity) ||
      sg_field_id(req, body, NULL, "trace_id", 0, &trace_id))
    return 0;
  const char *tp = soulgw_req_header(req, "traceparent");
  if (!trace_id && tp && sg_traceparent_trace_id(tp, tid)) trace_id = tid;
  if (soulgw_req_defer(req)) return 0;
  sg_store_observe_emit(ctx->store, req->tenant, topic, severities[severity], event, trace_id,
                        sg_wall_ms(), emitted, req);
  return 0;
}

/* POST /api/observe/query {topic, since, severity, limit, tenant}. */
int sg_route_observe_query(soulgw_req *req, void *ud) {
  const sg_ctx *ctx = ud;
  const soulgw_json *body;
  const char *topic;
  long long since, limit;
  int severity;
  if (sg_fields_begin(req, &body) || sg_field_id(req, body, NULL, "topic", 0, &topic) ||
      sg_field_int(req, body, NULL, "since", 0, SINCE_MAX, -1, &since) ||
      sg_field_enum(req, body, NULL, "severity", severities, -1, &severity) ||
      sg_field_int(req, body, NULL, "limit", 1, PAGE_MAX, PAGE_DEFAULT, &limit))
    return 0;
  soulgw_json *out = NULL;
  sg_st st = sg_store_observe_query(ctx->store, req->tenant, topic, since,
                                    severity < 0 ? NULL : severities[severity], (int)limit, &out);
  return sg_reply_store(req, st, out, NULL);
}
