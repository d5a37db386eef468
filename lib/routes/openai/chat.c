/*
 * chat.c -- POST /v1/chat/completions (SPEC-protocols 1): OpenAI's chat completion over
 * soulgw's providers.
 *
 * The request is checked field by field (a mistake is 400 invalid_request_error, an unknown
 * model 404 model_not_found); the common request is read from its text without a tree
 * (chat_scan.c), anything else through the field table below.  A provider whose backend relays (kind "openai") gets the
 * client's body as it is, with only "model" rewritten, and its answer or its stream comes back
 * with "model" set back (llm/openai.c); local and host providers answer through
 * sg_llm_complete(), their text shaped here as a chat.completion or as chat.completion.chunk
 * events.  The request is deferred before any provider call, so no gateway thread waits.
 *
 * Streams open (200, text/event-stream) with their first event: a provider that fails before
 * it is answered with an HTTP error as a whole answer would be; once open, a failure ends the
 * stream with one event data: {"error":{...}} and no [DONE], so that clients raise an error
 * rather than take a truncated answer as complete.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/json.h"
#include "base/json_scan.h"
#include "routes/fields.h"
#include "routes/api/usage.h"
#include "routes/ctx.h"
#include "routes/openai/chat_scan.h"
#include "routes/openai/v1.h"
#include "routes/routes.h"

#define STOP_MAX 4

/* ------------------------------------------------------------------------------------------ */
/* The request */

typedef struct chat_in {
  const char *model;
  const soulgw_json *messages;
  int stream;
  const soulgw_json *stream_options;
  long long n;
  long long max_tokens, max_completion_tokens;
  int has_temperature, has_top_p, has_seed;
  double temperature, top_p;
  long long seed;
  const soulgw_json *stop;
  const char *user;
  const soulgw_json *tools, *tool_choice;
} chat_in;

static const char *const ROLES[] = {"system", "developer", "user", "assistant", "tool", NULL};

static int known_role(const char *r) {
  for (size_t i = 0; ROLES[i]; i++)
    if (strcmp(r, ROLES[i]) == 0) return 1;
  return 0;
}

/* content: a string, an array of parts ({"type", "text"?}), or (an assistant's, with
 * tool_calls) null. */
static int check_content(soulgw_req *req, const soulgw_json *m, const char *role, size_t i) {
  const soulgw_json *c = soulgw_json_get(m, "content");
  int t = soulgw_json_typeof(c);
  if (t == SOULGW_JSON_STRING) return 0;
  if (!c || t == SOULGW_JSON_NULL) {
    if (strcmp(role, "assistant") == 0) return 0;
    return sg_invalid(req, "messages[%zu].content is required for role %s", i, role);
  }
  if (t != SOULGW_JSON_ARRAY)
    return sg_invalid(req, "messages[%zu].content must be a string or an array of parts, not %s",
                      i, sg_json_type_phrase(c));
  size_t k = 0;
  for (const soulgw_json *p = soulgw_json_first(c); p; p = soulgw_json_next(p), k++) {
    const char *type = soulgw_json_string(soulgw_json_get(p, "type"));
    if (!type)
      return sg_invalid(req, "messages[%zu].content[%zu].type must be a string", i, k);
    if (strcmp(type, "text") == 0 && !soulgw_json_string(soulgw_json_get(p, "text")))
      return sg_invalid(req, "messages[%zu].content[%zu].text must be a string", i, k);
  }
  return 0;
}

static int check_messages(soulgw_req *req, void *out) {
  const chat_in *in = out;
  if (soulgw_json_size(in->messages) == 0)
    return sg_invalid(req, "messages must hold at least one message");
  size_t i = 0;
  for (const soulgw_json *m = soulgw_json_first(in->messages); m; m = soulgw_json_next(m), i++) {
    if (soulgw_json_typeof(m) != SOULGW_JSON_OBJECT)
      return sg_invalid(req, "messages[%zu] must be an object {role, content}", i);
    const char *role = soulgw_json_string(soulgw_json_get(m, "role"));
    if (!role) return sg_invalid(req, "messages[%zu].role must be a string", i);
    if (!known_role(role))
      return sg_invalid(req,
                        "messages[%zu].role must be system, developer, user, assistant or tool, "
                        "not \"%.64s\"", i, role);
    if (check_content(req, m, role, i)) return -1;
  }
  return 0;
}

