/*
 * config.c -- unit tests of gateway.toml handling: lib/conf/ini.c (the TOML subset read through
 * inih), lib/conf/config.c (schema, values, environment and explicit overrides, secrets,
 * validation) and the public soulgw_config_* API.
 *
 * Most cases load a text with soulgw_config_load_string() under the name "t.toml", so that
 * messages read "t.toml:LINE: ...".  Every case that sets an environment variable unsets it
 * before it returns, and main() starts from an environment without GATEWAY_* variables.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "conf/config.h"
#include "base/sg.h"
#include "soulgw.h"
#include "tap.h"
#include "conf/toml_ini.h"

extern char **environ;

#define NAME "t.toml"

/* Loads text into a new handle; returns the code and the handle in *out (to free). */
static int load(soulgw_config **out, const char *text) {
  *out = soulgw_config_new();
  if (!*out) return SOULGW_ENOMEM;
  return soulgw_config_load_string(*out, text, NAME);
}

/* Loads text that must be valid; returns the handle or NULL (with a failed assertion). */
static soulgw_config *load_ok(const char *text, const char *what) {
  soulgw_config *cfg = NULL;
  int rc = load(&cfg, text);
  if (!tap_ok(rc == 0, __FILE__, __LINE__, "%s: loads", what))
    tap_diag("  rc %d: %s", rc, cfg ? soulgw_config_errmsg(cfg) : "(no handle)");
  if (rc) {
    soulgw_config_free(cfg);
    return NULL;
  }
  return cfg;
}

/* Loads text that must be refused with SOULGW_ECONFIG and the exact message want. */
static void load_fails(const char *text, const char *want, const char *what) {
  soulgw_config *cfg = NULL;
  int rc = load(&cfg, text);
  is_int(rc, SOULGW_ECONFIG, "%s: refused", what);
  is_str(soulgw_config_errmsg(cfg), want, "%s: message", what);
  soulgw_config_free(cfg);
}

static long long get_int(const soulgw_config *cfg, const char *key) {
  long long v = -999;
  if (soulgw_config_get_int(cfg, key, &v) != 0) return -12345;
  return v;
}

static const char *get_str(const soulgw_config *cfg, const char *key) {
  const char *v = NULL;
  if (soulgw_config_get_str(cfg, key, &v) != 0) return "(not found)";
  return v;
}

/* A token section that is valid on its own (literal secret). */
#define TOKEN_OK "[auth.tokens.local]\ntenant = \"t1\"\ntoken = \"tok-literal-secret-1\"\n"

/* ------------------------------------------------------------------------------------------ */
/* Defaults and values */

static void unit_config_defaults_on_empty_file(void) {
  soulgw_config *cfg = soulgw_config_new();
  is_str(soulgw_config_errmsg(cfg), "", "errmsg is empty before any load");
  ok(soulgw_config_describe(cfg) == NULL, "describe of a handle never loaded is NULL");
  long long v = 0;
  is_int(soulgw_config_get_int(cfg, "server.port", &v), SOULGW_ENOTFOUND,
         "get_int before any load is SOULGW_ENOTFOUND");
  is_int(soulgw_config_load_string(cfg, "", NAME), 0, "an empty file loads");
  is_str(soulgw_config_errmsg(cfg), "", "no error message after success");
  ok(soulgw_config_file(cfg) == NULL, "a text held in memory is not a file");
  is_str(get_str(cfg, "server.address"), "127.0.0.1", "server.address default");
  is_int(get_int(cfg, "server.port"), 8080, "server.port default");
  is_int(get_int(cfg, "server.threads"), 0, "server.threads default");
  is_int(get_int(cfg, "server.max_body_bytes"), 1048576, "server.max_body_bytes default");
  is_int(get_int(cfg, "server.connection_timeout_s"), 30, "connection_timeout_s default");
  is_int(get_int(cfg, "server.max_connections"), 10000, "max_connections default");
  is_int(get_int(cfg, "server.drain_timeout_s"), 10, "drain_timeout_s default");
  is_str(get_str(cfg, "server.metrics_scope"), "", "metrics_scope default");
  is_int(get_int(cfg, "server.header_timeout_s"), 10, "header_timeout_s default");
  is_int(get_int(cfg, "server.min_body_rate_bytes_s"), 1024, "min_body_rate_bytes_s default");
  is_int(get_int(cfg, "server.max_connections_per_ip"), 256, "max_connections_per_ip default");
  is_int(get_int(cfg, "server.max_unauthenticated_body_bytes"), 16 << 20,
         "max_unauthenticated_body_bytes default");
  is_str(get_str(cfg, "storage.path"), "var/soulgw.db", "storage.path default");
  is_int(get_int(cfg, "storage.synchronous"), 1, "storage.synchronous default full");
  is_int(get_int(cfg, "log.level"), SOULGW_LOG_INFO, "log.level default info");
  is_int(get_int(cfg, "log.format"), 1, "log.format default json");
  is_int(get_int(cfg, "log.access"), 1, "log.access default true");
  is_int(get_int(cfg, "auth.hmac_skew_s"), 300, "auth.hmac_skew_s default");
  is_int(get_int(cfg, "auth.require_body_hash"), 0, "auth.require_body_hash default");
  is_int(get_int(cfg, "auth.require_nonce"), 0, "auth.require_nonce default");
  is_str(get_str(cfg, "tools.manifests_file"), "", "tools.manifests_file default");
  is_str(get_str(cfg, "llm.default_model"), "local:echo", "llm.default_model default");
  is_str(get_str(cfg, "llm.embed_model"), "local:emb", "llm.embed_model default");
  sg_conf *c = sg_config_snapshot(cfg);
  ok(c && c->auth.tokens == NULL && c->auth.hmac_keys == NULL && c->auth.api_key == NULL &&
         c->llm.providers == NULL && c->services == NULL,
     "no credentials, providers or services by default");
  char *d = soulgw_config_describe(cfg);
  has_str(d, "listen:   127.0.0.1:8080 (threads 0, max body 1048576 bytes, timeout 30s, "
             "max 10000 connections, drain 10s)\n", "describe shows the listen defaults");
  has_str(d, "storage:  var/soulgw.db (synchronous full)\n", "describe shows storage");
  has_str(d, "log:      info, json, access on\n", "describe shows log");
  has_str(d, "auth:     0 tokens, 0 hmac keys, api key none, hmac skew 300s\n",
          "describe shows auth");
  has_str(d, "tools:    manifests (none)\n", "describe shows tools");
  has_str(d, "llm:      default local:echo, embed local:emb\n", "describe shows llm");
  free(d);
  soulgw_config_free(cfg);

  cfg = load_ok("# only a comment\n\n   \n\t# another\n", "comments and blank lines only");
  is_int(get_int(cfg, "server.port"), 8080, "a file of comments leaves defaults");
  soulgw_config_free(cfg);
  soulgw_config_free(NULL);
}

