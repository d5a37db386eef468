/*
 * cli.c -- the soulgw command as an operator meets it: exit statuses, configuration errors
 * that name file and line, --check, a port in use, reload on SIGHUP, and the log it writes.
 */
#include <cjson/cJSON.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "harness.h"
#include "tap.h"

static char dir[64];

static const char *write_tmp(const char *name, const char *text) {
  static char path[8][256];
  static int k;
  char *p = path[k++ % 8];
  snprintf(p, 256, "%s/%s", dir, name);
  FILE *f = fopen(p, "w");
  if (f) {
    fputs(text, f);
    fclose(f);
  }
  return p;
}

/* Runs soulgw with args; returns the exit status and the output in *out. */
static int soulgw(const char *const *args, const char *const *env, char **out) {
  const char *argv[16] = {harness_soulgw_bin()};
  int i = 1;
  for (; args && args[i - 1] && i < 15; i++) argv[i] = args[i - 1];
  argv[i] = NULL;
  return run_cmd(argv, env, out);
}

static void integration_cli_config_typo(void) {
  const char *cfg = write_tmp("typo.toml", "[server]\nport = 8080\nadress = \"0.0.0.0\"\n");
  char *out = NULL;
  const char *args[] = {"--config", cfg, NULL};
  is_int(soulgw(args, NULL, &out), 78, "a misspelt key: exit status 78");
  has_str(out, "typo.toml:3: unknown key 'adress' in [server]", "the message names file, line and key");
  free(out);
  cfg = write_tmp("dup.toml", "[server]\nport = 1\nport = 2\n");
  const char *args2[] = {"--config", cfg, NULL};
  is_int(soulgw(args2, NULL, &out), 78, "a duplicate key: exit status 78");
  has_str(out, "dup.toml:3: duplicate key server.port (first set on line 2)", "names both lines");
  free(out);
  cfg = write_tmp("bad.toml", "[server]\nport = \"eighty\"\n");
  const char *args3[] = {"--config", cfg, NULL};
  is_int(soulgw(args3, NULL, &out), 78, "a bad value: exit status 78");
  has_str(out, "bad.toml:2: bad value for server.port: expected an integer", "says what was expected");
  free(out);
  cfg = write_tmp("section.toml", "[servre]\nport = 1\n");
  const char *args4[] = {"--config", cfg, NULL};
  is_int(soulgw(args4, NULL, &out), 78, "an unknown section: exit status 78");
  has_str(out, "section.toml:1: unknown section [servre]", "names the section");
  free(out);
}

static void integration_cli_missing_files(void) {
  char *out = NULL;
  const char *args[] = {"--config", "/nonexistent/gateway.toml", NULL};
  is_int(soulgw(args, NULL, &out), 78, "a named config file that does not exist: 78");
  has_str(out, "/nonexistent/gateway.toml: cannot read configuration", "names the file");
  free(out);
  const char *env[] = {"GATEWAY_CONFIG_FILE=/nonexistent/env.toml", NULL};
  is_int(soulgw(NULL, env, &out), 78, "GATEWAY_CONFIG_FILE naming a missing file: 78");
  has_str(out, "/nonexistent/env.toml", "names the file");
  free(out);
  const char *cfg = write_tmp("unreadable.toml", "[server]\n");
  chmod(cfg, 0);
  if (geteuid() != 0) {
    const char *args2[] = {"--config", cfg, NULL};
    is_int(soulgw(args2, NULL, &out), 78, "an unreadable file: 78");
    free(out);
  }
}

static void integration_cli_usage(void) {
  char *out = NULL;
  const char *bad[] = {"--frobnicate", NULL};
  is_int(soulgw(bad, NULL, &out), 64, "an unknown flag: exit status 64");
  has_str(out, "usage: soulgw", "prints the usage");
  free(out);
  const char *port[] = {"--port", "eighty", NULL};
  is_int(soulgw(port, NULL, &out), 64, "--port with a non-number: 64");
  free(out);
  const char *extra[] = {"serve", NULL};
  is_int(soulgw(extra, NULL, &out), 64, "a stray argument: 64");
  free(out);
  const char *help[] = {"--help", NULL};
  is_int(soulgw(help, NULL, &out), 0, "--help: 0");
  has_str(out, "--port-file", "documents the flags");
  free(out);
  const char *ver[] = {"--version", NULL};
  is_int(soulgw(ver, NULL, &out), 0, "--version: 0");
  has_str(out, "soulgw 0.1.0 (commit ", "prints version and commit");
  free(out);
}

