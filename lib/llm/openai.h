/*
 * llm_openai.h -- OpenAI-compatible upstreams ([llm.providers.NAME] kind = "openai"), and the
 * helpers llm.c shares with them.  Internal to llm.c and llm_openai.c.
 */
#ifndef SG_LLM_OPENAI_H
#define SG_LLM_OPENAI_H

#include "conf/config.h"
#include "llm/provider.h"

/* Forwards a completion to c->base_url + "/chat/completions" (streaming with "stream": true
 * when p->stream) on the upstream thread; model is the part after "provider:".  Retries
 * connection failures and 5xx answers c->retries times with exponential backoff (100 ms,
 * 200 ms, ...) as long as nothing was streamed yet.  Ends in exactly one ops->done, on the
 * upstream thread, or at once on the calling thread when the call cannot be started. */
void sg_llm_openai_complete(soulgw_req *req, const sg_provider_conf *c, const char *model,
                            const sg_llm_params *p, const sg_llm_ops *ops, void *ud);

/* Embeds texts through c->base_url + "/embeddings"; full is "provider:model" (for metrics),
 * model the part after the colon.  Retries and ends as sg_llm_openai_complete(). */
void sg_llm_openai_embed(soulgw_req *req, const sg_provider_conf *c, const char *full,
                         const char *model, const soulgw_json *texts, int normalize,
                         sg_llm_embed_fn done, void *ud);

/* Shared with llm.c. */
/* Adds to soulgw_llm_tokens_total{model, direction}. */
void sg_llm_count_tokens(soulgw *gw, const char *model, long long in, long long out);
/* Ends a completion with an error (message formatted). */
void sg_llm_fail(const sg_llm_ops *ops, void *ud, soulgw_api_error code, const char *fmt, ...)
    SG_PRINTF(4, 5);
/* Sends text through ops->delta in word-sized pieces; -1 when delta asked to stop. */
int sg_llm_emit_words(const sg_llm_ops *ops, void *ud, const char *text, size_t len);

#endif