static void unit_config_scalar_types(void) {
  soulgw_config *cfg = load_ok(
      "[server]\n"
      "address = \"::1\"\n"
      "port = 9090\n"
      "threads = +4\n"
      "max_body_bytes = 1_048_577\n"
      "max_connections = 1\n"
      "metrics_scope = 'metrics:read'\n"
      "[storage]\n"
      "path = \":memory:\"\n"
      "synchronous = \"normal\"\n"
      "[log]\n"
      "level = \"debug\"\n"
      "format = \"text\"\n"
      "access = false\n"
      "[auth]\n"
      "hmac_skew_s = 1\n"
      "require_body_hash = true\n"
      "require_nonce = true\n"
      "[tools]\n"
      "manifests_file = \"conf/manifests.json\"\n"
      "[llm]\n"
      "default_model = \"openai:gpt\"\n"
      "embed_model = \"openai:emb\"\n",
      "every scalar type");
  if (!cfg) return;
  is_str(get_str(cfg, "server.address"), "::1", "string");
  is_int(get_int(cfg, "server.port"), 9090, "integer");
  is_int(get_int(cfg, "server.threads"), 4, "integer with a + sign");
  is_int(get_int(cfg, "server.max_body_bytes"), 1048577, "integer with _ separators");
  is_int(get_int(cfg, "server.max_connections"), 1, "integer at its minimum");
  is_str(get_str(cfg, "server.metrics_scope"), "metrics:read", "literal string");
  is_str(get_str(cfg, "storage.path"), ":memory:", "string with colons");
  is_int(get_int(cfg, "storage.synchronous"), 0, "enum synchronous normal");
  is_int(get_int(cfg, "log.level"), SOULGW_LOG_DEBUG, "enum level debug");
  is_int(get_int(cfg, "log.format"), 0, "enum format text");
  is_int(get_int(cfg, "log.access"), 0, "bool false");
  is_int(get_int(cfg, "auth.hmac_skew_s"), 1, "integer at its minimum (hmac_skew_s)");
  is_int(get_int(cfg, "auth.require_body_hash"), 1, "bool true");
  is_int(get_int(cfg, "auth.require_nonce"), 1, "bool true (nonce)");
  is_str(get_str(cfg, "tools.manifests_file"), "conf/manifests.json", "tools.manifests_file");
  is_str(get_str(cfg, "llm.default_model"), "openai:gpt", "llm.default_model");
  char *d = soulgw_config_describe(cfg);
  has_str(d, "listen:   ::1:9090 (threads 4, max body 1048577 bytes", "describe shows the values");
  has_str(d, "storage:  :memory: (synchronous normal)\n", "describe shows synchronous normal");
  has_str(d, "log:      debug, text, access off\n", "describe shows the log settings");
  has_str(d, "hmac skew 1s, body hash required, nonce required\n", "describe shows auth flags");
  has_str(d, "metrics:  scope metrics:read\n", "describe shows the metrics scope");
  free(d);
  soulgw_config_free(cfg);

  cfg = load_ok("[log]\nlevel = \"error\"\n[server]\nport = 0\nmax_body_bytes = 4294967296\n",
                "bounds");
  is_int(get_int(cfg, "log.level"), SOULGW_LOG_ERROR, "level error");
  is_int(get_int(cfg, "server.port"), 0, "port 0 (pick a free port)");
  is_int(get_int(cfg, "server.max_body_bytes"), 4294967296LL, "max_body_bytes at 2^32");
  soulgw_config_free(cfg);
}

static void unit_config_get_int_str(void) {
  soulgw_config *cfg = load_ok("[server]\nport = 1234\n" TOKEN_OK, "get");
  if (!cfg) return;
  long long v = -1;
  const char *s = NULL;
  is_int(soulgw_config_get_int(cfg, "server.port", &v), 0, "get_int of an integer key");
  is_int(v, 1234, "get_int value");
  is_int(soulgw_config_get_str(cfg, "server.address", &s), 0, "get_str of a string key");
  is_str(s, "127.0.0.1", "get_str value");
  is_int(soulgw_config_get_int(cfg, "server.address", &v), SOULGW_ENOTFOUND,
         "get_int of a string key is SOULGW_ENOTFOUND");
  is_int(soulgw_config_get_str(cfg, "server.port", &s), SOULGW_ENOTFOUND,
         "get_str of an integer key is SOULGW_ENOTFOUND");
  is_int(soulgw_config_get_int(cfg, "server.nope", &v), SOULGW_ENOTFOUND, "unknown key");
  is_int(soulgw_config_get_int(cfg, "nope.port", &v), SOULGW_ENOTFOUND, "unknown section");
  is_int(soulgw_config_get_int(cfg, "port", &v), SOULGW_ENOTFOUND, "no section");
  is_int(soulgw_config_get_int(cfg, "auth.tokens.local.rate", &v), SOULGW_ENOTFOUND,
         "keys of named entities are not reachable");
  is_int(soulgw_config_get_str(cfg, "log.level", &s), SOULGW_ENOTFOUND,
         "get_str of an enum is SOULGW_ENOTFOUND");
  is_int(v, 1234, "failed lookups leave *out alone");
  soulgw_config_free(cfg);
}

/* ------------------------------------------------------------------------------------------ */
/* The TOML subset */

static void unit_config_arrays(void) {
  soulgw_config *cfg = load_ok("[auth.tokens.local]\n"
                               "tenant = \"t1\"\n"
                               "token = \"tok-literal-secret-1\"\n"
                               "scopes = [\"a:r\", 'b:w', \"c\"]\n",
                               "array on one line");
  if (!cfg) return;
  sg_conf *c = sg_config_snapshot(cfg);
  is_int(c->auth.tokens->scopes.n, 3, "three elements");
  is_str(c->auth.tokens->scopes.v[0], "a:r", "first element");
  is_str(c->auth.tokens->scopes.v[1], "b:w", "literal string element");
  is_str(c->auth.tokens->scopes.v[2], "c", "last element");
  char *d = soulgw_config_describe(cfg);
  has_str(d, "tenant=t1 scopes=[a:r, b:w, c] secret=literal\n", "describe lists the scopes");
  free(d);
  soulgw_config_free(cfg);

  cfg = load_ok("[auth.tokens.local]\n"
                "tenant = \"t1\"\n"
                "scopes = [\"one\", # the first\n"
                "          \"two\",\n"
                "  # a comment line inside the array\n"
                "\n"
                "\t  \"th#ree\" , 'fo]ur',\n"
                "          \"five\"]   # done\n"
                "token = \"tok-literal-secret-1\"\n"
                "rate = 7\n",
                "array continued over indented lines with comments");
  if (!cfg) return;
  c = sg_config_snapshot(cfg);
  is_int(c->auth.tokens->scopes.n, 5, "five elements over five lines");
  is_str(c->auth.tokens->scopes.v[0], "one", "element before a comment");
  is_str(c->auth.tokens->scopes.v[1], "two", "element on a continuation line");
  is_str(c->auth.tokens->scopes.v[2], "th#ree", "# inside quotes on a continuation line is kept");
  is_str(c->auth.tokens->scopes.v[3], "fo]ur", "] inside quotes does not close the array");
  is_str(c->auth.tokens->scopes.v[4], "five", "last element before the closing bracket");
  is_int(c->auth.tokens->rate, 7, "the key after the array is read");
  is_int(c->auth.tokens->burst, 7, "burst defaults to the rate");
  soulgw_config_free(cfg);

  cfg = load_ok("[auth.tokens.local]\ntenant = \"t1\"\ntoken = \"tok-literal-secret-1\"\n"
                "scopes = [ ]\n",
                "empty array");
  if (cfg) is_int(sg_config_snapshot(cfg)->auth.tokens->scopes.n, 0, "no elements");
  soulgw_config_free(cfg);
  cfg = load_ok("[auth.tokens.local]\ntenant = \"t1\"\ntoken = \"tok-literal-secret-1\"\n"
                "scopes = [\"a\",\n  \"b\",\n]\n",
                "trailing comma");
  if (cfg) is_int(sg_config_snapshot(cfg)->auth.tokens->scopes.n, 2, "trailing comma allowed");
  soulgw_config_free(cfg);

  load_fails("[auth.tokens.local]\ntenant = \"t1\"\nscopes = [\"a\",\n  \"b\"\n",
             NAME ":3: unterminated array", "array never closed");
  load_fails("[auth.tokens.local]\nscopes = [\"a\" \"b\"]\n",
             NAME ":2: bad value for auth.tokens.local.scopes: expected ',' or ']' in the array",
             "missing comma");
  load_fails("[auth.tokens.local]\nscopes = [1, 2]\n",
             NAME ":2: bad value for auth.tokens.local.scopes: expected a quoted string in the "
                  "array",
             "array of integers");
  load_fails("[auth.tokens.local]\nscopes = \"a\"\n",
             NAME ":2: bad value for auth.tokens.local.scopes: expected an array of strings",
             "a string where an array is expected");
  load_fails("[auth.tokens.local]\nscopes = [\"a\"] x\n",
             NAME ":2: bad value for auth.tokens.local.scopes: unexpected text after the array",
             "text after the array");
}

