/* The process driver: a command run as PID 1 of its own PID and mount namespaces
 * (through flyt-launch), checkpointed and restored with CRIU.
 *
 * Spec: {"cmd": [CMD, ARG...], "env": ["K=V", ...], "cwd": "/abs/dir"}
 *
 * Migration (see migrate.c for the protocol around these slots):
 *   dump        criu dump with flyt-criu-hook as action script; returns once the
 *               images are complete and the workload is frozen in the hook
 *   dump_finish tells the hook "commit" (CRIU kills the frozen workload) or
 *               "resume" (CRIU thaws it, sockets and all)
 *   restore     criu restore --leave-stopped on the target (lazy: with a
 *               lazy-pages daemon fetching memory through the page tunnel)
 *   resume      SIGCONT to the restored tree
 *   discard     SIGKILL to the restored tree */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "agent/agent.h"
#include "agent/criu.h"
#include "agent/proctree.h"
#include "agent/sockkill.h"
#include "lib/cleanup.h"
#include "lib/json.h"
#include "lib/log.h"
#include "lib/net.h"
#include "lib/util.h"

#define STOP_TIMEOUT_MS 10000
#define START_GRACE_MS 100
#define RESTORE_TIMEOUT_MS (10 * 60 * 1000)
#define DUMP_TIMEOUT_MS (30 * 60 * 1000)
#define FILES_EXTERNAL_KEY "flytfiles"

extern char **environ;

static int process_probe(agent_t *a, json_t *caps, flyt_error_t *err)
{
	char reason[300] = "";
	char helper[512];
	if (geteuid() != 0)
		snprintf(reason, sizeof(reason), "flytd is not running as root (namespaces and CRIU need it)");
	else if (!agent_helper_path(a, "flyt-launch", helper, sizeof(helper)))
		snprintf(reason, sizeof(reason), "helper flyt-launch not found next to flytd or in %s", a->libexec_dir);
	else if (!a->criu_ok)
		snprintf(reason, sizeof(reason), "%s", a->criu_reason);
	json_object_set_new(caps, "available", json_boolean(reason[0] == '\0'));
	if (reason[0])
		json_object_set_new(caps, "reason", json_string(reason));
	json_object_set_new(caps, "migration", json_true());
	return 0;
}

static bool env_entry_valid(const char *kv)
{
	const char *eq = strchr(kv, '=');
	if (!eq || eq == kv)
		return false;
	if (!(isalpha((unsigned char)kv[0]) || kv[0] == '_'))
		return false;
	for (const char *p = kv; p < eq; p++)
		if (!(isalnum((unsigned char)*p) || *p == '_'))
			return false;
	return true;
}

static int process_validate(agent_t *a, json_t *spec, flyt_error_t *err)
{
	static const char *const keys[] = { "cmd", "env", "cwd", NULL };
	if (flyt_json_check_keys(spec, "process spec", keys, err) < 0)
		return -1;
	_cleanup_strv_ char **cmd = NULL, **env = NULL;
	if (flyt_json_get_strv(spec, "cmd", true, 256, 4096, &cmd, err) < 0)
		return flyt_error_prefix(err, "process spec");
	if (!cmd[0] || !cmd[0][0])
		return flyt_error_set(err, FLYT_E_INVALID, 0, "process spec: \"cmd\" needs at least the program");
	if (flyt_json_get_strv(spec, "env", false, 256, 8192, &env, err) < 0)
		return flyt_error_prefix(err, "process spec");
	for (char **e = env; e && *e; e++)
		if (!env_entry_valid(*e))
			return flyt_error_set(err, FLYT_E_INVALID, 0,
					      "process spec: environment entry \"%.64s\" is not NAME=VALUE", *e);
	const char *cwd = NULL;
	if (flyt_json_get_string(spec, "cwd", false, 1024, &cwd, err) < 0)
		return flyt_error_prefix(err, "process spec");
	if (cwd && cwd[0] != '/')
		return flyt_error_set(err, FLYT_E_INVALID, 0, "process spec: \"cwd\" must be an absolute path");
	return 0;
}

