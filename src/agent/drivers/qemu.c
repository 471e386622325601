/* The qemu driver: virtual machines whose QEMU process flyt starts and controls
 * over QMP, migrated live by QEMU itself.
 *
 * Spec: {"memory_mib": N, "cpus": N, "machine": "q35", "cpu_model": "qemu64",
 *        "accel": "tcg"|"kvm", "kernel": "/abs", "initrd": "/abs", "append": "...",
 *        "disks": [{"path": "/abs", "format": "qcow2"|"raw", "shared": false}]}
 * A kernel or at least one disk is required; machine type and CPU model are pinned
 * in the spec so that both hosts start the same virtual hardware. A disk is local
 * unless "shared" (the same path reaches the same storage on every host): a local
 * disk is copied to the target during the migration, into an image of the same
 * format and virtual size in the target's workload directory (diskimg.c; qcow2
 * through qemu-img), and the target's spec points there. flyt records a local
 * disk's virtual "size" in the spec when it starts the VM.
 *
 * QEMU runs daemonized (not a child of flytd, like process workloads), its cwd and
 * files in the workload's directory: qemu.pid, qemu.log (its stderr), serial.log
 * (the guest's serial console), and two QMP sockets: qmp.sock for control and
 * qmp-mig.sock for the migration thread, so neither waits for the other.
 *
 * Migration (see migrate.c for the protocol around these slots):
 *   receive       target: QEMU with the same spec, -S -incoming defer, then
 *                 migrate-incoming on the target's data address (port chosen by
 *                 QEMU); postcopy: a watcher runs the guest as soon as QEMU
 *                 switches to postcopy
 *                 local disks: an empty copy of each (raw or qcow2, as the
 *                 source's), exported over NBD: the mirrors write what the guest
 *                 sees, whatever the format underneath
 *   send          source: local disks first: drive-mirror to the target's NBD
 *                 exports until in sync; then capabilities and parameters,
 *                 migrate, progress from query-migrate every 100 ms, cancel,
 *                 postcopy switch after N passes (the commit decision is taken
 *                 just before it); with local disks QEMU pauses before the
 *                 switch-over (pause-before-switchover) so that the mirrors end,
 *                 in sync, while the guest cannot write
 *   restore       target: wait until the incoming migration has completed, stop
 *                 the NBD exports
 *   resume        target: cont
 *   dump_finish   source: on rollback, cont (impossible once postcopy started)
 *   finish_source source: quit, once the target runs
 *   discard       target: kill its QEMU */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent/agent.h"
#include "agent/drivers/qmp.h"
#include "agent/proctree.h"
#include "lib/cleanup.h"
#include "lib/json.h"
#include "lib/log.h"
#include "lib/net.h"
#include "lib/util.h"

#define QMP_TIMEOUT_MS 10000
#define START_TIMEOUT_MS 30000
#define STOP_TIMEOUT_MS 10000
#define POLL_MS 100
#define INCOMING_DONE_TIMEOUT_MS 120000
#define MAX_DISKS 8
/* "unlimited" for QEMU's max-bandwidth (bytes/s) */
#define UNLIMITED_BPS (1024LL * 1024 * 1024 * 1024)

/* Where QEMU is, or NULL. */
static const char *qemu_binary(agent_t *a, char *buf, size_t size)
{
	const char *q = a->qemu ? a->qemu : "qemu-system-x86_64";
	if (strchr(q, '/'))
		return access(q, X_OK) == 0 ? q : NULL;
	const char *path = getenv("PATH");
	_cleanup_free_ char *copy = flyt_strdup(path ? path : "/usr/bin:/bin");
	char *save = NULL;
	for (char *d = strtok_r(copy, ":", &save); d; d = strtok_r(NULL, ":", &save)) {
		snprintf(buf, size, "%s/%s", d, q);
		if (access(buf, X_OK) == 0)
			return buf;
	}
	return NULL;
}

static int qemu_probe(agent_t *a, json_t *caps, flyt_error_t *err)
{
	char buf[512], reason[300] = "";
	if (!qemu_binary(a, buf, sizeof(buf)))
		snprintf(reason, sizeof(reason), "%s not found (install qemu-system-x86 or give flytd --qemu)",
			 a->qemu ? a->qemu : "qemu-system-x86_64");
	json_object_set_new(caps, "available", json_boolean(reason[0] == '\0'));
	if (reason[0])
		json_object_set_new(caps, "reason", json_string(reason));
	json_object_set_new(caps, "migration", json_true());
	json_object_set_new(caps, "live", json_true());
	json_t *modes = json_pack("[s]", "precopy");
	if (geteuid() == 0)
		json_array_append_new(modes, json_string("postcopy"));
	else
		json_object_set_new(caps, "postcopy_reason",
				    json_string("postcopy needs userfaultfd, which QEMU gets only as root here"));
	json_object_set_new(caps, "modes", modes);
	return 0;
}

/* A QEMU option value flyt writes into "key=value,..." strings: no commas. */
static bool token_valid(const char *s, size_t max)
{
	size_t n = strlen(s);
	if (n == 0 || n > max)
		return false;
	for (const char *p = s; *p; p++)
		if (!isalnum((unsigned char)*p) && !strchr("._-+", *p))
			return false;
	return true;
}

/* An absolute path usable inside QEMU options. */
static bool path_valid(const char *what, const char *path, flyt_error_t *err)
{
	size_t n = strlen(path);
	if (path[0] != '/' || strstr(path, "/../") || (n >= 3 && strcmp(path + n - 3, "/..") == 0) ||
	    strchr(path, ',') || strchr(path, '\n') || n > 500) {
		flyt_error_set(err, FLYT_E_INVALID, 0,
			       "qemu spec: %s must be an absolute path without \"..\" or commas", what);
		return false;
	}
	return true;
}

/* path_valid, and an existing regular file. */
static int file_valid(const char *what, const char *path, flyt_error_t *err)
{
	if (!path_valid(what, path, err))
		return -1;
	struct stat st;
	if (stat(path, &st) < 0 || !S_ISREG(st.st_mode))
		return flyt_error_set(err, FLYT_E_INVALID, errno, "qemu spec: %s %s is not a readable file", what,
				      path);
	return 0;
}

