/*
 * json_scan.c -- libFuzzer target: the member scanner the OpenAI relay splices bodies with
 * (lib/base/json_scan.c), held against the strict parser.  Whatever object soulgw_json_parse()
 * accepts, and the checker of json_compact.h too (which holds RFC 8259's grammar to the letter,
 * where cJSON takes any control character for white space), the scanner accepts too, finds
 * exactly the members the parser finds, and each span parses as the parser's value of that
 * member.  Whatever it accepts or refuses, it never reads
 * outside the input.  What its plain scan (sg_json_scan_plain) accepts, the parser accepts as
 * an object, with the same members, and its strings decode (sg_json_plain_string) to the
 * parser's; on what it accepts, the scan of a text scanned before
 * (sg_json_scan_members_of) finds the same spans, and on anything it reads no byte outside.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/json.h"
#include "base/json_compact.h"
#include "base/json_scan.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static const char *const keys[] = {"model", "usage", "stream", "a", ""};
  sg_json_span sp[5];
  /* a copy exactly as long as the input, so that ASan sees any read past it */
  char *text = malloc(size ? size : 1);
  if (!text) return 0;
  memcpy(text, data, size);
  int rc = sg_json_scan_members(text, size, keys, 5, sp);
  /* the grammar's oracle: the compacting checker, on a copy it may rewrite */
  char *copy = malloc(size + 1);
  size_t out;
  if (!copy) {
    free(text);
    return 0;
  }
  memcpy(copy, data, size);
  copy[size] = '\0';
  int strict = sg_json_compact(copy, size, &out, NULL, 0) == 0;
  free(copy);
  sg_json_span tr[5];
  int trc = sg_json_scan_members_of(text, size, keys, 5, tr);
  if (rc == 0) {
    if (trc != 0) abort();
    for (size_t k = 0; k < 5; k++)
      if (tr[k].found != sp[k].found || tr[k].start != sp[k].start || tr[k].end != sp[k].end)
        abort();
  }
  soulgw_json *j = NULL;
  sg_json_span pl[5];
  if (sg_json_scan_plain(text, size, keys, 5, pl) == 0) {
    if (rc != 0 || soulgw_json_parse(text, size, &j, NULL, 0) != 0 ||
        soulgw_json_typeof(j) != SOULGW_JSON_OBJECT)
      abort();
    for (size_t k = 0; k < 5; k++) {
      if (pl[k].found != sp[k].found || pl[k].start != sp[k].start || pl[k].end != sp[k].end)
        abort();
      /* a string value decodes from the text as the parser decodes it */
      if (!pl[k].found || text[pl[k].start] != '"') continue;
      char *s = malloc(pl[k].end - pl[k].start - 1);
      const char *want = soulgw_json_string(soulgw_json_get(j, keys[k]));
      if (!s) continue;
      size_t n = sg_json_plain_string(text, &pl[k], s);
      if (!want || n != strlen(want) || memcmp(s, want, n + 1) != 0) abort();
      free(s);
    }
    soulgw_json_free(j);
    j = NULL;
  }
  if (strict && soulgw_json_parse(text, size, &j, NULL, 0) == 0 &&
      soulgw_json_typeof(j) == SOULGW_JSON_OBJECT) {
    if (rc != 0) abort();
    for (size_t k = 0; k < 5; k++) {
      const soulgw_json *v = soulgw_json_get(j, keys[k]);
      if (!v != !sp[k].found) abort();
      if (!v) continue;
      soulgw_json *back = NULL;
      if (soulgw_json_parse(text + sp[k].start, sp[k].end - sp[k].start, &back, NULL, 0) != 0)
        abort();
      /* compared as printed: sg_json_equal() holds an overflowing number (15e666, infinity)
       * unequal to itself */
      char *a = soulgw_json_print(v), *b = soulgw_json_print(back);
      if (!a || !b || strcmp(a, b) != 0) abort();
      free(a);
      free(b);
      soulgw_json_free(back);
    }
  }
  soulgw_json_free(j);
  free(text);
  return 0;
}
