/* The runc driver: an OCI bundle run by runc (flytd --runc PATH), checkpointed and
 * restored with CRIU through runc's own checkpoint and restore.
 *
 * Spec, one of:
 *   {"bundle": "/abs/dir"}                       an existing bundle (config.json
 *                                                 and the root file system it names)
 *   {"rootfs": "/abs/file.tar", "cmd": [...],     a root file system tarball that
 *    "env": ["K=V"...], "cwd": "/dir"}            flyt unpacks and writes a
 *                                                 config.json for (host network,
 *                                                 own pid/mount/ipc/uts namespaces)
 * The paths are read on the agent's host; they are checked (absolute, no "..",
 * no symbolic link) and only read. flyt runs the container from its own bundle,
 * STATE/workloads/NAME/bundle: config.json (a copy of the given one with an
 * absolute root path and a cgroup path of this host's) and, for a tarball, the
 * unpacked rootfs. The container's id is the workload's name, in a runc state
 * directory of this agent's own (STATE/runc), its stdio is /dev/null and runc's
 * messages go to STATE/workloads/NAME/runc.log.
 *
 * config.json names, as annotation org.criu.config, a CRIU configuration file of
 * flyt's, STATE/workloads/NAME/criu.conf, which runc hands to CRIU: it keeps the
 * page server of a lazy checkpoint on the loopback (CRIU 4.2.1 ignores the
 * address runc gives it over RPC with --lazy-pages and listens on every address).
 * A bundle that names a configuration of its own keeps it, and cannot go lazy.
 *
 * Migration (stop-copy, shared, lazy):
 *   dump        runc pause, then runc checkpoint --leave-running: CRIU puts the
 *               freezer back, so the container stays frozen. The root file system
 *               goes to images/final/rootfs.tar (owners, modes, devices) unless it
 *               lies in a --shared-dir, where the target finds it at the same path.
 *               Lazy: the checkpoint (--lazy-pages --page-server 127.0.0.1:PORT)
 *               runs on in the background: once runc writes to --status-fd the
 *               images are complete (without the memory pages) and CRIU serves
 *               the pages on PORT until its one client, flyt's page tunnel, is gone
 *   release     lazy: nothing (the page server listens since the dump; the tunnel
 *               connects to it only now)
 *   dump_finish commit: runc kill KILL and runc delete (the frozen copy dies
 *               without running again); otherwise runc resume. Lazy: first the
 *               checkpoint must end (on commit it does once every page is sent;
 *               otherwise flyt plays its page server's client for a moment)
 *   restore     target: unpacks the root file system into its bundle and writes
 *               config.json for this host; it does not run it. Lazy: starts
 *               criu lazy-pages, which fetches the pages through the tunnel.
 *               Source (a failed switch-over): nothing to prepare
 *   resume      runc restore --detach from images/final/checkpoint (lazy: with
 *               --lazy-pages, the container running while its memory arrives);
 *               restore_ms is its duration
 *   discard     runc kill and delete of what resume created (and the lazy-pages
 *               daemon) */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <mntent.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent/agent.h"
#include "agent/container.h"
#include "agent/criu.h"
#include "agent/proctree.h"
#include "lib/cleanup.h"
#include "lib/crc32c.h"
#include "lib/json.h"
#include "lib/log.h"
#include "lib/net.h"
#include "lib/util.h"

#define RUNC_TIMEOUT_MS (10 * 60 * 1000)
#define STOP_TIMEOUT_MS 10000
#define CRIU_CONFIG_ANNOTATION "org.criu.config"

/* The config.json flyt writes for a rootfs tarball: runc spec's defaults, no
 * terminal, a writable root, the host's network namespace. */
static const char config_template[] =
    "{\"ociVersion\":\"1.0.2\",\"process\":{\"terminal\":false,\"user\":{\"uid\":0,\"gid\":0},\"args\":[],"
    "\"env\":[],\"cwd\":\"/\",\"capabilities\":{"
    "\"bounding\":[\"CAP_AUDIT_WRITE\",\"CAP_KILL\",\"CAP_NET_BIND_SERVICE\"],"
    "\"effective\":[\"CAP_AUDIT_WRITE\",\"CAP_KILL\",\"CAP_NET_BIND_SERVICE\"],"
    "\"permitted\":[\"CAP_AUDIT_WRITE\",\"CAP_KILL\",\"CAP_NET_BIND_SERVICE\"],"
    "\"ambient\":[\"CAP_AUDIT_WRITE\",\"CAP_KILL\",\"CAP_NET_BIND_SERVICE\"]},"
    "\"rlimits\":[{\"type\":\"RLIMIT_NOFILE\",\"hard\":1024,\"soft\":1024}],\"noNewPrivileges\":true},"
    "\"root\":{\"path\":\"rootfs\",\"readonly\":false},\"hostname\":\"runc\",\"mounts\":["
    "{\"destination\":\"/proc\",\"type\":\"proc\",\"source\":\"proc\"},"
    "{\"destination\":\"/dev\",\"type\":\"tmpfs\",\"source\":\"tmpfs\",\"options\":[\"nosuid\",\"strictatime\","
    "\"mode=755\",\"size=65536k\"]},"
    "{\"destination\":\"/dev/pts\",\"type\":\"devpts\",\"source\":\"devpts\",\"options\":[\"nosuid\",\"noexec\","
    "\"newinstance\",\"ptmxmode=0666\",\"mode=0620\",\"gid=5\"]},"
    "{\"destination\":\"/dev/shm\",\"type\":\"tmpfs\",\"source\":\"shm\",\"options\":[\"nosuid\",\"noexec\","
    "\"nodev\",\"mode=1777\",\"size=65536k\"]},"
    "{\"destination\":\"/dev/mqueue\",\"type\":\"mqueue\",\"source\":\"mqueue\",\"options\":[\"nosuid\","
    "\"noexec\",\"nodev\"]},"
    "{\"destination\":\"/sys\",\"type\":\"sysfs\",\"source\":\"sysfs\",\"options\":[\"nosuid\",\"noexec\","
    "\"nodev\",\"ro\"]},"
    "{\"destination\":\"/sys/fs/cgroup\",\"type\":\"cgroup\",\"source\":\"cgroup\",\"options\":[\"nosuid\","
    "\"noexec\",\"nodev\",\"relatime\",\"ro\"]}],"
    "\"linux\":{\"resources\":{\"devices\":[{\"allow\":false,\"access\":\"rwm\"}]},"
    "\"namespaces\":[{\"type\":\"pid\"},{\"type\":\"ipc\"},{\"type\":\"uts\"},{\"type\":\"mount\"}],"
    "\"maskedPaths\":[\"/proc/acpi\",\"/proc/asound\",\"/proc/kcore\",\"/proc/keys\",\"/proc/latency_stats\","
    "\"/proc/timer_list\",\"/proc/timer_stats\",\"/proc/sched_debug\",\"/sys/firmware\",\"/proc/scsi\"],"
    "\"readonlyPaths\":[\"/proc/bus\",\"/proc/fs\",\"/proc/irq\",\"/proc/sys\",\"/proc/sysrq-trigger\"]}}";

