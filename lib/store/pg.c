/*
 * pg.c -- the PostgreSQL driver of the store (driver.h), and the only file that calls libpq:
 * the schema and its migrations, the SQL of every operation, connections and their bindings.
 *
 * The same tables and semantics as store/sqlite.c, so that several gateways can share one
 * state.  The front (store.c) keeps one writer connection, which runs every write in the
 * transaction of its batch (group commit, a savepoint per write) and acknowledges after COMMIT,
 * and a pool of reader connections, read-only.  Every statement is prepared once per
 * connection (on its first use) and bound; no SQL is built from strings.  statement_timeout is
 * set on every connection.  The schema is versioned in the table soulgw_schema and migrated
 * forward at open under an advisory lock, so that gateways starting together migrate once.
 *
 * Sequences.  A record's "<repo>::<n>" and an event's "obs-<n>" take n from the tenant's row of
 * the table sequences, updated inside the write's transaction: numbers are per tenant, unique
 * across gateways (the row is locked until COMMIT), and a write that is undone gives its number
 * back, as with SQLite.  A PostgreSQL SEQUENCE would be global and would spend numbers on
 * rollback, which the store's contract (store.h) does not allow.
 *
 * Several gateways.  What the SQLite writer gets from being the only one, the writer here takes
 * with locks held until COMMIT: a tenant's sequence row (above), a tenant's registry (an
 * advisory lock taken by the publish's first read, so that concurrent publishes merge one
 * after the other) and a collaboration's row (SELECT ... FOR UPDATE, so that concurrent calls
 * append their entries one after the other).  Readers take no locks.
 *
 * Round trips.  The writer's BEGIN and a write's SAVEPOINT are queued and go out with the
 * write's first statement in one libpq pipeline (one round trip), and an append is one
 * statement (Q_REC_APPEND).  The appends of a batch go further (record_append_many): under one
 * savepoint, each tenant's record numbers are taken in one statement (Q_SEQ_BUMP) and its
 * appends stored in one more (Q_REC_APPEND_BULK), all in one pipeline.  When one of them fails
 * the whole run is rolled back to that savepoint and sent again one savepoint per append, so
 * that the failure is answered to its append alone and the others' numbers do not move.
 *
 * Registry changes.  Setting a tenant's active version notifies the channel soulgw_registry
 * with the tenant (pg_notify in the same statement: delivered at COMMIT, never for a write
 * that is undone).  watch() keeps a connection of its own that LISTENs, on a thread, and
 * hands each tenant to the store's callback; after that connection drops and comes back it
 * says every tenant may have changed.
 *
 * Graph recall is one recursive query (Q_GRAPH) that walks the way shape.c's walk does, depth
 * by depth, with the same limits and order.
 *
 * A connection the server dropped is opened again on its next use, at most once per backoff
 * (doubling from 100 ms to 5 s, cut short when another connection got through); until then
 * its operations fail (503 STORAGE.UNAVAILABLE).  The writer's idle probe reconnects it, so
 * the store recovers without a restart.  A statement that finds its idle connection dropped
 * (the server restarted since) runs once more on a new one when nothing is lost by it.
 *
 * The connection URI is a secret: it is never logged, and libpq's messages about it go out with
 * its password taken out.
 */
#include <dlfcn.h>
#include <libpq-fe.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/crypto.h"
#include "base/redact.h"
#include "base/sg.h"
#include "store/driver.h"

/* ------------------------------------------------------------------------------------------ */
/* libpq, loaded when a PostgreSQL store is first opened */

/* libpq is loaded rather than linked: with its TLS, GSSAPI and LDAP dependencies it is some
 * fourteen libraries and 3 MB of resident memory that every gateway on SQLite would pay for at
 * start, and that every embedder of libsoulgw would have to install.  The table holds every
 * libpq function this file calls, each member named and typed as the function; SOULGW_LIBPQ
 * names another file to load (tests use it to make libpq unloadable). */
#define PQ_FUNCS(X) \
  X(PQclear) X(PQcmdStatus) X(PQcmdTuples) X(PQconnectdbParams) \
  X(PQconninfoFree) X(PQconninfoParse) X(PQconsumeInput) X(PQenterPipelineMode) \
  X(PQerrorMessage) X(PQexec) X(PQexecParams) X(PQexecPrepared) \
  X(PQexitPipelineMode) X(PQfinish) X(PQfreemem) X(PQgetResult) \
  X(PQgetisnull) X(PQgetlength) X(PQgetvalue) X(PQisBusy) \
  X(PQlibVersion) X(PQnotifies) X(PQntuples) X(PQpipelineSync) \
  X(PQprepare) X(PQreset) X(PQresultErrorField) X(PQresultStatus) \
  X(PQsendQueryParams) X(PQsendQueryPrepared) X(PQsetNoticeProcessor) X(PQsocket) \
  X(PQstatus) X(PQtransactionStatus)

static struct {
  void *so;
#define X(f) __typeof__(f) *f;
  PQ_FUNCS(X)
#undef X
} pq;

static pthread_once_t pq_once = PTHREAD_ONCE_INIT;
static char pq_error[256]; /* why libpq could not be loaded; "" once it is */

