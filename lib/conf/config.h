/*
 * config.h -- gateway.toml turned into an immutable, reference-counted snapshot.
 *
 * A snapshot (sg_conf) is built from a source: the file (or text), the GATEWAY__SECTION__KEY
 * environment and explicit overrides, in that order of increasing precedence, and then its
 * secrets are resolved.  Nothing in a snapshot changes after it is built; a reload builds a new
 * one and swaps it in.  All strings live in the snapshot's arena, except secrets, which are
 * kept apart so that they can be wiped.
 */
#ifndef SG_CONFIG_H
#define SG_CONFIG_H

#include "base/netpolicy.h"
#include "base/sg.h"

typedef struct sg_strv {
  const char **v;
  size_t n;
} sg_strv;

/* Where a secret comes from; exactly one of the three is set. */
typedef struct sg_secret {
  const char *env, *file, *literal;
  char *value; /* resolved; wiped and freed with the snapshot */
  size_t len;
} sg_secret;

/* A credential: [auth.tokens.NAME], [auth.hmac_keys.NAME] or [auth.api_key]. */
typedef struct sg_cred_conf {
  const char *name; /* subject id: the NAME, or "api_key" */
  const char *tenant;
  sg_strv scopes;
  long long rate, burst;
  sg_secret secret;
  int line; /* of the section header */
  struct sg_cred_conf *next;
} sg_cred_conf;

/* [llm.providers.NAME] */
typedef struct sg_provider_conf {
  const char *name, *kind, *base_url;
  sg_secret api_key; /* optional: no source means no Authorization header */
  long long timeout_ms, retries;
  sg_strv models; /* the model names /v1/models lists as NAME:MODEL (none by default) */
  int line;
  struct sg_provider_conf *next;
} sg_provider_conf;

/* [llm.models.NAME]: a model alias, routed over its targets ("provider:model") by strategy. */
#define SG_MODEL_TARGETS_MAX 16
typedef struct sg_model_conf {
  const char *name, *strategy; /* "fallback" (default) or "loadbalance" */
  sg_strv targets;
  long long weights[SG_MODEL_TARGETS_MAX];
  size_t nweights;             /* 0: not given (every weight 1) */
  sg_strv fallback_on;         /* of connect, timeout, 429, 5xx */
  long long cooldown_s, cooldown_after;
  int line;
  struct sg_model_conf *next;
} sg_model_conf;

/* [tenants.NAME]: a tenant's budgets per UTC day (SPEC-llm-routing 2); -1: no cap. */
typedef struct sg_tenant_conf {
  const char *name;
  long long llm_tokens_per_day, llm_requests_per_day, tool_calls_per_day;
  int line;
  struct sg_tenant_conf *next;
} sg_tenant_conf;

/* [service.NAME]: overrides a standard route or binds a new one.  Unset fields are NULL / -1. */
typedef struct sg_service_conf {
  const char *name, *route, *kind, *description;
  sg_strv scopes;
  int has_scopes;
  int enabled, allow_anonymous; /* -1: not set */
  int line;
  struct sg_service_conf *next;
} sg_service_conf;

typedef struct sg_conf {
  atomic_int refs;
  sg_arena arena;
  const char *file;   /* the file read, or NULL */
  const char *source; /* for messages: the file, the text's name, or "(defaults)" */
  struct {
    const char *address;
    long long port, threads, max_body_bytes, connection_timeout_s, max_connections,
        drain_timeout_s;
    const char *metrics_scope;
    long long header_timeout_s, min_body_rate_bytes_s, max_connections_per_ip,
        max_unauthenticated_body_bytes;
    int watch_files;          /* reload when the configuration or a secret file changes */
    const char *watch_method; /* "auto" (inotify, else a periodic check) or "poll" */
  } server;
  struct {
    const char *path;
    int sync_full;
    const char *backend; /* "sqlite" or "postgres" */
    sg_secret url;       /* postgres: the connection URI (a secret) */
    long long pool, statement_timeout_ms;
  } storage;
  struct {
    int level, json, access;
  } log;
  struct {
    long long hmac_skew_s;
    long long replay_cache_per_key; /* 0: an equal share of the cache per HMAC key */
    int require_body_hash, require_nonce;
    sg_cred_conf *tokens, *hmac_keys, *api_key;
    size_t ntokens, nhmac;
  } auth;
  struct {
    const char *manifests_file;
    sg_strv allowed_hosts;     /* the patterns, as written */
    sg_netpolicy *netpolicy;   /* built from them; released with the snapshot */
    long long max_bytes_out;   /* most bytes an HTTP tool's answer may hold */
  } tools;
  struct {
    int tenant_labels; /* tool ids, observe topics and model names as label values */
  } metrics;
  struct {
    long long max_timeline_entries, max_snapshot_bytes, timeline_window;
  } collab;
  struct {
    const char *default_model, *embed_model;
    sg_provider_conf *providers;
    sg_model_conf *models;
  } llm;
  struct {
    long long session_idle_s, max_sessions; /* MCP sessions: idle lifetime, most at once */
    sg_strv allowed_origins; /* Origin values a browser may send to /mcp, as written */
    const char *instructions; /* the initialize answer's instructions; "" for none */
  } mcp;
  struct {
    sg_secret redis_url;  /* redis://[:password@]host:port/db (a secret); no source: no Redis */
    const char *instance; /* name in logs and /health; "" for hostname:port */
  } cluster;
  struct {
    int enabled;      /* serve the console */
    const char *path; /* its prefix, "/ui/" */
  } ui;
  sg_service_conf *services;
  sg_tenant_conf *tenants; /* [tenants.NAME], in the order of the file */
  sg_strv warnings; /* things worth a log line at start-up and reload (never secrets) */
} sg_conf;

/* The recipe a snapshot is built from, kept by the gateway for reloads. */
typedef struct sg_conf_source {
  char *path;       /* asked-for file, or NULL for the default search */
  char *text;       /* or a text held in memory ... */
  char *text_name;  /* ... and the name used for it in messages */
  char **over_keys; /* soulgw_config_set() overrides, in order */
  char **over_vals;
  size_t nover;
} sg_conf_source;

int sg_conf_source_copy(sg_conf_source *dst, const sg_conf_source *src);
void sg_conf_source_clear(sg_conf_source *src);

/* Builds a snapshot.  Returns 0 and *out (one reference), or SOULGW_ECONFIG / SOULGW_EIO /
 * SOULGW_ENOMEM with err holding every problem found, one per line. */
int sg_conf_build(const sg_conf_source *src, sg_conf **out, char *err, size_t errlen);
sg_conf *sg_conf_ref(sg_conf *c);
void sg_conf_release(sg_conf *c);

/* One key of a fixed section ("server.port", "storage.path") of a snapshot: 0 and *out, or
 * SOULGW_ENOTFOUND (unknown key, or not of that type). */
int sg_conf_get_int(const sg_conf *c, const char *key, long long *out);
int sg_conf_get_str(const sg_conf *c, const char *key, const char **out);

/* 1 when scopes holds scope, or "*", which holds every scope but tenant:* (SPEC 5: acting for
 * another tenant needs tenant:* by name). */
int sg_strv_has(const sg_strv *v, const char *s);

/* Access to the loaded snapshot of a public config handle. */
sg_conf *sg_config_snapshot(const soulgw_config *cfg);
const sg_conf_source *sg_config_source(const soulgw_config *cfg);

#endif