static int check_n(soulgw_req *req, void *out) {
  if (((const chat_in *)out)->n != 1)
    return sg_invalid(req, "n must be 1: this gateway answers with one choice");
  return 0;
}

static int check_stop(soulgw_req *req, void *out) {
  const soulgw_json *v = ((const chat_in *)out)->stop;
  if (!v || soulgw_json_typeof(v) == SOULGW_JSON_STRING) return 0;
  if (soulgw_json_typeof(v) != SOULGW_JSON_ARRAY || soulgw_json_size(v) > STOP_MAX)
    return sg_invalid(req, "stop must be a string or an array of at most %d strings", STOP_MAX);
  size_t i = 0;
  for (const soulgw_json *s = soulgw_json_first(v); s; s = soulgw_json_next(s), i++)
    if (!soulgw_json_string(s)) return sg_invalid(req, "stop[%zu] must be a string", i);
  return 0;
}

static int check_stream_options(soulgw_req *req, void *out) {
  const soulgw_json *o = ((const chat_in *)out)->stream_options;
  const soulgw_json *u = soulgw_json_get(o, "include_usage");
  if (u && soulgw_json_typeof(u) != SOULGW_JSON_BOOL && soulgw_json_typeof(u) != SOULGW_JSON_NULL)
    return sg_invalid(req, "stream_options.include_usage must be true or false");
  return 0;
}

static int check_tool_choice(soulgw_req *req, void *out) {
  const soulgw_json *v = ((const chat_in *)out)->tool_choice;
  int t = soulgw_json_typeof(v);
  if (!v || t == SOULGW_JSON_STRING || t == SOULGW_JSON_OBJECT) return 0;
  return sg_invalid(req, "tool_choice must be a string or an object, not %s",
                    sg_json_type_phrase(v));
}

static const sg_field_spec chat_fields[] = {
    {SG_F_TEXT(chat_in, model), .required = 1, .max = SG_CHAT_MODEL_MAX},
    {SG_F_ARRAY(chat_in, messages), .required = 1, .max = SG_CHAT_MESSAGES_MAX,
     .check = check_messages},
    {SG_F_BOOL(chat_in, stream)},
    {SG_F_OBJECT(chat_in, stream_options), .check = check_stream_options},
    {SG_F_INT(chat_in, n), .min = 0, .max = 1000, .def = 1, .check = check_n},
    {SG_F_INT(chat_in, max_tokens), .min = 1, .max = SG_CHAT_TOKENS_MAX},
    {SG_F_INT(chat_in, max_completion_tokens), .min = 1, .max = SG_CHAT_TOKENS_MAX},
    {SG_F_NUMBER(chat_in, temperature), .min = 0, .max = 2,
     .has = SG_F_HAS(chat_in, has_temperature)},
    {SG_F_NUMBER(chat_in, top_p), .min = 0, .max = 1, .has = SG_F_HAS(chat_in, has_top_p)},
    {SG_F_VALUE(chat_in, stop), .check = check_stop},
    {SG_F_INT(chat_in, seed), .min = -SG_CHAT_SEED_MAX, .max = SG_CHAT_SEED_MAX,
     .has = SG_F_HAS(chat_in, has_seed)},
    {SG_F_TEXT(chat_in, user), .max = SG_CHAT_USER_MAX},
    {SG_F_ARRAY(chat_in, tools), .max = SG_CHAT_TOOLS_MAX},
    {SG_F_VALUE(chat_in, tool_choice), .check = check_tool_choice},
    {0}};

/* ------------------------------------------------------------------------------------------ */
/* One call */

typedef struct chat_ctx {
  soulgw_req *req;
  const char *model; /* as the client asked */
  const char *served; /* an alias's target that serves, once known */
  sg_buf prompt;      /* the local path's prompt, kept while an alias's targets are tried */
  char id[96];       /* "chatcmpl-<request id>" */
  long long created;
  int stream, include_usage, opened;
  soulgw_json *history; /* local and host providers: the messages before the prompt */
  sg_buf ev;            /* one event, reused */
  sg_buf held;          /* local and host streams: the last piece, sent with the finish */
  int has_held;
} chat_ctx;

