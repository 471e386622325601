/* flyt workload create|ls|show|stop|start|rm|logs: the workloads of the cluster. */
#include <errno.h>
#include <string.h>

#include "cli/cli.h"
#include "lib/cleanup.h"
#include "lib/json.h"
#include "lib/util.h"

/* --spec-json is a request field, so it is bounded like a request body. */
#define WORKLOAD_SPEC_MAX (1024 * 1024)

static const flyt_opt_t no_opts[] = { { NULL } };

/* The spec of a new workload from the command line: --spec-json as given, or
 * {"cmd", "env", "cwd"} of a process from the command after "--", --env and --cwd.
 * Returns CLI_USAGE when they do not fit together. */
static int workload_spec(const cli_command_t *cmd, const char *kind, const char *spec_json, char **cmdv, int cmdc,
			 char **env, const char *cwd, json_t **ret, flyt_error_t *err)
{
	if (spec_json) {
		if (cmdc > 0 || env || cwd)
			return commands_usage_error(cmd, err, "--spec-json replaces the command, --env and --cwd");
		if (flyt_json_parse_object(spec_json, strlen(spec_json), WORKLOAD_SPEC_MAX, ret, err) < 0) {
			char msg[FLYT_ERROR_MSG_MAX];
			memcpy(msg, err->msg, sizeof(msg));
			return commands_usage_error(cmd, err, "--spec-json: %s", msg);
		}
		return 0;
	}
	if (strcmp(kind, "process") == 0 && cmdc == 0)
		return commands_usage_error(cmd, err, "a process needs a command: -- CMD [ARG...]");
	for (char **e = env; e && *e; e++)
		if (!strchr(*e, '=') || **e == '=')
			return commands_usage_error(cmd, err, "--env %s: expected NAME=VALUE", *e);

	_cleanup_json_ json_t *spec = json_object();
	if (cmdc > 0) {
		json_t *a = json_array();
		for (int i = 0; i < cmdc; i++)
			json_array_append_new(a, json_string(cmdv[i]));
		json_object_set_new(spec, "cmd", a);
	}
	if (env) {
		json_t *a = json_array();
		for (char **e = env; *e; e++)
			json_array_append_new(a, json_string(*e));
		json_object_set_new(spec, "env", a);
	}
	if (cwd)
		json_object_set_new(spec, "cwd", json_string(cwd));
	*ret = TAKE_PTR(spec);
	return 0;
}

/* The options of a VM (--kind qemu) on the command line. */
typedef struct {
	int64_t memory, cpus;
	char *kernel, *initrd, *append, *machine, *cpu_model;
	char **disks;
} vm_opts_t;

static bool vm_opts_given(const vm_opts_t *v)
{
	return v->memory >= 0 || v->cpus >= 0 || v->kernel || v->initrd || v->append || v->machine || v->cpu_model ||
	       v->disks;
}

/* {"memory_mib", "cpus", "kernel", ..., "disks": [{"path", "format"}]} from the VM
 * options; a disk is PATH or PATH:FORMAT (raw or qcow2, default: from its name). */
static int vm_spec(const cli_command_t *cmd, const vm_opts_t *v, json_t **ret, flyt_error_t *err)
{
	if (v->memory < 0)
		return commands_usage_error(cmd, err, "a VM needs --memory MIB");
	if (!v->kernel && !v->disks)
		return commands_usage_error(cmd, err, "a VM needs --kernel FILE or --disk FILE");
	_cleanup_json_ json_t *spec = json_pack("{s:I}", "memory_mib", (json_int_t)v->memory);
	if (v->cpus >= 0)
		json_object_set_new(spec, "cpus", json_integer(v->cpus));
	const char *keys[] = { "kernel", "initrd", "append", "machine", "cpu_model" };
	const char *vals[] = { v->kernel, v->initrd, v->append, v->machine, v->cpu_model };
	for (size_t i = 0; i < ELEMENTSOF(keys); i++)
		if (vals[i])
			json_object_set_new(spec, keys[i], json_string(vals[i]));
	if (v->disks) {
		json_t *a = json_array();
		for (char **d = v->disks; *d; d++) {
			_cleanup_free_ char *path = flyt_strdup(*d);
			char *colon = strrchr(path, ':');
			size_t n = strlen(path);
			const char *format = n > 6 && strcmp(path + n - 6, ".qcow2") == 0 ? "qcow2" : "raw";
			if (colon && (strcmp(colon + 1, "raw") == 0 || strcmp(colon + 1, "qcow2") == 0)) {
				*colon = '\0';
				format = colon + 1;
			}
			json_array_append_new(a, json_pack("{s:s, s:s}", "path", path, "format", format));
		}
		json_object_set_new(spec, "disks", a);
	}
	*ret = TAKE_PTR(spec);
	return 0;
}

