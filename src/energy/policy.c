/* Policy settings: defaults, validation, JSON (see policy.h). */
#include "energy/policy.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "energy/time.h"
#include "lib/cleanup.h"
#include "lib/json.h"

static const char *const kind_names[ENERGY_POLICY_MAX] = {
	[ENERGY_POLICY_NONE] = "none", [ENERGY_POLICY_GREENEST] = "greenest", [ENERGY_POLICY_CHEAPEST] = "cheapest",
	[ENERGY_POLICY_BAND] = "band", [ENERGY_POLICY_BALANCE] = "balance",
};

const char *energy_policy_kind_name(energy_policy_kind_t k)
{
	return k >= 0 && k < ENERGY_POLICY_MAX ? kind_names[k] : NULL;
}

energy_policy_kind_t energy_policy_kind_from_name(const char *name)
{
	for (int k = 0; name && k < ENERGY_POLICY_MAX; k++)
		if (strcmp(kind_names[k], name) == 0)
			return (energy_policy_kind_t)k;
	return ENERGY_POLICY_INVALID;
}

void energy_policy_defaults(energy_policy_t *p)
{
	*p = (energy_policy_t){
		.kind = ENERGY_POLICY_NONE,
		.currency = "EUR",
		.min_gain_pct = 10,
		.min_gain_abs = 5,
		.min_dwell_ms = ENERGY_MS_PER_HOUR,
		.horizon_ms = 0,
		.max_concurrent = 1,
		.max_per_hour = 6,
		.band_pct = 5,
		.band_window_ms = 5 * ENERGY_MS_PER_DAY,
		.cpu_high_pct = 90,
		.mem_high_pct = 90,
		.failure_hold_ms = ENERGY_MS_PER_HOUR,
		.idle_watts = 100,
		.max_watts = 250,
	};
}

energy_kind_t energy_policy_price_kind(const energy_policy_t *p)
{
	return strcmp(p->currency, "DKK") == 0 ? ENERGY_PRICE_DKK : ENERGY_PRICE_EUR;
}

energy_kind_t energy_policy_signal(const energy_policy_t *p)
{
	switch (p->kind) {
	case ENERGY_POLICY_GREENEST:
		return ENERGY_CO2;
	case ENERGY_POLICY_CHEAPEST:
	case ENERGY_POLICY_BAND:
		return energy_policy_price_kind(p);
	default:
		return ENERGY_KIND_INVALID;
	}
}

int energy_json_get_number(json_t *obj, const char *key, double min, double max, double *ret, flyt_error_t *err)
{
	json_t *v = json_object_get(obj, key);
	if (!v)
		return 0;
	if (!json_is_number(v))
		return flyt_error_set(err, FLYT_E_INVALID, 0, "%s must be a number", key);
	double d = json_number_value(v);
	if (!isfinite(d) || d < min || d > max)
		return flyt_error_set(err, FLYT_E_INVALID, 0, "%s must be between %g and %g", key, min, max);
	*ret = d;
	return 0;
}

/* A duration field: integer milliseconds in [min, max]. */
static int get_ms(json_t *obj, const char *key, int64_t min, int64_t max, int64_t *ret, flyt_error_t *err)
{
	json_t *v = json_object_get(obj, key);
	if (v && !json_is_integer(v))
		return flyt_error_set(err, FLYT_E_INVALID, 0, "%s must be a whole number of milliseconds", key);
	if (v && (json_integer_value(v) < min || json_integer_value(v) > max)) {
		char a[32], b[32];
		energy_duration_format(min, a, sizeof(a));
		energy_duration_format(max, b, sizeof(b));
		return flyt_error_set(err, FLYT_E_INVALID, 0, "%s must be between %s and %s", key, a, b);
	}
	if (v)
		*ret = json_integer_value(v);
	return 0;
}

