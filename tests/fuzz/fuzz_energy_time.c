/* Fuzz target: the text the energy module reads besides whole files -- times
 * (src/energy/time.c: every time column of a file or an answer, --clock-start,
 * flyt simulate --from/--to), durations (--step, settings ending in _ms) and the
 * Energi Data Service query built from a dataset name, areas and a time range
 * (src/energy/eds.c).
 *
 * The input is lines: a time, another time, a duration, a dataset name and
 * comma-separated areas; the whole input is also tried as a time and as a
 * duration. Times are read from a buffer of exactly their length (the file
 * readers pass fields that are not NUL-terminated). What must hold: no crash or
 * overflow; a time read back from its own formatting is the same second; a
 * duration read back from its own formatting is the same; a query has only URL
 * characters and a limit within the service's. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "energy/eds.h"
#include "energy/signal.h"
#include "energy/time.h"
#include "lib/cleanup.h"
#include "lib/util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)                                                                                  \
	do {                                                                                         \
		if (!(cond)) {                                                                       \
			fprintf(stderr, "fuzz_energy_time: %s:%d: %s\n", __FILE__, __LINE__, #cond); \
			abort();                                                                     \
		}                                                                                    \
	} while (0)

static char *copy(const uint8_t *p, size_t n)
{
	char *s = malloc(n + 1);
	if (!s)
		abort();
	memcpy(s, p, n);
	s[n] = '\0';
	return s;
}

/* Reads a time from exactly n bytes; checks what it reads. */
static bool time_of(const uint8_t *p, size_t n, int64_t *ret)
{
	char *exact = malloc(n ? n : 1);
	if (!exact)
		abort();
	memcpy(exact, p, n);
	flyt_error_t err = FLYT_ERROR_INIT;
	int64_t t = 0;
	int r = energy_time_parse_n(exact, n, &t, &err);
	free(exact);
	if (r < 0) {
		CHECK(err.msg[0]);
		return false;
	}
	/* the NUL-terminated form reads the same */
	if (!memchr(p, '\0', n)) {
		char *s = copy(p, n);
		int64_t t2 = -1;
		CHECK(energy_time_parse(s, &t2, NULL) == 0 && t2 == t);
		free(s);
	}
	int y, m, d;
	energy_time_to_civil(t, &y, &m, &d);
	CHECK(m >= 1 && m <= 12 && d >= 1 && d <= 31);
	int64_t day = energy_time_from_civil(y, m, d, 0, 0, 0);
	CHECK(day <= t && t < day + ENERGY_MS_PER_DAY);
	char text[ENERGY_TIME_MAX];
	energy_time_format(t, text, sizeof(text));
	CHECK(strlen(text) < sizeof(text) - 1);
	if (y >= 1970 && y <= 9999) {
		int64_t back = -1;
		CHECK(energy_time_parse(text, &back, NULL) == 0);
		CHECK(back == t - (((t % 1000) + 1000) % 1000));
	}
	*ret = t;
	return true;
}

static void duration_of(const uint8_t *p, size_t n)
{
	char *s = copy(p, n);
	int64_t ms = -1;
	flyt_error_t err = FLYT_ERROR_INIT;
	if (energy_duration_parse(s, &ms, &err) == 0) {
		CHECK(ms >= 0 && ms <= INT64_C(10) * 366 * ENERGY_MS_PER_DAY);
		char text[64];
		energy_duration_format(ms, text, sizeof(text));
		int64_t back = -1;
		CHECK(energy_duration_parse(text, &back, NULL) == 0 && back == ms);
	} else {
		CHECK(err.msg[0]);
	}
	free(s);
}

static void query(const char *dataset, const char *areas_text, int64_t start, int64_t end)
{
	const energy_eds_dataset_t *d = energy_eds_dataset(dataset);
	if (!d)
		return;
	CHECK(strcmp(d->name, dataset) == 0 && d->step_ms > 0);
	char **areas = flyt_malloc0(sizeof(char *));
	char *save = NULL, *text = flyt_strdup(areas_text);
	for (char *a = strtok_r(text, ",", &save); a; a = strtok_r(NULL, ",", &save))
		if (energy_area_valid(a) && flyt_strv_len(areas) < 16)
			flyt_strv_push(&areas, a);
	free(text);
	size_t limit = energy_eds_limit(d, flyt_strv_len(areas), start, end);
	CHECK(limit >= 100 && limit <= 100000);
	char *q = energy_eds_query(d, areas, start, end, limit);
	CHECK(strncmp(q, "/dataset/", 9) == 0);
	for (const char *p = q; *p; p++)
		CHECK(*p > ' ' && *p < 0x7f && *p != '"' && *p != '#');
	free(q);
	flyt_strv_free(areas);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	int64_t t;
	(void)time_of(data, size, &t);
	duration_of(data, size);

	/* lines: start, end, duration, dataset, areas */
	const uint8_t *line[5] = { 0 };
	size_t len[5] = { 0 }, n = 0;
	const uint8_t *p = data, *end = data + size;
	while (n < 5 && p <= end) {
		const uint8_t *nl = memchr(p, '\n', (size_t)(end - p));
		line[n] = p;
		len[n] = (size_t)((nl ? nl : end) - p);
		n++;
		if (!nl)
			break;
		p = nl + 1;
	}
	if (n < 2)
		return 0;
	int64_t start = 0, stop = 0;
	bool have_start = time_of(line[0], len[0], &start);
	bool have_stop = time_of(line[1], len[1], &stop);
	if (n >= 3)
		duration_of(line[2], len[2]);
	if (n >= 4 && have_start && have_stop) {
		char *dataset = copy(line[3], len[3]);
		char *areas = n >= 5 ? copy(line[4], len[4]) : copy((const uint8_t *)"", 0);
		query(dataset, areas, start, stop);
		free(dataset);
		free(areas);
	}
	return 0;
}
