/*
 * mcp.c -- POST and DELETE /mcp, the MCP server over the Streamable HTTP transport
 * (SPEC-protocols 2): one JSON-RPC message per POST, answered as application/json.
 *
 * A POST, after the pipeline (Origin, credentials, scopes, tenant):
 *   body not JSON                      400 -32700
 *   not one JSON-RPC message           400 -32600 (a batch included)
 *   initialize                         opens a session: its id in Mcp-Session-Id (503 when
 *                                      [mcp] max_sessions are open)
 *   no Mcp-Session-Id                  400
 *   unknown or expired session         404 (the client initializes again)
 *   another principal's or tenant's    403
 *   MCP-Protocol-Version unsupported   400
 *   a notification or a response       202, no body
 *   ping, tools/list, tools/call       200, the result; other methods 200 with -32601
 * DELETE with Mcp-Session-Id ends the session: 204 (400, 404, 403 as above).  GET is not routed
 * (405): this server opens no stream of its own.
 */
#include <stdio.h>
#include <string.h>

#include "pipeline/auth.h"
#include "routes/ctx.h"
#include "routes/routes.h"
#include "routes/mcp/mcp.h"
#include "routes/mcp/session.h"

/* The protocol revisions served, the newest first. */
static const char *const revisions[] = {"2025-11-25", "2025-06-18", "2025-03-26", NULL};

static const char *supported(const char *rev) {
  for (int i = 0; rev && revisions[i]; i++)
    if (strcmp(rev, revisions[i]) == 0) return revisions[i];
  return NULL;
}

/* Who a session belongs to: the principal's kind and id ("bearer:local"), so that a token and
 * an HMAC key of the same name stay apart; "" for an anonymous request. */
static const char *owner(soulgw_req *req) {
  const sg_principal *p = req->principal;
  if (!p) return "";
  const char *o = sg_arena_printf(&req->arena, "%s:%s", p->kind, p->id);
  return o ? o : p->id;
}

static uint64_t idle_ns(const soulgw_req *req) {
  return (uint64_t)req->snap->conf->mcp.session_idle_s * 1000000000u;
}

/* initialize: a new session, and what this server is. */
static int initialize(soulgw_req *req, const sg_ctx *ctx, const sg_rpc_msg *m) {
  const sg_conf *conf = req->snap->conf;
  const char *asked = soulgw_json_string(soulgw_json_get(m->params, "protocolVersion"));
  const char *rev = supported(asked);
  if (!rev) rev = revisions[0];
  char id[SG_MCP_SESSION_ID_LEN + 1];
  int rc = sg_mcp_session_open(ctx->mcp_sessions, owner(req), req->tenant, rev,
                               conf->mcp.max_sessions, idle_ns(req), id);
  if (rc == SG_MCP_FULL)
    return soulgw_reply_error(req, SOULGW_API_REQUEST_BUSY,
                              "%lld MCP sessions are open ([mcp] max_sessions); retry once one "
                              "has ended or expired",
                              conf->mcp.max_sessions);
  if (rc != SG_MCP_OK)
    return sg_rpc_error(req, 500, SG_RPC_INTERNAL_ERROR, SOULGW_API_UNKNOWN_INTERNAL, m->id,
                        "out of memory opening a session");
  soulgw_reply_header(req, "Mcp-Session-Id", id);
  sg_buf b;
  sg_rpc_begin(&b, m->id);
  sg_buf_printf(&b,
                "{\"protocolVersion\":\"%s\",\"capabilities\":{\"tools\":{\"listChanged\":"
                "false}},\"serverInfo\":{\"name\":\"soulgw\",\"version\":\"%s\"}",
                rev, soulgw_version());
  if (conf->mcp.instructions[0]) {
    sg_buf_puts(&b, ",\"instructions\":\"");
    sg_buf_json_escape(&b, conf->mcp.instructions, (size_t)-1);
    sg_buf_putc(&b, '"');
  }
  sg_buf_putc(&b, '}');
  return sg_rpc_finish(req, &b, NULL);
}

