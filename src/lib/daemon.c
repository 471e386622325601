/* Common start-up of the daemons. */
#include "daemon.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cleanup.h"
#include "flyt-config.h"
#include "json.h"
#include "log.h"
#include "util.h"

static void usage(flyt_daemon_t *d)
{
	printf("usage: %s\n\n%s\n\nOptions (also accepted as \"name = value\" lines in --config FILE):\n", d->usage,
	       d->description);
	flyt_opts_usage(stdout, d->all_opts);
}

int flyt_daemon_init(flyt_daemon_t *d, const flyt_opt_t *opts, int argc, char **argv)
{
	d->log_level = flyt_strdup("info");
	d->log_format = flyt_strdup("text");
	const flyt_opt_t common[] = {
		{ "log-level", 0, FLYT_OPT_STRING, &d->log_level, "LEVEL",
		  "debug, info, warn or error (default info)" },
		{ "log-format", 0, FLYT_OPT_STRING, &d->log_format, "FORMAT", "text or json lines (default text)" },
		{ "routes", 0, FLYT_OPT_FLAG, &d->print_routes, NULL, "print the API's route table as JSON and exit" },
		{ "version", 'V', FLYT_OPT_FLAG, &d->version, NULL, "print the version and exit" },
	};
	size_t n = 0;
	while (opts[n].name)
		n++;
	d->all_opts = flyt_malloc0((n + ELEMENTSOF(common) + 1) * sizeof(flyt_opt_t));
	memcpy(d->all_opts, opts, n * sizeof(flyt_opt_t));
	memcpy(d->all_opts + n, common, sizeof(common));

	flyt_error_t err = FLYT_ERROR_INIT;
	int next;
	bool help;
	if (flyt_opts_parse(d->all_opts, argc, argv, 1, true, &next, &help, &err) < 0) {
		fprintf(stderr, "%s: %s\n", d->program, err.msg);
		return -1;
	}
	if (help) {
		usage(d);
		return 0;
	}
	if (d->version) {
		printf("%s %s\n", d->program, FLYT_VERSION);
		return 0;
	}
	if (d->print_routes) {
		_cleanup_json_ json_t *r = flyt_http_routes_json(d->routes, d->nroutes);
		_cleanup_free_ char *text = json_dumps(r, JSON_INDENT(2));
		printf("%s\n", text);
		return 0;
	}
	if (next < argc) {
		fprintf(stderr, "%s: unexpected argument %s (see --help)\n", d->program, argv[next]);
		return -1;
	}
	flyt_log_level_t level = flyt_log_level_from_name(d->log_level);
	if (level == FLYT_LOG_INVALID || (strcmp(d->log_format, "text") && strcmp(d->log_format, "json"))) {
		fprintf(stderr, "%s: --log-level must be debug, info, warn or error; --log-format text or json\n",
			d->program);
		return -1;
	}
	flyt_log_setup(d->program, level, strcmp(d->log_format, "json") == 0 ? FLYT_LOG_JSON : FLYT_LOG_TEXT);

	/* signals are taken by flyt_daemon_wait; threads inherit the mask */
	sigemptyset(&d->signals);
	sigaddset(&d->signals, SIGINT);
	sigaddset(&d->signals, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &d->signals, NULL);
	signal(SIGPIPE, SIG_IGN);
	flyt_http_global_init();
	return 1;
}

int flyt_daemon_wait(flyt_daemon_t *d)
{
	int sig = 0;
	sigwait(&d->signals, &sig);
	return sig;
}

void flyt_daemon_fini(flyt_daemon_t *d)
{
	if (d->all_opts)
		flyt_opts_free(d->all_opts);
	free(d->all_opts);
	d->all_opts = NULL;
}
