/*
 * llm.c -- the model routes of SPEC 4.2: POST /api/llm/complete, /api/llm/stream and
 * /api/llm/embed.  Each checks its request field by field (one precise 422 per mistake), hands
 * it to the providers (llm/provider.c) and shapes their answer.  A configured upstream answers
 * later (from the upstream thread, or from this thread's lane), so complete defers its request and stream opens its event
 * stream before the call goes out; no gateway thread waits on a model.
 *
 * Streams are server-sent events: "event: delta" with {"delta":"..."} for each piece, then
 * exactly one terminal event, "event: done" with {"usage","finish","model"} or "event: error"
 * with the error shape.  Once the stream is open (status 200) every failure, an unknown
 * provider included, is told by that error event; only a request that fails validation is
 * answered 422 as on any other route.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "routes/ctx.h"
#include "base/json.h"
#include "routes/api/usage.h"
#include "routes/fields.h"
#include "routes/routes.h"

#define MESSAGES_MAX 1000
#define ROLE_MAX 64
#define STOP_MAX 4
#define TEXTS_MAX 2048

/* ------------------------------------------------------------------------------------------ */
/* Reading the request */

/* *model, "provider:model", or def when absent. */
static int model_or_default(soulgw_req *req, const char **model, const char *def) {
  char why[200];
  if (!*model) *model = def;
  for (const sg_model_conf *m = req->snap->conf->llm.models; m; m = m->next)
    if (strcmp(m->name, *model) == 0) return 0; /* an alias, [llm.models.NAME] */
  if (sg_llm_model_check(*model, why, sizeof why) != 0) return sg_invalid(req, "%s", why);
  return 0;
}

static int complete_model(soulgw_req *req, void *out) {
  sg_llm_params *p = out;
  return model_or_default(req, &p->model, req->snap->conf->llm.default_model);
}

static int check_messages(soulgw_req *req, void *out) {
  const sg_llm_params *p = out;
  size_t i = 0;
  for (const soulgw_json *m = soulgw_json_first(p->messages); m; m = soulgw_json_next(m), i++) {
    if (soulgw_json_typeof(m) != SOULGW_JSON_OBJECT)
      return sg_invalid(req, "messages[%zu] must be an object {role, content}", i);
    const char *role = soulgw_json_string(soulgw_json_get(m, "role"));
    if (!role) return sg_invalid(req, "messages[%zu].role must be a string", i);
    size_t n = strlen(role);
    if (n == 0 || n > ROLE_MAX) return sg_invalid(req, "messages[%zu].role must be 1 to %d bytes", i, ROLE_MAX);
    for (const char *c = role; *c; c++)
      if ((unsigned char)*c <= 0x20 || *c == 0x7f)
        return sg_invalid(req, "messages[%zu].role must not contain spaces or control characters", i);
    if (!soulgw_json_string(soulgw_json_get(m, "content")))
      return sg_invalid(req, "messages[%zu].content must be a string", i);
  }
  return 0;
}

/* stop: a string or an array of at most STOP_MAX strings. */
static int check_stop(soulgw_req *req, void *out) {
  const soulgw_json *v = ((const sg_llm_params *)out)->stop;
  if (!v || soulgw_json_typeof(v) == SOULGW_JSON_STRING) return 0;
  if (soulgw_json_typeof(v) != SOULGW_JSON_ARRAY)
    return sg_invalid(req, "stop must be a string or an array of strings");
  if (soulgw_json_size(v) > STOP_MAX)
    return sg_invalid(req, "stop has %zu strings; at most %d", soulgw_json_size(v), STOP_MAX);
  size_t i = 0;
  for (const soulgw_json *s = soulgw_json_first(v); s; s = soulgw_json_next(s), i++)
    if (!soulgw_json_string(s)) return sg_invalid(req, "stop[%zu] must be a string", i);
  return 0;
}

/* The prompt of complete and stream is read apart: its message names no type ("prompt must be
 * a string"). */
typedef struct prompt_in {
  const soulgw_json *prompt;
} prompt_in;

static const sg_field_spec prompt_fields[] = {{SG_F_VALUE(prompt_in, prompt), .required = 1}, {0}};

