/*
 * verdict.h -- what a pipeline stage returns when it refuses a request, and the stages.
 *
 * Stages never answer themselves (as nginx modules return NGX_HTTP_UNAUTHORIZED and one place
 * writes the page): a stage returns -1 with a verdict, and pipeline.c renders it -- counts its
 * reason, sets its headers, answers in the request's dialect (dialect.h) -- and names the stage
 * in the access log.  A verdict lives on the caller's stack and is only written on refusal.
 */
#ifndef SG_VERDICT_H
#define SG_VERDICT_H

#include "base/sg.h"

typedef struct sg_verdict {
  soulgw_api_error code;
  const char *reason;           /* soulgw_auth_failures_total{reason}; NULL: not counted */
  long long retry_after;        /* seconds for Retry-After; 0: no header */
  const char *www_authenticate; /* a WWW-Authenticate value (static); NULL: no header */
  char message[1024];
} sg_verdict;

/* Fills v, the message formatted as by printf, with no headers; returns -1 (for a stage's
 * `return sg_verdict_set(...)`). */
int sg_verdict_set(sg_verdict *v, soulgw_api_error code, const char *reason, const char *fmt,
                   ...) SG_PRINTF(4, 5);
int sg_verdict_vset(sg_verdict *v, soulgw_api_error code, const char *reason, const char *fmt,
                    va_list ap);

/* The stages of a request, in order, as the access log names the one that refused it ("edge":
 * the HTTP glue, before the request was routed). */
#define SG_STAGE_MAP(X)                                                                         \
  X(EDGE, "edge") X(ROUTE, "route") X(LIMITS, "limits") X(AUTH, "auth") X(SCOPE, "scope")       \
  X(BODY, "body") X(TENANT, "tenant") X(REPLAY, "replay") X(RATE, "rate") X(HANDLER, "handler")

typedef enum sg_stage {
#define SG_STAGE_ENUM_(id, name) SG_STAGE_##id,
  SG_STAGE_MAP(SG_STAGE_ENUM_)
#undef SG_STAGE_ENUM_
  SG_STAGE_COUNT
} sg_stage;

const char *sg_stage_name(sg_stage s);

#endif
