/*
 * driver.h -- what a storage engine implements for the store.
 *
 * The store is a front and a driver.  The front (store.c, reads.c, writes.c, shape.c) holds
 * everything that does not depend on the engine: the connection pool, the writer thread and its
 * queue, group commit with a savepoint per write, completions, the JSON shapes of the answers,
 * merges and the graph walk.  A driver holds one engine's SQL and bindings behind a const table
 * of function pointers, as curl's `struct Curl_ssl` or SQLite's `sqlite3_mutex_methods`; the
 * front picks the table by name when the store opens (sg_store_opts.backend).  store/sqlite.c
 * is the default driver and the only file that calls SQLite; store/pg.c (SPEC-cluster.md)
 * implements the same table for PostgreSQL with its own SQL, and is the only file that calls
 * libpq.
 *
 * Connections.  The front opens connections through the driver and keeps them: one writer
 * connection, used by the writer thread only, and a pool of reader connections, each used by one
 * thread at a time.  A driver's connection begins with an sg_conn (its first member, zeroed), so
 * the front reaches the methods from the connection alone.
 *
 * Errors.  A method returns 0 or an error: one of the SG_DRV_ codes below (negative), or a
 * positive code of the engine's own that only the driver reads (describe(), fatal()).  The front
 * never sees SQL or the engine's messages except through describe(), for the log.
 *
 * Rows.  A read hands each row to a row function, which reads the columns it needs through the
 * driver's text() and integer() (sg_row_text(), sg_row_int() below), in the order its method
 * lists them; they are valid until the function returns.  The driver copies nothing and
 * allocates nothing per row, and a column nobody reads costs nothing.  The row function returns
 * 0 for the next row, SG_DRV_STOP to end the read (which then returns 0), or an SG_DRV_ error
 * that ends the read and is returned by it.
 *
 * Writes.  The write methods run on the writer connection, inside the transaction the front
 * began and the savepoint it opened for the write.  A method that reports SG_DRV_CONFLICT leaves
 * the transaction usable (with PostgreSQL: ON CONFLICT DO NOTHING and a row count, not a failed
 * statement), so that the front can try another key or roll the write back alone.
 */
#ifndef SG_STORE_DRIVER_H
#define SG_STORE_DRIVER_H

#include <stddef.h>
#include <stdint.h>

#include "store/store.h"

/* The front's codes, in a driver's answers and in row functions'.  0 is success; a positive
 * code is the engine's. */
enum {
  SG_DRV_STOP = -1,       /* row function: stop reading, without an error */
  SG_DRV_CONFLICT = -2,   /* an insert whose key is taken; the transaction stays usable */
  SG_DRV_NOMEM = -3,      /* out of memory */
  SG_DRV_UNREADABLE = -4, /* a stored value that is not what the store writes */
  SG_DRV_FAILED = -5,     /* a failure the engine gave no code for */
  SG_DRV_CANTOPEN = -6,   /* no connection could be opened */
  SG_DRV_SKIP = -7,       /* probe: nothing to probe (a database that lives in memory) */
};

typedef struct sg_store_driver sg_store_driver;

/* The tables a database is moved to another engine with (store/migrate.c), in the order they
 * are copied; a driver's dump() gives each one's rows with the columns listed, in this order. */
enum {
  SG_TBL_SEQUENCES,   /* (tenant, name, value) */
  SG_TBL_REGISTRY,    /* (tenant, version, manifests, created_at_ms), each tenant's oldest first */
  SG_TBL_ACTIVE,      /* (tenant, version) */
  SG_TBL_IDEMPOTENCY, /* (tenant, key, tool_id, input, status, response, created_at_ms) */
  SG_TBL_COLLABS,     /* (tenant, collab_id, status, participants, context, resolution,
                       *  created_at, updated_at, entries, timeline_bytes) */
  SG_TBL_TIMELINE,    /* (tenant, collab_id, seq, entry), each collaboration's in order */
  SG_TBL_RECORDS,     /* (tenant, record_id, repo, data, stored_at), in the order of storage */
  SG_TBL_EDGES,       /* (tenant, src, dst, label, props, ts), in the order of storage */
  SG_TBL_EVENTS,      /* (tenant, seq, topic, severity, event, trace_id, ingested_at), in the
                       *  order of ingestion */
  SG_TBL_USAGE,       /* (tenant, day, kind, name, requests, input_tokens, output_tokens, errors,
                       *  duration_ms) */
  SG_TBL_COUNT
};

/* A row of a read, as the driver holds it (SQLite: its statement; libpq: a result and a row
 * number).  Each driver's row begins with this. */
