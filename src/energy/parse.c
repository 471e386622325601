/* Readers of Energi Data Service CSV downloads and JSON answers (see parse.h). */
#include "energy/parse.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "energy/time.h"
#include "lib/cleanup.h"

#define MAX_COLUMNS 32
#define MAX_FIELD 128
#define MAX_ROWS 10000000

static const struct {
	const char *utc, *local;
	int64_t step_ms;
	const char *dataset;
} time_columns[] = {
	{ "HourUTC", "HourDK", ENERGY_MS_PER_HOUR, "Elspotprices" },
	{ "Minutes5UTC", "Minutes5DK", 5 * ENERGY_MS_PER_MIN, "CO2Emis" },
	{ "TimeUTC", "TimeDK", 15 * ENERGY_MS_PER_MIN, "DayAheadPrices" },
	{ "Minutes15UTC", "Minutes15DK", 15 * ENERGY_MS_PER_MIN, NULL },
};

static const struct {
	const char *name;
	energy_kind_t kind;
} value_columns[] = {
	{ "CO2Emission", ENERGY_CO2 },
	{ "SpotPriceEUR", ENERGY_PRICE_EUR },
	{ "SpotPriceDKK", ENERGY_PRICE_DKK },
	{ "DayAheadPriceEUR", ENERGY_PRICE_EUR },
	{ "DayAheadPriceDKK", ENERGY_PRICE_DKK },
};

#define AREA_COLUMN "PriceArea"
#define MAX_OFFSET_MS (14 * ENERGY_MS_PER_HOUR)

static int time_column(const char *name)
{
	for (size_t i = 0; i < ELEMENTSOF(time_columns); i++)
		if (strcmp(time_columns[i].utc, name) == 0)
			return (int)i;
	return -1;
}

static int value_column(const char *name)
{
	for (size_t i = 0; i < ELEMENTSOF(value_columns); i++)
		if (strcmp(value_columns[i].name, name) == 0)
			return (int)i;
	return -1;
}

/* The local time must be the UTC time moved by a whole zone offset (a multiple of
 * 15 minutes, at most 14 hours). */
static bool local_plausible(int64_t utc_ms, int64_t local_ms)
{
	int64_t d = local_ms - utc_ms;
	return d >= -MAX_OFFSET_MS && d <= MAX_OFFSET_MS && d % (15 * ENERGY_MS_PER_MIN) == 0;
}

static void info_add_time(energy_parse_info_t *info, int64_t t)
{
	if (info->values == 0 || t < info->first_ms)
		info->first_ms = t;
	if (info->values == 0 || t > info->last_ms)
		info->last_ms = t;
}

/* Finishes a parse: sorts and checks the new samples, then merges them. */
static int commit(energy_set_t *tmp, const char *what, energy_set_t *out, energy_parse_info_t *info,
		  energy_parse_info_t *ret_info, flyt_error_t *err)
{
	if (info->values == 0)
		return flyt_error_set(err, FLYT_E_INVALID, 0, "%s: no values in it (%zu rows read)", what, info->rows);
	if (energy_set_finish(tmp, err) < 0)
		return flyt_error_prefix(err, "%s", what);
	energy_set_merge(out, tmp);
	if (ret_info)
		*ret_info = *info;
	return 0;
}

/* ---- CSV ---- */

typedef struct {
	const char *p, *end;
	size_t line;
} reader_t;

/* The next line without its end of line (LF or CRLF); false at the end. */
static bool next_line(reader_t *r, const char **ret, size_t *ret_len)
{
	if (r->p >= r->end)
		return false;
	const char *nl = memchr(r->p, '\n', (size_t)(r->end - r->p));
	const char *stop = nl ? nl : r->end;
	*ret = r->p;
	*ret_len = (size_t)(stop - r->p);
	if (*ret_len > 0 && (*ret)[*ret_len - 1] == '\r')
		(*ret_len)--;
	r->p = nl ? nl + 1 : r->end;
	r->line++;
	return true;
}

/* Splits a line at sep into at most MAX_COLUMNS fields of at most MAX_FIELD - 1
 * bytes, without surrounding white space or double quotes. */
