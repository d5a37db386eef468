/*
 * openai.h -- OpenAI-compatible upstreams ([llm.providers.NAME] kind = "openai"), a backend of
 * the provider table (see provider.h).
 */
#ifndef SG_LLM_OPENAI_H
#define SG_LLM_OPENAI_H

#include "llm/provider.h"

/* The backend of [llm.providers.NAME] kind = "openai", registered in the provider table by
 * the gateway.
 *
 * complete forwards to base_url + "/chat/completions" (streaming with "stream": true when
 * p->stream); embed to base_url + "/embeddings".  Both run in the upstream module (on its
 * thread, or on the calling server thread's lane for a plain http:// base_url) and retry
 * connection failures and 5xx answers `retries` times with exponential backoff (100 ms,
 * 200 ms, ...) as long as nothing was streamed yet.  Each ends in exactly one done, later on
 * that thread, or at once on the calling thread when the call cannot be started. */
extern const sg_llm_backend sg_llm_openai;

#endif
