/*
 * openai.c -- OpenAI-compatible upstreams (OpenAI, vLLM, llama.cpp, Ollama ...) for
 * [llm.providers.NAME] kind = "openai" (see openai.h), a backend of the provider table.
 *
 * A call renders the upstream body once, then runs one or more attempts through
 * clients/upstream.c.
 * Everything an attempt needs is copied into the call, since the completion runs later (on the
 * upstream thread, or on the server thread's lane for a provider at a plain http:// address)
 * and the caller's request may be gone by the time a retry starts.  Retries go through the
 * upstream module's timers, so backoff never holds a thread either.
 *
 * Streams ("stream": true) are relayed piece by piece: the upstream's server-sent events are
 * split into lines, each "data:" line is parsed, and choices[0].delta.content goes out as a
 * delta at once; "stream_options": {"include_usage": true} asks for the usage in the last event.
 * An upstream that ignores "stream" and answers one JSON object is relayed too, word by word.
 *
 * An upstream's own error text (the message of a 4xx answer or of an error event) is never
 * relayed: it may quote the key ("Incorrect API key provided: sk-..."), or say what the
 * operator would not tell a client.  The client gets the status and a fixed phrase for its
 * class; the log gets the text, cut short and with the key taken out (redact.h).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/crypto.h"
#include "base/json.h"
#include "base/json_scan.h"
#include "base/recycle.h"
#include "base/redact.h"
#include "llm/openai.h"

#define LINE_MAX_BYTES (4u << 20)   /* one SSE line */
#define TEXT_MAX_BYTES (16u << 20)  /* a streamed answer kept for word counts */
#define FIRST_BACKOFF_MS 100L

enum { MODE_UNKNOWN, MODE_SSE, MODE_JSON };

typedef struct oa_call {
  const sg_llm_env *env;
  sg_llm_fclass fclass; /* why the call failed, set where it fails */
  char rid[72];
  char rid_header[96];   /* "X-Request-Id: ..." */
  char trace_header[80]; /* "traceparent: ..." when the client sent a well-formed one */
  char provider[72];
  char label[96];  /* "provider NAME" for upstream.c's log lines */
  char model[330]; /* "provider:model", the metrics label */
  char *url, *auth, *body;
  size_t body_len;
  long timeout_ms;
  int retries, attempt;
  int stream, embed, normalize;
  size_t ntexts;
  sg_llm_ops ops;
  sg_llm_embed_fn edone;
  void *ud;
  long long approx_in;
  /* one streamed attempt */
  int mode, sent, got_done, client_gone;
  sg_buf line, text, raw;
  long long in_tok, out_tok;
  char finish[32];
  char fail[400];
  char said[256]; /* the upstream's own error text, redacted, for the log */
  /* the OpenAI relay (sg_llm_relay) */
  int relay, want_usage;
  sg_llm_relay_ops rops;
  char *model_json; /* the client's "provider:model" as a JSON string, spliced into answers */
  size_t model_json_len;
  sg_buf out;       /* one relayed event, "model" set back */
} oa_call;

static int relay_data(oa_call *c, const char *d, size_t n);
static void relay_fail(oa_call *c, soulgw_api_error code, const char *msg);
static void relay_end(oa_call *c, const sg_up_result *res);
static int relay_refused(oa_call *c, const sg_up_result *res);

static void call_free(oa_call *c) {
  if (!c) return;
  if (c->auth) {
    sg_wipe(c->auth, strlen(c->auth));
    free(c->auth);
  }
  free(c->url);
  free(c->body);
  free(c->model_json);
  sg_buf_free(&c->out);
  sg_buf_free(&c->line);
  sg_buf_free(&c->text);
  sg_buf_free(&c->raw);
  sg_recycle_free(c);
}

static void reset_attempt(oa_call *c) {
  c->mode = MODE_UNKNOWN;
  c->sent = c->got_done = c->client_gone = 0;
  sg_buf_reset(&c->line);
  sg_buf_reset(&c->text);
  sg_buf_reset(&c->raw);
  c->in_tok = c->out_tok = -1;
  c->finish[0] = c->fail[0] = c->said[0] = '\0';
}

/* Keeps the upstream's own words (len bytes) for the log, cut short and without the key. */
static void keep_said(oa_call *c, const char *text, size_t len) {
  static const char pre[] = "Authorization: Bearer ";
  const char *key = c->auth ? c->auth + sizeof pre - 1 : NULL;
  sg_redact(text, len, key, key ? strlen(key) : 0, c->said, sizeof c->said);
}

/* Shortest text that reads back as the same double. */
static void put_number(sg_buf *b, double v) {
  char tmp[40];
  snprintf(tmp, sizeof tmp, "%.15g", v);
  if (strtod(tmp, NULL) != v) snprintf(tmp, sizeof tmp, "%.17g", v);
  sg_buf_puts(b, tmp);
}

static void put_string(sg_buf *b, const char *s) {
  sg_buf_putc(b, '"');
  sg_buf_json_escape(b, s ? s : "", (size_t)-1);
  sg_buf_putc(b, '"');
}

static void render_message(sg_buf *b, const char *role, const char *content) {
  sg_buf_puts(b, "{\"role\":");
  put_string(b, role);
  sg_buf_puts(b, ",\"content\":");
  put_string(b, content);
  sg_buf_putc(b, '}');
}

/* The body of POST /chat/completions. */
static void render_complete(sg_buf *b, const char *model, const sg_llm_params *p) {
  sg_buf_puts(b, "{\"model\":");
  put_string(b, model);
  sg_buf_puts(b, ",\"messages\":[");
  for (const soulgw_json *m = soulgw_json_first(p->messages); m; m = soulgw_json_next(m)) {
    render_message(b, soulgw_json_string(soulgw_json_get(m, "role")),
                   soulgw_json_string(soulgw_json_get(m, "content")));
    sg_buf_putc(b, ',');
  }
  render_message(b, "user", p->prompt);
  sg_buf_putc(b, ']');
  if (p->max_tokens) sg_buf_printf(b, ",\"max_tokens\":%lld", p->max_tokens);
  if (p->has_temperature) {
    sg_buf_puts(b, ",\"temperature\":");
    put_number(b, p->temperature);
  }
  if (p->has_top_p) {
    sg_buf_puts(b, ",\"top_p\":");
    put_number(b, p->top_p);
  }
  if (p->stop && soulgw_json_string(p->stop)) {
    sg_buf_puts(b, ",\"stop\":");
    put_string(b, soulgw_json_string(p->stop));
  } else if (p->stop) {
    sg_buf_puts(b, ",\"stop\":[");
    for (const soulgw_json *s = soulgw_json_first(p->stop); s; s = soulgw_json_next(s)) {
      put_string(b, soulgw_json_string(s));
      if (soulgw_json_next(s)) sg_buf_putc(b, ',');
    }
    sg_buf_putc(b, ']');
  }
  if (p->has_seed) sg_buf_printf(b, ",\"seed\":%lld", p->seed);
  if (p->stream) sg_buf_puts(b, ",\"stream\":true,\"stream_options\":{\"include_usage\":true}");
  sg_buf_putc(b, '}');
}

