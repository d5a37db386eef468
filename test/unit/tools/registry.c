/*
 * registry.c -- unit tests of lib/tools/manifest.c, lib/tools/registry.c and the parts of
 * lib/tools/run.c that need no running gateway: manifest defaults and errors, per-tenant toolsets
 * and their swap while references are held, host tool registration, and the compact JSON size
 * measure.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/json.h"
#include "tools/registry.h"
#include "base/sg.h"
#include "soulgw.h"
#include "tap.h"
#include "tools/run.h"

static soulgw_json *j(const char *text) {
  soulgw_json *v = NULL;
  char err[128];
  if (soulgw_json_parse(text, strlen(text), &v, err, sizeof err)) tap_diag("bad test JSON: %s", err);
  return v;
}

static void refuse(const char *manifests, const char *want) {
  soulgw_json *in = j(manifests), *out = (soulgw_json *)&out;
  char err[512] = "";
  is_int(sg_manifests_normalize(in, "manifests", &out, err, sizeof err), SOULGW_EINVAL,
         "refused: %.60s", manifests);
  ok(out == NULL, "  *out is NULL");
  is_str(err, want, "  message");
  soulgw_json_free(in);
}

static void unit_manifest_defaults(void) {
  soulgw_json *in = j("[{\"tenant\":\"t\",\"id\":\"a\",\"version\":\"1\",\"handler\":\"builtin:echo\","
                      "\"limits\":{\"timeout_ms\":5},\"tags\":null}]");
  soulgw_json *out = NULL;
  char err[256] = "";
  is_int(sg_manifests_normalize(in, "manifests", &out, err, sizeof err), 0, "a minimal manifest passes");
  char *text = soulgw_json_print(out);
  is_str(text,
         "[{\"tenant\":\"t\",\"id\":\"a\",\"version\":\"1\",\"display_name\":\"\",\"description\":\"\","
         "\"tags\":[],\"input_schema\":{},\"output_schema\":{},\"scopes\":[],\"side_effect\":\"None\","
         "\"safety_class\":\"Low\",\"limits\":{\"timeout_ms\":5,\"max_bytes_in\":0,\"max_bytes_out\":0,"
         "\"max_concurrency\":0},\"idempotency\":\"None\",\"handler\":\"builtin:echo\"}]",
         "every default filled in, members in a fixed order (null counts as absent)");
  free(text);
  soulgw_json *again = NULL;
  is_int(sg_manifests_normalize(out, "manifests", &again, err, sizeof err), 0, "normalizing is idempotent");
  ok(sg_json_equal(out, again), "  with the same result");
  soulgw_json_free(again);
  soulgw_json_free(out);
  soulgw_json_free(in);
}

static void unit_manifest_errors(void) {
  refuse("{}", "manifests: expected an array of tool manifests, got object");
  refuse("[1]", "manifests[0]: expected an object (a tool manifest), got number");
  refuse("[{\"id\":\"a\",\"version\":\"1\",\"handler\":\"builtin:echo\"}]", "manifests[0].tenant: required");
  refuse("[{\"tenant\":\"t\",\"id\":\"a\",\"version\":\"1\"}]", "manifests[0].handler: required");
  refuse("[{\"tenant\":\"t\",\"id\":\"a\",\"version\":\"1\",\"handler\":\"builtin:echo\",\"limits\":{\"max_bytes_in\":-3}}]",
         "manifests[0].limits.max_bytes_in: expected a non-negative integer");
  refuse("[{\"tenant\":\"t\",\"id\":\"a\",\"version\":\"1\",\"handler\":\"builtin:echo\",\"limits\":{\"max_bytes_in\":\"3\"}}]",
         "manifests[0].limits.max_bytes_in: expected a non-negative integer");
  refuse("[{\"tenant\":\"t\",\"id\":\"a\",\"version\":\"1\",\"handler\":\"builtin:echo\",\"limits\":{\"timeout\":3}}]",
         "manifests[0].limits.timeout: unknown field (limits are timeout_ms, max_bytes_in, "
         "max_bytes_out, max_concurrency)");
  refuse("[{\"tenant\":\"t\",\"id\":\"a\",\"version\":\"1\",\"handler\":\"builtin:echo\",\"limits\":{\"timeout_ms\":86400001}}]",
         "manifests[0].limits.timeout_ms: at most 86400000");
  refuse("[{\"tenant\":\"t\",\"id\":\"a\",\"version\":\"1\",\"handler\":\"https://\"}]",
         "manifests[0].handler: the URL has no host");
  refuse("[{\"tenant\":\"t\",\"id\":\"a\",\"version\":\"1\",\"handler\":\"host\\ttool\"}]",
         "manifests[0].handler: must not contain control characters");
  refuse("[{\"tenant\":\"t\",\"id\":\"a\",\"version\":\"1\",\"handler\":\"x\",\"safety_class\":1}]",
         "manifests[0].safety_class: expected one of Low, Medium, High, got number");
  refuse("[{\"tenant\":\"t\",\"id\":\"a\",\"version\":\"1\",\"handler\":\"x\",\"scopes\":[\"\"]}]",
         "manifests[0].scopes[0]: must not be blank");
  refuse("[{\"tenant\":\"t\",\"id\":\"a\",\"version\":\"1\",\"handler\":\"x\",\"output_schema\":{\"minimum\":\"0\"}}]",
         "manifests[0].output_schema.minimum: expected a number");
  refuse("[{\"tenant\":\"t\",\"id\":\"a\",\"version\":\"1\",\"handler\":\"x\"},"
         "{\"tenant\":\"t\",\"id\":\"a\",\"version\":\"2\",\"handler\":\"y\"}]",
         "manifests[1].id: \"a\" is already defined for tenant t by manifests[0]");
  /* the same id for two tenants is fine */
  soulgw_json *in = j("[{\"tenant\":\"t\",\"id\":\"a\",\"version\":\"1\",\"handler\":\"x\"},"
                      "{\"tenant\":\"u\",\"id\":\"a\",\"version\":\"2\",\"handler\":\"y\"}]"), *out = NULL;
  char err[256];
  is_int(sg_manifests_normalize(in, "manifests", &out, err, sizeof err), 0, "one id in two tenants passes");
  soulgw_json_free(out);
  soulgw_json_free(in);
}

