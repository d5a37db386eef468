/*
 * pipeline.h -- one request's way through the gateway.  The glue calls begin when the headers
 * are in (it may answer at once: 404, 405, 413 by Content-Length, 415, 401, 403), then run
 * when the body is complete, and done when the connection has finished with the request.
 * Once begin has routed the request, every error answer is in the route's dialect; the glue's
 * own refusals after begin name their stage (req->stage, verdict.h) for the access log.
 */
#ifndef SG_PIPELINE_H
#define SG_PIPELINE_H

#include "pipeline/req.h"
#include "pipeline/verdict.h"

/* has_body: the request announced a body (Content-Length > 0 or chunked).  Returns 1 when the
 * request was answered, 0 to go on reading the body; then req->unauth_body says that the body
 * is read without a principal (the glue counts it with sg_req_body_reserve). */
int sg_pipeline_begin(soulgw_req *req, int has_body, long long content_length,
                      const char *content_type);
void sg_pipeline_run(soulgw_req *req);
/* aborted: the connection ended before the whole answer was sent. */
void sg_pipeline_done(soulgw_req *req, int aborted);

#endif
