/*
 * usage_ledger.c -- the usage ledger (SPEC-llm-routing 3) against the real binary: every model
 * call and tool run on every surface (/api/llm, /v1 relayed and local, streams included,
 * /api/tools/execute, the legacy tools.execute) is counted per tenant, UTC day, kind and name;
 * GET /api/usage shows them at once (before they are written) and keeps the tenant rules;
 * idempotent replays and unknown models count nothing; the totals survive a clean restart and
 * a SIGKILL once written (at most the last second is lost: the test waits until `soulgw usage`,
 * which reads the database, shows them); the metrics keep client-invented model names out of
 * their labels; an upstream 429 on the /v1 relay falls back to the next target.
 *
 * A mock OpenAI-compatible upstream on loopback answers every chat completion with usage
 * prompt_tokens 5 and completion_tokens 7 (streams too, in their last event), and 429 to the
 * model "e429".
 */
#include <arpa/inet.h>
#include <cjson/cJSON.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"
#include "mockup.h"
#include "tap.h"

#define TOK_A "usage-a-token"         /* tenant-a: llm, tools, usage:read */
#define TOK_B "usage-b-token"         /* tenant-b: llm, tools, usage:read */
#define TOK_ADMIN "usage-admin-token" /* tenant-a with tenant:* */
#define TOK_NOREAD "usage-noread"     /* tenant-a without usage:read */

static gwproc gw;
static int mock_port;
static char manifests[256];

/* ------------------------------------------------------------------------------------------ */
/* The mock upstream */

static const char *const sse_events[] = {
    "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hel\"}}]}\n\n",
    "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"lo\"},\"finish_reason\":\"stop\"}]}\n\n",
    "data: {\"choices\":[],\"usage\":{\"prompt_tokens\":5,\"completion_tokens\":7}}\n\n",
    "data: [DONE]\n\n", NULL};

static ssize_t sse_reader(void *cls, uint64_t pos, char *buf, size_t max) {
  int *next = cls;
  (void)pos;
  const char *p = sse_events[*next];
  if (!p) return MHD_CONTENT_READER_END_OF_STREAM;
  size_t n = strlen(p) < max ? strlen(p) : max;
  memcpy(buf, p, n);
  (*next)++;
  return (ssize_t)n;
}

static enum MHD_Result mock_handle(void *cls, struct MHD_Connection *c, const char *url,
                                   const char *method, const char *version, const char *data,
                                   size_t *size, void **state) {
  (void)cls, (void)method, (void)version, (void)url;
  mock_body *u = mock_collect(state, data, size);
  if (!u) return MHD_YES;
  cJSON *req = u->p ? cJSON_Parse(u->p) : NULL;
  const cJSON *m = cJSON_GetObjectItem(req, "model");
  int stream = cJSON_IsTrue(cJSON_GetObjectItem(req, "stream"));
  char model[32];
  snprintf(model, sizeof model, "%s", cJSON_IsString(m) ? m->valuestring : "");
  cJSON_Delete(req);
  if (!strcmp(model, "e429")) return mock_reply(c, 429, "{\"error\":{\"message\":\"slow down\"}}");
  if (stream) {
    int *next = calloc(1, sizeof *next);
    struct MHD_Response *r =
        MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 4096, sse_reader, next, free);
    MHD_add_response_header(r, "Content-Type", "text/event-stream");
    enum MHD_Result ret = MHD_queue_response(c, 200, r);
    MHD_destroy_response(r);
    return ret;
  }
  char body[512];
  snprintf(body, sizeof body,
           "{\"id\":\"x\",\"object\":\"chat.completion\",\"model\":\"%s\",\"choices\":[{\"index\":0,"
           "\"message\":{\"role\":\"assistant\",\"content\":\"from %s\"},\"finish_reason\":\"stop\"}],"
           "\"usage\":{\"prompt_tokens\":5,\"completion_tokens\":7,\"total_tokens\":12}}",
           model, model);
  return mock_reply(c, 200, body);
}

static struct MHD_Daemon *mock_start(void) { return mock_daemon(mock_handle, NULL, &mock_port); }