/* The environment of a workload: a fixed, minimal base plus the spec's entries. */
static char **workload_env(json_t *spec)
{
	char **env = NULL;
	flyt_strv_push(&env, "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");
	flyt_strv_push(&env, "HOME=/root");
	flyt_strv_push(&env, "LANG=C.UTF-8");
	json_t *e = json_object_get(spec, "env");
	size_t i;
	json_t *v;
	json_array_foreach (e, i, v) {
		const char *kv = json_string_value(v);
		size_t klen = (size_t)(strchr(kv, '=') - kv);
		/* later entries replace earlier ones of the same name */
		for (char **p = env; *p; p++)
			if (strncmp(*p, kv, klen + 1) == 0) {
				free(*p);
				*p = flyt_strdup(kv);
				kv = NULL;
				break;
			}
		if (kv)
			flyt_strv_push(&env, kv);
	}
	return env;
}

/* The last non-empty line of the workload's stderr.log (or stdout.log). */
static void last_log_line(workload_t *w, char *out, size_t size)
{
	out[0] = '\0';
	static const char *const logs[] = { "stderr.log", "stdout.log" };
	for (size_t i = 0; i < ELEMENTSOF(logs) && !out[0]; i++) {
		_cleanup_free_ char *path = flyt_asprintf("%s/%s", w->files_dir, logs[i]);
		_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
		if (fd < 0)
			continue;
		char buf[1024];
		off_t end = lseek(fd, 0, SEEK_END);
		off_t start = end > (off_t)sizeof(buf) - 1 ? end - (off_t)sizeof(buf) + 1 : 0;
		ssize_t n = pread(fd, buf, sizeof(buf) - 1, start);
		if (n <= 0)
			continue;
		buf[n] = '\0';
		while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == ' '))
			buf[--n] = '\0';
		char *line = strrchr(buf, '\n');
		snprintf(out, size, "%s", line ? line + 1 : buf);
	}
}

static int process_start(agent_t *a, workload_t *w, flyt_error_t *err)
{
	char helper[512];
	if (!agent_helper_path(a, "flyt-launch", helper, sizeof(helper)))
		return flyt_error_set(err, FLYT_E_UNSUPPORTED, 0, "helper flyt-launch not found");
	if (flyt_mkdir_p(w->files_dir, 0755, err) < 0)
		return -1;
	_cleanup_strv_ char **argv = NULL;
	flyt_strv_push(&argv, helper);
	flyt_strv_push(&argv, "--files");
	flyt_strv_push(&argv, w->files_dir);
	const char *cwd = flyt_json_str(w->spec, "cwd", NULL);
	if (cwd) {
		flyt_strv_push(&argv, "--cwd");
		flyt_strv_push(&argv, cwd);
	}
	flyt_strv_push(&argv, "--");
	size_t i;
	json_t *v;
	json_array_foreach (json_object_get(w->spec, "cmd"), i, v)
		flyt_strv_push(&argv, json_string_value(v));
	_cleanup_strv_ char **env = workload_env(w->spec);

	flyt_spawn_opts_t o = {
		.argv = argv,
		.env = env,
		.out = FLYT_SPAWN_CAPTURE,
		.err = FLYT_SPAWN_CAPTURE,
		.timeout_ms = 30000,
	};
	flyt_spawn_result_t res;
	if (flyt_spawn_run(&o, &res, err) < 0)
		return -1;
	int r = 0;
	uint64_t pid = 0;
	if (res.exit_code != 0) {
		const char *msg = res.err && res.err[0] ? res.err : "flyt-launch failed";
		size_t len = strcspn(msg, "\n");
		r = flyt_error_set(err, FLYT_E_INVALID, 0, "cannot start workload %s: %.*s", w->name, (int)len,
				   flyt_startswith(msg, "flyt-launch: ") ? msg + 13 : msg);
	} else if (!res.out || flyt_parse_u64(strtok(res.out, "\n") ? res.out : "", INT32_MAX, &pid) < 0 || pid == 0) {
		r = flyt_error_set(err, FLYT_E_INTERNAL, 0, "flyt-launch printed no pid");
	}
	flyt_spawn_result_free(&res);
	if (r < 0)
		return r;
	w->pid = (pid_t)pid;
	w->start_ticks = proc_start_ticks(w->pid);
	w->state = WL_RUNNING;
	w->error[0] = '\0';
	/* a command that fails at once (bad option, port taken) is reported here,
	 * not discovered later as a migration that cannot find its process */
	uint64_t until = flyt_now_ms() + START_GRACE_MS;
	while (flyt_now_ms() < until) {
		if (!proc_alive(w->pid, w->start_ticks)) {
			char last[300];
			last_log_line(w, last, sizeof(last));
			w->state = WL_EXITED;
			w->pid = 0;
			return flyt_error_set(err, FLYT_E_INVALID, 0, "workload %s exited right after starting%s%s",
					      w->name, last[0] ? ": " : " (nothing on stderr)", last);
		}
		flyt_sleep_ms(10);
	}
	return 0;
}

