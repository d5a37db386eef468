/*
 * dialect.c -- one render function per error dialect (see dialect.h), in a table indexed by
 * the dialect.
 */
#include "pipeline/dialect.h"

static void put_string(sg_buf *b, const char *s, size_t max_in) {
  sg_buf_putc(b, '"');
  sg_buf_json_escape(b, s, max_in);
  sg_buf_putc(b, '"');
}

/* SPEC 4: {"code","message","correlation_id"[,"path"]} */
static void render_soulgw(sg_buf *b, const sg_error_view *e) {
  sg_buf_puts(b, "{\"code\":");
  put_string(b, e->code, (size_t)-1);
  sg_buf_puts(b, ",\"message\":");
  put_string(b, e->message, 1024);
  sg_buf_puts(b, ",\"correlation_id\":");
  put_string(b, e->request_id, (size_t)-1);
  if (e->path) {
    sg_buf_puts(b, ",\"path\":");
    put_string(b, e->path, 256);
  }
  sg_buf_putc(b, '}');
}

/* soulseed-agi: {"success":false,"data":null,"error":{"code","message"},"trace_id"} */
static void render_legacy(sg_buf *b, const sg_error_view *e) {
  sg_buf_puts(b, "{\"success\":false,\"data\":null,\"error\":{\"code\":");
  put_string(b, e->code, (size_t)-1);
  sg_buf_puts(b, ",\"message\":");
  put_string(b, e->message, 1024);
  sg_buf_puts(b, "},\"trace_id\":");
  put_string(b, e->request_id, (size_t)-1);
  sg_buf_putc(b, '}');
}

const char *sg_dialect_openai_type(int status) {
  switch (status) {
    case 400: case 413: case 415: case 422: return "invalid_request_error";
    case 401: return "authentication_error";
    case 403: return "permission_error";
    case 404: return "not_found_error";
    case 409: return "conflict_error";
    case 429: return "rate_limit_error";
    default: break;
  }
  return status >= 500 ? "api_error" : "invalid_request_error";
}

/* OpenAI: {"error":{"message","type","param":null,"code"}} */
static void render_openai(sg_buf *b, const sg_error_view *e) {
  sg_buf_puts(b, "{\"error\":{\"message\":");
  put_string(b, e->message, 1024);
  sg_buf_puts(b, ",\"type\":");
  put_string(b, sg_dialect_openai_type(e->status), (size_t)-1);
  sg_buf_puts(b, ",\"param\":null,\"code\":");
  put_string(b, e->code, (size_t)-1);
  sg_buf_puts(b, "}}");
}

/* -32600 invalid request for what the client sent wrong, -32001 (server-defined) for a refused
 * credential or scope, -32002 for a limit, -32603 internal for the gateway's own failures,
 * -32000 for the rest. */
int sg_dialect_jsonrpc_code(int status) {
  switch (status) {
    case 400: case 413: case 415: case 422: return -32600;
    case 401: case 403: return -32001;
    case 429: return -32002;
    default: break;
  }
  return status >= 500 ? -32603 : -32000;
}

/* JSON-RPC 2.0: {"jsonrpc":"2.0","id":null,"error":{"code","message","data":{"code",
 * "correlation_id"}}} */
static void render_mcp(sg_buf *b, const sg_error_view *e) {
  sg_buf_printf(b, "{\"jsonrpc\":\"2.0\",\"id\":null,\"error\":{\"code\":%d,\"message\":",
                sg_dialect_jsonrpc_code(e->status));
  put_string(b, e->message, 1024);
  sg_buf_puts(b, ",\"data\":{\"code\":");
  put_string(b, e->code, (size_t)-1);
  sg_buf_puts(b, ",\"correlation_id\":");
  put_string(b, e->request_id, (size_t)-1);
  sg_buf_puts(b, "}}}");
}

#define OOM_SOULGW "{\"code\":\"UNKNOWN.INTERNAL\",\"message\":\"out of memory\"}"
#define OOM_LEGACY                                                                              \
  "{\"success\":false,\"data\":null,\"error\":{\"code\":\"UNKNOWN.INTERNAL\",\"message\":"    \
  "\"out of memory\"},\"trace_id\":null}"
#define OOM_OPENAI                                                                              \
  "{\"error\":{\"message\":\"out of memory\",\"type\":\"api_error\",\"param\":null,"        \
  "\"code\":\"UNKNOWN.INTERNAL\"}}"
#define OOM_MCP                                                                                 \
  "{\"jsonrpc\":\"2.0\",\"id\":null,\"error\":{\"code\":-32603,\"message\":\"out of memory\","  \
  "\"data\":{\"code\":\"UNKNOWN.INTERNAL\"}}}"

static const struct {
  void (*render)(sg_buf *b, const sg_error_view *e);
  const char *oom;
  size_t oom_len;
} dialects[SG_DIALECT_COUNT] = {
    [SG_DIALECT_SOULGW] = {render_soulgw, OOM_SOULGW, sizeof OOM_SOULGW - 1},
    [SG_DIALECT_LEGACY] = {render_legacy, OOM_LEGACY, sizeof OOM_LEGACY - 1},
    [SG_DIALECT_OPENAI] = {render_openai, OOM_OPENAI, sizeof OOM_OPENAI - 1},
    [SG_DIALECT_MCP] = {render_mcp, OOM_MCP, sizeof OOM_MCP - 1},
};

void sg_dialect_render(sg_dialect d, sg_buf *b, const sg_error_view *e) {
  dialects[(unsigned)d < SG_DIALECT_COUNT ? d : SG_DIALECT_SOULGW].render(b, e);
}

const char *sg_dialect_oom(sg_dialect d, size_t *len) {
  if ((unsigned)d >= SG_DIALECT_COUNT) d = SG_DIALECT_SOULGW;
  *len = dialects[d].oom_len;
  return dialects[d].oom;
}
