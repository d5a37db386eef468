/*
 * sg.h -- internal definitions shared by every file of libsoulgw: arenas, growable buffers,
 * small string helpers, clocks.  Nothing here is exported.
 */
#ifndef SG_H
#define SG_H

#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "soulgw.h"

#if defined(__GNUC__)
#define SG_PRINTF(f, a) __attribute__((format(printf, f, a)))
#define SG_UNLIKELY(x) __builtin_expect(!!(x), 0)
#else
#define SG_PRINTF(f, a)
#define SG_UNLIKELY(x) (x)
#endif

#define SG_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

/* ------------------------------------------------------------------------------------------ */
/* Arena: bump allocation, all released at once.  Used for one request and for one
 * configuration snapshot.  The first block may be supplied by the caller (embedded in the
 * owning struct) so that small requests allocate nothing. */

typedef struct sg_arena_block sg_arena_block;
typedef struct sg_arena {
  sg_arena_block *head; /* blocks from malloc, newest first */
  char *cur, *end;      /* free space of the current block */
  size_t total;         /* bytes obtained from malloc */
  size_t limit;         /* 0: no limit */
} sg_arena;

void sg_arena_init(sg_arena *a, void *first, size_t first_len, size_t limit);
void sg_arena_release(sg_arena *a);
/* NULL when out of memory or over the limit.  Aligned for any type. */
void *sg_arena_alloc(sg_arena *a, size_t n);
void *sg_arena_calloc(sg_arena *a, size_t n);
char *sg_arena_strdup(sg_arena *a, const char *s);
char *sg_arena_strndup(sg_arena *a, const char *s, size_t n);
char *sg_arena_printf(sg_arena *a, const char *fmt, ...) SG_PRINTF(2, 3);

/* ------------------------------------------------------------------------------------------ */
/* Growable buffer, always NUL-terminated, with a hard cap.  After a failure (out of memory or
 * over the cap) the buffer stays failed and further appends do nothing, so a writer can append
 * freely and check sg_buf_failed() once. */

typedef struct sg_buf {
  char *ptr;
  size_t len, cap, max; /* max 0: no cap */
  int failed;
} sg_buf;

void sg_buf_init(sg_buf *b, size_t max);
void sg_buf_free(sg_buf *b);
void sg_buf_reset(sg_buf *b);
int sg_buf_reserve(sg_buf *b, size_t extra);
/* sg_buf_append() when the buffer has to grow (or has failed); the common case is inline. */
int sg_buf_append_grow(sg_buf *b, const void *p, size_t n);
static inline int sg_buf_append(sg_buf *b, const void *p, size_t n) {
  if (b->failed || n >= b->cap - b->len) return sg_buf_append_grow(b, p, n);
  memcpy(b->ptr + b->len, p, n);
  b->len += n;
  b->ptr[b->len] = '\0';
  return 0;
}
int sg_buf_puts(sg_buf *b, const char *s);
static inline int sg_buf_putc(sg_buf *b, char c) {
  if (b->failed || b->len + 2 > b->cap) return sg_buf_append_grow(b, &c, 1);
  b->ptr[b->len++] = c; /* the common case, without a call */
  b->ptr[b->len] = '\0';
  return 0;
}
int sg_buf_printf(sg_buf *b, const char *fmt, ...) SG_PRINTF(2, 3);
int sg_buf_vprintf(sg_buf *b, const char *fmt, va_list ap);
/* Appends s as the body of a JSON string (without quotes), escaped as sg_json_escape_byte()
 * escapes each byte and with invalid UTF-8 replaced by U+FFFD, at most max_in input bytes
 * ((size_t)-1 for all). */
int sg_buf_json_escape(sg_buf *b, const char *s, size_t max_in);
/* The same for the n bytes at s, but bytes that are not UTF-8 go as they are: the text is
 * byte for byte what cJSON (soulgw_json_print) writes for the string. */
int sg_buf_json_escape_bytes(sg_buf *b, const char *s, size_t n);
/* Appends s percent-encoded: RFC 3986 unreserved characters as they are, every other byte as
 * %XX (upper-case hex). */
int sg_buf_pct_encode(sg_buf *b, const char *s);
/* Hands the string out (to free()); the buffer is left empty. */
char *sg_buf_detach(sg_buf *b, size_t *len);
static inline int sg_buf_failed(const sg_buf *b) { return b->failed; }

/* The one JSON escaping rule of the library, cJSON's: '"', '\\' and the control characters
 * are escaped, everything else (DEL and bytes of 0x80 and up included) goes as it is. */
static inline int sg_json_needs_escape(unsigned char c) { return c < 0x20 || c == '"' || c == '\\'; }
/* The length of the leading run of the n bytes at s that are ASCII and need no escape in a
 * JSON string: no control character, '"', '\\' or byte of 0x80 and up. */
size_t sg_json_plain_run(const char *s, size_t n);
/* Writes the escape of c (a byte sg_json_needs_escape() holds for) to out and returns its
 * length: 2 for \" \\ \b \f \n \r \t, 6 for \u00xx (lower-case hex) for the others. */
size_t sg_json_escape_byte(unsigned char c, char out[6]);

/* ------------------------------------------------------------------------------------------ */
/* Strings and time */

char *sg_strdup(const char *s);
char *sg_strndup(const char *s, size_t n);
int sg_strcaseeq(const char *a, const char *b);
/* Copies at most dstlen-1 bytes and terminates; returns strlen(src). */
size_t sg_strlcpy(char *dst, const char *src, size_t dstlen);
/* 1 when s is entirely valid UTF-8 (len bytes), else 0 and *bad the offset of the first bad
 * byte when bad is not NULL. */
int sg_utf8_valid(const char *s, size_t len, size_t *bad);
/* Writes code point cp (at most 0x10FFFF, not a surrogate) as UTF-8 into out; returns its
 * length, 1 to 4. */
size_t sg_utf8_encode(unsigned long cp, char out[4]);
/* The value of the hexadecimal digit c (either case), or -1. */
int sg_hex_digit(char c);
/* 1 when s is empty or only ASCII white space. */
int sg_is_blank(const char *s);

uint64_t sg_now_ns(void);   /* monotonic */
int64_t sg_wall_ms(void);   /* Unix epoch milliseconds */
/* The same clocks as the kernel last ticked them (a few ms behind, at most one tick): a third
 * of the cost, for deadlines, idle ages and timestamps kept in ms.  Not for durations measured
 * from sg_now_ns(), which the coarse clock may trail. */
uint64_t sg_coarse_ns(void);
int64_t sg_wall_coarse_ms(void);
/* RFC 3339 UTC with milliseconds, "2025-01-01T00:00:00.000Z"; out needs 25 bytes. */
void sg_format_time_ms(int64_t ms, char out[32]);

/* Formats an error message into dst (len bytes, truncated to fit).  dst NULL or len 0: does
 * nothing, for callers whose error buffer is optional. */
void sg_seterr(char *dst, size_t len, const char *fmt, ...) SG_PRINTF(3, 4);

#endif