/* Waits up to timeout_ms for the workload's root process to be gone. */
static bool wait_gone(workload_t *w, unsigned timeout_ms)
{
	uint64_t deadline = flyt_now_ms() + timeout_ms;
	while (proc_alive(w->pid, w->start_ticks)) {
		if (flyt_now_ms() >= deadline)
			return false;
		flyt_sleep_ms(20);
	}
	return true;
}

static int process_stop(agent_t *a, workload_t *w, flyt_error_t *err)
{
	if (w->pid > 0 && proc_alive(w->pid, w->start_ticks)) {
		/* PID 1 of a namespace only gets the signals it handles: TERM first, then
		 * KILL, which ends the whole namespace */
		kill(w->pid, SIGTERM);
		if (!wait_gone(w, STOP_TIMEOUT_MS)) {
			kill(w->pid, SIGKILL);
			if (!wait_gone(w, 5000))
				return flyt_error_set(err, FLYT_E_TIMEOUT, 0, "workload %s (pid %d) did not stop",
						      w->name, (int)w->pid);
		}
	}
	w->pid = 0;
	w->start_ticks = 0;
	w->state = WL_STOPPED;
	return 0;
}

static int process_destroy(agent_t *a, workload_t *w, flyt_error_t *err)
{
	if (process_stop(a, w, err) < 0)
		return -1;
	return 0;
}

static int process_status(agent_t *a, workload_t *w, json_t *ret, flyt_error_t *err)
{
	bool alive = w->pid > 0 && proc_alive(w->pid, w->start_ticks);
	if (w->state == WL_RUNNING && !alive) {
		w->state = WL_EXITED;
		w->pid = 0;
	}
	json_object_set_new(ret, "pid", alive ? json_integer(w->pid) : json_null());
	if (alive) {
		proc_tree_stats_t st;
		proc_tree_stats(w->pid, &st);
		uint64_t now = flyt_now_ms();
		long hz = sysconf(_SC_CLK_TCK);
		if (w->cpu_sample_ms && now > w->cpu_sample_ms && st.cpu_ticks >= w->cpu_ticks_last)
			w->cpu_percent = 100.0 * (double)(st.cpu_ticks - w->cpu_ticks_last) / (double)hz /
					 ((double)(now - w->cpu_sample_ms) / 1000.0);
		w->cpu_ticks_last = st.cpu_ticks;
		w->cpu_sample_ms = now;
		json_object_set_new(ret, "rss_bytes", json_integer((json_int_t)st.rss_bytes));
		json_object_set_new(ret, "cpu_seconds", json_real((double)st.cpu_ticks / (double)hz));
		json_object_set_new(ret, "cpu_percent", json_real(w->cpu_percent));
		json_object_set_new(ret, "processes", json_integer(st.nprocs));
	}
	return 0;
}

