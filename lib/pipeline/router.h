/*
 * router.h -- the route table: methods, exact paths and {param} patterns.
 *
 * A router is built once (at start and at each reload) and is then read-only, so lookups take
 * no lock.  Exact paths are found through a hash table; patterns with parameters are tried in
 * the order they were added.  A path that matches but whose method does not gives the set of
 * methods that would have matched (405 with Allow).
 */
#ifndef SG_ROUTER_H
#define SG_ROUTER_H

#include "conf/config.h"
#include "soulgw.h"

enum {
  SG_M_GET = 1u << 0,
  SG_M_HEAD = 1u << 1,
  SG_M_POST = 1u << 2,
  SG_M_PUT = 1u << 3,
  SG_M_DELETE = 1u << 4,
  SG_M_PATCH = 1u << 5,
  SG_M_OPTIONS = 1u << 6,
};
#define SG_METHOD_COUNT 7

/* Internal route flags, next to the public SOULGW_ROUTE_* ones. */
#define SG_ROUTE_OPS 0x100u /* operations route: no authentication, tenant or body stage */

typedef struct sg_route {
  const char *name, *pattern, *kind, *description;
  unsigned methods;
  soulgw_handler_fn fn;
  void *ud;
  sg_strv scopes;
  unsigned flags;
  int metric_id; /* set by the gateway: a stable index for metrics */
} sg_route;

typedef struct sg_param {
  const char *name, *value;
} sg_param;
#define SG_MAX_PARAMS 8

typedef struct sg_router sg_router;

sg_router *sg_router_new(void);
void sg_router_free(sg_router *r);
/* Copies the route (and its strings).  Returns 0, SOULGW_EINVAL (bad pattern or no method),
 * SOULGW_EEXIST (a method of it is already routed for the same pattern), SOULGW_ENOMEM. */
int sg_router_add(sg_router *r, const sg_route *route);
/* Finds the route for method (one SG_M_* bit; 0 for a method we do not know) and path.
 * Returns it, with parameters written to params (at most SG_MAX_PARAMS; values point into
 * scratch, which must hold strlen(path)+1 bytes); or NULL with *allowed the methods the path
 * does answer (0: no route at that path). */
const sg_route *sg_router_match(const sg_router *r, unsigned method, const char *path,
                                sg_param *params, size_t *nparams, char *scratch,
                                unsigned *allowed);
/* Calls fn for each route in order of registration. */
void sg_router_each(const sg_router *r, void (*fn)(void *ud, const sg_route *route), void *ud);

/* One SG_M_* bit for a method name, 0 when unknown. */
unsigned sg_method_bit(const char *method);
/* "GET, HEAD, POST" for a set of methods; out needs 64 bytes. */
void sg_methods_format(unsigned methods, char *out, size_t len);
/* Parses "GET,POST" into bits; 0 when empty or a name is unknown.  (HEAD is not added: the
 * router answers HEAD with the GET route unless a route claims HEAD itself.) */
unsigned sg_methods_parse(const char *list);
/* 0 when pattern is a valid absolute path pattern (at most SG_MAX_PARAMS parameters), else -1. */
int sg_pattern_check(const char *pattern);

#endif
