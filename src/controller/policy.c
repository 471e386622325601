/* The controller's policy loop: every --policy-interval (or sooner when kicked
 * by a settings change), it takes a snapshot of the inventory and the signals,
 * runs the policy engine (src/energy/plan.c, the same code as `flyt plan` and
 * `flyt simulate`), starts the migrations it decides on, stores every decision
 * that differs from the previous one for that workload (with its inputs and
 * alternatives), and adds the energy used since the last tick to the totals.
 *
 * A policy migration that fails holds its workload for failure_hold (doubling
 * with each further failure), so a failing move is not retried in a loop.
 *
 * The policy clock is the wall clock, or with --clock-start/--clock-speed a
 * replay clock (tests and demonstrations replaying recorded signals). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "controller/controller.h"
#include "energy/account.h"
#include "energy/time.h"
#include "lib/cleanup.h"
#include "lib/json.h"
#include "lib/log.h"
#include "lib/util.h"

#define SETTINGS_KEY "policy"
#define ACCOUNT_MAX_GAP_MS (10 * ENERGY_MS_PER_MIN) /* longer gaps (a stopped controller) are not accounted */

struct policy {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool kicked;
	energy_policy_t settings;
	pthread_t thread;
	bool started;
	int64_t last_account_ms;  /* policy time of the last energy accounting */
	int64_t seen_finished_ms; /* wall time: migrations finished up to here are handled */
	json_t *last;		  /* {WORKLOAD: "action code target"} of the last stored decision */
	uint64_t ticks;
	int64_t last_tick_ms; /* policy time */
};

/* ---- the clock ---- */

int ctl_clock_setup(ctl_t *c, flyt_error_t *err)
{
	c->clock_wall0_ms = flyt_wall_ms();
	c->clock_policy0_ms = c->clock_wall0_ms;
	c->clock_rate = 1;
	if (c->clock_start && energy_time_parse(c->clock_start, &c->clock_policy0_ms, err) < 0)
		return flyt_error_prefix(err, "--clock-start");
	if (c->clock_speed) {
		char *end = NULL;
		double v = strtod(c->clock_speed, &end);
		if (!end || *end || !(v >= 0.001 && v <= 1e6))
			return flyt_error_set(err, FLYT_E_INVALID, 0, "--clock-speed must be a number in [0.001, 1e6]");
		c->clock_rate = v;
	}
	return 0;
}

int64_t ctl_policy_time(ctl_t *c, int64_t wall_ms)
{
	return c->clock_policy0_ms + (int64_t)llround((double)(wall_ms - c->clock_wall0_ms) * c->clock_rate);
}

int64_t ctl_wall_time(ctl_t *c, int64_t policy_ms)
{
	return c->clock_wall0_ms + (int64_t)llround((double)(policy_ms - c->clock_policy0_ms) / c->clock_rate);
}

int64_t ctl_policy_now(ctl_t *c)
{
	return ctl_policy_time(c, flyt_wall_ms());
}

/* ---- settings ---- */

int policy_init(ctl_t *c, flyt_error_t *err)
{
	struct policy *p = flyt_malloc0(sizeof(*p));
	pthread_mutex_init(&p->lock, NULL);
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&p->cond, &ca);
	pthread_condattr_destroy(&ca);
	p->last = json_object();
	p->seen_finished_ms = flyt_wall_ms();
	energy_policy_defaults(&p->settings);
	c->policy = p;
	_cleanup_json_ json_t *saved = store_setting_get(c->store, SETTINGS_KEY);
	if (saved && energy_policy_update(&p->settings, saved, err) < 0)
		return flyt_error_prefix(err, "the stored policy settings");
	return 0;
}

void policy_settings(ctl_t *c, energy_policy_t *ret)
{
	pthread_mutex_lock(&c->policy->lock);
	*ret = c->policy->settings;
	pthread_mutex_unlock(&c->policy->lock);
}

