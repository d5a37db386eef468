/*
 * usage.h -- metering and budgets as the routes use them (SPEC-llm-routing 2 and 3): the check
 * before a model call or a tool run, and the count after it, in the usage ledger
 * (store/ledger.h) of the request's tenant.
 */
#ifndef SG_ROUTES_USAGE_H
#define SG_ROUTES_USAGE_H

#include "llm/provider.h"
#include "pipeline/req.h"
#include "store/ledger.h"

/* Checks the tenant's budget for a call of kind: 0 when it may go on; else 1 after answering
 * 429 BUDGET.EXCEEDED (with Retry-After, in the route's dialect). */
int sg_budget_refused(soulgw_req *req, sg_usage_kind kind);
/* The same check without answering: 1 when refused, msg and *retry_after_s filled (for the
 * tool pipeline, which answers through its caller's ops). */
int sg_budget_over(soulgw_req *req, sg_usage_kind kind, char *msg, size_t msglen,
                   long *retry_after_s);

/* Counts a finished model call of the request's tenant.  model is what the client named (an
 * alias, or "provider:model"), served the target that served (or NULL); the row's name is the
 * alias, else the target.  A failed call of a model the gateway does not have (no alias, no
 * such provider) is not counted: a name a client invents never becomes a row. */
void sg_usage_llm(soulgw_req *req, const sg_llm_call *call, const char *model,
                  const char *served, int failed, int embed, long long input_tokens,
                  long long output_tokens);

/* GET /api/usage (usage.c). */
int sg_route_usage(soulgw_req *req, void *ud);

#endif
