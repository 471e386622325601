/* The simulation (see sim.h). */
#include "energy/sim.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "energy/account.h"
#include "energy/text.h"
#include "energy/time.h"
#include "lib/cleanup.h"
#include "lib/json.h"
#include "lib/util.h"

#define FLEET_MAX_HOSTS 1000
#define FLEET_MAX_WORKLOADS 10000
#define SIM_MAX_STEPS 20000000

const char *energy_fleet_string(energy_fleet_t *f, const char *s)
{
	char **nv = realloc(f->strings, (f->nstrings + 1) * sizeof(char *));
	if (!nv)
		abort();
	f->strings = nv;
	return f->strings[f->nstrings++] = flyt_strdup(s);
}

void energy_fleet_free(energy_fleet_t *f)
{
	for (size_t i = 0; i < f->nstrings; i++)
		free(f->strings[i]);
	free(f->strings);
	free(f->hosts);
	free(f->workloads);
	*f = (energy_fleet_t){ 0 };
}

static int fleet_host(energy_fleet_t *f, json_t *h, size_t i, const char *what, flyt_error_t *err)
{
	static const char *const keys[] = { "name", "area",	    "idle_watts", "max_watts",
					    "cpus", "memory_bytes", "drain",	  NULL };
	energy_host_t *out = &f->hosts[i];
	const char *name = NULL, *area = NULL;
	double idle = f->policy.idle_watts, max = f->policy.max_watts, cpus = 8, mem = -1;
	bool drain = false;
	if (!json_is_object(h))
		return flyt_error_set(err, FLYT_E_INVALID, 0, "%s: hosts[%zu] is not an object", what, i);
	if (flyt_json_check_keys(h, "host", keys, err) < 0 ||
	    flyt_json_get_string(h, "name", true, 63, &name, err) < 0 ||
	    flyt_json_get_string(h, "area", false, 63, &area, err) < 0 ||
	    energy_json_get_number(h, "idle_watts", 0, 1e6, &idle, err) < 0 ||
	    energy_json_get_number(h, "max_watts", 0, 1e6, &max, err) < 0 ||
	    energy_json_get_number(h, "cpus", 0.1, 100000, &cpus, err) < 0 ||
	    energy_json_get_number(h, "memory_bytes", 0, 1e18, &mem, err) < 0 ||
	    flyt_json_get_bool(h, "drain", false, &drain, err) < 0)
		return flyt_error_prefix(err, "%s: hosts[%zu]", what, i);
	if (!flyt_name_valid(name))
		return flyt_error_set(err, FLYT_E_INVALID, 0, "%s: hosts[%zu]: \"%s\" is not a valid host name", what,
				      i, name);
	if (area && !energy_area_valid(area))
		return flyt_error_set(err, FLYT_E_INVALID, 0, "%s: host %s: \"%s\" is not an area name", what, name,
				      area);
	if (max < idle)
		return flyt_error_set(err, FLYT_E_INVALID, 0, "%s: host %s: max_watts below idle_watts", what, name);
	for (size_t k = 0; k < i; k++)
		if (strcmp(f->hosts[k].name, name) == 0)
			return flyt_error_set(err, FLYT_E_INVALID, 0, "%s: host %s appears twice", what, name);
	*out = (energy_host_t){
		.name = energy_fleet_string(f, name),
		.area = area ? energy_fleet_string(f, area) : NULL,
		.online = true,
		.drain = drain,
		.idle_w = idle,
		.max_w = max,
		.cpus = cpus,
		.mem_total = mem >= 0 ? (int64_t)mem : -1,
		.mem_available = mem >= 0 ? (int64_t)mem : -1,
	};
	return 0;
}

