/* flyt host set, workload set, policy show|set, plan, decision ls|show, signals,
 * energy: the energy-aware placement through the controller's API (docs/api.md). */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "energy/time.h"
#include "lib/cleanup.h"
#include "lib/json.h"
#include "lib/util.h"

static const flyt_opt_t no_opts[] = { { NULL } };

json_t *cli_setting_value(const char *key, const char *text)
{
	size_t n = strlen(key);
	int64_t ms;
	if (n > 3 && strcmp(key + n - 3, "_ms") == 0 && energy_duration_parse(text, &ms, NULL) == 0)
		return json_integer(ms);
	json_t *v = json_loads(text, JSON_DECODE_ANY, NULL);
	if (!v || json_is_object(v) || json_is_array(v)) {
		json_decref(v);
		v = json_string(text);
	}
	return v;
}

/* A number or "default" (null) for --idle-watts / --max-watts. */
static int watts(const cli_command_t *cmd, const char *opt, const char *v, json_t *body, flyt_error_t *err)
{
	if (!v)
		return 0;
	if (strcmp(v, "default") == 0) {
		json_object_set_new(body, opt, json_null());
		return 0;
	}
	char *end = NULL;
	double w = strtod(v, &end);
	if (!end || *end || !(w >= 0 && w <= 1e6))
		return commands_usage_error(cmd, err, "--%s wants watts (0-1000000) or \"default\"", opt);
	json_object_set_new(body, opt, json_real(w));
	return 0;
}

int host_set(cli_t *cli, const cli_command_t *cmd, int argc, char **argv, flyt_error_t *err)
{
	_cleanup_free_ char *area = NULL, *idle = NULL, *max = NULL;
	bool drain = false, undrain = false;
	const flyt_opt_t opts[] = {
		{ "area", 0, FLYT_OPT_STRING, &area, "AREA",
		  "its electricity area (DK1, DK2, SE3, ...; \"none\" to unset)" },
		{ "idle-watts", 0, FLYT_OPT_STRING, &idle, "W", "its power when idle (\"default\": the policy's)" },
		{ "max-watts", 0, FLYT_OPT_STRING, &max, "W",
		  "its power with every CPU busy (\"default\": the policy's)" },
		{ "drain", 0, FLYT_OPT_FLAG, &drain, NULL, "move every workload off it, live, and place none there" },
		{ "undrain", 0, FLYT_OPT_FLAG, &undrain, NULL, "end a drain" },
		{ NULL },
	};
	int npos, r = commands_parse(cli, cmd, opts, argc, argv, 1, 1, &npos, err);
	if (r != 0)
		return r;
	if (drain && undrain)
		return commands_usage_error(cmd, err, "--drain and --undrain exclude each other");
	_cleanup_json_ json_t *body = json_object();
	if (area)
		json_object_set_new(body, "area", strcmp(area, "none") == 0 ? json_null() : json_string(area));
	if ((r = watts(cmd, "idle_watts", idle, body, err)) != 0 || (r = watts(cmd, "max_watts", max, body, err)) != 0)
		return r;
	if (drain || undrain)
		json_object_set_new(body, "drain", json_boolean(drain));
	if (json_object_size(body) == 0)
		return commands_usage_error(cmd, err, "nothing to set");
	_cleanup_free_ char *path = client_path("hosts", argv[0], NULL);
	_cleanup_json_ json_t *ans = NULL;
	if (client_call(cli, "PATCH", path, body, &ans, err) < 0)
		return -1;
	if (cli->json) {
		output_json(ans);
		return 0;
	}
	char iw[32], mw[32];
	output_scalar(json_object_get(json_object_get(ans, "power"), "idle_watts"), iw, sizeof(iw));
	output_scalar(json_object_get(json_object_get(ans, "power"), "max_watts"), mw, sizeof(mw));
	printf("host %s: area %s, idle %s W, max %s W%s\n", flyt_json_str(ans, "name", argv[0]),
	       flyt_json_str(ans, "area", "-"), iw, mw,
	       json_is_true(json_object_get(ans, "drain")) ? ", draining" : "");
	return 0;
}

int workload_set(cli_t *cli, const cli_command_t *cmd, int argc, char **argv, flyt_error_t *err)
{
	_cleanup_free_ char *am = NULL;
	const flyt_opt_t opts[] = {
		{ "auto-migrate", 0, FLYT_OPT_STRING, &am, "on|off", "let the policy move it" },
		{ NULL },
	};
	int npos, r = commands_parse(cli, cmd, opts, argc, argv, 1, 1, &npos, err);
	if (r != 0)
		return r;
	if (!am || (strcmp(am, "on") != 0 && strcmp(am, "off") != 0))
		return commands_usage_error(cmd, err, "--auto-migrate on|off is required");
	_cleanup_json_ json_t *body = json_pack("{s:b}", "auto_migrate", strcmp(am, "on") == 0);
	_cleanup_free_ char *path = client_path("workloads", argv[0], NULL);
	_cleanup_json_ json_t *ans = NULL;
	if (client_call(cli, "PATCH", path, body, &ans, err) < 0)
		return -1;
	if (cli->json)
		output_json(ans);
	else
		printf("workload %s: auto-migrate %s\n", argv[0],
		       json_is_true(json_object_get(ans, "auto_migrate")) ? "on" : "off");
	return 0;
}

