/* The simulation behind `flyt simulate`: replays signals over a period for a
 * fleet (hosts with their area and power model, workloads with their CPU and
 * memory) and runs the policy engine (plan.h) at every step, as the controller
 * would, moving workloads instantly. Reports the moves, the flaps, and the
 * energy, CO2 and cost of the workloads against staying where they were.
 *
 * Accounting (account.h) over each step [t, t + step): the attributed power of
 * each workload where it is, times the area's mean intensity or price over the
 * step; "fleet" totals add the idle power of every host, empty or not. A move
 * costs nothing here (a live migration takes seconds; see docs/energy.md). */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "energy/plan.h"
#include "energy/policy.h"
#include "energy/signal.h"
#include "lib/error.h"

/* A fleet: owns its strings. */
typedef struct {
	energy_host_t *hosts;
	size_t nhosts;
	energy_workload_t *workloads;
	size_t nworkloads;
	char **strings; /* everything the pointers above point into */
	size_t nstrings;
	energy_policy_t policy;
	bool has_policy; /* the fleet description carried policy settings */
} energy_fleet_t;

/* Reads a fleet from JSON:
 *   {"hosts": [{"name", "area", "idle_watts", "max_watts", "cpus", "memory_bytes", "drain"}],
 *    "workloads": [{"name", "host", "kind", "cpu_cores", "rss_bytes", "auto_migrate"}],
 *    "policy": {settings as in policy.h}}
 * Hosts need a name (and, to be counted, an area); the power model defaults to
 * the policy's idle_watts/max_watts, cpus to 8; workloads default to one core,
 * kind process and auto-migrate on. Names are checked, a workload's host must
 * exist. `what` names the source in messages. */
int energy_fleet_from_json(json_t *j, const char *what, energy_fleet_t *ret, flyt_error_t *err);
void energy_fleet_free(energy_fleet_t *f);
/* Copies s into the fleet's strings and returns the copy. */
const char *energy_fleet_string(energy_fleet_t *f, const char *s);

typedef struct {
	int64_t from_ms, to_ms; /* 0: the span of the signals the fleet's areas have */
	int64_t step_ms;	/* 0: the smallest step of those signals */
	int64_t flap_window_ms; /* a move back to the area left less than this ago is a flap; 0: 3 h */
} energy_sim_opts_t;

typedef struct {
	int64_t t_ms;
	size_t workload;
	size_t from, to; /* host indexes */
	bool flap;
	const char *code;
	char reason[600];
	double saving_co2_g_per_h, saving_cost_per_h;
} energy_sim_move_t;

typedef struct {
	double co2_g, cost, kwh;
} energy_totals_t;

typedef struct {
	energy_totals_t policy, stay;
	int64_t ms_in_area[16]; /* by index into the result's areas */
	size_t moves, flaps;
} energy_sim_workload_t;

#define ENERGY_SIM_CURVE_MAX 1200

typedef struct {
	int64_t from_ms, to_ms, step_ms;
	size_t steps;
	size_t moves, flaps, blocked;
	energy_sim_move_t *log;
	size_t nlog;
	char areas[16][ENERGY_AREA_MAX];
	size_t nareas;
	bool has_co2, has_price;
	energy_kind_t price_kind;
	energy_totals_t policy, stay;		      /* the workloads */
	energy_totals_t fleet_policy, fleet_stay;     /* every host, idle ones too */
	int64_t co2_uncovered_ms, price_uncovered_ms; /* workload time without a value */
	energy_sim_workload_t *per_workload;
	/* cumulative CO2 and cost, sampled for plots */
	size_t ncurve;
	int64_t curve_t[ENERGY_SIM_CURVE_MAX];
	double curve_co2[ENERGY_SIM_CURVE_MAX], curve_co2_stay[ENERGY_SIM_CURVE_MAX];
	double curve_cost[ENERGY_SIM_CURVE_MAX], curve_cost_stay[ENERGY_SIM_CURVE_MAX];
} energy_sim_result_t;

/* Runs the policy of fleet->policy over signals for fleet (whose workloads'
 * hosts it changes as they move; the fleet ends where the policy put it). */
int energy_sim_run(const energy_set_t *signals, energy_fleet_t *fleet, const energy_sim_opts_t *opts,
		   energy_sim_result_t *ret, flyt_error_t *err);
void energy_sim_result_free(energy_sim_result_t *r);

/* The result as one object: moves, flaps, co2_kg, co2_kg_stay (null without a
 * CO2 signal), cost, cost_stay (null without a price signal), currency, areas,
 * from, to, and more (energy, fleet totals, per workload, the first max_log
 * moves). `fleet` is the fleet the simulation ran on. */
json_t *energy_sim_json(const energy_sim_result_t *r, const energy_fleet_t *fleet, size_t max_log);

/* The moves as CSV: time;workload;from;to;from_area;to_area;flap;code;reason */
char *energy_sim_moves_csv(const energy_sim_result_t *r, const energy_fleet_t *fleet);
