/*
 * tools_list.c -- MCP tools/list: the tenant's active registry as MCP Tool objects, a page of
 * at most SG_MCP_PAGE in registry order.
 *
 *   name           the tool id
 *   title          display_name (when not empty)
 *   description    description (when not empty)
 *   inputSchema    input_schema when its root "type" is "object"; a schema without a root
 *                  "type" gets "type": "object" added; any other (and none) is {"type":"object"}
 *                  -- clients accept object schemas only, and arguments are an object anyway
 *   outputSchema   output_schema, only when its root "type" is "object" (clients refuse a whole
 *                  list that carries any other)
 *   annotations    readOnlyHint: side_effect is "None"; idempotentHint: idempotency is not
 *                  "None"
 *
 * The cursor is the decimal offset of the next page, as nextCursor gave it; an offset past the
 * end (of a registry that shrank meanwhile) gives an empty last page; anything else is -32602.
 */
#include <string.h>

#include "base/json_write.h"
#include "routes/ctx.h"
#include "routes/mcp/mcp.h"

static int is_object_schema(const soulgw_json *schema) {
  const char *t = soulgw_json_string(soulgw_json_get(schema, "type"));
  return t && strcmp(t, "object") == 0;
}

static void put_key_string(sg_buf *b, const char *key, const char *s) {
  sg_buf_puts(b, key);
  sg_buf_putc(b, '"');
  sg_buf_json_escape(b, s, (size_t)-1);
  sg_buf_putc(b, '"');
}

static void put_schema(sg_buf *b, const soulgw_json *schema) {
  if (sg_json_write(b, schema)) b->failed = 1;
}

static void put_input_schema(sg_buf *b, const soulgw_json *schema) {
  if (is_object_schema(schema)) {
    put_schema(b, schema);
    return;
  }
  sg_buf_puts(b, "{\"type\":\"object\"");
  if (soulgw_json_typeof(schema) == SOULGW_JSON_OBJECT && !soulgw_json_get(schema, "type")) {
    for (const soulgw_json *v = soulgw_json_first(schema); v; v = soulgw_json_next(v)) {
      sg_buf_putc(b, ',');
      sg_json_write_string(b, soulgw_json_key(v));
      sg_buf_putc(b, ':');
      put_schema(b, v);
    }
  }
  sg_buf_putc(b, '}');
}

static int is(const sg_manifest *m, const char *key, const char *value) {
  const char *s = soulgw_json_string(soulgw_json_get(m->json, key));
  return s && strcmp(s, value) == 0;
}

static void put_tool(sg_buf *b, const sg_manifest *m) {
  put_key_string(b, "{\"name\":", m->id);
  if (m->display_name && m->display_name[0]) put_key_string(b, ",\"title\":", m->display_name);
  if (m->description && m->description[0])
    put_key_string(b, ",\"description\":", m->description);
  sg_buf_puts(b, ",\"inputSchema\":");
  put_input_schema(b, m->input_schema);
  if (is_object_schema(m->output_schema)) {
    sg_buf_puts(b, ",\"outputSchema\":");
    put_schema(b, m->output_schema);
  }
  sg_buf_printf(b, ",\"annotations\":{\"readOnlyHint\":%s,\"idempotentHint\":%s}}",
                is(m, "side_effect", "None") ? "true" : "false",
                is(m, "idempotency", "None") ? "false" : "true");
}

/* The offset a cursor names: 0 (and *from) or -1 when it is not one this server gives. */
static int read_cursor(const soulgw_json *cursor, size_t *from) {
  *from = 0;
  if (!cursor || soulgw_json_typeof(cursor) == SOULGW_JSON_NULL) return 0;
  const char *s = soulgw_json_string(cursor);
  if (!s || !*s || strlen(s) > 9 || (s[0] == '0' && s[1])) return -1;
  size_t n = 0;
  for (; *s; s++) {
    if (*s < '0' || *s > '9') return -1;
    n = n * 10 + (size_t)(*s - '0');
  }
  *from = n;
  return 0;
}

int sg_mcp_tools_list(soulgw_req *req, const sg_rpc_msg *m) {
  size_t from;
  const soulgw_json *cursor = soulgw_json_get(m->params, "cursor");
  if (read_cursor(cursor, &from))
    return sg_rpc_error(req, 200, SG_RPC_INVALID_PARAMS, SOULGW_API_SCHEMA_VALIDATION_FAILED,
                        m->id, "Invalid params: cursor is not one that tools/list gave");
  sg_toolset *set = sg_registry_tenant(sg_ctx_of(req)->registry, req->tenant);
  size_t n = sg_toolset_size(set);
  size_t end = from + SG_MCP_PAGE < n ? from + SG_MCP_PAGE : n;
  sg_buf b;
  sg_rpc_begin(&b, m->id);
  sg_buf_puts(&b, "{\"tools\":[");
  for (size_t i = from; i < end; i++) {
    if (i > from) sg_buf_putc(&b, ',');
    put_tool(&b, sg_toolset_at(set, i));
  }
  sg_buf_putc(&b, ']');
  if (end < n) sg_buf_printf(&b, ",\"nextCursor\":\"%zu\"", end);
  sg_buf_putc(&b, '}');
  sg_toolset_release(set);
  return sg_rpc_finish(req, &b, NULL);
}
