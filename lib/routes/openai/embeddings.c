/*
 * embeddings.c -- POST /v1/embeddings (SPEC-protocols 1): OpenAI's embeddings over soulgw's
 * providers.  input is a string or an array of strings (token ids are refused: the gateway's
 * providers take text); encoding_format "float" gives each vector as numbers, "base64" (what
 * the official SDKs ask for by default) as its little-endian float32 values, base64 encoded;
 * dimensions goes to an openai provider, and local:emb has 8.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/crypto.h"
#include "base/json.h"
#include "base/json_write.h"
#include "routes/fields.h"
#include "routes/api/usage.h"
#include "routes/ctx.h"
#include "routes/openai/v1.h"
#include "routes/routes.h"

#define INPUTS_MAX 2048
#define LOCAL_DIM 8

typedef struct embed_in {
  const char *model;
  const soulgw_json *input;
  int encoding_format;
  long long dimensions;
  const char *user;
} embed_in;

static const char *const FORMATS[] = {"float", "base64", NULL};
enum { FORMAT_FLOAT, FORMAT_BASE64 };

static const sg_field_spec embed_fields[] = {
    {SG_F_TEXT(embed_in, model), .required = 1, .max = 512},
    {SG_F_VALUE(embed_in, input), .required = 1},
    {SG_F_ENUM(embed_in, encoding_format), .names = FORMATS},
    {SG_F_INT(embed_in, dimensions), .min = 1, .max = 65536},
    {SG_F_TEXT(embed_in, user), .max = 256},
    {0}};

typedef struct embed_ctx {
  soulgw_req *req;
  const char *model;
  int base64;
} embed_ctx;

/* One vector as base64 of its little-endian float32 values. */
static void put_base64(sg_buf *b, const soulgw_json *v) {
  size_t n = soulgw_json_size(v), i = 0;
  unsigned char *bin = malloc(n * 4 + 1);
  char *text = malloc(sg_base64_len(n * 4));
  if (!bin || !text) {
    b->failed = 1;
    free(bin);
    free(text);
    return;
  }
  for (const soulgw_json *x = soulgw_json_first(v); x; x = soulgw_json_next(x), i++) {
    float f = (float)soulgw_json_number(x, 0);
    uint32_t u;
    memcpy(&u, &f, 4);
    for (int k = 0; k < 4; k++) bin[i * 4 + (size_t)k] = (unsigned char)(u >> (8 * k));
  }
  sg_base64_encode(text, bin, n * 4);
  sg_buf_putc(b, '"');
  sg_buf_puts(b, text);
  sg_buf_putc(b, '"');
  free(bin);
  free(text);
}

static void put_floats(sg_buf *b, const soulgw_json *v) {
  char num[SG_JSON_NUMBER_MAX];
  sg_buf_putc(b, '[');
  for (const soulgw_json *x = soulgw_json_first(v); x; x = soulgw_json_next(x)) {
    sg_buf_append(b, num, sg_json_number_text(soulgw_json_number(x, 0), num));
    if (soulgw_json_next(x)) sg_buf_putc(b, ',');
  }
  sg_buf_putc(b, ']');
}