static const char *runc_bin(agent_t *a)
{
	return a->runc ? a->runc : "runc";
}

static char *bundle_dir(workload_t *w)
{
	return flyt_asprintf("%s/bundle", w->dir);
}

/* runc --root STATE/runc --log W/runc.log ARGS... */
static char **runc_argv(agent_t *a, workload_t *w, const char *const *args)
{
	_cleanup_free_ char *root = flyt_asprintf("%s/runc", a->state_dir);
	_cleanup_free_ char *log = flyt_asprintf("%s/runc.log", w->dir);
	char **argv = NULL;
	flyt_strv_push(&argv, runc_bin(a));
	flyt_strv_push(&argv, "--root");
	flyt_strv_push(&argv, root);
	flyt_strv_push(&argv, "--log");
	flyt_strv_push(&argv, log);
	for (const char *const *p = args; *p; p++)
		flyt_strv_push(&argv, *p);
	return argv;
}

/* How runc ARGS[0] failed: res and runc's story, the last line of its log. */
static int runc_failed(workload_t *w, const char *const *args, const flyt_spawn_result_t *res, flyt_error_t *err)
{
	_cleanup_free_ char *log = flyt_asprintf("%s/runc.log", w->dir);
	_cleanup_free_ char *text = NULL;
	char last[400] = "";
	if (flyt_read_file(log, 4 * 1024 * 1024, &text, NULL, NULL) == 0) {
		size_t n = strlen(text);
		while (n > 0 && text[n - 1] == '\n')
			text[--n] = '\0';
		char *nl = strrchr(text, '\n');
		snprintf(last, sizeof(last), "%s", nl ? nl + 1 : text);
	}
	char how[256];
	flyt_spawn_describe(res, how, sizeof(how));
	return flyt_error_set(err, FLYT_E_IO, 0, "runc %s %s%s%s (log: %s)", args[0], how, last[0] ? ": " : "", last,
			      log);
}

/* Runs runc ARGS... (runc_argv) with stdio on /dev/null (the container inherits
 * it). */
static int runc_run(agent_t *a, workload_t *w, const char *const *args, flyt_error_t *err)
{
	_cleanup_strv_ char **argv = runc_argv(a, w, args);
	flyt_spawn_opts_t o = {
		.argv = argv, .out = FLYT_SPAWN_NULL, .err = FLYT_SPAWN_NULL, .timeout_ms = RUNC_TIMEOUT_MS
	};
	flyt_spawn_result_t res;
	if (flyt_spawn_run(&o, &res, err) < 0)
		return flyt_error_prefix(err, "runc");
	int r = res.exit_code != 0 ? runc_failed(w, args, &res, err) : 0;
	flyt_spawn_result_free(&res);
	return r;
}

static int runc_probe(agent_t *a, json_t *caps, flyt_error_t *err)
{
	static char version[64];
	static bool probed;
	char reason[300] = "";
	if (!probed) {
		char *argv[] = { (char *)runc_bin(a), (char *)"--version", NULL };
		flyt_spawn_opts_t o = {
			.argv = argv, .out = FLYT_SPAWN_CAPTURE, .err = FLYT_SPAWN_NULL, .timeout_ms = 10000
		};
		flyt_spawn_result_t res;
		flyt_error_t e = FLYT_ERROR_INIT;
		if (flyt_spawn_run(&o, &res, &e) == 0) {
			if (res.exit_code == 0 && res.out && sscanf(res.out, "runc version %63s", version) == 1)
				probed = true;
			flyt_spawn_result_free(&res);
		}
	}
	if (geteuid() != 0)
		snprintf(reason, sizeof(reason), "flytd is not running as root");
	else if (!probed)
		snprintf(reason, sizeof(reason), "runc not found or not working (%s; flytd --runc PATH)", runc_bin(a));
	else if (!a->criu_ok)
		snprintf(reason, sizeof(reason), "%s", a->criu_reason);
	json_object_set_new(caps, "available", json_boolean(!reason[0]));
	if (reason[0])
		json_object_set_new(caps, "reason", json_string(reason));
	if (probed)
		json_object_set_new(caps, "version", json_string(version));
	json_object_set_new(caps, "migration", json_true());
	json_object_set_new(caps, "modes", json_pack("[s,s,s]", "stop-copy", "shared", "lazy"));
	return 0;
}

