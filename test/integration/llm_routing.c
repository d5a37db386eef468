/*
 * llm_routing.c -- integration tests of model aliases, [llm.models.NAME] (SPEC-llm-routing §1),
 * against the real binary and a mock OpenAI-compatible upstream this program runs on loopback.
 * The mock misbehaves on purpose, by the model a request names (by its prefix):
 *
 *   a, b       200 with the completion "from a" / "from b"
 *   e500       500          e429   429          e400   400
 *   slow       answers after 1.5 s (the provider's timeout_ms is 400)
 *   stream     server-sent events "Hel", "lo", then the end
 *   break      one event, then the connection is cut
 *
 * and a provider "dead" on a loopback port nothing listens on (connect refused).  The mock
 * counts the calls per model, so each test checks which targets were tried.
 */
#include <arpa/inet.h>
#include <cjson/cJSON.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "harness.h"
#include "mockup.h"
#include "tap.h"

#define TOKEN "test-token"

static gwproc gw;

static struct {
  pthread_mutex_t lock;
  struct MHD_Daemon *d;
  int port, quit;
  char names[32][32];
  int counts[32];
} mock = {PTHREAD_MUTEX_INITIALIZER, NULL, 0, 0, {{0}}, {0}};

static int calls(const char *model) {
  int n = 0;
  pthread_mutex_lock(&mock.lock);
  for (int i = 0; i < 32; i++)
    if (strcmp(mock.names[i], model) == 0) n = mock.counts[i];
  pthread_mutex_unlock(&mock.lock);
  return n;
}

static void called(const char *model) {
  pthread_mutex_lock(&mock.lock);
  for (int i = 0; i < 32; i++) {
    if (!mock.names[i][0]) snprintf(mock.names[i], sizeof mock.names[i], "%s", model);
    if (strcmp(mock.names[i], model) == 0) {
      mock.counts[i]++;
      break;
    }
  }
  pthread_mutex_unlock(&mock.lock);
}

typedef struct sse {
  int next, cut;
} sse;

static const char *const sse_ok[] = {
    "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hel\"}}]}\n\n",
    "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"lo\"},\"finish_reason\":\"stop\"}]}\n\n",
    "data: [DONE]\n\n", NULL};

static ssize_t sse_reader(void *cls, uint64_t pos, char *buf, size_t max) {
  sse *s = cls;
  (void)pos;
  const char *p = s->cut && s->next == 1 ? NULL : sse_ok[s->next];
  if (!p) return s->cut ? MHD_CONTENT_READER_END_WITH_ERROR : MHD_CONTENT_READER_END_OF_STREAM;
  size_t n = strlen(p) < max ? strlen(p) : max;
  memcpy(buf, p, n);
  s->next++;
  usleep(5 * 1000);
  return (ssize_t)n;
}

static enum MHD_Result reply_sse(struct MHD_Connection *c, int cut) {
  sse *s = calloc(1, sizeof *s);
  s->cut = cut;
  struct MHD_Response *r = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 4096, sse_reader, s, free);
  MHD_add_response_header(r, "Content-Type", "text/event-stream");
  enum MHD_Result ret = MHD_queue_response(c, 200, r);
  MHD_destroy_response(r);
  return ret;
}

static enum MHD_Result mock_handle(void *cls, struct MHD_Connection *c, const char *url,
                                   const char *method, const char *version, const char *data,
                                   size_t *size, void **state) {
  (void)cls, (void)method, (void)version, (void)url;
  mock_body *u = mock_collect(state, data, size);
  if (!u) return MHD_YES;
  cJSON *req = u->p ? cJSON_Parse(u->p) : NULL;
  const cJSON *m = cJSON_GetObjectItem(req, "model");
  char model[32];
  snprintf(model, sizeof model, "%s", cJSON_IsString(m) ? m->valuestring : "");
  cJSON_Delete(req);
  called(model);
  char body[512];
  if (!strncmp(model, "e500", 4)) return mock_reply(c, 500, "{\"error\":{\"message\":\"boom\"}}");
  if (!strncmp(model, "e429", 4)) return mock_reply(c, 429, "{\"error\":{\"message\":\"slow down\"}}");
  if (!strncmp(model, "e400", 4)) return mock_reply(c, 400, "{\"error\":{\"message\":\"bad\"}}");
  if (!strncmp(model, "stream", 6)) return reply_sse(c, 0);
  if (!strncmp(model, "break", 5)) return reply_sse(c, 1);
  if (strcmp(url, "/v1/embeddings") == 0)
    return mock_reply(c, 200, "{\"data\":[{\"index\":0,\"embedding\":[1,2]}],\"usage\":{\"prompt_tokens\":1}}");
  if (!strncmp(model, "slow", 4))
    for (int i = 0; i < 15 && !mock.quit; i++) usleep(100 * 1000);
  snprintf(body, sizeof body,
           "{\"model\":\"%s\",\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\",\"content\":\"from %s\"},"
           "\"finish_reason\":\"stop\"}],\"usage\":{\"prompt_tokens\":1,\"completion_tokens\":2}}",
           model, model);
  return mock_reply(c, 200, body);
}

