/*
 * dialects.c -- every answer of a route comes in the route's error dialect (issue 8, item 3),
 * against the real soulgw binary.
 *
 * The legacy routes /tenants/{tenant}/tools.execute and .../collab.execute answer every
 * failure -- the pipeline's (401, 403, 405, 413, 415, 422, 429), the HTTP glue's once the route
 * is known (413 of a chunked body, 503 REQUEST.BUSY), the handler's -- in the soulseed
 * envelope {"success":false,"data":null,"error":{"code","message"},"trace_id"} with the
 * request id as trace_id and the status of the error table.  The other routes keep SPEC 4's
 * {"code","message","correlation_id"}, and so does a path that matches no route.
 *
 * The access log line of a refused request names the stage that refused it (item 4).
 */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "tap.h"

#define FULL "full-token-0123456789"       /* tools:execute, collab:execute */
#define NOSCOPE "noscope-token-0123456789" /* repo:read only */
#define LIMITED "limited-token-0123456789" /* rate 1/s, burst 1 */

/* max_body_bytes 4096; no body may be read without a principal (the anonymous legacy route
 * /anon/{tenant}/tools.execute meets that budget at once). */
#define TOML                                                                                 \
  "[server]\nport = 0\nmax_body_bytes = 4096\nmax_unauthenticated_body_bytes = 0\n"          \
  "connection_timeout_s = 30\n[storage]\nsynchronous = \"normal\"\n[log]\naccess = true\n"   \
  "[auth.tokens.full]\ntenant = \"tenant-demo\"\ntoken = \"" FULL "\"\n"                     \
  "scopes = [\"tools:execute\", \"collab:execute\", \"repo:read\"]\n"                         \
  "[auth.tokens.noscope]\ntenant = \"tenant-demo\"\ntoken = \"" NOSCOPE "\"\n"               \
  "scopes = [\"repo:read\"]\n"                                                               \
  "[auth.tokens.limited]\ntenant = \"tenant-demo\"\ntoken = \"" LIMITED "\"\n"               \
  "scopes = [\"tools:execute\", \"collab:execute\"]\nrate = 1\nburst = 1\n"                  \
  "[service.legacy_anon]\nroute = \"/anon/{tenant}/tools.execute\"\n"                        \
  "kind = \"legacy_tools_execute\"\nallow_anonymous = true\n"                                \
  "[tools]\nmanifests_file = \"conf/manifests.json\"\n"

#define TOOLS "/tenants/tenant-demo/tools.execute"
#define COLLAB "/tenants/tenant-demo/collab.execute"
#define TOOL_BODY "{\"plan\":{\"nodes\":[{\"id\":\"n1\",\"tool_id\":\"demo.echo\",\"input\":{}}]}}"
#define COLLAB_BODY "{\"plan\":{\"scope\":{\"collab_id\":\"dialect-c1\"}}}"

static gwproc gw;

/* Asserts that an answer (status, request id, JSON body) is the legacy envelope of code. */
static void check_envelope(long got_status, const char *rid, const cJSON *j, long status,
                           const char *code, const char *fragment, const char *what) {
  is_int(got_status, status, "%s: %ld", what, status);
  ok(cJSON_IsFalse(cJSON_GetObjectItem(j, "success")), "%s: success false", what);
  ok(cJSON_IsNull(cJSON_GetObjectItem(j, "data")), "%s: data null", what);
  is_str(json_str(j, "error.code"), code, "%s: error.code %s", what, code);
  if (fragment) has_str(json_str(j, "error.message"), fragment, "%s: error.message", what);
  ok(rid && *rid, "%s: an X-Request-Id", what);
  is_str(json_str(j, "trace_id"), rid, "%s: trace_id is the X-Request-Id", what);
  ok(!cJSON_GetObjectItem(j, "code") && !cJSON_GetObjectItem(j, "correlation_id"),
     "%s: nothing of the soulgw shape", what);
}

