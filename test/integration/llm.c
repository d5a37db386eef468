/*
 * llm.c -- integration tests of the model routes against the test host (libsoulgw with a host
 * provider "hostp") and a mock OpenAI-compatible upstream that this program runs itself on
 * loopback with libmicrohttpd.  The mock's behaviour is chosen by the model a request names:
 *
 *   ok         200 with a chat completion ("pong from mock", usage 11/3, finish "length")
 *   nousage    200 without usage
 *   flaky      500 for the first two calls (since mock_reset), then as ok
 *   down       always 503
 *   slow       answers after 1.5 s
 *   badjson    200 with a body that is not JSON
 *   canned     200 with the request's "stop" string as the body
 *   e400, e401 400 / 401 with an OpenAI error object
 *   stream     with "stream": true, server-sent events "Hel", "lo ", "world", usage 5/3
 *   streambreak  one event, then the connection is cut
 *   streamhang   one event, then nothing for 10 s (the drain test)
 *
 * and POST /v1/embeddings answers [3k, 4k, 0] for text k (k from 1), listed in reverse order
 * with their indexes.
 */
#include <arpa/inet.h>
#include <cjson/cJSON.h>
#include <math.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "badinput.h"
#include "harness.h"
#include "mockup.h"
#include "tap.h"

#define TOKEN "test-token"
#define MOCK_KEY "sk-test-4242"

static gwproc gw;

/* ------------------------------------------------------------------------------------------ */
/* The mock upstream */

static struct {
  pthread_mutex_t lock;
  struct MHD_Daemon *d;
  int port;
  int requests, connections, flaky_left;
  char last_body[8192];
  char last_auth[256];
  char last_path[256];
  char last_rid[128], last_trace[128];
  volatile int quit;
} mock = {PTHREAD_MUTEX_INITIALIZER, NULL, 0, 0, 0, 0, "", "", "", "", "", 0};

static void mock_reset(void) {
  pthread_mutex_lock(&mock.lock);
  mock.requests = mock.connections = 0;
  mock.flaky_left = 2;
  mock.last_body[0] = mock.last_auth[0] = mock.last_path[0] = '\0';
  pthread_mutex_unlock(&mock.lock);
}

static int mock_get(int *field) {
  pthread_mutex_lock(&mock.lock);
  int v = *field;
  pthread_mutex_unlock(&mock.lock);
  return v;
}

typedef struct sse {
  const char *const *pieces;
  int next;
  int mode; /* 0 end, 1 cut the connection, 2 hang */
} sse;

static const char *const sse_ok[] = {
    "data: {\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\"}}]}\n\n",
    "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hel\"}}]}\n\n",
    /* one event split over two writes, and a CRLF line end */
    "data: {\"choices\":[{\"index\":0,\"delta\":{\"con",
    "tent\":\"lo \"}}]}\r\n\r\n: a comment line\n\n",
    "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"world\"},\"finish_reason\":null}]}\n\n",
    "data: {\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]}\n\n",
    "data: {\"choices\":[],\"usage\":{\"prompt_tokens\":5,\"completion_tokens\":3,\"total_tokens\":8}}\n\n",
    "data: [DONE]\n\n",
    NULL};
static const char *const sse_one[] = {
    "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"partial \"}}]}\n\n", NULL};

static ssize_t sse_reader(void *cls, uint64_t pos, char *buf, size_t max) {
  sse *s = cls;
  (void)pos;
  const char *p = s->pieces[s->next];
  if (!p) {
    if (s->mode == 1) return MHD_CONTENT_READER_END_WITH_ERROR;
    if (s->mode == 2) {
      for (int i = 0; i < 100 && !mock.quit; i++) usleep(100 * 1000);
      return MHD_CONTENT_READER_END_WITH_ERROR;
    }
    return MHD_CONTENT_READER_END_OF_STREAM;
  }
  size_t n = strlen(p);
  if (n > max) n = max;
  memcpy(buf, p, n);
  s->next++;
  usleep(5 * 1000);
  return (ssize_t)n;
}

static enum MHD_Result reply_sse(struct MHD_Connection *c, const char *const *pieces, int mode) {
  sse *s = calloc(1, sizeof *s);
  s->pieces = pieces;
  s->mode = mode;
  struct MHD_Response *r = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 4096, sse_reader, s, free);
  MHD_add_response_header(r, "Content-Type", "text/event-stream");
  enum MHD_Result ret = MHD_queue_response(c, 200, r);
  MHD_destroy_response(r);
  return ret;
}

static const char completion[] =
    "{\"id\":\"c1\",\"object\":\"chat.completion\",\"model\":\"ok\",\"choices\":[{\"index\":0,"
    "\"message\":{\"role\":\"assistant\",\"content\":\"pong from mock\"},\"finish_reason\":"
    "\"length\"}],\"usage\":{\"prompt_tokens\":11,\"completion_tokens\":3,\"total_tokens\":14}}";

static enum MHD_Result embeddings(struct MHD_Connection *c, cJSON *req) {
  cJSON *input = cJSON_GetObjectItem(req, "input");
  int n = cJSON_GetArraySize(input);
  char body[4096];
  size_t off = (size_t)snprintf(body, sizeof body, "{\"object\":\"list\",\"data\":[");
  for (int k = n; k >= 1 && off < sizeof body - 200; k--)
    off += (size_t)snprintf(body + off, sizeof body - off,
                            "%s{\"object\":\"embedding\",\"index\":%d,\"embedding\":[%d,%d,0]}",
                            k == n ? "" : ",", k - 1, 3 * k, 4 * k);
  snprintf(body + off, sizeof body - off, "],\"usage\":{\"prompt_tokens\":9,\"total_tokens\":9}}");
  return mock_reply(c, 200, body);
}

