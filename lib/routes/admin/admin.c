/*
 * admin.c -- the console's APIs (SPEC-console 2): admin_overview, admin_series, admin_errors,
 * read from the metrics module's recent window (base/metrics_recent.h).  Nothing here touches
 * the store but for its health; every answer is built in memory, bounded by the rings.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/metrics_recent.h"
#include "base/version.h"
#include "pipeline/auth.h"
#include "pipeline/inflight.h"
#include "routes/ctx.h"
#include "routes/routes.h"

#define SERIES_POINTS_MAX (SG_RECENT_WINDOW_S / SG_RECENT_STEP_S)

/* Answers the built buffer as JSON (or 500 when it ran out of memory). */
static int answer_buf(soulgw_req *req, sg_buf *b) {
  size_t len;
  int failed = sg_buf_failed(b);
  char *text = sg_buf_detach(b, &len);
  if (failed || !text) {
    free(text);
    return soulgw_reply_error(req, SOULGW_API_UNKNOWN_INTERNAL,
                              "out of memory building the answer");
  }
  return sg_req_answer_typed(req, 200, text, len, "application/json");
}

static void put_str(sg_buf *b, const char *key, const char *v) {
  sg_buf_printf(b, "\"%s\":\"", key);
  sg_buf_json_escape(b, v ? v : "", (size_t)-1);
  sg_buf_putc(b, '"');
}

/* A query parameter that must be a whole number within [min, max]: 0 and *out (def when the
 * parameter is absent), or 1 once the 400 is answered. */
static int query_int(soulgw_req *req, const char *name, long min, long max, long def, long *out,
                     const char *what) {
  const char *v = soulgw_req_query(req, name);
  *out = def;
  if (!v) return 0;
  char *end = NULL;
  long n = strtol(v, &end, 10);
  if (!*v || *end || n < min || n > max || v[0] == '+' || v[0] == ' ') {
    soulgw_reply_error(req, SOULGW_API_REQUEST_BAD, "%s must be %s from %ld to %ld, got \"%.32s\"",
                       name, what, min, max, v);
    return 1;
  }
  *out = n;
  return 0;
}

/* The metrics id of the route named by the query parameter "route": 0 and *id (-1 when the
 * parameter is absent), or 1 once the 400 is answered. */
static int query_route(soulgw_req *req, const sg_ctx *ctx, int *id) {
  const char *v = soulgw_req_query(req, "route");
  *id = -1;
  if (!v) return 0;
  int n = sg_metrics_route_count(ctx->metrics);
  for (int i = 0; i < n; i++)
    if (strcmp(sg_metrics_route_name(ctx->metrics, i), v) == 0) {
      *id = i;
      return 0;
    }
  soulgw_reply_error(req, SOULGW_API_REQUEST_BAD,
                     "route \"%.64s\" is not a route of this gateway (see /routes for the names)",
                     v);
  return 1;
}

/* ------------------------------------------------------------------------------------------ */
/* GET /api/admin/overview */

static void put_health(sg_buf *b, const sg_ctx *ctx) {
  int storage_down = ctx->store && !sg_store_writable(ctx->store);
  int redis_down = ctx->redis && !sg_redis_up(ctx->redis);
  const char *status = sg_inflight_draining(ctx->inflight) ? "draining"
                       : storage_down || redis_down        ? "degraded"
                                                           : "ok";
  sg_buf_printf(b, "\"status\":\"%s\",\"components\":[%s%s%s]", status,
                storage_down ? "\"storage\"" : "", storage_down && redis_down ? "," : "",
                redis_down ? "\"redis\"" : "");
}

/* The tenants the configured credentials belong to, each once. */
static void put_tenants(sg_buf *b, const sg_conf *c) {
  const char *seen[256];
  size_t n = 0;
  const sg_cred_conf *lists[3] = {c->auth.tokens, c->auth.hmac_keys, c->auth.api_key};
  sg_buf_puts(b, "\"tenants\":[");
  for (int l = 0; l < 3; l++)
    for (const sg_cred_conf *e = lists[l]; e && n < SG_ARRAY_LEN(seen);
         e = l < 2 ? e->next : NULL) {
      size_t k = 0;
      while (k < n && strcmp(seen[k], e->tenant) != 0) k++;
      if (k < n || !e->tenant) continue;
      seen[n++] = e->tenant;
      sg_buf_puts(b, n > 1 ? ",\"" : "\"");
      sg_buf_json_escape(b, e->tenant, (size_t)-1);
      sg_buf_putc(b, '"');
    }
  sg_buf_putc(b, ']');
}

