/*
 * pipeline.c -- one request's way through the gateway, in this order:
 *
 *   begin (headers in):  route (404, 405, OPTIONS; the route's dialect) -> limits (413 by
 *                        Content-Length, 415) -> auth (401) -> scope (403)
 *   run (body in):       auth, for SB-HMAC with a body (401) -> body: JSON (422)
 *                        -> tenant (422, 403) -> replay (401, 429) -> rate (429) -> handler
 *   done (answer sent):  metrics and the access log
 *
 * A route in the mcp dialect (a JSON-RPC server reached by browsers too) differs in two
 * places: an Origin header it does not list is refused first, right after routing (403); and
 * a body that is not JSON is left to its handler, which answers it as a JSON-RPC parse error
 * (-32700) rather than a 422.  Every 401, on every route, carries WWW-Authenticate.
 *
 * Credentials and scopes are decided from the headers, so that a body is never read for a
 * request that will be refused: only what needs the body (an SB-HMAC body hash, and the replay
 * cache, which records a signature once the request is fully verified) waits for it.
 *
 * Routing comes first and puts the route's dialect on the request, so that every answer after
 * it -- a stage's refusal, the glue's, the handler's -- has the route's shape.  Stages do not
 * answer: each returns a verdict (verdict.h), and refuse() below is the one place that renders
 * them.  The stages stay in this one linear function pair; there is no phase engine.
 *
 * The glue calls these three and knows nothing of what happens inside; handlers see a request
 * that has passed every stage.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/json.h"
#include "base/json_scan.h"
#include "pipeline/auth.h"
#include "pipeline/inflight.h"
#include "pipeline/pipeline.h"
#include "pipeline/recent_note.h"

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

/* Renders a stage's verdict: counts its reason, sets its headers, answers in the request's
 * dialect.  Returns 1 (the request is answered). */
static int refuse(soulgw_req *req, sg_stage stage, sg_verdict *v) {
  req->stage = (unsigned char)stage;
  if (v->reason) sg_auth_count(req->snap->auth, v->reason);
  if (v->retry_after > 0) {
    char s[24];
    snprintf(s, sizeof s, "%lld", v->retry_after);
    soulgw_reply_header(req, "Retry-After", s);
  }
  /* every 401 names a scheme (RFC 9110 15.5.2), which MCP clients rely on */
  if (!v->www_authenticate && v->code == SOULGW_API_AUTH_UNAUTHENTICATED)
    v->www_authenticate = "Bearer realm=\"soulgw\"";
  if (v->www_authenticate) soulgw_reply_header(req, "WWW-Authenticate", v->www_authenticate);
  soulgw_reply_error(req, v->code, "%s", v->message);
  return 1;
}

static int is_hmac(const sg_principal *p) { return p && strcmp(p->kind, "hmac") == 0; }

static void creds_of(const soulgw_req *req, sg_creds *c) {
  c->method = req->method;
  c->path = req->path;
  c->header = req->io->header;
  c->ctx = req->io_ctx;
  c->body = soulgw_req_body(req, &c->body_len);
}

/* Authenticates in full; an SB-HMAC signature that verified waits in the request for the
 * replay stage. */
static int authenticate(soulgw_req *req, const sg_principal **p, sg_verdict *v) {
  sg_creds c;
  sg_hmac_pending pend;
  creds_of(req, &c);
  if (sg_auth_authenticate(req->snap->auth, &c, p, &pend, v)) return -1;
  if (is_hmac(*p)) {
    sg_hmac_pending *kept = sg_arena_alloc(&req->arena, sizeof *kept);
    if (!kept) return sg_verdict_set(v, SOULGW_API_UNKNOWN_INTERNAL, NULL, "out of memory");
    *kept = pend;
    req->hmac_pending = kept;
  }
  return 0;
}

/* A browser's Origin, for a route in the mcp dialect: absent, or one of [mcp] allowed_origins
 * (compared without regard to case), against DNS rebinding. */
static int origin_stage(const soulgw_req *req, sg_verdict *v) {
  if (req->dialect != SG_DIALECT_MCP) return 0;
  const char *origin = soulgw_req_header(req, "Origin");
  if (!origin) return 0;
  const sg_strv *allowed = &req->snap->conf->mcp.allowed_origins;
  for (size_t i = 0; i < allowed->n; i++)
    if (strcasecmp(allowed->v[i], origin) == 0) return 0;
  return sg_verdict_set(v, SOULGW_API_AUTH_FORBIDDEN, NULL,
                        "Origin %.200s is not allowed: list it in [mcp] allowed_origins", origin);
}

