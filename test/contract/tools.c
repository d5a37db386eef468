/*
 * tools.c -- contract tests of the tool routes as soulseed-agi calls them (runbook section 5):
 * /api/tools/execute with the echo tool answers status ok with the input as result, and the
 * preflight and list answers carry the fields clients read.  Run against the real soulgw
 * binary with the shipped conf/manifests.json.
 */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "tap.h"

static gwproc gw;

static void contract_tools_execute_echo(void) {
  const char *input = "{\"text\":\"hello\",\"n\":[1,2.5,true,null],\"deep\":{\"k\":\"\xc3\xa9\"}}";
  char body[512];
  snprintf(body, sizeof body, "{\"tool_id\":\"demo.echo\",\"tenant\":\"tenant-demo\",\"input\":%s}",
           input);
  http_resp r;
  http_post(&gw, "/api/tools/execute", "test-token", body, &r);
  is_int(r.status, 200, "POST /api/tools/execute answers 200");
  has_str(resp_header(&r, "Content-Type"), "application/json", "JSON content type");
  cJSON *j = json_of(&r), *want = cJSON_Parse(input);
  is_str(json_str(j, "status"), "ok", "status is ok");
  is_str(json_str(j, "tool_id"), "demo.echo", "tool_id");
  is_str(json_str(j, "tool_version"), "1.0.0", "tool_version from the manifest");
  is_str(json_str(j, "tenant"), "tenant-demo", "tenant");
  ok(cJSON_Compare(cJSON_GetObjectItem(j, "result"), want, 1), "result equals the input");
  const char *rid = resp_header(&r, "X-Request-Id");
  char rid_copy[80];
  snprintf(rid_copy, sizeof rid_copy, "%s", rid ? rid : "");
  is_str(json_str(j, "call_id"), rid_copy, "call_id defaults to the request id");
  ok(cJSON_IsNumber(cJSON_GetObjectItem(j, "duration_ms")) && json_num(j, "duration_ms", -1) >= 0,
     "duration_ms is a non-negative number");
  char ref[160];
  snprintf(ref, sizeof ref, "evidence://tenant-demo/%s", rid_copy);
  is_str(json_str(j, "evidence_ref"), ref, "evidence_ref names tenant and call");
  cJSON_Delete(want);
  cJSON_Delete(j);
  resp_free(&r);

  http_post(&gw, "/api/tools/execute", "test-token",
            "{\"tool_id\":\"demo.echo\",\"input\":{\"a\":1},\"call_id\":\"call-7\"}", &r);
  j = json_of(&r);
  is_int(r.status, 200, "the tenant defaults to the token's");
  is_str(json_str(j, "call_id"), "call-7", "a given call_id is kept");
  is_str(json_str(j, "evidence_ref"), "evidence://tenant-demo/call-7", "and used in evidence_ref");
  cJSON_Delete(j);
  resp_free(&r);
}

static void contract_tools_preflight_and_list(void) {
  http_resp r;
  http_post(&gw, "/api/tools/preflight", "test-token", "{\"tool_id\":\"demo.echo\"}", &r);
  is_int(r.status, 200, "preflight answers 200");
  cJSON *j = json_of(&r);
  ok(cJSON_IsTrue(cJSON_GetObjectItem(j, "allow")), "allow is true for demo.echo");
  is_str(json_str(j, "tool_id"), "demo.echo", "tool_id");
  is_str(json_str(j, "tenant"), "tenant-demo", "tenant");
  is_str(json_str(j, "tool_version"), "1.0.0", "tool_version");
  ok(json_str(j, "reason") != NULL, "reason is a string");
  cJSON_Delete(j);
  resp_free(&r);
  http(&gw, "GET", "/api/tools/list", (const char *[]){"Authorization: Bearer test-token", NULL},
       NULL, &r);
  is_int(r.status, 200, "GET /api/tools/list answers 200");
  j = json_of(&r);
  cJSON *t = cJSON_GetArrayItem(cJSON_GetObjectItem(j, "tools"), 0);
  is_str(json_str(t, "tool_id"), "demo.echo", "the bootstrap tool is listed");
  is_str(json_str(t, "version"), "1.0.0", "with its version");
  is_str(json_str(t, "display_name"), "Echo", "display_name");
  is_str(json_str(t, "description"), "Returns its input unchanged", "description");
  ok(cJSON_IsArray(cJSON_GetObjectItem(t, "tags")), "tags");
  cJSON_Delete(j);
  resp_free(&r);
}

static const tap_test tests[] = {
    TEST(contract_tools_execute_echo),
    TEST(contract_tools_preflight_and_list),
};

int main(void) {
  return tap_with_gateway(&gw, harness_soulgw_bin(), NULL, NULL, tests, TAP_COUNT(tests));
}
