/*
 * ui.c -- the console's page (SPEC-console 1, 3): the embedded assets (assets.h) served under
 * [ui] path without a credential (they hold no data; every data call the page makes needs its
 * own scope), each with a strict Content-Security-Policy, nosniff, no-referrer, its ETag and
 * Cache-Control: no-cache, so a browser revalidates and gets 304 while the build is the same.
 */
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "routes/routes.h"
#include "routes/ui/assets.h"

#define CSP "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'"

typedef struct served {
  const sg_ui_asset *a;
  char etag[24]; /* "\"<16 hex digits>\"" */
} served;

static served table[8];
static size_t ntable;
static pthread_once_t once = PTHREAD_ONCE_INIT;

/* FNV-1a 64 of the bytes: a validator, not a security measure. */
static void prepare(void) {
  size_t n;
  const sg_ui_asset *a = sg_ui_assets(&n);
  for (size_t i = 0; i < n && i < SG_ARRAY_LEN(table); i++) {
    uint64_t h = 1469598103934665603ull;
    for (size_t k = 0; k < a[i].len; k++) h = (h ^ (unsigned char)a[i].data[k]) * 1099511628211ull;
    table[i].a = &a[i];
    snprintf(table[i].etag, sizeof table[i].etag, "\"%016llx\"", (unsigned long long)h);
    ntable++;
  }
}

/* 1 when an If-None-Match value names etag (or is "*"); weak validators compare equal. */
static int etag_matches(const char *inm, const char *etag) {
  if (!inm) return 0;
  size_t el = strlen(etag);
  for (const char *p = inm; *p;) {
    while (*p == ' ' || *p == ',') p++;
    if (*p == '*') return 1;
    if (p[0] == 'W' && p[1] == '/') p += 2;
    if (strncmp(p, etag, el) == 0 && (p[el] == '\0' || p[el] == ',' || p[el] == ' ')) return 1;
    while (*p && *p != ',') p++;
  }
  return 0;
}

static int serve(soulgw_req *req, void *ud) {
  const served *s = ud;
  soulgw_reply_header(req, "Content-Security-Policy", CSP);
  soulgw_reply_header(req, "X-Content-Type-Options", "nosniff");
  soulgw_reply_header(req, "Referrer-Policy", "no-referrer");
  soulgw_reply_header(req, "Cache-Control", "no-cache");
  soulgw_reply_header(req, "ETag", s->etag);
  if (etag_matches(soulgw_req_header(req, "If-None-Match"), s->etag))
    return sg_req_static_typed(req, 304, "", 0, s->a->type);
  return sg_req_static_typed(req, 200, s->a->data, s->a->len, s->a->type);
}

/* The prefix without its last '/' sends the browser to the page. */
static int to_page(soulgw_req *req, void *ud) {
  soulgw_reply_header(req, "Location", ud);
  return sg_req_static_typed(req, 308, "", 0, "text/plain; charset=utf-8");
}

static int add(sg_ctx *ctx, sg_router *r, const char *pattern, soulgw_handler_fn fn, void *ud,
               char *err, size_t errlen) {
  sg_route rt;
  memset(&rt, 0, sizeof rt);
  rt.name = "ui";
  rt.pattern = pattern;
  rt.kind = "ui";
  rt.description = "The console (HTML, CSS, JavaScript; no credential)";
  rt.methods = SG_M_GET;
  rt.fn = fn;
  rt.ud = ud;
  rt.flags = SG_ROUTE_OPS | SOULGW_ROUTE_ANONYMOUS;
  if (pattern[strlen(pattern) - 1] == '/') rt.flags |= SG_ROUTE_SLASH;
  rt.metric_id = sg_metrics_route(ctx->metrics, rt.name);
  int rc = sg_router_add(r, &rt);
  if (rc)
    snprintf(err, errlen, "cannot bind the console at %s: %s", pattern,
             rc == SOULGW_EEXIST ? "another route has that path" : soulgw_strerror(rc));
  return rc;
}

int sg_ui_bind(sg_ctx *ctx, sg_router *r, const sg_conf *conf, char *err, size_t errlen) {
  if (!conf->ui.enabled) return 0;
  pthread_once(&once, prepare);
  char pattern[160];
  for (size_t i = 0; i < ntable; i++) {
    snprintf(pattern, sizeof pattern, "%s%s", conf->ui.path, table[i].a->name);
    int rc = add(ctx, r, pattern, serve, &table[i], err, errlen);
    if (rc) return rc;
  }
  /* "/ui" -> "/ui/".  The router copies the route but not its ud: the target is the path held
   * by the configuration, which lives as long as the snapshot whose router this is. */
  size_t n = strlen(conf->ui.path);
  if (n < 2) return 0;
  void *page;
  memcpy(&page, &conf->ui.path, sizeof page);
  snprintf(pattern, sizeof pattern, "%.*s", (int)(n - 1), conf->ui.path);
  return add(ctx, r, pattern, to_page, page, err, errlen);
}