/* The body's size by Content-Length, and its type. */
static int limits_stage(const soulgw_req *req, long long content_length,
                        const char *content_type, sg_verdict *v) {
  long long max = req->snap->conf->server.max_body_bytes;
  if (!req->has_body) return 0;
  if (content_length > max)
    return sg_verdict_set(v, SOULGW_API_REQUEST_TOO_LARGE, NULL,
                          "request body of %lld bytes is over the limit of %lld bytes",
                          content_length, max);
  if (content_type && !is_json_type(content_type))
    return sg_verdict_set(v, SOULGW_API_REQUEST_UNSUPPORTED_MEDIA_TYPE, NULL,
                          "Content-Type \"%.100s\" is not JSON; send application/json (UTF-8)",
                          content_type);
  return 0;
}

/* The principal from the headers (*p NULL: anonymous, where the route allows it).  Without a
 * body the request is complete and is authenticated in full; with one, an SB-HMAC request is
 * finished by sg_pipeline_run. */
static int auth_stage(soulgw_req *req, const sg_principal **p, sg_verdict *v) {
  *p = NULL;
  if (req->has_body) {
    sg_creds c;
    creds_of(req, &c);
    if (sg_auth_identify(req->snap->auth, &c, p, v)) return -1;
  } else if (authenticate(req, p, v)) {
    return -1;
  }
  if (!*p && !(req->route->flags & SOULGW_ROUTE_ANONYMOUS))
    return sg_verdict_set(v, SOULGW_API_AUTH_UNAUTHENTICATED, "missing",
                          "missing credential: send Authorization: Bearer <token>, an SB-HMAC "
                          "signature, or x-api-key");
  return 0;
}

/* Every scope of the route, held by the principal (an anonymous request needs none). */
static int scope_stage(const sg_route *rt, const sg_principal *p, sg_verdict *v) {
  if (!p) return 0;
  for (size_t i = 0; i < rt->scopes.n; i++)
    if (!sg_principal_has(p, rt->scopes.v[i]))
      return sg_verdict_set(v, SOULGW_API_AUTH_FORBIDDEN, "insufficient_scope",
                            "insufficient scope: needs %s", rt->scopes.v[i]);
  return 0;
}

int sg_pipeline_begin(soulgw_req *req, int has_body, long long content_length,
                      const char *content_type) {
  sg_verdict v;
  unsigned allowed = 0;
  sg_dialect dialect = SG_DIALECT_SOULGW;
  char *scratch = sg_arena_alloc(&req->arena, strlen(req->path) + 1);
  if (!scratch) {
    sg_verdict_set(&v, SOULGW_API_UNKNOWN_INTERNAL, NULL, "out of memory");
    return refuse(req, SG_STAGE_ROUTE, &v);
  }
  const sg_route *rt = sg_router_match(req->snap->router, req->method_bit, req->path,
                                       req->params, &req->nparams, scratch, &allowed, &dialect);
  req->dialect = (unsigned char)dialect;
  if (!is_token(req->method)) {
    sg_verdict_set(&v, SOULGW_API_REQUEST_BAD, NULL, "malformed request method");
    return refuse(req, SG_STAGE_ROUTE, &v);
  }
  if (!rt) {
    req->stage = SG_STAGE_ROUTE;
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
    sg_verdict_set(&v, SOULGW_API_ROUTE_METHOD_NOT_ALLOWED, NULL,
                   "method %.16s is not allowed here; use %s", req->method, allow);
    return refuse(req, SG_STAGE_ROUTE, &v);
  }
  req->route = rt;
  req->metric_route = rt->metric_id;
  req->has_body = has_body;
  if (origin_stage(req, &v)) return refuse(req, SG_STAGE_ROUTE, &v);
  if (limits_stage(req, content_length, content_type, &v))
    return refuse(req, SG_STAGE_LIMITS, &v);
  /* public operations routes skip authentication entirely */
  int public_ops = (rt->flags & SG_ROUTE_OPS) && (rt->flags & SOULGW_ROUTE_ANONYMOUS) &&
                   rt->scopes.n == 0;
  if (!public_ops) {
    const sg_principal *p;
    if (auth_stage(req, &p, &v)) return refuse(req, SG_STAGE_AUTH, &v);
    if (scope_stage(rt, p, &v)) return refuse(req, SG_STAGE_SCOPE, &v);
    req->principal = p;
    req->auth_pending = has_body && is_hmac(p);
  }
  req->unauth_body = has_body && !req->principal;
  return 0;
}

