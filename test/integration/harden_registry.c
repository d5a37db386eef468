/*
 * harden_registry.c -- what one tenant's registry can do to the gateway and to other tenants,
 * against the real binary (issue 7, findings 2, 18 and 17):
 *
 *   - a publish whose merge with the active registry is over the 1000-tool limit is refused
 *     (422, nothing committed), and the gateway still starts afterwards;
 *   - an old version that cannot be built is not activated (422);
 *   - an invalid active registry found at start (crafted in the database with the sqlite3
 *     shell) is logged, counted and replaced in memory by the tenant's last good version, while
 *     the other tenants are served as before;
 *   - unknown JSON-Schema keywords (typos such as "requird") are refused at publish and in the
 *     bootstrap manifests file, while stored versions that carry one still load;
 *   - /metrics shows no tool id, observe topic or model name unless the operator opts in.
 */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "tap.h"

#define TOKEN "test-token"
#define OTHER "other-token-0123456789"

static const char *const TOML =
    "[server]\n"
    "address = \"127.0.0.1\"\n"
    "port = 0\n"
    "max_body_bytes = 1048576\n"
    "connection_timeout_s = 10\n"
    "drain_timeout_s = 5\n"
    "\n"
    "[storage]\n"
    "synchronous = \"normal\"\n"
    "\n"
    "[log]\n"
    "level = \"info\"\n"
    "\n"
    "[auth.tokens.local]\n"
    "tenant = \"tenant-demo\"\n"
    "token_env = \"GATEWAY_TOKEN_LOCAL\"\n"
    "scopes = [\"tools:execute\", \"config:manage\", \"observe:emit\", \"llm:invoke\"]\n"
    "\n"
    "[auth.tokens.other]\n"
    "tenant = \"tenant-other\"\n"
    "token_env = \"OTHER_TOKEN\"\n"
    "scopes = [\"tools:execute\", \"config:manage\"]\n"
    "\n"
    "[tools]\n"
    "manifests_file = \"conf/manifests.json\"\n";

static const char *const ENV[] = {"OTHER_TOKEN=" OTHER, NULL};

/* ------------------------------------------------------------------------------------------ */
/* Helpers */

static int start(gwproc *g, const char *toml) {
  memset(g, 0, sizeof *g);
  return gw_start(g, harness_soulgw_bin(), toml, ENV, NULL);
}

/* Stops g keeping its directory, for a restart on the same database. */
static int stop_keep(gwproc *g) {
  g->keep_db = 1;
  return gw_stop(g);
}

/* Stops g for good (its directory is removed). */
static int stop_drop(gwproc *g) {
  g->keep_db = 0;
  return gw_stop(g);
}

/* Publishes {"version": version, "manifests": manifests}; the status, and the message of an
 * error in msg. */
static long publish(gwproc *g, const char *token, const char *version, const char *manifests,
                    char *msg, size_t msglen) {
  size_t n = strlen(manifests) + strlen(version) + 64;
  char *body = malloc(n);
  snprintf(body, n, "{\"version\":\"%s\",\"manifests\":%s}", version, manifests);
  cJSON *j = NULL;
  long st = post_json(g, token, "/api/config/tools", body, &j);
  if (msg) snprintf(msg, msglen, "%s", json_str(j, "message") ? json_str(j, "message") : "");
  if (st != 200 && st != 422 && msg) tap_diag("publish %s: %ld %s", version, st, msg);
  cJSON_Delete(j);
  free(body);
  return st;
}

/* An array of n echo manifests of tenant with ids PREFIX.0 .. PREFIX.n-1 (to free). */
static char *many(const char *tenant, const char *prefix, int n) {
  size_t cap = (size_t)n * 160 + 16, len = 0;
  char *s = malloc(cap);
  len += (size_t)snprintf(s + len, cap - len, "[");
  for (int i = 0; i < n; i++)
    len += (size_t)snprintf(s + len, cap - len,
                            "%s{\"tenant\":\"%s\",\"id\":\"%s.%d\",\"version\":\"1\","
                            "\"handler\":\"builtin:echo\"}",
                            i ? "," : "", tenant, prefix, i);
  snprintf(s + len, cap - len, "]");
  return s;
}