/* ---- migration ---- */

static char **criu_env(migration_t *m)
{
	char **env = NULL;
	for (char **e = environ; *e; e++)
		if (!flyt_startswith(*e, "FLYT_HOOK_"))
			flyt_strv_push(&env, *e);
	_cleanup_free_ char *sock = flyt_asprintf("FLYT_HOOK_SOCKET=%s/hook.sock", m->dir);
	_cleanup_free_ char *dec = flyt_asprintf("FLYT_HOOK_DECISION=%s/decision", m->dir);
	flyt_strv_push(&env, sock);
	flyt_strv_push(&env, dec);
	return env;
}

static int hook_listen(migration_t *m, flyt_error_t *err)
{
	_cleanup_free_ char *path = flyt_asprintf("%s/hook.sock", m->dir);
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	if (strlen(path) >= sizeof(sa.sun_path))
		return flyt_error_set(err, FLYT_E_INVALID, 0, "state directory path too long for a unix socket: %s",
				      path);
	memcpy(sa.sun_path, path, strlen(path) + 1);
	unlink(path);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return flyt_error_set(err, FLYT_E_INTERNAL, errno, "socket");
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(fd, 1) < 0) {
		int e = errno;
		close(fd);
		return flyt_error_set(err, FLYT_E_IO, e, "listen on %s", path);
	}
	chmod(path, 0600);
	m->hook_listen_fd = fd;
	return 0;
}

/* Closes the hook's connection and listener (the hook, if still waiting, then
 * reads the decision file). */
static void close_hook(migration_t *m)
{
	if (m->hook_fd >= 0) {
		close(m->hook_fd);
		m->hook_fd = -1;
	}
	if (m->hook_listen_fd >= 0) {
		close(m->hook_listen_fd);
		m->hook_listen_fd = -1;
	}
}

static void add_common_dump_args(char ***argv, migration_t *m, const char *images, const char *log)
{
	char pid[16];
	snprintf(pid, sizeof(pid), "%d", (int)m->w->pid);
	flyt_strv_push(argv, "-t");
	flyt_strv_push(argv, pid);
	flyt_strv_push(argv, "-D");
	flyt_strv_push(argv, images);
	flyt_strv_push(argv, "-W");
	flyt_strv_push(argv, m->dir);
	flyt_strv_push(argv, "-o");
	flyt_strv_push(argv, log);
	flyt_strv_push(argv, "--external");
	flyt_strv_push(argv, "mnt[" FLYT_WORKLOAD_MOUNT "]:" FILES_EXTERNAL_KEY);
}

static int process_predump(migration_t *m, unsigned round, flyt_error_t *err)
{
	_cleanup_free_ char *images = flyt_asprintf("%s/pre-%u", m->images_dir, round);
	_cleanup_free_ char *log = flyt_asprintf("predump-%u.log", round);
	_cleanup_free_ char *log_path = flyt_asprintf("%s/%s", m->dir, log);
	if (flyt_mkdir_p(images, 0700, err) < 0)
		return -1;
	_cleanup_strv_ char **argv = NULL;
	flyt_strv_push(&argv, "criu");
	flyt_strv_push(&argv, "pre-dump");
	add_common_dump_args(&argv, m, images, log);
	flyt_strv_push(&argv, "--track-mem");
	if (round > 1) {
		_cleanup_free_ char *prev = flyt_asprintf("../pre-%u", round - 1);
		flyt_strv_push(&argv, "--prev-images-dir");
		flyt_strv_push(&argv, prev);
	}
	return criu_run(m->agent->criu, argv, log_path, RESTORE_TIMEOUT_MS, NULL, err);
}

