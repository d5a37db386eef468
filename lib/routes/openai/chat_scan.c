/*
 * chat_scan.c -- the common chat completion request read from its text (see chat_scan.h).
 *
 * Every test here is narrower than the field table's (chat.c): a value is taken only in the
 * plainest form that the table surely accepts (a role with no escape, content a string, an
 * integer of at most 15 digits); anything else sends the request to the table, which answers
 * a mistake with its own words.  The body's text has passed json_scan.h's plain scan, so its
 * values are read as the parser would read them, and a value's first byte names its type.
 */
#include <locale.h>
#include <stdlib.h>
#include <string.h>

#include "routes/openai/chat_scan.h"

enum {
  K_MODEL,
  K_MESSAGES,
  K_STREAM,
  K_STREAM_OPTIONS,
  K_N,
  K_MAX_TOKENS,
  K_MAX_COMPLETION_TOKENS,
  K_TEMPERATURE,
  K_TOP_P,
  K_STOP,
  K_SEED,
  K_USER,
  K_TOOLS,
  K_TOOL_CHOICE,
  K_COUNT
};

const char *const sg_chat_scan_keys[SG_CHAT_SCAN_NKEYS] = {
    "model", "messages", "stream", "stream_options", "n", "max_tokens",
    "max_completion_tokens", "temperature", "top_p", "stop", "seed", "user", "tools",
    "tool_choice"};
_Static_assert(K_COUNT == SG_CHAT_SCAN_NKEYS, "one key per field");

static const char *const ROLES[] = {"system", "developer", "user", "assistant", "tool"};

/* A value of a text, by its first byte. */
typedef struct val {
  const char *p;
  size_t n;
  int found;
} val;

static val val_of(const char *text, const sg_json_span *s) {
  val v = {text + s->start, s->end - s->start, s->found};
  return v;
}

/* Absent or null: the field takes its default. */
static int absent(val v) { return !v.found || v.p[0] == 'n'; }

/* A string without an escape of at most max bytes: the same bytes as the parser's string.
 * Its bytes between the quotes in *s, *n. */
static int plain_string(val v, size_t max, const char **s, size_t *n) {
  if (v.p[0] != '"' || v.n < 2 || v.n - 2 > max || memchr(v.p + 1, '\\', v.n - 2)) return 0;
  *s = v.p + 1;
  *n = v.n - 2;
  return 1;
}

/* An integer of 1 to 15 digits (so exact as the parser's double), not -0, in [lo, hi]. */
static int small_int(val v, long long lo, long long hi) {
  size_t i = v.p[0] == '-';
  if (v.n - i < 1 || v.n - i > 15) return 0;
  long long n = 0;
  for (size_t k = i; k < v.n; k++) {
    if (v.p[k] < '0' || v.p[k] > '9') return 0;
    n = n * 10 + (v.p[k] - '0');
  }
  if (i && n == 0) return 0;
  if (i) n = -n;
  return n >= lo && n <= hi;
}

/* A number in [lo, hi], read as cJSON reads it: strtod over its bytes with the locale's decimal
 * point for '.' (a plain text's numbers are at most 63 bytes). */
static int number_in(val v, double lo, double hi) {
  char buf[64];
  if (!(v.p[0] == '-' || (v.p[0] >= '0' && v.p[0] <= '9')) || v.n >= sizeof buf) return 0;
  char point = localeconv()->decimal_point[0];
  for (size_t k = 0; k < v.n; k++) buf[k] = v.p[k] == '.' ? point : v.p[k];
  buf[v.n] = '\0';
  double d = strtod(buf, NULL);
  return d >= lo && d <= hi;
}

/* Counts the elements of an array, up to max + 1. */
static size_t count(val v, size_t max) {
  sg_json_span e = {0, 0, 0};
  size_t n = 0;
  while (n <= max && sg_json_scan_next(v.p, v.n, &e) == 1) n++;
  return n;
}

/* One message: an object whose role is one of ROLES, written without an escape, and whose
 * content is a string. */
static int plain_message(val m) {
  static const char *const keys[] = {"role", "content"};
  sg_json_span sp[2];
  const char *role;
  size_t n;
  if (m.p[0] != '{' || sg_json_scan_members_of(m.p, m.n, keys, 2, sp) != 0) return 0;
  val r = val_of(m.p, &sp[0]), c = val_of(m.p, &sp[1]);
  if (!r.found || !c.found || c.p[0] != '"' || !plain_string(r, 16, &role, &n)) return 0;
  for (size_t i = 0; i < SG_ARRAY_LEN(ROLES); i++)
    if (strlen(ROLES[i]) == n && memcmp(ROLES[i], role, n) == 0) return 1;
  return 0;
}

