/*
 * v1.c -- helpers of the OpenAI-compatible routes (see v1.h).
 */
#include <stdio.h>
#include <string.h>

#include "pipeline/dialect.h"
#include "routes/ctx.h"
#include "routes/openai/v1.h"

sg_llm_call sg_v1_call(soulgw_req *req, void *ud) {
  const sg_ctx *ctx = ud;
  sg_llm_call call = {ctx->llm, req->snap->conf->llm.providers, req->id,
                      soulgw_req_header(req, "traceparent"), 0,
                      req->snap->conf->llm.models};
  return call;
}

int sg_v1_model(soulgw_req *req, const sg_llm_call *call, const char *model, int embed) {
  char why[200];
  /* A name without a provider is an alias ([llm.models.NAME], SPEC-llm-routing), or a model
   * this gateway does not have. */
  if (!strchr(model, ':') && sg_llm_alias(call, model)) return 0;
  if (!strchr(model, ':'))
    return sg_v1_error(req, SOULGW_API_STORAGE_NOT_FOUND, "model_not_found", 0,
                       "unknown model %.200s: name a model as provider:model (GET /v1/models "
                       "lists them)", model);
  if (sg_llm_model_check(model, why, sizeof why) != 0)
    return sg_v1_error(req, SOULGW_API_REQUEST_BAD, NULL, 0, "%s", why);
  if (!sg_llm_has_model(call, model, embed))
    return sg_v1_error(req, SOULGW_API_STORAGE_NOT_FOUND, "model_not_found", 0,
                       "unknown model %.300s", model);
  return 0;
}

void sg_v1_error_json(sg_buf *b, const soulgw_req *req, soulgw_api_error err, const char *code,
                      const char *msg) {
  const char *cs = soulgw_api_error_code(err);
  sg_error_view e = {code ? code : cs ? cs : "UNKNOWN.INTERNAL", msg, req->id, NULL,
                     cs ? soulgw_api_error_status(err) : 500};
  sg_dialect_render(SG_DIALECT_OPENAI, b, &e);
}

void sg_v1_note_error(soulgw_req *req, const char *code) {
  pthread_mutex_lock(&req->lock);
  req->err_code = code;
  pthread_mutex_unlock(&req->lock);
}

int sg_v1_error(soulgw_req *req, soulgw_api_error err, const char *code, long retry_after,
                const char *fmt, ...) {
  char msg[1024];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  if (retry_after > 0) {
    char s[24];
    snprintf(s, sizeof s, "%ld", retry_after);
    soulgw_reply_header(req, "Retry-After", s);
  }
  if (!code) {
    soulgw_reply_error(req, err, "%s", msg);
    return -1;
  }
  sg_buf b;
  sg_buf_init(&b, 0);
  sg_v1_error_json(&b, req, err, code, msg);
  size_t len;
  char *body = sg_buf_failed(&b) ? (sg_buf_free(&b), NULL) : sg_buf_detach(&b, &len);
  if (!body) {
    soulgw_reply_error(req, SOULGW_API_UNKNOWN_INTERNAL, "out of memory");
    return -1;
  }
  pthread_mutex_lock(&req->lock);
  if (!req->answered) req->err_code = code;
  pthread_mutex_unlock(&req->lock);
  sg_req_answer_typed(req, soulgw_api_error_status(err), body, len, "application/json");
  return -1;
}
