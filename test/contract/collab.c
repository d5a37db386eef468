/*
 * collab.c -- contract tests of /api/collab/execute and /api/collab/resolve (SPEC 4.2), as
 * soulseed-agi uses them: a collaboration opens in_progress with its context, advances (new
 * participants once each, contexts deep-merged, the timeline growing), resolves once, and
 * refuses to move after that.  Bad input never writes anything.
 */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "badinput.h"
#include "harness.h"
#include "tap.h"

static gwproc gw;
#define TOKEN "test-token"

/* POSTs body; returns the status and, when out is not NULL, the parsed answer. */
static long post(const char *path, const char *body, cJSON **out) {
  return post_json(&gw, TOKEN, path, body, out);
}

static void expect_error(const char *path, const char *body, long status, const char *code,
                         const char *fragment, const char *what) {
  expect_error_as(&gw, TOKEN, path, body, status, code, fragment, what);
}

static int has_string(const cJSON *arr, const char *s) {
  const cJSON *e;
  int n = 0;
  cJSON_ArrayForEach(e, arr) if (cJSON_IsString(e) && strcmp(e->valuestring, s) == 0) n++;
  return n;
}

static void contract_collab_execute_in_progress(void) {
  cJSON *j = NULL;
  long st = post("/api/collab/execute",
                 "{\"collab_id\":\"c-contract\",\"participants\":[\"planner\",\"critic\"],"
                 "\"context\":{\"goal\":\"ship\",\"budget\":{\"tokens\":100}},\"note\":\"kick-off\"}",
                 &j);
  is_int(st, 200, "collab/execute answers 200");
  is_str(json_str(j, "collab_id"), "c-contract", "collab_id");
  is_str(json_str(j, "tenant"), "tenant-demo", "tenant (the principal's)");
  is_str(json_str(j, "status"), "in_progress", "status in_progress");
  is_str(json_str(j, "context.goal"), "ship", "the collaboration context is in the answer");
  is_int(json_num(j, "context.budget.tokens", -1), 100, "nested context kept");
  const cJSON *p = cJSON_GetObjectItem(j, "participants");
  ok(cJSON_IsArray(p) && cJSON_GetArraySize(p) == 2 && has_string(p, "planner") &&
         has_string(p, "critic"),
     "participants");
  ok(cJSON_IsArray(cJSON_GetObjectItem(j, "timeline")) &&
         cJSON_GetArraySize(cJSON_GetObjectItem(j, "timeline")) >= 1,
     "a timeline");
  ok(cJSON_IsNull(cJSON_GetObjectItem(j, "resolution")), "resolution null");
  ok(json_num(j, "created_at", 0) > 1.6e12, "created_at in epoch ms");
  ok(json_num(j, "updated_at", 0) >= json_num(j, "created_at", 0), "updated_at");
  cJSON_Delete(j);
}

static void contract_collab_execute_advances(void) {
  cJSON *j = NULL;
  post("/api/collab/execute",
       "{\"collab_id\":\"c-adv\",\"participants\":[\"a\",\"b\"],"
       "\"context\":{\"x\":1,\"nested\":{\"k1\":\"v1\"}}}",
       &j);
  int t1 = cJSON_GetArraySize(cJSON_GetObjectItem(j, "timeline"));
  cJSON_Delete(j);
  is_int(post("/api/collab/execute",
              "{\"collab_id\":\"c-adv\",\"participants\":[\"b\",\"c\",\"c\"],"
              "\"context\":{\"y\":2,\"nested\":{\"k2\":\"v2\"}},\"note\":\"round 2\"}",
              &j),
         200, "a second execute answers 200");
  const cJSON *p = cJSON_GetObjectItem(j, "participants");
  ok(cJSON_GetArraySize(p) == 3 && has_string(p, "a") == 1 && has_string(p, "b") == 1 &&
         has_string(p, "c") == 1,
     "participants appended without duplicates (%d)", cJSON_GetArraySize(p));
  is_int(json_num(j, "context.x", -1), 1, "context deep-merged: old key kept");
  is_int(json_num(j, "context.y", -1), 2, "context deep-merged: new key added");
  is_str(json_str(j, "context.nested.k1"), "v1", "deep merge keeps nested keys");
  is_str(json_str(j, "context.nested.k2"), "v2", "deep merge adds nested keys");
  int t2 = cJSON_GetArraySize(cJSON_GetObjectItem(j, "timeline"));
  ok(t2 == t1 + 1, "the timeline grows by one (%d -> %d)", t1, t2);
  const cJSON *last = cJSON_GetArrayItem(cJSON_GetObjectItem(j, "timeline"), t2 - 1);
  is_str(json_str(last, "note"), "round 2", "the last timeline entry carries the note");
  ok(json_num(last, "timestamp_ms", 0) > 1.6e12, "with a timestamp");
  is_str(json_str(j, "status"), "in_progress", "still in progress");
  cJSON_Delete(j);
  /* a null context leaves the context as it is */
  is_int(post("/api/collab/execute", "{\"collab_id\":\"c-adv\",\"context\":null}", &j), 200,
         "context null is accepted");
  is_int(json_num(j, "context.x", -1), 1, "and changes nothing");
  cJSON_Delete(j);
}

