/*
 * llm.c -- contract tests of the model routes (SPEC 4.2 llm_complete, llm_stream, llm_embed)
 * against the real soulgw binary with its default configuration, as the runbook's inspection
 * checklist exercises them with curl: the built-in local provider answers without any upstream.
 */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "tap.h"

static gwproc gw;
#define TOKEN "test-token"

static void contract_llm_complete_echoes_prompt(void) {
  http_resp r;
  http_post(&gw, "/api/llm/complete", TOKEN, "{\"prompt\":\"hello contract\"}", &r);
  is_int(r.status, 200, "llm/complete answers 200");
  cJSON *j = json_of(&r);
  has_str(json_str(j, "response"), "hello contract", "the response contains the prompt");
  is_str(json_str(j, "prompt"), "hello contract", "prompt echoed");
  is_str(json_str(j, "tenant"), "tenant-demo", "tenant (the principal's)");
  is_str(json_str(j, "provider"), "local", "provider local");
  is_str(json_str(j, "finish"), "stop", "finish stop");
  ok(json_num(j, "usage.input_tokens", -1) >= 1 && json_num(j, "usage.output_tokens", -1) >= 1,
     "usage has input_tokens and output_tokens");
  cJSON_Delete(j);
  resp_free(&r);
}

static void contract_llm_complete_needs_scope(void) {
  http_resp r;
  http_post(&gw, "/api/llm/complete", NULL, "{\"prompt\":\"x\"}", &r);
  is_int(r.status, 401, "no credential: 401");
  resp_free(&r);
  http_post(&gw, "/api/llm/complete", TOKEN, "{\"prompt\":\"x\",\"model\":\"nope:x\"}", &r);
  is_int(r.status, 503, "unknown provider: 503");
  has_str(r.body, "PROVIDER.UNAVAILABLE", "code PROVIDER.UNAVAILABLE");
  resp_free(&r);
}

static void contract_llm_stream_events(void) {
  http_resp r;
  http_post(&gw, "/api/llm/stream", TOKEN, "{\"prompt\":\"a b c\"}", &r);
  is_int(r.status, 200, "llm/stream answers 200");
  has_str(resp_header(&r, "Content-Type"), "text/event-stream", "as server-sent events");
  has_str(r.body, "event: delta\ndata: {\"delta\":", "delta events");
  has_str(r.body, "event: done\ndata: {\"usage\":", "a done event with usage");
  resp_free(&r);
}

static void contract_llm_embed_vectors(void) {
  http_resp r;
  http_post(&gw, "/api/llm/embed", TOKEN, "{\"text\":[\"one\",\"two\"]}", &r);
  is_int(r.status, 200, "llm/embed answers 200");
  cJSON *j = json_of(&r);
  is_str(json_str(j, "model"), "local:emb", "default model local:emb");
  is_int(json_num(j, "dim", 0), 8, "dim 8");
  cJSON *v = cJSON_GetObjectItem(j, "vectors");
  ok(cJSON_GetArraySize(v) == 2 && cJSON_GetArraySize(cJSON_GetArrayItem(v, 0)) == 8,
     "two vectors of 8 numbers");
  cJSON_Delete(j);
  resp_free(&r);
}

static const tap_test tests[] = {
    TEST(contract_llm_complete_echoes_prompt),
    TEST(contract_llm_complete_needs_scope),
    TEST(contract_llm_stream_events),
    TEST(contract_llm_embed_vectors),
};

int main(void) {
  return tap_with_gateway(&gw, harness_soulgw_bin(), NULL, NULL, tests, TAP_COUNT(tests));
}
