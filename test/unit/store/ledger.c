/*
 * ledger.c -- the usage ledger's accumulator and budgets (store/ledger.h), once per driver
 * (backends.h): counts show in a report before they are written and exactly once after; two
 * ledgers on one database (two gateways) add up; a budget counts what is written and what is
 * not; days parse strictly.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "backends.h"
#include "base/json.h"
#include "store/ledger.h"
#include "store/store.h"
#include "tap.h"

static const store_backend *backend;
static char dbpath[128];

static sg_store *open_store(void) {
  char err[256] = "";
  sg_store *st = NULL;
  sg_store_opts o = {.path = dbpath, .sync_full = 1, .backend = backend->name, .url = dbpath};
  if (sg_store_open(&o, &st, err, sizeof err)) tap_diag("open: %s", err);
  return st;
}

static long long num(const soulgw_json *o, const char *k) {
  return (long long)soulgw_json_number(soulgw_json_get(o, k), -1);
}

/* The totals of tenant today, as a report says them. */
static long long total(sg_ledger *l, sg_store *st, const char *tenant, const char *key) {
  soulgw_json *r = NULL;
  int64_t today = sg_ledger_now_s() / 86400;
  if (sg_ledger_report(l, st, tenant, today, today, SG_GROUP_NONE, NULL, &r) != SG_ST_OK) return -2;
  long long v = num(soulgw_json_get(r, "totals"), key);
  soulgw_json_free(r);
  return v;
}

static void unit_store_ledger_counts_once(void) {
  sg_store *st = open_store();
  sg_ledger *l = sg_ledger_new(NULL);
  if (!ok(st && l, "a store and a ledger")) return;
  for (int i = 0; i < 1000; i++)
    sg_ledger_add(l, "t1", SG_USAGE_LLM, i % 2 ? "a" : "b", i % 10 == 0, 3, 4, 2000000);
  sg_ledger_add(l, "t1", SG_USAGE_TOOL, "echo", 0, 0, 0, 0);
  sg_ledger_add(l, "t2", SG_USAGE_TOOL, "echo", 1, 0, 0, 0);
  for (int i = 0; i < 10; i++) sg_ledger_add(l, "t3", SG_USAGE_TOOL, "fast", 0, 0, 0, 300000);
  is_int(total(l, st, "t1", "requests"), 1001, "counted before any write");
  is_int(sg_ledger_start(l, st), 0, "starts");
  sg_ledger_stop(l);
  is_int(total(l, st, "t1", "requests"), 1001, "written once, not counted again");
  is_int(total(l, st, "t1", "input_tokens"), 3000, "input tokens");
  is_int(total(l, st, "t1", "output_tokens"), 4000, "output tokens");
  is_int(total(l, st, "t1", "errors"), 100, "errors");
  is_int(total(l, st, "t1", "duration_ms"), 2000, "duration ms");
  is_int(total(l, st, "t2", "errors"), 1, "another tenant's own");
  is_int(total(l, st, "t3", "duration_ms"), 3, "calls under a ms add up (10 x 0.3 ms)");
  /* a second ledger on the same database: another gateway */
  sg_ledger *l2 = sg_ledger_new(NULL);
  sg_ledger_start(l2, st);
  sg_ledger_add(l2, "t1", SG_USAGE_LLM, "a", 0, 1, 1, 0);
  sg_ledger_stop(l2);
  is_int(total(l, st, "t1", "requests"), 1002, "two ledgers add up");
  soulgw_json *r = NULL;
  int64_t today = sg_ledger_now_s() / 86400;
  sg_ledger_report(l, st, NULL, today, today, SG_GROUP_NAME, NULL, &r);
  is_int((long long)soulgw_json_size(soulgw_json_get(r, "rows")), 5,
         "every tenant by name: t1 a, t1 b, t1 echo, t2 echo, t3 fast");
  ok(soulgw_json_typeof(soulgw_json_get(r, "budget")) == SOULGW_JSON_NULL, "no budget for all");
  soulgw_json_free(r);
  sg_ledger_free(l2);
  sg_ledger_free(l);
  sg_store_close(st);
}

