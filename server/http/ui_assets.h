/* The portal's files as the build embedded them (cmake/embed.cmake writes the table):
 * the pages under their base names ("index.html", "app.js") and the onboarding rule
 * templates as "templates/<file>.json". Read-only data; ui.c serves it. */
#ifndef NRFPROV_HTTP_UI_ASSETS_H
#define NRFPROV_HTTP_UI_ASSETS_H

#include <stddef.h>

typedef struct {
  const char *name;
  const char *type; /* Content-Type */
  const unsigned char *data; /* len bytes, followed by a NUL */
  size_t len;
} ui_asset;

extern const ui_asset ui_assets[];
extern const size_t ui_n_assets;

#endif
