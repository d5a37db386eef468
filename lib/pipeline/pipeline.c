/*
 * pipeline.c -- one request's way through the gateway, in this order:
 *
 *   begin (headers in):  route (404, 405, OPTIONS; the route's dialect) -> body limits (413
 *                        by Content-Length, 415) -> authentication (401) -> scopes (403)
 *   run (body in):       SB-HMAC body hash and replay (401) -> JSON body (422)
 *                        -> tenant (422, 403) -> rate (429) -> handler
 *   done (answer sent):  metrics and the access log
 *
 * Credentials and scopes are decided from the headers, so that a body is never read for a
 * request that will be refused: only what needs the body (an SB-HMAC body hash, and the replay
 * cache, which records a signature once the request is fully verified) waits for it.
 *
 * Routing comes first and puts the route's dialect on the request (for a path that matches
 * no route, soulgw), so that every answer after it -- the pipeline's, the glue's, the
 * handler's -- has the route's shape.
 *
 * The glue calls these three and knows nothing of what happens inside; handlers see a request
 * that has passed every stage.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "pipeline/auth.h"
#include "pipeline/inflight.h"
#include "pipeline/pipeline.h"
#include "base/json.h"

/* application/json or application/<x>+json, with an optional charset that must be UTF-8. */
static int is_json_type(const char *ct) {
  while (*ct == ' ') ct++;
  const char *semi = strchr(ct, ';');
  size_t n = semi ? (size_t)(semi - ct) : strlen(ct);
  while (n && ct[n - 1] == ' ') n--;
  int ok = (n == 16 && strncasecmp(ct, "application/json", 16) == 0) ||
           (n > 17 && strncasecmp(ct, "application/", 12) == 0 &&
            strncasecmp(ct + n - 5, "+json", 5) == 0);
  if (!ok || !semi) return ok;
  const char *cs = strcasestr(semi, "charset=");
  if (!cs) return 1;
  cs += 8;
  if (*cs == '"') cs++;
  return strncasecmp(cs, "utf-8", 5) == 0 || strncasecmp(cs, "utf8", 4) == 0;
}

/* RFC 9110 token characters. */
static int is_token(const char *s) {
  if (!*s) return 0;
  for (; *s; s++) {
    unsigned char c = (unsigned char)*s;
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
          strchr("!#$%&'*+-.^_`|~", c)))
      return 0;
  }
  return 1;
}

/* Authentication and scopes from the headers.  Without a body the request is complete and is
 * authenticated in full; with one, an SB-HMAC request is finished by sg_pipeline_run.  Returns
 * 1 after answering. */
static int authorize(soulgw_req *req) {
  const sg_route *rt = req->route;
  const sg_principal *p = NULL;
  int anonymous = (rt->flags & SOULGW_ROUTE_ANONYMOUS) != 0;
  int ops = (rt->flags & SG_ROUTE_OPS) != 0;

  /* public operations routes skip it entirely */
  if (ops && anonymous && rt->scopes.n == 0) return 0;
  sg_auth *auth = req->snap->auth;
  if ((req->has_body ? sg_auth_identify(auth, req, &p) : sg_auth_authenticate(auth, req, &p)) < 0)
    return 1;
  if (!p && !anonymous) {
    sg_auth_count(auth, "missing");
    soulgw_reply_error(req, SOULGW_API_AUTH_UNAUTHENTICATED,
                       "missing credential: send Authorization: Bearer <token>, an SB-HMAC "
                       "signature, or x-api-key");
    return 1;
  }
  if (p || !anonymous) {
    for (size_t i = 0; i < rt->scopes.n; i++) {
      if (!sg_principal_has(p, rt->scopes.v[i])) {
        sg_auth_count(auth, "insufficient_scope");
        soulgw_reply_error(req, SOULGW_API_AUTH_FORBIDDEN, "insufficient scope: needs %s",
                           rt->scopes.v[i]);
        return 1;
      }
    }
  }
  req->principal = p;
  req->auth_pending = req->has_body && p && strcmp(p->kind, "hmac") == 0;
  return 0;
}