static void unit_registry_swap(void) {
  sg_registry *r = sg_registry_new();
  char err[256];
  ok(sg_registry_tenant(r, "t") == NULL, "an unknown tenant has no toolset");
  soulgw_json *v1 = j("{\"version\":\"v1\",\"manifests\":[{\"tenant\":\"t\",\"id\":\"a\",\"version\":\"1\","
                      "\"handler\":\"builtin:echo\",\"limits\":{\"max_bytes_in\":7}},"
                      "{\"tenant\":\"t\",\"id\":\"h\",\"version\":\"1\",\"handler\":\"https://x/y\"},"
                      "{\"tenant\":\"t\",\"id\":\"c\",\"version\":\"1\",\"handler\":\"host.tool\"}]}");
  is_int(sg_registry_install(r, "t", v1, err, sizeof err), 0, "install v1");
  sg_toolset *ref = NULL;
  const sg_manifest *m = sg_registry_find(r, "t", "a", &ref);
  ok(m && ref, "find a");
  is_str(m ? m->id : NULL, "a", "  its id");
  is_int(m ? (int)m->kind : -1, SG_TOOL_ECHO, "  builtin:echo");
  is_int(m ? m->max_bytes_in : -1, 7, "  its limits");
  ok(m && m->schema_trivial, "  an empty input_schema is trivial");
  sg_toolset *ref2 = NULL;
  const sg_manifest *h = sg_registry_find(r, "t", "h", &ref2);
  is_int(h ? (int)h->kind : -1, SG_TOOL_HTTP, "an https handler is an HTTP tool");
  sg_toolset_release(ref2);
  const sg_manifest *c = sg_registry_find(r, "t", "c", &ref2);
  is_int(c ? (int)c->kind : -1, SG_TOOL_HOST, "another name is a host tool");
  sg_toolset_release(ref2);
  ok(sg_registry_find(r, "t", "zz", &ref2) == NULL && ref2 == NULL, "an unknown tool: NULL, no reference");
  ok(sg_registry_find(r, "u", "a", &ref2) == NULL && ref2 == NULL, "another tenant's tool: NULL");

  soulgw_json *v2 = j("{\"version\":\"v2\",\"manifests\":[{\"tenant\":\"t\",\"id\":\"b\",\"version\":\"2\","
                      "\"handler\":\"builtin:echo\"}]}");
  is_int(sg_registry_install(r, "t", v2, err, sizeof err), 0, "install v2 while a reference to v1 is held");
  is_str(m->id, "a", "the held manifest stays valid");
  is_str(sg_toolset_version(ref), "v1", "  and its toolset is still v1");
  sg_toolset_release(ref);
  ok(sg_registry_find(r, "t", "a", &ref) == NULL, "a is gone from the active set");
  sg_toolset *set = sg_registry_tenant(r, "t");
  is_int(sg_toolset_size(set), 1, "v2 holds one tool");
  is_str(sg_toolset_version(set), "v2", "named v2");
  is_str(sg_toolset_at(set, 0)->id, "b", "tool b");
  sg_toolset_release(set);

  soulgw_json *wrong = j("{\"version\":\"w\",\"manifests\":[{\"tenant\":\"u\",\"id\":\"b\",\"version\":\"2\","
                         "\"handler\":\"builtin:echo\"}]}");
  is_int(sg_registry_install(r, "t", wrong, err, sizeof err), SOULGW_EINVAL,
         "a version holding another tenant's manifest is refused");
  has_str(err, "manifests[0].tenant", "  naming it");
  ok(sg_registry_find(r, "t", "b", &ref) != NULL, "and the active set is unchanged");
  sg_toolset_release(ref);

  /* many tenants: the table grows */
  char name[32];
  int all = 1;
  for (int i = 0; i < 200; i++) {
    snprintf(name, sizeof name, "tenant-%d", i);
    char text[256];
    snprintf(text, sizeof text, "{\"version\":\"v\",\"manifests\":[{\"tenant\":\"%s\",\"id\":\"x%d\","
             "\"version\":\"1\",\"handler\":\"builtin:echo\"}]}", name, i);
    soulgw_json *v = j(text);
    all &= sg_registry_install(r, name, v, err, sizeof err) == 0;
    soulgw_json_free(v);
  }
  for (int i = 0; i < 200; i++) {
    char id[16];
    snprintf(name, sizeof name, "tenant-%d", i);
    snprintf(id, sizeof id, "x%d", i);
    all &= sg_registry_find(r, name, id, &ref) != NULL;
    sg_toolset_release(ref);
  }
  ok(all, "200 tenants installed and found");
  soulgw_json_free(v1);
  soulgw_json_free(v2);
  soulgw_json_free(wrong);
  sg_registry_free(r);
}

