/*
 * chat_scan.h -- a chat completion request read from its body's text, without its tree.
 *
 * The relay (an "openai" provider) forwards the body's bytes and needs only "model", "stream"
 * and stream_options.include_usage from it; building a tree of every value just to check the
 * fields would cost more than the rest of soulgw's work on the request.  This reads the common
 * request -- every field well within what chat.c's field table accepts -- from the text, and
 * leaves anything else (a mistake to answer, content parts, an escape in a name or a role) to
 * that table, which reads the tree and answers exactly as it always has.
 */
#ifndef SG_ROUTES_CHAT_SCAN_H
#define SG_ROUTES_CHAT_SCAN_H

#include "base/json_scan.h"
#include "pipeline/req.h"

/* The field table's limits, shared so that the scan never accepts what the table refuses. */
#define SG_CHAT_MODEL_MAX 512        /* bytes of "model" */
#define SG_CHAT_MESSAGES_MAX 10000   /* elements of "messages" */
#define SG_CHAT_TOOLS_MAX 128        /* elements of "tools" */
#define SG_CHAT_USER_MAX 256         /* bytes of "user" */
#define SG_CHAT_TOKENS_MAX 1000000000 /* max_tokens, max_completion_tokens */
#define SG_CHAT_SEED_MAX 9007199254740991LL /* |seed|: 2^53 - 1 */

/* The members read from the text: the route's body_keys, so that the pipeline's scan of the
 * body finds them in the same pass. */
#define SG_CHAT_SCAN_NKEYS 14
extern const char *const sg_chat_scan_keys[SG_CHAT_SCAN_NKEYS];

typedef struct sg_chat_scan {
  const char *model;      /* the client's "model", in the request's arena */
  int stream;             /* "stream": true */
  int include_usage;      /* "stream_options": {"include_usage": true} */
  int has_stream_options; /* the body has a top-level "stream_options" (null too) */
  sg_json_span model_at;  /* the bytes of "model"'s value in the body */
} sg_chat_scan;

/* 0 when req's body was only scanned by the pipeline (its tree not built) and chat.c's field
 * table would accept every field of it without a word: *out then holds what the relay needs.
 * -1 otherwise, nothing answered: the request must be read through the field table.  Either
 * way no tree is built here. */
int sg_chat_scan_body(soulgw_req *req, sg_chat_scan *out);

#endif
