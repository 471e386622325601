/* The one error object of flyt.
 *
 * A function that can fail takes `flyt_error_t *err` as its last argument, returns a
 * negative value, and fills the error: a code (what kind of failure, which maps onto
 * an HTTP status at the API edge), the errno that caused it (or 0) and a message.
 * Callers add context with flyt_error_prefix() as the error travels up; only main()
 * or the HTTP layer prints it or turns it into a response. Library code never logs
 * an error it returns. */
#pragma once

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>

typedef enum {
	FLYT_OK = 0,
	FLYT_E_INTERNAL,     /* a bug or an unexpected system failure */
	FLYT_E_INVALID,	     /* bad input: malformed, out of range, unknown field */
	FLYT_E_NOT_FOUND,    /* the named thing does not exist */
	FLYT_E_CONFLICT,     /* exists already, or busy with something else */
	FLYT_E_UNAUTHORIZED, /* missing or wrong credentials */
	FLYT_E_FORBIDDEN,    /* authenticated, not allowed */
	FLYT_E_UNSUPPORTED,  /* the driver, host or kernel cannot do this */
	FLYT_E_UNAVAILABLE,  /* a peer (agent, controller, daemon) cannot be reached */
	FLYT_E_TIMEOUT,	     /* a deadline passed */
	FLYT_E_TOO_LARGE,    /* a request or message exceeds its bound */
	FLYT_E_CANCELLED,    /* stopped on request */
	FLYT_E_IO,	     /* reading or writing files or sockets failed */
	FLYT_E_CORRUPT,	     /* data failed its checksum or framing */
	FLYT_E_MAX,
	FLYT_E_INVALID_CODE = -1,
} flyt_code_t;

#define FLYT_ERROR_MSG_MAX 1024

typedef struct {
	flyt_code_t code;
	int errno_value;
	char msg[FLYT_ERROR_MSG_MAX];
} flyt_error_t;

#define FLYT_ERROR_INIT        \
	{                      \
		FLYT_OK, 0, "" \
	}

/* Fills err (if not NULL) and returns -1, so that `return flyt_error_set(...)` works.
 * When errnum is not 0, ": strerror(errnum)" is appended to the message. */
int flyt_error_set(flyt_error_t *err, flyt_code_t code, int errnum, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
int flyt_error_setv(flyt_error_t *err, flyt_code_t code, int errnum, const char *fmt, va_list ap)
    __attribute__((format(printf, 4, 0)));

/* Prepends "context: " to the message; keeps code and errno. Returns -1. */
int flyt_error_prefix(flyt_error_t *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

void flyt_error_clear(flyt_error_t *err);
bool flyt_error_is_set(const flyt_error_t *err);

/* Stable lower-case names ("not_found", ...) used in API error bodies, and back. */
const char *flyt_code_name(flyt_code_t code);
flyt_code_t flyt_code_from_name(const char *name);

/* The HTTP status an API answers with for a code, and back. */
int flyt_code_http_status(flyt_code_t code);
flyt_code_t flyt_code_from_http_status(int status);
