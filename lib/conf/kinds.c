/*
 * kinds.c -- the table of standard service routes (SPEC 4.2) and of route kinds (see kinds.h).
 */
#include <string.h>

#include "conf/kinds.h"

const sg_service_def sg_standard_services[] = {
    {"tools_execute", "/api/tools/execute", "tool_execute", "tools:execute"},
    {"tools_preflight", "/api/tools/preflight", "tool_preflight", "tools:execute"},
    {"tools_list", "/api/tools/list", "tool_list", "tools:execute"},
    {"collab_execute", "/api/collab/execute", "collab_execute", "collab:execute"},
    {"collab_resolve", "/api/collab/resolve", "collab_resolve", "collab:execute"},
    {"collab_timeline", "/api/collab/timeline", "collab_timeline", "collab:execute"},
    {"llm_complete", "/api/llm/complete", "llm_complete", "llm:invoke"},
    {"llm_stream", "/api/llm/stream", "llm_stream", "llm:invoke"},
    {"llm_embed", "/api/llm/embed", "llm_embed", "llm:invoke"},
    {"repo_append", "/api/repo/append", "repo_append", "repo:write"},
    {"repo_get", "/api/repo/get", "repo_get", "repo:read"},
    {"repo_list", "/api/repo/list", "repo_list", "repo:read"},
    {"graph_recall", "/api/graph/recall", "graph_recall", "graph:read"},
    {"observe_emit", "/api/observe/emit", "observe_emit", "observe:emit"},
    {"observe_query", "/api/observe/query", "observe_query", "observe:read"},
    {"config_tools", "/api/config/tools", "config_tools", "config:manage"},
    {"config_tools_activate", "/api/config/tools/activate", "config_tools_activate",
     "config:manage"},
    {"legacy_tools", "/tenants/{tenant}/tools.execute", "legacy_tools_execute", "tools:execute"},
    {"legacy_collab", "/tenants/{tenant}/collab.execute", "legacy_collab_execute",
     "collab:execute"},
    {"openai_chat", "/v1/chat/completions", "openai_chat", "llm:invoke"},
    {"openai_embeddings", "/v1/embeddings", "openai_embeddings", "llm:invoke"},
    {"openai_models", "/v1/models", "openai_models", "llm:invoke"},
    {"mcp", "/mcp", "mcp", "tools:execute"},
    {"usage", "/api/usage", "usage", "usage:read"},
    {"admin_overview", "/api/admin/overview", "admin_overview", "admin:read"},
    {"admin_series", "/api/admin/series", "admin_series", "admin:read"},
    {"admin_errors", "/api/admin/errors", "admin_errors", "admin:read"},
};
const size_t sg_standard_services_count = sizeof sg_standard_services / sizeof sg_standard_services[0];

static const sg_kind kinds[] = {
#define SG_KIND_ROW_(id, name, methods, dialect, description)                                  \
  {SG_KIND_##id, name, methods, SG_DIALECT_##dialect, description},
    SG_KIND_MAP(SG_KIND_ROW_)
#undef SG_KIND_ROW_
};

const sg_kind *sg_kind_find(const char *kind) {
  for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++)
    if (strcmp(kinds[i].kind, kind) == 0) return &kinds[i];
  return NULL;
}

const sg_service_def *sg_service_find(const char *name) {
  for (size_t i = 0; i < sg_standard_services_count; i++)
    if (strcmp(sg_standard_services[i].name, name) == 0) return &sg_standard_services[i];
  return NULL;
}
