/*
 * hmac.c -- unit tests of lib/pipeline/hmac.c (SPEC 5, item 2): the SB-HMAC canonical string,
 * x-sb-date parsing (RFC 3339 and the three HTTP date formats), nonce bounds, signing, and the
 * public soulgw_sign() whose printed headers must verify against an independent recomputation.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/crypto.h"
#include "pipeline/hmac.h"
#include "base/sg.h"
#include "soulgw.h"
#include "tap.h"

#define SHA256_EMPTY "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
#define SHA256_ABC "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"

/* The canonical string as a malloc'd C string (NULL when it failed). */
static char *canon(const char *method, const char *path, const char *date, const char *body_hash,
                   const char *nonce) {
  sg_buf b;
  sg_buf_init(&b, 0);
  if (sg_hmac_canonical(&b, method, path, date, body_hash, nonce) != 0) {
    sg_buf_free(&b);
    return NULL;
  }
  return sg_buf_detach(&b, NULL);
}

/* sg_hmac_parse_date: 0 and the epoch, or -1 (epoch then left at a sentinel). */
static int pdate(const char *s, int64_t *epoch) {
  *epoch = -999;
  return sg_hmac_parse_date(s, epoch);
}

#define DATE_OK(s, want)                                                                    \
  do {                                                                                      \
    int64_t e_;                                                                             \
    is_int(pdate((s), &e_), 0, "parses: %s", (s));                                          \
    is_int(e_, (want), "epoch of %s", (s));                                                 \
  } while (0)
#define DATE_BAD(s, why) is_int(sg_hmac_parse_date((s), &(int64_t){0}), -1, "rejected: %s", why)

/* ------------------------------------------------------------------------------------------ */
/* Canonical string and signing */

static void unit_hmac_spec_vector(void) {
  char *c = canon("POST", "/api/repo/append", "2025-01-01T00:00:00Z", NULL, NULL);
  is_str(c, "POST\n/api/repo/append\n2025-01-01T00:00:00Z", "the SPEC canonical string");
  char sig[65];
  memset(sig, 'X', sizeof sig);
  if (c) sg_hmac_sign_hex(sig, "dev-hmac", 8, c, strlen(c));
  is_str(sig, "9e6239d7af1830d3a4fc2b0eb2e602760ef028a4a8abfc6fc03ee23b24d650d7",
         "the SPEC test vector (secret dev-hmac)");
  is_int(sig[64], '\0', "the hex signature is terminated at 64");
  /* The secret's length counts, not strlen: a secret with one more byte signs differently. */
  char sig2[65];
  if (c) sg_hmac_sign_hex(sig2, "dev-hmac!", 9, c, strlen(c));
  ok(strcmp(sig, sig2) != 0, "a different secret gives a different signature");
  if (c) sg_hmac_sign_hex(sig2, "dev-hmac!", 8, c, strlen(c));
  is_str(sig2, sig, "only secret_len bytes of the secret are used");
  /* The canonical length counts too. */
  if (c) sg_hmac_sign_hex(sig2, "dev-hmac", 8, c, strlen(c) - 1);
  ok(strcmp(sig, sig2) != 0, "a shorter canonical string signs differently");
  free(c);
}

