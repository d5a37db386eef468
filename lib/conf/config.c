/*
 * config.c -- gateway.toml: the key schema, value parsing, environment and explicit overrides,
 * validation, secrets, and the public soulgw_config handle.
 *
 * Every key the gateway knows is in one of the tables below; anything else is an error naming
 * where it came from (file and line, environment variable, or override).  Values are parsed by
 * type, so that a message can say what was expected.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "conf/config.h"
#include "base/crypto.h"
#include "conf/toml_ini.h"
#include "base/log.h"
#include "base/route_syntax.h"
#include "conf/kinds.h"

extern char **environ;

/* ------------------------------------------------------------------------------------------ */
/* The schema */

enum vtype { T_STR, T_INT, T_BOOL, T_STRV, T_LEVEL, T_FORMAT, T_SYNC, T_TRISTATE, T_INTV };

/* Which struct a key's offset applies to. */
enum where { W_CONF, W_CRED, W_PROVIDER, W_SERVICE, W_MODEL, W_TENANT };

/* Secret keys are stored by role: env, file or literal of a struct's sg_secret. */
enum role { R_PLAIN, R_ENV, R_FILE, R_LIT };

typedef struct keydef {
  const char *key;
  enum vtype type;
  size_t off;
  long long min, max;
  enum role role;
} keydef;

#define C(f) offsetof(sg_conf, f)
#define CR(f) offsetof(sg_cred_conf, f)
#define P(f) offsetof(sg_provider_conf, f)
#define S(f) offsetof(sg_service_conf, f)
#define M(f) offsetof(sg_model_conf, f)
#define TN(f) offsetof(sg_tenant_conf, f)
#define BIG 0x7fffffffffffLL

static const keydef server_keys[] = {
    {"address", T_STR, C(server.address), 0, 0, R_PLAIN},
    {"port", T_INT, C(server.port), 0, 65535, R_PLAIN},
    {"threads", T_INT, C(server.threads), 0, 1024, R_PLAIN},
    {"max_body_bytes", T_INT, C(server.max_body_bytes), 1, 1LL << 32, R_PLAIN},
    {"connection_timeout_s", T_INT, C(server.connection_timeout_s), 0, 86400, R_PLAIN},
    {"max_connections", T_INT, C(server.max_connections), 1, 1000000, R_PLAIN},
    {"drain_timeout_s", T_INT, C(server.drain_timeout_s), 0, 86400, R_PLAIN},
    {"metrics_scope", T_STR, C(server.metrics_scope), 0, 0, R_PLAIN},
    {"header_timeout_s", T_INT, C(server.header_timeout_s), 0, 86400, R_PLAIN},
    {"min_body_rate_bytes_s", T_INT, C(server.min_body_rate_bytes_s), 0, 1LL << 30, R_PLAIN},
    {"max_connections_per_ip", T_INT, C(server.max_connections_per_ip), 0, 1000000, R_PLAIN},
    {"max_unauthenticated_body_bytes", T_INT, C(server.max_unauthenticated_body_bytes), 0,
     1LL << 40, R_PLAIN},
    {"watch_files", T_BOOL, C(server.watch_files), 0, 0, R_PLAIN},
    {"watch_method", T_STR, C(server.watch_method), 0, 0, R_PLAIN},
    {NULL, 0, 0, 0, 0, 0}};
static const keydef storage_keys[] = {{"path", T_STR, C(storage.path), 0, 0, R_PLAIN},
                                      {"synchronous", T_SYNC, C(storage.sync_full), 0, 0, R_PLAIN},
                                      {"backend", T_STR, C(storage.backend), 0, 0, R_PLAIN},
                                      {"url_env", T_STR, C(storage.url), 0, 0, R_ENV},
                                      {"url_file", T_STR, C(storage.url), 0, 0, R_FILE},
                                      {"url", T_STR, C(storage.url), 0, 0, R_LIT},
                                      {"pool", T_INT, C(storage.pool), 1, 1000, R_PLAIN},
                                      {"statement_timeout_ms", T_INT,
                                       C(storage.statement_timeout_ms), 1, 3600000, R_PLAIN},
                                      {NULL, 0, 0, 0, 0, 0}};
static const keydef cluster_keys[] = {{"redis_url_env", T_STR, C(cluster.redis_url), 0, 0, R_ENV},
                                      {"redis_url_file", T_STR, C(cluster.redis_url), 0, 0, R_FILE},
                                      {"redis_url", T_STR, C(cluster.redis_url), 0, 0, R_LIT},
                                      {"instance", T_STR, C(cluster.instance), 0, 0, R_PLAIN},
                                      {NULL, 0, 0, 0, 0, 0}};
static const keydef log_keys[] = {{"level", T_LEVEL, C(log.level), 0, 0, R_PLAIN},
                                  {"format", T_FORMAT, C(log.json), 0, 0, R_PLAIN},
                                  {"access", T_BOOL, C(log.access), 0, 0, R_PLAIN},
                                  {NULL, 0, 0, 0, 0, 0}};
static const keydef auth_keys[] = {
    {"hmac_skew_s", T_INT, C(auth.hmac_skew_s), 1, 3600, R_PLAIN},
    {"replay_cache_per_key", T_INT, C(auth.replay_cache_per_key), 0, 65536, R_PLAIN},
    {"require_body_hash", T_BOOL, C(auth.require_body_hash), 0, 0, R_PLAIN},
    {"require_nonce", T_BOOL, C(auth.require_nonce), 0, 0, R_PLAIN},
    {NULL, 0, 0, 0, 0, 0}};
static const keydef tools_keys[] = {{"manifests_file", T_STR, C(tools.manifests_file), 0, 0, R_PLAIN},
                                    {"allowed_hosts", T_STRV, C(tools.allowed_hosts), 0, 0, R_PLAIN},
                                    {"max_bytes_out", T_INT, C(tools.max_bytes_out), 1, 1LL << 30, R_PLAIN},
                                    {NULL, 0, 0, 0, 0, 0}};
static const keydef metrics_keys[] = {
    {"tenant_labels", T_BOOL, C(metrics.tenant_labels), 0, 0, R_PLAIN},
    {NULL, 0, 0, 0, 0, 0}};
static const keydef collab_keys[] = {
    {"max_timeline_entries", T_INT, C(collab.max_timeline_entries), 1, 100000000, R_PLAIN},
    {"max_snapshot_bytes", T_INT, C(collab.max_snapshot_bytes), 1024, 1LL << 40, R_PLAIN},
    {"timeline_window", T_INT, C(collab.timeline_window), 0, 1000, R_PLAIN},
    {NULL, 0, 0, 0, 0, 0}};
static const keydef mcp_keys[] = {
    {"session_idle_s", T_INT, C(mcp.session_idle_s), 1, 86400 * 30, R_PLAIN},
    {"max_sessions", T_INT, C(mcp.max_sessions), 1, 10000000, R_PLAIN},
    {"allowed_origins", T_STRV, C(mcp.allowed_origins), 0, 0, R_PLAIN},
    {"instructions", T_STR, C(mcp.instructions), 0, 0, R_PLAIN},
    {NULL, 0, 0, 0, 0, 0}};
static const keydef ui_keys[] = {{"enabled", T_BOOL, C(ui.enabled), 0, 0, R_PLAIN},
                                 {"path", T_STR, C(ui.path), 0, 0, R_PLAIN},
                                 {NULL, 0, 0, 0, 0, 0}};