static int noop_tool(void *ud, const soulgw_json *input, soulgw_json **output, char *err,
                     size_t errlen) {
  (void)ud;
  (void)input;
  (void)output;
  (void)err;
  (void)errlen;
  return 0;
}

static void unit_tools_register(void) {
  sg_tools *t = sg_tools_new();
  is_int(sg_tools_register(t, "my.tool", noop_tool, NULL), 0, "register my.tool");
  is_int(sg_tools_register(t, "my.tool", noop_tool, NULL), SOULGW_EEXIST, "twice: EEXIST");
  is_int(sg_tools_register(t, "builtin:x", noop_tool, NULL), SOULGW_EINVAL, "builtin: EINVAL");
  is_int(sg_tools_register(t, "httpish", noop_tool, NULL), SOULGW_EINVAL, "http...: EINVAL");
  is_int(sg_tools_register(t, "", noop_tool, NULL), SOULGW_EINVAL, "empty: EINVAL");
  is_int(sg_tools_register(t, "a\nb", noop_tool, NULL), SOULGW_EINVAL, "control character: EINVAL");
  is_int(sg_tools_register(t, "x", NULL, NULL), SOULGW_EINVAL, "no function: EINVAL");
  sg_tools_free(t);
  sg_tools_free(NULL);
}

static void unit_json_text_size(void) {
  static const char *const docs[] = {
      "{}", "[]", "null", "true", "false", "0", "-0", "-1", "2147483647", "2147483648", "-2147483649",
      "1.5", "0.1", "1e300", "-2.5e-7", "123456789012345678", "3.141592653589793",
      "\"\"", "\"a\\\"b\\\\c\\n\\t\\r\\b\\f\\u0001\\u001f\"", "\"h\xc3\xa9llo \xe2\x82\xac\"",
      "{\"a\":[1,2,{\"b\":null}],\"c\":\"d\",\"e\\n\":true}", "[[[[]]],{},[{}]]",
  };
  for (size_t i = 0; i < sizeof docs / sizeof docs[0]; i++) {
    soulgw_json *v = j(docs[i]);
    char *text = soulgw_json_print(v);
    is_int(sg_json_text_size(v, (size_t)-2), text ? strlen(text) : 0,
           "size of %s is that of its compact print %s", docs[i], text);
    free(text);
    soulgw_json_free(v);
  }
  soulgw_json *v = j("[\"0123456789\",\"0123456789\",\"0123456789\"]");
  is_int(sg_json_text_size(v, 12), 13, "counting stops past the limit");
  soulgw_json_free(v);
}

/* Issue 7, findings 2 and 18: a toolset is built (and can be refused) before it is installed;
 * schema typos are refused at publish but not in stored versions. */
