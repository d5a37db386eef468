/*
 * cluster.c -- unit tests of [cluster] (SPEC-cluster.md 1): the Redis URI as a secret
 * (redis_url_env, redis_url_file, redis_url: one source, resolved like every secret, its form
 * checked without quoting it, never returned by soulgw_config_get_str() nor printed by
 * soulgw_config_describe()) and instance with its default.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "soulgw.h"
#include "tap.h"

#define URI "redis://:Very-Secret-rd-42@cache.internal:6380/2"

static int load(soulgw_config **out, const char *text) {
  *out = soulgw_config_new();
  return *out ? soulgw_config_load_string(*out, text, "t.toml") : SOULGW_ENOMEM;
}

static void unit_conf_cluster_defaults(void) {
  soulgw_config *cfg = NULL;
  if (!ok(load(&cfg, "") == 0, "an empty file loads")) return;
  const char *v = NULL;
  is_int(soulgw_config_get_str(cfg, "cluster.instance", &v), 0, "cluster.instance is a setting");
  is_str(v, "", "empty by default (hostname:port at start)");
  char *d = soulgw_config_describe(cfg);
  ok(d && !strstr(d, "cluster:"), "--check shows no cluster line without Redis");
  free(d);
  soulgw_config_free(cfg);
}

static void unit_conf_cluster_redis(void) {
  setenv("TEST_REDIS_URL", URI, 1);
  soulgw_config *cfg = NULL;
  int rc = load(&cfg, "[cluster]\nredis_url_env = \"TEST_REDIS_URL\"\ninstance = \"gw-1\"\n");
  if (!ok(rc == 0, "redis_url_env loads")) tap_diag("  %s", soulgw_config_errmsg(cfg));
  const char *v = NULL;
  ok(soulgw_config_get_str(cfg, "cluster.redis_url", &v) != 0, "the URI is not a setting");
  is_int(soulgw_config_get_str(cfg, "cluster.instance", &v), 0, "the instance is");
  is_str(v, "gw-1", "as written");
  char *d = soulgw_config_describe(cfg);
  has_str(d, "cluster:  redis (url from environment TEST_REDIS_URL), instance gw-1",
          "--check names where the URI comes from");
  ok(d && !strstr(d, "Very-Secret") && !strstr(d, "cache.internal"), "and never the URI");
  free(d);
  soulgw_config_free(cfg);
}

static void refused(const char *text, const char *want, const char *what) {
  soulgw_config *cfg = NULL;
  ok(load(&cfg, text) != 0, "%s: refused", what);
  const char *msg = soulgw_config_errmsg(cfg);
  has_str(msg, want, "%s: says so", what);
  ok(msg && !strstr(msg, "Very-Secret"), "%s: without the secret", what);
  soulgw_config_free(cfg);
}

static void unit_conf_cluster_refused(void) {
  setenv("TEST_REDIS_HTTP", "http://:Very-Secret-rd-42@cache.internal/", 1);
  refused("[cluster]\nredis_url_env = \"TEST_REDIS_UNSET\"\n",
          "environment variable TEST_REDIS_UNSET for cluster.redis_url not set",
          "an unset variable");
  refused("[cluster]\nredis_url_env = \"TEST_REDIS_HTTP\"\n",
          "cluster.redis_url: expected redis://[:password@]host[:port][/db]", "not redis://");
  refused("[cluster]\nredis_url = \"" URI "\"\nredis_url_env = \"X\"\n",
          "has more than one secret source; keep one of redis_url_env, redis_url_file or "
          "redis_url",
          "two sources");
  refused("[cluster]\nredis = \"x\"\n", "unknown key 'redis' in [cluster]", "an unknown key");
}

int main(void) {
  RUN(unit_conf_cluster_defaults);
  RUN(unit_conf_cluster_redis);
  RUN(unit_conf_cluster_refused);
  return tap_done();
}