static const keydef llm_keys[] = {{"default_model", T_STR, C(llm.default_model), 0, 0, R_PLAIN},
                                  {"embed_model", T_STR, C(llm.embed_model), 0, 0, R_PLAIN},
                                  {NULL, 0, 0, 0, 0, 0}};

#define CRED_COMMON                                                            \
  {"tenant", T_STR, CR(tenant), 0, 0, R_PLAIN},                                \
      {"scopes", T_STRV, CR(scopes), 0, 0, R_PLAIN},                           \
      {"rate", T_INT, CR(rate), 0, 1000000, R_PLAIN},                          \
  {                                                                            \
    "burst", T_INT, CR(burst), 0, 1000000, R_PLAIN                             \
  }
static const keydef token_keys[] = {CRED_COMMON,
                                    {"token_env", T_STR, CR(secret), 0, 0, R_ENV},
                                    {"token_file", T_STR, CR(secret), 0, 0, R_FILE},
                                    {"token", T_STR, CR(secret), 0, 0, R_LIT},
                                    {NULL, 0, 0, 0, 0, 0}};
static const keydef hmac_keys[] = {CRED_COMMON,
                                   {"secret_env", T_STR, CR(secret), 0, 0, R_ENV},
                                   {"secret_file", T_STR, CR(secret), 0, 0, R_FILE},
                                   {"secret", T_STR, CR(secret), 0, 0, R_LIT},
                                   {NULL, 0, 0, 0, 0, 0}};
static const keydef apikey_keys[] = {CRED_COMMON,
                                     {"key_env", T_STR, CR(secret), 0, 0, R_ENV},
                                     {"key_file", T_STR, CR(secret), 0, 0, R_FILE},
                                     {"key", T_STR, CR(secret), 0, 0, R_LIT},
                                     {NULL, 0, 0, 0, 0, 0}};
static const keydef provider_keys[] = {{"kind", T_STR, P(kind), 0, 0, R_PLAIN},
                                       {"base_url", T_STR, P(base_url), 0, 0, R_PLAIN},
                                       {"api_key_env", T_STR, P(api_key), 0, 0, R_ENV},
                                       {"api_key_file", T_STR, P(api_key), 0, 0, R_FILE},
                                       {"api_key", T_STR, P(api_key), 0, 0, R_LIT},
                                       {"timeout_ms", T_INT, P(timeout_ms), 1, 3600000, R_PLAIN},
                                       {"retries", T_INT, P(retries), 0, 10, R_PLAIN},
                                       {"models", T_STRV, P(models), 0, 0, R_PLAIN},
                                       {NULL, 0, 0, 0, 0, 0}};
static const keydef model_keys[] = {{"targets", T_STRV, M(targets), 0, 0, R_PLAIN},
                                    {"strategy", T_STR, M(strategy), 0, 0, R_PLAIN},
                                    {"weights", T_INTV, M(weights), 0, 1000000, R_PLAIN},
                                    {"fallback_on", T_STRV, M(fallback_on), 0, 0, R_PLAIN},
                                    {"cooldown_s", T_INT, M(cooldown_s), 0, 86400, R_PLAIN},
                                    {"cooldown_after", T_INT, M(cooldown_after), 1, 1000, R_PLAIN},
                                    {NULL, 0, 0, 0, 0, 0}};
static const keydef tenant_keys[] = {
    {"llm_tokens_per_day", T_INT, TN(llm_tokens_per_day), 0, BIG, R_PLAIN},
    {"llm_requests_per_day", T_INT, TN(llm_requests_per_day), 0, BIG, R_PLAIN},
    {"tool_calls_per_day", T_INT, TN(tool_calls_per_day), 0, BIG, R_PLAIN},
    {NULL, 0, 0, 0, 0, 0}};
static const keydef service_keys[] = {{"route", T_STR, S(route), 0, 0, R_PLAIN},
                                      {"kind", T_STR, S(kind), 0, 0, R_PLAIN},
                                      {"description", T_STR, S(description), 0, 0, R_PLAIN},
                                      {"scopes", T_STRV, S(scopes), 0, 0, R_PLAIN},
                                      {"enabled", T_TRISTATE, S(enabled), 0, 0, R_PLAIN},
                                      {"allow_anonymous", T_TRISTATE, S(allow_anonymous), 0, 0, R_PLAIN},
                                      {NULL, 0, 0, 0, 0, 0}};

/* Sections: a fixed name, or a prefix followed by an entity NAME. */
typedef struct sectiondef {
  const char *name; /* "server", or "auth.tokens." for named entities */
  int named;
  enum where where;
  const keydef *keys;
} sectiondef;

static const sectiondef sections[] = {
    {"server", 0, W_CONF, server_keys},          {"storage", 0, W_CONF, storage_keys},
    {"log", 0, W_CONF, log_keys},                {"auth", 0, W_CONF, auth_keys},
    {"auth.api_key", 0, W_CRED, apikey_keys},    {"auth.tokens.", 1, W_CRED, token_keys},
    {"auth.hmac_keys.", 1, W_CRED, hmac_keys},   {"tools", 0, W_CONF, tools_keys},
    {"llm", 0, W_CONF, llm_keys},                {"llm.providers.", 1, W_PROVIDER, provider_keys},
    {"llm.models.", 1, W_MODEL, model_keys},
    {"tenants.", 1, W_TENANT, tenant_keys},
    {"service.", 1, W_SERVICE, service_keys},
    {"metrics", 0, W_CONF, metrics_keys},
    {"collab", 0, W_CONF, collab_keys},
    {"mcp", 0, W_CONF, mcp_keys},
    {"cluster", 0, W_CONF, cluster_keys},
    {"ui", 0, W_CONF, ui_keys},
};

/* ------------------------------------------------------------------------------------------ */
/* Building */

typedef struct builder {
  sg_conf *c;
  sg_buf err;       /* every problem, one per line */
  int nerr;
  const char *file; /* name used in messages */
  sg_cred_conf **tok_tail, **hmac_tail;
  sg_provider_conf **prov_tail;
  sg_model_conf **model_tail;
  sg_tenant_conf **tenant_tail;
  sg_service_conf **svc_tail;
  sg_buf warn;
  unsigned file_mode; /* of the file read, for the warning about literal secrets */
} builder;

static void problem(builder *b, const char *fmt, ...) SG_PRINTF(2, 3);
static void problem(builder *b, const char *fmt, ...) {
  va_list ap;
  if (b->nerr++) sg_buf_putc(&b->err, '\n');
  va_start(ap, fmt);
  sg_buf_vprintf(&b->err, fmt, ap);
  va_end(ap);
}

static void warning(builder *b, const char *fmt, ...) SG_PRINTF(2, 3);
static void warning(builder *b, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  sg_buf_vprintf(&b->warn, fmt, ap);
  va_end(ap);
  sg_buf_putc(&b->warn, '\n');
}

static const char *adup(builder *b, const char *s) { return sg_arena_strdup(&b->c->arena, s); }

/* Parses a TOML basic or literal string starting at s (which points at the quote).  Writes the
 * decoded text into out; returns the position after the closing quote, or NULL. */
