/*
 * jsonrpc.c -- JSON-RPC 2.0 framing for the MCP server (see mcp.h): what a POSTed message is,
 * and the answers, success or error, that echo its id exactly as it was sent.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "base/json_write.h"
#include "routes/mcp/mcp.h"

static int invalid(sg_rpc_msg *out, const char *why) {
  out->kind = SG_RPC_INVALID;
  sg_strlcpy(out->why, why, sizeof out->why);
  return 0;
}

/* A usable id: a string or a number (MCP forbids null). */
static int id_ok(const soulgw_json *id) {
  soulgw_json_type t = soulgw_json_typeof(id);
  return t == SOULGW_JSON_STRING || t == SOULGW_JSON_NUMBER;
}

void sg_rpc_classify(const soulgw_json *msg, sg_rpc_msg *out) {
  memset(out, 0, sizeof *out);
  if (soulgw_json_typeof(msg) == SOULGW_JSON_ARRAY) {
    invalid(out, "a batch (JSON array) is not accepted: send one JSON-RPC message per POST");
    return;
  }
  if (soulgw_json_typeof(msg) != SOULGW_JSON_OBJECT) {
    invalid(out, "the body must be a JSON-RPC 2.0 message (an object)");
    return;
  }
  const soulgw_json *method = soulgw_json_get(msg, "method");
  const soulgw_json *id = soulgw_json_get(msg, "id");
  const soulgw_json *params = soulgw_json_get(msg, "params");
  out->id = id_ok(id) ? id : NULL; /* echoed by an error answer too */
  const char *version = soulgw_json_string(soulgw_json_get(msg, "jsonrpc"));
  if (!version || strcmp(version, "2.0") != 0) {
    invalid(out, "jsonrpc must be \"2.0\"");
    return;
  }
  if (!method) {
    if (!out->id || !(soulgw_json_get(msg, "result") || soulgw_json_get(msg, "error"))) {
      invalid(out, "a message needs a method (a request or notification), or an id with a "
                   "result or error (a response)");
      return;
    }
    out->kind = SG_RPC_RESPONSE;
    return;
  }
  if (!(out->method = soulgw_json_string(method))) {
    invalid(out, "method must be a string");
    return;
  }
  if (id && !out->id) {
    invalid(out, "id must be a string or a number");
    return;
  }
  if (params && soulgw_json_typeof(params) != SOULGW_JSON_OBJECT) {
    invalid(out, "params must be an object");
    return;
  }
  out->params = params;
  out->kind = id ? SG_RPC_REQUEST : SG_RPC_NOTIFICATION;
}

static void put_id(sg_buf *b, const soulgw_json *id) {
  if (!id || sg_json_write(b, id)) sg_buf_puts(b, "null");
}

void sg_rpc_begin(sg_buf *b, const soulgw_json *id) {
  sg_buf_init(b, 0);
  sg_buf_puts(b, "{\"jsonrpc\":\"2.0\",\"id\":");
  put_id(b, id);
  sg_buf_puts(b, ",\"result\":");
}

int sg_rpc_finish(soulgw_req *req, sg_buf *b, const char *code) {
  sg_buf_putc(b, '}');
  if (sg_buf_failed(b)) {
    sg_buf_free(b);
    return sg_rpc_error(req, 500, SG_RPC_INTERNAL_ERROR, SOULGW_API_UNKNOWN_INTERNAL, NULL,
                        "out of memory building the answer");
  }
  size_t len;
  char *text = sg_buf_detach(b, &len);
  if (code) return sg_req_answer_error(req, 200, text, len, code), 0;
  return sg_req_answer_typed(req, 200, text, len, "application/json"), 0;
}

int sg_rpc_error(soulgw_req *req, int status, int rpc, soulgw_api_error code,
                 const soulgw_json *id, const char *fmt, ...) {
  char msg[1024];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  const char *name = soulgw_api_error_code(code);
  sg_buf b;
  sg_buf_init(&b, 0);
  sg_buf_puts(&b, "{\"jsonrpc\":\"2.0\",\"id\":");
  put_id(&b, id);
  sg_buf_printf(&b, ",\"error\":{\"code\":%d,\"message\":\"", rpc);
  sg_buf_json_escape(&b, msg, (size_t)-1);
  sg_buf_printf(&b, "\",\"data\":{\"code\":\"%s\",\"correlation_id\":\"", name);
  sg_buf_json_escape(&b, soulgw_req_id(req), (size_t)-1);
  sg_buf_puts(&b, "\"}}}");
  if (sg_buf_failed(&b)) {
    sg_buf_free(&b);
    return soulgw_reply_error(req, SOULGW_API_UNKNOWN_INTERNAL, "out of memory"), 0;
  }
  size_t len;
  char *text = sg_buf_detach(&b, &len);
  return sg_req_answer_error(req, status, text, len, name), 0;
}
