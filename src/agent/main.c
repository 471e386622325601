/* flytd: the flyt agent of one host. Parses its options, starts the agent and
 * waits for SIGINT or SIGTERM. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent/agent.h"

#define PROGRAM "flytd"
#define ROUTES agent_routes, agent_nroutes
#include "flyt-config.h"
#include "lib/json.h"
#include "lib/log.h"
#include "lib/opts.h"
#include "lib/util.h"

/* The route table, for docs checks: [{"method","path","auth","summary"}]. */
static void print_routes(const flyt_route_t *r, size_t n)
{
	json_t *arr = json_array();
	for (size_t i = 0; i < n; i++)
		json_array_append_new(arr, json_pack("{s:s, s:s, s:b, s:b, s:s}", "method", r[i].method, "path",
						     r[i].pattern, "auth", !(r[i].flags & FLYT_ROUTE_PUBLIC), "write",
						     (r[i].flags & FLYT_ROUTE_WRITE) != 0, "summary", r[i].summary));
	char *text = json_dumps(arr, JSON_INDENT(2));
	printf("%s\n", text);
	free(text);
	json_decref(arr);
}

static void usage(FILE *f, const flyt_opt_t *opts)
{
	fprintf(f, "usage: flytd --name NAME [options]\n\n"
		   "The flyt agent: runs, checkpoints, restores and migrates the workloads of this host.\n\n"
		   "Options (also accepted as \"name = value\" lines in --config FILE):\n");
	flyt_opts_usage(f, opts);
}

int main(int argc, char **argv)
{
	agent_t a = { 0 };
	char *log_level = flyt_strdup("info"), *log_format = flyt_strdup("text");
	a.listen = flyt_strdup("0.0.0.0:7800");
	a.state_dir = flyt_strdup("/var/lib/flyt/agent");
	a.criu = flyt_strdup("criu");
	a.token_file = flyt_strdup(getenv("FLYT_TOKEN_FILE") ? getenv("FLYT_TOKEN_FILE") : "/etc/flyt/token");
	a.heartbeat_ms = 2000;
	a.io_timeout_ms = 15000;
	bool version = false, routes = false;

	const flyt_opt_t opts[] = {
		{ "name", 'n', FLYT_OPT_STRING, &a.name, "NAME", "this host's name in the cluster (required)" },
		{ "listen", 'l', FLYT_OPT_STRING, &a.listen, "ADDR:PORT", "API address (default 0.0.0.0:7800)" },
		{ "data-listen", 0, FLYT_OPT_STRING, &a.data_listen, "ADDR:PORT",
		  "migration data address (default: API address, port + 1)" },
		{ "advertise-url", 0, FLYT_OPT_STRING, &a.advertise_url, "URL",
		  "URL others reach the API at (default from --listen)" },
		{ "controller", 'c', FLYT_OPT_STRING, &a.controller_url, "URL", "controller to register with" },
		{ "state-dir", 's', FLYT_OPT_STRING, &a.state_dir, "DIR",
		  "state directory (default /var/lib/flyt/agent)" },
		{ "token-file", 't', FLYT_OPT_STRING, &a.token_file, "FILE",
		  "cluster token (default $FLYT_TOKEN_FILE or /etc/flyt/token)" },
		{ "criu", 0, FLYT_OPT_STRING, &a.criu, "PATH", "criu binary (default: criu on PATH)" },
		{ "shared-dir", 0, FLYT_OPT_LIST, &a.shared_dirs, "DIR",
		  "a directory every host mounts, for --mode shared (repeatable)" },
		{ "driver", 0, FLYT_OPT_LIST, &a.drivers_enabled, "KIND", "enable only these drivers (repeatable)" },
		{ "area", 0, FLYT_OPT_STRING, &a.area, "AREA", "electricity area of this host (e.g. DK1)" },
		{ "heartbeat-interval", 0, FLYT_OPT_INT, &a.heartbeat_ms, "MS", "heartbeat period (default 2000)", 100,
		  600000 },
		{ "io-timeout", 0, FLYT_OPT_INT, &a.io_timeout_ms, "MS",
		  "migration socket timeout: a silent peer fails the migration after this (default 15000)", 1000,
		  3600000 },
		{ "libexec-dir", 0, FLYT_OPT_STRING, &a.libexec_dir, "DIR",
		  "where flyt-launch and flyt-criu-hook are" },
		{ "log-level", 0, FLYT_OPT_STRING, &log_level, "LEVEL", "debug, info, warn or error (default info)" },
		{ "log-format", 0, FLYT_OPT_STRING, &log_format, "FORMAT", "text or json (default text)" },
		{ "version", 'V', FLYT_OPT_FLAG, &version, NULL, "print the version and exit" },
		{ "routes", 0, FLYT_OPT_FLAG, &routes, NULL, "print the API's route table as JSON and exit" },
		{ NULL },
	};

	flyt_error_t err = FLYT_ERROR_INIT;
	int next;
	bool help;
	if (flyt_opts_parse(opts, argc, argv, 1, true, &next, &help, &err) < 0) {
		fprintf(stderr, "flytd: %s\n", err.msg);
		return 2;
	}
	if (help || routes || version) {
		if (help)
			usage(stdout, opts);
		else if (routes)
			print_routes(ROUTES);
		else
			printf("%s %s\n", PROGRAM, FLYT_VERSION);
		flyt_opts_free(opts);
		free(log_level);
		free(log_format);
		return 0;
	}
	if (next < argc) {
		fprintf(stderr, "flytd: unexpected argument %s\n", argv[next]);
		return 2;
	}
	flyt_log_level_t level = flyt_log_level_from_name(log_level);
	if (level == FLYT_LOG_INVALID || (strcmp(log_format, "text") && strcmp(log_format, "json"))) {
		fprintf(stderr, "flytd: --log-level must be debug, info, warn or error; --log-format text or json\n");
		return 2;
	}
	flyt_log_setup("flytd", level, strcmp(log_format, "json") == 0 ? FLYT_LOG_JSON : FLYT_LOG_TEXT);
	if (!a.name) {
		fprintf(stderr, "flytd: --name is required\n");
		return 2;
	}

	/* signals are taken by sigwait below; every thread inherits the mask */
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);
	flyt_http_global_init();

	if (agent_start(&a, &err) < 0) {
		log_error("cannot start: %s", err.msg);
		return 1;
	}
	int sig;
	sigwait(&set, &sig);
	log_info("signal %d: stopping (workloads keep running)", sig);
	agent_stop(&a);
	agent_free(&a);
	flyt_opts_free(opts);
	free(log_level);
	free(log_format);
	return 0;
}
