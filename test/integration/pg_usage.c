/*
 * pg_usage.c -- the usage ledger and budgets on PostgreSQL (SPEC-llm-routing 3, SPEC-cluster):
 * two instances on one database add up (each answers the sum, once the other has written);
 * a budget counts what the other instance spent; an instance SIGKILLed after its counts were
 * written loses none of them; and `soulgw migrate` copies a SQLite ledger into PostgreSQL.
 * Every wait polls for the behaviour with a generous bound.  Skipped when the PostgreSQL
 * binaries are not installed.
 */
#include <cjson/cJSON.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"
#include "pgserver.h"
#include "tap.h"

#define TOKEN "pg-usage-token" /* tenant-demo */
#define TOKEN_C "pg-usage-c"   /* tenant-c: llm_requests_per_day = 3 */

static gwproc ga, gb;
static char url[256], toml[4096], manifests[256];

static void sleep_ms(int ms) {
  struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
  nanosleep(&ts, NULL);
}

static void make_toml(int postgres) {
  snprintf(toml, sizeof toml,
           "[server]\naddress = \"127.0.0.1\"\nport = 0\n%s"
           "[tools]\nmanifests_file = \"%s\"\n"
           "[auth.tokens.local]\ntenant = \"tenant-demo\"\ntoken = \"" TOKEN "\"\n"
           "scopes = [\"llm:invoke\", \"tools:execute\", \"usage:read\"]\n"
           "[auth.tokens.c]\ntenant = \"tenant-c\"\ntoken = \"" TOKEN_C "\"\n"
           "scopes = [\"llm:invoke\", \"usage:read\"]\n"
           "[tenants.tenant-c]\nllm_requests_per_day = 3\n",
           postgres ? "[storage]\nbackend = \"postgres\"\nurl_env = \"GATEWAY_PG_URL\"\npool = 3\n"
                    : "",
           manifests);
}

static const char *const *env(void) {
  static char var[300];
  static const char *e[2];
  snprintf(var, sizeof var, "GATEWAY_PG_URL=%s", url);
  e[0] = var;
  return e;
}

static long post(gwproc *g, const char *tok, const char *path, const char *body) {
  http_resp r;
  http_post(g, path, tok, body, &r);
  long st = r.status;
  resp_free(&r);
  return st;
}

/* A number of g's GET /api/usage answer (key a path as json_num takes), or -1. */
static long long usage_num(gwproc *g, const char *tok, const char *key) {
  char auth[96];
  snprintf(auth, sizeof auth, "Authorization: Bearer %s", tok);
  http_resp r;
  http(g, "GET", "/api/usage", (const char *[]){auth, NULL}, NULL, &r);
  cJSON *j = r.status == 200 ? json_of(&r) : NULL;
  long long v = (long long)json_num(j, key, -1);
  cJSON_Delete(j);
  resp_free(&r);
  return v;
}

/* Polls until g's answer for key is want (up to 15 s): 1, or 0. */
static int wait_usage(gwproc *g, const char *tok, const char *key, long long want) {
  for (int i = 0; i < 150; i++) {
    if (usage_num(g, tok, key) == want) return 1;
    sleep_ms(100);
  }
  tap_diag("%s: %lld, want %lld", key, usage_num(g, tok, key), want);
  return 0;
}

#define ECHO "{\"prompt\":\"one two three\",\"model\":\"local:echo\"}"
#define TOOL "{\"tool_id\":\"demo.echo\",\"input\":{}}"

/* Calls on both instances: each answers the sum once the other has written. */
static void integration_pg_usage_instances_add_up(void) {
  int fails = 0;
  for (int i = 0; i < 3; i++) fails += post(&ga, TOKEN, "/api/llm/complete", ECHO) != 200;
  for (int i = 0; i < 2; i++) fails += post(&gb, TOKEN, "/api/llm/complete", ECHO) != 200;
  fails += post(&ga, TOKEN, "/api/tools/execute", TOOL) != 200;
  fails += post(&gb, TOKEN, "/api/tools/execute", TOOL) != 200;
  is_int(fails, 0, "5 model calls and 2 tool runs over two instances");
  ok(wait_usage(&ga, TOKEN, "totals.requests", 7), "A answers the sum, 7 requests");
  ok(wait_usage(&gb, TOKEN, "totals.requests", 7), "B too");
  is_int(usage_num(&ga, TOKEN, "totals.input_tokens"), 15, "input tokens: 5 x 3");
  is_int(pgserver_query_int(url, "SELECT sum(requests) FROM usage_ledger WHERE tenant = 'tenant-demo'"),
         7, "the table holds one set of rows, added to by both");
  is_int(pgserver_query_int(url, "SELECT count(*) FROM usage_ledger WHERE tenant = 'tenant-demo'"),
         2, "two rows: local:echo and demo.echo");
}

