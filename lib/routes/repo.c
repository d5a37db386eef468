/*
 * repo.c -- (in progress)
 */
#include "../gateway.h"
#include "routes.h"

int sg_route_repo_append(soulgw_req *req, void *ud) {
  (void)ud;
  return soulgw_reply_error(req, SOULGW_API_UNKNOWN_INTERNAL, "not implemented yet");
}

int sg_route_repo_get(soulgw_req *req, void *ud) {
  (void)ud;
  return soulgw_reply_error(req, SOULGW_API_UNKNOWN_INTERNAL, "not implemented yet");
}

int sg_route_repo_list(soulgw_req *req, void *ud) {
  (void)ud;
  return soulgw_reply_error(req, SOULGW_API_UNKNOWN_INTERNAL, "not implemented yet");
}

int sg_route_graph_recall(soulgw_req *req, void *ud) {
  (void)ud;
  return soulgw_reply_error(req, SOULGW_API_UNKNOWN_INTERNAL, "not implemented yet");
}

