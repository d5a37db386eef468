/*
 * util.c -- unit tests of lib/base/util.c (sg.h): the arena, the growable buffer, UTF-8 checking,
 * JSON string escaping and the small string and time helpers.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/sg.h"
#include "tap.h"

#define ALIGN_OF_ANY (_Alignof(max_align_t))
#define ROUND_UP(n) (((n) + sizeof(max_align_t) - 1) & ~(sizeof(max_align_t) - 1))

/* ------------------------------------------------------------------------------------------ */
/* Arena */

static void unit_util_arena_alignment(void) {
  sg_arena a;
  sg_arena_init(&a, NULL, 0, 0);
  static const size_t sizes[] = {1, 3, 7, 8, 9, 15, 16, 17, 31, 33, 100, 1000, 5000, 0};
  int aligned = 1;
  for (size_t i = 0; i < SG_ARRAY_LEN(sizes); i++) {
    void *p = sg_arena_alloc(&a, sizes[i]);
    if (!p || (uintptr_t)p % ALIGN_OF_ANY != 0) aligned = 0;
    if (p && sizes[i]) memset(p, 0xAB, sizes[i]);
  }
  ok(aligned, "every allocation from a malloc'd block is aligned for any type");
  sg_arena_release(&a);

  /* A caller-supplied first block at an odd address is aligned before use. */
  static char first[512];
  sg_arena_init(&a, first + 3, sizeof first - 3, 0);
  char *p1 = sg_arena_alloc(&a, 5);
  char *p2 = sg_arena_alloc(&a, 5);
  ok(p1 && (uintptr_t)p1 % ALIGN_OF_ANY == 0, "first allocation in the supplied block is aligned");
  ok(p2 && (uintptr_t)p2 % ALIGN_OF_ANY == 0, "second allocation in the supplied block is aligned");
  ok(p1 >= first + 3 && p2 + 5 <= first + sizeof first,
     "small allocations come from the supplied block");
  is_int(a.total, 0, "nothing was taken from malloc while the supplied block had room");
  sg_arena_release(&a);
}

static void unit_util_arena_many_blocks(void) {
  sg_arena a;
  sg_arena_init(&a, NULL, 0, 0);
  enum { N = 1000, SZ = 100 };
  static unsigned char *ptrs[N];
  int all = 1;
  for (int i = 0; i < N; i++) {
    ptrs[i] = sg_arena_alloc(&a, SZ);
    if (!ptrs[i]) {
      all = 0;
      break;
    }
    memset(ptrs[i], i & 0xFF, SZ);
  }
  ok(all, "1000 allocations of 100 bytes succeed");
  int intact = all;
  for (int i = 0; all && i < N; i++)
    for (int k = 0; k < SZ; k++)
      if (ptrs[i][k] != (unsigned char)(i & 0xFF)) intact = 0;
  ok(intact, "no allocation overlaps another (every pattern survives)");
  ok(a.total >= (size_t)N * ROUND_UP(SZ), "the arena took several blocks (total %zu)", a.total);
  ok(a.head != NULL, "blocks are on the list");
  sg_arena_release(&a);
  is_int(a.total, 0, "release forgets every block");
  ok(a.head == NULL && a.cur == NULL, "release leaves an empty arena");
  char *again = sg_arena_strdup(&a, "again");
  is_str(again, "again", "the arena is usable after release");
  sg_arena_release(&a);
}

static void unit_util_arena_big_allocations(void) {
  sg_arena a;
  sg_arena_init(&a, NULL, 0, 0);
  char *s1 = sg_arena_alloc(&a, 16);
  char *big = sg_arena_alloc(&a, 100000);
  char *s2 = sg_arena_alloc(&a, 16);
  ok(s1 && big && s2, "small, big, small all succeed");
  if (big) memset(big, 'x', 100000);
  ok(big && (uintptr_t)big % ALIGN_OF_ANY == 0, "the big allocation is aligned");
  ok(s2 == s1 + ROUND_UP(16), "a big allocation gets its own block; the current one goes on");
  ok(a.total >= 100000 + 4096, "the big block is counted (total %zu)", a.total);
  /* Over half a block and too big for what is left of the current one: its own block too. */
  char *filler = sg_arena_alloc(&a, 3500);
  ok(filler == s2 + ROUND_UP(16), "3500 bytes still fit in the current 4096-byte block");
  char *big2 = sg_arena_alloc(&a, 3000);
  ok(big2 != NULL && (big2 < filler || big2 >= filler + ROUND_UP(3500)),
     "3000 bytes that do not fit come from a new block");
  char *s3 = sg_arena_alloc(&a, 16);
  ok(s3 == filler + ROUND_UP(3500), "after that the partly used current block still serves");
  void *z = sg_arena_alloc(&a, 0);
  void *z2 = sg_arena_alloc(&a, 0);
  ok(z && z2 && z != z2, "zero-byte allocations give distinct pointers");
  ok(sg_arena_alloc(&a, SIZE_MAX) == NULL, "SIZE_MAX fails instead of wrapping around");
  ok(sg_arena_alloc(&a, SIZE_MAX - 5) == NULL, "SIZE_MAX-5 fails instead of wrapping around");
  sg_arena_release(&a);
}

