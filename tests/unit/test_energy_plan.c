/* Unit tests of the policy engine (src/energy/plan.c) with an injected clock: a
 * small loop here plays the controller (a tick every few minutes of made-up
 * time, migrations that take a tick to finish) over hand-made signals, and checks
 * what moved and what every decision says. Covers: greenest moves once and stays;
 * no flapping when areas are close or cross often; drain empties a host within
 * the limits and capacity; a stale signal moves nothing; holds after failures,
 * dwell, compatibility, band, balance, and the decision's JSON. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "energy/plan.h"
#include "energy/sim.h"
#include "energy/time.h"
#include "lib/cleanup.h"
#include "lib/json.h"
#include "lib/util.h"
#include "tap.h"
#include "testutil.h"

#define MIN ENERGY_MS_PER_MIN
#define HOUR ENERGY_MS_PER_HOUR
#define GIB (INT64_C(1) << 30)

static int64_t T0;

/* A cluster in the making: hosts, workloads, signals, settings. */
typedef struct {
	energy_host_t hosts[8];
	size_t nhosts;
	energy_workload_t wl[16];
	size_t nwl;
	energy_set_t set;
	energy_policy_t policy;
	const char *stale[ENERGY_KIND_MAX];
	/* migrations in flight: the workload and the tick they finish */
	int64_t finish_at[16];
	int64_t policy_moves[64]; /* start times, for the hourly limit */
	size_t npolicy_moves;
	size_t moves;
	char log[4096];
} world_t;

static void world_init(world_t *w)
{
	memset(w, 0, sizeof(*w));
	energy_set_init(&w->set);
	energy_policy_defaults(&w->policy);
	for (size_t i = 0; i < 16; i++)
		w->finish_at[i] = ENERGY_NO_TIME;
}

static void world_free(world_t *w)
{
	energy_set_free(&w->set);
}

static energy_host_t *host(world_t *w, const char *name, const char *area)
{
	energy_host_t *h = &w->hosts[w->nhosts++];
	*h = (energy_host_t){ .name = name,
			      .area = area,
			      .online = true,
			      .idle_w = 100,
			      .max_w = 300,
			      .cpus = 8,
			      .mem_total = 16 * GIB,
			      .mem_available = 12 * GIB };
	return h;
}

static energy_workload_t *workload(world_t *w, const char *name, const char *on)
{
	energy_workload_t *x = &w->wl[w->nwl++];
	*x = (energy_workload_t){ .name = name,
				  .host = on,
				  .kind = "process",
				  .auto_migrate = true,
				  .running = true,
				  .cpu_cores = 1,
				  .rss_bytes = GIB,
				  .last_move_ms = ENERGY_NO_TIME,
				  .hold_until_ms = ENERGY_NO_TIME };
	return x;
}

/* value(area, i) for i = 0.. every step from T0 for n steps */
static void signal(world_t *w, const char *area, energy_kind_t k, int64_t step, int n, double (*value)(int i, void *),
		   void *ctx)
{
	for (int i = 0; i < n; i++)
		energy_set_append(&w->set, area, k, step, T0 + i * step, value(i, ctx));
}

static double constant(int i, void *ctx)
{
	return *(double *)ctx;
}

static void finish(world_t *w)
{
	flyt_error_t err = FLYT_ERROR_INIT;
	if (energy_set_finish(&w->set, &err) < 0)
		diag("signals: %s", err.msg);
}

/* One tick at now: migrations due finish, the engine plans, moves start (they
 * finish `duration` later). Returns the plan for inspection (caller frees). */
