/*
 * json_scan.h -- finding the top-level members of a JSON object in its text, without building
 * a tree.
 *
 * The OpenAI relay (/v1/chat/completions to an "openai" provider) forwards the client's body
 * with only its "model" rewritten, and the provider's answer with "model" set back.  Parsing
 * and printing each body through cJSON would cost a tree of the whole body and reorder or
 * re-escape what the relay must leave alone; this finds the bytes of a member's value in one
 * pass, so that the relay splices them and copies the body once.
 */
#ifndef SG_JSON_SCAN_H
#define SG_JSON_SCAN_H

#include <stddef.h>

/* The bytes of one member's value: text[start, end) when found. */
typedef struct sg_json_span {
  size_t start, end;
  int found;
} sg_json_span;

/* Scans text[0..len) as one JSON object with optional white space around it, checking RFC
 * 8259's grammar on every byte (strings and their escapes, numbers, the three literals,
 * nesting at most 512 levels deep; not whether strings are valid UTF-8, nor duplicate keys),
 * and for each of the n names in keys (distinct) sets spans[i] to the value of the first
 * top-level member of that name.  Member names are compared after their escapes are decoded
 * ("mod\u0065l" is "model"); a name with \u0000 or a lone surrogate matches no key.  Returns
 * 0, or -1 when the text is not a JSON object (the spans then mean nothing), or n is over 16. */
int sg_json_scan_members(const char *text, size_t len, const char *const *keys, size_t n,
                         sg_json_span *spans);

/* sg_json_scan_members() for an object inside a text already scanned (a span one of these
 * functions found): the same spans, found without checking the grammar of each value again.
 * On a text not scanned before the spans mean nothing, but no byte outside it is read. */
int sg_json_scan_members_of(const char *text, size_t len, const char *const *keys, size_t n,
                            sg_json_span *spans);

/* sg_json_scan_members() for a text whose values are read from their spans instead of from
 * soulgw_json_parse()'s tree: 0 only when the text is also valid UTF-8, its numbers at most 63
 * bytes, its strings free of \u escapes, and no member name has an escape or repeats an earlier
 * name of its object (at any depth; the objects open at any point hold at most 64 names).  The
 * parser (json.c) accepts such a text and reads the same values from it, a string being its
 * bytes with the two-byte escapes decoded.  -1 otherwise: the caller must take the parser's
 * way. */
int sg_json_scan_plain(const char *text, size_t len, const char *const *keys, size_t n,
                       sg_json_span *spans);

/* The string value text[span->start, span->end) of a text sg_json_scan_plain() accepted (its
 * first byte a quote) as the parser reads it: its bytes with the two-byte escapes decoded, into
 * out, which holds span->end - span->start - 1 bytes; NUL-terminated.  Returns its length. */
size_t sg_json_plain_string(const char *text, const sg_json_span *span, char *out);

/* The first element of the array text[0..len) (a value already scanned, so not checked again):
 * *span holds it, found 0 for an empty array.  0, or -1 when text is not an array. */
int sg_json_scan_first(const char *text, size_t len, sg_json_span *span);

/* The elements of the array text[0..len) one by one (a value already scanned, so not checked
 * again): with span->found 0 finds the first, else the one after *span.  1 with *span the
 * element, 0 past the last (span->found then 0), or -1 when text is not an array. */
int sg_json_scan_next(const char *text, size_t len, sg_json_span *span);

#endif
