/*
 * store.h -- the storage interface.  Routes and the gateway reach storage only through these
 * functions.  They are implemented once, whatever the engine (store.c, reads.c, writes.c,
 * shape.c); the engine's SQL is behind a driver table (driver.h) chosen by name when the store
 * opens: store/sqlite.c, the only file that calls SQLite (the default), or store/pg.c, the only
 * file that calls libpq (PostgreSQL, for several gateways sharing one state).
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

#include "base/log.h"
#include "base/metrics.h"
#include "base/sg.h"

typedef struct sg_store sg_store;

/* The counters of a usage ledger row (store/ledger.h): requests, input tokens, output tokens,
 * errors, duration in ms. */
#define SG_USAGE_NV 5

/* Outcome of an operation. */
typedef enum {
  SG_ST_OK = 0,
  SG_ST_NOTFOUND,    /* 404 STORAGE.NOT_FOUND */
  SG_ST_CONFLICT,    /* 409 STORAGE.CONFLICT */
  SG_ST_UNAVAILABLE, /* 503 STORAGE.UNAVAILABLE: the database cannot be read or written */
  SG_ST_TOO_LARGE,   /* 413 REQUEST.TOO_LARGE: a collaboration would outgrow its bytes */
  SG_ST_INVALID,     /* 422 SCHEMA.VALIDATION_FAILED: a value the store could not read back, or
                      * the caller's check refused; nothing written */
  SG_ST_UNREADABLE,  /* 500 UNKNOWN.INTERNAL: a stored row that cannot be read (counted and
                      * logged); an error for the operation that met it, never a null */
} sg_st;

/* Client JSON that the store keeps inside its own (a collaboration's context, outcome and
 * timeline payloads) may nest arrays and objects at most this deep ({} is one level).  The store
 * wraps it in at most two levels more and reads it back with the request parser, whose limit is
 * 512: routes refuse deeper values with a 422 naming the field, and the store refuses them too
 * (SG_ST_INVALID), so that nothing it writes is unreadable. */
#define SG_STORE_JSON_DEPTH_MAX 128

/* Write completion.  result is the operation's answer (owned by the callee, NULL unless
 * SG_ST_OK, except where an operation says otherwise); msg a human-readable reason when not
 * OK (never SQL).  Called on the writer thread, after commit. */
typedef void (*sg_store_done)(void *ud, sg_st st, soulgw_json *result, const char *msg);

typedef struct sg_store_opts {
  const char *path;    /* file, or ":memory:" */
  int sync_full;       /* PRAGMA synchronous = FULL (else NORMAL) */
  sg_family *errors;   /* soulgw_store_errors_total */
  sg_family *errors_by_kind; /* soulgw_storage_errors_total{kind} (may be NULL) */
  sg_family *pool_gauge; /* soulgw_storage_pool_connections{state}, a gauge (may be NULL) */
  sg_log *log;         /* for storage errors (never the data) */
  sg_family *rows_read; /* soulgw_store_rows_read_total{op}: rows a graph recall read */
  const char *backend; /* the driver: "sqlite" or "postgres" (NULL: the default, "sqlite") */
  /* postgres: the connection URI (a secret: never logged), the connections of the store (the
   * writer and at most pool - 1 readers; 0: no bound) and the statement timeout (0: 5000). */
  const char *url;
  int pool;
  int statement_timeout_ms;
} sg_store_opts;

/* Opens (creating the file and its directory when missing), applies forward migrations, starts
 * the writer thread.  Returns 0 or SOULGW_ESTORE with err filled (an unknown backend too). */
int sg_store_open(const sg_store_opts *o, sg_store **out, char *err, size_t errlen);
/* Finishes queued writes, stops the writer and closes.  NULL is ignored. */
void sg_store_close(sg_store *st);

/* A change of a tenant's active tool registry, committed by any gateway on the same database
 * (this one too); tenant NULL: changes may have been missed, any tenant may have changed. */
typedef void (*sg_store_change_fn)(void *ud, const char *tenant);
/* Calls fn(ud, ...) for every registry change (above), on a thread of the store's, from the
 * time it returns until sg_store_close() (which waits for fn to return).  With a backend that
 * one gateway owns alone (SQLite) there is nothing to watch: 0, and fn is never called.  On
 * PostgreSQL through LISTEN/NOTIFY: a publish or an activation notifies at COMMIT; when the
 * watch's connection drops it connects again (with backoff) and calls fn(ud, NULL).  0, or
 * SOULGW_ESTORE (called twice, or no thread). */
int sg_store_watch_registry(sg_store *st, sg_store_change_fn fn, void *ud);
/* 1 when the last write (or the periodic probe) succeeded and no connection has failed since
 * (a failed connection makes the store unavailable, logged once, until a write or the probe
 * succeeds again, logged once). */
int sg_store_writable(sg_store *st);
/* Whether the database o names can be reached, without opening a store, for `soulgw --check`:
 * 0 (SQLite: always), or SOULGW_ESTORE with why filled (never a secret). */
int sg_store_reachable(const sg_store_opts *o, char *why, size_t len);
/* The default storage engine's version (SQLite's), for /version. */
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
/* The last word on a registry version about to become active: called on the writer thread,
 * inside the transaction, before anything of the operation is written, with the version object
 * that would be stored ({"version","manifests","created_at_ms","active"}; borrowed) and the
 * operation's ud.  Returns 0 to go on, or nonzero to refuse: the operation then writes nothing
 * and completes with SG_ST_INVALID and msg (filled by the check).  Must be quick and must not
 * call the store. */
typedef int (*sg_store_check)(void *ud, const soulgw_json *version, char *msg, size_t msglen);

