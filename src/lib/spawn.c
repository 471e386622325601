/* Child processes through posix_spawn, with timeouts and bounded capture. */
#include "spawn.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cleanup.h"
#include "util.h"

extern char **environ;

static int pidfd_open_(pid_t pid)
{
	return (int)syscall(SYS_pidfd_open, pid, 0);
}

static void posix_spawn_file_actions_destroyp(posix_spawn_file_actions_t **fa)
{
	if (*fa)
		posix_spawn_file_actions_destroy(*fa);
}

/* Arranges descriptor target of the child; for capture, pipefds[0] gets the read end
 * (kept by the parent) and pipefds[1] the write end (closed after the spawn). */
static int setup_stream(posix_spawn_file_actions_t *fa, int target, flyt_spawn_out_t mode, const char *path,
			int pipefds[2], flyt_error_t *err)
{
	switch (mode) {
	case FLYT_SPAWN_NULL:
		posix_spawn_file_actions_addopen(fa, target, "/dev/null", O_WRONLY, 0);
		return 0;
	case FLYT_SPAWN_FILE:
		if (!path)
			return flyt_error_set(err, FLYT_E_INTERNAL, 0, "spawn: file output without a path");
		posix_spawn_file_actions_addopen(fa, target, path, O_WRONLY | O_CREAT | O_APPEND, 0600);
		return 0;
	case FLYT_SPAWN_CAPTURE: {
		int p[2];
		if (pipe2(p, O_CLOEXEC) < 0)
			return flyt_error_set(err, FLYT_E_INTERNAL, errno, "pipe");
		posix_spawn_file_actions_adddup2(fa, p[1], target);
		pipefds[0] = p[0];
		pipefds[1] = p[1];
		return 0;
	}
	case FLYT_SPAWN_INHERIT:
		return 0;
	}
	return 0;
}

static int spawn_common(const flyt_spawn_opts_t *o, flyt_child_t *child, flyt_error_t *err)
{
	if (!o->argv || !o->argv[0])
		return flyt_error_set(err, FLYT_E_INTERNAL, 0, "spawn: empty argv");

	posix_spawn_file_actions_t fa_storage;
	if (posix_spawn_file_actions_init(&fa_storage) != 0)
		return flyt_error_set(err, FLYT_E_INTERNAL, ENOMEM, "spawn");
	_cleanup_(posix_spawn_file_actions_destroyp) posix_spawn_file_actions_t *fa = &fa_storage;

	int outp[2] = { -1, -1 }, errp[2] = { -1, -1 };
	posix_spawn_file_actions_addopen(fa, 0, "/dev/null", O_RDONLY, 0);
	if (setup_stream(fa, 1, o->out, o->out_path, outp, err) < 0 ||
	    setup_stream(fa, 2, o->err, o->err_path, errp, err) < 0) {
		for (int i = 0; i < 2; i++) {
			if (outp[i] >= 0)
				close(outp[i]);
			if (errp[i] >= 0)
				close(errp[i]);
		}
		return -1;
	}
	/* Descriptors to hand over keep their numbers: dup2 onto themselves clears
	 * FD_CLOEXEC in the child. */
	int highest = 2;
	for (int i = 0; i < o->npass_fds; i++) {
		posix_spawn_file_actions_adddup2(fa, o->pass_fds[i], o->pass_fds[i]);
		if (o->pass_fds[i] > highest)
			highest = o->pass_fds[i];
	}
	for (int fd = 3; fd < highest; fd++) {
		bool passed = false;
		for (int i = 0; i < o->npass_fds; i++)
			passed |= o->pass_fds[i] == fd;
		if (!passed)
			posix_spawn_file_actions_addclose(fa, fd);
	}
	posix_spawn_file_actions_addclosefrom_np(fa, highest + 1);
	if (o->cwd)
		posix_spawn_file_actions_addchdir_np(fa, o->cwd);

	posix_spawnattr_t attr;
	posix_spawnattr_init(&attr);
	sigset_t none, all;
	sigemptyset(&none);
	sigfillset(&all);
	posix_spawnattr_setsigmask(&attr, &none);
	posix_spawnattr_setsigdefault(&attr, &all);
	posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSID | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);

	pid_t pid;
	int rc = posix_spawnp(&pid, o->argv[0], fa, &attr, o->argv, o->env ? o->env : environ);
	posix_spawnattr_destroy(&attr);
	if (outp[1] >= 0)
		close(outp[1]);
	if (errp[1] >= 0)
		close(errp[1]);
	if (rc != 0) {
		if (outp[0] >= 0)
			close(outp[0]);
		if (errp[0] >= 0)
			close(errp[0]);
		return flyt_error_set(err, rc == ENOENT ? FLYT_E_NOT_FOUND : FLYT_E_INTERNAL, rc, "cannot run %s",
				      o->argv[0]);
	}
	child->pid = pid;
	child->pidfd = pidfd_open_(pid);
	child->out_fd = outp[0];
	child->err_fd = errp[0];
	return 0;
}