static bool env_entry_valid(const char *kv)
{
	const char *eq = strchr(kv, '=');
	if (!eq || eq == kv || !(isalpha((unsigned char)kv[0]) || kv[0] == '_'))
		return false;
	for (const char *p = kv; p < eq; p++)
		if (!(isalnum((unsigned char)*p) || *p == '_'))
			return false;
	return true;
}

static int runc_validate(agent_t *a, json_t *spec, flyt_error_t *err)
{
	static const char *const keys[] = { "bundle", "rootfs", "cmd", "env", "cwd", NULL };
	if (flyt_json_check_keys(spec, "runc spec", keys, err) < 0)
		return -1;
	const char *bundle = NULL, *rootfs = NULL, *cwd = NULL;
	_cleanup_strv_ char **cmd = NULL, **env = NULL;
	if (flyt_json_get_string(spec, "bundle", false, 1024, &bundle, err) < 0 ||
	    flyt_json_get_string(spec, "rootfs", false, 1024, &rootfs, err) < 0 ||
	    flyt_json_get_strv(spec, "cmd", false, 256, 4096, &cmd, err) < 0 ||
	    flyt_json_get_strv(spec, "env", false, 256, 8192, &env, err) < 0 ||
	    flyt_json_get_string(spec, "cwd", false, 1024, &cwd, err) < 0)
		return flyt_error_prefix(err, "runc spec");
	if (!bundle == !rootfs)
		return flyt_error_set(err, FLYT_E_INVALID, 0, "runc spec: give either \"bundle\" or \"rootfs\"");
	if (bundle && (cmd || env || cwd))
		return flyt_error_set(
		    err, FLYT_E_INVALID, 0,
		    "runc spec: a bundle's config.json says what runs; \"cmd\", \"env\" and \"cwd\" go with \"rootfs\"");
	if (rootfs && (!cmd || !cmd[0] || !cmd[0][0]))
		return flyt_error_set(err, FLYT_E_INVALID, 0,
				      "runc spec: \"rootfs\" needs \"cmd\", the command to run");
	for (char **e = env; e && *e; e++)
		if (!env_entry_valid(*e))
			return flyt_error_set(err, FLYT_E_INVALID, 0,
					      "runc spec: environment entry \"%.64s\" is not NAME=VALUE", *e);
	if (cwd && cwd[0] != '/')
		return flyt_error_set(err, FLYT_E_INVALID, 0, "runc spec: \"cwd\" must be an absolute path");
	/* the paths are checked where they are read (start), on the host that runs it:
	 * a migrated workload's spec names paths of its first host */
	if (bundle && (bundle[0] != '/' || (strcmp(bundle, "/") != 0 && !flyt_relpath_valid(bundle + 1))))
		return flyt_error_set(err, FLYT_E_INVALID, 0, "runc spec: \"bundle\" must be a clean absolute path");
	if (rootfs && (rootfs[0] != '/' || !flyt_relpath_valid(rootfs + 1)))
		return flyt_error_set(err, FLYT_E_INVALID, 0, "runc spec: \"rootfs\" must be a clean absolute path");
	return 0;
}

static char *criu_conf_path(workload_t *w)
{
	return flyt_asprintf("%s/criu.conf", w->dir);
}

/* Sets root.path (absolute), linux.cgroupsPath (this host's) and, unless the
 * bundle names a CRIU configuration of its own, flyt's (written here) in cfg. */
static int config_for_host(agent_t *a, workload_t *w, json_t *cfg, const char *root_path, flyt_error_t *err)
{
	json_t *root = json_object_get(cfg, "root");
	if (!json_is_object(root)) {
		root = json_object();
		json_object_set_new(cfg, "root", root);
	}
	json_object_set_new(root, "path", json_string(root_path));
	json_t *linux_ = json_object_get(cfg, "linux");
	if (!json_is_object(linux_)) {
		linux_ = json_object();
		json_object_set_new(cfg, "linux", linux_);
	}
	/* unique per agent (several agents may share a machine's cgroups) */
	_cleanup_free_ char *cg =
	    flyt_asprintf("/flyt/%s-%08x/%s", a->name, flyt_crc32c(0, a->state_dir, strlen(a->state_dir)), w->name);
	json_object_set_new(linux_, "cgroupsPath", json_string(cg));
	json_t *ann = json_object_get(cfg, "annotations");
	if (!json_is_object(ann)) {
		ann = json_object();
		json_object_set_new(cfg, "annotations", ann);
	}
	if (json_object_get(ann, CRIU_CONFIG_ANNOTATION))
		return 0;
	static const char conf[] = "# written by flyt: CRIU's options for runc's checkpoints of this container\n"
				   "# a lazy checkpoint's page server listens on the loopback only\n"
				   "address 127.0.0.1\n";
	_cleanup_free_ char *path = criu_conf_path(w);
	if (flyt_write_file_atomic(path, conf, strlen(conf), 0600, err) < 0)
		return -1;
	json_object_set_new(ann, CRIU_CONFIG_ANNOTATION, json_string(path));
	return 0;
}

