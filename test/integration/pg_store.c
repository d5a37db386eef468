/*
 * pg_store.c -- the real soulgw binary on PostgreSQL (SPEC-cluster.md, [storage] backend =
 * "postgres") against a real server (pgserver.h): records appended and read back, a registry
 * version published, used and activated, everything still there after a restart, a second
 * gateway on the same database seeing the first one's writes, 503 STORAGE.UNAVAILABLE while
 * the server is down and service back without a restart when it returns, and a database that
 * cannot be reached at start making soulgw exit 69 without printing its connection URI.
 */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "harness.h"
#include "pgserver.h"
#include "tap.h"

#define TOKEN "test-token"

static gwproc gw;
static char url[256], toml[8192];

static void sleep_ms(int ms) {
  struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
  nanosleep(&ts, NULL);
}

/* HARNESS_DEFAULT_TOML with its [storage] on PostgreSQL, the URI from GATEWAY_PG_URL. */
static void make_toml(void) {
  const char *d = HARNESS_DEFAULT_TOML, *s = strstr(d, "[storage]\n");
  snprintf(toml, sizeof toml,
           "%.*s[storage]\nbackend = \"postgres\"\nurl_env = \"GATEWAY_PG_URL\"\npool = 3\n"
           "statement_timeout_ms = 4000\n%s",
           (int)(s - d), d, s + strlen("[storage]\n"));
}

static const char *const *env_with(const char *pg_url) {
  static char var[300];
  static const char *env[2];
  snprintf(var, sizeof var, "GATEWAY_PG_URL=%s", pg_url);
  env[0] = var;
  env[1] = NULL;
  return env;
}

static long get(gwproc *g, const char *path, cJSON **out) {
  http_resp r = {0};
  long st = -1;
  if (http(g, "GET", path, (const char *[]){"Authorization: Bearer " TOKEN, NULL}, NULL, &r) == 0)
    st = r.status;
  if (out) *out = json_of(&r);
  free(r.body);
  free(r.headers);
  return st;
}

static void integration_pg_append_then_read(void) {
  cJSON *j = NULL;
  is_int(post_json(&gw, TOKEN, "/api/repo/append",
                   "{\"repo\":\"notes\",\"record_id\":\"n-1\",\"data\":{\"text\":\"hello\"},"
                   "\"edges\":[{\"to\":\"topic-a\",\"label\":\"about\"}]}",
                   &j),
         200, "append with an edge");
  is_int((long long)json_num(j, "edges", -1), 1, "one edge stored");
  cJSON_Delete(j);
  is_int(post_json(&gw, TOKEN, "/api/repo/append", "{\"repo\":\"notes\",\"data\":{\"n\":2}}", &j),
         200, "append with a generated id");
  is_str(json_str(j, "record_id"), "notes::1", "numbered from the tenant's sequence");
  cJSON_Delete(j);
  is_int(post_json(&gw, TOKEN, "/api/repo/append",
                   "{\"repo\":\"notes\",\"record_id\":\"n-1\",\"data\":{}}", NULL),
         409, "the same id again conflicts");
  is_int(post_json(&gw, TOKEN, "/api/repo/get", "{\"record_id\":\"n-1\"}", &j), 200, "get");
  is_str(json_str(j, "data.text"), "hello", "its data");
  cJSON_Delete(j);
  is_int(post_json(&gw, TOKEN, "/api/repo/list", "{\"repo\":\"notes\",\"limit\":10}", &j), 200,
         "list");
  is_int(cJSON_GetArraySize(cJSON_GetObjectItem(j, "records")), 2, "both records, in order");
  cJSON_Delete(j);
  is_int(post_json(&gw, TOKEN, "/api/graph/recall", "{\"node_id\":\"topic-a\",\"direction\":\"in\"}",
                   &j),
         200, "recall inwards");
  const cJSON *e = cJSON_GetArrayItem(cJSON_GetObjectItem(j, "edges"), 0);
  is_str(json_str(e, "from"), "n-1", "the edge from n-1");
  cJSON_Delete(j);
}

static const char manifest[] =
    "{\"version\":\"pg-v1\",\"manifests\":[{\"tenant\":\"tenant-demo\",\"id\":\"pg.echo\","
    "\"version\":\"1\",\"handler\":\"builtin:echo\"}]}";

