/*
 * util.c -- the arena, the growable buffer and the string and time helpers of sg.h.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "base/recycle.h"
#include "base/sg.h"

/* ------------------------------------------------------------------------------------------ */
/* Arena */

struct sg_arena_block {
  sg_arena_block *next;
  size_t size; /* of data */
  max_align_t data[];
};

#define SG_ALIGN (sizeof(max_align_t))
#define SG_ARENA_BLOCK 4096

/* A request's arena takes one block past its first: its blocks come from the thread's recycled
 * ones (recycle.h), as a 4 KB malloc and free (beyond malloc's per-thread cache) cost about a
 * thousand instructions a request. */
static sg_arena_block *block_get(size_t size) {
  sg_arena_block *b = sg_recycle_alloc(sizeof *b + size);
  if (b) b->size = size;
  return b;
}

static void block_put(sg_arena_block *b) { sg_recycle_free(b); }

void sg_arena_init(sg_arena *a, void *first, size_t first_len, size_t limit) {
  a->head = NULL;
  a->total = 0;
  a->limit = limit;
  if (first) {
    uintptr_t p = ((uintptr_t)first + SG_ALIGN - 1) & ~(uintptr_t)(SG_ALIGN - 1);
    size_t skip = p - (uintptr_t)first;
    a->cur = (char *)p;
    a->end = first_len > skip ? (char *)first + first_len : (char *)p;
  } else {
    a->cur = a->end = NULL;
  }
}

void sg_arena_release(sg_arena *a) {
  sg_arena_block *b = a->head, *next;
  for (; b; b = next) {
    next = b->next;
    block_put(b);
  }
  a->head = NULL;
  a->cur = a->end = NULL;
  a->total = 0;
}

void *sg_arena_alloc(sg_arena *a, size_t n) {
  if (n == 0) n = 1;
  size_t need = (n + SG_ALIGN - 1) & ~(SG_ALIGN - 1);
  if (need < n) return NULL;
  if (a->cur == NULL || (size_t)(a->end - a->cur) < need) {
    size_t size = need > SG_ARENA_BLOCK / 2 ? need : SG_ARENA_BLOCK;
    if (a->limit && a->total + size > a->limit) return NULL;
    sg_arena_block *b = block_get(size);
    if (!b) return NULL;
    a->total += size;
    b->next = a->head;
    a->head = b;
    if (size == need && need != SG_ARENA_BLOCK) return b->data; /* a big one: keep current */
    a->cur = (char *)b->data;
    a->end = a->cur + size;
  }
  void *p = a->cur;
  a->cur += need;
  return p;
}

void *sg_arena_calloc(sg_arena *a, size_t n) {
  void *p = sg_arena_alloc(a, n);
  if (p) memset(p, 0, n);
  return p;
}

char *sg_arena_strndup(sg_arena *a, const char *s, size_t n) {
  char *p = sg_arena_alloc(a, n + 1);
  if (!p) return NULL;
  memcpy(p, s, n);
  p[n] = '\0';
  return p;
}

char *sg_arena_strdup(sg_arena *a, const char *s) {
  return s ? sg_arena_strndup(a, s, strlen(s)) : NULL;
}

char *sg_arena_printf(sg_arena *a, const char *fmt, ...) {
  char small[256];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(small, sizeof small, fmt, ap);
  va_end(ap);
  if (n < 0) return NULL;
  char *p = sg_arena_alloc(a, (size_t)n + 1);
  if (!p) return NULL;
  if ((size_t)n < sizeof small) {
    memcpy(p, small, (size_t)n + 1);
  } else {
    va_start(ap, fmt);
    vsnprintf(p, (size_t)n + 1, fmt, ap);
    va_end(ap);
  }
  return p;
}

/* ------------------------------------------------------------------------------------------ */
/* Buffer */

void sg_buf_init(sg_buf *b, size_t max) {
  b->ptr = NULL;
  b->len = b->cap = 0;
  b->max = max;
  b->failed = 0;
}

void sg_buf_free(sg_buf *b) {
  free(b->ptr);
  sg_buf_init(b, b->max);
}

void sg_buf_reset(sg_buf *b) {
  b->len = 0;
  b->failed = 0;
  if (b->ptr) b->ptr[0] = '\0';
}