/* One request through libcurl, expected to answer the envelope. */
static void envelope(const char *method, const char *path, const char *const *headers,
                     const char *body, long status, const char *code, const char *fragment,
                     const char *what) {
  http_resp r;
  http(&gw, method, path, headers, body, &r);
  cJSON *j = json_of(&r);
  char rid[80];
  const char *id = resp_header(&r, "X-Request-Id");
  snprintf(rid, sizeof rid, "%s", id ? id : "");
  check_envelope(r.status, rid, j, status, code, fragment, what);
  if (!cJSON_IsObject(j)) tap_diag("  body: %.300s", r.body ? r.body : "(none)");
  cJSON_Delete(j);
  resp_free(&r);
}

/* The same for a raw HTTP exchange (what libcurl cannot send): status line, headers, body. */
static void raw_envelope(const char *req, long status, const char *code, const char *what) {
  char *got = raw_exchange(&gw, req, strlen(req), 5000);
  long st = got && strncmp(got, "HTTP/1.1 ", 9) == 0 ? strtol(got + 9, NULL, 10) : 0;
  const char *body = got ? strstr(got, "\r\n\r\n") : NULL;
  cJSON *j = body ? cJSON_Parse(body + 4) : NULL;
  char rid[80] = "";
  const char *h = got ? strstr(got, "X-Request-Id: ") : NULL;
  if (h) sscanf(h + 14, "%79[^\r\n]", rid);
  check_envelope(st, rid, j, status, code, NULL, what);
  if (!j) tap_diag("  got: %.300s", got ? got : "(nothing)");
  cJSON_Delete(j);
  free(got);
}

static void bearer(char *out, size_t len, const char *token) {
  snprintf(out, len, "Authorization: Bearer %s", token);
}

/* Every refusal of the pipeline, on both legacy routes. */
static void harden_dialect_legacy_pipeline(void) {
  static const char *const paths[] = {TOOLS, COLLAB};
  static const char *const bodies[] = {TOOL_BODY, COLLAB_BODY};
  char full[96], noscope[96], big[5001];
  bearer(full, sizeof full, FULL);
  bearer(noscope, sizeof noscope, NOSCOPE);
  memset(big, ' ', sizeof big - 1);
  big[0] = '{';
  big[sizeof big - 2] = '}';
  big[sizeof big - 1] = '\0';
  for (int i = 0; i < 2; i++) {
    const char *p = paths[i], *b = bodies[i];
    char what[160];
    const char *json[] = {"Content-Type: application/json", NULL};
    const char *bad_token[] = {"Content-Type: application/json",
                               "Authorization: Bearer no-such-token-0123456789", NULL};
    const char *with_full[] = {"Content-Type: application/json", full, NULL};
    const char *with_noscope[] = {"Content-Type: application/json", noscope, NULL};
    const char *text[] = {"Content-Type: text/plain", full, NULL};
    const char *get[] = {full, NULL};
    snprintf(what, sizeof what, "%s: no credential", p);
    envelope("POST", p, json, b, 401, "AUTH.UNAUTHENTICATED", "missing credential", what);
    snprintf(what, sizeof what, "%s: an unknown token", p);
    envelope("POST", p, bad_token, b, 401, "AUTH.UNAUTHENTICATED", "unknown bearer token", what);
    snprintf(what, sizeof what, "%s: a token without the scope", p);
    envelope("POST", p, with_noscope, b, 403, "AUTH.FORBIDDEN", "insufficient scope", what);
    snprintf(what, sizeof what, "%s: a body that is not JSON", p);
    envelope("POST", p, with_full, "{\"plan\":", 422, "SCHEMA.VALIDATION_FAILED",
             "body is not valid JSON", what);
    snprintf(what, sizeof what, "%s: 5000 bytes by Content-Length over 4096", p);
    envelope("POST", p, with_full, big, 413, "REQUEST.TOO_LARGE", "over the limit", what);
    snprintf(what, sizeof what, "%s: text/plain", p);
    envelope("POST", p, text, b, 415, "REQUEST.UNSUPPORTED_MEDIA_TYPE", "is not JSON", what);
    snprintf(what, sizeof what, "%s: GET", p);
    envelope("GET", p, get, NULL, 405, "ROUTE.METHOD_NOT_ALLOWED", "use POST", what);
  }
  const char *with_full[] = {"Content-Type: application/json", full, NULL};
  envelope("POST", "/tenants/tenant-other/tools.execute", with_full, TOOL_BODY, 403,
           "AUTH.FORBIDDEN", "may not act for tenant tenant-other", "another tenant's path");
  http_resp r;
  http(&gw, "GET", TOOLS, NULL, NULL, &r);
  has_str(resp_header(&r, "Allow"), "POST", "the 405 keeps its Allow header");
  resp_free(&r);
}