int flyt_spawn_start(const flyt_spawn_opts_t *o, flyt_child_t *child, flyt_error_t *err)
{
	if (o->out == FLYT_SPAWN_CAPTURE || o->err == FLYT_SPAWN_CAPTURE)
		return flyt_error_set(err, FLYT_E_INTERNAL, 0, "spawn_start: capture needs spawn_run");
	return spawn_common(o, child, err);
}

static void fill_status(int status, flyt_spawn_result_t *res)
{
	if (WIFEXITED(status)) {
		res->exit_code = WEXITSTATUS(status);
		res->signal = 0;
	} else if (WIFSIGNALED(status)) {
		res->exit_code = -1;
		res->signal = WTERMSIG(status);
	}
}

static void child_release(flyt_child_t *child)
{
	if (child->pidfd >= 0)
		close(child->pidfd);
	if (child->out_fd >= 0)
		close(child->out_fd);
	if (child->err_fd >= 0)
		close(child->err_fd);
	child->pidfd = child->out_fd = child->err_fd = -1;
	child->pid = 0;
}

int flyt_child_wait(flyt_child_t *child, unsigned timeout_ms, flyt_spawn_result_t *res, flyt_error_t *err)
{
	if (child->pid <= 0)
		return flyt_error_set(err, FLYT_E_INTERNAL, 0, "wait: no child");
	if (child->pidfd >= 0) {
		struct pollfd p = { .fd = child->pidfd, .events = POLLIN };
		int r;
		do
			r = poll(&p, 1, timeout_ms ? (int)timeout_ms : -1);
		while (r < 0 && errno == EINTR);
		if (r == 0)
			return 0;
	}
	int status;
	pid_t w;
	do
		w = waitpid(child->pid, &status, 0);
	while (w < 0 && errno == EINTR);
	if (w < 0)
		return flyt_error_set(err, FLYT_E_INTERNAL, errno, "waitpid %d", (int)child->pid);
	if (res) {
		memset(res, 0, sizeof(*res));
		fill_status(status, res);
	}
	child_release(child);
	return 1;
}

void flyt_child_kill(flyt_child_t *child, int sig)
{
	if (child->pid > 0) {
		kill(-child->pid, sig);
		kill(child->pid, sig);
	}
}

void flyt_child_reap(flyt_child_t *child)
{
	if (child->pid <= 0)
		return;
	flyt_child_kill(child, SIGKILL);
	int status;
	while (waitpid(child->pid, &status, 0) < 0 && errno == EINTR)
		;
	child_release(child);
}

typedef struct {
	int fd;
	char *buf;
	size_t len, max;
} capture_t;

static void capture_read(capture_t *c)
{
	char tmp[4096];
	ssize_t n = read(c->fd, tmp, sizeof(tmp));
	if (n <= 0) {
		if (n == 0 || (errno != EINTR && errno != EAGAIN)) {
			close(c->fd);
			c->fd = -1;
		}
		return;
	}
	/* keep the tail: the end of stderr says why a program failed */
	size_t keep = (size_t)n;
	if (c->len + keep > c->max) {
		size_t drop = c->len + keep - c->max;
		if (drop >= c->len) {
			c->len = 0;
			if (keep > c->max) {
				memmove(tmp, tmp + (keep - c->max), c->max);
				keep = c->max;
			}
		} else {
			memmove(c->buf, c->buf + drop, c->len - drop);
			c->len -= drop;
		}
	}
	memcpy(c->buf + c->len, tmp, keep);
	c->len += keep;
	c->buf[c->len] = '\0';
}

