/*
 * gateway.h -- the gateway handle's internals, included by gateway.c alone.  The layers below
 * see the gateway through narrow views it owns and wires together: the in-flight state
 * (pipeline/inflight.h), the handler context (routes/ctx.h), the tool and provider
 * environments (tools/run.h, llm/provider.h).
 */
#ifndef SG_GATEWAY_H
#define SG_GATEWAY_H

#include <pthread.h>

#include "pipeline/auth.h"
#include "conf/config.h"
#include "http/http.h"
#include "llm/provider.h"
#include "base/log.h"
#include "base/metrics.h"
#include "tools/registry.h"
#include "pipeline/inflight.h"
#include "store/ledger.h"
#include "pipeline/req.h"
#include "pipeline/router.h"
#include "routes/ctx.h"
#include "store/store.h"
#include "tools/run.h"
#include "clients/upstream.h"
#include "clients/redis.h"

/* A route registered by the host, kept to rebuild the router on reload. */
typedef struct sg_host_route {
  sg_route route;
  struct sg_host_route *next;
} sg_host_route;

enum { GW_NEW, GW_RUNNING, GW_STOPPED };

struct soulgw {
  sg_conf_source src; /* what reloads re-read */
  sg_conf *initial;   /* the snapshot soulgw_new() was given, used by start */
  pthread_mutex_t reload_lock; /* one reload at a time */
  sg_inflight inflight;        /* snapshots, request ids, deferred requests, draining */

  sg_log *log;
  sg_metrics *metrics;
  sg_family *auth_failures, *config_reloads, *store_errors;
  sg_family *store_rows_read;    /* {op} */
  sg_family *tool_invocations;   /* {tool,status} */
  sg_family *llm_tokens;         /* {model,direction} */
  sg_family *upstream_duration;  /* {provider}, histogram */
  sg_family *stream_truncated;   /* {provider} */
  sg_family *llm_routed, *llm_fallbacks, *llm_cooldowns; /* model aliases (llm/route.c) */
  sg_llm_routes *llm_routes;
  sg_ledger *ledger; /* the usage ledger (store/ledger.h) */
  sg_family *observe_events;     /* {topic}, first 100 topics */
  sg_family *registry_load_failures; /* tenants served a fallback registry at start */
  sg_family *registry_notifications; /* registry changes LISTEN/NOTIFY delivered */
  sg_family *storage_errors;     /* {kind} */
  sg_family *storage_pool;       /* {state}, gauge */
  sg_family *http_connections;   /* {loop}, gauge */
  sg_replay *replay;
  sg_redis *redis;       /* [cluster] redis_url: from start to free (NULL: no Redis) */
  sg_limiter *limiter;   /* rate limits: memory or Redis, from start to free */
  sg_family *redis_errors; /* soulgw_redis_errors_total */
  char instance[300];    /* [cluster] instance, or hostname:port */
  sg_http *http;
  sg_store *store;       /* opened at start */
  sg_registry *registry; /* loaded at start */
  struct sg_mcp_sessions *mcp_sessions; /* MCP sessions, for the gateway's whole life */
  sg_tools *tools;       /* host C tools, registered before or after start */
  sg_llm *llm;           /* host providers, registered before start */
  sg_upstream *upstream; /* outbound HTTP: HTTP tools, OpenAI-compatible providers */
  struct sg_watch *watch; /* server.watch_files: reloads when a file changes, or NULL */
  sg_tool_env tool_env;  /* what tool runs see of all this (wire(), wire_running()) */
  sg_llm_env llm_env;    /* what provider calls see of it */
  sg_ctx ctx;            /* what route handlers see of it: their userdata */

  sg_arena host_arena; /* strings of host routes */
  sg_host_route *host_routes, **host_tail;

  int state;
  int64_t started_ms;

  pthread_mutex_t err_lock;
  char errmsg[2048];
};

void sg_gw_seterr(soulgw *gw, const char *fmt, ...) SG_PRINTF(2, 3);

#endif