int sg_buf_reserve(sg_buf *b, size_t extra) {
  if (b->failed) return SOULGW_ENOMEM;
  if (b->len + extra + 1 <= b->cap) return 0;
  if (extra > SIZE_MAX / 2 - b->len || (b->max && b->len + extra > b->max)) {
    b->failed = 1;
    return SOULGW_ENOMEM;
  }
  size_t cap = b->cap ? b->cap : 64;
  while (cap < b->len + extra + 1) cap *= 2;
  if (b->max && cap > b->max + 1) cap = b->max + 1;
  char *p = realloc(b->ptr, cap);
  if (!p) {
    b->failed = 1;
    return SOULGW_ENOMEM;
  }
  b->ptr = p;
  b->cap = cap;
  return 0;
}

int sg_buf_append_grow(sg_buf *b, const void *p, size_t n) {
  if (sg_buf_reserve(b, n)) return SOULGW_ENOMEM;
  if (n) memcpy(b->ptr + b->len, p, n);
  b->len += n;
  b->ptr[b->len] = '\0';
  return 0;
}

int sg_buf_puts(sg_buf *b, const char *s) { return sg_buf_append(b, s, strlen(s)); }

int sg_buf_vprintf(sg_buf *b, const char *fmt, va_list ap) {
  if (b->failed) return SOULGW_ENOMEM;
  va_list cp;
  va_copy(cp, ap);
  size_t room = b->cap > b->len ? b->cap - b->len : 0;
  int n = vsnprintf(room ? b->ptr + b->len : NULL, room, fmt, cp);
  va_end(cp);
  if (n < 0) {
    b->failed = 1;
    return SOULGW_EINVAL;
  }
  if ((size_t)n >= room) {
    if (sg_buf_reserve(b, (size_t)n)) {
      if (b->ptr) b->ptr[b->len] = '\0'; /* undo what the first try wrote */
      return SOULGW_ENOMEM;
    }
    vsnprintf(b->ptr + b->len, (size_t)n + 1, fmt, ap);
  }
  b->len += (size_t)n;
  return 0;
}

int sg_buf_printf(sg_buf *b, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int rc = sg_buf_vprintf(b, fmt, ap);
  va_end(ap);
  return rc;
}

#define ONES UINT64_C(0x0101010101010101)
#define HIGHS UINT64_C(0x8080808080808080)

/* Length of the valid UTF-8 sequence at s (at most n bytes), or 0 when invalid. */
static size_t utf8_seq(const unsigned char *s, size_t n) {
  unsigned c = s[0];
  if (c < 0x80) return 1;
  if (c < 0xC2) return 0;
  if (c < 0xE0) return n >= 2 && (s[1] & 0xC0) == 0x80 ? 2 : 0;
  if (c < 0xF0) {
    if (n < 3 || (s[1] & 0xC0) != 0x80 || (s[2] & 0xC0) != 0x80) return 0;
    if (c == 0xE0 && s[1] < 0xA0) return 0; /* overlong */
    if (c == 0xED && s[1] > 0x9F) return 0; /* surrogates */
    return 3;
  }
  if (c < 0xF5) {
    if (n < 4 || (s[1] & 0xC0) != 0x80 || (s[2] & 0xC0) != 0x80 || (s[3] & 0xC0) != 0x80)
      return 0;
    if (c == 0xF0 && s[1] < 0x90) return 0;
    if (c == 0xF4 && s[1] > 0x8F) return 0;
    return 4;
  }
  return 0;
}

int sg_utf8_valid(const char *s, size_t len, size_t *bad) {
  const unsigned char *p = (const unsigned char *)s;
  size_t i = 0;
  while (i < len) {
    if (len - i >= 8) { /* fast path for ASCII runs, eight bytes at a time */
      uint64_t x;
      memcpy(&x, p + i, 8);
      if (!(x & HIGHS)) {
        i += 8;
        continue;
      }
    }
    if (p[i] < 0x80) {
      i++;
      continue;
    }
    size_t k = utf8_seq(p + i, len - i);
    if (!k) {
      if (bad) *bad = i;
      return 0;
    }
    i += k;
  }
  return 1;
}

