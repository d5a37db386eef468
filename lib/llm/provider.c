/*
 * provider.c -- model providers (see provider.h): the provider table, "provider:model"
 * resolution, the built-in local provider, providers registered by the host, and the kit every
 * provider shares.  Configured OpenAI-compatible upstreams live in openai.c, whose backend the
 * gateway registers in the table.
 *
 * Resolution, per call, in this order: "local" (built in, reserved); a provider the host
 * registered; an [llm.providers.NAME] of the request's configuration snapshot, through the
 * backend of its kind; else 503 PROVIDER.UNAVAILABLE "unknown provider NAME".
 *
 * Token counts.  The local models, and any provider that reports no usage, are counted as
 * whitespace-separated words: the prompt and every message of the history as input, the answer
 * as output.  Every successful call adds its counts to soulgw_llm_tokens_total{model,direction};
 * host provider calls are timed into soulgw_upstream_duration_seconds{provider} like upstream
 * calls (the local models are not).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/json.h"
#include "llm/provider.h"

#define PROVIDER_MAX 64
#define MODEL_MAX 256
#define LOCAL_DIM 8
#define BACKENDS_MAX 8

typedef struct host_provider {
  char name[PROVIDER_MAX + 1];
  soulgw_provider p;
  void *ud;
  struct host_provider *next;
} host_provider;

/* Host providers and backends are registered before start and only read afterwards: no
 * lock. */
struct sg_llm {
  host_provider *head;
  const sg_llm_backend *backends[BACKENDS_MAX];
  size_t nbackends;
};

sg_llm *sg_llm_new(void) { return calloc(1, sizeof(sg_llm)); }

void sg_llm_free(sg_llm *l) {
  if (!l) return;
  for (host_provider *h = l->head, *n; h; h = n) {
    n = h->next;
    free(h);
  }
  free(l);
}

static int provider_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
         c == '_' || c == '.' || c == '-';
}

static host_provider *host_find(const sg_llm *l, const char *name, size_t len) {
  for (host_provider *h = l->head; h; h = h->next)
    if (strlen(h->name) == len && memcmp(h->name, name, len) == 0) return h;
  return NULL;
}

int sg_llm_register(sg_llm *l, const char *name, const soulgw_provider *p, void *ud) {
  if (!l || !name || !p || !p->complete) return SOULGW_EINVAL;
  size_t n = strlen(name);
  if (n == 0 || n > PROVIDER_MAX || strcmp(name, "local") == 0) return SOULGW_EINVAL;
  for (size_t i = 0; i < n; i++)
    if (!provider_char(name[i])) return SOULGW_EINVAL;
  if (host_find(l, name, n)) return SOULGW_EEXIST;
  host_provider *h = calloc(1, sizeof *h);
  if (!h) return SOULGW_ENOMEM;
  memcpy(h->name, name, n + 1);
  h->p = *p;
  h->ud = ud;
  h->next = l->head;
  l->head = h;
  return 0;
}

int sg_llm_add_backend(sg_llm *l, const sg_llm_backend *b) {
  for (size_t i = 0; i < l->nbackends; i++)
    if (strcmp(l->backends[i]->kind, b->kind) == 0) return SOULGW_EEXIST;
  if (l->nbackends == BACKENDS_MAX) return SOULGW_ENOMEM;
  l->backends[l->nbackends++] = b;
  return 0;
}

static const sg_llm_backend *backend_find(const sg_llm *l, const char *kind) {
  for (size_t i = 0; i < l->nbackends; i++)
    if (strcmp(l->backends[i]->kind, kind) == 0) return l->backends[i];
  return NULL;
}

