/*
 * gateway.c -- the public gateway handle: creation, route registration, start, drain, stop,
 * and reload by atomic snapshot swap.
 *
 * A reload builds a complete new snapshot (configuration, router, auth state) aside and swaps it
 * in through pipeline/inflight.c, so that requests in flight finish on the old one.
 *
 * The only file that sees every folder: it owns each layer's narrow view of the gateway (the
 * in-flight state, the handler context, the tool and provider environments), fills them
 * (wire(), wire_running()) and hands each to its layer.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "base/crypto.h"
#include "conf/watch.h"
#include "gateway.h"
#include "llm/openai.h"
#include "routes/api/tool_scan.h"
#include "routes/openai/chat_scan.h"
#include "routes/mcp/session.h"
#include "routes/routes.h"
#include "routes/table.h"

/* ------------------------------------------------------------------------------------------ */
/* Errors */

void sg_gw_seterr(soulgw *gw, const char *fmt, ...) {
  va_list ap;
  pthread_mutex_lock(&gw->err_lock);
  va_start(ap, fmt);
  vsnprintf(gw->errmsg, sizeof gw->errmsg, fmt, ap);
  va_end(ap);
  pthread_mutex_unlock(&gw->err_lock);
}

const char *soulgw_errmsg(const soulgw *gw) { return gw ? gw->errmsg : ""; }

/* ------------------------------------------------------------------------------------------ */
/* Building a snapshot */

static int add_route(soulgw *gw, sg_router *r, sg_route *rt, char *err, size_t errlen) {
  rt->metric_id = sg_metrics_route(gw->metrics, rt->name ? rt->name : rt->pattern);
  int rc = sg_router_add(r, rt);
  if (rc == SOULGW_EEXIST)
    snprintf(err, errlen, "route %s (%s) is already bound for one of its methods", rt->pattern,
             rt->name ? rt->name : "?");
  else if (rc)
    snprintf(err, errlen, "cannot bind route %s: %s", rt->pattern, soulgw_strerror(rc));
  return rc;
}

static const sg_service_conf *service_conf(const sg_conf *c, const char *name) {
  for (const sg_service_conf *s = c->services; s; s = s->next)
    if (strcmp(s->name, name) == 0) return s;
  return NULL;
}

/* Binds one service: a standard definition (def, may be NULL) overridden by a [service.NAME]
 * section (sc, may be NULL). */
static int bind_service(soulgw *gw, sg_router *r, const sg_service_def *def,
                        const sg_service_conf *sc, char *err, size_t errlen) {
  const char *name = def ? def->name : sc->name;
  const char *kind = sc && sc->kind ? sc->kind : def->kind;
  const char *pattern = sc && sc->route ? sc->route : def->route;
  const sg_kind *k = sg_kind_find(kind);
  soulgw_handler_fn fn = k ? sg_kind_handler(k) : NULL;
  if (sc && sc->enabled == 0) return 0;
  if (!fn) return 0; /* not implemented in this build */
  const char *one[1];
  sg_route rt;
  memset(&rt, 0, sizeof rt);
  rt.name = name;
  rt.pattern = pattern;
  rt.kind = kind;
  rt.description = sc && sc->description ? sc->description : k->description;
  rt.methods = sg_methods_parse(k->methods);
  rt.fn = fn;
  rt.ud = &gw->ctx;
  rt.dialect = k->dialect;
  rt.flags = SOULGW_ROUTE_TENANT;
  if (sc && sc->allow_anonymous == 1) rt.flags |= SOULGW_ROUTE_ANONYMOUS;
  /* tool execution and chat completions read their common body from the text
   * (routes/api/tool_scan.c, routes/openai/chat_scan.c) */
  if (k->id == SG_KIND_TOOL_EXECUTE) {
    rt.body_keys = sg_tool_scan_keys;
    rt.nbody_keys = SG_TOOL_SCAN_NKEYS;
  } else if (k->id == SG_KIND_OPENAI_CHAT) {
    rt.body_keys = sg_chat_scan_keys;
    rt.nbody_keys = SG_CHAT_SCAN_NKEYS;
  }
  if (sc && sc->has_scopes) {
    rt.scopes = sc->scopes;
  } else if (def) {
    one[0] = def->scope;
    rt.scopes.v = one;
    rt.scopes.n = 1;
  }
  return add_route(gw, r, &rt, err, errlen);
}

static void snap_destroy(sg_snap *s) {
  sg_auth_free(s->auth);
  sg_router_free(s->router);
  sg_conf_release(s->conf);
  free(s);
}

