/* flyt workload create|ls|show|stop|start|rm|logs: the workloads of the cluster. */
#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
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

/* An absolute form of a path given on the command line (the agent reads it on
 * its host, which is usually this one); NULL when a relative path cannot be
 * resolved here. */
static char *absolute_path(const char *p)
{
	if (p[0] == '/')
		return flyt_strdup(p);
	return realpath(p, NULL);
}

/* flyt workload create -f FILE: flyt's workload object ({"name", "kind", "spec",
 * ...}) or the old system's workload spec, sent as they are; --host says where. */
static int workload_create_file(cli_t *cli, const cli_command_t *cmd, const char *file, const char *host, bool no_start,
				json_t **ret, flyt_error_t *err)
{
	_cleanup_free_ char *text = NULL;
	size_t len;
	_cleanup_json_ json_t *body = NULL;
	if (flyt_read_file(file, WORKLOAD_SPEC_MAX, &text, &len, err) < 0 ||
	    flyt_json_parse_object(text, len, WORKLOAD_SPEC_MAX, &body, err) < 0)
		return flyt_error_prefix(err, "%s", file);
	_cleanup_free_ char *path = flyt_strdup("/api/v1/workloads");
	if (json_object_get(body, "Identifier")) {
		/* the old system's spec: the controller checks and converts it */
		if (!host)
			return commands_usage_error(cmd, err,
						    "the old system's spec in %s names no host: add --host HOST", file);
		if (no_start)
			return commands_usage_error(cmd, err, "--no-start does not go with an adopted container");
		client_query(&path, "host", host);
	} else {
		if (host)
			json_object_set_new(body, "host", json_string(host));
		if (no_start)
			json_object_set_new(body, "start", json_false());
	}
	return client_call(cli, "POST", path, body, ret, err);
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

static void vm_opts_free(vm_opts_t *v)
{
	free(v->kernel);
	free(v->initrd);
	free(v->append);
	free(v->machine);
	free(v->cpu_model);
	flyt_strv_free(v->disks);
}

int workload_create(cli_t *cli, const cli_command_t *cmd, int argc, char **argv, flyt_error_t *err)
{
	_cleanup_free_ char *kind = NULL, *host = NULL, *name = NULL, *cwd = NULL, *spec_json = NULL;
	_cleanup_free_ char *file = NULL, *bundle = NULL, *rootfs = NULL;
	_cleanup_strv_ char **env = NULL;
	bool no_start = false;
	__attribute__((cleanup(vm_opts_free))) vm_opts_t vm = { .memory = -1, .cpus = -1 };
	const flyt_opt_t opts[] = {
		{ "kind", 0, FLYT_OPT_STRING, &kind, "KIND",
		  "what it is: process, runc, qemu, or fake for tests (required)" },
		{ "host", 0, FLYT_OPT_STRING, &host, "HOST", "the host to run it on (required)" },
		{ "name", 0, FLYT_OPT_STRING, &name, "NAME", "its name, 1-63 of a-z 0-9 . _ - (required)" },
		{ "env", 0, FLYT_OPT_LIST, &env, "K=V", "an environment variable of the process (repeatable)" },
		{ "cwd", 0, FLYT_OPT_STRING, &cwd, "DIR", "the process's working directory (default: its files)" },
		{ "bundle", 0, FLYT_OPT_STRING, &bundle, "DIR", "runc: an OCI bundle (config.json and its rootfs)" },
		{ "rootfs", 0, FLYT_OPT_STRING, &rootfs, "TARBALL",
		  "runc: a root file system tarball to run -- CMD [ARG...] in" },
		{ "spec-json", 0, FLYT_OPT_STRING, &spec_json, "JSON", "the spec object itself, for any kind" },
		{ "file", 'f', FLYT_OPT_STRING, &file, "FILE",
		  "the whole workload from a JSON file: flyt's, or the old system's spec (with --host)" },
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
	_cleanup_json_ json_t *ans = NULL;
	if (file) {
		if (kind || name || env || cwd || bundle || rootfs || spec_json || npos > 0 || vm_opts_given(&vm))
			return commands_usage_error(cmd, err,
						    "-f FILE holds the whole workload; only --host goes with it");
		r = workload_create_file(cli, cmd, file, host, no_start, &ans, err);
		if (r != 0)
			return r;
	} else {
		if (!kind || !host || !name)
			return commands_usage_error(cmd, err, "--%s is required",
						    !kind   ? "kind"
						    : !host ? "host"
							    : "name");
		_cleanup_json_ json_t *spec = NULL;
		if (vm_opts_given(&vm) && (strcmp(kind, "qemu") != 0 || spec_json)) {
			return commands_usage_error(
			    cmd, err, "--memory, --kernel, --disk... describe a VM: --kind qemu, no --spec-json");
		} else if (strcmp(kind, "qemu") == 0 && !spec_json) {
			if (npos > 0)
				return commands_usage_error(cmd, err, "a VM takes no command");
			if (vm_spec(cmd, &vm, &spec, err) < 0)
				return -1;
		} else if (bundle || rootfs) {
			if (strcmp(kind, "runc") != 0)
				return commands_usage_error(cmd, err, "--bundle and --rootfs are for --kind runc");
			if (!bundle == !rootfs)
				return commands_usage_error(cmd, err,
							    "give --bundle DIR or --rootfs TARBALL, not both");
			if (bundle && (npos > 0 || env || cwd))
				return commands_usage_error(
				    cmd, err, "a bundle's config.json says what runs: no command, --env or --cwd");
			if (rootfs && npos == 0)
				return commands_usage_error(cmd, err, "--rootfs needs a command: -- CMD [ARG...]");
			_cleanup_free_ char *abs = absolute_path(bundle ? bundle : rootfs);
			if (!abs)
				return commands_usage_error(cmd, err, "%s: %s", bundle ? bundle : rootfs,
							    strerror(errno));
			r = workload_spec(cmd, kind, NULL, argv, npos, env, cwd, &spec, err);
			if (r < 0)
				return r;
			json_object_set_new(spec, bundle ? "bundle" : "rootfs", json_string(abs));
		} else {
			if (strcmp(kind, "runc") == 0 && !spec_json)
				return commands_usage_error(cmd, err,
							    "a runc workload needs --bundle DIR or --rootfs TARBALL");
			r = workload_spec(cmd, kind, spec_json, argv, npos, env, cwd, &spec, err);
			if (r < 0)
				return r;
		}
		_cleanup_json_ json_t *body = json_pack("{s:s, s:s, s:s, s:O, s:b}", "name", name, "kind", kind, "host",
							host, "spec", spec, "start", !no_start);
		if (client_call(cli, "POST", "/api/v1/workloads", body, &ans, err) < 0)
			return -1;
		if (!name)
			name = flyt_strdup("?");
	}
	if (cli->json)
		output_json(ans);
	else
		printf("created workload %s on %s (%s)\n", flyt_json_str(ans, "name", name ? name : "?"),
		       flyt_json_str(ans, "host", host ? host : "?"),
		       flyt_json_str(ans, "state", no_start ? "stopped" : "started"));
	return 0;
}

/* A workload name from a container name: lower case, other characters as "-". */
static void name_from_container(const char *c, char *out, size_t size)
{
	size_t i = 0;
	for (; c[i] && i + 1 < size && i < 63; i++) {
		char ch = (char)tolower((unsigned char)c[i]);
		out[i] = (isalnum((unsigned char)ch) || ch == '.' || ch == '_' || ch == '-') ? ch : '-';
	}
	out[i] = '\0';
}

int workload_adopt(cli_t *cli, const cli_command_t *cmd, int argc, char **argv, flyt_error_t *err)
{
	_cleanup_free_ char *kind = NULL, *host = NULL, *name = NULL;
	const flyt_opt_t opts[] = {
		{ "kind", 0, FLYT_OPT_STRING, &kind, "KIND", "docker, podman or libvirt (required)" },
		{ "host", 0, FLYT_OPT_STRING, &host, "HOST", "the host the container or domain is on (required)" },
		{ "name", 0, FLYT_OPT_STRING, &name, "NAME",
		  "the workload's name (default: the container's or domain's)" },
		{ NULL },
	};
	int npos, r = commands_parse(cli, cmd, opts, argc, argv, 1, 1, &npos, err);
	if (r != 0)
		return r;
	if (!kind || !host)
		return commands_usage_error(cmd, err, "--%s is required", !kind ? "kind" : "host");
	bool domain = strcmp(kind, "libvirt") == 0;
	if (strcmp(kind, "docker") != 0 && strcmp(kind, "podman") != 0 && !domain)
		return commands_usage_error(cmd, err, "--kind must be docker, podman or libvirt");
	char derived[64];
	name_from_container(argv[0], derived, sizeof(derived));
	_cleanup_json_ json_t *body = json_pack("{s:s, s:s, s:s, s:{s:s}}", "name", name ? name : derived, "kind", kind,
						"host", host, "spec", domain ? "domain" : "container", argv[0]);
	_cleanup_json_ json_t *ans = NULL;
	if (client_call(cli, "POST", "/api/v1/workloads", body, &ans, err) < 0)
		return -1;
	if (cli->json)
		output_json(ans);
	else
		printf("adopted %s%s %s on %s as workload %s (%s)\n", domain ? "" : kind,
		       domain ? "domain" : " container", argv[0], host, flyt_json_str(ans, "name", "?"),
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
	return client_show(cli, "GET", path, NULL, err);
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
	_cleanup_free_ char *done = flyt_asprintf("removed workload %s", argv[0]);
	return client_delete(cli, path, done, err);
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
