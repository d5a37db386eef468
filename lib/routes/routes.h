/*
 * routes.h -- the built-in route handlers, one file per family.  Every handler is a plain
 * function from a request to an answer (soulgw_handler_fn) with the gateway as its userdata.
 */
#ifndef SG_ROUTES_H
#define SG_ROUTES_H

#include "../config.h"
#include "../router.h"

/* Operations routes (ops.c): /health, /version, /metrics, /routes. */
int sg_ops_bind(soulgw *gw, sg_router *r, const sg_conf *conf, char *err, size_t errlen);
/* Prepares what the operations routes answer from (the /version body); called at start. */
void sg_ops_prepare(soulgw *gw);

/* Service kinds: every handler takes the gateway as its userdata. */
#define SG_ROUTE_HANDLER(kind) sg_route_##kind

/* tools.c */
int sg_route_tool_execute(soulgw_req *req, void *ud);
int sg_route_tool_preflight(soulgw_req *req, void *ud);
int sg_route_tool_list(soulgw_req *req, void *ud);
/* config_tools.c */
int sg_route_config_tools(soulgw_req *req, void *ud);
int sg_route_config_tools_activate(soulgw_req *req, void *ud);
/* legacy.c */
int sg_route_legacy_tools_execute(soulgw_req *req, void *ud);
int sg_route_legacy_collab_execute(soulgw_req *req, void *ud);
/* collab.c */
int sg_route_collab_execute(soulgw_req *req, void *ud);
int sg_route_collab_resolve(soulgw_req *req, void *ud);
int sg_route_collab_timeline(soulgw_req *req, void *ud);
/* llm.c */
int sg_route_llm_complete(soulgw_req *req, void *ud);
int sg_route_llm_stream(soulgw_req *req, void *ud);
int sg_route_llm_embed(soulgw_req *req, void *ud);
/* repo.c */
int sg_route_repo_append(soulgw_req *req, void *ud);
int sg_route_repo_get(soulgw_req *req, void *ud);
int sg_route_repo_list(soulgw_req *req, void *ud);
int sg_route_graph_recall(soulgw_req *req, void *ud);
/* observe.c */
int sg_route_observe_emit(soulgw_req *req, void *ud);
int sg_route_observe_query(soulgw_req *req, void *ud);

#endif
