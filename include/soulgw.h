/*
 * soulgw.h -- the public interface of libsoulgw, a gateway for AI-agent backends.
 *
 * A host program links libsoulgw (pkg-config soulgw), loads a configuration, creates a gateway,
 * registers its own routes next to the standard ones and starts it, either on the gateway's own
 * threads or inside the host's event loop.  Every request goes through one pipeline: limits,
 * request id, authentication, tenant, scopes, rate limit, handler; metrics and the access log
 * are kept for host routes exactly as for built-in ones.
 *
 * Conventions, which every function below follows unless its comment says otherwise:
 *
 *   - Functions that can fail return 0 on success or a negative SOULGW_E* code.  The code is
 *     named by soulgw_strerror(); a message with the details is kept on the handle
 *     (soulgw_errmsg(), soulgw_config_errmsg()).  There is no global error state.
 *   - Handles are opaque.  Each *_new() has a *_free(), and *_free(NULL) does nothing.
 *   - Strings passed in are copied unless the comment says the pointer is kept.  Strings
 *     returned as "const char *" belong to the library; strings returned as "char *" are the
 *     caller's, to be released with free().
 *   - The library never exits, aborts, or installs signal handlers; the host owns the process.
 *
 * Codes and enums are only ever appended to, never renumbered.
 */
#ifndef SOULGW_H
#define SOULGW_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/select.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__)
#define SOULGW_API __attribute__((visibility("default")))
#define SOULGW_PRINTF(f, a) __attribute__((format(printf, f, a)))
#else
#define SOULGW_API
#define SOULGW_PRINTF(f, a)
#endif

/* ------------------------------------------------------------------------------------------ */
/* Version                                                                                     */

#define SOULGW_VERSION_MAJOR 0
#define SOULGW_VERSION_MINOR 1
#define SOULGW_VERSION_PATCH 0
#define SOULGW_VERSION "0.1.0"
/* The shared library's soname is libsoulgw.so.SOULGW_ABI; it changes only when a release
 * breaks binary compatibility. */
#define SOULGW_ABI 0

/* The library's version string ("0.1.0") and the git commit it was built from ("unknown" when
 * built outside a git checkout).  Static strings. */
SOULGW_API const char *soulgw_version(void);
SOULGW_API const char *soulgw_commit(void);

/* ------------------------------------------------------------------------------------------ */
/* Error codes                                                                                 */

#define SOULGW_ERRNO_MAP(X)                                                    \
  X(NOMEM, -1, "out of memory")                                                \
  X(INVAL, -2, "invalid argument")                                             \
  X(CONFIG, -3, "invalid configuration")                                       \
  X(IO, -4, "input/output error")                                              \
  X(BIND, -5, "cannot listen on the configured address")                       \
  X(STATE, -6, "operation not valid in the current state")                     \
  X(EXIST, -7, "already exists")                                               \
  X(NOTFOUND, -8, "not found")                                                 \
  X(STORE, -9, "storage failure")                                              \
  X(HTTP, -10, "HTTP server failure")                                          \
  X(CLOSED, -11, "the client connection is gone")                              \
  X(TIMEDOUT, -12, "timed out")

typedef enum {
  SOULGW_OK = 0,
#define SOULGW_ERRNO_ENUM_(name, val, msg) SOULGW_E##name = (val),
  SOULGW_ERRNO_MAP(SOULGW_ERRNO_ENUM_)
#undef SOULGW_ERRNO_ENUM_
} soulgw_errno;

/* A static English description of a SOULGW_E* code ("unknown error" for anything else). */
SOULGW_API const char *soulgw_strerror(int code);

/* The errors a route answers with, one shape on every route (SPEC section 4):
 *   {"code": "AUTH.FORBIDDEN", "message": "...", "correlation_id": "<request id>"}
 * X(enum suffix, code string, HTTP status). */