int policy_show(cli_t *cli, const cli_command_t *cmd, int argc, char **argv, flyt_error_t *err)
{
	int npos, r = commands_parse(cli, cmd, no_opts, argc, argv, 0, 0, &npos, err);
	if (r != 0)
		return r;
	return client_show(cli, "GET", "/api/v1/policy", NULL, err);
}

int policy_set(cli_t *cli, const cli_command_t *cmd, int argc, char **argv, flyt_error_t *err)
{
	int npos, r = commands_parse(cli, cmd, no_opts, argc, argv, 1, -1, &npos, err);
	if (r != 0)
		return r;
	_cleanup_json_ json_t *body = json_object();
	for (int i = 0; i < npos; i++) {
		const char *eq = strchr(argv[i], '=');
		if (!eq || eq == argv[i])
			return commands_usage_error(cmd, err, "wants KEY=VALUE, not \"%.64s\"", argv[i]);
		_cleanup_free_ char *key = flyt_strdup(argv[i]);
		key[eq - argv[i]] = '\0';
		json_object_set_new(body, key, cli_setting_value(key, eq + 1));
	}
	return client_show(cli, "PATCH", "/api/v1/policy", body, err);
}

static void print_decision(json_t *d, bool verbose)
{
	const char *target = flyt_json_str(d, "target", NULL);
	printf("%-16s %-8s %-8s %-8s %s\n", flyt_json_str(d, "workload", "-"), flyt_json_str(d, "host", "-"),
	       flyt_json_str(d, "action", "-"), target ? target : "-", flyt_json_str(d, "reason", ""));
	if (!verbose)
		return;
	json_t *alts = json_object_get(d, "alternatives");
	size_t i;
	json_t *a;
	json_array_foreach (alts, i, a) {
		char v[32];
		output_scalar(json_object_get(a, "value"), v, sizeof(v));
		printf("    %-12s %-6s value %-10s %s\n", flyt_json_str(a, "host", "-"), flyt_json_str(a, "area", "-"),
		       v, flyt_json_str(a, "note", ""));
	}
}

int plan_show(cli_t *cli, const cli_command_t *cmd, int argc, char **argv, flyt_error_t *err)
{
	bool all = false, verbose = false;
	_cleanup_free_ char *workload = NULL;
	const flyt_opt_t opts[] = {
		{ "all", 0, FLYT_OPT_FLAG, &all, NULL, "also the workloads whose auto-migrate is off" },
		{ "workload", 0, FLYT_OPT_STRING, &workload, "W", "only this workload" },
		{ "verbose", 'v', FLYT_OPT_FLAG, &verbose, NULL, "the alternatives weighed, per workload" },
		{ NULL },
	};
	int npos, r = commands_parse(cli, cmd, opts, argc, argv, 0, 0, &npos, err);
	if (r != 0)
		return r;
	_cleanup_free_ char *path = flyt_strdup("/api/v1/plan");
	client_query(&path, "all", all ? "true" : NULL);
	client_query(&path, "workload", workload);
	_cleanup_json_ json_t *ans = NULL;
	json_t *list;
	if (client_call(cli, "GET", path, NULL, &ans, err) < 0 || client_list(ans, "decisions", &list, err) < 0)
		return -1;
	if (cli->json) {
		output_json(ans);
		return 0;
	}
	printf("policy %s at %s: %lld move(s), %lld blocked\n", flyt_json_str(ans, "policy", "?"),
	       flyt_json_str(ans, "time", "?"), (long long)flyt_json_int(ans, "moves", 0),
	       (long long)flyt_json_int(ans, "blocked", 0));
	printf("%-16s %-8s %-8s %-8s %s\n", "WORKLOAD", "HOST", "ACTION", "TARGET", "REASON");
	size_t i;
	json_t *d;
	json_array_foreach (list, i, d)
		print_decision(d, verbose);
	return 0;
}

