/*
 * json_scan.c -- unit tests of lib/base/json_scan.c: the span it finds reads back as the value
 * soulgw_json_parse() finds under the same key, names with escapes match, and what is not one
 * JSON object is refused, however it breaks; strings whose quotes, escapes and control
 * characters fall at every offset of the eight-byte steps are read as the strict checker reads
 * them.
 */
#include <stdlib.h>
#include <string.h>

#include "base/json.h"
#include "base/json_compact.h"
#include "base/json_scan.h"
#include "base/sg.h"
#include "tap.h"

static const char *const KEYS[] = {"model", "usage", "stream"};

/* The value of key in text, as cJSON prints it, or NULL. */
static char *parsed(const char *text, const char *key) {
  soulgw_json *j = NULL;
  if (soulgw_json_parse(text, strlen(text), &j, NULL, 0) != 0) return NULL;
  const soulgw_json *v = soulgw_json_get(j, key);
  char *out = v ? soulgw_json_print(v) : NULL;
  soulgw_json_free(j);
  return out;
}

/* The span of key, parsed and printed by cJSON, or NULL. */
static char *spanned(const char *text, const sg_json_span *s) {
  if (!s->found) return NULL;
  soulgw_json *j = NULL;
  if (soulgw_json_parse(text + s->start, s->end - s->start, &j, NULL, 0) != 0) return NULL;
  char *out = soulgw_json_print(j);
  soulgw_json_free(j);
  return out;
}

static void json_scan_finds_as_parser(void) {
  static const char *const texts[] = {
      "{\"model\":\"gpt-4o\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}",
      "  {\n \"messages\" : [ ] , \"model\" : \"a:b\" ,\"stream\":true }  ",
      "{\"x\":{\"model\":\"nested, not top\"},\"model\":\"top\"}",
      "{\"usage\":{\"prompt_tokens\":3,\"completion_tokens\":5},\"model\":null}",
      "{\"mod\\u0065l\":\"escaped name\",\"stre\\u0061m\":false}",
      "{\"model\":\"quote \\\" and \\\\ and \\u00e9 \\ud83d\\ude00\"}",
      "{\"model\":-12.5e+3,\"usage\":[1,{\"a\":[]},\"]}\"]}",
      "{\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"f\",\"parameters\":{}}}]}",
      "{}",
      "{\"\\u00e9\":1,\"model\":0}",
  };
  for (size_t t = 0; t < SG_ARRAY_LEN(texts); t++) {
    sg_json_span sp[3];
    int rc = sg_json_scan_members(texts[t], strlen(texts[t]), KEYS, 3, sp);
    is_int(rc, 0, "text %zu is an object", t);
    sg_json_span tr[3];
    is_int(sg_json_scan_members_of(texts[t], strlen(texts[t]), KEYS, 3, tr), 0,
           "  and scanned again as one scanned before");
    int same = 1;
    for (size_t k = 0; k < 3; k++)
      if (tr[k].found != sp[k].found || tr[k].start != sp[k].start || tr[k].end != sp[k].end)
        same = 0;
    ok(same, "  to the same spans");
    for (size_t k = 0; k < 3; k++) {
      char *want = parsed(texts[t], KEYS[k]), *got = spanned(texts[t], &sp[k]);
      ok((!want && !got) || (want && got && strcmp(want, got) == 0), "text %zu: %s as parsed", t,
         KEYS[k]);
      if (want && got && strcmp(want, got)) tap_diag("  got %s, want %s", got, want);
      free(want);
      free(got);
    }
  }
  const char *t = "{\"model\":\"gpt\"}";
  sg_json_span s;
  sg_json_scan_members(t, strlen(t), KEYS, 1, &s);
  is_int((long long)s.start, 9, "the span starts at the value's quote");
  is_int((long long)s.end, 14, "and ends after its closing quote");
}

