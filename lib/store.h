/*
 * store.h -- the storage interface.  Routes and the gateway reach storage only through these
 * functions; store_sqlite.c implements them on SQLite and is the only file that calls SQLite.
 * A second backend (PostgreSQL, for several gateways sharing one state) implements the same
 * prototypes in its own file and is chosen at build time, without touching route code.
 *
 * Every operation names its tenant; no operation reads or writes another tenant's rows.
 *
 * Reads are synchronous and run on the calling thread.  Writes are asynchronous: the caller
 * hands over its arguments (copied) and a completion; a single writer thread batches the writes
 * of concurrent callers into one transaction (group commit) and calls each completion only
 * after that transaction has committed, so an acknowledged write is durable.  A completion runs
 * on the writer thread: it must be quick (build the answer, reply, return).  Each write runs in
 * its own savepoint: one write's refusal or failure (a conflict, an unreadable row, a statement
 * that fails) undoes that write alone and is answered to it alone; only a failure of the
 * database itself (I/O, a full disk, a failed commit) fails the batch and makes the store
 * report itself unwritable.
 *
 * Results are JSON values in the shapes the routes answer with (documented per operation);
 * completions receive ownership of the result.
 */
#ifndef SG_STORE_H
#define SG_STORE_H

#include <stdint.h>

#include "log.h"
#include "metrics.h"
#include "sg.h"

typedef struct sg_store sg_store;

/* Outcome of an operation. */
typedef enum {
  SG_ST_OK = 0,
  SG_ST_NOTFOUND,    /* 404 STORAGE.NOT_FOUND */
  SG_ST_CONFLICT,    /* 409 STORAGE.CONFLICT */
  SG_ST_UNAVAILABLE, /* 503 STORAGE.UNAVAILABLE: the database cannot be read or written */
} sg_st;

/* Write completion.  result is the operation's answer (owned by the callee, NULL unless
 * SG_ST_OK, except where an operation says otherwise); msg a human-readable reason when not
 * OK (never SQL).  Called on the writer thread, after commit. */
typedef void (*sg_store_done)(void *ud, sg_st st, soulgw_json *result, const char *msg);

typedef struct sg_store_opts {
  const char *path;    /* file, or ":memory:" */
  int sync_full;       /* PRAGMA synchronous = FULL (else NORMAL) */
  sg_family *errors;   /* soulgw_store_errors_total */
  sg_log *log;         /* for storage errors (never the data) */
} sg_store_opts;

/* Opens (creating the file and its directory when missing), applies forward migrations, starts
 * the writer thread.  Returns 0 or SOULGW_ESTORE with err filled. */
int sg_store_open(const sg_store_opts *o, sg_store **out, char *err, size_t errlen);
/* Finishes queued writes, stops the writer and closes.  NULL is ignored. */
void sg_store_close(sg_store *st);
/* 1 when the last write (or the periodic probe) succeeded. */
int sg_store_writable(sg_store *st);
/* The storage engine's version, for /version. */
const char *sg_store_engine_version(void);
/* Schema version after migrations. */
int sg_store_schema_version(sg_store *st);

/* ------------------------------------------------------------------------------------------ */
/* Tool registry versions (per tenant).  A version is {"version","manifests":[...],
 * "created_at_ms","active"}.  "bootstrap" is the version made from [tools] manifests_file. */

/* Makes sure the tenant has a "bootstrap" version holding manifests (a JSON array, copied);
 * when it had none, bootstrap also becomes the active version.  Synchronous (start-up). */
sg_st sg_store_registry_bootstrap(sg_store *st, const char *tenant, const soulgw_json *manifests,
                                  int64_t now_ms);
/* Tenants that have a registry (a JSON array of strings), for loading the active registries
 * at start-up. */
sg_st sg_store_registry_tenants(sg_store *st, soulgw_json **out);
/* Every version of the tenant, oldest first: {"versions":[version...]}. */
sg_st sg_store_registry_versions(sg_store *st, const char *tenant, soulgw_json **out);
/* The active version of the tenant (a version object), or SG_ST_NOTFOUND. */
sg_st sg_store_registry_active(sg_store *st, const char *tenant, soulgw_json **out);
/* Publishes: merges manifests (array, copied) into the tenant's active manifests (same id ->
 * replaced, new ones appended), stores the result as a new version and makes it active.
 * Result: the new version object.  SG_ST_CONFLICT ("tool registry version already exists")
 * when the version exists. */
void sg_store_registry_publish(sg_store *st, const char *tenant, const char *version,
                               const soulgw_json *manifests, int64_t now_ms, sg_store_done done,
                               void *ud);
/* Makes an existing version active again.  Result: that version object (active true).
 * SG_ST_NOTFOUND when it does not exist. */
void sg_store_registry_activate(sg_store *st, const char *tenant, const char *version,
                                sg_store_done done, void *ud);

/* ------------------------------------------------------------------------------------------ */
/* Idempotency records of tool executions. */

/* Looks up a key: SG_ST_OK with *out {"tool_id","input","status","response"} (response the JSON
 * text answered), or SG_ST_NOTFOUND. */