static void pq_load_once(void) {
  const char *name = getenv("SOULGW_LIBPQ");
  pq.so = dlopen(name && *name ? name : "libpq.so.5", RTLD_NOW | RTLD_LOCAL);
  const char *why = pq.so ? NULL : dlerror();
  /* POSIX: a function pointer read through a void * (dlsym's type) via memcpy */
#define X(f)                                                                                  \
  if (!why) {                                                                                 \
    void *p_ = dlsym(pq.so, #f);                                                              \
    if (p_) memcpy(&pq.f, &p_, sizeof p_);                                                    \
    else why = dlerror();                                                                     \
  }
  PQ_FUNCS(X)
#undef X
  if (why)
    snprintf(pq_error, sizeof pq_error, "PostgreSQL storage needs libpq (Debian: libpq5): %s", why);
}

/* Loads libpq once: NULL, or why it cannot be loaded. */
static const char *pq_load(void) {
  pthread_once(&pq_once, pq_load_once);
  return pq_error[0] ? pq_error : NULL;
}

/* ------------------------------------------------------------------------------------------ */
/* Schema */

static const char *const migrations[] = {
    /* 1 */
    "CREATE TABLE meta(key text PRIMARY KEY, value text);"
    "CREATE TABLE sequences(tenant text NOT NULL, name text NOT NULL, value bigint NOT NULL,"
    " PRIMARY KEY(tenant, name));"
    "CREATE TABLE registry_versions(tenant text NOT NULL, version text NOT NULL,"
    " seq bigint NOT NULL, manifests text NOT NULL, created_at_ms bigint NOT NULL,"
    " PRIMARY KEY(tenant, version), UNIQUE(tenant, seq));"
    "CREATE TABLE registry_active(tenant text PRIMARY KEY, version text NOT NULL);"
    "CREATE TABLE idempotency(tenant text NOT NULL, key text NOT NULL, tool_id text NOT NULL,"
    " input text NOT NULL, status integer NOT NULL, response text NOT NULL,"
    " created_at_ms bigint NOT NULL, PRIMARY KEY(tenant, key));"
    "CREATE TABLE collabs(tenant text NOT NULL, collab_id text NOT NULL, status text NOT NULL,"
    " participants text NOT NULL, context text NOT NULL, resolution text NOT NULL,"
    " created_at bigint NOT NULL, updated_at bigint NOT NULL, entries bigint NOT NULL,"
    " timeline_bytes bigint NOT NULL, PRIMARY KEY(tenant, collab_id));"
    "CREATE TABLE collab_timeline(tenant text NOT NULL, collab_id text NOT NULL,"
    " seq bigint NOT NULL, entry text NOT NULL, PRIMARY KEY(tenant, collab_id, seq));"
    "CREATE TABLE records(id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,"
    " tenant text NOT NULL, record_id text NOT NULL, repo text NOT NULL, data text NOT NULL,"
    " stored_at bigint NOT NULL, UNIQUE(tenant, record_id));"
    "CREATE INDEX records_repo ON records(tenant, repo, id);"
    "CREATE TABLE edges(id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,"
    " tenant text NOT NULL, src text NOT NULL, dst text NOT NULL, label text NOT NULL,"
    " props text, ts bigint NOT NULL, UNIQUE(tenant, src, label, dst));"
    "CREATE INDEX edges_out ON edges(tenant, src, id);"
    "CREATE INDEX edges_in ON edges(tenant, dst, id);"
    "CREATE TABLE observe(id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,"
    " tenant text NOT NULL, seq bigint NOT NULL, topic text NOT NULL, severity text NOT NULL,"
    " event text NOT NULL, trace_id text, ingested_at bigint NOT NULL);"
    "CREATE INDEX observe_tenant ON observe(tenant, id);"
    "CREATE INDEX observe_topic ON observe(tenant, topic, id);",
    /* 2: HMAC nonces (signatures) accepted by any gateway, until they expire */
    "CREATE TABLE replay_nonces(key text PRIMARY KEY, expires_at bigint NOT NULL);"
    "CREATE INDEX replay_nonces_expiry ON replay_nonces(expires_at);",
    /* 3: the usage ledger (SPEC-llm-routing 3), one row per tenant, UTC day, kind and name,
     * to which every gateway of the database adds */
    "CREATE TABLE usage_ledger(tenant text NOT NULL, day text NOT NULL, kind text NOT NULL,"
    " name text NOT NULL, requests bigint NOT NULL, input_tokens bigint NOT NULL,"
    " output_tokens bigint NOT NULL, errors bigint NOT NULL, duration_ms bigint NOT NULL,"
    " PRIMARY KEY(tenant, day, kind, name));"
    "CREATE INDEX usage_ledger_day ON usage_ledger(day);",
};
#define SCHEMA_VERSION ((int)(sizeof migrations / sizeof migrations[0]))

/* The channel of registry changes: a publish or an activation notifies its tenant. */
#define WATCH_CHANNEL "soulgw_registry"

/* The advisory lock that serialises migrations ("soulgw" in ASCII). */
#define MIGRATE_LOCK "115111117108103119"

/* Prepared statements, by id.  Each connection prepares the ones it uses on first use. */
enum {
  Q_PROBE, Q_SEQ_NEXT,
  Q_REG_INSERT, Q_REG_EXISTS, Q_REG_EXISTS_LOCK, Q_REG_SET_ACTIVE, Q_REG_ACTIVE, Q_REG_GET, Q_REG_LIST,
  Q_REG_TENANTS,
  Q_IDEM_GET, Q_IDEM_INSERT,
  Q_COLLAB_GET, Q_COLLAB_GET_LOCK, Q_COLLAB_PUT, Q_TL_INSERT, Q_TL_RANGE,
  Q_REC_INSERT, Q_REC_APPEND, Q_SEQ_BUMP, Q_REC_APPEND_BULK, Q_REC_GET, Q_REC_POS, Q_REC_LIST, Q_EDGE_INSERT,
  Q_EDGES_OUT, Q_EDGES_IN,
  Q_OBS_INSERT, Q_OBS_QUERY, Q_GRAPH,
  Q_NONCE_CLAIM, Q_NONCE_PURGE,
  Q_USAGE_ADD, Q_USAGE_RANGE,
  Q_COUNT
};

static const char *const sql[Q_COUNT] = {
    /* a row that expired and was not purged yet is claimed again */
    [Q_NONCE_CLAIM] = "INSERT INTO replay_nonces(key, expires_at) VALUES($1::text, $2::bigint)"
                      " ON CONFLICT(key) DO UPDATE SET expires_at = excluded.expires_at"
                      " WHERE replay_nonces.expires_at <= $3::bigint",
    [Q_NONCE_PURGE] = "DELETE FROM replay_nonces WHERE expires_at <= $1::bigint",
    /* additive: the gateways sharing the database add up */
    [Q_USAGE_ADD] = "INSERT INTO usage_ledger AS u(tenant, day, kind, name, requests, input_tokens,"
                    " output_tokens, errors, duration_ms) VALUES($1::text, $2::text, $3::text,"
                    " $4::text, $5::bigint, $6::bigint, $7::bigint, $8::bigint, $9::bigint)"
                    " ON CONFLICT(tenant, day, kind, name) DO UPDATE SET"
                    " requests = u.requests + excluded.requests,"
                    " input_tokens = u.input_tokens + excluded.input_tokens,"
                    " output_tokens = u.output_tokens + excluded.output_tokens,"
                    " errors = u.errors + excluded.errors,"
                    " duration_ms = u.duration_ms + excluded.duration_ms",
    [Q_USAGE_RANGE] = "SELECT tenant, day, kind, name, requests, input_tokens, output_tokens,"
                      " errors, duration_ms FROM usage_ledger"
                      " WHERE ($1::text IS NULL OR tenant = $1::text) AND day >= $2::text"
                      " AND day <= $3::text ORDER BY tenant COLLATE \"C\", day, kind,"
                      " name COLLATE \"C\"",
    [Q_PROBE] = "INSERT INTO meta(key, value) VALUES('probe', $1::text)"
                " ON CONFLICT(key) DO UPDATE SET value = excluded.value",
    [Q_SEQ_NEXT] = "INSERT INTO sequences(tenant, name, value) VALUES($1::text, $2::text, 1)"
                   " ON CONFLICT(tenant, name) DO UPDATE SET value = sequences.value + 1"
                   " RETURNING value",
    /* the version after the tenant's others; a version that exists inserts nothing */
    [Q_REG_INSERT] = "INSERT INTO registry_versions(tenant, version, seq, manifests, created_at_ms)"
                     " SELECT $1::text, $2::text, coalesce(max(seq), 0) + 1, $3::text, $4::bigint"
                     " FROM registry_versions WHERE tenant = $1::text"
                     " ON CONFLICT(tenant, version) DO NOTHING",
    [Q_REG_EXISTS] = "SELECT 1 FROM registry_versions WHERE tenant = $1::text AND version = $2::text",
    /* The writer's: a publish or a bootstrap starts with it, and holds the tenant's registry
     * lock until COMMIT, so that two gateways publishing at once merge one after the other
     * (and number their versions apart) instead of losing a version's manifests. */
    [Q_REG_EXISTS_LOCK] = "SELECT (SELECT 1 FROM registry_versions WHERE tenant = $1::text"
                          " AND version = $2::text)"
                          " FROM (SELECT pg_advisory_xact_lock(hashtextextended("
                          "'soulgw/registry/' || $1::text, 0))) l",
    /* and tells every gateway, at COMMIT (nothing when the write is undone) */
    [Q_REG_SET_ACTIVE] = "WITH a AS (INSERT INTO registry_active(tenant, version)"
                         " VALUES($1::text, $2::text)"
                         " ON CONFLICT(tenant) DO UPDATE SET version = excluded.version"
                         " RETURNING tenant) SELECT pg_notify('" WATCH_CHANNEL "', tenant) FROM a",
    [Q_REG_ACTIVE] = "SELECT v.version, v.manifests, v.created_at_ms FROM registry_active a"
                     " JOIN registry_versions v ON v.tenant = a.tenant AND v.version = a.version"
                     " WHERE a.tenant = $1::text",
    [Q_REG_GET] = "SELECT version, manifests, created_at_ms FROM registry_versions"
                  " WHERE tenant = $1::text AND version = $2::text",
    [Q_REG_LIST] = "SELECT v.version, v.manifests, v.created_at_ms, (v.version = a.version)::int"
                   " FROM registry_versions v LEFT JOIN registry_active a ON a.tenant = v.tenant"
                   " WHERE v.tenant = $1::text ORDER BY v.seq",
    [Q_REG_TENANTS] = "SELECT tenant FROM registry_active ORDER BY tenant COLLATE \"C\"",
    [Q_IDEM_GET] = "SELECT tool_id, input, status, response FROM idempotency"
                   " WHERE tenant = $1::text AND key = $2::text",
    [Q_IDEM_INSERT] = "INSERT INTO idempotency(tenant, key, tool_id, input, status, response,"
                      " created_at_ms) VALUES($1::text, $2::text, $3::text, $4::text, $5::int,"
                      " $6::text, $7::bigint) ON CONFLICT DO NOTHING",
    [Q_COLLAB_GET] = "SELECT status, participants, context, resolution, created_at, updated_at,"
                     " entries, timeline_bytes FROM collabs"
                     " WHERE tenant = $1::text AND collab_id = $2::text",
    /* The writer's: a collaboration is read, merged and written back under its row's lock,
     * so that two gateways advancing it at once do so one after the other. */
    [Q_COLLAB_GET_LOCK] = "SELECT status, participants, context, resolution, created_at,"
                          " updated_at, entries, timeline_bytes FROM collabs"
                          " WHERE tenant = $1::text AND collab_id = $2::text FOR UPDATE",
    [Q_COLLAB_PUT] = "INSERT INTO collabs(tenant, collab_id, status, participants, context,"
                     " resolution, created_at, updated_at, entries, timeline_bytes)"
                     " VALUES($1::text, $2::text, $3::text, $4::text, $5::text, $6::text,"
                     " $7::bigint, $8::bigint, $9::bigint, $10::bigint)"
                     " ON CONFLICT(tenant, collab_id) DO UPDATE SET status = excluded.status,"
                     " participants = excluded.participants, context = excluded.context,"
                     " resolution = excluded.resolution, updated_at = excluded.updated_at,"
                     " entries = excluded.entries, timeline_bytes = excluded.timeline_bytes",
    [Q_TL_INSERT] = "INSERT INTO collab_timeline(tenant, collab_id, seq, entry)"
                    " VALUES($1::text, $2::text, $3::bigint, $4::text)",
    [Q_TL_RANGE] = "SELECT seq, entry FROM collab_timeline WHERE tenant = $1::text"
                   " AND collab_id = $2::text AND seq > $3::bigint ORDER BY seq LIMIT $4::bigint",
    [Q_REC_INSERT] = "INSERT INTO records(tenant, record_id, repo, data, stored_at)"
                     " VALUES($1::text, $2::text, $3::text, $4::text, $5::bigint)"
                     " ON CONFLICT(tenant, record_id) DO NOTHING",
    /* A record and its edges in one statement (one round trip): $1 tenant, $2 the record_id
     * (NULL: "<repo>::<n>", n from the tenant's record sequence), $3 repo, $4 data, $5 the
     * time, $6-$9 the edges' from (NULL: the record), to, label and props as text[].  Answers
     * the record_id stored, or NULL when it was taken (nothing stored, a number spent). */
    [Q_REC_APPEND] =
        "WITH n AS (INSERT INTO sequences(tenant, name, value)"
        "  SELECT $1::text, 'record', 1 WHERE $2::text IS NULL"
        "  ON CONFLICT(tenant, name) DO UPDATE SET value = sequences.value + 1 RETURNING value),"
        " r AS (INSERT INTO records(tenant, record_id, repo, data, stored_at)"
        "  SELECT $1::text, coalesce($2::text, $3::text || '::' || (SELECT value FROM n)),"
        "   $3::text, $4::text, $5::bigint"
        "  ON CONFLICT(tenant, record_id) DO NOTHING RETURNING record_id),"
        " e AS (INSERT INTO edges(tenant, src, dst, label, props, ts)"
        "  SELECT $1::text, coalesce(x.f, r.record_id), x.t, x.l, x.p, $5::bigint"
        "  FROM r, unnest($6::text[], $7::text[], $8::text[], $9::text[])"
        "   WITH ORDINALITY AS x(f, t, l, p, o) ORDER BY x.o"
        "  ON CONFLICT(tenant, src, label, dst) DO NOTHING)"
        " SELECT (SELECT record_id FROM r)",
    /* The record numbers of a run of appends at once: $2 of them for tenant $1. */
    [Q_SEQ_BUMP] = "INSERT INTO sequences(tenant, name, value) VALUES($1::text, 'record', $2::bigint)"
                   " ON CONFLICT(tenant, name) DO UPDATE SET value = sequences.value + $2::bigint",
    /* A tenant's appends of a batch in one statement, whose generated numbers Q_SEQ_BUMP took:
     * $1 tenant; append o (from 1) is $2[o] the record_id (NULL: "<repo>::<n>", n the
     * sequence's value less $5[o]), $3[o] repo, $4[o] data, $6[o] the time; edge k is
     * $7[k] the append it belongs to, $8[k] from (NULL: the record), $9[k] to, $10[k] label,
     * $11[k] props.  Records are inserted in order: of appends of one id, the first is stored
     * if the id was free.  Answers (o, record_id, stored) for every append, in order. */
    [Q_REC_APPEND_BULK] =
        "WITH b AS (SELECT x.o, x.repo, x.data, x.ts, coalesce(x.rid, x.repo || '::' ||"
        "   ((SELECT value FROM sequences WHERE tenant = $1::text AND name = 'record') - x.back))"
        "   AS cid FROM unnest($2::text[], $3::text[], $4::text[], $5::bigint[], $6::bigint[])"
        "   WITH ORDINALITY AS x(rid, repo, data, back, ts, o)),"
        " r AS (INSERT INTO records(tenant, record_id, repo, data, stored_at)"
        "  SELECT $1::text, b.cid, b.repo, b.data, b.ts FROM b ORDER BY b.o"
        "  ON CONFLICT(tenant, record_id) DO NOTHING RETURNING record_id),"
        " w AS (SELECT b.o, b.cid, b.ts FROM b JOIN r ON r.record_id = b.cid"
        "  WHERE b.o = (SELECT min(b2.o) FROM b b2 WHERE b2.cid = b.cid)),"
        " e AS (INSERT INTO edges(tenant, src, dst, label, props, ts)"
        "  SELECT $1::text, coalesce(y.f, w.cid), y.t, y.l, y.p, w.ts"
        "  FROM unnest($7::bigint[], $8::text[], $9::text[], $10::text[], $11::text[])"
        "   WITH ORDINALITY AS y(owner, f, t, l, p, k) JOIN w ON w.o = y.owner ORDER BY y.k"
        "  ON CONFLICT(tenant, src, label, dst) DO NOTHING)"
        " SELECT b.o, b.cid, (w.o IS NOT NULL)::int FROM b LEFT JOIN w ON w.o = b.o ORDER BY b.o",
    [Q_REC_GET] = "SELECT repo, data, stored_at FROM records"
                  " WHERE tenant = $1::text AND record_id = $2::text",
    [Q_REC_POS] = "SELECT id FROM records WHERE tenant = $1::text AND record_id = $2::text"
                  " AND repo = $3::text",
    [Q_REC_LIST] = "SELECT record_id, data, stored_at FROM records WHERE tenant = $1::text"
                   " AND repo = $2::text AND id > $3::bigint ORDER BY id LIMIT $4::bigint",
    [Q_EDGE_INSERT] = "INSERT INTO edges(tenant, src, dst, label, props, ts)"
                      " VALUES($1::text, $2::text, $3::text, $4::text, $5::text, $6::bigint)"
                      " ON CONFLICT(tenant, src, label, dst) DO NOTHING",
    [Q_EDGES_OUT] = "SELECT id, src, dst, label, props, ts FROM edges WHERE tenant = $1::text"
                    " AND src = ANY($2::text[]) AND ($3::text IS NULL OR label = $3::text)"
                    " ORDER BY id DESC LIMIT $4::bigint",
    [Q_EDGES_IN] = "SELECT id, src, dst, label, props, ts FROM edges WHERE tenant = $1::text"
                   " AND dst = ANY($2::text[]) AND ($3::text IS NULL OR label = $3::text)"
                   " ORDER BY id DESC LIMIT $4::bigint",
    [Q_OBS_INSERT] = "INSERT INTO observe(tenant, seq, topic, severity, event, trace_id,"
                     " ingested_at) VALUES($1::text, $2::bigint, $3::text, $4::text, $5::text,"
                     " $6::text, $7::bigint)",
    [Q_OBS_QUERY] = "SELECT seq, topic, severity, event, trace_id, ingested_at FROM observe"
                    " WHERE tenant = $1::text AND ($2::text IS NULL OR topic = $2::text)"
                    " AND ($3::bigint < 0 OR ingested_at >= $3::bigint)"
                    " AND ($4::text IS NULL OR severity = $4::text) ORDER BY id LIMIT $5::bigint",
    /* The walk of shape.c in one query.  $1 tenant, $2 the start node, $3 the label (NULL:
     * any), $4 the direction (0 out, 1 in, 2 both), $5 the depth, $6 the limit.  One row of
     * `walk` per depth: the frontier, the nodes reached, the edges answered so far and those
     * of this depth.  A depth answers the newest edges (by id) touching the frontier that were
     * not answered before, as many as the limit still allows: the newest of those leaving it
     * and the newest of those arriving at it from outside (an edge between two nodes of the
     * frontier is one leaving it).  Their new ends are the next frontier.  The answer is
     * ordered by depth, then newest first (ts, then id), as shape.c orders it. */
    [Q_GRAPH] =
        "WITH RECURSIVE walk(d, frontier, seen, met, total, hits) AS ("
        " SELECT 0, ARRAY[$2::text], ARRAY[$2::text], ARRAY[]::bigint[], 0::bigint,"
        "  ARRAY[]::bigint[]"
        " UNION ALL"
        " SELECT w.d + 1, s.next, w.seen || s.next, w.met || s.ids,"
        "  w.total + cardinality(s.ids), s.ids"
        " FROM walk w CROSS JOIN LATERAL ("
        "  SELECT coalesce(array_agg(h.id), ARRAY[]::bigint[]) AS ids,"
        "   coalesce(array_agg(DISTINCT h.other) FILTER (WHERE NOT h.other = ANY(w.seen)),"
        "    ARRAY[]::text[]) AS next"
        "  FROM (SELECT u.id, u.other FROM ("
        "    (SELECT e.id, e.dst AS other FROM edges e WHERE $4::int <> 1"
        "     AND e.tenant = $1::text AND e.src = ANY(w.frontier)"
        "     AND ($3::text IS NULL OR e.label = $3::text) AND NOT e.id = ANY(w.met)"
        "     ORDER BY e.id DESC LIMIT $6::bigint - w.total)"
        "    UNION ALL"
        "    (SELECT e.id, e.src AS other FROM edges e WHERE $4::int <> 0"
        "     AND e.tenant = $1::text AND e.dst = ANY(w.frontier)"
        "     AND NOT ($4::int = 2 AND e.src = ANY(w.frontier))"
        "     AND ($3::text IS NULL OR e.label = $3::text) AND NOT e.id = ANY(w.met)"
        "     ORDER BY e.id DESC LIMIT $6::bigint - w.total)) u"
        "   ORDER BY u.id DESC LIMIT $6::bigint - w.total) h"
        " ) s"
        " WHERE w.d < $5::int AND w.total < $6::bigint AND cardinality(w.frontier) > 0)"
        " SELECT e.id, e.src, e.dst, e.label, e.props, e.ts, w.d"
        " FROM walk w JOIN edges e ON e.id = ANY(w.hits) AND e.tenant = $1::text"
        " ORDER BY w.d, e.ts DESC, e.id DESC",
};

/* ------------------------------------------------------------------------------------------ */
/* Errors
 *
 * A positive code is a SQLSTATE, its five characters in base 36, so that fatal() can read its
 * class back.  A connection keeps the message of its last error, for describe(). */

static int code_of(const char *state) {
  int v = 0;
  for (int i = 0; i < 5; i++) {
    char ch = state && state[0] ? state[i] : "08006"[i]; /* no SQLSTATE: the connection */
    int d = ch >= '0' && ch <= '9' ? ch - '0' : ch >= 'A' && ch <= 'Z' ? ch - 'A' + 10 : 0;
    v = v * 36 + d;
  }
  return v ? v : 1;
}

/* The SQLSTATE of a positive code, into s[6]. */
static void state_of(int code, char *s) {
  for (int i = 4; i >= 0; i--) {
    int d = code % 36;
    s[i] = (char)(d < 10 ? '0' + d : 'A' + d - 10);
    code /= 36;
  }
  s[5] = '\0';
}

/* ------------------------------------------------------------------------------------------ */
/* Connections */

/* The watch of registry changes: a connection of its own that LISTENs, on a thread. */
typedef struct watch {
  pthread_t thread;
  int started;
  atomic_int stop;
  sg_watch_fn fn;
  void *ud;
  PGconn *pg;
  int missed; /* notifications may have been missed: tell fn(NULL) once listening again */
} watch;

struct sg_drv {
  char *url;      /* the connection URI: a secret */
  char *password; /* its password, taken out of messages (NULL: none) */
  int statement_timeout_ms;
  sg_log *log;
  watch w;
  atomic_int epoch; /* connections opened again: one backing off may try at once */
};

typedef struct conn {
  sg_conn base; /* first: the front's view */
  sg_drv *d;
  PGconn *pg;
  int reader;
  unsigned char prepared[Q_COUNT];
  char msg[256]; /* the last error's message, without secrets */
  int64_t retry_at_ms, backoff_ms; /* reconnection, once the server dropped us */
  int epoch;                       /* sg_drv.epoch when it last failed to connect */
  sg_buf ids;                      /* a frontier, as a text[] literal */
  /* The writer's BEGIN and a write's SAVEPOINT, not sent yet: they go out with the next
   * statement, in one pipeline (one round trip), or not at all when nothing follows. */
  const char *pending[2];
  int npending;
} conn;

#define CONN(c) ((conn *)(c))
#define BACKOFF_MIN_MS 100
#define BACKOFF_MAX_MS 5000

static int64_t mono_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* text (libpq's, possibly about the URI) into out, one line, without the password. */
static void clean(const sg_drv *d, const char *text, char *out, size_t len) {
  size_t n = strlen(text);
  while (n && (text[n - 1] == '\n' || text[n - 1] == ' ')) n--;
  const char *pw = d ? d->password : NULL;
  sg_redact(text, n, pw, pw ? strlen(pw) : 0, out, len);
}

/* Records result r's error (or the connection's) on c: its code. */
static int fail(conn *c, PGresult *r) {
  const char *state = r ? pq.PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;
  const char *primary = r ? pq.PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY) : NULL;
  /* the primary message only: the detail may quote the row's values */
  clean(c->d, primary ? primary : pq.PQerrorMessage(c->pg), c->msg, sizeof c->msg);
  if (!state && pq.PQstatus(c->pg) != CONNECTION_BAD) state = "XX000";
  return code_of(state);
}

/* Reads the results of a pipeline's commands up to its sync, and leaves pipeline mode.  A NULL
 * ends each command's results; two in a row, a connection that broke. */
static void pipeline_end(PGconn *pg) {
  for (int nulls = 0; nulls < 2;) {
    PGresult *r = pq.PQgetResult(pg);
    nulls = r ? 0 : nulls + 1;
    int sync = r && pq.PQresultStatus(r) == PGRES_PIPELINE_SYNC;
    pq.PQclear(r);
    if (sync) break;
  }
  pq.PQexitPipelineMode(pg);
}

/* Leaves a pipeline whose commands could not all be queued (out of memory): what was queued
 * runs, its results are dropped, and the caller fails (its transaction is rolled back). */
static void pipeline_abandon(PGconn *pg) {
  if (pq.PQstatus(pg) == CONNECTION_OK && pq.PQpipelineSync(pg)) pipeline_end(pg);
  else pq.PQexitPipelineMode(pg);
}

/* The result of the last of n commands sent in pipeline mode, or of the first that failed (the
 * others are cleared); NULL when the connection broke. */
static PGresult *pipeline_results(PGconn *pg, int n) {
  PGresult *keep = NULL;
  for (int i = 0; i < n; i++) {
    PGresult *r = pq.PQgetResult(pg), *extra;
    if (!r) break; /* the connection broke */
    while ((extra = pq.PQgetResult(pg))) pq.PQclear(extra);
    ExecStatusType k = keep ? pq.PQresultStatus(keep) : PGRES_COMMAND_OK;
    if (k != PGRES_COMMAND_OK && k != PGRES_TUPLES_OK) { /* the first failure stays */
      pq.PQclear(r);
      continue;
    }
    pq.PQclear(keep);
    keep = r;
  }
  pipeline_end(pg);
  return keep;
}

/* Runs a statement (prepared statement name bound to vals, or command) after c's pending
 * commands, in one pipeline and one round trip when there are any.  Its result, the first
 * failed one's, or NULL. */
static PGresult *exec_after_pending(conn *c, const char *name, const char *command, int n,
                                    const char *const *vals) {
  int np = c->npending;
  c->npending = 0;
  if (!np)
    return name ? pq.PQexecPrepared(c->pg, name, n, vals, NULL, NULL, 0)
                : pq.PQexec(c->pg, command);
  if (!pq.PQenterPipelineMode(c->pg)) return NULL;
  int ok = 1;
  for (int i = 0; i < np && ok; i++)
    ok = pq.PQsendQueryParams(c->pg, c->pending[i], 0, NULL, NULL, NULL, NULL, 0);
  if (ok)
    ok = name ? pq.PQsendQueryPrepared(c->pg, name, n, vals, NULL, NULL, 0)
              : pq.PQsendQueryParams(c->pg, command, 0, NULL, NULL, NULL, NULL, 0);
  if (!ok) {
    pipeline_abandon(c->pg);
    return NULL;
  }
  if (!pq.PQpipelineSync(c->pg)) {
    pq.PQexitPipelineMode(c->pg);
    return NULL;
  }
  return pipeline_results(c->pg, np + 1);
}

/* Runs one command without parameters on c (session settings, transaction control): 0 or the
 * error.  want: the command tag it must answer ("COMMIT"), or NULL. */
static int simple(conn *c, const char *command, const char *want) {
  PGresult *r = exec_after_pending(c, NULL, command, 0, NULL);
  int rc = 0;
  if (pq.PQresultStatus(r) != PGRES_COMMAND_OK && pq.PQresultStatus(r) != PGRES_TUPLES_OK) {
    rc = fail(c, r);
  } else if (want && strcmp(pq.PQcmdStatus(r), want) != 0) {
    snprintf(c->msg, sizeof c->msg, "%s answered %s", command, pq.PQcmdStatus(r));
    rc = code_of("40000"); /* a COMMIT that rolled back */
  }
  pq.PQclear(r);
  return rc;
}

/* The settings of every connection, on a fresh one. */
static int session(conn *c) {
  char set[96];
  snprintf(set, sizeof set, "SET statement_timeout = %d", c->d->statement_timeout_ms);
  memset(c->prepared, 0, sizeof c->prepared);
  int rc = simple(c, set, NULL);
  if (!rc) rc = simple(c, "SET client_min_messages = warning", NULL);
  if (!rc && c->reader) rc = simple(c, "SET default_transaction_read_only = on", NULL);
  return rc;
}

/* A connection the server dropped opens again, at most once per backoff.  0 when c is usable. */
static int usable(conn *c) {
  if (pq.PQstatus(c->pg) == CONNECTION_OK) return 0;
  int64_t now = mono_ms();
  /* backing off, unless another connection got through since this one failed */
  if (now < c->retry_at_ms && c->epoch == atomic_load(&c->d->epoch)) {
    snprintf(c->msg, sizeof c->msg, "not connected to PostgreSQL (retrying)");
    return code_of("08006");
  }
  pq.PQreset(c->pg);
  int rc = pq.PQstatus(c->pg) == CONNECTION_OK ? session(c) : fail(c, NULL);
  if (rc) {
    c->epoch = atomic_load(&c->d->epoch);
    c->backoff_ms = c->backoff_ms ? c->backoff_ms * 2 : BACKOFF_MIN_MS;
    if (c->backoff_ms > BACKOFF_MAX_MS) c->backoff_ms = BACKOFF_MAX_MS;
    c->retry_at_ms = now + c->backoff_ms;
    return rc;
  }
  c->backoff_ms = 0; /* the store logs the end of the outage, once */
  c->retry_at_ms = 0;
  atomic_fetch_add(&c->d->epoch, 1);
  return 0;
}

static void pg_disconnect(sg_conn *base) {
  conn *c = CONN(base);
  if (!c) return;
  pq.PQfinish(c->pg);
  sg_buf_free(&c->ids);
  free(c);
}

/* Opens a libpq connection to d: a connect_timeout unless the URI has its own. */
static PGconn *open_pg(const sg_drv *d) {
  const char *const keys[] = {"connect_timeout", "application_name", "dbname", NULL};
  const char *const vals[] = {"10", "soulgw", d->url, NULL};
  return pq.PQconnectdbParams(keys, vals, 1);
}

static int pg_connect(sg_drv *d, int reader, sg_conn **out, char *err, size_t errlen) {
  conn *c = calloc(1, sizeof *c);
  if (!c) {
    snprintf(err, errlen, "out of memory");
    return SG_DRV_NOMEM;
  }
  c->base.drv = &sg_store_pg;
  c->d = d;
  c->reader = reader;
  sg_buf_init(&c->ids, 0);
  c->pg = open_pg(d);
  int rc;
  if (!c->pg) {
    snprintf(c->msg, sizeof c->msg, "out of memory");
    rc = SG_DRV_NOMEM;
  } else {
    rc = pq.PQstatus(c->pg) == CONNECTION_OK ? session(c) : fail(c, NULL);
  }
  if (rc) {
    snprintf(err, errlen, "cannot connect to PostgreSQL: %s", c->msg);
    pg_disconnect(&c->base);
    return rc;
  }
  *out = &c->base;
  return 0;
}

/* ------------------------------------------------------------------------------------------ */
/* The watch of registry changes */

/* libpq's notices (a FATAL the server sends an idle connection as it drops it) go to stderr
 * unless taken: the watch's lost connection is handled, not printed. */
static void quiet(void *ud, const char *message) {
  (void)ud;
  (void)message;
}

/* A connection that LISTENs on the channel, or NULL. */
static PGconn *watch_connect(const sg_drv *d) {
  PGconn *pg = open_pg(d);
  if (pg) pq.PQsetNoticeProcessor(pg, quiet, NULL);
  PGresult *r =
      pg && pq.PQstatus(pg) == CONNECTION_OK ? pq.PQexec(pg, "LISTEN " WATCH_CHANNEL) : NULL;
  int ok = pq.PQresultStatus(r) == PGRES_COMMAND_OK;
  pq.PQclear(r);
  if (!ok) {
    pq.PQfinish(pg);
    return NULL;
  }
  return pg;
}

/* Waits ms, or less when the watch stops. */
static void watch_sleep(watch *w, int64_t ms) {
  for (int64_t end = mono_ms() + ms; !atomic_load(&w->stop) && mono_ms() < end;)
    poll(NULL, 0, 50);
}

/* Hands the notifications the connection holds to fn: 0, or -1 when the connection is lost. */
static int watch_read(watch *w) {
  struct pollfd p = {pq.PQsocket(w->pg), POLLIN, 0};
  if (p.fd < 0) return -1;
  if (poll(&p, 1, 200) <= 0 && !pq.PQisBusy(w->pg)) return 0;
  if (!pq.PQconsumeInput(w->pg) || pq.PQstatus(w->pg) != CONNECTION_OK) return -1;
  for (PGnotify *n; (n = pq.PQnotifies(w->pg)); pq.PQfreemem(n))
    if (n->extra && n->extra[0]) w->fn(w->ud, n->extra);
  return 0;
}

/* The watch's thread: listens, and after a drop connects again (backoff 100 ms to 5 s) and
 * tells fn that every tenant may have changed. */
static void *watch_main(void *self) {
  sg_drv *d = self;
  watch *w = &d->w;
  int64_t backoff = 0;
  while (!atomic_load(&w->stop)) {
    if (!w->pg) {
      watch_sleep(w, backoff);
      if (atomic_load(&w->stop)) break;
      if (!(w->pg = watch_connect(d))) {
        backoff = backoff ? backoff * 2 : BACKOFF_MIN_MS;
        if (backoff > BACKOFF_MAX_MS) backoff = BACKOFF_MAX_MS;
        continue;
      }
      backoff = 0;
      if (w->missed) w->fn(w->ud, NULL);
      w->missed = 0;
    }
    if (watch_read(w) != 0) {
      pq.PQfinish(w->pg);
      w->pg = NULL;
      w->missed = 1;
    }
  }
  return NULL;
}

static int pg_watch(sg_drv *d, sg_watch_fn fn, void *ud) {
  watch *w = &d->w;
  if (w->started) return SG_DRV_FAILED;
  w->fn = fn;
  w->ud = ud;
  atomic_init(&w->stop, 0);
  w->pg = watch_connect(d); /* listening before the caller loads: nothing missed */
  w->missed = w->pg == NULL;
  if (pthread_create(&w->thread, NULL, watch_main, d) != 0) {
    pq.PQfinish(w->pg);
    w->pg = NULL;
    return SG_DRV_FAILED;
  }
  w->started = 1;
  return 0;
}

static void pg_unwatch(sg_drv *d) {
  if (!d || !d->w.started) return;
  atomic_store(&d->w.stop, 1);
  pthread_join(d->w.thread, NULL);
  pq.PQfinish(d->w.pg);
  d->w.pg = NULL;
  d->w.started = 0;
}

static void pg_close(sg_drv *d) {
  if (!d) return;
  pg_unwatch(d);
  if (d->url) sg_wipe(d->url, strlen(d->url));
  if (d->password) sg_wipe(d->password, strlen(d->password));
  free(d->url);
  free(d->password);
  free(d);
}

static int pg_open(const sg_store_opts *o, sg_drv **out, char *err, size_t errlen) {
  *out = NULL;
  const char *missing = pq_load();
  if (missing) {
    snprintf(err, errlen, "%s", missing);
    return -1;
  }
  if (!o->url || !*o->url) {
    snprintf(err, errlen, "the postgres backend needs a connection URI (storage.url_env, "
                          "url_file or url)");
    return -1;
  }
  char *why = NULL;
  PQconninfoOption *opts = pq.PQconninfoParse(o->url, &why);
  if (!opts) {
    /* libpq's message may quote the URI, secret and all */
    pq.PQfreemem(why);
    snprintf(err, errlen, "the storage URL is not a valid PostgreSQL connection URI");
    return -1;
  }
  sg_drv *d = calloc(1, sizeof *d);
  int oom = !d;
  if (d) {
    d->url = sg_strdup(o->url);
    d->statement_timeout_ms = o->statement_timeout_ms > 0 ? o->statement_timeout_ms : 5000;
    d->log = o->log;
    oom = !d->url;
    for (PQconninfoOption *p = opts; p->keyword; p++)
      if (strcmp(p->keyword, "password") == 0 && p->val && *p->val &&
          !(d->password = sg_strdup(p->val)))
        oom = 1;
  }
  pq.PQconninfoFree(opts);
  if (oom) {
    pg_close(d);
    snprintf(err, errlen, "out of memory");
    return -1;
  }
  *out = d;
  return 0;
}

static int pg_reach(const sg_store_opts *o, char *why, size_t len) {
  sg_drv *d = NULL;
  if (pg_open(o, &d, why, len) != 0) return -1;
  PGconn *pg = open_pg(d);
  PGresult *r = pg && pq.PQstatus(pg) == CONNECTION_OK ? pq.PQexec(pg, "SELECT 1") : NULL;
  int rc = pq.PQresultStatus(r) == PGRES_TUPLES_OK ? 0 : -1;
  if (rc) {
    const char *m = r ? pq.PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY) : NULL;
    clean(d, m ? m : pg ? pq.PQerrorMessage(pg) : "out of memory", why, len);
  }
  pq.PQclear(r);
  pq.PQfinish(pg);
  pg_close(d);
  return rc;
}

