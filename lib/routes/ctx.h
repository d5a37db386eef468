/*
 * ctx.h -- the handler context: what the built-in route handlers use of the gateway, handed to
 * them as their route's user data (never the gateway itself).
 *
 * The gateway owns one sg_ctx for its whole life and fills it; only the store changes, at start
 * and stop, while no request runs.  A completion that only has its request finds the context
 * through the route the request matched (sg_ctx_of).
 */
#ifndef SG_ROUTES_CTX_H
#define SG_ROUTES_CTX_H

#include "base/log.h"
#include "base/metrics.h"
#include "clients/redis.h"
#include "llm/provider.h"
#include "pipeline/inflight.h"
#include "pipeline/req.h"
#include "store/ledger.h"
#include "store/store.h"
#include "tools/registry.h"
#include "tools/run.h"

typedef struct sg_ctx {
  sg_log *log;
  sg_metrics *metrics;
  sg_store *store;             /* NULL while the gateway is stopped */
  sg_registry *registry;       /* the tenants' active tools */
  const sg_tool_env *tools;    /* running tools */
  const sg_llm_env *llm;       /* calling providers */
  sg_inflight *inflight;       /* the draining flag, for /health */
  sg_redis *redis;             /* [cluster] Redis, for /health (NULL: none configured) */
  const char *instance;        /* [cluster] instance, for /health */
  sg_family *observe_events;   /* soulgw_observe_events_total{topic} */
  sg_ledger *ledger;           /* usage and budgets, for the gateway's life */
  struct sg_mcp_sessions *mcp_sessions; /* MCP sessions (mcp/session.h), for the gateway's life */
  char version_json[512];      /* the /version body, from the facts given to sg_ops_prepare() */
  size_t version_len;
} sg_ctx;

/* The context of a request that matched a built-in route. */
static inline const sg_ctx *sg_ctx_of(const soulgw_req *req) { return req->route->ud; }

#endif
