/*
 * ledger.h -- the usage ledger (SPEC-llm-routing 2 and 3): what every tenant spent, per UTC
 * day, in model calls and tool runs, and the budgets checked against it.
 *
 * Counting is in memory: sg_ledger_add() takes one lock, finds the row of (tenant, day, kind,
 * name) in a hash table (made on its first call of the day, the only allocation) and adds.  A
 * thread of the ledger's hands the rows counted since its last pass to the store's writer (one
 * write, committed with the writer's batch) at least every second and once more at stop, as
 * additive upserts, so that several gateways on one PostgreSQL add up; no answer waits for it.
 * A crash loses at most the rows counted since the last pass.
 *
 * Budgets: a tenant's use of the current UTC day is its durable total (read from the store on
 * the first check of the day, and again after every pass, which brings other gateways' rows on
 * a shared PostgreSQL) plus what this gateway counted since.  Thread-safe.
 */
#ifndef SG_STORE_LEDGER_H
#define SG_STORE_LEDGER_H

#include <stdint.h>

#include "base/json.h"
#include "base/log.h"
#include "conf/config.h"
#include "store/store.h"

typedef struct sg_ledger sg_ledger;

/* The kinds of rows, and their names in the store and in answers. */
typedef enum { SG_USAGE_LLM = 0, SG_USAGE_TOOL = 1 } sg_usage_kind;
const char *sg_usage_kind_name(sg_usage_kind k);

/* How often the rows go to the store (ms). */
#define SG_LEDGER_FLUSH_MS 1000
/* The longest range of days a report covers. */
#define SG_LEDGER_MAX_DAYS 366

sg_ledger *sg_ledger_new(sg_log *log);
/* Stops it (see sg_ledger_stop) and frees it.  NULL is ignored. */
void sg_ledger_free(sg_ledger *l);
/* Writes to st from now on and starts the ledger's thread: 0 or SOULGW_ENOMEM. */
int sg_ledger_start(sg_ledger *l, sg_store *st);
/* Writes what is counted, stops the thread and lets go of the store (before it closes).
 * Counting goes on in memory, to be written by the next start. */
void sg_ledger_stop(sg_ledger *l);

/* Counts one completed call of tenant: a model call (name the alias or "provider:model") or a
 * tool run (name the tool id); failed counts an error too; ns its duration.  Never blocks on
 * the store. */
void sg_ledger_add(sg_ledger *l, const char *tenant, sg_usage_kind kind, const char *name,
                   int failed, long long input_tokens, long long output_tokens, uint64_t ns);

/* The tenant's [tenants.NAME] in conf, or NULL (no budget). */
const sg_tenant_conf *sg_ledger_caps(const sg_conf *conf, const char *tenant);

/* Checks tenant's budget before a call of kind: 0 when it may go on; 1 when a cap is reached,
 * with msg naming the cap and *retry_after_s the seconds to the next UTC midnight.  caps NULL:
 * 0 at once. */
int sg_ledger_over(sg_ledger *l, const char *tenant, const sg_tenant_conf *caps,
                   sg_usage_kind kind, char *msg, size_t msglen, long *retry_after_s);

/* The clock of days: seconds since the epoch, UTC.  A test build (SOULGW_TEST_HOOKS) adds the
 * seconds written in the file $SOULGW_TEST_CLOCK_FILE, so that a test crosses midnight without
 * waiting. */
int64_t sg_ledger_now_s(void);
/* Day number (days since 1970-01-01) of "YYYY-MM-DD", or -1 when s is not a valid date. */
int64_t sg_ledger_parse_day(const char *s);
/* "YYYY-MM-DD" of day number d into out (11 bytes). */
void sg_ledger_day_text(int64_t d, char out[11]);

/* How report rows are grouped. */
typedef enum {
  SG_GROUP_NONE = 0, /* one row per day, kind and name */
  SG_GROUP_DAY,      /* per day */
  SG_GROUP_NAME,     /* per kind and name */
  SG_GROUP_KIND      /* per kind */
} sg_usage_group;

/* The usage of tenant (NULL: every tenant, rows then name theirs) from day `from` to day `to`
 * (day numbers, inclusive), durable rows and those not yet written:
 * {"tenant","from","to","rows":[{"day","kind","name","requests","input_tokens",
 * "output_tokens","errors","duration_ms"}],"totals":{...},"budget":{...}} (budget: caps, null
 * when absent, and "used_today"; null for every tenant).  SG_ST_OK or SG_ST_UNAVAILABLE. */
sg_st sg_ledger_report(sg_ledger *l, sg_store *st, const char *tenant, int64_t from, int64_t to,
                       sg_usage_group group, const sg_tenant_conf *caps, soulgw_json **out);

#endif
