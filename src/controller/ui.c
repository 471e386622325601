/* Serves the web UI's embedded files (ui_assets.h) for GET requests that match no
 * API route: "/" is the single page, assets live under /assets/ with their content
 * hash in the name. Every answer carries a strict Content-Security-Policy (no
 * inline script or style, nothing from other origins, no framing), an ETag for
 * revalidation, and gzip when the browser takes it. */
#include <stdlib.h>
#include <string.h>

#include "controller/controller.h"
#include "controller/ui_assets.h"
#include "lib/util.h"

#define UI_CSP                                                                                                \
	"default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; " \
	"font-src 'self'; manifest-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"

static const ui_asset_t *find(const char *path)
{
	if (strcmp(path, "/") == 0)
		path = "/index.html";
	for (size_t i = 0; i < ui_nassets; i++)
		if (strcmp(ui_assets[i].path, path) == 0)
			return &ui_assets[i];
	return NULL;
}

/* Whether an If-None-Match header names etag (a list, or "*"). */
static bool etag_matches(const char *header, const char *etag)
{
	if (!header)
		return false;
	if (strcmp(header, "*") == 0)
		return true;
	size_t n = strlen(etag);
	for (const char *p = strstr(header, etag); p; p = strstr(p + 1, etag)) {
		char after = p[n];
		if (after == '\0' || after == ',' || after == ' ')
			return true;
	}
	return false;
}

static bool accepts_gzip(const char *header)
{
	/* "gzip" listed and not refused with q=0 */
	if (!header)
		return false;
	const char *p = strstr(header, "gzip");
	if (!p)
		return false;
	const char *q = p + 4;
	while (*q == ' ')
		q++;
	return !(strncmp(q, ";q=0", 4) == 0 && (q[4] == '\0' || q[4] == ',' || strncmp(q + 4, ".0", 2) == 0));
}

int ui_serve(flyt_http_request_t *req, flyt_http_response_t *res, flyt_error_t *err)
{
	if (flyt_startswith(req->path, "/api/"))
		return flyt_error_set(err, FLYT_E_NOT_FOUND, 0, "no such endpoint: %s %s", req->method, req->path);
	const ui_asset_t *a = find(req->path);
	if (!a)
		return flyt_error_set(err, FLYT_E_NOT_FOUND, 0, "no such page: %s", req->path);
	flyt_http_add_header(res, "Content-Security-Policy: " UI_CSP);
	flyt_http_add_header(res, "X-Frame-Options: DENY");
	flyt_http_add_header(res, "Referrer-Policy: no-referrer");
	/* browsers ignore COOP, with a console error, on plain-HTTP origins other than
	 * localhost: send it when the controller is told it is behind HTTPS */
	if (((ctl_t *)req->user)->cookie_secure)
		flyt_http_add_header(res, "Cross-Origin-Opener-Policy: same-origin");
	flyt_http_add_header(res, "Cache-Control: %s",
			     a->immutable ? "public, max-age=31536000, immutable" : "no-cache");
	const unsigned char *data = a->data;
	size_t size = a->size;
	const char *etag = a->etag;
	if (a->gzip && accepts_gzip(flyt_http_header(req, "Accept-Encoding"))) {
		data = a->gzip;
		size = a->gzip_size;
		etag = a->etag_gzip;
		flyt_http_add_header(res, "Content-Encoding: gzip");
	}
	flyt_http_add_header(res, "ETag: %s", etag);
	flyt_http_add_header(res, "Vary: Accept-Encoding");
	res->content_type = a->content_type;
	if (etag_matches(flyt_http_header(req, "If-None-Match"), etag)) {
		res->status = 304;
		return 0;
	}
	res->status = 200;
	res->body = malloc(size ? size : 1);
	if (!res->body)
		abort();
	memcpy(res->body, data, size);
	res->body_len = size;
	return 0;
}
