/*
 * log.c -- structured log lines.  Each line is built in memory and written with one write(2),
 * so lines from different threads never interleave.  Messages and field values are escaped;
 * callers must never pass a secret (the auth stage logs names, not credentials).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/log.h"

struct sg_log {
  atomic_int level;
  atomic_int json;
  soulgw_log_fn fn;
  void *ud;
};

static const char *const level_names[] = {"error", "warn", "info", "debug"};

sg_log *sg_log_new(void) {
  sg_log *lg = calloc(1, sizeof *lg);
  if (!lg) return NULL;
  atomic_init(&lg->level, SOULGW_LOG_INFO);
  atomic_init(&lg->json, 1);
  return lg;
}

void sg_log_free(sg_log *lg) { free(lg); }

void sg_log_configure(sg_log *lg, int level, int json) {
  atomic_store(&lg->level, level);
  atomic_store(&lg->json, json);
}

void sg_log_set_fn(sg_log *lg, soulgw_log_fn fn, void *ud) {
  lg->fn = fn;
  lg->ud = ud;
}

int sg_log_enabled(const sg_log *lg, int level) {
  return lg && level <= atomic_load_explicit(&lg->level, memory_order_relaxed);
}

int sg_log_level_parse(const char *s) {
  for (size_t i = 0; i < SG_ARRAY_LEN(level_names); i++)
    if (strcmp(s, level_names[i]) == 0) return (int)i;
  return -1;
}

/* Text format: values with spaces, quotes or '=' are quoted; control characters escaped. */
static void text_value(sg_buf *b, const char *s) {
  int quote = *s == '\0' || strpbrk(s, " \"=\t") != NULL;
  if (quote) sg_buf_putc(b, '"');
  sg_buf_json_escape(b, s, 4096);
  if (quote) sg_buf_putc(b, '"');
}

void sg_log_write(sg_log *lg, int level, const char *msg, const sg_field *f, size_t n) {
  char ts[32];
  sg_buf b;
  int json = atomic_load_explicit(&lg->json, memory_order_relaxed);
  if (level < 0 || level > SOULGW_LOG_DEBUG) level = SOULGW_LOG_ERROR;
  sg_format_time_ms(sg_wall_ms(), ts);
  sg_buf_init(&b, 64 * 1024);
  if (json) {
    sg_buf_printf(&b, "{\"ts\":\"%s\",\"level\":\"%s\",\"msg\":\"", ts, level_names[level]);
    sg_buf_json_escape(&b, msg, 4096);
    sg_buf_putc(&b, '"');
  } else {
    sg_buf_printf(&b, "%s %-5s ", ts, level_names[level]);
    sg_buf_json_escape(&b, msg, 4096);
  }
  for (size_t i = 0; i < n; i++) {
    if (f[i].type == 's' && !f[i].s) continue;
    if (json) {
      sg_buf_printf(&b, ",\"%s\":", f[i].key);
      if (f[i].type == 's') {
        sg_buf_putc(&b, '"');
        sg_buf_json_escape(&b, f[i].s, 4096);
        sg_buf_putc(&b, '"');
      }
    } else {
      sg_buf_printf(&b, " %s=", f[i].key);
      if (f[i].type == 's') text_value(&b, f[i].s);
    }
    if (f[i].type == 'i') sg_buf_printf(&b, "%lld", f[i].i);
    if (f[i].type == 'f') sg_buf_printf(&b, "%.3f", f[i].f);
  }
  if (json) sg_buf_putc(&b, '}');
  if (sg_buf_failed(&b)) {
    sg_buf_free(&b);
    return;
  }
  if (lg->fn) {
    lg->fn(lg->ud, level, b.ptr);
  } else {
    sg_buf_putc(&b, '\n');
    const char *p = b.ptr;
    size_t left = b.len;
    while (left) {
      ssize_t w = write(STDERR_FILENO, p, left);
      if (w < 0 && errno == EINTR) continue;
      if (w <= 0) break;
      p += w;
      left -= (size_t)w;
    }
  }
  sg_buf_free(&b);
}