static void unit_hmac_canonical_lines(void) {
  const char *h = SHA256_ABC;
  char *c = canon("POST", "/x", "2025-01-01T00:00:00Z", h, NULL);
  is_str(c, "POST\n/x\n2025-01-01T00:00:00Z\n" SHA256_ABC, "the body hash adds a fourth line");
  free(c);
  c = canon("POST", "/x", "2025-01-01T00:00:00Z", NULL, "nonce-123");
  is_str(c, "POST\n/x\n2025-01-01T00:00:00Z\nnonce-123", "the nonce adds a fourth line");
  free(c);
  c = canon("POST", "/x", "2025-01-01T00:00:00Z", h, "nonce-123");
  is_str(c, "POST\n/x\n2025-01-01T00:00:00Z\n" SHA256_ABC "\nnonce-123",
         "body hash, then nonce, in that order");
  /* and its signature matches one computed elsewhere (Python hmac) */
  char sig[65] = "";
  if (c) sg_hmac_sign_hex(sig, "k", 1, c, strlen(c));
  is_str(sig, "a554815bdb5b284e819c5333529e36a9b96d64efac3a745495115020091e6633",
         "signature of the five-line canonical string");
  free(c);
  c = canon("GET", "/", "Sun, 06 Nov 1994 08:49:37 GMT", NULL, NULL);
  is_str(c, "GET\n/\nSun, 06 Nov 1994 08:49:37 GMT", "the date is used as sent");
  free(c);
  /* appending: the canonical string is appended to what the buffer holds */
  sg_buf b;
  sg_buf_init(&b, 0);
  sg_buf_puts(&b, "pre:");
  is_int(sg_hmac_canonical(&b, "get", "/a", "d", NULL, NULL), 0, "returns 0");
  is_str(b.ptr, "pre:GET\n/a\nd", "appends to the buffer");
  is_int(b.len, 12, "length of the appended buffer");
  sg_buf_free(&b);
  /* a capped buffer that overflows reports out of memory */
  sg_buf_init(&b, 8);
  is_int(sg_hmac_canonical(&b, "POST", "/api/repo/append", "2025-01-01T00:00:00Z", NULL, NULL),
         SOULGW_ENOMEM, "a buffer over its cap gives SOULGW_ENOMEM");
  sg_buf_free(&b);
}

static void unit_hmac_canonical_query_and_method(void) {
  char *c = canon("POST", "/api/repo/append?x=1&y=2", "D", NULL, NULL);
  is_str(c, "POST\n/api/repo/append\nD", "the query string is cut from the path");
  free(c);
  c = canon("GET", "/a?b?c", "D", NULL, NULL);
  is_str(c, "GET\n/a\nD", "cut at the first '?'");
  free(c);
  c = canon("GET", "/a?", "D", NULL, NULL);
  is_str(c, "GET\n/a\nD", "an empty query is cut too");
  free(c);
  c = canon("pOsT", "/Mixed/Case", "D", NULL, NULL);
  is_str(c, "POST\n/Mixed/Case\nD", "method upper-cased, path case kept");
  free(c);
  c = canon("m-search", "/", "D", NULL, NULL);
  is_str(c, "M-SEARCH\n/\nD", "non-letters in the method are kept");
  free(c);
  /* the query does not change the signature: same canonical, same signature */
  char *a = canon("post", "/api/repo/append?q=1", "2025-01-01T00:00:00Z", NULL, NULL);
  char sig[65] = "";
  if (a) sg_hmac_sign_hex(sig, "dev-hmac", 8, a, strlen(a));
  is_str(sig, "9e6239d7af1830d3a4fc2b0eb2e602760ef028a4a8abfc6fc03ee23b24d650d7",
         "lower-case method with a query still gives the SPEC vector");
  free(a);
}

/* ------------------------------------------------------------------------------------------ */
/* Dates */

static void unit_hmac_date_rfc3339(void) {
  DATE_OK("2025-01-01T00:00:00Z", 1735689600);
  DATE_OK("2025-01-01t00:00:00z", 1735689600);
  DATE_OK("2025-01-01T00:00:00.5Z", 1735689600);
  DATE_OK("2025-01-01T00:00:00.123456789Z", 1735689600);
  DATE_OK("2025-01-01T00:00:00+02:00", 1735682400);
  DATE_OK("2025-01-01T00:00:00-05:30", 1735709400);
  DATE_OK("2025-01-01T00:00:00.250+00:00", 1735689600);
  DATE_OK("1970-01-01T00:00:00Z", 0);
  DATE_OK("1994-11-06T08:49:37Z", 784111777);
  DATE_OK("2024-02-29T12:34:56Z", 1709210096);
  DATE_OK("2000-02-29T00:00:00Z", 951782400);
  DATE_OK("9999-12-31T23:59:59Z", 253402300799LL);
}