static const char *parse_string(const char *s, sg_buf *out, const char **why) {
  char q = *s++;
  for (;;) {
    char c = *s++;
    if (c == '\0') {
      *why = "unterminated string";
      return NULL;
    }
    if (c == q) return s;
    if ((unsigned char)c < 0x20 && c != '\t') {
      *why = "control character in string";
      return NULL;
    }
    if (c != '\\' || q == '\'') {
      sg_buf_putc(out, c);
      continue;
    }
    c = *s++;
    switch (c) {
      case 'n': sg_buf_putc(out, '\n'); break;
      case 't': sg_buf_putc(out, '\t'); break;
      case 'r': sg_buf_putc(out, '\r'); break;
      case 'b': sg_buf_putc(out, '\b'); break;
      case 'f': sg_buf_putc(out, '\f'); break;
      case '"': sg_buf_putc(out, '"'); break;
      case '\\': sg_buf_putc(out, '\\'); break;
      case 'u':
      case 'U': {
        int nd = c == 'u' ? 4 : 8;
        unsigned long cp = 0;
        for (int i = 0; i < nd; i++, s++) {
          int v = sg_hex_digit(*s);
          if (v < 0) {
            *why = "malformed \\u escape";
            return NULL;
          }
          cp = cp * 16 + (unsigned long)v;
        }
        if (cp == 0 || (cp >= 0xD800 && cp <= 0xDFFF) || cp > 0x10FFFF) {
          *why = "invalid code point in \\u escape";
          return NULL;
        }
        char u[4];
        sg_buf_append(out, u, sg_utf8_encode(cp, u));
        break;
      }
      default:
        *why = "unknown escape in string";
        return NULL;
    }
  }
}

static const char *skip_ws(const char *s) {
  while (*s == ' ' || *s == '\t') s++;
  return s;
}

/* A whole value that must be one string.  raw: unquoted text is taken as is (environment and
 * overrides). */
static int value_string(builder *b, const char *v, int raw, const char **out, const char **why) {
  if (raw && *v != '"' && *v != '\'') {
    *out = adup(b, v);
    return *out ? 0 : SOULGW_ENOMEM;
  }
  if (*v != '"' && *v != '\'') {
    *why = "expected a quoted string";
    return SOULGW_EINVAL;
  }
  sg_buf s;
  sg_buf_init(&s, 1 << 20);
  const char *end = parse_string(v, &s, why);
  if (end && *skip_ws(end) != '\0') {
    *why = "unexpected text after the string";
    end = NULL;
  }
  if (end) *out = sg_arena_strndup(&b->c->arena, s.ptr ? s.ptr : "", s.len);
  sg_buf_free(&s);
  if (!end) return SOULGW_EINVAL;
  return *out ? 0 : SOULGW_ENOMEM;
}

static int value_int(const char *v, long long min, long long max, long long *out,
                     const char **why) {
  char digits[32];
  size_t n = 0;
  const char *p = v;
  if (*p == '+' || *p == '-') digits[n++] = *p++;
  if (!(*p >= '0' && *p <= '9')) {
    *why = "expected an integer";
    return SOULGW_EINVAL;
  }
  for (; *p; p++) {
    if (*p == '_' && p[1] >= '0' && p[1] <= '9' && p[-1] >= '0' && p[-1] <= '9') continue;
    if (*p < '0' || *p > '9' || n + 1 >= sizeof digits) break;
    digits[n++] = *p;
  }
  if (*skip_ws(p) != '\0') {
    *why = "expected an integer";
    return SOULGW_EINVAL;
  }
  digits[n] = '\0';
  errno = 0;
  long long x = strtoll(digits, NULL, 10);
  if (errno || x < min || x > max) {
    *why = "integer out of range";
    return SOULGW_EINVAL;
  }
  *out = x;
  return 0;
}

static int value_bool(const char *v, int *out, const char **why) {
  if (strcmp(v, "true") == 0) *out = 1;
  else if (strcmp(v, "false") == 0) *out = 0;
  else {
    *why = "expected true or false";
    return SOULGW_EINVAL;
  }
  return 0;
}

/* An array of strings; raw: a comma-separated list without brackets is accepted too. */
static int value_strv(builder *b, const char *v, int raw, sg_strv *out, const char **why) {
  const char *items[256];
  size_t n = 0;
  sg_buf s;
  int rc = SOULGW_EINVAL;
  sg_buf_init(&s, 1 << 20);
  if (raw && *v != '[') {
    const char *p = v;
    while (*p) {
      const char *comma = strchr(p, ',');
      size_t len = comma ? (size_t)(comma - p) : strlen(p);
      while (len && (*p == ' ' || *p == '\t')) p++, len--;
      while (len && (p[len - 1] == ' ' || p[len - 1] == '\t')) len--;
      if (len) {
        if (n == SG_ARRAY_LEN(items)) {
          *why = "too many elements";
          goto out;
        }
        items[n++] = sg_arena_strndup(&b->c->arena, p, len);
      }
      if (!comma) break;
      p = comma + 1;
    }
    rc = 0;
    goto done;
  }
  if (*v != '[') {
    *why = "expected an array of strings";
    goto out;
  }
  const char *p = skip_ws(v + 1);
  while (*p != ']') {
    if (*p != '"' && *p != '\'') {
      *why = *p ? "expected a quoted string in the array" : "unterminated array";
      goto out;
    }
    sg_buf_reset(&s);
    p = parse_string(p, &s, why);
    if (!p) goto out;
    if (n == SG_ARRAY_LEN(items)) {
      *why = "too many elements";
      goto out;
    }
    items[n++] = sg_arena_strndup(&b->c->arena, s.ptr ? s.ptr : "", s.len);
    p = skip_ws(p);
    if (*p == ',') p = skip_ws(p + 1);
    else if (*p != ']') {
      *why = "expected ',' or ']' in the array";
      goto out;
    }
  }
  if (*skip_ws(p + 1) != '\0') {
    *why = "unexpected text after the array";
    goto out;
  }
  rc = 0;
done:
  out->n = n;
  out->v = sg_arena_alloc(&b->c->arena, (n ? n : 1) * sizeof *out->v);
  if (!out->v) rc = SOULGW_ENOMEM;
  for (size_t i = 0; rc == 0 && i < n; i++) {
    if (!items[i]) rc = SOULGW_ENOMEM;
    out->v[i] = items[i];
  }
out:
  sg_buf_free(&s);
  return rc;
}

static int provider_known(const sg_conf *c, const char *name, size_t len) {
  if (len == 5 && strncmp(name, "local", 5) == 0) return 1;
  for (const sg_provider_conf *p = c->llm.providers; p; p = p->next)
    if (strlen(p->name) == len && strncmp(p->name, name, len) == 0) return 1;
  return 0;
}

static int alias_named(const sg_conf *c, const char *name) {
  for (const sg_model_conf *m = c->llm.models; m; m = m->next)
    if (strcmp(m->name, name) == 0) return 1;
  return 0;
}