static int build_snap(soulgw *gw, sg_conf *conf, sg_snap **out, char *err, size_t errlen) {
  int rc = SOULGW_ENOMEM;
  sg_snap *s = calloc(1, sizeof *s);
  if (!s) goto fail;
  atomic_init(&s->refs, 1);
  s->destroy = snap_destroy;
  s->conf = sg_conf_ref(conf);
  if (!(s->router = sg_router_new())) goto fail;
  if ((rc = sg_ops_bind(&gw->ctx, s->router, conf, err, errlen))) goto fail;
  if ((rc = sg_ui_bind(&gw->ctx, s->router, conf, err, errlen))) goto fail;
  for (size_t i = 0; i < sg_standard_services_count; i++) {
    const sg_service_def *def = &sg_standard_services[i];
    if ((rc = bind_service(gw, s->router, def, service_conf(conf, def->name), err, errlen)))
      goto fail;
  }
  for (const sg_service_conf *sc = conf->services; sc; sc = sc->next) {
    if (sg_service_find(sc->name)) continue;
    if ((rc = bind_service(gw, s->router, NULL, sc, err, errlen))) goto fail;
  }
  for (sg_host_route *h = gw->host_routes; h; h = h->next)
    if ((rc = add_route(gw, s->router, &h->route, err, errlen))) goto fail;
  rc = SOULGW_ENOMEM;
  sg_snap *prev = gw->inflight.snap; /* read under reload_lock, or before start */
  if (!(s->auth = sg_auth_new(conf, gw->replay, gw->auth_failures, prev ? prev->auth : NULL)))
    goto fail;
  sg_auth_set_limiter(s->auth, gw->limiter);
  *out = s;
  return 0;
fail:
  if (rc == SOULGW_ENOMEM && !err[0]) snprintf(err, errlen, "out of memory");
  sg_snap_release(s);
  return rc == SOULGW_ENOMEM ? rc : SOULGW_ECONFIG;
}

static void log_conf(soulgw *gw, const sg_conf *c) {
  for (size_t i = 0; i < c->warnings.n; i++)
    sg_log(gw->log, SOULGW_LOG_WARN, c->warnings.v[i], SG_S("config", c->file));
  char msg[128];
  snprintf(msg, sizeof msg, "auth stage loaded %zu tokens, %zu hmac keys", c->auth.ntokens,
           c->auth.nhmac);
  sg_log(gw->log, SOULGW_LOG_INFO, msg, SG_I("tokens", c->auth.ntokens),
         SG_I("hmac_keys", c->auth.nhmac), SG_S("api_key", c->auth.api_key ? "yes" : "no"));
}

static int reload_locked(soulgw *gw);

/* Each configured provider's soulgw_llm_stream_truncated_total series exists from the start
 * (and from the reload that adds the provider), at 0, so that an alert on it has a series to
 * watch before the first truncation. */
static void count_providers(soulgw *gw, const sg_conf *c) {
  for (const sg_provider_conf *p = c->llm.providers; p; p = p->next)
    sg_family_add(gw->stream_truncated, (const char *[]){p->name}, 0);
}

/* ------------------------------------------------------------------------------------------ */
/* Rotation without a signal (server.watch_files) */

/* The watcher's callback, on its thread: the same reload as SIGHUP's. */
static void on_file_changed(void *ud, const char *path) {
  soulgw *gw = ud;
  sg_log(gw->log, SOULGW_LOG_INFO, "a watched file changed; reloading", SG_S("file", path));
  soulgw_reload(gw);
}

/* Makes the watched files those c was built from (none when c->server.watch_files is false),
 * starting the watcher the first time there is something to watch.  Called at start and after
 * each successful reload, under reload_lock or before any reload can run. */
static void watch_follow(soulgw *gw, const sg_conf *c, int at_start) {
  size_t n = c->server.watch_files ? sg_conf_watched_files(c, NULL, 0) : 0;
  if (!gw->watch && !n) return;
  const char **paths = calloc(n ? n : 1, sizeof *paths);
  if (paths) n = n ? sg_conf_watched_files(c, paths, n) : 0;
  if (paths && !gw->watch)
    gw->watch = sg_watch_start(on_file_changed, gw, strcmp(c->server.watch_method, "poll") == 0,
                               gw->log);
  if (!paths || !gw->watch || sg_watch_set(gw->watch, paths, n) != 0)
    sg_log(gw->log, SOULGW_LOG_WARN,
           "cannot watch the configuration's files; reload with SIGHUP or soulgw_reload()");
  else if (n && at_start)
    sg_log(gw->log, SOULGW_LOG_INFO, "watching the configuration's files for changes",
           SG_I("files", n), SG_S("method", c->server.watch_method));
  free(paths);
}

/* ------------------------------------------------------------------------------------------ */
/* Wiring: the narrow views the layers below get of the gateway */