/* A call with everything copied from the request and its provider configuration; NULL when
 * out of memory. */
/* dst = prefix followed by s, cut to fit (as snprintf would, without its cost on every call). */
static void join(char *dst, size_t size, const char *prefix, const char *s) {
  size_t a = strlen(prefix), b = strlen(s);
  if (a >= size) a = size - 1;
  if (b >= size - a) b = size - a - 1;
  memcpy(dst, prefix, a);
  memcpy(dst + a, s, b);
  dst[a + b] = '\0';
}

static oa_call *call_new(const sg_llm_call *call, const sg_provider_conf *pc, const char *full,
                         const char *path) {
  oa_call *c = sg_recycle_alloc(sizeof *c); /* over malloc's thread cache (recycle.h) */
  if (!c) return NULL;
  memset(c, 0, sizeof *c);
  c->env = call->env;
  sg_strlcpy(c->rid, call->request_id, sizeof c->rid);
  join(c->rid_header, sizeof c->rid_header, "X-Request-Id: ", call->request_id);
  const char *tp = call->traceparent;
  if (tp && strlen(tp) == 55 && strspn(tp, "0123456789abcdef-") == 55)
    join(c->trace_header, sizeof c->trace_header, "traceparent: ", tp);
  sg_strlcpy(c->provider, pc->name, sizeof c->provider);
  join(c->label, sizeof c->label, "provider ", pc->name);
  sg_strlcpy(c->model, full, sizeof c->model);
  c->timeout_ms = (long)pc->timeout_ms;
  c->retries = (int)pc->retries;
  sg_buf_init(&c->line, LINE_MAX_BYTES);
  sg_buf_init(&c->text, TEXT_MAX_BYTES);
  sg_buf_init(&c->raw, 0);
  reset_attempt(c);
  size_t bl = strlen(pc->base_url);
  while (bl && pc->base_url[bl - 1] == '/') bl--;
  size_t pl = strlen(path);
  if (!(c->url = malloc(bl + pl + 1))) goto fail;
  memcpy(c->url, pc->base_url, bl);
  memcpy(c->url + bl, path, pl + 1);
  if (pc->api_key.value && pc->api_key.len) {
    static const char pre[] = "Authorization: Bearer ";
    if (!(c->auth = malloc(sizeof pre + pc->api_key.len))) goto fail;
    memcpy(c->auth, pre, sizeof pre - 1);
    memcpy(c->auth + sizeof pre - 1, pc->api_key.value, pc->api_key.len);
    c->auth[sizeof pre - 1 + pc->api_key.len] = '\0';
  }
  return c;
fail:
  call_free(c);
  return NULL;
}

/* 1 when the key would break the header (a newline in a key file, say). */
static int bad_key(const oa_call *c) {
  for (const char *p = c->auth ? c->auth : ""; *p; p++)
    if ((unsigned char)*p < 0x20 || *p == 0x7f) return 1;
  return 0;
}

/* ------------------------------------------------------------------------------------------ */
/* Ending a call */