static void contract_collab_resolve(void) {
  cJSON *j = NULL;
  post("/api/collab/execute", "{\"collab_id\":\"c-res\",\"context\":{\"q\":1}}", NULL);
  is_int(post("/api/collab/resolve",
              "{\"collab_id\":\"c-res\",\"outcome\":{\"answer\":42},\"note\":\"done\"}", &j),
         200, "resolve answers 200");
  is_str(json_str(j, "status"), "resolved", "status resolved");
  is_int(json_num(j, "resolution.outcome.answer", -1), 42, "resolution.outcome");
  is_str(json_str(j, "resolution.note"), "done", "resolution.note");
  is_int(json_num(j, "context.q", -1), 1, "the snapshot keeps the context");
  cJSON_Delete(j);
  expect_error("/api/collab/execute", "{\"collab_id\":\"c-res\"}", 409, "STORAGE.CONFLICT", NULL,
               "executing a resolved collaboration");
  expect_error("/api/collab/resolve", "{\"collab_id\":\"c-res\"}", 409, "STORAGE.CONFLICT", NULL,
               "resolving twice");
  expect_error("/api/collab/resolve", "{\"collab_id\":\"c-never\"}", 404, "STORAGE.NOT_FOUND",
               NULL, "resolving an unknown collaboration");
  /* any JSON outcome, or none */
  post("/api/collab/execute", "{\"collab_id\":\"c-res2\"}", NULL);
  is_int(post("/api/collab/resolve", "{\"collab_id\":\"c-res2\"}", &j), 200,
         "resolve without an outcome");
  ok(cJSON_IsNull(cJSON_GetObjectItem(cJSON_GetObjectItem(j, "resolution"), "outcome")),
     "outcome null");
  cJSON_Delete(j);
  post("/api/collab/execute", "{\"collab_id\":\"c-res3\"}", NULL);
  is_int(post("/api/collab/resolve", "{\"collab_id\":\"c-res3\",\"outcome\":\"accepted\"}", &j),
         200, "a string outcome");
  is_str(json_str(j, "resolution.outcome"), "accepted", "kept as given");
  cJSON_Delete(j);
}

/* A collaboration that a bad request named must not exist afterwards. */
static void not_created(const char *id, const char *what) {
  char body[128];
  snprintf(body, sizeof body, "{\"collab_id\":\"%s\"}", id);
  is_int(post("/api/collab/resolve", body, NULL), 404, "%s: nothing was written", what);
}