static void unit_config_comments_and_strings(void) {
  soulgw_config *cfg = load_ok("# leading comment\n"
                               "[server]   # section comment\n"
                               "port = 9091 # after an integer\n"
                               "address = \"127.0.0.2\"# no blank before the comment\n"
                               "[storage]\n"
                               "path = \"var/a#b.db\"  # '#' inside quotes is kept\n"
                               "[tools]\n"
                               "manifests_file = \"x ; y;z\"\n"
                               "[llm]\n"
                               "default_model = 'lit:#1' # literal string with #\n"
                               "embed_model = \"q\\\"#:x\" # escaped quote before #\n",
                               "comments");
  if (!cfg) return;
  is_int(get_int(cfg, "server.port"), 9091, "comment after an integer");
  is_str(get_str(cfg, "server.address"), "127.0.0.2", "comment right after a string");
  is_str(get_str(cfg, "storage.path"), "var/a#b.db", "# inside a basic string is kept");
  is_str(get_str(cfg, "tools.manifests_file"), "x ; y;z",
         "; inside a string is kept (inih would cut at \" ;\")");
  is_str(get_str(cfg, "llm.default_model"), "lit:#1", "# inside a literal string is kept");
  is_str(get_str(cfg, "llm.embed_model"), "q\"#:x", "an escaped quote does not end the string");
  soulgw_config_free(cfg);

  load_fails("[server]\nport = 1 ; not a TOML comment\n",
             NAME ":2: bad value for server.port: expected an integer",
             "; is not a comment in TOML");
}

static void unit_config_escapes(void) {
  soulgw_config *cfg = load_ok("[storage]\n"
                               "path = \"a\\tb\\nc\\\\d\\\"e\\u00e9\\U0001F600\\rf\\bg\\fh\"\n"
                               "[tools]\n"
                               "manifests_file = 'C:\\dir\\new\\u00e9'\n",
                               "escapes");
  if (!cfg) return;
  is_str(get_str(cfg, "storage.path"),
         "a\tb\nc\\d\"e\xC3\xA9\xF0\x9F\x98\x80\rf\bg\fh", "basic string escapes are decoded");
  is_str(get_str(cfg, "tools.manifests_file"), "C:\\dir\\new\\u00e9",
         "literal strings keep backslashes as they are");
  soulgw_config_free(cfg);

  cfg = load_ok("[storage]\npath = \"\\u20AC\\u0041\"\n", "upper-case hex");
  is_str(cfg ? get_str(cfg, "storage.path") : NULL, "\xE2\x82\xAC" "A", "\\u20AC and \\u0041");
  soulgw_config_free(cfg);

  load_fails("[storage]\npath = \"a\\qb\"\n",
             NAME ":2: bad value for storage.path: unknown escape in string", "unknown escape");
  load_fails("[storage]\npath = \"a\\u00zz\"\n",
             NAME ":2: bad value for storage.path: malformed \\u escape", "bad hex in \\u");
  load_fails("[storage]\npath = \"\\u0000\"\n",
             NAME ":2: bad value for storage.path: invalid code point in \\u escape",
             "\\u0000 refused");
  load_fails("[storage]\npath = \"\\uD800\"\n",
             NAME ":2: bad value for storage.path: invalid code point in \\u escape",
             "surrogate escape refused");
  load_fails("[storage]\npath = \"\\U00110000\"\n",
             NAME ":2: bad value for storage.path: invalid code point in \\u escape",
             "code point above U+10FFFF refused");
  load_fails("[storage]\npath = \"abc\n",
             NAME ":2: bad value for storage.path: unterminated string", "unterminated string");
  load_fails("[storage]\npath = \"a\" \"b\"\n",
             NAME ":2: bad value for storage.path: unexpected text after the string",
             "two strings");
  load_fails("[storage]\npath = var/x.db\n",
             NAME ":2: bad value for storage.path: expected a quoted string",
             "unquoted string in a file");
  load_fails("[storage]\npath = \"a\x01" "b\"\n",
             NAME ":2: bad value for storage.path: control character in string",
             "raw control character");
}

static void unit_config_bad_values(void) {
  load_fails("[nope]\nport = 1\n", NAME ":1: unknown section [nope]", "unknown section");
  load_fails("[server]\nport = 1\n\n[server.extra]\n", NAME ":4: unknown section [server.extra]",
             "unknown subsection");
  load_fails("[server]\nport = 1\nbogus = 2\n", NAME ":3: unknown key 'bogus' in [server]",
             "unknown key");
  load_fails("[auth.tokens.local]\ntoken_envv = \"X\"\n",
             NAME ":2: unknown key 'token_envv' in [auth.tokens.local]",
             "unknown key in a named section");
  load_fails("[server]\nport = abc\n", NAME ":2: bad value for server.port: expected an integer",
             "integer that is a word");
  load_fails("[server]\nport = 80x\n", NAME ":2: bad value for server.port: expected an integer",
             "integer with trailing text");
  load_fails("[server]\nport = \"8080\"\n",
             NAME ":2: bad value for server.port: expected an integer", "quoted integer");
  load_fails("[server]\nport = 1__0\n",
             NAME ":2: bad value for server.port: expected an integer", "double underscore");
  load_fails("[server]\nport = 1.5\n", NAME ":2: bad value for server.port: expected an integer",
             "fraction");
  load_fails("[server]\nport = 65536\n", NAME ":2: server.port must be between 0 and 65535",
             "port just out of range");
  load_fails("[server]\nport = -1\n", NAME ":2: server.port must be between 0 and 65535",
             "negative port");
  load_fails("[server]\nport = 99999999999999999999999\n",
             NAME ":2: server.port must be between 0 and 65535", "port beyond long long");
  load_fails("[server]\nmax_connections = 0\n",
             NAME ":2: server.max_connections must be between 1 and 1000000",
             "max_connections below its minimum");
  load_fails("[log]\nlevel = \"loud\"\n",
             NAME ":2: bad value for log.level: expected \"error\", \"warn\", \"info\" or "
                  "\"debug\"",
             "bad log level");
  load_fails("[log]\nlevel = \"INFO\"\n",
             NAME ":2: bad value for log.level: expected \"error\", \"warn\", \"info\" or "
                  "\"debug\"",
             "log levels are lower case");
  load_fails("[log]\nformat = \"xml\"\n",
             NAME ":2: bad value for log.format: expected \"json\" or \"text\"", "bad log format");
  load_fails("[storage]\nsynchronous = \"off\"\n",
             NAME ":2: bad value for storage.synchronous: expected \"full\" or \"normal\"",
             "bad synchronous");
  load_fails("[log]\naccess = yes\n", NAME ":2: bad value for log.access: expected true or false",
             "bad bool");
  load_fails("[log]\naccess = \"true\"\n",
             NAME ":2: bad value for log.access: expected true or false", "quoted bool");
  load_fails("[log]\naccess = True\n",
             NAME ":2: bad value for log.access: expected true or false", "capitalised bool");
  load_fails("[server]\naddress = \"not-an-ip\"\n",
             "server.address: \"not-an-ip\" is not an IPv4 or IPv6 address", "bad address");
  load_fails("[storage]\npath = \"\"\n", "storage.path must not be empty", "empty storage path");
  load_fails("[server]\nmetrics_scope = \"a b\"\n",
             "server.metrics_scope: invalid scope \"a b\"", "scope with a space");
  load_fails("[llm]\ndefault_model = \"echo\"\n",
             "llm.default_model: expected provider:model, got \"echo\"", "model without provider");
  load_fails("[server]\nport = \n", NAME ":2: missing value", "key without a value");
  load_fails("[server]\njust words\n", NAME ":2: expected key = value", "line without =");
  load_fails("[server]\nbad key = 1\n", NAME ":2: malformed key (use letters, digits, '_' and '-')",
             "key with a space");
  load_fails("[server\nport = 1\n", NAME ":1: malformed section header", "unclosed section");
  load_fails("[a..b]\n", NAME ":1: malformed section header", "empty part in a section name");
  load_fails("[server]\naddress = \"\xFF\"\n", NAME ":2: invalid UTF-8", "invalid UTF-8");
}

static void unit_config_first_error_only(void) {
  /* The parse stops at the first problem of the file; validation collects them all. */
  load_fails("[server]\nport = abc\nbogus = 1\n[nope]\n",
             NAME ":2: bad value for server.port: expected an integer",
             "only the first syntax error is reported");
}

