/*
 * json_compact.c -- unit tests of lib/json_compact.c: what it accepts gives the same text as
 * parsing with soulgw_json_parse() and printing with soulgw_json_print() (for texts whose
 * numbers print as written), what it refuses soulgw_json_parse() refuses too, and it never
 * writes past what it has read.
 */
#include <stdlib.h>
#include <string.h>

#include "base/json.h"
#include "base/json_compact.h"
#include "base/sg.h"
#include "tap.h"

/* Compacts a copy of text; the result (malloc'd) or NULL with err set. */
static char *compact(const char *text, size_t len, int *rc, char *err, size_t errlen) {
  char *buf = malloc(len + 1);
  memcpy(buf, text, len);
  buf[len] = '\0';
  size_t out = 0;
  *rc = sg_json_compact(buf, len, &out, err, errlen);
  if (*rc) {
    free(buf);
    return NULL;
  }
  if (out != strlen(buf)) tap_diag("length %zu but the text has %zu", out, strlen(buf));
  return buf;
}

static void harden_json_compact_same_as_print(void) {
  static const char *const texts[] = {
      "{}",
      " [ ] ",
      "\n{\"a\" : 1 , \"b\" : [ true , false , null ] }\r\n",
      "[1,-2,3.5,-0.25,0,10,-7]",
      "\"plain\"",
      "\"esc \\\" \\\\ \\/ \\b \\f \\n \\r \\t\"",
      "\"\\u0001\\u001f \\u0041\\u00e9\\u20ac \\ud83d\\ude00 \\u2028\"",
      "\"raw \xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80 \x7f\"",
      "{\"nested\":{\"deeper\":{\"deepest\":[[[[\"x\"]]]]}},\"k\":\"\"}",
      "{\"a\":1,\"A\":2,\"\\u0061b\":3}",
      "  42  ",
      "true",
      "[{\"id\":1,\"tags\":[\"x\",\"y\"]},{\"id\":2,\"tags\":[]}]",
  };
  for (size_t i = 0; i < SG_ARRAY_LEN(texts); i++) {
    char err[200] = "";
    int rc;
    char *got = compact(texts[i], strlen(texts[i]), &rc, err, sizeof err);
    soulgw_json *tree = NULL;
    int prc = soulgw_json_parse(texts[i], strlen(texts[i]), &tree, NULL, 0);
    char *want = prc ? NULL : soulgw_json_print(tree);
    if (!ok(got != NULL, "text %zu is accepted", i)) tap_diag("  %s", err);
    else is_str(got, want, "text %zu comes out as soulgw_json_print() writes it", i);
    free(got);
    free(want);
    soulgw_json_free(tree);
  }
  int rc;
  char err[200];
  char *got = compact("[1.50, 12345678901234567890, 1E400]", 35, &rc, err, sizeof err);
  is_str(got, "[1.50,12345678901234567890,1E400]", "numbers are kept as written (no rounding)");
  free(got);
}

