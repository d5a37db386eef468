/*
 * ops.c -- the operations routes of SPEC 4.1: /health, /version, /metrics, /routes.  They need
 * no credential (unless server.metrics_scope is set for /metrics), no tenant and no body.
 * /version answers a body prepared once from the facts the gateway gives (sg_ops_prepare).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "routes/ctx.h"
#include "store/store.h"
#include "base/version.h"
#include "routes/routes.h"

/* Degraded: the components that are down, listed in "components" and each named with its
 * state.  The store not writable (or, on PostgreSQL, not reachable) is a 503: this gateway
 * cannot serve.  Redis down alone is a 200 (SPEC-cluster 3: the gateway still serves, its rate
 * limits per instance and its SB-HMAC requests refused; every instance shares that Redis, so
 * taking them all out of rotation would turn it into an outage). */
static int degraded(soulgw_req *req, const sg_ctx *ctx, int storage_down, int redis_down) {
  char inst[256] = "", body[640];
  size_t k = 0;
  /* the instance is an operator's name, kept to what needs no JSON escape */
  for (const char *p = redis_down && ctx->instance ? ctx->instance : ""; *p && k < sizeof inst - 1;
       p++)
    if ((unsigned char)*p >= 0x20 && *p != '"' && *p != '\\') inst[k++] = *p;
  inst[k] = '\0';
  snprintf(body, sizeof body, "{\"status\":\"degraded\",\"components\":[%s%s%s]%s%s%s%s%s}",
           storage_down ? "\"storage\"" : "", storage_down && redis_down ? "," : "",
           redis_down ? "\"redis\"" : "",
           storage_down ? ",\"storage\":\"unavailable\"" : "",
           redis_down ? ",\"redis\":\"unreachable\"" : "", k ? ",\"instance\":\"" : "", inst,
           k ? "\"" : "");
  char *copy = sg_strdup(body);
  if (!copy) return soulgw_reply_error(req, SOULGW_API_UNKNOWN_INTERNAL, "out of memory");
  return sg_req_answer_typed(req, storage_down ? 503 : 200, copy, strlen(copy),
                             "application/json");
}

static int health(soulgw_req *req, void *ud) {
  static const char ok[] = "{\"status\":\"ok\"}";
  static const char draining[] = "{\"status\":\"draining\"}";
  const sg_ctx *ctx = ud;
  if (sg_inflight_draining(ctx->inflight))
    return sg_req_static(req, 503, draining, sizeof draining - 1);
  int storage_down = ctx->store && !sg_store_writable(ctx->store);
  int redis_down = ctx->redis && !sg_redis_up(ctx->redis);
  if (storage_down || redis_down) return degraded(req, ctx, storage_down, redis_down);
  return sg_req_static(req, 200, ok, sizeof ok - 1);
}

static int version(soulgw_req *req, void *ud) {
  const sg_ctx *ctx = ud;
  return sg_req_static(req, 200, ctx->version_json, ctx->version_len);
}

static int metrics(soulgw_req *req, void *ud) {
  const sg_ctx *ctx = ud;
  sg_buf b;
  const char *fmt = soulgw_req_query(req, "format");
  int json = fmt && strcmp(fmt, "json") == 0;
  if (fmt && !json && strcmp(fmt, "prometheus") != 0 && strcmp(fmt, "text") != 0)
    return soulgw_reply_error(req, SOULGW_API_REQUEST_BAD,
                              "unknown format \"%.32s\"; use json or prometheus", fmt);
  sg_buf_init(&b, 64u << 20);
  int rc = json ? sg_metrics_render_json(ctx->metrics, &b) : sg_metrics_render_text(ctx->metrics, &b);
  size_t len;
  char *text = sg_buf_detach(&b, &len);
  if (rc || !text) {
    free(text);
    return soulgw_reply_error(req, SOULGW_API_UNKNOWN_INTERNAL, "out of memory rendering metrics");
  }
  return sg_req_answer_typed(req, 200, text, len,
                             json ? "application/json"
                                  : "text/plain; version=0.0.4; charset=utf-8");
}

