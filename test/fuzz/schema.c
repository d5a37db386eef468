/*
 * schema.c -- libFuzzer target: a tool's input_schema and input, both untrusted (schemas come
 * from POST /api/config/tools).  The input is split at the first NUL into a schema and a value;
 * every checked schema is applied to the value.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tools/schema.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  const uint8_t *nul = memchr(data, 0, size);
  if (!nul) return 0;
  size_t n1 = (size_t)(nul - data);
  soulgw_json *schema = NULL, *value = NULL;
  char err[256];
  if (soulgw_json_parse((const char *)data, n1, &schema, NULL, 0) == 0 &&
      soulgw_json_parse((const char *)nul + 1, size - n1 - 1, &value, NULL, 0) == 0 &&
      sg_schema_check(schema, "input_schema", err, sizeof err) == 0)
    sg_schema_validate(schema, value, "input", err, sizeof err);
  soulgw_json_free(schema);
  soulgw_json_free(value);
  return 0;
}
