/*
 * redact.c -- unit tests of lib/redact.c: a secret quoted whole, in part, or more than once is
 * taken out of a text bound for the log; the text is cut to the buffer at a character
 * boundary; control characters become spaces.
 */
#include <string.h>

#include "base/redact.h"
#include "base/sg.h"
#include "tap.h"

#define KEY "sk-proj-ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"

static const char *redact(const char *text, const char *secret, size_t outlen) {
  static char out[512];
  sg_redact(text, strlen(text), secret, secret ? strlen(secret) : 0, out,
            outlen < sizeof out ? outlen : sizeof out);
  return out;
}

static void harden_redact_secret(void) {
  is_str(redact("Incorrect API key provided: " KEY ".", KEY, 512),
         "Incorrect API key provided: [REDACTED].", "the whole key");
  is_str(redact("key " KEY " and again " KEY, KEY, 512), "key [REDACTED] and again [REDACTED]",
         "every occurrence");
  is_str(redact("key sk-proj-ABCDEFGH... is invalid", KEY, 512), "key [REDACTED]... is invalid",
         "a prefix of it");
  is_str(redact("key ...WXYZ012345 is invalid", KEY, 512), "key ...[REDACTED] is invalid",
         "a suffix of it");
  is_str(redact("key sk-proj is fine", KEY, 512), "key sk-proj is fine",
         "fewer than 8 bytes of it are left");
  is_str(redact("short abc here", "abc", 512), "short [REDACTED] here", "a short secret, whole");
  is_str(redact("nothing here", NULL, 512), "nothing here", "no secret");
  is_str(redact("a\nb\tc\x01", NULL, 512), "a b c ", "control characters become spaces");
}

static void harden_redact_cut(void) {
  is_str(redact("0123456789", NULL, 5), "0123", "cut to the buffer");
  is_str(redact("ab\xc3\xa9" "cd", NULL, 4), "ab", "never inside a character");
  is_str(redact("x " KEY, KEY, 6), "x [RE", "a secret at the cut is redacted, not cut");
  ok(sg_redact("abc", 3, NULL, 0, NULL, 0) == 0, "an empty buffer takes nothing");
}

static const tap_test tests[] = {TEST(harden_redact_secret), TEST(harden_redact_cut)};

int main(void) {
  tap_run(tests, TAP_COUNT(tests));
  return tap_done();
}
