/* Unit tests of the energy readers (src/energy/parse.c) and the UTC time handling
 * they rest on, on every recorded data file (FLYT_ENERGY_DATA, meson option energy_data) read completely: row counts,
 * spans, values at known rows, no gaps or duplicates in UTC, the Danish DST days
 * (23 and 25 local hours) right although the local column repeats and skips an
 * hour; then the JSON form of the API, and inputs that must be refused. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "energy/parse.h"
#include "energy/signal.h"
#include "energy/time.h"
#include "lib/cleanup.h"
#include "lib/util.h"
#include "tap.h"
#include "testutil.h"

static const char *data_dir(void)
{
	const char *d = getenv("FLYT_ENERGY_DATA");
	return d ? d : "/work/shared/data/energy";
}

static char *read_data(const char *name, size_t *ret_len)
{
	_cleanup_free_ char *path = flyt_asprintf("%s/%s", data_dir(), name);
	char *text = NULL;
	flyt_error_t err = FLYT_ERROR_INIT;
	if (flyt_read_file(path, 64 * 1024 * 1024, &text, ret_len, &err) < 0) {
		diag("cannot read %s: %s", path, err.msg);
		return NULL;
	}
	return text;
}

static int64_t T(const char *s)
{
	int64_t t = 0;
	flyt_error_t err = FLYT_ERROR_INIT;
	if (energy_time_parse(s, &t, &err) < 0)
		diag("bad test time %s: %s", s, err.msg);
	return t;
}

static bool near(double a, double b)
{
	return fabs(a - b) < 1e-9;
}

/* The Danish offset from UTC by the EU rule (CET +1 h; CEST +2 h from 01:00 UTC
 * on the last Sunday of March to 01:00 UTC on the last Sunday of October),
 * computed here independently of the code under test. */
static int64_t last_sunday_0100(int year, int month)
{
	static const int mdays[] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
	int64_t t = energy_time_from_civil(year, month, mdays[month - 1], 1, 0, 0);
	/* 1970-01-01 was a Thursday: day number modulo 7, 3 = Sunday */
	while ((t / ENERGY_MS_PER_DAY + 4) % 7 != 0)
		t -= ENERGY_MS_PER_DAY;
	return t;
}

static int64_t dk_offset(int64_t utc)
{
	int y, m, d;
	energy_time_to_civil(utc, &y, &m, &d);
	bool summer = utc >= last_sunday_0100(y, 3) && utc < last_sunday_0100(y, 10);
	return (summer ? 2 : 1) * ENERGY_MS_PER_HOUR;
}

static void test_time(void)
{
	flyt_error_t err = FLYT_ERROR_INIT;
	int64_t t;
	is_int(T("1970-01-01"), 0, "the epoch");
	is_int(T("2021-05-06 21:00"), T("2021-05-06T21:00:00Z"), "space and T forms agree");
	is_int(T("2021-05-06T21:00:00+00:00"), T("2021-05-06T21:00"), "an explicit +00:00");
	is_int(T("2021-05-06T23:00:00+02:00"), T("2021-05-06T21:00"), "an offset moves to UTC");
	is_int(T("2024-02-29T12:00:00.250Z") - T("2024-02-29T12:00"), 250, "milliseconds");
	ok(energy_time_parse("2023-02-29", &t, &err) < 0, "2023-02-29 refused: %s", err.msg);
	ok(energy_time_parse("2021-13-01", &t, &err) < 0, "month 13 refused");
	ok(energy_time_parse("2021-05-06 24:00", &t, &err) < 0, "hour 24 refused");
	ok(energy_time_parse("2021-05-06 21:00 junk", &t, &err) < 0, "trailing junk refused");
	char buf[ENERGY_TIME_MAX];
	energy_time_format(T("2024-03-31 21:00"), buf, sizeof(buf));
	is_str(buf, "2024-03-31T21:00:00Z", "formatting");
	int64_t ms;
	ok(energy_duration_parse("90s", &ms, &err) == 0 && ms == 90000, "90s");
	ok(energy_duration_parse("1.5h", &ms, &err) == 0 && ms == 5400000, "1.5h");
	ok(energy_duration_parse("2d", &ms, &err) == 0 && ms == 2 * ENERGY_MS_PER_DAY, "2d");
	ok(energy_duration_parse("250", &ms, &err) == 0 && ms == 250, "a plain number is milliseconds");
	ok(energy_duration_parse("5 parsecs", &ms, &err) < 0, "unknown unit refused");
	ok(energy_duration_parse("-1h", &ms, &err) < 0, "negative refused");
	energy_duration_format(3 * ENERGY_MS_PER_HOUR, buf, sizeof(buf));
	is_str(buf, "3h", "3h formatted");
	/* the DST rule of this test, checked on known dates */
	is_int(last_sunday_0100(2021, 3), T("2021-03-28T01:00Z"), "2021 summer time starts on March 28");
	is_int(last_sunday_0100(2022, 10), T("2022-10-30T01:00Z"), "2022 summer time ends on October 30");
}