/* Fills the views with what lives as long as the gateway. */
static void wire(soulgw *gw) {
  gw->tool_env = (sg_tool_env){.log = gw->log,
                               .metrics = gw->metrics,
                               .tools = gw->tools,
                               .invocations = gw->tool_invocations};
  gw->llm_env = (sg_llm_env){.log = gw->log,
                             .metrics = gw->metrics,
                             .table = gw->llm,
                             .tokens = gw->llm_tokens,
                             .upstream_duration = gw->upstream_duration,
                             .stream_truncated = gw->stream_truncated,
                             .routes = gw->llm_routes,
                             .routed = gw->llm_routed,
                             .fallbacks = gw->llm_fallbacks,
                             .cooldowns = gw->llm_cooldowns};
  gw->ctx = (sg_ctx){.log = gw->log,
                     .metrics = gw->metrics,
                     .registry = gw->registry,
                     .tools = &gw->tool_env,
                     .llm = &gw->llm_env,
                     .inflight = &gw->inflight,
                     .observe_events = gw->observe_events,
                     .ledger = gw->ledger,
                     .mcp_sessions = gw->mcp_sessions};
  sg_ops_prepare(&gw->ctx, sg_http_version());
}

/* Follows the store and the upstream client, which exist from start to stop; called when no
 * request runs (before the HTTP side starts, after it stopped). */
static void wire_running(soulgw *gw) {
  gw->tool_env.upstream = gw->upstream;
  gw->llm_env.upstream = gw->upstream;
  gw->ctx.store = gw->store;
  gw->ctx.redis = gw->redis;
  gw->ctx.instance = gw->instance;
}

/* ------------------------------------------------------------------------------------------ */
/* The cluster (SPEC-cluster.md): Redis, the replay cache's and the rate limits' backends */

/* Before the first snapshot: the Redis client (when configured; a Redis that is down is not
 * fatal) and the rate limiter.  0, or an error with err filled. */
static int cluster_open(soulgw *gw, const sg_conf *c, char *err, size_t errlen) {
  if (*c->cluster.instance) {
    snprintf(gw->instance, sizeof gw->instance, "%s", c->cluster.instance);
  } else {
    char host[256] = "localhost";
    gethostname(host, sizeof host - 1);
    snprintf(gw->instance, sizeof gw->instance, "%s:%lld", host, c->server.port);
  }
  if (c->cluster.redis_url.value && !gw->redis) {
    sg_redis_opts ro = {.url = c->cluster.redis_url.value, .pool = 4, .timeout_ms = 1000,
                        .log = gw->log, .errors = gw->redis_errors};
    if (sg_redis_new(&ro, &gw->redis, err, errlen)) return SOULGW_ECONFIG;
  }
  if (!gw->limiter &&
      !(gw->limiter = sg_limiter_new(gw->redis ? &sg_rate_redis : &sg_rate_memory, gw->redis,
                                     gw->log))) {
    snprintf(err, errlen, "out of memory");
    return SOULGW_ENOMEM;
  }
  return 0;
}

/* Once the store is open: where accepted HMAC signatures are kept (Redis, else the database's
 * table, else memory), and a line that says what is shared. */
static void cluster_wire(soulgw *gw, const sg_conf *c) {
  if (gw->redis)
    sg_replay_set_backend(gw->replay, &sg_replay_redis, gw->redis);
  else if (sg_store_has_nonces(gw->store))
    sg_replay_set_backend(gw->replay, &sg_replay_pg, gw->store);
  sg_log(gw->log, SOULGW_LOG_INFO, "cluster", SG_S("instance", gw->instance),
         SG_S("storage", c->storage.backend),
         SG_S("redis", gw->redis ? sg_redis_address(gw->redis) : "none"),
         SG_S("replay_cache", sg_replay_backend_name(gw->replay)),
         SG_S("rate_limits", gw->redis ? "redis" : "memory"));
  if (!gw->redis && strcmp(c->storage.backend, "sqlite") != 0)
    sg_log(gw->log, SOULGW_LOG_WARN,
           "rate limits are per instance (no [cluster] redis_url): the effective limit is rate x "
           "instances", SG_S("instance", gw->instance));
}

/* 1 when a reload changes [cluster], which is read at start only (the URIs compared, never
 * logged). */
static int cluster_changed(const sg_conf *o, const sg_conf *c) {
  const sg_secret *a = &o->cluster.redis_url, *b = &c->cluster.redis_url;
  return strcmp(o->cluster.instance, c->cluster.instance) != 0 || !a->value != !b->value ||
         (a->value && (a->len != b->len || memcmp(a->value, b->value, a->len) != 0));
}

/* Before the store closes: nothing may claim nonces in it any more. */
static void cluster_unwire(soulgw *gw) { sg_replay_set_backend(gw->replay, NULL, NULL); }

/* ------------------------------------------------------------------------------------------ */
/* Lifecycle */

/* The storage line of `soulgw --check` for a database server, into out: 0 when it answers,
 * else SOULGW_ESTORE. */
static int verify_storage(const sg_conf *conf, char *out, size_t len) {
  char why[512] = "";
  sg_store_opts so = {.backend = conf->storage.backend, .url = conf->storage.url.value,
                      .path = conf->storage.path};
  int rc = sg_store_reachable(&so, why, sizeof why);
  snprintf(out, len, "storage: %s (%s%s%s)", conf->storage.backend,
           rc ? "unreachable" : "reachable", rc ? ": " : "", rc ? why : "");
  return rc;
}

