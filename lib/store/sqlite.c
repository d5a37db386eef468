/*
 * sqlite.c -- the SQLite driver of the store (driver.h), and the only file that calls SQLite:
 * the schema and its migrations, the SQL of every operation, connections and their bindings.
 *
 * The database is one file in WAL mode, so that readers proceed while the writer commits; the
 * front (store.c) keeps one writer connection and a pool of readers.  Every statement is
 * prepared once per connection and bound; no SQL is built from strings.  The schema is
 * versioned with PRAGMA user_version and migrated forward at open.
 *
 * Reads go through one skeleton, read_rows(): bind, step, hand each row to the front's row
 * function (which reads the columns it needs with sq_text() and sq_integer()), reset.
 * Statements without rows go through exec_q().
 *
 * The appends of a batch run together (sq_record_append_many): under one savepoint, with each
 * tenant's "record" sequence read once, counted in memory and written back once, since the
 * writer holds the database's write lock for the whole batch.  Only when one fails otherwise
 * than by a conflict do they go again one savepoint each.
 *
 * ":memory:" (tests) is a private in-memory database shared by the store's connections.
 */
#include <errno.h>
#include <fcntl.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "base/log.h"
#include "base/sg.h"
#include "store/driver.h"

/* ------------------------------------------------------------------------------------------ */
/* Schema */

static const char *const migrations[] = {
    /* 1 */
    "CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT) WITHOUT ROWID;"
    "CREATE TABLE sequences(tenant TEXT NOT NULL, name TEXT NOT NULL, value INTEGER NOT NULL,"
    " PRIMARY KEY(tenant, name)) WITHOUT ROWID;"
    "CREATE TABLE registry_versions(tenant TEXT NOT NULL, version TEXT NOT NULL,"
    " seq INTEGER NOT NULL, manifests TEXT NOT NULL, created_at_ms INTEGER NOT NULL,"
    " PRIMARY KEY(tenant, version));"
    "CREATE UNIQUE INDEX registry_versions_order ON registry_versions(tenant, seq);"
    "CREATE TABLE registry_active(tenant TEXT PRIMARY KEY, version TEXT NOT NULL) WITHOUT ROWID;"
    "CREATE TABLE idempotency(tenant TEXT NOT NULL, key TEXT NOT NULL, tool_id TEXT NOT NULL,"
    " input TEXT NOT NULL, status INTEGER NOT NULL, response TEXT NOT NULL,"
    " created_at_ms INTEGER NOT NULL, PRIMARY KEY(tenant, key));"
    "CREATE TABLE collabs(tenant TEXT NOT NULL, collab_id TEXT NOT NULL, status TEXT NOT NULL,"
    " snapshot TEXT NOT NULL, updated_at INTEGER NOT NULL, PRIMARY KEY(tenant, collab_id));"
    "CREATE TABLE records(id INTEGER PRIMARY KEY, tenant TEXT NOT NULL, record_id TEXT NOT NULL,"
    " repo TEXT NOT NULL, data TEXT NOT NULL, stored_at INTEGER NOT NULL);"
    "CREATE UNIQUE INDEX records_key ON records(tenant, record_id);"
    "CREATE INDEX records_repo ON records(tenant, repo, id);"
    "CREATE TABLE edges(id INTEGER PRIMARY KEY, tenant TEXT NOT NULL, src TEXT NOT NULL,"
    " dst TEXT NOT NULL, label TEXT NOT NULL, props TEXT, ts INTEGER NOT NULL);"
    "CREATE UNIQUE INDEX edges_out ON edges(tenant, src, label, dst);"
    "CREATE INDEX edges_in ON edges(tenant, dst, id);"
    "CREATE TABLE observe(id INTEGER PRIMARY KEY, tenant TEXT NOT NULL, seq INTEGER NOT NULL,"
    " topic TEXT NOT NULL, severity TEXT NOT NULL, event TEXT NOT NULL, trace_id TEXT,"
    " ingested_at INTEGER NOT NULL);"
    "CREATE INDEX observe_tenant ON observe(tenant, id);"
    "CREATE INDEX observe_topic ON observe(tenant, topic, id);",
    /* 2: a collaboration's timeline entries become rows of their own, so that a write appends
     * one entry instead of rewriting a snapshot that grows with every call.  A snapshot that is
     * not valid JSON (none should be) is kept, as its context, under status "unreadable". */
    "CREATE TABLE collab_timeline(id INTEGER PRIMARY KEY, tenant TEXT NOT NULL,"
    " collab_id TEXT NOT NULL, seq INTEGER NOT NULL, entry TEXT NOT NULL);"
    "CREATE UNIQUE INDEX collab_timeline_key ON collab_timeline(tenant, collab_id, seq);"
    "INSERT INTO collab_timeline(tenant, collab_id, seq, entry)"
    " SELECT c.tenant, c.collab_id,"
    "  row_number() OVER (PARTITION BY c.tenant, c.collab_id ORDER BY j.key) - 1, j.value"
    " FROM collabs c, json_each(CASE WHEN json_valid(c.snapshot)"
    "  AND json_type(c.snapshot, '$.timeline') = 'array'"
    "  THEN json_extract(c.snapshot, '$.timeline') ELSE '[]' END) j"
    " WHERE j.type = 'object';"
    "CREATE TABLE collabs2(tenant TEXT NOT NULL, collab_id TEXT NOT NULL, status TEXT NOT NULL,"
    " participants TEXT NOT NULL, context TEXT NOT NULL, resolution TEXT NOT NULL,"
    " created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL, entries INTEGER NOT NULL,"
    " timeline_bytes INTEGER NOT NULL, PRIMARY KEY(tenant, collab_id));"
    "INSERT INTO collabs2 SELECT c.tenant, c.collab_id,"
    " CASE WHEN json_valid(c.snapshot) THEN c.status ELSE 'unreadable' END,"
    " CASE WHEN json_valid(c.snapshot) THEN coalesce(c.snapshot -> '$.participants', '[]')"
    "  ELSE '[]' END,"
    " CASE WHEN json_valid(c.snapshot) THEN coalesce(c.snapshot -> '$.context', '{}')"
    "  ELSE c.snapshot END,"
    " CASE WHEN json_valid(c.snapshot) THEN coalesce(c.snapshot -> '$.resolution', 'null')"
    "  ELSE 'null' END,"
    " coalesce(CASE WHEN json_valid(c.snapshot) THEN c.snapshot ->> '$.created_at' END,"
    "  c.updated_at), c.updated_at,"
    " (SELECT count(*) FROM collab_timeline t WHERE t.tenant = c.tenant"
    "  AND t.collab_id = c.collab_id),"
    " (SELECT coalesce(sum(length(CAST(t.entry AS BLOB))), 0) FROM collab_timeline t"
    "  WHERE t.tenant = c.tenant AND t.collab_id = c.collab_id)"
    " FROM collabs c;"
    "DROP TABLE collabs;"
    "ALTER TABLE collabs2 RENAME TO collabs;",
    /* 3: the usage ledger (SPEC-llm-routing 3), one row per tenant, UTC day, kind and name */
    "CREATE TABLE usage_ledger(tenant TEXT NOT NULL, day TEXT NOT NULL, kind TEXT NOT NULL,"
    " name TEXT NOT NULL, requests INTEGER NOT NULL, input_tokens INTEGER NOT NULL,"
    " output_tokens INTEGER NOT NULL, errors INTEGER NOT NULL, duration_ms INTEGER NOT NULL,"
    " PRIMARY KEY(tenant, day, kind, name)) WITHOUT ROWID;"
    "CREATE INDEX usage_ledger_day ON usage_ledger(day);",
};
#define SCHEMA_VERSION ((int)(sizeof migrations / sizeof migrations[0]))