int workload_create(cli_t *cli, const cli_command_t *cmd, int argc, char **argv, flyt_error_t *err)
{
	_cleanup_free_ char *kind = NULL, *host = NULL, *name = NULL, *cwd = NULL, *spec_json = NULL;
	_cleanup_strv_ char **env = NULL;
	bool no_start = false;
	vm_opts_t vm = { .memory = -1, .cpus = -1 };
	const flyt_opt_t opts[] = {
		{ "kind", 0, FLYT_OPT_STRING, &kind, "KIND",
		  "what it is: process, qemu, or fake for tests (required)" },
		{ "host", 0, FLYT_OPT_STRING, &host, "HOST", "the host to run it on (required)" },
		{ "name", 0, FLYT_OPT_STRING, &name, "NAME", "its name, 1-63 of a-z 0-9 . _ - (required)" },
		{ "env", 0, FLYT_OPT_LIST, &env, "K=V", "an environment variable of the process (repeatable)" },
		{ "cwd", 0, FLYT_OPT_STRING, &cwd, "DIR", "the process's working directory (default: its files)" },
		{ "spec-json", 0, FLYT_OPT_STRING, &spec_json, "JSON", "the spec object itself, for any kind" },
		{ "no-start", 0, FLYT_OPT_FLAG, &no_start, NULL, "create it stopped" },
		{ "memory", 0, FLYT_OPT_INT, &vm.memory, "MIB", "a VM's memory (required for qemu)", 16, 1024 * 1024 },
		{ "cpus", 0, FLYT_OPT_INT, &vm.cpus, "N", "a VM's virtual CPUs (default 1)", 1, 256 },
		{ "kernel", 0, FLYT_OPT_STRING, &vm.kernel, "FILE", "a VM's kernel (absolute path on the host)" },
		{ "initrd", 0, FLYT_OPT_STRING, &vm.initrd, "FILE", "a VM's initramfs" },
		{ "append", 0, FLYT_OPT_STRING, &vm.append, "CMDLINE", "a VM's kernel command line" },
		{ "disk", 0, FLYT_OPT_LIST, &vm.disks, "FILE[:FORMAT]", "a VM's disk, raw or qcow2 (repeatable)" },
		{ "machine", 0, FLYT_OPT_STRING, &vm.machine, "TYPE", "a VM's machine type (default q35)" },
		{ "cpu-model", 0, FLYT_OPT_STRING, &vm.cpu_model, "MODEL", "a VM's CPU model (default qemu64)" },
		{ NULL },
	};
	int npos, r = commands_parse(cli, cmd, opts, argc, argv, 0, -1, &npos, err);
	if (r != 0)
		return r;
	if (!kind || !host || !name)
		return commands_usage_error(cmd, err, "--%s is required", !kind ? "kind" : !host ? "host" : "name");

	_cleanup_json_ json_t *spec = NULL;
	if (vm_opts_given(&vm) && (strcmp(kind, "qemu") != 0 || spec_json))
		r = commands_usage_error(cmd, err,
					 "--memory, --kernel, --disk... describe a VM: --kind qemu, no --spec-json");
	else if (strcmp(kind, "qemu") == 0 && !spec_json)
		r = npos > 0 ? commands_usage_error(cmd, err, "a VM takes no command") : vm_spec(cmd, &vm, &spec, err);
	else
		r = workload_spec(cmd, kind, spec_json, argv, npos, env, cwd, &spec, err);
	free(vm.kernel);
	free(vm.initrd);
	free(vm.append);
	free(vm.machine);
	free(vm.cpu_model);
	flyt_strv_free(vm.disks);
	if (r < 0)
		return r;
	_cleanup_json_ json_t *body = json_pack("{s:s, s:s, s:s, s:O, s:b}", "name", name, "kind", kind, "host", host,
						"spec", spec, "start", !no_start);
	_cleanup_json_ json_t *ans = NULL;
	if (client_call(cli, "POST", "/api/v1/workloads", body, &ans, err) < 0)
		return -1;
	if (cli->json)
		output_json(ans);
	else
		printf("created workload %s on %s (%s)\n", flyt_json_str(ans, "name", name),
		       flyt_json_str(ans, "host", host), flyt_json_str(ans, "state", no_start ? "stopped" : "started"));
	return 0;
}

