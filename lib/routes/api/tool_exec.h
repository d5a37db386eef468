/*
 * tool_exec.h -- the one tool pipeline behind POST /api/tools/execute and the legacy
 * POST /tenants/{tenant}/tools.execute: registry lookup, the manifest's scopes, input schema
 * and size, idempotency, the run itself, and the answer in the shape of the calling route: its
 * dialect (pipeline/dialect.h) shapes its errors, and a legacy route's success is the envelope.
 */
#ifndef SG_ROUTES_TOOL_EXEC_H
#define SG_ROUTES_TOOL_EXEC_H

#include "tools/registry.h"
#include "pipeline/req.h"

typedef struct sg_exec_call {
  const char *tool_id;
  const soulgw_json *input;  /* must stay valid until answered (a part of the request body) */
  const char *call_id;       /* NULL: the request id */
  const char *idem_key;      /* NULL: none */
} sg_exec_call;

/* Executes a tool for the request's tenant and answers, now or later (it defers the request
 * when the tool runs asynchronously or the answer must first be recorded).  Always answers;
 * returns 0. */
int sg_exec_tool(soulgw_req *req, const sg_exec_call *call);

/* Why a manifest's tool may not run for this request and input, as preflight reports it: NULL
 * when it may, else a reason ("missing_scope", "input_invalid", "input_too_large") with the
 * details in detail, the error to answer in *code, and the input's size (when measured) in
 * *input_bytes.  input may be NULL (not checked). */
const char *sg_exec_check(const soulgw_req *req, const sg_manifest *m, const soulgw_json *input,
                          soulgw_api_error *code, size_t *input_bytes, char *detail,
                          size_t detail_len);

#endif
