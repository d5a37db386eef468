/*
 * tools_call.c -- MCP tools/call {name, arguments, _meta}: the tool runs through the one tool
 * pipeline of /api/tools/execute (tool_exec.h: scopes, input schema and size, concurrency,
 * idempotency, metrics), whose outcomes come back here through its ops and are answered as a
 * CallToolResult:
 *
 *   success            {content:[{type:"text",text:<result as compact JSON>}],
 *                       structuredContent:<result, when it is an object>, isError:false}
 *   a tool's failure   {content:[{type:"text",text:"<soulgw code>: <message>"}], isError:true}
 *                      (input invalid or too large, a scope missing, the tool failing or timing
 *                      out, max_concurrency reached, an idempotency key reused ...)
 *   not registered     JSON-RPC error -32602 "Unknown tool: NAME"
 *   the gateway's own  HTTP 500, JSON-RPC error -32603
 *
 * _meta may carry "soulgw/idempotency_key" and "soulgw/call_id" (identifiers, as the fields
 * idempotency_key and call_id of /api/tools/execute).  MCP's keys are kept apart from those of
 * the other surfaces (recorded as "mcp/KEY"), since what is recorded and replayed is the
 * CallToolResult.
 */
#include <string.h>

#include "routes/api/tool_exec.h"
#include "routes/fields.h"
#include "routes/mcp/mcp.h"

#define META_IDEMPOTENCY_KEY "soulgw/idempotency_key"
#define META_CALL_ID "soulgw/call_id"

/* What the outcomes need, in the request's arena. */
typedef struct call {
  const soulgw_json *id; /* the JSON-RPC id (part of the request body) */
  const char *name;
} call;

static void put_text_content(sg_buf *b, const char *text, size_t len) {
  sg_buf_puts(b, "{\"content\":[{\"type\":\"text\",\"text\":\"");
  sg_buf_json_escape(b, text, len);
  sg_buf_puts(b, "\"}]");
}

static int is_object_text(const char *s, size_t len) {
  size_t i = 0;
  while (i < len && (s[i] == ' ' || s[i] == '\n' || s[i] == '\r' || s[i] == '\t')) i++;
  return i < len && s[i] == '{';
}

static char *result_text(soulgw_req *req, void *ud, const char *result, size_t n, size_t *len) {
  (void)req;
  (void)ud;
  sg_buf b;
  sg_buf_init(&b, 0);
  sg_buf_reserve(&b, 2 * n + 96);
  put_text_content(&b, result, n);
  if (is_object_text(result, n)) {
    sg_buf_puts(&b, ",\"structuredContent\":");
    sg_buf_append(&b, result, n);
  }
  sg_buf_puts(&b, ",\"isError\":false}");
  return sg_buf_detach(&b, len);
}

static void ok(soulgw_req *req, void *ud, const char *text, size_t len, int replayed) {
  const call *c = ud;
  (void)replayed; /* told by the Idempotent-Replayed header */
  sg_buf b;
  sg_rpc_begin(&b, c->id);
  sg_buf_append(&b, text, len);
  sg_rpc_finish(req, &b, NULL);
}

static void fail(soulgw_req *req, void *ud, soulgw_api_error code, const char *msg) {
  const call *c = ud;
  if (code == SOULGW_API_POLICY_DENY_TOOL) {
    sg_rpc_error(req, 200, SG_RPC_INVALID_PARAMS, code, c->id, "Unknown tool: %.256s", c->name);
    return;
  }
  if (code == SOULGW_API_UNKNOWN_INTERNAL) {
    sg_rpc_error(req, 500, SG_RPC_INTERNAL_ERROR, code, c->id, "%s", msg);
    return;
  }
  const char *name = soulgw_api_error_code(code);
  sg_buf b, text;
  sg_buf_init(&text, 0);
  sg_buf_printf(&text, "%s: %s", name, msg);
  sg_rpc_begin(&b, c->id);
  put_text_content(&b, text.ptr ? text.ptr : "", text.len);
  sg_buf_puts(&b, ",\"isError\":true}");
  if (sg_buf_failed(&text)) b.failed = 1;
  sg_buf_free(&text);
  sg_rpc_finish(req, &b, name);
}

static const sg_exec_ops mcp_ops = {result_text, ok, fail};

/* An identifier of _meta (NULL when absent); -1 when it is not one (answered). */
static int meta_id(soulgw_req *req, const sg_rpc_msg *m, const soulgw_json *meta,
                   const char *key, const char **out) {
  const soulgw_json *v = soulgw_json_get(meta, key);
  *out = NULL;
  if (!v || soulgw_json_typeof(v) == SOULGW_JSON_NULL) return 0;
  const char *s = soulgw_json_string(v);
  int bad = !s || !*s || strlen(s) > SG_ID_MAX || sg_is_blank(s);
  for (const char *p = s; !bad && *p; p++) bad = (unsigned char)*p < 0x20 || *p == 0x7f;
  if (bad) {
    sg_rpc_error(req, 200, SG_RPC_INVALID_PARAMS, SOULGW_API_SCHEMA_VALIDATION_FAILED, m->id,
                 "Invalid params: _meta[\"%s\"] must be a string of 1 to %d printable bytes",
                 key, SG_ID_MAX);
    return -1;
  }
  *out = s;
  return 0;
}

int sg_mcp_tools_call(soulgw_req *req, const sg_rpc_msg *m) {
  soulgw_json *params = soulgw_json_get(req->json, "params"); /* m->params, writable */
  const char *name = soulgw_json_string(soulgw_json_get(params, "name"));
  if (!name || !*name)
    return sg_rpc_error(req, 200, SG_RPC_INVALID_PARAMS, SOULGW_API_SCHEMA_VALIDATION_FAILED,
                        m->id, "Invalid params: name is required (the tool's name, a string)");
  const soulgw_json *args = soulgw_json_get(params, "arguments");
  if (!args || soulgw_json_typeof(args) == SOULGW_JSON_NULL) {
    soulgw_json *empty = soulgw_json_object(); /* kept with the body until the answer */
    if (!empty || soulgw_json_set(params, "arguments", empty))
      return sg_rpc_error(req, 500, SG_RPC_INTERNAL_ERROR, SOULGW_API_UNKNOWN_INTERNAL, m->id,
                          "out of memory");
    args = soulgw_json_get(params, "arguments");
  } else if (soulgw_json_typeof(args) != SOULGW_JSON_OBJECT) {
    return sg_rpc_error(req, 200, SG_RPC_INVALID_PARAMS, SOULGW_API_SCHEMA_VALIDATION_FAILED,
                        m->id, "Invalid params: arguments must be an object, not %s",
                        sg_json_type_phrase(args));
  }
  const soulgw_json *meta = soulgw_json_get(params, "_meta");
  const char *key, *call_id;
  if (meta_id(req, m, meta, META_IDEMPOTENCY_KEY, &key) ||
      meta_id(req, m, meta, META_CALL_ID, &call_id))
    return 0;
  call *c = sg_arena_alloc(&req->arena, sizeof *c);
  const char *recorded = key ? sg_arena_printf(&req->arena, "mcp/%s", key) : NULL;
  if (!c || (key && !recorded))
    return sg_rpc_error(req, 500, SG_RPC_INTERNAL_ERROR, SOULGW_API_UNKNOWN_INTERNAL, m->id,
                        "out of memory");
  c->id = m->id;
  c->name = name;
  sg_exec_call ec = {.tool_id = name, .input = args, .call_id = call_id, .idem_key = recorded,
                     .ops = &mcp_ops, .ud = c};
  return sg_exec_tool(req, &ec);
}