static int mock_start(void) {
  mock.d = mock_daemon(mock_handle, NULL, &mock.port);
  if (!mock.d) return -1;
  return 0;
}

static int closed_port(void) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  socklen_t len = sizeof a;
  bind(fd, (struct sockaddr *)&a, sizeof a);
  getsockname(fd, (struct sockaddr *)&a, &len);
  close(fd);
  return ntohs(a.sin_port);
}

/* ------------------------------------------------------------------------------------------ */

static char toml[8192];

static void make_toml(const char *extra) {
  snprintf(toml, sizeof toml,
           "%s\n[llm.providers.m]\nbase_url = \"http://127.0.0.1:%d/v1\"\napi_key = \"k\"\n"
           "timeout_ms = 400\nretries = 0\n\n"
           "[llm.providers.dead]\nbase_url = \"http://127.0.0.1:%d/v1\"\nretries = 0\n\n"
           "[llm.models.fb]\ntargets = [\"dead:x\", \"m:e500\", \"m:e429\", \"m:slow\", \"m:a\"]\n"
           "cooldown_after = 1000\n\n"
           "[llm.models.no400]\ntargets = [\"m:e400\", \"m:a\"]\n\n"
           "[llm.models.lb]\nstrategy = \"loadbalance\"\ntargets = [\"m:a\", \"m:b\"]\n"
           "weights = [3, 1]\n\n"
           "[llm.models.cool]\ntargets = [\"m:e500c\", \"m:b\"]\ncooldown_after = 2\n"
           "cooldown_s = 1000\n\n"
           "[llm.models.allcool]\ntargets = [\"m:e429c\"]\ncooldown_after = 1\ncooldown_s = 1000\n\n"
           "[llm.models.sfb]\ntargets = [\"m:e500s\", \"m:stream\"]\n\n"
           "[llm.models.sbreak]\ntargets = [\"m:break\", \"m:a\"]\n\n"
           "[llm.models.emb]\ntargets = [\"m:e500e\", \"m:vec\"]\n\n"
           "[llm.models.chat]\ntargets = [\"m:e500h\", \"m:a\"]\n\n"
           "[llm.models.brief]\ntargets = [\"m:e500r\", \"m:b\"]\ncooldown_after = 1\n"
           "cooldown_s = 1\n%s",
           HARNESS_DEFAULT_TOML, mock.port, closed_port(), extra);
}

static long complete(const char *model, cJSON **out, char *served, size_t len) {
  char body[256];
  http_resp r;
  snprintf(body, sizeof body, "{\"prompt\":\"hi\",\"model\":\"%s\"}", model);
  http_post(&gw, "/api/llm/complete", TOKEN, body, &r);
  long st = r.status;
  if (out) *out = json_of(&r);
  const char *h = resp_header(&r, "X-Soulgw-Model");
  if (served) snprintf(served, len, "%s", h ? h : "");
  resp_free(&r);
  return st;
}

static double metric(const char *series) {
  http_resp r;
  http_get(&gw, "/metrics", &r);
  double v = -1;
  const char *p = r.body ? strstr(r.body, series) : NULL;
  if (p && p[strlen(series)] == ' ') v = strtod(p + strlen(series) + 1, NULL);
  resp_free(&r);
  return v;
}