static int split(const char *line, size_t len, char sep, char fields[][MAX_FIELD], size_t *ret_n, const char *what,
		 size_t lineno, flyt_error_t *err)
{
	size_t n = 0;
	const char *p = line, *end = line + len;
	for (;;) {
		const char *q = memchr(p, sep, (size_t)(end - p));
		const char *fend = q ? q : end;
		while (p < fend && (*p == ' ' || *p == '\t'))
			p++;
		while (fend > p && (fend[-1] == ' ' || fend[-1] == '\t'))
			fend--;
		if (fend - p >= 2 && *p == '"' && fend[-1] == '"') {
			p++;
			fend--;
		}
		if (n == MAX_COLUMNS)
			return flyt_error_set(err, FLYT_E_INVALID, 0, "%s: line %zu: more than %d fields", what, lineno,
					      MAX_COLUMNS);
		if (fend - p >= MAX_FIELD)
			return flyt_error_set(err, FLYT_E_INVALID, 0, "%s: line %zu: field %zu is too long", what,
					      lineno, n + 1);
		if (memchr(p, '"', (size_t)(fend - p)))
			return flyt_error_set(err, FLYT_E_INVALID, 0, "%s: line %zu: stray quote in field %zu", what,
					      lineno, n + 1);
		memcpy(fields[n], p, (size_t)(fend - p));
		fields[n][fend - p] = '\0';
		n++;
		if (!q)
			break;
		p = q + 1;
	}
	*ret_n = n;
	return 0;
}

/* A number with a decimal point, or with a decimal comma when the fields are
 * separated by ';'. */
static bool parse_number(const char *s, bool decimal_comma, double *ret)
{
	char buf[MAX_FIELD];
	size_t n = strlen(s);
	if (n == 0 || n >= sizeof(buf))
		return false;
	memcpy(buf, s, n + 1);
	if (decimal_comma) {
		char *c = strchr(buf, ',');
		if (c) {
			if (strchr(buf, '.') || strchr(c + 1, ','))
				return false;
			*c = '.';
		}
	}
	if (!(isdigit((unsigned char)buf[0]) || buf[0] == '-' || buf[0] == '+' || buf[0] == '.'))
		return false;
	char *end;
	errno = 0;
	double v = strtod(buf, &end);
	if (*end != '\0' || errno != 0 || !isfinite(v))
		return false;
	*ret = v;
	return true;
}

