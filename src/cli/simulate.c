/* flyt simulate: replays signal files (any format parse.h reads) over a period
 * for a described fleet (--fleet FILE) or the controller's current inventory,
 * runs the policy engine at every step as the controller would (src/energy/sim.c),
 * and reports moves, flaps, CO2 and cost against staying put; with --out DIR it
 * also writes result.json, moves.csv, signals.svg and cumulative.svg there.
 * Everything but the inventory is computed locally: no controller is needed
 * with --fleet. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "energy/parse.h"
#include "energy/plot.h"
#include "energy/sim.h"
#include "energy/time.h"
#include "lib/cleanup.h"
#include "lib/json.h"
#include "lib/util.h"

#define FLEET_MAX_BYTES (4u * 1024 * 1024)

/* The controller's hosts and workloads as a fleet description. */
static int inventory_fleet(cli_t *cli, json_t **ret, flyt_error_t *err)
{
	_cleanup_json_ json_t *hans = NULL, *wans = NULL;
	json_t *hosts, *workloads;
	if (client_call(cli, "GET", "/api/v1/hosts", NULL, &hans, err) < 0 ||
	    client_list(hans, "hosts", &hosts, err) < 0 ||
	    client_call(cli, "GET", "/api/v1/workloads", NULL, &wans, err) < 0 ||
	    client_list(wans, "workloads", &workloads, err) < 0)
		return flyt_error_prefix(err, "reading the inventory (or give --fleet FILE)");
	json_t *fh = json_array(), *fw = json_array();
	size_t i;
	json_t *h, *w;
	json_array_foreach (hosts, i, h) {
		json_t *o = json_pack("{s:O}", "name", json_object_get(h, "name"));
		json_t *area = json_object_get(h, "area");
		if (json_is_string(area))
			json_object_set(o, "area", area);
		json_t *power = json_object_get(h, "power");
		if (json_is_number(json_object_get(power, "idle_watts")))
			json_object_set(o, "idle_watts", json_object_get(power, "idle_watts"));
		if (json_is_number(json_object_get(power, "max_watts")))
			json_object_set(o, "max_watts", json_object_get(power, "max_watts"));
		if (json_is_integer(json_object_get(h, "cpus")))
			json_object_set(o, "cpus", json_object_get(h, "cpus"));
		json_object_set_new(o, "drain", json_boolean(json_is_true(json_object_get(h, "drain"))));
		json_array_append_new(fh, o);
	}
	json_array_foreach (workloads, i, w) {
		json_t *o = json_pack("{s:O, s:O, s:O, s:b}", "name", json_object_get(w, "name"), "host",
				      json_object_get(w, "host"), "kind", json_object_get(w, "kind"), "auto_migrate",
				      json_is_true(json_object_get(w, "auto_migrate")));
		json_t *cpu = json_object_get(w, "cpu_percent");
		if (json_is_number(cpu) && json_number_value(cpu) >= 0)
			json_object_set_new(o, "cpu_cores", json_real(json_number_value(cpu) / 100.0));
		json_array_append_new(fw, o);
	}
	*ret = json_pack("{s:o, s:o}", "hosts", fh, "workloads", fw);
	return 0;
}

/* KEY=VALUE of --set into changes (see cli_setting_value). */
static int setting(const cli_command_t *cmd, const char *kv, json_t *changes, flyt_error_t *err)
{
	const char *eq = strchr(kv, '=');
	if (!eq || eq == kv)
		return commands_usage_error(cmd, err, "--set wants KEY=VALUE, not \"%.64s\"", kv);
	_cleanup_free_ char *key = flyt_strdup(kv);
	key[eq - kv] = '\0';
	json_object_set_new(changes, key, cli_setting_value(key, eq + 1));
	return 0;
}

static int write_out(const char *dir, const char *name, const char *text, flyt_error_t *err)
{
	_cleanup_free_ char *path = flyt_asprintf("%s/%s", dir, name);
	return flyt_write_file_atomic(path, text, strlen(text), 0644, err);
}