static void unit_hmac_date_rfc3339_rejected(void) {
  DATE_BAD("2023-02-29T00:00:00Z", "2023 is not a leap year");
  DATE_BAD("1900-02-29T00:00:00Z", "1900 is not a leap year");
  DATE_BAD("2025-13-01T00:00:00Z", "month 13");
  DATE_BAD("2025-00-01T00:00:00Z", "month 0");
  DATE_BAD("2025-01-00T00:00:00Z", "day 0");
  DATE_BAD("2025-01-32T00:00:00Z", "day 32");
  DATE_BAD("2025-04-31T00:00:00Z", "April 31");
  DATE_BAD("2025-01-01T24:00:00Z", "hour 24");
  DATE_BAD("2025-01-01T00:60:00Z", "minute 60");
  DATE_BAD("2025-01-01T00:00:61Z", "second 61");
  DATE_BAD("2025-01-01T00:00:00", "missing Z");
  DATE_BAD("2025-01-01T00:00:00ZZ", "trailing Z");
  DATE_BAD("2025-01-01T00:00:00Z ", "trailing space");
  DATE_BAD("2025-01-01T00:00:00Zgarbage", "trailing garbage");
  DATE_BAD("2025-01-01T00:00:00+02:00x", "garbage after the offset");
  DATE_BAD("2025-01-01T00:00:00+0200", "offset without a colon");
  DATE_BAD("2025-01-01T00:00:00+24:00", "offset hour 24");
  DATE_BAD("2025-01-01T00:00:00+02:60", "offset minute 60");
  DATE_BAD("2025-01-01T00:00:00.Z", "a fraction without digits");
  DATE_BAD("2025-01-01 00:00:00Z", "space instead of T");
  DATE_BAD("2025-1-01T00:00:00Z", "one-digit month");
  DATE_BAD("2025/01/01T00:00:00Z", "slashes");
  DATE_BAD("2025-01-01T0a:00:00Z", "a letter in the hour");
  DATE_BAD("2025-01-01", "date only");
  DATE_BAD("0000-01-01T00:00:00Z", "year 0");
}

static void unit_hmac_date_http(void) {
  DATE_OK("Sun, 06 Nov 1994 08:49:37 GMT", 784111777);
  DATE_OK("Sunday, 06-Nov-94 08:49:37 GMT", 784111777);
  DATE_OK("Sun Nov  6 08:49:37 1994", 784111777);
  DATE_OK("Wed, 01 Jan 2025 00:00:00 GMT", 1735689600);
  DATE_OK("Thu, 29 Feb 2024 12:34:56 GMT", 1709210096);
  DATE_OK("Saturday, 01-Jan-00 00:00:00 GMT", 946684800);
  DATE_OK("Wed Jan  1 00:00:00 2025", 1735689600);
  DATE_OK("Thu Feb 29 12:34:56 2024", 1709210096);
}

static void unit_hmac_date_http_rejected(void) {
  DATE_BAD("Sun, 06 Nov 1994 08:49:37 UTC", "IMF-fixdate with UTC");
  DATE_BAD("Sun, 06 Nov 1994 08:49:37", "IMF-fixdate without a zone");
  DATE_BAD("Sun, 06 Nov 1994 08:49:37 GMT extra", "IMF-fixdate with trailing garbage");
  DATE_BAD("Sun, 06 Nox 1994 08:49:37 GMT", "unknown month");
  DATE_BAD("Sun, 06 nov 1994 08:49:37 GMT", "lower-case month");
  DATE_BAD("Sun, 31 Nov 1994 08:49:37 GMT", "November 31");
  DATE_BAD("Sun, 29 Feb 2023 08:49:37 GMT", "29 Feb 2023");
  DATE_BAD("Sun, 06 Nov 1994 24:00:00 GMT", "hour 24");
  DATE_BAD("Sunday, 06-Nov-94 08:49:37 UTC", "RFC 850 with UTC");
  DATE_BAD("Sunday, 06-Nov-94 08:49:37 GMTx", "RFC 850 with trailing garbage");
  DATE_BAD("Sun Nov  6 08:49:37 1994 GMT", "asctime with a zone");
  DATE_BAD("Sun Nox  6 08:49:37 1994", "asctime with an unknown month");
  DATE_BAD("Sun Nov 31 08:49:37 1994", "asctime November 31");
}

/* Malformed HTTP dates that a lenient reader (sscanf's %d) would let through: a sign, a short
 * or missing digit, a negative time field.  Each is refused; its well-formed counterpart parses
 * to its exact epoch. */
