/*
 * tool_bodies.c -- POST /api/tools/execute answers every body exactly as it always has, whether
 * the gateway reads it from its text (the common request to builtin:echo, answered without a
 * tree) or through its tree (anything else): a table of bodies, valid and invalid, each with
 * its status, Content-Type, Idempotent-Replayed and body byte for byte.  The table was taken
 * from the gateway before tool bodies were read from their text.
 *
 * Every request carries the same X-Request-Id (unless a case names its own), so call ids,
 * evidence refs and correlation ids are the same each run; only "duration_ms" is masked.  The
 * cases run in order: an idempotency key is recorded by one case and replayed by the next.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"
#include "tap.h"

#define TOKEN "test-token"

static gwproc gw;

/* The tools the cases call, all builtin:echo: demo.echo as shipped (input an object, keyed
 * idempotency), t.any (any input), t.schema (a schema that needs a tree), t.small (8 bytes in),
 * t.smallout (10 bytes out), t.outschema (an output_schema), t.scoped (a scope nobody holds). */
#define TOOL(id, in_schema, out_schema, in, out, scopes)                                      \
  "{\"tenant\":\"tenant-demo\",\"id\":\"" id "\",\"version\":\"1.0.0\",\"display_name\":\"T\"," \
  "\"description\":\"d\",\"tags\":[],\"input_schema\":" in_schema ",\"output_schema\":"         \
  out_schema ",\"scopes\":" scopes ",\"side_effect\":\"None\",\"safety_class\":\"Low\","       \
  "\"limits\":{\"timeout_ms\":1000,\"max_bytes_in\":" in ",\"max_bytes_out\":" out             \
  ",\"max_concurrency\":0},\"idempotency\":\"Keyed\",\"handler\":\"builtin:echo\"}"
static const char MANIFESTS[] =
    "[" TOOL("demo.echo", "{\"type\":\"object\"}", "{}", "65536", "65536", "[]") ","
    TOOL("t.any", "{}", "{}", "0", "0", "[]") ","
    TOOL("t.schema",
         "{\"type\":\"object\",\"required\":[\"text\"],\"properties\":{\"text\":{\"type\":"
         "\"string\"}}}",
         "{}", "0", "0", "[]") ","
    TOOL("t.small", "{\"type\":\"object\"}", "{}", "16", "0", "[]") ","
    TOOL("t.smallout", "{}", "{}", "0", "10", "[]") ","
    TOOL("t.outschema", "{}", "{\"type\":\"object\",\"required\":[\"x\"]}", "0", "0", "[]") ","
    TOOL("t.scoped", "{}", "{}", "0", "0", "[\"tool:special\"]") "]";

/* One case: the body sent (with one extra header, or NULL), then what comes back. */
typedef struct tool_case {
  const char *body, *header;
  long status;
  const char *type, *replayed; /* Content-Type, Idempotent-Replayed ("" for none) */
  const char *answer;
} tool_case;

#include "tool_bodies_table.h"

/* Prints the answers as table entries into the file TOOL_BODIES_PRINT names, for taking a new
 * table from a gateway. */
static void print_case(FILE *f, const tool_case *c, long status, const char *type,
                       const char *replayed, const char *answer) {
  fprintf(f, "    {");
  print_c_literal(f, c->body);
  fprintf(f, ", ");
  if (c->header) print_c_literal(f, c->header);
  else fprintf(f, "NULL");
  fprintf(f, ",\n     %ld, ", status);
  print_c_literal(f, type);
  fprintf(f, ", ");
  print_c_literal(f, replayed);
  fprintf(f, ",\n     ");
  print_c_literal(f, answer);
  fprintf(f, "},\n");
}

/* s with every "duration_ms": value set to 0 (in place), escaped or not (a replayed answer
 * holds the first run's). */
static char *timeless(char *s) {
  for (char *p = s; (p = strstr(p, "\"duration_ms\":")); ) {
    p += 14;
    char *e = p;
    while ((*e >= '0' && *e <= '9') || *e == '.') e++;
    if (e > p) memmove(p + 1, e, strlen(e) + 1), *p = '0';
  }
  return s;
}

static const char *hdr(const http_resp *r, const char *name) {
  const char *v = resp_header(r, name);
  return v ? v : "";
}

static void integration_tool_bodies_table(void) {
  const char *print = getenv("TOOL_BODIES_PRINT");
  FILE *pf = print ? fopen(print, "w") : NULL;
  for (size_t i = 0; i < SG_TOOL_CASES; i++) {
    const tool_case *c = &TOOL_CASES[i];
    /* a case's header may be its own X-Request-Id instead */
    int rid = c->header && !strncmp(c->header, "X-Request-Id:", 13);
    const char *headers[] = {"Content-Type: application/json", "Authorization: Bearer " TOKEN,
                             rid ? c->header : "X-Request-Id: rid-tool-bodies",
                             rid ? NULL : c->header, NULL};
    http_resp r;
    http(&gw, "POST", "/api/tools/execute", headers, c->body, &r);
    char type[128], replayed[64], *answer = timeless(strdup(r.body ? r.body : ""));
    char *want = timeless(strdup(c->answer));
    snprintf(type, sizeof type, "%s", hdr(&r, "Content-Type"));
    snprintf(replayed, sizeof replayed, "%s", hdr(&r, "Idempotent-Replayed"));
    if (pf) print_case(pf, c, r.status, type, replayed, answer);
    char what[96];
    snprintf(what, sizeof what, "case %zu: %.60s", i, c->body);
    for (char *p = what; *p; p++)
      if ((unsigned char)*p < 0x20) *p = ' '; /* one TAP line */
    is_int(r.status, c->status, "%s", what);
    is_str(type, c->type, "  Content-Type");
    is_str(replayed, c->replayed, "  Idempotent-Replayed");
    is_str(answer, want, "  the answer");
    free(answer);
    free(want);
    resp_free(&r);
  }
  if (pf) fclose(pf);
}

static const tap_test tests[] = {
    TEST(integration_tool_bodies_table),
};

int main(void) {
  char path[] = "/tmp/soulgw-tool-bodies-XXXXXX";
  int fd = mkstemp(path);
  if (fd < 0 || write(fd, MANIFESTS, sizeof MANIFESTS - 1) != (ssize_t)(sizeof MANIFESTS - 1)) {
    ok(0, "the manifests file is written");
    return tap_done();
  }
  close(fd);
  char toml[8192];
  const char *d = HARNESS_DEFAULT_TOML;
  const char *at = strstr(d, "manifests_file");
  snprintf(toml, sizeof toml, "%.*smanifests_file = \"%s\"\n", (int)(at - d), d, path);
  int rc = tap_with_gateway(&gw, harness_soulgw_bin(), toml, NULL, tests, TAP_COUNT(tests));
  unlink(path);
  return rc;
}