/* Prepared statements, by id.  Each connection prepares the ones it uses on first use. */
enum {
  Q_BEGIN, Q_COMMIT, Q_ROLLBACK, Q_SAVEPOINT, Q_RELEASE, Q_ROLLBACK_TO, Q_PROBE, Q_SEQ_NEXT,
  Q_SEQ_GET, Q_SEQ_SET, Q_RUN_SAVEPOINT, Q_RUN_RELEASE, Q_RUN_ROLLBACK_TO,
  Q_REG_INSERT, Q_REG_EXISTS, Q_REG_SET_ACTIVE, Q_REG_ACTIVE, Q_REG_GET, Q_REG_LIST,
  Q_REG_TENANTS, Q_REG_NEXT_SEQ,
  Q_IDEM_GET, Q_IDEM_INSERT,
  Q_COLLAB_GET, Q_COLLAB_PUT, Q_TL_INSERT, Q_TL_RANGE,
  Q_REC_INSERT, Q_REC_GET, Q_REC_POS, Q_REC_LIST, Q_REC_LIST_ALL, Q_EDGE_INSERT,
  Q_EDGES_OUT, Q_EDGES_OUT_LABEL, Q_EDGES_IN, Q_EDGES_IN_LABEL,
  Q_OBS_INSERT, Q_OBS_QUERY,
  Q_USAGE_ADD, Q_USAGE_RANGE,
  Q_COUNT
};

static const char *const sql[Q_COUNT] = {
    [Q_BEGIN] = "BEGIN IMMEDIATE",
    [Q_COMMIT] = "COMMIT",
    [Q_ROLLBACK] = "ROLLBACK",
    [Q_SAVEPOINT] = "SAVEPOINT w",
    [Q_RELEASE] = "RELEASE w",
    [Q_ROLLBACK_TO] = "ROLLBACK TO w",
    [Q_PROBE] = "INSERT OR REPLACE INTO meta(key, value) VALUES('probe', ?1)",
    [Q_SEQ_NEXT] = "INSERT INTO sequences(tenant, name, value) VALUES(?1, ?2, 1)"
                   " ON CONFLICT(tenant, name) DO UPDATE SET value = value + 1 RETURNING value",
    /* A run of appends (sq_record_append_many) reads a tenant's "record" sequence once, counts
     * in memory and writes the last value back once: an upsert with RETURNING per append
     * costs a temporary b-tree each (about a quarter of the writer's time). */
    [Q_SEQ_GET] = "SELECT value FROM sequences WHERE tenant = ?1 AND name = ?2",
    [Q_SEQ_SET] = "INSERT INTO sequences(tenant, name, value) VALUES(?1, ?2, ?3)"
                  " ON CONFLICT(tenant, name) DO UPDATE SET value = excluded.value",
    /* the savepoint of a whole run of appends, outside the front's "w" */
    [Q_RUN_SAVEPOINT] = "SAVEPOINT r",
    [Q_RUN_RELEASE] = "RELEASE r",
    [Q_RUN_ROLLBACK_TO] = "ROLLBACK TO r",
    [Q_REG_INSERT] = "INSERT INTO registry_versions(tenant, version, seq, manifests, created_at_ms)"
                     " VALUES(?1, ?2, ?3, ?4, ?5)",
    [Q_REG_EXISTS] = "SELECT 1 FROM registry_versions WHERE tenant = ?1 AND version = ?2",
    [Q_REG_SET_ACTIVE] = "INSERT INTO registry_active(tenant, version) VALUES(?1, ?2)"
                         " ON CONFLICT(tenant) DO UPDATE SET version = excluded.version",
    [Q_REG_ACTIVE] = "SELECT v.version, v.manifests, v.created_at_ms FROM registry_active a"
                     " JOIN registry_versions v ON v.tenant = a.tenant AND v.version = a.version"
                     " WHERE a.tenant = ?1",
    [Q_REG_GET] = "SELECT version, manifests, created_at_ms FROM registry_versions"
                  " WHERE tenant = ?1 AND version = ?2",
    [Q_REG_LIST] = "SELECT v.version, v.manifests, v.created_at_ms, v.version = a.version"
                   " FROM registry_versions v LEFT JOIN registry_active a ON a.tenant = v.tenant"
                   " WHERE v.tenant = ?1 ORDER BY v.seq",
    [Q_REG_TENANTS] = "SELECT tenant FROM registry_active ORDER BY tenant",
    [Q_REG_NEXT_SEQ] = "SELECT coalesce(max(seq), 0) + 1 FROM registry_versions WHERE tenant = ?1",
    [Q_IDEM_GET] = "SELECT tool_id, input, status, response FROM idempotency"
                   " WHERE tenant = ?1 AND key = ?2",
    [Q_IDEM_INSERT] = "INSERT OR IGNORE INTO idempotency(tenant, key, tool_id, input, status,"
                      " response, created_at_ms) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    [Q_COLLAB_GET] = "SELECT status, participants, context, resolution, created_at, updated_at,"
                     " entries, timeline_bytes FROM collabs WHERE tenant = ?1 AND collab_id = ?2",
    [Q_COLLAB_PUT] = "INSERT INTO collabs(tenant, collab_id, status, participants, context,"
                     " resolution, created_at, updated_at, entries, timeline_bytes)"
                     " VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)"
                     " ON CONFLICT(tenant, collab_id) DO UPDATE SET status = excluded.status,"
                     " participants = excluded.participants, context = excluded.context,"
                     " resolution = excluded.resolution, updated_at = excluded.updated_at,"
                     " entries = excluded.entries, timeline_bytes = excluded.timeline_bytes",
    [Q_TL_INSERT] = "INSERT INTO collab_timeline(tenant, collab_id, seq, entry)"
                    " VALUES(?1, ?2, ?3, ?4)",
    [Q_TL_RANGE] = "SELECT seq, entry FROM collab_timeline"
                   " WHERE tenant = ?1 AND collab_id = ?2 AND seq > ?3 ORDER BY seq LIMIT ?4",
    [Q_REC_INSERT] = "INSERT INTO records(tenant, record_id, repo, data, stored_at)"
                     " VALUES(?1, ?2, ?3, ?4, ?5)",
    [Q_REC_GET] = "SELECT repo, data, stored_at FROM records WHERE tenant = ?1 AND record_id = ?2",
    [Q_REC_POS] = "SELECT id FROM records WHERE tenant = ?1 AND record_id = ?2 AND repo = ?3",
    [Q_REC_LIST] = "SELECT record_id, data, stored_at FROM records"
                   " WHERE tenant = ?1 AND repo = ?2 AND id > ?3 ORDER BY id LIMIT ?4",
    [Q_REC_LIST_ALL] = "SELECT record_id, data, stored_at FROM records"
                       " WHERE tenant = ?1 AND repo = ?2 ORDER BY id LIMIT ?3",
    [Q_EDGE_INSERT] = "INSERT OR IGNORE INTO edges(tenant, src, dst, label, props, ts)"
                      " VALUES(?1, ?2, ?3, ?4, ?5, ?6)",
    /* A walk's step: the newest edges touching any node of the frontier (?2, a JSON array
     * of ids), at most LIMIT of them.  The ids are chosen from an index alone (edges_in is
     * ordered by id within a node, so SQLite stops a node's scan once it cannot beat the
     * LIMIT ids it holds; edges_out is scanned over the frontier's nodes), and only the rows
     * chosen are read from the table. */
    [Q_EDGES_OUT] = "SELECT id, src, dst, label, props, ts FROM edges WHERE id IN"
                    " (SELECT id FROM edges INDEXED BY edges_out WHERE tenant = ?1"
                    " AND src IN (SELECT value FROM json_each(?2)) ORDER BY id DESC LIMIT ?3)"
                    " ORDER BY id DESC",
    [Q_EDGES_OUT_LABEL] = "SELECT id, src, dst, label, props, ts FROM edges WHERE id IN"
                          " (SELECT id FROM edges INDEXED BY edges_out WHERE tenant = ?1"
                          " AND src IN (SELECT value FROM json_each(?2)) AND label = ?3"
                          " ORDER BY id DESC LIMIT ?4) ORDER BY id DESC",
    [Q_EDGES_IN] = "SELECT id, src, dst, label, props, ts FROM edges WHERE id IN"
                   " (SELECT id FROM edges INDEXED BY edges_in WHERE tenant = ?1"
                   " AND dst IN (SELECT value FROM json_each(?2)) ORDER BY id DESC LIMIT ?3)"
                   " ORDER BY id DESC",
    [Q_EDGES_IN_LABEL] = "SELECT id, src, dst, label, props, ts FROM edges WHERE id IN"
                         " (SELECT id FROM edges INDEXED BY edges_in WHERE tenant = ?1"
                         " AND dst IN (SELECT value FROM json_each(?2)) AND label = ?3"
                         " ORDER BY id DESC LIMIT ?4) ORDER BY id DESC",
    [Q_OBS_INSERT] = "INSERT INTO observe(tenant, seq, topic, severity, event, trace_id, ingested_at)"
                     " VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    [Q_OBS_QUERY] = "SELECT seq, topic, severity, event, trace_id, ingested_at FROM observe"
                    " WHERE tenant = ?1 AND (?2 IS NULL OR topic = ?2)"
                    " AND (?3 < 0 OR ingested_at >= ?3) AND (?4 IS NULL OR severity = ?4)"
                    " ORDER BY id LIMIT ?5",
    /* additive: several writers (and a migration's copy) add up */
    [Q_USAGE_ADD] = "INSERT INTO usage_ledger(tenant, day, kind, name, requests, input_tokens,"
                    " output_tokens, errors, duration_ms) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)"
                    " ON CONFLICT(tenant, day, kind, name) DO UPDATE SET"
                    " requests = requests + excluded.requests,"
                    " input_tokens = input_tokens + excluded.input_tokens,"
                    " output_tokens = output_tokens + excluded.output_tokens,"
                    " errors = errors + excluded.errors,"
                    " duration_ms = duration_ms + excluded.duration_ms",
    [Q_USAGE_RANGE] = "SELECT tenant, day, kind, name, requests, input_tokens, output_tokens,"
                      " errors, duration_ms FROM usage_ledger"
                      " WHERE (?1 IS NULL OR tenant = ?1) AND day >= ?2 AND day <= ?3"
                      " ORDER BY tenant, day, kind, name",
};