static void unit_hmac_date_http_strict_fields(void) {
  static const struct {
    const char *bad, *why, *good;
    long long want;
  } cases[] = {
      {"Sun, 06 Nov 1994 -8:49:37 GMT", "a negative hour", "Sun, 06 Nov 1994 08:49:37 GMT",
       784111777LL},
      {"Sun, 06 Nov 1994 08:-9:37 GMT", "a negative minute", "Sun, 06 Nov 1994 08:09:37 GMT",
       784109377LL},
      {"Sun, 06 Nov 1994 08:49:-7 GMT", "a negative second", "Sun, 06 Nov 1994 08:49:07 GMT",
       784111747LL},
      {"Sun, 06 Nov 1994 8:49:37 GMT", "a one-digit hour", "Sun, 06 Nov 1994 08:49:37 GMT",
       784111777LL},
      {"Sun, +6 Nov 1994 08:49:37 GMT", "a signed day", "Sun, 06 Nov 1994 08:49:37 GMT",
       784111777LL},
      {"Sun, 06 Nov 94 08:49:37 GMT", "a two-digit year in IMF-fixdate (read as year 94)",
       "Sun, 06 Nov 1994 08:49:37 GMT", 784111777LL},
      {"Sun, 06 Nov +994 08:49:37 GMT", "a signed three-digit year",
       "Sun, 06 Nov 1994 08:49:37 GMT", 784111777LL},
      {"Sunday, 06-Nov--1 08:49:37 GMT", "RFC 850 year -1 (read as 1999)",
       "Saturday, 06-Nov-99 08:49:37 GMT", 941878177LL},
      {"Sunday, 06-Nov-94 08:49:-1 GMT", "RFC 850 with a negative second",
       "Sunday, 06-Nov-94 08:49:01 GMT", 784111741LL},
      {"Sun Nov  6 -8:49:37 1994", "asctime with a negative hour", "Sun Nov  6 08:49:37 1994",
       784111777LL},
  };
  for (size_t i = 0; i < SG_ARRAY_LEN(cases); i++) {
    DATE_OK(cases[i].good, cases[i].want);
    DATE_BAD(cases[i].bad, cases[i].why);
  }
}

static void unit_hmac_date_garbage(void) {
  int64_t e = 12345;
  is_int(sg_hmac_parse_date(NULL, &e), -1, "NULL is rejected");
  is_int(e, 12345, "and the epoch is not written");
  DATE_BAD("", "empty string");
  DATE_BAD("garbage", "a word");
  DATE_BAD("1735689600", "epoch seconds");
  DATE_BAD("2", "one digit");
  DATE_BAD("Sun", "a day name");
  DATE_BAD(" 2025-01-01T00:00:00Z", "a leading space");
  char longs[1001];
  memset(longs, '0', sizeof longs - 1);
  longs[sizeof longs - 1] = '\0';
  memcpy(longs, "2025-01-01T00:00:00.", 20);
  longs[sizeof longs - 2] = 'Z';
  DATE_BAD(longs, "a 1000-character RFC 3339 date (a huge fraction)");
  char longh[300];
  snprintf(longh, sizeof longh, "Sun, 06 Nov 1994 08:49:37 GMT%270s", "");
  DATE_BAD(longh, "an HTTP date followed by 270 spaces");
}

/* ------------------------------------------------------------------------------------------ */
/* Nonces */

static void unit_hmac_nonce_bounds(void) {
  char n[200];
  memset(n, 'a', sizeof n);
  n[7] = '\0';
  is_int(sg_hmac_nonce_ok(n), 0, "7 characters: too short");
  memset(n, 'a', sizeof n);
  n[8] = '\0';
  is_int(sg_hmac_nonce_ok(n), 1, "8 characters: the minimum");
  memset(n, 'a', sizeof n);
  n[128] = '\0';
  is_int(sg_hmac_nonce_ok(n), 1, "128 characters: the maximum");
  memset(n, 'a', sizeof n);
  n[129] = '\0';
  is_int(sg_hmac_nonce_ok(n), 0, "129 characters: too long");
  is_int(sg_hmac_nonce_ok(""), 0, "empty");
  is_int(sg_hmac_nonce_ok("!\"#$%&'()*+,-./09:;<=>?@AZ[\\]^_`az{|}~"), 1,
         "every kind of visible ASCII character");
  is_int(sg_hmac_nonce_ok("abcd efgh"), 0, "a space");
  is_int(sg_hmac_nonce_ok("abcd\tefgh"), 0, "a tab");
  is_int(sg_hmac_nonce_ok("abcdefgh\n"), 0, "a newline (would forge a canonical line)");
  is_int(sg_hmac_nonce_ok("abcd\x01" "efgh"), 0, "a control character");
  is_int(sg_hmac_nonce_ok("abcd\x7f" "efgh"), 0, "DEL");
  is_int(sg_hmac_nonce_ok("abcd\xc3\xa9" "efgh"), 0, "a non-ASCII byte (UTF-8 e-acute)");
  is_int(sg_hmac_nonce_ok("abcdefg\xff"), 0, "byte 0xff");
}

