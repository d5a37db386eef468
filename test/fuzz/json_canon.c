/*
 * json_canon.c -- libFuzzer target: the canonical-form check (lib/base/json_canon.c) that lets
 * an echoed tool input travel as its text, held against the writer.  Whatever text it calls
 * canonical and the parser accepts, sg_json_write() of the parsed value gives back byte for
 * byte, and sg_json_text_size() measures as its length.  Whatever it accepts or refuses, it
 * never reads outside the input.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/json.h"
#include "base/json_canon.h"
#include "base/json_write.h"
#include "tools/run.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  /* a copy exactly as long as the input, so that ASan sees any read past it */
  char *text = malloc(size ? size : 1);
  if (!text) return 0;
  memcpy(text, data, size);
  int canonical = sg_json_canonical(text, size);
  soulgw_json *j = NULL;
  if (canonical && soulgw_json_parse(text, size, &j, NULL, 0) == 0) {
    sg_buf b;
    sg_buf_init(&b, 0);
    if (sg_json_write(&b, j) != 0 || b.len != size || memcmp(b.ptr, text, size) != 0) abort();
    if (sg_json_text_size(j, (size_t)-2) != size) abort();
    sg_buf_free(&b);
  }
  soulgw_json_free(j);
  free(text);
  return 0;
}
