/*
 * mcp.c -- POST and DELETE /mcp, the MCP server (SPEC-protocols 2).  Not yet served: 501.
 */
#include "routes/routes.h"

int sg_route_mcp(soulgw_req *req, void *ud) {
  (void)ud;
  return soulgw_reply_error(req, SOULGW_API_REQUEST_NOT_IMPLEMENTED, "not implemented yet");
}