#define SOULGW_API_ERROR_MAP(X)                                                \
  X(AUTH_UNAUTHENTICATED, "AUTH.UNAUTHENTICATED", 401)                         \
  X(AUTH_FORBIDDEN, "AUTH.FORBIDDEN", 403)                                     \
  X(POLICY_DENY_TOOL, "POLICY.DENY_TOOL", 403)                                 \
  X(SCHEMA_VALIDATION_FAILED, "SCHEMA.VALIDATION_FAILED", 422)                 \
  X(ROUTE_NOT_FOUND, "ROUTE.NOT_FOUND", 404)                                   \
  X(ROUTE_METHOD_NOT_ALLOWED, "ROUTE.METHOD_NOT_ALLOWED", 405)                 \
  X(REQUEST_TOO_LARGE, "REQUEST.TOO_LARGE", 413)                               \
  X(REQUEST_UNSUPPORTED_MEDIA_TYPE, "REQUEST.UNSUPPORTED_MEDIA_TYPE", 415)     \
  X(QUOTA_RATE_LIMITED, "QUOTA.RATE_LIMITED", 429)                             \
  X(STORAGE_NOT_FOUND, "STORAGE.NOT_FOUND", 404)                               \
  X(STORAGE_CONFLICT, "STORAGE.CONFLICT", 409)                                 \
  X(STORAGE_UNAVAILABLE, "STORAGE.UNAVAILABLE", 503)                           \
  X(PROVIDER_UNAVAILABLE, "PROVIDER.UNAVAILABLE", 503)                         \
  X(LLM_TIMEOUT, "LLM.TIMEOUT", 504)                                           \
  X(UNKNOWN_INTERNAL, "UNKNOWN.INTERNAL", 500)                                 \
  X(REQUEST_BAD, "REQUEST.BAD", 400)                                           \
  X(REQUEST_NOT_IMPLEMENTED, "REQUEST.NOT_IMPLEMENTED", 501)                   \
  X(REQUEST_BUSY, "REQUEST.BUSY", 503)                                         \
  X(BUDGET_EXCEEDED, "BUDGET.EXCEEDED", 429)

typedef enum {
#define SOULGW_API_ENUM_(name, code, status) SOULGW_API_##name,
  SOULGW_API_ERROR_MAP(SOULGW_API_ENUM_)
#undef SOULGW_API_ENUM_
  SOULGW_API_ERROR_COUNT_
} soulgw_api_error;

/* The code string ("AUTH.FORBIDDEN") and HTTP status (403) of an API error; NULL and 500 for a
 * value outside the enum. */
SOULGW_API const char *soulgw_api_error_code(soulgw_api_error e);
SOULGW_API int soulgw_api_error_status(soulgw_api_error e);

/* ------------------------------------------------------------------------------------------ */
/* Configuration                                                                               */

typedef struct soulgw_config soulgw_config;

/* A configuration with every key at its default.  NULL when out of memory. */
SOULGW_API soulgw_config *soulgw_config_new(void);
SOULGW_API void soulgw_config_free(soulgw_config *cfg);

/* Overrides one key, as a command-line flag does: the value beats both the file and the
 * GATEWAY__SECTION__KEY environment.  key is "section.key" ("server.port", "auth.tokens.ci.
 * token_env"); value is written as in the file, except that strings need no quotes.  The
 * override is checked when the configuration is next loaded, and is kept for every reload.
 * Returns 0, SOULGW_EINVAL for a malformed key, or SOULGW_ENOMEM. */
SOULGW_API int soulgw_config_set(soulgw_config *cfg, const char *key, const char *value);

/* Loads and validates the configuration: the file, then GATEWAY__SECTION__KEY variables of the
 * environment, then soulgw_config_set() overrides, then secrets.
 *
 * path NULL means $GATEWAY_CONFIG_FILE, else ./gateway.toml; a file that was named (by path or
 * by the variable) must exist, while a missing ./gateway.toml leaves every key at its default.
 * Returns 0 or SOULGW_ECONFIG (soulgw_config_errmsg() names the file and line, or the variable,
 * and what is wrong), SOULGW_EIO when the file cannot be read, SOULGW_ENOMEM.  On failure the
 * configuration keeps whatever it held before. */
