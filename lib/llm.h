/*
 * llm.h -- model providers: the built-in "local" provider (local:echo, local:emb), providers
 * registered by the host, and configured [llm.providers.NAME] upstreams (kind "openai"),
 * addressed as "provider:model".
 */
#ifndef SG_LLM_H
#define SG_LLM_H

#include "sg.h"

typedef struct sg_llm sg_llm;

sg_llm *sg_llm_new(void);
void sg_llm_free(sg_llm *l);
/* Backs soulgw_provider_register(). */
int sg_llm_register(sg_llm *l, const char *name, const soulgw_provider *p, void *ud);

#endif