/* ------------------------------------------------------------------------------------------ */
/* soulgw_sign */

/* Splits s into lines (modifies it); returns the count, at most max. */
static size_t split_lines(char *s, char **lines, size_t max) {
  size_t n = 0;
  while (*s && n < max) {
    char *nl = strchr(s, '\n');
    lines[n++] = s;
    if (!nl) break;
    *nl = '\0';
    s = nl + 1;
  }
  return n;
}

static int is_lower_hex(const char *s, size_t len) {
  if (strlen(s) != len) return 0;
  for (; *s; s++)
    if (!((*s >= '0' && *s <= '9') || (*s >= 'a' && *s <= 'f'))) return 0;
  return 1;
}

static const char *after(const char *line, const char *prefix) {
  size_t n = strlen(prefix);
  return line && strncmp(line, prefix, n) == 0 ? line + n : NULL;
}

/* Checks one soulgw_sign output: the header lines, and that the signature recomputed from
 * them matches.  Copies the nonce into nonce_out ("" when absent) for comparisons. */
static void check_signed(const char *out, const char *key_id, const void *secret,
                         size_t secret_len, const char *method, const char *path,
                         const char *want_date, const char *want_hash, char nonce_out[33]) {
  nonce_out[0] = '\0';
  if (!ok(out != NULL, "soulgw_sign returned headers")) return;
  size_t olen = strlen(out);
  ok(olen > 0 && out[olen - 1] == '\n', "the output ends with a newline");
  char *copy = sg_strdup(out);
  char *lines[8] = {0};
  size_t n = split_lines(copy, lines, 8);
  size_t want_n = want_hash ? 4 : 3;
  is_int(n, want_n, "exactly %zu header lines", want_n);
  size_t i = 0;
  const char *date = after(lines[i++], "x-sb-date: ");
  is_str(date, want_date, "line 1: x-sb-date");
  const char *hash = NULL;
  if (want_hash) {
    hash = after(lines[i++], "x-sb-content-sha256: ");
    is_str(hash, want_hash, "line 2: x-sb-content-sha256 is the body's SHA-256");
  }
  const char *nonce = after(i < n ? lines[i] : NULL, "x-sb-nonce: ");
  i++;
  ok(nonce && is_lower_hex(nonce, 32), "x-sb-nonce is 32 lower-case hex digits (%s)",
     nonce ? nonce : "(null)");
  ok(nonce && sg_hmac_nonce_ok(nonce), "the nonce passes sg_hmac_nonce_ok");
  if (nonce && strlen(nonce) == 32) memcpy(nonce_out, nonce, 33);
  char prefix[200];
  snprintf(prefix, sizeof prefix, "Authorization: SB-HMAC %s:", key_id);
  const char *sig = after(i < n ? lines[i] : NULL, prefix);
  ok(sig && is_lower_hex(sig, 64), "last line: Authorization: SB-HMAC %s:<64 hex>", key_id);
  if (date && nonce && sig) {
    char *c = canon(method, path, date, hash, nonce);
    char want[65] = "";
    if (c) sg_hmac_sign_hex(want, secret, secret_len, c, strlen(c));
    is_str(sig, want, "the signature verifies against the printed headers");
    /* and against a hand-built canonical string and a raw HMAC */
    sg_buf b;
    sg_buf_init(&b, 0);
    for (const char *m = method; *m; m++)
      sg_buf_putc(&b, (char)(*m >= 'a' && *m <= 'z' ? *m - 32 : *m));
    const char *q = strchr(path, '?');
    sg_buf_printf(&b, "\n%.*s\n%s", (int)(q ? (size_t)(q - path) : strlen(path)), path, date);
    if (hash) sg_buf_printf(&b, "\n%s", hash);
    sg_buf_printf(&b, "\n%s", nonce);
    unsigned char mac[32];
    char hex[65];
    sg_hmac_sha256(mac, secret, secret_len, b.ptr, b.len);
    sg_hex_encode(hex, mac, sizeof mac);
    is_str(sig, hex, "and against a raw HMAC-SHA256 of the hand-built canonical string");
    sg_buf_free(&b);
    free(c);
  }
  free(copy);
}

