/*
 * provider.c -- unit tests of the pure parts of lib/llm/provider.c: the form of model names, the
 * word count reported where a provider gives no usage, and the rules of provider registration.
 */
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

static const tap_test tests[] = {TEST(unit_llm_model_check), TEST(unit_llm_count_words),
                                 TEST(unit_llm_register)};

int main(void) {
  tap_run(tests, TAP_COUNT(tests));
  return tap_done();
}