/* ------------------------------------------------------------------------------------------ */
/* Connections */

struct sg_drv {
  char *path; /* a file, or the URI of the in-memory database */
  int sync_full, memory;
  sg_log *log;
};

/* A tenant's "record" sequence as a run of appends counts it in memory (the writer is the
 * database's only writer, so nobody else moves it while the run holds it). */
typedef struct seq_slot {
  const char *tenant; /* the run's own string */
  int64_t value;      /* the last number given */
  int64_t stored;     /* the value in the table when the run read it */
} seq_slot;

typedef struct conn {
  sg_conn base; /* first: the front's view */
  sg_drv *d;
  sqlite3 *db;
  sqlite3_stmt *stmt[Q_COUNT];
  sg_buf ids; /* a walk's frontier, as the JSON array json_each() reads */
  seq_slot *seqs; /* a run of appends' "record" sequences (sq_record_append_many) */
  size_t nseqs, capseqs;
} conn;

#define CONN(c) ((conn *)(c))

static sqlite3_stmt *stmt(conn *c, int id) {
  sqlite3_stmt *s = c->stmt[id];
  if (s) {
    sqlite3_reset(s);
    sqlite3_clear_bindings(s);
    return s;
  }
  if (sqlite3_prepare_v3(c->db, sql[id], -1, SQLITE_PREPARE_PERSISTENT, &s, NULL) != SQLITE_OK)
    return NULL;
  c->stmt[id] = s;
  return s;
}

static void sq_disconnect(sg_conn *base) {
  conn *c = CONN(base);
  if (!c) return;
  for (int i = 0; i < Q_COUNT; i++) sqlite3_finalize(c->stmt[i]);
  sqlite3_close_v2(c->db);
  sg_buf_free(&c->ids);
  free(c->seqs);
  free(c);
}

static int sq_connect(sg_drv *d, int reader, sg_conn **out, char *err, size_t errlen) {
  conn *c = calloc(1, sizeof *c);
  if (!c) {
    snprintf(err, errlen, "out of memory");
    return SQLITE_NOMEM;
  }
  c->base.drv = &sg_store_sqlite;
  c->d = d;
  sg_buf_init(&c->ids, 0);
  int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_URI;
  int rc = sqlite3_open_v2(d->path, &c->db, flags, NULL);
  if (rc == SQLITE_OK) rc = sqlite3_extended_result_codes(c->db, 1);
  if (rc == SQLITE_OK) rc = sqlite3_busy_timeout(c->db, 5000);
  /* In-memory databases (tests) share one cache, whose table locks ignore busy_timeout:
   * readers there read without them. */
  const char *pragmas = reader ? d->memory ? "PRAGMA query_only = 1; PRAGMA read_uncommitted = 1;"
                                           : "PRAGMA query_only = 1; PRAGMA foreign_keys = ON;"
                      : d->sync_full
                          ? "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON;"
                          : "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON;";
  if (rc == SQLITE_OK) rc = sqlite3_exec(c->db, pragmas, NULL, NULL, NULL);
  if (rc != SQLITE_OK) {
    snprintf(err, errlen, "cannot open %s: %s", d->path,
             c->db ? sqlite3_errmsg(c->db) : sqlite3_errstr(rc));
    sq_disconnect(&c->base);
    return rc;
  }
  *out = &c->base;
  return 0;
}