int soulgw_config_verify(const soulgw_config *cfg, char *err, size_t errlen) {
  const sg_conf *conf = cfg ? sg_config_snapshot(cfg) : NULL;
  if (err && errlen) err[0] = '\0';
  if (!conf || !err || !errlen) return SOULGW_EINVAL;
  int rc = *conf->tools.manifests_file
               ? sg_registry_check_file(conf->tools.manifests_file, NULL, err, errlen)
               : 0;
  if (rc || strcmp(conf->storage.backend, "postgres") != 0) return rc;
  return verify_storage(conf, err, errlen);
}

soulgw *soulgw_new(const soulgw_config *cfg) {
  sg_conf *conf = sg_config_snapshot(cfg);
  if (!conf || sg_crypto_init() != 0) return NULL;
  soulgw *gw = calloc(1, sizeof *gw);
  if (!gw) return NULL;
  pthread_mutex_init(&gw->reload_lock, NULL);
  pthread_mutex_init(&gw->err_lock, NULL);
  sg_arena_init(&gw->host_arena, NULL, 0, 0);
  gw->host_tail = &gw->host_routes;
  gw->initial = sg_conf_ref(conf);
  gw->log = sg_log_new();
  gw->metrics = sg_metrics_new();
  int no_inflight = sg_inflight_init(&gw->inflight, gw, gw->log, gw->metrics);
  gw->replay = sg_replay_new(1u << 16);
  if (sg_conf_source_copy(&gw->src, sg_config_source(cfg)) || !gw->log || !gw->metrics ||
      !gw->replay || no_inflight)
    goto fail;
  sg_log_configure(gw->log, conf->log.level, conf->log.json);
  sg_metrics_set_build(gw->metrics, soulgw_version(), soulgw_commit());
  sg_metrics_set_tenant_labels(gw->metrics, conf->metrics.tenant_labels);
  gw->auth_failures = sg_metrics_family(gw->metrics, "soulgw_auth_failures_total",
                                        "Requests refused by authentication, by reason.",
                                        "reason", 32, NULL);
  gw->config_reloads = sg_metrics_family(gw->metrics, "soulgw_config_reloads_total",
                                         "Configuration reloads, by result.", "result", 4, NULL);
  gw->store_errors = sg_metrics_family(gw->metrics, "soulgw_store_errors_total",
                                       "Storage operations that failed.", "", 1, NULL);
  gw->storage_errors = sg_metrics_family(
      gw->metrics, "soulgw_storage_errors_total",
      "Storage errors by kind: connect (the database cannot be reached), timeout (a statement "
      "past storage.statement_timeout_ms, or a lock), conflict, other.", "kind", 8, NULL);
  gw->storage_pool = sg_metrics_gauge(gw->metrics, "soulgw_storage_pool_connections",
                                      "Database connections of the store (the writer and the "
                                      "readers), by state: idle or busy.", "state", 2);
  gw->http_connections = sg_metrics_gauge(gw->metrics, "soulgw_http_connections",
                                          "Open client connections, by the event loop (server "
                                          "thread) serving them.", "loop", 1024);
  if (!gw->storage_errors || !gw->storage_pool || !gw->http_connections) goto fail;
  for (size_t i = 0; i < 4; i++)
    sg_family_add(gw->storage_errors,
                  (const char *[]){(const char *[]){"connect", "timeout", "conflict", "other"}[i]},
                  0);
  gw->store_rows_read = sg_metrics_family(gw->metrics, "soulgw_store_rows_read_total",
                                          "Database rows read, by operation (graph_recall).",
                                          "op", 8, NULL);
  if (!gw->store_rows_read) goto fail;
  gw->tool_invocations = sg_metrics_family(gw->metrics, "soulgw_tool_invocations_total",
                                           "Tool executions, by tool and status.", "tool,status",
                                           1000, NULL);
  gw->llm_tokens = sg_metrics_family(gw->metrics, "soulgw_llm_tokens_total",
                                     "LLM tokens, by model and direction (input, output).",
                                     "model,direction", 200, NULL);
  static const double upstream_buckets[] = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
                                            0.5,   1,      2.5,   5,    10,    30,   60,  0};
  gw->upstream_duration = sg_metrics_family(gw->metrics, "soulgw_upstream_duration_seconds",
                                            "Time spent on upstream calls, by provider.",
                                            "provider", 100, upstream_buckets);
  gw->stream_truncated = sg_metrics_family(
      gw->metrics, "soulgw_llm_stream_truncated_total",
      "Model streams whose upstream closed, cut off or went silent before its end marker "
      "([DONE] or a finish reason), ended with an error event, by provider.",
      "provider", 100, NULL);
  gw->llm_routed = sg_metrics_family(
      gw->metrics, "soulgw_llm_requests_total",
      "Calls through model aliases, by alias, target and outcome (ok, fallback, error); an "
      "unknown model is counted as unknown.", "model,target,outcome", 1000, NULL);
  gw->llm_fallbacks = sg_metrics_family(gw->metrics, "soulgw_llm_fallbacks_total",
                                        "Alias calls that moved from one target to the next.",
                                        "model,from,to", 1000, NULL);
  gw->llm_cooldowns = sg_metrics_family(gw->metrics, "soulgw_llm_cooldowns_total",
                                        "Times a target began a cooldown.", "target", 200, NULL);
  gw->llm_routes = sg_llm_routes_new();
  gw->ledger = sg_ledger_new(gw->log);
  gw->observe_events = sg_metrics_family(gw->metrics, "soulgw_observe_events_total",
                                         "Observe events ingested, by topic (the first 100 "
                                         "topics; the rest as other).",
                                         "topic", 100, NULL);
  gw->redis_errors = sg_metrics_family(gw->metrics, "soulgw_redis_errors_total",
                                       "Redis commands and checks that failed ([cluster]).", "",
                                       1, NULL);
  if (gw->redis_errors) sg_family_add(gw->redis_errors, NULL, 0);
  gw->registry_load_failures = sg_metrics_family(
      gw->metrics, "soulgw_registry_load_failures_total",
      "Tenants whose active tool registry could not be loaded at start (each served its last "
      "good version, or none).", "", 1, NULL);
  gw->registry_notifications = sg_metrics_family(
      gw->metrics, "soulgw_registry_notifications_total",
      "Registry changes notified by the database (PostgreSQL LISTEN/NOTIFY), from any "
      "gateway; each reloads its tenant's registry.", "", 1, NULL);
  /* the outcomes an operator alerts on exist from the start, at 0 */
  sg_family_add(gw->config_reloads, (const char *[]){"ok"}, 0);
  sg_family_add(gw->config_reloads, (const char *[]){"error"}, 0);
  sg_family_add(gw->store_rows_read, (const char *[]){"graph_recall"}, 0);
  gw->tools = sg_tools_new();
  gw->llm = sg_llm_new();
  gw->registry = sg_registry_new();
  if (!(gw->mcp_sessions = sg_mcp_sessions_new())) goto fail;
  if (!gw->auth_failures || !gw->config_reloads || !gw->store_errors || !gw->tool_invocations ||
      !gw->llm_tokens || !gw->upstream_duration || !gw->stream_truncated || !gw->observe_events ||
      !gw->registry_load_failures || !gw->redis_errors || !gw->registry_notifications ||
      !gw->tools || !gw->llm || !gw->registry || !gw->llm_routed || !gw->llm_fallbacks ||
      !gw->llm_cooldowns || !gw->llm_routes || !gw->ledger ||
      sg_llm_add_backend(gw->llm, &sg_llm_openai))
    goto fail;
  wire(gw);
  return gw;
