/*
 * tools.c -- integration tests of the tool routes, the tool registry versions and the legacy
 * routes, against the real soulgw binary (and the test host for C tools): preflight, list,
 * schema validation, POLICY.DENY_TOOL, idempotency across a restart, publish / duplicate /
 * rollback / 404 / 422, versions across a restart, legacy envelopes, HTTP tools against a small
 * upstream run by this program, the invocation metric, and malformed input on every route.
 */
#include <arpa/inet.h>
#include <cjson/cJSON.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "badinput.h"
#include "harness.h"
#include "tap.h"

static gwproc gw;
static int upstream_port;
static atomic_int slow_arrivals; /* requests the upstream's /slow has received */

static const char *const TOML =
    "[server]\n"
    "address = \"127.0.0.1\"\n"
    "port = 0\n"
    "max_body_bytes = 4194304\n"
    "connection_timeout_s = 10\n"
    "drain_timeout_s = 5\n"
    "\n"
    "[storage]\n"
    "synchronous = \"normal\"\n"
    "\n"
    "[log]\n"
    "level = \"warn\"\n"
    "\n"
    "[auth.tokens.local]\n"
    "tenant = \"tenant-demo\"\n"
    "token_env = \"GATEWAY_TOKEN_LOCAL\"\n"
    "scopes = [\"tools:execute\", \"collab:execute\", \"config:manage\"]\n"
    "\n"
    "[auth.tokens.power]\n"
    "tenant = \"tenant-demo\"\n"
    "token = \"power-token\"\n"
    "scopes = [\"tools:execute\", \"tool:special\"]\n"
    "\n"
    "[auth.tokens.other]\n"
    "tenant = \"tenant-other\"\n"
    "token = \"other-token\"\n"
    "scopes = [\"tools:execute\", \"config:manage\"]\n"
    "\n"
    "[tools]\n"
    "manifests_file = \"conf/manifests.json\"\n"
    "allowed_hosts = [\"127.0.0.1\"]  # the upstream this program runs (and a closed port)\n"
    "\n"
    "[metrics]\n"
    "tenant_labels = true\n";

#define TOKEN "test-token"

/* ------------------------------------------------------------------------------------------ */
/* Helpers */

/* POSTs body with the local token and returns the parsed answer (NULL when not JSON). */
static cJSON *post_as(const char *token, const char *path, const char *body, http_resp *r) {
  http_post(&gw, path, token, body, r);
  return json_of(r);
}

static cJSON *post(const char *path, const char *body, http_resp *r) {
  return post_as(TOKEN, path, body, r);
}

static cJSON *get_as(const char *token, const char *path, http_resp *r) {
  char auth[128];
  snprintf(auth, sizeof auth, "Authorization: Bearer %s", token);
  http(&gw, "GET", path, (const char *[]){auth, NULL}, NULL, r);
  return json_of(r);
}

/* Expects an error answer: status, code, and a message containing fragment. */
static void expect_error(const char *path, const char *token, const char *body, long status,
                         const char *code, const char *fragment, const char *what) {
  http_resp r;
  cJSON *j = post_as(token, path, body, &r);
  is_int(r.status, status, "%s: status %ld", what, status);
  is_str(json_str(j, "code"), code, "%s: code %s", what, code);
  if (fragment) has_str(json_str(j, "message"), fragment, "%s: message", what);
  ok(json_str(j, "correlation_id") != NULL, "%s: correlation_id", what);
  cJSON_Delete(j);
  resp_free(&r);
}

/* The same for a legacy route: the envelope, with the request id as trace_id. */
static void expect_envelope(const char *path, const char *body, long status, const char *code,
                            const char *fragment, const char *what) {
  http_resp r;
  cJSON *j = post_as(TOKEN, path, body, &r);
  is_int(r.status, status, "%s: status %ld", what, status);
  ok(cJSON_IsFalse(cJSON_GetObjectItem(j, "success")) && cJSON_IsNull(cJSON_GetObjectItem(j, "data")),
     "%s: success false, data null", what);
  is_str(json_str(j, "error.code"), code, "%s: error.code %s", what, code);
  has_str(json_str(j, "error.message"), fragment, "%s: error.message", what);
  is_str(json_str(j, "trace_id"), resp_header(&r, "X-Request-Id"), "%s: trace_id", what);
  cJSON_Delete(j);
  resp_free(&r);
}

/* Publishes manifests (a JSON array text) as version; returns the status. */
static long publish_as(const char *token, const char *version, const char *manifests) {
  size_t n = strlen(manifests) + strlen(version) + 64;
  char *body = malloc(n);
  snprintf(body, n, "{\"version\":\"%s\",\"manifests\":%s}", version, manifests);
  http_resp r;
  http_post(&gw, "/api/config/tools", token, body, &r);
  long status = r.status;
  if (status != 200) tap_diag("publish %s: %ld %.300s", version, status, r.body);
  resp_free(&r);
  free(body);
  return status;
}

static long publish(const char *version, const char *manifests) {
  return publish_as(TOKEN, version, manifests);
}

/* The number of registry versions the tenant of token has. */
static int version_count(const char *token) {
  http_resp r;
  cJSON *j = get_as(token, "/api/config/tools", &r);
  int n = cJSON_GetArraySize(cJSON_GetObjectItem(j, "versions"));
  cJSON_Delete(j);
  resp_free(&r);
  return n;
}

/* Executes tool_id with input (JSON text) and returns the status; *out the parsed answer. */
static long execute(const char *token, const char *tool_id, const char *input, cJSON **out) {
  size_t n = strlen(input) + strlen(tool_id) + 64;
  char *body = malloc(n);
  snprintf(body, n, "{\"tool_id\":\"%s\",\"input\":%s}", tool_id, input);
  http_resp r;
  cJSON *j = post_as(token, "/api/tools/execute", body, &r);
  long status = r.status;
  if (out) *out = j;
  else cJSON_Delete(j);
  resp_free(&r);
  free(body);
  return status;
}

static void sleep_ms(int ms) {
  struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
  nanosleep(&ts, NULL);
}

/* ------------------------------------------------------------------------------------------ */
/* A small upstream for HTTP tools: one thread per connection, one request per connection.
 *   /json     200 with the request body (JSON)         /text   200 text/plain "hello"
 *   /fail     500 {"error":"boom"}                     /slow   sleeps 3 s, then 200 {}
 *   /headers  200 {"tenant","call_id","tool"} from the X-Soul-* request headers */

static void header_value(const char *head, const char *name, char *out, size_t len) {
  out[0] = '\0';
  const char *p = strcasestr(head, name);
  if (!p) return;
  p += strlen(name);
  while (*p == ' ' || *p == ':') p++;
  size_t i = 0;
  while (p[i] && p[i] != '\r' && i + 1 < len) {
    out[i] = p[i];
    i++;
  }
  out[i] = '\0';
}

static void *serve_one(void *arg) {
  int fd = (int)(intptr_t)arg;
  char buf[65536];
  size_t len = 0;
  char *end = NULL;
  while (len < sizeof buf - 1 && !end) {
    ssize_t n = read(fd, buf + len, sizeof buf - 1 - len);
    if (n <= 0) break;
    len += (size_t)n;
    buf[len] = '\0';
    end = strstr(buf, "\r\n\r\n");
  }
  if (!end) {
    close(fd);
    return NULL;
  }
  char cl[32];
  header_value(buf, "\nContent-Length", cl, sizeof cl);
  size_t want = (size_t)(end + 4 - buf) + (size_t)atol(cl);
  while (len < want && len < sizeof buf - 1) {
    ssize_t n = read(fd, buf + len, sizeof buf - 1 - len);
    if (n <= 0) break;
    len += (size_t)n;
  }
  buf[len] = '\0';
  const char *body = end + 4;
  char path[64] = "";
  sscanf(buf, "%*s %63s", path);
  char out[70000], payload[66000];
  const char *type = "application/json";
  int status = 200;
  if (!strcmp(path, "/json")) {
    snprintf(payload, sizeof payload, "%s", body);
  } else if (!strcmp(path, "/text")) {
    type = "text/plain";
    snprintf(payload, sizeof payload, "hello");
  } else if (!strcmp(path, "/fail")) {
    status = 500;
    snprintf(payload, sizeof payload, "{\"error\":\"boom\"}");
  } else if (!strcmp(path, "/slow")) {
    atomic_fetch_add(&slow_arrivals, 1);
    sleep_ms(3000);
    snprintf(payload, sizeof payload, "{}");
  } else if (!strcmp(path, "/headers")) {
    char t[128], c[128], tool[128];
    header_value(buf, "\nX-Soul-Tenant", t, sizeof t);
    header_value(buf, "\nX-Soul-Call-Id", c, sizeof c);
    header_value(buf, "\nX-Soul-Tool", tool, sizeof tool);
    snprintf(payload, sizeof payload, "{\"tenant\":\"%s\",\"call_id\":\"%s\",\"tool\":\"%s\"}", t,
             c, tool);
  } else {
    status = 404;
    snprintf(payload, sizeof payload, "{}");
  }
  int n = snprintf(out, sizeof out,
                   "HTTP/1.1 %d X\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
                   "Connection: close\r\n\r\n%s",
                   status, type, strlen(payload), payload);
  if (write(fd, out, (size_t)n) < 0) {
  }
  close(fd);
  return NULL;
}

