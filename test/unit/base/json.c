/*
 * json.c -- unit tests of lib/base/json.c: the strict parser every request body goes through, the
 * public soulgw_json_* accessors and builders, and the internal helpers of json.h.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/json.h"
#include "base/sg.h"
#include "soulgw.h"
#include "tap.h"

/* Parses text (strlen) and returns the code; the value in *out, the message in err. */
static int parse(const char *text, soulgw_json **out, char *err, size_t errlen) {
  err[0] = '\0';
  return soulgw_json_parse(text, strlen(text), out, err, errlen);
}

/* Parses text of len bytes that must be refused with exactly the message want. */
static void refuse_n(const char *text, size_t len, const char *want, const char *what) {
  soulgw_json *v = (soulgw_json *)&v; /* not NULL: the parser must clear it */
  char err[256] = "";
  is_int(soulgw_json_parse(text, len, &v, err, sizeof err), SOULGW_EINVAL, "%s: refused", what);
  ok(v == NULL, "%s: *out is NULL", what);
  is_str(err, want, "%s: message", what);
}
#define refuse(text, want, what) refuse_n(text, strlen(text), want, what)

/* Parses text that must be accepted; returns the compact print (to free) or NULL. */
static char *accept_print(const char *text, size_t len, const char *what) {
  soulgw_json *v = NULL;
  char err[256] = "";
  int rc = soulgw_json_parse(text, len, &v, err, sizeof err);
  if (!tap_ok(rc == 0 && v, __FILE__, __LINE__, "%s: accepted", what)) tap_diag("  %s", err);
  char *s = soulgw_json_print(v);
  soulgw_json_free(v);
  return s;
}

static char *nest(const char *open, const char *close, int depth, const char *inner) {
  size_t lo = strlen(open), lc = strlen(close), li = strlen(inner);
  char *s = malloc((size_t)depth * (lo + lc) + li + 1);
  if (!s) return NULL;
  char *p = s;
  for (int i = 0; i < depth; i++, p += lo) memcpy(p, open, lo);
  memcpy(p, inner, li);
  p += li;
  for (int i = 0; i < depth; i++, p += lc) memcpy(p, close, lc);
  *p = '\0';
  return s;
}

/* ------------------------------------------------------------------------------------------ */

