/*
 * config_tools.c -- tool registry versions (SPEC 4.2 config_tools, config_tools_activate):
 * list a tenant's versions, publish a new one, make an earlier one active again.
 *
 * A publish is checked in full before anything is written: every manifest is validated and
 * must belong to the request's tenant.  The store then merges the manifests into the active
 * ones and, before writing, hands the merged version to check(), which builds its toolset (the
 * merge is within the 1000-tool limit, and loads as every later start will load it) or refuses
 * it with 422; an activation is checked the same way.  Only after the commit is the in-memory
 * registry swapped, so tools/execute never sees a version the store does not have, and the
 * store never holds an active version the gateway could not start with.
 */
#include <stdio.h>
#include <string.h>

#include "routes/ctx.h"
#include "tools/registry.h"
#include "routes/fields.h"
#include "routes/routes.h"

/* A publish or an activation in flight: the toolset its check built, installed once the
 * write has committed. */
typedef struct reg_op {
  soulgw_req *req;
  int activate;      /* 0: publish */
  sg_toolset *set;   /* built by check() */
  char err[640];     /* why check() refused */
} reg_op;

/* The store's last word before it writes (on its writer thread): the version must be one the
 * gateway can load, now and at every later start.  Builds its toolset, kept for committed(). */
static int check(void *ud, const soulgw_json *version, char *msg, size_t msglen) {
  reg_op *op = ud;
  const char *name = soulgw_json_string(soulgw_json_get(version, "version"));
  size_t n = soulgw_json_size(soulgw_json_get(version, "manifests"));
  char why[448];
  sg_toolset_release(op->set);
  op->set = NULL;
  if (n > SG_MANIFESTS_MAX) {
    if (op->activate)
      snprintf(op->err, sizeof op->err, "tool registry version %.100s holds %zu tools; the limit "
               "is %d", name ? name : "?", n, SG_MANIFESTS_MAX);
    else
      snprintf(op->err, sizeof op->err, "the merged registry would hold %zu tools; the limit is "
               "%d", n, SG_MANIFESTS_MAX);
  } else if (sg_toolset_build(op->req->tenant, version, SG_MANIFESTS_STORED, &op->set, why,
                              sizeof why)) {
    if (op->activate)
      snprintf(op->err, sizeof op->err, "tool registry version %.100s cannot be activated: %s",
               name ? name : "?", why);
    else
      snprintf(op->err, sizeof op->err, "the merged registry would be invalid: %s", why);
  } else {
    return 0;
  }
  snprintf(msg, msglen, "%s", op->err);
  return 1;
}

/* After a publish or an activation: installs its toolset, then answers {wrapper: version}. */
static void committed(reg_op *op, const char *wrapper, sg_st st, soulgw_json *result,
                      const char *msg) {
  soulgw_req *req = op->req;
  sg_toolset *set = op->set;
  op->set = NULL;
  if (st != SG_ST_OK) {
    sg_toolset_release(set);
    if (st == SG_ST_INVALID)
      soulgw_reply_error(req, SOULGW_API_SCHEMA_VALIDATION_FAILED, "%s", op->err);
    else
      sg_reply_store(req, st, result, msg);
    return;
  }
  const sg_ctx *ctx = sg_ctx_of(req);
  int rc = SOULGW_ENOMEM;
  if (set && result) rc = sg_registry_put(ctx->registry, req->tenant, set); /* takes set */
  else sg_toolset_release(set);
  if (rc) {
    sg_log(ctx->log, SOULGW_LOG_ERROR,
           "registry version stored but not activated in memory; restart to load it",
           SG_S("request_id", req->id), SG_S("tenant", req->tenant), SG_S("error", "out of memory"));
    soulgw_json_free(result);
    soulgw_reply_error(req, SOULGW_API_UNKNOWN_INTERNAL,
                       "the registry version was stored but could not be activated (request %s)",
                       req->id);
    return;
  }
  soulgw_json *o = soulgw_json_object();
  if (soulgw_json_set(o, wrapper, result)) {
    soulgw_json_free(o);
    soulgw_reply_error(req, SOULGW_API_UNKNOWN_INTERNAL, "out of memory building the answer");
    return;
  }
  soulgw_reply_json(req, 200, o);
}

static void published(void *ud, sg_st st, soulgw_json *result, const char *msg) {
  committed(ud, "published", st, result, msg);
}

static void activated(void *ud, sg_st st, soulgw_json *result, const char *msg) {
  committed(ud, "activated", st, result, msg);
}

