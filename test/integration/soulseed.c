/*
 * soulseed.c -- the real soulseed-agi client against the real binary (issue 9, part 4).
 *
 * The client sends POST /tenants/{numeric id}/collab.execute with x-tenant-id and a CollabPlan
 * {scope: any JSON, order?, rounds?, privacy_mode?, barrier{mode?, timeout_ms?}?, scope_id?} and
 * no collaboration id; it used to get a 422 and fall back to synthetic results.  These cases send
 * its exact envelopes (scope a string, an object, an array; named by plan.scope_id, by
 * cycle.collab_scope_id, or by neither), advance one collaboration with repeated calls, check
 * every field of the answer and each refusal, and check x-tenant-id as the tenant header.
 */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "tap.h"

#define TOKEN "test-token"              /* tenant-demo, no tenant:* */
#define SEED "seed-token-0123456789"    /* tenant 42, as the client's tenants are numbered */
#define OPS "ops-token-0123456789"      /* tenant ops, holds tenant:* */
#define SEED_PATH "/tenants/42/collab.execute"

static gwproc gw;

static const char TOML_EXTRA[] =
    "\n[auth.tokens.seed]\ntenant = \"42\"\ntoken = \"" SEED "\"\n"
    "scopes = [\"collab:execute\", \"tools:execute\"]\n"
    "[auth.tokens.ops]\ntenant = \"ops\"\ntoken = \"" OPS "\"\n"
    "scopes = [\"tenant:*\", \"collab:execute\"]\n";

/* POSTs body to path with token and extra headers (NULL-terminated, may be NULL): the status,
 * the answer parsed in *out and its X-Request-Id in rid (when not NULL). */
static long send_as(const char *token, const char *path, const char *const *extra,
                    const char *body, cJSON **out, char *rid, size_t ridlen) {
  char auth[128];
  snprintf(auth, sizeof auth, "Authorization: Bearer %s", token);
  const char *h[8] = {"Content-Type: application/json", auth};
  size_t n = 2;
  for (size_t i = 0; extra && extra[i] && n < 7; i++) h[n++] = extra[i];
  h[n] = NULL;
  http_resp r;
  if (http(&gw, "POST", path, h, body, &r) != 0) return -1;
  long st = r.status;
  if (out) *out = json_of(&r);
  if (rid) snprintf(rid, ridlen, "%s", resp_header(&r, "X-Request-Id") ? resp_header(&r, "X-Request-Id") : "");
  resp_free(&r);
  return st;
}

/* The client's own call: tenant 42 in the path and in x-tenant-id. */
static long seed(const char *body, cJSON **out) {
  static const char *const xt[] = {"x-tenant-id: 42", NULL};
  return send_as(SEED, SEED_PATH, xt, body, out, NULL, 0);
}

static const cJSON *at(const cJSON *j, const char *path) {
  char buf[256];
  snprintf(buf, sizeof buf, "%s", path);
  const cJSON *v = j;
  for (char *save = NULL, *k = strtok_r(buf, ".", &save); k && v; k = strtok_r(NULL, ".", &save))
    v = cJSON_GetObjectItemCaseSensitive(v, k);
  return v;
}

/* 1 when s is "collab-" and 32 lower-case hex digits. */
static int generated(const char *s) {
  return s && strlen(s) == 39 && !strncmp(s, "collab-", 7) &&
         strspn(s + 7, "0123456789abcdef") == 32;
}

/* The answer to a client call in full: the envelope, and data's own fields. */
static void check_success(long st, const cJSON *j, const char *what) {
  is_int(st, 200, "%s: 200", what);
  ok(cJSON_IsTrue(at(j, "success")), "%s: success true", what);
  ok(cJSON_IsNull(at(j, "error")), "%s: error null", what);
  ok(json_str(j, "trace_id") && *json_str(j, "trace_id"), "%s: a trace_id", what);
  is_str(json_str(j, "data.scope_id"), json_str(j, "data.collab_id"),
         "%s: data.scope_id is the collaboration's id", what);
  is_str(json_str(j, "data.tenant"), "42", "%s: tenant 42", what);
  is_str(json_str(j, "data.status"), "in_progress", "%s: in progress", what);
  ok(cJSON_IsArray(at(j, "data.participants")), "%s: participants is an array", what);
  ok(cJSON_IsObject(at(j, "data.metadata")), "%s: metadata is an object", what);
  ok(cJSON_IsArray(at(j, "data.timeline")), "%s: the snapshot's timeline is kept", what);
}

/* ------------------------------------------------------------------------------------------ */

