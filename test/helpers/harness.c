/*
 * harness.c -- see harness.h.
 */
#include "harness.h"

#include <arpa/inet.h>
#include <cjson/cJSON.h>
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "tap.h"

extern char **environ;

/* execve() takes char *const[] for historical reasons and does not write through it. */
static char *unconst(const char *s) {
  union {
    const char *c;
    char *m;
  } u = {s};
  return u.m;
}

const char *const HARNESS_DEFAULT_TOML =
    "[server]\n"
    "address = \"127.0.0.1\"\n"
    "port = 0\n"
    "max_body_bytes = 1048576\n"
    "connection_timeout_s = 5\n"
    "drain_timeout_s = 5\n"
    "\n"
    "[storage]\n"
    "synchronous = \"normal\"\n"
    "\n"
    "[log]\n"
    "level = \"info\"\n"
    "\n"
    "[auth.tokens.local]\n"
    "tenant = \"tenant-demo\"\n"
    "token_env = \"GATEWAY_TOKEN_LOCAL\"\n"
    "scopes = [\"tools:execute\", \"collab:execute\", \"llm:invoke\", \"repo:write\",\n"
    "          \"repo:read\", \"graph:read\", \"observe:emit\", \"observe:read\",\n"
    "          \"config:manage\"]\n"
    "\n"
    "[auth.hmac_keys.local]\n"
    "tenant = \"tenant-demo\"\n"
    "secret_env = \"GATEWAY_HMAC_LOCAL\"\n"
    "scopes = [\"repo:write\", \"graph:read\", \"observe:emit\"]\n"
    "\n"
    "[tools]\n"
    "manifests_file = \"conf/manifests.json\"\n";

static const char *abs_bin(const char *env, const char *rel, char *buf, size_t len) {
  const char *b = getenv(env);
  if (b && *b) return b;
  const char *dir = getenv("B");
  char cwd[1024];
  if (!getcwd(cwd, sizeof cwd)) cwd[0] = '\0';
  snprintf(buf, len, "%s/%s/%s", cwd, dir && *dir ? dir : "build/asan", rel);
  return buf;
}

const char *harness_soulgw_bin(void) {
  static char buf[1200];
  return abs_bin("SOULGW_BIN", "soulgw", buf, sizeof buf);
}

const char *harness_testhost_bin(void) {
  static char buf[1200];
  return abs_bin("SOULGW_TESTHOST", "testhost", buf, sizeof buf);
}

static void write_file(const char *path, const char *text) {
  FILE *f = fopen(path, "w");
  if (!f) return;
  fputs(text, f);
  fclose(f);
}

void gw_write_config(gwproc *g, const char *toml) { write_file(g->config, toml); }

static char *read_all(const char *path) {
  FILE *f = fopen(path, "r");
  if (!f) return NULL;
  size_t cap = 4096, len = 0;
  char *buf = malloc(cap);
  size_t n;
  while (buf && (n = fread(buf + len, 1, cap - len - 1, f)) > 0) {
    len += n;
    if (cap - len < 1024) buf = realloc(buf, cap *= 2);
  }
  fclose(f);
  if (buf) buf[len] = '\0';
  return buf;
}

void gw_diag_log(gwproc *g) {
  char *s = read_all(g->errlog);
  if (!s) return;
  /* without the access lines, which a test's polling multiplies */
  size_t len = 0;
  for (char *line = s, *end; *line; line = end) {
    end = strchr(line, '\n');
    end = end ? end + 1 : line + strlen(line);
    size_t n = (size_t)(end - line);
    if (!memmem(line, n, "\"msg\":\"access\"", 14)) memmove(s + len, line, n), len += n;
  }
  s[len] = '\0';
  tap_diag("the gateway's log (access lines left out) ends:\n%s", s + (len > 3000 ? len - 3000 : 0));
  free(s);
}

int gw_log_has(gwproc *g, const char *text) {
  char *s = read_all(g->errlog);
  int has = s && strstr(s, text) != NULL;
  free(s);
  return has;
}

int gw_log_count(gwproc *g, const char *text) {
  char *s = read_all(g->errlog);
  int n = 0;
  for (const char *p = s; p && (p = strstr(p, text)); p += strlen(text)) n++;
  free(s);
  return n;
}

static void sleep_ms(int ms);