fail:
  soulgw_free(gw);
  return NULL;
}

void soulgw_free(soulgw *gw) {
  if (!gw) return;
  if (gw->state == GW_RUNNING) soulgw_stop(gw, 0);
  sg_inflight_destroy(&gw->inflight);
  sg_limiter_free(gw->limiter); /* after the snapshots, whose auth states used it */
  sg_redis_free(gw->redis);
  sg_registry_free(gw->registry);
  sg_mcp_sessions_free(gw->mcp_sessions);
  sg_tools_free(gw->tools);
  sg_llm_free(gw->llm);
  sg_llm_routes_free(gw->llm_routes);
  sg_ledger_free(gw->ledger);
  sg_conf_release(gw->initial);
  sg_conf_source_clear(&gw->src);
  sg_replay_free(gw->replay);
  sg_metrics_free(gw->metrics);
  sg_log_free(gw->log);
  sg_arena_release(&gw->host_arena);
  pthread_mutex_destroy(&gw->reload_lock);
  pthread_mutex_destroy(&gw->err_lock);
  free(gw);
}

int soulgw_tool_register(soulgw *gw, const char *name, soulgw_tool_fn fn, void *userdata) {
  return gw ? sg_tools_register(gw->tools, name, fn, userdata) : SOULGW_EINVAL;
}

int soulgw_provider_register(soulgw *gw, const char *name, const soulgw_provider *provider,
                             void *userdata) {
  if (!gw) return SOULGW_EINVAL;
  if (gw->state != GW_NEW) return SOULGW_ESTATE;
  return sg_llm_register(gw->llm, name, provider, userdata);
}

void soulgw_set_log_fn(soulgw *gw, soulgw_log_fn fn, void *userdata) {
  sg_log_set_fn(gw->log, fn, userdata);
}

