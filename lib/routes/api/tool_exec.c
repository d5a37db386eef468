/*
 * tool_exec.c -- executing a tool for a request (see tool_exec.h).
 *
 * The order of checks, each answering at once:
 *   tool in the tenant's active registry     else 403 POLICY.DENY_TOOL
 *   every scope of the manifest held          else 403 AUTH.FORBIDDEN
 *   input conforms to input_schema            else 422 SCHEMA.VALIDATION_FAILED (with its path)
 *   input within limits.max_bytes_in          else 413 REQUEST.TOO_LARGE
 *   idempotency_key: a stored answer          replayed (Idempotent-Replayed: true), or 409
 * then the run, and the answer.  With an idempotency_key, a successful answer is recorded
 * before it is sent (the request is deferred meanwhile); failures are not recorded, so a retry
 * runs the tool again.
 *
 * The hot path (builtin:echo, no key) reads no store, copies nothing of the input, and builds
 * its answer in one buffer whose text is handed to the response as is.  When the caller has
 * the input as canonical text (POST /api/tools/execute's common body, read from its text), the
 * hot path never builds its tree either: the text is measured by its length, checked as an
 * object by its first byte, and copied into the answer.
 *
 * A caller with ops (MCP) gets every outcome through them instead: the failures as their code
 * and message, the success as the body its text() builds from the result (that body is what an
 * idempotency record holds), a replay as that recorded body.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "routes/ctx.h"
#include "base/json.h"
#include "base/json_write.h"
#include "tools/schema.h"
#include "tools/run.h"
#include "routes/api/tool_exec.h"
#include "routes/api/usage.h"

/* One execution.  A synchronous run keeps it on the handler's stack; an HTTP tool's run, which
 * finishes on another thread, gets a heap copy that complete() frees. */
typedef struct exec {
  soulgw_req *req;
  int heap;        /* malloc'd: complete() frees it */
  sg_toolset *ref; /* keeps the manifest alive */
  const char *tool_id, *call_id, *idem_key;
  const soulgw_json *input;
  const sg_exec_ops *ops; /* NULL: HTTP answers */
  void *ud;
  sg_tool_run run;
} exec;

/* A successful answer waiting for its idempotency record to commit. */
typedef struct recording {
  soulgw_req *req;
  const char *tool_id, *idem_key; /* parts of the request body, valid while it is deferred */
  const soulgw_json *input;
  const sg_exec_ops *ops;
  void *ud;
  char *text;
  size_t len;
} recording;

/* ------------------------------------------------------------------------------------------ */
/* Answers */

/* Appends ns as milliseconds with three decimals ("12.345"), without floating point. */
static void put_ms(sg_buf *b, uint64_t ns) {
  uint64_t us = (ns + 500) / 1000;
  char tmp[32];
  size_t i = sizeof tmp;
  for (int d = 0; d < 3; d++, us /= 10) tmp[--i] = (char)('0' + us % 10);
  tmp[--i] = '.';
  do {
    tmp[--i] = (char)('0' + us % 10);
    us /= 10;
  } while (us);
  sg_buf_append(b, tmp + i, sizeof tmp - i);
}

/* Appends the literal lit (its length known at compile time). */
#define PUT_LIT(b, lit) sg_buf_append((b), (lit), sizeof(lit) - 1)

/* Appends key (a literal), then s as a JSON string.  Escaped with sg_buf_json_escape(), which
 * also mends invalid UTF-8: a tenant may come from a header or the path, which nothing decodes
 * as UTF-8. */
#define PUT_STR(b, key, s) put_str_n((b), key "\"", sizeof(key), (s))
static void put_str_n(sg_buf *b, const char *key, size_t keylen, const char *s) {
  sg_buf_append(b, key, keylen);
  sg_buf_json_escape(b, s, (size_t)-1);
  sg_buf_putc(b, '"');
}

/* Appends the run's output: an HTTP tool's text or an echoed canonical text as it is, any other
 * output written out. */
