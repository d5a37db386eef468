/*
 * budgets.c -- [tenants.NAME] budgets (SPEC-llm-routing 2) against the real binary: a tenant at
 * or over a cap is refused 429 BUDGET.EXCEEDED naming the cap, with Retry-After the seconds to
 * the next UTC midnight, on /api/llm, /v1/chat/completions (OpenAI's shape: type
 * rate_limit_error), /api/tools/execute and the legacy tools.execute; an idempotent replay is
 * served, not charged; the caps reset at the day boundary (the gateway's clock is moved with
 * SOULGW_TEST_CLOCK_FILE, a hook of the test build) and follow a reload.
 */
#include <cjson/cJSON.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"
#include "tap.h"

#define TOK_T "budget-tokens"   /* tenant-t: llm_tokens_per_day = 10 */
#define TOK_R "budget-requests" /* tenant-r: llm_requests_per_day = 1 */
#define TOK_X "budget-tools"    /* tenant-x: tool_calls_per_day = 2 */

static gwproc gw;
static char clock_file[256], manifests[256], toml[4096];
static long long offset; /* the gateway's clock, ahead of ours by this */

static void set_clock(long long off) {
  offset = off;
  FILE *f = fopen(clock_file, "w");
  if (f) {
    fprintf(f, "%lld\n", off);
    fclose(f);
  }
}

static void make_toml(int tool_cap) {
  snprintf(toml, sizeof toml,
           "[server]\naddress = \"127.0.0.1\"\nport = 0\n"
           "[tools]\nmanifests_file = \"%s\"\n"
           "[auth.tokens.t]\ntenant = \"tenant-t\"\ntoken = \"" TOK_T "\"\n"
           "scopes = [\"llm:invoke\", \"usage:read\"]\n"
           "[auth.tokens.r]\ntenant = \"tenant-r\"\ntoken = \"" TOK_R "\"\nscopes = [\"llm:invoke\"]\n"
           "[auth.tokens.x]\ntenant = \"tenant-x\"\ntoken = \"" TOK_X "\"\n"
           "scopes = [\"tools:execute\", \"usage:read\"]\n"
           "[tenants.tenant-t]\nllm_tokens_per_day = 10\n"
           "[tenants.tenant-r]\nllm_requests_per_day = 1\n"
           "[tenants.tenant-x]\ntool_calls_per_day = %d\n",
           manifests, tool_cap);
}

/* POST: status, the parsed answer (out), Retry-After (retry, -1 when absent). */
static long post(const char *tok, const char *path, const char *body, cJSON **out, long *retry) {
  http_resp r;
  http_post(&gw, path, tok, body, &r);
  long st = r.status;
  if (out) *out = json_of(&r);
  const char *ra = resp_header(&r, "Retry-After");
  if (retry) *retry = ra ? strtol(ra, NULL, 10) : -1;
  resp_free(&r);
  return st;
}

#define ECHO "{\"prompt\":\"one two three\",\"model\":\"local:echo\"}"

/* 7 tokens a call: the second crosses the cap of 10 (a call running finishes), the third is
 * refused on every model route, with the seconds to midnight. */
static void integration_budgets_llm_tokens(void) {
  cJSON *j = NULL;
  long retry;
  is_int(post(TOK_T, "/api/llm/complete", ECHO, NULL, NULL), 200, "7 tokens of 10");
  is_int(post(TOK_T, "/api/llm/complete", ECHO, NULL, NULL), 200, "14 of 10: let through");
  is_int(post(TOK_T, "/api/llm/complete", ECHO, &j, &retry), 429, "then refused: 429");
  is_str(json_str(j, "code"), "BUDGET.EXCEEDED", "BUDGET.EXCEEDED");
  has_str(json_str(j, "message"), "llm_tokens_per_day = 10", "naming the cap");
  has_str(json_str(j, "message"), "14 used", "and the use");
  ok(retry > 0 && retry <= 600, "Retry-After: the seconds to midnight UTC (%ld)", retry);
  cJSON_Delete(j);
  is_int(post(TOK_T, "/api/llm/stream", ECHO, &j, NULL), 429, "stream: 429 before it opens");
  is_str(json_str(j, "code"), "BUDGET.EXCEEDED", "BUDGET.EXCEEDED");
  cJSON_Delete(j);
  is_int(post(TOK_T, "/api/llm/embed", "{\"text\":\"a\",\"model\":\"local:emb\"}", &j, NULL), 429,
         "embed: 429");
  cJSON_Delete(j);
  is_int(post(TOK_T, "/v1/chat/completions",
              "{\"model\":\"local:echo\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}", &j,
              &retry),
         429, "/v1/chat/completions: 429");
  is_str(json_str(j, "error.type"), "rate_limit_error", "OpenAI's type rate_limit_error");
  is_str(json_str(j, "error.code"), "BUDGET.EXCEEDED", "code BUDGET.EXCEEDED");
  ok(retry > 0, "with Retry-After");
  cJSON_Delete(j);
  is_int(post(TOK_T, "/v1/embeddings", "{\"model\":\"local:emb\",\"input\":\"a\"}", NULL, NULL), 429,
         "/v1/embeddings: 429");
  /* the report says the same */
  char auth[64] = "Authorization: Bearer " TOK_T;
  const char *h[] = {auth, NULL};
  http_resp r;
  http(&gw, "GET", "/api/usage", h, NULL, &r);
  j = json_of(&r);
  is_int((long long)json_num(j, "budget.llm_tokens_per_day", -1), 10, "the report's cap");
  is_int((long long)json_num(j, "budget.used_today.llm_tokens", -1), 14, "and use");
  is_int((long long)json_num(j, "totals.requests", -1), 2, "refused calls are not counted");
  cJSON_Delete(j);
  resp_free(&r);
}

