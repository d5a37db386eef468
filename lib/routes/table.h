/*
 * table.h -- route kind -> handler: what routes/ adds to the kinds of conf/kinds.h.
 */
#ifndef SG_ROUTES_TABLE_H
#define SG_ROUTES_TABLE_H

#include "conf/kinds.h"
#include "soulgw.h"

/* The handler of a route kind; NULL while a kind is not implemented in this build (such routes
 * are not bound). */
soulgw_handler_fn sg_kind_handler(const sg_kind *k);

#endif
