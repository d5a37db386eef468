/*
 * json_write.h -- appending compact JSON text to a growable buffer, without building it in a
 * separate allocation first.
 *
 * The text is byte for byte what soulgw_json_print() (cJSON's unformatted printer) writes, so
 * answers built with it and answers printed by cJSON can be compared and replayed alike; the
 * unit tests hold the two to that.
 */
#ifndef SG_JSON_WRITE_H
#define SG_JSON_WRITE_H

#include "base/sg.h"

/* Deepest nesting written; deeper values are refused (parsed values never exceed 512). */
#define SG_JSON_WRITE_MAX_DEPTH 1000

/* Appends the compact text of v to b.  Returns 0, SOULGW_EINVAL when v is nested deeper than
 * SG_JSON_WRITE_MAX_DEPTH (b then holds a partial text), or SOULGW_ENOMEM when b failed. */
int sg_json_write(sg_buf *b, const soulgw_json *v);

/* Bytes a number's text needs, its NUL included. */
#define SG_JSON_NUMBER_MAX 32

/* Writes d as soulgw_json_print() writes it ("null" for NaN and infinities) into out, NUL
 * terminated; returns its length. */
size_t sg_json_number_text(double d, char out[SG_JSON_NUMBER_MAX]);

/* Appends s as a JSON string, quotes included, escaped as soulgw_json_print() escapes it
 * (bytes that are not UTF-8 included: they go as they are). */
void sg_json_write_string(sg_buf *b, const char *s);

#endif
