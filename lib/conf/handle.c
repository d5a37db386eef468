/*
 * handle.c -- the public soulgw_config handle: the recipe a configuration is built from
 * (file or text, and overrides), loading it into a snapshot, reading keys back, and the summary
 * `soulgw --check` prints.  The schema and the building itself are in config.c.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf/config.h"

/* ------------------------------------------------------------------------------------------ */
/* Sources */

void sg_conf_source_clear(sg_conf_source *s) {
  free(s->path);
  free(s->text);
  free(s->text_name);
  for (size_t i = 0; i < s->nover; i++) {
    free(s->over_keys[i]);
    free(s->over_vals[i]);
  }
  free(s->over_keys);
  free(s->over_vals);
  memset(s, 0, sizeof *s);
}

static int dup_or_null(char **dst, const char *src) {
  *dst = NULL;
  if (!src) return 0;
  *dst = sg_strdup(src);
  return *dst ? 0 : SOULGW_ENOMEM;
}

static int add_override(sg_conf_source *s, const char *key, const char *value) {
  char **k = realloc(s->over_keys, (s->nover + 1) * sizeof *k);
  if (!k) return SOULGW_ENOMEM;
  s->over_keys = k;
  char **v = realloc(s->over_vals, (s->nover + 1) * sizeof *v);
  if (!v) return SOULGW_ENOMEM;
  s->over_vals = v;
  k[s->nover] = sg_strdup(key);
  v[s->nover] = sg_strdup(value);
  if (!k[s->nover] || !v[s->nover]) {
    free(k[s->nover]);
    free(v[s->nover]);
    return SOULGW_ENOMEM;
  }
  s->nover++;
  return 0;
}

int sg_conf_source_copy(sg_conf_source *dst, const sg_conf_source *src) {
  memset(dst, 0, sizeof *dst);
  if (dup_or_null(&dst->path, src->path) || dup_or_null(&dst->text, src->text) ||
      dup_or_null(&dst->text_name, src->text_name))
    goto fail;
  for (size_t i = 0; i < src->nover; i++)
    if (add_override(dst, src->over_keys[i], src->over_vals[i])) goto fail;
  return 0;
fail:
  sg_conf_source_clear(dst);
  return SOULGW_ENOMEM;
}

/* ------------------------------------------------------------------------------------------ */
/* The public handle */

struct soulgw_config {
  sg_conf_source src;
  sg_conf *conf;
  char errmsg[8192];
};

soulgw_config *soulgw_config_new(void) { return calloc(1, sizeof(soulgw_config)); }

void soulgw_config_free(soulgw_config *cfg) {
  if (!cfg) return;
  sg_conf_source_clear(&cfg->src);
  sg_conf_release(cfg->conf);
  free(cfg);
}

sg_conf *sg_config_snapshot(const soulgw_config *cfg) { return cfg ? cfg->conf : NULL; }
const sg_conf_source *sg_config_source(const soulgw_config *cfg) { return &cfg->src; }

int soulgw_config_set(soulgw_config *cfg, const char *key, const char *value) {
  if (!cfg || !key || !value || !strchr(key, '.') || key[0] == '.' ||
      key[strlen(key) - 1] == '.' || strstr(key, ".."))
    return SOULGW_EINVAL;
  for (const char *p = key; *p; p++)
    if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
          *p == '_' || *p == '-' || *p == '.'))
      return SOULGW_EINVAL;
  for (size_t i = 0; i < cfg->src.nover; i++) {
    if (strcmp(cfg->src.over_keys[i], key) == 0) {
      char *v = sg_strdup(value);
      if (!v) return SOULGW_ENOMEM;
      free(cfg->src.over_vals[i]);
      cfg->src.over_vals[i] = v;
      return 0;
    }
  }
  return add_override(&cfg->src, key, value);
}

static int load(soulgw_config *cfg, const sg_conf_source *src) {
  sg_conf *c = NULL;
  int rc = sg_conf_build(src, &c, cfg->errmsg, sizeof cfg->errmsg);
  if (rc) return rc;
  sg_conf_release(cfg->conf);
  cfg->conf = c;
  cfg->errmsg[0] = '\0';
  return 0;
}

