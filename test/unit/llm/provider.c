/*
 * provider.c -- unit tests of the pure parts of lib/llm/provider.c: the form of model names, the
 * word count reported where a provider gives no usage, the rules of provider registration, and
 * resolution through the provider table (local, configured kinds, unknown providers).
 */
#include <stdio.h>
#include <string.h>

#include "llm/provider.h"
#include "base/sg.h"
#include "tap.h"

static void unit_llm_model_check(void) {
  char err[200];
  static const char *const good[] = {"local:echo", "openai:gpt-4o", "ollama:llama3:8b",
                                     "my_prov.v2-x:m", "p:m/with/slashes", NULL};
  for (int i = 0; good[i]; i++)
    is_int(sg_llm_model_check(good[i], err, sizeof err), 0, "\"%s\" is a model name", good[i]);
  static const char *const bad[] = {"echo", ":m", "p:", "", "p q:m", "p:m n", "p:m\t",
                                    "p\x01:m", "é:m", NULL};
  for (int i = 0; bad[i]; i++) {
    is_int(sg_llm_model_check(bad[i], err, sizeof err), -1, "\"%s\" is not", bad[i]);
    has_str(err, "model", "  the message names the field");
  }
  char longp[80], longm[300];
  memset(longp, 'p', 65);
  strcpy(longp + 65, ":m");
  is_int(sg_llm_model_check(longp, err, sizeof err), -1, "a provider of 65 characters is refused");
  longp[64] = ':';
  longp[65] = 'm';
  longp[66] = '\0';
  is_int(sg_llm_model_check(longp, err, sizeof err), 0, "64 are fine");
  memcpy(longm, "p:", 2);
  memset(longm + 2, 'm', 257);
  longm[259] = '\0';
  is_int(sg_llm_model_check(longm, err, sizeof err), -1, "a model of 257 characters is refused");
  longm[258] = '\0';
  is_int(sg_llm_model_check(longm, err, sizeof err), 0, "256 are fine");
}

static void unit_llm_count_words(void) {
  is_int(sg_llm_count_words(""), 0, "empty: 0");
  is_int(sg_llm_count_words(NULL), 0, "NULL: 0");
  is_int(sg_llm_count_words("one"), 1, "one word");
  is_int(sg_llm_count_words("  two\twords\n"), 2, "white space of any kind separates");
  is_int(sg_llm_count_words("echo: hello  world"), 3, "punctuation stays with its word");
  is_int(sg_llm_count_words("héllo wörld"), 2, "UTF-8 letters are letters");
}

static int complete(void *ud, const char *model, const soulgw_json *request, soulgw_json **out,
                    char *err, size_t errlen) {
  (void)ud, (void)model, (void)request, (void)out, (void)err, (void)errlen;
  return 0;
}

static void unit_llm_register(void) {
  sg_llm *l = sg_llm_new();
  soulgw_provider p = {complete, NULL}, none = {NULL, NULL};
  is_int(sg_llm_register(l, "mine", &p, NULL), 0, "a provider registers");
  is_int(sg_llm_register(l, "mine", &p, NULL), SOULGW_EEXIST, "twice: SOULGW_EEXIST");
  is_int(sg_llm_register(l, "local", &p, NULL), SOULGW_EINVAL, "local is reserved");
  is_int(sg_llm_register(l, "", &p, NULL), SOULGW_EINVAL, "an empty name is refused");
  is_int(sg_llm_register(l, "a:b", &p, NULL), SOULGW_EINVAL, "a colon is refused");
  is_int(sg_llm_register(l, "a b", &p, NULL), SOULGW_EINVAL, "a space is refused");
  is_int(sg_llm_register(l, "other", &none, NULL), SOULGW_EINVAL, "no complete: refused");
  is_int(sg_llm_register(l, NULL, &p, NULL), SOULGW_EINVAL, "no name: refused");
  is_int(sg_llm_register(l, "x", NULL, NULL), SOULGW_EINVAL, "no provider: refused");
  sg_llm_free(l);
  sg_llm_free(NULL);
  ok(1, "sg_llm_free(NULL) does nothing");
}

/* A backend of kind "fake" that records what it was called with. */
static struct {
  int calls;
  const void *self;
  char model[64], request_id[64];
} seen;

static void fake_complete(const sg_llm_call *call, const void *self, const char *model,
                          const sg_llm_params *p, const sg_llm_ops *ops, void *ud) {
  (void)p;
  seen.calls++;
  seen.self = self;
  snprintf(seen.model, sizeof seen.model, "%s", model);
  snprintf(seen.request_id, sizeof seen.request_id, "%s", call->request_id);
  sg_llm_fail(ops, ud, SOULGW_API_PROVIDER_UNAVAILABLE, "fake");
}