int policy_update(ctl_t *c, json_t *changes, json_t **ret, flyt_error_t *err)
{
	if (!json_is_object(changes))
		return flyt_error_set(err, FLYT_E_INVALID, 0, "the policy settings must be a JSON object");
	struct policy *p = c->policy;
	pthread_mutex_lock(&p->lock);
	energy_policy_t next = p->settings;
	int r = energy_policy_update(&next, changes, err);
	_cleanup_json_ json_t *j = r == 0 ? energy_policy_json(&next) : NULL;
	if (r == 0 && (r = store_setting_put(c->store, SETTINGS_KEY, j, err)) == 0)
		p->settings = next;
	pthread_mutex_unlock(&p->lock);
	if (r < 0)
		return -1;
	ctl_publish(c, "policy.changed", json_incref(j));
	log_info("policy settings changed: %s", flyt_json_str(j, "policy", "?"));
	policy_kick(c);
	*ret = json_incref(j);
	return 0;
}

void policy_kick(ctl_t *c)
{
	struct policy *p = c->policy;
	pthread_mutex_lock(&p->lock);
	p->kicked = true;
	pthread_cond_broadcast(&p->cond);
	pthread_mutex_unlock(&p->lock);
}

/* ---- the snapshot the engine decides on ---- */

typedef struct {
	energy_policy_t p;
	json_t *hosts, *workloads, *holds, *last_moves;
	energy_host_t *h;
	energy_workload_t *w;
	char ***drivers; /* per host */
	char **areas;
	energy_area_t *views;
	energy_input_t in;
} snap_t;

static void snap_free(snap_t *s)
{
	for (size_t i = 0; s->drivers && i < s->in.nhosts; i++)
		flyt_strv_free(s->drivers[i]);
	free(s->drivers);
	free(s->h);
	free(s->w);
	free(s->views);
	flyt_strv_free(s->areas);
	json_decref(s->hosts);
	json_decref(s->workloads);
	json_decref(s->holds);
	json_decref(s->last_moves);
}

static int64_t json_i64(json_t *o, const char *k, int64_t dflt)
{
	json_t *v = json_object_get(o, k);
	return json_is_integer(v) ? (int64_t)json_integer_value(v) : dflt;
}

static void snap_take(ctl_t *c, int64_t now, snap_t *s)
{
	*s = (snap_t){ 0 };
	policy_settings(c, &s->p);
	s->hosts = store_hosts_list(c->store);
	int64_t total = 0;
	s->workloads = store_workloads_list(c->store, NULL, NULL, NULL, NULL, 100000, 0, &total);
	s->holds = store_holds(c->store);
	s->last_moves = store_last_moves(c->store);
	size_t nh = json_array_size(s->hosts), nw = json_array_size(s->workloads);
	s->h = flyt_malloc0((nh + 1) * sizeof(*s->h));
	s->w = flyt_malloc0((nw + 1) * sizeof(*s->w));
	s->drivers = flyt_malloc0((nh + 1) * sizeof(*s->drivers));
	s->areas = flyt_malloc0(sizeof(char *));
	size_t i;
	json_t *h, *w;
	json_array_foreach (s->hosts, i, h) {
		energy_host_t *e = &s->h[i];
		e->name = flyt_json_str(h, "name", "");
		e->area = flyt_json_str(h, "area", NULL);
		if (e->area && !energy_area_valid(e->area))
			e->area = NULL;
		e->online = strcmp(flyt_json_str(h, "state", ""), "online") == 0;
		e->drain = json_is_true(json_object_get(h, "drain"));
		json_t *pw = json_object_get(h, "power");
		json_t *iw = json_object_get(pw, "idle_watts"), *mw = json_object_get(pw, "max_watts");
		e->idle_w = json_is_number(iw) ? json_number_value(iw) : s->p.idle_watts;
		e->max_w = json_is_number(mw) ? json_number_value(mw) : s->p.max_watts;
		e->cpus = (double)json_i64(h, "cpus", 0);
		json_t *mem = json_object_get(h, "memory");
		e->mem_total = json_i64(mem, "total_bytes", -1);
		e->mem_available = json_i64(mem, "available_bytes", -1);
		json_t *drv = json_object_get(h, "drivers");
		if (json_is_object(drv)) {
			s->drivers[i] = flyt_malloc0(sizeof(char *));
			const char *k;
			json_t *v;
			json_object_foreach (drv, k, v)
				flyt_strv_push(&s->drivers[i], k);
			e->drivers = s->drivers[i];
		}
		if (e->area) {
			bool seen = false;
			for (char **a = s->areas; *a && !seen; a++)
				seen = strcmp(*a, e->area) == 0;
			if (!seen)
				flyt_strv_push(&s->areas, e->area);
		}
	}
	json_array_foreach (s->workloads, i, w) {
		energy_workload_t *e = &s->w[i];
		e->name = flyt_json_str(w, "name", "");
		e->host = flyt_json_str(w, "host", NULL);
		e->kind = flyt_json_str(w, "kind", "");
		e->auto_migrate = json_is_true(json_object_get(w, "auto_migrate"));
		const char *state = flyt_json_str(w, "state", "");
		e->migrating = strcmp(state, "migrating") == 0;
		/* a migrating workload runs (on one host or the other): its decision says "migrating" */
		e->running = strcmp(state, "running") == 0 || e->migrating;
		json_t *cpu = json_object_get(w, "cpu_percent");
		e->cpu_cores = json_is_number(cpu) ? json_number_value(cpu) / 100.0 : 0;
		e->rss_bytes = json_i64(w, "rss_bytes", -1);
		json_t *lm = json_object_get(s->last_moves, e->name);
		e->last_move_ms = json_is_integer(lm) ? ctl_policy_time(c, json_integer_value(lm)) : ENERGY_NO_TIME;
		json_t *hold = json_object_get(s->holds, e->name);
		json_t *until = json_object_get(hold, "hold_until_ms");
		e->hold_until_ms = json_is_integer(until) ? json_integer_value(until) : ENERGY_NO_TIME;
		e->hold_reason = flyt_json_str(hold, "reason", NULL);
	}
	size_t na = flyt_strv_len(s->areas);
	s->views = flyt_malloc0((na + 1) * sizeof(*s->views));
	signals_fill(c, s->areas, na, now, &s->p, s->views);
	_cleanup_json_ json_t *active = store_migrations_unfinished(c->store);
	s->in = (energy_input_t){
		.now_ms = now,
		.policy = &s->p,
		.hosts = s->h,
		.nhosts = nh,
		.workloads = s->w,
		.nworkloads = nw,
		.areas = s->views,
		.nareas = na,
		.active_migrations = (int64_t)json_array_size(active),
		.recent_migrations =
		    store_policy_migrations_since(c->store, ctl_wall_time(c, now - ENERGY_MS_PER_HOUR)),
	};
}

