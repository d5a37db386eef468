/*
 * admin_console.c -- integration tests of the console (SPEC-console): the /ui/ assets with
 * their safety headers, ETag and 304, anonymous; the admin APIs' shapes, their scope, their
 * precise 400s; the series counting the requests sent with a p99 from the buckets; the errors
 * ring bounded to 200, newest first, filterable, never holding a credential; [ui] enabled and
 * path.
 */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "tap.h"

static gwproc gw;
#define TOKEN "admin-token"
#define PLAIN "plain-token"
#define CSP "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'"

static const char *const TOML =
    "[server]\naddress = \"127.0.0.1\"\nport = 0\ndrain_timeout_s = 5\n"
    "[storage]\nsynchronous = \"normal\"\n"
    "[log]\naccess = false\n"
    "[auth.tokens.admin]\ntenant = \"tenant-demo\"\ntoken_env = \"T_ADMIN\"\n"
    "scopes = [\"admin:read\", \"tools:execute\", \"config:manage\"]\n"
    "[auth.tokens.plain]\ntenant = \"tenant-b\"\ntoken_env = \"T_PLAIN\"\n"
    "scopes = [\"tools:execute\"]\n";

static long get_as(gwproc *g, const char *token, const char *path, http_resp *r) {
  char auth[128];
  snprintf(auth, sizeof auth, "Authorization: Bearer %s", token);
  const char *h[] = {auth, NULL};
  memset(r, 0, sizeof *r);
  if (http(g, "GET", path, token ? h : NULL, NULL, r)) return -1;
  return r->status;
}

/* GET path as the admin; the answer parsed (NULL unless 200). */
static cJSON *admin_get(const char *path, long want) {
  http_resp r;
  long st = get_as(&gw, TOKEN, path, &r);
  if (!ok(st == want, "GET %s: %ld", path, want)) tap_diag("  got %ld: %.300s", st, r.body);
  cJSON *j = st == 200 ? json_of(&r) : NULL;
  resp_free(&r);
  return j;
}

static void expect_bad(const char *path, const char *fragment) {
  http_resp r;
  long st = get_as(&gw, TOKEN, path, &r);
  cJSON *j = json_of(&r);
  is_int(st, 400, "GET %s: 400", path);
  is_str(json_str(j, "code"), "REQUEST.BAD", "  REQUEST.BAD");
  has_str(json_str(j, "message"), fragment, "  the message says what is wrong");
  cJSON_Delete(j);
  resp_free(&r);
}

static void integration_ui_assets_headers(void) {
  static const struct {
    const char *path, *type, *needle;
  } assets[] = {
      {"/ui/", "text/html; charset=utf-8", "<!doctype html>"},
      {"/ui/app.js", "text/javascript; charset=utf-8", "textContent"},
      {"/ui/app.css", "text/css; charset=utf-8", "prefers-color-scheme"},
      {"/ui/chart.min.js", "text/javascript; charset=utf-8", "Chart.js v"},
  };
  for (size_t i = 0; i < sizeof assets / sizeof assets[0]; i++) {
    http_resp r;
    long st = get_as(&gw, NULL, assets[i].path, &r);
    is_int(st, 200, "%s without a credential: 200", assets[i].path);
    is_str(resp_header(&r, "Content-Type"), assets[i].type, "  its Content-Type");
    has_str(r.body, assets[i].needle, "  its content");
    is_str(resp_header(&r, "Content-Security-Policy"), CSP, "  the CSP");
    is_str(resp_header(&r, "X-Content-Type-Options"), "nosniff", "  nosniff");
    is_str(resp_header(&r, "Referrer-Policy"), "no-referrer", "  no-referrer");
    is_str(resp_header(&r, "Cache-Control"), "no-cache", "  revalidated each time");
    ok(!resp_header(&r, "Set-Cookie"), "  no cookie");
    char etag[64] = "", inm[96];
    const char *e = resp_header(&r, "ETag");
    ok(e && e[0] == '"' && strlen(e) > 2, "  a strong ETag (%s)", e ? e : "none");
    if (e) snprintf(etag, sizeof etag, "%s", e);
    resp_free(&r);
    snprintf(inm, sizeof inm, "If-None-Match: %s", etag);
    const char *h[] = {inm, NULL};
    http(&gw, "GET", assets[i].path, h, NULL, &r);
    is_int(r.status, 304, "  If-None-Match with it: 304");
    is_int(r.len, 0, "  with no body");
    is_str(resp_header(&r, "ETag"), etag, "  and the same ETag");
    resp_free(&r);
    const char *h2[] = {"If-None-Match: \"other\", W/\"x\"", NULL};
    http(&gw, "GET", assets[i].path, h2, NULL, &r);
    is_int(r.status, 200, "  another ETag: 200");
    resp_free(&r);
  }
  http_resp r;
  get_as(&gw, NULL, "/ui", &r);
  is_int(r.status, 308, "/ui is sent on");
  is_str(resp_header(&r, "Location"), "/ui/", "  to /ui/");
  resp_free(&r);
  get_as(&gw, NULL, "/ui/nothing.js", &r);
  is_int(r.status, 404, "an asset that does not exist: 404");
  resp_free(&r);
  /* the script puts every server string in as text */
  get_as(&gw, NULL, "/ui/app.js", &r);
  ok(r.body && !strstr(r.body, "innerHTML") && !strstr(r.body, "outerHTML") &&
         !strstr(r.body, "insertAdjacentHTML") && !strstr(r.body, "document.write") &&
         !strstr(r.body, "eval(") && !strstr(r.body, "localStorage.set") &&
         !strstr(r.body, "document.cookie"),
     "the script never parses server strings as HTML and keeps no token beyond the tab");
  resp_free(&r);
  /* the page holds no inline script or style: the CSP would refuse them */
  get_as(&gw, NULL, "/ui/", &r);
  ok(r.body && !strstr(r.body, "<script>") && !strstr(r.body, "<style") &&
         !strstr(r.body, "style=") && !strstr(r.body, "onclick=") &&
         !strstr(r.body, "onload=") && !strstr(r.body, "javascript:"),
     "the page has no inline script, style or handler");
  resp_free(&r);
}

