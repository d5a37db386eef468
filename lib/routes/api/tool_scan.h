/*
 * tool_scan.h -- POST /api/tools/execute's common body read from its text, without its tree.
 *
 * The bench's request, and most real ones, name a tool and give it a small object to echo or
 * pass on: building the body's tree to read three members, then printing the input back out
 * of it, was the largest part of the route's work.  This reads the common body -- identifiers
 * well within the field table's rules, no actor or origin, an input in canonical form
 * (json_canon.h) -- from the text, and leaves anything else to tools.c's field table, which
 * reads the tree and answers exactly as it always has.
 */
#ifndef SG_ROUTES_TOOL_SCAN_H
#define SG_ROUTES_TOOL_SCAN_H

#include "pipeline/req.h"
#include "routes/api/tool_exec.h"

/* The members the route reads from the text, "tenant" first: its route's body_keys
 * (router.h), which the pipeline's scan finds into req->body_spans. */
#define SG_TOOL_SCAN_NKEYS 7
extern const char *const sg_tool_scan_keys[SG_TOOL_SCAN_NKEYS];

/* Fills call (tool_id, call_id, idem_key: in the request's arena; the input as its canonical
 * text in the body, "{}" when absent) from a body the pipeline only scanned (json_pending,
 * with the spans of sg_tool_scan_keys in req->body_spans).
 * Returns 0, or -1 when the body is not the common one or memory ran out: the caller then reads
 * it through the tree, which answers any mistake.  Sets neither ops nor input_tree. */
int sg_tool_scan(soulgw_req *req, sg_exec_call *call);

#endif
