/*
 * toml_ini.h -- the TOML subset of gateway.toml, read line by line through inih.
 *
 * sg_ini_parse() feeds inih one raw line at a time from its own reader, so that it can tell
 * apart what inih alone cannot: `#` comments after a value (outside quotes), arrays that go on
 * over indented lines, lines longer than inih's buffer, and keys or sections given twice.  The
 * callback receives each key once, with its complete raw value text (an array spanning lines is
 * joined) and the line it started on; values are interpreted by config.c.
 */
#ifndef SG_TOML_INI_H
#define SG_TOML_INI_H

#include <stddef.h>

/* Called once for each section header (key and value NULL) and once for each key.  Return 0 to
 * go on; non-zero stops the parse (the callback has written its message into err). */
typedef int (*sg_ini_fn)(void *ud, const char *section, int section_line, const char *key,
                         const char *value, int line, char *err, size_t errlen);

/* Returns 0, or -1 with err holding the message of the first problem and *errline (when not
 * NULL) its line. */
int sg_ini_parse(const char *text, size_t len, sg_ini_fn fn, void *ud, char *err, size_t errlen,
                 int *errline);

#endif