/* Creates the directories above path that do not exist, private to the owner (0700). */
static int make_parent_dir(const char *path, char *err, size_t errlen) {
  char *dir = sg_strdup(path);
  if (!dir) return -1;
  char *slash = strrchr(dir, '/');
  int rc = 0;
  if (slash && slash != dir) {
    *slash = '\0';
    for (char *p = dir + 1; *p; p++) {
      if (*p != '/') continue;
      *p = '\0';
      mkdir(dir, 0700);
      *p = '/';
    }
    if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
      snprintf(err, errlen, "cannot create directory %s: %s", dir, strerror(errno));
      rc = -1;
    }
  }
  free(dir);
  return rc;
}

/* Creates the database file, empty and private to the owner (0600), when it does not exist:
 * SQLite gives the -wal and -shm files the database's mode, so they are private too, whatever
 * the umask.  An existing file keeps its mode, with a warning when others may read it. */
static int create_private(sg_drv *d, char *err, size_t errlen) {
  if (strncmp(d->path, "file:", 5) == 0) return 0; /* a URI: SQLite opens it as it says */
  int fd = open(d->path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd >= 0) return close(fd);
  struct stat sb;
  if (errno != EEXIST) {
    snprintf(err, errlen, "cannot create %s: %s", d->path, strerror(errno));
    return -1;
  }
  if (d->log && stat(d->path, &sb) == 0 && (sb.st_mode & 077)) {
    char mode[8];
    snprintf(mode, sizeof mode, "%03o", (unsigned)(sb.st_mode & 0777));
    sg_log(d->log, SOULGW_LOG_WARN, "the database file is open to group or others",
           SG_S("path", d->path), SG_S("mode", mode));
  }
  return 0;
}

static void sq_close(sg_drv *d) {
  if (!d) return;
  free(d->path);
  free(d);
}

static int sq_open(const sg_store_opts *o, sg_drv **out, char *err, size_t errlen) {
  sg_drv *d = calloc(1, sizeof *d);
  *out = NULL;
  if (!d) {
    snprintf(err, errlen, "out of memory");
    return -1;
  }
  d->sync_full = o->sync_full;
  d->log = o->log;
  d->memory = strcmp(o->path, ":memory:") == 0;
  if (d->memory) {
    /* a private in-memory database shared by this store's connections */
    char uri[96];
    snprintf(uri, sizeof uri, "file:soulgw-%p?mode=memory&cache=shared", (void *)d);
    d->path = sg_strdup(uri);
  } else {
    d->path = sg_strdup(o->path);
    if (d->path && (make_parent_dir(d->path, err, errlen) != 0 ||
                    create_private(d, err, errlen) != 0)) {
      sq_close(d);
      return -1;
    }
  }
  if (!d->path) {
    snprintf(err, errlen, "out of memory");
    sq_close(d);
    return -1;
  }
  *out = d;
  return 0;
}

static int sq_migrate(sg_drv *d, sg_conn *base, int *schema, char *err, size_t errlen) {
  sqlite3 *db = CONN(base)->db;
  sqlite3_stmt *s = NULL;
  int version = 0;
  if (sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &s, NULL) == SQLITE_OK &&
      sqlite3_step(s) == SQLITE_ROW)
    version = sqlite3_column_int(s, 0);
  sqlite3_finalize(s);
  if (version > SCHEMA_VERSION) {
    snprintf(err, errlen, "%s has schema version %d, newer than this soulgw knows (%d)",
             d->path, version, SCHEMA_VERSION);
    return -1;
  }
  for (int v = version; v < SCHEMA_VERSION; v++) {
    char bump[64];
    snprintf(bump, sizeof bump, "PRAGMA user_version = %d", v + 1);
    char *msg = NULL;
    int rc = sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, &msg);
    if (rc == SQLITE_OK) rc = sqlite3_exec(db, migrations[v], NULL, NULL, &msg);
    if (rc == SQLITE_OK) rc = sqlite3_exec(db, bump, NULL, NULL, &msg);
    if (rc == SQLITE_OK) rc = sqlite3_exec(db, "COMMIT", NULL, NULL, &msg);
    if (rc != SQLITE_OK) {
      snprintf(err, errlen, "cannot migrate %s to schema version %d: %s", d->path, v + 1,
               msg ? msg : sqlite3_errmsg(db));
      sqlite3_free(msg);
      sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
      return -1;
    }
  }
  /* The writer keeps the journal of its savepoints in memory.  A savepoint journals the
   * original of every page its writes touch; appends touch leaves all over the record and edge
   * indexes (ids sort as text), so a batch's journal passes SQLite's 64 KiB spill at once and
   * goes to a temporary file that is created, written and deleted at every commit (an open, an
   * unlink and their page-cache work each time).  It holds no more than the pages one batch
   * touches.  Set after the migrations, whose sorts may be large, and outside a transaction,
   * where SQLite refuses it. */
  if (sqlite3_exec(db, "PRAGMA temp_store = MEMORY", NULL, NULL, NULL) != SQLITE_OK && d->log)
    sg_log(d->log, SOULGW_LOG_WARN, "the writer's savepoints will be journaled on disk",
           SG_S("path", d->path));
  *schema = SCHEMA_VERSION;
  return 0;
}

static const char *sq_version(void) { return sqlite3_libversion(); }

/* ------------------------------------------------------------------------------------------ */
/* The skeleton of every statement */

/* A value to bind: text (s NULL binds SQL NULL; len < 0: up to its NUL) or an integer. */
typedef struct arg {
  char type; /* 't' or 'i' */
  const char *s;
  int len;
  int64_t i;
} arg;
#define A_TXT(v) ((arg){'t', (v), -1, 0})
#define A_TXTN(v, n) ((arg){'t', (v), (int)(n), 0})
#define A_INT(v) ((arg){'i', NULL, 0, (int64_t)(v)})
/* The arguments of a statement, as an array and its length. */
#define ARGS(...) (const arg[]){__VA_ARGS__}, (int)(sizeof (const arg[]){__VA_ARGS__} / sizeof(arg))

/* The error of a statement that could not be prepared. */
static int prepare_error(conn *c) {
  int rc = sqlite3_errcode(c->db);
  return rc != SQLITE_OK ? rc : SQLITE_ERROR;
}

/* Statement q of c, reset and bound to a (n values, ?1 to ?n); NULL when it cannot be
 * prepared. */
static sqlite3_stmt *bound(conn *c, int q, const arg *a, int n) {
  sqlite3_stmt *s = stmt(c, q);
  for (int k = 0; s && k < n; k++) {
    if (a[k].type == 'i') sqlite3_bind_int64(s, k + 1, a[k].i);
    else if (a[k].s) sqlite3_bind_text(s, k + 1, a[k].s, a[k].len, SQLITE_STATIC);
    else sqlite3_bind_null(s, k + 1);
  }
  return s;
}

/* Runs statement q bound to a, which returns no rows: 0, or the error. */
static int exec_q(conn *c, int q, const arg *a, int n) {
  sqlite3_stmt *s = bound(c, q, a, n);
  if (!s) return prepare_error(c);
  int rc = sqlite3_step(s);
  sqlite3_reset(s);
  return rc == SQLITE_DONE ? 0 : rc;
}

