/*
 * assets.h -- the console's files, embedded in the binary at build time (assets.c): the page
 * (lib/routes/ui/www/) and Debian's Chart.js (libjs-chart.js, which make copies to
 * build/ui-embed/).
 */
#ifndef SG_UI_ASSETS_H
#define SG_UI_ASSETS_H

#include <stddef.h>

typedef struct sg_ui_asset {
  const char *name; /* the path under [ui] path: "" for the page, "app.js" ... */
  const char *type; /* Content-Type */
  const char *data;
  size_t len;
} sg_ui_asset;

/* The assets, *n of them; the table and the bytes are static. */
const sg_ui_asset *sg_ui_assets(size_t *n);

#endif