static int pg_migrate(sg_drv *d, sg_conn *base, int *schema, char *err, size_t errlen) {
  conn *c = CONN(base);
  (void)d;
  int version = -1, rc;
  /* waiting for another gateway's migration is not a statement that hangs */
  if ((rc = simple(c, "SET statement_timeout = 0", NULL)) ||
      (rc = simple(c, "SELECT pg_advisory_lock(" MIGRATE_LOCK ")", NULL))) {
    snprintf(err, errlen, "cannot lock the PostgreSQL schema: %s", c->msg);
    return -1;
  }
  rc = simple(c, "CREATE TABLE IF NOT EXISTS soulgw_schema(version integer NOT NULL)", NULL);
  if (!rc) {
    PGresult *r = pq.PQexec(c->pg, "SELECT coalesce(max(version), 0) FROM soulgw_schema");
    if (pq.PQresultStatus(r) == PGRES_TUPLES_OK && pq.PQntuples(r) == 1)
      version = atoi(pq.PQgetvalue(r, 0, 0));
    else
      rc = fail(c, r);
    pq.PQclear(r);
  }
  if (rc) {
    snprintf(err, errlen, "cannot read the PostgreSQL schema version: %s", c->msg);
  } else if (version > SCHEMA_VERSION) {
    snprintf(err, errlen, "the PostgreSQL database has schema version %d, newer than this "
                          "soulgw knows (%d)", version, SCHEMA_VERSION);
    rc = -1;
  }
  for (int v = version; !rc && v < SCHEMA_VERSION; v++) {
    char bump[96];
    snprintf(bump, sizeof bump, "DELETE FROM soulgw_schema; INSERT INTO soulgw_schema VALUES(%d)",
             v + 1);
    if ((rc = simple(c, "BEGIN", NULL)) || (rc = simple(c, migrations[v], NULL)) ||
        (rc = simple(c, bump, NULL)) || (rc = simple(c, "COMMIT", "COMMIT"))) {
      snprintf(err, errlen, "cannot migrate the PostgreSQL database to schema version %d: %s",
               v + 1, c->msg);
      simple(c, "ROLLBACK", NULL);
    }
  }
  simple(c, "SELECT pg_advisory_unlock(" MIGRATE_LOCK ")", NULL);
  if (rc) return -1;
  if (session(c)) {
    snprintf(err, errlen, "cannot set up the PostgreSQL connection: %s", c->msg);
    return -1;
  }
  *schema = SCHEMA_VERSION;
  return 0;
}