static void harden_json_compact_refuses(void) {
  static const struct {
    const char *text;
    size_t len; /* 0: strlen */
    const char *why;
  } bad[] = {
      {"", 0, "empty JSON text"},
      {"   ", 0, "empty JSON text"},
      {"{", 0, "malformed"},
      {"[1,]", 0, "malformed"},
      {"{\"a\":1,}", 0, "malformed"},
      {"{\"a\" 1}", 0, "malformed"},
      {"{1:2}", 0, "malformed"},
      {"[01]", 0, "malformed"}, /* cJSON reads these two (and prints them as 1): */
      {"[1.]", 0, "malformed"}, /* relayed as written, they would not be JSON */
      {"[.5]", 0, "malformed"},
      {"[+1]", 0, "malformed"},
      {"[1e]", 0, "malformed"},
      {"[-]", 0, "malformed"},
      {"[tru]", 0, "malformed"},
      {"[nul]", 0, "malformed"},
      {"'x'", 0, "malformed"},
      {"[1] [2]", 0, "unexpected text after the JSON value"},
      {"{} x", 0, "unexpected text after the JSON value"},
      {"\"abc", 0, "unterminated string"},
      {"\"a\tb\"", 0, "control character in a string"},
      {"\"a\\x\"", 0, "malformed"},
      {"\"\\u12\"", 0, "malformed"},
      {"\"\\u0000\"", 0, "\\u0000 is not allowed"},
      {"\"\\ud800\"", 0, "lone surrogate"},
      {"\"\\udc00\"", 0, "lone surrogate"},
      {"\"\\ud800\\u0041\"", 0, "lone surrogate"},
      {"\"\xc3\x28\"", 0, "invalid UTF-8"},
      {"\"\xed\xa0\x80\"", 0, "invalid UTF-8"},
      {"[\"a\"]\0", 6, "unexpected text"},
      {"{\"a\":1,\"a\":2}", 0, "duplicate key \"a\""},
      {"{\"a\":1,\"\\u0061\":2}", 0, "duplicate key \"a\""},
      {"{\"x\":{\"k\":1,\"k\":2}}", 0, "duplicate key \"k\""},
  };
  for (size_t i = 0; i < SG_ARRAY_LEN(bad); i++) {
    size_t len = bad[i].len ? bad[i].len : strlen(bad[i].text);
    char err[200] = "";
    int rc;
    char *got = compact(bad[i].text, len, &rc, err, sizeof err);
    ok(!got && rc == SOULGW_EINVAL, "bad text %zu is refused", i);
    has_str(err, bad[i].why, "  saying \"%s\"", bad[i].why);
    soulgw_json *tree = NULL;
    int lax = !strcmp(bad[i].text, "[01]") || !strcmp(bad[i].text, "[1.]");
    ok((soulgw_json_parse(bad[i].text, len, &tree, NULL, 0) != 0) != lax,
       lax ? "  though soulgw_json_parse() reads it" : "  as soulgw_json_parse() does");
    soulgw_json_free(tree);
    free(got);
  }
}

static void harden_json_compact_big(void) {
  /* an object with many keys (sorted to find the duplicate), and deep nesting at the limit */
  sg_buf b;
  sg_buf_init(&b, 0);
  sg_buf_putc(&b, '{');
  for (int i = 0; i < 5000; i++) sg_buf_printf(&b, "%s\"k%d\": %d", i ? ", " : "", i, i);
  sg_buf_putc(&b, '}');
  int rc;
  char err[200];
  char *got = compact(b.ptr, b.len, &rc, err, sizeof err);
  ok(got != NULL, "5,000 distinct keys are accepted");
  ok(got && strlen(got) < b.len, "and compacted");
  free(got);
  b.len--; /* replace the closing brace with a duplicate */
  sg_buf_puts(&b, ", \"k2500\": 0}");
  got = compact(b.ptr, b.len, &rc, err, sizeof err);
  ok(!got, "a duplicate among 5,001 keys is found");
  has_str(err, "duplicate key \"k2500\"", "  and named");
  free(got);
  sg_buf_reset(&b);
  for (int i = 0; i < 512; i++) sg_buf_putc(&b, '[');
  for (int i = 0; i < 512; i++) sg_buf_putc(&b, ']');
  got = compact(b.ptr, b.len, &rc, err, sizeof err);
  ok(got != NULL, "512 levels are accepted");
  free(got);
  sg_buf_reset(&b);
  for (int i = 0; i < 513; i++) sg_buf_putc(&b, '[');
  for (int i = 0; i < 513; i++) sg_buf_putc(&b, ']');
  got = compact(b.ptr, b.len, &rc, err, sizeof err);
  ok(!got, "513 are not");
  has_str(err, "nesting deeper than 512 levels", "  saying so");
  free(got);
  sg_buf_free(&b);
}

static const tap_test tests[] = {
    TEST(harden_json_compact_same_as_print),
    TEST(harden_json_compact_refuses),
    TEST(harden_json_compact_big),
};

int main(void) {
  tap_run(tests, TAP_COUNT(tests));
  return tap_done();
}
