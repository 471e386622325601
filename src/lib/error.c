/* flyt_error_t: filling, prefixing and naming errors. */
#include "error.h"

#include <stdio.h>
#include <string.h>

static const char *const code_names[FLYT_E_MAX] = {
	[FLYT_OK] = "ok",
	[FLYT_E_INTERNAL] = "internal",
	[FLYT_E_INVALID] = "invalid",
	[FLYT_E_NOT_FOUND] = "not_found",
	[FLYT_E_CONFLICT] = "conflict",
	[FLYT_E_UNAUTHORIZED] = "unauthorized",
	[FLYT_E_FORBIDDEN] = "forbidden",
	[FLYT_E_UNSUPPORTED] = "unsupported",
	[FLYT_E_UNAVAILABLE] = "unavailable",
	[FLYT_E_TIMEOUT] = "timeout",
	[FLYT_E_TOO_LARGE] = "too_large",
	[FLYT_E_CANCELLED] = "cancelled",
	[FLYT_E_IO] = "io",
	[FLYT_E_CORRUPT] = "corrupt",
};

static const int code_status[FLYT_E_MAX] = {
	[FLYT_OK] = 200,	  [FLYT_E_INTERNAL] = 500,    [FLYT_E_INVALID] = 400,
	[FLYT_E_NOT_FOUND] = 404, [FLYT_E_CONFLICT] = 409,    [FLYT_E_UNAUTHORIZED] = 401,
	[FLYT_E_FORBIDDEN] = 403, [FLYT_E_UNSUPPORTED] = 422, [FLYT_E_UNAVAILABLE] = 503,
	[FLYT_E_TIMEOUT] = 504,	  [FLYT_E_TOO_LARGE] = 413,   [FLYT_E_CANCELLED] = 409,
	[FLYT_E_IO] = 500,	  [FLYT_E_CORRUPT] = 502,
};

int flyt_error_setv(flyt_error_t *err, flyt_code_t code, int errnum, const char *fmt, va_list ap)
{
	if (!err)
		return -1;
	err->code = code;
	err->errno_value = errnum;
	int n = vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
	if (n < 0)
		n = 0;
	if (errnum && (size_t)n < sizeof(err->msg))
		snprintf(err->msg + n, sizeof(err->msg) - (size_t)n, ": %s", strerror(errnum));
	return -1;
}

int flyt_error_set(flyt_error_t *err, flyt_code_t code, int errnum, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	flyt_error_setv(err, code, errnum, fmt, ap);
	va_end(ap);
	return -1;
}

int flyt_error_prefix(flyt_error_t *err, const char *fmt, ...)
{
	if (!err)
		return -1;
	char prefix[FLYT_ERROR_MSG_MAX];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(prefix, sizeof(prefix), fmt, ap);
	va_end(ap);

	if (err->code == FLYT_OK)
		err->code = FLYT_E_INTERNAL;
	size_t plen = strlen(prefix);
	size_t olen = strlen(err->msg);
	if (olen == 0) {
		memcpy(err->msg, prefix, plen + 1);
		return -1;
	}
	/* "prefix: old", cut at the end when it does not fit */
	if (plen + 2 >= sizeof(err->msg))
		plen = sizeof(err->msg) - 3;
	size_t keep = sizeof(err->msg) - 1 - plen - 2;
	if (olen > keep)
		olen = keep;
	memmove(err->msg + plen + 2, err->msg, olen);
	err->msg[plen + 2 + olen] = '\0';
	memcpy(err->msg, prefix, plen);
	err->msg[plen] = ':';
	err->msg[plen + 1] = ' ';
	return -1;
}

void flyt_error_clear(flyt_error_t *err)
{
	if (!err)
		return;
	err->code = FLYT_OK;
	err->errno_value = 0;
	err->msg[0] = '\0';
}

bool flyt_error_is_set(const flyt_error_t *err)
{
	return err && err->code != FLYT_OK;
}

const char *flyt_code_name(flyt_code_t code)
{
	if (code < 0 || code >= FLYT_E_MAX)
		return "internal";
	return code_names[code];
}

flyt_code_t flyt_code_from_name(const char *name)
{
	if (!name)
		return FLYT_E_INVALID_CODE;
	for (int i = 0; i < FLYT_E_MAX; i++)
		if (strcmp(code_names[i], name) == 0)
			return (flyt_code_t)i;
	return FLYT_E_INVALID_CODE;
}

int flyt_code_http_status(flyt_code_t code)
{
	if (code < 0 || code >= FLYT_E_MAX)
		return 500;
	return code_status[code];
}

flyt_code_t flyt_code_from_http_status(int status)
{
	if (status >= 200 && status < 300)
		return FLYT_OK;
	switch (status) {
	case 400:
		return FLYT_E_INVALID;
	case 401:
		return FLYT_E_UNAUTHORIZED;
	case 403:
		return FLYT_E_FORBIDDEN;
	case 404:
		return FLYT_E_NOT_FOUND;
	case 409:
		return FLYT_E_CONFLICT;
	case 413:
		return FLYT_E_TOO_LARGE;
	case 422:
		return FLYT_E_UNSUPPORTED;
	case 502:
		return FLYT_E_CORRUPT;
	case 503:
		return FLYT_E_UNAVAILABLE;
	case 504:
		return FLYT_E_TIMEOUT;
	default:
		return FLYT_E_INTERNAL;
	}
}