static const char *pg_version(void) {
  static char v[16];
  if (pq_load()) return "not installed";
  int n = pq.PQlibVersion();
  snprintf(v, sizeof v, "%d.%d", n / 10000, n % 10000);
  return v;
}

/* ------------------------------------------------------------------------------------------ */
/* The skeleton of every statement */

/* A value to bind: text (s NULL binds SQL NULL) or an integer. */
typedef struct arg {
  char type; /* 't' or 'i' */
  const char *s;
  int64_t i;
} arg;
#define A_TXT(v) ((arg){'t', (v), 0})
#define A_INT(v) ((arg){'i', NULL, (int64_t)(v)})
#define ARGS(...) (const arg[]){__VA_ARGS__}, (int)(sizeof (const arg[]){__VA_ARGS__} / sizeof(arg))
#define MAX_ARGS 10

/* Runs statement q bound to a (n values, $1 to $n) on c, preparing it on first use.  Returns
 * the result, whose status is ok (rows or none), or NULL with *err set (recorded on c). */
/* Prepares statement q on c unless it is: 0 or the error. */
static int prepare(conn *c, int q) {
  if (c->prepared[q]) return 0;
  char name[16];
  snprintf(name, sizeof name, "q%d", q);
  PGresult *r = pq.PQprepare(c->pg, name, sql[q], 0, NULL);
  int err = pq.PQresultStatus(r) == PGRES_COMMAND_OK ? 0 : fail(c, r);
  pq.PQclear(r);
  c->prepared[q] = !err;
  return err;
}