static long execute(gwproc *g, const char *token, const char *tool_id) {
  char body[256];
  snprintf(body, sizeof body, "{\"tool_id\":\"%s\",\"input\":{\"n\":1}}", tool_id);
  return post_json(g, token, "/api/tools/execute", body, NULL);
}

/* GET /api/config/tools as token, parsed. */
static cJSON *versions(gwproc *g, const char *token) {
  char auth[128];
  snprintf(auth, sizeof auth, "Authorization: Bearer %s", token);
  http_resp r;
  http(g, "GET", "/api/config/tools", (const char *[]){auth, NULL}, NULL, &r);
  cJSON *j = json_of(&r);
  resp_free(&r);
  return j;
}

/* The name of the active version in a GET /api/config/tools answer, and how many there are. */
static const char *active_version(const cJSON *j, int *count) {
  const cJSON *list = cJSON_GetObjectItem(j, "versions");
  const char *active = NULL;
  *count = cJSON_GetArraySize(list);
  const cJSON *v;
  cJSON_ArrayForEach(v, list) {
    if (cJSON_IsTrue(cJSON_GetObjectItem(v, "active")))
      active = cJSON_GetStringValue(cJSON_GetObjectItem(v, "version"));
  }
  return active;
}

static char *metrics_text(gwproc *g) {
  http_resp r;
  http_get(g, "/metrics", &r);
  char *body = r.body;
  r.body = NULL;
  resp_free(&r);
  return body;
}

/* The value of a metric line that starts with series (name and labels), or -1. */
static double metric(gwproc *g, const char *series) {
  char *m = metrics_text(g);
  double v = -1;
  char want[256];
  snprintf(want, sizeof want, "\n%s ", series);
  const char *p = m ? strstr(m, want) : NULL;
  if (p) v = atof(p + strlen(want));
  free(m);
  return v;
}

/* Runs SQL on the gateway's database with the sqlite3 shell (the gateway stopped). */
static int sql(gwproc *g, const char *statements) {
  char db[400];
  snprintf(db, sizeof db, "%s/test.db", g->dir);
  const char *argv[] = {"sqlite3", db, statements, NULL};
  char *out = NULL;
  int rc = run_cmd(argv, NULL, &out);
  if (rc != 0) tap_diag("sqlite3: %s", out ? out : "");
  free(out);
  return rc;
}

static int have_sqlite3_shell(void) {
  const char *argv[] = {"sqlite3", "-version", NULL};
  if (run_cmd(argv, NULL, NULL) == 0) return 1;
  ok(0, "the sqlite3 shell is installed (apt-get install sqlite3; make deps does)");
  return 0;
}

/* Stores a version of tenant holding manifests (JSON text without single quotes) as the newest
 * one, and makes it active when active is set. */
static int craft_version(gwproc *g, const char *tenant, const char *version,
                         const char *manifests, int active) {
  size_t n = strlen(manifests) + 1024;
  char *s = malloc(n);
  snprintf(s, n,
           "INSERT INTO registry_versions(tenant, version, seq, manifests, created_at_ms)"
           " SELECT '%s', '%s', coalesce(max(seq), 0) + 1, '%s', 1 FROM registry_versions"
           " WHERE tenant = '%s';%s%s%s%s%s",
           tenant, version, manifests, tenant,
           active ? " UPDATE registry_active SET version = '" : "", active ? version : "",
           active ? "' WHERE tenant = '" : "", active ? tenant : "", active ? "';" : "");
  int rc = sql(g, s);
  free(s);
  return rc;
}

/* ------------------------------------------------------------------------------------------ */
/* Finding 2: a publish (or an activation) can no longer make the gateway unable to start */

