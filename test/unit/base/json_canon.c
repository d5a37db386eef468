/*
 * json_canon.c -- unit tests of lib/base/json_canon.c: what it calls canonical is byte for byte
 * what sg_json_write() prints for the parsed value, on chosen texts and on many random ones;
 * and the texts the writer prints itself (within its rules) are called canonical.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/json.h"
#include "base/json_canon.h"
#include "base/json_write.h"
#include "base/sg.h"
#include "tools/run.h"
#include "tap.h"

/* 1 when text parses and sg_json_write() of its value gives text again. */
static int round_trips(const char *text, size_t len) {
  soulgw_json *j = NULL;
  if (soulgw_json_parse(text, len, &j, NULL, 0) != 0) return -1;
  sg_buf b;
  sg_buf_init(&b, 0);
  int same = sg_json_write(&b, j) == 0 && b.len == len && memcmp(b.ptr, text, len) == 0;
  sg_buf_free(&b);
  soulgw_json_free(j);
  return same;
}

/* The differential check of one text: canonical and parsed implies it round-trips and
 * measures len. */
static int holds(const char *text, size_t len) {
  if (!sg_json_canonical(text, len)) return 1;
  int rt = round_trips(text, len);
  if (rt < 0) return 1; /* not for the parser (a repeated name): never read from its text */
  if (rt != 1) return 0;
  soulgw_json *j = NULL;
  soulgw_json_parse(text, len, &j, NULL, 0);
  size_t n = sg_json_text_size(j, (size_t)-2);
  soulgw_json_free(j);
  return n == len;
}

static void unit_json_canon_yes(void) {
  static const char *const yes[] = {
      "{}", "[]", "null", "true", "false", "0", "-1", "7", "123456789012345",
      "-123456789012345", "2147483648", "\"\"", "\"a\\nb\\t\\r\\b\\f\\\"\\\\\"",
      "\"\xc3\xa9\xf0\x9f\x98\x80\"", "\"DEL\x7f\"", "\"a/b\"",
      "{\"text\":\"hello\"}", "{\"a\":{\"b\":[1,2,{\"c\":null}],\"d\":true,\"e\":false,\"f\":[]}}",
      "[[[]],{},[{}]]", "{\"a\\nb\":1,\"\xc3\xa9\":[\"x\"]}"};
  for (size_t i = 0; i < SG_ARRAY_LEN(yes); i++) {
    ok(sg_json_canonical(yes[i], strlen(yes[i])), "canonical: %s", yes[i]);
    is_int(round_trips(yes[i], strlen(yes[i])), 1, "  and it round-trips");
  }
}

static void unit_json_canon_no(void) {
  static const char *const no[] = {
      "", " {}", "{} ", "{ }", "[ ]", "{\"a\": 1}", "{\"a\" :1}", "[1, 2]", "[1 ,2]", "\n1",
      "1.0", "1e2", "1E2", "-0", "-0.0", "0.1", "01", "-", "1234567890123456",
      "9007199254740993", "\"\\/\"", "\"\\u00e9\"", "\"\\u0001\"", "\"a\x01\"", "\"\\x\"",
      "\"abc", "{\"a\":1", "[1,]", "{\"a\":1,}", "{,}", "[,1]", "tru", "nul", "falsey", "{1:2}",
      "{\"a\"}", "{\"a\":}", "]", "}", "[}", "{]", "[1]]", "1 2", "\"\\\"", "x", "+1", ".5",
      "{\"a\\/b\":1}", "{\"\\u0061\":1}"};
  for (size_t i = 0; i < SG_ARRAY_LEN(no); i++)
    ok(!sg_json_canonical(no[i], strlen(no[i])), "not canonical: %s", no[i]);
  char deep[2 * (SG_JSON_CANON_DEPTH + 1) + 1];
  memset(deep, '[', SG_JSON_CANON_DEPTH);
  memset(deep + SG_JSON_CANON_DEPTH, ']', SG_JSON_CANON_DEPTH);
  ok(sg_json_canonical(deep, 2 * SG_JSON_CANON_DEPTH), "%d levels are canonical",
     SG_JSON_CANON_DEPTH);
  memset(deep, '[', SG_JSON_CANON_DEPTH + 1);
  memset(deep + SG_JSON_CANON_DEPTH + 1, ']', SG_JSON_CANON_DEPTH + 1);
  ok(!sg_json_canonical(deep, 2 * (SG_JSON_CANON_DEPTH + 1)), "one more level is not");
  ok(!sg_json_canonical(NULL, 0), "NULL is not");
}

/* Random texts from pieces that are canonical and pieces that are not. */
static unsigned long long rng = 0x9e3779b97f4a7c15ull;
static unsigned rnd(unsigned n) {
  rng ^= rng << 13;
  rng ^= rng >> 7;
  rng ^= rng << 17;
  return (unsigned)(rng % n);
}

