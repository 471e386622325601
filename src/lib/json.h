/* JSON helpers over jansson: bounded parsing, typed field access with clear errors,
 * and rejection of fields a schema does not know. Every request body and every
 * message between the programs goes through these. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

#include "error.h"

/* Parses buf (len bytes) as one JSON object; rejects duplicate keys, bodies larger
 * than max and anything but an object at the top. */
int flyt_json_parse_object(const char *buf, size_t len, size_t max, json_t **ret, flyt_error_t *err);

/* Fails with FLYT_E_INVALID naming the first key of obj not in the NULL-terminated
 * list allowed. `what` names the object in the message ("workload spec"). */
int flyt_json_check_keys(json_t *obj, const char *what, const char *const *allowed, flyt_error_t *err);

/* Typed getters. A missing key is an error when required, otherwise *ret keeps its
 * value. Strings are borrowed from obj and limited to max_len bytes. */
int flyt_json_get_string(json_t *obj, const char *key, bool required, size_t max_len, const char **ret,
			 flyt_error_t *err);
int flyt_json_get_int(json_t *obj, const char *key, bool required, int64_t min, int64_t max, int64_t *ret,
		      flyt_error_t *err);
int flyt_json_get_bool(json_t *obj, const char *key, bool required, bool *ret, flyt_error_t *err);
int flyt_json_get_object(json_t *obj, const char *key, bool required, json_t **ret, flyt_error_t *err);
int flyt_json_get_array(json_t *obj, const char *key, bool required, size_t max_items, json_t **ret, flyt_error_t *err);

/* Reads an array of strings into a NULL-terminated vector (caller frees with
 * flyt_strv_free); each string at most max_len bytes. */
int flyt_json_get_strv(json_t *obj, const char *key, bool required, size_t max_items, size_t max_len, char ***ret,
		       flyt_error_t *err);

/* Returns a compact serialisation (caller frees); aborts on out-of-memory. */
char *flyt_json_dumps(const json_t *j);

/* Builds {"error":{"code":..., "message":...}} from err. */
json_t *flyt_json_error(const flyt_error_t *err);

/* Fills err from an error body produced by flyt_json_error (or a generic message
 * naming the HTTP status when the body is not one). Returns -1. */
int flyt_json_error_parse(json_t *body, int http_status, flyt_error_t *err);

/* Borrowed string of obj[key], or dflt when missing or not a string. */
const char *flyt_json_str(json_t *obj, const char *key, const char *dflt);
int64_t flyt_json_int(json_t *obj, const char *key, int64_t dflt);