static void unit_util_arena_limit(void) {
  sg_arena a;
  sg_arena_init(&a, NULL, 0, 8192);
  ok(sg_arena_alloc(&a, 4000) != NULL, "4000 bytes under a limit of 8192");
  ok(sg_arena_alloc(&a, 4000) != NULL, "8000 bytes under a limit of 8192");
  ok(sg_arena_alloc(&a, 4000) == NULL, "12000 bytes over a limit of 8192 fail");
  ok(sg_arena_alloc(&a, (size_t)1 << 40) == NULL, "a huge request fails on the limit");
  ok(a.total <= 8192, "the arena never took more than its limit (total %zu)", a.total);
  sg_arena_release(&a);

  /* The supplied first block does not count against the limit. */
  static char first[1024];
  sg_arena_init(&a, first, sizeof first, 64);
  ok(sg_arena_alloc(&a, 512) != NULL, "the supplied block serves beyond a tiny limit");
  ok(sg_arena_alloc(&a, 2048) == NULL, "malloc'd blocks respect the limit");
  sg_arena_release(&a);
}

static void unit_util_arena_strings(void) {
  sg_arena a;
  sg_arena_init(&a, NULL, 0, 0);
  is_str(sg_arena_strdup(&a, "hello"), "hello", "strdup copies");
  ok(sg_arena_strdup(&a, NULL) == NULL, "strdup(NULL) is NULL");
  is_str(sg_arena_strndup(&a, "hello world", 5), "hello", "strndup stops at n");
  is_str(sg_arena_printf(&a, "%s-%d", "x", 42), "x-42", "printf formats");
  char longs[600];
  memset(longs, 'q', sizeof longs - 1);
  longs[sizeof longs - 1] = '\0';
  char *p = sg_arena_printf(&a, "<%s>", longs);
  ok(p && strlen(p) == 601 && p[0] == '<' && p[600] == '>' && p[1] == 'q' && p[599] == 'q',
     "printf output longer than its 256-byte scratch is complete");
  unsigned char *z = sg_arena_calloc(&a, 300);
  int zero = z != NULL;
  for (int i = 0; z && i < 300; i++)
    if (z[i]) zero = 0;
  ok(zero, "calloc zeroes");
  sg_arena_release(&a);
}

/* ------------------------------------------------------------------------------------------ */
/* Buffer */

static void unit_util_buf_grows(void) {
  sg_buf b;
  sg_buf_init(&b, 0);
  ok(b.ptr == NULL && b.len == 0, "a new buffer holds nothing");
  int rc = 0;
  for (int i = 0; i < 10000; i++) rc |= sg_buf_putc(&b, (char)('a' + i % 26));
  is_int(rc, 0, "10000 appends succeed");
  is_int(b.len, 10000, "length counts every byte");
  ok(b.cap >= b.len + 1, "capacity leaves room for the terminator");
  ok(b.ptr && b.ptr[10000] == '\0', "the buffer is NUL-terminated");
  ok(b.ptr && b.ptr[0] == 'a' && b.ptr[25] == 'z' && b.ptr[26] == 'a' &&
         b.ptr[9999] == 'a' + 9999 % 26,
     "the content is in order");
  is_int(sg_buf_append(&b, "xyz", 0), 0, "appending nothing succeeds");
  is_int(b.len, 10000, "appending nothing changes nothing");
  sg_buf_reset(&b);
  is_int(b.len, 0, "reset empties");
  is_str(b.ptr, "", "reset leaves an empty string");
  sg_buf_puts(&b, "abc");
  is_str(b.ptr, "abc", "the buffer is reusable after reset");
  is_int(sg_buf_reserve(&b, 1000), 0, "reserve succeeds");
  ok(b.cap >= 1004, "reserve makes room for len + extra + NUL (cap %zu)", b.cap);
  is_str(b.ptr, "abc", "reserve keeps the content");
  sg_buf_free(&b);
  ok(b.ptr == NULL && b.len == 0 && b.cap == 0, "free releases the memory");
}

