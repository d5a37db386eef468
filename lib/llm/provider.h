/*
 * provider.h -- model providers: the built-in "local" provider (local:echo, local:emb),
 * providers registered by the host, and configured [llm.providers.NAME] upstreams (kind
 * "openai", llm/openai.c), addressed as "provider:model".
 *
 * Every provider is reached through the provider table: a const sg_llm_backend of function
 * pointers for each kind (local, host, and each configured kind, registered at start like a
 * host provider), called with an sg_llm_call that carries what the call runs with (the
 * gateway's sg_llm_env, the configured providers of the request's snapshot, the request id and
 * the trace context), never the request itself.
 *
 * The route handlers (routes/api/llm.c) validate a request into sg_llm_params and hand it here;
 * the answer comes back through a callback, either at once on the handler's thread (local and
 * host providers, and every error found before a call goes out) or later, on the upstream
 * thread or on the handler's own server thread (configured providers, which never hold a
 * gateway thread while they wait; see clients/upstream.h on lanes).  Providers are
 * looked up per call in the request's configuration snapshot, so reloads take effect on the
 * next request and a call in flight keeps the provider settings it started with.
 */
#ifndef SG_LLM_H
#define SG_LLM_H

#include "base/log.h"
#include "base/metrics.h"
#include "clients/upstream.h"
#include "conf/config.h"
#include "base/sg.h"

typedef struct sg_llm sg_llm;
typedef struct sg_llm_routes sg_llm_routes;

sg_llm *sg_llm_new(void);
void sg_llm_free(sg_llm *l);
/* Backs soulgw_provider_register(): name must be 1 to 64 characters of [A-Za-z0-9_.-] and not
 * "local".  Returns 0, SOULGW_EINVAL, SOULGW_EEXIST or SOULGW_ENOMEM. */
int sg_llm_register(sg_llm *l, const char *name, const soulgw_provider *p, void *ud);

/* What calling a provider needs from the gateway; the gateway owns it and keeps it for every
 * call (a call that answers later keeps a pointer to it). */
typedef struct sg_llm_env {
  sg_log *log;
  sg_metrics *metrics;          /* whether model names may be label values */
  sg_upstream *upstream;        /* outbound HTTP; NULL while the gateway is stopped */
  sg_llm *table;                /* the provider table: host providers, configured kinds */
  sg_family *tokens;            /* soulgw_llm_tokens_total{model,direction} */
  sg_family *upstream_duration; /* soulgw_upstream_duration_seconds{provider} */
  sg_family *stream_truncated;  /* soulgw_llm_stream_truncated_total{provider} */
  sg_llm_routes *routes;        /* aliases' state across reloads (route.c) */
  sg_family *routed;            /* soulgw_llm_requests_total{model,target,outcome} */
  sg_family *fallbacks;         /* soulgw_llm_fallbacks_total{model,from,to} */
  sg_family *cooldowns;         /* soulgw_llm_cooldowns_total{target} */
} sg_llm_env;

/* One call, besides its parameters.  Providers copy what they keep: it need not outlive the
 * call to sg_llm_complete() or sg_llm_embed(). */
typedef struct sg_llm_call {
  const sg_llm_env *env;
  const sg_provider_conf *providers; /* [llm.providers.NAME] of the request's snapshot */
  const char *request_id;
  const char *traceparent;           /* the client's traceparent header, or NULL */
  long long dimensions;              /* embeddings: the vector size asked for, passed to a
                                      * provider that takes one (0: the model's own) */
  const sg_model_conf *models;       /* [llm.models.NAME] of the request's snapshot */
} sg_llm_call;

/* Why a call failed, for an alias's fallback_on (route.c). */
typedef enum sg_llm_fclass {
  SG_LLM_F_OTHER = 0, /* anything else: answered at once */
  SG_LLM_F_CONNECT,   /* the provider could not be reached */
  SG_LLM_F_TIMEOUT,   /* it did not answer in time */
  SG_LLM_F_429,       /* it answered 429 */
  SG_LLM_F_5XX        /* it answered 5xx */
} sg_llm_fclass;

/* Checks the form of a model name, "provider:model": a provider of 1 to 64 characters of
 * [A-Za-z0-9_.-], a colon, and a model of 1 to 256 printable characters (further colons allowed,
 * as in "ollama:llama3:8b").  Returns 0, or -1 with the reason in err. */
int sg_llm_model_check(const char *model, char *err, size_t errlen);

/* A validated completion request.  Pointers are borrowed from the request's JSON body and must
 * stay valid until the done callback (they do: the request outlives its answer). */
typedef struct sg_llm_params {
  const char *model;           /* "provider:model", already checked */
  const char *prompt;
  const soulgw_json *messages; /* [{role, content}] history, or NULL */
  long long max_tokens;        /* 0: absent */
  int has_temperature, has_top_p, has_seed;
  double temperature, top_p;
  long long seed;
  const soulgw_json *stop;     /* a string, an array of strings, or NULL */
  const soulgw_json *metadata; /* an object, or NULL (host providers only) */
  int stream;                  /* ask the provider for deltas as they come */
} sg_llm_params;