static void tick(world_t *w, int64_t now, int64_t duration, energy_plan_t *ret)
{
	for (size_t i = 0; i < w->nwl; i++)
		if (w->wl[i].migrating && w->finish_at[i] <= now) {
			w->wl[i].migrating = false;
			w->wl[i].last_move_ms = w->finish_at[i];
		}
	int64_t active = 0, recent = 0;
	for (size_t i = 0; i < w->nwl; i++)
		active += w->wl[i].migrating;
	for (size_t i = 0; i < w->npolicy_moves; i++)
		recent += w->policy_moves[i] > now - HOUR;
	/* the areas of the hosts, as the controller builds them */
	energy_area_t areas[8];
	size_t nareas = 0;
	for (size_t h = 0; h < w->nhosts; h++) {
		bool seen = false;
		for (size_t a = 0; a < nareas; a++)
			seen |= w->hosts[h].area && strcmp(areas[a].area, w->hosts[h].area) == 0;
		if (!seen && w->hosts[h].area)
			energy_area_fill(&areas[nareas++], w->hosts[h].area, &w->set, now, &w->policy, w->stale);
	}
	energy_input_t in = { .now_ms = now,
			      .policy = &w->policy,
			      .hosts = w->hosts,
			      .nhosts = w->nhosts,
			      .workloads = w->wl,
			      .nworkloads = w->nwl,
			      .areas = areas,
			      .nareas = nareas,
			      .active_migrations = active,
			      .recent_migrations = recent };
	energy_plan_make(&in, ret);
	for (size_t i = 0; i < ret->n; i++) {
		energy_decision_t *d = &ret->d[i];
		if (d->action != ENERGY_MOVE)
			continue;
		energy_workload_t *x = &w->wl[d->workload];
		size_t n = strlen(w->log);
		snprintf(w->log + n, sizeof(w->log) - n, "%s%s:%s>%s@%lldm", n ? " " : "", x->name, x->host,
			 w->hosts[d->target].name, (long long)((now - T0) / MIN));
		x->host = w->hosts[d->target].name;
		x->migrating = true;
		w->finish_at[d->workload] = now + duration;
		if (w->npolicy_moves < 64)
			w->policy_moves[w->npolicy_moves++] = now;
		w->moves++;
	}
}

/* Runs ticks every `every` from start for `span`; migrations take `duration`. */
static void run(world_t *w, int64_t start, int64_t span, int64_t every, int64_t duration)
{
	for (int64_t t = start; t < start + span; t += every) {
		_cleanup_(energy_plan_free) energy_plan_t p = { 0 };
		tick(w, t, duration, &p);
	}
}

static const energy_decision_t *decision_of(const world_t *w, const energy_plan_t *p, const char *name)
{
	for (size_t i = 0; i < p->n; i++)
		if (strcmp(w->wl[p->d[i].workload].name, name) == 0)
			return &p->d[i];
	return NULL;
}

static void test_greenest_moves_once(void)
{
	world_t w;
	world_init(&w);
	w.policy.kind = ENERGY_POLICY_GREENEST;
	host(&w, "a", "DK1");
	host(&w, "b", "DK2");
	workload(&w, "app", "a");
	double dirty = 300, clean = 100;
	signal(&w, "DK1", ENERGY_CO2, 5 * MIN, 288, constant, &dirty);
	signal(&w, "DK2", ENERGY_CO2, 5 * MIN, 288, constant, &clean);
	finish(&w);

	_cleanup_(energy_plan_free) energy_plan_t p = { 0 };
	tick(&w, T0, 2 * MIN, &p);
	const energy_decision_t *d = decision_of(&w, &p, "app");
	ok(d && d->action == ENERGY_MOVE && strcmp(d->code, "greener") == 0, "first tick: move (%s)",
	   d ? d->reason : "-");
	ok(d && d->target == 1, "to b, in DK2");
	ok(d && d->value_here == 300 && d->value_there == 100 && d->gain == 200, "values and gain recorded");
	ok(d && d->saving_co2_g_per_h > 0, "a CO2 saving estimated: %.1f g/h", d ? d->saving_co2_g_per_h : 0);
	run(&w, T0 + 5 * MIN, 23 * HOUR, 5 * MIN, 2 * MIN);
	is_int(w.moves, 1, "one move in a day of ticks: %s", w.log);
	is_str(w.wl[0].host, "b", "it stays in the greener area");
	_cleanup_(energy_plan_free) energy_plan_t last = { 0 };
	tick(&w, T0 + 23 * HOUR + 30 * MIN, 2 * MIN, &last);
	d = decision_of(&w, &last, "app");
	ok(d && d->action == ENERGY_STAY && strcmp(d->code, "best_here") == 0, "says why it stays: %s",
	   d ? d->reason : "-");
	world_free(&w);
}

/* Close areas: 100 and 95 g/kWh swapping every 10 minutes never gain 10 %. */
static double close_a(int i, void *ctx)
{
	return i % 2 ? 95 : 100;
}
static double close_b(int i, void *ctx)
{
	return i % 2 ? 100 : 95;
}
/* Far apart but crossing every 10 minutes: only the dwell time stops flapping. */
static double cross_a(int i, void *ctx)
{
	return i % 2 ? 50 : 300;
}
static double cross_b(int i, void *ctx)
{
	return i % 2 ? 300 : 50;
}

