/*
 * router.c -- unit tests of lib/pipeline/router.c: exact and {param} routes, 404 against 405
 * with the allowed methods, HEAD implied by GET, duplicates, the parameter limit, the dialect
 * of a path that matched.  Method lists
 * and pattern checks: test/unit/base/route_syntax.c.
 */
#include <stdio.h>
#include <string.h>

#include "pipeline/router.h"
#include "base/sg.h"
#include "tap.h"

static int h1(soulgw_req *req, void *ud) {
  (void)req;
  (void)ud;
  return 1;
}
static int h2(soulgw_req *req, void *ud) {
  (void)req;
  (void)ud;
  return 2;
}

static int add(sg_router *r, const char *methods, const char *pattern, const char *name) {
  sg_route rt;
  memset(&rt, 0, sizeof rt);
  rt.methods = sg_methods_parse(methods);
  rt.pattern = pattern;
  rt.name = name;
  rt.fn = h1;
  return sg_router_add(r, &rt);
}

/* One lookup: the route's name or NULL, with allowed and params. */
typedef struct hit {
  const sg_route *rt;
  unsigned allowed;
  sg_dialect dialect;
  sg_param params[SG_MAX_PARAMS];
  size_t np;
  char scratch[512];
} hit;

static const char *match(const sg_router *r, const char *method, const char *path, hit *h) {
  memset(h, 0, sizeof *h);
  h->np = 99;
  h->dialect = SG_DIALECT_COUNT;
  h->rt = sg_router_match(r, sg_method_bit(method), path, h->params, &h->np, h->scratch,
                          &h->allowed, &h->dialect);
  return h->rt ? h->rt->name : NULL;
}

static const char *param(const hit *h, const char *name) {
  for (size_t i = 0; i < h->np; i++)
    if (h->params[i].name && strcmp(h->params[i].name, name) == 0) return h->params[i].value;
  return NULL;
}

static void unit_router_exact_match(void) {
  sg_router *r = sg_router_new();
  hit h;
  is_int(add(r, "GET", "/health", "health"), 0, "add /health");
  is_int(add(r, "POST", "/api/tools/execute", "exec"), 0, "add /api/tools/execute");
  is_int(add(r, "GET", "/", "root"), 0, "add /");
  is_str(match(r, "GET", "/health", &h), "health", "exact path found");
  is_int(h.np, 0, "no parameters for an exact path");
  is_str(match(r, "POST", "/api/tools/execute", &h), "exec", "a deeper exact path");
  is_str(match(r, "GET", "/", &h), "root", "the root path");
  ok(match(r, "GET", "/healthz", &h) == NULL, "a longer path does not match");
  ok(match(r, "GET", "/Health", &h) == NULL, "paths are case-sensitive");
  ok(match(r, "GET", "/api/tools", &h) == NULL, "a prefix does not match");
  const sg_route *rt = sg_router_match(r, SG_M_GET, "/health", h.params, &h.np, h.scratch,
                                       &h.allowed, NULL);
  ok(rt && rt->fn == h1, "the handler is kept");
  is_str(rt ? rt->pattern : NULL, "/health", "the pattern is kept");
  is_str(rt ? rt->kind : NULL, "custom", "kind defaults to custom");
  is_str(rt ? rt->description : NULL, "", "description defaults to empty");
  sg_router_free(r);
}

static void unit_router_params(void) {
  sg_router *r = sg_router_new();
  hit h;
  is_int(add(r, "POST", "/tenants/{tenant}/tools.execute", "legacy"), 0, "add a param route");
  is_int(add(r, "GET", "/a/{x}/b/{y}/{z}", "three"), 0, "add a route with three params");
  is_str(match(r, "POST", "/tenants/acme/tools.execute", &h), "legacy", "param route matches");
  is_int(h.np, 1, "one parameter");
  is_str(param(&h, "tenant"), "acme", "the parameter's value");
  is_str(match(r, "GET", "/a/1/b/22/333", &h), "three", "three params match");
  is_int(h.np, 3, "three parameters");
  is_str(param(&h, "x"), "1", "x");
  is_str(param(&h, "y"), "22", "y");
  is_str(param(&h, "z"), "333", "z");
  is_str(h.params[0].name, "x", "parameters come in pattern order");
  is_str(h.params[2].name, "z", "last parameter");
  ok(match(r, "GET", "/a/1/c/22/333", &h) == NULL, "a literal segment must match");
  ok(match(r, "GET", "/a/1/b/22", &h) == NULL, "too few segments");
  ok(match(r, "GET", "/a/1/b/22/333/4", &h) == NULL, "too many segments");
  is_str(match(r, "POST", "/tenants/a%20b/tools.execute", &h), "legacy",
         "a param takes any non-empty segment");
  is_str(param(&h, "tenant"), "a%20b", "the raw segment is the value");
  sg_router_free(r);

  /* Use of the same pattern with another name. */
  r = sg_router_new();
  is_int(add(r, "GET", "/{a}", "one"), 0, "add /{a}");
  ok(match(r, "GET", "/", &h) == NULL, "/ does not match /{a} (empty segment)");
  is_str(match(r, "GET", "/x", &h), "one", "/x matches /{a}");
  sg_router_free(r);
}