/* [llm.models.NAME]: its name, strategy, targets, weights and fallback_on. */
static void validate_model(builder *b, const sg_model_conf *m) {
  char loc[400];
  static const char *const classes[] = {"connect", "timeout", "429", "5xx"};
  snprintf(loc, sizeof loc, "%s:%d: [llm.models.%s]", b->file, m->line, m->name);
  if (strchr(m->name, ':')) problem(b, "%s: an alias name must not contain ':'", loc);
  if (provider_known(b->c, m->name, strlen(m->name)))
    problem(b, "%s: the alias shadows the provider %s", loc, m->name);
  int lb = strcmp(m->strategy, "loadbalance") == 0;
  if (!lb && strcmp(m->strategy, "fallback") != 0)
    problem(b, "%s: unknown strategy \"%s\" (expected \"fallback\" or \"loadbalance\")", loc,
            m->strategy);
  if (m->targets.n == 0) problem(b, "%s needs targets", loc);
  if (m->targets.n > SG_MODEL_TARGETS_MAX)
    problem(b, "%s: at most %d targets", loc, SG_MODEL_TARGETS_MAX);
  for (size_t i = 0; i < m->targets.n; i++) {
    const char *t = m->targets.v[i], *colon = strchr(t, ':');
    if (!colon || colon == t || !colon[1])
      problem(b, "%s: targets[%zu] must be provider:model, got \"%s\"", loc, i, t);
    else if (!provider_known(b->c, t, (size_t)(colon - t)))
      problem(b, "%s: targets[%zu] names the unknown provider %.*s", loc, i, (int)(colon - t), t);
  }
  if (m->nweights && !lb) problem(b, "%s: weights apply to strategy \"loadbalance\" only", loc);
  if (m->nweights && m->nweights != m->targets.n)
    problem(b, "%s: %zu weights for %zu targets", loc, m->nweights, m->targets.n);
  long long sum = m->nweights ? 0 : 1;
  for (size_t i = 0; i < m->nweights; i++) sum += m->weights[i];
  if (lb && sum == 0) problem(b, "%s: the weights must not all be 0", loc);
  for (size_t i = 0; i < m->fallback_on.n; i++) {
    size_t k = 0;
    while (k < SG_ARRAY_LEN(classes) && strcmp(m->fallback_on.v[i], classes[k]) != 0) k++;
    if (k == SG_ARRAY_LEN(classes))
      problem(b, "%s: fallback_on[%zu] is \"%s\" (expected connect, timeout, 429 or 5xx)", loc,
              i, m->fallback_on.v[i]);
  }
}

/* An array of integers in [0, max], at most SG_MODEL_TARGETS_MAX: "[3, 1, 0]". */
static int value_intv(const char *v, long long max, long long *out, size_t *n, const char **why) {
  const char *p = skip_ws(v);
  *n = 0;
  if (*p != '[') {
    *why = "expected an array of integers";
    return SOULGW_EINVAL;
  }
  p = skip_ws(p + 1);
  while (*p != ']') {
    char *end;
    long long x = strtoll(p, &end, 10);
    if (end == p || x < 0 || x > max) {
      *why = "expected integers from 0 to 1000000 in the array";
      return SOULGW_EINVAL;
    }
    if (*n == SG_MODEL_TARGETS_MAX) {
      *why = "too many elements";
      return SOULGW_EINVAL;
    }
    out[(*n)++] = x;
    p = skip_ws(end);
    if (*p == ',') p = skip_ws(p + 1);
    else if (*p != ']') {
      *why = "expected ',' or ']' in the array";
      return SOULGW_EINVAL;
    }
  }
  return 0;
}

static void *entity(builder *b, const sectiondef *sd, const char *name, int line) {
  sg_conf *c = b->c;
  if (sd->where == W_CRED) {
    sg_cred_conf **head = NULL, ***tail = NULL;
    size_t *count = NULL;
    if (strcmp(sd->name, "auth.api_key") == 0) {
      if (c->auth.api_key) return c->auth.api_key;
      head = &c->auth.api_key;
      name = "api_key";
    } else if (strcmp(sd->name, "auth.tokens.") == 0) {
      head = &c->auth.tokens;
      tail = &b->tok_tail;
      count = &c->auth.ntokens;
    } else {
      head = &c->auth.hmac_keys;
      tail = &b->hmac_tail;
      count = &c->auth.nhmac;
    }
    for (sg_cred_conf *e = *head; e; e = e->next)
      if (strcmp(e->name, name) == 0) return e;
    sg_cred_conf *e = sg_arena_calloc(&c->arena, sizeof *e);
    if (!e || !(e->name = adup(b, name))) return NULL;
    e->line = line;
    if (tail) {
      **tail = e;
      *tail = &e->next;
      ++*count;
    } else {
      *head = e;
    }
    return e;
  }
  if (sd->where == W_PROVIDER) {
    for (sg_provider_conf *e = c->llm.providers; e; e = e->next)
      if (strcmp(e->name, name) == 0) return e;
    sg_provider_conf *e = sg_arena_calloc(&c->arena, sizeof *e);
    if (!e || !(e->name = adup(b, name))) return NULL;
    e->kind = "openai";
    e->timeout_ms = 60000;
    e->retries = 2;
    e->line = line;
    *b->prov_tail = e;
    b->prov_tail = &e->next;
    return e;
  }
  if (sd->where == W_MODEL) {
    static const char *fallback_on[] = {"connect", "timeout", "429", "5xx"};
    for (sg_model_conf *e = c->llm.models; e; e = e->next)
      if (strcmp(e->name, name) == 0) return e;
    sg_model_conf *e = sg_arena_calloc(&c->arena, sizeof *e);
    if (!e || !(e->name = adup(b, name))) return NULL;
    e->strategy = "fallback";
    e->fallback_on.v = fallback_on;
    e->fallback_on.n = SG_ARRAY_LEN(fallback_on);
    e->cooldown_s = 30;
    e->cooldown_after = 3;
    e->line = line;
    *b->model_tail = e;
    b->model_tail = &e->next;
    return e;
  }
  if (sd->where == W_TENANT) {
    for (sg_tenant_conf *e = c->tenants; e; e = e->next)
      if (strcmp(e->name, name) == 0) return e;
    sg_tenant_conf *e = sg_arena_calloc(&c->arena, sizeof *e);
    if (!e || !(e->name = adup(b, name))) return NULL;
    e->llm_tokens_per_day = e->llm_requests_per_day = e->tool_calls_per_day = -1;
    e->line = line;
    *b->tenant_tail = e;
    b->tenant_tail = &e->next;
    return e;
  }
  for (sg_service_conf *e = c->services; e; e = e->next)
    if (strcmp(e->name, name) == 0) return e;
  sg_service_conf *e = sg_arena_calloc(&c->arena, sizeof *e);
  if (!e || !(e->name = adup(b, name))) return NULL;
  e->enabled = e->allow_anonymous = -1;
  e->line = line;
  *b->svc_tail = e;
  b->svc_tail = &e->next;
  return e;
}

/* "token" for token_env, token_file and token. */
static const char *role_stem(const char *key) {
  static const char *const stems[] = {"token", "secret", "api_key", "key", "url", "redis_url"};
  for (size_t i = 0; i < SG_ARRAY_LEN(stems); i++)
    if (strncmp(key, stems[i], strlen(stems[i])) == 0 &&
        (key[strlen(stems[i])] == '\0' || key[strlen(stems[i])] == '_'))
      return stems[i];
  return key;
}

/* Finds the section definition of a section name; *name receives the entity name. */
static const sectiondef *find_section(const char *section, const char **name) {
  for (size_t i = 0; i < SG_ARRAY_LEN(sections); i++) {
    const sectiondef *sd = &sections[i];
    size_t n = strlen(sd->name);
    if (!sd->named) {
      if (strcmp(section, sd->name) == 0) {
        *name = NULL;
        return sd;
      }
    } else if (strncmp(section, sd->name, n) == 0 && section[n] && !strchr(section + n, '.')) {
      *name = section + n;
      return sd;
    }
  }
  return NULL;
}

/* Applies one key.  where: "FILE:LINE" or "environment VAR" or "override KEY", for messages.
 * raw: values from the environment and overrides, where strings need no quotes. */