static void integration_soulseed_scope_string(void) {
  cJSON *j = NULL;
  char rid[96];
  static const char *const xt[] = {"x-tenant-id: 42", "X-Request-Id: rid-seed-1", NULL};
  long st = send_as(SEED, SEED_PATH, xt,
                    "{\"anchor\":{\"tenant_id\":42,\"session_id\":\"s-1\"},"
                    "\"plan\":{\"scope\":\"weekly review\",\"order\":\"sequential\",\"rounds\":2,"
                    "\"privacy_mode\":\"strict\",\"barrier\":{\"mode\":\"all\",\"timeout_ms\":5000}},"
                    "\"cycle\":{\"cycle_id\":\"c-1\"},\"router\":{\"strategy\":\"default\"},"
                    "\"budget\":{\"tokens\":1000}}",
                    &j, rid, sizeof rid);
  check_success(st, j, "scope a string");
  is_str(json_str(j, "trace_id"), "rid-seed-1", "trace_id is the request id");
  ok(generated(json_str(j, "data.scope_id")), "a new collaboration: collab- and 32 hex digits (%s)",
     json_str(j, "data.scope_id") ? json_str(j, "data.scope_id") : "none");
  is_str(json_str(j, "data.attributes"), "weekly review", "attributes is plan.scope");
  is_str(json_str(j, "data.context"), "weekly review", "and it is stored as the context");
  is_int(cJSON_GetArraySize(at(j, "data.participants")), 0, "no participants");
  is_str(json_str(j, "data.metadata.order"), "sequential", "metadata.order");
  is_int(json_num(j, "data.metadata.rounds", -1), 2, "metadata.rounds");
  is_str(json_str(j, "data.metadata.privacy_mode"), "strict", "metadata.privacy_mode");
  cJSON_Delete(j);
  /* another call without an id opens another collaboration */
  cJSON *k = NULL;
  cJSON *first = NULL;
  seed("{\"plan\":{\"scope\":\"weekly review\"}}", &first);
  seed("{\"plan\":{\"scope\":\"weekly review\"}}", &k);
  ok(json_str(first, "data.scope_id") && json_str(k, "data.scope_id") &&
         strcmp(json_str(first, "data.scope_id"), json_str(k, "data.scope_id")) != 0,
     "each call without an id opens a collaboration of its own");
  ok(cJSON_IsNull(at(k, "data.metadata.order")) && cJSON_IsNull(at(k, "data.metadata.rounds")) &&
         cJSON_IsNull(at(k, "data.metadata.privacy_mode")),
     "metadata members absent from the plan are null");
  cJSON_Delete(first);
  cJSON_Delete(k);
}

static void integration_soulseed_scope_object_array(void) {
  cJSON *j = NULL;
  long st = seed("{\"plan\":{\"scope\":{\"goal\":\"ship\",\"participants\":[\"planner\",\"critic\"],"
                 "\"weights\":{\"a\":1}},\"order\":[\"planner\",\"critic\"],\"rounds\":3}}",
                 &j);
  check_success(st, j, "scope an object");
  ok(generated(json_str(j, "data.scope_id")), "a new collaboration");
  is_str(json_str(j, "data.attributes.goal"), "ship", "attributes is plan.scope");
  is_int(json_num(j, "data.attributes.weights.a", 0), 1, "nested members too");
  is_str(json_str(j, "data.context.goal"), "ship", "stored as the context");
  is_int(cJSON_GetArraySize(at(j, "data.participants")), 2, "participants from plan.scope.participants");
  is_str(cJSON_GetArrayItem(at(j, "data.participants"), 1)->valuestring, "critic", "in order");
  ok(cJSON_IsArray(at(j, "data.metadata.order")) && cJSON_GetArraySize(at(j, "data.metadata.order")) == 2,
     "metadata.order as an array");
  cJSON_Delete(j);
  st = seed("{\"plan\":{\"scope\":[1,\"two\",{\"three\":3}],\"participants\":[\"solo\"]}}", &j);
  check_success(st, j, "scope an array");
  is_int(cJSON_GetArraySize(at(j, "data.attributes")), 3, "attributes is the array");
  is_int(cJSON_GetArraySize(at(j, "data.context")), 3, "stored as the context");
  is_str(cJSON_GetArrayItem(at(j, "data.participants"), 0)->valuestring, "solo",
         "participants from plan.participants");
  cJSON_Delete(j);
  /* a scope object whose id is not a string is attributes, not the older form */
  st = seed("{\"plan\":{\"scope\":{\"id\":7,\"topic\":\"t\"}}}", &j);
  check_success(st, j, "scope {id: 7}");
  ok(generated(json_str(j, "data.scope_id")), "a new collaboration, not one named 7");
  is_int(json_num(j, "data.attributes.id", 0), 7, "the id is an attribute");
  cJSON_Delete(j);
  /* the numbers scope may be: null is refused, a number or true is kept */
  st = seed("{\"plan\":{\"scope\":42}}", &j);
  check_success(st, j, "scope a number");
  is_int(json_num(j, "data.attributes", 0), 42, "attributes 42");
  cJSON_Delete(j);
}