SOULGW_API int soulgw_config_load(soulgw_config *cfg, const char *path);

/* As soulgw_config_load(), with the text of a file held in memory; name is used in messages.
 * A gateway created from such a configuration reloads from the same text. */
SOULGW_API int soulgw_config_load_string(soulgw_config *cfg, const char *text, const char *name);

/* The message of the last failed load; "" when there was none.  Valid until the next call on
 * cfg.  When several problems were found (say, three missing secrets), one per line. */
SOULGW_API const char *soulgw_config_errmsg(const soulgw_config *cfg);

/* The file the last successful load read, or NULL when none was read. */
SOULGW_API const char *soulgw_config_file(const soulgw_config *cfg);

/* A human-readable summary of the loaded configuration (listen address, storage, credentials
 * with their tenants and scopes, routes), as `soulgw --check` prints it.  Never contains a
 * secret.  Returns a string to free() or NULL when out of memory. */
SOULGW_API char *soulgw_config_describe(const soulgw_config *cfg);

/* Checks what soulgw_start() will read beyond the configuration itself, without starting
 * anything or opening the database: the [tools] manifests_file (readable, JSON, every
 * ToolManifestEntry valid) and, with [storage] backend = "postgres", that the server answers
 * (one connection, closed at once).  Returns 0, or SOULGW_ECONFIG with the reason (naming the
 * file and the failing field) in err, NUL-terminated; SOULGW_ESTORE with err "storage:
 * postgres (unreachable: REASON)", the reason without secrets; SOULGW_EINVAL when cfg holds no
 * loaded configuration; SOULGW_ENOMEM.  On success with postgres, err holds "storage: postgres
 * (reachable)" (else "").  `soulgw --check` calls it after soulgw_config_describe() and prints
 * err. */
SOULGW_API int soulgw_config_verify(const soulgw_config *cfg, char *err, size_t errlen);

/* One integer or string setting of the loaded configuration, by "section.key" ("server.port",
 * "storage.path").  Return 0 and set *out, or SOULGW_ENOTFOUND.  The string stays valid while
 * cfg is neither loaded again nor freed. */
SOULGW_API int soulgw_config_get_int(const soulgw_config *cfg, const char *key, long long *out);
SOULGW_API int soulgw_config_get_str(const soulgw_config *cfg, const char *key, const char **out);

/* ------------------------------------------------------------------------------------------ */
/* Moving a database to PostgreSQL                                                             */

/* The rows soulgw_storage_migrate() copied, by table. */
typedef struct soulgw_migrate_counts {
  long long sequences, registry_versions, active_versions, idempotency, collabs,
      timeline_entries, records, edges, events;
  long long usage; /* rows of the usage ledger */
} soulgw_migrate_counts;

/* Copies the SQLite database at sqlite_path into the PostgreSQL database of cfg's [storage]
 * (backend "postgres" and its url), as `soulgw migrate` does: every tenant's registry versions
 * and active versions, records, edges, idempotency records, collaborations and their
 * timelines, observe events, the usage ledger and sequences, with their ids, times and order, so that a gateway
 * started on PostgreSQL answers as the SQLite one did and numbers its next records and events
 * after the last ones copied.  The source is read in one transaction (stop the gateway that
 * writes it first: later writes are not copied) after its schema is brought up to date, as a
 * start would; the target's schema is created when missing.  Everything is written in one
 * transaction: on any failure nothing is, so the call can simply be made again.  counts (may be
 * NULL) gets the rows copied.  Returns 0; SOULGW_EINVAL when cfg holds no loaded configuration,
 * its backend is not "postgres", or sqlite_path is not a SQLite database; SOULGW_ENOTFOUND when
 * nothing is at sqlite_path; SOULGW_EEXIST when the target already holds rows (nothing
 * written); SOULGW_ESTORE when a database cannot be opened, read or written; SOULGW_ENOMEM.
 * Except for SOULGW_ENOMEM err gets the reason, NUL-terminated, never the connection URI. */