static int fleet_workload(energy_fleet_t *f, json_t *w, size_t i, const char *what, flyt_error_t *err)
{
	static const char *const keys[] = { "name", "host", "kind", "cpu_cores", "rss_bytes", "auto_migrate", NULL };
	const char *name = NULL, *host = NULL, *kind = "process";
	double cores = 1, rss = -1;
	bool automig = true;
	if (!json_is_object(w))
		return flyt_error_set(err, FLYT_E_INVALID, 0, "%s: workloads[%zu] is not an object", what, i);
	if (flyt_json_check_keys(w, "workload", keys, err) < 0 ||
	    flyt_json_get_string(w, "name", true, 63, &name, err) < 0 ||
	    flyt_json_get_string(w, "host", true, 63, &host, err) < 0 ||
	    flyt_json_get_string(w, "kind", false, 15, &kind, err) < 0 ||
	    energy_json_get_number(w, "cpu_cores", 0, 100000, &cores, err) < 0 ||
	    energy_json_get_number(w, "rss_bytes", 0, 1e18, &rss, err) < 0 ||
	    flyt_json_get_bool(w, "auto_migrate", false, &automig, err) < 0)
		return flyt_error_prefix(err, "%s: workloads[%zu]", what, i);
	if (!flyt_name_valid(name))
		return flyt_error_set(err, FLYT_E_INVALID, 0, "%s: workloads[%zu]: \"%s\" is not a valid name", what, i,
				      name);
	bool found = false;
	for (size_t k = 0; k < f->nhosts && !found; k++)
		found = strcmp(f->hosts[k].name, host) == 0;
	if (!found)
		return flyt_error_set(err, FLYT_E_INVALID, 0,
				      "%s: workload %s is on host %s, which is not in the fleet", what, name, host);
	for (size_t k = 0; k < i; k++)
		if (strcmp(f->workloads[k].name, name) == 0)
			return flyt_error_set(err, FLYT_E_INVALID, 0, "%s: workload %s appears twice", what, name);
	f->workloads[i] = (energy_workload_t){
		.name = energy_fleet_string(f, name),
		.host = energy_fleet_string(f, host),
		.kind = energy_fleet_string(f, kind),
		.auto_migrate = automig,
		.running = true,
		.cpu_cores = cores,
		.rss_bytes = rss >= 0 ? (int64_t)rss : -1,
		.last_move_ms = ENERGY_NO_TIME,
		.hold_until_ms = ENERGY_NO_TIME,
	};
	return 0;
}

int energy_fleet_from_json(json_t *j, const char *what, energy_fleet_t *ret, flyt_error_t *err)
{
	static const char *const keys[] = { "hosts", "workloads", "policy", NULL };
	json_t *hosts = NULL, *workloads = NULL, *policy = NULL;
	if (!json_is_object(j))
		return flyt_error_set(err, FLYT_E_INVALID, 0, "%s: a fleet must be a JSON object", what);
	if (flyt_json_check_keys(j, "fleet", keys, err) < 0 ||
	    flyt_json_get_array(j, "hosts", true, FLEET_MAX_HOSTS, &hosts, err) < 0 ||
	    flyt_json_get_array(j, "workloads", true, FLEET_MAX_WORKLOADS, &workloads, err) < 0 ||
	    flyt_json_get_object(j, "policy", false, &policy, err) < 0)
		return flyt_error_prefix(err, "%s", what);
	_cleanup_(energy_fleet_free) energy_fleet_t f = { 0 };
	energy_policy_defaults(&f.policy);
	if (policy) {
		if (energy_policy_update(&f.policy, policy, err) < 0)
			return flyt_error_prefix(err, "%s: policy", what);
		f.has_policy = true;
	}
	f.nhosts = json_array_size(hosts);
	f.nworkloads = json_array_size(workloads);
	f.hosts = flyt_malloc0((f.nhosts ? f.nhosts : 1) * sizeof(energy_host_t));
	f.workloads = flyt_malloc0((f.nworkloads ? f.nworkloads : 1) * sizeof(energy_workload_t));
	for (size_t i = 0; i < f.nhosts; i++)
		if (fleet_host(&f, json_array_get(hosts, i), i, what, err) < 0)
			return -1;
	for (size_t i = 0; i < f.nworkloads; i++)
		if (fleet_workload(&f, json_array_get(workloads, i), i, what, err) < 0)
			return -1;
	if (f.nhosts == 0)
		return flyt_error_set(err, FLYT_E_INVALID, 0, "%s: the fleet has no hosts", what);
	*ret = f;
	f = (energy_fleet_t){ 0 };
	return 0;
}