/* plain: only the first PLAIN_ATOMS atoms and no white space, which keeps most texts
 * canonical; else any piece. */
#define PLAIN_ATOMS 6
static void gen(sg_buf *b, int depth, int plain) {
  static const char *const atoms[] = {
      "0", "-1", "42", "\"a\\nb\\t\"", "\"\xc3\xa9\x7f/\"", "123456789012345", "-0", "1.0",
      "1e2", "1E+2", "0.5", "-0.0", "true", "false", "null", "1", "7",
      "1234567890123456", "9007199254740993", "2147483647", "2147483648", "-2147483649",
      "100000000000000000000", "1.7976931348623157e308", "5e-324",
      "\"\"", "\"a\"", "\"a\\nb\"", "\"\\/\"", "\"\\t\\r\\b\\f\\\"\\\\\"", "\"\\u00e9\"",
      "\"\xc3\xa9\"", "\"\x7f\"", "\"\\u0000\"", "\"\\ud83d\\ude00\"", "\"\xf0\x9f\x98\x80\"",
      "\"a/b\"", "\"\\u001f\""};
  static const char *const keys[] = {"\"a\"", "\"b\"", "\"a\\nb\"", "\"\\/\"", "\"\xc3\xa9\"",
                                     "\"\"", "\"a\""};
  static const char *const gaps[] = {"", "", "", "", "", "", " ", "\n", "\t"};
  unsigned k = rnd(10);
  if (depth > 6 || k < 5) {
    sg_buf_puts(b, atoms[rnd(plain ? PLAIN_ATOMS : SG_ARRAY_LEN(atoms))]);
    return;
  }
  int obj = k < 8;
  sg_buf_putc(b, obj ? '{' : '[');
  unsigned n = rnd(4);
  for (unsigned i = 0; i < n; i++) {
    if (i) sg_buf_puts(b, ",");
    sg_buf_puts(b, gaps[rnd(plain ? 1 : SG_ARRAY_LEN(gaps))]);
    if (obj) {
      sg_buf_puts(b, keys[rnd(plain ? 3 : SG_ARRAY_LEN(keys))]);
      sg_buf_puts(b, gaps[rnd(plain ? 1 : SG_ARRAY_LEN(gaps))]);
      sg_buf_putc(b, ':');
    }
    gen(b, depth + 1, plain);
  }
  sg_buf_puts(b, gaps[rnd(plain ? 1 : SG_ARRAY_LEN(gaps))]);
  sg_buf_putc(b, obj ? '}' : ']');
}

/* 1 when s holds a run of more than 15 digits (a number the rules leave out). */
static int long_digits(const char *s) {
  for (size_t run = 0; *s; s++) {
    run = *s >= '0' && *s <= '9' ? run + 1 : 0;
    if (run > 15) return 1;
  }
  return 0;
}

static void unit_json_canon_differential(void) {
  int bad = 0, canonical = 0, written = 0;
  for (int i = 0; i < 200000 && bad < 5; i++) {
    sg_buf b;
    sg_buf_init(&b, 0);
    gen(&b, 0, (int)rnd(2));
    /* sometimes a byte cut off or changed, for texts that break anywhere */
    if (rnd(8) == 0 && b.len) b.len = rnd((unsigned)b.len);
    else if (rnd(8) == 0 && b.len) b.ptr[rnd((unsigned)b.len)] = "{}[]\",: 0-\\"[rnd(11)];
    canonical += sg_json_canonical(b.ptr, b.len);
    if (!holds(b.ptr, b.len)) {
      bad++;
      tap_diag("canonical but printed otherwise: %.*s", (int)b.len, b.ptr);
    }
    /* the other way: what the writer prints from a parsed text is canonical unless it holds
     * what the rules leave out (a fraction, an exponent, a long number, a \u escape) */
    soulgw_json *j = NULL;
    if (soulgw_json_parse(b.ptr, b.len, &j, NULL, 0) == 0) {
      sg_buf w;
      sg_buf_init(&w, 0);
      if (sg_json_write(&w, j) == 0 && !strpbrk(w.ptr, ".eE") && !strstr(w.ptr, "\\u") &&
          !strstr(w.ptr, "-0") && !long_digits(w.ptr)) {
        written++;
        if (!sg_json_canonical(w.ptr, w.len)) {
          bad++;
          tap_diag("printed but not canonical: %s", w.ptr);
        }
      }
      sg_buf_free(&w);
      soulgw_json_free(j);
    }
    sg_buf_free(&b);
  }
  is_int(bad, 0, "canonical texts print as themselves, and printed texts are canonical");
  ok(canonical > 10000 && written > 10000, "both ways were tried often (%d canonical, %d written)",
     canonical, written);
}

static const tap_test tests[] = {
    TEST(unit_json_canon_yes),
    TEST(unit_json_canon_no),
    TEST(unit_json_canon_differential),
};

int main(void) {
  tap_run(tests, TAP_COUNT(tests));
  return tap_done();
}
