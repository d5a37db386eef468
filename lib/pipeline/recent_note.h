/*
 * recent_note.h -- what the pipeline tells the console's recent window (base/metrics_recent.h)
 * of a finished request: its step counts and, for an answer of status >= 400, its error.
 */
#ifndef SG_RECENT_NOTE_H
#define SG_RECENT_NOTE_H

#include "pipeline/req.h"

/* Records req, answered with status after ns; called once, at completion (sg_pipeline_done).
 * An error's message is read from the answer's body in the request's dialect ("message", or
 * "error"."message"), never from a request header: no credential can reach the ring. */
void sg_recent_note(soulgw_req *req, int status, uint64_t ns);

#endif