static void unit_config_duplicates(void) {
  load_fails("[server]\nport = 1\naddress = \"127.0.0.1\"\nport = 2\n",
             NAME ":4: duplicate key server.port (first set on line 2)", "duplicate key");
  load_fails("[server]\nport = 1\n[log]\nlevel = \"info\"\n[server]\nthreads = 2\n",
             NAME ":5: duplicate section [server] (first on line 1)", "duplicate section");
  load_fails("[auth.tokens.a]\ntenant = \"t\"\n\n[auth.tokens.a]\n",
             NAME ":4: duplicate section [auth.tokens.a] (first on line 1)",
             "duplicate named section");
  soulgw_config *cfg = load_ok("[auth.tokens.a]\ntenant = \"t\"\ntoken = \"tok-a-secret\"\n"
                               "[auth.tokens.b]\ntenant = \"t\"\ntoken = \"tok-b-secret\"\n",
                               "the same key in two sections is no duplicate");
  if (cfg) is_int(sg_config_snapshot(cfg)->auth.ntokens, 2, "two tokens");
  soulgw_config_free(cfg);
}

static void unit_config_line_length(void) {
  char text[1024];
  char val[400];
  /* "path = \"" + val + "\"" is 9 + strlen(val) characters. */
  memset(val, 'p', 190);
  val[190] = '\0';
  snprintf(text, sizeof text, "[storage]\npath = \"%s\"\n", val);
  soulgw_config *cfg = load_ok(text, "a line of 199 characters");
  if (cfg) is_int(strlen(get_str(cfg, "storage.path")), 190, "the whole value is read");
  soulgw_config_free(cfg);

  memset(val, 'p', 240);
  val[240] = '\0';
  snprintf(text, sizeof text, "[storage]\n\npath = \"%s\"\n", val);
  load_fails(text, NAME ":3: line is longer than 199 characters",
             "a line of 249 characters is an error naming the line");

  memset(val, 'p', 191);
  val[191] = '\0';
  snprintf(text, sizeof text, "[storage]\npath = \"%s\"\n", val);
  load_fails(text, NAME ":2: line is longer than 199 characters",
             "200 characters is one too many");

  memset(val, '-', 300);
  val[300] = '\0';
  snprintf(text, sizeof text, "#%s\n[server]\nport = 7 #%s\n", val, val);
  cfg = load_ok(text, "a long comment-only line and a long trailing comment");
  if (cfg) is_int(get_int(cfg, "server.port"), 7, "the key before a long comment is read");
  soulgw_config_free(cfg);
}

static void unit_config_keys_outside_sections(void) {
  load_fails("port = 8080\n[server]\n", NAME ":1: key port outside of any section",
             "a key before any section");
  load_fails("[[auth.tokens]]\nname = \"x\"\n",
             NAME ":1: arrays of tables are not supported; give each entry a named section "
                  "such as [auth.tokens.NAME]",
             "[[array]] is refused with a helpful message");
}

static void unit_config_crlf_and_bom(void) {
  soulgw_config *cfg = load_ok("\xEF\xBB\xBF[server]\r\nport = 4321\r\n", "BOM and CRLF");
  if (cfg) is_int(get_int(cfg, "server.port"), 4321, "CRLF line ends are accepted");
  soulgw_config_free(cfg);
}

/* ------------------------------------------------------------------------------------------ */
/* Environment and overrides */

static void unit_config_env_overrides(void) {
  setenv("GATEWAY__SERVER__PORT", "0", 1);
  setenv("GATEWAY__STORAGE__PATH", "var/from env.db", 1);
  setenv("GATEWAY__LOG__LEVEL", "debug", 1);
  setenv("GATEWAY__LOG__ACCESS", "false", 1);
  setenv("GATEWAY__SERVER__MAX_BODY_BYTES", "2048", 1);
  setenv("GATEWAY__AUTH__TOKENS__CI_BOT__SCOPES", " a:r, b:w ,,c ", 1);
  setenv("GATEWAY__LLM__DEFAULT_MODEL", "\"quoted:model\"", 1);
  soulgw_config *cfg = load_ok("[server]\nport = 9090\n[storage]\npath = \"var/file.db\"\n"
                               "[auth.tokens.ci_bot]\ntenant = \"t\"\ntoken = \"tok-ci-secret\"\n"
                               "scopes = [\"x\"]\n",
                               "environment overrides");
  if (cfg) {
    is_int(get_int(cfg, "server.port"), 0, "GATEWAY__SERVER__PORT=0 wins over the file");
    is_str(get_str(cfg, "storage.path"), "var/from env.db", "raw strings need no quotes");
    is_int(get_int(cfg, "log.level"), SOULGW_LOG_DEBUG, "enum from the environment");
    is_int(get_int(cfg, "log.access"), 0, "bool from the environment");
    is_int(get_int(cfg, "server.max_body_bytes"), 2048, "key with underscores");
    is_str(get_str(cfg, "llm.default_model"), "quoted:model", "quoted strings are decoded");
    sg_conf *c = sg_config_snapshot(cfg);
    ok(c->auth.tokens && strcmp(c->auth.tokens->name, "ci_bot") == 0,
       "named section from the environment, lower-cased");
    if (c->auth.tokens) {
      is_int(c->auth.tokens->scopes.n, 3, "a comma list is an array (empty items dropped)");
      is_str(c->auth.tokens->scopes.v[0], "a:r", "first element trimmed");
      is_str(c->auth.tokens->scopes.v[1], "b:w", "second element trimmed");
      is_str(c->auth.tokens->scopes.v[2], "c", "third element trimmed");
    }
  }
  soulgw_config_free(cfg);
  unsetenv("GATEWAY__SERVER__PORT");
  unsetenv("GATEWAY__STORAGE__PATH");
  unsetenv("GATEWAY__LOG__LEVEL");
  unsetenv("GATEWAY__LOG__ACCESS");
  unsetenv("GATEWAY__SERVER__MAX_BODY_BYTES");
  unsetenv("GATEWAY__AUTH__TOKENS__CI_BOT__SCOPES");
  unsetenv("GATEWAY__LLM__DEFAULT_MODEL");

  setenv("GATEWAY__AUTH__TOKENS__CI__SCOPES", "[\"p\", \"q\"]", 1);
  cfg = load_ok("[auth.tokens.ci]\ntenant = \"t\"\ntoken = \"tok-ci-secret\"\n",
                "an array in TOML form from the environment");
  if (cfg) is_int(sg_config_snapshot(cfg)->auth.tokens->scopes.n, 2, "two elements");
  soulgw_config_free(cfg);
  unsetenv("GATEWAY__AUTH__TOKENS__CI__SCOPES");
}

static void unit_config_env_errors(void) {
  setenv("GATEWAY__SERVER__BOGUS", "1", 1);
  load_fails("", "environment GATEWAY__SERVER__BOGUS: unknown key 'bogus' in [server]",
             "an unknown key via the environment names the variable");
  unsetenv("GATEWAY__SERVER__BOGUS");

  setenv("GATEWAY__NOPE__PORT", "1", 1);
  load_fails("", "environment GATEWAY__NOPE__PORT: unknown section [nope]",
             "an unknown section via the environment names the variable");
  unsetenv("GATEWAY__NOPE__PORT");

  setenv("GATEWAY__SERVER__PORT", "70000", 1);
  load_fails("", "environment GATEWAY__SERVER__PORT: server.port must be between 0 and 65535",
             "out of range via the environment");
  unsetenv("GATEWAY__SERVER__PORT");

  setenv("GATEWAY__SERVER__PORT", "eighty", 1);
  load_fails("", "environment GATEWAY__SERVER__PORT: bad value for server.port: expected an "
                 "integer",
             "bad integer via the environment");
  unsetenv("GATEWAY__SERVER__PORT");

  setenv("GATEWAY__PORT", "1", 1);
  load_fails("", "environment GATEWAY__PORT: expected GATEWAY__SECTION__KEY",
             "a variable without a section");
  unsetenv("GATEWAY__PORT");

  /* The environment is only applied to a clean file. */
  setenv("GATEWAY__SERVER__BOGUS", "1", 1);
  load_fails("[server]\nport = x\n", NAME ":2: bad value for server.port: expected an integer",
             "a file error is reported alone");
  unsetenv("GATEWAY__SERVER__BOGUS");
}