/* The multi-year file: every row read and checked against its own columns. */
static void test_mbml(void)
{
	size_t len = 0;
	_cleanup_free_ char *text = read_data("mbml_Elspotprices_DK1_DK2_2021-01_2024-03.csv", &len);
	if (!ok(text != NULL, "read the multi-year file"))
		return;
	_cleanup_(energy_set_free) energy_set_t set = ENERGY_SET_INIT;
	energy_parse_info_t info;
	flyt_error_t err = FLYT_ERROR_INIT;
	if (!ok(energy_parse(text, len, "mbml", &set, &info, &err) == 0, "parses: %s", err.msg))
		return;
	is_str(info.format, "csv;", "';' separated");
	is_str(info.time_col, "HourUTC", "hourly UTC column");
	is_int(info.rows, 56926, "every row read");
	is_int(info.values, 56926 * 2, "two prices (EUR, DKK) per row");
	is_int(info.skipped, 0, "no empty values");
	is_int(energy_set_samples(&set), 56926 * 2, "every value kept (no duplicate merged away)");

	const char *areas[] = { "DK1", "DK2" };
	const energy_kind_t kinds[] = { ENERGY_PRICE_EUR, ENERGY_PRICE_DKK };
	for (size_t a = 0; a < 2; a++)
		for (size_t k = 0; k < 2; k++) {
			energy_series_t *s = energy_set_find(&set, areas[a], kinds[k]);
			if (!ok(s != NULL, "%s %s present", areas[a], energy_kind_name(kinds[k])))
				continue;
			is_int(s->n, 28463, "%s %s: 28463 hours", areas[a], energy_kind_name(kinds[k]));
			is_int(s->step_ms, ENERGY_MS_PER_HOUR, "hourly");
			is_int(s->s[0].t_ms, T("2020-12-31 23:00"), "starts 2020-12-31 23:00 UTC");
			is_int(s->s[s->n - 1].t_ms, T("2024-03-31 21:00"), "ends 2024-03-31 21:00 UTC");
			size_t breaks = 0;
			for (size_t i = 1; i < s->n; i++)
				breaks += s->s[i].t_ms - s->s[i - 1].t_ms != ENERGY_MS_PER_HOUR;
			is_int(breaks, 0, "%s %s: one sample every UTC hour, no gap, no repeat", areas[a],
			       energy_kind_name(kinds[k]));
		}

	/* every row again, independently: its UTC time, its local time one DST offset
	 * later, and its values where the parser put them */
	size_t rows = 0, mismatches = 0, local_bad = 0, negative = 0;
	char *save = NULL;
	_cleanup_free_ char *copy = flyt_strdup(text);
	char *line = strtok_r(copy, "\n", &save); /* header */
	for (line = strtok_r(NULL, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char utc[32], local[32], area[8], dkk[32], eur[32];
		if (sscanf(line, "%31[^;];%31[^;];%7[^;];%31[^;];%31s", utc, local, area, dkk, eur) != 5) {
			mismatches++;
			continue;
		}
		rows++;
		int64_t tu = T(utc), tl = T(local);
		local_bad += tl - tu != dk_offset(tu);
		for (char *c = dkk; *c; c++)
			*c = *c == ',' ? '.' : *c;
		for (char *c = eur; *c; c++)
			*c = *c == ',' ? '.' : *c;
		double v_eur = 0, v_dkk = 0;
		bool ok_eur = energy_series_at(energy_set_find(&set, area, ENERGY_PRICE_EUR), tu, &v_eur);
		bool ok_dkk = energy_series_at(energy_set_find(&set, area, ENERGY_PRICE_DKK), tu, &v_dkk);
		if (!ok_eur || !ok_dkk || !near(v_eur, strtod(eur, NULL)) || !near(v_dkk, strtod(dkk, NULL)))
			mismatches++;
		negative += strtod(eur, NULL) < 0;
	}
	is_int(rows, 56926, "the independent pass read every row");
	is_int(mismatches, 0, "every row's values are where its UTC time says");
	is_int(local_bad, 0, "every HourDK is HourUTC plus the Danish offset of that moment");
	is_int(negative, 686, "686 negative prices, as SOURCES.md says");

	/* Danish local days around the DST changes: 23 and 25 hours; counted from
	 * the UTC samples with the offset rule, never from the local column */
	static const struct {
		const char *day;
		int hours;
	} days[] = {
		{ "2021-03-28", 23 }, { "2021-10-31", 25 }, { "2022-03-27", 23 },
		{ "2022-10-30", 25 }, { "2023-03-26", 23 }, { "2023-10-29", 25 },
		{ "2024-03-31", 23 }, { "2022-06-15", 24 }, { "2023-01-10", 24 },
	};
	energy_series_t *dk1 = energy_set_find(&set, "DK1", ENERGY_PRICE_EUR);
	for (size_t i = 0; dk1 && i < ELEMENTSOF(days); i++) {
		int64_t start = T(days[i].day) - ENERGY_MS_PER_DAY, end = start + 3 * ENERGY_MS_PER_DAY;
		int n = 0;
		for (size_t k = 0; k < dk1->n; k++) {
			int64_t t = dk1->s[k].t_ms;
			if (t < start || t >= end)
				continue;
			int64_t local = t + dk_offset(t);
			n += local >= T(days[i].day) && local < T(days[i].day) + ENERGY_MS_PER_DAY;
		}
		/* 2024-03-31 is the file's last day: it ends at 23:00 local */
		int want = strcmp(days[i].day, "2024-03-31") == 0 ? 23 : days[i].hours;
		is_int(n, want, "Danish day %s has %d hours of prices", days[i].day, want);
	}
	/* the repeated local hour of 2021-10-31 (02:00 CEST and 02:00 CET) is two
	 * samples, at 00:00 and 01:00 UTC, with the file's two values */
	double a = 0, b = 0;
	ok(energy_series_at(dk1, T("2021-10-31T00:00Z"), &a) && energy_series_at(dk1, T("2021-10-31T01:00Z"), &b),
	   "both hours of the repeated local 02:00 are there");
	diag("DK1 2021-10-31 00:00Z %.2f, 01:00Z %.2f EUR/MWh", a, b);
	double first = 0;
	ok(energy_series_at(energy_set_find(&set, "DK1", ENERGY_PRICE_DKK), T("2024-03-31 21:00"), &first) &&
	       near(first, 409.480011),
	   "the first row: DK1 409.480011 DKK at 2024-03-31 21:00");
}

static void test_small_files(void)
{
	flyt_error_t err = FLYT_ERROR_INIT;
	size_t len;
	energy_parse_info_t info;
	double v;

	_cleanup_free_ char *stepzi = read_data("stepzi_CO2EmisProg_DK2_2024-01-11.csv", &len);
	_cleanup_(energy_set_free) energy_set_t co2 = ENERGY_SET_INIT;
	ok(stepzi && energy_parse(stepzi, len, "stepzi", &co2, &info, &err) == 0, "CO2EmisProg download: %s", err.msg);
	energy_series_t *s = energy_set_find(&co2, "DK2", ENERGY_CO2);
	ok(s && s->n == 288 && info.rows == 288, "288 five-minute values (oldest first in the file)");
	ok(s && s->step_ms == 5 * ENERGY_MS_PER_MIN, "five-minute step");
	ok(energy_series_at(s, T("2024-01-10 23:00"), &v) && v == 89, "first: 89 g/kWh at 23:00 UTC");
	ok(energy_series_at(s, T("2024-01-11 22:59"), &v) && v == 110, "last: 110 g/kWh, holding until 23:00");
	ok(!energy_series_at(s, T("2024-01-11 23:00"), &v), "nothing after the last step");
	ok(!energy_series_at(s, T("2024-01-10 22:59"), &v), "nothing before the first");

	_cleanup_free_ char *evco2 = read_data("evgeniiavak_CO2EmisProg_DK1_DK2_2019-11-14.csv", &len);
	_cleanup_(energy_set_free) energy_set_t e = ENERGY_SET_INIT;
	ok(evco2 && energy_parse(evco2, len, "ev", &e, &info, &err) == 0, "2019 CO2 export (',' and integers): %s",
	   err.msg);
	is_str(info.format, "csv,", "',' separated");
	energy_series_t *d1 = energy_set_find(&e, "DK1", ENERGY_CO2), *d2 = energy_set_find(&e, "DK2", ENERGY_CO2);
	ok(d1 && d2 && d1->n == 288 && d2->n == 288 && info.rows == 576, "576 rows, 288 per area");
	bool same = d1 && d2;
	for (size_t i = 0; same && i < d1->n; i++)
		same = d1->s[i].t_ms == d2->s[i].t_ms && d1->s[i].v == d2->s[i].v;
	ok(same, "DK1 and DK2 identical at every time, as in the file");
	ok(energy_series_at(d1, T("2019-11-14 22:55"), &v) && v == 118, "newest row: 118 g/kWh");

	_cleanup_free_ char *multi = read_data("evgeniiavak_Elspotprices_multiarea_2019-11-14.csv", &len);
	_cleanup_(energy_set_free) energy_set_t m = ENERGY_SET_INIT;
	ok(multi && energy_parse(multi, len, "multi", &m, &info, &err) == 0, "multi-area spot prices: %s", err.msg);
	is_int(info.rows, 144, "144 rows");
	const char *areas[] = { "DK1", "DK2", "NO2", "SE3", "SE4", "SYSTEM" };
	int full = 0;
	for (size_t i = 0; i < ELEMENTSOF(areas); i++) {
		energy_series_t *p = energy_set_find(&m, areas[i], ENERGY_PRICE_EUR);
		full += p && p->n == 24 && p->step_ms == ENERGY_MS_PER_HOUR;
	}
	is_int(full, 6, "six areas of 24 hourly prices each");
	ok(energy_series_at(energy_set_find(&m, "SE4", ENERGY_PRICE_DKK), T("2019-11-15 10:00"), &v) && near(v, 311.13),
	   "SE4 311.13 DKK at 2019-11-15 10:00");

	_cleanup_free_ char *morten = read_data("mortenabra_elspotprices_DK1_2021-05-06.csv", &len);
	_cleanup_(energy_set_free) energy_set_t mo = ENERGY_SET_INIT;
	ok(morten && energy_parse(morten, len, "morten", &mo, &info, &err) == 0,
	   "columns in another order, HourUTC with +00:00: %s", err.msg);
	energy_series_t *eur = energy_set_find(&mo, "DK1", ENERGY_PRICE_EUR);
	ok(eur && eur->n == 24, "24 hours");
	ok(energy_series_at(eur, T("2021-05-06T21:00Z"), &v) && near(v, 74.44), "newest: 74.44 EUR at 21:00 UTC");
	ok(energy_series_at(eur, T("2021-05-05T22:00Z"), &v) && near(v, 47.59), "oldest: 47.59 EUR at 22:00 UTC");
}

static void test_json(void)
{
	flyt_error_t err = FLYT_ERROR_INIT;
	energy_parse_info_t info;
	double v;
	/* the API's answer as documented in SOURCES.md */
	const char *answer = "{\"total\":2,\"limit\":2,\"dataset\":\"CO2Emis\",\"records\":["
			     "{\"Minutes5UTC\":\"2023-12-20T12:05:00\",\"Minutes5DK\":\"2023-12-20T13:05:00\","
			     "\"PriceArea\":\"DK1\",\"CO2Emission\":97.000000},"
			     "{\"Minutes5UTC\":\"2023-12-20T12:00:00\",\"Minutes5DK\":\"2023-12-20T13:00:00\","
			     "\"PriceArea\":\"DK1\",\"CO2Emission\":94.000000}]}";
	_cleanup_(energy_set_free) energy_set_t set = ENERGY_SET_INIT;
	ok(energy_parse(answer, strlen(answer), "answer", &set, &info, &err) == 0, "API answer: %s", err.msg);
	is_str(info.format, "json", "read as JSON");
	is_str(info.dataset, "CO2Emis", "dataset from the envelope");
	energy_series_t *s = energy_set_find(&set, "DK1", ENERGY_CO2);
	ok(s && s->n == 2 && s->step_ms == 5 * ENERGY_MS_PER_MIN, "two five-minute samples");
	ok(energy_series_at(s, T("2023-12-20T12:03Z"), &v) && v == 94, "94 g/kWh from 12:00 UTC");

	const char *day_ahead = "{\"records\":[{\"TimeUTC\":\"2025-10-01T22:00:00\",\"TimeDK\":\"2025-10-02T00:00:00\","
				"\"PriceArea\":\"DK2\",\"DayAheadPriceEUR\":101.5,\"DayAheadPriceDKK\":null}]}";
	_cleanup_(energy_set_free) energy_set_t da = ENERGY_SET_INIT;
	ok(energy_parse(day_ahead, strlen(day_ahead), "da", &da, &info, &err) == 0, "DayAheadPrices record: %s",
	   err.msg);
	ok(energy_set_find(&da, "DK2", ENERGY_PRICE_EUR) && !energy_set_find(&da, "DK2", ENERGY_PRICE_DKK),
	   "null DKK skipped, EUR kept");
	is_int(info.skipped, 1, "the null is counted as skipped");
	ok(energy_series_at(energy_set_find(&da, "DK2", ENERGY_PRICE_EUR), T("2025-10-01T22:14Z"), &v) && v == 101.5,
	   "one record gets the dataset's 15-minute step");

	const char *empty = "{\"total\":0,\"records\":[]}";
	_cleanup_(energy_set_free) energy_set_t none = ENERGY_SET_INIT;
	ok(energy_parse(empty, strlen(empty), "empty", &none, &info, &err) == 0 && energy_set_samples(&none) == 0,
	   "an empty answer is an answer");

	static const struct {
		const char *text, *what;
	} bad[] = {
		{ "<html><body>Bad gateway</body></html>", "an HTML error page" },
		{ "{\"records\":[{\"Minutes5UTC\":\"2023-12-20T12:00\",\"PriceArea\":\"DK1\"", "truncated JSON" },
		{ "{\"result\":[]}", "JSON without records" },
		{ "{\"records\":{}}", "records not an array" },
		{ "{\"records\":[{\"Minutes5UTC\":12,\"PriceArea\":\"DK1\",\"CO2Emission\":1}]}",
		  "a time as a number" },
		{ "{\"records\":[{\"Minutes5UTC\":\"2023-12-20T12:00\",\"PriceArea\":\"DK1\",\"CO2Emission\":\"94\"}]}",
		  "a value as a string" },
		{ "{\"records\":[{\"Minutes5UTC\":\"2023-12-20T12:00\",\"PriceArea\":\"DK1/x\",\"CO2Emission\":9}]}",
		  "a bad area" },
		{ "{\"records\":[{\"Minutes5UTC\":\"2023-12-20T12:00\",\"PriceArea\":\"DK1\"}]}",
		  "a record without value" },
		{ "{\"records\":[{\"Minutes5UTC\":\"2023-12-20T12:00\",\"Minutes5DK\":\"2023-12-20T12:07\","
		  "\"PriceArea\":\"DK1\",\"CO2Emission\":9}]}",
		  "a local time that is no zone offset away" },
		{ "{\"records\":[{\"Minutes5UTC\":\"2023-12-20T12:00\",\"PriceArea\":\"DK1\",\"CO2Emission\":9},"
		  "{\"Minutes5UTC\":\"2023-12-20T12:00\",\"PriceArea\":\"DK1\",\"CO2Emission\":10}]}",
		  "two values for one time" },
		{ "{\"records\":[1]}", "a record that is not an object" },
	};
	for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
		_cleanup_(energy_set_free) energy_set_t out = ENERGY_SET_INIT;
		flyt_error_clear(&err);
		int r = energy_parse(bad[i].text, strlen(bad[i].text), "bad", &out, NULL, &err);
		ok(r < 0 && err.code == FLYT_E_INVALID && energy_set_samples(&out) == 0, "refused: %s (%s)",
		   bad[i].what, err.msg);
	}
}

