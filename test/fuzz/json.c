/*
 * json.c -- libFuzzer target: the strict JSON parser every request body goes through.
 */
#include <stdint.h>
#include <stdlib.h>

#include "soulgw.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  soulgw_json *v = NULL;
  char err[160];
  if (soulgw_json_parse((const char *)data, size, &v, err, sizeof err) == 0) {
    char *s = soulgw_json_print(v);
    free(s);
  }
  soulgw_json_free(v);
  return 0;
}
