/* Host facts and capabilities: what this host is (kernel, CPU, memory, load) and
 * what it can do (CRIU version, soft-dirty and userfaultfd support, migration
 * modes, drivers), each "no" with its reason. The slow probes (CRIU) run once at
 * start and on demand; load and memory are read at every call. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "agent/agent.h"
#include "agent/criu.h"
#include "flyt-config.h"
#include "lib/cleanup.h"
#include "lib/json.h"
#include "lib/util.h"

#define PIPE_MAX_WANTED 4194304

static json_t *cpu_info(void)
{
	json_t *cpu = json_object();
	json_object_set_new(cpu, "count", json_integer(sysconf(_SC_NPROCESSORS_ONLN)));
	_cleanup_free_ char *text = NULL;
	if (flyt_read_file("/proc/cpuinfo", 4 * 1024 * 1024, &text, NULL, NULL) < 0)
		return cpu;
	json_t *flags = json_array();
	bool have_model = false, have_flags = false;
	for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
		char *colon = strchr(line, ':');
		if (!colon)
			continue;
		const char *v = colon + 1;
		while (*v == ' ')
			v++;
		if (!have_model && flyt_startswith(line, "model name")) {
			json_object_set_new(cpu, "model", json_string(v));
			have_model = true;
		} else if (!have_flags && flyt_startswith(line, "flags")) {
			_cleanup_free_ char *copy = flyt_strdup(v);
			char *save = NULL;
			for (char *f = strtok_r(copy, " ", &save); f; f = strtok_r(NULL, " ", &save))
				json_array_append_new(flags, json_string(f));
			have_flags = true;
		}
		if (have_model && have_flags)
			break;
	}
	json_object_set_new(cpu, "flags", flags);
	return cpu;
}

static json_t *memory_info(void)
{
	json_t *mem = json_object();
	_cleanup_free_ char *text = NULL;
	if (flyt_read_file("/proc/meminfo", 64 * 1024, &text, NULL, NULL) < 0)
		return mem;
	for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
		unsigned long long kb;
		if (sscanf(line, "MemTotal: %llu kB", &kb) == 1)
			json_object_set_new(mem, "total_bytes", json_integer((json_int_t)(kb * 1024)));
		else if (sscanf(line, "MemAvailable: %llu kB", &kb) == 1)
			json_object_set_new(mem, "available_bytes", json_integer((json_int_t)(kb * 1024)));
	}
	return mem;
}

static int64_t read_int_file(const char *path, int64_t dflt)
{
	_cleanup_free_ char *text = NULL;
	if (flyt_read_file(path, 64, &text, NULL, NULL) < 0)
		return dflt;
	return strtoll(text, NULL, 10);
}

int facts_refresh(agent_t *a, flyt_error_t *err)
{
	char version[32] = "";
	flyt_error_t verr = FLYT_ERROR_INIT;
	bool ok = false;
	char reason[256] = "";
	if (criu_version(a->criu, version, sizeof(version), &verr) < 0) {
		snprintf(reason, sizeof(reason), "CRIU unusable: %s", verr.msg);
	} else if (flyt_version_cmp(version, "4.2") < 0) {
		snprintf(
		    reason, sizeof(reason),
		    "CRIU %s is too old: 4.2 or newer is needed to dump sockets on this kernel (scripts/provision-criu.sh installs it)",
		    version);
	} else {
		ok = true;
	}
	bool soft_dirty = ok && criu_has_feature(a->criu, "mem_dirty_track");
	bool uffd = ok && criu_has_feature(a->criu, "uffd-noncoop");

	pthread_mutex_lock(&a->facts_lock);
	snprintf(a->criu_version, sizeof(a->criu_version), "%s", version);
	a->criu_ok = ok;
	snprintf(a->criu_reason, sizeof(a->criu_reason), "%s", reason);
	a->has_soft_dirty = soft_dirty;
	a->has_uffd = uffd;
	a->pipe_max_size = read_int_file("/proc/sys/fs/pipe-max-size", 0);
	json_decref(a->facts);
	a->facts = json_object();
	struct utsname u;
	uname(&u);
	json_object_set_new(a->facts, "kernel", json_string(u.release));
	json_object_set_new(a->facts, "arch", json_string(u.machine));
	json_object_set_new(a->facts, "hostname", json_string(u.nodename));
	json_object_set_new(a->facts, "cpu", cpu_info());
	pthread_mutex_unlock(&a->facts_lock);
	return 0;
}

bool facts_mode_available(agent_t *a, migration_mode_t mode, char *reason, size_t size)
{
	reason[0] = '\0';
	if (!a->criu_ok) {
		snprintf(reason, size, "%s", a->criu_reason);
		return false;
	}
	switch (mode) {
	case MODE_STOP_COPY:
		return true;
	case MODE_LAZY:
		if (!a->has_uffd) {
			snprintf(reason, size,
				 "the kernel lacks non-cooperative userfaultfd (criu check --feature uffd-noncoop)");
			return false;
		}
		a->pipe_max_size = read_int_file("/proc/sys/fs/pipe-max-size", a->pipe_max_size);
		if (a->pipe_max_size < PIPE_MAX_WANTED) {
			snprintf(
			    reason, size,
			    "fs.pipe-max-size is %lld, lazy pages need %d (sysctl -w fs.pipe-max-size=%d, or scripts/setup.sh)",
			    (long long)a->pipe_max_size, PIPE_MAX_WANTED, PIPE_MAX_WANTED);
			return false;
		}
		return true;
	case MODE_PRECOPY:
		if (!a->has_soft_dirty) {
			snprintf(
			    reason, size,
			    "the kernel has no soft-dirty memory tracking, so iterative pre-dump is impossible (criu check --feature mem_dirty_track)");
			return false;
		}
		return true;
	case MODE_SHARED:
		if (!a->shared_dirs || !a->shared_dirs[0]) {
			snprintf(reason, size, "no shared directory configured (flytd --shared-dir DIR)");
			return false;
		}
		return true;
	default:
		snprintf(reason, size, "not a migration mode");
		return false;
	}
}

bool driver_mode_supported(agent_t *a, const driver_t *drv, migration_mode_t mode, char *reason, size_t size)
{
	reason[0] = '\0';
	_cleanup_json_ json_t *caps = json_object();
	if (drv->probe(a, caps, NULL) < 0)
		return true; /* availability is checked elsewhere, with its reason */
	json_t *modes = json_object_get(caps, "modes");
	if (!json_is_array(modes))
		return true;
	size_t i;
	json_t *v;
	json_array_foreach (modes, i, v)
		if (json_is_string(v) && strcmp(json_string_value(v), migration_mode_name(mode)) == 0)
			return true;
	snprintf(reason, size, "the %s driver cannot migrate in mode %s", drv->kind, migration_mode_name(mode));
	return false;
}

