/*
 * json_write.c -- unit tests of lib/base/json_write.c: its text must be byte for byte what
 * soulgw_json_print() (cJSON) writes, for parsed values, built values and random ones.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/json_write.h"
#include "base/sg.h"
#include "soulgw.h"
#include "tap.h"

/* 1 when sg_json_write(v) equals soulgw_json_print(v); diagnoses the difference. */
static int same(const soulgw_json *v, const char *what) {
  sg_buf b;
  sg_buf_init(&b, 0);
  int rc = sg_json_write(&b, v);
  char *want = soulgw_json_print(v);
  int eq = rc == 0 && want && b.ptr && strcmp(b.ptr, want) == 0;
  if (!eq) tap_diag("%s: wrote %.200s, cJSON %.200s", what, b.ptr ? b.ptr : "(null)", want ? want : "(null)");
  free(want);
  sg_buf_free(&b);
  return eq;
}

static void unit_json_write_parsed(void) {
  static const char *const docs[] = {
      "null", "true", "false", "0", "-0", "7", "-7", "2147483647", "-2147483648", "2147483648",
      "-2147483649", "1e15", "1e16", "1e300", "-1e-300", "0.1", "1.5", "3.141592653589793",
      "2.718281828459045e-5", "123456789012345678", "9007199254740993", "0.30000000000000004",
      "\"\"", "\"plain\"", "\"q\\\"b\\\\s/\\b\\f\\n\\r\\t\\u0001\\u001f\\u007f\"",
      "\"h\xc3\xa9llo \xe2\x82\xac \xf0\x9f\x98\x80\"", "[]", "{}", "[[],{},[[]]]",
      "{\"a\":1,\"b\":[true,null,\"x\"],\"c\":{\"d\\n\":{}}}",
  };
  for (size_t i = 0; i < sizeof docs / sizeof docs[0]; i++) {
    soulgw_json *v = NULL;
    char err[128];
    if (soulgw_json_parse(docs[i], strlen(docs[i]), &v, err, sizeof err)) {
      ok(0, "parse %s: %s", docs[i], err);
      continue;
    }
    ok(same(v, docs[i]), "%s writes as cJSON prints it", docs[i]);
    soulgw_json_free(v);
  }
}

/* A random value of at most depth levels. */
static soulgw_json *random_value(unsigned *seed, int depth) {
  int kind = rand_r(seed) % (depth > 0 ? 7 : 4);
  switch (kind) {
    case 0: return soulgw_json_null();
    case 1: return soulgw_json_new_bool(rand_r(seed) & 1);
    case 2: {
      double d;
      switch (rand_r(seed) % 4) {
        case 0: d = (double)(rand_r(seed) % 2000001) - 1000000; break;
        case 1: d = ((double)rand_r(seed) / RAND_MAX - 0.5) * pow(10, rand_r(seed) % 40 - 20); break;
        case 2: d = (double)rand_r(seed) * (double)rand_r(seed) * 1024.0; break;
        default: d = 1.0 / ((rand_r(seed) % 97) + 1); break;
      }
      return soulgw_json_new_number(d);
    }
    case 3: {
      char s[24];
      size_t n = (size_t)(rand_r(seed) % 20);
      for (size_t i = 0; i < n; i++) s[i] = (char)(1 + rand_r(seed) % 126); /* ASCII, controls included */
      s[n] = '\0';
      return soulgw_json_new_string(s);
    }
    default: {
      int obj = kind == 4;
      soulgw_json *c = obj ? soulgw_json_object() : soulgw_json_array();
      int n = rand_r(seed) % 5;
      for (int i = 0; i < n; i++) {
        char key[16];
        snprintf(key, sizeof key, "k%d\t%d", i, rand_r(seed) % 10);
        if (obj) soulgw_json_set(c, key, random_value(seed, depth - 1));
        else soulgw_json_push(c, random_value(seed, depth - 1));
      }
      return c;
    }
  }
}

static void unit_json_write_random(void) {
  unsigned seed = 12345;
  int all = 1;
  for (int i = 0; i < 2000 && all; i++) {
    soulgw_json *v = random_value(&seed, 4);
    char what[32];
    snprintf(what, sizeof what, "random value %d", i);
    all = same(v, what);
    soulgw_json_free(v);
  }
  ok(all, "2000 random values write as cJSON prints them");
}

/* Strings built by a host are not checked: bytes that are not UTF-8 go as cJSON prints them. */
static void unit_json_write_built_bytes(void) {
  static const char *const strs[] = {"a\xFF" "b", "\x80", "x\xC3", "\xED\xA0\x80\x7f\x08\x0c"};
  for (size_t i = 0; i < sizeof strs / sizeof strs[0]; i++) {
    soulgw_json *v = soulgw_json_new_string(strs[i]);
    ok(same(v, "built string"), "built string %zu writes as cJSON prints it", i);
    soulgw_json_free(v);
  }
}

static void unit_json_write_limits(void) {
  soulgw_json *root = soulgw_json_array(), *cur = root;
  for (int i = 0; i < SG_JSON_WRITE_MAX_DEPTH + 5; i++) {
    soulgw_json *next = soulgw_json_array();
    soulgw_json_push(cur, next);
    cur = next;
  }
  sg_buf b;
  sg_buf_init(&b, 0);
  is_int(sg_json_write(&b, root), SOULGW_EINVAL, "a value nested too deeply is refused");
  sg_buf_free(&b);
  soulgw_json_free(root);
  sg_buf_init(&b, 8);
  soulgw_json *s = soulgw_json_new_string("longer than eight bytes");
  is_int(sg_json_write(&b, s), SOULGW_ENOMEM, "a capped buffer that fails reports it");
  sg_buf_free(&b);
  soulgw_json_free(s);
}

int main(void) {
  RUN(unit_json_write_parsed);
  RUN(unit_json_write_random);
  RUN(unit_json_write_built_bytes);
  RUN(unit_json_write_limits);
  return tap_done();
}