static void unit_store_ledger_budget(void) {
  sg_store *st = open_store();
  sg_ledger *l = sg_ledger_new(NULL);
  if (!ok(st && l, "a store and a ledger")) return;
  sg_ledger_start(l, st);
  sg_tenant_conf caps = {.name = "tb", .llm_tokens_per_day = 100, .llm_requests_per_day = -1,
                         .tool_calls_per_day = 1};
  char msg[256];
  long retry = 0;
  is_int(sg_ledger_over(l, "tb", &caps, SG_USAGE_LLM, msg, sizeof msg, &retry), 0, "nothing used");
  sg_ledger_add(l, "tb", SG_USAGE_LLM, "m", 0, 60, 39, 0);
  is_int(sg_ledger_over(l, "tb", &caps, SG_USAGE_LLM, msg, sizeof msg, &retry), 0, "99 of 100");
  sg_ledger_add(l, "tb", SG_USAGE_LLM, "m", 0, 1, 0, 0);
  is_int(sg_ledger_over(l, "tb", &caps, SG_USAGE_LLM, msg, sizeof msg, &retry), 1, "100 of 100");
  ok(strstr(msg, "llm_tokens_per_day = 100") != NULL, "naming the cap: %s", msg);
  ok(retry > 0 && retry <= 86400, "retry after the seconds to midnight (%ld)", retry);
  is_int(sg_ledger_over(l, "tb", NULL, SG_USAGE_LLM, msg, sizeof msg, &retry), 0, "no caps: no check");
  is_int(sg_ledger_over(l, "tb", &caps, SG_USAGE_TOOL, msg, sizeof msg, &retry), 0, "no tool run yet");
  sg_ledger_add(l, "tb", SG_USAGE_TOOL, "x", 1, 0, 0, 0);
  is_int(sg_ledger_over(l, "tb", &caps, SG_USAGE_TOOL, msg, sizeof msg, &retry), 1,
         "a failed run counts too");
  sg_ledger_stop(l);
  sg_ledger_free(l);
  /* a new ledger (a restart) reads the day's use from the store */
  l = sg_ledger_new(NULL);
  sg_ledger_start(l, st);
  is_int(sg_ledger_over(l, "tb", &caps, SG_USAGE_LLM, msg, sizeof msg, &retry), 1,
         "after a restart: still at the cap");
  caps.llm_tokens_per_day = 1000;
  is_int(sg_ledger_over(l, "tb", &caps, SG_USAGE_LLM, msg, sizeof msg, &retry), 0,
         "a raised cap lets calls through");
  sg_ledger_stop(l);
  sg_ledger_free(l);
  sg_store_close(st);
}

static void unit_store_ledger_days(void) {
  if (backend != &store_backends[0]) return; /* the same for every driver */
  is_int(sg_ledger_parse_day("1970-01-02"), 1, "day 1");
  is_int(sg_ledger_parse_day("2024-02-29"), 19782, "a leap day");
  is_int(sg_ledger_parse_day("2026-02-29"), -1, "not a leap year");
  is_int(sg_ledger_parse_day("2026-2-01"), -1, "two-digit months");
  is_int(sg_ledger_parse_day("2026-02-01x"), -1, "nothing after");
  is_int(sg_ledger_parse_day(""), -1, "empty");
  char t[11];
  sg_ledger_day_text(19782, t);
  is_str(t, "2024-02-29", "and back");
}

static const tap_test tests[] = {TEST(unit_store_ledger_counts_once), TEST(unit_store_ledger_budget),
                                 TEST(unit_store_ledger_days)};

int main(void) {
  for (size_t b = 0; b < STORE_BACKENDS; b++) {
    backend = &store_backends[b];
    if (!tap_want(tests, TAP_COUNT(tests)) || !store_backend_ready(backend)) continue;
    char dir[] = "/tmp/soulgw-ledger-XXXXXX";
    if (!mkdtemp(dir)) return 1;
    backend->address(dbpath, sizeof dbpath, dir, "ledger");
    tap_diag("backend %s", backend->name);
    tap_run(tests, TAP_COUNT(tests));
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0) tap_diag("cannot remove %s", dir);
  }
  return tap_done();
}