/* ------------------------------------------------------------------------------------------ */
/* Helpers */

static long post_tok(const char *tok, const char *path, const char *body, cJSON **out) {
  http_resp r;
  http_post(&gw, path, tok, body, &r);
  long st = r.status;
  if (out) *out = json_of(&r);
  resp_free(&r);
  return st;
}

/* GET path with a bearer token: the status and the answer. */
static long get_tok(const char *tok, const char *path, cJSON **out) {
  char auth[128];
  snprintf(auth, sizeof auth, "Authorization: Bearer %s", tok);
  const char *h[] = {auth, NULL};
  http_resp r;
  http(&gw, "GET", path, h, NULL, &r);
  long st = r.status;
  if (out) *out = json_of(&r);
  resp_free(&r);
  return st;
}

/* The row of name (kind) in a report, or NULL. */
static const cJSON *row_of(const cJSON *rep, const char *kind, const char *name) {
  const cJSON *x;
  cJSON_ArrayForEach(x, cJSON_GetObjectItem(rep, "rows")) {
    if (!strcmp(json_str(x, "kind") ? json_str(x, "kind") : "", kind) &&
        !strcmp(json_str(x, "name") ? json_str(x, "name") : "", name))
      return x;
  }
  return NULL;
}

/* A number in a text answer (an SSE body): the value after the first "key": at or after from. */
static long long num_after(const char *text, const char *from, const char *key) {
  const char *p = text ? strstr(text, from) : NULL;
  char k[64];
  snprintf(k, sizeof k, "\"%s\":", key);
  p = p ? strstr(p, k) : NULL;
  return p ? strtoll(p + strlen(k), NULL, 10) : -1;
}

/* What the test sent and was told: tokens and requests of each row. */
typedef struct expect {
  long long llm_requests, in, out, tool_requests;
} expect;
static expect sent;

/* ------------------------------------------------------------------------------------------ */