static void unit_config_set_overrides(void) {
  soulgw_config *cfg = soulgw_config_new();
  is_int(soulgw_config_set(cfg, "server.port", "1234"), 0, "set a key");
  is_int(soulgw_config_set(cfg, "storage.path", "var/override.db"), 0, "set a raw string");
  is_int(soulgw_config_set(cfg, "port", "1"), SOULGW_EINVAL, "a key without a section");
  is_int(soulgw_config_set(cfg, "server.po rt", "1"), SOULGW_EINVAL, "a key with a space");
  is_int(soulgw_config_set(cfg, "server.port", NULL), SOULGW_EINVAL, "a NULL value");
  is_int(soulgw_config_set(NULL, "server.port", "1"), SOULGW_EINVAL, "a NULL handle");
  is_int(soulgw_config_set(cfg, "server.port=1", "1"), SOULGW_EINVAL, "a key with '='");
  static const char *const malformed[] = {".port", "server.", "server..port"};
  for (size_t i = 0; i < SG_ARRAY_LEN(malformed); i++) {
    soulgw_config *scratch = soulgw_config_new();
    is_int(soulgw_config_set(scratch, malformed[i], "1"), SOULGW_EINVAL,
           "a key with an empty part (%s) is refused", malformed[i]);
    soulgw_config_free(scratch);
  }
  setenv("GATEWAY__SERVER__PORT", "0", 1);
  setenv("GATEWAY__STORAGE__PATH", "var/env.db", 1);
  is_int(soulgw_config_load_string(cfg, "[server]\nport = 9090\n", NAME), 0, "loads");
  is_int(get_int(cfg, "server.port"), 1234, "an override beats the environment and the file");
  is_str(get_str(cfg, "storage.path"), "var/override.db", "a string override beats both");
  unsetenv("GATEWAY__SERVER__PORT");
  unsetenv("GATEWAY__STORAGE__PATH");

  is_int(soulgw_config_set(cfg, "server.port", "4321"), 0, "set the same key again");
  is_int(soulgw_config_load_string(cfg, "", NAME), 0, "reloads");
  is_int(get_int(cfg, "server.port"), 4321, "the later value of a key replaces the earlier");
  is_str(get_str(cfg, "storage.path"), "var/override.db", "overrides are kept across loads");

  is_int(soulgw_config_set(cfg, "server.bogus", "1"), 0, "set accepts any well-formed key");
  is_int(soulgw_config_load_string(cfg, "", NAME), SOULGW_ECONFIG, "checked at load");
  is_str(soulgw_config_errmsg(cfg), "override server.bogus: unknown key 'bogus' in [server]",
         "the message names the override");
  is_int(get_int(cfg, "server.port"), 4321, "a failed load keeps the previous configuration");
  soulgw_config_free(cfg);

  cfg = soulgw_config_new();
  soulgw_config_set(cfg, "server.port", "65536");
  is_int(soulgw_config_load_string(cfg, "", NAME), SOULGW_ECONFIG, "override out of range");
  is_str(soulgw_config_errmsg(cfg), "override server.port: server.port must be between 0 and "
                                    "65535",
         "out of range via an override");
  soulgw_config_free(cfg);
}

/* ------------------------------------------------------------------------------------------ */
/* Secrets and credentials */

static void unit_config_missing_secret_env(void) {
  unsetenv("GATEWAY_TOKEN_LOCAL");
  load_fails("[auth.tokens.local]\ntenant = \"tenant-demo\"\ntoken_env = \"GATEWAY_TOKEN_LOCAL\"\n",
             "environment variable GATEWAY_TOKEN_LOCAL for auth.tokens.local.token not set",
             "a missing variable gives exactly the message of the spec");

  unsetenv("GATEWAY_HMAC_LOCAL");
  unsetenv("GATEWAY_API_KEY");
  unsetenv("OPENAI_API_KEY");
  load_fails("[auth.tokens.local]\ntenant = \"tenant-demo\"\ntoken_env = \"GATEWAY_TOKEN_LOCAL\"\n"
             "[auth.hmac_keys.local]\ntenant = \"tenant-demo\"\n"
             "secret_env = \"GATEWAY_HMAC_LOCAL\"\n"
             "[auth.api_key]\ntenant = \"tenant-demo\"\nkey_env = \"GATEWAY_API_KEY\"\n"
             "[llm.providers.openai]\nbase_url = \"https://api.openai.com/v1\"\n"
             "api_key_env = \"OPENAI_API_KEY\"\n",
             "environment variable GATEWAY_TOKEN_LOCAL for auth.tokens.local.token not set\n"
             "environment variable GATEWAY_HMAC_LOCAL for auth.hmac_keys.local.secret not set\n"
             "environment variable GATEWAY_API_KEY for auth.api_key.key not set\n"
             "environment variable OPENAI_API_KEY for llm.providers.openai.api_key not set",
             "every missing secret is listed, one per line");

  setenv("GATEWAY_TOKEN_LOCAL", "", 1);
  load_fails("[auth.tokens.local]\ntenant = \"tenant-demo\"\ntoken_env = \"GATEWAY_TOKEN_LOCAL\"\n",
             "environment variable GATEWAY_TOKEN_LOCAL for auth.tokens.local.token is empty",
             "an empty variable is an error");
  unsetenv("GATEWAY_TOKEN_LOCAL");

  load_fails("[auth.tokens.local]\ntenant = \"tenant-demo\"\ntoken = \"\"\n",
             "auth.tokens.local.token is empty", "an empty literal is an error");
}

static void unit_config_secret_from_env(void) {
  setenv("GATEWAY_TOKEN_LOCAL", "env-token-value-XYZ", 1);
  setenv("GATEWAY_HMAC_LOCAL", "env-hmac-value-XYZ", 1);
  soulgw_config *cfg =
      load_ok("[auth.tokens.local]\ntenant = \"tenant-demo\"\ntoken_env = \"GATEWAY_TOKEN_LOCAL\"\n"
              "scopes = [\"tools:execute\"]\nrate = 5\nburst = 10\n"
              "[auth.hmac_keys.local]\ntenant = \"tenant-demo\"\n"
              "secret_env = \"GATEWAY_HMAC_LOCAL\"\n",
              "secrets from the environment");
  unsetenv("GATEWAY_TOKEN_LOCAL");
  unsetenv("GATEWAY_HMAC_LOCAL");
  if (!cfg) return;
  sg_conf *c = sg_config_snapshot(cfg);
  is_str(c->auth.tokens->secret.value, "env-token-value-XYZ", "the token is read");
  is_int(c->auth.tokens->secret.len, 19, "with its length");
  is_str(c->auth.hmac_keys->secret.value, "env-hmac-value-XYZ", "the hmac secret is read");
  char *d = soulgw_config_describe(cfg);
  has_str(d, "auth:     1 tokens, 1 hmac keys, api key none", "describe counts credentials");
  has_str(d, "tenant=tenant-demo scopes=[tools:execute] secret=env:GATEWAY_TOKEN_LOCAL "
             "rate=5/s burst=10\n",
          "describe names the variable and the rate");
  ok(d && !strstr(d, "env-token-value-XYZ") && !strstr(d, "env-hmac-value-XYZ"),
     "describe never shows a secret read from the environment");
  free(d);
  soulgw_config_free(cfg);
}

static char tmpdir[256];

static const char *tmp_file(const char *name, const char *content, mode_t mode) {
  static char path[512];
  snprintf(path, sizeof path, "%s/%s", tmpdir, name);
  FILE *f = fopen(path, "w");
  if (!f) return NULL;
  fputs(content, f);
  fclose(f);
  chmod(path, mode);
  return path;
}