static void print_summary(const energy_sim_result_t *r, json_t *j, const char *dir)
{
	printf("period: %s .. %s, %zu steps of %lld min\n", flyt_json_str(j, "from", "?"), flyt_json_str(j, "to", "?"),
	       r->steps, (long long)(r->step_ms / ENERGY_MS_PER_MIN));
	printf("areas: ");
	for (size_t i = 0; i < r->nareas; i++)
		printf("%s%s", i ? ", " : "", r->areas[i]);
	printf("\nmoves: %zu (flaps: %zu, blocked decisions: %zu)\n", r->moves, r->flaps, r->blocked);
	printf("energy of the workloads: %.1f kWh\n", r->policy.kwh);
	if (r->has_price) {
		double save = r->stay.cost - r->policy.cost;
		printf("cost: %.2f %s with the policy, %.2f staying put (saving %.2f, %.1f%%)\n", r->policy.cost,
		       flyt_json_str(j, "currency", "?"), r->stay.cost, save,
		       r->stay.cost != 0 ? 100 * save / fabs(r->stay.cost) : 0.0);
	} else {
		printf("cost: no price signal\n");
	}
	if (r->has_co2) {
		double save = (r->stay.co2_g - r->policy.co2_g) / 1000;
		printf("CO2: %.2f kg with the policy, %.2f kg staying put (saving %.2f kg, %.1f%%)\n",
		       r->policy.co2_g / 1000, r->stay.co2_g / 1000, save,
		       r->stay.co2_g > 0 ? 100 * save * 1000 / r->stay.co2_g : 0.0);
	} else {
		printf("CO2: no CO2 signal\n");
	}
	if (dir)
		printf("written to %s: result.json, moves.csv, signals.svg, cumulative.svg\n", dir);
}

