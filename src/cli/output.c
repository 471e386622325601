/* What flyt prints: aligned tables, "key: value" listings of API objects, sizes,
 * durations and JSON. Everything goes to stdout; errors are main()'s business. */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "lib/cleanup.h"
#include "lib/json.h"
#include "lib/util.h"

typedef enum {
	UNIT_NONE,
	UNIT_BYTES,
	UNIT_MS,
} unit_t;

void output_size(uint64_t bytes, char *buf, size_t size)
{
	static const char *const units[] = { "KiB", "MiB", "GiB", "TiB", "PiB" };
	if (bytes < 1024) {
		snprintf(buf, size, "%" PRIu64 " B", bytes);
		return;
	}
	double v = (double)bytes / 1024;
	size_t u = 0;
	while (v >= 1024 && u + 1 < ELEMENTSOF(units)) {
		v /= 1024;
		u++;
	}
	snprintf(buf, size, "%.1f %s", v, units[u]);
}

void output_size_decimal(uint64_t bytes, char *buf, size_t size)
{
	static const char *const units[] = { "kB", "MB", "GB", "TB", "PB" };
	if (bytes < 1000) {
		snprintf(buf, size, "%" PRIu64 " B", bytes);
		return;
	}
	double v = (double)bytes / 1000;
	size_t u = 0;
	while (v >= 1000 && u + 1 < ELEMENTSOF(units)) {
		v /= 1000;
		u++;
	}
	snprintf(buf, size, "%.1f %s", v, units[u]);
}

void output_duration(int64_t ms, char *buf, size_t size)
{
	if (ms < 0)
		snprintf(buf, size, "-");
	else if (ms < 1000)
		snprintf(buf, size, "%" PRId64 " ms", ms);
	else
		snprintf(buf, size, "%.2f s", (double)ms / 1000);
}

void output_json(const json_t *j)
{
	if (!j)
		return;
	json_dumpf(j, stdout, JSON_INDENT(2) | JSON_ENCODE_ANY);
	putchar('\n');
}

void output_json_line(const json_t *j)
{
	json_dumpf(j, stdout, JSON_COMPACT | JSON_ENCODE_ANY);
	putchar('\n');
}

