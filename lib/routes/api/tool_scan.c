/*
 * tool_scan.c -- the common tool execution body read from its text (see tool_scan.h).
 *
 * Every test here is narrower than the field table's (tools.c): an identifier is taken only
 * when the table surely accepts it as it is (no escape, 1 to SG_ID_MAX bytes, no control
 * character, not all spaces), and actor and origin, which the table checks for shape, send the
 * body to the table whatever they hold.  Members the table does not read are ignored, as the
 * table ignores them.  The text has passed json_scan.h's plain scan (no repeated name, no \u
 * escape, valid UTF-8), so a value's first byte names its type; that scan found the members
 * too (the route's body_keys), so the text is not read again but for the values taken.
 */
#include <string.h>

#include "base/json_canon.h"
#include "base/json_scan.h"
#include "routes/fields.h"
#include "routes/api/tool_scan.h"

enum { K_TENANT, K_TOOL_ID, K_INPUT, K_CALL_ID, K_IDEM_KEY, K_ACTOR, K_ORIGIN, K_COUNT };

_Static_assert(K_COUNT == SG_TOOL_SCAN_NKEYS, "one key a member");
const char *const sg_tool_scan_keys[SG_TOOL_SCAN_NKEYS] = {
    "tenant", "tool_id", "input", "call_id", "idempotency_key", "actor", "origin"};

/* The identifier at span, copied into the request's arena: 0, or -1 when it is not a string
 * the field table surely accepts as it is. */
static int plain_id(soulgw_req *req, const sg_json_span *span, const char **out) {
  const char *v = req->body.ptr + span->start;
  size_t n = span->end - span->start;
  if (v[0] != '"' || n < 3 || n - 2 > SG_ID_MAX) return -1;
  int blank = 1;
  for (size_t i = 1; i < n - 1; i++) {
    unsigned char c = (unsigned char)v[i];
    if (c < 0x20 || c == 0x7f || c == '\\') return -1;
    if (c != ' ') blank = 0;
  }
  if (blank) return -1;
  char *s = sg_arena_alloc(&req->arena, n - 1);
  if (!s) return -1;
  memcpy(s, v + 1, n - 2);
  s[n - 2] = '\0';
  *out = s;
  return 0;
}

/* An optional identifier: absent or null is NULL. */
static int optional_id(soulgw_req *req, const sg_json_span *span, const char **out) {
  *out = NULL;
  if (!span->found || req->body.ptr[span->start] == 'n') return 0;
  return plain_id(req, span, out);
}

int sg_tool_scan(soulgw_req *req, sg_exec_call *call) {
  const sg_json_span *sp = req->body_spans;
  if (!req->json_pending || !sp || !req->tenant) return -1;
  if (sp[K_ACTOR].found || sp[K_ORIGIN].found || !sp[K_TOOL_ID].found) return -1;
  if (plain_id(req, &sp[K_TOOL_ID], &call->tool_id) ||
      optional_id(req, &sp[K_CALL_ID], &call->call_id) ||
      optional_id(req, &sp[K_IDEM_KEY], &call->idem_key))
    return -1;
  call->input = NULL;
  if (!sp[K_INPUT].found) {
    call->input_text = "{}"; /* an absent input is {} */
    call->input_len = 2;
    return 0;
  }
  const char *in = req->body.ptr + sp[K_INPUT].start;
  size_t len = sp[K_INPUT].end - sp[K_INPUT].start;
  if (!sg_json_canonical(in, len)) return -1;
  call->input_text = in;
  call->input_len = len;
  return 0;
}
