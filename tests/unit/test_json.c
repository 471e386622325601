/* Unit tests of lib/json: bounded, strict parsing of objects, unknown-key rejection,
 * the typed getters and their errors, and the API error body in both directions. */
#include <string.h>

#include "lib/cleanup.h"
#include "lib/json.h"
#include "tap.h"

static int parse(const char *text, size_t max, json_t **ret, flyt_error_t *err)
{
	return flyt_json_parse_object(text, strlen(text), max, ret, err);
}

/* parse_object accepts one object and nothing else: no duplicates, no trailing
 * data, no other top-level type, nothing over the limit, nothing empty. */
static void test_parse_object(void)
{
	flyt_error_t err = FLYT_ERROR_INIT;
	_cleanup_json_ json_t *j = NULL;
	is_int(parse("{\"a\": 1, \"b\": \"x\"}", 100, &j, &err), 0, "an object parses");
	ok(json_is_object(j) && json_integer_value(json_object_get(j, "a")) == 1, "... with its fields");

	json_t *none = NULL;
	is_int(parse("{\"a\": 1, \"a\": 2}", 100, &none, &err), -1, "duplicate keys are refused");
	is_int(err.code, FLYT_E_INVALID, "... as INVALID");
	is_int(parse("[1, 2]", 100, &none, &err), -1, "an array at the top is refused");
	is_int(err.code, FLYT_E_INVALID, "... as INVALID");
	is_int(parse("\"text\"", 100, &none, &err), -1, "a string at the top is refused");
	is_int(parse("{\"a\": 1} {}", 100, &none, &err), -1, "trailing data is refused");
	is_int(parse("{\"a\": 1", 100, &none, &err), -1, "a truncated object is refused");
	ok(strstr(err.msg, "malformed JSON") != NULL, "... with a message saying so (%s)", err.msg);
	is_int(parse("", 100, &none, &err), -1, "an empty body is refused");
	is_int(err.code, FLYT_E_INVALID, "... as INVALID");
	is_int(parse("{\"a\": \"0123456789\"}", 10, &none, &err), -1, "a body over the limit is refused");
	is_int(err.code, FLYT_E_TOO_LARGE, "... as TOO_LARGE");
	ok(none == NULL, "refused bodies never fill *ret");

	const char exact[] = "{\"k\":1}";
	_cleanup_json_ json_t *e = NULL;
	is_int(parse(exact, sizeof(exact) - 1, &e, &err), 0, "a body of exactly the limit parses");
}

/* check_keys names the first unknown field. */
static void test_check_keys(void)
{
	flyt_error_t err = FLYT_ERROR_INIT;
	static const char *const allowed[] = { "name", "image", NULL };
	_cleanup_json_ json_t *good = json_pack("{s:s, s:s}", "name", "a", "image", "b");
	is_int(flyt_json_check_keys(good, "spec", allowed, &err), 0, "known keys pass");
	_cleanup_json_ json_t *empty = json_object();
	is_int(flyt_json_check_keys(empty, "spec", allowed, &err), 0, "an empty object passes");
	_cleanup_json_ json_t *bad = json_pack("{s:s, s:i}", "name", "a", "imgae", 1);
	is_int(flyt_json_check_keys(bad, "spec", allowed, &err), -1, "an unknown key fails");
	is_int(err.code, FLYT_E_INVALID, "... as INVALID");
	ok(strstr(err.msg, "spec") && strstr(err.msg, "imgae"), "... naming the object and the key (%s)", err.msg);
}