typedef struct routes_ctx {
  soulgw_json *list;
} routes_ctx;

static void add_route_json(void *ud, const sg_route *rt) {
  routes_ctx *ctx = ud;
  soulgw_json *o = soulgw_json_object(), *scopes = soulgw_json_array(), *methods;
  char m[80];
  sg_methods_format(rt->methods | (rt->methods & SG_M_GET ? SG_M_HEAD : 0), m, sizeof m);
  methods = soulgw_json_array();
  for (char *p = m, *save = NULL, *t; (t = strtok_r(p, ", ", &save)); p = NULL)
    soulgw_json_push(methods, soulgw_json_new_string(t));
  for (size_t i = 0; i < rt->scopes.n; i++)
    soulgw_json_push(scopes, soulgw_json_new_string(rt->scopes.v[i]));
  soulgw_json_set(o, "name", soulgw_json_new_string(rt->name));
  soulgw_json_set(o, "route", soulgw_json_new_string(rt->pattern));
  soulgw_json_set(o, "kind", soulgw_json_new_string(rt->kind));
  soulgw_json_set(o, "methods", methods);
  soulgw_json_set(o, "scopes", scopes);
  soulgw_json_set(o, "allow_anonymous",
                  soulgw_json_new_bool((rt->flags & SOULGW_ROUTE_ANONYMOUS) != 0));
  soulgw_json_set(o, "description", soulgw_json_new_string(rt->description));
  soulgw_json_push(ctx->list, o);
}

static int routes(soulgw_req *req, void *ud) {
  (void)ud;
  routes_ctx ctx = {soulgw_json_array()};
  sg_router_each(req->snap->router, add_route_json, &ctx);
  return soulgw_reply_json(req, 200, ctx.list);
}

int sg_ops_bind(sg_ctx *ctx, sg_router *r, const sg_conf *conf, char *err, size_t errlen) {
  static const struct {
    const char *name, *path, *description;
    soulgw_handler_fn fn;
  } ops[] = {
      {"health", "/health", "Liveness and readiness", health},
      {"version", "/version", "Build information", version},
      {"metrics", "/metrics", "Prometheus metrics (?format=json for a JSON snapshot)", metrics},
      {"routes", "/routes", "The routes this gateway serves", routes},
  };
  const char *scope[1] = {conf->server.metrics_scope};
  for (size_t i = 0; i < SG_ARRAY_LEN(ops); i++) {
    sg_route rt;
    memset(&rt, 0, sizeof rt);
    rt.name = ops[i].name;
    rt.pattern = ops[i].path;
    rt.kind = "ops";
    rt.description = ops[i].description;
    rt.methods = SG_M_GET;
    rt.fn = ops[i].fn;
    rt.ud = ctx;
    rt.flags = SG_ROUTE_OPS | SOULGW_ROUTE_ANONYMOUS;
    if (ops[i].fn == metrics && *conf->server.metrics_scope) {
      rt.flags = SG_ROUTE_OPS;
      rt.scopes.v = scope;
      rt.scopes.n = 1;
    }
    rt.metric_id = sg_metrics_route(ctx->metrics, rt.name);
    int rc = sg_router_add(r, &rt);
    if (rc) {
      snprintf(err, errlen, "cannot bind %s: %s", rt.pattern, soulgw_strerror(rc));
      return rc;
    }
  }
  return 0;
}

void sg_ops_prepare(sg_ctx *ctx, const char *http_version) {
  int n = snprintf(ctx->version_json, sizeof ctx->version_json,
                   "{\"version\":\"%s\",\"commit\":\"%s\",\"built_at\":\"%s\","
                   "\"libmicrohttpd\":\"%s\",\"sqlite\":\"%s\"}",
                   soulgw_version(), soulgw_commit(), sg_built_at(), http_version,
                   sg_store_engine_version());
  ctx->version_len = n > 0 && (size_t)n < sizeof ctx->version_json ? (size_t)n : 0;
}