static void integration_budgets_llm_requests(void) {
  cJSON *j = NULL;
  is_int(post(TOK_R, "/api/llm/complete", ECHO, NULL, NULL), 200, "1 request of 1");
  is_int(post(TOK_R, "/api/llm/complete", ECHO, &j, NULL), 429, "the second: 429");
  has_str(json_str(j, "message"), "llm_requests_per_day = 1", "naming llm_requests_per_day");
  cJSON_Delete(j);
}

/* Two runs of 2, then 429 on both tool routes; a replay is served and not charged. */
static void integration_budgets_tool_calls(void) {
  cJSON *j = NULL;
  long retry;
  const char *keyed = "{\"tool_id\":\"demo.echo\",\"input\":{\"a\":1},\"idempotency_key\":\"b1\"}";
  is_int(post(TOK_X, "/api/tools/execute", keyed, NULL, NULL), 200, "a run with a key");
  is_int(post(TOK_X, "/api/tools/execute", "{\"tool_id\":\"demo.echo\",\"input\":{}}", NULL, NULL),
         200, "a second run");
  is_int(post(TOK_X, "/api/tools/execute", "{\"tool_id\":\"demo.echo\",\"input\":{}}", &j, &retry),
         429, "the third: 429");
  is_str(json_str(j, "code"), "BUDGET.EXCEEDED", "BUDGET.EXCEEDED");
  has_str(json_str(j, "message"), "tool_calls_per_day = 2", "naming tool_calls_per_day");
  ok(retry > 0 && retry <= 600, "Retry-After (%ld)", retry);
  cJSON_Delete(j);
  http_resp r;
  http_post(&gw, "/api/tools/execute", TOK_X, keyed, &r);
  is_int(r.status, 200, "the keyed run's replay is served at the cap");
  is_str(resp_header(&r, "Idempotent-Replayed"), "true", "as a replay");
  resp_free(&r);
  is_int(post(TOK_X, "/tenants/tenant-x/tools.execute",
              "{\"plan\":{\"nodes\":[{\"id\":\"n\",\"tool_id\":\"demo.echo\",\"input\":{}}]}}", &j,
              NULL),
         429, "the legacy route: 429");
  is_str(json_str(j, "error.code"), "BUDGET.EXCEEDED", "in the legacy envelope");
  cJSON_Delete(j);
}

/* A reload raises the tools cap: the next run goes through. */
static void integration_budgets_reload(void) {
  make_toml(3);
  gw_write_config(&gw, toml);
  int before = gw_log_count(&gw, "configuration reloaded");
  gw_signal(&gw, SIGHUP);
  ok(gw_wait_log(&gw, "configuration reloaded", before + 1, 10000), "SIGHUP reloads");
  is_int(post(TOK_X, "/api/tools/execute", "{\"tool_id\":\"demo.echo\",\"input\":{}}", NULL, NULL),
         200, "the raised cap lets one more run through");
  is_int(post(TOK_X, "/api/tools/execute", "{\"tool_id\":\"demo.echo\",\"input\":{}}", NULL, NULL),
         429, "and no more");
}

/* The gateway's clock crosses midnight UTC: every cap starts again. */
static void integration_budgets_reset_at_midnight(void) {
  set_clock(offset + 900);
  is_int(post(TOK_T, "/api/llm/complete", ECHO, NULL, NULL), 200, "tokens: a new day");
  is_int(post(TOK_R, "/api/llm/complete", ECHO, NULL, NULL), 200, "requests: a new day");
  is_int(post(TOK_X, "/api/tools/execute", "{\"tool_id\":\"demo.echo\",\"input\":{}}", NULL, NULL),
         200, "tools: a new day");
  is_int(post(TOK_R, "/api/llm/complete", ECHO, NULL, NULL), 429, "and counted against it");
}

static const tap_test tests[] = {
    TEST(integration_budgets_llm_tokens),     TEST(integration_budgets_llm_requests),
    TEST(integration_budgets_tool_calls),     TEST(integration_budgets_reload),
    TEST(integration_budgets_reset_at_midnight),
};

int main(void) {
  if (!tap_want(tests, TAP_COUNT(tests))) return tap_done();
  snprintf(clock_file, sizeof clock_file, "/tmp/soulgw-budgets-clock-%d", (int)getpid());
  snprintf(manifests, sizeof manifests, "/tmp/soulgw-budgets-manifests-%d.json", (int)getpid());
  FILE *f = fopen(manifests, "w");
  if (f) {
    fputs("[{\"tenant\":\"tenant-x\",\"id\":\"demo.echo\",\"version\":\"1\",\"handler\":\"builtin:echo\"}]",
          f);
    fclose(f);
  }
  /* ten minutes before midnight UTC, on the gateway's clock */
  long long now = (long long)time(NULL);
  set_clock((now / 86400 + 1) * 86400 - 600 - now);
  make_toml(2);
  char env_clock[300];
  snprintf(env_clock, sizeof env_clock, "SOULGW_TEST_CLOCK_FILE=%s", clock_file);
  const char *env[] = {env_clock, NULL};
  int rc = tap_with_gateway(&gw, harness_soulgw_bin(), toml, env, tests, TAP_COUNT(tests));
  unlink(clock_file);
  unlink(manifests);
  return rc;
}