/* Connect refused, 500, 429 and a timeout each move on; the last target serves and says so. */
static void integration_llm_routing_fallback(void) {
  cJSON *j = NULL;
  char served[128];
  is_int(complete("fb", &j, served, sizeof served), 200, "fb: 200 after four failures");
  is_str(served, "m:a", "X-Soulgw-Model names the target that served");
  is_str(json_str(j, "response"), "from a", "its answer");
  is_str(json_str(j, "model"), "m:a", "model names the target");
  is_str(json_str(j, "provider"), "m", "provider names the target's provider");
  cJSON_Delete(j);
  is_int(calls("e500"), 1, "the 500 target was tried once");
  is_int(calls("e429"), 1, "the 429 target was tried once");
  is_int(calls("slow"), 1, "the slow target was tried once");
  is_int(metric("soulgw_llm_fallbacks_total{model=\"fb\",from=\"dead:x\",to=\"m:e500\"}"), 1,
         "connect refused counted as a fallback");
  is_int(metric("soulgw_llm_fallbacks_total{model=\"fb\",from=\"m:slow\",to=\"m:a\"}"), 1,
         "timeout counted as a fallback");
  is_int(metric("soulgw_llm_requests_total{model=\"fb\",target=\"m:a\",outcome=\"ok\"}"), 1,
         "requests_total: ok on m:a");
  is_int(metric("soulgw_llm_requests_total{model=\"fb\",target=\"m:e429\",outcome=\"fallback\"}"),
         1, "requests_total: fallback on m:e429");
}

/* A 400 is the client's: answered at once, the next target untouched. */
static void integration_llm_routing_no_fallback_on_400(void) {
  int before = calls("a");
  char served[128];
  cJSON *j = NULL;
  long st = complete("no400", &j, served, sizeof served);
  ok(st >= 400 && st != 200, "no400: an error answer (%ld)", st);
  is_str(served, "m:e400", "X-Soulgw-Model names the target that failed");
  is_int(calls("a"), before, "the second target was not called");
  cJSON_Delete(j);
  is_int(metric("soulgw_llm_requests_total{model=\"no400\",target=\"m:e400\",outcome=\"error\"}"),
         1, "counted as an error");
}

/* weights [3, 1]: exactly 3:1 over 4, 8 and 12 requests. */
static void integration_llm_routing_loadbalance(void) {
  int a = 0, b = 0;
  for (int i = 1; i <= 12; i++) {
    char served[128];
    is_int(complete("lb", NULL, served, sizeof served), 200, "lb request %d: 200", i);
    a += strcmp(served, "m:a") == 0;
    b += strcmp(served, "m:b") == 0;
    if (i % 4 == 0) {
      is_int(a, 3 * i / 4, "after %d requests m:a served %d", i, 3 * i / 4);
      is_int(b, i / 4, "after %d requests m:b served %d", i, i / 4);
    }
  }
}

/* Two 500s in a row put m:e500c in cooldown: the third call skips it. */
static void integration_llm_routing_cooldown(void) {
  char served[128];
  for (int i = 0; i < 2; i++) complete("cool", NULL, served, sizeof served);
  is_int(calls("e500c"), 2, "m:e500c tried twice");
  is_int(complete("cool", NULL, served, sizeof served), 200, "the third call: 200");
  is_str(served, "m:b", "served by m:b");
  is_int(calls("e500c"), 2, "m:e500c skipped while cooling down");
  is_int(metric("soulgw_llm_cooldowns_total{target=\"m:e500c\"}"), 1, "one cooldown counted");
  /* every target cooling down: the first is tried anyway */
  complete("allcool", NULL, NULL, 0);
  is_int(calls("e429c"), 1, "allcool: tried");
  long st = complete("allcool", NULL, served, sizeof served);
  is_int(calls("e429c"), 2, "all cooling down: the first is tried anyway");
  is_int(st, 503, "and its failure answered (503 PROVIDER.UNAVAILABLE)");
}

/* A cooldown ends: after cooldown_s the target is tried again. */
static void integration_llm_routing_cooldown_ends(void) {
  char served[128];
  complete("brief", NULL, served, sizeof served);
  is_int(calls("e500r"), 1, "m:e500r failed once: cooling down");
  is_int(metric("soulgw_llm_cooldowns_total{target=\"m:e500r\"}"), 1, "its cooldown counted");
  for (int i = 0; i < 100 && calls("e500r") < 2; i++) {
    usleep(100 * 1000);
    complete("brief", NULL, served, sizeof served);
  }
  ok(calls("e500r") >= 2, "m:e500r tried again once its cooldown ended");
}

static char *stream(const char *model, char *served, size_t len) {
  char body[256];
  http_resp r;
  snprintf(body, sizeof body, "{\"prompt\":\"hi\",\"model\":\"%s\"}", model);
  http_post(&gw, "/api/llm/stream", TOKEN, body, &r);
  const char *h = resp_header(&r, "X-Soulgw-Model");
  if (served) snprintf(served, len, "%s", h ? h : "");
  char *out = strdup(r.body ? r.body : "");
  resp_free(&r);
  return out;
}