static void unit_router_404_vs_405(void) {
  sg_router *r = sg_router_new();
  hit h;
  add(r, "POST", "/api/x", "x");
  add(r, "GET,DELETE", "/items/{id}", "item");
  ok(match(r, "GET", "/nope", &h) == NULL, "no route");
  is_int(h.allowed, 0, "404: allowed is 0");
  is_int(h.np, 0, "no params on a miss");
  ok(match(r, "GET", "/api/x", &h) == NULL, "GET on a POST route");
  is_int(h.allowed, SG_M_POST, "405: allowed is POST");
  char allow[64];
  sg_methods_format(h.allowed, allow, sizeof allow);
  is_str(allow, "POST", "the Allow header text");
  ok(match(r, "PUT", "/items/7", &h) == NULL, "PUT on a GET,DELETE param route");
  is_int(h.allowed, SG_M_GET | SG_M_HEAD | SG_M_DELETE, "405 on a param route lists its methods");
  sg_methods_format(h.allowed, allow, sizeof allow);
  is_str(allow, "GET, HEAD, DELETE", "Allow text for the param route");
  ok(match(r, "BREW", "/api/x", &h) == NULL, "an unknown method (bit 0) matches nothing");
  is_int(h.allowed, SG_M_POST, "but the path is known: 405");
  sg_router_free(r);
}

static void unit_router_head_implied_by_get(void) {
  sg_router *r = sg_router_new();
  hit h;
  add(r, "GET", "/health", "health");
  add(r, "GET", "/things/{id}", "thing");
  is_str(match(r, "HEAD", "/health", &h), "health", "HEAD finds a GET route");
  is_str(match(r, "HEAD", "/things/1", &h), "thing", "HEAD finds a GET param route");
  ok(match(r, "POST", "/health", &h) == NULL, "POST does not");
  is_int(h.allowed, SG_M_GET | SG_M_HEAD, "Allow lists GET and HEAD");
  /* An explicit HEAD route registered after GET: either refused or answering HEAD. */
  is_int(add(r, "HEAD", "/health", "head-only"), 0, "an explicit HEAD route after GET");
  is_str(match(r, "HEAD", "/health", &h), "head-only", "takes HEAD from the GET route");
  is_str(match(r, "GET", "/health", &h), "health", "while GET stays with the GET route");
  is_int(add(r, "HEAD", "/health", "again"), SOULGW_EEXIST, "a second HEAD route is refused");
  sg_router_free(r);

  r = sg_router_new();
  is_int(add(r, "HEAD", "/h", "head-first"), 0, "an explicit HEAD route first");
  is_int(add(r, "GET", "/h", "get-second"), 0, "then GET on the same pattern");
  is_str(match(r, "HEAD", "/h", &h), "head-first", "the explicit HEAD route answers HEAD");
  is_str(match(r, "GET", "/h", &h), "get-second", "GET goes to the GET route");
  sg_router_free(r);
}

static void unit_router_duplicates_and_methods(void) {
  sg_router *r = sg_router_new();
  hit h;
  is_int(add(r, "GET", "/r", "get"), 0, "GET /r");
  is_int(add(r, "GET", "/r", "again"), SOULGW_EEXIST, "the same method and pattern: EEXIST");
  is_int(add(r, "POST,GET", "/r", "overlap"), SOULGW_EEXIST, "an overlapping method list: EEXIST");
  is_int(add(r, "POST", "/r", "post"), 0, "another method on the same pattern");
  is_str(match(r, "GET", "/r", &h), "get", "GET goes to the first route");
  is_str(match(r, "POST", "/r", &h), "post", "POST goes to the second");
  ok(match(r, "PUT", "/r", &h) == NULL, "PUT matches neither");
  is_int(h.allowed, SG_M_GET | SG_M_HEAD | SG_M_POST, "405 lists the methods of both routes");
  is_int(add(r, "PUT", "/p/{a}", "p1"), 0, "a param route");
  is_int(add(r, "PUT", "/p/{a}", "p2"), SOULGW_EEXIST, "a duplicate param route: EEXIST");
  is_int(add(r, "DELETE", "/p/{a}", "p3"), 0, "another method on the param pattern");
  is_str(match(r, "DELETE", "/p/q", &h), "p3", "DELETE on the param pattern");
  is_str(param(&h, "a"), "q", "with its parameter");

  sg_route rt;
  memset(&rt, 0, sizeof rt);
  rt.pattern = "/z";
  rt.fn = h1;
  is_int(sg_router_add(r, &rt), SOULGW_EINVAL, "no method: EINVAL");
  rt.methods = SG_M_GET;
  rt.fn = NULL;
  is_int(sg_router_add(r, &rt), SOULGW_EINVAL, "no handler: EINVAL");
  rt.fn = h2;
  rt.pattern = "z";
  is_int(sg_router_add(r, &rt), SOULGW_EINVAL, "a relative pattern: EINVAL");
  rt.pattern = NULL;
  is_int(sg_router_add(r, &rt), SOULGW_EINVAL, "no pattern: EINVAL");
  sg_router_free(r);
  sg_router_free(NULL);
}