static void unit_config_token_file(void) {
  char path[512], text[1024], want[1024];
  const char *p = tmp_file("token-644", "file-secret-value\r\n\n", 0644);
  ok(p != NULL, "a secret file was written");
  if (!p) return;
  snprintf(path, sizeof path, "%s", p);
  snprintf(text, sizeof text,
           "[auth.tokens.local]\ntenant = \"tenant-demo\"\ntoken_file = \"%s\"\n", path);
  soulgw_config *cfg = load_ok(text, "a token read from a file of mode 0644");
  if (cfg) {
    sg_conf *c = sg_config_snapshot(cfg);
    is_str(c->auth.tokens->secret.value, "file-secret-value", "trailing newlines are trimmed");
    is_int(c->auth.tokens->secret.len, 17, "the length excludes the newlines");
    is_int(c->warnings.n, 1, "one warning");
    char *d = soulgw_config_describe(cfg);
    snprintf(want, sizeof want,
             "warning:  secret file %s for auth.tokens.local.token is readable by group or "
             "others (mode 644); chmod 600 it\n",
             path);
    has_str(d, want, "describe carries the warning about the mode");
    snprintf(want, sizeof want, "secret=file:%s\n", path);
    has_str(d, want, "describe names the file");
    ok(d && !strstr(d, "file-secret-value"), "describe never shows the file's secret");
    free(d);
  }
  soulgw_config_free(cfg);

  p = tmp_file("token-600", "private-token-0123\n", 0600); /* 16+ characters: no warning */
  snprintf(text, sizeof text,
           "[auth.tokens.local]\ntenant = \"tenant-demo\"\ntoken_file = \"%s\"\n", p);
  cfg = load_ok(text, "a token read from a file of mode 0600");
  if (cfg) {
    is_int(sg_config_snapshot(cfg)->warnings.n, 0, "no warning for mode 0600");
    char *d = soulgw_config_describe(cfg);
    ok(d && !strstr(d, "warning:"), "describe has no warning");
    free(d);
  }
  soulgw_config_free(cfg);

  p = tmp_file("token-empty", "\n", 0600);
  snprintf(path, sizeof path, "%s", p);
  snprintf(text, sizeof text,
           "[auth.hmac_keys.k1]\ntenant = \"tenant-demo\"\nsecret_file = \"%s\"\n", path);
  snprintf(want, sizeof want, "secret file %s for auth.hmac_keys.k1.secret is empty", path);
  load_fails(text, want, "a secret file holding only a newline");

  snprintf(path, sizeof path, "%s/no-such-file", tmpdir);
  snprintf(text, sizeof text,
           "[auth.tokens.local]\ntenant = \"tenant-demo\"\ntoken_file = \"%s\"\n", path);
  snprintf(want, sizeof want,
           "cannot read secret file %s for auth.tokens.local.token: No such file or directory",
           path);
  load_fails(text, want, "a missing secret file");
}

static void unit_config_credentials_incomplete(void) {
  load_fails("[server]\nport = 1\n[auth.tokens.local]\ntoken = \"tok-literal-secret-1\"\n",
             NAME ":3: [auth.tokens.local] needs a tenant", "a token without a tenant");
  load_fails("[auth.tokens.local]\ntenant = \"  \"\ntoken = \"tok-literal-secret-1\"\n",
             NAME ":1: [auth.tokens.local] needs a tenant", "a blank tenant");
  load_fails("[auth.tokens.local]\ntenant = \"t\"\nscopes = [\"a\"]\n",
             NAME ":1: [auth.tokens.local] needs one of token_env, token_file or token",
             "a token without a secret source");
  load_fails("[auth.hmac_keys.k1]\ntenant = \"t\"\n",
             NAME ":1: [auth.hmac_keys.k1] needs one of secret_env, secret_file or secret",
             "an hmac key without a secret source");
  load_fails("\n[auth.api_key]\ntenant = \"t\"\n",
             NAME ":2: [auth.api_key] needs one of key_env, key_file or key",
             "an api key without a secret source");
  load_fails("[auth.tokens.x]\n",
             NAME ":1: [auth.tokens.x] needs one of token_env, token_file or token\n"
             NAME ":1: [auth.tokens.x] needs a tenant",
             "an empty credential section lists both problems");
  load_fails("[auth.tokens.local]\ntenant = \"t\"\ntoken = \"tok-literal-secret-1\"\n"
             "scopes = [\"ok\", \"has space\", \"\"]\n",
             NAME ":1: [auth.tokens.local]: invalid scope \"has space\"\n"
             NAME ":1: [auth.tokens.local]: invalid scope \"\"",
             "invalid scopes are listed");

  /* A credential that exists only in the environment. */
  setenv("GATEWAY__AUTH__TOKENS__ENVONLY__TENANT", "t", 1);
  soulgw_config *cfg = NULL;
  int rc = load(&cfg, "");
  is_int(rc, SOULGW_ECONFIG, "a credential from the environment without a secret is refused");
  has_str(soulgw_config_errmsg(cfg), "[auth.tokens.envonly] needs one of token_env, token_file "
                                     "or token",
          "the message names the credential");
  ok(!strstr(soulgw_config_errmsg(cfg), NAME ":0:"), "it is not placed at line 0 of the file");
  has_str(soulgw_config_errmsg(cfg), "environment: [auth.tokens.envonly]",
          "it is placed in the environment");
  soulgw_config_free(cfg);
  unsetenv("GATEWAY__AUTH__TOKENS__ENVONLY__TENANT");
}

static void unit_config_describe_hides_secrets(void) {
  const char *p = tmp_file("apikey", "apikey-file-secret\n", 0600);
  char text[2048];
  setenv("GATEWAY_HMAC_LOCAL", "hmac-env-secret-777", 1);
  snprintf(text, sizeof text,
           "[auth.tokens.local]\ntenant = \"tenant-demo\"\ntoken = \"tok-literal-secret-1\"\n"
           "scopes = [\"*\"]\n"
           "[auth.hmac_keys.local]\ntenant = \"tenant-demo\"\nsecret_env = \"GATEWAY_HMAC_LOCAL\"\n"
           "[auth.api_key]\ntenant = \"tenant-demo\"\nkey_file = \"%s\"\n"
           "[llm.providers.openai]\nbase_url = \"https://api.openai.com/v1\"\n"
           "api_key = \"sk-provider-literal-999\"\n",
           p ? p : "/nonexistent");
  soulgw_config *cfg = load_ok(text, "every kind of secret");
  unsetenv("GATEWAY_HMAC_LOCAL");
  if (!cfg) return;
  char *d = soulgw_config_describe(cfg);
  ok(d != NULL, "describe returns a string");
  static const char *const secrets[] = {"tok-literal-secret-1", "hmac-env-secret-777",
                                        "apikey-file-secret", "sk-provider-literal-999"};
  for (size_t i = 0; i < SG_ARRAY_LEN(secrets); i++)
    ok(d && !strstr(d, secrets[i]), "describe does not contain secret %zu", i);
  has_str(d, "secret=literal", "a literal secret is described as such");
  has_str(d, "secret=env:GATEWAY_HMAC_LOCAL", "an env secret is described by its variable");
  has_str(d, "auth:     1 tokens, 1 hmac keys, api key configured", "the api key is counted");
  has_str(d, "  provider openai           kind=openai base_url=https://api.openai.com/v1 "
             "timeout=60000ms retries=2 key=literal\n",
          "the provider line with its defaults, key described as literal");
  sg_conf *c = sg_config_snapshot(cfg);
  is_str(c->auth.api_key->secret.value, "apikey-file-secret", "the api key file was read");
  is_str(c->llm.providers->api_key.value, "sk-provider-literal-999", "the provider key is held");
  free(d);
  soulgw_config_free(cfg);

  /* Nor do error messages. */
  load_fails("[auth.tokens.local]\ntoken = \"tok-literal-secret-1\"\n",
             NAME ":1: [auth.tokens.local] needs a tenant", "an error beside a literal secret");
}

/* ------------------------------------------------------------------------------------------ */
/* Services and providers */