/* Writes STATE/workloads/NAME/bundle/config.json from the spec (once). */
static int prepare_bundle(agent_t *a, workload_t *w, flyt_error_t *err)
{
	_cleanup_free_ char *bdir = bundle_dir(w);
	_cleanup_free_ char *cfg_path = flyt_asprintf("%s/config.json", bdir);
	struct stat st;
	if (lstat(cfg_path, &st) == 0)
		return 0;
	if (flyt_mkdir_p(bdir, 0700, err) < 0)
		return -1;
	_cleanup_json_ json_t *cfg = NULL;
	_cleanup_free_ char *root_path = NULL;
	const char *bundle = flyt_json_str(w->spec, "bundle", NULL);
	if (bundle) {
		if (container_path_check("bundle", bundle, true, err) < 0)
			return -1;
		_cleanup_free_ char *src = flyt_asprintf("%s/config.json", bundle);
		if (container_path_check("the bundle's config.json", src, false, err) < 0 ||
		    container_read_json(src, &cfg, err) < 0)
			return -1;
		if (json_is_true(json_object_get(json_object_get(cfg, "process"), "terminal")))
			return flyt_error_set(
			    err, FLYT_E_UNSUPPORTED, 0,
			    "the bundle's process wants a terminal; flyt runs runc containers without one (set process.terminal to false)");
		const char *rp = flyt_json_str(json_object_get(cfg, "root"), "path", "rootfs");
		root_path = rp[0] == '/' ? flyt_strdup(rp) : flyt_asprintf("%s/%s", bundle, rp);
		if (container_path_check("the bundle's root file system", root_path, true, err) < 0)
			return -1;
	} else {
		const char *tarball = flyt_json_str(w->spec, "rootfs", "");
		if (container_path_check("rootfs tarball", tarball, false, err) < 0)
			return -1;
		root_path = flyt_asprintf("%s/rootfs", bdir);
		flyt_rm_rf(root_path, NULL);
		if (flyt_mkdir_p(root_path, 0755, err) < 0 || container_tar_extract(tarball, root_path, err) < 0)
			return -1;
		json_error_t jerr;
		cfg = json_loads(config_template, 0, &jerr);
		json_t *proc = json_object_get(cfg, "process");
		json_object_set(proc, "args", json_object_get(w->spec, "cmd"));
		json_t *env = json_pack("[s]", "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");
		json_t *extra = json_object_get(w->spec, "env");
		if (json_is_array(extra))
			json_array_extend(env, extra);
		json_object_set_new(proc, "env", env);
		json_object_set_new(proc, "cwd", json_string(flyt_json_str(w->spec, "cwd", "/")));
		json_object_set_new(cfg, "hostname", json_string(w->name));
	}
	if (config_for_host(a, w, cfg, root_path, err) < 0)
		return -1;
	return container_write_json(cfg_path, cfg, err);
}

static int read_pid(const char *path, pid_t *ret, flyt_error_t *err)
{
	_cleanup_free_ char *text = NULL;
	uint64_t pid = 0;
	if (flyt_read_file(path, 64, &text, NULL, err) < 0)
		return -1;
	text[strcspn(text, "\n")] = '\0';
	if (flyt_parse_u64(text, INT32_MAX, &pid) < 0 || pid == 0)
		return flyt_error_set(err, FLYT_E_INTERNAL, 0, "runc wrote no usable pid file");
	*ret = (pid_t)pid;
	return 0;
}

/* runc delete --force: the container's runc state goes (and its processes). */
static void runc_forget(agent_t *a, workload_t *w)
{
	const char *del[] = { "delete", "--force", w->name, NULL };
	flyt_error_t e = FLYT_ERROR_INIT;
	runc_run(a, w, del, &e);
}

static int runc_start(agent_t *a, workload_t *w, flyt_error_t *err)
{
	if (prepare_bundle(a, w, err) < 0)
		return -1;
	runc_forget(a, w); /* a container of that name that ended earlier */
	_cleanup_free_ char *bdir = bundle_dir(w);
	_cleanup_free_ char *pidfile = flyt_asprintf("%s/runc.pid", w->dir);
	unlink(pidfile);
	const char *args[] = { "run", "--detach", "--bundle", bdir, "--pid-file", pidfile, w->name, NULL };
	if (runc_run(a, w, args, err) < 0)
		return -1;
	pid_t pid;
	if (read_pid(pidfile, &pid, err) < 0)
		return -1;
	w->pid = pid;
	w->start_ticks = proc_start_ticks(pid);
	w->state = WL_RUNNING;
	w->error[0] = '\0';
	return 0;
}

static int runc_stop(agent_t *a, workload_t *w, flyt_error_t *err)
{
	if (w->pid > 0 && proc_alive(w->pid, w->start_ticks)) {
		const char *term[] = { "kill", w->name, "TERM", NULL };
		flyt_error_t e = FLYT_ERROR_INIT;
		runc_run(a, w, term, &e);
		uint64_t deadline = flyt_now_ms() + STOP_TIMEOUT_MS;
		while (proc_alive(w->pid, w->start_ticks) && flyt_now_ms() < deadline)
			flyt_sleep_ms(20);
	}
	runc_forget(a, w); /* kills what is left */
	if (w->pid > 0 && proc_alive(w->pid, w->start_ticks))
		return flyt_error_set(err, FLYT_E_TIMEOUT, 0, "container %s (pid %d) did not stop", w->name,
				      (int)w->pid);
	w->pid = 0;
	w->start_ticks = 0;
	w->state = WL_STOPPED;
	return 0;
}

static int runc_status(agent_t *a, workload_t *w, json_t *ret, flyt_error_t *err)
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
		json_object_set_new(ret, "rss_bytes", json_integer((json_int_t)st.rss_bytes));
		json_object_set_new(ret, "processes", json_integer(st.nprocs));
	}
	return 0;
}

/* ---- migration ---- */

/* The root file system the bundle's config.json names. */
static int root_path_of(workload_t *w, char **ret, flyt_error_t *err)
{
	_cleanup_free_ char *cfg_path = flyt_asprintf("%s/bundle/config.json", w->dir);
	_cleanup_json_ json_t *cfg = NULL;
	if (container_read_json(cfg_path, &cfg, err) < 0)
		return -1;
	const char *rp = flyt_json_str(json_object_get(cfg, "root"), "path", "");
	if (container_path_check("the container's root file system", rp, true, err) < 0)
		return -1;
	*ret = flyt_strdup(rp);
	return 0;
}

