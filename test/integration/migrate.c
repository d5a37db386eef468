/*
 * migrate.c -- `soulgw migrate --from sqlite:PATH --to postgres` (docs/scaling.md) against the
 * real binary and a real PostgreSQL (pgserver.h): a SQLite database filled through the
 * gateway's routes (records with edges, registry versions with an older one active, an
 * idempotent tool call, collaborations, observe events) is copied, and a gateway started on
 * PostgreSQL answers every read exactly as the SQLite one did, replays the idempotent call,
 * keeps the active version, and numbers its next record and event after the copied ones.  A
 * second copy into the now non-empty database is refused and writes nothing; a source that is
 * missing or not a database is refused; the URI's password is never printed.
 */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "pgserver.h"
#include "tap.h"

#define TOKEN "test-token"

static gwproc lite, pg;
static char url[256], pg_toml[8192], pg_toml_path[320], sqlite_db[320];

/* The reads compared before and after: path, body, and the SQLite gateway's answer. */
static struct {
  const char *path, *body;
  char *before;
} reads[] = {
    {"/api/repo/list", "{\"repo\":\"notes\",\"limit\":100}", NULL},
    {"/api/repo/get", "{\"record_id\":\"n-1\"}", NULL},
    {"/api/graph/recall", "{\"node_id\":\"n-1\",\"depth\":3}", NULL},
    {"/api/graph/recall", "{\"node_id\":\"topic-a\",\"direction\":\"in\"}", NULL},
    {"/api/observe/query", "{\"topic\":\"mig.t\"}", NULL},
    {"/api/collab/timeline", "{\"collab_id\":\"c-open\"}", NULL},
    {"/api/collab/timeline", "{\"collab_id\":\"c-done\"}", NULL},
};
static char *versions_before, *idem_before, *last_event;

static const char *const *pg_env(void) {
  static char var[300];
  static const char *env[2];
  snprintf(var, sizeof var, "GATEWAY_PG_URL=%s", url);
  env[0] = var;
  env[1] = NULL;
  return env;
}

/* An authenticated request: its status, and its body (malloc'd) in *body when not NULL. */
static long call(gwproc *g, const char *method, const char *path, const char *json, char **body,
                 int *replayed) {
  http_resp r = {0};
  long st = -1;
  const char *h[] = {"Authorization: Bearer " TOKEN, "Content-Type: application/json", NULL};
  if (http(g, method, path, h, json, &r) == 0) st = r.status;
  if (replayed) {
    const char *v = resp_header(&r, "Idempotent-Replayed");
    *replayed = v && strcmp(v, "true") == 0;
  }
  if (body) *body = r.body ? strdup(r.body) : NULL;
  resp_free(&r);
  return st;
}

static long post(gwproc *g, const char *path, const char *json) {
  return call(g, "POST", path, json, NULL, NULL);
}

static int run_migrate(const char *from, char **out) {
  const char *argv[] = {harness_soulgw_bin(), "migrate", "--from", from, "--to", "postgres",
                        "--config", pg_toml_path, NULL};
  char var[300];
  snprintf(var, sizeof var, "GATEWAY_PG_URL=%s", url);
  return run_cmd(argv, (const char *[]){var, "GATEWAY_TOKEN_LOCAL=test-token",
                                        "GATEWAY_HMAC_LOCAL=test-hmac-secret-0123456789", NULL},
                 out);
}

