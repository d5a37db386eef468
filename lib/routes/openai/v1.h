/*
 * v1.h -- what the OpenAI-compatible routes (SPEC-protocols 1) share: the provider call of a
 * request, the model check (404 model_not_found), and OpenAI errors whose code is not the
 * soulgw one.
 */
#ifndef SG_ROUTES_V1_H
#define SG_ROUTES_V1_H

#include "llm/provider.h"
#include "pipeline/req.h"

/* What a provider call of req runs with (ud is the route's sg_ctx). */
sg_llm_call sg_v1_call(soulgw_req *req, void *ud);

/* Checks the request's model for a completion (embed 0) or an embedding (embed 1): a name of
 * the form provider:model whose provider exists (and, for local, the model).  Returns 0, or -1
 * after answering 400 (a malformed name) or 404 model_not_found. */
int sg_v1_model(soulgw_req *req, const sg_llm_call *call, const char *model, int embed);

/* Appends {"error":{"message","type","param":null,"code"}} for err (the type from its status),
 * with code instead of the soulgw code when not NULL. */
void sg_v1_error_json(sg_buf *b, const soulgw_req *req, soulgw_api_error err, const char *code,
                      const char *msg);

/* Answers an OpenAI error with err's status, code instead of the soulgw code when not NULL,
 * and Retry-After when retry_after > 0.  Safe from any thread; returns -1. */
int sg_v1_error(soulgw_req *req, soulgw_api_error err, const char *code, long retry_after,
                const char *fmt, ...) SG_PRINTF(5, 6);

/* Notes the error code of a stream that failed after it opened, for the access log. */
void sg_v1_note_error(soulgw_req *req, const char *code);

#endif