/* A row of a read: the statement, stepped onto it. */
typedef struct row {
  sg_row base; /* first: the front's view */
  sqlite3_stmt *s;
} row;

static const char *sq_text(const sg_row *r, int i, size_t *len) {
  sqlite3_stmt *s = ((const row *)r)->s;
  const char *t = (const char *)sqlite3_column_text(s, i);
  if (len) *len = (size_t)sqlite3_column_bytes(s, i);
  return t;
}

static int64_t sq_integer(const sg_row *r, int i) {
  return sqlite3_column_int64(((const row *)r)->s, i);
}

/* The read skeleton, once for every query: runs q bound to a and hands each row to fn.
 * Returns 0 when the rows ran out or fn stopped, else the error (SQLite's, or the one fn
 * returned). */
static int read_rows(conn *c, int q, const arg *a, int n, sg_row_fn fn, void *ud) {
  row r = {{&sg_store_sqlite}, bound(c, q, a, n)};
  if (!r.s) return prepare_error(c);
  int rc;
  while ((rc = sqlite3_step(r.s)) == SQLITE_ROW)
    if ((rc = fn(ud, &r.base)) != 0) break;
  sqlite3_reset(r.s);
  return rc == SQLITE_DONE || rc == SG_DRV_STOP ? 0 : rc;
}

/* The first column of the first row, an integer, into *(int64_t *)ud. */
static int row_int(void *ud, const sg_row *r) {
  *(int64_t *)ud = sg_row_int(r, 0);
  return SG_DRV_STOP;
}

static int is_constraint(int rc) { return rc > 0 && (rc & 0xff) == SQLITE_CONSTRAINT; }

/* ------------------------------------------------------------------------------------------ */
/* Errors and transactions */

/* SQLite's code for an error of the front's. */
static int native(int err) {
  switch (err) {
    case SG_DRV_CONFLICT: return SQLITE_CONSTRAINT;
    case SG_DRV_NOMEM: return SQLITE_NOMEM;
    case SG_DRV_UNREADABLE: return SQLITE_MISMATCH;
    case SG_DRV_CANTOPEN: return SQLITE_CANTOPEN;
    default: return err >= 0 ? err : SQLITE_ERROR;
  }
}

static void sq_describe(sg_conn *c, int err, const char **msg, int *code) {
  *code = native(err);
  *msg = c ? sqlite3_errmsg(CONN(c)->db) : sqlite3_errstr(*code);
}

static const char *sq_kind(int err) {
  switch (native(err) & 0xff) {
    case SQLITE_CANTOPEN: return "connect";
    case SQLITE_BUSY:
    case SQLITE_LOCKED: return "timeout";
    case SQLITE_CONSTRAINT: return "conflict";
    default: return err == SG_DRV_CONFLICT ? "conflict" : "other";
  }
}

static int sq_fatal(sg_conn *c, int err) {
  if (sqlite3_get_autocommit(CONN(c)->db)) return 1; /* SQLite has rolled the transaction back */
  switch (native(err) & 0xff) {
    case SQLITE_IOERR:
    case SQLITE_FULL:
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
    case SQLITE_READONLY:
    case SQLITE_CANTOPEN:
    case SQLITE_PROTOCOL:
    case SQLITE_BUSY:
    case SQLITE_LOCKED: return 1;
    default: return 0;
  }
}

static int sq_begin(sg_conn *c) { return exec_q(CONN(c), Q_BEGIN, NULL, 0); }
static int sq_commit(sg_conn *c) { return exec_q(CONN(c), Q_COMMIT, NULL, 0); }
static int sq_savepoint(sg_conn *c) { return exec_q(CONN(c), Q_SAVEPOINT, NULL, 0); }
static int sq_release(sg_conn *c) { return exec_q(CONN(c), Q_RELEASE, NULL, 0); }
static int sq_rollback_to(sg_conn *c) { return exec_q(CONN(c), Q_ROLLBACK_TO, NULL, 0); }

static int sq_rollback(sg_conn *c) {
  return sqlite3_get_autocommit(CONN(c)->db) ? 0 : exec_q(CONN(c), Q_ROLLBACK, NULL, 0);
}

static int sq_probe(sg_conn *base) {
  conn *c = CONN(base);
  if (c->d->memory) return SG_DRV_SKIP;
  int ok = exec_q(c, Q_BEGIN, NULL, 0) == 0;
  if (ok) {
    ok = exec_q(c, Q_PROBE, ARGS(A_INT(time(NULL)))) == 0;
    ok = ok && exec_q(c, Q_COMMIT, NULL, 0) == 0;
    if (!ok) exec_q(c, Q_ROLLBACK, NULL, 0);
  }
  return ok ? 0 : SQLITE_IOERR;
}

static int sq_read_begin(sg_conn *c) {
  return sqlite3_exec(CONN(c)->db, "BEGIN", NULL, NULL, NULL) == SQLITE_OK ? 0 : SG_DRV_FAILED;
}

static void sq_read_end(sg_conn *c) { sqlite3_exec(CONN(c)->db, "COMMIT", NULL, NULL, NULL); }

/* ------------------------------------------------------------------------------------------ */
/* Rows */

static int sq_seq_next(sg_conn *c, const char *tenant, const char *name, int64_t *out) {
  *out = -1;
  int rc = read_rows(CONN(c), Q_SEQ_NEXT, ARGS(A_TXT(tenant), A_TXT(name)), row_int, out);
  return rc ? rc : *out < 0 ? SG_DRV_FAILED : 0;
}

static int sq_reg_exists(sg_conn *c, const char *tenant, const char *version, int *exists) {
  int64_t one = 0;
  int rc = read_rows(CONN(c), Q_REG_EXISTS, ARGS(A_TXT(tenant), A_TXT(version)), row_int, &one);
  *exists = one != 0;
  return rc;
}

static int sq_reg_active(sg_conn *c, const char *tenant, sg_row_fn fn, void *ud) {
  return read_rows(CONN(c), Q_REG_ACTIVE, ARGS(A_TXT(tenant)), fn, ud);
}

static int sq_reg_get(sg_conn *c, const char *tenant, const char *version, sg_row_fn fn,
                      void *ud) {
  return read_rows(CONN(c), Q_REG_GET, ARGS(A_TXT(tenant), A_TXT(version)), fn, ud);
}

static int sq_reg_versions(sg_conn *c, const char *tenant, sg_row_fn fn, void *ud) {
  return read_rows(CONN(c), Q_REG_LIST, ARGS(A_TXT(tenant)), fn, ud);
}

static int sq_reg_tenants(sg_conn *c, sg_row_fn fn, void *ud) {
  return read_rows(CONN(c), Q_REG_TENANTS, NULL, 0, fn, ud);
}

