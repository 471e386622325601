/* Running other programs: the one way flyt starts child processes.
 *
 * No shell is ever involved: argv goes to execve as given (argv[0] is searched in
 * PATH when it has no slash). The child gets /dev/null on stdin unless told
 * otherwise, only the descriptors asked for, its own session (so that a timeout
 * kills the whole group), and its stdout/stderr either captured (bounded), written
 * to a file, or discarded. Uses posix_spawn, which is safe in threaded programs. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "error.h"

typedef enum {
	FLYT_SPAWN_NULL,    /* /dev/null */
	FLYT_SPAWN_CAPTURE, /* into the result, at most capture_max bytes kept */
	FLYT_SPAWN_FILE,    /* appended to a file */
	FLYT_SPAWN_INHERIT, /* the parent's descriptor */
} flyt_spawn_out_t;

typedef struct {
	char *const *argv;
	char *const *env; /* NULL: the parent's environment */
	const char *cwd;  /* NULL: the parent's */
	flyt_spawn_out_t out, err;
	const char *out_path, *err_path; /* for FLYT_SPAWN_FILE */
	size_t capture_max;		 /* default 64 KiB per stream */
	unsigned timeout_ms;		 /* 0: none; on expiry the process group gets SIGKILL */
	int pass_fds[4];		 /* descriptors the child keeps at the same numbers; -1 ends */
	int npass_fds;
} flyt_spawn_opts_t;

typedef struct {
	int exit_code; /* when exited normally, else -1 */
	int signal;    /* when killed by a signal, else 0 */
	bool timed_out;
	char *out, *err; /* captured output, NUL-terminated (owned) */
} flyt_spawn_result_t;

typedef struct {
	pid_t pid;
	int pidfd;
	int out_fd, err_fd; /* capture pipes, -1 when not capturing */
} flyt_child_t;

/* Runs to completion (or timeout). Returns 0 when the program ran, whatever its exit
 * status; -1 with err when it could not be started. */
int flyt_spawn_run(const flyt_spawn_opts_t *o, flyt_spawn_result_t *res, flyt_error_t *err);

/* Runs a tool (args: a NULL-terminated list) to completion with its output
 * discarded; a failure to start or a non-zero exit is an error naming the tool,
 * how it ended and the end of its stderr. */
int flyt_spawn_tool(const char *const *args, unsigned timeout_ms, flyt_error_t *err);

/* Starts without waiting. Capturing is not allowed here (use files). */
int flyt_spawn_start(const flyt_spawn_opts_t *o, flyt_child_t *child, flyt_error_t *err);

/* Waits up to timeout_ms (0: forever) for the child to exit. Returns 1 when it
 * exited (res filled, child released), 0 on timeout, -1 on error. */
int flyt_child_wait(flyt_child_t *child, unsigned timeout_ms, flyt_spawn_result_t *res, flyt_error_t *err);

/* Sends sig to the child's process group. */
void flyt_child_kill(flyt_child_t *child, int sig);

/* Kills (SIGKILL) and reaps, for cleanup paths. */
void flyt_child_reap(flyt_child_t *child);

void flyt_spawn_result_free(flyt_spawn_result_t *res);

/* One line describing how a program ended: "exited with status 1: <last stderr line>". */
void flyt_spawn_describe(const flyt_spawn_result_t *res, char *buf, size_t size);
