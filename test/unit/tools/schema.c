/*
 * schema.c -- unit tests of lib/tools/schema.c: the JSON Schema subset that checks tool input, and
 * the checker that refuses malformed schemas at publish.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tools/schema.h"
#include "base/sg.h"
#include "soulgw.h"
#include "tap.h"

static soulgw_json *j(const char *text) {
  soulgw_json *v = NULL;
  char err[128];
  if (soulgw_json_parse(text, strlen(text), &v, err, sizeof err)) tap_diag("bad test JSON: %s", err);
  return v;
}

/* Validates value against schema; want NULL means it must conform, else the exact message. */
static void expect(const char *schema, const char *value, const char *want) {
  soulgw_json *s = j(schema), *v = j(value);
  char err[256] = "";
  int rc = sg_schema_validate(s, v, "input", err, sizeof err);
  if (!want) {
    if (!tap_ok(rc == 0, __FILE__, __LINE__, "%s conforms to %s", value, schema))
      tap_diag("  %s", err);
  } else {
    is_int(rc, SOULGW_EINVAL, "%s fails %s", value, schema);
    is_str(err, want, "  message");
  }
  soulgw_json_free(s);
  soulgw_json_free(v);
}

static void check_schema(const char *schema, const char *want) {
  soulgw_json *s = j(schema);
  char err[256] = "";
  int rc = sg_schema_check(s, "manifests[0].input_schema", err, sizeof err);
  if (!want) {
    if (!tap_ok(rc == 0, __FILE__, __LINE__, "schema %s is accepted", schema)) tap_diag("  %s", err);
  } else {
    is_int(rc, SOULGW_EINVAL, "schema %s is refused", schema);
    is_str(err, want, "  message");
  }
  soulgw_json_free(s);
}

static void unit_schema_types(void) {
  expect("{}", "42", NULL);
  expect("true", "42", NULL);
  expect("false", "42", "input: not allowed (the schema is false)");
  expect("{\"type\":\"object\"}", "{}", NULL);
  expect("{\"type\":\"object\"}", "[]", "input: expected object, got array");
  expect("{\"type\":\"string\"}", "1", "input: expected string, got number");
  expect("{\"type\":\"integer\"}", "3", NULL);
  expect("{\"type\":\"integer\"}", "3.0", NULL);
  expect("{\"type\":\"integer\"}", "3.5", "input: expected integer, got number");
  expect("{\"type\":\"number\"}", "3.5", NULL);
  expect("{\"type\":\"boolean\"}", "null", "input: expected boolean, got null");
  expect("{\"type\":\"null\"}", "null", NULL);
  expect("{\"type\":[\"string\",\"null\"]}", "null", NULL);
  expect("{\"type\":[\"string\",\"null\"]}", "true", "input: expected string or null, got boolean");
  expect("{\"type\":[\"string\",\"integer\",\"null\"]}", "[]",
         "input: expected string, integer or null, got array");
}

static void unit_schema_paths(void) {
  const char *s =
      "{\"type\":\"object\",\"properties\":{\"items\":{\"type\":\"array\",\"items\":{\"type\":"
      "\"object\",\"properties\":{\"name\":{\"type\":\"string\"}}}}}}";
  expect(s, "{\"items\":[{\"name\":\"a\"},{\"name\":\"b\"},{\"name\":7}]}",
         "input.items[2].name: expected string, got number");
  expect(s, "{\"items\":[{\"name\":\"a\"},{\"other\":1}]}", NULL);
  expect("{\"properties\":{\"a.b\":{\"type\":\"string\"}}}", "{\"a.b\":1}",
         "input[\"a.b\"]: expected string, got number");
  expect("{\"items\":[{\"type\":\"string\"},{\"type\":\"number\"}]}", "[\"x\", 1, true]", NULL);
  expect("{\"items\":[{\"type\":\"string\"},{\"type\":\"number\"}]}", "[\"x\", \"y\"]",
         "input[1]: expected number, got string");
}