static void *upstream_loop(void *arg) {
  int ls = (int)(intptr_t)arg;
  for (;;) {
    int fd = accept(ls, NULL, NULL);
    if (fd < 0) continue;
    pthread_t t;
    if (pthread_create(&t, NULL, serve_one, (void *)(intptr_t)fd) == 0) pthread_detach(t);
    else close(fd);
  }
  return NULL;
}

static int upstream_start(void) {
  int ls = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a = {0};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t al = sizeof a;
  int one = 1;
  setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (bind(ls, (struct sockaddr *)&a, sizeof a) || listen(ls, 64) ||
      getsockname(ls, (struct sockaddr *)&a, &al))
    return -1;
  pthread_t t;
  if (pthread_create(&t, NULL, upstream_loop, (void *)(intptr_t)ls)) return -1;
  pthread_detach(t);
  return ntohs(a.sin_port);
}

/* ------------------------------------------------------------------------------------------ */
/* Cases */

static void integration_tools_preflight_allow_deny(void) {
  ok(publish("pf-1", "[{\"tenant\":\"tenant-demo\",\"id\":\"pf.special\",\"version\":\"1\","
                     "\"handler\":\"builtin:echo\",\"scopes\":[\"tool:special\"],"
                     "\"input_schema\":{\"type\":\"object\",\"required\":[\"q\"]}}]") == 200,
     "publish a tool that needs scope tool:special");
  http_resp r;
  cJSON *j = post("/api/tools/preflight", "{\"tool_id\":\"demo.echo\",\"input\":{}}", &r);
  is_int(r.status, 200, "preflight of a registered tool: 200");
  ok(cJSON_IsTrue(cJSON_GetObjectItem(j, "allow")), "allow true");
  is_str(json_str(j, "reason"), "allowed", "reason allowed");
  is_str(json_str(j, "tool_version"), "1.0.0", "tool_version");
  cJSON_Delete(j);
  resp_free(&r);

  j = post("/api/tools/preflight", "{\"tool_id\":\"no.such.tool\"}", &r);
  is_int(r.status, 200, "preflight of an unknown tool: still 200");
  ok(cJSON_IsFalse(cJSON_GetObjectItem(j, "allow")), "allow false");
  is_str(json_str(j, "reason"), "tool_not_registered", "reason tool_not_registered");
  ok(cJSON_IsNull(cJSON_GetObjectItem(j, "tool_version")), "tool_version null");
  is_str(json_str(j, "tool_id"), "no.such.tool", "tool_id echoed");
  is_str(json_str(j, "tenant"), "tenant-demo", "tenant");
  cJSON_Delete(j);
  resp_free(&r);

  j = post("/api/tools/preflight", "{\"tool_id\":\"pf.special\"}", &r);
  ok(cJSON_IsFalse(cJSON_GetObjectItem(j, "allow")), "a principal without the manifest's scope: allow false");
  is_str(json_str(j, "reason"), "missing_scope", "reason missing_scope");
  has_str(json_str(j, "detail"), "tool:special", "detail names the scope");
  cJSON_Delete(j);
  resp_free(&r);
  j = post_as("power-token", "/api/tools/preflight", "{\"tool_id\":\"pf.special\",\"input\":{\"q\":1}}", &r);
  ok(cJSON_IsTrue(cJSON_GetObjectItem(j, "allow")), "a principal holding it: allow true");
  cJSON_Delete(j);
  resp_free(&r);
  j = post_as("power-token", "/api/tools/preflight", "{\"tool_id\":\"pf.special\",\"input\":{}}", &r);
  ok(cJSON_IsFalse(cJSON_GetObjectItem(j, "allow")), "input failing the schema: allow false");
  is_str(json_str(j, "reason"), "input_invalid", "reason input_invalid");
  has_str(json_str(j, "detail"), "input.q: required", "detail names the path");
  cJSON_Delete(j);
  resp_free(&r);

  /* execute agrees with preflight */
  expect_error("/api/tools/execute", TOKEN, "{\"tool_id\":\"pf.special\",\"input\":{\"q\":1}}", 403,
               "AUTH.FORBIDDEN", "needs tool:special", "execute without the manifest's scope");
  ok(execute("power-token", "pf.special", "{\"q\":1}", NULL) == 200, "execute with it: 200");
}

static void integration_tools_list(void) {
  http_resp r;
  cJSON *j = get_as(TOKEN, "/api/tools/list", &r);
  is_int(r.status, 200, "GET /api/tools/list: 200");
  cJSON *tools = cJSON_GetObjectItem(j, "tools"), *t;
  ok(cJSON_GetArraySize(tools) >= 1, "at least the bootstrap tool");
  int echo = 0, fields = 1;
  cJSON_ArrayForEach(t, tools) {
    if (json_str(t, "tool_id") && !strcmp(json_str(t, "tool_id"), "demo.echo")) echo = 1;
    if (!json_str(t, "tool_id") || !json_str(t, "version") || !json_str(t, "display_name") ||
        !json_str(t, "description") || !cJSON_IsArray(cJSON_GetObjectItem(t, "tags")))
      fields = 0;
  }
  ok(echo, "demo.echo is listed");
  ok(fields, "every entry has tool_id, version, display_name, description, tags");
  cJSON_Delete(j);
  resp_free(&r);
  j = post("/api/tools/list", "{}", &r);
  is_int(r.status, 200, "POST /api/tools/list: 200");
  ok(cJSON_GetArraySize(cJSON_GetObjectItem(j, "tools")) >= 1, "the same tools");
  cJSON_Delete(j);
  resp_free(&r);
  /* another tenant sees none of tenant-demo's tools */
  j = get_as("other-token", "/api/tools/list", &r);
  is_int(r.status, 200, "another tenant: 200");
  is_int(cJSON_GetArraySize(cJSON_GetObjectItem(j, "tools")), 0, "with an empty list");
  cJSON_Delete(j);
  resp_free(&r);
  expect_error("/api/tools/list", "other-token", "{\"tenant\":\"tenant-demo\"}", 403,
               "AUTH.FORBIDDEN", "tenant-demo", "listing another tenant's tools");
}

static void integration_tools_schema_validation(void) {
  ok(publish("schema-1",
             "[{\"tenant\":\"tenant-demo\",\"id\":\"sch.items\",\"version\":\"1\",\"handler\":"
             "\"builtin:echo\",\"input_schema\":{\"type\":\"object\",\"required\":[\"items\"],"
             "\"additionalProperties\":false,\"properties\":{\"items\":{\"type\":\"array\","
             "\"items\":{\"type\":\"object\",\"required\":[\"name\"],\"properties\":{\"name\":"
             "{\"type\":\"string\",\"minLength\":1,\"maxLength\":3},\"n\":{\"type\":\"integer\","
             "\"minimum\":0,\"maximum\":9},\"c\":{\"enum\":[\"red\",\"blue\"]}}}}}}}]") == 200,
     "publish a tool with an input_schema");
  cJSON *j;
  ok(execute(TOKEN, "sch.items", "{\"items\":[{\"name\":\"a\",\"n\":3,\"c\":\"red\"}]}", &j) == 200,
     "conforming input: 200");
  cJSON_Delete(j);
  static const struct {
    const char *input, *msg;
  } bad[] = {
      {"{\"items\":[{\"name\":\"a\"},{\"name\":\"b\"},{\"name\":7}]}",
       "input.items[2].name: expected string, got number"},
      {"{}", "input.items: required"},
      {"{\"items\":[],\"x\":1}", "input.x: not allowed"},
      {"{\"items\":[{\"name\":\"abcd\"}]}", "input.items[0].name: 4 characters, more than maxLength 3"},
      {"{\"items\":[{\"name\":\"\"}]}", "input.items[0].name: 0 characters, fewer than minLength 1"},
      {"{\"items\":[{\"name\":\"a\",\"n\":1.5}]}", "input.items[0].n: expected integer, got number"},
      {"{\"items\":[{\"name\":\"a\",\"n\":10}]}", "input.items[0].n: 10 is greater than the maximum 9"},
      {"{\"items\":[{\"name\":\"a\",\"n\":-1}]}", "input.items[0].n: -1 is less than the minimum 0"},
      {"{\"items\":[{\"name\":\"a\",\"c\":\"green\"}]}", "input.items[0].c: expected one of \"red\", \"blue\""},
      {"[]", "input: expected object, got array"},
      {"null", "input: expected object, got null"},
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    char body[512];
    snprintf(body, sizeof body, "{\"tool_id\":\"sch.items\",\"input\":%s}", bad[i].input);
    expect_error("/api/tools/execute", TOKEN, body, 422, "SCHEMA.VALIDATION_FAILED", bad[i].msg,
                 bad[i].input);
  }
}

