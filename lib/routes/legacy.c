/*
 * legacy.c -- the older client contract of soulseed-agi (SPEC 4.2 "Legacy routes"):
 *
 *   POST /tenants/{tenant}/tools.execute   runs plan.nodes[0] {id, tool_id, input} through the
 *                                          same pipeline as /api/tools/execute (tool_exec.c)
 *   POST /tenants/{tenant}/collab.execute  opens or advances a collaboration, in one of two
 *                                          forms (below)
 *
 * Body: {"anchor":{...},"plan":{...},"cycle":{...},"router":{...},"budget":{...}}; anchor,
 * cycle, router and budget must be objects when present and are otherwise not used (but for
 * cycle.collab_scope_id).
 *
 * collab.execute takes the older form, plan.scope {collab_id (or id), participants, context,
 * note}, or the CollabPlan the soulseed-agi client sends: {scope: any JSON, scope_id,
 * participants, order, rounds, privacy_mode, barrier {mode, timeout_ms}}, whose collaboration is
 * plan.scope_id, else cycle.collab_scope_id, else a new one, and whose scope is stored as the
 * collaboration's context.  A plan is the older form when it names no scope_id nor
 * cycle.collab_scope_id and its scope is an object with collab_id or a string id.  Either way
 * the answer is the snapshot plus scope_id, attributes (plan.scope) and metadata {order, rounds,
 * privacy_mode}.  Every
 * answer, success or failure, is the envelope
 *   {"success":true|false,"data":...,"error":null|{"code","message"},"trace_id":"<request id>"}
 * with the HTTP status of the error table.  These handlers build the successes; every failure,
 * theirs or the pipeline's (authentication, a body that is not JSON, ...), is rendered in the
 * envelope by the routes' dialect, legacy (pipeline/dialect.c).
 */
#include <stdio.h>
#include <string.h>

#include "base/crypto.h"
#include "base/json.h"
#include "routes/ctx.h"
#include "base/json_write.h"
#include "routes/fields.h"
#include "routes/routes.h"
#include "routes/api/tool_exec.h"

static int invalid(soulgw_req *req, const char *fmt, ...) SG_PRINTF(2, 3);
static int invalid(soulgw_req *req, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  soulgw_reply_verror(req, SOULGW_API_SCHEMA_VALIDATION_FAILED, fmt, ap);
  va_end(ap);
  return -1;
}

/* obj[key] as an object: *out NULL when absent or null (an error when required). */
static int get_object(soulgw_req *req, const soulgw_json *obj, const char *name, const char *key,
                      int required, soulgw_json **out) {
  soulgw_json *v = soulgw_json_get(obj, key);
  *out = NULL;
  if (!v || soulgw_json_typeof(v) == SOULGW_JSON_NULL)
    return required ? invalid(req, "%s is required", name) : 0;
  if (soulgw_json_typeof(v) != SOULGW_JSON_OBJECT)
    return invalid(req, "%s must be an object, not %s", name, sg_json_type_phrase(v));
  *out = v;
  return 0;
}

/* v as an identifier: a string of 1 to SG_ID_MAX bytes, not blank, no control characters. */
static int check_id(soulgw_req *req, const soulgw_json *v, const char *name) {
  const char *s = soulgw_json_string(v);
  if (!s) return invalid(req, "%s must be a string, not %s", name, sg_json_type_phrase(v));
  if (strlen(s) > SG_ID_MAX) return invalid(req, "%s is longer than %d bytes", name, SG_ID_MAX);
  if (sg_is_blank(s)) return invalid(req, "%s must not be blank", name);
  for (const char *p = s; *p; p++)
    if ((unsigned char)*p < 0x20 || *p == 0x7f)
      return invalid(req, "%s must not contain control characters", name);
  return 0;
}

/* obj[key] as an identifier; *out NULL when absent or null (an error when required). */
static int get_id(soulgw_req *req, const soulgw_json *obj, const char *name, const char *key,
                  int required, const char **out) {
  const soulgw_json *v = soulgw_json_get(obj, key);
  *out = NULL;
  if (!v || soulgw_json_typeof(v) == SOULGW_JSON_NULL)
    return required ? invalid(req, "%s is required", name) : 0;
  if (check_id(req, v, name)) return -1;
  *out = soulgw_json_string(v);
  return 0;
}