/* The outcome of a completion.  Pointers are valid during the callback only. */
typedef struct sg_llm_result {
  int failed;
  soulgw_api_error error; /* when failed: PROVIDER_UNAVAILABLE or LLM_TIMEOUT (or INTERNAL) */
  const char *message;    /* when failed: safe to show a client */
  const char *text;       /* the completion ("" when failed) */
  size_t text_len;
  long long input_tokens, output_tokens;
  const char *finish;     /* "stop", "length", ... */
  int streamed;           /* the text already went out through delta, piece by piece */
  sg_llm_fclass fclass;   /* when failed: why */
  const char *served;     /* an alias's answer: the target ("provider:model") that served */
} sg_llm_result;

typedef struct sg_llm_ops {
  /* Called exactly once. */
  void (*done)(void *ud, const sg_llm_result *r);
  /* Streaming only: a piece of the answer as the provider sends it; non-zero stops the call
   * (the client has gone), which then ends with done(failed).  May be NULL. */
  int (*delta)(void *ud, const char *text, size_t len);
  /* Aliases (sg_llm_route_complete): the target about to send its first delta, so that a
   * stream opened then can name it.  May be NULL. */
  void (*serving)(void *ud, const char *target);
} sg_llm_ops;

/* Runs a completion (the caller's request must already be deferred or streaming when the
 * provider may answer later: the caller defers before calling).  Always ends in exactly one
 * ops->done, possibly before this returns. */
void sg_llm_complete(const sg_llm_call *call, const sg_llm_params *p, const sg_llm_ops *ops,
                     void *ud);

/* The outcome of an embedding call.  vectors is an array of arrays of numbers, one per text;
 * the callback takes it (NULL when failed). */
typedef struct sg_llm_embedding {
  int failed;
  soulgw_api_error error;
  const char *message;
  soulgw_json *vectors;
  size_t dim;
  long long input_tokens;
  sg_llm_fclass fclass;   /* when failed: why */
  const char *served;     /* an alias's answer: the target that served */
} sg_llm_embedding;

typedef void (*sg_llm_embed_fn)(void *ud, sg_llm_embedding *r);

/* An OpenAI chat completion relayed as it is (POST /v1/chat/completions to a provider whose
 * backend relays): the client's body goes upstream with only its top-level "model" rewritten
 * to the provider's model name, and the answer comes back with "model" set back to the
 * client's.  The body is borrowed until the call has copied it (before sg_llm_relay returns). */
typedef struct sg_llm_relay_req {
  const char *model;             /* the client's "provider:model", checked */
  const char *body;              /* the client's body, a JSON object */
  size_t len;
  size_t model_start, model_end; /* the bytes of its top-level "model" value */
  int stream;                    /* "stream": true: the answer is relayed event by event */
  int include_usage;             /* the client asked for stream_options.include_usage */
  int has_stream_options;        /* the body has a top-level "stream_options" */
  const char *answer_model;      /* the "model" answers say (NULL: model): an alias */
} sg_llm_relay_req;

/* The outcome of a relayed call.  Pointers are valid during the callback only, but body, which
 * the callback takes (free()). */
typedef struct sg_llm_relay_result {
  int failed;
  soulgw_api_error error; /* when failed (its HTTP status is the answer's) */
  const char *code;       /* NULL, or the OpenAI error code to answer instead of error's own
                           * ("model_not_found") */
  const char *message;    /* when failed: safe to show a client */
  long retry_after;       /* > 0: seconds, for a 429 */
  char *body;             /* a whole answer (not streaming): the chat.completion object */
  size_t len;
  long long input_tokens, output_tokens; /* as counted into soulgw_llm_tokens_total */
  sg_llm_fclass fclass;   /* when failed: why */
  const char *served;     /* an alias's answer: the target that served */
} sg_llm_relay_result;

typedef struct sg_llm_relay_ops {
  /* Called exactly once: the answer, the end of the stream, or the failure. */
  void (*done)(void *ud, sg_llm_relay_result *r);
  /* Streams: one event's data, a chat.completion.chunk with "model" set back, as the upstream
   * sent it; non-zero stops the call (the client has gone), which then ends in done(failed). */
  int (*event)(void *ud, const char *data, size_t len);
  /* Aliases: the target about to send its first event.  May be NULL. */
  void (*serving)(void *ud, const char *target);
} sg_llm_relay_ops;

/* 1 when model ("provider:model") names a provider whose backend relays. */
int sg_llm_relays(const sg_llm_call *call, const char *model);

/* 1 when model ("provider:model", checked) names a provider that exists for the call (for
 * "local", one of its models: echo to complete, emb to embed, as embed says), else 0. */
int sg_llm_has_model(const sg_llm_call *call, const char *model, int embed);

/* Relays r to its provider when that provider's backend relays: returns 0, and ops->done is
 * called exactly once, possibly before this returns.  SOULGW_ENOTFOUND when the provider does
 * not relay (local and host providers, an unknown provider): nothing was called, and the
 * caller uses sg_llm_complete(). */