static int sq_reg_insert(sg_conn *c, const char *tenant, const char *version,
                         const char *manifests, int64_t created_at) {
  int64_t seq = 1;
  int rc = read_rows(CONN(c), Q_REG_NEXT_SEQ, ARGS(A_TXT(tenant)), row_int, &seq);
  if (rc) return rc;
  rc = exec_q(CONN(c), Q_REG_INSERT, ARGS(A_TXT(tenant), A_TXT(version), A_INT(seq),
                                          A_TXT(manifests), A_INT(created_at)));
  return is_constraint(rc) ? SG_DRV_CONFLICT : rc;
}

static int sq_reg_set_active(sg_conn *c, const char *tenant, const char *version) {
  return exec_q(CONN(c), Q_REG_SET_ACTIVE, ARGS(A_TXT(tenant), A_TXT(version)));
}

static int sq_idem_get(sg_conn *c, const char *tenant, const char *key, sg_row_fn fn, void *ud) {
  return read_rows(CONN(c), Q_IDEM_GET, ARGS(A_TXT(tenant), A_TXT(key)), fn, ud);
}

static int sq_idem_insert(sg_conn *c, const char *tenant, const char *key, const char *tool_id,
                          const char *input, int status, const char *response,
                          int64_t created_at, int *inserted) {
  int rc = exec_q(CONN(c), Q_IDEM_INSERT,
                  ARGS(A_TXT(tenant), A_TXT(key), A_TXT(tool_id), A_TXT(input), A_INT(status),
                       A_TXT(response), A_INT(created_at)));
  *inserted = sqlite3_changes(CONN(c)->db) > 0;
  return rc;
}

static int sq_collab_get(sg_conn *c, const char *tenant, const char *collab_id, sg_row_fn fn,
                         void *ud) {
  return read_rows(CONN(c), Q_COLLAB_GET, ARGS(A_TXT(tenant), A_TXT(collab_id)), fn, ud);
}

static int sq_collab_put(sg_conn *c, const char *tenant, const char *collab_id,
                         const sg_collab_row *h) {
  return exec_q(CONN(c), Q_COLLAB_PUT,
                ARGS(A_TXT(tenant), A_TXT(collab_id), A_TXT(h->status), A_TXT(h->participants),
                     A_TXT(h->context), A_TXT(h->resolution), A_INT(h->created_at),
                     A_INT(h->updated_at), A_INT(h->entries), A_INT(h->timeline_bytes)));
}

static int sq_timeline_append(sg_conn *c, const char *tenant, const char *collab_id, int64_t seq,
                              const char *entry) {
  return exec_q(CONN(c), Q_TL_INSERT,
                ARGS(A_TXT(tenant), A_TXT(collab_id), A_INT(seq), A_TXT(entry)));
}

static int sq_timeline_range(sg_conn *c, const char *tenant, const char *collab_id,
                             int64_t after, int limit, sg_row_fn fn, void *ud) {
  return read_rows(CONN(c), Q_TL_RANGE,
                   ARGS(A_TXT(tenant), A_TXT(collab_id), A_INT(after), A_INT(limit)), fn, ud);
}

static int sq_record_insert(sg_conn *c, const char *tenant, const char *record_id,
                            const char *repo, const char *data, int64_t stored_at) {
  int rc = exec_q(CONN(c), Q_REC_INSERT, ARGS(A_TXT(tenant), A_TXT(record_id), A_TXT(repo),
                                              A_TXT(data), A_INT(stored_at)));
  return is_constraint(rc) ? SG_DRV_CONFLICT : rc;
}

static int sq_record_get(sg_conn *c, const char *tenant, const char *record_id, sg_row_fn fn,
                         void *ud) {
  return read_rows(CONN(c), Q_REC_GET, ARGS(A_TXT(tenant), A_TXT(record_id)), fn, ud);
}

static int sq_record_pos(sg_conn *c, const char *tenant, const char *repo, const char *record_id,
                         int64_t *pos) {
  *pos = -1;
  return read_rows(CONN(c), Q_REC_POS, ARGS(A_TXT(tenant), A_TXT(record_id), A_TXT(repo)),
                   row_int, pos);
}

static int sq_record_list(sg_conn *c, const char *tenant, const char *repo, int64_t after,
                          int limit, sg_row_fn fn, void *ud) {
  if (after < 0)
    return read_rows(CONN(c), Q_REC_LIST_ALL, ARGS(A_TXT(tenant), A_TXT(repo), A_INT(limit)), fn,
                     ud);
  return read_rows(CONN(c), Q_REC_LIST,
                   ARGS(A_TXT(tenant), A_TXT(repo), A_INT(after), A_INT(limit)), fn, ud);
}

static int sq_edge_insert(sg_conn *c, const char *tenant, const char *from, const char *to,
                          const char *label, const char *props, int64_t ts) {
  return exec_q(CONN(c), Q_EDGE_INSERT, ARGS(A_TXT(tenant), A_TXT(from), A_TXT(to), A_TXT(label),
                                             A_TXT(props), A_INT(ts)));
}

/* ---- Appends (record_append, record_append_many) ---- */

/* Generated ids one append tries before it answers a conflict, as the front's loop does. */
#define APPEND_TRIES 1000

/* The count of tenant's "record" sequence in the run (c->seqs), read from the table on its
 * first use in the run; NULL with *rc set when it cannot be. */
static seq_slot *run_seq(conn *c, const char *tenant, int *rc) {
  for (size_t i = c->nseqs; i-- > 0;) /* the last tenant first: a run is mostly one tenant's */
    if (strcmp(c->seqs[i].tenant, tenant) == 0) return &c->seqs[i];
  if (c->nseqs == c->capseqs) {
    size_t cap = c->capseqs ? c->capseqs * 2 : 8;
    seq_slot *grown = realloc(c->seqs, cap * sizeof *grown);
    if (!grown) {
      *rc = SG_DRV_NOMEM;
      return NULL;
    }
    c->seqs = grown;
    c->capseqs = cap;
  }
  int64_t v = 0; /* no row yet: the first number is 1, as Q_SEQ_NEXT gives */
  if ((*rc = read_rows(c, Q_SEQ_GET, ARGS(A_TXT(tenant), A_TXT("record")), row_int, &v)))
    return NULL;
  seq_slot *s = &c->seqs[c->nseqs++];
  *s = (seq_slot){tenant, v, v};
  return s;
}

/* Writes back the run's sequences that moved: 0 or the error. */
static int run_seq_store(conn *c) {
  for (size_t i = 0; i < c->nseqs; i++) {
    const seq_slot *s = &c->seqs[i];
    if (s->value == s->stored) continue;
    int rc = exec_q(c, Q_SEQ_SET, ARGS(A_TXT(s->tenant), A_TXT("record"), A_INT(s->value)));
    if (rc) return rc;
  }
  return 0;
}

/* "<repo>::<n>" into id (len bytes, cut short when it has fewer): what snprintf would write,
 * without its cost (2% of the writer's instructions, once per generated id). */
static void generated_id(char *id, size_t len, const char *repo, int64_t n) {
  char digits[24], *d = digits + sizeof digits;
  uint64_t u = n < 0 ? 0 - (uint64_t)n : (uint64_t)n;
  do *--d = (char)('0' + u % 10); while ((u /= 10));
  if (n < 0) *--d = '-';
  size_t nr = strlen(repo), nd = (size_t)(digits + sizeof digits - d), at = 0;
  if (!len) return;
  const char *parts[3] = {repo, "::", d};
  size_t lens[3] = {nr, 2, nd};
  for (int k = 0; k < 3; k++) {
    size_t take = lens[k] < len - 1 - at ? lens[k] : len - 1 - at;
    memcpy(id + at, parts[k], take);
    at += take;
  }
  id[at] = '\0';
}

