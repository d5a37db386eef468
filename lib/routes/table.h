/*
 * services.h -- the standard service routes of SPEC 4.2 and the route kinds that implement
 * them.  config.c validates [service.NAME] sections against this table; gateway.c binds it.
 */
#ifndef SG_SERVICES_H
#define SG_SERVICES_H

#include "soulgw.h"

typedef struct sg_kind {
  const char *kind;
  const char *methods;       /* default methods, "POST" or "GET,POST" */
  soulgw_handler_fn handler; /* NULL while a kind is not implemented: such routes are not bound */
  const char *description;
} sg_kind;

typedef struct sg_service_def {
  const char *name, *route, *kind, *scope;
} sg_service_def;

extern const sg_service_def sg_standard_services[];
extern const size_t sg_standard_services_count;

const sg_kind *sg_kind_find(const char *kind);
const sg_service_def *sg_service_find(const char *name);

#endif
