/* The agent's workloads: the registry, their records in the state directory (so
 * they survive a restart of flytd), and the operations the API offers on them.
 *
 * Locking: a->lock guards the registry and every workload's fields. Driver calls
 * that may take time run without the lock, with w->busy set so that nothing else
 * touches the workload meanwhile. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent/agent.h"
#include "agent/proctree.h"
#include "lib/cleanup.h"
#include "lib/json.h"
#include "lib/log.h"
#include "lib/util.h"

static const char *const state_names[WL_STATE_MAX] = {
	[WL_CREATING] = "creating",   [WL_RUNNING] = "running",	  [WL_STOPPED] = "stopped", [WL_EXITED] = "exited",
	[WL_MIGRATING] = "migrating", [WL_INCOMING] = "incoming", [WL_FAILED] = "failed",
};

const char *workload_state_name(workload_state_t s)
{
	return s >= 0 && s < WL_STATE_MAX ? state_names[s] : "unknown";
}

workload_state_t workload_state_from_name(const char *s)
{
	for (int i = 0; i < WL_STATE_MAX; i++)
		if (s && strcmp(s, state_names[i]) == 0)
			return (workload_state_t)i;
	return WL_STATE_INVALID;
}

const driver_t *driver_find(agent_t *a, const char *kind)
{
	for (size_t i = 0; i < agent_ndrivers; i++) {
		if (!kind || strcmp(agent_drivers[i]->kind, kind) != 0)
			continue;
		if (!a->drivers_enabled)
			return agent_drivers[i];
		for (char **e = a->drivers_enabled; *e; e++)
			if (strcmp(*e, kind) == 0)
				return agent_drivers[i];
		return NULL;
	}
	return NULL;
}

workload_t *workload_new(agent_t *a, const char *id, const char *name, const driver_t *drv, json_t *spec)
{
	workload_t *w = flyt_malloc0(sizeof(*w));
	snprintf(w->id, sizeof(w->id), "%s", id);
	snprintf(w->name, sizeof(w->name), "%s", name);
	w->driver = drv;
	w->spec = json_incref(spec);
	w->state = WL_CREATING;
	w->created_ms = flyt_wall_ms();
	snprintf(w->dir, sizeof(w->dir), "%s/workloads/%s", a->state_dir, name);
	snprintf(w->files_dir, sizeof(w->files_dir), "%s/files", w->dir);
	return w;
}

void workload_free(workload_t *w)
{
	if (!w)
		return;
	json_decref(w->spec);
	free(w->busy);
	free(w);
}

workload_t *workload_find(agent_t *a, const char *name)
{
	for (size_t i = 0; i < a->nworkloads; i++)
		if (strcmp(a->workloads[i]->name, name) == 0)
			return a->workloads[i];
	return NULL;
}

int workload_add(agent_t *a, workload_t *w, flyt_error_t *err)
{
	if (workload_find(a, w->name))
		return flyt_error_set(err, FLYT_E_CONFLICT, 0, "workload %s already exists on this host", w->name);
	workload_t **nw = realloc(a->workloads, (a->nworkloads + 1) * sizeof(*nw));
	if (!nw)
		abort();
	a->workloads = nw;
	a->workloads[a->nworkloads++] = w;
	return 0;
}

void workload_remove(agent_t *a, workload_t *w)
{
	for (size_t i = 0; i < a->nworkloads; i++) {
		if (a->workloads[i] != w)
			continue;
		memmove(&a->workloads[i], &a->workloads[i + 1], (a->nworkloads - i - 1) * sizeof(*a->workloads));
		a->nworkloads--;
		break;
	}
	workload_free(w);
}

int workload_save(agent_t *a, workload_t *w, flyt_error_t *err)
{
	if (flyt_mkdir_p(w->dir, 0700, err) < 0)
		return -1;
	_cleanup_json_ json_t *j = json_pack(
	    "{s:s, s:s, s:s, s:O, s:s, s:s, s:i, s:I, s:I}", "id", w->id, "name", w->name, "kind", w->driver->kind,
	    "spec", w->spec, "state", workload_state_name(w->state), "error", w->error, "pid", (int)w->pid,
	    "start_ticks", (json_int_t)w->start_ticks, "created_ms", (json_int_t)w->created_ms);
	_cleanup_free_ char *text = flyt_json_dumps(j);
	_cleanup_free_ char *path = flyt_asprintf("%s/workload.json", w->dir);
	return flyt_write_file_atomic(path, text, strlen(text), 0600, err);
}

static int workload_load(agent_t *a, const char *name, flyt_error_t *err)
{
	_cleanup_free_ char *path = flyt_asprintf("%s/workloads/%s/workload.json", a->state_dir, name);
	_cleanup_free_ char *text = NULL;
	size_t len;
	if (flyt_read_file(path, 4 * 1024 * 1024, &text, &len, err) < 0)
		return -1;
	_cleanup_json_ json_t *j = NULL;
	if (flyt_json_parse_object(text, len, 4 * 1024 * 1024, &j, err) < 0)
		return flyt_error_prefix(err, "%s", path);
	const char *id = flyt_json_str(j, "id", ""), *kind = flyt_json_str(j, "kind", "");
	const driver_t *drv = driver_find(a, kind);
	if (!drv)
		return flyt_error_set(err, FLYT_E_UNSUPPORTED, 0, "%s: driver %s is not available", path, kind);
	if (!flyt_id_valid(id) || strcmp(flyt_json_str(j, "name", ""), name) != 0)
		return flyt_error_set(err, FLYT_E_CORRUPT, 0, "%s: record does not match its directory", path);
	workload_t *w = workload_new(a, id, name, drv, json_object_get(j, "spec"));
	w->state = workload_state_from_name(flyt_json_str(j, "state", ""));
	snprintf(w->error, sizeof(w->error), "%s", flyt_json_str(j, "error", ""));
	w->pid = (pid_t)flyt_json_int(j, "pid", 0);
	w->start_ticks = (uint64_t)flyt_json_int(j, "start_ticks", 0);
	w->created_ms = flyt_json_int(j, "created_ms", 0);
	if (w->state == WL_INCOMING || w->state == WL_CREATING || w->state == WL_STATE_INVALID) {
		/* a half-arrived or half-created workload: migrate_target / create own
		 * those and they did not finish; migration_load_all settles incoming
		 * ones, the rest are dropped */
		if (w->state != WL_INCOMING) {
			log_warn("dropping workload %s left in state %s", name, flyt_json_str(j, "state", "?"));
			flyt_rm_rf(w->dir, NULL);
			workload_free(w);
			return 0;
		}
	}
	if (w->state == WL_MIGRATING)
		w->state = WL_RUNNING; /* the migration settles this (migration_load_all) */
	if (w->state == WL_RUNNING && w->pid > 0 && !proc_alive(w->pid, w->start_ticks)) {
		log_warn("workload %s (pid %d) ended while flytd was away", name, (int)w->pid);
		w->state = WL_EXITED;
		w->pid = 0;
	}
	pthread_mutex_lock(&a->lock);
	int r = workload_add(a, w, err);
	pthread_mutex_unlock(&a->lock);
	if (r < 0) {
		workload_free(w);
		return -1;
	}
	workload_save(a, w, NULL);
	return 0;
}

