/* What flytd and flyt-controller share around main(): the common options
 * (--log-level, --log-format, --version, --routes, --help, --config), logging,
 * and signals taken by sigwait. */
#pragma once

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>

#include "http.h"
#include "opts.h"

typedef struct {
	const char *program;	 /* "flytd" */
	const char *description; /* printed under the usage line */
	const char *usage;	 /* "flytd --name NAME [options]" */
	const flyt_route_t *routes;
	size_t nroutes;
	/* filled by flyt_daemon_init */
	char *log_level, *log_format;
	bool version, print_routes;
	flyt_opt_t *all_opts;
	sigset_t signals;
} flyt_daemon_t;

/* Parses argv against opts (the program's own table, NULL-terminated) and the
 * common options. Returns 1 to go on (logging set up, SIGINT and SIGTERM blocked
 * for flyt_daemon_wait in every thread created afterwards, SIGPIPE ignored,
 * libcurl initialised); 0 when --help, --version or --routes was answered (exit
 * 0); -1 after printing a usage error (exit 2). */
int flyt_daemon_init(flyt_daemon_t *d, const flyt_opt_t *opts, int argc, char **argv);

/* Waits for SIGINT or SIGTERM and returns it. */
int flyt_daemon_wait(flyt_daemon_t *d);

/* Frees what the options allocated (the program's and the common ones). */
void flyt_daemon_fini(flyt_daemon_t *d);