static void test_no_flapping(void)
{
	world_t w;
	world_init(&w);
	w.policy.kind = ENERGY_POLICY_GREENEST;
	host(&w, "a", "DK1");
	host(&w, "b", "DK2");
	workload(&w, "app", "a");
	signal(&w, "DK1", ENERGY_CO2, 10 * MIN, 6 * 24, close_a, NULL);
	signal(&w, "DK2", ENERGY_CO2, 10 * MIN, 6 * 24, close_b, NULL);
	finish(&w);
	run(&w, T0, 24 * HOUR, 5 * MIN, 2 * MIN);
	is_int(w.moves, 0, "areas within the minimum gain: nothing moves in a day (%s)", w.log);
	_cleanup_(energy_plan_free) energy_plan_t p = { 0 };
	tick(&w, T0 + 20 * MIN, 2 * MIN, &p);
	const energy_decision_t *d = decision_of(&w, &p, "app");
	ok(d && strcmp(d->code, "gain_below_minimum") == 0, "and says so: %s", d ? d->reason : "-");
	world_free(&w);

	world_init(&w);
	w.policy.kind = ENERGY_POLICY_GREENEST;
	w.policy.min_dwell_ms = 2 * HOUR;
	host(&w, "a", "DK1");
	host(&w, "b", "DK2");
	workload(&w, "app", "a");
	signal(&w, "DK1", ENERGY_CO2, 10 * MIN, 6 * 24, cross_a, NULL);
	signal(&w, "DK2", ENERGY_CO2, 10 * MIN, 6 * 24, cross_b, NULL);
	finish(&w);
	run(&w, T0, 24 * HOUR, 5 * MIN, 2 * MIN);
	ok(w.moves >= 2 && w.moves <= 12, "crossing every 10 minutes: at most one move per 2 h dwell (%zu moves)",
	   w.moves);
	world_free(&w);

	/* the horizon smooths it out entirely: the next hour's mean is the same
	 * everywhere, so nothing is worth moving for */
	world_init(&w);
	w.policy.kind = ENERGY_POLICY_GREENEST;
	w.policy.horizon_ms = HOUR;
	w.policy.min_dwell_ms = 0;
	host(&w, "a", "DK1");
	host(&w, "b", "DK2");
	workload(&w, "app", "a");
	signal(&w, "DK1", ENERGY_CO2, 10 * MIN, 6 * 24, cross_a, NULL);
	signal(&w, "DK2", ENERGY_CO2, 10 * MIN, 6 * 24, cross_b, NULL);
	finish(&w);
	run(&w, T0, 23 * HOUR, 10 * MIN, 2 * MIN);
	is_int(w.moves, 0, "with a 1 h horizon the crossings average out: no move (%s)", w.log);
	world_free(&w);
}

static void test_drain(void)
{
	world_t w;
	world_init(&w);
	w.policy.kind = ENERGY_POLICY_NONE;
	w.policy.max_concurrent = 2;
	w.policy.max_per_hour = 100;
	energy_host_t *a = host(&w, "a", "DK1");
	energy_host_t *b = host(&w, "b", "DK1");
	host(&w, "c", "DK2");
	/* b has room for two 1 GiB workloads below 90 % of 16 GiB, c for plenty */
	b->mem_available = 3 * GIB + GIB / 2;
	static const char *const names[] = { "w1", "w2", "w3", "w4", "w5" };
	for (size_t i = 0; i < 5; i++)
		workload(&w, names[i], "a")->auto_migrate = i % 2 == 0; /* drain moves them all */
	a->drain = true;
	_cleanup_(energy_plan_free) energy_plan_t p = { 0 };
	tick(&w, T0, 10 * MIN, &p);
	is_int(p.moves, 2, "two moves at once (max_concurrent 2)");
	is_int(p.blocked, 3, "three blocked by the limit");
	const energy_decision_t *d = decision_of(&w, &p, "w5");
	ok(d && d->action == ENERGY_BLOCKED && strcmp(d->code, "limit_concurrent") == 0, "blocked, and why: %s",
	   d ? d->reason : "-");
	run(&w, T0 + 5 * MIN, 2 * HOUR, 5 * MIN, 10 * MIN);
	size_t left = 0, on_b = 0;
	for (size_t i = 0; i < w.nwl; i++) {
		left += strcmp(w.wl[i].host, "a") == 0;
		on_b += strcmp(w.wl[i].host, "b") == 0;
	}
	is_int(left, 0, "the drained host is empty: %s", w.log);
	is_int(w.moves, 5, "five moves, one each");
	ok(on_b >= 1 && on_b <= 3, "b took no more than its memory allows (%zu)", on_b);
	/* nothing goes to a draining host */
	_cleanup_(energy_plan_free) energy_plan_t q = { 0 };
	w.policy.kind = ENERGY_POLICY_BALANCE;
	tick(&w, T0 + 3 * HOUR, 10 * MIN, &q);
	bool to_a = false;
	for (size_t i = 0; i < q.n; i++)
		for (size_t k = 0; k < q.d[i].nalts; k++)
			to_a |= q.d[i].alts[k].host == 0 && q.d[i].alts[k].eligible;
	ok(!to_a, "the draining host is no target");
	world_free(&w);
}

