/*
 * fields.c -- the 422 answers of the routes' field getter (lib/routes/fields.c), word for word:
 * every kind of field and every message form, on the routes that read them, and which mistake
 * is named first when a request holds several (the order of the route's fields).
 */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "tap.h"

static gwproc gw;
#define TOKEN "test-token"
#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

typedef struct field_case {
  const char *path, *body, *message;
} field_case;

/* Each body answers 422 SCHEMA.VALIDATION_FAILED with exactly the message. */
static void expect_messages(const field_case *c, size_t n) {
  for (size_t i = 0; i < n; i++) {
    cJSON *j = NULL;
    long st = post_json(&gw, TOKEN, c[i].path, c[i].body, &j);
    const char *code = json_str(j, "code"), *msg = json_str(j, "message");
    int good = st == 422 && code && !strcmp(code, "SCHEMA.VALIDATION_FAILED") && msg &&
               !strcmp(msg, c[i].message);
    if (!ok(good, "%s %.80s: \"%s\"", c[i].path, c[i].body, c[i].message))
      tap_diag("  got %ld %s: \"%s\"", st, code ? code : "-", msg ? msg : "(no message)");
    cJSON_Delete(j);
  }
}

/* {"<key>":<n nested arrays>, ...rest} */
static char *deep(const char *head, int n, const char *tail) {
  size_t len = strlen(head) + 2 * (size_t)n + strlen(tail) + 1;
  char *s = malloc(len);
  if (!s) return NULL;
  char *p = s + sprintf(s, "%s", head);
  for (int i = 0; i < n; i++) *p++ = '[';
  for (int i = 0; i < n; i++) *p++ = ']';
  strcpy(p, tail);
  return s;
}

/* A JSON array of n strings "p0", "p1", ... */
static char *many(const char *head, int n, const char *tail) {
  size_t len = strlen(head) + 16 * (size_t)n + strlen(tail) + 1;
  char *s = malloc(len);
  if (!s) return NULL;
  char *p = s + sprintf(s, "%s[", head);
  for (int i = 0; i < n; i++) p += sprintf(p, "%s\"p%d\"", i ? "," : "", i);
  sprintf(p, "]%s", tail);
  return s;
}

static void integration_fields_ids_and_text(void) {
  static const char X[] = "/api/collab/execute";
  char long_id[300], long_model[600];
  snprintf(long_id, sizeof long_id, "{\"collab_id\":\"%0257d\"}", 0);
  snprintf(long_model, sizeof long_model, "{\"prompt\":\"x\",\"model\":\"%0513d\"}", 0);
  const field_case cases[] = {
      {X, "[]", "body must be a JSON object, not an array"},
      {X, "{}", "collab_id is required"},
      {X, "{\"collab_id\":null}", "collab_id must not be null"},
      {X, "{\"collab_id\":7}", "collab_id must be a string, not a number"},
      {X, "{\"collab_id\":\"  \"}", "collab_id must not be blank"},
      {X, "{\"collab_id\":\"\"}", "collab_id must not be blank"},
      {X, "{\"collab_id\":\"\\t\"}", "collab_id must not be blank"},
      {X, "{\"collab_id\":\"a\\u0001\"}", "collab_id must not contain control characters"},
      {X, "{\"collab_id\":\"a\\u007f\"}", "collab_id must not contain control characters"},
      {X, long_id, "collab_id is 257 bytes long; at most 256"},
      {X, "{\"collab_id\":\"f\",\"participants\":\"x\"}", "participants must be an array, not a string"},
      {X, "{\"collab_id\":\"f\",\"participants\":[1]}", "participants[0] must be a string, not a number"},
      {X, "{\"collab_id\":\"f\",\"participants\":[\"a\",\" \"]}", "participants[1] must not be blank"},
      {X, "{\"collab_id\":\"f\",\"note\":5}", "note must be a string, not a number"},
      {X, "{\"collab_id\":\"f\",\"note\":5,\"participants\":[null]}",
       "participants[0] must be a string, not null"},
      {"/api/tools/execute", "{\"tool_id\":\"x\",\"call_id\":\"\"}", "call_id must not be blank"},
      {"/api/tools/execute", "{\"tool_id\":\"x\",\"idempotency_key\":3}",
       "idempotency_key must be a string, not a number"},
      {"/api/tools/preflight", "{}", "tool_id is required"},
      {"/api/config/tools", "{\"manifests\":[]}", "version is required"},
      {"/api/config/tools", "{\"version\":\"v\"}", "manifests is required"},
      {"/api/config/tools", "{\"version\":\"v\",\"manifests\":null}", "manifests must not be null"},
      {"/api/config/tools/activate", "{\"version\":5}", "version must be a string, not a number"},
      {"/api/llm/complete", long_model, "model is 513 bytes long; at most 512"},
      {"/api/llm/complete", "{\"prompt\":\"x\",\"model\":7}", "model must be a string, not a number"},
  };
  expect_messages(cases, COUNT(cases));
  char *big = many("{\"collab_id\":\"f\",\"participants\":", 1001, "}");
  const field_case more[] = {{X, big, "participants has 1001 elements; at most 1000"}};
  expect_messages(more, COUNT(more));
  free(big);
}

