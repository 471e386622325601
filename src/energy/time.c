/* UTC timestamps and durations by calendar arithmetic (see time.h). */
#include "energy/time.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's
 * days_from_civil, valid for any year). */
static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
	y -= m <= 2;
	int64_t era = (y >= 0 ? y : y - 399) / 400;
	unsigned yoe = (unsigned)(y - era * 400);
	unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + (int64_t)doe - 719468;
}

static void civil_from_days(int64_t z, int *ret_y, int *ret_m, int *ret_d)
{
	z += 719468;
	int64_t era = (z >= 0 ? z : z - 146096) / 146097;
	unsigned doe = (unsigned)(z - era * 146097);
	unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	int64_t y = (int64_t)yoe + era * 400;
	unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	unsigned mp = (5 * doy + 2) / 153;
	unsigned d = doy - (153 * mp + 2) / 5 + 1;
	unsigned m = mp < 10 ? mp + 3 : mp - 9;
	*ret_y = (int)(y + (m <= 2));
	*ret_m = (int)m;
	*ret_d = (int)d;
}

static bool leap(int y)
{
	return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static int days_in_month(int y, int m)
{
	static const int days[] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
	return m == 2 && leap(y) ? 29 : days[m - 1];
}

int64_t energy_time_from_civil(int year, int month, int day, int hour, int min, int sec)
{
	return ((days_from_civil(year, (unsigned)month, (unsigned)day) * 24 + hour) * 60 + min) * ENERGY_MS_PER_MIN +
	       (int64_t)sec * 1000;
}

void energy_time_to_civil(int64_t ms, int *ret_year, int *ret_month, int *ret_day)
{
	int64_t days = ms >= 0 ? ms / ENERGY_MS_PER_DAY : -((-ms + ENERGY_MS_PER_DAY - 1) / ENERGY_MS_PER_DAY);
	civil_from_days(days, ret_year, ret_month, ret_day);
}

/* Reads exactly n digits at *p into *ret and advances *p. */
static bool digits(const char **p, const char *end, int n, int *ret)
{
	int v = 0;
	for (int i = 0; i < n; i++) {
		if (*p >= end || !isdigit((unsigned char)**p))
			return false;
		v = v * 10 + (**p - '0');
		(*p)++;
	}
	*ret = v;
	return true;
}

static bool expect(const char **p, const char *end, char c)
{
	if (*p >= end || **p != c)
		return false;
	(*p)++;
	return true;
}

int energy_time_parse_n(const char *s, size_t len, int64_t *ret_ms, flyt_error_t *err)
{
	const char *p = s, *end = s + len;
	int y, mo, d, h = 0, mi = 0, sec = 0, ms = 0;
	int64_t offset_min = 0;
	if (!digits(&p, end, 4, &y) || !expect(&p, end, '-') || !digits(&p, end, 2, &mo) || !expect(&p, end, '-') ||
	    !digits(&p, end, 2, &d))
		goto bad;
	if (p < end && (*p == 'T' || *p == ' ')) {
		p++;
		if (!digits(&p, end, 2, &h) || !expect(&p, end, ':') || !digits(&p, end, 2, &mi))
			goto bad;
		if (p < end && *p == ':') {
			p++;
			if (!digits(&p, end, 2, &sec))
				goto bad;
			if (p < end && *p == '.') {
				p++;
				/* milliseconds from the first three digits of the fraction */
				int n = 0;
				while (p < end && isdigit((unsigned char)*p)) {
					if (n < 3)
						ms = ms * 10 + (*p - '0');
					n++;
					p++;
				}
				if (n == 0)
					goto bad;
				for (; n < 3; n++)
					ms *= 10;
			}
		}
		if (p < end && *p == 'Z') {
			p++;
		} else if (p < end && (*p == '+' || *p == '-')) {
			int sign = *p == '-' ? -1 : 1, oh, om;
			p++;
			if (!digits(&p, end, 2, &oh))
				goto bad;
			if (p < end && *p == ':')
				p++;
			if (!digits(&p, end, 2, &om) || oh > 14 || om > 59)
				goto bad;
			offset_min = sign * (oh * 60 + om);
		}
	}
	if (p != end)
		goto bad;
	if (y < 1970 || mo < 1 || mo > 12 || d < 1 || d > days_in_month(y, mo) || h > 23 || mi > 59 || sec > 59)
		goto bad;
	*ret_ms = energy_time_from_civil(y, mo, d, h, mi, sec) + ms - offset_min * ENERGY_MS_PER_MIN;
	return 0;
bad:
	return flyt_error_set(err, FLYT_E_INVALID, 0,
			      "\"%.*s\" is not a time: expected YYYY-MM-DD[THH:MM[:SS]][Z|+HH:MM]",
			      (int)(len > 40 ? 40 : len), s);
}

int energy_time_parse(const char *s, int64_t *ret_ms, flyt_error_t *err)
{
	return energy_time_parse_n(s, strlen(s), ret_ms, err);
}

void energy_time_format(int64_t ms, char *buf, size_t size)
{
	int y, mo, d;
	energy_time_to_civil(ms, &y, &mo, &d);
	int64_t in_day = ms - days_from_civil(y, (unsigned)mo, (unsigned)d) * ENERGY_MS_PER_DAY;
	int64_t s = in_day / 1000;
	snprintf(buf, size, "%04d-%02d-%02dT%02d:%02d:%02dZ", y, mo, d, (int)(s / 3600), (int)(s / 60 % 60),
		 (int)(s % 60));
}

int energy_duration_parse(const char *s, int64_t *ret_ms, flyt_error_t *err)
{
	static const struct {
		const char *unit;
		double ms;
	} units[] = {
		{ "ms", 1 }, { "s", 1000 }, { "m", 60000 }, { "min", 60000 }, { "h", 3600000 }, { "d", 86400000 },
	};
	char *end = NULL;
	errno = 0;
	double v = strtod(s, &end);
	if (end == s || errno != 0 || !isfinite(v) || v < 0 || isspace((unsigned char)s[0]))
		goto bad;
	double factor = 0;
	if (*end == '\0') {
		/* a plain number is milliseconds, and must be a whole one */
		if (strpbrk(s, ".eE"))
			goto bad;
		factor = 1;
	}
	for (size_t i = 0; factor == 0 && i < sizeof(units) / sizeof(units[0]); i++)
		if (strcmp(end, units[i].unit) == 0)
			factor = units[i].ms;
	if (factor == 0)
		goto bad;
	double ms = v * factor;
	if (ms > 10.0 * 366 * 86400000)
		return flyt_error_set(err, FLYT_E_INVALID, 0, "duration \"%.40s\" is longer than 10 years", s);
	*ret_ms = (int64_t)llround(ms);
	return 0;
bad:
	return flyt_error_set(err, FLYT_E_INVALID, 0,
			      "\"%.40s\" is not a duration: expected a number with ms, s, m, h or d (\"90s\", \"2h\")",
			      s);
}

void energy_duration_format(int64_t ms, char *buf, size_t size)
{
	if (ms == 0)
		snprintf(buf, size, "0");
	else if (ms % ENERGY_MS_PER_DAY == 0)
		snprintf(buf, size, "%lldd", (long long)(ms / ENERGY_MS_PER_DAY));
	else if (ms % ENERGY_MS_PER_HOUR == 0)
		snprintf(buf, size, "%lldh", (long long)(ms / ENERGY_MS_PER_HOUR));
	else if (ms % ENERGY_MS_PER_MIN == 0)
		snprintf(buf, size, "%lldm", (long long)(ms / ENERGY_MS_PER_MIN));
	else if (ms % 1000 == 0)
		snprintf(buf, size, "%llds", (long long)(ms / 1000));
	else
		snprintf(buf, size, "%lldms", (long long)ms);
}