/* ---- the run ---- */

static ssize_t area_index(const energy_sim_result_t *r, const char *area)
{
	for (size_t i = 0; area && i < r->nareas; i++)
		if (strcmp(r->areas[i], area) == 0)
			return (ssize_t)i;
	return -1;
}

/* The span of the signals of kind k that every area of the fleet has: the
 * latest first sample and the earliest end. */
static bool common_span(const energy_set_t *set, const energy_sim_result_t *r, energy_kind_t k, int64_t *ret_from,
			int64_t *ret_to, int64_t *ret_step)
{
	int64_t from = INT64_MIN, to = INT64_MAX, step = INT64_MAX;
	for (size_t i = 0; i < r->nareas; i++) {
		const energy_series_t *s = energy_set_find(set, r->areas[i], k);
		int64_t a, b;
		if (!energy_series_span(s, &a, &b))
			return false;
		if (a > from)
			from = a;
		if (b < to)
			to = b;
		if (s->step_ms < step)
			step = s->step_ms;
	}
	*ret_from = from;
	*ret_to = to;
	*ret_step = step;
	return r->nareas > 0 && from < to;
}

/* Mean value of (area, k) over [t, t + dt); false when nothing covers it. */
static bool mean_over(const energy_set_t *set, const char *area, energy_kind_t k, int64_t t, int64_t dt, double *ret,
		      int64_t *ret_covered)
{
	*ret_covered = 0;
	const energy_series_t *s = area ? energy_set_find(set, area, k) : NULL;
	return s && energy_series_mean(s, t, t + dt, ret, ret_covered);
}

/* Adds one step of accounting for a placement (host index per workload). */
static void account(const energy_set_t *set, const energy_fleet_t *f, const size_t *place, int64_t t, int64_t dt,
		    energy_kind_t price_kind, energy_totals_t *tot, energy_totals_t *fleet_tot, energy_sim_result_t *r,
		    bool policy_side)
{
	unsigned n[FLEET_MAX_HOSTS] = { 0 };
	double cores[FLEET_MAX_HOSTS] = { 0 };
	for (size_t i = 0; i < f->nworkloads; i++) {
		n[place[i]]++;
		cores[place[i]] += f->workloads[i].cpu_cores;
	}
	double co2[FLEET_MAX_HOSTS], price[FLEET_MAX_HOSTS];
	int64_t co2_cov[FLEET_MAX_HOSTS], price_cov[FLEET_MAX_HOSTS];
	for (size_t h = 0; h < f->nhosts; h++) {
		const energy_host_t *host = &f->hosts[h];
		if (!mean_over(set, host->area, ENERGY_CO2, t, dt, &co2[h], &co2_cov[h]))
			co2[h] = NAN;
		if (!mean_over(set, host->area, price_kind, t, dt, &price[h], &price_cov[h]))
			price[h] = NAN;
		double p = energy_power_host(host->idle_w, host->max_w, host->cpus, cores[h]);
		fleet_tot->kwh += energy_wh(p, dt) / 1000;
		if (!isnan(co2[h]))
			fleet_tot->co2_g += energy_co2_g(p, co2_cov[h], co2[h]);
		if (!isnan(price[h]))
			fleet_tot->cost += energy_cost(p, price_cov[h], price[h]);
	}
	for (size_t i = 0; i < f->nworkloads; i++) {
		size_t h = place[i];
		const energy_host_t *host = &f->hosts[h];
		double p =
		    energy_power_workload(host->idle_w, host->max_w, host->cpus, n[h], f->workloads[i].cpu_cores);
		double kwh = energy_wh(p, dt) / 1000;
		double g = isnan(co2[h]) ? 0 : energy_co2_g(p, co2_cov[h], co2[h]);
		double cost = isnan(price[h]) ? 0 : energy_cost(p, price_cov[h], price[h]);
		tot->kwh += kwh;
		tot->co2_g += g;
		tot->cost += cost;
		energy_totals_t *wt = policy_side ? &r->per_workload[i].policy : &r->per_workload[i].stay;
		wt->kwh += kwh;
		wt->co2_g += g;
		wt->cost += cost;
		if (policy_side) {
			r->co2_uncovered_ms += dt - (isnan(co2[h]) ? 0 : co2_cov[h]);
			r->price_uncovered_ms += dt - (isnan(price[h]) ? 0 : price_cov[h]);
			ssize_t a = area_index(r, host->area);
			if (a >= 0)
				r->per_workload[i].ms_in_area[a] += dt;
		}
	}
}