/* The body as JSON (when there is one).  An OpenAI body, and the body of a route that reads
 * its body from the text (one with body_keys), is checked by a scan instead of a parse when the
 * scan can vouch that the parser accepts it (json_scan.h's plain text): the relay forwards the
 * body's bytes and reads a few members from them, and a tool's execution reads a few members
 * and echoes one, so the tree of every value would mostly be built to be freed; it is built
 * later if a reader asks (sg_req_json()).  The scan finds the route's body_keys in the same
 * pass, into spans (for soulgw's own body "tenant" first, for the tenant stage).  Anything the
 * scan cannot vouch for is parsed here as before, for the parser's own verdict. */
static int body_stage(soulgw_req *req, sg_json_span *spans, sg_verdict *v) {
  const sg_route *rt = req->route;
  int own = req->dialect == SG_DIALECT_SOULGW && rt->body_keys;
  spans[0].found = 0;
  if (!req->has_body || !req->body.len) return 0;
  if ((req->dialect == SG_DIALECT_OPENAI || own) &&
      sg_json_scan_plain(req->body.ptr, req->body.len, rt->body_keys, rt->nbody_keys, spans) ==
          0) {
    req->json_pending = 1;
    return 0;
  }
  spans[0].found = 0;
  char why[160];
  int rc = soulgw_json_parse(req->body.ptr, req->body.len, &req->json, why, sizeof why);
  if (rc == SOULGW_ENOMEM)
    return sg_verdict_set(v, SOULGW_API_UNKNOWN_INTERNAL, NULL, "out of memory parsing the body");
  if (rc && req->dialect == SG_DIALECT_MCP) return 0; /* the handler's -32700 */
  if (rc)
    return sg_verdict_set(v, SOULGW_API_SCHEMA_VALIDATION_FAILED, NULL,
                          "body is not valid JSON: %s", why);
  return 0;
}

/* The body's "tenant", as the tenant stage reads it: 0 with *t the string (NULL when absent or
 * null), 1 when it is another type, or SOULGW_ENOMEM.  From the tree, or from the text when the
 * body stage only scanned it (span: where the scan found it), decoded as the parser decodes
 * it. */
static int body_tenant(soulgw_req *req, const sg_json_span *span, const char **t) {
  *t = NULL;
  if (!req->json_pending) {
    const soulgw_json *j = soulgw_json_get(req->json, "tenant");
    if (!j || soulgw_json_typeof(j) == SOULGW_JSON_NULL) return 0;
    *t = soulgw_json_string(j);
    return *t ? 0 : 1;
  }
  if (!span->found) return 0;
  char c = req->body.ptr[span->start];
  if (c == 'n') return 0;
  if (c != '"') return 1;
  char *s = sg_arena_alloc(&req->arena, span->end - span->start - 1);
  if (!s) return SOULGW_ENOMEM;
  sg_json_plain_string(req->body.ptr, span, s);
  *t = s;
  return 0;
}

static int tenant_ok(const char *t) {
  size_t n = strlen(t);
  if (n == 0 || n > 128 || sg_is_blank(t)) return 0;
  for (; *t; t++)
    if ((unsigned char)*t < 0x20 || *t == 0x7f) return 0;
  return 1;
}

/* Resolves the tenant: path {tenant}, body "tenant", X-Soul-Tenant (or x-tenant-id), the
 * principal's.  The body of a foreign protocol (OpenAI's, JSON-RPC) is the client's own format,
 * where a "tenant" member means nothing to soulgw: only soulgw's own bodies name a tenant. */