json_t *facts_modes(agent_t *a)
{
	json_t *modes = json_object();
	for (int m = MODE_STOP_COPY; m < MODE_MAX; m++) {
		char reason[512];
		bool ok = facts_mode_available(a, (migration_mode_t)m, reason, sizeof(reason));
		json_t *e = json_pack("{s:b}", "available", ok);
		if (!ok)
			json_object_set_new(e, "reason", json_string(reason));
		json_object_set_new(modes, migration_mode_name((migration_mode_t)m), e);
	}
	return modes;
}

json_t *facts_get(agent_t *a)
{
	pthread_mutex_lock(&a->facts_lock);
	json_t *f = a->facts ? json_deep_copy(a->facts) : json_object();
	json_t *criu = json_pack("{s:s, s:s, s:b}", "path", a->criu, "version", a->criu_version, "ok", a->criu_ok);
	if (!a->criu_ok)
		json_object_set_new(criu, "reason", json_string(a->criu_reason));
	json_object_set_new(f, "criu", criu);
	json_object_set_new(f, "features",
			    json_pack("{s:b, s:b, s:I}", "soft_dirty", a->has_soft_dirty, "userfaultfd", a->has_uffd,
				      "pipe_max_size", (json_int_t)read_int_file("/proc/sys/fs/pipe-max-size", 0)));
	pthread_mutex_unlock(&a->facts_lock);

	json_object_set_new(f, "name", json_string(a->name));
	json_object_set_new(f, "version", json_string(FLYT_VERSION));
	json_object_set_new(f, "url", json_string(a->advertise_url));
	json_object_set_new(f, "data_port", json_integer(a->data_port));
	if (a->area)
		json_object_set_new(f, "area", json_string(a->area));
	json_object_set_new(f, "memory", memory_info());
	double load[3] = { 0, 0, 0 };
	if (getloadavg(load, 3) == 3)
		json_object_set_new(f, "load", json_pack("[f,f,f]", load[0], load[1], load[2]));
	json_object_set_new(f, "modes", facts_modes(a));
	json_t *drivers = json_object();
	for (size_t i = 0; i < agent_ndrivers; i++) {
		const driver_t *d = agent_drivers[i];
		json_t *caps = json_object();
		flyt_error_t err = FLYT_ERROR_INIT;
		if (driver_find(a, d->kind) == NULL) {
			json_object_set_new(caps, "available", json_false());
			json_object_set_new(caps, "reason", json_string("disabled in this agent's configuration"));
		} else if (d->probe(a, caps, &err) < 0) {
			json_object_set_new(caps, "available", json_false());
			json_object_set_new(caps, "reason", json_string(err.msg));
		}
		json_object_set_new(drivers, d->kind, caps);
	}
	json_object_set_new(f, "drivers", drivers);
	json_t *shared = json_array();
	for (char **s = a->shared_dirs; s && *s; s++)
		json_array_append_new(shared, json_string(*s));
	json_object_set_new(f, "shared_dirs", shared);
	return f;
}