static void unit_json_parse_valid(void) {
  soulgw_json *v = NULL;
  char err[128];
  const char *doc = " {\"a\": 1, \"b\": [true, false, null, 2.5, \"x\"],"
                    " \"c\": {\"d\": \"\\u00e9\\n\"},"
                    " \"e\": -3e2} \n";
  is_int(parse(doc, &v, err, sizeof err), 0, "a document with every type parses");
  is_str(err, "", "no message on success");
  is_int(soulgw_json_typeof(v), SOULGW_JSON_OBJECT, "the root is an object");
  is_int(soulgw_json_size(v), 4, "four members");
  is_int(soulgw_json_number(soulgw_json_get(v, "a"), -1), 1, "a is 1");
  soulgw_json *b = soulgw_json_get(v, "b");
  is_int(soulgw_json_typeof(b), SOULGW_JSON_ARRAY, "b is an array");
  is_int(soulgw_json_size(b), 5, "of five");
  soulgw_json *e = soulgw_json_first(b);
  is_int(soulgw_json_bool(e, -1), 1, "true");
  e = soulgw_json_next(e);
  is_int(soulgw_json_bool(e, -1), 0, "false");
  e = soulgw_json_next(e);
  is_int(soulgw_json_typeof(e), SOULGW_JSON_NULL, "null");
  is_int(soulgw_json_bool(e, -1), -1, "bool of null is the default");
  e = soulgw_json_next(e);
  ok(soulgw_json_number(e, 0) == 2.5, "2.5");
  e = soulgw_json_next(e);
  is_str(soulgw_json_string(e), "x", "a string element");
  ok(soulgw_json_next(e) == NULL, "the array ends");
  is_str(soulgw_json_string(soulgw_json_get(soulgw_json_get(v, "c"), "d")), "\xC3\xA9\n",
         "escapes are decoded");
  ok(soulgw_json_number(soulgw_json_get(v, "e"), 0) == -300, "exponent");
  is_str(soulgw_json_key(soulgw_json_first(v)), "a", "the first member's key");
  ok(soulgw_json_get(v, "A") == NULL, "keys are case-sensitive");
  ok(soulgw_json_get(b, "a") == NULL, "get on an array is NULL");
  ok(soulgw_json_string(soulgw_json_get(v, "a")) == NULL, "string of a number is NULL");
  ok(soulgw_json_number(soulgw_json_get(v, "b"), 7.5) == 7.5, "number of an array is the default");
  is_int(soulgw_json_size(soulgw_json_get(v, "a")), 0, "size of a number is 0");
  ok(soulgw_json_first(soulgw_json_get(v, "a")) == NULL, "first of a number is NULL");
  soulgw_json_free(v);

  static const char *const scalars[] = {"42", "\"s\"", "null", "true", "false", "-0.5", "[]",
                                        "{}", "\"\"", "[[],{}]"};
  for (size_t i = 0; i < SG_ARRAY_LEN(scalars); i++) {
    char *s = accept_print(scalars[i], strlen(scalars[i]), scalars[i]);
    is_str(s, scalars[i], "\"%s\" prints back the same", scalars[i]);
    free(s);
  }
  char *s = accept_print("[1]xyz", 3, "only len bytes are read");
  is_str(s, "[1]", "what follows len is ignored");
  free(s);
  s = accept_print("[\"\\\\u0000\"]", 11, "an escaped backslash before u0000 is no NUL escape");
  is_str(s, "[\"\\\\u0000\"]", "the text is a backslash and u0000");
  free(s);
  s = accept_print("{\"k\":\"\\ud83d\\ude00\"}", 20, "a surrogate pair escape");
  is_str(s, "{\"k\":\"\xF0\x9F\x98\x80\"}", "decodes to one character");
  free(s);
  s = accept_print("{\"a\":1,\"b\":{\"a\":2}}", 19, "the same key at two levels is no duplicate");
  free(s);
  soulgw_json_free(NULL);
  ok(soulgw_json_typeof(NULL) == SOULGW_JSON_INVALID, "typeof NULL is INVALID");
}

static void unit_json_parse_invalid_utf8(void) {
  refuse("{\"a\":\"\xFF\"}", "invalid UTF-8 at byte 6", "a bad byte in a string");
  refuse("{\"\xC0\xAF\":1}", "invalid UTF-8 at byte 2", "an overlong sequence in a key");
  refuse("[\"ok\xC3\xA9\", \"\xED\xA0\x80\"]", "invalid UTF-8 at byte 10",
         "an encoded surrogate after valid multi-byte text");
  refuse("[\"\xF4\x90\x80\x80\"]", "invalid UTF-8 at byte 2", "a code point above U+10FFFF");
  refuse("[\"\xE2\x82", "invalid UTF-8 at byte 2", "truncated at the end");
  refuse("\xFF[]", "invalid UTF-8 at byte 0", "a bad byte outside strings");
}

static void unit_json_parse_duplicates(void) {
  refuse("{\"a\":1,\"a\":2}", "duplicate key \"a\"", "duplicate key at the top level");
  refuse("{\"x\":{\"b\":1,\"c\":2,\"b\":3}}", "duplicate key \"b\"", "duplicate key nested");
  refuse("[1,{\"k\":[{\"q\":1,\"q\":1}]}]", "duplicate key \"q\"", "duplicate key deep in arrays");
  refuse("{\"a\":1,\"\\u0061\":2}", "duplicate key \"a\"", "keys equal after unescaping");

  /* Objects of more than 16 members take the sorted path. */
  char big[1024], *p = big;
  p += sprintf(p, "{");
  for (int i = 0; i < 20; i++) p += sprintf(p, "%s\"k%02d\":%d", i ? "," : "", i, i);
  sprintf(p, "}");
  char *s = accept_print(big, strlen(big), "an object of 20 distinct keys");
  free(s);
  p = big + strlen(big) - 1;
  sprintf(p, ",\"k07\":0}");
  refuse(big, "duplicate key \"k07\"", "a duplicate among 21 members");
  p = big;
  p += sprintf(p, "{\"outer\":{");
  for (int i = 0; i < 17; i++) p += sprintf(p, "%s\"z%d\":%d", i ? "," : "", i % 16, i);
  sprintf(p, "}}");
  refuse(big, "duplicate key \"z0\"", "a duplicate in a nested 17-member object");
  char longkey[200];
  memset(longkey, 'k', 100);
  longkey[100] = '\0';
  snprintf(big, sizeof big, "{\"%s\":1,\"%s\":2}", longkey, longkey);
  char want[100];
  snprintf(want, sizeof want, "duplicate key \"%.64s\"", longkey);
  refuse(big, want, "a long duplicate key is cut to 64 bytes in the message");
}