/* The other fields of complete and stream. */
#define SEED_MAX 9007199254740991LL
static const sg_field_spec params_fields[] = {
    {SG_F_TEXT(sg_llm_params, model), .max = 512, .check = complete_model},
    {SG_F_ARRAY(sg_llm_params, messages), .max = MESSAGES_MAX, .check = check_messages},
    {SG_F_INT(sg_llm_params, max_tokens), .min = 1, .max = 1000000000},
    {SG_F_NUMBER(sg_llm_params, temperature), .min = 0, .max = 2,
     .has = SG_F_HAS(sg_llm_params, has_temperature)},
    {SG_F_NUMBER(sg_llm_params, top_p), .min = 0, .max = 1,
     .has = SG_F_HAS(sg_llm_params, has_top_p)},
    {SG_F_VALUE(sg_llm_params, stop), .check = check_stop},
    {SG_F_INT(sg_llm_params, seed), .min = -SEED_MAX, .max = SEED_MAX,
     .has = SG_F_HAS(sg_llm_params, has_seed)},
    {SG_F_OBJECT(sg_llm_params, metadata)},
    {0}};

/* The request of complete and stream.  Returns 0, or -1 after answering 422. */
static int read_params(soulgw_req *req, sg_llm_params *p) {
  const soulgw_json *b;
  prompt_in in;
  memset(p, 0, sizeof *p);
  if (sg_fields_begin(req, &b) || sg_fields_read(req, b, NULL, prompt_fields, &in)) return -1;
  p->prompt = soulgw_json_string(in.prompt);
  if (!p->prompt) return sg_invalid(req, "prompt must be a string");
  return sg_fields_read(req, b, NULL, params_fields, p);
}

/* ------------------------------------------------------------------------------------------ */
/* complete */

/* "key":"s" (key needs no escape).  Built without printf: an answer is a handful of these, and
 * a format string costs more than the bytes it writes. */
static void put_str(sg_buf *b, const char *key, const char *s) {
  sg_buf_putc(b, '"');
  sg_buf_puts(b, key);
  sg_buf_append(b, "\":\"", 3);
  sg_buf_json_escape(b, s, (size_t)-1);
  sg_buf_putc(b, '"');
}

/* n in decimal, as "%lld" writes it. */
static void put_ll(sg_buf *b, long long n) {
  char tmp[24], *p = tmp + sizeof tmp;
  unsigned long long u = n < 0 ? 0ULL - (unsigned long long)n : (unsigned long long)n;
  do *--p = (char)('0' + u % 10); while (u /= 10);
  if (n < 0) *--p = '-';
  sg_buf_append(b, p, (size_t)(tmp + sizeof tmp - p));
}

/* What a provider call runs with: the gateway's provider environment, the configured providers
 * of the request's snapshot, the request's id and trace context. */
static sg_llm_call llm_call(soulgw_req *req, void *ud) {
  const sg_ctx *ctx = ud;
  sg_llm_call call = {ctx->llm, req->snap->conf->llm.providers, req->id,
                      soulgw_req_header(req, "traceparent"), 0, req->snap->conf->llm.models};
  return call;
}

static void put_usage(sg_buf *b, const sg_llm_result *r) {
  sg_buf_puts(b, "\"usage\":{\"input_tokens\":");
  put_ll(b, r->input_tokens);
  sg_buf_puts(b, ",\"output_tokens\":");
  put_ll(b, r->output_tokens);
  sg_buf_putc(b, '}');
}

/* Counts a completion in the usage ledger (before its answer, which may release req). */
static void meter(soulgw_req *req, const char *model, const sg_llm_result *r) {
  sg_llm_call call = llm_call(req, req->route->ud);
  sg_usage_llm(req, &call, model, r->served, r->failed, 0, r->input_tokens, r->output_tokens);
}

static void complete_done(void *ud, const sg_llm_result *r) {
  soulgw_req *req = ud;
  const char *asked = soulgw_json_string(soulgw_json_get(req->json, "model"));
  meter(req, asked ? asked : req->snap->conf->llm.default_model, r);
  if (r->failed) {
    if (r->served) soulgw_reply_header(req, "X-Soulgw-Model", r->served);
    soulgw_reply_error(req, r->error, "%s", r->message);
    return;
  }
  const char *model = soulgw_json_string(soulgw_json_get(req->json, "model"));
  if (!model) model = req->snap->conf->llm.default_model;
  if (r->served) model = r->served; /* an alias: the target that served */
  soulgw_reply_header(req, "X-Soulgw-Model", model);
  const char *prompt = soulgw_json_string(soulgw_json_get(req->json, "prompt"));
  sg_buf b;
  sg_buf_init(&b, 0);
  /* room for the answer as it is when nothing needs escaping: one allocation, not a few */
  sg_buf_reserve(&b, 160 + strlen(req->tenant) + strlen(prompt) + r->text_len +
                         2 * strlen(model) + strlen(r->finish));
  sg_buf_putc(&b, '{');
  put_str(&b, "tenant", req->tenant);
  sg_buf_putc(&b, ',');
  put_str(&b, "prompt", prompt);
  sg_buf_puts(&b, ",\"response\":\"");
  sg_buf_json_escape(&b, r->text, r->text_len);
  sg_buf_puts(&b, "\",");
  put_str(&b, "model", model);
  sg_buf_putc(&b, ',');
  put_usage(&b, r);
  sg_buf_putc(&b, ',');
  put_str(&b, "finish", r->finish);
  sg_buf_puts(&b, ",\"provider\":\"");
  sg_buf_json_escape(&b, model, (size_t)(strchr(model, ':') - model));
  sg_buf_puts(&b, "\"}");
  size_t len;
  char *text = sg_buf_detach(&b, &len);
  if (!text) {
    soulgw_reply_error(req, SOULGW_API_UNKNOWN_INTERNAL, "out of memory building the answer");
    return;
  }
  sg_req_answer_typed(req, 200, text, len, "application/json");
}

