/* Unit tests of lib/error: filling, prefixing, clearing and naming flyt_error_t, and
 * the mapping between error codes and HTTP statuses that the API edge relies on. */
#include <errno.h>
#include <string.h>

#include "lib/error.h"
#include "tap.h"

/* flyt_error_set fills code, errno and message, appends strerror when errno is given,
 * and returns -1 so that `return flyt_error_set(...)` works. */
static void test_set(void)
{
	flyt_error_t err = FLYT_ERROR_INIT;
	ok(!flyt_error_is_set(&err), "a fresh error is not set");

	is_int(flyt_error_set(&err, FLYT_E_NOT_FOUND, 0, "workload %s", "web"), -1, "set returns -1");
	is_int(err.code, FLYT_E_NOT_FOUND, "set stores the code");
	is_int(err.errno_value, 0, "set stores errno 0");
	is_str(err.msg, "workload web", "set formats the message");
	ok(flyt_error_is_set(&err), "the error is set afterwards");

	flyt_error_set(&err, FLYT_E_IO, ENOENT, "open %s", "/x");
	is_int(err.errno_value, ENOENT, "set stores the errno");
	char want[256];
	snprintf(want, sizeof(want), "open /x: %s", strerror(ENOENT));
	is_str(err.msg, want, "a non-zero errno appends \": strerror(errno)\"");

	is_int(flyt_error_set(NULL, FLYT_E_IO, EIO, "ignored"), -1, "set with a NULL error still returns -1");
	ok(!flyt_error_is_set(NULL), "a NULL error is never set");
}

/* A message longer than the buffer is cut, never overflows, stays NUL-terminated. */
static void test_set_long(void)
{
	flyt_error_t err = FLYT_ERROR_INIT;
	char big[3000];
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	flyt_error_set(&err, FLYT_E_INVALID, EINVAL, "%s", big);
	is_int(strlen(err.msg), FLYT_ERROR_MSG_MAX - 1, "an over-long message fills the buffer exactly");
	is_int(err.code, FLYT_E_INVALID, "the code survives truncation");
}

/* flyt_error_prefix adds context in front, keeps code and errno, and nests. */
static void test_prefix(void)
{
	flyt_error_t err = FLYT_ERROR_INIT;
	flyt_error_set(&err, FLYT_E_TIMEOUT, 0, "no answer");
	is_int(flyt_error_prefix(&err, "agent %s", "h1"), -1, "prefix returns -1");
	is_str(err.msg, "agent h1: no answer", "prefix prepends \"context: \"");
	flyt_error_prefix(&err, "migrate");
	is_str(err.msg, "migrate: agent h1: no answer", "prefixes nest outermost first");
	is_int(err.code, FLYT_E_TIMEOUT, "prefix keeps the code");

	flyt_error_t empty = FLYT_ERROR_INIT;
	flyt_error_prefix(&empty, "context only");
	is_str(empty.msg, "context only", "prefix of an empty message is the context alone");
	is_int(empty.code, FLYT_E_INTERNAL, "prefix of an unset error makes it internal, never OK");

	is_int(flyt_error_prefix(NULL, "x"), -1, "prefix of a NULL error returns -1");
}