static int apply(builder *b, const char *section, int section_line, const char *key,
                 const char *value, const char *where, int raw) {
  const char *name = NULL, *why = NULL;
  const sectiondef *sd = find_section(section, &name);
  if (!sd) {
    problem(b, "%s: unknown section [%s]", where, section);
    return SOULGW_ECONFIG;
  }
  void *base = b->c;
  if (sd->where != W_CONF) {
    base = entity(b, sd, name, section_line);
    if (!base) {
      problem(b, "%s: out of memory", where);
      return SOULGW_ENOMEM;
    }
  }
  if (!key) return 0; /* a section header alone */
  const keydef *k = sd->keys;
  while (k->key && strcmp(k->key, key) != 0) k++;
  if (!k->key) {
    problem(b, "%s: unknown key '%s' in [%s]", where, key, section);
    return SOULGW_ECONFIG;
  }
  void *field = (char *)base + k->off;
  int rc = 0;
  switch (k->type) {
    case T_STR: {
      const char *s = NULL;
      rc = value_string(b, value, raw, &s, &why);
      if (rc) break;
      if (k->role == R_PLAIN) {
        *(const char **)field = s;
      } else {
        sg_secret *sec = field;
        if (!raw && (sec->env || sec->file || sec->literal)) {
          problem(b, "%s: [%s] has more than one secret source; keep one of %s_env, %s_file "
                     "or %s", where, section, role_stem(key), role_stem(key), role_stem(key));
          return SOULGW_ECONFIG;
        }
        /* the environment and overrides replace the file's source */
        sec->env = sec->file = sec->literal = NULL;
        if (k->role == R_ENV) sec->env = s;
        if (k->role == R_FILE) sec->file = s;
        if (k->role == R_LIT) sec->literal = s;
        if (k->role == R_LIT && !raw && (b->file_mode & 044))
          warning(b, "%s: [%s] holds a literal secret and %s is readable by group or others "
                     "(mode %03o); chmod 600 it, or use %s_env or %s_file", where, section,
                  b->file, b->file_mode & 0777, role_stem(key), role_stem(key));
      }
      break;
    }
    case T_INT:
      rc = value_int(value, k->min, k->max, (long long *)field, &why);
      if (rc == SOULGW_EINVAL && why && strcmp(why, "integer out of range") == 0) {
        problem(b, "%s: %s.%s must be between %lld and %lld", where, section, key, k->min,
                k->max);
        return SOULGW_ECONFIG;
      }
      break;
    case T_BOOL:
      rc = value_bool(value, (int *)field, &why);
      break;
    case T_TRISTATE:
      rc = value_bool(value, (int *)field, &why);
      break;
    case T_INTV:
      rc = value_intv(value, k->max, (long long *)field, &((sg_model_conf *)base)->nweights, &why);
      break;
    case T_STRV:
      rc = value_strv(b, value, raw, (sg_strv *)field, &why);
      if (rc == 0 && sd->where == W_SERVICE) ((sg_service_conf *)base)->has_scopes = 1;
      break;
    case T_LEVEL:
    case T_FORMAT:
    case T_SYNC: {
      const char *s = NULL;
      rc = value_string(b, value, raw, &s, &why);
      if (rc) break;
      int v = -1;
      if (k->type == T_LEVEL) {
        v = sg_log_level_parse(s);
        why = "expected \"error\", \"warn\", \"info\" or \"debug\"";
      } else if (k->type == T_FORMAT) {
        v = strcmp(s, "json") == 0 ? 1 : strcmp(s, "text") == 0 ? 0 : -1;
        why = "expected \"json\" or \"text\"";
      } else {
        v = strcmp(s, "full") == 0 ? 1 : strcmp(s, "normal") == 0 ? 0 : -1;
        why = "expected \"full\" or \"normal\"";
      }
      if (v < 0) rc = SOULGW_EINVAL;
      else *(int *)field = v;
      break;
    }
  }
  if (rc == SOULGW_ENOMEM) {
    problem(b, "%s: out of memory", where);
    return rc;
  }
  if (rc) {
    problem(b, "%s: bad value for %s.%s: %s", where, section, key, why ? why : "invalid");
    return SOULGW_ECONFIG;
  }
  return 0;
}

static int on_ini(void *ud, const char *section, int section_line, const char *key,
                  const char *value, int line, char *err, size_t errlen) {
  builder *b = ud;
  char where[512];
  snprintf(where, sizeof where, "%s:%d", b->file, line);
  size_t before = b->err.len;
  int rc = apply(b, section, section_line, key, value, where, 0);
  if (rc) {
    /* ini.c stops at the first problem; hand it the message (already in b->err). */
    snprintf(err, errlen, "%s", b->err.ptr ? b->err.ptr + before : "");
    return 1;
  }
  return 0;
}

static int read_file(const char *path, char **text, size_t *len, char *why, size_t whylen) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    snprintf(why, whylen, "%s", strerror(errno));
    return -1;
  }
  sg_buf b;
  sg_buf_init(&b, 16 << 20);
  for (;;) {
    if (sg_buf_reserve(&b, 8192)) {
      snprintf(why, whylen, "file too large");
      break;
    }
    ssize_t n = read(fd, b.ptr + b.len, b.cap - b.len - 1);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      snprintf(why, whylen, "%s", strerror(errno));
      b.failed = 1;
      break;
    }
    if (n == 0) break;
    b.len += (size_t)n;
    b.ptr[b.len] = '\0';
  }
  close(fd);
  if (b.failed) {
    sg_buf_free(&b);
    return -1;
  }
  *text = sg_buf_detach(&b, len);
  return *text ? 0 : -1;
}

/* GATEWAY__A__B__KEY=value: section "a.b", key "key". */
static void apply_env(builder *b) {
  for (char **e = environ; e && *e; e++) {
    if (strncmp(*e, "GATEWAY__", 9) != 0) continue;
    const char *eq = strchr(*e, '=');
    if (!eq) continue;
    char var[256], section[256];
    size_t vlen = (size_t)(eq - *e);
    if (vlen >= sizeof var) {
      problem(b, "environment: variable name too long");
      continue;
    }
    memcpy(var, *e, vlen);
    var[vlen] = '\0';
    const char *last = NULL;
    for (const char *p = var + 9; (p = strstr(p, "__")); p += 2) last = p;
    if (!last || last == var + 9) {
      problem(b, "environment %s: expected GATEWAY__SECTION__KEY", var);
      continue;
    }
    size_t sl = 0;
    for (const char *p = var + 9; p < last && sl + 1 < sizeof section; p++) {
      if (p[0] == '_' && p[1] == '_') {
        section[sl++] = '.';
        p++;
      } else {
        section[sl++] = (char)(*p >= 'A' && *p <= 'Z' ? *p - 'A' + 'a' : *p);
      }
    }
    section[sl] = '\0';
    char key[128];
    size_t kl = 0;
    for (const char *p = last + 2; *p && kl + 1 < sizeof key; p++)
      key[kl++] = (char)(*p >= 'A' && *p <= 'Z' ? *p - 'A' + 'a' : *p);
    key[kl] = '\0';
    char where[300];
    snprintf(where, sizeof where, "environment %s", var);
    apply(b, section, 0, key, eq + 1, where, 1);
  }
}

