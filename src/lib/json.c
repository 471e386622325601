/* Bounded, strict JSON access over jansson. */
#include "json.h"

#include <stdlib.h>
#include <string.h>

#include "cleanup.h"
#include "util.h"

int flyt_json_parse_object(const char *buf, size_t len, size_t max, json_t **ret, flyt_error_t *err)
{
	if (len > max)
		return flyt_error_set(err, FLYT_E_TOO_LARGE, 0, "JSON body of %zu bytes exceeds the limit of %zu", len,
				      max);
	if (len == 0)
		return flyt_error_set(err, FLYT_E_INVALID, 0, "empty body, expected a JSON object");
	json_error_t jerr;
	json_t *j = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &jerr);
	if (!j)
		return flyt_error_set(err, FLYT_E_INVALID, 0, "malformed JSON at line %d column %d: %s", jerr.line,
				      jerr.column, jerr.text);
	if (!json_is_object(j)) {
		json_decref(j);
		return flyt_error_set(err, FLYT_E_INVALID, 0, "expected a JSON object");
	}
	*ret = j;
	return 0;
}

int flyt_json_check_keys(json_t *obj, const char *what, const char *const *allowed, flyt_error_t *err)
{
	const char *key;
	json_t *val;
	json_object_foreach (obj, key, val) {
		bool ok = false;
		for (const char *const *a = allowed; *a; a++)
			if (strcmp(*a, key) == 0) {
				ok = true;
				break;
			}
		if (!ok)
			return flyt_error_set(err, FLYT_E_INVALID, 0, "%s: unknown field \"%.64s\"", what, key);
	}
	return 0;
}

static json_t *lookup(json_t *obj, const char *key, bool required, flyt_error_t *err, int *r)
{
	*r = 0;
	json_t *v = json_is_object(obj) ? json_object_get(obj, key) : NULL;
	if (!v || json_is_null(v)) {
		if (required)
			*r = flyt_error_set(err, FLYT_E_INVALID, 0, "missing field \"%s\"", key);
		return NULL;
	}
	return v;
}

int flyt_json_get_string(json_t *obj, const char *key, bool required, size_t max_len, const char **ret,
			 flyt_error_t *err)
{
	int r;
	json_t *v = lookup(obj, key, required, err, &r);
	if (!v)
		return r;
	if (!json_is_string(v))
		return flyt_error_set(err, FLYT_E_INVALID, 0, "field \"%s\" must be a string", key);
	if (json_string_length(v) > max_len)
		return flyt_error_set(err, FLYT_E_INVALID, 0, "field \"%s\" is longer than %zu bytes", key, max_len);
	if (strlen(json_string_value(v)) != json_string_length(v))
		return flyt_error_set(err, FLYT_E_INVALID, 0, "field \"%s\" contains a NUL character", key);
	*ret = json_string_value(v);
	return 0;
}

int flyt_json_get_int(json_t *obj, const char *key, bool required, int64_t min, int64_t max, int64_t *ret,
		      flyt_error_t *err)
{
	int r;
	json_t *v = lookup(obj, key, required, err, &r);
	if (!v)
		return r;
	if (!json_is_integer(v))
		return flyt_error_set(err, FLYT_E_INVALID, 0, "field \"%s\" must be an integer", key);
	json_int_t i = json_integer_value(v);
	if (i < min || i > max)
		return flyt_error_set(err, FLYT_E_INVALID, 0, "field \"%s\" must be between %lld and %lld", key,
				      (long long)min, (long long)max);
	*ret = i;
	return 0;
}

int flyt_json_get_bool(json_t *obj, const char *key, bool required, bool *ret, flyt_error_t *err)
{
	int r;
	json_t *v = lookup(obj, key, required, err, &r);
	if (!v)
		return r;
	if (!json_is_boolean(v))
		return flyt_error_set(err, FLYT_E_INVALID, 0, "field \"%s\" must be true or false", key);
	*ret = json_is_true(v);
	return 0;
}

int flyt_json_get_object(json_t *obj, const char *key, bool required, json_t **ret, flyt_error_t *err)
{
	int r;
	json_t *v = lookup(obj, key, required, err, &r);
	if (!v)
		return r;
	if (!json_is_object(v))
		return flyt_error_set(err, FLYT_E_INVALID, 0, "field \"%s\" must be an object", key);
	*ret = v;
	return 0;
}

int flyt_json_get_array(json_t *obj, const char *key, bool required, size_t max_items, json_t **ret, flyt_error_t *err)
{
	int r;
	json_t *v = lookup(obj, key, required, err, &r);
	if (!v)
		return r;
	if (!json_is_array(v))
		return flyt_error_set(err, FLYT_E_INVALID, 0, "field \"%s\" must be an array", key);
	if (json_array_size(v) > max_items)
		return flyt_error_set(err, FLYT_E_INVALID, 0, "field \"%s\" has more than %zu items", key, max_items);
	*ret = v;
	return 0;
}

int flyt_json_get_strv(json_t *obj, const char *key, bool required, size_t max_items, size_t max_len, char ***ret,
		       flyt_error_t *err)
{
	json_t *arr = NULL;
	if (flyt_json_get_array(obj, key, required, max_items, &arr, err) < 0)
		return -1;
	if (!arr)
		return 0;
	_cleanup_strv_ char **v = flyt_malloc0(sizeof(char *));
	size_t i;
	json_t *item;
	json_array_foreach (arr, i, item) {
		if (!json_is_string(item))
			return flyt_error_set(err, FLYT_E_INVALID, 0, "field \"%s\" item %zu must be a string", key, i);
		if (json_string_length(item) > max_len)
			return flyt_error_set(err, FLYT_E_INVALID, 0, "field \"%s\" item %zu is longer than %zu bytes",
					      key, i, max_len);
		if (strlen(json_string_value(item)) != json_string_length(item))
			return flyt_error_set(err, FLYT_E_INVALID, 0, "field \"%s\" item %zu contains a NUL", key, i);
		flyt_strv_push(&v, json_string_value(item));
	}
	*ret = TAKE_PTR(v);
	return 0;
}

char *flyt_json_dumps(const json_t *j)
{
	char *s = json_dumps(j, JSON_COMPACT);
	if (!s)
		abort();
	return s;
}

json_t *flyt_json_error(const flyt_error_t *err)
{
	return json_pack("{s:{s:s, s:s}}", "error", "code", flyt_code_name(err->code), "message", err->msg);
}

int flyt_json_error_parse(json_t *body, int http_status, flyt_error_t *err)
{
	json_t *e = json_is_object(body) ? json_object_get(body, "error") : NULL;
	const char *code = flyt_json_str(e, "code", NULL);
	const char *msg = flyt_json_str(e, "message", NULL);
	flyt_code_t c = flyt_code_from_name(code);
	if (c == FLYT_E_INVALID_CODE || c == FLYT_OK)
		c = flyt_code_from_http_status(http_status);
	if (c == FLYT_OK)
		c = FLYT_E_INTERNAL;
	if (msg)
		return flyt_error_set(err, c, 0, "%s", msg);
	return flyt_error_set(err, c, 0, "HTTP status %d", http_status);
}

const char *flyt_json_str(json_t *obj, const char *key, const char *dflt)
{
	json_t *v = json_is_object(obj) ? json_object_get(obj, key) : NULL;
	return json_is_string(v) ? json_string_value(v) : dflt;
}

int64_t flyt_json_int(json_t *obj, const char *key, int64_t dflt)
{
	json_t *v = json_is_object(obj) ? json_object_get(obj, key) : NULL;
	return json_is_integer(v) ? json_integer_value(v) : dflt;
}
