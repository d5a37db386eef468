/*
 * shape.h -- what the store does the same way whatever the engine: merging a publish's
 * manifests into the active registry version.
 */
#ifndef SG_STORE_SHAPE_H
#define SG_STORE_SHAPE_H

#include "base/json.h"

/* Merges add into base (arrays of manifests of one tenant, as a publish merges a request's
 * manifests into the active version): a manifest of base with the id of one of add is replaced
 * in place, the others of add are appended.  base NULL: an empty array.  A base that is not an
 * array (an unreadable stored version) is returned as it is, for the check that follows to
 * refuse.  Returns a new value to free, or NULL when out of memory.  The result is not
 * validated: its size may be over SG_MANIFESTS_MAX. */
soulgw_json *sg_manifests_merge(const soulgw_json *base, const soulgw_json *add);

#endif