static int qemu_validate(agent_t *a, json_t *spec, flyt_error_t *err)
{
	static const char *const keys[] = { "memory_mib", "cpus",   "machine", "cpu_model", "accel",
					    "kernel",	  "initrd", "append",  "disks",	    NULL };
	if (flyt_json_check_keys(spec, "qemu spec", keys, err) < 0)
		return -1;
	int64_t mem = 0, cpus = 1;
	const char *machine = NULL, *cpu = NULL, *accel = NULL, *kernel = NULL, *initrd = NULL, *append = NULL;
	json_t *disks = NULL;
	if (flyt_json_get_int(spec, "memory_mib", true, 16, 1024 * 1024, &mem, err) < 0 ||
	    flyt_json_get_int(spec, "cpus", false, 1, 256, &cpus, err) < 0 ||
	    flyt_json_get_string(spec, "machine", false, 64, &machine, err) < 0 ||
	    flyt_json_get_string(spec, "cpu_model", false, 64, &cpu, err) < 0 ||
	    flyt_json_get_string(spec, "accel", false, 8, &accel, err) < 0 ||
	    flyt_json_get_string(spec, "kernel", false, 500, &kernel, err) < 0 ||
	    flyt_json_get_string(spec, "initrd", false, 500, &initrd, err) < 0 ||
	    flyt_json_get_string(spec, "append", false, 2048, &append, err) < 0 ||
	    flyt_json_get_array(spec, "disks", false, MAX_DISKS, &disks, err) < 0)
		return flyt_error_prefix(err, "qemu spec");
	if (machine && !token_valid(machine, 64))
		return flyt_error_set(err, FLYT_E_INVALID, 0, "qemu spec: bad machine type");
	if (cpu && !token_valid(cpu, 64))
		return flyt_error_set(err, FLYT_E_INVALID, 0, "qemu spec: bad CPU model");
	if (accel && strcmp(accel, "tcg") && strcmp(accel, "kvm"))
		return flyt_error_set(err, FLYT_E_INVALID, 0, "qemu spec: accel must be tcg or kvm");
	if (append && strchr(append, '\n'))
		return flyt_error_set(err, FLYT_E_INVALID, 0, "qemu spec: append must be one line");
	if (kernel && !path_valid("kernel", kernel, err))
		return -1;
	if (initrd && !kernel)
		return flyt_error_set(err, FLYT_E_INVALID, 0, "qemu spec: initrd needs a kernel");
	if (initrd && !path_valid("initrd", initrd, err))
		return -1;
	size_t i;
	json_t *d;
	json_array_foreach (disks, i, d) {
		static const char *const dkeys[] = { "path", "format", "shared", "size", NULL };
		const char *path = NULL, *format = "raw";
		bool shared = false;
		int64_t size = 0;
		if (flyt_json_check_keys(d, "qemu disk", dkeys, err) < 0 ||
		    flyt_json_get_string(d, "path", true, 500, &path, err) < 0 ||
		    flyt_json_get_string(d, "format", false, 8, &format, err) < 0 ||
		    flyt_json_get_bool(d, "shared", false, &shared, err) < 0 ||
		    flyt_json_get_int(d, "size", false, 0, INT64_MAX, &size, err) < 0)
			return flyt_error_prefix(err, "qemu spec: disk %zu", i + 1);
		if (strcmp(format, "raw") && strcmp(format, "qcow2"))
			return flyt_error_set(err, FLYT_E_INVALID, 0, "qemu spec: disk format must be raw or qcow2");
		if (!path_valid("disk", path, err))
			return -1;
	}
	if (!kernel && json_array_size(disks) == 0)
		return flyt_error_set(err, FLYT_E_INVALID, 0, "qemu spec: a kernel or a disk is required");
	return 0;
}

/* The QEMU command line for w; incoming: a paused receiver of a migration. */
static char **qemu_argv(agent_t *a, workload_t *w, const char *binary, bool incoming)
{
	json_t *s = w->spec;
	char **argv = NULL;
	flyt_strv_push(&argv, binary);
	_cleanup_free_ char *name = flyt_asprintf("flyt-%s", w->name);
	_cleanup_free_ char *mem = flyt_asprintf("%lld", (long long)flyt_json_int(s, "memory_mib", 128));
	_cleanup_free_ char *cpus = flyt_asprintf("%lld", (long long)flyt_json_int(s, "cpus", 1));
	_cleanup_free_ char *serial = flyt_asprintf("file,id=serial0,path=%s/serial.log,append=on", w->dir);
	_cleanup_free_ char *pidfile = flyt_asprintf("%s/qemu.pid", w->dir);
	_cleanup_free_ char *log = flyt_asprintf("%s/qemu.log", w->dir);
	const char *fixed[] = { "-name", name, "-accel", flyt_json_str(s, "accel", "tcg"), "-machine",
				flyt_json_str(s, "machine", "q35"), "-cpu", flyt_json_str(s, "cpu_model", "qemu64"),
				"-m", mem, "-smp", cpus, "-nodefaults", "-no-user-config", "-display", "none",
				"-chardev", serial, "-serial", "chardev:serial0",
				/* relative to the cwd (the workload's directory): no sun_path limit */
				"-qmp", "unix:qmp.sock,server=on,wait=off", "-qmp",
				"unix:qmp-mig.sock,server=on,wait=off", "-D", log, "-daemonize", "-pidfile", pidfile,
				NULL };
	for (const char **p = fixed; *p; p++)
		flyt_strv_push(&argv, *p);
	const char *kernel = flyt_json_str(s, "kernel", NULL);
	if (kernel) {
		flyt_strv_push(&argv, "-kernel");
		flyt_strv_push(&argv, kernel);
		const char *initrd = flyt_json_str(s, "initrd", NULL);
		if (initrd) {
			flyt_strv_push(&argv, "-initrd");
			flyt_strv_push(&argv, initrd);
		}
		flyt_strv_push(&argv, "-append");
		flyt_strv_push(&argv, flyt_json_str(s, "append", "console=ttyS0"));
	}
	size_t i;
	json_t *d;
	json_array_foreach (json_object_get(s, "disks"), i, d) {
		_cleanup_free_ char *drive =
		    flyt_asprintf("file=%s,format=%s,if=virtio,id=disk%zu,node-name=node%zu",
				  flyt_json_str(d, "path", ""), flyt_json_str(d, "format", "raw"), i, i);
		flyt_strv_push(&argv, "-drive");
		flyt_strv_push(&argv, drive);
	}
	if (incoming) {
		flyt_strv_push(&argv, "-S");
		flyt_strv_push(&argv, "-incoming");
		flyt_strv_push(&argv, "defer");
	}
	return argv;
}