static void unit_util_buf_cap_failure_is_sticky(void) {
  sg_buf b;
  sg_buf_init(&b, 8);
  is_int(sg_buf_puts(&b, "12345678"), 0, "exactly max bytes fit");
  is_str(b.ptr, "12345678", "the content is there");
  ok(!sg_buf_failed(&b), "not failed at the cap");
  is_int(sg_buf_putc(&b, 'x'), SOULGW_ENOMEM, "one byte over the cap fails");
  ok(sg_buf_failed(&b), "the buffer is marked failed");
  is_str(b.ptr, "12345678", "a failed append leaves the content alone");
  is_int(b.len, 8, "a failed append leaves the length alone");
  sg_buf_reset(&b);
  sg_buf_puts(&b, "123456");
  is_int(sg_buf_puts(&b, "789"), SOULGW_ENOMEM, "an append crossing the cap fails");
  is_int(sg_buf_puts(&b, ""), SOULGW_ENOMEM, "after a failure even an empty append fails");
  is_int(sg_buf_putc(&b, 'a'), SOULGW_ENOMEM, "after a failure an append that would fit fails");
  is_int(sg_buf_reserve(&b, 0), SOULGW_ENOMEM, "after a failure reserve fails");
  is_int(b.len, 6, "nothing was appended after the failure");
  is_str(b.ptr, "123456", "the content is what it was before the failure");
  is_int(sg_buf_printf(&b, "%d", 1), SOULGW_ENOMEM, "after a failure printf fails too");
  is_int(b.len, 6, "and appends nothing");
  ok(sg_buf_failed(&b), "the buffer is still failed");
  size_t len = 99;
  char *s = sg_buf_detach(&b, &len);
  ok(s == NULL, "detaching a failed buffer gives NULL");
  is_int(len, 0, "and length 0");
  ok(!sg_buf_failed(&b) && b.ptr == NULL, "detach leaves a fresh buffer");
  is_int(sg_buf_puts(&b, "abc"), 0, "the buffer keeps its cap and works again after detach");
  is_int(b.max, 8, "the cap survives detach");
  sg_buf_free(&b);

  sg_buf_init(&b, 4);
  is_int(sg_buf_puts(&b, "too long"), SOULGW_ENOMEM, "a first append over the cap fails");
  ok(sg_buf_failed(&b), "failed");
  sg_buf_reset(&b);
  ok(!sg_buf_failed(&b), "reset clears the failure");
  is_int(sg_buf_puts(&b, "ok"), 0, "and the buffer works again");
  sg_buf_free(&b);
}

static void unit_util_buf_printf(void) {
  sg_buf b;
  sg_buf_init(&b, 0);
  is_int(sg_buf_printf(&b, "%s=%d", "port", 8080), 0, "printf on an empty buffer");
  is_str(b.ptr, "port=8080", "printf formats");
  sg_buf_printf(&b, ",%05.1f", 3.14159);
  is_str(b.ptr, "port=8080,003.1", "printf appends");
  char big[300];
  memset(big, 'z', sizeof big - 1);
  big[sizeof big - 1] = '\0';
  is_int(sg_buf_printf(&b, "[%s]", big), 0, "printf larger than the capacity grows the buffer");
  is_int(b.len, 15 + 301, "length after a growing printf");
  ok(b.ptr && b.ptr[15] == '[' && b.ptr[16] == 'z' && b.ptr[314] == 'z' && b.ptr[315] == ']' &&
         b.ptr[316] == '\0',
     "a growing printf writes the whole text");
  is_int(sg_buf_printf(&b, "%s", ""), 0, "an empty printf succeeds");
  is_int(b.len, 316, "an empty printf adds nothing");
  sg_buf_free(&b);

  /* A printf over the cap fails and does not move len. */
  sg_buf_init(&b, 10);
  sg_buf_puts(&b, "abc");
  is_int(sg_buf_printf(&b, "%s", "0123456789"), SOULGW_ENOMEM, "printf over the cap fails");
  is_int(b.len, 3, "len is unchanged after a failed printf");
  ok(sg_buf_failed(&b), "failed after printf over the cap");
  is_str(b.ptr, "abc", "nothing of the failed attempt is left past len");
  sg_buf_free(&b);
}