static void integration_admin_scopes(void) {
  static const char *const paths[] = {"/api/admin/overview", "/api/admin/series",
                                      "/api/admin/errors"};
  for (size_t i = 0; i < 3; i++) {
    http_resp r;
    is_int(get_as(&gw, NULL, paths[i], &r), 401, "%s without a credential: 401", paths[i]);
    resp_free(&r);
    is_int(get_as(&gw, PLAIN, paths[i], &r), 403, "%s without admin:read: 403", paths[i]);
    cJSON *j = json_of(&r);
    is_str(json_str(j, "code"), "AUTH.FORBIDDEN", "  AUTH.FORBIDDEN");
    has_str(json_str(j, "message"), "admin:read", "  naming the scope");
    cJSON_Delete(j);
    resp_free(&r);
  }
}

static void integration_admin_overview(void) {
  cJSON *j = admin_get("/api/admin/overview", 200);
  is_str(json_str(j, "status"), "ok", "status ok");
  ok(cJSON_IsArray(cJSON_GetObjectItem(j, "components")), "components listed");
  ok(json_str(j, "version") && *json_str(j, "version"), "the version");
  ok(json_str(j, "commit") && *json_str(j, "commit"), "the commit");
  ok(json_str(j, "instance") != NULL, "the instance");
  ok(json_num(j, "uptime_s", -1) >= 0, "the uptime");
  ok(json_num(j, "started_at", 0) > 1600000000, "the start time");
  ok(json_num(j, "window.seconds", 0) == 900, "the window is 15 minutes");
  is_str(json_str(j, "principal.id"), "admin", "the principal");
  is_str(json_str(j, "principal.tenant"), "tenant-demo", "its tenant");
  ok(cJSON_IsTrue(cJSON_GetObjectItem(cJSON_GetObjectItem(cJSON_GetObjectItem(j, "principal"),
                                                          "can"), "config_manage")),
     "it may manage tools");
  ok(cJSON_IsFalse(cJSON_GetObjectItem(cJSON_GetObjectItem(cJSON_GetObjectItem(j, "principal"),
                                                           "can"), "any_tenant")),
     "but not act for any tenant");
  is_int(cJSON_GetArraySize(cJSON_GetObjectItem(j, "tenants")), 2, "the credentials' tenants");
  char *text = cJSON_PrintUnformatted(j);
  ok(text && !strstr(text, TOKEN) && !strstr(text, PLAIN), "no token in the overview");
  free(text);
  cJSON_Delete(j);
}

/* The requests of route in the last 15 minutes, as series sums them. */
static long series_sum(const char *route, double *p99, cJSON **whole) {
  char path[160];
  snprintf(path, sizeof path, "/api/admin/series?window=900&step=30&route=%s", route);
  cJSON *j = admin_get(path, 200);
  long n = 0;
  *p99 = -1;
  cJSON *pt;
  cJSON_ArrayForEach(pt, cJSON_GetObjectItem(j, "points")) {
    n += (long)json_num(pt, "requests", 0);
    cJSON *p = cJSON_GetObjectItem(pt, "p99_ms");
    if (cJSON_IsNumber(p) && p->valuedouble > *p99) *p99 = p->valuedouble;
  }
  if (whole) *whole = j;
  else cJSON_Delete(j);
  return n;
}

