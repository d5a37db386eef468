/*
 * ledger_table.c -- soulgw_usage_table(): the usage ledger of a configuration's store as a
 * table, for `soulgw usage`.  It opens the store as a gateway would (SQLite in WAL mode lets it
 * read while a gateway writes; PostgreSQL is shared anyway) and reads what has been written:
 * a running gateway's counts of the last second are not in it yet.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/json.h"
#include "conf/config.h"
#include "store/ledger.h"

/* One cell: a number, or "-" for null. */
static void put_num(sg_buf *b, const soulgw_json *o, const char *key, int width) {
  const soulgw_json *v = soulgw_json_get(o, key);
  if (!v || soulgw_json_typeof(v) != SOULGW_JSON_NUMBER) sg_buf_printf(b, " %*s", width, "-");
  else sg_buf_printf(b, " %*lld", width, (long long)soulgw_json_number(v, 0));
}

static const char *str_or(const soulgw_json *o, const char *key, const char *def) {
  const char *s = soulgw_json_string(soulgw_json_get(o, key));
  return s ? s : def;
}

static void put_counts(sg_buf *b, const soulgw_json *o) {
  put_num(b, o, "requests", 10);
  put_num(b, o, "input_tokens", 14);
  put_num(b, o, "output_tokens", 14);
  put_num(b, o, "errors", 8);
  put_num(b, o, "duration_ms", 12);
  sg_buf_putc(b, '\n');
}

/* The table of a report (sg_ledger_report()'s answer). */
static void table(sg_buf *b, const soulgw_json *r, int all) {
  sg_buf_printf(b, "usage of %s from %s to %s (UTC)\n",
                all ? "every tenant" : str_or(r, "tenant", "?"), str_or(r, "from", "?"),
                str_or(r, "to", "?"));
  if (all) sg_buf_printf(b, "%-20s ", "tenant");
  sg_buf_printf(b, "%-10s %-4s %-32s %10s %14s %14s %8s %12s\n", "day", "kind", "name",
                "requests", "input_tokens", "output_tokens", "errors", "duration_ms");
  for (const soulgw_json *x = soulgw_json_first(soulgw_json_get(r, "rows")); x;
       x = soulgw_json_next(x)) {
    if (all) sg_buf_printf(b, "%-20s ", str_or(x, "tenant", "-"));
    sg_buf_printf(b, "%-10s %-4s %-32s", str_or(x, "day", "-"), str_or(x, "kind", "-"),
                  str_or(x, "name", "-"));
    put_counts(b, x);
  }
  if (all) sg_buf_printf(b, "%-20s ", "");
  sg_buf_printf(b, "%-10s %-4s %-32s", "total", "", "");
  put_counts(b, soulgw_json_get(r, "totals"));
  const soulgw_json *bud = soulgw_json_get(r, "budget");
  if (bud && soulgw_json_typeof(bud) == SOULGW_JSON_OBJECT) {
    static const char *const caps[][2] = {{"llm_tokens_per_day", "llm_tokens"},
                                          {"llm_requests_per_day", "llm_requests"},
                                          {"tool_calls_per_day", "tool_calls"}};
    const soulgw_json *use = soulgw_json_get(bud, "used_today");
    sg_buf_printf(b, "budget for %s (UTC):\n", str_or(bud, "day", "?"));
    for (size_t i = 0; i < 3; i++) {
      const soulgw_json *cap = soulgw_json_get(bud, caps[i][0]);
      sg_buf_printf(b, "  %-22s", caps[i][0]);
      if (soulgw_json_typeof(cap) == SOULGW_JSON_NUMBER)
        sg_buf_printf(b, " %14lld", (long long)soulgw_json_number(cap, 0));
      else
        sg_buf_printf(b, " %14s", "no cap");
      sg_buf_puts(b, "  used");
      put_num(b, use, caps[i][1], 14);
      sg_buf_putc(b, '\n');
    }
  }
}

int soulgw_usage_table(const soulgw_config *cfg, const char *tenant, const char *from,
                       const char *to, char **out, char *err, size_t errlen) {
  const sg_conf *c = cfg ? sg_config_snapshot(cfg) : NULL;
  if (!out || !err || !errlen) return SOULGW_EINVAL;
  *out = NULL;
  err[0] = '\0';
  if (!c) {
    snprintf(err, errlen, "no configuration loaded");
    return SOULGW_EINVAL;
  }
  int64_t today = sg_ledger_now_s() / 86400;
  int64_t t = to ? sg_ledger_parse_day(to) : today;
  int64_t f = from ? sg_ledger_parse_day(from) : t;
  if (t < 0 || f < 0) {
    snprintf(err, errlen, "--%s must be a date YYYY-MM-DD (UTC), not \"%.40s\"",
             t < 0 ? "to" : "from", t < 0 ? to : from);
    return SOULGW_EINVAL;
  }
  if (f > t || t - f + 1 > SG_LEDGER_MAX_DAYS) {
    snprintf(err, errlen, f > t ? "--from is after --to" : "the range spans more than %d days",
             SG_LEDGER_MAX_DAYS);
    return SOULGW_EINVAL;
  }
  if (tenant && strcmp(tenant, "*") == 0) tenant = NULL;
  if (strcmp(c->storage.backend, "postgres") != 0 && access(c->storage.path, F_OK) != 0) {
    /* not a new, empty database made by a mistyped path */
    snprintf(err, errlen, "no database at %s", c->storage.path);
    return SOULGW_ESTORE;
  }
  sg_store_opts so = {.path = c->storage.path, .sync_full = c->storage.sync_full,
                      .backend = c->storage.backend, .url = c->storage.url.value, .pool = 2,
                      .statement_timeout_ms = (int)c->storage.statement_timeout_ms};
  sg_store *st = NULL;
  sg_ledger *l = sg_ledger_new(NULL);
  if (!l) return SOULGW_ENOMEM;
  int rc = sg_store_open(&so, &st, err, errlen);
  if (rc) {
    sg_ledger_free(l);
    return rc;
  }
  soulgw_json *r = NULL;
  sg_st s = sg_ledger_report(l, st, tenant, f, t, SG_GROUP_NONE,
                             tenant ? sg_ledger_caps(c, tenant) : NULL, &r);
  sg_store_close(st);
  sg_ledger_free(l);
  if (s != SG_ST_OK) {
    snprintf(err, errlen, "cannot read the usage ledger: storage unavailable");
    return SOULGW_ESTORE;
  }
  sg_buf b;
  sg_buf_init(&b, 0);
  table(&b, r, tenant == NULL);
  soulgw_json_free(r);
  size_t len;
  *out = sg_buf_failed(&b) ? (sg_buf_free(&b), NULL) : sg_buf_detach(&b, &len);
  return *out ? 0 : SOULGW_ENOMEM;
}