int soulgw_route_add(soulgw *gw, const char *methods, const char *pattern, soulgw_handler_fn fn,
                     void *userdata, const soulgw_route_opts *opts) {
  if (!gw || !methods || !pattern || !fn) return SOULGW_EINVAL;
  if (gw->state != GW_NEW) return SOULGW_ESTATE;
  unsigned bits = sg_methods_parse(methods);
  if (!bits || sg_pattern_check(pattern)) return SOULGW_EINVAL;
  for (sg_host_route *h = gw->host_routes; h; h = h->next)
    if (strcmp(h->route.pattern, pattern) == 0 && (h->route.methods & bits))
      return SOULGW_EEXIST;
  sg_arena *a = &gw->host_arena;
  sg_host_route *h = sg_arena_calloc(a, sizeof *h);
  if (!h) return SOULGW_ENOMEM;
  sg_route *rt = &h->route;
  rt->pattern = sg_arena_strdup(a, pattern);
  rt->methods = bits;
  rt->fn = fn;
  rt->ud = userdata;
  rt->name = sg_arena_strdup(a, opts && opts->name ? opts->name : pattern);
  rt->kind = sg_arena_strdup(a, opts && opts->kind ? opts->kind : "custom");
  rt->description = sg_arena_strdup(a, opts && opts->description ? opts->description : "");
  rt->flags = opts ? (opts->flags & (SOULGW_ROUTE_ANONYMOUS | SOULGW_ROUTE_TENANT)) : 0;
  size_t n = 0;
  while (opts && opts->scopes && opts->scopes[n]) n++;
  rt->scopes.n = n;
  rt->scopes.v = sg_arena_alloc(a, (n + 1) * sizeof(char *));
  if (!rt->pattern || !rt->name || !rt->kind || !rt->description || !rt->scopes.v)
    return SOULGW_ENOMEM;
  for (size_t i = 0; i < n; i++)
    if (!(rt->scopes.v[i] = sg_arena_strdup(a, opts->scopes[i]))) return SOULGW_ENOMEM;
  *gw->host_tail = h;
  gw->host_tail = &h->next;
  return 0;
}

/* A registry change in the store, from any gateway (on the store's watch thread): the
 * tenant's registry reloaded, or every tenant's (tenant NULL: the watch missed changes). */
static void registry_changed(void *ud, const char *tenant) {
  soulgw *gw = ud;
  if (tenant) {
    sg_family_add(gw->registry_notifications, NULL, 1);
    sg_registry_reload(gw->registry, gw->store, tenant, gw->log);
    return;
  }
  sg_log(gw->log, SOULGW_LOG_INFO, "reloading every tool registry: registry changes may have "
         "been missed while the storage watch was down");
  sg_registry_reload_all(gw->registry, gw->store, gw->log);
}

/* Each server thread's companion: a lane of the upstream module, so that a request's model
 * call is sent and answered on the thread that read the request (see http.h). */
static void *lane_attach(void *arg, int ep, void (*wake)(void *loop), void *loop) {
  return sg_up_lane_new(((soulgw *)arg)->upstream, ep, wake, loop);
}
static int lane_event(void *st, int fd, unsigned events) { return sg_up_lane_event(st, fd, events); }
static int lane_turn(void *st) { return sg_up_lane_turn(st); }
static void lane_detach(void *st) { sg_up_lane_free(st); }

/* Undoes a start that failed half-way; the gateway can be freed (not started again). */
static void start_cleanup(soulgw *gw) {
  cluster_unwire(gw);
  sg_upstream_free(gw->upstream);
  gw->upstream = NULL;
  sg_ledger_stop(gw->ledger);
  sg_store_close(gw->store);
  gw->store = NULL;
  wire_running(gw);
  gw->state = GW_STOPPED;
}