/* The body and its plan; the other sections only need to be objects. */
static int begin(soulgw_req *req, soulgw_json **plan) {
  soulgw_json *body = req->json, *unused;
  *plan = NULL;
  if (body && soulgw_json_typeof(body) != SOULGW_JSON_OBJECT)
    return invalid(req, "body must be a JSON object, not %s", sg_json_type_phrase(body));
  static const char *const sections[] = {"anchor", "cycle", "router", "budget"};
  for (size_t i = 0; i < SG_ARRAY_LEN(sections); i++)
    if (get_object(req, body, sections[i], sections[i], 0, &unused)) return -1;
  return get_object(req, body, "plan", "plan", 1, plan);
}

/* POST /tenants/{tenant}/tools.execute */
int sg_route_legacy_tools_execute(soulgw_req *req, void *ud) {
  (void)ud;
  soulgw_json *plan, *node;
  if (begin(req, &plan)) return 0;
  soulgw_json *nodes = soulgw_json_get(plan, "nodes");
  if (!nodes || soulgw_json_typeof(nodes) == SOULGW_JSON_NULL)
    return invalid(req, "plan.nodes is required"), 0;
  if (soulgw_json_typeof(nodes) != SOULGW_JSON_ARRAY)
    return invalid(req, "plan.nodes must be an array, not %s", sg_json_type_phrase(nodes)), 0;
  if (!(node = soulgw_json_first(nodes))) return invalid(req, "plan.nodes must not be empty"), 0;
  if (soulgw_json_typeof(node) != SOULGW_JSON_OBJECT)
    return invalid(req, "plan.nodes[0] must be an object, not %s", sg_json_type_phrase(node)), 0;
  sg_exec_call call = {0};
  if (get_id(req, node, "plan.nodes[0].tool_id", "tool_id", 1, &call.tool_id) ||
      get_id(req, node, "plan.nodes[0].id", "id", 0, &call.call_id))
    return 0;
  call.input = soulgw_json_get(node, "input");
  if (!call.input) {
    soulgw_json *empty = soulgw_json_object();
    if (!empty || soulgw_json_set(node, "input", empty))
      return soulgw_reply_error(req, SOULGW_API_UNKNOWN_INTERNAL, "out of memory");
    call.input = soulgw_json_get(node, "input");
  }
  return sg_exec_tool(req, &call);
}

/* ------------------------------------------------------------------------------------------ */
/* collab.execute */

/* What one execute writes: the collaboration, its new participants, its context and note. */
typedef struct collab_args {
  const char *collab_id, *note;
  const soulgw_json *participants, *context;
} collab_args;

/* The older form: plan.scope {collab_id (or id), participants, context, note}. */
static int old_scope(soulgw_req *req, const soulgw_json *scope, collab_args *a) {
  if (soulgw_json_get(scope, "collab_id")) {
    if (get_id(req, scope, "plan.scope.collab_id", "collab_id", 1, &a->collab_id)) return -1;
  } else if (get_id(req, scope, "plan.scope.collab_id", "id", 1, &a->collab_id)) {
    return -1;
  }
  const soulgw_json *participants = soulgw_json_get(scope, "participants");
  if (soulgw_json_typeof(participants) == SOULGW_JSON_NULL) participants = NULL;
  if (participants) {
    if (soulgw_json_typeof(participants) != SOULGW_JSON_ARRAY)
      return invalid(req, "plan.scope.participants must be an array, not %s",
                     sg_json_type_phrase(participants));
    if (soulgw_json_size(participants) > SG_LIST_MAX)
      return invalid(req, "plan.scope.participants has %zu elements; at most %d",
                     soulgw_json_size(participants), SG_LIST_MAX);
    size_t i = 0;
    char name[64];
    for (const soulgw_json *p = soulgw_json_first(participants); p; p = soulgw_json_next(p), i++) {
      snprintf(name, sizeof name, "plan.scope.participants[%zu]", i);
      if (check_id(req, p, name)) return -1;
    }
  }
  a->participants = participants;
  const soulgw_json *context = soulgw_json_get(scope, "context");
  if (soulgw_json_typeof(context) == SOULGW_JSON_NULL) context = NULL;
  if (context && sg_json_deeper_than(context, SG_STORE_JSON_DEPTH_MAX))
    return invalid(req, "plan.scope.context nests deeper than %d levels of arrays and objects",
                   SG_STORE_JSON_DEPTH_MAX);
  a->context = context;
  const soulgw_json *n = soulgw_json_get(scope, "note");
  if (n && soulgw_json_typeof(n) != SOULGW_JSON_NULL) {
    if (!(a->note = soulgw_json_string(n)))
      return invalid(req, "plan.scope.note must be a string, not %s", sg_json_type_phrase(n));
    if (strlen(a->note) > SG_NOTE_MAX)
      return invalid(req, "plan.scope.note is longer than %d bytes", SG_NOTE_MAX);
  }
  return 0;
}