/* ---- plans ---- */

int policy_plan(ctl_t *c, bool all, const char *workload, json_t **ret, flyt_error_t *err)
{
	int64_t now = ctl_policy_now(c);
	_cleanup_(snap_free) snap_t s;
	snap_take(c, now, &s);
	_cleanup_(energy_plan_free) energy_plan_t plan = { 0 };
	energy_plan_make(&s.in, &plan);
	json_t *list = json_array();
	bool found = false;
	for (size_t i = 0; i < plan.n; i++) {
		const energy_decision_t *d = &plan.d[i];
		const char *name = s.w[d->workload].name;
		if (workload && strcmp(workload, name) != 0)
			continue;
		found = true;
		if (!all && !workload && d->action == ENERGY_STAY && d->code &&
		    strcmp(d->code, "auto_migrate_off") == 0)
			continue;
		json_array_append_new(list, energy_decision_json(&s.in, d));
	}
	if (workload && !found) {
		json_decref(list);
		return flyt_error_set(err, FLYT_E_NOT_FOUND, 0, "no workload %s", workload);
	}
	char t[ENERGY_TIME_MAX];
	energy_time_format(now, t, sizeof(t));
	*ret = json_pack("{s:s, s:s, s:I, s:I, s:o}", "time", t, "policy", energy_policy_kind_name(s.p.kind), "moves",
			 (json_int_t)plan.moves, "blocked", (json_int_t)plan.blocked, "decisions", list);
	return 0;
}

/* ---- the loop ---- */