int workload_load_all(agent_t *a, flyt_error_t *err)
{
	_cleanup_free_ char *dir = flyt_asprintf("%s/workloads", a->state_dir);
	if (flyt_mkdir_p(dir, 0700, err) < 0)
		return -1;
	_cleanup_closedir_ DIR *d = opendir(dir);
	if (!d)
		return flyt_error_set(err, FLYT_E_IO, errno, "open %s", dir);
	struct dirent *de;
	while ((de = readdir(d))) {
		if (!flyt_name_valid(de->d_name))
			continue;
		flyt_error_t e = FLYT_ERROR_INIT;
		if (workload_load(a, de->d_name, &e) < 0)
			log_error("cannot load workload %s: %s", de->d_name, e.msg);
	}
	return 0;
}

json_t *workload_json(agent_t *a, workload_t *w, bool live)
{
	json_t *j = json_pack("{s:s, s:s, s:s, s:s, s:O, s:s, s:s}", "id", w->id, "name", w->name, "kind",
			      w->driver->kind, "state", workload_state_name(w->state), "spec", w->spec, "host", a->name,
			      "files_dir", w->files_dir);
	char when[40];
	flyt_format_time(w->created_ms, when, sizeof(when));
	json_object_set_new(j, "created", json_string(when));
	if (w->error[0])
		json_object_set_new(j, "error", json_string(w->error));
	if (w->busy)
		json_object_set_new(j, flyt_id_valid(w->busy) ? "migration" : "busy", json_string(w->busy));
	if (live && !w->busy) {
		flyt_error_t err = FLYT_ERROR_INIT;
		json_t *st = json_object();
		if (w->driver->status(a, w, st, &err) == 0)
			json_object_update(j, st);
		json_decref(st);
		json_object_set_new(j, "state", json_string(workload_state_name(w->state)));
	} else {
		json_object_set_new(j, "pid", w->pid > 0 ? json_integer(w->pid) : json_null());
	}
	return j;
}