static void embed_done(void *ud, sg_llm_embedding *r) {
  embed_ctx *e = ud;
  sg_llm_call call = sg_v1_call(e->req, e->req->route->ud);
  sg_usage_llm(e->req, &call, e->model, r->served, r->failed, 1, r->input_tokens, 0);
  soulgw_reply_header(e->req, "X-Soulgw-Model", r->served ? r->served : e->model);
  if (r->failed) {
    sg_v1_error(e->req, r->error, NULL, 0, "%s", r->message);
    return;
  }
  sg_buf b;
  sg_buf_init(&b, 0);
  sg_buf_puts(&b, "{\"object\":\"list\",\"data\":[");
  size_t i = 0;
  for (const soulgw_json *v = soulgw_json_first(r->vectors); v; v = soulgw_json_next(v), i++) {
    sg_buf_printf(&b, "%s{\"object\":\"embedding\",\"index\":%zu,\"embedding\":", i ? "," : "",
                  i);
    if (e->base64) put_base64(&b, v);
    else put_floats(&b, v);
    sg_buf_putc(&b, '}');
  }
  sg_buf_puts(&b, "],\"model\":");
  sg_json_write_string(&b, e->model);
  sg_buf_printf(&b, ",\"usage\":{\"prompt_tokens\":%lld,\"total_tokens\":%lld}}",
                r->input_tokens, r->input_tokens);
  soulgw_json_free(r->vectors);
  size_t len;
  char *body = sg_buf_failed(&b) ? (sg_buf_free(&b), NULL) : sg_buf_detach(&b, &len);
  if (!body) sg_v1_error(e->req, SOULGW_API_UNKNOWN_INTERNAL, NULL, 0, "out of memory");
  else sg_req_answer_typed(e->req, 200, body, len, "application/json");
}

/* input as an array of strings: itself, or in *one (to free) when it is a single string.
 * NULL after answering 400. */
static const soulgw_json *texts_of(soulgw_req *req, const soulgw_json *input, soulgw_json **one) {
  *one = NULL;
  if (soulgw_json_typeof(input) == SOULGW_JSON_STRING) {
    *one = soulgw_json_array();
    if (!*one || soulgw_json_push(*one, soulgw_json_dup(input))) {
      soulgw_reply_error(req, SOULGW_API_UNKNOWN_INTERNAL, "out of memory");
      return NULL;
    }
    return *one;
  }
  if (soulgw_json_typeof(input) != SOULGW_JSON_ARRAY) {
    sg_invalid(req, "input must be a string or an array of strings, not %s",
               sg_json_type_phrase(input));
    return NULL;
  }
  size_t n = soulgw_json_size(input), i = 0;
  if (n == 0) return sg_invalid(req, "input must hold at least one string"), NULL;
  if (n > INPUTS_MAX) return sg_invalid(req, "input has %zu strings; at most %d", n, INPUTS_MAX), NULL;
  for (const soulgw_json *t = soulgw_json_first(input); t; t = soulgw_json_next(t), i++) {
    int ty = soulgw_json_typeof(t);
    if (ty == SOULGW_JSON_NUMBER || ty == SOULGW_JSON_ARRAY)
      return sg_invalid(req, "input as token ids is not supported: send the text as strings"),
             NULL;
    if (ty != SOULGW_JSON_STRING)
      return sg_invalid(req, "input[%zu] must be a string, not %s", i, sg_json_type_phrase(t)),
             NULL;
  }
  return input;
}

int sg_route_openai_embeddings(soulgw_req *req, void *ud) {
  embed_in in;
  if (sg_fields_body(req, embed_fields, &in)) return 0;
  sg_llm_call call = sg_v1_call(req, ud);
  if (sg_v1_model(req, &call, in.model, 1)) return 0;
  if (in.dimensions && strncmp(in.model, "local:", 6) == 0 && in.dimensions != LOCAL_DIM)
    return sg_invalid(req, "dimensions: model %s has %d dimensions; ask for %d or leave it out",
                      in.model, LOCAL_DIM, LOCAL_DIM);
  soulgw_json *one;
  if (sg_budget_refused(req, SG_USAGE_LLM)) return 0;
  const soulgw_json *texts = texts_of(req, in.input, &one);
  if (!texts) return 0;
  embed_ctx *e = sg_arena_alloc(&req->arena, sizeof *e);
  if (!e || soulgw_req_defer(req)) {
    soulgw_json_free(one);
    return e ? 0 : soulgw_reply_error(req, SOULGW_API_UNKNOWN_INTERNAL, "out of memory");
  }
  e->req = req;
  e->model = in.model;
  e->base64 = in.encoding_format == FORMAT_BASE64;
  call.dimensions = in.dimensions;
  /* providers read the texts before this returns (an upstream call copies them) */
  sg_llm_route_embed(&call, in.model, texts, 0, embed_done, e);
  soulgw_json_free(one);
  return 0;
}