static void put_str(sg_buf *b, const char *s) {
  sg_buf_putc(b, '"');
  sg_buf_json_escape(b, s, (size_t)-1);
  sg_buf_putc(b, '"');
}

/* {"id","object","created","model", -- the head every answer and chunk shares. */
static void put_head(sg_buf *b, const chat_ctx *x, const char *object) {
  sg_buf_puts(b, "{\"id\":");
  put_str(b, x->id);
  sg_buf_printf(b, ",\"object\":\"%s\",\"created\":%lld,\"model\":", object, x->created);
  put_str(b, x->model);
}

static void put_usage(sg_buf *b, long long in, long long out) {
  sg_buf_printf(b, "\"usage\":{\"prompt_tokens\":%lld,\"completion_tokens\":%lld,"
                   "\"total_tokens\":%lld}", in, out, in + out);
}

static void ctx_free(chat_ctx *x) {
  sg_buf_free(&x->ev);
  sg_buf_free(&x->held);
  soulgw_json_free(x->history);
  x->history = NULL;
  sg_buf_free(&x->prompt);
}

/* Opens the stream at its first event; non-zero when it cannot be (the client has gone). */
static int ensure_open(chat_ctx *x) {
  if (x->opened) return 0;
  x->opened = 1;
  soulgw_reply_header(x->req, "Cache-Control", "no-cache");
  soulgw_reply_header(x->req, "X-Soulgw-Model", x->served ? x->served : x->model);
  return soulgw_stream_open(x->req, 200, "text/event-stream");
}

/* Sends "data: " + x->ev's text; non-zero when the client has gone. */
static int send_ev(chat_ctx *x) {
  if (sg_buf_failed(&x->ev) || ensure_open(x)) return 1;
  return soulgw_stream_write(x->req, x->ev.ptr, x->ev.len) != 0;
}

/* Ends an open stream with one error event (no [DONE]). */
static void stream_error(chat_ctx *x, soulgw_api_error err, const char *code, const char *msg) {
  sg_buf_reset(&x->ev);
  sg_buf_puts(&x->ev, "data: ");
  sg_v1_error_json(&x->ev, x->req, err, code, msg);
  sg_buf_puts(&x->ev, "\n\n");
  if (!sg_buf_failed(&x->ev)) soulgw_stream_write(x->req, x->ev.ptr, x->ev.len);
  sg_v1_note_error(x->req, code ? code : soulgw_api_error_code(err));
}

/* The request (and x, in its arena) is released by the close: x is freed first. */
static void stream_finish(chat_ctx *x) {
  soulgw_req *req = x->req;
  ctx_free(x);
  soulgw_stream_close(req);
}

/* A failure: an error answer before the stream opened, an error event after. */
static void answer_failure(chat_ctx *x, soulgw_api_error err, const char *code, long retry,
                           const char *msg) {
  if (x->stream && x->opened) {
    stream_error(x, err, code, msg);
    stream_finish(x);
    return;
  }
  soulgw_req *req = x->req;
  ctx_free(x); /* before the answer, which releases the request and x with it */
  sg_v1_error(req, err, code, retry, "%s", msg);
}

/* Counts the call in the usage ledger (before its answer, which may release the request). */
static void meter(chat_ctx *x, const char *served, int failed, long long in, long long out) {
  sg_llm_call call = sg_v1_call(x->req, x->req->route->ud);
  sg_usage_llm(x->req, &call, x->model, served ? served : x->served, failed, 0, in, out);
}

/* ------------------------------------------------------------------------------------------ */
/* The relay (openai providers) */

static int relay_event(void *ud, const char *data, size_t len) {
  chat_ctx *x = ud;
  sg_buf_reset(&x->ev);
  sg_buf_reserve(&x->ev, len + 8);
  sg_buf_puts(&x->ev, "data: ");
  sg_buf_append(&x->ev, data, len);
  sg_buf_puts(&x->ev, "\n\n");
  return send_ev(x);
}

