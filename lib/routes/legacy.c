/*
 * legacy.c -- the older client contract of soulseed-agi (SPEC 4.2 "Legacy routes"):
 *
 *   POST /tenants/{tenant}/tools.execute   runs plan.nodes[0] {id, tool_id, input} through the
 *                                          same pipeline as /api/tools/execute (tool_exec.c)
 *   POST /tenants/{tenant}/collab.execute  opens or advances the collaboration plan.scope
 *                                          {collab_id (or id), participants, context, note}
 *
 * Body: {"anchor":{...},"plan":{...},"cycle":{...},"router":{...},"budget":{...}}; anchor,
 * cycle, router and budget must be objects when present and are otherwise not used.  Every
 * answer, success or failure, is the envelope
 *   {"success":true|false,"data":...,"error":null|{"code","message"},"trace_id":"<request id>"}
 * with the HTTP status of the error table.  These handlers build the successes; every failure,
 * theirs or the pipeline's (authentication, a body that is not JSON, ...), is rendered in the
 * envelope by the routes' dialect, legacy (pipeline/dialect.c).
 */
#include <stdio.h>
#include <string.h>

#include "base/json.h"
#include "routes/ctx.h"
#include "base/json_write.h"
#include "routes/fields.h"
#include "routes/routes.h"
#include "routes/api/tool_exec.h"

static int invalid(soulgw_req *req, const char *fmt, ...) SG_PRINTF(2, 3);
static int invalid(soulgw_req *req, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  soulgw_reply_verror(req, SOULGW_API_SCHEMA_VALIDATION_FAILED, fmt, ap);
  va_end(ap);
  return -1;
}

/* obj[key] as an object: *out NULL when absent or null (an error when required). */
static int get_object(soulgw_req *req, const soulgw_json *obj, const char *name, const char *key,
                      int required, soulgw_json **out) {
  soulgw_json *v = soulgw_json_get(obj, key);
  *out = NULL;
  if (!v || soulgw_json_typeof(v) == SOULGW_JSON_NULL)
    return required ? invalid(req, "%s is required", name) : 0;
  if (soulgw_json_typeof(v) != SOULGW_JSON_OBJECT)
    return invalid(req, "%s must be an object, not %s", name, sg_json_type_phrase(v));
  *out = v;
  return 0;
}

/* v as an identifier: a string of 1 to SG_ID_MAX bytes, not blank, no control characters. */
static int check_id(soulgw_req *req, const soulgw_json *v, const char *name) {
  const char *s = soulgw_json_string(v);
  if (!s) return invalid(req, "%s must be a string, not %s", name, sg_json_type_phrase(v));
  if (strlen(s) > SG_ID_MAX) return invalid(req, "%s is longer than %d bytes", name, SG_ID_MAX);
  if (sg_is_blank(s)) return invalid(req, "%s must not be blank", name);
  for (const char *p = s; *p; p++)
    if ((unsigned char)*p < 0x20 || *p == 0x7f)
      return invalid(req, "%s must not contain control characters", name);
  return 0;
}

/* obj[key] as an identifier; *out NULL when absent or null (an error when required). */
static int get_id(soulgw_req *req, const soulgw_json *obj, const char *name, const char *key,
                  int required, const char **out) {
  const soulgw_json *v = soulgw_json_get(obj, key);
  *out = NULL;
  if (!v || soulgw_json_typeof(v) == SOULGW_JSON_NULL)
    return required ? invalid(req, "%s is required", name) : 0;
  if (check_id(req, v, name)) return -1;
  *out = soulgw_json_string(v);
  return 0;
}

/* The body and its plan; the other sections only need to be objects. */
static int begin(soulgw_req *req, soulgw_json **plan) {
  soulgw_json *body = req->json, *unused;
  *plan = NULL;
  if (body && soulgw_json_typeof(body) != SOULGW_JSON_OBJECT)
    return invalid(req, "body must be a JSON object, not %s", sg_json_type_phrase(body));
  static const char *const sections[] = {"anchor", "cycle", "router", "budget"};
  for (size_t i = 0; i < SG_ARRAY_LEN(sections); i++)
    if (get_object(req, body, sections[i], sections[i], 0, &unused)) return -1;
  return get_object(req, body, "plan", "plan", 1, plan);
}