/* Before its first byte a stream falls back; after it, it ends in its error event. */
static void integration_llm_routing_stream(void) {
  char *s = stream("sfb", NULL, 0);
  has_str(s, "\"delta\":\"Hel\"", "sfb: the second target's deltas");
  has_str(s, "event: done", "ends in done");
  has_str(s, "\"model\":\"m:stream\"", "done names the target that served");
  is_int(calls("e500s"), 1, "the 500 target was tried first");
  free(s);
  int before = calls("a");
  s = stream("sbreak", NULL, 0);
  has_str(s, "\"delta\":\"Hel\"", "sbreak: the first delta went out");
  has_str(s, "event: error", "then the stream ends in its error event");
  ok(!strstr(s, "from a"), "no fallback after the first byte");
  is_int(calls("a"), before, "the second target was not called");
  free(s);
  char served[128];
  s = stream("m:stream", served, sizeof served);
  is_str(served, "m:stream", "a plain model's stream says X-Soulgw-Model");
  free(s);
}

static long post_h(const char *path, const char *body, cJSON **out, char *served, size_t len,
                   char **raw) {
  http_resp r;
  http_post(&gw, path, TOKEN, body, &r);
  long st = r.status;
  if (out) *out = json_of(&r);
  const char *h = resp_header(&r, "X-Soulgw-Model");
  snprintf(served, len, "%s", h ? h : "");
  if (raw) *raw = strdup(r.body ? r.body : "");
  resp_free(&r);
  return st;
}

/* Embeddings fall back too, on /api/llm/embed and /v1/embeddings. */
static void integration_llm_routing_embed(void) {
  cJSON *j = NULL;
  char served[128];
  is_int(post_h("/api/llm/embed", "{\"text\":\"x\",\"model\":\"emb\"}", &j, served,
                sizeof served, NULL), 200, "/api/llm/embed through an alias: 200");
  is_str(served, "m:vec", "X-Soulgw-Model names the target");
  is_str(json_str(j, "model"), "m:vec", "and so does model");
  cJSON_Delete(j);
  is_int(calls("e500e"), 1, "after the 500 target");
  is_int(post_h("/v1/embeddings", "{\"input\":\"x\",\"model\":\"emb\"}", &j, served,
                sizeof served, NULL), 200, "/v1/embeddings through an alias: 200");
  is_str(served, "m:vec", "X-Soulgw-Model names the target");
  is_str(json_str(j, "model"), "emb", "model is what the client asked");
  cJSON_Delete(j);
}

/* /v1/chat/completions: an alias whose targets all relay is relayed target by target, falling
 * back (whole answers and streams before their first event); a plain model's relay says who
 * served; /v1/models lists the aliases. */
static void integration_llm_routing_v1(void) {
  cJSON *j = NULL;
  char served[128], *raw = NULL;
  is_int(post_h("/v1/chat/completions",
                "{\"model\":\"chat\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}",
                &j, served, sizeof served, NULL), 200, "chat through an alias: 200");
  is_str(served, "m:a", "X-Soulgw-Model names the target");
  is_str(json_str(j, "model"), "chat", "model is the alias");
  ok(json_str(j, "object") == NULL, "the upstream's own body, relayed (the mock sends no object)");
  cJSON *ch = cJSON_GetArrayItem(cJSON_GetObjectItem(j, "choices"), 0);
  is_str(json_str(ch, "message.content"), "from a", "the target's answer");
  cJSON_Delete(j);
  is_int(calls("e500h"), 1, "after the 500 target");
  post_h("/v1/chat/completions",
         "{\"model\":\"sfb\",\"stream\":true,\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}",
         NULL, served, sizeof served, &raw);
  is_str(served, "m:stream", "a streamed alias names the target that serves");
  has_str(raw, "Hel", "with its deltas");
  has_str(raw, "[DONE]", "to the end");
  free(raw);
  is_int(post_h("/v1/chat/completions",
                "{\"model\":\"m:a\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}",
                NULL, served, sizeof served, NULL), 200, "a plain model through the relay: 200");
  is_str(served, "m:a", "X-Soulgw-Model on the relay");
  http_resp r;
  const char *hdr[] = {"Authorization: Bearer " TOKEN, NULL};
  http(&gw, "GET", "/v1/models", hdr, NULL, &r);
  has_str(r.body, "{\"id\":\"fb\",\"object\":\"model\",\"created\":0,\"owned_by\":\"soulgw\"}",
          "/v1/models lists an alias, owned by soulgw");
  resp_free(&r);
}

