/*
 * tools.c -- the tool routes of SPEC 4.2: execute, preflight, list.  They read the tenant's
 * active registry in memory (never the store, except for idempotency records) and run tools
 * through tool_exec.c.
 */
#include <stdio.h>
#include <string.h>

#include "routes/ctx.h"
#include "routes/fields.h"
#include "routes/routes.h"
#include "routes/api/tool_exec.h"

/* An optional identifier field.  The common getter formats the field's name up front, which
 * the execute path can skip when the field is absent, as it usually is. */
static int opt_id(soulgw_req *req, const soulgw_json *body, const char *key, const char **out) {
  *out = NULL;
  return soulgw_json_get(body, key) ? sg_field_id(req, body, NULL, key, 0, out) : 0;
}

/* actor {kind, subject_id, claims} and origin (a string or an object) are checked for shape
 * only: the gateway logs neither and passes neither to tools. */
static int check_actor_origin(soulgw_req *req, const soulgw_json *body) {
  const soulgw_json *actor, *claims, *origin;
  const char *kind, *subject;
  if (!soulgw_json_get(body, "actor") && !soulgw_json_get(body, "origin")) return 0;
  if (sg_field_object(req, body, NULL, "actor", &actor) ||
      sg_field_id(req, actor, "actor", "kind", 0, &kind) ||
      sg_field_id(req, actor, "actor", "subject_id", 0, &subject) ||
      sg_field_object(req, actor, "actor", "claims", &claims))
    return -1;
  origin = soulgw_json_get(body, "origin");
  soulgw_json_type t = soulgw_json_typeof(origin);
  if (origin && t != SOULGW_JSON_NULL && t != SOULGW_JSON_STRING && t != SOULGW_JSON_OBJECT) {
    soulgw_reply_error(req, SOULGW_API_SCHEMA_VALIDATION_FAILED,
                       "origin must be a string or an object");
    return -1;
  }
  return 0;
}

/* POST /api/tools/execute {tool_id, tenant, input, call_id, idempotency_key, actor, origin}.
 * An absent input is {} (an explicit null is null). */
int sg_route_tool_execute(soulgw_req *req, void *ud) {
  (void)ud;
  const soulgw_json *body;
  sg_exec_call call = {NULL, NULL, NULL, NULL};
  if (sg_fields_begin(req, &body) || sg_field_id(req, body, NULL, "tool_id", 1, &call.tool_id) ||
      opt_id(req, body, "call_id", &call.call_id) ||
      opt_id(req, body, "idempotency_key", &call.idem_key) ||
      check_actor_origin(req, body))
    return 0;
  call.input = soulgw_json_get(body, "input");
  if (!call.input) {
    /* kept until the request ends: attached to the body */
    soulgw_json *empty = soulgw_json_object();
    if (!empty || soulgw_json_set(req->json, "input", empty))
      return soulgw_reply_error(req, SOULGW_API_UNKNOWN_INTERNAL, "out of memory");
    call.input = soulgw_json_get(body, "input");
  }
  return sg_exec_tool(req, &call);
}

/* POST /api/tools/preflight {tool_id, tenant, input}: whether the tool may run, without
 * running it.  Answers 200 in every case where the request itself is well-formed. */
int sg_route_tool_preflight(soulgw_req *req, void *ud) {
  const sg_ctx *ctx = ud;
  const soulgw_json *body, *input;
  const char *tool_id;
  if (sg_fields_begin(req, &body) || sg_field_id(req, body, NULL, "tool_id", 1, &tool_id))
    return 0;
  input = soulgw_json_get(body, "input");
  sg_toolset *ref = NULL;
  const sg_manifest *m = sg_registry_find(ctx->registry, req->tenant, tool_id, &ref);
  const char *reason = "tool_not_registered";
  char detail[700] = "";
  if (m) {
    soulgw_api_error code;
    size_t bytes;
    reason = sg_exec_check(req, m, input, &code, &bytes, detail, sizeof detail);
  } else {
    snprintf(detail, sizeof detail, "tool %.256s is not registered for tenant %.128s", tool_id,
             req->tenant);
  }
  soulgw_json *o = soulgw_json_object();
  int failed = 0;
  failed |= soulgw_json_set(o, "allow", soulgw_json_new_bool(reason == NULL));
  failed |= soulgw_json_set(o, "tool_id", soulgw_json_new_string(tool_id));
  failed |= soulgw_json_set(o, "tenant", soulgw_json_new_string(req->tenant));
  failed |= soulgw_json_set(o, "reason", soulgw_json_new_string(reason ? reason : "allowed"));
  failed |= soulgw_json_set(o, "tool_version",
                            m ? soulgw_json_new_string(m->version) : soulgw_json_null());
  if (reason) failed |= soulgw_json_set(o, "detail", soulgw_json_new_string(detail));
  sg_toolset_release(ref);
  if (failed) {
    soulgw_json_free(o);
    return soulgw_reply_error(req, SOULGW_API_UNKNOWN_INTERNAL, "out of memory");
  }
  return soulgw_reply_json(req, 200, o);
}

/* GET|POST /api/tools/list: the tenant's active tools, in registry order. */
int sg_route_tool_list(soulgw_req *req, void *ud) {
  const sg_ctx *ctx = ud;
  const soulgw_json *body;
  if (sg_fields_begin(req, &body)) return 0;
  sg_toolset *set = sg_registry_tenant(ctx->registry, req->tenant);
  soulgw_json *o = soulgw_json_object(), *tools = soulgw_json_array();
  int failed = !tools;
  for (size_t i = 0; i < sg_toolset_size(set) && !failed; i++) {
    const sg_manifest *m = sg_toolset_at(set, i);
    soulgw_json *t = soulgw_json_object();
    failed |= soulgw_json_set(t, "tool_id", soulgw_json_new_string(m->id));
    failed |= soulgw_json_set(t, "version", soulgw_json_new_string(m->version));
    failed |= soulgw_json_set(t, "display_name", soulgw_json_new_string(m->display_name));
    failed |= soulgw_json_set(t, "description", soulgw_json_new_string(m->description));
    failed |= soulgw_json_set(t, "tags", soulgw_json_dup(m->tags));
    failed |= soulgw_json_push(tools, t);
  }
  failed |= soulgw_json_set(o, "tools", tools);
  failed |= soulgw_json_set(o, "registry_version",
                            set ? soulgw_json_new_string(sg_toolset_version(set))
                                : soulgw_json_null());
  sg_toolset_release(set);
  if (failed) {
    soulgw_json_free(o);
    return soulgw_reply_error(req, SOULGW_API_UNKNOWN_INTERNAL, "out of memory");
  }
  return soulgw_reply_json(req, 200, o);
}