static enum MHD_Result mock_handle(void *cls, struct MHD_Connection *c, const char *url,
                                   const char *method, const char *version, const char *data,
                                   size_t *size, void **state) {
  (void)cls;
  (void)method;
  (void)version;
  mock_body *u = mock_collect(state, data, size);
  if (!u) return MHD_YES;
  const char *auth = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Authorization");
  const char *rid = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "X-Request-Id");
  const char *tp = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "traceparent");
  pthread_mutex_lock(&mock.lock);
  snprintf(mock.last_rid, sizeof mock.last_rid, "%s", rid ? rid : "");
  snprintf(mock.last_trace, sizeof mock.last_trace, "%s", tp ? tp : "");
  mock.requests++;
  snprintf(mock.last_body, sizeof mock.last_body, "%s", u->p ? u->p : "");
  snprintf(mock.last_auth, sizeof mock.last_auth, "%s", auth ? auth : "");
  snprintf(mock.last_path, sizeof mock.last_path, "%s", url);
  int flaky = mock.flaky_left > 0 ? mock.flaky_left-- : 0;
  pthread_mutex_unlock(&mock.lock);
  cJSON *req = u->p ? cJSON_Parse(u->p) : NULL;
  const cJSON *m = cJSON_GetObjectItem(req, "model");
  const char *model = cJSON_IsString(m) ? m->valuestring : "";
  int stream = cJSON_IsTrue(cJSON_GetObjectItem(req, "stream"));
  enum MHD_Result ret;
  if (strcmp(url, "/v1/embeddings") == 0) ret = embeddings(c, req);
  else if (strcmp(url, "/v1/chat/completions") != 0) ret = mock_reply(c, 404, "{\"error\":{\"message\":\"no such path\"}}");
  else if (!strcmp(model, "ok") || (!strcmp(model, "flaky") && !flaky)) ret = mock_reply(c, 200, completion);
  else if (!strcmp(model, "flaky") || !strcmp(model, "down"))
    ret = mock_reply(c, !strcmp(model, "down") ? 503 : 500, "{\"error\":{\"message\":\"overloaded\"}}");
  else if (!strcmp(model, "nousage"))
    ret = mock_reply(c, 200, "{\"choices\":[{\"message\":{\"content\":\"one two three four\"},\"finish_reason\":\"stop\"}]}");
  else if (!strcmp(model, "slow")) {
    for (int i = 0; i < 15 && !mock.quit; i++) usleep(100 * 1000);
    ret = mock_reply(c, 200, completion);
  } else if (!strcmp(model, "badjson")) ret = mock_reply(c, 200, "this is not json{");
  else if (!strcmp(model, "canned"))
    ret = mock_reply(c, 200, cJSON_GetStringValue(cJSON_GetObjectItem(req, "stop")));
  else if (!strcmp(model, "e400")) ret = mock_reply(c, 400, "{\"error\":{\"message\":\"model e400 does not exist\"}}");
  else if (!strcmp(model, "e401")) ret = mock_reply(c, 401, "{\"error\":{\"message\":\"Incorrect API key provided: sk-te**42\"}}");
  else if (!strcmp(model, "stream") && stream) ret = reply_sse(c, sse_ok, 0);
  else if (!strcmp(model, "streambreak") && stream) ret = reply_sse(c, sse_one, 1);
  else if (!strcmp(model, "streamhang") && stream) ret = reply_sse(c, sse_one, 2);
  else ret = mock_reply(c, 404, "{\"error\":{\"message\":\"unknown model\"}}");
  cJSON_Delete(req);
  return ret;
}

static void mock_connection(void *cls, struct MHD_Connection *c, void **socket_context,
                            enum MHD_ConnectionNotificationCode code) {
  (void)cls;
  (void)c;
  (void)socket_context;
  if (code != MHD_CONNECTION_NOTIFY_STARTED) return;
  pthread_mutex_lock(&mock.lock);
  mock.connections++;
  pthread_mutex_unlock(&mock.lock);
}

static int mock_start(void) {
  mock.d = mock_daemon(mock_handle, mock_connection, &mock.port);
  if (!mock.d) return -1;
  mock_reset();
  return 0;
}

/* A loopback port nothing listens on. */
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
/* Helpers */

static char toml[8192];

static void make_toml(char *out, size_t len, const char *extra) {
  snprintf(out, len,
           "%s\n[llm.providers.mock]\nkind = \"openai\"\nbase_url = \"http://127.0.0.1:%d/v1/\"\n"
           "api_key_env = \"MOCK_LLM_KEY\"\ntimeout_ms = 700\nretries = 2\n\n"
           "[llm.providers.nokey]\nbase_url = \"http://127.0.0.1:%d/v1\"\nretries = 0\n\n"
           "[llm.providers.refused]\nbase_url = \"http://127.0.0.1:%d/v1\"\nretries = 1\n\n"
           "[metrics]\ntenant_labels = true\n%s",
           HARNESS_DEFAULT_TOML, mock.port, mock.port, closed_port(), extra);
}

static long post(const char *path, const char *body, cJSON **out) {
  http_resp r;
  http_post(&gw, path, TOKEN, body, &r);
  long st = r.status;
  if (out) *out = json_of(&r);
  resp_free(&r);
  return st;
}

static void expect(const char *path, const char *body, long status, const char *code,
                   const char *fragment) {
  cJSON *j = NULL;
  long st = post(path, body, &j);
  if (!tap_ok(st == status, __FILE__, __LINE__, "%s %s: %ld", path, body, status))
    tap_diag("  got %ld: %s", st, json_str(j, "message") ? json_str(j, "message") : "");
  is_str(json_str(j, "code"), code, "  code %s", code);
  if (fragment) has_str(json_str(j, "message"), fragment, "  the message says \"%s\"", fragment);
  ok(json_str(j, "correlation_id") != NULL, "  with a correlation id");
  cJSON_Delete(j);
}

static int count(const char *hay, const char *needle) {
  int n = 0;
  for (const char *p = hay; p && (p = strstr(p, needle)); p += strlen(needle)) n++;
  return n;
}

/* The concatenated deltas of an event stream (static buffer). */
static const char *deltas(const char *body) {
  static char out[4096];
  out[0] = '\0';
  for (const char *p = body; (p = strstr(p, "event: delta\ndata: ")); ) {
    p += 19;
    const char *e = strchr(p, '\n');
    char line[1024];
    snprintf(line, sizeof line, "%.*s", (int)(e ? e - p : (long)strlen(p)), p);
    cJSON *j = cJSON_Parse(line);
    const cJSON *d = cJSON_GetObjectItem(j, "delta");
    if (cJSON_IsString(d)) strncat(out, d->valuestring, sizeof out - strlen(out) - 1);
    cJSON_Delete(j);
  }
  return out;
}

/* The data of the first event named name (a JSON object), or NULL. */
static cJSON *event_data(const char *body, const char *name) {
  char tag[64];
  snprintf(tag, sizeof tag, "event: %s\ndata: ", name);
  const char *p = strstr(body, tag);
  if (!p) return NULL;
  p += strlen(tag);
  const char *e = strchr(p, '\n');
  char line[2048];
  snprintf(line, sizeof line, "%.*s", (int)(e ? e - p : (long)strlen(p)), p);
  return cJSON_Parse(line);
}

/* The value of one Prometheus series, or -1. */
static double metric(const char *series) {
  http_resp r;
  http_get(&gw, "/metrics", &r);
  double v = -1;
  const char *p = strstr(r.body, series);
  if (p && p[strlen(series)] == ' ') v = strtod(p + strlen(series) + 1, NULL);
  resp_free(&r);
  return v;
}

/* ------------------------------------------------------------------------------------------ */
/* The local provider */

static void integration_llm_echo_usage(void) {
  cJSON *j = NULL;
  is_int(post("/api/llm/complete", "{\"prompt\":\"hello big world\",\"model\":\"local:echo\"}", &j),
         200, "local:echo answers 200");
  is_str(json_str(j, "response"), "echo: hello big world", "response is \"echo: \" + prompt");
  is_str(json_str(j, "prompt"), "hello big world", "prompt");
  is_str(json_str(j, "model"), "local:echo", "model");
  is_str(json_str(j, "provider"), "local", "provider");
  is_str(json_str(j, "finish"), "stop", "finish");
  is_str(json_str(j, "tenant"), "tenant-demo", "tenant");
  is_int(json_num(j, "usage.input_tokens", -1), 3, "input_tokens: the prompt's words");
  is_int(json_num(j, "usage.output_tokens", -1), 4, "output_tokens: the answer's words");
  cJSON_Delete(j);
  is_int(post("/api/llm/complete", "{\"prompt\":\"\",\"tenant\":\"tenant-demo\"}", &j), 200,
         "an empty prompt is a prompt");
  is_str(json_str(j, "response"), "echo: ", "answered");
  is_int(json_num(j, "usage.input_tokens", -1), 0, "no input words");
  cJSON_Delete(j);
  is_int(post("/api/llm/complete", "{\"prompt\":\"x\",\"model\":\"local:other\"}", &j), 503,
         "an unknown local model: 503");
  has_str(json_str(j, "message"), "other", "naming it");
  cJSON_Delete(j);
}