int soulgw_start(soulgw *gw, unsigned mode) {
  char err[1024] = "";
  if (!gw) return SOULGW_EINVAL;
  if (gw->state != GW_NEW) return SOULGW_ESTATE;
  uint64_t t0 = sg_now_ns();
  sg_conf *c = gw->initial;
  sg_snap *snap = NULL;
  int rc = cluster_open(gw, c, err, sizeof err);
  if (!rc) rc = build_snap(gw, c, &snap, err, sizeof err);
  if (rc) {
    sg_gw_seterr(gw, "%s", err);
    return rc;
  }
  sg_inflight_swap(&gw->inflight, snap);
  count_providers(gw, c);
  gw->started_ms = sg_wall_ms();
  sg_store_opts so = {.path = c->storage.path, .sync_full = c->storage.sync_full,
                      .errors = gw->store_errors, .log = gw->log, .rows_read = gw->store_rows_read,
                      .errors_by_kind = gw->storage_errors, .pool_gauge = gw->storage_pool,
                      .backend = c->storage.backend, .url = c->storage.url.value,
                      /* SQLite's readers are cheap: bounded on PostgreSQL only */
                      .pool = strcmp(c->storage.backend, "postgres") ? 0 : (int)c->storage.pool,
                      .statement_timeout_ms = (int)c->storage.statement_timeout_ms};
  if ((rc = sg_store_open(&so, &gw->store, err, sizeof err)) != 0 ||
      (rc = sg_store_watch_registry(gw->store, registry_changed, gw)) != 0 ||
      (rc = sg_registry_load(gw->registry, gw->store, c->tools.manifests_file, gw->log,
                             gw->registry_load_failures, err, sizeof err)) != 0 ||
      (rc = sg_ledger_start(gw->ledger, gw->store)) != 0 ||
      !(gw->upstream = sg_upstream_new(gw->log))) {
    if (!rc) {
      rc = SOULGW_ENOMEM;
      snprintf(err, sizeof err, "out of memory");
    }
    sg_gw_seterr(gw, "%s", err);
    sg_log(gw->log, SOULGW_LOG_ERROR, "cannot start", SG_S("error", err));
    start_cleanup(gw);
    return rc;
  }
  cluster_wire(gw, c);
  wire_running(gw);
  sg_http_opts o = {c->server.address,
                    (int)c->server.port,
                    (int)c->server.threads,
                    (int)c->server.max_connections,
                    (int)c->server.connection_timeout_s,
                    (mode & SOULGW_START_EXTERNAL) != 0,
                    (int)c->server.header_timeout_s,
                    c->server.min_body_rate_bytes_s,
                    (int)c->server.max_connections_per_ip,
                    NULL,
                    gw->http_connections};
  sg_http_companion lanes = {lane_attach, lane_event, lane_turn, lane_detach, gw};
  if (!o.external) o.companion = &lanes;
  rc = sg_http_start(&gw->inflight, gw->log, &o, &gw->http, err, sizeof err);
  if (rc) {
    sg_gw_seterr(gw, "%s", err);
    sg_log(gw->log, SOULGW_LOG_ERROR, "cannot start", SG_S("error", err));
    start_cleanup(gw);
    return rc;
  }
  gw->state = GW_RUNNING;
  log_conf(gw, c);
  sg_log(gw->log, SOULGW_LOG_INFO, "listening", SG_S("address", c->server.address),
         SG_I("port", sg_http_port(gw->http)), SG_S("version", soulgw_version()),
         SG_S("commit", soulgw_commit()), SG_S("config", c->file),
         SG_S("mode", o.external ? "external" : "threads"),
         SG_F("startup_ms", (double)(sg_now_ns() - t0) / 1e6));
  watch_follow(gw, c, 1);
  return 0;
}

int soulgw_port(const soulgw *gw) { return gw && gw->http ? sg_http_port(gw->http) : 0; }

int soulgw_fdset(soulgw *gw, fd_set *rs, fd_set *ws, fd_set *es, int *max_fd) {
  if (!gw || gw->state != GW_RUNNING) return SOULGW_ESTATE;
  return sg_http_fdset(gw->http, rs, ws, es, max_fd);
}

int soulgw_timeout(soulgw *gw, long long *timeout_ms) {
  if (!gw || gw->state != GW_RUNNING) return SOULGW_ESTATE;
  return sg_http_timeout(gw->http, timeout_ms);
}

int soulgw_run(soulgw *gw) {
  if (!gw || gw->state != GW_RUNNING) return SOULGW_ESTATE;
  return sg_http_run(gw->http);
}

int soulgw_run_wait(soulgw *gw, int timeout_ms) {
  if (!gw || gw->state != GW_RUNNING) return SOULGW_ESTATE;
  return sg_http_run_wait(gw->http, timeout_ms);
}

int soulgw_drain(soulgw *gw) {
  if (!gw || gw->state != GW_RUNNING) return SOULGW_ESTATE;
  if (sg_inflight_drain(&gw->inflight) == 0) {
    sg_http_quiesce(gw->http);
    sg_log(gw->log, SOULGW_LOG_INFO, "draining", SG_I("in_flight", sg_metrics_inflight_value(gw->metrics)));
  }
  return 0;
}

int soulgw_inflight(const soulgw *gw) { return gw ? sg_metrics_inflight_value(gw->metrics) : 0; }

/* Waits for requests in flight, running the loop in external mode. */
static void wait_inflight(soulgw *gw, int external, uint64_t until) {
  while (sg_metrics_inflight_value(gw->metrics) > 0 && sg_now_ns() < until) {
    if (external) {
      sg_http_run_wait(gw->http, 20);
    } else {
      struct timespec ts = {0, 5 * 1000 * 1000};
      nanosleep(&ts, NULL);
    }
  }
}

