/* The policy engine: from the inventory, the signals and the settings at one
 * instant, a decision for every workload (move where, or stay, and why), with
 * the alternatives it weighed. Pure: the same input gives the same plan, there
 * is no clock (the caller says what time it is) and no I/O, so the controller's
 * live loop, `flyt plan` and `flyt simulate` all run this same code.
 *
 * Order of the rules for one workload:
 *   1. not running, or migrating already: stays;
 *   2. on a draining host: moves (auto-migrate or not, whatever the signals),
 *      to the best host that can take it;
 *   3. auto-migrate off: stays;
 *   4. held after a failed policy migration: stays until the hold ends;
 *   5. moved less than min_dwell ago: stays;
 *   6. the policy: greenest and cheapest move to the host whose area has the
 *      lowest value (mean over the horizon) when it beats the current one by
 *      max(min_gain_abs, min_gain_pct % of |current|); band moves off an area
 *      whose price is above its own mean + band_pct % (over band_window) to the
 *      cheapest area that is not; balance moves the biggest workload off a host
 *      above cpu_high_pct / mem_high_pct. A signal that is not fresh for the
 *      current area moves nothing; a target whose signal is not fresh is not a
 *      target.
 * Every target must be online, not draining, able to run the workload's kind,
 * not refused by a recent pre-flight check, and stay at or below cpu_high_pct and
 * mem_high_pct with the workload added. Then the limits: moves go in order
 * (drains first, then the largest relative gain) until max_concurrent running
 * migrations or max_per_hour policy migrations are reached; the rest are
 * "blocked", and say so. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <jansson.h>

#include "energy/policy.h"
#include "energy/signal.h"

#define ENERGY_NO_TIME INT64_MIN

typedef struct {
	const char *name;
	const char *area; /* NULL: not known */
	bool online;
	bool drain;
	double idle_w, max_w; /* power model */
	double cpus;	      /* CPU count (0: not known) */
	int64_t mem_total;    /* bytes, -1: not known */
	int64_t mem_available;
	char *const *drivers; /* kinds it can run, NULL-terminated; NULL: not known (any) */
} energy_host_t;

typedef struct {
	const char *name;
	const char *host;
	const char *kind;
	bool auto_migrate;
	bool running;	       /* it runs (only running workloads move) */
	bool migrating;	       /* it has an unfinished migration */
	double cpu_cores;      /* CPU in use, in cores */
	int64_t rss_bytes;     /* -1: not known */
	int64_t last_move_ms;  /* its last move, ENERGY_NO_TIME: never */
	int64_t hold_until_ms; /* no policy move before this, ENERGY_NO_TIME: none */
	const char *hold_reason;
	char *const *avoid; /* hosts not to try (a pre-flight check refused them), NULL-terminated */
} energy_workload_t;

/* One signal of one area as the caller sees it at the plan's time. */
typedef struct {
	bool ok;	  /* a value is in effect and the source is not stale */
	char why[200];	  /* when not ok, why */
	double now;	  /* the value in effect */
	double ahead;	  /* the mean over [now, now + horizon] (= now when horizon is 0) */
	bool band_ok;	  /* band_mean is known */
	double band_mean; /* the mean over [now - band_window, now) */
} energy_view_t;

typedef struct {
	char area[ENERGY_AREA_MAX];
	energy_view_t sig[ENERGY_KIND_MAX];
} energy_area_t;

/* Fills a's views of area from the signals of set at now: stale[k] (NULL, or a
 * reason per kind; NULL entries mean fresh) marks a source the caller knows to
 * be failing. */
void energy_area_fill(energy_area_t *a, const char *area, const energy_set_t *set, int64_t now_ms,
		      const energy_policy_t *p, const char *const *stale);

typedef struct {
	int64_t now_ms;
	const energy_policy_t *policy;
	const energy_host_t *hosts;
	size_t nhosts;
	const energy_workload_t *workloads;
	size_t nworkloads;
	const energy_area_t *areas;
	size_t nareas;
	int64_t active_migrations; /* unfinished migrations, of any origin */
	int64_t recent_migrations; /* policy migrations started in the hour before now */
} energy_input_t;

typedef enum {
	ENERGY_STAY,
	ENERGY_MOVE,
	ENERGY_BLOCKED, /* would move, but a limit or capacity stops it */
	ENERGY_ACTION_MAX,
} energy_action_t;

const char *energy_action_name(energy_action_t a);

typedef struct {
	size_t host; /* index into the input's hosts */
	bool eligible;
	double value; /* the compared value there (NAN: none) */
	double gain;  /* value here minus value there (NAN: none) */
	char note[160];
} energy_alt_t;

typedef struct {
	size_t workload; /* index into the input's workloads */
	ssize_t source;	 /* host index, -1 when its host is not known */
	energy_action_t action;
	const char *code; /* stable: "cheaper", "greener", "above_band", "overloaded", "drain", "dwell", ... */
	char reason[600];
	ssize_t target; /* host index of a move or a blocked move, else -1 */
	energy_kind_t signal;
	double value_here, value_there, gain, required; /* NAN when not applicable */
	double power_w;					/* attributed power now */
	double saving_co2_g_per_h, saving_cost_per_h;	/* estimated for a move, NAN when not known */
	energy_alt_t *alts;
	size_t nalts;
} energy_decision_t;

typedef struct {
	energy_decision_t *d; /* one per input workload, in input order */
	size_t n;
	size_t moves, blocked;
} energy_plan_t;

void energy_plan_make(const energy_input_t *in, energy_plan_t *ret);
void energy_plan_free(energy_plan_t *p);

/* The decision as the API and the store show it: workload, host, area, action,
 * code, reason, target, values, saving, the inputs (time, settings, the areas'
 * signals, the workload's facts, the limits) and the alternatives. */
json_t *energy_decision_json(const energy_input_t *in, const energy_decision_t *d);

/* The host index of name, or -1. */
ssize_t energy_input_host(const energy_input_t *in, const char *name);
