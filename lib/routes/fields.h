/*
 * fields.h -- what every route family shares: reading a request's fields with one precise 422
 * per mistake, and answering from the store (the sg_st -> error-table mapping, for synchronous
 * reads and for the completions of asynchronous writes).
 *
 * Field getters.  Each reads obj[key], where obj is the request body or an object inside it,
 * and returns 0 with *out set, or -1 after answering 422 SCHEMA.VALIDATION_FAILED with a message
 * naming the field ("participants[2] must be a string", "edges[3].to is required").  `at` is the
 * path of obj inside the body for those messages: NULL for the body itself, "edges[3]" for an
 * element.  obj may be NULL (no body): every field is then absent.
 *
 * An optional field that is absent or JSON null takes its default; a required one is a 422.  A
 * handler checks every field first and only then defers and writes, so that a bad request never
 * writes anything.
 *
 * Typical write handler:
 *
 *   const soulgw_json *b;
 *   const char *id, *note;
 *   if (sg_fields_begin(req, &b) || sg_field_id(req, b, NULL, "collab_id", 1, &id) ||
 *       sg_field_text(req, b, NULL, "note", SG_NOTE_MAX, &note))
 *     return 0;
 *   if (soulgw_req_defer(req)) return 0;
 *   sg_store_collab_execute(gw->store, req->tenant, id, ..., sg_wall_ms(), sg_store_reply, req);
 *   return 0;
 */
#ifndef SG_ROUTES_COMMON_H
#define SG_ROUTES_COMMON_H

#include "pipeline/req.h"
#include "store/store.h"

/* Bytes in an identifier (ids, names, labels, topics, participants). */
#define SG_ID_MAX 256
/* Bytes in a free-text note. */
#define SG_NOTE_MAX 4096
/* Elements in an array of identifiers or edges in one request. */
#define SG_LIST_MAX 1000

/* Checks that the request acts for a tenant and that its body, if any, is a JSON object.
 * Returns 0 with *body the object (NULL when there was no body), or -1 after answering 422. */
/* "a string", "an object", "null" ... for messages such as "x must be a string, not null". */
const char *sg_json_type_phrase(const soulgw_json *v);
/* Answers 422 SCHEMA.VALIDATION_FAILED with the formatted message; returns -1. */
int sg_invalid(soulgw_req *req, const char *fmt, ...) SG_PRINTF(2, 3);

int sg_fields_begin(soulgw_req *req, const soulgw_json **body);

/* An identifier: a string of 1 to SG_ID_MAX bytes, not blank, without control characters.
 * required 0: absent or null gives *out NULL. */
int sg_field_id(soulgw_req *req, const soulgw_json *obj, const char *at, const char *key,
                int required, const char **out);
/* An optional string of at most max bytes (may be empty); absent or null gives NULL. */
int sg_field_text(soulgw_req *req, const soulgw_json *obj, const char *at, const char *key,
                  size_t max, const char **out);
/* An optional array of at most SG_LIST_MAX identifiers (as sg_field_id); absent or null gives
 * NULL. */
int sg_field_ids(soulgw_req *req, const soulgw_json *obj, const char *at, const char *key,
                 const soulgw_json **out);
/* An optional integer in [lo, hi]; absent or null gives def.  1.5, "3" and 1e300 are refused. */
int sg_field_int(soulgw_req *req, const soulgw_json *obj, const char *at, const char *key,
                 long long lo, long long hi, long long def, long long *out);
/* An optional boolean; absent or null gives def. */
int sg_field_bool(soulgw_req *req, const soulgw_json *obj, const char *at, const char *key,
                  int def, int *out);
/* An optional string out of names (NULL-terminated); *out is its index, def when absent or
 * null.  The message lists the names. */
int sg_field_enum(soulgw_req *req, const soulgw_json *obj, const char *at, const char *key,
                  const char *const *names, int def, int *out);
/* Any JSON value.  required 1: absent or null is a 422.  required 0: absent or null gives
 * *out NULL. */
int sg_field_value(soulgw_req *req, const soulgw_json *obj, const char *at, const char *key,
                   int required, const soulgw_json **out);
/* An optional object; absent or null gives NULL. */
int sg_field_object(soulgw_req *req, const soulgw_json *obj, const char *at, const char *key,
                    const soulgw_json **out);
/* An optional array of at most max elements (of any type; the caller checks them); absent or
 * null gives NULL. */
int sg_field_array(soulgw_req *req, const soulgw_json *obj, const char *at, const char *key,
                   size_t max, const soulgw_json **out);

/* The API error of a store outcome other than SG_ST_OK (SG_ST_NOTFOUND -> STORAGE.NOT_FOUND,
 * SG_ST_CONFLICT -> STORAGE.CONFLICT, SG_ST_UNAVAILABLE -> STORAGE.UNAVAILABLE, SG_ST_TOO_LARGE
 * -> REQUEST.TOO_LARGE, SG_ST_INVALID -> SCHEMA.VALIDATION_FAILED, anything else
 * UNKNOWN.INTERNAL), with a generic message for it in *generic when not NULL.  For routes that
 * answer in their own envelope (the legacy routes). */
soulgw_api_error sg_st_error(sg_st st, const char **generic);

/* Answers from a store outcome and takes result in every case: SG_ST_OK answers 200 with
 * result; SG_ST_NOTFOUND 404 STORAGE.NOT_FOUND, SG_ST_CONFLICT 409 STORAGE.CONFLICT,
 * SG_ST_UNAVAILABLE 503 STORAGE.UNAVAILABLE, each with msg (NULL: a generic message).  A store
 * that answered OK without a result (out of memory) gives 500.  Safe from any thread. */
int sg_reply_store(soulgw_req *req, sg_st st, soulgw_json *result, const char *msg);

/* An sg_store_done for a deferred request (ud is the soulgw_req): answers as sg_reply_store
 * with the store's message.  Pass it with the request to any store write. */
void sg_store_reply(void *ud, sg_st st, soulgw_json *result, const char *msg);

#endif
