/*
 * tools.c -- the tool routes of SPEC 4.2: execute, preflight, list.  They read the tenant's
 * active registry in memory (never the store, except for idempotency records) and run tools
 * through tool_exec.c.  Execute reads its common body from the text (tool_scan.c), the rest
 * through the field table below.
 */
#include <stdio.h>
#include <string.h>

#include "routes/ctx.h"
#include "routes/fields.h"
#include "routes/routes.h"
#include "routes/api/tool_exec.h"
#include "routes/api/tool_scan.h"

/* POST /api/tools/execute {tool_id, tenant, input, call_id, idempotency_key, actor, origin}.
 * An absent input is {} (an explicit null is null).  actor {kind, subject_id, claims} and
 * origin (a string or an object) are checked for shape only: the gateway logs neither and
 * passes neither to tools. */
typedef struct execute_in {
  const char *tool_id, *call_id, *idempotency_key;
  const soulgw_json *actor, *origin;
} execute_in;

typedef struct actor_in {
  const char *kind, *subject_id;
  const soulgw_json *claims;
} actor_in;

static const sg_field_spec actor_fields[] = {
    {SG_F_ID(actor_in, kind)},
    {SG_F_ID(actor_in, subject_id)},
    {SG_F_OBJECT(actor_in, claims)},
    {0}};

static int check_actor(soulgw_req *req, void *out) {
  const execute_in *in = out;
  actor_in a;
  return in->actor ? sg_fields_read(req, in->actor, "actor", actor_fields, &a) : 0;
}

static int check_origin(soulgw_req *req, void *out) {
  const execute_in *in = out;
  soulgw_json_type t = soulgw_json_typeof(in->origin);
  if (in->origin && t != SOULGW_JSON_STRING && t != SOULGW_JSON_OBJECT)
    return sg_invalid(req, "origin must be a string or an object");
  return 0;
}

static const sg_field_spec execute_fields[] = {
    {SG_F_ID(execute_in, tool_id), .required = 1},
    {SG_F_ID(execute_in, call_id)},
    {SG_F_ID(execute_in, idempotency_key)},
    {SG_F_OBJECT(execute_in, actor), .check = check_actor},
    {SG_F_VALUE(execute_in, origin), .check = check_origin},
    {0}};

/* The body's "input" as a tree: {} when absent, attached to the body so that it lives until
 * the request ends.  0, or -1 when out of memory. */
static int body_input(soulgw_req *req, const soulgw_json **input) {
  const soulgw_json *body;
  if (sg_req_json(req, &body)) return -1;
  *input = soulgw_json_get(body, "input");
  if (*input) return 0;
  soulgw_json *empty = soulgw_json_object();
  if (!empty || soulgw_json_set(req->json, "input", empty)) return -1;
  *input = empty;
  return 0;
}

int sg_route_tool_execute(soulgw_req *req, void *ud) {
  (void)ud;
  sg_exec_call call = {0};
  call.input_tree = body_input;
  /* the common body from its text (tool_scan.h); anything else through the field table */
  if (sg_tool_scan(req, &call) == 0) return sg_exec_tool(req, &call);
  execute_in in;
  if (sg_fields_body(req, execute_fields, &in)) return 0;
  call = (sg_exec_call){.tool_id = in.tool_id, .call_id = in.call_id,
                        .idem_key = in.idempotency_key};
  if (body_input(req, &call.input))
    return soulgw_reply_error(req, SOULGW_API_UNKNOWN_INTERNAL, "out of memory");
  return sg_exec_tool(req, &call);
}

/* POST /api/tools/preflight {tool_id, tenant, input}: whether the tool may run, without
 * running it.  Answers 200 in every case where the request itself is well-formed. */
typedef struct preflight_in {
  const char *tool_id;
} preflight_in;

static const sg_field_spec preflight_fields[] = {{SG_F_ID(preflight_in, tool_id), .required = 1},
                                                 {0}};

int sg_route_tool_preflight(soulgw_req *req, void *ud) {
  const sg_ctx *ctx = ud;
  preflight_in in;
  if (sg_fields_body(req, preflight_fields, &in)) return 0;
  const soulgw_json *input = soulgw_json_get(req->json, "input");
  sg_toolset *ref = NULL;
  const sg_manifest *m = sg_registry_find(ctx->registry, req->tenant, in.tool_id, &ref);
  const char *reason = "tool_not_registered";
  char detail[700] = "";
  if (m) {
    soulgw_api_error code;
    size_t bytes;
    reason = sg_exec_check(req, m, input, &code, &bytes, detail, sizeof detail);
  } else {
    snprintf(detail, sizeof detail, "tool %.256s is not registered for tenant %.128s", in.tool_id,
             req->tenant);
  }
  soulgw_json *o = soulgw_json_object();
  int failed = 0;
  failed |= soulgw_json_set(o, "allow", soulgw_json_new_bool(reason == NULL));
  failed |= soulgw_json_set(o, "tool_id", soulgw_json_new_string(in.tool_id));
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