static void fake_embed(const sg_llm_call *call, const void *self, const char *full,
                       const char *model, const soulgw_json *texts, int normalize,
                       sg_llm_embed_fn done, void *ud) {
  (void)call, (void)full, (void)texts, (void)normalize;
  sg_llm_embedding r = {.failed = 1, .error = SOULGW_API_PROVIDER_UNAVAILABLE, .message = "fake"};
  seen.calls++;
  seen.self = self;
  snprintf(seen.model, sizeof seen.model, "%s", model);
  done(ud, &r);
}

static const sg_llm_backend fake = {"fake", fake_complete, fake_embed, NULL};

static void answered(void *ud, const sg_llm_result *r) {
  snprintf(ud, 128, "%s", r->failed ? r->message : r->text);
}

static void embedded(void *ud, sg_llm_embedding *r) { snprintf(ud, 128, "%s", r->message); }

static void unit_llm_provider_table(void) {
  sg_llm *l = sg_llm_new();
  is_int(sg_llm_add_backend(l, &fake), 0, "a backend registers");
  is_int(sg_llm_add_backend(l, &fake), SOULGW_EEXIST, "a kind registers once");
  sg_provider_conf other = {.name = "other", .kind = "unknown"};
  sg_provider_conf conf = {.name = "cfg", .kind = "fake", .next = &other};
  sg_llm_env env = {.table = l};
  sg_llm_call call = {&env, &conf, "rid-1", NULL, 0, NULL};
  sg_llm_ops ops = {answered, NULL, NULL};
  char out[128];
  sg_llm_params p = {.model = "cfg:some/model", .prompt = "hi"};
  sg_llm_complete(&call, &p, &ops, out);
  is_int(seen.calls, 1, "a configured provider is called through the backend of its kind");
  ok(seen.self == &conf, "with its [llm.providers.NAME] section as its state");
  is_str(seen.model, "some/model", "and the model after the colon");
  is_str(seen.request_id, "rid-1", "and the call's request id");
  is_str(out, "fake", "its answer comes back through done");
  p.model = "other:m";
  sg_llm_complete(&call, &p, &ops, out);
  is_str(out, "unknown provider other", "a kind without a backend: unknown provider");
  p.model = "nobody:m";
  sg_llm_complete(&call, &p, &ops, out);
  is_str(out, "unknown provider nobody", "no such provider: unknown provider");
  p.model = "local:echo";
  sg_llm_complete(&call, &p, &ops, out);
  is_str(out, "echo: hi", "local is built in, before the table");
  is_int(seen.calls, 1, "and never reaches a backend");
  soulgw_json *texts = soulgw_json_array();
  soulgw_json_push(texts, soulgw_json_new_string("a"));
  sg_llm_embed(&call, "cfg:emb", texts, 0, embedded, out);
  is_int(seen.calls, 2, "embeddings go through the same table");
  is_str(seen.model, "emb", "with the model after the colon");
  sg_llm_embed(&call, "nobody:emb", texts, 0, embedded, out);
  is_str(out, "unknown provider nobody", "an unknown provider fails the embedding");
  sg_llm_embed(&call, "local:other", texts, 0, embedded, out);
  is_str(out, "provider local has no embedding model other (it has emb)",
         "local has one embedding model");
  soulgw_provider host = {complete, NULL};
  is_int(sg_llm_register(l, "mine", &host, NULL), 0, "a host provider without embed registers");
  sg_llm_embed(&call, "mine:m", texts, 0, embedded, out);
  is_str(out, "provider mine does not embed", "and refuses embeddings");
  soulgw_json_free(texts);
  sg_llm_free(l);
}

static void embed_failed(void *ud, sg_llm_embedding *r) {
  int *len = ud;
  *len = r->failed && r->error == SOULGW_API_LLM_TIMEOUT ? (int)strlen(r->message) : -1;
}

static void unit_llm_embed_fail(void) {
  char text[800];
  memset(text, 'x', sizeof text - 1);
  text[sizeof text - 1] = '\0';
  int len = 0;
  sg_llm_embed_fail(embed_failed, &len, SOULGW_API_LLM_TIMEOUT, "%.650s", text);
  is_int(len, 650, "a failed embedding carries its code and message");
  sg_llm_embed_fail(embed_failed, &len, SOULGW_API_LLM_TIMEOUT, "%s", text);
  is_int(len, 699, "a message is cut at 699 bytes");
}

static const tap_test tests[] = {TEST(unit_llm_model_check), TEST(unit_llm_count_words),
                                 TEST(unit_llm_register), TEST(unit_llm_provider_table),
                                 TEST(unit_llm_embed_fail)};

int main(void) {
  tap_run(tests, TAP_COUNT(tests));
  return tap_done();
}
