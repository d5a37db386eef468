/*
 * hmac.c -- SB-HMAC canonical string, date parsing and signing (see hmac.h), and the public
 * soulgw_sign() and soulgw_sign_at() used by `soulgw sign`.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/crypto.h"
#include "pipeline/hmac.h"

int sg_hmac_canonical(sg_buf *out, const char *method, const char *path, const char *date,
                      const char *body_hash, const char *nonce) {
  for (const char *m = method; *m; m++)
    sg_buf_putc(out, (char)(*m >= 'a' && *m <= 'z' ? *m - 'a' + 'A' : *m));
  sg_buf_putc(out, '\n');
  const char *q = strchr(path, '?');
  sg_buf_append(out, path, q ? (size_t)(q - path) : strlen(path));
  sg_buf_putc(out, '\n');
  sg_buf_puts(out, date);
  if (body_hash) {
    sg_buf_putc(out, '\n');
    sg_buf_puts(out, body_hash);
  }
  if (nonce) {
    sg_buf_putc(out, '\n');
    sg_buf_puts(out, nonce);
  }
  return sg_buf_failed(out) ? SOULGW_ENOMEM : 0;
}

/* Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm). */
static int64_t days_from_civil(int64_t y, unsigned m, unsigned d) {
  y -= m <= 2;
  int64_t era = (y >= 0 ? y : y - 399) / 400;
  unsigned yoe = (unsigned)(y - era * 400);
  unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + (int64_t)doe - 719468;
}

