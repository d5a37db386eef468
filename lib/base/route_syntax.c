/*
 * route_syntax.c -- method names and bits, method lists, path patterns (see route_syntax.h).
 */
#include <string.h>

#include "base/route_syntax.h"

static const char *const method_names[SG_METHOD_COUNT] = {"GET",    "HEAD",  "POST",   "PUT",
                                                          "DELETE", "PATCH", "OPTIONS"};

unsigned sg_method_bit(const char *m) {
  switch (m[0]) {
    case 'G': return strcmp(m, "GET") == 0 ? SG_M_GET : 0;
    case 'H': return strcmp(m, "HEAD") == 0 ? SG_M_HEAD : 0;
    case 'P':
      if (strcmp(m, "POST") == 0) return SG_M_POST;
      if (strcmp(m, "PUT") == 0) return SG_M_PUT;
      return strcmp(m, "PATCH") == 0 ? SG_M_PATCH : 0;
    case 'D': return strcmp(m, "DELETE") == 0 ? SG_M_DELETE : 0;
    case 'O': return strcmp(m, "OPTIONS") == 0 ? SG_M_OPTIONS : 0;
    default: return 0;
  }
}

unsigned sg_method_index(unsigned bit) {
  for (unsigned i = 0; i < SG_METHOD_COUNT; i++)
    if (bit == (1u << i)) return i;
  return SG_METHOD_COUNT;
}

const char *sg_method_name(unsigned index) {
  return index < SG_METHOD_COUNT ? method_names[index] : NULL;
}

void sg_methods_format(unsigned methods, char *out, size_t len) {
  size_t n = 0;
  out[0] = '\0';
  for (int i = 0; i < SG_METHOD_COUNT; i++) {
    if (!(methods & (1u << i))) continue;
    size_t k = strlen(method_names[i]);
    if (n + k + 3 > len) break;
    if (n) {
      memcpy(out + n, ", ", 2);
      n += 2;
    }
    memcpy(out + n, method_names[i], k + 1);
    n += k;
  }
}

unsigned sg_methods_parse(const char *list) {
  unsigned bits = 0;
  char word[16];
  while (*list) {
    while (*list == ' ' || *list == ',') list++;
    size_t n = 0;
    while (*list && *list != ',' && *list != ' ') {
      if (n + 1 >= sizeof word) return 0;
      word[n++] = *list++;
    }
    if (!n) break;
    word[n] = '\0';
    unsigned b = sg_method_bit(word);
    if (!b) return 0;
    bits |= b;
  }
  return bits;
}

int sg_pattern_check(const char *p) {
  if (p[0] != '/') return -1;
  if (p[1] == '\0') return 0;
  const char *s = p + 1;
  int params = 0;
  for (;;) {
    const char *e = strchr(s, '/');
    size_t n = e ? (size_t)(e - s) : strlen(s);
    if (n == 0) return -1;
    if (s[0] == '{') {
      if (n < 3 || s[n - 1] != '}' || ++params > SG_MAX_PARAMS) return -1;
      for (size_t i = 1; i + 1 < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_'))
          return -1;
      }
    } else {
      for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c <= ' ' || c == '{' || c == '}' || c == '?' || c == '#' || c == 0x7f) return -1;
      }
    }
    if (!e) return 0;
    s = e + 1;
  }
}