size_t sg_utf8_encode(unsigned long cp, char out[4]) {
  if (cp < 0x80) {
    out[0] = (char)cp;
    return 1;
  }
  if (cp < 0x800) {
    out[0] = (char)(0xC0 | cp >> 6);
    out[1] = (char)(0x80 | (cp & 63));
    return 2;
  }
  if (cp < 0x10000) {
    out[0] = (char)(0xE0 | cp >> 12);
    out[1] = (char)(0x80 | ((cp >> 6) & 63));
    out[2] = (char)(0x80 | (cp & 63));
    return 3;
  }
  out[0] = (char)(0xF0 | cp >> 18);
  out[1] = (char)(0x80 | ((cp >> 12) & 63));
  out[2] = (char)(0x80 | ((cp >> 6) & 63));
  out[3] = (char)(0x80 | (cp & 63));
  return 4;
}

int sg_hex_digit(char c) {
  return c >= '0' && c <= '9'   ? c - '0'
         : c >= 'a' && c <= 'f' ? c - 'a' + 10
         : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                : -1;
}

size_t sg_json_escape_byte(unsigned char c, char out[6]) {
  static const char hex[] = "0123456789abcdef";
  static const char short_form[] = {['"'] = '"', ['\\'] = '\\', ['\b'] = 'b', ['\f'] = 'f',
                                    ['\n'] = 'n', ['\r'] = 'r', ['\t'] = 't'};
  out[0] = '\\';
  if (c < sizeof short_form && short_form[c]) {
    out[1] = short_form[c];
    return 2;
  }
  memcpy(out + 1, "u00", 3);
  out[4] = hex[c >> 4];
  out[5] = hex[c & 15];
  return 6;
}

/* Eight bytes at a time: a byte below 0x20 borrows in x - 0x20.., a '"' or '\\' borrows once
 * XORed to zero, and a byte of 0x80 and up shows its high bit.  A borrow only spills into a
 * higher byte from a byte that is flagged itself, so the lowest flagged byte is the first
 * that stops the run. */
static inline size_t plain_run(const unsigned char *p, size_t n) {
  size_t i = 0;
  for (; n - i >= 8; i += 8) {
    uint64_t x;
    memcpy(&x, p + i, 8);
    uint64_t stops =
        ((x - 0x20 * ONES) | ((x ^ ('"' * ONES)) - ONES) | ((x ^ ('\\' * ONES)) - ONES) | x) &
        HIGHS;
    if (stops) {
#if defined(__GNUC__) && defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
      return i + (size_t)__builtin_ctzll(stops) / 8;
#else
      break;
#endif
    }
  }
  while (i < n && p[i] >= 0x20 && p[i] < 0x80 && p[i] != '"' && p[i] != '\\') i++;
  return i;
}

size_t sg_json_plain_run(const char *s, size_t n) {
  return plain_run((const unsigned char *)s, n);
}

/* The one escaper: runs of bytes that go as they are are appended whole; with mend, a byte
 * that does not start a valid UTF-8 sequence is written as U+FFFD. */
static int json_escape(sg_buf *b, const unsigned char *p, size_t n, int mend) {
  size_t i = 0, from = 0;
  while (i < n) {
    i += plain_run(p + i, n - i); /* the common case */
    if (i == n) break;
    unsigned char c = p[i];
    if (c >= 0x80 && mend) {
      size_t k = utf8_seq(p + i, n - i);
      if (k) {
        i += k;
        continue;
      }
    } else if (!sg_json_needs_escape(c)) {
      i++;
      continue;
    }
    if (i > from) sg_buf_append(b, p + from, i - from);
    char esc[6];
    if (c >= 0x80) sg_buf_append(b, "\xEF\xBF\xBD", 3);
    else sg_buf_append(b, esc, sg_json_escape_byte(c, esc));
    from = ++i;
  }
  if (i > from) sg_buf_append(b, p + from, i - from);
  return b->failed ? SOULGW_ENOMEM : 0;
}

int sg_buf_json_escape(sg_buf *b, const char *s, size_t max_in) {
  return json_escape(b, (const unsigned char *)s, strnlen(s, max_in), 1);
}

int sg_buf_json_escape_bytes(sg_buf *b, const char *s, size_t n) {
  return json_escape(b, (const unsigned char *)s, n, 0);
}