/* The n values of a, as libpq takes them (integers written into ints). */
static void bind(const arg *a, int n, const char **vals, char (*ints)[24]) {
  for (int k = 0; k < n && k < MAX_ARGS; k++) {
    if (a[k].type == 'i') {
      snprintf(ints[k], sizeof ints[k], "%lld", (long long)a[k].i);
      vals[k] = ints[k];
    } else {
      vals[k] = a[k].s;
    }
  }
}

static PGresult *run_once(conn *c, int q, const arg *a, int n, int *err) {
  char ints[MAX_ARGS][24];
  const char *vals[MAX_ARGS];
  PGresult *r;
  if ((*err = usable(c)) || (*err = prepare(c, q))) return NULL;
  bind(a, n, vals, ints);
  char name[16];
  snprintf(name, sizeof name, "q%d", q);
  r = exec_after_pending(c, name, NULL, n, vals);
  ExecStatusType s = pq.PQresultStatus(r);
  if (s != PGRES_COMMAND_OK && s != PGRES_TUPLES_OK) {
    *err = fail(c, r);
    pq.PQclear(r);
    return NULL;
  }
  *err = 0;
  return r;
}

/* 1 when nothing is lost by running again on a new connection what c's server dropped: a
 * reader's statement, or the writer's first of a transaction (its BEGIN still pending). */
static int retryable(const conn *c) {
  return c->reader || (c->npending && !strcmp(c->pending[0], "BEGIN"));
}

/* A connection dropped while idle (the server restarted since its last use) is found dead by
 * its next statement: that statement runs once more on a new connection when nothing is lost
 * by it (retryable()), so that a recovered server is not reported unavailable again. */
static PGresult *run(conn *c, int q, const arg *a, int n, int *err) {
  const char *pending[2] = {c->pending[0], c->pending[1]};
  int np = c->npending, again = retryable(c);
  PGresult *r = run_once(c, q, a, n, err);
  if (r || !again || pq.PQstatus(c->pg) == CONNECTION_OK) return r;
  c->npending = np;
  memcpy(c->pending, pending, sizeof pending);
  c->retry_at_ms = 0;
  return run_once(c, q, a, n, err);
}

/* Runs statement q bound to a: 0 or the error; *changed (when not NULL) the rows it wrote. */
static int exec_q(conn *c, int q, const arg *a, int n, int64_t *changed) {
  int err;
  PGresult *r = run(c, q, a, n, &err);
  if (!r) return err;
  if (changed) *changed = strtoll(pq.PQcmdTuples(r), NULL, 10);
  pq.PQclear(r);
  return 0;
}

/* A row of a read: the result and the row number. */
typedef struct row {
  sg_row base; /* first: the front's view */
  PGresult *r;
  int i;
} row;

static const char *pg_text(const sg_row *rw, int i, size_t *len) {
  const row *x = (const row *)rw;
  if (pq.PQgetisnull(x->r, x->i, i)) {
    if (len) *len = 0;
    return NULL;
  }
  if (len) *len = (size_t)pq.PQgetlength(x->r, x->i, i);
  return pq.PQgetvalue(x->r, x->i, i);
}

static int64_t pg_integer(const sg_row *rw, int i) {
  const row *x = (const row *)rw;
  if (pq.PQgetisnull(x->r, x->i, i)) return 0;
  const char *v = pq.PQgetvalue(x->r, x->i, i);
  if (v[0] == 't' && !v[1]) return 1;
  return strtoll(v, NULL, 10);
}

/* The read skeleton: runs q bound to a and hands each row to fn.  0 when the rows ran out or
 * fn stopped, else the error (the engine's, or the one fn returned). */
static int read_rows(conn *c, int q, const arg *a, int n, sg_row_fn fn, void *ud) {
  int err;
  row x = {{&sg_store_pg}, run(c, q, a, n, &err), 0};
  if (!x.r) return err;
  int rc = 0, rows = pq.PQntuples(x.r);
  for (x.i = 0; x.i < rows && rc == 0; x.i++) rc = fn(ud, &x.base);
  pq.PQclear(x.r);
  return rc == SG_DRV_STOP ? 0 : rc;
}

static int row_int(void *ud, const sg_row *r) {
  *(int64_t *)ud = sg_row_int(r, 0);
  return SG_DRV_STOP;
}

/* ------------------------------------------------------------------------------------------ */
/* Errors and transactions */

static void pg_describe(sg_conn *c, int err, const char **msg, int *code) {
  *code = err;
  switch (err) {
    case SG_DRV_CONFLICT: *msg = "conflict"; return;
    case SG_DRV_NOMEM: *msg = "out of memory"; return;
    case SG_DRV_UNREADABLE: *msg = "a stored value cannot be read"; return;
    case SG_DRV_CANTOPEN: *msg = "cannot connect to PostgreSQL"; return;
    default: *msg = c && CONN(c)->msg[0] ? CONN(c)->msg : "PostgreSQL failed";
  }
}

static int pg_fatal(sg_conn *base, int err) {
  conn *c = CONN(base);
  if (pq.PQstatus(c->pg) != CONNECTION_OK) return 1;
  if (c->npending) return 0; /* the write sent nothing: its failure is its own */
  PGTransactionStatusType t = pq.PQtransactionStatus(c->pg);
  if (t == PQTRANS_IDLE || t == PQTRANS_UNKNOWN) return 1; /* the transaction is gone */
  if (err <= 0) return 0;
  char s[6];
  state_of(err, s);
  if (strcmp(s, "57014") == 0) return 0; /* statement_timeout: this write alone */
  /* connection, resources, operator intervention, system errors, internal errors */
  return !strncmp(s, "08", 2) || !strncmp(s, "53", 2) || !strncmp(s, "57", 2) ||
         !strncmp(s, "58", 2) || !strncmp(s, "XX", 2);
}

/* BEGIN and SAVEPOINT are queued (conn.pending), and sent with the write's first statement. */
static void queue(conn *c, const char *command) {
  if (c->npending < 2) c->pending[c->npending++] = command;
}

/* Connections (08), a server shutting down or starting (57P0x) and no connection at all are
 * "connect": the server cannot be reached. */
static const char *pg_kind(int err) {
  if (err == SG_DRV_CANTOPEN) return "connect";
  if (err == SG_DRV_CONFLICT) return "conflict";
  if (err <= 0) return "other";
  char s[6];
  state_of(err, s);
  if (!strncmp(s, "08", 2) || !strncmp(s, "57P0", 4)) return "connect";
  if (!strcmp(s, "57014") || !strcmp(s, "55P03")) return "timeout"; /* statement, lock */
  if (!strcmp(s, "40001") || !strcmp(s, "40P01") || !strncmp(s, "23", 2)) return "conflict";
  return "other";
}