/* One call on every model surface and tool surface; the report shows each at once. */
static void integration_usage_ledger_every_surface(void) {
  cJSON *j = NULL;
  http_resp r;
  /* /api/llm/complete through an alias of local:echo */
  is_int(post_tok(TOK_A, "/api/llm/complete", "{\"prompt\":\"one two three\",\"model\":\"smart\"}", &j),
         200, "complete through the alias");
  long long in1 = (long long)json_num(j, "usage.input_tokens", -1);
  long long out1 = (long long)json_num(j, "usage.output_tokens", -1);
  cJSON_Delete(j);
  /* /api/llm/stream */
  http_post(&gw, "/api/llm/stream", TOK_A, "{\"prompt\":\"four five\",\"model\":\"local:echo\"}", &r);
  is_int(r.status, 200, "stream");
  long long in2 = num_after(r.body, "event: done", "input_tokens");
  long long out2 = num_after(r.body, "event: done", "output_tokens");
  resp_free(&r);
  /* /api/llm/embed */
  is_int(post_tok(TOK_A, "/api/llm/embed", "{\"text\":[\"a b\",\"c\"],\"model\":\"local:emb\"}", &j), 200,
         "embed");
  long long in3 = (long long)json_num(j, "usage.input_tokens", -1);
  cJSON_Delete(j);
  /* /v1/chat/completions relayed, whole and streamed, and local */
  is_int(post_tok(TOK_A, "/v1/chat/completions",
                  "{\"model\":\"m:a\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}", &j),
         200, "a relayed chat completion");
  is_int((long long)json_num(j, "usage.prompt_tokens", -1), 5, "the upstream's usage");
  cJSON_Delete(j);
  http_post(&gw, "/v1/chat/completions", TOK_A,
            "{\"model\":\"m:a\",\"stream\":true,\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}",
            &r);
  is_int(r.status, 200, "a relayed stream");
  has_str(r.body, "[DONE]", "that ends");
  resp_free(&r);
  is_int(post_tok(TOK_A, "/v1/chat/completions",
                  "{\"model\":\"local:echo\",\"messages\":[{\"role\":\"user\",\"content\":\"x y\"}]}",
                  &j),
         200, "a local chat completion");
  long long in4 = (long long)json_num(j, "usage.prompt_tokens", -1);
  long long out4 = (long long)json_num(j, "usage.completion_tokens", -1);
  cJSON_Delete(j);
  is_int(post_tok(TOK_A, "/v1/embeddings", "{\"model\":\"local:emb\",\"input\":\"p q r\"}", &j), 200,
         "/v1/embeddings");
  long long in5 = (long long)json_num(j, "usage.prompt_tokens", -1);
  cJSON_Delete(j);
  /* tools: twice on /api, once with a key and its replay, once on the legacy route */
  is_int(post_tok(TOK_A, "/api/tools/execute", "{\"tool_id\":\"demo.echo\",\"input\":{}}", NULL),
         200, "a tool run");
  is_int(post_tok(TOK_A, "/api/tools/execute",
                  "{\"tool_id\":\"demo.echo\",\"input\":{},\"idempotency_key\":\"k1\"}", NULL),
         200, "a tool run with a key");
  http_post(&gw, "/api/tools/execute", TOK_A,
            "{\"tool_id\":\"demo.echo\",\"input\":{},\"idempotency_key\":\"k1\"}", &r);
  is_str(resp_header(&r, "Idempotent-Replayed"), "true", "its replay");
  resp_free(&r);
  is_int(post_tok(TOK_A, "/tenants/tenant-a/tools.execute",
                  "{\"plan\":{\"nodes\":[{\"id\":\"n\",\"tool_id\":\"demo.echo\",\"input\":{}}]}}", NULL),
         200, "a legacy tool run");
  /* an unknown model: 404, nothing counted */
  is_int(post_tok(TOK_A, "/v1/chat/completions",
                  "{\"model\":\"invented-model\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}]}",
                  NULL),
         404, "an unknown model");

  ok(in1 > 0 && out1 > 0 && in2 > 0 && out2 > 0 && in3 > 0 && in4 > 0 && out4 > 0 && in5 > 0,
     "every answer reported its usage");
  sent = (expect){7, in1 + in2 + in3 + 5 + 5 + in4 + in5, out1 + out2 + 7 + 7 + out4, 3};

  cJSON *rep = NULL;
  is_int(get_tok(TOK_A, "/api/usage", &rep), 200, "GET /api/usage");
  is_str(json_str(rep, "tenant"), "tenant-a", "tenant");
  const cJSON *x = row_of(rep, "llm", "smart");
  is_int((long long)json_num(x, "requests", -1), 1, "the alias's row: 1 request");
  is_int((long long)json_num(x, "input_tokens", -1), in1, "its input tokens");
  is_int((long long)json_num(x, "output_tokens", -1), out1, "its output tokens");
  x = row_of(rep, "llm", "m:a");
  is_int((long long)json_num(x, "requests", -1), 2, "m:a: the relayed answer and stream");
  is_int((long long)json_num(x, "input_tokens", -1), 10, "m:a: 5 + 5 input tokens");
  is_int((long long)json_num(x, "output_tokens", -1), 14, "m:a: 7 + 7 output tokens (the stream's too)");
  x = row_of(rep, "llm", "local:echo");
  is_int((long long)json_num(x, "requests", -1), 2, "local:echo: the stream and the local chat");
  x = row_of(rep, "llm", "local:emb");
  is_int((long long)json_num(x, "requests", -1), 2, "local:emb: both embeddings");
  x = row_of(rep, "tool", "demo.echo");
  is_int((long long)json_num(x, "requests", -1), 3, "demo.echo: 3 runs, the replay not counted");
  ok(row_of(rep, "llm", "invented-model") == NULL, "no row for the unknown model");
  is_int((long long)json_num(rep, "totals.requests", -1), sent.llm_requests + sent.tool_requests,
         "totals: requests");
  is_int((long long)json_num(rep, "totals.input_tokens", -1), sent.in, "totals: input tokens");
  is_int((long long)json_num(rep, "totals.output_tokens", -1), sent.out, "totals: output tokens");
  is_int((long long)json_num(rep, "totals.errors", -1), 0, "totals: no errors");
  is_int((long long)json_num(rep, "budget.used_today.llm_requests", -1), sent.llm_requests,
         "budget.used_today.llm_requests");
  is_int((long long)json_num(rep, "budget.used_today.tool_calls", -1), 3,
         "budget.used_today.tool_calls");
  cJSON_Delete(rep);
  is_int(get_tok(TOK_A, "/api/usage?group_by=kind", &rep), 200, "group_by=kind");
  is_int(cJSON_GetArraySize(cJSON_GetObjectItem(rep, "rows")), 2, "two rows: llm and tool");
  x = cJSON_GetArrayItem(cJSON_GetObjectItem(rep, "rows"), 0);
  ok(cJSON_IsNull(cJSON_GetObjectItem(x, "name")) && cJSON_IsNull(cJSON_GetObjectItem(x, "day")),
     "kind rows carry no name and no day");
  is_str(json_str(x, "kind"), "llm", "llm first");
  cJSON_Delete(rep);
}