static int add_as(sg_router *r, const char *methods, const char *pattern, sg_dialect d) {
  sg_route rt;
  memset(&rt, 0, sizeof rt);
  rt.methods = sg_methods_parse(methods);
  rt.pattern = pattern;
  rt.fn = h1;
  rt.dialect = d;
  return sg_router_add(r, &rt);
}

/* The dialect comes with every answer: the route's, the path's on a 405, SOULGW on a 404. */
static void unit_router_dialect(void) {
  sg_router *r = sg_router_new();
  hit h;
  add_as(r, "POST", "/tenants/{tenant}/tools.execute", SG_DIALECT_LEGACY);
  add_as(r, "POST", "/legacy/exact", SG_DIALECT_LEGACY);
  add_as(r, "GET", "/health", SG_DIALECT_SOULGW);
  ok(match(r, "POST", "/tenants/t/tools.execute", &h) != NULL, "a legacy param route");
  is_int(h.dialect, SG_DIALECT_LEGACY, "  its dialect");
  ok(match(r, "GET", "/tenants/t/tools.execute", &h) == NULL, "GET on it: 405");
  is_int(h.dialect, SG_DIALECT_LEGACY, "  still in the path's dialect");
  ok(match(r, "GET", "/legacy/exact", &h) == NULL, "GET on an exact legacy path: 405");
  is_int(h.dialect, SG_DIALECT_LEGACY, "  in the path's dialect");
  ok(match(r, "GET", "/health", &h) != NULL, "a soulgw route");
  is_int(h.dialect, SG_DIALECT_SOULGW, "  its dialect");
  ok(match(r, "POST", "/tenants/t/other", &h) == NULL, "no route at the path: 404");
  is_int(h.dialect, SG_DIALECT_SOULGW, "  in the soulgw dialect");
  sg_router_free(r);
}

static void unit_router_literal_beats_param(void) {
  sg_router *r = sg_router_new();
  hit h;
  add(r, "GET", "/users/{id}", "by-id");
  add(r, "GET", "/users/me", "me");
  is_str(match(r, "GET", "/users/me", &h), "me", "a literal registered after a param wins");
  is_int(h.np, 0, "no parameters for the literal");
  is_str(match(r, "GET", "/users/42", &h), "by-id", "other values go to the param route");
  is_str(param(&h, "id"), "42", "param value");
  sg_router_free(r);

  r = sg_router_new();
  add(r, "GET", "/users/me", "me");
  add(r, "GET", "/users/{id}", "by-id");
  is_str(match(r, "GET", "/users/me", &h), "me", "a literal registered before a param wins");
  sg_router_free(r);

  r = sg_router_new();
  add(r, "GET", "/users/me", "me");
  add(r, "POST", "/users/{id}", "post-by-id");
  is_str(match(r, "POST", "/users/me", &h), "post-by-id",
         "a method the literal lacks falls through to the param route");
  is_str(param(&h, "id"), "me", "with the parameter");
  ok(match(r, "PUT", "/users/me", &h) == NULL, "PUT matches neither");
  is_int(h.allowed, SG_M_GET | SG_M_HEAD | SG_M_POST, "Allow merges the literal and the param");
  sg_router_free(r);
}

