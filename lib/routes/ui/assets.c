/*
 * assets.c -- see assets.h.  Each file is pulled into .rodata by the assembler's .incbin, with a
 * symbol at its start and one at its end, so the build needs no generator; the Makefile makes
 * this object depend on the files, since the compiler's dependency list does not name them.
 * Paths are relative to the source tree's top, where make runs the compiler.
 */
#include "routes/ui/assets.h"

#define SG_INCBIN(sym, file)                                                                     \
  __asm__(".section .rodata\n"                                                                   \
          ".balign 16\n"                                                                         \
          ".hidden " #sym "\n"                                                                   \
          ".globl " #sym "\n" #sym ":\n"                                                         \
          ".incbin \"" file "\"\n"                                                               \
          ".hidden " #sym "_end\n"                                                               \
          ".globl " #sym "_end\n" #sym "_end:\n"                                                 \
          ".byte 0\n"                                                                            \
          ".previous\n");                                                                        \
  extern const char sym[], sym##_end[]

SG_INCBIN(sg_ui_index_html, "lib/routes/ui/www/index.html");
SG_INCBIN(sg_ui_app_css, "lib/routes/ui/www/app.css");
SG_INCBIN(sg_ui_app_js, "lib/routes/ui/www/app.js");
SG_INCBIN(sg_ui_chart_js, "build/ui-embed/chart.min.js");

#define JS "text/javascript; charset=utf-8"

const sg_ui_asset *sg_ui_assets(size_t *n) {
  static sg_ui_asset assets[4];
  static const sg_ui_asset init[4] = {
      {"", "text/html; charset=utf-8", sg_ui_index_html, 0},
      {"app.css", "text/css; charset=utf-8", sg_ui_app_css, 0},
      {"app.js", JS, sg_ui_app_js, 0},
      {"chart.min.js", JS, sg_ui_chart_js, 0},
  };
  static const char *const ends[4] = {sg_ui_index_html_end, sg_ui_app_css_end, sg_ui_app_js_end,
                                      sg_ui_chart_js_end};
  for (int i = 0; i < 4; i++) {
    assets[i] = init[i];
    assets[i].len = (size_t)(ends[i] - init[i].data);
  }
  *n = 4;
  return assets;
}