static void integration_tools_deny_tool(void) {
  expect_error("/api/tools/execute", TOKEN, "{\"tool_id\":\"no.such.tool\",\"input\":{}}", 403,
               "POLICY.DENY_TOOL", "tool no.such.tool is not registered for tenant tenant-demo",
               "an unknown tool");
  expect_error("/api/tools/execute", "other-token", "{\"tool_id\":\"demo.echo\",\"input\":{}}", 403,
               "POLICY.DENY_TOOL", "not registered for tenant tenant-other",
               "another tenant's tool");
}

static void integration_tools_max_bytes_in(void) {
  ok(publish("limits-1", "[{\"tenant\":\"tenant-demo\",\"id\":\"lim.small\",\"version\":\"1\","
                         "\"handler\":\"builtin:echo\",\"limits\":{\"max_bytes_in\":20}}]") == 200,
     "publish a tool with max_bytes_in 20");
  ok(execute(TOKEN, "lim.small", "{\"a\":\"0123456789\"}", NULL) == 200,
     "input of 18 bytes: 200");
  expect_error("/api/tools/execute", TOKEN,
               "{\"tool_id\":\"lim.small\",\"input\":{\"a\":\"0123456789abc\"}}", 413,
               "REQUEST.TOO_LARGE", "limits.max_bytes_in of 20 bytes", "input over max_bytes_in");
}

static void integration_tools_config_publish(void) {
  int before = version_count(TOKEN);
  http_resp r;
  cJSON *j = post("/api/config/tools",
                  "{\"version\":\"pub-1\",\"manifests\":[{\"tenant\":\"tenant-demo\",\"id\":"
                  "\"pub.one\",\"version\":\"3.1\",\"handler\":\"builtin:echo\",\"tags\":[\"x\"]}]}",
                  &r);
  is_int(r.status, 200, "publish: 200");
  cJSON *p = cJSON_GetObjectItem(j, "published");
  is_str(json_str(p, "version"), "pub-1", "published.version");
  ok(cJSON_IsTrue(cJSON_GetObjectItem(p, "active")), "published.active true");
  ok(json_num(p, "created_at_ms", 0) > 1.6e12, "published.created_at_ms is epoch ms");
  cJSON *ms = cJSON_GetObjectItem(p, "manifests"), *m;
  int echo = 0, one = 0;
  cJSON_ArrayForEach(m, ms) {
    if (!strcmp(json_str(m, "id"), "demo.echo")) echo = 1;
    if (!strcmp(json_str(m, "id"), "pub.one")) {
      one = 1;
      is_str(json_str(m, "side_effect"), "None", "defaults filled: side_effect None");
      is_str(json_str(m, "safety_class"), "Low", "safety_class Low");
      is_str(json_str(m, "idempotency"), "None", "idempotency None");
      is_str(json_str(m, "display_name"), "", "display_name empty");
      is_int(json_num(m, "limits.timeout_ms", -1), 0, "limits.timeout_ms 0");
      ok(cJSON_IsObject(cJSON_GetObjectItem(m, "input_schema")), "input_schema {}");
      ok(cJSON_IsArray(cJSON_GetObjectItem(m, "scopes")), "scopes []");
    }
  }
  ok(echo && one, "the new version merges the new tool into the active ones");
  cJSON_Delete(j);
  resp_free(&r);
  ok(execute(TOKEN, "pub.one", "{\"k\":1}", NULL) == 200, "the published tool runs at once");

  expect_error("/api/config/tools", TOKEN,
               "{\"version\":\"pub-1\",\"manifests\":[{\"tenant\":\"tenant-demo\",\"id\":\"pub.two\","
               "\"version\":\"1\",\"handler\":\"builtin:echo\"}]}",
               409, "STORAGE.CONFLICT", "tool registry version already exists", "a duplicate version");
  j = post("/api/config/tools",
           "{\"version\":\"pub-1\",\"manifests\":[{\"tenant\":\"tenant-demo\",\"id\":\"pub.two\","
           "\"version\":\"1\",\"handler\":\"builtin:echo\"}]}",
           &r);
  is_str(json_str(j, "message"), "tool registry version already exists", "the exact message");
  cJSON_Delete(j);
  resp_free(&r);
  ok(execute(TOKEN, "pub.two", "{}", NULL) == 403, "nothing of the refused version is active");

  j = get_as(TOKEN, "/api/config/tools", &r);
  is_int(r.status, 200, "GET /api/config/tools: 200");
  cJSON *vs = cJSON_GetObjectItem(j, "versions");
  is_int(cJSON_GetArraySize(vs), before + 1, "one more version");
  is_str(json_str(cJSON_GetArrayItem(vs, 0), "version"), "bootstrap", "bootstrap first");
  cJSON *last = cJSON_GetArrayItem(vs, cJSON_GetArraySize(vs) - 1);
  is_str(json_str(last, "version"), "pub-1", "the new version last");
  ok(cJSON_IsTrue(cJSON_GetObjectItem(last, "active")), "and active");
  int actives = 0;
  cJSON_ArrayForEach(m, vs) actives += cJSON_IsTrue(cJSON_GetObjectItem(m, "active"));
  is_int(actives, 1, "exactly one active version");
  cJSON_Delete(j);
  resp_free(&r);
}

static void integration_tools_config_activate_rollback(void) {
  ok(publish("rb-1", "[{\"tenant\":\"tenant-demo\",\"id\":\"rb.tool\",\"version\":\"1\","
                     "\"handler\":\"builtin:echo\"}]") == 200,
     "publish rb-1 with rb.tool");
  ok(execute(TOKEN, "rb.tool", "{}", NULL) == 200, "rb.tool runs");
  http_resp r;
  cJSON *j = post("/api/config/tools/activate", "{\"version\":\"bootstrap\"}", &r);
  is_int(r.status, 200, "activate bootstrap: 200");
  cJSON *a = cJSON_GetObjectItem(j, "activated");
  is_str(json_str(a, "version"), "bootstrap", "activated.version");
  ok(cJSON_IsTrue(cJSON_GetObjectItem(a, "active")), "activated.active true");
  ok(cJSON_IsArray(cJSON_GetObjectItem(a, "manifests")), "activated.manifests");
  cJSON_Delete(j);
  resp_free(&r);
  ok(execute(TOKEN, "rb.tool", "{}", NULL) == 403, "after the rollback rb.tool is denied");
  ok(execute(TOKEN, "demo.echo", "{}", NULL) == 200, "the bootstrap tool still runs");
  j = get_as(TOKEN, "/api/config/tools", &r);
  is_str(json_str(cJSON_GetArrayItem(cJSON_GetObjectItem(j, "versions"), 0), "version"), "bootstrap",
         "GET lists bootstrap first");
  ok(cJSON_IsTrue(cJSON_GetObjectItem(cJSON_GetArrayItem(cJSON_GetObjectItem(j, "versions"), 0), "active")),
     "and marks it active");
  cJSON_Delete(j);
  resp_free(&r);
  j = post("/api/config/tools/activate", "{\"version\":\"rb-1\"}", &r);
  is_int(r.status, 200, "activate rb-1 again: 200");
  cJSON_Delete(j);
  resp_free(&r);
  ok(execute(TOKEN, "rb.tool", "{}", NULL) == 200, "rb.tool runs again");
  expect_error("/api/config/tools/activate", TOKEN, "{\"version\":\"no-such-version\"}", 404,
               "STORAGE.NOT_FOUND", "no-such-version", "activating an unknown version");
  /* publishing after a rollback merges into the active version */
  j = post("/api/config/tools/activate", "{\"version\":\"bootstrap\"}", &r);
  cJSON_Delete(j);
  resp_free(&r);
  ok(publish("rb-2", "[{\"tenant\":\"tenant-demo\",\"id\":\"rb.two\",\"version\":\"1\","
                     "\"handler\":\"builtin:echo\"}]") == 200,
     "publish rb-2 on top of bootstrap");
  ok(execute(TOKEN, "rb.two", "{}", NULL) == 200 && execute(TOKEN, "rb.tool", "{}", NULL) == 403,
     "rb-2 holds bootstrap's tools plus its own, not rb-1's");
}