int workload_adopt(cli_t *cli, const cli_command_t *cmd, int argc, char **argv, flyt_error_t *err)
{
	_cleanup_free_ char *kind = NULL, *host = NULL, *name = NULL;
	const flyt_opt_t opts[] = {
		{ "kind", 0, FLYT_OPT_STRING, &kind, "KIND", "libvirt (required)" },
		{ "host", 0, FLYT_OPT_STRING, &host, "HOST", "the host whose libvirt has the domain (required)" },
		{ "name", 0, FLYT_OPT_STRING, &name, "NAME", "the workload's name (default: the domain's)" },
		{ NULL },
	};
	int npos, r = commands_parse(cli, cmd, opts, argc, argv, 1, 1, &npos, err);
	if (r != 0)
		return r;
	if (!kind || !host)
		return commands_usage_error(cmd, err, "--%s is required", !kind ? "kind" : "host");
	if (strcmp(kind, "libvirt") != 0)
		return commands_usage_error(cmd, err, "only libvirt domains are adopted; create other kinds");
	_cleanup_json_ json_t *body = json_pack("{s:s, s:s, s:s, s:{s:s}, s:b}", "name", name ? name : argv[0], "kind",
						kind, "host", host, "spec", "domain", argv[0], "start", 1);
	_cleanup_json_ json_t *ans = NULL;
	if (client_call(cli, "POST", "/api/v1/workloads", body, &ans, err) < 0)
		return -1;
	if (cli->json)
		output_json(ans);
	else
		printf("adopted domain %s on %s as workload %s (%s)\n", argv[0], host, flyt_json_str(ans, "name", "?"),
		       flyt_json_str(ans, "state", "?"));
	return 0;
}

int workload_ls(cli_t *cli, const cli_command_t *cmd, int argc, char **argv, flyt_error_t *err)
{
	_cleanup_free_ char *host = NULL, *kind = NULL, *state = NULL;
	const flyt_opt_t opts[] = {
		{ "host", 0, FLYT_OPT_STRING, &host, "HOST", "only those on this host" },
		{ "kind", 0, FLYT_OPT_STRING, &kind, "KIND", "only those of this kind" },
		{ "state", 0, FLYT_OPT_STRING, &state, "STATE", "only those in this state (running, stopped, ...)" },
		{ NULL },
	};
	int npos, r = commands_parse(cli, cmd, opts, argc, argv, 0, 0, &npos, err);
	if (r != 0)
		return r;
	_cleanup_free_ char *path = flyt_strdup("/api/v1/workloads");
	client_query(&path, "host", host);
	client_query(&path, "kind", kind);
	client_query(&path, "state", state);
	_cleanup_json_ json_t *ans = NULL;
	json_t *list;
	if (client_call(cli, "GET", path, NULL, &ans, err) < 0 || client_list(ans, "workloads", &list, err) < 0)
		return -1;
	if (cli->json) {
		output_json(ans);
		return 0;
	}
	static const char *const headers[] = { "NAME", "KIND", "HOST", "STATE", "PID", "RSS", "CPU" };
	_cleanup_(output_table_free) output_table_t t = { 0 };
	output_table_init(&t, ELEMENTSOF(headers), headers);
	size_t i;
	json_t *w;
	json_array_foreach (list, i, w) {
		char pid[OUTPUT_FIELD_MAX] = "-", rss[OUTPUT_FIELD_MAX] = "-", cpu[OUTPUT_FIELD_MAX] = "-";
		if (flyt_json_int(w, "pid", 0) > 0)
			snprintf(pid, sizeof(pid), "%lld", (long long)flyt_json_int(w, "pid", 0));
		if (json_is_integer(json_object_get(w, "rss_bytes")))
			output_size((uint64_t)flyt_json_int(w, "rss_bytes", 0), rss, sizeof(rss));
		json_t *c = json_object_get(w, "cpu_percent");
		if (json_is_number(c))
			snprintf(cpu, sizeof(cpu), "%.1f%%", json_number_value(c));
		const char *row[] = { flyt_json_str(w, "name", "-"),
				      flyt_json_str(w, "kind", "-"),
				      flyt_json_str(w, "host", "-"),
				      flyt_json_str(w, "state", "-"),
				      pid,
				      rss,
				      cpu };
		output_table_add(&t, row);
	}
	output_table_print(&t, stdout);
	return 0;
}

