/*
 * gateway.h -- the gateway handle's internals, shared by gateway.c (lifecycle, reload),
 * pipeline.c (one request's way), req.c and the HTTP glue.
 */
#ifndef SG_GATEWAY_H
#define SG_GATEWAY_H

#include <pthread.h>

#include "auth.h"
#include "config.h"
#include "http.h"
#include "llm.h"
#include "log.h"
#include "metrics.h"
#include "registry.h"
#include "req.h"
#include "router.h"
#include "store.h"
#include "tools.h"
#include "upstream.h"

/* Everything a request runs on, swapped as one on reload. */
struct sg_snap {
  atomic_int refs;
  sg_conf *conf;
  sg_router *router;
  sg_auth *auth;
};

/* A route registered by the host, kept to rebuild the router on reload. */
typedef struct sg_host_route {
  sg_route route;
  struct sg_host_route *next;
} sg_host_route;

enum { GW_NEW, GW_RUNNING, GW_STOPPED };

struct soulgw {
  sg_conf_source src; /* what reloads re-read */
  sg_conf *initial;   /* the snapshot soulgw_new() was given, used by start */
  pthread_mutex_t snap_lock;
  pthread_mutex_t reload_lock; /* one reload at a time */
  sg_snap *snap;

  sg_log *log;
  sg_metrics *metrics;
  sg_family *auth_failures, *config_reloads, *store_errors;
  sg_family *store_rows_read;    /* {op} */
  sg_family *tool_invocations;   /* {tool,status} */
  sg_family *llm_tokens;         /* {model,direction} */
  sg_family *upstream_duration;  /* {provider}, histogram */
  sg_family *observe_events;     /* {topic}, first 100 topics */
  sg_family *registry_load_failures; /* tenants served a fallback registry at start */
  sg_replay *replay;
  sg_http *http;
  sg_store *store;       /* opened at start */
  sg_registry *registry; /* loaded at start */
  sg_tools *tools;       /* host C tools, registered before or after start */
  sg_llm *llm;           /* host providers, registered before start */
  sg_upstream *upstream; /* outbound HTTP: HTTP tools, OpenAI-compatible providers */

  sg_arena host_arena; /* strings of host routes */
  sg_host_route *host_routes, **host_tail;

  int state;
  atomic_int draining;
  atomic_llong unauth_body_bytes; /* bodies read without a principal, held now (req.c) */
  pthread_mutex_t defer_lock;
  soulgw_req *deferred; /* requests a handler still has to answer */

  uint64_t rid_prefix;
  atomic_uint_fast64_t rid_counter;
  int64_t started_ms;
  char version_json[512];
  size_t version_len;

  pthread_mutex_t err_lock;
  char errmsg[2048];
};

void sg_gw_seterr(soulgw *gw, const char *fmt, ...) SG_PRINTF(2, 3);

/* The current snapshot with one more reference, and its release. */
sg_snap *sg_gw_snap_acquire(soulgw *gw);
void sg_snap_release(sg_snap *s);

/* Deferred-request bookkeeping (for soulgw_stop). */
void sg_gw_deferred_add(soulgw *gw, soulgw_req *req);
void sg_gw_deferred_remove(soulgw *gw, soulgw_req *req);

/* Writes a fresh request id (32 hex digits) into out. */
void sg_gw_request_id(soulgw *gw, char out[33]);

/* ------------------------------------------------------------------------------------------ */
/* pipeline.c: one request's way through the gateway.  The glue calls begin when the headers
 * are in (it may answer at once: 404, 405, 413 by Content-Length, 415, 401, 403), then run when
 * the body is complete, and done when the connection has finished with the request. */

/* has_body: the request announced a body (Content-Length > 0 or chunked).  Returns 1 when the
 * request was answered, 0 to go on reading the body; then req->unauth_body says that the body
 * is read without a principal (the glue counts it with sg_req_body_reserve). */
int sg_pipeline_begin(soulgw_req *req, int has_body, long long content_length,
                      const char *content_type);
void sg_pipeline_run(soulgw_req *req);
/* aborted: the connection ended before the whole answer was sent. */
void sg_pipeline_done(soulgw_req *req, int aborted);

#endif
