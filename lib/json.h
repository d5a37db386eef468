/*
 * json.h -- internal JSON helpers next to the public soulgw_json API (both in json.c, the only
 * file that calls cJSON).
 */
#ifndef SG_JSON_H
#define SG_JSON_H

#include "sg.h"

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

#endif
