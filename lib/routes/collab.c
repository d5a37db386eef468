/*
 * collab.c -- (in progress)
 */
#include "../gateway.h"
#include "routes.h"

int sg_route_collab_execute(soulgw_req *req, void *ud) {
  (void)ud;
  return soulgw_reply_error(req, SOULGW_API_UNKNOWN_INTERNAL, "not implemented yet");
}

int sg_route_collab_resolve(soulgw_req *req, void *ud) {
  (void)ud;
  return soulgw_reply_error(req, SOULGW_API_UNKNOWN_INTERNAL, "not implemented yet");
}