/* Lazy mode: starts runc checkpoint --lazy-pages in the background
 * (m->dump_child) and waits until it reports on --status-fd that CRIU has written
 * the images to images and serves the memory pages on 127.0.0.1:PORT. On failure
 * the checkpoint is over (err says why). */
static int checkpoint_lazy(migration_t *m, const char *images, const char *work, flyt_error_t *err)
{
	workload_t *w = m->w;
	int p[2];
	if (pipe2(p, O_CLOEXEC) < 0)
		return flyt_error_set(err, FLYT_E_INTERNAL, errno, "pipe");
	char ps[32], fd_s[16];
	snprintf(ps, sizeof(ps), "127.0.0.1:%u", m->page_server_port);
	snprintf(fd_s, sizeof(fd_s), "%d", p[1]);
	const char *args[] = { "checkpoint",
			       "--leave-running",
			       "--lazy-pages",
			       "--page-server",
			       ps,
			       "--status-fd",
			       fd_s,
			       "--image-path",
			       images,
			       "--work-path",
			       work,
			       "--file-locks",
			       w->name,
			       NULL };
	_cleanup_strv_ char **argv = runc_argv(m->agent, w, args);
	flyt_spawn_opts_t o = {
		.argv = argv, .out = FLYT_SPAWN_NULL, .err = FLYT_SPAWN_NULL, .pass_fds = { p[1] }, .npass_fds = 1
	};
	int r = flyt_spawn_start(&o, &m->dump_child, err);
	close(p[1]);
	if (r < 0) {
		close(p[0]);
		return flyt_error_prefix(err, "runc");
	}
	/* its CRIU serves the pages until a client comes and goes: if this flytd
	 * dies, a restarted one must end it (settle_source), nobody else will */
	flyt_error_t rerr = FLYT_ERROR_INIT;
	if (migration_record_dump(m, &rerr) < 0)
		log_warn("migration %s: a restarted flytd will not find runc checkpoint: %s", m->id, rerr.msg);
	/* a byte (NUL) when CRIU's page server is up; end of file or runc's exit
	 * when the checkpoint failed */
	uint64_t deadline = flyt_now_ms() + RUNC_TIMEOUT_MS;
	bool ready = false;
	while (!ready) {
		struct pollfd pf[2] = { { .fd = p[0], .events = POLLIN },
					{ .fd = m->dump_child.pidfd, .events = POLLIN } };
		int pr = poll(pf, 2, 1000);
		if (pr < 0 && errno != EINTR) {
			r = flyt_error_set(err, FLYT_E_INTERNAL, errno, "poll");
			break;
		}
		if (pr > 0 && pf[0].revents) {
			char c;
			ready = read(p[0], &c, 1) == 1;
			if (!ready)
				break;
		} else if (pr > 0 && pf[1].revents) {
			break;
		} else if (flyt_now_ms() > deadline) {
			r = flyt_error_set(err, FLYT_E_TIMEOUT, 0, "runc checkpoint did not finish within %d minutes",
					   RUNC_TIMEOUT_MS / 60000);
			break;
		}
	}
	close(p[0]);
	if (ready)
		return 0;
	flyt_spawn_result_t res;
	if (r == 0 && flyt_child_wait(&m->dump_child, 10000, &res, err) == 1) {
		r = runc_failed(w, args, &res, err);
		_cleanup_free_ char *log = flyt_asprintf("%s/dump.log", work);
		char criu_err[600];
		criu_log_errors(log, criu_err, sizeof(criu_err));
		if (criu_err[0])
			flyt_error_prefix(err, "%s", criu_err); /* CRIU's own reason says more */
		return r;
	}
	flyt_child_reap(&m->dump_child);
	return r < 0 ? r : flyt_error_set(err, FLYT_E_INTERNAL, 0, "runc checkpoint ended without a word");
}

/* Lazy mode: ends the background checkpoint. CRIU's page server ends once its
 * client is gone; when flyt's tunnel never connected (a rollback), play that
 * client for a moment (CRIU accepts one, then stops listening). Killed after
 * 60 s. */
static void end_checkpoint(migration_t *m, bool play_client)
{
	if (m->dump_child.pid <= 0)
		return;
	uint64_t deadline = flyt_now_ms() + 30000;
	while (play_client && flyt_now_ms() < deadline) {
		flyt_error_t e = FLYT_ERROR_INIT;
		int fd = flyt_tcp_connect("127.0.0.1", m->page_server_port, 1000, &e);
		if (fd >= 0) {
			close(fd);
			break;
		}
		if (flyt_child_wait(&m->dump_child, 5, NULL, NULL) != 0)
			return;
	}
	flyt_spawn_result_t res;
	int r = flyt_child_wait(&m->dump_child, 60000, &res, NULL);
	if (r == 1 && res.exit_code != 0)
		log_warn("migration %s: runc checkpoint ended with status %d after serving the pages", m->id,
			 res.exit_code);
	if (r == 1)
		flyt_spawn_result_free(&res);
	if (r != 1) {
		log_warn("migration %s: runc checkpoint still serving pages after a minute; killed", m->id);
		flyt_child_reap(&m->dump_child);
	}
}

