/* Energi Data Service datasets, queries and pacing (see eds.h). */
#include "energy/eds.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "energy/time.h"
#include "lib/cleanup.h"
#include "lib/http.h"
#include "lib/util.h"

static const energy_eds_dataset_t datasets[] = {
	{ "CO2Emis",
	  5 * ENERGY_MS_PER_MIN,
	  { ENERGY_CO2, ENERGY_KIND_INVALID },
	  0,
	  "CO2 intensity as realised, g/kWh, every 5 minutes" },
	{ "CO2EmisProg",
	  5 * ENERGY_MS_PER_MIN,
	  { ENERGY_CO2, ENERGY_KIND_INVALID },
	  2 * ENERGY_MS_PER_DAY,
	  "CO2 intensity forecast, g/kWh, every 5 minutes, for today and tomorrow" },
	{ "DayAheadPrices",
	  15 * ENERGY_MS_PER_MIN,
	  { ENERGY_PRICE_EUR, ENERGY_PRICE_DKK },
	  2 * ENERGY_MS_PER_DAY,
	  "day-ahead prices, EUR and DKK per MWh, every 15 minutes" },
	{ "Elspotprices",
	  ENERGY_MS_PER_HOUR,
	  { ENERGY_PRICE_EUR, ENERGY_PRICE_DKK },
	  2 * ENERGY_MS_PER_DAY,
	  "hourly spot prices, EUR and DKK per MWh (discontinued after 2025-09-30)" },
};

const energy_eds_dataset_t *energy_eds_dataset(const char *name)
{
	for (size_t i = 0; name && i < ELEMENTSOF(datasets); i++)
		if (strcmp(datasets[i].name, name) == 0)
			return &datasets[i];
	return NULL;
}

const char *energy_eds_dataset_names(void)
{
	return "CO2Emis, CO2EmisProg, DayAheadPrices, Elspotprices";
}

bool energy_eds_carries(const energy_eds_dataset_t *d, energy_kind_t k)
{
	return d->kinds[0] == k || d->kinds[1] == k;
}

size_t energy_eds_limit(const energy_eds_dataset_t *d, size_t nareas, int64_t start_ms, int64_t end_ms)
{
	if (end_ms <= start_ms)
		return 100;
	uint64_t rows = (uint64_t)((end_ms - start_ms) / d->step_ms + 1) * (nareas ? nareas : 1);
	rows = rows + rows / 5 + 100;
	return rows > 100000 ? 100000 : (size_t)rows;
}

/* "2024-01-10T23:00": the service's start/end form, UTC with timezone=UTC. */
static void minute(int64_t ms, char *buf, size_t size)
{
	char full[ENERGY_TIME_MAX];
	energy_time_format(ms, full, sizeof(full));
	snprintf(buf, size, "%.16s", full);
}

char *energy_eds_query(const energy_eds_dataset_t *d, char *const *areas, int64_t start_ms, int64_t end_ms,
		       size_t limit)
{
	char start[24], end[24];
	minute(start_ms, start, sizeof(start));
	minute(end_ms, end, sizeof(end));
	/* {"PriceArea":["DK1","DK2"]}; area names need no JSON escaping (energy_area_valid) */
	_cleanup_free_ char *filter = flyt_strdup("{\"PriceArea\":[");
	for (size_t i = 0; areas && areas[i]; i++) {
		char *f = flyt_asprintf("%s%s\"%s\"", filter, i ? "," : "", areas[i]);
		free(filter);
		filter = f;
	}
	char *f = flyt_asprintf("%s]}", filter);
	free(filter);
	filter = f;
	_cleanup_free_ char *efilter = flyt_url_escape(filter);
	return flyt_asprintf("/dataset/%s?start=%s&end=%s&filter=%s&limit=%zu&timezone=UTC", d->name, start, end,
			     efilter, limit);
}

void energy_ratelimit_init(energy_ratelimit_t *rl, unsigned max, int64_t window_ms)
{
	*rl = (energy_ratelimit_t){ .max = max < 1		       ? 1
					   : max > ENERGY_EDS_RATE_MAX ? ENERGY_EDS_RATE_MAX
								       : max,
				    .window_ms = window_ms };
}

int64_t energy_ratelimit_take(energy_ratelimit_t *rl, int64_t now_ms)
{
	if (rl->n == rl->max) {
		/* the oldest of the last max requests must have left the window */
		int64_t oldest = rl->t[rl->head];
		if (now_ms < oldest + rl->window_ms)
			return oldest + rl->window_ms - now_ms;
		rl->head = (rl->head + 1) % rl->max;
		rl->n--;
	}
	rl->t[(rl->head + rl->n) % rl->max] = now_ms;
	rl->n++;
	return 0;
}

int64_t energy_backoff_fail(energy_backoff_t *b, int64_t now_ms, int64_t base_ms, int64_t max_ms,
			    int64_t retry_after_ms)
{
	int64_t delay = base_ms;
	for (unsigned i = 0; i < b->failures && delay < max_ms; i++)
		delay *= 2;
	if (delay > max_ms)
		delay = max_ms;
	/* a server may ask for a pause, not for silence: at most an hour */
	if (retry_after_ms > ENERGY_MS_PER_HOUR)
		retry_after_ms = ENERGY_MS_PER_HOUR;
	if (retry_after_ms > delay)
		delay = retry_after_ms;
	b->failures++;
	b->next_ms = now_ms + delay;
	return delay;
}

void energy_backoff_ok(energy_backoff_t *b)
{
	b->failures = 0;
	b->next_ms = 0;
}

bool energy_backoff_ready(const energy_backoff_t *b, int64_t now_ms)
{
	return now_ms >= b->next_ms;
}