static void apply_overrides(builder *b, const sg_conf_source *src) {
  for (size_t i = 0; i < src->nover; i++) {
    const char *k = src->over_keys[i];
    const char *dot = strrchr(k, '.');
    char section[256], where[300];
    snprintf(where, sizeof where, "override %s", k);
    if (!dot || dot == k || (size_t)(dot - k) >= sizeof section) {
      problem(b, "%s: expected section.key", where);
      continue;
    }
    memcpy(section, k, (size_t)(dot - k));
    section[dot - k] = '\0';
    apply(b, section, 0, dot + 1, src->over_vals[i], where, 1);
  }
}

/* Reads one secret; problems are collected so that --check reports every one at once. */
static void resolve_secret(builder *b, sg_secret *s, const char *what) {
  if (s->env) {
    const char *v = getenv(s->env);
    if (!v) {
      problem(b, "environment variable %s for %s not set", s->env, what);
      return;
    }
    if (!*v) {
      problem(b, "environment variable %s for %s is empty", s->env, what);
      return;
    }
    s->value = sg_strdup(v);
    s->len = strlen(v);
  } else if (s->file) {
    char why[256];
    char *text = NULL;
    size_t len = 0;
    struct stat st;
    if (stat(s->file, &st) == 0 && (st.st_mode & 077))
      warning(b, "secret file %s for %s is readable by group or others (mode %03o); "
                 "chmod 600 it", s->file, what, (unsigned)(st.st_mode & 0777));
    if (read_file(s->file, &text, &len, why, sizeof why)) {
      problem(b, "cannot read secret file %s for %s: %s", s->file, what, why);
      return;
    }
    while (len && (text[len - 1] == '\n' || text[len - 1] == '\r')) text[--len] = '\0';
    if (!len) {
      free(text);
      problem(b, "secret file %s for %s is empty", s->file, what);
      return;
    }
    s->value = text;
    s->len = len;
  } else if (s->literal) {
    if (!*s->literal) {
      problem(b, "%s is empty", what);
      return;
    }
    s->value = sg_strdup(s->literal);
    s->len = strlen(s->literal);
  } else {
    return;
  }
  if (!s->value) problem(b, "out of memory reading %s", what);
}

static void wipe_secret(sg_secret *s) {
  if (s->value) {
    sg_wipe(s->value, s->len);
    free(s->value);
    s->value = NULL;
  }
}

/* [storage]: a known backend; postgres needs its connection URI (a secret), which the
 * others do not read. */
static void validate_storage(builder *b, sg_secret *url, const char *backend) {
  int pg = strcmp(backend, "postgres") == 0;
  if (!pg && strcmp(backend, "sqlite") != 0)
    problem(b, "storage.backend: unknown backend \"%s\" (expected \"sqlite\" or \"postgres\")",
            backend);
  if (pg && !url->env && !url->file && !url->literal)
    problem(b, "storage.backend \"postgres\" needs one of storage.url_env, url_file or url");
  if (pg) resolve_secret(b, url, "storage.url");
}

/* [cluster]: the Redis URI (a secret) is read when given; its form is checked, never quoted. */
static void validate_cluster(builder *b, sg_secret *url) {
  if (!url->env && !url->file && !url->literal) return;
  resolve_secret(b, url, "cluster.redis_url");
  if (url->value && strncmp(url->value, "redis://", 8) != 0)
    problem(b, "cluster.redis_url: expected redis://[:password@]host[:port][/db]");
}

static int scope_ok(const char *s) {
  if (!*s) return 0;
  for (; *s; s++)
    if ((unsigned char)*s <= ' ' || *s == '"' || *s == '\\' || *s == ',') return 0;
  return 1;
}

static void check_scopes(builder *b, const sg_strv *v, const char *what) {
  for (size_t i = 0; i < v->n; i++)
    if (!scope_ok(v->v[i])) problem(b, "%s: invalid scope \"%s\"", what, v->v[i]);
}

static void validate_cred(builder *b, sg_cred_conf *e, const char *kind, const char *secret) {
  char what[300], loc[300];
  char where[280];
  if (e->line) snprintf(where, sizeof where, "%s:%d: ", b->file, e->line);
  else snprintf(where, sizeof where, "environment: ");
  if (strcmp(kind, "auth.api_key") == 0) {
    snprintf(what, sizeof what, "auth.api_key.%s", secret);
    snprintf(loc, sizeof loc, "%s[auth.api_key]", where);
  } else {
    snprintf(what, sizeof what, "%s.%s.%s", kind, e->name, secret);
    snprintf(loc, sizeof loc, "%s[%s.%s]", where, kind, e->name);
  }
  if (!e->secret.env && !e->secret.file && !e->secret.literal)
    problem(b, "%s needs one of %s_env, %s_file or %s", loc, secret, secret, secret);
  if (!e->tenant || sg_is_blank(e->tenant)) problem(b, "%s needs a tenant", loc);
  check_scopes(b, &e->scopes, loc);
  if (e->rate && !e->burst) e->burst = e->rate;
  resolve_secret(b, &e->secret, what);
}

/* ------------------------------------------------------------------------------------------ */
/* Credentials side by side: the same secret on two principals, short secrets */

typedef struct cred_ref {
  const sg_cred_conf *e;
  const char *kind; /* "auth.tokens", "auth.hmac_keys", "auth.api_key" */
  size_t order;     /* tokens, then HMAC keys, then the API key, each in file order */
} cred_ref;

static void cred_label(const cred_ref *r, char *out, size_t len) {
  if (strcmp(r->kind, "auth.api_key") == 0) snprintf(out, len, "auth.api_key");
  else snprintf(out, len, "%s.%s", r->kind, r->e->name);
}

/* By secret (length first), then by order. */
static int cred_cmp(const void *pa, const void *pb) {
  const cred_ref *a = pa, *b = pb;
  if (a->e->secret.len != b->e->secret.len) return a->e->secret.len < b->e->secret.len ? -1 : 1;
  int c = memcmp(a->e->secret.value, b->e->secret.value, a->e->secret.len);
  if (c) return c;
  return a->order < b->order ? -1 : a->order > b->order;
}

static int same_secret(const cred_ref *a, const cred_ref *b) {
  return a->e->secret.len == b->e->secret.len &&
         memcmp(a->e->secret.value, b->e->secret.value, a->e->secret.len) == 0;
}

/* y has the secret of x, which comes before it in order. */
static void report_shared(builder *b, const cred_ref *x, const cred_ref *y) {
  char lx[300], ly[300];
  cred_label(x, lx, sizeof lx);
  cred_label(y, ly, sizeof ly);
  if (strcmp(x->kind, "auth.hmac_keys") == 0 || strcmp(y->kind, "auth.hmac_keys") == 0)
    warning(b, "[%s] has the same secret as [%s]: whoever holds one can act as both", ly, lx);
  else if (y->e->line)
    problem(b, "%s:%d: [%s] has the same secret as [%s] (line %d); give each principal its own",
            b->file, y->e->line, ly, lx, x->e->line);
  else
    problem(b, "[%s] has the same secret as [%s]; give each principal its own", ly, lx);
}

#define SECRET_MIN_LEN 16

/* Two principals with one secret would be one credential with two identities (a bearer token
 * finds the first): an error between tokens and the API key, naming both, never the value.  An
 * HMAC key is named in its signature, so a shared HMAC secret is only warned about. */
