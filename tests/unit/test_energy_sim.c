/* Unit tests of the simulation, the plots and the Energi Data Service helpers
 * (src/energy/sim.c, plot.c, eds.c): a fleet read from JSON, the cheapest policy
 * over a week of the real DK1/DK2 prices checked against an independent
 * hour-by-hour computation, greenest without a second area, the SVG output, the
 * API's query form, and the pacing (40 requests per 10 s, back-off after
 * failures and HTTP 429) with an injected clock. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "energy/account.h"
#include "energy/eds.h"
#include "energy/parse.h"
#include "energy/plot.h"
#include "energy/sim.h"
#include "energy/time.h"
#include "lib/cleanup.h"
#include "lib/json.h"
#include "lib/util.h"
#include "tap.h"
#include "testutil.h"

static int64_t T(const char *s)
{
	int64_t t = 0;
	energy_time_parse(s, &t, NULL);
	return t;
}

static int load(const char *name, energy_set_t *set)
{
	const char *dir = getenv("FLYT_ENERGY_DATA") ? getenv("FLYT_ENERGY_DATA") : "/work/shared/data/energy";
	_cleanup_free_ char *path = flyt_asprintf("%s/%s", dir, name);
	_cleanup_free_ char *text = NULL;
	size_t len;
	flyt_error_t err = FLYT_ERROR_INIT;
	if (flyt_read_file(path, 64 * 1024 * 1024, &text, &len, &err) < 0 ||
	    energy_parse(text, len, name, set, NULL, &err) < 0) {
		diag("%s", err.msg);
		return -1;
	}
	return 0;
}

static int fleet(const char *json, energy_fleet_t *f)
{
	flyt_error_t err = FLYT_ERROR_INIT;
	_cleanup_json_ json_t *j = json_loads(json, 0, NULL);
	if (energy_fleet_from_json(j, "fleet", f, &err) < 0) {
		diag("fleet: %s", err.msg);
		return -1;
	}
	return 0;
}

static const char *const two_sites =
    "{\"hosts\":["
    "{\"name\":\"dk1\",\"area\":\"DK1\",\"idle_watts\":100,\"max_watts\":300,\"cpus\":4},"
    "{\"name\":\"dk2\",\"area\":\"DK2\",\"idle_watts\":100,\"max_watts\":300,\"cpus\":4}],"
    "\"workloads\":[{\"name\":\"app\",\"host\":\"dk1\",\"cpu_cores\":2}],"
    "\"policy\":{\"policy\":\"cheapest\",\"min_dwell_ms\":0,\"min_gain_abs\":0,"
    "\"min_gain_pct\":0,\"max_per_hour\":100}}";

static void test_cheapest_week(void)
{
	_cleanup_(energy_set_free) energy_set_t set = ENERGY_SET_INIT;
	if (!ok(load("mbml_Elspotprices_DK1_DK2_2021-01_2024-03.csv", &set) == 0, "load the prices"))
		return;
	_cleanup_(energy_fleet_free) energy_fleet_t f = { 0 };
	if (!ok(fleet(two_sites, &f) == 0, "fleet"))
		return;
	energy_sim_opts_t o = { .from_ms = T("2022-05-23"), .to_ms = T("2022-05-30") };
	_cleanup_(energy_sim_result_free) energy_sim_result_t r = { 0 };
	flyt_error_t err = FLYT_ERROR_INIT;
	if (!ok(energy_sim_run(&set, &f, &o, &r, &err) == 0, "runs: %s", err.msg))
		return;
	is_int(r.steps, 7 * 24, "hourly steps for a week");
	ok(r.has_price && !r.has_co2, "prices, no CO2");

	/* with no threshold at all, the policy is in the cheaper area every hour:
	 * compute that independently */
	energy_series_t *dk1 = energy_set_find(&set, "DK1", ENERGY_PRICE_EUR),
			*dk2 = energy_set_find(&set, "DK2", ENERGY_PRICE_EUR);
	double best = 0, stay = 0, watts = energy_power_workload(100, 300, 4, 1, 2);
	size_t switches = 0;
	bool in_dk1 = true;
	for (int64_t t = o.from_ms; t < o.to_ms; t += ENERGY_MS_PER_HOUR) {
		double a = 0, b = 0;
		energy_series_at(dk1, t, &a);
		energy_series_at(dk2, t, &b);
		bool want_dk1 = in_dk1 ? a <= b : a < b; /* ties stay */
		switches += want_dk1 != in_dk1;
		in_dk1 = want_dk1;
		best += energy_cost(watts, ENERGY_MS_PER_HOUR, in_dk1 ? a : b);
		stay += energy_cost(watts, ENERGY_MS_PER_HOUR, a);
	}
	ok(fabs(r.stay.cost - stay) < 1e-9, "cost staying in DK1: %.6f EUR (by hand %.6f)", r.stay.cost, stay);
	ok(fabs(r.policy.cost - best) < 1e-9, "cost following the cheapest area: %.6f EUR (by hand %.6f)",
	   r.policy.cost, best);
	is_int(r.moves, switches, "a move at every change of the cheaper area (%zu)", switches);
	ok(r.policy.cost <= r.stay.cost, "never dearer than staying");

	_cleanup_json_ json_t *j = energy_sim_json(&r, &f, 10);
	static const char *const fields[] = { "moves",	   "flaps", "co2_kg", "co2_kg_stay", "cost",
					      "cost_stay", "areas", "from",   "to",	     NULL };
	bool all = true;
	for (const char *const *k = fields; *k; k++)
		all &= json_object_get(j, *k) != NULL;
	ok(all, "the JSON has every contract field");
	ok(json_is_null(json_object_get(j, "co2_kg")) && json_is_null(json_object_get(j, "co2_kg_stay")),
	   "co2 null without a CO2 signal");
	is_str(flyt_json_str(j, "from", NULL), "2022-05-23T00:00:00Z", "from");
	is_str(flyt_json_str(j, "to", NULL), "2022-05-30T00:00:00Z", "to");
	ok(json_array_size(json_object_get(j, "move_log")) == (r.moves < 10 ? r.moves : 10), "move log capped at 10");

	/* the same with the default thresholds: fewer moves, flaps counted */
	_cleanup_(energy_fleet_free) energy_fleet_t g = { 0 };
	fleet(two_sites, &g);
	energy_policy_defaults(&g.policy);
	g.policy.kind = ENERGY_POLICY_CHEAPEST;
	_cleanup_(energy_sim_result_free) energy_sim_result_t r2 = { 0 };
	ok(energy_sim_run(&set, &g, &o, &r2, &err) == 0, "runs with the defaults");
	ok(r2.moves < r.moves, "hysteresis: %zu moves instead of %zu", r2.moves, r.moves);
	diag("week of 2022-05-23: no thresholds %zu moves, %zu flaps, %.2f of %.2f EUR; defaults %zu moves, %zu flaps, "
	     "%.2f EUR",
	     r.moves, r.flaps, r.policy.cost, r.stay.cost, r2.moves, r2.flaps, r2.policy.cost);

	/* the plots */
	char areas[2][ENERGY_AREA_MAX] = { "DK1", "DK2" };
	energy_plot_t p = { .title = "DK1 & DK2 <test>",
			    .set = &set,
			    .kind = ENERGY_PRICE_EUR,
			    .from_ms = o.from_ms,
			    .to_ms = o.to_ms,
			    .areas = (const char(*)[ENERGY_AREA_MAX])areas,
			    .nareas = 2,
			    .sim = &r,
			    .fleet = &f };
	_cleanup_free_ char *svg = energy_plot_signals_svg(&p);
	ok(flyt_startswith(svg, "<svg ") && strstr(svg, "</svg>"), "signals.svg is an SVG document");
	ok(strstr(svg, "DK1 &amp; DK2 &lt;test&gt;") != NULL, "the title is escaped");
	ok(strstr(svg, ">app</text>") != NULL, "the workload's strip is labelled");
	_cleanup_free_ char *cum = energy_plot_cumulative_svg(&r, &f, "cumulative");
	ok(flyt_startswith(cum, "<svg ") && strstr(cum, "cumulative cost, EUR"), "cumulative.svg has the cost panel");
	_cleanup_free_ char *csv = energy_sim_moves_csv(&r, &f);
	size_t lines = 0;
	for (char *c = csv; *c; c++)
		lines += *c == '\n';
	is_int(lines, r.moves + 1, "moves.csv: a header and a line per move");

	/* three years in the long plot: bounded size */
	energy_plot_t big = p;
	big.from_ms = T("2021-01-01");
	big.to_ms = T("2024-03-31");
	big.sim = NULL;
	_cleanup_free_ char *svg3 = energy_plot_signals_svg(&big);
	ok(strlen(svg3) < 600000, "three years of two hourly series: %zu bytes of SVG", strlen(svg3));
}