static int process_dump(migration_t *m, flyt_error_t *err)
{
	agent_t *a = m->agent;
	char hook[512];
	if (!agent_helper_path(a, "flyt-criu-hook", hook, sizeof(hook)))
		return flyt_error_set(err, FLYT_E_UNSUPPORTED, 0, "helper flyt-criu-hook not found");
	if (hook_listen(m, err) < 0)
		return -1;
	_cleanup_free_ char *final_dir = flyt_asprintf("%s/final", m->images_dir);
	if (flyt_mkdir_p(final_dir, 0700, err) < 0)
		return -1;
	_cleanup_free_ char *log_path = flyt_asprintf("%s/dump.log", m->dir);
	_cleanup_free_ char *out_path = flyt_asprintf("%s/criu-dump.out", m->dir);
	_cleanup_strv_ char **argv = NULL;
	flyt_strv_push(&argv, "criu");
	flyt_strv_push(&argv, "dump");
	add_common_dump_args(&argv, m, final_dir, "dump.log");
	/* connections come back closed on a host with another address; the
	 * firewall lock is pointless then and would keep peers from being reset */
	flyt_strv_push(&argv, "--tcp-established");
	flyt_strv_push(&argv, "--network-lock");
	flyt_strv_push(&argv, "skip");
	flyt_strv_push(&argv, "--skip-in-flight");
	flyt_strv_push(&argv, "--file-locks");
	flyt_strv_push(&argv, "--action-script");
	flyt_strv_push(&argv, hook);
	if (m->mode == MODE_LAZY) {
		char port[16];
		snprintf(port, sizeof(port), "%u", m->page_server_port);
		flyt_strv_push(&argv, "--lazy-pages");
		/* we kill or thaw it ourselves once the target has (or has not) got
		 * every page: CRIU would kill it whenever its client hangs up */
		flyt_strv_push(&argv, "--leave-stopped");
		flyt_strv_push(&argv, "--address");
		flyt_strv_push(&argv, "127.0.0.1");
		flyt_strv_push(&argv, "--port");
		flyt_strv_push(&argv, port);
	}
	if (m->mode == MODE_PRECOPY && m->precopy_rounds > 0) {
		_cleanup_free_ char *prev = flyt_asprintf("../pre-%u", m->precopy_rounds);
		flyt_strv_push(&argv, "--track-mem");
		flyt_strv_push(&argv, "--prev-images-dir");
		flyt_strv_push(&argv, prev);
	}
	_cleanup_strv_ char **env = criu_env(m);
	m->t_freeze = flyt_now_ms();
	if (criu_start(a->criu, argv, out_path, env, &m->dump_child, err) < 0)
		return -1;
	flyt_error_t rerr = FLYT_ERROR_INIT;
	if (m->mode == MODE_LAZY && migration_record_dump(m, &rerr) < 0)
		log_warn("migration %s: a restarted flytd will not find criu dump: %s", m->id, rerr.msg);

	/* wait for the hook (dump complete, workload frozen) or for criu to end (dump
	 * failed: CRIU has already thawed the workload) */
	uint64_t deadline = flyt_now_ms() + DUMP_TIMEOUT_MS;
	for (;;) {
		if (flyt_now_ms() > deadline) {
			/* a task stuck in the kernel (D state) can hold CRIU forever; when
			 * CRIU dies its tracees are released and run on */
			flyt_child_reap(&m->dump_child);
			close_hook(m);
			return flyt_error_set(err, FLYT_E_TIMEOUT, 0, "criu dump did not finish within %d minutes",
					      DUMP_TIMEOUT_MS / 60000);
		}
		struct pollfd p[2] = {
			{ .fd = m->hook_listen_fd, .events = POLLIN },
			{ .fd = m->dump_child.pidfd, .events = POLLIN },
		};
		int r = poll(p, 2, 1000);
		if (r < 0 && errno != EINTR)
			return flyt_error_set(err, FLYT_E_INTERNAL, errno, "poll");
		if (r > 0 && (p[0].revents & POLLIN)) {
			int fd = accept4(m->hook_listen_fd, NULL, NULL, SOCK_CLOEXEC);
			if (fd < 0)
				continue;
			char line[16] = "";
			flyt_socket_timeouts(fd, 5000);
			ssize_t n = read(fd, line, sizeof(line) - 1);
			if (n >= 6 && strncmp(line, "dumped", 6) == 0) {
				m->hook_fd = fd;
				m->dump_ms = (int64_t)(flyt_now_ms() - m->t_freeze);
				return 0;
			}
			close(fd);
			continue;
		}
		if (r > 0 && (p[1].revents & POLLIN)) {
			flyt_spawn_result_t res;
			close_hook(m);
			if (flyt_child_wait(&m->dump_child, 0, &res, err) < 0)
				return -1;
			return criu_failed("dump", &res, log_path, err);
		}
		/* a cancel waits for the dump to complete; the engine then says resume */
	}
}