static int days_in_month(int y, int m) {
  static const int dm[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  if (m == 2 && ((y % 4 == 0 && y % 100 != 0) || y % 400 == 0)) return 29;
  return dm[m - 1];
}

static int digits(const char *s, int n, int *out) {
  int v = 0;
  for (int i = 0; i < n; i++) {
    if (s[i] < '0' || s[i] > '9') return -1;
    v = v * 10 + (s[i] - '0');
  }
  *out = v;
  return 0;
}

static int to_epoch(int y, int mo, int d, int h, int mi, int sec, int64_t *out) {
  if (y < 1 || mo < 1 || mo > 12 || d < 1 || d > days_in_month(y, mo) || h > 23 || mi > 59 ||
      sec > 60)
    return -1;
  *out = days_from_civil(y, (unsigned)mo, (unsigned)d) * 86400 + h * 3600 + mi * 60 + sec;
  return 0;
}

static int parse_rfc3339(const char *s, int64_t *out) {
  int y, mo, d, h, mi, sec;
  if (strlen(s) < 20 || digits(s, 4, &y) || s[4] != '-' || digits(s + 5, 2, &mo) ||
      s[7] != '-' || digits(s + 8, 2, &d) || (s[10] != 'T' && s[10] != 't') ||
      digits(s + 11, 2, &h) || s[13] != ':' || digits(s + 14, 2, &mi) || s[16] != ':' ||
      digits(s + 17, 2, &sec))
    return -1;
  const char *p = s + 19;
  if (*p == '.') {
    p++;
    if (*p < '0' || *p > '9') return -1;
    while (*p >= '0' && *p <= '9') p++;
  }
  int64_t offset = 0;
  if ((*p == 'Z' || *p == 'z') && p[1] == '\0') {
    offset = 0;
  } else if ((*p == '+' || *p == '-') && strlen(p) == 6 && p[3] == ':') {
    int oh, om;
    if (digits(p + 1, 2, &oh) || digits(p + 4, 2, &om) || oh > 23 || om > 59) return -1;
    offset = (oh * 3600 + om * 60) * (*p == '+' ? 1 : -1);
  } else {
    return -1;
  }
  if (to_epoch(y, mo, d, h, mi, sec, out)) return -1;
  *out -= offset;
  return 0;
}

static int month_of(const char *s) {
  static const char *const names[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                      "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  for (int i = 0; i < 12; i++)
    if (strncmp(s, names[i], 3) == 0) return i + 1;
  return 0;
}

static int alpha(const char *s, int n) {
  for (int i = 0; i < n; i++)
    if (!((s[i] >= 'A' && s[i] <= 'Z') || (s[i] >= 'a' && s[i] <= 'z'))) return 0;
  return 1;
}

/* "HH:MM:SS" at s. */
static int clock_of(const char *s, int *h, int *mi, int *sec) {
  return digits(s, 2, h) || s[2] != ':' || digits(s + 3, 2, mi) || s[5] != ':' ||
                 digits(s + 6, 2, sec)
             ? -1
             : 0;
}

/* The three forms of RFC 9110 5.6.7, each with fixed-width fields. */
static int parse_http_date(const char *s, int64_t *out) {
  int d, y, h, mi, sec, mon;
  size_t n = strlen(s);
  /* IMF-fixdate: "Sun, 06 Nov 1994 08:49:37 GMT" */
  if (n == 29 && alpha(s, 3) && s[3] == ',' && s[4] == ' ' && !digits(s + 5, 2, &d) &&
      s[7] == ' ' && (mon = month_of(s + 8)) && s[11] == ' ' && !digits(s + 12, 4, &y) &&
      s[16] == ' ' && !clock_of(s + 17, &h, &mi, &sec) && strcmp(s + 25, " GMT") == 0)
    return to_epoch(y, mon, d, h, mi, sec, out);
  /* RFC 850: "Sunday, 06-Nov-94 08:49:37 GMT", two-digit years read as 1970..2069 */
  const char *comma = strchr(s, ',');
  if (comma && comma - s >= 6 && comma - s <= 9 && alpha(s, (int)(comma - s)) &&
      strlen(comma) == 24 && comma[1] == ' ' && !digits(comma + 2, 2, &d) && comma[4] == '-' &&
      (mon = month_of(comma + 5)) && comma[8] == '-' && !digits(comma + 9, 2, &y) &&
      comma[11] == ' ' && !clock_of(comma + 12, &h, &mi, &sec) && strcmp(comma + 20, " GMT") == 0)
    return to_epoch(y < 70 ? 2000 + y : 1900 + y, mon, d, h, mi, sec, out);
  /* asctime: "Sun Nov  6 08:49:37 1994" (the day padded with a space) */
  if (n == 24 && alpha(s, 3) && s[3] == ' ' && (mon = month_of(s + 4)) && s[7] == ' ' &&
      (s[8] == ' ' ? !digits(s + 9, 1, &d) : !digits(s + 8, 2, &d)) && s[10] == ' ' &&
      !clock_of(s + 11, &h, &mi, &sec) && s[19] == ' ' && !digits(s + 20, 4, &y))
    return to_epoch(y, mon, d, h, mi, sec, out);
  return -1;
}

int sg_hmac_parse_date(const char *s, int64_t *epoch_s) {
  if (!s || strlen(s) > 64) return -1;
  if (s[0] >= '0' && s[0] <= '9') return parse_rfc3339(s, epoch_s);
  return parse_http_date(s, epoch_s);
}

int sg_hmac_nonce_ok(const char *nonce) {
  size_t n = strlen(nonce);
  if (n < 8 || n > 128) return 0;
  for (; *nonce; nonce++)
    if (*nonce <= ' ' || *nonce > '~') return 0;
  return 1;
}

void sg_hmac_sign_hex(char out[65], const void *secret, size_t secret_len, const char *canonical,
                      size_t canonical_len) {
  unsigned char mac[SG_SHA256_LEN];
  sg_hmac_sha256(mac, secret, secret_len, canonical, canonical_len);
  sg_hex_encode(out, mac, sizeof mac);
}

char *soulgw_sign(const char *key_id, const void *secret, size_t secret_len, const char *method,
                  const char *path, const void *body, size_t body_len, long long now_s) {
  char date[32];
  sg_format_time_ms(now_s * 1000, date);
  memmove(date + 19, "Z", 2); /* whole seconds: 2025-01-01T00:00:00Z */
  return soulgw_sign_at(key_id, secret, secret_len, method, path, body, body_len, date, 0);
}

char *soulgw_sign_at(const char *key_id, const void *secret, size_t secret_len,
                     const char *method, const char *path, const void *body, size_t body_len,
                     const char *date, unsigned flags) {
  char nonce_hex[33], body_hex[65], sig[65];
  unsigned char nonce[16], digest[SG_SHA256_LEN];
  int with_nonce = !(flags & SOULGW_SIGN_NO_NONCE);
  int64_t when;
  sg_buf canon, out;
  if (!key_id || !*key_id || strchr(key_id, ':') || !secret || !method || !path || !date ||
      sg_hmac_parse_date(date, &when) != 0)
    return NULL;
  if (sg_crypto_init() != 0) return NULL;
  if (with_nonce) {
    sg_random_bytes(nonce, sizeof nonce);
    sg_hex_encode(nonce_hex, nonce, sizeof nonce);
  }
  if (body) {
    sg_sha256(digest, body, body_len);
    sg_hex_encode(body_hex, digest, sizeof digest);
  }
  sg_buf_init(&canon, 0);
  sg_hmac_canonical(&canon, method, path, date, body ? body_hex : NULL,
                    with_nonce ? nonce_hex : NULL);
  if (sg_buf_failed(&canon)) {
    sg_buf_free(&canon);
    return NULL;
  }
  sg_hmac_sign_hex(sig, secret, secret_len, canon.ptr, canon.len);
  sg_buf_free(&canon);
  sg_buf_init(&out, 0);
  sg_buf_printf(&out, "x-sb-date: %s\n", date);
  if (body) sg_buf_printf(&out, "x-sb-content-sha256: %s\n", body_hex);
  if (with_nonce) sg_buf_printf(&out, "x-sb-nonce: %s\n", nonce_hex);
  sg_buf_printf(&out, "Authorization: SB-HMAC %s:%s\n", key_id, sig);
  return sg_buf_detach(&out, NULL);
}
