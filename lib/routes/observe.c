/*
 * observe.c -- (in progress)
 */
#include "../gateway.h"
#include "routes.h"

int sg_route_observe_emit(soulgw_req *req, void *ud) {
  (void)ud;
  return soulgw_reply_error(req, SOULGW_API_UNKNOWN_INTERNAL, "not implemented yet");
}

int sg_route_observe_query(soulgw_req *req, void *ud) {
  (void)ud;
  return soulgw_reply_error(req, SOULGW_API_UNKNOWN_INTERNAL, "not implemented yet");
}