int gw_wait_log(gwproc *g, const char *text, int n, int timeout_ms) {
  for (int waited = 0;; waited += 20) {
    if (gw_log_count(g, text) >= n) return 1;
    if (waited >= timeout_ms) return 0;
    sleep_ms(20);
  }
}

int gw_wait_inflight(gwproc *g, int n, int timeout_ms) {
  for (int waited = 0;; waited += 20) {
    http_resp r;
    if (http(g, "GET", "/metrics?format=json", NULL, NULL, &r) == 0) {
      const char *p = r.body ? strstr(r.body, "\"in_flight\":") : NULL;
      int got = p ? atoi(p + 12) : 0;
      resp_free(&r);
      if (got >= n) return 1;
    } else {
      resp_free(&r);
    }
    if (waited >= timeout_ms) return 0;
    sleep_ms(20);
  }
}

static void sleep_ms(int ms) {
  struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
  nanosleep(&ts, NULL);
}

/* Builds the child's environment: ours, the defaults for the test secrets, then env. */
static char **child_env(const char *const *env) {
  size_t n = 0, k = 0;
  while (environ[n]) n++;
  size_t m = 0;
  while (env && env[m]) m++;
  char **out = calloc(n + m + 4, sizeof *out);
  for (size_t i = 0; i < n; i++) out[k++] = environ[i];
  out[k++] = unconst("GATEWAY_TOKEN_LOCAL=test-token");
  out[k++] = unconst("GATEWAY_HMAC_LOCAL=test-hmac");
  /* tests rewrite configurations and send SIGHUP, counting reloads: no reloads of their own
   * (test/integration/watch.c unsets this to test them) */
  out[k++] = unconst("GATEWAY__SERVER__WATCH_FILES=false");
  /* "NAME=value" sets, a bare "NAME" unsets */
  for (size_t i = 0; i < m; i++) {
    const char *eq = strchr(env[i], '=');
    size_t nl = eq ? (size_t)(eq - env[i]) : strlen(env[i]);
    for (size_t j = 0; j < k; j++)
      if (strncmp(out[j], env[i], nl) == 0 && out[j][nl] == '=') out[j] = unconst("SOULGW_UNSET_=1");
    if (eq) out[k++] = unconst(env[i]);
  }
  out[k] = NULL;
  return out;
}