static void integration_admin_series(void) {
  double p99;
  long before = series_sum("version", &p99, NULL);
  for (int i = 0; i < 25; i++) {
    http_resp r;
    get_as(&gw, NULL, "/version", &r);
    resp_free(&r);
  }
  cJSON *j = NULL;
  long after = series_sum("version", &p99, &j);
  is_int(after - before, 25, "the series counts the 25 requests sent to /version");
  ok(p99 > 0 && p99 <= 10000, "a p99 from the buckets (%.3f ms)", p99);
  is_int(cJSON_GetArraySize(cJSON_GetObjectItem(j, "points")), 30,
         "900 s in 30 s steps: 30 points");
  is_str(json_str(j, "route"), "version", "the route named");
  int found = 0;
  cJSON *rt;
  cJSON_ArrayForEach(rt, cJSON_GetObjectItem(j, "routes")) {
    if (json_str(rt, "route") && !strcmp(json_str(rt, "route"), "version")) {
      found = 1;
      ok(json_num(rt, "requests", 0) >= 25, "the route totals count them too");
      ok(json_num(rt, "error_ratio", -1) == 0, "  without error");
    }
  }
  ok(found, "the route totals list version");
  cJSON_Delete(j);
  j = admin_get("/api/admin/series", 200);
  is_int(json_num(j, "window", 0), 900, "defaults: window 900");
  is_int(json_num(j, "step", 0), 10, "step 10");
  is_int(cJSON_GetArraySize(cJSON_GetObjectItem(j, "points")), 90, "90 points");
  ok(cJSON_IsNull(cJSON_GetObjectItem(j, "route")), "every route");
  cJSON_Delete(j);
}

static void integration_admin_series_bad(void) {
  expect_bad("/api/admin/series?window=0", "window must be a number of seconds from 5 to 900");
  expect_bad("/api/admin/series?window=3600", "window must be a number of seconds from 5 to 900");
  expect_bad("/api/admin/series?window=abc", "got \"abc\"");
  expect_bad("/api/admin/series?step=7", "step must be a multiple of 5 seconds, got 7");
  expect_bad("/api/admin/series?window=100&step=30",
             "window (100) must be a multiple of step (30)");
  expect_bad("/api/admin/series?route=nope", "route \"nope\" is not a route of this gateway");
  expect_bad("/api/admin/errors?limit=0", "limit must be a count from 1 to 200");
  expect_bad("/api/admin/errors?limit=201", "limit must be a count from 1 to 200");
  expect_bad("/api/admin/errors?status=200", "status must be a status from 400 to 599, 4xx or 5xx");
  expect_bad("/api/admin/errors?status=6xx", "got \"6xx\"");
  expect_bad("/api/admin/errors?route=nope", "route \"nope\" is not a route of this gateway");
}