static void test_stale(void)
{
	world_t w;
	world_init(&w);
	w.policy.kind = ENERGY_POLICY_CHEAPEST;
	host(&w, "a", "DK1");
	host(&w, "b", "DK2");
	workload(&w, "app", "a");
	double high = 200, low = 20;
	/* DK1's prices end after 2 hours, DK2's go on */
	signal(&w, "DK1", ENERGY_PRICE_EUR, HOUR, 2, constant, &high);
	signal(&w, "DK2", ENERGY_PRICE_EUR, HOUR, 24, constant, &low);
	finish(&w);
	w.stale[ENERGY_PRICE_EUR] = "the last fetch failed: HTTP 503";
	run(&w, T0, HOUR, 5 * MIN, 2 * MIN);
	is_int(w.moves, 0, "a source marked stale moves nothing (%s)", w.log);
	_cleanup_(energy_plan_free) energy_plan_t p = { 0 };
	tick(&w, T0 + HOUR, 2 * MIN, &p);
	const energy_decision_t *d = decision_of(&w, &p, "app");
	ok(d && strcmp(d->code, "stale_signal") == 0 && strstr(d->reason, "HTTP 503"), "and says why: %s",
	   d ? d->reason : "-");
	w.stale[ENERGY_PRICE_EUR] = NULL;
	run(&w, T0 + 3 * HOUR, 20 * HOUR, 5 * MIN, 2 * MIN);
	is_int(w.moves, 0, "after DK1's data ends, nothing moves although DK2 is cheaper (%s)", w.log);
	_cleanup_(energy_plan_free) energy_plan_t q = { 0 };
	tick(&w, T0 + 5 * HOUR, 2 * MIN, &q);
	d = decision_of(&w, &q, "app");
	ok(d && strcmp(d->code, "stale_signal") == 0 && strstr(d->reason, "ends at"), "the data's end named: %s",
	   d ? d->reason : "-");
	/* the other way round: the target's signal is stale, so it is no target */
	world_free(&w);
	world_init(&w);
	w.policy.kind = ENERGY_POLICY_CHEAPEST;
	host(&w, "a", "DK1");
	host(&w, "b", "DK2");
	workload(&w, "app", "a");
	signal(&w, "DK1", ENERGY_PRICE_EUR, HOUR, 24, constant, &high);
	signal(&w, "DK2", ENERGY_PRICE_EUR, HOUR, 2, constant, &low);
	finish(&w);
	run(&w, T0 + 3 * HOUR, 10 * HOUR, 5 * MIN, 2 * MIN);
	is_int(w.moves, 0, "a target without a fresh signal is no target");
	world_free(&w);
}

