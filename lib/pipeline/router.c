/*
 * router.c -- the route table (see router.h).
 */
#include <stdlib.h>
#include <string.h>

#include "pipeline/router.h"

/* All routes sharing one pattern. */
typedef struct sg_path {
  const char *pattern;
  size_t nsegs;
  const char **segs; /* literal text, or NULL for a parameter */
  const char **pnames;
  int has_params;
  sg_route *routes;
  size_t nroutes;
  unsigned methods;
} sg_path;

struct sg_router {
  sg_arena arena;
  sg_path **paths; /* in order of registration */
  size_t npaths, cappaths;
  sg_path **table; /* exact paths, open addressing */
  size_t tabsize;
  size_t nroutes;
};

static uint64_t hash(const char *s) {
  uint64_t h = 1469598103934665603ull;
  for (; *s; s++) h = (h ^ (unsigned char)*s) * 1099511628211ull;
  return h;
}

sg_router *sg_router_new(void) {
  sg_router *r = calloc(1, sizeof *r);
  if (r) sg_arena_init(&r->arena, NULL, 0, 0);
  return r;
}

void sg_router_free(sg_router *r) {
  if (!r) return;
  for (size_t i = 0; i < r->npaths; i++) free(r->paths[i]->routes);
  free(r->paths);
  free(r->table);
  sg_arena_release(&r->arena);
  free(r);
}

static int rehash(sg_router *r) {
  size_t size = r->tabsize ? r->tabsize * 2 : 32;
  sg_path **t = calloc(size, sizeof *t);
  if (!t) return SOULGW_ENOMEM;
  for (size_t i = 0; i < r->npaths; i++) {
    sg_path *p = r->paths[i];
    if (p->has_params) continue;
    size_t j = hash(p->pattern) & (size - 1);
    while (t[j]) j = (j + 1) & (size - 1);
    t[j] = p;
  }
  free(r->table);
  r->table = t;
  r->tabsize = size;
  return 0;
}

static sg_path *find_path(sg_router *r, const char *pattern) {
  for (size_t i = 0; i < r->npaths; i++)
    if (strcmp(r->paths[i]->pattern, pattern) == 0) return r->paths[i];
  return NULL;
}

static sg_path *new_path(sg_router *r, const char *pattern) {
  sg_path *p = sg_arena_calloc(&r->arena, sizeof *p);
  if (!p || !(p->pattern = sg_arena_strdup(&r->arena, pattern))) return NULL;
  size_t n = 0;
  for (const char *s = pattern; *s; s++) n += *s == '/';
  if (strcmp(pattern, "/") == 0) n = 0;
  p->nsegs = n;
  p->segs = sg_arena_calloc(&r->arena, (n + 1) * sizeof *p->segs);
  p->pnames = sg_arena_calloc(&r->arena, (n + 1) * sizeof *p->pnames);
  if (!p->segs || !p->pnames) return NULL;
  const char *s = pattern + 1;
  for (size_t i = 0; i < n; i++) {
    const char *e = strchr(s, '/');
    size_t len = e ? (size_t)(e - s) : strlen(s);
    if (s[0] == '{') {
      p->pnames[i] = sg_arena_strndup(&r->arena, s + 1, len - 2);
      if (!p->pnames[i]) return NULL;
      p->has_params = 1;
    } else {
      p->segs[i] = sg_arena_strndup(&r->arena, s, len);
      if (!p->segs[i]) return NULL;
    }
    s = e ? e + 1 : s + len;
  }
  if (r->npaths == r->cappaths) {
    size_t cap = r->cappaths ? r->cappaths * 2 : 16;
    sg_path **v = realloc(r->paths, cap * sizeof *v);
    if (!v) return NULL;
    r->paths = v;
    r->cappaths = cap;
  }
  r->paths[r->npaths++] = p;
  if (!p->has_params && (r->npaths * 2 > r->tabsize)) {
    if (rehash(r)) return NULL;
  } else if (!p->has_params) {
    size_t j = hash(p->pattern) & (r->tabsize - 1);
    while (r->table[j]) j = (j + 1) & (r->tabsize - 1);
    r->table[j] = p;
  }
  return p;
}

/* 1 when the route's pattern is valid: a path pattern, or with SG_ROUTE_SLASH a literal one
 * followed by '/'. */
static int pattern_ok(const sg_route *route) {
  const char *p = route->pattern;
  size_t n = p ? strlen(p) : 0;
  if (!p) return 0;
  if (!(route->flags & SG_ROUTE_SLASH)) return sg_pattern_check(p) == 0;
  char head[256];
  if (n < 2 || n >= sizeof head || p[n - 1] != '/' || strchr(p, '{')) return 0;
  memcpy(head, p, n - 1);
  head[n - 1] = '\0';
  return sg_pattern_check(head) == 0;
}

