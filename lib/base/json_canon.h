/*
 * json_canon.h -- whether a JSON text is already in the form the library prints.
 *
 * A value the gateway reads from a body and writes back out unchanged (builtin:echo's result)
 * need not be parsed into a tree and printed again when its text is byte for byte what
 * sg_json_write() (json_write.h) would print for it: the text itself is then the answer's.
 */
#ifndef SG_JSON_CANON_H
#define SG_JSON_CANON_H

#include <stddef.h>

/* The deepest nesting of arrays and objects sg_json_canonical() accepts. */
#define SG_JSON_CANON_DEPTH 512

/* 1 when text[0..len) is one JSON value in the form sg_json_write() prints it: no white space
 * between tokens; numbers as integers of at most 15 digits (no fraction, exponent or -0: so
 * exactly the double the parser reads, which the writer prints as the same digits); strings
 * whose only escapes are \" \\ \b \f \n \r \t (the writer's short forms: never \/ or \u, and no
 * raw control character); literals as written; at most SG_JSON_CANON_DEPTH levels deep.  0
 * otherwise, and for anything that is not JSON.  It does not check UTF-8 or repeated member
 * names: for a text soulgw_json_parse() accepts, 1 means sg_json_write() of the parsed value
 * gives the same bytes, and sg_json_text_size() is len. */
int sg_json_canonical(const char *text, size_t len);

#endif