/* Repeated calls with the same scope_id advance one collaboration. */
static void integration_soulseed_same_scope(void) {
  cJSON *j = NULL;
  long st = seed("{\"plan\":{\"scope_id\":\"seed-s1\",\"scope\":{\"step\":1,\"a\":\"x\"},"
                 "\"participants\":[\"alpha\"]}}", &j);
  check_success(st, j, "scope_id, first call");
  is_str(json_str(j, "data.scope_id"), "seed-s1", "the collaboration is plan.scope_id");
  double total1 = json_num(j, "data.timeline_total", -1);
  cJSON_Delete(j);
  st = seed("{\"plan\":{\"scope_id\":\"seed-s1\",\"scope\":{\"step\":2},\"participants\":[\"beta\",\"alpha\"]},"
            "\"cycle\":{\"collab_scope_id\":\"ignored-when-scope_id\"}}", &j);
  check_success(st, j, "scope_id, second call");
  is_str(json_str(j, "data.scope_id"), "seed-s1", "the same collaboration (plan.scope_id wins)");
  is_int(json_num(j, "data.timeline_total", -1), total1 + 1, "one more timeline entry");
  is_int(cJSON_GetArraySize(at(j, "data.participants")), 2, "participants added without duplicates");
  is_int(json_num(j, "data.context.step", 0), 2, "object scopes deep-merged into the context");
  is_str(json_str(j, "data.context.a"), "x", "keeping what the first call stored");
  is_int(json_num(j, "data.attributes.step", 0), 2, "attributes is this call's plan.scope");
  ok(!at(j, "data.attributes.a"), "only this call's");
  cJSON_Delete(j);
  /* cycle.collab_scope_id names it when plan.scope_id does not */
  st = seed("{\"plan\":{\"scope\":\"s\"},\"cycle\":{\"collab_scope_id\":\"seed-c1\"}}", &j);
  check_success(st, j, "cycle.collab_scope_id");
  is_str(json_str(j, "data.scope_id"), "seed-c1", "the collaboration is cycle.collab_scope_id");
  cJSON_Delete(j);
  st = seed("{\"plan\":{\"scope\":\"t\"},\"cycle\":{\"collab_scope_id\":\"seed-c1\"}}", &j);
  is_str(json_str(j, "data.scope_id"), "seed-c1", "again");
  is_int(json_num(j, "data.timeline_total", -1), total1 + 1, "advanced");
  is_str(json_str(j, "data.context"), "t", "a string scope replaces the context");
  cJSON_Delete(j);
  /* resolved through the standard route, the next client call is a 409 envelope */
  is_int(send_as(SEED, "/api/collab/resolve", NULL, "{\"collab_id\":\"seed-s1\",\"outcome\":\"ok\"}",
                 NULL, NULL, 0), 200, "resolve seed-s1");
  st = seed("{\"plan\":{\"scope_id\":\"seed-s1\",\"scope\":{}}}", &j);
  is_int(st, 409, "a resolved collaboration: 409");
  ok(cJSON_IsFalse(at(j, "success")) && cJSON_IsNull(at(j, "data")), "in the envelope");
  is_str(json_str(j, "error.code"), "STORAGE.CONFLICT", "STORAGE.CONFLICT");
  cJSON_Delete(j);
}

/* The older form is answered as before, with the client's fields added. */
static void integration_soulseed_old_form(void) {
  cJSON *j = NULL;
  long st = seed("{\"plan\":{\"scope\":{\"collab_id\":\"old-1\",\"participants\":[\"x\"],"
                 "\"context\":{\"k\":1},\"note\":\"n\"}}}", &j);
  check_success(st, j, "the older form");
  is_str(json_str(j, "data.collab_id"), "old-1", "collab_id from plan.scope.collab_id");
  is_int(json_num(j, "data.context.k", 0), 1, "the context is plan.scope.context");
  ok(!at(j, "data.context.collab_id"), "not the whole scope");
  is_str(json_str(j, "data.attributes.collab_id"), "old-1", "attributes is plan.scope");
  cJSON *last = cJSON_GetArrayItem(at(j, "data.timeline"), cJSON_GetArraySize(at(j, "data.timeline")) - 1);
  is_str(json_str(last, "note"), "n", "the note is kept");
  cJSON_Delete(j);
  st = seed("{\"plan\":{\"scope\":{\"id\":\"old-1\",\"participants\":[\"y\"]}}}", &j);
  is_str(json_str(j, "data.scope_id"), "old-1", "plan.scope.id names it too");
  is_int(cJSON_GetArraySize(at(j, "data.participants")), 2, "and advances it");
  cJSON_Delete(j);
}