/* The session a later request names, checked; 0, or -1 when it has been answered. */
static int check_session(soulgw_req *req, const sg_ctx *ctx, int closing) {
  const char *sid = soulgw_req_header(req, "Mcp-Session-Id");
  if (!sid || !*sid)
    return soulgw_reply_error(req, SOULGW_API_REQUEST_BAD,
                              "Mcp-Session-Id is required: send initialize first, then its "
                              "Mcp-Session-Id on every request"),
           -1;
  int rc = closing ? sg_mcp_session_close(ctx->mcp_sessions, sid, owner(req), req->tenant,
                                          idle_ns(req))
                   : sg_mcp_session_use(ctx->mcp_sessions, sid, owner(req), req->tenant,
                                        idle_ns(req), NULL);
  switch (rc) {
    case SG_MCP_OK: return 0;
    case SG_MCP_OTHER_PRINCIPAL:
      soulgw_reply_error(req, SOULGW_API_AUTH_FORBIDDEN,
                         "MCP session %.40s belongs to another principal", sid);
      return -1;
    case SG_MCP_OTHER_TENANT:
      soulgw_reply_error(req, SOULGW_API_AUTH_FORBIDDEN,
                         "MCP session %.40s was opened for another tenant than %.128s", sid,
                         req->tenant);
      return -1;
    default:
      soulgw_reply_error(req, SOULGW_API_STORAGE_NOT_FOUND,
                         "MCP session %.40s is unknown or has expired: initialize again", sid);
      return -1;
  }
}

/* MCP-Protocol-Version, when sent: 0 when supported, else answered (-1). */
static int check_version(soulgw_req *req) {
  const char *v = soulgw_req_header(req, "MCP-Protocol-Version");
  if (!v || supported(v)) return 0;
  soulgw_reply_error(req, SOULGW_API_REQUEST_BAD,
                     "MCP-Protocol-Version %.40s is not supported; supported: %s, %s, %s", v,
                     revisions[0], revisions[1], revisions[2]);
  return -1;
}

/* The body as a message: 0, or -1 when it has been answered (-32700, -32600). */
static int read_message(soulgw_req *req, sg_rpc_msg *m) {
  size_t len = 0;
  const char *body = soulgw_req_body(req, &len);
  if (!req->json) {
    /* the pipeline left a body that is not JSON to this route: parsed again for its why */
    char why[160] = "empty body";
    soulgw_json *j = NULL;
    if (body && len) soulgw_json_parse(body, len, &j, why, sizeof why);
    soulgw_json_free(j);
    sg_rpc_error(req, 400, SG_RPC_PARSE_ERROR, SOULGW_API_REQUEST_BAD, NULL,
                 "Parse error: the body is not JSON (%s); send one JSON-RPC 2.0 message", why);
    return -1;
  }
  sg_rpc_classify(req->json, m);
  if (m->kind != SG_RPC_INVALID) return 0;
  sg_rpc_error(req, 400, SG_RPC_INVALID_REQUEST, SOULGW_API_REQUEST_BAD, m->id,
               "Invalid Request: %s", m->why);
  return -1;
}

/* A request of an open session. */
static int dispatch(soulgw_req *req, const sg_rpc_msg *m) {
  if (strcmp(m->method, "tools/call") == 0) return sg_mcp_tools_call(req, m);
  if (strcmp(m->method, "tools/list") == 0) return sg_mcp_tools_list(req, m);
  if (strcmp(m->method, "ping") == 0) {
    sg_buf b;
    sg_rpc_begin(&b, m->id);
    sg_buf_puts(&b, "{}");
    return sg_rpc_finish(req, &b, NULL);
  }
  return sg_rpc_error(req, 200, SG_RPC_METHOD_NOT_FOUND, SOULGW_API_REQUEST_NOT_IMPLEMENTED,
                      m->id, "Method not found: %.200s", m->method);
}

static int post(soulgw_req *req, const sg_ctx *ctx) {
  sg_rpc_msg m;
  if (read_message(req, &m) || check_version(req)) return 0;
  if (m.kind == SG_RPC_REQUEST && strcmp(m.method, "initialize") == 0)
    return initialize(req, ctx, &m);
  if (check_session(req, ctx, 0)) return 0;
  if (m.kind != SG_RPC_REQUEST) return sg_req_static(req, 202, "", 0);
  return dispatch(req, &m);
}

int sg_route_mcp(soulgw_req *req, void *ud) {
  const sg_ctx *ctx = ud;
  if (strcmp(req->method, "DELETE") != 0) return post(req, ctx);
  if (check_version(req) || check_session(req, ctx, 1)) return 0;
  return sg_req_static(req, 204, "", 0);
}