/* Publishes: merges manifests (array, copied) into the tenant's active manifests (same id ->
 * replaced, new ones appended), passes the result to check (when not NULL), stores it as a new
 * version and makes it active.  Result: the new version object.  SG_ST_CONFLICT ("tool
 * registry version already exists") when the version exists; SG_ST_INVALID when check
 * refused. */
void sg_store_registry_publish(sg_store *st, const char *tenant, const char *version,
                               const soulgw_json *manifests, int64_t now_ms, sg_store_check check,
                               sg_store_done done, void *ud);
/* Makes an existing version active again, once check (when not NULL) has accepted it.
 * Result: that version object (active true).  SG_ST_NOTFOUND when it does not exist;
 * SG_ST_INVALID when check refused. */
void sg_store_registry_activate(sg_store *st, const char *tenant, const char *version,
                                sg_store_check check, sg_store_done done, void *ud);

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
 * "timeline":[{"seq","stage","note","payload","timestamp_ms"}],"timeline_total","resolution",
 * "created_at","updated_at"} (times in epoch ms; resolution null until resolved).  The
 * timeline of a snapshot holds the window most recent entries, oldest first; seq numbers the
 * entries of a collaboration from 0, and timeline_total counts them all (the rest are read with
 * sg_store_collab_timeline()). */

/* The bounds of one collaboration ([collab] in the configuration). */
typedef struct sg_collab_limits {
  int64_t max_entries; /* timeline entries: an execute past them is SG_ST_CONFLICT */
  int64_t max_bytes;   /* bytes of its JSON texts (participants, context, resolution, every
                        * timeline entry): an execute past them is SG_ST_TOO_LARGE */
  int window;          /* timeline entries in a snapshot: the most recent ones */
} sg_collab_limits;
#define SG_COLLAB_MAX_ENTRIES 1000
#define SG_COLLAB_MAX_BYTES (4 << 20)
#define SG_COLLAB_WINDOW 50

/* Creates the collaboration ("in_progress", timeline stage "created") or advances it: new
 * participants appended without duplicates, object contexts deep-merged (a non-object context
 * replaces), a timeline entry (stage "executed", note, payload = the context given) appended.
 * participants (array of strings), context and note may be NULL; lim (copied) NULL means the
 * defaults above.  Result: the snapshot.  SG_ST_CONFLICT when it is resolved or has
 * lim->max_entries entries, SG_ST_TOO_LARGE when it would hold more than lim->max_bytes,
 * SG_ST_INVALID when context nests deeper than SG_STORE_JSON_DEPTH_MAX, SG_ST_UNREADABLE when
 * its stored row cannot be read; nothing is written then. */
void sg_store_collab_execute(sg_store *st, const char *tenant, const char *collab_id,
                             const soulgw_json *participants, const soulgw_json *context,
                             const char *note, const sg_collab_limits *lim, int64_t now_ms,
                             sg_store_done done, void *ud);
/* Resolves: status "resolved", resolution {"outcome","note","resolved_at"}, timeline stage
 * "resolved".  outcome may be any JSON value (NULL: null).  Resolving is never refused for
 * the collaboration's size: it adds the final entry.  Result: the snapshot (lim as above).
 * SG_ST_NOTFOUND when unknown, SG_ST_CONFLICT when already resolved, SG_ST_INVALID and
 * SG_ST_UNREADABLE as for execute. */
void sg_store_collab_resolve(sg_store *st, const char *tenant, const char *collab_id,
                             const soulgw_json *outcome, const char *note,
                             const sg_collab_limits *lim, int64_t now_ms, sg_store_done done,
                             void *ud);
/* Reads a snapshot with the default window, or SG_ST_NOTFOUND. */
sg_st sg_store_collab_get(sg_store *st, const char *tenant, const char *collab_id,
                          soulgw_json **out);
/* Timeline entries with seq > after (after < 0: from the first), oldest first, at most limit:
 * {"collab_id","tenant","timeline":[entry...],"timeline_total","next":<seq of the last entry
 * when more follow, else null>}.  SG_ST_NOTFOUND when the collaboration does not exist. */
sg_st sg_store_collab_timeline(sg_store *st, const char *tenant, const char *collab_id,
                               int64_t after, int limit, soulgw_json **out);

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
 * "props","timestamp_ms","depth"}]}.  An unknown node gives an empty list.  Reads at most
 * 4 x limit edge rows (limit going one way), counted in opts' rows_read as op "graph_recall"
 * (on PostgreSQL, which walks in one statement: the edges answered);
 * SG_ST_UNAVAILABLE when the database fails or memory runs out, never a partial list. */
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

/* ------------------------------------------------------------------------------------------ */
/* HMAC nonces shared by the gateways of one database (SPEC-cluster 2: the table
 * replay_nonces).  Not per tenant: a key is an accepted signature, unique whoever signed it. */

/* 1 when the engine keeps nonces (PostgreSQL), 0 when it does not (SQLite: one gateway, whose
 * memory is the replay cache). */
int sg_store_has_nonces(const sg_store *st);
/* Claims key until expires_ms (epoch ms), through the writer (so that the claim is committed
 * before it is answered, and seen by every gateway then); rows expired at now_ms are deleted
 * now and then (at most once a minute).  Synchronous.  SG_ST_OK when claimed, SG_ST_CONFLICT
 * when a live claim holds the key, SG_ST_UNAVAILABLE when the database cannot answer or the
 * engine keeps no nonces. */
sg_st sg_store_nonce_claim(sg_store *st, const char *key, int64_t expires_ms, int64_t now_ms);

#endif
