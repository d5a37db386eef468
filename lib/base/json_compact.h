/*
 * json_compact.h -- checking a JSON text and compacting it in place, without building a tree.
 *
 * An HTTP tool's answer is relayed to the client inside the gateway's own answer.  Parsing it
 * into a tree first cost some 40 bytes of memory per byte of answer (a cJSON node per value,
 * each key and string a separate allocation), and printing it again as much in time; this
 * checks it as strictly as soulgw_json_parse() does and rewrites it in the same buffer, so that
 * relaying an answer costs its own size once.
 */
#ifndef SG_JSON_COMPACT_H
#define SG_JSON_COMPACT_H

#include "base/sg.h"

/* Checks that text[0..len) is one JSON value, refused in the same cases as soulgw_json_parse()
 * (invalid UTF-8, nesting deeper than 512 levels, a raw control character or \u0000 in a
 * string, a lone surrogate, a duplicate key, anything but white space around the value, and
 * anything outside RFC 8259's grammar), and rewrites it in place as compact JSON: white space
 * between tokens removed, strings escaped as soulgw_json_print() escapes them, numbers and
 * literals as written.  The result is never longer than the input.  text[len] must be
 * writable (an sg_buf's terminating NUL is): the result is NUL-terminated.  Returns 0 with the
 * result's length in *out_len, SOULGW_EINVAL with err saying where the text fails, or
 * SOULGW_ENOMEM (the duplicate-key check keeps a list of the keys of the open objects).  On
 * failure the text is left partly rewritten. */
int sg_json_compact(char *text, size_t len, size_t *out_len, char *err, size_t errlen);

#endif