static void relay_done(void *ud, sg_llm_relay_result *r) {
  chat_ctx *x = ud;
  meter(x, r->served, r->failed, r->input_tokens, r->output_tokens);
  if (r->failed) {
    answer_failure(x, r->error, r->code, r->retry_after, r->message);
    return;
  }
  if (r->served) x->served = r->served;
  if (!x->stream) {
    soulgw_req *req = x->req;
    soulgw_reply_header(req, "X-Soulgw-Model", x->served ? x->served : x->model);
    ctx_free(x);
    sg_req_answer_typed(req, 200, r->body, r->len, "application/json");
    return;
  }
  sg_buf_reset(&x->ev);
  sg_buf_puts(&x->ev, "data: [DONE]\n\n");
  send_ev(x);
  stream_finish(x);
}

static void relay_serving(void *ud, const char *target) { ((chat_ctx *)ud)->served = target; }

static const sg_llm_relay_ops relay_ops = {relay_done, relay_event, relay_serving};

/* ------------------------------------------------------------------------------------------ */
/* Local and host providers */

/* The text of a message's content: the string, or its text parts joined by newlines. */
static void content_text(sg_buf *b, const soulgw_json *m) {
  const soulgw_json *c = soulgw_json_get(m, "content");
  if (soulgw_json_string(c)) {
    sg_buf_puts(b, soulgw_json_string(c));
    return;
  }
  int first = 1;
  for (const soulgw_json *p = soulgw_json_first(c); p; p = soulgw_json_next(p)) {
    const char *type = soulgw_json_string(soulgw_json_get(p, "type"));
    if (!type || strcmp(type, "text") != 0) continue;
    if (!first) sg_buf_putc(b, '\n');
    sg_buf_puts(b, soulgw_json_string(soulgw_json_get(p, "text")));
    first = 0;
  }
}

/* One chunk with delta {role?, content?} and finish_reason (NULL: null). */
static int send_chunk(chat_ctx *x, int role, const char *text, size_t len, const char *finish) {
  sg_buf_reset(&x->ev);
  sg_buf_puts(&x->ev, "data: ");
  put_head(&x->ev, x, "chat.completion.chunk");
  sg_buf_puts(&x->ev, ",\"choices\":[{\"index\":0,\"delta\":{");
  if (role) sg_buf_puts(&x->ev, "\"role\":\"assistant\"");
  if (text) {
    sg_buf_puts(&x->ev, role ? ",\"content\":\"" : "\"content\":\"");
    sg_buf_json_escape(&x->ev, text, len);
    sg_buf_putc(&x->ev, '"');
  }
  sg_buf_puts(&x->ev, "},\"logprobs\":null,\"finish_reason\":");
  if (finish) put_str(&x->ev, finish);
  else sg_buf_puts(&x->ev, "null");
  sg_buf_puts(&x->ev, "}]}\n\n");
  return send_ev(x);
}

/* A piece of a local or host answer: the piece held before it goes out, this one is held, so
 * that the last carries finish_reason. */
static int local_delta(void *ud, const char *text, size_t len) {
  chat_ctx *x = ud;
  if (!x->opened && send_chunk(x, 1, "", 0, NULL)) return 1;
  if (x->has_held && send_chunk(x, 0, x->held.ptr, x->held.len, NULL)) return 1;
  sg_buf_reset(&x->held);
  sg_buf_append(&x->held, text, len);
  x->has_held = 1;
  return sg_buf_failed(&x->held);
}

static void local_stream_end(chat_ctx *x, const sg_llm_result *r) {
  if (!x->opened) send_chunk(x, 1, "", 0, NULL);
  if (x->has_held) send_chunk(x, 0, x->held.ptr, x->held.len, r->finish);
  else send_chunk(x, 0, NULL, 0, r->finish);
  if (x->include_usage) {
    sg_buf_reset(&x->ev);
    sg_buf_puts(&x->ev, "data: ");
    put_head(&x->ev, x, "chat.completion.chunk");
    sg_buf_puts(&x->ev, ",\"choices\":[],");
    put_usage(&x->ev, r->input_tokens, r->output_tokens);
    sg_buf_puts(&x->ev, "}\n\n");
    send_ev(x);
  }
  sg_buf_reset(&x->ev);
  sg_buf_puts(&x->ev, "data: [DONE]\n\n");
  send_ev(x);
  stream_finish(x);
}