sg_st sg_store_idem_get(sg_store *st, const char *tenant, const char *key, soulgw_json **out);
/* Stores the answer for a key.  When the key was stored meanwhile by a concurrent request, the
 * result is the stored record (as idem_get) with "existing": true, so the caller can replay it
 * or answer 409; otherwise the result is the stored record with "existing": false. */
void sg_store_idem_put(sg_store *st, const char *tenant, const char *key, const char *tool_id,
                       const soulgw_json *input, int status, const char *response,
                       int64_t now_ms, sg_store_done done, void *ud);

/* ------------------------------------------------------------------------------------------ */
/* Collaborations.  Snapshot: {"collab_id","tenant","status","participants":[...],"context",
 * "timeline":[{"stage","note","payload","timestamp_ms"}],"resolution","created_at",
 * "updated_at"} (times in epoch ms; resolution null until resolved). */

/* Creates the collaboration ("in_progress", timeline stage "created") or advances it: new
 * participants appended without duplicates, object contexts deep-merged (a non-object context
 * replaces), a timeline entry (stage "executed", note, payload = the context given) appended.
 * participants (array of strings), context and note may be NULL.  Result: the snapshot.
 * SG_ST_CONFLICT when it is resolved. */
void sg_store_collab_execute(sg_store *st, const char *tenant, const char *collab_id,
                             const soulgw_json *participants, const soulgw_json *context,
                             const char *note, int64_t now_ms, sg_store_done done, void *ud);
/* Resolves: status "resolved", resolution {"outcome","note","resolved_at"}, timeline stage
 * "resolved".  outcome may be any JSON value (NULL: null).  Result: the snapshot.
 * SG_ST_NOTFOUND when unknown, SG_ST_CONFLICT when already resolved. */
void sg_store_collab_resolve(sg_store *st, const char *tenant, const char *collab_id,
                             const soulgw_json *outcome, const char *note, int64_t now_ms,
                             sg_store_done done, void *ud);
/* Reads a snapshot, or SG_ST_NOTFOUND. */
sg_st sg_store_collab_get(sg_store *st, const char *tenant, const char *collab_id,
                          soulgw_json **out);

/* ------------------------------------------------------------------------------------------ */
/* Repo records and graph edges. */

typedef struct sg_edge_in {
  const char *from; /* NULL: the record id */
  const char *to;
  const char *label; /* NULL: "related" */
  const soulgw_json *props; /* NULL: null */
} sg_edge_in;

/* Appends a record and its edges in one savepoint.  record_id NULL: "<repo>::<n>", n from the
 * tenant's durable record sequence (skipping ids already taken).  Edges equal in (from, to,
 * label) to one already stored, or given twice, are stored once.  Result:
 * {"tenant","repo","record_id","stored_at","edges":N} with N the distinct edges of the request.
 * SG_ST_CONFLICT ("record_id already exists") when the id is taken; nothing is written then. */
void sg_store_repo_append(sg_store *st, const char *tenant, const char *repo,
                          const char *record_id, const soulgw_json *data, const sg_edge_in *edges,
                          size_t nedges, int64_t now_ms, sg_store_done done, void *ud);
/* {"tenant","repo","record_id","data","stored_at"}, or SG_ST_NOTFOUND. */
sg_st sg_store_repo_get(sg_store *st, const char *tenant, const char *record_id,
                        soulgw_json **out);
/* Records of a repo in order of storage after the record `after` (NULL: from the start), at
 * most limit: {"records":[record...],"next":<id of the last one when more follow, else null>}.
 * SG_ST_NOTFOUND when `after` names no record of that repo. */
sg_st sg_store_repo_list(sg_store *st, const char *tenant, const char *repo, const char *after,
                         int limit, soulgw_json **out);

typedef enum { SG_DIR_OUT, SG_DIR_IN, SG_DIR_BOTH } sg_direction;

/* Breadth-first walk from node_id over edges (label NULL: any), up to depth levels and limit
 * edges, newest first within a depth: {"tenant","node_id","label","edges":[{"from","to","label",
 * "props","timestamp_ms","depth"}]}.  An unknown node gives an empty list. */
sg_st sg_store_graph_recall(sg_store *st, const char *tenant, const char *node_id,
                            const char *label, sg_direction dir, int depth, int limit,
                            soulgw_json **out);

/* ------------------------------------------------------------------------------------------ */
/* Observe events. */

/* Stores an event with id "obs-<n>" (n from the tenant's durable sequence).  Result:
 * {"tenant","topic","event_id","ingested_at"}. */
void sg_store_observe_emit(sg_store *st, const char *tenant, const char *topic,
                           const char *severity, const soulgw_json *event, const char *trace_id,
                           int64_t now_ms, sg_store_done done, void *ud);
/* Events in order of ingestion, filtered by topic / since (ms, inclusive) / severity (each
 * optional: NULL or since < 0), at most limit: {"events":[{"event_id","topic","severity",
 * "event","trace_id","ingested_at"}]}. */
sg_st sg_store_observe_query(sg_store *st, const char *tenant, const char *topic, int64_t since,
                             const char *severity, int limit, soulgw_json **out);

#endif