static void integration_migrate_fill_sqlite(void) {
  int fails = 0;
  fails += post(&lite, "/api/repo/append",
                "{\"repo\":\"notes\",\"record_id\":\"n-1\",\"data\":{\"text\":\"héllo\"},"
                "\"edges\":[{\"to\":\"topic-a\",\"label\":\"about\",\"props\":{\"w\":1}},"
                "{\"to\":\"n-2\",\"label\":\"next\"}]}") != 200;
  fails += post(&lite, "/api/repo/append",
                "{\"repo\":\"notes\",\"record_id\":\"n-2\",\"data\":[1,2,3],"
                "\"edges\":[{\"to\":\"topic-b\",\"label\":\"about\"}]}") != 200;
  fails += post(&lite, "/api/repo/append", "{\"repo\":\"notes\",\"data\":{\"auto\":1}}") != 200;
  fails += post(&lite, "/api/repo/append", "{\"repo\":\"notes\",\"data\":{\"auto\":2}}") != 200;
  fails += post(&lite, "/api/config/tools",
                "{\"version\":\"mig-v1\",\"manifests\":[{\"tenant\":\"tenant-demo\","
                "\"id\":\"mig.echo\",\"version\":\"1\",\"handler\":\"builtin:echo\","
                "\"idempotency\":\"Keyed\"}]}") != 200;
  fails += post(&lite, "/api/config/tools",
                "{\"version\":\"mig-v2\",\"manifests\":[{\"tenant\":\"tenant-demo\","
                "\"id\":\"mig.later\",\"version\":\"1\",\"handler\":\"builtin:echo\"}]}") != 200;
  fails += post(&lite, "/api/config/tools/activate", "{\"version\":\"mig-v1\"}") != 200;
  fails += call(&lite, "POST", "/api/tools/execute",
                "{\"tool_id\":\"mig.echo\",\"idempotency_key\":\"k-1\",\"input\":{\"n\":1}}",
                &idem_before, NULL) != 200;
  fails += post(&lite, "/api/collab/execute",
                "{\"collab_id\":\"c-open\",\"participants\":[\"p1\"],\"context\":{\"k\":\"v\"}}") !=
           200;
  fails += post(&lite, "/api/collab/execute",
                "{\"collab_id\":\"c-open\",\"participants\":[\"p2\"]}") != 200;
  fails += post(&lite, "/api/collab/execute", "{\"collab_id\":\"c-done\"}") != 200;
  fails += post(&lite, "/api/collab/resolve", "{\"collab_id\":\"c-done\",\"outcome\":{\"ok\":1}}") !=
           200;
  fails += post(&lite, "/api/observe/emit", "{\"topic\":\"mig.t\",\"event\":{\"e\":1}}") != 200;
  fails += call(&lite, "POST", "/api/observe/emit",
                "{\"topic\":\"mig.t\",\"severity\":\"warn\",\"event\":2}", &last_event, NULL) != 200;
  is_int(fails, 0, "records, edges, registry versions, an idempotent call, collaborations and "
                   "events written on SQLite");
  for (size_t i = 0; i < sizeof reads / sizeof reads[0]; i++)
    fails += call(&lite, "POST", reads[i].path, reads[i].body, &reads[i].before, NULL) != 200;
  fails += call(&lite, "GET", "/api/config/tools", NULL, &versions_before, NULL) != 200;
  is_int(fails, 0, "and read back there");
  is_int(gw_stop(&lite), 0, "the SQLite gateway stops");
}

static void integration_migrate_copies(void) {
  char *out = NULL;
  char from[400];
  snprintf(from, sizeof from, "sqlite:%s", sqlite_db);
  is_int(run_migrate(from, &out), 0, "soulgw migrate: exit 0");
  has_str(out, "records              4", "reports 4 records");
  has_str(out, "edges                3", "3 edges");
  has_str(out, "registry versions    3", "3 registry versions (bootstrap, mig-v1, mig-v2)");
  has_str(out, "observe events       2", "2 events");
  has_str(out, "timeline entries", "and the timeline entries");
  ok(out && !strstr(out, PGSERVER_PASSWORD), "never the URI's password");
  free(out);
}

static void integration_migrate_reads_equal(void) {
  if (!ok(gw_start(&pg, harness_soulgw_bin(), pg_toml, pg_env(), NULL) == 0,
          "a gateway starts on the PostgreSQL copy"))
    return;
  for (size_t i = 0; i < sizeof reads / sizeof reads[0]; i++) {
    char *after = NULL;
    is_int(call(&pg, "POST", reads[i].path, reads[i].body, &after, NULL), 200, "%s %s: 200",
           reads[i].path, reads[i].body);
    is_str(after, reads[i].before, "  the same answer as on SQLite");
    free(after);
  }
  char *versions = NULL;
  call(&pg, "GET", "/api/config/tools", NULL, &versions, NULL);
  is_str(versions, versions_before, "the registry versions and the active one are the same");
  free(versions);
  is_int(post(&pg, "/api/tools/execute", "{\"tool_id\":\"mig.echo\",\"input\":{}}"), 200,
         "the active version's tool runs");
  is_int(post(&pg, "/api/tools/execute", "{\"tool_id\":\"mig.later\",\"input\":{}}"), 403,
         "the newer, inactive version's tool does not");
  char *replay = NULL;
  int replayed = 0;
  is_int(call(&pg, "POST", "/api/tools/execute",
              "{\"tool_id\":\"mig.echo\",\"idempotency_key\":\"k-1\",\"input\":{\"n\":1}}", &replay,
              &replayed),
         200, "the idempotent call again: 200");
  ok(replayed, "  Idempotent-Replayed: true");
  is_str(replay, idem_before, "  the stored answer, byte for byte");
  free(replay);
  is_int(post(&pg, "/api/collab/execute", "{\"collab_id\":\"c-done\"}"), 409,
         "the resolved collaboration stays resolved");
}