/* The handler's refusals: the same envelope (as before). */
static void harden_dialect_legacy_handler(void) {
  char full[96];
  bearer(full, sizeof full, FULL);
  const char *with_full[] = {"Content-Type: application/json", full, NULL};
  envelope("POST", TOOLS, with_full, "{\"plan\":{}}", 422, "SCHEMA.VALIDATION_FAILED",
           "plan.nodes is required", "tools.execute: a plan without nodes");
  envelope("POST", TOOLS, with_full, "{\"plan\":{\"nodes\":[{\"tool_id\":\"no.such.tool\"}]}}",
           403, "POLICY.DENY_TOOL", "not registered", "tools.execute: an unknown tool");
  envelope("POST", COLLAB, with_full, "{\"plan\":{\"scope\":{\"collab_id\":null}}}", 422,
           "SCHEMA.VALIDATION_FAILED", "plan.scope.collab_id is required",
           "collab.execute: a scope with a null collab_id");
  envelope("POST", COLLAB, with_full, "{\"plan\":{\"scope\":{},\"rounds\":0}}", 422,
           "SCHEMA.VALIDATION_FAILED", "plan.rounds must be between 1 and 1000",
           "collab.execute: a CollabPlan with rounds 0");
}

/* A principal over its rate: 429 with Retry-After, in the envelope, on both routes. */
static void harden_dialect_legacy_rate_limited(void) {
  static const char *const paths[] = {TOOLS, COLLAB};
  static const char *const bodies[] = {TOOL_BODY, COLLAB_BODY};
  char limited[96];
  bearer(limited, sizeof limited, LIMITED);
  const char *hdrs[] = {"Content-Type: application/json", limited, NULL};
  for (int i = 0; i < 2; i++) {
    /* rate 1/s, burst 1: of a quick burst of requests, all but about one a second are
     * refused, however slow the machine */
    http_resp r;
    memset(&r, 0, sizeof r);
    int n = 0;
    for (; n < 50; n++) {
      http(&gw, "POST", paths[i], hdrs, bodies[i], &r);
      if (r.status == 429) break;
      resp_free(&r);
    }
    char what[160];
    snprintf(what, sizeof what, "%s: over the rate", paths[i]);
    if (!ok(n < 50, "%s: a 429 within 50 requests", what)) continue;
    cJSON *j = json_of(&r);
    char rid[80];
    const char *id = resp_header(&r, "X-Request-Id");
  snprintf(rid, sizeof rid, "%s", id ? id : "");
    check_envelope(r.status, rid, j, 429, "QUOTA.RATE_LIMITED", "rate limit exceeded", what);
    ok(resp_header(&r, "Retry-After") != NULL, "%s: Retry-After", what);
    cJSON_Delete(j);
    resp_free(&r);
  }
}

/* The HTTP glue's refusals after routing: a chunked body over the limit (413), a body that
 * does not fit the unauthenticated budget (503 REQUEST.BUSY). */
static void harden_dialect_legacy_glue(void) {
  char req[8192], big[5001];
  memset(big, ' ', sizeof big - 1);
  big[0] = '{';
  big[sizeof big - 2] = '}';
  big[sizeof big - 1] = '\0';
  snprintf(req, sizeof req,
           "POST " TOOLS " HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " FULL "\r\n"
           "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n%x\r\n%s\r\n"
           "0\r\n\r\n",
           (unsigned)strlen(big), big);
  raw_envelope(req, 413, "REQUEST.TOO_LARGE", "a chunked body over the limit");
  snprintf(req, sizeof req,
           "POST /anon/tenant-demo/tools.execute HTTP/1.1\r\nHost: x\r\n"
           "Content-Type: application/json\r\nContent-Length: %zu\r\n\r\n%s",
           strlen(TOOL_BODY), TOOL_BODY);
  raw_envelope(req, 503, "REQUEST.BUSY", "an anonymous body over the unauthenticated budget");
}

