/*
 * recent_note.c -- see recent_note.h.  Successful answers cost three relaxed atomic adds; an
 * error answer also parses its (bounded) body once for its message.
 */
#include <string.h>

#include "base/json.h"
#include "base/metrics_recent.h"
#include "pipeline/inflight.h"
#include "pipeline/recent_note.h"

/* error bodies longer than this (a relayed upstream answer) are not parsed for a message */
#define BODY_PARSE_MAX (64u << 10)

/* The message of an error body in any dialect, or NULL. */
static const char *message_of(const soulgw_json *body) {
  const char *m = soulgw_json_string(soulgw_json_get(body, "message"));
  if (!m) m = soulgw_json_string(soulgw_json_get(soulgw_json_get(body, "error"), "message"));
  return m;
}

void sg_recent_note(soulgw_req *req, int status, uint64_t ns) {
  sg_metrics *m = req->inflight->metrics;
  sg_recent *r = sg_metrics_recent(m);
  int64_t now = sg_wall_coarse_ms();
  sg_recent_request(r, req->metric_route, status, ns, now);
  if (status < 400) return;
  pthread_mutex_lock(&req->lock);
  const char *body = req->resp, *code = req->err_code;
  size_t len = req->resp_len;
  pthread_mutex_unlock(&req->lock);
  soulgw_json *j = NULL;
  if (body && len && len <= BODY_PARSE_MAX) soulgw_json_parse(body, len, &j, NULL, 0);
  const char *msg = j ? message_of(j) : NULL;
  if (!code && j) code = soulgw_json_string(soulgw_json_get(j, "code"));
  sg_recent_error(r, now, req->metric_route, status, code, msg, msg ? strlen(msg) : 0, req->id,
                  req->principal ? req->principal->id : NULL, req->tenant);
  soulgw_json_free(j);
}