static void put_result(sg_buf *b, const sg_tool_run *run) {
  if (run->text) sg_buf_append(b, run->text, run->text_len);
  else if (run->result_text) sg_buf_append(b, run->result_text, run->result_text_len);
  else if (sg_json_write(b, run->result)) b->failed = 1;
}

/* Answers a failure: in the route's dialect, or through the caller's ops.  Returns 0. */
static int fail(soulgw_req *req, const sg_exec_ops *ops, void *ud, soulgw_api_error code,
                const char *fmt, ...) SG_PRINTF(5, 6);
static int fail(soulgw_req *req, const sg_exec_ops *ops, void *ud, soulgw_api_error code,
                const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  if (!ops) {
    soulgw_reply_verror(req, code, fmt, ap);
  } else {
    char msg[1024];
    vsnprintf(msg, sizeof msg, fmt, ap);
    ops->fail(req, ud, code, msg);
  }
  va_end(ap);
  return 0;
}

/* Answers a successful run's text (taken), as 200 or through the caller's ops. */
static void succeed(soulgw_req *req, const sg_exec_ops *ops, void *ud, char *text, size_t len) {
  if (!ops) {
    sg_req_answer_typed(req, 200, text, len, "application/json");
    return;
  }
  ops->ok(req, ud, text, len, 0);
  free(text);
}

/* The caller's body of a successful run, from its result (NULL when out of memory). */
static char *ops_text(exec *x, size_t *len) {
  sg_buf b;
  sg_buf_init(&b, 0);
  put_result(&b, &x->run);
  char *text = NULL;
  if (!sg_buf_failed(&b)) text = x->ops->text(x->req, x->ud, b.ptr, b.len, len);
  sg_buf_free(&b);
  return text;
}

/* The answer of a successful run, as JSON text (NULL when out of memory). */
static char *answer_text(exec *x, const sg_manifest *m, size_t *len) {
  soulgw_req *req = x->req;
  if (x->ops) return ops_text(x, len);
  sg_buf b;
  sg_buf_init(&b, 0);
  sg_buf_reserve(&b, 320 + x->run.input_bytes + x->run.text_len + x->run.result_text_len);
  if (req->dialect != SG_DIALECT_LEGACY) {
    /* the manifest's strings, escaped once when it was loaded (it is the request's tenant's:
     * the registry holds a tenant's manifests under that tenant) */
    int built = m->id_json && !strcmp(m->tenant, req->tenant);
    if (built) {
      PUT_LIT(&b, "{\"status\":\"ok\",\"tool_id\":");
      sg_buf_append(&b, m->id_json, m->id_json_len);
      PUT_LIT(&b, ",\"tool_version\":");
      sg_buf_append(&b, m->version_json, m->version_json_len);
      PUT_LIT(&b, ",\"tenant\":");
      sg_buf_append(&b, m->tenant_json, m->tenant_json_len);
    } else {
      PUT_STR(&b, "{\"status\":\"ok\",\"tool_id\":", m->id);
      PUT_STR(&b, ",\"tool_version\":", m->version);
      PUT_STR(&b, ",\"tenant\":", req->tenant);
    }
    if (x->call_id == req->id) {
      /* the request's own id: its characters need no escape (req.c keeps it to [A-Za-z0-9-_.:]) */
      PUT_LIT(&b, ",\"call_id\":\"");
      sg_buf_puts(&b, req->id);
      sg_buf_putc(&b, '"');
    } else {
      PUT_STR(&b, ",\"call_id\":", x->call_id);
    }
    PUT_LIT(&b, ",\"result\":");
    put_result(&b, &x->run);
    PUT_LIT(&b, ",\"duration_ms\":");
    put_ms(&b, x->run.ns);
    PUT_LIT(&b, ",\"evidence_ref\":\"evidence://");
    if (built) sg_buf_append(&b, m->tenant_pct, m->tenant_pct_len);
    else sg_buf_pct_encode(&b, req->tenant);
    sg_buf_putc(&b, '/');
    if (x->call_id == req->id && !strchr(req->id, ':')) sg_buf_puts(&b, req->id); /* unreserved */
    else sg_buf_pct_encode(&b, x->call_id);
    PUT_LIT(&b, "\"}");
  } else {
    PUT_STR(&b, "{\"success\":true,\"data\":{\"invocation\":{\"tool_id\":", m->id);
    PUT_STR(&b, ",\"call_id\":", x->call_id);
    PUT_LIT(&b, ",\"input\":");
    if (sg_json_write(&b, x->input)) b.failed = 1;
    PUT_STR(&b, "},\"result\":{\"tool_id\":", m->id);
    PUT_STR(&b, ",\"call_id\":", x->call_id);
    PUT_LIT(&b, ",\"success\":true,\"output\":");
    put_result(&b, &x->run);
    PUT_STR(&b, ",\"error\":null}},\"error\":null,\"trace_id\":", req->id);
    sg_buf_putc(&b, '}');
  }
  return sg_buf_detach(&b, len);
}