static void integration_llm_default_model(void) {
  cJSON *j = NULL;
  is_int(post("/api/llm/complete", "{\"prompt\":\"no model given\"}", &j), 200, "no model: 200");
  is_str(json_str(j, "model"), "local:echo", "default_model local:echo");
  has_str(json_str(j, "response"), "no model given", "answered by echo");
  cJSON_Delete(j);
  is_int(post("/api/llm/complete", "{\"prompt\":\"null model\",\"model\":null}", &j), 200,
         "model null counts as absent");
  is_str(json_str(j, "model"), "local:echo", "default model");
  cJSON_Delete(j);
}

static void integration_llm_unknown_provider(void) {
  expect("/api/llm/complete", "{\"prompt\":\"x\",\"model\":\"nope:gpt\"}", 503,
         "PROVIDER.UNAVAILABLE", "unknown provider nope");
  expect("/api/llm/embed", "{\"text\":[\"x\"],\"model\":\"nope:e\"}", 503, "PROVIDER.UNAVAILABLE",
         "unknown provider nope");
}

static void integration_llm_bad_model_format(void) {
  static const char *const bad[] = {"\"gpt4\"", "\":x\"", "\"local:\"", "\"lo cal:x\"",
                                    "\"local:a b\"", "\"\"", NULL};
  char body[128];
  for (int i = 0; bad[i]; i++) {
    snprintf(body, sizeof body, "{\"prompt\":\"x\",\"model\":%s}", bad[i]);
    expect("/api/llm/complete", body, 422, "SCHEMA.VALIDATION_FAILED", "model");
  }
  expect("/api/llm/embed", "{\"text\":[\"x\"],\"model\":\"emb\"}", 422, "SCHEMA.VALIDATION_FAILED",
         "model");
  expect("/api/llm/stream", "{\"prompt\":\"x\",\"model\":\"echo\"}", 422,
         "SCHEMA.VALIDATION_FAILED", "model");
}

