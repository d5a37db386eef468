/*
 * config.c -- libFuzzer target: gateway.toml text through the inih glue and the schema.
 * Build with `make fuzz`; run with `make fuzz-run` (seeds in test/fuzz/seeds/config).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "soulgw.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  char *text = malloc(size + 1);
  if (!text) return 0;
  memcpy(text, data, size);
  text[size] = '\0';
  soulgw_config *cfg = soulgw_config_new();
  if (soulgw_config_load_string(cfg, text, "fuzz.toml") == 0) {
    char *d = soulgw_config_describe(cfg);
    free(d);
  }
  soulgw_config_free(cfg);
  free(text);
  return 0;
}
