/*
 * router.h -- the route table: methods, exact paths and {param} patterns.
 *
 * A router is built once (at start and at each reload) and is then read-only, so lookups take
 * no lock.  Exact paths are found through a hash table; patterns with parameters are tried in
 * the order they were added.  A path that matches but whose method does not gives the set of
 * methods that would have matched (405 with Allow) and the dialect its routes answer in.
 */
#ifndef SG_ROUTER_H
#define SG_ROUTER_H

#include "base/route_syntax.h"
#include "conf/config.h"
#include "conf/kinds.h"
#include "soulgw.h"

/* Internal route flags, next to the public SOULGW_ROUTE_* ones. */
#define SG_ROUTE_OPS 0x100u /* operations route: no authentication, tenant or body stage */
#define SG_ROUTE_SLASH 0x200u /* a literal pattern that ends with '/' (the console's page),
                               * matched exactly like any literal */

typedef struct sg_route {
  const char *name, *pattern, *kind, *description;
  unsigned methods;
  soulgw_handler_fn fn;
  void *ud;
  sg_strv scopes;
  unsigned flags;
  int metric_id; /* set by the gateway: a stable index for metrics */
  sg_dialect dialect; /* the shape of its errors (its kind's; SOULGW for host routes) */
  /* For a handler that reads its common bodies from their text: the top-level members it reads,
   * "tenant" first, at most 16.  Its body is then checked by a scan and its tree built only
   * when asked for (pipeline.c body_stage); the handler finds the members' spans in
   * req->body_spans.  NULL: the body is parsed. */
  const char *const *body_keys;
  size_t nbody_keys;
} sg_route;

typedef struct sg_param {
  const char *name, *value;
} sg_param;

typedef struct sg_router sg_router;

sg_router *sg_router_new(void);
void sg_router_free(sg_router *r);
/* Copies the route (and its strings).  Returns 0, SOULGW_EINVAL (bad pattern or no method),
 * SOULGW_EEXIST (a method of it is already routed for the same pattern), SOULGW_ENOMEM. */
int sg_router_add(sg_router *r, const sg_route *route);
/* Finds the route for method (one SG_M_* bit; 0 for a method we do not know) and path.
 * Returns it, with parameters written to params (at most SG_MAX_PARAMS; values point into
 * scratch, which must hold strlen(path)+1 bytes); or NULL with *allowed the methods the path
 * does answer (0: no route at that path).  *dialect (dialect may be NULL) is the dialect of
 * the route found, else of the first route at that path, else SG_DIALECT_SOULGW. */
const sg_route *sg_router_match(const sg_router *r, unsigned method, const char *path,
                                sg_param *params, size_t *nparams, char *scratch,
                                unsigned *allowed, sg_dialect *dialect);
/* Calls fn for each route in order of registration. */
void sg_router_each(const sg_router *r, void (*fn)(void *ud, const sg_route *route), void *ud);

#endif