static void integration_llm_field_types(void) {
  static const struct {
    const char *body, *field;
  } cases[] = {
      {"{}", "prompt is required"},
      {"{\"prompt\":null}", "prompt"},
      {"{\"prompt\":42}", "prompt must be a string"},
      {"{\"prompt\":[\"x\"]}", "prompt must be a string"},
      {"{\"prompt\":\"x\",\"model\":7}", "model"},
      {"{\"prompt\":\"x\",\"messages\":{}}", "messages"},
      {"{\"prompt\":\"x\",\"messages\":[\"hi\"]}", "messages[0]"},
      {"{\"prompt\":\"x\",\"messages\":[{\"content\":\"hi\"}]}", "messages[0].role"},
      {"{\"prompt\":\"x\",\"messages\":[{\"role\":\"user\"}]}", "messages[0].content"},
      {"{\"prompt\":\"x\",\"messages\":[{\"role\":\"user\",\"content\":1}]}", "messages[0].content"},
      {"{\"prompt\":\"x\",\"messages\":[{\"role\":\"\",\"content\":\"a\"}]}", "messages[0].role"},
      {"{\"prompt\":\"x\",\"max_tokens\":\"10\"}", "max_tokens"},
      {"{\"prompt\":\"x\",\"max_tokens\":0}", "max_tokens"},
      {"{\"prompt\":\"x\",\"max_tokens\":1.5}", "max_tokens"},
      {"{\"prompt\":\"x\",\"max_tokens\":-3}", "max_tokens"},
      {"{\"prompt\":\"x\",\"temperature\":\"hot\"}", "temperature"},
      {"{\"prompt\":\"x\",\"temperature\":2.5}", "temperature"},
      {"{\"prompt\":\"x\",\"top_p\":true}", "top_p"},
      {"{\"prompt\":\"x\",\"top_p\":1.01}", "top_p"},
      {"{\"prompt\":\"x\",\"stop\":5}", "stop"},
      {"{\"prompt\":\"x\",\"stop\":[\"a\",2]}", "stop[1]"},
      {"{\"prompt\":\"x\",\"stop\":[\"a\",\"b\",\"c\",\"d\",\"e\"]}", "stop"},
      {"{\"prompt\":\"x\",\"seed\":\"1\"}", "seed"},
      {"{\"prompt\":\"x\",\"seed\":0.5}", "seed"},
      {"{\"prompt\":\"x\",\"metadata\":\"m\"}", "metadata"},
      {"{\"prompt\":\"x\",\"metadata\":[1]}", "metadata"},
      {"{\"prompt\":\"x\",\"tenant\":5}", "tenant"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    expect("/api/llm/complete", cases[i].body, 422, "SCHEMA.VALIDATION_FAILED", cases[i].field);
    expect("/api/llm/stream", cases[i].body, 422, "SCHEMA.VALIDATION_FAILED", cases[i].field);
  }
  static const struct {
    const char *body, *field;
  } emb[] = {
      {"{}", "text is required"},
      {"{\"text\":null}", "text"},
      {"{\"text\":5}", "text must be an array of strings"},
      {"{\"text\":{}}", "text"},
      {"{\"text\":[]}", "text"},
      {"{\"text\":[\"a\",7]}", "text[1]"},
      {"{\"text\":[\"a\"],\"normalize\":\"yes\"}", "normalize"},
      {"{\"text\":[\"a\"],\"model\":[]}", "model"},
  };
  for (size_t i = 0; i < sizeof emb / sizeof emb[0]; i++)
    expect("/api/llm/embed", emb[i].body, 422, "SCHEMA.VALIDATION_FAILED", emb[i].field);
  cJSON *j = NULL;
  is_int(post("/api/llm/complete",
              "{\"prompt\":\"all fields\",\"max_tokens\":5,\"temperature\":0.5,\"top_p\":1,"
              "\"stop\":[\"a\",\"b\"],\"seed\":-4,\"metadata\":{\"k\":\"v\"},\"messages\":[],"
              "\"unknown_field\":true}",
              &j),
         200, "every field of the right type, and an unknown one, is accepted");
  cJSON_Delete(j);
  is_int(post("/api/llm/complete",
              "{\"prompt\":\"nulls\",\"max_tokens\":null,\"temperature\":null,\"top_p\":null,"
              "\"stop\":null,\"seed\":null,\"metadata\":null,\"messages\":null}",
              &j),
         200, "null counts as absent for every optional field");
  cJSON_Delete(j);
  check_malformed_bodies(&gw, "/api/llm/complete", TOKEN);
  check_malformed_bodies(&gw, "/api/llm/stream", TOKEN);
  check_malformed_bodies(&gw, "/api/llm/embed", TOKEN);
}

static void integration_llm_messages_history(void) {
  cJSON *j = NULL;
  is_int(post("/api/llm/complete",
              "{\"prompt\":\"and now?\",\"messages\":[{\"role\":\"system\",\"content\":\"be brief\"},"
              "{\"role\":\"user\",\"content\":\"hi there\"},{\"role\":\"assistant\",\"content\":\"hello\"}]}",
              &j),
         200, "a history is accepted");
  is_str(json_str(j, "response"), "echo: and now?", "echo answers the prompt");
  is_int(json_num(j, "usage.input_tokens", -1), 7, "input_tokens count the history too");
  cJSON_Delete(j);
  /* what a host provider receives: the history, then the prompt as the last user message */
  is_int(post("/api/llm/complete",
              "{\"prompt\":\"last\",\"model\":\"hostp:m1\",\"messages\":[{\"role\":\"system\","
              "\"content\":\"first\"}],\"max_tokens\":9,\"seed\":3,\"metadata\":{\"k\":1}}",
              &j),
         200, "host provider answers");
  const char *resp = json_str(j, "response");
  has_str(resp, "host m1: ", "the provider got the model part");
  has_str(resp, "\"messages\":[{\"role\":\"system\",\"content\":\"first\"},{\"role\":\"user\",\"content\":\"last\"}]",
          "history first, prompt appended as the last user message");
  has_str(resp, "\"max_tokens\":9", "max_tokens passed on");
  has_str(resp, "\"seed\":3", "seed passed on");
  has_str(resp, "\"metadata\":{\"k\":1}", "metadata passed on");
  ok(!strstr(resp, "temperature"), "absent fields are omitted");
  cJSON_Delete(j);
}

static void integration_llm_stream_echo(void) {
  http_resp r;
  http_post(&gw, "/api/llm/stream", TOKEN, "{\"prompt\":\"one two three\"}", &r);
  is_int(r.status, 200, "stream answers 200");
  has_str(resp_header(&r, "Content-Type"), "text/event-stream", "text/event-stream");
  ok(count(r.body, "event: delta\n") >= 3, "several delta events (%d)", count(r.body, "event: delta\n"));
  is_str(deltas(r.body), "echo: one two three", "the deltas add up to the answer");
  is_int(count(r.body, "event: done\n"), 1, "exactly one done event");
  is_int(count(r.body, "event: error\n"), 0, "no error event");
  ok(strstr(r.body, "event: done") > strstr(r.body, "event: delta"), "done comes last");
  cJSON *d = event_data(r.body, "done");
  is_int(json_num(d, "usage.input_tokens", -1), 3, "done carries usage.input_tokens");
  is_int(json_num(d, "usage.output_tokens", -1), 4, "and usage.output_tokens");
  is_str(json_str(d, "finish"), "stop", "and finish");
  is_str(json_str(d, "model"), "local:echo", "and model");
  cJSON_Delete(d);
  resp_free(&r);
}

static void integration_llm_stream_unknown_provider(void) {
  http_resp r;
  http_post(&gw, "/api/llm/stream", TOKEN, "{\"prompt\":\"x\",\"model\":\"nope:x\"}", &r);
  is_int(r.status, 200, "the stream opens");
  is_int(count(r.body, "event: error\n"), 1, "exactly one error event");
  is_int(count(r.body, "event: done\n"), 0, "no done event");
  is_int(count(r.body, "event: delta\n"), 0, "no delta");
  cJSON *e = event_data(r.body, "error");
  is_str(json_str(e, "code"), "PROVIDER.UNAVAILABLE", "error code");
  has_str(json_str(e, "message"), "unknown provider nope", "error message");
  ok(json_str(e, "correlation_id") != NULL, "correlation id");
  cJSON_Delete(e);
  resp_free(&r);
}

static void integration_llm_embed(void) {
  cJSON *a = NULL, *b = NULL, *n = NULL;
  is_int(post("/api/llm/embed", "{\"text\":[\"alpha\",\"beta\",\"alpha\"]}", &a), 200, "embed 200");
  is_str(json_str(a, "model"), "local:emb", "default embed_model");
  is_int(json_num(a, "dim", 0), 8, "dim 8");
  is_int(json_num(a, "usage.input_tokens", -1), 3, "usage.input_tokens");
  cJSON *va = cJSON_GetObjectItem(a, "vectors");
  is_int(cJSON_GetArraySize(va), 3, "one vector per text");
  cJSON *v0 = cJSON_GetArrayItem(va, 0), *v1 = cJSON_GetArrayItem(va, 1), *v2 = cJSON_GetArrayItem(va, 2);
  is_int(cJSON_GetArraySize(v0), 8, "8 numbers");
  ok(cJSON_Compare(v0, v2, 1), "same text, same vector");
  ok(!cJSON_Compare(v0, v1, 1), "other text, other vector");
  is_int(post("/api/llm/embed", "{\"text\":\"alpha\",\"model\":\"local:emb\"}", &b), 200,
         "a single string is taken as one text");
  ok(cJSON_Compare(cJSON_GetArrayItem(cJSON_GetObjectItem(b, "vectors"), 0), v0, 1),
     "deterministic across calls");
  is_int(post("/api/llm/embed", "{\"text\":[\"alpha\"],\"normalize\":true}", &n), 200, "normalize");
  cJSON *nv = cJSON_GetArrayItem(cJSON_GetObjectItem(n, "vectors"), 0);
  double norm = 0, raw = 0;
  for (int i = 0; i < 8; i++) {
    double x = cJSON_GetArrayItem(nv, i)->valuedouble, y = cJSON_GetArrayItem(v0, i)->valuedouble;
    norm += x * x;
    raw += y * y;
  }
  ok(fabs(norm - 1) < 1e-9, "normalized vector has unit length (%g)", norm);
  ok(fabs(raw - 1) > 1e-6, "the raw one does not (%g)", raw);
  double ratio = cJSON_GetArrayItem(nv, 0)->valuedouble / cJSON_GetArrayItem(v0, 0)->valuedouble;
  ok(fabs(cJSON_GetArrayItem(nv, 5)->valuedouble - cJSON_GetArrayItem(v0, 5)->valuedouble * ratio) < 1e-9,
     "and points the same way");
  cJSON_Delete(a);
  cJSON_Delete(b);
  cJSON_Delete(n);
  expect("/api/llm/embed", "{\"text\":[\"x\"],\"model\":\"local:echo\"}", 503,
         "PROVIDER.UNAVAILABLE", "echo");
}

/* ------------------------------------------------------------------------------------------ */
/* Host providers */

static void integration_llm_host_provider(void) {
  cJSON *j = NULL;
  is_int(post("/api/llm/complete", "{\"prompt\":\"hi\",\"model\":\"hostp:m\"}", &j), 200,
         "a provider registered by the host answers");
  is_str(json_str(j, "provider"), "hostp", "provider hostp");
  is_str(json_str(j, "finish"), "length", "its finish");
  is_int(json_num(j, "usage.input_tokens", -1), 7, "its usage");
  is_int(json_num(j, "usage.output_tokens", -1), 5, "its usage");
  cJSON_Delete(j);
  expect("/api/llm/complete", "{\"prompt\":\"x\",\"model\":\"hostp:fail\"}", 503,
         "PROVIDER.UNAVAILABLE", "the host model failed");
  expect("/api/llm/complete", "{\"prompt\":\"x\",\"model\":\"hostp:timeout\"}", 504, "LLM.TIMEOUT",
         "too long");
  http_resp r;
  http_post(&gw, "/api/llm/stream", TOKEN, "{\"prompt\":\"a\",\"model\":\"hostp:m\"}", &r);
  has_str(deltas(r.body), "host m: {", "a host provider's answer streams as deltas");
  is_int(count(r.body, "event: done\n"), 1, "then one done");
  resp_free(&r);
  http_post(&gw, "/api/llm/stream", TOKEN, "{\"prompt\":\"a\",\"model\":\"hostp:fail\"}", &r);
  is_int(count(r.body, "event: error\n"), 1, "a failing host provider streams one error");
  is_int(count(r.body, "event: done\n"), 0, "and no done");
  resp_free(&r);
  is_int(post("/api/llm/embed", "{\"text\":[\"abc\",\"de\"],\"model\":\"hostp:e\"}", &j), 200,
         "host embed");
  is_int(json_num(j, "dim", 0), 2, "its dim");
  is_int(cJSON_GetArrayItem(cJSON_GetArrayItem(cJSON_GetObjectItem(j, "vectors"), 1), 0)->valueint,
         2, "its vectors");
  cJSON_Delete(j);
  expect("/api/llm/embed", "{\"text\":[\"x\"],\"model\":\"hostp:fail\"}", 503,
         "PROVIDER.UNAVAILABLE", "embedder failed");
}

/* ------------------------------------------------------------------------------------------ */
/* An OpenAI-compatible upstream */

static void integration_llm_openai_success(void) {
  mock_reset();
  cJSON *j = NULL;
  is_int(post("/api/llm/complete",
              "{\"prompt\":\"ping \\\"quoted\\\"\",\"model\":\"mock:ok\",\"messages\":[{\"role\":"
              "\"system\",\"content\":\"sys\"}],\"max_tokens\":64,\"temperature\":0.7,\"top_p\":0.9,"
              "\"stop\":\"END\",\"seed\":42,\"metadata\":{\"trace\":\"t\"}}",
              &j),
         200, "mock:ok answers 200");
  is_str(json_str(j, "response"), "pong from mock", "choices[0].message.content mapped to response");
  is_int(json_num(j, "usage.input_tokens", -1), 11, "usage.prompt_tokens mapped to input_tokens");
  is_int(json_num(j, "usage.output_tokens", -1), 3, "usage.completion_tokens mapped");
  is_str(json_str(j, "finish"), "length", "finish_reason mapped to finish");
  is_str(json_str(j, "provider"), "mock", "provider");
  is_str(json_str(j, "model"), "mock:ok", "model");
  is_str(json_str(j, "prompt"), "ping \"quoted\"", "prompt");
  cJSON_Delete(j);
  pthread_mutex_lock(&mock.lock);
  char body[8192], auth[256], path[256];
  snprintf(body, sizeof body, "%s", mock.last_body);
  snprintf(auth, sizeof auth, "%s", mock.last_auth);
  snprintf(path, sizeof path, "%s", mock.last_path);
  pthread_mutex_unlock(&mock.lock);
  is_str(path, "/v1/chat/completions", "POST base_url + /chat/completions (one slash)");
  is_str(auth, "Bearer " MOCK_KEY, "the key sent as a Bearer token");
  cJSON *u = cJSON_Parse(body);
  ok(u != NULL, "the upstream got JSON");
  is_str(json_str(u, "model"), "ok", "model: the part after provider:");
  cJSON *msgs = cJSON_GetObjectItem(u, "messages");
  is_int(cJSON_GetArraySize(msgs), 2, "history + prompt");
  is_str(json_str(cJSON_GetArrayItem(msgs, 0), "role"), "system", "history first");
  is_str(json_str(cJSON_GetArrayItem(msgs, 1), "role"), "user", "prompt as the last user message");
  is_str(json_str(cJSON_GetArrayItem(msgs, 1), "content"), "ping \"quoted\"", "its content");
  is_int(json_num(u, "max_tokens", 0), 64, "max_tokens");
  ok(fabs(json_num(u, "temperature", 0) - 0.7) < 1e-12, "temperature");
  ok(fabs(json_num(u, "top_p", 0) - 0.9) < 1e-12, "top_p");
  is_str(json_str(u, "stop"), "END", "stop");
  is_int(json_num(u, "seed", 0), 42, "seed");
  ok(!cJSON_GetObjectItem(u, "metadata"), "metadata stays in the gateway");
  ok(!cJSON_GetObjectItem(u, "stream"), "no stream flag for complete");
  cJSON_Delete(u);
  /* the request id and trace context go upstream */
  const char *hdrs[] = {"Content-Type: application/json", "Authorization: Bearer " TOKEN,
                        "X-Request-Id: rid-llm-42",
                        "traceparent: 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", NULL};
  http_resp hr;
  http(&gw, "POST", "/api/llm/complete", hdrs, "{\"prompt\":\"p\",\"model\":\"mock:ok\"}", &hr);
  is_int(hr.status, 200, "a call with a request id and a traceparent");
  resp_free(&hr);
  pthread_mutex_lock(&mock.lock);
  is_str(mock.last_rid, "rid-llm-42", "X-Request-Id is passed upstream");
  is_str(mock.last_trace, "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
         "traceparent is passed upstream");
  pthread_mutex_unlock(&mock.lock);
  /* a provider without a key sends no Authorization */
  is_int(post("/api/llm/complete", "{\"prompt\":\"p\",\"model\":\"nokey:ok\"}", NULL), 200, "nokey:ok");
  pthread_mutex_lock(&mock.lock);
  snprintf(auth, sizeof auth, "%s", mock.last_auth);
  pthread_mutex_unlock(&mock.lock);
  is_str(auth, "", "no key configured: no Authorization header");
  /* no usage from the upstream: counted as words */
  is_int(post("/api/llm/complete", "{\"prompt\":\"a b\",\"model\":\"mock:nousage\"}", &j), 200, "nousage");
  is_int(json_num(j, "usage.input_tokens", -1), 2, "input words when the upstream gives no usage");
  is_int(json_num(j, "usage.output_tokens", -1), 4, "output words");
  cJSON_Delete(j);
  ok(!gw_log_has(&gw, MOCK_KEY), "the key never appears in the log");
}

/* An answer's text, counts and finish come out the same however the upstream wrote them: plain
 * JSON, escapes, \u escapes, numbers in other forms, members in other shapes; and what the
 * strict parser refuses is refused as invalid JSON, the rest as an answer without content. */
static void integration_llm_openai_answers(void) {
  static const struct {
    const char *answer, *want; /* want: the gateway's answer from "response" to "finish" */
    const char *refused;       /* or the failure's message */
  } cases[] = {
      {"{\"choices\":[{\"message\":{\"content\":\"a\\nb \\\"c\\\" \\\\ \\/ \\t\"},"
       "\"finish_reason\":\"stop\"}],\"usage\":{\"prompt_tokens\":2,\"completion_tokens\":5}}",
       "\"response\":\"a\\nb \\\"c\\\" \\\\ / \\t\",\"model\":\"mock:canned\",\"usage\":"
       "{\"input_tokens\":2,\"output_tokens\":5},\"finish\":\"stop\"", NULL},
      {"{\"choices\":[{\"message\":{\"content\":\"caf\\u00e9 \\ud83d\\ude00\"}}],"
       "\"usage\":{\"prompt_tokens\":1,\"completion_tokens\":2}}",
       "\"response\":\"caf\xc3\xa9 \xf0\x9f\x98\x80\",\"model\":\"mock:canned\",\"usage\":"
       "{\"input_tokens\":1,\"output_tokens\":2},\"finish\":\"stop\"", NULL},
      {"{\"usage\":{\"prompt_tokens\":3.0,\"completion_tokens\":1e1},\"choices\":[{\"index\":0,"
       "\"finish_reason\":\"a-finish-reason-of-more-than-31-bytes\",\"message\":{\"content\":null}}]}",
       "\"response\":\"\",\"model\":\"mock:canned\",\"usage\":{\"input_tokens\":3,"
       "\"output_tokens\":10},\"finish\":\"a-finish-reason-of-more-than-31\"", NULL},
      {"{\"choices\":[{\"message\":{},\"finish_reason\":\"\"}],\"usage\":{\"prompt_tokens\":-1,"
       "\"completion_tokens\":\"7\"}}",
       "\"response\":\"\",\"model\":\"mock:canned\",\"usage\":{\"input_tokens\":2,"
       "\"output_tokens\":0},\"finish\":\"stop\"", NULL},
      {"{\"choices\":[{\"message\":{\"content\":\"x y z\"},\"finish_reason\":null}],"
       "\"usage\":{\"prompt_tokens\":1234567890123456,\"completion_tokens\":123456789012345}}",
       "\"response\":\"x y z\",\"model\":\"mock:canned\",\"usage\":{\"input_tokens\":"
       "1234567890123456,\"output_tokens\":123456789012345},\"finish\":\"stop\"", NULL},
      {"{\"choices\":{\"first\":{\"message\":{\"content\":\"from an object\"}}},\"usage\":[]}",
       "\"response\":\"from an object\",\"model\":\"mock:canned\",\"usage\":{\"input_tokens\":2,"
       "\"output_tokens\":3},\"finish\":\"stop\"", NULL},
      {"{\"choices\":[{\"message\":{\"content\":\"one\",\"content\":\"two\"}}]}", NULL,
       "invalid JSON"},
      {"{\"choices\":[{\"message\":{\"content\":\"one\"}}],\"usage\":{\"a\":1,\"a\":2}}", NULL,
       "invalid JSON"},
      {"{\"choices\":[{\"message\":{\"content\":\"bad \\u0000\"}}]}", NULL, "invalid JSON"},
      {"{\"choices\":[{\"message\":{\"content\":\"x\"}}]} trailing", NULL, "invalid JSON"},
      {"{\"choices\":[{\"message\":{\"content\":7}}]}", NULL, "without choices[0].message.content"},
      {"{\"choices\":[{\"message\":\"text\"}]}", NULL, "without choices[0].message.content"},
      {"{\"choices\":[]}", NULL, "without choices[0].message.content"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    cJSON *req = cJSON_CreateObject();
    cJSON_AddStringToObject(req, "prompt", "a b");
    cJSON_AddStringToObject(req, "model", "mock:canned");
    cJSON_AddStringToObject(req, "stop", cases[i].answer);
    char *body = cJSON_PrintUnformatted(req);
    if (cases[i].want) {
      http_resp r;
      http_post(&gw, "/api/llm/complete", TOKEN, body, &r);
      char want[2048];
      snprintf(want, sizeof want,
               "{\"tenant\":\"tenant-demo\",\"prompt\":\"a b\",%s,\"provider\":\"mock\"}",
               cases[i].want);
      is_int(r.status, 200, "answer %zu is read", i);
      is_str(r.body, want, "  to the same answer");
      resp_free(&r);
    } else {
      expect("/api/llm/complete", body, 503, "PROVIDER.UNAVAILABLE", cases[i].refused);
    }
    free(body);
    cJSON_Delete(req);
  }
}

static void integration_llm_openai_retries(void) {
  mock_reset();
  cJSON *j = NULL;
  long long t0 = now_ms();
  is_int(post("/api/llm/complete", "{\"prompt\":\"p\",\"model\":\"mock:flaky\"}", &j), 200,
         "500, 500, then 200: the retries succeed");
  long long ms = now_ms() - t0;
  is_str(json_str(j, "response"), "pong from mock", "with the upstream's answer");
  cJSON_Delete(j);
  is_int(mock_get(&mock.requests), 3, "three attempts reached the upstream");
  ok(ms >= 300, "after backoff of 100 ms and 200 ms (%lld ms)", ms);
  mock_reset();
  expect("/api/llm/complete", "{\"prompt\":\"p\",\"model\":\"mock:down\"}", 503,
         "PROVIDER.UNAVAILABLE", "upstream status 503");
  is_int(mock_get(&mock.requests), 3, "1 + retries (2) attempts");
  mock_reset();
  expect("/api/llm/complete", "{\"prompt\":\"p\",\"model\":\"nokey:down\"}", 503,
         "PROVIDER.UNAVAILABLE", "upstream status 503 (1 attempt)");
  is_int(mock_get(&mock.requests), 1, "retries = 0: one attempt");
  mock_reset();
  expect("/api/llm/complete", "{\"prompt\":\"p\",\"model\":\"mock:e400\"}", 503,
         "PROVIDER.UNAVAILABLE", "upstream status 400 (bad request)");
  is_int(mock_get(&mock.requests), 1, "a 4xx is not retried");
  cJSON *e = NULL;
  post("/api/llm/complete", "{\"prompt\":\"p\",\"model\":\"mock:e401\"}", &e);
  has_str(json_str(e, "message"), "upstream status 401 (authentication failed)", "401 is named");
  ok(json_str(e, "message") && !strstr(json_str(e, "message"), "sk-te"),
     "but its message (which may quote the key) is not relayed");
  cJSON_Delete(e);
  expect("/api/llm/complete", "{\"prompt\":\"p\",\"model\":\"mock:badjson\"}", 503,
         "PROVIDER.UNAVAILABLE", "invalid JSON");
}

static void integration_llm_openai_timeout(void) {
  mock_reset();
  long long t0 = now_ms();
  expect("/api/llm/complete", "{\"prompt\":\"p\",\"model\":\"mock:slow\"}", 504, "LLM.TIMEOUT",
         "within 700 ms");
  long long ms = now_ms() - t0;
  ok(ms >= 650 && ms < 1400, "after timeout_ms, not after the upstream (%lld ms)", ms);
  is_int(mock_get(&mock.requests), 1, "a timeout is not retried");
}

static void integration_llm_openai_refused(void) {
  long long t0 = now_ms();
  expect("/api/llm/complete", "{\"prompt\":\"p\",\"model\":\"refused:x\"}", 503,
         "PROVIDER.UNAVAILABLE", "refused is unreachable (2 attempts)");
  ok(now_ms() - t0 >= 100, "retried once after 100 ms");
  http_resp r;
  http_post(&gw, "/api/llm/stream", TOKEN, "{\"prompt\":\"p\",\"model\":\"refused:x\"}", &r);
  is_int(count(r.body, "event: error\n"), 1, "a stream to an unreachable provider: one error event");
  has_str(r.body, "PROVIDER.UNAVAILABLE", "PROVIDER.UNAVAILABLE");
  resp_free(&r);
  expect("/api/llm/embed", "{\"text\":[\"p\"],\"model\":\"refused:x\"}", 503,
         "PROVIDER.UNAVAILABLE", "unreachable");
  ok(gw_log_has(&gw, "\"upstream call failed\""), "the failure is logged");
}

static void integration_llm_openai_stream(void) {
  mock_reset();
  http_resp r;
  http_post(&gw, "/api/llm/stream", TOKEN, "{\"prompt\":\"p q\",\"model\":\"mock:stream\"}", &r);
  is_int(r.status, 200, "upstream stream: 200");
  is_int(count(r.body, "event: delta\n"), 3, "three deltas relayed (empty ones dropped)");
  is_str(deltas(r.body), "Hello world", "the upstream's pieces, in order");
  is_int(count(r.body, "event: done\n"), 1, "one done");
  is_int(count(r.body, "event: error\n"), 0, "no error");
  cJSON *d = event_data(r.body, "done");
  is_int(json_num(d, "usage.input_tokens", -1), 5, "usage from the upstream's last event");
  is_int(json_num(d, "usage.output_tokens", -1), 3, "usage from the upstream's last event");
  is_str(json_str(d, "finish"), "stop", "finish_reason");
  is_str(json_str(d, "model"), "mock:stream", "model");
  cJSON_Delete(d);
  resp_free(&r);
  pthread_mutex_lock(&mock.lock);
  cJSON *u = cJSON_Parse(mock.last_body);
  pthread_mutex_unlock(&mock.lock);
  ok(cJSON_IsTrue(cJSON_GetObjectItem(u, "stream")), "the upstream was asked to stream");
  ok(cJSON_IsTrue(cJSON_GetObjectItem(cJSON_GetObjectItem(u, "stream_options"), "include_usage")),
     "with include_usage");
  cJSON_Delete(u);
  /* an upstream that answers one JSON object to a stream request */
  http_post(&gw, "/api/llm/stream", TOKEN, "{\"prompt\":\"p\",\"model\":\"mock:ok\"}", &r);
  is_str(deltas(r.body), "pong from mock", "a non-streaming answer is relayed as deltas");
  is_int(count(r.body, "event: done\n"), 1, "and one done");
  resp_free(&r);
  /* the upstream breaks off mid-way */
  http_post(&gw, "/api/llm/stream", TOKEN, "{\"prompt\":\"p\",\"model\":\"mock:streambreak\"}", &r);
  is_str(deltas(r.body), "partial ", "what came before the break is relayed");
  is_int(count(r.body, "event: error\n"), 1, "then exactly one error event");
  is_int(count(r.body, "event: done\n"), 0, "and no done");
  resp_free(&r);
  /* 5xx before anything was sent is retried for streams too */
  mock_reset();
  http_post(&gw, "/api/llm/stream", TOKEN, "{\"prompt\":\"p\",\"model\":\"mock:flaky\"}", &r);
  is_str(deltas(r.body), "pong from mock", "a stream retries 5xx before its first delta");
  resp_free(&r);
  http_post(&gw, "/api/llm/stream", TOKEN, "{\"prompt\":\"p\",\"model\":\"mock:slow\"}", &r);
  cJSON *e = event_data(r.body, "error");
  is_str(json_str(e, "code"), "LLM.TIMEOUT", "a stream that times out ends with LLM.TIMEOUT");
  cJSON_Delete(e);
  resp_free(&r);
}

static void integration_llm_openai_embed(void) {
  mock_reset();
  cJSON *j = NULL;
  is_int(post("/api/llm/embed", "{\"text\":[\"a\",\"b c\"],\"model\":\"mock:emb-1\"}", &j), 200,
         "embeddings through the upstream");
  is_int(json_num(j, "dim", 0), 3, "dim from the upstream");
  is_int(json_num(j, "usage.input_tokens", -1), 9, "usage.prompt_tokens");
  cJSON *v = cJSON_GetObjectItem(j, "vectors");
  is_int(cJSON_GetArrayItem(cJSON_GetArrayItem(v, 0), 0)->valueint, 3, "vectors placed by index");
  is_int(cJSON_GetArrayItem(cJSON_GetArrayItem(v, 1), 1)->valueint, 8, "vectors placed by index");
  cJSON_Delete(j);
  pthread_mutex_lock(&mock.lock);
  is_str(mock.last_path, "/v1/embeddings", "POST base_url + /embeddings");
  cJSON *u = cJSON_Parse(mock.last_body);
  pthread_mutex_unlock(&mock.lock);
  is_str(json_str(u, "model"), "emb-1", "the model part");
  is_int(cJSON_GetArraySize(cJSON_GetObjectItem(u, "input")), 2, "input: the texts");
  cJSON_Delete(u);
  is_int(post("/api/llm/embed", "{\"text\":[\"a\",\"b\"],\"model\":\"mock:e\",\"normalize\":true}", &j),
         200, "normalize");
  v = cJSON_GetArrayItem(cJSON_GetObjectItem(j, "vectors"), 1);
  ok(fabs(cJSON_GetArrayItem(v, 0)->valuedouble - 0.6) < 1e-12 &&
         fabs(cJSON_GetArrayItem(v, 1)->valuedouble - 0.8) < 1e-12,
     "upstream vectors scaled to unit length");
  cJSON_Delete(j);
}

static void integration_llm_keepalive(void) {
  mock_reset();
  int good = 0;
  for (int i = 0; i < 20; i++)
    good += post("/api/llm/complete", "{\"prompt\":\"p\",\"model\":\"mock:ok\"}", NULL) == 200;
  is_int(good, 20, "20 calls in a row succeed");
  is_int(mock_get(&mock.requests), 20, "20 upstream requests");
  ok(mock_get(&mock.connections) <= 2, "over kept-alive connections (%d opened)",
     mock_get(&mock.connections));
}

typedef struct worker {
  int good;
} worker;

static void *concurrent(void *arg) {
  worker *w = arg;
  for (int i = 0; i < 25; i++) {
    const char *body = i % 3 == 0   ? "{\"prompt\":\"p\",\"model\":\"mock:ok\"}"
                       : i % 3 == 1 ? "{\"prompt\":\"p\",\"model\":\"local:echo\"}"
                                    : "{\"prompt\":\"p\",\"model\":\"mock:stream\"}";
    http_resp r;
    http_post(&gw, i % 3 == 2 ? "/api/llm/stream" : "/api/llm/complete", TOKEN, body, &r);
    w->good += r.status == 200 && (i % 3 != 2 || strstr(r.body, "event: done"));
    resp_free(&r);
  }
  return NULL;
}

static void integration_llm_concurrent(void) {
  pthread_t t[8];
  worker w[8];
  memset(w, 0, sizeof w);
  for (int i = 0; i < 8; i++) pthread_create(&t[i], NULL, concurrent, &w[i]);
  int good = 0;
  for (int i = 0; i < 8; i++) {
    pthread_join(t[i], NULL);
    good += w[i].good;
  }
  is_int(good, 200, "200 concurrent calls over local, upstream and streams all succeed");
}

static void integration_llm_metrics(void) {
  double in0 = metric("soulgw_llm_tokens_total{model=\"mock:ok\",direction=\"input\"}");
  double out0 = metric("soulgw_llm_tokens_total{model=\"mock:ok\",direction=\"output\"}");
  double n0 = metric("soulgw_upstream_duration_seconds_count{provider=\"mock\"}");
  is_int(post("/api/llm/complete", "{\"prompt\":\"p\",\"model\":\"mock:ok\"}", NULL), 200, "a call");
  is_int(metric("soulgw_llm_tokens_total{model=\"mock:ok\",direction=\"input\"}") - in0, 11,
         "soulgw_llm_tokens_total{model,direction=\"input\"} grows by the prompt tokens");
  is_int(metric("soulgw_llm_tokens_total{model=\"mock:ok\",direction=\"output\"}") - out0, 3,
         "direction=\"output\" by the completion tokens");
  is_int(metric("soulgw_upstream_duration_seconds_count{provider=\"mock\"}") - n0, 1,
         "soulgw_upstream_duration_seconds{provider} observes the call");
  ok(metric("soulgw_llm_tokens_total{model=\"local:echo\",direction=\"output\"}") > 0,
     "local models are counted too");
  ok(metric("soulgw_upstream_duration_seconds_count{provider=\"hostp\"}") > 0,
     "host providers are timed");
  ok(metric("soulgw_llm_tokens_total{model=\"nope:gpt\",direction=\"input\"}") < 0,
     "failed calls add no series");
}

static void integration_llm_reload(void) {
  expect("/api/llm/complete", "{\"prompt\":\"p\",\"model\":\"late:ok\"}", 503,
         "PROVIDER.UNAVAILABLE", "unknown provider late");
  char extra[512], t[8192];
  snprintf(extra, sizeof extra,
           "\n[llm.providers.late]\nbase_url = \"http://127.0.0.1:%d/v1\"\napi_key = \"sk-late\"\n",
           mock.port);
  make_toml(t, sizeof t, extra);
  gw_write_config(&gw, t);
  gw_signal(&gw, SIGHUP);
  long st = 0;
  for (int i = 0; i < 50 && st != 200; i++) {
    usleep(100 * 1000);
    st = post("/api/llm/complete", "{\"prompt\":\"p\",\"model\":\"late:ok\"}", NULL);
  }
  is_int(st, 200, "a provider added by a reload serves the next request");
  pthread_mutex_lock(&mock.lock);
  is_str(mock.last_auth, "Bearer sk-late", "with its key");
  pthread_mutex_unlock(&mock.lock);
}

/* The gateway drains while an upstream stream hangs: the stream still ends with an error. */
typedef struct call {
  const char *path, *body;
  long status;
  char *resp;
} call;

static void *do_post(void *arg) {
  call *c = arg;
  http_resp r;
  http_post(&gw, c->path, TOKEN, c->body, &r);
  c->status = r.status;
  c->resp = strdup(r.body ? r.body : "");
  resp_free(&r);
  return NULL;
}

static void integration_llm_drain_stream(void) {
  char t[8192];
  char extra[256];
  snprintf(extra, sizeof extra,
           "\n[llm.providers.patient]\nbase_url = \"http://127.0.0.1:%d/v1\"\ntimeout_ms = 20000\n",
           mock.port);
  make_toml(t, sizeof t, extra);
  const char *env[] = {"MOCK_LLM_KEY=" MOCK_KEY, "GATEWAY__SERVER__DRAIN_TIMEOUT_S=1", NULL};
  if (gw_start(&gw, harness_testhost_bin(), t, env, NULL) != 0) {
    ok(0, "the test host starts");
    return;
  }
  call c = {"/api/llm/stream", "{\"prompt\":\"p\",\"model\":\"patient:streamhang\"}", 0, NULL};
  call d = {"/api/llm/complete", "{\"prompt\":\"p\",\"model\":\"mock:slow\"}", 0, NULL};
  pthread_t th, th2;
  pthread_create(&th, NULL, do_post, &c);
  usleep(400 * 1000);
  gw_signal(&gw, SIGTERM);
  pthread_create(&th2, NULL, do_post, &d); /* refused or answered: never a hang */
  pthread_join(th, NULL);
  pthread_join(th2, NULL);
  is_int(c.status, 200, "the stream was open");
  is_str(deltas(c.resp), "partial ", "its first delta went out");
  is_int(count(c.resp, "event: error\n"), 1, "a drain cut it with exactly one error event");
  is_int(count(c.resp, "event: done\n"), 0, "no done");
  has_str(c.resp, "shutting down", "saying why");
  is_int(gw_stop(&gw), 0, "exit status 0");
  free(c.resp);
  free(d.resp);
}

static const tap_test tests[] = {
    TEST(integration_llm_echo_usage),           TEST(integration_llm_default_model),
    TEST(integration_llm_unknown_provider),     TEST(integration_llm_bad_model_format),
    TEST(integration_llm_field_types),          TEST(integration_llm_messages_history),
    TEST(integration_llm_stream_echo),          TEST(integration_llm_stream_unknown_provider),
    TEST(integration_llm_embed),                TEST(integration_llm_host_provider),
    TEST(integration_llm_openai_success),       TEST(integration_llm_openai_answers),
    TEST(integration_llm_openai_retries),
    TEST(integration_llm_openai_timeout),       TEST(integration_llm_openai_refused),
    TEST(integration_llm_openai_stream),        TEST(integration_llm_openai_embed),
    TEST(integration_llm_keepalive),            TEST(integration_llm_concurrent),
    TEST(integration_llm_metrics),              TEST(integration_llm_reload),
};

int main(void) {
  if (mock_start() != 0) {
    ok(0, "the mock upstream starts");
    return tap_done();
  }
  if (tap_want(tests, TAP_COUNT(tests))) {
    make_toml(toml, sizeof toml, "");
    const char *env[] = {"MOCK_LLM_KEY=" MOCK_KEY, NULL};
    if (gw_start(&gw, harness_testhost_bin(), toml, env, NULL) != 0) {
      ok(0, "the test host starts");
      return tap_done();
    }
    tap_run(tests, TAP_COUNT(tests));
    is_int(gw_stop(&gw), 0, "SIGTERM: exit status 0");
  }
  RUN(integration_llm_drain_stream);
  mock.quit = 1;
  MHD_stop_daemon(mock.d);
  return tap_done();
}
