/*
 * verdict.c -- filling a verdict, and the stages' names (see verdict.h).
 */
#include <stdio.h>

#include "pipeline/verdict.h"

int sg_verdict_vset(sg_verdict *v, soulgw_api_error code, const char *reason, const char *fmt,
                    va_list ap) {
  v->code = code;
  v->reason = reason;
  v->retry_after = 0;
  v->www_authenticate = NULL;
  vsnprintf(v->message, sizeof v->message, fmt, ap);
  return -1;
}

int sg_verdict_set(sg_verdict *v, soulgw_api_error code, const char *reason, const char *fmt,
                   ...) {
  va_list ap;
  va_start(ap, fmt);
  sg_verdict_vset(v, code, reason, fmt, ap);
  va_end(ap);
  return -1;
}

const char *sg_stage_name(sg_stage s) {
  static const char *const names[] = {
#define SG_STAGE_NAME_(id, name) name,
      SG_STAGE_MAP(SG_STAGE_NAME_)
#undef SG_STAGE_NAME_
  };
  return (unsigned)s < SG_STAGE_COUNT ? names[s] : "?";
}
