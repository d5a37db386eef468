/*
 * table.c -- the handler of each route kind (see table.h); the kinds themselves, and the
 * standard services that use them, are data in conf/kinds.c.
 */
#include "routes/api/usage.h"
#include "routes/routes.h"
#include "routes/table.h"

static const soulgw_handler_fn handlers[SG_KIND_COUNT] = {
    [SG_KIND_TOOL_EXECUTE] = SG_ROUTE_HANDLER(tool_execute),
    [SG_KIND_TOOL_PREFLIGHT] = SG_ROUTE_HANDLER(tool_preflight),
    [SG_KIND_TOOL_LIST] = SG_ROUTE_HANDLER(tool_list),
    [SG_KIND_COLLAB_EXECUTE] = SG_ROUTE_HANDLER(collab_execute),
    [SG_KIND_COLLAB_RESOLVE] = SG_ROUTE_HANDLER(collab_resolve),
    [SG_KIND_COLLAB_TIMELINE] = SG_ROUTE_HANDLER(collab_timeline),
    [SG_KIND_LLM_COMPLETE] = SG_ROUTE_HANDLER(llm_complete),
    [SG_KIND_LLM_STREAM] = SG_ROUTE_HANDLER(llm_stream),
    [SG_KIND_LLM_EMBED] = SG_ROUTE_HANDLER(llm_embed),
    [SG_KIND_REPO_APPEND] = SG_ROUTE_HANDLER(repo_append),
    [SG_KIND_REPO_GET] = SG_ROUTE_HANDLER(repo_get),
    [SG_KIND_REPO_LIST] = SG_ROUTE_HANDLER(repo_list),
    [SG_KIND_GRAPH_RECALL] = SG_ROUTE_HANDLER(graph_recall),
    [SG_KIND_OBSERVE_EMIT] = SG_ROUTE_HANDLER(observe_emit),
    [SG_KIND_OBSERVE_QUERY] = SG_ROUTE_HANDLER(observe_query),
    [SG_KIND_CONFIG_TOOLS] = SG_ROUTE_HANDLER(config_tools),
    [SG_KIND_CONFIG_TOOLS_ACTIVATE] = SG_ROUTE_HANDLER(config_tools_activate),
    [SG_KIND_LEGACY_TOOLS_EXECUTE] = SG_ROUTE_HANDLER(legacy_tools_execute),
    [SG_KIND_LEGACY_COLLAB_EXECUTE] = SG_ROUTE_HANDLER(legacy_collab_execute),
    [SG_KIND_OPENAI_CHAT] = SG_ROUTE_HANDLER(openai_chat),
    [SG_KIND_OPENAI_EMBEDDINGS] = SG_ROUTE_HANDLER(openai_embeddings),
    [SG_KIND_OPENAI_MODELS] = SG_ROUTE_HANDLER(openai_models),
    [SG_KIND_MCP] = SG_ROUTE_HANDLER(mcp),
    [SG_KIND_USAGE] = SG_ROUTE_HANDLER(usage),
    [SG_KIND_ADMIN_OVERVIEW] = SG_ROUTE_HANDLER(admin_overview),
    [SG_KIND_ADMIN_SERIES] = SG_ROUTE_HANDLER(admin_series),
    [SG_KIND_ADMIN_ERRORS] = SG_ROUTE_HANDLER(admin_errors),
};

soulgw_handler_fn sg_kind_handler(const sg_kind *k) { return handlers[k->id]; }
