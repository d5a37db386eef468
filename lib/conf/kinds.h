/*
 * kinds.h -- the route kinds and the standard service routes of SPEC 4.2, as data: each kind's
 * name, default methods and description; each standard service's name, route, kind and scope.
 * config.c validates [service.NAME] sections against them, routes/table.c gives each kind its
 * handler, gateway.c binds them.
 */
#ifndef SG_KINDS_H
#define SG_KINDS_H

#include <stddef.h>

/* X(ID, "name", "default methods", "description"), one line per route kind. */
#define SG_KIND_MAP(X)                                                                          \
  X(TOOL_EXECUTE, "tool_execute", "POST", "Execute a registered tool")                          \
  X(TOOL_PREFLIGHT, "tool_preflight", "POST", "Check whether a tool may run")                   \
  X(TOOL_LIST, "tool_list", "GET,POST", "List the tenant's tools")                              \
  X(COLLAB_EXECUTE, "collab_execute", "POST", "Open or advance a collaboration")                \
  X(COLLAB_RESOLVE, "collab_resolve", "POST", "Resolve a collaboration")                        \
  X(COLLAB_TIMELINE, "collab_timeline", "POST", "Page through a collaboration's timeline")      \
  X(LLM_COMPLETE, "llm_complete", "POST", "Complete a prompt")                                  \
  X(LLM_STREAM, "llm_stream", "POST", "Stream a completion as server-sent events")              \
  X(LLM_EMBED, "llm_embed", "POST", "Embed texts")                                              \
  X(REPO_APPEND, "repo_append", "POST", "Append a record and its graph edges")                  \
  X(REPO_GET, "repo_get", "POST", "Read one record")                                            \
  X(REPO_LIST, "repo_list", "POST", "List a repo's records")                                    \
  X(GRAPH_RECALL, "graph_recall", "POST", "Walk the graph from a node")                         \
  X(OBSERVE_EMIT, "observe_emit", "POST", "Ingest an observe event")                            \
  X(OBSERVE_QUERY, "observe_query", "POST", "Query observe events")                             \
  X(CONFIG_TOOLS, "config_tools", "GET,POST", "List or publish tool registry versions")         \
  X(CONFIG_TOOLS_ACTIVATE, "config_tools_activate", "POST", "Activate a registry version")      \
  X(LEGACY_TOOLS_EXECUTE, "legacy_tools_execute", "POST", "soulseed-agi tools.execute")         \
  X(LEGACY_COLLAB_EXECUTE, "legacy_collab_execute", "POST", "soulseed-agi collab.execute")

typedef enum sg_kind_id {
#define SG_KIND_ENUM_(id, name, methods, description) SG_KIND_##id,
  SG_KIND_MAP(SG_KIND_ENUM_)
#undef SG_KIND_ENUM_
  SG_KIND_COUNT
} sg_kind_id;

typedef struct sg_kind {
  sg_kind_id id;
  const char *kind;
  const char *methods; /* default methods, "POST" or "GET,POST" */
  const char *description;
} sg_kind;

typedef struct sg_service_def {
  const char *name, *route, *kind, *scope;
} sg_service_def;

extern const sg_service_def sg_standard_services[];
extern const size_t sg_standard_services_count;

const sg_kind *sg_kind_find(const char *kind);
const sg_service_def *sg_service_find(const char *name);

#endif