/* Metrics: an invented model is never a label value. */
static void integration_usage_ledger_metric_labels(void) {
  http_resp r;
  http_get(&gw, "/metrics", &r);
  ok(r.body && !strstr(r.body, "invented-model"), "the invented model is in no metric label");
  resp_free(&r);
}

/* Tenants and scopes, and the parameters' mistakes. */
static void integration_usage_ledger_tenants(void) {
  cJSON *j = NULL;
  is_int(post_tok(TOK_B, "/api/tools/execute", "{\"tool_id\":\"demo.echo\",\"input\":{}}", NULL), 200,
         "tenant-b runs a tool");
  is_int(get_tok(TOK_A, "/api/usage?tenant=tenant-b", &j), 403, "tenant-a cannot read tenant-b");
  is_str(json_str(j, "code"), "AUTH.FORBIDDEN", "AUTH.FORBIDDEN");
  cJSON_Delete(j);
  is_int(get_tok(TOK_A, "/api/usage?tenant=*", &j), 403, "nor every tenant");
  cJSON_Delete(j);
  is_int(get_tok(TOK_NOREAD, "/api/usage", &j), 403, "without usage:read: 403");
  has_str(json_str(j, "message"), "usage:read", "naming the scope");
  cJSON_Delete(j);
  is_int(get_tok(TOK_B, "/api/usage", &j), 200, "tenant-b reads its own");
  is_int((long long)json_num(j, "totals.requests", -1), 1, "tenant-b: its one run only");
  cJSON_Delete(j);
  is_int(get_tok(TOK_ADMIN, "/api/usage?tenant=tenant-b", &j), 200, "tenant:* reads tenant-b");
  cJSON_Delete(j);
  is_int(get_tok(TOK_ADMIN, "/api/usage?tenant=*", &j), 200, "tenant:* reads every tenant");
  int a = 0, b = 0;
  const cJSON *x;
  cJSON_ArrayForEach(x, cJSON_GetObjectItem(j, "rows")) {
    a += json_str(x, "tenant") && !strcmp(json_str(x, "tenant"), "tenant-a");
    b += json_str(x, "tenant") && !strcmp(json_str(x, "tenant"), "tenant-b");
  }
  ok(a > 0 && b > 0, "rows of both tenants, each naming its own");
  ok(cJSON_IsNull(cJSON_GetObjectItem(j, "budget")), "no budget for every tenant");
  cJSON_Delete(j);
  static const struct {
    const char *q, *fragment;
  } bad[] = {
      {"/api/usage?from=2026-02-30", "from must be a date YYYY-MM-DD"},
      {"/api/usage?to=yesterday", "to must be a date YYYY-MM-DD"},
      {"/api/usage?from=2026-03-02&to=2026-03-01", "is after to"},
      {"/api/usage?from=2024-01-01&to=2026-01-01", "at most 366"},
      {"/api/usage?group_by=tenant", "group_by must be"},
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    is_int(get_tok(TOK_A, bad[i].q, &j), 400, "%s: 400", bad[i].q);
    is_str(json_str(j, "code"), "REQUEST.BAD", "REQUEST.BAD");
    has_str(json_str(j, "message"), bad[i].fragment, "says %s", bad[i].fragment);
    cJSON_Delete(j);
  }
  is_int(get_tok(TOK_A, "/api/usage?from=2025-12-02&to=2026-12-01", &j), 200, "366 days: fine");
  cJSON_Delete(j);
}