static void unit_json_parse_nul(void) {
  refuse("{\"a\":\"x\\u0000y\"}", "\\u0000 is not allowed in strings (byte 7)",
         "\\u0000 in a value");
  refuse("{\"\\u0000\":1}", "\\u0000 is not allowed in strings (byte 2)", "\\u0000 in a key");
  refuse_n("[1,\0 2]", 7, "NUL byte at byte 3", "a raw NUL between values");

  /* A raw NUL or control character inside a string is not JSON (RFC 8259 section 7). */
  soulgw_json *v = NULL;
  char err[128] = "";
  int rc = soulgw_json_parse("[\"a\0b\"]", 7, &v, err, sizeof err);
  is_int(rc, SOULGW_EINVAL, "a raw NUL inside a string is refused");
  is_str(err, "control character in a string at byte 3", "naming the byte");
  soulgw_json_free(v);
  v = NULL;
  rc = soulgw_json_parse("[\"a\nb\"]", 7, &v, err, sizeof err);
  is_int(rc, SOULGW_EINVAL, "a raw newline inside a string is refused");
  soulgw_json_free(v);
}

static void unit_json_parse_depth(void) {
  char *s = nest("[", "]", 512, "");
  char *p = s ? accept_print(s, strlen(s), "arrays nested 512 deep") : NULL;
  ok(p && strcmp(p, s) == 0, "and printed back");
  free(p);
  free(s);
  s = nest("[", "]", 513, "");
  if (s) refuse(s, "nesting deeper than 512 levels at byte 512", "arrays nested 513 deep");
  free(s);
  s = nest("{\"a\":", "}", 512, "1");
  p = s ? accept_print(s, strlen(s), "objects nested 512 deep") : NULL;
  free(p);
  free(s);
  s = nest("{\"a\":", "}", 513, "1");
  if (s) refuse(s, "nesting deeper than 512 levels at byte 2560", "objects nested 513 deep");
  free(s);
  s = nest("[", "]", 10000, "");
  if (s) refuse(s, "nesting deeper than 512 levels at byte 512", "10,000 deep is refused");
  free(s);
  s = nest("[", "", 10000, "");
  if (s) refuse(s, "nesting deeper than 512 levels at byte 512", "10,000 unclosed brackets");
  free(s);
  /* Brackets inside strings do not count. */
  char text[2200];
  memset(text, '[', 1000);
  text[0] = '"';
  text[1000] = '"';
  text[1001] = '\0';
  p = accept_print(text, strlen(text), "brackets inside a string are not nesting");
  free(p);
  /* Depth goes back down: 600 arrays of depth 2 side by side. */
  char *q = text;
  *q++ = '[';
  for (int i = 0; i < 600; i++) q += sprintf(q, "%s[]", i ? "," : "");
  strcpy(q, "]");
  p = accept_print(text, strlen(text), "many siblings are not depth");
  free(p);
}