static int pg_begin(sg_conn *c) {
  int rc = usable(CONN(c));
  CONN(c)->npending = 0;
  if (!rc) queue(CONN(c), "BEGIN");
  return rc;
}
/* A transaction whose BEGIN was never sent wrote nothing: nothing to commit. */
static int pg_commit(sg_conn *c) {
  if (CONN(c)->npending && !strcmp(CONN(c)->pending[0], "BEGIN")) {
    CONN(c)->npending = 0;
    return 0;
  }
  CONN(c)->npending = 0; /* a savepoint nothing followed */
  return simple(CONN(c), "COMMIT", "COMMIT");
}
static int pg_savepoint(sg_conn *c) {
  queue(CONN(c), "SAVEPOINT w");
  return 0;
}
/* Nothing: PostgreSQL lets a savepoint's name be used again, ROLLBACK TO goes back to the
 * newest of that name, and released or not a savepoint's writes belong to the transaction;
 * so a write's savepoint is left in place and the round trip saved (one of five). */
static int pg_release(sg_conn *c) {
  (void)c;
  return 0;
}
/* A savepoint not sent yet means the write sent nothing: nothing to undo. */
static int pg_rollback_to(sg_conn *c) {
  conn *x = CONN(c);
  if (x->npending && !strcmp(x->pending[x->npending - 1], "SAVEPOINT w")) {
    x->npending--;
    return 0;
  }
  return simple(x, "ROLLBACK TO SAVEPOINT w", NULL);
}

static int pg_rollback(sg_conn *c) {
  PGconn *pg = CONN(c)->pg;
  CONN(c)->npending = 0;
  if (pq.PQstatus(pg) != CONNECTION_OK || pq.PQtransactionStatus(pg) == PQTRANS_IDLE) return 0;
  return simple(CONN(c), "ROLLBACK", NULL);
}

static int pg_probe(sg_conn *c) {
  char now[24];
  snprintf(now, sizeof now, "%lld", (long long)time(NULL));
  return exec_q(CONN(c), Q_PROBE, ARGS(A_TXT(now)), NULL);
}

static int pg_read_begin(sg_conn *c) {
  int rc = usable(CONN(c));
  return rc ? rc : simple(CONN(c), "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", NULL);
}

static void pg_read_end(sg_conn *c) { pg_rollback(c); }

/* ------------------------------------------------------------------------------------------ */
/* Rows */

static int pg_seq_next(sg_conn *c, const char *tenant, const char *name, int64_t *out) {
  *out = -1;
  int rc = read_rows(CONN(c), Q_SEQ_NEXT, ARGS(A_TXT(tenant), A_TXT(name)), row_int, out);
  return rc ? rc : *out < 0 ? SG_DRV_FAILED : 0;
}

static int pg_reg_exists(sg_conn *c, const char *tenant, const char *version, int *exists) {
  int64_t one = 0;
  int q = CONN(c)->reader ? Q_REG_EXISTS : Q_REG_EXISTS_LOCK;
  int rc = read_rows(CONN(c), q, ARGS(A_TXT(tenant), A_TXT(version)), row_int, &one);
  *exists = one != 0;
  return rc;
}

static int pg_reg_active(sg_conn *c, const char *tenant, sg_row_fn fn, void *ud) {
  return read_rows(CONN(c), Q_REG_ACTIVE, ARGS(A_TXT(tenant)), fn, ud);
}

static int pg_reg_get(sg_conn *c, const char *tenant, const char *version, sg_row_fn fn,
                      void *ud) {
  return read_rows(CONN(c), Q_REG_GET, ARGS(A_TXT(tenant), A_TXT(version)), fn, ud);
}

static int pg_reg_versions(sg_conn *c, const char *tenant, sg_row_fn fn, void *ud) {
  return read_rows(CONN(c), Q_REG_LIST, ARGS(A_TXT(tenant)), fn, ud);
}

static int pg_reg_tenants(sg_conn *c, sg_row_fn fn, void *ud) {
  return read_rows(CONN(c), Q_REG_TENANTS, NULL, 0, fn, ud);
}

static int pg_reg_insert(sg_conn *c, const char *tenant, const char *version,
                         const char *manifests, int64_t created_at) {
  int64_t n = 0;
  int rc = exec_q(CONN(c), Q_REG_INSERT,
                  ARGS(A_TXT(tenant), A_TXT(version), A_TXT(manifests), A_INT(created_at)), &n);
  return rc ? rc : n == 0 ? SG_DRV_CONFLICT : 0;
}

static int pg_reg_set_active(sg_conn *c, const char *tenant, const char *version) {
  return exec_q(CONN(c), Q_REG_SET_ACTIVE, ARGS(A_TXT(tenant), A_TXT(version)), NULL);
}

static int pg_idem_get(sg_conn *c, const char *tenant, const char *key, sg_row_fn fn, void *ud) {
  return read_rows(CONN(c), Q_IDEM_GET, ARGS(A_TXT(tenant), A_TXT(key)), fn, ud);
}

static int pg_idem_insert(sg_conn *c, const char *tenant, const char *key, const char *tool_id,
                          const char *input, int status, const char *response,
                          int64_t created_at, int *inserted) {
  int64_t n = 0;
  int rc = exec_q(CONN(c), Q_IDEM_INSERT,
                  ARGS(A_TXT(tenant), A_TXT(key), A_TXT(tool_id), A_TXT(input), A_INT(status),
                       A_TXT(response), A_INT(created_at)),
                  &n);
  *inserted = n > 0;
  return rc;
}

static int pg_collab_get(sg_conn *c, const char *tenant, const char *collab_id, sg_row_fn fn,
                         void *ud) {
  int q = CONN(c)->reader ? Q_COLLAB_GET : Q_COLLAB_GET_LOCK;
  return read_rows(CONN(c), q, ARGS(A_TXT(tenant), A_TXT(collab_id)), fn, ud);
}

static int pg_collab_put(sg_conn *c, const char *tenant, const char *collab_id,
                         const sg_collab_row *h) {
  return exec_q(CONN(c), Q_COLLAB_PUT,
                ARGS(A_TXT(tenant), A_TXT(collab_id), A_TXT(h->status), A_TXT(h->participants),
                     A_TXT(h->context), A_TXT(h->resolution), A_INT(h->created_at),
                     A_INT(h->updated_at), A_INT(h->entries), A_INT(h->timeline_bytes)),
                NULL);
}

static int pg_timeline_append(sg_conn *c, const char *tenant, const char *collab_id, int64_t seq,
                              const char *entry) {
  return exec_q(CONN(c), Q_TL_INSERT,
                ARGS(A_TXT(tenant), A_TXT(collab_id), A_INT(seq), A_TXT(entry)), NULL);
}

static int pg_timeline_range(sg_conn *c, const char *tenant, const char *collab_id,
                             int64_t after, int limit, sg_row_fn fn, void *ud) {
  return read_rows(CONN(c), Q_TL_RANGE,
                   ARGS(A_TXT(tenant), A_TXT(collab_id), A_INT(after), A_INT(limit)), fn, ud);
}

static int pg_record_insert(sg_conn *c, const char *tenant, const char *record_id,
                            const char *repo, const char *data, int64_t stored_at) {
  int64_t n = 0;
  int rc = exec_q(CONN(c), Q_REC_INSERT, ARGS(A_TXT(tenant), A_TXT(record_id), A_TXT(repo),
                                              A_TXT(data), A_INT(stored_at)),
                  &n);
  return rc ? rc : n == 0 ? SG_DRV_CONFLICT : 0;
}

/* Appends the n values v to a text[] literal in b (NULL elements as NULL). */
static void text_array(sg_buf *b, const char *const *v, size_t n) {
  sg_buf_putc(b, '{');
  for (size_t i = 0; i < n; i++) {
    if (i) sg_buf_putc(b, ',');
    if (!v[i]) {
      sg_buf_puts(b, "NULL");
      continue;
    }
    sg_buf_putc(b, '"');
    for (const char *p = v[i]; *p; p++) {
      if (*p == '"' || *p == '\\') sg_buf_putc(b, '\\');
      sg_buf_putc(b, *p);
    }
    sg_buf_putc(b, '"');
  }
  sg_buf_putc(b, '}');
}

/* The record_id a Q_REC_APPEND answered into ud (an sg_buf); none when it was taken. */
static int row_id(void *ud, const sg_row *r) {
  const char *id = sg_row_text(r, 0);
  if (id) sg_buf_puts(ud, id);
  return SG_DRV_STOP;
}

static int pg_record_append(sg_conn *base, const char *tenant, const char *repo,
                            const char *record_id, const char *data, int64_t stored_at,
                            size_t nedges, const sg_edge_text *edges, char *id, size_t idlen) {
  conn *c = CONN(base);
  sg_buf a[4], got;
  const char **col = calloc(nedges ? nedges : 1, sizeof *col);
  for (int k = 0; k < 4; k++) {
    sg_buf_init(&a[k], 0);
    for (size_t i = 0; col && i < nedges; i++)
      col[i] = k == 0 ? edges[i].from : k == 1 ? edges[i].to : k == 2 ? edges[i].label
                                                             : edges[i].props;
    text_array(&a[k], col, col ? nedges : 0);
  }
  sg_buf_init(&got, 0);
  int rc = !col || sg_buf_failed(&a[0]) || sg_buf_failed(&a[1]) || sg_buf_failed(&a[2]) ||
                   sg_buf_failed(&a[3])
               ? SG_DRV_NOMEM
               : read_rows(c, Q_REC_APPEND,
                           ARGS(A_TXT(tenant), A_TXT(record_id), A_TXT(repo), A_TXT(data),
                                A_INT(stored_at), A_TXT(a[0].ptr), A_TXT(a[1].ptr),
                                A_TXT(a[2].ptr), A_TXT(a[3].ptr)),
                           row_id, &got);
  if (!rc && sg_buf_failed(&got)) rc = SG_DRV_NOMEM;
  if (!rc && !got.len) rc = SG_DRV_CONFLICT;
  if (!rc) snprintf(id, idlen, "%s", got.ptr);
  for (int k = 0; k < 4; k++) sg_buf_free(&a[k]);
  sg_buf_free(&got);
  free(col);
  return rc;
}

/* Sends append a into the pipeline in a savepoint of its own (SAVEPOINT w, Q_REC_APPEND): 1,
 * or 0 when it could not (out of memory, the connection). */
static int append_send(conn *c, const sg_append *a) {
  sg_buf arr[4];
  const char **col = calloc(a->nedges ? a->nedges : 1, sizeof *col);
  int ok = col != NULL;
  for (int k = 0; k < 4; k++) {
    sg_buf_init(&arr[k], 0);
    for (size_t i = 0; col && i < a->nedges; i++) {
      const sg_edge_text *e = &a->edges[i];
      col[i] = k == 0 ? e->from : k == 1 ? e->to : k == 2 ? e->label : e->props;
    }
    text_array(&arr[k], col, col ? a->nedges : 0);
    if (sg_buf_failed(&arr[k])) ok = 0;
  }
  if (ok) {
    char ints[MAX_ARGS][24];
    const char *vals[MAX_ARGS];
    bind(ARGS(A_TXT(a->tenant), A_TXT(a->record_id), A_TXT(a->repo), A_TXT(a->data),
              A_INT(a->stored_at), A_TXT(arr[0].ptr), A_TXT(arr[1].ptr), A_TXT(arr[2].ptr),
              A_TXT(arr[3].ptr)),
         vals, ints);
    char name[16];
    snprintf(name, sizeof name, "q%d", Q_REC_APPEND);
    ok = pq.PQsendQueryParams(c->pg, "SAVEPOINT w", 0, NULL, NULL, NULL, NULL, 0) &&
         pq.PQsendQueryPrepared(c->pg, name, 9, vals, NULL, NULL, 0);
  }
  for (int k = 0; k < 4; k++) sg_buf_free(&arr[k]);
  free(col);
  return ok;
}