void output_scalar(json_t *v, char *buf, size_t size)
{
	if (!v || json_is_null(v))
		snprintf(buf, size, "-");
	else if (json_is_string(v))
		snprintf(buf, size, "%s", json_string_value(v));
	else if (json_is_integer(v))
		snprintf(buf, size, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
	else if (json_is_real(v))
		snprintf(buf, size, "%g", json_real_value(v));
	else if (json_is_boolean(v))
		snprintf(buf, size, "%s", json_is_true(v) ? "true" : "false");
	else {
		_cleanup_free_ char *s = flyt_json_dumps(v);
		snprintf(buf, size, "%s", s);
	}
}

static bool ends_with(const char *s, const char *suffix)
{
	size_t ls = strlen(s), lx = strlen(suffix);
	return ls >= lx && strcmp(s + ls - lx, suffix) == 0;
}

/* The unit of the numbers under key: a size for "bytes" and "*_bytes", a duration
 * for "*_ms" (and everything inside, as in "phase_ms"). */
static unit_t unit_of(const char *key, unit_t parent)
{
	if (strcmp(key, "bytes") == 0 || ends_with(key, "_bytes"))
		return UNIT_BYTES;
	if (ends_with(key, "_ms"))
		return UNIT_MS;
	return parent;
}

/* Prints one value without a newline: strings whole, numbers in their unit,
 * containers as compact JSON. */
static void show_scalar(json_t *v, unit_t unit)
{
	char buf[OUTPUT_FIELD_MAX];
	if (json_is_string(v)) {
		fputs(json_string_value(v), stdout);
		return;
	}
	if (json_is_object(v) || json_is_array(v)) {
		_cleanup_free_ char *s = flyt_json_dumps(v);
		fputs(s, stdout);
		return;
	}
	if (json_is_integer(v) && unit == UNIT_BYTES)
		output_size((uint64_t)json_integer_value(v), buf, sizeof(buf));
	else if (json_is_integer(v) && unit == UNIT_MS)
		output_duration(json_integer_value(v), buf, sizeof(buf));
	else
		output_scalar(v, buf, sizeof(buf));
	fputs(buf, stdout);
}

/* One element of an array of objects, on its own indented line: a journal entry
 * as "phase at time", then any other fields as key=value. */
static void show_item(json_t *item)
{
	const char *phase = flyt_json_str(item, "phase", NULL);
	const char *time = flyt_json_str(item, "time", NULL);
	bool journal = phase && time;
	bool first = true;
	printf("  ");
	if (journal) {
		printf("%s at %s", phase, time);
		first = false;
	}
	const char *key;
	json_t *v;
	json_object_foreach (item, key, v) {
		if (journal && (strcmp(key, "phase") == 0 || strcmp(key, "time") == 0))
			continue;
		printf("%s%s=", first ? "" : " ", key);
		show_scalar(v, unit_of(key, UNIT_NONE));
		first = false;
	}
	putchar('\n');
}

static bool array_of_objects(json_t *a)
{
	size_t i;
	json_t *v;
	json_array_foreach (a, i, v)
		if (!json_is_object(v))
			return false;
	return json_array_size(a) > 0;
}

static void show_value(const char *path, json_t *v, unit_t unit)
{
	if (json_is_object(v) && json_object_size(v) > 0) {
		const char *key;
		json_t *child;
		json_object_foreach (v, key, child) {
			_cleanup_free_ char *p = path[0] ? flyt_asprintf("%s.%s", path, key) : flyt_strdup(key);
			show_value(p, child, unit_of(key, unit));
		}
		return;
	}
	if (json_is_array(v) && array_of_objects(v)) {
		printf("%s:\n", path);
		size_t i;
		json_t *item;
		json_array_foreach (v, i, item)
			show_item(item);
		return;
	}
	printf("%s: ", path);
	if (json_is_array(v)) {
		size_t i;
		json_t *item;
		json_array_foreach (v, i, item) {
			if (i > 0)
				fputs(", ", stdout);
			show_scalar(item, unit);
		}
		if (json_array_size(v) == 0)
			fputs("-", stdout);
	} else if (json_is_object(v)) {
		fputs("-", stdout); /* an empty object */
	} else {
		show_scalar(v, unit);
	}
	putchar('\n');
}

void output_show(json_t *obj)
{
	show_value("", obj, UNIT_NONE);
}

void output_table_init(output_table_t *t, size_t ncols, const char *const *headers)
{
	*t = (output_table_t){ .ncols = ncols };
	output_table_add(t, headers);
}

void output_table_add(output_table_t *t, const char *const *row)
{
	char **cells = realloc(t->cells, (t->nrows + 1) * t->ncols * sizeof(char *));
	if (!cells)
		abort();
	t->cells = cells;
	for (size_t c = 0; c < t->ncols; c++)
		cells[t->nrows * t->ncols + c] = flyt_strdup(row[c] ? row[c] : "-");
	t->nrows++;
}

void output_table_print(const output_table_t *t, FILE *f)
{
	_cleanup_free_ size_t *width = flyt_malloc0(t->ncols * sizeof(size_t));
	for (size_t r = 0; r < t->nrows; r++)
		for (size_t c = 0; c < t->ncols; c++) {
			size_t len = strlen(t->cells[r * t->ncols + c]);
			if (len > width[c])
				width[c] = len;
		}
	for (size_t r = 0; r < t->nrows; r++) {
		for (size_t c = 0; c < t->ncols; c++) {
			const char *cell = t->cells[r * t->ncols + c];
			if (c + 1 < t->ncols)
				fprintf(f, "%-*s  ", (int)width[c], cell);
			else
				fprintf(f, "%s\n", cell);
		}
	}
}

void output_table_free(output_table_t *t)
{
	for (size_t i = 0; i < t->nrows * t->ncols; i++)
		free(t->cells[i]);
	free(t->cells);
	*t = (output_table_t){ 0 };
}