static void integration_tools_config_invalid(void) {
  int before = version_count(TOKEN);
  static const struct {
    const char *body, *msg;
    long status;
  } bad[] = {
      {"{\"version\":\"bad-1\",\"manifests\":[{\"tenant\":\"tenant-demo\",\"id\":\"a\",\"version\":"
       "\"1\",\"handler\":\"builtin:echo\"},{\"tenant\":\"tenant-demo\",\"id\":\"b\",\"version\":\"1\"}]}",
       "manifests[1].handler: required", 422},
      {"{\"version\":\"bad-1\",\"manifests\":[{\"tenant\":\"tenant-demo\",\"id\":\"a\",\"version\":"
       "\"1\",\"handler\":\"builtin:echo\",\"limits\":{\"timeout_ms\":-1}}]}",
       "manifests[0].limits.timeout_ms: expected a non-negative integer", 422},
      {"{\"version\":\"bad-1\",\"manifests\":[{\"tenant\":\"tenant-demo\",\"id\":\"a\",\"version\":"
       "\"1\",\"handler\":\"builtin:echo\",\"limits\":{\"timeout_ms\":1.5}}]}",
       "manifests[0].limits.timeout_ms: expected a non-negative integer", 422},
      {"{\"version\":\"bad-1\",\"manifests\":[{\"tenant\":\"tenant-demo\",\"id\":7,\"version\":"
       "\"1\",\"handler\":\"builtin:echo\"}]}",
       "manifests[0].id: expected a string, got number", 422},
      {"{\"version\":\"bad-1\",\"manifests\":[{\"tenant\":\"tenant-demo\",\"id\":null,\"version\":"
       "\"1\",\"handler\":\"builtin:echo\"}]}",
       "manifests[0].id: required", 422},
      {"{\"version\":\"bad-1\",\"manifests\":[{\"tenant\":\"tenant-demo\",\"id\":\"  \",\"version\":"
       "\"1\",\"handler\":\"builtin:echo\"}]}",
       "manifests[0].id: must not be blank", 422},
      {"{\"version\":\"bad-1\",\"manifests\":[{\"tenant\":\"tenant-demo\",\"id\":\"a\",\"version\":"
       "\"1\",\"handler\":\"builtin:nope\"}]}",
       "manifests[0].handler: unknown built-in tool", 422},
      {"{\"version\":\"bad-1\",\"manifests\":[{\"tenant\":\"tenant-demo\",\"id\":\"a\",\"version\":"
       "\"1\",\"handler\":\"httpx://h\"}]}",
       "manifests[0].handler: expected an http:// or https:// URL", 422},
      {"{\"version\":\"bad-1\",\"manifests\":[{\"tenant\":\"tenant-demo\",\"id\":\"a\",\"version\":"
       "\"1\",\"handler\":\"builtin:echo\",\"side_effect\":\"write\"}]}",
       "manifests[0].side_effect: expected one of None, Read, Write", 422},
      {"{\"version\":\"bad-1\",\"manifests\":[{\"tenant\":\"tenant-demo\",\"id\":\"a\",\"version\":"
       "\"1\",\"handler\":\"builtin:echo\",\"tags\":[\"x\",3]}]}",
       "manifests[0].tags[1]: expected a string, got number", 422},
      {"{\"version\":\"bad-1\",\"manifests\":[{\"tenant\":\"tenant-demo\",\"id\":\"a\",\"version\":"
       "\"1\",\"handler\":\"builtin:echo\",\"input_schema\":[]}]}",
       "manifests[0].input_schema: expected an object", 422},
      {"{\"version\":\"bad-1\",\"manifests\":[{\"tenant\":\"tenant-demo\",\"id\":\"a\",\"version\":"
       "\"1\",\"handler\":\"builtin:echo\",\"input_schema\":{\"type\":\"strng\"}}]}",
       "manifests[0].input_schema.type: unknown type \"strng\"", 422},
      {"{\"version\":\"bad-1\",\"manifests\":[{\"tenant\":\"tenant-demo\",\"id\":\"a\",\"version\":"
       "\"1\",\"handler\":\"builtin:echo\",\"input_shema\":{}}]}",
       "manifests[0].input_shema: unknown field", 422},
      {"{\"version\":\"bad-1\",\"manifests\":[{\"tenant\":\"tenant-demo\",\"id\":\"a\",\"version\":"
       "\"1\",\"handler\":\"builtin:echo\"},{\"tenant\":\"tenant-demo\",\"id\":\"a\",\"version\":"
       "\"2\",\"handler\":\"builtin:echo\"}]}",
       "manifests[1].id: \"a\" is already defined", 422},
      {"{\"version\":\"bad-1\",\"manifests\":[\"demo.echo\"]}",
       "manifests[0]: expected an object", 422},
      {"{\"version\":\"bad-1\",\"manifests\":[]}", "manifests must not be empty", 422},
      {"{\"version\":\"bad-1\",\"manifests\":{}}", "manifests: expected an array", 422},
      {"{\"version\":\"bad-1\",\"manifests\":null}", "manifests must not be null", 422},
      {"{\"version\":\"bad-1\"}", "manifests is required", 422},
      {"{\"manifests\":[]}", "version is required", 422},
      {"{\"version\":\"\",\"manifests\":[]}", "version must not be blank", 422},
      {"{\"version\":12,\"manifests\":[]}", "version must be a string", 422},
      {"{\"version\":\"bootstrap\",\"manifests\":[]}", "reserved", 422},
      {"{\"version\":\"bad-1\",\"manifests\":[{\"tenant\":\"tenant-other\",\"id\":\"a\",\"version\":"
       "\"1\",\"handler\":\"builtin:echo\"}]}",
       "manifests[0].tenant is tenant-other", 403},
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    char what[80];
    snprintf(what, sizeof what, "bad publish %zu (%.40s)", i, bad[i].msg);
    expect_error("/api/config/tools", TOKEN, bad[i].body, bad[i].status,
                 bad[i].status == 403 ? "AUTH.FORBIDDEN" : "SCHEMA.VALIDATION_FAILED", bad[i].msg,
                 what);
  }
  is_int(version_count(TOKEN), before, "nothing was published");
  ok(execute(TOKEN, "a", "{}", NULL) == 403, "and no tool a exists");
  expect_error("/api/config/tools/activate", TOKEN, "{}", 422, "SCHEMA.VALIDATION_FAILED",
               "version is required", "activate without a version");
  expect_error("/api/config/tools/activate", TOKEN, "{\"version\":[]}", 422,
               "SCHEMA.VALIDATION_FAILED", "version must be a string", "activate with an array");
}

