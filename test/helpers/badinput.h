/*
 * badinput.h -- the malformed bodies every JSON route must refuse, as one reusable check.
 */
#ifndef BADINPUT_H
#define BADINPUT_H

#include "harness.h"

/* POSTs to path (with a bearer token, NULL for none) bodies that no JSON route may accept:
 * invalid UTF-8, a duplicate key, 10,000-deep nesting, a \u0000 escape, truncated text,
 * trailing garbage, and bodies that are not objects ([], "s", 1, null, true).  Each must get a
 * 4xx (never a 500) in the common error shape, with a message naming the problem; afterwards
 * /health must still answer 200.  Records one TAP assertion per check. */
void check_malformed_bodies(gwproc *g, const char *path, const char *token);

/* A string of n copies of c (malloc'd), for building oversized inputs. */
char *repeat_char(char c, size_t n);

#endif