static void security_registry_merge_over_limit_refused(void) {
  gwproc g;
  if (!ok(start(&g, TOML) == 0, "the gateway starts")) return;
  char msg[512];
  char *a = many("tenant-demo", "a", 600), *b = many("tenant-demo", "b", 600);
  is_int(publish(&g, TOKEN, "v-a", a, msg, sizeof msg), 200,
         "600 manifests on top of the bootstrap's one: 601 tools, published");
  is_int(publish(&g, OTHER, "o-1", "[{\"tenant\":\"tenant-other\",\"id\":\"o.tool\","
                 "\"version\":\"1\",\"handler\":\"builtin:echo\"}]", msg, sizeof msg),
         200, "another tenant publishes a tool");
  is_int(publish(&g, TOKEN, "v-b", b, msg, sizeof msg), 422,
         "600 more would merge into 1201 tools: 422");
  has_str(msg, "the merged registry would hold 1201 tools; the limit is 1000",
          "the message says how many and the limit");
  int count = 0;
  cJSON *v = versions(&g, TOKEN);
  is_str(active_version(v, &count), "v-a", "v-a is still the active version");
  is_int(count, 2, "v-b was not stored (bootstrap and v-a)");
  cJSON_Delete(v);
  is_int(execute(&g, TOKEN, "a.599"), 200, "a tool of v-a runs");
  is_int(execute(&g, TOKEN, "b.0"), 403, "no tool of v-b does");
  is_int(publish(&g, TOKEN, "v-b", "[{\"tenant\":\"tenant-demo\",\"id\":\"b.0\",\"version\":"
                 "\"1\",\"handler\":\"builtin:echo\"}]", msg, sizeof msg),
         200, "the name v-b is free to publish a valid version");
  is_int(stop_keep(&g), 0, "stop");
  if (!ok(gw_restart(&g, ENV) == 0, "the gateway starts again on the same database")) {
    free(a);
    free(b);
    stop_drop(&g);
    return;
  }
  is_int(execute(&g, TOKEN, "a.599"), 200, "after the restart tenant-demo's tools run");
  is_int(execute(&g, TOKEN, "b.0"), 200, "  the last one published too");
  is_int(execute(&g, OTHER, "o.tool"), 200, "and the other tenant's");
  is_int(stop_drop(&g), 0, "SIGTERM: exit status 0");
  free(a);
  free(b);
}

static void security_registry_activate_invalid_refused(void) {
  if (!have_sqlite3_shell()) return;
  gwproc g;
  if (!ok(start(&g, TOML) == 0, "the gateway starts")) return;
  char msg[512];
  is_int(publish(&g, TOKEN, "good", "[{\"tenant\":\"tenant-demo\",\"id\":\"g.one\",\"version\":"
                 "\"1\",\"handler\":\"builtin:echo\"}]", msg, sizeof msg),
         200, "publish a good version");
  is_int(stop_keep(&g), 0, "stop");
  /* as an older gateway could store it: a merge past the limit */
  char *big = many("tenant-demo", "x", 1001);
  is_int(craft_version(&g, "tenant-demo", "too-big", big, 0), 0,
         "store a version of 1001 tools in the database (not active)");
  free(big);
  if (!ok(gw_restart(&g, ENV) == 0, "the gateway starts")) {
    stop_drop(&g);
    return;
  }
  cJSON *j = NULL;
  long st = post_json(&g, TOKEN, "/api/config/tools/activate", "{\"version\":\"too-big\"}", &j);
  is_int(st, 422, "activating a version that cannot be built: 422");
  is_str(json_str(j, "code"), "SCHEMA.VALIDATION_FAILED", "  SCHEMA.VALIDATION_FAILED");
  has_str(json_str(j, "message"), "1001", "  the message says why (%s)",
          json_str(j, "message") ? json_str(j, "message") : "");
  cJSON_Delete(j);
  int count = 0;
  cJSON *v = versions(&g, TOKEN);
  is_str(active_version(v, &count), "good", "the good version stays active");
  cJSON_Delete(v);
  is_int(execute(&g, TOKEN, "g.one"), 200, "and is served");
  is_int(post_json(&g, TOKEN, "/api/config/tools/activate", "{\"version\":\"bootstrap\"}", NULL),
         200, "activating a valid older version still works");
  is_int(execute(&g, TOKEN, "g.one"), 403, "  and takes effect");
  is_int(stop_keep(&g), 0, "stop");
  if (ok(gw_restart(&g, ENV) == 0, "the gateway starts again"))
    is_int(execute(&g, TOKEN, "demo.echo"), 200, "  serving bootstrap");
  is_int(stop_drop(&g), 0, "SIGTERM: exit status 0");
}

