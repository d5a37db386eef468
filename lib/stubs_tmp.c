/* stubs_tmp.c -- placeholders while the modules are written; removed when they land. */
#include <stdlib.h>

#include "registry.h"
#include "tools.h"

struct sg_registry { int x; };
struct sg_tools { int x; };
sg_registry *sg_registry_new(void) { return calloc(1, sizeof(sg_registry)); }
void sg_registry_free(sg_registry *r) { free(r); }
int sg_registry_load(sg_registry *r, sg_store *st, const char *f, char *err, size_t n) { (void)r; (void)st; (void)f; (void)err; (void)n; return 0; }
sg_tools *sg_tools_new(void) { return calloc(1, sizeof(sg_tools)); }
void sg_tools_free(sg_tools *t) { free(t); }
int sg_tools_register(sg_tools *t, const char *name, soulgw_tool_fn fn, void *ud) { (void)t; (void)name; (void)fn; (void)ud; return SOULGW_EINVAL; }