/* The soulseed-agi client's CollabPlan: {scope (any JSON but null), scope_id, participants,
 * order (a string or an array of strings), rounds, privacy_mode, barrier {mode, timeout_ms}};
 * cycle.collab_scope_id names the collaboration when plan.scope_id does not. */
#define ROUNDS_MAX 1000
#define BARRIER_TIMEOUT_MAX 86400000LL /* a day */

typedef struct plan_in {
  const soulgw_json *scope, *participants, *order, *barrier;
  const char *scope_id, *privacy_mode;
  long long rounds;
} plan_in;

/* order: a string, or an array of at most SG_LIST_MAX strings. */
static int check_order(soulgw_req *req, void *out) {
  const soulgw_json *o = ((const plan_in *)out)->order;
  if (!o || soulgw_json_string(o)) return 0;
  if (soulgw_json_typeof(o) != SOULGW_JSON_ARRAY)
    return invalid(req, "plan.order must be a string or an array of strings, not %s",
                   sg_json_type_phrase(o));
  if (soulgw_json_size(o) > SG_LIST_MAX)
    return invalid(req, "plan.order has %zu elements; at most %d", soulgw_json_size(o),
                   SG_LIST_MAX);
  size_t i = 0;
  for (const soulgw_json *x = soulgw_json_first(o); x; x = soulgw_json_next(x), i++)
    if (!soulgw_json_string(x))
      return invalid(req, "plan.order[%zu] must be a string, not %s", i, sg_json_type_phrase(x));
  return 0;
}

typedef struct barrier_in {
  const char *mode;
  long long timeout_ms;
} barrier_in;

static const sg_field_spec barrier_fields[] = {
    {SG_F_ID(barrier_in, mode)},
    {SG_F_INT(barrier_in, timeout_ms), .min = 0, .max = BARRIER_TIMEOUT_MAX},
    {0}};

static int check_barrier(soulgw_req *req, void *out) {
  barrier_in b;
  const soulgw_json *v = ((const plan_in *)out)->barrier;
  return v ? sg_fields_read(req, v, "plan.barrier", barrier_fields, &b) : 0;
}

static const sg_field_spec plan_fields[] = {
    {SG_F_VALUE(plan_in, scope), .required = 1},
    {SG_F_ID(plan_in, scope_id)},
    {SG_F_IDS(plan_in, participants)},
    {SG_F_VALUE(plan_in, order), .check = check_order},
    {SG_F_INT(plan_in, rounds), .min = 1, .max = ROUNDS_MAX},
    {SG_F_ID(plan_in, privacy_mode)},
    {SG_F_OBJECT(plan_in, barrier), .check = check_barrier},
    {0}};

typedef struct cycle_in {
  const char *collab_scope_id;
} cycle_in;

static const sg_field_spec cycle_fields[] = {{SG_F_ID(cycle_in, collab_scope_id)}, {0}};

typedef struct scope_in {
  const soulgw_json *participants;
} scope_in;

static const sg_field_spec scope_fields[] = {{SG_F_IDS(scope_in, participants)}, {0}};

/* 1 when plan.scope is the older form: an object naming its collaboration by collab_id, or
 * by a string id (a scope {"id": 7} is attributes). */
static int is_old_form(const soulgw_json *scope) {
  return soulgw_json_typeof(scope) == SOULGW_JSON_OBJECT &&
         (soulgw_json_get(scope, "collab_id") || soulgw_json_string(soulgw_json_get(scope, "id")));
}

/* The CollabPlan form: the id from plan.scope_id, else cycle.collab_scope_id, else a new
 * "collab-" and 32 random hex digits; plan.scope is the context. */
static int plan_scope(soulgw_req *req, const plan_in *in, const char *cycle_id, collab_args *a) {
  if (sg_json_deeper_than(in->scope, SG_STORE_JSON_DEPTH_MAX))
    return invalid(req, "plan.scope nests deeper than %d levels of arrays and objects",
                   SG_STORE_JSON_DEPTH_MAX);
  a->participants = in->participants;
  if (!a->participants && soulgw_json_typeof(in->scope) == SOULGW_JSON_OBJECT) {
    scope_in sc;
    if (sg_fields_read(req, in->scope, "plan.scope", scope_fields, &sc)) return -1;
    a->participants = sc.participants;
  }
  a->context = in->scope;
  a->collab_id = in->scope_id ? in->scope_id : cycle_id;
  if (!a->collab_id) {
    unsigned char rnd[16];
    char *id = sg_arena_alloc(&req->arena, sizeof "collab-" + 2 * sizeof rnd);
    if (!id) return soulgw_reply_error(req, SOULGW_API_UNKNOWN_INTERNAL, "out of memory"), -1;
    sg_random_bytes(rnd, sizeof rnd);
    memcpy(id, "collab-", sizeof "collab-" - 1);
    sg_hex_encode(id + sizeof "collab-" - 1, rnd, sizeof rnd);
    a->collab_id = id;
  }
  return 0;
}

