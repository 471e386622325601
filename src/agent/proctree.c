/* Process trees from /proc. */
#include "proctree.h"

#include <dirent.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lib/cleanup.h"
#include "lib/util.h"

/* Reads /proc/PID/stat and returns the text after the command name's closing
 * parenthesis (the command may itself contain spaces and parentheses). */
static bool read_stat(pid_t pid, char *buf, size_t size, char **ret_after)
{
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	FILE *f = fopen(path, "re");
	if (!f)
		return false;
	size_t n = fread(buf, 1, size - 1, f);
	fclose(f);
	buf[n] = '\0';
	char *close = strrchr(buf, ')');
	if (!close || close[1] != ' ')
		return false;
	*ret_after = close + 2;
	return true;
}

/* Field k (1-based, as in proc(5)) of a stat line whose text after the command
 * starts at field 3. */
static const char *stat_field(const char *after, int k)
{
	const char *p = after;
	for (int i = 3; i < k && p; i++) {
		p = strchr(p, ' ');
		if (p)
			p++;
	}
	return p;
}

uint64_t proc_start_ticks(pid_t pid)
{
	char buf[1024], *after;
	if (pid <= 0 || !read_stat(pid, buf, sizeof(buf), &after))
		return 0;
	const char *f = stat_field(after, 22);
	return f ? strtoull(f, NULL, 10) : 0;
}

char proc_state(pid_t pid)
{
	char buf[1024], *after;
	if (pid <= 0 || !read_stat(pid, buf, sizeof(buf), &after))
		return 0;
	return after[0];
}

bool proc_alive(pid_t pid, uint64_t start_ticks)
{
	char buf[1024], *after;
	if (pid <= 0 || !read_stat(pid, buf, sizeof(buf), &after))
		return false;
	if (after[0] == 'Z' || after[0] == 'X')
		return false;
	const char *f = stat_field(after, 22);
	return f && strtoull(f, NULL, 10) == start_ticks;
}

size_t proc_tree(pid_t root, pid_t **ret)
{
	*ret = NULL;
	if (proc_state(root) == 0)
		return 0;
	/* collect (pid, ppid) of every process, then take the closure from root */
	size_t cap = 256, n = 0;
	pid_t *pids = flyt_malloc0(cap * sizeof(pid_t)), *ppids = flyt_malloc0(cap * sizeof(pid_t));
	DIR *d = opendir("/proc");
	if (d) {
		struct dirent *de;
		while ((de = readdir(d))) {
			char *end;
			long p = strtol(de->d_name, &end, 10);
			if (*end || p <= 0)
				continue;
			char buf[1024], *after;
			if (!read_stat((pid_t)p, buf, sizeof(buf), &after))
				continue;
			const char *pp = stat_field(after, 4);
			if (!pp)
				continue;
			if (n == cap) {
				cap *= 2;
				pids = realloc(pids, cap * sizeof(pid_t));
				ppids = realloc(ppids, cap * sizeof(pid_t));
				if (!pids || !ppids)
					abort();
			}
			pids[n] = (pid_t)p;
			ppids[n] = (pid_t)atoi(pp);
			n++;
		}
		closedir(d);
	}
	pid_t *out = flyt_malloc0((n + 1) * sizeof(pid_t));
	size_t nout = 0;
	out[nout++] = root;
	for (size_t k = 0; k < nout; k++)
		for (size_t i = 0; i < n; i++)
			if (ppids[i] == out[k] && pids[i] != root)
				out[nout++] = pids[i];
	free(pids);
	free(ppids);
	*ret = out;
	return nout;
}

void proc_tree_stats(pid_t pid, proc_tree_stats_t *ret)
{
	memset(ret, 0, sizeof(*ret));
	_cleanup_free_ pid_t *pids = NULL;
	size_t n = proc_tree(pid, &pids);
	long page = sysconf(_SC_PAGESIZE);
	for (size_t i = 0; i < n; i++) {
		char buf[1024], *after;
		if (!read_stat(pids[i], buf, sizeof(buf), &after))
			continue;
		ret->nprocs++;
		const char *ut = stat_field(after, 14), *st = stat_field(after, 15), *rss = stat_field(after, 24);
		if (ut && st)
			ret->cpu_ticks += strtoull(ut, NULL, 10) + strtoull(st, NULL, 10);
		if (rss)
			ret->rss_bytes += strtoull(rss, NULL, 10) * (uint64_t)page;
	}
}

unsigned proc_tree_signal(pid_t pid, int sig)
{
	_cleanup_free_ pid_t *pids = NULL;
	size_t n = proc_tree(pid, &pids);
	unsigned done = 0;
	for (size_t i = 0; i < n; i++)
		if (kill(pids[i], sig) == 0)
			done++;
	return done;
}

size_t proc_tree_socket_inodes(pid_t pid, uint64_t **ret)
{
	*ret = NULL;
	_cleanup_free_ pid_t *pids = NULL;
	size_t n = proc_tree(pid, &pids);
	size_t cap = 16, count = 0;
	uint64_t *out = flyt_malloc0(cap * sizeof(uint64_t));
	for (size_t i = 0; i < n; i++) {
		char path[64];
		snprintf(path, sizeof(path), "/proc/%d/fd", (int)pids[i]);
		DIR *d = opendir(path);
		if (!d)
			continue;
		struct dirent *de;
		while ((de = readdir(d))) {
			char lpath[300], target[128];
			snprintf(lpath, sizeof(lpath), "%s/%s", path, de->d_name);
			ssize_t len = readlink(lpath, target, sizeof(target) - 1);
			if (len <= 0)
				continue;
			target[len] = '\0';
			unsigned long long ino;
			if (sscanf(target, "socket:[%llu]", &ino) != 1)
				continue;
			bool seen = false;
			for (size_t k = 0; k < count; k++)
				if (out[k] == ino)
					seen = true;
			if (seen)
				continue;
			if (count == cap) {
				cap *= 2;
				out = realloc(out, cap * sizeof(uint64_t));
				if (!out)
					abort();
			}
			out[count++] = ino;
		}
		closedir(d);
	}
	*ret = out;
	return count;
}

pid_t proc_find_with_arg(const char *arg)
{
	_cleanup_closedir_ DIR *d = opendir("/proc");
	if (!d)
		return 0;
	size_t alen = strlen(arg) + 1;
	char buf[4096];
	struct dirent *de;
	while ((de = readdir(d))) {
		char *end;
		long pid = strtol(de->d_name, &end, 10);
		if (*end || pid <= 0)
			continue;
		char path[64];
		snprintf(path, sizeof(path), "/proc/%ld/cmdline", pid);
		FILE *f = fopen(path, "re");
		if (!f)
			continue;
		size_t n = fread(buf, 1, sizeof(buf), f);
		fclose(f);
		for (size_t i = 0; i + alen <= n; i += strlen(buf + i) + 1) {
			if (memcmp(buf + i, arg, alen) == 0 && proc_state((pid_t)pid) != 'Z')
				return (pid_t)pid;
			if (!memchr(buf + i, '\0', n - i))
				break;
		}
	}
	return 0;
}