static const sg_llm_ops complete_ops = {complete_done, NULL, NULL};

/* POST /api/llm/complete {prompt, model, messages, max_tokens, temperature, top_p, stop, seed,
 * metadata, tenant}. */
int sg_route_llm_complete(soulgw_req *req, void *ud) {
  sg_llm_params p;
  if (read_params(req, &p) || sg_budget_refused(req, SG_USAGE_LLM) || soulgw_req_defer(req))
    return 0;
  sg_llm_call call = llm_call(req, ud);
  sg_llm_route_complete(&call, &p, &complete_ops, req);
  return 0;
}

/* ------------------------------------------------------------------------------------------ */
/* stream */

typedef struct stream_ctx {
  soulgw_req *req;
  const char *model;
  const char *served; /* an alias's target, once known */
  int opened;
} stream_ctx;

/* Opens the stream at its first event, naming the model that serves; non-zero when it cannot
 * be. */
static int ensure_open(stream_ctx *s) {
  if (s->opened) return 0;
  s->opened = 1;
  soulgw_reply_header(s->req, "X-Soulgw-Model", s->served ? s->served : s->model);
  return soulgw_stream_open(s->req, 200, "text/event-stream");
}

static void stream_serving(void *ud, const char *target) { ((stream_ctx *)ud)->served = target; }

/* Queues one event; non-zero when the client has gone. */
static int send_event(soulgw_req *req, sg_buf *b) {
  int rc = sg_buf_failed(b) ? SOULGW_ENOMEM : soulgw_stream_write(req, b->ptr, b->len);
  sg_buf_free(b);
  return rc;
}

static int stream_delta(void *ud, const char *text, size_t len) {
  stream_ctx *s = ud;
  if (ensure_open(s)) return 1;
  sg_buf b;
  sg_buf_init(&b, 0);
  sg_buf_puts(&b, "event: delta\ndata: {\"delta\":\"");
  sg_buf_json_escape(&b, text, len);
  sg_buf_puts(&b, "\"}\n\n");
  return send_event(s->req, &b) != 0;
}

static void stream_done(void *ud, const sg_llm_result *r) {
  stream_ctx *s = ud;
  soulgw_req *req = s->req;
  if (r->served) s->served = r->served;
  meter(req, s->model, r);
  int rc = ensure_open(s);
  if (rc) {
    soulgw_reply_error(req, SOULGW_API_UNKNOWN_INTERNAL, "cannot open the stream: %s",
                       soulgw_strerror(rc));
    return;
  }
  sg_buf b;
  sg_buf_init(&b, 0);
  if (r->failed) {
    const char *code = soulgw_api_error_code(r->error);
    sg_buf_printf(&b, "event: error\ndata: {\"code\":\"%s\",", code ? code : "UNKNOWN.INTERNAL");
    put_str(&b, "message", r->message);
    sg_buf_putc(&b, ',');
    put_str(&b, "correlation_id", req->id);
    sg_buf_puts(&b, "}\n\n");
    pthread_mutex_lock(&req->lock);
    req->err_code = code; /* for the access log */
    pthread_mutex_unlock(&req->lock);
  } else {
    sg_buf_puts(&b, "event: done\ndata: {");
    put_usage(&b, r);
    sg_buf_putc(&b, ',');
    put_str(&b, "finish", r->finish);
    sg_buf_putc(&b, ',');
    put_str(&b, "model", r->served ? r->served : s->model);
    sg_buf_puts(&b, "}\n\n");
  }
  send_event(req, &b);
  soulgw_stream_close(req);
}

static const sg_llm_ops stream_ops = {stream_done, stream_delta, stream_serving};