static void unit_config_services(void) {
  soulgw_config *cfg =
      load_ok("[service.tools_execute]\nenabled = false\nallow_anonymous = true\n"
              "scopes = [\"tools:run\"]\n"
              "[service.my_exec]\nkind = \"tool_execute\"\nroute = \"/api/v2/{tenant}/exec\"\n"
              "description = \"mine\"\n",
              "a standard service overridden and a new binding");
  if (cfg) {
    char *d = soulgw_config_describe(cfg);
    has_str(d, "service:  tools_execute scopes=[tools:run] enabled=false allow_anonymous=true\n",
            "describe shows the override");
    has_str(d, "service:  my_exec route=/api/v2/{tenant}/exec kind=tool_execute\n",
            "describe shows the new binding");
    free(d);
    sg_conf *c = sg_config_snapshot(cfg);
    ok(c->services && c->services->next && !c->services->next->next, "two services");
    if (c->services) {
      is_int(c->services->enabled, 0, "enabled false");
      is_int(c->services->has_scopes, 1, "scopes given");
    }
    if (c->services && c->services->next) {
      is_int(c->services->next->enabled, -1, "enabled not set is -1");
      is_int(c->services->next->has_scopes, 0, "scopes not given");
    }
  }
  soulgw_config_free(cfg);

  load_fails("[service.nope]\ndescription = \"x\"\n",
             NAME ":1: [service.nope] is not a standard service; a new binding needs both kind "
                  "and route",
             "an unknown service without kind and route");
  load_fails("[service.nope]\nkind = \"tool_execute\"\n",
             NAME ":1: [service.nope] is not a standard service; a new binding needs both kind "
                  "and route",
             "an unknown service without a route");
  load_fails("[service.x]\nkind = \"tool_execute\"\nroute = \"api/x\"\n",
             NAME ":1: [service.x]: route \"api/x\" is not a valid path pattern",
             "a relative route");
  load_fails("[service.x]\nkind = \"tool_execute\"\nroute = \"/api/{}/x\"\n",
             NAME ":1: [service.x]: route \"/api/{}/x\" is not a valid path pattern",
             "an empty parameter");
  load_fails("[service.x]\nkind = \"frobnicate\"\nroute = \"/api/x\"\n",
             NAME ":1: [service.x]: unknown kind \"frobnicate\"", "an unknown kind");
  load_fails("[service.tools_list]\nkind = \"nope\"\nroute = \"/a//b\"\n",
             NAME ":1: [service.tools_list]: unknown kind \"nope\"\n"
             NAME ":1: [service.tools_list]: route \"/a//b\" is not a valid path pattern",
             "both problems of one service are listed");
  load_fails("[service.tools_list]\nenabled = 1\n",
             NAME ":2: bad value for service.tools_list.enabled: expected true or false",
             "enabled must be a bool");
}

static void unit_config_providers(void) {
  soulgw_config *cfg = load_ok("[llm.providers.vllm]\nbase_url = \"http://127.0.0.1:8000/v1\"\n"
                               "timeout_ms = 1500\nretries = 0\n",
                               "a provider without a key");
  if (cfg) {
    sg_conf *c = sg_config_snapshot(cfg);
    is_str(c->llm.providers->kind, "openai", "kind defaults to openai");
    is_int(c->llm.providers->timeout_ms, 1500, "timeout_ms");
    is_int(c->llm.providers->retries, 0, "retries");
    ok(c->llm.providers->api_key.value == NULL, "no key");
    char *d = soulgw_config_describe(cfg);
    has_str(d, "timeout=1500ms retries=0 key=none\n", "describe says key=none");
    free(d);
  }
  soulgw_config_free(cfg);

  load_fails("[llm.providers.x]\nkind = \"anthropic\"\nbase_url = \"https://a\"\n",
             NAME ":1: [llm.providers.x]: unknown kind \"anthropic\" (expected \"openai\")",
             "unknown provider kind");
  load_fails("[llm.providers.x]\nkind = \"openai\"\n", NAME ":1: [llm.providers.x] needs base_url",
             "provider without base_url");
  load_fails("[llm.providers.x]\nbase_url = \"ftp://a\"\n",
             NAME ":1: [llm.providers.x]: base_url must start with http:// or https://",
             "provider with a bad base_url");
  load_fails("[llm.providers.local]\nbase_url = \"http://a\"\n",
             NAME ":1: [llm.providers.local]: the provider name \"local\" is reserved for the "
                  "built-in models",
             "the reserved name local");
  load_fails("[llm.providers.x]\nbase_url = \"http://a\"\nretries = 11\n",
             NAME ":3: llm.providers.x.retries must be between 0 and 10", "too many retries");
  load_fails("[llm.providers.x]\nbase_url = \"http://a\"\ntimeout_ms = 0\n",
             NAME ":3: llm.providers.x.timeout_ms must be between 1 and 3600000",
             "timeout of zero");
}

/* ------------------------------------------------------------------------------------------ */
/* Files */

static void unit_config_load_files(void) {
  soulgw_config *cfg = soulgw_config_new();
  char path[512];
  snprintf(path, sizeof path, "%s/missing.toml", tmpdir);
  is_int(soulgw_config_load(cfg, path), SOULGW_EIO, "a missing named file is SOULGW_EIO");
  char want[600];
  snprintf(want, sizeof want, "%s: cannot read configuration: No such file or directory", path);
  is_str(soulgw_config_errmsg(cfg), want, "the message names the file and the reason");
  ok(soulgw_config_file(cfg) == NULL, "nothing was loaded");

  setenv("GATEWAY_CONFIG_FILE", path, 1);
  is_int(soulgw_config_load(cfg, NULL), SOULGW_EIO,
         "a missing file named by GATEWAY_CONFIG_FILE is SOULGW_EIO");
  unsetenv("GATEWAY_CONFIG_FILE");

  const char *p = tmp_file("gw.toml", "[server]\nport = 7777\n", 0644);
  snprintf(path, sizeof path, "%s", p);
  is_int(soulgw_config_load(cfg, path), 0, "a named file loads");
  is_str(soulgw_config_file(cfg), path, "soulgw_config_file names it");
  is_int(get_int(cfg, "server.port"), 7777, "its values are read");
  char *d = soulgw_config_describe(cfg);
  snprintf(want, sizeof want, "config:   %s\n", path);
  has_str(d, want, "describe names the file");
  free(d);

  p = tmp_file("bad.toml", "[server]\n\nport = x\n", 0644);
  snprintf(path, sizeof path, "%s", p);
  is_int(soulgw_config_load(cfg, path), SOULGW_ECONFIG, "a bad file is SOULGW_ECONFIG");
  snprintf(want, sizeof want, "%s:3: bad value for server.port: expected an integer", path);
  is_str(soulgw_config_errmsg(cfg), want, "the message names the file path and line");
  is_int(get_int(cfg, "server.port"), 7777, "the previous configuration stays");
  snprintf(path, sizeof path, "%s/gw.toml", tmpdir);
  is_str(soulgw_config_file(cfg), path, "and its file");

  setenv("GATEWAY_CONFIG_FILE", path, 1);
  soulgw_config *cfg2 = soulgw_config_new();
  is_int(soulgw_config_load(cfg2, NULL), 0, "GATEWAY_CONFIG_FILE is read when path is NULL");
  is_int(get_int(cfg2, "server.port"), 7777, "from that file");
  soulgw_config_free(cfg2);
  unsetenv("GATEWAY_CONFIG_FILE");
  soulgw_config_free(cfg);
}

static void unit_config_load_null_defaults(void) {
  char cwd[1024], dir[512];
  if (!getcwd(cwd, sizeof cwd)) {
    ok(0, "getcwd: %s", strerror(errno));
    return;
  }
  snprintf(dir, sizeof dir, "%s/emptydir", tmpdir);
  mkdir(dir, 0700);
  if (chdir(dir) != 0) {
    ok(0, "chdir %s: %s", dir, strerror(errno));
    return;
  }
  unsetenv("GATEWAY_CONFIG_FILE");
  soulgw_config *cfg = soulgw_config_new();
  is_int(soulgw_config_load(cfg, NULL), 0,
         "no ./gateway.toml and no GATEWAY_CONFIG_FILE: defaults");
  ok(soulgw_config_file(cfg) == NULL, "no file was read");
  is_int(get_int(cfg, "server.port"), 8080, "the port is the default");
  char *d = soulgw_config_describe(cfg);
  has_str(d, "config:   (defaults)\n", "describe says defaults");
  free(d);

  setenv("GATEWAY_CONFIG_FILE", "", 1);
  is_int(soulgw_config_load(cfg, NULL), 0, "an empty GATEWAY_CONFIG_FILE means not set");
  unsetenv("GATEWAY_CONFIG_FILE");

  FILE *f = fopen("gateway.toml", "w");
  if (f) {
    fputs("[server]\nport = 6543\n", f);
    fclose(f);
  }
  is_int(soulgw_config_load(cfg, NULL), 0, "./gateway.toml is found");
  is_str(soulgw_config_file(cfg), "gateway.toml", "and named");
  is_int(get_int(cfg, "server.port"), 6543, "and read");
  unlink("gateway.toml");
  soulgw_config_free(cfg);
  if (chdir(cwd) != 0) tap_diag("cannot go back to %s", cwd);
  rmdir(dir);
}

/* ------------------------------------------------------------------------------------------ */
/* The inih glue on its own */

typedef struct seen {
  char log[2048];
} seen;