/* The columns of one tenant's appends for Q_REC_APPEND_BULK, as array literals. */
enum { B_RID, B_REPO, B_DATA, B_BACK, B_TS, B_OWNER, B_FROM, B_TO, B_LABEL, B_PROPS, B_COLS };

/* Sends the appends of a whose tenant is a[first].tenant (marking them in mine[], in order,
 * *count of them): their record numbers (Q_SEQ_BUMP, when any is generated; *bumped says) and
 * Q_REC_APPEND_BULK.  1, or 0 when it could not (out of memory, the connection). */
static int bulk_send(conn *c, const sg_append *a, size_t n, size_t first, size_t *mine,
                     size_t *count, int *bumped) {
  const char *tenant = a[first].tenant;
  size_t m = 0, gen = 0, nedges = 0;
  for (size_t i = first; i < n; i++)
    if (!strcmp(a[i].tenant, tenant)) {
      mine[m++] = i;
      gen += !a[i].record_id;
      nedges += a[i].nedges;
    }
  *count = m;
  *bumped = gen > 0;
  const char **col = calloc((m > nedges ? m : nedges) + 1, sizeof *col);
  char(*num)[24] = calloc((m > nedges ? m : nedges) + 1, sizeof *num);
  sg_buf arr[B_COLS];
  int ok = col && num;
  for (int k = 0; k < B_COLS; k++) {
    sg_buf_init(&arr[k], 0);
    size_t len = k < B_OWNER ? m : nedges, j = 0;
    for (size_t x = 0; ok && x < m; x++) {
      const sg_append *p = &a[mine[x]];
      if (k < B_OWNER) {
        if (k == B_BACK || k == B_TS) {
          /* back: the generated ids of the tenant after this one */
          size_t after = 0;
          for (size_t y = x + 1; k == B_BACK && y < m; y++) after += !a[mine[y]].record_id;
          snprintf(num[x], sizeof num[x], "%lld",
                   (long long)(k == B_BACK ? (int64_t)after : p->stored_at));
          col[x] = num[x];
        } else {
          col[x] = k == B_RID ? p->record_id : k == B_REPO ? p->repo : p->data;
        }
        continue;
      }
      for (size_t e = 0; e < p->nedges; e++, j++) {
        const sg_edge_text *t = &p->edges[e];
        if (k == B_OWNER) snprintf(num[j], sizeof num[j], "%zu", x + 1);
        col[j] = k == B_OWNER ? num[j] : k == B_FROM ? t->from : k == B_TO ? t->to
                 : k == B_LABEL ? t->label : t->props;
      }
    }
    if (ok) text_array(&arr[k], col, len);
    if (sg_buf_failed(&arr[k])) ok = 0;
  }
  if (ok && gen) {
    char k[24], name[16];
    snprintf(k, sizeof k, "%zu", gen);
    snprintf(name, sizeof name, "q%d", Q_SEQ_BUMP);
    ok = pq.PQsendQueryPrepared(c->pg, name, 2, (const char *[]){tenant, k}, NULL, NULL, 0);
  }
  if (ok) {
    const char *vals[B_COLS + 1] = {tenant};
    for (int k = 0; k < B_COLS; k++) vals[k + 1] = arr[k].ptr;
    char name[16];
    snprintf(name, sizeof name, "q%d", Q_REC_APPEND_BULK);
    ok = pq.PQsendQueryPrepared(c->pg, name, B_COLS + 1, vals, NULL, NULL, 0);
  }
  for (int k = 0; k < B_COLS; k++) sg_buf_free(&arr[k]);
  free(col);
  free(num);
  return ok;
}

/* The next result of a pipeline, with the NULL that ends a command's results read. */
static PGresult *next_result(PGconn *pg) {
  PGresult *r = pq.PQgetResult(pg), *x;
  if (r && pq.PQresultStatus(r) != PGRES_PIPELINE_SYNC)
    while ((x = pq.PQgetResult(pg))) pq.PQclear(x);
  return r;
}

static int ok_result(const PGresult *r) {
  return pq.PQresultStatus(r) == PGRES_COMMAND_OK || pq.PQresultStatus(r) == PGRES_TUPLES_OK;
}

/* Sends c's pending commands into the pipeline, then cmd (NULL: none): 1, or 0 when it could
 * not. */
static int send_pending(conn *c, const char *cmd) {
  int np = c->npending, ok = 1;
  c->npending = 0;
  for (int i = 0; i < np && ok; i++)
    ok = pq.PQsendQueryParams(c->pg, c->pending[i], 0, NULL, NULL, NULL, NULL, 0);
  return ok && (!cmd || pq.PQsendQueryParams(c->pg, cmd, 0, NULL, NULL, NULL, NULL, 0));
}

/* The fast way: every append of a[0..n) under one savepoint (r), in one pipeline.  0 with
 * every outcome in a when none failed; SG_DRV_STOP when one failed (all undone, back to r: the
 * caller goes the way of one savepoint each); else the error that broke the connection or the
 * transaction. */
static int append_together(conn *c, sg_append *a, size_t n) {
  int np = c->npending, rc = 0, failed = 0, ok;
  size_t *mine = calloc(n, sizeof *mine), *group = calloc(n + 1, sizeof *group);
  size_t *count = calloc(n + 1, sizeof *count), ngroups = 0;
  int *bumped = calloc(n + 1, sizeof *bumped);
  char *sent = calloc(n, 1);
  if (!mine || !group || !count || !bumped || !sent || !pq.PQenterPipelineMode(c->pg)) {
    rc = mine && group && count && bumped && sent ? fail(c, NULL) : SG_DRV_NOMEM;
    goto out;
  }
  /* one statement per tenant: mine[] lists the appends by tenant, group[g] where g begins */
  ok = send_pending(c, "SAVEPOINT r");
  for (size_t i = 0, at = 0; i < n && ok; i++) {
    if (sent[i]) continue;
    group[ngroups] = at;
    ok = bulk_send(c, a, n, i, mine + at, &count[ngroups], &bumped[ngroups]);
    for (size_t x = 0; x < count[ngroups]; x++) sent[mine[at + x]] = 1;
    at += count[ngroups++];
  }
  if (!ok || !pq.PQpipelineSync(c->pg)) {
    rc = pq.PQstatus(c->pg) == CONNECTION_OK ? SG_DRV_NOMEM : fail(c, NULL);
    if (ok) pq.PQexitPipelineMode(c->pg);
    else pipeline_abandon(c->pg);
    goto out;
  }
  for (int i = 0; i <= np && !rc; i++) { /* BEGIN, SAVEPOINT r */
    PGresult *r = next_result(c->pg);
    if (!r || !ok_result(r)) rc = fail(c, r);
    pq.PQclear(r);
  }
  for (size_t g = 0; g < ngroups && !rc && !failed; g++) {
    PGresult *r = next_result(c->pg);
    if (r && ok_result(r) && bumped[g]) { /* the numbers, then the appends */
      pq.PQclear(r);
      r = next_result(c->pg);
    }
    if (!r) rc = fail(c, NULL);
    else if (!ok_result(r) || pq.PQntuples(r) != (int)count[g]) failed = 1;
    for (size_t x = 0; !rc && !failed && x < count[g]; x++) {
      sg_append *p = &a[mine[group[g] + x]];
      if (pg_integer(&(row){{&sg_store_pg}, r, (int)x}.base, 2)) /* stored */
        snprintf(p->id, sizeof p->id, "%s", pq.PQgetvalue(r, (int)x, 1));
      else p->rc = SG_DRV_CONFLICT;
    }
    pq.PQclear(r);
  }
  pipeline_end(c->pg);
  if (rc || !failed) goto out;
  for (size_t i = 0; i < n; i++) {
    a[i].rc = 0;
    a[i].id[0] = '\0';
  }
  rc = simple(c, "ROLLBACK TO SAVEPOINT r", NULL);
  if (!rc) rc = SG_DRV_STOP;
out:
  free(mine);
  free(group);
  free(count);
  free(bumped);
  free(sent);
  return rc;
}

/* One pipeline of appends a[0..n), a savepoint each, after the pending BEGIN, if any: their
 * outcomes until the first that failed (*done: how many have one).  0, or the error that broke
 * the connection or the transaction. */
static int append_pipeline(conn *c, sg_append *a, size_t n, size_t *done) {
  int np = c->npending, rc = 0;
  *done = 0;
  if (!pq.PQenterPipelineMode(c->pg)) return fail(c, NULL);
  int ok = send_pending(c, NULL);
  for (size_t i = 0; i < n && ok; i++) ok = append_send(c, &a[i]);
  if (!ok || !pq.PQpipelineSync(c->pg)) {
    rc = pq.PQstatus(c->pg) == CONNECTION_OK ? SG_DRV_NOMEM : fail(c, NULL);
    if (ok) pq.PQexitPipelineMode(c->pg);
    else pipeline_abandon(c->pg);
    return rc;
  }
  for (int i = 0; i < np && !rc; i++) { /* BEGIN */
    PGresult *r = next_result(c->pg);
    if (!ok_result(r)) rc = fail(c, r);
    pq.PQclear(r);
  }
  for (size_t i = 0; i < n && !rc; i++) {
    PGresult *sp = next_result(c->pg), *r = sp && ok_result(sp) ? next_result(c->pg) : NULL;
    if (!sp || !ok_result(sp)) rc = fail(c, sp); /* a transaction that cannot take one */
    else if (!r || !ok_result(r)) a[i].rc = r ? fail(c, r) : (rc = fail(c, NULL));
    else if (pq.PQntuples(r) != 1 || pq.PQgetisnull(r, 0, 0)) a[i].rc = SG_DRV_CONFLICT;
    else snprintf(a[i].id, sizeof a[i].id, "%s", pq.PQgetvalue(r, 0, 0));
    pq.PQclear(sp);
    pq.PQclear(r);
    if (!rc) *done = i + 1;
    if (rc || (a[i].rc && a[i].rc != SG_DRV_CONFLICT)) break; /* the rest were skipped */
  }
  pipeline_end(c->pg);
  return rc;
}

/* The writer's appends of a batch in one round trip, under one savepoint.  When one fails, all
 * are undone and go again, each in its own savepoint: a failed one is rolled back to its
 * savepoint (the ones after it were skipped, and go out again). */