static void unit_util_buf_detach(void) {
  sg_buf b;
  sg_buf_init(&b, 0);
  size_t len = 99;
  char *s = sg_buf_detach(&b, &len);
  is_str(s, "", "detaching an empty buffer gives an empty string to free");
  is_int(len, 0, "of length 0");
  free(s);
  sg_buf_puts(&b, "hello");
  sg_buf_puts(&b, " world");
  s = sg_buf_detach(&b, &len);
  is_str(s, "hello world", "detach hands out the string");
  is_int(len, 11, "with its length");
  ok(b.ptr == NULL && b.len == 0 && b.cap == 0, "the buffer is left empty");
  free(s);
  s = sg_buf_detach(&b, NULL);
  is_str(s, "", "detach with a NULL length pointer");
  free(s);
}

static char *escape(const char *s, size_t max_in) {
  sg_buf b;
  sg_buf_init(&b, 0);
  if (sg_buf_json_escape(&b, s, max_in) != 0) {
    sg_buf_free(&b);
    return NULL;
  }
  return sg_buf_detach(&b, NULL);
}

static void check_escape(const char *in, size_t max_in, const char *want, const char *what) {
  char *got = escape(in, max_in);
  is_str(got, want, "%s", what);
  free(got);
}

static void unit_util_buf_json_escape(void) {
  check_escape("plain text", (size_t)-1, "plain text", "plain ASCII is copied");
  check_escape("", (size_t)-1, "", "empty input");
  check_escape("say \"hi\"", (size_t)-1, "say \\\"hi\\\"", "quotes are escaped");
  check_escape("C:\\dir", (size_t)-1, "C:\\\\dir", "backslashes are escaped");
  check_escape("a\nb\rc\td", (size_t)-1, "a\\nb\\rc\\td", "newline, CR and tab use short escapes");
  check_escape("\x01\x0b\x1f", (size_t)-1, "\\u0001\\u000b\\u001f",
               "other control characters are \\u00XX, lower-case hex");
  check_escape("\x08\x0c", (size_t)-1, "\\b\\f", "backspace and form feed use short escapes");
  check_escape("del\x7f", (size_t)-1, "del\x7f", "DEL needs no escape in JSON");
  check_escape("/", (size_t)-1, "/", "the solidus is not escaped");
  check_escape("caf\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80", (size_t)-1,
               "caf\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80", "valid UTF-8 is copied as is");
  check_escape("a\xFF" "b", (size_t)-1, "a\xEF\xBF\xBD" "b", "an invalid byte becomes U+FFFD");
  check_escape("\x80", (size_t)-1, "\xEF\xBF\xBD", "a lone continuation byte becomes U+FFFD");
  check_escape("x\xED\xA0\x80y", (size_t)-1, "x\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBDy",
               "an encoded surrogate is replaced byte by byte");
  check_escape("x\xC0\xAFy", (size_t)-1, "x\xEF\xBF\xBD\xEF\xBF\xBDy",
               "an overlong sequence is replaced byte by byte");
  check_escape("\xC3", (size_t)-1, "\xEF\xBF\xBD", "a truncated sequence at the end is replaced");
  check_escape("abcdef", 3, "abc", "max_in stops after 3 input bytes");
  check_escape("ab\"def", 3, "ab\\\"", "max_in counts input bytes, not output bytes");
  check_escape("abc", 0, "", "max_in 0 appends nothing");
  check_escape("abc", 100, "abc", "max_in beyond the string stops at its end");
  check_escape("\xC3\xA9\xC3\xA9", 3, "\xC3\xA9\xEF\xBF\xBD",
               "a sequence cut by max_in is replaced, never emitted half");

  /* Every ASCII byte is escaped as cJSON prints it, by both entry points. */
  int as_cjson = 1;
  for (int c = 1; c < 0x80 && as_cjson; c++) {
    char in[4] = {'a', (char)c, 'b', 0};
    soulgw_json *v = soulgw_json_new_string(in);
    char *want = soulgw_json_print(v), *got = escape(in, (size_t)-1);
    sg_buf raw;
    sg_buf_init(&raw, 0);
    sg_buf_putc(&raw, '"');
    sg_buf_json_escape_bytes(&raw, in, 3);
    sg_buf_putc(&raw, '"');
    as_cjson = want && got && raw.ptr && !strncmp(want + 1, got, strlen(got)) &&
               strlen(want) == strlen(got) + 2 && !strcmp(want, raw.ptr);
    if (!as_cjson) tap_diag("byte 0x%02x: cJSON %s, escaped %s, bytes %s", (unsigned)c, want, got, raw.ptr);
    free(want);
    free(got);
    sg_buf_free(&raw);
    soulgw_json_free(v);
  }
  ok(as_cjson, "every ASCII byte is escaped as cJSON prints it");

  sg_buf raw;
  sg_buf_init(&raw, 0);
  sg_buf_json_escape_bytes(&raw, "a\xFF\"\xC3", 4);
  is_str(raw.ptr, "a\xFF\\\"\xC3", "escape_bytes passes bytes that are not UTF-8 through");
  sg_buf_free(&raw);

  char *all = escape("q\"\\\n\x02\xFE", (size_t)-1);
  size_t bad = 0;
  ok(all && sg_utf8_valid(all, strlen(all), &bad), "escaped output is always valid UTF-8");
  free(all);

  /* Appends to what the buffer holds, and honours the cap. */
  sg_buf b;
  sg_buf_init(&b, 6);
  sg_buf_puts(&b, "[");
  is_int(sg_buf_json_escape(&b, "ab", (size_t)-1), 0, "escape appends");
  is_str(b.ptr, "[ab", "after what was there");
  is_int(sg_buf_json_escape(&b, "\"\"\"", (size_t)-1), SOULGW_ENOMEM,
         "escaping past the cap reports failure");
  ok(sg_buf_failed(&b), "the buffer is failed");
  sg_buf_free(&b);
}

