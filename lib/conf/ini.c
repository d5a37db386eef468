/*
 * ini.c -- inih glue: the only file that calls inih.  See toml_ini.h for what it adds to inih.
 */
#include <ini.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf/toml_ini.h"
#include "base/sg.h"

enum line_kind { LINE_BLANK, LINE_SECTION, LINE_KEY, LINE_CONT, LINE_BAD };

typedef struct seen_key {
  char *name; /* "section\0key" flattened as "section.key" */
  int line;
} seen_key;

typedef struct parser {
  const char *pos, *end;
  int lineno;
  /* what the reader found on the current line */
  enum line_kind kind;
  char content[1024]; /* the line without comment and surrounding blanks */
  const char *value;  /* for LINE_KEY: inside content, after '=' */
  int depth;          /* open '[' of the value being read, outside quotes */
  /* the key being assembled */
  sg_buf pending;
  char pending_section[256];
  char pending_key[256];
  int pending_line;
  int section_line;
  char section[256];
  seen_key *seen;
  size_t nseen, capseen;
  /* user */
  sg_ini_fn fn;
  void *ud;
  char *err;
  size_t errlen;
  int errline;
  int failed;
} parser;

static void fail(parser *p, int line, const char *fmt, ...) SG_PRINTF(3, 4);
static void fail(parser *p, int line, const char *fmt, ...) {
  if (p->failed) return; /* keep the first */
  p->failed = 1;
  p->errline = line;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(p->err, p->errlen, fmt, ap);
  va_end(ap);
}

/* Strips a '#' comment that is outside quotes; returns the new length.  Basic strings honour
 * backslash escapes, literal strings ('...') do not. */
static size_t strip_comment(const char *s, size_t n) {
  char q = 0;
  for (size_t i = 0; i < n; i++) {
    char c = s[i];
    if (q == '"' && c == '\\') {
      i++;
    } else if (q) {
      if (c == q) q = 0;
    } else if (c == '"' || c == '\'') {
      q = c;
    } else if (c == '#') {
      return i;
    }
  }
  return n;
}

/* Net change of bracket depth over s, outside quotes. */
static int bracket_delta(const char *s) {
  char q = 0;
  int d = 0;
  for (; *s; s++) {
    if (q == '"' && *s == '\\' && s[1]) {
      s++;
    } else if (q) {
      if (*s == q) q = 0;
    } else if (*s == '"' || *s == '\'') {
      q = *s;
    } else if (*s == '[') {
      d++;
    } else if (*s == ']') {
      d--;
    }
  }
  return d;
}

static int bare_name(const char *s, size_t n, int dotted) {
  if (n == 0) return 0;
  for (size_t i = 0; i < n; i++) {
    char c = s[i];
    int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
             c == '_' || c == '-' || (dotted && c == '.');
    if (!ok) return 0;
  }
  if (dotted && (s[0] == '.' || s[n - 1] == '.' || memmem(s, n, "..", 2))) return 0;
  return 1;
}

static int remember(parser *p, const char *name, int line) {
  for (size_t i = 0; i < p->nseen; i++) {
    if (strcmp(p->seen[i].name, name) == 0) return p->seen[i].line;
  }
  if (p->nseen == p->capseen) {
    size_t cap = p->capseen ? p->capseen * 2 : 32;
    seen_key *v = realloc(p->seen, cap * sizeof *v);
    if (!v) return -1;
    p->seen = v;
    p->capseen = cap;
  }
  p->seen[p->nseen].name = sg_strdup(name);
  if (!p->seen[p->nseen].name) return -1;
  p->seen[p->nseen++].line = line;
  return 0;
}

/* Classifies the current raw line into p->kind / p->content. */
static void classify(parser *p, const char *raw, size_t n, size_t maxlen) {
  if (n && raw[n - 1] == '\r') n--;
  n = strip_comment(raw, n);
  while (n && (raw[n - 1] == ' ' || raw[n - 1] == '\t')) n--;
  size_t lead = 0;
  while (lead < n && (raw[lead] == ' ' || raw[lead] == '\t')) lead++;
  const char *s = raw + lead;
  size_t len = n - lead;
  p->kind = LINE_BLANK;
  p->value = NULL;
  if (len == 0) return;
  /* inih's buffer holds maxlen-1 characters; a continuation line gets one leading blank */
  size_t limit = maxlen - 1 - (p->depth > 0 ? 1 : 0);
  if (len > limit || len >= sizeof p->content) {
    fail(p, p->lineno, "line is longer than %zu characters", limit);
    p->kind = LINE_BAD;
    return;
  }
  memcpy(p->content, s, len);
  p->content[len] = '\0';
  if (p->depth > 0) {
    p->kind = LINE_CONT;
    return;
  }
  if (s[0] == '[') {
    if (len < 3 || s[len - 1] != ']' || !bare_name(s + 1, len - 2, 1)) {
      if (len >= 2 && s[1] == '[')
        fail(p, p->lineno, "arrays of tables are not supported; give each entry a named "
                           "section such as [auth.tokens.NAME]");
      else
        fail(p, p->lineno, "malformed section header");
      p->kind = LINE_BAD;
      return;
    }
    p->kind = LINE_SECTION;
    return;
  }
  char *eq = strchr(p->content, '=');
  if (!eq) {
    fail(p, p->lineno, "expected key = value");
    p->kind = LINE_BAD;
    return;
  }
  size_t klen = (size_t)(eq - p->content);
  while (klen && (p->content[klen - 1] == ' ' || p->content[klen - 1] == '\t')) klen--;
  if (!bare_name(p->content, klen, 0)) {
    fail(p, p->lineno, "malformed key (use letters, digits, '_' and '-')");
    p->kind = LINE_BAD;
    return;
  }
  const char *v = eq + 1;
  while (*v == ' ' || *v == '\t') v++;
  if (*v == '\0') {
    fail(p, p->lineno, "missing value");
    p->kind = LINE_BAD;
    return;
  }
  p->value = v;
  p->kind = LINE_KEY;
}