static void json_scan_refuses(void) {
  static const char *const bad[] = {
      "",
      "   ",
      "[]",
      "\"model\"",
      "42",
      "{",
      "{\"model\"}",
      "{\"model\":}",
      "{\"model\":1,}",
      "{\"model\":1 \"x\":2}",
      "{model:1}",
      "{\"model\":'x'}",
      "{\"model\":01}",
      "{\"model\":1.}",
      "{\"model\":-}",
      "{\"model\":1e}",
      "{\"model\":tru}",
      "{\"model\":nul}",
      "{\"model\":\"unterminated}",
      "{\"model\":\"bad \\x escape\"}",
      "{\"model\":\"bad \\u12G4\"}",
      "{\"model\":\"raw \x01 control\"}",
      "{\"model\":[1,2}",
      "{\"model\":1}}",
      "{\"model\":1} x",
      "{} {}",
  };
  for (size_t i = 0; i < SG_ARRAY_LEN(bad); i++) {
    sg_json_span s;
    ok(sg_json_scan_members(bad[i], strlen(bad[i]), KEYS, 1, &s) == -1, "refused: %s", bad[i]);
  }
  /* a truncated object, at every length */
  const char *t = "{\"model\":\"m\",\"a\":[1,{\"b\":null}],\"c\":-0.5e-2}";
  int all = 1;
  for (size_t n = 0; n < strlen(t); n++) {
    sg_json_span s;
    if (sg_json_scan_members(t, n, KEYS, 1, &s) != -1) all = 0;
  }
  ok(all, "every proper prefix of an object is refused");
  /* the parser the scanner is held against refuses bad \u escapes too (cJSON alone would read
   * them as U+0000, cutting the string short) */
  soulgw_json *j = NULL;
  const char *hex = "{\"a\":\"\\u12G4\"}", *cut = "[\"\\u12\"]";
  ok(soulgw_json_parse(hex, strlen(hex), &j, NULL, 0) != 0 && !j,
     "soulgw_json_parse refuses \\u12G4");
  ok(soulgw_json_parse(cut, strlen(cut), &j, NULL, 0) != 0, "and a \\u cut short");
  /* lone surrogates and \u0000 in a name match nothing */
  const char *lone = "{\"mode\\ud800l\":1,\"model\\u0000\":2}";
  sg_json_span s;
  is_int(sg_json_scan_members(lone, strlen(lone), KEYS, 1, &s), 0, "names with odd escapes scan");
  ok(!s.found, "  and match no key");
}

static void json_scan_depth(void) {
  sg_buf b;
  sg_buf_init(&b, 0);
  sg_buf_puts(&b, "{\"a\":");
  for (int i = 0; i < 511; i++) sg_buf_putc(&b, '[');
  for (int i = 0; i < 511; i++) sg_buf_putc(&b, ']');
  sg_buf_puts(&b, ",\"model\":1}");
  sg_json_span s;
  is_int(sg_json_scan_members(b.ptr, b.len, KEYS, 1, &s), 0, "512 levels are accepted");
  ok(s.found, "  and the member after them found");
  sg_buf_reset(&b);
  sg_buf_puts(&b, "{\"a\":");
  for (int i = 0; i < 512; i++) sg_buf_putc(&b, '[');
  for (int i = 0; i < 512; i++) sg_buf_putc(&b, ']');
  sg_buf_putc(&b, '}');
  is_int(sg_json_scan_members(b.ptr, b.len, KEYS, 1, &s), -1, "513 are not");
  sg_buf_free(&b);
}

/* The plain scan takes only what the parser reads the same way; what it takes, the parser
 * takes too, with the same members. */