int workload_show(cli_t *cli, const cli_command_t *cmd, int argc, char **argv, flyt_error_t *err)
{
	int npos, r = commands_parse(cli, cmd, no_opts, argc, argv, 1, 1, &npos, err);
	if (r != 0)
		return r;
	_cleanup_free_ char *path = client_path("workloads", argv[0], NULL);
	_cleanup_json_ json_t *ans = NULL;
	if (client_call(cli, "GET", path, NULL, &ans, err) < 0)
		return -1;
	if (cli->json)
		output_json(ans);
	else
		output_show(ans);
	return 0;
}

/* POST /api/v1/workloads/W/ACTION; done is what to say afterwards ("stopped"). */
static int workload_action(cli_t *cli, const cli_command_t *cmd, int argc, char **argv, const char *action,
			   const char *done, flyt_error_t *err)
{
	int npos, r = commands_parse(cli, cmd, no_opts, argc, argv, 1, 1, &npos, err);
	if (r != 0)
		return r;
	_cleanup_free_ char *path = client_path("workloads", argv[0], action);
	_cleanup_json_ json_t *ans = NULL;
	if (client_call(cli, "POST", path, NULL, &ans, err) < 0)
		return -1;
	if (cli->json)
		output_json(ans);
	else
		printf("%s workload %s\n", done, argv[0]);
	return 0;
}

int workload_stop(cli_t *cli, const cli_command_t *cmd, int argc, char **argv, flyt_error_t *err)
{
	return workload_action(cli, cmd, argc, argv, "stop", "stopped", err);
}

int workload_start(cli_t *cli, const cli_command_t *cmd, int argc, char **argv, flyt_error_t *err)
{
	return workload_action(cli, cmd, argc, argv, "start", "started", err);
}

int workload_rm(cli_t *cli, const cli_command_t *cmd, int argc, char **argv, flyt_error_t *err)
{
	bool force = false;
	const flyt_opt_t opts[] = {
		{ "force", 0, FLYT_OPT_FLAG, &force, NULL, "forget it even when its host is offline" },
		{ NULL },
	};
	int npos, r = commands_parse(cli, cmd, opts, argc, argv, 1, 1, &npos, err);
	if (r != 0)
		return r;
	_cleanup_free_ char *path = client_path("workloads", argv[0], NULL);
	client_query(&path, "force", force ? "true" : NULL);
	_cleanup_json_ json_t *ans = NULL;
	if (client_call(cli, "DELETE", path, NULL, &ans, err) < 0)
		return -1;
	if (cli->json)
		output_json(ans);
	else
		printf("removed workload %s\n", argv[0]);
	return 0;
}

int workload_logs(cli_t *cli, const cli_command_t *cmd, int argc, char **argv, flyt_error_t *err)
{
	bool use_stderr = false;
	int64_t tail = -1;
	const flyt_opt_t opts[] = {
		{ "stderr", 0, FLYT_OPT_FLAG, &use_stderr, NULL, "its standard error instead of its output" },
		{ "tail", 0, FLYT_OPT_INT, &tail, "BYTES", "at most this many bytes from the end", 0, INT64_MAX },
		{ NULL },
	};
	int npos, r = commands_parse(cli, cmd, opts, argc, argv, 1, 1, &npos, err);
	if (r != 0)
		return r;
	_cleanup_free_ char *path = client_path("workloads", argv[0], "logs");
	client_query(&path, "stream", use_stderr ? "stderr" : "stdout");
	char tail_s[32];
	snprintf(tail_s, sizeof(tail_s), "%lld", (long long)tail);
	client_query(&path, "tail", tail >= 0 ? tail_s : NULL);
	_cleanup_free_ char *text = NULL;
	size_t len;
	if (client_call_raw(cli, "GET", path, &text, &len, err) < 0)
		return -1;
	/* the workload's own bytes, as they are, whatever --json says */
	if (fwrite(text, 1, len, stdout) != len)
		return flyt_error_set(err, FLYT_E_IO, errno, "write the logs");
	return 0;
}