static void unit_hmac_sign_no_body(void) {
  char n1[33], n2[33];
  char *out = soulgw_sign("local", "dev-hmac", 8, "POST", "/api/repo/append", NULL, 0,
                          1735689600LL);
  check_signed(out, "local", "dev-hmac", 8, "POST", "/api/repo/append", "2025-01-01T00:00:00Z",
               NULL, n1);
  ok(out && !strstr(out, "x-sb-content-sha256"), "no body: no x-sb-content-sha256 line");
  char *out2 = soulgw_sign("local", "dev-hmac", 8, "POST", "/api/repo/append", NULL, 0,
                           1735689600LL);
  check_signed(out2, "local", "dev-hmac", 8, "POST", "/api/repo/append",
               "2025-01-01T00:00:00Z", NULL, n2);
  ok(n1[0] && n2[0] && strcmp(n1, n2) != 0, "two calls give different nonces (%s, %s)", n1, n2);
  ok(out && out2 && strcmp(out, out2) != 0, "and so different outputs");
  free(out);
  free(out2);
}

static void unit_hmac_sign_with_body(void) {
  char n[33];
  char *out = soulgw_sign("k1", "s3cret", 6, "POST", "/api/repo/append", "abc", 3,
                          1735689600LL);
  check_signed(out, "k1", "s3cret", 6, "POST", "/api/repo/append", "2025-01-01T00:00:00Z",
               SHA256_ABC, n);
  free(out);
  out = soulgw_sign("k1", "s3cret", 6, "PUT", "/p", "", 0, 1735689600LL);
  check_signed(out, "k1", "s3cret", 6, "PUT", "/p", "2025-01-01T00:00:00Z", SHA256_EMPTY, n);
  free(out);
  /* a body is hashed over body_len bytes, NULs included */
  unsigned char d[32];
  char hex[65];
  sg_sha256(d, "a\0b", 3);
  sg_hex_encode(hex, d, sizeof d);
  out = soulgw_sign("k1", "s3cret", 6, "POST", "/p", "a\0b", 3, 1735689600LL);
  check_signed(out, "k1", "s3cret", 6, "POST", "/p", "2025-01-01T00:00:00Z", hex, n);
  free(out);
}

static void unit_hmac_sign_dates_and_paths(void) {
  char n[33];
  char *out = soulgw_sign("id", "x", 1, "get", "/a/b?c=d", NULL, 0, 784111777LL);
  check_signed(out, "id", "x", 1, "get", "/a/b?c=d", "1994-11-06T08:49:37Z", NULL, n);
  free(out);
  out = soulgw_sign("id", "x", 1, "GET", "/", NULL, 0, 0);
  check_signed(out, "id", "x", 1, "GET", "/", "1970-01-01T00:00:00Z", NULL, n);
  free(out);
  out = soulgw_sign("id", "x", 1, "GET", "/", NULL, 0, 253402300799LL);
  check_signed(out, "id", "x", 1, "GET", "/", "9999-12-31T23:59:59Z", NULL, n);
  free(out);
  /* the printed date parses back to now_s */
  out = soulgw_sign("id", "x", 1, "GET", "/", NULL, 0, 1709210096LL);
  const char *d = out ? after(out, "x-sb-date: ") : NULL;
  char date[64] = "";
  if (d) snprintf(date, sizeof date, "%.*s", (int)strcspn(d, "\n"), d);
  int64_t e = 0;
  is_int(sg_hmac_parse_date(date, &e), 0, "the printed date parses (%s)", date);
  is_int(e, 1709210096LL, "back to now_s");
  free(out);
  /* a binary secret with a NUL: its length is honoured */
  out = soulgw_sign("bin", "a\0b", 3, "POST", "/q", NULL, 0, 1735689600LL);
  check_signed(out, "bin", "a\0b", 3, "POST", "/q", "2025-01-01T00:00:00Z", NULL, n);
  free(out);
}