static void security_registry_invalid_active_falls_back(void) {
  if (!have_sqlite3_shell()) return;
  gwproc g;
  if (!ok(start(&g, TOML) == 0, "the gateway starts")) return;
  char msg[512];
  is_int(publish(&g, TOKEN, "good-1", "[{\"tenant\":\"tenant-demo\",\"id\":\"fb.one\","
                 "\"version\":\"1\",\"handler\":\"builtin:echo\"}]", msg, sizeof msg),
         200, "publish good-1");
  is_int(publish(&g, OTHER, "o-1", "[{\"tenant\":\"tenant-other\",\"id\":\"o.tool\","
                 "\"version\":\"1\",\"handler\":\"builtin:echo\"}]", msg, sizeof msg),
         200, "another tenant publishes");
  is_int(stop_keep(&g), 0, "stop");
  /* newer and active, but missing a handler; and a second tenant whose only version is bad */
  is_int(craft_version(&g, "tenant-demo", "broken",
                       "[{\"tenant\":\"tenant-demo\",\"id\":\"fb.two\",\"version\":\"1\"}]", 1),
         0, "an invalid version of tenant-demo is made active in the database");
  is_int(sql(&g, "INSERT INTO registry_versions(tenant, version, seq, manifests, created_at_ms)"
                 " VALUES('tenant-bad', 'only', 1, '{}', 1);"
                 " INSERT INTO registry_active(tenant, version) VALUES('tenant-bad', 'only');"),
         0, "and a tenant whose only version is not an array");
  if (!ok(gw_restart(&g, ENV) == 0, "the gateway starts anyway")) {
    stop_drop(&g);
    return;
  }
  ok(gw_wait_log(&g, "\"level\":\"error\"", 1, 5000), "an error is logged");
  ok(gw_log_has(&g, "the active tool registry of a tenant is invalid"), "  saying what");
  ok(gw_log_has(&g, "\"tenant\":\"tenant-demo\",\"version\":\"broken\""),
     "  naming the tenant and the version");
  ok(gw_log_has(&g, "manifests[0].handler: required"), "  and why");
  ok(gw_log_has(&g, "\"serving\":\"good-1\""), "  and what is served instead");
  ok(gw_log_has(&g, "\"tenant\":\"tenant-bad\",\"version\":\"only\""), "the other bad tenant too");
  ok(gw_log_has(&g, "\"serving\":\"none\""), "  which has no good version to serve");
  is_int((long long)metric(&g, "soulgw_registry_load_failures_total"), 2,
         "soulgw_registry_load_failures_total counts both");
  is_int(execute(&g, TOKEN, "fb.one"), 200, "tenant-demo is served its last good version");
  is_int(execute(&g, TOKEN, "fb.two"), 403, "  not the broken one");
  is_int(execute(&g, OTHER, "o.tool"), 200, "the other tenant is served as before");
  char msg2[512];
  is_int(publish(&g, TOKEN, "good-2", "[{\"tenant\":\"tenant-demo\",\"id\":\"fb.three\","
                 "\"version\":\"1\",\"handler\":\"builtin:echo\"}]", msg2, sizeof msg2),
         422, "a publish that would merge into the broken active version is refused");
  has_str(msg2, "handler: required", "  saying why (%s)", msg2);
  is_int(post_json(&g, TOKEN, "/api/config/tools/activate", "{\"version\":\"good-1\"}", NULL),
         200, "the tenant's admin activates the last good version");
  is_int(publish(&g, TOKEN, "good-2", "[{\"tenant\":\"tenant-demo\",\"id\":\"fb.three\","
                 "\"version\":\"1\",\"handler\":\"builtin:echo\"}]", msg2, sizeof msg2),
         200, "and publishes again");
  is_int(execute(&g, TOKEN, "fb.three"), 200, "  served");
  is_int(execute(&g, TOKEN, "fb.one"), 200, "  with the tools of good-1");
  is_int(stop_drop(&g), 0, "SIGTERM: exit status 0");
}