/* Resets the frozen copy's TCP connections so its clients learn at once that it
 * is gone (see sockkill.h). */
static void reset_connections(migration_t *m)
{
	if (m->w->pid <= 0)
		return;
	_cleanup_free_ uint64_t *inodes = NULL;
	size_t n = proc_tree_socket_inodes(m->w->pid, &inodes);
	unsigned killed = 0;
	flyt_error_t kerr = FLYT_ERROR_INIT;
	if (sockkill_inodes(inodes, n, &killed, &kerr) < 0)
		log_warn("migration %s: could not reset the source's connections: %s", m->id, kerr.msg);
	else if (killed)
		log_info("migration %s: reset %u client connection(s) of the source copy", m->id, killed);
}

/* Gives the hook its verdict. The engine has recorded the migration's decision
 * first (migration_decide), which the hook reads if flytd is gone before this. */
static void tell_hook(migration_t *m, bool commit)
{
	if (m->hook_fd >= 0) {
		const char *verdict = commit ? "commit\n" : "resume\n";
		if (write(m->hook_fd, verdict, strlen(verdict)) < 0)
			log_warn("migration %s: hook write: %s (the decision file decides)", m->id, strerror(errno));
	}
	close_hook(m);
}

/* Lazy mode: lets CRIU serve the memory pages. The dump runs with --leave-stopped,
 * so the workload stays frozen until dump_finish kills or thaws it. */
static int process_release(migration_t *m, flyt_error_t *err)
{
	tell_hook(m, true);
	return 0;
}

static bool tree_stopped(pid_t pid)
{
	char st = proc_state(pid);
	return st == 'T' || st == 't';
}

/* In lazy mode CRIU serves pages after the post-dump hook even when it said
 * "resume", and ends only once its page server's client is gone: play that
 * client for a moment. */
static void release_page_server(migration_t *m)
{
	uint64_t deadline = flyt_now_ms() + 30000;
	while (flyt_now_ms() < deadline) {
		flyt_error_t err = FLYT_ERROR_INIT;
		int fd = flyt_tcp_connect("127.0.0.1", m->page_server_port, 1000, &err);
		if (fd >= 0) {
			close(fd);
			return;
		}
		if (m->dump_child.pid <= 0 || flyt_child_wait(&m->dump_child, 5, NULL, NULL) != 0)
			return;
	}
}

/* Kills the source copy (PID 1 of its namespace takes the rest with it). */
static int kill_copy(migration_t *m, flyt_error_t *err)
{
	if (m->w->pid <= 0 || !proc_alive(m->w->pid, m->w->start_ticks))
		return 0;
	kill(m->w->pid, SIGKILL);
	uint64_t deadline = flyt_now_ms() + 10000;
	while (proc_alive(m->w->pid, m->w->start_ticks)) {
		if (flyt_now_ms() > deadline)
			return flyt_error_set(err, FLYT_E_TIMEOUT, 0, "the source copy (pid %d) does not die",
					      (int)m->w->pid);
		flyt_sleep_ms(5);
	}
	return 0;
}

/* Waits for criu dump to end; kills it after timeout_ms. Returns its exit code,
 * -1 when it had to be killed. */