static void test_greenest_single_area(void)
{
	_cleanup_(energy_set_free) energy_set_t set = ENERGY_SET_INIT;
	if (!ok(load("stepzi_CO2EmisProg_DK2_2024-01-11.csv", &set) == 0, "load DK2 CO2"))
		return;
	_cleanup_(energy_fleet_free) energy_fleet_t f = { 0 };
	fleet("{\"hosts\":[{\"name\":\"a\",\"area\":\"DK2\"},{\"name\":\"b\",\"area\":\"DK2\"}],"
	      "\"workloads\":[{\"name\":\"w\",\"host\":\"a\"}],\"policy\":{\"policy\":\"greenest\"}}",
	      &f);
	energy_sim_opts_t o = { 0 };
	_cleanup_(energy_sim_result_free) energy_sim_result_t r = { 0 };
	flyt_error_t err = FLYT_ERROR_INIT;
	ok(energy_sim_run(&set, &f, &o, &r, &err) == 0, "runs over the file's span: %s", err.msg);
	is_int(r.step_ms, 5 * ENERGY_MS_PER_MIN, "five-minute steps from the signal");
	is_int(r.steps, 288, "one day");
	is_int(r.moves, 0, "one area: nothing to gain by moving");
	ok(r.has_co2 && fabs(r.policy.co2_g - r.stay.co2_g) < 1e-9, "CO2 equal to staying");
	/* the policy's default power model (100 W idle, 250 W at full load, 8 CPUs),
	 * one core busy, for 24 h at the file's mean intensity */
	double mean = 0;
	int64_t cov = 0;
	energy_series_mean(energy_set_find(&set, "DK2", ENERGY_CO2), r.from_ms, r.to_ms, &mean, &cov);
	double watts = energy_power_workload(100, 250, 8, 1, 1);
	ok(fabs(r.policy.co2_g - watts * 24 / 1000 * mean) < 1e-6, "CO2 = %.1f W x 24 h x %.1f g/kWh = %.1f g", watts,
	   mean, r.policy.co2_g);

	_cleanup_(energy_fleet_free) energy_fleet_t none = { 0 };
	fleet("{\"hosts\":[{\"name\":\"a\",\"area\":\"SE3\"}],\"workloads\":[],\"policy\":{\"policy\":\"greenest\"}}",
	      &none);
	_cleanup_(energy_sim_result_free) energy_sim_result_t r2 = { 0 };
	ok(energy_sim_run(&set, &none, &o, &r2, &err) < 0 && strstr(err.msg, "SE3"), "no signal for the area: %s",
	   err.msg);
}