int energy_sim_run(const energy_set_t *signals, energy_fleet_t *f, const energy_sim_opts_t *o, energy_sim_result_t *ret,
		   flyt_error_t *err)
{
	energy_sim_result_t *r = ret;
	*r = (energy_sim_result_t){ 0 };
	const energy_policy_t *p = &f->policy;
	r->price_kind = energy_policy_price_kind(p);
	if (f->nhosts > FLEET_MAX_HOSTS)
		return flyt_error_set(err, FLYT_E_INVALID, 0, "more than %d hosts", FLEET_MAX_HOSTS);
	for (size_t h = 0; h < f->nhosts; h++) {
		if (!f->hosts[h].area || area_index(r, f->hosts[h].area) >= 0)
			continue;
		if (r->nareas == ELEMENTSOF(r->areas))
			return flyt_error_set(err, FLYT_E_INVALID, 0, "the fleet has more than %zu areas",
					      ELEMENTSOF(r->areas));
		snprintf(r->areas[r->nareas++], ENERGY_AREA_MAX, "%s", f->hosts[h].area);
	}
	if (r->nareas == 0)
		return flyt_error_set(err, FLYT_E_INVALID, 0, "no host of the fleet has an electricity area");
	for (size_t i = 0; i < r->nareas; i++) {
		r->has_co2 |= energy_set_find(signals, r->areas[i], ENERGY_CO2) != NULL;
		r->has_price |= energy_set_find(signals, r->areas[i], r->price_kind) != NULL;
	}

	/* the period and the step: from the policy's signal, else from what there is */
	energy_kind_t k = energy_policy_signal(p);
	int64_t from = 0, to = 0, step = 0;
	bool span = false;
	if (k != ENERGY_KIND_INVALID)
		span = common_span(signals, r, k, &from, &to, &step);
	else
		span = common_span(signals, r, r->price_kind, &from, &to, &step) ||
		       common_span(signals, r, ENERGY_CO2, &from, &to, &step);
	if (!span && (!o->from_ms || !o->to_ms || !o->step_ms)) {
		char areas[200] = "";
		for (size_t i = 0; i < r->nareas; i++)
			snprintf(areas + strlen(areas), sizeof(areas) - strlen(areas), "%s%s", i ? ", " : "",
				 r->areas[i]);
		return flyt_error_set(err, FLYT_E_INVALID, 0,
				      "the signals have no common period of %s for the areas %s",
				      k != ENERGY_KIND_INVALID ? energy_kind_name(k) : "prices or CO2", areas);
	}
	r->from_ms = o->from_ms ? o->from_ms : from;
	r->to_ms = o->to_ms ? o->to_ms : to;
	r->step_ms = o->step_ms ? o->step_ms : step;
	if (r->to_ms <= r->from_ms)
		return flyt_error_set(err, FLYT_E_INVALID, 0, "the period is empty (to is not after from)");
	if (r->step_ms <= 0)
		return flyt_error_set(err, FLYT_E_INVALID, 0, "the step must be positive");
	uint64_t steps = (uint64_t)((r->to_ms - r->from_ms + r->step_ms - 1) / r->step_ms);
	if (steps > SIM_MAX_STEPS)
		return flyt_error_set(err, FLYT_E_INVALID, 0, "%llu steps are too many (at most %d): use a longer step",
				      (unsigned long long)steps, SIM_MAX_STEPS);
	int64_t flap_window = o->flap_window_ms ? o->flap_window_ms : 3 * ENERGY_MS_PER_HOUR;

	size_t nw = f->nworkloads;
	_cleanup_free_ size_t *place = flyt_malloc0((nw ? nw : 1) * sizeof(size_t));
	_cleanup_free_ size_t *stay = flyt_malloc0((nw ? nw : 1) * sizeof(size_t));
	_cleanup_free_ ssize_t *prev_from = flyt_malloc0((nw ? nw : 1) * sizeof(ssize_t));
	_cleanup_free_ int64_t *prev_t = flyt_malloc0((nw ? nw : 1) * sizeof(int64_t));
	_cleanup_free_ energy_area_t *areas = flyt_malloc0(r->nareas * sizeof(energy_area_t));
	_cleanup_free_ energy_host_t *hosts = flyt_malloc0(f->nhosts * sizeof(energy_host_t));
	r->per_workload = flyt_malloc0((nw ? nw : 1) * sizeof(energy_sim_workload_t));
	for (size_t i = 0; i < nw; i++) {
		energy_input_t probe = { .hosts = f->hosts, .nhosts = f->nhosts };
		place[i] = stay[i] = (size_t)energy_input_host(&probe, f->workloads[i].host);
		prev_from[i] = -1;
	}
	/* recent policy moves, for max_per_hour: a ring of their times */
	size_t cap_recent = (size_t)(p->max_per_hour > 0 ? p->max_per_hour : 1);
	_cleanup_free_ int64_t *recent = flyt_malloc0(cap_recent * sizeof(int64_t));
	size_t nrecent = 0, recent_head = 0;
	uint64_t curve_every = steps / ENERGY_SIM_CURVE_MAX + 1;

	for (uint64_t s = 0; s < steps; s++) {
		int64_t t = r->from_ms + (int64_t)s * r->step_ms;
		int64_t dt = t + r->step_ms > r->to_ms ? r->to_ms - t : r->step_ms;
		for (size_t a = 0; a < r->nareas; a++)
			energy_area_fill(&areas[a], r->areas[a], signals, t, p, NULL);
		for (size_t h = 0; h < f->nhosts; h++) {
			hosts[h] = f->hosts[h];
			if (hosts[h].mem_total >= 0) {
				int64_t used = 0;
				for (size_t i = 0; i < nw; i++)
					if (place[i] == h && f->workloads[i].rss_bytes > 0)
						used += f->workloads[i].rss_bytes;
				hosts[h].mem_available = hosts[h].mem_total - used;
			}
		}
		while (nrecent > 0 && recent[recent_head] <= t - ENERGY_MS_PER_HOUR) {
			recent_head = (recent_head + 1) % cap_recent;
			nrecent--;
		}
		energy_input_t in = {
			.now_ms = t,
			.policy = p,
			.hosts = hosts,
			.nhosts = f->nhosts,
			.workloads = f->workloads,
			.nworkloads = nw,
			.areas = areas,
			.nareas = r->nareas,
			.active_migrations = 0,
			.recent_migrations = (int64_t)nrecent,
		};
		_cleanup_(energy_plan_free) energy_plan_t plan = { 0 };
		energy_plan_make(&in, &plan);
		r->blocked += plan.blocked;
		for (size_t i = 0; i < plan.n; i++) {
			const energy_decision_t *d = &plan.d[i];
			if (d->action != ENERGY_MOVE)
				continue;
			size_t w = d->workload, to_h = (size_t)d->target, from_h = place[w];
			const char *to_area = f->hosts[to_h].area;
			bool flap = prev_from[w] >= 0 && t - prev_t[w] <= flap_window && to_area &&
				    f->hosts[prev_from[w]].area && strcmp(f->hosts[prev_from[w]].area, to_area) == 0;
			energy_sim_move_t *m;
			energy_sim_move_t *nl = realloc(r->log, (r->nlog + 1) * sizeof(*nl));
			if (!nl)
				abort();
			r->log = nl;
			m = &r->log[r->nlog++];
			*m = (energy_sim_move_t){ .t_ms = t,
						  .workload = w,
						  .from = from_h,
						  .to = to_h,
						  .flap = flap,
						  .code = d->code,
						  .saving_co2_g_per_h = d->saving_co2_g_per_h,
						  .saving_cost_per_h = d->saving_cost_per_h };
			snprintf(m->reason, sizeof(m->reason), "%s", d->reason);
			r->moves++;
			r->per_workload[w].moves++;
			if (flap) {
				r->flaps++;
				r->per_workload[w].flaps++;
			}
			prev_from[w] = (ssize_t)from_h;
			prev_t[w] = t;
			place[w] = to_h;
			f->workloads[w].host = f->hosts[to_h].name;
			f->workloads[w].last_move_ms = t;
			if (nrecent == cap_recent) {
				recent_head = (recent_head + 1) % cap_recent;
				nrecent--;
			}
			recent[(recent_head + nrecent) % cap_recent] = t;
			nrecent++;
		}
		account(signals, f, place, t, dt, r->price_kind, &r->policy, &r->fleet_policy, r, true);
		account(signals, f, stay, t, dt, r->price_kind, &r->stay, &r->fleet_stay, r, false);
		if ((s % curve_every == 0 || s + 1 == steps) && r->ncurve < ENERGY_SIM_CURVE_MAX) {
			size_t c = r->ncurve++;
			r->curve_t[c] = t + dt;
			r->curve_co2[c] = r->policy.co2_g;
			r->curve_co2_stay[c] = r->stay.co2_g;
			r->curve_cost[c] = r->policy.cost;
			r->curve_cost_stay[c] = r->stay.cost;
		}
		r->steps++;
	}
	return 0;
}