static void integration_tools_legacy_envelope(void) {
  http_resp r;
  cJSON *j = post("/tenants/tenant-demo/tools.execute",
                  "{\"anchor\":{\"session\":\"s1\"},\"plan\":{\"nodes\":[{\"id\":\"node-1\","
                  "\"tool_id\":\"demo.echo\",\"input\":{\"q\":[1,2]}}]},\"cycle\":{},\"router\":{},"
                  "\"budget\":{}}",
                  &r);
  is_int(r.status, 200, "legacy tools.execute: 200");
  ok(cJSON_IsTrue(cJSON_GetObjectItem(j, "success")), "success true");
  ok(cJSON_IsNull(cJSON_GetObjectItem(j, "error")), "error null");
  char rid[80];
  snprintf(rid, sizeof rid, "%s", resp_header(&r, "X-Request-Id") ? resp_header(&r, "X-Request-Id") : "");
  is_str(json_str(j, "trace_id"), rid, "trace_id is the request id");
  is_str(json_str(j, "data.invocation.tool_id"), "demo.echo", "data.invocation.tool_id");
  is_str(json_str(j, "data.invocation.call_id"), "node-1", "data.invocation.call_id is the node id");
  cJSON *in = cJSON_GetObjectItem(cJSON_GetObjectItem(cJSON_GetObjectItem(j, "data"), "invocation"), "input");
  cJSON *res = cJSON_GetObjectItem(cJSON_GetObjectItem(j, "data"), "result");
  ok(cJSON_IsObject(in) && cJSON_GetArraySize(cJSON_GetObjectItem(in, "q")) == 2, "invocation.input");
  is_str(json_str(res, "tool_id"), "demo.echo", "result.tool_id");
  is_str(json_str(res, "call_id"), "node-1", "result.call_id");
  ok(cJSON_IsTrue(cJSON_GetObjectItem(res, "success")), "result.success true");
  ok(cJSON_Compare(cJSON_GetObjectItem(res, "output"), in, 1), "result.output equals the input");
  ok(cJSON_IsNull(cJSON_GetObjectItem(res, "error")), "result.error null");
  cJSON_Delete(j);
  resp_free(&r);

  static const struct {
    const char *path, *body, *code, *msg;
    long status;
  } bad[] = {
      {"/tenants/tenant-demo/tools.execute", "{\"plan\":{\"nodes\":[{\"tool_id\":\"no.tool\"}]}}",
       "POLICY.DENY_TOOL", "not registered", 403},
      {"/tenants/tenant-demo/tools.execute", "{}", "SCHEMA.VALIDATION_FAILED", "plan is required", 422},
      {"/tenants/tenant-demo/tools.execute", "{\"plan\":[]}", "SCHEMA.VALIDATION_FAILED",
       "plan must be an object", 422},
      {"/tenants/tenant-demo/tools.execute", "{\"plan\":{}}", "SCHEMA.VALIDATION_FAILED",
       "plan.nodes is required", 422},
      {"/tenants/tenant-demo/tools.execute", "{\"plan\":{\"nodes\":[]}}", "SCHEMA.VALIDATION_FAILED",
       "plan.nodes must not be empty", 422},
      {"/tenants/tenant-demo/tools.execute", "{\"plan\":{\"nodes\":[5]}}", "SCHEMA.VALIDATION_FAILED",
       "plan.nodes[0] must be an object", 422},
      {"/tenants/tenant-demo/tools.execute", "{\"plan\":{\"nodes\":[{\"tool_id\":null}]}}",
       "SCHEMA.VALIDATION_FAILED", "plan.nodes[0].tool_id is required", 422},
      {"/tenants/tenant-demo/tools.execute", "{\"plan\":{\"nodes\":[{\"tool_id\":1}]}}",
       "SCHEMA.VALIDATION_FAILED", "plan.nodes[0].tool_id must be a string", 422},
      {"/tenants/tenant-demo/tools.execute", "{\"anchor\":3,\"plan\":{\"nodes\":[{\"tool_id\":\"demo.echo\"}]}}",
       "SCHEMA.VALIDATION_FAILED", "anchor must be an object", 422},
      {"/tenants/tenant-demo/tools.execute", "[]", "SCHEMA.VALIDATION_FAILED",
       "body must be a JSON object", 422},
      {"/tenants/tenant-demo/collab.execute", "{\"plan\":{}}", "SCHEMA.VALIDATION_FAILED",
       "plan.scope is required", 422},
      {"/tenants/tenant-demo/collab.execute", "{\"plan\":{\"scope\":{\"collab_id\":null}}}",
       "SCHEMA.VALIDATION_FAILED", "plan.scope.collab_id is required", 422},
      {"/tenants/tenant-demo/collab.execute",
       "{\"plan\":{\"scope\":{\"collab_id\":\"c\",\"participants\":[\"a\",2]}}}",
       "SCHEMA.VALIDATION_FAILED", "plan.scope.participants[1] must be a string", 422},
      {"/tenants/tenant-demo/collab.execute", "{\"plan\":{\"scope\":{\"collab_id\":\"c\",\"note\":{}}}}",
       "SCHEMA.VALIDATION_FAILED", "plan.scope.note must be a string", 422},
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    j = post(bad[i].path, bad[i].body, &r);
    is_int(r.status, bad[i].status, "legacy failure %zu (%s): status", i, bad[i].msg);
    ok(cJSON_IsFalse(cJSON_GetObjectItem(j, "success")) && cJSON_IsNull(cJSON_GetObjectItem(j, "data")),
       "  success false, data null");
    is_str(json_str(j, "error.code"), bad[i].code, "  error.code");
    has_str(json_str(j, "error.message"), bad[i].msg, "  error.message");
    ok(json_str(j, "trace_id") != NULL, "  trace_id");
    cJSON_Delete(j);
    resp_free(&r);
  }
  /* the path names the tenant: another tenant's path is refused by the pipeline */
  j = post("/tenants/tenant-other/tools.execute", "{\"plan\":{\"nodes\":[{\"tool_id\":\"demo.echo\"}]}}", &r);
  is_int(r.status, 403, "a path naming another tenant: 403");
  cJSON_Delete(j);
  resp_free(&r);

  /* collab.execute: opens, then advances; a resolved collaboration is a 409 envelope */
  j = post("/tenants/tenant-demo/collab.execute",
           "{\"anchor\":{},\"plan\":{\"scope\":{\"collab_id\":\"legacy-c1\",\"participants\":[\"alice\"],"
           "\"context\":{\"topic\":\"x\"},\"note\":\"start\"}}}",
           &r);
  is_int(r.status, 200, "legacy collab.execute: 200");
  ok(cJSON_IsTrue(cJSON_GetObjectItem(j, "success")), "success true");
  is_str(json_str(j, "data.collab_id"), "legacy-c1", "data is the snapshot: collab_id");
  is_str(json_str(j, "data.status"), "in_progress", "status in_progress");
  is_str(json_str(j, "data.tenant"), "tenant-demo", "tenant");
  is_str(json_str(j, "data.context.topic"), "x", "context");
  ok(json_str(j, "trace_id") != NULL, "trace_id");
  cJSON_Delete(j);
  resp_free(&r);
  j = post("/tenants/tenant-demo/collab.execute",
           "{\"plan\":{\"scope\":{\"id\":\"legacy-c1\",\"participants\":[\"bob\"]}}}", &r);
  is_int(r.status, 200, "scope.id also names the collaboration");
  is_int(cJSON_GetArraySize(cJSON_GetObjectItem(cJSON_GetObjectItem(j, "data"), "participants")), 2,
         "participants added");
  cJSON_Delete(j);
  resp_free(&r);
  j = post("/api/collab/resolve", "{\"collab_id\":\"legacy-c1\",\"outcome\":\"done\"}", &r);
  is_int(r.status, 200, "resolve it");
  cJSON_Delete(j);
  resp_free(&r);
  j = post("/tenants/tenant-demo/collab.execute", "{\"plan\":{\"scope\":{\"collab_id\":\"legacy-c1\"}}}", &r);
  is_int(r.status, 409, "a resolved collaboration: 409");
  ok(cJSON_IsFalse(cJSON_GetObjectItem(j, "success")), "in the envelope");
  is_str(json_str(j, "error.code"), "STORAGE.CONFLICT", "error.code STORAGE.CONFLICT");
  cJSON_Delete(j);
  resp_free(&r);
}

static void integration_tools_http_tool(void) {
  char manifests[2048];
  snprintf(manifests, sizeof manifests,
           "[{\"tenant\":\"tenant-demo\",\"id\":\"http.json\",\"version\":\"1\",\"handler\":"
           "\"http://127.0.0.1:%d/json\"},"
           "{\"tenant\":\"tenant-demo\",\"id\":\"http.text\",\"version\":\"1\",\"handler\":"
           "\"http://127.0.0.1:%d/text\"},"
           "{\"tenant\":\"tenant-demo\",\"id\":\"http.fail\",\"version\":\"1\",\"handler\":"
           "\"http://127.0.0.1:%d/fail\"},"
           "{\"tenant\":\"tenant-demo\",\"id\":\"http.headers\",\"version\":\"1\",\"handler\":"
           "\"http://127.0.0.1:%d/headers\"},"
           "{\"tenant\":\"tenant-demo\",\"id\":\"http.slow\",\"version\":\"1\",\"handler\":"
           "\"http://127.0.0.1:%d/slow\",\"limits\":{\"timeout_ms\":300}},"
           "{\"tenant\":\"tenant-demo\",\"id\":\"http.small\",\"version\":\"1\",\"handler\":"
           "\"http://127.0.0.1:%d/json\",\"limits\":{\"max_bytes_out\":10}},"
           "{\"tenant\":\"tenant-demo\",\"id\":\"http.gone\",\"version\":\"1\",\"handler\":"
           "\"http://127.0.0.1:1/json\"}]",
           upstream_port, upstream_port, upstream_port, upstream_port, upstream_port,
           upstream_port);
  ok(upstream_port > 0 && publish("http-1", manifests) == 200, "publish HTTP tools");
  cJSON *j;
  ok(execute(TOKEN, "http.json", "{\"a\":[1,\"b\"]}", &j) == 200, "an HTTP tool answering JSON: 200");
  cJSON *want = cJSON_Parse("{\"a\":[1,\"b\"]}");
  ok(cJSON_Compare(cJSON_GetObjectItem(j, "result"), want, 1), "the upstream's JSON is the result");
  is_str(json_str(j, "status"), "ok", "status ok");
  cJSON_Delete(want);
  cJSON_Delete(j);
  http_resp r;
  j = post("/api/tools/execute", "{\"tool_id\":\"http.headers\",\"call_id\":\"c-42\",\"input\":{}}", &r);
  is_str(json_str(j, "result.tenant"), "tenant-demo", "the upstream sees X-Soul-Tenant");
  is_str(json_str(j, "result.call_id"), "c-42", "and X-Soul-Call-Id");
  is_str(json_str(j, "result.tool"), "http.headers", "and X-Soul-Tool");
  cJSON_Delete(j);
  resp_free(&r);
  expect_error("/api/tools/execute", TOKEN, "{\"tool_id\":\"http.text\",\"input\":{}}", 503,
               "PROVIDER.UNAVAILABLE", "not JSON", "an upstream answering text");
  expect_error("/api/tools/execute", TOKEN, "{\"tool_id\":\"http.fail\",\"input\":{}}", 503,
               "PROVIDER.UNAVAILABLE", "tool http.fail: the tool's upstream failed",
               "an upstream answering 500");
  ok(gw_wait_log(&gw, "\"tool\":\"http.fail\"", 1, 5000) && gw_log_has(&gw, "\"status\":500"),
     "its status is in the log");
  expect_error("/api/tools/execute", TOKEN, "{\"tool_id\":\"http.gone\",\"input\":{}}", 503,
               "PROVIDER.UNAVAILABLE", "tool http.gone: the tool's upstream failed",
               "an upstream that is not there");
  long long t0 = now_ms();
  expect_error("/api/tools/execute", TOKEN, "{\"tool_id\":\"http.slow\",\"input\":{}}", 504,
               "LLM.TIMEOUT", "within 300 ms", "an upstream slower than timeout_ms");
  ok(now_ms() - t0 < 2500, "the timeout answers before the upstream does");
  expect_error("/api/tools/execute", TOKEN,
               "{\"tool_id\":\"http.small\",\"input\":{\"long\":\"0123456789\"}}", 503,
               "PROVIDER.UNAVAILABLE", "max_bytes_out", "an answer over max_bytes_out");
}