/* plan[key] for the answer: a copy, or null when absent. */
static soulgw_json *copy_or_null(const soulgw_json *plan, const char *key) {
  const soulgw_json *v = soulgw_json_get(plan, key);
  return v ? soulgw_json_dup(v) : soulgw_json_null();
}

/* Adds what the soulseed-agi client reads to the snapshot: scope_id (the collaboration's id),
 * attributes (plan.scope as sent) and metadata {order, rounds, privacy_mode} (null when
 * absent).  Returns 0 or SOULGW_ENOMEM. */
static int add_plan_view(soulgw_json *snap, const soulgw_json *plan) {
  soulgw_json *meta = soulgw_json_object();
  int rc = soulgw_json_set(meta, "order", copy_or_null(plan, "order"));
  rc |= soulgw_json_set(meta, "rounds", copy_or_null(plan, "rounds"));
  rc |= soulgw_json_set(meta, "privacy_mode", copy_or_null(plan, "privacy_mode"));
  rc |= soulgw_json_set(snap, "scope_id",
                        soulgw_json_dup(soulgw_json_get(snap, "collab_id")));
  rc |= soulgw_json_set(snap, "attributes", copy_or_null(plan, "scope"));
  rc |= soulgw_json_set(snap, "metadata", meta);
  return rc ? SOULGW_ENOMEM : 0;
}

/* The collaboration has been written: the envelope with its snapshot. */
static void collab_done(void *ud, sg_st st, soulgw_json *result, const char *msg) {
  soulgw_req *req = ud;
  if (st != SG_ST_OK || !result) {
    const char *generic = "out of memory";
    soulgw_api_error code =
        st == SG_ST_OK ? SOULGW_API_UNKNOWN_INTERNAL : sg_st_error(st, &generic);
    soulgw_json_free(result);
    soulgw_reply_error(req, code, "%s", msg ? msg : generic);
    return;
  }
  sg_buf b;
  sg_buf_init(&b, 0);
  if (add_plan_view(result, soulgw_json_get(req->json, "plan"))) b.failed = 1;
  sg_buf_puts(&b, "{\"success\":true,\"data\":");
  if (sg_json_write(&b, result)) b.failed = 1;
  sg_buf_puts(&b, ",\"error\":null,\"trace_id\":\"");
  sg_buf_json_escape(&b, req->id, (size_t)-1);
  sg_buf_puts(&b, "\"}");
  soulgw_json_free(result);
  size_t len;
  char *text = sg_buf_detach(&b, &len);
  if (!text) {
    soulgw_reply_error(req, SOULGW_API_UNKNOWN_INTERNAL, "out of memory building the answer");
    return;
  }
  sg_req_answer_typed(req, 200, text, len, "application/json");
}

/* POST /tenants/{tenant}/collab.execute: the older form, or soulseed-agi's CollabPlan. */
int sg_route_legacy_collab_execute(soulgw_req *req, void *ud) {
  const sg_ctx *ctx = ud;
  soulgw_json *plan;
  plan_in in;
  cycle_in cy;
  collab_args a = {NULL, NULL, NULL, NULL};
  if (begin(req, &plan) || sg_fields_read(req, plan, "plan", plan_fields, &in) ||
      sg_fields_read(req, soulgw_json_get(req->json, "cycle"), "cycle", cycle_fields, &cy))
    return 0;
  if (!in.scope_id && !cy.collab_scope_id && is_old_form(in.scope)) {
    if (old_scope(req, in.scope, &a)) return 0;
  } else if (plan_scope(req, &in, cy.collab_scope_id, &a)) {
    return 0;
  }
  const sg_conf *conf = req->snap->conf;
  sg_collab_limits lim = {conf->collab.max_timeline_entries, conf->collab.max_snapshot_bytes,
                          (int)conf->collab.timeline_window};
  if (soulgw_req_defer(req)) return 0;
  sg_store_collab_execute(ctx->store, req->tenant, a.collab_id, a.participants, a.context,
                          a.note, &lim, sg_wall_ms(), collab_done, req);
  return 0;
}