static void test_fleet_errors(void)
{
	static const char *const bad[] = {
		"[]",
		"{\"hosts\":[]}",
		"{\"hosts\":[],\"workloads\":[]}",
		"{\"hosts\":[{\"name\":\"A!\"}],\"workloads\":[]}",
		"{\"hosts\":[{\"name\":\"a\",\"area\":\"bad area\"}],\"workloads\":[]}",
		"{\"hosts\":[{\"name\":\"a\"}],\"workloads\":[{\"name\":\"w\",\"host\":\"b\"}]}",
		"{\"hosts\":[{\"name\":\"a\",\"idle_watts\":300,\"max_watts\":100}],\"workloads\":[]}",
		"{\"hosts\":[{\"name\":\"a\"},{\"name\":\"a\"}],\"workloads\":[]}",
		"{\"hosts\":[{\"name\":\"a\"}],\"workloads\":[],\"policy\":{\"policy\":\"fastest\"}}",
		"{\"hosts\":[{\"name\":\"a\",\"colour\":\"red\"}],\"workloads\":[]}",
	};
	for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
		_cleanup_json_ json_t *j = json_loads(bad[i], 0, NULL);
		_cleanup_(energy_fleet_free) energy_fleet_t f = { 0 };
		flyt_error_t err = FLYT_ERROR_INIT;
		ok(energy_fleet_from_json(j, "fleet", &f, &err) < 0, "refused: %s (%s)", bad[i], err.msg);
	}
}

static void test_policy_settings(void)
{
	energy_policy_t p;
	energy_policy_defaults(&p);
	flyt_error_t err = FLYT_ERROR_INIT;
	_cleanup_json_ json_t *good = json_pack("{s:s, s:i, s:f, s:s}", "policy", "band", "min_dwell_ms", 600000,
						"band_pct", 7.5, "currency", "DKK");
	ok(energy_policy_update(&p, good, &err) == 0, "valid changes apply: %s", err.msg);
	ok(p.kind == ENERGY_POLICY_BAND && p.min_dwell_ms == 600000 && p.band_pct == 7.5, "applied");
	is_int(energy_policy_signal(&p), ENERGY_PRICE_DKK, "band in DKK uses the DKK price");
	static const char *const bad[] = {
		"{\"policy\":\"fastest\"}",	 "{\"min_gain_pct\":-1}",   "{\"min_dwell_ms\":1.5}",
		"{\"horizon_ms\":999999999999}", "{\"currency\":\"USD\"}",  "{\"max_concurrent\":2.5}",
		"{\"idle_watts\":500}",		 "{\"failure_hold_ms\":0}", "{\"colour\":1}",
		"{\"cpu_high_pct\":\"90\"}",
	};
	for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
		energy_policy_t before = p;
		_cleanup_json_ json_t *j = json_loads(bad[i], 0, NULL);
		ok(energy_policy_update(&p, j, &err) < 0 && memcmp(&before, &p, sizeof(p)) == 0,
		   "refused, nothing changed: %s (%s)", bad[i], err.msg);
	}
	_cleanup_json_ json_t *out = energy_policy_json(&p);
	energy_policy_t q;
	energy_policy_defaults(&q);
	ok(energy_policy_update(&q, out, &err) == 0 && memcmp(&p, &q, sizeof(p)) == 0, "JSON round trip");
}