/* Loads from a new source (path or text) with the handle's overrides; on success the handle
 * keeps that source for the gateway's reloads. */
static int load_from(soulgw_config *cfg, const char *path, const char *text, const char *name) {
  sg_conf_source src = cfg->src;
  char *p = NULL, *t = NULL, *n = NULL;
  if (dup_or_null(&p, path) || dup_or_null(&t, text) || dup_or_null(&n, name)) {
    free(p);
    free(t);
    return SOULGW_ENOMEM;
  }
  src.path = p;
  src.text = t;
  src.text_name = n;
  int rc = load(cfg, &src);
  if (rc == 0) {
    free(cfg->src.path);
    free(cfg->src.text);
    free(cfg->src.text_name);
    cfg->src.path = p;
    cfg->src.text = t;
    cfg->src.text_name = n;
  } else {
    free(p);
    free(t);
    free(n);
  }
  return rc;
}

int soulgw_config_load(soulgw_config *cfg, const char *path) {
  return cfg ? load_from(cfg, path, NULL, NULL) : SOULGW_EINVAL;
}

int soulgw_config_load_string(soulgw_config *cfg, const char *text, const char *name) {
  if (!cfg || !text) return SOULGW_EINVAL;
  return load_from(cfg, NULL, text, name ? name : "<string>");
}

const char *soulgw_config_errmsg(const soulgw_config *cfg) { return cfg ? cfg->errmsg : ""; }

const char *soulgw_config_file(const soulgw_config *cfg) {
  return cfg && cfg->conf ? cfg->conf->file : NULL;
}

static void describe_strv(sg_buf *b, const sg_strv *v) {
  sg_buf_putc(b, '[');
  for (size_t i = 0; i < v->n; i++) sg_buf_printf(b, "%s%s", i ? ", " : "", v->v[i]);
  sg_buf_putc(b, ']');
}

static void describe_cred(sg_buf *b, const char *kind, const sg_cred_conf *e) {
  const sg_secret *s = &e->secret;
  sg_buf_printf(b, "  %-10s %-16s tenant=%s scopes=", kind, e->name, e->tenant);
  describe_strv(b, &e->scopes);
  if (s->env) sg_buf_printf(b, " secret=env:%s", s->env);
  else if (s->file) sg_buf_printf(b, " secret=file:%s", s->file);
  else sg_buf_puts(b, " secret=literal");
  if (e->rate) sg_buf_printf(b, " rate=%lld/s burst=%lld", e->rate, e->burst);
  sg_buf_putc(b, '\n');
}