int sg_pipeline_begin(soulgw_req *req, int has_body, long long content_length,
                      const char *content_type) {
  const sg_conf *conf = req->snap->conf;
  unsigned allowed = 0;
  sg_dialect dialect = SG_DIALECT_SOULGW;
  char *scratch = sg_arena_alloc(&req->arena, strlen(req->path) + 1);
  if (!scratch) {
    soulgw_reply_error(req, SOULGW_API_UNKNOWN_INTERNAL, "out of memory");
    return 1;
  }
  const sg_route *rt = sg_router_match(req->snap->router, req->method_bit, req->path,
                                       req->params, &req->nparams, scratch, &allowed, &dialect);
  req->dialect = (unsigned char)dialect;
  if (!is_token(req->method)) {
    soulgw_reply_error(req, SOULGW_API_REQUEST_BAD, "malformed request method");
    return 1;
  }
  if (!rt) {
    if (!allowed) {
      sg_req_not_found(req);
      return 1;
    }
    char allow[80];
    sg_methods_format(allowed | SG_M_OPTIONS, allow, sizeof allow);
    soulgw_reply_header(req, "Allow", allow);
    if (req->method_bit == SG_M_OPTIONS) {
      sg_req_static(req, 204, "", 0);
      return 1;
    }
    soulgw_reply_error(req, SOULGW_API_ROUTE_METHOD_NOT_ALLOWED,
                       "method %.16s is not allowed here; use %s", req->method, allow);
    return 1;
  }
  req->route = rt;
  req->metric_route = rt->metric_id;
  req->has_body = has_body;
  if (has_body && content_length > conf->server.max_body_bytes) {
    soulgw_reply_error(req, SOULGW_API_REQUEST_TOO_LARGE,
                       "request body of %lld bytes is over the limit of %lld bytes", content_length,
                       conf->server.max_body_bytes);
    return 1;
  }
  if (has_body && content_type && !is_json_type(content_type)) {
    soulgw_reply_error(req, SOULGW_API_REQUEST_UNSUPPORTED_MEDIA_TYPE,
                       "Content-Type \"%.100s\" is not JSON; send application/json (UTF-8)",
                       content_type);
    return 1;
  }
  if (authorize(req)) return 1;
  req->unauth_body = has_body && !req->principal;
  return 0;
}

static int tenant_ok(const char *t) {
  size_t n = strlen(t);
  if (n == 0 || n > 128 || sg_is_blank(t)) return 0;
  for (; *t; t++)
    if ((unsigned char)*t < 0x20 || *t == 0x7f) return 0;
  return 1;
}

/* Resolves the tenant: path {tenant}, body "tenant", X-Soul-Tenant, the principal's.  Returns
 * 0, or -1 after answering. */
static int resolve_tenant(soulgw_req *req, const sg_principal *p) {
  const char *t = soulgw_req_param(req, "tenant");
  const soulgw_json *v = soulgw_json_get(req->json, "tenant");
  if (!t && v && soulgw_json_typeof(v) != SOULGW_JSON_NULL) {
    t = soulgw_json_string(v);
    if (!t) {
      soulgw_reply_error(req, SOULGW_API_SCHEMA_VALIDATION_FAILED, "tenant must be a string");
      return -1;
    }
  }
  if (!t) {
    t = soulgw_req_header(req, "X-Soul-Tenant");
    if (t && !*t) t = NULL;
  }
  if (!t && p) t = p->tenant;
  if (!t) {
    if (!(req->route->flags & SOULGW_ROUTE_TENANT)) return 0;
    soulgw_reply_error(req, SOULGW_API_SCHEMA_VALIDATION_FAILED,
                       "no tenant: set \"tenant\" in the body or the X-Soul-Tenant header");
    return -1;
  }
  if (!tenant_ok(t)) {
    soulgw_reply_error(req, SOULGW_API_SCHEMA_VALIDATION_FAILED,
                       "tenant must be 1 to 128 printable characters");
    return -1;
  }
  if (p && strcmp(t, p->tenant) != 0 && !sg_principal_has(p, "tenant:*")) {
    sg_auth_count(req->snap->auth, "tenant_mismatch");
    soulgw_reply_error(req, SOULGW_API_AUTH_FORBIDDEN,
                       "principal %s belongs to tenant %s and may not act for tenant %.128s", p->id,
                       p->tenant, t);
    return -1;
  }
  req->tenant = t;
  return 0;
}

