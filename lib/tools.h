/*
 * tools.h -- running tools: the built-in ones (builtin:echo), HTTP tools (a manifest handler
 * that is an http:// or https:// URL) and C tools registered by the host.
 */
#ifndef SG_TOOLS_H
#define SG_TOOLS_H

#include "sg.h"

typedef struct sg_tools sg_tools;

sg_tools *sg_tools_new(void);
void sg_tools_free(sg_tools *t);
/* Backs soulgw_tool_register(). */
int sg_tools_register(sg_tools *t, const char *name, soulgw_tool_fn fn, void *ud);

#endif