typedef struct bg {
  long status;
} bg;

static void *bg_execute(void *arg) {
  bg *b = arg;
  b->status = execute(TOKEN, "http.one", "{}", NULL);
  return NULL;
}

static void integration_tools_max_concurrency(void) {
  char manifests[512];
  snprintf(manifests, sizeof manifests,
           "[{\"tenant\":\"tenant-demo\",\"id\":\"http.one\",\"version\":\"1\",\"handler\":"
           "\"http://127.0.0.1:%d/slow\",\"limits\":{\"timeout_ms\":2000,\"max_concurrency\":1}}]",
           upstream_port);
  ok(publish("conc-1", manifests) == 200, "publish a slow HTTP tool with max_concurrency 1");
  bg b = {0};
  pthread_t t;
  int before = atomic_load(&slow_arrivals);
  pthread_create(&t, NULL, bg_execute, &b);
  for (int i = 0; i < 500 && atomic_load(&slow_arrivals) == before; i++) sleep_ms(10);
  ok(atomic_load(&slow_arrivals) > before, "the first run is waiting on the slow upstream");
  http_resp r;
  cJSON *j = post("/api/tools/execute", "{\"tool_id\":\"http.one\",\"input\":{}}", &r);
  is_int(r.status, 429, "a second run over max_concurrency 1: 429");
  is_str(json_str(j, "code"), "QUOTA.RATE_LIMITED", "QUOTA.RATE_LIMITED");
  has_str(json_str(j, "message"), "max_concurrency", "the message names the limit");
  cJSON_Delete(j);
  resp_free(&r);
  pthread_join(t, NULL);
  is_int(b.status, 504, "the first run timed out on its own terms");
}

static void integration_tools_metrics(void) {
  char manifests[512];
  snprintf(manifests, sizeof manifests,
           "[{\"tenant\":\"tenant-demo\",\"id\":\"metric.fail\",\"version\":\"1\",\"handler\":"
           "\"http://127.0.0.1:%d/fail\"}]",
           upstream_port);
  ok(publish("metrics-1", manifests) == 200, "publish a failing HTTP tool");
  ok(execute(TOKEN, "demo.echo", "{}", NULL) == 200, "run demo.echo");
  ok(execute(TOKEN, "metric.fail", "{}", NULL) == 503, "run metric.fail");
  http_resp r;
  http_get(&gw, "/metrics", &r);
  has_str(r.body, "soulgw_tool_invocations_total{tool=\"demo.echo\",status=\"ok\"}",
          "invocations counted by tool and status ok");
  has_str(r.body, "soulgw_tool_invocations_total{tool=\"metric.fail\",status=\"error\"} 1",
          "and status error");
  ok(!strstr(r.body, "tool=\"no.such.tool\""), "unknown tools are not counted");
  resp_free(&r);
}