/* RFC 3986 unreserved characters ('A'-'Z' 'a'-'z' '0'-'9' '-' '.' '_' '~') marked '1', by
 * byte, for the bytes below 0x80. */
static const char unreserved[129] =
    "0000000000000000" /* 00 */
    "0000000000000000" /* 10 */
    "0000000000000110" /* 20 */
    "1111111111000000" /* 30 */
    "0111111111111111" /* 40 */
    "1111111111100001" /* 50 */
    "0111111111111111" /* 60 */
    "1111111111100010" /* 70 */;

static int is_unreserved(unsigned char c) { return c < 0x80 && unreserved[c] == '1'; }

int sg_buf_pct_encode(sg_buf *b, const char *s) {
  static const char hex[] = "0123456789ABCDEF";
  while (*s) {
    size_t n = 0;
    while (is_unreserved((unsigned char)s[n])) n++;
    sg_buf_append(b, s, n);
    s += n;
    if (*s) {
      unsigned char c = (unsigned char)*s++;
      char e[3] = {'%', hex[c >> 4], hex[c & 15]};
      sg_buf_append(b, e, 3);
    }
  }
  return b->failed ? SOULGW_ENOMEM : 0;
}

char *sg_buf_detach(sg_buf *b, size_t *len) {
  char *p = b->ptr;
  if (b->failed) {
    free(p);
    p = NULL;
  } else if (!p) {
    p = calloc(1, 1);
  }
  if (len) *len = p ? b->len : 0;
  sg_buf_init(b, b->max);
  return p;
}

/* ------------------------------------------------------------------------------------------ */
/* Strings, time, errors */

char *sg_strndup(const char *s, size_t n) {
  char *p = malloc(n + 1);
  if (!p) return NULL;
  memcpy(p, s, n);
  p[n] = '\0';
  return p;
}

char *sg_strdup(const char *s) { return s ? sg_strndup(s, strlen(s)) : NULL; }

int sg_strcaseeq(const char *a, const char *b) { return strcasecmp(a, b) == 0; }

size_t sg_strlcpy(char *dst, const char *src, size_t dstlen) {
  size_t n = strlen(src);
  if (dstlen) {
    size_t k = n < dstlen - 1 ? n : dstlen - 1;
    memcpy(dst, src, k);
    dst[k] = '\0';
  }
  return n;
}

int sg_is_blank(const char *s) {
  for (; *s; s++)
    if (*s != ' ' && *s != '\t' && *s != '\n' && *s != '\r' && *s != '\f' && *s != '\v')
      return 0;
  return 1;
}

static uint64_t clock_ns(clockid_t id) {
  struct timespec ts;
  clock_gettime(id, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static int64_t clock_ms(clockid_t id) {
  struct timespec ts;
  clock_gettime(id, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

uint64_t sg_now_ns(void) { return clock_ns(CLOCK_MONOTONIC); }
int64_t sg_wall_ms(void) { return clock_ms(CLOCK_REALTIME); }

/* A precise read costs about 66 ns here (a TSC read in a VM), a coarse one 18 ns; a model call
 * read the clock 14 times. */
uint64_t sg_coarse_ns(void) { return clock_ns(CLOCK_MONOTONIC_COARSE); }
int64_t sg_wall_coarse_ms(void) { return clock_ms(CLOCK_REALTIME_COARSE); }

void sg_format_time_ms(int64_t ms, char out[32]) {
  int64_t rem = ms % 1000;
  if (rem < 0) rem += 1000; /* floor division for times before 1970 */
  time_t secs = (time_t)((ms - rem) / 1000);
  struct tm tm;
  gmtime_r(&secs, &tm);
  snprintf(out, 32, "%04u-%02u-%02uT%02u:%02u:%02u.%03uZ", (unsigned)(tm.tm_year + 1900) % 10000u,
           (unsigned)(tm.tm_mon + 1) % 100u, (unsigned)tm.tm_mday % 100u,
           (unsigned)tm.tm_hour % 100u, (unsigned)tm.tm_min % 100u, (unsigned)tm.tm_sec % 100u,
           (unsigned)rem);
}

void sg_seterr(char *dst, size_t len, const char *fmt, ...) {
  if (!dst || !len) return;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(dst, len, fmt, ap);
  va_end(ap);
}