static void test_csv_errors(void)
{
	static const struct {
		const char *text, *what;
	} bad[] = {
		{ "", "empty" },
		{ "HourDK;PriceArea;SpotPriceEUR\n2021-01-01 00:00;DK1;1,0\n", "no UTC column" },
		{ "HourUTC;SpotPriceEUR\n2021-01-01 00:00;1,0\n", "no area column" },
		{ "HourUTC;PriceArea;Foo\n2021-01-01 00:00;DK1;1\n", "no value column" },
		{ "HourUTC;PriceArea;SpotPriceEUR\n2021-01-01 00:00;DK1\n", "a short row" },
		{ "HourUTC;PriceArea;SpotPriceEUR\n2021-01-01 00:00;DK1;1,0;2\n", "a long row" },
		{ "HourUTC;PriceArea;SpotPriceEUR\n2021-01-01 00:00;DK1;abc\n", "a value that is no number" },
		{ "HourUTC;PriceArea;SpotPriceEUR\n2021-01-01 00:00;DK1;1,2,3\n", "two decimal commas" },
		{ "HourUTC,PriceArea,SpotPriceEUR\n2021-01-01 00:00,DK1,1;5\n", "a semicolon in a ',' file" },
		{ "HourUTC;PriceArea;SpotPriceEUR\n2021-02-30 00:00;DK1;1\n", "February 30th" },
		{ "HourUTC;PriceArea;SpotPriceEUR\n2021-01-01 00:00;D K1;1\n", "an area with a space" },
		{ "HourUTC;PriceArea;SpotPriceEUR\n2021-01-01 00:00;DK1;1\n2021-01-01 00:00;DK1;2\n",
		  "two values, one hour" },
		{ "HourUTC;HourDK;PriceArea;SpotPriceEUR\n2021-01-01 00:00;2021-01-03 00:00;DK1;1\n",
		  "a local time two days off" },
		{ "HourUTC;PriceArea;SpotPriceEUR\n2021-01-01 00:00;DK1;\n", "no value at all" },
		{ "HourUTC;PriceArea;SpotPriceEUR\n2021-01-01 00:00;DK1;\"1\"2\"\n", "a stray quote" },
	};
	for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
		_cleanup_(energy_set_free) energy_set_t out = ENERGY_SET_INIT;
		flyt_error_t err = FLYT_ERROR_INIT;
		int r = energy_parse(bad[i].text, strlen(bad[i].text), "bad.csv", &out, NULL, &err);
		ok(r < 0 && err.code == FLYT_E_INVALID && energy_set_samples(&out) == 0, "refused: %s (%s)",
		   bad[i].what, err.msg);
	}

	/* what must work: CRLF, a BOM, quotes, a DST repeat in the local column, an
	 * empty value skipped, identical duplicates merged, a decimal point in a ';' file */
	const char *good = "\xEF\xBB\xBF\"HourUTC\";\"HourDK\";\"PriceArea\";\"SpotPriceEUR\";\"SpotPriceDKK\"\r\n"
			   "2021-10-31 01:00;2021-10-31 02:00;DK1;10,5;\r\n"
			   "2021-10-31 00:00;2021-10-31 02:00;DK1;20,25;150,75\r\n"
			   "2021-10-31 00:00;2021-10-31 02:00;DK1;20,25;150,75\r\n"
			   "2021-10-30 23:00;2021-10-31 01:00;DK1;-3.5;-26\r\n";
	_cleanup_(energy_set_free) energy_set_t out = ENERGY_SET_INIT;
	flyt_error_t err = FLYT_ERROR_INIT;
	energy_parse_info_t info;
	ok(energy_parse(good, strlen(good), "good.csv", &out, &info, &err) == 0, "a tricky but valid file: %s",
	   err.msg);
	energy_series_t *eur = energy_set_find(&out, "DK1", ENERGY_PRICE_EUR);
	double v;
	ok(eur && eur->n == 3, "three hours (the duplicate merged)");
	ok(energy_series_at(eur, T("2021-10-31 00:00"), &v) && v == 20.25, "the first 02:00 local: 20.25");
	ok(energy_series_at(eur, T("2021-10-31 01:00"), &v) && v == 10.5, "the second 02:00 local: 10.5");
	ok(energy_series_at(eur, T("2021-10-30 23:00"), &v) && v == -3.5, "a negative price with a decimal point");
	is_int(info.skipped, 1, "the empty DKK value skipped");
	ok(eur && eur->s[0].t_ms < eur->s[1].t_ms && eur->s[1].t_ms < eur->s[2].t_ms, "ordered by UTC");
}