/* An upstream 429 on the /v1 relay falls back to the next target (429 is in fallback_on). */
static void integration_usage_ledger_relay_429_falls_back(void) {
  http_resp r;
  http_post(&gw, "/v1/chat/completions", TOK_A,
            "{\"model\":\"busy\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}", &r);
  is_int(r.status, 200, "busy: 200 after the 429");
  is_str(resp_header(&r, "X-Soulgw-Model"), "m:b", "served by the next target");
  resp_free(&r);
  cJSON *j = NULL;
  get_tok(TOK_A, "/api/usage", &j);
  is_int((long long)json_num(row_of(j, "llm", "busy"), "requests", -1), 1,
         "the ledger counts the alias once");
  cJSON_Delete(j);
}

/* The totals of `soulgw usage` for tenant-a, once they show n requests: 1, or 0 on timeout. */
static int wait_durable(long long n) {
  char want[64];
  snprintf(want, sizeof want, "%lld", n);
  for (int i = 0; i < 100; i++) {
    const char *argv[] = {gw.bin, "usage", "--config", gw.config, "--tenant", "tenant-a", NULL};
    char db[400];
    snprintf(db, sizeof db, "GATEWAY__STORAGE__PATH=%s/test.db", gw.dir); /* the gateway's --db */
    const char *env[] = {db, NULL};
    char *out = NULL;
    int st = run_cmd(argv, env, &out);
    const char *t = out ? strstr(out, "\ntotal") : NULL;
    long long got = t ? strtoll(t + 6 + strspn(t + 6, " "), NULL, 10) : -1;
    if (st == 0 && got == n) {
      has_str(out, "day        kind name", "soulgw usage prints the table");
      has_str(out, "llm_tokens_per_day", "and the budget");
      free(out);
      return 1;
    }
    free(out);
    usleep(100 * 1000);
  }
  return 0;
}

/* A clean restart, then a SIGKILL once the rows are written: the totals stay. */
static void integration_usage_ledger_restart_and_sigkill(void) {
  long long n = sent.llm_requests + sent.tool_requests + 1; /* and busy's */
  cJSON *j = NULL;
  gw.keep_db = 1;
  is_int(gw_stop(&gw), 0, "a clean stop");
  if (!ok(gw_restart(&gw, NULL) == 0, "restarts")) return;
  get_tok(TOK_A, "/api/usage", &j);
  is_int((long long)json_num(j, "totals.requests", -1), n, "after a clean stop: every request");
  is_int((long long)json_num(j, "totals.input_tokens", -1), sent.in + 5,
         "and every input token");
  cJSON_Delete(j);
  /* more, written (the table shows them), then killed */
  is_int(post_tok(TOK_A, "/api/llm/complete", "{\"prompt\":\"six\",\"model\":\"local:echo\"}", NULL),
         200, "one more call");
  ok(wait_durable(n + 1), "soulgw usage shows it once written (within a second or so)");
  kill(gw.pid, SIGKILL);
  waitpid(gw.pid, NULL, 0);
  gw.pid = 0;
  if (!ok(gw_restart(&gw, NULL) == 0, "restarts after SIGKILL")) return;
  get_tok(TOK_A, "/api/usage", &j);
  is_int((long long)json_num(j, "totals.requests", -1), n + 1, "after SIGKILL: nothing written lost");
  cJSON_Delete(j);
  gw.keep_db = 0;
}