void energy_sim_result_free(energy_sim_result_t *r)
{
	free(r->log);
	free(r->per_workload);
	*r = (energy_sim_result_t){ 0 };
}

static json_t *num_or_null(bool have, double v)
{
	return have && isfinite(v) ? json_real(v) : json_null();
}

static json_t *pct_saved(bool have, double policy, double stay)
{
	return have && stay != 0 ? json_real((stay - policy) / fabs(stay) * 100) : json_null();
}

static json_t *time_str(int64_t ms)
{
	char t[ENERGY_TIME_MAX];
	energy_time_format(ms, t, sizeof(t));
	return json_string(t);
}

json_t *energy_sim_json(const energy_sim_result_t *r, const energy_fleet_t *f, size_t max_log)
{
	const char *currency = f->policy.currency;
	json_t *areas = json_array();
	for (size_t i = 0; i < r->nareas; i++)
		json_array_append_new(areas, json_string(r->areas[i]));
	char step[32];
	energy_duration_format(r->step_ms, step, sizeof(step));
	json_t *j = json_pack(
	    "{s:I, s:I, s:o, s:o, s:o, s:o, s:s, s:o, s:o, s:o, s:s, s:I, s:I}", "moves", (json_int_t)r->moves, "flaps",
	    (json_int_t)r->flaps, "co2_kg", num_or_null(r->has_co2, r->policy.co2_g / 1000), "co2_kg_stay",
	    num_or_null(r->has_co2, r->stay.co2_g / 1000), "cost", num_or_null(r->has_price, r->policy.cost),
	    "cost_stay", num_or_null(r->has_price, r->stay.cost), "currency", currency, "areas", areas, "from",
	    time_str(r->from_ms), "to", time_str(r->to_ms), "step", step, "steps", (json_int_t)r->steps, "blocked",
	    (json_int_t)r->blocked);
	json_object_set_new(j, "co2_saved_pct", pct_saved(r->has_co2, r->policy.co2_g, r->stay.co2_g));
	json_object_set_new(j, "cost_saved_pct", pct_saved(r->has_price, r->policy.cost, r->stay.cost));
	json_object_set_new(j, "energy_kwh", json_real(r->policy.kwh));
	json_object_set_new(j, "energy_kwh_stay", json_real(r->stay.kwh));
	json_object_set_new(j, "fleet",
			    json_pack("{s:f, s:f, s:o, s:o, s:o, s:o}", "energy_kwh", r->fleet_policy.kwh,
				      "energy_kwh_stay", r->fleet_stay.kwh, "co2_kg",
				      num_or_null(r->has_co2, r->fleet_policy.co2_g / 1000), "co2_kg_stay",
				      num_or_null(r->has_co2, r->fleet_stay.co2_g / 1000), "cost",
				      num_or_null(r->has_price, r->fleet_policy.cost), "cost_stay",
				      num_or_null(r->has_price, r->fleet_stay.cost)));
	json_object_set_new(
	    j, "uncovered_hours",
	    json_pack("{s:o, s:o}", "co2",
		      r->has_co2 ? json_real((double)r->co2_uncovered_ms / 3600000.0) : json_null(), "price",
		      r->has_price ? json_real((double)r->price_uncovered_ms / 3600000.0) : json_null()));
	json_object_set_new(j, "policy", energy_policy_json(&f->policy));

	json_t *wl = json_array();
	for (size_t i = 0; i < f->nworkloads; i++) {
		const energy_sim_workload_t *w = &r->per_workload[i];
		json_t *in_area = json_object();
		for (size_t a = 0; a < r->nareas; a++)
			json_object_set_new(in_area, r->areas[a], json_real((double)w->ms_in_area[a] / 3600000.0));
		json_array_append_new(
		    wl, json_pack("{s:s, s:I, s:I, s:o, s:o, s:o, s:o, s:f, s:o, s:s}", "name", f->workloads[i].name,
				  "moves", (json_int_t)w->moves, "flaps", (json_int_t)w->flaps, "co2_kg",
				  num_or_null(r->has_co2, w->policy.co2_g / 1000), "co2_kg_stay",
				  num_or_null(r->has_co2, w->stay.co2_g / 1000), "cost",
				  num_or_null(r->has_price, w->policy.cost), "cost_stay",
				  num_or_null(r->has_price, w->stay.cost), "energy_kwh", w->policy.kwh, "hours_in_area",
				  in_area, "host", f->workloads[i].host));
	}
	json_object_set_new(j, "workloads", wl);

	json_t *log = json_array();
	for (size_t i = 0; i < r->nlog && i < max_log; i++) {
		const energy_sim_move_t *m = &r->log[i];
		json_array_append_new(
		    log, json_pack("{s:o, s:s, s:s, s:s, s:o, s:o, s:b, s:s, s:s}", "time", time_str(m->t_ms),
				   "workload", f->workloads[m->workload].name, "from", f->hosts[m->from].name, "to",
				   f->hosts[m->to].name, "from_area",
				   f->hosts[m->from].area ? json_string(f->hosts[m->from].area) : json_null(),
				   "to_area", f->hosts[m->to].area ? json_string(f->hosts[m->to].area) : json_null(),
				   "flap", m->flap, "code", m->code ? m->code : "", "reason", m->reason));
	}
	json_object_set_new(j, "move_log", log);
	json_object_set_new(j, "move_log_truncated", json_boolean(r->nlog > max_log));
	return j;
}

char *energy_sim_moves_csv(const energy_sim_result_t *r, const energy_fleet_t *f)
{
	energy_text_t out = { 0 };
	energy_text_printf(&out, "time;workload;from;to;from_area;to_area;flap;code;reason\n");
	for (size_t i = 0; i < r->nlog; i++) {
		const energy_sim_move_t *m = &r->log[i];
		char t[ENERGY_TIME_MAX], reason[sizeof(m->reason)];
		energy_time_format(m->t_ms, t, sizeof(t));
		/* the reason is free text: no separators or line ends in a field */
		snprintf(reason, sizeof(reason), "%s", m->reason);
		for (char *c = reason; *c; c++)
			if (*c == ';' || *c == '\n' || *c == '\r')
				*c = ',';
		energy_text_printf(
		    &out, "%s;%s;%s;%s;%s;%s;%d;%s;%s\n", t, f->workloads[m->workload].name, f->hosts[m->from].name,
		    f->hosts[m->to].name, f->hosts[m->from].area ? f->hosts[m->from].area : "",
		    f->hosts[m->to].area ? f->hosts[m->to].area : "", m->flap ? 1 : 0, m->code ? m->code : "", reason);
	}
	return energy_text_take(&out);
}