typedef struct sg_row {
  const sg_store_driver *drv;
} sg_row;

/* Receives one row of a read (see Rows above). */
typedef int (*sg_row_fn)(void *ud, const sg_row *row);

/* The head of every connection of a driver.  The driver sets drv; the links are the front's
 * (its pool of readers). */
typedef struct sg_conn {
  const sg_store_driver *drv;
  struct sg_conn *next_free, *next_all;
} sg_conn;

/* An edge of a record_append: from (NULL: the record), to, label, props (JSON text or NULL). */
typedef struct sg_edge_text {
  const char *from, *to, *label, *props;
} sg_edge_text;

/* An append of record_append_many(): its arguments and its outcome. */
typedef struct sg_append {
  const char *tenant, *repo, *record_id, *data; /* record_id NULL: generated */
  int64_t stored_at;
  size_t nedges;
  const sg_edge_text *edges;
  int rc;       /* out: 0, SG_DRV_CONFLICT or the error (the append undone) */
  char id[512]; /* out: the record_id stored */
} sg_append;

/* Receives a registry change (driver.watch). */
typedef sg_store_change_fn sg_watch_fn;

/* A driver's state for one store (its database's address and options), opaque to the front. */
typedef struct sg_drv sg_drv;

/* The head row of a collaboration (the JSON members as their text). */
typedef struct sg_collab_row {
  const char *status, *participants, *context, *resolution;
  int64_t created_at, updated_at, entries, timeline_bytes;
} sg_collab_row;

struct sg_store_driver {
  /* Its name in sg_store_opts.backend, and the key of the engine's message in log lines. */
  const char *name;
  /* The engine's version, for /version. */
  const char *(*version)(void);

  /* ---- The database and its connections ---- */

  /* Optional (NULL: nothing to check): whether the database of o can be reached, without
   * opening the store (`soulgw --check`).  0, or an error with why filled, without secrets. */
  int (*reach)(const sg_store_opts *o, char *why, size_t len);

  /* Prepares the store's database from o (creating what must exist before a connection can
   * open it).  0, or -1 with err filled. */
  int (*open)(const sg_store_opts *o, sg_drv **out, char *err, size_t errlen);
  /* Frees what open made, once every connection is closed.  NULL is ignored. */
  void (*close)(sg_drv *d);
  /* Opens a connection: the writer (reader 0) or a reader, which writes nothing.  0, or an
   * error with err filled. */
  int (*connect)(sg_drv *d, int reader, sg_conn **out, char *err, size_t errlen);
  /* Closes a connection.  NULL is ignored. */
  void (*disconnect)(sg_conn *c);
  /* Optional (NULL: one gateway per database, nothing to watch): watches the database for
   * registry changes committed by any gateway (this one too), from a connection and a thread
   * of its own, listening before it returns.  Calls fn(ud, tenant) on that thread for each
   * tenant whose active registry changed, and fn(ud, NULL) when changes may have been missed
   * (the watch was not listening for a while, and listens again).  0 or an error. */
  int (*watch)(sg_drv *d, sg_watch_fn fn, void *ud);
  /* Stops the watch, once fn has returned.  Nothing when none runs. */
  void (*unwatch)(sg_drv *d);
  /* Brings the schema up to date on the writer connection; *version gets the schema version.
   * 0, or -1 with err filled. */
  int (*migrate)(sg_drv *d, sg_conn *c, int *version, char *err, size_t errlen);

  /* ---- Columns of a row, valid until its row function returns ---- */

  /* Column i as text: NULL for SQL NULL; *len (when len is not NULL) gets its bytes. */
  const char *(*text)(const sg_row *r, int i, size_t *len);
  /* Column i as an integer (SQL NULL: 0). */
  int64_t (*integer)(const sg_row *r, int i);

  /* ---- Errors ---- */

  /* The message and the code to log for err, met on c (NULL: on no connection). */
  void (*describe)(sg_conn *c, int err, const char **msg, int *code);
  /* Optional (NULL: "connect" for SG_DRV_CANTOPEN, else "other"): the kind of err for
   * soulgw_storage_errors_total{kind}: "connect" (the server cannot be reached: the store is
   * unavailable until a statement succeeds again), "timeout", "conflict" or "other". */
  const char *(*kind)(int err);
  /* 1 when err, met by a write, is the database's failure (the transaction is lost, the disk
   * failed or is full...) rather than that write's alone: the front then fails the batch. */
  int (*fatal)(sg_conn *c, int err);

  /* ---- Transactions: the writer's batch and each write's savepoint ---- */