static void unit_schema_required_additional(void) {
  const char *s = "{\"type\":\"object\",\"required\":[\"name\"],\"properties\":{\"name\":{}},"
                  "\"additionalProperties\":false}";
  expect(s, "{\"name\":1}", NULL);
  expect(s, "{}", "input.name: required");
  expect(s, "{\"name\":1,\"extra\":2}", "input.extra: not allowed (additionalProperties is false)");
  expect("{\"properties\":{\"a\":{}},\"additionalProperties\":{\"type\":\"number\"}}",
         "{\"a\":\"x\",\"b\":1}", NULL);
  expect("{\"properties\":{\"a\":{}},\"additionalProperties\":{\"type\":\"number\"}}",
         "{\"a\":\"x\",\"b\":\"y\"}", "input.b: expected number, got string");
  expect("{\"required\":[\"a\"]}", "[1]", NULL); /* required applies to objects only */
}

static void unit_schema_enum_bounds(void) {
  expect("{\"enum\":[\"red\",\"green\"]}", "\"red\"", NULL);
  expect("{\"enum\":[\"red\",\"green\"]}", "\"blue\"", "input: expected one of \"red\", \"green\"");
  expect("{\"enum\":[1,{\"a\":[1]}]}", "{\"a\":[1]}", NULL);
  expect("{\"enum\":[1,2]}", "3", "input: not one of the 2 allowed values");
  expect("{\"minimum\":1,\"maximum\":10}", "1", NULL);
  expect("{\"minimum\":1,\"maximum\":10}", "0.5", "input: 0.5 is less than the minimum 1");
  expect("{\"minimum\":1,\"maximum\":10}", "11", "input: 11 is greater than the maximum 10");
  expect("{\"minimum\":1}", "\"x\"", NULL); /* bounds apply to numbers only */
  /* lengths count characters, not bytes: "héllo" is 5 characters in 6 bytes */
  expect("{\"maxLength\":5}", "\"h\xc3\xa9llo\"", NULL);
  expect("{\"minLength\":6}", "\"h\xc3\xa9llo\"", "input: 5 characters, fewer than minLength 6");
  expect("{\"maxLength\":4}", "\"h\xc3\xa9llo\"", "input: 5 characters, more than maxLength 4");
  expect("{\"title\":\"ignored\",\"pattern\":\"^a$\",\"format\":\"email\"}", "\"b\"", NULL);
}

static void unit_schema_deep(void) {
  /* a value nested 500 deep against a schema that recurses through items 500 deep */
  int depth = 500;
  size_t cap = (size_t)depth * 16 + 64;
  char *s = malloc(cap), *v = malloc(cap);
  size_t sl = 0, vl = 0;
  for (int i = 0; i < depth; i++) {
    sl += (size_t)snprintf(s + sl, cap - sl, "{\"items\":");
    v[vl++] = '[';
  }
  sl += (size_t)snprintf(s + sl, cap - sl, "{\"type\":\"string\"}");
  v[vl++] = '1';
  for (int i = 0; i < depth; i++) {
    s[sl++] = '}';
    v[vl++] = ']';
  }
  s[sl] = v[vl] = '\0';
  soulgw_json *sj = j(s), *vj = j(v);
  char err[256];
  ok(sj && vj, "deep documents parse");
  is_int(sg_schema_validate(sj, vj, "input", err, sizeof err), SOULGW_EINVAL, "deep mismatch found");
  has_str(err, "...: expected string, got number", "a long path is cut, the message kept (%.60s...)", err);
  char small[16];
  is_int(sg_schema_validate(sj, vj, "input", small, sizeof small), SOULGW_EINVAL,
         "a small error buffer is not overrun");
  is_int((long long)strlen(small), 15, "  and is truncated");
  is_int(sg_schema_check(sj, "s", err, sizeof err), 0, "the deep schema is well-formed");
  soulgw_json_free(sj);
  soulgw_json_free(vj);
  free(s);
  free(v);
}

