/* Running CRIU. flyt drives the criu command line through the spawn helper rather
 * than libcriu's RPC (see docs/architecture.md, "Why the CRIU command line"): every
 * operation is one argv built here, with its own log file in the migration's
 * directory, and the errors users need are read back from that log. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/error.h"
#include "lib/spawn.h"

/* "4.2.1" from `criu --version` into out; fails when criu cannot run. */
int criu_version(const char *criu, char *out, size_t size, flyt_error_t *err);

/* True when `criu check --feature NAME` succeeds. */
bool criu_has_feature(const char *criu, const char *feature);

/* The last few meaningful "Error" lines of a CRIU log, joined, into out (empty when
 * none). The harmless RLIMIT_NOFILE complaint is skipped. */
void criu_log_errors(const char *log_path, char *out, size_t size);

/* Runs criu with argv (argv[0] is replaced by the configured binary) to completion
 * within timeout_ms; on failure err says how it ended and quotes the log. */
int criu_run(const char *criu, char **argv, const char *log_path, unsigned timeout_ms, char *const *env,
	     flyt_error_t *err);

/* Starts criu without waiting (dump with a hook, lazy-pages daemon). Its stdout and
 * stderr go to out_path. */
int criu_start(const char *criu, char **argv, const char *out_path, char *const *env, flyt_child_t *child,
	       flyt_error_t *err);

/* Explains how a started criu ended, quoting its log. Returns -1 (fills err). */
int criu_failed(const char *what, const flyt_spawn_result_t *res, const char *log_path, flyt_error_t *err);

/* Starts `criu lazy-pages --page-server`, which fetches memory pages from
 * 127.0.0.1:port (flyt's page tunnel) for a `criu restore --lazy-pages` working
 * in work_dir, with the images in images; log goes to -o (relative to work_dir
 * unless absolute), its stdout and stderr to out_path. Returns once the daemon's
 * socket (work_dir/lazy-pages.socket) exists, which the restore needs; on
 * failure the daemon is gone and err quotes log_path. */
int criu_lazy_pages_start(const char *criu, uint16_t port, const char *images, const char *work_dir, const char *log,
			  const char *log_path, const char *out_path, flyt_child_t *child, flyt_error_t *err);
