/*
 * pg_storage.c -- unit tests of [storage] for PostgreSQL (SPEC-cluster.md 1): backend, the
 * connection URI as a secret (url_env, url_file, url: one source, resolved like every secret,
 * never returned by soulgw_config_get_str() nor printed by soulgw_config_describe()), pool and
 * statement_timeout_ms with their defaults and bounds.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "soulgw.h"
#include "tap.h"

#define URI "postgresql://soulgw:Very-Secret-pw-42@db.internal:5432/soulgw"

static int load(soulgw_config **out, const char *text) {
  *out = soulgw_config_new();
  return *out ? soulgw_config_load_string(*out, text, "t.toml") : SOULGW_ENOMEM;
}

static long long get_int(const soulgw_config *cfg, const char *key) {
  long long v = -1;
  return soulgw_config_get_int(cfg, key, &v) == 0 ? v : -12345;
}

static void unit_conf_storage_defaults(void) {
  soulgw_config *cfg = NULL;
  if (!ok(load(&cfg, "") == 0, "an empty file loads")) return;
  const char *b = NULL;
  is_int(soulgw_config_get_str(cfg, "storage.backend", &b), 0, "storage.backend is a setting");
  is_str(b, "sqlite", "sqlite by default");
  is_int(get_int(cfg, "storage.pool"), 4, "pool 4 by default");
  is_int(get_int(cfg, "storage.statement_timeout_ms"), 5000, "statement timeout 5000 ms");
  char *d = soulgw_config_describe(cfg);
  has_str(d, "storage:  var/soulgw.db (synchronous full)", "--check shows the SQLite file");
  free(d);
  soulgw_config_free(cfg);
}

static void unit_conf_storage_postgres(void) {
  setenv("TEST_PG_URL", URI, 1);
  soulgw_config *cfg = NULL;
  int rc = load(&cfg, "[storage]\nbackend = \"postgres\"\nurl_env = \"TEST_PG_URL\"\npool = 8\n"
                      "statement_timeout_ms = 250\n");
  if (!ok(rc == 0, "postgres with url_env loads"))
    tap_diag("  %s", soulgw_config_errmsg(cfg));
  is_int(get_int(cfg, "storage.pool"), 8, "pool");
  is_int(get_int(cfg, "storage.statement_timeout_ms"), 250, "statement timeout");
  const char *v = NULL;
  ok(soulgw_config_get_str(cfg, "storage.url", &v) != 0, "storage.url is not readable as a setting");
  ok(soulgw_config_get_str(cfg, "storage.url_env", &v) != 0, "nor storage.url_env");
  char *d = soulgw_config_describe(cfg);
  has_str(d, "storage:  postgres (url from environment TEST_PG_URL, pool 8, statement timeout 250ms)",
          "--check names where the URI comes from");
  ok(d && !strstr(d, "Very-Secret") && !strstr(d, "db.internal"), "and never the URI");
  free(d);
  soulgw_config_free(cfg);
  /* literal, in the file */
  rc = load(&cfg, "[storage]\nbackend = \"postgres\"\nurl = \"" URI "\"\n");
  ok(rc == 0, "a literal url loads");
  d = soulgw_config_describe(cfg);
  has_str(d, "url literal in the configuration", "--check says it is literal");
  ok(d && !strstr(d, "Very-Secret"), "without showing it");
  free(d);
  soulgw_config_free(cfg);
  /* from a file, with its newline */
  char path[] = "/tmp/soulgw-pg-url-XXXXXX";
  int fd = mkstemp(path);
  if (fd >= 0) {
    if (write(fd, URI "\n", strlen(URI) + 1) < 0) tap_diag("write failed");
    close(fd);
  }
  char text[256];
  snprintf(text, sizeof text, "[storage]\nbackend = \"postgres\"\nurl_file = \"%s\"\n", path);
  ok(load(&cfg, text) == 0, "url_file loads");
  soulgw_config_free(cfg);
  unlink(path);
  unsetenv("TEST_PG_URL");
}

static void refused(const char *text, const char *want, const char *what) {
  soulgw_config *cfg = NULL;
  is_int(load(&cfg, text), SOULGW_ECONFIG, "%s: refused", what);
  const char *msg = soulgw_config_errmsg(cfg);
  has_str(msg, want, "%s: says so", what);
  ok(msg && !strstr(msg, "Very-Secret"), "%s: without the secret", what);
  soulgw_config_free(cfg);
}

static void unit_conf_storage_refused(void) {
  refused("[storage]\nbackend = \"mysql\"\n",
          "storage.backend: unknown backend \"mysql\" (expected \"sqlite\" or \"postgres\")",
          "an unknown backend");
  refused("[storage]\nbackend = \"postgres\"\n",
          "storage.backend \"postgres\" needs one of storage.url_env, url_file or url",
          "postgres without a URI");
  refused("[storage]\nbackend = \"postgres\"\nurl_env = \"TEST_PG_UNSET\"\n",
          "environment variable TEST_PG_UNSET for storage.url not set", "an unset variable");
  refused("[storage]\nbackend = \"postgres\"\nurl = \"" URI "\"\nurl_env = \"X\"\n",
          "has more than one secret source; keep one of url_env, url_file or url",
          "two sources");
  refused("[storage]\npool = 0\n", "storage.pool must be between 1 and 1000", "pool 0");
  refused("[storage]\nstatement_timeout_ms = 0\n",
          "storage.statement_timeout_ms must be between 1 and 3600000", "timeout 0");
}

int main(void) {
  RUN(unit_conf_storage_defaults);
  RUN(unit_conf_storage_postgres);
  RUN(unit_conf_storage_refused);
  return tap_done();
}
