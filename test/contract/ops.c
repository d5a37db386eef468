/*
 * ops.c -- contract tests of the operations routes (SPEC 4.1) and the HTTP surface every route
 * shares (SPEC 4): error shape, X-Request-Id, 404, 405, HEAD, OPTIONS.  Run against the real
 * soulgw binary, as the runbook's inspection checklist does with curl.
 */
#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "tap.h"

static gwproc gw;

static void contract_health_ok(void) {
  http_resp r;
  http_get(&gw, "/health", &r);
  is_int(r.status, 200, "GET /health answers 200");
  is_str(r.body, "{\"status\":\"ok\"}", "body is {\"status\":\"ok\"}");
  has_str(resp_header(&r, "Content-Type"), "application/json", "JSON content type");
  ok(resp_header(&r, "X-Request-Id") != NULL, "X-Request-Id is set");
  resp_free(&r);
  http(&gw, "HEAD", "/health", NULL, NULL, &r);
  is_int(r.status, 200, "HEAD /health answers 200");
  is_int(r.len, 0, "HEAD has no body");
  resp_free(&r);
}

static void contract_version_fields(void) {
  http_resp r;
  http_get(&gw, "/version", &r);
  is_int(r.status, 200, "GET /version answers 200");
  cJSON *j = json_of(&r);
  is_str(json_str(j, "version"), "0.1.0", "version");
  const char *commit = json_str(j, "commit");
  ok(commit && strlen(commit) >= 7, "commit is a git sha (%s)", commit ? commit : "null");
  ok(json_str(j, "built_at") != NULL, "built_at present");
  ok(json_str(j, "libmicrohttpd") && json_str(j, "libmicrohttpd")[0] == '0', "libmicrohttpd version");
  ok(json_str(j, "sqlite") && json_str(j, "sqlite")[0] == '3', "sqlite version");
  cJSON_Delete(j);
  resp_free(&r);
}

static void contract_routes_list(void) {
  http_resp r;
  http_get(&gw, "/routes", &r);
  is_int(r.status, 200, "GET /routes answers 200");
  cJSON *j = json_of(&r);
  ok(cJSON_IsArray(j), "an array");
  int health = 0, fields = 1;
  cJSON *e;
  cJSON_ArrayForEach(e, j) {
    if (!json_str(e, "name") || !json_str(e, "route") || !json_str(e, "kind") ||
        !cJSON_IsArray(cJSON_GetObjectItem(e, "scopes")) || !json_str(e, "description"))
      fields = 0;
    if (json_str(e, "route") && strcmp(json_str(e, "route"), "/health") == 0) health = 1;
  }
  ok(fields, "every entry has name, route, kind, scopes, description");
  ok(health, "/health is listed");
  cJSON_Delete(j);
  resp_free(&r);
}

static void contract_metrics_prometheus(void) {
  http_resp r;
  http_get(&gw, "/health", &r);
  resp_free(&r);
  http_get(&gw, "/nope", &r);
  resp_free(&r);
  http_get(&gw, "/metrics", &r);
  is_int(r.status, 200, "GET /metrics answers 200");
  has_str(resp_header(&r, "Content-Type"), "text/plain", "Prometheus text format");
  has_str(r.body, "# TYPE soulgw_http_requests_total counter", "requests counter family");
  has_str(r.body, "soulgw_http_requests_total{route=\"health\",method=\"GET\",code=\"200\"}",
          "health requests counted by route, method and code");
  has_str(r.body, "soulgw_http_requests_total{route=\"unmatched\",method=\"GET\",code=\"404\"}",
          "unknown paths counted as unmatched");
  has_str(r.body, "soulgw_http_request_duration_seconds_bucket{route=\"health\",le=\"0.0001\"}",
          "duration histogram starts at 0.0001 s");
  has_str(r.body, "le=\"10\"", "duration histogram reaches 10 s");
  has_str(r.body, "soulgw_http_requests_in_flight ", "in-flight gauge");
  has_str(r.body, "soulgw_build_info{version=\"0.1.0\",commit=\"", "build info");
  has_str(r.body, "process_resident_memory_bytes ", "resident memory");
  has_str(r.body, "process_open_fds ", "open fds");
  has_str(r.body, "process_start_time_seconds ", "start time");
  ok(!strstr(r.body, "/nope"), "no user-controlled label values");
  resp_free(&r);
}

static void contract_metrics_json(void) {
  http_resp r;
  http_get(&gw, "/metrics?format=json", &r);
  is_int(r.status, 200, "GET /metrics?format=json answers 200");
  cJSON *j = json_of(&r);
  ok(json_num(j, "total_requests", -1) >= 1, "total_requests");
  ok(json_num(j, "total_errors", -1) >= 0, "total_errors");
  cJSON *routes = cJSON_GetObjectItem(j, "routes");
  ok(cJSON_IsArray(routes) && cJSON_GetArraySize(routes) > 0, "routes array");
  cJSON *e = cJSON_GetArrayItem(routes, 0);
  ok(json_str(e, "route") && json_num(e, "requests", -1) >= 0 && json_num(e, "errors", -1) >= 0 &&
         json_num(e, "avg_latency_ms", -1) >= 0,
     "route entries have route, requests, errors, avg_latency_ms");
  cJSON_Delete(j);
  resp_free(&r);
  http_get(&gw, "/metrics?format=xml", &r);
  is_int(r.status, 400, "an unknown format is a 400");
  resp_free(&r);
}

