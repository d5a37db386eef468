/*
 * usage.c -- metering and budgets on the routes (see usage.h), and GET /api/usage: a tenant's
 * usage ledger over a range of UTC days, grouped as asked, with its budget.
 *
 * GET /api/usage?from=YYYY-MM-DD&to=YYYY-MM-DD&group_by=day|name|kind&tenant=T: from and to
 * default to today (UTC), to to today and from to to; at most SG_LEDGER_MAX_DAYS days.  tenant
 * defaults to the request's; another tenant's needs tenant:* as everywhere, and tenant=* (every
 * tenant, each row naming its own) needs tenant:* too.  Mistakes are 400 REQUEST.BAD naming the
 * parameter.
 */
#include <stdio.h>
#include <string.h>

#include "pipeline/auth.h"
#include "routes/api/usage.h"
#include "routes/ctx.h"
#include "routes/fields.h"

/* ------------------------------------------------------------------------------------------ */
/* Metering and budgets */

int sg_budget_over(soulgw_req *req, sg_usage_kind kind, char *msg, size_t msglen,
                   long *retry_after_s) {
  const sg_tenant_conf *caps = sg_ledger_caps(req->snap->conf, req->tenant);
  if (!caps) return 0;
  return sg_ledger_over(sg_ctx_of(req)->ledger, req->tenant, caps, kind, msg, msglen,
                        retry_after_s);
}

int sg_budget_refused(soulgw_req *req, sg_usage_kind kind) {
  char msg[512], s[24];
  long retry = 0;
  if (!sg_budget_over(req, kind, msg, sizeof msg, &retry)) return 0;
  snprintf(s, sizeof s, "%ld", retry);
  soulgw_reply_header(req, "Retry-After", s);
  soulgw_reply_error(req, SOULGW_API_BUDGET_EXCEEDED, "%s", msg);
  return 1;
}

void sg_usage_llm(soulgw_req *req, const sg_llm_call *call, const char *model,
                  const char *served, int failed, int embed, long long input_tokens,
                  long long output_tokens) {
  if (!model || !req->tenant) return;
  const char *name = model;
  if (!strchr(model, ':') && sg_llm_alias(call, model)) name = model; /* the alias */
  else if (served) name = served;
  else if (failed && (!strchr(model, ':') || !sg_llm_has_model(call, model, embed))) return;
  sg_ledger_add(sg_ctx_of(req)->ledger, req->tenant, SG_USAGE_LLM, name, failed, input_tokens,
                output_tokens, sg_now_ns() - req->t0);
}

/* ------------------------------------------------------------------------------------------ */
/* GET /api/usage */

/* A day parameter: its day number, def when absent; -1 after answering 400. */
static int64_t day_param(soulgw_req *req, const char *name, int64_t def) {
  const char *v = soulgw_req_query(req, name);
  if (!v) return def;
  int64_t d = sg_ledger_parse_day(v);
  if (d < 0)
    soulgw_reply_error(req, SOULGW_API_REQUEST_BAD,
                       "%s must be a date YYYY-MM-DD (UTC), not \"%.40s\"", name, v);
  return d;
}

static int group_param(soulgw_req *req, sg_usage_group *g) {
  static const char *const names[] = {"day", "name", "kind"};
  static const sg_usage_group groups[] = {SG_GROUP_DAY, SG_GROUP_NAME, SG_GROUP_KIND};
  const char *v = soulgw_req_query(req, "group_by");
  *g = SG_GROUP_NONE;
  if (!v) return 0;
  for (size_t i = 0; i < 3; i++)
    if (strcmp(v, names[i]) == 0) {
      *g = groups[i];
      return 0;
    }
  soulgw_reply_error(req, SOULGW_API_REQUEST_BAD,
                     "group_by must be \"day\", \"name\" or \"kind\", not \"%.40s\"", v);
  return -1;
}

/* The tenant to report (NULL: every tenant) into *out; -1 after answering 403. */
static int tenant_param(soulgw_req *req, const char **out) {
  const sg_principal *p = req->principal;
  const char *t = soulgw_req_query(req, "tenant");
  if (!t || !*t) t = req->tenant;
  if (!t)
    return soulgw_reply_error(req, SOULGW_API_REQUEST_BAD,
                              "no tenant: pass tenant= or the X-Soul-Tenant header"), -1;
  if (p && strcmp(t, p->tenant) != 0 && !sg_principal_has(p, "tenant:*"))
    return soulgw_reply_error(req, SOULGW_API_AUTH_FORBIDDEN,
                              "principal %s belongs to tenant %s and may not act for tenant "
                              "%.128s", p->id, p->tenant, t), -1;
  *out = strcmp(t, "*") == 0 ? NULL : t;
  return 0;
}

int sg_route_usage(soulgw_req *req, void *ud) {
  const sg_ctx *ctx = ud;
  int64_t today = sg_ledger_now_s() / 86400, from, to;
  const char *tenant;
  sg_usage_group group;
  if ((to = day_param(req, "to", today)) < 0) return 0;
  if ((from = day_param(req, "from", to)) < 0) return 0;
  if (from > to)
    return soulgw_reply_error(req, SOULGW_API_REQUEST_BAD,
                              "from (%s) is after to (%s)", soulgw_req_query(req, "from"),
                              soulgw_req_query(req, "to") ? soulgw_req_query(req, "to")
                                                          : "today");
  if (to - from + 1 > SG_LEDGER_MAX_DAYS)
    return soulgw_reply_error(req, SOULGW_API_REQUEST_BAD,
                              "the range from %s to %s spans %lld days; at most %d",
                              soulgw_req_query(req, "from"),
                              soulgw_req_query(req, "to") ? soulgw_req_query(req, "to") : "today",
                              (long long)(to - from + 1), SG_LEDGER_MAX_DAYS);
  if (group_param(req, &group) || tenant_param(req, &tenant)) return 0;
  soulgw_json *out = NULL;
  sg_st st = sg_ledger_report(ctx->ledger, ctx->store, tenant, from, to, group,
                              tenant ? sg_ledger_caps(req->snap->conf, tenant) : NULL, &out);
  return sg_reply_store(req, st, out, NULL);
}