json_t *workloads_summary(agent_t *a)
{
	json_t *arr = json_array();
	pthread_mutex_lock(&a->lock);
	for (size_t i = 0; i < a->nworkloads; i++)
		json_array_append_new(arr, workload_json(a, a->workloads[i], true));
	pthread_mutex_unlock(&a->lock);
	return arr;
}

int workload_create(agent_t *a, json_t *body, json_t **ret, flyt_error_t *err)
{
	static const char *const keys[] = { "id", "name", "kind", "spec", "start", NULL };
	if (flyt_json_check_keys(body, "workload", keys, err) < 0)
		return -1;
	const char *id = NULL, *name = NULL, *kind = NULL;
	json_t *spec = NULL;
	bool start = true;
	if (flyt_json_get_string(body, "id", false, 32, &id, err) < 0 ||
	    flyt_json_get_string(body, "name", true, 63, &name, err) < 0 ||
	    flyt_json_get_string(body, "kind", true, 15, &kind, err) < 0 ||
	    flyt_json_get_object(body, "spec", true, &spec, err) < 0 ||
	    flyt_json_get_bool(body, "start", false, &start, err) < 0)
		return -1;
	if (!flyt_name_valid(name))
		return flyt_error_set(
		    err, FLYT_E_INVALID, 0,
		    "workload name \"%.63s\" is not valid: use 1-63 of a-z 0-9 . _ -, starting with a letter or digit",
		    name);
	char idbuf[33];
	if (id && !flyt_id_valid(id))
		return flyt_error_set(err, FLYT_E_INVALID, 0, "workload id must be 32 lower-case hex digits");
	if (!id) {
		if (flyt_new_id(idbuf, err) < 0)
			return -1;
		id = idbuf;
	}
	const driver_t *drv = driver_find(a, kind);
	if (!drv)
		return flyt_error_set(err, FLYT_E_UNSUPPORTED, 0, "this host has no %s driver", kind);
	json_t *caps = json_object();
	drv->probe(a, caps, err);
	bool avail = json_is_true(json_object_get(caps, "available"));
	char reason[300];
	snprintf(reason, sizeof(reason), "%s", flyt_json_str(caps, "reason", "unavailable"));
	json_decref(caps);
	if (!avail)
		return flyt_error_set(err, FLYT_E_UNSUPPORTED, 0, "the %s driver is not available here: %s", kind,
				      reason);
	if (drv->validate(a, spec, err) < 0)
		return -1;

	workload_t *w = workload_new(a, id, name, drv, spec);
	pthread_mutex_lock(&a->lock);
	if (workload_add(a, w, err) < 0) {
		pthread_mutex_unlock(&a->lock);
		workload_free(w);
		return -1;
	}
	w->busy = flyt_strdup("create");
	pthread_mutex_unlock(&a->lock);

	int r = 0;
	struct stat st;
	if (lstat(w->dir, &st) == 0) {
		/* leftovers of an earlier workload of that name that was not cleaned up */
		log_warn("removing stale directory %s", w->dir);
		flyt_rm_rf(w->dir, NULL);
	}
	if (flyt_mkdir_p(w->files_dir, 0755, err) < 0 || workload_save(a, w, err) < 0)
		r = -1;
	if (r == 0 && start)
		r = drv->start(a, w, err);
	else if (r == 0)
		w->state = WL_STOPPED;

	pthread_mutex_lock(&a->lock);
	free(w->busy);
	w->busy = NULL;
	if (r < 0) {
		flyt_rm_rf(w->dir, NULL);
		workload_remove(a, w);
		pthread_mutex_unlock(&a->lock);
		return -1;
	}
	workload_save(a, w, NULL);
	*ret = workload_json(a, w, true);
	pthread_mutex_unlock(&a->lock);
	agent_publish(a, "workload.created", json_pack("{s:s, s:s}", "workload", name, "kind", kind));
	return 0;
}