int simulate_run(cli_t *cli, const cli_command_t *cmd, int argc, char **argv, flyt_error_t *err)
{
	_cleanup_strv_ char **signals = NULL, **sets = NULL;
	_cleanup_free_ char *from = NULL, *to = NULL, *policy = NULL, *fleet_file = NULL, *out = NULL, *step = NULL;
	const flyt_opt_t opts[] = {
		{ "signals", 0, FLYT_OPT_LIST, &signals, "FILE",
		  "a signal file: CSV download or JSON answer of the Energi Data Service (repeatable, required)" },
		{ "from", 0, FLYT_OPT_STRING, &from, "T",
		  "start, UTC (2021-01-01 or 2021-01-01T06:00Z; default: data start)" },
		{ "to", 0, FLYT_OPT_STRING, &to, "T", "end, exclusive (default: data end)" },
		{ "policy", 0, FLYT_OPT_STRING, &policy, "P", "greenest, cheapest, band (or balance, none)" },
		{ "fleet", 0, FLYT_OPT_STRING, &fleet_file, "FILE",
		  "fleet description (default: the controller's inventory)" },
		{ "set", 0, FLYT_OPT_LIST, &sets, "KEY=VALUE",
		  "a policy setting, as in 'flyt policy set' (repeatable)" },
		{ "step", 0, FLYT_OPT_STRING, &step, "DURATION",
		  "time between policy runs (default: the signal's step)" },
		{ "out", 0, FLYT_OPT_STRING, &out, "DIR", "write result.json, moves.csv and the SVG plots there" },
		{ NULL },
	};
	int npos, r = commands_parse(cli, cmd, opts, argc, argv, 0, 0, &npos, err);
	if (r != 0)
		return r;
	if (!signals)
		return commands_usage_error(cmd, err, "--signals FILE is required");
	if (!policy)
		return commands_usage_error(cmd, err, "--policy is required");
	energy_sim_opts_t o = { 0 };
	if (from && energy_time_parse(from, &o.from_ms, err) < 0)
		return commands_usage_error(cmd, err, "--from: %s", err->msg);
	if (to && energy_time_parse(to, &o.to_ms, err) < 0)
		return commands_usage_error(cmd, err, "--to: %s", err->msg);
	if (from && to && o.to_ms <= o.from_ms)
		return commands_usage_error(cmd, err, "--to must be after --from");
	if (step && (energy_duration_parse(step, &o.step_ms, err) < 0 || o.step_ms < ENERGY_MS_PER_MIN))
		return commands_usage_error(cmd, err, "--step must be a duration of at least 1m");

	/* the signals, every file in whatever format it is */
	_cleanup_(energy_set_free) energy_set_t set = ENERGY_SET_INIT;
	for (char **f = signals; *f; f++) {
		_cleanup_free_ char *text = NULL;
		size_t len = 0;
		if (flyt_read_file(*f, ENERGY_PARSE_MAX_BYTES, &text, &len, err) < 0)
			return -1;
		_cleanup_free_ char *what = flyt_asprintf("%s", *f);
		_cleanup_(energy_set_free) energy_set_t one = ENERGY_SET_INIT;
		if (energy_parse(text, len, what, &one, NULL, err) < 0)
			return -1;
		energy_set_merge(&set, &one);
	}

	/* the fleet */
	_cleanup_json_ json_t *fj = NULL;
	if (fleet_file) {
		_cleanup_free_ char *text = NULL;
		size_t len = 0;
		if (flyt_read_file(fleet_file, FLEET_MAX_BYTES, &text, &len, err) < 0)
			return -1;
		json_error_t je;
		fj = json_loadb(text, len, 0, &je);
		if (!fj)
			return flyt_error_set(err, FLYT_E_INVALID, 0, "%s: line %d: %s", fleet_file, je.line, je.text);
	} else if (inventory_fleet(cli, &fj, err) < 0) {
		return -1;
	}
	_cleanup_(energy_fleet_free) energy_fleet_t fleet = { 0 };
	if (energy_fleet_from_json(fj, fleet_file ? fleet_file : "the inventory", &fleet, err) < 0)
		return -1;
	if (!fleet.has_policy)
		energy_policy_defaults(&fleet.policy);
	_cleanup_json_ json_t *changes = json_pack("{s:s}", "policy", policy);
	for (char **s = sets; s && *s; s++)
		if ((r = setting(cmd, *s, changes, err)) != 0)
			return r;
	if (energy_policy_update(&fleet.policy, changes, err) < 0)
		return commands_usage_error(cmd, err, "%s", err->msg);

	_cleanup_(energy_sim_result_free) energy_sim_result_t res = { 0 };
	if (energy_sim_run(&set, &fleet, &o, &res, err) < 0)
		return -1;
	_cleanup_json_ json_t *j = energy_sim_json(&res, &fleet, out ? 100000 : 50);

	if (out) {
		if (flyt_mkdir_p(out, 0755, err) < 0)
			return -1;
		_cleanup_free_ char *js = json_dumps(j, JSON_INDENT(2) | JSON_REAL_PRECISION(10));
		_cleanup_free_ char *csv = energy_sim_moves_csv(&res, &fleet);
		energy_kind_t k = energy_policy_signal(&fleet.policy);
		if (k == ENERGY_KIND_INVALID)
			k = res.has_price ? res.price_kind : ENERGY_CO2;
		_cleanup_free_ char *title =
		    flyt_asprintf("%s (%s), policy %s", energy_kind_name(k), energy_kind_unit(k),
				  energy_policy_kind_name(fleet.policy.kind));
		energy_plot_t p = {
			.title = title,
			.set = &set,
			.kind = k,
			.from_ms = res.from_ms,
			.to_ms = res.to_ms,
			.areas = (const char(*)[ENERGY_AREA_MAX])res.areas,
			.nareas = res.nareas,
			.sim = &res,
			.fleet = &fleet,
		};
		_cleanup_free_ char *svg = energy_plot_signals_svg(&p);
		_cleanup_free_ char *cum =
		    energy_plot_cumulative_svg(&res, &fleet, "cumulative, policy against staying put");
		if (write_out(out, "result.json", js, err) < 0 || write_out(out, "moves.csv", csv, err) < 0 ||
		    write_out(out, "signals.svg", svg, err) < 0 || write_out(out, "cumulative.svg", cum, err) < 0)
			return -1;
	}
	if (cli->json)
		output_json(j);
	else
		print_summary(&res, j, out);
	return 0;
}