static int runc_dump(migration_t *m, flyt_error_t *err)
{
	agent_t *a = m->agent;
	workload_t *w = m->w;
	bool lazy = m->mode == MODE_LAZY;
	_cleanup_free_ char *final_dir = flyt_asprintf("%s/final", m->images_dir);
	_cleanup_free_ char *images = flyt_asprintf("%s/checkpoint", final_dir);
	_cleanup_free_ char *work = flyt_asprintf("%s/runc-work", m->dir);
	_cleanup_free_ char *root = NULL;
	if (flyt_mkdir_p(images, 0700, err) < 0 || flyt_mkdir_p(work, 0700, err) < 0 || root_path_of(w, &root, err) < 0)
		return -1;
	_cleanup_free_ char *cfg_src = flyt_asprintf("%s/bundle/config.json", w->dir);
	_cleanup_free_ char *cfg_dst = flyt_asprintf("%s/config.json", final_dir);
	_cleanup_json_ json_t *cfg = NULL;
	if (container_read_json(cfg_src, &cfg, err) < 0)
		return -1;
	/* flyt's CRIU configuration is this host's file: the target names its own */
	json_t *ann = json_object_get(cfg, "annotations");
	_cleanup_free_ char *conf = criu_conf_path(w);
	bool own_conf = strcmp(flyt_json_str(ann, CRIU_CONFIG_ANNOTATION, ""), conf) == 0;
	if (own_conf)
		json_object_del(ann, CRIU_CONFIG_ANNOTATION);
	if (lazy && !own_conf)
		return flyt_error_set(
		    err, FLYT_E_UNSUPPORTED, 0,
		    "container %s runs without flyt's CRIU configuration (its bundle names its own in annotation " CRIU_CONFIG_ANNOTATION
		    ", or it was started by an older flytd): CRIU's lazy page server would listen on every address; migrate it in mode stop-copy",
		    w->name);
	if (container_write_json(cfg_dst, cfg, err) < 0)
		return -1;
	bool shared = container_path_under(root, m->agent->shared_dirs);

	m->t_freeze = flyt_now_ms();
	const char *pause[] = { "pause", w->name, NULL };
	if (runc_run(a, w, pause, err) < 0)
		return -1;
	int r;
	if (lazy) {
		r = checkpoint_lazy(m, images, work, err);
	} else {
		const char *ckpt[] = { "checkpoint", "--leave-running", "--image-path", images, "--work-path",
				       work,	     "--file-locks",	w->name,	NULL };
		r = runc_run(a, w, ckpt, err);
	}
	if (r == 0 && !shared) {
		_cleanup_free_ char *tar = flyt_asprintf("%s/rootfs.tar", final_dir);
		r = container_tar_create(root, tar, err);
	}
	if (r < 0) {
		end_checkpoint(m, true);
		const char *resume[] = { "resume", w->name, NULL };
		flyt_error_t e = FLYT_ERROR_INIT;
		if (runc_run(a, w, resume, &e) < 0)
			log_warn("migration %s: resuming %s after a failed dump: %s", m->id, w->name, e.msg);
		return -1;
	}
	m->dump_ms = (int64_t)(flyt_now_ms() - m->t_freeze);
	return 0;
}

/* Lazy mode: the page server has listened on the loopback since the dump; the
 * tunnel connects to it once this returns. The container stays frozen. */
static int runc_release(migration_t *m, flyt_error_t *err)
{
	return 0;
}

/* Whether a tracer (CRIU, dumping) holds pid. */
static bool traced(pid_t pid)
{
	char path[64], line[128];
	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	FILE *f = fopen(path, "re");
	if (!f)
		return false;
	int tracer = 0;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "TracerPid: %d", &tracer) == 1)
			break;
	fclose(f);
	return tracer > 0;
}

/* After a crash of flytd the runc checkpoint it ran may still run (its work path
 * names the migration), CRIU holding the container's processes: when it ends it
 * puts the container's freezer back as it found it, paused, so a resume before
 * that end would not last. Waits for it, killing it after a minute. */
static void wait_orphaned_checkpoint(migration_t *m)
{
	_cleanup_free_ char *work = flyt_asprintf("%s/runc-work", m->dir);
	uint64_t deadline = flyt_now_ms() + 60000;
	pid_t pid;
	while (((pid = proc_find_with_arg(work)) > 0 || (m->w->pid > 0 && traced(m->w->pid))) &&
	       flyt_now_ms() < deadline + 10000) {
		if (pid > 0 && flyt_now_ms() > deadline) {
			log_warn("migration %s: runc checkpoint (pid %d) still runs after a minute; killed", m->id,
				 (int)pid);
			kill(pid, SIGKILL);
		}
		flyt_sleep_ms(20);
	}
}

/* runc's word on the container ("running", "paused"...; "" when it does not
 * know it) into buf. */
static void runc_container_status(agent_t *a, workload_t *w, char *buf, size_t size)
{
	const char *args[] = { "state", w->name, NULL };
	_cleanup_strv_ char **argv = runc_argv(a, w, args);
	flyt_spawn_opts_t o = { .argv = argv, .out = FLYT_SPAWN_CAPTURE, .err = FLYT_SPAWN_NULL, .timeout_ms = 30000 };
	flyt_spawn_result_t res;
	flyt_error_t e = FLYT_ERROR_INIT;
	buf[0] = '\0';
	if (flyt_spawn_run(&o, &res, &e) < 0)
		return;
	_cleanup_json_ json_t *j = NULL;
	if (res.exit_code == 0 && res.out && flyt_json_parse_object(res.out, strlen(res.out), 64 * 1024, &j, &e) == 0)
		snprintf(buf, size, "%s", flyt_json_str(j, "status", ""));
	flyt_spawn_result_free(&res);
}

