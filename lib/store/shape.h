/*
 * shape.h -- what the store does the same way whatever the engine: the JSON answers built from
 * a driver's rows (store.h documents each shape), the merges (a publish's manifests, a
 * collaboration's participants and context) and the graph walk.  Functions that read take a
 * connection and return 0 or a driver error (driver.h); they never count or log it.
 */
#ifndef SG_STORE_SHAPE_H
#define SG_STORE_SHAPE_H

#include <stdint.h>

#include "base/json.h"
#include "store/driver.h"

/* Merges add into base (arrays of manifests of one tenant, as a publish merges a request's
 * manifests into the active version): a manifest of base with the id of one of add is replaced
 * in place, the others of add are appended.  base NULL: an empty array.  A base that is not an
 * array (an unreadable stored version) is returned as it is, for the check that follows to
 * refuse.  Returns a new value to free, or NULL when out of memory.  The result is not
 * validated: its size may be over SG_MANIFESTS_MAX. */
soulgw_json *sg_manifests_merge(const soulgw_json *base, const soulgw_json *add);

/* ---- Registry versions: {"version","manifests","created_at_ms","active"} ---- */

/* A version object, taking manifests; NULL when out of memory. */
soulgw_json *sg_shape_version_new(const char *version, soulgw_json *manifests, int64_t now);
/* The tenant's version named version (NULL: the active one) into *out (active true), or *out
 * NULL when there is none. */
int sg_shape_version(sg_conn *c, const char *tenant, const char *version, soulgw_json **out);
/* The manifests of the tenant's active version into *out (NULL when none). */
int sg_shape_active_manifests(sg_conn *c, const char *tenant, soulgw_json **out);
/* {"versions":[version...]}, oldest first. */
int sg_shape_versions(sg_conn *c, const char *tenant, soulgw_json **out);
/* The tenants that have a registry: an array of strings. */
int sg_shape_tenants(sg_conn *c, soulgw_json **out);

/* ---- Idempotency records: {"tool_id","input","status","response"} ---- */

/* The record of key into *out, or *out NULL when there is none. */
int sg_shape_idem(sg_conn *c, const char *tenant, const char *key, soulgw_json **out);

/* ---- Repo records: {"tenant","repo","record_id","data","stored_at"} ---- */

/* The record into *out, or *out NULL when there is none. */
int sg_shape_record(sg_conn *c, const char *tenant, const char *record_id, soulgw_json **out);
/* {"records":[record...],"next"}: at most limit records of repo after the record at position
 * after (< 0: from the first). */
int sg_shape_records(sg_conn *c, const char *tenant, const char *repo, int64_t after, int limit,
                     soulgw_json **out);
/* An append's answer {"tenant","repo","record_id","stored_at","edges"}, or NULL.  record_id
 * NULL: null, for a generated id to be set once it is known. */
soulgw_json *sg_shape_appended(const char *tenant, const char *repo, const char *record_id,
                               int64_t stored_at, int64_t edges);

/* ---- Observe events ---- */

/* {"events":[{"event_id","topic","severity","event","trace_id","ingested_at"}]}. */
int sg_shape_events(sg_conn *c, const char *tenant, const char *topic, int64_t since,
                    const char *severity, int limit, soulgw_json **out);
/* An emit's answer {"tenant","topic","event_id","ingested_at"}, or NULL. */
soulgw_json *sg_shape_emitted(const char *tenant, const char *topic, int64_t seq,
                              int64_t ingested_at);

/* ---- Collaborations ----
 *
 * A collaboration is a head row (status; participants, context and resolution as JSON text;
 * its count of timeline entries and their bytes) and one row per timeline entry, numbered by
 * seq from 0.  A write reads and rewrites the head and appends one entry: it never reads or
 * rewrites the timeline, and its answer carries the most recent entries only.  Stored texts go
 * into answers as they are (sg_json_new_raw), so an answer costs the writer a copy, not a
 * parse.  What a write must merge (participants, an object context) is parsed, and a stored
 * text that does not parse is an error for that write (SG_ST_UNREADABLE), counted and logged,
 * never a null. */

/* A collaboration's head row, its texts copied. */
typedef struct sg_collab_head {
  int found;
  char *status, *participants, *context, *resolution;
  int64_t created_at, updated_at, entries, tl_bytes;
} sg_collab_head;

/* Frees h's texts and zeroes it. */
void sg_collab_head_clear(sg_collab_head *h);
/* Reads the head of (tenant, id) into h (h->found 0 when there is none). */
int sg_collab_head_read(sg_conn *c, const char *tenant, const char *id, sg_collab_head *h);
/* The snapshot of a head, with its window most recent entries; NULL with *err set on failure
 * (SG_DRV_UNREADABLE for an entry that is not an object). */
soulgw_json *sg_shape_snapshot(sg_conn *c, const char *tenant, const char *id,
                               const sg_collab_head *h, int window, int *err);
/* A page of the timeline: {"collab_id","tenant","timeline","timeline_total","next"}, the
 * entries with seq > after (< 0: from the first), at most limit. */
int sg_shape_timeline(sg_conn *c, const char *tenant, const char *id, const sg_collab_head *h,
                      int64_t after, int limit, soulgw_json **out);
/* The participants text of stored with the new names of add appended, in order and each once;
 * NULL when stored cannot be read (*oom 0) or out of memory (*oom 1). */
char *sg_merge_participants(const char *stored, const soulgw_json *add, int *oom);
/* The context text of stored after add (an object, add_text its text) deep-merges into it, or
 * replaces it when either is not an object; NULL as for sg_merge_participants(). */
char *sg_merge_context(const char *stored, const soulgw_json *add, const char *add_text,
                       int *oom);
/* A timeline entry: {"stage":"<stage>", then tail (the rest of the object); to free(). */
char *sg_shape_entry(const char *stage, const char *tail);

/* ---- The graph walk ---- */

/* Breadth-first walk from node_id over edges with the label (NULL: any), up to depth levels
 * and limit edges, newest first within a depth, as store.h's sg_store_graph_recall() says:
 * *edges gets the array of edges.  *rows gets the edge rows read, whatever the outcome. */
int sg_graph_walk(sg_conn *c, const char *tenant, const char *node_id, const char *label,
                  sg_direction dir, int depth, int limit, soulgw_json **edges, int64_t *rows);

#endif
