/*
 * v1_bodies.c -- POST /v1/chat/completions answers every body exactly as it always has, whether
 * the gateway reads it from its text (the common request, relayed without a tree) or through
 * its tree (anything else): a table of bodies, valid and invalid, with their status, headers
 * and body byte for byte, and for the relayed ones the body the upstream received.  The table
 * was taken from the gateway before the body was read from its text.
 *
 * The mock upstream answers any chat completion with one fixed object, or with two fixed events
 * when the body asks for a stream.
 */
#include <microhttpd.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "mockup.h"
#include "tap.h"

#define TOKEN "test-token"

static gwproc gw;

static struct {
  pthread_mutex_t lock;
  struct MHD_Daemon *d;
  int port;
  char last_body[65536];
} mock = {PTHREAD_MUTEX_INITIALIZER, NULL, 0, ""};

static const char ANSWER[] =
    "{\"id\":\"cmpl-1\",\"object\":\"chat.completion\",\"created\":7,\"model\":\"up\","
    "\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\",\"content\":\"pong\"},"
    "\"finish_reason\":\"stop\"}],\"usage\":{\"prompt_tokens\":3,\"completion_tokens\":1,"
    "\"total_tokens\":4}}";
static const char EVENTS[] =
    "data: {\"id\":\"c\",\"object\":\"chat.completion.chunk\",\"created\":7,\"model\":\"up\","
    "\"choices\":[{\"index\":0,\"delta\":{\"content\":\"po\"}}]}\n\n"
    "data: {\"id\":\"c\",\"object\":\"chat.completion.chunk\",\"created\":7,\"model\":\"up\","
    "\"choices\":[],\"usage\":{\"prompt_tokens\":3,\"completion_tokens\":1,\"total_tokens\":4}}"
    "\n\ndata: [DONE]\n\n";

static enum MHD_Result mock_handle(void *cls, struct MHD_Connection *c, const char *url,
                                   const char *method, const char *version, const char *data,
                                   size_t *size, void **state) {
  (void)cls;
  (void)url;
  (void)method;
  (void)version;
  mock_body *b = mock_collect(state, data, size);
  if (!b) return MHD_YES;
  pthread_mutex_lock(&mock.lock);
  snprintf(mock.last_body, sizeof mock.last_body, "%s", b->p ? b->p : "");
  pthread_mutex_unlock(&mock.lock);
  if (!b->p || !strstr(b->p, "\"stream\":true")) return mock_reply(c, 200, ANSWER);
  char ev[sizeof EVENTS];
  memcpy(ev, EVENTS, sizeof ev);
  struct MHD_Response *r = MHD_create_response_from_buffer(strlen(ev), ev, MHD_RESPMEM_MUST_COPY);
  MHD_add_response_header(r, "Content-Type", "text/event-stream");
  enum MHD_Result ret = MHD_queue_response(c, 200, r);
  MHD_destroy_response(r);
  return ret;
}

/* One case: the body sent, then what comes back.  upstream: the body the upstream received, or
 * NULL when none is expected (the call was refused or answered locally). */
typedef struct v1_case {
  const char *body;
  long status;
  const char *type, *model; /* Content-Type, X-Soulgw-Model ("" for none) */
  const char *answer;
  const char *upstream;
} v1_case;

#include "v1_bodies_table.h"

/* Prints the answers as table entries into the file V1_BODIES_PRINT names, for taking a new
 * table from a gateway. */
static void print_case(FILE *f, const char *body, long status, const char *type,
                       const char *model, const char *answer, const char *up) {
  fprintf(f, "    {");
  print_c_literal(f, body);
  fprintf(f, ",\n     %ld, ", status);
  print_c_literal(f, type);
  fprintf(f, ", ");
  print_c_literal(f, model);
  fprintf(f, ",\n     ");
  print_c_literal(f, answer);
  fprintf(f, ",\n     ");
  if (up[0]) print_c_literal(f, up);
  else fprintf(f, "NULL");
  fprintf(f, "},\n");
}

/* s with the digits of every "created": set to 0 (in place): a completion answered by the
 * gateway itself (a body the relay cannot splice) says when it was made. */
static char *timeless(char *s) {
  for (char *p = s; (p = strstr(p, "\"created\":")); ) {
    p += 10;
    char *e = p;
    while (*e >= '0' && *e <= '9') e++;
    if (e > p) memmove(p + 1, e, strlen(e) + 1), *p = '0';
  }
  return s;
}

static const char *hdr(const http_resp *r, const char *name) {
  const char *v = resp_header(r, name);
  return v ? v : "";
}

static void integration_v1_bodies_table(void) {
  const char *headers[] = {"Content-Type: application/json", "Authorization: Bearer " TOKEN,
                           "X-Request-Id: rid-v1-bodies", NULL};
  const char *print = getenv("V1_BODIES_PRINT");
  FILE *pf = print ? fopen(print, "w") : NULL;
  for (size_t i = 0; i < SG_V1_CASES; i++) {
    const v1_case *c = &V1_CASES[i];
    pthread_mutex_lock(&mock.lock);
    mock.last_body[0] = '\0';
    pthread_mutex_unlock(&mock.lock);
    http_resp r;
    http(&gw, "POST", "/v1/chat/completions", headers, c->body, &r);
    char type[128], model[600], up[65536], *answer = timeless(strdup(r.body ? r.body : ""));
    char *want = timeless(strdup(c->answer));
    snprintf(type, sizeof type, "%s", hdr(&r, "Content-Type"));
    snprintf(model, sizeof model, "%s", hdr(&r, "X-Soulgw-Model"));
    pthread_mutex_lock(&mock.lock);
    snprintf(up, sizeof up, "%s", mock.last_body);
    pthread_mutex_unlock(&mock.lock);
    if (pf) print_case(pf, c->body, r.status, type, model, answer, up);
    char what[96];
    snprintf(what, sizeof what, "case %zu: %.60s", i, c->body);
    for (char *p = what; *p; p++)
      if ((unsigned char)*p < 0x20) *p = ' '; /* one TAP line */
    is_int(r.status, c->status, "%s", what);
    is_str(type, c->type, "  Content-Type");
    is_str(model, c->model, "  X-Soulgw-Model");
    is_str(answer, want, "  the answer");
    is_str(up, c->upstream ? c->upstream : "", "  what the upstream received");
    free(answer);
    free(want);
    resp_free(&r);
  }
  if (pf) fclose(pf);
}

static const tap_test tests[] = {
    TEST(integration_v1_bodies_table),
};

int main(void) {
  mock.d = mock_daemon(mock_handle, NULL, &mock.port);
  if (!mock.d) {
    ok(0, "the mock upstream starts");
    return tap_done();
  }
  char toml[8192];
  snprintf(toml, sizeof toml,
           "%s\n[llm.providers.mock]\nkind = \"openai\"\nbase_url = \"http://127.0.0.1:%d/v1\"\n"
           "retries = 0\n\n[llm.models.al]\ntargets = [\"mock:up\"]\n",
           HARNESS_DEFAULT_TOML, mock.port);
  int rc = tap_with_gateway(&gw, harness_soulgw_bin(), toml, NULL, tests, TAP_COUNT(tests));
  MHD_stop_daemon(mock.d);
  return rc;
}
