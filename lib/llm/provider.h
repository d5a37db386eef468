/*
 * llm.h -- model providers: the built-in "local" provider (local:echo, local:emb), providers
 * registered by the host, and configured [llm.providers.NAME] upstreams (kind "openai"),
 * addressed as "provider:model".
 *
 * The route handlers (routes/llm.c) validate a request into sg_llm_params and hand it here;
 * the answer comes back through a callback, either at once on the handler's thread (local and
 * host providers, and every error found before a call goes out) or later on the upstream thread
 * (configured providers, which never hold a gateway thread while they wait).  Providers are
 * looked up per call in the request's configuration snapshot, so reloads take effect on the
 * next request and a call in flight keeps the provider settings it started with.
 */
#ifndef SG_LLM_H
#define SG_LLM_H

#include "base/sg.h"

typedef struct sg_llm sg_llm;

sg_llm *sg_llm_new(void);
void sg_llm_free(sg_llm *l);
/* Backs soulgw_provider_register(): name must be 1 to 64 characters of [A-Za-z0-9_.-] and not
 * "local".  Returns 0, SOULGW_EINVAL, SOULGW_EEXIST or SOULGW_ENOMEM. */
int sg_llm_register(sg_llm *l, const char *name, const soulgw_provider *p, void *ud);

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
} sg_llm_result;

typedef struct sg_llm_ops {
  /* Called exactly once. */
  void (*done)(void *ud, const sg_llm_result *r);
  /* Streaming only: a piece of the answer as the provider sends it; non-zero stops the call
   * (the client has gone), which then ends with done(failed).  May be NULL. */
  int (*delta)(void *ud, const char *text, size_t len);
} sg_llm_ops;

/* Runs a completion for req (which must already be deferred or streaming when the provider
 * may answer later: the caller defers before calling).  Always ends in exactly one ops->done,
 * possibly before this returns. */
void sg_llm_complete(soulgw_req *req, const sg_llm_params *p, const sg_llm_ops *ops, void *ud);

/* The outcome of an embedding call.  vectors is an array of arrays of numbers, one per text;
 * the callback takes it (NULL when failed). */
typedef struct sg_llm_embedding {
  int failed;
  soulgw_api_error error;
  const char *message;
  soulgw_json *vectors;
  size_t dim;
  long long input_tokens;
} sg_llm_embedding;

typedef void (*sg_llm_embed_fn)(void *ud, sg_llm_embedding *r);

/* Embeds texts (an array of strings) with model ("provider:model", checked); normalize scales
 * each vector to unit length.  Ends in exactly one done, as sg_llm_complete(). */
void sg_llm_embed(soulgw_req *req, const char *model, const soulgw_json *texts, int normalize,
                  sg_llm_embed_fn done, void *ud);

/* Whitespace-separated words of s: the token count the gateway reports where a provider gives
 * none (local models, upstreams that omit usage). */
long long sg_llm_count_words(const char *s);

#endif