static int record(void *ud, const char *section, int section_line, const char *key,
                  const char *value, int line, char *err, size_t errlen) {
  seen *s = ud;
  size_t n = strlen(s->log);
  (void)err;
  (void)errlen;
  snprintf(s->log + n, sizeof s->log - n, "[%s@%d]%s=%s@%d;", section, section_line,
           key ? key : "-", value ? value : "-", line);
  return 0;
}

static void unit_config_ini_callback(void) {
  seen s = {{0}};
  char err[256] = "";
  int line = -1;
  const char *text = "[a]\nk = 1\nlist = [\"x\",  # c\n   \"y\"]\n\n[b.c]\nz = 'q'\n";
  is_int(sg_ini_parse(text, strlen(text), record, &s, err, sizeof err, &line), 0, "parses");
  is_str(s.log,
         "[a@1]-=-@1;[a@1]k=1@2;[a@1]list=[\"x\", \"y\"]@3;[b.c@6]-=-@6;[b.c@6]z='q'@7;",
         "sections, keys, raw values (arrays joined) and lines");
  is_int(line, 0, "no error line");

  const char *bad = "[a]\nk = 1\nk = 2\n";
  is_int(sg_ini_parse(bad, strlen(bad), record, &s, err, sizeof err, &line), -1, "fails");
  is_str(err, "duplicate key a.k (first set on line 2)", "message");
  is_int(line, 3, "errline is the second occurrence");
}

static void cleanup_env(void) {
  /* Collect first: unsetenv changes environ. */
  char *names[256];
  size_t n = 0;
  for (char **e = environ; e && *e && n < SG_ARRAY_LEN(names); e++) {
    if (strncmp(*e, "GATEWAY_", 8) != 0 && strncmp(*e, "OPENAI_API_KEY=", 15) != 0) continue;
    const char *eq = strchr(*e, '=');
    if (eq) names[n++] = sg_strndup(*e, (size_t)(eq - *e));
  }
  for (size_t i = 0; i < n; i++) {
    if (names[i]) unsetenv(names[i]);
    free(names[i]);
  }
}

static void unit_config_one_secret_source(void) {
  load_fails("[auth.tokens.a]\ntenant = \"t\"\ntoken = \"x\"\ntoken_env = \"Y\"\n",
             NAME ":4: [auth.tokens.a] has more than one secret source; keep one of token_env, "
                  "token_file or token",
             "two secret sources in the file are an error naming the second");
  setenv("GATEWAY__AUTH__TOKENS__A__TOKEN_ENV", "SOULGW_TEST_TOKEN_A", 1);
  setenv("SOULGW_TEST_TOKEN_A", "from-env", 1);
  soulgw_config *cfg = load_ok("[auth.tokens.a]\ntenant = \"t\"\ntoken = \"x\"\n",
                               "the environment may replace the file's source");
  if (cfg) {
    const sg_cred_conf *e = sg_config_snapshot(cfg)->auth.tokens;
    is_str(e ? e->secret.value : NULL, "from-env", "and its secret is used");
  }
  soulgw_config_free(cfg);
  unsetenv("GATEWAY__AUTH__TOKENS__A__TOKEN_ENV");
  unsetenv("SOULGW_TEST_TOKEN_A");
}

/* Issue 7, finding 15: one secret on two principals, short secrets. */
static void security_config_shared_secrets(void) {
  load_fails("[auth.tokens.a]\ntenant = \"t\"\ntoken = \"same-value-0123456789\"\n"
             "[auth.hmac_keys.h]\ntenant = \"t\"\nsecret = \"same-value-0123456789\"\n"
             "[auth.tokens.b]\ntenant = \"t\"\ntoken = \"same-value-0123456789\"\n",
             NAME ":7: [auth.tokens.b] has the same secret as [auth.tokens.a] (line 1); give each "
                  "principal its own",
             "two tokens with an HMAC key between them (sorted together)");
  load_fails("[auth.api_key]\ntenant = \"t\"\nkey = \"same-value-0123456789\"\n"
             "[auth.tokens.a]\ntenant = \"t\"\ntoken = \"same-value-0123456789\"\n",
             NAME ":1: [auth.api_key] has the same secret as [auth.tokens.a] (line 4); give each "
                  "principal its own",
             "the API key and a token");
  soulgw_config *cfg =
      load_ok("[auth.hmac_keys.h1]\ntenant = \"t\"\nsecret = \"same-value-0123456789\"\n"
              "[auth.hmac_keys.h2]\ntenant = \"t\"\nsecret = \"same-value-0123456789\"\n"
              "[auth.tokens.a]\ntenant = \"t\"\ntoken = \"same-value-0123456789\"\n"
              "[auth.tokens.b]\ntenant = \"t\"\ntoken = \"other-value-0123456789\"\n",
              "HMAC keys sharing a secret (with each other and a token)");
  if (cfg) {
    const sg_conf *c = sg_config_snapshot(cfg);
    is_int(c->warnings.n, 2, "two warnings");
    if (c->warnings.n == 2) {
      is_str(c->warnings.v[0],
             "[auth.hmac_keys.h1] has the same secret as [auth.tokens.a]: whoever holds one can "
             "act as both", "the first names the token and the key");
      is_str(c->warnings.v[1],
             "[auth.hmac_keys.h2] has the same secret as [auth.tokens.a]: whoever holds one can "
             "act as both", "the second too");
    }
  }
  soulgw_config_free(cfg);
  cfg = load_ok("[auth.tokens.s]\ntenant = \"t\"\ntoken = \"fifteen-chars15\"\n"
                "[auth.tokens.l]\ntenant = \"t\"\ntoken = \"sixteen-chars-16\"\n",
                "a 15- and a 16-character token");
  if (cfg) {
    const sg_conf *c = sg_config_snapshot(cfg);
    is_int(c->warnings.n, 1, "one warning");
    if (c->warnings.n == 1)
      is_str(c->warnings.v[0],
             "auth.tokens.s: the secret is shorter than 16 characters; use a long random one "
             "(openssl rand -hex 32)", "for the 15-character one");
  }
  soulgw_config_free(cfg);
}

static const tap_test tests[] = {
    TEST(unit_config_one_secret_source),
    TEST(unit_config_defaults_on_empty_file),
    TEST(unit_config_scalar_types),
    TEST(unit_config_get_int_str),
    TEST(unit_config_arrays),
    TEST(unit_config_comments_and_strings),
    TEST(unit_config_escapes),
    TEST(unit_config_bad_values),
    TEST(unit_config_first_error_only),
    TEST(unit_config_duplicates),
    TEST(unit_config_line_length),
    TEST(unit_config_keys_outside_sections),
    TEST(unit_config_crlf_and_bom),
    TEST(unit_config_env_overrides),
    TEST(unit_config_env_errors),
    TEST(unit_config_set_overrides),
    TEST(unit_config_missing_secret_env),
    TEST(unit_config_secret_from_env),
    TEST(unit_config_token_file),
    TEST(unit_config_credentials_incomplete),
    TEST(unit_config_describe_hides_secrets),
    TEST(unit_config_services),
    TEST(unit_config_providers),
    TEST(unit_config_load_files),
    TEST(unit_config_load_null_defaults),
    TEST(unit_config_ini_callback),
    TEST(security_config_shared_secrets),
};

int main(void) {
  cleanup_env();
  const char *base = getenv("TMPDIR");
  snprintf(tmpdir, sizeof tmpdir, "%s/soulgw-unit-config-XXXXXX", base && *base ? base : "/tmp");
  if (tap_want(tests, TAP_COUNT(tests)) && !mkdtemp(tmpdir)) {
    tap_ok(0, __FILE__, __LINE__, "mkdtemp %s: %s", tmpdir, strerror(errno));
    return tap_done();
  }
  tap_run(tests, TAP_COUNT(tests));
  /* Remove what the cases left in the temporary directory. */
  static const char *const files[] = {"token-644", "token-600", "token-empty", "apikey",
                                      "gw.toml",   "bad.toml"};
  char path[600];
  for (size_t i = 0; i < SG_ARRAY_LEN(files); i++) {
    snprintf(path, sizeof path, "%s/%s", tmpdir, files[i]);
    unlink(path);
  }
  rmdir(tmpdir);
  return tap_done();
}
