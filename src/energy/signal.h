/* Energy signals: time series of CO2 intensity and electricity prices per
 * electricity area, as the Energi Data Service publishes them, held in memory.
 *
 * A set holds one series per (area, kind). Each sample is a UTC timestamp and a
 * value that holds from that time for the series' step (5 minutes for CO2Emis,
 * 15 for DayAheadPrices, an hour for Elspotprices): a time not covered by a
 * sample has no value, which is how gaps and the end of the data show. Series
 * are kept sorted by time; local-time columns never enter here.
 *
 * Plain data and arithmetic: no I/O, no locks (callers serialise). */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/error.h"

typedef enum {
	ENERGY_CO2,	  /* CO2 intensity, g/kWh (CO2Emission) */
	ENERGY_PRICE_EUR, /* spot / day-ahead price, EUR/MWh */
	ENERGY_PRICE_DKK, /* spot / day-ahead price, DKK/MWh */
	ENERGY_KIND_MAX,
	ENERGY_KIND_INVALID = -1,
} energy_kind_t;

/* "co2", "price_eur", "price_dkk"; NULL for an invalid kind. */
const char *energy_kind_name(energy_kind_t k);
/* "g/kWh", "EUR/MWh", "DKK/MWh". */
const char *energy_kind_unit(energy_kind_t k);
energy_kind_t energy_kind_from_name(const char *name);

/* An area name including its NUL: "DK1", "SE3", "SYSTEM". */
#define ENERGY_AREA_MAX 16

/* 1-15 characters of A-Z a-z 0-9 _ -. */
bool energy_area_valid(const char *area);

typedef struct {
	int64_t t_ms;
	double v;
} energy_sample_t;

typedef struct {
	char area[ENERGY_AREA_MAX];
	energy_kind_t kind;
	int64_t step_ms; /* how long each sample holds; set by energy_set_finish */
	int64_t step_hint_ms;
	energy_sample_t *s;
	size_t n, cap;
} energy_series_t;

typedef struct {
	energy_series_t **series;
	size_t n, cap;
} energy_set_t;

#define ENERGY_SET_INIT    \
	{                  \
		NULL, 0, 0 \
	}

void energy_set_init(energy_set_t *set);
void energy_set_free(energy_set_t *set);
/* Total number of samples in all series. */
size_t energy_set_samples(const energy_set_t *set);

/* The series of (area, kind), or NULL. */
energy_series_t *energy_set_find(const energy_set_t *set, const char *area, energy_kind_t kind);

/* Appends a sample (any order) to the series of (area, kind), created on first
 * use with step_hint_ms as the step to assume when it ends up with one sample.
 * The area must be valid (checked by the caller). */
void energy_set_append(energy_set_t *set, const char *area, energy_kind_t kind, int64_t step_hint_ms, int64_t t_ms,
		       double v);

/* Sorts every series by time, merges duplicates of the same value and derives
 * each series' step: the smallest distance between two samples (the hint when
 * there is one sample). Two different values at one time are an error
 * (FLYT_E_INVALID): a source that contradicts itself is not guessed about. */
int energy_set_finish(energy_set_t *set, flyt_error_t *err);

/* Adds the samples of src (finished) to dst (finished): at equal times src's
 * value wins, so a newer fetch or a later file replaces older values. */
void energy_set_merge(energy_set_t *dst, const energy_set_t *src);

/* Drops samples that end before t_ms (keeps memory bounded in a long-running
 * controller). */
void energy_set_trim(energy_set_t *set, int64_t t_ms);

/* The value in effect at t: the last sample at or before t, if t is within its
 * step. Returns false (and leaves *ret alone) when none is. */
bool energy_series_at(const energy_series_t *s, int64_t t_ms, double *ret);

/* Time-weighted mean over [from, to) of the samples in effect there. *ret_covered
 * gets how many milliseconds of the interval had a value. Returns false when
 * none had. */
bool energy_series_mean(const energy_series_t *s, int64_t from_ms, int64_t to_ms, double *ret_mean,
			int64_t *ret_covered_ms);

/* First sample time and the end of the last sample's step; false when empty. */
bool energy_series_span(const energy_series_t *s, int64_t *ret_first_ms, int64_t *ret_end_ms);
