/*
 * routes.h -- the built-in route handlers, one file per family.  Every handler is a plain
 * function from a request to an answer (soulgw_handler_fn) with the handler context (ctx.h) as
 * its userdata.
 */
#ifndef SG_ROUTES_H
#define SG_ROUTES_H

#include "conf/config.h"
#include "pipeline/router.h"
#include "routes/ctx.h"

/* Operations routes (ops.c): /health, /version, /metrics, /routes, bound with ctx as their
 * userdata. */
int sg_ops_bind(sg_ctx *ctx, sg_router *r, const sg_conf *conf, char *err, size_t errlen);
/* Prepares the /version body in ctx from the build's facts and the HTTP library's version
 * (http_version), which this layer does not see; called once, before the first bind. */
void sg_ops_prepare(sg_ctx *ctx, const char *http_version);

/* Service kinds: every handler takes the handler context as its userdata. */
#define SG_ROUTE_HANDLER(kind) sg_route_##kind

/* api/tools.c */
int sg_route_tool_execute(soulgw_req *req, void *ud);
int sg_route_tool_preflight(soulgw_req *req, void *ud);
int sg_route_tool_list(soulgw_req *req, void *ud);
/* api/config_tools.c */
int sg_route_config_tools(soulgw_req *req, void *ud);
int sg_route_config_tools_activate(soulgw_req *req, void *ud);
/* legacy.c */
int sg_route_legacy_tools_execute(soulgw_req *req, void *ud);
int sg_route_legacy_collab_execute(soulgw_req *req, void *ud);
/* api/collab.c */
int sg_route_collab_execute(soulgw_req *req, void *ud);
int sg_route_collab_resolve(soulgw_req *req, void *ud);
int sg_route_collab_timeline(soulgw_req *req, void *ud);
/* api/llm.c */
int sg_route_llm_complete(soulgw_req *req, void *ud);
int sg_route_llm_stream(soulgw_req *req, void *ud);
int sg_route_llm_embed(soulgw_req *req, void *ud);
/* api/repo.c */
int sg_route_repo_append(soulgw_req *req, void *ud);
int sg_route_repo_get(soulgw_req *req, void *ud);
int sg_route_repo_list(soulgw_req *req, void *ud);
int sg_route_graph_recall(soulgw_req *req, void *ud);
/* api/observe.c */
int sg_route_observe_emit(soulgw_req *req, void *ud);
int sg_route_observe_query(soulgw_req *req, void *ud);
/* openai/: the OpenAI-compatible API (SPEC-protocols 1) */
int sg_route_openai_chat(soulgw_req *req, void *ud);
int sg_route_openai_embeddings(soulgw_req *req, void *ud);
int sg_route_openai_models(soulgw_req *req, void *ud);
/* mcp/: the MCP server (SPEC-protocols 2) */
int sg_route_mcp(soulgw_req *req, void *ud);
/* admin/admin.c: the console's APIs (SPEC-console 2) */
int sg_route_admin_overview(soulgw_req *req, void *ud);
int sg_route_admin_series(soulgw_req *req, void *ud);
int sg_route_admin_errors(soulgw_req *req, void *ud);
/* ui/ui.c: the console's page (SPEC-console 1), bound at [ui] path unless [ui] enabled is
 * false; its assets need no credential. */
int sg_ui_bind(sg_ctx *ctx, sg_router *r, const sg_conf *conf, char *err, size_t errlen);

#endif