int energy_policy_update(energy_policy_t *p, json_t *changes, flyt_error_t *err)
{
	static const char *const keys[] = { "policy",	       "currency",	 "min_gain_pct",   "min_gain_abs",
					    "min_dwell_ms",    "horizon_ms",	 "max_concurrent", "max_per_hour",
					    "band_pct",	       "band_window_ms", "cpu_high_pct",   "mem_high_pct",
					    "failure_hold_ms", "idle_watts",	 "max_watts",	   NULL };
	if (!json_is_object(changes))
		return flyt_error_set(err, FLYT_E_INVALID, 0, "policy settings must be a JSON object");
	if (flyt_json_check_keys(changes, "policy settings", keys, err) < 0)
		return -1;
	energy_policy_t n = *p;
	const char *kind = NULL, *currency = NULL;
	if (flyt_json_get_string(changes, "policy", false, 16, &kind, err) < 0 ||
	    flyt_json_get_string(changes, "currency", false, 3, &currency, err) < 0)
		return -1;
	if (kind) {
		n.kind = energy_policy_kind_from_name(kind);
		if (n.kind == ENERGY_POLICY_INVALID)
			return flyt_error_set(err, FLYT_E_INVALID, 0,
					      "policy must be none, greenest, cheapest, band or balance, not \"%s\"",
					      kind);
	}
	if (currency) {
		if (strcmp(currency, "EUR") != 0 && strcmp(currency, "DKK") != 0)
			return flyt_error_set(err, FLYT_E_INVALID, 0, "currency must be EUR or DKK");
		snprintf(n.currency, sizeof(n.currency), "%s", currency);
	}
	int64_t conc = n.max_concurrent, hourly = n.max_per_hour;
	double c = (double)conc, h = (double)hourly;
	if (energy_json_get_number(changes, "min_gain_pct", 0, 1000, &n.min_gain_pct, err) < 0 ||
	    energy_json_get_number(changes, "min_gain_abs", 0, 1e6, &n.min_gain_abs, err) < 0 ||
	    get_ms(changes, "min_dwell_ms", 0, 30 * ENERGY_MS_PER_DAY, &n.min_dwell_ms, err) < 0 ||
	    get_ms(changes, "horizon_ms", 0, 2 * ENERGY_MS_PER_DAY, &n.horizon_ms, err) < 0 ||
	    energy_json_get_number(changes, "max_concurrent", 0, 100, &c, err) < 0 ||
	    energy_json_get_number(changes, "max_per_hour", 0, 10000, &h, err) < 0 ||
	    energy_json_get_number(changes, "band_pct", 0, 1000, &n.band_pct, err) < 0 ||
	    get_ms(changes, "band_window_ms", ENERGY_MS_PER_HOUR, 60 * ENERGY_MS_PER_DAY, &n.band_window_ms, err) < 0 ||
	    energy_json_get_number(changes, "cpu_high_pct", 1, 100, &n.cpu_high_pct, err) < 0 ||
	    energy_json_get_number(changes, "mem_high_pct", 1, 100, &n.mem_high_pct, err) < 0 ||
	    get_ms(changes, "failure_hold_ms", ENERGY_MS_PER_MIN, 30 * ENERGY_MS_PER_DAY, &n.failure_hold_ms, err) <
		0 ||
	    energy_json_get_number(changes, "idle_watts", 0, 1e6, &n.idle_watts, err) < 0 ||
	    energy_json_get_number(changes, "max_watts", 0, 1e6, &n.max_watts, err) < 0)
		return -1;
	if (c != floor(c) || h != floor(h))
		return flyt_error_set(err, FLYT_E_INVALID, 0, "max_concurrent and max_per_hour must be whole numbers");
	n.max_concurrent = (int64_t)c;
	n.max_per_hour = (int64_t)h;
	if (n.max_watts < n.idle_watts)
		return flyt_error_set(err, FLYT_E_INVALID, 0, "max_watts (%g) must not be below idle_watts (%g)",
				      n.max_watts, n.idle_watts);
	*p = n;
	return 0;
}

json_t *energy_policy_json(const energy_policy_t *p)
{
	return json_pack("{s:s, s:s, s:f, s:f, s:I, s:I, s:I, s:I, s:f, s:I, s:f, s:f, s:I, s:f, s:f}", "policy",
			 energy_policy_kind_name(p->kind), "currency", p->currency, "min_gain_pct", p->min_gain_pct,
			 "min_gain_abs", p->min_gain_abs, "min_dwell_ms", (json_int_t)p->min_dwell_ms, "horizon_ms",
			 (json_int_t)p->horizon_ms, "max_concurrent", (json_int_t)p->max_concurrent, "max_per_hour",
			 (json_int_t)p->max_per_hour, "band_pct", p->band_pct, "band_window_ms",
			 (json_int_t)p->band_window_ms, "cpu_high_pct", p->cpu_high_pct, "mem_high_pct",
			 p->mem_high_pct, "failure_hold_ms", (json_int_t)p->failure_hold_ms, "idle_watts",
			 p->idle_watts, "max_watts", p->max_watts);
}