/* Replays a stored answer {"tool_id","input","status","response"} when it is for the same tool
 * and input, else answers 409. */
static int replay(soulgw_req *req, const sg_exec_ops *ops, void *ud, const soulgw_json *rec,
                  const char *tool_id, const soulgw_json *input, const char *key) {
  const char *tid = soulgw_json_string(soulgw_json_get(rec, "tool_id"));
  const char *text = soulgw_json_string(soulgw_json_get(rec, "response"));
  double status = soulgw_json_number(soulgw_json_get(rec, "status"), 200);
  if (!tid || strcmp(tid, tool_id) != 0 || !sg_json_equal(soulgw_json_get(rec, "input"), input))
    return fail(req, ops, ud, SOULGW_API_STORAGE_CONFLICT,
                "idempotency key reused with other input (key %.256s)", key);
  if (!text || status < 200 || status > 599)
    return fail(req, ops, ud, SOULGW_API_UNKNOWN_INTERNAL,
                "the answer stored under idempotency key %.256s is unreadable", key);
  soulgw_reply_header(req, "Idempotent-Replayed", "true");
  if (ops) {
    ops->ok(req, ud, text, strlen(text), 1);
    return 0;
  }
  return soulgw_reply(req, (int)status, text, (size_t)-1);
}

/* The idempotency record of a successful run has been written (or not). */
static void recorded(void *ud, sg_st st, soulgw_json *result, const char *msg) {
  recording *w = ud;
  soulgw_req *req = w->req;
  if (st == SG_ST_OK && soulgw_json_bool(soulgw_json_get(result, "existing"), 0)) {
    /* a concurrent request with the same key recorded its answer first */
    free(w->text);
    replay(req, w->ops, w->ud, result, w->tool_id, w->input, w->idem_key);
  } else if (st == SG_ST_OK) {
    succeed(req, w->ops, w->ud, w->text, w->len);
  } else {
    free(w->text);
    fail(req, w->ops, w->ud, SOULGW_API_STORAGE_UNAVAILABLE,
         "tool %.128s ran, but its answer could not be recorded under the idempotency key: %s",
         w->tool_id, msg ? msg : "storage unavailable");
  }
  free(w);
  soulgw_json_free(result);
}

/* Answers from a finished run, then frees x if it is on the heap.  x holds no part of the
 * request, so it outlives the answer; the request itself may be gone once answered. */