static void unit_registry_build_put(void) {
  const char *typo = "{\"version\":\"v\",\"manifests\":[{\"tenant\":\"t\",\"id\":\"a\",\"version\":"
                     "\"1\",\"handler\":\"builtin:echo\",\"input_schema\":{\"requird\":[\"q\"]}}]}";
  soulgw_json *v = j(typo);
  sg_toolset *set = (sg_toolset *)&set;
  char err[512] = "";
  is_int(sg_toolset_build("t", v, 0, &set, err, sizeof err), SOULGW_EINVAL,
         "as published: an unknown schema keyword is refused");
  ok(set == NULL, "  no toolset");
  has_str(err, "manifests[0].input_schema.requird: unknown JSON Schema keyword", "  naming it (%s)", err);
  soulgw_json *norm = NULL;
  is_int(sg_manifests_normalize(soulgw_json_get(v, "manifests"), "manifests", &norm, err,
                                sizeof err),
         SOULGW_EINVAL, "sg_manifests_normalize() refuses it too");
  is_int(sg_toolset_build("t", v, SG_MANIFESTS_STORED, &set, err, sizeof err), 0,
         "as stored: it loads");
  is_int(sg_toolset_size(set), 1, "  with its tool");
  sg_registry *r = sg_registry_new();
  is_int(sg_registry_put(r, "t", set), 0, "sg_registry_put() installs a built toolset");
  sg_toolset *ref = NULL;
  ok(sg_registry_find(r, "t", "a", &ref) != NULL, "  found");
  sg_toolset_release(ref);
  soulgw_json_free(v);

  /* over the limit: refused, whatever the flags */
  size_t cap = (size_t)(SG_MANIFESTS_MAX + 1) * 96 + 64, len = 0;
  char *big = malloc(cap);
  len += (size_t)snprintf(big + len, cap - len, "{\"version\":\"big\",\"manifests\":[");
  for (int i = 0; i <= SG_MANIFESTS_MAX; i++)
    len += (size_t)snprintf(big + len, cap - len, "%s{\"tenant\":\"t\",\"id\":\"x%d\",\"version\":"
                            "\"1\",\"handler\":\"builtin:echo\"}", i ? "," : "", i);
  snprintf(big + len, cap - len, "]}");
  v = j(big);
  is_int(sg_toolset_build("t", v, SG_MANIFESTS_STORED, &set, err, sizeof err), SOULGW_EINVAL,
         "a version of %d tools cannot be built", SG_MANIFESTS_MAX + 1);
  has_str(err, "1001 manifests; at most 1000", "  saying so");
  ok(sg_registry_find(r, "t", "a", &ref) != NULL, "the installed toolset is untouched");
  sg_toolset_release(ref);
  soulgw_json_free(v);
  free(big);
  sg_registry_free(r);
}

/* The texts answers splice in are the manifest's strings escaped as the answer escapes them,
 * and an input_schema of exactly {"type":"object"} is noted as such. */
static void unit_manifest_texts(void) {
  sg_registry *r = sg_registry_new();
  char err[256];
  soulgw_json *v = j("{\"version\":\"v\",\"manifests\":["
                     "{\"tenant\":\"t \\\"q\\\"/\u00e9\",\"id\":\"a.b\",\"version\":\"1\\\\2\","
                     "\"handler\":\"builtin:echo\",\"input_schema\":{\"type\":\"object\"}},"
                     "{\"tenant\":\"t \\\"q\\\"/\u00e9\",\"id\":\"c\",\"version\":\"1\","
                     "\"handler\":\"builtin:echo\",\"input_schema\":{\"type\":\"object\","
                     "\"required\":[\"x\"]}}]}");
  const char *tenant = "t \"q\"/\xC3\xA9";
  is_int(sg_registry_install(r, tenant, v, err, sizeof err), 0, "install (%s)", err);
  sg_toolset *ref = NULL;
  const sg_manifest *m = sg_registry_find(r, tenant, "a.b", &ref);
  if (ok(m != NULL, "found")) {
    is_str(m->id_json, "\"a.b\"", "  the id as JSON");
    is_int(m->id_json_len, 5, "  and its length");
    is_str(m->version_json, "\"1\\\\2\"", "  the version, its backslash escaped");
    is_str(m->tenant_json, "\"t \\\"q\\\"/\xC3\xA9\"", "  the tenant, quotes escaped, UTF-8 kept");
    is_int(m->tenant_json_len, strlen(m->tenant_json), "  and its length");
    is_str(m->tenant_pct, "t%20%22q%22%2F%C3%A9", "  the tenant percent-encoded");
    is_int(m->tenant_pct_len, strlen(m->tenant_pct), "  and its length");
    ok(m->schema_object && !m->schema_trivial, "  {\"type\":\"object\"} is noted");
  }
  sg_toolset_release(ref);
  const sg_manifest *c = sg_registry_find(r, tenant, "c", &ref);
  ok(c && !c->schema_object && !c->schema_trivial, "a schema with more than a type is not");
  sg_toolset_release(ref);
  soulgw_json_free(v);
  sg_registry_free(r);
}

int main(void) {
  RUN(unit_manifest_defaults);
  RUN(unit_manifest_errors);
  RUN(unit_registry_swap);
  RUN(unit_tools_register);
  RUN(unit_json_text_size);
  RUN(unit_registry_build_put);
  RUN(unit_manifest_texts);
  return tap_done();
}