int decision_ls(cli_t *cli, const cli_command_t *cmd, int argc, char **argv, flyt_error_t *err)
{
	_cleanup_free_ char *workload = NULL, *action = NULL;
	int64_t limit = 50;
	const flyt_opt_t opts[] = {
		{ "workload", 0, FLYT_OPT_STRING, &workload, "W", "only this workload's" },
		{ "action", 0, FLYT_OPT_STRING, &action, "A", "only moves, stays or blocked ones (move|stay|blocked)" },
		{ "limit", 0, FLYT_OPT_INT, &limit, "N", "at most N (default 50)", 1, 10000 },
		{ NULL },
	};
	int npos, r = commands_parse(cli, cmd, opts, argc, argv, 0, 0, &npos, err);
	if (r != 0)
		return r;
	_cleanup_free_ char *path = flyt_asprintf("/api/v1/decisions?limit=%lld", (long long)limit);
	client_query(&path, "workload", workload);
	client_query(&path, "action", action);
	_cleanup_json_ json_t *ans = NULL;
	json_t *list;
	if (client_call(cli, "GET", path, NULL, &ans, err) < 0 || client_list(ans, "decisions", &list, err) < 0)
		return -1;
	if (cli->json) {
		output_json(ans);
		return 0;
	}
	printf("%-32s %-20s %-16s %-8s %-8s %-8s %s\n", "ID", "POLICY TIME", "WORKLOAD", "HOST", "ACTION", "TARGET",
	       "REASON");
	size_t i;
	json_t *d;
	json_array_foreach (list, i, d)
		printf("%-32s %-20s %-16s %-8s %-8s %-8s %s\n", flyt_json_str(d, "id", "-"),
		       flyt_json_str(d, "policy_time", "-"), flyt_json_str(d, "workload", "-"),
		       flyt_json_str(d, "host", "-"), flyt_json_str(d, "action", "-"), flyt_json_str(d, "target", "-"),
		       flyt_json_str(d, "reason", ""));
	return 0;
}

int decision_show(cli_t *cli, const cli_command_t *cmd, int argc, char **argv, flyt_error_t *err)
{
	int npos, r = commands_parse(cli, cmd, no_opts, argc, argv, 1, 1, &npos, err);
	if (r != 0)
		return r;
	_cleanup_free_ char *path = client_path("decisions", argv[0], NULL);
	_cleanup_json_ json_t *ans = NULL;
	if (client_call(cli, "GET", path, NULL, &ans, err) < 0)
		return -1;
	/* the detail (inputs, alternatives) is nested: JSON reads best */
	output_json(ans);
	return 0;
}

int signals_show(cli_t *cli, const cli_command_t *cmd, int argc, char **argv, flyt_error_t *err)
{
	int npos, r = commands_parse(cli, cmd, no_opts, argc, argv, 0, 0, &npos, err);
	if (r != 0)
		return r;
	_cleanup_json_ json_t *ans = NULL;
	if (client_call(cli, "GET", "/api/v1/signals", NULL, &ans, err) < 0)
		return -1;
	if (cli->json) {
		output_json(ans);
		return 0;
	}
	printf("policy time %s\n", flyt_json_str(ans, "time", "?"));
	size_t i;
	json_t *s;
	json_array_foreach (json_object_get(ans, "sources"), i, s) {
		if (strcmp(flyt_json_str(s, "type", ""), "file") == 0)
			printf("source file %s: %s, %s .. %s\n", flyt_json_str(s, "path", "?"),
			       flyt_json_str(s, "dataset", "?"), flyt_json_str(s, "from", "?"),
			       flyt_json_str(s, "to", "?"));
		else
			printf("source api %s: %s%s%s\n", flyt_json_str(s, "dataset", "?"),
			       flyt_json_str(s, "state", "?"), json_is_string(json_object_get(s, "why")) ? ": " : "",
			       flyt_json_str(s, "why", ""));
	}
	printf("%-8s %-10s %-6s %12s %s\n", "AREA", "SIGNAL", "FRESH", "NOW", "UNIT");
	const char *area;
	json_t *a;
	json_object_foreach (json_object_get(ans, "areas"), area, a) {
		const char *kind;
		json_t *k;
		json_object_foreach (a, kind, k) {
			if (!json_is_object(k))
				continue;
			char v[32];
			output_scalar(json_object_get(k, "value"), v, sizeof(v));
			printf("%-8s %-10s %-6s %12s %s\n", area, kind,
			       json_is_true(json_object_get(k, "fresh")) ? "yes" : "no", v,
			       flyt_json_str(k, "unit", ""));
		}
	}
	return 0;
}

int energy_show(cli_t *cli, const cli_command_t *cmd, int argc, char **argv, flyt_error_t *err)
{
	int npos, r = commands_parse(cli, cmd, no_opts, argc, argv, 0, 0, &npos, err);
	if (r != 0)
		return r;
	_cleanup_json_ json_t *ans = NULL;
	if (client_call(cli, "GET", "/api/v1/energy", NULL, &ans, err) < 0)
		return -1;
	if (cli->json) {
		output_json(ans);
		return 0;
	}
	static const char *const scopes[] = { "host", "workload" };
	printf("%-9s %-16s %9s %12s %10s %10s\n", "SCOPE", "NAME", "POWER W", "ENERGY Wh", "CO2 g", "COST");
	for (size_t s = 0; s < ELEMENTSOF(scopes); s++) {
		json_t *power = json_object_get(json_object_get(ans, "power_w"), scopes[s]);
		const char *name;
		json_t *t;
		json_object_foreach (json_object_get(ans, scopes[s]), name, t) {
			json_t *p = json_object_get(power, name);
			printf("%-9s %-16s %9.1f %12.3f %10.3f %10.5f\n", scopes[s], name,
			       json_is_number(p) ? json_number_value(p) : 0.0,
			       json_number_value(json_object_get(t, "energy_wh")),
			       json_number_value(json_object_get(t, "co2_g")),
			       json_number_value(json_object_get(t, "cost")));
		}
	}
	return 0;
}