int flyt_spawn_run(const flyt_spawn_opts_t *o, flyt_spawn_result_t *res, flyt_error_t *err)
{
	memset(res, 0, sizeof(*res));
	flyt_child_t child = { .pidfd = -1, .out_fd = -1, .err_fd = -1 };
	if (spawn_common(o, &child, err) < 0)
		return -1;
	size_t max = o->capture_max ? o->capture_max : 64 * 1024;
	capture_t caps[2] = { { .fd = child.out_fd, .max = max }, { .fd = child.err_fd, .max = max } };
	child.out_fd = child.err_fd = -1; /* owned by caps now */
	for (int i = 0; i < 2; i++)
		if (caps[i].fd >= 0)
			caps[i].buf = flyt_malloc0(max + 1);

	uint64_t deadline = o->timeout_ms ? flyt_now_ms() + o->timeout_ms : 0;
	bool exited = false;
	while (!exited || caps[0].fd >= 0 || caps[1].fd >= 0) {
		struct pollfd p[3];
		int np = 0, idx[3];
		for (int i = 0; i < 2; i++)
			if (caps[i].fd >= 0) {
				p[np] = (struct pollfd){ .fd = caps[i].fd, .events = POLLIN };
				idx[np++] = i;
			}
		if (!exited && child.pidfd >= 0) {
			p[np] = (struct pollfd){ .fd = child.pidfd, .events = POLLIN };
			idx[np++] = 2;
		}
		int wait_ms = -1;
		if (deadline) {
			uint64_t now = flyt_now_ms();
			wait_ms = now >= deadline ? 0 : (int)(deadline - now);
		}
		if (np == 0) {
			break;
		}
		int r = poll(p, (nfds_t)np, wait_ms);
		if (r < 0 && errno == EINTR)
			continue;
		if (r == 0) {
			if (res->timed_out) {
				/* killed, yet something (a descendant in another session)
				 * keeps the pipes open: stop reading them */
				for (int i = 0; i < 2; i++)
					if (caps[i].fd >= 0) {
						close(caps[i].fd);
						caps[i].fd = -1;
					}
				continue;
			}
			/* deadline: kill the whole group, then collect what is left */
			res->timed_out = true;
			flyt_child_kill(&child, SIGKILL);
			deadline = flyt_now_ms() + 2000;
			continue;
		}
		for (int k = 0; k < np; k++) {
			if (!p[k].revents)
				continue;
			if (idx[k] == 2)
				exited = true;
			else
				capture_read(&caps[idx[k]]);
		}
	}
	flyt_spawn_result_t st;
	if (flyt_child_wait(&child, 0, &st, err) < 0) {
		free(caps[0].buf);
		free(caps[1].buf);
		return -1;
	}
	res->exit_code = st.exit_code;
	res->signal = st.signal;
	res->out = caps[0].buf;
	res->err = caps[1].buf;
	return 0;
}

void flyt_spawn_result_free(flyt_spawn_result_t *res)
{
	free(res->out);
	free(res->err);
	res->out = res->err = NULL;
}

void flyt_spawn_describe(const flyt_spawn_result_t *res, char *buf, size_t size)
{
	char how[64];
	if (res->timed_out)
		snprintf(how, sizeof(how), "timed out and was killed");
	else if (res->signal)
		snprintf(how, sizeof(how), "was killed by signal %d", res->signal);
	else
		snprintf(how, sizeof(how), "exited with status %d", res->exit_code);
	/* the last non-empty line of stderr, trimmed */
	const char *text = res->err && res->err[0] ? res->err : res->out;
	char last[512] = "";
	if (text) {
		size_t len = strlen(text);
		while (len > 0 && (text[len - 1] == '\n' || text[len - 1] == ' '))
			len--;
		size_t start = len;
		while (start > 0 && text[start - 1] != '\n')
			start--;
		size_t n = len - start < sizeof(last) - 1 ? len - start : sizeof(last) - 1;
		memcpy(last, text + start, n);
		last[n] = '\0';
	}
	if (last[0])
		snprintf(buf, size, "%s: %s", how, last);
	else
		snprintf(buf, size, "%s", how);
}

int flyt_spawn_tool(const char *const *args, unsigned timeout_ms, flyt_error_t *err)
{
	_cleanup_strv_ char **argv = NULL;
	for (const char *const *p = args; *p; p++)
		flyt_strv_push(&argv, *p);
	flyt_spawn_opts_t o = {
		.argv = argv,
		.out = FLYT_SPAWN_NULL,
		.err = FLYT_SPAWN_CAPTURE,
		.timeout_ms = timeout_ms,
	};
	flyt_spawn_result_t res;
	if (flyt_spawn_run(&o, &res, err) < 0)
		return flyt_error_prefix(err, "%s", argv[0]);
	int r = 0;
	if (res.exit_code != 0) {
		char how[512];
		flyt_spawn_describe(&res, how, sizeof(how));
		r = flyt_error_set(err, FLYT_E_IO, 0, "%s %s", argv[0], how);
	}
	flyt_spawn_result_free(&res);
	return r;
}