static void test_hold_dwell_compat(void)
{
	world_t w;
	world_init(&w);
	w.policy.kind = ENERGY_POLICY_CHEAPEST;
	energy_host_t *b = host(&w, "a", "DK1");
	b = host(&w, "b", "DK2");
	host(&w, "c", "DK2");
	energy_workload_t *x = workload(&w, "app", "a");
	double high = 200, low = 20;
	signal(&w, "DK1", ENERGY_PRICE_EUR, HOUR, 24, constant, &high);
	signal(&w, "DK2", ENERGY_PRICE_EUR, HOUR, 24, constant, &low);
	finish(&w);

	x->hold_until_ms = T0 + 2 * HOUR;
	x->hold_reason = "restore failed on b";
	_cleanup_(energy_plan_free) energy_plan_t p1 = { 0 };
	tick(&w, T0 + HOUR, 2 * MIN, &p1);
	ok(p1.d[0].action == ENERGY_STAY && strcmp(p1.d[0].code, "hold") == 0 && strstr(p1.d[0].reason, "restore"),
	   "held after a failure: %s", p1.d[0].reason);
	x->hold_until_ms = ENERGY_NO_TIME;

	x->last_move_ms = T0 + HOUR - 10 * MIN;
	_cleanup_(energy_plan_free) energy_plan_t p2 = { 0 };
	tick(&w, T0 + HOUR, 2 * MIN, &p2);
	ok(strcmp(p2.d[0].code, "dwell") == 0, "moved 10 minutes ago: stays (%s)", p2.d[0].reason);
	x->last_move_ms = ENERGY_NO_TIME;

	/* b cannot run processes, c's pre-flight refused it: no target */
	static char fake[] = "fake", c_name[] = "c";
	static char *const fake_only[] = { fake, NULL };
	static char *const avoid_c[] = { c_name, NULL };
	b->drivers = fake_only;
	x->avoid = avoid_c;
	_cleanup_(energy_plan_free) energy_plan_t p3 = { 0 };
	tick(&w, T0 + HOUR, 2 * MIN, &p3);
	ok(strcmp(p3.d[0].code, "no_target") == 0 && strstr(p3.d[0].reason, "cannot run process") &&
	       strstr(p3.d[0].reason, "pre-flight"),
	   "incompatible hosts are not targets: %s", p3.d[0].reason);
	b->drivers = NULL;
	x->avoid = NULL;

	/* capacity: b is full */
	b->mem_available = GIB / 2;
	_cleanup_(energy_plan_free) energy_plan_t p4 = { 0 };
	tick(&w, T0 + HOUR, 2 * MIN, &p4);
	ok(p4.d[0].action == ENERGY_MOVE && p4.d[0].target == 2, "b's memory is full: to c instead (%s)",
	   p4.d[0].reason);
	world_free(&w);
}

static void test_limits_hourly(void)
{
	world_t w;
	world_init(&w);
	w.policy.kind = ENERGY_POLICY_CHEAPEST;
	w.policy.max_concurrent = 10;
	w.policy.max_per_hour = 3;
	host(&w, "a", "DK1");
	host(&w, "b", "DK2");
	static const char *const names[] = { "w1", "w2", "w3", "w4", "w5" };
	for (size_t i = 0; i < 5; i++)
		workload(&w, names[i], "a");
	double high = 200, low = 20;
	signal(&w, "DK1", ENERGY_PRICE_EUR, HOUR, 24, constant, &high);
	signal(&w, "DK2", ENERGY_PRICE_EUR, HOUR, 24, constant, &low);
	finish(&w);
	run(&w, T0, 55 * MIN, 5 * MIN, MIN);
	is_int(w.moves, 3, "at most 3 policy moves in the first hour (%s)", w.log);
	run(&w, T0 + HOUR, 10 * MIN, 5 * MIN, MIN);
	is_int(w.moves, 5, "the rest in the next hour");
	world_free(&w);
}

static double band_dk1(int i, void *ctx)
{
	return i < 48 ? 50 : 90; /* two days at 50, then well above its band */
}

static void test_band(void)
{
	world_t w;
	world_init(&w);
	w.policy.kind = ENERGY_POLICY_BAND;
	w.policy.band_window_ms = 24 * HOUR;
	host(&w, "a", "DK1");
	host(&w, "b", "DK2");
	workload(&w, "app", "a");
	double dk2 = 70;
	signal(&w, "DK1", ENERGY_PRICE_EUR, HOUR, 72, band_dk1, NULL);
	signal(&w, "DK2", ENERGY_PRICE_EUR, HOUR, 72, constant, &dk2);
	finish(&w);
	_cleanup_(energy_plan_free) energy_plan_t p = { 0 };
	tick(&w, T0 + 30 * HOUR, MIN, &p);
	ok(strcmp(p.d[0].code, "within_band") == 0, "50 within its band (mean 50): stays (%s)", p.d[0].reason);
	_cleanup_(energy_plan_free) energy_plan_t q = { 0 };
	tick(&w, T0 + 49 * HOUR, MIN, &q);
	ok(q.d[0].action == ENERGY_MOVE && strcmp(q.d[0].code, "above_band") == 0,
	   "90 above its band: moves to DK2 at 70, within its own (%s)", q.d[0].reason);
	world_free(&w);
}

