/*
 * registry.h -- the tool registry: manifests (validated, with defaults), the active registry of
 * each tenant held in memory for the request path, its versions kept by the store.
 */
#ifndef SG_REGISTRY_H
#define SG_REGISTRY_H

#include "sg.h"
#include "store.h"

typedef struct sg_registry sg_registry;

sg_registry *sg_registry_new(void);
void sg_registry_free(sg_registry *r);
/* At start: reads [tools] manifests_file ("" for none), bootstraps each tenant it names, then
 * loads every tenant's active registry from the store.  Returns 0 or SOULGW_ECONFIG /
 * SOULGW_ESTORE with err naming the file and the failing manifest field. */
int sg_registry_load(sg_registry *r, sg_store *st, const char *manifests_file, char *err,
                     size_t errlen);

#endif