/* A reload keeps the cooldown of an unchanged target. */
static void integration_llm_routing_reload(void) {
  make_toml("\n[llm.models.late]\ntargets = [\"m:b\"]\n\n[llm]\ndefault_model = \"late\"\n");
  gw_write_config(&gw, toml);
  gw_signal(&gw, SIGHUP);
  char served[128] = "";
  long st = 0;
  for (int i = 0; i < 50 && st != 200; i++) {
    usleep(100 * 1000);
    st = complete("late", NULL, served, sizeof served);
  }
  is_int(st, 200, "an alias added by a reload serves");
  http_resp r;
  http_post(&gw, "/api/llm/complete", TOKEN, "{\"prompt\":\"hi\"}", &r);
  is_str(resp_header(&r, "X-Soulgw-Model"), "m:b", "llm.default_model may name an alias");
  resp_free(&r);
  int before = calls("e500c");
  is_int(complete("cool", NULL, served, sizeof served), 200, "cool after the reload: 200");
  is_int(calls("e500c"), before, "m:e500c still cooling down after the reload");
}

/* Configuration mistakes name file and line. */
static void integration_llm_routing_config_errors(void) {
  static const struct {
    const char *section, *want;
  } cases[] = {
      {"[llm.models.x]\ntargets = [\"nope:m\"]\n", "targets[0] names the unknown provider nope"},
      {"[llm.models.x]\nstrategy = \"loadbalance\"\ntargets = [\"local:echo\"]\nweights = [1, 2]\n",
       "2 weights for 1 targets"},
      {"[llm.models.local]\ntargets = [\"local:echo\"]\n", "the alias shadows the provider local"},
      {"[llm.models.x]\ntargets = [\"local:echo\"]\nstrategy = \"random\"\n", "unknown strategy"},
      {"[llm.models.x]\ntargets = [\"local:echo\"]\nfallback_on = [\"400\"]\n",
       "fallback_on[0] is \"400\""},
  };
  char path[256];
  snprintf(path, sizeof path, "/tmp/llm_routing_%d.toml", (int)getpid());
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    FILE *f = fopen(path, "w");
    if (!f) continue;
    fprintf(f, "%s\n%s", HARNESS_DEFAULT_TOML, cases[i].section);
    fclose(f);
    /* the section starts after the default config's lines */
    int line = 2;
    for (const char *p = HARNESS_DEFAULT_TOML; *p; p++) line += *p == '\n';
    char *out = NULL;
    const char *argv[] = {harness_soulgw_bin(), "--config", path, "--check", NULL};
    is_int(run_cmd(argv, NULL, &out), 78, "config case %zu: exit status 78", i);
    has_str(out, cases[i].want, "  says %s", cases[i].want);
    char loc[300];
    snprintf(loc, sizeof loc, "%s:%d: [llm.models.", path, line);
    has_str(out, loc, "  with file and line");
    free(out);
  }
  unlink(path);
}

static const tap_test tests[] = {
    TEST(integration_llm_routing_fallback),   TEST(integration_llm_routing_no_fallback_on_400),
    TEST(integration_llm_routing_loadbalance), TEST(integration_llm_routing_cooldown),
    TEST(integration_llm_routing_cooldown_ends),
    TEST(integration_llm_routing_stream),     TEST(integration_llm_routing_embed),
    TEST(integration_llm_routing_v1),         TEST(integration_llm_routing_reload),
};

int main(void) {
  if (mock_start() != 0) {
    ok(0, "the mock upstream starts");
    return tap_done();
  }
  if (tap_want(tests, TAP_COUNT(tests))) {
    make_toml("");
    if (gw_start(&gw, harness_soulgw_bin(), toml, NULL, NULL) != 0) {
      ok(0, "the gateway starts");
      return tap_done();
    }
    tap_run(tests, TAP_COUNT(tests));
    is_int(gw_stop(&gw), 0, "SIGTERM: exit status 0");
  }
  RUN(integration_llm_routing_config_errors);
  mock.quit = 1;
  MHD_stop_daemon(mock.d);
  return tap_done();
}
