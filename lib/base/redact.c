/*
 * redact.c -- cutting and redacting outside text for the log (see redact.h).
 *
 * At each position of the text, the longest run that also occurs somewhere in the secret is
 * measured; a long enough run is replaced whole.  That finds the secret quoted whole, cut
 * short, or starting part way in (a provider printing "sk-...abcd1234" or the first 20
 * characters).  Texts and secrets are short (a log line's worth of the text is examined), so
 * the quadratic search costs nothing worth a smarter one.
 */
#include <string.h>

#include "base/redact.h"

#define SCAN_MAX 4096 /* bytes of text examined */

/* The longest n such that text[0..n) occurs in secret. */
static size_t longest_piece(const char *text, size_t len, const char *secret, size_t slen) {
  size_t best = 0;
  for (size_t j = 0; j < slen && best < slen - j; j++) {
    size_t n = 0;
    while (n < len && j + n < slen && text[n] == secret[j + n]) n++;
    if (n > best) best = n;
  }
  return best;
}

/* Bytes of the UTF-8 character starting with lead byte c (1 for a stray byte). */
static size_t char_len(unsigned char c) {
  return c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC0 ? 2 : 1;
}

size_t sg_redact(const char *text, size_t len, const char *secret, size_t slen, char *out,
                 size_t outlen) {
  static const char mark[] = "[REDACTED]";
  size_t w = 0, min = slen < SG_REDACT_MIN ? slen : SG_REDACT_MIN;
  if (!outlen) return 0;
  if (len > SCAN_MAX) len = SCAN_MAX;
  for (size_t i = 0; i < len;) {
    size_t piece = secret && slen ? longest_piece(text + i, len - i, secret, slen) : 0;
    if (piece && piece >= min) {
      size_t n = sizeof mark - 1 < outlen - 1 - w ? sizeof mark - 1 : outlen - 1 - w;
      memcpy(out + w, mark, n);
      w += n;
      i += piece;
    } else {
      size_t n = char_len((unsigned char)text[i]);
      if (n > len - i) n = len - i;
      if (n > outlen - 1 - w) break;
      for (size_t k = 0; k < n; k++) {
        unsigned char c = (unsigned char)text[i + k];
        out[w++] = c < 0x20 || c == 0x7f ? ' ' : (char)c;
      }
      i += n;
    }
    if (w == outlen - 1) break;
  }
  out[w] = '\0';
  return w;
}