/* fgets-like reader handed to inih: one raw line per call, rewritten so that inih sees a key
 * line without leading blanks and a continuation line with exactly one. */
static char *reader(char *str, int num, void *stream) {
  parser *p = stream;
  if (p->pos >= p->end) return NULL;
  const char *nl = memchr(p->pos, '\n', (size_t)(p->end - p->pos));
  size_t n = nl ? (size_t)(nl - p->pos) : (size_t)(p->end - p->pos);
  p->lineno++;
  classify(p, p->pos, n, (size_t)num);
  p->pos += n + (nl ? 1 : 0);
  switch (p->kind) {
    case LINE_BLANK:
    case LINE_BAD:
      str[0] = '\0';
      break;
    case LINE_CONT:
      snprintf(str, (size_t)num, " %s", p->content);
      break;
    case LINE_SECTION:
    case LINE_KEY:
      snprintf(str, (size_t)num, "%s", p->content);
      break;
  }
  if (p->kind == LINE_SECTION) {
    size_t sl = strlen(p->content) - 2;
    char name[300];
    if (sl >= sizeof p->section) {
      fail(p, p->lineno, "section name too long");
    } else {
      memcpy(p->section, p->content + 1, sl);
      p->section[sl] = '\0';
      p->section_line = p->lineno;
      snprintf(name, sizeof name, "[%s]", p->section);
      int first = remember(p, name, p->lineno);
      if (first > 0)
        fail(p, p->lineno, "duplicate section [%s] (first on line %d)", p->section, first);
      else if (!p->failed &&
               p->fn(p->ud, p->section, p->lineno, NULL, NULL, p->lineno, p->err, p->errlen)) {
        p->failed = 1;
        p->errline = p->lineno;
      }
    }
  }
  return str;
}

static void flush(parser *p) {
  if (p->failed) return;
  if (sg_buf_failed(&p->pending)) {
    fail(p, p->pending_line, "value too long");
    return;
  }
  if (p->fn(p->ud, p->pending_section, p->section_line, p->pending_key, p->pending.ptr,
            p->pending_line, p->err, p->errlen) != 0) {
    p->failed = 1;
    p->errline = p->pending_line;
  }
}

static int handler(void *user, const char *section, const char *name, const char *value) {
  parser *p = user;
  (void)value; /* inih cuts values at " ;"; the raw text of the line is used instead */
  if (p->failed) return 1;
  if (p->kind == LINE_CONT) {
    sg_buf_putc(&p->pending, ' ');
    sg_buf_puts(&p->pending, p->content);
    p->depth += bracket_delta(p->content);
    if (p->depth <= 0) {
      p->depth = 0;
      flush(p);
    }
    return 1;
  }
  if (p->kind != LINE_KEY) return 1;
  char full[600];
  snprintf(full, sizeof full, "%s.%s", section, name);
  int first = remember(p, full, p->lineno);
  if (first > 0) {
    fail(p, p->lineno, "duplicate key %s (first set on line %d)", full, first);
    return 1;
  }
  if (first < 0) {
    fail(p, p->lineno, "out of memory");
    return 1;
  }
  if (section[0] == '\0') {
    fail(p, p->lineno, "key %s outside of any section", name);
    return 1;
  }
  sg_buf_reset(&p->pending);
  sg_buf_puts(&p->pending, p->value);
  sg_strlcpy(p->pending_section, section, sizeof p->pending_section);
  sg_strlcpy(p->pending_key, name, sizeof p->pending_key);
  p->pending_line = p->lineno;
  p->depth = p->value[0] == '[' ? bracket_delta(p->value) : 0;
  if (p->depth <= 0) {
    p->depth = 0;
    flush(p);
  }
  return 1;
}

int sg_ini_parse(const char *text, size_t len, sg_ini_fn fn, void *ud, char *err, size_t errlen,
                 int *errline) {
  parser p;
  memset(&p, 0, sizeof p);
  p.pos = text;
  p.end = text + len;
  p.fn = fn;
  p.ud = ud;
  p.err = err;
  p.errlen = errlen;
  sg_buf_init(&p.pending, 64 * 1024);
  if (len >= 3 && memcmp(text, "\xEF\xBB\xBF", 3) == 0) p.pos += 3;
  size_t bad = 0;
  if (!sg_utf8_valid(text, len, &bad)) {
    int line = 1;
    for (size_t i = 0; i < bad; i++) line += text[i] == '\n';
    fail(&p, line, "invalid UTF-8");
  }
  int rc = p.failed ? 0 : ini_parse_stream(reader, &p, handler, &p);
  if (rc > 0) fail(&p, rc, "syntax error");
  if (rc < 0) fail(&p, 0, "out of memory");
  if (p.depth > 0) fail(&p, p.pending_line, "unterminated array");
  for (size_t i = 0; i < p.nseen; i++) free(p.seen[i].name);
  free(p.seen);
  sg_buf_free(&p.pending);
  if (errline) *errline = p.errline;
  return p.failed ? -1 : 0;
}