/* Takes the workload for a driver call: fails when it is missing or busy. */
static workload_t *workload_claim(agent_t *a, const char *name, const char *why, flyt_error_t *err)
{
	pthread_mutex_lock(&a->lock);
	workload_t *w = workload_find(a, name);
	if (!w) {
		pthread_mutex_unlock(&a->lock);
		flyt_error_set(err, FLYT_E_NOT_FOUND, 0, "no workload %s on this host", name);
		return NULL;
	}
	if (w->busy) {
		flyt_error_set(err, FLYT_E_CONFLICT, 0, "workload %s is busy (%s%s)", name,
			       flyt_id_valid(w->busy) ? "migration " : "", w->busy);
		pthread_mutex_unlock(&a->lock);
		return NULL;
	}
	w->busy = flyt_strdup(why);
	pthread_mutex_unlock(&a->lock);
	return w;
}

/* Gives the workload back; when ret is not NULL, also its JSON, taken before
 * anyone else can touch (or delete) it. */
static void workload_release(agent_t *a, workload_t *w, json_t **ret)
{
	pthread_mutex_lock(&a->lock);
	free(w->busy);
	w->busy = NULL;
	workload_save(a, w, NULL);
	if (ret)
		*ret = workload_json(a, w, true);
	pthread_mutex_unlock(&a->lock);
}

int workload_action(agent_t *a, const char *name, const char *action, json_t **ret, flyt_error_t *err)
{
	workload_t *w = workload_claim(a, name, action, err);
	if (!w)
		return -1;
	int r;
	if (strcmp(action, "stop") == 0) {
		r = w->driver->stop(a, w, err);
	} else if (strcmp(action, "start") == 0) {
		_cleanup_json_ json_t *st = json_object();
		if (w->state == WL_RUNNING && w->driver->status(a, w, st, NULL) == 0 && w->state == WL_RUNNING)
			r = flyt_error_set(err, FLYT_E_CONFLICT, 0, "workload %s is already running", name);
		else
			r = w->driver->start(a, w, err);
	} else {
		r = flyt_error_set(err, FLYT_E_INVALID, 0, "unknown action %s", action);
	}
	if (r < 0 && strcmp(action, "start") == 0)
		snprintf(w->error, sizeof(w->error), "%s", err->msg);
	_cleanup_json_ json_t *out = NULL;
	workload_release(a, w, r < 0 ? NULL : &out);
	if (r < 0)
		return -1;
	agent_publish(a, "workload.state",
		      json_pack("{s:s, s:s}", "workload", name, "state", flyt_json_str(out, "state", "unknown")));
	*ret = TAKE_PTR(out);
	return 0;
}

int workload_delete(agent_t *a, const char *name, flyt_error_t *err)
{
	workload_t *w = workload_claim(a, name, "delete", err);
	if (!w)
		return -1;
	if (w->driver->destroy(a, w, err) < 0) {
		workload_release(a, w, NULL);
		return -1;
	}
	pthread_mutex_lock(&a->lock);
	flyt_error_t rmerr = FLYT_ERROR_INIT;
	if (flyt_rm_rf(w->dir, &rmerr) < 0)
		log_warn("removing %s: %s", w->dir, rmerr.msg);
	workload_remove(a, w);
	pthread_mutex_unlock(&a->lock);
	agent_publish(a, "workload.deleted", json_pack("{s:s}", "workload", name));
	return 0;
}

void workloads_monitor(agent_t *a)
{
	pthread_mutex_lock(&a->lock);
	for (size_t i = 0; i < a->nworkloads; i++) {
		workload_t *w = a->workloads[i];
		if (w->busy || w->state != WL_RUNNING)
			continue;
		json_t *st = json_object();
		w->driver->status(a, w, st, NULL);
		json_decref(st);
		if (w->state != WL_RUNNING) {
			log_warn("workload %s ended by itself", w->name);
			workload_save(a, w, NULL);
			agent_publish(
			    a, "workload.state",
			    json_pack("{s:s, s:s}", "workload", w->name, "state", workload_state_name(w->state)));
		}
	}
	pthread_mutex_unlock(&a->lock);
}