static int wait_dump(migration_t *m, unsigned timeout_ms)
{
	if (m->dump_child.pid <= 0)
		return 0;
	flyt_spawn_result_t res;
	int r = flyt_child_wait(&m->dump_child, timeout_ms, &res, NULL);
	if (r == 1)
		return res.exit_code;
	flyt_child_reap(&m->dump_child);
	return -1;
}

/* commit: the source copy must end. Once the hook has been told "commit" there is
 * no way back, so whatever CRIU does, the copy is killed here; an error means it
 * is still alive. !commit: the copy must run again, connections and all where
 * CRIU can give them back. */
static int process_dump_finish(migration_t *m, bool commit, flyt_error_t *err)
{
	if (commit) {
		if (m->pages_released) {
			/* every page has arrived; CRIU ends when its client hangs up */
			reset_connections(m);
			if (kill_copy(m, err) < 0)
				return -1;
			if (wait_dump(m, 60000) != 0)
				log_warn("migration %s: criu dump did not end cleanly after the pages", m->id);
			return 0;
		}
		reset_connections(m);
		tell_hook(m, true);
		if (wait_dump(m, 60000) != 0)
			log_warn("migration %s: criu dump failed after the commit; killing the source copy", m->id);
		return kill_copy(m, err);
	}
	if (m->mode == MODE_LAZY) {
		/* CRIU ends when its page-server client is gone (even after a
		 * "resume" verdict, before the pages were released), leaving the tree
		 * stopped with its connections in repair mode: reset those (clients
		 * reconnect) and thaw it */
		if (!m->pages_released)
			tell_hook(m, false);
		if (m->dump_child.pid > 0)
			release_page_server(m);
		wait_dump(m, 60000);
		reset_connections(m);
		if (tree_stopped(m->w->pid)) {
			proc_tree_signal(m->w->pid, SIGCONT);
			uint64_t deadline = flyt_now_ms() + 5000;
			while (tree_stopped(m->w->pid) && flyt_now_ms() < deadline)
				flyt_sleep_ms(2);
		}
	} else {
		tell_hook(m, false);
		if (wait_dump(m, 60000) < 0)
			log_warn("migration %s: criu dump had to be killed after the resume verdict", m->id);
	}
	/* make sure the workload really runs again */
	char st = proc_state(m->w->pid);
	if (!proc_alive(m->w->pid, m->w->start_ticks) || st == 'T' || st == 't')
		return flyt_error_set(err, FLYT_E_INTERNAL, 0, "the workload did not resume on the source (state %c)",
				      st ? st : '-');
	return 0;
}

static int start_lazy_daemon(migration_t *m, const char *images, flyt_error_t *err)
{
	_cleanup_free_ char *out = flyt_asprintf("%s/criu-lazy.out", m->dir);
	_cleanup_free_ char *log = flyt_asprintf("%s/lazy-pages.log", m->dir);
	return criu_lazy_pages_start(m->agent->criu, m->tunnel_port, images, m->dir, "lazy-pages.log", log, out,
				     &m->lazy_child, err);
}

