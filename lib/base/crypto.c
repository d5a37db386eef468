/*
 * crypto.c -- libsodium glue (see crypto.h).
 */
#include <pthread.h>
#include <sodium.h>
#include <string.h>

#include "base/crypto.h"

static unsigned char digest_key[crypto_generichash_KEYBYTES];
static pthread_once_t once = PTHREAD_ONCE_INIT;
static int init_rc = -1;

static void init_once(void) {
  if (sodium_init() < 0) return;
  randombytes_buf(digest_key, sizeof digest_key);
  init_rc = 0;
}

int sg_crypto_init(void) {
  pthread_once(&once, init_once);
  return init_rc;
}

void sg_random_bytes(void *buf, size_t len) { randombytes_buf(buf, len); }

uint64_t sg_random_u64(void) {
  uint64_t v;
  randombytes_buf(&v, sizeof v);
  return v;
}

void sg_hex_encode(char *out, const unsigned char *bin, size_t len) {
  sodium_bin2hex(out, len * 2 + 1, bin, len);
}

size_t sg_base64_len(size_t len) { return sodium_base64_ENCODED_LEN(len, sodium_base64_VARIANT_ORIGINAL); }

void sg_base64_encode(char *out, const unsigned char *bin, size_t len) {
  sodium_bin2base64(out, sg_base64_len(len), bin, len, sodium_base64_VARIANT_ORIGINAL);
}

int sg_hex_decode(unsigned char *out, size_t outlen, const char *hex, size_t hexlen) {
  size_t got = 0;
  const char *end = NULL;
  if (hexlen != outlen * 2) return -1;
  if (sodium_hex2bin(out, outlen, hex, hexlen, NULL, &got, &end) != 0) return -1;
  return got == outlen && end == hex + hexlen ? 0 : -1;
}

void sg_sha256(unsigned char out[SG_SHA256_LEN], const void *data, size_t len) {
  crypto_hash_sha256(out, data, len);
}

void sg_hmac_sha256(unsigned char out[SG_SHA256_LEN], const void *key, size_t keylen,
                    const void *data, size_t len) {
  crypto_auth_hmacsha256_state st;
  crypto_auth_hmacsha256_init(&st, key, keylen);
  crypto_auth_hmacsha256_update(&st, data, len);
  crypto_auth_hmacsha256_final(&st, out);
  sodium_memzero(&st, sizeof st);
}

int sg_equal_ct(const void *a, const void *b, size_t len) { return sodium_memcmp(a, b, len) == 0; }

void sg_secret_digest(unsigned char out[32], const void *data, size_t len) {
  sg_crypto_init();
  crypto_generichash(out, 32, data, len, digest_key, sizeof digest_key);
}

void sg_wipe(void *p, size_t len) { sodium_memzero(p, len); }