int energy_parse_csv(const char *buf, size_t len, const char *what, energy_set_t *out, energy_parse_info_t *ret_info,
		     flyt_error_t *err)
{
	if (len > ENERGY_PARSE_MAX_BYTES)
		return flyt_error_set(err, FLYT_E_TOO_LARGE, 0, "%s: larger than %u bytes", what,
				      ENERGY_PARSE_MAX_BYTES);
	if (len >= 3 && memcmp(buf, "\xEF\xBB\xBF", 3) == 0) {
		buf += 3;
		len -= 3;
	}
	reader_t r = { buf, buf + len, 0 };
	const char *line;
	size_t line_len;
	do {
		if (!next_line(&r, &line, &line_len))
			return flyt_error_set(err, FLYT_E_INVALID, 0, "%s: empty", what);
	} while (line_len == 0);
	if (memchr(line, '\0', line_len))
		return flyt_error_set(err, FLYT_E_INVALID, 0, "%s: not text", what);
	char sep = memchr(line, ';', line_len) ? ';' : ',';
	_cleanup_free_ char(*header)[MAX_FIELD] = calloc(MAX_COLUMNS, MAX_FIELD);
	_cleanup_free_ char(*row)[MAX_FIELD] = calloc(MAX_COLUMNS, MAX_FIELD);
	if (!header || !row)
		abort();
	size_t ncols = 0;
	if (split(line, line_len, sep, header, &ncols, what, r.line, err) < 0)
		return -1;

	int tcol = -1, lcol = -1, acol = -1, tkind = -1;
	int vcol[MAX_COLUMNS];
	size_t nvals = 0;
	for (size_t i = 0; i < ncols; i++) {
		int t = time_column(header[i]);
		if (t >= 0 && tcol < 0) {
			tcol = (int)i;
			tkind = t;
		}
		int v = value_column(header[i]);
		if (v >= 0)
			vcol[nvals++] = (int)i;
		if (strcmp(header[i], AREA_COLUMN) == 0)
			acol = (int)i;
	}
	if (tcol < 0)
		return flyt_error_set(err, FLYT_E_INVALID, 0,
				      "%s: no UTC time column (HourUTC, Minutes5UTC, TimeUTC or Minutes15UTC) in the "
				      "header \"%.*s\"",
				      what, (int)(line_len > 200 ? 200 : line_len), line);
	if (acol < 0)
		return flyt_error_set(err, FLYT_E_INVALID, 0, "%s: no %s column in the header", what, AREA_COLUMN);
	if (nvals == 0)
		return flyt_error_set(
		    err, FLYT_E_INVALID, 0,
		    "%s: no value column (CO2Emission, SpotPriceEUR, SpotPriceDKK, DayAheadPriceEUR or "
		    "DayAheadPriceDKK) in the header",
		    what);
	for (size_t i = 0; i < ncols; i++)
		if (strcmp(header[i], time_columns[tkind].local) == 0)
			lcol = (int)i;

	energy_parse_info_t info = { 0 };
	snprintf(info.format, sizeof(info.format), "csv%c", sep);
	snprintf(info.time_col, sizeof(info.time_col), "%s", time_columns[tkind].utc);
	snprintf(info.dataset, sizeof(info.dataset), "%s",
		 time_columns[tkind].dataset ? time_columns[tkind].dataset : "");
	_cleanup_(energy_set_free) energy_set_t tmp = ENERGY_SET_INIT;
	while (next_line(&r, &line, &line_len)) {
		if (line_len == 0)
			continue;
		size_t n = 0;
		if (memchr(line, '\0', line_len))
			return flyt_error_set(err, FLYT_E_INVALID, 0, "%s: line %zu: not text", what, r.line);
		if (split(line, line_len, sep, row, &n, what, r.line, err) < 0)
			return -1;
		if (n != ncols)
			return flyt_error_set(err, FLYT_E_INVALID, 0, "%s: line %zu: %zu fields, the header has %zu",
					      what, r.line, n, ncols);
		if (++info.rows > MAX_ROWS)
			return flyt_error_set(err, FLYT_E_TOO_LARGE, 0, "%s: more than %d rows", what, MAX_ROWS);
		int64_t t, local;
		if (energy_time_parse(row[tcol], &t, err) < 0)
			return flyt_error_prefix(err, "%s: line %zu: %s", what, r.line, header[tcol]);
		if (lcol >= 0 && row[lcol][0]) {
			if (energy_time_parse(row[lcol], &local, err) < 0)
				return flyt_error_prefix(err, "%s: line %zu: %s", what, r.line, header[lcol]);
			if (!local_plausible(t, local))
				return flyt_error_set(err, FLYT_E_INVALID, 0,
						      "%s: line %zu: %s %s is not %s %s moved by a time-zone offset "
						      "(columns swapped?)",
						      what, r.line, header[lcol], row[lcol], header[tcol], row[tcol]);
		}
		const char *area = row[acol];
		if (!energy_area_valid(area))
			return flyt_error_set(err, FLYT_E_INVALID, 0, "%s: line %zu: \"%s\" is not an area name", what,
					      r.line, area);
		for (size_t k = 0; k < nvals; k++) {
			const char *s = row[vcol[k]];
			if (!s[0]) {
				info.skipped++;
				continue;
			}
			double v;
			if (!parse_number(s, sep == ';', &v))
				return flyt_error_set(
				    err, FLYT_E_INVALID, 0, "%s: line %zu: %s \"%s\" is not a number%s", what, r.line,
				    header[vcol[k]], s, sep == ';' ? " (decimal comma expected)" : "");
			energy_set_append(&tmp, area, value_columns[value_column(header[vcol[k]])].kind,
					  time_columns[tkind].step_ms, t, v);
			info_add_time(&info, t);
			info.values++;
		}
	}
	return commit(&tmp, what, out, &info, ret_info, err);
}

/* ---- JSON ---- */