static void json_scan_plain(void) {
  static const char *const plain[] = {
      "{\"model\":\"m\",\"usage\":{\"prompt_tokens\":3},\"choices\":[{\"a\":1},{\"a\":2}]}",
      "{\"model\":\"quote \\\" and \\\\ and \\/ \\n \\t \\b \\f \\r\",\"usage\":\"\xc3\xa9\"}",
      "{\"a\":{\"b\":1},\"c\":{\"b\":2},\"b\":3}",
      "{}",
      " {\"stream\":true,\"x\":[null,false,-0.5e-2]} ",
  };
  static const char *const not_plain[] = {
      "{\"model\":\"\\u00e9\"}",                 /* \u escapes */
      "{\"mod\\u0065l\":1}",                       /* an escaped name */
      "{\"a\\/b\":1,\"a/b\":2}",                   /* the same name, written two ways */
      "{\"model\":1,\"model\":2}",                 /* a duplicate name */
      "{\"a\":[{\"x\":1,\"x\":2}]}",               /* one deep in an array */
      "{\"model\":\"\xff\"}",                     /* invalid UTF-8 */
      "[1]",                                       /* not an object */
      "{\"model\":1} x",                            /* not JSON */
  };
  static const char *const keys[] = {"model", "usage", "stream"};
  sg_json_span sp[3], full[3];
  for (size_t t = 0; t < SG_ARRAY_LEN(plain); t++) {
    size_t n = strlen(plain[t]);
    soulgw_json *j = NULL;
    is_int(sg_json_scan_plain(plain[t], n, keys, 3, sp), 0, "plain: %s", plain[t]);
    ok(soulgw_json_parse(plain[t], n, &j, NULL, 0) == 0, "  the parser takes it");
    soulgw_json_free(j);
    sg_json_scan_members(plain[t], n, keys, 3, full);
    int same = 1;
    for (size_t k = 0; k < 3; k++)
      if (sp[k].found != full[k].found || sp[k].start != full[k].start || sp[k].end != full[k].end)
        same = 0;
    ok(same, "  with the spans of the full scan");
  }
  for (size_t t = 0; t < SG_ARRAY_LEN(not_plain); t++)
    is_int(sg_json_scan_plain(not_plain[t], strlen(not_plain[t]), keys, 3, sp), -1,
           "not plain: %s", not_plain[t]);
  /* numbers cJSON reads whole; a longer one it would cut */
  char num[80] = "{\"a\":";
  memset(num + 5, '1', 63);
  strcpy(num + 68, "}");
  is_int(sg_json_scan_plain(num, strlen(num), keys, 3, sp), 0, "a 63-digit number is plain");
  memset(num + 5, '1', 64);
  strcpy(num + 69, "}");
  is_int(sg_json_scan_plain(num, strlen(num), keys, 3, sp), -1, "a 64-digit one is not");
  /* names of open objects are compared only within their object */
  sg_buf b;
  sg_buf_init(&b, 0);
  sg_buf_putc(&b, '{');
  for (int i = 0; i < 64; i++) sg_buf_printf(&b, "%s\"k%d\":0", i ? "," : "", i);
  sg_buf_putc(&b, '}');
  is_int(sg_json_scan_plain(b.ptr, b.len, keys, 3, sp), 0, "64 names in one object are plain");
  sg_buf_reset(&b);
  sg_buf_putc(&b, '{');
  for (int i = 0; i < 65; i++) sg_buf_printf(&b, "%s\"k%d\":0", i ? "," : "", i);
  sg_buf_putc(&b, '}');
  is_int(sg_json_scan_plain(b.ptr, b.len, keys, 3, sp), -1, "65 are left to the parser");
  sg_buf_free(&b);
  /* the first element of an array */
  const char *arr = " [ {\"a\":1} , 2]", *none = "[ ]";
  sg_json_span f;
  is_int(sg_json_scan_first(arr, strlen(arr), &f), 0, "an array's first element");
  ok(f.found && f.start == 3 && f.end == 10, "  spans {\"a\":1}");
  is_int(sg_json_scan_first(none, strlen(none), &f), 0, "an empty array");
  ok(!f.found, "  has none");
  is_int(sg_json_scan_first("{}", 2, &f), -1, "an object is not an array");
}

