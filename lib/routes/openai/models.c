/*
 * models.c -- GET /v1/models (SPEC-protocols 1).  Not yet served: 501.
 */
#include "routes/routes.h"

int sg_route_openai_models(soulgw_req *req, void *ud) {
  (void)ud;
  return soulgw_reply_error(req, SOULGW_API_REQUEST_NOT_IMPLEMENTED, "not implemented yet");
}