int energy_parse_json(const char *buf, size_t len, const char *what, energy_set_t *out, energy_parse_info_t *ret_info,
		      flyt_error_t *err)
{
	if (len > ENERGY_PARSE_MAX_BYTES)
		return flyt_error_set(err, FLYT_E_TOO_LARGE, 0, "%s: larger than %u bytes", what,
				      ENERGY_PARSE_MAX_BYTES);
	json_error_t jerr;
	_cleanup_json_ json_t *root = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &jerr);
	if (!root)
		return flyt_error_set(err, FLYT_E_INVALID, 0, "%s: not JSON: %s (line %d)", what, jerr.text, jerr.line);
	json_t *records = json_object_get(root, "records");
	if (!json_is_object(root) || !json_is_array(records))
		return flyt_error_set(err, FLYT_E_INVALID, 0,
				      "%s: not an Energi Data Service answer: expected {\"records\": [...]}", what);
	if (json_array_size(records) > MAX_ROWS)
		return flyt_error_set(err, FLYT_E_TOO_LARGE, 0, "%s: more than %d records", what, MAX_ROWS);

	energy_parse_info_t info = { 0 };
	snprintf(info.format, sizeof(info.format), "json");
	const char *dataset = json_string_value(json_object_get(root, "dataset"));
	_cleanup_(energy_set_free) energy_set_t tmp = ENERGY_SET_INIT;
	size_t i;
	json_t *rec;
	json_array_foreach (records, i, rec) {
		if (!json_is_object(rec))
			return flyt_error_set(err, FLYT_E_INVALID, 0, "%s: record %zu is not an object", what, i + 1);
		info.rows++;
		int tkind = -1;
		for (size_t k = 0; tkind < 0 && k < ELEMENTSOF(time_columns); k++)
			if (json_object_get(rec, time_columns[k].utc))
				tkind = (int)k;
		if (tkind < 0)
			return flyt_error_set(err, FLYT_E_INVALID, 0,
					      "%s: record %zu has no UTC time (HourUTC, Minutes5UTC, TimeUTC or "
					      "Minutes15UTC)",
					      what, i + 1);
		if (!info.time_col[0]) {
			snprintf(info.time_col, sizeof(info.time_col), "%s", time_columns[tkind].utc);
			snprintf(info.dataset, sizeof(info.dataset), "%s",
				 dataset		       ? dataset
				 : time_columns[tkind].dataset ? time_columns[tkind].dataset
							       : "");
		}
		const char *ts = json_string_value(json_object_get(rec, time_columns[tkind].utc));
		const char *area = json_string_value(json_object_get(rec, AREA_COLUMN));
		int64_t t, local;
		if (!ts)
			return flyt_error_set(err, FLYT_E_INVALID, 0, "%s: record %zu: %s is not a string", what, i + 1,
					      time_columns[tkind].utc);
		if (energy_time_parse(ts, &t, err) < 0)
			return flyt_error_prefix(err, "%s: record %zu: %s", what, i + 1, time_columns[tkind].utc);
		const char *ls = json_string_value(json_object_get(rec, time_columns[tkind].local));
		if (ls && ls[0]) {
			if (energy_time_parse(ls, &local, err) < 0)
				return flyt_error_prefix(err, "%s: record %zu: %s", what, i + 1,
							 time_columns[tkind].local);
			if (!local_plausible(t, local))
				return flyt_error_set(err, FLYT_E_INVALID, 0,
						      "%s: record %zu: %s %s is not %s %s moved by a time-zone offset",
						      what, i + 1, time_columns[tkind].local, ls,
						      time_columns[tkind].utc, ts);
		}
		if (!area || !energy_area_valid(area))
			return flyt_error_set(err, FLYT_E_INVALID, 0,
					      "%s: record %zu: %s is missing or not an area name", what, i + 1,
					      AREA_COLUMN);
		bool any = false;
		for (size_t k = 0; k < ELEMENTSOF(value_columns); k++) {
			json_t *v = json_object_get(rec, value_columns[k].name);
			if (!v)
				continue;
			any = true;
			if (json_is_null(v)) {
				info.skipped++;
				continue;
			}
			if (!json_is_number(v) || !isfinite(json_number_value(v)))
				return flyt_error_set(err, FLYT_E_INVALID, 0, "%s: record %zu: %s is not a number",
						      what, i + 1, value_columns[k].name);
			energy_set_append(&tmp, area, value_columns[k].kind, time_columns[tkind].step_ms, t,
					  json_number_value(v));
			info_add_time(&info, t);
			info.values++;
		}
		if (!any)
			return flyt_error_set(err, FLYT_E_INVALID, 0,
					      "%s: record %zu has no value (CO2Emission, SpotPriceEUR, SpotPriceDKK, "
					      "DayAheadPriceEUR or DayAheadPriceDKK)",
					      what, i + 1);
	}
	if (info.values == 0) {
		/* an empty answer is a valid answer: nothing published for that period */
		if (ret_info)
			*ret_info = info;
		return 0;
	}
	return commit(&tmp, what, out, &info, ret_info, err);
}

int energy_parse(const char *buf, size_t len, const char *what, energy_set_t *out, energy_parse_info_t *info,
		 flyt_error_t *err)
{
	size_t i = 0;
	if (len >= 3 && memcmp(buf, "\xEF\xBB\xBF", 3) == 0)
		i = 3;
	while (i < len && isspace((unsigned char)buf[i]))
		i++;
	if (i < len && buf[i] == '{')
		return energy_parse_json(buf + i, len - i, what, out, info, err);
	return energy_parse_csv(buf, len, what, out, info, err);
}