SOULGW_API int soulgw_storage_migrate(const soulgw_config *cfg, const char *sqlite_path,
                                      soulgw_migrate_counts *counts, char *err, size_t errlen);

/* The usage ledger (SPEC-llm-routing 3) of cfg's [storage] as a table, for `soulgw usage`:
 * tenant (NULL or "*": every tenant) from day `from` to day `to` ("YYYY-MM-DD", UTC; NULL: to
 * today, from to), with the tenant's budget.  It reads what the gateways have written (a
 * running gateway writes its counts at least every second) and works while they run.  0 with
 * *out the text (free() it); SOULGW_EINVAL (a bad date or range, err says which),
 * SOULGW_ESTORE (the store cannot be opened or read), SOULGW_ENOMEM. */
SOULGW_API int soulgw_usage_table(const soulgw_config *cfg, const char *tenant, const char *from,
                                  const char *to, char **out, char *err, size_t errlen);

/* ------------------------------------------------------------------------------------------ */
/* JSON values                                                                                 */

/* A parsed or built JSON value.  Request bodies arrive as one; handlers may answer with one.
 * Values handed to a container (soulgw_json_set, soulgw_json_push) belong to it from then on.
 * Constructors return NULL when out of memory, and set/push accept that NULL and return
 * SOULGW_ENOMEM, so calls can be nested without a check at each step; a handler that must not
 * answer with a partial object checks the codes of set/push. */
typedef struct cJSON soulgw_json;

typedef enum {
  SOULGW_JSON_INVALID = 0,
  SOULGW_JSON_NULL,
  SOULGW_JSON_BOOL,
  SOULGW_JSON_NUMBER,
  SOULGW_JSON_STRING,
  SOULGW_JSON_ARRAY,
  SOULGW_JSON_OBJECT
} soulgw_json_type;

SOULGW_API soulgw_json_type soulgw_json_typeof(const soulgw_json *v);
/* Member of an object by key (NULL when absent or when v is not an object). */
SOULGW_API soulgw_json *soulgw_json_get(const soulgw_json *v, const char *key);
/* The string of a string value, else NULL. */
SOULGW_API const char *soulgw_json_string(const soulgw_json *v);
/* The number of a number value, else def. */
SOULGW_API double soulgw_json_number(const soulgw_json *v, double def);
/* 1 for true, 0 for false, def for anything else. */
SOULGW_API int soulgw_json_bool(const soulgw_json *v, int def);
/* Elements of an array or members of an object; 0 for anything else. */
SOULGW_API size_t soulgw_json_size(const soulgw_json *v);
/* Iteration over an array or object: first child, next sibling, and a member's key. */
SOULGW_API soulgw_json *soulgw_json_first(const soulgw_json *v);
SOULGW_API soulgw_json *soulgw_json_next(const soulgw_json *v);
SOULGW_API const char *soulgw_json_key(const soulgw_json *v);

SOULGW_API soulgw_json *soulgw_json_object(void);
SOULGW_API soulgw_json *soulgw_json_array(void);
SOULGW_API soulgw_json *soulgw_json_new_string(const char *s);
SOULGW_API soulgw_json *soulgw_json_new_number(double n);
SOULGW_API soulgw_json *soulgw_json_new_bool(int b);
SOULGW_API soulgw_json *soulgw_json_null(void);
/* A deep copy, or NULL. */
SOULGW_API soulgw_json *soulgw_json_dup(const soulgw_json *v);
/* Sets obj[key] = val, replacing an earlier member; takes val in every case.
 * Returns 0, SOULGW_EINVAL (obj not an object), SOULGW_ENOMEM (val NULL or no memory). */