/* The other routes keep SPEC 4's shape, and so does a path that matches no route, even one
 * under /tenants/. */
static void harden_dialect_soulgw_unchanged(void) {
  static const struct {
    const char *method, *path, *token, *body, *code;
    long status;
  } cases[] = {
      {"POST", "/api/tools/execute", NULL, "{}", "AUTH.UNAUTHENTICATED", 401},
      {"POST", "/api/tools/execute", NOSCOPE, "{}", "AUTH.FORBIDDEN", 403},
      {"POST", "/api/tools/execute", FULL, "{", "SCHEMA.VALIDATION_FAILED", 422},
      {"POST", "/api/tools/execute", FULL, "{\"tool_id\":\"no.such.tool\"}", "POLICY.DENY_TOOL",
       403},
      {"GET", "/api/tools/execute", FULL, NULL, "ROUTE.METHOD_NOT_ALLOWED", 405},
      {"POST", "/tenants/tenant-demo/nothing.here", FULL, "{}", "ROUTE.NOT_FOUND", 404},
  };
  for (size_t i = 0; i < TAP_COUNT(cases); i++) {
    char auth[96], what[160];
    bearer(auth, sizeof auth, cases[i].token ? cases[i].token : "");
    const char *hdrs[] = {"Content-Type: application/json", cases[i].token ? auth : NULL, NULL};
    http_resp r;
    http(&gw, cases[i].method, cases[i].path, hdrs, cases[i].body, &r);
    cJSON *j = json_of(&r);
    snprintf(what, sizeof what, "%s %s -> %s", cases[i].method, cases[i].path, cases[i].code);
    is_int(r.status, cases[i].status, "%s: status", what);
    is_str(json_str(j, "code"), cases[i].code, "%s: code", what);
    ok(json_str(j, "message") != NULL, "%s: message", what);
    is_str(json_str(j, "correlation_id"), resp_header(&r, "X-Request-Id"),
           "%s: correlation_id is the X-Request-Id", what);
    ok(!cJSON_GetObjectItem(j, "success"), "%s: no envelope", what);
    if (cases[i].status == 401)
      is_str(resp_header(&r, "WWW-Authenticate"), "Bearer realm=\"soulgw\"",
             "%s: WWW-Authenticate names the scheme", what);
    cJSON_Delete(j);
    resp_free(&r);
  }
}

/* The access log line of request rid (waited for): malloc'd, or NULL. */
static char *access_line(const char *rid) {
  char key[128];
  snprintf(key, sizeof key, "\"msg\":\"access\",\"request_id\":\"%s\"", rid);
  if (!gw_wait_log(&gw, key, 1, 10000)) return NULL;
  FILE *fp = fopen(gw.errlog, "r");
  char line[4096], *found = NULL;
  while (fp && !found && fgets(line, sizeof line, fp))
    if (strstr(line, key)) found = strdup(line);
  if (fp) fclose(fp);
  return found;
}

/* Each refusal names its stage in the access log ("stage"); an answer that is not an error has
 * none. */