static void fail(oa_call *c, soulgw_api_error code, const char *fmt, ...) SG_PRINTF(3, 4);
static void fail(oa_call *c, soulgw_api_error code, const char *fmt, ...) {
  char msg[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  if (c->embed) {
    sg_llm_embedding e = {.failed = 1, .error = code, .message = msg, .fclass = c->fclass};
    c->edone(c->ud, &e);
  }
  else if (c->relay) relay_fail(c, code, msg);
  else sg_llm_fail_as(&c->ops, c->ud, code, c->fclass, msg);
  call_free(c);
}

static long long usage_int(const soulgw_json *usage, const char *key) {
  const soulgw_json *v = soulgw_json_get(usage, key);
  double d = soulgw_json_number(v, -1);
  return sg_json_is_integer(v) && d >= 0 && d < 9e15 ? (long long)d : -1;
}

/* Ends a completion with its text; emits it word by word first when a stream asked for deltas
 * but the upstream answered in one piece. */
static void succeed(oa_call *c, const char *text, size_t len, long long in, long long out,
                    const char *finish, int streamed) {
  if (in < 0) in = c->approx_in;
  if (out < 0) out = sg_llm_count_words(text);
  if (c->stream && !streamed) {
    if (sg_llm_emit_words(&c->ops, c->ud, text, len) != 0) {
      fail(c, SOULGW_API_PROVIDER_UNAVAILABLE, "the client went away");
      return;
    }
    streamed = 1;
  }
  sg_llm_count_tokens(c->env, c->model, in, out);
  sg_llm_result r;
  memset(&r, 0, sizeof r);
  r.text = text;
  r.text_len = len;
  r.input_tokens = in;
  r.output_tokens = out;
  r.finish = finish && *finish ? finish : "stop";
  r.streamed = streamed;
  c->ops.done(c->ud, &r);
  call_free(c);
}

/* A whole number at text[span], or -1. */
static long long span_int(const char *text, const sg_json_span *s) {
  long long v = 0;
  if (!s->found || s->end == s->start || s->end - s->start > 15) return -1;
  for (size_t i = s->start; i < s->end; i++) {
    if (text[i] < '0' || text[i] > '9') return -1;
    v = v * 10 + (text[i] - '0');
  }
  return v;
}

/* The string value at text[span] (a plain scan's, so with two-byte escapes at most), decoded
 * into a new NUL-terminated string; NULL when out of memory. */
static char *plain_string(const char *text, const sg_json_span *s, size_t *len) {
  static const char from[] = "\"\\/bfnrt", to[] = "\"\\/\b\f\n\r\t";
  char *out = malloc(s->end - s->start), *o = out;
  if (!out) return NULL;
  for (size_t i = s->start + 1; i < s->end - 1; i++)
    *o++ = text[i] != '\\' ? text[i] : to[strchr(from, text[++i]) - from];
  *o = '\0';
  *len = (size_t)(o - out);
  return out;
}

/* A usage count at text[span], as usage_int() reads it from the tree: 1 when it is not a number
 * of up to 15 digits, which only the parser reads for sure. */
static int plain_count(const char *text, const sg_json_span *s, long long *v) {
  *v = -1;
  if (!s->found) return 0;
  char ch = text[s->start];
  if (ch != '-' && (ch < '0' || ch > '9')) return 0; /* not a number: not a count */
  return (*v = span_int(text, s)) < 0;
}

/* complete_from_json() without a tree, for the common answer of plain JSON (json_scan.h) whose
 * choices[0] is an object with a "message" object: 0 when it ended the call, 1 when the parser
 * must read the answer (for anything else, each of its failures included). */
static int complete_plain(oa_call *c, const char *body, size_t len) {
  static const char *const top_keys[] = {"choices", "usage"};
  static const char *const choice_keys[] = {"message", "finish_reason"};
  static const char *const msg_keys[] = {"content"};
  static const char *const usage_keys[] = {"prompt_tokens", "completion_tokens"};
  sg_json_span top[2], first, ch[2], msg, use[2];
  if (sg_json_scan_plain(body, len, top_keys, 2, top) != 0 || !top[0].found ||
      body[top[0].start] != '[')
    return 1;
  const char *cs = body + top[0].start;
  if (sg_json_scan_first(cs, top[0].end - top[0].start, &first) != 0 || !first.found ||
      cs[first.start] != '{')
    return 1;
  const char *choice = cs + first.start;
  if (sg_json_scan_members_of(choice, first.end - first.start, choice_keys, 2, ch) != 0 ||
      !ch[0].found || choice[ch[0].start] != '{')
    return 1;
  const char *m = choice + ch[0].start;
  if (sg_json_scan_members_of(m, ch[0].end - ch[0].start, msg_keys, 1, &msg) != 0) return 1;
  char cf = msg.found ? m[msg.start] : 'n';
  if (cf != '"' && cf != 'n') return 1; /* content neither a string nor null: the parser says */
  long long in = -1, out = -1;
  if (top[1].found && body[top[1].start] == '{') {
    const char *u = body + top[1].start;
    if (sg_json_scan_members_of(u, top[1].end - top[1].start, usage_keys, 2, use) != 0 ||
        plain_count(u, &use[0], &in) || plain_count(u, &use[1], &out))
      return 1;
  }
  char finish[32] = "stop";
  size_t tlen = 0, flen;
  char *text = cf == '"' ? plain_string(m, &msg, &tlen) : NULL, *f = NULL;
  if (ch[1].found && choice[ch[1].start] == '"' && !(f = plain_string(choice, &ch[1], &flen))) {
    free(text);
    return 1;
  }
  if (cf == '"' && !text) return 1;
  if (f) sg_strlcpy(finish, f, sizeof finish);
  free(f);
  succeed(c, text ? text : "", tlen, in, out, finish, 0);
  free(text);
  return 0;
}

/* A whole chat completion object. */
static void complete_from_json(oa_call *c, const char *body, size_t len) {
  if (complete_plain(c, body, len) == 0) return;
  soulgw_json *j = NULL;
  if (soulgw_json_parse(body, len, &j, NULL, 0) != 0) {
    fail(c, SOULGW_API_PROVIDER_UNAVAILABLE, "provider %s answered with invalid JSON",
         c->provider);
    return;
  }
  const soulgw_json *choice = soulgw_json_first(soulgw_json_get(j, "choices"));
  const soulgw_json *msg = soulgw_json_get(choice, "message");
  const soulgw_json *content = soulgw_json_get(msg, "content");
  if (soulgw_json_typeof(msg) != SOULGW_JSON_OBJECT ||
      (content && soulgw_json_typeof(content) != SOULGW_JSON_STRING &&
       soulgw_json_typeof(content) != SOULGW_JSON_NULL)) {
    soulgw_json_free(j);
    fail(c, SOULGW_API_PROVIDER_UNAVAILABLE,
         "provider %s answered without choices[0].message.content", c->provider);
    return;
  }
  const char *text = soulgw_json_string(content);
  const soulgw_json *usage = soulgw_json_get(j, "usage");
  char finish[32];
  sg_strlcpy(finish, soulgw_json_string(soulgw_json_get(choice, "finish_reason"))
                         ? soulgw_json_string(soulgw_json_get(choice, "finish_reason"))
                         : "stop",
             sizeof finish);
  succeed(c, text ? text : "", text ? strlen(text) : 0, usage_int(usage, "prompt_tokens"),
          usage_int(usage, "completion_tokens"), finish, 0);
  soulgw_json_free(j);
}

/* ------------------------------------------------------------------------------------------ */
/* Streams */

/* One "data:" payload of the upstream's event stream.  Returns non-zero to stop the transfer. */
static int sse_data(oa_call *c, const char *d, size_t n) {
  if (n == 6 && memcmp(d, "[DONE]", 6) == 0) {
    c->got_done = 1;
    return 0;
  }
  soulgw_json *j = NULL;
  if (soulgw_json_parse(d, n, &j, NULL, 0) != 0) {
    snprintf(c->fail, sizeof c->fail, "provider %s sent an event that is not JSON", c->provider);
    return 1;
  }
  int rc = 0;
  const soulgw_json *err = soulgw_json_get(j, "error");
  if (err) {
    const char *m = soulgw_json_string(soulgw_json_get(err, "message"));
    keep_said(c, m ? m : d, m ? strlen(m) : n);
    snprintf(c->fail, sizeof c->fail,
             "provider %s failed mid-stream: the upstream sent an error event", c->provider);
    rc = 1;
    goto out;
  }
  const soulgw_json *choice = soulgw_json_first(soulgw_json_get(j, "choices"));
  const char *piece = soulgw_json_string(soulgw_json_get(soulgw_json_get(choice, "delta"), "content"));
  const char *finish = soulgw_json_string(soulgw_json_get(choice, "finish_reason"));
  const soulgw_json *usage = soulgw_json_get(j, "usage");
  if (finish) sg_strlcpy(c->finish, finish, sizeof c->finish);
  if (soulgw_json_typeof(usage) == SOULGW_JSON_OBJECT) {
    c->in_tok = usage_int(usage, "prompt_tokens");
    c->out_tok = usage_int(usage, "completion_tokens");
  }
  if (piece && *piece) {
    size_t len = strlen(piece);
    c->sent = 1;
    sg_buf_append(&c->text, piece, len); /* for the word count; a failed buffer only stops it */
    if (c->ops.delta(c->ud, piece, len) != 0) {
      c->client_gone = 1;
      rc = 1;
    }
  }
out:
  soulgw_json_free(j);
  return rc;
}

static int sse_line(oa_call *c, const char *l, size_t n) {
  if (n && l[n - 1] == '\r') n--;
  if (n < 5 || memcmp(l, "data:", 5) != 0) return 0; /* blank, comment, event:, id:, retry: */
  l += 5;
  n -= 5;
  if (n && *l == ' ') {
    l++;
    n--;
  }
  return c->relay ? relay_data(c, l, n) : sse_data(c, l, n);
}

static int on_chunk(void *ud, long status, const char *data, size_t len) {
  oa_call *c = ud;
  (void)status;
  if (c->mode == MODE_UNKNOWN) {
    size_t i = 0;
    while (i < len && (data[i] == ' ' || data[i] == '\n' || data[i] == '\r' || data[i] == '\t')) i++;
    if (i == len) return 0;
    c->mode = data[i] == '{' ? MODE_JSON : MODE_SSE;
  }
  if (c->mode == MODE_JSON) {
    if (len > (16u << 20) - c->raw.len) {
      snprintf(c->fail, sizeof c->fail, "provider %s answered with over 16 MB", c->provider);
      return 1;
    }
    return sg_buf_append(&c->raw, data, len) != 0;
  }
  while (len) {
    const char *nl = memchr(data, '\n', len);
    if (!nl) {
      if (sg_buf_append(&c->line, data, len) != 0) {
        snprintf(c->fail, sizeof c->fail, "provider %s sent an event line over %u bytes",
                 c->provider, LINE_MAX_BYTES);
        return 1;
      }
      return 0;
    }
    size_t n = (size_t)(nl - data);
    int rc;
    if (c->line.len) {
      if (sg_buf_append(&c->line, data, n) != 0) {
        snprintf(c->fail, sizeof c->fail, "provider %s sent an event line over %u bytes",
                 c->provider, LINE_MAX_BYTES);
        return 1;
      }
      rc = sse_line(c, c->line.ptr, c->line.len);
      sg_buf_reset(&c->line);
    } else {
      rc = sse_line(c, data, n);
    }
    if (rc) return rc;
    data += n + 1;
    len -= n + 1;
  }
  return 0;
}

/* Ends a stream the upstream left unfinished -- closed, cut off or silent before its [DONE]
 * and before a finish reason -- with an error, never a done: counted in
 * soulgw_llm_stream_truncated_total{provider} and logged with the request id.  how ends the
 * sentence "provider NAME ...". */
static void truncated(oa_call *c, soulgw_api_error code, const char *how) {
  const char *v[1] = {c->provider};
  sg_family_add(c->env->stream_truncated, v, 1);
  sg_log(c->env->log, SOULGW_LOG_WARN, "model stream truncated: the upstream did not finish it",
         SG_S("provider", c->provider), SG_S("request_id", c->rid), SG_S("how", how));
  fail(c, code, "provider %s %s", c->provider, how);
}

/* 1 when the upstream said it finished: [DONE], or a finish reason (some OpenAI-compatible
 * servers close after the finish reason without [DONE]). */
static int finished(const oa_call *c) {
  return c->got_done || c->finish[0];
}

static void stream_end(oa_call *c) {
  if (c->mode == MODE_JSON) {
    complete_from_json(c, c->raw.ptr ? c->raw.ptr : "", c->raw.len);
    return;
  }
  /* a last line the close left without its newline: whole, or cut short */
  if (c->line.len && sse_line(c, c->line.ptr, c->line.len) != 0) {
    if (c->client_gone || c->said[0]) {
      fail(c, SOULGW_API_PROVIDER_UNAVAILABLE, "%s",
           c->client_gone ? "the client went away" : c->fail);
      return;
    }
    c->fail[0] = '\0'; /* a line cut in two is not JSON: a truncation when unfinished */
  }
  if (!finished(c)) {
    truncated(c, SOULGW_API_PROVIDER_UNAVAILABLE, "closed the stream before it finished");
    return;
  }
  const char *text = c->text.ptr && !c->text.failed ? c->text.ptr : "";
  char finish[32];
  sg_strlcpy(finish, c->finish, sizeof finish);
  succeed(c, text, strlen(text), c->in_tok, c->out_tok, finish, 1);
}

/* ------------------------------------------------------------------------------------------ */
/* Embeddings */

static void embed_from_json(oa_call *c, const char *body, size_t len) {
  soulgw_json *j = NULL;
  soulgw_json **slot = NULL;
  if (soulgw_json_parse(body, len, &j, NULL, 0) != 0) {
    fail(c, SOULGW_API_PROVIDER_UNAVAILABLE, "provider %s answered with invalid JSON",
         c->provider);
    return;
  }
  const soulgw_json *data = soulgw_json_get(j, "data");
  size_t dim = 0, i = 0;
  int shape = soulgw_json_size(data) == c->ntexts && c->ntexts > 0;
  if (shape && !(slot = calloc(c->ntexts, sizeof *slot))) {
    soulgw_json_free(j);
    fail(c, SOULGW_API_UNKNOWN_INTERNAL, "out of memory");
    return;
  }
  for (const soulgw_json *d = soulgw_json_first(data); shape && d; d = soulgw_json_next(d), i++) {
    const soulgw_json *emb = soulgw_json_get(d, "embedding");
    const soulgw_json *ix = soulgw_json_get(d, "index");
    size_t at = ix && sg_json_is_integer(ix) ? (size_t)soulgw_json_number(ix, 0) : i;
    if (!dim) dim = soulgw_json_size(emb);
    shape = at < c->ntexts && !slot[at] && soulgw_json_typeof(emb) == SOULGW_JSON_ARRAY &&
            dim > 0 && soulgw_json_size(emb) == dim;
    double norm = 0;
    for (const soulgw_json *x = soulgw_json_first(emb); shape && x; x = soulgw_json_next(x)) {
      shape = soulgw_json_typeof(x) == SOULGW_JSON_NUMBER;
      norm += soulgw_json_number(x, 0) * soulgw_json_number(x, 0);
    }
    if (!shape) break;
    norm = sqrt(norm);
    soulgw_json *v = soulgw_json_array();
    for (const soulgw_json *x = soulgw_json_first(emb); v && x; x = soulgw_json_next(x)) {
      double f = soulgw_json_number(x, 0);
      if (soulgw_json_push(v, soulgw_json_new_number(c->normalize && norm > 0 ? f / norm : f)))
        v = NULL;
    }
    if (!v) {
      shape = 0;
      break;
    }
    slot[at] = v;
  }
  sg_llm_embedding r;
  memset(&r, 0, sizeof r);
  r.vectors = shape ? soulgw_json_array() : NULL;
  for (i = 0; slot && i < c->ntexts; i++) {
    if (r.vectors && soulgw_json_push(r.vectors, slot[i])) {
      soulgw_json_free(r.vectors);
      r.vectors = NULL;
    } else if (!r.vectors) {
      soulgw_json_free(slot[i]);
    }
  }
  free(slot);
  long long in = usage_int(soulgw_json_get(j, "usage"), "prompt_tokens");
  soulgw_json_free(j);
  if (!r.vectors) {
    fail(c, SOULGW_API_PROVIDER_UNAVAILABLE,
         "provider %s answered without one embedding per text", c->provider);
    return;
  }
  r.dim = dim;
  r.input_tokens = in >= 0 ? in : c->approx_in;
  sg_llm_count_tokens(c->env, c->model, r.input_tokens, 0);
  c->edone(c->ud, &r);
  call_free(c);
}

/* ------------------------------------------------------------------------------------------ */
/* Attempts */

static void attempt(oa_call *c);

/* What a client is told of an upstream's refusal: a fixed phrase for its status. */
static const char *status_phrase(long status) {
  switch (status) {
    case 400: return "bad request";
    case 401: return "authentication failed";
    case 402: return "payment required";
    case 403: return "permission denied";
    case 404: return "not found: an unknown model or path";
    case 408: return "request timeout";
    case 409: return "conflict";
    case 413: return "request too large";
    case 415: return "unsupported media type";
    case 422: return "request not processable";
    case 429: return "rate limited";
    default: break;
  }
  return status >= 500 ? "upstream error" : status >= 400 ? "request refused"
         : status >= 300 ? "a redirect, not followed" : "an unexpected status";
}

/* Keeps the upstream's error text of a failed answer for the log: error.message when the body
 * is an OpenAI error object, else the start of the body. */
static void keep_reason(oa_call *c, const sg_up_result *res) {
  soulgw_json *j = NULL;
  const char *m = NULL;
  if (res->body_len && res->body_len < 65536 &&
      soulgw_json_parse(res->body, res->body_len, &j, NULL, 0) == 0) {
    const soulgw_json *e = soulgw_json_get(j, "error");
    m = soulgw_json_string(soulgw_json_get(e, "message"));
    if (!m) m = soulgw_json_string(e);
  }
  keep_said(c, m ? m : res->body, m ? strlen(m) : res->body_len);
  soulgw_json_free(j);
}

/* Logs a call that failed: the transport's kind of failure, the status and the upstream's own
 * words (redacted), none of which the client is told. */
static void log_failure(oa_call *c, const sg_up_result *res, int tries) {
  sg_log(c->env->log, SOULGW_LOG_WARN, "provider call failed", SG_S("provider", c->provider),
         SG_S("request_id", c->rid), SG_I("status", res->status), SG_I("attempts", tries),
         SG_S("error", res->err == SG_UP_OK ? NULL : res->errmsg),
         SG_S("upstream_message", c->said[0] ? c->said : NULL));
}

/* A stream whose upstream went silent mid-way for longer than timeout_ms. */
static void stream_silent(oa_call *c) {
  char how[128];
  snprintf(how, sizeof how, "sent nothing for %ld ms before the stream finished", c->timeout_ms);
  truncated(c, SOULGW_API_LLM_TIMEOUT, how);
}

static void on_done(void *ud, const sg_up_result *res) {
  oa_call *c = ud;
  const char *v[1] = {c->provider};
  sg_family_observe(c->env->upstream_duration, v, res->duration_ns);
  int ok2xx = res->status >= 200 && res->status < 300;
  if (res->err == SG_UP_OK && ok2xx && c->relay) {
    relay_end(c, res);
    return;
  }
  if (res->err == SG_UP_OK && ok2xx) {
    if (c->embed) embed_from_json(c, res->body, res->body_len);
    else if (c->stream) stream_end(c);
    else complete_from_json(c, res->body, res->body_len);
    return;
  }
  if (c->fail[0]) {
    if (c->said[0]) log_failure(c, res, c->attempt + 1);
    fail(c, SOULGW_API_PROVIDER_UNAVAILABLE, "%s", c->fail);
    return;
  }
  if (c->stream && c->mode == MODE_SSE && (res->err == SG_UP_OTHER || res->err == SG_UP_TIMEOUT)) {
    /* the end marker came; only the close went wrong */
    if (finished(c)) c->relay ? relay_end(c, res) : stream_end(c);
    else if (res->err == SG_UP_OTHER)
      truncated(c, SOULGW_API_PROVIDER_UNAVAILABLE, "cut the stream off before it finished");
    else stream_silent(c);
    return;
  }
  int retryable = (res->err == SG_UP_CONNECT || (res->err == SG_UP_OK && res->status >= 500)) &&
                  !c->sent;
  if (retryable && c->attempt < c->retries) {
    c->attempt++;
    reset_attempt(c);
    attempt(c);
    return;
  }
  int tries = c->attempt + 1;
  const char *attempts = tries == 1 ? "attempt" : "attempts";
  if (res->err == SG_UP_CANCELLED) {
    fail(c, SOULGW_API_PROVIDER_UNAVAILABLE, "the gateway is shutting down");
    return;
  }
  if (res->err == SG_UP_ABORTED) {
    fail(c, SOULGW_API_PROVIDER_UNAVAILABLE, "the client went away");
    return;
  }
  /* upstream.c has logged the transport's own words; clients get the kind of failure only,
   * since those words name internal hosts and ports. */
  if (res->err == SG_UP_OK) keep_reason(c, res);
  c->fclass = res->err == SG_UP_TIMEOUT   ? SG_LLM_F_TIMEOUT
              : res->err == SG_UP_CONNECT ? SG_LLM_F_CONNECT
              : res->err != SG_UP_OK      ? SG_LLM_F_OTHER
              : res->status == 429        ? SG_LLM_F_429
              : res->status >= 500        ? SG_LLM_F_5XX
                                          : SG_LLM_F_OTHER;
  log_failure(c, res, tries);
  if (c->relay && relay_refused(c, res)) return;
  switch (res->err) {
    case SG_UP_OK: break;
    case SG_UP_TIMEOUT:
      fail(c, SOULGW_API_LLM_TIMEOUT, "provider %s did not answer within %ld ms", c->provider,
           c->timeout_ms);
      return;
    case SG_UP_CONNECT:
      fail(c, SOULGW_API_PROVIDER_UNAVAILABLE, "provider %s is unreachable (%d %s)",
           c->provider, tries, attempts);
      return;
    case SG_UP_TOO_LARGE:
      fail(c, SOULGW_API_PROVIDER_UNAVAILABLE, "provider %s answered with too large a body",
           c->provider);
      return;
    default:
      fail(c, SOULGW_API_PROVIDER_UNAVAILABLE, "provider %s failed before answering in full",
           c->provider);
      return;
  }
  if (res->status >= 500) {
    fail(c, SOULGW_API_PROVIDER_UNAVAILABLE, "provider %s failed: upstream status %ld (%d %s)",
         c->provider, res->status, tries, attempts);
    return;
  }
  fail(c, SOULGW_API_PROVIDER_UNAVAILABLE,
       "provider %s refused the call: upstream status %ld (%s)", c->provider, res->status,
       status_phrase(res->status));
}

static void attempt(oa_call *c) {
  /* The request id and the W3C trace context go upstream, so that its logs can be matched
   * with the gateway's. */
  const char *hdrs[6] = {"Content-Type: application/json",
                         c->stream ? "Accept: text/event-stream" : "Accept: application/json",
                         c->rid_header, NULL, NULL, NULL};
  size_t n = 3;
  if (c->trace_header[0]) hdrs[n++] = c->trace_header;
  if (c->auth) hdrs[n++] = c->auth;
  sg_up_req r;
  memset(&r, 0, sizeof r);
  r.method = "POST";
  r.url = c->url;
  r.headers = hdrs;
  r.body = c->body;
  r.body_len = c->body_len;
  /* A stream may rightly take longer than timeout_ms in all; what must not exceed it is the
   * wait for the connection and for each next piece. */
  if (c->stream) r.idle_timeout_ms = c->timeout_ms;
  else r.timeout_ms = c->timeout_ms;
  r.delay_ms = c->attempt ? FIRST_BACKOFF_MS << (c->attempt - 1) : 0;
  r.label = c->label;
  r.done = on_done;
  r.chunk = c->stream ? on_chunk : NULL;
  r.ud = c;
  int rc = c->env->upstream ? sg_upstream_call(c->env->upstream, &r) : SOULGW_ESTATE;
  if (rc == SOULGW_ESTATE)
    fail(c, SOULGW_API_PROVIDER_UNAVAILABLE, "the gateway is shutting down");
  else if (rc)
    fail(c, SOULGW_API_PROVIDER_UNAVAILABLE, "cannot call provider %s: %s", c->provider,
         soulgw_strerror(rc));
}

/* Takes the rendered body and starts the first attempt, or ends the call. */
static void launch(oa_call *c, sg_buf *b) {
  if (sg_buf_failed(b)) {
    sg_buf_free(b);
    fail(c, SOULGW_API_UNKNOWN_INTERNAL, "out of memory");
    return;
  }
  c->body = sg_buf_detach(b, &c->body_len);
  if (bad_key(c)) {
    fail(c, SOULGW_API_PROVIDER_UNAVAILABLE,
         "provider %s has an API key that is not a valid header value", c->provider);
    return;
  }
  attempt(c);
}

static void openai_complete(const sg_llm_call *call, const void *self, const char *model,
                            const sg_llm_params *p, const sg_llm_ops *ops, void *ud) {
  const sg_provider_conf *pc = self;
  oa_call *c = call_new(call, pc, p->model, "/chat/completions");
  if (!c) {
    sg_llm_fail(ops, ud, SOULGW_API_UNKNOWN_INTERNAL, "out of memory");
    return;
  }
  c->ops = *ops;
  c->ud = ud;
  c->stream = p->stream && ops->delta;
  c->approx_in = sg_llm_count_words(p->prompt);
  for (const soulgw_json *m = soulgw_json_first(p->messages); m; m = soulgw_json_next(m))
    c->approx_in += sg_llm_count_words(soulgw_json_string(soulgw_json_get(m, "content")));
  sg_buf b;
  sg_buf_init(&b, 0);
  sg_buf_reserve(&b, 256 + strlen(model) + strlen(p->prompt)); /* most bodies at once */
  render_complete(&b, model, p);
  launch(c, &b);
}

static void openai_embed(const sg_llm_call *call, const void *self, const char *full,
                         const char *model, const soulgw_json *texts, int normalize,
                         sg_llm_embed_fn done, void *ud) {
  const sg_provider_conf *pc = self;
  oa_call *c = call_new(call, pc, full, "/embeddings");
  if (!c) {
    sg_llm_embed_fail(done, ud, SOULGW_API_UNKNOWN_INTERNAL, "out of memory");
    return;
  }
  c->embed = 1;
  c->edone = done;
  c->ud = ud;
  c->normalize = normalize;
  c->ntexts = soulgw_json_size(texts);
  sg_buf b;
  sg_buf_init(&b, 0);
  sg_buf_puts(&b, "{\"model\":");
  put_string(&b, model);
  sg_buf_puts(&b, ",\"input\":[");
  for (const soulgw_json *t = soulgw_json_first(texts); t; t = soulgw_json_next(t)) {
    c->approx_in += sg_llm_count_words(soulgw_json_string(t));
    put_string(&b, soulgw_json_string(t));
    if (soulgw_json_next(t)) sg_buf_putc(&b, ',');
  }
  sg_buf_putc(&b, ']');
  if (call->dimensions > 0) sg_buf_printf(&b, ",\"dimensions\":%lld", call->dimensions);
  sg_buf_putc(&b, '}');
  launch(c, &b);
}

/* ------------------------------------------------------------------------------------------ */
/* The OpenAI relay (/v1/chat/completions): the client's body with "model" rewritten, the
 * answer with "model" set back, both spliced in place (base/json_scan.h) */

static const char *const MODEL_KEY[] = {"model"};

/* Appends text[0..len) to b with the value at span replaced by the client's model. */
static void splice_model(const oa_call *c, sg_buf *b, const char *text, size_t len,
                         const sg_json_span *m) {
  if (!m->found) {
    sg_buf_append(b, text, len);
    return;
  }
  sg_buf_append(b, text, m->start);
  sg_buf_append(b, c->model_json, c->model_json_len);
  sg_buf_append(b, text + m->end, len - m->end);
}

static void relay_fail_as(oa_call *c, soulgw_api_error code, const char *oa_code, long retry,
                          const char *msg) {
  sg_llm_relay_result r;
  memset(&r, 0, sizeof r);
  r.failed = 1;
  r.error = code;
  r.code = oa_code;
  r.retry_after = retry;
  r.message = msg;
  r.fclass = c->fclass;
  c->rops.done(c->ud, &r);
}

static void relay_fail(oa_call *c, soulgw_api_error code, const char *msg) {
  relay_fail_as(c, code, NULL, 0, msg);
}

static void relay_succeed(oa_call *c, char *body, size_t len, long long in, long long out) {
  if (in < 0) in = 0;
  if (out < 0) out = sg_llm_count_words(c->text.ptr && !c->text.failed ? c->text.ptr : "");
  sg_llm_count_tokens(c->env, c->model, in, out);
  sg_llm_relay_result r;
  memset(&r, 0, sizeof r);
  r.body = body;
  r.len = len;
  r.input_tokens = in;
  r.output_tokens = out;
  c->rops.done(c->ud, &r);
  call_free(c);
}

/* The usage counts of an answer's top-level "usage" object, -1 each when absent. */
static void usage_of_span(const char *text, const sg_json_span *u, long long *in,
                          long long *out) {
  static const char *const keys[] = {"prompt_tokens", "completion_tokens"};
  sg_json_span t[2];
  *in = *out = -1;
  if (!u->found || text[u->start] != '{' ||
      sg_json_scan_members_of(text + u->start, u->end - u->start, keys, 2, t) != 0)
    return;
  *in = span_int(text + u->start, &t[0]);
  *out = span_int(text + u->start, &t[1]);
}

/* Words of choices[0].message.content, for an answer without usage. */
static long long content_words(const char *body, size_t len) {
  soulgw_json *j = NULL;
  if (soulgw_json_parse(body, len, &j, NULL, 0) != 0) return 0;
  const soulgw_json *msg = soulgw_json_get(soulgw_json_first(soulgw_json_get(j, "choices")),
                                           "message");
  long long n = sg_llm_count_words(soulgw_json_string(soulgw_json_get(msg, "content")));
  soulgw_json_free(j);
  return n;
}

/* A whole answer: checked to be a JSON object with "choices", relayed with "model" set back. */
static void relay_answer(oa_call *c, const sg_up_result *res) {
  static const char *const keys[] = {"model", "usage", "choices"};
  sg_json_span sp[3];
  if (sg_json_scan_members(res->body, res->body_len, keys, 3, sp) != 0 || !sp[2].found ||
      res->body[sp[2].start] != '[') {
    fail(c, SOULGW_API_PROVIDER_UNAVAILABLE,
         "provider %s answered with something other than a chat completion", c->provider);
    return;
  }
  long long in, out;
  usage_of_span(res->body, &sp[1], &in, &out);
  if (out < 0) out = content_words(res->body, res->body_len);
  size_t len = 0;
  char *body;
  if (!sp[0].found) {
    body = sg_buf_detach(res->buf, &len); /* nothing to set back: the buffer as it is */
  } else {
    sg_buf b;
    sg_buf_init(&b, 0);
    sg_buf_reserve(&b, res->body_len + c->model_json_len);
    splice_model(c, &b, res->body, res->body_len, &sp[0]);
    body = sg_buf_failed(&b) ? (sg_buf_free(&b), NULL) : sg_buf_detach(&b, &len);
  }
  if (!body) {
    fail(c, SOULGW_API_UNKNOWN_INTERNAL, "out of memory");
    return;
  }
  relay_succeed(c, body, len, in, out);
}

/* What an event says about the end of the stream and the usage; 1 when it is a usage-only
 * chunk (no choices). */
static int note_event(oa_call *c, const soulgw_json *j) {
  const soulgw_json *choices = soulgw_json_get(j, "choices");
  for (const soulgw_json *ch = soulgw_json_first(choices); ch; ch = soulgw_json_next(ch)) {
    const char *finish = soulgw_json_string(soulgw_json_get(ch, "finish_reason"));
    const char *piece =
        soulgw_json_string(soulgw_json_get(soulgw_json_get(ch, "delta"), "content"));
    if (finish && *finish) sg_strlcpy(c->finish, finish, sizeof c->finish);
    if (piece && *piece) {
      sg_buf_append(&c->text, piece, strlen(piece)); /* for the word count */
      sg_buf_putc(&c->text, ' ');
    }
  }
  const soulgw_json *usage = soulgw_json_get(j, "usage");
  if (soulgw_json_typeof(usage) == SOULGW_JSON_OBJECT) {
    c->in_tok = usage_int(usage, "prompt_tokens");
    c->out_tok = usage_int(usage, "completion_tokens");
  }
  return soulgw_json_size(choices) == 0 && soulgw_json_typeof(usage) == SOULGW_JSON_OBJECT;
}

/* One "data:" payload of a relayed stream: relayed with "model" set back.  [DONE] is noted,
 * not relayed (the route ends the stream with its own); a usage-only chunk the client did not
 * ask for (the relay asked for it, to count tokens) is dropped.  Non-zero stops the transfer. */
static int relay_data(oa_call *c, const char *d, size_t n) {
  if (n == 6 && memcmp(d, "[DONE]", 6) == 0) {
    c->got_done = 1;
    return 0;
  }
  soulgw_json *j = NULL;
  sg_json_span m;
  if (c->got_done || soulgw_json_parse(d, n, &j, NULL, 0) != 0 ||
      soulgw_json_typeof(j) != SOULGW_JSON_OBJECT ||
      sg_json_scan_members(d, n, MODEL_KEY, 1, &m) != 0) {
    soulgw_json_free(j);
    snprintf(c->fail, sizeof c->fail, "provider %s sent an event that is not a JSON object",
             c->provider);
    return 1;
  }
  const soulgw_json *err = soulgw_json_get(j, "error");
  if (err) {
    const char *msg = soulgw_json_string(soulgw_json_get(err, "message"));
    keep_said(c, msg ? msg : d, msg ? strlen(msg) : n);
    soulgw_json_free(j);
    snprintf(c->fail, sizeof c->fail,
             "provider %s failed mid-stream: the upstream sent an error event", c->provider);
    return 1;
  }
  int usage_only = note_event(c, j);
  soulgw_json_free(j);
  if (usage_only && !c->want_usage) return 0;
  sg_buf_reset(&c->out);
  splice_model(c, &c->out, d, n, &m);
  if (sg_buf_failed(&c->out)) {
    snprintf(c->fail, sizeof c->fail, "out of memory relaying an event");
    return 1;
  }
  c->sent = 1;
  if (c->rops.event(c->ud, c->out.ptr, c->out.len) != 0) {
    c->client_gone = 1;
    return 1;
  }
  return 0;
}

/* A 2xx answer has ended: the whole answer, or the end of a stream. */
static void relay_end(oa_call *c, const sg_up_result *res) {
  if (!c->stream) {
    relay_answer(c, res);
    return;
  }
  if (c->mode == MODE_JSON) {
    fail(c, SOULGW_API_PROVIDER_UNAVAILABLE,
         "provider %s answered a streaming request with one JSON object, not an event stream",
         c->provider);
    return;
  }
  if (c->line.len && sse_line(c, c->line.ptr, c->line.len) != 0) {
    if (c->client_gone) fail(c, SOULGW_API_PROVIDER_UNAVAILABLE, "the client went away");
    else fail(c, SOULGW_API_PROVIDER_UNAVAILABLE, "%s", c->fail);
    return;
  }
  if (!finished(c)) {
    truncated(c, SOULGW_API_PROVIDER_UNAVAILABLE, "closed the stream before it finished");
    return;
  }
  relay_succeed(c, NULL, 0, c->in_tok, c->out_tok);
}

/* Ends a relayed call the upstream refused, or whose stream broke after its first event, in
 * the error an OpenAI client expects (see soulgw(1)); 0 when the generic handling applies. */
static int relay_refused(oa_call *c, const sg_up_result *res) {
  char msg[400];
  if (c->sent && (res->err == SG_UP_CONNECT || res->err == SG_UP_OTHER)) {
    truncated(c, SOULGW_API_PROVIDER_UNAVAILABLE, "cut the stream off before it finished");
    return 1;
  }
  if (res->err != SG_UP_OK || res->status < 400 || res->status >= 500) return 0;
  long st = res->status;
  const char *model = strchr(c->model, ':') + 1;
  if (st == 429) {
    snprintf(msg, sizeof msg, "provider %s is rate limiting the gateway (upstream status 429)",
             c->provider);
    relay_fail_as(c, SOULGW_API_QUOTA_RATE_LIMITED, NULL,
                  res->retry_after > 0 ? res->retry_after : 1, msg);
  } else if (st == 404) {
    snprintf(msg, sizeof msg, "provider %s has no model %.256s (upstream status 404)",
             c->provider, model);
    relay_fail_as(c, SOULGW_API_STORAGE_NOT_FOUND, "model_not_found", 0, msg);
  } else if (st == 400 || st == 413 || st == 422) {
    snprintf(msg, sizeof msg, "provider %s refused the request as invalid (upstream status %ld)",
             c->provider, st);
    relay_fail_as(c, st == 413 ? SOULGW_API_REQUEST_TOO_LARGE : SOULGW_API_REQUEST_BAD, NULL, 0,
                  msg);
  } else {
    return 0; /* 401, 403 and the rest: the gateway's own standing with the provider, 503 */
  }
  call_free(c);
  return 1;
}

/* The upstream body: the client's with "model" rewritten to model (and, for a stream whose
 * client did not set stream_options, usage asked for, to count tokens). */
static void render_relay(sg_buf *b, const char *model, const sg_llm_relay_req *r) {
  static const char usage[] = "\"stream_options\":{\"include_usage\":true},";
  sg_buf_reserve(b, r->len + strlen(model) + sizeof usage + 8);
  size_t brace = 0;
  while (brace < r->model_start && r->body[brace] != '{') brace++;
  int add_usage = r->stream && !r->has_stream_options;
  if (add_usage) {
    sg_buf_append(b, r->body, brace + 1);
    sg_buf_append(b, usage, sizeof usage - 1);
    sg_buf_append(b, r->body + brace + 1, r->model_start - brace - 1);
  } else {
    sg_buf_append(b, r->body, r->model_start);
  }
  put_string(b, model);
  sg_buf_append(b, r->body + r->model_end, r->len - r->model_end);
}

static void openai_relay(const sg_llm_call *call, const void *self, const char *model,
                         const sg_llm_relay_req *r, const sg_llm_relay_ops *ops, void *ud) {
  oa_call *c = call_new(call, self, r->model, "/chat/completions");
  sg_buf mj;
  sg_buf_init(&mj, 0);
  put_string(&mj, r->answer_model ? r->answer_model : r->model);
  if (!c || sg_buf_failed(&mj)) {
    sg_buf_free(&mj);
    call_free(c);
    sg_llm_relay_result res = {.failed = 1, .error = SOULGW_API_UNKNOWN_INTERNAL,
                               .message = "out of memory"};
    ops->done(ud, &res);
    return;
  }
  c->relay = 1;
  c->rops = *ops;
  c->ud = ud;
  c->stream = r->stream;
  c->want_usage = r->include_usage;
  c->model_json = sg_buf_detach(&mj, &c->model_json_len);
  sg_buf_init(&c->out, LINE_MAX_BYTES + 1024);
  sg_buf b;
  sg_buf_init(&b, 0);
  render_relay(&b, model, r);
  launch(c, &b);
}

const sg_llm_backend sg_llm_openai = {"openai", openai_complete, openai_embed, openai_relay};