SOULGW_API int soulgw_json_set(soulgw_json *obj, const char *key, soulgw_json *val);
/* Appends val to an array; takes val in every case.  Returns as soulgw_json_set(). */
SOULGW_API int soulgw_json_push(soulgw_json *arr, soulgw_json *val);
/* Compact text of v, to free(); NULL when v is NULL or out of memory. */
SOULGW_API char *soulgw_json_print(const soulgw_json *v);
/* Parses text strictly: valid UTF-8, no duplicate keys, nesting at most 512 deep, nothing after
 * the value.  Returns 0 and *out (to soulgw_json_free), or SOULGW_EINVAL with a message naming
 * the problem and its byte offset in err (when err is not NULL). */
SOULGW_API int soulgw_json_parse(const char *text, size_t len, soulgw_json **out, char *err,
                                 size_t errlen);
SOULGW_API void soulgw_json_free(soulgw_json *v);

/* ------------------------------------------------------------------------------------------ */
/* The gateway                                                                                 */

typedef struct soulgw soulgw;
typedef struct soulgw_req soulgw_req;

/* Creates a gateway from a loaded configuration.  The gateway keeps its own reference to what
 * it needs, so cfg may be freed at once; reloads re-read the same file (or text) with the same
 * overrides.  Does no I/O.  NULL when out of memory or when cfg was never loaded. */
SOULGW_API soulgw *soulgw_new(const soulgw_config *cfg);

/* Stops the gateway if it is running (without draining) and releases it. */
SOULGW_API void soulgw_free(soulgw *gw);

/* The detail message of the gateway's last failure; "" when there was none. */
SOULGW_API const char *soulgw_errmsg(const soulgw *gw);

/* A route handler.  It runs on a gateway thread (or the host's loop thread) after the pipeline
 * has authenticated the caller, resolved the tenant and checked the route's scopes.  It answers
 * with one of the soulgw_reply*() calls, or defers with soulgw_req_defer() and answers later
 * from any thread.  Returning a negative code without having answered makes the gateway answer
 * 500 UNKNOWN.INTERNAL and log the code; the return value is otherwise ignored. */
typedef int (*soulgw_handler_fn)(soulgw_req *req, void *userdata);

/* Route flags. */
#define SOULGW_ROUTE_ANONYMOUS 0x1u /* no credential needed (one that is sent is still checked) */
#define SOULGW_ROUTE_TENANT 0x2u    /* a tenant is required: 422 when none can be resolved */

typedef struct soulgw_route_opts {
  const char *name;          /* metrics label and /routes name; default: the pattern */
  const char *kind;          /* shown by /routes; default "custom" */
  const char *description;   /* shown by /routes; default "" */
  const char *const *scopes; /* NULL-terminated; every one is required ("*" held matches all) */
  unsigned flags;            /* SOULGW_ROUTE_* */
} soulgw_route_opts;

/* Registers a route before soulgw_start().  methods is a comma-separated list ("GET",
 * "GET,POST"); a route answering GET also answers HEAD unless a route claims HEAD itself.  pattern is an absolute path whose
 * segments are literal or "{name}" (one non-empty segment, read with soulgw_req_param()).
 * opts may be NULL (no scopes, a credential required, name = pattern).  Everything is copied.
 * Returns 0, SOULGW_EINVAL (bad method or pattern), SOULGW_EEXIST (same method and pattern
 * already registered), SOULGW_ESTATE (gateway already started), SOULGW_ENOMEM. */
SOULGW_API int soulgw_route_add(soulgw *gw, const char *methods, const char *pattern,
                                soulgw_handler_fn fn, void *userdata,
                                const soulgw_route_opts *opts);

/* Start modes. */
#define SOULGW_START_THREADS 0x0u  /* serve on the gateway's own threads (server.threads) */
#define SOULGW_START_EXTERNAL 0x1u /* serve from the host's loop: soulgw_fdset() + soulgw_run() */

/* Opens the store, binds the listening socket and starts serving.  Returns 0, SOULGW_EBIND
 * (address in use or not available), SOULGW_ESTORE, SOULGW_ECONFIG, SOULGW_EHTTP, SOULGW_ESTATE
 * (already started) or SOULGW_ENOMEM; soulgw_errmsg() has the details. */