static void contract_collab_bad_input(void) {
  static const char *const X = "/api/collab/execute", *const R = "/api/collab/resolve";
  const char *V = "SCHEMA.VALIDATION_FAILED";
  expect_error(X, "{}", 422, V, "collab_id is required", "missing collab_id");
  expect_error(X, "{\"collab_id\":null}", 422, V, "collab_id must not be null", "null collab_id");
  expect_error(X, "{\"collab_id\":7}", 422, V, "collab_id must be a string", "numeric collab_id");
  expect_error(X, "{\"collab_id\":\"  \"}", 422, V, "collab_id must not be blank", "blank");
  expect_error(X, "{\"collab_id\":\"a\\nb\"}", 422, V, "control characters", "a newline in an id");
  expect_error(X, "{\"collab_id\":\"bad-p1\",\"participants\":\"a\"}", 422, V,
               "participants must be an array", "participants not an array");
  expect_error(X, "{\"collab_id\":\"bad-p2\",\"participants\":[\"a\",\"b\",3]}", 422, V,
               "participants[2] must be a string", "participants[2] a number");
  expect_error(X, "{\"collab_id\":\"bad-p3\",\"participants\":[\"a\",null]}", 422, V,
               "participants[1] must be a string", "a null participant");
  expect_error(X, "{\"collab_id\":\"bad-p4\",\"participants\":[\"\"]}", 422, V,
               "participants[0] must not be blank", "a blank participant");
  expect_error(X, "{\"collab_id\":\"bad-n\",\"note\":{}}", 422, V, "note must be a string",
               "note an object");
  expect_error(X, "{\"collab_id\":\"bad-t\",\"tenant\":5}", 422, V, "tenant must be a string",
               "tenant a number");
  expect_error(X, "{\"collab_id\":\"bad-t2\",\"tenant\":\"tenant-other\"}", 403,
               "AUTH.FORBIDDEN", "may not act for tenant", "another tenant");
  expect_error(R, "{}", 422, V, "collab_id is required", "resolve without collab_id");
  expect_error(R, "{\"collab_id\":[]}", 422, V, "collab_id must be a string", "resolve: array id");
  post(X, "{\"collab_id\":\"bad-r\"}", NULL);
  expect_error(R, "{\"collab_id\":\"bad-r\",\"note\":1}", 422, V, "note must be a string",
               "resolve: numeric note");
  cJSON *j = NULL;
  is_int(post(X, "{\"collab_id\":\"bad-r\"}", &j), 200, "a refused resolve resolved nothing");
  is_str(json_str(j, "status"), "in_progress", "still in progress");
  cJSON_Delete(j);

  /* 10,000 participants; a 1 MB id; a 1 MB note (the body limit is raised for this program) */
  size_t n = 10000;
  char *big = malloc(n * 8 + 64), *p = big;
  p += sprintf(p, "{\"collab_id\":\"bad-many\",\"participants\":[");
  for (size_t i = 0; i < n; i++) p += sprintf(p, "%s\"p%zu\"", i ? "," : "", i % 1000);
  strcpy(p, "]}");
  expect_error(X, big, 422, V, "participants has 10000 elements", "10,000 participants");
  free(big);
  char *mb = repeat_char('x', 1 << 20);
  big = malloc((1 << 20) + 64);
  sprintf(big, "{\"collab_id\":\"%s\"}", mb);
  expect_error(X, big, 422, V, "collab_id is 1048576 bytes long", "a 1 MB collab_id");
  sprintf(big, "{\"collab_id\":\"bad-note\",\"note\":\"%s\"}", mb);
  expect_error(X, big, 422, V, "note is 1048576 bytes long", "a 1 MB note");
  sprintf(big, "{\"collab_id\":\"bad-mb\",\"participants\":[\"%s\"]}", mb);
  expect_error(X, big, 422, V, "participants[0] is 1048576 bytes long", "a 1 MB participant");
  /* a 1 MB context is data, and is accepted */
  sprintf(big, "{\"collab_id\":\"big-ctx\",\"context\":{\"blob\":\"%s\"}}", mb);
  is_int(post(X, big, &j), 200, "a 1 MB context is accepted");
  ok(json_str(j, "context.blob") && strlen(json_str(j, "context.blob")) == (1u << 20),
     "and answered whole");
  cJSON_Delete(j);
  free(big);
  free(mb);

  not_created("bad-p1", "participants not an array");
  not_created("bad-p2", "participants[2] a number");
  not_created("bad-p3", "a null participant");
  not_created("bad-p4", "a blank participant");
  not_created("bad-n", "note an object");
  not_created("bad-many", "10,000 participants");
  not_created("bad-note", "a 1 MB note");
  not_created("bad-mb", "a 1 MB participant");
  check_malformed_bodies(&gw, X, TOKEN);
  check_malformed_bodies(&gw, R, TOKEN);
}

static void contract_collab_needs_scope(void) {
  http_resp r;
  http_post(&gw, "/api/collab/execute", NULL, "{\"collab_id\":\"c-anon\"}", &r);
  is_int(r.status, 401, "no credential: 401");
  resp_free(&r);
  /* the HMAC key of the default configuration lacks collab:execute; a signature dated at or
   * before the gateway's start second is refused (a possible replay), so sign after it */
  for (time_t t0 = time(NULL); time(NULL) <= t0;) usleep(50 * 1000);
  char *hdrs = NULL;
  const char *argv[] = {harness_soulgw_bin(), "sign", "--key-id", "local", "--secret-env",
                        "GATEWAY_HMAC_LOCAL", "POST", "/api/collab/execute", NULL};
  run_cmd(argv, NULL, &hdrs);
  const char *h[8] = {"Content-Type: application/json"};
  int k = 1;
  for (char *s = hdrs, *save = NULL, *line; hdrs && k < 7 && (line = strtok_r(s, "\n", &save));
       s = NULL)
    h[k++] = line;
  h[k] = NULL;
  http(&gw, "POST", "/api/collab/execute", h, "{\"collab_id\":\"c-hmac\"}", &r);
  is_int(r.status, 403, "a principal without collab:execute: 403");
  has_str(r.body, "collab:execute", "naming the scope");
  resp_free(&r);
  free(hdrs);
}

static const tap_test tests[] = {
    TEST(contract_collab_execute_in_progress), TEST(contract_collab_execute_advances),
    TEST(contract_collab_resolve), TEST(contract_collab_bad_input),
    TEST(contract_collab_needs_scope),
};

int main(void) {
  static const char *const env[] = {"GATEWAY__SERVER__MAX_BODY_BYTES=4194304", NULL};
  return tap_with_gateway(&gw, harness_soulgw_bin(), NULL, env, tests, TAP_COUNT(tests));
}
