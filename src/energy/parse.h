/* Readers of the Energi Data Service's formats, from memory (callers read files
 * or HTTP answers; nothing here does I/O).
 *
 * - CSV downloads: a header row naming the columns, then one row per time and
 *   area. The service's own downloads use ';' between fields and a decimal comma
 *   ("567,489990"); older exports use ',' and a decimal point. The separator is
 *   taken from the header row, columns are found by name in any order.
 * - JSON answers of its API: {"total":N, "dataset":"CO2Emis", "records":[{...}]},
 *   each record an object with the same names as the CSV columns, values as
 *   numbers or null.
 *
 * Columns understood (others are ignored):
 *   time, UTC: HourUTC (Elspotprices), Minutes5UTC (CO2Emis, CO2EmisProg),
 *              TimeUTC (DayAheadPrices), Minutes15UTC
 *   area:      PriceArea
 *   values:    CO2Emission (g/kWh), SpotPriceEUR / DayAheadPriceEUR (EUR/MWh),
 *              SpotPriceDKK / DayAheadPriceDKK (DKK/MWh)
 *   local time (HourDK, Minutes5DK, TimeDK, Minutes15DK): only checked to differ
 *   from the UTC column by a whole time-zone offset, which catches swapped
 *   columns; it never orders anything (it repeats an hour each October and skips
 *   one each March).
 * An empty or null value is skipped (counted in skipped); anything else that does
 * not parse is an error naming the line or record. */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "energy/signal.h"
#include "lib/error.h"

/* Largest input either reader accepts. */
#define ENERGY_PARSE_MAX_BYTES (256u * 1024 * 1024)

typedef struct {
	char format[8];	   /* "csv;", "csv,", "json" */
	char dataset[32];  /* from the JSON envelope, or guessed from the columns */
	char time_col[16]; /* "HourUTC", ... */
	size_t rows;	   /* data rows / records read */
	size_t values;	   /* samples taken */
	size_t skipped;	   /* empty or null values */
	int64_t first_ms, last_ms;
} energy_parse_info_t;

/* Reads buf (len bytes) in whichever format it is in (JSON when it starts with
 * '{' after white space, CSV otherwise) and merges its samples into out, which
 * is left untouched on failure. `what` names the input in messages ("file
 * X.csv"). info may be NULL. */
int energy_parse(const char *buf, size_t len, const char *what, energy_set_t *out, energy_parse_info_t *info,
		 flyt_error_t *err);

int energy_parse_csv(const char *buf, size_t len, const char *what, energy_set_t *out, energy_parse_info_t *info,
		     flyt_error_t *err);
int energy_parse_json(const char *buf, size_t len, const char *what, energy_set_t *out, energy_parse_info_t *info,
		      flyt_error_t *err);