static int spawn(gwproc *g, const char *const *env, const char *const *extra_args) {
  char portfile[320], db[320];
  snprintf(portfile, sizeof portfile, "%s/port", g->dir);
  snprintf(db, sizeof db, "%s/test.db", g->dir);
  unlink(portfile);
  char *argv[32];
  int a = 0;
  argv[a++] = unconst(g->bin);
  argv[a++] = unconst("--config");
  argv[a++] = g->config;
  argv[a++] = unconst("--port-file");
  argv[a++] = portfile;
  argv[a++] = unconst("--db");
  argv[a++] = db;
  for (int i = 0; extra_args && extra_args[i] && a < 30; i++) argv[a++] = unconst(extra_args[i]);
  argv[a] = NULL;
  char **envp = child_env(env);
  pid_t pid = fork();
  if (pid == 0) {
    int fd = open(g->errlog, O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (fd >= 0) dup2(fd, 2);
    int nul = open("/dev/null", O_RDWR);
    if (nul >= 0) {
      dup2(nul, 0);
      dup2(nul, 1);
    }
    execve(g->bin, argv, envp);
    _exit(127);
  }
  free(envp);
  g->pid = pid;
  g->port = 0;
  for (int i = 0; i < 400; i++) { /* 20 s under sanitizers on a loaded machine */
    FILE *f = fopen(portfile, "r");
    if (f) {
      int p = 0;
      if (fscanf(f, "%d", &p) == 1) g->port = p;
      fclose(f);
      if (g->port) break;
    }
    int st;
    if (waitpid(pid, &st, WNOHANG) == pid) {
      g->pid = 0;
      char *log = read_all(g->errlog);
      tap_diag("gateway exited during start-up (status %d): %.2000s",
               WIFEXITED(st) ? WEXITSTATUS(st) : -1, log ? log : "");
      free(log);
      return -1;
    }
    sleep_ms(50);
  }
  if (!g->port) {
    tap_diag("gateway did not write its port file");
    return -1;
  }
  return 0;
}

int gw_start(gwproc *g, const char *bin, const char *toml, const char *const *env,
             const char *const *extra_args) {
  int keep = g->keep_db;
  memset(g, 0, sizeof *g);
  g->keep_db = keep;
  g->bin = bin;
  snprintf(g->dir, sizeof g->dir, "/tmp/soulgw-test-XXXXXX");
  if (!mkdtemp(g->dir)) {
    tap_diag("mkdtemp: %s", strerror(errno));
    return -1;
  }
  snprintf(g->config, sizeof g->config, "%s/gateway.toml", g->dir);
  snprintf(g->errlog, sizeof g->errlog, "%s/stderr.log", g->dir);
  write_file(g->config, toml ? toml : HARNESS_DEFAULT_TOML);
  return spawn(g, env, extra_args);
}

int gw_restart(gwproc *g, const char *const *env) { return spawn(g, env, NULL); }

void gw_signal(gwproc *g, int sig) {
  if (g->pid > 0) kill(g->pid, sig);
}

static int sanitizer_report(const char *log) {
  return log && (strstr(log, "ERROR: AddressSanitizer") || strstr(log, "ERROR: LeakSanitizer") ||
                 strstr(log, "runtime error:") || strstr(log, "SUMMARY: UndefinedBehaviorSanitizer"));
}

static void rm_rf(const char *dir) {
  const char *argv[] = {"rm", "-rf", dir, NULL};
  run_cmd(argv, NULL, NULL);
}

int gw_stop(gwproc *g) {
  int status = -1;
  if (g->pid > 0) {
    kill(g->pid, SIGTERM);
    for (int i = 0; i < 400; i++) {
      int st;
      if (waitpid(g->pid, &st, WNOHANG) == g->pid) {
        status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
        break;
      }
      sleep_ms(50);
    }
    if (status < 0) {
      kill(g->pid, SIGKILL);
      waitpid(g->pid, NULL, 0);
      tap_diag("gateway did not stop within 20 s");
    }
    g->pid = 0;
  }
  char *log = read_all(g->errlog);
  int san = sanitizer_report(log);
  ok(!san, "no sanitizer report in the gateway's stderr");
  if (san) tap_diag("%.4000s", log);
  /* an abnormal exit says why in its last lines (libmicrohttpd's fatal errors, say) */
  if (!san && status != 0 && log) {
    /* each line as a diagnostic of its own, indented: test/run shows those in its summary,
     * so that a rare abort in CI says why */
    size_t n = strlen(log);
    tap_diag("  gateway exited with status %d; its stderr ends:", status);
    for (char *line = log + (n > 2000 ? n - 2000 : 0), *next; line && *line; line = next) {
      next = strchr(line, '\n');
      if (next) *next++ = '\0';
      tap_diag("    %s", line);
    }
  }
  free(log);
  if (!g->keep_db && g->dir[0]) rm_rf(g->dir);
  return status;
}

int run_cmd(const char *const *argv, const char *const *env, char **out) {
  int pipefd[2];
  if (pipe(pipefd) != 0) return -1;
  char **envp = child_env(env);
  pid_t pid = fork();
  if (pid == 0) {
    dup2(pipefd[1], 1);
    dup2(pipefd[1], 2);
    close(pipefd[0]);
    close(pipefd[1]);
    char *args[64];
    int i = 0;
    for (; argv[i] && i < 63; i++) args[i] = unconst(argv[i]);
    args[i] = NULL;
    execvpe(argv[0], args, envp);
    _exit(127);
  }
  free(envp);
  close(pipefd[1]);
  size_t cap = 4096, len = 0;
  char *buf = malloc(cap);
  ssize_t n;
  while (buf && (n = read(pipefd[0], buf + len, cap - len - 1)) > 0) {
    len += (size_t)n;
    if (cap - len < 1024) buf = realloc(buf, cap *= 2);
  }
  close(pipefd[0]);
  if (buf) buf[len] = '\0';
  int st = 0;
  waitpid(pid, &st, 0);
  if (out) *out = buf;
  else free(buf);
  return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

/* ------------------------------------------------------------------------------------------ */
/* HTTP */

typedef struct sink {
  char *p;
  size_t len, cap;
} sink;

static size_t on_data(char *ptr, size_t size, size_t nmemb, void *ud) {
  sink *s = ud;
  size_t n = size * nmemb;
  if (s->len + n + 1 > s->cap) {
    size_t cap = s->cap ? s->cap : 1024;
    while (cap < s->len + n + 1) cap *= 2;
    char *p = realloc(s->p, cap);
    if (!p) return 0;
    s->p = p;
    s->cap = cap;
  }
  memcpy(s->p + s->len, ptr, n);
  s->len += n;
  s->p[s->len] = '\0';
  return n;
}

int http(gwproc *g, const char *method, const char *path, const char *const *headers,
         const char *body, http_resp *out) {
  static int inited;
  if (!inited) {
    curl_global_init(CURL_GLOBAL_DEFAULT);
    inited = 1;
  }
  memset(out, 0, sizeof *out);
  CURL *c = curl_easy_init();
  if (!c) return -1;
  size_t ulen = strlen(path) + 64;
  char *url = malloc(ulen);
  if (!url) {
    curl_easy_cleanup(c);
    return -1;
  }
  snprintf(url, ulen, "http://127.0.0.1:%d%s", g->port, path);
  sink b = {0}, h = {0};
  struct curl_slist *hl = NULL;
  for (int i = 0; headers && headers[i]; i++) hl = curl_slist_append(hl, headers[i]);
  hl = curl_slist_append(hl, "Expect:");
  curl_easy_setopt(c, CURLOPT_URL, url);
  curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
  if (strcmp(method, "HEAD") == 0) curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
  if (body) {
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
  }
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, hl);
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
  curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_data);
  curl_easy_setopt(c, CURLOPT_HEADERDATA, &h);
  curl_easy_setopt(c, CURLOPT_TIMEOUT, 30L);
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  CURLcode rc = curl_easy_perform(c);
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &out->status);
  curl_slist_free_all(hl);
  curl_easy_cleanup(c);
  free(url);
  out->body = b.p ? b.p : calloc(1, 1);
  out->len = b.len;
  out->headers = h.p ? h.p : calloc(1, 1);
  if (rc != CURLE_OK) {
    tap_diag("%s %s: %s", method, path, curl_easy_strerror(rc));
    return -1;
  }
  return 0;
}