SOULGW_API int soulgw_start(soulgw *gw, unsigned mode);

/* The bound TCP port (useful with server.port = 0), or 0 when not started. */
SOULGW_API int soulgw_port(const soulgw *gw);

/* External-loop mode.  soulgw_fdset() adds the gateway's sockets to the sets and raises *max_fd;
 * soulgw_timeout() gives the longest the host may wait before calling soulgw_run() again
 * (-1: no limit); soulgw_run() does all work that is ready without blocking.  soulgw_run_wait()
 * is a convenience that waits up to timeout_ms (-1: indefinitely) for activity and runs it.
 * Requests deferred to other threads wake the loop through a descriptor in the set. */
SOULGW_API int soulgw_fdset(soulgw *gw, fd_set *rs, fd_set *ws, fd_set *es, int *max_fd);
SOULGW_API int soulgw_timeout(soulgw *gw, long long *timeout_ms);
SOULGW_API int soulgw_run(soulgw *gw);
SOULGW_API int soulgw_run_wait(soulgw *gw, int timeout_ms);

/* Begins a graceful shutdown: the listening socket is closed, /health answers 503 draining,
 * requests in flight go on.  Returns at once. */
SOULGW_API int soulgw_drain(soulgw *gw);

/* Requests in flight (received and not yet completely answered). */
SOULGW_API int soulgw_inflight(const soulgw *gw);

/* Drains (if soulgw_drain() was not called), waits up to timeout_ms for requests in flight to
 * finish (in external mode it runs the loop itself meanwhile), answers any still deferred with
 * 503, stops serving and closes the store.  A negative timeout_ms means the configured
 * server.drain_timeout_s (as last reloaded).  Returns 0, or SOULGW_ETIMEDOUT when requests had
 * to be cut short (the gateway is stopped either way). */
SOULGW_API int soulgw_stop(soulgw *gw, int timeout_ms);

/* Re-reads the configuration and every secret and swaps them in atomically: requests in flight
 * finish on the old configuration, new requests see the new one.  On failure the old
 * configuration stays in force and the reason is logged and kept in soulgw_errmsg().  Settings
 * that need a restart (address, port, threads, storage) are logged as such and not applied.
 * Safe to call from any thread, including while serving.  Returns 0 or SOULGW_ECONFIG. */
SOULGW_API int soulgw_reload(soulgw *gw);

/* Log levels, in decreasing severity. */
#define SOULGW_LOG_ERROR 0
#define SOULGW_LOG_WARN 1
#define SOULGW_LOG_INFO 2
#define SOULGW_LOG_DEBUG 3

/* Sends the gateway's log lines (already formatted as [log] format says, without the final
 * newline) to fn instead of stderr.  fn is called from any gateway thread, possibly at once from
 * several; it must not call back into the gateway.  NULL restores stderr. */
typedef void (*soulgw_log_fn)(void *userdata, int level, const char *line);
SOULGW_API void soulgw_set_log_fn(soulgw *gw, soulgw_log_fn fn, void *userdata);

/* ------------------------------------------------------------------------------------------ */
/* Native tools and model providers                                                           */

/* A tool implemented in C.  It receives the tool's validated input and sets *output to its
 * result (a JSON value the gateway takes), returning 0; or returns a negative code with a
 * message in err (answered as 503 PROVIDER.UNAVAILABLE "tool <id> failed: <err>").  It runs on a
 * gateway thread and may block that thread; keep it short. */
typedef int (*soulgw_tool_fn)(void *userdata, const soulgw_json *input, soulgw_json **output,
                              char *err, size_t errlen);

/* Registers a C tool under a handler name: a manifest whose "handler" is that name runs fn.
 * Before or after start.  Returns 0, SOULGW_EINVAL (empty name, or one starting with
 * "builtin:" or "http"), SOULGW_EEXIST, SOULGW_ENOMEM. */