/* ------------------------------------------------------------------------------------------ */
/* Finding 18: unknown JSON-Schema keywords */

static void security_schema_unknown_keyword_refused(void) {
  gwproc g;
  if (!ok(start(&g, TOML) == 0, "the gateway starts")) return;
  static const struct {
    const char *schema_field, *schema, *fragment;
  } bad[] = {
      {"input_schema", "{\"type\":\"object\",\"requird\":[\"q\"]}",
       "manifests[0].input_schema.requird: unknown JSON Schema keyword (did you mean \"required\"?)"},
      {"input_schema",
       "{\"type\":\"object\",\"properties\":{\"q\":{\"type\":\"string\",\"maxLenght\":3}}}",
       "manifests[0].input_schema.properties.q.maxLenght: unknown JSON Schema keyword"},
      {"output_schema", "{\"type\":\"object\",\"additionalProperty\":false}",
       "manifests[0].output_schema.additionalProperty: unknown JSON Schema keyword"},
      {"input_schema", "{\"type\":\"string\",\"pattern\":\"^a$\"}",
       "manifests[0].input_schema.pattern: not supported"},
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    char manifests[512], msg[512];
    snprintf(manifests, sizeof manifests,
             "[{\"tenant\":\"tenant-demo\",\"id\":\"kw.tool\",\"version\":\"1\","
             "\"handler\":\"builtin:echo\",\"%s\":%s}]",
             bad[i].schema_field, bad[i].schema);
    is_int(publish(&g, TOKEN, "kw-bad", manifests, msg, sizeof msg), 422, "%s: 422",
           bad[i].schema);
    has_str(msg, bad[i].fragment, "  the message names the keyword and its place");
  }
  is_int(execute(&g, TOKEN, "kw.tool"), 403, "nothing was published");
  char msg[512];
  is_int(publish(&g, TOKEN, "kw-good",
                 "[{\"tenant\":\"tenant-demo\",\"id\":\"kw.tool\",\"version\":\"1\","
                 "\"handler\":\"builtin:echo\",\"input_schema\":{"
                 "\"$schema\":\"https://json-schema.org/draft/2020-12/schema\","
                 "\"$id\":\"urn:kw\",\"title\":\"Search\",\"description\":\"a query\","
                 "\"$comment\":\"c\",\"type\":\"object\",\"required\":[\"q\"],"
                 "\"additionalProperties\":false,\"examples\":[{\"q\":\"x\"}],"
                 "\"properties\":{\"q\":{\"type\":\"string\",\"description\":\"the query\","
                 "\"title\":\"Q\",\"default\":\"x\",\"format\":\"text\",\"maxLength\":5},"
                 "\"n\":{\"type\":\"integer\",\"const\":3},"
                 "\"tags\":{\"type\":\"array\",\"minItems\":1,\"maxItems\":2,"
                 "\"items\":{\"type\":\"string\"}}}}}]",
                 msg, sizeof msg),
         200, "annotations ($schema, $id, title, description, default, examples, format, "
              "$comment) and const, minItems, maxItems are accepted (%s)", msg);
  is_int(post_json(&g, TOKEN, "/api/tools/execute",
                   "{\"tool_id\":\"kw.tool\",\"input\":{\"q\":\"abc\",\"n\":3,\"tags\":[\"a\"]}}",
                   NULL),
         200, "conforming input runs");
  expect_error_as(&g, TOKEN, "/api/tools/execute", "{\"tool_id\":\"kw.tool\",\"input\":{}}", 422,
                  "SCHEMA.VALIDATION_FAILED", "input.q: required", "required is enforced");
  expect_error_as(&g, TOKEN, "/api/tools/execute",
                  "{\"tool_id\":\"kw.tool\",\"input\":{\"q\":\"a\",\"n\":4}}", 422,
                  "SCHEMA.VALIDATION_FAILED", "input.n", "const is enforced");
  expect_error_as(&g, TOKEN, "/api/tools/execute",
                  "{\"tool_id\":\"kw.tool\",\"input\":{\"q\":\"a\",\"tags\":[]}}", 422,
                  "SCHEMA.VALIDATION_FAILED", "minItems", "minItems is enforced");
  is_int(stop_drop(&g), 0, "SIGTERM: exit status 0");
}