static void integration_pg_registry(void) {
  cJSON *j = NULL;
  is_int(post_json(&gw, TOKEN, "/api/config/tools", manifest, &j), 200, "publish pg-v1");
  cJSON_Delete(j);
  is_int(post_json(&gw, TOKEN, "/api/config/tools", manifest, NULL), 409,
         "publishing it again conflicts");
  is_int(post_json(&gw, TOKEN, "/api/tools/execute", "{\"tool_id\":\"pg.echo\",\"input\":{\"a\":1}}",
                   NULL),
         200, "its tool runs");
  is_int(post_json(&gw, TOKEN, "/api/config/tools/activate", "{\"version\":\"bootstrap\"}", NULL),
         200, "activate bootstrap");
  is_int(post_json(&gw, TOKEN, "/api/tools/execute", "{\"tool_id\":\"pg.echo\",\"input\":{}}",
                   NULL),
         403, "pg.echo is gone with it (refused as any unknown tool)");
  is_int(post_json(&gw, TOKEN, "/api/config/tools/activate", "{\"version\":\"pg-v1\"}", NULL), 200,
         "activate pg-v1 again");
  is_int(get(&gw, "/api/config/tools", &j), 200, "list the versions");
  is_int(cJSON_GetArraySize(cJSON_GetObjectItem(j, "versions")), 2, "bootstrap and pg-v1");
  cJSON_Delete(j);
}

static void integration_pg_restart_keeps_everything(void) {
  gw_stop(&gw);
  if (!ok(gw_restart(&gw, env_with(url)) == 0, "the gateway starts again")) return;
  cJSON *j = NULL;
  is_int(post_json(&gw, TOKEN, "/api/repo/get", "{\"record_id\":\"n-1\"}", &j), 200,
         "the record is still there");
  cJSON_Delete(j);
  is_int(post_json(&gw, TOKEN, "/api/tools/execute", "{\"tool_id\":\"pg.echo\",\"input\":{}}",
                   NULL),
         200, "pg-v1 is still the active registry");
  is_int(post_json(&gw, TOKEN, "/api/repo/append", "{\"repo\":\"notes\",\"data\":{}}", &j), 200,
         "append after the restart");
  is_str(json_str(j, "record_id"), "notes::2", "the sequence goes on");
  cJSON_Delete(j);
  ok(!gw_log_has(&gw, PGSERVER_PASSWORD), "the log never shows the URI's password");
}

static void integration_pg_two_gateways(void) {
  gwproc other = {0};
  if (!ok(gw_start(&other, harness_soulgw_bin(), toml, env_with(url), NULL) == 0,
          "a second gateway on the same database starts")) return;
  cJSON *j = NULL;
  is_int(post_json(&other, TOKEN, "/api/repo/get", "{\"record_id\":\"n-1\"}", &j), 200,
         "it reads the first one's record");
  cJSON_Delete(j);
  is_int(post_json(&other, TOKEN, "/api/repo/append", "{\"repo\":\"notes\",\"data\":{}}", &j),
         200, "it appends");
  is_str(json_str(j, "record_id"), "notes::3", "numbered after the first one's");
  cJSON_Delete(j);
  is_int(post_json(&gw, TOKEN, "/api/repo/get", "{\"record_id\":\"notes::3\"}", NULL), 200,
         "and the first one reads it");
  is_int(gw_stop(&other), 0, "the second gateway stops cleanly");
}