/* The scans that skip eight bytes at a time find the same first byte as a byte-by-byte scan:
 * every byte value at every position of runs longer than a word, alone and followed by a second
 * stop byte (whose borrow must not hide the first). */
static void unit_util_plain_run_words(void) {
  int run_ok = 1, esc_ok = 1, utf8_ok = 1;
  for (unsigned c = 0; c < 256; c++) {
    int stops = c < 0x20 || c >= 0x80 || c == '"' || c == '\\';
    for (size_t k = 0; k < 24; k++) {
      char buf[25];
      memset(buf, 'a', 24);
      buf[24] = '\0';
      buf[k] = (char)c;
      size_t want = stops ? k : 24;
      if (sg_json_plain_run(buf, 24) != want) {
        run_ok = 0;
        tap_diag("byte 0x%02x at %zu: run %zu, want %zu", c, k, sg_json_plain_run(buf, 24), want);
      }
      if (k + 1 < 24) {
        buf[k + 1] = '\x01';
        if (sg_json_plain_run(buf, 24) != (stops ? k : k + 1)) run_ok = 0;
        buf[k + 1] = 'a';
      }
      if (c >= 0x80) {
        size_t bad = 0;
        if (sg_utf8_valid(buf, 24, &bad) || bad != k) utf8_ok = 0;
      }
      if (c && c < 0x80) { /* the escaper's output against one byte escaped alone */
        char e[7];
        size_t elen = sg_json_needs_escape((unsigned char)c) ? sg_json_escape_byte((unsigned char)c, e) : 1;
        if (elen == 1) e[0] = (char)c;
        e[elen] = '\0';
        char want_s[64];
        snprintf(want_s, sizeof want_s, "%.*s%s%.*s", (int)k, buf, e, (int)(23 - k), buf + k + 1);
        char *got = escape(buf, (size_t)-1);
        if (!got || strcmp(got, want_s) != 0) esc_ok = 0;
        free(got);
      }
    }
  }
  ok(run_ok, "sg_json_plain_run stops at the first byte that needs a look, at any position");
  ok(utf8_ok, "sg_utf8_valid finds a bad byte at any position of a long ASCII run");
  ok(esc_ok, "escaping a long run escapes its one special byte, at any position");
  is_int(sg_json_plain_run("", 0), 0, "an empty run");
}