static void local_done(void *ud, const sg_llm_result *r) {
  chat_ctx *x = ud;
  meter(x, r->served, r->failed, r->input_tokens, r->output_tokens);
  if (r->failed) {
    answer_failure(x, r->error, NULL, 0, r->message);
    return;
  }
  if (r->served) x->served = r->served;
  if (x->stream) {
    local_stream_end(x, r);
    return;
  }
  soulgw_reply_header(x->req, "X-Soulgw-Model", x->served ? x->served : x->model);
  sg_buf b;
  sg_buf_init(&b, 0);
  put_head(&b, x, "chat.completion");
  sg_buf_puts(&b, ",\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\",\"content\":\"");
  sg_buf_json_escape(&b, r->text, r->text_len);
  sg_buf_puts(&b, "\",\"refusal\":null},\"logprobs\":null,\"finish_reason\":");
  put_str(&b, r->finish ? r->finish : "stop");
  sg_buf_puts(&b, "}],");
  put_usage(&b, r->input_tokens, r->output_tokens);
  sg_buf_putc(&b, '}');
  size_t len;
  char *body = sg_buf_failed(&b) ? (sg_buf_free(&b), NULL) : sg_buf_detach(&b, &len);
  soulgw_req *req = x->req;
  ctx_free(x);
  if (!body) sg_v1_error(req, SOULGW_API_UNKNOWN_INTERNAL, NULL, 0, "out of memory");
  else sg_req_answer_typed(req, 200, body, len, "application/json");
}

static void local_serving(void *ud, const char *target) { ((chat_ctx *)ud)->served = target; }

static const sg_llm_ops local_ops = {local_done, local_delta, local_serving};

/* The prompt (the last user message's text) and the history before it, as local and host
 * providers take them ([{role, content}] with string contents).  -1 after answering. */
static int local_params(chat_ctx *x, const chat_in *in, sg_llm_params *p, sg_buf *prompt) {
  const soulgw_json *last = NULL;
  for (const soulgw_json *m = soulgw_json_first(in->messages); m; m = soulgw_json_next(m))
    if (strcmp(soulgw_json_string(soulgw_json_get(m, "role")), "user") == 0) last = m;
  if (!last) {
    ctx_free(x); /* before the answer, which releases the request and x with it */
    return sg_invalid(x->req, "messages must hold a user message for model %.300s", in->model);
  }
  int rc = !(x->history = soulgw_json_array());
  for (const soulgw_json *m = soulgw_json_first(in->messages); !rc && m != last;
       m = soulgw_json_next(m)) {
    sg_buf t;
    sg_buf_init(&t, 0);
    content_text(&t, m);
    soulgw_json *o = soulgw_json_object();
    rc |= soulgw_json_set(o, "role", soulgw_json_dup(soulgw_json_get(m, "role")));
    rc |= soulgw_json_set(o, "content", soulgw_json_new_string(t.ptr ? t.ptr : ""));
    rc |= sg_buf_failed(&t) | soulgw_json_push(x->history, o);
    sg_buf_free(&t);
  }
  content_text(prompt, last);
  if (rc || sg_buf_failed(prompt)) {
    ctx_free(x);
    return soulgw_reply_error(x->req, SOULGW_API_UNKNOWN_INTERNAL, "out of memory"), -1;
  }
  memset(p, 0, sizeof *p);
  p->model = in->model;
  p->prompt = prompt->ptr ? prompt->ptr : "";
  p->messages = x->history;
  p->max_tokens = in->max_completion_tokens ? in->max_completion_tokens : in->max_tokens;
  p->has_temperature = in->has_temperature;
  p->temperature = in->temperature;
  p->has_top_p = in->has_top_p;
  p->top_p = in->top_p;
  p->has_seed = in->has_seed;
  p->seed = in->seed;
  p->stop = in->stop;
  p->stream = x->stream;
  return 0;
}

