/*
 * routes.h -- the built-in route handlers, one file per family.  Every handler is a plain
 * function from a request to an answer (soulgw_handler_fn) with the gateway as its userdata.
 */
#ifndef SG_ROUTES_H
#define SG_ROUTES_H

#include "../config.h"
#include "../router.h"

/* Operations routes (ops.c): /health, /version, /metrics, /routes. */
int sg_ops_bind(soulgw *gw, sg_router *r, const sg_conf *conf, char *err, size_t errlen);
/* Prepares what the operations routes answer from (the /version body); called at start. */
void sg_ops_prepare(soulgw *gw);

/* Service kinds not yet implemented in this build have no handler. */
#define SG_ROUTE_HANDLER(kind) NULL

#endif