static void harden_stage_access_log(void) {
  char full[96], noscope[96], big[5001];
  bearer(full, sizeof full, FULL);
  bearer(noscope, sizeof noscope, NOSCOPE);
  memset(big, ' ', sizeof big - 1);
  big[0] = '{';
  big[sizeof big - 2] = '}';
  big[sizeof big - 1] = '\0';
  static const struct {
    const char *rid, *method, *path, *type, *auth, *body, *stage;
  } cases[] = {
      {"st-route", "GET", TOOLS, NULL, "full", NULL, "route"},
      {"st-notfound", "GET", "/no/such/path", NULL, NULL, NULL, "route"},
      {"st-limits-type", "POST", TOOLS, "text/plain", "full", TOOL_BODY, "limits"},
      {"st-limits-size", "POST", TOOLS, "application/json", "full", "big", "limits"},
      {"st-auth", "POST", TOOLS, "application/json", NULL, TOOL_BODY, "auth"},
      {"st-scope", "POST", TOOLS, "application/json", "noscope", TOOL_BODY, "scope"},
      {"st-body", "POST", TOOLS, "application/json", "full", "{", "body"},
      {"st-tenant", "POST", "/tenants/other/tools.execute", "application/json", "full", TOOL_BODY,
       "tenant"},
      {"st-handler", "POST", TOOLS, "application/json", "full", "{\"plan\":{}}", "handler"},
      {"st-ok", "POST", TOOLS, "application/json", "full", TOOL_BODY, NULL},
  };
  for (size_t i = 0; i < TAP_COUNT(cases); i++) {
    char rid[64], type[80];
    snprintf(rid, sizeof rid, "X-Request-Id: %s", cases[i].rid);
    snprintf(type, sizeof type, "Content-Type: %s", cases[i].type ? cases[i].type : "");
    const char *auth = !cases[i].auth ? NULL : strcmp(cases[i].auth, "full") == 0 ? full : noscope;
    const char *hdrs[] = {rid, cases[i].type ? type : "Content-Type:", auth, NULL};
    const char *body = cases[i].body && strcmp(cases[i].body, "big") == 0 ? big : cases[i].body;
    http_resp r;
    http(&gw, cases[i].method, cases[i].path, hdrs, body, &r);
    resp_free(&r);
    char *line = access_line(cases[i].rid);
    if (!ok(line != NULL, "%s: an access line", cases[i].rid)) continue;
    if (cases[i].stage) {
      char want[64];
      snprintf(want, sizeof want, "\"stage\":\"%s\"", cases[i].stage);
      has_str(line, want, "%s: refused at the %s stage", cases[i].rid, cases[i].stage);
    } else {
      ok(!strstr(line, "\"stage\""), "%s: no stage for an answer that is not an error",
         cases[i].rid);
    }
    free(line);
  }
  /* over its rate */
  char limited[96];
  bearer(limited, sizeof limited, LIMITED);
  int refused = 0;
  for (int n = 0; n < 50 && !refused; n++) {
    char rid[64];
    snprintf(rid, sizeof rid, "X-Request-Id: st-rate-%d", n);
    const char *hdrs[] = {rid, "Content-Type: application/json", limited, NULL};
    http_resp r;
    http(&gw, "POST", TOOLS, hdrs, TOOL_BODY, &r);
    refused = r.status == 429;
    resp_free(&r);
    if (!refused) continue;
    char *line = access_line(rid + strlen("X-Request-Id: "));
    has_str(line, "\"stage\":\"rate\"", "st-rate-%d: refused at the rate stage", n);
    free(line);
  }
  ok(refused, "a 429 within 50 requests");
  /* refused by the HTTP glue before routing: two Content-Lengths */
  static const char two_cl[] =
      "POST " TOOLS " HTTP/1.1\r\nHost: x\r\nX-Request-Id: st-edge\r\n"
      "Content-Length: 2\r\nContent-Length: 3\r\n\r\n{}";
  free(raw_exchange(&gw, two_cl, sizeof two_cl - 1, 5000));
  char *line = access_line("st-edge");
  has_str(line, "\"stage\":\"edge\"", "st-edge: refused at the edge");
  free(line);
}

static const tap_test tests[] = {
    TEST(harden_dialect_legacy_pipeline),     TEST(harden_dialect_legacy_handler),
    TEST(harden_dialect_legacy_rate_limited), TEST(harden_dialect_legacy_glue),
    TEST(harden_dialect_soulgw_unchanged),    TEST(harden_stage_access_log),
};

int main(void) {
  return tap_with_gateway(&gw, harness_soulgw_bin(), TOML, NULL, tests, TAP_COUNT(tests));
}