static void unit_json_parse_trailing_and_empty(void) {
  refuse("{} x", "unexpected text after the JSON value at byte 3", "trailing text");
  refuse("{}{}", "unexpected text after the JSON value at byte 2", "two values");
  refuse("1 2", "unexpected text after the JSON value at byte 2", "two numbers");
  refuse("[1],", "unexpected text after the JSON value at byte 3", "a trailing comma");
  char *s = accept_print("\t{ } \r\n ", 8, "white space around the value");
  is_str(s, "{}", "white space is dropped");
  free(s);
  refuse("", "empty JSON text", "empty text");
  refuse(" \n\t\r ", "empty JSON text", "white space only");
  soulgw_json *v = NULL;
  char err[64] = "";
  is_int(soulgw_json_parse(NULL, 0, &v, err, sizeof err), SOULGW_EINVAL, "NULL text");
  is_str(err, "no JSON text", "NULL text message");
  refuse("{\"a\":}", "malformed JSON near byte 5", "a missing value");
  refuse("[1,]", "malformed JSON near byte 3", "a trailing comma in an array");
  /* Where cJSON stops is its own business; the message says it is malformed, and where. */
  static const char *const malformed[] = {"{'a':1}", "[\"\\ud800\"]", "[1", "tru",
                                          "{\"a\" 1}", "\"\\x\""};
  for (size_t i = 0; i < SG_ARRAY_LEN(malformed); i++) {
    err[0] = '\0';
    v = (soulgw_json *)&v;
    is_int(soulgw_json_parse(malformed[i], strlen(malformed[i]), &v, err, sizeof err),
           SOULGW_EINVAL, "%s is refused", malformed[i]);
    ok(v == NULL, "%s: *out is NULL", malformed[i]);
    ok(strncmp(err, "malformed JSON near byte ", 25) == 0, "%s: message \"%s\"", malformed[i], err);
  }
  /* Not JSON by RFC 8259's grammar, though cJSON takes them. */
  static const char *const lenient[] = {"[01]", "[1.]", "[-01.5]"};
  for (size_t i = 0; i < SG_ARRAY_LEN(lenient); i++) {
    v = NULL;
    if (soulgw_json_parse(lenient[i], strlen(lenient[i]), &v, err, sizeof err) == 0)
      tap_diag("NOTE soulgw_json_parse accepts %s, which RFC 8259 does not allow", lenient[i]);
    soulgw_json_free(v);
  }
  is_int(soulgw_json_parse("{} x", 4, &v, NULL, 0), SOULGW_EINVAL, "err may be NULL");
  char tiny[8];
  is_int(soulgw_json_parse("{} x", 4, &v, tiny, sizeof tiny), SOULGW_EINVAL, "a short err");
  is_str(tiny, "unexpec", "the message is cut to the buffer");
}