SOULGW_API int soulgw_tool_register(soulgw *gw, const char *name, soulgw_tool_fn fn,
                                    void *userdata);

/* A model provider implemented in C, addressed by models "<name>:<model>".
 *
 * complete: request is {"model","messages":[{"role","content"}],"max_tokens","temperature",
 * "top_p","stop","seed","metadata"} (absent fields omitted; the prompt is the last user
 * message).  On success set *out to {"response":"...","usage":{"input_tokens":N,
 * "output_tokens":N},"finish":"stop"} and return 0; else return a negative code with a message
 * in err (answered 503 PROVIDER.UNAVAILABLE; SOULGW_ETIMEDOUT answers 504 LLM.TIMEOUT).
 * embed (may be NULL): texts is an array of strings; set *out to {"vectors":[[...]...],"dim":N,
 * "usage":{"input_tokens":N}}.  Both run on a gateway thread and may block it. */
typedef struct soulgw_provider {
  int (*complete)(void *userdata, const char *model, const soulgw_json *request,
                  soulgw_json **out, char *err, size_t errlen);
  int (*embed)(void *userdata, const char *model, const soulgw_json *texts, int normalize,
               soulgw_json **out, char *err, size_t errlen);
} soulgw_provider;

/* Registers a provider under name: 1 to 64 of [A-Za-z0-9_.-], not "local" (built in).  It
 * takes precedence over a configured [llm.providers.NAME] of the same name.  The struct is
 * copied (complete must not be NULL).  Before start.  For /api/llm/stream the answer of
 * complete is sent as word-sized deltas.  Returns 0, SOULGW_EINVAL, SOULGW_EEXIST,
 * SOULGW_ESTATE, SOULGW_ENOMEM. */
SOULGW_API int soulgw_provider_register(soulgw *gw, const char *name,
                                        const soulgw_provider *provider, void *userdata);

/* ------------------------------------------------------------------------------------------ */
/* Signing requests (SB-HMAC)                                                                 */

/* The headers that sign a request with an HMAC key, one "Name: value" per line, each ending
 * with a newline: x-sb-date (now_s as RFC 3339 UTC), x-sb-content-sha256 (only when body is not
 * NULL), x-sb-nonce (fresh, random) and Authorization: SB-HMAC key_id:signature.  The canonical
 * string is METHOD, PATH (without its query) and the date, then the body hash and the nonce,
 * joined by newlines.  Returns a string to free(), or NULL for a bad argument (an empty key id
 * or one containing ':') or when out of memory. */
SOULGW_API char *soulgw_sign(const char *key_id, const void *secret, size_t secret_len,
                             const char *method, const char *path, const void *body,
                             size_t body_len, long long now_s);

/* Flags of soulgw_sign_at(). */
#define SOULGW_SIGN_NO_NONCE 1u /* send no x-sb-nonce (a signature is then unique only per
                                 * method, path, date and body hash) */

/* Like soulgw_sign(), with the date given as text and sent exactly as given: RFC 3339 UTC
 * ("2025-01-01T00:00:00Z") or an HTTP date, as the gateway accepts them; flags is 0 or
 * SOULGW_SIGN_NO_NONCE.  With both, the output is reproducible: SPEC 5's test vector is
 * soulgw_sign_at("local", "dev-hmac", 8, "POST", "/api/repo/append", NULL, 0,
 * "2025-01-01T00:00:00Z", SOULGW_SIGN_NO_NONCE).  Returns a string to free(), or NULL for a
 * bad argument (including a date the gateway would not accept) or when out of memory. */
SOULGW_API char *soulgw_sign_at(const char *key_id, const void *secret, size_t secret_len,
                                const char *method, const char *path, const void *body,
                                size_t body_len, const char *date, unsigned flags);

/* ------------------------------------------------------------------------------------------ */
/* Inside a handler                                                                            */