static void complete(exec *x) {
  soulgw_req *req = x->req;
  const sg_manifest *m = x->run.m;
  char *text = NULL;
  size_t len = 0;
  recording *w = NULL;
  sg_ledger_add(sg_ctx_of(req)->ledger, req->tenant, SG_USAGE_TOOL, m->id, x->run.failed, 0, 0,
                x->run.ns);
  if (x->run.failed) {
    sg_toolset_release(x->ref);
    fail(req, x->ops, x->ud, x->run.code, "%s", x->run.msg);
    goto out;
  }
  text = answer_text(x, m, &len);
  sg_tool_run_clear(&x->run);
  sg_toolset_release(x->ref);
  if (!text) {
    fail(req, x->ops, x->ud, SOULGW_API_UNKNOWN_INTERNAL,
         "the answer could not be built (out of memory, or nested too deeply)");
    goto out;
  }
  if (!x->idem_key) {
    succeed(req, x->ops, x->ud, text, len);
    goto out;
  }
  if (!(w = malloc(sizeof *w))) {
    free(text);
    fail(req, x->ops, x->ud, SOULGW_API_UNKNOWN_INTERNAL, "out of memory");
    goto out;
  }
  *w = (recording){req, x->tool_id, x->idem_key, x->input, x->ops, x->ud, text, len};
  if (soulgw_req_defer(req) != 0) {
    /* an HTTP tool's request was answered meanwhile by a stopping gateway: this late answer
     * is dropped and releases the request */
    free(w);
    succeed(req, x->ops, x->ud, text, len);
    goto out;
  }
  sg_store_idem_put(sg_ctx_of(req)->store, req->tenant, w->idem_key, w->tool_id, w->input, 200,
                    text, sg_wall_ms(), recorded, w);
out:
  if (x->heap) free(x);
}

/* An HTTP tool's run has finished, on the upstream thread. */
static void run_done(sg_tool_run *run) { complete(run->ud); }

/* ------------------------------------------------------------------------------------------ */

/* The input's size n (as compact JSON) against limits.max_bytes_in, as sg_exec_check()
 * reports it. */
static const char *size_check(const sg_manifest *m, size_t n, soulgw_api_error *code,
                              size_t *input_bytes, char *detail, size_t detail_len) {
  if (n > (size_t)m->max_bytes_in) {
    *code = SOULGW_API_REQUEST_TOO_LARGE;
    snprintf(detail, detail_len,
             "input is over tool %.128s's limits.max_bytes_in of %lld bytes (as compact JSON)",
             m->id, m->max_bytes_in);
    return "input_too_large";
  }
  *input_bytes = n;
  return NULL;
}

/* 1 when a call with its input as text can run on the text alone: builtin:echo answered in
 * HTTP, no idempotency record (which stores the tree), no output_schema, and an input_schema
 * that is trivial or asks only for an object, which the text's first byte tells. */
static int text_will_do(const soulgw_req *req, const sg_manifest *m, const sg_exec_call *call) {
  return m->kind == SG_TOOL_ECHO && !call->ops && !call->idem_key &&
         req->dialect != SG_DIALECT_LEGACY && m->output_trivial &&
         (m->schema_trivial || (m->schema_object && call->input_text[0] == '{'));
}

const char *sg_exec_check(const soulgw_req *req, const sg_manifest *m, const soulgw_json *input,
                          soulgw_api_error *code, size_t *input_bytes, char *detail,
                          size_t detail_len) {
  *input_bytes = 0;
  for (const soulgw_json *s = soulgw_json_first(m->scopes); s; s = soulgw_json_next(s)) {
    if (!soulgw_req_has_scope(req, soulgw_json_string(s))) {
      *code = SOULGW_API_AUTH_FORBIDDEN;
      snprintf(detail, detail_len, "insufficient scope: tool %.128s needs %.128s", m->id,
               soulgw_json_string(s));
      return "missing_scope";
    }
  }
  if (!input) return NULL;
  if (!m->schema_trivial &&
      !(m->schema_object && soulgw_json_typeof(input) == SOULGW_JSON_OBJECT)) {
    char why[512];
    if (sg_schema_validate(m->input_schema, input, "input", why, sizeof why)) {
      *code = SOULGW_API_SCHEMA_VALIDATION_FAILED;
      snprintf(detail, detail_len, "%s (input_schema of tool %.128s)", why, m->id);
      return "input_invalid";
    }
  }
  if (m->max_bytes_in > 0)
    return size_check(m, sg_json_text_size(input, (size_t)m->max_bytes_in), code, input_bytes,
                      detail, detail_len);
  return NULL;
}