static void integration_migrate_sequences_go_on(void) {
  char *body = NULL;
  is_int(call(&pg, "POST", "/api/repo/append", "{\"repo\":\"notes\",\"data\":3}", &body, NULL), 200,
         "append on PostgreSQL");
  has_str(body, "\"record_id\":\"notes::3\"", "the generated id follows the copied ones");
  free(body);
  cJSON *before = cJSON_Parse(last_event ? last_event : "");
  const cJSON *id = cJSON_GetObjectItem(before, "event_id");
  long n = cJSON_IsString(id) ? strtol(id->valuestring + 4, NULL, 10) : -10;
  cJSON_Delete(before);
  call(&pg, "POST", "/api/observe/emit", "{\"topic\":\"mig.t\",\"event\":3}", &body, NULL);
  char want[64];
  snprintf(want, sizeof want, "\"event_id\":\"obs-%ld\"", n + 1);
  has_str(body, want, "the next event id follows the copied ones");
  free(body);
}

static void integration_migrate_refuses(void) {
  char *out = NULL, from[400];
  long long rows = pgserver_query_int(url, "SELECT count(*) FROM records");
  snprintf(from, sizeof from, "sqlite:%s", sqlite_db);
  is_int(run_migrate(from, &out), 73, "a second copy into the non-empty database: exit 73");
  has_str(out, "already holds", "  saying the target is not empty");
  free(out);
  is_int(pgserver_query_int(url, "SELECT count(*) FROM records"), rows, "  and writing nothing");
  out = NULL;
  snprintf(from, sizeof from, "sqlite:%s/none.db", lite.dir);
  is_int(run_migrate(from, &out), 65, "a missing source: exit 65");
  has_str(out, "no SQLite database at", "  saying so");
  free(out);
  out = NULL;
  is_int(run_migrate(pg_toml_path, &out), 64, "a source without sqlite: exit 64");
  free(out);
  out = NULL;
  snprintf(from, sizeof from, "sqlite:%s", pg_toml_path);
  is_int(run_migrate(from, &out), 65, "a source that is not a database: exit 65");
  has_str(out, "is not a SQLite database", "  saying so");
  free(out);
}

static const tap_test tests[] = {
    TEST(integration_migrate_fill_sqlite),
    TEST(integration_migrate_copies),
    TEST(integration_migrate_reads_equal),
    TEST(integration_migrate_sequences_go_on),
    TEST(integration_migrate_refuses),
};

int main(void) {
  if (!tap_want(tests, TAP_COUNT(tests))) return tap_done();
  int rc = pgserver_start();
  if (rc > 0) {
    ok(1, "migrate # SKIP the PostgreSQL server is not installed");
    return tap_done();
  }
  if (!ok(rc == 0, "PostgreSQL starts") || !ok(pgserver_createdb("gw_migrate") == 0, "a database"))
    return tap_done();
  pgserver_url(url, sizeof url, "gw_migrate");
  const char *d = HARNESS_DEFAULT_TOML, *s = strstr(d, "[storage]\n");
  snprintf(pg_toml, sizeof pg_toml,
           "%.*s[storage]\nbackend = \"postgres\"\nurl_env = \"GATEWAY_PG_URL\"\n%s", (int)(s - d),
           d, s + strlen("[storage]\n"));
  lite.keep_db = 1; /* the source stays for the copy */
  if (!ok(gw_start(&lite, harness_soulgw_bin(), NULL, NULL, NULL) == 0,
          "a gateway starts on SQLite"))
    return tap_done();
  snprintf(sqlite_db, sizeof sqlite_db, "%s/test.db", lite.dir);
  snprintf(pg_toml_path, sizeof pg_toml_path, "%s/pg.toml", lite.dir);
  FILE *f = fopen(pg_toml_path, "w");
  if (f) {
    fputs(pg_toml, f);
    fclose(f);
  }
  tap_run(tests, TAP_COUNT(tests));
  if (pg.pid) is_int(gw_stop(&pg), 0, "the PostgreSQL gateway stops: exit 0");
  if (lite.pid) gw_stop(&lite);
  char cmd[400];
  snprintf(cmd, sizeof cmd, "rm -rf %s", lite.dir);
  if (system(cmd) != 0) tap_diag("cannot remove %s", lite.dir);
  for (size_t i = 0; i < sizeof reads / sizeof reads[0]; i++) free(reads[i].before);
  free(versions_before);
  free(idem_before);
  free(last_event);
  return tap_done();
}