int sg_llm_relay(const sg_llm_call *call, const sg_llm_relay_req *r, const sg_llm_relay_ops *ops,
                 void *ud);

/* Embeds texts (an array of strings) with model ("provider:model", checked); normalize scales
 * each vector to unit length.  Ends in exactly one done, as sg_llm_complete(). */
void sg_llm_embed(const sg_llm_call *call, const char *model, const soulgw_json *texts,
                  int normalize, sg_llm_embed_fn done, void *ud);

/* ------------------------------------------------------------------------------------------ */
/* The provider table */

/* A kind of provider.  self is the provider's own state: NULL for local, the host provider,
 * or the [llm.providers.NAME] section of a configured kind.  model is the part of
 * "provider:model" after the colon, full (embed) the whole.  Each ends in exactly one done, as
 * sg_llm_complete() and sg_llm_embed(). */
typedef struct sg_llm_backend {
  const char *kind; /* for configured providers: their kind ("openai") */
  void (*complete)(const sg_llm_call *call, const void *self, const char *model,
                   const sg_llm_params *p, const sg_llm_ops *ops, void *ud);
  void (*embed)(const sg_llm_call *call, const void *self, const char *full, const char *model,
                const soulgw_json *texts, int normalize, sg_llm_embed_fn done, void *ud);
  /* The OpenAI relay (sg_llm_relay), or NULL when the kind does not speak OpenAI's API: local
   * and host providers answer /v1 through complete. */
  void (*relay)(const sg_llm_call *call, const void *self, const char *model,
                const sg_llm_relay_req *r, const sg_llm_relay_ops *ops, void *ud);
} sg_llm_backend;

/* Registers the backend of configured providers of kind b->kind, before start (the table is
 * read without a lock).  Returns 0, SOULGW_EEXIST or SOULGW_ENOMEM. */
int sg_llm_add_backend(sg_llm *l, const sg_llm_backend *b);

/* ------------------------------------------------------------------------------------------ */
/* The kit every provider shares */

/* Whitespace-separated words of s: the token count the gateway reports where a provider gives
 * none (local models, upstreams that omit usage). */
long long sg_llm_count_words(const char *s);
/* Adds to soulgw_llm_tokens_total{model, direction}. */
void sg_llm_count_tokens(const sg_llm_env *env, const char *model, long long in, long long out);
/* Ends a completion with an error (message formatted). */
void sg_llm_fail(const sg_llm_ops *ops, void *ud, soulgw_api_error code, const char *fmt, ...)
    SG_PRINTF(4, 5);
/* Ends a completion with an error of class fclass (message as it is). */
void sg_llm_fail_as(const sg_llm_ops *ops, void *ud, soulgw_api_error code, sg_llm_fclass fclass,
                    const char *msg);
/* Ends an embedding with an error (message formatted, at most 699 bytes). */
void sg_llm_embed_fail(sg_llm_embed_fn done, void *ud, soulgw_api_error code, const char *fmt,
                       ...) SG_PRINTF(4, 5);
/* Sends text through ops->delta in word-sized pieces; -1 when delta asked to stop. */
int sg_llm_emit_words(const sg_llm_ops *ops, void *ud, const char *text, size_t len);

/* ------------------------------------------------------------------------------------------ */
/* Model aliases (route.c) */

/* The alias [llm.models.NAME] of the call's snapshot named model, or NULL. */
const sg_model_conf *sg_llm_alias(const sg_llm_call *call, const char *model);

/* sg_llm_complete() that also takes an alias as p->model: its targets are tried by strategy,
 * moving on after a failure its fallback_on lists while nothing has been streamed, skipping
 * targets cooling down (all cooling: the first is tried); the answer's served names the
 * target.  A plain "provider:model" goes to sg_llm_complete() as it is. */
void sg_llm_route_complete(const sg_llm_call *call, const sg_llm_params *p,
                           const sg_llm_ops *ops, void *ud);

/* sg_llm_embed() that also takes an alias as model, as sg_llm_route_complete(); texts are
 * copied, so they need not outlive the call. */
void sg_llm_route_embed(const sg_llm_call *call, const char *model, const soulgw_json *texts,
                        int normalize, sg_llm_embed_fn done, void *ud);

/* sg_llm_relay() that also takes an alias as r->model when every target of it relays (else
 * SOULGW_ENOTFOUND, nothing called: the caller uses sg_llm_route_complete()); the body is
 * copied.  Answers name r->model (the alias); done's served names the target. */
int sg_llm_route_relay(const sg_llm_call *call, const sg_llm_relay_req *r,
                       const sg_llm_relay_ops *ops, void *ud);

/* The routing state kept across reloads in the provider table: per-target consecutive failures
 * and cooldowns, per-alias weighted round robin.  Thread-safe. */
sg_llm_routes *sg_llm_routes_new(void);
void sg_llm_routes_free(sg_llm_routes *r);

#endif