static int runc_dump_finish(migration_t *m, bool commit, flyt_error_t *err)
{
	agent_t *a = m->agent;
	workload_t *w = m->w;
	if (m->dump_child.pid <= 0)
		wait_orphaned_checkpoint(m);
	/* lazy, commit: every page has arrived, CRIU ends as the tunnel closes */
	end_checkpoint(m, !commit);
	if (!commit) {
		/* a checkpoint killed half-way (by a restarted flytd, see
		 * settle_source) may have left the container's freezer thawed: it
		 * runs already, and runc resume would refuse it as not paused */
		char status[32];
		runc_container_status(a, w, status, sizeof(status));
		const char *resume[] = { "resume", w->name, NULL };
		if (strcmp(status, "running") != 0 && runc_run(a, w, resume, err) < 0)
			return -1;
		char st = proc_state(w->pid);
		if (!proc_alive(w->pid, w->start_ticks) || st == 'T' || st == 't')
			return flyt_error_set(err, FLYT_E_INTERNAL, 0, "container %s did not resume", w->name);
		return 0;
	}
	/* SIGKILL to a frozen container: its processes die as runc delete thaws them */
	const char *kill_[] = { "kill", "--all", w->name, "KILL", NULL };
	flyt_error_t e = FLYT_ERROR_INIT;
	if (runc_run(a, w, kill_, &e) < 0)
		log_warn("migration %s: runc kill: %s", m->id, e.msg);
	runc_forget(a, w);
	uint64_t deadline = flyt_now_ms() + 10000;
	while (proc_alive(w->pid, w->start_ticks) && flyt_now_ms() < deadline)
		flyt_sleep_ms(5);
	if (proc_alive(w->pid, w->start_ticks))
		return flyt_error_set(err, FLYT_E_INTERNAL, 0, "container %s survived runc kill and delete", w->name);
	return 0;
}

static int runc_restore(migration_t *m, flyt_error_t *err)
{
	agent_t *a = m->agent;
	workload_t *w = m->w;
	if (m->role == ROLE_SOURCE)
		return 0; /* its bundle is still here */
	_cleanup_free_ char *final_dir = flyt_asprintf("%s/final", m->images_dir);
	_cleanup_free_ char *cfg_src = flyt_asprintf("%s/config.json", final_dir);
	_cleanup_free_ char *tar = flyt_asprintf("%s/rootfs.tar", final_dir);
	_cleanup_free_ char *bdir = bundle_dir(w);
	_cleanup_json_ json_t *cfg = NULL;
	if (container_read_json(cfg_src, &cfg, err) < 0 || flyt_mkdir_p(bdir, 0700, err) < 0)
		return -1;
	_cleanup_free_ char *root = NULL;
	struct stat st;
	if (lstat(tar, &st) == 0) {
		root = flyt_asprintf("%s/rootfs", bdir);
		flyt_rm_rf(root, NULL);
		if (flyt_mkdir_p(root, 0755, err) < 0 || container_tar_extract(tar, root, err) < 0)
			return flyt_error_prefix(err, "the container's root file system");
	} else {
		/* on shared storage: the same path here */
		root = flyt_strdup(flyt_json_str(json_object_get(cfg, "root"), "path", ""));
		if (container_path_check("the shared root file system", root, true, err) < 0 ||
		    !container_path_under(root, a->shared_dirs))
			return flyt_error_set(
			    err, FLYT_E_INVALID, 0,
			    "the root file system %.200s did not travel and is not in a shared directory of %s", root,
			    a->name);
	}
	if (config_for_host(a, w, cfg, root, err) < 0)
		return -1;
	_cleanup_free_ char *cfg_dst = flyt_asprintf("%s/config.json", bdir);
	if (container_write_json(cfg_dst, cfg, err) < 0)
		return -1;
	if (m->mode != MODE_LAZY)
		return 0;
	/* the daemon fetches the pages through the tunnel from now on; runc
	 * restore (resume) hands it the container's userfaultfds in this
	 * directory */
	_cleanup_free_ char *images = flyt_asprintf("%s/checkpoint", final_dir);
	_cleanup_free_ char *work = flyt_asprintf("%s/runc-restore", m->dir);
	_cleanup_free_ char *log = flyt_asprintf("%s/lazy-pages.log", m->dir);
	_cleanup_free_ char *out = flyt_asprintf("%s/criu-lazy.out", m->dir);
	if (flyt_mkdir_p(work, 0700, err) < 0)
		return -1;
	return criu_lazy_pages_start(a->criu, m->tunnel_port, images, work, log, log, out, &m->lazy_child, err);
}

/* Detaches the mounts at and below dir, deepest (latest) first. */
static void umount_below(const char *dir)
{
	FILE *f = setmntent("/proc/self/mounts", "re");
	if (!f)
		return;
	_cleanup_strv_ char **found = NULL;
	size_t n = 0, len = strlen(dir);
	struct mntent e;
	char buf[4096];
	while (getmntent_r(f, &e, buf, sizeof(buf))) /* getmntent is not thread-safe */
		if (strncmp(e.mnt_dir, dir, len) == 0 && (e.mnt_dir[len] == '/' || e.mnt_dir[len] == '\0')) {
			flyt_strv_push(&found, e.mnt_dir);
			n++;
		}
	endmntent(f);
	while (n-- > 0)
		if (umount2(found[n], MNT_DETACH) < 0 && errno != EINVAL && errno != ENOENT)
			log_warn("umount %s: %s", found[n], strerror(errno));
}

/* What a runc restore killed with its CRIU leaves: CRIU's cgroup yard mounted
 * in the work path, runc's criu-root mount in its state directory, and that
 * directory, with no container in it for runc delete to remove. */
static void clean_killed_restore(migration_t *m, const char *work)
{
	_cleanup_free_ char *cdir = flyt_asprintf("%s/runc/%s", m->agent->state_dir, m->w->name);
	_cleanup_free_ char *root = flyt_asprintf("%s/criu-root", cdir);
	umount_below(work);
	umount_below(cdir);
	/* rmdir only: a mount left there holds the container's root file system */
	if (rmdir(root) == 0 || errno == ENOENT)
		rmdir(cdir); /* fails, as it should, when runc made a container there */
}