static void integration_tools_bad_input(void) {
  static const char *const json_routes[] = {"/api/tools/execute", "/api/tools/preflight",
                                            "/api/tools/list", "/api/config/tools",
                                            "/api/config/tools/activate"};
  ok(publish("bad-open", "[{\"tenant\":\"tenant-demo\",\"id\":\"big.open\",\"version\":\"1\","
                         "\"handler\":\"builtin:echo\"}]") == 200,
     "publish a tool without limits");
  int before = version_count(TOKEN);
  for (size_t i = 0; i < sizeof json_routes / sizeof json_routes[0]; i++)
    check_malformed_bodies(&gw, json_routes[i], TOKEN);
  static const struct {
    const char *path, *body, *msg;
  } bad[] = {
      {"/api/tools/execute", "{}", "tool_id is required"},
      {"/api/tools/execute", "{\"tool_id\":null}", "tool_id must not be null"},
      {"/api/tools/execute", "{\"tool_id\":5}", "tool_id must be a string"},
      {"/api/tools/execute", "{\"tool_id\":[\"demo.echo\"]}", "tool_id must be a string"},
      {"/api/tools/execute", "{\"tool_id\":\"\"}", "tool_id must not be blank"},
      {"/api/tools/execute", "{\"tool_id\":\"demo.echo\",\"call_id\":1}", "call_id must be a string"},
      {"/api/tools/execute", "{\"tool_id\":\"demo.echo\",\"idempotency_key\":{}}",
       "idempotency_key must be a string"},
      {"/api/tools/execute", "{\"tool_id\":\"demo.echo\",\"actor\":\"me\"}", "actor must be an object"},
      {"/api/tools/execute", "{\"tool_id\":\"demo.echo\",\"actor\":{\"kind\":1}}",
       "actor.kind must be a string"},
      {"/api/tools/execute", "{\"tool_id\":\"demo.echo\",\"actor\":{\"claims\":[]}}",
       "actor.claims must be an object"},
      {"/api/tools/execute", "{\"tool_id\":\"demo.echo\",\"origin\":5}", "origin must be"},
      {"/api/tools/execute", "{\"tool_id\":\"demo.echo\",\"tenant\":5}", "tenant must be a string"},
      {"/api/tools/preflight", "{}", "tool_id is required"},
      {"/api/tools/preflight", "{\"tool_id\":true}", "tool_id must be a string"},
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
    expect_error(bad[i].path, TOKEN, bad[i].body, 422, "SCHEMA.VALIDATION_FAILED", bad[i].msg,
                 bad[i].body);

  /* a 1 MB string where an id belongs, and as input of a tool with a byte limit */
  char *big = repeat_char('x', 1u << 20);
  size_t n = (1u << 20) + 256;
  char *body = malloc(n);
  snprintf(body, n, "{\"tool_id\":\"%s\"}", big);
  expect_error("/api/tools/execute", TOKEN, body, 422, "SCHEMA.VALIDATION_FAILED",
               "tool_id is 1048576 bytes long", "a 1 MB tool_id");
  snprintf(body, n, "{\"tool_id\":\"demo.echo\",\"idempotency_key\":\"%s\"}", big);
  expect_error("/api/tools/execute", TOKEN, body, 422, "SCHEMA.VALIDATION_FAILED",
               "idempotency_key is 1048576 bytes long", "a 1 MB idempotency_key");
  snprintf(body, n, "{\"tool_id\":\"demo.echo\",\"input\":{\"s\":\"%s\"}}", big);
  expect_error("/api/tools/execute", TOKEN, body, 413, "REQUEST.TOO_LARGE", "max_bytes_in",
               "a 1 MB input to demo.echo (max_bytes_in 65536)");
  snprintf(body, n, "{\"tool_id\":\"big.open\",\"input\":{\"s\":\"%s\"}}", big);
  http_resp r;
  cJSON *j = post("/api/tools/execute", body, &r);
  is_int(r.status, 200, "a 1 MB input to a tool without limits: 200");
  is_int(strlen(json_str(j, "result.s") ? json_str(j, "result.s") : ""), 1u << 20,
         "and the result is the whole input");
  cJSON_Delete(j);
  resp_free(&r);
  snprintf(body, n, "{\"version\":\"%s\",\"manifests\":[]}", big);
  expect_error("/api/config/tools", TOKEN, body, 422, "SCHEMA.VALIDATION_FAILED",
               "version is 1048576 bytes long", "a 1 MB version");
  snprintf(body, n,
           "{\"version\":\"big-desc\",\"manifests\":[{\"tenant\":\"tenant-demo\",\"id\":\"d\","
           "\"version\":\"1\",\"handler\":\"builtin:echo\",\"description\":\"%s\"}]}",
           big);
  expect_error("/api/config/tools", TOKEN, body, 422, "SCHEMA.VALIDATION_FAILED",
               "manifests[0].description: longer than 4096 bytes", "a 1 MB description");
  snprintf(body, n, "{\"plan\":{\"nodes\":[{\"tool_id\":\"%s\"}]}}", big);
  j = post("/tenants/tenant-demo/tools.execute", body, &r);
  is_int(r.status, 422, "a 1 MB legacy tool_id: 422");
  has_str(json_str(j, "error.message"), "longer than 256 bytes", "  naming the limit");
  cJSON_Delete(j);
  resp_free(&r);
  free(big);

  /* 10,000-element arrays */
  {
    size_t cap = 10000 * 120 + 256, len = 0;
    char *arr = malloc(cap);
    len += (size_t)snprintf(arr + len, cap - len, "{\"version\":\"ten-k\",\"manifests\":[");
    for (int i = 0; i < 10000; i++)
      len += (size_t)snprintf(arr + len, cap - len,
                              "%s{\"tenant\":\"tenant-demo\",\"id\":\"t%d\",\"version\":\"1\","
                              "\"handler\":\"builtin:echo\"}",
                              i ? "," : "", i);
    snprintf(arr + len, cap - len, "]}");
    expect_error("/api/config/tools", TOKEN, arr, 422, "SCHEMA.VALIDATION_FAILED",
                 "10000 manifests; at most 1000", "10,000 manifests");
    len = (size_t)snprintf(arr, cap, "{\"tool_id\":\"demo.echo\",\"input\":{\"a\":[");
    for (int i = 0; i < 10000; i++) len += (size_t)snprintf(arr + len, cap - len, "%s%d", i ? "," : "", i);
    snprintf(arr + len, cap - len, "]}}");
    j = post("/api/tools/execute", arr, &r);
    is_int(r.status, 200, "a 10,000-element input array within max_bytes_in: 200");
    is_int(cJSON_GetArraySize(cJSON_GetObjectItem(cJSON_GetObjectItem(j, "result"), "a")), 10000,
           "  echoed whole");
    cJSON_Delete(j);
    resp_free(&r);
    len = (size_t)snprintf(arr, cap, "{\"plan\":{\"scope\":{\"collab_id\":\"ten-k\",\"participants\":[");
    for (int i = 0; i < 10000; i++) len += (size_t)snprintf(arr + len, cap - len, "%s\"p%d\"", i ? "," : "", i);
    snprintf(arr + len, cap - len, "]}}}");
    j = post("/tenants/tenant-demo/collab.execute", arr, &r);
    is_int(r.status, 422, "10,000 legacy participants: 422");
    has_str(json_str(j, "error.message"), "at most 1000", "  naming the limit");
    cJSON_Delete(j);
    resp_free(&r);
    free(arr);
  }
  free(body);
  is_int(version_count(TOKEN), before, "no bad request published a version");
  /* the legacy routes: the pipeline refuses malformed JSON in the routes' envelope */
  expect_envelope("/tenants/tenant-demo/tools.execute", "{\"plan\":1,\"plan\":2}", 422,
                  "SCHEMA.VALIDATION_FAILED", "duplicate key", "a legacy body with a duplicate key");
  expect_envelope("/tenants/tenant-demo/collab.execute", "{\"plan\":", 422,
                  "SCHEMA.VALIDATION_FAILED", "JSON", "a truncated legacy body");
  http_get(&gw, "/health", &r);
  is_int(r.status, 200, "the gateway keeps serving");
  resp_free(&r);
}

/* Idempotency, then a restart: keys, versions and the active registry survive it. */
static void integration_tools_idempotency_and_restart(void) {
  ok(publish("idem-1", "[{\"tenant\":\"tenant-demo\",\"id\":\"idem.other\",\"version\":\"1\","
                       "\"handler\":\"builtin:echo\"}]") == 200,
     "publish a second tool");
  ok(publish("idem-2", "[{\"tenant\":\"tenant-demo\",\"id\":\"idem.later\",\"version\":\"1\","
                       "\"handler\":\"builtin:echo\"}]") == 200,
     "and a third in a later version");
  http_resp act;
  cJSON *aj = post("/api/config/tools/activate", "{\"version\":\"idem-1\"}", &act);
  is_int(act.status, 200, "roll back to the version before");
  cJSON_Delete(aj);
  resp_free(&act);
  const char *first = "{\"tool_id\":\"demo.echo\",\"idempotency_key\":\"key-1\",\"input\":{\"n\":1}}";
  http_resp r1, r2;
  cJSON *j1 = post("/api/tools/execute", first, &r1);
  is_int(r1.status, 200, "first call with a key: 200");
  ok(resp_header(&r1, "Idempotent-Replayed") == NULL, "not a replay");
  cJSON *j2 = post("/api/tools/execute", first, &r2);
  is_int(r2.status, 200, "same key, same input: 200");
  is_str(resp_header(&r2, "Idempotent-Replayed"), "true", "Idempotent-Replayed: true");
  is_str(r2.body, r1.body, "the stored answer, byte for byte");
  is_str(json_str(j2, "call_id"), json_str(j1, "call_id"), "the original call_id");
  cJSON_Delete(j1);
  cJSON_Delete(j2);
  resp_free(&r2);
  char *stored = strdup(r1.body);
  resp_free(&r1);
  expect_error("/api/tools/execute", TOKEN,
               "{\"tool_id\":\"demo.echo\",\"idempotency_key\":\"key-1\",\"input\":{\"n\":2}}", 409,
               "STORAGE.CONFLICT", "idempotency key reused with other input", "same key, other input");
  expect_error("/api/tools/execute", TOKEN,
               "{\"tool_id\":\"idem.other\",\"idempotency_key\":\"key-1\",\"input\":{\"n\":1}}", 409,
               "STORAGE.CONFLICT", "idempotency key reused with other input", "same key, other tool");
  /* input equality ignores member order */
  http_resp r;
  cJSON_Delete(post("/api/tools/execute", "{\"tool_id\":\"demo.echo\",\"idempotency_key\":\"key-2\",\"input\":{\"a\":1,\"b\":2}}", &r));
  resp_free(&r);
  cJSON_Delete(post("/api/tools/execute", "{\"input\":{\"b\":2,\"a\":1},\"idempotency_key\":\"key-2\",\"tool_id\":\"demo.echo\"}", &r));
  is_str(resp_header(&r, "Idempotent-Replayed"), "true", "equal input in another member order replays");
  resp_free(&r);
  /* keys are per tenant */
  cJSON_Delete(post_as("other-token", "/api/config/tools",
          "{\"version\":\"o-1\",\"manifests\":[{\"tenant\":\"tenant-other\",\"id\":\"demo.echo\","
          "\"version\":\"9\",\"handler\":\"builtin:echo\"}]}", &r));
  is_int(r.status, 200, "another tenant publishes its own demo.echo");
  resp_free(&r);
  cJSON_Delete(post_as("other-token", "/api/tools/execute", "{\"tool_id\":\"demo.echo\",\"idempotency_key\":\"key-1\",\"input\":{\"n\":5}}", &r));
  is_int(r.status, 200, "the same key in another tenant is another key");
  ok(resp_header(&r, "Idempotent-Replayed") == NULL, "  and runs");
  resp_free(&r);

  int versions = version_count(TOKEN);
  http_resp before;
  cJSON_Delete(get_as(TOKEN, "/api/config/tools", &before));
  gw.keep_db = 1;
  is_int(gw_stop(&gw), 0, "stop (keeping the database)");
  if (!ok(gw_restart(&gw, NULL) == 0, "restart on the same database")) {
    free(stored);
    resp_free(&before);
    return;
  }
  gw.keep_db = 0;
  cJSON_Delete(post("/api/tools/execute", first, &r));
  is_int(r.status, 200, "after the restart the key replays: 200");
  is_str(resp_header(&r, "Idempotent-Replayed"), "true", "  with Idempotent-Replayed: true");
  is_str(r.body, stored, "  the answer stored before the restart");
  resp_free(&r);
  expect_error("/api/tools/execute", TOKEN,
               "{\"tool_id\":\"demo.echo\",\"idempotency_key\":\"key-1\",\"input\":{\"n\":3}}", 409,
               "STORAGE.CONFLICT", "idempotency key reused", "and other input still conflicts");
  is_int(version_count(TOKEN), versions, "the registry versions survive the restart");
  http_resp after;
  cJSON_Delete(get_as(TOKEN, "/api/config/tools", &after));
  is_str(after.body, before.body, "  unchanged, active flags included");
  resp_free(&after);
  resp_free(&before);
  ok(execute(TOKEN, "idem.other", "{}", NULL) == 200 && execute(TOKEN, "idem.later", "{}", NULL) == 403,
     "the active version is the one active before the restart (not the newest)");
  ok(execute("other-token", "demo.echo", "{}", NULL) == 200, "another tenant's registry too");
  free(stored);
}

/* A C tool registered by the host (test/helpers/testhost.c). */
static void integration_tools_host_tool(void) {
  gwproc host;
  memset(&host, 0, sizeof host);
  if (!ok(gw_start(&host, harness_testhost_bin(), TOML, NULL, NULL) == 0, "the test host starts"))
    return;
  gwproc saved = gw;
  gw = host;
  ok(publish("host-1",
             "[{\"tenant\":\"tenant-demo\",\"id\":\"host.upper\",\"version\":\"1\",\"handler\":"
             "\"test.upper\",\"input_schema\":{\"type\":\"object\",\"required\":[\"text\"]}},"
             "{\"tenant\":\"tenant-demo\",\"id\":\"host.fail\",\"version\":\"1\",\"handler\":\"test.fail\"},"
             "{\"tenant\":\"tenant-demo\",\"id\":\"host.none\",\"version\":\"1\",\"handler\":\"test.missing\"}]") == 200,
     "publish tools bound to host C tools");
  cJSON *j;
  ok(execute(TOKEN, "host.upper", "{\"text\":\"hello\"}", &j) == 200, "a C tool: 200");
  is_str(json_str(j, "result.text"), "HELLO", "its output is the result");
  is_str(json_str(j, "tool_version"), "1", "tool_version");
  cJSON_Delete(j);
  expect_error("/api/tools/execute", TOKEN, "{\"tool_id\":\"host.upper\",\"input\":{}}", 422,
               "SCHEMA.VALIDATION_FAILED", "input.text: required", "its input is checked first");
  expect_error("/api/tools/execute", TOKEN, "{\"tool_id\":\"host.fail\",\"input\":{}}", 503,
               "PROVIDER.UNAVAILABLE", "tool host.fail failed: the test tool failed",
               "a C tool that fails");
  expect_error("/api/tools/execute", TOKEN, "{\"tool_id\":\"host.none\",\"input\":{}}", 503,
               "PROVIDER.UNAVAILABLE", "test.missing", "a handler no host tool is registered under");
  http_resp r;
  cJSON *k = post("/tenants/tenant-demo/tools.execute",
                  "{\"plan\":{\"nodes\":[{\"id\":\"n\",\"tool_id\":\"host.fail\",\"input\":{}}]}}", &r);
  is_int(r.status, 503, "a failing tool through the legacy route: 503");
  is_str(json_str(k, "error.code"), "PROVIDER.UNAVAILABLE", "  in the envelope");
  cJSON_Delete(k);
  resp_free(&r);
  http_get(&gw, "/metrics", &r);
  has_str(r.body, "soulgw_tool_invocations_total{tool=\"host.upper\",status=\"ok\"} 1",
          "the C tool's run is counted");
  resp_free(&r);
  gw = saved;
  is_int(gw_stop(&host), 0, "the test host stops cleanly");
}


/* Writes text to dir/name and returns the path (static buffer). */
static const char *write_in(const char *dir, const char *name, const char *text) {
  static char path[512];
  snprintf(path, sizeof path, "%s/%s", dir, name);
  FILE *f = fopen(path, "w");
  if (f) {
    fputs(text, f);
    fclose(f);
  }
  return path;
}

/* Starts soulgw on a manifests file that must be refused: exit 78, message in the output. */
static void refuse_bootstrap(const char *dir, const char *manifests, const char *want,
                             const char *what) {
  char toml[1024], db[600], cfg[600], mf[600];
  snprintf(mf, sizeof mf, "%s", manifests ? write_in(dir, "manifests.json", manifests)
                                          : "/nonexistent/manifests.json");
  snprintf(toml, sizeof toml,
           "[server]\naddress = \"127.0.0.1\"\nport = 0\n[auth.tokens.local]\ntenant = \"t\"\n"
           "token = \"x\"\nscopes = [\"*\"]\n[tools]\nmanifests_file = \"%s\"\n", mf);
  snprintf(cfg, sizeof cfg, "%s", write_in(dir, "gateway.toml", toml));
  snprintf(db, sizeof db, "%s/boot.db", dir);
  const char *argv[] = {harness_soulgw_bin(), "--config", cfg, "--db", db, NULL};
  char *out = NULL;
  int st = run_cmd(argv, NULL, &out);
  is_int(st, 78, "%s: exit status 78", what);
  has_str(out, want, "%s: the message names the file and field", what);
  free(out);
}

static void integration_tools_bootstrap_file(void) {
  char dir[] = "/tmp/soulgw-boot-XXXXXX";
  if (!ok(mkdtemp(dir) != NULL, "a temporary directory")) return;
  char want[700];
  snprintf(want, sizeof want, "%s/manifests.json: manifests[1].handler: required", dir);
  refuse_bootstrap(dir,
                   "[{\"tenant\":\"t\",\"id\":\"a\",\"version\":\"1\",\"handler\":\"builtin:echo\"},"
                   "{\"tenant\":\"t\",\"id\":\"b\",\"version\":\"1\"}]",
                   want, "a manifest without a handler");
  snprintf(want, sizeof want, "%s/manifests.json: manifests[0].limits.timeout_ms: expected a non-negative integer", dir);
  refuse_bootstrap(dir,
                   "[{\"tenant\":\"t\",\"id\":\"a\",\"version\":\"1\",\"handler\":\"builtin:echo\","
                   "\"limits\":{\"timeout_ms\":\"fast\"}}]",
                   want, "a limit of the wrong type");
  snprintf(want, sizeof want, "%s/manifests.json: not valid JSON", dir);
  refuse_bootstrap(dir, "[{\"tenant\":", want, "a file that is not JSON");
  snprintf(want, sizeof want, "%s/manifests.json: manifests: expected an array", dir);
  refuse_bootstrap(dir, "{\"tenant\":\"t\"}", want, "a file that is not an array");
  refuse_bootstrap(dir, NULL, "/nonexistent/manifests.json: cannot open", "a missing file");

  /* a good file naming two tenants bootstraps both */
  char toml[1024];
  const char *mf = write_in(dir, "manifests.json",
                            "[{\"tenant\":\"tenant-demo\",\"id\":\"boot.a\",\"version\":\"1\",\"handler\":\"builtin:echo\"},"
                            "{\"tenant\":\"tenant-other\",\"id\":\"boot.b\",\"version\":\"2\",\"handler\":\"builtin:echo\"}]");
  snprintf(toml, sizeof toml,
           "[server]\naddress = \"127.0.0.1\"\nport = 0\n[auth.tokens.local]\ntenant = \"tenant-demo\"\n"
           "token_env = \"GATEWAY_TOKEN_LOCAL\"\nscopes = [\"*\"]\n[auth.tokens.other]\n"
           "tenant = \"tenant-other\"\ntoken = \"other-token\"\nscopes = [\"*\"]\n[tools]\n"
           "manifests_file = \"%s\"\n", mf);
  gwproc saved = gw, boot;
  memset(&boot, 0, sizeof boot);
  if (ok(gw_start(&boot, harness_soulgw_bin(), toml, NULL, NULL) == 0, "a file naming two tenants: starts")) {
    gw = boot;
    ok(execute(TOKEN, "boot.a", "{}", NULL) == 200 && execute(TOKEN, "boot.b", "{}", NULL) == 403,
       "tenant-demo has its bootstrap tool, and only it");
    cJSON *j;
    ok(execute("other-token", "boot.b", "{}", &j) == 200, "tenant-other has its own");
    is_str(json_str(j, "tool_version"), "2", "  at its version");
    cJSON_Delete(j);
    http_resp r;
    j = get_as("other-token", "/api/config/tools", &r);
    cJSON *vs = cJSON_GetObjectItem(j, "versions");
    ok(cJSON_GetArraySize(vs) == 1 && !strcmp(json_str(cJSON_GetArrayItem(vs, 0), "version"), "bootstrap"),
       "each tenant's versions begin with bootstrap");
    cJSON_Delete(j);
    resp_free(&r);
    is_int(gw_stop(&boot), 0, "stops cleanly");
  }
  gw = saved;
  const char *rm[] = {"rm", "-rf", dir, NULL};
  run_cmd(rm, NULL, NULL);
}

static const tap_test tests[] = {
    TEST(integration_tools_preflight_allow_deny),
    TEST(integration_tools_list),
    TEST(integration_tools_schema_validation),
    TEST(integration_tools_deny_tool),
    TEST(integration_tools_max_bytes_in),
    TEST(integration_tools_config_publish),
    TEST(integration_tools_config_activate_rollback),
    TEST(integration_tools_config_invalid),
    TEST(integration_tools_legacy_envelope),
    TEST(integration_tools_http_tool),
    TEST(integration_tools_max_concurrency),
    TEST(integration_tools_metrics),
    TEST(integration_tools_bad_input),
    TEST(integration_tools_idempotency_and_restart),
    TEST(integration_tools_host_tool),
    TEST(integration_tools_bootstrap_file),
};

int main(void) {
  if (!tap_want(tests, TAP_COUNT(tests))) return tap_done();
  upstream_port = upstream_start();
  if (gw_start(&gw, harness_soulgw_bin(), TOML, NULL, NULL) != 0) {
    ok(0, "gateway starts");
    return tap_done();
  }
  tap_run(tests, TAP_COUNT(tests));
  is_int(gw_stop(&gw), 0, "SIGTERM: exit status 0");
  return tap_done();
}