/* Policy migrations that ended since the last look: a failure holds the workload. */
static void handle_finished(ctl_t *c, int64_t now)
{
	struct policy *p = c->policy;
	_cleanup_json_ json_t *done = store_migrations_finished_since(c->store, p->seen_finished_ms);
	_cleanup_json_ json_t *holds = store_holds(c->store);
	energy_policy_t set;
	policy_settings(c, &set);
	size_t i;
	json_t *m;
	json_array_foreach (done, i, m) {
		p->seen_finished_ms = flyt_json_int(m, "finished_ms", p->seen_finished_ms);
		json_t *origin = json_object_get(m, "origin");
		if (!json_is_object(origin))
			continue;
		const char *wname = flyt_json_str(m, "workload", "");
		const char *state = flyt_json_str(m, "state", "");
		flyt_error_t err = FLYT_ERROR_INIT;
		if (strcmp(state, "committed") == 0) {
			store_hold_clear(c->store, wname, &err);
			continue;
		}
		int64_t failures = flyt_json_int(json_object_get(holds, wname), "failures", 0);
		int64_t hold = set.failure_hold_ms << (failures < 10 ? failures : 10);
		_cleanup_free_ char *reason =
		    flyt_asprintf("policy migration %s ended %s: %s", flyt_json_str(m, "id", ""), state,
				  flyt_json_str(m, "error", "(no error)"));
		int n = store_hold_fail(c->store, wname, now + hold, reason, &err);
		char d[32];
		energy_duration_format(hold, d, sizeof(d));
		log_warn("policy: %s: %s; no policy move for %s (failure %d)", wname, reason, d, n);
		ctl_publish(
		    c, "policy.hold",
		    json_pack("{s:s, s:s, s:s, s:i}", "workload", wname, "reason", reason, "hold", d, "failures", n));
	}
}

static void account(ctl_t *c, const snap_t *s, const energy_plan_t *plan, int64_t now)
{
	struct policy *p = c->policy;
	int64_t dt = p->last_account_ms ? now - p->last_account_ms : 0;
	p->last_account_ms = now;
	if (dt <= 0 || dt > (int64_t)llround(ACCOUNT_MAX_GAP_MS * c->clock_rate))
		return;
	energy_kind_t pk = energy_policy_price_kind(&s->p);
	_cleanup_json_ json_t *items = json_array();
	_cleanup_json_ json_t *hosts = json_object();
	for (size_t i = 0; i < plan->n; i++) {
		const energy_decision_t *d = &plan->d[i];
		const energy_workload_t *w = &s->w[d->workload];
		if (!w->running || d->source < 0 || isnan(d->power_w))
			continue;
		const char *area = s->h[d->source].area;
		double wh = energy_wh(d->power_w, dt), co2 = 0, cost = 0, co2_wh = 0, cost_wh = 0;
		for (size_t a = 0; area && a < s->in.nareas; a++) {
			if (strcmp(s->views[a].area, area) != 0)
				continue;
			const energy_view_t *vc = &s->views[a].sig[ENERGY_CO2], *vp = &s->views[a].sig[pk];
			if (!isnan(vc->now)) {
				co2 = energy_co2_g(d->power_w, dt, vc->now);
				co2_wh = wh;
			}
			if (!isnan(vp->now)) {
				cost = energy_cost(d->power_w, dt, vp->now);
				cost_wh = wh;
			}
		}
		json_t *it =
		    json_pack("{s:s, s:s, s:f, s:f, s:f, s:f, s:f}", "scope", "workload", "name", w->name, "energy_wh",
			      wh, "co2_g", co2, "cost", cost, "co2_wh", co2_wh, "cost_wh", cost_wh);
		json_array_append(items, it);
		const char *hn = s->h[d->source].name;
		json_t *hi = json_object_get(hosts, hn);
		if (!hi) {
			hi = json_pack("{s:s, s:s, s:f, s:f, s:f, s:f, s:f}", "scope", "host", "name", hn, "energy_wh",
				       0.0, "co2_g", 0.0, "cost", 0.0, "co2_wh", 0.0, "cost_wh", 0.0);
			json_object_set_new(hosts, hn, hi);
		}
		static const char *const keys[] = { "energy_wh", "co2_g", "cost", "co2_wh", "cost_wh" };
		for (int k = 0; k < 5; k++)
			json_object_set_new(hi, keys[k],
					    json_real(json_number_value(json_object_get(hi, keys[k])) +
						      json_number_value(json_object_get(it, keys[k]))));
		json_decref(it);
	}
	const char *k;
	json_t *v;
	json_object_foreach (hosts, k, v)
		json_array_append(items, v);
	flyt_error_t err = FLYT_ERROR_INIT;
	if (json_array_size(items) && store_energy_add(c->store, items, flyt_wall_ms(), &err) < 0)
		log_warn("policy: energy totals not saved: %s", err.msg);
}

