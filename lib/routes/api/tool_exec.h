/*
 * tool_exec.h -- the one tool pipeline behind POST /api/tools/execute, the legacy
 * POST /tenants/{tenant}/tools.execute and MCP's tools/call: registry lookup, the manifest's
 * scopes, input schema and size, idempotency, the run itself, and the answer in the shape of
 * the calling route.  By default the answer is HTTP: the route's dialect (pipeline/dialect.h)
 * shapes its errors, and a legacy route's success is the envelope.  A caller that answers in a
 * protocol of its own (MCP) passes ops: the pipeline then hands it each outcome instead.
 */
#ifndef SG_ROUTES_TOOL_EXEC_H
#define SG_ROUTES_TOOL_EXEC_H

#include "tools/registry.h"
#include "pipeline/req.h"

/* How a caller answers the outcomes of an execution itself.  Each function is called once
 * per execution at most, on the handler's thread or later on another (an HTTP tool's run, an
 * idempotency record's write), and must answer the request. */
typedef struct sg_exec_ops {
  /* The body of a successful run as JSON text (malloc'd, its length in *len), from the result
   * as compact JSON text; NULL when out of memory.  With an idempotency key this text is what
   * is recorded, and what a replay hands to ok() again. */
  char *(*text)(soulgw_req *req, void *ud, const char *result, size_t result_len, size_t *len);
  /* Answers a success with text (not taken), freshly run or replayed from its record. */
  void (*ok)(soulgw_req *req, void *ud, const char *text, size_t len, int replayed);
  /* Answers a failure: code (the error table's) and its message.  POLICY.DENY_TOOL means the
   * tool is not in the tenant's active registry. */
  void (*fail)(soulgw_req *req, void *ud, soulgw_api_error code, const char *msg);
} sg_exec_ops;

typedef struct sg_exec_call {
  const char *tool_id;
  const soulgw_json *input;  /* must stay valid until answered (a part of the request body) */
  const char *call_id;       /* NULL: the request id */
  const char *idem_key;      /* NULL: none */
  const sg_exec_ops *ops;    /* NULL: answer in HTTP, in the route's shape */
  void *ud;                  /* the ops' own, valid until answered */
  /* Or, with input NULL, the input as canonical JSON text (json_canon.h), valid until
   * answered, and how to get its tree: sg_exec_tool() answers builtin:echo from the text and
   * asks for the tree only when something reads the value (a schema to check, an idempotency
   * record, another tool).  input_tree returns 0 with *input set, or -1 (out of memory). */
  const char *input_text;
  size_t input_len;
  int (*input_tree)(soulgw_req *req, const soulgw_json **input);
} sg_exec_call;

/* Executes a tool for the request's tenant and answers, now or later (it defers the request
 * when the tool runs asynchronously or the answer must first be recorded), itself or through
 * call->ops.  Always answers; returns 0. */
int sg_exec_tool(soulgw_req *req, const sg_exec_call *call);

/* Why a manifest's tool may not run for this request and input, as preflight reports it: NULL
 * when it may, else a reason ("missing_scope", "input_invalid", "input_too_large") with the
 * details in detail, the error to answer in *code, and the input's size (when measured) in
 * *input_bytes.  input may be NULL (not checked). */
const char *sg_exec_check(const soulgw_req *req, const sg_manifest *m, const soulgw_json *input,
                          soulgw_api_error *code, size_t *input_bytes, char *detail,
                          size_t detail_len);

#endif