static void contract_not_found_shape(void) {
  http_resp r;
  const char *hdrs[] = {"X-Request-Id: test-rid-42", NULL};
  http(&gw, "GET", "/no/such/route", hdrs, NULL, &r);
  is_int(r.status, 404, "unknown path answers 404");
  cJSON *j = json_of(&r);
  is_str(json_str(j, "code"), "ROUTE.NOT_FOUND", "code");
  ok(json_str(j, "message") != NULL, "message");
  is_str(json_str(j, "correlation_id"), "test-rid-42", "correlation_id is the client's request id");
  is_str(json_str(j, "path"), "/no/such/route", "path");
  is_str(resp_header(&r, "X-Request-Id"), "test-rid-42", "X-Request-Id echoed");
  cJSON_Delete(j);
  resp_free(&r);
  const char *bad[] = {"X-Request-Id: bad id with spaces", NULL};
  http(&gw, "GET", "/health", bad, NULL, &r);
  const char *rid = resp_header(&r, "X-Request-Id");
  ok(rid && strcmp(rid, "bad id with spaces") != 0 && strlen(rid) == 32,
     "an insane client id is replaced by a generated one");
  resp_free(&r);
  const char *tp[] = {"traceparent: 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", NULL};
  http(&gw, "GET", "/health", tp, NULL, &r);
  is_str(resp_header(&r, "X-Request-Id"), "4bf92f3577b34da6a3ce929d0e0e4736",
         "the trace id of traceparent becomes the request id");
  resp_free(&r);
}

static void contract_method_not_allowed(void) {
  http_resp r;
  http(&gw, "DELETE", "/health", NULL, NULL, &r);
  is_int(r.status, 405, "DELETE /health answers 405");
  has_str(resp_header(&r, "Allow"), "GET", "Allow lists GET");
  cJSON *j = json_of(&r);
  is_str(json_str(j, "code"), "ROUTE.METHOD_NOT_ALLOWED", "code");
  ok(json_str(j, "correlation_id") != NULL, "correlation_id");
  cJSON_Delete(j);
  resp_free(&r);
  http(&gw, "OPTIONS", "/health", NULL, NULL, &r);
  is_int(r.status, 204, "OPTIONS answers 204");
  has_str(resp_header(&r, "Allow"), "HEAD", "with Allow");
  resp_free(&r);
}

static void contract_long_path_and_garbage(void) {
  size_t n = 100 * 1024;
  char *path = malloc(n + 2);
  path[0] = '/';
  memset(path + 1, 'a', n);
  path[n + 1] = '\0';
  http_resp r;
  http_get(&gw, path, &r);
  is_int(r.status, 414, "a 100 KB path gets 414 URI Too Long");
  ok(r.len > 0, "with an error body");
  resp_free(&r);
  path[8 * 1024] = '\0';
  http_get(&gw, path, &r);
  is_int(r.status, 404, "an 8 KB path is still routed (404)");
  cJSON *j = json_of(&r);
  is_str(json_str(j, "code"), "ROUTE.NOT_FOUND", "in the common error shape");
  ok(json_str(j, "path") && strlen(json_str(j, "path")) <= 256, "the echoed path is truncated");
  cJSON_Delete(j);
  resp_free(&r);
  free(path);
  const char bad[] = "\x01\x02 /health HTTP/1.1\r\nHost: x\r\n\r\n";
  char *got = raw_exchange(&gw, bad, sizeof bad - 1, 3000);
  ok(got && strncmp(got, "HTTP/1.1 400", 12) == 0, "a method that is not a token gets 400");
  has_str(got, "\"code\":\"REQUEST.BAD\"", "in the common error shape");
  free(got);
  const char nul[] = "\x00\x01 / HTTP/1.1\r\nHost: x\r\n\r\n";
  got = raw_exchange(&gw, nul, sizeof nul - 1, 3000);
  ok(got && strncmp(got, "HTTP/1.1 400", 12) == 0, "a request line with NUL gets 400");
  free(got);
  const char ver[] = "GET /health HTTP/7.0\r\nHost: x\r\n\r\n";
  got = raw_exchange(&gw, ver, sizeof ver - 1, 3000);
  ok(got && strncmp(got, "HTTP/1.1 505", 12) == 0, "an unknown HTTP version gets 505");
  free(got);
  http_get(&gw, "/health", &r);
  is_int(r.status, 200, "and the gateway keeps serving");
  resp_free(&r);
}

static const tap_test tests[] = {
    TEST(contract_health_ok),         TEST(contract_version_fields),
    TEST(contract_routes_list),       TEST(contract_metrics_prometheus),
    TEST(contract_metrics_json),      TEST(contract_not_found_shape),
    TEST(contract_method_not_allowed), TEST(contract_long_path_and_garbage),
};

int main(void) {
  return tap_with_gateway(&gw, harness_soulgw_bin(), NULL, NULL, tests, TAP_COUNT(tests));
}