static void integration_fields_values_and_objects(void) {
  static const char A[] = "/api/repo/append";
  char *ctx = deep("{\"collab_id\":\"f\",\"note\":5,\"context\":", 129, "}");
  char *out = deep("{\"collab_id\":\"f\",\"outcome\":", 129, "}");
  const field_case cases[] = {
      {"/api/collab/execute", ctx, "context nests deeper than 128 levels of arrays and objects"},
      {"/api/collab/resolve", out, "outcome nests deeper than 128 levels of arrays and objects"},
      {A, "{\"repo\":\"r\"}", "data is required"},
      {A, "{\"repo\":\"r\",\"data\":null}", "data must not be null"},
      {A, "{\"repo\":\"r\",\"data\":1,\"edges\":{}}", "edges must be an array, not an object"},
      {A, "{\"repo\":\"r\",\"data\":1,\"edges\":[1]}", "edges[0] must be an object {to, from, label, props}"},
      {A, "{\"repo\":\"r\",\"data\":1,\"edges\":[{}]}", "edges[0].to is required"},
      {A, "{\"repo\":\"r\",\"data\":1,\"edges\":[{\"to\":\"a\"},{\"to\":null}]}", "edges[1].to must not be null"},
      {A, "{\"repo\":\"r\",\"data\":1,\"edges\":[{\"to\":\"a\",\"label\":1,\"props\":1}]}",
       "edges[0].label must be a string, not a number"},
      {A, "{\"repo\":\"r\",\"data\":1,\"edges\":[{\"to\":\"a\",\"props\":1}]}",
       "edges[0].props must be an object, not a number"},
      {"/api/tools/execute", "{\"tool_id\":\"x\",\"actor\":\"me\"}", "actor must be an object, not a string"},
      {"/api/tools/execute", "{\"tool_id\":\"x\",\"actor\":{\"kind\":1}}", "actor.kind must be a string, not a number"},
      {"/api/tools/execute", "{\"tool_id\":\"x\",\"actor\":{\"subject_id\":\" \"}}", "actor.subject_id must not be blank"},
      {"/api/tools/execute", "{\"tool_id\":\"x\",\"actor\":{\"claims\":[]}}", "actor.claims must be an object, not an array"},
      {"/api/tools/execute", "{\"tool_id\":\"x\",\"origin\":5}", "origin must be a string or an object"},
      {"/api/tools/execute", "{\"tool_id\":\"x\",\"origin\":5,\"actor\":{\"kind\":true}}",
       "actor.kind must be a string, not a boolean"},
  };
  expect_messages(cases, COUNT(cases));
  free(ctx);
  free(out);
}

