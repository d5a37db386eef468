/*
 * log.h -- structured logging: one line per event, JSON (default) or text, on stderr or a
 * host-supplied function.  Fields are typed so that numbers stay numbers in JSON.
 */
#ifndef SG_LOG_H
#define SG_LOG_H

#include "base/sg.h"

typedef struct sg_log sg_log;

typedef struct sg_field {
  const char *key;
  char type; /* 's' string (NULL skipped), 'i' integer, 'f' number */
  const char *s;
  long long i;
  double f;
} sg_field;

#define SG_S(k, v) ((sg_field){(k), 's', (v), 0, 0.0})
#define SG_I(k, v) ((sg_field){(k), 'i', NULL, (long long)(v), 0.0})
#define SG_F(k, v) ((sg_field){(k), 'f', NULL, 0, (double)(v)})

sg_log *sg_log_new(void);
void sg_log_free(sg_log *lg);
/* level SOULGW_LOG_*, json 1 or 0 (text).  Safe while other threads log. */
void sg_log_configure(sg_log *lg, int level, int json);
void sg_log_set_fn(sg_log *lg, soulgw_log_fn fn, void *ud);
int sg_log_enabled(const sg_log *lg, int level);
void sg_log_write(sg_log *lg, int level, const char *msg, const sg_field *f, size_t n);
/* Parses "error|warn|info|debug"; -1 when unknown. */
int sg_log_level_parse(const char *s);

#define sg_log(lg, lvl, msg, ...)                                                  \
  do {                                                                             \
    if (sg_log_enabled((lg), (lvl))) {                                             \
      const sg_field sg_f_[] = {__VA_ARGS__};                                      \
      sg_log_write((lg), (lvl), (msg), sg_f_, SG_ARRAY_LEN(sg_f_));                \
    }                                                                              \
  } while (0)
#define sg_log0(lg, lvl, msg)                                                      \
  do {                                                                             \
    if (sg_log_enabled((lg), (lvl))) sg_log_write((lg), (lvl), (msg), NULL, 0);    \
  } while (0)

#endif