int sg_exec_tool(soulgw_req *req, const sg_exec_call *call) {
  const sg_ctx *ctx = sg_ctx_of(req);
  const sg_exec_ops *ops = call->ops;
  sg_toolset *ref = NULL;
  const sg_manifest *m = sg_registry_find(ctx->registry, req->tenant, call->tool_id, &ref);
  if (!m)
    return fail(req, ops, call->ud, SOULGW_API_POLICY_DENY_TOOL,
                "tool %.256s is not registered for tenant %.128s", call->tool_id, req->tenant);
  soulgw_api_error code;
  size_t input_bytes;
  char detail[700];
  const soulgw_json *input = call->input;
  const char *text = NULL; /* the input as canonical text, when the run needs no tree */
  if (!input && call->input_text) {
    if (text_will_do(req, m, call)) {
      text = call->input_text;
    } else if (call->input_tree(req, &input)) {
      sg_toolset_release(ref);
      return fail(req, ops, call->ud, SOULGW_API_UNKNOWN_INTERNAL, "out of memory");
    }
  }
  /* with text, sg_exec_check() checks the scopes only; the size is the text's length */
  if (sg_exec_check(req, m, input, &code, &input_bytes, detail, sizeof detail) ||
      (text && m->max_bytes_in > 0 &&
       size_check(m, call->input_len, &code, &input_bytes, detail, sizeof detail))) {
    sg_toolset_release(ref);
    return fail(req, ops, call->ud, code, "%s", detail);
  }
  if (call->idem_key) {
    soulgw_json *rec = NULL;
    sg_st st = sg_store_idem_get(ctx->store, req->tenant, call->idem_key, &rec);
    if (st != SG_ST_NOTFOUND) {
      sg_toolset_release(ref);
      if (st == SG_ST_OK)
        replay(req, ops, call->ud, rec, call->tool_id, input, call->idem_key);
      else
        fail(req, ops, call->ud, SOULGW_API_STORAGE_UNAVAILABLE,
             "cannot read idempotency records: storage unavailable");
      soulgw_json_free(rec);
      return 0;
    }
  }
  /* a replay above costs nothing; a run is checked against the tenant's budget */
  long retry;
  if (sg_budget_over(req, SG_USAGE_TOOL, detail, sizeof detail, &retry)) {
    char s[24];
    sg_toolset_release(ref);
    snprintf(s, sizeof s, "%ld", retry);
    soulgw_reply_header(req, "Retry-After", s);
    return fail(req, ops, call->ud, SOULGW_API_BUDGET_EXCEEDED, "%s", detail);
  }
  /* Only what the run reads is set: sg_tools_run() initializes its outputs itself, and
   * zeroing the whole struct (its message buffer included) shows on the echo path. */
  exec local, *x = &local;
  x->req = req;
  x->heap = 0;
  x->ref = ref;
  x->tool_id = call->tool_id;
  x->call_id = call->call_id ? call->call_id : req->id;
  x->idem_key = call->idem_key;
  x->input = input;
  x->ops = ops;
  x->ud = call->ud;
  x->run.env = ctx->tools;
  x->run.m = m;
  x->run.input = input;
  x->run.input_text = text;
  x->run.input_text_len = text ? call->input_len : 0;
  x->run.input_bytes = input_bytes;
  x->run.conf = req->snap->conf;
  x->run.request_id = req->id;
  x->run.tenant = req->tenant;
  x->run.call_id = x->call_id;
  x->run.done = run_done;
  if (m->kind == SG_TOOL_HTTP) {
    /* the run finishes on the upstream thread, possibly before sg_tools_run() returns: x
     * moves to the heap and the request is deferred first */
    if (!(x = malloc(sizeof *x))) {
      sg_toolset_release(ref);
      return fail(req, ops, call->ud, SOULGW_API_UNKNOWN_INTERNAL, "out of memory");
    }
    memcpy(x, &local, offsetof(exec, run) + offsetof(sg_tool_run, failed));
    x->heap = 1;
    if (soulgw_req_defer(req) != 0) {
      sg_toolset_release(ref);
      free(x);
      return 0;
    }
  }
  x->run.ud = x;
  uint64_t t0 = sg_now_ns();
  if (sg_tools_run(&x->run) == SG_TOOL_PENDING) return 0;
  if (!x->run.ns) x->run.ns = sg_now_ns() - t0;
  complete(x);
  return 0;
}