static int run_local(chat_ctx *x, const chat_in *in, const sg_llm_call *call) {
  sg_llm_params p;
  if (local_params(x, in, &p, &x->prompt)) return 0; /* answered, x freed */
  /* local and host providers answer at once; an alias's targets may answer later */
  sg_llm_route_complete(call, &p, &local_ops, x);
  return 0;
}

/* ------------------------------------------------------------------------------------------ */

/* sc: the body as chat_scan.c read it, or NULL when it was read through the field table. */
static int run_relay(chat_ctx *x, const chat_in *in, const sg_chat_scan *sc,
                     const sg_llm_call *call, int *relayed) {
  static const char *const keys[] = {"model", "stream_options"};
  sg_json_span sp[2];
  size_t len;
  const char *body = soulgw_req_body(x->req, &len);
  *relayed = 0;
  if (sc) {
    sp[0] = sc->model_at;
    sp[1].found = sc->has_stream_options;
  } else if (!body || sg_json_scan_members(body, len, keys, 2, sp) != 0 || !sp[0].found) {
    return 0; /* cannot happen for a body the pipeline parsed: the other way then */
  }
  sg_llm_relay_req r = {in->model, body, len, sp[0].start, sp[0].end, in->stream,
                        x->include_usage, sp[1].found, NULL};
  if (sg_llm_route_relay(call, &r, &relay_ops, x) == 0) *relayed = 1;
  return 0;
}

/* dst = "chatcmpl-" + the request id, cut to fit as snprintf would (which costs more than the
 * copy on every request). */
static void set_id(char *dst, size_t size, const char *rid) {
  static const char pre[] = "chatcmpl-";
  size_t n = strlen(rid);
  if (n > size - sizeof pre) n = size - sizeof pre;
  memcpy(dst, pre, sizeof pre - 1);
  memcpy(dst + sizeof pre - 1, rid, n);
  dst[sizeof pre - 1 + n] = '\0';
}

/* The request's fields: read from the body's text when it is the common request (no tree is
 * built), else through the field table, which answers a mistake.  *scanned says which.
 * Returns 0, or -1 after answering. */
static int read_in(soulgw_req *req, chat_in *in, sg_chat_scan *sc, int *scanned) {
  *scanned = sg_chat_scan_body(req, sc) == 0;
  if (!*scanned) return sg_fields_body(req, chat_fields, in);
  memset(in, 0, sizeof *in); /* the relay reads model and stream only */
  in->model = sc->model;
  in->stream = sc->stream;
  return 0;
}

int sg_route_openai_chat(soulgw_req *req, void *ud) {
  chat_in in;
  sg_chat_scan sc;
  int scanned;
  if (read_in(req, &in, &sc, &scanned)) return 0;
  sg_llm_call call = sg_v1_call(req, ud);
  if (sg_v1_model(req, &call, in.model, 0) || sg_budget_refused(req, SG_USAGE_LLM)) return 0;
  chat_ctx *x = sg_arena_calloc(&req->arena, sizeof *x);
  if (!x) return soulgw_reply_error(req, SOULGW_API_UNKNOWN_INTERNAL, "out of memory");
  x->req = req;
  x->model = in.model;
  set_id(x->id, sizeof x->id, req->id);
  x->created = (long long)time(NULL);
  x->stream = in.stream;
  x->include_usage = scanned ? sc.include_usage
                             : soulgw_json_bool(soulgw_json_get(in.stream_options,
                                                                "include_usage"), 0);
  sg_buf_init(&x->ev, 0);
  sg_buf_init(&x->held, 0);
  sg_buf_init(&x->prompt, 0);
  if (soulgw_req_defer(req)) return 0;
  int relayed;
  run_relay(x, &in, scanned ? &sc : NULL, &call, &relayed);
  if (relayed) return 0;
  /* local and host providers read the messages from the tree: the table reads it now, and
   * accepts it, as the scan did (x holds nothing yet that its answer would leak) */
  if (scanned && sg_fields_body(req, chat_fields, &in)) return 0;
  return run_local(x, &in, &call);
}