static void test_balance(void)
{
	world_t w;
	world_init(&w);
	w.policy.kind = ENERGY_POLICY_BALANCE;
	w.policy.cpu_high_pct = 75;
	host(&w, "a", NULL);
	host(&w, "b", NULL);
	workload(&w, "small", "a")->cpu_cores = 1;
	workload(&w, "big", "a")->cpu_cores = 4;
	workload(&w, "medium", "a")->cpu_cores = 2;
	workload(&w, "other", "b")->cpu_cores = 1;
	_cleanup_(energy_plan_free) energy_plan_t p = { 0 };
	tick(&w, T0, MIN, &p);
	const energy_decision_t *big = decision_of(&w, &p, "big"), *small = decision_of(&w, &p, "small");
	ok(big && big->action == ENERGY_MOVE && strcmp(big->code, "overloaded") == 0,
	   "a at 7 of 8 CPUs (88%% > 75%%): the biggest moves (%s)", big ? big->reason : "-");
	ok(small && strcmp(small->code, "other_moves_first") == 0, "the others wait: %s", small ? small->reason : "-");
	_cleanup_(energy_plan_free) energy_plan_t q = { 0 };
	tick(&w, T0 + 5 * MIN, MIN, &q);
	is_int(q.moves, 0, "a at 3 of 8 CPUs: balanced, nothing more moves");
	world_free(&w);
}

static void test_json_explains(void)
{
	world_t w;
	world_init(&w);
	w.policy.kind = ENERGY_POLICY_CHEAPEST;
	host(&w, "a", "DK1");
	host(&w, "b", "DK2");
	host(&w, "c", NULL);
	workload(&w, "app", "a");
	double high = 200, low = 20;
	signal(&w, "DK1", ENERGY_PRICE_EUR, HOUR, 24, constant, &high);
	signal(&w, "DK2", ENERGY_PRICE_EUR, HOUR, 24, constant, &low);
	finish(&w);
	energy_area_t areas[2];
	energy_area_fill(&areas[0], "DK1", &w.set, T0, &w.policy, NULL);
	energy_area_fill(&areas[1], "DK2", &w.set, T0, &w.policy, NULL);
	energy_input_t in = { .now_ms = T0,
			      .policy = &w.policy,
			      .hosts = w.hosts,
			      .nhosts = w.nhosts,
			      .workloads = w.wl,
			      .nworkloads = w.nwl,
			      .areas = areas,
			      .nareas = 2 };
	_cleanup_(energy_plan_free) energy_plan_t p = { 0 };
	energy_plan_make(&in, &p);
	_cleanup_json_ json_t *j = energy_decision_json(&in, &p.d[0]);
	is_str(flyt_json_str(j, "action", NULL), "move", "action");
	is_str(flyt_json_str(j, "target", NULL), "b", "target");
	is_str(flyt_json_str(j, "code", NULL), "cheaper", "code");
	ok(strstr(flyt_json_str(j, "reason", ""), "DK2 is cheaper"), "reason: %s", flyt_json_str(j, "reason", ""));
	json_t *inputs = json_object_get(j, "inputs");
	ok(json_real_value(json_object_get(
	       json_object_get(json_object_get(json_object_get(inputs, "areas"), "DK1"), "price_eur"), "now")) == 200,
	   "inputs: DK1's price");
	ok(json_is_object(json_object_get(inputs, "settings")) && json_is_object(json_object_get(inputs, "limits")),
	   "inputs: settings and limits");
	json_t *alts = json_object_get(j, "alternatives");
	ok(json_array_size(alts) == 2, "two alternatives");
	is_str(flyt_json_str(json_array_get(alts, 1), "host", NULL), "c", "c last");
	ok(strstr(flyt_json_str(json_array_get(alts, 1), "note", ""), "no electricity area"), "and why: %s",
	   flyt_json_str(json_array_get(alts, 1), "note", ""));
	world_free(&w);
}

int main(void)
{
	T0 = energy_time_from_civil(2024, 1, 10, 0, 0, 0);
	test_greenest_moves_once();
	test_no_flapping();
	test_drain();
	test_stale();
	test_hold_dwell_compat();
	test_limits_hourly();
	test_band();
	test_balance();
	test_json_explains();
	return done();
}
