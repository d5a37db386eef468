/*
 * json.h -- internal JSON helpers next to the public soulgw_json API (both in json.c, the only
 * file that calls cJSON).
 */
#ifndef SG_JSON_H
#define SG_JSON_H

#include "base/sg.h"

/* Removes obj[key] and hands it to the caller, or NULL. */
soulgw_json *sg_json_detach(soulgw_json *obj, const char *key);
/* Deletes obj[key] if present. */
int sg_json_remove(soulgw_json *obj, const char *key);
/* Deep equality (objects compared regardless of member order). */
int sg_json_equal(const soulgw_json *a, const soulgw_json *b);
/* Appends the compact text of v to out. */
int sg_json_print_buf(const soulgw_json *v, sg_buf *out);
/* 1 when v is a number with an exact integer value. */
int sg_json_is_integer(const soulgw_json *v);
soulgw_json *sg_json_new_int(long long n);
/* Deep-merges the object src into the object dst: members that are objects on both sides merge,
 * any other member of src replaces dst's (copied).  0 or SOULGW_ENOMEM. */
int sg_json_merge(soulgw_json *dst, const soulgw_json *src);
/* Replaces item (a child of parent) by with, which it takes in every case.  0 or
 * SOULGW_ENOMEM. */
int sg_json_replace(soulgw_json *parent, soulgw_json *item, soulgw_json *with);
/* 1 when v nests arrays and objects more than max levels deep ({} and [] are one level, a
 * scalar none).  Stops looking at level max + 1, so the recursion is bounded by max. */
int sg_json_deeper_than(const soulgw_json *v, int max);
/* A value printed as text, verbatim (copied), by soulgw_json_print() and sg_json_write(): for
 * splicing JSON text that is known to be valid (the store's own rows) into an answer without
 * parsing it.  Its type is SOULGW_JSON_INVALID for every other accessor.  NULL when out of
 * memory or text is NULL. */
soulgw_json *sg_json_new_raw(const char *text);
/* The text of a value made by sg_json_new_raw(), or NULL for any other value. */
const char *sg_json_raw_text(const soulgw_json *v);

#endif