static void unit_hmac_sign_bad_args(void) {
  ok(soulgw_sign("", "s", 1, "GET", "/", NULL, 0, 0) == NULL, "empty key id");
  ok(soulgw_sign("a:b", "s", 1, "GET", "/", NULL, 0, 0) == NULL, "key id with ':'");
  ok(soulgw_sign(":", "s", 1, "GET", "/", NULL, 0, 0) == NULL, "key id \":\"");
  ok(soulgw_sign(NULL, "s", 1, "GET", "/", NULL, 0, 0) == NULL, "NULL key id");
  ok(soulgw_sign("id", NULL, 0, "GET", "/", NULL, 0, 0) == NULL, "NULL secret");
  ok(soulgw_sign("id", "s", 1, NULL, "/", NULL, 0, 0) == NULL, "NULL method");
  ok(soulgw_sign("id", "s", 1, "GET", NULL, NULL, 0, 0) == NULL, "NULL path");
  char *out = soulgw_sign("id", "s", 1, "GET", "/", NULL, 0, 0);
  ok(out != NULL, "the same call with good arguments works");
  free(out);
}

/* soulgw_sign_at: the date as given, and no nonce on request (SPEC 5's test vector). */
static void security_hmac_sign_at_vector(void) {
  char *out = soulgw_sign_at("local", "dev-hmac", 8, "POST", "/api/repo/append", NULL, 0,
                             "2025-01-01T00:00:00Z", SOULGW_SIGN_NO_NONCE);
  is_str(out,
         "x-sb-date: 2025-01-01T00:00:00Z\n"
         "Authorization: SB-HMAC local:9e6239d7af1830d3a4fc2b0eb2e602760ef028a4a8abfc6fc03ee23b24d650d7\n",
         "the test vector, with no nonce line");
  free(out);
  out = soulgw_sign_at("local", "dev-hmac", 8, "POST", "/api/repo/append", NULL, 0,
                       "Wed, 01 Jan 2025 00:00:00 GMT", SOULGW_SIGN_NO_NONCE);
  has_str(out, "x-sb-date: Wed, 01 Jan 2025 00:00:00 GMT\n", "an HTTP date is sent as given");
  free(out);
  out = soulgw_sign_at("local", "dev-hmac", 8, "POST", "/api/repo/append", NULL, 0,
                       "2025-01-01T00:00:00Z", 0);
  has_str(out, "x-sb-nonce: ", "without the flag a nonce is sent");
  ok(out && !strstr(out, "9e6239d7af1830d3"), "and the signature covers it");
  free(out);
  ok(soulgw_sign_at("local", "s", 1, "GET", "/", NULL, 0, "yesterday", 0) == NULL,
     "a date the gateway would refuse gives NULL");
  ok(soulgw_sign_at("local", "s", 1, "GET", "/", NULL, 0, NULL, 0) == NULL, "so does NULL");
}

static const tap_test tests[] = {
    TEST(unit_hmac_spec_vector),
    TEST(unit_hmac_canonical_lines),
    TEST(unit_hmac_canonical_query_and_method),
    TEST(unit_hmac_date_rfc3339),
    TEST(unit_hmac_date_rfc3339_rejected),
    TEST(unit_hmac_date_http),
    TEST(unit_hmac_date_http_rejected),
    TEST(unit_hmac_date_http_strict_fields),
    TEST(unit_hmac_date_garbage),
    TEST(unit_hmac_nonce_bounds),
    TEST(unit_hmac_sign_no_body),
    TEST(unit_hmac_sign_with_body),
    TEST(unit_hmac_sign_dates_and_paths),
    TEST(unit_hmac_sign_bad_args),
    TEST(security_hmac_sign_at_vector),
};

int main(void) {
  tap_run(tests, TAP_COUNT(tests));
  return tap_done();
}
