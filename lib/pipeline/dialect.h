/*
 * dialect.h -- error dialects: the shape in which a route answers its failures.
 *
 * A route's kind names its dialect (conf/kinds.h); the pipeline puts it on the request before
 * any check, and every error answer of the request -- the pipeline's, the HTTP glue's once the
 * route is known, the handler's, the 503 of a stopping gateway -- is rendered here, so that a
 * route answers every failure in one shape:
 *
 *   soulgw  SPEC 4: {"code","message","correlation_id"}, and "path" on ROUTE.NOT_FOUND
 *   legacy  soulseed-agi: {"success":false,"data":null,"error":{"code","message"},"trace_id"}
 *   openai  {"error":{"message","type","param":null,"code"}}, type from the status (SPEC-protocols
 *           1: invalid_request_error, authentication_error, permission_error, not_found_error,
 *           conflict_error, rate_limit_error, api_error)
 *   mcp     {"jsonrpc":"2.0","id":null,"error":{"code":<JSON-RPC code>,"message",
 *           "data":{"code","correlation_id"}}}, the JSON-RPC code from the status
 *
 * The HTTP status is the error table's in every dialect.
 */
#ifndef SG_DIALECT_H
#define SG_DIALECT_H

#include "base/sg.h"
#include "conf/kinds.h"

/* What an error answer says. */
typedef struct sg_error_view {
  const char *code;       /* the error table's code, "AUTH.UNAUTHENTICATED" */
  const char *message;    /* at most its first 1024 bytes are rendered */
  const char *request_id; /* the correlation (trace) id */
  const char *path;       /* NULL, or the path that matched no route */
  int status;             /* the HTTP status it is answered with */
} sg_error_view;

/* Appends the error body of e in dialect d to b (check sg_buf_failed()). */
void sg_dialect_render(sg_dialect d, sg_buf *b, const sg_error_view *e);
/* The OpenAI error type of an HTTP status ("invalid_request_error", ...). */
const char *sg_dialect_openai_type(int status);
/* The JSON-RPC error code of an HTTP status in the mcp dialect (-32600, -32001, ...). */
int sg_dialect_jsonrpc_code(int status);
/* A body of d held in static storage for when memory runs out (a 500 without request id). */
const char *sg_dialect_oom(sg_dialect d, size_t *len);

#endif