typedef struct bad {
  const char *body, *fragment;
} bad;

static void integration_soulseed_errors(void) {
  static const bad cases[] = {
      {"{\"plan\":{}}", "plan.scope is required"},
      {"{\"plan\":{\"scope\":null}}", "plan.scope must not be null"},
      {"{\"plan\":{\"scope\":\"s\",\"rounds\":0}}", "plan.rounds must be between 1 and 1000 (got 0)"},
      {"{\"plan\":{\"scope\":\"s\",\"rounds\":1001}}", "plan.rounds must be between 1 and 1000 (got 1001)"},
      {"{\"plan\":{\"scope\":\"s\",\"rounds\":1.5}}", "plan.rounds must be an integer between 1 and 1000"},
      {"{\"plan\":{\"scope\":\"s\",\"rounds\":\"2\"}}", "plan.rounds must be an integer, not a string"},
      {"{\"plan\":{\"scope\":\"s\",\"order\":5}}",
       "plan.order must be a string or an array of strings, not a number"},
      {"{\"plan\":{\"scope\":\"s\",\"order\":[\"a\",2]}}", "plan.order[1] must be a string, not a number"},
      {"{\"plan\":{\"scope\":\"s\",\"privacy_mode\":1}}", "plan.privacy_mode must be a string, not a number"},
      {"{\"plan\":{\"scope\":\"s\",\"privacy_mode\":\" \"}}", "plan.privacy_mode must not be blank"},
      {"{\"plan\":{\"scope\":\"s\",\"barrier\":\"all\"}}", "plan.barrier must be an object, not a string"},
      {"{\"plan\":{\"scope\":\"s\",\"barrier\":{\"mode\":1}}}", "plan.barrier.mode must be a string, not a number"},
      {"{\"plan\":{\"scope\":\"s\",\"barrier\":{\"timeout_ms\":-1}}}",
       "plan.barrier.timeout_ms must be between 0 and 86400000 (got -1)"},
      {"{\"plan\":{\"scope\":\"s\",\"barrier\":{\"timeout_ms\":\"5s\"}}}",
       "plan.barrier.timeout_ms must be an integer, not a string"},
      {"{\"plan\":{\"scope\":\"s\",\"scope_id\":5}}", "plan.scope_id must be a string, not a number"},
      {"{\"plan\":{\"scope\":\"s\",\"scope_id\":\"\"}}", "plan.scope_id must not be blank"},
      {"{\"plan\":{\"scope\":\"s\"},\"cycle\":{\"collab_scope_id\":[]}}",
       "cycle.collab_scope_id must be a string, not an array"},
      {"{\"plan\":{\"scope\":\"s\"},\"cycle\":3}", "cycle must be an object, not a number"},
      {"{\"plan\":{\"scope\":\"s\",\"participants\":[\"a\",1]}}",
       "plan.participants[1] must be a string, not a number"},
      {"{\"plan\":{\"scope\":{\"participants\":\"x\"}}}",
       "plan.scope.participants must be an array, not a string"},
      {"{\"plan\":{\"scope_id\":\"seed-err\",\"scope\":\"s\",\"rounds\":0}}", "plan.rounds"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    cJSON *j = NULL;
    long st = seed(cases[i].body, &j);
    is_int(st, 422, "%s: 422", cases[i].body);
    ok(cJSON_IsFalse(at(j, "success")) && cJSON_IsNull(at(j, "data")), "  in the envelope");
    is_str(json_str(j, "error.code"), "SCHEMA.VALIDATION_FAILED", "  SCHEMA.VALIDATION_FAILED");
    has_str(json_str(j, "error.message"), cases[i].fragment, "  the message names the field");
    ok(json_str(j, "trace_id") != NULL, "  a trace_id");
    cJSON_Delete(j);
  }
  is_int(send_as(SEED, "/api/collab/timeline", NULL, "{\"collab_id\":\"seed-err\"}", NULL, NULL, 0),
         404, "a refused plan opened nothing");
  /* a scope nested deeper than the store keeps */
  size_t n = 200 * 6 + 64;
  char *b = malloc(n), *p = b;
  p += sprintf(p, "{\"plan\":{\"scope\":");
  for (int i = 0; i < 200; i++) p += sprintf(p, "[");
  for (int i = 0; i < 200; i++) *p++ = ']';
  strcpy(p, "}}");
  cJSON *j = NULL;
  is_int(seed(b, &j), 422, "a scope 200 levels deep: 422");
  has_str(json_str(j, "error.message"), "plan.scope nests deeper than 128 levels",
          "naming plan.scope");
  cJSON_Delete(j);
  free(b);
  /* the path's tenant must be the principal's */
  static const char *const xt[] = {"x-tenant-id: 43", NULL};
  is_int(send_as(SEED, "/tenants/43/collab.execute", xt, "{\"plan\":{\"scope\":\"s\"}}", &j, NULL, 0),
         403, "another tenant's path: 403");
  is_str(json_str(j, "error.code"), "AUTH.FORBIDDEN", "AUTH.FORBIDDEN in the envelope");
  has_str(json_str(j, "error.message"), "may not act for tenant 43", "naming the tenant");
  cJSON_Delete(j);
}

/* x-tenant-id is the tenant header where X-Soul-Tenant is (SPEC 4, Tenant). */
static void integration_soulseed_x_tenant_id(void) {
  cJSON *j = NULL;
  static const char *const xt42[] = {"x-tenant-id: 42", NULL};
  is_int(send_as(OPS, "/api/collab/execute", xt42, "{\"collab_id\":\"xt-1\"}", &j, NULL, 0), 200,
         "a principal with tenant:* acts for the x-tenant-id tenant");
  is_str(json_str(j, "tenant"), "42", "tenant 42");
  cJSON_Delete(j);
  is_int(send_as(SEED, "/api/collab/timeline", NULL, "{\"collab_id\":\"xt-1\"}", NULL, NULL, 0), 200,
         "tenant 42 sees the collaboration");
  is_int(send_as(OPS, "/api/collab/timeline", NULL, "{\"collab_id\":\"xt-1\"}", NULL, NULL, 0), 404,
         "the principal's own tenant does not");
  is_int(send_as(TOKEN, "/api/collab/execute", xt42, "{\"collab_id\":\"xt-2\"}", &j, NULL, 0), 403,
         "a principal without tenant:* naming another tenant in x-tenant-id: 403");
  is_str(json_str(j, "code"), "AUTH.FORBIDDEN", "AUTH.FORBIDDEN");
  has_str(json_str(j, "message"), "may not act for tenant 42", "naming the tenant");
  cJSON_Delete(j);
  static const char *const own[] = {"x-tenant-id: tenant-demo", NULL};
  is_int(send_as(TOKEN, "/api/collab/execute", own, "{\"collab_id\":\"xt-3\"}", NULL, NULL, 0), 200,
         "its own tenant in x-tenant-id: 200");
  static const char *const both[] = {"X-Soul-Tenant: 42", "x-tenant-id: 43", NULL};
  is_int(send_as(OPS, "/api/collab/execute", both, "{\"collab_id\":\"xt-4\"}", &j, NULL, 0), 200,
         "both headers");
  is_str(json_str(j, "tenant"), "42", "X-Soul-Tenant wins over x-tenant-id");
  cJSON_Delete(j);
  static const char *const both_bad[] = {"X-Soul-Tenant: tenant-demo", "x-tenant-id: 42", NULL};
  is_int(send_as(TOKEN, "/api/collab/execute", both_bad, "{\"collab_id\":\"xt-5\"}", NULL, NULL, 0),
         200, "x-tenant-id is not checked when X-Soul-Tenant names the tenant");
  is_int(send_as(OPS, "/api/collab/execute", xt42, "{\"collab_id\":\"xt-6\",\"tenant\":\"ops\"}", &j,
                 NULL, 0), 200, "the body's tenant");
  is_str(json_str(j, "tenant"), "ops", "wins over x-tenant-id");
  cJSON_Delete(j);
}

static const tap_test tests[] = {
    TEST(integration_soulseed_scope_string), TEST(integration_soulseed_scope_object_array),
    TEST(integration_soulseed_same_scope),   TEST(integration_soulseed_old_form),
    TEST(integration_soulseed_errors),       TEST(integration_soulseed_x_tenant_id),
};

int main(void) {
  char toml[8192];
  snprintf(toml, sizeof toml, "%s%s", HARNESS_DEFAULT_TOML, TOML_EXTRA);
  return tap_with_gateway(&gw, harness_soulgw_bin(), toml, NULL, tests, TAP_COUNT(tests));
}
