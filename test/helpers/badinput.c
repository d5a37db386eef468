/*
 * badinput.c -- see badinput.h.
 */
#include "badinput.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tap.h"

char *repeat_char(char c, size_t n) {
  char *s = malloc(n + 1);
  if (!s) return NULL;
  memset(s, c, n);
  s[n] = '\0';
  return s;
}

/* Sends body; expects a 4xx whose message contains fragment (NULL: any non-empty message). */
static void refused(gwproc *g, const char *path, const char *token, const char *body,
                    const char *fragment, const char *what) {
  http_resp r;
  http_post(g, path, token, body, &r);
  ok(r.status >= 400 && r.status < 500, "%s %s: a 4xx (got %ld)", path, what, r.status);
  cJSON *j = json_of(&r);
  const char *code = json_str(j, "code"), *msg = json_str(j, "message");
  ok(code && msg && *msg && json_str(j, "correlation_id"),
     "%s %s: the common error shape (%.200s)", path, what, r.body);
  if (fragment) has_str(msg, fragment, "%s %s: the message names the problem", path, what);
  cJSON_Delete(j);
  resp_free(&r);
}

void check_malformed_bodies(gwproc *g, const char *path, const char *token) {
  refused(g, path, token, "{\"a\":\"\xff\xfe\"}", "UTF-8", "invalid UTF-8");
  refused(g, path, token, "{\"a\":\"\xc3\"}", "UTF-8", "a truncated UTF-8 sequence");
  refused(g, path, token, "{\"a\":1,\"a\":2}", "duplicate key", "a duplicate key");
  refused(g, path, token, "{\"x\":{\"k\":1,\"k\":1}}", "duplicate key", "a nested duplicate key");
  refused(g, path, token, "{\"a\":\"x\\u0000y\"}", "u0000", "a \\u0000 escape");
  refused(g, path, token, "{\"a\":", "JSON", "truncated JSON");
  refused(g, path, token, "{} {}", "after the JSON value", "trailing text");
  size_t depth = 10000;
  char *deep = malloc(2 * depth + 16);
  if (deep) {
    char *p = deep;
    p += sprintf(p, "{\"x\":");
    memset(p, '[', depth);
    p += depth;
    memset(p, ']', depth);
    p += depth;
    strcpy(p, "}");
    refused(g, path, token, deep, "nesting", "10,000-deep nesting");
    free(deep);
  }
  static const char *const not_objects[] = {"[]", "\"s\"", "1", "null", "true", "[{}]"};
  for (size_t i = 0; i < sizeof not_objects / sizeof not_objects[0]; i++) {
    char what[64];
    snprintf(what, sizeof what, "the body %s", not_objects[i]);
    refused(g, path, token, not_objects[i], "object", what);
  }
  http_resp r;
  http_get(g, "/health", &r);
  is_int(r.status, 200, "%s: the gateway keeps serving after malformed bodies", path);
  resp_free(&r);
}
