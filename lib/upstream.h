/*
 * upstream.h -- outbound HTTP (libcurl glue; upstream.c is the only file that calls libcurl).
 * Requests run on one thread of their own with libcurl's multi interface, so that waiting on an
 * upstream never holds a gateway thread: the caller defers its request and is called back.
 */
#ifndef SG_UPSTREAM_H
#define SG_UPSTREAM_H

#include "log.h"
#include "sg.h"

typedef struct sg_upstream sg_upstream;

sg_upstream *sg_upstream_new(sg_log *log);
/* Cancels what is in flight (their completions are called with an error) and stops. */
void sg_upstream_free(sg_upstream *u);

#endif
