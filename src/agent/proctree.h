/* Reading process trees from /proc: identity (pid plus start time, so a reused pid
 * is never mistaken for the workload), state, memory and CPU of a whole tree, and
 * signalling every process of a tree. */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

/* Start time of pid in clock ticks after boot (field 22 of /proc/PID/stat), 0 when
 * the process does not exist. */
uint64_t proc_start_ticks(pid_t pid);

/* One-letter state of pid (R, S, D, T, t, Z, ...), 0 when it does not exist. */
char proc_state(pid_t pid);

/* True when pid exists, is not a zombie and started at start_ticks. */
bool proc_alive(pid_t pid, uint64_t start_ticks);

/* pid and all its descendants; *ret is malloc'ed. Returns the count (0 if gone). */
size_t proc_tree(pid_t pid, pid_t **ret);

typedef struct {
	unsigned nprocs;
	uint64_t rss_bytes;
	uint64_t cpu_ticks; /* user + system of the whole tree */
} proc_tree_stats_t;

void proc_tree_stats(pid_t pid, proc_tree_stats_t *ret);

/* Sends sig to pid and every descendant. Returns how many were signalled. */
unsigned proc_tree_signal(pid_t pid, int sig);

/* Socket inodes held open by pid and its descendants; *ret is malloc'ed. */
size_t proc_tree_socket_inodes(pid_t pid, uint64_t **ret);

/* A live process one of whose arguments is exactly arg (the first found), 0 when
 * there is none. */
pid_t proc_find_with_arg(const char *arg);
