/* Fuzz target: the readers of the Energi Data Service formats (src/energy/parse.c)
 * on what a file or an answer of the service may hold. Built twice: fuzz_energy_csv
 * (CSV downloads: ';' and a decimal comma, or ',' and a decimal point) and
 * fuzz_energy_json (the API's {"records": [...]} envelope), each also going
 * through energy_parse(), which tells the two apart.
 *
 * The samples are merged into a set that already holds some, as the controller
 * merges every file and fetch into its signals. Whatever the bytes: no crash, no
 * read past the input (it is not NUL-terminated); a refusal says why and leaves
 * the set exactly as it was; an accepted input leaves every series sorted by
 * time without duplicates, with a positive step, each sample the value in effect
 * at its time; and the set stays usable (appending, finishing, trimming). */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "energy/parse.h"
#include "energy/signal.h"
#include "energy/time.h"

#ifndef FUZZ_ENERGY_JSON
#error "build with -DFUZZ_ENERGY_JSON=0 (CSV) or 1 (JSON)"
#endif

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)                                                                             \
	do {                                                                                    \
		if (!(cond)) {                                                                  \
			fprintf(stderr, "fuzz_energy: %s:%d: %s\n", __FILE__, __LINE__, #cond); \
			abort();                                                                \
		}                                                                               \
	} while (0)

/* What the set held before: one DK1 CO2 series of three samples, 5 minutes apart. */
static const char base_csv[] = "Minutes5UTC;Minutes5DK;PriceArea;CO2Emission\n"
			       "2024-01-10 23:10;2024-01-11 00:10;DK1;101,5\n"
			       "2024-01-10 23:05;2024-01-11 00:05;DK1;100\n"
			       "2024-01-10 23:00;2024-01-11 00:00;DK1;99,25\n";

static void base_set(energy_set_t *set)
{
	flyt_error_t err = FLYT_ERROR_INIT;
	energy_set_init(set);
	CHECK(energy_parse_csv(base_csv, sizeof(base_csv) - 1, "base", set, NULL, &err) == 0);
}

/* A digest of everything in a set, to see that a refusal changed nothing. */
static uint64_t digest(const energy_set_t *set)
{
	uint64_t h = 1469598103934665603ull;
#define MIX(x)                         \
	do {                           \
		h ^= (uint64_t)(x);    \
		h *= 1099511628211ull; \
	} while (0)
	MIX(set->n);
	for (size_t k = 0; k < set->n; k++) {
		const energy_series_t *s = set->series[k];
		MIX(s->kind);
		MIX(s->step_ms);
		MIX(s->n);
		for (const char *p = s->area; *p; p++)
			MIX(*p);
		for (size_t i = 0; i < s->n; i++) {
			uint64_t bits;
			memcpy(&bits, &s->s[i].v, sizeof(bits));
			MIX(s->s[i].t_ms);
			MIX(bits);
		}
	}
#undef MIX
	return h;
}

static void check_set(const energy_set_t *set)
{
	for (size_t k = 0; k < set->n; k++) {
		const energy_series_t *s = set->series[k];
		CHECK(energy_area_valid(s->area));
		CHECK(energy_kind_name(s->kind) != NULL);
		CHECK(s->step_ms > 0);
		CHECK(s->n <= s->cap);
		for (size_t i = 0; i < s->n; i++) {
			CHECK(isfinite(s->s[i].v));
			if (i > 0)
				CHECK(s->s[i].t_ms > s->s[i - 1].t_ms);
			double v = NAN;
			CHECK(energy_series_at(s, s->s[i].t_ms, &v));
			CHECK(memcmp(&v, &s->s[i].v, sizeof(v)) == 0);
		}
		int64_t first, end;
		if (energy_series_span(s, &first, &end)) {
			double mean;
			int64_t covered;
			if (energy_series_mean(s, first, end, &mean, &covered))
				CHECK(isfinite(mean) && covered > 0 && covered <= end - first);
		}
	}
}

static int parse(const char *buf, size_t len, energy_set_t *set, energy_parse_info_t *info, flyt_error_t *err)
{
#if FUZZ_ENERGY_JSON
	return energy_parse_json(buf, len, "input", set, info, err);
#else
	return energy_parse_csv(buf, len, "input", set, info, err);
#endif
}

static void one(const char *buf, size_t len, bool detect)
{
	energy_set_t set;
	base_set(&set);
	uint64_t before = digest(&set);
	energy_parse_info_t info;
	memset(&info, 0xA5, sizeof(info));
	flyt_error_t err = FLYT_ERROR_INIT;
	int r = detect ? energy_parse(buf, len, "input", &set, &info, &err) : parse(buf, len, &set, &info, &err);
	if (r < 0) {
		CHECK(r == -1 && err.code != FLYT_OK && err.msg[0]);
		CHECK(digest(&set) == before);
		energy_set_free(&set);
		return;
	}
	CHECK(memchr(info.format, '\0', sizeof(info.format)) && memchr(info.dataset, '\0', sizeof(info.dataset)) &&
	      memchr(info.time_col, '\0', sizeof(info.time_col)));
	CHECK(strcmp(info.format, "csv;") == 0 || strcmp(info.format, "csv,") == 0 || strcmp(info.format, "json") == 0);
	CHECK(info.values <= info.rows * 32); /* at most 32 columns */
	if (info.values > 0)
		CHECK(info.first_ms <= info.last_ms);
	else
		CHECK(strcmp(info.format, "json") == 0 && digest(&set) == before);
	check_set(&set);

	/* still usable: a few more samples for every series, finished, then trimmed */
	size_t nseries = set.n;
	for (size_t k = 0; k < nseries; k++) {
		energy_series_t *s = set.series[k];
		int64_t t = s->n ? s->s[s->n - 1].t_ms : 0;
		for (int i = 1; i <= 3; i++)
			energy_set_append(&set, s->area, s->kind, s->step_ms, t + i * s->step_ms, (double)i);
	}
	CHECK(energy_set_finish(&set, &err) == 0);
	check_set(&set);
	if (info.values > 0)
		energy_set_trim(&set, info.first_ms + (info.last_ms - info.first_ms) / 2);
	check_set(&set);
	energy_set_free(&set);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	one((const char *)data, size, false);
	one((const char *)data, size, true);
	return 0;
}