/* Request accessors.  Strings stay valid until the request is answered. */
SOULGW_API const char *soulgw_req_method(const soulgw_req *req); /* "GET", "POST", ... */
SOULGW_API const char *soulgw_req_path(const soulgw_req *req);   /* decoded, no query */
SOULGW_API const char *soulgw_req_id(const soulgw_req *req);     /* X-Request-Id */
/* A "{name}" segment of the route's pattern, or NULL. */
SOULGW_API const char *soulgw_req_param(const soulgw_req *req, const char *name);
/* A request header (case-insensitive name) or NULL. */
SOULGW_API const char *soulgw_req_header(const soulgw_req *req, const char *name);
/* A decoded query-string argument or NULL. */
SOULGW_API const char *soulgw_req_query(const soulgw_req *req, const char *name);
/* The raw body (NUL-terminated for convenience; *len without it) or NULL when there was none. */
SOULGW_API const char *soulgw_req_body(const soulgw_req *req, size_t *len);
/* The parsed JSON body, or NULL when the request had no body. */
SOULGW_API const soulgw_json *soulgw_req_json(const soulgw_req *req);
/* The tenant the request acts for, or NULL when none could be resolved. */
SOULGW_API const char *soulgw_req_tenant(const soulgw_req *req);
/* The authenticated principal's subject id (token name, HMAC key id, "api_key"), or NULL. */
SOULGW_API const char *soulgw_req_principal(const soulgw_req *req);
/* 1 when the principal holds scope (or "*"), else 0. */
SOULGW_API int soulgw_req_has_scope(const soulgw_req *req, const char *scope);
/* The gateway serving the request. */
SOULGW_API soulgw *soulgw_req_gateway(const soulgw_req *req);

/* Adds a response header before the answer (copied).  Returns 0, SOULGW_EINVAL for a name or
 * value with control characters, SOULGW_ESTATE after the answer, SOULGW_ENOMEM. */
SOULGW_API int soulgw_reply_header(soulgw_req *req, const char *name, const char *value);

/* Answers with a JSON text (copied; len (size_t)-1 means strlen).  Returns 0, SOULGW_ESTATE
 * when the request was already answered, SOULGW_ENOMEM. */
SOULGW_API int soulgw_reply(soulgw_req *req, int status, const char *json, size_t len);

/* Answers with a JSON value, which the call takes in every case.  A NULL body (a failed
 * builder) answers 500 and returns SOULGW_ENOMEM. */
SOULGW_API int soulgw_reply_json(soulgw_req *req, int status, soulgw_json *body);

/* Answers with the common error shape and the status of code. */
SOULGW_API int soulgw_reply_error(soulgw_req *req, soulgw_api_error code, const char *fmt, ...)
    SOULGW_PRINTF(3, 4);
SOULGW_API int soulgw_reply_verror(soulgw_req *req, soulgw_api_error code, const char *fmt,
                                   va_list ap);

/* Defers the answer: the handler returns, the connection waits without holding a thread, and
 * any thread later answers with soulgw_reply*() or a stream.  The request stays valid (and
 * holds its configuration snapshot) until that answer.  Every deferred request must be answered
 * exactly once; soulgw_stop() answers those left over with 503 after its timeout, after which a
 * late answer returns SOULGW_ECLOSED and only releases the request. */
SOULGW_API int soulgw_req_defer(soulgw_req *req);

/* Streams the answer (for example server-sent events) with chunked transfer encoding.  open
 * sends the status and Content-Type; write queues data (copied) and wakes the connection; close
 * ends the body.  May be called from any thread, before or after soulgw_req_defer().  write
 * returns SOULGW_ECLOSED once the client has gone, so a producer knows to stop; close must be
 * called in every case and releases the request. */
SOULGW_API int soulgw_stream_open(soulgw_req *req, int status, const char *content_type);
SOULGW_API int soulgw_stream_write(soulgw_req *req, const void *data, size_t len);
SOULGW_API int soulgw_stream_close(soulgw_req *req);

#ifdef __cplusplus
}
#endif
#endif /* SOULGW_H */