/* POST /tenants/{tenant}/tools.execute */
int sg_route_legacy_tools_execute(soulgw_req *req, void *ud) {
  (void)ud;
  soulgw_json *plan, *node;
  if (begin(req, &plan)) return 0;
  soulgw_json *nodes = soulgw_json_get(plan, "nodes");
  if (!nodes || soulgw_json_typeof(nodes) == SOULGW_JSON_NULL)
    return invalid(req, "plan.nodes is required"), 0;
  if (soulgw_json_typeof(nodes) != SOULGW_JSON_ARRAY)
    return invalid(req, "plan.nodes must be an array, not %s", sg_json_type_phrase(nodes)), 0;
  if (!(node = soulgw_json_first(nodes))) return invalid(req, "plan.nodes must not be empty"), 0;
  if (soulgw_json_typeof(node) != SOULGW_JSON_OBJECT)
    return invalid(req, "plan.nodes[0] must be an object, not %s", sg_json_type_phrase(node)), 0;
  sg_exec_call call = {NULL, NULL, NULL, NULL, NULL, NULL};
  if (get_id(req, node, "plan.nodes[0].tool_id", "tool_id", 1, &call.tool_id) ||
      get_id(req, node, "plan.nodes[0].id", "id", 0, &call.call_id))
    return 0;
  call.input = soulgw_json_get(node, "input");
  if (!call.input) {
    soulgw_json *empty = soulgw_json_object();
    if (!empty || soulgw_json_set(node, "input", empty))
      return soulgw_reply_error(req, SOULGW_API_UNKNOWN_INTERNAL, "out of memory");
    call.input = soulgw_json_get(node, "input");
  }
  return sg_exec_tool(req, &call);
}

/* The collaboration has been written: the envelope with its snapshot. */
static void collab_done(void *ud, sg_st st, soulgw_json *result, const char *msg) {
  soulgw_req *req = ud;
  if (st != SG_ST_OK || !result) {
    const char *generic = "out of memory";
    soulgw_api_error code =
        st == SG_ST_OK ? SOULGW_API_UNKNOWN_INTERNAL : sg_st_error(st, &generic);
    soulgw_json_free(result);
    soulgw_reply_error(req, code, "%s", msg ? msg : generic);
    return;
  }
  sg_buf b;
  sg_buf_init(&b, 0);
  sg_buf_puts(&b, "{\"success\":true,\"data\":");
  if (sg_json_write(&b, result)) b.failed = 1;
  sg_buf_puts(&b, ",\"error\":null,\"trace_id\":\"");
  sg_buf_json_escape(&b, req->id, (size_t)-1);
  sg_buf_puts(&b, "\"}");
  soulgw_json_free(result);
  size_t len;
  char *text = sg_buf_detach(&b, &len);
  if (!text) {
    soulgw_reply_error(req, SOULGW_API_UNKNOWN_INTERNAL, "out of memory building the answer");
    return;
  }
  sg_req_answer_typed(req, 200, text, len, "application/json");
}

/* POST /tenants/{tenant}/collab.execute */
int sg_route_legacy_collab_execute(soulgw_req *req, void *ud) {
  const sg_ctx *ctx = ud;
  soulgw_json *plan, *scope;
  const char *collab_id, *note = NULL;
  if (begin(req, &plan) || get_object(req, plan, "plan.scope", "scope", 1, &scope)) return 0;
  if (soulgw_json_get(scope, "collab_id")) {
    if (get_id(req, scope, "plan.scope.collab_id", "collab_id", 1, &collab_id)) return 0;
  } else if (get_id(req, scope, "plan.scope.collab_id", "id", 1, &collab_id)) {
    return 0;
  }
  const soulgw_json *participants = soulgw_json_get(scope, "participants");
  if (soulgw_json_typeof(participants) == SOULGW_JSON_NULL) participants = NULL;
  if (participants) {
    if (soulgw_json_typeof(participants) != SOULGW_JSON_ARRAY)
      return invalid(req, "plan.scope.participants must be an array, not %s",
                     sg_json_type_phrase(participants)), 0;
    if (soulgw_json_size(participants) > SG_LIST_MAX)
      return invalid(req, "plan.scope.participants has %zu elements; at most %d",
                     soulgw_json_size(participants), SG_LIST_MAX), 0;
    size_t i = 0;
    char name[64];
    for (const soulgw_json *p = soulgw_json_first(participants); p; p = soulgw_json_next(p), i++) {
      snprintf(name, sizeof name, "plan.scope.participants[%zu]", i);
      if (check_id(req, p, name)) return 0;
    }
  }
  const soulgw_json *context = soulgw_json_get(scope, "context");
  if (soulgw_json_typeof(context) == SOULGW_JSON_NULL) context = NULL;
  if (context && sg_json_deeper_than(context, SG_STORE_JSON_DEPTH_MAX))
    return invalid(req, "plan.scope.context nests deeper than %d levels of arrays and objects",
                   SG_STORE_JSON_DEPTH_MAX), 0;
  const soulgw_json *n = soulgw_json_get(scope, "note");
  if (n && soulgw_json_typeof(n) != SOULGW_JSON_NULL) {
    if (!(note = soulgw_json_string(n)))
      return invalid(req, "plan.scope.note must be a string, not %s", sg_json_type_phrase(n)), 0;
    if (strlen(note) > SG_NOTE_MAX)
      return invalid(req, "plan.scope.note is longer than %d bytes", SG_NOTE_MAX), 0;
  }
  const sg_conf *conf = req->snap->conf;
  sg_collab_limits lim = {conf->collab.max_timeline_entries, conf->collab.max_snapshot_bytes,
                          (int)conf->collab.timeline_window};
  if (soulgw_req_defer(req)) return 0;
  sg_store_collab_execute(ctx->store, req->tenant, collab_id, participants, context, note, &lim,
                          sg_wall_ms(), collab_done, req);
  return 0;
}