static void put_principal(sg_buf *b, const sg_principal *p) {
  if (!p) {
    sg_buf_puts(b, "\"principal\":null");
    return;
  }
  sg_buf_puts(b, "\"principal\":{");
  put_str(b, "id", p->id);
  sg_buf_putc(b, ',');
  put_str(b, "tenant", p->tenant);
  sg_buf_puts(b, ",\"scopes\":[");
  for (size_t i = 0; p->scopes && i < p->scopes->n; i++) {
    sg_buf_puts(b, i ? ",\"" : "\"");
    sg_buf_json_escape(b, p->scopes->v[i], (size_t)-1);
    sg_buf_putc(b, '"');
  }
  sg_buf_printf(b, "],\"can\":{\"config_manage\":%s,\"any_tenant\":%s,\"usage_read\":%s}}",
                sg_principal_has(p, "config:manage") ? "true" : "false",
                sg_principal_has(p, "tenant:*") ? "true" : "false",
                sg_principal_has(p, "usage:read") ? "true" : "false");
}

int sg_route_admin_overview(soulgw_req *req, void *ud) {
  const sg_ctx *ctx = ud;
  sg_buf b;
  sg_buf_init(&b, 1u << 20);
  int64_t now = sg_wall_ms();
  double started = sg_metrics_start_time(ctx->metrics);
  sg_recent_point total;
  if (!sg_recent_series(sg_metrics_recent(ctx->metrics), -1, now, SG_RECENT_WINDOW_S,
                        SG_RECENT_WINDOW_S, &total, 1))
    memset(&total, 0, sizeof total);
  sg_buf_putc(&b, '{');
  put_health(&b, ctx);
  sg_buf_putc(&b, ',');
  put_str(&b, "version", soulgw_version());
  sg_buf_putc(&b, ',');
  put_str(&b, "commit", soulgw_commit());
  sg_buf_putc(&b, ',');
  put_str(&b, "built_at", sg_built_at());
  sg_buf_putc(&b, ',');
  put_str(&b, "instance", ctx->instance);
  sg_buf_printf(&b, ",\"started_at\":%.0f,\"uptime_s\":%.0f,\"in_flight\":%d,", started,
                (double)now / 1000.0 - started, sg_metrics_inflight_value(ctx->metrics));
  sg_buf_printf(&b, "\"window\":{\"seconds\":%d,\"requests\":%llu,\"errors\":%llu},",
                SG_RECENT_WINDOW_S, (unsigned long long)total.count,
                (unsigned long long)total.errors);
  put_principal(&b, req->principal);
  sg_buf_putc(&b, ',');
  put_tenants(&b, req->snap->conf);
  sg_buf_putc(&b, '}');
  return answer_buf(req, &b);
}

/* ------------------------------------------------------------------------------------------ */
/* GET /api/admin/series?window=900&step=10[&route=NAME] */

static void put_p99(sg_buf *b, double p99) {
  if (p99 < 0) sg_buf_puts(b, "\"p99_ms\":null");
  else sg_buf_printf(b, "\"p99_ms\":%.3f", p99 * 1000.0);
}

static double ratio(uint64_t part, uint64_t whole) {
  return whole ? (double)part / (double)whole : 0;
}

/* Every route with a request in the window: its requests, error ratio and p99 over it. */
static void put_route_totals(sg_buf *b, const sg_ctx *ctx, int64_t now, long window) {
  sg_recent *r = sg_metrics_recent(ctx->metrics);
  int n = sg_metrics_route_count(ctx->metrics), first = 1;
  sg_buf_puts(b, "\"routes\":[");
  for (int i = 0; i < n; i++) {
    sg_recent_point p;
    if (!sg_recent_series(r, i, now, (int)window, (int)window, &p, 1) || !p.count) continue;
    sg_buf_puts(b, first ? "{" : ",{");
    first = 0;
    put_str(b, "route", sg_metrics_route_name(ctx->metrics, i));
    sg_buf_printf(b, ",\"requests\":%llu,\"errors\":%llu,\"error_ratio\":%.4f,",
                  (unsigned long long)p.count, (unsigned long long)p.errors,
                  ratio(p.errors, p.count));
    put_p99(b, p.p99);
    sg_buf_putc(b, '}');
  }
  sg_buf_putc(b, ']');
}