static int tenant_stage(soulgw_req *req, const sg_principal *p, const sg_json_span *span,
                        sg_verdict *v) {
  const char *t = soulgw_req_param(req, "tenant");
  int own_body = req->dialect == SG_DIALECT_SOULGW || req->dialect == SG_DIALECT_LEGACY;
  int rc = !t && own_body ? body_tenant(req, span, &t) : 0;
  if (rc == SOULGW_ENOMEM)
    return sg_verdict_set(v, SOULGW_API_UNKNOWN_INTERNAL, NULL, "out of memory");
  if (rc)
    return sg_verdict_set(v, SOULGW_API_SCHEMA_VALIDATION_FAILED, NULL,
                          "tenant must be a string");
  if (!t) {
    t = soulgw_req_header(req, "X-Soul-Tenant");
    if (!t || !*t) t = soulgw_req_header(req, "x-tenant-id"); /* the soulseed-agi client's */
    if (t && !*t) t = NULL;
  }
  if (!t && p) t = p->tenant;
  if (!t) {
    if (!(req->route->flags & SOULGW_ROUTE_TENANT)) return 0;
    return sg_verdict_set(v, SOULGW_API_SCHEMA_VALIDATION_FAILED, NULL,
                          "no tenant: set \"tenant\" in the body or the X-Soul-Tenant header");
  }
  if (!tenant_ok(t))
    return sg_verdict_set(v, SOULGW_API_SCHEMA_VALIDATION_FAILED, NULL,
                          "tenant must be 1 to 128 printable characters");
  if (p && strcmp(t, p->tenant) != 0 && !sg_principal_has(p, "tenant:*"))
    return sg_verdict_set(v, SOULGW_API_AUTH_FORBIDDEN, "tenant_mismatch",
                          "principal %s belongs to tenant %s and may not act for tenant %.128s",
                          p->id, p->tenant, t);
  req->tenant = t;
  return 0;
}

void sg_pipeline_run(soulgw_req *req) {
  const sg_route *rt = req->route;
  const sg_principal *p = req->principal;
  sg_auth *auth = req->snap->auth;
  sg_verdict v;
  sg_json_span spans[16]; /* a scanned body's members (body_stage), for the handler's call */

  /* an SB-HMAC request with a body: its signature passed with the headers; now the whole of it,
   * body hash and replay cache included */
  if (req->auth_pending) {
    if (authenticate(req, &p, &v)) {
      refuse(req, SG_STAGE_AUTH, &v);
      return;
    }
    req->principal = p;
  }
  if (!(rt->flags & SG_ROUTE_OPS)) {
    if (body_stage(req, spans, &v)) {
      refuse(req, SG_STAGE_BODY, &v);
      return;
    }
    if (tenant_stage(req, p, &spans[0], &v)) {
      refuse(req, SG_STAGE_TENANT, &v);
      return;
    }
  }
  /* authorized: only now does an SB-HMAC signature take room in the replay cache */
  const sg_hmac_pending *pend = req->hmac_pending;
  req->hmac_pending = NULL;
  if (pend && sg_auth_record(auth, pend, p->id, &v)) {
    refuse(req, SG_STAGE_REPLAY, &v);
    return;
  }
  if (p && sg_auth_rate(auth, p, &v)) {
    refuse(req, SG_STAGE_RATE, &v);
    return;
  }

  req->stage = SG_STAGE_HANDLER;
  /* a scanned body's spans are the handler's to read while it runs (then spans goes) */
  req->body_spans = req->json_pending && rt->body_keys ? spans : NULL;
  int rc = rt->fn(req, rt->ud);
  req->body_spans = NULL;
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
  sg_recent_note(req, status ? status : 499, ns);
  sg_metrics_inflight(f->metrics, -1);
  if (!req->snap->conf->log.access || !sg_log_enabled(f->log, SOULGW_LOG_INFO)) return;
  char path[257];
  sg_strlcpy(path, req->path, sizeof path);
  sg_log(f->log, SOULGW_LOG_INFO, "access", SG_S("request_id", req->id),
         SG_S("method", req->method), SG_S("path", path),
         SG_S("route", req->route ? req->route->name : "unmatched"), SG_I("status", status),
         SG_F("duration_ms", (double)ns / 1e6), SG_S("tenant", req->tenant),
         SG_S("principal", req->principal ? req->principal->id : NULL), SG_S("error", err),
         SG_S("stage", err ? sg_stage_name((sg_stage)req->stage) : NULL),
         SG_I("bytes_in", req->body.len), SG_S("aborted", aborted ? "true" : NULL));
}