int sg_llm_model_check(const char *model, char *err, size_t errlen) {
  const char *colon = strchr(model, ':');
  if (!colon) {
    snprintf(err, errlen, "model must be provider:model, got \"%.100s\"", model);
    return -1;
  }
  size_t pl = (size_t)(colon - model), ml = strlen(colon + 1);
  if (pl == 0 || pl > PROVIDER_MAX) {
    snprintf(err, errlen, "model: the provider before ':' must be 1 to %d characters",
             PROVIDER_MAX);
    return -1;
  }
  for (size_t i = 0; i < pl; i++) {
    if (!provider_char(model[i])) {
      snprintf(err, errlen, "model: the provider may hold only letters, digits, '_', '.', '-'");
      return -1;
    }
  }
  if (ml == 0 || ml > MODEL_MAX) {
    snprintf(err, errlen, "model: the model after ':' must be 1 to %d characters", MODEL_MAX);
    return -1;
  }
  for (const char *p = colon + 1; *p; p++) {
    if ((unsigned char)*p <= 0x20 || *p == 0x7f) {
      snprintf(err, errlen, "model: the model must not contain spaces or control characters");
      return -1;
    }
  }
  return 0;
}

long long sg_llm_count_words(const char *s) {
  long long n = 0;
  int in = 0;
  for (; s && *s; s++) {
    int space = *s == ' ' || *s == '\t' || *s == '\n' || *s == '\r' || *s == '\f' || *s == '\v';
    if (!space && !in) n++;
    in = !space;
  }
  return n;
}

/* Input words of a completion request: the history's contents and the prompt. */
static long long input_words(const sg_llm_params *p) {
  long long n = sg_llm_count_words(p->prompt);
  for (const soulgw_json *m = soulgw_json_first(p->messages); m; m = soulgw_json_next(m))
    n += sg_llm_count_words(soulgw_json_string(soulgw_json_get(m, "content")));
  return n;
}

void sg_llm_count_tokens(const sg_llm_env *env, const char *model, long long in, long long out) {
  /* the model is the client's choice: without tenant labels, only its provider is shown */
  char agg[160] = "all";
  const char *colon = model ? strchr(model, ':') : NULL;
  if (colon && colon - model < 128) { /* "provider:*", without snprintf's cost per call */
    size_t k = (size_t)(colon - model);
    memcpy(agg, model, k);
    memcpy(agg + k, ":*", 3);
  }
  model = sg_metrics_label(env->metrics, model, agg);
  const char *vin[2] = {model, "input"}, *vout[2] = {model, "output"};
  if (in > 0) sg_family_add(env->tokens, vin, (uint64_t)in);
  if (out > 0) sg_family_add(env->tokens, vout, (uint64_t)out);
}

