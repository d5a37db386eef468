/*
 * dialect.c -- one render function per error dialect (see dialect.h), in a table indexed by
 * the dialect.
 */
#include "pipeline/dialect.h"

static void put_string(sg_buf *b, const char *s, size_t max_in) {
  sg_buf_putc(b, '"');
  sg_buf_json_escape(b, s, max_in);
  sg_buf_putc(b, '"');
}

/* SPEC 4: {"code","message","correlation_id"[,"path"]} */
static void render_soulgw(sg_buf *b, const sg_error_view *e) {
  sg_buf_puts(b, "{\"code\":");
  put_string(b, e->code, (size_t)-1);
  sg_buf_puts(b, ",\"message\":");
  put_string(b, e->message, 1024);
  sg_buf_puts(b, ",\"correlation_id\":");
  put_string(b, e->request_id, (size_t)-1);
  if (e->path) {
    sg_buf_puts(b, ",\"path\":");
    put_string(b, e->path, 256);
  }
  sg_buf_putc(b, '}');
}

/* soulseed-agi: {"success":false,"data":null,"error":{"code","message"},"trace_id"} */
static void render_legacy(sg_buf *b, const sg_error_view *e) {
  sg_buf_puts(b, "{\"success\":false,\"data\":null,\"error\":{\"code\":");
  put_string(b, e->code, (size_t)-1);
  sg_buf_puts(b, ",\"message\":");
  put_string(b, e->message, 1024);
  sg_buf_puts(b, "},\"trace_id\":");
  put_string(b, e->request_id, (size_t)-1);
  sg_buf_putc(b, '}');
}

#define OOM_SOULGW "{\"code\":\"UNKNOWN.INTERNAL\",\"message\":\"out of memory\"}"
#define OOM_LEGACY                                                                              \
  "{\"success\":false,\"data\":null,\"error\":{\"code\":\"UNKNOWN.INTERNAL\",\"message\":"    \
  "\"out of memory\"},\"trace_id\":null}"

static const struct {
  void (*render)(sg_buf *b, const sg_error_view *e);
  const char *oom;
  size_t oom_len;
} dialects[SG_DIALECT_COUNT] = {
    [SG_DIALECT_SOULGW] = {render_soulgw, OOM_SOULGW, sizeof OOM_SOULGW - 1},
    [SG_DIALECT_LEGACY] = {render_legacy, OOM_LEGACY, sizeof OOM_LEGACY - 1},
};

void sg_dialect_render(sg_dialect d, sg_buf *b, const sg_error_view *e) {
  dialects[(unsigned)d < SG_DIALECT_COUNT ? d : SG_DIALECT_SOULGW].render(b, e);
}

const char *sg_dialect_oom(sg_dialect d, size_t *len) {
  if ((unsigned)d >= SG_DIALECT_COUNT) d = SG_DIALECT_SOULGW;
  *len = dialects[d].oom_len;
  return dialects[d].oom;
}