static int pg_record_append_many(sg_conn *base, sg_append *a, size_t n) {
  conn *c = CONN(base);
  int rc = usable(c);
  if (!rc) rc = prepare(c, Q_REC_APPEND);
  if (!rc) rc = prepare(c, Q_SEQ_BUMP);
  if (!rc) rc = prepare(c, Q_REC_APPEND_BULK);
  for (size_t i = 0; i < n; i++) {
    a[i].rc = 0;
    a[i].id[0] = '\0';
  }
  int again = retryable(c);
  if (!rc) rc = append_together(c, a, n);
  if (rc && rc != SG_DRV_STOP && again && pq.PQstatus(c->pg) != CONNECTION_OK) {
    /* dropped while idle: once more on a new connection, the transaction not begun */
    for (size_t i = 0; i < n; i++) {
      a[i].rc = 0;
      a[i].id[0] = '\0';
    }
    c->retry_at_ms = 0;
    if (!(rc = usable(c)) && !(rc = prepare(c, Q_REC_APPEND)) && !(rc = prepare(c, Q_SEQ_BUMP)) &&
        !(rc = prepare(c, Q_REC_APPEND_BULK))) {
      c->npending = 0;
      queue(c, "BEGIN");
      rc = append_together(c, a, n);
    }
  }
  if (rc != SG_DRV_STOP) return rc;
  rc = 0;
  for (size_t at = 0, done; !rc && at < n; at += done) {
    if ((rc = append_pipeline(c, a + at, n - at, &done))) break;
    if (done && a[at + done - 1].rc && a[at + done - 1].rc != SG_DRV_CONFLICT)
      rc = simple(c, "ROLLBACK TO SAVEPOINT w", NULL);
    if (!done) rc = rc ? rc : SG_DRV_FAILED;
  }
  return rc;
}

static int pg_record_get(sg_conn *c, const char *tenant, const char *record_id, sg_row_fn fn,
                         void *ud) {
  return read_rows(CONN(c), Q_REC_GET, ARGS(A_TXT(tenant), A_TXT(record_id)), fn, ud);
}

static int pg_record_pos(sg_conn *c, const char *tenant, const char *repo, const char *record_id,
                         int64_t *pos) {
  *pos = -1;
  return read_rows(CONN(c), Q_REC_POS, ARGS(A_TXT(tenant), A_TXT(record_id), A_TXT(repo)),
                   row_int, pos);
}

static int pg_record_list(sg_conn *c, const char *tenant, const char *repo, int64_t after,
                          int limit, sg_row_fn fn, void *ud) {
  return read_rows(CONN(c), Q_REC_LIST,
                   ARGS(A_TXT(tenant), A_TXT(repo), A_INT(after < 0 ? 0 : after), A_INT(limit)),
                   fn, ud);
}

static int pg_edge_insert(sg_conn *c, const char *tenant, const char *from, const char *to,
                          const char *label, const char *props, int64_t ts) {
  return exec_q(CONN(c), Q_EDGE_INSERT, ARGS(A_TXT(tenant), A_TXT(from), A_TXT(to), A_TXT(label),
                                             A_TXT(props), A_INT(ts)),
                NULL);
}

/* Appends id to a text[] literal, quoted. */
static void ids_add(sg_buf *b, size_t n, const char *id) {
  sg_buf_append(b, n ? ",\"" : "{\"", 2);
  for (const char *p = id; *p; p++) {
    if (*p == '"' || *p == '\\') sg_buf_putc(b, '\\');
    sg_buf_putc(b, *p);
  }
  sg_buf_putc(b, '"');
}

#define IDS_KEEP 16384

static int pg_edges_touching(sg_conn *base, const char *tenant, const char *const *nodes,
                             size_t n, const char *label, int in, int limit, sg_row_fn fn,
                             void *ud) {
  conn *c = CONN(base);
  sg_buf_reset(&c->ids);
  for (size_t i = 0; i < n; i++) ids_add(&c->ids, i, nodes[i]);
  if (!n) sg_buf_putc(&c->ids, '{');
  sg_buf_putc(&c->ids, '}');
  int rc = sg_buf_failed(&c->ids)
               ? SG_DRV_NOMEM
               : read_rows(c, in ? Q_EDGES_IN : Q_EDGES_OUT,
                           ARGS(A_TXT(tenant), A_TXT(c->ids.ptr), A_TXT(label), A_INT(limit)),
                           fn, ud);
  if (c->ids.cap > IDS_KEEP || sg_buf_failed(&c->ids)) sg_buf_free(&c->ids);
  return rc;
}

static int pg_graph(sg_conn *c, const char *tenant, const char *node, const char *label,
                    int dir, int depth, int limit, sg_row_fn fn, void *ud) {
  return read_rows(CONN(c), Q_GRAPH,
                   ARGS(A_TXT(tenant), A_TXT(node), A_TXT(label), A_INT(dir), A_INT(depth),
                        A_INT(limit)),
                   fn, ud);
}

static int pg_event_insert(sg_conn *c, const char *tenant, int64_t seq, const char *topic,
                           const char *severity, const char *event, const char *trace_id,
                           int64_t ingested_at) {
  return exec_q(CONN(c), Q_OBS_INSERT,
                ARGS(A_TXT(tenant), A_INT(seq), A_TXT(topic), A_TXT(severity), A_TXT(event),
                     A_TXT(trace_id), A_INT(ingested_at)),
                NULL);
}

static int pg_event_query(sg_conn *c, const char *tenant, const char *topic, int64_t since,
                          const char *severity, int limit, sg_row_fn fn, void *ud) {
  return read_rows(CONN(c), Q_OBS_QUERY,
                   ARGS(A_TXT(tenant), A_TXT(topic), A_INT(since), A_TXT(severity), A_INT(limit)),
                   fn, ud);
}

static int pg_usage_add(sg_conn *c, const char *tenant, const char *day, const char *kind,
                        const char *name, const int64_t v[SG_USAGE_NV]) {
  return exec_q(CONN(c), Q_USAGE_ADD,
                ARGS(A_TXT(tenant), A_TXT(day), A_TXT(kind), A_TXT(name), A_INT(v[0]),
                     A_INT(v[1]), A_INT(v[2]), A_INT(v[3]), A_INT(v[4])),
                NULL);
}

static int pg_usage_range(sg_conn *c, const char *tenant, const char *from, const char *to,
                          sg_row_fn fn, void *ud) {
  return read_rows(CONN(c), Q_USAGE_RANGE, ARGS(A_TXT(tenant), A_TXT(from), A_TXT(to)), fn, ud);
}

static int pg_nonce_claim(sg_conn *c, const char *key, int64_t expires_ms, int64_t now_ms,
                          int purge) {
  int64_t n = 0;
  int rc = purge ? exec_q(CONN(c), Q_NONCE_PURGE, ARGS(A_INT(now_ms)), NULL) : 0;
  if (!rc)
    rc = exec_q(CONN(c), Q_NONCE_CLAIM, ARGS(A_TXT(key), A_INT(expires_ms), A_INT(now_ms)), &n);
  return rc ? rc : n > 0 ? 0 : SG_DRV_CONFLICT;
}

/* ------------------------------------------------------------------------------------------ */
/* The target of a move from another engine (driver.h, store/migrate.c): statements that run
 * once, so not prepared */

static int pg_rows(sg_conn *base, int64_t *n) {
  conn *c = CONN(base);
  int rc = usable(c);
  if (rc) return rc;
  PGresult *r = pq.PQexec(c->pg, "SELECT (SELECT count(*) FROM sequences) + (SELECT count(*) FROM"
                              " registry_versions) + (SELECT count(*) FROM registry_active) +"
                              " (SELECT count(*) FROM idempotency) + (SELECT count(*) FROM"
                              " collabs) + (SELECT count(*) FROM collab_timeline) +"
                              " (SELECT count(*) FROM records) + (SELECT count(*) FROM edges)"
                              " + (SELECT count(*) FROM observe)"
                              " + (SELECT count(*) FROM usage_ledger)");
  if (pq.PQresultStatus(r) == PGRES_TUPLES_OK && pq.PQntuples(r) == 1)
    *n = strtoll(pq.PQgetvalue(r, 0, 0), NULL, 10);
  else
    rc = fail(c, r);
  pq.PQclear(r);
  return rc;
}

static int pg_seq_set(sg_conn *base, const char *tenant, const char *name, int64_t value) {
  conn *c = CONN(base);
  char v[24];
  snprintf(v, sizeof v, "%lld", (long long)value);
  const char *vals[3] = {tenant, name, v};
  int rc = usable(c);
  if (rc) return rc;
  PGresult *r = pq.PQexecParams(c->pg, "INSERT INTO sequences(tenant, name, value)"
                                    " VALUES($1::text, $2::text, $3::bigint) ON CONFLICT"
                                    "(tenant, name) DO UPDATE SET value = excluded.value",
                             3, NULL, vals, NULL, NULL, 0);
  if (pq.PQresultStatus(r) != PGRES_COMMAND_OK) rc = fail(c, r);
  pq.PQclear(r);
  return rc;
}

/* ------------------------------------------------------------------------------------------ */

const sg_store_driver sg_store_pg = {
    .name = "postgres",
    .version = pg_version,
    .open = pg_open,
    .close = pg_close,
    .reach = pg_reach,
    .watch = pg_watch,
    .unwatch = pg_unwatch,
    .connect = pg_connect,
    .disconnect = pg_disconnect,
    .migrate = pg_migrate,
    .text = pg_text,
    .integer = pg_integer,
    .describe = pg_describe,
    .kind = pg_kind,
    .fatal = pg_fatal,
    .begin = pg_begin,
    .commit = pg_commit,
    .rollback = pg_rollback,
    .savepoint = pg_savepoint,
    .release = pg_release,
    .rollback_to = pg_rollback_to,
    .probe = pg_probe,
    .read_begin = pg_read_begin,
    .read_end = pg_read_end,
    .seq_next = pg_seq_next,
    .reg_exists = pg_reg_exists,
    .reg_active = pg_reg_active,
    .reg_get = pg_reg_get,
    .reg_versions = pg_reg_versions,
    .reg_tenants = pg_reg_tenants,
    .reg_insert = pg_reg_insert,
    .reg_set_active = pg_reg_set_active,
    .idem_get = pg_idem_get,
    .idem_insert = pg_idem_insert,
    .collab_get = pg_collab_get,
    .collab_put = pg_collab_put,
    .timeline_append = pg_timeline_append,
    .timeline_range = pg_timeline_range,
    .record_insert = pg_record_insert,
    .record_append = pg_record_append,
    .record_append_many = pg_record_append_many,
    .record_get = pg_record_get,
    .record_pos = pg_record_pos,
    .record_list = pg_record_list,
    .edge_insert = pg_edge_insert,
    .edges_touching = pg_edges_touching,
    .graph = pg_graph,
    .event_insert = pg_event_insert,
    .event_query = pg_event_query,
    .usage_add = pg_usage_add,
    .usage_range = pg_usage_range,
    .rows = pg_rows,
    .seq_set = pg_seq_set,
    .nonce_claim = pg_nonce_claim,
};