static void json_scan_next(void) {
  const char *arr = " [ {\"a\":[1,2]} , \"x,]\" ,3 ,null]";
  sg_json_span e = {0, 0, 0};
  const char *want[] = {"{\"a\":[1,2]}", "\"x,]\"", "3", "null"};
  for (size_t i = 0; i < 4; i++) {
    is_int(sg_json_scan_next(arr, strlen(arr), &e), 1, "element %zu is found", i);
    ok(e.end - e.start == strlen(want[i]) && memcmp(arr + e.start, want[i], strlen(want[i])) == 0,
       "  spans %s", want[i]);
  }
  is_int(sg_json_scan_next(arr, strlen(arr), &e), 0, "none after the last");
  ok(!e.found, "  and found is cleared");
  sg_json_span z = {0, 0, 0};
  is_int(sg_json_scan_next("[ ]", 3, &z), 0, "an empty array has none");
  is_int(sg_json_scan_next("{}", 2, &z), -1, "an object is not an array");
}


/* Random strings of the bytes that end or break a run, at every offset of the scanner's eight-
 * byte steps and near the end of the text: accepted exactly when the strict checker accepts
 * the object, and the span found ends where the string does. */
static void json_scan_string_steps(void) {
  /* pieces, so that the text stays UTF-8 (the member scan leaves that check to the plain one) */
  static const char *const alphabet[] = {"a", "Z", " ", "\"", "\\", "n", "u", "0", "\x01",
                                         "\x1f", "\x7f", "\xc3\xa9", "\xe2\x82\xac", "/",
                                         "\\u00e9", "\\n", "\\\""};
  static const char *const key[] = {"k"};
  unsigned seed = 12345;
  int disagree = 0, accepted = 0;
  for (int i = 0; i < 200000; i++) {
    char text[160];
    size_t n = 0;
    memcpy(text, "{\"k\":\"", 6);
    n = 6;
    seed = seed * 1103515245u + 12345u;
    size_t len = (seed >> 16) % 24; /* pieces of up to 6 bytes: within text */
    for (size_t k = 0; k < len; k++) {
      seed = seed * 1103515245u + 12345u;
      unsigned r = (seed >> 16) % 64;
      const char *piece = r < SG_ARRAY_LEN(alphabet) ? alphabet[r] : "abcdefghijklmnopqrstuvwxyz" + r % 26;
      size_t pl = r < SG_ARRAY_LEN(alphabet) ? strlen(piece) : 1;
      memcpy(text + n, piece, pl);
      n += pl;
    }
    text[n++] = '"';
    text[n++] = '}';
    char *exact = malloc(n); /* as long as the text: ASan sees a read past it */
    memcpy(exact, text, n);
    sg_json_span sp;
    int got = sg_json_scan_members(exact, n, key, 1, &sp) == 0;
    char copy[161];
    size_t out;
    memcpy(copy, text, n);
    copy[n] = '\0';
    int want = sg_json_compact(copy, n, &out, NULL, 0) == 0;
    if (got != want || (got && (!sp.found || sp.start != 5 || sp.end != n - 1))) {
      if (disagree++ < 3) tap_diag("scan %d, checker %d: %.*s", got, want, (int)n, text);
    }
    accepted += got;
    free(exact);
  }
  is_int(disagree, 0, "200000 strings: the scan and the strict checker agree (%d accepted)",
         accepted);
  ok(accepted > 1000 && accepted < 199000, "both kinds were tried");
}

static const tap_test tests[] = {
    TEST(json_scan_finds_as_parser),
    TEST(json_scan_refuses),
    TEST(json_scan_depth),
    TEST(json_scan_plain),
    TEST(json_scan_next),
    TEST(json_scan_string_steps),
};

int main(void) {
  tap_run(tests, TAP_COUNT(tests));
  return tap_done();
}