/* The typed getters: required vs optional, null as missing, types, bounds. */
static void test_getters(void)
{
	flyt_error_t err = FLYT_ERROR_INIT;
	_cleanup_json_ json_t *j = json_pack("{s:s, s:i, s:b, s:{}, s:[s,s], s:n, s:f, s:[i]}", "s", "hello", "i", 42,
					     "b", 1, "o", "a", "x", "y", "null", "real", 1.5, "mixed", 3);

	const char *s = "default";
	is_int(flyt_json_get_string(j, "s", true, 10, &s, &err), 0, "get_string reads a string");
	is_str(s, "hello", "... its value");
	s = "default";
	is_int(flyt_json_get_string(j, "missing", false, 10, &s, &err), 0, "an optional missing string is fine");
	is_str(s, "default", "... and leaves *ret alone");
	is_int(flyt_json_get_string(j, "missing", true, 10, &s, &err), -1, "a required missing string fails");
	is_int(err.code, FLYT_E_INVALID, "... as INVALID");
	ok(strstr(err.msg, "missing") != NULL, "... naming the field (%s)", err.msg);
	is_int(flyt_json_get_string(j, "null", true, 10, &s, &err), -1, "null counts as missing when required");
	is_int(flyt_json_get_string(j, "null", false, 10, &s, &err), 0, "null counts as missing when optional");
	is_int(flyt_json_get_string(j, "i", true, 10, &s, &err), -1, "a number is not a string");
	is_int(flyt_json_get_string(j, "s", true, 4, &s, &err), -1, "a string over max_len fails");
	is_int(flyt_json_get_string(j, "s", true, 5, &s, &err), 0, "a string of exactly max_len passes");
	is_int(flyt_json_get_string(NULL, "s", false, 5, &s, &err), 0, "a NULL object has no fields");

	_cleanup_json_ json_t *nul = json_object();
	json_object_set_new(nul, "s", json_stringn("a\0b", 3));
	is_int(flyt_json_get_string(nul, "s", true, 10, &s, &err), -1, "a string with an embedded NUL fails");

	int64_t i = -1;
	is_int(flyt_json_get_int(j, "i", true, 0, 100, &i, &err), 0, "get_int reads an integer");
	is_int(i, 42, "... its value");
	is_int(flyt_json_get_int(j, "i", true, 42, 42, &i, &err), 0, "bounds are inclusive");
	is_int(flyt_json_get_int(j, "i", true, 0, 41, &i, &err), -1, "above max fails");
	is_int(flyt_json_get_int(j, "i", true, 43, 100, &i, &err), -1, "below min fails");
	is_int(flyt_json_get_int(j, "real", true, 0, 100, &i, &err), -1, "a real number is not an integer");
	is_int(flyt_json_get_int(j, "s", true, 0, 100, &i, &err), -1, "a string is not an integer");
	i = 7;
	is_int(flyt_json_get_int(j, "missing", false, 0, 100, &i, &err), 0, "an optional missing integer is fine");
	is_int(i, 7, "... and leaves *ret alone");

	bool b = false;
	is_int(flyt_json_get_bool(j, "b", true, &b, &err), 0, "get_bool reads a boolean");
	ok(b, "... true");
	is_int(flyt_json_get_bool(j, "i", true, &b, &err), -1, "a number is not a boolean");

	json_t *o = NULL;
	is_int(flyt_json_get_object(j, "o", true, &o, &err), 0, "get_object reads an object");
	ok(json_is_object(o), "... borrowed");
	is_int(flyt_json_get_object(j, "a", true, &o, &err), -1, "an array is not an object");

	json_t *a = NULL;
	is_int(flyt_json_get_array(j, "a", true, 2, &a, &err), 0, "get_array reads an array");
	is_int(flyt_json_get_array(j, "a", true, 1, &a, &err), -1, "an array over max_items fails");
	is_int(flyt_json_get_array(j, "o", true, 2, &a, &err), -1, "an object is not an array");

	_cleanup_strv_ char **v = NULL;
	is_int(flyt_json_get_strv(j, "a", true, 2, 10, &v, &err), 0, "get_strv reads an array of strings");
	ok(v && strcmp(v[0], "x") == 0 && strcmp(v[1], "y") == 0 && v[2] == NULL, "... into a vector");
	char **none = NULL;
	is_int(flyt_json_get_strv(j, "mixed", true, 2, 10, &none, &err), -1, "an array with a number fails");
	ok(strstr(err.msg, "item 0") != NULL, "... naming the item (%s)", err.msg);
	is_int(flyt_json_get_strv(j, "a", true, 2, 0, &none, &err), -1, "an item over max_len fails");
	is_int(flyt_json_get_strv(j, "missing", false, 2, 10, &none, &err), 0, "an optional missing vector is fine");
	ok(none == NULL, "... and leaves *ret alone");
}

/* The API error body, produced and read back; and the convenience accessors. */
static void test_error_body(void)
{
	flyt_error_t err = FLYT_ERROR_INIT;
	flyt_error_set(&err, FLYT_E_CONFLICT, 0, "workload \"web\" exists");
	_cleanup_json_ json_t *body = flyt_json_error(&err);
	_cleanup_free_ char *text = flyt_json_dumps(body);
	is_str(text, "{\"error\":{\"code\":\"conflict\",\"message\":\"workload \\\"web\\\" exists\"}}",
	       "json_error builds {\"error\":{\"code\",\"message\"}}, compact");

	flyt_error_t back = FLYT_ERROR_INIT;
	is_int(flyt_json_error_parse(body, 409, &back), -1, "json_error_parse returns -1");
	is_int(back.code, FLYT_E_CONFLICT, "... with the body's code");
	is_str(back.msg, "workload \"web\" exists", "... and message");

	_cleanup_json_ json_t *other = json_pack("{s:s}", "detail", "nope");
	flyt_json_error_parse(other, 404, &back);
	is_int(back.code, FLYT_E_NOT_FOUND, "a foreign body takes its code from the status");
	is_str(back.msg, "HTTP status 404", "... and a message naming the status");

	flyt_json_error_parse(NULL, 502, &back);
	is_int(back.code, FLYT_E_CORRUPT, "no body at all: code from the status");

	_cleanup_json_ json_t *okcode = json_pack("{s:{s:s, s:s}}", "error", "code", "ok", "message", "m");
	flyt_json_error_parse(okcode, 200, &back);
	is_int(back.code, FLYT_E_INTERNAL, "an error body never yields OK");

	_cleanup_json_ json_t *j = json_pack("{s:s, s:i}", "s", "v", "i", 5);
	is_str(flyt_json_str(j, "s", "d"), "v", "json_str reads a string");
	is_str(flyt_json_str(j, "i", "d"), "d", "json_str of a number gives the default");
	is_str(flyt_json_str(NULL, "s", NULL), NULL, "json_str of NULL gives the default");
	is_int(flyt_json_int(j, "i", -1), 5, "json_int reads an integer");
	is_int(flyt_json_int(j, "s", -1), -1, "json_int of a string gives the default");
}

int main(void)
{
	test_parse_object();
	test_check_keys();
	test_getters();
	test_error_body();
	return done();
}