int sg_router_add(sg_router *r, const sg_route *route) {
  if (!pattern_ok(route) || !route->methods || !route->fn) return SOULGW_EINVAL;
  sg_path *p = find_path(r, route->pattern);
  if (p && (p->methods & route->methods)) return SOULGW_EEXIST;
  if (!p && !(p = new_path(r, route->pattern))) return SOULGW_ENOMEM;
  /* Routes of one path are few; a realloc'd array keeps them contiguous.  Pointers handed out
   * by sg_router_match() are only taken after the router is complete. */
  sg_route *v = realloc(p->routes, (p->nroutes + 1) * sizeof *v);
  if (!v) return SOULGW_ENOMEM;
  p->routes = v;
  sg_route *dst = &v[p->nroutes];
  *dst = *route;
  sg_arena *a = &r->arena;
  dst->pattern = p->pattern;
  dst->name = sg_arena_strdup(a, route->name ? route->name : route->pattern);
  dst->kind = sg_arena_strdup(a, route->kind ? route->kind : "custom");
  dst->description = sg_arena_strdup(a, route->description ? route->description : "");
  dst->scopes.n = route->scopes.n;
  dst->scopes.v = sg_arena_alloc(a, (route->scopes.n + 1) * sizeof(char *));
  if (!dst->name || !dst->kind || !dst->description || !dst->scopes.v) return SOULGW_ENOMEM;
  for (size_t i = 0; i < route->scopes.n; i++)
    if (!(dst->scopes.v[i] = sg_arena_strdup(a, route->scopes.v[i]))) return SOULGW_ENOMEM;
  p->nroutes++;
  p->methods |= route->methods;
  r->nroutes++;
  return 0;
}

/* The route of p for method; HEAD falls back to GET when no route claims HEAD itself. */
static const sg_route *pick(const sg_path *p, unsigned method, unsigned *allowed) {
  *allowed |= p->methods | (p->methods & SG_M_GET ? SG_M_HEAD : 0);
  for (size_t i = 0; i < p->nroutes; i++)
    if (p->routes[i].methods & method) return &p->routes[i];
  if (method == SG_M_HEAD)
    for (size_t i = 0; i < p->nroutes; i++)
      if (p->routes[i].methods & SG_M_GET) return &p->routes[i];
  return NULL;
}

/* Matches a parameterised path; params point into scratch (a copy of the path). */
static int match_params(const sg_path *p, const char *path, sg_param *params, size_t *np,
                        char *scratch) {
  size_t n = 0, k = 0;
  const char *s = path + 1;
  char *out = scratch;
  if (path[0] != '/') return 0;
  for (size_t i = 0; i < p->nsegs; i++) {
    const char *e = strchr(s, '/');
    size_t len = e ? (size_t)(e - s) : strlen(s);
    if (len == 0) return 0;
    if ((e == NULL) != (i + 1 == p->nsegs)) return 0;
    if (p->segs[i]) {
      if (strlen(p->segs[i]) != len || memcmp(p->segs[i], s, len) != 0) return 0;
    } else {
      if (k == SG_MAX_PARAMS) return 0;
      memcpy(out, s, len);
      out[len] = '\0';
      params[k].name = p->pnames[i];
      params[k].value = out;
      k++;
      out += len + 1;
    }
    s = e ? e + 1 : s + len;
    n++;
  }
  *np = k;
  return n == p->nsegs;
}

/* The answer of a lookup: rt (or NULL), with the dialect of rt, else of near (the first path
 * that matched, or NULL). */
static const sg_route *found(const sg_route *rt, const sg_path *near, sg_dialect *dialect) {
  if (dialect)
    *dialect = rt ? rt->dialect : near ? near->routes[0].dialect : SG_DIALECT_SOULGW;
  return rt;
}

const sg_route *sg_router_match(const sg_router *r, unsigned method, const char *path,
                                sg_param *params, size_t *nparams, char *scratch,
                                unsigned *allowed, sg_dialect *dialect) {
  const sg_path *near = NULL;
  *allowed = 0;
  *nparams = 0;
  if (r->tabsize) {
    size_t j = hash(path) & (r->tabsize - 1);
    for (sg_path *p; (p = r->table[j]); j = (j + 1) & (r->tabsize - 1)) {
      if (strcmp(p->pattern, path) == 0) {
        const sg_route *rt = pick(p, method, allowed);
        if (rt) return found(rt, p, dialect);
        near = p;
        break;
      }
    }
  }
  for (size_t i = 0; i < r->npaths; i++) {
    const sg_path *p = r->paths[i];
    if (!p->has_params) continue;
    size_t np = 0;
    unsigned dummy = 0;
    if (!match_params(p, path, params, &np, scratch)) continue;
    const sg_route *rt = pick(p, method, &dummy);
    *allowed |= dummy;
    if (rt) {
      *nparams = np;
      return found(rt, p, dialect);
    }
    if (!near) near = p;
  }
  return found(NULL, near, dialect);
}

void sg_router_each(const sg_router *r, void (*fn)(void *ud, const sg_route *route), void *ud) {
  for (size_t i = 0; i < r->npaths; i++)
    for (size_t k = 0; k < r->paths[i]->nroutes; k++) fn(ud, &r->paths[i]->routes[k]);
}