/* A long prefix on a long message keeps the prefix whole and cuts the old end. */
static void test_prefix_long(void)
{
	flyt_error_t err = FLYT_ERROR_INIT;
	char big[2000];
	memset(big, 'm', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	flyt_error_set(&err, FLYT_E_IO, 0, "%s", big);
	flyt_error_prefix(&err, "context");
	is_int(strlen(err.msg), FLYT_ERROR_MSG_MAX - 1, "prefixed message stays within the buffer");
	ok(strncmp(err.msg, "context: mmm", 12) == 0, "the prefix comes first after truncation");

	char huge_prefix[2000];
	memset(huge_prefix, 'p', sizeof(huge_prefix) - 1);
	huge_prefix[sizeof(huge_prefix) - 1] = '\0';
	flyt_error_prefix(&err, "%s", huge_prefix);
	is_int(strlen(err.msg), FLYT_ERROR_MSG_MAX - 1, "an over-long prefix is cut too, no overflow");
}

/* flyt_error_clear resets everything. */
static void test_clear(void)
{
	flyt_error_t err = FLYT_ERROR_INIT;
	flyt_error_set(&err, FLYT_E_CONFLICT, EBUSY, "busy");
	flyt_error_clear(&err);
	is_int(err.code, FLYT_OK, "clear resets the code");
	is_int(err.errno_value, 0, "clear resets errno");
	is_str(err.msg, "", "clear empties the message");
	flyt_error_clear(NULL);
	ok(true, "clear of NULL does not crash");
}

/* Every code has a distinct stable name that maps back to it; unknown names do not. */
static void test_names(void)
{
	bool roundtrip = true, distinct = true;
	for (int c = 0; c < FLYT_E_MAX; c++) {
		const char *name = flyt_code_name((flyt_code_t)c);
		if (flyt_code_from_name(name) != (flyt_code_t)c)
			roundtrip = false;
		for (int d = 0; d < c; d++)
			if (strcmp(name, flyt_code_name((flyt_code_t)d)) == 0)
				distinct = false;
	}
	ok(roundtrip, "every code's name maps back to the code");
	ok(distinct, "code names are distinct");
	is_str(flyt_code_name(FLYT_E_NOT_FOUND), "not_found", "NOT_FOUND is \"not_found\"");
	is_str(flyt_code_name(FLYT_E_TOO_LARGE), "too_large", "TOO_LARGE is \"too_large\"");
	is_str(flyt_code_name(FLYT_E_MAX), "internal", "an out-of-range code is named \"internal\"");
	is_str(flyt_code_name(FLYT_E_INVALID_CODE), "internal", "a negative code is named \"internal\"");
	is_int(flyt_code_from_name("no_such_code"), FLYT_E_INVALID_CODE, "an unknown name is INVALID_CODE");
	is_int(flyt_code_from_name(NULL), FLYT_E_INVALID_CODE, "a NULL name is INVALID_CODE");
	is_int(flyt_code_from_name("NOT_FOUND"), FLYT_E_INVALID_CODE, "names are case-sensitive");
}

/* Codes map onto the HTTP statuses the API promises, and statuses back onto codes. */
static void test_http_status(void)
{
	is_int(flyt_code_http_status(FLYT_OK), 200, "OK is 200");
	is_int(flyt_code_http_status(FLYT_E_INVALID), 400, "INVALID is 400");
	is_int(flyt_code_http_status(FLYT_E_UNAUTHORIZED), 401, "UNAUTHORIZED is 401");
	is_int(flyt_code_http_status(FLYT_E_FORBIDDEN), 403, "FORBIDDEN is 403");
	is_int(flyt_code_http_status(FLYT_E_NOT_FOUND), 404, "NOT_FOUND is 404");
	is_int(flyt_code_http_status(FLYT_E_CONFLICT), 409, "CONFLICT is 409");
	is_int(flyt_code_http_status(FLYT_E_TOO_LARGE), 413, "TOO_LARGE is 413");
	is_int(flyt_code_http_status(FLYT_E_INTERNAL), 500, "INTERNAL is 500");
	is_int(flyt_code_http_status(FLYT_E_UNAVAILABLE), 503, "UNAVAILABLE is 503");
	is_int(flyt_code_http_status(FLYT_E_TIMEOUT), 504, "TIMEOUT is 504");
	is_int(flyt_code_http_status(FLYT_E_MAX), 500, "an out-of-range code is 500");

	/* Codes with a status of their own survive the trip to HTTP and back. */
	static const flyt_code_t unique[] = { FLYT_E_INVALID,	   FLYT_E_NOT_FOUND, FLYT_E_CONFLICT,
					      FLYT_E_UNAUTHORIZED, FLYT_E_FORBIDDEN, FLYT_E_UNSUPPORTED,
					      FLYT_E_UNAVAILABLE,  FLYT_E_TIMEOUT,   FLYT_E_TOO_LARGE,
					      FLYT_E_CORRUPT,	   FLYT_E_INTERNAL };
	bool back = true;
	for (size_t i = 0; i < sizeof(unique) / sizeof(unique[0]); i++)
		if (flyt_code_from_http_status(flyt_code_http_status(unique[i])) != unique[i]) {
			diag("code %s does not survive HTTP", flyt_code_name(unique[i]));
			back = false;
		}
	ok(back, "codes with their own status map back from it");
	is_int(flyt_code_from_http_status(204), FLYT_OK, "any 2xx is OK");
	is_int(flyt_code_from_http_status(405), FLYT_E_INTERNAL, "an unmapped status is INTERNAL");
	is_int(flyt_code_from_http_status(302), FLYT_E_INTERNAL, "a redirect is INTERNAL, not OK");
}

int main(void)
{
	test_set();
	test_set_long();
	test_prefix();
	test_prefix_long();
	test_clear();
	test_names();
	test_http_status();
	return done();
}