/* soulgw usage's mistakes: a bad date, a reversed range, a database that is not there. */
static void integration_usage_ledger_cli_errors(void) {
  char db[400];
  snprintf(db, sizeof db, "GATEWAY__STORAGE__PATH=%s/test.db", gw.dir);
  const char *env[] = {db, NULL};
  char *out = NULL;
  const char *bad_day[] = {gw.bin, "usage", "--config", gw.config, "--from", "2026-13-01", NULL};
  is_int(run_cmd(bad_day, env, &out), 64, "a bad date: exit 64");
  has_str(out, "--from must be a date YYYY-MM-DD", "naming the option");
  free(out);
  const char *reversed[] = {gw.bin, "usage", "--config", gw.config, "--from", "2026-02-02",
                            "--to", "2026-02-01", NULL};
  is_int(run_cmd(reversed, env, &out), 64, "from after to: exit 64");
  free(out);
  const char *missing[] = {gw.bin, "usage", "--config", gw.config, NULL};
  const char *nowhere[] = {"GATEWAY__STORAGE__PATH=/nonexistent/soulgw-usage.db", NULL};
  is_int(run_cmd(missing, nowhere, &out), 69, "no database there: exit 69, none made");
  has_str(out, "no database at /nonexistent/soulgw-usage.db", "saying so");
  free(out);
}

static const tap_test tests[] = {
    TEST(integration_usage_ledger_cli_errors),
    TEST(integration_usage_ledger_every_surface),
    TEST(integration_usage_ledger_metric_labels),
    TEST(integration_usage_ledger_tenants),
    TEST(integration_usage_ledger_relay_429_falls_back),
    TEST(integration_usage_ledger_restart_and_sigkill),
};

int main(void) {
  if (!tap_want(tests, TAP_COUNT(tests))) return tap_done();
  struct MHD_Daemon *d = mock_start();
  if (!d) {
    ok(0, "the mock upstream starts");
    return tap_done();
  }
  snprintf(manifests, sizeof manifests, "/tmp/soulgw-usage-manifests-%d.json", (int)getpid());
  FILE *f = fopen(manifests, "w");
  if (f) {
    fputs("[{\"tenant\":\"tenant-a\",\"id\":\"demo.echo\",\"version\":\"1\",\"handler\":\"builtin:echo\"},"
          "{\"tenant\":\"tenant-b\",\"id\":\"demo.echo\",\"version\":\"1\",\"handler\":\"builtin:echo\"}]",
          f);
    fclose(f);
  }
  static char toml[4096];
  snprintf(toml, sizeof toml,
           "[server]\naddress = \"127.0.0.1\"\nport = 0\ndrain_timeout_s = 5\n"
           "[tools]\nmanifests_file = \"%s\"\n"
           "[auth.tokens.a]\ntenant = \"tenant-a\"\ntoken = \"" TOK_A "\"\n"
           "scopes = [\"llm:invoke\", \"tools:execute\", \"usage:read\"]\n"
           "[auth.tokens.b]\ntenant = \"tenant-b\"\ntoken = \"" TOK_B "\"\n"
           "scopes = [\"llm:invoke\", \"tools:execute\", \"usage:read\"]\n"
           "[auth.tokens.admin]\ntenant = \"tenant-a\"\ntoken = \"" TOK_ADMIN "\"\n"
           "scopes = [\"usage:read\", \"tenant:*\"]\n"
           "[auth.tokens.noread]\ntenant = \"tenant-a\"\ntoken = \"" TOK_NOREAD "\"\n"
           "scopes = [\"llm:invoke\"]\n"
           "[llm.providers.m]\nbase_url = \"http://127.0.0.1:%d/v1\"\napi_key = \"k\"\nretries = 0\n"
           "[llm.models.smart]\ntargets = [\"local:echo\"]\n"
           "[llm.models.busy]\ntargets = [\"m:e429\", \"m:b\"]\n"
           "[tenants.tenant-a]\nllm_tokens_per_day = 1000000\n",
           manifests, mock_port);
  int rc = tap_with_gateway(&gw, harness_soulgw_bin(), toml, NULL, tests, TAP_COUNT(tests));
  unlink(manifests);
  MHD_stop_daemon(d);
  return rc;
}