static void unit_router_trailing_slash_and_empty_segments(void) {
  sg_router *r = sg_router_new();
  hit h;
  add(r, "GET", "/a/b", "ab");
  add(r, "GET", "/x/{id}", "x");
  add(r, "GET", "/m/{id}/n", "mn");
  ok(match(r, "GET", "/a/b/", &h) == NULL, "a trailing slash does not match an exact route");
  is_int(h.allowed, 0, "and is a 404");
  ok(match(r, "GET", "/x/1/", &h) == NULL, "a trailing slash does not match a param route");
  ok(match(r, "GET", "/x/", &h) == NULL, "an empty parameter does not match");
  ok(match(r, "GET", "/x//", &h) == NULL, "an empty segment then a slash");
  ok(match(r, "GET", "/m//n", &h) == NULL, "an empty middle parameter does not match");
  ok(match(r, "GET", "//a/b", &h) == NULL, "a doubled leading slash does not match");
  ok(match(r, "GET", "/a//b", &h) == NULL, "a doubled inner slash does not match");
  ok(match(r, "GET", "x/1", &h) == NULL, "a relative path does not match");
  ok(match(r, "GET", "", &h) == NULL, "an empty path does not match");
  sg_router_free(r);
}

static void unit_router_many_routes(void) {
  /* Enough exact routes to rehash the table several times. */
  sg_router *r = sg_router_new();
  char pat[64], name[64];
  int rc = 0;
  for (int i = 0; i < 300; i++) {
    snprintf(pat, sizeof pat, "/r%d/x", i);
    snprintf(name, sizeof name, "n%d", i);
    rc |= add(r, "GET", pat, name);
    if (i % 7 == 0) {
      snprintf(pat, sizeof pat, "/p%d/{v}", i);
      rc |= add(r, "POST", pat, name);
    }
  }
  is_int(rc, 0, "300 exact and 43 param routes are added");
  int found = 0;
  hit h;
  for (int i = 0; i < 300; i++) {
    snprintf(pat, sizeof pat, "/r%d/x", i);
    snprintf(name, sizeof name, "n%d", i);
    const char *got = match(r, "GET", pat, &h);
    if (got && strcmp(got, name) == 0) found++;
  }
  is_int(found, 300, "every exact route is found after rehashing");
  is_str(match(r, "POST", "/p294/val", &h), "n294", "a late param route is found");
  is_str(param(&h, "v"), "val", "with its value");
  sg_router_free(r);
}

static void count_route(void *ud, const sg_route *rt) {
  (void)rt;
  ++*(int *)ud;
}

static void name_route(void *ud, const sg_route *rt) {
  sg_buf *b = ud;
  sg_buf_printf(b, "%s ", rt->name);
}

static void unit_router_each(void) {
  sg_router *r = sg_router_new();
  add(r, "GET", "/a", "a");
  add(r, "GET", "/b/{x}", "b");
  add(r, "POST", "/a", "a2");
  add(r, "GET", "/c", NULL);
  int n = 0;
  sg_router_each(r, count_route, &n);
  is_int(n, 4, "each visits every route");
  sg_buf b;
  sg_buf_init(&b, 0);
  sg_router_each(r, name_route, &b);
  is_str(b.ptr, "a a2 b /c ", "routes by pattern in order of registration; name defaults to "
                              "the pattern");
  sg_buf_free(&b);
  sg_router_free(r);
}

static void unit_router_max_params(void) {
  sg_router *r = sg_router_new();
  hit h;
  is_int(add(r, "GET", "/{a}/{b}/{c}/{d}/{e}/{f}/{g}/{h}", "eight"), 0,
         "a pattern with SG_MAX_PARAMS parameters");
  is_str(match(r, "GET", "/1/2/3/4/5/6/7/8", &h), "eight", "eight parameters match");
  is_int(h.np, SG_MAX_PARAMS, "all eight are returned");
  is_str(param(&h, "h"), "8", "the last one");
  is_int(add(r, "GET", "/{a}/{b}/{c}/{d}/{e}/{f}/{g}/{h}/{i}", "nine"), SOULGW_EINVAL,
         "a pattern with more than SG_MAX_PARAMS parameters is refused");
  ok(match(r, "GET", "/1/2/3/4/5/6/7/8/9", &h) == NULL, "and nothing matches nine segments");
  ok(h.np <= SG_MAX_PARAMS, "never more than SG_MAX_PARAMS parameters are written (%zu)", h.np);
  sg_router_free(r);
}

static const tap_test tests[] = {
    TEST(unit_router_exact_match),
    TEST(unit_router_params),
    TEST(unit_router_404_vs_405),
    TEST(unit_router_head_implied_by_get),
    TEST(unit_router_duplicates_and_methods),
    TEST(unit_router_literal_beats_param),
    TEST(unit_router_dialect),
    TEST(unit_router_trailing_slash_and_empty_segments),
    TEST(unit_router_many_routes),
    TEST(unit_router_each),
    TEST(unit_router_max_params),
};

int main(void) {
  tap_run(tests, TAP_COUNT(tests));
  return tap_done();
}
