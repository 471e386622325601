/* The controller's client of the Energi Data Service API (or anything that
 * answers its query form, such as a mirror or a test server): one request per
 * dataset and period, paced to the service's limit of 40 requests per 10 s, the
 * answer read by src/energy/parse.c. It never retries by itself: the caller (the
 * signal fetcher, signals.c) decides when to try again, with back-off. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "energy/eds.h"
#include "energy/parse.h"
#include "energy/signal.h"
#include "lib/error.h"

typedef struct {
	const char *base_url; /* "https://HOST/api" or "http://127.0.0.1:PORT": borrowed */
	long timeout_ms;
	energy_ratelimit_t rl;
} eds_client_t;

/* base_url is borrowed and must outlive the client. */
void eds_client_init(eds_client_t *c, const char *base_url, long timeout_ms);

typedef struct {
	long status;		/* the HTTP status; 0 when no request was answered */
	bool paced;		/* not sent: the local rate limit said wait */
	int64_t retry_after_ms; /* how long to wait before the next request (-1: as the caller sees fit) */
	energy_parse_info_t info;
	char path[1024]; /* what was asked */
} eds_result_t;

/* Asks for dataset d's records of areas (NULL-terminated) in [start_ms, end_ms)
 * and merges them into out. now_ms is the wall clock (for the pacing). Errors:
 * UNAVAILABLE when paced locally (res->paced), when the service cannot be
 * reached or answers other than 200 (HTTP 429 included, with res->retry_after_ms
 * from its Retry-After); TIMEOUT; CORRUPT when a 200 answer is not a valid
 * answer of the service. out is untouched on error. */
int eds_fetch(eds_client_t *c, const energy_eds_dataset_t *d, char *const *areas, int64_t start_ms, int64_t end_ms,
	      int64_t now_ms, energy_set_t *out, eds_result_t *res, flyt_error_t *err);