/* Stores append a, its record and then its edges.  A generated id takes the next number of the
 * tenant's sequence: from the run's count in memory when run, else from the table (seq_next);
 * one that is taken is spent and the next one tried, up to tries.  0 with a->id;
 * SG_DRV_CONFLICT when the id is taken (nothing stored: a failed INSERT undoes itself); or
 * the error, with whatever was stored left for the caller's savepoint to undo. */
static int append_store(conn *c, sg_append *a, int run, int tries) {
  int rc = SG_DRV_FAILED;
  seq_slot *s = NULL;
  if (!a->record_id && run && !(s = run_seq(c, a->tenant, &rc))) return rc;
  int64_t before = s ? s->value : 0;
  const char *id = a->record_id;
  for (int t = 0; t < tries; t++) {
    if (!a->record_id) {
      int64_t n;
      if (s) n = ++s->value;
      else if ((rc = sq_seq_next(&c->base, a->tenant, "record", &n))) return rc;
      generated_id(a->id, sizeof a->id, a->repo, n);
      id = a->id;
    }
    rc = exec_q(c, Q_REC_INSERT, ARGS(A_TXT(a->tenant), A_TXT(id), A_TXT(a->repo),
                                      A_TXT(a->data), A_INT(a->stored_at)));
    if (is_constraint(rc)) rc = SG_DRV_CONFLICT;
    if (rc != SG_DRV_CONFLICT || a->record_id) break;
  }
  /* every number tried was taken: the front's savepoint would give them back, and so does the
   * run, whose counts are not a savepoint's */
  if (rc == SG_DRV_CONFLICT && s) s->value = before;
  if (rc) return rc;
  if (a->record_id) snprintf(a->id, sizeof a->id, "%s", a->record_id);
  for (size_t i = 0; i < a->nedges && !rc; i++) {
    const sg_edge_text *e = &a->edges[i];
    rc = exec_q(c, Q_EDGE_INSERT, ARGS(A_TXT(a->tenant), A_TXT(e->from ? e->from : id),
                                       A_TXT(e->to), A_TXT(e->label), A_TXT(e->props),
                                       A_INT(a->stored_at)));
  }
  return rc;
}

static int sq_record_append(sg_conn *c, const char *tenant, const char *repo,
                            const char *record_id, const char *data, int64_t stored_at,
                            size_t n, const sg_edge_text *edges, char *id, size_t idlen) {
  sg_append a = {tenant, repo, record_id, data, stored_at, n, edges, 0, ""};
  int rc = append_store(CONN(c), &a, 0, 1); /* the front tries the next number itself */
  if (!rc) snprintf(id, idlen, "%s", a.id);
  return rc;
}

/* The run's appends one savepoint each, after the run together failed: as the front would run
 * them.  0, or an error that broke the transaction. */
static int append_each(conn *c, sg_append *a, size_t n) {
  for (size_t i = 0; i < n; i++) {
    int rc = exec_q(c, Q_SAVEPOINT, NULL, 0);
    if (rc) return rc;
    a[i].rc = append_store(c, &a[i], 0, APPEND_TRIES);
    if (a[i].rc && a[i].rc != SG_DRV_CONFLICT && sq_fatal(&c->base, a[i].rc)) return a[i].rc;
    /* a conflict too: the numbers a generated id spent in vain are given back */
    if (a[i].rc && (rc = exec_q(c, Q_ROLLBACK_TO, NULL, 0))) return rc;
    if ((rc = exec_q(c, Q_RELEASE, NULL, 0))) return rc;
  }
  return 0;
}

/* The appends of a batch together, under one savepoint and without one each: a conflict
 * needs none (the INSERT that meets it stores nothing, and the record is each append's first
 * row), and the tenants' sequences are counted in memory and written once.  Only when an
 * append fails otherwise is the run rolled back and run again one savepoint each
 * (append_each), so that the failure is that append's alone. */
static int sq_record_append_many(sg_conn *base, sg_append *a, size_t n) {
  conn *c = CONN(base);
  for (size_t i = 0; i < n; i++) {
    a[i].rc = 0;
    a[i].id[0] = '\0';
  }
  int rc = exec_q(c, Q_RUN_SAVEPOINT, NULL, 0);
  if (rc) return rc;
  c->nseqs = 0;
  for (size_t i = 0; i < n && !rc; i++) {
    rc = append_store(c, &a[i], 1, APPEND_TRIES);
    if (rc == SG_DRV_CONFLICT) a[i].rc = rc, rc = 0;
  }
  if (!rc) rc = run_seq_store(c);
  c->nseqs = 0; /* the counts are the run's only */
  if (!rc) return exec_q(c, Q_RUN_RELEASE, NULL, 0);
  if (sq_fatal(base, rc)) return rc;
  int back = exec_q(c, Q_RUN_ROLLBACK_TO, NULL, 0);
  if (!back) back = exec_q(c, Q_RUN_RELEASE, NULL, 0);
  if (back) return back;
  for (size_t i = 0; i < n; i++) {
    a[i].rc = 0;
    a[i].id[0] = '\0';
  }
  return append_each(c, a, n);
}

/* Appends a node id to a JSON array of ids, escaped as cJSON writes strings: bytes that are
 * not UTF-8 go as they are, so that the id reaches json_each() unchanged (sg_buf_json_escape()
 * would replace them). */
static void ids_add(sg_buf *b, size_t n, const char *id) {
  sg_buf_append(b, n ? ",\"" : "[\"", 2);
  sg_buf_json_escape_bytes(b, id, strlen(id));
  sg_buf_putc(b, '"');
}

/* The bytes of a frontier's text a connection keeps between steps; a larger one is freed after
 * its step. */
#define IDS_KEEP 16384

static int sq_edges_touching(sg_conn *base, const char *tenant, const char *const *nodes,
                             size_t n, const char *label, int in, int limit, sg_row_fn fn,
                             void *ud) {
  conn *c = CONN(base);
  sg_buf_reset(&c->ids);
  for (size_t i = 0; i < n; i++) ids_add(&c->ids, i, nodes[i]);
  if (!n) sg_buf_putc(&c->ids, '[');
  sg_buf_putc(&c->ids, ']');
  arg ids = A_TXTN(c->ids.ptr, c->ids.len);
  int rc;
  if (sg_buf_failed(&c->ids))
    rc = SG_DRV_NOMEM;
  else if (label)
    rc = read_rows(c, in ? Q_EDGES_IN_LABEL : Q_EDGES_OUT_LABEL,
                   ARGS(A_TXT(tenant), ids, A_TXT(label), A_INT(limit)), fn, ud);
  else
    rc = read_rows(c, in ? Q_EDGES_IN : Q_EDGES_OUT, ARGS(A_TXT(tenant), ids, A_INT(limit)), fn,
                   ud);
  if (c->ids.cap > IDS_KEEP || sg_buf_failed(&c->ids)) sg_buf_free(&c->ids);
  return rc;
}