static void integration_pg_outage(void) {
  if (!ok(pgserver_pause() == 0, "PostgreSQL stops")) return;
  cJSON *j = NULL;
  long st = post_json(&gw, TOKEN, "/api/repo/append", "{\"repo\":\"notes\",\"data\":{}}", &j);
  is_int(st, 503, "an append while it is down is 503");
  is_str(json_str(j, "code"), "STORAGE.UNAVAILABLE", "STORAGE.UNAVAILABLE");
  char *text = cJSON_PrintUnformatted(j);
  ok(text && !strstr(text, PGSERVER_PASSWORD) && !strstr(text, "postgresql://"),
     "and no secret in the answer");
  free(text);
  cJSON_Delete(j);
  is_int(post_json(&gw, TOKEN, "/api/repo/get", "{\"record_id\":\"n-1\"}", NULL), 503,
         "a read is 503 too");
  if (!ok(pgserver_resume() == 0, "PostgreSQL starts again")) return;
  st = 0;
  for (int i = 0; i < 120 && st != 200; i++) { /* reconnection backs off up to 5 s */
    st = post_json(&gw, TOKEN, "/api/repo/append", "{\"repo\":\"notes\",\"data\":{}}", NULL);
    if (st != 200) sleep_ms(250);
  }
  is_int(st, 200, "appends resume without a restart");
  st = 0;
  for (int i = 0; i < 120 && st != 200; i++) {
    st = post_json(&gw, TOKEN, "/api/repo/get", "{\"record_id\":\"n-1\"}", NULL);
    if (st != 200) sleep_ms(250);
  }
  is_int(st, 200, "reads resume, and the data acknowledged before is there");
  ok(!gw_log_has(&gw, PGSERVER_PASSWORD), "the log never shows the URI's password");
}

/* Runs soulgw with the PostgreSQL configuration and pg_url: its status and output. */
static int run_soulgw(const char *pg_url, const char *arg, char **out) {
  char path[300];
  snprintf(path, sizeof path, "%s/pg-check.toml", gw.dir);
  FILE *f = fopen(path, "w");
  if (f) {
    fputs(toml, f);
    fclose(f);
  }
  const char *argv[] = {harness_soulgw_bin(), "--config", path, arg, NULL};
  char var[300];
  snprintf(var, sizeof var, "GATEWAY_PG_URL=%s", pg_url);
  return run_cmd(argv, (const char *[]){var, "GATEWAY_TOKEN_LOCAL=test-token",
                                        "GATEWAY_HMAC_LOCAL=test-hmac-secret-0123456789", NULL},
                 out);
}

static void integration_pg_unreachable_exits_69(void) {
  char bad[256], *out = NULL;
  snprintf(bad, sizeof bad, "postgresql://soulgw:%s@127.0.0.1:1/none", PGSERVER_PASSWORD);
  is_int(run_soulgw(bad, "--port=0", &out), 69, "no server at the URI: exit 69");
  has_str(out, "cannot connect to PostgreSQL", "with the reason");
  ok(out && !strstr(out, PGSERVER_PASSWORD) && !strstr(out, "postgresql://"),
     "and neither the URI nor its password");
  free(out);
  out = NULL;
  snprintf(bad, sizeof bad, "postgresql://soulgw:wrong-Secret-123@127.0.0.1:%d/gw_pg",
           pgserver_port());
  is_int(run_soulgw(bad, "--port=0", &out), 69, "a wrong password: exit 69");
  has_str(out, "password authentication failed", "with the server's reason");
  ok(out && !strstr(out, "wrong-Secret-123"), "and not the password");
  free(out);
  out = NULL;
  is_int(run_soulgw(url, "--check", &out), 0, "--check with the right URI");
  has_str(out, "storage:  postgres (url from environment GATEWAY_PG_URL, pool 3",
          "names where the URI comes from");
  ok(out && !strstr(out, PGSERVER_PASSWORD), "never the URI");
  free(out);
}

static const tap_test tests[] = {
    TEST(integration_pg_append_then_read),
    TEST(integration_pg_registry),
    TEST(integration_pg_restart_keeps_everything),
    TEST(integration_pg_two_gateways),
    TEST(integration_pg_unreachable_exits_69),
    TEST(integration_pg_outage),
};

int main(void) {
  if (!tap_want(tests, TAP_COUNT(tests))) return tap_done();
  int rc = pgserver_start();
  if (rc > 0) {
    ok(1, "postgres # SKIP its server is not installed");
    return tap_done();
  }
  if (!ok(rc == 0, "PostgreSQL starts") || !ok(pgserver_createdb("gw_pg") == 0, "a database"))
    return tap_done();
  pgserver_url(url, sizeof url, "gw_pg");
  make_toml();
  gw.keep_db = 1; /* restarts reuse the directory */
  if (!ok(gw_start(&gw, harness_soulgw_bin(), toml, env_with(url), NULL) == 0,
          "the gateway starts on PostgreSQL"))
    return tap_done();
  tap_run(tests, TAP_COUNT(tests));
  gw.keep_db = 0;
  is_int(gw_stop(&gw), 0, "SIGTERM: exit status 0");
  return tap_done();
}
