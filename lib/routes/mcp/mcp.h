/*
 * mcp.h -- the parts of the MCP server (SPEC-protocols 2) and what they share: JSON-RPC 2.0
 * framing (jsonrpc.c), the transport and session checks with initialize and ping (mcp.c),
 * tools/list (tools_list.c) and tools/call (tools_call.c).  Sessions are session.h.
 *
 * Errors come in two kinds.  The transport's (no session, an unknown one, a bad
 * MCP-Protocol-Version) are HTTP errors in the mcp dialect, with id null, as the pipeline's
 * own refusals.  A message's (-32700 parse error, -32600 invalid request, -32601 unknown
 * method, -32602 invalid params, -32603 internal) are JSON-RPC errors echoing the request's id
 * where it has one; those of a well-formed request are answered with 200, as JSON-RPC over
 * HTTP does, those of a message that could not be read with 400.
 */
#ifndef SG_ROUTES_MCP_H
#define SG_ROUTES_MCP_H

#include "base/sg.h"
#include "pipeline/req.h"

/* JSON-RPC 2.0 error codes. */
#define SG_RPC_PARSE_ERROR -32700
#define SG_RPC_INVALID_REQUEST -32600
#define SG_RPC_METHOD_NOT_FOUND -32601
#define SG_RPC_INVALID_PARAMS -32602
#define SG_RPC_INTERNAL_ERROR -32603

/* What one POSTed message is. */
typedef enum sg_rpc_kind {
  SG_RPC_REQUEST,      /* method and id: answered */
  SG_RPC_NOTIFICATION, /* method, no id: 202 */
  SG_RPC_RESPONSE,     /* id and result or error, no method (the client answering): 202 */
  SG_RPC_INVALID       /* anything else: -32600 */
} sg_rpc_kind;

typedef struct sg_rpc_msg {
  sg_rpc_kind kind;
  const char *method;        /* REQUEST, NOTIFICATION */
  const soulgw_json *id;     /* REQUEST, RESPONSE: a string or a number, as sent */
  const soulgw_json *params; /* an object, or NULL when absent */
  char why[160];             /* INVALID: what is wrong, for the message */
} sg_rpc_msg;

/* Classifies a parsed message (never NULL). */
void sg_rpc_classify(const soulgw_json *msg, sg_rpc_msg *out);

/* Starts a success answer in b (initialised by the call): {"jsonrpc":"2.0","id":ID,"result":
 * -- the caller appends the result's JSON text, then sg_rpc_finish() answers. */
void sg_rpc_begin(sg_buf *b, const soulgw_json *id);
/* Closes the answer begun in b, answers 200 with it (or 500 when b failed) and frees b.  code
 * (static; NULL for none) is the soulgw error a result reports (a tool's failure), for the
 * access log. */
int sg_rpc_finish(soulgw_req *req, sg_buf *b, const char *code);

/* Answers a JSON-RPC error {"jsonrpc":"2.0","id":ID or null,"error":{"code":rpc,"message",
 * "data":{"code":<code's name>,"correlation_id"}}} with HTTP status.  Returns 0. */
int sg_rpc_error(soulgw_req *req, int status, int rpc, soulgw_api_error code,
                 const soulgw_json *id, const char *fmt, ...) SG_PRINTF(6, 7);

/* tools/list: the tenant's active registry, a page of at most SG_MCP_PAGE tools. */
#define SG_MCP_PAGE 100
int sg_mcp_tools_list(soulgw_req *req, const sg_rpc_msg *m);

/* tools/call {name, arguments, _meta}: the tool run as /api/tools/execute runs it, its outcome
 * as a CallToolResult. */
int sg_mcp_tools_call(soulgw_req *req, const sg_rpc_msg *m);

#endif