static void unit_schema_check(void) {
  check_schema("{\"type\":\"object\",\"properties\":{\"a\":{\"type\":\"string\",\"maxLength\":3}},"
               "\"required\":[\"a\"],\"additionalProperties\":false,\"x-custom\":[1]}",
               NULL);
  check_schema("true", NULL);
  check_schema("[]", "manifests[0].input_schema: expected a schema (an object or a boolean), got array");
  check_schema("{\"type\":\"strng\"}",
               "manifests[0].input_schema.type: unknown type \"strng\" (use null, boolean, number, "
               "integer, string, array or object)");
  check_schema("{\"type\":[\"string\",5]}", "manifests[0].input_schema.type[1]: expected a known type name");
  check_schema("{\"type\":[]}", "manifests[0].input_schema.type: expected a type name or a non-empty array of them");
  check_schema("{\"properties\":{\"name\":{\"type\":1}}}",
               "manifests[0].input_schema.properties.name.type: expected a type name or a non-empty "
               "array of them");
  check_schema("{\"properties\":[]}", "manifests[0].input_schema.properties: expected an object of schemas");
  check_schema("{\"required\":[\"a\",1]}", "manifests[0].input_schema.required[1]: expected a string");
  check_schema("{\"enum\":\"a\"}", "manifests[0].input_schema.enum: expected an array");
  check_schema("{\"items\":[{},3]}",
               "manifests[0].input_schema.items[1]: expected a schema (an object or a boolean), got number");
  check_schema("{\"minimum\":\"1\"}", "manifests[0].input_schema.minimum: expected a number");
  check_schema("{\"minLength\":-1}", "manifests[0].input_schema.minLength: expected a non-negative integer");
  check_schema("{\"maxLength\":1.5}", "manifests[0].input_schema.maxLength: expected a non-negative integer");
  check_schema("{\"additionalProperties\":\"no\"}",
               "manifests[0].input_schema.additionalProperties: expected a schema (an object or a "
               "boolean), got string");
}

/* Keywords: annotations pass, typos and unenforced keywords are refused by name (issue 7,
 * finding 18), and lenient checking (stored versions) lets them through as before. */
static void check_lenient(const char *schema, const char *want) {
  soulgw_json *s = j(schema);
  char err[256] = "";
  int rc = sg_schema_check_opts(s, "manifests[0].input_schema", SG_SCHEMA_LENIENT, err, sizeof err);
  if (!want) {
    if (!tap_ok(rc == 0, __FILE__, __LINE__, "lenient: schema %s is accepted", schema))
      tap_diag("  %s", err);
  } else {
    is_int(rc, SOULGW_EINVAL, "lenient: schema %s is refused", schema);
    is_str(err, want, "  message");
  }
  soulgw_json_free(s);
}