/* Every byte is kept or written %XX exactly as RFC 3986's unreserved set says. */
static void unit_util_pct_encode(void) {
  int all = 1;
  for (unsigned c = 1; c < 256; c++) {
    char in[4] = {'a', (char)c, 'z', '\0'}, want[8];
    int keep = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
               c == '-' || c == '.' || c == '_' || c == '~';
    if (keep) snprintf(want, sizeof want, "a%cz", (char)c);
    else snprintf(want, sizeof want, "a%%%02Xz", c);
    sg_buf b;
    sg_buf_init(&b, 0);
    if (sg_buf_pct_encode(&b, in) != 0 || strcmp(b.ptr, want) != 0) {
      all = 0;
      tap_diag("byte 0x%02x: %s, want %s", c, b.ptr ? b.ptr : "(null)", want);
    }
    sg_buf_free(&b);
  }
  ok(all, "every byte is kept when unreserved, else %%XX in upper-case hex");
  sg_buf b;
  sg_buf_init(&b, 0);
  sg_buf_pct_encode(&b, "");
  is_int(b.len, 0, "the empty string appends nothing");
  sg_buf_pct_encode(&b, "t\xC3\xA9 n/1");
  is_str(b.ptr, "t%C3%A9%20n%2F1", "UTF-8, a space and a slash");
  sg_buf_free(&b);
}

/* ------------------------------------------------------------------------------------------ */
/* UTF-8 */

static void check_utf8(const char *s, size_t len, int want_valid, size_t want_bad,
                       const char *what) {
  size_t bad = (size_t)-7;
  int v = sg_utf8_valid(s, len, &bad);
  is_int(v, want_valid, "%s: validity", what);
  if (!want_valid) is_int(bad, want_bad, "%s: offset of the first bad byte", what);
  else is_int(bad, (size_t)-7, "%s: *bad untouched when valid", what);
}
#define U8(lit, valid, bad, what) check_utf8(lit, sizeof(lit) - 1, valid, bad, what)

static void unit_util_utf8_encode_hex(void) {
  static const struct {
    unsigned long cp;
    const char *want;
  } cases[] = {{0x41, "A"},          {0x7f, "\x7f"},         {0x80, "\xC2\x80"},
               {0xe9, "\xC3\xA9"},    {0x7ff, "\xDF\xBF"},    {0x800, "\xE0\xA0\x80"},
               {0x20ac, "\xE2\x82\xAC"}, {0xffff, "\xEF\xBF\xBF"}, {0x10000, "\xF0\x90\x80\x80"},
               {0x1f600, "\xF0\x9F\x98\x80"}, {0x10ffff, "\xF4\x8F\xBF\xBF"}};
  for (size_t i = 0; i < SG_ARRAY_LEN(cases); i++) {
    char out[5] = {0};
    size_t n = sg_utf8_encode(cases[i].cp, out);
    ok(n == strlen(cases[i].want) && memcmp(out, cases[i].want, n) == 0, "U+%04lX in UTF-8",
       cases[i].cp);
  }
  int all = 1;
  for (int c = 0; c < 256; c++) {
    int want = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10
               : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
    if (sg_hex_digit((char)c) != want) all = 0;
  }
  ok(all, "sg_hex_digit: 0-9, a-f and A-F, -1 for every other byte");
}