int http_post(gwproc *g, const char *path, const char *token, const char *body, http_resp *out) {
  char auth[512];
  const char *hdrs[3] = {"Content-Type: application/json", NULL, NULL};
  if (token) {
    snprintf(auth, sizeof auth, "Authorization: Bearer %s", token);
    hdrs[1] = auth;
  }
  return http(g, "POST", path, hdrs, body, out);
}

int http_get(gwproc *g, const char *path, http_resp *out) {
  return http(g, "GET", path, NULL, NULL, out);
}

const char *resp_header(const http_resp *r, const char *name) {
  static char value[4096];
  size_t nl = strlen(name);
  for (const char *p = r->headers; p && *p;) {
    const char *e = strstr(p, "\r\n");
    size_t len = e ? (size_t)(e - p) : strlen(p);
    if (len > nl && p[nl] == ':' && strncasecmp(p, name, nl) == 0) {
      const char *v = p + nl + 1;
      while (*v == ' ') v++;
      size_t vl = (size_t)(p + len - v);
      if (vl >= sizeof value) vl = sizeof value - 1;
      memcpy(value, v, vl);
      value[vl] = '\0';
      return value;
    }
    if (!e) break;
    p = e + 2;
  }
  return NULL;
}

void resp_free(http_resp *r) {
  free(r->body);
  free(r->headers);
  memset(r, 0, sizeof *r);
}

long long now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int raw_connect_port(int port) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in sa;
  memset(&sa, 0, sizeof sa);
  sa.sin_family = AF_INET;
  sa.sin_port = htons((unsigned short)port);
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
    if (fd >= 0) close(fd);
    return -1;
  }
  return fd;
}

int raw_connect(gwproc *g) { return raw_connect_port(g->port); }

