/*
 * fields.h -- what every route family shares: reading a request's fields with one precise 422
 * per mistake, and answering from the store (the sg_st -> error-table mapping, for synchronous
 * reads and for the completions of asynchronous writes).
 *
 * Fields are read by one table-driven getter.  A route describes its request as a table of
 * sg_field_spec, one entry a field, naming the member of a struct of its own that receives
 * the field's value (the member is named as the field).  sg_fields_read() reads the fields of
 * obj (the request body, or an object inside it) in the table's order and answers 422
 * SCHEMA.VALIDATION_FAILED for the first mistake, with a message naming the field
 * ("participants[2] must be a string, not a number", "edges[3].to is required").  An optional
 * field that is absent or JSON null takes its default; a required one is a 422.  A handler
 * checks every field first and only then defers and writes, so that a bad request never writes
 * anything.
 *
 * Typical write handler:
 *
 *   typedef struct resolve_in {
 *     const char *collab_id, *note;
 *     const soulgw_json *outcome;
 *   } resolve_in;
 *   static const sg_field_spec resolve_fields[] = {
 *       {SG_F_ID(resolve_in, collab_id), .required = 1},
 *       {SG_F_VALUE(resolve_in, outcome)},
 *       {SG_F_TEXT(resolve_in, note), .max = SG_NOTE_MAX},
 *       {0}};
 *
 *   resolve_in in;
 *   if (sg_fields_body(req, resolve_fields, &in) || soulgw_req_defer(req)) return 0;
 *   sg_store_collab_resolve(ctx->store, req->tenant, in.collab_id, ..., sg_store_reply, req);
 *   return 0;
 */
#ifndef SG_ROUTES_COMMON_H
#define SG_ROUTES_COMMON_H

#include <stddef.h>

#include "pipeline/req.h"
#include "store/store.h"

/* Bytes in an identifier (ids, names, labels, topics, participants). */
#define SG_ID_MAX 256
/* Bytes in a free-text note. */
#define SG_NOTE_MAX 4096
/* Elements in an array of identifiers or edges in one request. */
#define SG_LIST_MAX 1000

/* "a string", "an object", "null" ... for messages such as "x must be a string, not null". */
const char *sg_json_type_phrase(const soulgw_json *v);
/* Answers 422 SCHEMA.VALIDATION_FAILED with the formatted message (on a route of the openai
 * dialect 400 REQUEST.BAD, OpenAI's status for a bad body); returns -1. */
int sg_invalid(soulgw_req *req, const char *fmt, ...) SG_PRINTF(2, 3);

/* What a field holds, and the C type of the member that receives it. */
typedef enum sg_field_kind {
  SG_FIELD_ID,     /* const char *: 1 to SG_ID_MAX bytes, not blank, no control characters */
  SG_FIELD_TEXT,   /* const char *: a string of at most max bytes (may be empty) */
  SG_FIELD_IDS,    /* const soulgw_json *: an array of at most SG_LIST_MAX identifiers */
  SG_FIELD_ARRAY,  /* const soulgw_json *: an array of at most max elements, of any type */
  SG_FIELD_OBJECT, /* const soulgw_json *: an object */
  SG_FIELD_VALUE,  /* const soulgw_json *: any value; max > 0: nested at most max levels */
  SG_FIELD_INT,    /* long long: an integer in [min, max]; 1.5, "3" and 1e300 are refused */
  SG_FIELD_NUMBER, /* double: a number in [min, max]; "x must be a number" names no type */
  SG_FIELD_BOOL,   /* int: true or false */
  SG_FIELD_ENUM,   /* int: the index of the string in names */
} sg_field_kind;

/* One field of a request.  Written as {SG_F_<KIND>(T, member), options...}; a table ends with
 * {0}. */
typedef struct sg_field_spec {
  const char *key; /* the field's name; NULL ends a table */
  sg_field_kind kind;
  size_t off;      /* the receiving member's offset in the caller's struct */
  int required;    /* absent or null is a 422; else the field takes its default */
  long long min, max;       /* INT, NUMBER: the range; TEXT: the most bytes; ARRAY: the most
                             * elements; VALUE: the deepest nesting (0: any) */
  long long def;            /* INT, NUMBER, BOOL, ENUM: the default (pointers: NULL) */
  const char *const *names; /* ENUM: the names, NULL-terminated */
  size_t has;               /* 0, or SG_F_HAS(T, m): the int m is set to 1 when given, else 0 */
  /* Run once the field is read, given or not, with the caller's struct: further checks that
   * need the field's value.  Returns 0, or -1 after answering. */
  int (*check)(soulgw_req *req, void *out);
} sg_field_spec;

/* offsetof(T, m), refused at compile time unless T's member m has the type ctype. */
#define SG_FIELD_AT(T, m, ctype) (offsetof(T, m) + 0 * _Generic(((T *)0)->m, ctype: 1))
#define SG_F_ID(T, m) #m, SG_FIELD_ID, .off = SG_FIELD_AT(T, m, const char *)
#define SG_F_TEXT(T, m) #m, SG_FIELD_TEXT, .off = SG_FIELD_AT(T, m, const char *)
#define SG_F_IDS(T, m) #m, SG_FIELD_IDS, .off = SG_FIELD_AT(T, m, const soulgw_json *)
#define SG_F_ARRAY(T, m) #m, SG_FIELD_ARRAY, .off = SG_FIELD_AT(T, m, const soulgw_json *)
#define SG_F_OBJECT(T, m) #m, SG_FIELD_OBJECT, .off = SG_FIELD_AT(T, m, const soulgw_json *)
#define SG_F_VALUE(T, m) #m, SG_FIELD_VALUE, .off = SG_FIELD_AT(T, m, const soulgw_json *)
#define SG_F_INT(T, m) #m, SG_FIELD_INT, .off = SG_FIELD_AT(T, m, long long)
#define SG_F_NUMBER(T, m) #m, SG_FIELD_NUMBER, .off = SG_FIELD_AT(T, m, double)
#define SG_F_BOOL(T, m) #m, SG_FIELD_BOOL, .off = SG_FIELD_AT(T, m, int)
#define SG_F_ENUM(T, m) #m, SG_FIELD_ENUM, .off = SG_FIELD_AT(T, m, int)
#define SG_F_HAS(T, m) (1 + SG_FIELD_AT(T, m, int))

/* Reads the fields of spec from obj into the struct at out.  at is the path of obj inside the
 * body for messages: NULL for the body itself, "edges[3]" for an element.  obj may be NULL (no
 * body): every field is then absent.  Returns 0, or -1 after answering 422 for the first field
 * (in the table's order) that is wrong. */
int sg_fields_read(soulgw_req *req, const soulgw_json *obj, const char *at,
                   const sg_field_spec *spec, void *out);

/* Checks that the request acts for a tenant and that its body, if any, is a JSON object.
 * Returns 0 with *body the object (NULL when there was no body), or -1 after answering 422. */
int sg_fields_begin(soulgw_req *req, const soulgw_json **body);

/* sg_fields_begin(), then sg_fields_read() of the body. */
int sg_fields_body(soulgw_req *req, const sg_field_spec *spec, void *out);

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