static void integration_admin_errors_ring(void) {
  char last_id[80] = "";
  for (int i = 0; i < 210; i++) {
    http_resp r;
    char path[64];
    snprintf(path, sizeof path, "/no/such/path/%d", i);
    get_as(&gw, NULL, path, &r);
    const char *id = resp_header(&r, "X-Request-Id");
    if (id) snprintf(last_id, sizeof last_id, "%s", id);
    resp_free(&r);
  }
  /* a refused credential: its value must not reach the ring */
  http_resp r;
  is_int(get_as(&gw, "secret-value-never-shown", "/api/tools/list", &r), 401,
         "a wrong token: 401");
  char wrong_id[80];
  const char *rid = resp_header(&r, "X-Request-Id");
  snprintf(wrong_id, sizeof wrong_id, "%s", rid ? rid : "");
  resp_free(&r);

  get_as(&gw, TOKEN, "/api/admin/errors", &r);
  is_int(r.status, 200, "errors: 200");
  ok(r.body && !strstr(r.body, "secret-value-never-shown"), "no credential in the errors");
  cJSON *j = json_of(&r);
  resp_free(&r);
  cJSON *errs = cJSON_GetObjectItem(j, "errors");
  is_int(cJSON_GetArraySize(errs), 200, "211 errors: the last 200 are kept");
  is_int(json_num(j, "capacity", 0), 200, "the capacity is said");
  cJSON *e0 = cJSON_GetArrayItem(errs, 0), *e1 = cJSON_GetArrayItem(errs, 1);
  is_str(json_str(e0, "request_id"), wrong_id, "newest first: the 401");
  is_int(json_num(e0, "status", 0), 401, "  its status");
  is_str(json_str(e0, "code"), "AUTH.UNAUTHENTICATED", "  its code");
  is_str(json_str(e0, "route"), "tools_list", "  its route");
  ok(json_str(e0, "message") && strlen(json_str(e0, "message")) > 0, "  its message");
  is_str(json_str(e1, "request_id"), last_id, "then the last 404");
  is_str(json_str(e1, "route"), "unmatched", "  on no route");
  is_str(json_str(e1, "message"), "no route for this path", "  with its message");
  has_str(json_str(e1, "time"), "Z", "  a UTC time");
  int bounded = 1;
  cJSON *e;
  cJSON_ArrayForEach(e, errs) {
    const char *m = json_str(e, "message");
    bounded &= strlen(m ? m : "") <= 200;
  }
  ok(bounded, "every message is at most 200 bytes");
  cJSON_Delete(j);

  j = admin_get("/api/admin/errors?limit=5&status=404&route=unmatched", 200);
  is_int(cJSON_GetArraySize(cJSON_GetObjectItem(j, "errors")), 5, "limit=5 with filters: 5");
  is_str(json_str(cJSON_GetArrayItem(cJSON_GetObjectItem(j, "errors"), 0), "request_id"), last_id,
         "  the newest 404 first");
  cJSON_Delete(j);
  j = admin_get("/api/admin/errors?status=5xx", 200);
  is_int(cJSON_GetArraySize(cJSON_GetObjectItem(j, "errors")), 0, "status=5xx: none");
  cJSON_Delete(j);
  j = admin_get("/api/admin/errors?status=4xx&route=tools_list", 200);
  is_int(cJSON_GetArraySize(cJSON_GetObjectItem(j, "errors")), 1, "4xx on tools_list: the 401");
  cJSON_Delete(j);
}

static void integration_ui_config(void) {
  static const char *const env[] = {"T_ADMIN=" TOKEN, "T_PLAIN=" PLAIN, NULL};
  char toml[1024];
  gwproc g;
  memset(&g, 0, sizeof g);
  snprintf(toml, sizeof toml, "%s[ui]\nenabled = false\n", TOML);
  if (!ok(gw_start(&g, harness_soulgw_bin(), toml, env, NULL) == 0, "starts with [ui] off"))
    return;
  http_resp r;
  is_int(get_as(&g, NULL, "/ui/", &r), 404, "[ui] enabled = false: no /ui/");
  resp_free(&r);
  is_int(get_as(&g, TOKEN, "/api/admin/overview", &r), 200, "the admin APIs still answer");
  resp_free(&r);
  is_int(gw_stop(&g), 0, "stops");
  memset(&g, 0, sizeof g);
  snprintf(toml, sizeof toml, "%s[ui]\npath = \"/ops/console/\"\n", TOML);
  if (!ok(gw_start(&g, harness_soulgw_bin(), toml, env, NULL) == 0, "starts with another path"))
    return;
  is_int(get_as(&g, NULL, "/ops/console/", &r), 200, "the page at [ui] path");
  resp_free(&r);
  is_int(get_as(&g, NULL, "/ops/console/app.js", &r), 200, "its script beside it");
  resp_free(&r);
  is_int(get_as(&g, NULL, "/ui/", &r), 404, "and not at /ui/");
  resp_free(&r);
  is_int(gw_stop(&g), 0, "stops");
  memset(&g, 0, sizeof g);
  snprintf(toml, sizeof toml, "%s[ui]\npath = \"ui\"\n", TOML);
  ok(gw_start(&g, harness_soulgw_bin(), toml, env, NULL) != 0, "a path without slashes is refused");
  ok(gw_log_has(&g, "ui.path: \"ui\" must start and end with '/'"), "  saying why");
  gw_stop(&g);
}

static const tap_test tests[] = {
    TEST(integration_ui_assets_headers),
    TEST(integration_admin_scopes),
    TEST(integration_admin_overview),
    TEST(integration_admin_series),
    TEST(integration_admin_series_bad),
    TEST(integration_admin_errors_ring),
    TEST(integration_ui_config),
};

int main(void) {
  static const char *const env[] = {"T_ADMIN=" TOKEN, "T_PLAIN=" PLAIN, NULL};
  return tap_with_gateway(&gw, harness_soulgw_bin(), TOML, env, tests, TAP_COUNT(tests));
}