/* Stores decision d (new reference to its JSON in *ret) when it differs from
 * the last stored one of its workload, or always for moves. */
static void record(ctl_t *c, const snap_t *s, const energy_decision_t *d, int64_t now, const char *migration,
		   const char *start_error)
{
	struct policy *p = c->policy;
	const char *wname = s->w[d->workload].name;
	_cleanup_json_ json_t *j = energy_decision_json(&s->in, d);
	if (start_error) {
		json_object_set_new(j, "action", json_string("blocked"));
		json_object_set_new(j, "code", json_string("start_failed"));
		_cleanup_free_ char *reason =
		    flyt_asprintf("%s; the migration did not start: %s", d->reason, start_error);
		json_object_set_new(j, "reason", json_string(reason));
	}
	_cleanup_free_ char *key = flyt_asprintf("%s %s %s", flyt_json_str(j, "action", ""),
						 flyt_json_str(j, "code", ""), flyt_json_str(j, "target", "-"));
	const char *prev = flyt_json_str(p->last, wname, NULL);
	if (!migration && prev && strcmp(prev, key) == 0)
		return;
	json_object_set_new(p->last, wname, json_string(key));
	char id[33];
	flyt_error_t err = FLYT_ERROR_INIT;
	if (flyt_new_id(id, &err) < 0)
		return;
	_cleanup_json_ json_t *row = json_pack(
	    "{s:s, s:I, s:I, s:s, s:O, s:O, s:O, s:O, s:O, s:O, s:o}", "id", id, "time_ms", (json_int_t)flyt_wall_ms(),
	    "policy_ms", (json_int_t)now, "workload", wname, "action", json_object_get(j, "action"), "code",
	    json_object_get(j, "code"), "host", json_object_get(j, "host"), "target", json_object_get(j, "target"),
	    "reason", json_object_get(j, "reason"), "detail", j, "migration",
	    migration ? json_string(migration) : json_null());
	if (store_decision_add(c->store, row, &err) < 0) {
		log_warn("policy: decision not saved: %s", err.msg);
		return;
	}
	if (migration || start_error || d->action != ENERGY_STAY || d->code == NULL ||
	    strcmp(d->code, "auto_migrate_off") != 0)
		ctl_publish(c, migration ? "policy.move" : "policy.decision",
			    json_pack("{s:s, s:s, s:O, s:O, s:O, s:O, s:O, s:o}", "decision", id, "workload", wname,
				      "action", json_object_get(j, "action"), "code", json_object_get(j, "code"),
				      "host", json_object_get(j, "host"), "target", json_object_get(j, "target"),
				      "reason", json_object_get(j, "reason"), "migration",
				      migration ? json_string(migration) : json_null()));
}

static void tick(ctl_t *c)
{
	int64_t now = ctl_policy_now(c);
	handle_finished(c, now);
	_cleanup_(snap_free) snap_t s;
	snap_take(c, now, &s);
	_cleanup_(energy_plan_free) energy_plan_t plan = { 0 };
	energy_plan_make(&s.in, &plan);
	for (size_t i = 0; i < plan.n && !atomic_load(&c->stopping); i++) {
		const energy_decision_t *d = &plan.d[i];
		if (d->action != ENERGY_MOVE) {
			record(c, &s, d, now, NULL, NULL);
			continue;
		}
		const energy_workload_t *w = &s.w[d->workload];
		const char *target = s.h[d->target].name;
		_cleanup_json_ json_t *body = json_pack("{s:s, s:s}", "workload", w->name, "target", target);
		_cleanup_json_ json_t *origin =
		    json_pack("{s:s, s:s, s:s}", "policy", energy_policy_kind_name(s.p.kind), "code",
			      d->code ? d->code : "", "reason", d->reason);
		_cleanup_json_ json_t *m = NULL;
		flyt_error_t err = FLYT_ERROR_INIT;
		if (orch_start_from(c, body, origin, &m, &err) < 0) {
			log_warn("policy: %s -> %s not started: %s", w->name, target, err.msg);
			record(c, &s, d, now, NULL, err.msg);
			int64_t hold = s.p.failure_hold_ms;
			_cleanup_free_ char *reason =
			    flyt_asprintf("policy migration to %s did not start: %s", target, err.msg);
			store_hold_fail(c->store, w->name, now + hold, reason, NULL);
			continue;
		}
		log_info("policy: moving %s %s -> %s: %s", w->name, w->host, target, d->reason);
		record(c, &s, d, now, flyt_json_str(m, "id", NULL), NULL);
	}
	account(c, &s, &plan, now);
	struct policy *p = c->policy;
	pthread_mutex_lock(&p->lock);
	p->ticks++;
	p->last_tick_ms = now;
	pthread_mutex_unlock(&p->lock);
}