/* 1 to SG_CHAT_MESSAGES_MAX plain messages. */
static int plain_messages(val v) {
  if (!v.found || v.p[0] != '[') return 0;
  sg_json_span e = {0, 0, 0};
  size_t n = 0;
  while (sg_json_scan_next(v.p, v.n, &e) == 1) {
    if (++n > SG_CHAT_MESSAGES_MAX || !plain_message(val_of(v.p, &e))) return 0;
  }
  return n > 0;
}

/* "stream_options": absent, null, or an object whose include_usage is absent, null or a
 * boolean. */
static int plain_stream_options(val v, int *include_usage) {
  static const char *const keys[] = {"include_usage"};
  sg_json_span sp;
  *include_usage = 0;
  if (absent(v)) return 1;
  if (v.p[0] != '{' || sg_json_scan_members_of(v.p, v.n, keys, 1, &sp) != 0) return 0;
  val u = val_of(v.p, &sp);
  if (absent(u)) return 1;
  if (u.p[0] != 't' && u.p[0] != 'f') return 0;
  *include_usage = u.p[0] == 't';
  return 1;
}

/* The fields that neither the relay nor the field table's checks read beyond their type and
 * range: each absent, null, or plainly within the table's bounds. */
static int plain_rest(const val *f) {
  const char *s;
  size_t n;
  return (absent(f[K_N]) || (f[K_N].n == 1 && f[K_N].p[0] == '1')) &&
         (absent(f[K_MAX_TOKENS]) || small_int(f[K_MAX_TOKENS], 1, SG_CHAT_TOKENS_MAX)) &&
         (absent(f[K_MAX_COMPLETION_TOKENS]) ||
          small_int(f[K_MAX_COMPLETION_TOKENS], 1, SG_CHAT_TOKENS_MAX)) &&
         (absent(f[K_TEMPERATURE]) || number_in(f[K_TEMPERATURE], 0, 2)) &&
         (absent(f[K_TOP_P]) || number_in(f[K_TOP_P], 0, 1)) &&
         (absent(f[K_STOP]) || f[K_STOP].p[0] == '"') &&
         (absent(f[K_SEED]) || small_int(f[K_SEED], -SG_CHAT_SEED_MAX, SG_CHAT_SEED_MAX)) &&
         (absent(f[K_USER]) || plain_string(f[K_USER], SG_CHAT_USER_MAX, &s, &n)) &&
         (absent(f[K_TOOLS]) ||
          (f[K_TOOLS].p[0] == '[' && count(f[K_TOOLS], SG_CHAT_TOOLS_MAX) <= SG_CHAT_TOOLS_MAX)) &&
         (absent(f[K_TOOL_CHOICE]) || f[K_TOOL_CHOICE].p[0] == '"' ||
          f[K_TOOL_CHOICE].p[0] == '{');
}

int sg_chat_scan_body(soulgw_req *req, sg_chat_scan *out) {
  sg_json_span sp[K_COUNT];
  val f[K_COUNT];
  const char *model;
  size_t model_len;
  /* sg_fields_begin()'s refusals, left to it: no tenant, no body or not an object */
  if (!req->json_pending || !req->tenant) return -1;
  const char *body = req->body.ptr;
  /* the pipeline's scan found them (the route's body_keys); else the text is read again */
  if (req->body_spans)
    memcpy(sp, req->body_spans, sizeof sp);
  else if (sg_json_scan_members_of(body, req->body.len, sg_chat_scan_keys, K_COUNT, sp) != 0)
    return -1;
  for (size_t k = 0; k < K_COUNT; k++) f[k] = val_of(body, &sp[k]);
  if (!f[K_MODEL].found || !plain_string(f[K_MODEL], SG_CHAT_MODEL_MAX, &model, &model_len) ||
      !plain_messages(f[K_MESSAGES]) ||
      !(absent(f[K_STREAM]) || f[K_STREAM].p[0] == 't' || f[K_STREAM].p[0] == 'f') ||
      !plain_stream_options(f[K_STREAM_OPTIONS], &out->include_usage) || !plain_rest(f))
    return -1;
  char *m = sg_arena_alloc(&req->arena, model_len + 1);
  if (!m) return -1; /* the table's way answers out of memory if it must */
  memcpy(m, model, model_len);
  m[model_len] = '\0';
  out->model = m;
  out->stream = f[K_STREAM].found && f[K_STREAM].p[0] == 't';
  out->has_stream_options = sp[K_STREAM_OPTIONS].found;
  out->model_at = sp[K_MODEL];
  return 0;
}
