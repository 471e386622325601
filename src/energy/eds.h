/* What flyt knows about the Energi Data Service API, without doing I/O: its
 * datasets, its query form, and the pacing a client owes it (at most 40 requests
 * in any 10 seconds; after an HTTP 429 or a failure, back off).
 *
 * Query form: GET BASE/dataset/NAME?start=..&end=..&filter={"PriceArea":[..]}
 *             &limit=N&timezone=UTC
 * answered by {"total":..,"dataset":..,"records":[..]} (parse.h reads it). The
 * base URL is the operator's choice (flyt-controller --signals-url); nothing in
 * flyt names the service's host. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "energy/signal.h"

typedef struct {
	const char *name;	/* "CO2EmisProg" */
	int64_t step_ms;	/* time between records */
	energy_kind_t kinds[2]; /* the signals it carries (ENERGY_KIND_INVALID: none) */
	int64_t ahead_ms;	/* how far ahead of now it publishes (forecasts, day-ahead prices) */
	const char *note;
} energy_eds_dataset_t;

/* The datasets flyt reads, by name (case-sensitive, as the service spells them);
 * NULL for another. */
const energy_eds_dataset_t *energy_eds_dataset(const char *name);
/* All of them, for help texts: "CO2Emis, CO2EmisProg, DayAheadPrices, Elspotprices". */
const char *energy_eds_dataset_names(void);
/* Whether dataset d carries kind k. */
bool energy_eds_carries(const energy_eds_dataset_t *d, energy_kind_t k);

/* How many records a query may return: the expected count with a margin, at
 * most 100000. */
size_t energy_eds_limit(const energy_eds_dataset_t *d, size_t nareas, int64_t start_ms, int64_t end_ms);

/* The path and query of a request for d's records of areas (NULL-terminated,
 * valid area names) in [start, end), times in UTC to the minute. Caller frees. */
char *energy_eds_query(const energy_eds_dataset_t *d, char *const *areas, int64_t start_ms, int64_t end_ms,
		       size_t limit);

/* ---- pacing ---- */

#define ENERGY_EDS_RATE_MAX 40
#define ENERGY_EDS_RATE_WINDOW_MS 10000

/* A sliding-window limit: at most max requests in any window_ms. */
typedef struct {
	int64_t t[ENERGY_EDS_RATE_MAX];
	unsigned max;
	unsigned n, head;
	int64_t window_ms;
} energy_ratelimit_t;

/* max must be between 1 and ENERGY_EDS_RATE_MAX. */
void energy_ratelimit_init(energy_ratelimit_t *rl, unsigned max, int64_t window_ms);
/* Takes a request slot at now: returns 0 when allowed (and counts it), else
 * how many milliseconds to wait before asking again. */
int64_t energy_ratelimit_take(energy_ratelimit_t *rl, int64_t now_ms);

/* Retries after failures: the first waits base_ms, each further one twice as
 * long, up to max_ms; a server's Retry-After, when longer, wins (up to an
 * hour). */
typedef struct {
	unsigned failures;
	int64_t next_ms; /* no attempt before this */
} energy_backoff_t;

/* Records a failure at now; returns the delay chosen. retry_after_ms < 0: none given. */
int64_t energy_backoff_fail(energy_backoff_t *b, int64_t now_ms, int64_t base_ms, int64_t max_ms,
			    int64_t retry_after_ms);
/* Records a success: the next failure starts from base_ms again. */
void energy_backoff_ok(energy_backoff_t *b);
bool energy_backoff_ready(const energy_backoff_t *b, int64_t now_ms);