static void *loop(void *arg)
{
	ctl_t *c = arg;
	struct policy *p = c->policy;
	while (!atomic_load(&c->stopping)) {
		tick(c);
		uint64_t deadline = flyt_now_ms() + (uint64_t)c->policy_interval_ms;
		pthread_mutex_lock(&p->lock);
		while (!p->kicked && !atomic_load(&c->stopping)) {
			uint64_t now = flyt_now_ms();
			if (now >= deadline)
				break;
			uint64_t wait = deadline - now < 500 ? deadline - now : 500;
			struct timespec ts;
			clock_gettime(CLOCK_MONOTONIC, &ts);
			ts.tv_sec += (time_t)(wait / 1000);
			ts.tv_nsec += (long)(wait % 1000) * 1000000L;
			if (ts.tv_nsec >= 1000000000L) {
				ts.tv_sec++;
				ts.tv_nsec -= 1000000000L;
			}
			pthread_cond_timedwait(&p->cond, &p->lock, &ts);
		}
		p->kicked = false;
		pthread_mutex_unlock(&p->lock);
	}
	return NULL;
}

int policy_start(ctl_t *c, flyt_error_t *err)
{
	if (pthread_create(&c->policy->thread, NULL, loop, c) != 0)
		return flyt_error_set(err, FLYT_E_INTERNAL, 0, "cannot start the policy loop");
	c->policy->started = true;
	return 0;
}

void policy_stop(ctl_t *c)
{
	struct policy *p = c->policy;
	if (!p)
		return;
	policy_kick(c);
	if (p->started)
		pthread_join(p->thread, NULL);
	json_decref(p->last);
	pthread_cond_destroy(&p->cond);
	pthread_mutex_destroy(&p->lock);
	free(p);
	c->policy = NULL;
}

json_t *policy_status(ctl_t *c)
{
	struct policy *p = c->policy;
	pthread_mutex_lock(&p->lock);
	json_t *j = energy_policy_json(&p->settings);
	char t[ENERGY_TIME_MAX];
	energy_time_format(ctl_policy_now(c), t, sizeof(t));
	json_t *clock = json_pack("{s:s, s:f}", "now", t, "speed", c->clock_rate);
	json_object_set_new(j, "clock", clock);
	json_object_set_new(j, "interval_ms", json_integer(c->policy_interval_ms));
	json_object_set_new(j, "ticks", json_integer((json_int_t)p->ticks));
	pthread_mutex_unlock(&p->lock);
	json_object_set_new(j, "holds", store_holds(c->store));
	return j;
}

json_t *policy_energy(ctl_t *c)
{
	json_t *totals = store_energy_totals(c->store);
	/* and the power now, per workload and host, from a plan of the present */
	int64_t now = ctl_policy_now(c);
	_cleanup_(snap_free) snap_t s;
	snap_take(c, now, &s);
	_cleanup_(energy_plan_free) energy_plan_t plan = { 0 };
	energy_plan_make(&s.in, &plan);
	json_t *wp = json_object(), *hp = json_object();
	for (size_t i = 0; i < plan.n; i++) {
		const energy_decision_t *d = &plan.d[i];
		if (!s.w[d->workload].running || d->source < 0 || isnan(d->power_w))
			continue;
		json_object_set_new(wp, s.w[d->workload].name, json_real(d->power_w));
		const char *hn = s.h[d->source].name;
		json_object_set_new(hp, hn, json_real(json_number_value(json_object_get(hp, hn)) + d->power_w));
	}
	json_object_set_new(totals, "power_w", json_pack("{s:o, s:o}", "host", hp, "workload", wp));
	return totals;
}