  int (*begin)(sg_conn *c);
  int (*commit)(sg_conn *c);
  /* Ends the transaction without keeping it; nothing when none is open. */
  int (*rollback)(sg_conn *c);
  int (*savepoint)(sg_conn *c);
  int (*release)(sg_conn *c);
  int (*rollback_to)(sg_conn *c);
  /* A small write in a transaction of its own, when the writer is idle, that says whether the
   * database can still be written: 0, an error, or SG_DRV_SKIP. */
  int (*probe)(sg_conn *c);
  /* One consistent view for the reads of a reader connection between the two (a graph walk's
   * queries).  read_begin's failure is not an error: the reads go on without it. */
  int (*read_begin)(sg_conn *c);
  void (*read_end)(sg_conn *c);

  /* ---- Rows (every method names its tenant) ---- */

  /* The next value of a tenant's durable sequence `name` (from 1). */
  int (*seq_next)(sg_conn *c, const char *tenant, const char *name, int64_t *out);

  /* Registry versions.  Rows: (version, manifests, created_at_ms). */
  int (*reg_exists)(sg_conn *c, const char *tenant, const char *version, int *exists);
  int (*reg_active)(sg_conn *c, const char *tenant, sg_row_fn fn, void *ud);
  int (*reg_get)(sg_conn *c, const char *tenant, const char *version, sg_row_fn fn, void *ud);
  /* Every version, oldest first; rows (version, manifests, created_at_ms, active 0/1). */
  int (*reg_versions)(sg_conn *c, const char *tenant, sg_row_fn fn, void *ud);
  /* Tenants that have an active version, in order; rows (tenant). */
  int (*reg_tenants)(sg_conn *c, sg_row_fn fn, void *ud);
  /* Stores a version after the tenant's others; SG_DRV_CONFLICT when it exists. */
  int (*reg_insert)(sg_conn *c, const char *tenant, const char *version, const char *manifests,
                    int64_t created_at_ms);
  int (*reg_set_active)(sg_conn *c, const char *tenant, const char *version);

  /* Idempotency records.  Rows: (tool_id, input, status, response). */
  int (*idem_get)(sg_conn *c, const char *tenant, const char *key, sg_row_fn fn, void *ud);
  /* Stores a record unless the key has one; *inserted says which. */
  int (*idem_insert)(sg_conn *c, const char *tenant, const char *key, const char *tool_id,
                     const char *input, int status, const char *response, int64_t created_at_ms,
                     int *inserted);

  /* Collaborations.  Rows: (status, participants, context, resolution, created_at, updated_at,
   * entries, timeline_bytes). */
  int (*collab_get)(sg_conn *c, const char *tenant, const char *collab_id, sg_row_fn fn,
                    void *ud);
  /* Writes the head row, creating it or replacing every member but created_at. */
  int (*collab_put)(sg_conn *c, const char *tenant, const char *collab_id,
                    const sg_collab_row *row);
  int (*timeline_append)(sg_conn *c, const char *tenant, const char *collab_id, int64_t seq,
                         const char *entry);
  /* Entries with seq > after, oldest first, at most limit; rows (seq, entry). */
  int (*timeline_range)(sg_conn *c, const char *tenant, const char *collab_id, int64_t after,
                        int limit, sg_row_fn fn, void *ud);