static int sq_event_insert(sg_conn *c, const char *tenant, int64_t seq, const char *topic,
                           const char *severity, const char *event, const char *trace_id,
                           int64_t ingested_at) {
  return exec_q(CONN(c), Q_OBS_INSERT,
                ARGS(A_TXT(tenant), A_INT(seq), A_TXT(topic), A_TXT(severity), A_TXT(event),
                     A_TXT(trace_id), A_INT(ingested_at)));
}

static int sq_event_query(sg_conn *c, const char *tenant, const char *topic, int64_t since,
                          const char *severity, int limit, sg_row_fn fn, void *ud) {
  return read_rows(CONN(c), Q_OBS_QUERY,
                   ARGS(A_TXT(tenant), A_TXT(topic), A_INT(since), A_TXT(severity), A_INT(limit)),
                   fn, ud);
}

static int sq_usage_add(sg_conn *c, const char *tenant, const char *day, const char *kind,
                        const char *name, const int64_t v[SG_USAGE_NV]) {
  return exec_q(CONN(c), Q_USAGE_ADD,
                ARGS(A_TXT(tenant), A_TXT(day), A_TXT(kind), A_TXT(name), A_INT(v[0]),
                     A_INT(v[1]), A_INT(v[2]), A_INT(v[3]), A_INT(v[4])));
}

static int sq_usage_range(sg_conn *c, const char *tenant, const char *from, const char *to,
                          sg_row_fn fn, void *ud) {
  return read_rows(CONN(c), Q_USAGE_RANGE, ARGS(A_TXT(tenant), A_TXT(from), A_TXT(to)), fn, ud);
}

/* ------------------------------------------------------------------------------------------ */
/* Moving the database to another engine (driver.h, store/migrate.c) */

static const char *const dump_sql[SG_TBL_COUNT] = {
    [SG_TBL_SEQUENCES] = "SELECT tenant, name, value FROM sequences ORDER BY tenant, name",
    [SG_TBL_REGISTRY] = "SELECT tenant, version, manifests, created_at_ms FROM registry_versions"
                        " ORDER BY tenant, seq",
    [SG_TBL_ACTIVE] = "SELECT tenant, version FROM registry_active ORDER BY tenant",
    [SG_TBL_IDEMPOTENCY] = "SELECT tenant, key, tool_id, input, status, response, created_at_ms"
                           " FROM idempotency ORDER BY tenant, key",
    [SG_TBL_COLLABS] = "SELECT tenant, collab_id, status, participants, context, resolution,"
                       " created_at, updated_at, entries, timeline_bytes FROM collabs"
                       " ORDER BY tenant, collab_id",
    [SG_TBL_TIMELINE] = "SELECT tenant, collab_id, seq, entry FROM collab_timeline"
                        " ORDER BY tenant, collab_id, seq",
    [SG_TBL_RECORDS] = "SELECT tenant, record_id, repo, data, stored_at FROM records ORDER BY id",
    [SG_TBL_EDGES] = "SELECT tenant, src, dst, label, props, ts FROM edges ORDER BY id",
    [SG_TBL_EVENTS] = "SELECT tenant, seq, topic, severity, event, trace_id, ingested_at"
                      " FROM observe ORDER BY id",
    [SG_TBL_USAGE] = "SELECT tenant, day, kind, name, requests, input_tokens, output_tokens,"
                     " errors, duration_ms FROM usage_ledger ORDER BY tenant, day, kind, name",
};

/* Runs one statement prepared for the occasion and hands its rows to fn (read_rows()'s
 * contract). */
static int read_once(conn *c, const char *q, sg_row_fn fn, void *ud) {
  row r = {{&sg_store_sqlite}, NULL};
  int rc = sqlite3_prepare_v2(c->db, q, -1, &r.s, NULL);
  if (rc != SQLITE_OK) return rc;
  while ((rc = sqlite3_step(r.s)) == SQLITE_ROW)
    if ((rc = fn(ud, &r.base)) != 0) break;
  sqlite3_finalize(r.s);
  return rc == SQLITE_DONE || rc == SG_DRV_STOP ? 0 : rc;
}

static int sq_dump(sg_conn *c, int table, sg_row_fn fn, void *ud) {
  if (table < 0 || table >= SG_TBL_COUNT) return SG_DRV_FAILED;
  return read_once(CONN(c), dump_sql[table], fn, ud);
}

static int sq_rows(sg_conn *c, int64_t *n) {
  *n = -1;
  int rc = read_once(CONN(c),
                     "SELECT (SELECT count(*) FROM sequences) + (SELECT count(*) FROM"
                     " registry_versions) + (SELECT count(*) FROM registry_active) +"
                     " (SELECT count(*) FROM idempotency) + (SELECT count(*) FROM collabs) +"
                     " (SELECT count(*) FROM collab_timeline) + (SELECT count(*) FROM records)"
                     " + (SELECT count(*) FROM edges) + (SELECT count(*) FROM observe)"
                     " + (SELECT count(*) FROM usage_ledger)",
                     row_int, n);
  return rc ? rc : *n < 0 ? SG_DRV_FAILED : 0;
}

/* ------------------------------------------------------------------------------------------ */

const sg_store_driver sg_store_sqlite = {
    .name = "sqlite",
    .version = sq_version,
    .open = sq_open,
    .close = sq_close,
    .connect = sq_connect,
    .disconnect = sq_disconnect,
    .migrate = sq_migrate,
    .text = sq_text,
    .integer = sq_integer,
    .describe = sq_describe,
    .kind = sq_kind,
    .fatal = sq_fatal,
    .begin = sq_begin,
    .commit = sq_commit,
    .rollback = sq_rollback,
    .savepoint = sq_savepoint,
    .release = sq_release,
    .rollback_to = sq_rollback_to,
    .probe = sq_probe,
    .read_begin = sq_read_begin,
    .read_end = sq_read_end,
    .seq_next = sq_seq_next,
    .reg_exists = sq_reg_exists,
    .reg_active = sq_reg_active,
    .reg_get = sq_reg_get,
    .reg_versions = sq_reg_versions,
    .reg_tenants = sq_reg_tenants,
    .reg_insert = sq_reg_insert,
    .reg_set_active = sq_reg_set_active,
    .idem_get = sq_idem_get,
    .idem_insert = sq_idem_insert,
    .collab_get = sq_collab_get,
    .collab_put = sq_collab_put,
    .timeline_append = sq_timeline_append,
    .timeline_range = sq_timeline_range,
    .record_insert = sq_record_insert,
    .record_append = sq_record_append,
    .record_append_many = sq_record_append_many,
    .record_get = sq_record_get,
    .record_pos = sq_record_pos,
    .record_list = sq_record_list,
    .edge_insert = sq_edge_insert,
    .edges_touching = sq_edges_touching,
    .event_insert = sq_event_insert,
    .event_query = sq_event_query,
    .usage_add = sq_usage_add,
    .usage_range = sq_usage_range,
    .dump = sq_dump,
    .rows = sq_rows,
};
