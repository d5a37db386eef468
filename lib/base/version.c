/*
 * version.c -- what the build embeds: version, git commit and build time.  The Makefile
 * regenerates build/commit.h only when the commit changes, so only this file is rebuilt.
 */
#include "soulgw.h"
#include "base/version.h"

#if __has_include("commit.h")
#include "commit.h"
#endif
#ifndef SOULGW_COMMIT
#define SOULGW_COMMIT "unknown"
#endif
#ifndef SOULGW_BUILT_AT
#define SOULGW_BUILT_AT "unknown"
#endif

const char *soulgw_version(void) { return SOULGW_VERSION; }
const char *soulgw_commit(void) { return SOULGW_COMMIT; }
const char *sg_built_at(void) { return SOULGW_BUILT_AT; }