/* A stored version written before keywords were checked still loads. */
static void security_schema_stored_typo_still_loads(void) {
  if (!have_sqlite3_shell()) return;
  gwproc g;
  if (!ok(start(&g, TOML) == 0, "the gateway starts")) return;
  is_int(stop_keep(&g), 0, "stop");
  is_int(craft_version(&g, "tenant-demo", "old-typo",
                       "[{\"tenant\":\"tenant-demo\",\"id\":\"old.tool\",\"version\":\"1\","
                       "\"handler\":\"builtin:echo\",\"input_schema\":{\"type\":\"object\","
                       "\"requird\":[\"q\"]}}]",
                       1),
         0, "an active version with an unknown keyword, as an older gateway stored it");
  if (!ok(gw_restart(&g, ENV) == 0, "the gateway starts")) {
    stop_drop(&g);
    return;
  }
  is_int(execute(&g, TOKEN, "old.tool"), 200, "the stored version is served");
  ok(gw_log_has(&g, "manifests[0].input_schema.requird: unknown JSON Schema keyword"),
     "with a warning naming the keyword");
  ok(!gw_log_has(&g, "the active tool registry of a tenant is invalid"), "it is not a failure");
  is_int((long long)metric(&g, "soulgw_registry_load_failures_total"), 0,
         "soulgw_registry_load_failures_total stays 0");
  is_int(stop_drop(&g), 0, "SIGTERM: exit status 0");
}

/* The bootstrap manifests file is operator configuration: a typo stops start-up. */
static void security_schema_bootstrap_typo_exit_78(void) {
  gwproc g;
  memset(&g, 0, sizeof g);
  snprintf(g.dir, sizeof g.dir, "/tmp/soulgw-test-XXXXXX");
  if (!ok(mkdtemp(g.dir) != NULL, "a temporary directory")) return;
  char manifests[400], config[400], db[400];
  snprintf(manifests, sizeof manifests, "%s/manifests.json", g.dir);
  snprintf(config, sizeof config, "%s/gateway.toml", g.dir);
  snprintf(db, sizeof db, "%s/test.db", g.dir);
  FILE *f = fopen(manifests, "w");
  if (f) {
    fputs("[{\"tenant\":\"tenant-demo\",\"id\":\"t\",\"version\":\"1\",\"handler\":"
          "\"builtin:echo\",\"input_schema\":{\"type\":\"object\",\"requird\":[\"q\"]}}]\n", f);
    fclose(f);
  }
  f = fopen(config, "w");
  if (f) {
    fprintf(f, "[server]\nport = 0\n\n[auth.tokens.local]\ntenant = \"tenant-demo\"\n"
               "token_env = \"GATEWAY_TOKEN_LOCAL\"\nscopes = [\"tools:execute\"]\n\n"
               "[tools]\nmanifests_file = \"%s\"\n", manifests);
    fclose(f);
  }
  /* timeout: a gateway that starts would run until killed (exit 124) */
  const char *argv[] = {"timeout", "30", harness_soulgw_bin(), "--config", config, "--db", db,
                        NULL};
  char *out = NULL;
  int rc = run_cmd(argv, NULL, &out);
  is_int(rc, 78, "a bootstrap file with an unknown keyword: exit status 78");
  has_str(out, manifests, "the message names the file");
  has_str(out, "manifests[0].input_schema.requird: unknown JSON Schema keyword",
          "and the keyword");
  free(out);
  const char *rm[] = {"rm", "-rf", g.dir, NULL};
  run_cmd(rm, NULL, NULL);
}