static void test_series(void)
{
	_cleanup_(energy_set_free) energy_set_t a = ENERGY_SET_INIT, b = ENERGY_SET_INIT;
	flyt_error_t err = FLYT_ERROR_INIT;
	int64_t t0 = T("2024-01-01");
	for (int i = 0; i < 4; i++)
		energy_set_append(&a, "DK1", ENERGY_CO2, 0, t0 + i * ENERGY_MS_PER_HOUR, 100 + i);
	energy_set_append(&b, "DK1", ENERGY_CO2, 0, t0 + 3 * ENERGY_MS_PER_HOUR, 500);
	energy_set_append(&b, "DK1", ENERGY_CO2, 0, t0 + 5 * ENERGY_MS_PER_HOUR, 600);
	ok(energy_set_finish(&a, &err) == 0 && energy_set_finish(&b, &err) == 0, "finish");
	energy_set_merge(&a, &b);
	energy_series_t *s = energy_set_find(&a, "DK1", ENERGY_CO2);
	double v, mean;
	int64_t cov;
	ok(s->n == 5, "merged: 5 samples");
	ok(energy_series_at(s, t0 + 3 * ENERGY_MS_PER_HOUR, &v) && v == 500, "the newer value wins");
	ok(!energy_series_at(s, t0 + 4 * ENERGY_MS_PER_HOUR, &v), "the hour between is a gap");
	ok(energy_series_mean(s, t0, t0 + 2 * ENERGY_MS_PER_HOUR, &mean, &cov) && mean == 100.5 &&
	       cov == 2 * ENERGY_MS_PER_HOUR,
	   "mean of two hours");
	ok(energy_series_mean(s, t0 + 3 * ENERGY_MS_PER_HOUR, t0 + 6 * ENERGY_MS_PER_HOUR, &mean, &cov) &&
	       mean == 550 && cov == 2 * ENERGY_MS_PER_HOUR,
	   "the mean skips the gap and says how much it covered");
	energy_set_trim(&a, t0 + 2 * ENERGY_MS_PER_HOUR);
	ok(s->n == 3 && s->s[0].t_ms == t0 + 2 * ENERGY_MS_PER_HOUR, "trim drops what ended");
}