void sg_pipeline_run(soulgw_req *req) {
  const sg_route *rt = req->route;
  const sg_principal *p = req->principal;
  int ops = (rt->flags & SG_ROUTE_OPS) != 0;

  /* an SB-HMAC request with a body: its signature passed with the headers; now the whole of it,
   * body hash and replay cache included */
  if (req->auth_pending) {
    if (sg_auth_authenticate(req->snap->auth, req, &p) < 0) return;
    req->principal = p;
  }

  if (!ops) {
    if (req->has_body && req->body.len) {
      char why[160];
      int rc = soulgw_json_parse(req->body.ptr, req->body.len, &req->json, why, sizeof why);
      if (rc == SOULGW_ENOMEM) {
        soulgw_reply_error(req, SOULGW_API_UNKNOWN_INTERNAL, "out of memory parsing the body");
        return;
      }
      if (rc) {
        soulgw_reply_error(req, SOULGW_API_SCHEMA_VALIDATION_FAILED, "body is not valid JSON: %s",
                           why);
        return;
      }
    }
    if (resolve_tenant(req, p)) return;
  }

  /* authorized: only now does an SB-HMAC signature take room in the replay cache */
  if (sg_auth_record(req->snap->auth, req) < 0) return;
  if (p && sg_auth_rate(req->snap->auth, req, p) < 0) return;

  int rc = rt->fn(req, rt->ud);
  pthread_mutex_lock(&req->lock);
  int pending = !req->answered && !req->deferred;
  pthread_mutex_unlock(&req->lock);
  if (pending) {
    sg_log(req->inflight->log, SOULGW_LOG_ERROR, "handler returned without answering",
           SG_S("request_id", req->id), SG_S("route", rt->name), SG_I("code", rc));
    soulgw_reply_error(req, SOULGW_API_UNKNOWN_INTERNAL, "internal error (request %s)", req->id);
  }
}

void sg_pipeline_done(soulgw_req *req, int aborted) {
  sg_inflight *f = req->inflight;
  uint64_t ns = sg_now_ns() - req->t0;
  pthread_mutex_lock(&req->lock);
  int status = req->answered ? req->status : 0;
  const char *err = req->err_code;
  pthread_mutex_unlock(&req->lock);
  sg_metrics_request(f->metrics, req->metric_route, req->method_bit, status ? status : 499, ns);
  sg_metrics_inflight(f->metrics, -1);
  if (!req->snap->conf->log.access || !sg_log_enabled(f->log, SOULGW_LOG_INFO)) return;
  char path[257];
  sg_strlcpy(path, req->path, sizeof path);
  sg_log(f->log, SOULGW_LOG_INFO, "access", SG_S("request_id", req->id),
         SG_S("method", req->method), SG_S("path", path),
         SG_S("route", req->route ? req->route->name : "unmatched"), SG_I("status", status),
         SG_F("duration_ms", (double)ns / 1e6), SG_S("tenant", req->tenant),
         SG_S("principal", req->principal ? req->principal->id : NULL), SG_S("error", err),
         SG_I("bytes_in", req->body.len), SG_S("aborted", aborted ? "true" : NULL));
}
