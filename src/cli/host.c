/* flyt host ls|show|add|rm: the hosts the controller knows. */
#include <string.h>

#include "cli/cli.h"
#include "lib/cleanup.h"
#include "lib/json.h"
#include "lib/util.h"

static const flyt_opt_t no_opts[] = { { NULL } };

int host_ls(cli_t *cli, const cli_command_t *cmd, int argc, char **argv, flyt_error_t *err)
{
	int npos, r = commands_parse(cli, cmd, no_opts, argc, argv, 0, 0, &npos, err);
	if (r != 0)
		return r;
	_cleanup_json_ json_t *ans = NULL;
	json_t *hosts;
	if (client_call(cli, "GET", "/api/v1/hosts", NULL, &ans, err) < 0 || client_list(ans, "hosts", &hosts, err) < 0)
		return -1;
	if (cli->json) {
		output_json(ans);
		return 0;
	}
	static const char *const headers[] = { "NAME", "STATE", "URL", "CRIU", "LOAD", "WORKLOADS", "AREA" };
	_cleanup_(output_table_free) output_table_t t = { 0 };
	output_table_init(&t, ELEMENTSOF(headers), headers);
	size_t i;
	json_t *h;
	json_array_foreach (hosts, i, h) {
		char load[OUTPUT_FIELD_MAX], workloads[OUTPUT_FIELD_MAX];
		/* the one-minute load average */
		json_t *l = json_array_get(json_object_get(h, "load"), 0);
		if (json_is_number(l))
			snprintf(load, sizeof(load), "%.2f", json_number_value(l));
		else
			snprintf(load, sizeof(load), "-");
		output_scalar(json_object_get(h, "workloads"), workloads, sizeof(workloads));
		const char *row[] = { flyt_json_str(h, "name", "-"),
				      flyt_json_str(h, "state", "-"),
				      flyt_json_str(h, "url", "-"),
				      flyt_json_str(h, "criu", "-"),
				      load,
				      workloads,
				      flyt_json_str(h, "area", "-") };
		output_table_add(&t, row);
	}
	output_table_print(&t, stdout);
	return 0;
}

int host_show(cli_t *cli, const cli_command_t *cmd, int argc, char **argv, flyt_error_t *err)
{
	int npos, r = commands_parse(cli, cmd, no_opts, argc, argv, 1, 1, &npos, err);
	if (r != 0)
		return r;
	_cleanup_free_ char *path = client_path("hosts", argv[0], NULL);
	return client_show(cli, "GET", path, NULL, err);
}

int host_add(cli_t *cli, const cli_command_t *cmd, int argc, char **argv, flyt_error_t *err)
{
	int npos, r = commands_parse(cli, cmd, no_opts, argc, argv, 1, 1, &npos, err);
	if (r != 0)
		return r;
	_cleanup_json_ json_t *body = json_pack("{s:s}", "url", argv[0]);
	_cleanup_json_ json_t *ans = NULL;
	if (client_call(cli, "POST", "/api/v1/hosts", body, &ans, err) < 0)
		return -1;
	if (cli->json)
		output_json(ans);
	else
		printf("added host %s (%s, %s)\n", flyt_json_str(ans, "name", "?"), flyt_json_str(ans, "url", argv[0]),
		       flyt_json_str(ans, "state", "unknown state"));
	return 0;
}

int host_rm(cli_t *cli, const cli_command_t *cmd, int argc, char **argv, flyt_error_t *err)
{
	int npos, r = commands_parse(cli, cmd, no_opts, argc, argv, 1, 1, &npos, err);
	if (r != 0)
		return r;
	_cleanup_free_ char *path = client_path("hosts", argv[0], NULL);
	_cleanup_free_ char *done = flyt_asprintf("removed host %s", argv[0]);
	return client_delete(cli, path, done, err);
}