static void check_credentials(builder *b) {
  sg_conf *c = b->c;
  size_t n = c->auth.ntokens + c->auth.nhmac + 1, k = 0;
  cred_ref *v = calloc(n, sizeof *v);
  if (!v) {
    problem(b, "out of memory checking credentials");
    return;
  }
  for (const sg_cred_conf *e = c->auth.tokens; e; e = e->next, k++)
    v[k] = (cred_ref){e, "auth.tokens", k};
  for (const sg_cred_conf *e = c->auth.hmac_keys; e; e = e->next, k++)
    v[k] = (cred_ref){e, "auth.hmac_keys", k};
  if (c->auth.api_key) {
    v[k] = (cred_ref){c->auth.api_key, "auth.api_key", k};
    k++;
  }
  size_t m = 0; /* those whose secret was read */
  for (size_t i = 0; i < k; i++)
    if (v[i].e->secret.value) v[m++] = v[i];
  char la[300];
  for (size_t i = 0; i < m; i++) {
    if (v[i].e->secret.len >= SECRET_MIN_LEN) continue;
    cred_label(&v[i], la, sizeof la);
    warning(b, "%s: the secret is shorter than %d characters; use a long random one "
               "(openssl rand -hex 32)", la, SECRET_MIN_LEN);
  }
  qsort(v, m, sizeof *v, cred_cmp);
  for (size_t i = 0, j; i < m; i = j) {
    const cred_ref *principal = NULL; /* the group's first bearer token or API key */
    for (j = i; j < m && same_secret(&v[i], &v[j]); j++) {
      int hmac = strcmp(v[j].kind, "auth.hmac_keys") == 0;
      if (j > i) report_shared(b, principal && !hmac ? principal : &v[i], &v[j]);
      if (!hmac && !principal) principal = &v[j];
    }
  }
  free(v);
}

/* [ui] path: a literal prefix that starts and ends with '/', of letters, digits and -._~ */
static void validate_ui(builder *b, const char *p) {
  size_t n = strlen(p);
  int ok = n >= 2 && n <= 64 && p[0] == '/' && p[n - 1] == '/' && !strstr(p, "//");
  for (const char *q = p; *q && ok; q++)
    ok = (*q >= 'a' && *q <= 'z') || (*q >= 'A' && *q <= 'Z') || (*q >= '0' && *q <= '9') ||
         strchr("/-._~", *q);
  if (!ok)
    problem(b, "ui.path: \"%s\" must start and end with '/' and hold only letters, digits, "
               "'-', '.', '_', '~' and single '/' (at most 64 characters)", p);
}

static void validate(builder *b) {
  sg_conf *c = b->c;
  char loc[300];
  struct in6_addr a6;
  if (strcmp(c->server.address, "localhost") != 0 &&
      inet_pton(AF_INET, c->server.address, &a6) != 1 &&
      inet_pton(AF_INET6, c->server.address, &a6) != 1)
    problem(b, "server.address: \"%s\" is not an IPv4 or IPv6 address", c->server.address);
  if (!*c->storage.path) problem(b, "storage.path must not be empty");
  if (strcmp(c->server.watch_method, "auto") != 0 && strcmp(c->server.watch_method, "poll") != 0)
    problem(b, "server.watch_method: unknown method \"%s\" (expected \"auto\" or \"poll\")",
            c->server.watch_method);
  validate_storage(b, &c->storage.url, c->storage.backend);
  validate_cluster(b, &c->cluster.redis_url);
  if (*c->server.metrics_scope && !scope_ok(c->server.metrics_scope))
    problem(b, "server.metrics_scope: invalid scope \"%s\"", c->server.metrics_scope);
  for (sg_cred_conf *e = c->auth.tokens; e; e = e->next) validate_cred(b, e, "auth.tokens", "token");
  for (sg_cred_conf *e = c->auth.hmac_keys; e; e = e->next)
    validate_cred(b, e, "auth.hmac_keys", "secret");
  if (c->auth.api_key) validate_cred(b, c->auth.api_key, "auth.api_key", "key");
  check_credentials(b);
  for (sg_provider_conf *p = c->llm.providers; p; p = p->next) {
    snprintf(loc, sizeof loc, "%s:%d: [llm.providers.%s]", b->file, p->line, p->name);
    if (strcmp(p->kind, "openai") != 0)
      problem(b, "%s: unknown kind \"%s\" (expected \"openai\")", loc, p->kind);
    if (strcmp(p->name, "local") == 0)
      problem(b, "%s: the provider name \"local\" is reserved for the built-in models", loc);
    if (!p->base_url)
      problem(b, "%s needs base_url", loc);
    else if (strncmp(p->base_url, "http://", 7) != 0 && strncmp(p->base_url, "https://", 8) != 0)
      problem(b, "%s: base_url must start with http:// or https://", loc);
    for (size_t i = 0; i < p->models.n; i++) {
      const char *m = p->models.v[i];
      int bad = !*m || strlen(m) > 256;
      for (const char *q = m; *q && !bad; q++) bad = (unsigned char)*q <= 0x20 || *q == 0x7f;
      if (bad)
        problem(b, "%s: models[%zu] must be 1 to 256 characters without spaces or control "
                   "characters", loc, i);
    }
    char what[300];
    snprintf(what, sizeof what, "llm.providers.%s.api_key", p->name);
    resolve_secret(b, &p->api_key, what);
  }
  for (sg_model_conf *m = c->llm.models; m; m = m->next) validate_model(b, m);
  char why[300];
  if (sg_netpolicy_new(c->tools.allowed_hosts.v, c->tools.allowed_hosts.n, &c->tools.netpolicy,
                       why, sizeof why))
    problem(b, "tools.allowed_hosts: %s", why);
  if (!strchr(c->llm.default_model, ':') && !alias_named(c, c->llm.default_model))
    problem(b, "llm.default_model: expected provider:model, got \"%s\"",
            c->llm.default_model);
  if (!strchr(c->llm.embed_model, ':') && !alias_named(c, c->llm.embed_model))
    problem(b, "llm.embed_model: expected provider:model, got \"%s\"",
            c->llm.embed_model);
  validate_ui(b, c->ui.path);
  for (sg_service_conf *s = c->services; s; s = s->next) {
    snprintf(loc, sizeof loc, "%s:%d: [service.%s]", b->file, s->line, s->name);
    const sg_service_def *def = sg_service_find(s->name);
    if (!def && (!s->kind || !s->route))
      problem(b, "%s is not a standard service; a new binding needs both kind and route", loc);
    if (s->kind && !sg_kind_find(s->kind)) problem(b, "%s: unknown kind \"%s\"", loc, s->kind);
    if (s->route && sg_pattern_check(s->route) != 0)
      problem(b, "%s: route \"%s\" is not a valid path pattern", loc, s->route);
    check_scopes(b, &s->scopes, loc);
  }
}

static void set_defaults(sg_conf *c) {
  c->server.address = "127.0.0.1";
  c->server.port = 8080;
  c->server.threads = 0;
  c->server.max_body_bytes = 1048576;
  c->server.connection_timeout_s = 30;
  c->server.max_connections = 10000;
  c->server.drain_timeout_s = 10;
  c->server.metrics_scope = "";
  c->server.header_timeout_s = 10;
  c->server.min_body_rate_bytes_s = 1024;
  c->server.max_connections_per_ip = 256;
  c->server.max_unauthenticated_body_bytes = 16LL << 20;
  c->server.watch_files = 1;
  c->server.watch_method = "auto";
  c->storage.path = "var/soulgw.db";
  c->storage.sync_full = 1;
  c->storage.backend = "sqlite";
  c->storage.pool = 4;
  c->storage.statement_timeout_ms = 5000;
  c->log.level = SOULGW_LOG_INFO;
  c->log.json = 1;
  c->log.access = 1;
  c->auth.hmac_skew_s = 300;
  c->tools.manifests_file = "";
  c->tools.max_bytes_out = 1048576;
  c->collab.max_timeline_entries = 1000;
  c->collab.max_snapshot_bytes = 4 << 20;
  c->collab.timeline_window = 50;
  c->llm.default_model = "local:echo";
  c->llm.embed_model = "local:emb";
  c->mcp.session_idle_s = 3600;
  c->mcp.max_sessions = 10000;
  c->mcp.instructions = "";
  c->cluster.instance = ""; /* "": hostname:port, filled in at start */
  c->ui.enabled = 1;
  c->ui.path = "/ui/";
}

