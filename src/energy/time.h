/* Times and durations of the energy module, always UTC.
 *
 * Timestamps are milliseconds since the epoch (int64_t). They are parsed from the
 * forms the Energi Data Service writes ("2021-05-06 21:00", "2021-05-06T21:00:00",
 * "2021-05-06T21:00:00+00:00") and the ones people type ("2021-05-06",
 * "2021-05-06T21:00Z"), by arithmetic on the calendar: no time zone database,
 * no TZ environment, no local time anywhere. */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "lib/error.h"

#define ENERGY_MS_PER_MIN INT64_C(60000)
#define ENERGY_MS_PER_HOUR INT64_C(3600000)
#define ENERGY_MS_PER_DAY INT64_C(86400000)

/* Buffer size that holds any energy_time_format() result. */
#define ENERGY_TIME_MAX 32

/* Parses "YYYY-MM-DD", "YYYY-MM-DD[T ]HH:MM[:SS[.fff]]" with an optional "Z" or
 * "+HH:MM" / "-HH:MM" / "+HHMM" offset. Without an offset the time is taken as
 * UTC. Fields are range-checked (February 30th is refused); years 1970-9999.
 * FLYT_E_INVALID naming the text otherwise. */
int energy_time_parse(const char *s, int64_t *ret_ms, flyt_error_t *err);

/* Same, for a text of len bytes that need not be NUL-terminated. */
int energy_time_parse_n(const char *s, size_t len, int64_t *ret_ms, flyt_error_t *err);

/* "2021-05-06T21:00:00Z" (seconds shown, milliseconds dropped). */
void energy_time_format(int64_t ms, char *buf, size_t size);

/* Milliseconds since the epoch of a UTC calendar date and time (no checks). */
int64_t energy_time_from_civil(int year, int month, int day, int hour, int min, int sec);

/* The UTC calendar date of ms. */
void energy_time_to_civil(int64_t ms, int *ret_year, int *ret_month, int *ret_day);

/* Parses a duration: a number with a unit "ms", "s", "m" (minutes), "h", "d"
 * ("90s", "30m", "1.5h", "2d"), or a plain integer of milliseconds. Must lie in
 * [0, 10 years]. */
int energy_duration_parse(const char *s, int64_t *ret_ms, flyt_error_t *err);

/* The shortest exact form of a duration: "0", "250ms", "90s", "30m", "2h", "7d". */
void energy_duration_format(int64_t ms, char *buf, size_t size);
