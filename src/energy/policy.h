/* The settings of the automatic-migration policy: which policy, and the
 * thresholds that keep it from flapping. One object, validated in one place,
 * shared by the controller (stored, changed through the API), the CLI and the
 * simulation. Defaults and the reasons for them are in docs/energy.md. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

#include "energy/signal.h"
#include "lib/error.h"

typedef enum {
	ENERGY_POLICY_NONE,	/* nothing moves by itself (drained hosts still empty) */
	ENERGY_POLICY_GREENEST, /* to the area with the lowest CO2 intensity */
	ENERGY_POLICY_CHEAPEST, /* to the area with the lowest price */
	ENERGY_POLICY_BAND,	/* away from an area whose price is above its own band */
	ENERGY_POLICY_BALANCE,	/* off hosts whose CPU or memory use is above the limit */
	ENERGY_POLICY_MAX,
	ENERGY_POLICY_INVALID = -1,
} energy_policy_kind_t;

const char *energy_policy_kind_name(energy_policy_kind_t k);
energy_policy_kind_t energy_policy_kind_from_name(const char *name);

typedef struct {
	energy_policy_kind_t kind;
	char currency[4];     /* "EUR" or "DKK": the price signal of cheapest and band */
	double min_gain_pct;  /* a move must gain this % of the current host's value ... */
	double min_gain_abs;  /* ... and at least this much, in the signal's unit */
	int64_t min_dwell_ms; /* no policy move sooner than this after a workload's last move */
	int64_t horizon_ms;   /* compare the mean over [now, now + horizon] (0: the current value) */
	int64_t max_concurrent;
	int64_t max_per_hour;
	double band_pct;	 /* band: mean +/- this % of |mean| ... */
	int64_t band_window_ms;	 /* ... over this window before now, per area */
	double cpu_high_pct;	 /* a target may not go above this CPU use; balance: a host above it is overloaded */
	double mem_high_pct;	 /* same for memory */
	int64_t failure_hold_ms; /* after a failed policy migration, wait this long (doubling) before another */
	double idle_watts;	 /* power model of hosts that have none of their own */
	double max_watts;
} energy_policy_t;

void energy_policy_defaults(energy_policy_t *p);

/* Applies the fields of changes (a JSON object with any of the keys of
 * energy_policy_json) to *p after checking every one of them and their ranges;
 * *p is untouched on error (FLYT_E_INVALID naming the field). */
int energy_policy_update(energy_policy_t *p, json_t *changes, flyt_error_t *err);

/* {"policy":"greenest","currency":"EUR","min_gain_pct":10,...}: every field. */
json_t *energy_policy_json(const energy_policy_t *p);

/* The signal a policy decides by: co2 for greenest, the price in the policy's
 * currency for cheapest and band, ENERGY_KIND_INVALID for none and balance. */
energy_kind_t energy_policy_signal(const energy_policy_t *p);
/* The price signal of the policy's currency. */
energy_kind_t energy_policy_price_kind(const energy_policy_t *p);

/* Reads a number (integer or real) of obj[key] within [min, max]; a missing key
 * leaves *ret alone. */
int energy_json_get_number(json_t *obj, const char *key, double min, double max, double *ret, flyt_error_t *err);