/* The last line QEMU wrote on its stderr, for error messages. */
static void last_log_line(workload_t *w, char *buf, size_t size)
{
	buf[0] = '\0';
	_cleanup_free_ char *path = flyt_asprintf("%s/qemu.log", w->dir);
	_cleanup_free_ char *text = NULL;
	size_t len = 0;
	if (flyt_read_file(path, 1024 * 1024, &text, &len, NULL) < 0 || len == 0)
		return;
	while (len > 0 && (text[len - 1] == '\n' || text[len - 1] == '\r'))
		text[--len] = '\0';
	char *nl = strrchr(text, '\n');
	snprintf(buf, size, "%s", nl ? nl + 1 : text);
}

/* Records the virtual size of each local qcow2 disk in w's spec, as QEMU sees it
 * (the file's size is not: a qcow2 file grows as it fills). */
static int record_disk_sizes(qmp_t *q, workload_t *w, flyt_error_t *err)
{
	size_t i;
	json_t *d;
	_cleanup_json_ json_t *blocks = NULL;
	json_array_foreach (json_object_get(w->spec, "disks"), i, d) {
		if (json_is_true(json_object_get(d, "shared")) || strcmp(flyt_json_str(d, "format", "raw"), "qcow2"))
			continue;
		if (!blocks && qmp_call(q, "query-block", NULL, &blocks, err) < 0)
			return -1;
		char dev[32];
		snprintf(dev, sizeof(dev), "disk%zu", i);
		size_t k;
		json_t *b;
		int64_t size = -1;
		json_array_foreach (blocks, k, b)
			if (strcmp(flyt_json_str(b, "device", ""), dev) == 0)
				size = flyt_json_int(json_object_get(json_object_get(b, "inserted"), "image"),
						     "virtual-size", -1);
		if (size <= 0)
			return flyt_error_set(err, FLYT_E_INTERNAL, 0, "QEMU does not say how large disk %zu is",
					      i + 1);
		json_object_set_new(d, "size", json_integer(size));
	}
	return 0;
}

/* Starts QEMU for w and waits until its control monitor answers. */
static int launch(agent_t *a, workload_t *w, bool incoming, flyt_error_t *err)
{
	char buf[512];
	const char *binary = qemu_binary(a, buf, sizeof(buf));
	if (!binary)
		return flyt_error_set(err, FLYT_E_UNSUPPORTED, 0, "QEMU not found");
	if (flyt_mkdir_p(w->dir, 0700, err) < 0 || flyt_mkdir_p(w->files_dir, 0755, err) < 0)
		return -1;
	const char *kernel = flyt_json_str(w->spec, "kernel", NULL), *initrd = flyt_json_str(w->spec, "initrd", NULL);
	if ((kernel && file_valid("kernel", kernel, err) < 0) || (initrd && file_valid("initrd", initrd, err) < 0))
		return -1;
	size_t i;
	json_t *d;
	json_array_foreach (json_object_get(w->spec, "disks"), i, d) {
		const char *path = flyt_json_str(d, "path", "");
		struct stat st;
		if (file_valid("disk", path, err) < 0 || stat(path, &st) < 0)
			return -1;
		if (!json_is_true(json_object_get(d, "shared")) && !strcmp(flyt_json_str(d, "format", "raw"), "raw"))
			json_object_set_new(d, "size", json_integer((json_int_t)st.st_size));
	}
	static const char *const stale[] = { "qmp.sock", "qmp-mig.sock", "qemu.pid", NULL };
	for (const char *const *p = stale; *p; p++) {
		_cleanup_free_ char *path = flyt_asprintf("%s/%s", w->dir, *p);
		unlink(path);
	}
	_cleanup_strv_ char **argv = qemu_argv(a, w, binary, incoming);
	_cleanup_free_ char *log = flyt_asprintf("%s/qemu.log", w->dir);
	flyt_spawn_opts_t o = {
		.argv = argv,
		.cwd = w->dir,
		.out = FLYT_SPAWN_FILE,
		.out_path = log,
		.err = FLYT_SPAWN_FILE,
		.err_path = log,
		.timeout_ms = START_TIMEOUT_MS,
	};
	flyt_spawn_result_t res;
	if (flyt_spawn_run(&o, &res, err) < 0)
		return -1;
	int code = res.exit_code;
	flyt_spawn_result_free(&res);
	if (code != 0) {
		char last[300];
		last_log_line(w, last, sizeof(last));
		return flyt_error_set(err, FLYT_E_INVALID, 0, "cannot start VM %s: %s", w->name,
				      last[0] ? last : "QEMU failed (see qemu.log)");
	}
	_cleanup_free_ char *pidfile = flyt_asprintf("%s/qemu.pid", w->dir);
	_cleanup_free_ char *text = NULL;
	size_t len;
	uint64_t pid = 0;
	if (flyt_read_file(pidfile, 64, &text, &len, err) < 0)
		return flyt_error_prefix(err, "VM %s", w->name);
	text[strcspn(text, "\n")] = '\0';
	if (flyt_parse_u64(text, INT32_MAX, &pid) < 0 || pid == 0)
		return flyt_error_set(err, FLYT_E_INTERNAL, 0, "VM %s: bad pid file", w->name);
	w->pid = (pid_t)pid;
	w->start_ticks = proc_start_ticks(w->pid);
	_cleanup_qmp_ qmp_t q = QMP_INIT;
	if (qmp_open(&q, w->dir, "qmp.sock", QMP_TIMEOUT_MS, err) < 0 || record_disk_sizes(&q, w, err) < 0) {
		kill(w->pid, SIGKILL);
		return flyt_error_prefix(err, "VM %s", w->name);
	}
	return 0;
}

static int qemu_start(agent_t *a, workload_t *w, flyt_error_t *err)
{
	if (launch(a, w, false, err) < 0) {
		w->pid = 0;
		return -1;
	}
	w->state = WL_RUNNING;
	w->error[0] = '\0';
	return 0;
}

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

/* Ends w's QEMU: quit over QMP, then SIGTERM, then SIGKILL. */
static int terminate(workload_t *w, flyt_error_t *err)
{
	if (w->pid <= 0 || !proc_alive(w->pid, w->start_ticks))
		return 0;
	_cleanup_qmp_ qmp_t q = QMP_INIT;
	flyt_error_t qerr = FLYT_ERROR_INIT;
	if (qmp_open(&q, w->dir, "qmp.sock", 3000, &qerr) == 0)
		qmp_call(&q, "quit", NULL, NULL, &qerr);
	if (wait_gone(w, STOP_TIMEOUT_MS))
		return 0;
	kill(w->pid, SIGTERM);
	if (wait_gone(w, 3000))
		return 0;
	kill(w->pid, SIGKILL);
	if (!wait_gone(w, 5000))
		return flyt_error_set(err, FLYT_E_TIMEOUT, 0, "VM %s (pid %d) did not stop", w->name, (int)w->pid);
	return 0;
}