static void test_eds(void)
{
	const energy_eds_dataset_t *d = energy_eds_dataset("CO2EmisProg");
	ok(d && energy_eds_carries(d, ENERGY_CO2) && !energy_eds_carries(d, ENERGY_PRICE_EUR), "CO2EmisProg: CO2");
	ok(energy_eds_dataset("co2emis") == NULL, "names are case-sensitive");
	static char dk1[] = "DK1", dk2[] = "DK2";
	char *areas[] = { dk1, dk2, NULL };
	_cleanup_free_ char *q = energy_eds_query(d, areas, T("2024-01-10T23:00"), T("2024-01-12T23:00"), 1500);
	is_str(q,
	       "/dataset/CO2EmisProg?start=2024-01-10T23:00&end=2024-01-12T23:00"
	       "&filter=%7B%22PriceArea%22%3A%5B%22DK1%22%2C%22DK2%22%5D%7D&limit=1500&timezone=UTC",
	       "the query form");
	is_int(energy_eds_limit(d, 2, T("2024-01-10"), T("2024-01-11")), (289 * 2) * 6 / 5 + 100,
	       "limit: expected rows with a margin");

	energy_ratelimit_t rl;
	energy_ratelimit_init(&rl, ENERGY_EDS_RATE_MAX, ENERGY_EDS_RATE_WINDOW_MS);
	int allowed = 0;
	for (int i = 0; i < 100; i++)
		allowed += energy_ratelimit_take(&rl, 1000) == 0;
	is_int(allowed, 40, "40 requests in one instant, no more");
	is_int(energy_ratelimit_take(&rl, 5000), 6000, "the 41st must wait until the first leaves the window");
	is_int(energy_ratelimit_take(&rl, 11000), 0, "10 s later: allowed");
	/* a steady stream never exceeds 40 in any 10 s */
	energy_ratelimit_init(&rl, ENERGY_EDS_RATE_MAX, ENERGY_EDS_RATE_WINDOW_MS);
	int64_t times[400];
	int n = 0;
	for (int64_t t = 0; t < 60000 && n < 400; t += 50)
		if (energy_ratelimit_take(&rl, t) == 0)
			times[n++] = t;
	int worst = 0;
	for (int i = 0; i < n; i++) {
		int in = 0;
		for (int k = i; k < n && times[k] < times[i] + 10000; k++)
			in++;
		worst = in > worst ? in : worst;
	}
	is_int(worst, 40, "a request every 50 ms for a minute: at most 40 in any 10 s window (%d granted)", n);

	energy_backoff_t b = { 0 };
	is_int(energy_backoff_fail(&b, 0, 1000, 60000, -1), 1000, "first failure: 1 s");
	is_int(energy_backoff_fail(&b, 0, 1000, 60000, -1), 2000, "then 2 s");
	is_int(energy_backoff_fail(&b, 0, 1000, 60000, -1), 4000, "then 4 s");
	ok(!energy_backoff_ready(&b, 3999) && energy_backoff_ready(&b, 4000), "not before");
	is_int(energy_backoff_fail(&b, 0, 1000, 60000, 30000), 30000, "a longer Retry-After wins");
	for (int i = 0; i < 10; i++)
		energy_backoff_fail(&b, 0, 1000, 60000, -1);
	is_int(energy_backoff_fail(&b, 0, 1000, 60000, -1), 60000, "capped at the maximum");
	is_int(energy_backoff_fail(&b, 0, 1000, 60000, 999999999), ENERGY_MS_PER_HOUR, "Retry-After capped at 1 h");
	energy_backoff_ok(&b);
	is_int(energy_backoff_fail(&b, 0, 1000, 60000, -1), 1000, "after a success: from the start");
}

int main(void)
{
	test_cheapest_week();
	test_greenest_single_area();
	test_fleet_errors();
	test_policy_settings();
	test_eds();
	return done();
}
