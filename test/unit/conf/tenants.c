/*
 * tenants.c -- [tenants.NAME] budgets in the configuration (SPEC-llm-routing 2): each cap is
 * optional (absent: -1, no cap), 0 is a cap, a negative value or an unknown key is refused
 * naming file, line and key, and sg_ledger_caps() finds a tenant's section.
 */
#include <stdio.h>
#include <string.h>

#include "conf/config.h"
#include "store/ledger.h"
#include "tap.h"

static void unit_conf_tenants_caps(void) {
  soulgw_config *cfg = soulgw_config_new();
  is_int(soulgw_config_load_string(cfg,
                                   "[tenants.tenant-a]\nllm_tokens_per_day = 2000000\n"
                                   "tool_calls_per_day = 0\n[tenants.b]\n",
                                   "t.toml"),
         0, "loads");
  const sg_conf *c = sg_config_snapshot(cfg);
  const sg_tenant_conf *a = sg_ledger_caps(c, "tenant-a"), *b = sg_ledger_caps(c, "b");
  if (!ok(a && b, "both sections found")) {
    soulgw_config_free(cfg);
    return;
  }
  is_int(a->llm_tokens_per_day, 2000000, "llm_tokens_per_day");
  is_int(a->llm_requests_per_day, -1, "llm_requests_per_day absent: no cap");
  is_int(a->tool_calls_per_day, 0, "tool_calls_per_day = 0 is a cap");
  is_int(b->llm_tokens_per_day, -1, "an empty section caps nothing");
  ok(sg_ledger_caps(c, "nobody") == NULL, "a tenant without a section has no budget");
  soulgw_config_free(cfg);
}

static void unit_conf_tenants_refused(void) {
  static const struct {
    const char *text, *msg;
  } bad[] = {
      {"[tenants.a]\nllm_tokens_per_day = -1\n",
       "t.toml:2: tenants.a.llm_tokens_per_day must be between 0 and"},
      {"[tenants.a]\ntokens = 5\n", "t.toml:2: unknown key 'tokens' in [tenants.a]"},
      {"[tenants.a]\ntool_calls_per_day = \"many\"\n", "tool_calls_per_day"},
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    soulgw_config *cfg = soulgw_config_new();
    ok(soulgw_config_load_string(cfg, bad[i].text, "t.toml") != 0, "refused: %s", bad[i].msg);
    has_str(soulgw_config_errmsg(cfg), bad[i].msg, "names it");
    soulgw_config_free(cfg);
  }
}

static const tap_test tests[] = {TEST(unit_conf_tenants_caps), TEST(unit_conf_tenants_refused)};

int main(void) {
  tap_run(tests, TAP_COUNT(tests));
  return tap_done();
}