static int qemu_stop(agent_t *a, workload_t *w, flyt_error_t *err)
{
	if (terminate(w, err) < 0)
		return -1;
	w->pid = 0;
	w->start_ticks = 0;
	w->state = WL_STOPPED;
	return 0;
}

static int qemu_status(agent_t *a, workload_t *w, json_t *ret, flyt_error_t *err)
{
	bool alive = w->pid > 0 && proc_alive(w->pid, w->start_ticks);
	if (w->state == WL_RUNNING && !alive) {
		w->state = WL_EXITED;
		w->pid = 0;
	}
	json_object_set_new(ret, "pid", alive ? json_integer(w->pid) : json_null());
	_cleanup_free_ char *serial = flyt_asprintf("%s/serial.log", w->dir);
	json_object_set_new(ret, "serial_log", json_string(serial));
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

/* Number of local (copied) disks in the spec. */
static size_t local_disks(json_t *spec)
{
	size_t i, n = 0;
	json_t *d;
	json_array_foreach (json_object_get(spec, "disks"), i, d)
		n += !json_is_true(json_object_get(d, "shared"));
	return n;
}

/* Capabilities both sides must agree on (postcopy-ram, multifd). */
static int set_capabilities(qmp_t *q, migration_t *m, bool source, flyt_error_t *err)
{
	json_t *caps = json_array();
	bool postcopy = m->mode == MODE_POSTCOPY;
	json_array_append_new(caps, json_pack("{s:s, s:b}", "capability", "postcopy-ram", "state", postcopy));
	json_array_append_new(caps, json_pack("{s:s, s:b}", "capability", "multifd", "state", m->multifd > 0));
	if (source) {
		json_array_append_new(
		    caps, json_pack("{s:s, s:b}", "capability", "auto-converge", "state", m->auto_converge));
		json_array_append_new(caps, json_pack("{s:s, s:b}", "capability", "xbzrle", "state", m->xbzrle));
		json_array_append_new(caps, json_pack("{s:s, s:b}", "capability", "pause-before-switchover", "state",
						      local_disks(m->w->spec) > 0));
	}
	if (qmp_call(q, "migrate-set-capabilities", json_pack("{s:o}", "capabilities", caps), NULL, err) < 0)
		return -1;
	if (m->multifd > 0 && qmp_call(q, "migrate-set-parameters",
				       json_pack("{s:i}", "multifd-channels", (int)m->multifd), NULL, err) < 0)
		return -1;
	return 0;
}

static void *postcopy_watcher(void *arg);

/* Target: an empty image of the same format and virtual size for every local
 * disk, in the workload's directory (disk0.img for raw, disk0.qcow2); the spec
 * points there from now on. */
static int create_disk_copies(agent_t *a, workload_t *w, flyt_error_t *err)
{
	size_t i;
	json_t *d;
	json_array_foreach (json_object_get(w->spec, "disks"), i, d) {
		if (json_is_true(json_object_get(d, "shared")))
			continue;
		const char *format = flyt_json_str(d, "format", "raw");
		int64_t size = flyt_json_int(d, "size", -1);
		if (size <= 0)
			return flyt_error_set(err, FLYT_E_INVALID, 0, "disk %zu: its size is unknown", i + 1);
		_cleanup_free_ char *path =
		    flyt_asprintf("%s/disk%zu.%s", w->dir, i, strcmp(format, "raw") == 0 ? "img" : format);
		if (diskimg_create(a, path, format, (uint64_t)size, err) < 0)
			return flyt_error_prefix(err, "disk %zu", i + 1);
		json_object_set_new(d, "path", json_string(path));
	}
	return 0;
}

/* Target: an NBD server on the data address exporting every local disk, writable,
 * for the source's mirrors. Returns the port. */
static int export_disks(qmp_t *q, workload_t *w, const char *host, const char *tls, uint16_t *ret_port,
			flyt_error_t *err)
{
	/* QEMU cannot tell which port it got: take a free one (the host's own
	 * network namespace, nobody else binds there meanwhile) */
	uint16_t port = 0;
	int fd = flyt_tcp_listen(host, 0, 1, &port, err);
	if (fd < 0)
		return -1;
	close(fd);
	_cleanup_free_ char *ports = flyt_asprintf("%u", port);
	json_t *args =
	    json_pack("{s:{s:s, s:{s:s, s:s}}}", "addr", "type", "inet", "data", "host", host, "port", ports);
	if (tls)
		json_object_set_new(args, "tls-creds", json_string(tls)); /* clients must speak TLS */
	if (qmp_call(q, "nbd-server-start", args, NULL, err) < 0)
		return -1;
	size_t i;
	json_t *d;
	json_array_foreach (json_object_get(w->spec, "disks"), i, d) {
		if (json_is_true(json_object_get(d, "shared")))
			continue;
		char id[32], node[32];
		snprintf(id, sizeof(id), "disk%zu", i);
		snprintf(node, sizeof(node), "node%zu", i);
		if (qmp_call(q, "block-export-add",
			     json_pack("{s:s, s:s, s:s, s:s, s:b}", "type", "nbd", "id", id, "node-name", node, "name",
				       id, "writable", 1),
			     NULL, err) < 0)
			return -1;
	}
	*ret_port = port;
	return 0;
}

/* TLS for QEMU's own migration connection: credentials made of this agent's
 * certificate (lib/tls.h) in the file names QEMU's tls-creds-x509 object wants,
 * in the migration's directory. Both sides verify the other against the
 * cluster CA; the source also checks that the target's certificate covers the
 * address it connects to. Nothing to do with --plain-http. */
#define TLS_ID_MAX 48

/* 1 with id filled when TLS is on, 0 when off, -1 on failure. */
static int qemu_tls(qmp_t *q, migration_t *m, bool server, char id[TLS_ID_MAX], flyt_error_t *err)
{
	agent_t *a = m->agent;
	if (!a->tls)
		return 0;
	_cleanup_free_ char *dir = flyt_asprintf("%s/qemu-tls", m->dir);
	if (agent_tls_export_qemu(a, dir, err) < 0)
		return -1;
	const char *role = server ? "server" : "client";
	/* one object per migration: a QEMU that stayed after a rolled-back one
	 * still holds the earlier */
	snprintf(id, TLS_ID_MAX, "flyt-tls-%.16s", m->id);
	if (qmp_call(q, "object-add",
		     json_pack("{s:s, s:s, s:s, s:s, s:b}", "qom-type", "tls-creds-x509", "id", id, "dir", dir,
			       "endpoint", role, "verify-peer", 1),
		     NULL, err) < 0)
		return flyt_error_prefix(err, "QEMU's TLS credentials");
	return 1;
}

static int qemu_incoming(migration_t *m, json_t *info, flyt_error_t *err)
{
	agent_t *a = m->agent;
	workload_t *w = m->w;
	if (create_disk_copies(a, w, err) < 0)
		return -1;
	pthread_mutex_lock(&a->lock);
	workload_save(a, w, NULL);
	pthread_mutex_unlock(&a->lock);
	if (launch(a, w, true, err) < 0)
		return -1;
	/* from now on a failure discards it; recorded, so that a restarted flytd
	 * finds it too (it would receive the guest, paused, for nobody) */
	pthread_mutex_lock(&a->lock);
	m->restored_pid = w->pid;
	m->restored_ticks = w->start_ticks;
	flyt_error_t serr = FLYT_ERROR_INIT;
	if (migration_save(m, &serr) < 0)
		log_warn("migration %s: %s", m->id, serr.msg);
	pthread_mutex_unlock(&a->lock);
	_cleanup_qmp_ qmp_t q = QMP_INIT;
	if (qmp_open(&q, w->dir, "qmp-mig.sock", QMP_TIMEOUT_MS, err) < 0 || set_capabilities(&q, m, false, err) < 0)
		return -1;
	char host[128];
	uint16_t port;
	if (flyt_parse_hostport(a->data_listen, host, sizeof(host), &port, err) < 0)
		return -1;
	char tls[TLS_ID_MAX];
	int on = qemu_tls(&q, m, true, tls, err);
	if (on < 0 ||
	    (on && qmp_call(&q, "migrate-set-parameters", json_pack("{s:s}", "tls-creds", tls), NULL, err) < 0))
		return -1;
	_cleanup_free_ char *uri = flyt_asprintf(strchr(host, ':') ? "tcp:[%s]:0" : "tcp:%s:0", host);
	if (qmp_call(&q, "migrate-incoming", json_pack("{s:s}", "uri", uri), NULL, err) < 0)
		return -1;
	_cleanup_json_ json_t *st = NULL;
	if (qmp_call(&q, "query-migrate", NULL, &st, err) < 0)
		return -1;
	json_t *addr = json_array_get(json_object_get(st, "socket-address"), 0);
	const char *p = flyt_json_str(addr, "port", "");
	uint64_t lport = 0;
	if (flyt_parse_u64(p, 65535, &lport) < 0 || lport == 0)
		return flyt_error_set(err, FLYT_E_INTERNAL, 0, "QEMU did not say where it listens for the migration");
	uint16_t relay;
	int relayed = fault_live_relay(m, host, (uint16_t)lport, &relay, err);
	if (relayed < 0)
		return -1;
	json_object_set_new(info, "port", json_integer(relayed ? relay : (json_int_t)lport));
	if (local_disks(w->spec) > 0) {
		uint16_t nbd_port;
		if (export_disks(&q, w, host, on ? tls : NULL, &nbd_port, err) < 0)
			return flyt_error_prefix(err, "exporting the disk copies");
		json_object_set_new(info, "nbd_port", json_integer(nbd_port));
	}
	if (m->mode == MODE_POSTCOPY) {
		if (pthread_create(&m->tunnel_thread, NULL, postcopy_watcher, m) != 0)
			return flyt_error_set(err, FLYT_E_INTERNAL, errno, "postcopy watcher thread");
		m->tunnel_started = true; /* joined by the data connection's thread */
	}
	return 0;
}

/* Target, postcopy: QEMU stays paused (-S) after an incoming migration. When the
 * source switches to postcopy (it decided to commit just before), run the guest
 * at once: its missing memory then arrives on demand. If the migration completes
 * without the switch, the normal "go" runs it. */
static void *postcopy_watcher(void *arg)
{
	migration_t *m = arg;
	workload_t *w = m->w;
	qmp_t q = QMP_INIT;
	flyt_error_t err = FLYT_ERROR_INIT;
	if (qmp_open(&q, w->dir, "qmp-mig.sock", QMP_TIMEOUT_MS, &err) < 0) {
		log_warn("migration %s: postcopy watcher: %s", m->id, err.msg);
		return NULL;
	}
	for (;;) {
		pthread_mutex_lock(&m->agent->lock);
		bool over = migration_phase_terminal(m->phase);
		pthread_mutex_unlock(&m->agent->lock);
		if (over)
			break;
		_cleanup_json_ json_t *st = NULL;
		if (qmp_call(&q, "query-migrate", NULL, &st, &err) < 0)
			break;
		const char *status = flyt_json_str(st, "status", "");
		if (strcmp(status, "postcopy-active") == 0) {
			/* from now on the guest's newest state is here only */
			pthread_mutex_lock(&m->agent->lock);
			m->postcopy_started = true;
			pthread_mutex_unlock(&m->agent->lock);
			if (qmp_call(&q, "cont", NULL, NULL, &err) < 0)
				log_warn("migration %s: running the guest in postcopy: %s", m->id, err.msg);
			break;
		}
		if (strcmp(status, "completed") == 0 || strcmp(status, "failed") == 0 ||
		    strcmp(status, "cancelled") == 0)
			break;
		flyt_sleep_ms(5);
	}
	qmp_close(&q);
	return NULL;
}

/* QEMU's migration status says it switched to postcopy (active, paused,
 * recovering): the guest runs on the target since. */
static bool postcopy_status(const char *status)
{
	return strncmp(status, "postcopy-", 9) == 0;
}

static uint64_t ju(json_t *o, const char *k)
{
	json_int_t v = json_integer_value(json_object_get(o, k));
	return v > 0 ? (uint64_t)v : 0;
}

/* Source: after a failed or cancelled migration, QEMU resumes the guest itself;
 * make sure it does. */
static int ensure_running(qmp_t *q, migration_t *m, flyt_error_t *err)
{
	_cleanup_json_ json_t *st = NULL;
	for (int i = 0; i < 50; i++) {
		json_decref(st);
		st = NULL;
		if (qmp_call(q, "query-status", NULL, &st, err) < 0)
			return -1;
		const char *s = flyt_json_str(st, "status", "");
		if (strcmp(s, "running") == 0)
			return 0;
		if (strcmp(s, "paused") == 0 || strcmp(s, "postmigrate") == 0)
			return qmp_call(q, "cont", NULL, NULL, err);
		flyt_sleep_ms(20);
	}
	return flyt_error_set(err, FLYT_E_INTERNAL, 0, "the source VM is %s, not running",
			      flyt_json_str(st, "status", "?"));
}

/* Source: ends every mirror job (for a job in sync, "cancel" completes it without
 * switching the source to the copy) and waits until none is left. */
/* The NBD client nodes of start_mirrors (best effort: some may not exist). */
static void drop_mirror_targets(qmp_t *q, migration_t *m)
{
	size_t i;
	json_t *d;
	json_array_foreach (json_object_get(m->w->spec, "disks"), i, d) {
		char node[32];
		snprintf(node, sizeof(node), "mirror-target%zu", i);
		flyt_error_t ignored = FLYT_ERROR_INIT;
		qmp_call(q, "blockdev-del", json_pack("{s:s}", "node-name", node), NULL, &ignored);
	}
}

static int end_mirrors(qmp_t *q, migration_t *m, bool force, flyt_error_t *err)
{
	size_t i;
	json_t *d;
	json_array_foreach (json_object_get(m->w->spec, "disks"), i, d) {
		if (json_is_true(json_object_get(d, "shared")))
			continue;
		char job[32];
		snprintf(job, sizeof(job), "mirror%zu", i);
		flyt_error_t ignored = FLYT_ERROR_INIT; /* a job that never started */
		qmp_call(q, "block-job-cancel", json_pack("{s:s, s:b}", "device", job, "force", force), NULL, &ignored);
	}
	uint64_t deadline = flyt_now_ms() + 60000;
	for (;;) {
		_cleanup_json_ json_t *jobs = NULL;
		if (qmp_call(q, "query-block-jobs", NULL, &jobs, err) < 0)
			return -1;
		if (json_array_size(jobs) == 0) {
			drop_mirror_targets(q, m);
			return 0;
		}
		if (flyt_now_ms() > deadline)
			return flyt_error_set(err, FLYT_E_TIMEOUT, 0, "disk mirrors did not end");
		flyt_sleep_ms(20);
	}
}

/* Source: copies every local disk to the target's NBD export and returns once
 * all mirrors are in sync (they then copy every new write until end_mirrors). */
static int start_mirrors(qmp_t *q, migration_t *m, const char *tls, uint64_t *ret_bytes, flyt_error_t *err)
{
	size_t n = local_disks(m->w->spec);
	*ret_bytes = 0;
	if (n == 0)
		return 0;
	if (!m->live_nbd_port)
		return flyt_error_set(err, FLYT_E_CORRUPT, 0, "the target exports no disk copies");
	size_t i;
	json_t *d;
	json_array_foreach (json_object_get(m->w->spec, "disks"), i, d) {
		if (json_is_true(json_object_get(d, "shared")))
			continue;
		char dev[32], job[32], node[32], port[8];
		snprintf(dev, sizeof(dev), "disk%zu", i);
		snprintf(job, sizeof(job), "mirror%zu", i);
		snprintf(node, sizeof(node), "mirror-target%zu", i);
		snprintf(port, sizeof(port), "%u", m->live_nbd_port);
		/* the target's export as a node of its own (over TLS when the export
		 * wants it), then a mirror into it */
		json_t *nbd = json_pack("{s:s, s:s, s:{s:s, s:s, s:s}, s:s}", "driver", "nbd", "node-name", node,
					"server", "type", "inet", "host", m->live_host, "port", port, "export", dev);
		if (tls) {
			json_object_set_new(nbd, "tls-creds", json_string(tls));
			json_object_set_new(nbd, "tls-hostname", json_string(m->live_host));
		}
		if (qmp_call(q, "blockdev-add", nbd, NULL, err) < 0)
			return flyt_error_prefix(err, "disk %zu: the target's export", i + 1);
		json_t *args =
		    json_pack("{s:s, s:s, s:s, s:s}", "device", dev, "job-id", job, "target", node, "sync", "full");
		if (m->bandwidth)
			json_object_set_new(args, "speed", json_integer((json_int_t)m->bandwidth));
		if (qmp_call(q, "blockdev-mirror", args, NULL, err) < 0)
			return flyt_error_prefix(err, "disk %zu", i + 1);
	}
	for (;;) {
		_cleanup_json_ json_t *jobs = NULL;
		if (qmp_call(q, "query-block-jobs", NULL, &jobs, err) < 0)
			return -1;
		size_t k, ready = 0;
		uint64_t bytes = 0;
		json_t *j;
		json_array_foreach (jobs, k, j) {
			ready += json_is_true(json_object_get(j, "ready"));
			bytes += ju(j, "offset");
		}
		*ret_bytes = bytes;
		pthread_mutex_lock(&m->agent->lock);
		m->bytes = bytes;
		migration_changed(m);
		pthread_mutex_unlock(&m->agent->lock);
		if (json_array_size(jobs) < n)
			return flyt_error_set(err, FLYT_E_IO, 0, "a disk mirror ended before it was in sync%s%s%s",
					      q->job_error[0] ? " (" : "", q->job_error, q->job_error[0] ? ")" : "");
		if (ready == n)
			return 0;
		if (atomic_load(&m->cancel))
			return flyt_error_set(err, FLYT_E_CANCELLED, 0, "cancelled by request");
		flyt_sleep_ms(POLL_MS);
	}
}

static int qemu_send(migration_t *m, flyt_error_t *err)
{
	workload_t *w = m->w;
	_cleanup_qmp_ qmp_t q = QMP_INIT;
	if (qmp_open(&q, w->dir, "qmp-mig.sock", QMP_TIMEOUT_MS, err) < 0 || set_capabilities(&q, m, true, err) < 0)
		return -1;
	char tls[TLS_ID_MAX];
	int on = qemu_tls(&q, m, false, tls, err);
	if (on < 0)
		return -1;
	uint64_t disk_bytes = 0;
	if (start_mirrors(&q, m, on ? tls : NULL, &disk_bytes, err) < 0) {
		flyt_error_t ignored = FLYT_ERROR_INIT;
		end_mirrors(&q, m, true, &ignored);
		return flyt_error_prefix(err, "copying the local disks");
	}
	/* --bandwidth holds for the whole copy: in postcopy too (0: unlimited) */
	json_t *params =
	    json_pack("{s:I, s:I}", "max-bandwidth", (json_int_t)(m->bandwidth ? (int64_t)m->bandwidth : UNLIMITED_BPS),
		      "max-postcopy-bandwidth", (json_int_t)m->bandwidth);
	if (m->max_downtime_ms > 0)
		json_object_set_new(params, "downtime-limit", json_integer(m->max_downtime_ms));
	if (on) {
		json_object_set_new(params, "tls-creds", json_string(tls));
		json_object_set_new(params, "tls-hostname", json_string(m->live_host));
	}
	if (qmp_call(&q, "migrate-set-parameters", params, NULL, err) < 0)
		return -1;
	if (qmp_call(&q, "migrate", json_pack("{s:s}", "uri", m->live_uri), NULL, err) < 0)
		return -1;
	bool cancelling = false, continued = false, stalled = false;
	uint64_t last_pub = 0, last_sent = 0, progress_ms = flyt_now_ms();
	for (;;) {
		_cleanup_json_ json_t *st = NULL;
		if (qmp_call(&q, "query-migrate", NULL, &st, err) < 0)
			return -1;
		const char *status = flyt_json_str(st, "status", "");
		json_t *ram = json_object_get(st, "ram");
		uint64_t now = flyt_now_ms();
		pthread_mutex_lock(&m->agent->lock);
		if (ram) {
			m->bytes = disk_bytes + ju(ram, "transferred");
			m->remaining_bytes = ju(ram, "remaining");
			m->dirty_rate = ju(ram, "dirty-pages-rate") * ju(ram, "page-size");
			m->passes = (unsigned)ju(ram, "dirty-sync-count");
		}
		if (now - last_pub >= 200) {
			last_pub = now;
			migration_changed(m);
		}
		pthread_mutex_unlock(&m->agent->lock);
		if (m->postcopy_requested && !m->postcopy_started &&
		    (postcopy_status(status) || (!strcmp(status, "completed") && ram && ju(ram, "postcopy-bytes") > 0)))
			migration_postcopy_switched(m);
		uint64_t sent = ram ? ju(ram, "transferred") : 0;
		if (sent != last_sent || strcmp(status, "active") != 0) {
			last_sent = sent;
			progress_ms = now;
		}

		if (strcmp(status, "completed") == 0) {
			int64_t downtime = (int64_t)ju(st, "downtime");
			pthread_mutex_lock(&m->agent->lock);
			m->t_freeze = now - (uint64_t)downtime;
			m->dump_ms = (int64_t)ju(st, "total-time");
			m->remaining_bytes = 0;
			if (m->postcopy_started) {
				/* the guest ran on the target since the switch */
				m->downtime_ms = downtime;
				m->downtime_final = true;
			}
			migration_changed(m);
			pthread_mutex_unlock(&m->agent->lock);
			return 0;
		}
		if (strcmp(status, "pre-switchover") == 0 && !continued) {
			/* the guest is paused: its disks cannot change any more. Once only:
			 * QEMU's migration thread may still report pre-switchover for a
			 * while after migrate-continue, and a second one fails once it has
			 * moved on ("Migration not in expected state: completed"). */
			if (end_mirrors(&q, m, false, err) < 0)
				return flyt_error_prefix(err, "ending the disk mirrors");
			if (qmp_call(&q, "migrate-continue", json_pack("{s:s}", "state", "pre-switchover"), NULL, err) <
			    0)
				return -1;
			continued = true;
			continue;
		}
		if (strcmp(status, "failed") == 0 || strcmp(status, "cancelled") == 0) {
			flyt_error_t cause = FLYT_ERROR_INIT;
			flyt_error_t ignored = FLYT_ERROR_INIT;
			end_mirrors(&q, m, true, &ignored);
			if (stalled)
				flyt_error_set(
				    &cause, FLYT_E_TIMEOUT, 0,
				    "QEMU sent nothing for %d s: the target no longer takes the guest's memory",
				    (int)(m->agent->io_timeout_ms / 1000));
			else if (cancelling)
				flyt_error_set(&cause, FLYT_E_CANCELLED, 0, "cancelled by request");
			else
				flyt_error_set(&cause, FLYT_E_IO, 0, "QEMU: migration %s%s%s", status,
					       json_object_get(st, "error-desc") ? ": " : "",
					       flyt_json_str(st, "error-desc", ""));
			if (m->postcopy_started) {
				*err = cause;
				return flyt_error_prefix(err,
							 "after the switch to postcopy (the VM cannot resume here)");
			}
			if (m->postcopy_requested) {
				/* QEMU failed before it switched: its source still holds
				 * the whole guest and resumes it */
				migration_decide_live(m, DECISION_NONE);
				flyt_error_prefix(&cause, "before QEMU switched to postcopy");
			}
			flyt_error_t rerr = FLYT_ERROR_INIT;
			if (ensure_running(&q, m, &rerr) < 0)
				log_warn("migration %s: %s", m->id, rerr.msg);
			*err = cause;
			return -1;
		}
		/* a peer gone silent (a cut link) stalls QEMU's socket for as long as
		 * TCP retries, many minutes: a silent peer fails the migration after
		 * the I/O timeout, as on flyt's own connections */
		bool silent = now - progress_ms > (uint64_t)m->agent->io_timeout_ms;
		/* once the switch was asked, only while QEMU still says "active"
		 * (a stalled QEMU cannot switch): a cancel in postcopy would have
		 * QEMU run the guest here again while the target runs it too */
		if ((atomic_load(&m->cancel) || silent) && !cancelling && !m->postcopy_started &&
		    (!m->postcopy_requested || strcmp(status, "active") == 0)) {
			cancelling = true;
			stalled = !atomic_load(&m->cancel);
			if (qmp_call(&q, "migrate_cancel", NULL, NULL, err) < 0)
				return -1;
		}
		bool want_switch = m->mode == MODE_POSTCOPY && !m->postcopy_requested && !cancelling &&
				   strcmp(status, "active") == 0 &&
				   (m->passes > m->postcopy_after || atomic_load(&m->postcopy_now));
		if (want_switch) {
			/* the decision is written first: QEMU may switch at any time
			 * from now on (it does once what must go in precopy is sent) */
			if (migration_decide_live(m, DECISION_COMMIT) < 0)
				return flyt_error_set(err, FLYT_E_IO, 0, "cannot record the switch-over decision");
			if (qmp_call(&q, "migrate-start-postcopy", NULL, NULL, err) < 0) {
				migration_decide_live(m, DECISION_NONE);
				return -1;
			}
			migration_postcopy_asked(m, "QEMU");
		}
		flyt_sleep_ms(POLL_MS);
	}
}

static int qemu_restore(migration_t *m, flyt_error_t *err)
{
	workload_t *w = m->w;
	uint64_t t0 = flyt_now_ms();
	_cleanup_qmp_ qmp_t q = QMP_INIT;
	if (qmp_open(&q, w->dir, "qmp.sock", QMP_TIMEOUT_MS, err) < 0)
		return -1;
	uint64_t deadline = t0 + INCOMING_DONE_TIMEOUT_MS, paused_since = t0;
	for (;;) {
		_cleanup_json_ json_t *st = NULL;
		if (qmp_call(&q, "query-migrate", NULL, &st, err) < 0)
			return -1;
		const char *status = flyt_json_str(st, "status", "");
		uint64_t now = flyt_now_ms();
		if (strcmp(status, "completed") == 0)
			break;
		if (strcmp(status, "failed") == 0 || strcmp(status, "cancelled") == 0)
			return flyt_error_set(err, FLYT_E_IO, 0, "incoming migration %s", status);
		if (atomic_load(&m->agent->stopping))
			return flyt_error_set(err, FLYT_E_CANCELLED, 0, "flytd stops");
		/* in postcopy the guest runs here and its memory comes as long as
		 * it takes (no deadline); without its connection to the source
		 * (postcopy-paused) it cannot go on */
		if (strcmp(status, "postcopy-active") == 0)
			deadline = now + INCOMING_DONE_TIMEOUT_MS;
		if (strcmp(status, "postcopy-paused") == 0 && now > paused_since + (uint64_t)m->agent->io_timeout_ms)
			return flyt_error_set(err, FLYT_E_IO, 0,
					      "QEMU lost its connection to the source in postcopy (postcopy-paused)");
		if (strcmp(status, "postcopy-paused") != 0)
			paused_since = now;
		if (now > deadline)
			return flyt_error_set(err, FLYT_E_TIMEOUT, 0, "incoming migration still %s after %d s", status,
					      INCOMING_DONE_TIMEOUT_MS / 1000);
		flyt_sleep_ms(10);
	}
	if (!proc_alive(w->pid, w->start_ticks))
		return flyt_error_set(err, FLYT_E_INTERNAL, 0, "the target QEMU is gone");
	if (local_disks(w->spec) > 0 && qmp_call(&q, "nbd-server-stop", NULL, NULL, err) < 0)
		return flyt_error_prefix(err, "stopping the disk exports");
	m->restore_ms = (int64_t)(flyt_now_ms() - t0);
	return 0;
}

static int qemu_resume(migration_t *m, flyt_error_t *err)
{
	workload_t *w = m->w;
	_cleanup_qmp_ qmp_t q = QMP_INIT;
	_cleanup_json_ json_t *st = NULL;
	if (qmp_open(&q, w->dir, "qmp.sock", QMP_TIMEOUT_MS, err) < 0 ||
	    qmp_call(&q, "query-status", NULL, &st, err) < 0)
		return -1;
	if (strcmp(flyt_json_str(st, "status", ""), "running") != 0 && qmp_call(&q, "cont", NULL, NULL, err) < 0)
		return -1;
	return 0;
}

static int qemu_discard(migration_t *m, flyt_error_t *err)
{
	workload_t *w = m->w;
	if (!w || w->pid <= 0)
		return 0;
	if (proc_alive(w->pid, w->start_ticks)) {
		kill(w->pid, SIGKILL);
		if (!wait_gone(w, 5000))
			return flyt_error_set(err, FLYT_E_TIMEOUT, 0, "the target QEMU (pid %d) did not die",
					      (int)w->pid);
	}
	w->pid = 0;
	return 0;
}

static int qemu_dump_finish(migration_t *m, bool commit, flyt_error_t *err)
{
	if (commit)
		return 0; /* the paused source ends in finish_source, once the target runs */
	if (m->postcopy_started)
		return flyt_error_set(
		    err, FLYT_E_INTERNAL, 0,
		    "the migration had switched to postcopy: the guest ran on the target since, and the "
		    "copy here is out of date");
	workload_t *w = m->w;
	if (!proc_alive(w->pid, w->start_ticks))
		return flyt_error_set(err, FLYT_E_INTERNAL, 0, "the source QEMU is gone");
	_cleanup_qmp_ qmp_t q = QMP_INIT;
	if (qmp_open(&q, w->dir, "qmp.sock", QMP_TIMEOUT_MS, err) < 0)
		return -1;
	/* QEMU may still be migrating (flytd restarted meanwhile): stop that first,
	 * unless it switched to postcopy (a cancel then would run the out-of-date
	 * guest here while the target runs it too) */
	uint64_t deadline = flyt_now_ms() + 30000;
	for (bool cancelled = false;; cancelled = true) {
		_cleanup_json_ json_t *st = NULL;
		if (qmp_call(&q, "query-migrate", NULL, &st, err) < 0)
			return -1;
		const char *s = flyt_json_str(st, "status", "none");
		if (!cancelled && !postcopy_status(s)) {
			flyt_error_t ignored = FLYT_ERROR_INIT;
			qmp_call(&q, "migrate_cancel", NULL, NULL, &ignored);
			continue;
		}
		if (!strcmp(s, "none") || !strcmp(s, "completed") || !strcmp(s, "failed") || !strcmp(s, "cancelled"))
			break;
		if (postcopy_status(s))
			return flyt_error_set(
			    err, FLYT_E_INTERNAL, 0,
			    "QEMU is in postcopy (%s): the guest runs on the target, the copy here is out of date", s);
		if (flyt_now_ms() > deadline)
			return flyt_error_set(err, FLYT_E_TIMEOUT, 0, "QEMU's migration is still %s", s);
		flyt_sleep_ms(20);
	}
	if (ensure_running(&q, m, err) < 0)
		return -1;
	w->state = WL_RUNNING;
	return 0;
}

static int qemu_finish_source(migration_t *m, flyt_error_t *err)
{
	return terminate(m->w, err);
}

const driver_t driver_qemu = {
	.kind = "qemu",
	.probe = qemu_probe,
	.validate = qemu_validate,
	.start = qemu_start,
	.stop = qemu_stop,
	.destroy = qemu_stop,
	.status = qemu_status,
	.dump_finish = qemu_dump_finish,
	.restore = qemu_restore,
	.resume = qemu_resume,
	.discard = qemu_discard,
	.receive = qemu_incoming,
	.send = qemu_send,
	.finish_source = qemu_finish_source,
};