/* Regression (fuzz_energy_csv, fuzz_energy_json): a merged series recorded more
 * room than it had (n + b->n + 1 after n had been updated), so appending to a set
 * after merging into it wrote past the samples' allocation (a heap overflow
 * under AddressSanitizer). Now appending after a merge grows it first. */
static void test_append_after_merge(void)
{
	_cleanup_(energy_set_free) energy_set_t set = ENERGY_SET_INIT;
	flyt_error_t err = FLYT_ERROR_INIT;
	static const char csv[] = "HourUTC;PriceArea;SpotPriceEUR\n"
				  "2024-01-01 02:00;DK1;3,5\n2024-01-01 01:00;DK1;2,5\n2024-01-01 00:00;DK1;1,5\n";
	ok(energy_parse(csv, sizeof(csv) - 1, "csv", &set, NULL, &err) == 0, "parsed into an empty set (a merge)");
	energy_series_t *s = energy_set_find(&set, "DK1", ENERGY_PRICE_EUR);
	ok(s && s->n == 3 && s->n <= s->cap, "3 samples, within its room");
	int64_t t0 = T("2024-01-01");
	for (int i = 3; i < 100; i++)
		energy_set_append(&set, "DK1", ENERGY_PRICE_EUR, 0, t0 + i * ENERGY_MS_PER_HOUR, i + 1.5);
	ok(energy_set_finish(&set, &err) == 0, "finished after appending 97 samples");
	bool right = s->n == 100;
	for (size_t i = 0; right && i < s->n; i++)
		right = s->s[i].t_ms == t0 + (int64_t)i * ENERGY_MS_PER_HOUR && s->s[i].v == (double)i + 1.5;
	ok(right, "all 100 samples in order with their values");
}

int main(void)
{
	test_time();
	test_mbml();
	test_small_files();
	test_json();
	test_csv_errors();
	test_series();
	test_append_after_merge();
	return done();
}
