/*
 * kinds.h -- the route kinds and the standard service routes of SPEC 4.2, as data: each kind's
 * name, default methods, error dialect and description; each standard service's name, route,
 * kind and scope.  config.c validates [service.NAME] sections against them, routes/table.c
 * gives each kind its handler, gateway.c binds them.
 */
#ifndef SG_KINDS_H
#define SG_KINDS_H

#include <stddef.h>

/* The error dialect of a route: the shape in which every failure of the route is answered
 * (pipeline/dialect.c renders each).  SOULGW: SPEC 4's {"code","message","correlation_id"};
 * LEGACY: the soulseed-agi envelope {"success":false,"data":null,"error":{...},"trace_id"};
 * OPENAI: OpenAI's {"error":{"message","type","param","code"}} (SPEC-protocols 1); MCP: a
 * JSON-RPC 2.0 error answer {"jsonrpc":"2.0","id":null,"error":{...}} (SPEC-protocols 2). */
typedef enum sg_dialect {
  SG_DIALECT_SOULGW,
  SG_DIALECT_LEGACY,
  SG_DIALECT_OPENAI,
  SG_DIALECT_MCP,
  SG_DIALECT_COUNT
} sg_dialect;

/* X(ID, "name", "default methods", DIALECT, "description"), one line per route kind. */
#define SG_KIND_MAP(X)                                                                             \
  X(TOOL_EXECUTE, "tool_execute", "POST", SOULGW, "Execute a registered tool")                     \
  X(TOOL_PREFLIGHT, "tool_preflight", "POST", SOULGW, "Check whether a tool may run")              \
  X(TOOL_LIST, "tool_list", "GET,POST", SOULGW, "List the tenant's tools")                         \
  X(COLLAB_EXECUTE, "collab_execute", "POST", SOULGW, "Open or advance a collaboration")           \
  X(COLLAB_RESOLVE, "collab_resolve", "POST", SOULGW, "Resolve a collaboration")                   \
  X(COLLAB_TIMELINE, "collab_timeline", "POST", SOULGW, "Page through a collaboration's timeline") \
  X(LLM_COMPLETE, "llm_complete", "POST", SOULGW, "Complete a prompt")                             \
  X(LLM_STREAM, "llm_stream", "POST", SOULGW, "Stream a completion as server-sent events")         \
  X(LLM_EMBED, "llm_embed", "POST", SOULGW, "Embed texts")                                         \
  X(REPO_APPEND, "repo_append", "POST", SOULGW, "Append a record and its graph edges")             \
  X(REPO_GET, "repo_get", "POST", SOULGW, "Read one record")                                       \
  X(REPO_LIST, "repo_list", "POST", SOULGW, "List a repo's records")                               \
  X(GRAPH_RECALL, "graph_recall", "POST", SOULGW, "Walk the graph from a node")                    \
  X(OBSERVE_EMIT, "observe_emit", "POST", SOULGW, "Ingest an observe event")                       \
  X(OBSERVE_QUERY, "observe_query", "POST", SOULGW, "Query observe events")                        \
  X(CONFIG_TOOLS, "config_tools", "GET,POST", SOULGW, "List or publish tool registry versions")    \
  X(CONFIG_TOOLS_ACTIVATE, "config_tools_activate", "POST", SOULGW, "Activate a registry version") \
  X(LEGACY_TOOLS_EXECUTE, "legacy_tools_execute", "POST", LEGACY, "soulseed-agi tools.execute")    \
  X(LEGACY_COLLAB_EXECUTE, "legacy_collab_execute", "POST", LEGACY, "soulseed-agi collab.execute") \
  X(OPENAI_CHAT, "openai_chat", "POST", OPENAI, "OpenAI-compatible chat completions")            \
  X(OPENAI_EMBEDDINGS, "openai_embeddings", "POST", OPENAI, "OpenAI-compatible embeddings")       \
  X(OPENAI_MODELS, "openai_models", "GET", OPENAI, "OpenAI-compatible model list")                \
  X(MCP, "mcp", "POST,DELETE", MCP, "Model Context Protocol server (Streamable HTTP)")         \
  X(USAGE, "usage", "GET", SOULGW, "Read the usage ledger and budget of a tenant")                \
  X(ADMIN_OVERVIEW, "admin_overview", "GET", SOULGW, "The console's overview: health, build")    \
  X(ADMIN_SERIES, "admin_series", "GET", SOULGW, "Requests, errors and p99 over the last minutes") \
  X(ADMIN_ERRORS, "admin_errors", "GET", SOULGW, "The last error answers")

typedef enum sg_kind_id {
#define SG_KIND_ENUM_(id, name, methods, dialect, description) SG_KIND_##id,
  SG_KIND_MAP(SG_KIND_ENUM_)
#undef SG_KIND_ENUM_
  SG_KIND_COUNT
} sg_kind_id;

typedef struct sg_kind {
  sg_kind_id id;
  const char *kind;
  const char *methods; /* default methods, "POST" or "GET,POST" */
  sg_dialect dialect;
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
