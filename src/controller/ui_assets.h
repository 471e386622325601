/* The web UI's files as flyt-controller embeds them. The table is generated at
 * build time by web/embed.py from the bundle web/build.mjs makes (or, when the UI
 * is not built, holds one page that says so); see docs/architecture.md. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

typedef struct {
	const char *path;	  /* "/index.html", "/assets/app-3F2A1B.js" */
	const char *content_type; /* "text/javascript; charset=utf-8" */
	const unsigned char *data;
	size_t size;
	const unsigned char *gzip; /* the same bytes gzip-compressed, or NULL */
	size_t gzip_size;
	const char *etag;      /* "\"sha256 prefix\"" */
	const char *etag_gzip; /* the same with "-gz": the gzip bytes differ */
	bool immutable;	       /* the name carries the content hash: cache forever */
} ui_asset_t;

extern const ui_asset_t ui_assets[];
extern const size_t ui_nassets;
/* true when the real UI was built, false for the placeholder page */
extern const bool ui_built;