  /* Records and edges. */
  /* SG_DRV_CONFLICT when the tenant has the record_id. */
  int (*record_insert)(sg_conn *c, const char *tenant, const char *record_id, const char *repo,
                       const char *data, int64_t stored_at);
  /* Optional (NULL: the front runs seq_next, record_insert and edge_insert): a record and its
   * n edges in one statement.  record_id NULL: "<repo>::<n>", n from the tenant's "record"
   * sequence.  0 with the record_id stored in id (idlen bytes), or SG_DRV_CONFLICT when the
   * tenant has it (nothing stored; a generated one's number is spent, as with seq_next). */
  int (*record_append)(sg_conn *c, const char *tenant, const char *repo, const char *record_id,
                       const char *data, int64_t stored_at, size_t n, const sg_edge_text *edges,
                       char *id, size_t idlen);
  /* Optional (NULL: record_append one by one): the n appends of a batch in as few round trips
   * (or statements) as the engine allows, as if each ran in a savepoint of its own: an append
   * that fails is undone alone, numbers it took given back (a[i].rc the error; the others go
   * on).  The driver may run them under one savepoint and go one savepoint each only when one
   * fails.  a[i].rc 0 with a[i].id, or SG_DRV_CONFLICT (nothing stored).  Returns 0, or an
   * error that broke the transaction (the batch fails). */
  int (*record_append_many)(sg_conn *c, sg_append *a, size_t n);
  /* Rows: (repo, data, stored_at). */
  int (*record_get)(sg_conn *c, const char *tenant, const char *record_id, sg_row_fn fn,
                    void *ud);
  /* The position of a record of repo in the order of storage (> 0), or -1 when it has none. */
  int (*record_pos)(sg_conn *c, const char *tenant, const char *repo, const char *record_id,
                    int64_t *pos);
  /* Records of repo after position `after` (< 0: from the first) in the order of storage, at
   * most limit; rows (record_id, data, stored_at). */
  int (*record_list)(sg_conn *c, const char *tenant, const char *repo, int64_t after, int limit,
                     sg_row_fn fn, void *ud);
  /* Stores an edge; one equal in (from, to, label) is kept as it is.  props: JSON text or
   * NULL. */
  int (*edge_insert)(sg_conn *c, const char *tenant, const char *from, const char *to,
                     const char *label, const char *props, int64_t ts);
  /* The last stored edges leaving (in: arriving at) any of the n nodes, with the label (NULL:
   * any), at most limit, last stored first; rows (id, from, to, label, props, ts), id growing
   * with the order of storage. */
  int (*edges_touching)(sg_conn *c, const char *tenant, const char *const *nodes, size_t n,
                        const char *label, int in, int limit, sg_row_fn fn, void *ud);
  /* Optional (NULL: the front walks with edges_touching()): the whole breadth-first walk of
   * sg_store_graph_recall() in one statement, with the same limits and order as shape.c's
   * walk; dir is an sg_direction.  Rows (id, from, to, label, props, ts, depth), in the
   * answer's order. */
  int (*graph)(sg_conn *c, const char *tenant, const char *node, const char *label, int dir,
               int depth, int limit, sg_row_fn fn, void *ud);

  /* Observe events. */
  int (*event_insert)(sg_conn *c, const char *tenant, int64_t seq, const char *topic,
                      const char *severity, const char *event, const char *trace_id,
                      int64_t ingested_at);
  /* In the order of ingestion, filtered by topic, since (ms, inclusive) and severity (NULL or
   * since < 0: any), at most limit; rows (seq, topic, severity, event, trace_id,
   * ingested_at). */
  int (*event_query)(sg_conn *c, const char *tenant, const char *topic, int64_t since,
                     const char *severity, int limit, sg_row_fn fn, void *ud);

  /* The usage ledger (store/ledger.c).  Adds v (SG_USAGE_NV counters: requests, input tokens,
   * output tokens, errors, duration ms) to the row of (tenant, day "YYYY-MM-DD", kind, name),
   * made at zero when missing. */
  int (*usage_add)(sg_conn *c, const char *tenant, const char *day, const char *kind,
                   const char *name, const int64_t v[SG_USAGE_NV]);
  /* Rows with from <= day <= to of tenant (NULL: every tenant), ordered by tenant, day, kind and
   * name; rows (tenant, day, kind, name, requests, input_tokens, output_tokens, errors,
   * duration_ms). */
  int (*usage_range)(sg_conn *c, const char *tenant, const char *from, const char *to,
                     sg_row_fn fn, void *ud);

  /* ---- Moving a database to another engine (store/migrate.c); each may be NULL ---- */

  /* The source's: every row of table (an SG_TBL_), every tenant's, as its comment says. */
  int (*dump)(sg_conn *c, int table, sg_row_fn fn, void *ud);
  /* The rows of every SG_TBL_ table together, into *n (0: an empty database). */
  int (*rows)(sg_conn *c, int64_t *n);
  /* The target's: sets a tenant's sequence `name` to value (the next seq_next gives value+1). */
  int (*seq_set)(sg_conn *c, const char *tenant, const char *name, int64_t value);

  /* HMAC nonces (optional: NULL when the engine keeps none).  Claims key until expires_ms
   * unless a claim that is live at now_ms holds it (SG_DRV_CONFLICT); purge: first delete the
   * rows expired at now_ms. */
  int (*nonce_claim)(sg_conn *c, const char *key, int64_t expires_ms, int64_t now_ms,
                     int purge);
};

/* Column i of a row as text, NULL for SQL NULL. */
static inline const char *sg_row_text(const sg_row *r, int i) {
  return r->drv->text(r, i, NULL);
}
/* Column i of a row as text and its length in bytes. */
static inline const char *sg_row_textn(const sg_row *r, int i, size_t *len) {
  return r->drv->text(r, i, len);
}
/* Column i of a row as an integer. */
static inline int64_t sg_row_int(const sg_row *r, int i) { return r->drv->integer(r, i); }

/* The drivers built in. */
extern const sg_store_driver sg_store_sqlite;
extern const sg_store_driver sg_store_pg;

#endif