int soulgw_stop(soulgw *gw, int timeout_ms) {
  if (!gw || gw->state != GW_RUNNING) return SOULGW_ESTATE;
  int rc = 0;
  int external = sg_http_is_external(gw->http);
  sg_watch_stop(gw->watch); /* first: no reload starts from here on */
  gw->watch = NULL;
  if (timeout_ms < 0) {
    int lent;
    sg_snap *s = sg_inflight_acquire(&gw->inflight, &lent);
    timeout_ms = (int)s->conf->server.drain_timeout_s * 1000;
    sg_inflight_put(&gw->inflight, s, lent);
  }
  soulgw_drain(gw);
  uint64_t t0 = sg_now_ns();
  wait_inflight(gw, external, t0 + (uint64_t)timeout_ms * 1000000u);
  if (sg_metrics_inflight_value(gw->metrics) > 0) {
    rc = SOULGW_ETIMEDOUT;
    /* Upstream calls still out end first, with an error their owners answer properly (an
     * event stream gets its error event), before the rest is cut short with 503. */
    sg_upstream_cancel_all(gw->upstream);
    int forced = sg_inflight_force_all(&gw->inflight, sg_req_force_answer);
    /* give the forced answers a moment to go out */
    wait_inflight(gw, external, sg_now_ns() + 200 * 1000000u);
    sg_log(gw->log, SOULGW_LOG_WARN, "drain timeout: requests cut short",
           SG_I("in_flight", sg_metrics_inflight_value(gw->metrics)), SG_I("answered_503", forced));
  }
  sg_http_stop(gw->http);
  gw->http = NULL;
  sg_upstream_free(gw->upstream); /* after the HTTP side: nothing can start a call now */
  gw->upstream = NULL;
  cluster_unwire(gw);
  sg_ledger_stop(gw->ledger); /* the last usage counts, through the writer */
  sg_store_close(gw->store); /* finishes the queued writes */
  gw->store = NULL;
  wire_running(gw);
  gw->state = GW_STOPPED;
  sg_log(gw->log, SOULGW_LOG_INFO, "stopped",
         SG_F("drain_ms", (double)(sg_now_ns() - t0) / 1e6));
  return rc;
}

int soulgw_reload(soulgw *gw) {
  if (!gw || gw->state != GW_RUNNING) return SOULGW_ESTATE;
  pthread_mutex_lock(&gw->reload_lock);
  int rc = reload_locked(gw);
  pthread_mutex_unlock(&gw->reload_lock);
  return rc;
}

static int reload_locked(soulgw *gw) {
  char err[8192] = "";
  sg_conf *c = NULL;
  sg_snap *snap = NULL;
  sg_watch_sync(gw->watch); /* what this reload reads needs no reload of the watch's */
  int rc = sg_conf_build(&gw->src, &c, err, sizeof err);
  if (rc == 0) rc = build_snap(gw, c, &snap, err, sizeof err);
  if (rc) {
    sg_conf_release(c);
    sg_gw_seterr(gw, "%s", err);
    sg_family_add(gw->config_reloads, (const char *[]){"error"}, 1);
    sg_log(gw->log, SOULGW_LOG_ERROR, "reload failed; keeping the running configuration",
           SG_S("error", err));
    return SOULGW_ECONFIG;
  }
  sg_snap *old = sg_inflight_swap(&gw->inflight, snap);
  const sg_conf *o = old->conf;
  if (strcmp(o->server.address, c->server.address) || o->server.port != c->server.port ||
      o->server.threads != c->server.threads ||
      o->server.max_connections != c->server.max_connections ||
      o->server.connection_timeout_s != c->server.connection_timeout_s ||
      o->server.header_timeout_s != c->server.header_timeout_s ||
      o->server.min_body_rate_bytes_s != c->server.min_body_rate_bytes_s ||
      o->server.max_connections_per_ip != c->server.max_connections_per_ip ||
      strcmp(o->storage.path, c->storage.path) || o->storage.sync_full != c->storage.sync_full ||
      strcmp(o->storage.backend, c->storage.backend) || o->storage.pool != c->storage.pool ||
      o->storage.statement_timeout_ms != c->storage.statement_timeout_ms ||
      o->storage.url.len != c->storage.url.len ||
      (c->storage.url.len && memcmp(o->storage.url.value, c->storage.url.value, c->storage.url.len)))
    sg_log(gw->log, SOULGW_LOG_WARN,
           "server address, port, threads, connection limits and storage take effect only "
           "after a restart");
  if (cluster_changed(o, c))
    sg_log(gw->log, SOULGW_LOG_WARN, "[cluster] changes take effect only after a restart");
  sg_snap_release(old);
  sg_log_configure(gw->log, c->log.level, c->log.json);
  sg_metrics_set_tenant_labels(gw->metrics, c->metrics.tenant_labels);
  sg_family_add(gw->config_reloads, (const char *[]){"ok"}, 1);
  count_providers(gw, c);
  sg_log(gw->log, SOULGW_LOG_INFO, "configuration reloaded", SG_S("config", c->file));
  log_conf(gw, c);
  watch_follow(gw, c, 0);
  sg_conf_release(c);
  return 0;
}