char *soulgw_config_describe(const soulgw_config *cfg) {
  const sg_conf *c = cfg ? cfg->conf : NULL;
  if (!c) return NULL;
  sg_buf b;
  sg_buf_init(&b, 1 << 20);
  static const char *const levels[] = {"error", "warn", "info", "debug"};
  sg_buf_printf(&b, "config:   %s\n", c->source ? c->source : "(defaults)");
  sg_buf_printf(&b, "listen:   %s:%lld (threads %lld, max body %lld bytes, timeout %llds, "
                    "max %lld connections, drain %llds)\n",
                c->server.address, c->server.port, c->server.threads, c->server.max_body_bytes,
                c->server.connection_timeout_s, c->server.max_connections,
                c->server.drain_timeout_s);
  if (strcmp(c->storage.backend, "postgres") == 0) /* the URI is a secret: its source only */
    sg_buf_printf(&b, "storage:  postgres (url %s %s, pool %lld, statement timeout %lldms)\n",
                  c->storage.url.env ? "from environment" : c->storage.url.file ? "from file"
                                                                                : "literal",
                  c->storage.url.env ? c->storage.url.env
                  : c->storage.url.file ? c->storage.url.file : "in the configuration",
                  c->storage.pool, c->storage.statement_timeout_ms);
  else
    sg_buf_printf(&b, "storage:  %s (synchronous %s)\n", c->storage.path,
                  c->storage.sync_full ? "full" : "normal");
  if (c->cluster.redis_url.value) /* the URI is a secret: its source only */
    sg_buf_printf(&b, "cluster:  redis (url %s %s)%s%s\n",
                  c->cluster.redis_url.env ? "from environment"
                  : c->cluster.redis_url.file ? "from file" : "literal",
                  c->cluster.redis_url.env    ? c->cluster.redis_url.env
                  : c->cluster.redis_url.file ? c->cluster.redis_url.file
                                              : "in the configuration",
                  *c->cluster.instance ? ", instance " : "", c->cluster.instance);
  sg_buf_printf(&b, "log:      %s, %s, access %s\n", levels[c->log.level],
                c->log.json ? "json" : "text", c->log.access ? "on" : "off");
  sg_buf_printf(&b, "auth:     %zu tokens, %zu hmac keys, api key %s, hmac skew %llds%s%s\n",
                c->auth.ntokens, c->auth.nhmac, c->auth.api_key ? "configured" : "none",
                c->auth.hmac_skew_s, c->auth.require_body_hash ? ", body hash required" : "",
                c->auth.require_nonce ? ", nonce required" : "");
  for (const sg_cred_conf *e = c->auth.tokens; e; e = e->next) describe_cred(&b, "token", e);
  for (const sg_cred_conf *e = c->auth.hmac_keys; e; e = e->next) describe_cred(&b, "hmac", e);
  if (c->auth.api_key) describe_cred(&b, "api_key", c->auth.api_key);
  if (*c->server.metrics_scope) sg_buf_printf(&b, "metrics:  scope %s\n", c->server.metrics_scope);
  sg_buf_printf(&b, "tools:    manifests %s\n",
                *c->tools.manifests_file ? c->tools.manifests_file : "(none)");
  sg_buf_printf(&b, "  outbound max_bytes_out=%lld allowed_hosts=", c->tools.max_bytes_out);
  for (size_t i = 0; i < c->tools.allowed_hosts.n; i++)
    sg_buf_printf(&b, "%s%s", i ? "," : "", c->tools.allowed_hosts.v[i]);
  sg_buf_puts(&b, c->tools.allowed_hosts.n ? "\n" : "(none: private addresses refused)\n");
  sg_buf_printf(&b, "collab:   at most %lld timeline entries and %lld bytes, answers with %lld\n",
                c->collab.max_timeline_entries, c->collab.max_snapshot_bytes,
                c->collab.timeline_window);
  sg_buf_printf(&b, "llm:      default %s, embed %s\n", c->llm.default_model, c->llm.embed_model);
  for (const sg_provider_conf *p = c->llm.providers; p; p = p->next)
    sg_buf_printf(&b, "  provider %-16s kind=%s base_url=%s timeout=%lldms retries=%lld key=%s\n",
                  p->name, p->kind, p->base_url, p->timeout_ms, p->retries,
                  p->api_key.env ? p->api_key.env : p->api_key.file ? p->api_key.file
                                                   : p->api_key.literal ? "literal" : "none");
  for (const sg_service_conf *s = c->services; s; s = s->next) {
    sg_buf_printf(&b, "service:  %s", s->name);
    if (s->route) sg_buf_printf(&b, " route=%s", s->route);
    if (s->kind) sg_buf_printf(&b, " kind=%s", s->kind);
    if (s->has_scopes) {
      sg_buf_puts(&b, " scopes=");
      describe_strv(&b, &s->scopes);
    }
    if (s->enabled >= 0) sg_buf_printf(&b, " enabled=%s", s->enabled ? "true" : "false");
    if (s->allow_anonymous >= 0)
      sg_buf_printf(&b, " allow_anonymous=%s", s->allow_anonymous ? "true" : "false");
    sg_buf_putc(&b, '\n');
  }
  for (size_t i = 0; i < c->warnings.n; i++) sg_buf_printf(&b, "warning:  %s\n", c->warnings.v[i]);
  return sg_buf_detach(&b, NULL);
}

int soulgw_config_get_int(const soulgw_config *cfg, const char *key, long long *out) {
  return sg_conf_get_int(cfg ? cfg->conf : NULL, key, out);
}

int soulgw_config_get_str(const soulgw_config *cfg, const char *key, const char **out) {
  return sg_conf_get_str(cfg ? cfg->conf : NULL, key, out);
}