static void unit_json_builders(void) {
  soulgw_json *o = soulgw_json_object();
  is_int(soulgw_json_set(o, "a", soulgw_json_new_number(1)), 0, "set a number");
  is_int(soulgw_json_set(o, "b", soulgw_json_new_string("x\"y")), 0, "set a string");
  soulgw_json *arr = soulgw_json_array();
  is_int(soulgw_json_push(arr, soulgw_json_new_bool(1)), 0, "push true");
  is_int(soulgw_json_push(arr, soulgw_json_null()), 0, "push null");
  is_int(soulgw_json_push(arr, soulgw_json_new_number(2.5)), 0, "push 2.5");
  soulgw_json *f = soulgw_json_new_bool(0);
  is_int(soulgw_json_bool(f, -1), 0, "soulgw_json_new_bool(0) is false");
  soulgw_json_free(f);
  is_int(soulgw_json_bool(arr, -1), -1, "bool of an array is the default");
  is_int(soulgw_json_bool(soulgw_json_first(arr), -1), 1, "soulgw_json_new_bool(1) is true");
  is_int(soulgw_json_set(o, "c", arr), 0, "set an array");
  char *s = soulgw_json_print(o);
  is_str(s, "{\"a\":1,\"b\":\"x\\\"y\",\"c\":[true,null,2.5]}", "compact print");
  free(s);
  is_int(soulgw_json_set(o, "a", soulgw_json_new_string("one")), 0, "set replaces");
  is_int(soulgw_json_size(o), 3, "still three members");
  s = soulgw_json_print(o);
  is_str(s, "{\"a\":\"one\",\"b\":\"x\\\"y\",\"c\":[true,null,2.5]}",
         "the member is replaced in place");
  free(s);
  is_int(soulgw_json_set(o, "n", soulgw_json_new_number(NAN)), 0, "set NaN");
  is_int(soulgw_json_typeof(soulgw_json_get(o, "n")), SOULGW_JSON_NULL, "NaN is stored as null");
  is_int(soulgw_json_set(o, "inf", soulgw_json_new_number(INFINITY)), 0, "set infinity");
  is_int(soulgw_json_typeof(soulgw_json_get(o, "inf")), SOULGW_JSON_NULL, "infinity is null");

  /* NULL propagates as SOULGW_ENOMEM. */
  ok(soulgw_json_new_string(NULL) == NULL, "a string of NULL is NULL");
  is_int(soulgw_json_set(o, "k", soulgw_json_new_string(NULL)), SOULGW_ENOMEM,
         "set of a NULL value is SOULGW_ENOMEM");
  ok(soulgw_json_get(o, "k") == NULL, "nothing was set");
  is_int(soulgw_json_push(arr, NULL), SOULGW_ENOMEM, "push of NULL is SOULGW_ENOMEM");
  is_int(soulgw_json_set(NULL, "k", soulgw_json_new_number(1)), SOULGW_ENOMEM,
         "set into a NULL object is SOULGW_ENOMEM (and frees the value)");
  is_int(soulgw_json_push(NULL, soulgw_json_new_number(1)), SOULGW_ENOMEM,
         "push into a NULL array is SOULGW_ENOMEM (and frees the value)");
  is_int(soulgw_json_set(arr, "k", soulgw_json_new_number(1)), SOULGW_EINVAL,
         "set into an array is SOULGW_EINVAL");
  is_int(soulgw_json_push(o, soulgw_json_new_number(1)), SOULGW_EINVAL,
         "push into an object is SOULGW_EINVAL");
  is_int(soulgw_json_set(o, NULL, soulgw_json_new_number(1)), SOULGW_EINVAL,
         "set with a NULL key is SOULGW_EINVAL");
  ok(soulgw_json_print(NULL) == NULL, "print of NULL is NULL");
  soulgw_json_free(o);

  /* Nested builders: a failure deep inside reaches the outer set. */
  soulgw_json *outer = soulgw_json_object();
  soulgw_json *inner = NULL; /* as if soulgw_json_object() had failed */
  soulgw_json_set(inner, "x", soulgw_json_new_number(1));
  is_int(soulgw_json_set(outer, "inner", inner), SOULGW_ENOMEM,
         "a failed inner object makes the outer set fail");
  ok(soulgw_json_get(outer, "inner") == NULL, "the outer object has no such member");
  s = soulgw_json_print(outer);
  is_str(s, "{}", "the outer object prints without the failed member (soulgw.h says so)");
  free(s);
  soulgw_json_free(outer);

  /* Keys are iterated in insertion order. */
  o = soulgw_json_object();
  soulgw_json_set(o, "z", soulgw_json_new_number(1));
  soulgw_json_set(o, "y", soulgw_json_new_number(2));
  sg_buf b;
  sg_buf_init(&b, 0);
  for (soulgw_json *c = soulgw_json_first(o); c; c = soulgw_json_next(c))
    sg_buf_printf(&b, "%s=%g;", soulgw_json_key(c), soulgw_json_number(c, 0));
  is_str(b.ptr, "z=1;y=2;", "first/next/key walk the members in order");
  sg_buf_free(&b);
  soulgw_json_free(o);
}

