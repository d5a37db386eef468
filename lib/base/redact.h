/*
 * redact.h -- text from outside (an upstream's error message) made fit for a log line: cut to
 * a length, with a secret the gateway sent taken out.
 *
 * A model provider that refuses a key often quotes it back ("Incorrect API key provided:
 * sk-..."), whole or in part.  Such text never goes to a client; it may go to the log, but
 * only through sg_redact().
 */
#ifndef SG_REDACT_H
#define SG_REDACT_H

#include <stddef.h>

/* The piece of a secret that is redacted wherever it occurs: this many bytes or more (or the
 * whole secret, when it is shorter). */
#define SG_REDACT_MIN 8

/* Writes into out (outlen bytes, NUL-terminated) the start of text (len bytes) with every
 * run of SG_REDACT_MIN or more bytes that also occurs in secret (slen bytes; NULL or empty:
 * nothing to redact) replaced by "[REDACTED]", and control characters by spaces.  Stops when
 * out is full, at a UTF-8 character boundary.  Returns the length written. */
size_t sg_redact(const char *text, size_t len, const char *secret, size_t slen, char *out,
                 size_t outlen);

#endif