static void integration_cli_check(void) {
  const char *cfg = write_tmp("check.toml", HARNESS_DEFAULT_TOML);
  char *out = NULL;
  const char *args[] = {"--config", cfg, "--check", NULL};
  is_int(soulgw(args, NULL, &out), 0, "--check on a good config: 0");
  has_str(out, "token      local", "lists the token by name");
  has_str(out, "tenant=tenant-demo", "with its tenant");
  has_str(out, "config:manage", "and scopes");
  has_str(out, "configuration ok", "and says so");
  ok(out && !strstr(out, "test-token") && !strstr(out, "test-hmac"), "never prints a secret");
  free(out);
  const char *env[] = {"GATEWAY_TOKEN_LOCAL", "GATEWAY_HMAC_LOCAL", NULL}; /* unset both */
  is_int(soulgw(args, env, &out), 78, "--check with the secrets missing: 78");
  has_str(out, "environment variable GATEWAY_TOKEN_LOCAL for auth.tokens.local.token not set",
          "the token's variable, in the exact words");
  has_str(out, "environment variable GATEWAY_HMAC_LOCAL for auth.hmac_keys.local.secret not set",
          "and the HMAC key's, at once");
  free(out);
  const char *env2[] = {"GATEWAY__SERVER__PORT=70000", NULL};
  is_int(soulgw(args, env2, &out), 78, "an environment override out of range: 78");
  has_str(out, "environment GATEWAY__SERVER__PORT: server.port must be between 0 and 65535",
          "names the variable");
  free(out);
}

/* --check reads the tool manifests as start-up would: a bad file is found before a deploy. */
static void integration_cli_check_manifests(void) {
  const char *bad = write_tmp("bad-manifests.json",
                              "[{\"tenant\":\"t\",\"id\":\"echo\",\"version\":\"1\"}]");
  char toml[1024];
  snprintf(toml, sizeof toml, "%s[tools]\nmanifests_file = \"%s\"\n",
           "[auth.tokens.local]\ntenant = \"t\"\ntoken = \"literal-token-123\"\n"
           "scopes = [\"*\"]\n", bad);
  const char *cfg = write_tmp("check-manifests.toml", toml);
  char *out = NULL;
  const char *args[] = {"--config", cfg, "--check", NULL};
  is_int(soulgw(args, NULL, &out), 78, "--check with an invalid manifests file: 78");
  has_str(out, "bad-manifests.json: manifests[0].handler", "names the file and the field");
  ok(out && !strstr(out, "configuration ok"), "and does not say ok");
  free(out);
  snprintf(toml, sizeof toml, "[tools]\nmanifests_file = \"/nonexistent/manifests.json\"\n");
  const char *args2[] = {"--config", write_tmp("check-missing.toml", toml), "--check", NULL};
  is_int(soulgw(args2, NULL, &out), 78, "--check with a missing manifests file: 78");
  has_str(out, "/nonexistent/manifests.json: cannot open the tool manifests", "says which file");
  free(out);
}

static void integration_cli_missing_secret_start(void) {
  const char *cfg = write_tmp("start.toml", HARNESS_DEFAULT_TOML);
  char *out = NULL;
  const char *args[] = {"--config", cfg, NULL};
  const char *env[] = {"GATEWAY_TOKEN_LOCAL", NULL};
  is_int(soulgw(args, env, &out), 78, "start-up without a secret: exit status 78");
  has_str(out, "environment variable GATEWAY_TOKEN_LOCAL for auth.tokens.local.token not set",
          "the runbook's message");
  free(out);
}

static void integration_cli_port_in_use(void) {
  gwproc first;
  if (gw_start(&first, harness_soulgw_bin(), NULL, NULL, NULL) != 0) return;
  char port[16];
  snprintf(port, sizeof port, "%d", first.port);
  const char *cfg = write_tmp("inuse.toml", HARNESS_DEFAULT_TOML);
  char *out = NULL;
  const char *args[] = {"--config", cfg, "--port", port, NULL};
  is_int(soulgw(args, NULL, &out), 69, "a port in use: exit status 69");
  has_str(out, "Address already in use", "says why");
  free(out);
  gw_stop(&first);
}