/* Lazy target: runc restore ARGS..., watching the lazy-pages daemon. When it
 * dies during the restore (the pages stopped coming: the source or the link
 * went), CRIU 4.2.1 kills the restored tasks but then waits for the
 * container's init, which waits, tearing down its pid namespace, for a child
 * that CRIU still traces and so never reaps: runc restore would hang until its
 * timeout. Once the daemon is gone, runc has LAZY_GONE_GRACE_MS to end by
 * itself; then it and its CRIU (its process group) are killed, which ends the
 * restored tasks too. */
#define LAZY_GONE_GRACE_MS 20000
static int restore_lazy(migration_t *m, const char *const *args, const char *work, flyt_error_t *err)
{
	workload_t *w = m->w;
	_cleanup_strv_ char **argv = runc_argv(m->agent, w, args);
	flyt_spawn_opts_t o = { .argv = argv, .out = FLYT_SPAWN_NULL, .err = FLYT_SPAWN_NULL };
	flyt_child_t child;
	if (flyt_spawn_start(&o, &child, err) < 0)
		return flyt_error_prefix(err, "runc");
	uint64_t deadline = flyt_now_ms() + RUNC_TIMEOUT_MS, gone_at = 0;
	while (child.pidfd >= 0) {
		struct pollfd pf[2] = { { .fd = child.pidfd, .events = POLLIN },
					{ .fd = gone_at ? -1 : m->lazy_child.pidfd, .events = POLLIN } };
		int pr = poll(pf, 2, 1000);
		if (pr < 0 && errno != EINTR) {
			flyt_child_reap(&child);
			return flyt_error_set(err, FLYT_E_INTERNAL, errno, "poll");
		}
		if (pr > 0 && pf[0].revents)
			break;
		uint64_t now = flyt_now_ms();
		if (pr > 0 && pf[1].revents) {
			gone_at = now; /* reaped later, by discard or the wait for the pages */
			log_warn("migration %s: the lazy-pages daemon ended while runc restored %s", m->id, w->name);
		}
		if (gone_at && now > gone_at + LAZY_GONE_GRACE_MS) {
			flyt_child_reap(&child);
			clean_killed_restore(m, work);
			return flyt_error_set(
			    err, FLYT_E_IO, 0,
			    "runc restore of %s stopped: the memory pages stopped coming (CRIU's lazy-pages daemon ended, see %s/lazy-pages.log)",
			    w->name, m->dir);
		}
		if (now > deadline) {
			flyt_child_reap(&child);
			clean_killed_restore(m, work);
			return flyt_error_set(err, FLYT_E_TIMEOUT, 0, "runc restore did not finish within %d minutes",
					      RUNC_TIMEOUT_MS / 60000);
		}
	}
	flyt_spawn_result_t res; /* ended (without a pidfd: waited for) */
	if (flyt_child_wait(&child, 0, &res, err) < 0)
		return flyt_error_prefix(err, "runc");
	int r = res.exit_code != 0 ? runc_failed(w, args, &res, err) : 0;
	flyt_spawn_result_free(&res);
	return r;
}

static int runc_resume(migration_t *m, flyt_error_t *err)
{
	agent_t *a = m->agent;
	workload_t *w = m->w;
	_cleanup_free_ char *bdir = bundle_dir(w);
	_cleanup_free_ char *images = flyt_asprintf("%s/final/checkpoint", m->images_dir);
	_cleanup_free_ char *work = flyt_asprintf("%s/runc-restore", m->dir);
	_cleanup_free_ char *pidfile = flyt_asprintf("%s/runc.pid", w->dir);
	if (flyt_mkdir_p(work, 0700, err) < 0)
		return -1;
	unlink(pidfile);
	/* lazy: the target's copy (a source restoring its own checkpoint has it all) */
	bool lazy = m->mode == MODE_LAZY && m->role == ROLE_TARGET;
	const char *args[] = { "restore", "--detach",	  "--bundle",	bdir,	 "--image-path", images, "--work-path",
			       work,	  "--file-locks", "--pid-file", pidfile, w->name,	 NULL,	 NULL };
	if (lazy) {
		args[11] = "--lazy-pages"; /* before the name */
		args[12] = w->name;
	}
	uint64_t t0 = flyt_now_ms();
	if ((lazy && m->lazy_child.pid > 0 ? restore_lazy(m, args, work, err) : runc_run(a, w, args, err)) < 0)
		return -1;
	m->restore_ms = (int64_t)(flyt_now_ms() - t0);
	pid_t pid;
	if (read_pid(pidfile, &pid, err) < 0)
		return -1;
	m->restored_pid = pid;
	w->pid = pid;
	w->start_ticks = proc_start_ticks(pid);
	return 0;
}

static int runc_discard(migration_t *m, flyt_error_t *err)
{
	if (m->role == ROLE_TARGET && m->w)
		runc_forget(m->agent, m->w);
	if (m->lazy_child.pid > 0)
		flyt_child_reap(&m->lazy_child);
	m->restored_pid = 0;
	return 0;
}

static int runc_destroy(agent_t *a, workload_t *w, flyt_error_t *err)
{
	return runc_stop(a, w, err);
}

const driver_t driver_runc = {
	.kind = "runc",
	.probe = runc_probe,
	.validate = runc_validate,
	.start = runc_start,
	.stop = runc_stop,
	.destroy = runc_destroy,
	.status = runc_status,
	.dump = runc_dump,
	.release = runc_release,
	.dump_finish = runc_dump_finish,
	.engine_holds_source = true,
	.restore = runc_restore,
	.resume = runc_resume,
	.discard = runc_discard,
};
