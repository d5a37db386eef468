/*
 * json_compact.c -- libFuzzer target: the checker that compacts an HTTP tool's answer in place
 * (lib/json_compact.c), held against the strict parser.  Whatever it accepts, soulgw_json_parse()
 * must accept too, and read as the same value as the input (compared as printed, which also
 * holds for numbers too large for a double); what it writes is never longer than what it
 * read.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/json.h"
#include "base/json_compact.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  char *text = malloc(size + 1);
  if (!text) return 0;
  memcpy(text, data, size);
  text[size] = '\0';
  size_t out = 0;
  char err[160];
  if (sg_json_compact(text, size, &out, err, sizeof err) == 0) {
    soulgw_json *in = NULL, *back = NULL;
    if (out > size || strlen(text) != out) abort();
    if (soulgw_json_parse((const char *)data, size, &in, NULL, 0) != 0) abort();
    if (soulgw_json_parse(text, out, &back, NULL, 0) != 0) abort();
    char *a = soulgw_json_print(in), *b = soulgw_json_print(back);
    if (!a || !b || strcmp(a, b) != 0) abort();
    free(a);
    free(b);
    soulgw_json_free(in);
    soulgw_json_free(back);
  }
  free(text);
  return 0;
}