static int process_restore(migration_t *m, flyt_error_t *err)
{
	agent_t *a = m->agent;
	_cleanup_free_ char *images = flyt_asprintf("%s/final", m->images_dir);
	_cleanup_free_ char *pidfile = flyt_asprintf("%s/restored.pid", m->dir);
	_cleanup_free_ char *log_path = flyt_asprintf("%s/restore.log", m->dir);
	_cleanup_free_ char *ext = flyt_asprintf("mnt[" FILES_EXTERNAL_KEY "]:%s", m->w->files_dir);
	unlink(pidfile);
	if (m->mode == MODE_LAZY && start_lazy_daemon(m, images, err) < 0)
		return -1;

	_cleanup_strv_ char **argv = NULL;
	flyt_strv_push(&argv, "criu");
	flyt_strv_push(&argv, "restore");
	flyt_strv_push(&argv, "-D");
	flyt_strv_push(&argv, images);
	flyt_strv_push(&argv, "-W");
	flyt_strv_push(&argv, m->dir);
	flyt_strv_push(&argv, "-o");
	flyt_strv_push(&argv, "restore.log");
	/* without --root CRIU 4.2 trips over the workload's mount namespace */
	flyt_strv_push(&argv, "--root");
	flyt_strv_push(&argv, "/");
	flyt_strv_push(&argv, "--restore-detached");
	flyt_strv_push(&argv, "--leave-stopped");
	flyt_strv_push(&argv, "--tcp-close");
	flyt_strv_push(&argv, "--file-locks");
	flyt_strv_push(&argv, "--pidfile");
	flyt_strv_push(&argv, pidfile);
	flyt_strv_push(&argv, "--external");
	flyt_strv_push(&argv, ext);
	if (m->mode == MODE_LAZY)
		flyt_strv_push(&argv, "--lazy-pages");
	uint64_t t0 = flyt_now_ms();
	if (criu_run(a->criu, argv, log_path, RESTORE_TIMEOUT_MS, NULL, err) < 0) {
		if (m->lazy_child.pid > 0)
			flyt_child_reap(&m->lazy_child);
		return -1;
	}
	m->restore_ms = (int64_t)(flyt_now_ms() - t0);
	_cleanup_free_ char *text = NULL;
	uint64_t pid = 0;
	if (flyt_read_file(pidfile, 64, &text, NULL, err) < 0 ||
	    flyt_parse_u64(strtok(text, "\n") ? text : "", INT32_MAX, &pid) < 0 || pid == 0) {
		if (m->lazy_child.pid > 0)
			flyt_child_reap(&m->lazy_child);
		return flyt_error_set(err, FLYT_E_INTERNAL, 0, "criu restore wrote no usable pid file");
	}
	m->restored_pid = (pid_t)pid;
	return 0;
}

static int process_resume(migration_t *m, flyt_error_t *err)
{
	pid_t pid = m->restored_pid;
	if (pid <= 0 || proc_state(pid) == 0)
		return flyt_error_set(err, FLYT_E_INTERNAL, 0, "the restored workload is gone");
	proc_tree_signal(pid, SIGCONT);
	uint64_t deadline = flyt_now_ms() + 5000;
	for (;;) {
		char st = proc_state(pid);
		if (st == 0 || st == 'Z')
			return flyt_error_set(err, FLYT_E_INTERNAL, 0,
					      "the restored workload exited right after resuming");
		if (st != 'T' && st != 't')
			break;
		if (flyt_now_ms() >= deadline)
			return flyt_error_set(err, FLYT_E_TIMEOUT, 0, "the restored workload stays stopped");
		flyt_sleep_ms(2);
	}
	m->w->pid = pid;
	m->w->start_ticks = proc_start_ticks(pid);
	return 0;
}

static int process_discard(migration_t *m, flyt_error_t *err)
{
	if (m->restored_pid > 0 && proc_state(m->restored_pid) != 0) {
		uint64_t ticks = proc_start_ticks(m->restored_pid);
		kill(m->restored_pid, SIGKILL);
		uint64_t deadline = flyt_now_ms() + 5000;
		while (proc_alive(m->restored_pid, ticks) && flyt_now_ms() < deadline)
			flyt_sleep_ms(10);
	}
	if (m->lazy_child.pid > 0)
		flyt_child_reap(&m->lazy_child);
	m->restored_pid = 0;
	return 0;
}

const driver_t driver_process = {
	.kind = "process",
	.probe = process_probe,
	.validate = process_validate,
	.start = process_start,
	.stop = process_stop,
	.destroy = process_destroy,
	.status = process_status,
	.predump = process_predump,
	.dump = process_dump,
	.release = process_release,
	.dump_finish = process_dump_finish,
	.restore = process_restore,
	.resume = process_resume,
	.discard = process_discard,
};