static void integration_cli_reload(void) {
  gwproc g;
  if (gw_start(&g, harness_soulgw_bin(), NULL, NULL, NULL) != 0) return;
  http_resp r;
  http_get(&g, "/metrics", &r);
  is_int(r.status, 200, "before: /metrics is open");
  resp_free(&r);
  /* a new config that protects /metrics */
  char *text = malloc(strlen(HARNESS_DEFAULT_TOML) + 64);
  sprintf(text, "%s", HARNESS_DEFAULT_TOML);
  char *p = strstr(text, "drain_timeout_s = 5\n");
  memmove(p + 31, p, strlen(p) + 1);
  memcpy(p, "metrics_scope = \"ops:metrics\"\n", 30);
  p[30] = '\n';
  gw_write_config(&g, text);
  gw_signal(&g, SIGHUP);
  gw_wait_log(&g, "configuration reloaded", 1, 10000);
  http_get(&g, "/metrics", &r);
  is_int(r.status, 401, "after SIGHUP: /metrics needs a credential");
  resp_free(&r);
  ok(gw_log_has(&g, "configuration reloaded"), "the reload is logged");
  ok(gw_log_has(&g, "auth stage loaded 1 tokens, 1 hmac keys"), "with the auth stage line");
  /* an invalid config: the old one stays */
  gw_write_config(&g, "[server]\nport = \"x\"\n");
  gw_signal(&g, SIGHUP);
  gw_wait_log(&g, "reload failed", 1, 10000);
  ok(gw_log_has(&g, "reload failed; keeping the running configuration"), "a bad reload is logged");
  ok(gw_log_has(&g, "bad value for server.port"), "with the reason");
  http_get(&g, "/metrics", &r);
  is_int(r.status, 401, "and the previous configuration stays in force");
  resp_free(&r);
  http_get(&g, "/health", &r);
  is_int(r.status, 200, "the gateway keeps serving");
  resp_free(&r);
  gw_write_config(&g, HARNESS_DEFAULT_TOML);
  gw_signal(&g, SIGHUP);
  gw_wait_log(&g, "configuration reloaded", 2, 10000);
  http_get(&g, "/metrics", &r);
  is_int(r.status, 200, "a good reload opens /metrics again");
  has_str(r.body, "soulgw_config_reloads_total{result=\"ok\"} 2", "two good reloads counted");
  has_str(r.body, "soulgw_config_reloads_total{result=\"error\"} 1", "one bad reload counted");
  resp_free(&r);
  free(text);
  is_int(gw_stop(&g), 0, "exit status 0");
}

static void integration_cli_logging(void) {
  gwproc g;
  if (gw_start(&g, harness_soulgw_bin(), NULL, NULL, NULL) != 0) return;
  http_resp r;
  const char *h[] = {"X-Request-Id: log-check-1", "Authorization: Bearer wrong-token", NULL};
  http(&g, "GET", "/health", h, NULL, &r);
  resp_free(&r);
  gw_wait_log(&g, "log-check-1", 1, 5000);
  ok(gw_log_has(&g, "\"msg\":\"listening\""), "a start-up line");
  ok(gw_log_has(&g, "\"msg\":\"access\",\"request_id\":\"log-check-1\",\"method\":\"GET\","
                    "\"path\":\"/health\",\"route\":\"health\",\"status\":200,\"duration_ms\":"),
     "one JSON access line per request with request id, route, status and duration");
  ok(!gw_log_has(&g, "test-token") && !gw_log_has(&g, "test-hmac") &&
         !gw_log_has(&g, "wrong-token"),
     "no secret and no credential in the log");
  is_int(gw_stop(&g), 0, "exit status 0");
  static const char *const text_toml = "[server]\nport = 0\n[log]\nformat = \"text\"\n";
  if (gw_start(&g, harness_soulgw_bin(), text_toml, NULL, NULL) != 0) return;
  http_get(&g, "/version", &r);
  resp_free(&r);
  gw_wait_log(&g, "access request_id=", 1, 5000);
  ok(gw_log_has(&g, "info  access request_id="), "text format: key=value access lines");
  gw_stop(&g);
}

static const tap_test tests[] = {
    TEST(integration_cli_config_typo),   TEST(integration_cli_missing_files),
    TEST(integration_cli_usage),         TEST(integration_cli_check),
    TEST(integration_cli_check_manifests),
    TEST(integration_cli_missing_secret_start), TEST(integration_cli_port_in_use),
    TEST(integration_cli_reload),        TEST(integration_cli_logging),
};

int main(void) {
  snprintf(dir, sizeof dir, "/tmp/soulgw-cli-XXXXXX");
  if (!mkdtemp(dir)) return 1;
  tap_run(tests, TAP_COUNT(tests));
  char cmd[128];
  snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
  if (system(cmd) != 0) tap_diag("could not remove %s", dir);
  return tap_done();
}