void sg_llm_fail(const sg_llm_ops *ops, void *ud, soulgw_api_error code, const char *fmt, ...) {
  char msg[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  sg_llm_result r = {.failed = 1, .error = code, .message = msg, .text = ""};
  ops->done(ud, &r);
}

void sg_llm_fail_as(const sg_llm_ops *ops, void *ud, soulgw_api_error code, sg_llm_fclass fclass,
                    const char *msg) {
  sg_llm_result r = {.failed = 1, .error = code, .message = msg, .text = "", .fclass = fclass};
  ops->done(ud, &r);
}

void sg_llm_embed_fail(sg_llm_embed_fn done, void *ud, soulgw_api_error code, const char *fmt,
                       ...) {
  char msg[700];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  sg_llm_embedding r = {.failed = 1, .error = code, .message = msg};
  done(ud, &r);
}

int sg_llm_emit_words(const sg_llm_ops *ops, void *ud, const char *text, size_t len) {
  /* Each piece is a word with the white space that follows it, so that the pieces joined give
   * the text back exactly. */
  size_t i = 0;
  while (i < len) {
    size_t j = i;
    while (j < len && (text[j] == ' ' || text[j] == '\n' || text[j] == '\t')) j++;
    while (j < len && !(text[j] == ' ' || text[j] == '\n' || text[j] == '\t')) j++;
    while (j < len && (text[j] == ' ' || text[j] == '\n' || text[j] == '\t')) j++;
    if (ops->delta(ud, text + i, j - i) != 0) return -1;
    i = j;
  }
  return 0;
}

/* Hands a whole answer to done, streaming it first as word-sized deltas when asked to. */
static void answer_text(const sg_llm_params *p, const sg_llm_ops *ops, void *ud, const char *text,
                        long long in, long long out, const char *finish) {
  sg_llm_result r;
  memset(&r, 0, sizeof r);
  r.text = text;
  r.text_len = strlen(text);
  r.input_tokens = in;
  r.output_tokens = out;
  r.finish = finish;
  if (p->stream && ops->delta) {
    if (sg_llm_emit_words(ops, ud, text, r.text_len) != 0) {
      sg_llm_fail(ops, ud, SOULGW_API_PROVIDER_UNAVAILABLE, "the client went away");
      return;
    }
    r.streamed = 1;
  }
  ops->done(ud, &r);
}

/* ------------------------------------------------------------------------------------------ */
/* The local provider */

static void local_complete(const sg_llm_call *call, const void *self, const char *model,
                           const sg_llm_params *p, const sg_llm_ops *ops, void *ud) {
  (void)self;
  if (strcmp(model, "echo") != 0) {
    sg_llm_fail(ops, ud, SOULGW_API_PROVIDER_UNAVAILABLE,
                "provider local has no completion model %.100s (it has echo)", model);
    return;
  }
  size_t n = strlen(p->prompt);
  char *text = malloc(n + 7);
  if (!text) {
    sg_llm_fail(ops, ud, SOULGW_API_UNKNOWN_INTERNAL, "out of memory");
    return;
  }
  memcpy(text, "echo: ", 6);
  memcpy(text + 6, p->prompt, n + 1);
  long long in = input_words(p), out = sg_llm_count_words(text);
  sg_llm_count_tokens(call->env, p->model, in, out);
  answer_text(p, ops, ud, text, in, out, "stop");
  free(text);
}

static uint64_t fnv1a(uint64_t h, const char *s) {
  for (; *s; s++) {
    h ^= (unsigned char)*s;
    h *= 0x100000001b3ULL;
  }
  return h;
}

/* A deterministic vector of each text: component i is a 64-bit FNV-1a hash of the text,
 * seeded by i and mixed, scaled to [-1, 1). */
static soulgw_json *local_vector(const char *text, int normalize) {
  double v[LOCAL_DIM], norm = 0;
  for (int i = 0; i < LOCAL_DIM; i++) {
    uint64_t h = fnv1a(0xcbf29ce484222325ULL ^ (uint64_t)(i + 1) * 0x9e3779b97f4a7c15ULL, text);
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdULL;
    h ^= h >> 33;
    v[i] = (double)(h >> 11) / 9007199254740992.0 * 2.0 - 1.0;
    norm += v[i] * v[i];
  }
  norm = sqrt(norm);
  soulgw_json *arr = soulgw_json_array();
  for (int i = 0; i < LOCAL_DIM; i++) {
    if (soulgw_json_push(arr, soulgw_json_new_number(normalize && norm > 0 ? v[i] / norm : v[i]))) {
      soulgw_json_free(arr);
      return NULL; /* the caller's push of NULL then fails too */
    }
  }
  return arr;
}

static void local_embed(const sg_llm_call *call, const void *self, const char *full,
                        const char *model, const soulgw_json *texts, int normalize,
                        sg_llm_embed_fn done, void *ud) {
  sg_llm_embedding r;
  (void)self;
  if (strcmp(model, "emb") != 0) {
    sg_llm_embed_fail(done, ud, SOULGW_API_PROVIDER_UNAVAILABLE,
                      "provider local has no embedding model %.100s (it has emb)", model);
    return;
  }
  memset(&r, 0, sizeof r);
  r.vectors = soulgw_json_array();
  for (const soulgw_json *t = soulgw_json_first(texts); t && r.vectors; t = soulgw_json_next(t)) {
    r.input_tokens += sg_llm_count_words(soulgw_json_string(t));
    if (soulgw_json_push(r.vectors, local_vector(soulgw_json_string(t), normalize))) {
      soulgw_json_free(r.vectors);
      r.vectors = NULL;
    }
  }
  if (!r.vectors) {
    sg_llm_embed_fail(done, ud, SOULGW_API_UNKNOWN_INTERNAL, "out of memory");
    return;
  }
  r.dim = LOCAL_DIM;
  sg_llm_count_tokens(call->env, full, r.input_tokens, 0);
  done(ud, &r);
}

static const sg_llm_backend local_backend = {"local", local_complete, local_embed, NULL};

/* ------------------------------------------------------------------------------------------ */
/* Host providers: synchronous C functions, run on the handler's thread */

/* The request a host provider gets: {"model","messages":[...history, {"role":"user",
 * "content":prompt}], and the optional fields given}. */
static soulgw_json *host_request(const char *model, const sg_llm_params *p) {
  soulgw_json *o = soulgw_json_object(), *msgs = soulgw_json_array(), *last = soulgw_json_object();
  int rc = soulgw_json_set(o, "model", soulgw_json_new_string(model));
  for (const soulgw_json *m = soulgw_json_first(p->messages); m; m = soulgw_json_next(m))
    rc |= soulgw_json_push(msgs, soulgw_json_dup(m));
  rc |= soulgw_json_set(last, "role", soulgw_json_new_string("user"));
  rc |= soulgw_json_set(last, "content", soulgw_json_new_string(p->prompt));
  rc |= soulgw_json_push(msgs, last);
  rc |= soulgw_json_set(o, "messages", msgs);
  if (p->max_tokens) rc |= soulgw_json_set(o, "max_tokens", sg_json_new_int(p->max_tokens));
  if (p->has_temperature)
    rc |= soulgw_json_set(o, "temperature", soulgw_json_new_number(p->temperature));
  if (p->has_top_p) rc |= soulgw_json_set(o, "top_p", soulgw_json_new_number(p->top_p));
  if (p->stop) rc |= soulgw_json_set(o, "stop", soulgw_json_dup(p->stop));
  if (p->has_seed) rc |= soulgw_json_set(o, "seed", sg_json_new_int(p->seed));
  if (p->metadata) rc |= soulgw_json_set(o, "metadata", soulgw_json_dup(p->metadata));
  if (rc) {
    soulgw_json_free(o);
    return NULL;
  }
  return o;
}

static long long usage_of(const soulgw_json *out, const char *key, long long def) {
  const soulgw_json *v = soulgw_json_get(soulgw_json_get(out, "usage"), key);
  return sg_json_is_integer(v) && soulgw_json_number(v, 0) >= 0 ? (long long)soulgw_json_number(v, 0)
                                                                : def;
}

static void observe(const sg_llm_env *env, const char *provider, uint64_t ns) {
  const char *v[1] = {provider};
  sg_family_observe(env->upstream_duration, v, ns);
}

static void host_complete(const sg_llm_call *call, const void *self, const char *model,
                          const sg_llm_params *p, const sg_llm_ops *ops, void *ud) {
  const host_provider *h = self;
  char err[512] = "";
  soulgw_json *out = NULL;
  soulgw_json *in = host_request(model, p);
  if (!in) {
    sg_llm_fail(ops, ud, SOULGW_API_UNKNOWN_INTERNAL, "out of memory");
    return;
  }
  uint64_t t0 = sg_now_ns();
  int rc = h->p.complete(h->ud, model, in, &out, err, sizeof err);
  observe(call->env, h->name, sg_now_ns() - t0);
  soulgw_json_free(in);
  const char *text = soulgw_json_string(soulgw_json_get(out, "response"));
  if (rc != 0 || !text) {
    err[sizeof err - 1] = '\0';
    if (rc == 0) snprintf(err, sizeof err, "it answered without a \"response\" string");
    sg_log(call->env->log, SOULGW_LOG_WARN, "provider call failed", SG_S("provider", h->name),
           SG_S("request_id", call->request_id), SG_S("error", err));
    char msg[640];
    snprintf(msg, sizeof msg, "provider %s failed: %s", h->name, err[0] ? err : soulgw_strerror(rc));
    sg_llm_fail_as(ops, ud,
                   rc == SOULGW_ETIMEDOUT ? SOULGW_API_LLM_TIMEOUT : SOULGW_API_PROVIDER_UNAVAILABLE,
                   rc == SOULGW_ETIMEDOUT ? SG_LLM_F_TIMEOUT : SG_LLM_F_OTHER, msg);
    soulgw_json_free(out);
    return;
  }
  long long tin = usage_of(out, "input_tokens", input_words(p));
  long long tout = usage_of(out, "output_tokens", sg_llm_count_words(text));
  const char *finish = soulgw_json_string(soulgw_json_get(out, "finish"));
  sg_llm_count_tokens(call->env, p->model, tin, tout);
  answer_text(p, ops, ud, text, tin, tout, finish && *finish ? finish : "stop");
  soulgw_json_free(out);
}

static void host_embed(const sg_llm_call *call, const void *self, const char *full,
                       const char *model, const soulgw_json *texts, int normalize,
                       sg_llm_embed_fn done, void *ud) {
  const host_provider *h = self;
  char err[512] = "";
  soulgw_json *out = NULL;
  if (!h->p.embed) {
    sg_llm_embed_fail(done, ud, SOULGW_API_PROVIDER_UNAVAILABLE, "provider %s does not embed",
                      h->name);
    return;
  }
  uint64_t t0 = sg_now_ns();
  int rc = h->p.embed(h->ud, model, texts, normalize, &out, err, sizeof err);
  observe(call->env, h->name, sg_now_ns() - t0);
  err[sizeof err - 1] = '\0';
  soulgw_json *vecs = soulgw_json_get(out, "vectors");
  size_t n = soulgw_json_size(vecs), dim = soulgw_json_size(soulgw_json_first(vecs));
  int shape = rc == 0 && soulgw_json_typeof(vecs) == SOULGW_JSON_ARRAY &&
              n == soulgw_json_size(texts) && dim > 0;
  for (const soulgw_json *v = soulgw_json_first(vecs); shape && v; v = soulgw_json_next(v)) {
    shape = soulgw_json_typeof(v) == SOULGW_JSON_ARRAY && soulgw_json_size(v) == dim;
    for (const soulgw_json *x = soulgw_json_first(v); shape && x; x = soulgw_json_next(x))
      shape = soulgw_json_typeof(x) == SOULGW_JSON_NUMBER;
  }
  if (!shape) {
    if (rc == 0) snprintf(err, sizeof err, "it answered without one vector per text");
    sg_log(call->env->log, SOULGW_LOG_WARN, "provider call failed", SG_S("provider", h->name),
           SG_S("request_id", call->request_id), SG_S("error", err));
    soulgw_json_free(out);
    char msg[640];
    snprintf(msg, sizeof msg, "provider %s failed: %s", h->name, err[0] ? err : soulgw_strerror(rc));
    sg_llm_embedding f = {.failed = 1,
                          .error = rc == SOULGW_ETIMEDOUT ? SOULGW_API_LLM_TIMEOUT
                                                          : SOULGW_API_PROVIDER_UNAVAILABLE,
                          .message = msg,
                          .fclass = rc == SOULGW_ETIMEDOUT ? SG_LLM_F_TIMEOUT : SG_LLM_F_OTHER};
    done(ud, &f);
    return;
  }
  sg_llm_embedding r;
  memset(&r, 0, sizeof r);
  r.vectors = sg_json_detach(out, "vectors");
  r.dim = dim;
  r.input_tokens = usage_of(out, "input_tokens", 0);
  if (!r.input_tokens)
    for (const soulgw_json *t = soulgw_json_first(texts); t; t = soulgw_json_next(t))
      r.input_tokens += sg_llm_count_words(soulgw_json_string(t));
  sg_llm_count_tokens(call->env, full, r.input_tokens, 0);
  soulgw_json_free(out);
  done(ud, &r);
}

static const sg_llm_backend host_backend = {"host", host_complete, host_embed, NULL};

/* ------------------------------------------------------------------------------------------ */
/* Dispatch */

static const sg_provider_conf *conf_find(const sg_llm_call *call, const char *name, size_t len) {
  for (const sg_provider_conf *c = call->providers; c; c = c->next)
    if (strlen(c->name) == len && memcmp(c->name, name, len) == 0) return c;
  return NULL;
}

/* The backend of the provider named by the first len bytes of name, with its state in *self;
 * NULL when there is none. */
static const sg_llm_backend *resolve(const sg_llm_call *call, const char *name, size_t len,
                                     const void **self) {
  const host_provider *h;
  const sg_provider_conf *c;
  *self = NULL;
  if (len == 5 && memcmp(name, "local", 5) == 0) return &local_backend;
  if ((h = host_find(call->env->table, name, len))) {
    *self = h;
    return &host_backend;
  }
  if ((c = conf_find(call, name, len))) {
    *self = c;
    return backend_find(call->env->table, c->kind);
  }
  return NULL;
}

void sg_llm_complete(const sg_llm_call *call, const sg_llm_params *p, const sg_llm_ops *ops,
                     void *ud) {
  const char *colon = strchr(p->model, ':');
  size_t plen = (size_t)(colon - p->model);
  const char *model = colon + 1;
  const void *self;
  const sg_llm_backend *b = resolve(call, p->model, plen, &self);
  if (b)
    b->complete(call, self, model, p, ops, ud);
  else
    sg_llm_fail(ops, ud, SOULGW_API_PROVIDER_UNAVAILABLE, "unknown provider %.*s", (int)plen,
                p->model);
}

void sg_llm_embed(const sg_llm_call *call, const char *full, const soulgw_json *texts,
                  int normalize, sg_llm_embed_fn done, void *ud) {
  const char *colon = strchr(full, ':');
  size_t plen = (size_t)(colon - full);
  const char *model = colon + 1;
  const void *self;
  const sg_llm_backend *b = resolve(call, full, plen, &self);
  if (b) {
    b->embed(call, self, full, model, texts, normalize, done, ud);
  } else {
    sg_llm_embed_fail(done, ud, SOULGW_API_PROVIDER_UNAVAILABLE, "unknown provider %.*s",
                      (int)plen, full);
  }
}

int sg_llm_has_model(const sg_llm_call *call, const char *model, int embed) {
  const char *colon = strchr(model, ':');
  if (!colon) return 0;
  const void *self;
  const sg_llm_backend *b = resolve(call, model, (size_t)(colon - model), &self);
  if (b == &local_backend) return strcmp(colon + 1, embed ? "emb" : "echo") == 0;
  return b != NULL;
}

int sg_llm_relays(const sg_llm_call *call, const char *model) {
  const char *colon = strchr(model, ':');
  const void *self;
  const sg_llm_backend *b = colon ? resolve(call, model, (size_t)(colon - model), &self) : NULL;
  return b && b->relay;
}

int sg_llm_relay(const sg_llm_call *call, const sg_llm_relay_req *r, const sg_llm_relay_ops *ops,
                 void *ud) {
  const char *colon = strchr(r->model, ':');
  if (!colon) return SOULGW_ENOTFOUND;
  const void *self;
  const sg_llm_backend *b = resolve(call, r->model, (size_t)(colon - r->model), &self);
  if (!b || !b->relay) return SOULGW_ENOTFOUND;
  b->relay(call, self, colon + 1, r, ops, ud);
  return 0;
}
