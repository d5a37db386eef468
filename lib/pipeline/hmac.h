/*
 * hmac.h -- the SB-HMAC request signature (SPEC 5, item 2): canonical string, dates, signing.
 * Shared by the verifier (auth.c) and the signer (soulgw_sign, `soulgw sign`).
 *
 *   canonical = METHOD "\n" PATH "\n" X-SB-DATE [ "\n" X-SB-CONTENT-SHA256 ] [ "\n" X-SB-NONCE ]
 *   signature = hex(HMAC-SHA256(secret, canonical))
 */
#ifndef SG_HMAC_H
#define SG_HMAC_H

#include <stddef.h>
#include <stdint.h>

#include "base/sg.h"

/* Appends the canonical string to out.  path is cut at '?'; method is upper-cased.  body_hash
 * and nonce may be NULL (their lines are then absent). */
int sg_hmac_canonical(sg_buf *out, const char *method, const char *path, const char *date,
                      const char *body_hash, const char *nonce);

/* Parses x-sb-date: RFC 3339 ("2025-01-01T00:00:00Z", fractions and numeric offsets accepted)
 * or an HTTP date (IMF-fixdate, RFC 850, asctime).  Returns 0 and *epoch_s, or -1. */
int sg_hmac_parse_date(const char *s, int64_t *epoch_s);

/* 1 when a nonce is acceptable: 8 to 128 visible ASCII characters. */
int sg_hmac_nonce_ok(const char *nonce);

/* Lower-case hex HMAC-SHA256 of the canonical string (out: 65 bytes). */
void sg_hmac_sign_hex(char out[65], const void *secret, size_t secret_len, const char *canonical,
                      size_t canonical_len);

#endif
