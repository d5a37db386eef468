/*
 * hmac.c -- libFuzzer target: the x-sb-date reader and the SB-HMAC canonical string, fed by
 * headers an unauthenticated client controls.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "pipeline/hmac.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  char *s = malloc(size + 1);
  if (!s) return 0;
  memcpy(s, data, size);
  s[size] = '\0';
  int64_t t;
  sg_hmac_parse_date(s, &t);
  sg_hmac_nonce_ok(s);
  sg_buf b;
  sg_buf_init(&b, 1 << 16);
  sg_hmac_canonical(&b, s, s, s, s, s);
  char sig[65];
  if (!sg_buf_failed(&b)) sg_hmac_sign_hex(sig, "k", 1, b.ptr, b.len);
  sg_buf_free(&b);
  free(s);
  return 0;
}
