/*
 * crypto.h -- libsodium glue: randomness, hashes, HMAC, constant-time comparison.  The only
 * file that calls libsodium is crypto.c.
 */
#ifndef SG_CRYPTO_H
#define SG_CRYPTO_H

#include <stddef.h>
#include <stdint.h>

#define SG_SHA256_LEN 32

/* Initialises libsodium; safe to call more than once and from several threads.  0 or -1. */
int sg_crypto_init(void);
void sg_random_bytes(void *buf, size_t len);
uint64_t sg_random_u64(void);
/* Lower-case hex of bin into out (2*len+1 bytes). */
void sg_hex_encode(char *out, const unsigned char *bin, size_t len);
/* Bytes the standard base64 (RFC 4648, padded) of len bytes needs, its NUL included. */
size_t sg_base64_len(size_t len);
/* Standard base64 of bin into out (sg_base64_len(len) bytes), NUL-terminated. */
void sg_base64_encode(char *out, const unsigned char *bin, size_t len);
/* Decodes exactly 2*outlen hex digits (either case); 0 or -1. */
int sg_hex_decode(unsigned char *out, size_t outlen, const char *hex, size_t hexlen);
void sg_sha256(unsigned char out[SG_SHA256_LEN], const void *data, size_t len);
void sg_hmac_sha256(unsigned char out[SG_SHA256_LEN], const void *key, size_t keylen,
                    const void *data, size_t len);
/* Constant-time equality of two equal-length buffers: 1 or 0. */
int sg_equal_ct(const void *a, const void *b, size_t len);
/* A keyed hash (BLAKE2b with a per-process random key) for comparing secrets of any length
 * without leaking the length: compare digests, not the strings. */
void sg_secret_digest(unsigned char out[32], const void *data, size_t len);
/* Overwrites memory in a way the compiler cannot drop. */
void sg_wipe(void *p, size_t len);

#endif