char *raw_request(int fd, const char *req, int timeout_ms) {
  /* MSG_NOSIGNAL: a peer that closed (an answer given before the body) is a NULL, not SIGPIPE */
  if (send(fd, req, strlen(req), MSG_NOSIGNAL) < 0) return NULL;
  size_t cap = 8192, n = 0;
  char *buf = malloc(cap);
  struct pollfd p = {fd, POLLIN, 0};
  long long deadline = now_ms() + timeout_ms;
  while (buf) {
    buf[n] = '\0';
    char *end = strstr(buf, "\r\n\r\n");
    if (end) {
      const char *cl = strcasestr(buf, "\r\nContent-Length:");
      size_t want = (size_t)(end + 4 - buf) + (cl && cl < end ? (size_t)atol(cl + 17) : 0);
      if (n >= want) return buf;
    }
    long long left = deadline - now_ms();
    if (left <= 0 || poll(&p, 1, (int)left) <= 0) break;
    ssize_t r = read(fd, buf + n, cap - n - 1);
    if (r <= 0) break;
    n += (size_t)r;
    if (cap - n < 1024) buf = realloc(buf, cap *= 2);
  }
  free(buf);
  return NULL;
}

char *raw_exchange(gwproc *g, const char *data, size_t len, int timeout_ms) {
  int fd = raw_connect(g);
  if (fd < 0) return NULL;
  if (len && send(fd, data, len, MSG_NOSIGNAL) < 0) {
    close(fd);
    return NULL;
  }
  size_t cap = 4096, n = 0;
  char *buf = malloc(cap);
  struct pollfd p = {fd, POLLIN, 0};
  while (buf && poll(&p, 1, timeout_ms) > 0) {
    ssize_t r = read(fd, buf + n, cap - n - 1);
    if (r <= 0) break;
    n += (size_t)r;
    if (cap - n < 1024) buf = realloc(buf, cap *= 2);
  }
  close(fd);
  if (buf) buf[n] = '\0';
  return buf;
}

/* ------------------------------------------------------------------------------------------ */
/* JSON */

cJSON *json_of(const http_resp *r) { return r->body ? cJSON_Parse(r->body) : NULL; }

static const cJSON *walk(const cJSON *o, const char *path) {
  char key[256];
  while (o && *path) {
    const char *dot = strchr(path, '.');
    size_t n = dot ? (size_t)(dot - path) : strlen(path);
    if (n >= sizeof key) return NULL;
    memcpy(key, path, n);
    key[n] = '\0';
    if (cJSON_IsArray(o)) o = cJSON_GetArrayItem(o, atoi(key));
    else o = cJSON_GetObjectItemCaseSensitive(o, key);
    path += n + (dot ? 1 : 0);
  }
  return o;
}

const char *json_str(const cJSON *obj, const char *path) {
  const cJSON *v = walk(obj, path);
  return cJSON_IsString(v) ? v->valuestring : NULL;
}

double json_num(const cJSON *obj, const char *path, double def) {
  const cJSON *v = walk(obj, path);
  return cJSON_IsNumber(v) ? v->valuedouble : def;
}

long post_json(gwproc *g, const char *token, const char *path, const char *body, cJSON **out) {
  http_resp r;
  http_post(g, path, token, body, &r);
  long st = r.status;
  if (out) *out = json_of(&r);
  if (st >= 500) tap_diag("%s answered %ld: %.300s", path, st, r.body);
  resp_free(&r);
  return st;
}

void expect_error_as(gwproc *g, const char *token, const char *path, const char *body,
                     long status, const char *code, const char *fragment, const char *what) {
  cJSON *j = NULL;
  is_int(post_json(g, token, path, body, &j), status, "%s: %ld", what, status);
  is_str(json_str(j, "code"), code, "%s: %s", what, code);
  if (fragment) has_str(json_str(j, "message"), fragment, "%s: the message names it", what);
  cJSON_Delete(j);
}

int tap_with_gateway(gwproc *g, const char *bin, const char *toml, const char *const *env,
                     const tap_test *t, unsigned long n) {
  if (!tap_want(t, n)) return tap_done();
  if (gw_start(g, bin, toml, env, NULL) != 0) {
    ok(0, "the gateway starts");
    return tap_done();
  }
  tap_run(t, n);
  is_int(gw_stop(g), 0, "SIGTERM: exit status 0");
  return tap_done();
}

void print_c_literal(FILE *f, const char *s) {
  fputc('"', f);
  for (; s && *s; s++) {
    unsigned char ch = (unsigned char)*s;
    if (ch == '"' || ch == '\\') fprintf(f, "\\%c", ch);
    else if (ch == '\n') fprintf(f, "\\n");
    else if (ch < 0x20 || ch >= 0x7f) fprintf(f, "\\x%02x\"\"", ch);
    else fputc(ch, f);
  }
  fputc('"', f);
}