/* POST /api/llm/stream: the request of complete, answered as text/event-stream. */
int sg_route_llm_stream(soulgw_req *req, void *ud) {
  sg_llm_params p;
  if (read_params(req, &p) || sg_budget_refused(req, SG_USAGE_LLM)) return 0;
  p.stream = 1;
  stream_ctx *s = sg_arena_alloc(&req->arena, sizeof *s);
  if (!s) return soulgw_reply_error(req, SOULGW_API_UNKNOWN_INTERNAL, "out of memory");
  memset(s, 0, sizeof *s);
  s->req = req;
  s->model = p.model;
  /* the stream opens at its first event, once the target that serves is known */
  if (soulgw_req_defer(req)) return 0;
  sg_llm_call call = llm_call(req, ud);
  sg_llm_route_complete(&call, &p, &stream_ops, s);
  return 0;
}

/* ------------------------------------------------------------------------------------------ */
/* embed */

typedef struct embed_ctx {
  soulgw_req *req;
  const char *model;
} embed_ctx;

static void embed_done(void *ud, sg_llm_embedding *r) {
  embed_ctx *e = ud;
  const char *model = r->served ? r->served : e->model; /* an alias: the target that served */
  sg_llm_call call = llm_call(e->req, e->req->route->ud);
  sg_usage_llm(e->req, &call, e->model, r->served, r->failed, 1, r->input_tokens, 0);
  soulgw_reply_header(e->req, "X-Soulgw-Model", model);
  if (r->failed) {
    soulgw_reply_error(e->req, r->error, "%s", r->message);
    return;
  }
  soulgw_json *o = soulgw_json_object(), *usage = soulgw_json_object();
  int rc = soulgw_json_set(o, "model", soulgw_json_new_string(model));
  rc |= soulgw_json_set(o, "dim", sg_json_new_int((long long)r->dim));
  rc |= soulgw_json_set(o, "vectors", r->vectors);
  rc |= soulgw_json_set(usage, "input_tokens", sg_json_new_int(r->input_tokens));
  rc |= soulgw_json_set(o, "usage", usage);
  if (rc) {
    soulgw_json_free(o);
    soulgw_reply_error(e->req, SOULGW_API_UNKNOWN_INTERNAL, "out of memory building the answer");
    return;
  }
  soulgw_reply_json(e->req, 200, o);
}

/* POST /api/llm/embed {text, model, normalize, tenant}.  text is an array of strings; a single
 * string is taken as an array of one. */
typedef struct embed_in {
  const soulgw_json *text;
  const char *model;
  int normalize;
} embed_in;

static int embed_model(soulgw_req *req, void *out) {
  embed_in *in = out;
  return model_or_default(req, &in->model, req->snap->conf->llm.embed_model);
}

static const sg_field_spec embed_fields[] = {
    {SG_F_VALUE(embed_in, text), .required = 1},
    {SG_F_TEXT(embed_in, model), .max = 512, .check = embed_model},
    {SG_F_BOOL(embed_in, normalize)},
    {0}};

int sg_route_llm_embed(soulgw_req *req, void *ud) {
  embed_in in;
  if (sg_fields_body(req, embed_fields, &in)) return 0;
  const soulgw_json *text = in.text;
  embed_ctx e = {req, in.model};
  soulgw_json *one = NULL;
  if (soulgw_json_typeof(text) == SOULGW_JSON_STRING) {
    one = soulgw_json_array();
    if (!one || soulgw_json_push(one, soulgw_json_dup(text))) {
      soulgw_json_free(one);
      return soulgw_reply_error(req, SOULGW_API_UNKNOWN_INTERNAL, "out of memory");
    }
    text = one;
  } else if (soulgw_json_typeof(text) != SOULGW_JSON_ARRAY) {
    return sg_invalid(req, "text must be an array of strings");
  }
  size_t n = soulgw_json_size(text), i = 0;
  if (n == 0) return sg_invalid(req, "text must hold at least one string");
  if (n > TEXTS_MAX) return sg_invalid(req, "text has %zu strings; at most %d", n, TEXTS_MAX);
  for (const soulgw_json *t = soulgw_json_first(text); t; t = soulgw_json_next(t), i++)
    if (!soulgw_json_string(t)) {
      soulgw_json_free(one);
      return sg_invalid(req, "text[%zu] must be a string", i);
    }
  if (sg_budget_refused(req, SG_USAGE_LLM)) {
    soulgw_json_free(one);
    return 0;
  }
  embed_ctx *ctx = sg_arena_alloc(&req->arena, sizeof *ctx);
  if (!ctx || soulgw_req_defer(req)) {
    soulgw_json_free(one);
    return ctx ? 0 : soulgw_reply_error(req, SOULGW_API_UNKNOWN_INTERNAL, "out of memory");
  }
  *ctx = e;
  /* Providers read the texts before this returns (an upstream call copies them). */
  sg_llm_call call = llm_call(req, ud);
  sg_llm_route_embed(&call, e.model, text, in.normalize, embed_done, ctx);
  soulgw_json_free(one);
  return 0;
}