static void unit_schema_keywords(void) {
  check_schema("{\"$schema\":\"https://json-schema.org/draft/2020-12/schema\",\"$id\":\"urn:x\","
               "\"$comment\":\"c\",\"title\":\"T\",\"description\":\"D\",\"default\":{},"
               "\"examples\":[1],\"format\":\"email\",\"deprecated\":false,\"readOnly\":true,"
               "\"writeOnly\":false,\"contentEncoding\":\"base64\",\"contentMediaType\":\"text/plain\","
               "\"x-vendor\":{\"any\":1}}",
               NULL);
  check_schema("{\"type\":\"object\",\"properties\":{\"requird\":{\"type\":\"string\"}}}", NULL);
  check_schema("{\"requird\":[\"a\"]}",
               "manifests[0].input_schema.requird: unknown JSON Schema keyword (did you mean "
               "\"required\"?)");
  check_schema("{\"properties\":{\"a\":{\"MaxLength\":3}}}",
               "manifests[0].input_schema.properties.a.MaxLength: unknown JSON Schema keyword (did "
               "you mean \"maxLength\"?)");
  check_schema("{\"items\":{\"tpye\":\"string\"}}",
               "manifests[0].input_schema.items.tpye: unknown JSON Schema keyword (did you mean "
               "\"type\"?)");
  check_schema("{\"additionalProperties\":{\"zzzqqq\":1}}",
               "manifests[0].input_schema.additionalProperties.zzzqqq: unknown JSON Schema keyword "
               "(soulgw(1) lists the keywords it accepts)");
  check_schema("{\"anyOf\":[{},{}]}",
               "manifests[0].input_schema.anyOf: not supported: this gateway does not enforce anyOf; "
               "remove it (soulgw(1) lists the keywords it accepts)");
  check_schema("{\"a.b\":1}", "manifests[0].input_schema[\"a.b\"]: unknown JSON Schema keyword "
               "(soulgw(1) lists the keywords it accepts)");
  check_schema("{\"minItems\":-1}", "manifests[0].input_schema.minItems: expected a non-negative integer");
  check_schema("{\"maxItems\":\"2\"}", "manifests[0].input_schema.maxItems: expected a non-negative integer");
  check_schema("{\"exclusiveMinimum\":true}",
               "manifests[0].input_schema.exclusiveMinimum: expected a number (the boolean form of "
               "draft 4 is not supported)");
  check_schema("{\"const\":{\"a\":[1]},\"exclusiveMaximum\":3,\"minItems\":0,\"maxItems\":9}", NULL);
  /* stored schemas: what was ignored before is ignored still; what was checked still is */
  check_lenient("{\"requird\":[\"a\"],\"pattern\":\"^a\",\"properties\":{\"a\":{\"anyOf\":[]}}}", NULL);
  check_lenient("{\"minItems\":\"2\",\"exclusiveMinimum\":true}", NULL);
  check_lenient("{\"properties\":{\"a\":{\"type\":\"strng\"}}}",
                "manifests[0].input_schema.properties.a.type: unknown type \"strng\" (use null, "
                "boolean, number, integer, string, array or object)");
}

static void unit_schema_newer_keywords(void) {
  expect("{\"const\":\"on\"}", "\"on\"", NULL);
  expect("{\"const\":\"on\"}", "\"off\"", "input: expected \"on\" (const)");
  expect("{\"const\":3}", "3.0", NULL);
  expect("{\"const\":3}", "4", "input: expected 3 (const)");
  expect("{\"const\":{\"a\":[1]}}", "{\"a\":[2]}", "input: not the value const allows");
  expect("{\"minItems\":1,\"maxItems\":2}", "[1]", NULL);
  expect("{\"minItems\":1,\"maxItems\":2}", "[]", "input: 0 items, fewer than minItems 1");
  expect("{\"minItems\":1,\"maxItems\":2}", "[1,2,3]", "input: 3 items, more than maxItems 2");
  expect("{\"minItems\":1}", "\"x\"", NULL); /* item counts apply to arrays only */
  expect("{\"exclusiveMinimum\":0,\"exclusiveMaximum\":1}", "0.5", NULL);
  expect("{\"exclusiveMinimum\":0,\"exclusiveMaximum\":1}", "0",
         "input: 0 is not greater than the exclusiveMinimum 0");
  expect("{\"exclusiveMinimum\":0,\"exclusiveMaximum\":1}", "1",
         "input: 1 is not less than the exclusiveMaximum 1");
  /* of the wrong type (a lenient, stored schema): ignored, as before */
  expect("{\"minItems\":\"2\",\"exclusiveMinimum\":true}", "[]", NULL);
  expect("{\"exclusiveMinimum\":true}", "-5", NULL);
}

int main(void) {
  RUN(unit_schema_types);
  RUN(unit_schema_paths);
  RUN(unit_schema_required_additional);
  RUN(unit_schema_enum_bounds);
  RUN(unit_schema_deep);
  RUN(unit_schema_check);
  RUN(unit_schema_keywords);
  RUN(unit_schema_newer_keywords);
  return tap_done();
}