static void unit_util_utf8_valid(void) {
  U8("", 1, 0, "empty");
  U8("hello", 1, 0, "ASCII");
  U8("a\0b", 1, 0, "NUL is ASCII");
  U8("\xC2\x80", 1, 0, "U+0080, smallest 2-byte");
  U8("\xDF\xBF", 1, 0, "U+07FF");
  U8("\xE0\xA0\x80", 1, 0, "U+0800, smallest 3-byte");
  U8("\xED\x9F\xBF", 1, 0, "U+D7FF, just below the surrogates");
  U8("\xEE\x80\x80", 1, 0, "U+E000, just above the surrogates");
  U8("\xEF\xBF\xBF", 1, 0, "U+FFFF");
  U8("\xF0\x90\x80\x80", 1, 0, "U+10000, smallest 4-byte");
  U8("\xF4\x8F\xBF\xBF", 1, 0, "U+10FFFF, the largest code point");
  U8("x\xC3\xA9y\xE2\x82\xACz\xF0\x9F\x98\x80", 1, 0, "mixed text");

  /* overlongs */
  U8("\xC0\x80", 0, 0, "overlong NUL C0 80");
  U8("ab\xC1\xBF", 0, 2, "overlong C1 BF");
  U8("\xE0\x80\x80", 0, 0, "overlong 3-byte E0 80 80");
  U8("\xE0\x9F\xBF", 0, 0, "overlong 3-byte E0 9F BF");
  U8("\xF0\x80\x80\x80", 0, 0, "overlong 4-byte F0 80 80 80");
  U8("\xF0\x8F\xBF\xBF", 0, 0, "overlong 4-byte F0 8F BF BF");
  /* surrogates */
  U8("ok\xED\xA0\x80", 0, 2, "U+D800 encoded");
  U8("\xED\xBF\xBF", 0, 0, "U+DFFF encoded");
  U8("\xED\xA0\xBD\xED\xB8\x80", 0, 0, "a CESU-8 surrogate pair");
  /* beyond U+10FFFF */
  U8("\xF4\x90\x80\x80", 0, 0, "U+110000");
  U8("\xF5\x80\x80\x80", 0, 0, "lead byte F5");
  U8("\xF8\x88\x80\x80\x80", 0, 0, "5-byte form");
  U8("\xFF", 0, 0, "FF");
  U8("\xFE", 0, 0, "FE");
  /* truncated and broken sequences */
  U8("ab\xE2\x82", 0, 2, "truncated 3-byte at the end");
  U8("\xF0\x9F\x98", 0, 0, "truncated 4-byte at the end");
  U8("\xC3", 0, 0, "truncated 2-byte at the end");
  U8("\xC3" "a", 0, 0, "2-byte lead followed by ASCII");
  U8("\xE2\x28\xA1", 0, 0, "bad second byte of a 3-byte sequence");
  U8("\xE2\x82\x28", 0, 0, "bad third byte of a 3-byte sequence");
  U8("\xF0\x9F\x98\x28", 0, 0, "bad fourth byte of a 4-byte sequence");
  U8("abc\x80", 0, 3, "lone continuation byte");
  U8("xy\xE2\x82\xACz\xFF", 0, 6, "offset counts bytes of earlier multi-byte characters");

  /* len is respected: a valid sequence cut short by len is invalid; bytes past len ignored. */
  check_utf8("\xC3\xA9", 1, 0, 0, "sequence cut by len");
  check_utf8("ab\xFF", 2, 1, 0, "bad byte past len is not looked at");
  ok(sg_utf8_valid("\xFF", 1, NULL) == 0, "bad may be NULL");
}

/* ------------------------------------------------------------------------------------------ */
/* Strings and time */

static void unit_util_strlcpy(void) {
  char dst[8];
  memset(dst, 'X', sizeof dst);
  is_int(sg_strlcpy(dst, "abc", sizeof dst), 3, "returns strlen(src)");
  is_str(dst, "abc", "copies a short string");
  is_int(sg_strlcpy(dst, "abcdefghij", sizeof dst), 10, "returns strlen(src) when truncating");
  is_str(dst, "abcdefg", "truncates to dstlen-1 and terminates");
  is_int(sg_strlcpy(dst, "1234567", sizeof dst), 7, "exact fit");
  is_str(dst, "1234567", "exact fit is copied whole");
  memset(dst, 'X', sizeof dst);
  is_int(sg_strlcpy(dst, "abc", 0), 3, "dstlen 0 still returns strlen(src)");
  ok(dst[0] == 'X', "dstlen 0 writes nothing");
  is_int(sg_strlcpy(dst, "abc", 1), 3, "dstlen 1");
  is_str(dst, "", "dstlen 1 gives an empty string");
  is_int(sg_strlcpy(dst, "", sizeof dst), 0, "empty source");
  is_str(dst, "", "empty source gives an empty string");
}

static void unit_util_is_blank(void) {
  ok(sg_is_blank(""), "empty is blank");
  ok(sg_is_blank(" \t\n\r\f\v"), "ASCII white space is blank");
  ok(!sg_is_blank(" a "), "a letter is not blank");
  ok(!sg_is_blank("\t\t."), "punctuation is not blank");
  ok(!sg_is_blank("\xC2\xA0"), "no-break space (non-ASCII) is not blank");
  ok(!sg_is_blank("0"), "zero is not blank");
}