int sg_route_admin_series(soulgw_req *req, void *ud) {
  const sg_ctx *ctx = ud;
  long window, step;
  int route;
  if (query_int(req, "window", SG_RECENT_STEP_S, SG_RECENT_WINDOW_S, SG_RECENT_WINDOW_S, &window,
                "a number of seconds") ||
      query_int(req, "step", SG_RECENT_STEP_S, SG_RECENT_WINDOW_S, 10, &step,
                "a number of seconds"))
    return 0;
  if (step % SG_RECENT_STEP_S)
    return soulgw_reply_error(req, SOULGW_API_REQUEST_BAD,
                              "step must be a multiple of %d seconds, got %ld", SG_RECENT_STEP_S,
                              step);
  if (window % step)
    return soulgw_reply_error(req, SOULGW_API_REQUEST_BAD,
                              "window (%ld) must be a multiple of step (%ld)", window, step);
  if (query_route(req, ctx, &route)) return 0;
  sg_recent_point pts[SERIES_POINTS_MAX];
  int64_t now = sg_wall_ms();
  size_t n = sg_recent_series(sg_metrics_recent(ctx->metrics), route, now, (int)window,
                              (int)step, pts, SERIES_POINTS_MAX);
  sg_buf b;
  sg_buf_init(&b, 4u << 20);
  sg_buf_printf(&b, "{\"window\":%ld,\"step\":%ld,\"now\":%.3f,\"route\":", window, step,
                (double)now / 1000.0);
  if (route < 0) {
    sg_buf_puts(&b, "null");
  } else {
    sg_buf_putc(&b, '"');
    sg_buf_json_escape(&b, sg_metrics_route_name(ctx->metrics, route), (size_t)-1);
    sg_buf_putc(&b, '"');
  }
  sg_buf_puts(&b, ",\"points\":[");
  for (size_t i = 0; i < n; i++) {
    /* the last step is still running: its rate is over the time it has run */
    double secs = (double)step;
    if (i + 1 == n) secs = (double)now / 1000.0 - (double)pts[i].t;
    if (secs < 1) secs = 1;
    sg_buf_printf(&b, "%s{\"t\":%lld,\"requests\":%llu,\"errors\":%llu,\"rps\":%.3f,"
                  "\"error_ratio\":%.4f,", i ? "," : "", (long long)pts[i].t,
                  (unsigned long long)pts[i].count, (unsigned long long)pts[i].errors,
                  (double)pts[i].count / secs, ratio(pts[i].errors, pts[i].count));
    put_p99(&b, pts[i].p99);
    sg_buf_putc(&b, '}');
  }
  sg_buf_puts(&b, "],");
  put_route_totals(&b, ctx, now, window);
  sg_buf_putc(&b, '}');
  return answer_buf(req, &b);
}

/* ------------------------------------------------------------------------------------------ */
/* GET /api/admin/errors?limit=200[&route=NAME][&status=404|4xx|5xx] */

/* The status filter: 0 and *lo..*hi (everything when absent), or 1 once the 400 is answered. */
static int query_status(soulgw_req *req, int *lo, int *hi) {
  const char *v = soulgw_req_query(req, "status");
  *lo = 400;
  *hi = 599;
  if (!v) return 0;
  if ((v[0] == '4' || v[0] == '5') && strcmp(v + 1, "xx") == 0) {
    *lo = (v[0] - '0') * 100;
    *hi = *lo + 99;
    return 0;
  }
  char *end = NULL;
  long n = strtol(v, &end, 10);
  if (*v >= '1' && *v <= '9' && !*end && n >= 400 && n <= 599) {
    *lo = *hi = (int)n;
    return 0;
  }
  soulgw_reply_error(req, SOULGW_API_REQUEST_BAD,
                     "status must be a status from 400 to 599, 4xx or 5xx, got \"%.32s\"", v);
  return 1;
}

static void put_error(sg_buf *b, const sg_ctx *ctx, const sg_recent_err *e) {
  char when[32];
  time_t secs = (time_t)(e->at_ms / 1000);
  struct tm tm;
  gmtime_r(&secs, &tm);
  strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%S", &tm);
  const char *route = sg_metrics_route_name(ctx->metrics, e->route);
  sg_buf_printf(b, "{\"time\":\"%s.%03dZ\",\"at_ms\":%lld,", when, (int)(e->at_ms % 1000),
                (long long)e->at_ms);
  put_str(b, "route", route ? route : "unmatched");
  sg_buf_printf(b, ",\"status\":%d,", e->status);
  put_str(b, "code", e->code);
  sg_buf_putc(b, ',');
  put_str(b, "message", e->message);
  sg_buf_putc(b, ',');
  put_str(b, "request_id", e->request_id);
  sg_buf_putc(b, ',');
  put_str(b, "principal", e->principal);
  sg_buf_putc(b, ',');
  put_str(b, "tenant", e->tenant);
  sg_buf_putc(b, '}');
}

int sg_route_admin_errors(soulgw_req *req, void *ud) {
  const sg_ctx *ctx = ud;
  long limit;
  int route, lo, hi;
  if (query_int(req, "limit", 1, SG_RECENT_ERRORS, SG_RECENT_ERRORS, &limit, "a count") ||
      query_route(req, ctx, &route) || query_status(req, &lo, &hi))
    return 0;
  sg_recent_err *errs = malloc(SG_RECENT_ERRORS * sizeof *errs);
  if (!errs) return soulgw_reply_error(req, SOULGW_API_UNKNOWN_INTERNAL, "out of memory");
  size_t n = sg_recent_errors(sg_metrics_recent(ctx->metrics), errs, SG_RECENT_ERRORS);
  sg_buf b;
  sg_buf_init(&b, 1u << 20);
  sg_buf_printf(&b, "{\"capacity\":%d,\"errors\":[", SG_RECENT_ERRORS);
  long shown = 0;
  for (size_t i = 0; i < n && shown < limit; i++) {
    if ((route >= 0 && errs[i].route != route) || errs[i].status < lo || errs[i].status > hi)
      continue;
    if (shown++) sg_buf_putc(&b, ',');
    put_error(&b, ctx, &errs[i]);
  }
  sg_buf_puts(&b, "]}");
  free(errs);
  return answer_buf(req, &b);
}