static void conf_free(sg_conf *c) {
  if (!c) return;
  for (sg_cred_conf *e = c->auth.tokens; e; e = e->next) wipe_secret(&e->secret);
  for (sg_cred_conf *e = c->auth.hmac_keys; e; e = e->next) wipe_secret(&e->secret);
  if (c->auth.api_key) wipe_secret(&c->auth.api_key->secret);
  for (sg_provider_conf *p = c->llm.providers; p; p = p->next) wipe_secret(&p->api_key);
  wipe_secret(&c->storage.url);
  wipe_secret(&c->cluster.redis_url);
  sg_netpolicy_release(c->tools.netpolicy);
  sg_arena_release(&c->arena);
  free(c);
}

sg_conf *sg_conf_ref(sg_conf *c) {
  if (c) atomic_fetch_add_explicit(&c->refs, 1, memory_order_relaxed);
  return c;
}

void sg_conf_release(sg_conf *c) {
  if (c && atomic_fetch_sub_explicit(&c->refs, 1, memory_order_acq_rel) == 1) conf_free(c);
}

int sg_conf_build(const sg_conf_source *src, sg_conf **out, char *err, size_t errlen) {
  builder b;
  char *text = NULL;
  size_t len = 0;
  int rc = 0;
  memset(&b, 0, sizeof b);
  sg_buf_init(&b.err, 64 * 1024);
  sg_buf_init(&b.warn, 64 * 1024);
  *out = NULL;
  err[0] = '\0';
  b.c = calloc(1, sizeof *b.c);
  if (!b.c) return SOULGW_ENOMEM;
  atomic_init(&b.c->refs, 1);
  sg_arena_init(&b.c->arena, NULL, 0, 0);
  set_defaults(b.c);
  b.tok_tail = &b.c->auth.tokens;
  b.hmac_tail = &b.c->auth.hmac_keys;
  b.prov_tail = &b.c->llm.providers;
  b.model_tail = &b.c->llm.models;
  b.tenant_tail = &b.c->tenants;
  b.svc_tail = &b.c->services;

  /* 1. the file */
  const char *path = src->path;
  int asked = path != NULL;
  if (!path && !src->text) {
    path = getenv("GATEWAY_CONFIG_FILE");
    asked = path && *path;
    if (!asked) path = "gateway.toml";
  }
  if (src->text) {
    b.file = src->text_name ? src->text_name : "<string>";
    text = sg_strdup(src->text);
    len = text ? strlen(text) : 0;
    if (!text) rc = SOULGW_ENOMEM;
  } else {
    char why[256];
    b.file = path;
    if (!asked && access(path, F_OK) != 0) {
      b.file = "(defaults)"; /* no ./gateway.toml: every key at its default */
    } else if (read_file(path, &text, &len, why, sizeof why) != 0) {
      snprintf(err, errlen, "%s: cannot read configuration: %s", path, why);
      rc = SOULGW_EIO;
    } else {
      struct stat st;
      b.c->file = adup(&b, path);
      if (stat(path, &st) == 0) b.file_mode = (unsigned)st.st_mode;
    }
  }
  if (rc == 0 && text) {
    char msg[1024];
    int line = 0;
    if (sg_ini_parse(text, len, on_ini, &b, msg, sizeof msg, &line) != 0 && b.nerr == 0)
      problem(&b, "%s:%d: %s", b.file, line, msg);
  }
  /* 2. environment, 3. overrides, 4. validation and secrets: only on a clean file, so that the
   * first syntax error is not buried under its consequences. */
  if (rc == 0 && b.nerr == 0) apply_env(&b);
  if (rc == 0 && b.nerr == 0) apply_overrides(&b, src);
  if (rc == 0 && b.nerr == 0) validate(&b);
  if (rc == 0 && b.nerr) rc = SOULGW_ECONFIG;
  if (rc == 0) b.c->source = b.c->file ? b.c->file : adup(&b, b.file);
  if (rc == 0 && (sg_buf_failed(&b.err) || sg_buf_failed(&b.warn))) rc = SOULGW_ENOMEM;
  if (rc == 0 && b.warn.len) {
    /* split warnings into a vector in the arena */
    size_t n = 0;
    for (size_t i = 0; i < b.warn.len; i++) n += b.warn.ptr[i] == '\n';
    b.c->warnings.v = sg_arena_alloc(&b.c->arena, n * sizeof(char *));
    char *p = b.warn.ptr;
    for (size_t i = 0; b.c->warnings.v && i < n; i++) {
      char *nl = strchr(p, '\n');
      b.c->warnings.v[b.c->warnings.n++] = sg_arena_strndup(&b.c->arena, p, (size_t)(nl - p));
      p = nl + 1;
    }
  }
  if (rc == SOULGW_ECONFIG) snprintf(err, errlen, "%s", b.err.ptr ? b.err.ptr : "invalid");
  if (rc == SOULGW_ENOMEM && !err[0]) snprintf(err, errlen, "out of memory");
  free(text);
  sg_buf_free(&b.err);
  sg_buf_free(&b.warn);
  if (rc) {
    conf_free(b.c);
    return rc;
  }
  *out = b.c;
  return 0;
}

int sg_strv_has(const sg_strv *v, const char *s) {
  int star = strcmp(s, "tenant:*") != 0;
  for (size_t i = 0; i < v->n; i++)
    if (strcmp(v->v[i], s) == 0 || (star && strcmp(v->v[i], "*") == 0)) return 1;
  return 0;
}

/* ------------------------------------------------------------------------------------------ */
/* Reading one key back */

static const keydef *fixed_key(const char *key) {
  const char *dot = strrchr(key, '.');
  if (!dot) return NULL;
  char section[64];
  size_t sl = (size_t)(dot - key);
  if (sl >= sizeof section) return NULL;
  memcpy(section, key, sl);
  section[sl] = '\0';
  const char *name;
  const sectiondef *sd = find_section(section, &name);
  if (!sd || sd->where != W_CONF) return NULL;
  for (const keydef *k = sd->keys; k->key; k++)
    if (strcmp(k->key, dot + 1) == 0) return k;
  return NULL;
}

int sg_conf_get_int(const sg_conf *c, const char *key, long long *out) {
  const keydef *k = c ? fixed_key(key) : NULL;
  if (!k || k->type == T_STR || k->type == T_STRV) return SOULGW_ENOTFOUND;
  const char *field = (const char *)c + k->off;
  *out = k->type == T_INT ? *(const long long *)field : *(const int *)field;
  return 0;
}

int sg_conf_get_str(const sg_conf *c, const char *key, const char **out) {
  const keydef *k = c ? fixed_key(key) : NULL;
  if (!k || k->type != T_STR || k->role != R_PLAIN) return SOULGW_ENOTFOUND; /* no secret */
  *out = *(const char *const *)((const char *)c + k->off);
  return 0;
}