static void integration_fields_numbers_and_enums(void) {
  static const char T[] = "/api/collab/timeline", G[] = "/api/graph/recall";
  const field_case cases[] = {
      {T, "{\"collab_id\":\"f\",\"after\":\"x\"}", "after must be an integer, not a string"},
      {T, "{\"collab_id\":\"f\",\"after\":1e300}", "after must be an integer between -1 and 9007199254740992"},
      {T, "{\"collab_id\":\"f\",\"limit\":1.5}", "limit must be an integer between 1 and 1000"},
      {T, "{\"collab_id\":\"f\",\"limit\":0}", "limit must be between 1 and 1000 (got 0)"},
      {T, "{\"collab_id\":\"f\",\"limit\":0,\"after\":true}", "after must be an integer, not a boolean"},
      {G, "{\"node_id\":\"a\",\"direction\":\"up\"}", "direction must be one of out, in, both (got \"up\")"},
      {G, "{\"node_id\":\"a\",\"direction\":1}", "direction must be one of out, in, both, not a number"},
      {G, "{\"node_id\":\"a\",\"depth\":9}", "depth must be between 1 and 8 (got 9)"},
      {"/api/repo/list", "{\"repo\":\"r\",\"limit\":5000}", "limit must be between 1 and 1000 (got 5000)"},
      {"/api/observe/emit", "{\"topic\":\"t\"}", "event is required"},
      {"/api/observe/emit", "{\"topic\":\"t\",\"event\":1,\"severity\":\"loud\"}",
       "severity must be one of debug, info, warn, error (got \"loud\")"},
      {"/api/observe/query", "{\"since\":-1}", "since must be between 0 and 9007199254740991 (got -1)"},
      {"/api/observe/query", "{\"severity\":[]}", "severity must be one of debug, info, warn, error, not an array"},
  };
  expect_messages(cases, COUNT(cases));
}

static void integration_fields_llm(void) {
  static const char C[] = "/api/llm/complete", E[] = "/api/llm/embed";
  const field_case cases[] = {
      {C, "{}", "prompt is required"},
      {C, "{\"prompt\":null}", "prompt must not be null"},
      {C, "{\"prompt\":42}", "prompt must be a string"},
      {C, "{\"prompt\":\"x\",\"messages\":{}}", "messages must be an array, not an object"},
      {C, "{\"prompt\":\"x\",\"messages\":[\"hi\"]}", "messages[0] must be an object {role, content}"},
      {C, "{\"prompt\":\"x\",\"messages\":[{\"role\":\"a b\",\"content\":\"c\"}]}",
       "messages[0].role must not contain spaces or control characters"},
      {C, "{\"prompt\":\"x\",\"max_tokens\":\"10\"}", "max_tokens must be an integer, not a string"},
      {C, "{\"prompt\":\"x\",\"max_tokens\":0}", "max_tokens must be between 1 and 1000000000 (got 0)"},
      {C, "{\"prompt\":\"x\",\"temperature\":\"hot\"}", "temperature must be a number"},
      {C, "{\"prompt\":\"x\",\"temperature\":2.5}", "temperature must be between 0 and 2"},
      {C, "{\"prompt\":\"x\",\"top_p\":1.01}", "top_p must be between 0 and 1"},
      {C, "{\"prompt\":\"x\",\"stop\":5}", "stop must be a string or an array of strings"},
      {C, "{\"prompt\":\"x\",\"stop\":[\"a\",\"b\",\"c\",\"d\",\"e\"]}", "stop has 5 strings; at most 4"},
      {C, "{\"prompt\":\"x\",\"stop\":[\"a\",2]}", "stop[1] must be a string"},
      {C, "{\"prompt\":\"x\",\"seed\":0.5}",
       "seed must be an integer between -9007199254740991 and 9007199254740991"},
      {C, "{\"prompt\":\"x\",\"metadata\":\"m\"}", "metadata must be an object, not a string"},
      {C, "{\"prompt\":\"x\",\"metadata\":1,\"seed\":\"1\",\"stop\":5,\"top_p\":2}", "top_p must be between 0 and 1"},
      {C, "{\"prompt\":\"x\",\"metadata\":1,\"seed\":\"1\"}", "seed must be an integer, not a string"},
      {"/api/llm/stream", "{\"prompt\":\"x\",\"temperature\":-1}", "temperature must be between 0 and 2"},
      {E, "{}", "text is required"},
      {E, "{\"text\":1}", "text must be an array of strings"},
      {E, "{\"text\":[\"a\"],\"normalize\":1}", "normalize must be true or false, not a number"},
      {E, "{\"text\":1,\"normalize\":1}", "normalize must be true or false, not a number"},
      {E, "{\"text\":[\"a\",3]}", "text[1] must be a string"},
  };
  expect_messages(cases, COUNT(cases));
}

static const tap_test tests[] = {
    TEST(integration_fields_ids_and_text),
    TEST(integration_fields_values_and_objects),
    TEST(integration_fields_numbers_and_enums),
    TEST(integration_fields_llm),
};

int main(void) {
  return tap_with_gateway(&gw, harness_soulgw_bin(), NULL, NULL, tests, TAP_COUNT(tests));
}