static void unit_util_strings_misc(void) {
  char *s = sg_strdup("dup");
  is_str(s, "dup", "sg_strdup copies");
  free(s);
  ok(sg_strdup(NULL) == NULL, "sg_strdup(NULL) is NULL");
  s = sg_strndup("abcdef", 2);
  is_str(s, "ab", "sg_strndup stops at n");
  free(s);
  ok(sg_strcaseeq("Content-Type", "content-type"), "sg_strcaseeq ignores case");
  ok(!sg_strcaseeq("Content-Type", "content-typ"), "sg_strcaseeq compares lengths");
  char err[8];
  sg_seterr(err, sizeof err, "%s %d", "error", 12345);
  is_str(err, "error 1", "sg_seterr truncates to the buffer");
  sg_seterr(NULL, 8, "%s", "x");
  sg_seterr(err, 0, "%s", "x");
  is_str(err, "error 1", "sg_seterr without a buffer does nothing");
}

static void check_time(int64_t ms, const char *want) {
  char out[32];
  memset(out, 'X', sizeof out);
  sg_format_time_ms(ms, out);
  is_str(out, want, "sg_format_time_ms(%lld)", (long long)ms);
}

static void unit_util_format_time_ms(void) {
  check_time(0, "1970-01-01T00:00:00.000Z");
  check_time(1, "1970-01-01T00:00:00.001Z");
  check_time(999, "1970-01-01T00:00:00.999Z");
  check_time(1735689600000LL, "2025-01-01T00:00:00.000Z");
  check_time(1735689600123LL, "2025-01-01T00:00:00.123Z");
  check_time(951782400999LL, "2000-02-29T00:00:00.999Z");
  check_time(1719791999999LL, "2024-06-30T23:59:59.999Z");
  check_time(4102444799999LL, "2099-12-31T23:59:59.999Z");
  char out[32];
  sg_format_time_ms(1735689600123LL, out);
  is_int(strlen(out), 24, "the text is 24 characters (25 bytes with NUL)");
  /* Before the epoch: -1 ms is 1969-12-31T23:59:59.999Z. */
  sg_format_time_ms(-1, out);
  is_str(out, "1969-12-31T23:59:59.999Z", "a time before the epoch");
  uint64_t a = sg_now_ns(), b2 = sg_now_ns();
  ok(b2 >= a, "sg_now_ns is monotonic");
  int64_t w = sg_wall_ms();
  ok(w > 1700000000000LL, "sg_wall_ms is epoch milliseconds (%lld)", (long long)w);
  /* the coarse clocks: the same clocks, never ahead of the precise ones, a tick behind at most
   * (50 ms allows for a descheduled test) */
  uint64_t p0 = sg_now_ns(), c = sg_coarse_ns(), p1 = sg_now_ns();
  ok(c <= p1 && p0 - c < 50000000u, "sg_coarse_ns trails sg_now_ns by at most a tick (%lld ns)",
     (long long)(p0 - c));
  int64_t w0 = sg_wall_ms(), wc = sg_wall_coarse_ms(), w1 = sg_wall_ms();
  ok(wc <= w1 && w0 - wc < 50, "sg_wall_coarse_ms trails sg_wall_ms by at most a tick (%lld ms)",
     (long long)(w0 - wc));
}

static const tap_test tests[] = {
    TEST(unit_util_arena_alignment),
    TEST(unit_util_arena_many_blocks),
    TEST(unit_util_arena_big_allocations),
    TEST(unit_util_arena_limit),
    TEST(unit_util_arena_strings),
    TEST(unit_util_buf_grows),
    TEST(unit_util_buf_cap_failure_is_sticky),
    TEST(unit_util_buf_printf),
    TEST(unit_util_buf_detach),
    TEST(unit_util_buf_json_escape),
    TEST(unit_util_plain_run_words),
    TEST(unit_util_pct_encode),
    TEST(unit_util_utf8_valid),
    TEST(unit_util_utf8_encode_hex),
    TEST(unit_util_strlcpy),
    TEST(unit_util_is_blank),
    TEST(unit_util_strings_misc),
    TEST(unit_util_format_time_ms),
};

int main(void) {
  tap_run(tests, TAP_COUNT(tests));
  return tap_done();
}