/* ------------------------------------------------------------------------------------------ */
/* Finding 17: tenant-supplied names in /metrics */

/* Runs a tool, emits an event and completes a prompt, then returns /metrics (to free). */
static char *use_and_scrape(gwproc *g) {
  char msg[256];
  publish(g, TOKEN, "secret-v1", "[{\"tenant\":\"tenant-demo\",\"id\":\"acme.secret-tool\","
          "\"version\":\"1\",\"handler\":\"builtin:echo\"}]", msg, sizeof msg);
  is_int(execute(g, TOKEN, "acme.secret-tool"), 200, "run a tool");
  is_int(post_json(g, TOKEN, "/api/observe/emit",
                   "{\"topic\":\"acme.merger-talks\",\"event\":{\"n\":1}}", NULL),
         200, "emit an event");
  is_int(post_json(g, TOKEN, "/api/llm/complete", "{\"prompt\":\"hello\",\"model\":\"local:echo\"}",
                   NULL),
         200, "complete a prompt");
  return metrics_text(g);
}

static void security_metrics_no_tenant_labels_by_default(void) {
  gwproc g;
  if (!ok(start(&g, TOML) == 0, "the gateway starts (no [metrics] section)")) return;
  char *m = use_and_scrape(&g);
  ok(m && !strstr(m, "acme.secret-tool"), "anonymous /metrics does not show the tool id");
  ok(m && !strstr(m, "acme.merger-talks"), "  nor the observe topic");
  ok(m && !strstr(m, "local:echo"), "  nor the model");
  has_str(m, "soulgw_tool_invocations_total{tool=\"all\",status=\"ok\"} 1",
          "tool runs are counted under tool=\"all\"");
  has_str(m, "soulgw_observe_events_total{topic=\"all\"} 1", "events under topic=\"all\"");
  has_str(m, "soulgw_llm_tokens_total{model=\"local:*\",direction=\"input\"}",
          "tokens under the provider, model=\"local:*\"");
  free(m);
  is_int(stop_drop(&g), 0, "SIGTERM: exit status 0");
}

static void security_metrics_tenant_labels_opt_in(void) {
  char toml[4096];
  snprintf(toml, sizeof toml, "%s\n[metrics]\ntenant_labels = true\n", TOML);
  gwproc g;
  if (!ok(start(&g, toml) == 0, "the gateway starts with [metrics] tenant_labels = true")) return;
  char *m = use_and_scrape(&g);
  has_str(m, "soulgw_tool_invocations_total{tool=\"acme.secret-tool\",status=\"ok\"} 1",
          "the tool id is a label value");
  has_str(m, "soulgw_observe_events_total{topic=\"acme.merger-talks\"} 1", "so is the topic");
  has_str(m, "soulgw_llm_tokens_total{model=\"local:echo\",direction=\"input\"}",
          "and the model");
  free(m);
  is_int(stop_drop(&g), 0, "SIGTERM: exit status 0");
}

static const tap_test tests[] = {
    TEST(security_registry_merge_over_limit_refused),
    TEST(security_registry_activate_invalid_refused),
    TEST(security_registry_invalid_active_falls_back),
    TEST(security_schema_unknown_keyword_refused),
    TEST(security_schema_stored_typo_still_loads),
    TEST(security_schema_bootstrap_typo_exit_78),
    TEST(security_metrics_no_tenant_labels_by_default),
    TEST(security_metrics_tenant_labels_opt_in),
};

int main(void) {
  if (tap_want(tests, TAP_COUNT(tests))) tap_run(tests, TAP_COUNT(tests));
  return tap_done();
}