static reg_op *reg_op_new(soulgw_req *req, int activate) {
  reg_op *op = sg_arena_calloc(&req->arena, sizeof *op);
  if (op) {
    op->req = req;
    op->activate = activate;
  }
  return op;
}

/* The body of a publish, {version, manifests}, and of an activation, {version}. */
typedef struct publish_in {
  const char *version;
  const soulgw_json *manifests;
} publish_in;

static const sg_field_spec publish_fields[] = {
    {SG_F_ID(publish_in, version), .required = 1},
    {SG_F_VALUE(publish_in, manifests), .required = 1},
    {0}};
static const sg_field_spec activate_fields[] = {{SG_F_ID(publish_in, version), .required = 1}, {0}};

static int publish(soulgw_req *req, const sg_ctx *ctx) {
  publish_in in;
  char err[512];
  if (sg_fields_body(req, publish_fields, &in)) return 0;
  if (!strcmp(in.version, "bootstrap"))
    return soulgw_reply_error(req, SOULGW_API_SCHEMA_VALIDATION_FAILED,
                              "version \"bootstrap\" is reserved for [tools] manifests_file");
  if (soulgw_json_typeof(in.manifests) == SOULGW_JSON_ARRAY && soulgw_json_size(in.manifests) == 0)
    return soulgw_reply_error(req, SOULGW_API_SCHEMA_VALIDATION_FAILED,
                              "manifests must not be empty");
  soulgw_json *norm = NULL;
  int rc = sg_manifests_normalize(in.manifests, "manifests", &norm, err, sizeof err);
  if (rc)
    return soulgw_reply_error(req, rc == SOULGW_EINVAL ? SOULGW_API_SCHEMA_VALIDATION_FAILED
                                                       : SOULGW_API_UNKNOWN_INTERNAL,
                              "%s", rc == SOULGW_EINVAL ? err : "out of memory");
  size_t i = 0;
  for (const soulgw_json *m = soulgw_json_first(norm); m; m = soulgw_json_next(m), i++) {
    const char *t = soulgw_json_string(soulgw_json_get(m, "tenant"));
    if (strcmp(t, req->tenant) != 0) {
      soulgw_reply_error(req, SOULGW_API_AUTH_FORBIDDEN,
                         "manifests[%zu].tenant is %.128s, but this request acts for tenant "
                         "%.128s; publish each tenant's tools as that tenant",
                         i, t, req->tenant);
      soulgw_json_free(norm);
      return 0;
    }
  }
  /* where an HTTP tool may connect (the same is checked again at connect time) */
  if (sg_netpolicy_check_manifests(req->snap->conf->tools.netpolicy, norm, err, sizeof err)) {
    soulgw_json_free(norm);
    return soulgw_reply_error(req, SOULGW_API_SCHEMA_VALIDATION_FAILED, "%s", err);
  }
  reg_op *op = reg_op_new(req, 0);
  if (!op) {
    soulgw_json_free(norm);
    return soulgw_reply_error(req, SOULGW_API_UNKNOWN_INTERNAL, "out of memory");
  }
  if (soulgw_req_defer(req) == 0)
    sg_store_registry_publish(ctx->store, req->tenant, in.version, norm, sg_wall_ms(), check,
                              published, op);
  soulgw_json_free(norm); /* the store copied it */
  return 0;
}

/* GET /api/config/tools: the tenant's versions, oldest first.
 * POST /api/config/tools {version, manifests}: publishes. */
int sg_route_config_tools(soulgw_req *req, void *ud) {
  const sg_ctx *ctx = ud;
  if (req->method_bit != SG_M_GET && req->method_bit != SG_M_HEAD) return publish(req, ctx);
  const soulgw_json *body;
  if (sg_fields_begin(req, &body)) return 0;
  soulgw_json *out = NULL;
  sg_st st = sg_store_registry_versions(ctx->store, req->tenant, &out);
  return sg_reply_store(req, st, out, st == SG_ST_UNAVAILABLE ? "cannot read registry versions" : NULL);
}

/* POST /api/config/tools/activate {version}: makes an existing version active again. */
int sg_route_config_tools_activate(soulgw_req *req, void *ud) {
  const sg_ctx *ctx = ud;
  publish_in in;
  if (sg_fields_body(req, activate_fields, &in)) return 0;
  reg_op *op = reg_op_new(req, 1);
  if (!op) return soulgw_reply_error(req, SOULGW_API_UNKNOWN_INTERNAL, "out of memory");
  if (soulgw_req_defer(req) == 0)
    sg_store_registry_activate(ctx->store, req->tenant, in.version, check, activated, op);
  return 0;
}