static void unit_json_equal_integer_dup(void) {
  soulgw_json *a = NULL, *b = NULL, *c = NULL;
  char err[64];
  parse("{\"x\":[1,2,{\"y\":null}],\"z\":\"s\",\"t\":true}", &a, err, sizeof err);
  parse("{\"t\":true,\"z\":\"s\",\"x\":[1,2,{\"y\":null}]}", &b, err, sizeof err);
  parse("{\"t\":true,\"z\":\"s\",\"x\":[2,1,{\"y\":null}]}", &c, err, sizeof err);
  ok(a && b && c, "three documents parse");
  ok(sg_json_equal(a, b), "objects are equal regardless of member order");
  ok(!sg_json_equal(a, c), "arrays are compared in order");
  ok(sg_json_equal(a, a), "a value equals itself");
  soulgw_json *d = soulgw_json_dup(a);
  ok(d && d != a, "dup makes a new value");
  ok(sg_json_equal(a, d), "the copy is equal");
  soulgw_json_set(d, "z", soulgw_json_new_string("changed"));
  is_str(soulgw_json_string(soulgw_json_get(a, "z")), "s", "changing the copy leaves the original");
  ok(!sg_json_equal(a, d), "and they differ now");
  ok(soulgw_json_dup(NULL) == NULL, "dup of NULL is NULL");
  soulgw_json *n1 = soulgw_json_new_number(1), *s1 = soulgw_json_new_string("1");
  ok(!sg_json_equal(n1, s1), "1 and \"1\" differ");
  soulgw_json *k1 = NULL, *k2 = NULL;
  parse("{\"a\":1}", &k1, err, sizeof err);
  parse("{\"A\":1}", &k2, err, sizeof err);
  ok(!sg_json_equal(k1, k2), "keys are compared case-sensitively");

  soulgw_json *nums = NULL;
  parse("[3, 3.5, -7, 9007199254740991, 9007199254740992, 1e300, -0, \"4\", 2.0]", &nums, err,
        sizeof err);
  static const int want[] = {1, 0, 1, 1, 0, 0, 1, 0, 1};
  size_t i = 0;
  for (soulgw_json *e = soulgw_json_first(nums); e && i < SG_ARRAY_LEN(want);
       e = soulgw_json_next(e), i++)
    is_int(sg_json_is_integer(e), want[i], "sg_json_is_integer of element %zu", i);
  is_int(i, SG_ARRAY_LEN(want), "all elements checked");
  ok(!sg_json_is_integer(NULL), "NULL is no integer");
  soulgw_json *big = sg_json_new_int(-42);
  ok(sg_json_is_integer(big) && soulgw_json_number(big, 0) == -42, "sg_json_new_int");

  /* detach, remove, print_buf */
  soulgw_json *x = sg_json_detach(a, "x");
  ok(x && soulgw_json_typeof(x) == SOULGW_JSON_ARRAY, "detach hands out the member");
  ok(soulgw_json_get(a, "x") == NULL, "and removes it");
  ok(sg_json_detach(a, "nope") == NULL, "detach of a missing key is NULL");
  is_int(sg_json_remove(a, "t"), 0, "remove");
  is_int(sg_json_remove(x, "t"), SOULGW_EINVAL, "remove on an array is SOULGW_EINVAL");
  sg_buf pb;
  sg_buf_init(&pb, 0);
  sg_buf_puts(&pb, ">");
  is_int(sg_json_print_buf(a, &pb), 0, "print_buf");
  is_str(pb.ptr, ">{\"z\":\"s\"}", "print_buf appends the compact text");
  sg_buf_free(&pb);

  soulgw_json_free(a);
  soulgw_json_free(b);
  soulgw_json_free(c);
  soulgw_json_free(d);
  soulgw_json_free(n1);
  soulgw_json_free(s1);
  soulgw_json_free(k1);
  soulgw_json_free(k2);
  soulgw_json_free(nums);
  soulgw_json_free(big);
  soulgw_json_free(x);
}

static const tap_test tests[] = {
    TEST(unit_json_parse_valid),
    TEST(unit_json_parse_invalid_utf8),
    TEST(unit_json_parse_duplicates),
    TEST(unit_json_parse_nul),
    TEST(unit_json_parse_depth),
    TEST(unit_json_parse_trailing_and_empty),
    TEST(unit_json_builders),
    TEST(unit_json_equal_integer_dup),
};

int main(void) {
  tap_run(tests, TAP_COUNT(tests));
  return tap_done();
}
