/*
 * llm.c -- (in progress)
 */
#include "../gateway.h"
#include "routes.h"

int sg_route_llm_complete(soulgw_req *req, void *ud) {
  (void)ud;
  return soulgw_reply_error(req, SOULGW_API_UNKNOWN_INTERNAL, "not implemented yet");
}

int sg_route_llm_stream(soulgw_req *req, void *ud) {
  (void)ud;
  return soulgw_reply_error(req, SOULGW_API_UNKNOWN_INTERNAL, "not implemented yet");
}

int sg_route_llm_embed(soulgw_req *req, void *ud) {
  (void)ud;
  return soulgw_reply_error(req, SOULGW_API_UNKNOWN_INTERNAL, "not implemented yet");
}