/* A cap of 3 requests: 2 on A, then B knows them. */
static void integration_pg_usage_budget_across_instances(void) {
  is_int(post(&ga, TOKEN_C, "/api/llm/complete", ECHO), 200, "A: 1 of 3");
  is_int(post(&ga, TOKEN_C, "/api/llm/complete", ECHO), 200, "A: 2 of 3");
  ok(wait_usage(&gb, TOKEN_C, "budget.used_today.llm_requests", 2), "B sees A's 2 requests");
  is_int(post(&gb, TOKEN_C, "/api/llm/complete", ECHO), 200, "B: 3 of 3");
  ok(wait_usage(&ga, TOKEN_C, "budget.used_today.llm_requests", 3), "A sees B's request");
  is_int(post(&ga, TOKEN_C, "/api/llm/complete", ECHO), 429, "A refuses the fourth");
  is_int(post(&gb, TOKEN_C, "/api/llm/complete", ECHO), 429, "B too");
}

/* A SIGKILLed once its counts are written: B still answers them. */
static void integration_pg_usage_sigkill(void) {
  long long before = usage_num(&gb, TOKEN, "totals.requests");
  is_int(post(&ga, TOKEN, "/api/llm/complete", ECHO), 200, "one more call on A");
  ok(wait_usage(&gb, TOKEN, "totals.requests", before + 1), "written: B sees it");
  kill(ga.pid, SIGKILL);
  waitpid(ga.pid, NULL, 0);
  ga.pid = 0;
  is_int(usage_num(&gb, TOKEN, "totals.requests"), before + 1, "after A's SIGKILL: kept");
}

/* A SQLite gateway's ledger, migrated. */
static void integration_pg_usage_migrate(void) {
  gwproc lite;
  make_toml(0);
  lite.keep_db = 1;
  if (!ok(gw_start(&lite, harness_soulgw_bin(), toml, NULL, NULL) == 0, "a SQLite gateway")) return;
  is_int(post(&lite, TOKEN, "/api/llm/complete", ECHO), 200, "a call on SQLite");
  is_int(post(&lite, TOKEN, "/api/tools/execute", TOOL), 200, "a tool run on SQLite");
  is_int(gw_stop(&lite), 0, "it stops (and writes its counts)");
  if (!ok(pgserver_createdb("gw_usage_mig") == 0, "an empty database")) return;
  char murl[256], var[300], from[400], cfg[300];
  pgserver_url(murl, sizeof murl, "gw_usage_mig");
  snprintf(var, sizeof var, "GATEWAY_PG_URL=%s", murl);
  snprintf(from, sizeof from, "sqlite:%s/test.db", lite.dir);
  snprintf(cfg, sizeof cfg, "%s/pg.toml", lite.dir);
  make_toml(1);
  FILE *f = fopen(cfg, "w");
  if (f) {
    fputs(toml, f);
    fclose(f);
  }
  const char *argv[] = {harness_soulgw_bin(), "migrate", "--from", from, "--to", "postgres",
                        "--config", cfg, NULL};
  char *out = NULL;
  is_int(run_cmd(argv, (const char *[]){var, NULL}, &out), 0, "soulgw migrate: exit 0");
  has_str(out, "usage ledger rows    2", "copies the 2 ledger rows");
  free(out);
  is_int(pgserver_query_int(murl, "SELECT sum(requests) FROM usage_ledger"), 2, "both in PostgreSQL");
  const char *uargv[] = {harness_soulgw_bin(), "usage", "--config", cfg, "--tenant", "tenant-demo",
                         NULL};
  is_int(run_cmd(uargv, (const char *[]){var, NULL}, &out), 0, "soulgw usage on PostgreSQL");
  has_str(out, "local:echo", "shows the model row");
  has_str(out, "demo.echo", "and the tool row");
  free(out);
  char rm[400];
  snprintf(rm, sizeof rm, "rm -rf '%s'", lite.dir);
  if (system(rm) != 0) tap_diag("cannot remove %s", lite.dir);
}

static const tap_test tests[] = {
    TEST(integration_pg_usage_instances_add_up),
    TEST(integration_pg_usage_budget_across_instances),
    TEST(integration_pg_usage_sigkill),
    TEST(integration_pg_usage_migrate),
};

int main(void) {
  if (!tap_want(tests, TAP_COUNT(tests))) return tap_done();
  int rc = pgserver_start();
  if (rc > 0) {
    ok(1, "postgres # SKIP its server is not installed");
    return tap_done();
  }
  if (!ok(rc == 0, "PostgreSQL starts") || !ok(pgserver_createdb("gw_usage") == 0, "a database"))
    return tap_done();
  pgserver_url(url, sizeof url, "gw_usage");
  snprintf(manifests, sizeof manifests, "/tmp/soulgw-pg-usage-manifests-%d.json", (int)getpid());
  FILE *f = fopen(manifests, "w");
  if (f) {
    fputs("[{\"tenant\":\"tenant-demo\",\"id\":\"demo.echo\",\"version\":\"1\",\"handler\":\"builtin:echo\"}]",
          f);
    fclose(f);
  }
  make_toml(1);
  if (!ok(gw_start(&ga, harness_soulgw_bin(), toml, env(), NULL) == 0, "instance A starts") ||
      !ok(gw_start(&gb, harness_soulgw_bin(), toml, env(), NULL) == 0, "instance B starts"))
    return tap_done();
  tap_run(tests, TAP_COUNT(tests));
  if (ga.pid > 0) is_int(gw_stop(&ga), 0, "A: SIGTERM, exit status 0");
  is_int(gw_stop(&gb), 0, "B: SIGTERM, exit status 0");
  unlink(manifests);
  return tap_done();
}
